# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Testbed for scnpm's end-to-end tests: a real systemd booted in a throwaway
# systemd-nspawn container with its own network namespace (recipe:
# shared/notes/testbed.md). Source it from a bash script, then:
#
#   tb_preflight            # root, systemd-nspawn, ...: skip or fail (CI=true)
#   tb_boot                 # rootfs under /var/tmp, boot, wait for the system to run
#   tb_exec CMD...          # run CMD in the container (all namespaces)
#   ...                     # teardown runs from an EXIT trap: poweroff, kill, rm
#
# Inside the container the build dir is /opt/build (read-only), the source tree
# /opt/src (read-only) and /opt/tb a scratch dir shared with the host
# ($TB_ROOT/opt/tb). Nothing here touches the host's own firewall or network: every
# nft call runs inside the container's network namespace.
#
# The container's /usr is the host's, read-only. With TB_WRITABLE_USR=1 (set before
# tb_boot) it is an overlay on the host's instead, writes going to $TB_DIR/usr-upper,
# and /var/lib/dpkg a copy of the host's: packages install and purge in there as on
# the host, and go with the container.
#
# Also a few TAP helpers (tap_plan, tap_check, tap_ok) so the test scripts print one
# "ok N - ..." line per check.
#
# A sanitized build (tools/run-tests --sanitize exports ASAN_OPTIONS and UBSAN_OPTIONS)
# runs sanitized in the container too: the daemon gets the same options (TB_SAN_ENV),
# with its reports written to /opt/tb/sanitizer/, and a script that leaves a report
# there fails at teardown with the report in its output. The host's /usr, and so the
# sanitizer runtime libraries, are the container's.

TB_MACHINE=${TB_MACHINE:-scnpm-e2e-$$}
TB_DIR=""		# per-run directory under /var/tmp
TB_ROOT=""		# the container's root tree
TB_NSPAWN_PID=""	# systemd-nspawn
TB_LEADER=""		# the container's PID 1, as seen from the host
TB_CGROUP=""		# per-run host cgroup nspawn runs in (so runs never collide)
TB_USER_ENV=(env XDG_RUNTIME_DIR=/run/user/0)
TB_BUILD_DIR=${SCNPM_BUILD_DIR:-}
TB_SOURCE_DIR=${SCNPM_SOURCE_DIR:-}
TB_SCNPM_UNIT=scnpm-under-test.service
TB_WAIT_TIMEOUT=${TB_WAIT_TIMEOUT:-10}	# seconds a condition may take to become true
TB_QUIET=${TB_QUIET:-}
TB_SAN_DIR=/opt/tb/sanitizer	# the daemon's sanitizer reports, as the container sees it

# VAR=VALUE words for the daemon in the container: the sanitizer options of the build
# under test, with log_path pointing into TB_SAN_DIR. Empty for a normal build.
tb_sanitizer_env() {
	local v val

	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		val=${!v:-}
		[ -n "$val" ] || continue
		val=$(sed -E "s#(^|:)log_path=[^:]*##" <<<"$val")
		[ "$v" = LSAN_OPTIONS ] || val+=":log_path=$TB_SAN_DIR/$(tr A-Z a-z <<<"${v%%_*}")"
		echo "$v=${val#:}"
	done
}
mapfile -t TB_SAN_ENV < <(tb_sanitizer_env)

# Lines for the [Service] section of a hardened unit (the shipped scnpm.service) that
# runs the sanitized daemon: where it may write its reports, and two options its
# sandbox needs. Its seccomp filter refuses ptrace(), which LeakSanitizer stops the
# process with, and setrlimit() (~@resources), which ASan turns core dumps off with; so
# there, leaks are not checked (the other scripts check them, under systemd-run).
tb_sanitizer_unit_lines() {
	local e

	[ ${#TB_SAN_ENV[@]} -gt 0 ] || return 0
	echo "ReadWritePaths=$TB_SAN_DIR"
	for e in "${TB_SAN_ENV[@]}"; do
		case $e in
		ASAN_OPTIONS=*) echo "Environment=\"$e:detect_leaks=0:disable_coredump=0\"" ;;
		*) echo "Environment=\"$e\"" ;;
		esac
	done
}

