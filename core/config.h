/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The configuration: nftables config files in which only comment lines of the form
 *
 *     # [QUALIFIER/]UNIT :: [add [rule|element]] FAMILY TABLE NAME BODY...
 *
 * matter, compatible with the original scnpm. Any number of leading '#' and spaces;
 * a trailing backslash continues the directive on the next comment line. UNIT is a unit
 * name or a glob over unit names (app-*.scope); QUALIFIER restricts it to one manager:
 * "system/", "user/" (any user manager) or "user@UID/". '/' never occurs in unit names,
 * so a qualified name cannot be mistaken for a unit. A comment whose first word does not
 * look like a unit (NAME.TYPE) followed by "::" is an ordinary comment, as in the
 * original.
 *
 * The parser is pure: it does not log; errors come back as "FILE:LINE: what is wrong".
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <scnpm/module.h>

#define CONFIG_LINE_MAX (64U * 1024U)

struct module;

struct rule {
	struct scnpm_rule pub;	/* what sinks see; its strings point at the fields below */

	char *unit_spec;	/* as written: "user@1000/app-*.scope" */
	const char *pattern;	/* points into unit_spec, after the qualifier */
	uint32_t manager;	/* enum scnpm_manager: ANY unless qualified */
	uint32_t uid;		/* with manager USER and has_uid */
	bool has_uid;
	bool is_glob;
	bool templated;		/* text has placeholders: one instance per unit */

	char *text, *family, *table, *name, *body, *file;
	unsigned line;

	struct module *sink;	/* the sink that took it (rule_add), NULL before */
	uint64_t generation;	/* reload generation that added it */
	bool kept;		/* manager_reload(): found again in the new config */
};

struct config {
	struct rule **rules;
	size_t n_rules;
	char **files;
};

struct config *config_new(void);
struct config *config_free(struct config *c); /* frees rules too */

/* Parse one file (or an open stream, named name) and append its rules to c. On error
 * returns -errno and sets *ret_error to "FILE:LINE: message" (newly allocated); c is
 * then left with whatever was parsed before. */
int config_parse_file(struct config *c, const char *path, char **ret_error);
int config_parse_stream(struct config *c, FILE *f, const char *name, char **ret_error);

/* Does rule r apply to unit 'name' of manager (manager, uid)? manager SCNPM_MANAGER_ANY
 * (the initial reconcile, where the manager is not known) matches every qualifier. */
bool rule_matches(const struct rule *r, uint32_t manager, uint32_t uid, const char *name);

/* Is s acceptable as the unit part of a directive (unit name or glob)? */
bool unit_pattern_is_valid(const char *s);

struct rule *rule_free(struct rule *r);
