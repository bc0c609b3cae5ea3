#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Failure modes around the firewall and the daemon itself, with the defaults (source
# cgroupfs, sinks nft and nftnl: rule text and set elements) and units churning:
#  - a chain and a set the config names are created after scnpm started: filled then;
#  - firewall reloads (systemctl restart nftables, nft -f, systemctl reload nftables)
#    while system services restart and user scopes come and go;
#  - kill -9 of scnpm while the churn goes on, a new scnpm started while it still does.
# After each, once the churn is stopped and one steady unit of each kind runs, the exact
# final state: every expected rule and element present exactly once, nothing stale, the
# foreign rules untouched (tb_exact_chain, tb_exact_set).
# (Elsewhere: second instance in self-healing.sh; SIGHUP in reload.sh; inotify overflow
# in cgroupfs.sh; cgroups gone before apply in churn.sh.)
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 15

tb_rootfs
{
	tb_failmode_ruleset --foreign 2 "set sset 2" "set uset 5"
	cat <<-'NFT'
		# keep.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7001 accept
		# fm-*.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7002 accept
		# fm-*.service :: add element inet filter sset { %{cgroup} }
		# user/fmu-*.scope :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7003 accept
		# user/fmu-*.scope :: add element inet filter uset { %{cgroup} }
		# late.service :: add rule inet filter late socket cgroupv2 level 2 "system.slice/late.service" accept
		# late.service :: add element inet filter lateset { %{cgroup} }
	NFT
} | tb_write_nftables_conf
# churn.sh (tb_churn_start): until stopped, system services restart (and now and then
# stop) and user scopes of a few reused names come and go; /run/churn-n counts the rounds.
cat >"$TB_ROOT/opt/tb/churn.sh" <<-'SH'
	i=0
	for (( ; ; )); do
		i=$((i + 1))
		systemctl restart "fm-$((i % 4 + 1)).service" &
		XDG_RUNTIME_DIR=/run/user/0 systemd-run --user -q --scope --unit "fmu-c$((i % 6))" \
			sleep "0.$((RANDOM % 4))" >/dev/null 2>&1 &
		[ $((i % 7)) = 0 ] && systemctl stop "fm-$((RANDOM % 4 + 1)).service"
		wait
		echo $i >/run/churn-n
	done
SH
tb_boot
tb_exec systemctl restart nftables.service
tb_start_user_manager
for u in keep fm-1 fm-2 fm-3 fm-4 late; do
	tb_simple_service $u.service
done
tb_exec systemctl start keep.service fm-1.service fm-2.service fm-3.service fm-4.service late.service

UAPP=user.slice/user-0.slice/user@0.service/app.slice
W=(inet filter whitelist)

# want_chain: the whitelist chain as it must be with every fm-* service and the steady
# user scope running
want_chain() {
	local i

	tb_foreign_rules 2
	echo 'socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7001 accept [scnpm]'
	for i in 1 2 3 4; do
		echo "socket cgroupv2 level 2 \"system.slice/fm-$i.service\" udp dport 7002 accept [scnpm]"
	done
	echo "socket cgroupv2 level 5 \"$UAPP/fmu-steady.scope\" udp dport 7003 accept [scnpm]"
}
exact() { # the whole state: chain, both sets, and the late ones when they exist
	tb_exact_chain "${W[@]}" "$(want_chain)" &&
		tb_exact_set inet filter sset "$(tb_live_ids fm-1.service fm-2.service fm-3.service fm-4.service)" &&
		tb_exact_set inet filter uset "$(tb_live_ids --user fmu-steady.scope)" &&
		late_exact
}
LATE=0	# 1 once the late chain and set exist
late_exact() {
	if [ $LATE = 0 ]; then
		! tb_exec nft list chain inet filter late >/dev/null 2>&1 || { TB_STATE_DIFF="chain late exists"; return 1; }
		return 0
	fi
	tb_exact_chain inet filter late 'socket cgroupv2 level 2 "system.slice/late.service" accept [scnpm]' &&
		tb_exact_set inet filter lateset "$(tb_live_ids late.service)"
}
steady() { # stop the churn, let its scopes end, every steady unit running
	tb_churn_stop
	tb_wait eval '[ -z "$(tb_systemctl --user list-units --no-legend --plain --state=active "fmu-c*")" ]' || return 1
	tb_exec systemctl start fm-1.service fm-2.service fm-3.service fm-4.service || return 1
	tb_systemctl --user is-active -q fmu-steady.scope && return 0
	tb_exec setsid -f env XDG_RUNTIME_DIR=/run/user/0 systemd-run --user -q --scope --unit fmu-steady \
		sleep infinity </dev/null >/dev/null 2>&1
	tb_wait tb_systemctl --user is-active -q fmu-steady.scope
}
log_count() {
	tb_scnpm_log | grep -cE "$1"
}

