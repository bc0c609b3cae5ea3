/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Gates (gate.h): the pure decisions, and the router with the stand-in source and sink
 * over a cgroup tree in a temporary directory whose cgroup.freeze and cgroup.events are
 * plain files: what scnpm writes to them, and when, is what these tests look at. The
 * real freezer is tested in tests/kernel/gate.sh.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "cgroup-freeze.h"
#include "config.h"
#include "gate.h"
#include "manager-fixture.h"
#include "unit.h"
#include "util.h"

/* ---- pure ---- */

Test(gate_pure, decide)
{
	const struct gate_item ok = { SCNPM_RESULT_APPLIED, false },
			       restored = { SCNPM_RESULT_RESTORED, false },
			       pending = { 0, false }, pending_keep = { 0, true },
			       failed = { SCNPM_RESULT_FAILED, false },
			       failed_keep = { SCNPM_RESULT_FAILED, true },
			       skipped = { SCNPM_RESULT_SKIPPED, false };
	size_t missing;

	cr_assert(eq(int, gate_decide(NULL, 0, false, &missing), GATE_THAW));
	cr_assert(eq(sz, missing, 0));
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, restored }, 2, false, &missing), GATE_THAW));
	/* waits while a report is due */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, pending }, 2, false, &missing), GATE_WAIT));
	cr_assert(eq(sz, missing, 1));
	/* ... also for the others when one failed */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ failed, pending }, 2, false, NULL), GATE_WAIT));
	/* the deadline: thaw, unless a missing one says keep-frozen */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, pending }, 2, true, NULL), GATE_THAW));
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, pending_keep }, 2, true, NULL), GATE_HOLD));
	/* a failure is final for thaw, and holds for keep-frozen at once */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, failed }, 2, false, NULL), GATE_THAW));
	cr_assert(eq(int, gate_decide((struct gate_item[]){ ok, failed_keep }, 2, false, NULL), GATE_HOLD));
	/* ... once the others have answered */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ failed_keep, pending }, 2, false, NULL), GATE_WAIT));
	cr_assert(eq(int, gate_decide((struct gate_item[]){ failed_keep, pending }, 2, true, NULL), GATE_HOLD));
	cr_assert(eq(int, gate_decide((struct gate_item[]){ skipped }, 1, false, NULL), GATE_THAW));
	/* a keep-frozen one that is in does not hold the others */
	cr_assert(eq(int, gate_decide((struct gate_item[]){ { SCNPM_RESULT_APPLIED, true }, failed }, 2,
				      false, NULL), GATE_THAW));
}

Test(gate_pure, events_parse)
{
	int p, f;

	cr_assert(eq(int, cgroup_events_parse("populated 1\nfrozen 0\n", &p, &f), 0));
	cr_assert(eq(int, p, 1));
	cr_assert(eq(int, f, 0));
	cr_assert(eq(int, cgroup_events_parse("frozen 1", &p, &f), 0));
	cr_assert(eq(int, p, -1));
	cr_assert(eq(int, f, 1));
	cr_assert(eq(int, cgroup_events_parse("", &p, &f), 0));
	cr_assert(eq(int, f, -1));
	/* other keys are skipped, bad lines refused */
	cr_assert(eq(int, cgroup_events_parse("populated 0\nfuture 1\nfrozen 1\n", &p, &f), 0));
	cr_assert(eq(int, f, 1));
	cr_assert(eq(int, cgroup_events_parse("frozen 2\n", &p, &f), -EINVAL));
	cr_assert(eq(int, cgroup_events_parse("frozen\n", &p, &f), -EINVAL));
	cr_assert(eq(int, cgroup_events_parse("frozen 11\n", &p, &f), -EINVAL));
}

static struct config *parse_conf(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct config *c = config_new();
	char *error = NULL;

	cr_assert(eq(int, config_parse_stream(c, f, "t.conf", &error), 0), "%s", error ?: "");
	fclose(f);
	return c;
}

