/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-journal through its descriptor, on a private sd-event loop, with a fake host
 * that records events and logs. Journal files are written by systemd-journal-remote
 * (Debian: systemd-journal-remote), which keeps the trusted fields we hand it, into a
 * temporary directory that the module reads with directory=. Each scenario ends with a
 * sentinel entry; once its event arrived, the recorded list must be exactly as expected.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-messages.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <scnpm/module.h>

#include "fake-host.h"
#include "journal-access.h"

extern const struct scnpm_module scnpm_module_v1;

static struct {
	char dir[64];
	sd_event *event;
	struct fake_host *fh;
	void *state;
	sd_id128_t boot;
	uint64_t mono;		/* __MONOTONIC_TIMESTAMP of the last entry written */
	uint64_t realtime;	/* __REALTIME_TIMESTAMP of the last entry written */
	uint64_t written[1024]; /* __MONOTONIC_TIMESTAMP of each entry written, in order */
	size_t n_written;
} fx;

static void need_journal_remote(void)
{
	const char *ci = getenv("CI");

	if (JOURNAL_REMOTE[0] && access(JOURNAL_REMOTE, X_OK) == 0)
		return;
	if (ci && strcmp(ci, "true") == 0)
		cr_fatal("systemd-journal-remote is needed to write test journals "
			 "(apt-get install systemd-journal-remote)");
	cr_skip_test(
	    "systemd-journal-remote not installed (apt-get install systemd-journal-remote)");
}

static uint64_t clock_usec(clockid_t clock)
{
	struct timespec ts;

	cr_assert(eq(int, clock_gettime(clock, &ts), 0));
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	strcpy(fx.dir, "/tmp/test-source-journal.XXXXXX");
	cr_assert(ne(ptr, mkdtemp(fx.dir), NULL));
	cr_assert(eq(int, sd_event_new(&fx.event), 0));
	cr_assert(eq(int, sd_id128_get_boot(&fx.boot), 0));
	fx.fh = fake_host_new(fx.event, "source-journal");
	fake_host_set_option(fx.fh, "directory", fx.dir);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) < 0)
		fprintf(stderr, "remove %s: %m\n", path);
	return 0;
}

