/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_LOG_H
#define SCNPM_LOG_H

/*
 * Logging for modules, over host->log(). The host tags every message with the module's
 * name (and SCNPM_MODULE= in the journal), so do not add a prefix of your own. %m in a
 * format expands to the error passed to the *_errno() variants.
 *
 * The *_errno() macros evaluate to -abs(err), so a function can log and fail at once:
 *     return scnpm_error_errno(h, r, "Failed to open journal: %m");
 */

#include <stdlib.h>
#include <syslog.h>

#include <scnpm/module.h>

#define scnpm_log_errno(h, prio, err, ...)                                              \
	__extension__({                                                                 \
		int _e = -abs(err);                                                     \
		(h)->log((h), (prio), _e, __VA_ARGS__);                                 \
		_e;                                                                     \
	})
#define scnpm_log(h, prio, ...) (h)->log((h), (prio), 0, __VA_ARGS__)

#define scnpm_debug(h, ...) scnpm_log(h, LOG_DEBUG, __VA_ARGS__)
#define scnpm_info(h, ...) scnpm_log(h, LOG_INFO, __VA_ARGS__)
#define scnpm_notice(h, ...) scnpm_log(h, LOG_NOTICE, __VA_ARGS__)
#define scnpm_warning(h, ...) scnpm_log(h, LOG_WARNING, __VA_ARGS__)
#define scnpm_error(h, ...) scnpm_log(h, LOG_ERR, __VA_ARGS__)

#define scnpm_debug_errno(h, err, ...) scnpm_log_errno(h, LOG_DEBUG, err, __VA_ARGS__)
#define scnpm_warning_errno(h, err, ...) scnpm_log_errno(h, LOG_WARNING, err, __VA_ARGS__)
#define scnpm_error_errno(h, err, ...) scnpm_log_errno(h, LOG_ERR, err, __VA_ARGS__)

#endif /* SCNPM_LOG_H */
