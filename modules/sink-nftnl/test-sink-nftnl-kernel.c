/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nftnl against the real kernel, as root, in a private network and mount namespace
 * with cgroup2 mounted at /sys/fs/cgroup. The cgroup2 hierarchy is the host's, so every
 * test makes its cgroups under a parent of its own and removes them, deepest first, in
 * .fini (which also runs after a failed assertion). The module is dlopen()ed, driven by
 * a fake host on a fresh sd_event, one iteration at a time until nothing is pending.
 * Under CI (CI=true) missing root or namespaces fail; elsewhere they skip.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter.h>

#include "fake-host.h"
#include "heap-use.h"
#include "nftnl-batch.h"

#define PORT_STEERED 40001

static const char ruleset[] =
	"table inet t {\n"
	"	set allowed { type cgroupsv2; }\n"
	"	map pol { type cgroupsv2 : verdict; }\n"
	"	chain steer { udp dport 40001 counter drop; }\n"
	"	chain out { type filter hook output priority 0; policy accept; socket cgroupv2 level 2 vmap @pol; }\n"
	"	chain disp { type filter hook output priority 10; policy accept; }\n"
	"}\n";

static char parent[256];		/* "<pid>.slice" under /sys/fs/cgroup */
static char ruleset_file[64];
static sd_event *event;
static struct fake_host *fh;
static void *dl;
static const struct scnpm_module *mod;
static void *state;

static int in_ci(void)
{
	const char *ci = secure_getenv("CI");

	return ci && strcmp(ci, "true") == 0;
}

static void need(int ok, const char *what)
{
	if (ok)
		return;
	if (in_ci())
		cr_fatal("sink-nftnl kernel tests need %s (CI=true: failing, not skipping)", what);
	cr_skip_test("sink-nftnl kernel tests need %s", what);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void load_ruleset(void)
{
	cr_assert(eq(int, sh("nft -f %s", ruleset_file), 0));
}


/* "/sys/fs/cgroup/<parent>/<name>" (name "" for the parent itself) */
static const char *cg_path(const char *name)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "/sys/fs/cgroup/%s%s%s", parent, *name ? "/" : "", name);
	return buf;
}

/* "<parent>/<name>", relative to the cgroup2 root: what a source reports. A few
 * rotating buffers, so that several can be alive at once. */
static const char *cg_rel(const char *name)
{
	static char buf[8][512];
	static unsigned i;
	char *b = buf[i++ % 8];

	snprintf(b, sizeof(buf[0]), "%s/%s", parent, name);
	return b;
}

static uint64_t cg_make(const char *name)
{
	struct stat st;

	cr_assert(eq(int, mkdir(cg_path(name), 0755), 0), "mkdir %s: %m", cg_path(name));
	cr_assert(eq(int, stat(cg_path(name), &st), 0));
	return (uint64_t)st.st_ino;
}

static void cg_remove(const char *name)
{
	cr_assert(eq(int, rmdir(cg_path(name)), 0), "rmdir %s: %m", cg_path(name));
}

static void ksetup(void)
{
	FILE *f;

	need(geteuid() == 0, "root");
	need(unshare(CLONE_NEWNET | CLONE_NEWNS) == 0, "unshare(CLONE_NEWNET|CLONE_NEWNS)");
	cr_assert(eq(int, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0));
	need(mount("none", "/sys/fs/cgroup", "cgroup2", 0, NULL) == 0, "a cgroup2 mount");
	need(sh("ip link set lo up") == 0, "ip(8)");
	need(sh("nft list ruleset >/dev/null") == 0, "nft(8) and nf_tables");

	snprintf(parent, sizeof(parent), "scnpm-nftnl-test-%d.slice", (int)getpid());
	cr_assert(eq(int, mkdir(cg_path(""), 0755), 0));

	snprintf(ruleset_file, sizeof(ruleset_file), "/tmp/scnpm-nftnl-test-%d.nft", (int)getpid());
	f = fopen(ruleset_file, "we");
	cr_assert(ne(ptr, f, NULL));
	fputs(ruleset, f);
	fclose(f);

	cr_assert(eq(int, sd_event_new(&event), 0));
	fh = fake_host_new(event, "sink-nftnl");
	mod = fake_host_load_module(SINK_NFTNL_PATH, &dl);
	cr_assert(ne(ptr, (void *)mod, NULL));
	cr_assert(eq(int, mod->init(&fh->host, &state), 0));
}

static void kteardown(void)
{
	char cmd[1024];

	if (mod)
		mod->done(state);
	mod = NULL;
	fh = fake_host_free(fh);
	event = sd_event_unref(event);
	if (dl)
		dlclose(dl);
	dl = NULL;
	if (ruleset_file[0])
		unlink(ruleset_file);
	if (parent[0]) {
		/* children first (the tests use one level below the parent), then it */
		snprintf(cmd, sizeof(cmd),
			 "find /sys/fs/cgroup/%s -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir /sys/fs/cgroup/%s",
			 parent, parent);
		(void)!system(cmd);
	}
}

