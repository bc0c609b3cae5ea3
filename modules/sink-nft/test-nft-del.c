/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-del.c on its own against the kernel (the fixture's namespace and table): a delete
 * decided on a generation that another commit has left behind is refused by the kernel
 * and decided again, so it never hits a rule that took its handle in a rebuilt table.
 *
 * The commits below slip in after the sink's last reading of its notifications, which is
 * what a concurrent 'nft -f' does in the microseconds between a drain and a send: here
 * the monitor is simply never read (nft_sink_drain() below does nothing).
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink-nft.h"
#include "test-sink-nft-fixture.h"

static size_t n_requeued;

int nft_sink_drain(struct nft_sink *s)
{
	return 0;
}

int nft_sink_queue_delete(struct nft_sink *s, int family, const char *table, const char *chain,
			  uint64_t handle, uint64_t tag)
{
	n_requeued++;
	return 0;
}

static struct nft_sink *sink;

static void del_setup(void)
{
	setup();
	n_requeued = 0;
	sink = calloc(1, sizeof(*sink));
	cr_assert(ne(ptr, sink, NULL));
	sink->host = &fx.fh->host;
	cr_assert(eq(int, nft_sink_open_del_socket(sink), 0));
}

static void del_teardown(void)
{
	if (sink && sink->del_nl)
		mnl_socket_close(sink->del_nl);
	free(sink);
	sink = NULL;
	teardown();
}

TestSuite(nft_del, .init = del_setup, .fini = del_teardown);

#define TAG	"scnpm:00000000000000a1"
#define TAG_VAL 0xa1

static uint64_t add_tagged(void)
{
	uint64_t handles[64];
	size_t n;

	nft_ok("add rule inet scnpmt c tcp dport 7 accept comment \"" TAG "\"");
	n = list_rules(NULL, handles, 64);
	cr_assert(gt(sz, n, 0));
	return handles[n - 1];
}

static size_t delete_one(uint64_t handle, uint64_t tag)
{
	struct nft_del d = {
	    .family = NFPROTO_INET, .table = "scnpmt", .chain = "c", .handle = handle, .tag = tag};

	return nft_sink_delete(sink, &d, 1);
}

Test(nft_del, deletes_on_the_current_generation)
{
	uint64_t h = add_tagged();

	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	cr_assert(eq(sz, delete_one(h, TAG_VAL), 1));
	cr_assert(eq(sz, count_rules(TAG), 0));
}

Test(nft_del, a_stale_generation_is_refused_and_decided_again)
{
	uint64_t h = add_tagged();
	uint32_t gen;

	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	nft_ok("add rule inet scnpmt c tcp dport 8 accept comment \"foreign\"");
	cr_assert(eq(int, nft_sink_get_genid(sink, &gen), 0));
	cr_assert(ne(u32, gen, sink->genid), "someone else committed");

	cr_assert(eq(sz, delete_one(h, TAG_VAL), 1));
	cr_assert(eq(sz, count_rules(TAG), 0));
	cr_assert(eq(sz, count_rules("foreign"), 1));
	cr_assert(eq(sz, n_requeued, 0));
	cr_assert(eq(u64, sink->n_del_refused, 1), "the first batch was refused");
}

Test(nft_del, never_hits_a_foreign_rule_that_took_the_handle)
{
	uint64_t h = add_tagged();
	size_t n;

	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	/* The ruleset is replaced; the rebuilt table numbers its rules from 1 again. */
	n = foreign_rules_up_to_handle(h);

	(void)delete_one(h, TAG_VAL);
	cr_assert(eq(sz, count_rules("foreign"), n), "the foreign rule at handle %" PRIu64 " survives", h);
	cr_assert(eq(sz, n_requeued, 0));
	cr_assert(eq(u64, sink->n_del_refused, 1), "the kernel refused the stale batch");
}

Test(nft_del, a_rule_of_ours_with_another_tag_at_the_handle_is_left)
{
	uint64_t h = add_tagged();

	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	nft_ok("flush chain inet scnpmt c");
	nft_ok("delete chain inet scnpmt c\nadd chain inet scnpmt c\n");
	(void)delete_one(h, TAG_VAL + 1);
	/* handle h is gone, and a delete of another tag is never sent anyway */
	cr_assert(eq(sz, count_rules(NULL), 0));
}

Test(nft_del, a_rule_gone_already_counts_as_done)
{
	uint64_t h = add_tagged();

	nft_ok("delete rule inet scnpmt c handle %" PRIu64, h);
	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	cr_assert(eq(sz, delete_one(h, TAG_VAL), 1));
	cr_assert(eq(sz, n_requeued, 0));
}

Test(nft_del, many_deletes_go_in_several_batches)
{
	enum { N = 1200 };
	struct nft_del *d = calloc(N, sizeof(*d));
	char *cmds = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&cmds, &len);
	uint64_t first;

	cr_assert(ne(ptr, d, NULL));
	for (int k = 0; k < N; k++)
		fprintf(f, "add rule inet scnpmt c tcp dport %d accept comment \"" TAG "\"\n", k + 1);
	fclose(f);
	first = add_tagged();
	nft_ok("%s", cmds);
	free(cmds);
	/* one transaction: its rules' handles follow the first one's */
	for (int k = 0; k < N; k++)
		d[k] = (struct nft_del){.family = NFPROTO_INET, .table = "scnpmt", .chain = "c",
					.handle = first + 1 + (uint64_t)k, .tag = TAG_VAL};
	cr_assert(eq(int, nft_sink_get_genid(sink, &sink->genid), 0));
	cr_assert(eq(sz, nft_sink_delete(sink, d, N), N));
	cr_assert(eq(sz, count_rules(TAG), 1));
	free(d);
}
