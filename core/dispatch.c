/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/unit-name.h>

#include "applied.h"
#include "cgroup-tree.h"
#include "dispatch.h"
#include "log.h"
#include "manager.h"
#include "unit.h"
#include "util.h"

/* Lookups of units without a cgroup hint in one global pass before it walks the tree. */
#define DISPATCH_LOOKUPS_BEFORE_WALK 8

/* Where something is now. */
struct truth {
	bool present;
	const char *path;	/* borrowed */
	uint64_t id;		/* literal rules with several paths: all ids mixed */
	uint64_t first_id;
};

static const char *change_name(uint32_t change)
{
	return change == SCNPM_UNIT_STOPPED ? "withdrawing" : "applying";
}

static bool want_send(const struct applied *a, const struct truth *t, unsigned flags)
{
	if (!t->present)
		return a != NULL;
	if (!a || (flags & DISPATCH_FORCE) || a->cgroup_id != t->id)
		return true;
	return a->result != 0 && a->result != SCNPM_RESULT_APPLIED;
}

static void sink_apply(struct manager *m, struct module *sink, const struct scnpm_event *ev,
		       const struct scnpm_rule **rules, size_t n)
{
	int r;

	log_debug("Unit '%s' (%u:%u): %s %zu rule(s) through %s", ev->unit, (unsigned)ev->manager,
		  (unsigned)ev->uid, change_name(ev->change), n, sink->name);
	r = sink->desc->apply(sink->state, ev, rules, n);
	if (r < 0)
		log_warning_errno(r, "%s: applying rules for unit '%s' failed, ignoring: %m", sink->name,
				  ev->unit);
}

/* ---- literal rules ---- */

bool dispatch_literal_cgroup(struct manager *m, const struct rule *r, uint64_t *ret_id,
			     uint64_t *ret_first_id)
{
	uint64_t mixed = 0, first = 0;

	STRV_FOREACH(p, r->cgroup_paths) {
		uint64_t id;

		if (cgroup_tree_id(m->opt.cgroup_root, *p, &id) < 0)
			return false;
		if (p == r->cgroup_paths)
			first = id;
		/* any one of them replaced changes the whole */
		mixed = mixed * 1000003u ^ id;
	}
	*ret_id = mixed;
	*ret_first_id = first;
	return true;
}

static void literal_truth(struct manager *m, const struct rule *r, struct truth *t)
{
	*t = (struct truth){};
	if (dispatch_literal_cgroup(m, r, &t->id, &t->first_id)) {
		t->present = true;
		t->path = r->cgroup_paths[0];
	}
}

static void dispatch_literal(struct manager *m, struct rule *r, unsigned flags)
{
	struct applied *a = applied_find(m, r, SCNPM_MANAGER_ANY, 0, r->pattern);
	const struct scnpm_rule *pub = &r->pub;
	struct scnpm_event ev;
	struct truth t;

	literal_truth(m, r, &t);
	if (!want_send(a, &t, flags))
		return;
	ev = (struct scnpm_event){
		.size = sizeof(ev),
		.change = t.present ? SCNPM_UNIT_STARTED : SCNPM_UNIT_STOPPED,
		.unit = r->pattern,
		.manager = SCNPM_MANAGER_ANY,
		.cgroup_path = t.present ? t.path : NULL,
		.cgroup_id = t.first_id,
		.cgroup_level = t.present ? scnpm_cgroup_path_level(t.path) : 0,
		.timestamp = now_usec(),
	};
	if (t.present && applied_put(m, r, SCNPM_MANAGER_ANY, 0, r->pattern, t.id) < 0) {
		log_oom();
		return;
	}
	sink_apply(m, r->sink, &ev, &pub, 1);
	if (!t.present)
		applied_remove(m, applied_find(m, r, SCNPM_MANAGER_ANY, 0, r->pattern));
}

/* ---- unit-bound rules ---- */

static int unit_cgroup(struct manager *m, uint32_t kind, uint32_t uid, const char *name,
		       const char *hint, char **ret_path, uint64_t *ret_id)
{
	uint64_t id;
	char *p;

	if (kind == SCNPM_MANAGER_ANY)
		return -ENOENT;
	if (!hint) {
		/* A unit that runs nowhere costs a read of all its manager's slices: past a
		 * few of those in one global pass, one walk of the tree answers them all. */
		if (m->global_pass && !m->snapshot &&
		    ++m->n_pass_lookups > DISPATCH_LOOKUPS_BEFORE_WALK &&
		    cgroup_snapshot_take(m->opt.cgroup_root, &m->snapshot) < 0)
			m->snapshot = NULL;
		return cgroup_snapshot_find_unit(m->snapshot, m->opt.cgroup_root, kind, uid, name,
						 ret_path, ret_id);
	}
	/* A cgroup source saw it there and reports where it goes: when that cgroup is gone,
	 * so is the unit. */
	if (cgroup_tree_id(m->opt.cgroup_root, hint, &id) < 0)
		return -ENOENT;
	p = strdup(hint);
	if (!p)
		return -ENOMEM;
	*ret_path = p;
	*ret_id = id;
	return 0;
}

