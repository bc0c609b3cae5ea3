#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Failure modes under load, with the defaults (source cgroupfs, sinks nft and nftnl:
# rule text and set elements):
#  - 500 units started with one systemctl call, restarted with one, stopped with one;
#  - a flapping unit (Restart=always, RestartSec=0, exits at once) restarted by systemd
#    hundreds of times, then held up, then stopped;
#  - lost netlink notifications: scnpm stopped (SIGSTOP) while "nft -f" loads tens of
#    thousands of rules after "flush ruleset", more than its receive buffers hold, and a
#    unit restarts meanwhile; after SIGCONT both sinks see ENOBUFS and resync.
# Each ends with the exact final state: every expected rule and element present exactly
# once, nothing stale, the foreign rules untouched (tb_exact_chain, tb_exact_set).
set -u
. "$(dirname "$0")/lib.sh"

N_MANY=500
N_BULK=${N_BULK:-60000}	# foreign rules loaded while scnpm is stopped

tb_preflight
tap_plan 15

tb_rootfs
{
	tb_failmode_ruleset --foreign 1 "set many 3" "set fset" "set kset" "chain manyc" "chain bulk"
	cat <<-'NFT'
		# many@*.service :: add rule inet filter manyc socket cgroupv2 level %{level} %{cgroup} accept
		# many@*.service :: add element inet filter many { %{cgroup} }
		# flap.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/flap.service" udp dport 7001 accept
		# flap.service :: add element inet filter fset { %{cgroup} }
		# keep.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7002 accept
		# keep.service :: add element inet filter kset { %{cgroup} }
	NFT
} | tb_write_nftables_conf
cat >"$TB_ROOT/opt/tb/flap.sh" <<-'SH'
	#!/bin/sh
	[ -e /run/flap-hold ] && exec sleep infinity
	exit 0
SH
chmod +x "$TB_ROOT/opt/tb/flap.sh"
tb_boot
tb_exec systemctl restart nftables.service
tb_simple_service keep.service
tb_simple_service many@.service
tb_write_unit flap.service <<-'UNIT'
	[Unit]
	StartLimitIntervalSec=0
	[Service]
	Restart=always
	RestartSec=0
	ExecStart=/opt/tb/flap.sh
UNIT
tb_exec systemctl start keep.service
tb_listen 7001
tb_listen 7002
tb_listen 7003

W=(inet filter whitelist)
MANY=()
for ((i = 1; i <= N_MANY; i++)); do
	MANY+=("many@$i.service")
done
FLAP_UP=0	# 1 while flap.service is held up

want_whitelist() {
	tb_foreign_rules 1
	echo 'socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7002 accept [scnpm]'
	[ $FLAP_UP = 1 ] && echo 'socket cgroupv2 level 2 "system.slice/flap.service" udp dport 7001 accept [scnpm]'
	return 0
}
want_manyc() { # N: the rules of many@1..N
	local i

	for ((i = 1; i <= $1; i++)); do
		echo "socket cgroupv2 level 3 \"system.slice/system-many.slice/many@$i.service\" accept [scnpm]"
	done
}
# exact N: the whole state with many@1..N running
exact() {
	local n=$1 flap=""

	[ $FLAP_UP = 1 ] && flap=$(tb_live_ids flap.service)
	tb_exact_chain "${W[@]}" "$(want_whitelist)" &&
		tb_exact_chain inet filter manyc "$(want_manyc "$n")" &&
		tb_exact_set inet filter many "$( ((n > 0)) && tb_live_ids "${MANY[@]:0:n}")" &&
		tb_exact_set inet filter fset "$flap" &&
		tb_exact_set inet filter kset "$(tb_live_ids keep.service)"
}
active_many() {
	tb_exec systemctl list-units --no-legend --plain --state=active 'many@*.service' | grep -c .
}

tb_scnpm_start /etc/nftables.conf
tap_ok $? "scnpm with its defaults (cgroupfs, nft and nftnl) starts"
tap_check "at start: the exact state" tb_wait exact 0

# ---------------------------------------------------------------------------
# 500 units at once

tap_check "(setup) $N_MANY units started with one systemctl call" \
	eval 'tb_exec systemctl start "${MANY[@]}" && [ "$(active_many)" = $N_MANY ]'