TestSuite(sink_nftnl_kernel, .init = ksetup, .fini = kteardown, .timeout = 60);

/* Run the loop until nothing is pending any more. */
static void settle(void)
{
	int idle = 0;

	for (int i = 0; i < 10000 && idle < 3; i++) {
		int r = sd_event_run(event, 0);

		cr_assert(ge(int, r, 0));
		idle = r == 0 ? idle + 1 : 0;
	}
}

/* The ids in a set, read with a GETSETELEM dump of our own. Sorted. */
static int set_ids(const char *table, const char *set, uint64_t *ids, size_t max);

struct ids_ctx {
	uint64_t *ids;
	size_t n, max;
};

static void on_id(uint64_t id, void *data)
{
	struct ids_ctx *c = data;

	if (c->n < c->max)
		c->ids[c->n] = id;
	c->n++;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Run the dump request in buf on a socket of our own, handing each answer to each().
 * 0 or the kernel's -errno. */
static int run_dump(char *buf, size_t size, ssize_t len,
		    void (*each)(const struct nlmsghdr *nlh, void *data), void *data)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int r = 0, done = 0;

	cr_assert(ne(ptr, nl, NULL));
	cr_assert(eq(int, mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0));
	cr_assert(gt(sz, (size_t)len, 0));
	cr_assert(ge(int, (int)mnl_socket_sendto(nl, buf, (size_t)len), 0));
	while (!done) {
		int n = (int)mnl_socket_recvfrom(nl, buf, size);
		const struct nlmsghdr *nlh;

		cr_assert(gt(int, n, 0));
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
			if (nlh->nlmsg_type == NLMSG_DONE) {
				done = 1;
			} else if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

				r = e->error;
				done = 1;
			} else
				each(nlh, data);
		}
	}
	mnl_socket_close(nl);
	return r;
}

static void each_setelem(const struct nlmsghdr *nlh, void *data)
{
	nlbatch_parse_setelem_ids(nlh, on_id, data);
}

static int set_ids(const char *table, const char *set, uint64_t *ids, size_t max)
{
	static char buf[65536];
	struct ids_ctx c = { .ids = ids, .max = max };
	int r;

	r = run_dump(buf, sizeof(buf), nlbatch_getsetelem(buf, sizeof(buf), NFPROTO_INET, table, set, 4242),
		     each_setelem, &c);
	if (r < 0)
		return r;
	qsort(ids, c.n < max ? c.n : max, sizeof(*ids), cmp_u64);
	return (int)c.n;
}

static void each_rule(const struct nlmsghdr *nlh, void *data)
{
	(*(size_t *)data)++;
}

/* How many rules chain inet t CHAIN holds, without nft (which resolves every cgroup id). */
static size_t chain_rules(const char *chain)
{
	static char buf[65536];
	size_t n = 0;

	cr_assert(eq(int, run_dump(buf, sizeof(buf),
				   nlbatch_getrule(buf, sizeof(buf), NFPROTO_INET, "t", chain, 4243),
				   each_rule, &n), 0));
	return n;
}

/* Asserts that a set holds exactly the ids given (0-terminated). */
static void assert_set(const char *set, ...)
{
	uint64_t want[16], got[16];
	size_t n_want = 0;
	va_list ap;
	int n;

	va_start(ap, set);
	for (uint64_t id; (id = va_arg(ap, uint64_t)) != 0;)
		want[n_want++] = id;
	va_end(ap);
	qsort(want, n_want, sizeof(want[0]), cmp_u64);

	n = set_ids("t", set, got, 16);
	cr_assert(eq(int, n, (int)n_want), "set %s holds %d ids, expected %zu", set, n, n_want);
	for (size_t i = 0; i < n_want; i++)
		cr_assert(eq(u64, got[i], want[i]), "set %s", set);
}

static struct scnpm_rule mkrule(uint32_t object, const char *name, const char *body)
{
	return (struct scnpm_rule){
		.size = sizeof(struct scnpm_rule),
		.object = object,
		.unit = "*.service",
		.text = "add ...",
		.family = "inet",
		.table = "t",
		.name = name,
		.body = body,
		.file = "kernel-test.conf",
		.line = 1,
	};
}

static struct scnpm_event mkunit(uint32_t change, const char *name, const char *cgroup)
{
	return (struct scnpm_event){
		.size = sizeof(struct scnpm_event),
		.change = change,
		.unit = name,
		.manager = SCNPM_MANAGER_SYSTEM,
		.cgroup_path = cgroup ? cg_rel(cgroup) : NULL,
		.cgroup_level = cgroup ? 2 : 0,
	};
}

static void apply1(const struct scnpm_rule *rule, uint32_t change, const char *unit, const char *cg)
{
	const struct scnpm_rule *rules[] = { rule };
	struct scnpm_event ev = mkunit(change, unit, cg);

	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
}

static uint32_t last_result(const struct scnpm_rule *rule)
{
	const struct fake_report *r = fake_host_last_report(fh, rule);

	cr_assert(ne(ptr, (void *)r, NULL), "no report for the rule");
	return r->result;
}