Test(gate_pure, covers)
{
	struct config *c = parse_conf(
	    "# gate/a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" drop\n"
	    "# gate/b.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n"
	    "# user/gate/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n"
	    "# c.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n");
	struct rule **r = c->rules;
	const char *upath = "user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope";

	/* literal: the cgroup it names, whoever reports it; not another of the name */
	cr_assert(gate_covers(r[0], SCNPM_MANAGER_SYSTEM, 0, "a.service", "system.slice/a.service"));
	cr_assert(gate_covers(r[0], SCNPM_MANAGER_ANY, 0, "a.service", "system.slice/a.service"));
	cr_assert(not(gate_covers(r[0], SCNPM_MANAGER_USER, 1000, "a.service",
				  "user.slice/user-1000.slice/user@1000.service/app.slice/a.service")));
	cr_assert(not(gate_covers(r[0], SCNPM_MANAGER_SYSTEM, 0, "a.service", "other.slice/a.service")));
	/* unit-bound, unqualified: system units only */
	cr_assert(gate_covers(r[1], SCNPM_MANAGER_SYSTEM, 0, "b.service", "system.slice/b.service"));
	cr_assert(not(gate_covers(r[1], SCNPM_MANAGER_USER, 1000, "b.service", upath)));
	cr_assert(gate_covers(r[2], SCNPM_MANAGER_USER, 1000, "app-x.scope", upath));
	cr_assert(not(gate_covers(r[2], SCNPM_MANAGER_SYSTEM, 0, "app-x.scope", "system.slice/app-x.scope")));
	/* not gated */
	cr_assert(not(gate_covers(r[3], SCNPM_MANAGER_SYSTEM, 0, "c.service", "system.slice/c.service")));
	config_free(c);
}

/* ---- the router ---- */

TestSuite(gate, .init = fixture_setup, .fini = fixture_teardown);

static char frozen_dir[160];

/* A cgroup with the freezer's files. */
static void mkgcg(const char *path, const char *events, const char *freeze)
{
	char p[512];

	mkcg(path);
	snprintf(p, sizeof(p), "%s/%s/cgroup.events", fx.cg, path);
	write_file(p, events);
	snprintf(p, sizeof(p), "%s/%s/cgroup.freeze", fx.cg, path);
	write_file(p, freeze);
}

static char freeze_state(const char *path)
{
	char p[512], *s, c;

	snprintf(p, sizeof(p), "%s/%s/cgroup.freeze", fx.cg, path);
	s = read_file(p);
	c = s[0];
	free(s);
	return c;
}

static unsigned n_records(void)
{
	char cmd[256];
	FILE *f;
	unsigned n = 0;
	int ch;

	snprintf(cmd, sizeof(cmd), "ls -1 '%s' 2>/dev/null", frozen_dir);
	f = popen(cmd, "r");
	cr_assert(ne(ptr, f, NULL));
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	pclose(f);
	return n;
}

static int start_gated(const char *conf, const char *sink_extra)
{
	snprintf(frozen_dir, sizeof(frozen_dir), "%s/frozen", fx.dir);
	return start(conf, (struct manager_options){ .cooldown_usec = 0, .frozen_dir = frozen_dir },
		     sink_extra);
}

/* Run the loop (timers included) until the cgroup's freeze file says c, bounded. */
static void run_until_freeze(const char *path, char c)
{
	for (unsigned i = 0; i < 1000 && freeze_state(path) != c; i++)
		cr_assert(ge(int, sd_event_run(fx.e, 100 * 1000), 0));
	cr_assert(eq(chr, freeze_state(path), c));
}

/* Run the loop until the freezer thread has reported every freeze (bounded), then what
 * is due. */
