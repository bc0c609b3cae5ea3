#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The installed unit (units/scnpm.service, as configured into the build dir) on a real
# systemd: with its hardening (DynamicUser, CAP_NET_ADMIN only, journal group, netlink
# and unix sockets only, real-time priority 1) scnpm starts, follows a service across a restart, reloads with
# "systemctl reload" and stops cleanly.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
[ -f "$TB_BUILD_DIR/units/scnpm.service" ] || tb_missing "$TB_BUILD_DIR/units/scnpm.service not configured"
tap_plan 12
tb_boot

tb_app_with_rule
tb_simple_service app2.service
tb_exec systemctl start app2.service
tb_listen 7002

# the unit as installed, but running the build's binary and modules
tb_install_shipped_unit Restart=no
echo "# $(grep ^ExecStart= "$TB_DIR/scnpm.service")"

tap_check "systemd-analyze verify accepts the unit" \
	eval 'tb_exec systemd-analyze verify --man=no /run/systemd/system/scnpm.service 2>&1 | tap_diag; test ${PIPESTATUS[0]} = 0'

TB_SCNPM_UNIT=scnpm.service
TB_EXPECT_DAEMON=1
security() {
	local score

	score=$(tb_exec systemd-analyze security --no-pager scnpm.service 2>/dev/null |
		sed -n 's/.*Overall exposure level for scnpm.service: \([0-9.]*\).*/\1/p')
	echo "# systemd-analyze security: exposure $score"
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 1.1) }'
}
tap_check "systemd-analyze security rates the unit's exposure 1.1 or less" security
tap_check "systemctl start scnpm.service (Type=notify) succeeds" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_scnpm_running'
pid=$(tb_exec systemctl show -P MainPID scnpm.service)
tap_check "it runs as an unprivileged dynamic user with CAP_NET_ADMIN only" \
	eval 'tb_exec awk "/^Uid:/ { exit !(\$2 != 0) } /^CapEff:/ { exit !(\$2 == \"0000000000001000\") }" /proc/$pid/status'
tap_check "it runs at the lowest real-time priority (SCHED_FIFO 1), RestrictRealtime=yes kept" \
	eval 'tb_exec chrt -p "$pid" | grep -q "policy: SCHED_FIFO" && tb_exec chrt -p "$pid" | grep -q "priority: 1$" &&
		test "$(tb_exec systemctl show -P RestrictRealtime scnpm.service)" = yes'
tap_check "a running service gets its rule at start" tb_wait tb_allowed app.service 7001
tb_exec systemctl restart app.service
tap_check "the rule follows the service across a restart" tb_wait tb_allowed app.service 7001

echo '# app2.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app2.service" udp dport 7002 accept' \
	>>"$TB_ROOT/etc/nftables.conf"
tb_exec systemctl reload scnpm.service
tap_check "systemctl reload (SIGHUP) applies an added rule" tb_wait tb_allowed app2.service 7002
good_conf=$(cat "$TB_ROOT/etc/nftables.conf")
before=$(tb_exec nft -a list ruleset)
echo '# bad;name.service :: add rule inet filter whitelist accept' >>"$TB_ROOT/etc/nftables.conf"
tap_check "systemctl reload with a broken config fails, naming file:line" \
	eval '! tb_exec systemctl reload scnpm.service && tb_scnpm_log | grep -q "/etc/nftables.conf:[0-9]*: invalid unit name"'
tap_check "and leaves the ruleset byte-identical, scnpm running" \
	eval 'test "$(tb_exec nft -a list ruleset)" = "$before" && tb_scnpm_running'
printf '%s\n' "$good_conf" >"$TB_ROOT/etc/nftables.conf"
tap_check "no permission errors in its log" \
	eval '! tb_scnpm_log | grep -iE "permission denied|operation not permitted|EPERM|EACCES"'

TB_EXPECT_DAEMON=""
tb_exec systemctl stop scnpm.service
tap_check "systemctl stop: it ends without failure and the rules stay" \
	eval 'test "$(tb_exec systemctl show -P Result scnpm.service)" = success && tb_allowed app.service 7001'
[ $TAP_FAILED = 0 ]
