/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Writes to cgroup.freeze, off the event loop. Such a write takes the kernel's
 * cgroup_mutex, which systemd holds, across an RCU grace period, while it moves a unit's
 * new process into its cgroup (cgroup.procs, once in the child and once in PID 1): under
 * load that is milliseconds (p50 0.17 ms, p90 15 ms, max 38 ms measured with both CPUs
 * busy). Blocking the loop for it would hold back the gated unit's rules too, which need
 * no such lock, and a unit whose process runs meanwhile would send before either is in.
 * So the loop queues the write and goes on sending the rules; a thread does the writes in
 * the order they were queued (a thaw never overtakes its freeze) and reports each back
 * into the loop.
 *
 * The thread only writes and reads cgroup files through the fds it was given (its own
 * duplicates); it logs nothing and touches no other state.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

struct freezer;

struct freezer_done {
	uint64_t id;		/* what the caller queued it with */
	bool freeze;
	int error;		/* 0 or -errno of the write */
	int populated;		/* after a freeze: cgroup.events "populated", -1 unknown */
};

typedef void (*freezer_done_t)(const struct freezer_done *d, void *userdata);

/* The thread starts with the first job. */
int freezer_new(sd_event *e, freezer_done_t done, void *userdata, struct freezer **ret);
/* Queue a write of 1 (freeze) or 0 to the cgroup.freeze of the cgroup directory fd (the
 * freezer uses a duplicate: fd may be closed at once). */
int freezer_queue(struct freezer *f, int fd, uint64_t id, bool freeze);
/* Do what is queued, then stop the thread; no report is delivered after. NULL. */
struct freezer *freezer_free(struct freezer *f);
