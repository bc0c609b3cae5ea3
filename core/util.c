/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <scnpm/module.h>

#include "util.h"

void strv_free(char **l)
{
	STRV_FOREACH(s, l)
		free(*s);
	free(l);
}

size_t strv_length(char **l)
{
	size_t n = 0;

	STRV_FOREACH(s, l)
		n++;
	return n;
}

int strv_push(char ***l, const char *s)
{
	size_t n = strv_length(*l);
	char **t, *c;

	c = strdup(s);
	if (!c)
		return -ENOMEM;
	t = realloc(*l, (n + 2) * sizeof(char *));
	if (!t) {
		free(c);
		return -ENOMEM;
	}
	t[n] = c;
	t[n + 1] = NULL;
	*l = t;
	return 0;
}

bool strv_contains(char **l, const char *s)
{
	STRV_FOREACH(i, l)
		if (streq(*i, s))
			return true;
	return false;
}

char *cescape_trunc(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	char *out, *o;

	out = malloc(n * 4 + 4);
	if (!out)
		return NULL;
	o = out;
	for (size_t i = 0; i < n && i < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '\'' || c == '"') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += sprintf(o, "\\x%02x", c);
		} else
			*o++ = (char)c;
	}
	if (n > max)
		o = stpcpy(o, "...");
	*o = '\0';
	return out;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t len;
		uint32_t cp, min;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			len = 2, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			len = 3, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			len = 4, cp = c & 0x07, min = 0x10000;
		else
			return i;
		if (n - i < len)
			return i;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return i;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* overlong forms, UTF-16 surrogates, beyond Unicode */
		if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return i;
		i += len;
	}
	return n;
}

int safe_atou64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno > 0)
		return -errno;
	if (*end != '\0')
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_duration_usec(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = { { "us", 1 }, { "ms", 1000 }, { "s", 1000000 }, { "", 1000 } };
	_cleanup_free_ char *digits = NULL;
	size_t n;
	uint64_t v;
	int r;

	if (!s)
		return -EINVAL;
	n = strspn(s, "0123456789");
	if (n == 0 || n > 12)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (!streq(s + n, units[i].suffix))
			continue;
		digits = strndup(s, n);
		if (!digits)
			return -ENOMEM;
		r = safe_atou64(digits, &v);
		if (r < 0)
			return r;
		*ret = v * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

int safe_atou32(const char *s, uint32_t *ret)
{
	uint64_t v;
	int r;

	r = safe_atou64(s, &v);
	if (r < 0)
		return r;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

const char *startswith(const char *s, const char *prefix)
{
	size_t l = strlen(prefix);

	return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

bool endswith(const char *s, const char *suffix)
{
	size_t l = strlen(s), k = strlen(suffix);

	return l >= k && memcmp(s + l - k, suffix, k) == 0;
}

char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (char *)s;
}

void strip_trailing_space(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
}

static uint64_t clock_usec(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t now_usec(void)
{
	return clock_usec(CLOCK_MONOTONIC);
}

uint64_t now_realtime_usec(void)
{
	return clock_usec(CLOCK_REALTIME);
}

const char *manager_kind_to_string(uint32_t kind)
{
	switch (kind) {
	case SCNPM_MANAGER_SYSTEM:
		return "system";
	case SCNPM_MANAGER_USER:
		return "user";
	default:
		return "any";
	}
}

char *strv_join(char **l, const char *sep)
{
	size_t n = 1, k = 0;
	char *out;

	STRV_FOREACH(s, l)
		n += strlen(*s) + strlen(sep);
	out = malloc(n);
	if (!out)
		return NULL;
	out[0] = '\0';
	STRV_FOREACH(s, l) {
		k += (size_t)sprintf(out + k, "%s%s", k ? sep : "", *s);
	}
	return out;
}

const char *runtime_dir(void)
{
	const char *d = getenv("RUNTIME_DIRECTORY");

	/* systemd passes a colon-separated list when there are several: ours is first */
	if (d && *d == '/' && !strchr(d, ':'))
		return d;
	return "/run/scnpm";
}

static char *put_u64(char *p, uint64_t v, unsigned base)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

const char *key_format(char buf[static KEY_BUF], char **ret_heap, const void *ptr,
		       uint32_t manager, uint32_t uid, const char *name)
{
	size_t len = strlen(name);
	char *k = buf, *p;

	*ret_heap = NULL;
	/* 16 hex digits and a space, two numbers of 10 digits with their colons */
	if (len + 17 + 22 + 1 > KEY_BUF) {
		k = *ret_heap = malloc(len + 17 + 22 + 1);
		if (!k)
			return NULL;
	}
	p = k;
	if (ptr) {
		p = put_u64(p, (uintptr_t)ptr, 16);
		*p++ = ' ';
	}
	p = put_u64(p, manager, 10);
	*p++ = ':';
	p = put_u64(p, uid, 10);
	*p++ = ':';
	memcpy(p, name, len + 1);
	return k;
}
