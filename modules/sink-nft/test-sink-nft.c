/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft against a real kernel: root only, each test in its own network and mount
 * namespace with cgroup2 mounted at /sys/fs/cgroup (where nft resolves cgroupv2 paths).
 * The cgroup2 hierarchy itself is the host's: every cgroup made here is removed again,
 * deepest first, in the fixture's teardown, also when the test failed.
 * Under CI=true a missing prerequisite fails the test instead of skipping it.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <nftables/libnftables.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <scnpm/module.h>

#include "fake-host.h"

#define CG_ROOT	    "/sys/fs/cgroup"
#define MAX_CGROUPS 16

static struct {
	sd_event *event;
	struct fake_host *fh;
	void *dl;
	const struct scnpm_module *m;
	void *state;
	struct nft_ctx *nft;		/* the test's own: other people's rules, listings */
	char slice[64];			/* "scnpmtest<pid>.slice" */
	char cgroups[MAX_CGROUPS][128]; /* created, relative to CG_ROOT, in creation order */
	size_t n_cgroups;
	int ready;
} fx;

static void prerequisite_missing(const char *what)
{
	const char *ci = getenv("CI");

	if (ci && strcmp(ci, "true") == 0)
		cr_fatal("sink-nft kernel test needs %s (CI=true: not skipping)", what);
	cr_skip_test("sink-nft kernel test needs %s", what);
}

static void cg_rmdir_all(void)
{
	char path[256];

	/* Deepest first: children were created after their parents. */
	for (size_t i = fx.n_cgroups; i > 0; i--) {
		snprintf(path, sizeof(path), CG_ROOT "/%s", fx.cgroups[i - 1]);
		if (rmdir(path) < 0 && errno != ENOENT)
			fprintf(stderr, "rmdir %s: %m\n", path);
	}
	fx.n_cgroups = 0;
}

/* mkdir a cgroup below the test's slice; returns its path relative to the root. */
static const char *cg_mkdir(const char *name)
{
	char path[256], rel[128];

	snprintf(rel, sizeof(rel), "%s/%s", fx.slice, name);
	snprintf(path, sizeof(path), CG_ROOT "/%s", rel);
	cr_assert(eq(int, mkdir(path, 0755), 0), "mkdir %s: %s", path, strerror(errno));
	for (size_t i = 0; i < fx.n_cgroups; i++)
		if (strcmp(fx.cgroups[i], rel) == 0)
			return fx.cgroups[i];
	cr_assert(lt(sz, fx.n_cgroups, MAX_CGROUPS));
	snprintf(fx.cgroups[fx.n_cgroups], sizeof(fx.cgroups[0]), "%s", rel);
	return fx.cgroups[fx.n_cgroups++];
}

static void cg_rmdir(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), CG_ROOT "/%s/%s", fx.slice, name);
	cr_assert(eq(int, rmdir(path), 0), "rmdir %s: %s", path, strerror(errno));
}

static void nft_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void nft_ok(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	int r;

	va_start(ap, fmt);
	cr_assert(ge(int, vasprintf(&cmd, fmt, ap), 0));
	va_end(ap);
	nft_ctx_output_set_flags(fx.nft, 0);
	r = nft_run_cmd_from_buffer(fx.nft, cmd);
	cr_assert(eq(int, r, 0), "nft '%s': %s", cmd, nft_ctx_get_error_buffer(fx.nft));
	free(cmd);
}

/* The rules of chain c as nft lists them (with handles); returns how many. */
static size_t list_rules(char lines[][512], uint64_t *handles, size_t max)
{
	const char *out, *p;
	size_t n = 0;

	nft_ctx_output_set_flags(fx.nft, NFT_CTX_OUTPUT_HANDLE);
	cr_assert(eq(int, nft_run_cmd_from_buffer(fx.nft, "list chain inet scnpmt c"), 0),
		  "list: %s", nft_ctx_get_error_buffer(fx.nft));
	out = nft_ctx_get_output_buffer(fx.nft);
	for (p = out; p && *p;) {
		const char *eol = strchrnul(p, '\n'), *h;
		char line[512];

		snprintf(line, sizeof(line), "%.*s", (int)(eol - p), p);
		h = strstr(line, " # handle ");
		/* rule lines are indented twice; the chain's own line once */
		if (h && strncmp(line, "\t\t", 2) == 0) {
			cr_assert(lt(sz, n, max));
			if (lines)
				snprintf(lines[n], 512, "%s", line);
			if (handles)
				handles[n] = strtoull(h + strlen(" # handle "), NULL, 10);
			n++;
		}
		p = *eol ? eol + 1 : eol;
	}
	return n;
}

static size_t count_rules(const char *needle)
{
	char lines[64][512];
	size_t n = list_rules(lines, NULL, 64), k = 0;

	for (size_t i = 0; i < n; i++)
		if (!needle || strstr(lines[i], needle))
			k++;
	return k;
}

