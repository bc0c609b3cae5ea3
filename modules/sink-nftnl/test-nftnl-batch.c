/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Round trip: build each message with nftnl-batch.c, parse it back with libnftnl,
 * compare. No kernel. */
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nftnl-batch.h"

/* ---- body parsers ---- */

/* Strings inline: Criterion's workers may not share the parent's addresses. */
struct elem_case {
	char body[96];
	int ok;
	int kind;
	char chain[32];
};

ParameterizedTestParameters(nlbatch, element_body)
{
	static struct elem_case cases[] = {
		{ "{ %{cgroup} }", 1, NLBATCH_VERDICT_NONE, "" },
		{ "{%{cgroup}}", 1, NLBATCH_VERDICT_NONE, "" },
		{ "{ %{cgroup} : accept }", 1, NLBATCH_VERDICT_ACCEPT, "" },
		{ "{ %{cgroup} : drop }", 1, NLBATCH_VERDICT_DROP, "" },
		{ "{ %{cgroup} : jump mail_only }", 1, NLBATCH_VERDICT_JUMP, "mail_only" },
		{ "{ %{cgroup}:goto \"x-y\" }", 1, NLBATCH_VERDICT_GOTO, "x-y" },
		{ "{ %{cgroup} : reject }", 0, 0, "" },
		{ "{ %{cgroup} : jump }", 0, 0, "" },
		{ "{ %{cgroup}, %{cgroup} }", 0, 0, "" },
		{ "{ \"system.slice/a.service\" }", 0, 0, "" },
		{ "{ %{cgroup} : jump a; add rule x }", 0, 0, "" },
		{ "{ %{cgroup} : jump a } extra", 0, 0, "" },
		{ "%{cgroup}", 0, 0, "" },
		{ "", 0, 0, "" },
		{ "{ %{cgroup} : jump \"\" }", 0, 0, "" },
	};
	return cr_make_param_array(struct elem_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct elem_case *c, nlbatch, element_body)
{
	struct nlbatch_verdict v;
	int r = nlbatch_parse_element_body(c->body, &v);

	cr_assert(eq(int, r == 0, c->ok), "body '%s'", c->body);
	if (c->ok) {
		cr_assert(eq(int, v.kind, c->kind));
		cr_assert(eq(str, v.chain, c->chain));
	}
}

struct dispatch_case {
	char body[96];
	int ok;
	uint32_t level;
	int counter;
	int kind;
	char chain[32];
};

ParameterizedTestParameters(nlbatch, dispatch_body)
{
	static struct dispatch_case cases[] = {
		{ "socket cgroupv2 level 2 %{cgroup} accept", 1, 2, 0, NLBATCH_VERDICT_ACCEPT, "" },
		{ "socket cgroupv2 level 5 %{cgroup} counter drop", 1, 5, 1, NLBATCH_VERDICT_DROP, "" },
		{ "socket cgroupv2 level %{level} %{cgroup} reject", 1, 0, 0, NLBATCH_VERDICT_REJECT, "" },
		{ "socket cgroupv2 level 1 %{cgroup} counter jump mail_only", 1, 1, 1, NLBATCH_VERDICT_JUMP, "mail_only" },
		{ "socket cgroupv2 level 3 %{cgroup} goto x", 1, 3, 0, NLBATCH_VERDICT_GOTO, "x" },
		{ "socket cgroupv2 level 0 %{cgroup} accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 256 %{cgroup} accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level -1 %{cgroup} accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2x %{cgroup} accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 \"system.slice/a.service\" accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 %{cgroup} tcp dport 25 accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 %{cgroup} accept drop", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 %{cgroup} counter counter accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 %{cgroup}", 0, 0, 0, 0, "" },
		{ "meta skuid 0 accept", 0, 0, 0, 0, "" },
		{ "socket cgroupv2 level 2 %{cgroup} jump a;b", 0, 0, 0, 0, "" },
	};
	return cr_make_param_array(struct dispatch_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct dispatch_case *c, nlbatch, dispatch_body)
{
	struct nlbatch_dispatch d;
	int r = nlbatch_parse_dispatch_body(c->body, &d);

	cr_assert(eq(int, r == 0, c->ok), "body '%s'", c->body);
	if (c->ok) {
		cr_assert(eq(u32, d.level, c->level));
		cr_assert(eq(int, d.counter, c->counter));
		cr_assert(eq(int, d.verdict.kind, c->kind));
		cr_assert(eq(str, d.verdict.chain, c->chain));
	}
}

Test(nlbatch, families)
{
	cr_assert(eq(int, nlbatch_family_from_string("inet"), NFPROTO_INET));
	cr_assert(eq(int, nlbatch_family_from_string("ip6"), NFPROTO_IPV6));
	cr_assert(eq(int, nlbatch_family_from_string("bridge"), NFPROTO_BRIDGE));
	cr_assert(eq(int, nlbatch_family_from_string("inet6"), -EINVAL));
	cr_assert(eq(str, (char *)nlbatch_family_to_string(NFPROTO_IPV4), "ip"));
}

/* ---- messages ---- */

/* The n-th message of a batch buffer (0 = batch begin). */
static const struct nlmsghdr *nth_msg(const struct nlbatch_buf *b, unsigned n)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->data;
	int len = (int)b->len;

	for (unsigned i = 0; i < n; i++) {
		cr_assert(mnl_nlmsg_ok(nlh, len));
		nlh = mnl_nlmsg_next(nlh, &len);
	}
	cr_assert(mnl_nlmsg_ok(nlh, len));
	return nlh;
}

static int nfmsg_family(const struct nlmsghdr *nlh)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

	return g->nfgen_family;
}

Test(nlbatch, batch_frame)
{
	struct nlbatch_buf b = {};
	const struct nlmsghdr *nlh;
	int len;
	unsigned n = 0;

	cr_assert(eq(int, nlbatch_begin(&b, 10), 0));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "filter", "allowed", 42, NULL, 11), 0));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_DELSETELEM, NFPROTO_INET, "filter", "allowed", 43, NULL, 12), 0));
	cr_assert(eq(int, nlbatch_end(&b, 13), 0));
	cr_assert(eq(u32, b.n_msgs, 2));

	for (nlh = (const struct nlmsghdr *)b.data, len = (int)b.len; mnl_nlmsg_ok(nlh, len);
	     nlh = mnl_nlmsg_next(nlh, &len))
		cr_assert(eq(u32, nlh->nlmsg_seq, 10 + n++));
	cr_assert(eq(u32, n, 4));
	cr_assert(eq(int, nth_msg(&b, 0)->nlmsg_type, NFNL_MSG_BATCH_BEGIN));
	cr_assert(eq(int, nth_msg(&b, 3)->nlmsg_type, NFNL_MSG_BATCH_END));
	nlbatch_buf_reset(&b);
	cr_assert(eq(sz, b.len, 0));
	nlbatch_buf_done(&b);
}

