#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm and changes around it: -u nftables.service brings the rules back after
# "systemctl restart nftables" replaced the ruleset (without touching anyone else's rule
# that now has an old handle of ours); -a UNIT re-applies; SIGHUP applies an added rule
# and withdraws a removed one; SIGHUP with a broken config keeps every rule and logs
# file:line; a forged journal entry (logger --journald, UNIT=, MESSAGE_ID=) changes
# nothing.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 16
tb_boot

# someone else's rules in the whitelist chain: after a ruleset reload they get the
# handles scnpm's rules had before
ruleset() {
	cat <<-'NFT'
		#!/usr/sbin/nft -f
		flush ruleset
		table inet filter {
			chain whitelist {
				udp dport 7901 counter comment "foreign"
				udp dport 7902 counter comment "foreign"
				udp dport 7903 counter comment "foreign"
				udp dport 7904 counter comment "foreign"
				udp dport 7905 counter comment "foreign"
				udp dport 7906 counter comment "foreign"
				udp dport 7907 counter comment "foreign"
				udp dport 7908 counter comment "foreign"
			}
			chain output {
				type filter hook output priority 0; policy accept;
				oifname "lo" udp dport 7000-7999 jump whitelist
				oifname "lo" udp dport 7000-7999 drop
			}
		}

	NFT
}
line() { # UNIT PORT
	echo "# $1 :: add rule inet filter whitelist socket cgroupv2 level 2 \"system.slice/$1\" udp dport $2 accept"
}
{
	ruleset
	line keep.service 7002
	line app.service 7001
	line sentinel.service 7004
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
for u in keep app app2 sentinel; do
	tb_simple_service $u.service
	tb_exec systemctl start $u.service
done
tb_write_unit reapply.service <<-'UNIT'
	[Unit]
	StartLimitIntervalSec=0
	[Service]
	Type=oneshot
	ExecStart=/bin/true
UNIT
for p in 7001 7002 7003 7004; do
	tb_listen $p
done

W=(inet filter whitelist)
has() { # UNIT PORT: exactly one live rule
	test "$(tb_count_rules "${W[@]}" "\"system.slice/$1\" udp dport $2 accept")" = 1
}
gone() { # PORT
	test "$(tb_count_rules "${W[@]}" "udp dport $1 accept")" = 0
}
no_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null
}
foreign_intact() {
	test "$(tb_count_rules "${W[@]}" 'comment "foreign"')" = 8
}
all_in_place() {
	has keep.service 7002 && has app.service 7001 && has sentinel.service 7004 && no_stale
}

tb_scnpm_start --source journal --sink nft -u nftables.service -a reapply.service --debug /etc/nftables.conf
tap_ok $? "scnpm -u nftables.service -a reapply.service starts"
tap_check "running units get their rules at start" all_in_place

# log_count PATTERN: how many lines of scnpm's log match (extended regex)
log_count() {
	tb_scnpm_log | grep -cE "$1"
}
# reloaded_after_last_start UNIT: scnpm re-read the config after it handled UNIT's
# latest "started": the -u work of that event is done
reloaded_after_last_start() {
	tb_scnpm_log | awk -v u="unit '$1' started" '
		index($0, u) { s = NR } /Configuration reloaded|re-applying its rules/ { r = NR }
		END { exit !(s && r > s) }'
}
starts=$(log_count "unit 'nftables.service' started")
tb_exec systemctl restart nftables.service
handled_restart() {
	[ "$(log_count "unit 'nftables.service' started")" -gt "$starts" ] &&
		reloaded_after_last_start nftables.service
}
tap_check "-u nftables.service: after 'systemctl restart nftables' the rules come back" \
	eval 'tb_wait handled_restart && tb_wait all_in_place'
tap_check "-u nftables.service: the units are allowed again" \
	eval 'tb_allowed keep.service 7002 && tb_allowed app.service 7001'
tap_check "-u nftables.service: every foreign rule survived (no delete by an old handle)" foreign_intact

restored=$(log_count "sink-nft: Restored")
tb_exec nft flush chain inet filter whitelist
did_restore() {
	[ "$(log_count "sink-nft: Restored")" -gt "$restored" ]
}
tap_check "nft flush chain by hand: sink-nft restores the rules by itself" \
	eval 'tb_wait did_restore && tb_wait all_in_place'
