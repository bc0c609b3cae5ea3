#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# scnpm --source cgroupfs --sink nft against cgroup names a user picks under their own
# user manager (user@0.service/app.slice), with templated rules (%{cgroup}, %{level},
# %{unit}) whose glob the hostile names aim at: quotes and ';' (nft command injection),
# '{', spaces, tabs, non-ASCII, '$(...)', dot names, a valid unit name followed by junk,
# names longer than a unit name may be (cgroup2 has no NAME_MAX: up to 4095 bytes), a tree
# of valid slice names deeper than PATH_MAX, and user@1234.service lookalikes inside the
# user's own tree. The ruleset stays byte-for-byte unchanged, each invalid name is
# warned about once, no rule of another user's manager fires, and valid units (also a
# 255-character name and a systemd-escaped one) still get their rules.
set -u
. "$(dirname "$0")/lib.sh"

tb_preflight
tap_plan 21
tb_boot

hostile_cleanup() {
	[ -n "$TB_LEADER" ] && [ -x "$TB_ROOT/opt/tb/hostile" ] || return 0
	tb_exec /opt/tb/hostile remove >/dev/null 2>&1
}
cg_exit() {
	local rc=$?

	hostile_cleanup
	(exit $rc)
	tb_teardown
}
trap cg_exit EXIT

