/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include <scnpm/unit-name.h>

#include "log.h"
#include "manager.h"
#include "util.h"

struct rule_list {
	char *name;
	struct rule **rules;
	size_t n;
};

struct unit_entry {
	struct manager *manager;
	char *key;		/* "manager:uid:name" */
	char *name;
	char *cgroup_path;
	struct scnpm_event ev;	/* latest state; strings point at name and cgroup_path */
	sd_event_source *timer;	/* armed while in cooldown */
	bool pending;		/* an event arrived during the cooldown */
	uint64_t min_generation;	/* dispatch only rules at least this new */
	bool from_event;	/* a source reported it since the last dispatch (not a re-apply) */
	uint64_t dispatched_id;	/* cgroup id the sinks were last told about */
	bool dispatched;	/* the sinks have been told about this unit at least once */
};

/* Rules with a unit glob, and the exact-name index. Rebuilt when the config changes. */
static void rule_index_free(struct manager *m)
{
	size_t i = 0;
	struct rule_list *l;

	while ((l = hashmap_iterate(m->exact, &i, NULL))) {
		free(l->rules);
		free(l->name);
		free(l);
	}
	m->exact = hashmap_free(m->exact);
	free(m->globs);
	m->globs = NULL;
	m->n_globs = 0;
}

static int rule_index_build(struct manager *m)
{
	rule_index_free(m);
	m->exact = hashmap_new();
	if (!m->exact)
		return log_oom();

	for (size_t i = 0; i < m->config->n_rules; i++) {
		struct rule *r = m->config->rules[i];
		struct rule **t;

		if (r->is_glob) {
			t = realloc(m->globs, (m->n_globs + 1) * sizeof(*t));
			if (!t)
				return log_oom();
			m->globs = t;
			m->globs[m->n_globs++] = r;
		} else {
			struct rule_list *l = hashmap_get(m->exact, r->pattern);

			if (!l) {
				l = calloc(1, sizeof(*l));
				if (!l || !(l->name = strdup(r->pattern)) ||
				    hashmap_put(m->exact, l->name, l) < 0) {
					if (l)
						free(l->name);
					free(l);
					return log_oom();
				}
			}
			t = realloc(l->rules, (l->n + 1) * sizeof(*t));
			if (!t)
				return log_oom();
			l->rules = t;
			l->rules[l->n++] = r;
		}
	}
	return 0;
}

static struct unit_entry *unit_entry_free(struct unit_entry *u)
{
	if (!u)
		return NULL;
	sd_event_source_disable_unref(u->timer);
	free(u->key);
	free(u->name);
	free(u->cgroup_path);
	free(u);
	return NULL;
}

