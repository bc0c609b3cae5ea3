/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_CGROUP2_H
#define SCNPM_CGROUP2_H

/*
 * Where the cgroup2 tree is mounted, header-only so that the core and every module that
 * stats cgroups agree on it: /sys/fs/cgroup if cgroup2 is mounted there (unified hosts),
 * else /sys/fs/cgroup/unified (hybrid hosts), else the first cgroup2 mount listed.
 */

#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

/* mountinfo escapes space, tab, newline and backslash in paths as \ooo. In place. */
static inline void scnpm_cgroup2_unoctal(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 4;
		} else
			*w++ = *r++;
	}
	*w = '\0';
}

/* The cgroup2 mount point from /proc/self/mountinfo contents. *ret is malloc()ed.
 * -ENOENT when there is no cgroup2 mount, -ENOMEM, or -errno from reading. */
static inline int scnpm_cgroup2_find_mount(FILE *mountinfo, char **ret)
{
	char *line = NULL, *best = NULL;
	size_t n = 0;
	int best_rank = 0, r = 0;

	errno = 0;
	while (getline(&line, &n, mountinfo) >= 0) {
		char *fields[5] = { NULL }, *p = line, *sep, *fstype, *save = NULL;
		int rank;

		/* "36 35 98:0 /root /mnt/point opts [optional...] - fstype source superopts" */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		fstype = strtok_r(sep + 3, " \n", &save);
		if (!fstype || strcmp(fstype, "cgroup2") != 0)
			continue;

		save = NULL;
		for (size_t i = 0; i < 5; i++, p = NULL) {
			fields[i] = strtok_r(p, " ", &save);
			if (!fields[i])
				break;
		}
		if (!fields[4])
			continue;
		scnpm_cgroup2_unoctal(fields[4]);

		if (strcmp(fields[4], "/sys/fs/cgroup") == 0)
			rank = 3;
		else if (strcmp(fields[4], "/sys/fs/cgroup/unified") == 0)
			rank = 2;
		else
			rank = 1;
		if (rank > best_rank) {
			char *t = strdup(fields[4]);

			if (!t) {
				r = -ENOMEM;
				break;
			}
			free(best);
			best = t;
			best_rank = rank;
		}
	}
	free(line);
	if (r == 0 && ferror(mountinfo))
		r = errno > 0 ? -errno : -EIO;
	if (r == 0 && !best)
		r = -ENOENT;
	if (r < 0) {
		free(best);
		return r;
	}
	*ret = best;
	return 0;
}

/* The same for this process: reads /proc/self/mountinfo. */
static inline int scnpm_cgroup2_find_root(char **ret)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r;

	if (!f)
		return -errno;
	r = scnpm_cgroup2_find_mount(f, ret);
	fclose(f);
	return r;
}

/*
 * A directory listing names each entry's inode number (d_ino). On cgroup2 it is the
 * cgroup id, the st_ino stat() returns: taking it from the listing saves a lookup per
 * entry, and for a cgroup nobody has looked up yet the kernel's making of its inode.
 * 1 on the file systems known to give st_ino there (cgroup2, and tmpfs, ext4 and xfs,
 * where tests build trees); elsewhere (overlayfs, ...) 0: stat each entry.
 */
static inline int scnpm_dirent_ino_is_st_ino(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return 0;
	switch (sfs.f_type) {
	case CGROUP2_SUPER_MAGIC:
	case TMPFS_MAGIC:
	case EXT4_SUPER_MAGIC:
	case XFS_SUPER_MAGIC:
		return 1;
	default:
		return 0;
	}
}

#endif /* SCNPM_CGROUP2_H */
