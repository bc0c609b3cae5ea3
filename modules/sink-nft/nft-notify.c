/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/tag.h>

#include "nft-notify.h"

/* Newer kernels (6.3+) also know DESTROY* commands; they are notified as DEL*, but
 * accept the numbers too should a kernel ever send them. Not in older uapi headers. */
#define NFT_MSG_DESTROYTABLE_ 26
#define NFT_MSG_DESTROYCHAIN_ 27
#define NFT_MSG_DESTROYRULE_  28

struct attrs {
	const struct nlattr *tb[32];
	int max;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *a = data;
	int type = mnl_attr_get_type(attr);

	if (type <= a->max && type < 32)
		a->tb[type] = attr;
	return MNL_CB_OK;
}

static const char *attr_str(const struct nlattr *attr)
{
	if (!attr || mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
		return NULL;
	return mnl_attr_get_str(attr);
}

int nft_notify_parse(const struct nlmsghdr *nlh, struct nft_notify *ret)
{
	struct nft_notify n = {.type = NFT_NOTIFY_OTHER};
	struct attrs a = {};
	const struct nfgenmsg *nfg;
	int msg;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES) {
		*ret = n;
		return 0;
	}
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return -EBADMSG;

	msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
	switch (msg) {
	case NFT_MSG_NEWRULE:
		n.type = NFT_NOTIFY_NEWRULE, a.max = NFTA_RULE_MAX;
		break;
	case NFT_MSG_DELRULE:
	case NFT_MSG_DESTROYRULE_:
		n.type = NFT_NOTIFY_DELRULE, a.max = NFTA_RULE_MAX;
		break;
	case NFT_MSG_DELCHAIN:
	case NFT_MSG_DESTROYCHAIN_:
		n.type = NFT_NOTIFY_DELCHAIN, a.max = NFTA_CHAIN_MAX;
		break;
	case NFT_MSG_DELTABLE:
	case NFT_MSG_DESTROYTABLE_:
		n.type = NFT_NOTIFY_DELTABLE, a.max = NFTA_TABLE_MAX;
		break;
	case NFT_MSG_NEWGEN:
		n.type = NFT_NOTIFY_NEWGEN, a.max = NFTA_GEN_MAX;
		break;
	case NFT_MSG_NEWCHAIN:
		n.type = NFT_NOTIFY_NEWCHAIN, a.max = NFTA_CHAIN_MAX;
		break;
	case NFT_MSG_NEWTABLE:
		n.type = NFT_NOTIFY_NEWTABLE, a.max = NFTA_TABLE_MAX;
		break;
	default:
		*ret = n;
		return 0;
	}

	nfg = mnl_nlmsg_get_payload(nlh);
	n.family = nfg->nfgen_family;
	n.portid = nlh->nlmsg_pid;
	if (mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, &a) < 0)
		return -EBADMSG;

	switch (n.type) {
	case NFT_NOTIFY_NEWRULE:
	case NFT_NOTIFY_DELRULE:
		n.table = attr_str(a.tb[NFTA_RULE_TABLE]);
		n.chain = attr_str(a.tb[NFTA_RULE_CHAIN]);
		if (!n.table || !n.chain || !a.tb[NFTA_RULE_HANDLE] ||
		    mnl_attr_validate(a.tb[NFTA_RULE_HANDLE], MNL_TYPE_U64) < 0)
			return -EBADMSG;
		n.handle = be64toh(mnl_attr_get_u64(a.tb[NFTA_RULE_HANDLE]));
		if (a.tb[NFTA_RULE_USERDATA])
			n.comment = scnpm_udata_comment(mnl_attr_get_payload(a.tb[NFTA_RULE_USERDATA]),
							mnl_attr_get_payload_len(a.tb[NFTA_RULE_USERDATA]));
		break;
	case NFT_NOTIFY_NEWCHAIN:
	case NFT_NOTIFY_DELCHAIN:
		n.table = attr_str(a.tb[NFTA_CHAIN_TABLE]);
		n.chain = attr_str(a.tb[NFTA_CHAIN_NAME]);
		if (!n.table || !n.chain)
			return -EBADMSG;
		break;
	case NFT_NOTIFY_NEWTABLE:
	case NFT_NOTIFY_DELTABLE:
		n.table = attr_str(a.tb[NFTA_TABLE_NAME]);
		if (!n.table)
			return -EBADMSG;
		break;
	case NFT_NOTIFY_NEWGEN:
		if (!a.tb[NFTA_GEN_ID] || mnl_attr_validate(a.tb[NFTA_GEN_ID], MNL_TYPE_U32) < 0)
			return -EBADMSG;
		n.gen_id = ntohl(mnl_attr_get_u32(a.tb[NFTA_GEN_ID]));
		if (a.tb[NFTA_GEN_PROC_PID] &&
		    mnl_attr_validate(a.tb[NFTA_GEN_PROC_PID], MNL_TYPE_U32) == 0)
			n.gen_pid = ntohl(mnl_attr_get_u32(a.tb[NFTA_GEN_PROC_PID]));
		break;
	default:
		break;
	}

	*ret = n;
	return 0;
}

int nft_txn_add(struct nft_txn *x, const struct nft_notify *nr)
{
	struct nft_newrule r;

	if (nr->type != NFT_NOTIFY_NEWRULE || !nr->table || !nr->chain)
		return -EINVAL;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		struct nft_newrule *p = realloc(x->rules, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		x->rules = p;
		x->cap = cap;
	}
	r = (struct nft_newrule){
	    .family = nr->family,
	    .table = strdup(nr->table),
	    .chain = strdup(nr->chain),
	    .handle = nr->handle,
	    .portid = nr->portid,
	};
	if (!r.table || !r.chain) {
		free(r.table);
		free(r.chain);
		return -ENOMEM;
	}
	x->rules[x->n++] = r;
	return 0;
}

void nft_txn_reset(struct nft_txn *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->rules[i].table);
		free(x->rules[i].chain);
	}
	x->n = 0;
}

void nft_txn_done(struct nft_txn *x)
{
	nft_txn_reset(x);
	free(x->rules);
	*x = (struct nft_txn){};
}

int nft_txn_match(const struct nft_txn *x, const struct nft_notify *gen, uint32_t portid,
		  uint32_t tid, struct nft_expect *e, size_t n)
{
	if (gen->type != NFT_NOTIFY_NEWGEN)
		return 0;
	if (portid != 0 ? gen->portid != portid : gen->gen_pid == 0 || gen->gen_pid != tid)
		return 0;
	/* Ours, but no rule added: some other transaction of this task (another module
	 * of the daemon, a flush). Keep waiting for the one with our rules. */
	if (x->n == 0 && n > 0)
		return 0;
	if (x->n != n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		const struct nft_newrule *r = &x->rules[i];

		if (r->portid != gen->portid || r->family != e[i].family ||
		    strcmp(r->table, e[i].table) != 0 || strcmp(r->chain, e[i].chain) != 0)
			return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++)
		e[i].handle = x->rules[i].handle;
	return 1;
}
