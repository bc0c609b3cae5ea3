/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-test: a stand-in sink for testing the core's routing. It applies nothing to any
 * kernel: it writes every call it gets to a log file and keeps the set of instances it
 * "holds" (rule text + unit identity + cgroup) in a second file, rewritten after every
 * call, so a test can assert both on what the core asked and on the resulting state.
 *
 * Options: log=PATH (required; the held state goes to PATH.held), refuse=SUBSTRING
 * (refuse rules whose text contains it), fail=SUBSTRING (report FAILED when applying
 * them), missing=NAME (flush() of that chain says -ENOENT), silent=SUBSTRING (hold
 * them but never report: a kernel that does not answer).
 *
 * inspect() answers from what it holds (its "kernel"), with the cgroup id each instance
 * was applied for; health() reports how many instances it holds and how often it was
 * asked to inspect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/template.h>

struct instance {
	const struct scnpm_rule *rule;
	uint32_t manager, uid;
	char *unit;
	char *text;
	uint64_t cgroup_id;
};

struct test_sink {
	const struct scnpm_host *host;
	FILE *log;
	char *held_path;
	const char *refuse, *fail, *missing, *silent;
	struct instance *inst;
	size_t n_inst;
	uint64_t n_inspected;
	char object[512];
};

static void test_sink_write_held(struct test_sink *s)
{
	FILE *f = fopen(s->held_path, "we");

	if (!f)
		return;
	for (size_t i = 0; i < s->n_inst; i++)
		fprintf(f, "%s %u:%u :: %s\n", s->inst[i].unit, s->inst[i].manager, s->inst[i].uid,
			s->inst[i].text);
	fclose(f);
	fflush(s->log);
}

static int test_sink_init(const struct scnpm_host *h, void **ret)
{
	const char *log = h->option(h, "log");
	struct test_sink *s;

	if (!log)
		return scnpm_error_errno(h, -EINVAL, "option log= is required");
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;
	s->log = fopen(log, "ae");
	if (!s->log || asprintf(&s->held_path, "%s.held", log) < 0) {
		if (s->log)
			fclose(s->log);
		free(s);
		return -errno;
	}
	s->refuse = h->option(h, "refuse");
	s->fail = h->option(h, "fail");
	s->missing = h->option(h, "missing");
	s->silent = h->option(h, "silent");
	*ret = s;
	return 0;
}

static void test_sink_done(void *state)
{
	struct test_sink *s = state;

	if (!s)
		return;
	for (size_t i = 0; i < s->n_inst; i++) {
		free(s->inst[i].unit);
		free(s->inst[i].text);
	}
	free(s->inst);
	free(s->held_path);
	fclose(s->log);
	free(s);
}

static int test_sink_rule_add(void *state, const struct scnpm_rule *rule)
{
	struct test_sink *s = state;

	if (s->refuse && *s->refuse && strstr(rule->text, s->refuse)) {
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_REFUSED, "test sink refuses '%s'",
				s->refuse);
		return -EOPNOTSUPP;
	}
	fprintf(s->log, "rule_add %s:%u %s\n", rule->file, rule->line, rule->text);
	fflush(s->log);
	return 0;
}

static void test_sink_drop(struct test_sink *s, size_t i)
{
	free(s->inst[i].unit);
	free(s->inst[i].text);
	s->inst[i] = s->inst[--s->n_inst];
}

static void test_sink_rule_remove(void *state, const struct scnpm_rule *rule)
{
	struct test_sink *s = state;

	fprintf(s->log, "rule_remove %s\n", rule->text);
	for (size_t i = s->n_inst; i > 0; i--)
		if (s->inst[i - 1].rule == rule)
			test_sink_drop(s, i - 1);
	test_sink_write_held(s);
}

