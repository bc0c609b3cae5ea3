/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Gates: no process of a gated unit runs before its gated directives are in the kernel.
 *
 * When a source reports a new cgroup of a unit that a gated directive matches (config.h:
 * "gate/"), its freeze (cgroup.freeze, cgroup-freeze.h) is queued to the freezer thread
 * (freezer.h: the write may wait for the kernel's cgroup lock) before the core dispatches
 * its rules, which go out meanwhile; a process systemd then moves into it does not run.
 * Once the freeze is reported and the sinks have reported every gated directive of the
 * unit for that cgroup as in the kernel (their report comes with the kernel's ack), it
 * is thawed (queued the same way, after the freeze). A cgroup that is
 * frozen already (systemctl freeze, a user's own freeze) is neither frozen nor thawed;
 * cgroups of units that match no gated directive are never touched.
 *
 * While a gate is closed, a write to its cgroup.freeze by anyone else (systemctl freeze or
 * thaw, the unit's user) ends it: the cgroup is theirs as they left it, and scnpm neither
 * thaws it nor writes to it again (inotify IN_MODIFY, which every write(2) raises; scnpm
 * watches only after its own freeze, and stops watching before its own thaw). systemd
 * 252's freeze of a cgroup that is frozen already writes nothing, and so is not seen.
 *
 * A gate that cannot close (cgroup.freeze not writable: a read-only cgroup tree under
 * ProtectControlGroups=, no permission without CAP_DAC_OVERRIDE) is one log line naming
 * the unit and the gated directive: a warning for a thaw gate (the unit runs, as it would
 * after the deadline), an error for a keep-frozen one (it cannot be held).
 *
 * A gate closed after a process had joined the cgroup (cgroup.events "populated 1" when
 * the freeze landed) is late: counted and warned about, it stops the process only from
 * then on.
 *
 * Never frozen by mistake: each gate has a deadline (the longest of its directives',
 * default --gate-deadline). When it passes, or a directive fails, the gate is thawed
 * unless a directive that is not in asked for keep-frozen: then the unit stays frozen,
 * with an error in the log, until the rule is in. Every cgroup scnpm freezes is recorded
 * under RUNTIME_DIRECTORY/frozen/ (its id, and its path) before the freeze and the
 * record removed after the thaw; a start thaws what an earlier scnpm recorded (a crash)
 * and an exit thaws what this one holds.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct manager;
struct rule;
struct unit;

/* Default deadline: well above the p99 cgroup-to-kernel latency, well under a second. */
#define GATE_DEADLINE_DEFAULT_USEC (250ULL * 1000ULL)
/* At most this many gates closed at once (each holds an fd and a timer). */
#define GATES_MAX 4096

struct gate {
	struct manager *manager;
	char *key;		/* the cgroup id, decimal: also its record's name */
	uint32_t kind, uid;	/* the unit's manager */
	char *unit;
	char *path;		/* the cgroup, relative to the root */
	uint64_t cgroup_id;
	int fd;			/* the cgroup's directory */
	int wd;			/* inotify watch on its cgroup.freeze; -1: none */
	uint64_t frozen_usec;	/* CLOCK_MONOTONIC, when it was frozen */
	sd_event_source *timer;	/* the deadline */
	bool expired;		/* the deadline passed */
	bool held;		/* kept frozen (keep-frozen), said so */
	bool freezing;		/* the freeze is queued (freezer.h), not reported yet */
};

/* What a gate waits for: one gated directive's last result for the gate's cgroup. */
struct gate_item {
	uint32_t result;	/* enum scnpm_result; 0: sent, no report yet */
	bool keep_frozen;
};

enum gate_verdict {
	GATE_WAIT,	/* reports are due, and the deadline is not over */
	GATE_THAW,	/* every directive is in, or the ones that are not may thaw anyway */
	GATE_HOLD,	/* a keep-frozen directive is not in, and cannot be waited for any more */
};

/* Pure: what to do with a gate whose directives stand as items[0..n). *ret_n_missing
 * (may be NULL) is how many are not in the kernel. */
enum gate_verdict gate_decide(const struct gate_item *items, size_t n, bool expired,
			      size_t *ret_n_missing);

/* Does gated rule r cover the cgroup path of unit name of (kind, uid)? */
bool gate_covers(const struct rule *r, uint32_t kind, uint32_t uid, const char *name,
		 const char *path);

/* A source reported a new cgroup (path, id) of u: freeze it if a gated directive covers
 * it. Call before the unit's rules are dispatched. */
void gate_new_cgroup(struct manager *m, struct unit *u, const char *path, uint64_t id);
/* Something may have settled a gate (a report, a dispatch, a reload): look soon, from
 * the loop (never from within a sink's call). */
void gate_schedule_check(struct manager *m);
/* Look now: thaw what is settled, drop gates whose cgroup is gone. */
void gate_check_all(struct manager *m);

/* Thaw every cgroup an earlier scnpm recorded as frozen by it and did not thaw (after a
 * crash), unless this one holds it. Returns how many were thawed. */
int gate_recover(struct manager *m);
/* Exit: thaw and forget every gate. */
void gate_free_all(struct manager *m);

/* Warnings for gated directives no loaded source can close a gate for. */
void gate_check_sources(struct manager *m);
