#!/usr/bin/env bash
# Every kind of bad input gets its HTTP status and a JSON error that names the
# problem, and leaves the job store and the registry exactly as they were.
. "$(dirname "$0")/lib.sh"

start_coordinator --max-body-bytes 4096
start_agent worker --capacity 1
check "the agent registers" wait_until 10 nodes_registered 1
check "a good job completes" wait_until 10 job_is "$(submit echo fine)" COMPLETED

snapshot() { api_get '/jobs?limit=10000' | jq -S '[.jobs[] | del(.updated_at)]'; api_get /nodes | jq -S '[.nodes[] | del(.last_seen)]'; }
before=$(snapshot)

# expect STATUS MESSAGE_PART METHOD PATH [BODY]
expect() {
	local status=$1 part=$2 method=$3 path=$4 body=${5-} out code
	if [ -n "$body" ]; then
		out=$(curl -s --max-time 10 -w '\n%{http_code}' -X "$method" --data-binary "$body" "$COORD_URL$path")
	else
		out=$(curl -s --max-time 10 -w '\n%{http_code}' -X "$method" "$COORD_URL$path")
	fi
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "$code" = "$status" ] && jq -e --arg p "$part" '.error | contains($p)' <<<"$out" >/dev/null 2>&1; then
		ok "$method $path ${body:0:40} -> $status ($part)"
	else
		not_ok "$method $path ${body:0:40}: expected $status with '$part', got $code $out"
	fi
}

