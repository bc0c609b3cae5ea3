/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-cgroupfs against a plain directory tree in a temporary directory (root=), driven
 * one sd-event iteration at a time: sd_event_run(e, UINT64_MAX) after a change,
 * sd_event_run(e, 0) == 0 when nothing may be pending.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <systemd/sd-event.h>

#include <scnpm/module.h>

#include "fake-host.h"
#include "source-cgroupfs.h"

extern const struct scnpm_module scnpm_module_v1;

static struct {
	sd_event *event;
	struct fake_host *host;
	char dir[64];
	int dfd;
	void *state;
	int started;
} fx;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/* Quiet unless TEST_VERBOSE is set. */
static struct fake_host *new_host(sd_event *e)
{
	struct fake_host *h = fake_host_new(e, "source-cgroupfs");

	h->echo = getenv("TEST_VERBOSE") ? FAKE_HOST_ECHO_ALL : FAKE_HOST_ECHO_NONE;
	return h;
}

static void setup(void)
{
	struct statfs sfs;

	/* tmpfs, like cgroupfs, does not hand out a freed inode number again at once, so
	 * a restarted unit gets a new id here too (ext4 would reuse it). */
	if (statfs("/dev/shm", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC && access("/dev/shm", W_OK) == 0)
		strcpy(fx.dir, "/dev/shm/test-cgroupfs-XXXXXX");
	else
		strcpy(fx.dir, "/tmp/test-cgroupfs-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(fx.dir), NULL));
	fx.dfd = open(fx.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert(ge(int, fx.dfd, 0));
	cr_assert(eq(int, sd_event_new(&fx.event), 0));
	fx.host = new_host(fx.event);
	fake_host_set_option(fx.host, "root", fx.dir);
	fx.state = NULL;
	fx.started = 0;
}

static void teardown(void)
{
	scnpm_module_v1.done(fx.state);
	fx.state = NULL;
	fx.host = fake_host_free(fx.host);
	fx.event = sd_event_unref(fx.event);
	if (fx.dfd >= 0)
		close(fx.dfd);
	(void)nftw(fx.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* No Criterion .timeout: in 2.4.1 it leaks 48 bytes in the runner, which fails the
 * sanitizer build; meson's test timeout covers a hang. */
TestSuite(source_cgroupfs, .init = setup, .fini = teardown);

static void mk(const char *path)
{
	cr_assert(eq(int, mkdirat(fx.dfd, path, 0755), 0), "mkdir %s: %s", path, strerror(errno));
}

/* mkdir -p */
static void mkp(const char *path)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdirat(fx.dfd, buf, 0755) < 0)
			cr_assert(eq(int, errno, EEXIST), "mkdir %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdirat(fx.dfd, buf, 0755) < 0)
		cr_assert(eq(int, errno, EEXIST), "mkdir %s: %s", buf, strerror(errno));
}

static void rm(const char *path)
{
	cr_assert(eq(int, unlinkat(fx.dfd, path, AT_REMOVEDIR), 0), "rmdir %s: %s", path,
		  strerror(errno));
}

static uint64_t ino_of(const char *path)
{
	struct stat st;

	cr_assert(eq(int, fstatat(fx.dfd, path, &st, 0), 0), "stat %s", path);
	return (uint64_t)st.st_ino;
}

static int start(void)
{
	int r;

	r = scnpm_module_v1.init(&fx.host->host, &fx.state);
	if (r < 0)
		return r;
	r = scnpm_module_v1.start(fx.state);
	fx.started = r >= 0;
	return r;
}

static void run_until_idle(void)
{
	while (sd_event_run(fx.event, 0) > 0)
		;
}

static const struct fake_event *event_at(long i)
{
	cr_assert(ge(long, i, 0));
	cr_assert(lt(long, i, (long)fx.host->n_events));
	return &fx.host->events[i];
}

static void assert_event(long i, uint32_t change, const char *path, const char *unit,
			 uint32_t manager, uint32_t uid, uint32_t level)
{
	const struct fake_event *e = event_at(i);

	cr_assert(eq(u32, e->ev.change, change), "event %ld %s", i, path);
	cr_assert(eq(str, e->cgroup_path, (char *)path));
	cr_assert(eq(str, e->unit, (char *)unit));
	cr_assert(eq(u32, e->ev.manager, manager), "%s", path);
	cr_assert(eq(u32, e->ev.uid, uid), "%s", path);
	cr_assert(eq(u32, e->ev.cgroup_level, level), "%s", path);
	cr_assert(eq(u32, e->ev.size, (uint32_t)sizeof(struct scnpm_event)));
	cr_assert(ne(u64, e->ev.cgroup_id, 0));
	cr_assert(ne(u64, e->ev.timestamp, 0));
}

#define S SCNPM_UNIT_STARTED
#define T SCNPM_UNIT_STOPPED
#define SYS SCNPM_MANAGER_SYSTEM
#define USR SCNPM_MANAGER_USER

static const char u1000[] = "user.slice/user-1000.slice/user@1000.service";

Test(source_cgroupfs, initial_scan_reports_running_units)
{
	char p[256];

	mkp("system.slice/a.service");
	mkp("system.slice/b.service");
	mk("init.scope");
	mkp("user.slice/user-1000.slice/session-1.scope");
	snprintf(p, sizeof(p), "%s/app.slice/app-x.scope", u1000);
	mkp(p);
	snprintf(p, sizeof(p), "%s/init.scope", u1000);
	mk(p);

	cr_assert(eq(int, start(), 0));
	/* Everything is reported by start() itself, nothing is pending. */
	cr_assert(eq(sz, fx.host->n_events, 11));
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));

	assert_event(fake_host_find_event(fx.host, 0, S, "system.slice"), S, "system.slice",
		     "system.slice", SYS, 0, 1);
	assert_event(fake_host_find_event(fx.host, 0, S, "system.slice/a.service"), S,
		     "system.slice/a.service", "a.service", SYS, 0, 2);
	assert_event(fake_host_find_event(fx.host, 0, S, "init.scope"), S, "init.scope",
		     "init.scope", SYS, 0, 1);
	assert_event(fake_host_find_event(fx.host, 0, S, "user.slice/user-1000.slice/session-1.scope"),
		     S, "user.slice/user-1000.slice/session-1.scope", "session-1.scope", SYS, 0, 3);
	/* The user manager's own unit belongs to the system manager ... */
	assert_event(fake_host_find_event(fx.host, 0, S, u1000), S, u1000, "user@1000.service",
		     SYS, 0, 3);
	/* ... what is below it to the user manager. */
	snprintf(p, sizeof(p), "%s/app.slice", u1000);
	assert_event(fake_host_find_event(fx.host, 0, S, p), S, p, "app.slice", USR, 1000, 4);
	snprintf(p, sizeof(p), "%s/app.slice/app-x.scope", u1000);
	assert_event(fake_host_find_event(fx.host, 0, S, p), S, p, "app-x.scope", USR, 1000, 5);
	cr_assert(eq(u64, event_at(fake_host_find_event(fx.host, 0, S, p))->ev.cgroup_id, ino_of(p)));
	snprintf(p, sizeof(p), "%s/init.scope", u1000);
	assert_event(fake_host_find_event(fx.host, 0, S, p), S, p, "init.scope", USR, 1000, 4);

	/* Parents before children. */
	cr_assert(lt(long, fake_host_find_event(fx.host, 0, S, "user.slice"),
		     fake_host_find_event(fx.host, 0, S, "user.slice/user-1000.slice")));
	cr_assert(lt(long, fake_host_find_event(fx.host, 0, S, "system.slice"),
		     fake_host_find_event(fx.host, 0, S, "system.slice/b.service")));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, ""), 0));
}

