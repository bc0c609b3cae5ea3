#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Failure modes of the journal as an event source: scnpm (the shipped unit: a dynamic
# user in group systemd-journal) with --source journal and the default sinks (nft and
# nftnl: rule text and set elements), system and user services restarting in a loop
# (some units running before scnpm started) while
#  - the journal rotates (journalctl --rotate), again and again;
#  - it rotates and is vacuumed (--vacuum-files=1, --vacuum-time=1s);
#  - its directory is moved away and back, and made unreadable to scnpm's group while it
#    rotates (the new files cannot be opened), then readable again;
#  - journald is restarted while every unit restarts (PID 1 cannot log to it meanwhile:
#    what it said then is not in the journal, and scnpm looks at every unit again).
# After each, once the churn is stopped, the exact final state: every expected rule and
# element present exactly once, nothing stale, the foreign rules untouched
# (tb_exact_chain, tb_exact_set), the same scnpm still running; then every unit restarted
# once more gets its rules for its new cgroup. Last, the same with the cgroup source added
# (--source journal --source cgroupfs).
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 24

tb_rootfs
{
	tb_failmode_ruleset --foreign 2 "set jset 2" "set uset 5"
	cat <<-'NFT'
		# keep.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7001 accept
		# fj-*.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7002 accept
		# fj-*.service :: add element inet filter jset { %{cgroup} }
		# user/fju-*.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7003 accept
		# user/fju-*.service :: add element inet filter uset { %{cgroup} }
	NFT
} | tb_write_nftables_conf
# churn.sh (tb_churn_start): until stopped, the system services restart (now and then one
# stops) and the user services restart; /run/churn-n counts the rounds.
cat >"$TB_ROOT/opt/tb/churn.sh" <<-'SH'
	i=0
	for (( ; ; )); do
		i=$((i + 1))
		systemctl restart "fj-$((i % 4 + 1)).service" &
		XDG_RUNTIME_DIR=/run/user/0 systemctl --user restart "fju-$((i % 2 + 1)).service" &
		[ $((i % 5)) = 0 ] && systemctl restart keep.service &
		[ $((i % 7)) = 0 ] && systemctl stop "fj-$((RANDOM % 4 + 1)).service"
		wait
		echo $i >/run/churn-n
	done
SH
# what journald drops under load is not what this is about; and it is restarted more
# often than its start limit allows
mkdir -p "$TB_ROOT/etc/systemd/journald.conf.d" "$TB_ROOT/etc/systemd/system/systemd-journald.service.d"
printf '[Journal]\nRateLimitIntervalSec=0\n' >"$TB_ROOT/etc/systemd/journald.conf.d/tb-failmode.conf"
printf '[Unit]\nStartLimitIntervalSec=0\n' >"$TB_ROOT/etc/systemd/system/systemd-journald.service.d/tb-failmode.conf"
tb_boot
tb_exec systemctl restart nftables.service
tb_start_user_manager
SYS=(keep.service fj-1.service fj-2.service fj-3.service fj-4.service)
USR=(fju-1.service fju-2.service)
for u in "${SYS[@]}"; do
	tb_simple_service "$u"
done
for u in "${USR[@]}"; do
	tb_simple_service --user "$u"
done
# running before scnpm starts: the journal has nothing new to say about them
tb_exec systemctl start "${SYS[@]}"
tb_systemctl --user start "${USR[@]}"
for p in 7001 7002 7003 7500; do
	tb_listen $p
done

J=$(tb_exec sh -c 'd=$(ls -d /var/log/journal/*/ 2>/dev/null | head -1); echo "${d%/}"')
[ -n "$J" ] || tb_die "no persistent journal directory in the container"
UAPP=user.slice/user-0.slice/user@0.service/app.slice
W=(inet filter whitelist)

