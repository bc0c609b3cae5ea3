/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft's fast path for a unit restart, against a real kernel: the rule withdrawn is
 * read back and, when the unit comes back at the same path, put back for the new cgroup
 * as one batch of our own. It must give the very rule libnftables would have added (the
 * live cgroup, our tag for it, counters from zero, at the end of the chain), leave
 * foreign rules alone, and step aside whenever it cannot: the kernel refuses the batch,
 * the rule holds something a template does not take, the rule is not about the unit's
 * own cgroup, the unit comes back elsewhere.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-sink-nft-fixture.h"

TestSuite(sink_nft_fast, .init = setup, .fini = teardown);

#define TEMPLATED "socket cgroupv2 level %{level} %{cgroup} counter accept"

static uint64_t health(const char *key)
{
	uint64_t v = 0;

	cr_assert(eq(int, fake_host_health(fx.fh, fx.m, fx.state), 0));
	cr_assert(fake_host_health_get(fx.fh, key, &v), "health has %s", key);
	return v;
}

static uint64_t cg_id(const char *cg)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), CG_ROOT "/%s", cg);
	cr_assert(eq(int, stat(path, &st), 0));
	return (uint64_t)st.st_ino;
}

/* The unit's cgroup goes and comes back at the same path: a new id. */
static void cg_again(const char *name, const char *cg)
{
	uint64_t before = cg_id(cg);

	cg_rmdir(name);
	cg_mkdir(name);
	cr_assert(ne(u64, cg_id(cg), before), "new cgroup, new id");
}

static struct scnpm_inspect inspect(const struct scnpm_rule *r, const struct scnpm_event *ev)
{
	struct scnpm_inspect k = {.size = sizeof(k)};

	cr_assert(eq(int, fx.m->inspect(fx.state, r, ev, &k), 0));
	return k;
}

/* Packets of output to the hookless chain c go through it by a jump. */
static void hook_chain_c(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(ge(int, fd, 0));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	cr_assert(eq(int, ioctl(fd, SIOCGIFFLAGS, &ifr), 0));
	ifr.ifr_flags |= IFF_UP;
	cr_assert(eq(int, ioctl(fd, SIOCSIFFLAGS, &ifr), 0));
	close(fd);
	nft_ok("add chain inet scnpmt out { type filter hook output priority 0; }\n"
	       "add rule inet scnpmt out jump c\n");
}

/* One UDP packet from a socket made in cgroup cg (a child moves itself there first). */
static void send_from(const char *cg)
{
	char path[256];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), CG_ROOT "/%s/cgroup.procs", cg);
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
		int procs = open(path, O_WRONLY | O_CLOEXEC), fd;

		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (procs < 0 || write(procs, "0", 1) != 1)
			_exit(2);
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)) != 1)
			_exit(3);
		_exit(0);
	}
	cr_assert(eq(int, waitpid(pid, &status, 0), pid));
	cr_assert(eq(int, status, 0), "the sender in %s failed (%d)", cg, status);
}

/* The rules of chain c that are not ours, as listed with their handles. */
static void foreign_listing(char *out, size_t size)
{
	char lines[64][512];
	size_t n = list_rules(lines, NULL, 64), len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!strstr(lines[i], "scnpm:"))
			len += (size_t)snprintf(out + len, size - len, "%s\n", lines[i]);
}

