#!/usr/bin/env bash
# Functions called through wait_until, traps and $(...) look unreachable to shellcheck;
# the jq filters in single quotes use jq's own $variables; describe_pids takes a pid list
# split into words on purpose.
# shellcheck disable=SC2317,SC2016,SC2086
# The lost-node promise, with real processes on a virtual LAN (deploy/netns.sh):
#
#   coord    10.213.X.1    mesh-coordinator --listen 0.0.0.0:8080 --probe-interval-ms 200
#                          --unhealthy-after 3 --lost-after-ms 6000 (part 1), then
#                          restarted on the same data directory with --lost-after-ms 1000 (part 2)
#   ctl      10.213.X.2    curl
#   agent-N  10.213.X.1N   mesh-agent --advertise 10.213.X.1N:8081 --capacity 1
#                          (agent-1 registers first, so it is the scheduler's first choice)
#
# Every agent runs two handler types, both $tmp/handler.sh, which appends "start PAYLOAD
# pid=P" to $tmp/runs-agent-N when it starts and "end PAYLOAD" when it ends:
#   slow  sleeps 4 s, prints "done" (no newline: the output is the job's result as is)
#   nap   payload "TAG S1 S2": sleeps S1 s on agent-1, S2 s elsewhere, prints
#         "TAG napped S s on agent-N"
#
# Part 1, a cut shorter than the grace: a slow job runs on agent-1; agent-1's cable is
# pulled until the node is UNHEALTHY and the job has run 3 s, then plugged back. The job
# must COMPLETE on agent-1 with "done", with one attempt, having run once in all.
# Part 2, a cut longer than the grace: a nap job (30 s on agent-1, 3 s on agent-2,
# max_attempts 2) runs on agent-1; the cable stays out until the job has been given up
# there (LOST) and COMPLETED on agent-2. Once the cable is back, the coordinator must tell
# agent-1 to cancel its copy (attempt 1 becomes SUPERSEDED, recording the cancel), the
# copy's process group must be gone from agent-1's namespace, and the job's result must
# stay agent-2's.
# Then the daemons must stop on SIGTERM with status 0, with no sanitizer report in a log.
#
# Needs root (namespaces); prints "SKIP: <reason>" and exits 0 otherwise.
# Uses the binaries in $MESH_BIN_DIR (tests/run.sh sets it), else build/test/bin.
# The daemon logs go to a mktemp directory, printed and kept if the test fails (or always
# kept with MESH_KEEP_LOGS=1). Ends with "# test_link_cut.sh: N passed, M failed".
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin_dir=${MESH_BIN_DIR:-$root/build/test/bin}
# shellcheck source=deploy/netns.sh
. "$root/deploy/netns.sh"
# shellcheck source=tests/integration/netns_daemons.sh
. "$root/tests/integration/netns_daemons.sh"

: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0:halt_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS

COORD_PORT=8080
AGENT_PORT=8081
SHORT_GRACE_MS=6000  # part 1: --lost-after-ms, longer than the cut
LONG_CUT_GRACE_MS=1000 # part 2: --lost-after-ms, shorter than the cut
AGENTS=(agent-1 agent-2)
SANITIZER_RE='ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer|runtime error:'
script=$(basename "$0")

test_start=$(now_ms)

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
# Fatal: what follows depends on it. The teardown (EXIT trap) stops everything, prints the
# logs and the tally.
fail() {
	not_ok "$*"
	exit 1
}
note() { echo "# $*"; }
# check DESCRIPTION JSON JQ_FILTER [JQ_ARGS...]: passes if the filter is true of JSON.
check_jq() {
	local desc=$1 json=$2 filter=$3
	shift 3
	if jq -e "$@" "$filter" <<<"$json" >/dev/null 2>&1; then
		ok "$desc"
	else
		not_ok "$desc: $json"
	fi
}

if ! reason=$(netns_available); then
	echo "SKIP: $reason"
	exit 0
