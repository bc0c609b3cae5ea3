/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>

#include "cgroupfs-util.h"

int cgroupfs_parse_interval(const char *s, uint64_t *ret_usec)
{
	uint64_t sec = 0, frac = 0, scale = 1000000;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		sec = sec * 10 + (uint64_t)(*p - '0');
		if (sec > 86400)
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale == 1)
				return -EINVAL;
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (*p != '\0')
		return -EINVAL;
	if ((sec == 0 && frac == 0) || (sec == 86400 && frac > 0))
		return -EINVAL;

	*ret_usec = sec * 1000000 + frac;
	return 0;
}

int cgroupfs_parse_unsigned(const char *s, unsigned *ret)
{
	unsigned long long v = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > UINT_MAX)
			return -ERANGE;
	}
	*ret = (unsigned)v;
	return 0;
}

int cgroupfs_parse_user_manager(const char *name, uint32_t *ret_uid)
{
	static const char prefix[] = "user@", suffix[] = ".service";
	size_t len = strlen(name), n;
	uint64_t uid = 0;

	if (len <= strlen(prefix) + strlen(suffix) || strncmp(name, prefix, strlen(prefix)) != 0 ||
	    strcmp(name + len - strlen(suffix), suffix) != 0)
		return -EINVAL;
	n = len - strlen(prefix) - strlen(suffix);
	if (n > 10 || (n > 1 && name[strlen(prefix)] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = name[strlen(prefix) + i];

		if (c < '0' || c > '9')
			return -EINVAL;
		uid = uid * 10 + (uint64_t)(c - '0');
	}
	/* (uid_t) -1 is "no uid", never a user manager's. */
	if (uid >= UINT32_MAX)
		return -EINVAL;

	*ret_uid = (uint32_t)uid;
	return 0;
}

int cgroupfs_name_is_slice(const char *name)
{
	size_t len = strlen(name);

	return len > strlen(".slice") && strcmp(name + len - strlen(".slice"), ".slice") == 0;
}

char *cgroupfs_escape_name(const char *name, size_t max_in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t w = 0, i;

	for (i = 0; name[i] && i < max_in; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c > 0x20 && c < 0x7f && c != '\\' && c != '\'') {
			if (w + 1 + 4 >= size)
				break;
			out[w++] = (char)c;
		} else {
			if (w + 4 + 4 >= size)
				break;
			out[w++] = '\\';
			out[w++] = 'x';
			out[w++] = hex[c >> 4];
			out[w++] = hex[c & 15];
		}
	}
	if (name[i]) {
		out[w++] = '.';
		out[w++] = '.';
		out[w++] = '.';
	}
	out[w] = '\0';
	return out;
}
