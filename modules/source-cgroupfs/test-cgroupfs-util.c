/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <scnpm/cgroup2.h>

#include "cgroupfs-util.h"

static int find_mount(const char *text, char **ret)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int r;

	cr_assert(ne(ptr, f, NULL));
	r = scnpm_cgroup2_find_mount(f, ret);
	fclose(f);
	return r;
}

/* This build machine's layout (hybrid). */
static const char hybrid[] =
	"22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
	"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	"39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char unified[] =
	"25 22 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n"
	"40 25 0:22 / /mnt/other rw,relatime shared:4 - cgroup2 cgroup2 rw\n";

Test(cgroupfs_mount, hybrid_prefers_unified_dir)
{
	char *p = NULL;

	cr_assert(eq(int, find_mount(hybrid, &p), 0));
	cr_assert(eq(str, p, "/sys/fs/cgroup/unified"));
	free(p);
}

Test(cgroupfs_mount, unified_prefers_sys_fs_cgroup)
{
	char *p = NULL;

	cr_assert(eq(int, find_mount(unified, &p), 0));
	cr_assert(eq(str, p, "/sys/fs/cgroup"));
	free(p);
}

Test(cgroupfs_mount, sys_fs_cgroup_wins_even_when_listed_last)
{
	static const char t[] =
		"40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
		"41 30 0:37 / /elsewhere rw - cgroup2 cgroup2 rw\n"
		"42 30 0:37 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
	char *p = NULL;

	cr_assert(eq(int, find_mount(t, &p), 0));
	cr_assert(eq(str, p, "/sys/fs/cgroup"));
	free(p);
}

Test(cgroupfs_mount, other_place_and_octal_escapes)
{
	static const char t[] =
		"40 30 0:37 / /run/my\\040cgroup rw shared:5 master:2 - cgroup2 none rw\n";
	char *p = NULL;

	cr_assert(eq(int, find_mount(t, &p), 0));
	cr_assert(eq(str, p, "/run/my cgroup"));
	free(p);
}

Test(cgroupfs_mount, none)
{
	static const char t[] =
		"30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
		"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
		"garbage line without separator\n"
		"1 2 3 - cgroup2\n"
		"\n";
	char *p = NULL;

	cr_assert(eq(int, find_mount(t, &p), -ENOENT));
	cr_assert(eq(ptr, p, NULL));
	cr_assert(eq(int, find_mount("", &p), -ENOENT));
}

Test(cgroupfs_interval, valid_and_invalid)
{
	static const struct {
		const char *s;
		int r;
		uint64_t usec;
	} t[] = {
		{ "5", 0, 5000000 },
		{ "0.5", 0, 500000 },
		{ "1.25", 0, 1250000 },
		{ "0.000001", 0, 1 },
		{ "86400", 0, 86400000000ULL },
		{ "86400.5", -EINVAL, 0 },
		{ "86401", -EINVAL, 0 },
		{ "0", -EINVAL, 0 },
		{ "0.0", -EINVAL, 0 },
		{ "0.0000001", -EINVAL, 0 },
		{ "", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ " 1", -EINVAL, 0 },
		{ "1s", -EINVAL, 0 },
		{ "1.", -EINVAL, 0 },
		{ ".5", -EINVAL, 0 },
		{ "99999999999999999999", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t u = 42;

		cr_assert(eq(int, cgroupfs_parse_interval(t[i].s, &u), t[i].r), "'%s'", t[i].s);
		cr_assert(eq(u64, u, t[i].r == 0 ? t[i].usec : 42), "'%s'", t[i].s);
	}
}

Test(cgroupfs_unsigned, valid_and_invalid)
{
	unsigned u = 7;

	cr_assert(eq(int, cgroupfs_parse_unsigned("0", &u), 0));
	cr_assert(eq(uint, u, 0));
	cr_assert(eq(int, cgroupfs_parse_unsigned("4294967295", &u), 0));
	cr_assert(eq(uint, u, 4294967295U));
	cr_assert(eq(int, cgroupfs_parse_unsigned("4294967296", &u), -ERANGE));
	cr_assert(eq(int, cgroupfs_parse_unsigned("", &u), -EINVAL));
	cr_assert(eq(int, cgroupfs_parse_unsigned("-1", &u), -EINVAL));
	cr_assert(eq(int, cgroupfs_parse_unsigned("1x", &u), -EINVAL));
	cr_assert(eq(uint, u, 4294967295U));
}

Test(cgroupfs_user_manager, names)
{
	static const struct {
		const char *name;
		int r;
		uint32_t uid;
	} t[] = {
		{ "user@1000.service", 0, 1000 },
		{ "user@0.service", 0, 0 },
		{ "user@4294967294.service", 0, 4294967294U },
		{ "user@4294967295.service", -EINVAL, 0 },
		{ "user@99999999999.service", -EINVAL, 0 },
		{ "user@01000.service", -EINVAL, 0 },
		{ "user@.service", -EINVAL, 0 },
		{ "user@1000.slice", -EINVAL, 0 },
		{ "user-1000.slice", -EINVAL, 0 },
		{ "user@1000x.service", -EINVAL, 0 },
		{ "user@-1.service", -EINVAL, 0 },
		{ "xuser@1000.service", -EINVAL, 0 },
		{ "user-runtime-dir@1000.service", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t uid = 42;

		cr_assert(eq(int, cgroupfs_parse_user_manager(t[i].name, &uid), t[i].r), "'%s'",
			  t[i].name);
		cr_assert(eq(u32, uid, t[i].r == 0 ? t[i].uid : 42), "'%s'", t[i].name);
	}
}

Test(cgroupfs_slice, names)
{
	cr_assert(cgroupfs_name_is_slice("system.slice"));
	cr_assert(cgroupfs_name_is_slice("user-1000.slice"));
	cr_assert(not(cgroupfs_name_is_slice(".slice")));
	cr_assert(not(cgroupfs_name_is_slice("foo.service")));
	cr_assert(not(cgroupfs_name_is_slice("slice")));
	cr_assert(not(cgroupfs_name_is_slice("a.slicex")));
}

Test(cgroupfs_escape, hostile_names)
{
	char out[4 * 64 + 8], long_name[300];

	cr_assert(eq(str, cgroupfs_escape_name("foo.service", 64, out, sizeof(out)), "foo.service"));
	cr_assert(eq(str, cgroupfs_escape_name("x\";add rule inet f o accept", 64, out, sizeof(out)),
		     "x\";add\\x20rule\\x20inet\\x20f\\x20o\\x20accept"));
	cr_assert(eq(str, cgroupfs_escape_name("a'b\\c\n\x1b[31m\xff", 64, out, sizeof(out)),
		     "a\\x27b\\x5cc\\x0a\\x1b[31m\\xff"));

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	cgroupfs_escape_name(long_name, 64, out, sizeof(out));
	cr_assert(eq(sz, strlen(out), 64 + 3));
	cr_assert(eq(str, out + 64, "..."));

	/* All escaped and the buffer too small for 64 of them: cut, still terminated. */
	memset(long_name, '\n', sizeof(long_name) - 1);
	cgroupfs_escape_name(long_name, 64, out, 40);
	cr_assert(le(sz, strlen(out), 39));
	cr_assert(eq(str, out + strlen(out) - 3, "..."));
}
