/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_TEMPLATE_H
#define SCNPM_TEMPLATE_H

/*
 * Placeholders in rule text, so that one config line serves every unit it matches:
 *
 *     %{cgroup}   the unit's cgroup path, quoted for nft: "user.slice/.../app-x.scope"
 *                 (sink-nftnl: the cgroup's numeric id, as element or map key)
 *     %{level}    the number of components of that path (socket cgroupv2 level N)
 *     %{unit}     the unit name, quoted for nft: "app-x.scope"
 *
 * '%' appears nowhere in nft's syntax outside of strings, so these cannot collide with a
 * rule's own tokens. Expansion only ever inserts strings the core validated (unit names
 * and cgroup paths made of unit names: letters, digits and ":-_.\@" only), so nothing a
 * user picks as a cgroup name can end a quoted string or start a new command.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#define SCNPM_PLACEHOLDER_CGROUP "%{cgroup}"
#define SCNPM_PLACEHOLDER_LEVEL "%{level}"
#define SCNPM_PLACEHOLDER_UNIT "%{unit}"

/* Does text contain any placeholder? */
static inline int scnpm_template_has_placeholders(const char *text)
{
	return strstr(text, SCNPM_PLACEHOLDER_CGROUP) || strstr(text, SCNPM_PLACEHOLDER_LEVEL) ||
	       strstr(text, SCNPM_PLACEHOLDER_UNIT);
}

/* Does text need the unit's cgroup (%{cgroup} or %{level})? */
static inline int scnpm_template_needs_cgroup(const char *text)
{
	return strstr(text, SCNPM_PLACEHOLDER_CGROUP) || strstr(text, SCNPM_PLACEHOLDER_LEVEL);
}

/*
 * Expand the placeholders of text for unit into a new string (*ret, free() it).
 * Returns 0, -ENODATA when text needs a cgroup the unit does not have (cgroup_path NULL),
 * -EINVAL when a string to insert fails validation (never expected: the core validated
 * it), -ENOMEM.
 */
static inline int scnpm_template_expand(const char *text, const struct scnpm_event *unit,
					char **ret)
{
	char level[16] = "";
	size_t len = 0, cap;
	char *out;

	if (scnpm_template_needs_cgroup(text)) {
		unsigned l;

		if (!unit->cgroup_path)
			return -ENODATA;
		l = scnpm_cgroup_path_level(unit->cgroup_path);
		if (l == 0)
			return -EINVAL;
		snprintf(level, sizeof(level), "%u", l);
	}
	if (strstr(text, SCNPM_PLACEHOLDER_UNIT) && !scnpm_unit_name_is_valid(unit->unit))
		return -EINVAL;

	cap = strlen(text) + 1;
	out = (char *)malloc(cap);
	if (!out)
		return -ENOMEM;

	for (const char *p = text; *p;) {
		const char *ins = NULL, *quote = "";
		size_t skip = 0;

		if (strncmp(p, SCNPM_PLACEHOLDER_CGROUP, strlen(SCNPM_PLACEHOLDER_CGROUP)) == 0) {
			ins = unit->cgroup_path, quote = "\"";
			skip = strlen(SCNPM_PLACEHOLDER_CGROUP);
		} else if (strncmp(p, SCNPM_PLACEHOLDER_LEVEL, strlen(SCNPM_PLACEHOLDER_LEVEL)) == 0) {
			ins = level;
			skip = strlen(SCNPM_PLACEHOLDER_LEVEL);
		} else if (strncmp(p, SCNPM_PLACEHOLDER_UNIT, strlen(SCNPM_PLACEHOLDER_UNIT)) == 0) {
			ins = unit->unit, quote = "\"";
			skip = strlen(SCNPM_PLACEHOLDER_UNIT);
		}

		if (ins) {
			size_t n = strlen(ins) + 2 * strlen(quote);

			if (len + n + 1 > cap) {
				char *t;

				cap = (len + n + 1) * 2;
				t = (char *)realloc(out, cap);
				if (!t) {
					free(out);
					return -ENOMEM;
				}
				out = t;
			}
			len += (size_t)sprintf(out + len, "%s%s%s", quote, ins, quote);
			p += skip;
		} else {
			if (len + 2 > cap) {
				char *t;

				cap *= 2;
				t = (char *)realloc(out, cap);
				if (!t) {
					free(out);
					return -ENOMEM;
				}
				out = t;
			}
			out[len++] = *p++;
		}
	}
	out[len] = '\0';
	*ret = out;
	return 0;
}

#endif /* SCNPM_TEMPLATE_H */