# /opt/tb/hostile create TAG | remove: makes the directories below app.slice (as the
# user could: user@0.service delegates its subtree), records them in creation order and
# removes them deepest first. create prints "INVALID N": how many directories it made
# whose own name is no valid unit name (each one warning) plus one for the tree that
# crosses PATH_MAX ("path too long"); names the kernel refuses are listed as comments.
cat >"$TB_ROOT/opt/tb/hostile" <<'EOF'
#!/bin/bash
# Relative to app.slice throughout: a 4095-byte name plus the path to it is more than
# the PATH_MAX a system call takes.
A=/sys/fs/cgroup/user.slice/user-0.slice/user@0.service/app.slice
LIST=/run/tb-hostile.list	# made below app.slice, in order, NUL-separated
DEEP=/run/tb-hostile.deep	# depth of the slice tree deeper than PATH_MAX
cd "$A" || exit 1
long() { head -c "$1" /dev/zero | tr '\0' "$2"; }
deep_name() { echo "d$1-$(long 240 d).slice"; }
try() { # REL-PATH [invalid]: mkdir, count it when its name is invalid
	local err

	if err=$(mkdir -- "$1" 2>&1); then
		printf '%s\0' "$1" >>$LIST
		[ "${2:-}" = invalid ] && invalid=$((invalid + 1))
	else
		printf '# the kernel refuses %q: %s\n' "${1:0:60}" "${err##*: }"
	fi
}
case $1 in
create)
	T=$2 invalid=0
	for n in \
		"app-x\";add rule inet filter whitelist accept;\"$T.scope" \
		"x\";add rule inet f c accept;\"$T.scope" \
		"{$T" "app-{$T.scope" "app-a b$T.scope" " $T" \
		"app-ok$T.scope;junk" "app-ok$T.scope junk" "app-ok$T.scope." "app-ok$T.scopes" \
		"app-$T"$'\t.scope' "app-$T"$'\xff.scope' "app-$T\$(id).scope" "app-$T\`id\`.scope" \
		"...$T" "cgroup.foo$T" "app-ok$T.scope"$'\n'"junk" "app-x$T"$'\n.scope' ".." \
		"app-$(long $((246 - ${#T})) a)$T.scope" "app-$(long $((4085 - ${#T})) b)$T.scope" \
		"app-$(long $((4086 - ${#T})) c)$T.scope"; do
		try "$n" invalid
	done
	# below an invalid name: never looked at, so no warning of their own
	try "{$T/app-inner.scope"
	try "{$T/x\";y.scope"
	[ -n "$T" ] && { echo "INVALID $invalid"; exit 0; }

	# valid by systemd's rules, odd, matched by no rule
	try "...scope"
	# user@UID.service lookalikes in the user's own tree: units of user 0's manager,
	# nothing below them is anyone's manager
	try "user@1234.service"
	try "user@1234.service/app-x.scope"
	try "evil.slice"
	try "evil.slice/user@1234.service"
	try "evil.slice/user@1234.service/app.slice"
	try "evil.slice/user@1234.service/app.slice/app-x.scope"
	# valid slice names nested until the path (relative to the cgroup2 root) reaches
	# PATH_MAX: that last one is warned about, nothing below it is looked at
	(
		rel=$((${#A} - 15))	# without "/sys/fs/cgroup/"
		for ((i = 1; i <= 30; i++)); do
			n=$(deep_name $i)
			mkdir "$n" && cd "$n" || exit 1
			echo $i >$DEEP
			rel=$((rel + 1 + ${#n}))
			[ $rel -ge 4096 ] && exec mkdir app-deep.scope
		done
		exit 1
	) && invalid=$((invalid + 1))
	echo "INVALID $invalid"
	;;
remove)
	left=0
	if [ -f $DEEP ]; then
		d=$(cat $DEEP)
		(
			for ((i = 1; i <= d; i++)); do cd "$(deep_name $i)" || break; done
			rmdir app-deep.scope
			for ((; i > 1; i--)); do cd .. && rmdir "$(deep_name $((i - 1)))"; done
		) 2>/dev/null
		[ -e "$(deep_name 1)" ] && left=$((left + 1))
	fi
	if [ -f $LIST ]; then
		# deepest first: reverse creation order
		mapfile -d '' paths <$LIST
		for ((i = ${#paths[@]} - 1; i >= 0; i--)); do
			rmdir -- "${paths[i]}" 2>/dev/null
		done
		for p in "${paths[@]}"; do
			[ -e "$p" ] && left=$((left + 1))
		done
	fi
	[ $left = 0 ] && rm -f $LIST $DEEP
	echo "LEFT $left"
	[ $left = 0 ]
	;;
esac
EOF
chmod +x "$TB_ROOT/opt/tb/hostile"

RULE='socket cgroupv2 level %{level} %{cgroup}'
{
	tb_base_ruleset
	cat <<-NFT

		# user/app-*.scope :: add rule inet filter whitelist $RULE udp dport 7041 accept comment %{unit}
		# user@1234/app-*.scope :: add rule inet filter whitelist $RULE udp dport 7042 accept
		# user@1234/*.service :: add rule inet filter whitelist $RULE udp dport 7042 accept
		## nft takes comments of at most 128 characters: none for 255-character names
		# user/lv-*.scope :: add rule inet filter whitelist $RULE udp dport 7043 accept
	NFT
} | tb_write_nftables_conf
tb_exec systemctl restart nftables.service
tb_listen 7041
tb_listen 7043
tb_start_user_manager

W=(inet filter whitelist)
snapshot() { # NAME
	tb_exec sh -c "nft list ruleset >/run/tb-ruleset.$1"
}
unchanged() { # NAME: the ruleset is byte-for-byte the snapshot S0
	snapshot "$1" && tb_exec cmp -s /run/tb-ruleset.S0 "/run/tb-ruleset.$1"
}
same() { # NAME: unchanged (waiting for it), or show how it differs
	tb_wait unchanged "$1" && return 0
	tb_exec diff /run/tb-ruleset.S0 "/run/tb-ruleset.$1" | tap_diag
	return 1
}
warnings() {
	tb_scnpm_log -p warning | grep -c "Ignoring cgroup"
}
warned() { # N: exactly N warnings about ignored cgroups so far
	test "$(warnings)" = "$1"
}
count_fixed() { # STRING: rules containing STRING (fixed string)
	local n

	n=$(tb_nft_rules "${W[@]}" | grep -cF -- "$1")
	echo "${n:-0}"
}
# scope_ok NAME PORT [comment]: exactly one rule for PORT, naming NAME's cgroup at its
# level (and NAME in the comment); a packet from NAME arrives. The token is not made of
# the unit name: tb_received greps it as a regex, and valid names may hold a backslash.
TOK=0
scope_ok() {
	local cg lvl want port=$2 tok=hostile-$$-$((++TOK))

	cg=$(tb_cgroup --user "$1")
	[ -n "$cg" ] || return 1
	lvl=$(echo "$cg" | awk -F/ '{ print NF }')
	want="socket cgroupv2 level $lvl \"$cg\" udp dport $2 accept"
	[ "${3:-}" = comment ] && want+=" comment \"$1\""
	rule_ok() {
		test "$(count_fixed "udp dport $port accept")" = 1 && test "$(count_fixed "$want")" = 1
	}
	tb_wait rule_ok && tb_send_udp --user "$1" "$2" "$tok" && tb_wait tb_received "$2" "$tok"
}
scope_start() { # NAME
	tb_exec "${TB_USER_ENV[@]}" setsid -f systemd-run --user -q --scope --unit "$1" sleep 600 \
		</dev/null >/dev/null 2>&1 && tb_wait tb_systemctl --user is-active -q "$1"
}
no_rules() {
	test "$(count_fixed "udp dport 704")" = 0
}

out=$(tb_exec /opt/tb/hostile create -pre)
echo "$out" | grep '^#'
pre=$(echo "$out" | sed -n 's/^INVALID //p')
tap_check "(setup) $pre hostile directories made below app.slice before scnpm starts" \
	test "${pre:-0}" -ge 15
snapshot S0
tb_scnpm_start --source cgroupfs --sink nft /etc/nftables.conf
tap_ok $? "scnpm --source cgroupfs --sink nft starts next to them"
tap_check "initial scan: each hostile name warned about once ($pre)" tb_wait warned "$pre"
tap_check "initial scan: the ruleset is byte-for-byte unchanged" same S1

out=$(tb_exec /opt/tb/hostile create "")
echo "$out" | grep '^#'
main=$(echo "$out" | sed -n 's/^INVALID //p')
tap_check "(setup) $main more hostile directories made while scnpm runs" \
	test "${main:-0}" -ge 15
tap_check "each new hostile name warned about once ($pre + $main)" \
	tb_wait warned $((pre + main))
tap_check "the ruleset is byte-for-byte unchanged" same S2
tap_check "no rule of user@1234's manager fired (lookalikes in user 0's tree)" \
	test "$(count_fixed "udp dport 7042")" = 0
tap_check "the injection attempts made no rule (nothing but the base ruleset)" no_rules
deep=$(tb_exec cat /run/tb-hostile.deep)
deep_warned() {
	tb_scnpm_log -p warning | grep -F "path too long" | grep -qF "Ignoring cgroup 'd$deep-ddd"
}
tap_check "the slice tree deeper than PATH_MAX: its level $deep is warned about as such" deep_warned
tap_check "warnings escape what is not printable ASCII (\\x09, \\xff)" \
	eval 'tb_scnpm_log -p warning | grep -F "Ignoring cgroup" | grep -qF "\\x09" &&
		tb_scnpm_log -p warning | grep -F "Ignoring cgroup" | grep -qF "\\xff"'
tap_check "warnings cut a 4095-byte name (no log line over 1000 bytes)" \
	eval '! tb_scnpm_log -p warning | grep -q ".\{1000\}"'
tap_check "scnpm is still running" tb_scnpm_running

V1=app-valid-$RANDOM.scope
V2=lv-$(printf '%0246d' 0 | tr 0 v).scope
V3='app-x\x2dy.scope'
scope_start "$V1"
tap_check "a valid scope started afterwards is allowed, one rule naming it" scope_ok "$V1" 7041 comment
tb_systemctl --user stop "$V1"
scope_start "$V2"
tap_check "a valid scope with a 255-character name: allowed, one rule" scope_ok "$V2" 7043
tb_systemctl --user stop "$V2"
scope_start "$V3"
tap_check "a valid systemd-escaped scope name (app-x\\x2dy.scope): allowed, one rule" scope_ok "$V3" 7041 comment
tb_systemctl --user stop "$V3"
tap_check "the valid scopes stopped: the ruleset is back to byte-for-byte unchanged" same S3

tap_check "every hostile directory is removed" eval 'tb_exec /opt/tb/hostile remove >/dev/null'
# barrier: a unit started after the removals is handled after them
V4=app-after-$RANDOM.scope
scope_start "$V4"
tap_check "after the removals: a valid scope still gets its rule" scope_ok "$V4" 7041 comment
tb_systemctl --user stop "$V4"
tap_check "after the removals: the ruleset is byte-for-byte unchanged" same S4
tap_check "no warning beyond one per hostile name, scnpm still running" \
	eval 'warned $((pre + main)) && tb_scnpm_running'
[ $TAP_FAILED = 0 ]
