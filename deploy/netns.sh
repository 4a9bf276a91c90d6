# shellcheck shell=bash
# deploy/netns.sh: a small virtual LAN on one machine, made of Linux network
# namespaces. Source it from bash (it needs root and iproute2):
#
#   . deploy/netns.sh
#   reason=$(netns_available) || { echo "SKIP: $reason"; exit 0; }
#   trap netns_lan_destroy EXIT
#   netns_lan_create pmesh              # bridge namespace + a free 10.213.X.0/24
#   netns_host_add coord 1              # namespace with eth0 = 10.213.X.1/24
#   netns_host_add agent-1 11           # ... 10.213.X.11/24 (or give the full address)
#   netns_exec agent-1 some-command args...
#   netns_link_down agent-1             # unplug its cable (bridge side), netns_link_up to plug it back
#   netns_lan_destroy                   # idempotent; safe from an EXIT trap at any point
#
# Layout: nothing is created in the root namespace (no links, routes, addresses or
# sysctls change there). One namespace "<prefix>-<pid>-br" holds the bridge br0; each host
# gets a namespace "<prefix>-<pid>-<name>" with lo up and eth0, one end of a veth pair
# whose other end ("v<n>-<name>", in the bridge namespace) is a port of br0. The LAN is
# isolated: only the hosts' namespaces reach each other's addresses, and the root
# namespace cannot reach them (run clients with netns_exec in a host of the LAN).
#
# Functions (all return non-zero and print a reason on stderr when they fail):
#   netns_available               0 if namespaces can be made here; else prints why (stdout), 1
#   netns_lan_create PREFIX [X]   make the bridge namespace; X (2..254) forces 10.213.X.0/24
#   netns_host_add NAME IP        add a host; IP is a.b.c.d inside the subnet, or just the last number
#   netns_exec NAME CMD...        run CMD inside host NAME's namespace ("br" = the bridge's)
#   netns_ns NAME                 print the namespace name of host NAME ("br" = the bridge's)
#   netns_ip NAME                 print host NAME's IPv4 address
#   netns_veth NAME               print the bridge-side veth of host NAME
#   netns_link_down NAME / netns_link_up NAME
#   netns_lan_destroy             kill what still runs in our namespaces, delete them all
# Variables once created: NETNS_RUN_ID (e.g. pmesh-1234), NETNS_SUBNET (e.g. 10.213.57),
# NETNS_BRIDGE_NS, NETNS_HOSTS (host names, in order of creation).

NETNS_RUN_ID=""
NETNS_SUBNET=""
NETNS_BRIDGE_NS=""
NETNS_HOSTS=()
NETNS_CREATED=()             # every namespace this shell created, in order
declare -gA NETNS_NS_OF=()   # host name -> namespace
declare -gA NETNS_IP_OF=()   # host name -> IPv4 address
declare -gA NETNS_VETH_OF=() # host name -> bridge-side veth

_netns_err() {
	echo "netns: $*" >&2
}

# netns_available: 0 if this process can build namespaces, bridges and veth pairs.
# Otherwise prints the reason on stdout and returns 1.
netns_available() {
	local probe out
	if [ "$(id -u)" -ne 0 ]; then
		echo "network namespaces need root (running as uid $(id -u))"
		return 1
	fi
	if ! command -v ip >/dev/null 2>&1; then
		echo "the 'ip' command (iproute2) is not installed"
		return 1
	fi
	probe="pmesh-probe-$$-$RANDOM"
	if ! out=$(ip netns add "$probe" 2>&1); then
		echo "'ip netns add' failed: ${out:-no message}"
		return 1
	fi
	if ! out=$(ip -n "$probe" link add pmesh-br type bridge 2>&1); then
		ip netns del "$probe" 2>/dev/null
		echo "cannot create a bridge in a namespace: ${out:-no message}"
		return 1
	fi
	if ! out=$(ip -n "$probe" link add pmesh-v0 type veth peer name pmesh-v1 2>&1); then
		ip netns del "$probe" 2>/dev/null
		echo "cannot create a veth pair in a namespace: ${out:-no message}"
		return 1
	fi
	ip netns del "$probe" 2>/dev/null
	return 0
}

# Is 10.213.$1.0/24 seen anywhere in the root namespace (addresses or routes)?
_netns_subnet_in_use() {
	local net="10.213.$1."
	ip -o -4 addr show 2>/dev/null | grep -qF " $net" && return 0
	ip -4 route show table all 2>/dev/null | grep -qF "$net" && return 0
	return 1
}

