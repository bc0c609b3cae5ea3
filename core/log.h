/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The daemon's log, after systemd's: stderr, one message per line, with sd-daemon
 * "<N>" priority prefixes when stderr is connected to the journal ($JOURNAL_STREAM), so
 * journald keeps the levels; plain text on a terminal. Quiet unless something is wrong:
 * the default level is LOG_NOTICE for the daemon's own messages.
 *
 * The *_errno() forms evaluate to -abs(error) and expand %m to its strerror.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <syslog.h>

void log_set_max_level(int level);
int log_get_max_level(void);
int log_level_from_string(const char *s);

/* Tests capture messages: cb gets each formatted message that passes the level. */
typedef void (*log_callback_t)(int level, const char *message, void *userdata);
void log_set_callback(log_callback_t cb, void *userdata);

int log_internal(int level, int error, const char *tag, const char *format, ...)
	__attribute__((format(printf, 4, 5)));
int log_internalv(int level, int error, const char *tag, const char *format, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define log_full_errno(level, error, ...) log_internal((level), (error), NULL, __VA_ARGS__)
#define log_full(level, ...) (void)log_internal((level), 0, NULL, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_full_errno(LOG_ERR, -ENOMEM, "Out of memory.")
