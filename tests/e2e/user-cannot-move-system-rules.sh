#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A user cannot move the rules of system units by naming their own units like them: a
# literal rule (its text names "system.slice/UNIT") is in the kernel exactly while that
# cgroup exists, whatever a manager says about a same-named unit, and an unqualified
# templated rule (%{cgroup}) is for system units only. uid 1000 (an ordinary user with
# its own user@1000.service) tries, against a system victim.service (allow rule) and a
# system guarded.service (deny rule):
#  - --source journal: starting and stopping user units victim.service and
#    guarded.service; a journal entry written by uid 1000 itself from its manager's
#    cgroup under its manager's name ("Stopped victim.service.", as UNIT= and USER_UNIT=);
#  - --source cgroupfs: directories guarded.service and victim.service made and removed
#    in the user's own subtree (app.slice);
#  - an unqualified "# tmpl.service :: ... %{cgroup} ..." rule: the system tmpl.service
#    gets a rule, the user's tmpl.service none.
# The system rules keep their handles and keep working (packets on loopback). Every
# "nothing changed" waits first for scnpm's debug line naming the user's unit, then for
# a barrier: uid 1000's sentinel.service (a rule of its own, user@1000/) started and
# stopped, its rule come and gone.
#
# shellcheck source-path=SCRIPTDIR
# Commands for the container and eval'd checks are single-quoted on purpose; lib
# functions with optional arguments are called without:
# shellcheck disable=SC2016,SC2119
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 19
tb_boot

U_UID=1000
U_CG=user.slice/user-$U_UID.slice/user@$U_UID.service
APP=$U_CG/app.slice
MADE=/run/tb-user-made.list	# directories this script made in the user's subtree

made_cleanup() {
	[ -n "$TB_LEADER" ] || return 0
	tb_exec sh -c '[ -f "$1" ] || exit 0; tac "$1" | while read -r d; do rmdir "$d" 2>/dev/null; done; rm -f "$1"' - "$MADE"
}
user_exit() {
	local rc=$?

	made_cleanup
	(exit $rc)
	tb_teardown
}
trap user_exit EXIT

# uid 1000: an account, a home, its user manager (after the system units below)

as_user() {
	tb_as_user "$@"
}
usystemctl() {
	as_user systemctl --user "$@"
}

# ---------------------------------------------------------------------------
# The ruleset: UDP to 7000-7999 must pass the whitelist, 8000-8999 passes unless the
# blacklist drops it. The system units get literal rules, tmpl.service an unqualified
# template; uid 1000's sentinel.service a qualified one (the barrier).

{
	cat <<-NFT
		#!/usr/sbin/nft -f
		flush ruleset
		table inet filter {
			chain whitelist {
			}
			chain blacklist {
			}
			chain output {
				type filter hook output priority 0; policy accept;
				oifname "lo" udp dport 8000-8999 jump blacklist
				oifname "lo" udp dport 7000-7999 jump whitelist
				oifname "lo" udp dport 7000-7999 drop
			}
		}

		# victim.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/victim.service" udp dport 7061 accept
		# guarded.service :: add rule inet filter blacklist socket cgroupv2 level 2 "system.slice/guarded.service" udp dport 8062 drop
		# tmpl.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7063 accept
		# user@$U_UID/sentinel.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7064 accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service

for u in victim guarded tmpl; do
	tb_simple_service $u.service
	tb_exec systemctl start $u.service
done
for p in 7061 7063 8062; do
	tb_listen $p
done
tb_user_setup $U_UID || tb_die "cannot set up uid $U_UID and its user manager"
U_GID=$TB_U_GID
for u in victim guarded tmpl sentinel hold; do
	tb_user_service $u.service
done
usystemctl daemon-reload
# hold.service keeps app.slice (the parent of the directories made below) alive
usystemctl start hold.service || tb_die "uid $U_UID cannot start its units"

W=(inet filter whitelist)
B=(inet filter blacklist)
rule_is() { # CHAIN-NAME PORT RULE: the chain's only rule for PORT is exactly RULE
	local chain=(inet filter "$1")

	test "$(tb_count_rules "${chain[@]}" "udp dport $2 ")" = 1 &&
		test "$(tb_nft_rules "${chain[@]}" | grep -cxF -- "$3")" = 1
}
victim_rule() {
	rule_is whitelist 7061 'socket cgroupv2 level 2 "system.slice/victim.service" udp dport 7061 accept'
}
guarded_rule() {
	rule_is blacklist 8062 'socket cgroupv2 level 2 "system.slice/guarded.service" udp dport 8062 drop'
}
tmpl_rule() {
	rule_is whitelist 7063 'socket cgroupv2 level 2 "system.slice/tmpl.service" udp dport 7063 accept'
}
handles() {
	local v g

	v=$(tb_rule_handles "${W[@]}" 'udp dport 7061 ')
	g=$(tb_rule_handles "${B[@]}" 'udp dport 8062 ')
	echo "handles: victim ${v% }, guarded ${g% }"
}
# the system rules are in place with the handles H and work: victim.service passes the
# whitelist, guarded.service is dropped
unchanged() {
	test "$(handles)" = "$H" && victim_rule && guarded_rule &&
		tb_allowed victim.service 7061 && tb_blocked guarded.service 8062
}
no_stale() {
	! tb_stale_rules "${W[@]}" >/dev/null && ! tb_stale_rules "${B[@]}" >/dev/null
}
# reported SOURCE UNIT CHANGE [CGROUP]: scnpm's debug line for uid 1000's UNIT
reported() {
	tb_scnpm_log | grep -qF "$1: unit '$2' $3 (manager 2, uid $U_UID${4:+, cgroup $4})"
}
# barrier: uid 1000's sentinel.service started and stopped, its rule came and went. The
# sources report in order, so everything reported before is dispatched before the start;
# and the stop goes out a cooldown after the start at the earliest, by when any event
# reported before it that a unit's cooldown held back has gone out too.
sentinel_rules() { # N
	test "$(tb_count_rules "${W[@]}" 'udp dport 7064 ')" = "$1" &&
		test "$(tb_count_rules "${W[@]}" "^socket cgroupv2 level 5 \"$APP/sentinel.service\" udp dport 7064 accept\$")" = "$1"
}
barrier() {
	usystemctl start sentinel.service && tb_wait sentinel_rules 1 &&
		usystemctl stop sentinel.service && tb_wait sentinel_rules 0
}

