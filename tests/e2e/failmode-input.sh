#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Hostile input to a running scnpm (the shipped unit, its defaults: source cgroupfs, sinks
# nft and nftnl):
#  - a configuration with one hostile directive line (longer than 64 KiB, a NUL byte,
#    invalid UTF-8, a second nft command smuggled in by a continuation line, in three
#    shapes, an unknown placeholder) on top of real changes: "systemctl reload scnpm"
#    fails (its --check), and SIGHUP straight to the daemon fails too; each time the
#    ruleset stays byte for byte as it was (nft -a list ruleset, handles included) and
#    the daemon runs on. Then the good configuration applies.
#  - bad modules in a module directory (a truncated ELF file, symlinks to a file in a
#    world-writable directory and to nothing, a world-writable module directory, a
#    group-writable module, one that cannot be linked): the daemon refuses to start with
#    one error line naming the file, exit status 1, the shipped unit is not restarted, and
#    the ruleset is untouched; a symlink to a module in a trusted directory is followed.
#  - cgroup names an unprivileged user (uid 1000) makes under its own user manager, beyond
#    cgroupfs-hostile.sh (root's names): newlines, quotes, "%{", very long names, names
#    and paths imitating system.slice, init.scope and -.slice. No system unit's rule
#    moves or is added, nothing for them at all: the ruleset stays byte for byte.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 49

tb_rootfs
U_UID=1000
APP=user.slice/user-$U_UID.slice/user@$U_UID.service/app.slice
RULESET=$(tb_failmode_ruleset --foreign 2 "set tset 2")
# the configuration as it runs (CONF1) and as it is edited (CONF2): keep.service's rule
# goes, app2.service's comes, the template's elements stay
directives() { # keep|app2
	echo "# $1.service :: add rule inet filter whitelist socket cgroupv2 level 2 \"system.slice/$1.service\" udp dport 7001 accept"
	cat <<-NFT
		# victim.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/victim.service" udp dport 7061 accept
		# guarded.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/guarded.service" udp dport 7062 drop
		# tmpl-*.service :: add element inet filter tset { %{cgroup} }
		# user@$U_UID/app-*.scope :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7064 accept comment %{unit}
	NFT
}
CONF1=$(printf '%s\n' "$RULESET"; directives keep)
CONF2=$(printf '%s\n' "$RULESET"; directives app2)
printf '%s\n' "$CONF1" | tb_write_nftables_conf
# hostile-cgroups.sh create|remove, run as uid 1000: directories below its own app.slice,
# listed in creation order, removed deepest first
cat >"$TB_ROOT/opt/tb/hostile-cgroups.sh" <<'EOF'
#!/bin/bash
cd "/sys/fs/cgroup/$1" || exit 1
LIST=$HOME/hostile.list
long() { head -c "$1" /dev/zero | tr '\0' "$2"; }
case $2 in
create)
	: >"$LIST"
	n=0
	for d in \
		system.slice system.slice/victim.service system.slice/guarded.service \
		system.slice/system-victim.slice system.slice/system-victim.slice/victim.service \
		init.scope -.slice user.slice user.slice/user-0.slice user.slice/user-0.slice/user@0.service \
		"victim.service"$'\n'"system.slice" $'victim.service\n' $'\nvictim.service' \
		"app-a"$'\n'"b.scope" "app-x.scope"$'\n'"system.slice/victim.service" \
		'app-"q".scope' "app-q\";add rule inet filter whitelist accept;\".scope" "app-'s'.scope" \
		"app-%{cgroup}.scope" "app-%{unit}.scope" "%{level}" "app-x%{.scope" "app-%{.scope" \
		"app-$(long 300 v).scope" "app-$(long 4000 w).scope" \
		"sys-$(long 200 x).scope" "sys-$(long 200 x).scope/system.slice" \
		"sys-$(long 200 x).scope/system.slice/victim.service"; do
		mkdir -- "$d" && printf '%s\0' "$d" >>"$LIST" && n=$((n + 1))
	done
	echo "MADE $n"
	;;
