/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fake-host.h"

static void fake_host_log(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
{
	struct fake_host *fh = (struct fake_host *)h;
	va_list ap;

	if (prio <= LOG_ERR)
		fh->n_errors++;
	else if (prio == LOG_WARNING)
		fh->n_warnings++;
	if (fh->quiet)
		return;
	errno = -error;
	va_start(ap, fmt);
	fprintf(stderr, "<%d>%s: ", prio, h->module_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static const char *fake_host_option(const struct scnpm_host *h, const char *key)
{
	const struct fake_host *fh = (const struct fake_host *)h;

	for (size_t i = 0; i < 8 && fh->option_keys[i]; i++)
		if (strcmp(fh->option_keys[i], key) == 0)
			return fh->option_values[i];
	return NULL;
}

static void fake_host_report(const struct scnpm_host *h, const struct scnpm_rule *rule,
			     const struct scnpm_event *unit, uint32_t result, const char *fmt, ...)
{
	struct fake_host *fh = (struct fake_host *)h;
	struct fake_report *r;
	char msg[1024] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	if (fh->n_reports == fh->cap_reports) {
		size_t cap = fh->cap_reports ? fh->cap_reports * 2 : 64;
		struct fake_report *p = realloc(fh->reports, cap * sizeof(*p));

		if (!p)
			abort();
		fh->reports = p;
		fh->cap_reports = cap;
	}
	r = &fh->reports[fh->n_reports++];
	*r = (struct fake_report){
		.rule = rule,
		.unit = unit && unit->unit ? strdup(unit->unit) : NULL,
		.result = result,
		.message = strdup(msg),
	};
	if (!fh->quiet)
		fprintf(stderr, "report: %s:%u %s result=%u %s\n", rule && rule->file ? rule->file : "?",
			rule ? rule->line : 0, r->unit ? r->unit : "-", result, msg);
}

struct fake_host *fake_host_new(sd_event *e, const char *module_name)
{
	struct fake_host *fh = calloc(1, sizeof(*fh));

	if (!fh)
		return NULL;
	fh->host = (struct scnpm_host){
		.abi = SCNPM_MODULE_ABI,
		.size = sizeof(struct scnpm_host),
		.event = e,
		.module_name = module_name,
		.log = fake_host_log,
		.option = fake_host_option,
		.report = fake_host_report,
	};
	return fh;
}

void fake_host_clear(struct fake_host *fh)
{
	for (size_t i = 0; i < fh->n_reports; i++) {
		free(fh->reports[i].unit);
		free(fh->reports[i].message);
	}
	fh->n_reports = 0;
	fh->n_warnings = fh->n_errors = 0;
}

struct fake_host *fake_host_free(struct fake_host *fh)
{
	if (!fh)
		return NULL;
	fake_host_clear(fh);
	free(fh->reports);
	free(fh);
	return NULL;
}

void fake_host_set_option(struct fake_host *fh, const char *key, const char *value)
{
	for (size_t i = 0; i < 8; i++)
		if (!fh->option_keys[i] || strcmp(fh->option_keys[i], key) == 0) {
			fh->option_keys[i] = key;
			fh->option_values[i] = value;
			return;
		}
}

size_t fake_host_count(const struct fake_host *fh, const struct scnpm_rule *rule, uint32_t result)
{
	size_t n = 0;

	for (size_t i = 0; i < fh->n_reports; i++)
		if ((!rule || fh->reports[i].rule == rule) && (!result || fh->reports[i].result == result))
			n++;
	return n;
}

const struct fake_report *fake_host_last(const struct fake_host *fh, const struct scnpm_rule *rule)
{
	for (size_t i = fh->n_reports; i > 0; i--)
		if (fh->reports[i - 1].rule == rule)
			return &fh->reports[i - 1];
	return NULL;
}

const struct scnpm_module *fake_host_load_module(const char *path, void **ret_dl)
{
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	const struct scnpm_module *m;

	if (!dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	m = dlsym(dl, SCNPM_MODULE_SYMBOL);
	if (!m) {
		dlclose(dl);
		return NULL;
	}
	*ret_dl = dl;
	return m;
}
