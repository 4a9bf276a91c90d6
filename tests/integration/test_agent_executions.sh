#!/usr/bin/env bash
# The agent remembers the jobs it ran: GET /executions/{job_id} shows running,
# finished (with the result) or unknown (404), and a repeated POST /execute
# with a known job_id is answered from that record without running the job again.
. "$(dirname "$0")/lib.sh"

RUNS=$WORK/runs
start_coordinator
start_agent solo --capacity 2 --handler "count=sh -c 'echo ran >>$RUNS; cat'"
check "the agent registers" wait_until 10 nodes_registered 1
agent_get() { curl -sS --max-time 10 "$AGENT_URL$1"; }
agent_execute() { curl -sS --max-time 10 -X POST --data-binary "$1" -w '\n%{http_code}' "$AGENT_URL/execute"; }
runs() { if [ -f "$RUNS" ]; then wc -l <"$RUNS" | tr -d ' '; else echo 0; fi; }

# A job through the coordinator: the agent's record shows it finished, with its output.
id=$(submit count "hello mesh")
check "the job completes" wait_until 15 job_is "$id" COMPLETED
check_eq "the handler ran once" "1" "$(runs)"
record=$(agent_get "/executions/$id")
check_eq "the record is finished" "finished" "$(jq -r .state <<<"$record")"
check_eq "the record says ok" "ok" "$(jq -r .status <<<"$record")"
check_eq "the record has the output" "hello mesh" "$(jq -r .output <<<"$record")"
check_eq "the record names the job" "$id" "$(jq -r .job_id <<<"$record")"
times_ok() {
	jq -e '(.started_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
		and (.finished_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"))
		and (.finished_at >= .started_at)' <<<"$1" >/dev/null
}
check "started_at and finished_at are RFC 3339 UTC, in order" times_ok "$record"

# The same job_id posted again to the agent: the recorded answer, not a second run.
again=$(agent_execute "$(jq -cn --arg id "$id" '{job_id:$id,type:"count",payload:"something else"}')")
check_eq "a duplicate gets the recorded status" "200" "$(tail -n 1 <<<"$again")"
check_eq "a duplicate gets the recorded body" '{"output":"hello mesh","status":"ok"}' "$(head -n 1 <<<"$again")"
check_eq "the handler did not run again" "1" "$(runs)"

# A failed job is replayed with its status too.
fail=$(agent_execute '{"job_id":"j-direct-fail","type":"sleep","payload":"soon"}')
fail_again=$(agent_execute '{"job_id":"j-direct-fail","type":"sleep","payload":"1"}')
check_eq "a failed job's duplicate gets the same answer" "$fail" "$fail_again"
check_eq "a failed job answered 422" "422" "$(tail -n 1 <<<"$fail_again")"
check_eq "its record keeps the status answered" "422" "$(agent_get /executions/j-direct-fail | jq .http_status)"

# A job in progress shows running, and a duplicate of it is refused with 409.
curl -s --max-time 15 -X POST --data '{"job_id":"j-direct-sleep","type":"sleep","payload":"2000"}' \
	"$AGENT_URL/execute" >"$WORK/sleep.out" &
sleeper=$!
is_running() { [ "$(agent_get /executions/j-direct-sleep | jq -r .state)" = running ]; }
check "a sleeping job shows running" wait_until 5 is_running
check "a running record has started_at and no finished_at" jq -e \
	'has("started_at") and (has("finished_at") | not)' <<<"$(agent_get /executions/j-direct-sleep)" >/dev/null
dup=$(agent_execute '{"job_id":"j-direct-sleep","type":"sleep","payload":"2000"}')
check_eq "a duplicate of a running job gets 409" "409" "$(tail -n 1 <<<"$dup")"
check_eq "the 409 says it runs" '{"error":"job j-direct-sleep is already running on this agent","status":"running"}' \
	"$(head -n 1 <<<"$dup")"
wait "$sleeper"
check_eq "the sleeper got its own answer" '{"output":"slept 2000 ms","status":"ok"}' "$(cat "$WORK/sleep.out")"
check_eq "then it shows finished" "finished" "$(agent_get /executions/j-direct-sleep | jq -r .state)"

# Unknown ids.
check_eq "an unknown id is 404" "404" "$(http_status "$AGENT_URL/executions/j-never")"
check_eq "the 404 says so" '{"error":"this agent has no record of job j-never"}' "$(agent_get /executions/j-never)"

check "the agent stops cleanly" stop_daemon "$AGENT_PID"
check "the coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
