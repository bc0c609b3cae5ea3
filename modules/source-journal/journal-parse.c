/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * From journal fields to unit events, with the trust checks. See journal-parse.h for the
 * contract and README.md for what systemd 252 writes and why each check is there.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-messages.h>

#include <scnpm/module.h>

#include "journal-parse.h"

/* How a MESSAGE_ID maps to a change. systemd's names are misleading (sd-messages.h says
 * so itself): UNIT_STARTED/FAILED/STOPPED/RELOADED are written when a *job* finishes,
 * UNIT_SUCCESS/FAILURE_RESULT when a unit becomes inactive with or without a job. */
enum journal_map {
	MAP_STARTED,  /* start job done: the unit runs */
	MAP_STOPPED,  /* the unit went inactive */
	MAP_STOP_JOB, /* stop (or restart's stop half) job finished: see JOB_RESULT */
	MAP_CHANGED,  /* state unclear: let the core look again */
};

static const struct {
	const char *id;
	enum journal_map map;
} journal_messages[] = {
    /* "Started foo.service." JOB_TYPE=start, JOB_RESULT=done. */
    {SD_MESSAGE_UNIT_STARTED_STR, MAP_STARTED},
    /* "Stopped foo.service." JOB_TYPE=stop or restart. With JOB_RESULT=done the unit
     * is inactive; any other result (a stop job that failed or timed out) leaves its
     * state open, so that is a CHANGED. */
    {SD_MESSAGE_UNIT_STOPPED_STR, MAP_STOP_JOB},
    /* "foo.service: Deactivated successfully." No job needed (main process exited). */
    {SD_MESSAGE_UNIT_SUCCESS_STR, MAP_STOPPED},
    /* "foo.service: Failed with result 'exit-code'." The unit entered failed state. */
    {SD_MESSAGE_UNIT_FAILURE_RESULT_STR, MAP_STOPPED},
    /* "Failed to start foo.service." A start job that did not finish with "done"
     * (failed, dependency, timeout...): the unit may be failed, auto-restarting, or
     * still running from before, so look again. */
    {SD_MESSAGE_UNIT_FAILED_STR, MAP_CHANGED},
    /* "Reloaded foo.service." Same cgroup, but -u/-a triggers care (nftables reload). */
    {SD_MESSAGE_UNIT_RELOADED_STR, MAP_CHANGED},
    /* "foo.service: Scheduled restart job, ..." Between two incarnations. */
    {SD_MESSAGE_UNIT_RESTART_SCHEDULED_STR, MAP_CHANGED},
};

const char *const journal_parse_message_ids[] = {
    SD_MESSAGE_UNIT_STARTED_STR,
    SD_MESSAGE_UNIT_STOPPED_STR,
    SD_MESSAGE_UNIT_SUCCESS_STR,
    SD_MESSAGE_UNIT_FAILURE_RESULT_STR,
    SD_MESSAGE_UNIT_FAILED_STR,
    SD_MESSAGE_UNIT_RELOADED_STR,
    SD_MESSAGE_UNIT_RESTART_SCHEDULED_STR,
    NULL,
};

/* clang-format off */
const char *const journal_field_names[JOURNAL_N_FIELDS] = {
	"MESSAGE_ID", "UNIT", "USER_UNIT", "JOB_RESULT", "_TRANSPORT", "_PID", "_UID",
	"_COMM", "_SYSTEMD_UNIT", "_SYSTEMD_USER_UNIT", "_SYSTEMD_CGROUP",
};
/* clang-format on */

void journal_fields_from_values(char *const values[JOURNAL_N_FIELDS], struct journal_fields *ret)
{
	*ret = (struct journal_fields){
	    .message_id = values[0],
	    .unit = values[1],
	    .user_unit = values[2],
	    .job_result = values[3],
	    .transport = values[4],
	    .pid = values[5],
	    .uid = values[6],
	    .comm = values[7],
	    .systemd_unit = values[8],
	    .systemd_user_unit = values[9],
	    .systemd_cgroup = values[10],
	};
}

int journal_field_value(const void *data, size_t len, const char *field, char **ret)
{
	size_t flen = strlen(field);
	const char *v;
	char *copy;

	if (len <= flen || memcmp(data, field, flen) != 0 || ((const char *)data)[flen] != '=')
		return -EBADMSG;
	v = (const char *)data + flen + 1;
	len -= flen + 1;
	if (memchr(v, '\0', len))
		return -EBADMSG;
	copy = strndup(v, len);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}

static int streq_ptr(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Strict decimal uid: digits only, no sign, no leading zero, below (uid_t) -1. */
static int journal_parse_uid(const char *s, uint32_t *ret)
{
	uint64_t v = 0;

	if (!s || !*s || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= UINT32_MAX)
			return -ERANGE;
	}
	*ret = (uint32_t)v;
	return 0;
}

/* PID 1 as systemd 252 logs it: _PID=1 is the kernel's word (SCM_CREDENTIALS), the
 * rest is what journald reads from /proc/1. */
