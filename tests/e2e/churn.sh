#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Churn: scnpm --source journal --source cgroupfs --sink nftnl keeps the cgroup ids of
# transient units in "type cgroupsv2" sets while, for CHURN_SECONDS (default 20),
# CHURN_WORKERS (default 8) workers keep starting them in parallel:
#  - system scopes (systemd-run --scope), user scopes of uid 0 and of a second user
#    (uid 1000, as that user with setpriv: "systemd-run -M USER@ --scope" fails here;
#    added to the container's passwd when the host has no uid 1000) and system services
#    (systemd-run --wait);
#  - mixed lengths: most commands end within milliseconds (a journal "Started" then
#    often arrives after the cgroup is gone), others after a second, some leave a child
#    behind that keeps the scope after systemd-run returned;
#  - scope names reused one after the other (same unit, new cgroup id) and scopes
#    stopped with systemctl stop while they run (the journal's "Stopped").
# Two long-running scopes run through the churn. Then, with no fixed sleep: wait until
# no cgroup of the churn is left, start one long-running unit of each kind, poll until
# scnpm has settled and check that every element of each set is the id of a live cgroup
# (no stale ids) and that every live matching cgroup is in its set, then that stopping
# the long-running ones empties the sets. The numbers (units started, stale ids, how
# often a journal "Started" came after the cgroup was gone) are TAP diagnostics.
#
# A long run needs a larger meson timeout than the default one (240 s):
#   CHURN_SECONDS=600 meson test -C BUILD --suite e2e churn -t 5
set -u
. "$(dirname "$0")/lib.sh"

CHURN_SECONDS=${CHURN_SECONDS:-20}
CHURN_WORKERS=${CHURN_WORKERS:-8}
SETTLE_TIMEOUT=60	# seconds scnpm may take to settle after the churn (measured, reported)
SETS=(sscopes sservices uscopes)
UID2=1000

case $CHURN_SECONDS$CHURN_WORKERS in
*[!0-9]* | "") tb_die "CHURN_SECONDS and CHURN_WORKERS must be numbers" ;;
esac

tb_preflight "$@"
tap_plan 21

# ---------------------------------------------------------------------------
# The container: its firewall (loaded at boot by nftables.service), a second user,
# no journal rate limit (scnpm logs with --debug; its lines explain a failure)

tb_rootfs
tb_write_nftables_conf <<-'NFT'
	#!/usr/sbin/nft -f
	flush ruleset
	table inet filter {
		set sscopes { type cgroupsv2; }
		set sservices { type cgroupsv2; }
		set uscopes { type cgroupsv2; }
		chain output {
			type filter hook output priority 0; policy accept;
			oifname "lo" udp dport 7200-7299 socket cgroupv2 level 2 @sscopes accept
			oifname "lo" udp dport 7200-7299 socket cgroupv2 level 2 @sservices accept
			oifname "lo" udp dport 7200-7299 socket cgroupv2 level 5 @uscopes accept
			oifname "lo" udp dport 7200-7299 drop
		}
	}

	## scnpm (--sink nftnl): transient units of the system manager and of every user manager
	# system/run-*.scope :: add element inet filter sscopes { %{cgroup} }
	# system/run-*.service :: add element inet filter sservices { %{cgroup} }
	# user/run-*.scope :: add element inet filter uscopes { %{cgroup} }
NFT
mkdir -p "$TB_ROOT/etc/systemd/system/sysinit.target.wants" "$TB_ROOT/etc/systemd/journald.conf.d"
ln -sf /lib/systemd/system/nftables.service "$TB_ROOT/etc/systemd/system/sysinit.target.wants/"
printf '[Journal]\nRateLimitIntervalSec=0\n' >"$TB_ROOT/etc/systemd/journald.conf.d/tb-churn.conf"
if ! awk -F: -v u=$UID2 '$3 == u { f = 1 } END { exit !f }' "$TB_ROOT/etc/passwd"; then
	echo "tbchurn:x:$UID2:$UID2:scnpm e2e:/:/usr/sbin/nologin" >>"$TB_ROOT/etc/passwd"
	echo "tbchurn:x:$UID2:" >>"$TB_ROOT/etc/group"
	echo "tbchurn:*:19000:0:99999:7:::" >>"$TB_ROOT/etc/shadow"
