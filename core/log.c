/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include <scnpm/module.h>

#include "log.h"
#include "macro.h"
#include "util.h"

static int log_max_level = -1; /* not set: decided with the target */
static int log_journal = -1;	/* unknown yet: decided on first message */
static log_callback_t log_cb;
static void log_open(void);
static void *log_cb_userdata;

void log_set_max_level(int level)
{
	log_max_level = level;
}

int log_get_max_level(void)
{
	log_open();
	return log_max_level;
}

void log_set_callback(log_callback_t cb, void *userdata)
{
	log_cb = cb;
	log_cb_userdata = userdata;
}

int log_level_from_string(const char *s)
{
	static const char *const names[] = {
		[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	[LOG_CRIT] = "crit",
		[LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
		[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
	};

	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (streq(s, names[i]))
			return (int)i;
	if (streq(s, "error"))
		return LOG_ERR;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

/* Is stderr the journal stream systemd set up for us? */
static bool stderr_is_journal(void)
{
	const char *e = secure_getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static void log_open(void)
{
	if (log_journal >= 0)
		return;
	log_journal = stderr_is_journal();
	if (log_max_level < 0)
		log_max_level = log_journal ? LOG_INFO : LOG_NOTICE;
}

#define FIELD_MAX 8

/* Up to FIELD_MAX "NAME=value" strings of f, into buf. */
static size_t format_fields(const struct log_fields *f, char buf[FIELD_MAX][512])
{
	size_t n = 0;

	if (!f)
		return 0;
	if (f->message_id)
		snprintf(buf[n++], sizeof(buf[0]), "MESSAGE_ID=%s", f->message_id);
	if (f->unit) {
		snprintf(buf[n++], sizeof(buf[0]), "SCNPM_UNIT=%s", f->unit);
		snprintf(buf[n++], sizeof(buf[0]), "SCNPM_MANAGER=%s",
			 manager_kind_to_string(f->manager));
		if (f->manager == SCNPM_MANAGER_USER)
			snprintf(buf[n++], sizeof(buf[0]), "SCNPM_UID=%" PRIu32, f->uid);
	}
	if (f->rule_file)
		snprintf(buf[n++], sizeof(buf[0]), "SCNPM_RULE=%s:%u", f->rule_file, f->rule_line);
	if (f->cgroup_id != 0)
		snprintf(buf[n++], sizeof(buf[0]), "SCNPM_CGROUP_ID=%" PRIu64, f->cgroup_id);
	return n;
}

static int log_to_journal(int level, int error, const char *module, const struct log_fields *f,
			  const char *file, int line, const char *func, const char *message)
{
	char fields[FIELD_MAX][512], prio[32], code_file[256], code_line[32], code_func[128],
		err[32], mod[128];
	_cleanup_free_ char *msg = NULL;
	struct iovec iov[FIELD_MAX + 8];
	size_t n = 0, k;

	if (asprintf(&msg, "MESSAGE=%s%s%s", module ?: "", module ? ": " : "", message) < 0)
		return -ENOMEM;
	iov[n++] = (struct iovec){ msg, strlen(msg) };
	snprintf(prio, sizeof(prio), "PRIORITY=%d", level);
	iov[n++] = (struct iovec){ prio, strlen(prio) };
	if (file) {
		snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
		snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
		snprintf(code_func, sizeof(code_func), "CODE_FUNC=%s", func);
		iov[n++] = (struct iovec){ code_file, strlen(code_file) };
		iov[n++] = (struct iovec){ code_line, strlen(code_line) };
		iov[n++] = (struct iovec){ code_func, strlen(code_func) };
	}
	if (error > 0) {
		snprintf(err, sizeof(err), "ERRNO=%d", error);
		iov[n++] = (struct iovec){ err, strlen(err) };
	}
	if (module) {
		snprintf(mod, sizeof(mod), "SCNPM_MODULE=%s", module);
		iov[n++] = (struct iovec){ mod, strlen(mod) };
	}
	k = format_fields(f, fields);
	for (size_t i = 0; i < k; i++)
		iov[n++] = (struct iovec){ fields[i], strlen(fields[i]) };
	return sd_journal_sendv(iov, (int)n);
}

int log_internalv(int level, int error, const char *module, const struct log_fields *fields,
		  const char *file, int line, const char *func, const char *format, va_list ap)
{
	char buf[4096];
	int saved = errno;

	if (error < 0)
		error = -error;
	log_open();
	if (level > log_max_level)
		return -error;

	errno = error; /* for %m */
	vsnprintf(buf, sizeof(buf), format, ap);

	if (log_cb)
		log_cb(level, buf, fields, log_cb_userdata);
	else if (!log_journal ||
		 log_to_journal(level, error, module, fields, file, line, func, buf) < 0) {
		/* "<N>" prefixes: journald keeps the level of what reaches it this way */
		if (log_journal)
			fprintf(stderr, "<%d>%s%s%s\n", level, module ?: "", module ? ": " : "", buf);
		else
			fprintf(stderr, "scnpm: %s%s%s\n", module ?: "", module ? ": " : "", buf);
	}

	errno = saved;
	return -error;
}

int log_internal(int level, int error, const char *module, const struct log_fields *fields,
		 const char *file, int line, const char *func, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = log_internalv(level, error, module, fields, file, line, func, format, ap);
	va_end(ap);
	return r;
}
