/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft keeps the kernel right by itself, against a real kernel: an unchanged state
 * sends nothing; rules deleted by others (flush chain, delete, flush ruleset, a table gone
 * and back) are restored, exactly once, foreign rules untouched; a restart of the module
 * adopts what is still right and sweeps its own leftovers; an edited rule is replaced in
 * one transaction.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "test-sink-nft-fixture.h"

TestSuite(sink_nft_heal, .init = setup, .fini = teardown);

#define RULE "socket cgroupv2 level %{level} %{cgroup} counter accept"

/* Run the loop (timers included) until pred() holds, for at most ~5 s. */
static int run_until(int (*pred)(void))
{
	for (int k = 0; k < 500; k++) {
		if (pred())
			return 1;
		(void)sd_event_run(fx.event, 10 * 1000);
	}
	return pred();
}

/* The foreign rules of chain c, as listed, in order, joined: compared byte for byte.
 * Without their handles: the tests that replace the ruleset make them anew. */
static void foreign_listing(char *out, size_t size)
{
	char lines[64][512];
	size_t n = list_rules(lines, NULL, 64), len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (strstr(lines[i], "scnpm:"))
			continue;
		*strstr(lines[i], " # handle ") = '\0';
		len += (size_t)snprintf(out + len, size - len, "%s\n", lines[i]);
	}
}

static int two_of_ours(void)
{
	return count_rules("scnpm:") == 2;
}

static struct scnpm_rule r_heal[1];
static struct scnpm_event ev_a, ev_b;
static char foreign_before[8192];

/* Two units with our rule, between two foreign rules. */
static void two_units_between_foreign_rules(void)
{
	const char *a = cg_mkdir("a.service"), *b = cg_mkdir("b.service");

	nft_ok("add rule inet scnpmt c tcp dport 1 accept comment \"foreign first\"");
	r_heal[0] = mkrule(1, RULE);
	add_rules(r_heal, 1);
	ev_a = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);
	ev_b = unit_ev(SCNPM_UNIT_STARTED, "b.service", b);
	apply(&ev_a, r_heal, 1);
	apply(&ev_b, r_heal, 1);
	nft_ok("add rule inet scnpmt c tcp dport 2 accept comment \"foreign last\"");
	cr_assert(eq(sz, count_rules("scnpm:"), 2));
	foreign_listing(foreign_before, sizeof(foreign_before));
}

static void assert_restored(void)
{
	char foreign_after[8192];

	cr_assert(run_until(two_of_ours), "our two rules are back");
	settle();
	cr_assert(eq(sz, count_rules("scnpm:"), 2), "exactly once");
	cr_assert(eq(sz, count_rules("a.service\""), 1));
	cr_assert(eq(sz, count_rules("b.service\""), 1));
	foreign_listing(foreign_after, sizeof(foreign_after));
	cr_assert(eq(str, foreign_after, foreign_before), "foreign rules untouched");
	cr_assert(ge(sz, fake_host_count_logs(fx.fh, LOG_NOTICE, "Restored"), 1));
}

Test(sink_nft_heal, unchanged_state_sends_nothing)
{
	uint64_t before[64], after[64];
	size_t n;
	uint32_t gen;

	two_units_between_foreign_rules();
	n = list_rules(NULL, before, 64);
	gen = ruleset_gen();

	apply(&ev_a, r_heal, 1);
	apply(&ev_b, r_heal, 1);
	ev_a.change = SCNPM_UNIT_CHANGED;
	apply(&ev_a, r_heal, 1);
	cr_assert(eq(u32, result_of(&r_heal[0]), SCNPM_RESULT_APPLIED));
	cr_assert(ne(ptr, strstr(fake_host_last_report(fx.fh, &r_heal[0])->message, "unchanged"),
		     NULL));

	/* No transaction at all: same handles, same places, same counters. */
	cr_assert(eq(u32, ruleset_gen(), gen));
	cr_assert(eq(sz, list_rules(NULL, after, 64), n));
	for (size_t i = 0; i < n; i++)
		cr_assert(eq(u64, after[i], before[i]));
}

