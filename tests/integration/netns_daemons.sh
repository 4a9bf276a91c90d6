# Daemons on the virtual LAN of deploy/netns.sh, for the multi-host tests
# (test_multihost.sh, test_link_cut.sh): start each in its host's namespace,
# wait until it serves, stop and reap them, show their logs, and tear the
# whole LAN down. Only our own children are ever signalled.
#
# The sourcing script defines before use: tmp (its log directory), ok/not_ok/
# fail (its reporting; fail exits), test_start (now_ms at its start) and
# SANITIZER_RE.

daemons=()            # labels, in start order
declare -A pid_of=()  # label -> pid (our child: the daemon itself, ip netns exec execs it)
declare -A exit_of=() # label -> exit status once reaped

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# wait_until SECONDS CMD...: runs CMD every 50 ms until it succeeds or the time is up.
wait_until() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# Is pid our own child and not yet dead? (Guards every kill against pid reuse.)
is_our_running_child() {
	local stat rest state ppid
	[ -r "/proc/$1/stat" ] || return 1
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	rest=${stat##*) }
	state=${rest%% *}
	rest=${rest#* }
	ppid=${rest%% *}
	[ "$ppid" = "$$" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# start_daemon LABEL HOST CMD...: CMD in HOST's namespace, its output in $tmp/LABEL.log.
start_daemon() {
	local label=$1 ns
	ns=$(netns_ns "$2") || fail "no host $2"
	shift 2
	ip netns exec "$ns" "$@" >"$tmp/$label.log" 2>&1 </dev/null &
	pid_of[$label]=$!
	daemons+=("$label")
}

listening_port() {
	grep -Eo 'listening on [^ ]*:[0-9]+' "$tmp/$1.log" 2>/dev/null | head -n 1 | grep -Eo '[0-9]+$'
}

# wait_listening LABEL EXPECTED_PORT
wait_listening() {
	local label=$1 port
	listening_or_dead() { listening_port "$label" >/dev/null || ! is_our_running_child "${pid_of[$label]}"; }
	wait_until 20 listening_or_dead
	port=$(listening_port "$label")
	if [ -z "$port" ]; then
		is_our_running_child "${pid_of[$label]}" || fail "$label exited before it served"
		fail "$label did not log 'listening on' within 20 s"
	fi
	[ "$port" = "$2" ] || fail "$label listens on port $port, expected $2"
}

# stop_daemons [LABEL...]: SIGTERM to those daemons (all by default) still running,
# waits up to 6 s (they need about 2 s; run.sh's timeout -k 10 leaves 10 s for the whole
# teardown), SIGKILLs what is left, and reaps them (exit_of). Safe to call more than once.
stop_daemons() {
	local label pid deadline labels=("$@")
	[ ${#labels[@]} -eq 0 ] && labels=("${daemons[@]}")
	for label in "${labels[@]}"; do
		pid=${pid_of[$label]}
		[ -n "${exit_of[$label]+x}" ] && continue
		is_our_running_child "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((SECONDS + 6))
	for label in "${labels[@]}"; do
		pid=${pid_of[$label]}
		[ -n "${exit_of[$label]+x}" ] && continue
		while is_our_running_child "$pid" && [ $SECONDS -lt $deadline ]; do
			sleep 0.05
		done
		if is_our_running_child "$pid"; then
			not_ok "$label (pid $pid) still running 6 s after SIGTERM; sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid"
		exit_of[$label]=$?
	done
}

# The last 150 lines of each daemon's log, and any runs-* file a handler wrote.
dump_logs() {
	local label log
	for label in "${daemons[@]}"; do
		log="$tmp/$label.log"
		[ -f "$log" ] || continue
		echo "# ---- $label (pid ${pid_of[$label]}, exit ${exit_of[$label]:-?}): $log, last 150 lines"
		tail -n 150 "$log" | sed 's/^/#   /'
	done
	for log in "$tmp"/runs-*; do
		[ -f "$log" ] || continue
		echo "# ---- $(basename "$log")"
		sed 's/^/#   /' "$log"
	done
}

# teardown RC: stops every daemon and everything else still running in our
# namespaces (a handler, a curl), removes the LAN, and on failure (RC != 0)
# shows the logs and keeps them; otherwise removes them (unless MESH_KEEP_LOGS=1).
teardown() {
	stop_daemons
	netns_lan_destroy
	if [ "$1" -ne 0 ]; then
		dump_logs
		if grep -Eq "$SANITIZER_RE" "$tmp"/*.log 2>/dev/null; then
			echo "# sanitizer reports in: $(grep -El "$SANITIZER_RE" "$tmp"/*.log | xargs -n1 basename | tr '\n' ' ')"
		fi
		echo "# logs kept in $tmp"
		echo "# FAILED after $(($(now_ms) - test_start)) ms"
	elif [ "${MESH_KEEP_LOGS:-0}" = 1 ]; then
		echo "# logs kept in $tmp (MESH_KEEP_LOGS=1)"
	else
		rm -rf "$tmp"
	fi
}