/* Fork a child into cgroup cg (or stay where we are if NULL), send one UDP packet to
 * 127.0.0.1:port from a socket made there. */
static void send_from(const char *cg, int port)
{
	pid_t pid = fork();
	int status;

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		char procs[600];
		int fd;

		if (cg) {
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg_path(cg));
			fd = open(procs, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(2);
			close(fd);
		}
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			_exit(3);
		(void)!sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
		_exit(0);
	}
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0));
}

static int listener(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0));
	return fd;
}

/* Packets waiting on fd (loopback delivery is done once sendto() returned). */
static int received(int fd)
{
	char b[16];
	int n = 0;

	while (recv(fd, b, sizeof(b), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* ---- tests ---- */

Test(sink_nftnl_kernel, elements_appear_and_disappear)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	uint64_t a, b;

	load_ruleset();
	a = cg_make("a.service");
	b = cg_make("b.service");
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->start(state), 0));

	apply1(&allowed, SCNPM_UNIT_STARTED, "a.service", "a.service");
	apply1(&allowed, SCNPM_UNIT_STARTED, "b.service", "b.service");
	settle();
	cr_assert(eq(sz, fake_host_count_reports(fh, &allowed, SCNPM_RESULT_APPLIED), 2));
	assert_set("allowed", a, b, (uint64_t)0);

	apply1(&allowed, SCNPM_UNIT_STOPPED, "a.service", NULL);
	settle();
	assert_set("allowed", b, (uint64_t)0);
	cr_assert(eq(u32, last_result(&allowed), SCNPM_RESULT_APPLIED));

	/* idempotent: the same state again changes nothing and still reports */
	apply1(&allowed, SCNPM_UNIT_STARTED, "b.service", "b.service");
	settle();
	assert_set("allowed", b, (uint64_t)0);
	cr_assert(eq(sz, fake_host_count_reports(fh, &allowed, SCNPM_RESULT_APPLIED), 4));

	/* a unit whose cgroup is gone: nothing to add */
	apply1(&allowed, SCNPM_UNIT_STARTED, "c.service", "c.service");
	settle();
	cr_assert(eq(u32, last_result(&allowed), SCNPM_RESULT_SKIPPED));

	/* rule_remove withdraws everything applied for the rule */
	mod->rule_remove(state, &allowed);
	settle();
	assert_set("allowed", (uint64_t)0);
	cg_remove("a.service");
	cg_remove("b.service");
}

Test(sink_nftnl_kernel, restart_swaps_ids_and_removal_by_id_after_rmdir)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	uint64_t first, second;

	load_ruleset();
	first = cg_make("app.service");
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->start(state), 0));
	apply1(&allowed, SCNPM_UNIT_STARTED, "app.service", "app.service");
	settle();
	assert_set("allowed", first, (uint64_t)0);

	/* restart: a new cgroup at the same path; old id out, new id in, one batch */
	cg_remove("app.service");
	second = cg_make("app.service");
	cr_assert(ne(u64, first, second));
	fh->echo = FAKE_HOST_ECHO_ALL;
	apply1(&allowed, SCNPM_UNIT_CHANGED, "app.service", "app.service");
	settle();
	assert_set("allowed", second, (uint64_t)0);
	cr_assert(eq(u32, last_result(&allowed), SCNPM_RESULT_APPLIED));

	/* stop after the cgroup is gone: only its numeric id can remove it */
	cg_remove("app.service");
	apply1(&allowed, SCNPM_UNIT_STOPPED, "app.service", "app.service");
	settle();
	assert_set("allowed", (uint64_t)0);
	cr_assert(eq(u32, last_result(&allowed), SCNPM_RESULT_APPLIED));
}

Test(sink_nftnl_kernel, verdict_map_steers_loopback_traffic)
{
	struct scnpm_rule pol = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : jump steer }");
	int fd;

	load_ruleset();
	cg_make("steered.service");
	cg_make("free.service");
	fd = listener(PORT_STEERED);
	cr_assert(eq(int, mod->rule_add(state, &pol), 0));
	cr_assert(eq(int, mod->start(state), 0));

	/* nothing in the map yet: everyone gets through */
	send_from("steered.service", PORT_STEERED);
	cr_assert(eq(int, received(fd), 1));

	apply1(&pol, SCNPM_UNIT_STARTED, "steered.service", "steered.service");
	settle();
	cr_assert(eq(u32, last_result(&pol), SCNPM_RESULT_APPLIED));

	/* the mapped cgroup jumps to 'steer', which drops the port; the other does not */
	send_from("steered.service", PORT_STEERED);
	cr_assert(eq(int, received(fd), 0));
	send_from("free.service", PORT_STEERED);
	cr_assert(eq(int, received(fd), 1));
	cr_assert(eq(int, sh("nft list chain inet t steer | grep -q 'packets 1 '"), 0));

	apply1(&pol, SCNPM_UNIT_STOPPED, "steered.service", NULL);
	settle();
	send_from("steered.service", PORT_STEERED);
	cr_assert(eq(int, received(fd), 1));
	close(fd);
}

