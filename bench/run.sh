#!/usr/bin/env bash
# bench/run.sh [SCENARIO...]: the benchmark suite of issue 4, run by `make bench`
# (which builds bin/ and build/bench/ first; this script builds nothing).
#
# Scenarios (all by default, in this order; ceiling always runs first, because
# every other figure is also given as a ratio to it):
#   ceiling     a bare civetweb + jansson server (bench/ceiling.c): requests/s,
#               answering in one write; and again through civetweb's header
#               API (one send per header line), as the daemons answer
#   submit      POST /jobs with no agent (jobs stay QUEUED), durable store:
#               single jobs, then batches of 100
#   e2e         echo jobs through 4 agents from 8 clients: at full speed, and
#               at 1,000 jobs/s offered
#   roundtrip   sequential POST /jobs?wait=5 of echo jobs from one client
#   many-nodes  the same load through 4 agents, then through 200 agent processes
#   big-store   1,000,000 jobs in the store: GET p99, list p99, RSS, restart
#   failure     kill -9 of an agent mid-job, default flags: time to UNHEALTHY,
#               and to the job running on another node
#
# Every scenario runs in a child of this script with a hard time limit: past
# it, the child is stopped, every process it started is stopped by its PID,
# and the scenario is reported as incomplete (its figures null). Everything
# listens on 127.0.0.1 and talks to 127.0.0.1 only. Nothing is killed by name.
#
# Output: one table on stdout, and bench/results/latest.json (one flat JSON
# object). Counts can be scaled down with environment variables (see the
# defaults below), e.g. E2E_JOBS=10000 bench/run.sh e2e.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESH_BIN=${MESH_BIN:-$ROOT/bin}
BENCH_BIN=${BENCH_BIN:-$ROOT/build/bench}
RESULTS_DIR=${RESULTS_DIR:-$ROOT/bench/results}
LOADGEN=$BENCH_BIN/loadgen

ALL_SCENARIOS="ceiling submit e2e roundtrip many-nodes big-store failure"

# The counts of the issue, where they fit this 2-core machine's time budget.
CLIENTS=${CLIENTS:-8}                        # concurrent clients (the issue's 8)
CEILING_REQUESTS=${CEILING_REQUESTS:-100000}
SUBMIT_JOBS=${SUBMIT_JOBS:-20000}
SUBMIT_BATCHES=${SUBMIT_BATCHES:-500}        # of 100 jobs each
E2E_JOBS=${E2E_JOBS:-50000}
E2E_1K_JOBS=${E2E_1K_JOBS:-20000}            # 20 s at 1,000 jobs/s
E2E_1K_RATE=${E2E_1K_RATE:-1000}
# Slots per agent in e2e and roundtrip: enough that 4 agents' slots (64) never
# cap what 8 clients can send, so that the figure is the coordinator's.
AGENT_CAPACITY=${AGENT_CAPACITY:-16}
ROUNDTRIPS=${ROUNDTRIPS:-2000}
MANY_AGENTS=${MANY_AGENTS:-200}
# many-nodes: each of the 200 agents has the smallest useful thread pool (the
# agent has no thread flag: it runs capacity + 16 HTTP workers), and the 4
# agents it is compared with have the same slots in all (4 x 100 = 200 x 2).
MANY_CAPACITY=${MANY_CAPACITY:-2}
MANY_JOBS=${MANY_JOBS:-20000}
BIG_JOBS=${BIG_JOBS:-1000000}
BIG_QUEUED=${BIG_QUEUED:-10000}              # of BIG_JOBS; the rest COMPLETED
BIG_GETS=${BIG_GETS:-10000}
BIG_LISTS=${BIG_LISTS:-2000}

# Hard limits, seconds, per scenario; LIMIT_e2e=600, LIMIT_many_nodes=... override them.
declare -A LIMIT=([ceiling]=60 [submit]=120 [e2e]=300 [roundtrip]=90 [many-nodes]=300
	[big-store]=300 [failure]=90)

# The comment at the top of this file.
usage() {
	awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"
}

now_ns() { date +%s%N; }

# ---------------------------------------------------------------------------
# The child: runs one scenario. Its processes are in PIDS and in $WORK/pids
# (so that the parent can stop them too if the child itself had to be killed).
# ---------------------------------------------------------------------------
PIDS=()

# remember PID: for the child's cleanup and the parent's.
remember() {
	PIDS+=("$1")
	echo "$1" >>"$WORK/pids"
}

