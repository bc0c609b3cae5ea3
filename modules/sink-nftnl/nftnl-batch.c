/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/chain.h>
#include <libnftnl/table.h>

#include <scnpm/tag.h>
#include <scnpm/nft-family.h>
#include <scnpm/cleanup.h>
#include <scnpm/template.h>

#include "nftnl-batch.h"

SCNPM_DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free)
SCNPM_DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free)

/* Room reserved per message: names are at most 256 bytes each, the rest is small. */
#define NLBATCH_MSG_MAX 4096

int nlbatch_family_from_string(const char *s)
{
	int f = scnpm_nft_family_from_name(s);

	return f < 0 ? -EINVAL : f;
}

const char *nlbatch_family_to_string(int family)
{
	return scnpm_nft_family_name(family) ?: "unknown";
}

int nlbatch_verdict_equal(const struct nlbatch_verdict *a, const struct nlbatch_verdict *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->kind == NLBATCH_VERDICT_JUMP || a->kind == NLBATCH_VERDICT_GOTO)
		return strcmp(a->chain, b->chain) == 0;
	return 1;
}

const char *nlbatch_verdict_to_string(const struct nlbatch_verdict *v, char *buf, size_t size)
{
	static const char *const names[] = {
		[NLBATCH_VERDICT_NONE] = "none",     [NLBATCH_VERDICT_ACCEPT] = "accept",
		[NLBATCH_VERDICT_DROP] = "drop",     [NLBATCH_VERDICT_REJECT] = "reject",
		[NLBATCH_VERDICT_JUMP] = "jump",     [NLBATCH_VERDICT_GOTO] = "goto",
	};

	if (v->kind < 0 || v->kind > NLBATCH_VERDICT_GOTO)
		snprintf(buf, size, "?");
	else if (v->kind == NLBATCH_VERDICT_JUMP || v->kind == NLBATCH_VERDICT_GOTO)
		snprintf(buf, size, "%s %s", names[v->kind], v->chain);
	else
		snprintf(buf, size, "%s", names[v->kind]);
	return buf;
}

/* Body tokenizer: words, "quoted words" (quotes dropped) and the single characters
 * { } : as tokens of their own. */
#define NLBATCH_MAX_TOKENS 12
struct nlbatch_tokens {
	unsigned n;
	char tok[NLBATCH_MAX_TOKENS][NFT_NAME_MAXLEN];
};

static int nlbatch_tokenize(const char *s, struct nlbatch_tokens *t)
{
	t->n = 0;
	for (const char *p = s;;) {
		size_t len = 0;
		char *out;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			return 0;
		if (t->n >= NLBATCH_MAX_TOKENS)
			return -EINVAL;
		out = t->tok[t->n++];

		if (p[0] == '%' && p[1] == '{') {
			const char *end = strchr(p, '}');

			if (!end || (size_t)(end - p + 1) >= NFT_NAME_MAXLEN)
				return -EINVAL;
			memcpy(out, p, (size_t)(end - p + 1));
			out[end - p + 1] = '\0';
			p = end + 1;
			continue;
		}
		if (*p == '{' || *p == '}' || *p == ':') {
			out[0] = *p++;
			out[1] = '\0';
			continue;
		}
		if (*p == '"') {
			const char *end = strchr(p + 1, '"');

			if (!end || end == p + 1 || (size_t)(end - p - 1) >= NFT_NAME_MAXLEN)
				return -EINVAL;
			memcpy(out, p + 1, (size_t)(end - p - 1));
			out[end - p - 1] = '\0';
			p = end + 1;
			continue;
		}
		while (*p && !strchr(" \t\n{}:\";", *p)) {
			if (len + 1 >= NFT_NAME_MAXLEN)
				return -EINVAL;
			out[len++] = *p++;
		}
		if (len == 0)
			return -EINVAL; /* ';' or a stray quote */
		out[len] = '\0';
	}
}

static int nlbatch_chain_name_is_valid(const char *s)
{
	if (!*s || strlen(s) >= NFT_CHAIN_MAXNAMELEN)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_-./", *p)))
			return 0;
	return 1;
}

/* Parses the verdict at tokens[*i...]; advances *i. */
static int nlbatch_parse_verdict(const struct nlbatch_tokens *t, unsigned *i, int allow_reject,
				 struct nlbatch_verdict *ret)
{
	const char *w;

