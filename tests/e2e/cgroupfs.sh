#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --source cgroupfs --sink nft with templated, manager-qualified rules
# (socket cgroupv2 level %{level} %{cgroup}): a system service, a user service of
# user@0.service and transient user scopes matched by a glob are allowed by real packets
# on loopback across start, restart (new cgroup) and stop, with exactly one rule each and
# nothing stale; a unit running before scnpm starts gets its rule from the initial scan;
# a service whose very first action is to send a packet gets it through (the cgroup, and
# so the rule, exists before the process runs); --source cgroupfs --source journal
# together keep one rule per unit; and the daemon stopped with SIGSTOP while more cgroups
# come and go than the inotify queue holds converges after SIGCONT.
#
# The flood cgroups live in the container's cgroup subtree, which is part of the host's
# single cgroup2 hierarchy: they are removed (and checked removed) before the container
# goes, and lib.sh's teardown removes the whole per-run subtree after it.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 37
tb_boot

FLOOD=/sys/fs/cgroup/tbflood.slice
flood_cleanup() {
	[ -n "$TB_LEADER" ] || return 0
	tb_exec sh -c "[ -d $FLOOD ] || exit 0; find $FLOOD -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir $FLOOD" 2>/dev/null
}
cg_exit() {
	local rc=$?

	flood_cleanup
	(exit $rc)
	tb_teardown
}
trap cg_exit EXIT

RULE='socket cgroupv2 level %{level} %{cgroup}'
{
	tb_base_ruleset
	cat <<-NFT

		# system/cg-sys.service :: add rule inet filter whitelist $RULE udp dport 7021 accept
		# user/cg-user.service :: add rule inet filter whitelist $RULE udp dport 7022 accept
		# user/app-test-*.scope :: add rule inet filter whitelist $RULE udp dport 7023 accept
		# system/cg-early.service :: add rule inet filter whitelist $RULE udp dport 7024 accept
		# system/cg-first.service :: add rule inet filter whitelist $RULE udp dport 7025 accept
		# system/cg-born.service :: add rule inet filter whitelist $RULE udp dport 7031 accept
		# system/cg-gone.service :: add rule inet filter whitelist $RULE udp dport 7032 accept
		# system/cg-kept.service :: add rule inet filter whitelist $RULE udp dport 7033 accept
		# system/flood-*.scope :: add rule inet filter whitelist $RULE udp dport 7034 accept
		# system/cg-after.service :: add rule inet filter whitelist $RULE udp dport 7035 accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service

for u in cg-sys cg-early cg-born cg-gone cg-kept cg-after cg-user; do
	tb_simple_service $u.service
done
# ExecStart's very first action is the packet; then it records whether the kernel let
# it out, under its invocation id (also the token), and stays running.
tb_write_unit cg-first.service <<-'EOF'
	[Unit]
	StartLimitIntervalSec=0
	[Service]
	ExecStart=/bin/bash -c 'if echo "$INVOCATION_ID" >/dev/udp/127.0.0.1/7025; then r=sent; else r=blocked; fi; echo "$INVOCATION_ID $r" >>/run/cg-first.status; exec sleep infinity'
EOF
for p in 7021 7022 7023 7024 7025 7031 7032 7033 7035; do
	tb_listen $p
done
tb_start_user_manager
tb_simple_service --user cg-user.service

W=(inet filter whitelist)
# one_rule CGROUP PORT: exactly one rule for PORT, and it names CGROUP (live) at its level
one_rule() {
	local lvl

	[ -n "$1" ] || return 1
	lvl=$(echo "$1" | awk -F/ '{ print NF }')
	test "$(tb_count_rules "${W[@]}" "udp dport $2 accept")" = 1 &&
		test "$(tb_count_rules "${W[@]}" "^socket cgroupv2 level $lvl \"$1\" udp dport $2 accept")" = 1
}
no_rule() { # PORT
	test "$(tb_count_rules "${W[@]}" "udp dport $1 accept")" = 0
}
no_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null
}
# unit_ok [--user] UNIT PORT: allowed by a real packet, one rule for its cgroup, none stale
unit_ok() {
	local user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	tb_wait one_rule "$(tb_cgroup "${user[@]}" "$1")" "$2" && no_stale &&
		tb_allowed "${user[@]}" "$1" "$2"
}
scope_start() { # NAME
	tb_sh "XDG_RUNTIME_DIR=/run/user/0 setsid -f systemd-run --user -q --scope --unit $1 sleep 600 </dev/null >/dev/null 2>&1" &&
		tb_wait tb_systemctl --user is-active -q "$1"
}

# ---------------------------------------------------------------------------
# start, restart, stop: system service, user service, globbed user scopes

tb_exec systemctl start cg-early.service
tb_scnpm_start --source cgroupfs --sink nft /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs --sink nft starts and reports READY=1"
tap_check "a unit running before scnpm started gets its rule from the initial scan" \
	unit_ok cg-early.service 7024