# stop_pids SIGNAL PID...: signals each, waits at most 15 s for all, then SIGKILLs the rest.
stop_pids() {
	local sig=$1 pid i
	shift
	[ $# -eq 0 ] && return 0
	for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null; done
	for ((i = 0; i < 300; i++)); do
		local alive=0
		for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1 && break; done
		[ $alive = 0 ] && break
		sleep 0.05
	done
	for pid in "$@"; do kill -KILL "$pid" 2>/dev/null; done
	for pid in "$@"; do wait "$pid" 2>/dev/null; done
	for pid in "$@"; do forget "$pid"; done
}

# forget PID: it has exited and been waited for.
forget() {
	local keep=() p
	for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	PIDS=("${keep[@]}")
}

child_cleanup() {
	trap - TERM INT
	[ ${#PIDS[@]} -gt 0 ] && stop_pids KILL "${PIDS[@]}"
}

# put KEY VALUE: one figure of this scenario.
put() { echo "$1=$2" >>"$KV"; }

# kv FILE KEY: a value printed by loadgen.
kv() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

# run_loadgen OUT ARGS...: runs loadgen in the background and waits, so that a
# stop signal (the time limit) is acted on at once rather than after it.
run_loadgen() {
	local out=$1 pid
	shift
	"$LOADGEN" "$@" >"$out" 2>>"$WORK/loadgen.err" &
	pid=$!
	remember "$pid"
	wait "$pid"
	forget "$pid"
	if [ "$(kv "$out" complete)" != 1 ]; then
		# The scenario goes on, but says that a measurement of it is missing.
		echo "loadgen $* did not complete: $(tr '\n' ' ' <"$out")" >>"$WORK/kv/$SCENARIO.partial"
		echo "# loadgen $* did not complete: $(tr '\n' ' ' <"$out")" >&2
		tail -n 3 "$WORK/loadgen.err" >&2
		return 1
	fi
	return 0
}

# wait_for SECONDS COMMAND...: polls every 50 ms; 1 if the deadline passes.
wait_for() {
	local deadline=$((SECONDS + $1)) i
	shift
	for ((i = 0; i < 100000; i++)); do
		"$@" 2>/dev/null && return 0
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
	return 1
}

logged_port() { grep -o 'listening on [^ ]*' "$1" 2>/dev/null | head -n 1 | sed 's/.*://'; }
has_port() { [ -n "$(logged_port "$1")" ]; }

# start_coordinator DATA_DIR [FLAGS...]: sets COORD_PID, COORD_URL, COORD_LOG, COORD_START_NS.
COORD_N=0
start_coordinator() {
	local dir=$1
	shift
	COORD_N=$((COORD_N + 1))
	COORD_LOG=$WORK/$SCENARIO-coordinator-$COORD_N.log
	COORD_START_NS=$(now_ns)
	"$MESH_BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$COORD_LOG" 2>&1 &
	COORD_PID=$!
	remember "$COORD_PID"
	if ! wait_for 120 has_port "$COORD_LOG"; then
		echo "# the coordinator did not start:" >&2
		tail -n 5 "$COORD_LOG" >&2
		exit 1
	fi
	COORD_URL=http://127.0.0.1:$(logged_port "$COORD_LOG")
}

# start_agents COUNT PREFIX [FLAGS...]: COUNT agents named PREFIX-1.., all at
# once; AGENT_PIDS holds them in order. Does not wait for them.
AGENT_PIDS=()
start_agents() {
	local count=$1 prefix=$2 i
	shift 2
	for ((i = 1; i <= count; i++)); do
		"$MESH_BIN/mesh-agent" --coordinator "$COORD_URL" --listen 127.0.0.1:0 \
			--name "$prefix-$i" --capacity "$AGENT_CAPACITY" --log-level warn "$@" \
			>"$WORK/$SCENARIO-agent-$prefix-$i.log" 2>&1 &
		AGENT_PIDS+=($!)
		remember $!
	done
}

healthz() { curl -s --max-time 5 "$COORD_URL/healthz"; }
healthy_nodes_are() { [ "$(healthz | jq .healthy_nodes)" = "$1" ]; }

# The coordinator's CPU time so far (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# fresh_mesh AGENTS: a coordinator on a new data dir, AGENTS agents, all HEALTHY.
fresh_mesh() {
	local agents=$1
	shift
	AGENT_PIDS=()
	start_coordinator "$(mktemp -d "$WORK/data.XXXXXX")" "$@"
	[ "$agents" -gt 0 ] && start_agents "$agents" a
	if ! wait_for 120 healthy_nodes_are "$agents"; then
		echo "# only $(healthz | jq .healthy_nodes) of $agents agents became HEALTHY" >&2
		exit 1
	fi
}

stop_mesh() {
	stop_pids KILL "${AGENT_PIDS[@]}" "$COORD_PID"
	AGENT_PIDS=()
}

# ---- scenarios ------------------------------------------------------------

scenario_ceiling() {
	local log=$WORK/ceiling.log out=$WORK/ceiling.out pid url
	# The raw ceiling: the answer in one write (one TCP segment).
	"$BENCH_BIN/ceiling" --one-write >"$log" 2>&1 &
	pid=$!
	remember "$pid"
	wait_for 10 has_port "$log" || exit 1
	url=http://127.0.0.1:$(logged_port "$log")
	run_loadgen "$out" --url "$url" --count "$CEILING_REQUESTS" --threads "$CLIENTS" --max-seconds 40 || exit 1
	put ceiling_rps "$(kv "$out" rps)"
	put ceiling_p50_ms "$(kv "$out" lat_p50_ms)"
	put ceiling_p99_ms "$(kv "$out" lat_p99_ms)"
	put ceiling_errors "$(kv "$out" errors)"
	# One client, one request at a time: the latency of one bare request.
	run_loadgen "$out.1" --url "$url" --count 5000 --threads 1 --max-seconds 15 || exit 1
	put ceiling_1client_rps "$(kv "$out.1" rps)"
	put ceiling_1client_p50_ms "$(kv "$out.1" lat_p50_ms)"
	put ceiling_1client_p99_ms "$(kv "$out.1" lat_p99_ms)"
	stop_pids TERM "$pid"

	# The same server answering through civetweb's header API, as both daemons
	# do (common/http_server.c): one send() per header line.
	"$BENCH_BIN/ceiling" >"$log.api" 2>&1 &
	pid=$!
	remember "$pid"
	wait_for 10 has_port "$log.api" || exit 1
	url=http://127.0.0.1:$(logged_port "$log.api")
	run_loadgen "$out.api" --url "$url" --count "$CEILING_REQUESTS" --threads "$CLIENTS" --max-seconds 40 &&
		put ceiling_header_api_rps "$(kv "$out.api" rps)"
	stop_pids TERM "$pid"
}

scenario_submit() {
	local out=$WORK/submit.out code
	fresh_mesh 0
	if run_loadgen "$out" --url "$COORD_URL" --count "$SUBMIT_JOBS" --threads "$CLIENTS" --max-seconds 50; then
		put submit_rps "$(kv "$out" rps)"
		put submit_p50_ms "$(kv "$out" lat_p50_ms)"
		put submit_p99_ms "$(kv "$out" lat_p99_ms)"
		put submit_errors "$(kv "$out" errors)"
	fi
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
		--data-binary '[{"type":"echo","payload":"probe"}]' "$COORD_URL/jobs")
	if [ "$code" != 201 ]; then
		put batch_supported false
		echo "# POST /jobs with an array answered $code: no batch submission; batch figures left null" >&2
	else
		put batch_supported true
		if run_loadgen "$out.batch" --url "$COORD_URL" --count "$SUBMIT_BATCHES" --batch 100 \
			--threads "$CLIENTS" --max-seconds 50; then
			put batch_submit_jobs_per_s "$(kv "$out.batch" jobs_per_s)"
			put batch_submit_request_p50_ms "$(kv "$out.batch" lat_p50_ms)"
			put batch_submit_request_p99_ms "$(kv "$out.batch" lat_p99_ms)"
			put batch_submit_errors "$(kv "$out.batch" errors)"
		fi
	fi
	put submit_rss_mb "$(rss_mb "$COORD_PID")"
	stop_mesh
}

scenario_e2e() {
	local out=$WORK/e2e.out before after
	put e2e_agent_capacity "$AGENT_CAPACITY"
	fresh_mesh 4
	before=$(cpu_ticks "$COORD_PID")
	if run_loadgen "$out" --url "$COORD_URL" --count "$E2E_JOBS" --threads "$CLIENTS" --track --max-seconds 200; then
		after=$(cpu_ticks "$COORD_PID")
		put e2e_jobs "$(kv "$out" track_completed)"
		put e2e_jobs_per_s "$(kv "$out" e2e_jobs_per_s)"
		put e2e_p50_ms "$(kv "$out" e2e_p50_ms)"
		put e2e_p99_ms "$(kv "$out" e2e_p99_ms)"
		put e2e_server_p50_ms "$(kv "$out" server_p50_ms)"
		put e2e_server_p99_ms "$(kv "$out" server_p99_ms)"
		put e2e_submit_rps "$(kv "$out" rps)"
		put e2e_submit_p99_ms "$(kv "$out" lat_p99_ms)"
		put e2e_failed "$(kv "$out" track_failed)"
		put e2e_errors "$(kv "$out" errors)"
		put e2e_coordinator_cpu_ms_per_job "$(echo "$before $after $(kv "$out" track_completed)" |
			awk -v t="$TICKS" '{printf "%.3f", ($2 - $1) * 1000 / t / $3}')"
	fi
	# Under full load no healthy node may be taken for dead.
	put e2e_unhealthy_events "$(grep -c 'is UNHEALTHY after' "$COORD_LOG")"
	put e2e_coordinator_rss_mb "$(rss_mb "$COORD_PID")"
	stop_mesh

	fresh_mesh 4
	if run_loadgen "$out.1k" --url "$COORD_URL" --count "$E2E_1K_JOBS" --rate "$E2E_1K_RATE" \
		--threads "$CLIENTS" --track --max-seconds 120; then
		put e2e_1k_jobs_per_s "$(kv "$out.1k" e2e_jobs_per_s)"
		put e2e_1k_p50_ms "$(kv "$out.1k" e2e_p50_ms)"
		put e2e_1k_p99_ms "$(kv "$out.1k" e2e_p99_ms)"
		put e2e_1k_max_ms "$(kv "$out.1k" e2e_max_ms)"
		put submit_1k_p50_ms "$(kv "$out.1k" lat_p50_ms)"
		put submit_1k_p99_ms "$(kv "$out.1k" lat_p99_ms)"
		put e2e_1k_errors "$(kv "$out.1k" errors)"
	fi
	stop_mesh
}

scenario_roundtrip() {
	local out=$WORK/roundtrip.out body poll=()
	fresh_mesh 4
	body=$(curl -s --max-time 10 -X POST --data-binary '{"type":"echo","payload":"probe"}' "$COORD_URL/jobs?wait=5")
	if [ "$(echo "$body" | jq -r .status 2>/dev/null)" = COMPLETED ]; then
		put wait_supported true
		put roundtrip_method '"wait"'
	else
		# Without ?wait the answer is the QUEUED job: follow it with GET /jobs/{id} instead.
		put wait_supported false
		put roundtrip_method '"poll"'
		poll=(--poll)
	fi
	if run_loadgen "$out" --url "$COORD_URL" --count "$ROUNDTRIPS" --threads 1 --wait 5 "${poll[@]}" --max-seconds 60; then
		put roundtrip_p50_ms "$(kv "$out" lat_p50_ms)"
		put roundtrip_p99_ms "$(kv "$out" lat_p99_ms)"
		put roundtrip_max_ms "$(kv "$out" lat_max_ms)"
		put roundtrip_errors "$(kv "$out" errors)"
	fi
	stop_mesh
}

# many_run PREFIX: the many-nodes load on the running mesh; figures under PREFIX.
many_run() {
	local prefix=$1 out=$WORK/many-$1.out before after
	before=$(cpu_ticks "$COORD_PID")
	run_loadgen "$out" --url "$COORD_URL" --count "$MANY_JOBS" --threads "$CLIENTS" --track --max-seconds 100 || return 1
	after=$(cpu_ticks "$COORD_PID")
	put "${prefix}jobs_per_s" "$(kv "$out" e2e_jobs_per_s)"
	put "${prefix}p99_ms" "$(kv "$out" e2e_p99_ms)"
	put "${prefix}nodes_used" "$(kv "$out" nodes_used)"
	put "${prefix}coordinator_cpu_ms_per_job" "$(echo "$before $after $(kv "$out" track_completed)" |
		awk -v t="$TICKS" '{printf "%.3f", ($2 - $1) * 1000 / t / $3}')"
}

