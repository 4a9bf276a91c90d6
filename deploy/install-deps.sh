#!/bin/sh
# Makes sure the Debian packages Planetary Mesh builds and tests with are installed.
# As root it installs what is missing; otherwise it prints the one command to run.
set -eu

PACKAGES="build-essential pkg-config libcivetweb-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev check curl jq iproute2 procps sqlite3"

missing=""
for pkg in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $pkg"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "Planetary Mesh needs these Debian packages:$missing" >&2
	echo "Run: sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi

echo "installing Debian packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
