/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft against a real kernel: applying, restarts, stops, foreign rules, failures.
 * The fixture (namespaces, cgroups, the module behind a fake host) is in
 * test-sink-nft-fixture.c; self-healing and ownership are in test-sink-nft-heal.c.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "heap-use.h"
#include "test-sink-nft-fixture.h"

TestSuite(sink_nft, .init = setup, .fini = teardown);

Test(sink_nft, applies_for_existing_cgroup)
{
	const char *cg = cg_mkdir("a.service");
	char body[256], quoted[160];
	struct scnpm_rule r[2];
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	snprintf(body, sizeof(body), "socket cgroupv2 level 2 \"%s\" counter accept", cg);
	r[0] = mkrule(1, body);
	r[1] = mkrule(2, "socket cgroupv2 level %{level} %{cgroup} tcp dport 25 accept");
	add_rules(r, 2);

	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_APPLIED));
	snprintf(quoted, sizeof(quoted), "\"%s\"", cg);
	cr_assert(eq(sz, count_rules(NULL), 2));
	cr_assert(eq(sz, count_rules(quoted), 2));
	cr_assert(eq(sz, count_rules("tcp dport 25 accept"), 1));

	/* Idempotent: the same state again leaves the same two rules. */
	apply(&ev, r, 2);
	cr_assert(eq(sz, fake_host_count_reports(fx.fh, NULL, SCNPM_RESULT_APPLIED), 2));
	cr_assert(eq(sz, count_rules(NULL), 2));
}

Test(sink_nft, skipped_for_missing_cgroup)
{
	struct scnpm_rule r[2];
	char body[256];
	struct scnpm_event ev;

	snprintf(body, sizeof(body), "socket cgroupv2 level 2 \"%s/gone.service\" accept",
		 fx.slice);
	r[0] = mkrule(1, body);
	r[1] = mkrule(2, "socket cgroupv2 level %{level} %{cgroup} accept");
	add_rules(r, 2);

	/* Initial reconcile: no cgroup known. */
	ev = unit_ev(SCNPM_UNIT_CHANGED, "gone.service", NULL);
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_SKIPPED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_SKIPPED));

	/* A path that does not exist (any more) */
	snprintf(body, sizeof(body), "%s/gone.service", fx.slice);
	ev = unit_ev(SCNPM_UNIT_STARTED, "gone.service", body);
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_SKIPPED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_SKIPPED));
	cr_assert(ne(ptr,
		     strstr(fake_host_last_report(fx.fh, &r[1])->message, "cgroupv2 path fails"),
		     NULL));
	cr_assert(eq(sz, count_rules(NULL), 0));
}

Test(sink_nft, restart_reapplies_exactly_one_rule)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[1] = {mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	char quoted[160];

	snprintf(quoted, sizeof(quoted), "\"%s\"", cg);
	add_rules(r, 1);
	apply(&ev, r, 1);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));

	for (int k = 0; k < 3; k++) {
		struct stat before, after;
		char path[256];

		snprintf(path, sizeof(path), CG_ROOT "/%s", cg);
		cr_assert(eq(int, stat(path, &before), 0));
		cg_rmdir("a.service");
		cg_mkdir("a.service");
		cr_assert(eq(int, stat(path, &after), 0));
		cr_assert(ne(u64, (uint64_t)before.st_ino, (uint64_t)after.st_ino),
			  "new cgroup, new id");

		ev = unit_ev(SCNPM_UNIT_CHANGED, "a.service", cg);
		apply(&ev, r, 1);
		cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
		/* Exactly one rule, and it names the live cgroup (a stale one would be
		 * listed by its dead numeric id). */
		cr_assert(eq(sz, count_rules(NULL), 1));
		cr_assert(eq(sz, count_rules(quoted), 1));
	}
}

Test(sink_nft, restart_into_missing_cgroup_withdraws)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[2] = {
	    mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept"),
	    mkrule(2, "socket cgroupv2 level %{level} %{cgroup} drop"),
	};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	add_rules(r, 2);
	apply(&ev, r, 2);
	cr_assert(eq(sz, count_rules(NULL), 2));

	/* The unit's cgroup vanished before we got to re-apply: the batch (two deletes,
	 * two adds) fails; one at a time the old instances still go. */
	cg_rmdir("a.service");
	ev = unit_ev(SCNPM_UNIT_CHANGED, "a.service", cg);
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_SKIPPED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_SKIPPED));
	cr_assert(eq(sz, count_rules(NULL), 0));
}