fi
for tool in curl jq date; do
	command -v "$tool" >/dev/null || fail "'$tool' is needed (deploy/install-deps.sh installs it)"
done
for b in mesh-coordinator mesh-agent; do
	[ -x "$bin_dir/$b" ] || fail "$bin_dir/$b is missing (make build/test/bin/$b)"
done
note "binaries: $bin_dir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-linkcut.XXXXXX") || fail "mktemp -d failed"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	[ "$failed" -gt 0 ] && [ "$rc" -eq 0 ] && rc=1
	teardown "$rc"
	echo "# $script: $passed passed, $failed failed"
	exit "$rc"
}
trap cleanup EXIT
trap 'not_ok "interrupted (SIGTERM)"; exit 143' TERM
trap 'not_ok "interrupted (SIGINT)"; exit 130' INT
trap 'not_ok "interrupted (SIGHUP)"; exit 129' HUP

# ---- the handler -----------------------------------------------------------------------
# On the shared filesystem, outside the namespaces' view of anything but the file system.
cat >"$tmp/handler.sh" <<EOF
#!/bin/sh
# handler.sh MODE AGENT, the payload on stdin. Records every run in $tmp/runs-AGENT.
mode=\$1 agent=\$2
p=\$(cat)
runs="$tmp/runs-\$agent"
echo "start \$p pid=\$\$" >>"\$runs"
case \$mode in
slow)
	sleep 4
	echo "end \$p" >>"\$runs"
	printf done
	;;
nap)
	set -- \$p
	if [ "\$agent" = agent-1 ]; then s=\$2; else s=\$3; fi
	sleep "\$s"
	echo "end \$p" >>"\$runs"
	printf '%s napped %s s on %s' "\$1" "\$s" "\$agent"
	;;
*)
	echo "unknown mode \$mode" >&2
	exit 2
	;;
esac
EOF
: >"$tmp/runs-agent-1"
: >"$tmp/runs-agent-2"
# runs AGENT WORD TAG: how many "WORD TAG ..." lines the agent's run file has.
runs() { grep -c "^$2 $3\( \|\$\)" "$tmp/runs-$1"; }

# ---- the LAN -----------------------------------------------------------------------------
netns_lan_create pmesh || fail "could not create the LAN's bridge namespace"
netns_host_add coord 1 || fail "could not add host coord"
netns_host_add ctl 2 || fail "could not add host ctl"
for i in 1 2; do
	netns_host_add "agent-$i" "1$i" || fail "could not add host agent-$i"
done
coord_ip=$(netns_ip coord)
coord_url="http://$coord_ip:$COORD_PORT"
ctl_ns=$(netns_ns ctl)
declare -A agent_ip=()
for a in "${AGENTS[@]}"; do agent_ip[$a]=$(netns_ip "$a"); done
ok "virtual LAN $NETNS_SUBNET.0/24 ($NETNS_RUN_ID): coord $coord_ip, ctl $(netns_ip ctl), agents ${agent_ip[agent-1]} ${agent_ip[agent-2]}"

ctl() { ip netns exec "$ctl_ns" "$@"; }
api_get() { ctl curl -sS --max-time 5 --fail-with-body "$coord_url$1"; }

# submit JSON: prints the new job's id.
submit() {
	local out code
	out=$(ctl curl -sS --max-time 5 -H 'Content-Type: application/json' -d "$1" \
		-w '\n%{http_code}' "$coord_url/jobs" 2>&1)
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "$code" != 201 ]; then
		echo "POST /jobs $1: HTTP $code: $out" >&2
		return 1
	fi
	jq -er 'select(.status == "QUEUED" or .status == "RUNNING") | .id' <<<"$out" ||
		{ echo "POST /jobs $1: unexpected answer: $out" >&2; return 1; }
}

