#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --source cgroupfs --sink nftnl: cgroup ids in "type cgroupsv2" sets and
# "type cgroupsv2 : verdict" maps, with the static rules of nftables.conf (one per
# cgroup level: 2 for system services, 5 for user units) loaded at boot by
# nftables.service. Checked by listing the sets (each element turned into its cgroup id)
# and with real packets on loopback:
#  - stale elements of an earlier run (a live cgroup no unit claims, a cgroup that is
#    gone) are removed at start; a unit running at start is added;
#  - a system service in a set and one in a verdict map, a user service in a set and
#    user scopes in a verdict map follow start, restart (the old id is swapped for the
#    new one) and stop; a map steers the unit's packets into a chain that lets one port
#    through and drops another;
#  - "systemctl restart nftables" and "nft -f /etc/nftables.conf" (both "flush ruleset")
#    empty the sets: the elements are back within a second, with no -u option and the
#    same daemon process;
#  - a set that does not exist is reported once and filled when it is created;
#  - a line sink-nftnl cannot express is a config error naming file:line;
#  - --source journal --source cgroupfs --sink nft --sink nftnl: element directives go
#    to nftnl, a text rule to nft.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 41

# ---------------------------------------------------------------------------
# The container's firewall, in its rootfs before boot; nftables.service loads it at boot.

tb_rootfs
tb_write_nftables_conf <<-'NFT'
	#!/usr/sbin/nft -f
	flush ruleset
	table inet filter {
		set allowed { type cgroupsv2; }
		set allowed_user { type cgroupsv2; }
		map unit_policy { type cgroupsv2 : verdict; }
		map unit_policy_user { type cgroupsv2 : verdict; }

		chain only_7101 {
			udp dport 7101 accept
			drop
		}
		chain only_7103 {
			udp dport 7103 accept
			drop
		}
		chain whitelist {
		}
		chain output {
			type filter hook output priority 0; policy accept;
			oifname "lo" udp dport 7100-7199 socket cgroupv2 level 2 @allowed accept
			oifname "lo" udp dport 7100-7199 socket cgroupv2 level 5 @allowed_user accept
			oifname "lo" udp dport 7100-7199 socket cgroupv2 level 2 vmap @unit_policy
			oifname "lo" udp dport 7100-7199 socket cgroupv2 level 5 vmap @unit_policy_user
			oifname "lo" udp dport 7100-7199 jump whitelist
			oifname "lo" udp dport 7100-7199 drop
		}
	}

	## scnpm (--sink nftnl): the sets and maps named here belong to scnpm
	# system/set-app.service :: add element inet filter allowed { %{cgroup} }
	# system/map-app.service :: add element inet filter unit_policy { %{cgroup} : jump only_7101 }
	# user/uset.service :: add element inet filter allowed_user { %{cgroup} }
	# user/app-tb-*.scope :: add element inet filter unit_policy_user \
	#   { %{cgroup} : jump only_7103 }
	## not in the ruleset at start: created by hand later
	# system/late.service :: add element inet filter late_set { %{cgroup} }
NFT
mkdir -p "$TB_ROOT/etc/systemd/system/sysinit.target.wants"
ln -sf /lib/systemd/system/nftables.service "$TB_ROOT/etc/systemd/system/sysinit.target.wants/"
# a text rule only sink-nft can express (its own file, passed only where nft is loaded)
cat >"$TB_ROOT/etc/scnpm-text.conf" <<-'NFT'
	## rules for --sink nft
	# system/text-app.service :: add rule inet filter whitelist socket cgroupv2 level 2 %{cgroup} udp dport 7102 accept
NFT
tb_boot

STALE=/sys/fs/cgroup/tbstale.slice
GONE=/sys/fs/cgroup/tbgone.slice
nl_exit() {
	local rc=$?

	[ -n "$TB_LEADER" ] && tb_exec rmdir $STALE $GONE 2>/dev/null
	(exit $rc)
	tb_teardown
}
trap nl_exit EXIT