fi

# mgr.sh MANAGER PROG ARGS...: PROG (systemd-run, systemctl) for the system manager
# (MANAGER "system") or the user manager of uid MANAGER, run as that user.
cat >"$TB_ROOT/opt/tb/mgr.sh" <<-'SH'
	m=$1 prog=$2
	shift 2
	case $m in
	system) exec "$prog" "$@" ;;
	0) XDG_RUNTIME_DIR=/run/user/0 exec "$prog" --user "$@" ;;
	*) exec setpriv --reuid="$m" --regid="$(id -g "$m")" --clear-groups \
		env XDG_RUNTIME_DIR="/run/user/$m" HOME=/ "$prog" --user "$@" ;;
	esac
SH

# churn.sh SECONDS WORKERS OUTDIR UID2: the churn. Each worker writes one line per unit
# it tried, "KIND:MANAGER ok|fail", to OUTDIR/w.N (and systemd-run's errors to err.N).
cat >"$TB_ROOT/opt/tb/churn.sh" <<-'SH'
	secs=$1 workers=$2 out=$3 uid2=$4
	end=$((SECONDS + secs))
	# what a unit runs: "0" is /bin/true (gone within milliseconds); "bg" leaves a child
	# that keeps the scope for 0.4 s after systemd-run returned
	lengths=(0 0 0 0 0.001 0.005 0.02 0.1 0.3 0.5 1 1.2 bg)
	kinds=(scope:system scope:system scope:0 scope:0 "scope:$uid2" "scope:$uid2"
		reuse:system reuse:0 "reuse:$uid2" stop:system stop:0 "stop:$uid2"
		service:system service:system)
	mgr() { bash /opt/tb/mgr.sh "$@"; }
	set_cmd() {
		case $1 in
		0) CMD=(true) ;;
		bg) CMD=(sh -c 'sleep 0.4 & exit 0') ;;
		*) CMD=(sleep "$1") ;;
		esac
	}
	# stop MANAGER NAME: a scope of MANAGER that systemctl stop ends while it runs
	stop_one() {
		local m=$1 name=$2 pid i rc=1

		# quiet: bash would note that sleep got SIGTERM (a failed start: is-active says)
		(mgr "$m" systemd-run -q --scope --unit "$name" sleep 5; true) 2>/dev/null &
		pid=$!
		for ((i = 0; i < 200; i++)); do
			mgr "$m" systemctl is-active -q "$name.scope" && { rc=0; break; }
			kill -0 $pid 2>/dev/null || break
			sleep 0.01
		done
		sleep "0.0$((RANDOM % 10))"
		mgr "$m" systemctl stop "$name.scope" || rc=1
		wait $pid
		return $rc
	}
	# one W N KIND MANAGER LENGTH: worker W's Nth unit
	one() {
		local w=$1 n=$2 kind=$3 m=$4

		set_cmd "$5"
		case $kind in
		scope) mgr "$m" systemd-run -q --scope "${CMD[@]}" ;;
		reuse)
			[ "$5" = bg ] && CMD=(true)
			mgr "$m" systemd-run -q --scope --unit "run-tb-reuse-w$w" "${CMD[@]}" ;;
		stop) stop_one "$m" "run-tb-stop-w$w-$n" ;;
		service) systemd-run -q --wait --collect "${CMD[@]}" ;;
		esac
	}
	worker() {
		local w=$1 n=0 kind

		while [ $SECONDS -lt $end ]; do
			n=$((n + 1))
			kind=${kinds[RANDOM % ${#kinds[@]}]}
			if one "$w" $n "${kind%%:*}" "${kind#*:}" "${lengths[RANDOM % ${#lengths[@]}]}" \
				</dev/null >/dev/null 2>>"$out/err.$w"; then
				echo "$kind ok"
			else
				echo "$kind fail"
			fi
		done >"$out/w.$w"
	}
	mkdir -p "$out"
	rm -f "$out"/w.* "$out"/err.*
	for ((w = 0; w < workers; w++)); do
		worker $w &
	done
	wait
SH

# live.sh SET [SKIP]: the ids of the live cgroups the directives for SET match, sorted
# (system units: anywhere outside a user manager; user units: inside one); without the
# cgroups whose name matches the glob SKIP.
cat >"$TB_ROOT/opt/tb/live.sh" <<-'SH'
	C=/sys/fs/cgroup skip=${2:-/}
	case $1 in
	sscopes) find $C -name 'user@*.service' -prune -o -type d -name 'run-*.scope' -prune ! -name "$skip" -print ;;
	sservices) find $C -name 'user@*.service' -prune -o -type d -name 'run-*.service' -prune ! -name "$skip" -print ;;
	uscopes) find $C/user.slice -path '*/user@*.service/*' -type d -name 'run-*.scope' -prune ! -name "$skip" -print ;;
	esac 2>/dev/null | while read -r d; do stat -c %i "$d" 2>/dev/null; done | sort
