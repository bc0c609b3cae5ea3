#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The Debian packages as an administrator gets them: tools/build-deb builds them as an
# unprivileged user and lintian finds nothing; in a throwaway systemd container (its
# /usr an overlay on the host's, its dpkg database a copy: lib.sh's TB_WRITABLE_USR)
# "apt-get install ./scnpm_*.deb ./scnpm-*.deb" installs them from the local files
# (the container has no network, so nothing can come from elsewhere), the maintainer
# scripts dh_installsystemd generated enable and start the shipped unit, "systemctl
# enable --now scnpm" runs it on /etc/nftables.conf with the packaged default modules,
# a rule follows a restarted service, reinstalling a module package restarts the daemon
# (dpkg trigger), and "apt-get purge" leaves nothing behind.
#
# The build skips the test suite (DEB_BUILD_OPTIONS=nocheck): the suite this test is
# part of is that suite.
set -u
. "$(dirname "$0")/../e2e/lib.sh"

tb_preflight --no-build
for c in dpkg-buildpackage dh lintian fakeroot; do
	command -v "$c" >/dev/null ||
		tb_missing "command '$c' not found (apt-get install dpkg-dev debhelper lintian fakeroot)"
done
[ -f "$TB_SOURCE_DIR/debian/control" ] || tb_missing "no debian/control in '$TB_SOURCE_DIR'"
[ -n "${SCNPM_VERSION:-}" ] || tb_missing "SCNPM_VERSION is not set (run through 'meson test')"
id nobody >/dev/null 2>&1 || tb_missing "no user 'nobody' to build as"
tap_plan 13

TB_WRITABLE_USR=1
TB_SCNPM_UNIT=scnpm.service
tb_rootfs
trap tb_teardown EXIT
debs=$TB_ROOT/opt/tb/debs

# logged CMD...: run CMD, show its output (as TAP comments) only when it fails.
logged() {
	"$@" >"$TB_DIR/cmd.log" 2>&1 && return 0
	grep -v -e "^Selecting" -e "^Preparing" -e "^Unpacking" -e "Reading database" "$TB_DIR/cmd.log" | tap_diag
	return 1
}

tap_check "tools/build-deb builds the packages as an unprivileged user, lintian finds nothing" \
	logged env BUILD_USER=nobody DEB_BUILD_OPTIONS=nocheck "$TB_SOURCE_DIR/tools/build-deb" "$debs"