static void teardown(void)
{
	scnpm_module_v1.done(fx.state);
	fx.state = NULL;
	fx.fh = fake_host_free(fx.fh);
	sd_event_unref(fx.event);
	/* deepest first, never following a symlink out of the test's directory */
	(void)nftw(fx.dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(source_journal, .init = setup, .fini = teardown);

/* Export-format text for one entry, stamped like journald would: this boot, the clocks
 * at the time of writing. fields: "\n"-separated KEY=VALUE lines. */
static void entry(char **buf, size_t *len, FILE **f, const char *fields)
{
	char boot[SD_ID128_STRING_MAX];
	uint64_t mono = clock_usec(CLOCK_MONOTONIC), rt = clock_usec(CLOCK_REALTIME);

	fx.mono = mono > fx.mono ? mono : fx.mono + 1;
	fx.realtime = rt > fx.realtime ? rt : fx.realtime + 1;
	cr_assert(lt(sz, fx.n_written, sizeof(fx.written) / sizeof(fx.written[0])));
	fx.written[fx.n_written++] = fx.mono;
	if (!*f)
		cr_assert(ne(ptr, *f = open_memstream(buf, len), NULL));
	fprintf(*f,
		"__REALTIME_TIMESTAMP=%llu\n__MONOTONIC_TIMESTAMP=%llu\n_BOOT_ID=%s\n"
		"_MACHINE_ID=0123456789abcdef0123456789abcdef\n%s\n\n",
		(unsigned long long)fx.realtime, (unsigned long long)fx.mono,
		sd_id128_to_string(fx.boot, boot), fields);
}

#define SYSTEM_MANAGER                                                                             \
	"_TRANSPORT=journal\n_PID=1\n_UID=0\n_COMM=systemd\n_SYSTEMD_UNIT=init.scope\n"            \
	"_SYSTEMD_CGROUP=/init.scope\nSYSLOG_IDENTIFIER=systemd\n"
#define USER_MANAGER_1000                                                                          \
	"_TRANSPORT=journal\n_PID=812\n_UID=1000\n_COMM=systemd\n"                                 \
	"_SYSTEMD_UNIT=user@1000.service\n"                                                        \
	"_SYSTEMD_CGROUP=/user.slice/user-1000.slice/user@1000.service/init.scope\n"               \
	"_SYSTEMD_USER_UNIT=init.scope\nSYSLOG_IDENTIFIER=systemd\n"
#define LOGGER                                                                                     \
	"_TRANSPORT=journal\n_PID=4242\n_UID=1000\n_COMM=logger\n"                                 \
	"_SYSTEMD_UNIT=session-3.scope\n"                                                          \
	"_SYSTEMD_CGROUP=/user.slice/user-1000.slice/session-3.scope\n"
#define STARTED "MESSAGE_ID=" SD_MESSAGE_UNIT_STARTED_STR "\nJOB_TYPE=start\nJOB_RESULT=done\n"
#define STOPPED "MESSAGE_ID=" SD_MESSAGE_UNIT_STOPPED_STR "\nJOB_TYPE=stop\nJOB_RESULT=done\n"

/* Appends the entries in buf to DIR/file through systemd-journal-remote. */
static void journal_write(const char *file, char **bufp, size_t *lenp, FILE *f)
{
	char cmd[512], *buf;
	size_t len;
	FILE *p;

	/* open_memstream() updates *bufp and *lenp on fclose() */
	cr_assert(eq(int, fclose(f), 0));
	buf = *bufp;
	len = *lenp;
	snprintf(cmd, sizeof(cmd), "'%s' --output='%s/%s' - 2>/dev/null", JOURNAL_REMOTE, fx.dir,
		 file);
	cr_assert(ne(ptr, p = popen(cmd, "w"), NULL));
	cr_assert(eq(sz, fwrite(buf, 1, len, p), len));
	cr_assert(eq(int, pclose(p), 0), "systemd-journal-remote failed");
	free(buf);
}

/* Writes one batch of entries to file: a macro so the memstream plumbing stays here. */
#define WRITE(file, ...)                                                                           \
	do {                                                                                       \
		char *_buf = NULL;                                                                 \
		size_t _len = 0;                                                                   \
		FILE *_f = NULL;                                                                   \
		const char *_fields[] = {__VA_ARGS__};                                             \
		for (size_t _i = 0; _i < sizeof(_fields) / sizeof(_fields[0]); _i++)               \
			entry(&_buf, &_len, &_f, _fields[_i]);                                     \
		journal_write(file, &_buf, &_len, _f);                                             \
	} while (0)

static void module_start(void)
{
	cr_assert(eq(int, scnpm_module_v1.init(&fx.fh->host, &fx.state), 0));
	cr_assert(ne(ptr, fx.state, NULL));
	cr_assert(eq(int, scnpm_module_v1.start(fx.state), 0));
}

/* Runs the loop until an event for unit arrived. The bound only keeps a broken module
 * from hanging the test; nothing is asserted about time. */
static void wait_for(const char *unit)
{
	for (int i = 0; i < 200; i++) {
		if (fake_host_find_unit(fx.fh, 0, unit) >= 0)
			return;
		cr_assert(ge(int, sd_event_run(fx.event, 100000), 0));
	}
	cr_fatal("no event for '%s'", unit);
}

static void assert_event(size_t i, uint32_t change, uint32_t manager, uint32_t uid,
			 const char *unit)
{
	const struct scnpm_event *r;

	cr_assert(lt(sz, i, fx.fh->n_events), "event %zu missing", i);
	r = &fx.fh->events[i].ev;
	cr_assert(ne(ptr, (void *)r->unit, NULL), "event %zu", i);
	cr_assert(eq(str, (char *)r->unit, (char *)unit), "event %zu", i);
	cr_assert(eq(u32, r->change, change), "event %zu (%s)", i, unit);
	cr_assert(eq(u32, r->manager, manager), "event %zu (%s)", i, unit);
	cr_assert(eq(u32, r->uid, uid), "event %zu (%s)", i, unit);
	cr_assert(eq(u32, r->size, sizeof(struct scnpm_event)));
	cr_assert(eq(ptr, (void *)r->cgroup_path, NULL));
}

static int logged(const char *needle)
{
	return fake_host_count_logs(fx.fh, FAKE_HOST_ANY_PRIO, needle) > 0;
}

Test(source_journal, descriptor)
{
	cr_assert(eq(u32, scnpm_module_v1.abi, SCNPM_MODULE_ABI));
	cr_assert(eq(u32, scnpm_module_v1.kind, SCNPM_MODULE_SOURCE));
	cr_assert(eq(str, (char *)scnpm_module_v1.name, "source-journal"));
	cr_assert(eq(str, (char *)scnpm_module_v1.options[0], "directory"));
	cr_assert(eq(ptr, (void *)scnpm_module_v1.options[1], NULL));
	cr_assert(ne(ptr, (void *)scnpm_module_v1.start, NULL));
	cr_assert(eq(ptr, (void *)scnpm_module_v1.apply, NULL));
}

Test(source_journal, done_accepts_null)
{
	scnpm_module_v1.done(NULL);
}

Test(source_journal, empty_directory_option)
{
	void *state = NULL;

	fake_host_set_option(fx.fh, "directory", "");
	cr_assert(eq(int, scnpm_module_v1.init(&fx.fh->host, &state), -EINVAL));
	cr_assert(eq(ptr, state, NULL));
	cr_assert(logged("directory="));
}

Test(source_journal, follows_from_tail_and_trusts_only_managers)
{
	need_journal_remote();
	/* Already there at start: must not be reported. */
	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=old.service",
	      USER_MANAGER_1000 STARTED "USER_UNIT=old-user.service");

	module_start();
	cr_assert(eq(int, sd_event_run(fx.event, 0), 1)); /* the start-up read */
	cr_assert(eq(sz, fx.fh->n_events, 0));

	size_t first = fx.n_written;
	WRITE("system.journal", LOGGER STARTED "UNIT=sshd.service\nSYSLOG_IDENTIFIER=systemd",
	      SYSTEM_MANAGER STOPPED "UNIT=foo.service",
	      USER_MANAGER_1000 STARTED "USER_UNIT=app.service",
	      /* PID 1's credentials but another cgroup */
	      "_TRANSPORT=journal\n_PID=1\n_UID=0\n_COMM=systemd\n_SYSTEMD_UNIT=init.scope\n"
	      "_SYSTEMD_CGROUP=/system.slice/evil.service\n" STARTED "UNIT=bar.service",
	      /* a user claiming another user's manager */
	      "_TRANSPORT=journal\n_PID=900\n_UID=1001\n_COMM=systemd\n"
	      "_SYSTEMD_UNIT=user@1000.service\n"
	      "_SYSTEMD_CGROUP=/user.slice/user-1000.slice/user@1000.service/init.scope\n"
	      "_SYSTEMD_USER_UNIT=init.scope\n" STOPPED "USER_UNIT=app.service",
	      SYSTEM_MANAGER "MESSAGE_ID=" SD_MESSAGE_UNIT_STARTING_STR "\nUNIT=foo.service",
	      SYSTEM_MANAGER STARTED "UNIT=sentinel.service");
	wait_for("sentinel.service");

	cr_assert(eq(sz, fx.fh->n_events, 3));
	assert_event(0, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "foo.service");
	assert_event(1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_USER, 1000, "app.service");
	assert_event(2, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "sentinel.service");
	/* this boot's entries carry journald's receive time */
	cr_assert(eq(u64, fx.fh->events[0].ev.timestamp, fx.written[first + 1]));
	/* forged entries leave a debug line at most */
	for (size_t i = 0; i < fx.fh->n_logs; i++)
		cr_assert(eq(int, fx.fh->logs[i].prio, LOG_DEBUG), "%s", fx.fh->logs[i].text);
}

Test(source_journal, empty_directory_then_files)
{
	need_journal_remote();
	module_start();
	(void)sd_event_run(fx.event, 0);
	cr_assert(eq(sz, fx.fh->n_events, 0));

	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=first.service",
	      SYSTEM_MANAGER STARTED "UNIT=sentinel.service");
	wait_for("sentinel.service");
	cr_assert(eq(sz, fx.fh->n_events, 2));
	assert_event(0, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "first.service");

	/* a user's journal file appearing later is followed too */
	WRITE("user-1000.journal", USER_MANAGER_1000 STOPPED "USER_UNIT=app.service",
	      SYSTEM_MANAGER STARTED "UNIT=sentinel2.service");
	wait_for("sentinel2.service");
	cr_assert(eq(sz, fx.fh->n_events, 4));
	assert_event(2, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_USER, 1000, "app.service");
}

