/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nf_tables notifications as sink-nft's monitor socket reads them (and its GETRULE dump
 * replies): a buffer of netlink messages, framed by scnpm_nlmsg_framed_len() and split by
 * libmnl as nft_sink_drain() does, each through nft_notify_parse(); the NEWRULE messages of a
 * transaction collected and matched against the rules we expect when its NEWGEN comes
 * (nft_txn_match()), the tag read from a rule's comment. Messages may be truncated, carry wrong
 * lengths or unknown attributes. Besides no crash: a transaction matched as ours gives every
 * expected rule a handle.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/netlink.h>
#include <scnpm/tag.h>

#include "fuzz.h"
#include "nft-notify.h"

struct state {
	struct nft_txn txn;
	struct nft_expect expect[2];
};

static int on_msg(const struct nlmsghdr *nlh, void *userdata)
{
	struct state *st = userdata;
	struct nft_notify n;
	int r;

	if (nft_notify_parse(nlh, &n) < 0)
		return MNL_CB_OK;
	switch (n.type) {
	case NFT_NOTIFY_NEWRULE:
		(void)scnpm_tag_from_comment(n.comment);
		if (!n.table || !n.chain)
			abort();
		if (nft_txn_add(&st->txn, &n) < 0)
			nft_txn_reset(&st->txn);
		break;
	case NFT_NOTIFY_NEWGEN:
		for (size_t i = 0; i < 2; i++)
			st->expect[i].handle = 0;
		r = nft_txn_match(&st->txn, &n, 4242, 77, st->expect, 2);
		for (size_t i = 0; r == 1 && i < 2; i++)
			if (st->expect[i].handle == 0)
				abort();
		nft_txn_reset(&st->txn);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st = {
	    .expect =
		{
		    {.family = NFPROTO_INET, .table = "filter", .chain = "whitelist"},
		    {.family = NFPROTO_INET, .table = "filter", .chain = "out put"},
		},
	};
	void *buf;

	if (size > 1 << 20)
		return 0;
	buf = fuzz_dup(data, size);
	(void)mnl_cb_run(buf, scnpm_nlmsg_framed_len(buf, size), 0, 0, on_msg, &st);
	nft_txn_done(&st.txn);
	free(buf);
	return 0;
}
