/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Templates of our rules as the kernel holds them: see nft-replay.h. Every length is
 * checked before the bytes it covers are read; attribute lists must fill their space
 * exactly (the last attribute may lack its padding), and an attribute given twice is a
 * malformed message, not "the last one wins".
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>
#include <scnpm/nft-family.h>
#include <scnpm/tag.h>

#include "nft-replay.h"

/* Counters per rule whose numbers a template zeroes; a rule with more is not one. */
#define REPLAY_COUNTERS_MAX 16
/* At least the highest attribute type of every level read here (asserted below). */
#define REPLAY_ATTR_MAX 16

/* The expressions a template may hold, and the highest attribute type each has in the
 * headers we were built with. */
static const struct replay_kind {
	const char *name;
	unsigned max;
} replay_kinds[] = {
    {"socket", NFTA_SOCKET_MAX},
    {"cmp", NFTA_CMP_MAX},
    {"meta", NFTA_META_MAX},
    {"payload", NFTA_PAYLOAD_MAX},
    {"immediate", NFTA_IMMEDIATE_MAX},
    {"counter", NFTA_COUNTER_MAX},
    {"ct", NFTA_CT_MAX},
    {"bitwise", NFTA_BITWISE_MAX},
    {"lookup", NFTA_LOOKUP_MAX},
};

_Static_assert(NFTA_RULE_MAX <= REPLAY_ATTR_MAX && NFTA_SOCKET_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_CMP_MAX <= REPLAY_ATTR_MAX && NFTA_META_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_PAYLOAD_MAX <= REPLAY_ATTR_MAX && NFTA_IMMEDIATE_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_COUNTER_MAX <= REPLAY_ATTR_MAX && NFTA_CT_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_BITWISE_MAX <= REPLAY_ATTR_MAX && NFTA_LOOKUP_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_DATA_MAX <= REPLAY_ATTR_MAX && NFTA_VERDICT_MAX <= REPLAY_ATTR_MAX &&
		   NFTA_EXPR_MAX <= REPLAY_ATTR_MAX,
	       "attribute tables too small");

/* The attributes of one level by type (1..max), each at most once. 0; -EBADMSG when
 * they do not fill [p, p + len) or one comes twice; -EOPNOTSUPP for a type above max
 * (one we do not know: not replayable). */
static int replay_attrs(const void *p, size_t len, const struct nlattr **tb, unsigned max)
{
	size_t off = 0;

	memset(tb, 0, (max + 1) * sizeof(*tb));
	while (off < len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)p + off);
		uint16_t type;

		if (len - off < sizeof(*a) || a->nla_len < sizeof(*a) || a->nla_len > len - off)
			return -EBADMSG;
		type = a->nla_type & NLA_TYPE_MASK;
		if (type == 0 || type > max)
			return -EOPNOTSUPP;
		if (tb[type])
			return -EBADMSG;
		tb[type] = a;
		off += MNL_ALIGN(a->nla_len);
	}
	return 0;
}

static int replay_nested(const struct nlattr *a, const struct nlattr **tb, unsigned max)
{
	if (!a)
		return -EBADMSG;
	return replay_attrs(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a), tb, max);
}

static int replay_u32(const struct nlattr *a, uint32_t *ret)
{
	uint32_t v;

	if (!a || mnl_attr_get_payload_len(a) != sizeof(v))
		return -EBADMSG;
	memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
	*ret = be32toh(v);
	return 0;
}

/* A NUL-terminated string of at most max bytes with the NUL, no NUL inside. */
static const char *replay_str(const struct nlattr *a, size_t max)
{
	const char *s;
	size_t len;

	if (!a)
		return NULL;
	s = mnl_attr_get_payload(a);
	len = mnl_attr_get_payload_len(a);
	if (len == 0 || len > max || strnlen(s, len) != len - 1)
		return NULL;
	return s;
}

/* An nft_data nest holding only a value (no verdict) of 1 to NFT_DATA_VALUE_MAXLEN bytes:
 * that value, or NULL. */
static const struct nlattr *replay_data_value(const struct nlattr *a)
{
	const struct nlattr *d[REPLAY_ATTR_MAX + 1];
	size_t len;

	if (replay_nested(a, d, NFTA_DATA_MAX) < 0 || !d[NFTA_DATA_VALUE] || d[NFTA_DATA_VERDICT])
		return NULL;
	len = mnl_attr_get_payload_len(d[NFTA_DATA_VALUE]);
	return len >= 1 && len <= NFT_DATA_VALUE_MAXLEN ? d[NFTA_DATA_VALUE] : NULL;
}

/* A name of another object that is neither anonymous nor bound to its rule. */
static int replay_name_ok(const char *name)
{
	return name && strncmp(name, "__", 2) != 0;
}

