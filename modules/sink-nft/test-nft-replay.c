/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-replay.c without a kernel: rules the kernel dumped (the fuzz target's seeds,
 * fuzz/corpus/fuzz-nft-replay/: 8 bytes of the cgroup id they match, little-endian, then
 * the NEWRULE message) are captured and put back with another id and tag, and what put()
 * builds is read again by the SDK's own rule parser (<scnpm/nft-readback.h>); every kind
 * of rule that is not a template is refused, one built message per reason.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/nft-readback.h>

#include "nft-replay.h"

#define ID     UINT64_C(0x1122334455667788)
#define NEW_ID UINT64_C(0x99aabbccddeeff00)
#define TAG    "scnpm:00000000000000a1"

static uint8_t buf[8192] __attribute__((aligned(8)));

static size_t load_seed(const char *name, uint64_t *ret_id)
{
	char path[512];
	uint8_t raw[sizeof(buf) + 8];
	uint64_t id;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), CORPUS_DIR "/%s", name);
	f = fopen(path, "re");
	cr_assert(ne(ptr, f, NULL), "%s: %m", path);
	n = fread(raw, 1, sizeof(raw), f);
	fclose(f);
	cr_assert(gt(sz, n, 8 + sizeof(struct nlmsghdr)));
	memcpy(&id, raw, sizeof(id));
	*ret_id = le64toh(id);
	memcpy(buf, raw + 8, n - 8);
	return n - 8;
}

/* ---- building NEWRULE messages as the kernel dumps them ---- */

enum variant {
	V_GOOD,
	V_COMPAT,
	V_RULE_ID,
	V_POSITION_ID,
	V_CHAIN_ID,
	V_UNKNOWN_RULE_ATTR,
	V_UNKNOWN_EXPR_ATTR,
	V_UNKNOWN_ELEM_ATTR,
	V_OFF_WHITELIST,
	V_LOOKUP_SET_ID,
	V_LOOKUP_ANONYMOUS,
	V_VERDICT_CHAIN_ID,
	V_VERDICT_BOUND_CHAIN,
	V_NO_USERDATA,
	V_UDATA_EXTRA_TLV,
	V_UDATA_NOT_COMMENT,
	V_UNTAGGED,
	V_NO_CGROUPV2,
	V_TWO_CGROUPV2,
	V_CMP_NOT_NEXT,
	V_CMP_NOT_EQ,
	V_CMP_OTHER_REG,
	V_CMP_SHORT,
	V_CMP_VERDICT,
	V_CMP_NO_DATA,
	V_COUNTER_NO_BYTES,
	V_FAMILY,
	/* malformed */
	V_DUP_TABLE,
	V_NO_TABLE,
	V_TABLE_NOT_STRING,
	V_NOT_NEWRULE,
	V_ELEM_NOT_LIST_ELEM,
	V_NO_EXPR_NAME,
	V_SOCKET_NO_KEY,
	V_UDATA_BAD_LEN,
	_V_MAX,
};

static struct nlattr *nest(struct nlmsghdr *nlh, uint16_t type)
{
	return mnl_attr_nest_start(nlh, type);
}

static void u32(struct nlmsghdr *nlh, uint16_t type, uint32_t v)
{
	mnl_attr_put_u32(nlh, type, htobe32(v));
}

static void value(struct nlmsghdr *nlh, uint16_t type, const void *v, size_t len)
{
	struct nlattr *d = nest(nlh, type);

	mnl_attr_put(nlh, NFTA_DATA_VALUE, len, v);
	mnl_attr_nest_end(nlh, d);
}

/* One expression: NFTA_LIST_ELEM { NAME, DATA { ... } }; close with expr_end(). */
static struct nlattr *expr_start(struct nlmsghdr *nlh, const char *name, struct nlattr **data)
{
	struct nlattr *e = nest(nlh, NFTA_LIST_ELEM);

	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name);
	*data = nest(nlh, NFTA_EXPR_DATA);
	return e;
}