int manager_new(sd_event *e, const struct manager_options *opt, struct manager **ret)
{
	struct manager *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->event = sd_event_ref(e);
	m->opt = *opt;
	m->units = hashmap_new();
	m->config = config_new();
	if (!m->units || !m->config) {
		manager_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	struct unit_entry *u;
	size_t i = 0;

	if (!m)
		return NULL;
	while ((u = hashmap_iterate(m->units, &i, NULL)))
		unit_entry_free(u);
	m->units = hashmap_free(m->units);
	rule_index_free(m);
	sd_event_source_disable_unref(m->defer);
	sd_event_source_disable_unref(m->status_timer);

	/* Sources first: they feed the sinks. Rules stay in the kernel (as the original
	 * tool leaves them): a daemon restart must not open a window without them. */
	for (size_t k = m->n_sources; k > 0; k--)
		module_free(m->sources[k - 1]);
	for (size_t k = m->n_sinks; k > 0; k--)
		module_free(m->sinks[k - 1]);
	free(m->sources);
	free(m->sinks);
	config_free(m->config);
	free(m->refusals);
	sd_event_unref(m->event);
	free(m);
	return NULL;
}

int manager_add_module(struct manager *m, struct module *mod)
{
	struct module ***list = mod->desc->kind == SCNPM_MODULE_SOURCE ? &m->sources : &m->sinks;
	size_t *n = mod->desc->kind == SCNPM_MODULE_SOURCE ? &m->n_sources : &m->n_sinks;
	struct module **t;

	for (size_t i = 0; i < *n; i++)
		if (streq((*list)[i]->name, mod->name)) {
			log_error("%s: module given twice", mod->name);
			module_free(mod);
			return -EEXIST;
		}

	t = realloc(*list, (*n + 1) * sizeof(*t));
	if (!t) {
		module_free(mod);
		return log_oom();
	}
	*list = t;
	(*list)[(*n)++] = mod;
	host_setup(mod, m);
	return 0;
}

static int config_load(struct manager *m, struct config **ret)
{
	struct config *c;

	c = config_new();
	if (!c)
		return log_oom();
	STRV_FOREACH(f, m->opt.config_files) {
		_cleanup_free_ char *error = NULL;
		int r;

		r = config_parse_file(c, *f, &error);
		if (r < 0) {
			if (error)
				log_error("%s", error);
			else
				log_error_errno(r, "%s: %m", *f);
			config_free(c);
			return r;
		}
	}
	*ret = c;
	return 0;
}

int manager_load_config(struct manager *m)
{
	struct config *c;
	int r;

	r = config_load(m, &c);
	if (r < 0)
		return r;
	config_free(m->config);
	m->config = c;
	log_debug("Configuration: %zu rules from %zu files", c->n_rules, strv_length(c->files));
	return 0;
}

static const char *object_name(const struct rule *r)
{
	return r->pub.object == SCNPM_OBJECT_ELEMENT ? "set" : "chain";
}

/* Collect why a sink refuses a rule, for the one error line that lists them all. */
static int manager_add_refusal(struct manager *m, const char *sink, const char *reason)
{
	char *t = NULL;

	if (asprintf(&t, "%s%s%s: %s", m->refusals ?: "", m->refusals ? "; " : "", sink, reason) < 0)
		return -ENOMEM;
	free(m->refusals);
	m->refusals = t;
	m->n_refusals++;
	return 0;
}

/* Give rule to the first sink (in command-line order) that can express it. */
static int rule_assign_sink(struct manager *m, struct rule *r)
{
	free(m->refusals);
	m->refusals = NULL;

	for (size_t i = 0; i < m->n_sinks; i++) {
		struct module *s = m->sinks[i];
		unsigned reported = m->n_refusals;
		int k;

		k = s->desc->rule_add(s->state, &r->pub);
		if (k >= 0) {
			r->sink = s;
			return 0;
		}
		if (k != -EOPNOTSUPP)
			return log_error_errno(k, "%s:%u: %s cannot take this rule: %m", r->file, r->line,
					       s->name);
		/* a sink that refused without saying why */
		if (m->n_refusals == reported && manager_add_refusal(m, s->name, "cannot express it") < 0)
			return log_oom();
	}
	log_error("%s:%u: no sink can express this rule (%s)", r->file, r->line,
		  m->refusals ?: "no sink loaded");
	return -EOPNOTSUPP;
}

static void rule_release(struct rule *r)
{
	if (r->sink)
		r->sink->desc->rule_remove(r->sink->state, &r->pub);
	r->sink = NULL;
}

/* --flush: empty every chain (or set) a rule names, once each. */
static int manager_flush(struct manager *m)
{
	for (size_t i = 0; i < m->config->n_rules; i++) {
		struct rule *r = m->config->rules[i];
		bool seen = false;
		int k;

		for (size_t j = 0; j < i && !seen; j++) {
			struct rule *o = m->config->rules[j];

			seen = o->sink == r->sink && o->pub.object == r->pub.object &&
			       streq(o->family, r->family) && streq(o->table, r->table) &&
			       streq(o->name, r->name);
		}
		if (seen)
			continue;

		log_debug("Flushing %s %s %s %s", object_name(r), r->family, r->table, r->name);
		k = r->sink->desc->flush(r->sink->state, &r->pub);
		if (k == -ENOENT)
			return log_error_errno(k, "%s:%u: cannot flush %s '%s %s %s': it does not exist "
					       "(start scnpm after the ruleset is loaded, e.g. After=nftables.service)",
					       r->file, r->line, object_name(r), r->family, r->table, r->name);
		if (k < 0)
			return log_error_errno(k, "%s:%u: cannot flush %s '%s %s %s': %m", r->file, r->line,
					       object_name(r), r->family, r->table, r->name);
	}
	return 0;
}

/* Is unit 'name' of manager one of list (-u/-a)? Those name system units, as in the
 * original tool. */
static bool unit_in(char **list, uint32_t manager, const char *name)
{
	return manager != SCNPM_MANAGER_USER && strv_contains(list, name);
}

static bool rule_wanted(const struct rule *r, const struct unit_entry *u)
{
	if (r->generation < u->min_generation)
		return false;
	/* An entry of unknown manager (initial reconcile) cannot expand templates: the
	 * sources report those units with their real manager. */
	if (u->ev.manager == SCNPM_MANAGER_ANY && r->templated)
		return false;
	return rule_matches(r, u->ev.manager, u->ev.uid, u->name);
}

static void dispatch_group(struct manager *m, struct unit_entry *u, struct module *sink,
			   bool templated, struct rule **rules, size_t n_rules)
{
	const struct scnpm_rule **pub;
	struct scnpm_event ev = u->ev;
	size_t n = 0;
	int r;

	pub = calloc(n_rules, sizeof(*pub));
	if (!pub) {
		log_oom();
		return;
	}
	for (size_t i = 0; i < n_rules; i++)
		if (rules[i]->sink == sink && rules[i]->templated == templated)
			pub[n++] = &rules[i]->pub;
	if (n == 0) {
		free(pub);
		return;
	}

	/* A rule whose text does not depend on the unit has one instance, whichever
	 * manager reported the unit. */
	if (!templated) {
		ev.manager = SCNPM_MANAGER_ANY;
		ev.uid = 0;
	}

	log_debug("Unit '%s' (%s): %s %zu rule(s) through %s", u->name, u->key,
		  u->ev.change == SCNPM_UNIT_STOPPED ? "withdrawing" : "applying", n, sink->name);
	r = sink->desc->apply(sink->state, &ev, pub, n);
	if (r < 0)
		log_warning_errno(r, "%s: applying rules for unit '%s' failed, ignoring: %m", sink->name,
				  u->name);
	free(pub);
}

static void manager_want(struct manager *m, bool reload, bool reapply);

static void unit_dispatch(struct manager *m, struct unit_entry *u)
{
	struct rule **rules = NULL;
	size_t n = 0, cap = 0;
	struct rule_list *l;

	/* -u/-a react to what the sources report, never to our own re-apply. */
	if (u->from_event) {
		u->from_event = false;
		if (unit_in(m->opt.reload_units, u->ev.manager, u->name))
			manager_want(m, true, false);
		else if (unit_in(m->opt.reapply_units, u->ev.manager, u->name))
			manager_want(m, false, true);
	}

	l = hashmap_get(m->exact, u->name);
	for (size_t i = 0; i < (l ? l->n : 0) + m->n_globs; i++) {
		struct rule *r = l && i < l->n ? l->rules[i] : m->globs[i - (l ? l->n : 0)];

		if (!rule_wanted(r, u))
			continue;
		if (n == cap) {
			struct rule **t;

			cap = cap ? cap * 2 : 8;
			t = realloc(rules, cap * sizeof(*t));
			if (!t) {
				free(rules);
				log_oom();
				return;
			}
			rules = t;
		}
		rules[n++] = r;
	}
	u->min_generation = 0;
	u->dispatched = true;
	u->dispatched_id = u->ev.cgroup_id;

	for (size_t s = 0; s < m->n_sinks && n > 0; s++) {
		dispatch_group(m, u, m->sinks[s], false, rules, n);
		dispatch_group(m, u, m->sinks[s], true, rules, n);
	}
	free(rules);
	manager_notify_status(m);
}

/* Once its burst is over, a stopped unit has nothing left to remember. */
static void unit_entry_forget_stopped(struct manager *m, struct unit_entry *u)
{
	if (u->ev.change != SCNPM_UNIT_STOPPED)
		return;
	hashmap_remove(m->units, u->key);
	unit_entry_free(u);
}

static int unit_on_cooldown(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct unit_entry *u = userdata;
	struct manager *m = u->manager;

	if (u->pending) {
		u->pending = false;
		unit_dispatch(m, u);
		(void)sd_event_source_set_time(s, usec + m->opt.cooldown_usec);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}

	/* The burst is over. */
	u->timer = sd_event_source_disable_unref(u->timer);
	unit_entry_forget_stopped(m, u);
	return 0;
}

/* Dispatch now, or once the unit's cooldown ends. An urgent dispatch (a new cgroup)
 * goes out at once even within the cooldown, and starts it anew. */
static void unit_trigger(struct manager *m, struct unit_entry *u, uint64_t min_generation,
			 bool urgent)
{
	int r;

	if (u->timer && !urgent) {
		/* Keep the lowest generation asked for since the last dispatch. */
		if (!u->pending || min_generation < u->min_generation)
			u->min_generation = min_generation;
		u->pending = true;
		return;
	}

	if (u->timer && u->pending && u->min_generation < min_generation)
		min_generation = u->min_generation;
	u->pending = false;
	u->min_generation = min_generation;
	unit_dispatch(m, u);

	if (m->opt.cooldown_usec == 0) {
		unit_entry_forget_stopped(m, u);
		return;
	}
	if (u->timer) {
		r = sd_event_source_set_time_relative(u->timer, m->opt.cooldown_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(u->timer, SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(m->event, &u->timer, CLOCK_MONOTONIC,
					       m->opt.cooldown_usec, USEC_PER_MSEC, unit_on_cooldown, u);
		if (r >= 0)
			(void)sd_event_source_set_description(u->timer, "unit-cooldown");
	}
	if (r < 0)
		log_warning_errno(r, "Failed to arm cooldown timer for '%s', ignoring: %m", u->name);
}

static int unit_entry_get(struct manager *m, uint32_t manager, uint32_t uid, const char *name,
			  struct unit_entry **ret)
{
	_cleanup_free_ char *key = NULL;
	struct unit_entry *u;

	if (asprintf(&key, "%" PRIu32 ":%" PRIu32 ":%s", manager, uid, name) < 0)
		return -ENOMEM;
	u = hashmap_get(m->units, key);
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u)
			return -ENOMEM;
		u->manager = m;
		u->key = TAKE_PTR(key);
		u->name = strdup(name);
		if (!u->name || hashmap_put(m->units, u->key, u) < 0) {
			unit_entry_free(u);
			return -ENOMEM;
		}
		u->ev = (struct scnpm_event){
			.size = sizeof(struct scnpm_event),
			.change = SCNPM_UNIT_CHANGED,
			.unit = u->name,
			.manager = manager,
			.uid = uid,
		};
	}
	*ret = u;
	return 0;
}

/*
 * Fold a validated event into the unit's remembered state. Sources that know cgroups
 * (cgroupfs) are the authority on where a unit is, and report themselves when its cgroup
 * goes; an event without cgroup information (the journal) never overrides what one of
 * them said, it only asks to look again. Otherwise a journal "stopped" for the old run
 * of a restarted unit, which arrives after cgroupfs saw the new cgroup, would withdraw
 * the rule for the new one.
 */
static int unit_entry_update(struct unit_entry *u, const struct scnpm_event *ev, const char *path,
			     unsigned level)
{
	uint32_t change = ev->change;

	if (path && change != SCNPM_UNIT_STOPPED) {
		char *p = strdup(path);

		if (!p)
			return -ENOMEM;
		free(u->cgroup_path);
		u->cgroup_path = p;
		u->ev.cgroup_id = ev->cgroup_id;
		u->ev.cgroup_level = level;
	} else if (!path && u->cgroup_path) {
		if (change == SCNPM_UNIT_STOPPED)
			change = SCNPM_UNIT_CHANGED;
	} else if (change == SCNPM_UNIT_STOPPED) {
		free(u->cgroup_path);
		u->cgroup_path = NULL;
		u->ev.cgroup_id = 0;
		u->ev.cgroup_level = 0;
	}

	u->ev.change = change;
	u->ev.cgroup_path = u->cgroup_path;
	u->ev.timestamp = ev->timestamp ?: now_usec();
	return 0;
}

static bool unit_has_rules(struct manager *m, uint32_t manager, uint32_t uid, const char *name)
{
	struct rule_list *l = hashmap_get(m->exact, name);

	for (size_t i = 0; l && i < l->n; i++)
		if (rule_matches(l->rules[i], manager, uid, name))
			return true;
	for (size_t i = 0; i < m->n_globs; i++)
		if (rule_matches(m->globs[i], manager, uid, name))
			return true;
	return false;
}

int manager_handle_event(struct manager *m, struct module *source, const struct scnpm_event *ev)
{
	struct unit_entry *u;
	unsigned level = 0;
	bool urgent;
	int r;

	/* Modules are foreign code and names may come from users: check everything. */
	if (!ev || ev->size < offsetof(struct scnpm_event, timestamp) + sizeof(ev->timestamp)) {
		m->n_dropped++;
		log_warning("%s: dropping malformed event (struct too short)", source->name);
		return -EINVAL;
	}
	if (!scnpm_unit_name_is_valid(ev->unit)) {
		_cleanup_free_ char *esc = ev->unit ? cescape_trunc(ev->unit, 80) : NULL;

		m->n_dropped++;
		log_warning("%s: dropping event for invalid unit name '%s'", source->name,
			    esc ?: "(null)");
		return -EINVAL;
	}
	if (ev->change < SCNPM_UNIT_STARTED || ev->change > SCNPM_UNIT_CHANGED ||
	    ev->manager > SCNPM_MANAGER_USER) {
		m->n_dropped++;
		log_warning("%s: dropping event for '%s' with unknown change %u or manager %u",
			    source->name, ev->unit, (unsigned)ev->change, (unsigned)ev->manager);
		return -EINVAL;
	}
	if (ev->cgroup_path) {
		level = scnpm_cgroup_path_level(ev->cgroup_path);
		if (level == 0 || (ev->cgroup_level != 0 && ev->cgroup_level != level)) {
			_cleanup_free_ char *esc = cescape_trunc(ev->cgroup_path, 120);

			m->n_dropped++;
			log_warning("%s: dropping event for '%s': invalid cgroup path '%s'", source->name,
				    ev->unit, esc ?: "");
			return -EINVAL;
		}
	}

	if (!unit_has_rules(m, ev->manager, ev->manager == SCNPM_MANAGER_USER ? ev->uid : 0, ev->unit) &&
	    !unit_in(m->opt.reload_units, ev->manager, ev->unit) &&
	    !unit_in(m->opt.reapply_units, ev->manager, ev->unit))
		return 0;

	log_debug("%s: unit '%s' %s (manager %u, uid %u%s%s)", source->name, ev->unit,
		  ev->change == SCNPM_UNIT_STARTED   ? "started"
		  : ev->change == SCNPM_UNIT_STOPPED ? "stopped"
						     : "changed",
		  (unsigned)ev->manager, (unsigned)ev->uid, ev->cgroup_path ? ", cgroup " : "",
		  ev->cgroup_path ?: "");

	r = unit_entry_get(m, ev->manager, ev->manager == SCNPM_MANAGER_USER ? ev->uid : 0, ev->unit, &u);
	if (r < 0)
		return log_oom();
	/* A new incarnation of the unit is applied at once, cooldown or not: a cgroup the
	 * sinks have not seen yet (how a cgroup source gets the rule in place before the
	 * unit's first packet), or a start after a stop (the journal's restart). The
	 * cooldown coalesces what adds nothing new. */
	urgent = ev->change != SCNPM_UNIT_STOPPED &&
		 ((ev->cgroup_id != 0 && ev->cgroup_id != u->dispatched_id) ||
		  (ev->change == SCNPM_UNIT_STARTED && u->ev.change == SCNPM_UNIT_STOPPED));
	r = unit_entry_update(u, ev, ev->cgroup_path, level);
	if (r < 0)
		return log_oom();
	u->from_event = true;
	unit_trigger(m, u, 0, urgent);
	return 0;
}

void manager_handle_report(struct manager *m, struct module *sink, const struct scnpm_rule *rule,
			   const struct scnpm_event *unit, uint32_t result, const char *message)
{
	const char *name = unit && unit->unit ? unit->unit : rule->unit;

	switch (result) {
	case SCNPM_RESULT_APPLIED:
		m->n_applied++;
		log_debug("%s:%u: unit '%s': %s", rule->file, rule->line, name,
			  unit && unit->change == SCNPM_UNIT_STOPPED ? "withdrawn" : "applied");
		break;
	case SCNPM_RESULT_SKIPPED:
		m->n_skipped++;
		log_debug("%s:%u: unit '%s': skipped, no such cgroup%s%s", rule->file, rule->line, name,
			  *message ? ": " : "", message);
		break;
	case SCNPM_RESULT_FAILED:
		m->n_failed++;
		log_warning("%s:%u: unit '%s': %s failed to apply the rule: %s", rule->file, rule->line,
			    name, sink->name, *message ? message : "(no reason given)");
		break;
	case SCNPM_RESULT_REFUSED:
		log_debug("%s:%u: %s refuses the rule: %s", rule->file, rule->line, sink->name, message);
		if (manager_add_refusal(m, sink->name, *message ? message : "cannot express it") < 0)
			log_oom();
		break;
	default:
		log_warning("%s: unknown result %u for %s:%u, ignoring", sink->name, (unsigned)result,
			    rule->file, rule->line);
	}
}

static int manager_on_status(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;

	(void)sd_notifyf(false, "STATUS=%zu rules, %zu units tracked; applied %u, skipped %u, failed %u",
			 m->config->n_rules, hashmap_size(m->units), m->n_applied, m->n_skipped,
			 m->n_failed);
	return 0;
}

/* Tell systemd how things stand, at most once a second: a start with thousands of units
 * must not send thousands of messages. */
void manager_notify_status(struct manager *m)
{
	int r;

	if (!m->started)
		return;
	if (!m->status_timer) {
		r = sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC, USEC_PER_SEC,
					       USEC_PER_SEC / 10, manager_on_status, m);
		if (r < 0)
			return;
		(void)sd_event_source_set_description(m->status_timer, "status");
		return;
	}
	if (sd_event_source_get_enabled(m->status_timer, NULL) > 0)
		return; /* due already */
	(void)sd_event_source_set_time_relative(m->status_timer, USEC_PER_SEC);
	(void)sd_event_source_set_enabled(m->status_timer, SD_EVENT_ONESHOT);
}