static void settle(void)
{
	for (unsigned i = 0; i < 1000; i++) {
		struct gate *g;
		size_t k = 0;
		bool busy = false;

		run_pending();
		while ((g = hashmap_iterate(fx.m->gates, &k, NULL)))
			busy = busy || g->freezing;
		if (!busy)
			break;
		cr_assert(ge(int, sd_event_run(fx.e, 10 * 1000), 0));
	}
	run_pending();
}

static const char conf_gated[] =
	"# gate/a.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n"
	"# b.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n";

#define IDLE "populated 0\nfrozen 0\n"
#define A "system.slice/a.service"

Test(gate, frozen_until_the_sink_reports)
{
	/* a sink that does not answer: frozen, recorded, its rule sent meanwhile */
	cr_assert(eq(int, start_gated(conf_gated, ",silent=drop"), 0));
	run_pending();
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	run_until_freeze(A, '1');
	settle();
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(eq(u32, n_records(), 1));
	cr_assert(eq(u32, count(fx.log, "apply a.service 1:0 started " A), 1));
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 1));
}

Test(gate, thawed_once_the_sink_reports)
{
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	run_pending();
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	run_until_freeze(A, '0');
	cr_assert(eq(u32, count(fx.log, "apply a.service 1:0 started " A), 1));
	cr_assert(eq(u32, n_records(), 0));
	cr_assert(eq(u64, fx.m->n_gates, 1));
	cr_assert(eq(u64, fx.m->n_gates_late, 0));
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 0));
	cr_assert(eq(u64, fx.m->n_gate_holds, 1), "how long it held the unit, for p50/p99");
	{
		_cleanup_free_ char *line = NULL;

		cr_assert(eq(int, manager_status_line(fx.m, &line), 0));
		cr_assert(ne(ptr, strstr(line, "1 gated, 0 late, 0 frozen"), NULL), "%s", line);
	}
}

Test(gate, ungated_units_untouched)
{
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	mkgcg("system.slice/b.service", IDLE, "x\n");
	send_event("started\tsystem\tb.service\tsystem.slice/b.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service"), 1));
	cr_assert(eq(chr, freeze_state("system.slice/b.service"), 'x'));
	cr_assert(eq(u64, fx.m->n_gates, 0));
}

Test(gate, not_before_the_initial_reconcile)
{
	/* running before scnpm: applied at start, never frozen */
	mkgcg(A, "populated 1\nfrozen 0\n", "x\n");
	send_event("started\tsystem\ta.service\t" A);
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	run_pending();
	cr_assert(eq(chr, freeze_state(A), 'x'));
	cr_assert(eq(u64, fx.m->n_gates, 0));
}

Test(gate, frozen_by_someone_else_left_alone)
{
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	mkgcg(A, "populated 1\nfrozen 1\n", "1\n");
	send_event("started\tsystem\ta.service\t" A);
	run_pending();
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(eq(u64, fx.m->n_gates, 0));
	cr_assert(eq(u64, fx.m->n_gates_frozen_by_others, 1));
	/* being frozen does not keep its rules out */
	cr_assert(eq(u32, count(fx.log, "apply a.service 1:0 started"), 1));
	/* and an exit does not thaw it */
	fx.m = manager_free(fx.m);
	cr_assert(eq(chr, freeze_state(A), '1'));
}

Test(gate, freezing_by_someone_else_left_alone)
{
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	mkgcg(A, IDLE, "1\n");
	send_event("started\tsystem\ta.service\t" A);
	run_pending();
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(eq(u64, fx.m->n_gates, 0));
}

Test(gate, late_gate_counted)
{
	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	mkgcg(A, "populated 1\nfrozen 0\n", "0\n");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	cr_assert(eq(u64, fx.m->n_gates_late, 1));
	cr_assert(logged("Unit 'a.service': late gate"));
	run_until_freeze(A, '0');
}

