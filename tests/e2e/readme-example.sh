#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The configuration example of the original scnpm's README, as its README describes it:
# a system service (postfix.service) allowed to port 25 through a whitelist chain, a
# user scope (app-mail.scope) allowed to mail ports, and the jump/drop rules around them.
# Adapted: "oifname my-vpn" becomes loopback traffic to the mail ports (lo plus the
# destination ports), user-1000/user@1000 becomes user-0/user@0, mail.intranet.local
# becomes 127.0.0.1. Run the way that README suggests: scnpm --flush --debug CONFIG.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 11
tb_boot

tb_write_nftables_conf <<'NFT'
#!/usr/sbin/nft -f
flush ruleset
table inet filter {
	chain vpn.whitelist {
	}
	chain output {
		type filter hook output priority 0; policy accept;
	}
}

## Allow connections to smtp over vpn for system postfix.service
# postfix.service :: add rule inet filter vpn.whitelist \
# socket cgroupv2 level 2 "system.slice/postfix.service" tcp dport 25 accept

## Allow connections to intranet mail for a scope unit running under "systemd --user"
## "systemd-run" can be used to easily start apps in custom scopes or slices
# app-mail.scope :: add rule inet filter vpn.whitelist socket cgroupv2 level 5 \
# "user.slice/user-0.slice/user@0.service/app.slice/app-mail.scope" \
# ip daddr 127.0.0.1 tcp dport {25, 143} accept

## Only allow whitelisted apps to connect over "lo" (the README's "my-vpn")
add rule inet filter output oifname lo tcp dport {25, 143} jump vpn.whitelist
add rule inet filter output oifname lo tcp dport {25, 143} drop
NFT
tb_exec systemctl restart nftables.service
tap_check "the README's config loads with nft -f (its scnpm lines are comments)" \
	tb_sh 'nft list chain inet filter output | grep -q "jump vpn.whitelist"'

tb_listen tcp 25
tb_listen tcp 143
tb_simple_service postfix.service
tb_simple_service other.service
tb_exec systemctl start other.service
tb_start_user_manager

W=(inet filter vpn.whitelist)
postfix_rule() {
	test "$(tb_count_rules "${W[@]}" '"system.slice/postfix.service" tcp dport 25 accept')" = 1
}
scope_rule() {
	test "$(tb_count_rules "${W[@]}" '"user.slice/user-0.slice/user@0.service/app.slice/app-mail.scope" ip daddr 127.0.0.1 tcp dport \{ 25, 143 \} accept')" = 1
}
nothing_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null
}

# "Starting the tool on boot should be scheduled after nftables.service, so that --flush
# option will be able to find all required chains"
tb_scnpm_start --flush --debug --source journal --sink nft /etc/nftables.conf
tap_ok $? "scnpm --flush --debug /etc/nftables.conf starts"

tb_exec systemctl start postfix.service
tap_check "postfix.service can connect to port 25" tb_wait tb_allowed --tcp postfix.service 25
tap_check "postfix.service cannot connect to port 143" tb_blocked --tcp postfix.service 143
tap_check "another service cannot connect to port 25 over the 'vpn'" tb_blocked --tcp other.service 25

# "when postfix.service is stopped/restarted ... corresponding vpn.whitelist rule will be
# removed and re-added, allowing access to a new cgroup"
tb_exec systemctl restart postfix.service
tap_check "postfix.service restarted: can connect to port 25 again" \
	eval 'tb_wait tb_allowed --tcp postfix.service 25 && postfix_rule && nothing_stale'
tb_exec systemctl stop postfix.service
tap_check "postfix.service stopped: its vpn.whitelist rule is removed" \
	eval 'tb_wait eval "! tb_nft_rules ${W[*]} | grep -q \"dport 25 accept\"" && nothing_stale'

tb_sh 'XDG_RUNTIME_DIR=/run/user/0 setsid -f systemd-run --user -q --scope --unit app-mail.scope sleep 600 </dev/null >/dev/null 2>&1'
tb_wait tb_systemctl --user is-active -q app-mail.scope
tap_check "app-mail.scope (systemd-run --user --scope) can connect to 25 and 143" \
	eval 'tb_wait tb_allowed --user --tcp app-mail.scope 25 && tb_allowed --user --tcp app-mail.scope 143'
tap_check "app-mail.scope: exactly one rule, for its cgroup" scope_rule

# "Multiple nftables rules linked to same systemd unit(s) are allowed." and the chains
# are dedicated to scnpm: both rules there, nothing else
tb_exec systemctl start postfix.service
tap_check "both rules in vpn.whitelist, nothing else" \
	eval 'tb_wait postfix_rule && scope_rule && test "$(tb_nft_rules "${W[@]}" | wc -l)" = 2'
tap_check "SIGTERM: scnpm exits 0, the rules stay" \
	eval 'tb_scnpm_stop; test "$(tb_scnpm_exit_status)" = "exited 0" && tb_allowed --tcp postfix.service 25'
[ $TAP_FAILED = 0 ]