/* Right now, e.g. with READY=1. */
void manager_notify_status_now(struct manager *m)
{
	(void)manager_on_status(NULL, 0, m);
}

/* Queue a dispatch for every unit: the exact names of the rules (as an entry of unknown
 * manager) and every live unit the sources told us about. With only_new, units the sinks
 * were told about already are left alone (the initial reconcile: sources report what
 * runs while they start, and each of those units was dispatched then). */
static void reapply(struct manager *m, uint64_t min_generation, bool only_new)
{
	struct unit_entry **list = NULL, *u;
	size_t n = 0, i = 0;
	struct rule_list *l;

	while ((l = hashmap_iterate(m->exact, &i, NULL))) {
		if (unit_entry_get(m, SCNPM_MANAGER_ANY, 0, l->name, &u) < 0) {
			log_oom();
			return;
		}
	}

	/* Collect first: a dispatch may free a stopped entry. */
	list = calloc(hashmap_size(m->units) + 1, sizeof(*list));
	if (!list) {
		log_oom();
		return;
	}
	i = 0;
	while ((u = hashmap_iterate(m->units, &i, NULL)))
		if (u->ev.change != SCNPM_UNIT_STOPPED && !(only_new && u->dispatched))
			list[n++] = u;
	for (i = 0; i < n; i++)
		unit_trigger(m, list[i], min_generation, false);
	free(list);
}