Test(gate, deadline_thaws)
{
	cr_assert(eq(int, start_gated("# gate:100ms/a.service :: add rule inet f c socket cgroupv2 "
				      "level %{level} %{cgroup} drop\n",
				      ",silent=drop"),
		     0));
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	/* A loaded machine may stall this process past the deadline before it looks at the
	 * freeze: wait for the deadline, the counters say the thaw came from it. */
	for (unsigned i = 0; i < 1000 && fx.m->n_gates_expired == 0; i++)
		cr_assert(ge(int, sd_event_run(fx.e, 100 * 1000), 0));
	settle();
	run_until_freeze(A, '0');
	cr_assert(eq(u64, fx.m->n_gates, 1), "it was frozen");
	cr_assert(eq(u64, fx.m->n_gates_expired, 1));
	cr_assert(eq(u64, fx.m->n_gates_thawed_early, 1));
	cr_assert(logged("unit 'a.service': thawed before its rules are in"));
	cr_assert(eq(u32, n_records(), 0));
}

Test(gate, deadline_keep_frozen_until_exit)
{
	cr_assert(eq(int, start_gated("# gate:2ms,keep-frozen/a.service :: add rule inet f c socket "
				      "cgroupv2 level %{level} %{cgroup} drop\n",
				      ",silent=drop"),
		     0));
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	for (unsigned i = 0; i < 1000 && fx.m->n_gates_held == 0; i++)
		cr_assert(ge(int, sd_event_run(fx.e, 100 * 1000), 0));
	cr_assert(eq(u64, fx.m->n_gates_held, 1));
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(logged("Unit 'a.service' stays frozen until its rules are in the kernel"));
	/* no unit stays frozen by an scnpm that is gone */
	fx.m = manager_free(fx.m);
	cr_assert(eq(chr, freeze_state(A), '0'));
	cr_assert(eq(u32, n_records(), 0));
}

Test(gate, failure_thaws_or_holds)
{
	cr_assert(eq(int, start_gated("# gate/a.service :: add rule inet f c socket cgroupv2 level "
				      "%{level} %{cgroup} drop\n"
				      "# gate:keep-frozen/b.service :: add rule inet f c socket cgroupv2 "
				      "level %{level} %{cgroup} drop\n",
				      ",fail=drop"),
		     0));
	mkgcg(A, IDLE, "0\n");
	mkgcg("system.slice/b.service", IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	send_event("started\tsystem\tb.service\tsystem.slice/b.service");
	settle();
	run_until_freeze(A, '0');
	run_until_freeze("system.slice/b.service", '1');
	cr_assert(eq(u64, fx.m->n_gates_held, 1));
	cr_assert(eq(u64, fx.m->n_gates_expired, 0));
}

Test(gate, gone_cgroup_drops_the_gate)
{
	cr_assert(eq(int, start_gated(conf_gated, ",silent=drop"), 0));
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 1));
	rmcg(A);
	send_event("stopped\tsystem\ta.service\t" A);
	run_pending();
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 0));
	cr_assert(eq(u32, n_records(), 0));
}

