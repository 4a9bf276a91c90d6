#!/usr/bin/env bash
# A coordinator restart in the middle of a job does not run the job twice:
# at the next start the coordinator asks the job's own node about it
# (GET /executions/{id}?attempt=K: the node is restored from the store with
# its id) and follows it there until it records the job's real result, once.
. "$(dirname "$0")/lib.sh"

DATA=$WORK/data
count_file=$WORK/runs
start_coordinator --data-dir "$DATA"
start_agent only --capacity 2 --handler "slow=sh -c 'echo run >>$count_file; sleep \$(cat); echo done'"
check "the agent registers" wait_until 10 nodes_registered 1

# --- a clean stop (SIGTERM) while the job runs
id=$(submit slow 6)   # seconds: outlasts the stop and the restart
check "the job runs" wait_until 5 job_is "$id" RUNNING
check "coordinator stops cleanly mid-job" stop_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "after the restart the job completes" wait_until 20 job_is "$id" COMPLETED
check_eq "with the handler's real output" "done" "$(job_field "$id" result)"
check_eq "and it ran once" "1" "$(wc -l <"$count_file")"
check "the coordinator followed it instead of running it again" grep -q "job $id was RUNNING on node .*; asking the node how it stands" "$COORD_LOG"
check_eq "in one attempt" "1" "$(job_field "$id" 'attempts | length')"

# --- kill -9 while the job runs
: >"$count_file"
id=$(submit slow 3)
check "the second job runs" wait_until 5 job_is "$id" RUNNING
kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "after kill -9 and a restart the job completes" wait_until 20 job_is "$id" COMPLETED
check_eq "it ran once" "1" "$(wc -l <"$count_file")"
check "followed on its agent" grep -q "job $id was RUNNING on node .*; asking the node how it stands" "$COORD_LOG"
check_eq "in one attempt" "1" "$(job_field "$id" 'attempts | length')"

# --- a job that finished while the coordinator was down gets its real result
: >"$count_file"
id=$(submit slow 1)
check "the third job runs" wait_until 5 job_is "$id" RUNNING
kill_daemon "$COORD_PID"
agent_finished() { [ "$(curl -s "$AGENT_URL/executions/$id" | jq -r .state)" = finished ]; }
check "the job finishes on the agent while no coordinator runs" wait_until 10 agent_finished
start_coordinator --data-dir "$DATA"
check "a job that finished while the coordinator was down is COMPLETED" wait_until 20 job_is "$id" COMPLETED
check_eq "with its real result" "done" "$(job_field "$id" result)"
check_eq "and was not run again" "1" "$(wc -l <"$count_file")"

# --- an agent that restarts under a job taken up after a coordinator restart:
# the job is not run again behind its one attempt (max_attempts 1): it is LOST
: >"$count_file"
id=$(submit slow 8)
check "the fourth job runs" wait_until 5 job_is "$id" RUNNING
kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "the restarted coordinator hears from the node that it still runs the job" \
	wait_until 10 grep -q "node .* is still running job $id" "$COORD_LOG"
kill_daemon "$AGENT_PID"
start_agent only --capacity 2 --handler "slow=sh -c 'echo run >>$count_file; sleep \$(cat); echo done'"
check "the job whose agent forgot it FAILS" wait_until 20 job_is "$id" FAILED
check_eq "as LOST" "LOST" "$(job_field "$id" 'attempts[0].status')"
check_contains "saying the node does not know it" "does not know the job" "$(job_field "$id" error)"
check_eq "it ran once, not again after the agent's restart" "1" "$(wc -l <"$count_file")"

check "agent stops cleanly" stop_daemon "$AGENT_PID"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