scenario_many_nodes() {
	local t0 before
	AGENT_CAPACITY=$((MANY_AGENTS * MANY_CAPACITY / 4))
	put many_nodes_4_capacity "$AGENT_CAPACITY"
	fresh_mesh 4
	many_run many_nodes_4_
	stop_mesh

	AGENT_CAPACITY=$MANY_CAPACITY
	put many_nodes_capacity "$AGENT_CAPACITY"
	t0=$SECONDS
	fresh_mesh "$MANY_AGENTS"
	put many_nodes_agents "$MANY_AGENTS"
	put many_nodes_start_s $((SECONDS - t0))
	# What 200 idle nodes cost the coordinator: probes every second, polls every 2 s.
	before=$(cpu_ticks "$COORD_PID")
	sleep 3
	put many_nodes_idle_cpu_pct "$(echo "$before $(cpu_ticks "$COORD_PID")" | awk -v t="$TICKS" '{printf "%.1f", ($2 - $1) * 100 / t / 3}')"
	put many_nodes_agent_threads "$(ls "/proc/${AGENT_PIDS[0]}/task" | wc -l)"
	many_run many_nodes_
	put many_nodes_unhealthy_events "$(grep -c 'is UNHEALTHY after' "$COORD_LOG")"
	stop_mesh
}

