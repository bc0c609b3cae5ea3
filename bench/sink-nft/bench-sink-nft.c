/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What it costs to add one rule and learn its handle, with N rules already in the
 * ruleset and C cgroups in the tree:
 *   echo     libnftables with NFT_CTX_OUTPUT_ECHO|HANDLE, the handle parsed from the
 *            echoed "# handle N" (the original tool's way);
 *   sink-nft the module's apply() for a unit (add, handle learned from the NEWRULE
 *            notification of its own transaction), and apply() for a restart of that
 *            unit (withdraw the old instance and add the new one in one transaction).
 * Run by run.sh inside 'unshare --mount --net' with cgroup2 mounted at /sys/fs/cgroup.
 * Prints one markdown table row. Reports, never asserts.
 *
 * usage: bench-sink-nft MODULE.so RULES CGROUPS SAMPLES
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <scnpm/module.h>

#include "fake-host.h"

#define CG_ROOT "/sys/fs/cgroup"

static char slice[64];
static unsigned n_cgroups_made;

static void cleanup_cgroups(void)
{
	char path[256];

	snprintf(path, sizeof(path), CG_ROOT "/%s/target.service", slice);
	(void)rmdir(path);
	for (unsigned i = n_cgroups_made; i > 0; i--) {
		snprintf(path, sizeof(path), CG_ROOT "/%s/cg%u.service", slice, i - 1);
		(void)rmdir(path);
	}
	snprintf(path, sizeof(path), CG_ROOT "/%s", slice);
	(void)rmdir(path);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run(struct nft_ctx *nft, const char *cmd)
{
	if (nft_run_cmd_from_buffer(nft, cmd) != 0) {
		fprintf(stderr, "nft '%.80s...': %s", cmd, nft_ctx_get_error_buffer(nft));
		return -EIO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n_rules, n_cgroups, samples;
	const struct scnpm_module *m;
	struct fake_host *fh = NULL;
	struct nft_ctx *nft, *nft_echo;
	sd_event *event = NULL;
	double *t_echo, *t_apply, *t_restart, *t_add, *t_del;
	char path[256], target[128], *buf;
	size_t len = 0, cap;
	void *dl, *state = NULL;
	int r;

	if (argc != 5) {
		fprintf(stderr, "usage: %s MODULE.so RULES CGROUPS SAMPLES\n", argv[0]);
		return 2;
	}
	n_rules = (unsigned)strtoul(argv[2], NULL, 10);
	n_cgroups = (unsigned)strtoul(argv[3], NULL, 10);
	samples = (unsigned)strtoul(argv[4], NULL, 10);
	if (n_cgroups == 0 || samples == 0)
		return 2;

	snprintf(slice, sizeof(slice), "scnpmbench%d.slice", (int)getpid());
	atexit(cleanup_cgroups);
	snprintf(path, sizeof(path), CG_ROOT "/%s", slice);
	if (mkdir(path, 0755) < 0) {
		perror(path);
		return 1;
	}
	for (unsigned i = 0; i < n_cgroups; i++) {
		snprintf(path, sizeof(path), CG_ROOT "/%s/cg%u.service", slice, i);
		if (mkdir(path, 0755) < 0) {
			perror(path);
			return 1;
		}
		n_cgroups_made++;
	}
	snprintf(target, sizeof(target), "%s/target.service", slice);
	snprintf(path, sizeof(path), CG_ROOT "/%s", target);
	if (mkdir(path, 0755) < 0) {
		perror(path);
		return 1;
	}

	/* The ruleset: N socket cgroupv2 rules over the C cgroups, loaded in one batch. */
	nft = nft_ctx_new(NFT_CTX_DEFAULT);
	nft_ctx_buffer_output(nft);
	nft_ctx_buffer_error(nft);
	cap = 128 + (size_t)n_rules * 128;
	buf = malloc(cap);
	len += (size_t)snprintf(buf + len, cap - len,
				"add table inet bench\nadd chain inet bench c\n");
	for (unsigned i = 0; i < n_rules; i++)
		len += (size_t)snprintf(
		    buf + len, cap - len,
		    "add rule inet bench c socket cgroupv2 level 2 \"%s/cg%u.service\" accept\n",
		    slice, i % n_cgroups);
	if (run(nft, buf) < 0)
		return 1;

	t_echo = calloc(samples, sizeof(double));
	t_apply = calloc(samples, sizeof(double));
	t_restart = calloc(samples, sizeof(double));
	t_add = calloc(samples, sizeof(double));
	t_del = calloc(samples, sizeof(double));
	free(buf);

	/* A second context for the echo way, so that its cache (it lists the ruleset)
	 * does not touch the floor's. */
	nft_echo = nft_ctx_new(NFT_CTX_DEFAULT);
	nft_ctx_buffer_output(nft_echo);
	nft_ctx_buffer_error(nft_echo);
	nft_ctx_output_set_flags(nft_echo, NFT_CTX_OUTPUT_ECHO | NFT_CTX_OUTPUT_HANDLE);

	/* sink-nft, through its ABI, as the daemon drives it. */
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	m = dlsym(dl, SCNPM_MODULE_SYMBOL);
	if (!m || sd_event_new(&event) < 0)
		return 1;
	fh = fake_host_new(event, "sink-nft");
	fh->echo = FAKE_HOST_ECHO_PROBLEMS;
	r = m->init(&fh->host, &state);
	if (r < 0 || m->start(state) < 0) {
		fprintf(stderr, "sink-nft init: %s\n", strerror(-r));
		return 1;
	}

	struct scnpm_rule rule = {
	    .size = sizeof(rule),
	    .object = SCNPM_OBJECT_RULE,
	    .unit = "target.service",
	    .text =
		"add rule inet bench c socket cgroupv2 level %{level} %{cgroup} tcp dport 25 accept",
	    .family = "inet",
	    .table = "bench",
	    .name = "c",
	    .body = "socket cgroupv2 level %{level} %{cgroup} tcp dport 25 accept",
	    .file = "bench.conf",
	    .line = 1,
	};
	const struct scnpm_rule *rules[] = {&rule};
	struct scnpm_event ev = {
	    .size = sizeof(ev),
	    .unit = "target.service",
	    .manager = SCNPM_MANAGER_SYSTEM,
	    .cgroup_path = target,
	    .cgroup_level = 2,
	};

	if (m->rule_add(state, &rule) < 0)
		return 1;

	/* The three ways take turns within each sample, so that whatever the kernel is
	 * doing in the background weighs on all of them alike. */
	for (unsigned k = 0; k < samples; k++) {
		char cmd[256];
		const char *h;
		uint64_t handle;
		double t0;

		/* echo: the original's way */
		snprintf(cmd, sizeof(cmd),
			 "add rule inet bench c socket cgroupv2 level 2 \"%s\" tcp dport 25 accept",
			 target);
		t0 = now_ms();
		if (run(nft_echo, cmd) < 0)
			return 1;
		h = strstr(nft_ctx_get_output_buffer(nft_echo), "# handle ");
		handle = h ? strtoull(h + strlen("# handle "), NULL, 10) : 0;
		t_echo[k] = now_ms() - t0;
		if (handle == 0) {
			fprintf(stderr, "echo: no handle\n");
			return 1;
		}
		snprintf(cmd, sizeof(cmd), "delete rule inet bench c handle %" PRIu64, handle);
		if (run(nft, cmd) < 0) /* back to N rules, not timed */
			return 1;

		/* floor: add without learning anything; delete by a handle known for free.
		 * The table's handle counter is monotonic and nothing else runs in this
		 * namespace, so the next rule gets the echoed handle + 1. */
		snprintf(cmd, sizeof(cmd),
			 "add rule inet bench c socket cgroupv2 level 2 \"%s\" tcp dport 25 accept",
			 target);
		t0 = now_ms();
		if (run(nft, cmd) < 0)
			return 1;
		t_add[k] = now_ms() - t0;
		snprintf(cmd, sizeof(cmd), "delete rule inet bench c handle %" PRIu64, handle + 1);
		t0 = now_ms();
		if (run(nft, cmd) < 0)
			return 1;
		t_del[k] = now_ms() - t0;

		/* sink-nft: the loop reads the notifications of the above, as the daemon's
		 * would, then a start and a restart of the unit */
		while (sd_event_run(event, 0) > 0)
			;
		fake_host_clear_reports(fh);
		ev.change = SCNPM_UNIT_STARTED;
		t0 = now_ms();
		m->apply(state, &ev, rules, 1);
		t_apply[k] = now_ms() - t0;

		ev.change = SCNPM_UNIT_CHANGED;
		t0 = now_ms();
		m->apply(state, &ev, rules, 1);
		t_restart[k] = now_ms() - t0;

		if (fake_host_count_reports(fh, NULL, SCNPM_RESULT_APPLIED) != 2 ||
		    fake_host_count_logs(fh, LOG_WARNING, NULL) > 0) {
			fprintf(stderr, "sink-nft: rule not applied, or handle not learned\n");
			return 1;
		}
		ev.change = SCNPM_UNIT_STOPPED;
		m->apply(state, &ev, rules, 1); /* back to N rules (not timed) */
		if (fake_host_count_reports(fh, NULL, SCNPM_RESULT_APPLIED) != 3) {
			fprintf(stderr, "sink-nft: rule not withdrawn\n");
			return 1;
		}
	}
	m->rule_remove(state, &rule);
	m->done(state);
	fake_host_free(fh);
	sd_event_unref(event);
	dlclose(dl);
	nft_ctx_free(nft);
	nft_ctx_free(nft_echo);

	printf("| %u | %u | %.3f | %.3f | %.3f | %.3f | %.3f | %.0fx |\n", n_rules, n_cgroups,
	       median(t_add, samples), median(t_del, samples), median(t_echo, samples),
	       median(t_apply, samples), median(t_restart, samples),
	       median(t_echo, samples) / median(t_apply, samples));
	return 0;
}
