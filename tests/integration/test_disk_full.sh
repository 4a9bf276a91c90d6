#!/usr/bin/env bash
# A full disk is a clear error, not a crash: with its data directory on a
# small tmpfs that is then filled up, the coordinator answers POST /jobs with
# 507 and a sentence, stores nothing, keeps serving, and accepts jobs again
# once there is room. Needs root (mount); prints SKIP otherwise.
# shellcheck disable=SC2317
. "$(dirname "$0")/lib.sh"

SMALL=$WORK/small
if [ "$(id -u)" != 0 ] || ! mkdir -p "$SMALL" || ! mount -t tmpfs -o size=4m tmpfs "$SMALL" 2>/dev/null; then
	echo "SKIP: needs root to mount a small tmpfs"
	exit 0
fi
unmount_small() { umount "$SMALL" 2>/dev/null; }
trap 'cleanup; unmount_small' EXIT

start_coordinator --data-dir "$SMALL/data"
first=$(submit nobody-runs-this "before the disk fills")
check_eq "a job is accepted while there is room" "QUEUED" "$(job_field "$first" status)"

# Fill the file system to the last byte (dd stops at ENOSPC).
dd if=/dev/zero of="$SMALL/filler" bs=64k 2>/dev/null
check_eq "the file system is full" "0" "$(df --output=avail "$SMALL" | tail -n 1 | tr -d ' ')"

# A payload larger than any slack SQLite may have left in its files.
{ printf '{"type":"nobody-runs-this","payload":"'; head -c 200000 /dev/zero | tr '\0' x; printf '"}'; } >"$WORK/big.json"
status=$(curl -s --max-time 10 -o "$WORK/full.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
	--data-binary @"$WORK/big.json" "$COORD_URL/jobs")
check_eq "a submission on a full disk answers 507" "507" "$status"
check_contains "with a sentence saying the disk is full" "disk is full" "$(jq -r .error "$WORK/full.json")"
check_eq "nothing was stored" "1" "$(count_jobs type=nobody-runs-this)"
check_eq "the coordinator still serves" "200" "$(http_status "$COORD_URL/healthz")"
check_contains "and logged why" "full" "$(cat "$COORD_LOG")"

rm -f "$SMALL/filler"
again=$(submit nobody-runs-this "after the disk has room")
check_eq "once there is room, jobs are accepted again" "QUEUED" "$(job_field "$again" status)"
check_eq "two jobs in all" "2" "$(count_jobs type=nobody-runs-this)"
check "coordinator stops cleanly" stop_daemon "$COORD_PID"
finish