Test(sink_nft_heal, restores_after_flush_chain)
{
	two_units_between_foreign_rules();
	nft_ok("flush chain inet scnpmt c");
	nft_ok("add rule inet scnpmt c tcp dport 1 accept comment \"foreign first\"");
	nft_ok("add rule inet scnpmt c tcp dport 2 accept comment \"foreign last\"");
	assert_restored();
}

Test(sink_nft_heal, restores_a_rule_deleted_by_hand)
{
	char lines[64][512];
	uint64_t handles[64];
	size_t n;

	two_units_between_foreign_rules();
	n = list_rules(lines, handles, 64);
	for (size_t i = 0; i < n; i++)
		if (strstr(lines[i], "a.service\""))
			nft_ok("delete rule inet scnpmt c handle %" PRIu64, handles[i]);
	cr_assert(eq(sz, count_rules("scnpm:"), 1));
	assert_restored();
}

Test(sink_nft_heal, restores_after_flush_ruleset_and_reload)
{
	two_units_between_foreign_rules();
	/* what 'systemctl restart nftables' does with Debian's nftables.conf */
	nft_ok("flush ruleset\nadd table inet scnpmt\nadd chain inet scnpmt c\n"
	       "add rule inet scnpmt c tcp dport 1 accept comment \"foreign first\"\n"
	       "add rule inet scnpmt c tcp dport 2 accept comment \"foreign last\"\n");
	assert_restored();
}

Test(sink_nft_heal, fills_a_chain_when_it_comes_back)
{
	two_units_between_foreign_rules();
	nft_ok("delete table inet scnpmt");
	/* Nothing to restore into: said once, nothing else happens. */
	for (int k = 0; k < 10; k++)
		(void)sd_event_run(fx.event, 10 * 1000);
	cr_assert(ge(sz, fake_host_count_logs(fx.fh, LOG_NOTICE, "does not exist"), 1));

	nft_ok("add table inet scnpmt\nadd chain inet scnpmt c\n"
	       "add rule inet scnpmt c tcp dport 1 accept comment \"foreign first\"\n"
	       "add rule inet scnpmt c tcp dport 2 accept comment \"foreign last\"\n");
	assert_restored();
}

static int stale_gone(void)
{
	return count_rules("stale") == 0;
}

Test(sink_nft_heal, restart_adopts_what_is_right_and_sweeps_leftovers)
{
	uint64_t before[64], after[64];
	char foreign_after[8192];
	size_t n;
	uint32_t gen;

	two_units_between_foreign_rules();
	/* A leftover of an earlier run: tagged, wanted by nobody. */
	nft_ok("add rule inet scnpmt c tcp dport 3 accept comment \"stale scnpm:0123456789abcdef\"");
	n = list_rules(NULL, before, 64);

	/* As after kill -9 or an upgrade: the module comes up again, the rules are still
	 * there, and the core applies the same state. */
	restart_module();
	add_rules(r_heal, 1);
	gen = ruleset_gen();
	apply(&ev_a, r_heal, 1);
	apply(&ev_b, r_heal, 1);
	cr_assert(eq(u32, result_of(&r_heal[0]), SCNPM_RESULT_APPLIED));
	cr_assert(ne(ptr, strstr(fake_host_last_report(fx.fh, &r_heal[0])->message, "in place"),
		     NULL));
	cr_assert(eq(u32, ruleset_gen(), gen), "adopting sends nothing");
	cr_assert(eq(sz, list_rules(NULL, after, 64), n));
	for (size_t i = 0; i < n; i++)
		cr_assert(eq(u64, after[i], before[i]));

	/* A moment later the leftover goes, and only it. */
	cr_assert(run_until(stale_gone), "the stale tagged rule is swept");
	cr_assert(eq(sz, count_rules("scnpm:"), 2));
	foreign_listing(foreign_after, sizeof(foreign_after));
	cr_assert(eq(str, foreign_after, foreign_before));

	/* Still tracked: a stop withdraws them. */
	ev_a.change = ev_b.change = SCNPM_UNIT_STOPPED;
	apply(&ev_a, r_heal, 1);
	apply(&ev_b, r_heal, 1);
	cr_assert(eq(sz, count_rules("scnpm:"), 0));
}