void manager_reapply_all(struct manager *m, uint64_t min_generation)
{
	reapply(m, min_generation, false);
}

/* Running rules with the same unit and command, for matching a reloaded config. */
struct rule_slot {
	char *key;
	struct rule **rules;
	size_t n, taken;
};

static void rule_slots_free(struct hashmap *slots)
{
	struct rule_slot *s;
	size_t i = 0;

	while ((s = hashmap_iterate(slots, &i, NULL))) {
		free(s->key);
		free(s->rules);
		free(s);
	}
	hashmap_free(slots);
}

static int rule_slots_build(struct config *c, struct hashmap **ret)
{
	struct hashmap *slots = hashmap_new();

	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_rules; i++) {
		struct rule *o = c->rules[i];
		_cleanup_free_ char *key = NULL;
		struct rule_slot *s;
		struct rule **t;

		if (asprintf(&key, "%s\n%s", o->unit_spec, o->text) < 0)
			goto oom;
		s = hashmap_get(slots, key);
		if (!s) {
			s = calloc(1, sizeof(*s));
			if (!s)
				goto oom;
			s->key = TAKE_PTR(key);
			if (hashmap_put(slots, s->key, s) < 0) {
				free(s->key);
				free(s);
				goto oom;
			}
		}
		t = realloc(s->rules, (s->n + 1) * sizeof(*t));
		if (!t)
			goto oom;
		s->rules = t;
		s->rules[s->n++] = o;
	}
	*ret = slots;
	return 0;