# ---------------------------------------------------------------------------
# 1. --source journal: uid 1000 starts and stops user units of the same names

tb_scnpm_start --source journal --sink nft --debug /etc/nftables.conf
tap_ok $? "scnpm --source journal --sink nft --debug starts"
H=$(handles)
tap_check "(setup) system victim.service: one allow rule, passes; guarded.service: one drop rule, dropped ($H)" \
	eval 'victim_rule && guarded_rule && tb_allowed victim.service 7061 && tb_blocked guarded.service 8062'
tap_check "(setup) the drop is guarded.service's own: victim.service passes on 8062" \
	tb_allowed victim.service 8062

for u in victim guarded; do
	usystemctl start $u.service
	usystemctl stop $u.service
done
tap_check "(setup) the barrier: uid $U_UID's sentinel.service got its rule and lost it" barrier
tap_check "the journal source reported uid $U_UID's victim.service and guarded.service started and stopped" \
	eval 'reported source-journal victim.service started && reported source-journal victim.service stopped &&
		reported source-journal guarded.service started && reported source-journal guarded.service stopped'
tap_check "user units of the same names come and go: both system rules in place, same handles, both work" \
	unchanged

# ---------------------------------------------------------------------------
# 2. a forged entry: uid 1000 from its manager's cgroup (init.scope) as comm "systemd",
#    over the native protocol, claims that victim.service stopped; once for the system
#    unit (UNIT=), once for its own (USER_UNIT=)

cat >"$TB_ROOT/opt/tb/forge" <<'EOF'
# perl /opt/tb/forge FILE...: each FILE (KEY=VALUE lines) one native journal entry, sent
# as comm "systemd"; then wait to be killed, so journald finds /proc/PID as it was
use strict;
use Socket;
$SIG{TERM} = sub { exit 0 };
open(my $c, '>', '/proc/self/comm') or die "comm: $!";
print $c 'systemd';
close($c);
socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
for my $f (@ARGV) {
	open(my $in, '<', $f) or die "$f: $!";
	local $/;
	my $msg = <$in>;
	close($in);
	send($s, $msg, 0, pack_sockaddr_un('/run/systemd/journal/socket')) or die "send: $!";
}
sleep;
EOF
forged_entry() { # TAG UNIT-FIELD
	printf '%s\n' "MESSAGE=Stopped victim.service." MESSAGE_ID=9d1aaa27d60140bd96365438aad20286 \
		SYSLOG_IDENTIFIER=systemd "$2=victim.service" JOB_TYPE=stop JOB_RESULT=done \
		CODE_FILE=src/core/job.c "TB_FORGED=$1" >"$TB_ROOT/opt/tb/forged-$1"
}
forged_entry system UNIT
forged_entry user USER_UNIT
forged_in_journal() { # TAG: in the journal, with the fields journald sets for uid 1000's manager
	tb_exec journalctl -q --no-pager -o cat "TB_FORGED=$1" _TRANSPORT=journal _UID=$U_UID \
		_COMM=systemd _SYSTEMD_UNIT=user@$U_UID.service _SYSTEMD_USER_UNIT=init.scope \
		_SYSTEMD_CGROUP=/$U_CG/init.scope | grep -q .
}
stopped_lines() {
	tb_scnpm_log | grep -cF "source-journal: unit 'victim.service' stopped (manager 2, uid $U_UID)"
}
n_stopped=$(stopped_lines)
tb_exec rm -f /run/tb-forge.pid
# placed in init.scope as root, then uid 1000 (a process cannot move itself there)
tb_exec bash -c 'echo $$ >/run/tb-forge.pid && echo $$ >"/sys/fs/cgroup/$0/cgroup.procs" && exec "$@"' \
	"$U_CG/init.scope" setpriv --reuid=$U_UID --regid="$U_GID" --clear-groups \
	perl /opt/tb/forge /opt/tb/forged-system /opt/tb/forged-user &