struct replay_walk {
	const uint8_t *base; /* the expressions' payload in the message */
	uint64_t cgroup_id;
	int pending;   /* the last expression was socket cgroupv2: the cmp must follow */
	uint32_t dreg; /* its register */
	int n_cgroupv2;
	int matched; /* its cmp compared with cgroup_id */
	size_t cgroup_off;
	size_t counter_off[2 * REPLAY_COUNTERS_MAX];
	size_t n_counter_off;
};

static size_t replay_off(const struct replay_walk *w, const struct nlattr *a)
{
	return (size_t)((const uint8_t *)mnl_attr_get_payload(a) - w->base);
}

static int replay_socket(struct replay_walk *w, const struct nlattr **x)
{
	uint32_t key;

	if (replay_u32(x[NFTA_SOCKET_KEY], &key) < 0)
		return -EBADMSG;
	if (key != NFT_SOCKET_CGROUPV2)
		return 0;
	if (++w->n_cgroupv2 > 1 || replay_u32(x[NFTA_SOCKET_DREG], &w->dreg) < 0)
		return -EOPNOTSUPP;
	w->pending = 1;
	return 0;
}

static int replay_cmp(struct replay_walk *w, const struct nlattr **x, int pending)
{
	const struct nlattr *v = replay_data_value(x[NFTA_CMP_DATA]);
	uint32_t sreg, op;
	uint64_t id;

	if (!x[NFTA_CMP_DATA])
		return -EBADMSG;
	if (!v)
		return -EOPNOTSUPP;
	if (!pending)
		return 0;
	if (replay_u32(x[NFTA_CMP_SREG], &sreg) < 0 || replay_u32(x[NFTA_CMP_OP], &op) < 0 ||
	    sreg != w->dreg || op != NFT_CMP_EQ || mnl_attr_get_payload_len(v) != sizeof(id))
		return -EOPNOTSUPP;
	memcpy(&id, mnl_attr_get_payload(v), sizeof(id));
	if (id != w->cgroup_id)
		return -EOPNOTSUPP; /* not the unit's own cgroup: another path, or a stale id */
	w->cgroup_off = replay_off(w, v);
	w->matched = 1;
	return 0;
}

static int replay_counter(struct replay_walk *w, const struct nlattr **x)
{
	/* The kernel reports both numbers; a counter without them is not its answer. */
	for (unsigned t = NFTA_COUNTER_BYTES; t <= NFTA_COUNTER_PACKETS; t++) {
		if (!x[t])
			return -EOPNOTSUPP;
		if (mnl_attr_get_payload_len(x[t]) != sizeof(uint64_t))
			return -EBADMSG;
		if (w->n_counter_off == 2 * REPLAY_COUNTERS_MAX)
			return -EOPNOTSUPP;
		w->counter_off[w->n_counter_off++] = replay_off(w, x[t]);
	}
	return 0;
}

static int replay_immediate(const struct nlattr **x)
{
	const struct nlattr *d[REPLAY_ATTR_MAX + 1], *v[REPLAY_ATTR_MAX + 1];
	uint32_t code;
	int r;

	r = x[NFTA_IMMEDIATE_DATA] ? replay_nested(x[NFTA_IMMEDIATE_DATA], d, NFTA_DATA_MAX)
				   : -EBADMSG;
	if (r < 0)
		return r;
	if (!d[NFTA_DATA_VERDICT])
		return replay_data_value(x[NFTA_IMMEDIATE_DATA]) ? 0 : -EOPNOTSUPP;
	if (d[NFTA_DATA_VALUE])
		return -EBADMSG;
	r = replay_nested(d[NFTA_DATA_VERDICT], v, NFTA_VERDICT_MAX);
	if (r < 0)
		return r;
	if (replay_u32(v[NFTA_VERDICT_CODE], &code) < 0)
		return -EBADMSG;
	/* a chain by id is one created in the same batch */
	if (v[NFTA_VERDICT_CHAIN_ID])
		return -EOPNOTSUPP;
	if (v[NFTA_VERDICT_CHAIN] &&
	    !replay_name_ok(replay_str(v[NFTA_VERDICT_CHAIN], NFT_CHAIN_MAXNAMELEN)))
		return -EOPNOTSUPP;
	return 0;
}

static int replay_lookup(const struct nlattr **x)
{
	/* A named set stands on its own and is bound by name again; an anonymous one
	 * ("__set%d") goes with the rule that holds it, and one by id was in the batch that
	 * created it. */
	if (x[NFTA_LOOKUP_SET_ID] ||
	    !replay_name_ok(replay_str(x[NFTA_LOOKUP_SET], NFT_SET_MAXNAMELEN)))
		return -EOPNOTSUPP;
	return 0;
}

