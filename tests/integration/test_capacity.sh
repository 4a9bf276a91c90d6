#!/usr/bin/env bash
# A burst of jobs larger than the mesh: no agent ever runs more than its
# capacity, nothing fails for lack of room, and the coordinator fills nodes
# in registration order.
. "$(dirname "$0")/lib.sh"

start_coordinator
start_agent small --capacity 2
start_agent big --capacity 3
check "both agents register" wait_until 10 nodes_registered 2

# 15 jobs of 1 s from 3 concurrent clients, against 5 slots in all: three full rounds.
burst() {
	local client=$1 i
	for i in 1 2 3 4 5; do
		api_post /jobs '{"type":"sleep","payload":"1000"}' | jq -r .id >>"$WORK/ids.$client"
	done
}
clients=()
for c in 1 2 3; do burst "$c" & clients+=($!); done
wait "${clients[@]}"
cat "$WORK"/ids.* >"$WORK/ids"
check_eq "15 jobs were accepted" "15" "$(grep -c '^j-' "$WORK/ids")"
full_reason() { api_get '/jobs?status=QUEUED&limit=1' | jq -e '.jobs[0].reason == "all 2 nodes that run '"'"'sleep'"'"' are full"' >/dev/null; }
check "a job waiting for a slot says that all nodes are full" wait_until 5 full_reason

max_running=0
sample() {
	local r
	r=$(api_get /nodes | jq '[.nodes[] | select(.running > .capacity)] | length')
	[ "$r" = 0 ] || echo over >>"$WORK/over"
	r=$(api_get /nodes | jq '[.nodes[].running] | add')
	[ "$r" -gt "$max_running" ] && max_running=$r
	[ "$(count_jobs status=COMPLETED)" = 15 ]
}
check "all 15 complete" wait_until 30 sample
check "the coordinator never had more jobs on a node than its capacity" test ! -e "$WORK/over"
check "both nodes were used to the full (5 at once)" test "$max_running" -eq 5
check_eq "no job failed for lack of room" "0" "$(count_jobs status=FAILED)"

# The agents' own view: each start line logs the slots busy, under the agent's lock.
max_busy() { grep -o 'started ([0-9]* of [0-9]* slots busy' "$1" | tr -d '(' | awk '{print $2}' | sort -n | tail -n 1; }
check_eq "agent 'small' never ran more than 2 at once" "2" "$(max_busy "${AGENT_LOGS[small]}")"
check_eq "agent 'big' never ran more than 3 at once" "3" "$(max_busy "${AGENT_LOGS[big]}")"
small_id=$(api_get /nodes | jq -r '.nodes[0].id')
# "First" is the order of dispatch (attempt start): among three concurrent
# clients whose jobs share a commit, the store's order need not be the order
# in which the handlers hand them to the dispatcher.
first_two=$(for id in $(api_get '/jobs?limit=100' | jq -r '.jobs[].id'); do
	api_get "/jobs/$id" | jq -r '"\(.attempts[0].started_at) \(.node_id)"'
done | sort | head -n 2 | awk '{print $2}' | sort -u | tr '\n' ' ' | sed 's/ $//')
check_eq "the first-registered node got the first two jobs" "$small_id" "$first_two"

# An agent asked for more than its capacity answers 429 and runs nothing extra.
start_agent solo --capacity 1
curl -s --max-time 10 -X POST --data '{"job_id":"j-direct1","type":"sleep","payload":"1000"}' "$AGENT_URL/execute" >/dev/null &
direct=$!
busy() { [ "$(curl -s "$AGENT_URL/healthz" | jq .running)" = 1 ]; }
wait_until 5 busy
check_eq "a full agent answers 429" "429" "$(http_status -X POST --data '{"job_id":"j-direct2","type":"echo","payload":"x"}' "$AGENT_URL/execute")"
wait "$direct"

check "agents stop cleanly" stop_daemon "${AGENT_PIDS[small]}"
check "agents stop cleanly" stop_daemon "${AGENT_PIDS[big]}"
check "agents stop cleanly" stop_daemon "${AGENT_PIDS[solo]}"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
