#!/usr/bin/env bash
# Processes die and come back: a job submitted before any agent runs once one
# registers; a killed agent turns UNHEALTHY within the probe window, its
# running job is retried on another node when attempts remain, or FAILS naming
# it after the grace (--lost-after-ms), and nothing more is sent to it; a
# restarted coordinator is found again by its agents on their own; an agent
# stopped with SIGTERM drains and deregisters.
. "$(dirname "$0")/lib.sh"

# Probes every 200 ms, UNHEALTHY after 3 failures: within ~1 s (+ probe timeout);
# jobs on a lost node wait 1 s more for it.
start_coordinator --lost-after-ms 1000

# --- a job submitted while the mesh is empty waits, then runs
early_id=$(submit echo "before any agent")
early_wait() { sleep 0.6; job_is "$early_id" QUEUED; }
check "a job submitted before any agent exists stays QUEUED" early_wait
check_eq "it carries no node yet" "null" "$(job_field "$early_id" node_id)"
check_eq "it says why it waits" "no node is registered" "$(job_field "$early_id" reason)"
start_agent first --capacity 2
check "it runs once an agent registers" wait_until 10 job_is "$early_id" COMPLETED
check_eq "with the right result" "before any agent" "$(job_field "$early_id" result)"

start_agent second --capacity 2
check "the second agent registers" wait_until 10 nodes_registered 2
first_id=$(api_get /nodes | jq -r '.nodes[] | select(.name=="first") | .id')
second_id=$(api_get /nodes | jq -r '.nodes[] | select(.name=="second") | .id')

# --- kill -9 the first agent in the middle of two jobs: one may be retried, one may not
long_id=$(submit sleep 20000)
retried_id=$(api_post /jobs '{"type":"sleep","payload":"1000","max_attempts":2,"backoff_base_ms":100}' | jq -r .id)
both_run() { job_is "$long_id" RUNNING && job_is "$retried_id" RUNNING; }
check "the two jobs run" wait_until 5 both_run
check_eq "on the first node" "$first_id $first_id" "$(job_field "$long_id" node_id) $(job_field "$retried_id" node_id)"
killed_at=$SECONDS
kill_daemon "${AGENT_PIDS[first]}"
check "the killed agent is UNHEALTHY within the probe window" wait_until 4 node_state_is first UNHEALTHY
check "it took at most 4 s" test $((SECONDS - killed_at)) -le 4
check "the job with max_attempts 1 FAILS after the grace" wait_until 10 job_is "$long_id" FAILED
check_contains "its error names the node" "$first_id" "$(job_field "$long_id" error)"
check_eq "its attempt is LOST" "LOST" "$(job_field "$long_id" 'attempts[0].status')"
check "the job with max_attempts 2 completes on the other node" wait_until 10 job_is "$retried_id" COMPLETED
check_eq "there" "$second_id" "$(job_field "$retried_id" node_id)"
check_eq "after a LOST attempt on the dead node" "LOST:$first_id COMPLETED:$second_id" "$(api_get "/jobs/$retried_id" | jq -r '[.attempts[] | "\(.status):\(.node_id)"] | join(" ")')"
check "the other agent stays HEALTHY" node_state_is second HEALTHY

ids=()
for i in 1 2 3 4 5 6; do ids+=("$(submit echo "after $i")"); done
all_done() { local id; for id in "${ids[@]}"; do job_is "$id" COMPLETED || return 1; done; }
check "jobs submitted after the failure complete" wait_until 10 all_done
on_first=0
for id in "${ids[@]}"; do [ "$(job_field "$id" node_id)" = "$first_id" ] && on_first=$((on_first + 1)); done
check_eq "nothing is dispatched to the UNHEALTHY node" "0" "$on_first"
check_eq "the UNHEALTHY node runs nothing" "0" "$(api_get "/nodes/$first_id" | jq .running)"

# --- the agent comes back under the same name: same node id, HEALTHY again
start_agent first --capacity 2
check "a restarted agent becomes HEALTHY again" wait_until 10 node_state_is first HEALTHY
check_eq "restarting an agent does not create a second node" "2" "$(api_get /nodes | jq '.nodes | length')"
check_eq "it keeps its node id" "$first_id" "$(api_get /nodes | jq -r '.nodes[] | select(.name=="first") | .id')"
check_eq "its new address is recorded" "${AGENT_URLS[first]}" "$(api_get "/nodes/$first_id" | jq -r .base_url)"

# --- the coordinator restarts and forgets everything; agents re-register by themselves.
# --store memory keeps this test about a coordinator that starts empty (the
# default sqlite store would keep the jobs: test_durable.sh covers that).
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
restarted_at=$SECONDS
start_coordinator --store memory   # same port: COORD_PORT is kept
check "both agents register again within 10 s of the coordinator's restart" wait_until 10 nodes_registered 2
check "within 10 s" test $((SECONDS - restarted_at)) -le 10
check "and run jobs" wait_until 10 job_is "$(submit echo again)" COMPLETED

# --- an agent stopped with SIGTERM drains and deregisters itself
check "agent 'second' stops cleanly" stop_daemon "${AGENT_PIDS[second]}"
check "a stopped agent deregisters" wait_until 5 nodes_registered 1
check_eq "the remaining node is 'first'" "first" "$(api_get /nodes | jq -r '.nodes[0].name')"

check "agent 'first' stops cleanly" stop_daemon "${AGENT_PIDS[first]}"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