# tb_sanitizer_check: fail (TAP "not ok", status 1) when the daemon left a report.
tb_sanitizer_check() {
	local f found=0

	[ -n "$TB_ROOT" ] && [ -d "$TB_ROOT$TB_SAN_DIR" ] || return 0
	for f in "$TB_ROOT$TB_SAN_DIR"/*; do
		[ -f "$f" ] || continue
		found=1
		echo "# --- sanitizer report ${f#"$TB_ROOT"}:"
		tail -60 "$f" | sed 's/^/# /'
	done
	[ $found = 0 ] && return 0
	echo "not ok - sanitizer report(s) from scnpm in the container"
	return 1
}

tb_log() {
	[ -n "$TB_QUIET" ] && return 0
	echo "# $*" >&2
}

tb_die() {
	echo "Bail out! $*"
	echo "error: $*" >&2
	exit 1
}

# ---------------------------------------------------------------------------
# Preflight: a missing prerequisite fails under CI=true, is a skip otherwise. The
# skip is a TAP plan of no tests ("1..0 # SKIP why") and exit status 0: meson 1.0
# reports a TAP test that exits non-zero, 77 included, as an error, so a package
# build's "meson test" as an unprivileged user would fail. Scripts meson runs without
# protocol: 'tap' (bench/run) set TB_SKIP_STATUS=77.

tb_missing() {
	if [ "${CI:-}" = true ]; then
		echo "Bail out! e2e prerequisite missing: $*"
		echo "error: e2e prerequisite missing: $* (CI=true: failing instead of skipping)" >&2
		exit 1
	fi
	echo "1..0 # SKIP e2e prerequisite missing: $*"
	echo "skip: e2e prerequisite missing: $*" >&2
	exit "${TB_SKIP_STATUS:-0}"
}

# tb_preflight [--no-build]: check what the testbed needs; with --no-build the scnpm
# build is not required (plumbing tests).
tb_preflight() {
	local need_build=1 c

	[ "${1:-}" = --no-build ] && need_build=0
	[ "$(id -u)" = 0 ] || tb_missing "must run as root (uid $(id -u))"
	for c in systemd-nspawn nsenter nft setsid timeout; do
		command -v "$c" >/dev/null || tb_missing "command '$c' not found (apt-get install systemd-container nftables util-linux coreutils)"
	done
	[ -x /usr/lib/systemd/systemd ] || [ -x /lib/systemd/systemd ] ||
		tb_missing "/usr/lib/systemd/systemd not found (apt-get install systemd)"
	[ -x /usr/bin/nc ] || tb_missing "/usr/bin/nc not found (apt-get install netcat-openbsd)"
	tb_cgroup2_mount >/dev/null || tb_missing "no cgroup2 hierarchy mounted on the host"
	if [ $need_build = 1 ]; then
		[ -n "$TB_BUILD_DIR" ] || tb_missing "SCNPM_BUILD_DIR is not set (run through 'meson test')"
		[ -x "$TB_BUILD_DIR/core/scnpm" ] ||
			tb_missing "$TB_BUILD_DIR/core/scnpm not built"
	fi
}

# ---------------------------------------------------------------------------
# Host cgroup for the run. With --keep-unit, nspawn creates payload/ and supervisor/
# below its own cgroup and leaves them behind; run it in a cgroup of its own so that
# two runs never share them and teardown can remove them.

tb_cgroup2_mount() {
	awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo | grep .
}

tb_cgroup_create() {
	local mnt own

	mnt=$(tb_cgroup2_mount) || return 1
	own=$(awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup)
	TB_CGROUP="$mnt${own%/}/scnpm-e2e-$$"
	mkdir "$TB_CGROUP" 2>/dev/null || { TB_CGROUP=""; return 1; }
}

tb_cgroup_remove() {
	local d

	[ -n "$TB_CGROUP" ] && [ -d "$TB_CGROUP" ] || return 0
	# deepest first; only empty cgroups can go
	find "$TB_CGROUP" -depth -type d 2>/dev/null | while read -r d; do
		rmdir "$d" 2>/dev/null
	done
	[ -d "$TB_CGROUP" ] && tb_log "could not remove host cgroup $TB_CGROUP"
	TB_CGROUP=""
}

# ---------------------------------------------------------------------------
# Boot and teardown

# tb_rootfs: the throwaway root: host /usr borrowed read-only (bind at boot), a copy
# of /etc, empty everything else.
tb_rootfs() {
	local d

	TB_DIR=$(mktemp -d /var/tmp/scnpm-e2e.XXXXXX) || tb_die "mktemp in /var/tmp failed"
	TB_ROOT=$TB_DIR/rootfs
	mkdir -p "$TB_ROOT"/{usr,var,tmp,run,proc,sys,dev,root,home,opt/build,opt/src,opt/tb}
	# writable for a daemon running as a dynamic user, too
	mkdir -m 1777 "$TB_ROOT$TB_SAN_DIR"
	for d in bin sbin lib lib64; do
		ln -s usr/$d "$TB_ROOT/$d"
	done
	cp -a /etc "$TB_ROOT/etc" 2>/dev/null || true
	# nspawn checks os-release before the binds are in place
	rm -f "$TB_ROOT/etc/os-release"
	cp /usr/lib/os-release "$TB_ROOT/etc/os-release"
	: >"$TB_ROOT/etc/machine-id"
	if [ -n "${TB_WRITABLE_USR:-}" ]; then
		mkdir -p "$TB_DIR/usr-upper" "$TB_ROOT/var/lib"
		cp -a /var/lib/dpkg "$TB_ROOT/var/lib/dpkg"
	fi
	# the container's own firewall: nothing from the host's
	tb_write_nftables_conf <<-'EOF'
		#!/usr/sbin/nft -f
		flush ruleset
	EOF
	# units of the host that cannot work in here only slow the boot down
	rm -f "$TB_ROOT"/etc/systemd/system/multi-user.target.wants/postgresql*.service
}

# tb_write_nftables_conf: stdin becomes the container's /etc/nftables.conf
# (loaded by nftables.service there).
tb_write_nftables_conf() {
	cat >"$TB_ROOT/etc/nftables.conf"
}

tb_find_leader() {
	local c

	for c in $(pgrep -P "$TB_NSPAWN_PID" 2>/dev/null); do
		if [ "$(awk '/^NSpid:/ { print $NF }' "/proc/$c/status" 2>/dev/null)" = 1 ]; then
			TB_LEADER=$c
			return 0
		fi
	done
	return 1
}

# tb_boot [extra nspawn args...]
tb_boot() {
	local state i binds=(--bind-ro=/usr)

	[ -n "$TB_ROOT" ] || tb_rootfs
	[ -n "${TB_WRITABLE_USR:-}" ] && binds=(--overlay=/usr:"$TB_DIR/usr-upper":/usr)
	trap tb_teardown EXIT
	trap 'exit 130' INT TERM

	[ -n "$TB_BUILD_DIR" ] && [ -d "$TB_BUILD_DIR" ] &&
		binds+=(--bind-ro="$(realpath "$TB_BUILD_DIR")":/opt/build)
	[ -n "$TB_SOURCE_DIR" ] && [ -d "$TB_SOURCE_DIR" ] &&
		binds+=(--bind-ro="$(realpath "$TB_SOURCE_DIR")":/opt/src)

	tb_cgroup_create || tb_log "no per-run cgroup, nspawn runs in ours"
	(
		[ -n "$TB_CGROUP" ] && echo $BASHPID >"$TB_CGROUP/cgroup.procs"
		SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec setsid systemd-nspawn -q -D "$TB_ROOT" \
			"${binds[@]}" \
			--private-network --register=no --keep-unit -M "$TB_MACHINE" \
			-b -- systemd.firstboot=off systemd.unit=multi-user.target \
			</dev/null >"$TB_DIR/console.log" 2>&1
	) &
	TB_NSPAWN_PID=$!

	for ((i = 0; i < 200; i++)); do
		tb_find_leader && break
		kill -0 "$TB_NSPAWN_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$TB_LEADER" ] || { tail -20 "$TB_DIR/console.log" >&2; tb_die "container did not start"; }

	for ((i = 0; i < 120; i++)); do
		state=$(timeout 30 nsenter -t "$TB_LEADER" -a systemctl is-system-running --wait 2>/dev/null)
		case $state in
		running | degraded) break ;;
		esac
		kill -0 "$TB_NSPAWN_PID" 2>/dev/null || break
		sleep 0.25
	done
	case $state in
	running | degraded) ;;
	*)
		tail -20 "$TB_DIR/console.log" >&2
		tb_die "container did not boot (state '$state')"
		;;
	esac
	tb_log "container $TB_MACHINE up: leader pid $TB_LEADER, root $TB_ROOT ($state)"
}

tb_teardown() {
	local rc=$? i san_failed=0

	trap - EXIT INT TERM
	if [ -n "${TB_KEEP:-}" ] && [ -n "$TB_LEADER" ]; then
		echo "# TB_KEEP set: container left running, leader $TB_LEADER, root $TB_ROOT" >&2
		return $rc
	fi
	if [ -n "$TB_NSPAWN_PID" ] && kill -0 "$TB_NSPAWN_PID" 2>/dev/null; then
		[ -n "$TB_LEADER" ] && timeout 10 nsenter -t "$TB_LEADER" -a systemctl poweroff 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$TB_NSPAWN_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$TB_NSPAWN_PID" 2>/dev/null; then
			tb_log "container did not power off, killing nspawn $TB_NSPAWN_PID"
			kill -KILL "$TB_NSPAWN_PID" 2>/dev/null
			[ -n "$TB_LEADER" ] && kill -KILL "$TB_LEADER" 2>/dev/null
		fi
		wait "$TB_NSPAWN_PID" 2>/dev/null
	fi
	# after the container is gone: the daemon's exit (LeakSanitizer) has been written
	tb_sanitizer_check || san_failed=1
	# the binds and mounts live in nspawn's mount namespace; --one-file-system anyway
	[ -n "$TB_DIR" ] && [ -d "$TB_DIR" ] && rm -rf --one-file-system "$TB_DIR"
	tb_cgroup_remove
	TB_LEADER="" TB_NSPAWN_PID="" TB_DIR="" TB_ROOT=""
	# from an EXIT trap only exit changes the script's status
	[ $san_failed = 1 ] && exit 1
	return $rc
}

# ---------------------------------------------------------------------------
# Running things in the container

tb_exec() {
	nsenter -t "$TB_LEADER" -a "$@"
}

tb_sh() {
	nsenter -t "$TB_LEADER" -a bash -c "$1"
}

tb_start_user_manager() {
	tb_exec systemctl start user@0.service || return 1
	tb_exec "${TB_USER_ENV[@]}" systemctl --user is-system-running --wait >/dev/null 2>&1
	return 0
}

# tb_user_setup UID: an ordinary user with that uid in the container (made unless the
# copied /etc has one), its home with ~/.config/systemd/user, its user manager running.
# Sets TB_U_UID, TB_U_GID, TB_U_HOME and TB_U_UNITS (the user's unit directory).
tb_user_setup() {
	TB_U_UID=$1
	if ! tb_exec getent passwd "$TB_U_UID" >/dev/null; then
		tb_exec useradd -u "$TB_U_UID" -U -m -s /bin/bash "scnpm-e2e-$TB_U_UID" || return 1
	fi
	TB_U_GID=$(tb_exec getent passwd "$TB_U_UID" | cut -d: -f4)
	TB_U_HOME=$(tb_exec getent passwd "$TB_U_UID" | cut -d: -f6)
	[ -n "$TB_U_GID" ] && [ -n "$TB_U_HOME" ] || return 1
	TB_U_UNITS=$TB_U_HOME/.config/systemd/user
	tb_exec install -d -o "$TB_U_UID" -g "$TB_U_GID" "$TB_U_HOME" "$TB_U_HOME/.config" \
		"$TB_U_HOME/.config/systemd" "$TB_U_UNITS" || return 1
	tb_exec systemctl start "user@$TB_U_UID.service" || return 1
	tb_as_user systemctl --user is-system-running --wait >/dev/null 2>&1
	return 0
}

# tb_as_user CMD...: CMD in the container as the user of tb_user_setup, with its runtime
# dir (setpriv, no other groups).
tb_as_user() {
	tb_exec setpriv --reuid="$TB_U_UID" --regid="$TB_U_GID" --clear-groups \
		env HOME="$TB_U_HOME" XDG_RUNTIME_DIR="/run/user/$TB_U_UID" "$@"
}

# tb_user_service NAME: a long-running user unit of that user (as tb_simple_service).
tb_user_service() {
	tb_exec sh -c 'cat >"$1" && chown "$2" "$1"' - "$TB_U_UNITS/$1" "$TB_U_UID:$TB_U_GID" <<-'EOF'
		[Unit]
		StartLimitIntervalSec=0
		[Service]
		ExecStart=/bin/sleep infinity
	EOF
}

# tb_systemctl [--user] ARGS...
tb_systemctl() {
	if [ "$1" = --user ]; then
		shift
		tb_exec "${TB_USER_ENV[@]}" systemctl --user "$@"
	else
		tb_exec systemctl "$@"
	fi
}

# tb_write_unit [--user] NAME  (unit text on stdin): system units go to
# /run/systemd/system, user units to /root/.config/systemd/user; then daemon-reload.
tb_write_unit() {
	local user="" dir=/run/systemd/system

	if [ "$1" = --user ]; then
		user=--user
		dir=/root/.config/systemd/user
		shift
	fi
	tb_exec sh -c "mkdir -p $dir && cat >$dir/$1" || return 1
	tb_systemctl $user daemon-reload
}

# tb_simple_service [--user] NAME: a long-running service restarted at will.
tb_simple_service() {
	local user=""

	[ "$1" = --user ] && { user=--user; shift; }
	tb_write_unit $user "$1" <<-'EOF'
		[Unit]
		StartLimitIntervalSec=0
		[Service]
		ExecStart=/bin/sleep infinity
	EOF
}

# tb_first_packet_service [--user] NAME PORT: a service whose very first action is to
# send one UDP datagram, its INVOCATION_ID, to 127.0.0.1:PORT; it then appends
# "INVOCATION_ID sent" (or "blocked", when the output hook dropped it) to
# /run/first-packet-NAME.log and sleeps. Nothing retries: what a real service's first
# connection would meet.
tb_first_packet_service() {
	local user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	tb_write_unit "${user[@]}" "$1" <<-EOF
		[Unit]
		StartLimitIntervalSec=0
		[Service]
		ExecStart=/bin/bash -c 'if echo "\$INVOCATION_ID" 2>/dev/null >/dev/udp/127.0.0.1/$2; then r=sent; else r=blocked; fi; echo "\$INVOCATION_ID \$r" >>/run/first-packet-$1.log; exec sleep infinity'
	EOF
}

# tb_first_packet_restart [--user] NAME PORT: (re)start the service and wait until it
# sent its first packet. 0 when the listener on PORT received it, 1 when it was blocked.
tb_first_packet_restart() {
	local user=() name n id

	[ "$1" = --user ] && { user=(--user); shift; }
	name=$1
	n=$(tb_exec cat "/run/first-packet-$name.log" 2>/dev/null | wc -l)
	tb_systemctl "${user[@]}" restart "$name" || return 2
	tb_wait eval '[ "$(tb_exec cat "/run/first-packet-$name.log" 2>/dev/null | wc -l)" -gt "$n" ]' || return 2
	id=$(tb_exec tail -n 1 "/run/first-packet-$name.log")
	case $id in
	*" sent") tb_wait tb_received "$2" "${id% sent}" ;;
	*) return 1 ;;
	esac
}

# tb_cgroup [--user] UNIT: the unit's cgroup path (no leading '/'), empty if none.
tb_cgroup() {
	local cg user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	cg=$(tb_systemctl "${user[@]}" show -P ControlGroup "$1" 2>/dev/null)
	echo "${cg#/}"
}

# tb_cgroup_id [--user] UNIT: the cgroup's id (the directory's inode), as nft shows it
# for a cgroup that is gone.
tb_cgroup_id() {
	local cg

	cg=$(tb_cgroup "$@")
	[ -n "$cg" ] || return 1
	tb_exec stat -c %i "/sys/fs/cgroup/$cg"
}

# tb_in_unit [--user] UNIT CMD...: run CMD in the container from inside UNIT's cgroup,
# so its sockets belong to the unit (what "socket cgroupv2" matches).
tb_in_unit() {
	local cg user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	cg=$(tb_cgroup "${user[@]}" "$1")
	shift
	[ -n "$cg" ] || { tb_log "unit has no cgroup"; return 2; }
	tb_exec bash -c 'echo $$ >"/sys/fs/cgroup/$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}

# tb_listen [udp|tcp] PORT: a listener on 127.0.0.1:PORT in the container, writing
# what it receives to /run/tb-listen-PROTO-PORT.log. Idempotent.
tb_listen() {
	local proto=udp port flags=(-k -l)

	[ "$1" = udp ] || [ "$1" = tcp ] && { proto=$1; shift; }
	port=$1
	[ $proto = udp ] && flags=(-u -k -l)
	tb_systemctl is-active -q "tb-listen-$proto-$port.service" && return 0
	tb_exec systemd-run -q --unit "tb-listen-$proto-$port" \
		-p StandardOutput=file:/run/tb-listen-$proto-$port.log \
		/usr/bin/nc "${flags[@]}" 127.0.0.1 "$port" || return 1
	# wait for the socket
	tb_wait tb_sh "ss -Hln${proto:0:1} 'sport = :$port' | grep -q ."
}

# tb_received [udp|tcp] PORT TOKEN: has the listener on PORT received TOKEN?
tb_received() {
	local proto=udp

	[ "$1" = udp ] || [ "$1" = tcp ] && { proto=$1; shift; }
	tb_exec grep -qxF -- "$2" "/run/tb-listen-$proto-$1.log" 2>/dev/null
}

# tb_send_udp [--user] UNIT PORT TOKEN: send TOKEN in one datagram to 127.0.0.1:PORT
# from inside UNIT's cgroup. Returns 0 when the kernel let it out: a packet dropped
# on the output hook fails the send with EPERM right away, so both outcomes are
# known when this returns.
tb_send_udp() {
	local user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	tb_in_unit "${user[@]}" "$1" bash -c 'echo "$2" >"/dev/udp/127.0.0.1/$1"' - "$2" "$3" 2>/dev/null
}

# tb_send_tcp [--user] UNIT PORT TOKEN: connect to 127.0.0.1:PORT from inside UNIT's
# cgroup and send TOKEN. A dropped SYN is retried by the kernel, so a blocked connect
# only ends at the 2 s timeout.
tb_send_tcp() {
	local user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	tb_in_unit "${user[@]}" "$1" timeout 2 bash -c \
		'exec 3<>"/dev/tcp/127.0.0.1/$1" && echo "$2" >&3' - "$2" "$3" 2>/dev/null
}

# tb_allowed [--user] [--tcp] UNIT PORT: a fresh token sent from UNIT arrives at the
# listener on PORT (start it with tb_listen first).
# tb_blocked [--user] [--tcp] UNIT PORT: the send fails and the listener did not get it.
TB_TOKEN_SEQ=0
tb__send_opts() {
	TB__USER=() TB__PROTO=udp
	while :; do
		case $1 in
		--user) TB__USER=(--user) ;;
		--tcp) TB__PROTO=tcp ;;
		*) break ;;
		esac
		shift
	done
	TB__ARGS=("$@")
}

tb_allowed() {
	local tok

	tb__send_opts "$@"
	set -- "${TB__ARGS[@]}"
	tok="tok-$$-$((++TB_TOKEN_SEQ))-$1"
	"tb_send_$TB__PROTO" "${TB__USER[@]}" "$1" "$2" "$tok" || return 1
	tb_wait tb_received "$TB__PROTO" "$2" "$tok"
}

tb_blocked() {
	local tok

	tb__send_opts "$@"
	set -- "${TB__ARGS[@]}"
	tok="tok-$$-$((++TB_TOKEN_SEQ))-$1"
	"tb_send_$TB__PROTO" "${TB__USER[@]}" "$1" "$2" "$tok" && return 1
	! tb_received "$TB__PROTO" "$2" "$tok"
}

# tb_base_ruleset: the ruleset the tests start from (print it): UDP to loopback ports
# 7000-7999 must pass the whitelist chain, which starts empty; everything else passes.
# Scripts append their "# unit :: add rule ..." lines and write it with
# tb_write_nftables_conf.
tb_base_ruleset() {
	cat <<-'EOF'
		#!/usr/sbin/nft -f
		flush ruleset
		table inet filter {
			chain whitelist {
			}
			chain output {
				type filter hook output priority 0; policy accept;
				oifname "lo" udp dport 7000-7999 jump whitelist
				oifname "lo" udp dport 7000-7999 drop
			}
		}
	EOF
}

# tb_failmode_ruleset [--foreign N] [ITEM...]: the ruleset of the failure-mode tests
# (print it): the base ruleset (tb_base_ruleset) with N foreign rules in the whitelist
# chain (tb_foreign_rules prints them as tb_exact_chain wants them), and for each ITEM:
# "set NAME", a cgroupsv2 set; "set NAME LEVEL", one whose members' packets to the
# whitelisted ports pass too (socket cgroupv2 level LEVEL @NAME accept); "chain NAME", an
# empty chain. Scripts append their directives.
tb_failmode_ruleset() {
	local n=0 i item kind name level sets=() chains=() passes=()

	[ "${1:-}" = --foreign ] && { n=$2; shift 2; }
	for item; do
		read -r kind name level <<<"$item"
		case $kind in
		set)
			sets+=("$name")
			[ -n "$level" ] && passes+=("oifname \"lo\" udp dport 7000-7999 socket cgroupv2 level $level @$name accept")
			;;
		chain) chains+=("$name") ;;
		*) tb_die "tb_failmode_ruleset: unknown item '$item'" ;;
		esac
	done
	echo '#!/usr/sbin/nft -f'
	echo 'flush ruleset'
	echo 'table inet filter {'
	for i in "${sets[@]}"; do
		printf '\tset %s { type cgroupsv2; }\n' "$i"
	done
	for i in "${chains[@]}"; do
		printf '\tchain %s {\n\t}\n' "$i"
	done
	printf '\tchain whitelist {\n'
	tb_foreign_rules "$n" | sed 's/^/\t\t/'
	printf '\t}\n'
	printf '\tchain output {\n'
	printf '\t\ttype filter hook output priority 0; policy accept;\n'
	printf '\t\toifname "lo" udp dport 7000-7999 jump whitelist\n'
	for i in "${passes[@]}"; do
		printf '\t\t%s\n' "$i"
	done
	printf '\t\toifname "lo" udp dport 7000-7999 drop\n'
	printf '\t}\n}\n\n'
}

# tb_foreign_rules N: the N foreign rules of tb_failmode_ruleset, one a line.
tb_foreign_rules() {
	local i

	for ((i = 1; i <= $1; i++)); do
		echo "udp dport $((7900 + i)) accept comment \"foreign\""
	done
}

# tb_app_with_rule: the base ruleset plus a literal rule letting app.service send to
# UDP port 7001, loaded by nftables.service; app.service running, a listener on 7001.
tb_app_with_rule() {
	{
		tb_base_ruleset
		echo
		echo '# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app.service" udp dport 7001 accept'
	} | tb_write_nftables_conf
	tb_exec systemctl restart nftables.service
	tb_simple_service app.service
	tb_exec systemctl start app.service
	tb_listen 7001
}

# tb_rule_handles FAMILY TABLE CHAIN PATTERN: handles of the rules matching PATTERN.
tb_rule_handles() {
	tb_exec nft -a list chain "$1" "$2" "$3" 2>/dev/null | grep -E -- "$4" |
		sed -n 's/.*# handle \([0-9]*\)$/\1/p' | tr '\n' ' '
}

# tb_nft_list [CHAIN-SPEC...]: "nft -a list chain inet filter whitelist" or the
# whole ruleset.
tb_nft_list() {
	if [ $# -gt 0 ]; then
		tb_exec nft -a list chain "$@"
	else
		tb_exec nft -a list ruleset
	fi
}

# tb_nft_rules_marked FAMILY TABLE CHAIN: as tb_nft_rules, but a rule that carries
# sink-nft's tag ends in " [scnpm]" instead, so a listing tells ours from the others.
tb_nft_rules_marked() {
	tb_exec nft list chain "$@" 2>/dev/null |
		sed -n '/chain .* {/,/^\t}/p' | sed '1d;$d' | sed 's/^[[:space:]]*//' |
		grep -v -e '^type .* hook ' -e '^$' |
		sed -E -e 's/ comment "scnpm:[0-9a-f]{16}"$/ [scnpm]/' -e 's/ scnpm:[0-9a-f]{16}"$/" [scnpm]/'
}

