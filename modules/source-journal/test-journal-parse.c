/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * journal-parse, table-driven, without any journal. The trusted field sets below are
 * what systemd 252 wrote in a booted container (see README.md).
 */

#include <errno.h>
#include <string.h>
#include <systemd/sd-messages.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>

#include <scnpm/module.h>

#include "journal-parse.h"

#define STARTED		  "MESSAGE_ID=" SD_MESSAGE_UNIT_STARTED_STR
#define STOPPED		  "MESSAGE_ID=" SD_MESSAGE_UNIT_STOPPED_STR
#define SUCCESS		  "MESSAGE_ID=" SD_MESSAGE_UNIT_SUCCESS_STR
#define FAILURE_RESULT	  "MESSAGE_ID=" SD_MESSAGE_UNIT_FAILURE_RESULT_STR
#define START_FAILED	  "MESSAGE_ID=" SD_MESSAGE_UNIT_FAILED_STR
#define RELOADED	  "MESSAGE_ID=" SD_MESSAGE_UNIT_RELOADED_STR
#define RESTART_SCHEDULED "MESSAGE_ID=" SD_MESSAGE_UNIT_RESTART_SCHEDULED_STR

/* PID 1, as written by systemd 252. */
#define SYSTEM_MANAGER                                                                             \
	"_TRANSPORT=journal", "_PID=1", "_UID=0", "_COMM=systemd", "_SYSTEMD_UNIT=init.scope",     \
	    "_SYSTEMD_CGROUP=/init.scope"
/* user@1000.service once it settled in its init.scope. */
#define USER_MANAGER_1000                                                                          \
	"_TRANSPORT=journal", "_PID=812", "_UID=1000", "_COMM=systemd",                            \
	    "_SYSTEMD_UNIT=user@1000.service",                                                     \
	    "_SYSTEMD_CGROUP=/user.slice/user-1000.slice/user@1000.service/init.scope",            \
	    "_SYSTEMD_USER_UNIT=init.scope"
/* user@0.service in its first seconds: journald's cached credentials from before exec. */
#define USER_MANAGER_0_EARLY                                                                       \
	"_TRANSPORT=journal", "_PID=95", "_UID=0", "_COMM=(systemd)",                              \
	    "_SYSTEMD_UNIT=user@0.service",                                                        \
	    "_SYSTEMD_CGROUP=/user.slice/user-0.slice/user@0.service"

#define MAX_FIELDS 16

/* fields: "KEY=VALUE" strings applied in order; a later KEY replaces an earlier one and
 * a bare "KEY" removes it. */
struct parse_case {
	const char *name;
	const char *fields[MAX_FIELDS];
	int ret;
	uint32_t change;
	uint32_t manager;
	uint32_t uid;
	const char *unit;
};