Test(sink_nftnl_kernel, dispatch_rule_follows_the_cgroup)
{
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp",
					"socket cgroupv2 level %{level} %{cgroup} counter drop");
	int fd;

	load_ruleset();
	cg_make("app.service");
	fd = listener(PORT_STEERED + 1);
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));

	apply1(&disp, SCNPM_UNIT_STARTED, "app.service", "app.service");
	settle();
	cr_assert(eq(u32, last_result(&disp), SCNPM_RESULT_APPLIED));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'socket cgroupv2 level 2 \"%s\" counter packets 0 bytes 0 drop' | grep -qx 1",
			     cg_rel("app.service")), 0));
	send_from("app.service", PORT_STEERED + 1);
	cr_assert(eq(int, received(fd), 0));
	send_from(NULL, PORT_STEERED + 1);
	cr_assert(eq(int, received(fd), 1));

	/* restart: exactly one rule, for the new cgroup */
	cg_remove("app.service");
	cg_make("app.service");
	apply1(&disp, SCNPM_UNIT_CHANGED, "app.service", "app.service");
	settle();
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'socket cgroupv2' | grep -qx 1"), 0));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q '\"%s\"'", cg_rel("app.service")), 0));
	send_from("app.service", PORT_STEERED + 1);
	cr_assert(eq(int, received(fd), 0));

	/* a rule of someone else's stays when ours goes */
	cr_assert(eq(int, sh("nft add rule inet t disp udp dport 9 accept"), 0));
	apply1(&disp, SCNPM_UNIT_STOPPED, "app.service", NULL);
	settle();
	cr_assert(eq(u32, last_result(&disp), SCNPM_RESULT_APPLIED));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q 'socket cgroupv2'"), 1));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q 'udp dport 9 accept'"), 0));
	send_from("app.service", PORT_STEERED + 1);
	cr_assert(eq(int, received(fd), 1));
	close(fd);
}

Test(sink_nftnl_kernel, one_bad_element_does_not_lose_the_others)
{
	struct scnpm_rule bad = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : jump nosuch }");
	struct scnpm_rule good = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule good2 = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : accept }");
	const struct scnpm_rule *rules[] = { &bad, &good };
	const struct scnpm_rule *rules2[] = { &good2 };
	struct scnpm_event a, b;
	uint64_t ida, idb;

	load_ruleset();
	ida = cg_make("a.service");
	idb = cg_make("b.service");
	cr_assert(eq(int, mod->rule_add(state, &bad), 0));
	cr_assert(eq(int, mod->rule_add(state, &good), 0));
	cr_assert(eq(int, mod->rule_add(state, &good2), 0));
	cr_assert(eq(int, mod->start(state), 0));
	settle();

	/* three elements due in the same iteration: one batch, one of them bad */
	a = mkunit(SCNPM_UNIT_STARTED, "a.service", "a.service");
	b = mkunit(SCNPM_UNIT_STARTED, "b.service", "b.service");
	cr_assert(eq(int, mod->apply(state, &a, rules, 2), 0));
	cr_assert(eq(int, mod->apply(state, &b, rules2, 1), 0));
	settle();

	cr_assert(eq(u32, last_result(&bad), SCNPM_RESULT_FAILED));
	cr_assert(ne(ptr, strstr(fake_host_last_report(fh, &bad)->message, "nosuch"), NULL));
	cr_assert(eq(u32, last_result(&good), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, last_result(&good2), SCNPM_RESULT_APPLIED));
	assert_set("allowed", ida, (uint64_t)0);
	assert_set("pol", idb, (uint64_t)0);

	/* the missing chain appears: the failed element goes in by itself */
	cr_assert(eq(int, sh("nft add chain inet t nosuch"), 0));
	settle();
	assert_set("pol", ida, idb, (uint64_t)0);
}

Test(sink_nftnl_kernel, missing_set_is_filled_when_it_appears)
{
	struct scnpm_rule later = mkrule(SCNPM_OBJECT_ELEMENT, "later", "{ %{cgroup} }");
	uint64_t id;

	load_ruleset();
	id = cg_make("app.service");
	cr_assert(eq(int, mod->rule_add(state, &later), 0));
	cr_assert(eq(int, mod->start(state), 0));
	apply1(&later, SCNPM_UNIT_STARTED, "app.service", "app.service");
	settle();
	cr_assert(eq(u32, last_result(&later), SCNPM_RESULT_SKIPPED));
	cr_assert(eq(sz, fake_host_count_logs(fh, LOG_WARNING, NULL), 1));
	apply1(&later, SCNPM_UNIT_CHANGED, "app.service", "app.service");
	settle();
	cr_assert(eq(sz, fake_host_count_logs(fh, LOG_WARNING, NULL), 1),
		  "a missing set is reported once");

	cr_assert(eq(int, sh("nft add set inet t later '{ type cgroupsv2; }'"), 0));
	settle();
	assert_set("later", id, (uint64_t)0);
}

