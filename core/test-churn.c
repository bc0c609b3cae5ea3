/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Memory guards: what the router keeps must follow the units that run, not every unit
 * name it ever saw. Transient scopes get a new name each time (run-u123.scope), so a
 * host that runs jobs sees an unbounded number of names. Thousands of them come and go
 * here, from the system manager and a user's, through glob directives, with cooldowns,
 * a service that restarts, resyncs and reloads in between; the heap in use after that
 * must be what it was after a warm-up round (heap-use.h). Counted, never timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "heap-use.h"
#include "log.h"
#include "manager-fixture.h"
#include "unit.h"
#include "util.h"

#define BATCH 100
#define USER_APP "user.slice/user-1000.slice/user@1000.service/app.slice"

static const char conf[] =
	"# run-u*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
	"# user/run-u*.scope :: add rule inet f u socket cgroupv2 level %{level} %{cgroup} accept\n"
	"# any/svc.service :: add rule inet f s socket cgroupv2 level 2 \"system.slice/svc.service\" accept\n"
	"# job@*.service :: add element inet f jobs { %{unit} }\n";

/* What a config reload swaps in and out, in turn: two directives of another text. */
static void write_conf(unsigned variant)
{
	char *c = NULL;

	cr_assert(ge(int, asprintf(&c, "%s"
				   "# svc.service :: add rule inet f s socket cgroupv2 level 2 \"system.slice/svc.service\" udp dport %u accept\n"
				   "# run-u*.scope :: add element inet f v%u { %%{cgroup} }\n",
				   conf, 7000 + variant, variant), 0));
	write_file(fx.conf, c);
	free(c);
}

/* Unit i of each kind (a system scope, a user's scope, a template instance) starts or
 * stops: its cgroup appears or goes, and the source says so. */
static void churn_units(bool up, unsigned first)
{
	static const char *const kinds[][3] = {
		{ "system", "system.slice", "run-u%u.scope" },
		{ "user:1000", USER_APP, "run-u%u.scope" },
		{ "system", "system.slice/system-job.slice", "job@%u.service" },
	};
	char unit[64], path[256], line[512];

	for (unsigned i = first; i < first + BATCH; i++) {
		for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
			snprintf(unit, sizeof(unit), kinds[k][2], i);
			snprintf(path, sizeof(path), "%s/%s", kinds[k][1], unit);
			if (up)
				mkcg(path);
			else
				rmcg(path);
			snprintf(line, sizeof(line), "%s\t%s\t%s\t%s", up ? "started" : "stopped",
				 kinds[k][0], unit, path);
			send_event(line);
		}
		if (i % 8 == 0)
			run_pending(); /* the source's pipe holds 64 KiB */
	}
	run_pending();
}

/* One batch of BATCH new names per kind: each starts, then stops, and its cooldown ends. */
static void churn_batch(unsigned first)
{
	churn_units(true, first);
	/* the service restarts: a new cgroup of the same name */
	rmcg("system.slice/svc.service");
	send_event("stopped\tsystem\tsvc.service");
	mkcg("system.slice/svc.service");
	send_event("started\tsystem\tsvc.service\tsystem.slice/svc.service");
	churn_units(false, first);
	if (first / BATCH % 10 == 0)
		send_event("resync");
	if (first / BATCH % 25 == 0) {
		write_conf(first / BATCH % 2);
		cr_assert(eq(int, manager_reload(fx.m, first / BATCH % 50 == 0), 0));
	}
	run_pending();
	/* the cooldowns end (1 ms each, one queue) */
	while (fx.m->cool_head)
		cr_assert(ge(int, sd_event_run(fx.e, UINT64_MAX), 0));
	run_pending();
}

static void churn(unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i += BATCH)
		churn_batch(i);
}

Test(churn, unit_names_that_come_and_go_leave_nothing_behind)
{
	enum { WARMUP = 1000, N = 7000 };
	size_t warm, after;

	/* the captured log would grow with every event; problems still reach it */
	log_set_max_level(LOG_WARNING);
	mkcg("system.slice/svc.service");
	cr_assert(eq(int, start(conf, (struct manager_options){ .cooldown_usec = 1000 }, NULL), 0));
	write_conf(1);
	run_pending();

	churn(0, WARMUP);
	warm = heap_in_use();
	churn(WARMUP, N);
	after = heap_in_use();

	/* the router forgot them all, and the sink holds only the service */
	cr_assert(le(sz, hashmap_size(fx.m->units), 1), "units left: %zu", hashmap_size(fx.m->units));
	cr_assert(le(sz, hashmap_size(fx.m->applied), 2), "records left: %zu", hashmap_size(fx.m->applied));
	cr_assert(not(holds("run-u")));
	cr_assert(not(holds("job@")));
	cr_assert(ge(u32, count(fx.log, "apply run-u"), 4 * (WARMUP + N)), "each started and stopped");
	cr_assert(eq(u32, count(fx.log, "apply job@"), 2 * (WARMUP + N)));
	cr_assert(eq(ptr, fx.logs, NULL), "%s", fx.logs ? fx.logs[0] : "");
	heap_use_assert_flat("unit names", warm, after, 3 * N);
}

TestSuite(churn, .init = fixture_setup, .fini = fixture_teardown);
