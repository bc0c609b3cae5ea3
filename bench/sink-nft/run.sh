#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Benchmark: the cost of adding one rule and learning its handle, with 10 .. 10000
# rules (over as many cgroups) already in the ruleset. Compares the original tool's
# way (libnftables echo output) with sink-nft's (NEWRULE notification of its own
# transaction). Runs in a private network and mount namespace with cgroup2 mounted at
# /sys/fs/cgroup; the cgroups it makes on the (shared) hierarchy are removed again.
# Prints a markdown table. Reports numbers, asserts nothing.
#
# usage: bench/sink-nft/run.sh [BUILD_DIR [SIZES...]]    (root)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-/tmp/build-bench-sink-nft}
[ $# -gt 0 ] && shift
sizes=${*:-10 100 1000 10000}

if [ "$(id -u)" != 0 ]; then
	echo "bench/sink-nft: needs root (network namespace, cgroup2 mount)" >&2
	exit 77
fi

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" modules/sink-nft/scnpm-sink-nft.so >/dev/null
module="$build/modules/sink-nft/scnpm-sink-nft.so"
driver="$build/bench-sink-nft"
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$driver" "$here/bench-sink-nft.c" "$top/tests/lib/fake-host/fake-host.c" \
	-I"$top/include" -I"$top/tests/lib/fake-host" \
	$(pkg-config --cflags --libs libnftables libsystemd) -ldl

echo "Command: \`bench/sink-nft/run.sh $build $sizes\`"
echo
echo "Machine: $(uname -r), $(nproc) CPUs, libnftables $(pkg-config --modversion libnftables)." \
	"Median milliseconds per rule; the ruleset holds N 'socket cgroupv2' rules over N cgroups."
echo
echo "| rules in ruleset | cgroups | floor: plain add, no handle | floor: delete by handle | echo: add + learn handle | sink-nft: apply() add + learn handle | sink-nft: apply() restart (withdraw + add) | echo / sink-nft add |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"

unshare --mount --net sh -eu -c '
	mount --make-rprivate /
	mount -t cgroup2 none /sys/fs/cgroup
	cleanup() {
		for s in /sys/fs/cgroup/scnpmbench*.slice; do
			[ -d "$s" ] || continue
			find "$s" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	}
	trap cleanup EXIT
	driver=$1 module=$2
	shift 2
	for n in "$@"; do
		samples=30
		[ "$n" -ge 10000 ] && samples=20
		"$driver" "$module" "$n" "$n" "$samples"
	done
' sh "$driver" "$module" $sizes