Test(source_journal, survives_rotation_and_vacuuming)
{
	char from[256], to[256];

	need_journal_remote();
	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=old.service");
	module_start();
	(void)sd_event_run(fx.event, 0);

	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=one.service");
	wait_for("one.service");

	/* Rotation as journald does it: archive the active file under a new name and start
	 * a new one. Nothing already reported may come again, nothing new may be lost. */
	snprintf(from, sizeof(from), "%s/system.journal", fx.dir);
	snprintf(
	    to, sizeof(to),
	    "%s/system@0123456789abcdef0123456789abcdef-0000000000000001-0000000000000001.journal",
	    fx.dir);
	cr_assert(eq(int, rename(from, to), 0));
	WRITE("system.journal", SYSTEM_MANAGER STOPPED "UNIT=two.service",
	      SYSTEM_MANAGER STARTED "UNIT=two-b.service");
	wait_for("two-b.service");

	/* Vacuuming: the archived file (holding old and one) goes away. */
	cr_assert(eq(int, unlink(to), 0));
	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=three.service",
	      SYSTEM_MANAGER STARTED "UNIT=sentinel.service");
	wait_for("sentinel.service");

	cr_assert(eq(sz, fx.fh->n_events, 5));
	assert_event(0, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "one.service");
	assert_event(1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "two.service");
	assert_event(2, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "two-b.service");
	assert_event(3, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "three.service");
	assert_event(4, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "sentinel.service");
	cr_assert(logged("Journal files changed"));
	/* a file that went may have held entries not read yet: the core looks again, once
	 * for the rotation, once for the vacuuming at least */
	cr_assert(ge(sz, fx.fh->n_resyncs, 2));
}

