#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The SDK works out of tree: stage-install the main build, build examples/sink-example
# against the staged scnpm-module.pc (nothing from the source tree), then check that the
# module installs into the pc's moduledir under the example's own prefix, exports only
# scnpm_module_v1, and that the staged daemon loads it and hands it the configured rules.
#
# usage: check-sdk-example.sh MAIN_BUILD_DIR   (TAP output)
set -u

build=$(cd "$1" && pwd)
srcdir=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scnpm-sdk-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
stage=$tmp/stage

echo "1..5"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() {
	n=$((n + 1))
	echo "not ok $n - $1"
	[ -f "${2:-}" ] && sed 's/^/# /' "$2"
	while [ $n -lt 5 ]; do n=$((n + 1)); echo "not ok $n - skipped after an earlier failure"; done
	exit 1
}

# 1. Stage the install.
if meson install -C "$build" --no-rebuild --destdir "$stage" >"$tmp/install.log" 2>&1; then
	ok "meson install --destdir"
else
	fail "meson install --destdir" "$tmp/install.log"
fi
pc=$(find "$stage" -name scnpm-module.pc | head -n 1)
daemon=$(find "$stage" -type f -name scnpm -perm -u+x | head -n 1)
if [ -z "$pc" ] || [ -z "$daemon" ]; then
	fail "staged install has scnpm-module.pc and scnpm (built with -Dsdk=false?)"
fi

# 2. Build and install the example with only the staged SDK. PKG_CONFIG_SYSROOT_DIR
# prefixes the pc's paths with the stage (--define-prefix would guess the prefix wrong
# with a multiarch libdir such as lib/x86_64-linux-gnu).
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$stage
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
if meson setup "$tmp/example-build" "$srcdir/examples/sink-example" --prefix "$tmp/prefix" \
		>"$tmp/example.log" 2>&1 &&
	ninja -C "$tmp/example-build" install >>"$tmp/example.log" 2>&1; then
	ok "examples/sink-example builds against the staged SDK"
else
	fail "examples/sink-example builds against the staged SDK" "$tmp/example.log"
fi
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

# 3. Installed under the example's own prefix, in the pc's moduledir (libdir/scnpm-1).
module=$(find "$tmp/prefix" -name scnpm-sink-example.so | head -n 1)
case "$module" in
"$tmp"/prefix/lib*/scnpm-1/scnpm-sink-example.so) ok "installed as ${module#"$tmp"/}" ;;
*) fail "installed into <prefix>/<libdir>/scnpm-1 (found: '${module:-nothing}')" ;;
esac

# 4. One export.
if "$srcdir/tests/check-module-exports.sh" "$module" >"$tmp/exports.log" 2>&1; then
	ok "exports only scnpm_module_v1"
else
	fail "exports only scnpm_module_v1" "$tmp/exports.log"
fi

# 5. The staged daemon loads it (next to the loader tests' minimal source, which reports
# nothing) and, in the initial reconcile, hands it the config's rules for the unit it
# finds in the cgroup tree itself (a directory tree standing in for the cgroup2 mount,
# given with --cgroup-root): both rules, with the unit's cgroup. A rule for a unit that
# has no cgroup is not applied. READY=1 on NOTIFY_SOCKET marks the end of the initial
# reconcile; then SIGTERM must exit 0.
install -d -m 0755 "$tmp/sources" "$tmp/cgroup/system.slice/example.service"
install -m 0755 "$build/tests/fixtures/bad-modules/scnpm-source-good.so" "$tmp/sources/"
cat >"$tmp/rules.conf" <<'CONF'
# example.service :: add rule inet filter output socket cgroupv2 level %{level} %{cgroup} accept
# example.service :: inet filter output meta mark 0x1 accept
# absent.service :: inet filter output meta mark 0x2 accept
CONF
if python3 - "$daemon" "$(dirname "$module"):$tmp/sources" "$tmp" >"$tmp/daemon.log" 2>&1 <<'PY'
import os, signal, socket, subprocess, sys

daemon, moddir, tmp = sys.argv[1:4]
sock_path = os.path.join(tmp, "notify")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sock_path)
sock.settimeout(60)
env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "SCNPM_MODULE_DIR")}
env["NOTIFY_SOCKET"] = sock_path
env["RUNTIME_DIRECTORY"] = tmp  # its instance lock, not the host's
p = subprocess.Popen([daemon, "--module-dir", moddir, "--source", "good",
                      "--sink", "example:verb=WOULD", "--debug",
                      "--cgroup-root", os.path.join(tmp, "cgroup"),
                      os.path.join(tmp, "rules.conf")],
                     env=env, stderr=subprocess.PIPE, text=True)
ready = False
try:
    while not ready:
        msg = sock.recv(4096).decode()
        ready = "READY=1" in msg.split("\n")
except socket.timeout:
    pass
if p.poll() is None:
    p.send_signal(signal.SIGTERM)
err = p.communicate(timeout=60)[1]
print(err, end="")
wants = ["WOULD apply for 'example.service' (cgroup system.slice/example.service): "
         "add rule inet filter output socket cgroupv2 level 2 \"system.slice/example.service\" accept",
         "WOULD apply for 'example.service' (cgroup system.slice/example.service): "
         "add rule inet filter output meta mark 0x1 accept"]
problems = []
if not ready:
    problems.append("no READY=1")
if p.returncode != 0:
    problems.append("exit status %d" % p.returncode)
for want in wants:
    if want not in err:
        problems.append("no line: " + want)
if "absent.service" in "".join(l for l in err.splitlines() if "WOULD apply" in l):
    problems.append("applied a rule for a unit that has no cgroup")
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
then
	sed 's/^/# /' "$tmp/daemon.log"
	ok "the staged scnpm loads it and applies the config through it"
else
	fail "the staged scnpm loads it and applies the config through it" "$tmp/daemon.log"
fi