Test(source_cgroupfs, mkdir_and_rmdir)
{
	uint64_t id;

	mk("system.slice");
	cr_assert(eq(int, start(), 0));
	cr_assert(eq(sz, fx.host->n_events, 1));

	mk("system.slice/foo.service");
	id = ino_of("system.slice/foo.service");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, 2));
	assert_event(1, S, "system.slice/foo.service", "foo.service", SYS, 0, 2);
	cr_assert(eq(u64, fx.host->events[1].ev.cgroup_id, id));
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));

	rm("system.slice/foo.service");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, 3));
	assert_event(2, T, "system.slice/foo.service", "foo.service", SYS, 0, 2);
	cr_assert(eq(u64, fx.host->events[2].ev.cgroup_id, id));
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));

	/* Files are not units. */
	cr_assert(ge(int, openat(fx.dfd, "system.slice/cgroup.procs", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), 0));
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 3));
}

Test(source_cgroupfs, restart_reports_old_then_new_cgroup)
{
	uint64_t id1, id2;

	mk("system.slice");
	cr_assert(eq(int, start(), 0));
	mk("system.slice/foo.service");
	id1 = ino_of("system.slice/foo.service");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));

	/* Keep the old inode number from being handed out again at once. */
	mk("system.slice/keep.slice");
	rm("system.slice/foo.service");
	mk("system.slice/foo.service");
	id2 = ino_of("system.slice/foo.service");
	cr_assert(ne(u64, id1, id2));
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	run_until_idle();

	cr_assert(eq(sz, fake_host_count_events(fx.host, T, "system.slice/foo.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "system.slice/foo.service"), 2));
	long stop = fake_host_find_event(fx.host, 0, T, "system.slice/foo.service");
	long again = fake_host_find_event(fx.host, 2, S, "system.slice/foo.service");
	cr_assert(lt(long, stop, again));
	cr_assert(eq(u64, event_at(stop)->ev.cgroup_id, id1));
	cr_assert(eq(u64, event_at(again)->ev.cgroup_id, id2));
}

Test(source_cgroupfs, gone_before_seen_is_not_reported)
{
	cr_assert(eq(int, start(), 0));
	mk("short.service");
	rm("short.service");
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 0));
}

