#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every public header must compile on its own, as C and as C++ (extern "C", no C-only
# syntax outside macros), with warnings as errors. TAP output.
#
# usage: check-headers.sh INCLUDE_DIR CC CXX [EXTRA_CFLAGS...]
#   CXX may be "" when no C++ compiler was found: that fails under CI=true, else skips.
set -u

incdir=$1 cc=$2 cxx=$3
shift 3

headers=$(cd "$incdir" && ls scnpm/*.h)
n=$(echo "$headers" | wc -w)
echo "1..$((n * 2))"

i=0 failed=0
for h in $headers; do
	for lang in c c++; do
		i=$((i + 1))
		if [ "$lang" = c ]; then
			comp=$cc std=-std=gnu11
		else
			comp=$cxx std=-std=c++11
		fi
		if [ -z "$comp" ]; then
			if [ "${CI:-}" = true ]; then
				echo "not ok $i - $h as $lang: no $lang compiler found (CI=true)"
				failed=1
			else
				echo "ok $i - $h as $lang # SKIP no $lang compiler found"
			fi
			continue
		fi
		if out=$(printf '#include <%s>\n' "$h" |
			 $comp -fsyntax-only -x "$lang" $std -Wall -Wextra -Werror -I"$incdir" "$@" - 2>&1); then
			echo "ok $i - $h as $lang"
		else
			echo "not ok $i - $h as $lang"
			echo "$out" | sed 's/^/# /'
			failed=1
		fi
	done
done
exit $failed