tb_exec systemctl start cg-sys.service
tap_check "system service started: allowed, one rule for system.slice/cg-sys.service (level 2)" \
	unit_ok cg-sys.service 7021
old=$(tb_cgroup_id cg-sys.service)
tb_exec systemctl restart cg-sys.service
echo "# cg-sys.service cgroup id $old -> $(tb_cgroup_id cg-sys.service)"
tap_check "system service restarted (new cgroup): allowed, one rule, none stale" \
	unit_ok cg-sys.service 7021
tb_exec systemctl stop cg-sys.service
tap_check "system service stopped: rule gone, nothing stale" \
	eval 'tb_wait no_rule 7021 && no_stale'

tb_systemctl --user start cg-user.service
echo "# cg-user.service cgroup: $(tb_cgroup --user cg-user.service)"
tap_check "user service started: allowed, one rule for its cgroup (level 5)" \
	unit_ok --user cg-user.service 7022
tb_systemctl --user restart cg-user.service
tap_check "user service restarted (new cgroup): allowed, one rule, none stale" \
	unit_ok --user cg-user.service 7022
tb_systemctl --user stop cg-user.service
tap_check "user service stopped: rule gone, nothing stale" \
	eval 'tb_wait no_rule 7022 && no_stale'
tb_exec systemctl start cg-user.service
tap_check "a system service named like the user rule's unit is not let through (user/ qualifier)" \
	eval 'tb_blocked cg-user.service 7022 && no_rule 7022'
tb_exec systemctl stop cg-user.service

S1=app-test-$RANDOM.scope
S2=app-test-$RANDOM-b.scope
scope_start $S1
tap_check "user scope $S1 matched by user/app-test-*.scope: allowed, one rule" \
	unit_ok --user $S1 7023
tb_systemctl --user stop $S1
tap_check "user scope stopped: rule gone, nothing stale" eval 'tb_wait no_rule 7023 && no_stale'
scope_start $S1
tap_check "the same scope again (new cgroup): allowed, one rule, none stale" \
	unit_ok --user $S1 7023
scope_start $S2
two_scopes() {
	test "$(tb_count_rules "${W[@]}" "udp dport 7023 accept")" = 2 &&
		test "$(tb_count_rules "${W[@]}" "\"$(tb_cgroup --user $S1)\" udp dport 7023")" = 1 &&
		test "$(tb_count_rules "${W[@]}" "\"$(tb_cgroup --user $S2)\" udp dport 7023")" = 1
}
tap_check "a second scope $S2 matched by the glob: one rule each, both allowed" \
	eval 'tb_wait two_scopes && no_stale && tb_allowed --user $S1 7023 && tb_allowed --user $S2 7023'
scope_start app-other-$RANDOM.scope
tap_check "a scope the glob does not match gets no rule" \
	eval 'two_scopes && no_stale'
tb_systemctl --user stop $S1 $S2
tap_check "both scopes stopped: no rule left for the glob, nothing stale" \
	eval 'tb_wait no_rule 7023 && no_stale'

# A stopped scnpm leaves its rules in place (as the original): every later start in
# this script is a --flush start, so that what an earlier run left cannot count.

# ---------------------------------------------------------------------------
# The rule before the first packet: cg-first.service sends as its very first action.

# first_packets N: restart cg-first.service N times (after stopping it), each time
# waiting until its process has sent; prints how many of the N first packets arrived.
# A send the output hook dropped fails at once (EPERM) and is recorded "blocked".
first_packets() {
	local i id got=0 ids=()

	tb_exec systemctl stop cg-first.service
	for ((i = 0; i < $1; i++)); do
		tb_exec systemctl restart cg-first.service
		id=$(tb_exec systemctl show -P InvocationID cg-first.service)
		tb_wait tb_exec grep -q "^$id " /run/cg-first.status || tb_log "no status for $id"
		ids+=("$id")
	done
	for id in "${ids[@]}"; do
		tb_exec grep -qx "$id sent" /run/cg-first.status &&
			tb_wait tb_received 7025 "$id" && got=$((got + 1))
	done
	echo "$got"
}

tb_exec systemctl start cg-first.service
tap_check "(setup) cg-first.service's first packet at its first start arrives" \
	tb_wait tb_received 7025 "$(tb_exec systemctl show -P InvocationID cg-first.service)"
n=$(first_packets 20)
echo "# first packets through at restart, default cooldown (300 ms): $n/20"
# core/manager.c unit_trigger(): an event inside the unit's cooldown waits for its end,
# and a restart's STARTED (new cgroup) always follows the STOPPED just dispatched.
tap_ok "$([ "$n" -ge 18 ] && echo 0 || echo 1)" \
	"first packet of a restarted service, default cooldown: $n/20 arrived (want >= 18)"

tb_scnpm_stop
tb_scnpm_start --flush --source cgroupfs --sink nft --cooldown 0 /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs --cooldown 0 starts"
n=$(first_packets 20)
echo "# first packets through at restart, --cooldown 0: $n/20"
tap_check "first packet of a restarted service, --cooldown 0: $n/20 arrived (want >= 18)" \
	test "$n" -ge 18