want_chain() {
	local i

	tb_foreign_rules 2
	echo 'socket cgroupv2 level 2 "system.slice/keep.service" udp dport 7001 accept [scnpm]'
	for i in 1 2 3 4; do
		echo "socket cgroupv2 level 2 \"system.slice/fj-$i.service\" udp dport 7002 accept [scnpm]"
	done
	for i in 1 2; do
		echo "socket cgroupv2 level 5 \"$UAPP/fju-$i.service\" udp dport 7003 accept [scnpm]"
	done
}
exact() {
	tb_exact_chain "${W[@]}" "$(want_chain)" &&
		tb_exact_set inet filter jset "$(tb_live_ids "${SYS[@]:1}")" &&
		tb_exact_set inet filter uset "$(tb_live_ids --user "${USR[@]}")"
}
# the same scnpm as at start, never restarted by systemd
PID=""
same_daemon() {
	tb_scnpm_running && [ "$(tb_scnpm_pid)" = "$PID" ] &&
		[ "$(tb_exec systemctl show -P NRestarts "$TB_SCNPM_UNIT")" = 0 ]
}
steady() { # stop the churn, every unit running
	tb_churn_stop
	tb_exec systemctl start "${SYS[@]}" && tb_systemctl --user start "${USR[@]}"
}
# settled WHAT: after the churn, the exact state and the same daemon
settled() {
	steady
	TB_WAIT_TIMEOUT=30 tb_wait exact
	tap_ok $? "$1: the exact state after the churn (7 rules, 4 + 2 elements, foreign rules once each)"
}
# restarted WHAT: every unit restarted once more gets its rules for its new cgroup
restarted() {
	local old

	old=$(tb_live_ids "${SYS[@]}"; tb_live_ids --user "${USR[@]}")
	tb_exec systemctl restart "${SYS[@]}" && tb_systemctl --user restart "${USR[@]}" &&
		[ "$(tb_live_ids "${SYS[@]}"; tb_live_ids --user "${USR[@]}")" != "$old" ] &&
		TB_WAIT_TIMEOUT=30 tb_wait exact && same_daemon
	tap_ok $? "$1: each unit restarted afterwards gets its rules (new cgroups), the same scnpm runs"
}

tb_install_shipped_unit 'ExecStart=' 'ExecStart=/opt/build/core/scnpm --source journal --debug /etc/nftables.conf'
TB_SCNPM_UNIT=scnpm.service
TB_EXPECT_DAEMON=1
tap_check "the shipped unit starts with --source journal (dynamic user, group systemd-journal)" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_scnpm_running'
PID=$(tb_scnpm_pid)
TB_WAIT_TIMEOUT=20 tb_wait exact
tap_ok $? "at start: the exact state, the units that ran before included"
tap_check "and packets pass: keep.service, fj-2.service, fju-1.service" \
	eval 'tb_allowed keep.service 7001 && tb_allowed fj-2.service 7002 && tb_allowed fj-3.service 7500 &&
		tb_allowed --user fju-1.service 7003'

# ---------------------------------------------------------------------------
# Rotation under churn

files() {
	tb_exec sh -c 'ls "$1" | grep -c "\.journal$"' - "$J"
}
tb_churn_start /opt/tb/churn.sh
tap_ok $? "(setup) the churn runs: system and user services restart"
rotations() {
	local i

	for ((i = 0; i < 10; i++)); do
		tb_exec journalctl --rotate >/dev/null 2>&1 && tb_churn_more 1 || return 1
	done
	[ "$(files)" -ge 10 ]
}
tap_check "journalctl --rotate ten times while the churn goes on (ten archived files)" rotations
settled "rotation"
restarted "rotation"

# ---------------------------------------------------------------------------
# Vacuuming under churn

tb_churn_start /opt/tb/churn.sh
vacuums() {
	local i

	for ((i = 0; i < 5; i++)); do
		tb_exec journalctl --rotate >/dev/null 2>&1 &&
			tb_exec journalctl --vacuum-files=1 >/dev/null 2>&1 && tb_churn_more 1 &&
			tb_exec journalctl --rotate >/dev/null 2>&1 &&
			tb_exec journalctl --vacuum-time=1s >/dev/null 2>&1 && tb_churn_more 1 || return 1
	done
	[ "$(files)" -le 2 ]
}
tap_check "rotation and vacuuming (--vacuum-files=1, --vacuum-time=1s) five times each under churn" vacuums
settled "vacuuming"
restarted "vacuuming"

