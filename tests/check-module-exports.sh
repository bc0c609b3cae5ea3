#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# A module exports exactly one dynamic symbol: its descriptor, scnpm_module_v1, a data
# object. Anything else it exports could clash with the daemon or another module (they
# all share one process) and means it was not built with -fvisibility=hidden.
#
# usage: check-module-exports.sh MODULE.so...   (TAP: one line per module)
# With no modules at all, this skips, or fails under CI=true: a CI build that built no
# module has not tested what it claims.
set -u

symbol=scnpm_module_v1
NM=${NM:-nm}

if [ $# -eq 0 ]; then
	if [ "${CI:-}" = true ]; then
		echo "1..1"
		echo "not ok 1 - no modules built"
		exit 1
	fi
	echo "1..0 # SKIP no modules built"
	exit 0
fi

echo "1..$#"
if ! command -v "$NM" >/dev/null 2>&1; then
	i=0
	for m in "$@"; do
		i=$((i + 1))
		echo "not ok $i - $m: '$NM' not found (binutils)"
	done
	exit 1
fi

i=0 failed=0
for m in "$@"; do
	i=$((i + 1))
	if ! out=$("$NM" -D --defined-only "$m" 2>&1); then
		echo "not ok $i - $m: nm failed"
		echo "$out" | sed 's/^/# /'
		failed=1
		continue
	fi
	# "ADDRESS TYPE NAME"; D/R/B (data, read-only data, bss) are objects. AddressSanitizer
	# builds add an __odr_asan.<symbol> marker for each exported object: not an export of
	# the module's own.
	extra=$(echo "$out" | awk -v s="$symbol" 'NF >= 2 && $NF != s && $NF !~ /^__odr_asan[.]/ { print $NF }' | tr '\n' ' ' | sed 's/ $//')
	desc=$(echo "$out" | awk -v s="$symbol" 'NF >= 2 && $NF == s { print $(NF - 1) }')
	if [ -n "$extra" ]; then
		echo "not ok $i - $m: exports more than $symbol: $extra"
		failed=1
	elif [ -z "$desc" ]; then
		echo "not ok $i - $m: does not export $symbol"
		failed=1
	elif ! echo "$desc" | grep -qx '[DRB]'; then
		echo "not ok $i - $m: $symbol is not a data object (nm type $desc)"
		failed=1
	else
		echo "ok $i - $m"
	fi
done
exit $failed