# job ID: fetches GET /jobs/ID into $tmp/job.json and prints it.
job() { api_get "/jobs/$1" >"$tmp/job.json" 2>/dev/null && cat "$tmp/job.json"; }
# job_matches ID JQ_FILTER [JQ_ARGS...]
job_matches() {
	local id=$1 filter=$2
	shift 2
	job "$id" >/dev/null && jq -e "$@" "$filter" "$tmp/job.json" >/dev/null 2>&1
}
nodes_json() { api_get /nodes >"$tmp/nodes.json" 2>/dev/null && cat "$tmp/nodes.json"; }
# node_count_is N [STATE]
node_count_is() {
	nodes_json >/dev/null &&
		jq -e --argjson n "$1" --arg s "${2:-}" \
			'[.nodes[] | select($s == "" or .state == $s)] | length == $n' "$tmp/nodes.json" >/dev/null
}
# node_state NODE_ID STATE
node_state() {
	nodes_json >/dev/null &&
		jq -e --arg id "$1" --arg s "$2" '.nodes[] | select(.id == $id) | .state == $s' \
			"$tmp/nodes.json" >/dev/null
}
# ms_since RFC3339: milliseconds from that time to now.
ms_since() {
	local at
	at=$(date -d "$1" +%s%3N 2>/dev/null) || return 1
	echo $(($(now_ms) - at))
}
# attempt_ran_ms ID MS: attempt 1 of job ID started MS or more ago (by its started_at).
attempt_ran_ms() {
	local started ran
	job "$1" >/dev/null || return 1
	started=$(jq -er '.attempts[0].started_at' "$tmp/job.json") || return 1
	ran=$(ms_since "$started") || return 1
	[ "$ran" -ge "$2" ]
}
# started_on AGENT TAG: the handler for the job tagged TAG has started on AGENT.
started_on() { [ "$(runs "$1" start "$2")" -ge 1 ]; }
# Pids in host NAME's namespace, other than pid EXCEPT.
others_in_ns() {
	local pid out=()
	for pid in $(ip netns pids "$(netns_ns "$1")" 2>/dev/null); do
		[ "$pid" = "$2" ] && continue
		out+=("$pid")
	done
	echo "${out[*]}"
}
describe_pids() {
	local pid
	for pid in "$@"; do
		echo "$pid:$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
	done
}
# only_agent_in_ns NAME: nothing but the agent itself runs in host NAME's namespace.
only_agent_in_ns() { [ -z "$(others_in_ns "$1" "${pid_of[$1]}")" ]; }

# start_coordinator LABEL GRACE_MS
start_coordinator() {
	start_daemon "$1" coord "$bin_dir/mesh-coordinator" --listen "0.0.0.0:$COORD_PORT" \
		--probe-interval-ms 200 --unhealthy-after 3 --lost-after-ms "$2" --log-level info \
		--data-dir "$tmp/coord-data"
	wait_listening "$1" "$COORD_PORT"
}

t0=$(now_ms)
start_coordinator coordinator "$SHORT_GRACE_MS"
ok "coordinator serves on $coord_ip:$COORD_PORT with --lost-after-ms $SHORT_GRACE_MS (pid ${pid_of[coordinator]})"

# One at a time, so that agent-1 registers first and is the scheduler's first choice.
declare -A node_id_of=() # agent name -> node id
n=0
for a in "${AGENTS[@]}"; do
	n=$((n + 1))
	start_daemon "$a" "$a" "$bin_dir/mesh-agent" --listen "0.0.0.0:$AGENT_PORT" \
		--advertise "${agent_ip[$a]}:$AGENT_PORT" --coordinator "$coord_url" \
		--name "$a" --capacity 1 --log-level info \
		--handler "slow=sh '$tmp/handler.sh' slow $a" \
		--handler "nap=sh '$tmp/handler.sh' nap $a"
	wait_listening "$a" "$AGENT_PORT"
	wait_until 20 node_count_is "$n" ||
		fail "GET /nodes did not show $n node(s) within 20 s of starting $a: $(cat "$tmp/nodes.json" 2>/dev/null)"
	node_id_of[$a]=$(jq -er --arg n "$a" '.nodes[] | select(.name == $n) | .id' "$tmp/nodes.json") ||
		fail "no node named $a in GET /nodes: $(cat "$tmp/nodes.json")"