remove)
	mapfile -d '' paths <"$LIST"
	for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
		rmdir -- "${paths[i]}"
	done
	left=0
	for p in "${paths[@]}"; do
		[ -e "$p" ] && left=$((left + 1))
	done
	echo "LEFT $left"
	[ $left = 0 ]
	;;
esac
EOF
chmod 0755 "$TB_ROOT/opt/tb/hostile-cgroups.sh"
tb_boot
tb_exec systemctl restart nftables.service
SYS=(keep.service app2.service victim.service guarded.service tmpl-1.service tmpl-2.service)
for u in "${SYS[@]}"; do
	tb_simple_service "$u"
done
tb_exec systemctl start "${SYS[@]}"
for p in 7001 7061 7062 7064; do
	tb_listen $p
done
tb_user_setup $U_UID || tb_die "cannot set up uid $U_UID and its user manager"
# hold.service keeps uid 1000's app.slice, where its directories go, alive
tb_user_service hold.service
tb_as_user systemctl --user daemon-reload
tb_as_user systemctl --user start hold.service || tb_die "uid $U_UID cannot start its units"

W=(inet filter whitelist)
want_chain() { # keep|app2
	tb_foreign_rules 2
	echo "socket cgroupv2 level 2 \"system.slice/$1.service\" udp dport 7001 accept [scnpm]"
	echo 'socket cgroupv2 level 2 "system.slice/victim.service" udp dport 7061 accept [scnpm]'
	echo 'socket cgroupv2 level 2 "system.slice/guarded.service" udp dport 7062 drop [scnpm]'
}
exact() { # keep|app2
	tb_exact_chain "${W[@]}" "$(want_chain "$1")" &&
		tb_exact_set inet filter tset "$(tb_live_ids tmpl-1.service tmpl-2.service)"
}
PID=""
same_daemon() {
	tb_scnpm_running && [ "$(tb_scnpm_pid)" = "$PID" ] &&
		[ "$(tb_exec systemctl show -P NRestarts "$TB_SCNPM_UNIT")" = 0 ]
}
snapshot() { # NAME: nft -a list ruleset (handles included) into /run/tb-ruleset.NAME
	tb_exec sh -c "nft -a list ruleset >/run/tb-ruleset.$1"
}
unchanged() { # FROM TO: byte for byte, or the difference as TAP comments
	snapshot "$2"
	tb_exec cmp -s "/run/tb-ruleset.$1" "/run/tb-ruleset.$2" && return 0
	tb_exec diff "/run/tb-ruleset.$1" "/run/tb-ruleset.$2" | head -20 | tap_diag
	return 1
}
log_count() {
	tb_scnpm_log | grep -cF -- "$1"
}

tb_install_shipped_unit
TB_SCNPM_UNIT=scnpm.service
TB_EXPECT_DAEMON=1
tap_check "the shipped unit starts with its defaults" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_scnpm_running'
PID=$(tb_scnpm_pid)
tap_check "at start: the exact state (keep.service, victim.service, guarded.service, two elements)" \
	tb_wait exact keep

# ---------------------------------------------------------------------------
# Hostile configuration lines