Test(source_cgroupfs, nested_user_subtree_created_at_once)
{
	char p[256];

	cr_assert(eq(int, start(), 0));
	cr_assert(eq(sz, fx.host->n_events, 0));

	/* Created faster than watches can be added: each new directory is listed right
	 * after its watch was added, so nothing below it is missed. */
	snprintf(p, sizeof(p), "%s/app.slice/app-x.scope", u1000);
	mkp(p);
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 5));
	assert_event(0, S, "user.slice", "user.slice", SYS, 0, 1);
	assert_event(1, S, "user.slice/user-1000.slice", "user-1000.slice", SYS, 0, 2);
	assert_event(2, S, u1000, "user@1000.service", SYS, 0, 3);
	snprintf(p, sizeof(p), "%s/app.slice", u1000);
	assert_event(3, S, p, "app.slice", USR, 1000, 4);
	snprintf(p, sizeof(p), "%s/app.slice/app-x.scope", u1000);
	assert_event(4, S, p, "app-x.scope", USR, 1000, 5);

	/* The user's slice and unit directories are watched now. */
	snprintf(p, sizeof(p), "%s/app.slice/app-y.scope", u1000);
	mk(p);
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, 6));
	assert_event(5, S, p, "app-y.scope", USR, 1000, 5);
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));

	snprintf(p, sizeof(p), "%s/session.slice/dbus.service", u1000);
	mkp(p);
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	run_until_idle();
	assert_event(7, S, p, "dbus.service", USR, 1000, 5);

	/* Logout: the whole tree goes, deepest first. */
	rm(p);
	snprintf(p, sizeof(p), "%s/session.slice", u1000);
	rm(p);
	snprintf(p, sizeof(p), "%s/app.slice/app-y.scope", u1000);
	rm(p);
	snprintf(p, sizeof(p), "%s/app.slice/app-x.scope", u1000);
	rm(p);
	snprintf(p, sizeof(p), "%s/app.slice", u1000);
	rm(p);
	rm(u1000);
	rm("user.slice/user-1000.slice");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 15));
	for (size_t i = 8; i < 15; i++)
		cr_assert(eq(u32, fx.host->events[i].ev.change, T));
	assert_event(14, T, "user.slice/user-1000.slice", "user-1000.slice", SYS, 0, 2);
	cr_assert(eq(str, fx.host->events[13].cgroup_path, (char *)u1000));
	cr_assert(eq(u32, fx.host->events[12].ev.uid, 1000));
	cr_assert(eq(u32, cgroupfs_source_n_watches(fx.state), 2));	/* root, user.slice */
}

Test(source_cgroupfs, ids_are_inode_numbers_and_levels_count_components)
{
	char p[512] = "";

	cr_assert(eq(int, start(), 0));
	/* 40 levels of slices and a service at the bottom. */
	for (int i = 0; i < 40; i++) {
		strcat(p, i ? "/s.slice" : "s.slice");
		mk(p);
	}
	strcat(p, "/deep.service");
	mk(p);
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 41));
	assert_event(40, S, p, "deep.service", SYS, 0, 41);
	cr_assert(eq(u64, fx.host->events[40].ev.cgroup_id, ino_of(p)));
}

