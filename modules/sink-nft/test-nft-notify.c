/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft-notify.h"

/* Messages built the way the kernel's nf_tables_fill_*_info() builds notifications. */
static char buf[4096];

static struct nlmsghdr *msg(int subsys, int type, int family, uint32_t portid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (uint16_t)((subsys << 8) | type);
	nlh->nlmsg_pid = portid;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	return nlh;
}

static struct nlmsghdr *rule_msg(int type, int family, uint32_t portid, const char *table,
				 const char *chain, uint64_t handle)
{
	struct nlmsghdr *nlh = msg(NFNL_SUBSYS_NFTABLES, type, family, portid);

	if (table)
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
	if (chain)
		mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
	if (handle)
		mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(handle));
	return nlh;
}

static struct nlmsghdr *gen_msg(uint32_t portid, uint32_t id, uint32_t pid)
{
	struct nlmsghdr *nlh = msg(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWGEN, NFPROTO_UNSPEC, portid);

	mnl_attr_put_u32(nlh, NFTA_GEN_ID, htonl(id));
	if (pid)
		mnl_attr_put_u32(nlh, NFTA_GEN_PROC_PID, htonl(pid));
	mnl_attr_put_strz(nlh, NFTA_GEN_PROC_NAME, "scnpm");
	return nlh;
}

Test(nft_notify, newrule_and_delrule)
{
	struct nft_notify n;

	cr_assert(
	    eq(int, nft_notify_parse(rule_msg(NFT_MSG_NEWRULE, NFPROTO_INET, 77, "t", "c", 12), &n),
	       0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_NEWRULE));
	cr_assert(eq(int, n.family, NFPROTO_INET));
	cr_assert(eq(u32, n.portid, 77));
	cr_assert(eq(str, (char *)n.table, "t"));
	cr_assert(eq(str, (char *)n.chain, "c"));
	cr_assert(eq(u64, n.handle, 12));

	cr_assert(eq(
	    int,
	    nft_notify_parse(rule_msg(NFT_MSG_DELRULE, NFPROTO_IPV6, 0, "x", "y", 1ULL << 40), &n),
	    0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_DELRULE));
	cr_assert(eq(int, n.family, NFPROTO_IPV6));
	cr_assert(eq(u64, n.handle, 1ULL << 40));
}

Test(nft_notify, rule_without_handle_is_malformed)
{
	struct nft_notify n;

	cr_assert(eq(int,
		     nft_notify_parse(rule_msg(NFT_MSG_NEWRULE, NFPROTO_INET, 1, "t", "c", 0), &n),
		     -EBADMSG));
	cr_assert(eq(int,
		     nft_notify_parse(rule_msg(NFT_MSG_DELRULE, NFPROTO_INET, 1, NULL, "c", 3), &n),
		     -EBADMSG));
}

Test(nft_notify, delchain_deltable)
{
	struct nlmsghdr *nlh;
	struct nft_notify n;

	nlh = msg(NFNL_SUBSYS_NFTABLES, NFT_MSG_DELCHAIN, NFPROTO_INET, 5);
	mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, "t");
	mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, "c");
	cr_assert(eq(int, nft_notify_parse(nlh, &n), 0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_DELCHAIN));
	cr_assert(eq(str, (char *)n.table, "t"));
	cr_assert(eq(str, (char *)n.chain, "c"));

	nlh = msg(NFNL_SUBSYS_NFTABLES, NFT_MSG_DELTABLE, NFPROTO_IPV4, 5);
	mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, "filter");
	cr_assert(eq(int, nft_notify_parse(nlh, &n), 0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_DELTABLE));
	cr_assert(eq(int, n.family, NFPROTO_IPV4));
	cr_assert(eq(str, (char *)n.table, "filter"));
}

Test(nft_notify, newgen)
{
	struct nft_notify n;

	cr_assert(eq(int, nft_notify_parse(gen_msg(9, 1234, 4321), &n), 0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_NEWGEN));
	cr_assert(eq(u32, n.gen_id, 1234));
	cr_assert(eq(u32, n.gen_pid, 4321));
	cr_assert(eq(u32, n.portid, 9));

	/* Kernels before 5.x did not say who committed. */
	cr_assert(eq(int, nft_notify_parse(gen_msg(9, 1, 0), &n), 0));
	cr_assert(eq(u32, n.gen_pid, 0));
}

