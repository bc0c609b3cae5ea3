/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router, driven one sd-event iteration at a time, with the stand-in source and sink
 * from tests/lib: events go in through a pipe, and the sink's log and held state show
 * what the core asked of it. The cgroup tree the core looks at is a directory tree of
 * the same shape in a temporary directory (--cgroup-root): events are only hints, what
 * exists there decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "log.h"
#include "manager-fixture.h"
#include "util.h"

TestSuite(manager, .init = fixture_setup, .fini = fixture_teardown);

static const char conf_basic[] =
	"flush ruleset\n"
	"# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
	"# a.service :: add rule inet f c tcp dport 25 socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
	"# b.service :: add rule inet f c2 socket cgroupv2 level 2 \"system.slice/b.service\" accept\n";

#define A_STARTED "apply a.service 0:0 started system.slice/a.service :: "

Test(manager, initial_reconcile)
{
	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	/* every rule handed to the sink once; what exists applied once, with its path */
	cr_assert(eq(u32, count(fx.log, "rule_add "), 3));
	cr_assert(eq(u32, count(fx.log, A_STARTED "add rule inet f c socket"), 1));
	cr_assert(eq(u32, count(fx.log, A_STARTED "add rule inet f c tcp"), 1));
	cr_assert(eq(u32, count(fx.log, "apply b.service"), 0), "b.service has no cgroup");
	cr_assert(eq(u32, count(fx.log, "flush "), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 2));
}

Test(manager, literal_rule_once_at_start_whatever_the_sources_say)
{
	mkcg("system.slice/a.service");
	/* reported while the source starts, as cgroupfs's scan and the journal would */
	send_event("started\tsystem\ta.service\tsystem.slice/a.service");
	send_event("started\tsystem\ta.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, A_STARTED "add rule inet f c socket"), 1));
	cr_assert(eq(u32, count(fx.log, "apply "), 2));
}

Test(manager, flush_each_chain_once)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .flush = true }, NULL), 0));
	cr_assert(eq(u32, count(fx.log, "flush inet f c\n"), 1));
	cr_assert(eq(u32, count(fx.log, "flush inet f c2\n"), 1));
	cr_assert(eq(u32, count(fx.log, "flush "), 2));
}

Test(manager, flush_missing_chain_fails)
{
	int r = start(conf_basic, (struct manager_options){ .flush = true }, ",missing=c2");

	cr_assert(eq(int, r, -ENOENT));
	cr_assert(logged("nftables.conf:4: cannot flush chain 'inet f c2': it does not exist"));
	/* nothing was applied */
	cr_assert(eq(u32, count(fx.log, "apply "), 0));
}

Test(manager, event_routing_and_validation)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	mkcg("system.slice/a.service");
	send_event("started\tsystem\ta.service\tsystem.slice/a.service\t42");
	send_event("started\tsystem\tunrelated.service");
	send_event("started\tsystem\ta\";add rule inet f c accept;.service");
	send_event("started\tsystem\ta.service\tsystem.slice/../a.service");
	send_event("raw-short");
	/* a path that is not that unit's in that manager */
	send_event("started\tuser:1000\ta.service\tsystem.slice/a.service");
	send_event("started\tsystem\ta.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/a.service");
	send_event("started\tsystem\ta.service\tsystem.slice/d.service/a.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, A_STARTED), 2));
	cr_assert(eq(u32, count(fx.log, "apply "), 2));
	cr_assert(eq(u32, count(fx.log, "unrelated"), 0));
	cr_assert(eq(u32, count(fx.log, "add rule inet f c accept;"), 0));
	cr_assert(logged("dropping event for invalid unit name 'a\\\";add rule"), "hostile name not reported");
	cr_assert(logged("invalid cgroup path 'system.slice/../a.service'"));
	cr_assert(logged("struct too short"));
	cr_assert(logged("cgroup 'system.slice/d.service/a.service' is not that unit's"));
	cr_assert(eq(u32, fx.m->n_dropped, 6));
}

/* The first scenario: a user's same-named unit, and forged stops, change nothing
 * for a literal rule whose cgroup is unchanged. */
static const char conf_victim[] =
	"# victim.service :: add rule inet f allow socket cgroupv2 level 2 \"system.slice/victim.service\" accept\n"
	"# guarded.service :: add rule inet f deny socket cgroupv2 level 2 \"system.slice/guarded.service\" drop\n";

