/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns the configuration, the modules and the router:
 *
 *   source --emit()--> validate --> unit entry (unit.h: cooldown) --> dispatch.h: look
 *   at the cgroup tree, compare with what the sinks were told (applied.h) --> sink->apply()
 *   for what differs
 *
 * Events are hints: what is applied follows the cgroup tree at the moment of applying
 * (cgroup-tree.h), never what an event claims. The rule index (rule-index.h) answers
 * "which rules match this unit"; a reload (reload.c) is planned in full before anything
 * that runs is touched. This file: module lifecycle, event intake, results, status and
 * -u/-a.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include <scnpm/module.h>

#include "config.h"
#include "freezer.h"
#include "hashmap.h"
#include "loader.h"
#include "rule-index.h"

#define GATE_HOLDS 1024

struct unit;

/* A global pass (a start, re-apply, reload) logs this many instances it applied one by
 * one (at info level, a unit's history in the journal); the rest in one line. Thousands
 * of lines at once would cost more than the pass and run into journald's rate limit,
 * which then drops what comes next. */
#define MANAGER_PASS_LOG_MAX 256

struct manager_options {
	uint64_t cooldown_usec;
	bool flush;
	char **reload_units;	/* -u: re-read config and re-apply all on their events */
	char **reapply_units;	/* -a: re-apply all on their events */
	char **config_files;
	const char *cgroup_root;	/* the cgroup2 mount (borrowed) */
	uint64_t gate_deadline_usec;	/* --gate-deadline; 0: GATE_DEADLINE_DEFAULT_USEC */
	const char *frozen_dir;	/* records of frozen cgroups; NULL: RUNTIME_DIRECTORY/frozen */
};

struct manager {
	sd_event *event;
	struct manager_options opt;

	struct module **sources, **sinks;
	size_t n_sources, n_sinks;

	struct config *config;
	struct rule_index index;
	uint64_t generation;
	unsigned pass;		/* numbers passes over rules (struct rule.mark) */

	/* During a global pass (dispatch_all): units looked up in the tree so far, and once
	 * there were a few, one walk of the whole tree that answers the rest. */
	bool global_pass;
	unsigned n_pass_lookups;
	/* "applied" lines the last global passes logged one by one, and those past
	 * MANAGER_PASS_LOG_MAX logged at debug level only, told in one line */
	unsigned n_pass_logged, n_pass_unlogged;
	struct cgroup_snapshot *snapshot;

	struct hashmap *units;	/* "manager:uid:name" -> struct unit (unit.h) */
	struct unit *cool_head, *cool_tail;	/* units in their cooldown, by its end */
	sd_event_source *cool_timer;	/* the head's end */
	struct hashmap *applied;	/* -> struct applied (applied.h) */
	struct hashmap *applied_subjects;	/* the subjects with records in place (applied.c) */
	bool applied_subjects_stale;	/* out of memory while counting: count again */
	size_t n_records_failed;	/* records whose last report was FAILED */

	sd_event_source *defer;	/* runs deferred reload/reapply */
	sd_event_source *status_timer;	/* STATUS= to systemd, at most once a second */
	bool want_reload, want_reapply, want_resync;
	bool started;
	bool reconciled;	/* the initial reconcile is done: events are dispatched */
	bool checking;		/* --check: reports are the check's findings */
	unsigned n_config_errors; /* logged by the last manager_parse_config() */

	/* default sinks that are not installed ("sink-nftnl (package scnpm-sink-nftnl)"),
	 * named when a directive needs one */
	char **missing_sinks;
	/* refusals collected from sinks while assigning rules */
	char *refusals;
	unsigned n_refusals;

	unsigned n_applied, n_skipped, n_failed, n_dropped;