int dispatch_unit_cgroup(struct manager *m, uint32_t kind, uint32_t uid, const char *name,
			 char **ret_path, uint64_t *ret_id)
{
	struct unit *u = unit_get(m, kind, uid, name, false);

	return unit_cgroup(m, kind, uid, name, u ? u->cgroup_hint : NULL, ret_path, ret_id);
}

static void unit_truth(struct manager *m, struct unit *u, char **path, struct truth *t)
{
	uint64_t id;
	int r;

	*t = (struct truth){};
	*path = NULL;
	r = unit_cgroup(m, u->kind, u->uid, u->name, u->cgroup_hint, path, &id);
	if (r == -ENOMEM)
		log_oom();
	if (r < 0)
		return;
	*t = (struct truth){ .present = true, .path = *path, .id = id, .first_id = id };
}

static bool unit_bound_for(const struct rule *r, const struct unit *u, uint64_t min_generation)
{
	return !rule_is_literal(r) && r->generation >= min_generation &&
	       u->kind != SCNPM_MANAGER_ANY && rule_manager_matches(r, u->kind, u->uid);
}

static void dispatch_unit_bound(struct manager *m, struct unit *u, unsigned flags,
				uint64_t min_generation)
{
	_cleanup_free_ const struct scnpm_rule **pub = NULL;
	_cleanup_free_ char *path = NULL;
	struct scnpm_event ev;
	struct truth t;
	struct rule *r;
	size_t n_max = 0;

	RULE_FOREACH_MATCHING(r, &m->index, u->name)
		if (unit_bound_for(r, u, min_generation))
			n_max++;
	if (n_max == 0) {
		if (min_generation == 0)
			u->present = false;
		return;
	}

	unit_truth(m, u, &path, &t);
	if (min_generation == 0 || t.present) {
		/* a pass over new rules only does not withdraw, so it cannot say "absent" */
		u->present = t.present;
		u->cgroup_id = t.id;
	}
	pub = calloc(n_max, sizeof(*pub));
	if (!pub) {
		log_oom();
		return;
	}
	ev = (struct scnpm_event){
		.size = sizeof(ev),
		.change = t.present ? SCNPM_UNIT_STARTED : SCNPM_UNIT_STOPPED,
		.unit = u->name,
		.manager = u->kind,
		.uid = u->uid,
		.cgroup_path = t.path,
		.cgroup_id = t.id,
		.cgroup_level = t.path ? scnpm_cgroup_path_level(t.path) : 0,
		.timestamp = now_usec(),
	};

	/* one apply per sink, its rules in configuration order */
	for (size_t s = 0; s < m->n_sinks; s++) {
		size_t n = 0;

		RULE_FOREACH_MATCHING(r, &m->index, u->name) {
			if (r->sink != m->sinks[s] || !unit_bound_for(r, u, min_generation))
				continue;
			if (!want_send(applied_find(m, r, u->kind, u->uid, u->name), &t, flags))
				continue;
			if (t.present && applied_put(m, r, u->kind, u->uid, u->name, t.id) < 0) {
				log_oom();
				continue;
			}
			pub[n++] = &r->pub;
		}
		if (n == 0)
			continue;
		sink_apply(m, m->sinks[s], &ev, pub, n);
		if (!t.present)
			for (size_t i = 0; i < n; i++)
				applied_remove(m, applied_find(m, container_of(pub[i], struct rule, pub),
							       u->kind, u->uid, u->name));
	}
}

static void dispatch_literals_of(struct manager *m, struct unit *u, unsigned flags,
				 uint64_t min_generation)
{
	struct rule *r;

	m->pass++;
	RULE_FOREACH_MATCHING(r, &m->index, u->name) {
		if (!rule_is_literal(r) || r->generation < min_generation || r->mark == m->pass)
			continue;
		/* an event of a manager the qualifier does not name is no reason to look */
		if (u->kind != SCNPM_MANAGER_ANY && !rule_manager_matches(r, u->kind, u->uid))
			continue;
		r->mark = m->pass;
		dispatch_literal(m, r, flags);
	}
}

void dispatch_unit(struct manager *m, struct unit *u, unsigned flags)
{
	dispatch_literals_of(m, u, flags, 0);
	dispatch_unit_bound(m, u, flags, 0);
	manager_notify_status(m);
}