done
wait_until 20 node_count_is 2 HEALTHY ||
	fail "GET /nodes did not show 2 HEALTHY nodes within 20 s: $(cat "$tmp/nodes.json" 2>/dev/null)"
jq -e --arg a1 "${node_id_of[agent-1]}" --arg a2 "${node_id_of[agent-2]}" \
	'[.nodes[].id] == [$a1, $a2]' "$tmp/nodes.json" >/dev/null ||
	fail "GET /nodes should list agent-1 then agent-2: $(cat "$tmp/nodes.json")"
ok "agent-1 (${node_id_of[agent-1]}) then agent-2 (${node_id_of[agent-2]}) registered, HEALTHY, $(($(now_ms) - t0)) ms after the coordinator started"
a1=${node_id_of[agent-1]}
a2=${node_id_of[agent-2]}

# ---- part 1: a cut shorter than the grace ---------------------------------------------------
note "part 1: agent-1's link is cut for less than --lost-after-ms $SHORT_GRACE_MS"
id1=$(submit '{"type":"slow","payload":"short-cut"}') || fail "submitting the slow job failed"
t0=$(now_ms)
running_on_a1() {
	started_on agent-1 short-cut &&
		job_matches "$id1" '.status == "RUNNING" and .node_id == $n' --arg n "$a1"
}
wait_until 15 running_on_a1 ||
	fail "the slow job $id1 did not start on agent-1 within 15 s: $(cat "$tmp/job.json" 2>/dev/null)"
ok "slow job $id1 RUNNING on agent-1, its handler started ($(($(now_ms) - t0)) ms after the submission)"

t0=$(now_ms)
netns_link_down agent-1 || fail "could not set agent-1's link down"
wait_until 10 node_state "$a1" UNHEALTHY ||
	fail "agent-1 is not UNHEALTHY 10 s after its link went down: $(cat "$tmp/nodes.json")"
ok "agent-1's link down: UNHEALTHY after $(($(now_ms) - t0)) ms"
# Down until the job has run 3 s of its 4 (and at least 1 s since it turned UNHEALTHY).
t_unhealthy=$(now_ms)
one_s_unhealthy() { [ $(($(now_ms) - t_unhealthy)) -ge 1000 ]; }
wait_until 15 attempt_ran_ms "$id1" 3000 || fail "job $id1 has not run 3 s within 15 s: $(cat "$tmp/job.json")"
wait_until 2 one_s_unhealthy
j=$(job "$id1") || fail "GET /jobs/$id1 failed"
check_jq "while agent-1 is cut off (for $(($(now_ms) - t0)) ms), job $id1 still RUNNING there, one attempt" "$j" \
	'.status == "RUNNING" and .node_id == $n and (.attempts | length) == 1 and .attempts[0].status == "RUNNING"' \
	--arg n "$a1"
netns_link_up agent-1 || fail "could not set agent-1's link up"
cut_ms=$(($(now_ms) - t0))
ok "agent-1's link up again after $cut_ms ms"
wait_until 10 node_state "$a1" HEALTHY || not_ok "agent-1 is not HEALTHY 10 s after its link came back: $(cat "$tmp/nodes.json")"

done_1() { job_matches "$id1" '.status != "QUEUED" and .status != "RUNNING"'; }
wait_until 15 done_1 || fail "job $id1 did not finish within 15 s of the link coming back: $(cat "$tmp/job.json")"
j=$(job "$id1")
check_jq "job $id1 COMPLETED on agent-1 with result \"done\"" "$j" \
	'.status == "COMPLETED" and .node_id == $n and .result == "done" and .error == null' --arg n "$a1"
check_jq "job $id1 has exactly one attempt, COMPLETED on agent-1" "$j" \
	'(.attempts | length) == 1 and .attempts[0].number == 1 and .attempts[0].node_id == $n
	 and .attempts[0].status == "COMPLETED" and .attempts[0].finished_at != null' --arg n "$a1"
