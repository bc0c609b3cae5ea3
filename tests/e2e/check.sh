#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --check on a real systemd and the real nf_tables: every class of mistake comes
# back as FILE:LINE: what is wrong, all of them in one run, exit 1; a clean config exits
# 0; a unit that is not running is no error (an existing cgroup is tried instead); the
# kernel's ruleset is never changed; the configuration examples of README.md and the man
# page pass (extracted here, so docs and code stay in step). Without CAP_NET_ADMIN the
# check is syntax only and says so.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 29
tb_boot

D=/etc/scnpm-check
mkdir -p "$TB_ROOT$D"
tb_base_ruleset | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
tb_simple_service app.service
tb_exec systemctl start app.service
# for sink-nftnl's checks: a set, a set of the wrong type, a verdict map
tb_exec nft -f - <<-'EOF'
	add set inet filter allowed { type cgroupsv2; }
	add set inet filter ips { type ipv4_addr; }
	add map inet filter vm { type cgroupsv2 : verdict; }
EOF
ruleset_before=$(tb_exec nft list ruleset)

# check_case NAME EXPECTED-EXIT EXPECTED-OUTPUT-REGEX [SCNPM-ARGS...] (directives on
# stdin, appended to the base ruleset as file $D/NAME.conf)
check_case() {
	local name=$1 want=$2 regex=$3 out rc

	shift 3
	{ tb_base_ruleset; cat; } >"$TB_ROOT$D/$name.conf"
	out=$(tb_scnpm_run --check "$@" "$D/$name.conf" 2>&1)
	rc=$?
	printf '%s\n' "$out" | tap_diag
	[ "$rc" = "$want" ] || { echo "# exit status $rc, expected $want"; return 1; }
	printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "# no line matches: $regex"; return 1; }
}

# Each class of error, with the message that names it, on the line after the base ruleset.
L=$(($(tb_base_ruleset | wc -l) + 1))
# NAME | WHAT | EXPECTED MESSAGE (regex, after "FILE:LINE: ") | SCNPM ARGS | DIRECTIVE ("\n": next line)
while IFS='|' read -r name what regex args directive; do
	tap_check "$what: FILE:LINE: $regex" \
		check_case "$name" 1 "^scnpm: $D/$name.conf:$L: $regex" $args < <(printf '%b\n' "$directive")
done <<-'EOF'
	typo|a typo in a rule body|nft: syntax error||# app.service :: add rule inet filter whitelist udp dport 7001 acept
	nochain|a chain that exists nowhere|nft: .*No such file or directory at 'nochain'||# app.service :: add rule inet filter nochain udp dport 7001 accept
	placeholder|an unknown placeholder|unknown placeholder '%\{cgroups\}'||# app.service :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroups} accept
	family|an unknown family|unknown family 'inet6'||# app.service :: add rule inet6 filter whitelist accept
	qualifier|an unknown manager qualifier|unknown manager qualifier 'users/'||# users/app.service :: add rule inet filter whitelist accept
	unitname|an invalid unit name|invalid unit name 'app;x.service'||# app;x.service :: add rule inet filter whitelist accept
	cgpath|a cgroup path that climbs out of the tree|invalid cgroup path 'system.slice/../x'||# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/../x" accept
	smuggled|a second command smuggled after ';'|no sink can express this rule .*more than one nft command||# app.service :: add rule inet filter whitelist accept; flush ruleset
	continuation|a continuation into a line that is not a comment|broken continuation||# app.service :: add rule inet filter whitelist \\\nadd rule inet filter whitelist accept
	element|an element directive without sink-nftnl names the module it needs|no sink can express this rule .*element directives need --sink nftnl|--sink nft|# app.service :: add element inet filter allowed { %{cgroup} }
	settype|a set whose keys are not cgroup ids|ips's keys are not cgroup ids: declare it 'type cgroupsv2'||# app.service :: add element inet filter ips { %{cgroup} }
	notmap|a verdict for a plain set|allowed is not a verdict map||# app.service :: add element inet filter allowed { %{cgroup} : jump whitelist }
	novalue|a map element without a verdict|vm is a map: give the element a value||# app.service :: add element inet filter vm { %{cgroup} }
	noset|a set that exists nowhere|set inet filter nosuch does not exist||# app.service :: add element inet filter nosuch { %{cgroup} }
	nojump|a verdict map jumping to a chain that exists nowhere|chain inet filter nochain does not exist||# app.service :: add element inet filter vm { %{cgroup} : jump nochain }
