#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Gates on the real cgroup2 freezer and nf_tables, in private mount and network
# namespaces (the cgroup hierarchy is the host's: everything is made below
# scnpm-test-PID.slice and removed, deepest first, also on failure). The daemon runs
# with source-cgroupfs and sink-nft. Needs root; skips otherwise (fails under CI=true).
set -u
B=${SCNPM_BUILD_DIR:?}
skip() { if [ "${CI:-}" = true ]; then echo "1..1"; echo "not ok 1 - $1"; exit 1; fi; echo "1..0 # SKIP $1"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root"
command -v python3 >/dev/null || skip "needs python3"
command -v nft >/dev/null || skip "needs nft"

if [ -z "${GATE_INNER:-}" ]; then
	GATE_INNER=1 exec unshare --mount --net --propagation private "$BASH" ${GATE_TRACE:+-x} "$0" "$@"
fi

mount -t cgroup2 none /sys/fs/cgroup || skip "cannot mount cgroup2"
ip link set lo up
CG=/sys/fs/cgroup
S=scnpm-test-$$.slice
T=$(mktemp -d /tmp/scnpm-gate-XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d "$CG/$S" ] && find "$CG/$S" -depth -type d -exec rmdir {} \; 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/# /' "$T/log" | grep -v Ignoring | tail -60; exit 1; }
# poll COND for up to 10 s
waitfor() { for _ in $(seq 200); do eval "$1" && return 0; sleep 0.05; done; return 1; }

echo "1..11"
mkdir "$CG/$S" "$CG/$S/other.slice"
nft add table inet gtab
nft add chain inet gtab out2 '{ type filter hook output priority 1; }'
cat > "$T/conf" <<CONF
# gate:keep-frozen/gt1.service :: add rule inet gtab out socket cgroupv2 level 2 %{cgroup} udp dport 9999 counter drop
# gate:keep-frozen/gt3.service :: add rule inet gtab missing socket cgroupv2 level 2 %{cgroup} drop
# gate/gt4.service :: add rule inet gtab out2 socket cgroupv2 level 3 %{cgroup} counter drop
# gate:keep-frozen/gt5.service :: add rule inet gtab later socket cgroupv2 level 2 %{cgroup} drop
# gate/gt6.service :: add rule inet gtab out2 socket cgroupv2 level 2 %{cgroup} drop
# gate:keep-frozen/gt7.service :: add rule inet gtab out2 socket cgroupv2 level 2 %{cgroup} drop
CONF
# daemon [--cgroup-root DIR] [PREFIX-CMD...]: start it (PREFIX-CMD: setpriv ...)
daemon() {
	local root=$CG

	[ "${1:-}" = --cgroup-root ] && { root=$2; shift 2; }
	: >"$T/log"
	RUNTIME_DIRECTORY=$T SCNPM_MODULE_DIR=$B/modules/source-cgroupfs:$B/modules/sink-nft \
		"$@" "$B/core/scnpm" --source cgroupfs --sink nft --cgroup-root "$root" -d "$T/conf" >>"$T/log" 2>&1 &
	PIDS+=($!)
	DPID=$!
	waitfor "grep -q 'Running:' $T/log" || fail "daemon starts"
}
stop_daemon() {
	kill $DPID
	wait $DPID 2>/dev/null
}
# the status line (SIGUSR1) once more: the daemon has handled what came before
settled() {
	local n

	n=$(grep -c 'Status: ' "$T/log")
	kill -USR1 $DPID
	waitfor "[ \$(grep -c 'Status: ' $T/log) -gt $n ]"
}
daemon
ok "daemon runs"

# 1: a process written into the gated cgroup does not run before the rule is in.
python3 -c '
import socket, sys
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 9999)); r.settimeout(3)
open(sys.argv[1], "w").close()
try:
    r.recv(10); print("received")
except socket.timeout:
    print("nothing")
' "$T/rx-ready" >"$T/rx" &
PIDS+=($!)
mkfifo "$T/go"
# the child: ready and blocked in read() before it joins the cgroup; sending is the
# first thing it does after
python3 -c '
import os, socket, sys
fd = os.open(sys.argv[1], os.O_RDWR)
open(sys.argv[3], "w").close()
os.read(fd, 1)
# a socket belongs to the cgroup it is made in
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9999))
except PermissionError:
    pass  # an output drop says EPERM
open(sys.argv[2], "w").close()
' "$T/go" "$T/sent" "$T/child-ready" &
CHILD=$!
PIDS+=($CHILD)
waitfor "[ -e $T/child-ready ]" || fail "child ready"
mkdir "$CG/$S/gt1.service"
waitfor "grep -q 1 $CG/$S/gt1.service/cgroup.freeze" || fail "gated cgroup frozen"
echo $CHILD > "$CG/$S/gt1.service/cgroup.procs"
echo x > "$T/go"
waitfor "grep -q 'frozen 1' $CG/$S/gt1.service/cgroup.events" || fail "the process is frozen"
[ ! -e "$T/sent" ] || fail "the process ran before its rule was in"
ok "process in a gated cgroup is frozen while its rule is not in (keep-frozen)"
waitfor "[ -e $T/rx-ready ]"
nft add chain inet gtab out '{ type filter hook output priority 0; }'
waitfor "[ -e $T/sent ]" || fail "thawed once the rule is in"
grep -q 0 "$CG/$S/gt1.service/cgroup.freeze" || fail "thawed"
wait "${PIDS[1]}"
grep -q nothing "$T/rx" || { cat "$T/rx" >&2; nft list ruleset >&2; fail "its first packet was dropped"; }
nft list chain inet gtab out | grep -q 'packets 1 ' || fail "by the rule"
ok "thawed when the kernel has the rule; the first packet met it"

