/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.scnpm.Manager: GetStatus and DescribeUnit. Both gather "rows", one per instance of
 * a directive (rule, manager, uid, unit), from three places: the literal directives
 * (one instance each, for the cgroups their text names), the units the cgroup tree
 * holds now (so a unit scnpm missed is listed as well), and the records of what the
 * sinks were told (so one whose unit is gone is too). For each row the cgroup is looked
 * up now, the sink reads back what the kernel holds for it, and the two make its
 * verdict: enforced, not_enforced, not_running, stale or unverified.
 */
#include <errno.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <scnpm/unit-name.h>

#include "applied.h"
#include "cgroup-tree.h"
#include "dispatch.h"
#include "log.h"
#include "status-idl.h"
#include "status.h"
#include "util.h"

#define PATTERNS_MAX 64
#define PATTERN_MAX 256

struct row {
	struct rule *rule;
	size_t rule_idx;	/* in the configuration: the order of the answer */
	uint32_t manager, uid;
	char *subject;		/* unit name, or the literal rule's pattern */
	char *path;		/* the cgroup now (literal rules: borrowed from the rule) */
	bool own_path;
	bool present;
	uint64_t id;		/* the cgroup's id now (literal rules: the first one's) */
	struct applied *a;	/* what the sink was told, NULL: nothing */
};

struct rule_pos {
	const struct rule *rule;
	size_t idx;
};

struct rows {
	struct manager *m;
	struct row *v;
	size_t n, cap;
	struct rule_pos *by_ptr;	/* the configuration's rules by address, for their index */
	const char *only_unit;		/* DescribeUnit: rows of this unit only */
};

static int cmp_pos(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct rule_pos *)a)->rule,
		  y = (uintptr_t)((const struct rule_pos *)b)->rule;

	return x < y ? -1 : x > y;
}

static size_t rule_index_of(const struct rows *t, const struct rule *r)
{
	struct rule_pos key = { .rule = r }, *p;

	p = bsearch(&key, t->by_ptr, t->m->config->n_rules, sizeof(*t->by_ptr), cmp_pos);
	return p ? p->idx : SIZE_MAX;
}

static void rows_done(struct rows *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].subject);
		if (t->v[i].own_path)
			free(t->v[i].path);
	}
	free(t->v);
	free(t->by_ptr);
}

static struct row *rows_find(struct rows *t, const struct rule *r, uint32_t manager, uint32_t uid,
			     const char *subject)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].rule == r && t->v[i].manager == manager && t->v[i].uid == uid &&
		    streq(t->v[i].subject, subject))
			return &t->v[i];
	return NULL;
}