Test(sink_nftnl_kernel, firewall_reload_refills_sets_maps_and_chains)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule pol = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : jump steer }");
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} accept");
	const struct scnpm_rule *rules[] = { &allowed, &pol, &disp };
	struct scnpm_event ev;
	uint64_t id;
	int fd;

	load_ruleset();
	id = cg_make("app.service");
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->rule_add(state, &pol), 0));
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "app.service", "app.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 3), 0));
	settle();
	assert_set("allowed", id, (uint64_t)0);
	assert_set("pol", id, (uint64_t)0);

	for (int round = 0; round < 2; round++) {
		/* what systemctl restart nftables does: flush ruleset, load it again */
		cr_assert(eq(int, sh("nft flush ruleset && nft -f %s", ruleset_file), 0));
		settle();
		assert_set("allowed", id, (uint64_t)0);
		assert_set("pol", id, (uint64_t)0);
		cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'socket cgroupv2' | grep -qx 1"), 0));
	}
	/* the same in one transaction (nft -f with 'flush ruleset' inside) */
	cr_assert(eq(int, sh("(echo 'flush ruleset'; cat %s) | nft -f -", ruleset_file), 0));
	settle();
	assert_set("allowed", id, (uint64_t)0);
	assert_set("pol", id, (uint64_t)0);
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'socket cgroupv2' | grep -qx 1"), 0));

	fd = listener(PORT_STEERED);
	send_from("app.service", PORT_STEERED);
	cr_assert(eq(int, received(fd), 0), "the refilled map steers again");
	close(fd);

	/* handles of the old ruleset are forgotten: the stop deletes the new rule only */
	ev = mkunit(SCNPM_UNIT_STOPPED, "app.service", NULL);
	cr_assert(eq(int, mod->apply(state, &ev, rules, 3), 0));
	settle();
	assert_set("allowed", (uint64_t)0);
	assert_set("pol", (uint64_t)0);
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q 'socket cgroupv2'"), 1));
}

Test(sink_nftnl_kernel, initial_reconcile_removes_stale_ids)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	uint64_t stale, live, other;

	load_ruleset();
	/* left by an earlier run: an id whose cgroup is gone, and a live unnamed one */
	stale = cg_make("stale.service");
	other = cg_make("other.service");
	cr_assert(eq(int, sh("nft add element inet t allowed '{ \"%s\", \"%s\" }'", cg_rel("stale.service"),
			     cg_rel("other.service")), 0));
	cg_remove("stale.service");
	live = cg_make("live.service");
	assert_set("allowed", stale, other, (uint64_t)0);

	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->start(state), 0));
	/* the core's initial applies, in the first iteration */
	apply1(&allowed, SCNPM_UNIT_STARTED, "live.service", "live.service");
	settle();
	assert_set("allowed", live, (uint64_t)0);
	cr_assert(eq(u32, last_result(&allowed), SCNPM_RESULT_APPLIED));
	(void)other;
}

/* The kernel runs one dump per netlink socket and refuses a second with EBUSY: the
 * stale ids of every managed set must go, not only those of the first one listed. */
Test(sink_nftnl_kernel, initial_reconcile_of_two_sets)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule pol = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : jump steer }");
	uint64_t s1, s2, live;

	load_ruleset();
	s1 = cg_make("stale1.service");
	s2 = cg_make("stale2.service");
	cr_assert(eq(int, sh("nft add element inet t allowed '{ \"%s\" }'", cg_rel("stale1.service")), 0));
	cr_assert(eq(int, sh("nft add element inet t pol '{ \"%s\" : accept }'", cg_rel("stale2.service")), 0));
	live = cg_make("live.service");
	assert_set("allowed", s1, (uint64_t)0);
	assert_set("pol", s2, (uint64_t)0);

	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->rule_add(state, &pol), 0));
	cr_assert(eq(int, mod->start(state), 0));
	apply1(&allowed, SCNPM_UNIT_STARTED, "live.service", "live.service");
	apply1(&pol, SCNPM_UNIT_STARTED, "live.service", "live.service");
	settle();
	assert_set("allowed", live, (uint64_t)0);
	assert_set("pol", live, (uint64_t)0);
}

