/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-host.h"

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		abort();
	return p;
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

static void fake_host_log(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
{
	struct fake_host *f = (struct fake_host *)h;
	char *text = NULL;
	va_list ap;

	errno = error < 0 ? -error : error;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);

	if (f->n_logs == f->allocated_logs) {
		f->allocated_logs = f->allocated_logs ? f->allocated_logs * 2 : 64;
		f->logs = xrealloc(f->logs, f->allocated_logs * sizeof(*f->logs));
	}
	f->logs[f->n_logs++] = (struct fake_log){ .prio = prio, .error = error, .text = text };
	if (f->echo)
		fprintf(stderr, "<%i>%s\n", prio, text);
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
	struct fake_event *c;

	if (f->n_events == f->allocated_events) {
		f->allocated_events = f->allocated_events ? f->allocated_events * 2 : 64;
		f->events = xrealloc(f->events, f->allocated_events * sizeof(*f->events));
	}
	c = &f->events[f->n_events++];
	c->ev = *ev;
	c->unit = xstrdup(ev->unit);
	c->cgroup_path = xstrdup(ev->cgroup_path);
	c->ev.unit = c->unit;
	c->ev.cgroup_path = c->cgroup_path;
	return 0;
}

struct fake_host *fake_host_new(sd_event *e)
{
	struct fake_host *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->host = (struct scnpm_host){
		.abi = SCNPM_MODULE_ABI,
		.size = sizeof(struct scnpm_host),
		.event = e,
		.module_name = "source-cgroupfs",
		.log = fake_host_log,
		.option = fake_host_option,
		.emit = fake_host_emit,
	};
	return f;
}

void fake_host_clear_events(struct fake_host *f)
{
	for (size_t i = 0; i < f->n_events; i++) {
		free(f->events[i].unit);
		free(f->events[i].cgroup_path);
	}
	free(f->events);
	f->events = NULL;
	f->n_events = f->allocated_events = 0;
}

struct fake_host *fake_host_free(struct fake_host *f)
{
	if (!f)
		return NULL;
	fake_host_clear_events(f);
	for (size_t i = 0; i < f->n_logs; i++)
		free(f->logs[i].text);
	free(f->logs);
	free(f);
	return NULL;
}

void fake_host_set_option(struct fake_host *f, const char *key, const char *value)
{
	for (size_t i = 0; i < f->n_options; i++)
		if (strcmp(f->keys[i], key) == 0) {
			f->values[i] = value;
			return;
		}
	if (f->n_options >= sizeof(f->keys) / sizeof(f->keys[0]))
		abort();
	f->keys[f->n_options] = key;
	f->values[f->n_options++] = value;
}

long fake_host_find_event(const struct fake_host *f, size_t from, uint32_t change, const char *path)
{
	for (size_t i = from; i < f->n_events; i++)
		if (f->events[i].ev.change == change && f->events[i].cgroup_path &&
		    strcmp(f->events[i].cgroup_path, path) == 0)
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
		if (f->logs[i].prio == prio && strstr(f->logs[i].text, needle))
			n++;
	return n;
}