/* A row, unless there is one already; path is copied when own_path. */
static int rows_add(struct rows *t, struct rule *r, uint32_t manager, uint32_t uid,
		    const char *subject, const char *path, bool own_path, uint64_t id)
{
	struct row *w;

	if (rows_find(t, r, manager, uid, subject))
		return 0;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct row *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	w = &t->v[t->n];
	*w = (struct row){
		.rule = r,
		.rule_idx = rule_index_of(t, r),
		.manager = manager,
		.uid = uid,
		.subject = strdup(subject),
		.path = own_path && path ? strdup(path) : (char *)path,
		.own_path = own_path,
		.present = path != NULL,
		.id = id,
		.a = applied_find(t->m, r, manager, uid, subject),
	};
	if (!w->subject || (own_path && path && !w->path)) {
		free(w->subject);
		if (own_path)
			free(w->path);
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

static int rows_add_literal(struct rows *t, struct rule *r)
{
	uint64_t mixed, first = 0;
	bool present = dispatch_literal_cgroup(t->m, r, &mixed, &first);

	return rows_add(t, r, SCNPM_MANAGER_ANY, 0, r->pattern, present ? r->cgroup_paths[0] : NULL,
			false, first);
}

/* The unit-bound rules for a unit found in the tree. */
static int rows_on_unit(uint32_t manager, uint32_t uid, const char *name, const char *path,
			uint64_t id, void *userdata)
{
	struct rows *t = userdata;
	struct rule *r;
	int k;

	if (t->only_unit && !streq(name, t->only_unit))
		return 0;
	RULE_FOREACH_MATCHING(r, &t->m->index, name) {
		if (rule_is_literal(r) || !rule_manager_matches(r, manager, uid))
			continue;
		k = rows_add(t, r, manager, uid, name, path, true, id);
		if (k < 0)
			return k;
	}
	return 0;
}

/* What the sinks were told and the tree does not show (any more). */
static int rows_add_applied(struct rows *t)
{
	struct applied *a;
	size_t i = 0;
	int k;

	while ((a = hashmap_iterate(t->m->applied, &i, NULL))) {
		_cleanup_free_ char *path = NULL;
		uint64_t id = 0;

		if (rule_is_literal(a->rule) || (t->only_unit && !streq(a->subject, t->only_unit)) ||
		    rows_find(t, a->rule, a->manager, a->uid, a->subject))
			continue;
		k = dispatch_unit_cgroup(t->m, a->manager, a->uid, a->subject, &path, &id);
		if (k == -ENOMEM)
			return k;
		k = rows_add(t, a->rule, a->manager, a->uid, a->subject, k >= 0 ? path : NULL, true, id);
		if (k < 0)
			return k;
	}
	return 0;
}

static int cmp_row(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->rule_idx != y->rule_idx)
		return x->rule_idx < y->rule_idx ? -1 : 1;
	if (x->manager != y->manager)
		return x->manager < y->manager ? -1 : 1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(x->subject, y->subject);
}

static int rows_collect(struct rows *t, struct manager *m, const char *only_unit)
{
	const struct config *c = m->config;
	int k;

	*t = (struct rows){ .m = m, .only_unit = only_unit };
	t->by_ptr = calloc(c->n_rules + 1, sizeof(*t->by_ptr));
	if (!t->by_ptr)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_rules; i++)
		t->by_ptr[i] = (struct rule_pos){ .rule = c->rules[i], .idx = i };
	qsort(t->by_ptr, c->n_rules, sizeof(*t->by_ptr), cmp_pos);

	for (size_t i = 0; i < c->n_rules; i++)
		if (rule_is_literal(c->rules[i]) &&
		    (!only_unit || rule_pattern_matches(c->rules[i], only_unit)) &&
		    (k = rows_add_literal(t, c->rules[i])) < 0)
			return k;
	k = cgroup_tree_foreach_unit(m->opt.cgroup_root, rows_on_unit, t);
	if (k < 0)
		return k;
	k = rows_add_applied(t);
	if (k < 0)
		return k;
	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), cmp_row);
	return 0;
}

/* ---- one instance ---- */

enum verdict { VERDICT_ENFORCED, VERDICT_NOT_ENFORCED, VERDICT_NOT_RUNNING, VERDICT_STALE, VERDICT_UNVERIFIED };

static const char *const verdict_names[] = {
	[VERDICT_ENFORCED] = "enforced",       [VERDICT_NOT_ENFORCED] = "not_enforced",
	[VERDICT_NOT_RUNNING] = "not_running", [VERDICT_STALE] = "stale",
	[VERDICT_UNVERIFIED] = "unverified",
};

/* What the sink reads back from the kernel for the row, now. */
static void row_inspect(const struct row *w, struct scnpm_inspect *ret)
{
	const struct module *sink = w->rule->sink;
	struct scnpm_event ev = {
		.size = sizeof(ev),
		.change = w->present ? SCNPM_UNIT_STARTED : SCNPM_UNIT_STOPPED,
		.unit = w->subject,
		.manager = w->manager,
		.uid = w->uid,
		.cgroup_path = w->path,
		.cgroup_id = w->id,
		.cgroup_level = w->path ? scnpm_cgroup_path_level(w->path) : 0,
		.timestamp = now_usec(),
	};
	int r;

	*ret = (struct scnpm_inspect){ .size = sizeof(*ret) };
	if (!sink || !SCNPM_HAS(sink->desc, struct scnpm_module, inspect) || !sink->desc->inspect)
		return;
	r = sink->desc->inspect(sink->state, &w->rule->pub, &ev, ret);
	if (r < 0 && r != -ENOENT) {
		log_debug_errno(r, "%s: cannot read back %s:%u for '%s': %m", sink->name, w->rule->file,
				w->rule->line, w->subject);
		*ret = (struct scnpm_inspect){ .size = sizeof(*ret) };
	}
	ret->size = sizeof(*ret);
}

