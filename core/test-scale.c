/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Complexity guards: what a start costs in the cgroup tree must not grow with the
 * product of directives and slices. Counted, never timed: directories read
 * (cgroup_tree_dirs_read()) while the manager starts with N directives for N units
 * that run nowhere, with a tree of a few slices.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "cgroup-tree.h"
#include "manager-fixture.h"
#include "unit.h"
#include "util.h"

TestSuite(scale, .init = fixture_setup, .fini = fixture_teardown);

/* N directives, each for its own unit: "# cf-I.service :: ..." */
static char *conf_of(unsigned n)
{
	char *c = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&c, &len);

	cr_assert(ne(ptr, f, NULL));
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "# cf-%u.service :: add rule inet f c socket cgroupv2 level %%{level} %%{cgroup} accept\n", i);
	fclose(f);
	return c;
}

static uint64_t dirs_read_starting(unsigned n)
{
	_cleanup_free_ char *conf = conf_of(n);
	uint64_t before = cgroup_tree_dirs_read();

	cr_assert(eq(int, start(conf, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	return cgroup_tree_dirs_read() - before;
}

static void make_tree(void)
{
	mkcg("system.slice/a.service");
	mkcg("machine.slice/m.scope");
	mkcg("a.slice/a-b.slice/a-b-c.slice/x.service");
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope");
}

Test(scale, absent_units_cost_one_walk_at_start)
{
	uint64_t small, big;

	make_tree();
	small = dirs_read_starting(20);
	fixture_teardown();
	fixture_setup();
	make_tree();
	big = dirs_read_starting(2000);
	/* the same walk of the tree, whatever the number of units looked up */
	cr_assert(eq(u64, small, big));
	cr_assert(gt(u64, small, 0));
}

Test(scale, the_walk_finds_units_where_a_lookup_would)
{
	_cleanup_free_ char *conf = conf_of(20);
	_cleanup_free_ char *all = NULL;

	make_tree();
	cr_assert(ge(int, asprintf(&all, "%s"
				   "# x.service :: add rule inet f c socket cgroupv2 level %%{level} %%{cgroup} accept\n"
				   "# user@1000/app-x.scope :: add rule inet f c socket cgroupv2 level %%{level} %%{cgroup} accept\n"
				   "# a-b.slice :: add rule inet f c socket cgroupv2 level %%{level} %%{cgroup} accept\n",
				   conf), 0));
	cr_assert(eq(int, start(all, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started a.slice/a-b.slice/a-b-c.slice/x.service :: "), 1));
	cr_assert(eq(u32, count(fx.log, "apply app-x.scope 2:1000 started user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope :: "), 1));
	cr_assert(eq(u32, count(fx.log, "apply a-b.slice 1:0 started a.slice/a-b.slice :: "), 1));
	cr_assert(eq(u32, count(fx.log, "apply cf-"), 0));
}

/* Cooldowns share one queue and one timer: many units in their cooldown at once end
 * in the order they began, each pending unit dispatched once more, and then nothing
 * is left queued. */
Test(scale, cooldowns_end_in_order_from_one_queue)
{
	enum { N = 100 };
	char line[128], path[64];
	const struct unit *prev = NULL;
	unsigned queued = 0;

	cr_assert(eq(int, start("# cq-*.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n",
				(struct manager_options){ .cooldown_usec = 1000000ULL }, NULL), 0));
	run_pending();
	for (unsigned i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "system.slice/cq-%u.service", i);
		mkcg(path);
		snprintf(line, sizeof(line), "started\tsystem\tcq-%u.service\t%s", i, path);
		send_event(line);
		run_pending();
	}
	cr_assert(eq(u32, count(fx.log, "apply cq-"), N), "each start at once");
	for (const struct unit *u = fx.m->cool_head; u; prev = u, u = u->cool_next, queued++)
		cr_assert(prev == NULL || prev->cool_until <= u->cool_until);
	cr_assert(eq(u32, queued, N));
	/* stops within the cooldown wait for its end */
	for (unsigned i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "system.slice/cq-%u.service", i);
		rmcg(path);
		snprintf(line, sizeof(line), "stopped\tsystem\tcq-%u.service", i);
		send_event(line);
	}
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply cq-"), N));
	while (fx.m->cool_head)
		cr_assert(ge(int, sd_event_run(fx.e, UINT64_MAX), 0));
	cr_assert(eq(u32, count(fx.log, "apply cq-"), 2 * N), "each stop once, when its cooldown ended");
	cr_assert(not(holds("cq-")));
	cr_assert(eq(sz, hashmap_size(fx.m->units), 0), "and the units are forgotten");
}