struct parsed_elem {
	uint64_t id;
	int has_verdict;
	uint32_t verdict;
	char chain[256];
	int n;
};

static int on_elem(struct nftnl_set_elem *e, void *data)
{
	struct parsed_elem *p = data;
	uint32_t len = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);

	cr_assert(eq(u32, len, 8));
	memcpy(&p->id, key, 8);
	p->has_verdict = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_VERDICT);
	if (p->has_verdict)
		p->verdict = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_VERDICT);
	if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_CHAIN))
		strcpy(p->chain, nftnl_set_elem_get_str(e, NFTNL_SET_ELEM_CHAIN));
	p->n++;
	return 0;
}

static struct parsed_elem parse_elem_msg(const struct nlmsghdr *nlh, const char *table,
					 const char *set)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct parsed_elem p = {};

	cr_assert(eq(int, nftnl_set_elems_nlmsg_parse(nlh, s), 0));
	cr_assert(eq(str, (char *)nftnl_set_get_str(s, NFTNL_SET_TABLE), (char *)table));
	cr_assert(eq(str, (char *)nftnl_set_get_str(s, NFTNL_SET_NAME), (char *)set));
	nftnl_set_elem_foreach(s, on_elem, &p);
	nftnl_set_free(s);
	return p;
}

Test(nlbatch, setelem_plain)
{
	struct nlbatch_buf b = {};
	const struct nlmsghdr *nlh;
	struct parsed_elem p;

	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_IPV4, "filter", "allowed",
					      0x1234567890ULL, NULL, 7), 0));
	nlh = nth_msg(&b, 0);
	cr_assert(eq(int, NFNL_SUBSYS_ID(nlh->nlmsg_type), NFNL_SUBSYS_NFTABLES));
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_NEWSETELEM));
	cr_assert(eq(int, nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE));
	cr_assert(eq(int, nfmsg_family(nlh), NFPROTO_IPV4));
	p = parse_elem_msg(nlh, "filter", "allowed");
	cr_assert(eq(int, p.n, 1));
	cr_assert(eq(u64, p.id, 0x1234567890ULL));
	cr_assert(eq(int, p.has_verdict, 0));
	nlbatch_buf_done(&b);
}

