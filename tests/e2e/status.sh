#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# "scnpm status" tells the truth, read from the kernel at that moment, with the shipped
# unit (control socket /run/scnpm/io.scnpm, default sinks): for a system service (a
# literal rule, sink-nft), a user service (a templated rule, sink-nft) and a globbed
# user scope (a set element, sink-nftnl), before and after each restarts, and after
# "nft -f /etc/nftables.conf" and "systemctl restart nftables" (flush ruleset): every
# instance enforced, exit 0. A unit whose rule cannot load (its chain does not exist) is
# reported as not enforced, with a non-zero exit, also in the whole-daemon view. The
# journal holds each unit's history: "journalctl -u scnpm SCNPM_UNIT=app.service" shows
# it applied and restored (MESSAGE_IDs of catalog/scnpm.catalog). --json parses (jq).
# units/scnpm.socket: a call activates the daemon, which serves the socket passed in.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
[ -f "$TB_BUILD_DIR/units/scnpm.service" ] || tb_missing "$TB_BUILD_DIR/units/scnpm.service not configured"
command -v jq >/dev/null || tb_missing "jq not installed (tools/install-deps)"
tap_plan 25
tb_boot

U=user.slice/user-0.slice/user@0.service/app.slice
{
	tb_base_ruleset | sed -e 's/^[[:space:]]*chain whitelist {$/\t\tset scopes { type cgroupsv2; }\n&\n\t\tsocket cgroupv2 level 5 @scopes udp dport 7013 accept/'
	cat <<-'NFT'

		# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app.service" udp dport 7001 counter accept
		# user/uapp.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7011 accept
		# user/app-st-*.scope :: add element inet filter scopes { %{cgroup} }
		## its chain does not exist: the rule cannot load
		# bad.service :: add rule inet filter nosuchchain socket cgroupv2 level 2 "system.slice/bad.service" accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
tb_simple_service app.service
tb_simple_service bad.service
tb_exec systemctl start app.service
tb_start_user_manager
tb_simple_service --user uapp.service
tb_systemctl --user start uapp.service
for p in 7001 7011 7013; do tb_listen $p; done
scope_start() { # NAME
	tb_sh "XDG_RUNTIME_DIR=/run/user/0 setsid -f systemd-run --user -q --scope --unit $1 sleep 600 </dev/null >/dev/null 2>&1" &&
		tb_wait tb_systemctl --user is-active -q "$1"
}
scope_start app-st-1.scope

tb_install_shipped_unit RestartSec=1s
TB_SCNPM_UNIT=scnpm.service
TB_EXPECT_DAEMON=1

st() { # ARGS...: scnpm status as an administrator runs it; its output on stdout
	tb_exec timeout 30 /opt/build/core/scnpm status "$@"
}
# the verdicts of every instance in a JSON answer, one a line
verdicts() {
	jq -r '.directives[].instances[].verdict'
}
enforced() { # UNIT: DescribeUnit says enforced for every instance, exit 0
	local out

	out=$(st --json=short "$1") || return 1
	[ -n "$(echo "$out" | verdicts)" ] && ! echo "$out" | verdicts | grep -vqx enforced
}
all_enforced() {
	enforced app.service && enforced uapp.service && enforced "$SCOPE"
}
SCOPE=app-st-1.scope

tap_check "(setup) the shipped unit starts" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service'
tap_check "the system service, the user service and the scope are allowed" \
	eval 'tb_wait tb_allowed app.service 7001 && tb_wait tb_allowed --user uapp.service 7011 && tb_wait tb_allowed --user "$SCOPE" 7013'

tap_check "scnpm status UNIT: each of the three is enforced (exit 0)" tb_wait all_enforced
out=$(st app.service)
echo "$out" | tap_diag
tap_check "scnpm status app.service names its cgroup and the rule's handle in the kernel" \
	eval 'echo "$out" | grep -q "system.slice/app.service" && echo "$out" | grep -q "handle [0-9]"'
out=$(st "$SCOPE")
echo "$out" | tap_diag
tap_check "scnpm status $SCOPE: the element of set scopes, for its cgroup id ($(tb_cgroup_id --user "$SCOPE"))" \
	eval 'echo "$out" | grep -q "element inet filter scopes $(tb_cgroup_id --user "$SCOPE")"'
tap_check "scnpm status 'user/app-st-*.scope' (a glob) lists the scope, enforced" \
	eval 'st --json "user/app-st-*.scope" | jq -e "[.directives[].instances[] | select(.unit == \"$SCOPE\") | .verdict] == [\"enforced\"]" >/dev/null'

# the rule that cannot load
bad() {
	local out rc

	out=$(st bad.service)
	rc=$?
	echo "$out" | tap_diag
	[ $rc != 0 ] && echo "$out" | grep -qi "not enforced"
}
tb_exec systemctl start bad.service
tap_check "a unit whose rule failed to load: scnpm status bad.service says not enforced, exits non-zero" tb_wait bad
tap_check "scnpm status (everything) exits non-zero too, and counts the problem" \
	eval '! st >/dev/null && st --json | jq -e ".problems >= 1" >/dev/null'
tap_check "its reason is the kernel's" \
	eval 'st --json bad.service | jq -e "[.directives[].instances[] | select(.verdict == \"not_enforced\") | .result] == [\"failed\"]" >/dev/null'
tb_exec systemctl stop bad.service
tap_check "bad.service stopped: nothing is wrong any more, scnpm status exits 0" \
	tb_wait eval 'st >/dev/null'

# restarts: new cgroups, new ids
old_ids="$(tb_cgroup_id app.service) $(tb_cgroup_id --user uapp.service)"
tb_exec systemctl restart app.service
tb_systemctl --user restart uapp.service
tb_systemctl --user stop "$SCOPE"
SCOPE=app-st-2.scope
scope_start "$SCOPE"
tap_check "after restarts (new cgroups, not $old_ids) all three are enforced again" tb_wait all_enforced
tap_check "and the kernel's ids are the new cgroups'" \
	eval 'st --json app.service | jq -e "[.directives[].instances[].kernel.cgroup_id] == [$(tb_cgroup_id app.service)]" >/dev/null'
tap_check "the stopped scope is not listed as enforced anywhere" \
	eval '! st --json "app-st-1.scope" | jq -e "[.directives[].instances[] | select(.verdict == \"enforced\")] | length > 0" >/dev/null'

# firewall reloads
for how in "nft -f /etc/nftables.conf" "systemctl restart nftables"; do
	tb_exec $how
	tap_check "$how: all three enforced again, scnpm status exits 0" \
		eval 'tb_wait all_enforced && tb_wait eval "st >/dev/null"'
done
tap_check "the daemon's health counts what sink-nft restored" \
	eval 'st --json | jq -e "[.daemon.modules[] | select(.name == \"sink-nft\") | .health.restored] | .[0] >= 2" >/dev/null'
tap_check "scnpm status prints the daemon's summary" eval 'st | grep -q "rules"'

# the journal, per unit
journal_ids() { # UNIT
	tb_exec journalctl -q --no-pager -u scnpm.service "SCNPM_UNIT=$1" -o export | sed -n 's/^MESSAGE_ID=//p' | sort -u
}
journal_ids app.service | tap_diag
tap_check "journalctl -u scnpm SCNPM_UNIT=app.service: applied (c3edb5b8...) and restored (76cc1a52...)" \
	eval 'journal_ids app.service | grep -qx c3edb5b8f2804dc692e968c62273fe8d && journal_ids app.service | grep -qx 76cc1a52b0d4416f9aed330728cfa44b'
tap_check "only that unit's entries" \
	eval '! tb_exec journalctl -q --no-pager -u scnpm.service SCNPM_UNIT=app.service -o cat | grep -q uapp.service'
tap_check "journalctl SCNPM_UNIT=bad.service: failed (4f2157b1...), with its rule's file:line" \
	eval 'journal_ids bad.service | grep -qx 4f2157b1fc7842979eb2e646d0be292e && tb_exec journalctl -q --no-pager SCNPM_UNIT=bad.service -o export | grep -q "^SCNPM_RULE=/etc/nftables.conf:[0-9]"'

tap_check "--json is JSON (jq), for the whole daemon and for a unit" \
	eval 'st --json | jq -e .daemon.version >/dev/null && st --json=short uapp.service | jq -e .unit >/dev/null'

TB_EXPECT_DAEMON=""
tb_exec systemctl stop scnpm.service

# socket activation: units/scnpm.socket holds /run/scnpm/io.scnpm, a call starts the
# daemon, which serves the socket it is passed (same inode) and leaves it when it stops
tb_exec rm -f /run/scnpm/io.scnpm
tb_write_unit scnpm.socket <"$TB_BUILD_DIR/units/scnpm.socket"
sock() {
	tb_exec stat -c '%a %F %i' /run/scnpm/io.scnpm 2>/dev/null
}
tap_check "scnpm.socket listens on /run/scnpm/io.scnpm, mode 0600, the daemon stopped" \
	eval 'tb_exec systemctl start scnpm.socket && sock | grep -q "^600 socket " && ! tb_exec systemctl is-active -q scnpm.service'
inode=$(sock)
tap_check "scnpm status starts scnpm.service through the socket and gets its answer" \
	eval 'st app.service | tap_diag; test ${PIPESTATUS[0]} = 0 && tb_exec systemctl is-active -q scnpm.service'
tap_check "the daemon serves the socket it was passed (same inode: $inode)" \
	eval 'test "$(sock)" = "$inode"'
tb_exec systemctl stop scnpm.service
tap_check "scnpm.service stopped: the socket stays, and the next call starts it again" \
	eval 'test "$(sock)" = "$inode" && st app.service >/dev/null && tb_exec systemctl is-active -q scnpm.service'
tb_exec systemctl stop scnpm.service scnpm.socket
[ $TAP_FAILED = 0 ]