# netns_lan_create PREFIX [X]
netns_lan_create() {
	local prefix=${1:-pmesh} x=${2:-} id ns out tries
	if [ -n "$NETNS_RUN_ID" ]; then
		_netns_err "a LAN ($NETNS_RUN_ID) already exists in this shell; destroy it first"
		return 1
	fi
	if ! [[ $prefix =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]]; then
		_netns_err "bad prefix '$prefix' (1 to 32 of letters, digits, '_', '.', '-')"
		return 1
	fi
	# A run-unique id: the pid, plus a random tag if a crashed run with the same pid left its namespaces.
	id="$prefix-$$"
	if [ -e "/run/netns/$id-br" ] || [ -e "/var/run/netns/$id-br" ]; then
		id="$prefix-$$-$RANDOM"
	fi
	ns="$id-br"
	if ! out=$(ip netns add "$ns" 2>&1); then
		_netns_err "ip netns add $ns: $out"
		return 1
	fi
	NETNS_RUN_ID=$id
	NETNS_BRIDGE_NS=$ns
	NETNS_CREATED+=("$ns")
	if ! out=$( { ip -n "$ns" link set lo up &&
		ip -n "$ns" link add br0 type bridge &&
		ip -n "$ns" link set br0 up; } 2>&1); then
		_netns_err "setting up the bridge in $ns: $out"
		return 1
	fi

	# The subnet: from the pid unless given, skipping any /24 the root namespace uses.
	if [ -n "$x" ]; then
		if ! [[ $x =~ ^[0-9]+$ ]] || [ "$x" -lt 2 ] || [ "$x" -gt 254 ]; then
			_netns_err "subnet number '$x' must be 2..254"
			return 1
		fi
		if _netns_subnet_in_use "$x"; then
			_netns_err "10.213.$x.0/24 is already in use in the root namespace"
			return 1
		fi
	else
		x=$(( ($$ + RANDOM) % 253 + 2 ))
		tries=0
		while _netns_subnet_in_use "$x"; do
			tries=$((tries + 1))
			if [ "$tries" -ge 253 ]; then
				_netns_err "every 10.213.X.0/24 is in use in the root namespace"
				return 1
			fi
			x=$(( (x - 1) % 253 + 2 ))   # the next one, 254 wraps to 2
		done
	fi
	NETNS_SUBNET="10.213.$x"
	return 0
}

