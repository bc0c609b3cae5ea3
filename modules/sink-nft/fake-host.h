/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_FAKE_HOST_H
#define SCNPM_SINK_NFT_FAKE_HOST_H

/*
 * A struct scnpm_host for driving sink-nft in tests and benchmarks without the daemon:
 * logs go to stderr (and are counted by priority), reports are recorded with deep
 * copies of what they say, options come from a NULL-terminated "key=value" list, emit()
 * refuses (sinks never call it).
 */

#include <stddef.h>
#include <stdint.h>

#include <scnpm/module.h>

struct fake_report {
	const struct scnpm_rule *rule; /* borrowed from the test */
	uint32_t result;	       /* enum scnpm_result */
	char *unit;		       /* NULL when reported outside apply() */
	char *message;		       /* NULL when the sink passed no fmt */
};

struct fake_host {
	struct scnpm_host host;	    /* first: the module sees only this */
	const char *const *options; /* "key=value", NULL-terminated; NULL: none */
	struct fake_report *reports;
	size_t n_reports, cap_reports;
	size_t n_logs[8]; /* per syslog priority */
	int quiet;	  /* do not print debug logs */
};

int fake_host_new(sd_event *e, const char *module_name, struct fake_host **ret);
struct fake_host *fake_host_free(struct fake_host *f);
void fake_host_clear_reports(struct fake_host *f);

/* The last report for rule, or NULL. */
const struct fake_report *fake_host_last_report(const struct fake_host *f,
						const struct scnpm_rule *rule);
/* How many reports carry result. */
size_t fake_host_count(const struct fake_host *f, uint32_t result);

#endif
