#!/usr/bin/env bash
# Job control with real processes: timeouts and cancellation kill the handler's
# whole process group, retries with backoff record every attempt, priorities
# order dispatch, idempotency keys make one job however often a client sends
# it, finished jobs are pruned after the retention, and a drained node takes no
# new jobs.
# shellcheck disable=SC2317
. "$(dirname "$0")/lib.sh"

COUNTER=$WORK/attempts
ORDER=$WORK/order
start_coordinator --retention 3s --retry-base-ms 200 --retry-cap-ms 400 --timeout-grace-ms 500 \
	--lost-after-ms 20000
start_agent solo --capacity 1 \
	--handler 'tree=sh -c "sleep 30 & sleep 30; wait"' \
	--handler "flaky=sh -c 'n=\$(cat $COUNTER 2>/dev/null || echo 0); echo \$((n + 1)) >$COUNTER; if [ \$n -lt 2 ]; then echo attempt \$n fails >&2; exit 1; fi; echo ok'" \
	--handler "mark=sh -c 'cat >>$ORDER; echo >>$ORDER'"
check "agent registered" wait_until 10 nodes_registered 1
NODE=$(api_get /nodes | jq -r '.nodes[0].id')

post_job() { api_post /jobs "$1"; }
# The process group of the handler the agent runs now (its only child), or nothing.
handler_group() {
	local child
	child=$(pgrep -P "$AGENT_PID" | head -n 1)
	[ -n "$child" ] && ps -o pgid= -p "$child" | tr -d ' '
}
has_handler_group() { [ -n "$(handler_group)" ] && [ "$(pgrep -g "$(handler_group)" | wc -l)" -ge 3 ]; }
group_gone() { ! pgrep -g "$1" >/dev/null; }

# ---- timeout ------------------------------------------------------------------
id=$(post_job '{"type":"tree","payload":"","timeout_ms":700}' | jq -r .id)
check "the timed job runs its process tree" wait_until 10 has_handler_group
pgid=$(handler_group)
check "the timed-out job is FAILED" wait_until 10 job_is "$id" FAILED
check_contains "its error says it timed out and after how long" "timed out after" "$(job_field "$id" error)"
check_eq "its attempt is TIMED_OUT" "TIMED_OUT" "$(job_field "$id" 'attempts[0].status')"
check "no process of its group is left" wait_until 5 group_gone "$pgid"

# ---- timeout enforced by the coordinator when the agent cannot -------------------
id=$(post_job '{"type":"sleep","payload":"3000","timeout_ms":400}' | jq -r .id)
check "the job on a soon frozen agent runs" wait_until 10 job_is "$id" RUNNING
kill -STOP "$AGENT_PID"
check "the coordinator times it out itself (timeout + grace)" wait_until 10 job_is "$id" FAILED
kill -CONT "$AGENT_PID"
check_contains "saying so" "had not answered" "$(job_field "$id" error)"
check_eq "its attempt is TIMED_OUT" "TIMED_OUT" "$(job_field "$id" 'attempts[0].status')"
check "the thawed agent is HEALTHY again" wait_until 10 node_state_is solo HEALTHY
check "and its slot is free" wait_until 10 eval '[ "$(api_get "/nodes/$NODE" | jq .running)" = 0 ]'

# ---- cancel --------------------------------------------------------------------
id=$(post_job '{"type":"tree","payload":""}' | jq -r .id)
check "the job to cancel runs" wait_until 10 has_handler_group
pgid=$(handler_group)
queued=$(post_job '{"type":"tree","payload":""}' | jq -r .id)
check_eq "a second job waits behind it" "QUEUED" "$(job_field "$queued" status)"
check_eq "cancelling the QUEUED job answers 200" "200" "$(http_status -X POST "$COORD_URL/jobs/$queued/cancel")"
check_eq "it is CANCELLED at once" "CANCELLED" "$(job_field "$queued" status)"
check_eq "cancelling the RUNNING job answers 200" "200" "$(http_status -X POST "$COORD_URL/jobs/$id/cancel")"
check_eq "it is CANCELLED" "CANCELLED" "$(job_field "$id" status)"
check "its process group is killed on the agent" wait_until 10 group_gone "$pgid"
check_eq "cancelling it again answers 409" "409" "$(http_status -X POST "$COORD_URL/jobs/$id/cancel")"
check_eq "and it stays CANCELLED" "CANCELLED" "$(job_field "$id" status)"
node_idle() { [ "$(api_get "/nodes/$NODE" | jq .running)" = 0 ]; }
check "the node's slot is free again" wait_until 10 node_idle