Test(manager, user_manager_cannot_move_a_system_literal_rule)
{
	mkcg("system.slice/victim.service");
	mkcg("system.slice/guarded.service");
	cr_assert(eq(int, start(conf_victim, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 2));

	/* systemctl --user start/stop victim.service, as the journal reports it */
	send_event("started\tuser:1000\tvictim.service");
	send_event("stopped\tuser:1000\tvictim.service");
	/* mkdir + rmdir in the user's own subtree, as cgroupfs reports it */
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/guarded.service");
	send_event("started\tuser:1000\tguarded.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/guarded.service");
	run_pending();
	rmcg("user.slice/user-1000.slice/user@1000.service/app.slice/guarded.service");
	send_event("stopped\tuser:1000\tguarded.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/guarded.service");
	/* a forged stop in the system manager's name */
	send_event("stopped\tsystem\tvictim.service");
	send_event("stopped\tany\tguarded.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 2), "nothing may be re-sent");
	cr_assert(holds("victim.service 0:0 :: add rule inet f allow"));
	cr_assert(holds("guarded.service 0:0 :: add rule inet f deny"));

	/* the real stop: the cgroup is gone */
	rmcg("system.slice/guarded.service");
	send_event("stopped\tsystem\tguarded.service");
	run_pending();
	cr_assert(not(holds("guarded.service")));
	cr_assert(holds("victim.service"));
}

Test(manager, cooldown_coalesces_bursts)
{
	/* Long enough that even a loaded machine sends the burst within it. */
	cr_assert(eq(int, start("# system/b.service :: add rule inet f c meta mark 1 %{unit}\n",
				(struct manager_options){ .cooldown_usec = 2 * 1000000ULL }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 0));
	mkcg("system.slice/b.service");
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 1:0 started system.slice/b.service"), 1),
		  "first event applies at once, the journal's event found the cgroup itself");
	/* events that change nothing send nothing */
	send_event("changed\tsystem\tb.service");
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 1));
	/* a restart as the journal sees it: the start after the stop goes out at once */
	rmcg("system.slice/b.service");
	send_event("stopped\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 1), "a stop within the cooldown waits");
	mkcg("system.slice/b.service");
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 1:0 started"), 2), "a restart applies at once");
	/* a stop within the cooldown: withdrawn when it ends, once */
	rmcg("system.slice/b.service");
	send_event("stopped\tsystem\tb.service");
	send_event("changed\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 2));
	for (int i = 0; i < 8 && count(fx.log, "apply ") < 3; i++)
		cr_assert(eq(int, sd_event_run(fx.e, UINT64_MAX), 1));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 1:0 stopped"), 1));
	cr_assert(eq(u32, count(fx.log, "apply "), 3));
	cr_assert(not(holds("b.service")));
}

static const char conf_templated[] =
	"# user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
	"# system/x.service :: add rule inet f c meta mark 1 %{unit}\n";

#define MAIL "user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope"

Test(manager, patterns_and_templates)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	cr_assert(eq(u32, count(fx.log, "apply "), 0));
	mkcg(MAIL);
	mkcg("system.slice/app-sys.scope");
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/x.service");
	mkcg("system.slice/x.service");
	send_event("started\tuser:1000\tapp-mail.scope\t" MAIL "\t7");
	send_event("started\tsystem\tapp-sys.scope\tsystem.slice/app-sys.scope");
	send_event("started\tuser:1000\tx.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	cr_assert(holds("app-mail.scope 2:1000 :: add rule inet f c socket cgroupv2 level 5 \"" MAIL "\" accept"));
	cr_assert(not(holds("app-sys.scope")));
	cr_assert(holds("x.service 1:0 :: add rule inet f c meta mark 1 \"x.service\""));
	cr_assert(not(holds("x.service 2:")));

	/* the journal's "stopped" for a unit whose cgroup is there changes nothing */
	send_event("stopped\tuser:1000\tapp-mail.scope");
	run_pending();
	cr_assert(holds("app-mail.scope"));
	/* its cgroup going does */
	rmcg(MAIL);
	send_event("stopped\tuser:1000\tapp-mail.scope\t" MAIL "\t7");
	run_pending();
	cr_assert(not(holds("app-mail.scope")));
}