#define JOURNALD                                                                                   \
	"_TRANSPORT=driver\n_PID=158\n_UID=0\n_COMM=systemd-journal\n"                               \
	"_SYSTEMD_UNIT=systemd-journald.service\n_SYSTEMD_CGROUP=/system.slice/systemd-journald.service\n"
#define JOURNAL_START "MESSAGE_ID=" SD_MESSAGE_JOURNAL_START_STR "\nMESSAGE=Journal started"

/* While journald restarts PID 1 logs elsewhere: at the new journald's first message the
 * core is asked to look at every unit again, and once more a little later. */
Test(source_journal, journald_restart_resyncs_now_and_once_more)
{
	size_t base;

	need_journal_remote();
	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=old.service");
	module_start();
	(void)sd_event_run(fx.event, 0);
	WRITE("system.journal", SYSTEM_MANAGER STARTED "UNIT=one.service");
	wait_for("one.service");
	base = fx.fh->n_resyncs;

	WRITE("system.journal",
	      /* forged: the same MESSAGE_ID from clients */
	      LOGGER JOURNAL_START,
	      "_TRANSPORT=journal\n_PID=4243\n_UID=0\n_COMM=systemd\n" JOURNAL_START,
	      JOURNALD JOURNAL_START, SYSTEM_MANAGER STARTED "UNIT=sentinel.service");
	wait_for("sentinel.service");
	cr_assert(eq(sz, fx.fh->n_resyncs, base + 1));
	cr_assert(eq(sz, fake_host_count_logs(fx.fh, LOG_NOTICE, "journald restarted"), 1));
	cr_assert(eq(sz, fx.fh->n_events, 2), "no event for journald's message");

	for (int i = 0; i < 100 && fx.fh->n_resyncs == base + 1; i++)
		cr_assert(ge(int, sd_event_run(fx.event, 100000), 0));
	cr_assert(eq(sz, fx.fh->n_resyncs, base + 2));
}

