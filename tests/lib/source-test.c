/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-test: a stand-in source for testing the core's routing, never a stand-in for a
 * real source in a test that claims to test one.
 *
 * Reads event lines from a file descriptor (option fd=N, e.g. a pipe the test writes to)
 * on the host's loop and emits one event per line. Fields are separated by tabs so that
 * names with spaces and quotes can be sent as they are:
 *
 *     CHANGE \t MANAGER \t UNIT [\t CGROUP-PATH [\t CGROUP-ID]]
 *
 * CHANGE is started, stopped or changed; MANAGER is system, any or user:UID. A line
 * "raw-short" emits an event whose size field is too small, a line "resync" asks the
 * host to look at every unit again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <scnpm/log.h>
#include <scnpm/module.h>

struct test_source {
	const struct scnpm_host *host;
	int fd;
	sd_event_source *io;
	char buf[65536];
	size_t len;
};

static void test_source_line(struct test_source *s, char *line)
{
	struct scnpm_event ev = { .size = sizeof(ev) };
	char *f[5] = {};
	int n = 0;

	if (strcmp(line, "resync") == 0) {
		s->host->resync(s->host);
		return;
	}
	if (strcmp(line, "raw-short") == 0) {
		ev.size = 8;
		ev.unit = "x.service";
		(void)s->host->emit(s->host, &ev);
		return;
	}
	for (char *p = line; n < 5;) {
		f[n++] = p;
		p = strchr(p, '\t');
		if (!p)
			break;
		*p++ = '\0';
	}
	if (n < 3) {
		scnpm_warning(s->host, "malformed test line");
		return;
	}
	ev.change = strcmp(f[0], "started") == 0 ? SCNPM_UNIT_STARTED
		    : strcmp(f[0], "stopped") == 0 ? SCNPM_UNIT_STOPPED
						   : SCNPM_UNIT_CHANGED;
	if (strcmp(f[1], "system") == 0)
		ev.manager = SCNPM_MANAGER_SYSTEM;
	else if (strncmp(f[1], "user:", 5) == 0) {
		ev.manager = SCNPM_MANAGER_USER;
		ev.uid = (uint32_t)strtoul(f[1] + 5, NULL, 10);
	} else
		ev.manager = SCNPM_MANAGER_ANY;
	ev.unit = f[2];
	if (n > 3 && *f[3])
		ev.cgroup_path = f[3];
	if (n > 4)
		ev.cgroup_id = strtoull(f[4], NULL, 10);
	(void)s->host->emit(s->host, &ev);
}

static int test_source_on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct test_source *s = userdata;
	ssize_t k;
	char *nl;

	k = read(fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
	if (k <= 0) {
		if (k == 0 || errno != EAGAIN)
			(void)sd_event_source_set_enabled(es, SD_EVENT_OFF);
		return 0;
	}
	s->len += (size_t)k;
	s->buf[s->len] = '\0';
	while ((nl = memchr(s->buf, '\n', s->len))) {
		size_t l = (size_t)(nl - s->buf) + 1;

		*nl = '\0';
		test_source_line(s, s->buf);
		memmove(s->buf, s->buf + l, s->len - l);
		s->len -= l;
		s->buf[s->len] = '\0';
	}
	return 0;
}

static int test_source_init(const struct scnpm_host *h, void **ret)
{
	struct test_source *s;
	const char *fd = h->option(h, "fd");

	if (!fd)
		return scnpm_error_errno(h, -EINVAL, "option fd= is required");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;
	s->fd = atoi(fd);
	*ret = s;
	return 0;
}

static int test_source_start(void *state)
{
	struct test_source *s = state;
	int r;

	r = sd_event_add_io(s->host->event, &s->io, s->fd, EPOLLIN, test_source_on_io, s);
	if (r < 0)
		return r;
	/* What is in the pipe already is "what runs at start": reported from start(), as
	 * source-cgroupfs reports its initial scan. */
	return test_source_on_io(s->io, s->fd, EPOLLIN, s);
}

static void test_source_done(void *state)
{
	struct test_source *s = state;

	if (!s)
		return;
	sd_event_source_disable_unref(s->io);
	free(s);
}

static const char *const test_source_options[] = { "fd", NULL };

SCNPM_MODULE_DEFINE = {
	.abi = SCNPM_MODULE_ABI,
	.size = sizeof(struct scnpm_module),
	.kind = SCNPM_MODULE_SOURCE,
	.name = "source-test",
	.description = "Test stand-in: events from a pipe",
	.options = test_source_options,
	.init = test_source_init,
	.start = test_source_start,
	.done = test_source_done,
};
