/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_CGROUPFS_FAKE_HOST_H
#define SCNPM_CGROUPFS_FAKE_HOST_H

/*
 * A struct scnpm_host for the module's tests: records emitted events (deep copies) and
 * log lines with their priorities, and serves options from a small table.
 */

#include <stddef.h>
#include <stdint.h>

#include <scnpm/module.h>

struct fake_event {
	struct scnpm_event ev;		/* unit and cgroup_path point at the copies below */
	char *unit;
	char *cgroup_path;
};

struct fake_log {
	int prio;
	int error;
	char *text;
};

struct fake_host {
	struct scnpm_host host;		/* first: the module gets &fake->host */
	struct fake_event *events;
	size_t n_events, allocated_events;
	struct fake_log *logs;
	size_t n_logs, allocated_logs;
	const char *keys[8];
	const char *values[8];
	size_t n_options;
	int echo;			/* also print logs to stderr */
};

struct fake_host *fake_host_new(sd_event *e);
struct fake_host *fake_host_free(struct fake_host *f);
void fake_host_set_option(struct fake_host *f, const char *key, const char *value);
void fake_host_clear_events(struct fake_host *f);

/* Index of the first event for path with change after index from, or -1. */
long fake_host_find_event(const struct fake_host *f, size_t from, uint32_t change, const char *path);
/* Number of events for path with change. */
size_t fake_host_count_events(const struct fake_host *f, uint32_t change, const char *path);
/* Number of log lines at prio (exact) containing needle. */
size_t fake_host_count_logs(const struct fake_host *f, int prio, const char *needle);

#endif /* SCNPM_CGROUPFS_FAKE_HOST_H */