Test(sink_nft, stop_withdraws)
{
	const char *cg = cg_mkdir("a.service");
	char body[256];
	struct scnpm_rule r[2];
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	snprintf(body, sizeof(body), "socket cgroupv2 level 2 \"%s\" accept", cg);
	r[0] = mkrule(1, body);
	r[1] = mkrule(2, "socket cgroupv2 level %{level} %{cgroup} counter drop");
	add_rules(r, 2);
	nft_ok("add rule inet scnpmt c tcp dport 4242 accept comment \"not scnpm\"");

	apply(&ev, r, 2);
	cr_assert(eq(sz, count_rules(NULL), 3));

	ev.change = SCNPM_UNIT_STOPPED;
	apply(&ev, r, 2);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, count_rules(NULL), 1));
	cr_assert(eq(sz, count_rules("not scnpm"), 1));

	/* Stopping again has nothing to withdraw. */
	apply(&ev, r, 2);
	cr_assert(eq(sz, fake_host_count_reports(fx.fh, NULL, SCNPM_RESULT_APPLIED), 2));
	cr_assert(eq(sz, count_rules(NULL), 1));
}

Test(sink_nft, keyed_by_manager_and_uid)
{
	const char *cg_sys = cg_mkdir("a.service");
	const char *cg_usr = cg_mkdir("b.slice");
	struct scnpm_rule r[1] = {mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept")};
	struct scnpm_event sys = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg_sys);
	struct scnpm_event usr = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg_usr);

	usr.manager = SCNPM_MANAGER_USER;
	usr.uid = 1000;
	add_rules(r, 1);
	apply(&sys, r, 1);
	apply(&usr, r, 1);
	cr_assert(eq(sz, count_rules(NULL), 2));

	usr.change = SCNPM_UNIT_STOPPED;
	apply(&usr, r, 1);
	cr_assert(eq(sz, count_rules(NULL), 1));
	cr_assert(eq(sz, count_rules("a.service\""), 1));
}

Test(sink_nft, foreign_rule_at_old_handle_survives)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[1] = {mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	uint64_t ours, handles[64];
	char lines[64][512];
	size_t n;

	add_rules(r, 1);
	apply(&ev, r, 1);
	cr_assert(eq(sz, list_rules(NULL, &ours, 1), 1));

	/* Ruleset replaced, as by 'nft -f' of a file starting with 'flush ruleset':
	 * the same table and chain come back and someone else's rule gets our old
	 * handle number. */
	nft_ok("flush ruleset\nadd table inet scnpmt\nadd chain inet scnpmt c\n");
	for (int k = 0;; k++) {
		cr_assert(lt(int, k, 32), "never got handle %" PRIu64, ours);
		nft_ok("add rule inet scnpmt c tcp dport %d accept comment \"foreign\"", 1000 + k);
		n = list_rules(NULL, handles, 64);
		if (handles[n - 1] >= ours)
			break;
	}
	cr_assert(eq(u64, handles[n - 1], ours), "foreign rule must get our old handle number");

	/* The sink learns about it from the notifications: on the loop ... */
	cr_assert(ge(int, sd_event_run(fx.event, 0), 1));

	/* ... and the stop must not delete the foreign rule. */
	ev.change = SCNPM_UNIT_STOPPED;
	apply(&ev, r, 1);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, list_rules(lines, handles, 64), n));
	cr_assert(eq(u64, handles[n - 1], ours));
	cr_assert(ne(ptr, strstr(lines[n - 1], "foreign"), NULL));

	/* Starting again adds ours next to it. */
	ev.change = SCNPM_UNIT_STARTED;
	apply(&ev, r, 1);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, count_rules("foreign"), n));
	cr_assert(eq(sz, count_rules(NULL), n + 1));
}

Test(sink_nft, foreign_rule_survives_without_the_loop)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[1] = {mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	uint64_t ours, h;

	add_rules(r, 1);
	apply(&ev, r, 1);
	cr_assert(eq(sz, list_rules(NULL, &ours, 1), 1));

	/* Same as above, but the loop never runs between the replace and the restart:
	 * apply() itself reads the pending notifications before deleting. */
	nft_ok("flush ruleset\nadd table inet scnpmt\nadd chain inet scnpmt c\n");
	for (int k = 0;; k++) {
		cr_assert(lt(int, k, 32));
		nft_ok("add rule inet scnpmt c tcp dport %d accept comment \"foreign\"", 1000 + k);
		cr_assert(ge(sz, list_rules(NULL, NULL, 64), 1));
		{
			uint64_t hs[64];
			size_t n = list_rules(NULL, hs, 64);

			h = hs[n - 1];
		}
		if (h >= ours)
			break;
	}
	cr_assert(eq(u64, h, ours));

	ev.change = SCNPM_UNIT_CHANGED;
	apply(&ev, r, 1);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, count_rules("foreign"), (size_t)(count_rules(NULL) - 1)));
	{
		uint64_t hs[64];
		char lines[64][512];
		size_t n = list_rules(lines, hs, 64);
		int found = 0;

		for (size_t i = 0; i < n; i++)
			if (hs[i] == ours && strstr(lines[i], "foreign"))
				found = 1;
		cr_assert(found, "the foreign rule at handle %" PRIu64 " must still be there",
			  ours);
	}
}