handles=$(tb_rule_handles "${W[@]}" 'socket cgroupv2')
reapplied=$(log_count "Re-applying all rules")
tb_exec systemctl start reapply.service
did_reapply() {
	[ "$(log_count "Re-applying all rules")" -gt "$reapplied" ]
}
# the log line proves -a acted; an unchanged state must not touch the kernel
tap_check "-a reapply.service: re-applies every rule, and leaves them as they are (same handles)" \
	eval 'tb_wait did_reapply && all_in_place && [ "$(tb_rule_handles "${W[@]}" "socket cgroupv2")" = "$handles" ]'
tap_check "-a reapply.service: the units are allowed" \
	eval 'tb_allowed keep.service 7002 && tb_allowed app.service 7001'

# SIGHUP with an edited config: app.service's line goes, app2.service's comes
{
	ruleset
	line keep.service 7002
	line app2.service 7003
	line sentinel.service 7004
} | tb_write_nftables_conf
hup() {
	tb_exec systemctl kill -s HUP --kill-who=main "$TB_SCNPM_UNIT"
}
hup
tap_check "SIGHUP: an added rule is applied (app2.service allowed)" \
	eval 'tb_wait has app2.service 7003 && tb_allowed app2.service 7003'
tap_check "SIGHUP: a removed rule is withdrawn (app.service blocked)" \
	eval 'tb_wait gone 7001 && tb_blocked app.service 7001'
tap_check "SIGHUP: the unchanged rules stay" eval 'has keep.service 7002 && has sentinel.service 7004 && no_stale'

# SIGHUP with a broken config
before=$(tb_rule_handles "${W[@]}" 'socket cgroupv2')
{
	ruleset
	line keep.service 7002
	echo "# bad.service :: add rule inet filter"
	line sentinel.service 7004
} | tb_write_nftables_conf
badline=$(grep -n '^# bad.service' "$TB_ROOT/etc/nftables.conf" | cut -d: -f1)
since=$(tb_exec date '+%Y-%m-%d %H:%M:%S')
hup
logged() {
	tb_scnpm_log --since "$since" | grep -q "/etc/nftables.conf:$badline"
}
tap_check "SIGHUP with a broken config: the error is logged with file:line (nftables.conf:$badline)" \
	tb_wait logged
tap_check "SIGHUP with a broken config: scnpm keeps running" tb_scnpm_running
tap_check "SIGHUP with a broken config: every rule stays in place, untouched" \
	eval 'test "$(tb_rule_handles "${W[@]}" "socket cgroupv2")" = "$before" && has app2.service 7003'

# forged journal entries: systemd's unit messages for app2.service, from a root process
tb_exec sh -c 'cat >/opt/tb/forged' <<-'EOF2'
	MESSAGE=Stopped app2.service.
	MESSAGE_ID=9d1aaa27d60140bd96365438aad20286
	SYSLOG_IDENTIFIER=systemd
	UNIT=app2.service
	JOB_TYPE=stop
	JOB_RESULT=done
	CODE_FILE=src/core/job.c
EOF2
tb_exec sh -c 'cat >/opt/tb/forged-user' <<-'EOF2'
	MESSAGE=Started app2.service.
	MESSAGE_ID=39f53479d3a045ac8e11786248231fbf
	SYSLOG_IDENTIFIER=systemd
	USER_UNIT=app2.service
	UNIT=app2.service
	JOB_TYPE=start
	JOB_RESULT=done
EOF2
before=$(tb_rule_handles "${W[@]}" 'keep.service|app2.service')
tb_exec systemd-run -q --wait logger --journald=/opt/tb/forged
tb_exec systemd-run -q --wait logger --journald=/opt/tb/forged-user
tb_exec logger --journald=/opt/tb/forged
forged_in_journal() {
	tb_exec journalctl -q --no-pager -o cat MESSAGE_ID=9d1aaa27d60140bd96365438aad20286 UNIT=app2.service | grep -q .
}
tb_wait forged_in_journal
# a real event after the forged ones: once it is handled, so are they
old_sentinel=$(tb_rule_handles "${W[@]}" 'sentinel.service')
tb_exec systemctl restart sentinel.service
sentinel_moved() {
	local h

	h=$(tb_rule_handles "${W[@]}" 'sentinel.service')
	[ -n "$h" ] && [ "$h" != "$old_sentinel" ]
}
tb_wait sentinel_moved
tap_check "(setup) the forged entries are in the journal, the real event after them was handled" \
	eval 'forged_in_journal && sentinel_moved'
tap_check "logger --journald with a forged UNIT= and MESSAGE_ID triggers nothing" \
	eval 'test "$(tb_rule_handles "${W[@]}" "keep.service|app2.service")" = "$before" && tb_allowed app2.service 7003'
[ $TAP_FAILED = 0 ]