static void expr_end(struct nlmsghdr *nlh, struct nlattr *e, struct nlattr *data)
{
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, e);
}

static void socket_cgroupv2(struct nlmsghdr *nlh, enum variant v)
{
	struct nlattr *d, *e = expr_start(nlh, "socket", &d);

	if (v != V_SOCKET_NO_KEY)
		u32(nlh, NFTA_SOCKET_KEY, NFT_SOCKET_CGROUPV2);
	u32(nlh, NFTA_SOCKET_DREG, NFT_REG_1);
	u32(nlh, NFTA_SOCKET_LEVEL, 2);
	if (v == V_UNKNOWN_EXPR_ATTR)
		u32(nlh, NFTA_SOCKET_MAX + 1, 0);
	expr_end(nlh, e, d);
}

static void cmp(struct nlmsghdr *nlh, uint32_t sreg, uint32_t op, const void *v, size_t len,
		int verdict)
{
	struct nlattr *d, *e = expr_start(nlh, "cmp", &d);

	u32(nlh, NFTA_CMP_SREG, sreg);
	u32(nlh, NFTA_CMP_OP, op);
	if (!v) {
		/* nothing to compare with */
	} else if (verdict) {
		struct nlattr *n = nest(nlh, NFTA_CMP_DATA), *vd = nest(nlh, NFTA_DATA_VERDICT);

		u32(nlh, NFTA_VERDICT_CODE, NF_ACCEPT);
		mnl_attr_nest_end(nlh, vd);
		mnl_attr_nest_end(nlh, n);
	} else {
		value(nlh, NFTA_CMP_DATA, v, len);
	}
	expr_end(nlh, e, d);
}

static void cgroup_match(struct nlmsghdr *nlh, enum variant v, uint64_t id)
{
	socket_cgroupv2(nlh, v);
	if (v == V_CMP_NOT_NEXT) {
		struct nlattr *d, *e = expr_start(nlh, "meta", &d);

		u32(nlh, NFTA_META_KEY, NFT_META_MARK);
		u32(nlh, NFTA_META_DREG, NFT_REG_2);
		expr_end(nlh, e, d);
	}
	if (v == V_CMP_SHORT)
		cmp(nlh, NFT_REG_1, NFT_CMP_EQ, &id, 4, 0);
	else if (v == V_CMP_NO_DATA)
		cmp(nlh, NFT_REG_1, NFT_CMP_EQ, NULL, 0, 0);
	else
		cmp(nlh, v == V_CMP_OTHER_REG ? NFT_REG_2 : NFT_REG_1,
		    v == V_CMP_NOT_EQ ? NFT_CMP_NEQ : NFT_CMP_EQ, &id, sizeof(id),
		    v == V_CMP_VERDICT);
}

static void counter(struct nlmsghdr *nlh, uint64_t packets, uint64_t bytes)
{
	struct nlattr *d, *e = expr_start(nlh, "counter", &d);

	if (bytes != UINT64_MAX)
		mnl_attr_put_u64(nlh, NFTA_COUNTER_BYTES, htobe64(bytes));
	mnl_attr_put_u64(nlh, NFTA_COUNTER_PACKETS, htobe64(packets));
	expr_end(nlh, e, d);
}