forge_nsenter=$!
tb_wait eval 'forged_in_journal system && forged_in_journal user'
forged=$?
forge_pid=$(tb_exec cat /run/tb-forge.pid 2>/dev/null)
[ -n "$forge_pid" ] && tb_exec kill "$forge_pid"
wait "$forge_nsenter" 2>/dev/null
tap_ok $forged "(setup) the forged entries are in the journal as uid $U_UID's manager's (pid $forge_pid)"
barrier
ignored_system() {
	tb_scnpm_log | grep -F "for 'victim.service' from _PID=$forge_pid _UID=$U_UID _COMM='systemd'" |
		grep -qF "without USER_UNIT="
}
forged_read() {
	ignored_system && test "$(stopped_lines)" -gt "$n_stopped"
}
tap_check "scnpm read both: UNIT= from uid $U_UID ignored, USER_UNIT= taken as uid $U_UID's victim.service stopped" \
	forged_read
tap_check "the forged stops change nothing: both system rules in place, same handles, both work" \
	unchanged

# ---------------------------------------------------------------------------
# 3. --source cgroupfs: as root, directories of those names in the user's own subtree

tb_scnpm_stop
tb_scnpm_start --flush --source cgroupfs --sink nft --debug /etc/nftables.conf
tap_ok $? "scnpm --flush --source cgroupfs --sink nft --debug starts"
H=$(handles)
tap_check "(setup) both system rules in place again, both work ($H)" unchanged

for u in guarded victim; do
	tb_exec sh -c 'mkdir "$1" && echo "$1" >>"$2"' - "/sys/fs/cgroup/$APP/$u.service" "$MADE"
	tb_exec rmdir "/sys/fs/cgroup/$APP/$u.service"
done
tap_check "(setup) the barrier: uid $U_UID's sentinel.service got its rule and lost it" barrier
tap_check "the cgroupfs source reported $APP/guarded.service and victim.service made and removed, as uid $U_UID's" \
	eval 'reported source-cgroupfs guarded.service started "$APP/guarded.service" &&
		reported source-cgroupfs guarded.service stopped "$APP/guarded.service" &&
		reported source-cgroupfs victim.service started "$APP/victim.service" &&
		reported source-cgroupfs victim.service stopped "$APP/victim.service"'
tap_check "same-named cgroups in the user's subtree come and go: both system rules in place, same handles, both work" \
	unchanged

# ---------------------------------------------------------------------------
# 4. an unqualified templated rule: the system tmpl.service only

tap_check "the unqualified template gives the system tmpl.service one rule (level 2, its cgroup): passes" \
	eval 'tb_wait tmpl_rule && tb_allowed tmpl.service 7063'
T0=$(tb_rule_handles "${W[@]}" 'udp dport 7063 ')
usystemctl start tmpl.service
u_cg=$(usystemctl show -P ControlGroup tmpl.service)
u_cg=${u_cg#/}
# u_send UNIT PORT TOKEN: from inside uid 1000's UNIT, as uid 1000 (placed there as root)
u_send() {
	tb_exec bash -c 'echo $$ >"/sys/fs/cgroup/$0/cgroup.procs" && exec "$@"' "$1" \
		setpriv --reuid=$U_UID --regid="$U_GID" --clear-groups \
		bash -c 'echo "$2" >"/dev/udp/127.0.0.1/$1"' - "$2" "$3" 2>/dev/null
}
u_blocked() { # CGROUP PORT
	local tok="tok-$$-$((++TB_TOKEN_SEQ))-user"

	u_send "$1" "$2" "$tok" && return 1
	! tb_received "$2" "$tok"
}
tap_check "(setup) uid $U_UID's tmpl.service runs ($u_cg), the barrier passed after it" \
	eval 'test "$u_cg" = "$APP/tmpl.service" && tb_exec test -d "/sys/fs/cgroup/$u_cg" && barrier'
user_tmpl_ruleless() {
	tmpl_rule && test "$(tb_rule_handles "${W[@]}" 'udp dport 7063 ')" = "$T0" &&
		! tb_nft_list | grep -qF "\"$u_cg\""
}
tap_check "uid $U_UID's tmpl.service gets no rule: still the system one only, same handle, nothing names $u_cg" \
	user_tmpl_ruleless
tap_check "uid $U_UID's tmpl.service is dropped, the system tmpl.service passes" \
	eval 'u_blocked "$u_cg" 7063 && tb_allowed tmpl.service 7063'
usystemctl stop tmpl.service

tap_check "at the end: scnpm still running, nothing stale, both system rules unchanged" \
	eval 'tb_scnpm_running && no_stale && unchanged'
[ "$TAP_FAILED" = 0 ]
