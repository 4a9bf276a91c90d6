#!/usr/bin/env bash
# Functions called through wait_until, traps and $(...) look unreachable to shellcheck.
# shellcheck disable=SC2317,SC2001
# Multi-host integration test: the coordinator, three agents and a client each run in
# their own network namespace with their own address on a virtual LAN
# (deploy/netns.sh), so every request crosses a (virtual) network:
#
#   ctl      10.213.X.2    curl / meshctl
#   coord    10.213.X.1    mesh-coordinator --listen 0.0.0.0:8080 --probe-interval-ms 200
#   agent-N  10.213.X.1N   mesh-agent --listen 0.0.0.0:8081 --advertise 10.213.X.1N:8081
#                          --capacity 2   (N = 1, 2, 3)
#
# It checks that the agents register with their own addresses, that jobs spill over
# every node and complete there (run where the coordinator says they ran), that
# meshctl works across the LAN, that an agent whose cable is pulled becomes UNHEALTHY
# and is skipped and becomes HEALTHY again once plugged back, that the daemons stop
# cleanly on SIGTERM, and that their logs hold no sanitizer report.
#
# Needs root (namespaces); prints "SKIP: <reason>" and exits 0 otherwise.
# Uses the binaries in $MESH_BIN_DIR (tests/run.sh sets it), else build/test/bin.
# The daemon logs go to a mktemp directory, printed and kept if the test fails (or
# always kept with MESH_KEEP_LOGS=1).
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
SLOTS=2           # --capacity of every agent
SLEEP_MS=1500     # long enough that 6 concurrent sleep jobs all run at once
AGENTS=(agent-1 agent-2 agent-3)
SANITIZER_RE='ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer|runtime error:'

test_start=$(now_ms)

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# Fatal: the teardown (EXIT trap) stops everything and prints the logs.
fail() {
	not_ok "$*"
	exit 1
}
note() { echo "# $*"; }

if ! reason=$(netns_available); then
	echo "SKIP: $reason"
	exit 0
fi
for tool in curl jq; do
	command -v "$tool" >/dev/null || fail "'$tool' is needed (deploy/install-deps.sh installs it)"
done
for b in mesh-coordinator mesh-agent meshctl; do
	[ -x "$bin_dir/$b" ] || fail "$bin_dir/$b is missing (make build/test/bin/$b)"
done
note "binaries: $bin_dir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-multihost.XXXXXX") || fail "mktemp -d failed"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	teardown "$rc"
	exit "$rc"
}
trap cleanup EXIT
trap 'not_ok "interrupted (SIGTERM)"; exit 143' TERM
trap 'not_ok "interrupted (SIGINT)"; exit 130' INT
trap 'not_ok "interrupted (SIGHUP)"; exit 129' HUP

# ---- the LAN -----------------------------------------------------------------------
netns_lan_create pmesh || fail "could not create the LAN's bridge namespace"
netns_host_add coord 1 || fail "could not add host coord"
netns_host_add ctl 2 || fail "could not add host ctl"
for i in 1 2 3; do
	netns_host_add "agent-$i" "1$i" || fail "could not add host agent-$i"
done
coord_ip=$(netns_ip coord)
coord_url="http://$coord_ip:$COORD_PORT"
ctl_ns=$(netns_ns ctl)
declare -A agent_ip=()
for a in "${AGENTS[@]}"; do agent_ip[$a]=$(netns_ip "$a"); done
ok "virtual LAN $NETNS_SUBNET.0/24 ($NETNS_RUN_ID): coord $coord_ip, ctl $(netns_ip ctl), agents ${agent_ip[agent-1]} ${agent_ip[agent-2]} ${agent_ip[agent-3]}"

# Runs a command on the client host.
ctl() { ip netns exec "$ctl_ns" "$@"; }
api_get() { ctl curl -sS --max-time 5 --fail-with-body "$coord_url$1"; }
meshctl() { ctl "$bin_dir/meshctl" --coordinator "$coord_url" "$@"; }

# submit TYPE PAYLOAD: prints the new job's id.
submit() {
	local body out code
	body=$(jq -cn --arg t "$1" --arg p "$2" '{type: $t, payload: $p}')
	out=$(ctl curl -sS --max-time 5 -H 'Content-Type: application/json' -d "$body" \
		-w '\n%{http_code}' "$coord_url/jobs" 2>&1)
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [ "$code" != 201 ]; then
		echo "POST /jobs $body: HTTP $code: $out" >&2
		return 1
	fi
	jq -er 'select(.status == "QUEUED" or .status == "RUNNING") | .id' <<<"$out" ||
		{ echo "POST /jobs $body: unexpected answer: $out" >&2; return 1; }
}