[ $TAP_FAILED = 0 ] || tb_die "no packages to install"
packages=$(for d in "$debs"/*.deb; do dpkg-deb -f "$d" Package; done | tr '\n' ' ')
echo "# packages: $packages"

tap_check "the packages have meson.build's version ($SCNPM_VERSION)" \
	test "$(dpkg-deb -f "$debs/scnpm_${SCNPM_VERSION}_$(dpkg --print-architecture).deb" Version)" = "$SCNPM_VERSION"

tb_boot
# A base image's policy-rc.d (Docker's exits 101) would keep the maintainer scripts from
# starting services, as it does on the host; timers and cron would write to /var while
# the snapshots below are taken.
tb_exec rm -f /usr/sbin/policy-rc.d
tb_exec systemctl stop timers.target '*.timer' 2>/dev/null
tb_exec systemctl stop cron.service 2>/dev/null

# Everything in /etc, /usr and /var but the package managers' own records and logs, and
# systemd's state (but for what deb-systemd-helper keeps there); anything named scnpm
# in /run.
snapshot() {
	tb_exec find /etc /usr /var -xdev \( -path /var/log -o -path /var/cache -o \
		-path /var/lib/apt -o -path /var/lib/dpkg -o -path /var/lib/PackageKit -o \
		\( -path '/var/lib/systemd/*' ! -path '/var/lib/systemd/deb-systemd-*' \) \) -prune -o -print
	tb_exec find /run -xdev -name '*scnpm*'
}
snapshot | sort >"$TB_DIR/before"
echo "# snapshot: $(wc -l <"$TB_DIR/before") paths"

tb_app_with_rule

tap_check "apt-get install ./scnpm_*.deb ./scnpm-*.deb installs them from the local files" \
	logged tb_exec sh -c 'cd /opt/tb/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y ./scnpm_*.deb ./scnpm-*.deb'

abi=$(tb_exec pkg-config --variable=abi scnpm-module)
module_abi() {
	local p

	[ -n "$abi" ] && tb_exec dpkg-query -W -f '${Provides}\n' scnpm | grep -qx "scnpm-module-abi-$abi" || return 1
	for p in scnpm-source-journal scnpm-source-cgroupfs scnpm-sink-nft scnpm-sink-nftnl; do
		tb_exec dpkg-query -W -f '${Depends}\n' $p | grep -qE "(^|, )scnpm-module-abi-$abi(,|$)" ||
			{ echo "# $p does not depend on scnpm-module-abi-$abi"; return 1; }
	done
}
tap_check "scnpm provides scnpm-module-abi-$abi (scnpm-module.pc's abi), every module depends on it" module_abi

TB_EXPECT_DAEMON=1
tap_check "the maintainer scripts enabled and started scnpm.service" \
	eval 'tb_exec systemctl is-enabled -q scnpm.service && tb_scnpm_running'

moduledir=$(tb_exec pkg-config --variable=moduledir scnpm-module)
man_moduledir() {
	tb_exec test -f "$moduledir/scnpm-sink-nft.so" &&
		tb_exec zcat /usr/share/man/man8/scnpm.8.gz | grep -qxF ".I ${moduledir//-/\\-}/"
}
tap_check "the man page names the module directory the modules are in ($moduledir)" man_moduledir

tb_exec systemctl disable --now -q scnpm.service
tap_check "systemctl enable --now scnpm runs the shipped unit: /usr/sbin/scnpm /etc/nftables.conf" \
	eval 'timeout 30 nsenter -t "$TB_LEADER" -a systemctl enable --now -q scnpm.service && tb_scnpm_running &&
		tb_exec systemctl show -P ExecStart scnpm.service | grep -qF "argv[]=/usr/sbin/scnpm /etc/nftables.conf ;"'

pid=$(tb_exec systemctl show -P MainPID scnpm.service)
default_modules() {
	local m

	for m in source-cgroupfs sink-nft sink-nftnl; do
		tb_exec grep -q " $moduledir/scnpm-$m.so$" "/proc/$pid/maps" || { echo "# scnpm-$m.so is not loaded"; return 1; }
	done
}
tap_check "it loaded the default modules (source-cgroupfs, sink-nft, sink-nftnl) from there" default_modules
tap_check "a running service gets its rule" tb_wait tb_allowed app.service 7001
tb_exec systemctl restart app.service
tap_check "the rule follows the service across a restart" \
	eval 'tb_wait tb_allowed app.service 7001 && ! tb_stale_rules inet filter whitelist'

# A module upgrade (here: the same package again) restarts the daemon, through the
# scnpm-modules trigger, so it runs the new module; the rule is adopted across it.
module_upgrade_restarts() {
	local before after

	before=$(tb_exec systemctl show -P MainPID scnpm.service)
	logged tb_exec sh -c 'cd /opt/tb/debs && DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall ./scnpm-sink-nft_*.deb' || return 1
	tb_wait eval 'tb_scnpm_running && after=$(tb_exec systemctl show -P MainPID scnpm.service) && [ "$after" != 0 ] && [ "$after" != "$before" ]' ||
		{ echo "# MainPID still $before"; return 1; }
	tb_wait tb_allowed app.service 7001
}
tap_check "reinstalling a module package restarts scnpm (dpkg trigger), the rule stays" module_upgrade_restarts

TB_EXPECT_DAEMON=""
purge() {
	local installed

	# shellcheck disable=SC2086
	logged tb_exec env DEBIAN_FRONTEND=noninteractive apt-get purge -y $packages || return 1
	# shellcheck disable=SC2086
	installed=$(tb_exec dpkg-query -W -f '${db:Status-Status} ${Package}\n' $packages 2>/dev/null | grep -v '^not-installed ')
	[ -z "$installed" ] || { echo "$installed" | tap_diag; return 1; }
	test "$(tb_exec systemctl show -P LoadState scnpm.service)" = not-found
}
tap_check "apt-get purge removes every package and the unit" purge
snapshot | sort >"$TB_DIR/after"
tap_check "and leaves nothing behind in /etc, /usr, /var and /run" \
	eval 'diff "$TB_DIR/before" "$TB_DIR/after" | tap_diag; test ${PIPESTATUS[0]} = 0'
[ $TAP_FAILED = 0 ]
