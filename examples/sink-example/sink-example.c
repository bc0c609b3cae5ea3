/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-example: a third-party sink, built out of tree against the installed SDK
 * (scnpm-module.pc), to start a module of your own from.
 *
 * It writes nothing anywhere: for every rule the core asks it to apply it logs the nft
 * command it would run for the unit's current cgroup (placeholders expanded), and for a
 * stopped unit what it would withdraw.
 * Options: verb=WORD, the first word of each log line (default "would").
 * Event sources: none (a real sink adds its netlink socket to host->event in start()).
 * Failure policy: never fails; a rule that needs a cgroup the unit does not have is
 * reported SKIPPED, one whose placeholders cannot be expanded FAILED.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/template.h>

struct example_sink {
	const struct scnpm_host *host;	/* borrowed, valid until done() */
	const char *verb;		/* borrowed from host->option() */
	size_t n_rules;			/* rules currently given to us */
};

static const char *const example_sink_options[] = { "verb", NULL };

static int example_sink_init(const struct scnpm_host *h, void **ret_state)
{
	struct example_sink *s;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;
	s->verb = h->option(h, "verb");
	if (!s->verb || !*s->verb)
		s->verb = "would";
	*ret_state = s;
	return 0;
}

static void example_sink_done(void *state)
{
	free(state);
}

static int example_sink_rule_add(void *state, const struct scnpm_rule *rule)
{
	struct example_sink *s = state;

	s->n_rules++;
	scnpm_debug(s->host, "Taking %s:%u: %s", rule->file, rule->line, rule->text);
	return 0;
}

static void example_sink_rule_remove(void *state, const struct scnpm_rule *rule)
{
	struct example_sink *s = state;

	s->n_rules--;
	scnpm_info(s->host, "%s withdraw everything for %s:%u: %s", s->verb, rule->file, rule->line,
		   rule->text);
}

static int example_sink_apply(void *state, const struct scnpm_event *unit,
			      const struct scnpm_rule *const *rules, size_t n_rules)
{
	struct example_sink *s = state;

	for (size_t i = 0; i < n_rules; i++) {
		const struct scnpm_rule *rule = rules[i];
		_cleanup_free_ char *cmd = NULL;
		int r;

		if (unit->change == SCNPM_UNIT_STOPPED) {
			scnpm_info(s->host, "%s withdraw for '%s': %s", s->verb, unit->unit, rule->text);
			s->host->report(s->host, rule, unit, SCNPM_RESULT_APPLIED, NULL);
			continue;
		}

		r = scnpm_template_expand(rule->text, unit, &cmd);
		if (r == -ENODATA) {
			s->host->report(s->host, rule, unit, SCNPM_RESULT_SKIPPED, NULL);
			continue;
		}
		if (r < 0) {
			s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
					"cannot expand placeholders: %s", strerror(-r));
			continue;
		}
		scnpm_info(s->host, "%s apply for '%s' (cgroup %s): %s", s->verb, unit->unit,
			   unit->cgroup_path ?: "unknown", cmd);
		s->host->report(s->host, rule, unit, SCNPM_RESULT_APPLIED, NULL);
	}
	return 0;
}

static int example_sink_flush(void *state, const struct scnpm_rule *rule)
{
	struct example_sink *s = state;

	scnpm_info(s->host, "%s flush %s %s %s", s->verb, rule->family, rule->table, rule->name);
	return 0;
}

SCNPM_MODULE_DEFINE = {
	.abi = SCNPM_MODULE_ABI,
	.size = sizeof(struct scnpm_module),
	.kind = SCNPM_MODULE_SINK,
	.name = "sink-example",
	.description = "logs what it would apply, applies nothing",
	.options = example_sink_options,
	.init = example_sink_init,
	.done = example_sink_done,
	.rule_add = example_sink_rule_add,
	.rule_remove = example_sink_rule_remove,
	.apply = example_sink_apply,
	.flush = example_sink_flush,
};
