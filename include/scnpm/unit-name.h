/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_UNIT_NAME_H
#define SCNPM_UNIT_NAME_H

/*
 * systemd unit-name validation (systemd.unit(5)), header-only so that the core and any
 * module judge names the same way. Everything derived from a unit or cgroup name is
 * hostile until it passed this: users create cgroups under their own user manager and
 * pick their names, and these strings end up inside nft rule text.
 *
 * A valid name is at most 255 characters from [A-Za-z0-9:_.\\-@], has the form
 * PREFIX[@INSTANCE].TYPE with a non-empty PREFIX, at most one '@', and TYPE one of the
 * unit types below. A template ("foo@.service", empty instance) is valid too.
 */

#include <stddef.h>
#include <string.h>

#define SCNPM_UNIT_NAME_MAX 255

static inline int scnpm_unit_type_is_valid(const char *type, size_t len)
{
#define SCNPM_UNIT_TYPE_(s) { s, sizeof(s) - 1 }
	/* with their lengths: this runs for every cgroup path component at start */
	static const struct {
		char name[10];
		size_t len;
	} types[] = {
		SCNPM_UNIT_TYPE_("service"), SCNPM_UNIT_TYPE_("socket"), SCNPM_UNIT_TYPE_("target"),
		SCNPM_UNIT_TYPE_("device"),  SCNPM_UNIT_TYPE_("mount"),  SCNPM_UNIT_TYPE_("automount"),
		SCNPM_UNIT_TYPE_("swap"),    SCNPM_UNIT_TYPE_("timer"),  SCNPM_UNIT_TYPE_("path"),
		SCNPM_UNIT_TYPE_("slice"),   SCNPM_UNIT_TYPE_("scope"),
	};
#undef SCNPM_UNIT_TYPE_

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (types[i].len == len && memcmp(types[i].name, type, len) == 0)
			return 1;
	return 0;
}

static inline int scnpm_unit_char_is_valid(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '-' || c == '_' || c == '.' || c == '\\' || c == '@';
}

/* Checks the first len bytes of s (which need not be NUL-terminated). 1 if valid. */
static inline int scnpm_unit_name_is_valid_n(const char *s, size_t len)
{
	const char *dot = NULL, *at = NULL;

	if (!s || len == 0 || len > SCNPM_UNIT_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!scnpm_unit_char_is_valid(s[i]))
			return 0;
		if (s[i] == '.')
			dot = s + i;
		else if (s[i] == '@') {
			if (at)
				return 0;
			at = s + i;
		}
	}
	if (!dot || dot == s)
		return 0;
	if (at && (at == s || at > dot))
		return 0;
	return scnpm_unit_type_is_valid(dot + 1, (size_t)(s + len - dot - 1));
}

static inline int scnpm_unit_name_is_valid(const char *s)
{
	return s && scnpm_unit_name_is_valid_n(s, strnlen(s, SCNPM_UNIT_NAME_MAX + 1));
}

/* A cgroup path relative to the cgroup2 root whose every component is a valid unit
 * name: "system.slice/postfix.service". No leading or trailing '/', no empty, "." or
 * ".." component (neither is a unit name). Returns the number of components (the
 * level nft's "socket cgroupv2 level N" wants), or 0 when the path is not acceptable. */
static inline unsigned scnpm_cgroup_path_level(const char *path)
{
	unsigned level = 0;

	if (!path || !*path)
		return 0;
	for (const char *p = path;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (!scnpm_unit_name_is_valid_n(p, n))
			return 0;
		level++;
		if (!slash)
			return level;
		p = slash + 1;
	}
}

#endif /* SCNPM_UNIT_NAME_H */