# big_fill DIR: BIG_JOBS jobs written with the sqlite3 CLI into the store the
# coordinator created in DIR (its own schema): BIG_QUEUED of them QUEUED, the
# rest COMPLETED with their attempt. Ids look like the coordinator's (j- and
# 12 hex digits), scattered over the id space: lookups touch pages all over the
# id index, a harder case than the coordinator's own clock-prefixed ids.
big_fill() {
	local db=$1/jobs.db done_jobs=$((BIG_JOBS - BIG_QUEUED))
	local t0=$(($(date +%s%3N) - 3600000))
	local sql=$WORK/fill.sql pid status
	cat >"$sql" <<-EOF
		PRAGMA synchronous = OFF;
		BEGIN;
		WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < $BIG_JOBS)
		INSERT INTO jobs (id, type, payload, status, node_id, created_at, updated_at, result,
		                  priority, timeout_ms, max_attempts, retry_on_failure,
		                  backoff_base_ms, backoff_cap_ms, attempt, next_attempt_at)
		SELECT printf('j-%012x', (n * 2654435761) % 281474976710656), 'echo', 'bench-' || n,
		       CASE WHEN n <= $done_jobs THEN 'COMPLETED' ELSE 'QUEUED' END,
		       CASE WHEN n <= $done_jobs THEN 'n-00000000b0b0' ELSE '' END,
		       $t0 + n * 3, $t0 + n * 3 + CASE WHEN n <= $done_jobs THEN 2 ELSE 0 END,
		       CASE WHEN n <= $done_jobs THEN 'bench-' || n END,
		       'normal', 3600000, 1, 0, 1000, 60000,
		       CASE WHEN n <= $done_jobs THEN 1 ELSE 0 END, 0
		FROM c;
		INSERT INTO attempts (job, number, node_id, started_at, finished_at, status)
		SELECT id, 1, node_id, created_at + 1, updated_at, 'COMPLETED' FROM jobs WHERE status = 'COMPLETED';
		COMMIT;
		PRAGMA wal_checkpoint(TRUNCATE);
	EOF
	# In the background, so that the time limit stops it at once.
	sqlite3 "$db" <"$sql" >/dev/null &
	pid=$!
	remember "$pid"
	wait "$pid"
	status=$?
	forget "$pid"
	return $status
}