long() { head -c "$1" /dev/zero | tr '\0' "$2"; }
# hostile NAME: CONF2 plus one hostile directive (after a comment line naming the case)
hostile() {
	printf '%s\n' "$CONF2"
	echo "## $1"
	case $1 in
	huge)
		echo "# app2.service :: add rule inet filter whitelist udp dport 7002 accept comment \"$(long 70000 a)\""
		;;
	nul)
		printf '# app2.service :: add rule inet filter whitelist udp dport 7002 accept\0; flush ruleset\n'
		;;
	utf8)
		printf '# app2.service :: add rule inet filter whitelist udp dport 7002 accept comment "\xc3\x28 \xff"\n'
		;;
	smuggled)
		echo '# app2.service :: add rule inet filter whitelist udp dport 7002 accept; \'
		echo '#   flush chain inet filter whitelist'
		;;
	smuggled-line)
		echo '# app2.service :: add rule inet filter whitelist udp dport 7002 accept \'
		echo '#   ; add rule inet filter whitelist accept'
		;;
	smuggled-quote)
		echo '# app2.service :: add rule inet filter whitelist udp dport 7002 accept comment "x \'
		echo '#   "; add rule inet filter whitelist accept; comment "y"'
		;;
	smuggled-text)
		echo '# app2.service :: add rule inet filter whitelist udp dport 7002 accept \'
		echo '#   add rule inet filter whitelist accept'
		;;
	placeholder)
		echo '# tmpl-*.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroupx} accept'
		;;
	esac
}
check_names() { # LINE: scnpm --check fails, naming nftables.conf:LINE
	local out

	out=$(tb_scnpm_run --check /etc/nftables.conf 2>&1) && return 1
	grep -q "^scnpm: /etc/nftables.conf:$1: " <<<"$out"
}
snapshot S0
for c in huge nul utf8 smuggled smuggled-line smuggled-quote smuggled-text placeholder; do
	hostile $c | tb_write_nftables_conf
	line=$(grep -an "^## $c\$" "$TB_ROOT/etc/nftables.conf" | cut -d: -f1)
	line=$((line + 1))
	reloads=$(log_count "Reloading configuration")
	tb_exec systemctl reload scnpm.service 2>/dev/null
	rc=$?
	# the daemon was not told; the unit's check (whose lines journald may not file under
	# the unit: it is gone before they are read) names file:line
	tap_check "$c: systemctl reload scnpm fails (exit $rc), scnpm --check names nftables.conf:$line" \
		eval '[ $rc != 0 ] && [ "$(log_count "Reloading configuration")" = "$reloads" ] && check_names $line'
	tap_check "$c: the ruleset is byte for byte unchanged, the same scnpm runs" \
		eval 'unchanged S0 "$c-reload" && same_daemon'
	# the daemon's own parse, without the check in front of it (the text the kernel
	# would refuse is no parse error: only systemctl reload's dry run stops it)
	[ $c = smuggled-text ] && continue
	failed=$(log_count "Reload failed, keeping the running configuration")
	tb_exec systemctl kill -s HUP --kill-who=main scnpm.service
	reload_failed() {
		[ "$(log_count "Reload failed, keeping the running configuration")" -gt "$failed" ]
	}
	tap_check "$c: SIGHUP: the reload fails, the ruleset is byte for byte unchanged, the same scnpm runs" \
		eval 'tb_wait reload_failed && unchanged S0 "$c-hup" && same_daemon'
done
printf '%s\n' "$CONF2" | tb_write_nftables_conf
tap_check "then the good configuration: systemctl reload scnpm succeeds" tb_exec systemctl reload scnpm.service
tap_check "and applies: keep.service's rule gone, app2.service's in place, exactly" tb_wait exact app2
tap_check "app2.service passes, keep.service does not, the same scnpm runs" \
	eval 'tb_allowed app2.service 7001 && tb_blocked keep.service 7001 && same_daemon'

# ---------------------------------------------------------------------------
# Hostile cgroup names of an unprivileged user

barrier_rules() { # N: the rules of uid 1000's app-ok.scope, a valid name
	[ "$(tb_count_rules "${W[@]}" "^socket cgroupv2 level 5 \"$APP/app-ok.scope\" udp dport 7064 accept comment \"app-ok.scope\"\$")" = "$1" ] &&
		[ "$(tb_count_rules "${W[@]}" "udp dport 7064 ")" = "$1" ]
}
# uid 1000's valid app-ok.scope made and removed, its rule come and gone: what the
# cgroup source saw before is handled
barrier() {
	tb_as_user mkdir "/sys/fs/cgroup/$APP/app-ok.scope" && tb_wait barrier_rules 1 &&
		tb_as_user rmdir "/sys/fs/cgroup/$APP/app-ok.scope" && tb_wait barrier_rules 0
}
warnings() {
	tb_scnpm_log -p warning | grep -c "Ignoring cgroup"
}
hostile_cleanup() {
	[ -n "$TB_LEADER" ] && tb_as_user /opt/tb/hostile-cgroups.sh "$APP" remove >/dev/null 2>&1
	return 0
}
input_exit() {
	local rc=$?

	hostile_cleanup
	(exit $rc)
	tb_teardown
}
trap input_exit EXIT

