/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_TEST_SINK_NFT_FIXTURE_H
#define SCNPM_TEST_SINK_NFT_FIXTURE_H

/*
 * The fixture of sink-nft's kernel tests: root only, each test in its own network and
 * mount namespace with cgroup2 mounted at /sys/fs/cgroup (where nft resolves cgroupv2
 * paths), the real module dlopen()ed behind a fake host, table inet scnpmt with the
 * (hookless) chain c. The cgroup2 hierarchy itself is the host's: every cgroup made here
 * is removed again, deepest first, in the teardown, also when the test failed. Under
 * CI=true a missing prerequisite fails the test instead of skipping it.
 */
#include <nftables/libnftables.h>
#include <stdint.h>

#include <scnpm/module.h>

#include "fake-host.h"

#define CG_ROOT	    "/sys/fs/cgroup"
#define MAX_CGROUPS 16

struct sink_nft_fixture {
	sd_event *event;
	struct fake_host *fh;
	void *dl;
	const struct scnpm_module *m;
	void *state;
	struct nft_ctx *nft;		/* the test's own: other people's rules, listings */
	char slice[64];			/* "scnpmtest<pid>_<start time>.slice" */
	char cgroups[MAX_CGROUPS][128]; /* created, relative to CG_ROOT, in creation order */
	size_t n_cgroups;
	int ready;
};
extern struct sink_nft_fixture fx;

void setup(void);
void teardown(void);
/* done() and a fresh init() + start(), as a restart of the daemon would. */
void restart_module(void);

const char *cg_mkdir(const char *name);
void cg_rmdir(const char *name);
void nft_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The rules of chain c as nft lists them (with handles); returns how many. */
size_t list_rules(char lines[][512], uint64_t *handles, size_t max);
size_t count_rules(const char *needle);
/* Replace the ruleset (table scnpmt, chain c, rebuilt) and add rules commented "foreign"
 * until one has handle h, as a reload that renumbers the table does; returns how many. */
size_t foreign_rules_up_to_handle(uint64_t h);
/* The ruleset's generation: one more per committed transaction. */
uint32_t ruleset_gen(void);

struct scnpm_rule mkrule(int line, const char *body);
struct scnpm_event unit_ev(uint32_t change, const char *unit, const char *cgroup_path);
void add_rules(struct scnpm_rule *r, size_t n);
void settle(void);
void apply(const struct scnpm_event *ev, struct scnpm_rule *r, size_t n);
uint32_t result_of(const struct scnpm_rule *r);

#endif