static int journal_is_system_manager(const struct journal_fields *f)
{
	return streq_ptr(f->pid, "1") && streq_ptr(f->uid, "0") && streq_ptr(f->comm, "systemd") &&
	       streq_ptr(f->systemd_unit, "init.scope") &&
	       streq_ptr(f->systemd_cgroup, "/init.scope");
}

/*
 * The user manager of the sending uid. _UID comes from the kernel; the cgroup must be
 * that uid's own user@UID.service. Two shapes are seen from systemd 252:
 *  - settled: _SYSTEMD_CGROUP=/user.slice/user-N.slice/user@N.service/init.scope,
 *    _SYSTEMD_USER_UNIT=init.scope, _COMM=systemd;
 *  - the first seconds after the manager started: journald keeps the credentials it
 *    cached when PAM logged from the forked child, before exec and before the manager
 *    moved itself to init.scope, so _SYSTEMD_CGROUP=/user.slice/user-N.slice/user@N.service,
 *    no _SYSTEMD_USER_UNIT, _COMM=(systemd). Units started at login land in this window.
 * Anything running as uid N can impersonate N's manager (it owns that delegated cgroup
 * subtree and its own comm), so the guarantee here is the uid: an entry only ever speaks
 * for the units of the manager of the uid that sent it.
 */
static int journal_is_user_manager(const struct journal_fields *f, uint32_t *ret_uid)
{
	char unit[64], cgroup[128], cgroup_init[160];
	uint32_t uid;

	if (!f->pid || streq_ptr(f->pid, "1"))
		return 0;
	if (journal_parse_uid(f->uid, &uid) < 0)
		return 0;
	if (!streq_ptr(f->comm, "systemd") && !streq_ptr(f->comm, "(systemd)"))
		return 0;

	(void)snprintf(unit, sizeof(unit), "user@%" PRIu32 ".service", uid);
	(void)snprintf(cgroup, sizeof(cgroup),
		       "/user.slice/user-%" PRIu32 ".slice/user@%" PRIu32 ".service", uid, uid);
	(void)snprintf(cgroup_init, sizeof(cgroup_init), "%s/init.scope", cgroup);

	if (!streq_ptr(f->systemd_unit, unit))
		return 0;
	if (streq_ptr(f->systemd_cgroup, cgroup_init)) {
		if (!streq_ptr(f->systemd_user_unit, "init.scope"))
			return 0;
	} else if (streq_ptr(f->systemd_cgroup, cgroup)) {
		if (f->systemd_user_unit)
			return 0;
	} else
		return 0;

	*ret_uid = uid;
	return 1;
}

static void set_reason(const char **ret_reason, const char *reason)
{
	if (ret_reason)
		*ret_reason = reason;
}

int journal_parse_is_journal_start(const struct journal_fields *f)
{
	return f && streq_ptr(f->message_id, SD_MESSAGE_JOURNAL_START_STR) &&
	       streq_ptr(f->transport, "driver");
}

int journal_parse_entry(const struct journal_fields *f, struct journal_unit_event *ret,
			const char **ret_reason)
{
	struct journal_unit_event ev = {};
	enum journal_map map;
	size_t i;

	set_reason(ret_reason, NULL);
	if (!f || !f->message_id)
		return 0;
	for (i = 0; i < sizeof(journal_messages) / sizeof(journal_messages[0]); i++)
		if (strcmp(f->message_id, journal_messages[i].id) == 0)
			break;
	if (i == sizeof(journal_messages) / sizeof(journal_messages[0]))
		return 0;
	map = journal_messages[i].map;

	/* Every manager message comes over the native protocol; this also keeps out
	 * _PID/_UID/_COMM that journald maps from kernel audit records. */
	if (!streq_ptr(f->transport, "journal")) {
		set_reason(ret_reason, "not sent over the native journal protocol");
		return -EPERM;
	}

	if (journal_is_system_manager(f)) {
		ev.manager = SCNPM_MANAGER_SYSTEM;
		ev.uid = 0;
		ev.unit = f->unit;
		if (!ev.unit) {
			set_reason(ret_reason, "message from PID 1 without UNIT=");
			return -EBADMSG;
		}
	} else if (journal_is_user_manager(f, &ev.uid)) {
		ev.manager = SCNPM_MANAGER_USER;
		ev.unit = f->user_unit;
		if (!ev.unit) {
			set_reason(ret_reason, "message from a user manager without USER_UNIT=");
			return -EBADMSG;
		}
	} else {
		set_reason(ret_reason, "not from PID 1 or the user manager of the sending uid");
		return -EPERM;
	}

	switch (map) {
	case MAP_STARTED:
		ev.change = SCNPM_UNIT_STARTED;
		break;
	case MAP_STOPPED:
		ev.change = SCNPM_UNIT_STOPPED;
		break;
	case MAP_STOP_JOB:
		ev.change =
		    streq_ptr(f->job_result, "done") ? SCNPM_UNIT_STOPPED : SCNPM_UNIT_CHANGED;
		break;
	case MAP_CHANGED:
	default:
		ev.change = SCNPM_UNIT_CHANGED;
		break;
	}

	*ret = ev;
	return 1;
}