static int replay_bitwise(const struct nlattr **x)
{
	for (unsigned t = 1; t <= NFTA_BITWISE_MAX; t++)
		if (x[t] &&
		    (t == NFTA_BITWISE_MASK || t == NFTA_BITWISE_XOR || t == NFTA_BITWISE_DATA) &&
		    !replay_data_value(x[t]))
			return -EOPNOTSUPP;
	return 0;
}

/* One NFTA_LIST_ELEM of the expression list. */
static int replay_expr(struct replay_walk *w, const struct nlattr *elem)
{
	const struct nlattr *e[REPLAY_ATTR_MAX + 1], *x[REPLAY_ATTR_MAX + 1];
	const struct replay_kind *k = NULL;
	const char *name;
	int pending = w->pending, r;

	if ((elem->nla_type & NLA_TYPE_MASK) != NFTA_LIST_ELEM)
		return -EBADMSG;
	r = replay_nested(elem, e, NFTA_EXPR_MAX);
	if (r < 0)
		return r;
	name = replay_str(e[NFTA_EXPR_NAME], 32);
	if (!name)
		return -EBADMSG;
	for (size_t i = 0; i < sizeof(replay_kinds) / sizeof(replay_kinds[0]); i++)
		if (strcmp(replay_kinds[i].name, name) == 0)
			k = &replay_kinds[i];
	if (!k)
		return -EOPNOTSUPP;
	if (e[NFTA_EXPR_DATA])
		r = replay_nested(e[NFTA_EXPR_DATA], x, k->max);
	else
		memset(x, 0, sizeof(x));
	if (r < 0)
		return r;

	w->pending = 0;
	if (pending && strcmp(name, "cmp") != 0)
		return -EOPNOTSUPP; /* socket cgroupv2 not compared right away */
	if (strcmp(name, "socket") == 0)
		return replay_socket(w, x);
	if (strcmp(name, "cmp") == 0)
		return replay_cmp(w, x, pending);
	if (strcmp(name, "counter") == 0)
		return replay_counter(w, x);
	if (strcmp(name, "immediate") == 0)
		return replay_immediate(x);
	if (strcmp(name, "lookup") == 0)
		return replay_lookup(x);
	if (strcmp(name, "bitwise") == 0)
		return replay_bitwise(x);
	return 0; /* meta, payload, ct */
}

static int replay_exprs(struct replay_walk *w, const struct nlattr *list)
{
	const uint8_t *p = mnl_attr_get_payload(list);
	size_t len = mnl_attr_get_payload_len(list), off = 0;
	int r;

	w->base = p;
	while (off < len) {
		const struct nlattr *a = (const struct nlattr *)(p + off);

		if (len - off < sizeof(*a) || a->nla_len < sizeof(*a) || a->nla_len > len - off)
			return -EBADMSG;
		r = replay_expr(w, a);
		if (r < 0)
			return r;
		off += MNL_ALIGN(a->nla_len);
	}
	if (w->pending || w->n_cgroupv2 != 1 || !w->matched)
		return -EOPNOTSUPP;
	return 0;
}

/* The userdata: nothing but the comment (TLV type 0, NUL-terminated), ending in our tag.
 * The offset of the tag's hex digits. */
static int replay_udata(const uint8_t *p, size_t len, uint64_t *ret_tag, size_t *ret_off)
{
	const char *comment;
	size_t l;
	uint64_t tag;

	if (len < 2 || (size_t)p[1] + 2 != len)
		return len < 2 || (size_t)p[1] + 2 > len ? -EBADMSG : -EOPNOTSUPP;
	if (p[0] != 0)
		return -EOPNOTSUPP; /* not a comment */
	l = p[1];
	comment = (const char *)p + 2;
	if (l == 0 || strnlen(comment, l) != l - 1)
		return -EBADMSG;
	tag = scnpm_tag_from_comment(comment);
	if (tag == 0)
		return -EOPNOTSUPP; /* not ours */
	*ret_tag = tag;
	*ret_off = 2 + (l - 1) - 16;
	return 0;
}

void nft_replay_done(struct nft_replay *t)
{
	if (!t)
		return;
	free(t->table);
	free(t->chain);
	free(t->exprs);
	free(t->udata);
	*t = (struct nft_replay){};
}