SH

# elems.sh SET: the set's elements as cgroup ids, sorted. nft -j lists a live cgroup by
# its path (turned into its id here) and one that is gone by its id, a bare number.
cat >"$TB_ROOT/opt/tb/elems.sh" <<-'SH'
	out=$(nft -j list set inet filter "$1") || exit 1
	jq -r '.nftables[] | .set? // empty | .elem[]?' <<<"$out" | while read -r e; do
		case $e in
		*[!0-9]*) stat -c %i "/sys/fs/cgroup/$e" 2>/dev/null || echo "gone:$e" ;;
		*) echo "$e" ;;
		esac
	done | sort
SH

# compare.sh SET...: one line per set, "SET elements=N live=N stale=N missing=N [...]"
# (stale: in the set, no live cgroup; missing: a live cgroup, not in the set; the ids
# follow in brackets); exit 0 when every set holds exactly its live ids.
cat >"$TB_ROOT/opt/tb/compare.sh" <<-'SH'
	rc=0
	for s; do
		e=$(bash /opt/tb/elems.sh "$s") || { echo "$s: cannot list"; rc=1; continue; }
		l=$(bash /opt/tb/live.sh "$s")
		stale=$(comm -23 <(printf '%s\n' "$e") <(printf '%s\n' "$l") | grep . | tr '\n' ' ')
		missing=$(comm -13 <(printf '%s\n' "$e") <(printf '%s\n' "$l") | grep . | tr '\n' ' ')
		ns=$(wc -w <<<"$stale") nm=$(wc -w <<<"$missing")
		echo "$s elements=$(wc -w <<<"$e") live=$(wc -w <<<"$l") stale=$ns missing=$nm" \
			"${stale:+[stale: $stale]}${missing:+[missing: $missing]}"
		[ "$ns" = 0 ] && [ "$nm" = 0 ] || rc=1
	done
	exit $rc
SH

# send.sh CGROUP PORT TOKEN: send TOKEN to 127.0.0.1:PORT from inside CGROUP
cat >"$TB_ROOT/opt/tb/send.sh" <<-'SH'
	echo $$ >"/sys/fs/cgroup$1/cgroup.procs" && echo "$3" >"/dev/udp/127.0.0.1/$2"
SH

tb_boot

# ---------------------------------------------------------------------------
# Helpers