static void lookup(struct nlmsghdr *nlh, enum variant v)
{
	struct nlattr *d, *e;
	uint32_t addr = htobe32(0x0a000001);

	e = expr_start(nlh, "payload", &d);
	u32(nlh, NFTA_PAYLOAD_DREG, NFT_REG_1);
	u32(nlh, NFTA_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
	u32(nlh, NFTA_PAYLOAD_OFFSET, 16);
	u32(nlh, NFTA_PAYLOAD_LEN, 4);
	expr_end(nlh, e, d);
	e = expr_start(nlh, "bitwise", &d);
	u32(nlh, NFTA_BITWISE_SREG, NFT_REG_1);
	u32(nlh, NFTA_BITWISE_DREG, NFT_REG_1);
	u32(nlh, NFTA_BITWISE_LEN, 4);
	value(nlh, NFTA_BITWISE_MASK, &addr, sizeof(addr));
	value(nlh, NFTA_BITWISE_XOR, &(uint32_t){0}, sizeof(uint32_t));
	expr_end(nlh, e, d);
	e = expr_start(nlh, "lookup", &d);
	mnl_attr_put_strz(nlh, NFTA_LOOKUP_SET, v == V_LOOKUP_ANONYMOUS ? "__set0" : "allowed");
	if (v == V_LOOKUP_SET_ID)
		u32(nlh, NFTA_LOOKUP_SET_ID, 3);
	u32(nlh, NFTA_LOOKUP_SREG, NFT_REG_1);
	expr_end(nlh, e, d);
}

static void verdict(struct nlmsghdr *nlh, enum variant v)
{
	struct nlattr *d, *e = expr_start(nlh, "immediate", &d), *n, *vd;

	u32(nlh, NFTA_IMMEDIATE_DREG, NFT_REG_VERDICT);
	n = nest(nlh, NFTA_IMMEDIATE_DATA);
	vd = nest(nlh, NFTA_DATA_VERDICT);
	u32(nlh, NFTA_VERDICT_CODE, (uint32_t)NFT_JUMP);
	mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN,
			  v == V_VERDICT_BOUND_CHAIN ? "__chain0" : "allow");
	if (v == V_VERDICT_CHAIN_ID)
		u32(nlh, NFTA_VERDICT_CHAIN_ID, 7);
	mnl_attr_nest_end(nlh, vd);
	mnl_attr_nest_end(nlh, n);
	expr_end(nlh, e, d);
}

static void userdata(struct nlmsghdr *nlh, enum variant v)
{
	const char *c = v == V_UNTAGGED ? "mail" : "mail " TAG;
	uint8_t u[256];
	size_t len = strlen(c) + 1;

	u[0] = v == V_UDATA_NOT_COMMENT ? 1 : 0;
	u[1] = (uint8_t)(v == V_UDATA_BAD_LEN ? len + 9 : len);
	memcpy(u + 2, c, len);
	len += 2;
	if (v == V_UDATA_EXTRA_TLV) {
		u[len++] = 1; /* ebtables policy */
		u[len++] = 4;
		memset(u + len, 0, 4);
		len += 4;
	}
	mnl_attr_put(nlh, NFTA_RULE_USERDATA, len, u);
}

/* A rule as the kernel dumps it: table, chain, handle, expressions, position, userdata,
 * changed as v says. Returns its length. */