Test(gate, literal_and_user_gates)
{
	static const char conf[] =
	    "# gate/a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" drop\n"
	    "# gate/user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n";
	const char *ua = "user.slice/user-1000.slice/user@1000.service/app.slice/a.service";
	const char *ux = "user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope";

	cr_assert(eq(int, start_gated(conf, ",silent=drop"), 0));
	mkgcg(A, IDLE, "0\n");
	mkgcg(ua, IDLE, "0\n");
	mkgcg(ux, IDLE, "0\n");
	mkgcg("system.slice/app-x.scope", IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	send_event("started\tuser:1000\ta.service\t" "user.slice/user-1000.slice/user@1000.service/app.slice/a.service");
	send_event("started\tuser:1000\tapp-x.scope\t" "user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope");
	send_event("started\tsystem\tapp-x.scope\tsystem.slice/app-x.scope");
	settle();
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(eq(chr, freeze_state(ua), '0'), "a user's a.service is not the system's");
	cr_assert(eq(chr, freeze_state(ux), '1'));
	cr_assert(eq(chr, freeze_state("system.slice/app-x.scope"), '0'));
	cr_assert(eq(u64, fx.m->n_gates, 2));
}

Test(gate, recover_thaws_what_an_earlier_scnpm_froze)
{
	char p[512], q[512];
	struct stat st;

	mkgcg(A, "populated 1\nfrozen 1\n", "1\n");
	mkgcg("system.slice/b.service", "populated 1\nfrozen 1\n", "1\n");
	snprintf(frozen_dir, sizeof(frozen_dir), "%s/frozen", fx.dir);
	cr_assert(eq(int, mkdir(frozen_dir, 0700), 0));
	snprintf(p, sizeof(p), "%s/%s", fx.cg, A);
	cr_assert(eq(int, stat(p, &st), 0));
	snprintf(q, sizeof(q), "%s/%llu", frozen_dir, (unsigned long long)st.st_ino);
	write_file(q, A "\n");
	/* a record of another cgroup by the name of b.service: not this one */
	snprintf(q, sizeof(q), "%s/1", frozen_dir);
	write_file(q, "system.slice/b.service\n");
	/* and a hostile one */
	snprintf(q, sizeof(q), "%s/2", frozen_dir);
	write_file(q, "../../etc\n");

	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	run_pending();
	cr_assert(eq(int, gate_recover(fx.m), 1));
	cr_assert(eq(chr, freeze_state(A), '0'));
	cr_assert(eq(chr, freeze_state("system.slice/b.service"), '1'));
	cr_assert(eq(u32, n_records(), 0));
}

/* A write to cgroup.freeze that is not scnpm's, while the gate is closed: the cgroup is
 * theirs as they left it. */
static void taken(const char *value, char want_at_exit)
{
	char p[512];

	/* a deadline no stall of this process reaches */
	cr_assert(eq(int, start_gated("# gate:30s/a.service :: add rule inet f c socket cgroupv2 "
				      "level %{level} %{cgroup} drop\n",
				      ",silent=drop"),
		     0));
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	cr_assert(eq(chr, freeze_state(A), '1'));
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 1));
	/* systemctl freeze (or thaw) */
	snprintf(p, sizeof(p), "%s/%s/cgroup.freeze", fx.cg, A);
	write_file(p, value);
	for (unsigned i = 0; i < 1000 && hashmap_size(fx.m->gates) > 0; i++)
		cr_assert(ge(int, sd_event_run(fx.e, 100 * 1000), 0));
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 0));
	cr_assert(eq(u64, fx.m->n_gates_taken, 1));
	cr_assert(eq(u32, n_records(), 0));
	cr_assert(eq(chr, freeze_state(A), value[0]));
	fx.m = manager_free(fx.m);
	cr_assert(eq(chr, freeze_state(A), want_at_exit), "an exit does not write to it either");
}

Test(gate, frozen_by_someone_else_while_gated_stays_frozen)
{
	taken("1\n", '1');
	cr_assert(logged("was frozen by someone else (systemctl freeze?) while its gate was closed"));
}

Test(gate, thawed_by_someone_else_while_gated)
{
	taken("0\n", '0');
	cr_assert(logged("<4>Unit 'a.service': cgroup '" A "' was thawed by someone else while its "
			 "gate was closed, before its rules were in the kernel"));
}

/* cgroup.freeze cannot be written (here: it is a directory, EISDIR; EACCES and EROFS in
 * tests/kernel/gate.sh): one line with the unit and the directive, at the level of its
 * choice; the rules go out as without a gate. */