static void setup(void)
{
	int (*init)(const struct scnpm_host *, void **);

	if (geteuid() != 0)
		prerequisite_missing("root");
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
		prerequisite_missing("network and mount namespaces (unshare failed)");
	/* Keep our mounts out of the host's namespace. */
	cr_assert(eq(int, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0));
	if (mount("none", CG_ROOT, "cgroup2", 0, NULL) < 0)
		prerequisite_missing("cgroup2 (mount failed)");

	snprintf(fx.slice, sizeof(fx.slice), "scnpmtest%d.slice", (int)getpid());
	{
		char path[256];

		snprintf(path, sizeof(path), CG_ROOT "/%s", fx.slice);
		cr_assert(eq(int, mkdir(path, 0755), 0), "mkdir %s: %s", path, strerror(errno));
		snprintf(fx.cgroups[fx.n_cgroups++], sizeof(fx.cgroups[0]), "%s", fx.slice);
	}

	fx.nft = nft_ctx_new(NFT_CTX_DEFAULT);
	cr_assert(ne(ptr, fx.nft, NULL));
	nft_ctx_buffer_output(fx.nft);
	nft_ctx_buffer_error(fx.nft);
	nft_ok("add table inet scnpmt\nadd chain inet scnpmt c\n");

	cr_assert(eq(int, sd_event_new(&fx.event), 0));
	fx.fh = fake_host_new(fx.event, "sink-nft");

	fx.m = fake_host_load_module(MODULE_PATH, &fx.dl);
	cr_assert(ne(ptr, (void *)fx.m, NULL), "cannot load " MODULE_PATH);
	cr_assert(eq(u32, fx.m->abi, SCNPM_MODULE_ABI));
	cr_assert(eq(u32, fx.m->kind, SCNPM_MODULE_SINK));
	init = fx.m->init;
	cr_assert(eq(int, init(&fx.fh->host, &fx.state), 0));
	cr_assert(eq(int, fx.m->start(fx.state), 0));
	fx.ready = 1;
}

static void teardown(void)
{
	if (fx.m)
		fx.m->done(fx.state);
	if (fx.dl)
		dlclose(fx.dl);
	fake_host_free(fx.fh);
	sd_event_unref(fx.event);
	if (fx.nft)
		nft_ctx_free(fx.nft);
	cg_rmdir_all();
}

TestSuite(sink_nft, .init = setup, .fini = teardown);

static struct scnpm_rule mkrule(int line, const char *body)
{
	static char texts[16][512];
	static size_t n_texts;
	char *text;

	cr_assert(lt(sz, n_texts, 16));
	text = texts[n_texts++];
	snprintf(text, sizeof(texts[0]), "add rule inet scnpmt c %s", body);
	return (struct scnpm_rule){
	    .size = sizeof(struct scnpm_rule),
	    .object = SCNPM_OBJECT_RULE,
	    .unit = "a.service",
	    .text = text,
	    .family = "inet",
	    .table = "scnpmt",
	    .name = "c",
	    .body = body,
	    .file = "test.conf",
	    .line = (uint32_t)line,
	};
}

static struct scnpm_event unit_ev(uint32_t change, const char *unit, const char *cgroup_path)
{
	return (struct scnpm_event){
	    .size = sizeof(struct scnpm_event),
	    .change = change,
	    .unit = unit,
	    .manager = SCNPM_MANAGER_SYSTEM,
	    .cgroup_path = cgroup_path,
	    .cgroup_level = cgroup_path ? 2 : 0,
	};
}

static void add_rules(struct scnpm_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert(eq(int, fx.m->rule_add(fx.state, &r[i]), 0));
}

static void apply(const struct scnpm_event *ev, struct scnpm_rule *r, size_t n)
{
	const struct scnpm_rule *rules[8];

	cr_assert(le(sz, n, 8));
	for (size_t i = 0; i < n; i++)
		rules[i] = &r[i];
	fake_host_clear_reports(fx.fh);
	cr_assert(eq(int, fx.m->apply(fx.state, ev, rules, n), 0));
	/* One report per rule. */
	cr_assert(eq(sz, fx.fh->n_reports, n));
	/* No warning: in particular, every handle was learned. */
	cr_assert(eq(sz,
		     fake_host_count_logs(fx.fh, LOG_WARNING, NULL) +
			 fake_host_count_logs(fx.fh, LOG_ERR, NULL),
		     0));
}

static uint32_t result_of(const struct scnpm_rule *r)
{
	const struct fake_report *rep = fake_host_last_report(fx.fh, r);

	cr_assert(ne(ptr, (void *)rep, NULL));
	return rep->result;
}

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

		ev.change = SCNPM_UNIT_CHANGED;
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
	ev.change = SCNPM_UNIT_CHANGED;
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
