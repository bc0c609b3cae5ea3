/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "fake-host.h"

/* Returns array (n of *allocated elements of size used) with room for one more. */
static void *grow(void *array, size_t size, size_t n, size_t *allocated)
{
	if (n < *allocated)
		return array;
	*allocated = *allocated ? *allocated * 2 : 64;
	array = realloc(array, *allocated * size);
	if (!array)
		abort();
	return array;
}

static char *xstrdup(const char *s)
{
	char *t;

	if (!s)
		return NULL;
	t = strdup(s);
	if (!t)
		abort();
	return t;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	return s;
}

static void fake_host_log(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
{
	struct fake_host *f = (struct fake_host *)h;
	char *text;
	va_list ap;

	errno = error < 0 ? -error : error; /* for %m */
	va_start(ap, fmt);
	text = xvasprintf(fmt, ap);
	va_end(ap);

	f->logs = grow(f->logs, sizeof(*f->logs), f->n_logs, &f->allocated_logs);
	f->logs[f->n_logs++] = (struct fake_log){.prio = prio, .error = error, .text = text};

	if (f->echo == FAKE_HOST_ECHO_ALL ||
	    (f->echo == FAKE_HOST_ECHO_PROBLEMS && prio < LOG_DEBUG))
		fprintf(stderr, "<%d>%s: %s\n", prio, h->module_name, text);
}

static const char *fake_host_option(const struct scnpm_host *h, const char *key)
{
	const struct fake_host *f = (const struct fake_host *)h;

	for (size_t i = 0; i < f->n_options; i++)
		if (strcmp(f->keys[i], key) == 0)
			return f->values[i];
	return NULL;
}

static int fake_host_emit(const struct scnpm_host *h, const struct scnpm_event *ev)
{
	struct fake_host *f = (struct fake_host *)h;
	struct fake_event c = {.ev = {.size = 0}};

	/* an older producer's event may be shorter: copy only what it has */
	memcpy(&c.ev, ev, ev->size < sizeof(c.ev) ? ev->size : sizeof(c.ev));
	c.ev.unit = c.unit = xstrdup(c.ev.unit);
	c.ev.cgroup_path = c.cgroup_path = xstrdup(c.ev.cgroup_path);
	f->events = grow(f->events, sizeof(*f->events), f->n_events, &f->allocated_events);
	f->events[f->n_events++] = c;
	return 0;
}

static void fake_host_report(const struct scnpm_host *h, const struct scnpm_rule *rule,
			     const struct scnpm_event *unit, uint32_t result, const char *fmt, ...)
{
	struct fake_host *f = (struct fake_host *)h;
	struct fake_report r = {.rule = rule, .result = result};
	va_list ap;

	if (unit && unit->unit)
		r.unit = xstrdup(unit->unit);
	if (fmt) {
		va_start(ap, fmt);
		r.message = xvasprintf(fmt, ap);
		va_end(ap);
	}

	f->reports = grow(f->reports, sizeof(*f->reports), f->n_reports, &f->allocated_reports);
	f->reports[f->n_reports++] = r;

	if (f->echo == FAKE_HOST_ECHO_ALL ||
	    (f->echo == FAKE_HOST_ECHO_PROBLEMS && result != SCNPM_RESULT_APPLIED))
		fprintf(stderr, "report: %s:%u unit '%s' result %u: %s\n",
			rule && rule->file ? rule->file : "?", rule ? rule->line : 0,
			r.unit ? r.unit : "", result, r.message ? r.message : "");
}

static void fake_host_health_put(const struct scnpm_host *h, const char *key, uint64_t value)
{
	struct fake_host *f = (struct fake_host *)h;
	size_t i;

	for (i = 0; i < f->n_health && strcmp(f->health[i].key, key) != 0; i++)
		;
	if (i == sizeof(f->health) / sizeof(f->health[0]) || strlen(key) >= sizeof(f->health[i].key))
		abort();
	snprintf(f->health[i].key, sizeof(f->health[i].key), "%s", key);
	f->health[i].value = value;
	if (i == f->n_health)
		f->n_health++;
}

static void fake_host_resync(const struct scnpm_host *h)
{
	struct fake_host *f = (struct fake_host *)h;

	f->n_resyncs++;
	if (f->echo == FAKE_HOST_ECHO_ALL)
		fprintf(stderr, "resync\n");
}

int fake_host_health(struct fake_host *f, const struct scnpm_module *d, void *state)
{
	f->n_health = 0;
	if (!SCNPM_HAS(d, struct scnpm_module, health) || !d->health)
		return -EOPNOTSUPP;
	return d->health(state);
}

int fake_host_health_get(const struct fake_host *f, const char *key, uint64_t *ret)
{
	for (size_t i = 0; i < f->n_health; i++)
		if (strcmp(f->health[i].key, key) == 0) {
			*ret = f->health[i].value;
			return 1;
		}
	return 0;
}

struct fake_host *fake_host_new(sd_event *e, const char *module_name)
{
	struct fake_host *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->host = (struct scnpm_host){
	    .abi = SCNPM_MODULE_ABI,
	    .size = sizeof(struct scnpm_host),
	    .event = e,
	    .module_name = module_name,
	    .log = fake_host_log,
	    .option = fake_host_option,
	    .emit = fake_host_emit,
	    .report = fake_host_report,
	    .health_put = fake_host_health_put,
	    .resync = fake_host_resync,
	};
	f->echo = FAKE_HOST_ECHO_ALL;
	return f;
}

void fake_host_clear_events(struct fake_host *f)
{
	for (size_t i = 0; i < f->n_events; i++) {
		free(f->events[i].unit);
		free(f->events[i].cgroup_path);
	}
	f->n_events = 0;
}

void fake_host_clear_logs(struct fake_host *f)
{
	for (size_t i = 0; i < f->n_logs; i++)
		free(f->logs[i].text);
	f->n_logs = 0;
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
	fake_host_clear_events(f);
	fake_host_clear_logs(f);
	fake_host_clear_reports(f);
	free(f->events);
	free(f->logs);
	free(f->reports);
	for (size_t i = 0; i < f->n_options; i++) {
		free(f->keys[i]);
		free(f->values[i]);
	}
	free(f);
	return NULL;
}

void fake_host_set_option(struct fake_host *f, const char *key, const char *value)
{
	size_t i;

	for (i = 0; i < f->n_options; i++)
		if (strcmp(f->keys[i], key) == 0)
			break;
	if (i == f->n_options) {
		if (f->n_options >= sizeof(f->keys) / sizeof(f->keys[0]))
			abort();
		f->keys[f->n_options++] = xstrdup(key);
	} else
		free(f->values[i]);
	f->values[i] = xstrdup(value);
}

long fake_host_find_event(const struct fake_host *f, size_t from, uint32_t change, const char *path)
{
	for (size_t i = from; i < f->n_events; i++)
		if (f->events[i].ev.change == change && f->events[i].cgroup_path &&
		    strcmp(f->events[i].cgroup_path, path) == 0)
			return (long)i;
	return -1;
}

long fake_host_find_unit(const struct fake_host *f, size_t from, const char *unit)
{
	for (size_t i = from; i < f->n_events; i++)
		if (f->events[i].unit && strcmp(f->events[i].unit, unit) == 0)
			return (long)i;
	return -1;
}

size_t fake_host_count_events(const struct fake_host *f, uint32_t change, const char *path)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_events; i++)
		if (f->events[i].ev.change == change && f->events[i].cgroup_path &&
		    strcmp(f->events[i].cgroup_path, path) == 0)
			n++;
	return n;
}

