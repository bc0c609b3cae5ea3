/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Config files: the directive parser with continuations, qualifiers, globs, literal
 * cgroup paths and placeholders, then the matching the router does with what it parsed.
 * Properties checked on top of "no crash, no leak": every error names the file (and, for
 * a line's error, file:line), and every rule that parses has a valid pattern and text
 * that starts with "add ".
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include "config.h"
#include "fuzz.h"
#include "util.h"

static const char *const names[] = {
    "a.service",	 "postfix.service", "app-firefox-1.scope", "run-u7.service",
    "user@1000.service", "foo@bar.service", "x\\x2dy.service",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *error = NULL;
	struct config *c;
	FILE *f;
	int r;

	if (size > 4 * CONFIG_LINE_MAX)
		return 0;
	/* fmemopen() of zero bytes fails; an empty config is the empty string */
	f = fmemopen(size ? (void *)data : (void *)"", size ? size : 1, "r");
	if (!f)
		return 0;
	c = config_new();
	if (!c)
		abort();
	r = config_parse_stream(c, f, "fuzz.conf", &error);
	fclose(f);

	if (r < 0 && r != -ENOMEM && (!error || !startswith(error, "fuzz.conf:")))
		abort();

	for (size_t i = 0; i < c->n_rules; i++) {
		const struct rule *rule = c->rules[i];

		if (!unit_pattern_is_valid(rule->pattern) || !startswith(rule->text, "add "))
			abort();
		for (size_t k = 0; k < ELEMENTSOF(names); k++) {
			(void)rule_matches(rule, SCNPM_MANAGER_SYSTEM, 0, names[k]);
			(void)rule_matches(rule, SCNPM_MANAGER_USER, 1000, names[k]);
		}
		/* a literal rule names only valid cgroup paths */
		STRV_FOREACH(p, rule->cgroup_paths)
		if (scnpm_cgroup_path_level(*p) == 0)
			abort();
	}
	config_free(c);
	return 0;
}