Test(sink_nft_heal, restart_replaces_a_rule_whose_cgroup_was_replaced)
{
	const char *a;

	two_units_between_foreign_rules();
	fx.m->done(fx.state);
	fx.state = NULL;
	/* While scnpm is not running, a.service restarts: same path, new cgroup. */
	cg_rmdir("a.service");
	a = cg_mkdir("a.service");
	cr_assert(eq(int, fx.m->init(&fx.fh->host, &fx.state), 0));
	cr_assert(eq(int, fx.m->start(fx.state), 0));
	add_rules(r_heal, 1);
	ev_a = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);
	apply(&ev_a, r_heal, 1);
	cr_assert(ne(ptr, strstr(fake_host_last_report(fx.fh, &r_heal[0])->message, "added"), NULL));
	apply(&ev_b, r_heal, 1);
	cr_assert(run_until(two_of_ours));
	/* the old rule, for the dead id, is a leftover: swept */
	cr_assert(eq(sz, count_rules("scnpm:"), 2));
	cr_assert(eq(sz, count_rules("a.service\""), 1));
}

Test(sink_nft_heal, edited_rule_is_added_before_the_old_form_is_deleted)
{
	const char *a = cg_mkdir("a.service");
	struct scnpm_rule r[2] = {mkrule(1, RULE), mkrule(1, "socket cgroupv2 level %{level} %{cgroup} drop")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);
	const struct scnpm_rule *next = &r[1];
	uint32_t gen;

	add_rules(r, 1);
	apply(&ev, r, 1);
	gen = ruleset_gen();

	/* What a reload does in one loop iteration: the new rule in, then the old one out
	 * (a batch of our own, checked against the generation): never neither. */
	cr_assert(eq(int, fx.m->rule_add(fx.state, &r[1]), 0));
	cr_assert(eq(int, fx.m->apply(fx.state, &ev, &next, 1), 0));
	fx.m->rule_remove(fx.state, &r[0]);
	settle();
	cr_assert(eq(u32, ruleset_gen(), gen + 2), "the add, then the delete");
	cr_assert(eq(sz, count_rules(NULL), 1));
	cr_assert(eq(sz, count_rules("drop"), 1));
}

Test(sink_nft_heal, a_queued_delete_never_hits_a_rule_that_took_its_handle)
{
	const char *a = cg_mkdir("a.service");
	struct scnpm_rule r[1] = {mkrule(1, RULE)};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);
	uint64_t ours;
	size_t n;

	add_rules(r, 1);
	apply(&ev, r, 1);
	cr_assert(eq(sz, list_rules(NULL, &ours, 1), 1));

	/* The directive leaves the config (its delete is queued for the next sync), and
	 * before that sync the ruleset is replaced and a foreign rule gets our handle. */
	fx.m->rule_remove(fx.state, &r[0]);
	n = foreign_rules_up_to_handle(ours);
	settle();
	cr_assert(eq(sz, count_rules("foreign"), n), "the foreign rule at handle %" PRIu64 " survives", ours);
}