for p in 7001 7002 7003 7500; do
	tb_listen $p
done
tap_check "(setup) the steady units run" steady
tb_scnpm_start --debug /etc/nftables.conf
tap_ok $? "scnpm with its defaults (cgroupfs, nft and nftnl) starts"
TB_WAIT_TIMEOUT=20 tb_wait exact
tap_ok $? "at start: the exact state (7 rules, 4 + 1 elements, the foreign rules, no late chain)"

# ---------------------------------------------------------------------------
# A chain and a set created after scnpm started

missing_said() {
	tb_scnpm_log | grep -q 'as soon as table inet filter and chain late exist' &&
		tb_scnpm_log | grep -q 'inet filter lateset does not exist'
}
tap_check "the late chain and set, missing, are reported" tb_wait missing_said
tb_exec nft add chain inet filter late
tb_exec nft add set inet filter lateset '{ type cgroupsv2; }'
LATE=1
tap_check "created after start: the late chain gets its rule and the late set its element, exactly" \
	tb_wait exact

# ---------------------------------------------------------------------------
# Firewall reloads under churn

restored=$(log_count 'Restored')
tb_churn_start /opt/tb/churn.sh
tap_ok $? "(setup) the churn runs: services restart, user scopes come and go"
# the late chain and set go with each reload (nftables.conf does not have them)
LATE=0
for how in "systemctl restart nftables" "nft -f /etc/nftables.conf" "systemctl reload nftables"; do
	tb_exec $how
	tb_churn_more 3 || break
done
churned() {
	tb_churn_more 2 && [ "$(log_count 'Restored')" -gt "$restored" ]
}
tap_check "three firewall reloads while the churn went on, scnpm restored what they took" churned
echo "# churn rounds so far: $(tb_churn_rounds)"
steady
TB_WAIT_TIMEOUT=20 tb_wait exact
tap_ok $? "after the reloads and the churn: the exact state, foreign rules once each"
tap_check "and the steady units' packets pass, another unit's do not" \
	eval 'tb_allowed keep.service 7001 && tb_allowed fm-2.service 7002 && tb_allowed fm-3.service 7500 &&
		tb_allowed --user fmu-steady.scope 7003 && tb_blocked late.service 7001'
tb_exec nft add chain inet filter late
tb_exec nft add set inet filter lateset '{ type cgroupsv2; }'
LATE=1
tap_check "the late chain and set created again after the reloads: filled again, exactly" tb_wait exact

# ---------------------------------------------------------------------------
# kill -9 under churn, a new scnpm started while the churn goes on

tb_churn_start /opt/tb/churn.sh
pid=$(tb_scnpm_pid)
TB_EXPECT_DAEMON=""
tb_exec systemctl kill -s KILL "$TB_SCNPM_UNIT"
dead() {
	! tb_scnpm_running
}
tap_check "kill -9 of scnpm (pid $pid) during the churn" tb_wait dead
tb_churn_more 5
tb_scnpm_start --debug /etc/nftables.conf
tap_ok $? "a new scnpm starts while the churn goes on"
tb_churn_more 5
tap_check "(setup) the churn went on after the restart" tb_scnpm_running
steady
TB_WAIT_TIMEOUT=20 tb_wait exact
tap_ok $? "after kill -9 and restart under churn: the exact state (no duplicate, nothing stale)"
nope() {
	! tb_scnpm_log | grep -qE 'Assertion|segfault|double free'
}
tap_check "the new scnpm is still running, nothing alarming logged" \
	eval 'tb_scnpm_running && nope'
tb_scnpm_stop
[ $TAP_FAILED = 0 ]