static enum verdict verdict_of(const struct row *w, const struct scnpm_inspect *k)
{
	if (k->state == SCNPM_KERNEL_UNKNOWN)
		return VERDICT_UNVERIFIED;
	if (!w->present)
		return k->state == SCNPM_KERNEL_PRESENT ? VERDICT_STALE : VERDICT_NOT_RUNNING;
	/* a sink that cannot tell the id it holds (0) is taken at its word */
	if (k->state == SCNPM_KERNEL_PRESENT && (k->cgroup_id == 0 || k->cgroup_id == w->id))
		return VERDICT_ENFORCED;
	return VERDICT_NOT_ENFORCED;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static const char *result_name(uint32_t result)
{
	switch (result) {
	case SCNPM_RESULT_APPLIED:
		return "applied";
	case SCNPM_RESULT_SKIPPED:
		return "skipped";
	case SCNPM_RESULT_FAILED:
		return "failed";
	default:
		return "pending";
	}
}

static struct json_object *kernel_json(const struct scnpm_inspect *k)
{
	static const char *const states[] = { "unknown", "present", "absent" };
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "state",
			       json_object_new_string(k->state < ELEMENTSOF(states) ? states[k->state] : "unknown"));
	json_object_object_add(o, "object", str_or_null(k->object));
	json_object_object_add(o, "handle", k->handle ? json_object_new_uint64(k->handle) : NULL);
	json_object_object_add(o, "cgroup_id", k->cgroup_id ? json_object_new_uint64(k->cgroup_id) : NULL);
	json_object_object_add(o, "packets", k->has_counter ? json_object_new_uint64(k->packets) : NULL);
	json_object_object_add(o, "bytes", k->has_counter ? json_object_new_uint64(k->bytes) : NULL);
	json_object_object_add(o, "pending", json_object_new_boolean(k->pending));
	return o;
}

/* The row as an Instance; counts a problem. */
static struct json_object *row_json(const struct row *w, unsigned *problems)
{
	struct json_object *o = json_object_new_object(), *kernel;
	struct scnpm_inspect k;
	enum verdict v;

	if (!o)
		return NULL;
	row_inspect(w, &k);
	v = verdict_of(w, &k);
	kernel = kernel_json(&k);
	if (!kernel) {
		json_object_put(o);
		return NULL;
	}
	if (v == VERDICT_NOT_ENFORCED || v == VERDICT_STALE)
		(*problems)++;
	json_object_object_add(o, "unit", json_object_new_string(w->subject));
	json_object_object_add(o, "manager", json_object_new_string(manager_kind_to_string(w->manager)));
	json_object_object_add(o, "uid", w->manager == SCNPM_MANAGER_USER ? json_object_new_uint64(w->uid) : NULL);
	json_object_object_add(o, "cgroup", str_or_null(w->present ? w->path : NULL));
	json_object_object_add(o, "cgroup_id", w->present ? json_object_new_uint64(w->id) : NULL);
	json_object_object_add(o, "result", w->a ? json_object_new_string(result_name(w->a->last_result)) : NULL);
	json_object_object_add(o, "message", str_or_null(w->a ? w->a->message : NULL));
	json_object_object_add(o, "since_usec",
			       w->a && w->a->since_usec ? json_object_new_uint64(w->a->since_usec) : NULL);
	json_object_object_add(o, "kernel", kernel);
	json_object_object_add(o, "verdict", json_object_new_string(verdict_names[v]));
	return o;
}

static struct json_object *directive_json(const struct rule *r)
{
	struct json_object *o = json_object_new_object(), *instances = json_object_new_array();

	if (!o || !instances) {
		json_object_put(o);
		json_object_put(instances);
		return NULL;
	}
	json_object_object_add(o, "file", json_object_new_string(r->file));
	json_object_object_add(o, "line", json_object_new_uint64(r->line));
	json_object_object_add(o, "unit", json_object_new_string(r->unit_spec));
	json_object_object_add(o, "text", json_object_new_string(r->text));
	json_object_object_add(o, "sink", json_object_new_string(r->sink ? r->sink->name : ""));
	json_object_object_add(o, "kind", json_object_new_string(rule_is_literal(r) ? "literal" : "unit_bound"));
	json_object_object_add(o, "instances", instances);
	return o;
}

/* ---- filters ---- */

static bool glob_matches(const char *pattern, const char *s)
{
	return fnmatch(pattern, s, FNM_NOESCAPE) == 0;
}