TB_WAIT_TIMEOUT=60 tb_wait exact $N_MANY
tap_ok $? "$N_MANY units at once: $N_MANY rules and $N_MANY elements, each once, for the live cgroups"
tap_check "many@250.service passes through the set" tb_allowed many@250.service 7003
old=$(tb_live_ids many@1.service)
tap_check "(setup) the $N_MANY restarted with one call" \
	eval 'tb_exec systemctl restart "${MANY[@]}" && [ "$(active_many)" = $N_MANY ] && [ "$(tb_live_ids many@1.service)" != "$old" ]'
TB_WAIT_TIMEOUT=60 tb_wait exact $N_MANY
tap_ok $? "$N_MANY restarted at once: exactly the new ids and rules, nothing stale"
tb_exec systemctl stop "${MANY[@]}"
TB_WAIT_TIMEOUT=60 tb_wait exact 0
tap_ok $? "$N_MANY stopped at once: no rule and no element left for them"

# ---------------------------------------------------------------------------
# A flapping unit

tb_exec rm -f /run/flap-hold
tb_exec systemctl start --no-block flap.service
restarts() {
	tb_exec systemctl show -P NRestarts flap.service
}
TB_WAIT_TIMEOUT=60 tb_wait eval '[ "$(restarts)" -ge 300 ]'
tap_ok $? "(setup) flap.service restarted by systemd $(restarts) times"
tb_exec touch /run/flap-hold
up() {
	[ "$(tb_exec systemctl show -P SubState flap.service)" = running ]
}
tb_wait up
FLAP_UP=1
tap_check "held up after flapping: one rule and one element, for the live cgroup, nothing stale" \
	eval 'tb_wait exact 0 && tb_allowed flap.service 7001'
tb_exec systemctl stop flap.service
FLAP_UP=0
tap_check "stopped: its rule and element are gone" tb_wait exact 0

# ---------------------------------------------------------------------------
# Lost notifications: a bulk load while scnpm cannot read

tb_exec bash -c 'cat /etc/nftables.conf; echo "table inet filter {"; echo " chain bulk {";
	for ((i = 0; i < $1; i++)); do
		echo "  ip daddr 10.$((i >> 16 & 255)).$((i >> 8 & 255)).$((i & 255)) accept comment \"bulk\""
	done; echo " }"; echo "}"' - "$N_BULK" >"$TB_ROOT/opt/tb/bulk.nft"
tb_exec touch /run/flap-hold
tb_exec systemctl start flap.service
FLAP_UP=1
tb_wait exact 0
pid=$(tb_scnpm_pid)
TB_EXPECT_DAEMON=""
tb_exec kill -STOP "$pid"
stopped() {
	tb_exec grep -q '^State:.*T (stopped)' "/proc/$pid/status"
}
loaded() {
	tb_exec nft -f /opt/tb/bulk.nft &&
		[ "$(tb_exec nft list chain inet filter bulk | grep -c 'comment "bulk"')" = "$N_BULK" ]
}
tap_check "(setup) scnpm stopped; nft -f: flush ruleset and $N_BULK foreign rules, keep.service restarted" \
	eval 'tb_wait stopped && loaded && tb_exec systemctl restart keep.service'
tb_exec kill -CONT "$pid"
TB_EXPECT_DAEMON=1
lost() {
	tb_scnpm_log | grep -q 'sink-nft: Lost nftables notifications' &&
		tb_scnpm_log | grep -q 'sink-nftnl: Lost nf_tables notifications'
}
tap_check "after SIGCONT both sinks report lost notifications (ENOBUFS) and resync" tb_wait lost
TB_WAIT_TIMEOUT=30 tb_wait exact 0
tap_ok $? "after the resync: the exact state (the rules back once, keep.service's new id, nothing stale)"
tap_check "the $N_BULK foreign rules are untouched, and the units pass" \
	eval '[ "$(tb_exec nft list chain inet filter bulk | grep -c "comment \"bulk\"")" = "$N_BULK" ] &&
		[ "$(tb_nft_tagged inet filter bulk)" = 0 ] && tb_allowed keep.service 7002 && tb_allowed flap.service 7001'
tb_exec systemctl stop flap.service
tb_scnpm_stop
[ $TAP_FAILED = 0 ]
