/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include <scnpm/unit-name.h>

#include "applied.h"
#include "cgroup-tree.h"
#include "dispatch.h"
#include "gate.h"
#include "log.h"
#include "manager.h"
#include "unit.h"
#include "util.h"

int manager_new(sd_event *e, const struct manager_options *opt, struct manager **ret)
{
	struct manager *m;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->event = sd_event_ref(e);
	m->opt = *opt;
	if (!m->opt.cgroup_root)
		m->opt.cgroup_root = "/sys/fs/cgroup";
	m->units = hashmap_new();
	m->applied = hashmap_new();
	m->gates = hashmap_new();
	m->cgroup_root_fd = m->frozen_dir_fd = m->gate_inotify_fd = -EBADF;
	m->config = config_new();
	if (!m->units || !m->applied || !m->gates || !m->config) {
		manager_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

struct manager *manager_free(struct manager *m)
{
	if (!m)
		return NULL;
	/* no unit stays frozen by an scnpm that is gone */
	gate_free_all(m);
	unit_free_all(m);
	applied_free_all(m);
	rule_index_clear(&m->index);
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
	strv_free(m->missing_sinks);
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

int manager_parse_config(struct manager *m, struct config **ret)
{
	struct config *c;
	int r = 0;

	c = config_new();
	if (!c)
		return log_oom();
	m->n_config_errors = 0;
	STRV_FOREACH(f, m->opt.config_files) {
		_cleanup_free_ char *error = NULL;
		int k;

		k = config_parse_file(c, *f, &error);
		if (k < 0 && error)
			/* one log line per mistake, all of them, every file */
			for (char *line = error, *next; line; line = next) {
				next = strchr(line, '\n');
				if (next)
					*next++ = '\0';
				log_error("%s", line);
				m->n_config_errors++;
			}
		else if (k < 0) {
			log_error_errno(k, "%s: %m", *f);
			m->n_config_errors++;
		}
		if (k == -ENOMEM) {
			config_free(c);
			return log_oom();
		}
		if (k < 0 && r == 0)
			r = k;
	}
	if (r < 0 && !m->checking) {
		config_free(c);
		return r;
	}
	*ret = c; /* --check goes on with the directives that parsed */
	return r;
}

void manager_warn_no_directives(const struct manager *m)
{
	_cleanup_free_ char *files = NULL;

	if (!m->opt.config_files)
		return;
	files = strv_join(m->opt.config_files, ", ");
	log_warning("No directives ('# UNIT :: add rule ...' comments) in %s: there are no rules to keep",
		    files ?: "the configuration");
}

int manager_load_config(struct manager *m)
{
	struct config *c;
	int r;

	r = manager_parse_config(m, &c);
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
int manager_assign_sink(struct manager *m, struct rule *r)
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
	if (m->missing_sinks) {
		_cleanup_free_ char *missing = strv_join(m->missing_sinks, ", ");

		log_error("%s:%u: no sink can express this rule (%s); not installed: %s", r->file,
			  r->line, m->refusals ?: "no sink loaded", missing ?: "?");
	} else
		log_error("%s:%u: no sink can express this rule (%s)", r->file, r->line,
			  m->refusals ?: "no sink loaded");
	return -EOPNOTSUPP;
}

void manager_release_rule(struct manager *m, struct rule *r)
{
	if (r->sink)
		r->sink->desc->rule_remove(r->sink->state, &r->pub);
	r->sink = NULL;
	applied_forget_rule(m, r);
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

static void manager_want(struct manager *m, bool reload, bool reapply, bool resync);

void manager_unit_reported(struct manager *m, struct unit *u)
{
	if (unit_in(m->opt.reload_units, u->kind, u->name))
		manager_want(m, true, false, false);
	else if (unit_in(m->opt.reapply_units, u->kind, u->name))
		manager_want(m, false, true, false);
}

static bool manager_wants(struct manager *m, uint32_t kind, uint32_t uid, const char *name)
{
	return rule_index_wants(&m->index, kind, uid, name) || unit_in(m->opt.reload_units, kind, name) ||
	       unit_in(m->opt.reapply_units, kind, name);
}

bool manager_wants_unit(struct manager *m, const struct unit *u)
{
	return manager_wants(m, u->kind, u->uid, u->name);
}

static int drop(struct manager *m, struct module *source, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int drop(struct manager *m, struct module *source, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	m->n_dropped++;
	log_warning("%s: dropping %s", source->name, msg);
	return -EINVAL;
}

int manager_handle_event(struct manager *m, struct module *source, const struct scnpm_event *ev)
{
	uint32_t kind, uid;
	struct unit *u;
	bool urgent;

	/* Modules are foreign code and names may come from users: check everything. */
	if (!ev || ev->size < offsetof(struct scnpm_event, timestamp) + sizeof(ev->timestamp))
		return drop(m, source, "malformed event (struct too short)");
	if (!scnpm_unit_name_is_valid(ev->unit)) {
		_cleanup_free_ char *esc = ev->unit ? cescape_trunc(ev->unit, 80) : NULL;

		return drop(m, source, "event for invalid unit name '%s'", esc ?: "(null)");
	}
	if (ev->change < SCNPM_UNIT_STARTED || ev->change > SCNPM_UNIT_CHANGED ||
	    ev->manager > SCNPM_MANAGER_USER)
		return drop(m, source, "event for '%s' with unknown change %u or manager %u", ev->unit,
			    (unsigned)ev->change, (unsigned)ev->manager);
	kind = ev->manager;
	uid = kind == SCNPM_MANAGER_USER ? ev->uid : 0;
	if (ev->cgroup_path) {
		unsigned level = scnpm_cgroup_path_level(ev->cgroup_path);
		uint32_t owner, owner_uid;
		const char *owner_unit;

		if (level == 0 || (ev->cgroup_level != 0 && ev->cgroup_level != level)) {
			_cleanup_free_ char *esc = cescape_trunc(ev->cgroup_path, 120);

			return drop(m, source, "event for '%s': invalid cgroup path '%s'", ev->unit,
				    esc ?: "");
		}
		/* The path must be that unit's in that manager: a user owns the subtree of
		 * their manager and names its cgroups, nothing more. */
		if (cgroup_path_owner(ev->cgroup_path, &owner, &owner_uid, &owner_unit) < 0 ||
		    !streq(owner_unit, ev->unit) ||
		    (kind != SCNPM_MANAGER_ANY && (owner != kind || owner_uid != uid))) {
			_cleanup_free_ char *esc = cescape_trunc(ev->cgroup_path, 120);

			return drop(m, source, "event for '%s' (manager %u, uid %u): cgroup '%s' is not that unit's",
				    ev->unit, (unsigned)kind, (unsigned)uid, esc ?: "");
		}
		kind = owner;
		uid = owner_uid;
	}

	if (!manager_wants(m, kind, uid, ev->unit))
		return 0;

	log_debug("%s: unit '%s' %s (manager %u, uid %u%s%s)", source->name, ev->unit,
		  ev->change == SCNPM_UNIT_STARTED   ? "started"
		  : ev->change == SCNPM_UNIT_STOPPED ? "stopped"
						     : "changed",
		  (unsigned)kind, (unsigned)uid, ev->cgroup_path ? ", cgroup " : "",
		  ev->cgroup_path ?: "");

	u = unit_get(m, kind, uid, ev->unit, true);
	if (!u)
		return -ENOMEM;
	/* -u/-a: at once, from the loop (one reload for a burst in one iteration), never
	 * from a unit's cooldown, so that the last re-apply follows the last event */
	manager_unit_reported(m, u);

	/* A new incarnation goes out at once, cooldown or not: a cgroup the sinks were not
	 * told about (how a cgroup source gets the rule in place before the unit's first
	 * packet), or a start after the last look found none (the journal's restart). */
	if (ev->cgroup_path && ev->change != SCNPM_UNIT_STOPPED) {
		uint64_t id = ev->cgroup_id;
		char *p = strdup(ev->cgroup_path);

		if (!p)
			return log_oom();
		free(u->cgroup_hint);
		u->cgroup_hint = p;
		if (id == 0 && cgroup_tree_id(m->opt.cgroup_root, p, &id) < 0)
			id = 0;
		urgent = id != u->cgroup_id;
		/* before anything is applied, so that nothing of it runs before */
		if (urgent)
			gate_new_cgroup(m, u, p, id);
	} else
		urgent = ev->change == SCNPM_UNIT_STARTED && (u->stop_reported || !u->present);
	u->stop_reported = ev->change == SCNPM_UNIT_STOPPED;

	/* What the sources report while they start (source-cgroupfs's scan of the tree)
	 * waits for the initial reconcile, which dispatches every unit once, in one pass,
	 * with no cooldown begun: dispatching it here too would look at each cgroup twice. */
	if (m->reconciled)
		unit_triggered(u, urgent);
	gate_schedule_check(m);
	return 0;
}

void manager_handle_report(struct manager *m, struct module *sink, const struct scnpm_rule *rule,
			   const struct scnpm_event *unit, uint32_t result, const char *message)
{
	const char *name = unit && unit->unit ? unit->unit : rule->unit;
	struct applied *a = NULL;
	struct log_fields f = {
		.unit = name,
		.manager = unit ? unit->manager : SCNPM_MANAGER_ANY,
		.uid = unit ? unit->uid : 0,
		.rule_file = rule->file,
		.rule_line = rule->line,
		.cgroup_id = unit ? unit->cgroup_id : 0,
	};
	const char *sep = *message ? ": " : "";
	bool news = true;

	if (m->checking && result == SCNPM_RESULT_FAILED) {
		log_error("%s:%u: %s", rule->file, rule->line, *message ? message : "(no reason given)");
		return;
	}
	if (m->checking && result == SCNPM_RESULT_SKIPPED) {
		log_notice("%s:%u: %s", rule->file, rule->line, message);
		return;
	}
	if (unit && unit->unit && result != SCNPM_RESULT_REFUSED)
		a = applied_find(m, container_of(rule, struct rule, pub), unit->manager, unit->uid,
				 unit->unit);
	if (a) {
		f.cgroup_id = f.cgroup_id ?: a->cgroup_id;
		news = applied_report(a, result, message);
		/* the kernel's ack of a gated rule may open its gate */
		gate_schedule_check(m);
	}

	switch (result) {
	case SCNPM_RESULT_APPLIED:
		m->n_applied++;
		if (unit && unit->change == SCNPM_UNIT_STOPPED) {
			f.message_id = SCNPM_MESSAGE_WITHDRAWN;
			log_struct(LOG_INFO, &f, "%s:%u: unit '%s': withdrawn%s%s", rule->file,
				   rule->line, name, sep, message);
		} else if (news) {
			f.message_id = SCNPM_MESSAGE_APPLIED;
			log_struct(LOG_INFO, &f, "%s:%u: unit '%s': applied%s%s", rule->file, rule->line,
				   name, sep, message);
		} else
			log_debug("%s:%u: unit '%s': unchanged%s%s", rule->file, rule->line, name, sep,
				  message);
		break;
	case SCNPM_RESULT_RESTORED:
		m->n_applied++;
		f.message_id = SCNPM_MESSAGE_RESTORED;
		log_struct(LOG_NOTICE, &f, "%s:%u: unit '%s': restored after someone else deleted it%s%s",
			   rule->file, rule->line, name, sep, message);
		break;
	case SCNPM_RESULT_SKIPPED:
		m->n_skipped++;
		f.message_id = SCNPM_MESSAGE_SKIPPED;
		log_struct(news ? LOG_INFO : LOG_DEBUG, &f, "%s:%u: unit '%s': skipped, no such cgroup%s%s",
			   rule->file, rule->line, name, sep, message);
		break;
	case SCNPM_RESULT_FAILED:
		m->n_failed++;
		f.message_id = SCNPM_MESSAGE_FAILED;
		log_struct(LOG_WARNING, &f, "%s:%u: unit '%s': %s failed to apply the rule: %s",
			   rule->file, rule->line, name, sink->name,
			   *message ? message : "(no reason given)");
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

/* "12 rules, 30 units; 0 failed": what is in place now, not counts since the start. */
int manager_status_line(struct manager *m, char **ret)
{
	struct hashmap *units = hashmap_new();
	size_t i = 0, n_failed = 0, n_units;
	struct applied *a;
	char *key;
	int r = 0;

	if (!units)
		return -ENOMEM;
	while ((a = hashmap_iterate(m->applied, &i, NULL))) {
		if (a->last_result == SCNPM_RESULT_FAILED)
			n_failed++;
		if (a->last_result != SCNPM_RESULT_APPLIED)
			continue;
		/* a literal rule's subject (manager ANY) is its system unit */
		if (asprintf(&key, "%" PRIu32 ":%s", a->manager == SCNPM_MANAGER_USER ? a->uid + 1 : 0,
			     a->subject) < 0) {
			r = -ENOMEM;
			break;
		}
		/* the map's keys are its values: freed below */
		if (hashmap_put(units, key, key) < 0)
			free(key);
	}
	n_units = hashmap_size(units);
	i = 0;
	while ((key = hashmap_iterate(units, &i, NULL)))
		free(key);
	hashmap_free(units);
	if (r < 0)
		return r;
	if (asprintf(ret, "%zu rule%s, %zu unit%s; %zu failed", m->config->n_rules,
		     m->config->n_rules == 1 ? "" : "s", n_units, n_units == 1 ? "" : "s",
		     n_failed) < 0)
		return -ENOMEM;
	if (m->n_gates > 0 || m->n_gates_failed > 0) {
		char *t = NULL;

		if (asprintf(&t, "%s; %" PRIu64 " gated, %" PRIu64 " late, %zu frozen%s", *ret,
			     m->n_gates, m->n_gates_late, hashmap_size(m->gates),
			     m->n_gates_failed > 0 ? ", gates failing (see the log)" : "") < 0) {
			free(*ret);
			*ret = NULL;
			return -ENOMEM;
		}
		free(*ret);
		*ret = t;
	}
	return 0;
}

void manager_log_status(struct manager *m)
{
	_cleanup_free_ char *line = NULL;
	struct applied *a;
	size_t i = 0;

	if (manager_status_line(m, &line) < 0) {
		log_oom();
		return;
	}
	log_notice("Status: %s (details: scnpm status)", line);
	while ((a = hashmap_iterate(m->applied, &i, NULL)))
		if (a->last_result == SCNPM_RESULT_FAILED)
			log_notice("%s:%u: unit '%s': failed: %s", a->rule->file, a->rule->line,
				   a->subject, a->message ?: "(no reason given)");
}

static int manager_on_status(sd_event_source *s, uint64_t usec, void *userdata)
{
	_cleanup_free_ char *line = NULL;

	if (manager_status_line(userdata, &line) >= 0)
		(void)sd_notifyf(false, "STATUS=%s", line);
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

void manager_reapply_all(struct manager *m)
{
	dispatch_all(m, DISPATCH_FORCE, 0);
}

static int manager_on_defer(sd_event_source *s, void *userdata)
{
	struct manager *m = userdata;
	bool reload = m->want_reload, reapply = m->want_reapply, resync = m->want_resync;

	m->want_reload = m->want_reapply = m->want_resync = false;
	/* each of these looks at every unit: the first one does the work of the others */
	if (reload)
		(void)manager_reload(m, true);
	else if (reapply) {
		log_info("Re-applying all rules");
		manager_reapply_all(m);
	} else if (resync) {
		log_debug("Looking at every unit again");
		dispatch_all(m, 0, 0);
	}
	return 0;
}

/* Reload, re-apply or resync from the loop, not from inside a dispatch. */
static void manager_want(struct manager *m, bool reload, bool reapply, bool resync)
{
	int r;

	m->want_reload |= reload;
	m->want_reapply |= reapply;
	m->want_resync |= resync;
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

void manager_want_resync(struct manager *m, struct module *source)
{
	log_debug("%s: events may have been lost, looking at every unit again", source->name);
	manager_want(m, false, false, true);
}

int module_init(struct module *mod)
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
		r = manager_assign_sink(m, m->config->rules[i]);
		if (r < 0)
			return r;
	}
	r = rule_index_build(&m->index, m->config);
	if (r < 0)
		return log_oom();

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

	m->started_usec = now_realtime_usec();
	/* Initial reconcile: every rule once, for every unit, those the sources reported
	 * while starting included. */
	dispatch_all(m, 0, 0);
	m->reconciled = true;
	/* from here on a new cgroup is a unit starting, not one that ran before us */
	m->gates_armed = true;
	gate_check_sources(m);
	log_debug("Started: %zu rules, %zu sources, %zu sinks", m->config->n_rules, m->n_sources,
		  m->n_sinks);
	return 0;
}
