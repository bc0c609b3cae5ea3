/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Dispatch: look at the cgroup tree now, compare with what the sinks were told
 * (applied.h), and ask each sink to change only what differs.
 *
 *  - A literal rule (its text names cgroups) is in place, with their current ids,
 *    exactly while all of them exist; any event for its unit name, from any manager, is
 *    only a reason to look at those paths again.
 *  - A unit-bound rule follows the unit's cgroup in the manager that runs it: where a
 *    cgroup source saw it (if that cgroup still exists), else where the tree has it
 *    (cgroup-tree.h), so it works with the journal source alone.
 *
 * Global passes (start, re-apply, reload) go out at once, in the same loop iteration,
 * for every rule and unit; sinks that batch per iteration (sink-nftnl) send them as one
 * transaction.
 */

#include <stdbool.h>
#include <stdint.h>

struct manager;
struct rule;
struct unit;

enum {
	DISPATCH_FORCE = 1 << 0,	/* send unchanged instances too (a re-apply) */
};

/* The rules matching u (unit-bound ones for u, literal ones for its name). */
void dispatch_unit(struct manager *m, struct unit *u, unsigned flags);

/* Every rule at least min_generation new, for every unit: literal rules, every known
 * unit, and the units exact-name rules name in every manager they are for. */
void dispatch_all(struct manager *m, unsigned flags, uint64_t min_generation);

/* Where things are now, as dispatch sees them (also for "scnpm status"). */

/* A literal rule's cgroups: true when all exist, with their ids mixed into *ret_id
 * (what its applied record holds) and the first one's in *ret_first_id. */
bool dispatch_literal_cgroup(struct manager *m, const struct rule *r, uint64_t *ret_id,
			     uint64_t *ret_first_id);
/* A unit's cgroup: where a cgroup source saw it, if that cgroup still exists, else where
 * the tree has it. -ENOENT when it has none. */
int dispatch_unit_cgroup(struct manager *m, uint32_t kind, uint32_t uid, const char *name,
			 char **ret_path, uint64_t *ret_id);