Test(source_cgroupfs, user_cannot_claim_another_uid_nor_delegated_internals)
{
	char p[512];

	/* A user creating "user@0.service" in their own tree stays that user ... */
	snprintf(p, sizeof(p), "%s/app.slice/user@0.service/app.slice/evil.service", u1000);
	mkp(p);
	/* ... and what a delegated service keeps below itself is not a unit of ours. */
	mkp("system.slice/docker.service/inner.service");
	mkp("system.slice/postfix.service/postfix.service");
	cr_assert(eq(int, start(), 0));

	snprintf(p, sizeof(p), "%s/app.slice/user@0.service", u1000);
	assert_event(fake_host_find_event(fx.host, 0, S, p), S, p, "user@0.service", USR, 1000, 5);
	snprintf(p, sizeof(p), "%s/app.slice/user@0.service/app.slice", u1000);
	cr_assert(eq(long, fake_host_find_event(fx.host, 0, S, p), -1));
	cr_assert(eq(long, fake_host_find_event(fx.host, 0, S, "system.slice/docker.service/inner.service"), -1));
	cr_assert(eq(long, fake_host_find_event(fx.host, 0, S, "system.slice/postfix.service/postfix.service"), -1));
	for (size_t i = 0; i < fx.host->n_events; i++)
		cr_assert(not(fx.host->events[i].ev.manager == USR && fx.host->events[i].ev.uid != 1000));

	/* Nor later. */
	mk("system.slice/docker.service/later.service");
	snprintf(p, sizeof(p), "%s/app.slice/user@0.service/app.slice/later.service", u1000);
	mk(p);
	run_until_idle();
	cr_assert(eq(long, fake_host_find_event(fx.host, 0, S, p), -1));
	cr_assert(eq(long, fake_host_find_event(fx.host, 0, S, "system.slice/docker.service/later.service"), -1));
}

static const char *const hostile[] = {
	"x\";add rule inet filter output accept;\"",
	"{",
	"}",
	"foo bar.service",
	"a\nb.service",
	"semi;colon.service",
	"quote'.service",
	"dollar$(id).service",
	"...",
	".service",
	"noext",
	"two@at@s.service",
	"\xc3\xa9t\xc3\xa9.service",
	"back\\slash.unknowntype",
};

Test(source_cgroupfs, hostile_names_are_logged_once_and_ignored)
{
	char app[256], p[1024], longname[256];
	size_t n_hostile = sizeof(hostile) / sizeof(hostile[0]);

	snprintf(app, sizeof(app), "%s/app.slice", u1000);
	mkp(app);
	cr_assert(eq(int, start(), 0));
	size_t base = fx.host->n_events;

	/* Names Linux cannot create at all: "..", 300 bytes. */
	snprintf(p, sizeof(p), "%s/..", app);
	cr_assert(eq(int, mkdirat(fx.dfd, p, 0755), -1));
	memset(p, 'a', 300);
	strcpy(p + 300, ".service");
	cr_assert(eq(int, mkdirat(fx.dfd, p, 0755), -1));
	cr_assert(eq(int, errno, ENAMETOOLONG));

	for (size_t i = 0; i < n_hostile; i++) {
		snprintf(p, sizeof(p), "%s/%s", app, hostile[i]);
		mk(p);
	}
	/* 255 bytes, the most a name can have, and one bad byte in it. */
	memset(longname, 'a', 255);
	longname[10] = ';';
	memcpy(longname + 255 - strlen(".service"), ".service", strlen(".service"));
	longname[255] = '\0';
	snprintf(p, sizeof(p), "%s/%s", app, longname);
	mk(p);
	/* A valid name below an invalid one. */
	snprintf(p, sizeof(p), "%s/{/valid.service", app);
	mk(p);
	snprintf(p, sizeof(p), "%s/{/valid.slice", app);
	mk(p);
	/* Invalid at the top too. */
	mk("x\";add rule ip t c accept");

	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, base), "hostile names must not be reported");
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "Ignoring cgroup"), n_hostile + 2));
	for (size_t i = 0; i < fx.host->n_logs; i++) {
		const char *t = fx.host->logs[i].text;

		cr_assert(eq(ptr, strchr(t, '\n'), NULL), "raw newline in log: %s", t);
		cr_assert(lt(sz, strlen(t), 512), "unbounded log line: %s", t);
		for (const char *c = t; *c; c++)
			cr_assert(ge(int, (unsigned char)*c, 0x20), "control byte in log: %s", t);
	}
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "aaaa;aaaa"), 1));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "a\\x0ab.service"), 1));

	/* Not descended into: the valid names below '{' cost no watch. */
	cr_assert(eq(u32, cgroupfs_source_n_watches(fx.state), 5));

	/* Once: a full rescan (and later events nearby) do not log them again. */
	cr_assert(eq(int, cgroupfs_source_rescan(fx.state), 0));
	snprintf(p, sizeof(p), "%s/ok.service", app);
	mk(p);
	run_until_idle();
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "Ignoring cgroup"), n_hostile + 2));
	cr_assert(eq(sz, fx.host->n_events, base + 1));
	assert_event((long)base, S, p, "ok.service", USR, 1000, 5);

	/* Removing them reports nothing either. */
	snprintf(p, sizeof(p), "%s/{/valid.service", app);
	rm(p);
	snprintf(p, sizeof(p), "%s/{/valid.slice", app);
	rm(p);
	for (size_t i = 0; i < n_hostile; i++) {
		snprintf(p, sizeof(p), "%s/%s", app, hostile[i]);
		rm(p);
	}
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, base + 1));
}