static size_t build(enum variant v)
{
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct nlattr *list;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type =
	    (NFNL_SUBSYS_NFTABLES << 8) | (v == V_NOT_NEWRULE ? NFT_MSG_DELRULE : NFT_MSG_NEWRULE);
	nlh->nlmsg_flags = NLM_F_MULTI;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = v == V_FAMILY ? 99 : NFPROTO_INET;
	if (v == V_TABLE_NOT_STRING)
		mnl_attr_put(nlh, NFTA_RULE_TABLE, 3, "abc");
	else if (v != V_NO_TABLE)
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "filter");
	if (v == V_DUP_TABLE)
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "other");
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "output");
	mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(9));

	list = nest(nlh, NFTA_RULE_EXPRESSIONS);
	if (v == V_ELEM_NOT_LIST_ELEM) {
		struct nlattr *e = nest(nlh, NFTA_LIST_ELEM + 1);

		mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "counter");
		mnl_attr_nest_end(nlh, e);
	}
	if (v == V_NO_EXPR_NAME) {
		struct nlattr *e = nest(nlh, NFTA_LIST_ELEM), *d = nest(nlh, NFTA_EXPR_DATA);

		expr_end(nlh, e, d);
	}
	if (v == V_UNKNOWN_ELEM_ATTR) {
		struct nlattr *d, *e = expr_start(nlh, "counter", &d);

		mnl_attr_nest_end(nlh, d);
		u32(nlh, NFTA_EXPR_MAX + 1, 0);
		mnl_attr_nest_end(nlh, e);
	}
	if (v != V_NO_CGROUPV2)
		cgroup_match(nlh, v, ID);
	if (v == V_TWO_CGROUPV2)
		cgroup_match(nlh, V_GOOD, ID);
	lookup(nlh, v);
	counter(nlh, 12, 3456);
	if (v == V_OFF_WHITELIST) {
		struct nlattr *d, *e = expr_start(nlh, "log", &d);

		expr_end(nlh, e, d);
	}
	counter(nlh, 7, v == V_COUNTER_NO_BYTES ? UINT64_MAX : 890);
	verdict(nlh, v);
	mnl_attr_nest_end(nlh, list);

	mnl_attr_put_u64(nlh, NFTA_RULE_POSITION, htobe64(4));
	if (v == V_COMPAT) {
		struct nlattr *c = nest(nlh, NFTA_RULE_COMPAT);

		u32(nlh, NFTA_RULE_COMPAT_PROTO, 6);
		mnl_attr_nest_end(nlh, c);
	}
	if (v == V_RULE_ID)
		u32(nlh, NFTA_RULE_ID, 1);
	if (v == V_POSITION_ID)
		u32(nlh, NFTA_RULE_POSITION_ID, 1);
	if (v == V_CHAIN_ID)
		u32(nlh, NFTA_RULE_CHAIN_ID, 1);
	if (v == V_UNKNOWN_RULE_ATTR)
		u32(nlh, NFTA_RULE_MAX + 1, 1);
	if (v != V_NO_USERDATA)
		userdata(nlh, v);
	return nlh->nlmsg_len;
}

/* ---- what put() built, checked ---- */

/* The attributes at the top of a NEWRULE message, by type. */
static void top_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
	const struct nlattr *a;

	memset(tb, 0, (NFTA_RULE_MAX + 1) * sizeof(*tb));
	mnl_attr_for_each(a, nlh,
			  sizeof(struct nfgenmsg)) if (mnl_attr_get_type(a) <= NFTA_RULE_MAX)
	    tb[mnl_attr_get_type(a)] = a;
}

/* put() t with NEW_ID and tag 0xbeef: the message adds, carries nothing of the old rule's
 * place, and reads back (SDK parser, and capture() again) as the same rule with the new
 * id and tag and its counters at zero. */