	/* Gates (gate.h) */
	struct hashmap *gates;	/* cgroup id -> struct gate */
	sd_event_source *gate_defer;
	int cgroup_root_fd, frozen_dir_fd;	/* -EBADF until the first gate */
	int gate_inotify_fd;	/* IN_MODIFY on each gate's cgroup.freeze; -EBADF until used */
	sd_event_source *gate_inotify;
	struct freezer *freezer;	/* writes cgroup.freeze off the loop; NULL until used */
	bool gates_armed;	/* after the initial reconcile: new cgroups are gated */
	bool gate_record_warned;
	uint64_t n_gates;		/* cgroups frozen */
	uint64_t n_gates_late;		/* ... after a process had joined */
	uint64_t n_gates_expired;	/* deadlines passed */
	uint64_t n_gates_thawed_early;	/* thawed before all their rules were in */
	uint64_t n_gates_held;		/* kept frozen (keep-frozen) */
	uint64_t n_gates_frozen_by_others;	/* not gated: frozen already */
	uint64_t n_gates_skipped;	/* not gated: GATES_MAX */
	uint64_t n_gates_failed;	/* not gated: cgroup.freeze could not be written */
	uint64_t n_gates_taken;		/* ended by someone else's write to cgroup.freeze */
	bool gate_failed_hinted;	/* the first failure said why, the next ones do not */
	uint64_t gate_frozen_usec_total, gate_frozen_usec_max;
	/* how long the last GATE_HOLDS gates held their unit (a ring), for p50/p99 */
	uint64_t gate_holds[GATE_HOLDS];
	uint64_t n_gate_holds;	/* recorded ever: the ring holds the last min(n, GATE_HOLDS) */
	uint64_t started_usec, reloaded_usec;	/* CLOCK_REALTIME; 0: not yet */

	/* While health_module's health() runs: where its host->health_put() goes. */
	struct module *health_module;
	void (*health_put)(void *userdata, const char *key, uint64_t value);
	void *health_userdata;
};

int manager_new(sd_event *e, const struct manager_options *opt, struct manager **ret);
struct manager *manager_free(struct manager *m);

/* Load a module into the manager (takes ownership). */
int manager_add_module(struct manager *m, struct module *mod);

/* Parse the configuration files. Error: -errno, logged with file:line. */
int manager_load_config(struct manager *m);
/* The same into a new config, leaving the running one alone. With checking set, *ret
 * holds the directives that parsed even when others did not. */
int manager_parse_config(struct manager *m, struct config **ret);

/* init modules, give rules to sinks, --flush, start sinks then sources, apply every rule
 * (initial reconcile). Error: -errno, logged. */
/* --check (check.c): parse every config, offer each directive to the sinks
 * (initialized, never started) and let them dry-run it; every error logged with
 * file:line. Returns how many sinks took part (0: they could not be initialized here,
 * the check was syntax only), or -errno when anything would be refused. */
int manager_check(struct manager *m);
/* mod->desc->init(), logged on failure. 0 or -errno. */
int module_init(struct module *mod);
/* The warning for a configuration without a single directive. */
void manager_warn_no_directives(const struct manager *m);
int manager_start(struct manager *m);

/* Re-read the configuration (SIGHUP, -u). Nothing that runs changes on error; with
 * reapply_all everything is re-applied either way (-u: the firewall was reloaded). */
int manager_reload(struct manager *m, bool reapply_all);

/* Re-apply every rule for every unit now (-a, after -u). */
void manager_reapply_all(struct manager *m);
/* A source may have lost events: look at every unit again from the loop (host resync()). */
void manager_want_resync(struct manager *m, struct module *source);

/* Give rule to the first sink (in command-line order) that can express it. */
int manager_assign_sink(struct manager *m, struct rule *r);
/* A rule leaves: its sink withdraws it. */
void manager_release_rule(struct manager *m, struct rule *r);

/* From host.c */
int manager_handle_event(struct manager *m, struct module *source, const struct scnpm_event *ev);
void manager_handle_report(struct manager *m, struct module *sink, const struct scnpm_rule *rule,
			   const struct scnpm_event *unit, uint32_t result, const char *message);

/* Does any rule, -u or -a still want events of u? */
bool manager_wants_unit(struct manager *m, const struct unit *u);

/* A source reported u (-u/-a look at this). */
void manager_unit_reported(struct manager *m, struct unit *u);

/* "12 rules, 30 units; 0 failed" (STATUS=, SIGUSR1). */
int manager_status_line(struct manager *m, char **ret);
/* SIGUSR1: the status line and what failed, in the log. */
void manager_log_status(struct manager *m);
void manager_notify_status(struct manager *m);
void manager_notify_status_now(struct manager *m);

/* Host table setup for a module (host.c). */
void host_setup(struct module *mod, struct manager *m);
