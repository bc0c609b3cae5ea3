/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-cgroupfs on a real cgroup2 file system. Each test runs in its own worker: it
 * enters a private mount namespace and mounts cgroup2 on /sys/fs/cgroup there (over
 * the host's hybrid tmpfs, which stays untouched outside), so the module finds the
 * mount by itself. The hierarchy itself is the host's: every cgroup is made below
 * scnpm-test-<pid>.slice and removed again, deepest first, also when a test fails.
 * Needs root; under CI=true a missing prerequisite fails instead of skipping.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <systemd/sd-event.h>

#include <scnpm/module.h>

#include "fake-host.h"
#include "heap-use.h"

extern const struct scnpm_module scnpm_module_v1;

#define CGROUP_MNT "/sys/fs/cgroup"

static struct {
	sd_event *event;
	struct fake_host *host;
	void *state;
	char parent[64];	/* scnpm-test-<pid>.slice, relative to CGROUP_MNT */
	int made_parent;
} kx;

static int under_ci(void)
{
	const char *ci = getenv("CI");

	return ci && strcmp(ci, "true") == 0;
}

#define require(cond, ...)                                                              \
	do {                                                                            \
		if (!(cond)) {                                                          \
			if (under_ci())                                                 \
				cr_fatal(__VA_ARGS__);                                  \
			else                                                            \
				cr_skip_test(__VA_ARGS__);                              \
		}                                                                       \
	} while (0)

static int rmdir_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	/* cgroup control files cannot (and need not) be removed; directories can once
	 * empty, which FTW_DEPTH (children first) ensures. */
	if (flag == FTW_DP && rmdir(path) < 0)
		fprintf(stderr, "# cleanup: rmdir %s: %s\n", path, strerror(errno));
	return 0;
}

static void cleanup_cgroups(void)
{
	char p[128];

	if (!kx.made_parent)
		return;
	snprintf(p, sizeof(p), CGROUP_MNT "/%s", kx.parent);
	(void)nftw(p, rmdir_one, 16, FTW_DEPTH | FTW_PHYS);
	kx.made_parent = 0;
}

static void setup(void)
{
	struct statfs sfs;
	char p[128];

	require(geteuid() == 0, "kernel tests need root (mount namespace, cgroup2 mount)");
	require(unshare(CLONE_NEWNS) == 0, "unshare(CLONE_NEWNS): %s", strerror(errno));
	cr_assert(eq(int, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0),
		  "make / private: %s", strerror(errno));
	require(mount("none", CGROUP_MNT, "cgroup2", 0, NULL) == 0, "mount cgroup2 on " CGROUP_MNT ": %s",
		strerror(errno));
	cr_assert(eq(int, statfs(CGROUP_MNT, &sfs), 0));
	cr_assert(eq(i64, (int64_t)sfs.f_type, (int64_t)CGROUP2_SUPER_MAGIC));

	snprintf(kx.parent, sizeof(kx.parent), "scnpm-test-%d.slice", (int)getpid());
	snprintf(p, sizeof(p), CGROUP_MNT "/%s", kx.parent);
	cr_assert(eq(int, mkdir(p, 0755), 0), "mkdir %s: %s", p, strerror(errno));
	kx.made_parent = 1;
	/* Also when an assertion ends the worker before .fini runs. */
	atexit(cleanup_cgroups);

	cr_assert(eq(int, sd_event_new(&kx.event), 0));
	kx.host = fake_host_new(kx.event, "source-cgroupfs");
	kx.host->echo = getenv("TEST_VERBOSE") ? FAKE_HOST_ECHO_ALL : FAKE_HOST_ECHO_NONE;
}

static void teardown(void)
{
	scnpm_module_v1.done(kx.state);
	kx.state = NULL;
	kx.host = fake_host_free(kx.host);
	kx.event = sd_event_unref(kx.event);
	cleanup_cgroups();
}

TestSuite(cgroupfs_kernel, .init = setup, .fini = teardown);

static void cg_mkdir(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), CGROUP_MNT "/%s/%s", kx.parent, rel);
	cr_assert(eq(int, mkdir(p, 0755), 0), "mkdir %s: %s", p, strerror(errno));
}

static void cg_rmdir(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), CGROUP_MNT "/%s/%s", kx.parent, rel);
	cr_assert(eq(int, rmdir(p), 0), "rmdir %s: %s", p, strerror(errno));
}

/* The kernel's cgroup id, as cgroup_id() (and nft's "socket cgroupv2") sees it: the
 * kernfs node id carried in the file handle. */