/* Entries for the units exact-name rules name, in every manager they are for, so that
 * a unit that runs already is found even when no source reports it. */
static void ensure_named_units(struct manager *m, uint64_t min_generation)
{
	_cleanup_free_ uint32_t *uids = NULL;
	struct rule_list *l;
	size_t n_uids = 0, i = 0;
	bool have_uids = false;

	while ((l = hashmap_iterate(m->index.exact, &i, NULL))) {
		for (size_t k = 0; k < l->n; k++) {
			struct rule *r = l->rules[k];

			if (rule_is_literal(r) || r->generation < min_generation)
				continue;
			if (r->manager != SCNPM_MANAGER_USER)
				(void)unit_get(m, SCNPM_MANAGER_SYSTEM, 0, l->name, true);
			if (r->manager == SCNPM_MANAGER_USER && r->has_uid) {
				(void)unit_get(m, SCNPM_MANAGER_USER, r->uid, l->name, true);
				continue;
			}
			if (r->manager != SCNPM_MANAGER_USER && !r->any_manager)
				continue;
			if (!have_uids) {
				have_uids = true;
				if (cgroup_tree_user_managers(m->opt.cgroup_root, &uids, &n_uids) < 0)
					log_debug("Cannot list user managers, ignoring");
			}
			for (size_t j = 0; j < n_uids; j++)
				(void)unit_get(m, SCNPM_MANAGER_USER, uids[j], l->name, true);
		}
	}
}

struct glob_walk {
	struct manager *m;
	uint64_t min_generation;
};

static bool globbed_for(const struct rule *r, uint32_t manager, uint32_t uid,
			uint64_t min_generation)
{
	return r->is_glob && !rule_is_literal(r) && r->generation >= min_generation &&
	       rule_manager_matches(r, manager, uid);
}

static int on_tree_unit(uint32_t manager, uint32_t uid, const char *name, const char *path,
			uint64_t id, void *userdata)
{
	struct glob_walk *w = userdata;
	struct rule *r;

	RULE_FOREACH_MATCHING(r, &w->m->index, name)
		if (globbed_for(r, manager, uid, w->min_generation))
			return unit_get(w->m, manager, uid, name, true) ? 0 : -ENOMEM;
	return 0;
}

/* Entries for the running units that unit-bound glob rules match. Sources report what
 * happens from their start on: a cgroup source's first scan covers what ran before, the
 * journal does not, and nothing reports again a unit that ran before a reload added a
 * rule for it. One walk of the tree finds them all; the pass's lookups use it too. */
static void ensure_globbed_units(struct manager *m, uint64_t min_generation)
{
	struct glob_walk w = { .m = m, .min_generation = min_generation };
	bool any = false;
	int r;

	for (size_t i = 0; i < m->index.n_globs && !any; i++) {
		const struct rule *g = m->index.globs[i];

		any = g->is_glob && !rule_is_literal(g) && g->generation >= min_generation;
	}
	if (!any)
		return;
	if (!m->snapshot && cgroup_snapshot_take(m->opt.cgroup_root, &m->snapshot) < 0)
		m->snapshot = NULL;
	/* without a snapshot (the tree is larger than its bound) as far as a walk gets */
	r = m->snapshot ? cgroup_snapshot_foreach_unit(m->snapshot, on_tree_unit, &w)
			: cgroup_tree_foreach_unit(m->opt.cgroup_root, on_tree_unit, &w);
	if (r == -ENOMEM)
		log_oom();
	else if (r < 0)
		log_debug_errno(r, "Cannot walk the cgroup tree for the units of glob rules, ignoring: %m");
}

void dispatch_all(struct manager *m, unsigned flags, uint64_t min_generation)
{
	_cleanup_free_ struct unit **list = NULL;
	struct unit *u;
	size_t n = 0, i = 0;

	for (size_t k = 0; k < m->config->n_rules; k++) {
		struct rule *r = m->config->rules[k];

		if (rule_is_literal(r) && r->generation >= min_generation)
			dispatch_literal(m, r, flags);
	}

	ensure_named_units(m, min_generation);
	ensure_globbed_units(m, min_generation);
	/* collect first: forgetting an entry changes the table */
	list = calloc(hashmap_size(m->units) + 1, sizeof(*list));
	if (!list) {
		log_oom();
		return;
	}
	while ((u = hashmap_iterate(m->units, &i, NULL)))
		list[n++] = u;
	m->global_pass = true;
	m->n_pass_lookups = 0;
	for (i = 0; i < n; i++) {
		dispatch_unit_bound(m, list[i], flags, min_generation);
		unit_maybe_forget(list[i]);
	}
	m->global_pass = false;
	m->snapshot = cgroup_snapshot_free(m->snapshot);
	manager_notify_status(m);
}
