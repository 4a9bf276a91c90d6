# Shared helpers for the integration tests: start the real binaries on free
# loopback ports, wait for conditions with deadlines, assert, and tear down
# everything that was started (only our own PIDs) when the script exits.
#
# Source it, then call the helpers; end the script with `finish`.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${MESH_BIN_DIR:-$ROOT/build/test/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-test.XXXXXX")
PIDS=()
CHECKS_PASSED=0
CHECKS_FAILED=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

log_files() { ls "$WORK"/*.log 2>/dev/null; }

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	if [ "$CHECKS_FAILED" -gt 0 ] || [ "${KEEP_WORK:-0}" = 1 ]; then
		echo "# daemon logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

ok() { CHECKS_PASSED=$((CHECKS_PASSED + 1)); echo "ok - $*"; }
not_ok() { CHECKS_FAILED=$((CHECKS_FAILED + 1)); echo "not ok - $*"; }

# check DESCRIPTION COMMAND...: runs the command; passes if it exits 0.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# check_contains DESCRIPTION NEEDLE HAYSTACK
check_contains() {
	if [[ $3 == *"$2"* ]]; then ok "$1"; else not_ok "$1 (no '$2' in '$3')"; fi
}

# wait_until SECONDS COMMAND...: polls every 50 ms until the command succeeds; 1 on deadline.
wait_until() {
	local deadline=$((SECONDS + $1)); shift
	while ! "$@" 2>/dev/null; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
	return 0
}

# The port a daemon logged in "listening on HOST:PORT", or nothing yet.
logged_port() { grep -o 'listening on [^ ]*' "$1" 2>/dev/null | head -n 1 | sed 's/.*://'; }
has_logged_port() { [ -n "$(logged_port "$1")" ]; }

# start_coordinator [FLAGS...]: sets COORD_PID, COORD_URL, COORD_LOG. Unless
# FLAGS name their own --data-dir or --store, each coordinator gets a fresh
# data directory $WORK/data-N (its sqlite store starts empty); COORD_DATA_DIR
# is the directory it was given (empty if the caller chose).
COORD_COUNT=0
start_coordinator() {
	local arg store_flags=()
	COORD_COUNT=$((COORD_COUNT + 1))
	COORD_DATA_DIR=$WORK/data-$COORD_COUNT
	for arg in "$@"; do
		case $arg in --data-dir* | --store*) COORD_DATA_DIR= ;; esac
	done
	[ -n "$COORD_DATA_DIR" ] && store_flags=(--data-dir "$COORD_DATA_DIR")
	COORD_LOG=$WORK/coordinator.$SECONDS.$RANDOM.log
	"$BIN/mesh-coordinator" --listen 127.0.0.1:${COORD_PORT:-0} --probe-interval-ms 200 \
		--unhealthy-after 3 "${store_flags[@]}" "$@" >"$COORD_LOG" 2>&1 &
	COORD_PID=$!
	PIDS+=("$COORD_PID")
	if ! wait_until 15 has_logged_port "$COORD_LOG"; then
		echo "# coordinator did not start:"; cat "$COORD_LOG"
		exit 1
	fi
	COORD_PORT=$(logged_port "$COORD_LOG")
	COORD_URL=http://127.0.0.1:$COORD_PORT
}

# start_agent NAME [FLAGS...]: starts an agent registered as NAME with the
# coordinator; sets AGENT_PID, AGENT_URL, AGENT_LOG (also AGENT_PIDS[NAME], AGENT_LOGS[NAME]).
declare -A AGENT_PIDS AGENT_LOGS AGENT_URLS
start_agent() {
	local name=$1; shift
	AGENT_LOG=$WORK/agent-$name.$SECONDS.$RANDOM.log
	"$BIN/mesh-agent" --listen 127.0.0.1:0 --coordinator "$COORD_URL" --name "$name" "$@" \
		>"$AGENT_LOG" 2>&1 &
	AGENT_PID=$!
	PIDS+=("$AGENT_PID")
	if ! wait_until 15 has_logged_port "$AGENT_LOG"; then
		echo "# agent $name did not start:"; cat "$AGENT_LOG"
		exit 1
	fi
	AGENT_URL=http://127.0.0.1:$(logged_port "$AGENT_LOG")
	AGENT_PIDS[$name]=$AGENT_PID
	AGENT_LOGS[$name]=$AGENT_LOG
	AGENT_URLS[$name]=$AGENT_URL
}

# stop_daemon PID: SIGTERM, wait for it, and expect exit status 0 (a clean stop).
stop_daemon() {
	local pid=$1 status
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	status=$?
	PIDS=("${PIDS[@]/$pid/}")
	return $status
}

# kill_daemon PID: SIGKILL, as a crash.
kill_daemon() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PIDS=("${PIDS[@]/$1/}")
}

# HTTP helpers over curl; each prints the body. http_status prints only the status.
api_get() { curl -sS --max-time 10 "$COORD_URL$1"; }
api_post() { curl -sS --max-time 10 -X POST -H 'Content-Type: application/json' --data-binary "$2" "$COORD_URL$1"; }
http_status() { curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$@"; }

# submit TYPE PAYLOAD: prints the new job's id.
submit() { api_post /jobs "$(jq -cn --arg t "$1" --arg p "$2" '{type:$t,payload:$p}')" | jq -r .id; }
job_field() { api_get "/jobs/$1" | jq -r ".$2"; }
job_is() { [ "$(job_field "$1" status)" = "$2" ]; }
node_state_is() { [ "$(api_get /nodes | jq -r --arg n "$1" '.nodes[] | select(.name==$n) | .state')" = "$2" ]; }
nodes_registered() { [ "$(api_get /nodes | jq '.nodes | length')" = "$1" ]; }
count_jobs() { api_get "/jobs?limit=10000${1:+&$1}" | jq '.jobs | length'; }

# No daemon log may carry a sanitizer report.
check_logs_clean() {
	local bad
	bad=$(grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer' $(log_files) 2>/dev/null)
	if [ -z "$bad" ]; then
		ok "no sanitizer reports in daemon logs"
	else
		not_ok "sanitizer reports in: $bad"
		grep -h -A 20 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $bad | head -n 60
	fi
}

# finish: checks the logs, prints the tally, and exits non-zero if anything failed.
finish() {
	check_logs_clean
	echo "# $(basename "$0"): $CHECKS_PASSED passed, $CHECKS_FAILED failed"
	if [ "$CHECKS_FAILED" -gt 0 ]; then
		for f in $(log_files); do echo "# ---- $f"; tail -n 30 "$f"; done
		exit 1
	fi
	exit 0
}