Test(sink_nft_fast, restart_takes_the_fast_path)
{
	const char *cg = cg_mkdir("a.service");
	char literal[256], quoted[160], foreign_before[4096], foreign_after[4096];
	struct scnpm_rule r[2];
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	uint64_t last_handle = 0;

	hook_chain_c();
	snprintf(quoted, sizeof(quoted), "\"%s\"", cg);
	/* as the README's example, and as the default configuration of the benchmark */
	snprintf(literal, sizeof(literal), "socket cgroupv2 level 2 %s udp dport 9 counter accept",
		 quoted);
	/* the first only counts, so that the packet reaches the second too */
	r[0] = mkrule(1, "socket cgroupv2 level %{level} %{cgroup} counter");
	r[1] = mkrule(2, literal);
	add_rules(r, 2);
	nft_ok("add rule inet scnpmt c tcp dport 1 accept comment \"foreign first\"");
	apply(&ev, r, 2);
	nft_ok("add rule inet scnpmt c tcp dport 2 counter accept comment \"foreign last\"");
	foreign_listing(foreign_before, sizeof(foreign_before));
	cr_assert(eq(u64, health("fast_adds"), 0), "a first start has nothing to put back");

	for (int k = 0; k < 4; k++) {
		struct scnpm_inspect i0, i1;
		uint64_t adds = health("fast_adds");

		send_from(cg);
		cr_assert(ge(u64, inspect(&r[0], &ev).packets, 1), "the old rule counted");
		if (k % 2 == 0) {
			/* stopped (withdrawn), then started again */
			ev = unit_ev(SCNPM_UNIT_STOPPED, "a.service", cg);
			apply(&ev, r, 2);
			cr_assert(eq(sz, count_rules("scnpm:"), 0));
			cr_assert(eq(u64, health("fast_templates"), 2));
			cg_again("a.service", cg);
			ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
		} else {
			/* a new cgroup seen before the old one's end: one sync replaces */
			cg_again("a.service", cg);
			ev = unit_ev(SCNPM_UNIT_CHANGED, "a.service", cg);
		}
		apply(&ev, r, 2);
		cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
		cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_APPLIED));
		cr_assert(
		    ne(ptr, strstr(fake_host_last_report(fx.fh, &r[1])->message, "added"), NULL));
		cr_assert(eq(u64, health("fast_adds"), adds + 2), "round %d went the fast way", k);
		cr_assert(eq(u64, health("fast_refused"), 0));

		/* Exactly one rule each, for the live cgroup (nft prints its path, not a
		 * dead id), ours by its tag, counters from zero, at the end of the chain. */
		cr_assert(eq(sz, count_rules("scnpm:"), 2));
		cr_assert(eq(sz, count_rules(quoted), 2));
		cr_assert(eq(sz, count_rules("packets 0 bytes 0"), 3), "ours and 'foreign last'");
		i0 = inspect(&r[0], &ev);
		i1 = inspect(&r[1], &ev);
		cr_assert(eq(u32, i0.state, SCNPM_KERNEL_PRESENT), "the tag is the one wanted");
		cr_assert(eq(u32, i1.state, SCNPM_KERNEL_PRESENT));
		cr_assert(eq(u64, i0.cgroup_id, cg_id(cg)));
		cr_assert(eq(u64, i1.cgroup_id, cg_id(cg)));
		cr_assert(eq(u64, i0.packets, 0));
		cr_assert(gt(u64, i0.handle, last_handle));
		cr_assert(gt(u64, i1.handle, i0.handle), "appended in order");
		last_handle = i1.handle;
		foreign_listing(foreign_after, sizeof(foreign_after));
		cr_assert(eq(str, foreign_after, foreign_before), "foreign rules untouched");
		/* and the new rule matches the new cgroup */
		send_from(cg);
		cr_assert(eq(u64, inspect(&r[0], &ev).packets, 1));
		cr_assert(eq(u64, inspect(&r[1], &ev).packets, 1));
	}

	/* What the fast path put in is exactly what a new run computes: it adopts both,
	 * sending nothing. */
	{
		uint32_t gen = ruleset_gen();
		uint64_t h0 = inspect(&r[0], &ev).handle;

		restart_module();
		ev.change = SCNPM_UNIT_STARTED;
		apply(&ev, r, 2);
		cr_assert(eq(u32, ruleset_gen(), gen), "adopted, nothing sent");
		cr_assert(eq(u64, inspect(&r[0], &ev).handle, h0));
		cr_assert(ne(ptr, strstr(fake_host_last_report(fx.fh, &r[0])->message, "in place"),
			     NULL));
	}
}

/* One add of the fast batch cannot be done (its chain is gone): the kernel refuses the
 * whole batch, and both adds go through libnftables, which adds the good one and tells
 * the other's failure as it always does. */
Test(sink_nft_fast, refused_batch_falls_back)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[2] = {mkrule(1, TEMPLATED), mkrule(2, "accept")};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	char quoted[160];

	snprintf(quoted, sizeof(quoted), "\"%s\"", cg);
	nft_ok("add chain inet scnpmt c2");
	r[1].name = "c2";
	r[1].text = "add rule inet scnpmt c2 socket cgroupv2 level %{level} %{cgroup} drop";
	add_rules(r, 2);
	apply(&ev, r, 2);
	ev = unit_ev(SCNPM_UNIT_STOPPED, "a.service", cg);
	apply(&ev, r, 2);
	cr_assert(eq(u64, health("fast_templates"), 2));

	nft_ok("delete chain inet scnpmt c2");
	cg_again("a.service", cg);
	ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
	apply(&ev, r, 2);
	cr_assert(eq(u64, health("fast_refused"), 1));
	cr_assert(eq(u64, health("fast_adds"), 0));
	cr_assert(eq(u64, health("fast_templates"), 1), "the template refused is dropped");
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u32, result_of(&r[1]), SCNPM_RESULT_FAILED));
	cr_assert(
	    ne(ptr, strstr(fake_host_last_report(fx.fh, &r[1])->message, "as soon as"), NULL));
	cr_assert(eq(sz, count_rules(quoted), 1));
	cr_assert(eq(u32, inspect(&r[0], &ev).state, SCNPM_KERNEL_PRESENT));

	/* The one left serves the next restart. */
	cg_again("a.service", cg);
	ev = unit_ev(SCNPM_UNIT_CHANGED, "a.service", cg);
	apply(&ev, r, 2);
	cr_assert(eq(u64, health("fast_adds"), 1));
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(sz, count_rules(quoted), 1));
	cr_assert(eq(u64, inspect(&r[0], &ev).cgroup_id, cg_id(cg)));
}