# elems.sh set|map FAMILY TABLE NAME: the elements, one a line, sorted: the cgroup id
# (nft lists a live cgroup by its path, a gone one by its id), then " : VERDICT" for maps.
cat >"$TB_ROOT/opt/tb/elems.sh" <<-'SH'
	out=$(nft list "$@" 2>/dev/null) || exit 1
	body=$(printf '%s' "$out" | tr '\n\t' '  ' | sed -n 's/.*elements = {\([^}]*\)}.*/\1/p')
	IFS=, read -ra items <<<"$body"
	for it in "${items[@]}"; do
		it=$(printf '%s' "$it" | tr -s ' ' | sed 's/^ //; s/ $//')
		key=${it%% : *} val=""
		[ "$key" != "$it" ] && val=" : ${it#* : }"
		case $key in
		\"*\") key=${key//\"/}; key=$(stat -c %i "/sys/fs/cgroup/$key") || key="?" ;;
		esac
		echo "$key$val"
	done | sort
SH
# snapshot.sh: the elements of every managed set and map, one "NAME: ID[ : VERDICT]" a line
cat >"$TB_ROOT/opt/tb/snapshot.sh" <<-'SH'
	for t in "set allowed" "set allowed_user" "map unit_policy" "map unit_policy_user"; do
		bash /opt/tb/elems.sh $t inet filter | sed "s/^/${t#* }: /"
	done
SH
# refill.sh MS CMD...: run CMD (a firewall reload), then wait at most MS milliseconds for
# the sets and maps to hold what /opt/tb/expected says; prints the time it took. The bound
# is generous on purpose (a loaded 2-core CI machine): the time itself is reported in the
# check's description, not asserted. Runs in the container, so that the time measured
# is scnpm's, not nsenter's.
cat >"$TB_ROOT/opt/tb/refill.sh" <<-'SH'
	ms=$1
	shift
	"$@" || exit 2
	start=$(date +%s%N)
	while :; do
		bash /opt/tb/snapshot.sh | cmp -s - /opt/tb/expected && ok=1 || ok=0
		took=$((($(date +%s%N) - start) / 1000000))
		[ $ok = 1 ] && break
		[ $took -ge "$ms" ] && break
		sleep 0.01
	done
	echo "$took"
	[ $ok = 1 ] && [ $took -le "$ms" ]
SH

tb_exec systemctl is-active -q nftables.service
tap_ok $? "nftables.service loaded the sets, maps and static rules at boot"

for u in set-app map-app late text-app; do
	tb_simple_service $u.service
done
for p in 7101 7102 7103; do
	tb_listen $p
done
tb_start_user_manager
tb_simple_service --user uset.service

# elems set|map NAME: what the set or map of inet filter holds (see elems.sh)
elems() {
	tb_exec bash /opt/tb/elems.sh "$1" inet filter "$2"
}
# holds set|map NAME [LINE...]: it holds exactly these elements ("ID" or "ID : VERDICT")
holds() {
	local kind=$1 name=$2 got want

	shift 2
	got=$(elems "$kind" "$name") || return 1
	want=$(for l; do echo "$l"; done | sort)
	[ "$got" = "$want" ]
}
id() { # [--user] UNIT: its cgroup id, or a value matching nothing
	tb_cgroup_id "$@" 2>/dev/null || echo none
}
scope_start() { # NAME
	tb_sh "XDG_RUNTIME_DIR=/run/user/0 setsid -f systemd-run --user -q --scope --unit $1 sleep 600 </dev/null >/dev/null 2>&1" &&
		tb_wait tb_systemctl --user is-active -q "$1"
}
# steered [--user] UNIT: packets go through only_7101 (7101 passes, 7102 dropped)
steered_7101() {
	tb_allowed "$@" 7101 && tb_blocked "$@" 7102
}
# the --user scopes' chain: only_7103
steered_7103() {
	tb_allowed "$@" 7103 && tb_blocked "$@" 7101
}
in_set() { # [--user] UNIT: allowed on every port
	tb_allowed "$@" 7101 && tb_allowed "$@" 7102
}
blocked_all() {
	tb_blocked "$@" 7101 && tb_blocked "$@" 7102 && tb_blocked "$@" 7103
}
# ---------------------------------------------------------------------------
# A line sink-nftnl cannot express

