#!/usr/bin/env bash
# The durability promise under fire: four clients submit 1,000 jobs between
# them while the coordinator is killed with SIGKILL in the middle of the burst
# and restarted on the same data directory. Each client retries a submission
# that got no answer with the same idempotency_key, as a careful client does.
# Afterwards every job acknowledged with 201 (or found again with 200) reaches
# exactly one terminal state, there is one job per key, and the agents, which
# append every payload they run to a file, ran each job exactly once.
# shellcheck disable=SC2317
. "$(dirname "$0")/lib.sh"

CLIENTS=4
PER_CLIENT=250
TOTAL=$((CLIENTS * PER_CLIENT))
RAN=$WORK/ran

start_coordinator
DATA=$COORD_DATA_DIR
# One write(2) per line (printf), so that concurrent handlers do not interleave lines.
RECORD="record=sh -c 'printf \"%s\\n\" \"\$(cat)\" >>$RAN; echo done'"
start_agent a --capacity 8 --handler "$RECORD"
start_agent b --capacity 8 --handler "$RECORD"
check "agents registered" wait_until 10 nodes_registered 2

# client N: submits its jobs one by one; a request that got no HTTP answer is sent
# again (same key) until it does, at most for 60 s. Writes "status id key" lines.
client() {
	local n=$1 i key body status deadline
	for i in $(seq 1 "$PER_CLIENT"); do
		key="c$n-$i"
		body="{\"type\":\"record\",\"payload\":\"$key\",\"idempotency_key\":\"$key\"}"
		deadline=$((SECONDS + 60))
		while :; do
			status=$(curl -s --max-time 5 -o "$WORK/resp.$n" -w '%{http_code}' -X POST \
				-H 'Content-Type: application/json' --data-binary "$body" "$COORD_URL/jobs")
			if [ "$status" = 201 ] || [ "$status" = 200 ]; then
				echo "$status $(jq -r .id "$WORK/resp.$n") $key" >>"$WORK/acked.$n"
				break
			fi
			[ $SECONDS -ge $deadline ] && { echo "gave up on $key" >>"$WORK/acked.$n"; break; }
			sleep 0.05
		done
	done
}
acked() { cat "$WORK"/acked.* 2>/dev/null | grep -c '^20[01] '; }
enough_acked() { [ "$(acked)" -ge "$1" ]; }

clients=()
for n in $(seq 1 $CLIENTS); do
	client "$n" &
	clients+=($!)
done
check "the burst is under way (300 acknowledged)" wait_until 60 enough_acked 300
kill_daemon "$COORD_PID"
echo "# coordinator killed with $(acked) jobs acknowledged"
start_coordinator --data-dir "$DATA"   # same port: the clients keep their URL
wait "${clients[@]}"
check_eq "every submission got an answer in the end" "0" "$(cat "$WORK"/acked.* | grep -c 'gave up')"
check_eq "$TOTAL submissions were acknowledged" "$TOTAL" "$(acked)"
check_eq "one job per idempotency key" "$TOTAL" "$(cat "$WORK"/acked.* | awk '{print $2}' | sort -u | wc -l)"
check_eq "and the store holds exactly those" "$TOTAL" "$(count_jobs type=record)"

all_finished() { [ "$(count_jobs 'type=record&status=COMPLETED')" = "$TOTAL" ]; }
check "every acknowledged job COMPLETED" wait_until 120 all_finished
check_eq "none FAILED" "0" "$(count_jobs 'type=record&status=FAILED')"
check_eq "each job ran exactly once on the agents" "$TOTAL $TOTAL" "$(grep -c . "$RAN") $(grep . "$RAN" | sort -u | wc -l)"
check_eq "each job has one attempt" "1" "$(api_get '/jobs?type=record&limit=10000' | jq '[.jobs[].attempt] | unique | join(",")' -r)"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
