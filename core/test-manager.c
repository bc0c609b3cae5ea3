/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The router, driven one sd-event iteration at a time, with the stand-in source and sink
 * from tests/lib: events go in through a pipe, and the sink's log and held state show
 * what the core asked of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "loader.h"
#include "log.h"
#include "manager.h"
#include "util.h"

struct fixture {
	sd_event *e;
	struct manager *m;
	int pipe[2];
	char dir[64];
	char log[128], conf[128];
	char **logs; /* captured daemon messages */
	char *files[2];
};

static struct fixture fx;

static void capture_log(int level, const char *message, void *userdata)
{
	char *s = NULL;

	if (asprintf(&s, "<%d>%s", level, message) >= 0) {
		strv_push(&fx.logs, s);
		free(s);
	}
}

static bool logged(const char *substring)
{
	STRV_FOREACH(l, fx.logs)
		if (strstr(*l, substring))
			return true;
	return false;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");

	cr_assert(ne(ptr, f, NULL));
	fputs(text, f);
	fclose(f);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return strdup("");
	if (getdelim(&buf, &n, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

static unsigned count(const char *path, const char *substring)
{
	char *s = read_file(path);
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, substring)); p++)
		n++;
	free(s);
	return n;
}

static char *held(void)
{
	char p[160];

	snprintf(p, sizeof(p), "%s.held", fx.log);
	return read_file(p);
}

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	strcpy(fx.dir, "/tmp/scnpm-test-manager-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(fx.dir), NULL));
	snprintf(fx.log, sizeof(fx.log), "%s/sink.log", fx.dir);
	snprintf(fx.conf, sizeof(fx.conf), "%s/nftables.conf", fx.dir);
	cr_assert(eq(int, pipe2(fx.pipe, O_CLOEXEC | O_NONBLOCK), 0));
	cr_assert(eq(int, sd_event_new(&fx.e), 0));
	log_set_max_level(LOG_DEBUG);
	log_set_callback(capture_log, NULL);
}

static void teardown(void)
{
	char cmd[128];

	manager_free(fx.m);
	sd_event_unref(fx.e);
	close(fx.pipe[0]);
	close(fx.pipe[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	(void)!system(cmd);
	strv_free(fx.logs);
}

TestSuite(manager, .init = setup, .fini = teardown);

/* Build a manager with the test modules and start it; returns manager_start()'s result. */
static int start(const char *conf, struct manager_options opt, const char *sink_extra)
{
	char spec[256], *error = NULL;
	struct module *src, *snk;
	int r;

	write_file(fx.conf, conf);
	fx.files[0] = fx.conf;
	opt.config_files = fx.files;
	cr_assert(eq(int, manager_new(fx.e, &opt, &fx.m), 0));

	snprintf(spec, sizeof(spec), "test:fd=%d", fx.pipe[0]);
	r = module_load(TEST_MODULES_DIR, SCNPM_MODULE_SOURCE, spec, &src, &error);
	cr_assert(eq(int, r, 0), "%s", error ?: "");
	cr_assert(eq(int, manager_add_module(fx.m, src), 0));
	snprintf(spec, sizeof(spec), "test:log=%s%s", fx.log, sink_extra ?: "");
	r = module_load(TEST_MODULES_DIR, SCNPM_MODULE_SINK, spec, &snk, &error);
	cr_assert(eq(int, r, 0), "%s", error ?: "");
	cr_assert(eq(int, manager_add_module(fx.m, snk), 0));

	r = manager_load_config(fx.m);
	if (r < 0)
		return r;
	return manager_start(fx.m);
}

static void send_event(const char *line)
{
	size_t n = strlen(line);

	cr_assert(eq(long, write(fx.pipe[1], line, n), (long)n));
	cr_assert(eq(long, write(fx.pipe[1], "\n", 1), 1L));
}

/* Run until the loop has nothing more to do right now. */
static void run_pending(void)
{
	while (sd_event_run(fx.e, 0) > 0)
		;
}

static const char conf_basic[] =
	"flush ruleset\n"
	"# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
	"# a.service :: add rule inet f c tcp dport 25 socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
	"# b.service :: add rule inet f c2 socket cgroupv2 level 2 \"system.slice/b.service\" accept\n";

Test(manager, initial_reconcile)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	/* every rule handed to the sink once, then applied once */
	cr_assert(eq(u32, count(fx.log, "rule_add "), 3));
	cr_assert(eq(u32, count(fx.log, "apply a.service 0:0 changed - :: add rule inet f c socket"), 1));
	cr_assert(eq(u32, count(fx.log, "apply a.service 0:0 changed - :: add rule inet f c tcp"), 1));
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 changed - :: "), 1));
	cr_assert(eq(u32, count(fx.log, "flush "), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));
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
	send_event("started\tsystem\ta.service\tsystem.slice/a.service\t42");
	send_event("started\tsystem\tunrelated.service");
	send_event("started\tsystem\ta\";add rule inet f c accept;.service");
	send_event("started\tsystem\ta.service\tsystem.slice/../a.service");
	send_event("raw-short");
	run_pending();
	/* non-templated rules: one instance whichever manager reported the unit */
	cr_assert(eq(u32, count(fx.log, "apply a.service 0:0 started system.slice/a.service :: "), 2));
	cr_assert(eq(u32, count(fx.log, "unrelated"), 0));
	cr_assert(eq(u32, count(fx.log, "add rule inet f c accept;"), 0));
	cr_assert(logged("dropping event for invalid unit name 'a\\\";add rule"), "hostile name not reported");
	cr_assert(logged("invalid cgroup path 'system.slice/../a.service'"));
	cr_assert(logged("struct too short"));
	cr_assert(eq(u32, fx.m->n_dropped, 3));
}

Test(manager, cooldown_coalesces_bursts)
{
	/* Long enough that even a loaded machine sends the burst within it. */
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 2 * 1000000ULL }, NULL), 0));
	run_pending();
	/* The initial reconcile applied b.service once (as a unit of unknown manager, a
	 * separate entry from the system unit the events below report). */
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 "), 1));
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 started"), 1), "first event applies at once");
	/* events that add nothing new (a reload, a repeated start) wait for the cooldown */
	send_event("changed\tsystem\tb.service");
	send_event("started\tsystem\tb.service");
	send_event("changed\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 "), 2), "burst must wait for the cooldown");
	/* a stop within the cooldown waits too; the start after it is a new incarnation of
	 * the unit (the journal's restart) and is applied at once */
	send_event("stopped\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 "), 2));
	send_event("started\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 started"), 2), "a restart applies at once");
	send_event("changed\tsystem\tb.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 "), 3));
	/* Wait for the cooldown timers (the initial reconcile's entries have theirs too):
	 * exactly one more dispatch for b, with the latest state. */
	for (int i = 0; i < 8 && count(fx.log, "apply b.service 0:0 ") < 4; i++)
		cr_assert(eq(int, sd_event_run(fx.e, UINT64_MAX), 1));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 changed"), 2));
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 "), 4));
	cr_assert(eq(u32, count(fx.log, "apply b.service 0:0 stopped"), 0));
	char *h = held();
	cr_assert(ne(ptr, strstr(h, "b.service 0:0 :: add rule inet f c2"), NULL));
	free(h);
}