# 2: someone else's freeze is left alone.
echo 1 > "$CG/$S/other.slice/cgroup.freeze"
mkdir "$CG/$S/other.slice/gt4.service"
waitfor "grep -q 'gt4.service.*frozen already' $T/log" || fail "seen as frozen already"
grep -q 0 "$CG/$S/other.slice/gt4.service/cgroup.freeze" && grep -q 1 "$CG/$S/other.slice/cgroup.freeze" ||
	fail "left as it was"
ok "a cgroup frozen by someone else is neither frozen nor thawed"
echo 0 > "$CG/$S/other.slice/cgroup.freeze"

# 3: a freeze by someone else while the gate is closed (systemctl freeze of a unit
# scnpm holds) is theirs: the rule coming in does not thaw it, nor does an exit.
mkdir "$CG/$S/gt5.service"
waitfor "grep -q \"Unit 'gt5.service' stays frozen\" $T/log" || fail "gt5 held frozen"
echo 1 > "$CG/$S/gt5.service/cgroup.freeze"
waitfor "grep -q 'gt5.service.*was frozen by someone else' $T/log" || fail "the freeze is seen"
nft add chain inet gtab later
waitfor "nft list chain inet gtab later | grep -q gt5.service" || fail "its rule comes in"
settled || fail "status line"
grep -q 1 "$CG/$S/gt5.service/cgroup.freeze" || fail "gt5 thawed by scnpm"
grep -q 'frozen 1' "$CG/$S/gt5.service/cgroup.events" || fail "gt5 not frozen"
ok "a cgroup frozen by someone else while scnpm held its gate stays frozen when the rule comes in"
echo 0 > "$CG/$S/gt5.service/cgroup.freeze"

# 4: a crash leaves a held cgroup frozen and recorded; the next start thaws it.
mkdir "$CG/$S/gt3.service"
waitfor "grep -q 'stays frozen' $T/log" || fail "held frozen"
ls "$T/frozen" | grep -q . || fail "recorded"
ok "a keep-frozen gate whose rule fails stays frozen, recorded under the runtime directory"
kill -9 $DPID
wait $DPID 2>/dev/null
grep -q 1 "$CG/$S/gt3.service/cgroup.freeze" || fail "still frozen after the crash"
daemon
waitfor "grep -q 'which an earlier scnpm froze' $T/log" || fail "thawed at the next start"
grep -q 0 "$CG/$S/gt3.service/cgroup.freeze" || fail "thawed"
ok "a restart thaws what the crashed daemon left frozen"
stop_daemon
ls "$T/frozen" | grep -q . && fail "no record left"
ok "nothing left frozen or recorded after exit"

# 5: cgroup.freeze not writable. A read-only cgroup tree (what ProtectControlGroups=yes
# gives a service): an error at start for each gated directive, one line per cgroup
# naming the unit and the directive, at the level its choice calls for; rules as without
# a gate.
frozen_anywhere() { grep -l 1 $(find "$CG/$S" -name cgroup.freeze) 2>/dev/null | grep -q .; }
mkdir "$T/ro"
mount --bind $CG "$T/ro" && mount -o remount,bind,ro "$T/ro" || fail "read-only bind of the cgroup tree"
daemon --cgroup-root "$T/ro"
grep -q "conf:5: gated directive, but the cgroup tree $T/ro is read-only" "$T/log" ||
	fail "said at start"
mkdir "$CG/$S/gt6.service" "$CG/$S/gt7.service"
waitfor "grep -q \"conf:5: unit 'gt6.service': gate cannot close, cannot freeze /$S/gt6.service: Read-only file system (the cgroup tree is read-only\" $T/log" ||
	fail "thaw gate: the line"
waitfor "grep -q \"conf:6: unit 'gt7.service': gate (keep-frozen) cannot close.*Read-only file system\" $T/log" ||
	fail "keep-frozen gate: the line"
waitfor "nft list chain inet gtab out2 | grep -q gt7.service" || fail "the rules go in"
frozen_anywhere && fail "nothing frozen"
ok "read-only cgroup tree: an error at start, one line per gate that cannot close, rules as without a gate"
stop_daemon
umount "$T/ro"
rmdir "$CG/$S/gt6.service" "$CG/$S/gt7.service"

# 6: no right to write cgroup.freeze (an unprivileged user with CAP_NET_ADMIN only, what
# DynamicUser= gives): the same, EACCES.
if command -v setpriv >/dev/null; then
	chmod 0777 "$T"
	chmod 0666 "$T/log"
	rm -rf "$T/frozen"
	daemon setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+net_admin \
		--ambient-caps=-all,+net_admin
	mkdir "$CG/$S/gt6.service"
	waitfor "grep -q \"conf:5: unit 'gt6.service': gate cannot close, cannot freeze /$S/gt6.service: Permission denied (no right to write it\" $T/log" ||
		fail "no permission: the line"
	waitfor "nft list chain inet gtab out2 | grep -q gt6.service" || fail "the rule goes in"
	frozen_anywhere && fail "nothing frozen"
	ok "no permission to write cgroup.freeze: one line naming the unit and the gate"
	stop_daemon
else
	ok "# SKIP setpriv not found"
fi
frozen_anywhere && fail "nothing left frozen"
ok "no cgroup left frozen"
