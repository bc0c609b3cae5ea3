/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Unit entries: one per (manager, uid, unit name) a source told us about, holding what
 * coalescing a unit's own bursts of events needs and the hint where a cgroup source saw
 * its cgroup. The first event of a burst is dispatched at once; later ones within the
 * cooldown are folded into one dispatch when it ends; an event that names a new cgroup
 * goes out at once whatever the state. Global work (a re-apply of everything, a reload)
 * never waits for these timers: see dispatch.h.
 *
 * An entry is forgotten once its cooldown is over and the last look found no cgroup.
 *
 * Cooldowns all last the same (-c), so they end in the order they began: one queue per
 * manager, oldest first, and one timer for its head, instead of a timer per unit.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct manager;

enum unit_state {
	UNIT_IDLE,	/* nothing dispatched within the cooldown: the next event goes out at once */
	UNIT_COOLING,	/* dispatched within the cooldown, nothing new since */
	UNIT_PENDING,	/* dispatched within the cooldown and events came since: once more at its end */
};

struct unit {
	struct manager *manager;
	char *key;		/* "manager:uid:name" */
	char *name;
	uint32_t kind;		/* enum scnpm_manager: SYSTEM, USER, or ANY (unknown: literal rules only) */
	uint32_t uid;
	enum unit_state state;
	struct unit *cool_prev, *cool_next;	/* in the cooldown queue unless UNIT_IDLE */
	uint64_t cool_until;	/* CLOCK_MONOTONIC: when its cooldown ends */

	char *cgroup_hint;	/* where a cgroup source last saw it (validated owner), NULL */
	bool stop_reported;	/* the latest event said stopped (a start after it is urgent) */
	bool present;		/* the last full look found its cgroup */
	uint64_t cgroup_id;	/* and its id then; 0 when absent */
};

/* The entry, created when create is set. NULL when absent (or out of memory, logged). */
struct unit *unit_get(struct manager *m, uint32_t kind, uint32_t uid, const char *name, bool create);

/* A source reported something about u: dispatch now or at the end of its cooldown. */
void unit_triggered(struct unit *u, bool urgent);

/* Drop the entry if nothing needs it any more (idle and no cgroup). */
void unit_maybe_forget(struct unit *u);

/* After a reload: drop the idle entries no rule (or -u/-a) wants any more. */
void unit_prune(struct manager *m, bool (*wanted)(struct manager *m, const struct unit *u));

void unit_free_all(struct manager *m);