# tb_nft_rules FAMILY TABLE CHAIN: the chain's rules, one a line, without handles and
# without the tag sink-nft adds to the comment of its rules (tb_nft_tagged counts those).
tb_nft_rules() {
	tb_nft_rules_marked "$@" | sed 's/ \[scnpm\]$//'
}

# tb_nft_tagged FAMILY TABLE CHAIN: how many rules of the chain carry sink-nft's tag.
tb_nft_tagged() {
	local n

	n=$(tb_exec nft list chain "$@" 2>/dev/null | grep -cE 'scnpm:[0-9a-f]{16}"$')
	echo "${n:-0}"
}

# tb_set_ids FAMILY TABLE SET: the elements of a cgroupsv2 set, each as its cgroup id,
# sorted. nft lists a live cgroup by its path (turned into its id here) and one that is
# gone by its id, a bare number.
tb_set_ids() {
	tb_exec bash -c '
		out=$(nft -j list set "$1" "$2" "$3") || exit 1
		jq -r ".nftables[] | .set? // empty | .elem[]?" <<<"$out" | while read -r e; do
			case $e in
			*[!0-9]*) stat -c %i "/sys/fs/cgroup/$e" 2>/dev/null || echo "gone:$e" ;;
			*) echo "$e" ;;
			esac
		done | sort' - "$@"
}

