/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The manager owns the configuration and routes unit events to rules:
 *
 *   source --emit()--> validate --> unit entry (coalesce, cooldown) --> matching rules
 *          --> sink->apply(unit state, rules of that sink)
 *
 * A unit entry is keyed by (manager, uid, unit name) and remembers the unit's latest
 * state. The first event of a burst is dispatched at once; events that arrive within the
 * cooldown are folded into the entry and dispatched once when it ends. Sinks are
 * level-triggered: each dispatch says "make the kernel match this state", so coalescing
 * loses nothing.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include <scnpm/module.h>

#include "config.h"
#include "hashmap.h"
#include "loader.h"

struct manager_options {
	uint64_t cooldown_usec;
	bool flush;
	char **reload_units;	/* -u: re-read config and re-apply all on their events */
	char **reapply_units;	/* -a: re-apply all on their events */
	char **config_files;
};

struct manager {
	sd_event *event;
	struct manager_options opt;

	struct module **sources, **sinks;
	size_t n_sources, n_sinks;

	struct config *config;
	struct hashmap *exact;	/* unit name -> struct rule_list, rules naming it exactly */
	struct rule **globs;	/* rules with a unit glob */
	size_t n_globs;
	uint64_t generation;

	struct hashmap *units;	/* "manager:uid:name" -> struct unit_entry */

	sd_event_source *defer;	/* runs deferred reload/reapply */
	sd_event_source *status_timer;	/* STATUS= to systemd, at most once a second */
	bool want_reload, want_reapply;
	bool started;

	/* refusals collected from sinks while assigning rules */
	char *refusals;
	unsigned n_refusals;

	unsigned n_applied, n_skipped, n_failed, n_dropped;
};

int manager_new(sd_event *e, const struct manager_options *opt, struct manager **ret);
struct manager *manager_free(struct manager *m);

/* Load a module into the manager (takes ownership). */
int manager_add_module(struct manager *m, struct module *mod);

/* Parse the configuration files. Error: -errno, logged with file:line. */
int manager_load_config(struct manager *m);

/* init modules, give rules to sinks, --flush, start sinks then sources, queue every rule
 * once (initial reconcile). Error: -errno, logged. */
int manager_start(struct manager *m);

/* Re-read the configuration (SIGHUP). Keeps everything as it is on error. */
int manager_reload(struct manager *m, bool reapply_all);

/* Queue every rule once more (-a, after -u). */
void manager_reapply_all(struct manager *m, uint64_t min_generation);

/* From host.c */
int manager_handle_event(struct manager *m, struct module *source, const struct scnpm_event *ev);
void manager_handle_report(struct manager *m, struct module *sink, const struct scnpm_rule *rule,
			   const struct scnpm_event *unit, uint32_t result, const char *message);

void manager_notify_status(struct manager *m);
void manager_notify_status_now(struct manager *m);

/* Host table setup for a module (host.c). */
void host_setup(struct module *mod, struct manager *m);
