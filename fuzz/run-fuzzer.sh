#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# One time-bounded libFuzzer session: fuzz/run-fuzzer.sh FUZZER CORPUS WORKDIR
#
# Fuzzes for FUZZ_SECONDS (default 30) from the in-tree seed corpus CORPUS, writing new
# inputs to WORKDIR/corpus (never into the source tree) and a crashing input to
# WORKDIR/artifacts/. Prints one summary line (executions, coverage, corpus size); fails
# on any finding: a crash, a sanitizer report, a leak, a timeout or running out of memory.
# A finding's input belongs in CORPUS once its bug is fixed.
set -uo pipefail

fuzzer=$1 corpus=$2 work=$3
seconds=${FUZZ_SECONDS:-30}
name=$(basename "$fuzzer")

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
timeout --kill-after=10 $((seconds + 120)) "$fuzzer" \
	-max_total_time="$seconds" -error_exitcode=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$work/corpus" "$corpus" >"$work/log" 2>&1
rc=$?

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$work/log" | tail -1)
echo "$name: ${seconds}s, ${execs:-?} execs, ${cov:-no coverage line}, corpus $(find "$work/corpus" -type f | wc -l) new + $(find "$corpus" -type f | wc -l) seeds, exit $rc"
if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	tail -60 "$work/log"
	echo "finding(s) in $work/artifacts:"
	ls -l "$work/artifacts"
	exit 1
fi
exit 0
