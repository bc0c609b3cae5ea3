/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit names and cgroup paths, as every source reports them and the core validates them
 * (<scnpm/unit-name.h>): what a user names a cgroup under their own manager. Besides no
 * crash: what passes is made only of unit-name characters, within the length limit,
 * with a unit type suffix; a path's level is its number of components, each of which is
 * a valid name; the _n variant agrees with the NUL-terminated one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/unit-name.h>

#include "fuzz.h"

static void check_name(const char *s, size_t n)
{
	const char *dot;

	if (!scnpm_unit_name_is_valid_n(s, n))
		return;
	if (n == 0 || n > SCNPM_UNIT_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!scnpm_unit_char_is_valid(s[i]))
			abort();
	dot = memrchr(s, '.', n);
	if (!dot || dot == s || !scnpm_unit_type_is_valid(dot + 1, (size_t)(s + n - dot - 1)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	size_t len;
	unsigned level, n_components = 1;

	if (!s)
		return 0;
	len = strlen(s);

	check_name((const char *)data, size);
	if (scnpm_unit_name_is_valid(s) != scnpm_unit_name_is_valid_n(s, len))
		abort();

	level = scnpm_cgroup_path_level(s);
	if (level > 0) {
		const char *p = s;

		for (const char *q = s; *q; q++)
			n_components += *q == '/';
		if (level != n_components)
			abort();
		for (;;) {
			const char *slash = strchr(p, '/');
			size_t n = slash ? (size_t)(slash - p) : strlen(p);

			if (!scnpm_unit_name_is_valid_n(p, n))
				abort();
			if (!slash)
				break;
			p = slash + 1;
		}
	}
	free(s);
	return 0;
}