tb_exec timeout 20 env SCNPM_MODULE_DIR="$(tb_module_dirs)" "${TB_SAN_ENV[@]}" /opt/build/core/scnpm \
	--source cgroupfs --sink nftnl /etc/nftables.conf /etc/scnpm-text.conf >/dev/null 2>"$TB_DIR/refused.log"
rc=$?
tap_check "--sink nftnl alone refuses a text rule: exit 1, file:line and 'use --sink nft' (rc $rc)" \
	eval 'test $rc = 1 && grep -q "/etc/scnpm-text.conf:2" "$TB_DIR/refused.log" && grep -q -- "--sink nft" "$TB_DIR/refused.log"'
tap_diag <"$TB_DIR/refused.log"

# ---------------------------------------------------------------------------
# Stale elements of an earlier run; a unit running before the daemon starts

tb_exec mkdir $STALE $GONE
tb_exec nft add element inet filter allowed '{ "tbstale.slice", "tbgone.slice" }'
tb_exec nft add element inet filter unit_policy '{ "tbstale.slice" : accept, "tbgone.slice" : jump only_7101 }'
stale_id=$(tb_exec stat -c %i $STALE)
gone_id=$(tb_exec stat -c %i $GONE)
tb_exec rmdir $GONE
tb_exec systemctl start set-app.service late.service
stale_there() {
	holds set allowed "$stale_id" "$gone_id" &&
		holds map unit_policy "$stale_id : accept" "$gone_id : jump only_7101"
}
tap_check "(setup) stale elements in the set and the map, one of a cgroup that is gone" stale_there

