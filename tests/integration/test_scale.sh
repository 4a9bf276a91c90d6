#!/usr/bin/env bash
# 2,000 jobs running at the same time: the coordinator drives them all from
# one dispatcher thread (libcurl multi), not a thread per job.
. "$(dirname "$0")/lib.sh"

JOBS=2000
start_coordinator --probe-interval-ms 1000 --default-timeout-ms 120000 --http-threads 64  # a fixed HTTP pool: what must not grow with the jobs is the rest
for name in a1 a2 a3 a4; do
	start_agent "$name" --capacity 512
done
check "four agents with 512 slots each register" wait_until 20 nodes_registered 4

# One curl process posts all the jobs over 64 parallel connections. Each job
# sleeps 20 s: the dispatcher marks jobs RUNNING one durable commit at a time,
# so starting 2,000 takes seconds under ASan on a busy machine, and the first
# must still run when the last starts.
urls=()
for ((i = 0; i < JOBS; i++)); do urls+=("$COORD_URL/jobs"); done
curl -s --max-time 120 -Z --parallel-max 64 -H 'Content-Type: application/json' \
	-d '{"type":"sleep","payload":"20000"}' -o /dev/null "${urls[@]}"
check_eq "all $JOBS jobs were accepted" "$JOBS" "$(count_jobs)"

in_flight() { [ "$(api_get /healthz | jq .in_flight)" = "$JOBS" ]; }
check "all $JOBS run at the same time" wait_until 60 in_flight
threads=$(ls "/proc/$COORD_PID/task" | wc -l)
echo "# coordinator threads with $JOBS jobs running: $threads"
check "the coordinator holds them with a few dozen threads, not $JOBS" test "$threads" -lt 150
check_eq "the registry agrees: every slot counted" "$JOBS" "$(api_get /nodes | jq '[.nodes[].running] | add')"

all_done() { [ "$(count_jobs status=COMPLETED)" = "$JOBS" ]; }
check "all $JOBS complete" wait_until 90 all_done
check_eq "none failed" "0" "$(count_jobs status=FAILED)"

for name in a1 a2 a3 a4; do check "agent $name stops cleanly" stop_daemon "${AGENT_PIDS[$name]}"; done
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