oom:
	rule_slots_free(slots);
	return -ENOMEM;
}

/* Re-read the configuration. On any error keep the running one (and the kernel) as is;
 * otherwise withdraw rules that left it, hand new ones to their sinks and apply them.
 * A rule found again (same unit, same command) keeps its sink state: only its file:line
 * may move. */
int manager_reload(struct manager *m, bool reapply_all)
{
	struct hashmap *slots = NULL;
	uint64_t gen = m->generation + 1;
	size_t n_new = 0, n_gone = 0;
	struct config *c;
	int r;

	log_info("Reloading configuration");
	r = config_load(m, &c);
	if (r < 0) {
		log_error("Reload failed, keeping the running configuration and the applied rules");
		return r;
	}
	r = rule_slots_build(m->config, &slots);
	if (r < 0) {
		config_free(c);
		return log_oom();
	}
	for (size_t i = 0; i < m->config->n_rules; i++)
		m->config->rules[i]->kept = false;

	for (size_t i = 0; i < c->n_rules; i++) {
		struct rule *nr = c->rules[i], *o;
		_cleanup_free_ char *key = NULL;
		struct rule_slot *s;

		if (asprintf(&key, "%s\n%s", nr->unit_spec, nr->text) < 0) {
			r = log_oom();
			goto rollback;
		}
		s = hashmap_get(slots, key);
		if (s && s->taken < s->n) {
			o = s->rules[s->taken++];
			o->kept = true;
			free(o->file);
			o->file = TAKE_PTR(nr->file);
			o->line = nr->line;
			o->pub.file = o->file;
			o->pub.line = o->line;
			rule_free(nr);
			c->rules[i] = o;
			continue;
		}

		nr->generation = gen;
		r = rule_assign_sink(m, nr);
		if (r < 0) {
			log_error("Reload failed, keeping the running configuration and the applied rules");
			goto rollback;
		}
		n_new++;
	}

	/* Success: withdraw what left the configuration. Kept rule objects move to c. */
	for (size_t k = 0; k < m->config->n_rules; k++) {
		struct rule *o = m->config->rules[k];

		if (o->kept)
			continue;
		log_debug("%s:%u: rule for '%s' left the configuration, withdrawing", o->file, o->line,
			  o->unit_spec);
		rule_release(o);
		rule_free(o);
		n_gone++;
	}
	m->config->n_rules = 0;
	config_free(m->config);
	m->config = c;
	m->generation = gen;
	rule_slots_free(slots);

	r = rule_index_build(m);
	if (r < 0)
		return r;

	log_notice("Configuration reloaded: %zu rules, %zu new, %zu withdrawn", c->n_rules, n_new,
		   n_gone);
	if (reapply_all) {
		if (m->opt.flush && manager_flush(m) < 0)
			log_warning("Flushing after reload failed, continuing");
		manager_reapply_all(m, 0);
	} else if (n_new > 0)
		manager_reapply_all(m, gen);
	manager_notify_status(m);
	return 0;

rollback:
	/* Give back what new rules took; old rule objects stay with the running config. */
	for (size_t i = 0; i < c->n_rules; i++) {
		struct rule *x = c->rules[i];

		if (x->kept) {
			x->kept = false;
			c->rules[i] = NULL;
		} else
			rule_release(x);
	}
	config_free(c);
	rule_slots_free(slots);
	return r;
}