Test(manager, unqualified_template_is_for_system_units)
{
	cr_assert(eq(int, start("# x.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
				"# any/y.service :: add rule inet f c meta mark 2 %{unit}\n",
				(struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/x.service");
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/y.service");
	send_event("started\tuser:1000\tx.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/x.service");
	send_event("started\tuser:1000\ty.service");
	run_pending();
	cr_assert(not(holds("x.service")), "a user's x.service must not get the system's accept");
	cr_assert(holds("y.service 2:1000 :: add rule inet f c meta mark 2 \"y.service\""), "any/ is for all");
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service");
	run_pending();
	cr_assert(holds("x.service 1:0 :: add rule inet f c socket cgroupv2 level 2 \"system.slice/x.service\" accept"));
}

Test(manager, journal_alone_finds_the_cgroup)
{
	/* no cgroup in the events: the core finds the unit where its manager puts it */
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	mkcg("system.slice/system-x.slice/x.service");
	mkcg(MAIL);
	send_event("started\tsystem\tx.service");
	send_event("started\tuser:1000\tapp-mail.scope");
	run_pending();
	cr_assert(holds("x.service 1:0 :: add rule inet f c meta mark 1"));
	cr_assert(holds("app-mail.scope 2:1000 :: add rule inet f c socket cgroupv2 level 5 \"" MAIL "\""));
	cr_assert(ne(u32, count(fx.log, "apply x.service 1:0 started system.slice/system-x.slice/x.service"), 0));
}

Test(manager, glob_rules_find_the_units_that_ran_before)
{
	static const char conf[] =
		"# fj-*.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
		"# user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n";

	/* running before the start, reported by no source (the journal's view) */
	mkcg("system.slice/fj-1.service");
	mkcg("system.slice/system-fj.slice/fj-2.service");
	mkcg(MAIL);
	/* a user's same-named unit: the unqualified glob is for system units */
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/fj-3.service");
	mkcg("system.slice/app-sys.scope");
	cr_assert(eq(int, start(conf, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	cr_assert(holds("fj-1.service 1:0 :: add rule inet f c socket cgroupv2 level 2 \"system.slice/fj-1.service\" accept"));
	cr_assert(holds("fj-2.service 1:0 :: add rule inet f c socket cgroupv2 level 3 \"system.slice/system-fj.slice/fj-2.service\" accept"));
	cr_assert(holds("app-mail.scope 2:1000 :: add rule inet f c socket cgroupv2 level 5 \"" MAIL "\" accept"));
	cr_assert(not(holds("fj-3.service")));
	cr_assert(not(holds("app-sys.scope")));
	cr_assert(eq(u32, count(fx.log, "apply "), 3));

	/* a reload that adds a glob rule finds the units that run already, and only
	 * applies the new rule */
	mkcg("system.slice/late-1.service");
	write_file(fx.conf, "# late-*.service :: add rule inet f c2 socket cgroupv2 level %{level} %{cgroup} accept\n"
			    "# fj-*.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
			    "# user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n");
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	run_pending();
	cr_assert(holds("late-1.service 1:0 :: add rule inet f c2 socket cgroupv2 level 2 \"system.slice/late-1.service\" accept"));
	cr_assert(eq(u32, count(fx.log, "apply "), 4));
}

Test(manager, a_resync_looks_at_every_unit_again)
{
	static const char conf[] =
		"# fj-*.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
		"# a.service :: add rule inet f c2 socket cgroupv2 level 2 \"system.slice/a.service\" accept\n";

	mkcg("system.slice/fj-1.service");
	mkcg("system.slice/fj-2.service");
	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));

	/* behind scnpm's back (the source lost the events): restarted, stopped, started */
	rmcg("system.slice/fj-1.service");
	mkcg("system.slice/fj-1.service");
	rmcg("system.slice/fj-2.service");
	mkcg("system.slice/fj-3.service");
	rmcg("system.slice/a.service");
	mkcg("system.slice/a.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));

	/* asked twice before the loop gets to it: one pass */
	send_event("resync");
	send_event("resync");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply fj-1.service 1:0 started system.slice/fj-1.service"), 2));
	cr_assert(eq(u32, count(fx.log, "apply fj-2.service 1:0 stopped"), 1));
	cr_assert(eq(u32, count(fx.log, "apply fj-3.service 1:0 started system.slice/fj-3.service"), 1));
	cr_assert(eq(u32, count(fx.log, "apply a.service 0:0 started system.slice/a.service"), 2));
	cr_assert(eq(u32, count(fx.log, "apply "), 7));
	cr_assert(holds("fj-1.service"));
	cr_assert(not(holds("fj-2.service")));
	cr_assert(holds("fj-3.service"));

	/* nothing changed since: a resync sends nothing */
	send_event("resync");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 7));
}

Test(manager, late_start_does_not_resurrect_a_gone_cgroup)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	mkcg(MAIL);
	send_event("started\tuser:1000\tapp-mail.scope\t" MAIL);
	run_pending();
	cr_assert(holds("app-mail.scope"));
	rmcg(MAIL);
	send_event("stopped\tuser:1000\tapp-mail.scope\t" MAIL);
	run_pending();
	cr_assert(not(holds("app-mail.scope")));
	/* the journal's "Started" for the scope arrives after it ended */
	send_event("started\tuser:1000\tapp-mail.scope");
	run_pending();
	cr_assert(not(holds("app-mail.scope")));
	cr_assert(eq(u32, count(fx.log, "apply app-mail.scope 2:1000 started"), 1));
	cr_assert(eq(sz, hashmap_size(fx.m->applied), 0));
	cr_assert(eq(sz, hashmap_size(fx.m->units), 0), "nothing left to remember");
}

Test(manager, new_cgroup_applies_at_once_within_cooldown)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 10 * 1000000ULL }, NULL), 0));
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started system.slice/x.service"), 1));
	/* a restart as a cgroup source sees it: old cgroup gone, new one there */
	rmcg("system.slice/x.service");
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service");
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	/* no waiting for the (10 s) cooldown: the new cgroup is applied now */
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started system.slice/x.service"), 2));
	/* the same cgroup reported again (another source) sends nothing */
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	send_event("changed\tsystem\tx.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 "), 2));
}

