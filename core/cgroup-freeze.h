/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The cgroup v2 freezer of one cgroup, through its directory's fd: cgroup.freeze (what
 * was asked: 1 frozen, 0 thawed) and cgroup.events ("populated" and "frozen", what is).
 * A cgroup is opened component by component below a dirfd of the cgroup2 root, never
 * following a symlink, so a path (derived from unit names users pick) cannot lead
 * anywhere but to a cgroup directory below the root; the fd then stays on that cgroup
 * whatever is renamed or made later.
 */

#include <stdbool.h>
#include <stdint.h>

/* The values of "populated" and "frozen" in the text of a cgroup.events file; -1 for a
 * key that is missing. -EINVAL when the text is not "KEY VALUE" lines. Pure. */
int cgroup_events_parse(const char *text, int *ret_populated, int *ret_frozen);

/* Open path (validated, relative, no leading '/') below root_fd: O_DIRECTORY, no
 * symlinks on the way. The fd, or -errno (-ENOENT: no such cgroup). */
int cgroup_open(int root_fd, const char *path);

/* cgroup.events of the cgroup at fd. 0 or -errno. */
int cgroup_read_events(int fd, int *ret_populated, int *ret_frozen);
/* cgroup.freeze: 0 or 1, or -errno. */
int cgroup_read_freeze(int fd);
int cgroup_write_freeze(int fd, bool freeze);