tap_check "after 20 restarts: one rule for the live cgroup, none stale" \
	unit_ok cg-first.service 7025
tb_exec systemctl stop cg-first.service

# ---------------------------------------------------------------------------
# cgroupfs and journal together: the router coalesces what both report.

tb_scnpm_stop
tb_scnpm_start --flush --source cgroupfs --source journal --sink nft --debug /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs --source journal starts"
tb_exec systemctl start cg-sys.service
tap_check "both sources: system service started: allowed, one rule" unit_ok cg-sys.service 7021
for i in 1 2 3; do
	tb_exec systemctl restart cg-sys.service
done
# Barrier: once the journal source reported cg-after.service, it has read cg-sys's
# messages too; then let the cooldown (300 ms) of what they started run out.
tb_exec systemctl start cg-after.service
journal_caught_up() {
	tb_scnpm_log | grep -q "source-journal: unit 'cg-after.service' started"
}
tb_wait journal_caught_up || tb_log "the journal source did not report cg-after.service"
sleep 0.5
tap_ok "$(unit_ok cg-sys.service 7021; echo $?)" \
	"both sources: three restarts end with one rule for the live cgroup, allowed"
tb_exec systemctl stop cg-sys.service cg-after.service
tap_check "both sources: stopped: rule gone, nothing stale" eval 'tb_wait no_rule 7021 && no_stale'
tb_scnpm_stop

# ---------------------------------------------------------------------------
# SIGSTOP while more cgroups come and go than the inotify queue holds

tb_exec mkdir -p $FLOOD/flood-old-1.scope $FLOOD/flood-old-2.scope
tb_exec systemctl start cg-gone.service cg-kept.service
tb_scnpm_start --flush --source cgroupfs --sink nft /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs starts again"
flood_rules() { # the flood-*.scope rules name exactly these (live) cgroups
	local want=$# f

	test "$(tb_count_rules "${W[@]}" "udp dport 7034 accept")" = "$want" || return 1
	for f; do
		test "$(tb_count_rules "${W[@]}" "^socket cgroupv2 level 2 \"tbflood.slice/$f\" udp dport 7034 accept")" = 1 || return 1
	done
}
tap_check "(setup) rules for the units and the cgroups before the stop" \
	eval 'unit_ok cg-gone.service 7032 && unit_ok cg-kept.service 7033 &&
		tb_wait flood_rules flood-old-1.scope flood-old-2.scope'

pid=$(tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT")
stopped() {
	test "$(tb_exec awk '{ print $3 }' "/proc/$pid/stat")" = T
}
qmax=$(tb_exec cat /proc/sys/fs/inotify/max_queued_events)
n=$((qmax / 2 + 1000))
tb_exec kill -STOP "$pid"
tap_check "scnpm (pid $pid) stopped with SIGSTOP" tb_wait stopped
# n mkdir + n rmdir events in a watched slice: more than the queue holds
tb_exec bash -c 'cd "$1" && mkdir $(seq -f "flood-%g.scope" "$2") && rmdir $(seq -f "flood-%g.scope" "$2")' \
	- $FLOOD $n
echo "# $((2 * n)) events into a queue of fs.inotify.max_queued_events=$qmax"
# and after the overflow, changes the daemon only learns of by rescanning
tb_exec rmdir $FLOOD/flood-old-1.scope
tb_exec mkdir $FLOOD/flood-new-1.scope $FLOOD/flood-new-2.scope $FLOOD/flood-new-3.scope
tb_exec systemctl stop cg-gone.service
tb_exec systemctl start cg-born.service
tb_exec systemctl restart cg-kept.service
tap_check "(setup) scnpm stayed stopped meanwhile" stopped
tb_exec kill -CONT "$pid"

overflowed() {
	tb_scnpm_log | grep -q "queue overflowed"
}
tap_check "after SIGCONT: scnpm saw the queue overflow" tb_wait overflowed
tap_check "after SIGCONT: a unit started while stopped is allowed, one rule" \
	unit_ok cg-born.service 7031
tap_check "after SIGCONT: a unit stopped while stopped has no rule" tb_wait no_rule 7032
tap_check "after SIGCONT: a unit restarted while stopped is allowed, one rule, none stale" \
	unit_ok cg-kept.service 7033
tap_check "after SIGCONT: the flood-*.scope rules name exactly the cgroups that exist" \
	eval 'tb_wait flood_rules flood-old-2.scope flood-new-1.scope flood-new-2.scope flood-new-3.scope && no_stale'
tb_exec systemctl start cg-after.service
tap_check "after SIGCONT: scnpm keeps working (a unit started now gets its rule)" \
	unit_ok cg-after.service 7035
tap_check "scnpm is still running" tb_scnpm_running

flood_cleanup
tap_check "every flood cgroup is removed" eval "! tb_exec test -e $FLOOD"
tap_check "after the removals: no flood-*.scope rule left, nothing stale" \
	eval 'tb_wait no_rule 7034 && no_stale'
[ $TAP_FAILED = 0 ]