	if (*i >= t->n)
		return -EINVAL;
	w = t->tok[(*i)++];
	memset(ret, 0, sizeof(*ret));
	if (strcmp(w, "accept") == 0)
		ret->kind = NLBATCH_VERDICT_ACCEPT;
	else if (strcmp(w, "drop") == 0)
		ret->kind = NLBATCH_VERDICT_DROP;
	else if (allow_reject && strcmp(w, "reject") == 0)
		ret->kind = NLBATCH_VERDICT_REJECT;
	else if (strcmp(w, "jump") == 0 || strcmp(w, "goto") == 0) {
		ret->kind = w[0] == 'j' ? NLBATCH_VERDICT_JUMP : NLBATCH_VERDICT_GOTO;
		if (*i >= t->n || !nlbatch_chain_name_is_valid(t->tok[*i]))
			return -EINVAL;
		snprintf(ret->chain, sizeof(ret->chain), "%s", t->tok[(*i)++]);
	} else
		return -EINVAL;
	return 0;
}

int nlbatch_parse_element_body(const char *body, struct nlbatch_verdict *ret)
{
	struct nlbatch_tokens t;
	struct nlbatch_verdict v = { .kind = NLBATCH_VERDICT_NONE };
	unsigned i = 0;

	if (!body || nlbatch_tokenize(body, &t) < 0)
		return -EINVAL;
	if (t.n < 3 || strcmp(t.tok[i++], "{") != 0 ||
	    strcmp(t.tok[i++], SCNPM_PLACEHOLDER_CGROUP) != 0)
		return -EINVAL;
	if (strcmp(t.tok[i], ":") == 0) {
		i++;
		if (nlbatch_parse_verdict(&t, &i, 0, &v) < 0)
			return -EINVAL;
	}
	if (i + 1 != t.n || strcmp(t.tok[i], "}") != 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

int nlbatch_parse_dispatch_body(const char *body, struct nlbatch_dispatch *ret)
{
	struct nlbatch_tokens t;
	struct nlbatch_dispatch d = {};
	unsigned i = 0;

	if (!body || nlbatch_tokenize(body, &t) < 0)
		return -EINVAL;
	if (t.n < 6 || strcmp(t.tok[i++], "socket") != 0 || strcmp(t.tok[i++], "cgroupv2") != 0 ||
	    strcmp(t.tok[i++], "level") != 0)
		return -EINVAL;
	if (strcmp(t.tok[i], SCNPM_PLACEHOLDER_LEVEL) == 0)
		d.level = 0;
	else {
		char *end;
		unsigned long l;

		errno = 0;
		l = strtoul(t.tok[i], &end, 10);
		if (errno != 0 || *end || end == t.tok[i] || t.tok[i][0] == '-' ||
		    t.tok[i][0] == '+' || l < 1 || l > 255)
			return -EINVAL;
		d.level = (uint32_t)l;
	}
	i++;
	if (strcmp(t.tok[i++], SCNPM_PLACEHOLDER_CGROUP) != 0)
		return -EINVAL;
	if (i < t.n && strcmp(t.tok[i], "counter") == 0) {
		d.counter = 1;
		i++;
	}
	if (nlbatch_parse_verdict(&t, &i, 1, &d.verdict) < 0)
		return -EINVAL;
	if (i != t.n)
		return -EINVAL;
	*ret = d;
	return 0;
}

void nlbatch_buf_done(struct nlbatch_buf *b)
{
	free(b->data);
	*b = (struct nlbatch_buf){};
}

void nlbatch_buf_reset(struct nlbatch_buf *b)
{
	b->len = 0;
	b->n_msgs = 0;
}

/* Returns a zeroed area of NLBATCH_MSG_MAX bytes at the end of the buffer. */
static char *nlbatch_buf_tail(struct nlbatch_buf *b)
{
	if (b->len + NLBATCH_MSG_MAX > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *d;

		while (b->len + NLBATCH_MSG_MAX > cap)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return NULL;
		b->data = d;
		b->cap = cap;
	}
	memset(b->data + b->len, 0, NLBATCH_MSG_MAX);
	return b->data + b->len;
}

static int nlbatch_buf_commit(struct nlbatch_buf *b, const struct nlmsghdr *nlh, int counts)
{
	if (nlh->nlmsg_len > NLBATCH_MSG_MAX)
		return -EMSGSIZE; /* cannot happen with names of valid length */
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	if (counts)
		b->n_msgs++;
	return 0;
}

int nlbatch_begin(struct nlbatch_buf *b, uint32_t seq)
{
	char *p = nlbatch_buf_tail(b);

	if (!p)
		return -ENOMEM;
	return nlbatch_buf_commit(b, nftnl_batch_begin(p, seq), 0);
}

int nlbatch_begin_genid(struct nlbatch_buf *b, uint32_t seq, uint32_t genid)
{
	char *p = nlbatch_buf_tail(b);
	struct nlmsghdr *nlh;

	if (!p)
		return -ENOMEM;
	nlh = nftnl_batch_begin(p, seq);
	if (genid != 0)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	return nlbatch_buf_commit(b, nlh, 0);
}

int nlbatch_end(struct nlbatch_buf *b, uint32_t seq)
{
	char *p = nlbatch_buf_tail(b);

	if (!p)
		return -ENOMEM;
	return nlbatch_buf_commit(b, nftnl_batch_end(p, seq), 0);
}

static int nlbatch_names_are_valid(const char *table, const char *name)
{
	return table && name && *table && *name && strlen(table) < NFT_TABLE_MAXNAMELEN &&
	       strlen(name) < NFT_NAME_MAXLEN;
}

static struct nftnl_set *nlbatch_set_new(int family, const char *table, const char *set)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, table) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set) < 0)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)family);
	return TAKE_PTR(s);
}