int nft_replay_capture(const struct nlmsghdr *nlh, uint64_t cgroup_id, struct nft_replay *ret)
{
	const struct nlattr *tb[REPLAY_ATTR_MAX + 1];
	const struct nfgenmsg *nfg;
	struct replay_walk w = {.cgroup_id = cgroup_id};
	struct nft_replay t = {};
	const char *table, *chain;
	size_t hdr = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg));
	uint64_t tag;
	size_t tag_off;
	int r;

	if (nlh->nlmsg_len < hdr ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE))
		return -EBADMSG;
	nfg = mnl_nlmsg_get_payload(nlh);
	if (!scnpm_nft_family_name(nfg->nfgen_family))
		return -EOPNOTSUPP;
	r = replay_attrs((const char *)nlh + hdr, nlh->nlmsg_len - hdr, tb, NFTA_RULE_MAX);
	if (r < 0)
		return r;
	/* Handle and position are the old rule's, a pad is nothing; anything else
	 * (compat, ids) we could not send the same way. */
	for (unsigned a = 1; a <= NFTA_RULE_MAX; a++)
		if (tb[a] && a != NFTA_RULE_TABLE && a != NFTA_RULE_CHAIN &&
		    a != NFTA_RULE_HANDLE && a != NFTA_RULE_EXPRESSIONS &&
		    a != NFTA_RULE_POSITION && a != NFTA_RULE_USERDATA && a != NFTA_RULE_PAD)
			return -EOPNOTSUPP;
	table = replay_str(tb[NFTA_RULE_TABLE], NFT_TABLE_MAXNAMELEN);
	chain = replay_str(tb[NFTA_RULE_CHAIN], NFT_CHAIN_MAXNAMELEN);
	if (!table || !chain || !tb[NFTA_RULE_EXPRESSIONS])
		return -EBADMSG;
	if (!tb[NFTA_RULE_USERDATA])
		return -EOPNOTSUPP; /* no comment, no tag: not ours */
	if (cgroup_id == 0)
		return -EOPNOTSUPP;
	r = replay_exprs(&w, tb[NFTA_RULE_EXPRESSIONS]);
	if (r < 0)
		return r;
	r = replay_udata(mnl_attr_get_payload(tb[NFTA_RULE_USERDATA]),
			 mnl_attr_get_payload_len(tb[NFTA_RULE_USERDATA]), &tag, &tag_off);
	if (r < 0)
		return r;

	t.family = nfg->nfgen_family;
	t.exprs_len = mnl_attr_get_payload_len(tb[NFTA_RULE_EXPRESSIONS]);
	t.udata_len = mnl_attr_get_payload_len(tb[NFTA_RULE_USERDATA]);
	t.table = strdup(table);
	t.chain = strdup(chain);
	t.exprs = malloc(t.exprs_len);
	t.udata = malloc(t.udata_len);
	if (!t.table || !t.chain || !t.exprs || !t.udata) {
		nft_replay_done(&t);
		return -ENOMEM;
	}
	memcpy(t.exprs, mnl_attr_get_payload(tb[NFTA_RULE_EXPRESSIONS]), t.exprs_len);
	memcpy(t.udata, mnl_attr_get_payload(tb[NFTA_RULE_USERDATA]), t.udata_len);
	for (size_t k = 0; k < w.n_counter_off; k++)
		memset(t.exprs + w.counter_off[k], 0, sizeof(uint64_t));
	t.cgroup_off = w.cgroup_off;
	t.cgroup_id = cgroup_id;
	t.tag_off = tag_off;
	t.tag = tag;
	*ret = t;
	return 0;
}

size_t nft_replay_size(const struct nft_replay *t)
{
	return MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)) + MNL_ATTR_HDRLEN +
	       MNL_ALIGN(strlen(t->table) + 1) + MNL_ATTR_HDRLEN + MNL_ALIGN(strlen(t->chain) + 1) +
	       MNL_ATTR_HDRLEN + MNL_ALIGN(t->exprs_len) + MNL_ATTR_HDRLEN +
	       MNL_ALIGN(t->udata_len);
}

size_t nft_replay_put(const struct nft_replay *t, void *buf, uint32_t seq, uint64_t cgroup_id,
		      uint64_t tag)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	struct nlattr *a;
	char hex[17];

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND | NLM_F_ECHO | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	*nfg = (struct nfgenmsg){.nfgen_family = (uint8_t)t->family, .version = NFNETLINK_V0};
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, t->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, t->chain);

	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put(nlh, NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, t->exprs_len, t->exprs);
	memcpy((uint8_t *)mnl_attr_get_payload(a) + t->cgroup_off, &cgroup_id, sizeof(cgroup_id));

	a = mnl_nlmsg_get_payload_tail(nlh);
	mnl_attr_put(nlh, NFTA_RULE_USERDATA, t->udata_len, t->udata);
	(void)snprintf(hex, sizeof(hex), "%016" PRIx64, tag);
	memcpy((uint8_t *)mnl_attr_get_payload(a) + t->tag_off, hex, 16);
	return nlh->nlmsg_len;
}