Test(sink_nftnl_kernel, flush_empties_sets_and_chains)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} accept");
	struct scnpm_rule missing = mkrule(SCNPM_OBJECT_ELEMENT, "nosuchset", "{ %{cgroup} }");
	const struct scnpm_rule *rules[] = { &allowed, &disp };
	struct scnpm_event ev;
	uint64_t id;

	load_ruleset();
	id = cg_make("app.service");
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->rule_add(state, &missing), 0));
	cr_assert(eq(int, mod->start(state), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "app.service", "app.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	settle();
	assert_set("allowed", id, (uint64_t)0);

	cr_assert(eq(int, mod->flush(state, &allowed), 0));
	cr_assert(eq(int, mod->flush(state, &disp), 0));
	assert_set("allowed", (uint64_t)0);
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q 'socket cgroupv2'"), 1));
	cr_assert(eq(int, mod->flush(state, &missing), -ENOENT));

	/* applying again after a flush puts everything back */
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	settle();
	assert_set("allowed", id, (uint64_t)0);
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'socket cgroupv2' | grep -qx 1"), 0));
}

/* Many units at once: several batches (at most 1024 messages each), every ack read, the
 * set ends up exact. Prints the cost per element; asserts nothing about time. */
Test(sink_nftnl_kernel, ten_thousand_elements)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	const struct scnpm_rule *rules[] = { &allowed };
	enum { N = 10000 };
	struct timespec t0, t1;
	static uint64_t got[N + 1];
	char name[64];
	double us;

	load_ruleset();
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->start(state), 0));
	settle();
	fh->echo = FAKE_HOST_ECHO_NONE;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 1; i <= N; i++) {
		/* ids need no cgroup: the kernel takes any number */
		struct scnpm_event ev = mkunit(SCNPM_UNIT_STARTED, name, NULL);

		snprintf(name, sizeof(name), "u%d.service", i);
		ev.cgroup_id = 1000000000ULL + (uint64_t)i;
		cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	}
	settle();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / N;
	fprintf(stderr, "sink-nftnl: %d elements added in %.0f ms, %.2f us per element\n", N, us * N / 1000, us);

	cr_assert(eq(sz, fake_host_count_reports(fh, &allowed, SCNPM_RESULT_APPLIED), N));
	cr_assert(eq(int, set_ids("t", "allowed", got, N + 1), N));
	cr_assert(eq(u64, got[0], 1000000001ULL));
	cr_assert(eq(u64, got[N - 1], 1000000000ULL + N));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 1; i <= N; i++) {
		struct scnpm_event ev = mkunit(SCNPM_UNIT_STOPPED, name, NULL);

		snprintf(name, sizeof(name), "u%d.service", i);
		cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	}
	settle();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / N;
	fprintf(stderr, "sink-nftnl: %d elements removed by id in %.0f ms, %.2f us per element\n", N, us * N / 1000, us);
	cr_assert(eq(int, set_ids("t", "allowed", got, N + 1), 0));
}

Test(sink_nftnl_kernel, flushes_and_deletes_by_others_are_restored)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} accept");
	const struct scnpm_rule *rules[] = { &allowed, &disp };
	struct scnpm_event ev;
	uint64_t a, b;

	load_ruleset();
	a = cg_make("a.service");
	b = cg_make("b.service");
	cr_assert(eq(int, mod->rule_add(state, &allowed), 0));
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "a.service", "a.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "b.service", "b.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	settle();
	assert_set("allowed", a, b, (uint64_t)0);
	cr_assert(eq(sz, chain_rules("disp"), 2));

	/* nft flush set: DELSETELEM notifications, the set is listed and refilled */
	cr_assert(eq(int, sh("nft flush set inet t allowed"), 0));
	settle();
	assert_set("allowed", a, b, (uint64_t)0);
	/* one element deleted by hand */
	cr_assert(eq(int, sh("nft delete element inet t allowed { \"%s\" }", cg_rel("a.service")), 0));
	settle();
	assert_set("allowed", a, b, (uint64_t)0);

	/* nft flush chain: DELRULE notifications, both rules come back, once */
	cr_assert(eq(int, sh("nft add rule inet t disp udp dport 9 accept comment foreign"), 0));
	cr_assert(eq(int, sh("nft flush chain inet t disp && nft add rule inet t disp udp dport 9 accept comment foreign"), 0));
	settle();
	cr_assert(eq(sz, chain_rules("disp"), 3));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c '\"%s\"' | grep -qx 1", cg_rel("a.service")), 0));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'comment \"foreign\"' | grep -qx 1"), 0));
	/* a rule deleted by hand */
	cr_assert(eq(int, sh("h=$(nft -a list chain inet t disp | sed -n 's|.*\"%s\" accept .*# handle ||p'); "
			     "nft delete rule inet t disp handle $h", cg_rel("b.service")), 0));
	settle();
	cr_assert(eq(sz, chain_rules("disp"), 3));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c '\"%s\"' | grep -qx 1", cg_rel("b.service")), 0));
	cr_assert(ge(sz, fake_host_count_logs(fh, LOG_NOTICE, "restoring it"), 1));

	/* still tracked: a stop withdraws exactly ours */
	ev = mkunit(SCNPM_UNIT_STOPPED, "a.service", NULL);
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	ev = mkunit(SCNPM_UNIT_STOPPED, "b.service", NULL);
	cr_assert(eq(int, mod->apply(state, &ev, rules, 2), 0));
	settle();
	assert_set("allowed", (uint64_t)0);
	cr_assert(eq(sz, chain_rules("disp"), 1));
}