static void check_put(const struct nft_replay *t)
{
	static uint8_t out[8192] __attribute__((aligned(8)));
	const struct nlattr *tb[NFTA_RULE_MAX + 1];
	struct nlmsghdr *nlh = (struct nlmsghdr *)out;
	struct scnpm_nft_readback rb;
	struct nft_replay again;
	size_t len, size = nft_replay_size(t);

	cr_assert(lt(sz, size, sizeof(out) - 64));
	memset(out, 0xee, sizeof(out));
	len = nft_replay_put(t, out, 42, NEW_ID, 0xbeef);
	cr_assert(eq(sz, len, size));
	cr_assert(eq(u32, nlh->nlmsg_type, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE));
	cr_assert(eq(u32, nlh->nlmsg_flags,
		     NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ECHO | NLM_F_ACK));
	cr_assert(eq(u32, nlh->nlmsg_seq, 42));
	cr_assert(
	    eq(int, ((struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family, t->family));
	top_attrs(nlh, tb);
	cr_assert(eq(ptr, (void *)tb[NFTA_RULE_HANDLE], NULL));
	cr_assert(eq(ptr, (void *)tb[NFTA_RULE_POSITION], NULL));
	cr_assert(eq(ptr, (void *)tb[NFTA_RULE_ID], NULL));
	cr_assert(eq(ptr, (void *)tb[NFTA_RULE_POSITION_ID], NULL));
	cr_assert(eq(ptr, (void *)tb[NFTA_RULE_COMPAT], NULL));
	cr_assert(eq(str, (char *)mnl_attr_get_str(tb[NFTA_RULE_TABLE]), t->table));
	cr_assert(eq(str, (char *)mnl_attr_get_str(tb[NFTA_RULE_CHAIN]), t->chain));

	cr_assert(eq(int, nft_replay_capture(nlh, NEW_ID, &again), 0));
	cr_assert(eq(u64, again.cgroup_id, NEW_ID));
	cr_assert(eq(u64, again.tag, 0xbeef));
	cr_assert(eq(int, again.family, t->family));
	cr_assert(eq(sz, again.exprs_len, t->exprs_len));
	cr_assert(eq(sz, again.cgroup_off, t->cgroup_off));
	cr_assert(eq(int, memcmp(again.exprs, t->exprs, t->cgroup_off), 0));
	cr_assert(eq(int,
		     memcmp(again.exprs + t->cgroup_off + 8, t->exprs + t->cgroup_off + 8,
			    t->exprs_len - t->cgroup_off - 8),
		     0));
	cr_assert(eq(sz, again.udata_len, t->udata_len));
	cr_assert(eq(int, memcmp(again.udata, t->udata, t->tag_off), 0));
	nft_replay_done(&again);

	/* The SDK's parser wants a handle, as the kernel's answers have. */
	mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(77));
	cr_assert(eq(int, scnpm_nft_parse_rule(nlh, &rb), 0));
	cr_assert(eq(u64, rb.cgroup_id, NEW_ID));
	cr_assert(eq(u64, rb.tag, 0xbeef));
	if (rb.has_counter) {
		cr_assert(eq(u64, rb.packets, 0));
		cr_assert(eq(u64, rb.bytes, 0));
	}
}

Test(nft_replay, kernel_rules_round_trip)
{
	static const struct {
		const char *seed;
		uint64_t tag;
		int has_counter;
	} seeds[] = {
	    {"kernel-01-plain-accept.bin", 0x3f2a9c0d11e4b7a6, 0},
	    {"kernel-02-counter-own-comment.bin", 0x3f2a9c0d11e4b7a7, 1},
	    {"kernel-03-payload-bitwise-ct-meta-jump.bin", 0x3, 1},
	    {"kernel-04-lookup-named-set.bin", 0x4, 1},
	    {"kernel-16-ip6-two-counters-position.bin", 0xf1, 1},
	};

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		struct nft_replay t;
		struct scnpm_nft_readback rb;
		uint64_t id;

		load_seed(seeds[k].seed, &id);
		cr_assert(eq(int, scnpm_nft_parse_rule((struct nlmsghdr *)buf, &rb), 0));
		cr_assert(eq(u64, rb.cgroup_id, id), "%s", seeds[k].seed);
		cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, id, &t), 0), "%s",
			  seeds[k].seed);
		cr_assert(eq(u64, t.tag, seeds[k].tag));
		cr_assert(eq(u64, t.cgroup_id, id));
		cr_assert(eq(int, rb.has_counter, seeds[k].has_counter));
		check_put(&t);
		nft_replay_done(&t);
	}
}

