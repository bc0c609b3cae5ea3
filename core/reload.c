/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reload (SIGHUP, -u): re-read the configuration as a plan, then commit it.
 *
 * The plan matches every directive of the new configuration with a running rule of the
 * same unit and text (kept: its sink state and kernel instances stay, only its file:line
 * moves), or marks it new; running rules not matched are gone. Building it touches
 * nothing that runs. Then the new rules are offered to the sinks (rule_add() never
 * touches the kernel); if one is refused, the ones taken are given back and nothing has
 * changed, file:line included. Only then is the plan committed: kept rules take their new
 * place, the new rules are applied for every unit, and the gone ones are withdrawn, in
 * that order and in the same loop iteration, so that an edited rule has no moment with
 * neither its old nor its new form (and none with both on sinks that send one batch per
 * iteration, as sink-nftnl does).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dispatch.h"
#include "gate.h"
#include "log.h"
#include "manager.h"
#include "unit.h"
#include "util.h"

struct reload_plan {
	struct config *next;
	struct rule **kept;	/* per rule of next: the running rule it is, or NULL when new */
	bool *taken;		/* per running rule: matched */
	size_t n_new, n_gone;
};

static void plan_done(struct reload_plan *p)
{
	config_free(p->next);
	free(p->kept);
	free(p->taken);
}

/* Running rules by "unit\ntext", in order, to match duplicates one to one. */
static int plan_build(struct manager *m, struct reload_plan *p)
{
	struct config *cur = m->config;

	p->kept = calloc(p->next->n_rules + 1, sizeof(*p->kept));
	p->taken = calloc(cur->n_rules + 1, sizeof(*p->taken));
	if (!p->kept || !p->taken)
		return -ENOMEM;

	for (size_t i = 0; i < p->next->n_rules; i++) {
		struct rule *nr = p->next->rules[i];

		for (size_t k = 0; k < cur->n_rules; k++) {
			struct rule *o = cur->rules[k];

			if (p->taken[k] || !streq(o->unit_spec, nr->unit_spec) || !streq(o->text, nr->text))
				continue;
			p->taken[k] = true;
			p->kept[i] = o;
			break;
		}
		if (!p->kept[i])
			p->n_new++;
	}
	for (size_t k = 0; k < cur->n_rules; k++)
		if (!p->taken[k])
			p->n_gone++;
	return 0;
}

/* Offer the new rules to the sinks. On failure give back what was taken. */
static int plan_take(struct manager *m, struct reload_plan *p, uint64_t gen)
{
	for (size_t i = 0; i < p->next->n_rules; i++) {
		struct rule *nr = p->next->rules[i];
		int r;

		if (p->kept[i])
			continue;
		nr->generation = gen;
		r = manager_assign_sink(m, nr);
		if (r < 0) {
			for (size_t j = 0; j < i; j++)
				if (!p->kept[j])
					manager_release_rule(m, p->next->rules[j]);
			return r;
		}
	}
	return 0;
}

/* Kept rules move into the new configuration (with their new file:line); returns the
 * gone ones, still with their sinks. */
static struct rule **plan_commit(struct manager *m, struct reload_plan *p)
{
	struct config *cur = m->config;
	struct rule **gone;
	size_t n = 0;

	gone = calloc(p->n_gone + 1, sizeof(*gone));
	if (!gone)
		return NULL;
	for (size_t i = 0; i < p->next->n_rules; i++) {
		struct rule *o = p->kept[i], *nr = p->next->rules[i];

		if (!o)
			continue;
		free(o->file);
		o->file = TAKE_PTR(nr->file);
		o->line = nr->line;
		o->pub.file = o->file;
		o->pub.line = o->line;
		rule_free(nr);
		p->next->rules[i] = o;
	}
	for (size_t k = 0; k < cur->n_rules; k++)
		if (!p->taken[k])
			gone[n++] = cur->rules[k];

	cur->n_rules = 0; /* its rules live on in next or in gone */
	config_free(cur);
	m->config = TAKE_PTR(p->next);
	return gone;
}

int manager_reload(struct manager *m, bool reapply_all)
{
	struct reload_plan p = {};
	uint64_t gen = m->generation + 1;
	_cleanup_free_ struct rule **gone = NULL;
	size_t n_new, n_gone;
	int r;

	log_info("Reloading configuration");
	r = manager_parse_config(m, &p.next);
	if (r >= 0) {
		r = plan_build(m, &p);
		if (r < 0)
			log_oom();
	}
	if (r >= 0)
		r = plan_take(m, &p, gen);
	if (r >= 0) {
		gone = plan_commit(m, &p);
		if (!gone) {
			/* nothing taken can be given back cleanly after this point: say so */
			for (size_t i = 0; i < p.next->n_rules; i++)
				if (!p.kept[i])
					manager_release_rule(m, p.next->rules[i]);
			r = log_oom();
		}
	}
	if (r < 0) {
		plan_done(&p);
		log_struct(LOG_ERR, &((struct log_fields){ .message_id = SCNPM_MESSAGE_RELOAD_FAILED }),
			   "Reload failed, keeping the running configuration%s",
			   reapply_all ? "; re-applying its rules" : " and the applied rules");
		if (reapply_all)
			manager_reapply_all(m);
		return r;
	}
	n_new = p.n_new;
	n_gone = p.n_gone;
	plan_done(&p);
	m->generation = gen;
	if (rule_index_build(&m->index, m->config) < 0)
		log_oom();

	/* new ones in first, then the gone ones out: no moment without either */
	if (reapply_all)
		dispatch_all(m, DISPATCH_FORCE, 0);
	else if (n_new > 0)
		dispatch_all(m, 0, gen);
	for (size_t k = 0; k < n_gone; k++) {
		log_debug("%s:%u: rule for '%s' left the configuration, withdrawing", gone[k]->file,
			  gone[k]->line, gone[k]->unit_spec);
		manager_release_rule(m, gone[k]);
		rule_free(gone[k]);
	}
	unit_prune(m, manager_wants_unit);
	/* a gate no gated directive covers any more opens */
	gate_schedule_check(m);
	m->reloaded_usec = now_realtime_usec();
	log_struct(LOG_NOTICE, &((struct log_fields){ .message_id = SCNPM_MESSAGE_RELOADED }),
		   "Configuration reloaded: %zu rules, %zu new, %zu withdrawn", m->config->n_rules,
		   n_new, n_gone);
	manager_notify_status(m);
	return 0;
}