wait_until 5 node_count_is 2 HEALTHY # the slot is freed as the answer is recorded
check_jq "after the short cut both nodes are HEALTHY and idle" "$(cat "$tmp/nodes.json")" \
	'all(.nodes[]; .state == "HEALTHY" and .running == 0)'
starts="agent-1: $(runs agent-1 start short-cut) start(s), $(runs agent-1 end short-cut) end(s); agent-2: $(runs agent-2 start short-cut) start(s)"
if [ "$(runs agent-1 start short-cut)" = 1 ] && [ "$(runs agent-1 end short-cut)" = 1 ] &&
	[ "$(runs agent-2 start short-cut)" = 0 ]; then
	ok "the run files say job $id1 ran once, on agent-1, to its end ($starts)"
else
	not_ok "job $id1 should have run once, on agent-1 ($starts)"
fi
if grep -q "node $a1 is UNHEALTHY with 1 job(s) on it; they wait $SHORT_GRACE_MS ms" "$tmp/coordinator.log"; then
	ok "the coordinator logged that agent-1's job waits $SHORT_GRACE_MS ms for it"
else
	not_ok "the coordinator log does not say agent-1's job waits $SHORT_GRACE_MS ms for it"
fi
if grep -q "lost contact with node" "$tmp/coordinator.log"; then
	not_ok "the coordinator gave up a job as lost during the short cut: $(grep "lost contact" "$tmp/coordinator.log")"
else
	ok "the coordinator gave up no job as lost during the short cut"
fi

# ---- restart the coordinator with a short grace ---------------------------------------------
t0=$(now_ms)
stop_daemons coordinator
if [ "${exit_of[coordinator]}" = 0 ]; then
	ok "the coordinator stopped on SIGTERM with status 0"
else
	not_ok "the coordinator exited with status ${exit_of[coordinator]} after SIGTERM (expected 0)"
fi
start_coordinator coordinator-2 "$LONG_CUT_GRACE_MS"
wait_until 20 node_count_is 2 HEALTHY ||
	fail "after the restart GET /nodes did not show 2 HEALTHY nodes within 20 s: $(cat "$tmp/nodes.json" 2>/dev/null)"
jq -e --arg a1 "$a1" --arg a2 "$a2" '[.nodes[].id] == [$a1, $a2]' "$tmp/nodes.json" >/dev/null ||
	fail "after the restart GET /nodes should list agent-1 then agent-2 with their ids: $(cat "$tmp/nodes.json")"
ok "coordinator restarted on its data with --lost-after-ms $LONG_CUT_GRACE_MS: agent-1 and agent-2 HEALTHY again after $(($(now_ms) - t0)) ms"

# ---- part 2: a cut longer than the grace ----------------------------------------------------
note "part 2: agent-1's link is cut for longer than --lost-after-ms $LONG_CUT_GRACE_MS"
# 30 s on agent-1: its copy still runs when the link comes back; 3 s on agent-2.
id2=$(submit '{"type":"nap","payload":"long-cut 30 3","max_attempts":2,"backoff_base_ms":100}') ||
	fail "submitting the nap job failed"
t0=$(now_ms)
running2_on_a1() {
	started_on agent-1 long-cut &&
		job_matches "$id2" '.status == "RUNNING" and .node_id == $n' --arg n "$a1"
}
wait_until 15 running2_on_a1 ||
	fail "the nap job $id2 did not start on agent-1 within 15 s: $(cat "$tmp/job.json" 2>/dev/null)"
ok "nap job $id2 RUNNING on agent-1, its handler started ($(($(now_ms) - t0)) ms after the submission)"
copy_pid=$(sed -n 's/^start long-cut .* pid=\([0-9]*\)$/\1/p' "$tmp/runs-agent-1" | head -n 1)