static uint64_t cg_handle_id(const char *rel)
{
	struct {
		struct file_handle fh;
		unsigned char buf[MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	char p[256];
	int mnt_id;
	uint64_t id;

	snprintf(p, sizeof(p), CGROUP_MNT "/%s/%s", kx.parent, rel);
	cr_assert(eq(int, name_to_handle_at(AT_FDCWD, p, &h.fh, &mnt_id, 0), 0), "%s: %s", p,
		  strerror(errno));
	cr_assert(eq(u32, h.fh.handle_bytes, 8));
	memcpy(&id, h.fh.f_handle, sizeof(id));
	return id;
}

static uint64_t cg_ino(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), CGROUP_MNT "/%s/%s", kx.parent, rel);
	cr_assert(eq(int, stat(p, &st), 0));
	return (uint64_t)st.st_ino;
}

static const char *full(const char *rel)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", kx.parent, rel);
	return buf[i];
}

static const struct fake_event *only_event(uint32_t change, const char *path)
{
	long i = fake_host_find_event(kx.host, 0, change, path);

	cr_assert(ge(long, i, 0), "no event %u for %s", change, path);
	cr_assert(eq(sz, fake_host_count_events(kx.host, change, path), 1), "%s", path);
	return &kx.host->events[i];
}

/* Events for our own cgroups: others may come and go on the shared hierarchy. */
static size_t n_ours(void)
{
	size_t n = 0, l = strlen(kx.parent);

	for (size_t i = 0; i < kx.host->n_events; i++)
		if (strncmp(kx.host->events[i].cgroup_path, kx.parent, l) == 0)
			n++;
	return n;
}

static void start(void)
{
	/* No root=: the module must pick the cgroup2 mount on /sys/fs/cgroup itself. */
	cr_assert(eq(int, scnpm_module_v1.init(&kx.host->host, &kx.state), 0));
	cr_assert(eq(sz, fake_host_count_logs(kx.host, LOG_DEBUG, "Watching cgroups under '" CGROUP_MNT "'"), 1));
	cr_assert(eq(sz, fake_host_count_logs(kx.host, LOG_NOTICE, "not a cgroup2"), 0));
	cr_assert(eq(int, scnpm_module_v1.start(kx.state), 0));
}

static void run_until_idle(void)
{
	while (sd_event_run(kx.event, 0) > 0)
		;
}

Test(cgroupfs_kernel, ids_are_the_kernels_cgroup_ids)
{
	const struct fake_event *e;
	uint64_t id;

	cg_mkdir("running.service");
	start();
	e = only_event(SCNPM_UNIT_STARTED, full("running.service"));
	cr_assert(eq(u64, e->ev.cgroup_id, cg_handle_id("running.service")));
	cr_assert(eq(u64, e->ev.cgroup_id, cg_ino("running.service")));
	cr_assert(eq(u32, e->ev.cgroup_level, 2));
	cr_assert(eq(u32, e->ev.manager, SCNPM_MANAGER_SYSTEM));
	only_event(SCNPM_UNIT_STARTED, kx.parent);

	cg_mkdir("new.service");
	cr_assert(eq(int, sd_event_run(kx.event, UINT64_MAX), 1));
	e = only_event(SCNPM_UNIT_STARTED, full("new.service"));
	id = cg_handle_id("new.service");
	cr_assert(eq(u64, e->ev.cgroup_id, id));
	cr_assert(eq(str, e->unit, "new.service"));

	cg_rmdir("new.service");
	cr_assert(eq(int, sd_event_run(kx.event, UINT64_MAX), 1));
	run_until_idle();
	e = only_event(SCNPM_UNIT_STOPPED, full("new.service"));
	cr_assert(eq(u64, e->ev.cgroup_id, id));
}

Test(cgroupfs_kernel, restart_gets_a_new_id)
{
	uint64_t id1, id2;
	long stop, again;

	start();
	cg_mkdir("r.service");
	id1 = cg_handle_id("r.service");
	cr_assert(eq(int, sd_event_run(kx.event, UINT64_MAX), 1));
	cg_rmdir("r.service");
	cg_mkdir("r.service");
	id2 = cg_handle_id("r.service");
	cr_assert(ne(u64, id1, id2));
	run_until_idle();

	stop = fake_host_find_event(kx.host, 0, SCNPM_UNIT_STOPPED, full("r.service"));
	again = fake_host_find_event(kx.host, (size_t)stop + 1, SCNPM_UNIT_STARTED, full("r.service"));
	cr_assert(ge(long, stop, 0));
	cr_assert(gt(long, again, stop));
	cr_assert(eq(u64, kx.host->events[stop].ev.cgroup_id, id1));
	cr_assert(eq(u64, kx.host->events[again].ev.cgroup_id, id2));
}

