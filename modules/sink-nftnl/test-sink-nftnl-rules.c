/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sink-nftnl's rule_add() through the real module and a fake host: what it takes, what
 * it refuses and how. No kernel: rule_add() must not touch it. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "fake-host.h"

static sd_event *event;
static struct fake_host *fh;
static void *dl;
static const struct scnpm_module *mod;
static void *state;

static void setup(void)
{
	cr_assert(eq(int, sd_event_new(&event), 0));
	fh = fake_host_new(event, "sink-nftnl");
	cr_assert(ne(ptr, fh, NULL));
	mod = fake_host_load_module(SINK_NFTNL_PATH, &dl);
	cr_assert(ne(ptr, (void *)mod, NULL));
	fake_host_set_option(fh, "cgroup-root", "/nonexistent");
	cr_assert(eq(int, mod->init(&fh->host, &state), 0));
}

static void teardown(void)
{
	if (mod)
		mod->done(state);
	fh = fake_host_free(fh);
	event = sd_event_unref(event);
	if (dl)
		dlclose(dl);
}

TestSuite(sink_nftnl_rules, .init = setup, .fini = teardown);

static struct scnpm_rule mkrule(uint32_t object, const char *family, const char *table,
				const char *name, const char *body)
{
	return (struct scnpm_rule){
		.size = sizeof(struct scnpm_rule),
		.object = object,
		.unit = "app.service",
		.text = "add ...",
		.family = family,
		.table = table,
		.name = name,
		.body = body,
		.file = "test.conf",
		.line = 1,
	};
}

Test(sink_nftnl_rules, descriptor)
{
	cr_assert(eq(u32, mod->abi, SCNPM_MODULE_ABI));
	cr_assert(eq(u32, mod->kind, SCNPM_MODULE_SINK));
	cr_assert(eq(str, (char *)mod->name, "sink-nftnl"));
	cr_assert(eq(str, (char *)mod->options[0], "cgroup-root"));
	cr_assert(eq(ptr, (void *)mod->options[1], NULL));
	cr_assert(ne(ptr, (void *)mod->apply, NULL));
	cr_assert(ne(ptr, (void *)mod->flush, NULL));
	mod->done(NULL);
}

Test(sink_nftnl_rules, accepts_elements_and_dispatch_rules)
{
	struct scnpm_rule rules[] = {
		mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "allowed", "{ %{cgroup} }"),
		mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "pol", "{ %{cgroup} : jump mail_only }"),
		mkrule(SCNPM_OBJECT_ELEMENT, "ip6", "filter", "pol", "{ %{cgroup} : drop }"),
		mkrule(SCNPM_OBJECT_RULE, "inet", "filter", "out", "socket cgroupv2 level 2 %{cgroup} accept"),
		mkrule(SCNPM_OBJECT_RULE, "ip", "filter", "out", "socket cgroupv2 level %{level} %{cgroup} counter reject"),
		mkrule(SCNPM_OBJECT_RULE, "inet", "filter", "out", "socket cgroupv2 level 5 %{cgroup} goto x"),
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		cr_assert(eq(int, mod->rule_add(state, &rules[i]), 0), "rule %zu", i);
	cr_assert(eq(sz, fake_host_count_reports(fh, NULL, 0), 0));
	/* adding the same rule again is harmless */
	cr_assert(eq(int, mod->rule_add(state, &rules[0]), 0));
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		mod->rule_remove(state, &rules[i]);
}

Test(sink_nftnl_rules, refuses_what_it_cannot_express)
{
	struct scnpm_rule rules[] = {
		mkrule(SCNPM_OBJECT_RULE, "inet", "filter", "out", "socket cgroupv2 level 2 \"system.slice/a.service\" accept"),
		mkrule(SCNPM_OBJECT_RULE, "inet", "filter", "out", "socket cgroupv2 level 2 %{cgroup} tcp dport 25 accept"),
		mkrule(SCNPM_OBJECT_RULE, "inet", "filter", "out", "meta skuid 1000 accept"),
		mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "allowed", "{ \"system.slice/a.service\" }"),
		mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "pol", "{ %{cgroup} : reject }"),
		mkrule(SCNPM_OBJECT_ELEMENT, "inet6", "filter", "allowed", "{ %{cgroup} }"),
		mkrule(SCNPM_OBJECT_ELEMENT, "inet", "", "allowed", "{ %{cgroup} }"),
		mkrule(7, "inet", "filter", "allowed", "{ %{cgroup} }"),
	};

	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct fake_report *r;

		cr_assert(eq(int, mod->rule_add(state, &rules[i]), -EOPNOTSUPP), "rule %zu", i);
		r = fake_host_last_report(fh, &rules[i]);
		cr_assert(ne(ptr, (void *)r, NULL));
		cr_assert(eq(u32, r->result, SCNPM_RESULT_REFUSED));
		cr_assert(eq(ptr, r->unit, NULL));
		cr_assert(eq(str, r->message,
			     "sink-nftnl expresses only element directives and 'socket cgroupv2 level N %{cgroup} VERDICT' rules; use --sink nft"));
	}
	cr_assert(eq(sz, fake_host_count_reports(fh, NULL, 0), sizeof(rules) / sizeof(rules[0])));
}

Test(sink_nftnl_rules, apply_before_start_needs_no_kernel)
{
	struct scnpm_rule rule = mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "allowed", "{ %{cgroup} }");
	struct scnpm_rule other = mkrule(SCNPM_OBJECT_ELEMENT, "inet", "filter", "other", "{ %{cgroup} }");
	const struct scnpm_rule *rules[] = { &rule };
	const struct scnpm_rule *unknown[] = { &other };
	struct scnpm_event unit = {
		.size = sizeof(unit),
		.change = SCNPM_UNIT_STARTED,
		.unit = "app.service",
		.manager = SCNPM_MANAGER_SYSTEM,
		.cgroup_id = 1234,
	};

	cr_assert(eq(int, mod->rule_add(state, &rule), 0));
	/* queued, reported when the batch is acked: nothing yet */
	cr_assert(eq(int, mod->apply(state, &unit, rules, 1), 0));
	cr_assert(eq(sz, fake_host_count_reports(fh, &rule, 0), 0));
	/* a rule the sink never took */
	cr_assert(eq(int, mod->apply(state, &unit, unknown, 1), -EIO));
	cr_assert(eq(u32, fake_host_last_report(fh, &other)->result, SCNPM_RESULT_FAILED));
	/* unknown cgroup path under a root that does not exist: no cgroup */
	unit.cgroup_id = 0;
	unit.cgroup_path = "system.slice/app.service";
	cr_assert(eq(int, mod->apply(state, &unit, rules, 1), 0));
	cr_assert(eq(int, mod->flush(state, &other), -EINVAL));
}