/* Rules a template does not take, or must not be used for, go the normal way. */
Test(sink_nft_fast, other_rules_take_the_slow_path)
{
	const char *cg = cg_mkdir("a.service");
	char slice_rule[256], quoted[160], slice_quoted[96];
	struct scnpm_rule r[3];
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	snprintf(quoted, sizeof(quoted), "\"%s\"", cg);
	snprintf(slice_quoted, sizeof(slice_quoted), "\"%s\"", fx.slice);
	/* the unit's slice, not its own cgroup: its id must stay the slice's */
	snprintf(slice_rule, sizeof(slice_rule), "socket cgroupv2 level 1 %s counter accept",
		 slice_quoted);
	r[0] = mkrule(1, "socket cgroupv2 level %{level} %{cgroup} limit rate 100/second accept");
	r[1] = mkrule(2, slice_rule);
	r[2] = mkrule(3, "socket cgroupv2 level %{level} %{cgroup} log prefix \"a\" accept");
	add_rules(r, 3);
	apply(&ev, r, 3);
	for (int k = 0; k < 2; k++) {
		ev = unit_ev(SCNPM_UNIT_STOPPED, "a.service", cg);
		apply(&ev, r, 3);
		cr_assert(eq(u64, health("fast_templates"), 0), "nothing to keep");
		cg_again("a.service", cg);
		ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);
		apply(&ev, r, 3);
		for (size_t i = 0; i < 3; i++)
			cr_assert(eq(u32, result_of(&r[i]), SCNPM_RESULT_APPLIED));
		cr_assert(eq(sz, count_rules("scnpm:"), 3));
		cr_assert(eq(sz, count_rules(quoted), 2));
		cr_assert(eq(sz, count_rules("limit rate 100/second"), 1));
		cr_assert(eq(sz, count_rules(slice_quoted), 1),
			  "the slice's rule is still the slice's");
		cr_assert(eq(u64, inspect(&r[0], &ev).cgroup_id, cg_id(cg)));
	}
	cr_assert(eq(u64, health("fast_adds"), 0));
}

/* The unit comes back at another path: its template is not for that rule. */
Test(sink_nft_fast, other_path_takes_the_slow_path)
{
	const char *a = cg_mkdir("a.service"), *b = cg_mkdir("b.service");
	struct scnpm_rule r[1] = {mkrule(1, TEMPLATED)};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", a);
	char quoted[160];

	add_rules(r, 1);
	apply(&ev, r, 1);
	ev = unit_ev(SCNPM_UNIT_STOPPED, "a.service", a);
	apply(&ev, r, 1);
	cr_assert(eq(u64, health("fast_templates"), 1));
	ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", b);
	apply(&ev, r, 1);
	cr_assert(eq(u32, result_of(&r[0]), SCNPM_RESULT_APPLIED));
	cr_assert(eq(u64, health("fast_adds"), 0));
	snprintf(quoted, sizeof(quoted), "\"%s\"", b);
	cr_assert(eq(sz, count_rules(quoted), 1));
	cr_assert(eq(sz, count_rules("scnpm:"), 1));

	/* A directive removed takes its templates along. */
	fx.m->rule_remove(fx.state, &r[0]);
	settle();
	cr_assert(eq(u64, health("fast_templates"), 0));
	cr_assert(eq(sz, count_rules("scnpm:"), 0));
}

/* A rule of ours deleted by someone else comes back on the fast path too, for the cgroup
 * it had, when a template of it is there. */
Test(sink_nft_fast, restore_after_a_flush)
{
	const char *cg = cg_mkdir("a.service");
	struct scnpm_rule r[1] = {mkrule(1, TEMPLATED)};
	struct scnpm_event ev = unit_ev(SCNPM_UNIT_STARTED, "a.service", cg);

	add_rules(r, 1);
	apply(&ev, r, 1);
	cg_again("a.service", cg);
	ev = unit_ev(SCNPM_UNIT_CHANGED, "a.service", cg);
	apply(&ev, r, 1);
	cr_assert(eq(u64, health("fast_adds"), 1));

	nft_ok("flush chain inet scnpmt c");
	nft_ok("add rule inet scnpmt c tcp dport 1 accept comment \"foreign\"");
	for (int k = 0; k < 50 && count_rules("scnpm:") == 0; k++)
		(void)sd_event_run(fx.event, 10 * 1000);
	settle();
	cr_assert(eq(sz, count_rules("scnpm:"), 1));
	cr_assert(eq(u64, health("fast_adds"), 2));
	cr_assert(eq(u64, health("restored"), 1));
	cr_assert(eq(u64, inspect(&r[0], &ev).cgroup_id, cg_id(cg)));
	cr_assert(eq(u32, inspect(&r[0], &ev).state, SCNPM_KERNEL_PRESENT));
}