Test(nlbatch, setelem_verdicts)
{
	static const struct {
		int kind;
		const char *chain;
		uint32_t code;
	} cases[] = {
		{ NLBATCH_VERDICT_ACCEPT, "", NF_ACCEPT },
		{ NLBATCH_VERDICT_DROP, "", NF_DROP },
		{ NLBATCH_VERDICT_JUMP, "mail_only", (uint32_t)NFT_JUMP },
		{ NLBATCH_VERDICT_GOTO, "other", (uint32_t)NFT_GOTO },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlbatch_buf b = {};
		struct nlbatch_verdict v = { .kind = cases[i].kind };
		struct parsed_elem p;

		strcpy(v.chain, cases[i].chain);
		cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "t", "pol", 99, &v, 1), 0));
		p = parse_elem_msg(nth_msg(&b, 0), "t", "pol");
		cr_assert(eq(u64, p.id, 99));
		cr_assert(eq(int, p.has_verdict, 1));
		cr_assert(eq(u32, p.verdict, cases[i].code));
		cr_assert(eq(str, p.chain, (char *)cases[i].chain));
		nlbatch_buf_done(&b);
	}
}

/* What libnftnl builds for the same element, the way nft builds it. */
static size_t libnftnl_setelem(char *buf, uint16_t type, int family, const char *table,
			       const char *set, uint64_t id, uint32_t code, const char *chain,
			       uint32_t seq)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	struct nlmsghdr *nlh;

	cr_assert(ne(ptr, s, NULL));
	cr_assert(ne(ptr, e, NULL));
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, set);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)family);
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &id, sizeof(id));
	if (chain) {
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, code);
		if (*chain)
			nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain);
	}
	nftnl_set_elem_add(s, e);
	memset(buf, 0, 4096);
	nlh = nftnl_nlmsg_build_hdr(buf, type, (uint16_t)family,
				    NLM_F_ACK | (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0), seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nlh->nlmsg_len;
}

