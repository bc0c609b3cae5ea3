#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --source journal --sink nft with units of the user manager user@0.service: a user
# service (systemctl --user) and a transient user scope (systemd-run --user --scope) can
# send when started, still can after a restart (new cgroup), and lose their rule when
# they stop, leaving nothing stale.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 12
tb_boot

U=user.slice/user-0.slice/user@0.service/app.slice
{
	tb_base_ruleset
	cat <<-NFT

		# uapp.service :: add rule inet filter whitelist socket cgroupv2 level 5 "$U/uapp.service" udp dport 7011 accept
		## a scope, started with systemd-run --user --scope --unit app-mail.scope
		# app-mail.scope :: add rule inet filter whitelist socket cgroupv2 level 5 \\
		#   "$U/app-mail.scope" udp dport 7012 accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
tb_listen 7011
tb_listen 7012
tb_start_user_manager
tb_simple_service --user uapp.service

W=(inet filter whitelist)
rule_count() { # UNIT PORT N
	test "$(tb_count_rules "${W[@]}" "\"$U/$1\" udp dport $2 accept")" = "$3"
}
no_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null
}
rule_gone() { # UNIT PORT
	test "$(tb_count_rules "${W[@]}" "udp dport $2 accept")" = 0
}
scope_start() {
	tb_sh 'XDG_RUNTIME_DIR=/run/user/0 setsid -f systemd-run --user -q --scope --unit app-mail.scope sleep 600 </dev/null >/dev/null 2>&1' &&
		tb_wait tb_systemctl --user is-active -q app-mail.scope
}

tb_scnpm_start --source journal --sink nft --debug /etc/nftables.conf
tap_ok $? "scnpm starts"

tb_systemctl --user start uapp.service
tap_check "user service started: allowed" tb_wait tb_allowed --user uapp.service 7011
tap_check "user service started: exactly one rule, for its cgroup" rule_count uapp.service 7011 1
tb_systemctl --user restart uapp.service
tap_check "user service restarted (new cgroup): still allowed" tb_wait tb_allowed --user uapp.service 7011
tap_check "user service restarted: exactly one rule, none stale" \
	eval 'rule_count uapp.service 7011 1 && no_stale'
tb_systemctl --user stop uapp.service
tap_check "user service stopped: rule gone, nothing stale" eval 'tb_wait rule_gone uapp.service 7011 && no_stale'

scope_start
tap_check "user scope started: allowed" tb_wait tb_allowed --user app-mail.scope 7012
tap_check "user scope started: exactly one rule" rule_count app-mail.scope 7012 1
tb_systemctl --user stop app-mail.scope
tap_check "user scope stopped: rule gone, nothing stale" eval 'tb_wait rule_gone app-mail.scope 7012 && no_stale'
scope_start
tap_check "user scope started again (new cgroup): allowed" tb_wait tb_allowed --user app-mail.scope 7012
tap_check "user scope started again: exactly one rule, none stale" \
	eval 'rule_count app-mail.scope 7012 1 && no_stale'
tap_check "a system service of the same name is not let through" \
	eval 'tb_simple_service uapp.service && tb_exec systemctl start uapp.service && tb_blocked uapp.service 7011'
[ $TAP_FAILED = 0 ]