Test(manager, journal_does_not_override_cgroupfs)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	/* restart seen by cgroupfs, then the journal's late messages for it */
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	rmcg("system.slice/x.service");
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service");
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	send_event("stopped\tsystem\tx.service");
	send_event("started\tsystem\tx.service");
	run_pending();
	cr_assert(holds("x.service 1:0 :: add rule inet f c meta mark 1 \"x.service\""));
	/* a real stop withdraws */
	rmcg("system.slice/x.service");
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service");
	send_event("stopped\tsystem\tx.service");
	run_pending();
	cr_assert(not(holds("x.service")));
}

Test(manager, initial_scan_is_dispatched_once)
{
	/* reported by the source while it starts, like source-cgroupfs's scan */
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t100");
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 1000 }, NULL), 0));
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started"), 1));
	/* and not once more when its cooldown ends */
	for (int i = 0; i < 4; i++)
		(void)sd_event_run(fx.e, 10000);
	cr_assert(eq(u32, count(fx.log, "apply x.service"), 1));
}

Test(manager, reapply_with_unit)
{
	char *reapply[] = { "nftables.service", NULL };

	mkcg("system.slice/a.service");
	mkcg("system.slice/b.service");
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	cr_assert(eq(int, start("# system/x.service :: add rule inet f c meta mark 1 %{unit}\n"
				"# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
				"# b.service :: add rule inet f c2 socket cgroupv2 level 2 \"system.slice/b.service\" accept\n",
				(struct manager_options){ .reapply_units = reapply, .cooldown_usec = 10 * 1000000ULL }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));
	send_event("started\tsystem\tnftables.service");
	run_pending();
	/* every rule once more, for every unit, although x.service is in its cooldown;
	 * nothing re-read */
	cr_assert(eq(u32, count(fx.log, "apply "), 6));
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started"), 2));
	cr_assert(eq(u32, count(fx.log, "rule_add "), 3));
	cr_assert(logged("Re-applying all rules"));
	/* a user unit of that name does not count */
	send_event("started\tuser:1000\tnftables.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 6));
}

Test(manager, global_reapply_goes_out_in_one_iteration)
{
	mkcg("system.slice/a.service");
	mkcg("system.slice/b.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 10 * 1000000ULL }, NULL), 0));
	send_event("started\tsystem\ta.service");
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));
	/* without running the loop: every instance is at the sink when it returns */
	manager_reapply_all(fx.m);
	cr_assert(eq(u32, count(fx.log, "apply "), 6));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 6), "and nothing later");
}

