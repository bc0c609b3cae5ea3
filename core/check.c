/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * scnpm --check: everything the daemon would refuse, all of it, before it refuses it.
 *
 *  1. every config file is parsed and every bad directive reported (not only the first);
 *  2. each valid directive is offered to the sinks, as at start, so a directive no
 *     loaded sink can express is an error naming the module it needs;
 *  3. a sink that can dry-run (sink-nft) runs the command as the daemon would send it,
 *     for an example unit: the unit's own cgroup where it runs, an existing cgroup where
 *     it does not (so "the unit is not running" is never mistaken for a typo). nftables
 *     parses and evaluates it and the kernel validates the transaction, which is then
 *     aborted: nothing is committed.
 *
 * The sinks are initialized, never started: no rule is added, adopted or swept. Without
 * CAP_NET_ADMIN they cannot be initialized and the check stops after step 1.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <scnpm/unit-name.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "util.h"

/* A unit name the pattern matches: glob characters replaced by ordinary ones. */
static void example_unit_name(const char *pattern, char *buf, size_t size)
{
	size_t n = 0;

	for (const char *p = pattern; *p && n + 2 < size; p++) {
		if (*p == '*' || *p == '?') {
			buf[n++] = 'x';
			continue;
		}
		if (*p == '[') {
			const char *end = strchr(p + 1, ']');

			if (end) {
				/* a bracket expression: one character of it, unless it negates */
				char c = p[1] == '!' || p[1] == '^' || p[1] == ']' ? 'x' : p[1];

				buf[n++] = c;
				p = end;
				continue;
			}
		}
		buf[n++] = *p;
	}
	buf[n] = '\0';
	if (!scnpm_unit_name_is_valid(buf))
		snprintf(buf, size, "example.service");
}

static bool cgroup_exists(const char *root, const char *path, uint64_t *ret_id)
{
	_cleanup_free_ char *full = NULL;
	struct stat st;

	if (asprintf(&full, "%s/%s", root, path) < 0 || stat(full, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	if (ret_id)
		*ret_id = (uint64_t)st.st_ino;
	return true;
}

/* Some cgroup that exists right below the root, the same one every time: the
 * alphabetically first directory whose name is a valid unit name ("init.scope",
 * "system.slice", ...). NULL when there is none. */
static char *existing_cgroup(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *de;
	char *best = NULL;

	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		char *t;

		if (de->d_type != DT_DIR || !scnpm_unit_name_is_valid(de->d_name))
			continue;
		if (best && strcmp(de->d_name, best) >= 0)
			continue;
		t = strdup(de->d_name);
		if (!t)
			break;
		free(best);
		best = t;
	}
	closedir(d);
	return best;
}

/* Is text[i..i+len) a whole word, not part of a longer path or name? */
static bool is_whole_word(const char *text, size_t i, size_t len)
{
	char before = i > 0 ? text[i - 1] : ' ', after = text[i + len];

	return strchr(" \t\"{,", before) && (after == '\0' || strchr(" \t\"},", after));
}

/* text with every whole-word occurrence of from replaced by to, in a new string. */
static char *replace_word(const char *text, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), n = 0;
	char *out;

	out = malloc(strlen(text) * (tlen > flen ? tlen / (flen ?: 1) + 1 : 1) + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; text[i];) {
		if (flen > 0 && strncmp(text + i, from, flen) == 0 && is_whole_word(text, i, flen)) {
			memcpy(out + n, to, tlen);
			n += tlen;
			i += flen;
		} else
			out[n++] = text[i++];
	}
	out[n] = '\0';
	return out;
}

struct check_example {
	char unit[256];
	char *cgroup;		/* owned: the cgroup path the example unit runs in, or NULL */
	char *text;		/* owned: the rule text with missing cgroups replaced */
	const char *missing;	/* a cgroup the text names that does not exist, with no
				 * other to put in its place: nftables cannot be asked */
	struct scnpm_event ev;
};

/* The unit and text to try rule with. 0, -ENOMEM. */
static int check_example_make(struct manager *m, const struct rule *r, const char *fallback,
			      struct check_example *ex)
{
	const char *root = m->opt.cgroup_root;
	uint32_t manager = r->manager == SCNPM_MANAGER_USER ? SCNPM_MANAGER_USER : SCNPM_MANAGER_SYSTEM;
	uint32_t uid = manager == SCNPM_MANAGER_USER ? (r->has_uid ? r->uid : 1000) : 0;
	uint64_t id = 0;
	int k;