tb_scnpm_start --source cgroupfs --sink nftnl --debug /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs --sink nftnl starts and reports READY=1"
pid=$(tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT")
tap_check "at start the stale elements are gone: the set holds exactly the running set-app.service" \
	eval 'tb_wait holds set allowed "$(id set-app.service)" && tb_wait holds map unit_policy'
tap_check "set-app.service (running before scnpm) is allowed on every port" in_set set-app.service

# ---------------------------------------------------------------------------
# System service in a set

old=$(id set-app.service)
tb_exec systemctl restart set-app.service
new=$(id set-app.service)
echo "# set-app.service cgroup id $old -> $new"
tap_check "set: restart swaps the element: the set holds exactly the new id" \
	eval 'test "$old" != "$new" && tb_wait holds set allowed "$new"'
tap_check "set: the restarted service is allowed" in_set set-app.service
tb_exec systemctl stop set-app.service
tap_check "set: stop removes the element (set empty)" tb_wait holds set allowed
tb_exec systemctl start set-app.service
tap_check "set: started again: exactly its new id, allowed" \
	eval 'tb_wait holds set allowed "$(id set-app.service)" && in_set set-app.service'

# ---------------------------------------------------------------------------
# System service in a verdict map

tap_check "map: map-app.service not running yet, nothing in the map" holds map unit_policy
tb_exec systemctl start map-app.service
tap_check "map: start adds its id with 'jump only_7101'" \
	tb_wait holds map unit_policy "$(id map-app.service) : jump only_7101"
tap_check "map: its packets are steered to only_7101 (7101 passes, 7102 dropped)" \
	steered_7101 map-app.service
old=$(id map-app.service)
tb_exec systemctl restart map-app.service
new=$(id map-app.service)
tap_check "map: restart swaps the key: exactly the new id ($old -> $new)" \
	eval 'test "$old" != "$new" && tb_wait holds map unit_policy "$new : jump only_7101"'
tap_check "map: the restarted service is still steered to only_7101" steered_7101 map-app.service
tb_exec systemctl stop map-app.service
tap_check "map: stop removes the key (map empty)" tb_wait holds map unit_policy
tb_exec systemctl start map-app.service
tb_wait holds map unit_policy "$(id map-app.service) : jump only_7101"

# ---------------------------------------------------------------------------
# User service in a set (level 5), user scopes in a verdict map (level 5)

tb_systemctl --user start uset.service
echo "# uset.service cgroup: $(tb_cgroup --user uset.service)"
tap_check "user set: start adds its id, allowed on every port" \
	eval 'tb_wait holds set allowed_user "$(id --user uset.service)" && in_set --user uset.service'
old=$(id --user uset.service)
tb_systemctl --user restart uset.service
new=$(id --user uset.service)
tap_check "user set: restart: exactly the new id ($old -> $new), allowed" \
	eval 'test "$old" != "$new" && tb_wait holds set allowed_user "$new" && in_set --user uset.service'
tb_systemctl --user stop uset.service
tap_check "user set: stop removes the element (set empty)" tb_wait holds set allowed_user
tb_systemctl --user start uset.service

S1=app-tb-$RANDOM.scope
scope_start $S1
tap_check "user map: scope $S1 (app-tb-*.scope) gets 'jump only_7103', its packets steered there" \
	eval 'tb_wait holds map unit_policy_user "$(id --user $S1) : jump only_7103" && steered_7103 --user $S1'
old=$(id --user $S1)
tb_systemctl --user stop $S1
tap_check "user map: scope stopped: key removed" tb_wait holds map unit_policy_user
scope_start $S1
new=$(id --user $S1)
tap_check "user map: the same scope again: exactly the new id ($old -> $new), steered" \
	eval 'test "$old" != "$new" && tb_wait holds map unit_policy_user "$new : jump only_7103" && steered_7103 --user $S1'
scope_start app-other-$RANDOM.scope
tap_check "user map: a scope the glob does not match adds nothing" \
	eval 'holds map unit_policy_user "$new : jump only_7103"'

# ---------------------------------------------------------------------------
# Firewall reloads: no -u option, no daemon restart

all_back() {
	holds set allowed "$(id set-app.service)" &&
		holds map unit_policy "$(id map-app.service) : jump only_7101" &&
		holds set allowed_user "$(id --user uset.service)" &&
		holds map unit_policy_user "$(id --user $S1) : jump only_7103"
}
tap_check "(setup) every unit's element is in place" tb_wait all_back
tb_exec bash /opt/tb/snapshot.sh >"$TB_ROOT/opt/tb/expected"
tap_diag <"$TB_ROOT/opt/tb/expected"
n_deleted() {
	tb_scnpm_log | grep -c "inet filter .* was deleted; filled again"
}
before=$(n_deleted)
took=$(tb_exec bash /opt/tb/refill.sh 5000 systemctl restart nftables.service)
rc=$?
emptied() { # the reload did delete all four (and so scnpm refilled them)
	test "$(n_deleted)" = $((before + 4))
}
tap_check "systemctl restart nftables: the four sets and maps, deleted, are refilled by themselves (${took} ms)" \
	eval 'test $rc = 0 && emptied'
tap_check "after the restart of nftables: set, map, user set, user map members pass as before" \
	eval 'in_set set-app.service && steered_7101 map-app.service && in_set --user uset.service &&
		steered_7103 --user $S1 && blocked_all late.service'
before=$(n_deleted)
took=$(tb_exec bash /opt/tb/refill.sh 5000 nft -f /etc/nftables.conf)
rc=$?
tap_check "nft -f /etc/nftables.conf: deleted and refilled by themselves (${took} ms)" \
	eval 'test $rc = 0 && emptied'
tap_check "after nft -f: the units pass as before" \
	eval 'in_set set-app.service && steered_7101 map-app.service && in_set --user uset.service'
tap_check "the same scnpm process (pid $pid) did it" \
	eval 'tb_scnpm_running && test "$(tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT")" = "$pid"'

# ---------------------------------------------------------------------------
# A managed set that does not exist at start

missing_reports() {
	tb_scnpm_log | grep -c 'Set inet filter late_set does not exist'
}
tb_exec systemctl restart late.service
tap_check "missing set: reported (late_set does not exist), late.service blocked" \
	eval 'tb_wait eval "test \"\$(missing_reports)\" -ge 1" && blocked_all late.service'
tb_exec nft add set inet filter late_set '{ type cgroupsv2; }'
tb_exec nft insert rule inet filter output oifname lo udp dport 7102 socket cgroupv2 level 2 @late_set accept
tap_check "missing set: filled as soon as it is created (late.service's id)" \
	tb_wait holds set late_set "$(id late.service)"
tap_check "missing set: late.service is allowed through the new set" tb_allowed late.service 7102
tap_check "missing set: reported exactly once (despite a restart and two firewall reloads)" \
	test "$(missing_reports)" = 1
tb_exec systemctl restart late.service
tap_check "the late set follows a restart too" tb_wait holds set late_set "$(id late.service)"
tb_scnpm_stop
tap_check "SIGTERM: scnpm exits 0" test "$(tb_scnpm_exit_status)" = "exited 0"

# ---------------------------------------------------------------------------
# --sink nft --sink nftnl: element directives to nftnl, the text rule to nft

tb_exec systemctl stop set-app.service
tb_exec systemctl start text-app.service
tb_scnpm_start --source journal --source cgroupfs --sink nft --sink nftnl --debug \
	/etc/nftables.conf /etc/scnpm-text.conf
tap_ok $? "scnpm --source journal --source cgroupfs --sink nft --sink nftnl starts"
text_rule() {
	test "$(tb_count_rules inet filter whitelist 'udp dport 7102 accept')" = 1 &&
		test "$(tb_count_rules inet filter whitelist "^socket cgroupv2 level 2 \"$(tb_cgroup text-app.service)\" udp dport 7102 accept")" = 1
}
tap_check "both sinks: the text rule went to nft (one rule for text-app.service), it passes on 7102 only" \
	eval 'tb_wait text_rule && tb_allowed text-app.service 7102 && tb_blocked text-app.service 7101'