snapshot C0
w0=$(warnings)
out=$(tb_as_user /opt/tb/hostile-cgroups.sh "$APP" create 2>&1)
made=$(sed -n 's/^MADE //p' <<<"$out")
tap_check "(setup) uid $U_UID made ${made:-0} hostile directories below its app.slice" \
	test "${made:-0}" -ge 20
tap_check "(setup) the barrier: uid $U_UID's app-ok.scope got its rule and lost it" barrier
tap_check "the ruleset is byte for byte unchanged: no system rule moved or added, none for the names" \
	unchanged C0 C1
tap_check "victim.service passes, guarded.service is dropped, the same scnpm runs" \
	eval 'tb_allowed victim.service 7061 && tb_blocked guarded.service 7062 && same_daemon'
tap_check "each name warned about once at most ($(($(warnings) - w0)) warnings for $made names)" \
	eval '[ $(($(warnings) - w0)) -le "$made" ] && ! tb_scnpm_log -p warning | grep -q ".\{1000\}"'
tap_check "(setup) uid $U_UID removes them all" \
	eval 'tb_as_user /opt/tb/hostile-cgroups.sh "$APP" remove >/dev/null'
tap_check "after the removals: the barrier, the ruleset byte for byte unchanged, the same scnpm runs" \
	eval 'barrier && unchanged C0 C2 && same_daemon'

# ---------------------------------------------------------------------------
# Bad modules

MODS=(/opt/build/modules/source-cgroupfs/scnpm-source-cgroupfs.so
	/opt/build/modules/sink-nft/scnpm-sink-nft.so /opt/build/modules/sink-nftnl/scnpm-sink-nftnl.so)
# moddir NAME: a trusted module directory /var/lib/tb-mods/NAME with copies of the
# default modules
moddir() {
	tb_exec sh -c 'd=/var/lib/tb-mods/$1 && shift && install -d -m 0755 /var/lib/tb-mods &&
		rm -rf "$d" && install -d -m 0755 "$d" && install -m 0644 "$@" "$d/"' - "$1" "${MODS[@]}"
	echo "/var/lib/tb-mods/$1"
}
S=scnpm-source-cgroupfs.so
snapshot M0
# refused NAME DIR FILE WHY: scnpm --module-dir DIR refuses to start (exit 1) with exactly
# one line, an error naming FILE and saying WHY; nothing in the kernel changed
refused() {
	local out rc

	out=$(tb_scnpm_run --module-dir="$2" /etc/nftables.conf 2>&1 </dev/null)
	rc=$?
	if [ $rc = 1 ] && [ "$(grep -c . <<<"$out")" = 1 ] && grep -qF -- "$3" <<<"$out" &&
		grep -qF -- "$4" <<<"$out" && unchanged M0 "M-$1"; then
		echo "# $out"
		return 0
	fi
	echo "# exit $rc:"
	tap_diag <<<"$out"
	return 1
}

d=$(moddir truncated)
for size in 1024 4096 16384; do
	tb_exec sh -c 'head -c "$1" "$2" >"$3/$4"' - "$size" "${MODS[0]}" "$d" "$S"
	tap_check "a module cut to $size bytes: refused, one line naming it (truncated)" \
		refused "truncated-$size" "$d" "$d/$S: refusing module" "truncated"
done

d=$(moddir evil-link)
tb_exec sh -c 'install -d -m 0777 /tmp/tb-evil && cp "$1" /tmp/tb-evil/ && ln -sf "/tmp/tb-evil/$2" "$3/$2"' - \
	"${MODS[0]}" "$S" "$d"
tap_check "a module that is a symlink into a world-writable directory: refused, naming both" \
	refused evil-link "$d" "$d/$S: refusing module: directory '/tmp/tb-evil'" "writable by everyone"