Test(manager, reload_with_unit)
{
	char *reload[] = { "nftables.service", NULL };

	mkcg("system.slice/c.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .reload_units = reload, .flush = true }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "flush "), 2));
	write_file(fx.conf, "# c.service :: add rule inet f c3 socket cgroupv2 level 2 \"system.slice/c.service\" accept\n");
	send_event("started\tsystem\tnftables.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "rule_add "), 4));
	cr_assert(eq(u32, count(fx.log, "rule_remove "), 3));
	cr_assert(eq(u32, count(fx.log, "flush "), 2), "-f flushes at start only");
	cr_assert(eq(u32, count(fx.log, "apply c.service"), 1));
}

Test(manager, reload_with_unit_and_a_broken_config_reapplies_the_running_one)
{
	char *reload[] = { "nftables.service", NULL };

	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .reload_units = reload }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 2));
	write_file(fx.conf, "# c.service :: add rule inet\n");
	send_event("started\tsystem\tnftables.service");
	run_pending();
	cr_assert(logged("nftables.conf:1: expected"));
	cr_assert(logged("Reload failed, keeping the running configuration; re-applying its rules"));
	cr_assert(eq(u32, count(fx.log, "apply "), 4), "the firewall reload emptied the chains: re-apply");
	cr_assert(eq(u32, count(fx.log, "rule_remove "), 0));
}

Test(manager, sighup_good_config)
{
	mkcg("system.slice/a.service");
	mkcg("system.slice/b.service");
	mkcg("system.slice/c.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	/* b's rule leaves, c's rule arrives, a's rules move down one line */
	write_file(fx.conf,
		   "\n# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
		   "# a.service :: add rule inet f c tcp dport 25 socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
		   "# c.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/c.service\" accept\n");
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c2"), 1));
	cr_assert(eq(u32, count(fx.log, "rule_add "), 4));
	cr_assert(eq(u32, count(fx.log, "apply c.service"), 1));
	/* unchanged rules are not touched again */
	cr_assert(eq(u32, count(fx.log, "apply a.service"), 2));
	cr_assert(not(holds("b.service")));
	cr_assert(holds("c.service"));
	cr_assert(eq(u32, fx.m->config->rules[0]->pub.line, 2));
}

Test(manager, sighup_edit_is_replaced_at_once_new_first)
{
	char *log, *add, *rem;

	mkcg("system.slice/a.service");
	cr_assert(eq(int, start("# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" drop\n",
				(struct manager_options){ .cooldown_usec = 10 * 1000000ULL }, NULL), 0));
	run_pending();
	write_file(fx.conf, "# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" counter drop\n");
	/* when manager_reload() returns the edit is at the sink, without waiting for a
	 * cooldown: the new form in, then the old one out */
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	log = read_file(fx.log);
	add = strstr(log, A_STARTED "add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" counter drop");
	rem = strstr(log, "rule_remove add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" drop");
	cr_assert(ne(ptr, add, NULL), "%s", log);
	cr_assert(ne(ptr, rem, NULL), "%s", log);
	cr_assert(lt(ptr, add, rem), "%s", log);
	free(log);
	cr_assert(holds("counter drop"));
	cr_assert(eq(sz, hashmap_size(fx.m->applied), 1));
}

Test(manager, sighup_broken_config_changes_nothing)
{
	char *before, *after;

	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	before = held();
	write_file(fx.conf, "# c.service :: add rule inet f c accept\n# d.service :: add rule inet f \\\nnot a comment\n");
	cr_assert(lt(int, manager_reload(fx.m, false), 0));
	run_pending();
	after = held();
	cr_assert(eq(str, before, after));
	cr_assert(logged("nftables.conf:2: broken continuation"));
	cr_assert(logged("keeping the running configuration"));
	cr_assert(eq(u32, count(fx.log, "rule_remove"), 0));
	cr_assert(eq(sz, fx.m->config->n_rules, 3));
	free(before);
	free(after);
}

Test(manager, sighup_refused_rule_rolls_back)
{
	char *before, *after;

	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, ",refuse=REFUSEME"), 0));
	run_pending();
	before = held();
	/* a's first rule would move to line 3 */
	write_file(fx.conf, "# c.service :: add rule inet f c accept\n\n"
			    "# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
			    "# d.service :: add rule inet f c REFUSEME\n");
	cr_assert(lt(int, manager_reload(fx.m, false), 0));
	after = held();
	cr_assert(eq(str, before, after));
	cr_assert(logged("nftables.conf:4: no sink can express this rule (sink-test: test sink refuses 'REFUSEME')"));
	/* the new rule that was taken is given back, the old ones stay where they were */
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c accept"), 1));
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c socket"), 0));
	cr_assert(eq(u32, fx.m->config->rules[0]->pub.line, 2), "file:line of a running rule changed");
	cr_assert(eq(u32, fx.m->config->rules[0]->line, 2));
	free(before);
	free(after);
}

Test(manager, failed_apply_is_a_warning_and_retried)
{
	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, ",fail=dport"), 0));
	cr_assert(logged("nftables.conf:3: unit 'a.service': sink-test failed to apply the rule: test sink fails 'dport'"));
	cr_assert(eq(u32, fx.m->n_failed, 1));
	cr_assert(eq(u32, fx.m->n_applied, 2 - 1));
	/* the next look sends the failed one again, not the good one */
	send_event("changed\tsystem\ta.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, A_STARTED "add rule inet f c tcp"), 2));
	cr_assert(eq(u32, count(fx.log, A_STARTED "add rule inet f c socket"), 1));
}