/* 10k dispatch rules are ~2 MB of netlink: more than one batch can hold, in bytes. */
Test(sink_nftnl_kernel, ten_thousand_dispatch_rules_at_once)
{
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} counter accept");
	const struct scnpm_rule *rules[] = { &disp };
	enum { N = 10000 };
	char name[64];

	load_ruleset();
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));
	settle();
	fh->echo = FAKE_HOST_ECHO_NONE;
	for (int i = 1; i <= N; i++) {
		struct scnpm_event ev;

		snprintf(name, sizeof(name), "u%d.service", i);
		ev = mkunit(SCNPM_UNIT_STARTED, name, NULL);
		ev.cgroup_id = 2000000000ULL + (uint64_t)i;
		ev.cgroup_level = 2;
		cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	}
	settle();
	cr_assert(eq(sz, fake_host_count_reports(fh, &disp, SCNPM_RESULT_APPLIED), N));
	cr_assert(eq(sz, fake_host_count_reports(fh, &disp, SCNPM_RESULT_FAILED), 0));
	cr_assert(eq(sz, chain_rules("disp"), N));
}

/* The handles of chain disp's rules, in order, as one string. */
static const char *disp_handles(void)
{
	static char out[4096];
	FILE *p = popen("nft -a list chain inet t disp | sed -n 's/.*# handle //p' | tr '\\n' ' '", "r");
	size_t n;

	cr_assert(ne(ptr, p, NULL));
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

Test(sink_nftnl_kernel, restart_adopts_dispatch_rules_and_sweeps_leftovers)
{
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} counter accept");
	const struct scnpm_rule *rules[] = { &disp };
	char before[4096];
	struct scnpm_event ev;

	load_ruleset();
	cg_make("a.service");
	cg_make("b.service");
	cg_make("c.service");
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "a.service", "a.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "b.service", "b.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	settle();
	cr_assert(eq(int, sh("nft add rule inet t disp udp dport 9 accept comment foreign"), 0));
	/* a leftover of an earlier run, for a unit no directive wants any more */
	cr_assert(eq(int, sh("nft 'add rule inet t disp socket cgroupv2 level 2 \"%s\" accept comment \"scnpm:0123456789abcdef\"'",
			     cg_rel("c.service")), 0));
	snprintf(before, sizeof(before), "%s", disp_handles());

	/* as after kill -9 or an upgrade: a new instance, the same state applied */
	mod->done(state);
	state = NULL;
	cr_assert(eq(int, mod->init(&fh->host, &state), 0));
	cr_assert(eq(int, mod->rule_add(state, &disp), 0));
	cr_assert(eq(int, mod->start(state), 0));
	fake_host_clear_reports(fh);
	ev = mkunit(SCNPM_UNIT_STARTED, "a.service", "a.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	ev = mkunit(SCNPM_UNIT_STARTED, "b.service", "b.service");
	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	settle();
	cr_assert(eq(sz, fake_host_count_reports(fh, &disp, SCNPM_RESULT_APPLIED), 2));
	cr_assert(ne(ptr, strstr(fake_host_last_report(fh, &disp)->message, "in place"), NULL));

	/* ours adopted (same handles), the leftover gone, the foreign rule untouched */
	cr_assert(eq(sz, chain_rules("disp"), 3));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -q '\"%s\"'", cg_rel("c.service")), 1));
	cr_assert(eq(int, sh("nft list chain inet t disp | grep -c 'comment \"foreign\"' | grep -qx 1"), 0));
	{
		char after[4096];
		char *last;

		snprintf(after, sizeof(after), "%s", disp_handles());
		/* before: ours ours foreign stale; after: ours ours foreign */
		last = strrchr(before, ' ');
		cr_assert(ne(ptr, last, NULL));
		*last = '\0';
		last = strrchr(before, ' ');
		cr_assert(ne(ptr, last, NULL));
		last[1] = '\0';
		cr_assert(eq(str, after, before));
	}

	/* still tracked: a stop withdraws it */
	ev = mkunit(SCNPM_UNIT_STOPPED, "a.service", NULL);
	cr_assert(eq(int, mod->apply(state, &ev, rules, 1), 0));
	settle();
	cr_assert(eq(sz, chain_rules("disp"), 2));
}

/* Send one batch adding id to set allowed, decided on generation genid; the error of the
 * batch-begin ack (-ERESTART when the ruleset moved on), or of the element's. */
/* Transient scopes get a new name and cgroup each time: what the sink keeps must follow
 * the cgroups that exist, not every one it ever saw. Elements, map entries and dispatch
 * rules for a churn of unique cgroups, with firewall reloads in between; the heap in use
 * afterwards is what it was after a warm-up round (heap-use.h). */
static void churn_round(const struct scnpm_rule *const *rules, size_t n_rules, unsigned first,
			unsigned n)
{
	char name[64];

	for (unsigned i = first; i < first + n; i++) {
		struct scnpm_event ev;

		snprintf(name, sizeof(name), "run-u%u.scope", i);
		cg_make(name);
		ev = mkunit(SCNPM_UNIT_STARTED, name, name);
		cr_assert(eq(int, mod->apply(state, &ev, rules, n_rules), 0));
	}
	settle();
	if (first % 500 == 0) {
		cr_assert(eq(int, sh("nft flush ruleset && nft -f %s", ruleset_file), 0));
		settle();
	}
	for (unsigned i = first; i < first + n; i++) {
		struct scnpm_event ev;

		snprintf(name, sizeof(name), "run-u%u.scope", i);
		cg_remove(name);
		ev = mkunit(SCNPM_UNIT_STOPPED, name, NULL);
		cr_assert(eq(int, mod->apply(state, &ev, rules, n_rules), 0));
	}
	settle();
	cr_assert(eq(sz, fake_host_count_reports(fh, NULL, SCNPM_RESULT_FAILED), 0));
	fake_host_clear_reports(fh);
	fake_host_clear_logs(fh);
}

Test(sink_nftnl_kernel, cgroups_that_come_and_go_leave_nothing_behind)
{
	struct scnpm_rule allowed = mkrule(SCNPM_OBJECT_ELEMENT, "allowed", "{ %{cgroup} }");
	struct scnpm_rule pol = mkrule(SCNPM_OBJECT_ELEMENT, "pol", "{ %{cgroup} : jump steer }");
	struct scnpm_rule disp = mkrule(SCNPM_OBJECT_RULE, "disp", "socket cgroupv2 level 2 %{cgroup} accept");
	const struct scnpm_rule *rules[] = { &allowed, &pol, &disp };
	enum { BATCH = 50, WARMUP = 500, N = 10000 };
	uint64_t got[4];
	size_t warm, after;

	load_ruleset();
	for (size_t i = 0; i < 3; i++)
		cr_assert(eq(int, mod->rule_add(state, rules[i]), 0));
	cr_assert(eq(int, mod->start(state), 0));
	settle();
	fh->echo = FAKE_HOST_ECHO_NONE; /* restored after each reload; failures are asserted */

	for (unsigned i = 0; i < WARMUP; i += BATCH)
		churn_round(rules, 3, i, BATCH);
	warm = heap_in_use();
	for (unsigned i = WARMUP; i < WARMUP + N; i += BATCH)
		churn_round(rules, 3, i, BATCH);
	after = heap_in_use();

	cr_assert(eq(int, set_ids("t", "allowed", got, 4), 0));
	cr_assert(eq(int, set_ids("t", "pol", got, 4), 0));
	cr_assert(eq(sz, chain_rules("disp"), 0));
	heap_use_assert_flat("sink-nftnl, cgroups", warm, after, N);
}

static int batch_on_generation(uint32_t genid, uint64_t id)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlbatch_buf b = {};
	char buf[8192];
	int r = 0, n;
	unsigned one = 1;

	cr_assert(ne(ptr, nl, NULL));
	cr_assert(eq(int, mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0));
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	cr_assert(eq(int, nlbatch_begin_genid(&b, 100, genid), 0));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "t", "allowed", id, NULL, 101), 0));
	cr_assert(eq(int, nlbatch_end(&b, 102), 0));
	cr_assert(ge(int, (int)mnl_socket_sendto(nl, b.data, b.len), 0));
	n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	cr_assert(gt(int, n, 0));
	for (const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
	     nlh = mnl_nlmsg_next(nlh, &n))
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (e->error != 0)
				r = e->error;
		}
	nlbatch_buf_done(&b);
	mnl_socket_close(nl);
	return r;
}