size_t fake_host_count_logs(const struct fake_host *f, int prio, const char *needle)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_logs; i++)
		if ((prio == FAKE_HOST_ANY_PRIO || f->logs[i].prio == prio) &&
		    (!needle || strstr(f->logs[i].text, needle)))
			n++;
	return n;
}

size_t fake_host_count_reports(const struct fake_host *f, const struct scnpm_rule *rule,
			       uint32_t result)
{
	size_t n = 0;

	for (size_t i = 0; i < f->n_reports; i++)
		if ((!rule || f->reports[i].rule == rule) &&
		    (result == 0 || f->reports[i].result == result))
			n++;
	return n;
}

const struct fake_report *fake_host_last_report(const struct fake_host *f,
						const struct scnpm_rule *rule)
{
	for (size_t i = f->n_reports; i > 0; i--)
		if (f->reports[i - 1].rule == rule)
			return &f->reports[i - 1];
	return NULL;
}

const struct scnpm_module *fake_host_load_module(const char *path, void **ret_dl)
{
	const struct scnpm_module *m;
	void *dl;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
		return NULL;
	}
	m = dlsym(dl, SCNPM_MODULE_SYMBOL);
	if (!m) {
		fprintf(stderr, "%s: no %s: %s\n", path, SCNPM_MODULE_SYMBOL, dlerror());
		dlclose(dl);
		return NULL;
	}
	*ret_dl = dl;
	return m;
}