Test(nft_replay, counters_are_zeroed)
{
	struct nft_replay t;
	uint64_t id;

	/* counter packets 5 bytes 500 ... counter packets 1 bytes 2, in an ip6 table */
	load_seed("kernel-16-ip6-two-counters-position.bin", &id);
	cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, id, &t), 0));
	cr_assert(eq(int, t.family, NFPROTO_IPV6));
	cr_assert(eq(str, t.table, "t"));
	cr_assert(eq(str, t.chain, "out_put"));
	for (size_t off = 0; off + 8 <= t.exprs_len; off += 4) {
		uint64_t v;

		memcpy(&v, t.exprs + off, sizeof(v));
		cr_assert(ne(u64, be64toh(v), 500), "a counter kept its bytes");
		cr_assert(ne(u64, be64toh(v), 5), "a counter kept its packets");
	}
	check_put(&t);
	nft_replay_done(&t);

	build(V_GOOD);
	cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, ID, &t), 0));
	check_put(&t);
	nft_replay_done(&t);
}

Test(nft_replay, kernel_rules_refused)
{
	static const char *const seeds[] = {
	    "kernel-00-accept-only.bin",
	    "kernel-05-anonymous-set.bin",
	    "kernel-06-log.bin",
	    "kernel-07-two-cgroupv2.bin",
	    "kernel-08-slice-not-unit.bin",
	    "kernel-09-no-comment.bin",
	    "kernel-10-comment-untagged.bin",
	    "kernel-11-cgroupv2-not-equal.bin",
	    "kernel-12-no-cgroupv2.bin",
	    "kernel-13-limit.bin",
	    "kernel-14-binding-chain.bin",
	    "kernel-15-no-cgroupv2-accept.bin",
	    "kernel-17-ip6-untagged.bin",
	};

	for (size_t k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		struct nft_replay t = {};
		uint64_t id;

		load_seed(seeds[k], &id);
		cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, id, &t), -EOPNOTSUPP),
			  "%s", seeds[k]);
		cr_assert(eq(ptr, t.exprs, NULL), "written only on success");
	}
}

Test(nft_replay, other_cgroup_id_refused)
{
	struct nft_replay t;
	uint64_t id;

	load_seed("kernel-01-plain-accept.bin", &id);
	cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, id + 1, &t), -EOPNOTSUPP));
	cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, 0, &t), -EOPNOTSUPP));
	build(V_GOOD);
	cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, ID ^ 1, &t), -EOPNOTSUPP));
}