/* The ruleset's generation (NFT_MSG_GETGEN). */
static uint32_t kernel_gen(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	char buf[8192];
	uint32_t gen = 0;
	ssize_t n = nlbatch_getgen(buf, sizeof(buf), 1);

	cr_assert(ne(ptr, nl, NULL));
	cr_assert(gt(int, (int)n, 0));
	cr_assert(eq(int, mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0));
	cr_assert(ge(int, (int)mnl_socket_sendto(nl, buf, (size_t)n), 0));
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	cr_assert(gt(int, (int)n, 0));
	cr_assert(eq(int, nlbatch_parse_gen((const struct nlmsghdr *)buf, &gen), 0));
	mnl_socket_close(nl);
	return gen;
}

/* What keeps sink-nftnl from deleting by a handle that changed owner: its batches carry
 * the generation they were decided on, and the kernel refuses one when another commit
 * came in between (the sink then reads the changes and decides again). */
Test(sink_nftnl_kernel, batch_on_a_stale_generation_is_refused)
{
	uint32_t gen;

	load_ruleset();
	gen = kernel_gen();
	cr_assert(eq(int, batch_on_generation(gen, 7001), 0), "the current generation is accepted");
	assert_set("allowed", (uint64_t)7001, (uint64_t)0);
	/* someone else commits: gen + 1, what our commit made, is stale now */
	cr_assert(eq(int, sh("nft add rule inet t disp udp dport 9 accept"), 0));
	cr_assert(eq(int, batch_on_generation(gen + 1, 7002), -ERESTART));
	assert_set("allowed", (uint64_t)7001, (uint64_t)0);
	cr_assert(eq(int, batch_on_generation(kernel_gen(), 7002), 0));
	assert_set("allowed", (uint64_t)7001, (uint64_t)7002, (uint64_t)0);
}