Test(nlbatch, setelem_is_what_libnftnl_builds)
{
	static const struct {
		uint16_t type;
		int kind;
		const char *chain; /* NULL: no verdict */
		uint32_t code;
	} cases[] = {
		{ NFT_MSG_NEWSETELEM, NLBATCH_VERDICT_NONE, NULL, 0 },
		{ NFT_MSG_DELSETELEM, NLBATCH_VERDICT_NONE, NULL, 0 },
		{ NFT_MSG_NEWSETELEM, NLBATCH_VERDICT_ACCEPT, "", NF_ACCEPT },
		{ NFT_MSG_NEWSETELEM, NLBATCH_VERDICT_DROP, "", NF_DROP },
		{ NFT_MSG_NEWSETELEM, NLBATCH_VERDICT_JUMP, "mail_only", (uint32_t)NFT_JUMP },
		{ NFT_MSG_NEWSETELEM, NLBATCH_VERDICT_GOTO, "other", (uint32_t)NFT_GOTO },
	};
	char want[4096];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlbatch_buf b = {};
		struct nlbatch_verdict v = { .kind = cases[i].kind };
		const struct nlmsghdr *nlh;
		size_t len;

		if (cases[i].chain)
			strcpy(v.chain, cases[i].chain);
		cr_assert(eq(int, nlbatch_put_setelem(&b, cases[i].type, NFPROTO_INET, "filter", "allowed",
						      0x1122334455667788ULL, &v, 77), 0));
		len = libnftnl_setelem(want, cases[i].type, NFPROTO_INET, "filter", "allowed",
				       0x1122334455667788ULL, cases[i].code, cases[i].chain, 77);
		nlh = nth_msg(&b, 0);
		cr_assert(eq(u32, nlh->nlmsg_len, (uint32_t)len), "case %zu", i);
		cr_assert(eq(int, memcmp(nlh, want, len), 0), "case %zu", i);
		nlbatch_buf_done(&b);
	}
}

Test(nlbatch, setelem_delete_has_no_data)
{
	struct nlbatch_buf b = {};
	struct nlbatch_verdict v = { .kind = NLBATCH_VERDICT_JUMP, .chain = "x" };
	const struct nlmsghdr *nlh;
	struct parsed_elem p;

	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_DELSETELEM, NFPROTO_INET, "t", "pol", 5, &v, 3), 0));
	nlh = nth_msg(&b, 0);
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_DELSETELEM));
	cr_assert(eq(int, nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK));
	p = parse_elem_msg(nlh, "t", "pol");
	cr_assert(eq(u64, p.id, 5));
	cr_assert(eq(int, p.has_verdict, 0));
	nlbatch_buf_done(&b);
}

Test(nlbatch, setelem_rejects_bad_input)
{
	struct nlbatch_buf b = {};
	struct nlbatch_verdict v = { .kind = NLBATCH_VERDICT_JUMP };
	char longname[300];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "t", "s", 0, NULL, 1), -EINVAL));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, longname, "s", 1, NULL, 1), -EINVAL));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "t", "s", 1, &v, 1), -EINVAL));
	cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWRULE, NFPROTO_INET, "t", "s", 1, NULL, 1), -EINVAL));
	cr_assert(eq(sz, b.len, 0));
	nlbatch_buf_done(&b);
}

Test(nlbatch, flush_set)
{
	struct nlbatch_buf b = {};
	struct parsed_elem p;
	const struct nlmsghdr *nlh;

	cr_assert(eq(int, nlbatch_put_flush_set(&b, NFPROTO_INET, "t", "allowed", 4), 0));
	nlh = nth_msg(&b, 0);
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_DELSETELEM));
	p = parse_elem_msg(nlh, "t", "allowed");
	cr_assert(eq(int, p.n, 0));
	nlbatch_buf_done(&b);
}

Test(nlbatch, many_messages_grow_the_buffer)
{
	struct nlbatch_buf b = {};

	cr_assert(eq(int, nlbatch_begin(&b, 1), 0));
	for (uint32_t i = 0; i < 5000; i++)
		cr_assert(eq(int, nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "t", "s", i + 1, NULL, i + 2), 0));
	cr_assert(eq(int, nlbatch_end(&b, 6000), 0));
	cr_assert(eq(u32, b.n_msgs, 5000));
	cr_assert(eq(u64, parse_elem_msg(nth_msg(&b, 4321), "t", "s").id, 4321));
	nlbatch_buf_done(&b);
}

