/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading nf_tables messages: acks, dump replies and notifications (nftnl-batch.h has the
 * contract). Parsed here with libmnl rather than libnftnl: libnftnl's parsers abort() the
 * process on an attribute of an unexpected size ("nf_tables kernel ABI is broken"), and
 * copy string attributes without checking they end within the message. Here every
 * attribute is checked before it is read; a malformed message is -EBADMSG (or -EPROTO,
 * -ENOMSG where nftnl-batch.h says so), never a crash. Attributes of types we do not know
 * (a newer kernel's) are skipped.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>

#include <libmnl/libmnl.h>

#include <scnpm/tag.h>

#include "nftnl-batch.h"

#define N_ATTRS(tb) (sizeof(tb) / sizeof((tb)[0]) - 1)

/* The attributes of one level by type, up to max; the last of a type wins. */
struct attrs {
	const struct nlattr **tb;
	unsigned max;
};

static int attrs_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static int parse_msg_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb, unsigned max)
{
	struct attrs t = {tb, max};

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return -EBADMSG;
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, &t) < 0 ? -EBADMSG : 0;
}

static int parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
	struct attrs t = {tb, max};

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (!nest || mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	return mnl_attr_parse_nested(nest, attrs_cb, &t) < 0 ? -EBADMSG : 0;
}

/* A string attribute into dst: it must end (NUL) within the attribute and fit dst. */
static int get_str(const struct nlattr *a, char *dst, size_t size)
{
	const char *p;
	size_t len, n;

	if (!a)
		return -EBADMSG;
	p = mnl_attr_get_payload(a);
	len = mnl_attr_get_payload_len(a);
	n = strnlen(p, len);
	if (n == len || n >= size)
		return -EBADMSG;
	memcpy(dst, p, n + 1);
	return 0;
}

static int get_u32(const struct nlattr *a, uint32_t *ret)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return -EBADMSG;
	*ret = ntohl(mnl_attr_get_u32(a));
	return 0;
}

static int get_u64(const struct nlattr *a, uint64_t *ret)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U64) < 0)
		return -EBADMSG;
	*ret = be64toh(mnl_attr_get_u64(a));
	return 0;
}

static int msg_family(const struct nlmsghdr *nlh)
{
	return ((const struct nfgenmsg *)mnl_nlmsg_get_payload(nlh))->nfgen_family;
}

static int is_nftables(const struct nlmsghdr *nlh, uint16_t msg)
{
	return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
	       NFNL_MSG_TYPE(nlh->nlmsg_type) == msg;
}

int nlbatch_parse_error(const struct nlmsghdr *nlh, int *ret_error)
{
	int e;

	if (nlh->nlmsg_type != NLMSG_ERROR && nlh->nlmsg_type != NLMSG_DONE)
		return -ENOMSG;
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(e))
		return -EBADMSG;
	memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
	*ret_error = e;
	return 0;
}

int nlbatch_parse_gen(const struct nlmsghdr *nlh, uint32_t *ret)
{
	const struct nlattr *tb[NFTA_GEN_MAX + 1];

	if (!is_nftables(nlh, NFT_MSG_NEWGEN))
		return -EPROTO;
	if (parse_msg_attrs(nlh, tb, NFTA_GEN_MAX) < 0 || get_u32(tb[NFTA_GEN_ID], ret) < 0)
		return -EBADMSG;
	return 0;
}

int nlbatch_parse_setelem_ids(const struct nlmsghdr *nlh, void (*cb)(uint64_t id, void *data),
			      void *data)
{
	const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1], *elem;
	int n = 0;

	if (!is_nftables(nlh, NFT_MSG_NEWSETELEM) && !is_nftables(nlh, NFT_MSG_DELSETELEM))
		return -EPROTO;
	if (parse_msg_attrs(nlh, tb, NFTA_SET_ELEM_LIST_MAX) < 0)
		return -EPROTO;
	if (!tb[NFTA_SET_ELEM_LIST_ELEMENTS])
		return 0;
	if (mnl_attr_validate(tb[NFTA_SET_ELEM_LIST_ELEMENTS], MNL_TYPE_NESTED) < 0)
		return -EPROTO;
	mnl_attr_for_each_nested(elem, tb[NFTA_SET_ELEM_LIST_ELEMENTS])
	{
		const struct nlattr *e[NFTA_SET_ELEM_MAX + 1], *key[NFTA_DATA_MAX + 1];
		uint64_t id;

		if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM ||
		    parse_nested(elem, e, NFTA_SET_ELEM_MAX) < 0 ||
		    parse_nested(e[NFTA_SET_ELEM_KEY], key, NFTA_DATA_MAX) < 0 ||
		    !key[NFTA_DATA_VALUE] ||
		    mnl_attr_get_payload_len(key[NFTA_DATA_VALUE]) != sizeof(id))
			continue;
		/* cgroupsv2 keys are in host byte order */
		memcpy(&id, mnl_attr_get_payload(key[NFTA_DATA_VALUE]), sizeof(id));
		cb(id, data);
		n++;
	}
	return n;
}