EOF

tap_check "five mistakes in one file: all five reported, in one run, exit 1" \
	check_case five 1 "^scnpm: 5 error\(s\); 2 directive\(s\) checked" <<-'EOF'
		# a.service :: add rule inet filter whitelist udp dport 7001 acept
		# b.service :: add rule inet6 filter whitelist accept
		# c.service :: add rule inet filter whitelist %{bogus} accept
		# d.service :: add rule inet filter nochain accept
		# e.service :: add rule inet filter whitelist accept \
		not a comment
	EOF
five_lines() {
	local out
	out=$(tb_scnpm_run --check "$D/five.conf" 2>&1)
	for l in $L $((L + 1)) $((L + 2)) $((L + 3)) $((L + 4)); do
		printf '%s\n' "$out" | grep -q "^scnpm: $D/five.conf:$l: " || { echo "# line $l not reported"; return 1; }
	done
}
tap_check "... each with its own line number" five_lines

tap_check "a clean config: 'Configuration OK', exit 0" \
	check_case clean 0 "^Configuration OK: 5 directives$" <<-'EOF'
		# app.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/app.service" udp dport 7001 accept
		# app-*.scope :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} udp dport 7002 accept
		# user/app-*.scope :: add rule inet filter whitelist socket cgroupv2 level %{level} %{cgroup} counter accept
		# app.service :: add element inet filter allowed { %{cgroup} }
		# user/app-*.scope :: add element inet filter vm { %{cgroup} : jump whitelist }
	EOF
tap_check "a unit that is not running is no error (an existing cgroup is tried)" \
	check_case notrunning 0 "^Configuration OK: 1 directive$" <<-'EOF'
		# postfix.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/postfix.service" tcp dport 25 accept
	EOF
tap_check "... but a typo in the same line is found" \
	check_case notrunning-typo 1 "notrunning-typo.conf:$L: nft: syntax error" <<-'EOF'
		# postfix.service :: add rule inet filter whitelist socket cgroupv2 level 2 "system.slice/postfix.service" tcp dport 25 acept
	EOF
# the chain is in the file, not yet in the kernel: "systemctl reload nftables" is due
{
	tb_base_ruleset
	cat <<-'EOF'
		table inet filter {
			chain later {
			}
		}
		# app.service :: add rule inet filter later udp dport 7001 accept
	EOF
} >"$TB_ROOT$D/later.conf"
tap_check "a chain only the config file creates: a note, exit 0" \
	eval 'out=$(tb_scnpm_run --check $D/later.conf 2>&1); rc=$?; echo "$out" | tap_diag;
		test $rc = 0 && echo "$out" | grep -q "later.conf:$((L + 4)): works once $D/later.conf is loaded"'
tap_check "two config files: errors of both reported" \
	eval 'out=$(tb_scnpm_run --check $D/typo.conf $D/family.conf 2>&1); rc=$?; echo "$out" | tap_diag;
		test $rc = 1 && echo "$out" | grep -q "typo.conf:$L" && echo "$out" | grep -q "family.conf:$L"'
# a distribution that installed the daemon and sink-nft but not sink-nftnl
tb_exec sh -c 'mkdir -p /run/some-modules && cp /opt/build/modules/sink-nft/*.so /opt/build/modules/source-cgroupfs/*.so /run/some-modules/'
tap_check "a default sink not installed: a directive that needs it names its package" \
	eval 'out=$(tb_exec env SCNPM_MODULE_DIR=/run/some-modules /opt/build/core/scnpm --check $D/clean.conf 2>&1); rc=$?;
		echo "$out" | tap_diag; test $rc = 1 &&
		echo "$out" | grep -q "clean.conf:$((L + 3)): no sink can express this rule .*not installed: sink-nftnl (package scnpm-sink-nftnl)"'