d=$(moddir dangling)
tb_exec ln -sf /nonexistent/scnpm-source-cgroupfs.so "$d/$S"
tap_check "a module that is a dangling symlink: refused, one line naming it" \
	refused dangling "$d" "$d/$S: refusing module" "symlink whose target cannot be resolved"

d=$(moddir open-dir)
tb_exec chmod 0777 "$d"
tap_check "a world-writable module directory: refused, one line naming the file and the directory" \
	refused open-dir "$d" "$d/$S: refusing module: directory '$d'" "writable by everyone (mode 0777)"

d=$(moddir group-writable)
tb_exec chmod 0664 "$d/$S"
tap_check "a group-writable module: refused, one line naming it" \
	refused group-writable "$d" "$d/$S: refusing module" "writable by its group"

d=$(moddir unresolved)
tb_exec install -m 0644 /opt/build/tests/fixtures/bad-modules/scnpm-source-unresolved.so "$d/"
unresolved() {
	local out rc

	out=$(tb_scnpm_run --module-dir="$d" --source unresolved /etc/nftables.conf 2>&1 </dev/null)
	rc=$?
	echo "# $out"
	[ $rc = 1 ] && [ "$(grep -c . <<<"$out")" = 1 ] &&
		grep -qF "$d/scnpm-source-unresolved.so: cannot load module" <<<"$out" && unchanged M0 M-unresolved
}
tap_check "a module that cannot be linked (an undefined symbol): refused, one line naming it" unresolved

d=$(moddir good-link)
tb_exec ln -sf "${MODS[0]}" "$d/$S"
tap_check "a module that is a symlink to a trusted directory: followed (scnpm --check with it passes)" \
	eval 'tb_scnpm_run --module-dir="$d" --check /etc/nftables.conf >/dev/null 2>&1'

# the shipped unit with a bad module directory
d=$(moddir truncated-unit)
tb_exec sh -c 'head -c 4096 "$1" >"$2/$3"' - "${MODS[0]}" "$d" "$S"
tb_exec mkdir -p /run/systemd/system/scnpm.service.d
tb_exec sh -c 'printf "[Service]\nEnvironment=SCNPM_MODULE_DIR=%s\n" "$1" >/run/systemd/system/scnpm.service.d/tb-bad.conf' - "$d"
tb_exec systemctl daemon-reload
TB_EXPECT_DAEMON=""
tb_exec systemctl stop scnpm.service
snapshot U0
since=$(tb_exec date '+%Y-%m-%d %H:%M:%S')
tap_check "the shipped unit with a truncated module: systemctl restart fails" \
	eval '! timeout 30 nsenter -t "$TB_LEADER" -a systemctl restart scnpm.service 2>/dev/null'
unit_refused() {
	[ "$(tb_exec systemctl show -P ExecMainStatus scnpm.service)" = 1 ] &&
		[ "$(tb_exec systemctl show -P ActiveState scnpm.service)" = failed ] &&
		[ "$(tb_exec systemctl show -P NRestarts scnpm.service)" = 0 ] &&
		[ "$(tb_scnpm_log --since "$since" -p err | grep -c "refusing module")" = 1 ] &&
		tb_scnpm_log --since "$since" -p err | grep -qF "$d/$S: refusing module: truncated"
}
tap_check "exit status 1, failed and not restarted (RestartPreventExitStatus), one error line naming the file" \
	unit_refused
tap_check "the ruleset is byte for byte as scnpm left it" unchanged U0 U1
tb_exec rm /run/systemd/system/scnpm.service.d/tb-bad.conf
tb_exec systemctl daemon-reload
tb_exec systemctl reset-failed scnpm.service
TB_EXPECT_DAEMON=1
tap_check "with its own modules again: the shipped unit starts, the exact state" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl start scnpm.service && tb_wait exact app2'
PID=$(tb_scnpm_pid)
nope() {
	! tb_scnpm_log | grep -qE 'Assertion|segfault|double free'
}
tap_check "scnpm still runs, nothing alarming logged" eval 'same_daemon && nope'
tb_exec systemctl stop scnpm.service
TB_EXPECT_DAEMON=""
[ $TAP_FAILED = 0 ]
