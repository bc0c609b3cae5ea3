#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The catalog has an entry for every SCNPM_MESSAGE_* of log.h, and journalctl reads
# them all (into a throwaway root). TAP output.
#
# usage: check-catalog.sh CATALOG LOG_H JOURNALCTL   (JOURNALCTL "" when not found)
set -u

catalog=$1 log_h=$2 journalctl=$3
ids=$(sed -n 's/^#define SCNPM_MESSAGE_[A-Z_]* "\([0-9a-f]\{32\}\)"$/\1/p' "$log_h")
n=$(echo "$ids" | wc -w)
echo "1..$((n + 1))"

i=0
for id in $ids; do
	i=$((i + 1))
	if grep -qx -- "-- $id" "$catalog"; then
		echo "ok $i - catalog entry for $id"
	else
		echo "not ok $i - no catalog entry for $id"
	fi
done

i=$((i + 1))
if [ -z "$journalctl" ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok $i - journalctl not found (CI=true)"
	else
		echo "ok $i - journalctl reads the catalog # SKIP journalctl not found"
	fi
	exit 0
fi
root=$(mktemp -d) || exit 1
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd/catalog" "$root/var/lib/systemd/catalog"
cp "$catalog" "$root/usr/lib/systemd/catalog/"
listed=$("$journalctl" --root="$root" --update-catalog 2>&1 && "$journalctl" --root="$root" --list-catalog 2>&1)
missing=""
for id in $ids; do
	echo "$listed" | grep -q "^$id " || missing="$missing $id"
done
if [ -z "$missing" ]; then
	echo "ok $i - journalctl --update-catalog reads every entry"
else
	echo "not ok $i - journalctl did not list:$missing"
	echo "$listed" | sed 's/^/# /'
fi