/* Expression names of a parsed rule, space separated. */
static void expr_names(struct nftnl_rule *r, char *out, size_t size)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;

	out[0] = '\0';
	while ((e = nftnl_expr_iter_next(it))) {
		if (out[0])
			strncat(out, " ", size - strlen(out) - 1);
		strncat(out, nftnl_expr_get_str(e, NFTNL_EXPR_NAME), size - strlen(out) - 1);
	}
	nftnl_expr_iter_destroy(it);
}

static struct nftnl_expr *nth_expr(struct nftnl_rule *r, unsigned n)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e = nftnl_expr_iter_next(it);

	for (unsigned i = 0; i < n && e; i++)
		e = nftnl_expr_iter_next(it);
	nftnl_expr_iter_destroy(it);
	cr_assert(ne(ptr, e, NULL));
	return e;
}

Test(nlbatch, dispatch_rule_counter_jump)
{
	struct nlbatch_buf b = {};
	struct nlbatch_dispatch d = { .level = 2, .counter = 1,
				      .verdict = { .kind = NLBATCH_VERDICT_JUMP, .chain = "mail_only" } };
	struct nftnl_rule *r = nftnl_rule_alloc();
	const struct nlmsghdr *nlh;
	struct nftnl_expr *e;
	char names[128];
	uint32_t len;
	uint64_t id;

	cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "filter", "out", &d, 2, 500, 9), 0));
	nlh = nth_msg(&b, 0);
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_NEWRULE));
	cr_assert(eq(int, nlh->nlmsg_flags,
		     NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO | NLM_F_CREATE | NLM_F_APPEND));
	cr_assert(eq(int, nftnl_rule_nlmsg_parse(nlh, r), 0));
	cr_assert(eq(str, (char *)nftnl_rule_get_str(r, NFTNL_RULE_TABLE), "filter"));
	cr_assert(eq(str, (char *)nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "out"));
	expr_names(r, names, sizeof(names));
	/* what nft --debug=netlink shows for "socket cgroupv2 level 2 PATH counter jump mail_only" */
	cr_assert(eq(str, names, "socket cmp counter immediate"));

	e = nth_expr(r, 0);
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_SOCKET_KEY), NFT_SOCKET_CGROUPV2));
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_SOCKET_DREG), NFT_REG_1));
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_SOCKET_LEVEL), 2));
	e = nth_expr(r, 1);
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_SREG), NFT_REG_1));
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP), NFT_CMP_EQ));
	memcpy(&id, nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len), sizeof(id));
	cr_assert(eq(u32, len, 8));
	cr_assert(eq(u64, id, 500));
	e = nth_expr(r, 3);
	cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_DREG), NFT_REG_VERDICT));
	cr_assert(eq(int, (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT), NFT_JUMP));
	cr_assert(eq(str, (char *)nftnl_expr_get_str(e, NFTNL_EXPR_IMM_CHAIN), "mail_only"));
	nftnl_rule_free(r);
	nlbatch_buf_done(&b);
}

Test(nlbatch, dispatch_rule_parse_back)
{
	static const struct {
		int family;
		struct nlbatch_dispatch d;
	} cases[] = {
		{ NFPROTO_INET, { .level = 5, .verdict = { .kind = NLBATCH_VERDICT_ACCEPT } } },
		{ NFPROTO_IPV4, { .level = 1, .counter = 1, .verdict = { .kind = NLBATCH_VERDICT_DROP } } },
		{ NFPROTO_IPV6, { .level = 3, .verdict = { .kind = NLBATCH_VERDICT_REJECT } } },
		{ NFPROTO_INET, { .level = 2, .verdict = { .kind = NLBATCH_VERDICT_GOTO, .chain = "g" } } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlbatch_buf b = {};
		struct nlbatch_dispatch d;
		uint32_t level;
		uint64_t id, handle;

		cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, cases[i].family, "t", "c", &cases[i].d,
							    cases[i].d.level, 77 + i, 1), 0));
		cr_assert(eq(int, nlbatch_parse_dispatch_rule(nth_msg(&b, 0), &d, &level, &id, &handle), 0));
		cr_assert(eq(u32, level, cases[i].d.level));
		cr_assert(eq(u64, id, 77 + i));
		cr_assert(eq(u64, handle, 0));
		cr_assert(eq(int, d.counter, cases[i].d.counter));
		cr_assert(eq(int, d.verdict.kind, cases[i].d.verdict.kind));
		cr_assert(eq(str, d.verdict.chain, (char *)cases[i].d.verdict.chain));
		nlbatch_buf_done(&b);
	}
}