static int test_sink_apply(void *state, const struct scnpm_event *u,
			   const struct scnpm_rule *const *rules, size_t n)
{
	struct test_sink *s = state;

	for (size_t k = 0; k < n; k++) {
		const struct scnpm_rule *rule = rules[k];
		char *text = NULL;
		int r;

		for (size_t i = s->n_inst; i > 0; i--) {
			struct instance *x = &s->inst[i - 1];

			if (x->rule == rule && x->manager == u->manager && x->uid == u->uid &&
			    strcmp(x->unit, u->unit) == 0)
				test_sink_drop(s, i - 1);
		}
		fprintf(s->log, "apply %s %u:%u %s %s :: %s\n", u->unit, u->manager, u->uid,
			u->change == SCNPM_UNIT_STARTED ? "started"
			: u->change == SCNPM_UNIT_STOPPED ? "stopped"
							  : "changed",
			u->cgroup_path ?: "-", rule->text);
		if (u->change == SCNPM_UNIT_STOPPED) {
			s->host->report(s->host, rule, u, SCNPM_RESULT_APPLIED, NULL);
			continue;
		}
		r = scnpm_template_expand(rule->text, u, &text);
		if (r == -ENODATA) {
			s->host->report(s->host, rule, u, SCNPM_RESULT_SKIPPED, NULL);
			continue;
		}
		if (r < 0)
			return r;
		if (s->fail && *s->fail && strstr(text, s->fail)) {
			s->host->report(s->host, rule, u, SCNPM_RESULT_FAILED, "test sink fails '%s'",
					s->fail);
			free(text);
			continue;
		}
		{
			struct instance *t = realloc(s->inst, (s->n_inst + 1) * sizeof(*t));

			if (!t) {
				free(text);
				return -ENOMEM;
			}
			s->inst = t;
			s->inst[s->n_inst++] = (struct instance){
				.rule = rule,
				.manager = u->manager,
				.uid = u->uid,
				.unit = strdup(u->unit),
				.text = text,
				.cgroup_id = u->cgroup_id,
			};
		}
		if (s->silent && *s->silent && strstr(rule->text, s->silent))
			continue;
		s->host->report(s->host, rule, u, SCNPM_RESULT_APPLIED, NULL);
	}
	test_sink_write_held(s);
	return 0;
}

static int test_sink_flush(void *state, const struct scnpm_rule *rule)
{
	struct test_sink *s = state;

	fprintf(s->log, "flush %s %s %s\n", rule->family, rule->table, rule->name);
	fflush(s->log);
	if (s->missing && strcmp(s->missing, rule->name) == 0)
		return -ENOENT;
	return 0;
}

static int test_sink_inspect(void *state, const struct scnpm_rule *rule,
			     const struct scnpm_event *u, struct scnpm_inspect *ret)
{
	struct test_sink *s = state;

	s->n_inspected++;
	for (size_t i = 0; i < s->n_inst; i++) {
		struct instance *x = &s->inst[i];

		if (x->rule != rule || x->manager != u->manager || x->uid != u->uid ||
		    strcmp(x->unit, u->unit) != 0)
			continue;
		snprintf(s->object, sizeof(s->object), "test %s", x->text);
		ret->state = SCNPM_KERNEL_PRESENT;
		ret->cgroup_id = x->cgroup_id;
		ret->has_counter = 1;
		ret->packets = 7;
		ret->bytes = 700;
		ret->object = s->object;
		return 0;
	}
	ret->state = SCNPM_KERNEL_ABSENT;
	return -ENOENT;
}

static int test_sink_health(void *state)
{
	struct test_sink *s = state;

	s->host->health_put(s->host, "instances", s->n_inst);
	s->host->health_put(s->host, "inspected", s->n_inspected);
	s->host->health_put(s->host, "Bad Key", 1); /* refused by the host */
	return 0;
}

static const char *const test_sink_options[] = { "log", "refuse", "fail", "missing", "silent", NULL };

SCNPM_MODULE_DEFINE = {
	.abi = SCNPM_MODULE_ABI,
	.size = sizeof(struct scnpm_module),
	.kind = SCNPM_MODULE_SINK,
	.name = "sink-test",
	.description = "Test stand-in: records what it is asked to apply",
	.options = test_sink_options,
	.init = test_sink_init,
	.done = test_sink_done,
	.rule_add = test_sink_rule_add,
	.rule_remove = test_sink_rule_remove,
	.apply = test_sink_apply,
	.flush = test_sink_flush,
	.inspect = test_sink_inspect,
	.health = test_sink_health,
};