/* Where each kind of object message names its table and its own name (0: none). */
static const struct {
	uint16_t new_msg, del_msg;
	uint16_t table_attr, name_attr;
} objects[] = {
	{ NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFTA_TABLE_NAME, 0 },
	{ NFT_MSG_NEWCHAIN, NFT_MSG_DELCHAIN, NFTA_CHAIN_TABLE, NFTA_CHAIN_NAME },
	{ NFT_MSG_NEWSET, NFT_MSG_DELSET, NFTA_SET_TABLE, NFTA_SET_NAME },
	{ NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM, NFTA_SET_ELEM_LIST_TABLE, NFTA_SET_ELEM_LIST_SET },
	{ NFT_MSG_NEWRULE, NFT_MSG_DELRULE, NFTA_RULE_TABLE, NFTA_RULE_CHAIN },
};

int nlbatch_parse_object(const struct nlmsghdr *nlh, struct nlbatch_object *ret)
{
	/* large enough for the attributes of every object type above */
	const struct nlattr *tb[64];
	struct nlbatch_object o = {};
	unsigned table_attr, name_attr;
	size_t i;
	int r;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return -EPROTO;
	o.msg = NFNL_MSG_TYPE(nlh->nlmsg_type);

	for (i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
		if (o.msg == objects[i].new_msg || o.msg == objects[i].del_msg)
			break;
	if (i == sizeof(objects) / sizeof(objects[0]))
		return -EPROTO;
	table_attr = objects[i].table_attr;
	name_attr = objects[i].name_attr;
	if (parse_msg_attrs(nlh, tb, N_ATTRS(tb)) < 0)
		return -EPROTO;
	o.family = msg_family(nlh);
	if (get_str(tb[table_attr], o.table, sizeof(o.table)) < 0 || !o.table[0])
		return -EPROTO;
	/* a rule notification always names its chain; a DELRULE of a flush may not */
	if (name_attr && tb[name_attr] && get_str(tb[name_attr], o.name, sizeof(o.name)) < 0)
		return -EPROTO;
	if (o.msg == NFT_MSG_NEWRULE || o.msg == NFT_MSG_DELRULE) {
		r = tb[NFTA_RULE_HANDLE] ? get_u64(tb[NFTA_RULE_HANDLE], &o.handle) : 0;
		if (r < 0)
			return -EPROTO;
	}
	*ret = o;
	return 0;
}

/* One expression of a rule: its name and its data attributes (up to max). */
static int parse_expr(const struct nlattr *elem, char *name, size_t size, const struct nlattr **tb,
		      unsigned max)
{
	const struct nlattr *e[NFTA_EXPR_MAX + 1];

	if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM || parse_nested(elem, e, NFTA_EXPR_MAX) < 0 ||
	    get_str(e[NFTA_EXPR_NAME], name, size) < 0)
		return -ENOMSG;
	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (e[NFTA_EXPR_DATA] && parse_nested(e[NFTA_EXPR_DATA], tb, max) < 0)
		return -ENOMSG;
	return 0;
}

/* The verdict of an immediate expression into d. */
static int parse_verdict(const struct nlattr *data, struct nlbatch_verdict *v)
{
	const struct nlattr *d[NFTA_DATA_MAX + 1], *vt[NFTA_VERDICT_MAX + 1];
	uint32_t code;

	if (parse_nested(data, d, NFTA_DATA_MAX) < 0 ||
	    parse_nested(d[NFTA_DATA_VERDICT], vt, NFTA_VERDICT_MAX) < 0 ||
	    get_u32(vt[NFTA_VERDICT_CODE], &code) < 0)
		return -ENOMSG;
	switch ((int)code) {
	case NF_ACCEPT:
		v->kind = NLBATCH_VERDICT_ACCEPT;
		return 0;
	case NF_DROP:
		v->kind = NLBATCH_VERDICT_DROP;
		return 0;
	case NFT_JUMP:
	case NFT_GOTO:
		v->kind = (int)code == NFT_JUMP ? NLBATCH_VERDICT_JUMP : NLBATCH_VERDICT_GOTO;
		return get_str(vt[NFTA_VERDICT_CHAIN], v->chain, sizeof(v->chain)) < 0 ? -ENOMSG
										       : 0;
	default:
		return -ENOMSG;
	}
}