# netns_host_add NAME IP
netns_host_add() {
	local name=${1:-} ip=${2:-} ns veth out n
	if [ -z "$NETNS_RUN_ID" ]; then
		_netns_err "netns_host_add: call netns_lan_create first"
		return 1
	fi
	if ! [[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]] || [ "$name" = br ]; then
		_netns_err "bad host name '$name' (1 to 32 of letters, digits, '_', '.', '-'; not 'br')"
		return 1
	fi
	if [ -n "${NETNS_NS_OF[$name]+x}" ]; then
		_netns_err "host '$name' already exists"
		return 1
	fi
	[[ $ip =~ ^[0-9]+$ ]] && ip="$NETNS_SUBNET.$ip"
	if ! [[ $ip =~ ^${NETNS_SUBNET//./\\.}\.([0-9]+)$ ]] || [ "${BASH_REMATCH[1]}" -lt 1 ] ||
		[ "${BASH_REMATCH[1]}" -gt 254 ]; then
		_netns_err "address '$ip' is not a host address in $NETNS_SUBNET.0/24"
		return 1
	fi
	for n in "${NETNS_HOSTS[@]}"; do
		if [ "${NETNS_IP_OF[$n]}" = "$ip" ]; then
			_netns_err "address $ip is already host '$n'"
			return 1
		fi
	done
	ns="$NETNS_RUN_ID-$name"
	if ! out=$(ip netns add "$ns" 2>&1); then
		_netns_err "ip netns add $ns: $out"
		return 1
	fi
	NETNS_CREATED+=("$ns")
	# Interface names have at most 15 characters; the number keeps them unique.
	veth="v$(( ${#NETNS_HOSTS[@]} + 1 ))-$name"
	veth=${veth:0:15}
	NETNS_HOSTS+=("$name")
	NETNS_NS_OF[$name]=$ns
	NETNS_IP_OF[$name]=$ip
	NETNS_VETH_OF[$name]=$veth
	if ! out=$( { ip -n "$ns" link set lo up &&
		ip -n "$NETNS_BRIDGE_NS" link add "$veth" type veth peer name eth0 netns "$ns" &&
		ip -n "$NETNS_BRIDGE_NS" link set "$veth" master br0 &&
		ip -n "$NETNS_BRIDGE_NS" link set "$veth" up &&
		ip -n "$ns" addr add "$ip/24" dev eth0 &&
		ip -n "$ns" link set eth0 up; } 2>&1); then
		_netns_err "setting up host '$name' ($ns, $ip): $out"
		return 1
	fi
	return 0
}

# netns_ns NAME: the namespace of host NAME ("br": the bridge's).
netns_ns() {
	if [ "${1:-}" = br ] && [ -n "$NETNS_BRIDGE_NS" ]; then
		echo "$NETNS_BRIDGE_NS"
		return 0
	fi
	if [ -z "${1:-}" ] || [ -z "${NETNS_NS_OF[$1]+x}" ]; then
		_netns_err "no host '${1:-}'"
		return 1
	fi
	echo "${NETNS_NS_OF[$1]}"
}

netns_ip() {
	if [ -z "${1:-}" ] || [ -z "${NETNS_IP_OF[$1]+x}" ]; then
		_netns_err "no host '${1:-}'"
		return 1
	fi
	echo "${NETNS_IP_OF[$1]}"
}

netns_veth() {
	if [ -z "${1:-}" ] || [ -z "${NETNS_VETH_OF[$1]+x}" ]; then
		_netns_err "no host '${1:-}'"
		return 1
	fi
	echo "${NETNS_VETH_OF[$1]}"
}

# netns_exec NAME CMD...: runs CMD in host NAME's namespace. It ends in exec, so
# "ip netns exec NS cmd &" style callers get the command's own pid: to start a daemon
# in the background and keep its pid, prefer
#   ip netns exec "$(netns_ns NAME)" daemon ... &   pid=$!
# (a shell function run with & is a subshell, whose pid is not the daemon's).
netns_exec() {
	local ns
	ns=$(netns_ns "${1:-}") || return 1
	shift
	ip netns exec "$ns" "$@"
}

# Sets the bridge-side end of host NAME's cable down or up.
_netns_link_set() {
	local veth out
	veth=$(netns_veth "$1") || return 1
	if ! out=$(ip -n "$NETNS_BRIDGE_NS" link set "$veth" "$2" 2>&1); then
		_netns_err "ip link set $veth $2: $out"
		return 1
	fi
}
netns_link_down() { _netns_link_set "${1:-}" down; }
netns_link_up() { _netns_link_set "${1:-}" up; }

# netns_lan_destroy: deletes every namespace this shell created (and with them every
# link: the veth pairs and the bridge live only there). Processes still running in them
# were started by this run (the namespaces are unique to it): they get SIGTERM, then
# SIGKILL after 3 s, so that no namespace lives on. Idempotent; never fails.
netns_lan_destroy() {
	local ns pid pids=() deadline i
	[ ${#NETNS_CREATED[@]} -eq 0 ] && { NETNS_RUN_ID=""; return 0; }
	for ns in "${NETNS_CREATED[@]}"; do
		[ -e "/run/netns/$ns" ] || [ -e "/var/run/netns/$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			pids+=("$pid")
		done
	done
	if [ ${#pids[@]} -gt 0 ]; then
		_netns_err "still running in our namespaces, stopping: ${pids[*]}"
		kill -TERM "${pids[@]}" 2>/dev/null
		deadline=$((SECONDS + 3))
		while [ $SECONDS -lt $deadline ]; do
			for i in "${!pids[@]}"; do
				kill -0 "${pids[$i]}" 2>/dev/null || unset 'pids[i]'
			done
			[ ${#pids[@]} -eq 0 ] && break
			sleep 0.05
		done
		[ ${#pids[@]} -gt 0 ] && kill -KILL "${pids[@]}" 2>/dev/null
	fi
	# Hosts first (in reverse), the bridge namespace last.
	for ((i = ${#NETNS_CREATED[@]} - 1; i >= 0; i--)); do
		ns=${NETNS_CREATED[$i]}
		if [ -e "/run/netns/$ns" ] || [ -e "/var/run/netns/$ns" ]; then
			ip netns del "$ns" 2>/dev/null || _netns_err "could not delete namespace $ns"
		fi
	done
	NETNS_CREATED=()
	NETNS_HOSTS=()
	NETNS_NS_OF=()
	NETNS_IP_OF=()
	NETNS_VETH_OF=()
	NETNS_RUN_ID=""
	NETNS_BRIDGE_NS=""
	NETNS_SUBNET=""
	return 0
}