/* The unit qualified by its manager, as a directive would name it: "user@1000/a.scope". */
static bool row_matches(const struct row *w, const char *pattern)
{
	char q[320];

	if (!strchr(pattern, '/'))
		return glob_matches(pattern, w->subject);
	if (w->manager == SCNPM_MANAGER_USER)
		snprintf(q, sizeof(q), "user@%" PRIu32 "/%s", w->uid, w->subject);
	else
		snprintf(q, sizeof(q), "%s/%s", manager_kind_to_string(w->manager), w->subject);
	return glob_matches(pattern, q);
}

static bool rule_matches_pattern(const struct rule *r, const char *pattern)
{
	return glob_matches(pattern, r->unit_spec) || glob_matches(pattern, r->pattern);
}

/* Which directives and instances an answer shows. */
struct filter {
	char **patterns;	/* GetStatus: NULL for all */
	const char *unit;	/* DescribeUnit: the directives matching it (the rows are its own) */
};

/* The whole directive, also without instances? */
static bool rule_selected(const struct filter *f, const struct rule *r)
{
	if (f->unit)
		return rule_pattern_matches(r, f->unit);
	if (!f->patterns)
		return true;
	STRV_FOREACH(p, f->patterns)
		if (rule_matches_pattern(r, *p))
			return true;
	return false;
}

static bool row_selected(const struct filter *f, const struct row *w)
{
	STRV_FOREACH(p, f->unit ? NULL : f->patterns)
		if (row_matches(w, *p))
			return true;
	return false;
}

/* The directives with their rows, in configuration order, into *ret; the number of
 * problems into *ret_problems. */
static int directives_json(struct manager *m, const struct rows *t, const struct filter *f,
			   struct json_object **ret, unsigned *ret_problems)
{
	_cleanup_(json_object_putp) struct json_object *list = json_object_new_array();
	unsigned problems = 0;
	size_t k = 0;

	if (!list)
		return -ENOMEM;
	for (size_t i = 0; i < m->config->n_rules; i++) {
		struct rule *r = m->config->rules[i];
		bool all = rule_selected(f, r);
		struct json_object *d = NULL, *instances = NULL;

		for (; k < t->n && t->v[k].rule_idx == i; k++) {
			struct json_object *inst;

			if (!all && !row_selected(f, &t->v[k]))
				continue;
			if (!d) {
				d = directive_json(r);
				if (!d)
					return -ENOMEM;
				json_object_array_add(list, d);
				json_object_object_get_ex(d, "instances", &instances);
			}
			inst = row_json(&t->v[k], &problems);
			if (!inst)
				return -ENOMEM;
			json_object_array_add(instances, inst);
		}
		if (!d && all) {
			d = directive_json(r);
			if (!d)
				return -ENOMEM;
			json_object_array_add(list, d);
		}
	}
	*ret = TAKE_PTR(list);
	*ret_problems = problems;
	return 0;
}

/* ---- the daemon ---- */

static void health_put(void *userdata, const char *key, uint64_t value)
{
	json_object_object_add(userdata, key, json_object_new_uint64(value));
}

static struct json_object *module_json(struct manager *m, struct module *mod)
{
	struct json_object *o = json_object_new_object(), *health = json_object_new_object();
	const struct scnpm_module *d = mod->desc;

	if (!o || !health) {
		json_object_put(o);
		json_object_put(health);
		return NULL;
	}
	if (mod->initialized && SCNPM_HAS(d, struct scnpm_module, health) && d->health) {
		m->health_module = mod;
		m->health_put = health_put;
		m->health_userdata = health;
		if (d->health(mod->state) < 0)
			log_debug("%s: cannot tell its health", mod->name);
		m->health_module = NULL;
		m->health_put = NULL;
		m->health_userdata = NULL;
	}
	json_object_object_add(o, "name", json_object_new_string(mod->name));
	json_object_object_add(o, "kind", json_object_new_string(module_kind_to_string(d->kind)));
	json_object_object_add(o, "description", str_or_null(d->description));
	json_object_object_add(o, "health", health);
	return o;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (nearest rank) of how long the last gates held their unit. */
static uint64_t gate_hold_percentile(struct manager *m, unsigned p)
{
	uint64_t v[GATE_HOLDS];
	size_t n = m->n_gate_holds < GATE_HOLDS ? m->n_gate_holds : GATE_HOLDS;

	if (n == 0)
		return 0;
	memcpy(v, m->gate_holds, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_u64);
	return v[(n * p + 99) / 100 - 1];
}

static struct json_object *gates_json(struct manager *m)
{
	struct json_object *o = json_object_new_object();
	const struct {
		const char *key;
		uint64_t value;
	} items[] = {
		{ "gated", m->n_gates },
		{ "late", m->n_gates_late },
		{ "frozen", m->gates ? hashmap_size(m->gates) : 0 },
		{ "expired", m->n_gates_expired },
		{ "thawed_early", m->n_gates_thawed_early },
		{ "held", m->n_gates_held },
		{ "frozen_by_others", m->n_gates_frozen_by_others },
		{ "failed", m->n_gates_failed },
		{ "taken", m->n_gates_taken },
		{ "frozen_usec_p50", gate_hold_percentile(m, 50) },
		{ "frozen_usec_p99", gate_hold_percentile(m, 99) },
		{ "frozen_usec_max", m->gate_frozen_usec_max },
	};

