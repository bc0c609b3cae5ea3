/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_FAKE_HOST_H
#define SCNPM_FAKE_HOST_H

/*
 * A struct scnpm_host for driving a module in its tests (and benchmarks) without the
 * daemon. It lends the caller's sd_event, serves options from a small key/value table,
 * and records what the module does: every log line with its priority and error,
 * every emit() with a deep copy of the event, every report() with deep copies of the
 * unit name and the message, and how many times resync() was called. Records stay until cleared or freed, so a test asserts on
 * them after driving the module. Out of memory aborts: this is test code.
 */

#include <stddef.h>
#include <stdint.h>

#include <scnpm/module.h>

/* Pass as prio to fake_host_count_logs() to count any priority. */
#define FAKE_HOST_ANY_PRIO (-1)

/* What is echoed to stderr as it happens (everything is recorded either way). */
enum fake_host_echo {
	FAKE_HOST_ECHO_NONE = 0,     /* nothing */
	FAKE_HOST_ECHO_PROBLEMS = 1, /* logs above LOG_DEBUG, reports other than APPLIED */
	FAKE_HOST_ECHO_ALL = 2,	     /* every log line and report (the default) */
};

struct fake_event {
	struct scnpm_event ev; /* unit and cgroup_path point at the copies below */
	char *unit;	       /* NULL when the source passed NULL */
	char *cgroup_path;     /* NULL when the source passed NULL */
};

struct fake_log {
	int prio;   /* syslog priority */
	int error;  /* 0 or a negative errno */
	char *text; /* formatted, %m expanded */
};

struct fake_report {
	const struct scnpm_rule *rule; /* borrowed from the test */
	uint32_t result;	       /* enum scnpm_result */
	char *unit;		       /* NULL when reported outside apply() */
	char *message;		       /* NULL when the sink passed no fmt */
};

struct fake_host {
	struct scnpm_host host; /* first: the module gets &fake->host */
	struct fake_event *events;
	size_t n_events, allocated_events;
	struct fake_log *logs;
	size_t n_logs, allocated_logs;
	struct fake_report *reports;
	size_t n_reports, allocated_reports;
	char *keys[16];
	char *values[16]; /* NULL: the option is not given */
	/* what the module's health() put, by fake_host_health(); later puts of a key win */
	struct {
		char key[64];
		uint64_t value;
	} health[32];
	size_t n_health;
	size_t n_resyncs; /* resync() calls */
	size_t n_options;
	int echo; /* enum fake_host_echo */
};

/* e is borrowed and must outlive the host; module_name is borrowed too. Never NULL. */
struct fake_host *fake_host_new(sd_event *e, const char *module_name);
/* Frees every record. Accepts NULL; returns NULL. */
struct fake_host *fake_host_free(struct fake_host *f);

/* Sets (or replaces) an option; both strings are copied. value NULL: not given. */
void fake_host_set_option(struct fake_host *f, const char *key, const char *value);

void fake_host_clear_events(struct fake_host *f);
void fake_host_clear_logs(struct fake_host *f);
void fake_host_clear_reports(struct fake_host *f);

/* Index of the first event at or after from with change for cgroup path, or -1. */
long fake_host_find_event(const struct fake_host *f, size_t from, uint32_t change,
			  const char *path);
/* Index of the first event at or after from for unit (any change), or -1. */
long fake_host_find_unit(const struct fake_host *f, size_t from, const char *unit);
/* Number of events with change for cgroup path. */
size_t fake_host_count_events(const struct fake_host *f, uint32_t change, const char *path);

/* Number of log lines at prio (exactly; FAKE_HOST_ANY_PRIO: any) containing needle
 * (NULL: any text). */
size_t fake_host_count_logs(const struct fake_host *f, int prio, const char *needle);

/* Number of reports for rule (NULL: any rule) with result (0: any result). */
size_t fake_host_count_reports(const struct fake_host *f, const struct scnpm_rule *rule,
			       uint32_t result);
/* The last report for rule, or NULL. */
const struct fake_report *fake_host_last_report(const struct fake_host *f,
						const struct scnpm_rule *rule);

/* Calls the module's health() (d, state) and records what it puts; 0 or its -errno. */
int fake_host_health(struct fake_host *f, const struct scnpm_module *d, void *state);
/* The value health() put for key: 1 and *ret, or 0 when it put none. */
int fake_host_health_get(const struct fake_host *f, const char *key, uint64_t *ret);

/* dlopen()s path and returns its descriptor, with the handle in *ret_dl (dlclose() it
 * after the module's done()); NULL, with the reason on stderr, when that fails. */
const struct scnpm_module *fake_host_load_module(const char *path, void **ret_dl);

#endif /* SCNPM_FAKE_HOST_H */
