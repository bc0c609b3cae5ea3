/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

static int log_max_level = LOG_NOTICE;
static int log_prefix = -1; /* unknown yet: decided on first message */
static log_callback_t log_cb;
static void *log_cb_userdata;

void log_set_max_level(int level)
{
	log_max_level = level;
}

int log_get_max_level(void)
{
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

/* Is stderr the journal stream systemd set up for us? Then use "<N>" prefixes. */
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

int log_internalv(int level, int error, const char *tag, const char *format, va_list ap)
{
	char buf[4096];
	int saved = errno;

	if (error < 0)
		error = -error;
	if (level > log_max_level)
		return -error;

	errno = error; /* for %m */
	vsnprintf(buf, sizeof(buf), format, ap);

	if (log_cb)
		log_cb(level, buf, log_cb_userdata);
	else {
		if (log_prefix < 0)
			log_prefix = stderr_is_journal();
		if (log_prefix)
			fprintf(stderr, "<%d>%s%s%s\n", level, tag ?: "", tag ? ": " : "", buf);
		else
			fprintf(stderr, "scnpm: %s%s%s\n", tag ?: "", tag ? ": " : "", buf);
	}

	errno = saved;
	return -error;
}

int log_internal(int level, int error, const char *tag, const char *format, ...)
{
	va_list ap;
	int r;

	va_start(ap, format);
	r = log_internalv(level, error, tag, format, ap);
	va_end(ap);
	return r;
}
