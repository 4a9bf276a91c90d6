#!/usr/bin/env bash
# `make demo`: a coordinator and three agents on localhost, a handful of jobs
# of each type (one of them fails on purpose), the job and node tables, and
# then everything this script started is stopped again.
#   deploy/demo.sh [BIN_DIR]     (default: bin)
set -u
BIN=$(cd "${1:-bin}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mesh-demo.XXXXXX")
PIDS=()

stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	rm -rf "$WORK"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
port_of() { grep -o 'listening on [^ ]*' "$1" 2>/dev/null | head -n 1 | sed 's/.*://'; }
wait_for_port() {
	local deadline=$((SECONDS + 10))
	until [ -n "$(port_of "$1")" ]; do
		if [ $SECONDS -ge $deadline ]; then echo "demo: $2 did not start:" >&2; cat "$1" >&2; exit 1; fi
		sleep 0.05
	done
}

say "starting a coordinator on 127.0.0.1 (a free port)"
# Its own data directory: a demo starts from an empty store and leaves nothing behind.
"$BIN/mesh-coordinator" --listen 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/coordinator.log" 2>&1 &
PIDS+=($!)
wait_for_port "$WORK/coordinator.log" coordinator
export MESH_COORDINATOR=http://127.0.0.1:$(port_of "$WORK/coordinator.log")
echo "coordinator: $MESH_COORDINATOR"

say "starting three agents; each registers itself"
for name in alpha beta gamma; do
	"$BIN/mesh-agent" --listen 127.0.0.1:0 --coordinator "$MESH_COORDINATOR" --name "$name" \
		--capacity 2 --handler 'upper=tr a-z A-Z' --handler 'wc=wc -w' \
		--handler 'flaky=sh -c "echo disk on fire >&2; exit 3"' >"$WORK/agent-$name.log" 2>&1 &
	PIDS+=($!)
	wait_for_port "$WORK/agent-$name.log" "agent $name"
done
deadline=$((SECONDS + 10))
until [ "$("$BIN/meshctl" nodes --json 2>/dev/null | jq '.nodes | length')" = 3 ]; do
	[ $SECONDS -ge $deadline ] && { echo "demo: agents did not register" >&2; exit 1; }
	sleep 0.1
done
"$BIN/meshctl" nodes

say "submitting jobs: echo, sleep, two handlers, and one that fails"
ids=()
submit() { local id; id=$("$BIN/meshctl" submit "$1" "$2") && ids+=("$id") && printf '  %-6s %-28s -> %s\n' "$1" "'$2'" "$id"; }
submit echo "hello, mesh"
submit echo "jobs go to the first healthy node with a free slot"
for ms in 1500 1200 900 600; do submit sleep "$ms"; done
submit upper "planetary mesh"
submit wc "how many words are in this sentence"
submit flaky "this handler always fails"

say "waiting for the jobs (meshctl submit --wait does the same for one job)"
"$BIN/meshctl" submit echo "and one more, waited for" --wait --timeout 10
deadline=$((SECONDS + 30))
for id in "${ids[@]}"; do
	until "$BIN/meshctl" job "$id" --json | jq -e '.status == "COMPLETED" or .status == "FAILED"' >/dev/null; do
		[ $SECONDS -ge $deadline ] && { echo "demo: job $id did not finish" >&2; exit 1; }
		sleep 0.1
	done
done

say "jobs"
"$BIN/meshctl" jobs
say "the job that failed"
"$BIN/meshctl" job "${ids[-1]}"
say "nodes"
"$BIN/meshctl" nodes

say "stopping everything the demo started"
stop_all
PIDS=()
echo "the coordinator and the three agents have stopped"
