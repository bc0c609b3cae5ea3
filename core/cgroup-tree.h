/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The cgroup2 tree as it is now: the ground truth the router applies. Events say "look
 * at this unit again"; these functions say where its cgroup is and which id it has.
 *
 * Ownership follows the tree's shape, which only systemd (as root) can make outside a
 * user's delegated subtree: a system unit's cgroup is a chain of slices ending in the
 * unit ("system.slice/a.service", "user.slice/user-1000.slice/session-3.scope"); a unit
 * of the user manager of uid N lives below "user.slice/user-N.slice/user@N.service/",
 * again as slices ending in the unit. Everything else (below a service, below a
 * Delegate= subtree, below a user's unit) belongs to no manager.
 */

#include <stdint.h>

/* The id (inode number) of the cgroup at path below root. -ENOENT when it does not
 * exist (or is not a directory). */
int cgroup_tree_id(const char *root, const char *path, uint64_t *ret_id);

/* Which manager's unit the cgroup at path is (see above), and its unit name (points
 * into path). -EINVAL when it is nobody's unit. */
int cgroup_path_owner(const char *path, uint32_t *ret_manager, uint32_t *ret_uid,
		      const char **ret_unit);

/* Find the cgroup of unit name of (manager, uid) below root: the usual places first
 * (system.slice, app.slice, the slice a slice's name implies), then the manager's slices.
 * *ret_path is relative to root, *ret_id its id. -ENOENT when the unit has no cgroup now. */
int cgroup_tree_find_unit(const char *root, uint32_t manager, uint32_t uid, const char *name,
			  char **ret_path, uint64_t *ret_id);

/* The uids of the user managers that have a cgroup now (user@UID.service). */
int cgroup_tree_user_managers(const char *root, uint32_t **ret_uids, size_t *ret_n);

/* Every unit cgroup of every manager below root, as cgroup_path_owner() sees them: the
 * units in the chains of slices from the root (system), and in those below each user
 * manager's cgroup (user of uid N). f returns 0 to go on, < 0 to stop with that error.
 * Bounded: slices nest 16 deep at most, and at most 65536 directories are read. */
typedef int (*cgroup_unit_func_t)(uint32_t manager, uint32_t uid, const char *name,
				  const char *path, uint64_t id, void *userdata);
int cgroup_tree_foreach_unit(const char *root, cgroup_unit_func_t f, void *userdata);

/* A snapshot of every unit cgroup below root (one cgroup_tree_foreach_unit() walk), for
 * the global passes (start, re-apply, reload): looking up thousands of units one by
 * one would read the manager's slices once per unit, and a unit that runs nowhere
 * costs a full scan of them. -E2BIG when the walk hit its bound: then look units up one
 * by one. */
struct cgroup_snapshot;
int cgroup_snapshot_take(const char *root, struct cgroup_snapshot **ret);
struct cgroup_snapshot *cgroup_snapshot_free(struct cgroup_snapshot *s);
/* f for every unit the walk saw, once each (a name seen in more than one place with
 * one of its paths), in no particular order. */
int cgroup_snapshot_foreach_unit(const struct cgroup_snapshot *s, cgroup_unit_func_t f,
				 void *userdata);
/* cgroup_tree_find_unit() as of the snapshot: the same answer for every unit the walk
 * sees; slices, and names found in more than one place, are looked up in the tree. */
int cgroup_snapshot_find_unit(const struct cgroup_snapshot *s, const char *root, uint32_t manager,
			      uint32_t uid, const char *name, char **ret_path, uint64_t *ret_id);

/* Directories read by this process's lookups (opendir), for complexity tests. */
uint64_t cgroup_tree_dirs_read(void);
