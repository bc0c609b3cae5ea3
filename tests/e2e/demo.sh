#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# README's first command, demo/run, as a user runs it: it must tell the story it claims
# (without scnpm the rule cannot load and then matches nothing; with scnpm and the
# shipped unit the first packets get through, a firewall reload and a restart of scnpm
# lose nothing) and clean up after itself.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 7
out=$(BUILD_DIR=$TB_BUILD_DIR "$TB_SOURCE_DIR/demo/run" 2>&1)
rc=$?
printf '%s\n' "$out" | tap_diag
has() { printf '%s\n' "$out" | grep -Eq -- "$1"; }
tap_check "demo/run exits 0" test "$rc" = 0
tap_check "without scnpm: nft refuses the rule before the service ran" has "cgroupv2 path fails"
tap_check "without scnpm: after a restart the rule shows a bare id and the first packet is blocked" \
	eval 'has "first packet BLOCKED" && has "level 2 [0-9]+ udp dport 7001 accept +<- the bare id"'
# the count itself is the demo's to show; a near-miss of the race is not a failure here
tap_check "with scnpm: the first packets after the restarts got through" \
	has "the first packet got through (9|10) of 10 times"
tap_check "with scnpm: the rule is back after systemctl reload nftables" has "rule back within [0-9]+ ms"
tap_check "with scnpm: one copy of the rule after a restart of scnpm" has "1 copy of the rule"
tap_check "the demo cleaned up" has "^cleanup +container powered off"
exit $((TAP_FAILED > 0))