tap_check "a file that does not exist: named, exit 1" \
	eval 'out=$(tb_scnpm_run --check $D/none.conf 2>&1); rc=$?;
		test $rc = 1 && echo "$out" | grep -q "$D/none.conf: cannot read: No such file"'

# Without CAP_NET_ADMIN: the syntax only, said so; syntax errors still found.
unpriv() {
	tb_exec setpriv --reuid=65534 --regid=65534 --clear-groups \
		env SCNPM_MODULE_DIR="$(tb_module_dirs)" /opt/build/core/scnpm --check "$@"
}
chmod a+r "$TB_ROOT$D"/*.conf
tap_check "as an unprivileged user: syntax only, said so, exit 0 for a clean file" \
	eval 'out=$(unpriv $D/clean.conf 2>&1); rc=$?; echo "$out" | tap_diag;
		test $rc = 0 && echo "$out" | grep -q "syntax only"'
tap_check "as an unprivileged user: a syntax error still exits 1 with FILE:LINE" \
	eval 'out=$(unpriv $D/family.conf 2>&1); rc=$?; test $rc = 1 && echo "$out" | grep -q "family.conf:$L: unknown family"'

# The examples of the docs, extracted: README's indented blocks and the (configured) man page's
# .EX/.EE blocks that hold directives, each a file of its own. Their tables and chains
# are loaded first (the man page's set examples bring their own tables). The README's
# host name must resolve, as on the host the example was written for.
echo "127.0.0.1 mail.intranet.local" >>"$TB_ROOT/etc/hosts"
tb_exec nft -f - <<-'EOF'
	table inet filter {
		chain vpn.whitelist {
		}
		chain allow {
		}
	}
EOF
extract_examples() {
	local n=0
	# README: runs of lines indented by 4 or more spaces that contain a directive
	awk -v dir="$TB_ROOT$D" '
		function flush() { if (blk ~ / :: / && blk !~ /UNIT ::/) { n++; printf "%s", blk > (dir "/readme-" n ".conf"); close(dir "/readme-" n ".conf") } blk = "" }
		/^    / { sub(/^ +/, ""); blk = blk $0 "\n"; next }
		{ flush() }
		END { flush() }' "$TB_SOURCE_DIR/README.md"
	# man page: .EX ... .EE, troff escapes undone
	awk -v dir="$TB_ROOT$D" '
		/^\.EX/ { inex = 1; blk = ""; next }
		/^\.EE/ { inex = 0; if (blk ~ / :: / && blk !~ /UNIT ::/) { n++; printf "%s", blk > (dir "/man-" n ".conf"); close(dir "/man-" n ".conf") } next }
		inex { gsub(/\\e/, "\\"); gsub(/\\-/, "-"); gsub(/\\\(dq/, "\""); blk = blk $0 "\n" }' \
		"$TB_BUILD_DIR/man/scnpm.8"
}
extract_examples
examples_pass() {
	local f out rc ok=0 n=0

	for f in "$TB_ROOT$D"/readme-*.conf "$TB_ROOT$D"/man-*.conf; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		out=$(tb_scnpm_run --check "$D/${f##*/}" 2>&1)
		rc=$?
		echo "# ${f##*/}: exit $rc: $(printf '%s' "$out" | tail -n 1)"
		[ "$rc" = 0 ] || { printf '%s\n' "$out" | tap_diag; ok=1; }
	done
	echo "# $n example files"
	[ "$n" -ge 4 ] && return $ok
}
tap_check "every configuration example of README.md and scnpm(8) passes the check" examples_pass

tap_check "the kernel's ruleset (apart from the examples' chains) is what it was: the check changed nothing" \
	eval 'tb_exec nft delete chain inet filter vpn.whitelist && tb_exec nft delete chain inet filter allow &&
		test "$(tb_exec nft list ruleset)" = "$ruleset_before"'
tap_check "no transient scnpm unit or rule was left behind" \
	eval '! tb_exec nft list ruleset | grep -q scnpm:'

tb_teardown
exit $((TAP_FAILED > 0))