# tb_live_ids [--user] UNIT...: the cgroup ids of the units that run (one a line, sorted),
# for comparing with tb_set_ids.
tb_live_ids() {
	local user=()

	[ "$1" = --user ] && { user=(--user); shift; }
	[ $# -gt 0 ] || return 0
	# one systemctl call for all of them: a value per unit (empty when it has no cgroup)
	tb_systemctl "${user[@]}" show -P ControlGroup "$@" 2>/dev/null | grep . |
		tb_exec bash -c 'while read -r cg; do stat -c %i "/sys/fs/cgroup$cg"; done' 2>/dev/null | sort
}

# The exact final state. Each check compares what the kernel holds with what it must
# hold, as a whole: every expected entry present exactly once, nothing else (nothing
# stale, no duplicate), foreign rules counted like ours. On a mismatch TB_STATE_DIFF
# holds a diff (want -, got +), which tap_ok prints; poll them with tb_wait.
TB_STATE_DIFF=""

tb__state_cmp() { # WHAT WANT GOT
	local want got

	want=$(printf '%s\n' "$2" | grep . | sort)
	got=$(printf '%s\n' "$3" | grep . | sort)
	if [ "$want" = "$got" ]; then
		TB_STATE_DIFF=""
		return 0
	fi
	TB_STATE_DIFF="$1:"$'\n'$(diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | grep '^[<>]' |
		sed -e 's/^</want/' -e 's/^>/got /' | head -40)
	return 1
}

# tb_exact_chain FAMILY TABLE CHAIN EXPECTED: the chain holds exactly the rules of
# EXPECTED (one a line, any order, as tb_nft_rules_marked prints them: ours end in
# " [scnpm]", foreign ones do not).
tb_exact_chain() {
	tb__state_cmp "chain $1 $2 $3" "$4" "$(tb_nft_rules_marked "$1" "$2" "$3")"
}

# tb_exact_set FAMILY TABLE SET EXPECTED: the set (or map) holds exactly the cgroup ids
# of EXPECTED (one a line, as tb_set_ids prints them, e.g. from tb_live_ids).
tb_exact_set() {
	tb__state_cmp "set $1 $2 $3" "$4" "$(tb_set_ids "$1" "$2" "$3")"
}

# tb_count_rules FAMILY TABLE CHAIN PATTERN: how many rules of the chain match the
# (grep -E) pattern.
tb_count_rules() {
	local n

	n=$(tb_nft_rules "$1" "$2" "$3" | grep -cE -- "$4")
	echo "${n:-0}"
}

# tb_stale_rules FAMILY TABLE CHAIN: rules matching a cgroup that is gone (nft then
# shows its id, a bare number, instead of the path).
tb_stale_rules() {
	tb_nft_rules "$@" | grep -E 'socket cgroupv2 level [0-9]+ [0-9]+'
}

# ---------------------------------------------------------------------------
# Waiting: for a condition to become true, never for a fixed time.

# tb_wait CMD...: run CMD until it succeeds, at most TB_WAIT_TIMEOUT seconds.
# Gives up at once when scnpm should be running (TB_EXPECT_DAEMON=1) and is not.
tb_wait() {
	local end=$((SECONDS + TB_WAIT_TIMEOUT))

	while :; do
		"$@" && return 0
		[ $SECONDS -ge $end ] && return 1
		if [ -n "${TB_EXPECT_DAEMON:-}" ] && ! tb_scnpm_running; then
			"$@" && return 0
			return 1
		fi
		sleep 0.1
	done
}

# ---------------------------------------------------------------------------
# Churn: a script in the container (its path there) that loops until stopped, restarting
# units, and writes how many rounds it has done to /run/churn-n after each.

tb_churn_rounds() {
	tb_exec cat /run/churn-n 2>/dev/null || echo 0
}

# tb_churn_start SCRIPT: run it as tb-churn.service and wait until it is under way (a few
# rounds done).
tb_churn_start() {
	tb_exec rm -f /run/churn-n
	tb_exec systemd-run -q --unit tb-churn bash "$1" || return 1
	tb_wait eval '[ "$(tb_churn_rounds)" -ge 3 ]'
}

# tb_churn_more N: wait for N more rounds (the churn goes on meanwhile).
tb_churn_more() {
	local want

	want=$(($(tb_churn_rounds) + $1))
	tb_wait eval '[ "$(tb_churn_rounds)" -ge $want ]'
}

tb_churn_stop() {
	tb_exec systemctl stop tb-churn.service 2>/dev/null
	tb_exec systemctl reset-failed tb-churn.service 2>/dev/null
	return 0
}

# ---------------------------------------------------------------------------
# scnpm in the container

# Module dirs of the build, as the container sees them, colon-joined.
tb_module_dirs() {
	local d out=""

	for d in "$TB_BUILD_DIR"/modules/*/; do
		[ -d "$d" ] || continue
		ls "$d"/scnpm-*.so >/dev/null 2>&1 || continue
		d=${d%/}
		out+="${out:+:}/opt/build/modules/${d##*/}"
	done
	echo "$out"
}