cmp_out() { # run compare.sh for every set, keep its output in CMP
	CMP=$(tb_exec bash /opt/tb/compare.sh "${SETS[@]}")
}
settled() {
	cmp_out
}
cmp_field() { # SET FIELD: a number of the last compare.sh output
	awk -v s="$1" -v f="$2" '$1 == s { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' <<<"$CMP"
}
stale_sum() { # stale ids of the last compare.sh output, all sets
	local s n=0

	for s in "${SETS[@]}"; do
		n=$((n + $(cmp_field "$s" stale)))
	done
	echo $n
}
nothing_left() { # no cgroup of a transient unit of the churn is left (long-running ones aside)
	local s

	for s in "${SETS[@]}"; do
		[ -z "$(tb_exec bash /opt/tb/live.sh "$s" "$K-*")" ] || return 1
	done
}
run_units() { # MANAGER: the run-* units that manager has loaded, "MANAGER UNIT LOAD ACTIVE SUB"
	tb_exec bash /opt/tb/mgr.sh "$1" systemctl list-units --all --plain --no-legend 'run-*.scope' 'run-*.service' |
		awk -v m="$1" '{ print m, $1, $2, $3, $4 }'
}
in_set() { # SET MANAGER UNIT: the unit's cgroup id is an element of SET
	local cg id

	cg=$(tb_exec bash /opt/tb/mgr.sh "$2" systemctl show -P ControlGroup "$3") && [ -n "$cg" ] || return 1
	id=$(tb_exec stat -c %i "/sys/fs/cgroup$cg") || return 1
	tb_exec bash /opt/tb/elems.sh "$1" | grep -qx -- "$id"
}
allowed_in() { # MANAGER UNIT: a datagram from inside UNIT's cgroup reaches the listener on 7201
	local cg tok="tok-$$-$((++TB_TOKEN_SEQ))"

	cg=$(tb_exec bash /opt/tb/mgr.sh "$1" systemctl show -P ControlGroup "$2") && [ -n "$cg" ] || return 1
	tb_exec bash /opt/tb/send.sh "$cg" 7201 "$tok" 2>/dev/null &&
		tb_wait tb_received udp 7201 "$tok"
}
MANAGERS=(system 0 "$UID2")

# Long-running units, "MANAGER UNIT SET" each: two run through the churn, the others
# start when it is over.
K=run-tb-keep
KEEP_EARLY=("system $K-early-sys.scope sscopes" "$UID2 $K-early-u$UID2.scope uscopes")
KEEP_LATE=("system $K-sys.scope sscopes" "system $K-svc.service sservices"
	"0 $K-u0.scope uscopes" "$UID2 $K-u$UID2.scope uscopes")
keepers_start() { # "MANAGER UNIT SET"...
	local k m u set

	for k; do
		read -r m u set <<<"$k"
		case $u in
		*.scope)
			tb_exec setsid -f bash /opt/tb/mgr.sh "$m" systemd-run -q --scope --unit "$u" sleep 3600 \
				</dev/null >/dev/null 2>&1 ;;
		*) tb_exec bash /opt/tb/mgr.sh "$m" systemd-run -q --unit "$u" sleep 3600 ;;
		esac
	done
}
keepers_active() { # "MANAGER UNIT SET"...
	local k m u set

	for k; do
		read -r m u set <<<"$k"
		tb_exec bash /opt/tb/mgr.sh "$m" systemctl is-active -q "$u" || return 1
	done
}
keepers_in() { # "MANAGER UNIT SET"...: each unit's cgroup id is in its set
	local k m u set

	for k; do
		read -r m u set <<<"$k"
		in_set "$set" "$m" "$u" || return 1
	done
}
keepers_pass() { # "MANAGER UNIT SET"...: each unit's packets pass
	local k m u set

	for k; do
		read -r m u set <<<"$k"
		allowed_in "$m" "$u" || { tb_log "$u ($m): blocked"; return 1; }
	done
}
keepers_stop() { # "MANAGER UNIT SET"...
	local k m u set

	for k; do
		read -r m u set <<<"$k"
		tb_exec bash /opt/tb/mgr.sh "$m" systemctl stop "$u"
	done
}

# ---------------------------------------------------------------------------
# Setup: both user managers, scnpm