Test(cgroupfs_kernel, user_manager_subtree)
{
	const struct fake_event *e;

	start();
	cg_mkdir("user@4242.service");
	cg_mkdir("user@4242.service/app.slice");
	cg_mkdir("user@4242.service/app.slice/app-x.scope");
	run_until_idle();

	e = only_event(SCNPM_UNIT_STARTED, full("user@4242.service"));
	cr_assert(eq(u32, e->ev.manager, SCNPM_MANAGER_SYSTEM));
	e = only_event(SCNPM_UNIT_STARTED, full("user@4242.service/app.slice/app-x.scope"));
	cr_assert(eq(u32, e->ev.manager, SCNPM_MANAGER_USER));
	cr_assert(eq(u32, e->ev.uid, 4242));
	cr_assert(eq(u32, e->ev.cgroup_level, 4));
	cr_assert(eq(u64, e->ev.cgroup_id, cg_handle_id("user@4242.service/app.slice/app-x.scope")));

	/* A hostile name in the user's tree: logged, not reported. */
	cg_mkdir("user@4242.service/app.slice/x\";add rule inet f o accept");
	run_until_idle();
	cr_assert(eq(sz, fake_host_count_logs(kx.host, LOG_WARNING, "x\";add\\x20rule"), 1));
	cr_assert(eq(sz, n_ours(), 4));

	cg_rmdir("user@4242.service/app.slice/x\";add rule inet f o accept");
	cg_rmdir("user@4242.service/app.slice/app-x.scope");
	cg_rmdir("user@4242.service/app.slice");
	cg_rmdir("user@4242.service");
	run_until_idle();
	only_event(SCNPM_UNIT_STOPPED, full("user@4242.service/app.slice/app-x.scope"));
	only_event(SCNPM_UNIT_STOPPED, full("user@4242.service"));
	cr_assert(eq(sz, n_ours(), 7));
}

/* Transient scopes get a new name and cgroup each time: what the source keeps (a watch
 * and a record per directory) must follow the directories that exist, not every one it
 * ever saw. The module watches below our parent only (root=), so other cgroups on the
 * shared hierarchy do not count; unique scopes of the system manager and of a user's
 * come and go there, and the heap in use afterwards is what it was after a warm-up round
 * (heap-use.h). */
static size_t n_changes(uint32_t change)
{
	size_t n = 0;

	for (size_t i = 0; i < kx.host->n_events; i++)
		n += kx.host->events[i].ev.change == change;
	return n;
}

static void churn_round(unsigned first, unsigned n)
{
	char rel[128];

	for (unsigned i = first; i < first + n; i++) {
		snprintf(rel, sizeof(rel), "run-u%u.scope", i);
		cg_mkdir(rel);
		snprintf(rel, sizeof(rel), "user@4242.service/app.slice/run-u%u.scope", i);
		cg_mkdir(rel);
	}
	run_until_idle();
	cr_assert(eq(sz, n_changes(SCNPM_UNIT_STARTED), 2 * n));
	for (unsigned i = first; i < first + n; i++) {
		snprintf(rel, sizeof(rel), "run-u%u.scope", i);
		cg_rmdir(rel);
		snprintf(rel, sizeof(rel), "user@4242.service/app.slice/run-u%u.scope", i);
		cg_rmdir(rel);
	}
	run_until_idle();
	cr_assert(eq(sz, n_changes(SCNPM_UNIT_STOPPED), 2 * n));
	cr_assert(eq(sz, fake_host_count_logs(kx.host, LOG_WARNING, NULL), 0));
	fake_host_clear_events(kx.host);
	fake_host_clear_logs(kx.host);
}

Test(cgroupfs_kernel, cgroups_that_come_and_go_leave_nothing_behind)
{
	enum { BATCH = 50, WARMUP = 500, N = 10000 };
	size_t warm, after;
	char root[128];

	cg_mkdir("user@4242.service");
	cg_mkdir("user@4242.service/app.slice");
	snprintf(root, sizeof(root), CGROUP_MNT "/%s", kx.parent);
	fake_host_set_option(kx.host, "root", root);
	cr_assert(eq(int, scnpm_module_v1.init(&kx.host->host, &kx.state), 0));
	cr_assert(eq(int, scnpm_module_v1.start(kx.state), 0));
	run_until_idle();
	fake_host_clear_events(kx.host);
	fake_host_clear_logs(kx.host);

	for (unsigned i = 0; i < WARMUP; i += BATCH)
		churn_round(i, BATCH);
	warm = heap_in_use();
	for (unsigned i = WARMUP; i < WARMUP + N; i += BATCH)
		churn_round(i, BATCH);
	after = heap_in_use();
	heap_use_assert_flat("source-cgroupfs, cgroups", warm, after, 2 * N);
}