Test(sink_nft_heal, one_failing_add_leaves_the_others_applied)
{
	const char *a = cg_mkdir("a.service");
	struct scnpm_rule r[2] = {mkrule(1, RULE), mkrule(2, "accept")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);

	r[1].name = "nochain";
	r[1].text = "add rule inet scnpmt nochain accept";
	add_rules(r, 2);
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_FAILED));

	/* Again: r[0] is unchanged, r[1]'s add is the batch's only command and fails. */
	ev.change = SCNPM_UNIT_CHANGED;
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(ne(ptr, strstr(fake_host_last_report(fx.fh, &r[0])->message, "unchanged"), NULL));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_FAILED));

	/* the chain appears: the waiting rule goes in by itself */
	nft_ok("add chain inet scnpmt nochain");
	for (int k = 0; k < 50; k++)
		(void)sd_event_run(fx.event, 10 * 1000);
	nft_ctx_output_set_flags(fx.nft, 0);
	cr_assert(eq(int, nft_run_cmd_from_buffer(fx.nft, "list chain inet scnpmt nochain"), 0));
	cr_assert(ne(ptr, strstr(nft_ctx_get_output_buffer(fx.nft), "scnpm:"), NULL));
}

/* "scnpm status": inspect() reads the kernel at that moment, not the sink's memory; a
 * rule deleted by hand reads as absent until the sink put it back, which it reports as
 * RESTORED and counts. */
Test(sink_nft_heal, inspect_reads_back_from_the_kernel)
{
	struct scnpm_inspect k = {.size = sizeof(k)};
	struct scnpm_event ev_c = unit_ev(SCNPM_UNIT_STARTED, "c.service", NULL);
	uint64_t handle, v;

	two_units_between_foreign_rules();
	cr_assert(eq(int, fx.m->inspect(fx.state, &r_heal[0], &ev_a, &k), 0));
	cr_assert(eq(u32, k.state, SCNPM_KERNEL_PRESENT));
	cr_assert(eq(u64, k.cgroup_id, ev_a.cgroup_id));
	cr_assert(ne(u64, k.handle, 0));
	cr_assert(eq(u32, k.has_counter, 1));
	cr_assert(eq(u32, k.pending, 0));
	cr_assert(ne(ptr, strstr(k.object, "rule inet scnpmt c handle"), NULL));
	handle = k.handle;

	/* deleted by hand, the loop not yet run: the sink still believes it is there */
	nft_ok("delete rule inet scnpmt c handle %" PRIu64, handle);
	k = (struct scnpm_inspect){.size = sizeof(k)};
	cr_assert(eq(int, fx.m->inspect(fx.state, &r_heal[0], &ev_a, &k), 0));
	cr_assert(eq(u32, k.state, SCNPM_KERNEL_ABSENT));
	k = (struct scnpm_inspect){.size = sizeof(k)};
	cr_assert(eq(int, fx.m->inspect(fx.state, &r_heal[0], &ev_b, &k), 0));
	cr_assert(eq(u32, k.state, SCNPM_KERNEL_PRESENT), "the other unit's is untouched");

	cr_assert(run_until(two_of_ours));
	cr_assert(eq(u32, result_of(&r_heal[0]), SCNPM_RESULT_RESTORED));
	k = (struct scnpm_inspect){.size = sizeof(k)};
	cr_assert(eq(int, fx.m->inspect(fx.state, &r_heal[0], &ev_a, &k), 0));
	cr_assert(eq(u32, k.state, SCNPM_KERNEL_PRESENT));
	cr_assert(eq(u64, k.cgroup_id, ev_a.cgroup_id));

	cr_assert(eq(int, fake_host_health(fx.fh, fx.m, fx.state), 0));
	cr_assert(fake_host_health_get(fx.fh, "restored", &v));
	cr_assert(eq(u64, v, 1));
	cr_assert(fake_host_health_get(fx.fh, "instances", &v));
	cr_assert(eq(u64, v, 2));
	cr_assert(fake_host_health_get(fx.fh, "lost", &v));
	cr_assert(fake_host_health_get(fx.fh, "del_refused", &v));
	cr_assert(fake_host_health_get(fx.fh, "last_repair_realtime_usec", &v));
	cr_assert(ne(u64, v, 0));

	/* an instance the sink does not hold */
	k = (struct scnpm_inspect){.size = sizeof(k)};
	cr_assert(eq(int, fx.m->inspect(fx.state, &r_heal[0], &ev_c, &k), -ENOENT));
	cr_assert(eq(u32, k.state, SCNPM_KERNEL_ABSENT));
}