tb_start_user_manager
tb_exec systemctl start user@$UID2.service
user_managers() {
	tb_exec bash /opt/tb/mgr.sh 0 systemctl is-system-running --wait >/dev/null 2>&1
	tb_exec bash /opt/tb/mgr.sh $UID2 systemctl is-system-running --wait >/dev/null 2>&1
	tb_exec bash /opt/tb/mgr.sh $UID2 systemd-run -q --scope true
}
tap_check "(setup) user managers of uid 0 and uid $UID2 run; uid $UID2 can start a scope" user_managers

tb_scnpm_start --source journal --source cgroupfs --sink nftnl --debug /etc/nftables.conf
tap_ok $? "scnpm --source journal --source cgroupfs --sink nftnl starts and reports READY=1"
pid=$(tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT")
tap_check "at start the three sets hold exactly the live ids (none)" tb_wait settled
tb_listen 7201
keepers_start "${KEEP_EARLY[@]}"
early_in() {
	tb_wait keepers_active "${KEEP_EARLY[@]}" && tb_wait keepers_in "${KEEP_EARLY[@]}"
}
tap_check "(setup) two long-running scopes (system, uid $UID2) run before the churn, in their sets" early_in

# ---------------------------------------------------------------------------
# The churn

echo "# churn: $CHURN_SECONDS s, $CHURN_WORKERS workers"
t0=$SECONDS
tb_exec timeout $((CHURN_SECONDS + 120)) bash /opt/tb/churn.sh "$CHURN_SECONDS" "$CHURN_WORKERS" /opt/tb/churn $UID2
rc=$?
took=$((SECONDS - t0))
cmp_out
CMP0=$CMP
cat "$TB_ROOT"/opt/tb/churn/w.* >"$TB_DIR/churn.log" 2>/dev/null
count() { # PATTERN: lines of the churn log matching it (grep -E)
	grep -cE -- "$1" "$TB_DIR/churn.log"
}
n_scopes=$(count '^(scope|reuse|stop):.* ok$')
n_services=$(count '^service:.* ok$')
n_failed=$(count ' fail$')
echo "# churn took ${took} s (rc $rc): scopes started: $n_scopes, services started: $n_services, failed to start: $n_failed"
for k in scope reuse stop service; do
	for m in "${MANAGERS[@]}"; do
		n=$(count "^$k:$m ok$")
		f=$(count "^$k:$m fail$")
		[ "$n$f" = 00 ] || echo "#   $k in $m: $n started, $f failed"
	done
done
sort "$TB_ROOT"/opt/tb/churn/err.* 2>/dev/null | uniq -c | sort -rn | head -5 | sed 's/^/#   churn stderr: /'
every_kind() {
	local k m

	[ "$rc" = 0 ] || return 1
	for k in scope reuse stop; do
		for m in "${MANAGERS[@]}"; do
			[ "$(count "^$k:$m ok$")" -gt 0 ] || return 1
		done
	done
	[ "$n_services" -gt 0 ] &&
		# systemd refusing a reused name now and then is fine; failing often is not
		[ $((n_failed * 10)) -le $((n_scopes + n_services)) ]
}
tap_check "the churn started units of every kind in every manager ($n_scopes scopes, $n_services services, $n_failed failed)" every_kind
tap_diag <<<"$CMP0"
echo "# right when the churn ended: $(stale_sum) stale id(s) in the sets (scnpm may still be catching up)"

TB_WAIT_TIMEOUT=30 tb_wait nothing_left
tap_ok $? "after the churn every transient unit's cgroup is gone"
left() {
	local m

	LEFT=$(for m in "${MANAGERS[@]}"; do run_units "$m"; done | grep -v " $K-")
	! awk 'NF && $4 != "inactive" && $4 != "failed" { f = 1 } END { exit !f }' <<<"$LEFT"
}
TB_WAIT_TIMEOUT=30 tb_wait left
tap_ok $? "and no run-* unit is active in any manager ($(grep -c . <<<"$LEFT") still loaded)"
[ -n "$LEFT" ] && tap_diag <<<"$LEFT"

# ---------------------------------------------------------------------------
# One long-running unit of each kind, then wait until scnpm has settled

keepers_start "${KEEP_LATE[@]}"
tap_check "(setup) long-running units: a system scope, a system service, a user scope of each user" \
	tb_wait keepers_active "${KEEP_LATE[@]}"

t0=$SECONDS
TB_WAIT_TIMEOUT=$SETTLE_TIMEOUT tb_wait settled
rc=$?
took=$((SECONDS - t0))
tap_diag <<<"$CMP"
tap_ok $rc "scnpm settled: each set holds exactly the ids of the live cgroups it is for (after ${took} s)"

stale_total=0
for s in "${SETS[@]}"; do
	st=$(cmp_field "$s" stale) mi=$(cmp_field "$s" missing)
	el=$(cmp_field "$s" elements) li=$(cmp_field "$s" live)
	stale_total=$((stale_total + ${st:-0}))
	tap_check "$s: no stale ids ($el element(s), $st stale)" test "${st:-x}" = 0
	tap_check "$s: every live matching cgroup is in it ($li live, $mi missing)" test "${mi:-x}" = 0
done
echo "# units started: $n_scopes scopes, $n_services services; stale ids at the end: $stale_total"

tap_check "the long-running units started last are in their sets" keepers_in "${KEEP_LATE[@]}"
tap_check "the two that ran through the churn are still in theirs" keepers_in "${KEEP_EARLY[@]}"
tb_simple_service tb-other.service
tb_exec systemctl start tb-other.service
packets() {
	keepers_pass "${KEEP_EARLY[@]}" "${KEEP_LATE[@]}" && tb_blocked tb-other.service 7201
}
tap_check "their packets pass through the sets, those of a service in no set are dropped" packets

# ---------------------------------------------------------------------------
# After the churn the sets still follow stops; the daemon never restarted

keepers_stop "${KEEP_EARLY[@]}" "${KEEP_LATE[@]}"
empty() {
	settled && test "$(cmp_field sscopes elements)$(cmp_field sservices elements)$(cmp_field uscopes elements)" = 000
}
tap_check "stopping the long-running units empties the sets" tb_wait empty
same_daemon() {
	tb_scnpm_running && test "$(tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT")" = "$pid"
}
tap_check "the same scnpm process (pid $pid) did it all" same_daemon

