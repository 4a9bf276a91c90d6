#!/usr/bin/env bash
# Runs the unit tests (every build/test/unit/test_* binary) and the integration
# tests (every tests/integration/test_*.sh), and ends with one line
# "N passed, N failed" counting test programs. Exit status 0 only if all passed.
#   tests/run.sh BIN_DIR [unit|integration|all] [NAME_FILTER]
set -u
bin_dir=$(cd "$1" && pwd)
which=${2:-all}
filter=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
unit_dir=$(cd "$bin_dir/../unit" 2>/dev/null && pwd)

export MESH_BIN_DIR="$bin_dir"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

passed=0
failed=0
failed_names=()
log_dir="$root/build/test/logs"
mkdir -p "$log_dir"

run_one() {
	local name=$1; shift
	local log="$log_dir/$name.log"
	local start=$SECONDS
	if "$@" >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - start))
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		printf 'FAIL %-40s %3ds  (log: %s)\n' "$name" $((SECONDS - start)) "${log#$root/}"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
}

if [ "$which" = all ] || [ "$which" = unit ]; then
	echo "== unit tests (Check, ASan+UBSan)"
	for t in "$unit_dir"/test_*; do
		[ -x "$t" ] || continue
		name=$(basename "$t")
		[ -n "$filter" ] && [[ $name != *$filter* ]] && continue
		run_one "$name" "$t"
		grep -h '^[0-9]*%: Checks' "$log_dir/$name.log" | sed 's/^/     /'
	done
fi

if [ "$which" = all ] || [ "$which" = integration ]; then
	echo "== integration tests (real processes)"
	for t in "$root"/tests/integration/test_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		[ -n "$filter" ] && [[ $name != *$filter* ]] && continue
		run_one "$name" timeout -k 10 300 bash "$t"
	done
fi

echo
[ $failed -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