Test(source_cgroupfs, many_hostile_names_do_not_flood_the_log)
{
	char p[64];

	cr_assert(eq(int, start(), 0));
	for (int i = 0; i < 200; i++) {
		snprintf(p, sizeof(p), "bad name %d", i);
		mk(p);
	}
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 0));
	cr_assert(le(sz, fake_host_count_logs(fx.host, LOG_WARNING, "Ignoring cgroup"), 64));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_NOTICE, "debug level"), 1));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_DEBUG, "Ignoring cgroup") +
				 fake_host_count_logs(fx.host, LOG_WARNING, "Ignoring cgroup"),
		     200));
}

/* The module's I/O callback hands each read() to cgroupfs_source_process_events(); a
 * synthetic IN_Q_OVERFLOW record takes exactly that path. */
Test(source_cgroupfs, overflow_record_rescans_and_reconciles)
{
	union {
		struct inotify_event ev;
		char raw[sizeof(struct inotify_event) + 16];
	} buf = { .ev = { .wd = -1, .mask = IN_Q_OVERFLOW } };

	mkp("system.slice/a.service");
	mkp("system.slice/b.service");
	cr_assert(eq(int, start(), 0));
	fake_host_clear_events(fx.host);

	rm("system.slice/a.service");
	mk("system.slice/c.service");
	mkp("new.slice/d.service");

	cgroupfs_source_process_events(fx.state, &buf, sizeof(buf.ev));
	cr_assert(eq(sz, fx.host->n_events, 4));
	cr_assert(eq(sz, fake_host_count_events(fx.host, T, "system.slice/a.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "system.slice/c.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "new.slice"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "new.slice/d.service"), 1));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_NOTICE, "overflowed"), 1));

	/* The real events still queued change nothing: the tree is known already. */
	run_until_idle();
	cr_assert(eq(sz, fx.host->n_events, 4));

	/* new.slice got its watch in the rescan. */
	mk("new.slice/e.service");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, 5));
	assert_event(4, S, "new.slice/e.service", "e.service", SYS, 0, 2);
}

/* Records the kernel would never write: misaligned (an odd len before them), a name
 * without its NUL, "..", a name with '/', a header cut short. Skipped, nothing emitted,
 * nothing read past the buffer (the sanitizer build checks that). wd 1 is the root: the
 * first watch of a fresh inotify instance. */