Test(nft_notify, other_messages)
{
	struct nft_notify n;

	cr_assert(eq(
	    int, nft_notify_parse(msg(NFNL_SUBSYS_NFTABLES, NFT_MSG_NEWSET, NFPROTO_INET, 1), &n),
	    0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_OTHER));
	cr_assert(eq(int, nft_notify_parse(msg(NFNL_SUBSYS_CTNETLINK, 0, NFPROTO_INET, 1), &n), 0));
	cr_assert(eq(int, (int)n.type, (int)NFT_NOTIFY_OTHER));
}

static void txn_push(struct nft_txn *x, int family, uint32_t portid, const char *table,
		     const char *chain, uint64_t handle)
{
	struct nft_notify n;

	cr_assert(eq(
	    int,
	    nft_notify_parse(rule_msg(NFT_MSG_NEWRULE, family, portid, table, chain, handle), &n),
	    0));
	cr_assert(eq(int, nft_txn_add(x, &n), 0));
}

Test(nft_notify, match_our_transaction)
{
	struct nft_txn x = {};
	struct nft_expect e[2] = {
	    {.family = NFPROTO_INET, .table = "t", .chain = "c"},
	    {.family = NFPROTO_INET, .table = "t", .chain = "d"},
	};
	struct nft_notify gen;

	txn_push(&x, NFPROTO_INET, 55, "t", "c", 10);
	txn_push(&x, NFPROTO_INET, 55, "t", "d", 11);
	cr_assert(eq(int, nft_notify_parse(gen_msg(55, 3, 1000), &gen), 0));

	/* Someone else's (another task) */
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1001, e, 2), 0));
	cr_assert(eq(u64, e[0].handle, 0));

	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), 1));
	cr_assert(eq(u64, e[0].handle, 10));
	cr_assert(eq(u64, e[1].handle, 11));
	nft_txn_done(&x);
}

Test(nft_notify, match_by_port)
{
	struct nft_txn x = {};
	struct nft_expect e[1] = {{.family = NFPROTO_INET, .table = "t", .chain = "c"}};
	struct nft_notify gen;

	txn_push(&x, NFPROTO_INET, 55, "t", "c", 10);
	/* In a PID namespace the kernel reports another task id than ours: the port
	 * decides when known. */
	cr_assert(eq(int, nft_notify_parse(gen_msg(55, 3, 99999), &gen), 0));
	cr_assert(eq(int, nft_txn_match(&x, &gen, 56, 1, e, 1), 0));
	cr_assert(eq(u64, e[0].handle, 0));
	cr_assert(eq(int, nft_txn_match(&x, &gen, 55, 1, e, 1), 1));
	cr_assert(eq(u64, e[0].handle, 10));
	nft_txn_done(&x);
}

Test(nft_notify, mismatches_are_not_learned)
{
	struct nft_txn x = {};
	struct nft_expect e[2] = {
	    {.family = NFPROTO_INET, .table = "t", .chain = "c"},
	    {.family = NFPROTO_INET, .table = "t", .chain = "d"},
	};
	struct nft_notify gen;

	cr_assert(eq(int, nft_notify_parse(gen_msg(55, 3, 1000), &gen), 0));

	/* Ours, without rules: some other commit of this task, keep waiting. */
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), 0));

	/* Wrong count */
	txn_push(&x, NFPROTO_INET, 55, "t", "c", 10);
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), -EBADMSG));

	/* Wrong order */
	nft_txn_reset(&x);
	txn_push(&x, NFPROTO_INET, 55, "t", "d", 10);
	txn_push(&x, NFPROTO_INET, 55, "t", "c", 11);
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), -EBADMSG));

	/* Another netlink socket of the same task */
	nft_txn_reset(&x);
	txn_push(&x, NFPROTO_INET, 56, "t", "c", 10);
	txn_push(&x, NFPROTO_INET, 56, "t", "d", 11);
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), -EBADMSG));

	/* Other family */
	nft_txn_reset(&x);
	txn_push(&x, NFPROTO_IPV4, 55, "t", "c", 10);
	txn_push(&x, NFPROTO_INET, 55, "t", "d", 11);
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 1000, e, 2), -EBADMSG));
	cr_assert(eq(u64, e[0].handle, 0));
	cr_assert(eq(u64, e[1].handle, 0));

	/* A kernel that does not say who committed: never ours. */
	nft_txn_reset(&x);
	txn_push(&x, NFPROTO_INET, 55, "t", "c", 10);
	txn_push(&x, NFPROTO_INET, 55, "t", "d", 11);
	cr_assert(eq(int, nft_notify_parse(gen_msg(55, 3, 0), &gen), 0));
	cr_assert(eq(int, nft_txn_match(&x, &gen, 0, 0, e, 2), 0));
	nft_txn_done(&x);
}