expect 400 "not valid JSON" POST /jobs '{"type": "echo",'
expect 400 "not valid JSON" POST /jobs 'hello'
expect 400 "empty" POST /jobs ''
expect 400 "JSON object" POST /jobs '["echo","x"]'
expect 400 "field 'type' is missing" POST /jobs '{"payload":"x"}'
expect 400 "field 'payload' is missing" POST /jobs '{"type":"echo"}'
expect 400 "field 'type' must be a string" POST /jobs '{"type":5,"payload":"x"}'
expect 400 "field 'payload' must be a string" POST /jobs '{"type":"echo","payload":{"a":1}}'
expect 400 "field 'type' must be" POST /jobs '{"type":"has space","payload":"x"}'
expect 400 "field 'type' must be" POST /jobs '{"type":"","payload":"x"}'
expect 400 "unknown field 'urgency'" POST /jobs '{"type":"echo","payload":"x","urgency":"high"}'
expect 400 "field 'priority' must be" POST /jobs '{"type":"echo","payload":"x","priority":"urgent"}'
expect 400 "field 'timeout_ms' must be a whole number from 1 to 604800000" POST /jobs '{"type":"echo","payload":"x","timeout_ms":0}'
expect 400 "field 'max_attempts' must be a whole number from 1 to 100" POST /jobs '{"type":"echo","payload":"x","max_attempts":101}'
expect 400 "field 'retry_on_failure' must be true or false" POST /jobs '{"type":"echo","payload":"x","retry_on_failure":"yes"}'
expect 400 "must not exceed 'backoff_cap_ms'" POST /jobs '{"type":"echo","payload":"x","backoff_base_ms":5,"backoff_cap_ms":4}'
expect 400 "field 'idempotency_key' must be 1 to 128 bytes" POST /jobs '{"type":"echo","payload":"x","idempotency_key":""}'
expect 404 "no job with id 'j-000000000000'" POST /jobs/j-000000000000/cancel ''
expect 405 "method GET is not allowed" GET /jobs/j-000000000000/cancel
expect 404 "no node with id 'n-000000000000'" POST /nodes/n-000000000000/drain ''
expect 404 "no node with id 'n-000000000000'" DELETE /nodes/n-000000000000
expect 400 "duplicate" POST /jobs '{"type":"echo","type":"sleep","payload":"x"}'
expect 413 "over the limit" POST /jobs "{\"type\":\"echo\",\"payload\":\"$(head -c 5000 /dev/zero | tr '\0' a)\"}"
expect 400 "unknown status 'DONE'" GET '/jobs?status=DONE'
expect 400 "unknown status 'completed'" GET '/jobs?status=completed'
expect 400 "unknown query parameter 'colour'" GET '/jobs?colour=red'
expect 400 "'limit'" GET '/jobs?limit=0'
expect 400 "'limit'" GET '/jobs?limit=10001'
expect 400 "'limit'" GET '/jobs?limit=ten'
expect 400 "'limit'" GET '/jobs?limit=5%00garbage'
expect 400 "unknown status" GET '/jobs?status=COMPLETED%00junk'
expect 400 "'type'" GET '/jobs?type=no%20spaces'
expect 404 "no job with id 'j-000000000000'" GET /jobs/j-000000000000
expect 404 "no node with id 'n-000000000000'" GET /nodes/n-000000000000
expect 404 "no such path" GET /nope
expect 404 "no such path" GET /jobs/a/b
expect 405 "method DELETE is not allowed" DELETE /jobs
expect 405 "method PUT is not allowed" PUT /jobs/j-000000000000
expect 404 "no node with id 'register'" DELETE /nodes/register
expect 404 "no such path" GET /nodes/register/x
expect 405 "method POST is not allowed" POST /healthz '{}'
expect 400 "field 'name' is missing" POST /nodes/register '{"address":"h:1","capacity":1,"types":["echo"]}'
expect 400 "field 'capacity' must be a whole number from 1 to 1024" POST /nodes/register '{"name":"x","address":"h:1","capacity":0,"types":["echo"]}'
expect 400 "field 'capacity' must be a whole number from 1 to 1024" POST /nodes/register '{"name":"x","address":"h:1","capacity":"2","types":["echo"]}'
expect 400 "field 'types' must be an array" POST /nodes/register '{"name":"x","address":"h:1","capacity":1,"types":[]}'
expect 400 "field 'types[1]' repeats" POST /nodes/register '{"name":"x","address":"h:1","capacity":1,"types":["echo","echo"]}'
expect 400 "field 'address' is not usable" POST /nodes/register '{"name":"x","address":"h","capacity":1,"types":["echo"]}'
expect 400 "field 'address' is not usable" POST /nodes/register '{"name":"x","address":"ftp://h:1","capacity":1,"types":["echo"]}'
expect 400 "field 'address' is not usable" POST /nodes/register '{"name":"x","address":"h:70000","capacity":1,"types":["echo"]}'
expect 400 "field 'name' must be" POST /nodes/register '{"name":"a b","address":"h:1","capacity":1,"types":["echo"]}'
# A bad re-registration of an existing node must not change it either.
expect 400 "field 'address' is not usable" POST /nodes/register '{"name":"worker","address":"  ","capacity":1,"types":["echo"]}'

after=$(snapshot)
check_eq "bad requests changed neither the jobs nor the nodes" "$before" "$after"
check "the coordinator still works" wait_until 10 job_is "$(submit echo still-fine)" COMPLETED

# The agent's own API rejects bad input too.
agent_expect() {
	local status=$1 part=$2 body=$3 out code
	out=$(curl -s --max-time 10 -w '\n%{http_code}' -X POST --data-binary "$body" "$AGENT_URL/execute")
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "$code" = "$status" ] && jq -e --arg p "$part" '.error | contains($p)' <<<"$out" >/dev/null 2>&1; then
		ok "agent POST /execute ${body:0:40} -> $status ($part)"
	else
		not_ok "agent POST /execute ${body:0:40}: expected $status with '$part', got $code $out"
	fi
}
agent_expect 400 "not valid JSON" '{"job_id":'
agent_expect 400 "field 'job_id' is missing" '{"type":"echo","payload":"x"}'
agent_expect 400 "field 'job_id' must be" '{"job_id":"","type":"echo","payload":"x"}'
agent_expect 400 "unknown job type 'nope'; this agent runs: echo, sleep" '{"job_id":"j-1","type":"nope","payload":"x"}'
agent_expect 422 "sleep payload must be whole milliseconds" '{"job_id":"j-2","type":"sleep","payload":"soon"}'

check "agent stops cleanly" stop_daemon "$AGENT_PID"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