Test(source_cgroupfs, malformed_records_are_skipped)
{
	uint8_t buf[256], *p = buf;
	struct inotify_event ev = {.wd = 1, .mask = IN_CREATE | IN_ISDIR};

	mkp("system.slice/a.service");
	cr_assert(eq(int, start(), 0));
	fake_host_clear_events(fx.host);
	rm("system.slice/a.service");
	rm("system.slice");

	ev.len = 3; /* "..\0", and the next record misaligned */
	memcpy(p, &ev, sizeof(ev)), memcpy(p + sizeof(ev), "..", 3), p += sizeof(ev) + 3;
	ev.len = 12; /* no NUL within len */
	memcpy(p, &ev, sizeof(ev)), memcpy(p + sizeof(ev), "system.slice", 12),
	    p += sizeof(ev) + 12;
	ev.len = 16;
	memcpy(p, &ev, sizeof(ev)), memcpy(p + sizeof(ev), "system.slice/a\0\0", 16),
	    p += sizeof(ev) + 16;
	ev.len = 64; /* runs past the end */
	memcpy(p, &ev, sizeof(ev)), p += sizeof(ev);
	cgroupfs_source_process_events(fx.state, buf, (size_t)(p - buf));
	cgroupfs_source_process_events(fx.state, buf, 7);
	cr_assert(eq(sz, fx.host->n_events, 0));

	/* the same name, well-formed, is acted on */
	ev = (struct inotify_event){.wd = 1, .mask = IN_DELETE | IN_ISDIR, .len = 16};
	memcpy(buf, &ev, sizeof(ev)), memcpy(buf + sizeof(ev), "system.slice\0\0\0\0", 16);
	cgroupfs_source_process_events(fx.state, buf, sizeof(ev) + 16);
	cr_assert(eq(sz, fake_host_count_events(fx.host, T, "system.slice/a.service"), 1));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A real overflow: more directories created than the inotify queue holds while the loop
 * does not run (the daemon stopped, or busy). Nothing is lost, nothing reported twice. */
Test(source_cgroupfs, real_queue_overflow_converges)
{
	unsigned long max_events = 0;
	char p[64];
	FILE *f;

	f = fopen("/proc/sys/fs/inotify/max_queued_events", "re");
	cr_assert(ne(ptr, f, NULL));
	cr_assert(eq(int, fscanf(f, "%lu", &max_events), 1));
	fclose(f);
	if (max_events > 200000)
		cr_skip_test("fs.inotify.max_queued_events=%lu: too many directories to overflow it; "
			     "overflow_record_rescans_and_reconciles covers the code path", max_events);

	mkp("system.slice/a.service");
	mkp("system.slice/b.service");
	cr_assert(eq(int, start(), 0));
	fake_host_clear_events(fx.host);

	size_t n = max_events + 100;
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "system.slice/u%zu.service", i);
		mk(p);
	}
	/* These two happen after the queue overflowed: only a rescan can see them. */
	rm("system.slice/a.service");
	mk("system.slice/late.service");

	run_until_idle();
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_NOTICE, "overflowed"), 1),
		  "the queue did not overflow");
	cr_assert(eq(sz, fx.host->n_events, n + 2));
	cr_assert(eq(sz, fake_host_count_events(fx.host, T, "system.slice/a.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "system.slice/late.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "system.slice/b.service"), 0));

	/* Every new unit exactly once. */
	char **paths = calloc(fx.host->n_events, sizeof(char *));
	size_t k = 0;

	cr_assert(ne(ptr, paths, NULL));
	for (size_t i = 0; i < fx.host->n_events; i++)
		if (fx.host->events[i].ev.change == S)
			paths[k++] = fx.host->events[i].cgroup_path;
	cr_assert(eq(sz, k, n + 1));
	qsort(paths, k, sizeof(char *), cmp_str);
	for (size_t i = 1; i < k; i++)
		cr_assert(ne(str, paths[i - 1], paths[i]), "reported twice: %s", paths[i]);
	free(paths);

	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));
}

/* max-watches=N: the module behaves exactly as when inotify_add_watch() fails with
 * ENOSPC once N watches are in use. */
