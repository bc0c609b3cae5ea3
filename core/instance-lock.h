/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One scnpm per firewall: two daemons keeping the same ruleset would each take the
 * other's rules for stale leftovers of their own. A firewall is a network namespace, so
 * the lock is per namespace: $RUNTIME_DIRECTORY (set by the unit's RuntimeDirectory=scnpm)
 * or /run/scnpm, file netns-INODE.lock, held with flock() for the daemon's lifetime and
 * holding its PID, so that the second one can say who runs.
 */

/* Take the lock. Returns an fd to keep open, -EBUSY when another instance holds it
 * (logged, naming its PID and the lock file), or another -errno when the lock cannot be
 * taken at all (logged; the caller goes on without it: a user without /run access
 * cannot change the firewall either). */
int instance_lock_take(void);