Test(nft_replay, built_rules)
{
	static const struct {
		enum variant v;
		int r;
		const char *what;
	} cases[] = {
	    {V_GOOD, 0, "good"},
	    {V_COMPAT, -EOPNOTSUPP, "compat attribute"},
	    {V_RULE_ID, -EOPNOTSUPP, "rule id"},
	    {V_POSITION_ID, -EOPNOTSUPP, "position id"},
	    {V_CHAIN_ID, -EOPNOTSUPP, "chain id"},
	    {V_UNKNOWN_RULE_ATTR, -EOPNOTSUPP, "rule attribute unknown to us"},
	    {V_UNKNOWN_EXPR_ATTR, -EOPNOTSUPP, "expression attribute unknown to us"},
	    {V_UNKNOWN_ELEM_ATTR, -EOPNOTSUPP, "list element attribute unknown to us"},
	    {V_OFF_WHITELIST, -EOPNOTSUPP, "log expression"},
	    {V_LOOKUP_SET_ID, -EOPNOTSUPP, "lookup by set id"},
	    {V_LOOKUP_ANONYMOUS, -EOPNOTSUPP, "lookup of an anonymous set"},
	    {V_VERDICT_CHAIN_ID, -EOPNOTSUPP, "jump by chain id"},
	    {V_VERDICT_BOUND_CHAIN, -EOPNOTSUPP, "jump to a bound chain"},
	    {V_NO_USERDATA, -EOPNOTSUPP, "no userdata"},
	    {V_UDATA_EXTRA_TLV, -EOPNOTSUPP, "userdata beyond the comment"},
	    {V_UDATA_NOT_COMMENT, -EOPNOTSUPP, "userdata without a comment"},
	    {V_UNTAGGED, -EOPNOTSUPP, "comment without our tag"},
	    {V_NO_CGROUPV2, -EOPNOTSUPP, "no socket cgroupv2"},
	    {V_TWO_CGROUPV2, -EOPNOTSUPP, "two socket cgroupv2"},
	    {V_CMP_NOT_NEXT, -EOPNOTSUPP, "cgroupv2 not compared right away"},
	    {V_CMP_NOT_EQ, -EOPNOTSUPP, "cgroupv2 compared with !="},
	    {V_CMP_OTHER_REG, -EOPNOTSUPP, "cmp of another register"},
	    {V_CMP_SHORT, -EOPNOTSUPP, "cmp of 4 bytes"},
	    {V_CMP_VERDICT, -EOPNOTSUPP, "cmp data a verdict"},
	    /* once read a NULL attribute (fuzz-nft-replay: crash-cmp-without-data) */
	    {V_CMP_NO_DATA, -EBADMSG, "cmp without data"},
	    {V_COUNTER_NO_BYTES, -EOPNOTSUPP, "counter without its bytes"},
	    {V_FAMILY, -EOPNOTSUPP, "unknown family"},
	    {V_DUP_TABLE, -EBADMSG, "table twice"},
	    {V_NO_TABLE, -EBADMSG, "no table"},
	    {V_TABLE_NOT_STRING, -EBADMSG, "table not NUL-terminated"},
	    {V_NOT_NEWRULE, -EBADMSG, "DELRULE"},
	    {V_ELEM_NOT_LIST_ELEM, -EBADMSG, "expression list element of another type"},
	    {V_NO_EXPR_NAME, -EBADMSG, "expression without a name"},
	    {V_SOCKET_NO_KEY, -EBADMSG, "socket without a key"},
	    {V_UDATA_BAD_LEN, -EBADMSG, "comment longer than the userdata"},
	};

	_Static_assert(sizeof(cases) / sizeof(cases[0]) == _V_MAX, "a case per variant");
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct nft_replay t = {};

		build(cases[k].v);
		cr_assert(eq(int, nft_replay_capture((struct nlmsghdr *)buf, ID, &t), cases[k].r),
			  "%s", cases[k].what);
		if (cases[k].r == 0)
			check_put(&t);
		nft_replay_done(&t);
	}
}

Test(nft_replay, truncated_and_corrupted)
{
	static uint8_t orig[sizeof(buf)];
	size_t len = build(V_GOOD);

	memcpy(orig, buf, len);
	/* Cut anywhere: never a read past the end, and no template unless only the padding
	 * of the last attribute (the userdata) is cut off. */
	for (size_t cut = 0; cut < len; cut++) {
		struct nft_replay t;
		int r;
		uint8_t *copy =
		    malloc(cut > sizeof(struct nlmsghdr) ? cut : sizeof(struct nlmsghdr));

		cr_assert(ne(ptr, copy, NULL));
		memcpy(copy, orig, cut > sizeof(struct nlmsghdr) ? cut : sizeof(struct nlmsghdr));
		((struct nlmsghdr *)copy)->nlmsg_len = (uint32_t)cut;
		r = nft_replay_capture((struct nlmsghdr *)copy, ID, &t);
		if (cut + 4 > len && r == 0)
			nft_replay_done(&t);
		else
			cr_assert(lt(int, r, 0), "cut %zu of %zu", cut, len);
		free(copy);
	}
	/* Every attribute length (at any 2-byte place) made too long or too short. */
	for (size_t off = sizeof(struct nlmsghdr) + 4; off + 2 <= len; off += 2) {
		for (int delta = -4; delta <= 4; delta += 8) {
			struct nft_replay t;
			uint16_t l;
			int r;

			memcpy(buf, orig, len);
			memcpy(&l, buf + off, 2);
			l = (uint16_t)(l + delta);
			memcpy(buf + off, &l, 2);
			r = nft_replay_capture((struct nlmsghdr *)buf, ID, &t);
			if (r == 0) {
				check_put(&t);
				nft_replay_done(&t);
			}
		}
	}
}