Test(manager, stop_withdraws)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	send_event("stopped\tsystem\tb.service");
	run_pending();
	char *h = held();
	cr_assert(eq(ptr, strstr(h, "b.service"), NULL), "held: %s", h);
	cr_assert(ne(ptr, strstr(h, "a.service"), NULL), "held: %s", h);
	free(h);
}

static const char conf_templated[] =
	"# user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n"
	"# system/x.service :: add rule inet f c meta mark 1 %{unit}\n";

Test(manager, patterns_and_templates)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	/* nothing to apply at start: templates need a unit's real manager */
	cr_assert(eq(u32, count(fx.log, "apply "), 0));
	send_event("started\tuser:1000\tapp-mail.scope\tuser.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope\t7");
	send_event("started\tsystem\tapp-sys.scope\tsystem.slice/app-sys.scope");
	send_event("started\tuser:1000\tx.service\tuser.slice/user-1000.slice/user@1000.service/app.slice/x.service");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service");
	run_pending();
	char *h = held();
	cr_assert(ne(ptr, strstr(h, "app-mail.scope 2:1000 :: add rule inet f c socket cgroupv2 level 5 \"user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope\" accept"), NULL), "held: %s", h);
	cr_assert(eq(ptr, strstr(h, "app-sys.scope"), NULL), "held: %s", h);
	cr_assert(ne(ptr, strstr(h, "x.service 1:0 :: add rule inet f c meta mark 1 \"x.service\""), NULL), "held: %s", h);
	cr_assert(eq(ptr, strstr(h, "x.service 2:"), NULL), "held: %s", h);
	free(h);

	/* the journal reports the same unit without a cgroup: what we know is kept */
	send_event("changed\tuser:1000\tapp-mail.scope");
	run_pending();
	h = held();
	cr_assert(ne(ptr, strstr(h, "level 5 \"user.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope\""), NULL), "held: %s", h);
	free(h);

	/* ... nor does its "stopped": the cgroup source is the authority on the cgroup */
	send_event("stopped\tuser:1000\tapp-mail.scope");
	run_pending();
	h = held();
	cr_assert(ne(ptr, strstr(h, "app-mail.scope"), NULL), "held: %s", h);
	free(h);
	send_event("stopped\tuser:1000\tapp-mail.scope\tuser.slice/user-1000.slice/user@1000.service/app.slice/app-mail.scope\t7");
	run_pending();
	h = held();
	cr_assert(eq(ptr, strstr(h, "app-mail.scope"), NULL), "held: %s", h);
	free(h);
}

Test(manager, new_cgroup_applies_at_once_within_cooldown)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 10 * 1000000ULL }, NULL), 0));
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t100");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started system.slice/x.service"), 1));
	/* a restart as a cgroup source sees it: old cgroup gone, new one there */
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service\t100");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t101");
	run_pending();
	/* no waiting for the (10 s) cooldown: the new cgroup is applied now */
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 started system.slice/x.service"), 2));
	/* the same cgroup reported again (another source) coalesces */
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t101");
	send_event("changed\tsystem\tx.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply x.service 1:0 "), 2));
}