	if (!o)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(items); i++)
		json_object_object_add(o, items[i].key, json_object_new_uint64(items[i].value));
	return o;
}

static struct json_object *daemon_json(struct manager *m)
{
	struct json_object *o = json_object_new_object(), *files = json_object_new_array(),
			   *mods = json_object_new_array();
	_cleanup_free_ char *summary = NULL;

	if (!o || !files || !mods || manager_status_line(m, &summary) < 0)
		goto oom;
	STRV_FOREACH(f, m->opt.config_files)
		json_object_array_add(files, json_object_new_string(*f));
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < (pass ? m->n_sinks : m->n_sources); i++) {
			struct json_object *x = module_json(m, pass ? m->sinks[i] : m->sources[i]);

			if (!x)
				goto oom;
			json_object_array_add(mods, x);
		}
	json_object_object_add(o, "version", json_object_new_string(SCNPM_VERSION));
	json_object_object_add(o, "pid", json_object_new_int64(getpid()));
	json_object_object_add(o, "started_usec", json_object_new_uint64(m->started_usec));
	json_object_object_add(o, "reloaded_usec", m->reloaded_usec ? json_object_new_uint64(m->reloaded_usec) : NULL);
	json_object_object_add(o, "config_files", files);
	json_object_object_add(o, "summary", json_object_new_string(summary));
	json_object_object_add(o, "dropped_events", json_object_new_uint64(m->n_dropped));
	json_object_object_add(o, "gates", gates_json(m));
	json_object_object_add(o, "modules", mods);
	return o;
oom:
	json_object_put(o);
	json_object_put(files);
	json_object_put(mods);
	return NULL;
}

/* ---- the methods ---- */

static int invalid_parameter(struct varlink_reply *reply, const char *name)
{
	reply->error = VARLINK_ERROR_INVALID_PARAMETER;
	reply->parameters = json_object_new_object();
	if (!reply->parameters)
		return -ENOMEM;
	json_object_object_add(reply->parameters, "parameter", json_object_new_string(name));
	return 0;
}

