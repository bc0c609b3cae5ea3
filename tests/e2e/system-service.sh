#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --source journal --sink nft with system services: a running unit gets its rule at
# start; a started unit can send; after a restart (new cgroup) it still can; after a stop
# its rule is gone and nothing stale remains; ten restarts in a row end with one correct
# rule per configured line; SIGTERM exits 0 and leaves the rules; --flush removes what an
# earlier run left.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 18
tb_boot

{
	tb_base_ruleset
	cat <<-'NFT'

		# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app.service" udp dport 7001 accept
		# early.service :: add rule inet filter whitelist \
		#   socket cgroupv2 level 2 "system.slice/early.service" udp dport 7002 accept

		## two rules for one unit
		# burst.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/burst.service" udp dport 7003 accept
		# burst.service :: inet filter whitelist socket cgroupv2 level 2 "system.slice/burst.service" udp dport 7004 accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service

for u in app early burst; do
	tb_simple_service $u.service
done
for p in 7001 7002 7003 7004; do
	tb_listen $p
done
W=(inet filter whitelist)
rule_count() { # PORT: rules for it, with a live path; want N
	test "$(tb_count_rules "${W[@]}" "\"system.slice/$1\" udp dport $2 accept")" = "$3"
}
no_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null
}
rule_gone() { # UNIT PORT: no rule for the port at all (live or stale)
	test "$(tb_count_rules "${W[@]}" "udp dport $2 accept")" = 0
}

tb_exec systemctl start early.service
tap_check "the whitelist chain blocks a unit without a rule" tb_blocked early.service 7002

tb_scnpm_start --source journal --sink nft --debug /etc/nftables.conf
tap_ok $? "scnpm starts and reports READY=1"

tap_check "a unit already running when scnpm starts gets its rule at start" \
	tb_allowed early.service 7002
tap_check "app.service, not running yet, is blocked" tb_blocked app.service 7001

tb_exec systemctl start app.service
tap_check "app.service started: allowed" tb_wait tb_allowed app.service 7001
tap_check "app.service started: exactly one rule, for its cgroup" rule_count app.service 7001 1

old=$(tb_cgroup_id app.service)
tb_exec systemctl restart app.service
new=$(tb_cgroup_id app.service)
echo "# app.service cgroup id $old -> $new"
tap_check "app.service restarted (new cgroup): still allowed" tb_wait tb_allowed app.service 7001
tap_check "app.service restarted: exactly one rule, none stale" \
	eval 'rule_count app.service 7001 1 && no_stale'

tb_exec systemctl stop app.service
tap_check "app.service stopped: its rule is gone" tb_wait rule_gone app.service 7001
tap_check "app.service stopped: nothing stale remains" no_stale

tb_exec systemctl start burst.service
tb_wait rule_count burst.service 7004 1
tb_sh 'start=$(date +%s%N)
	for i in 1 2 3 4 5 6 7 8 9 10; do systemctl restart burst.service; done
	echo "# ten restarts took $((($(date +%s%N) - start) / 1000000)) ms"'
burst_ok() {
	rule_count burst.service 7003 1 && rule_count burst.service 7004 1 &&
		test "$(tb_count_rules "${W[@]}" 'udp dport 700[34] accept')" = 2 && no_stale
}
tb_wait burst_ok
# a later event for another unit: once it is handled, whatever the burst queued is too
tb_exec systemctl start app.service
tb_wait rule_count app.service 7001 1
tap_check "ten restarts: exactly one correct rule per configured line" burst_ok
tap_check "ten restarts: both rules let the unit through" \
	eval 'tb_allowed burst.service 7003 && tb_allowed burst.service 7004'

tb_scnpm_stop
tap_check "SIGTERM: scnpm exits 0" \
	test "$(tb_scnpm_exit_status)" = "exited 0"
tap_check "SIGTERM: the rules stay in place" tb_allowed app.service 7001

# what an earlier run leaves behind: rules for cgroups that are gone, and one more
tb_exec systemctl restart early.service
tb_exec nft add rule inet filter whitelist udp dport 7999 accept comment '"left over"'
tap_check "(setup) stale rules from the earlier run are there" \
	eval '! no_stale && test "$(tb_count_rules "${W[@]}" "left over")" = 1'

tb_scnpm_start --flush --source journal --sink nft /etc/nftables.conf
tap_ok $? "scnpm --flush starts"
flushed() {
	no_stale && test "$(tb_count_rules "${W[@]}" "left over")" = 0 &&
		rule_count early.service 7002 1 && rule_count app.service 7001 1
}
tap_check "--flush removes rules left by an earlier run and applies the current ones" flushed
tap_check "--flush: early.service (restarted meanwhile) is allowed" tb_allowed early.service 7002
[ $TAP_FAILED = 0 ]