# ---------------------------------------------------------------------------
# The journal unreadable for a moment

tb_churn_start /opt/tb/churn.sh
moved() {
	tb_exec mv "$J" "$J.away" && tb_churn_more 3 && tb_exec mv "$J.away" "$J" && tb_churn_more 2
}
tap_check "(setup) the journal directory moved away during 3 rounds of churn, and back" moved
settled "journal moved away and back"
MODE=$(tb_exec stat -c %a "$J")
tb_churn_start /opt/tb/churn.sh
unreadable() {
	tb_exec chmod 0700 "$J" && tb_exec journalctl --rotate >/dev/null 2>&1 && tb_churn_more 3 &&
		tb_exec chmod "$MODE" "$J" && tb_churn_more 2
}
tap_check "(setup) the journal directory unreadable to scnpm's group (mode 0700) while it rotated, then $MODE again" \
	unreadable
settled "journal unreadable and readable again"
restarted "journal unreadable and readable again"

# ---------------------------------------------------------------------------
# journald restarted under churn

journald_pid() {
	tb_exec systemctl show -P MainPID systemd-journald.service
}
# every unit restarted while journald restarts: PID 1 logs to the journal again only once
# journald is back, what it says meanwhile is not in the journal
journald_restart() {
	local old

	old=$(journald_pid)
	tb_exec bash -c 'systemctl restart systemd-journald.service & systemctl restart "$@" &
		XDG_RUNTIME_DIR=/run/user/0 systemctl --user restart fju-1.service fju-2.service & wait' - "${SYS[@]}" &&
		[ "$(journald_pid)" != "$old" ]
}
# unlogged: how many system units have no "Started" from PID 1 in the journal for the
# invocation that runs now
unlogged() {
	tb_exec bash -c 'n=0
		for u; do
			id=$(systemctl show -P InvocationID "$u")
			journalctl -q -o cat _PID=1 INVOCATION_ID="$id" MESSAGE_ID=39f53479d3a045ac8e11786248231fbf |
				grep -q . || n=$((n + 1))
		done
		echo $n' - "${SYS[@]}"
}
tb_churn_start /opt/tb/churn.sh
journald_restarts() {
	local i

	for ((i = 0; i < 3; i++)); do
		journald_restart && tb_churn_more 2 || return 1
	done
	tb_churn_stop
	journald_restart
}
tap_check "systemctl restart systemd-journald four times while every unit restarts, under churn" \
	journald_restarts
echo "# system units whose last start is not in the journal: $(unlogged) of ${#SYS[@]}"
said_restarted() {
	[ "$(tb_scnpm_log | grep -c 'journald restarted: what PID 1 logged meanwhile')" -ge 4 ]
}
tap_check "scnpm noticed each new journald and looked at every unit again" tb_wait said_restarted
settled "journald restarted"
restarted "journald restarted"

# ---------------------------------------------------------------------------
# With the cgroup source too

tb_exec systemctl stop scnpm.service
TB_EXPECT_DAEMON=""
tb_install_shipped_unit 'ExecStart=' 'ExecStart=/opt/build/core/scnpm --source journal --source cgroupfs --debug /etc/nftables.conf'
TB_EXPECT_DAEMON=1
tap_check "scnpm --source journal --source cgroupfs starts" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_scnpm_running'
PID=$(tb_scnpm_pid)
tb_churn_start /opt/tb/churn.sh
all_at_once() {
	tb_exec journalctl --rotate >/dev/null 2>&1 && tb_churn_more 1 &&
		tb_exec journalctl --vacuum-files=1 >/dev/null 2>&1 && tb_churn_more 1 &&
		journald_restart && tb_churn_more 2 && tb_churn_stop && journald_restart
}
tap_check "(setup) rotation, vacuuming and a journald restart under churn" all_at_once
settled "both sources"
restarted "both sources"
nope() {
	! tb_scnpm_log | grep -qE 'Assertion|segfault|double free'
}
tap_check "the same scnpm still runs, nothing alarming logged" eval 'same_daemon && nope'
tb_exec systemctl stop scnpm.service
TB_EXPECT_DAEMON=""
[ $TAP_FAILED = 0 ]