Test(source_cgroupfs, watch_limit_falls_back_to_rescans_and_recovers)
{
	fake_host_set_option(fx.host, "max-watches", "2");
	fake_host_set_option(fx.host, "rescan-interval", "0.05");
	mk("system.slice");
	cr_assert(eq(int, start(), 0));
	cr_assert(eq(u32, cgroupfs_source_n_watches(fx.state), 2));
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));
	fake_host_clear_events(fx.host);

	/* The third directory holding units gets no watch. */
	mk("user.slice");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, 1));
	cr_assert(eq(u32, cgroupfs_source_n_unwatched(fx.state), 1));
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "fs.inotify.max_user_watches"), 1));

	/* Below it, changes are found by the timer. */
	mk("user.slice/u.service");
	while (fx.host->n_events < 2)
		cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	assert_event(1, S, "user.slice/u.service", "u.service", SYS, 0, 2);

	mk("user.slice/more.slice");
	mk("user.slice/more.slice/m.scope");
	rm("user.slice/u.service");
	while (fx.host->n_events < 5)
		cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, T, "user.slice/u.service"), 1));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "user.slice/more.slice/m.scope"), 1));
	/* Said once only. */
	cr_assert(eq(sz, fake_host_count_logs(fx.host, LOG_WARNING, "fs.inotify.max_user_watches"), 1));

	/* A watch is freed: the next rescan takes it, then inotify reports again. */
	rm("user.slice/more.slice/m.scope");
	rm("user.slice/more.slice");
	rm("system.slice");
	while (fake_host_count_logs(fx.host, LOG_NOTICE, "watched again") == 0)
		cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(u32, cgroupfs_source_n_unwatched(fx.state), 0));
	cr_assert(eq(u32, cgroupfs_source_n_watches(fx.state), 2));
	size_t before = fx.host->n_events;

	mk("user.slice/v.service");
	cr_assert(eq(int, sd_event_run(fx.event, UINT64_MAX), 1));
	cr_assert(eq(sz, fx.host->n_events, before + 1));
	assert_event((long)before, S, "user.slice/v.service", "v.service", SYS, 0, 2);
	/* The timer is off again. */
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t l;

	if (fd < 0)
		return -errno;
	l = write(fd, text, strlen(text));
	close(fd);
	return l == (ssize_t)strlen(text) ? 0 : -errno;
}

/* The kernel's own limit, lowered in a user namespace of this test only (the limit is
 * per user namespace, so the host's sysctl stays untouched). unshare(CLONE_NEWUSER)
 * refuses a multi-threaded process such as a Criterion worker, so a forked child (single
 * threaded) runs the scenario with plain checks and exits 0, 77 (cannot run here) or 1. */
#define CHILD_CHECK(cond)                                                               \
	do {                                                                            \
		if (!(cond)) {                                                          \
			fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			_exit(1);                                                       \
		}                                                                       \
	} while (0)

static void enospc_child(uid_t uid, gid_t gid)
{
	struct fake_host *h;
	sd_event *e = NULL;
	void *state = NULL;
	char map[64];
	int r;

	if (unshare(CLONE_NEWUSER) < 0) {
		fprintf(stderr, "# unshare(CLONE_NEWUSER): %s\n", strerror(errno));
		_exit(77);
	}
	(void)write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	CHILD_CHECK(write_file("/proc/self/uid_map", map) == 0);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	CHILD_CHECK(write_file("/proc/self/gid_map", map) == 0);
	r = write_file("/proc/sys/user/max_inotify_watches", "2");
	if (r < 0) {
		fprintf(stderr, "# cannot lower user.max_inotify_watches: %s\n", strerror(-r));
		_exit(77);
	}

	CHILD_CHECK(sd_event_new(&e) >= 0);
	h = new_host(e);
	fake_host_set_option(h, "root", fx.dir);
	fake_host_set_option(h, "rescan-interval", "0.05");
	CHILD_CHECK(scnpm_module_v1.init(&h->host, &state) == 0);
	CHILD_CHECK(scnpm_module_v1.start(state) == 0);
	CHILD_CHECK(cgroupfs_source_n_watches(state) == 2);
	CHILD_CHECK(cgroupfs_source_n_unwatched(state) == 1);
	CHILD_CHECK(fake_host_count_logs(h, LOG_WARNING, "Out of inotify watches") == 1);
	CHILD_CHECK(fake_host_count_logs(h, LOG_WARNING, "max-watches") == 0);
	CHILD_CHECK(h->n_events == 3);

	/* Wherever the missing watch is, both places are covered. */
	CHILD_CHECK(mkdirat(fx.dfd, "system.slice/b.service", 0755) == 0);
	CHILD_CHECK(mkdirat(fx.dfd, "user.slice/c.service", 0755) == 0);
	while (h->n_events < 5)
		CHILD_CHECK(sd_event_run(e, UINT64_MAX) == 1);
	CHILD_CHECK(fake_host_count_events(h, S, "system.slice/b.service") == 1);
	CHILD_CHECK(fake_host_count_events(h, S, "user.slice/c.service") == 1);
	CHILD_CHECK(fake_host_count_logs(h, LOG_WARNING, "fs.inotify.max_user_watches") == 1);

	scnpm_module_v1.done(state);
	fake_host_free(h);
	sd_event_unref(e);
	_exit(0);
}