Test(manager, broken_config_at_start)
{
	int r = start("# a.service :: add rule inet\n", (struct manager_options){}, NULL);

	cr_assert(lt(int, r, 0));
	cr_assert(logged("nftables.conf:1: expected"));
	cr_assert(eq(u32, count(fx.log, "rule_add"), 0));
}

Test(manager, state_is_freed_with_its_units_and_rules)
{
	mkcg("system.slice/a.service");
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	cr_assert(eq(int, start("# system/x.service :: add rule inet f c meta mark 1 %{unit}\n"
				"# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n",
				(struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	cr_assert(eq(sz, hashmap_size(fx.m->applied), 2));
	write_file(fx.conf, "\n");
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	cr_assert(eq(sz, hashmap_size(fx.m->applied), 0));
	rmcg("system.slice/x.service");
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	cr_assert(eq(sz, hashmap_size(fx.m->units), 0));
}

/* A unit's history in the journal: one message per change, with its MESSAGE_ID and the
 * unit's fields; an unchanged re-apply adds nothing at the default level. */
Test(manager, unit_history_is_structured)
{
	char applied[256], withdrawn[256];

	mkcg("system.slice/x.service");
	cr_assert(eq(int, start("# system/x.service :: add rule inet f c meta mark 1 %{unit}\n",
				(struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	snprintf(applied, sizeof(applied), "%s x.service 1:0 %s:1", SCNPM_MESSAGE_APPLIED, fx.conf);
	snprintf(withdrawn, sizeof(withdrawn), "%s x.service 1:0 %s:1", SCNPM_MESSAGE_WITHDRAWN,
		 fx.conf);
	cr_assert(eq(u32, logged_fields(applied), 1));
	manager_reapply_all(fx.m);
	run_pending();
	cr_assert(eq(u32, logged_fields(applied), 1), "an unchanged re-apply is no news");
	rmcg("system.slice/x.service");
	send_event("stopped\tsystem\tx.service");
	run_pending();
	cr_assert(eq(u32, logged_fields(withdrawn), 1));
	mkcg("system.slice/x.service");
	send_event("started\tsystem\tx.service");
	run_pending();
	cr_assert(eq(u32, logged_fields(applied), 2));
	cr_assert(logged("nftables.conf:1: unit 'x.service': applied"));

	write_file(fx.conf, "# system/x.service :: add rule inet f c meta mark 2 %{unit}\n");
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	cr_assert(eq(u32, logged_fields(SCNPM_MESSAGE_RELOADED), 1));
	write_file(fx.conf, "# x.service :: add rule inet\n");
	cr_assert(lt(int, manager_reload(fx.m, false), 0));
	cr_assert(eq(u32, logged_fields(SCNPM_MESSAGE_RELOAD_FAILED), 1));
}

Test(manager, status_line_counts_what_is_in_place)
{
	_cleanup_free_ char *line = NULL;

	mkcg("system.slice/a.service");
	mkcg("system.slice/b.service");
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, ",fail=c2"), 0));
	run_pending();
	cr_assert(eq(int, manager_status_line(fx.m, &line), 0));
	/* a.service's two rules are one unit; b.service's failed */
	cr_assert(eq(str, line, "3 rules, 1 unit; 1 failed"));
}