t0=$(now_ms)
netns_link_down agent-1 || fail "could not set agent-1's link down"
wait_until 10 node_state "$a1" UNHEALTHY ||
	fail "agent-1 is not UNHEALTHY 10 s after its link went down: $(cat "$tmp/nodes.json")"
ok "agent-1's link down: UNHEALTHY after $(($(now_ms) - t0)) ms"
done_2() { job_matches "$id2" '.status != "QUEUED" and .status != "RUNNING"'; }
wait_until 25 done_2 ||
	fail "job $id2 did not finish within 25 s of agent-1's link going down: $(cat "$tmp/job.json")"
ok "job $id2 finished $(($(now_ms) - t0)) ms after agent-1's link went down, the link still down"
j=$(job "$id2")
check_jq "job $id2 COMPLETED on agent-2 with agent-2's result" "$j" \
	'.status == "COMPLETED" and .node_id == $n and .result == "long-cut napped 3 s on agent-2"
	 and .error == null' --arg n "$a2"
check_jq "while agent-1 is still cut off: attempt 1 LOST on agent-1 (past the ${LONG_CUT_GRACE_MS} ms grace), attempt 2 COMPLETED on agent-2" "$j" \
	'(.attempts | length) == 2
	 and .attempts[0].number == 1 and .attempts[0].node_id == $n1 and .attempts[0].status == "LOST"
	 and (.attempts[0].error | contains("lost contact with node \($n1)"))
	 and (.attempts[0].error | contains("grace of \($g) ms"))
	 and .attempts[1].number == 2 and .attempts[1].node_id == $n2 and .attempts[1].status == "COMPLETED"' \
	--arg n1 "$a1" --arg n2 "$a2" --arg g "$LONG_CUT_GRACE_MS"
# The copy on agent-1 must still be running, or the cancel below proves nothing.
others=$(others_in_ns agent-1 "${pid_of[agent-1]}")
if [ "$(runs agent-1 end long-cut)" = 0 ] && [ -n "$others" ]; then
	ok "agent-1's copy of job $id2 still runs, cut off (pid $copy_pid; in agent-1's namespace: $(describe_pids $others | tr '\n' ' '))"
else
	fail "agent-1's copy of job $id2 should still run while agent-1 is cut off (ended: $(runs agent-1 end long-cut); other processes in its namespace: '$others')"
fi

t0=$(now_ms)
netns_link_up agent-1 || fail "could not set agent-1's link up"
wait_until 10 node_state "$a1" HEALTHY || not_ok "agent-1 is not HEALTHY 10 s after its link came back: $(cat "$tmp/nodes.json")"
ok "agent-1's link up again: HEALTHY after $(($(now_ms) - t0)) ms"
superseded() { job_matches "$id2" '.attempts[0].status == "SUPERSEDED"'; }
if wait_until 15 superseded; then
	ok "attempt 1 of job $id2 SUPERSEDED $(($(now_ms) - t0)) ms after agent-1's link came back"
else
	not_ok "attempt 1 of job $id2 is not SUPERSEDED 15 s after agent-1's link came back: $(cat "$tmp/job.json")"
fi
j=$(job "$id2")
check_jq "attempt 1 records what agent-1 said: its copy was cancelled (no late output)" "$j" \
	'.attempts[0].node_id == $n1 and .attempts[0].finished_at != null and .attempts[0].result == null
	 and (.attempts[0].error | contains("cancelled after"))
	 and (.attempts[0].error | contains("POST /executions/\($id)/cancel"))' \
	--arg n1 "$a1" --arg id "$id2"
check_jq "job $id2 still COMPLETED with agent-2's result, attempt 2 COMPLETED on agent-2, two attempts" "$j" \
	'.status == "COMPLETED" and .node_id == $n2 and .result == "long-cut napped 3 s on agent-2"
	 and (.attempts | length) == 2
	 and .attempts[1].number == 2 and .attempts[1].node_id == $n2 and .attempts[1].status == "COMPLETED"' \
	--arg n2 "$a2"