# submit_many TYPE PAYLOAD COUNT: submits COUNT jobs at the same time (one curl,
# COUNT parallel connections); prints their ids.
submit_many() {
	local i body args=() codes ids=()
	body=$(jq -cn --arg t "$1" --arg p "$2" '{type: $t, payload: $p}')
	for ((i = 1; i <= $3; i++)); do
		[ "$i" -gt 1 ] && args+=(--next)
		args+=(-sS --max-time 5 -H 'Content-Type: application/json' -d "$body"
			-o "$tmp/submit.$i" -w '%{http_code}\n' "$coord_url/jobs")
	done
	rm -f "$tmp"/submit.*
	codes=$(ctl curl --parallel --parallel-immediate --parallel-max "$3" "${args[@]}" 2>&1)
	if [ "$(grep -c '^201$' <<<"$codes")" -ne "$3" ]; then
		echo "POST /jobs $body x $3: HTTP status codes: $codes" >&2
		return 1
	fi
	for ((i = 1; i <= $3; i++)); do
		ids+=("$(jq -er .id "$tmp/submit.$i")") || return 1
	done
	printf '%s\n' "${ids[@]}"
}

t0=$(now_ms)
start_daemon coordinator coord "$bin_dir/mesh-coordinator" --listen "0.0.0.0:$COORD_PORT" \
	--probe-interval-ms 200 --unhealthy-after 3 --log-level info --data-dir "$tmp/coord-data"
wait_listening coordinator "$COORD_PORT"
ok "coordinator serves on $coord_ip:$COORD_PORT (pid ${pid_of[coordinator]})"

for a in "${AGENTS[@]}"; do
	start_daemon "$a" "$a" "$bin_dir/mesh-agent" --listen "0.0.0.0:$AGENT_PORT" \
		--advertise "${agent_ip[$a]}:$AGENT_PORT" --coordinator "$coord_url" \
		--name "$a" --capacity "$SLOTS" --log-level info \
		--handler 'upper=tr a-z A-Z' \
		--handler 'whereami=ip -4 -o addr show dev eth0' \
		--handler 'fail=sh -c "echo something broke >&2; exit 3"'
done
for a in "${AGENTS[@]}"; do
	wait_listening "$a" "$AGENT_PORT"
done
ok "three agents serve on port $AGENT_PORT in their namespaces"

# ---- registration ----------------------------------------------------------------------
nodes_json() { api_get /nodes; }
# node_count_is N [STATE]: GET /nodes has N nodes (in STATE).
node_count_is() {
	nodes_json >"$tmp/nodes.json" 2>/dev/null &&
		jq -e --argjson n "$1" --arg s "${2:-}" \
			'[.nodes[] | select($s == "" or .state == $s)] | length == $n' "$tmp/nodes.json" >/dev/null
}
wait_until 20 node_count_is 3 ||
	fail "GET /nodes did not show 3 nodes within 20 s: $(cat "$tmp/nodes.json" 2>/dev/null)"
ok "all three agents registered $(( $(now_ms) - t0 )) ms after the coordinator started"
declare -A node_id_of=() # agent name -> node id
declare -A name_of=()    # node id -> agent name
for a in "${AGENTS[@]}"; do
	node=$(jq -c --arg n "$a" '.nodes[] | select(.name == $n)' "$tmp/nodes.json")
	[ -n "$node" ] || fail "no node named $a in GET /nodes: $(cat "$tmp/nodes.json")"
	want_addr="${agent_ip[$a]}:$AGENT_PORT"
	jq -e --arg addr "$want_addr" --arg url "http://$want_addr" --argjson cap "$SLOTS" '
		.address == $addr and .base_url == $url and .capacity == $cap
		and .running == 0 and ((.types | sort) == (["echo", "fail", "sleep", "upper", "whereami"]))
		and (.last_seen | type) == "string"' <<<"$node" >/dev/null ||
		fail "$a is not registered as expected (address $want_addr, base_url http://$want_addr, capacity $SLOTS, running 0, 5 types): $node"
	node_id_of[$a]=$(jq -r .id <<<"$node")
	name_of[${node_id_of[$a]}]=$a
	ok "$a registered itself as ${node_id_of[$a]} at its own address $want_addr (base_url http://$want_addr)"
done
wait_until 20 node_count_is 3 HEALTHY ||
	fail "GET /nodes did not show 3 HEALTHY nodes within 20 s: $(cat "$tmp/nodes.json" 2>/dev/null)"
