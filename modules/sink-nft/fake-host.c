/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fake-host.h"

static void fake_host_log(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
{
	struct fake_host *f = (struct fake_host *)h;
	va_list ap;

	if (prio >= 0 && prio < 8)
		f->n_logs[prio]++;
	if (f->quiet && prio >= LOG_DEBUG)
		return;
	errno = error < 0 ? -error : error; /* for %m */
	fprintf(stderr, "<%d>%s: ", prio, h->module_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const char *fake_host_option(const struct scnpm_host *h, const char *key)
{
	const struct fake_host *f = (const struct fake_host *)h;
	size_t len = strlen(key);

	for (const char *const *o = f->options; o && *o; o++) {
		if (strcmp(*o, key) == 0)
			return "";
		if (strncmp(*o, key, len) == 0 && (*o)[len] == '=')
			return *o + len + 1;
	}
	return NULL;
}

static int fake_host_emit(const struct scnpm_host *h, const struct scnpm_event *ev)
{
	return -EINVAL;
}

static void fake_host_report(const struct scnpm_host *h, const struct scnpm_rule *rule,
			     const struct scnpm_event *unit, uint32_t result, const char *fmt, ...)
{
	struct fake_host *f = (struct fake_host *)h;
	struct fake_report r = {.rule = rule, .result = result};
	va_list ap;

	if (unit && unit->unit)
		r.unit = strdup(unit->unit);
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&r.message, fmt, ap) < 0)
			r.message = NULL;
		va_end(ap);
	}
	if (!f->quiet || result != SCNPM_RESULT_APPLIED)
		fprintf(stderr, "report: %s:%u unit '%s' result %u: %s\n", rule ? rule->file : "?",
			rule ? rule->line : 0, r.unit ?: "", result, r.message ?: "");

	if (f->n_reports == f->cap_reports) {
		size_t cap = f->cap_reports ? f->cap_reports * 2 : 16;
		struct fake_report *p = realloc(f->reports, cap * sizeof(*p));

		if (!p)
			abort();
		f->reports = p;
		f->cap_reports = cap;
	}
	f->reports[f->n_reports++] = r;
}

int fake_host_new(sd_event *e, const char *module_name, struct fake_host **ret)
{
	struct fake_host *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->host = (struct scnpm_host){
	    .abi = SCNPM_MODULE_ABI,
	    .size = sizeof(struct scnpm_host),
	    .event = e,
	    .module_name = module_name,
	    .log = fake_host_log,
	    .option = fake_host_option,
	    .emit = fake_host_emit,
	    .report = fake_host_report,
	};
	*ret = f;
	return 0;
}

void fake_host_clear_reports(struct fake_host *f)
{
	for (size_t i = 0; i < f->n_reports; i++) {
		free(f->reports[i].unit);
		free(f->reports[i].message);
	}
	f->n_reports = 0;
}

struct fake_host *fake_host_free(struct fake_host *f)
{
	if (!f)
		return NULL;
	fake_host_clear_reports(f);
	free(f->reports);
	free(f);
	return NULL;
}

const struct fake_report *fake_host_last_report(const struct fake_host *f,
						const struct scnpm_rule *rule)
{
	for (size_t i = f->n_reports; i > 0; i--)
		if (f->reports[i - 1].rule == rule)
			return &f->reports[i - 1];
	return NULL;
}

size_t fake_host_count(const struct fake_host *f, uint32_t result)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_reports; i++)
		n += f->reports[i].result == result;
	return n;
}
