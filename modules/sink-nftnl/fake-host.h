/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFTNL_FAKE_HOST_H
#define SCNPM_SINK_NFTNL_FAKE_HOST_H

/* A struct scnpm_host for sink-nftnl's tests: records reports and log lines, serves
 * options from a small table, lends a caller-owned sd_event. */

#include <stddef.h>
#include <stdint.h>

#include <scnpm/module.h>

struct fake_report {
	const struct scnpm_rule *rule;
	char *unit;			/* NULL from rule_add()/flush() */
	uint32_t result;
	char *message;
};

struct fake_host {
	struct scnpm_host host;		/* first: the module sees only this */
	const char *option_keys[8];
	const char *option_values[8];
	struct fake_report *reports;
	size_t n_reports, cap_reports;
	unsigned n_warnings, n_errors;
	int quiet;			/* do not echo logs to stderr */
};

struct fake_host *fake_host_new(sd_event *e, const char *module_name);
struct fake_host *fake_host_free(struct fake_host *fh);
void fake_host_set_option(struct fake_host *fh, const char *key, const char *value);
void fake_host_clear(struct fake_host *fh);
/* number of reports for rule (any rule if NULL) with result (any if 0) */
size_t fake_host_count(const struct fake_host *fh, const struct scnpm_rule *rule, uint32_t result);
/* the last report for rule, or NULL */
const struct fake_report *fake_host_last(const struct fake_host *fh, const struct scnpm_rule *rule);

/* dlopen()s path and returns its descriptor (handle in *ret_dl), or NULL. */
const struct scnpm_module *fake_host_load_module(const char *path, void **ret_dl);

#endif