static int manager_on_defer(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	bool reload = m->want_reload, reapply = m->want_reapply;

	m->want_reload = m->want_reapply = false;
	if (reload)
		(void)manager_reload(m, true);
	else if (reapply) {
		log_info("Re-applying all rules");
		manager_reapply_all(m, 0);
	}
	return 0;
}

/* Reload or re-apply from the loop, not from inside a dispatch. */
static void manager_want(struct manager *m, bool reload, bool reapply)
{
	int r;

	m->want_reload |= reload;
	m->want_reapply |= reapply;
	if (!m->defer) {
		r = sd_event_add_defer(m->event, &m->defer, manager_on_defer, m);
		if (r < 0) {
			log_warning_errno(r, "Failed to schedule re-apply, ignoring: %m");
			return;
		}
		(void)sd_event_source_set_description(m->defer, "reapply");
	}
	(void)sd_event_source_set_enabled(m->defer, SD_EVENT_ONESHOT);
}

static int module_init(struct module *mod)
{
	int r;

	r = mod->desc->init(&mod->host, &mod->state);
	if (r < 0)
		return log_error_errno(r, "%s: failed to initialize: %m", mod->name);
	mod->initialized = true;
	return 0;
}

static int module_start(struct module *mod)
{
	int r;

	if (!mod->desc->start)
		return 0;
	r = mod->desc->start(mod->state);
	if (r < 0)
		return log_error_errno(r, "%s: failed to start: %m", mod->name);
	return 0;
}