int nlbatch_parse_dispatch_rule(const struct nlmsghdr *nlh, struct nlbatch_dispatch *ret_d,
				uint32_t *ret_level, uint64_t *ret_id, uint64_t *ret_handle)
{
	const struct nlattr *tb[NFTA_RULE_MAX + 1], *elem;
	struct nlbatch_dispatch d = {};
	uint32_t level = 0;
	uint64_t id = 0, handle = 0;
	int step = 0;

	if (!is_nftables(nlh, NFT_MSG_NEWRULE) && !is_nftables(nlh, NFT_MSG_DELRULE))
		return -EPROTO;
	if (parse_msg_attrs(nlh, tb, NFTA_RULE_MAX) < 0)
		return -EPROTO;
	if (tb[NFTA_RULE_HANDLE] && get_u64(tb[NFTA_RULE_HANDLE], &handle) < 0)
		return -EPROTO;
	if (!tb[NFTA_RULE_EXPRESSIONS] ||
	    mnl_attr_validate(tb[NFTA_RULE_EXPRESSIONS], MNL_TYPE_NESTED) < 0)
		return -ENOMSG;

	/* socket cgroupv2 level L, cmp eq <id>, [counter], verdict: nothing else, in order */
	mnl_attr_for_each_nested(elem, tb[NFTA_RULE_EXPRESSIONS])
	{
		const struct nlattr *x[16];
		char name[32];
		uint32_t u;

		if (step == 3 || parse_expr(elem, name, sizeof(name), x, N_ATTRS(x)) < 0)
			return -ENOMSG;
		if (step == 0 && strcmp(name, "socket") == 0 &&
		    get_u32(x[NFTA_SOCKET_KEY], &u) == 0 && u == NFT_SOCKET_CGROUPV2) {
			/* what this sink writes: 1..255 (nft's limit) */
			if (get_u32(x[NFTA_SOCKET_LEVEL], &level) < 0 || level < 1 || level > 255)
				return -ENOMSG;
			step = 1;
		} else if (step == 1 && strcmp(name, "cmp") == 0 &&
			   get_u32(x[NFTA_CMP_OP], &u) == 0 && u == NFT_CMP_EQ) {
			const struct nlattr *v[NFTA_DATA_MAX + 1];

			if (parse_nested(x[NFTA_CMP_DATA], v, NFTA_DATA_MAX) < 0 ||
			    !v[NFTA_DATA_VALUE] ||
			    mnl_attr_get_payload_len(v[NFTA_DATA_VALUE]) != sizeof(id))
				return -ENOMSG;
			memcpy(&id, mnl_attr_get_payload(v[NFTA_DATA_VALUE]), sizeof(id));
			step = 2;
		} else if (step == 2 && !d.counter && strcmp(name, "counter") == 0) {
			d.counter = 1;
		} else if (step == 2 && strcmp(name, "reject") == 0) {
			d.verdict.kind = NLBATCH_VERDICT_REJECT;
			step = 3;
		} else if (step == 2 && strcmp(name, "immediate") == 0 &&
			   get_u32(x[NFTA_IMMEDIATE_DREG], &u) == 0 && u == NFT_REG_VERDICT) {
			if (parse_verdict(x[NFTA_IMMEDIATE_DATA], &d.verdict) < 0)
				return -ENOMSG;
			step = 3;
		} else
			return -ENOMSG;
	}
	if (step != 3)
		return -ENOMSG;

	d.level = level;
	if (tb[NFTA_RULE_USERDATA])
		d.tag = scnpm_tag_from_comment(
		    scnpm_udata_comment(mnl_attr_get_payload(tb[NFTA_RULE_USERDATA]),
					mnl_attr_get_payload_len(tb[NFTA_RULE_USERDATA])));
	if (ret_d)
		*ret_d = d;
	if (ret_level)
		*ret_level = level;
	if (ret_id)
		*ret_id = id;
	if (ret_handle)
		*ret_handle = handle;
	return 0;
}