/* "patterns": null or an array of at most PATTERNS_MAX strings. */
static int parse_patterns(struct json_object *v, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	size_t n;

	*ret = NULL;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_array) || (n = json_object_array_length(v)) > PATTERNS_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(v, i);

		if (!json_object_is_type(p, json_type_string) ||
		    json_object_get_string_len(p) > PATTERN_MAX)
			return -EINVAL;
		if (strv_push(&l, json_object_get_string(p)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

int status_get_status(struct json_object *parameters, struct varlink_reply *reply, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_strv_free_ char **patterns = NULL;
	_cleanup_(json_object_putp) struct json_object *out = NULL;
	struct json_object *directives = NULL, *daemon;
	struct rows t = {};
	unsigned problems = 0;
	int r;

	json_object_object_foreach(parameters, key, val) {
		if (!streq(key, "patterns"))
			return invalid_parameter(reply, key);
		r = parse_patterns(val, &patterns);
		if (r == -EINVAL)
			return invalid_parameter(reply, key);
		if (r < 0)
			return r;
	}
	r = rows_collect(&t, m, NULL);
	if (r >= 0)
		r = directives_json(m, &t, &(struct filter){ .patterns = patterns }, &directives,
				    &problems);
	rows_done(&t);
	if (r < 0)
		return r;
	out = json_object_new_object();
	daemon = daemon_json(m);
	if (!out || !daemon) {
		json_object_put(directives);
		json_object_put(daemon);
		return -ENOMEM;
	}
	json_object_object_add(out, "daemon", daemon);
	json_object_object_add(out, "directives", directives);
	json_object_object_add(out, "problems", json_object_new_uint64(problems));
	reply->parameters = TAKE_PTR(out);
	return 0;
}

static int cgroups_json(struct manager *m, const char *name, struct json_object **ret)
{
	_cleanup_(json_object_putp) struct json_object *list = json_object_new_array();
	_cleanup_free_ uint32_t *uids = NULL;
	size_t n_uids = 0;

	if (!list || cgroup_tree_user_managers(m->opt.cgroup_root, &uids, &n_uids) == -ENOMEM)
		return -ENOMEM;
	for (size_t i = 0; i <= n_uids; i++) {
		uint32_t kind = i == 0 ? SCNPM_MANAGER_SYSTEM : SCNPM_MANAGER_USER,
			 uid = i == 0 ? 0 : uids[i - 1];
		_cleanup_free_ char *path = NULL;
		struct json_object *o;
		uint64_t id;

		if (dispatch_unit_cgroup(m, kind, uid, name, &path, &id) < 0)
			continue;
		o = json_object_new_object();
		if (!o)
			return -ENOMEM;
		json_object_object_add(o, "manager", json_object_new_string(manager_kind_to_string(kind)));
		json_object_object_add(o, "uid", kind == SCNPM_MANAGER_USER ? json_object_new_uint64(uid) : NULL);
		json_object_object_add(o, "cgroup", json_object_new_string(path));
		json_object_object_add(o, "cgroup_id", json_object_new_uint64(id));
		json_object_array_add(list, o);
	}
	*ret = TAKE_PTR(list);
	return 0;
}

int status_describe_unit(struct json_object *parameters, struct varlink_reply *reply, void *userdata)
{
	struct manager *m = userdata;
	_cleanup_(json_object_putp) struct json_object *out = NULL, *cgroups = NULL,
						       *directives = NULL;
	struct json_object *v = NULL;
	struct rows t = {};
	unsigned problems = 0;
	const char *name;
	int r;

	json_object_object_foreach(parameters, key, val) {
		(void)val;
		if (!streq(key, "unit"))
			return invalid_parameter(reply, key);
	}
	if (!json_object_object_get_ex(parameters, "unit", &v) || !json_object_is_type(v, json_type_string) ||
	    !scnpm_unit_name_is_valid(json_object_get_string(v)))
		return invalid_parameter(reply, "unit");
	name = json_object_get_string(v);

	r = rows_collect(&t, m, name);
	if (r >= 0)
		r = directives_json(m, &t, &(struct filter){ .unit = name }, &directives, &problems);
	rows_done(&t);
	if (r >= 0)
		r = cgroups_json(m, name, &cgroups);
	if (r < 0)
		return r;
	out = json_object_new_object();
	if (!out)
		return -ENOMEM;
	json_object_object_add(out, "unit", json_object_new_string(name));
	json_object_object_add(out, "cgroups", TAKE_PTR(cgroups));
	json_object_object_add(out, "directives", TAKE_PTR(directives));
	json_object_object_add(out, "problems", json_object_new_uint64(problems));
	reply->parameters = TAKE_PTR(out);
	return 0;
}

/* ---- the server ---- */

static const struct varlink_method status_methods[] = {
	{ "GetStatus", status_get_status },
	{ "DescribeUnit", status_describe_unit },
	{ NULL },
};

const struct varlink_interface status_interface = {
	.name = "io.scnpm.Manager",
	.description = SCNPM_MANAGER_IDL,
	.methods = status_methods,
	.product = "scnpm",
	.version = SCNPM_VERSION,
	.url = "man:scnpm(8)",
};

int status_server_new(struct manager *m, const char *path, struct varlink_server **ret)
{
	struct varlink_server *s = NULL;
	int n, r;

	r = varlink_server_new(m->event, &status_interface, m, &s);
	if (r < 0)
		return r;
	n = sd_listen_fds(true);
	if (n > 0 && sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) > 0)
		r = varlink_server_listen_fd(s, SD_LISTEN_FDS_START);
	else
		r = varlink_server_listen(s, path);
	if (r < 0) {
		varlink_server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}