Test(source_journal, many_entries_in_batches)
{
	enum { N = 600 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	char fields[256];

	need_journal_remote();
	module_start();
	(void)sd_event_run(fx.event, 0);

	/* More than one batch: only the trusted half is reported, in order. */
	for (int i = 0; i < N; i++) {
		snprintf(fields, sizeof(fields), "%s%sUNIT=u%d.service",
			 i % 2 ? LOGGER : SYSTEM_MANAGER, STARTED, i);
		entry(&buf, &len, &f, fields);
	}
	entry(&buf, &len, &f, SYSTEM_MANAGER STARTED "UNIT=sentinel.service");
	journal_write("system.journal", &buf, &len, f);
	wait_for("sentinel.service");

	cr_assert(eq(sz, fx.fh->n_events, N / 2 + 1));
	for (int i = 0; i < N / 2; i++) {
		snprintf(fields, sizeof(fields), "u%d.service", 2 * i);
		assert_event((size_t)i, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, fields);
	}
}

/* journal_access_check() on a fake root. Root ignores file modes, so the check runs in
 * a child that dropped to nobody (the test process must stay root to clean up). Returns
 * the check's result; the child also fails when the refused path is not expect_denied. */
static int access_check_as_nobody(sd_id128_t mid, const char *expect_denied)
{
	int status;
	pid_t pid;

	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		char *denied = NULL;
		int r;

		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		     setresuid(65534, 65534, 65534) < 0))
			_exit(100);
		r = journal_access_check(fx.dir, mid, &denied);
		if (r < 0 && expect_denied && (!denied || !strstr(denied, expect_denied)))
			_exit(101);
		if (r == 0 && denied)
			_exit(102);
		_exit(r == 0 ? 0 : r == -EACCES ? 1 : r == -ENOENT ? 2 : 3);
	}
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, WIFEXITED(status) ? 1 : 0, 1));
	switch (WEXITSTATUS(status)) {
	case 0:
		return 0;
	case 1:
		return -EACCES;
	case 2:
		return -ENOENT;
	default:
		cr_fatal("access check child failed with %d", WEXITSTATUS(status));
	}
	return -EIO;
}

static void make_journal(const char *sub, sd_id128_t mid, mode_t mode)
{
	char id[SD_ID128_STRING_MAX], path[256], cmd[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", fx.dir, sub, sd_id128_to_string(mid, id));
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && chmod -R a+rx '%s'", path, fx.dir);
	cr_assert(eq(int, system(cmd), 0));
	strcat(path, "/system.journal");
	cr_assert(ge(int, fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600), 0));
	close(fd);
	cr_assert(eq(int, chmod(path, mode), 0));
}

#define TEST_MACHINE_ID                                                                            \
	SD_ID128_MAKE(01, 23, 45, 67, 89, ab, cd, ef, 01, 23, 45, 67, 89, ab, cd, ef)

Test(source_journal, access_check_no_journal)
{
	char *denied = NULL;

	cr_assert(eq(int, journal_access_check(fx.dir, TEST_MACHINE_ID, &denied), -ENOENT));
	cr_assert(eq(ptr, denied, NULL));
}

Test(source_journal, access_check_denied_names_the_file)
{
	make_journal("run/log/journal", TEST_MACHINE_ID, 0000);
	cr_assert(eq(int,
		     access_check_as_nobody(
			 TEST_MACHINE_ID,
			 "/run/log/journal/0123456789abcdef0123456789abcdef/system.journal"),
		     -EACCES));
}

Test(source_journal, access_check_one_readable_is_enough)
{
	make_journal("run/log/journal", TEST_MACHINE_ID, 0000);
	make_journal("var/log/journal", TEST_MACHINE_ID, 0644);
	cr_assert(eq(int, access_check_as_nobody(TEST_MACHINE_ID, NULL), 0));
}