scenario_big_store() {
	local dir=$WORK/big out=$WORK/big.out t0
	mkdir -p "$dir"
	# Let the coordinator create its schema, then stop it and fill the store behind its back.
	start_coordinator "$dir"
	stop_pids TERM "$COORD_PID"
	t0=$SECONDS
	big_fill "$dir" || exit 1
	sqlite3 "$dir/jobs.db" "SELECT id FROM jobs ORDER BY random() LIMIT 20000" >"$WORK/big.ids"
	put big_store_jobs "$(sqlite3 "$dir/jobs.db" 'SELECT count(*) FROM jobs')"
	put big_store_queued "$BIG_QUEUED"
	put big_store_fill_s $((SECONDS - t0))
	put big_store_db_mb "$(du -sm "$dir" | cut -f1)"

	start_coordinator "$dir"
	run_loadgen "$out.start" --mode ready --url "$COORD_URL" --since-wall-ns "$COORD_START_NS" --max-seconds 60 &&
		put big_store_first_start_s "$(kv "$out.start" ready_s)"
	if run_loadgen "$out.get" --mode get --url "$COORD_URL" --path '/jobs/{id}' --ids-file "$WORK/big.ids" \
		--count "$BIG_GETS" --threads 1 --max-seconds 60; then
		put big_store_get_p50_ms "$(kv "$out.get" lat_p50_ms)"
		put big_store_get_p99_ms "$(kv "$out.get" lat_p99_ms)"
		put big_store_get_errors "$(kv "$out.get" errors)"
	fi
	if run_loadgen "$out.list" --mode get --url "$COORD_URL" --path '/jobs?status=QUEUED&limit=100' \
		--count "$BIG_LISTS" --threads 1 --max-seconds 60; then
		put big_store_list_p50_ms "$(kv "$out.list" lat_p50_ms)"
		put big_store_list_p99_ms "$(kv "$out.list" lat_p99_ms)"
		put big_store_list_errors "$(kv "$out.list" errors)"
	fi
	put big_store_rss_mb "$(rss_mb "$COORD_PID")"
	put big_store_hwm_mb "$(hwm_mb "$COORD_PID")"

	# Restart: a clean stop, then from exec to the first answered GET /healthz.
	t0=$(now_ns)
	stop_pids TERM "$COORD_PID"
	put big_store_stop_s "$(echo "$t0 $(now_ns)" | awk '{printf "%.3f", ($2 - $1) / 1e9}')"
	start_coordinator "$dir"
	run_loadgen "$out.restart" --mode ready --url "$COORD_URL" --since-wall-ns "$COORD_START_NS" --max-seconds 60 &&
		put big_store_restart_s "$(kv "$out.restart" ready_s)"
	put big_store_restart_rss_mb "$(rss_mb "$COORD_PID")"
	stop_pids KILL "$COORD_PID"
	rm -rf "$dir"

	# The same million, all QUEUED (a backlog no node runs): how soon the
	# coordinator serves, how soon its dispatcher holds the whole backlog (it
	# reads it from the store while serving), and what that costs in memory.
	dir=$WORK/backlog
	mkdir -p "$dir"
	start_coordinator "$dir"
	stop_pids TERM "$COORD_PID"
	BIG_QUEUED=$BIG_JOBS big_fill "$dir" || exit 1
	start_coordinator "$dir"
	run_loadgen "$out.backlog" --mode ready --url "$COORD_URL" --since-wall-ns "$COORD_START_NS" --max-seconds 120 &&
		put big_backlog_start_s "$(kv "$out.backlog" ready_s)"
	if wait_for 120 grep -q "took up the $BIG_JOBS QUEUED job(s)" "$COORD_LOG"; then
		put big_backlog_taken_up_s "$(echo "$COORD_START_NS $(now_ns)" | awk '{printf "%.3f", ($2 - $1) / 1e9}')"
	fi
	sqlite3 "$dir/jobs.db" "SELECT id FROM jobs ORDER BY random() LIMIT 2000" >"$WORK/backlog.ids"
	run_loadgen "$out.backlog.get" --mode get --url "$COORD_URL" --path '/jobs/{id}' --ids-file "$WORK/backlog.ids" \
		--count 2000 --threads 1 --max-seconds 30 &&
		put big_backlog_get_p99_ms "$(kv "$out.backlog.get" lat_p99_ms)"
	put big_backlog_rss_mb "$(rss_mb "$COORD_PID")"
	put big_backlog_hwm_mb "$(hwm_mb "$COORD_PID")"
	stop_pids KILL "$COORD_PID"
	rm -rf "$dir"
}