static int nlbatch_verdict_code(int kind)
{
	switch (kind) {
	case NLBATCH_VERDICT_ACCEPT:
		return NF_ACCEPT;
	case NLBATCH_VERDICT_DROP:
		return NF_DROP;
	case NLBATCH_VERDICT_JUMP:
		return NFT_JUMP;
	case NLBATCH_VERDICT_GOTO:
		return NFT_GOTO;
	default:
		return -EINVAL;
	}
}

/* The message libnftnl's nftnl_set_elems_nlmsg_build_payload() builds for one element,
 * written directly: no set and element objects to allocate and free per message
 * (test-nftnl-batch compares the two byte for byte). */
int nlbatch_put_setelem(struct nlbatch_buf *b, uint16_t type, int family, const char *table,
			const char *set, uint64_t id, const struct nlbatch_verdict *v,
			uint32_t seq)
{
	struct nlattr *list, *elem, *key, *data, *verdict;
	struct nfgenmsg *nfg;
	struct nlmsghdr *nlh;
	int code = 0;
	char *p;

	if ((type != NFT_MSG_NEWSETELEM && type != NFT_MSG_DELSETELEM) ||
	    !nlbatch_names_are_valid(table, set) || id == 0)
		return -EINVAL;
	if (type == NFT_MSG_NEWSETELEM && v && v->kind != NLBATCH_VERDICT_NONE) {
		code = nlbatch_verdict_code(v->kind);
		if (code == -EINVAL)
			return -EINVAL;
		if ((code == NFT_JUMP || code == NFT_GOTO) && !v->chain[0])
			return -EINVAL;
	} else
		v = NULL;

	p = nlbatch_buf_tail(b);
	if (!p)
		return -ENOMEM;
	nlh = mnl_nlmsg_put_header(p);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0);
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	elem = mnl_attr_nest_start(nlh, 1);
	key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(id), &id);
	mnl_attr_nest_end(nlh, key);
	if (v) {
		data = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		verdict = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
		mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t)code));
		if (code == NFT_JUMP || code == NFT_GOTO)
			mnl_attr_put_strz(nlh, NFTA_VERDICT_CHAIN, v->chain);
		mnl_attr_nest_end(nlh, verdict);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return nlbatch_buf_commit(b, nlh, 1);
}

int nlbatch_put_flush_set(struct nlbatch_buf *b, int family, const char *table, const char *set,
			  uint32_t seq)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	struct nlmsghdr *nlh;
	char *p;

	if (!nlbatch_names_are_valid(table, set))
		return -EINVAL;
	s = nlbatch_set_new(family, table, set);
	if (!s)
		return -ENOMEM;
	p = nlbatch_buf_tail(b);
	if (!p)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_DELSETELEM, (uint16_t)family, NLM_F_ACK, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	return nlbatch_buf_commit(b, nlh, 1);
}

static int nlbatch_rule_add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	nftnl_rule_add_expr(r, e);
	return 0;
}

/* The reject nft emits for a bare "reject": ICMP port unreachable in ip and ip6, the
 * family-neutral ICMPX port unreachable elsewhere. */
static void nlbatch_reject_for_family(int family, uint32_t *type, uint32_t *code)
{
	switch (family) {
	case NFPROTO_IPV4:
		*type = NFT_REJECT_ICMP_UNREACH, *code = 3; /* ICMP_PORT_UNREACH */
		break;
	case NFPROTO_IPV6:
		*type = NFT_REJECT_ICMP_UNREACH, *code = 4; /* ICMPV6_PORT_UNREACH */
		break;
	default:
		*type = NFT_REJECT_ICMPX_UNREACH, *code = NFT_REJECT_ICMPX_PORT_UNREACH;
		break;
	}
}