Test(sink_nft, flush_empties_the_chain)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[2] = {
	    mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept"),
	    mkrule(2, "tcp dport 25 accept"),
	};
	struct scnpm_rule missing = mkrule(3, "accept");
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	add_rules(r, 2);
	apply(&ev, r, 2);
	nft_ok("add rule inet scnpmt c udp dport 53 accept");
	cr_assert(eq(sz, count_rules(NULL), 3));

	fake_host_clear_reports(fx.fh);
	cr_assert(eq(int, fx.m->flush(fx.state, &r[0]), 0));
	cr_assert(eq(sz, count_rules(NULL), 0));

	missing.name = "nochain";
	cr_assert(eq(int, fx.m->flush(fx.state, &missing), -ENOENT));
	cr_assert(eq(u32, result_of(&missing), SCNPM_RESULT_FAILED));
	missing.name = "c";
	missing.table = "notable";
	cr_assert(eq(int, fx.m->flush(fx.state, &missing), -ENOENT));

	/* After the flush nothing is ours: a stop deletes nothing, also not a new rule
	 * that took a handle number we had. */
	nft_ok("add rule inet scnpmt c udp dport 54 accept");
	nft_ok("add rule inet scnpmt c udp dport 55 accept");
	nft_ok("add rule inet scnpmt c udp dport 56 accept");
	ev.change = SCNPM_UNIT_STOPPED;
	apply(&ev, r, 2);
	cr_assert(eq(sz, count_rules(NULL), 3));
}

Test(sink_nft, bad_rule_fails_alone)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[3] = {
	    mkrule(1, "socket cgroupv2 level %{level} %{cgroup} tcp dport 25 accept"),
	    mkrule(2, "tcp dport 25 frobnicate"),
	    mkrule(3, "socket cgroupv2 level %{level} %{cgroup} tcp dport 143 accept"),
	};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	const struct fake_report *bad;

	add_rules(r, 3);
	apply(&ev, r, 3);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_FAILED));
	cr_assert(eq(u32, result_of(&r[2]), SCNPM_RESULT_APPLIED));
	bad = fake_host_last_report(fx.fh, &r[1]);
	cr_assert(ne(ptr, bad->message, NULL));
	cr_assert(ne(ptr, strstr(bad->message, "syntax error"), NULL), "got '%s'", bad->message);
	cr_assert(eq(sz, count_rules(NULL), 2));

	/* Their handles were learned one at a time too: restart and stop are clean. */
	ev.change = SCNPM_UNIT_CHANGED;
	apply(&ev, r, 3);
	cr_assert(eq(sz, count_rules(NULL), 2));
	ev.change = SCNPM_UNIT_STOPPED;
	apply(&ev, r, 3);
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, count_rules(NULL), 0));
}

Test(sink_nft, rule_remove_withdraws_every_instance)
{
	const char *cg_a = cg_mkdir("a.service");
	const char *cg_b = cg_mkdir("b.service");
	struct scnpm_rule r[2] = {
	    mkrule(1, "socket cgroupv2 level %{level} %{cgroup} accept"),
	    mkrule(2, "socket cgroupv2 level %{level} %{cgroup} counter"),
	};
	struct scnpm_event a = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg_a);
	struct scnpm_event b = unit_ev(SCNPM_UNIT_STARTED, "b.service", cg_b);

	add_rules(r, 2);
	apply(&a, r, 2);
	apply(&b, r, 2);
	cr_assert(eq(sz, count_rules(NULL), 4));

	fx.m->rule_remove(fx.state, &r[0]);
	settle();
	cr_assert(eq(sz, count_rules(NULL), 2));
	cr_assert(eq(sz, count_rules("counter"), 2));

	/* The other rule is still tracked. */
	a.change = SCNPM_UNIT_STOPPED;
	apply(&a, &r[1], 1);
	cr_assert(eq(sz, count_rules(NULL), 1));
}