# What the two sources told scnpm, in the order it handled them: how often a journal
# "Started" came after cgroupfs had seen the cgroup go (the case where trusting the
# event would put a dead id back into a set).
tb_scnpm_log >"$TB_DIR/scnpm.log"
read -r n_journal n_late < <(awk '
	!/^source-(cgroupfs|journal): unit / || !match($0, /manager [0-9]+, uid [0-9]+/) { next }
	{ key = $3 " " substr($0, RSTART, RLENGTH) }
	$1 == "source-cgroupfs:" && $4 == "stopped" { gone[key] = 1 }
	$1 == "source-cgroupfs:" && $4 == "started" { delete gone[key] }
	$1 == "source-journal:" && $4 == "started" { js++; if (key in gone) late++ }
	END { print js + 0, late + 0 }
' "$TB_DIR/scnpm.log")
echo "# journal Started events: $n_journal, after cgroupfs had seen the cgroup go: $n_late"
warnings=$(grep -ciE 'warn|fail|dropping' "$TB_DIR/scnpm.log")
echo "# scnpm log: $(wc -l <"$TB_DIR/scnpm.log") lines, ${warnings:-0} with warn/fail/dropping"
grep -iE 'warn|fail|dropping' "$TB_DIR/scnpm.log" | head -5 | tap_diag
late_starts() {
	[ "${n_journal:-0}" -gt 0 ] && [ "${n_late:-0}" -gt 0 ]
}
tap_check "the case was exercised: $n_late journal Started came after the cgroup was gone" late_starts
[ "$TAP_FAILED" = 0 ]