# ---- retries -------------------------------------------------------------------
# The backoff is long enough (1.5 s) that the retry is still ahead when it is seen,
# and the reason is read from the same answer as the state, not from a later one.
id=$(post_job '{"type":"flaky","payload":"","max_attempts":3,"retry_on_failure":true,"backoff_base_ms":1500,"backoff_cap_ms":1500}' | jq -r .id)
retry_reason=""
waiting_for_retry() {
	local job
	job=$(api_get "/jobs/$id")
	[ "$(jq .attempt <<<"$job")" -ge 1 ] && [ "$(jq -r .next_attempt_at <<<"$job")" != null ] &&
		retry_reason=$(jq -r .reason <<<"$job")
}
check "after a failed attempt it waits for the next with a time" wait_until 10 waiting_for_retry
check_contains "its reason says which attempt it waits for" "waiting for attempt" "$retry_reason"
check "the flaky job completes on its third attempt" wait_until 15 job_is "$id" COMPLETED
check_eq "three attempts are recorded" "FAILED FAILED COMPLETED" "$(job_field "$id" 'attempts | map(.status) | join(" ")')"
check_eq "each on the node" "$NODE" "$(api_get "/jobs/$id" | jq -r '[.attempts[].node_id] | unique | join(",")')"
check_contains "a failed attempt keeps the handler's error" "attempt 0 fails" "$(job_field "$id" 'attempts[0].error')"
echo 0 >"$COUNTER"
id=$(post_job '{"type":"flaky","payload":"","max_attempts":3}' | jq -r .id)
check "without retry_on_failure a handler failure is final" wait_until 10 job_is "$id" FAILED
check_eq "after one attempt" "1" "$(job_field "$id" 'attempts | length')"

# ---- priorities ------------------------------------------------------------------
# The only slot is taken; then low, normal and high jobs queue up; they start high first.
blocker=$(post_job '{"type":"tree","payload":""}' | jq -r .id)
check "the blocker runs" wait_until 10 job_is "$blocker" RUNNING
: >"$ORDER"
for p in low normal high low high; do
	post_job "$(jq -cn --arg p "$p" '{type:"mark",payload:$p,priority:$p}')" >/dev/null
done
api_post "/jobs/$blocker/cancel" "" >/dev/null
all_marked() { [ "$(grep -c . "$ORDER")" = 5 ]; }
check "the five jobs ran" wait_until 15 all_marked
check_eq "high first, then normal, then low; FIFO within one priority" "high high normal low low" "$(grep . "$ORDER" | tr '\n' ' ' | sed 's/ $//')"

# ---- idempotency ------------------------------------------------------------------
body='{"type":"nobody-runs-this","payload":"once","idempotency_key":"order-77"}'
senders=()
for i in $(seq 1 12); do
	curl -s --max-time 10 -o "$WORK/idem.$i" -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
		--data-binary "$body" "$COORD_URL/jobs" >"$WORK/idem.$i.status" &
	senders+=($!)
done
wait "${senders[@]}"
check_eq "twelve concurrent submissions with one key make one job" "1" "$(for i in $(seq 1 12); do jq -r .id "$WORK/idem.$i"; done | sort -u | wc -l)"
check_eq "one was created (201), the others found it (200)" "1 11" "$(grep -c 201 "$WORK"/idem.*.status | awk -F: '{s+=$2} END {print s}') $(grep -c 200 "$WORK"/idem.*.status | awk -F: '{s+=$2} END {print s}')"
check_eq "the same key with another payload answers 409" "409" "$(http_status -X POST -H 'Content-Type: application/json' --data-binary '{"type":"nobody-runs-this","payload":"twice","idempotency_key":"order-77"}' "$COORD_URL/jobs")"
check_eq "and stores nothing" "1" "$(count_jobs type=nobody-runs-this)"

# ---- retention ----------------------------------------------------------------------
done_id=$(submit echo "short-lived")
check "a finished job ..." wait_until 10 job_is "$done_id" COMPLETED
gone() { [ "$(http_status "$COORD_URL/jobs/$1")" = 404 ]; }
check "... is pruned after the retention (3 s)" wait_until 15 gone "$done_id"
queued_id=$(api_get '/jobs?type=nobody-runs-this' | jq -r '.jobs[0].id')
check_eq "a QUEUED job is never pruned" "QUEUED" "$(job_field "$queued_id" status)"
check_contains "the coordinator logged the pruning" "pruned" "$(cat "$COORD_LOG")"

# ---- drain ----------------------------------------------------------------------------
long=$(post_job '{"type":"sleep","payload":"1500"}' | jq -r .id)
check "a job runs on the node" wait_until 10 job_is "$long" RUNNING
state=$(api_post "/nodes/$NODE/drain" "" | jq -r .state)
check_eq "draining a node with a job on it: DRAINING" "DRAINING" "$state"
waiter=$(submit echo "after the drain")
check_contains "a new job waits, saying the node drains" "draining" "$(job_field "$waiter" reason)"
check "the running job finishes" wait_until 10 job_is "$long" COMPLETED
check "then the node is DRAINED" wait_until 10 node_state_is solo DRAINED
check_eq "and the new job still waits" "QUEUED" "$(job_field "$waiter" status)"

finish
