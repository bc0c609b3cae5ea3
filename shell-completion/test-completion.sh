#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bash completion, sourced into a bash of its own: options, the module names in a
# module directory, "status" arguments from a config's directives. TAP.
# usage: test-completion.sh COMPLETION-FILE
set -u
comp=$1
if ! [ -r /usr/share/bash-completion/bash_completion ] && [ "${CI:-}" != true ]; then
	echo "1..0 # SKIP bash-completion not installed"
	exit 0
fi
. "$comp"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/scnpm-source-cgroupfs.so" "$tmp/scnpm-sink-nft.so" "$tmp/scnpm-sink-nftnl.so"
cat >"$tmp/nft.conf" <<'NFT'
# postfix.service :: add rule inet filter out socket cgroupv2 level 2 "system.slice/postfix.service" accept
## Allow the app scopes (an ordinary comment)
# user/app-*.scope :: add element inet filter s { %{cgroup} }
# user/app-*.scope :: add element inet filter s { %{cgroup} }
NFT
export SCNPM_MODULE_DIR=$tmp
systemctl() { :; } # no units: only the config's

complete_words() { # WORDS...: what completes the last word
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_scnpm
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
n=0 failed=0
check() { # DESCRIPTION EXPECTED WORDS...
	local what=$1 want=$2 got
	shift 2
	got=$(complete_words "$@")
	n=$((n + 1))
	if [ "$got" = "$want" ]; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what: got '$got', want '$want'"
		failed=1
	fi
}
echo "1..6"
check "options" "--cooldown " scnpm --co
check "sink modules from the module directory" "nft nftnl " scnpm --sink n
check "source modules" "cgroupfs " scnpm --source ""
check "status: the config's unit patterns" "postfix.service " scnpm status "$tmp/nft.conf" post
check "status: a qualified pattern, once" "user/app-*.scope " scnpm "$tmp/nft.conf" status user/
check "status options" "--json --json=pretty --json=short " scnpm status --js
exit $failed
