/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's log, after systemd's. When stderr is the journal stream systemd set up
 * for us ($JOURNAL_STREAM names stderr's device and inode), every message goes to
 * journald with sd_journal_send(): PRIORITY=, CODE_FILE=/CODE_LINE=/CODE_FUNC=, ERRNO=,
 * SCNPM_MODULE= for a module's messages and, for the events of a unit, MESSAGE_ID= and
 * SCNPM_UNIT=, SCNPM_MANAGER=, SCNPM_UID=, SCNPM_RULE=FILE:LINE, SCNPM_CGROUP_ID=, so
 * that "journalctl SCNPM_UNIT=postfix.service" shows that unit's history (SCNPM_UNIT=,
 * not UNIT=: journalctl -u would take scnpm's lines for the unit's own). Elsewhere
 * (a terminal, a pipe), plain lines on stderr.
 *
 * Levels: quiet unless something is wrong on a terminal (LOG_NOTICE); in the journal
 * also LOG_INFO, where the per-unit history (applied, withdrawn) is logged. --log-level
 * and -q set it either way.
 *
 * The *_errno() forms evaluate to -abs(error) and expand %m to its strerror.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>

/* MESSAGE_ID= of the events a person looks for; explained in catalog/scnpm.catalog. */
#define SCNPM_MESSAGE_APPLIED "c3edb5b8f2804dc692e968c62273fe8d"
#define SCNPM_MESSAGE_WITHDRAWN "048271ccca324b15aef88478a2c68c39"
#define SCNPM_MESSAGE_FAILED "4f2157b1fc7842979eb2e646d0be292e"
#define SCNPM_MESSAGE_RESTORED "76cc1a52b0d4416f9aed330728cfa44b"
#define SCNPM_MESSAGE_SKIPPED "9075195f530f4214a2220fbfa7ab1741"
#define SCNPM_MESSAGE_RELOADED "5e3d699f7dfc438b82689916c3356296"
#define SCNPM_MESSAGE_RELOAD_FAILED "b63cf53734de4cc7944e548151d17437"

/* The structured part of a message; every member may be left empty. */
struct log_fields {
	const char *message_id;	/* MESSAGE_ID=, one of SCNPM_MESSAGE_* */
	const char *unit;	/* SCNPM_UNIT= (and SCNPM_MANAGER=, SCNPM_UID= with it) */
	uint32_t manager;	/* enum scnpm_manager */
	uint32_t uid;
	const char *rule_file;	/* SCNPM_RULE=FILE:LINE */
	unsigned rule_line;
	uint64_t cgroup_id;	/* SCNPM_CGROUP_ID=, 0: none */
};

void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);

/* Tests capture messages: cb gets each formatted message that passes the level, with
 * its fields (NULL when it has none), instead of the journal or stderr. */
typedef void (*log_callback_t)(int level, const char *message, const struct log_fields *fields,
			       void *userdata);
void log_set_callback(log_callback_t cb, void *userdata);

/* module: the module a message is from (SCNPM_MODULE=), NULL for the core's own. */
int log_internal(int level, int error, const char *module, const struct log_fields *fields,
		 const char *file, int line, const char *func, const char *format, ...)
	__attribute__((format(printf, 8, 9)));
int log_internalv(int level, int error, const char *module, const struct log_fields *fields,
		  const char *file, int line, const char *func, const char *format, va_list ap)
	__attribute__((format(printf, 8, 0)));

#define log_full_errno(level, error, ...) \
	log_internal((level), (error), NULL, NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_full(level, ...) (void)log_full_errno((level), 0, __VA_ARGS__)
/* A message with structured fields (a struct log_fields *). */
#define log_struct(level, fields, ...) \
	(void)log_internal((level), 0, NULL, (fields), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_full_errno(LOG_ERR, -ENOMEM, "Out of memory.")