Test(sink_nft, refuses_elements)
{
	struct scnpm_rule e = mkrule(1, "");
	struct scnpm_rule bad_family = mkrule(2, "accept");
	const struct fake_report *rep;

	e.object = SCNPM_OBJECT_ELEMENT;
	e.text = "add element inet scnpmt s { \"x.slice\" }";
	cr_assert(eq(int, fx.m->rule_add(fx.state, &e), -EOPNOTSUPP));
	rep = fake_host_last_report(fx.fh, &e);
	cr_assert(ne(ptr, (void *)rep, NULL));
	cr_assert(eq(u32, rep->result, SCNPM_RESULT_REFUSED));
	cr_assert(eq(str, rep->message, "element directives need --sink nftnl"));

	bad_family.family = "inet4";
	cr_assert(eq(int, fx.m->rule_add(fx.state, &bad_family), -EOPNOTSUPP));
	cr_assert(eq(u32, result_of(&bad_family), SCNPM_RESULT_REFUSED));
}

/* Transient scopes get a new name and cgroup each time: what the sink keeps (instances,
 * handles, libnftables' caches) must follow the cgroups that exist, not every one it
 * ever saw. Unique cgroups below a slice of the test (the teardown removes what a
 * failure leaves there), a service that restarts and a firewall reload in between; the
 * heap in use afterwards is what it was after a warm-up round (heap-use.h). */
static void churn_round(struct scnpm_rule *r, size_t n_rules, unsigned first, unsigned n)
{
	char name[64], rel[192], abs[256];
	const char *svc;
	struct scnpm_event ev;

	for (unsigned i = first; i < first + n; i++) {
		snprintf(name, sizeof(name), "run-u%u.scope", i);
		snprintf(rel, sizeof(rel), "%s/churn.slice/%s", fx.slice, name);
		snprintf(abs, sizeof(abs), CG_ROOT "/%s", rel);
		cr_assert(eq(int, mkdir(abs, 0755), 0), "mkdir %s: %m", abs);
		ev = unit_ev(SCNPM_UNIT_STARTED, name, rel);
		apply(&ev, r, n_rules);
		cr_assert(eq(u32, result_of(&r[n_rules - 1]), SCNPM_RESULT_APPLIED));
	}
	/* the service restarts: a new cgroup of the same name */
	cg_rmdir("svc.service");
	svc = cg_mkdir("svc.service");
	ev = unit_ev(SCNPM_UNIT_STARTED, "svc.service", svc);
	apply(&ev, r, n_rules);
	if (first % 200 == 0) {
		/* a firewall reload: the rules are gone, the sink puts them back */
		nft_ok("flush chain inet scnpmt c\n");
		settle();
	}
	for (unsigned i = first; i < first + n; i++) {
		snprintf(name, sizeof(name), "run-u%u.scope", i);
		snprintf(abs, sizeof(abs), CG_ROOT "/%s/churn.slice/%s", fx.slice, name);
		cr_assert(eq(int, rmdir(abs), 0), "rmdir %s: %m", abs);
		ev = unit_ev(SCNPM_UNIT_STOPPED, name, NULL);
		apply(&ev, r, n_rules);
	}
	fake_host_clear_logs(fx.fh);
}

Test(sink_nft, cgroups_that_come_and_go_leave_nothing_behind)
{
	struct scnpm_rule r[2] = {
		mkrule(1, "socket cgroupv2 level %{level} %{cgroup} counter accept"),
		mkrule(2, "socket cgroupv2 level %{level} %{cgroup} tcp dport 25 drop"),
	};
	enum { BATCH = 10, WARMUP = 200, N = 10000 };
	size_t warm, after;

	cg_mkdir("churn.slice");
	cg_mkdir("svc.service");
	add_rules(r, 2);
	fx.fh->echo = FAKE_HOST_ECHO_NONE;
	for (unsigned i = 0; i < WARMUP; i += BATCH)
		churn_round(r, 2, i, BATCH);
	warm = heap_in_use();
	for (unsigned i = WARMUP; i < WARMUP + N; i += BATCH)
		churn_round(r, 2, i, BATCH);
	after = heap_in_use();

	cr_assert(eq(sz, count_rules("run-u"), 0));
	cr_assert(eq(sz, count_rules(NULL), 2), "the service's two");
	heap_use_assert_flat("sink-nft, cgroups", warm, after, N);
}