scenario_failure() {
	local out=$WORK/failure.out job node_a t0 i
	# The defaults: no probe or grace flag.
	start_coordinator "$(mktemp -d "$WORK/data.XXXXXX")"
	AGENT_PIDS=()
	start_agents 1 victim --capacity 1
	wait_for 30 healthy_nodes_are 1 || exit 1
	start_agents 1 spare --capacity 1
	wait_for 30 healthy_nodes_are 2 || exit 1
	node_a=$(curl -s "$COORD_URL/nodes" | jq -r '.nodes[] | select(.name == "victim-1") | .id')
	job=$(curl -s --max-time 10 -X POST --data-binary '{"type":"sleep","payload":"3000","max_attempts":2}' \
		"$COORD_URL/jobs" | jq -r .id)
	running_on_a() { [ "$(curl -s "$COORD_URL/jobs/$job" | jq -r '.status + " " + .node_id')" = "RUNNING $node_a" ]; }
	wait_for 10 running_on_a || { echo "# job $job never ran on $node_a" >&2; exit 1; }
	t0=$(now_ns)
	stop_pids KILL "${AGENT_PIDS[0]}"
	if run_loadgen "$out" --mode detect --url "$COORD_URL" --node "$node_a" --job "$job" \
		--since-wall-ns "$t0" --max-seconds 60; then
		put detect_unhealthy_s "$(kv "$out" detect_unhealthy_s)"
		put detect_rerun_s "$(kv "$out" detect_rerun_s)"
		put detect_rerun_attempt "$(kv "$out" detect_rerun_attempt)"
	fi
	stop_pids KILL "${PIDS[@]}"
}

run_child() {
	SCENARIO=$1
	KV=$WORK/kv/$SCENARIO.kv
	: >"$KV"
	trap child_cleanup EXIT
	trap 'exit 124' TERM INT
	case $SCENARIO in
	ceiling) scenario_ceiling ;;
	submit) scenario_submit ;;
	e2e) scenario_e2e ;;
	roundtrip) scenario_roundtrip ;;
	many-nodes) scenario_many_nodes ;;
	big-store) scenario_big_store ;;
	failure) scenario_failure ;;
	esac
	if [ -s "$WORK/kv/$SCENARIO.partial" ]; then
		echo partial >"$WORK/kv/$SCENARIO.status"
	else
		echo ok >"$WORK/kv/$SCENARIO.status"
	fi
}

# ---------------------------------------------------------------------------
# The parent: runs each scenario under its limit, then the table and the JSON.
# ---------------------------------------------------------------------------

# Stops whatever a child left behind, by the PIDs it recorded, if still ours.
reap_leftovers() {
	local pid exe
	[ -f "$WORK/pids" ] || return 0
	while read -r pid; do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
		case $exe in
		"$MESH_BIN"/* | "$BENCH_BIN"/* | */sqlite3) kill -KILL "$pid" 2>/dev/null ;;
		esac
	done <"$WORK/pids"
}