Test(gate, cannot_freeze)
{
	char p[512];

	cr_assert(eq(int, start_gated("# gate/a.service :: add rule inet f c socket cgroupv2 level "
				      "%{level} %{cgroup} drop\n"
				      "# gate:keep-frozen/b.service :: add rule inet f c socket cgroupv2 "
				      "level %{level} %{cgroup} drop\n",
				      NULL),
		     0));
	mkcg(A);
	mkcg("system.slice/b.service");
	snprintf(p, sizeof(p), "%s/%s/cgroup.events", fx.cg, A);
	write_file(p, IDLE);
	snprintf(p, sizeof(p), "%s/%s/cgroup.freeze", fx.cg, A);
	cr_assert(eq(int, mkdir(p, 0755), 0));
	snprintf(p, sizeof(p), "%s/system.slice/b.service/cgroup.events", fx.cg);
	write_file(p, IDLE);
	snprintf(p, sizeof(p), "%s/system.slice/b.service/cgroup.freeze", fx.cg);
	cr_assert(eq(int, mkdir(p, 0755), 0));
	send_event("started\tsystem\ta.service\t" A);
	send_event("started\tsystem\tb.service\tsystem.slice/b.service");
	settle();
	cr_assert(logged("nftables.conf:1: unit 'a.service': gate cannot close, cannot freeze /" A
			 ": Is a directory; the unit starts without waiting for its rules"));
	cr_assert(logged("nftables.conf:2: unit 'b.service': gate (keep-frozen) cannot close, cannot "
			 "freeze /system.slice/b.service: Is a directory; the unit runs before its "
			 "rules are in"));
	/* the choice sets the level */
	STRV_FOREACH(l, fx.logs)
		if (strstr(*l, "b.service': gate (keep-frozen) cannot close"))
			cr_assert(eq(int, strncmp(*l, "<3>", 3), 0), "%s", *l);
		else if (strstr(*l, "a.service': gate cannot close"))
			cr_assert(eq(int, strncmp(*l, "<4>", 3), 0), "%s", *l);
	cr_assert(eq(u64, fx.m->n_gates_failed, 2));
	cr_assert(eq(u64, fx.m->n_gates, 0));
	cr_assert(eq(u64, fx.m->n_gate_holds, 0), "they held nothing");
	cr_assert(eq(u32, n_records(), 0));
	cr_assert(eq(u32, count(fx.log, "apply a.service 1:0 started " A), 1));
	cr_assert(eq(u32, count(fx.log, "apply b.service 1:0 started"), 1));
	{
		_cleanup_free_ char *line = NULL;

		cr_assert(eq(int, manager_status_line(fx.m, &line), 0));
		cr_assert(ne(ptr, strstr(line, "gates failing"), NULL), "%s", line);
	}
}

/* A restart: the unit's record still says APPLIED, for its previous cgroup. The gate of
 * the new cgroup waits for the report about the new one. */
Test(gate, a_restart_waits_for_the_new_cgroup_s_report)
{
	struct unit *u;
	char p[512];
	struct stat st;

	cr_assert(eq(int, start_gated(conf_gated, NULL), 0));
	mkgcg(A, IDLE, "0\n");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	run_until_freeze(A, '0');
	/* the new cgroup, seen by the gate before the router has sent anything for it */
	rmcg(A);
	mkgcg(A, IDLE, "0\n");
	snprintf(p, sizeof(p), "%s/%s", fx.cg, A);
	cr_assert(eq(int, stat(p, &st), 0));
	u = unit_get(fx.m, SCNPM_MANAGER_SYSTEM, 0, "a.service", false);
	cr_assert(ne(ptr, u, NULL));
	gate_new_cgroup(fx.m, u, A, (uint64_t)st.st_ino);
	settle();
	cr_assert(eq(chr, freeze_state(A), '1'));
	gate_check_all(fx.m);
	cr_assert(eq(sz, hashmap_size(fx.m->gates), 1), "the old cgroup's report does not open it");
	send_event("started\tsystem\ta.service\t" A);
	settle();
	run_until_freeze(A, '0');
	cr_assert(eq(u64, fx.m->n_gates_thawed_early, 0));
}