if grep -q "node $a1 is back: telling it to cancel job $id2 (attempt 1" "$tmp/coordinator-2.log"; then
	ok "the coordinator logged that it told agent-1 to cancel attempt 1 of job $id2"
else
	not_ok "the coordinator log does not say it told agent-1 to cancel job $id2"
fi
if grep -q "job $id2: cancel asked; stopping it" "$tmp/agent-1.log" &&
	grep -q "job $id2: cancel answered after" "$tmp/agent-1.log"; then
	ok "agent-1 logged that it stopped its copy of job $id2 on the coordinator's cancel"
else
	not_ok "agent-1's log does not say it stopped job $id2 on a cancel: $(grep -F "$id2" "$tmp/agent-1.log")"
fi
if wait_until 5 only_agent_in_ns agent-1; then
	ok "no handler process is left in agent-1's namespace (only the agent, pid ${pid_of[agent-1]})"
else
	others=$(others_in_ns agent-1 "${pid_of[agent-1]}")
	not_ok "processes left in agent-1's namespace: $(describe_pids $others | tr '\n' ' ')"
fi
if [ -n "$copy_pid" ] && [ -e "/proc/$copy_pid" ]; then
	not_ok "the handler of agent-1's copy (pid $copy_pid) still exists"
else
	ok "the handler of agent-1's copy (pid ${copy_pid:-?}) is gone"
fi
starts="agent-1: $(runs agent-1 start long-cut) start(s), $(runs agent-1 end long-cut) end(s); agent-2: $(runs agent-2 start long-cut) start(s), $(runs agent-2 end long-cut) end(s)"
if [ "$(runs agent-1 start long-cut)" = 1 ] && [ "$(runs agent-1 end long-cut)" = 0 ] &&
	[ "$(runs agent-2 start long-cut)" = 1 ] && [ "$(runs agent-2 end long-cut)" = 1 ]; then
	ok "the run files say job $id2 started once on each agent and ran to its end only on agent-2 ($starts)"
else
	not_ok "job $id2 should have started once on each agent and ended only on agent-2 ($starts)"
fi
wait_until 5 node_count_is 2 HEALTHY
check_jq "both nodes HEALTHY and idle at the end" "$(cat "$tmp/nodes.json")" \
	'all(.nodes[]; .state == "HEALTHY" and .running == 0)'
j=$(job "$id1")
check_jq "job $id1 of part 1 is unchanged after the restart (COMPLETED on agent-1, one attempt)" "$j" \
	'.status == "COMPLETED" and .node_id == $n and .result == "done" and (.attempts | length) == 1' --arg n "$a1"

# ---- clean stop, sanitizers -------------------------------------------------------------------
t0=$(now_ms)
stop_daemons
bad=()
for label in "${daemons[@]}"; do
	[ "${exit_of[$label]}" = 0 ] || bad+=("$label exited with status ${exit_of[$label]}")
done
if [ ${#bad[@]} -eq 0 ]; then
	ok "coordinator and agents stopped on SIGTERM with status 0 in $(($(now_ms) - t0)) ms"
else
	not_ok "a daemon did not stop cleanly on SIGTERM: ${bad[*]}"
fi
if grep -El "$SANITIZER_RE" "$tmp"/*.log >/dev/null 2>&1; then
	grep -EH -A 5 "$SANITIZER_RE" "$tmp"/*.log | sed 's/^/# /'
	not_ok "sanitizer reports in: $(grep -El "$SANITIZER_RE" "$tmp"/*.log | xargs -n1 basename | tr '\n' ' ')"
else
	ok "no AddressSanitizer/LeakSanitizer/UBSan report in the daemon logs"
fi
if grep -E '^[^ ]+ ERROR ' "$tmp"/*.log >/dev/null 2>&1; then
	note "ERROR lines in the daemon logs (not counted as failures):"
	grep -EH '^[^ ]+ ERROR ' "$tmp"/*.log | sed 's/^/#   /'
fi
note "done in $(($(now_ms) - test_start)) ms"
[ "$failed" -eq 0 ]