parent_cleanup() {
	[ -n "${CHILD_PID:-}" ] && kill -TERM "$CHILD_PID" 2>/dev/null && sleep 1
	[ -n "${CHILD_PID:-}" ] && kill -KILL "$CHILD_PID" 2>/dev/null
	reap_leftovers
	if [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "# work files kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}

# run_scenario NAME: the child under the hard limit; records ok, failed or timeout.
run_scenario() {
	local name=$1 override=LIMIT_${1//-/_} start=$SECONDS i status limit
	limit=${!override:-${LIMIT[$1]}}
	printf '# %-11s (limit %3d s) ... ' "$name" "$limit"
	"$0" --child "$name" "$WORK" 2>>"$WORK/$name.err" &
	CHILD_PID=$!
	for ((i = 0; i < limit * 10; i++)); do
		kill -0 "$CHILD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$CHILD_PID" 2>/dev/null; then
		kill -TERM "$CHILD_PID"
		for ((i = 0; i < 100; i++)); do kill -0 "$CHILD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$CHILD_PID" 2>/dev/null
		wait "$CHILD_PID" 2>/dev/null
		reap_leftovers
		echo timeout >"$WORK/kv/$name.status"
	else
		wait "$CHILD_PID"
		[ -f "$WORK/kv/$name.status" ] || echo failed >"$WORK/kv/$name.status"
	fi
	CHILD_PID=
	status=$(cat "$WORK/kv/$name.status")
	echo "$status in $((SECONDS - start)) s"
	if [ "$status" = partial ]; then
		sed 's/^/#   /' "$WORK/kv/$name.partial" | cut -c1-300
	elif [ "$status" != ok ]; then
		sed 's/^/#   /' "$WORK/$name.err" | tail -n 8
		# An incomplete scenario gives no figures: only what says why.
		: >"$WORK/kv/$name.kv"
	fi
}

machine() {
	local model cores mem
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	cores=$(grep -c '^processor' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
	echo "$model, $cores cores, $mem, Linux $(cat /proc/sys/kernel/osrelease)"
}

# The required figures of the issue, in table order: key, label, kind (rate, ms, other).
FIGURES="
ceiling_rps|ceiling: bare civetweb+jansson requests/s|rate
ceiling_header_api_rps|ceiling, answered via civetweb's header API, req/s|rate
ceiling_1client_p50_ms|ceiling: one client, p50 ms|ms
submit_rps|submit: POST /jobs/s (no agents, durable)|rate
submit_p99_ms|submit: POST /jobs p99 ms|ms
batch_submit_jobs_per_s|submit: jobs/s in batches of 100|rate
e2e_jobs_per_s|e2e: jobs/s, first submit to last COMPLETED|rate
e2e_p50_ms|e2e: submit-to-COMPLETED p50 ms|ms
e2e_p99_ms|e2e: submit-to-COMPLETED p99 ms|ms
e2e_1k_p99_ms|e2e at 1,000/s offered: submit-to-COMPLETED p99 ms|ms
submit_1k_p99_ms|e2e at 1,000/s offered: POST /jobs p99 ms|ms
roundtrip_p50_ms|roundtrip: POST ?wait=5 p50 ms|ms
roundtrip_p99_ms|roundtrip: POST ?wait=5 p99 ms|ms
many_nodes_4_jobs_per_s|many-nodes: 4 agents, jobs/s|rate
many_nodes_jobs_per_s|many-nodes: 200 agents, jobs/s|rate
many_nodes_4_coordinator_cpu_ms_per_job|many-nodes: 4 agents, coordinator CPU ms/job|other
many_nodes_coordinator_cpu_ms_per_job|many-nodes: 200 agents, coordinator CPU ms/job|other
big_store_get_p99_ms|big-store: GET /jobs/{id} p99 ms|ms
big_store_list_p99_ms|big-store: GET /jobs?status=QUEUED&limit=100 p99 ms|ms
big_store_rss_mb|big-store: coordinator RSS MB|other
big_store_restart_s|big-store: restart to serving s|other
big_backlog_start_s|big-store, all QUEUED: start to serving s|other
big_backlog_taken_up_s|big-store, all QUEUED: start to all held s|other
big_backlog_rss_mb|big-store, all QUEUED: coordinator RSS MB|other
detect_unhealthy_s|failure: kill -9 to UNHEALTHY s|other
detect_rerun_s|failure: kill -9 to job running elsewhere s|other
"
REQUIRED="machine ceiling_rps submit_rps submit_p99_ms batch_submit_jobs_per_s e2e_jobs_per_s
e2e_ratio_to_ceiling e2e_p50_ms e2e_p99_ms e2e_1k_p99_ms submit_1k_p99_ms roundtrip_p50_ms
roundtrip_p99_ms many_nodes_jobs_per_s big_store_get_p99_ms big_store_list_p99_ms big_store_rss_mb
big_store_restart_s detect_unhealthy_s detect_rerun_s"

report() {
	local all=$WORK/all.kv json tmp key label kind value ratio
	cat "$WORK"/kv/*.kv >"$all" 2>/dev/null
	for f in "$WORK"/kv/*.status; do
		s=$(basename "$f" .status)
		echo "status_${s//-/_}=\"$(cat "$f")\""
	done >>"$all"
	# Every line is KEY=JSON-VALUE (numbers, true/false, or quoted strings); empty values are null.
	json=$(jq -Rn --arg machine "$(machine)" --arg date "$(date -u +%FT%TZ)" \
		--arg commit "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" \
		--arg scenarios "$SCENARIOS_RUN" --arg load0 "$LOAD_START" --arg load1 "$(cut -d' ' -f1-3 /proc/loadavg)" \
		--arg required "$REQUIRED" '
		[inputs | select(test("^[a-z0-9_]+=")) | capture("^(?<k>[^=]+)=(?<v>.*)$")
		 | {(.k): (if .v == "" then null else (.v | try fromjson catch .v) end)}] | add // {}
		| . as $kv
		| ($required | split("[ \n]+"; null) | map(select(. != "")) | map({(.): null}) | add) + $kv
		| .machine = $machine | .date = $date | .commit = $commit | .scenarios = $scenarios
		| .loadavg_start = $load0 | .loadavg_end = $load1
		| .e2e_ratio_to_ceiling = (if .e2e_jobs_per_s != null and .ceiling_rps != null
			then ((.e2e_jobs_per_s / .ceiling_rps * 1000 | round) / 1000) else null end)
		| .many_nodes_ratio_to_4 = (if .many_nodes_jobs_per_s != null and .many_nodes_4_jobs_per_s != null
			then ((.many_nodes_jobs_per_s / .many_nodes_4_jobs_per_s * 1000 | round) / 1000) else null end)
		' <"$all") || { echo "# could not build the JSON" >&2; return 1; }
	mkdir -p "$RESULTS_DIR"
	tmp=$WORK/latest.json
	echo "$json" | jq -S . >"$tmp" && mv "$tmp" "$RESULTS_DIR/latest.json"

	local ceiling c1
	ceiling=$(echo "$json" | jq -r '.ceiling_rps // empty')
	c1=$(echo "$json" | jq -r '.ceiling_1client_p50_ms // empty')
	echo
	echo "Planetary Mesh benchmark, $(echo "$json" | jq -r .date), commit $(echo "$json" | jq -r .commit)"
	echo "machine: $(echo "$json" | jq -r .machine); load average before/after: $LOAD_START / $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "ratio: rates as a share of ceiling_rps; latencies as multiples of one bare request (ceiling, one client, p50)"
	printf '%-56s %12s %10s\n' "figure" "value" "ratio"
	printf '%-56s %12s %10s\n' "------" "-----" "-----"
	while IFS='|' read -r key label kind; do
		[ -z "$key" ] && continue
		value=$(echo "$json" | jq -r --arg k "$key" '.[$k] // "null"')
		ratio=""
		if [ "$value" != null ]; then
			case $kind in
			rate) [ -n "$ceiling" ] && ratio=$(awk -v v="$value" -v c="$ceiling" 'BEGIN {printf "%.1f%%", v * 100 / c}') ;;
			ms) [ -n "$c1" ] && ratio=$(awk -v v="$value" -v c="$c1" 'BEGIN {printf "%.1fx", v / c}') ;;
			esac
		else
			value="-"
		fi
		[ "$key" = ceiling_rps ] && ratio="100%"
		printf '%-56s %12s %10s\n' "$label" "$value" "$ratio"
	done <<<"$FIGURES"
	echo
	echo "$json" | jq -r 'to_entries[] | select(.key | startswith("status_")) | "\(.key | ltrimstr("status_") | gsub("_"; "-")): \(.value)"' | paste -sd' ' | sed 's/^/scenarios: /'
	echo "figures: $RESULTS_DIR/latest.json"
}

main() {
	local s want=() known
	case ${1:-} in
	-h | --help) usage; exit 0 ;;
	--child) WORK=$3; run_child "$2"; exit 0 ;;
	esac
	for s in "$@"; do
		known=0
		for k in $ALL_SCENARIOS; do [ "$s" = "$k" ] && known=1; done
		if [ $known = 0 ]; then
			echo "bench/run.sh: unknown scenario '$s' (known: $ALL_SCENARIOS)" >&2
			exit 2
		fi
	done
	for s in $ALL_SCENARIOS; do
		if [ $# -eq 0 ] || [ "$s" = ceiling ] || [[ " $* " == *" $s "* ]]; then
			want+=("$s")
		fi
	done
	for tool in "$MESH_BIN/mesh-coordinator" "$MESH_BIN/mesh-agent" "$LOADGEN" "$BENCH_BIN/ceiling"; do
		if [ ! -x "$tool" ]; then
			echo "bench/run.sh: $tool is missing: run 'make bench'" >&2
			exit 2
		fi
	done
	for tool in curl jq sqlite3; do
		command -v "$tool" >/dev/null || { echo "bench/run.sh: needs $tool (apt-get install $tool)" >&2; exit 2; }
	done
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-bench.XXXXXX")
	mkdir -p "$WORK/kv"
	trap parent_cleanup EXIT
	trap 'exit 130' INT TERM
	SCENARIOS_RUN="${want[*]}"
	LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "# Planetary Mesh benchmark: ${want[*]} (work files in $WORK)"
	for s in "${want[@]}"; do run_scenario "$s"; done
	report
}

main "$@"