ok "GET /nodes shows the 3 nodes HEALTHY"
grep -q "registered with $coord_url as node ${node_id_of[agent-1]}" "$tmp/agent-1.log" ||
	fail "agent-1's log does not say it registered with $coord_url as ${node_id_of[agent-1]}"
health=$(api_get /healthz) || fail "GET /healthz failed: $health"
jq -e '.status == "ok" and .nodes == 3 and .healthy_nodes == 3' <<<"$health" >/dev/null ||
	fail "GET /healthz: $health"
ok "GET /healthz: 3 nodes, 3 healthy"

# meshctl from the client host, across the LAN.
out=$(meshctl nodes 2>&1) || fail "meshctl nodes failed (exit $?): $out"
for a in "${AGENTS[@]}"; do
	grep -E "^${node_id_of[$a]} +$a +${agent_ip[$a]//./\\.}:$AGENT_PORT +HEALTHY +0/$SLOTS " <<<"$out" >/dev/null ||
		fail "meshctl nodes has no HEALTHY row for $a at ${agent_ip[$a]}:$AGENT_PORT:"$'\n'"$out"
done
ok "meshctl --coordinator $coord_url nodes (from host ctl) lists the three agents"
sed 's/^/#   /' <<<"$out"

# ---- jobs spill over every node ----------------------------------------------------------
# Six sleep jobs at once fill the 3 x 2 slots: the first-healthy-node scheduler must use
# every node.
t0=$(now_ms)
mapfile -t sleep_ids < <(submit_many sleep "$SLEEP_MS" 6)
[ ${#sleep_ids[@]} -eq 6 ] || fail "could not submit 6 sleep jobs"
ok "submitted 6 sleep jobs of $SLEEP_MS ms concurrently in $(( $(now_ms) - t0 )) ms"

all_slots_busy() {
	nodes_json >"$tmp/nodes.json" 2>/dev/null &&
		jq -e --argjson cap "$SLOTS" '[.nodes[] | select(.running == $cap)] | length == 3' \
			"$tmp/nodes.json" >/dev/null
}
if wait_until 3 all_slots_busy; then
	ok "every node runs $SLOTS/$SLOTS jobs at the same time ($(( $(now_ms) - t0 )) ms after the first submission)"
else
	fail "the nodes never ran $SLOTS jobs each at the same time: $(jq -c '[.nodes[] | {name, running}]' "$tmp/nodes.json")"
fi

# More jobs of every type while all slots are busy: they queue, then spread.
other_ids=()
whereami_ids=()
declare -A expect_result=() # job id -> expected result
for i in 1 2 3; do
	id=$(submit echo "hello from echo job $i") || fail "submitting an echo job failed"
	other_ids+=("$id")
	expect_result[$id]="hello from echo job $i"
	id=$(submit upper "planetary mesh job $i") || fail "submitting an upper job failed"
	other_ids+=("$id")
	expect_result[$id]="PLANETARY MESH JOB $i"
	id=$(submit whereami "") || fail "submitting a whereami job failed"
	other_ids+=("$id")
	whereami_ids+=("$id")
done
fail_id=$(submit fail "this one fails") || fail "submitting the fail job failed"
all_ids=("${sleep_ids[@]}" "${other_ids[@]}" "$fail_id")
ok "submitted ${#other_ids[@]} echo/upper/whereami jobs and 1 failing job (${#all_ids[@]} jobs in all)"

jobs_json() { api_get "/jobs?limit=1000"; }
# all_done N: the coordinator holds N jobs (every one is ours) and none is QUEUED or RUNNING.
all_done() {
	jobs_json >"$tmp/jobs.json" 2>/dev/null &&
		jq -e --argjson n "$1" '(.jobs | length) == $n and
			all(.jobs[]; .status == "COMPLETED" or .status == "FAILED")' "$tmp/jobs.json" >/dev/null
}
wait_until 30 all_done ${#all_ids[@]} ||
	fail "jobs still not finished after 30 s: $(jq -c '[.jobs[] | {id, type, status, node_id}]' "$tmp/jobs.json")"
ok "all ${#all_ids[@]} jobs finished $(( $(now_ms) - t0 )) ms after the first submission"

job() { jq -c --arg id "$1" '.jobs[] | select(.id == $id)' "$tmp/jobs.json"; }
for id in "${sleep_ids[@]}"; do
	jq -e --arg r "slept $SLEEP_MS ms" '.status == "COMPLETED" and .result == $r and .error == null' \
		<<<"$(job "$id")" >/dev/null || fail "sleep job $id: $(job "$id")"
done
ok "the 6 sleep jobs COMPLETED with \"slept $SLEEP_MS ms\""
for id in "${!expect_result[@]}"; do
	jq -e --arg r "${expect_result[$id]}" '.status == "COMPLETED" and .result == $r' \
		<<<"$(job "$id")" >/dev/null || fail "job $id should have COMPLETED with '${expect_result[$id]}': $(job "$id")"
done
ok "the echo and upper jobs COMPLETED with the right output"
# A whereami job reports the address of the host it really ran on: it must be the
# address of the node the coordinator says ran it.
for id in "${whereami_ids[@]}"; do
	j=$(job "$id")
	nid=$(jq -r .node_id <<<"$j")
	a=${name_of[$nid]:-}
	[ -n "$a" ] || fail "whereami job $id ran on an unknown node: $j"
	jq -e --arg ip "inet ${agent_ip[$a]}/24" '.status == "COMPLETED" and (.result | contains($ip))' \
		<<<"$j" >/dev/null || fail "whereami job $id ran on $a (${agent_ip[$a]}) per node_id, but says: $j"
done
ok "each whereami job ran in the namespace of the node named by its node_id"
jq -e '.status == "FAILED" and .result == null and (.error | contains("exited with status 3"))
	and (.error | contains("something broke"))' <<<"$(job "$fail_id")" >/dev/null ||
	fail "the fail job should be FAILED with the handler's status and stderr: $(job "$fail_id")"
ok "the fail job FAILED with \"exited with status 3\" and its stderr"

ran_sleep=$(jq -r --argjson ids "$(printf '%s\n' "${sleep_ids[@]}" | jq -R . | jq -s .)" \
	'[.jobs[] | select(.id as $i | $ids | index($i)) | .node_id] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' \
	"$tmp/jobs.json")
note "sleep jobs per node: $ran_sleep"
for a in "${AGENTS[@]}"; do
	n=$(jq --arg nid "${node_id_of[$a]}" '[.jobs[] | select(.status == "COMPLETED" and .node_id == $nid)] | length' \
		"$tmp/jobs.json")
	[ "$n" -ge 1 ] || fail "no job COMPLETED on $a (${node_id_of[$a]}): $(jq -c '[.jobs[] | {type, status, node_id}]' "$tmp/jobs.json")"
	note "$a (${node_id_of[$a]}): $n jobs COMPLETED"
done
ok "completed jobs ran on all three nodes"

out=$(meshctl jobs --limit 1000 2>&1) || fail "meshctl jobs failed (exit $?): $out"
for id in "${all_ids[@]}"; do
	grep -q "^$id " <<<"$out" || fail "meshctl jobs does not list $id:"$'\n'"$out"
done
if [ "$(grep -c ' COMPLETED ' <<<"$out")" -ne $((${#all_ids[@]} - 1)) ] || [ "$(grep -c ' FAILED ' <<<"$out")" -ne 1 ]; then
	fail "meshctl jobs should show $((${#all_ids[@]} - 1)) COMPLETED and 1 FAILED:"$'\n'"$out"
fi
ok "meshctl jobs (from host ctl) lists all ${#all_ids[@]} jobs, $((${#all_ids[@]} - 1)) COMPLETED and 1 FAILED"
out=$(meshctl job "$fail_id" 2>&1) || fail "meshctl job $fail_id failed (exit $?): $out"
grep -q 'FAILED' <<<"$out" || fail "meshctl job $fail_id does not say FAILED: $out"
ok "meshctl job $fail_id shows it FAILED"

# ---- pull one agent's cable ------------------------------------------------------------------
# The first node in registration order is the one the scheduler tries first.
nodes_json >"$tmp/nodes.json" || fail "GET /nodes failed"
victim=${name_of[$(jq -r '.nodes[0].id' "$tmp/nodes.json")]}
victim_id=${node_id_of[$victim]}
jq -e 'all(.nodes[]; .running == 0 and .state == "HEALTHY")' "$tmp/nodes.json" >/dev/null ||
	fail "nodes should be idle and HEALTHY before the link test: $(cat "$tmp/nodes.json")"
node_state() {
	nodes_json >"$tmp/nodes.json" 2>/dev/null &&
		jq -e --arg id "$1" --arg s "$2" '.nodes[] | select(.id == $id) | .state == $s' \
			"$tmp/nodes.json" >/dev/null
}

t0=$(now_ms)
netns_link_down "$victim" || fail "could not set $victim's link down"
wait_until 5 node_state "$victim_id" UNHEALTHY ||
	fail "$victim ($victim_id) is not UNHEALTHY 5 s after its link went down: $(cat "$tmp/nodes.json")"
ok "$victim's link ($(netns_veth "$victim") on the bridge) down: UNHEALTHY after $(( $(now_ms) - t0 )) ms (probe every 200 ms, 3 failures)"
jq -e --arg id "$victim_id" '[.nodes[] | select(.id != $id and .state == "HEALTHY")] | length == 2' \
	"$tmp/nodes.json" >/dev/null || fail "the other two nodes should stay HEALTHY: $(cat "$tmp/nodes.json")"
grep -q "node $victim_id .* is UNHEALTHY" "$tmp/coordinator.log" ||
	fail "the coordinator log does not say $victim_id is UNHEALTHY"
ok "the two other nodes stay HEALTHY"

t0=$(now_ms)
mapfile -t cut_ids < <(submit_many sleep 300 4)
[ ${#cut_ids[@]} -eq 4 ] || fail "could not submit 4 sleep jobs"
for i in 1 2; do
	id=$(submit echo "while $victim is cut off $i") || fail "submitting an echo job failed"
	cut_ids+=("$id")
done
all_ids+=("${cut_ids[@]}")
wait_until 20 all_done ${#all_ids[@]} ||
	fail "jobs submitted while $victim was cut off did not finish within 20 s: $(jq -c '[.jobs[] | {id, type, status, node_id}]' "$tmp/jobs.json")"
for id in "${cut_ids[@]}"; do
	j=$(job "$id")
	jq -e --arg v "$victim_id" '.status == "COMPLETED" and .node_id != $v' <<<"$j" >/dev/null ||
		fail "job $id submitted while $victim was cut off should COMPLETE elsewhere: $j"
done
ok "${#cut_ids[@]} jobs submitted while $victim was cut off COMPLETED on the other nodes in $(( $(now_ms) - t0 )) ms"

t0=$(now_ms)
netns_link_up "$victim" || fail "could not set $victim's link up"
wait_until 5 node_state "$victim_id" HEALTHY ||
	fail "$victim ($victim_id) is not HEALTHY 5 s after its link came back: $(cat "$tmp/nodes.json")"
ok "$victim's link up again: HEALTHY after $(( $(now_ms) - t0 )) ms"
grep -q "node $victim_id .* is HEALTHY again" "$tmp/coordinator.log" ||
	fail "the coordinator log does not say $victim_id is HEALTHY again"
# All nodes idle: the first healthy node, the restored one, gets the next job.
id=$(submit echo "back on the LAN") || fail "submitting an echo job failed"
all_ids+=("$id")
wait_until 10 all_done ${#all_ids[@]} || fail "the job after the link came back did not finish: $(job "$id")"
jq -e --arg v "$victim_id" '.status == "COMPLETED" and .node_id == $v and .result == "back on the LAN"' \
	<<<"$(job "$id")" >/dev/null ||
	fail "the next job should COMPLETE on the restored first node $victim ($victim_id): $(job "$id")"
ok "the next job COMPLETED on $victim again"

# ---- clean stop, sanitizers ---------------------------------------------------------------------
t0=$(now_ms)
stop_daemons
bad=0
for label in "${daemons[@]}"; do
	if [ "${exit_of[$label]}" != 0 ]; then
		echo "not ok - $label exited with status ${exit_of[$label]} after SIGTERM (expected 0)"
		bad=1
	fi
done
[ $bad -eq 0 ] || fail "a daemon did not stop cleanly"
ok "coordinator and agents stopped on SIGTERM with status 0 in $(( $(now_ms) - t0 )) ms"
if grep -El "$SANITIZER_RE" "$tmp"/*.log >/dev/null 2>&1; then
	grep -EH -A 5 "$SANITIZER_RE" "$tmp"/*.log | sed 's/^/# /'
	fail "sanitizer reports in: $(grep -El "$SANITIZER_RE" "$tmp"/*.log | xargs -n1 basename | tr '\n' ' ')"
fi
ok "no AddressSanitizer/LeakSanitizer/UBSan report in the daemon logs"
if grep -E '^[^ ]+ ERROR ' "$tmp"/*.log >/dev/null 2>&1; then
	note "ERROR lines in the daemon logs (not counted as failures):"
	grep -EH '^[^ ]+ ERROR ' "$tmp"/*.log | sed 's/^/#   /'
fi

echo "# all passed in $(( $(now_ms) - test_start )) ms"
exit 0