	example_unit_name(r->pattern, ex->unit, sizeof(ex->unit));
	if (manager == SCNPM_MANAGER_USER)
		k = asprintf(&ex->cgroup, "user.slice/user-%u.slice/user@%u.service/app.slice/%s", uid,
			     uid, ex->unit);
	else
		k = asprintf(&ex->cgroup, "system.slice/%s", ex->unit);
	if (k < 0) {
		ex->cgroup = NULL;
		return -ENOMEM;
	}
	if (!cgroup_exists(root, ex->cgroup, &id)) {
		free(ex->cgroup);
		ex->cgroup = fallback ? strdup(fallback) : NULL;
		if (fallback && !ex->cgroup)
			return -ENOMEM;
		if (ex->cgroup)
			(void)cgroup_exists(root, ex->cgroup, &id);
	}

	ex->text = strdup(r->text);
	if (!ex->text)
		return -ENOMEM;
	for (char **p = r->cgroup_paths; p && *p; p++) {
		char *t;

		if (cgroup_exists(root, *p, NULL))
			continue;
		if (!fallback) {
			ex->missing = *p;
			break;
		}
		t = replace_word(ex->text, *p, fallback);
		if (!t)
			return -ENOMEM;
		free(ex->text);
		ex->text = t;
	}

	ex->ev = (struct scnpm_event){
		.size = sizeof(struct scnpm_event),
		.change = SCNPM_UNIT_STARTED,
		.unit = ex->unit,
		.manager = manager,
		.uid = uid,
		.cgroup_path = ex->cgroup,
		.cgroup_id = id,
		.cgroup_level = ex->cgroup ? scnpm_cgroup_path_level(ex->cgroup) : 0,
	};
	return 0;
}

static void check_example_done(struct check_example *ex)
{
	free(ex->cgroup);
	free(ex->text);
}

/* Dry-run r in its sink, if the sink can. 0 (works, or cannot be tried), -errno. */
static int check_dry_run(struct manager *m, struct rule *r, const char *fallback)
{
	const struct scnpm_module *d = r->sink->desc;
	struct check_example ex = {};
	int k;

	if (!SCNPM_HAS(d, struct scnpm_module, check) || !d->check)
		return 0;
	k = check_example_make(m, r, fallback, &ex);
	if (k >= 0 && ex.missing)
		log_notice("%s:%u: not tried with nftables: %s does not exist (the unit is not "
			   "running) and there is no other cgroup to try it with",
			   r->file, r->line, ex.missing);
	else if (k >= 0)
		k = d->check(r->sink->state, &r->pub, ex.text, &ex.ev);
	check_example_done(&ex);
	return k == -ENOMEM ? log_oom() : k;
}

int manager_check(struct manager *m)
{
	_cleanup_free_ char *fallback = NULL;
	size_t n_errors;
	int r;

	m->checking = true;
	m->config = config_free(m->config);
	r = manager_parse_config(m, &m->config);
	if (r == -ENOMEM || !m->config)
		return r < 0 ? r : -ENOMEM;
	n_errors = m->n_config_errors; /* each was logged; go on with the directives that parsed */
	if (m->config->n_rules == 0 && n_errors == 0)
		manager_warn_no_directives(m);

	for (size_t i = 0; i < m->n_sinks; i++) {
		r = module_init(m->sinks[i]);
		if (r < 0) {
			log_warning("%s cannot start here (%s): checked the syntax only, not which sink "
				    "takes each directive nor what nftables says of it",
				    m->sinks[i]->name, r == -EPERM ? "needs CAP_NET_ADMIN" : strerror(-r));
			return n_errors > 0 ? log_error_errno(-EINVAL, "%zu error(s)", n_errors) : 0;
		}
	}

	fallback = existing_cgroup(m->opt.cgroup_root);
	for (size_t i = 0; i < m->config->n_rules; i++) {
		struct rule *rule = m->config->rules[i];

		if (manager_assign_sink(m, rule) < 0 || check_dry_run(m, rule, fallback) < 0)
			n_errors++;
	}
	if (n_errors > 0)
		return log_error_errno(-EINVAL, "%zu error(s); %zu directive(s) checked", n_errors,
				       m->config->n_rules);
	return (int)m->n_sinks;
}