Test(nlbatch, dispatch_reject_matches_nft)
{
	/* nft: ip -> "reject type 0 code 3", ip6 -> "type 0 code 4", inet -> "type 2 code 1" */
	static const struct {
		int family;
		uint32_t type, code;
	} cases[] = {
		{ NFPROTO_IPV4, NFT_REJECT_ICMP_UNREACH, 3 },
		{ NFPROTO_IPV6, NFT_REJECT_ICMP_UNREACH, 4 },
		{ NFPROTO_INET, NFT_REJECT_ICMPX_UNREACH, NFT_REJECT_ICMPX_PORT_UNREACH },
	};
	struct nlbatch_dispatch d = { .level = 1, .verdict = { .kind = NLBATCH_VERDICT_REJECT } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nlbatch_buf b = {};
		struct nftnl_rule *r = nftnl_rule_alloc();
		struct nftnl_expr *e;

		cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, cases[i].family, "t", "c", &d, 1, 3, 1), 0));
		cr_assert(eq(int, nftnl_rule_nlmsg_parse(nth_msg(&b, 0), r), 0));
		e = nth_expr(r, 2);
		cr_assert(eq(str, (char *)nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "reject"));
		cr_assert(eq(u32, nftnl_expr_get_u32(e, NFTNL_EXPR_REJECT_TYPE), cases[i].type));
		cr_assert(eq(u32, nftnl_expr_get_u8(e, NFTNL_EXPR_REJECT_CODE), cases[i].code));
		nftnl_rule_free(r);
		nlbatch_buf_done(&b);
	}
}

Test(nlbatch, dispatch_rule_bad_input)
{
	struct nlbatch_buf b = {};
	struct nlbatch_dispatch d = { .level = 1, .verdict = { .kind = NLBATCH_VERDICT_ACCEPT } };

	cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "t", "c", &d, 0, 3, 1), -EINVAL));
	cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "t", "c", &d, 256, 3, 1), -EINVAL));
	cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "t", "c", &d, 1, 0, 1), -EINVAL));
	d.verdict.kind = NLBATCH_VERDICT_NONE;
	cr_assert(eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "t", "c", &d, 1, 3, 1), -EINVAL));
	nlbatch_buf_done(&b);
}

Test(nlbatch, delrule)
{
	struct nlbatch_buf b = {};
	struct nftnl_rule *r = nftnl_rule_alloc();
	const struct nlmsghdr *nlh;
	struct nlbatch_object o;

	cr_assert(eq(int, nlbatch_put_delrule(&b, NFPROTO_INET, "t", "out", 1234, 8), 0));
	nlh = nth_msg(&b, 0);
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_DELRULE));
	cr_assert(eq(int, nftnl_rule_nlmsg_parse(nlh, r), 0));
	cr_assert(eq(u64, nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE), 1234));
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), 0));
	cr_assert(eq(int, o.msg, NFT_MSG_DELRULE));
	cr_assert(eq(int, o.family, NFPROTO_INET));
	cr_assert(eq(str, o.table, "t"));
	cr_assert(eq(str, o.name, "out"));
	cr_assert(eq(u64, o.handle, 1234));

	/* handle 0: flush the chain, no handle attribute */
	nlbatch_buf_reset(&b);
	nftnl_rule_free(r);
	r = nftnl_rule_alloc();
	cr_assert(eq(int, nlbatch_put_delrule(&b, NFPROTO_INET, "t", "out", 0, 8), 0));
	cr_assert(eq(int, nftnl_rule_nlmsg_parse(nth_msg(&b, 0), r), 0));
	cr_assert(not(nftnl_rule_is_set(r, NFTNL_RULE_HANDLE)));
	nftnl_rule_free(r);
	nlbatch_buf_done(&b);
}

