#!/usr/bin/env bash
# A coordinator and two agents on loopback: jobs of every type succeed, a
# failing handler gives FAILED with its error, and meshctl works end to end.
. "$(dirname "$0")/lib.sh"

start_coordinator
start_agent alpha --capacity 2 --handler 'upper=tr a-z A-Z' \
	--handler 'fail=sh -c "echo something broke >&2; exit 3"'
start_agent beta --capacity 2 --handler 'upper=tr a-z A-Z'
check "both agents register themselves" wait_until 10 nodes_registered 2

nodes=$(api_get /nodes)
check_eq "nodes are listed in registration order" "alpha beta" "$(jq -r '[.nodes[].name] | join(" ")' <<<"$nodes")"
check_eq "registered nodes are HEALTHY" "HEALTHY HEALTHY" "$(jq -r '[.nodes[].state] | join(" ")' <<<"$nodes")"
check_eq "a node shows its base URL" "${AGENT_URLS[alpha]}" "$(jq -r '.nodes[0].base_url' <<<"$nodes")"
check_eq "a node shows its types" "echo,sleep,upper,fail" "$(jq -r '.nodes[0].types | join(",")' <<<"$nodes")"
for field in id name address base_url state capacity running types last_seen; do
	check "a node has field '$field'" jq -e "(.nodes[0] | has(\"$field\"))" <<<"$nodes" >/dev/null
done

# --- POST /jobs answers at once with QUEUED and a Location
headers=$WORK/headers
body=$(curl -sS -D "$headers" -X POST --data '{"type":"echo","payload":"hello mesh"}' "$COORD_URL/jobs")
check_eq "POST /jobs answers 201" "201" "$(head -n 1 "$headers" | awk '{print $2}')"
check_eq "a new job is QUEUED" "QUEUED" "$(jq -r .status <<<"$body")"
echo_id=$(jq -r .id <<<"$body")
check_contains "Location names the job" "Location: /jobs/$echo_id" "$(tr -d '\r' <"$headers")"
for field in id type payload status node_id created_at updated_at result error; do
	check "a job has field '$field'" jq -e "has(\"$field\")" <<<"$body" >/dev/null
done

upper_id=$(submit upper "shout this")
fail_id=$(submit fail "anything")
sleep_id=$(submit sleep 200)
check "echo job completes" wait_until 10 job_is "$echo_id" COMPLETED
check "handler job completes" wait_until 10 job_is "$upper_id" COMPLETED
check "sleep job completes" wait_until 10 job_is "$sleep_id" COMPLETED
check "failing handler job is FAILED" wait_until 10 job_is "$fail_id" FAILED
check_eq "echo result is the payload" "hello mesh" "$(job_field "$echo_id" result)"
check_eq "handler result is its standard output" "SHOUT THIS" "$(job_field "$upper_id" result)"
check_eq "sleep result says how long" "slept 200 ms" "$(job_field "$sleep_id" result)"
fail_error=$(job_field "$fail_id" error)
check_contains "failure names the exit status" "exited with status 3" "$fail_error"
check_contains "failure carries the handler's stderr" "something broke" "$fail_error"
check_contains "failure names the node" "node " "$fail_error"
check_eq "a failed job has no result" "null" "$(job_field "$fail_id" result)"
check_eq "the failing job ran on the only node with its type" \
	"$(api_get /nodes | jq -r '.nodes[0].id')" "$(job_field "$fail_id" node_id)"
check_eq "completed job has node_id set" "true" "$(api_get "/jobs/$echo_id" | jq '.node_id != null')"
check "updated_at is RFC 3339 UTC" bash -c "[[ '$(job_field "$echo_id" updated_at)' =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]"

