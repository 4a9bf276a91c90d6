#!/usr/bin/env bash
# The sqlite store keeps what the coordinator acknowledged: jobs QUEUED at a
# kill -9 are dispatched again after a restart on the same --data-dir and run
# exactly once, in submission order; jobs COMPLETED before a kill -9 keep
# their results and are not run again; a job RUNNING at the kill is asked of
# its node (logged), followed there and completes once; two coordinators cannot share one data
# directory; a data directory that cannot be made is a clear startup error.
. "$(dirname "$0")/lib.sh"

DATA=$WORK/durable-data
RUNS=$WORK/runs.txt
: >"$RUNS"
# record: appends its payload to $RUNS (one line per run), answers "done PAYLOAD".
RECORD="record=sh -c 'p=\$(cat); echo \"\$p\" >> $RUNS; printf \"done %s\" \"\$p\"'"

# submit_acked TYPE PAYLOAD: prints the new job's id if the answer was 201, else nothing.
submit_acked() {
	local out
	out=$(curl -sS --max-time 10 -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "$(jq -cn --arg t "$1" --arg p "$2" '{type:$t,payload:$p}')" "$COORD_URL/jobs")
	[ "$(tail -n 1 <<<"$out")" = 201 ] && head -n 1 <<<"$out" | jq -r .id
}
runs_of() { grep -cx -- "$1" "$RUNS"; }
all_completed() { local id; for id in "$@"; do job_is "$id" COMPLETED || return 1; done; }
logged() { grep -q -- "$2" "$1"; }

# --- (a) QUEUED jobs survive kill -9 and run once after the restart
start_coordinator --data-dir "$DATA"
check "the data directory is created" test -d "$DATA"
check_eq "with mode 0700" "700" "$(stat -c %a "$DATA")"
check "the database is DIR/jobs.db" test -f "$DATA/jobs.db"
N=20
ids=()
for i in $(seq 1 $N); do ids+=("$(submit_acked record "q-$i")"); done
acked=0
for id in "${ids[@]}"; do [ -n "$id" ] && acked=$((acked + 1)); done
check_eq "every submission is acknowledged with 201" "$N" "$acked"
check_eq "with no agent they stay QUEUED" "$N" "$(count_jobs status=QUEUED)"

kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"   # same port: COORD_PORT is kept
check "the restarted coordinator reports what it recovered" \
	logged "$COORD_LOG" "recovered $N QUEUED job(s) and 0 RUNNING job(s)"
check_eq "it still has the $N jobs" "$N" "$(count_jobs)"
same_ids=0
for id in "${ids[@]}"; do [ "$(job_field "$id" id)" = "$id" ] && same_ids=$((same_ids + 1)); done
check_eq "under the same ids" "$N" "$same_ids"

start_agent solo --capacity 1 --handler "$RECORD"
check "every acknowledged job completes after the restart" wait_until 30 all_completed "${ids[@]}"
right=0
for i in $(seq 1 $N); do
	[ "$(job_field "${ids[$((i - 1))]}" result)" = "done q-$i" ] && right=$((right + 1))
done
check_eq "each with its own result" "$N" "$right"
once=0
for i in $(seq 1 $N); do [ "$(runs_of "q-$i")" = 1 ] && once=$((once + 1)); done
check_eq "each ran exactly once" "$N" "$once"
check_eq "in submission order (one slot)" "$(seq -f 'q-%g' 1 $N | paste -sd ' ')" \
	"$(grep '^q-' "$RUNS" | paste -sd ' ')"

# --- (b) COMPLETED jobs survive kill -9 and are not run again
kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "the agent registers with the restarted coordinator" wait_until 15 nodes_registered 1
barrier=$(submit_acked record "barrier-b")
check "a new job runs after the restart" wait_until 15 job_is "$barrier" COMPLETED
still=0
for i in $(seq 1 $N); do
	id=${ids[$((i - 1))]}
	[ "$(job_field "$id" status)" = COMPLETED ] && [ "$(job_field "$id" result)" = "done q-$i" ] &&
		still=$((still + 1))
done
check_eq "jobs COMPLETED before the kill are still COMPLETED with their results" "$N" "$still"
check_eq "and none ran again" "$((N + 1))" "$(wc -l <"$RUNS")"
check "the restart recovered nothing to run" bash -c "! grep -q 'recovered' '$COORD_LOG'"

# --- a job RUNNING at the kill is asked of its node, followed there, and completes once
running_id=$(submit_acked sleep 1500)
check "a long job is RUNNING" wait_until 10 job_is "$running_id" RUNNING
kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "the restart says the job was running and asks its node" \
	logged "$COORD_LOG" "job $running_id was RUNNING on node .* when the coordinator stopped; asking the node"