/* clang-format off */
static const struct parse_case cases[] = {
	/* the mapping, from PID 1 */
	{ "system start job done", { SYSTEM_MANAGER, STARTED, "JOB_TYPE=start", "JOB_RESULT=done", "UNIT=foo.service" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system stop job done", { SYSTEM_MANAGER, STOPPED, "JOB_TYPE=stop", "JOB_RESULT=done", "UNIT=foo.service" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system restart's stop half", { SYSTEM_MANAGER, STOPPED, "JOB_TYPE=restart", "JOB_RESULT=done", "UNIT=foo.service" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system stop job timed out", { SYSTEM_MANAGER, STOPPED, "JOB_TYPE=stop", "JOB_RESULT=timeout", "UNIT=foo.service" },
	  1, SCNPM_UNIT_CHANGED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system stop job without JOB_RESULT", { SYSTEM_MANAGER, STOPPED, "UNIT=foo.service" },
	  1, SCNPM_UNIT_CHANGED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system deactivated successfully", { SYSTEM_MANAGER, SUCCESS, "UNIT=foo.service" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system failed with result", { SYSTEM_MANAGER, FAILURE_RESULT, "UNIT_RESULT=exit-code", "UNIT=foo.service" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system start job failed", { SYSTEM_MANAGER, START_FAILED, "JOB_TYPE=start", "JOB_RESULT=dependency", "UNIT=foo.service" },
	  1, SCNPM_UNIT_CHANGED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system reloaded", { SYSTEM_MANAGER, RELOADED, "JOB_TYPE=reload", "JOB_RESULT=done", "UNIT=nftables.service" },
	  1, SCNPM_UNIT_CHANGED, SCNPM_MANAGER_SYSTEM, 0, "nftables.service" },
	{ "system restart scheduled", { SYSTEM_MANAGER, RESTART_SCHEDULED, "UNIT=foo.service" },
	  1, SCNPM_UNIT_CHANGED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },
	{ "system unit name is passed through", { SYSTEM_MANAGER, STARTED, "UNIT=not a unit;" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "not a unit;" },
	{ "system ignores USER_UNIT", { SYSTEM_MANAGER, STARTED, "UNIT=foo.service", "USER_UNIT=bar.service" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_SYSTEM, 0, "foo.service" },

	/* user managers */
	{ "user start job done", { USER_MANAGER_1000, STARTED, "JOB_RESULT=done", "USER_UNIT=app.service" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_USER, 1000, "app.service" },
	{ "user scope stopped", { USER_MANAGER_1000, STOPPED, "JOB_RESULT=done", "USER_UNIT=run-r1.scope" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_USER, 1000, "run-r1.scope" },
	{ "user manager early, cached credentials", { USER_MANAGER_0_EARLY, STARTED, "JOB_RESULT=done", "USER_UNIT=app.service" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_USER, 0, "app.service" },
	{ "user manager early, comm already systemd", { USER_MANAGER_0_EARLY, "_COMM=systemd", SUCCESS, "USER_UNIT=app.service" },
	  1, SCNPM_UNIT_STOPPED, SCNPM_MANAGER_USER, 0, "app.service" },
	{ "user manager of a large uid", { "_TRANSPORT=journal", "_PID=7", "_UID=4294967294", "_COMM=systemd",
	  "_SYSTEMD_UNIT=user@4294967294.service",
	  "_SYSTEMD_CGROUP=/user.slice/user-4294967294.slice/user@4294967294.service/init.scope",
	  "_SYSTEMD_USER_UNIT=init.scope", STARTED, "USER_UNIT=a.service" },
	  1, SCNPM_UNIT_STARTED, SCNPM_MANAGER_USER, 4294967294u, "a.service" },

	/* not ours */
	{ "no fields", { NULL }, 0 },
	{ "no MESSAGE_ID", { SYSTEM_MANAGER, "UNIT=foo.service" }, 0 },
	{ "starting is not acted on", { SYSTEM_MANAGER, "MESSAGE_ID=" SD_MESSAGE_UNIT_STARTING_STR, "UNIT=foo.service" }, 0 },
	{ "process exit is not acted on", { SYSTEM_MANAGER, "MESSAGE_ID=" SD_MESSAGE_UNIT_PROCESS_EXIT_STR, "UNIT=foo.service" }, 0 },
	{ "MESSAGE_ID in upper case", { SYSTEM_MANAGER, "MESSAGE_ID=39F53479D3A045AC8E11786248231FBF", "UNIT=foo.service" }, 0 },

	/* forged */
	{ "logger --journald", { "_TRANSPORT=journal", "_PID=4242", "_UID=1000", "_COMM=logger",
	  "_SYSTEMD_UNIT=session-3.scope", "_SYSTEMD_CGROUP=/user.slice/user-1000.slice/session-3.scope",
	  STARTED, "UNIT=sshd.service", "SYSLOG_IDENTIFIER=systemd" }, -EPERM },
	{ "logger as root", { "_TRANSPORT=journal", "_PID=4242", "_UID=0", "_COMM=logger",
	  "_SYSTEMD_UNIT=session-3.scope", "_SYSTEMD_CGROUP=/user.slice/user-0.slice/session-3.scope",
	  STOPPED, "JOB_RESULT=done", "UNIT=sshd.service" }, -EPERM },
	{ "_PID=1 but wrong cgroup", { SYSTEM_MANAGER, "_SYSTEMD_CGROUP=/system.slice/evil.service", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "_PID=1 but wrong _SYSTEMD_UNIT", { SYSTEM_MANAGER, "_SYSTEMD_UNIT=evil.service", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "_PID=1 but wrong comm", { SYSTEM_MANAGER, "_COMM=bash", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "_PID=1 but wrong uid", { SYSTEM_MANAGER, "_UID=1000", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "_PID=1 without _SYSTEMD_CGROUP", { SYSTEM_MANAGER, "_SYSTEMD_CGROUP", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "PID 1 over syslog", { SYSTEM_MANAGER, "_TRANSPORT=syslog", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "from audit", { SYSTEM_MANAGER, "_TRANSPORT=audit", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "no _TRANSPORT", { SYSTEM_MANAGER, "_TRANSPORT", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "no _PID", { SYSTEM_MANAGER, "_PID", STARTED, "UNIT=foo.service" }, -EPERM },
	{ "user manager with _PID=1", { USER_MANAGER_1000, "_PID=1", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID does not match user@N in cgroup", { USER_MANAGER_1000, "_UID=1001", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _SYSTEMD_UNIT of another user", { USER_MANAGER_1000, "_SYSTEMD_UNIT=user@1001.service", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: cgroup of another user", { USER_MANAGER_1000,
	  "_SYSTEMD_CGROUP=/user.slice/user-1001.slice/user@1001.service/init.scope", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: a service of the user", { USER_MANAGER_1000,
	  "_SYSTEMD_CGROUP=/user.slice/user-1000.slice/user@1000.service/app.slice/evil.service",
	  "_SYSTEMD_USER_UNIT=evil.service", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: init.scope cgroup without _SYSTEMD_USER_UNIT", { USER_MANAGER_1000, "_SYSTEMD_USER_UNIT", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: early cgroup with a _SYSTEMD_USER_UNIT", { USER_MANAGER_0_EARLY, "_SYSTEMD_USER_UNIT=app.service", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: comm not systemd", { USER_MANAGER_1000, "_COMM=python3", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: no _UID", { USER_MANAGER_1000, "_UID", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID with a leading zero", { USER_MANAGER_1000, "_UID=01000", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID negative", { USER_MANAGER_1000, "_UID=-1", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID (uid_t) -1", { USER_MANAGER_1000, "_UID=4294967295", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID not a number", { USER_MANAGER_1000, "_UID=1000x", STARTED, "USER_UNIT=app.service" }, -EPERM },
	{ "user: _UID empty", { USER_MANAGER_1000, "_UID=", STARTED, "USER_UNIT=app.service" }, -EPERM },

	/* from a manager, but without the unit */
	{ "PID 1 without UNIT=", { SYSTEM_MANAGER, STARTED }, -EBADMSG },
	{ "PID 1 with USER_UNIT= only", { SYSTEM_MANAGER, STARTED, "USER_UNIT=app.service" }, -EBADMSG },
	{ "user manager with UNIT= only", { USER_MANAGER_1000, STARTED, "UNIT=sshd.service" }, -EBADMSG },
	{ "user manager without USER_UNIT=", { USER_MANAGER_1000, RESTART_SCHEDULED }, -EBADMSG },
};
/* clang-format on */

/* Storage for one case's fields: values point into the case's strings. */
struct built {
	struct journal_fields f;
	char buf[MAX_FIELDS][512];
};

static const char **field_slot(struct journal_fields *f, const char *key, size_t len)
{
	static const struct {
		const char *key;
		size_t offset;
	} map[] = {
	    {"MESSAGE_ID", offsetof(struct journal_fields, message_id)},
	    {"UNIT", offsetof(struct journal_fields, unit)},
	    {"USER_UNIT", offsetof(struct journal_fields, user_unit)},
	    {"JOB_RESULT", offsetof(struct journal_fields, job_result)},
	    {"_TRANSPORT", offsetof(struct journal_fields, transport)},
	    {"_PID", offsetof(struct journal_fields, pid)},
	    {"_UID", offsetof(struct journal_fields, uid)},
	    {"_COMM", offsetof(struct journal_fields, comm)},
	    {"_SYSTEMD_UNIT", offsetof(struct journal_fields, systemd_unit)},
	    {"_SYSTEMD_USER_UNIT", offsetof(struct journal_fields, systemd_user_unit)},
	    {"_SYSTEMD_CGROUP", offsetof(struct journal_fields, systemd_cgroup)},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].key) == len && memcmp(map[i].key, key, len) == 0)
			return (const char **)((char *)f + map[i].offset);
	return NULL; /* a field the mapping does not read */
}

static void build(const struct parse_case *c, struct built *b)
{
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < MAX_FIELDS && c->fields[i]; i++) {
		const char *s = c->fields[i], *eq = strchr(s, '=');
		size_t klen = eq ? (size_t)(eq - s) : strlen(s);
		const char **slot = field_slot(&b->f, s, klen);

		if (!slot)
			continue;
		if (!eq) {
			*slot = NULL;
			continue;
		}
		cr_assert(lt(sz, strlen(eq + 1), sizeof(b->buf[i])));
		strcpy(b->buf[i], eq + 1);
		*slot = b->buf[i];
	}
}

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* Parameters are indices: Criterion may run the worker as a new process image, where
 * pointers into the table would not be valid. */
ParameterizedTestParameters(journal_parse, map)
{
	static size_t idx[N_CASES];

	for (size_t i = 0; i < N_CASES; i++)
		idx[i] = i;
	return cr_make_param_array(size_t, idx, N_CASES);
}

ParameterizedTest(size_t *i, journal_parse, map)
{
	const struct parse_case *c = &cases[*i];
	struct journal_unit_event ev = {.change = 0xdead};
	const char *reason = "unset";
	struct built b;
	int r;

	build(c, &b);
	r = journal_parse_entry(&b.f, &ev, &reason);
	cr_assert(eq(int, r, c->ret), "case '%s': returned %d, expected %d", c->name, r, c->ret);
	if (r == 1) {
		cr_assert(eq(u32, ev.change, c->change), "case '%s'", c->name);
		cr_assert(eq(u32, ev.manager, c->manager), "case '%s'", c->name);
		cr_assert(eq(u32, ev.uid, c->uid), "case '%s'", c->name);
		cr_assert(eq(str, (char *)ev.unit, (char *)c->unit), "case '%s'", c->name);
		cr_assert(eq(ptr, (void *)reason, NULL), "case '%s'", c->name);
	} else {
		/* *ret untouched unless an event is returned */
		cr_assert(eq(u32, ev.change, 0xdead), "case '%s'", c->name);
		if (r < 0)
			cr_assert(ne(ptr, (void *)reason, NULL), "case '%s': no reason", c->name);
	}
}

Test(journal_parse, null_fields_and_reason)
{
	struct journal_unit_event ev;

	cr_assert(eq(int, journal_parse_entry(NULL, &ev, NULL), 0));
}

Test(journal_parse, message_id_list_matches_the_mapping)
{
	size_t n = 0;

	for (const char *const *id = journal_parse_message_ids; *id; id++, n++) {
		struct journal_fields f = {
		    .message_id = *id,
		    .transport = "journal",
		    .pid = "1",
		    .uid = "0",
		    .comm = "systemd",
		    .systemd_unit = "init.scope",
		    .systemd_cgroup = "/init.scope",
		    .unit = "x.service",
		};
		struct journal_unit_event ev;

		cr_assert(eq(sz, strlen(*id), 32));
		cr_assert(eq(int, journal_parse_entry(&f, &ev, NULL), 1), "id %s", *id);
	}
	cr_assert(eq(sz, n, 7));
}

Test(journal_parse, journald_start_only_from_journald_itself)
{
	struct journal_fields f = {
	    .message_id = SD_MESSAGE_JOURNAL_START_STR,
	    .transport = "driver",
	    .pid = "158",
	    .uid = "0",
	    .comm = "systemd-journal",
	};
	struct journal_unit_event ev;

	cr_assert(eq(int, journal_parse_is_journal_start(&f), 1));
	/* not a unit message */
	cr_assert(eq(int, journal_parse_entry(&f, &ev, NULL), 0));
	/* the same MESSAGE_ID from a client (logger --journald, syslog) */
	f.transport = "journal";
	cr_assert(eq(int, journal_parse_is_journal_start(&f), 0));
	f.transport = "syslog";
	cr_assert(eq(int, journal_parse_is_journal_start(&f), 0));
	f.transport = NULL;
	cr_assert(eq(int, journal_parse_is_journal_start(&f), 0));
	/* journald's other messages */
	f.transport = "driver";
	f.message_id = SD_MESSAGE_JOURNAL_STOP_STR;
	cr_assert(eq(int, journal_parse_is_journal_start(&f), 0));
	f.message_id = NULL;
	cr_assert(eq(int, journal_parse_is_journal_start(&f), 0));
	cr_assert(eq(int, journal_parse_is_journal_start(NULL), 0));
}
