/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_CGROUPFS_UTIL_H
#define SCNPM_CGROUPFS_UTIL_H

/* Pure, non-logging helpers of source-cgroupfs (tested by test-cgroupfs-util.c). */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The cgroup2 mount point: scnpm_cgroup2_find_mount() in <scnpm/cgroup2.h>. */

/* "5", "0.25", "1.5": seconds, up to 6 decimals, > 0 and <= 1 day, into microseconds.
 * -EINVAL otherwise. */
int cgroupfs_parse_interval(const char *s, uint64_t *ret_usec);

/* A non-negative decimal without sign, leading spaces or garbage that fits an unsigned
 * int. -EINVAL / -ERANGE otherwise. */
int cgroupfs_parse_unsigned(const char *s, unsigned *ret);

/* uid of a directory named "user@UID.service" (the system manager's unit for the user
 * manager of UID): 0 and *ret_uid, or -EINVAL when name is not of that form. */
int cgroupfs_parse_user_manager(const char *name, uint32_t *ret_uid);

/* Does name end with ".slice"? */
int cgroupfs_name_is_slice(const char *name);

/* Copy an untrusted name into out (size > 8) fit for a log line: printable ASCII other
 * than '\\' and '\'' as is, every other byte as \xHH, cut after max_in input bytes with
 * "..." appended. Always NUL-terminates out. Returns out. */
char *cgroupfs_escape_name(const char *name, size_t max_in, char *out, size_t size);

#endif /* SCNPM_CGROUPFS_UTIL_H */