check "the job that was RUNNING completes after the restart" wait_until 20 job_is "$running_id" COMPLETED
check_eq "with its result" "slept 1500 ms" "$(job_field "$running_id" result)"
check_eq "in one attempt" "1" "$(job_field "$running_id" 'attempts | length')"
check_eq "on the node it ran on, which kept its id" "$(job_field "$running_id" 'attempts[0].node_id')" "$(api_get /nodes | jq -r '.nodes[0].id')"

# --- (c) a second coordinator on the same data directory exits 1
second_log=$WORK/second-coordinator.out
timeout 15 "$BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir "$DATA" >"$second_log" 2>&1
check_eq "a second coordinator on the same --data-dir exits 1" "1" "$?"
check_contains "saying the database is in use by another coordinator" \
	"in use by another coordinator" "$(cat "$second_log")"
check_contains "naming the first one's pid" "pid $COORD_PID" "$(cat "$second_log")"
check "the first coordinator keeps serving" wait_until 5 job_is "$running_id" COMPLETED

# --- (d) startup errors for data directories it cannot use
bad_log=$WORK/bad-dir.out
timeout 15 "$BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir /proc/mesh-no-such/data \
	>"$bad_log" 2>&1
check_eq "a --data-dir that cannot be created exits 1" "1" "$?"
check_contains "naming the directory" "/proc/mesh-no-such/data" "$(cat "$bad_log")"
check_contains "and saying it cannot be created" "cannot create the data directory" "$(cat "$bad_log")"

if [ "$(id -u)" != 0 ]; then
	mkdir -p "$WORK/read-only" && chmod 500 "$WORK/read-only"
	timeout 15 "$BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir "$WORK/read-only" \
		>"$bad_log" 2>&1
	check_eq "an unwritable --data-dir exits 1" "1" "$?"
	check_contains "saying it is not writable" "$WORK/read-only is not writable" "$(cat "$bad_log")"
	chmod 700 "$WORK/read-only"
else
	echo "# skipped the unwritable-directory check: root can write anywhere"
fi

printf 'x' >"$WORK/a-file"
timeout 15 "$BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir "$WORK/a-file" >"$bad_log" 2>&1
check_eq "a --data-dir that is a file exits 1" "1" "$?"
check_contains "saying it is not a directory" "is not a directory" "$(cat "$bad_log")"

timeout 15 "$BIN/mesh-coordinator" --store disk >"$bad_log" 2>&1
check_eq "an unknown --store is a usage error (exit 2)" "2" "$?"

# --- (e) a backlog of several pages: the restarted coordinator serves at once,
# and the dispatcher reads the QUEUED jobs itself, each once, in submission order
BACKLOG=2100 # three of the dispatcher's pages of 1,000
BACKLOG_RUNS=$WORK/backlog-runs.txt
: >"$BACKLOG_RUNS"
backlog_ids=()
for first in 1 701 1401; do
	batch=$(seq "$first" $((first + 699)) | jq -R '{type:"backlog",payload:("b-"+.)}' | jq -cs .)
	mapfile -t -O "${#backlog_ids[@]}" backlog_ids < <(api_post /jobs "$batch" | jq -r '.[].id')
done
check_eq "a backlog of $BACKLOG jobs no node takes is stored" "$BACKLOG" "${#backlog_ids[@]}"
kill_daemon "$COORD_PID"
start_coordinator --data-dir "$DATA"
check "the restarted coordinator reports the backlog" \
	logged "$COORD_LOG" "recovered $BACKLOG QUEUED job(s)"
backlog_read() { logged "$COORD_LOG" "took up the $BACKLOG QUEUED job(s) of the store"; }
check "and its dispatcher takes up all of it" wait_until 15 backlog_read
check_eq "all of it waits for a node" "$BACKLOG" "$(api_get /healthz | jq .waiting_for_a_node)"
start_agent backlog --capacity 1 \
	--handler "backlog=sh -c 'cat >> $BACKLOG_RUNS; echo >> $BACKLOG_RUNS'"
backlog_done() { [ "$(count_jobs 'status=COMPLETED&type=backlog')" = "$BACKLOG" ]; }
check "every job of the backlog completes" wait_until 120 backlog_done
check_eq "each ran exactly once, in submission order (one slot)" \
	"$(seq -f 'b-%g' 1 $BACKLOG)" "$(cat "$BACKLOG_RUNS")"
check_eq "the jobs kept their ids across the restart" "COMPLETED" "$(job_field "${backlog_ids[0]}" status)"

check "agent solo stops cleanly" stop_daemon "${AGENT_PIDS[solo]}"
check "agent backlog stops cleanly" stop_daemon "${AGENT_PIDS[backlog]}"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
