#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions called through wait_until and traps
# deploy/netns-demo.sh [BIN_DIR]
#
# Planetary Mesh on a virtual LAN: a coordinator and three agents, each in its own
# network namespace with its own address (deploy/netns.sh), and meshctl on a fourth
# "operator" host. It submits a handful of jobs of every type (one of them fails on
# purpose), waits for them, shows `meshctl nodes` and `meshctl jobs`, unplugs one
# agent's cable and plugs it back, then stops everything and deletes the namespaces.
#
# BIN_DIR holds mesh-coordinator, mesh-agent and meshctl (default: bin/ of this
# repository; `make` builds them). Nothing is built here. Needs root (namespaces).
# Touches nothing outside its own namespaces: no routes, addresses or sysctls change
# in the root namespace.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=deploy/netns.sh
. "$root/deploy/netns.sh"

case "${1:-}" in
-h | --help)
	awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"
	exit 0
	;;
esac
if [ $# -gt 1 ]; then
	echo "usage: $0 [BIN_DIR]" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	cat >&2 <<EOF
netns-demo: this demo needs root.
It puts the coordinator and each agent in its own Linux network namespace, joined by
a virtual bridge, so that they talk over a (virtual) network with their own
addresses; creating namespaces and virtual links takes root (CAP_SYS_ADMIN and
CAP_NET_ADMIN). Run it as root, e.g.:  sudo $0 ${1:-}
Without root, 'make demo' runs the same kind of demo on localhost.
EOF
	exit 1
fi
if ! reason=$(netns_available); then
	echo "netns-demo: cannot build network namespaces here: $reason" >&2
	exit 1
fi
bin_dir=${1:-$root/bin}
for b in mesh-coordinator mesh-agent meshctl; do
	if [ ! -x "$bin_dir/$b" ]; then
		echo "netns-demo: $bin_dir/$b is missing; build it first with 'make' (or pass the BIN_DIR that has it)" >&2
		exit 1
	fi
done
bin_dir=$(cd "$bin_dir" && pwd)
if ! command -v jq >/dev/null; then
	echo "netns-demo: needs jq (deploy/install-deps.sh installs it)" >&2
	exit 1
fi

COORD_PORT=8080
AGENT_PORT=8081
AGENTS=(agent-1 agent-2 agent-3)

bold=""
plain=""
if [ -t 1 ]; then
	bold=$(tput bold 2>/dev/null || true)
	plain=$(tput sgr0 2>/dev/null || true)
fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '    %s\n' "$*"; }
die() {
	printf '\nnetns-demo: %s\n' "$*" >&2
	exit 1
}

logs=$(mktemp -d "${TMPDIR:-/tmp}/pmesh-netns-demo.XXXXXX") || die "mktemp -d failed"
daemons=()
declare -A pid_of=()

