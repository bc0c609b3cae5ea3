#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The testbed itself, without scnpm: the container boots, a unit's packets on loopback
# reach a listener, the whitelist chain blocks them, a hand-written "socket cgroupv2"
# rule lets them through, and after a restart of the unit the same rule no longer
# matches (nft shows the old cgroup's id): the problem scnpm solves.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight --no-build
tap_plan 8
tb_boot

tb_base_ruleset | tb_write_nftables_conf

tap_check "lo is up in the container" tb_sh 'ip -o link show lo | grep -q "UP"'
tb_simple_service app.service
tb_exec systemctl start app.service
tb_listen 7001
tap_check "a service's packet reaches a listener on loopback" tb_allowed app.service 7001
tb_exec systemctl restart nftables.service
tap_check "nftables.service loads the container's own ruleset" \
	tb_sh 'nft list chain inet filter whitelist >/dev/null'
tap_check "the whitelist chain blocks the service" tb_blocked app.service 7001
tb_exec nft add rule inet filter whitelist socket cgroupv2 level 2 '"system.slice/app.service"' accept
tap_check "a socket cgroupv2 rule for its cgroup lets it through" tb_allowed app.service 7001
old_id=$(tb_cgroup_id app.service)
tb_exec systemctl restart app.service
tap_check "after a restart the rule shows the old cgroup id ($old_id), not the path" \
	tb_sh "nft list chain inet filter whitelist | grep -q 'level 2 $old_id accept'"
tap_check "and the restarted service is blocked" tb_blocked app.service 7001

tb_start_user_manager
tb_simple_service --user uapp.service
tb_systemctl --user start uapp.service
tap_check "user services run at level 5 under user@0.service" \
	test "$(tb_cgroup --user uapp.service)" = "user.slice/user-0.slice/user@0.service/app.slice/uapp.service"
[ $TAP_FAILED = 0 ]