Test(nlbatch, dump_requests)
{
	char buf[8192];
	ssize_t len;
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_rule *r = nftnl_rule_alloc();

	len = nlbatch_getsetelem(buf, sizeof(buf), NFPROTO_INET, "t", "allowed", 5);
	cr_assert(gt(sz, (size_t)len, 0));
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_GETSETELEM));
	cr_assert(eq(int, nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP));
	cr_assert(eq(int, nftnl_set_elems_nlmsg_parse(nlh, s), 0));
	cr_assert(eq(str, (char *)nftnl_set_get_str(s, NFTNL_SET_NAME), "allowed"));

	len = nlbatch_getrule(buf, sizeof(buf), NFPROTO_IPV4, "t", "out", 6);
	cr_assert(gt(sz, (size_t)len, 0));
	cr_assert(eq(int, NFNL_MSG_TYPE(nlh->nlmsg_type), NFT_MSG_GETRULE));
	cr_assert(eq(int, nftnl_rule_nlmsg_parse(nlh, r), 0));
	cr_assert(eq(str, (char *)nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "out"));
	cr_assert(eq(sz, (size_t)nlbatch_getsetelem(buf, 100, NFPROTO_INET, "t", "s", 1), (size_t)-ENOBUFS));
	nftnl_set_free(s);
	nftnl_rule_free(r);
}

static void collect(uint64_t id, void *data)
{
	uint64_t *sum = data;

	*sum += id;
}

Test(nlbatch, parse_setelem_ids)
{
	char buf[8192] = {};
	struct nlmsghdr *nlh;
	struct nlattr *list;
	uint64_t sum = 0;

	/* what the kernel's dump reply looks like: several NFTA_LIST_ELEMs in one message
	 * (libnftnl numbers them 1, 2, ... when it builds, and cannot parse that back) */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSETELEM, NFPROTO_INET, 0, 1);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, "t");
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "allowed");
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	for (uint64_t id = 1; id <= 10; id++) {
		struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		struct nlattr *key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);

		mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(id), &id);
		mnl_attr_nest_end(nlh, key);
		mnl_attr_nest_end(nlh, elem);
	}
	/* an element with another key size is ignored */
	{
		struct nlattr *elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
		struct nlattr *key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		uint32_t v4 = 7;

		mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(v4), &v4);
		mnl_attr_nest_end(nlh, key);
		mnl_attr_nest_end(nlh, elem);
	}
	mnl_attr_nest_end(nlh, list);
	cr_assert(eq(int, nlbatch_parse_setelem_ids(nlh, collect, &sum), 10));
	cr_assert(eq(u64, sum, 55));
}

Test(nlbatch, parse_objects)
{
	char buf[8192] = {};
	struct nlmsghdr *nlh;
	struct nlbatch_object o;
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nftnl_set *s = nftnl_set_alloc();

	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "filter");
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_DELTABLE, NFPROTO_INET, 0, 1);
	nftnl_table_nlmsg_build_payload(nlh, t);
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), 0));
	cr_assert(eq(int, o.msg, NFT_MSG_DELTABLE));
	cr_assert(eq(int, o.family, NFPROTO_INET));
	cr_assert(eq(str, o.table, "filter"));

	memset(buf, 0, sizeof(buf));
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "filter");
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "mail_only");
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWCHAIN, NFPROTO_IPV6, 0, 1);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), 0));
	cr_assert(eq(int, o.msg, NFT_MSG_NEWCHAIN));
	cr_assert(eq(int, o.family, NFPROTO_IPV6));
	cr_assert(eq(str, o.name, "mail_only"));

	memset(buf, 0, sizeof(buf));
	nftnl_set_set_str(s, NFTNL_SET_TABLE, "filter");
	nftnl_set_set_str(s, NFTNL_SET_NAME, "allowed");
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
	nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSET, NFPROTO_INET, 0, 1);
	nftnl_set_nlmsg_build_payload(nlh, s);
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), 0));
	cr_assert(eq(int, o.msg, NFT_MSG_NEWSET));
	cr_assert(eq(str, o.table, "filter"));
	cr_assert(eq(str, o.name, "allowed"));

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWGEN, NFPROTO_UNSPEC, 0, 1);
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), -EPROTO));

	nftnl_table_free(t);
	nftnl_chain_free(c);
	nftnl_set_free(s);
}

