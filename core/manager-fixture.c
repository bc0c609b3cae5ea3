/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "loader.h"
#include "log.h"
#include "manager-fixture.h"
#include "util.h"


struct fixture fx;

static void capture_log(int level, const char *message, const struct log_fields *fields,
			void *userdata)
{
	char *s = NULL;

	if (asprintf(&s, "<%d>%s", level, message) >= 0) {
		strv_push(&fx.logs, s);
		free(s);
	}
	if (fields && fields->message_id &&
	    asprintf(&s, "%s %s %u:%u %s:%u", fields->message_id, fields->unit ?: "-",
		     (unsigned)fields->manager, (unsigned)fields->uid, fields->rule_file ?: "-",
		     fields->rule_line) >= 0) {
		strv_push(&fx.fields, s);
		free(s);
	}
}

unsigned logged_fields(const char *substring)
{
	unsigned n = 0;

	STRV_FOREACH(l, fx.fields)
		if (strstr(*l, substring))
			n++;
	return n;
}

bool logged(const char *substring)
{
	STRV_FOREACH(l, fx.logs)
		if (strstr(*l, substring))
			return true;
	return false;
}

void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert(ne(ptr, f, NULL));
	fputs(text, f);
	fclose(f);
}

char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &n, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

unsigned count(const char *path, const char *substring)
{
	char *s = read_file(path);
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, substring)); p++)
		n++;
	free(s);
	return n;
}

char *held(void)
{
	char p[160];

	snprintf(p, sizeof(p), "%s.held", fx.log);
	return read_file(p);
}

void fixture_setup(void)
{
	memset(&fx, 0, sizeof(fx));
	strcpy(fx.dir, "/tmp/scnpm-test-manager-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(fx.dir), NULL));
	snprintf(fx.log, sizeof(fx.log), "%s/sink.log", fx.dir);
	snprintf(fx.conf, sizeof(fx.conf), "%s/nftables.conf", fx.dir);
	snprintf(fx.cg, sizeof(fx.cg), "%s/cgroup", fx.dir);
	cr_assert(eq(int, mkdir(fx.cg, 0755), 0));
	cr_assert(eq(int, pipe2(fx.pipe, O_CLOEXEC | O_NONBLOCK), 0));
	cr_assert(eq(int, sd_event_new(&fx.e), 0));
	log_set_max_level(LOG_DEBUG);
	log_set_callback(capture_log, NULL);
}

void fixture_teardown(void)
{
	char cmd[128];

	manager_free(fx.m);
	sd_event_unref(fx.e);
	close(fx.pipe[0]);
	close(fx.pipe[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	(void)!system(cmd);
	strv_free(fx.logs);
	strv_free(fx.fields);
}

/* Build a manager with the test modules and start it; returns manager_start()'s result. */
int start(const char *conf, struct manager_options opt, const char *sink_extra)
{
	char spec[256], *error = NULL;
	struct module *src, *snk;
	int r;

	write_file(fx.conf, conf);
	fx.files[0] = fx.conf;
	opt.config_files = fx.files;
	opt.cgroup_root = fx.cg;
	cr_assert(eq(int, manager_new(fx.e, &opt, &fx.m), 0));

	snprintf(spec, sizeof(spec), "test:fd=%d", fx.pipe[0]);
	r = module_load(TEST_MODULES_DIR, SCNPM_MODULE_SOURCE, spec, &src, &error);
	cr_assert(eq(int, r, 0), "%s", error ?: "");
	cr_assert(eq(int, manager_add_module(fx.m, src), 0));
	snprintf(spec, sizeof(spec), "test:log=%s%s", fx.log, sink_extra ?: "");
	r = module_load(TEST_MODULES_DIR, SCNPM_MODULE_SINK, spec, &snk, &error);
	cr_assert(eq(int, r, 0), "%s", error ?: "");
	cr_assert(eq(int, manager_add_module(fx.m, snk), 0));

	r = manager_load_config(fx.m);
	if (r < 0)
		return r;
	return manager_start(fx.m);
}

void send_event(const char *line)
{
	size_t n = strlen(line);

	cr_assert(eq(long, write(fx.pipe[1], line, n), (long)n));
	cr_assert(eq(long, write(fx.pipe[1], "\n", 1), 1L));
}

/* mkdir -p / rmdir of a cgroup below the fake root */
void mkcg(const char *path)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", fx.cg, path);
	for (char *s = p + strlen(fx.cg) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		(void)mkdir(p, 0755);
		*s = '/';
	}
	cr_assert(eq(int, mkdir(p, 0755), 0), "mkdir %s", p);
}

/* The cgroup goes. Its directory moves out of the tree instead of being removed, so that
 * the file system cannot give the next one the same inode number: cgroup2 never reuses
 * an id, and the router tells cgroups apart by id. */
void rmcg(const char *path)
{
	static unsigned n;
	char p[512], grave[256];

	snprintf(p, sizeof(p), "%s/%s", fx.cg, path);
	snprintf(grave, sizeof(grave), "%s/gone-%u", fx.dir, n++);
	cr_assert(eq(int, rename(p, grave), 0), "rmdir %s", p);
}

bool holds(const char *substring)
{
	char *h = held();
	bool r = strstr(h, substring) != NULL;

	free(h);
	return r;
}

/* Run until the loop has nothing more to do right now. */
void run_pending(void)
{
	while (sd_event_run(fx.e, 0) > 0)
		;
}