int nlbatch_put_dispatch_rule(struct nlbatch_buf *b, int family, const char *table,
			      const char *chain, const struct nlbatch_dispatch *d, uint32_t level,
			      uint64_t id, uint32_t seq)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = NULL;
	struct nftnl_expr *e;
	struct nlmsghdr *nlh;
	char *p;

	if (!nlbatch_names_are_valid(table, chain) || id == 0 || level < 1 || level > 255)
		return -EINVAL;

	r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
		return -ENOMEM;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)family);

	e = nftnl_expr_alloc("socket");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_KEY, NFT_SOCKET_CGROUPV2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_SOCKET_LEVEL, level);
	nlbatch_rule_add_expr(r, e);

	e = nftnl_expr_alloc("cmp");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &id, sizeof(id));
	nlbatch_rule_add_expr(r, e);

	if (d->counter) {
		e = nftnl_expr_alloc("counter");
		if (!e)
			return -ENOMEM;
		nlbatch_rule_add_expr(r, e);
	}

	if (d->verdict.kind == NLBATCH_VERDICT_REJECT) {
		uint32_t type, code;

		nlbatch_reject_for_family(family, &type, &code);
		e = nftnl_expr_alloc("reject");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, type);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, (uint8_t)code);
	} else {
		int v = nlbatch_verdict_code(d->verdict.kind);

		if (v == -EINVAL)
			return -EINVAL;
		e = nftnl_expr_alloc("immediate");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)v);
		if (v == NFT_JUMP || v == NFT_GOTO)
			nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, d->verdict.chain);
	}
	nlbatch_rule_add_expr(r, e);

	if (d->tag != 0) {
		/* userdata TLV { type 0 (comment), length, "scnpm:HASH\0" }, as nft writes it */
		unsigned char udata[2 + SCNPM_TAG_LEN + 1];

		udata[0] = 0;
		udata[1] = SCNPM_TAG_LEN + 1;
		snprintf((char *)udata + 2, SCNPM_TAG_LEN + 1, SCNPM_TAG_PREFIX "%016" PRIx64, d->tag);
		if (nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, udata, sizeof(udata)) < 0)
			return -ENOMEM;
	}

	p = nlbatch_buf_tail(b);
	if (!p)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, (uint16_t)family,
				    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK | NLM_F_ECHO, seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	return nlbatch_buf_commit(b, nlh, 1);
}

int nlbatch_put_delrule(struct nlbatch_buf *b, int family, const char *table, const char *chain,
			uint64_t handle, uint32_t seq)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = NULL;
	struct nlmsghdr *nlh;
	char *p;

	if (!nlbatch_names_are_valid(table, chain))
		return -EINVAL;
	r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
		return -ENOMEM;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)family);
	if (handle != 0)
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);

	p = nlbatch_buf_tail(b);
	if (!p)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_DELRULE, (uint16_t)family, NLM_F_ACK, seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	return nlbatch_buf_commit(b, nlh, 1);
}

ssize_t nlbatch_getsetelem(char *buf, size_t size, int family, const char *table, const char *set,
			   uint32_t seq)
{
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
	struct nlmsghdr *nlh;

	if (!nlbatch_names_are_valid(table, set))
		return -EINVAL;
	if (size < NLBATCH_MSG_MAX)
		return -ENOBUFS;
	s = nlbatch_set_new(family, table, set);
	if (!s)
		return -ENOMEM;
	memset(buf, 0, NLBATCH_MSG_MAX);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, (uint16_t)family, NLM_F_DUMP, seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	return (ssize_t)nlh->nlmsg_len;
}

ssize_t nlbatch_getgen(char *buf, size_t size, uint32_t seq)
{
	struct nlmsghdr *nlh;

	if (size < NLBATCH_MSG_MAX)
		return -ENOBUFS;
	memset(buf, 0, NLBATCH_MSG_MAX);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, seq);
	return (ssize_t)nlh->nlmsg_len;
}

ssize_t nlbatch_getrule(char *buf, size_t size, int family, const char *table, const char *chain,
			uint32_t seq)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = NULL;
	struct nlmsghdr *nlh;

	if (!nlbatch_names_are_valid(table, chain))
		return -EINVAL;
	if (size < NLBATCH_MSG_MAX)
		return -ENOBUFS;
	r = nftnl_rule_alloc();
	if (!r)
		return -ENOMEM;
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
		return -ENOMEM;
	memset(buf, 0, NLBATCH_MSG_MAX);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, (uint16_t)family, NLM_F_DUMP, seq);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	return (ssize_t)nlh->nlmsg_len;
}