# Is pid our own child and still alive (not a zombie)? Guards every kill against pid reuse.
is_our_running_child() {
	local stat rest state ppid
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	rest=${stat##*) }
	state=${rest%% *}
	rest=${rest#* }
	ppid=${rest%% *}
	[ "$ppid" = "$$" ] && [ "$state" != Z ] && [ "$state" != X ]
}

teardown() {
	local rc=$? label pid deadline
	trap - EXIT INT TERM HUP
	step "Stopping the daemons and deleting the namespaces"
	for label in "${daemons[@]}"; do
		pid=${pid_of[$label]}
		is_our_running_child "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	deadline=$((SECONDS + 15))
	for label in "${daemons[@]}"; do
		pid=${pid_of[$label]}
		while is_our_running_child "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
		if is_our_running_child "$pid"; then
			say "$label (pid $pid) did not stop within 15 s of SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		say "$label stopped (exit status $?)"
	done
	netns_lan_destroy
	say "namespaces deleted"
	if [ "$rc" -ne 0 ]; then
		for label in "${daemons[@]}"; do
			printf '\n--- %s log (last 40 lines) ---\n' "$label"
			tail -n 40 "$logs/$label.log" 2>/dev/null
		done
		say "the demo failed; logs kept in $logs"
	else
		rm -rf "$logs"
		say "done"
	fi
	exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# wait_until SECONDS CMD...: CMD every 100 ms until it succeeds; 1 if the time runs out.
wait_until() {
	local deadline=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

# ---- the LAN ------------------------------------------------------------------------------
step "Building a virtual LAN out of network namespaces"
netns_lan_create pmesh-demo || die "could not create the LAN"
netns_host_add coord 1 || die "could not add the coordinator's host"
netns_host_add operator 2 || die "could not add the operator's host"
for i in 1 2 3; do
	netns_host_add "agent-$i" "1$i" || die "could not add host agent-$i"
done
coord_ip=$(netns_ip coord)
coord_url="http://$coord_ip:$COORD_PORT"
say "subnet $NETNS_SUBNET.0/24, a bridge in namespace $NETNS_BRIDGE_NS"
for h in coord operator "${AGENTS[@]}"; do
	printf '    %-9s %-15s namespace %s, cable %s\n' "$h" "$(netns_ip "$h")" "$(netns_ns "$h")" "$(netns_veth "$h")"
done

operator() { ip netns exec "$(netns_ns operator)" "$@"; }
meshctl() {
	local shown="" arg
	for arg in "$@"; do
		if [[ $arg =~ ^[A-Za-z0-9_./:=-]+$ ]]; then
			shown+=" $arg"
		else
			shown+=" '$arg'" # for show only (no payload here has a quote)
		fi
	done
	say "\$ meshctl$shown"
	operator "$bin_dir/meshctl" --coordinator "$coord_url" "$@" 2>&1 | sed 's/^/      /'
	return "${PIPESTATUS[0]}"
}
meshctl_quiet() { operator "$bin_dir/meshctl" --coordinator "$coord_url" "$@"; }

# start_daemon LABEL HOST CMD...
start_daemon() {
	local label=$1 ns
	ns=$(netns_ns "$2") || die "no host $2"
	shift 2
	ip netns exec "$ns" "$@" >"$logs/$label.log" 2>&1 </dev/null &
	pid_of[$label]=$!
	daemons+=("$label")
}
serving() { grep -Eq 'listening on [^ ]*:[0-9]+' "$logs/$1.log" || ! is_our_running_child "${pid_of[$1]}"; }
wait_serving() {
	if ! wait_until 20 serving "$1" || ! is_our_running_child "${pid_of[$1]}"; then
		die "$1 did not start: $(tail -n 5 "$logs/$1.log")"
	fi
	say "$1: $(grep -Eo 'listening on [^ ]*:[0-9]+' "$logs/$1.log" | head -n 1) (pid ${pid_of[$1]}, in $(netns_ns "$2"))"
}

# ---- daemons -------------------------------------------------------------------------------
step "Starting the coordinator on $coord_ip and three agents on ${NETNS_SUBNET}.11-13"
start_daemon coordinator coord "$bin_dir/mesh-coordinator" --listen "0.0.0.0:$COORD_PORT" \
	--probe-interval-ms 300 --unhealthy-after 3 --data-dir "$logs/coord-data"
wait_serving coordinator coord
for a in "${AGENTS[@]}"; do
	start_daemon "$a" "$a" "$bin_dir/mesh-agent" --listen "0.0.0.0:$AGENT_PORT" \
		--advertise "$(netns_ip "$a"):$AGENT_PORT" --coordinator "$coord_url" --name "$a" \
		--capacity 2 \
		--handler 'upper=tr a-z A-Z' \
		--handler 'fail=sh -c "echo something broke >&2; exit 3"'
done
for a in "${AGENTS[@]}"; do wait_serving "$a" "$a"; done

healthy_count() {
	meshctl_quiet --json nodes 2>/dev/null | jq -e --argjson n "$1" \
		'[.nodes[] | select(.state == "HEALTHY")] | length == $n' >/dev/null
}
wait_until 20 healthy_count 3 || die "the agents did not all register within 20 s"
say "all three agents registered themselves with the coordinator"
meshctl nodes

# ---- jobs ---------------------------------------------------------------------------------
step "Submitting jobs from the operator host ($(netns_ip operator))"
ids=()
submit() {
	local id
	id=$(meshctl_quiet submit "$1" "$2") || die "meshctl submit $1 '$2' failed: $id"
	id=$(grep -Eo 'j-[0-9a-f]+' <<<"$id" | head -n 1)
	ids+=("$id")
	printf '    %-15s %-6s %s\n' "$id" "$1" "$2"
}
submit sleep 1500
submit sleep 1200
submit sleep 900
submit echo "hello from the operator"
submit upper "planetary mesh"
submit echo "namespaces are cheap"
submit upper "one more"
submit fail "this job fails on purpose"
submit sleep 300
submit echo "last one"

unfinished() {
	meshctl_quiet --json jobs --limit 1000 2>/dev/null |
		jq -r '[.jobs[] | select(.status == "QUEUED" or .status == "RUNNING")] | length'
}
all_finished() {
	local n
	n=$(unfinished) || return 1
	[ -n "$n" ] || return 1
	if [ "$n" != "${last_unfinished:-}" ]; then
		say "$n job(s) still queued or running"
		last_unfinished=$n
	fi
	[ "$n" -eq 0 ]
}
step "Waiting for the jobs"
wait_until 60 all_finished || die "jobs still unfinished after 60 s"
meshctl jobs
meshctl nodes
fail_id=${ids[7]}
step "The job that failed, in detail"
meshctl job "$fail_id"

# ---- a cable comes loose ----------------------------------------------------------------------
victim=agent-1
victim_id=$(meshctl_quiet --json nodes | jq -r --arg n "$victim" '.nodes[] | select(.name == $n) | .id')
node_state_is() {
	meshctl_quiet --json nodes 2>/dev/null |
		jq -e --arg id "$victim_id" --arg s "$1" '.nodes[] | select(.id == $id) | .state == $s' >/dev/null
}
step "Unplugging $victim's cable ($(netns_veth "$victim") on the bridge)"
t0=$(now_ms)
netns_link_down "$victim" || die "could not take the link down"
wait_until 15 node_state_is UNHEALTHY || die "$victim did not become UNHEALTHY"
say "the coordinator marked $victim UNHEALTHY after $(($(now_ms) - t0)) ms (3 failed probes, every 300 ms)"
meshctl nodes
say "jobs now go to the other agents:"
for i in 1 2; do
	meshctl submit echo "while $victim is away ($i)" --wait --timeout 20 || die "a job failed while $victim was away"
done

step "Plugging $victim's cable back in"
t0=$(now_ms)
netns_link_up "$victim" || die "could not take the link up"
wait_until 15 node_state_is HEALTHY || die "$victim did not become HEALTHY again"
say "$victim is HEALTHY again after $(($(now_ms) - t0)) ms"
meshctl nodes
meshctl submit echo "welcome back" --wait --timeout 20 || die "the job after the link came back failed"
exit 0