int manager_start(struct manager *m)
{
	int r;

	if (m->n_sinks == 0 || m->n_sources == 0)
		return log_error_errno(-EINVAL, "Need at least one source and one sink module");

	for (size_t i = 0; i < m->n_sinks; i++)
		if ((r = module_init(m->sinks[i])) < 0)
			return r;
	for (size_t i = 0; i < m->n_sources; i++)
		if ((r = module_init(m->sources[i])) < 0)
			return r;

	m->generation = 1;
	for (size_t i = 0; i < m->config->n_rules; i++) {
		m->config->rules[i]->generation = m->generation;
		r = rule_assign_sink(m, m->config->rules[i]);
		if (r < 0)
			return r;
	}
	r = rule_index_build(m);
	if (r < 0)
		return r;

	if (m->opt.flush) {
		r = manager_flush(m);
		if (r < 0)
			return r;
	}

	for (size_t i = 0; i < m->n_sinks; i++)
		if ((r = module_start(m->sinks[i])) < 0)
			return r;
	m->started = true;
	for (size_t i = 0; i < m->n_sources; i++)
		if ((r = module_start(m->sources[i])) < 0)
			return r;

	/* Initial reconcile: every rule once. Units the sources reported while starting
	 * are dispatched already: this only adds the rest. */
	reapply(m, 0, true);
	log_debug("Started: %zu rules, %zu sources, %zu sinks", m->config->n_rules, m->n_sources,
		  m->n_sinks);
	return 0;
}
