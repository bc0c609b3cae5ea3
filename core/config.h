/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The configuration: nftables config files in which only comment lines of the form
 *
 *     # [QUALIFIER/]UNIT :: [add [rule|element]] FAMILY TABLE NAME BODY...
 *
 * matter, compatible with the original scnpm. Any number of leading '#' and spaces;
 * a trailing backslash continues the directive on the next comment line. UNIT is a unit
 * name or a glob over unit names (app-*.scope); QUALIFIER says which managers' units it
 * means: "system/", "user/" (any user manager), "user@UID/" or "any/" (all of them).
 * '/' never occurs in unit names, so a qualified name cannot be mistaken for a unit.
 *
 * A gate qualifier, "gate/" or "gate:OPTION[,OPTION]/", before or after the manager's,
 * gates the directive: a new cgroup of a unit it matches is frozen until every gated
 * directive for it is in the kernel (gate.h). OPTIONs: a deadline ("200ms", "1s",
 * "500us") and what to do when it passes or the rule fails: "thaw" (the default) or
 * "keep-frozen". The original tool reads such a line as a unit that never runs.
 *
 * Two kinds of directive, by what decides whether they are in the kernel:
 *  - literal: the text names its cgroup(s) ("socket cgroupv2 level 2 \"system.slice/
 *    a.service\""): in place, with the cgroups' current ids, exactly while they all
 *    exist. Events for UNIT, from any manager the qualifier allows (unqualified: any),
 *    only ask to look at those paths again.
 *  - unit-bound (placeholders, or no cgroup in the text): one instance per unit, for the
 *    unit's cgroup in the manager that runs it. Unqualified means system units only:
 *    users pick the names of their own units. A comment whose first word does not
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
	bool any_manager;	/* "any/": unit-bound instances in every manager */
	bool is_glob;
	bool templated;		/* text has placeholders: one instance per unit */
	bool gated;		/* "gate/": a new cgroup waits frozen for the rule (gate.h) */
	bool gate_keep_frozen;	/* "gate:keep-frozen/": not thawed while the rule is not in */
	uint64_t gate_deadline_usec;	/* "gate:200ms/"; 0: the daemon's --gate-deadline */
	char **cgroup_paths;	/* literal rules: the cgroups the text names; NULL: unit-bound */

	char *text, *family, *table, *name, *body, *file;
	unsigned line;

	struct module *sink;	/* the sink that took it (rule_add), NULL before */
	uint64_t generation;	/* reload generation that added it */
	unsigned mark;		/* scratch for one pass over rules (dedup), owned by the pass */
};

/* Gate deadlines a directive may ask for: a longer one holds a unit's start back that
 * long when a sink never answers. */
#define GATE_DEADLINE_MAX_USEC (60ULL * 1000ULL * 1000ULL)

static inline bool rule_is_literal(const struct rule *r)
{
	return r->cgroup_paths != NULL;
}

struct config {
	struct rule **rules;
	size_t n_rules;
	char **files;
};

struct config *config_new(void);
struct config *config_free(struct config *c); /* frees rules too */

/* Parse one file (or an open stream, named name) and append its rules to c. A bad
 * directive does not stop the parse: every one is reported. On error returns the first
 * error's -errno and sets *ret_error to all messages, one "FILE:LINE: message" per line
 * (newly allocated); c then holds the directives that were valid. */
int config_parse_file(struct config *c, const char *path, char **ret_error);
int config_parse_stream(struct config *c, FILE *f, const char *name, char **ret_error);

/* Does the unit pattern of r match name? Globs as systemctl matches them
 * (fnmatch(3) with FNM_NOESCAPE, so "\x2d" in a pattern is literal). */
bool rule_pattern_matches(const struct rule *r, const char *name);

/* Is an event about a unit of (manager, uid) one r listens to? For a unit-bound rule
 * this is also whose units get instances: unqualified means the system manager. */
bool rule_manager_matches(const struct rule *r, uint32_t manager, uint32_t uid);

/* Both. */
bool rule_matches(const struct rule *r, uint32_t manager, uint32_t uid, const char *name);

/* The cgroup paths named by "cgroupv2 level N PATH" (or a { PATH, ... } set) in body;
 * NULL in *ret when there are none. -EINVAL (with *ret_bad set to the offending word)
 * when one is not a valid cgroup path of unit names. */
int rule_body_cgroup_paths(const char *body, char ***ret, char **ret_bad);

/* Is s acceptable as the unit part of a directive (unit name or glob)? */
bool unit_pattern_is_valid(const char *s);

struct rule *rule_free(struct rule *r);
