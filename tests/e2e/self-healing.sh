#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What an administrator does to the firewall every week does not undo scnpm, with the
# shipped unit and no option added (no -u, no --flush): after "systemctl restart
# nftables", "systemctl reload nftables" and "nft -f /etc/nftables.conf" (all starting
# with "flush ruleset") the rule is back at once and the unit's traffic passes; after
# kill -9 scnpm comes back (Restart=on-failure) and adopts its rule, once, with its
# counter; a rule left for a cgroup that was replaced meanwhile is swept; the foreign rule
# in the same chain survives everything; a second scnpm refuses to start.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
[ -f "$TB_BUILD_DIR/units/scnpm.service" ] || tb_missing "$TB_BUILD_DIR/units/scnpm.service not configured"
tap_plan 12
tb_boot

W=(inet filter whitelist)
{
	tb_base_ruleset | sed 's/^[[:space:]]*chain whitelist {$/&\n\t\tudp dport 7999 accept comment "foreign"/'
	cat <<-'NFT'

		# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app.service" udp dport 7001 counter accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
tb_simple_service app.service
tb_exec systemctl start app.service
tb_listen 7001

# the unit as installed, running the build's binary and modules
tb_install_shipped_unit RestartSec=1s
echo "# $(grep ^ExecStart= "$TB_DIR/scnpm.service")"
TB_SCNPM_UNIT=scnpm.service
TB_EXPECT_DAEMON=1

ours_once() { # exactly one rule for app.service, tagged, naming its live cgroup
	test "$(tb_count_rules "${W[@]}" '"system.slice/app.service" udp dport 7001 counter')" = 1 &&
		test "$(tb_nft_tagged "${W[@]}")" = 1 && test -z "$(tb_stale_rules "${W[@]}")"
}
foreign_once() {
	test "$(tb_nft_rules "${W[@]}" | grep -cxF 'udp dport 7999 accept comment "foreign"')" = 1
}
restored() { # COUNT-BEFORE: the sink said it restored something since
	test "$(tb_scnpm_log | grep -c 'sink-nft: Restored')" -gt "$1"
}
n_restored() {
	tb_scnpm_log | grep -c 'sink-nft: Restored'
}
main_pid() {
	tb_exec systemctl show -P MainPID scnpm.service
}
packets() { # the counter of our rule
	tb_nft_rules "${W[@]}" | sed -n 's/.*udp dport 7001 counter packets \([0-9]*\) .*/\1/p'
}

tap_check "(setup) the shipped unit starts, with no option added, and app.service is allowed" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_wait ours_once && tb_allowed app.service 7001'

for how in "systemctl restart nftables" "systemctl reload nftables" "nft -f /etc/nftables.conf"; do
	before=$(n_restored)
	tb_exec $how
	# tb_wait gives up after TB_WAIT_TIMEOUT; the log line and the rule must come first
	tap_check "$how: the rule is restored, once, and app.service is allowed" \
		eval 'tb_wait restored $before && tb_wait ours_once && tb_allowed app.service 7001'
done
tap_check "the foreign rule in the same chain is there exactly once" foreign_once

for i in 1 2 3; do tb_allowed app.service 7001 >/dev/null; done
handle=$(tb_rule_handles "${W[@]}" 'udp dport 7001')
count=$(packets)
pid=$(main_pid)
kill9() { # the running scnpm; not "kill -9 0" should it be gone
	[ -n "$pid" ] && [ "$pid" -gt 1 ] && tb_exec kill -9 "$pid"
}
# down on purpose until it is back
TB_EXPECT_DAEMON=""
kill9
back() {
	local p

	p=$(main_pid)
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid" ] &&
		tb_exec systemctl is-active -q scnpm.service
}
tap_check "kill -9: Restart=on-failure brings scnpm back" tb_wait back
TB_EXPECT_DAEMON=1
adopted() {
	ours_once && test "$(tb_rule_handles "${W[@]}" 'udp dport 7001')" = "$handle"
}
tap_check "after kill -9 the rule is adopted: once, same handle ($handle)" tb_wait adopted
tap_check "and its counter was not reset ($count packets before)" \
	eval 'test "$(packets)" -ge "$count" && test "$count" -ge 3'

# scnpm down while app.service restarts: the old rule now matches a dead cgroup id
pid=$(main_pid)
TB_EXPECT_DAEMON=""
kill9
tb_exec systemctl restart app.service
tap_check "a rule left for a cgroup replaced while scnpm was down is swept: once, for the live cgroup" \
	eval 'tb_wait back && tb_wait ours_once && tb_allowed app.service 7001'
TB_EXPECT_DAEMON=1
tap_check "the foreign rule survived all of it" foreign_once

second() {
	local out rc

	out=$(tb_exec env RUNTIME_DIRECTORY=/run/scnpm "${TB_SAN_ENV[@]}" timeout 20 /opt/build/core/scnpm \
		--module-dir "$(tb_module_dirs)" --source journal --sink nft /etc/nftables.conf 2>&1)
	rc=$?
	echo "$out" | tap_diag
	[ $rc = 1 ] && echo "$out" | grep -q "Another scnpm (PID $(main_pid)) keeps the firewall"
}
tap_check "a second scnpm refuses to start (exit 1), naming the running one" second
tap_check "and the first one is unharmed: the rule is still there once" \
	eval 'ours_once && foreign_once && tb_exec systemctl is-active -q scnpm.service'

TB_EXPECT_DAEMON=""
tb_exec systemctl stop scnpm.service
[ $TAP_FAILED = 0 ]