tap_check "both sinks: at start the set lost set-app.service (stopped meanwhile), the map kept map-app.service" \
	eval 'tb_wait holds set allowed && holds map unit_policy "$(id map-app.service) : jump only_7101"'
tb_exec systemctl start set-app.service
tap_check "both sinks: the element directives went to nftnl (set-app.service started: its id, allowed)" \
	eval 'tb_wait holds set allowed "$(id set-app.service)" && in_set set-app.service'
old=$(id set-app.service)
old_rule=$(tb_rule_handles inet filter whitelist 'udp dport 7102')
tb_exec systemctl restart set-app.service text-app.service
# The cgroupfs source reports the restart at once; the journal's "Stopped"/"Started" come
# later. Wait until the journal source reported both units' start and the core
# dispatched what that left (after the cooldown).
journal_settled() { # UNIT
	tb_scnpm_log | awk -v u="'$1'" '
		index($0, "source-journal: unit " u " started") { j = NR }
		index($0, "Unit " u " (") && / through sink/ { d = NR }
		END { exit !(j && d > j) }'
}
if ! tb_wait journal_settled set-app.service || ! tb_wait journal_settled text-app.service; then
	tb_log "the journal source did not report the restart"
fi
nothing_stale() { # the old id left the set, the old cgroup's rule the chain
	! elems set allowed | grep -qx -- "$old" &&
		! tb_stale_rules inet filter whitelist >/dev/null &&
		test "$(tb_rule_handles inet filter whitelist 'udp dport 7102')" != "$old_rule"
}
tap_check "both sinks: after a restart the old id left the set and the old rule the chain" \
	tb_wait nothing_stale
both_restarted() {
	holds set allowed "$(id set-app.service)" && text_rule && in_set set-app.service &&
		tb_allowed text-app.service 7102
}
tap_check "both sinks: after a restart, exactly the new id in the set and one rule for the new cgroup" \
	both_restarted
[ "$TAP_FAILED" = 0 ]