Test(manager, journal_does_not_override_cgroupfs)
{
	cr_assert(eq(int, start(conf_templated, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	/* restart seen by cgroupfs, then the journal's late messages for it */
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t100");
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service\t100");
	send_event("started\tsystem\tx.service\tsystem.slice/x.service\t101");
	send_event("stopped\tsystem\tx.service");
	send_event("started\tsystem\tx.service");
	run_pending();
	char *h = held();
	cr_assert(ne(ptr, strstr(h, "x.service 1:0 :: add rule inet f c meta mark 1 \"x.service\""), NULL), "held: %s", h);
	free(h);
	/* a real stop, seen by cgroupfs, withdraws */
	send_event("stopped\tsystem\tx.service\tsystem.slice/x.service\t101");
	send_event("stopped\tsystem\tx.service");
	run_pending();
	h = held();
	cr_assert(eq(ptr, strstr(h, "x.service"), NULL), "held: %s", h);
	free(h);
}

Test(manager, initial_scan_is_dispatched_once)
{
	/* reported by the source while it starts, like source-cgroupfs's scan */
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

	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .reapply_units = reapply }, NULL), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 3));
	send_event("started\tsystem\tnftables.service");
	run_pending();
	/* every rule once more; nothing re-read */
	cr_assert(eq(u32, count(fx.log, "apply "), 6));
	cr_assert(eq(u32, count(fx.log, "rule_add "), 3));
	/* a user unit of that name does not count */
	send_event("started\tuser:1000\tnftables.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "apply "), 6));
}

Test(manager, reload_with_unit)
{
	char *reload[] = { "nftables.service", NULL };

	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .reload_units = reload, .flush = true }, NULL), 0));
	run_pending();
	write_file(fx.conf, "# c.service :: add rule inet f c3 accept\n");
	send_event("started\tsystem\tnftables.service");
	run_pending();
	cr_assert(eq(u32, count(fx.log, "rule_add "), 4));
	cr_assert(eq(u32, count(fx.log, "rule_remove "), 3));
	cr_assert(eq(u32, count(fx.log, "flush inet f c3"), 1), "-u with --flush flushes again");
	cr_assert(eq(u32, count(fx.log, "apply c.service"), 1));
}

Test(manager, sighup_good_config)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, NULL), 0));
	run_pending();
	/* b's rule leaves, c's rule arrives, a's rules move down one line */
	write_file(fx.conf,
		   "\n# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
		   "# a.service :: add rule inet f c tcp dport 25 socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
		   "# c.service :: add rule inet f c accept\n");
	cr_assert(eq(int, manager_reload(fx.m, false), 0));
	run_pending();
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c2"), 1));
	cr_assert(eq(u32, count(fx.log, "rule_add "), 4));
	cr_assert(eq(u32, count(fx.log, "apply c.service"), 1));
	/* unchanged rules are not touched again */
	cr_assert(eq(u32, count(fx.log, "apply a.service"), 2));
	char *h = held();
	cr_assert(eq(ptr, strstr(h, "b.service"), NULL), "held: %s", h);
	cr_assert(ne(ptr, strstr(h, "c.service"), NULL), "held: %s", h);
	free(h);
	cr_assert(eq(u32, fx.m->config->rules[0]->pub.line, 2));
}

Test(manager, sighup_broken_config_changes_nothing)
{
	char *before, *after;

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

	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, ",refuse=REFUSEME"), 0));
	run_pending();
	before = held();
	write_file(fx.conf, "# c.service :: add rule inet f c accept\n# d.service :: add rule inet f c REFUSEME\n");
	cr_assert(lt(int, manager_reload(fx.m, false), 0));
	after = held();
	cr_assert(eq(str, before, after));
	cr_assert(logged("nftables.conf:2: no sink can express this rule (sink-test: test sink refuses 'REFUSEME')"));
	/* the new rule that was taken is given back, the old ones stay */
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c accept"), 1));
	cr_assert(eq(u32, count(fx.log, "rule_remove add rule inet f c socket"), 0));
	free(before);
	free(after);
}

Test(manager, failed_apply_is_a_warning)
{
	cr_assert(eq(int, start(conf_basic, (struct manager_options){ .cooldown_usec = 0 }, ",fail=dport"), 0));
	cr_assert(logged("nftables.conf:3: unit 'a.service': sink-test failed to apply the rule: test sink fails 'dport'"));
	cr_assert(eq(u32, fx.m->n_failed, 1));
	cr_assert(eq(u32, fx.m->n_applied, 2));
}

Test(manager, broken_config_at_start)
{
	int r = start("# a.service :: add rule inet\n", (struct manager_options){}, NULL);

	cr_assert(lt(int, r, 0));
	cr_assert(logged("nftables.conf:1: expected"));
	cr_assert(eq(u32, count(fx.log, "rule_add"), 0));
}