# --- unknown type: no node has it, so it waits (it is not failed)
nobody_id=$(submit nosuchtype x)
sleep_check() { sleep 0.5; job_is "$nobody_id" QUEUED; }
check "a job of a type no node has stays QUEUED" sleep_check
check_eq "and says why it waits" "no registered node runs jobs of type 'nosuchtype'" "$(job_field "$nobody_id" reason)"
check_contains "meshctl job shows why it waits" "waiting:  no registered node runs jobs of type 'nosuchtype'" "$("$BIN/meshctl" --coordinator "$COORD_URL" job "$nobody_id")"
check_eq "a finished job has no reason" "null" "$(job_field "$echo_id" reason)"

# --- filters
check_eq "filter by status FAILED" "$fail_id" "$(api_get '/jobs?status=FAILED' | jq -r '.jobs[].id')"
check_eq "filter by type" "$upper_id" "$(api_get '/jobs?type=upper' | jq -r '.jobs[].id')"
alpha_id=$(api_get /nodes | jq -r '.nodes[0].id')
check_eq "filter by node_id" "true" "$(api_get "/jobs?node_id=$alpha_id" | jq --arg f "$fail_id" '[.jobs[].id] | index($f) != null')"
check_eq "limit and submission order" "$echo_id $upper_id" "$(api_get '/jobs?limit=2' | jq -r '[.jobs[].id] | join(" ")')"
check_eq "limit with a filter" "1" "$(api_get '/jobs?status=COMPLETED&limit=1' | jq '.jobs | length')"

# --- meshctl end to end
export MESH_COORDINATOR=$COORD_URL
out=$("$BIN/meshctl" submit echo "from meshctl" --wait --timeout 10); rc=$?
check_eq "meshctl submit --wait exits 0 when the job completed" "0" "$rc"
check_contains "meshctl shows the result" "from meshctl" "$out"
"$BIN/meshctl" submit fail x --wait --timeout 10 >/dev/null; rc=$?
check_eq "meshctl submit --wait exits 1 when the job failed" "1" "$rc"
"$BIN/meshctl" submit nosuchtype x --wait --timeout 0.5 >/dev/null 2>&1; rc=$?
check_eq "meshctl submit --wait exits 2 when the wait runs out" "2" "$rc"
id=$("$BIN/meshctl" submit echo plain); rc=$?
check_eq "meshctl submit without --wait prints the id and exits 0" "0" "$rc"
check "the printed id is a job" wait_until 5 job_is "$id" COMPLETED
check_eq "meshctl --json submit prints the job JSON" "QUEUED" \
	"$("$BIN/meshctl" --json submit echo j | jq -r .status)"
out=$("$BIN/meshctl" nodes)
check_contains "meshctl nodes shows a table header" "NAME" "$out"
check_contains "meshctl nodes shows alpha" "alpha" "$out"
check_contains "meshctl nodes shows beta" "beta" "$out"
out=$("$BIN/meshctl" jobs --status FAILED)
check_contains "meshctl jobs --status FAILED lists the failed job" "$fail_id" "$out"
check_eq "meshctl jobs --json is the API's JSON" "true" "$("$BIN/meshctl" jobs --json | jq '.jobs | length > 5')"
out=$("$BIN/meshctl" job "$fail_id")
check_contains "meshctl job shows the error" "exited with status 3" "$out"
"$BIN/meshctl" job j-000000000000 >/dev/null 2>&1; rc=$?
check_eq "meshctl job of an unknown id exits 4" "4" "$rc"
"$BIN/meshctl" frobnicate >/dev/null 2>&1; rc=$?
check_eq "meshctl usage error exits 3" "3" "$rc"
"$BIN/meshctl" --coordinator http://127.0.0.1:1 nodes >/dev/null 2>&1; rc=$?
check_eq "meshctl exits 4 when the coordinator cannot be reached" "4" "$rc"

# --- clean stops
check "agent stops cleanly on SIGTERM" stop_daemon "${AGENT_PIDS[alpha]}"
check "agent stops cleanly on SIGTERM" stop_daemon "${AGENT_PIDS[beta]}"
check "coordinator stops cleanly on SIGTERM" stop_daemon "$COORD_PID"
finish