Test(source_cgroupfs, real_enospc_in_a_user_namespace)
{
	int status;
	pid_t pid;

	mk("system.slice");
	mk("user.slice");
	mk("system.slice/a.service");

	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0)
		enospc_child(getuid(), getgid());
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(ne(int, WIFEXITED(status), 0), "child died");
	if (WEXITSTATUS(status) == 77) {
		if (getenv("CI") && strcmp(getenv("CI"), "true") == 0)
			cr_fatal("user namespace with a lowered inotify watch limit not possible under CI (see stderr)");
		cr_skip_test("user namespace with a lowered inotify watch limit not possible here");
	}
	cr_assert(eq(int, WEXITSTATUS(status), 0), "see the child's check on stderr");
}

Test(source_cgroupfs, bad_options_fail_init)
{
	static const struct {
		const char *key, *value;
		int r;
	} t[] = {
		{ "rescan-interval", "abc", -EINVAL },
		{ "rescan-interval", "0", -EINVAL },
		{ "max-watches", "-1", -EINVAL },
		{ "root", "relative/path", -EINVAL },
		{ "root", "/nonexistent/scnpm-test", -ENOENT },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fake_host *h = new_host(fx.event);
		void *state = (void *)0x1;

		fake_host_set_option(h, "root", fx.dir);
		fake_host_set_option(h, t[i].key, t[i].value);
		cr_assert(eq(int, scnpm_module_v1.init(&h->host, &state), t[i].r), "%s=%s", t[i].key,
			  t[i].value);
		cr_assert(eq(ptr, state, (void *)0x1));
		cr_assert(eq(sz, fake_host_count_logs(h, LOG_ERR, t[i].value), 1), "%s=%s", t[i].key,
			  t[i].value);
		fake_host_free(h);
	}
}

Test(source_cgroupfs, descriptor)
{
	static const char *const want[] = { "root", "rescan-interval", "max-watches" };

	cr_assert(eq(u32, scnpm_module_v1.abi, SCNPM_MODULE_ABI));
	cr_assert(eq(u32, scnpm_module_v1.size, (uint32_t)sizeof(struct scnpm_module)));
	cr_assert(eq(u32, scnpm_module_v1.kind, SCNPM_MODULE_SOURCE));
	cr_assert(eq(str, (char *)scnpm_module_v1.name, "source-cgroupfs"));
	for (size_t i = 0; i < 3; i++)
		cr_assert(eq(str, (char *)scnpm_module_v1.options[i], (char *)want[i]));
	cr_assert(eq(ptr, (void *)scnpm_module_v1.options[3], NULL));
	cr_assert(eq(ptr, (void *)scnpm_module_v1.rule_add, NULL));
	cr_assert(eq(ptr, (void *)scnpm_module_v1.apply, NULL));
	scnpm_module_v1.done(NULL);
}

Test(source_cgroupfs, done_releases_event_sources)
{
	mk("system.slice");
	fake_host_set_option(fx.host, "max-watches", "1");	/* arms the timer too */
	cr_assert(eq(int, start(), 0));
	scnpm_module_v1.done(fx.state);
	fx.state = NULL;
	mk("system.slice/x.service");
	mk("y.service");
	cr_assert(eq(int, sd_event_run(fx.event, 0), 0));
	cr_assert(eq(sz, fake_host_count_events(fx.host, S, "y.service"), 0));
}

/* Without root=, the cgroup2 mount is found in /proc/self/mountinfo. */
Test(source_cgroupfs, finds_cgroup2_by_itself)
{
	struct fake_host *h = new_host(fx.event);
	char *line = NULL;
	size_t n = 0;
	int have = 0;
	void *state = NULL;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	cr_assert(ne(ptr, f, NULL));
	while (getline(&line, &n, f) >= 0)
		if (strstr(line, " - cgroup2 "))
			have = 1;
	free(line);
	fclose(f);

	if (have) {
		cr_assert(eq(int, scnpm_module_v1.init(&h->host, &state), 0));
		cr_assert(eq(sz, fake_host_count_logs(h, LOG_DEBUG, "Watching cgroups under '/"), 1));
	} else
		cr_assert(eq(int, scnpm_module_v1.init(&h->host, &state), -ENOENT));
	scnpm_module_v1.done(state);
	fake_host_free(h);
}