# tb_scnpm_start ARGS...: run /opt/build/core/scnpm ARGS as the transient service
# scnpm-under-test.service (Type=notify: returns once scnpm said READY=1, i.e. after
# its initial reconcile). Returns non-zero when it did not get there.
tb_scnpm_start() {
	TB_EXPECT_DAEMON=1
	tb_exec systemctl reset-failed "$TB_SCNPM_UNIT" 2>/dev/null
	tb_exec sh -c 'rm -f /run/tb-scnpm-exit; printf "%s\n" "echo \"\$EXIT_CODE \$EXIT_STATUS\" >/run/tb-scnpm-exit" >/opt/tb/exit-post.sh'
	tb_exec systemd-run -q --unit "$TB_SCNPM_UNIT" --service-type=notify \
		-p TimeoutStartSec=20 -p TimeoutStopSec=10 \
		-p ExecStopPost="/bin/sh /opt/tb/exit-post.sh" \
		--setenv=SCNPM_MODULE_DIR="$(tb_module_dirs)" \
		"${TB_SAN_ENV[@]/#/--setenv=}" \
		/opt/build/core/scnpm "$@"
}

# tb_install_shipped_unit [SERVICE-SETTING...]: units/scnpm.service as the build
# configured it, installed as the container's scnpm.service, but running the build's
# binary and modules; each argument (such as Restart=no) is added to its [Service].
tb_install_shipped_unit() {
	sed -e 's|^\(Exec[A-Za-z]*\)=[^ ]*/scnpm |\1=/opt/build/core/scnpm |' \
		"$TB_BUILD_DIR/units/scnpm.service" >"$TB_DIR/scnpm.service" || return 1
	{
		printf '\n[Service]\nEnvironment=SCNPM_MODULE_DIR=%s\n' "$(tb_module_dirs)"
		[ $# -gt 0 ] && printf '%s\n' "$@"
		tb_sanitizer_unit_lines
	} >>"$TB_DIR/scnpm.service"
	tb_write_unit scnpm.service <"$TB_DIR/scnpm.service"
}

# tb_scnpm_exit_status: how the last scnpm-under-test ended, as "exited 0",
# "killed TERM", ... (empty while it runs).
tb_scnpm_exit_status() {
	tb_exec cat /run/tb-scnpm-exit 2>/dev/null
}

# tb_scnpm_pid: the main pid of the scnpm under test (0 when none).
tb_scnpm_pid() {
	tb_exec systemctl show -P MainPID "$TB_SCNPM_UNIT"
}

tb_scnpm_running() {
	tb_exec systemctl is-active -q "$TB_SCNPM_UNIT"
}

tb_scnpm_stop() {
	TB_EXPECT_DAEMON=""
	tb_exec systemctl stop "$TB_SCNPM_UNIT" 2>/dev/null
	tb_exec systemctl reset-failed "$TB_SCNPM_UNIT" 2>/dev/null
	return 0
}

# tb_scnpm_log [journalctl args]: what scnpm logged in this run.
tb_scnpm_log() {
	tb_exec journalctl -q --no-pager -o cat -u "$TB_SCNPM_UNIT" "$@"
}

# tb_scnpm_run ARGS...: run scnpm in the foreground (for --flush checks and exit
# codes); prints its stderr, returns its exit status.
tb_scnpm_run() {
	tb_exec env SCNPM_MODULE_DIR="$(tb_module_dirs)" "${TB_SAN_ENV[@]}" /opt/build/core/scnpm "$@"
}

# tb_scnpm_dump: scnpm's log and the ruleset, as TAP comments (after a failure).
tb_scnpm_dump() {
	{
		echo "--- scnpm log (last 30 lines)"
		tb_scnpm_log -n 30 2>&1
		echo "--- nft list ruleset"
		tb_exec nft list ruleset 2>&1
	} | sed 's/^/# /'
}

# ---------------------------------------------------------------------------
# TAP

TAP_N=0
TAP_FAILED=0

tap_plan() {
	echo "1..$1"
}

# tap_ok STATUS DESCRIPTION: status 0 is ok.
tap_ok() {
	TAP_N=$((TAP_N + 1))
	if [ "$1" = 0 ]; then
		echo "ok $TAP_N - $2"
	else
		echo "not ok $TAP_N - $2"
		TAP_FAILED=$((TAP_FAILED + 1))
		[ -n "$TB_STATE_DIFF" ] && tap_diag <<<"$TB_STATE_DIFF"
		TB_STATE_DIFF=""
		[ -n "$TB_LEADER" ] && [ -n "${TB_EXPECT_DAEMON:-}" ] && tb_scnpm_dump
	fi
}

# tap_check DESCRIPTION CMD...: one check.
tap_check() {
	local desc=$1

	shift
	"$@"
	tap_ok $? "$desc"
}

tap_diag() {
	sed 's/^/# /'
}
