/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fixture of sink-nft's kernel tests: see test-sink-nft-fixture.h. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <dirent.h>
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
#include <time.h>
#include <unistd.h>

#include <scnpm/module.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <arpa/inet.h>

#include "test-sink-nft-fixture.h"


struct sink_nft_fixture fx;

static void prerequisite_missing(const char *what)
{
	const char *ci = getenv("CI");

	if (ci && strcmp(ci, "true") == 0)
		cr_fatal("sink-nft kernel test needs %s (CI=true: not skipping)", what);
	cr_skip_test("sink-nft kernel test needs %s", what);
}

/* Cgroups a test made below one of the recorded ones, unrecorded (a churn of many). */
static void cg_rmdir_children(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[512];

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (rmdir(sub) < 0 && errno != ENOENT)
				fprintf(stderr, "rmdir %s: %m\n", sub);
		}
	closedir(d);
}

static void cg_rmdir_all(void)
{
	char path[256];

	/* Deepest first: children were created after their parents. */
	for (size_t i = fx.n_cgroups; i > 0; i--) {
		snprintf(path, sizeof(path), CG_ROOT "/%s", fx.cgroups[i - 1]);
		if (i > 1)
			cg_rmdir_children(path);
		if (rmdir(path) < 0 && errno != ENOENT)
			fprintf(stderr, "rmdir %s: %m\n", path);
	}
	fx.n_cgroups = 0;
}

/* mkdir a cgroup below the test's slice; returns its path relative to the root. */
const char *cg_mkdir(const char *name)
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

void cg_rmdir(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), CG_ROOT "/%s/%s", fx.slice, name);
	cr_assert(eq(int, rmdir(path), 0), "rmdir %s: %s", path, strerror(errno));
}

void nft_ok(const char *fmt, ...)
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

size_t list_rules(char lines[][512], uint64_t *handles, size_t max)
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

size_t count_rules(const char *needle)
{
	char lines[64][512];
	size_t n = list_rules(lines, NULL, 64), k = 0;

	for (size_t i = 0; i < n; i++)
		if (!needle || strstr(lines[i], needle))
			k++;
	return k;
}

size_t foreign_rules_up_to_handle(uint64_t h)
{
	uint64_t handles[64];
	size_t n;

	nft_ok("flush ruleset\nadd table inet scnpmt\nadd chain inet scnpmt c\n");
	for (int k = 0;; k++) {
		cr_assert(lt(int, k, 32));
		nft_ok("add rule inet scnpmt c tcp dport %d accept comment \"foreign\"", 1000 + k);
		n = list_rules(NULL, handles, 64);
		if (handles[n - 1] >= h)
			break;
	}
	cr_assert(eq(u64, handles[n - 1], h));
	return n;
}

void setup(void)
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

	/* The cgroup tree is the host's, shared with earlier runs that may have been killed
	 * before their teardown, and in a PID namespace every run reuses the same small pids:
	 * the pid alone does not make the name unique, the start time does. */
	{
		struct timespec ts;
		char path[256];

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(fx.slice, sizeof(fx.slice), "scnpmtest%d_%lx%lx.slice", (int)getpid(),
			 (unsigned long)ts.tv_sec, (unsigned long)ts.tv_nsec);

		snprintf(path, sizeof(path), CG_ROOT "/%s", fx.slice);
		cr_assert(eq(int, mkdir(path, 0755), 0), "mkdir %s: %s", path, strerror(errno));
		snprintf(fx.cgroups[fx.n_cgroups++], sizeof(fx.cgroups[0]), "%s", fx.slice);
		/* Also when an assertion ends the worker before teardown runs. */
		atexit(cg_rmdir_all);
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

void restart_module(void)
{
	fx.m->done(fx.state);
	fx.state = NULL;
	fake_host_clear_reports(fx.fh);
	cr_assert(eq(int, fx.m->init(&fx.fh->host, &fx.state), 0));
	cr_assert(eq(int, fx.m->start(fx.state), 0));
}

uint32_t ruleset_gen(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct nlattr *attr;
	uint32_t gen = 0;
	ssize_t n;

	cr_assert(ne(ptr, nl, NULL));
	cr_assert(ge(int, mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	cr_assert(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	cr_assert(n > 0);
	nlh = (struct nlmsghdr *)buf;
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_NEWGEN));
	mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(attr) == NFTA_GEN_ID)
			gen = ntohl(mnl_attr_get_u32(attr));
	mnl_socket_close(nl);
	return gen;
}

void teardown(void)
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


struct scnpm_rule mkrule(int line, const char *body)
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

/* As the core sends it: with the cgroup's id (its inode number on cgroup2) when the
 * cgroup exists. */
struct scnpm_event unit_ev(uint32_t change, const char *unit, const char *cgroup_path)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), CG_ROOT "/%s", cgroup_path ?: "");
	return (struct scnpm_event){
	    .cgroup_id = cgroup_path && stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0,
	    .size = sizeof(struct scnpm_event),
	    .change = change,
	    .unit = unit,
	    .manager = SCNPM_MANAGER_SYSTEM,
	    .cgroup_path = cgroup_path,
	    .cgroup_level = cgroup_path ? 2 : 0,
	};
}

void add_rules(struct scnpm_rule *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert(eq(int, fx.m->rule_add(fx.state, &r[i]), 0));
}

/* Run the loop until nothing is due now: the sink's sync, its notifications. */
void settle(void)
{
	for (int k = 0; k < 100; k++)
		if (sd_event_run(fx.event, 0) <= 0)
			return;
	cr_fatal("the loop never settled");
}

void apply(const struct scnpm_event *ev, struct scnpm_rule *r, size_t n)
{
	const struct scnpm_rule *rules[8];

	cr_assert(le(sz, n, 8));
	for (size_t i = 0; i < n; i++)
		rules[i] = &r[i];
	fake_host_clear_reports(fx.fh);
	cr_assert(eq(int, fx.m->apply(fx.state, ev, rules, n), 0));
	/* Recorded now, sent by the sync from the loop. */
	settle();
	/* One report per rule. */
	cr_assert(eq(sz, fx.fh->n_reports, n));
	/* No warning: in particular, every handle was learned. */
	cr_assert(eq(sz,
		     fake_host_count_logs(fx.fh, LOG_WARNING, NULL) +
			 fake_host_count_logs(fx.fh, LOG_ERR, NULL),
		     0));
}

uint32_t result_of(const struct scnpm_rule *r)
{
	const struct fake_report *rep = fake_host_last_report(fx.fh, r);

	cr_assert(ne(ptr, (void *)rep, NULL));
	return rep->result;
}