/* What libnftnl's parsers abort() on (an attribute of the wrong size) or read past (a
 * string without its NUL) is a refusal here, and so is a message cut short. */
Test(nlbatch, malformed_messages_are_refused)
{
	char buf[8192] = {};
	struct nlmsghdr *nlh;
	struct nlbatch_object o;
	struct nlbatch_dispatch d;
	struct nlbatch_buf b = {};
	const struct nlbatch_dispatch rule = {.level = 2,
					      .verdict = {.kind = NLBATCH_VERDICT_ACCEPT}};
	uint32_t u32 = 7, gen;
	uint64_t id, handle;
	int err;

	/* a rule handle of 4 bytes */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "filter");
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "out");
	mnl_attr_put(nlh, NFTA_RULE_HANDLE, sizeof(u32), &u32);
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), -EPROTO));
	cr_assert(eq(int, nlbatch_parse_dispatch_rule(nlh, &d, NULL, &id, &handle), -EPROTO));

	/* a table name without its NUL */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWTABLE, NFPROTO_INET, 0, 1);
	mnl_attr_put(nlh, NFTA_TABLE_NAME, 6, "filter");
	memset((char *)nlh + nlh->nlmsg_len - 2, 'x', 2); /* the padding too */
	cr_assert(eq(int, nlbatch_parse_object(nlh, &o), -EPROTO));

	/* a generation id of 8 bytes, an NLMSG_ERROR without its error code */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWGEN, NFPROTO_UNSPEC, 0, 1);
	mnl_attr_put_u64(nlh, NFTA_GEN_ID, 1);
	cr_assert(eq(int, nlbatch_parse_gen(nlh, &gen), -EBADMSG));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	cr_assert(eq(int, nlbatch_parse_error(nlh, &err), -EBADMSG));

	/* a dispatch rule cut short anywhere is no dispatch rule */
	cr_assert(
	    eq(int, nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "t", "c", &rule, 2, 77, 1), 0));
	nlh = (struct nlmsghdr *)nth_msg(&b, 0);
	cr_assert(eq(int, nlbatch_parse_dispatch_rule(nlh, &d, NULL, &id, &handle), 0));
	for (uint32_t len = nlh->nlmsg_len - 4, full = nlh->nlmsg_len; len >= NLMSG_HDRLEN;
	     len -= 4) {
		nlh->nlmsg_len = len;
		cr_assert(ne(int, nlbatch_parse_dispatch_rule(nlh, &d, NULL, &id, &handle), 0),
			  "cut to %u of %u bytes", len, full);
	}
	nlbatch_buf_done(&b);
}

Test(nlbatch, verdict_strings)
{
	struct nlbatch_verdict a = { .kind = NLBATCH_VERDICT_JUMP, .chain = "x" };
	struct nlbatch_verdict b = { .kind = NLBATCH_VERDICT_JUMP, .chain = "y" };
	char buf[300];

	cr_assert(not(nlbatch_verdict_equal(&a, &b)));
	strcpy(b.chain, "x");
	cr_assert(nlbatch_verdict_equal(&a, &b));
	cr_assert(eq(str, (char *)nlbatch_verdict_to_string(&a, buf, sizeof(buf)), "jump x"));
}
