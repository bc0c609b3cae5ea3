/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_NFT_READBACK_H
#define SCNPM_NFT_READBACK_H

/*
 * For a sink's inspect(): read back from nf_tables, now, one rule by its handle
 * (NFT_MSG_GETRULE) or one element of a set or map by its key (NFT_MSG_GETSETELEM), and
 * what it says: the cgroup id it matches, its counter, scnpm's tag (<scnpm/tag.h>).
 * Each read is one request on a netlink socket of its own, answered before sendto()
 * returns (a receive timeout bounds it all the same), so it never disturbs the sink's
 * own sockets or what is queued on them. Header-only; needs libmnl. The parsers are pure
 * and check every attribute before reading it: a message that is not what was asked
 * for is -EBADMSG, never a read outside it.
 */

#include <errno.h>
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <scnpm/netlink.h>
#include <scnpm/tag.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCNPM_NFT_READBACK_TIMEOUT_SEC 2

/* What the kernel holds. */
struct scnpm_nft_readback {
	int found;		/* 1: the kernel holds it; 0: it does not */
	uint64_t handle;	/* rules */
	uint64_t cgroup_id;	/* rules: the id the first 'socket cgroupv2' match compares
				 * with (0: none); elements: the key */
	uint64_t tag;		/* rules: scnpm's tag in the comment, 0: none */
	int has_counter;	/* the rule's first counter, or the element's */
	uint64_t packets, bytes;
};

/* The attributes of one nesting level by type, up to max; the last of a type wins. */
struct scnpm_nft_attrs {
	const struct nlattr **tb;
	unsigned max;
};

static inline int scnpm_nft_attrs_cb(const struct nlattr *a, void *data)
{
	struct scnpm_nft_attrs *t = (struct scnpm_nft_attrs *)data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static inline int scnpm_nft_nested(const struct nlattr *nest, const struct nlattr **tb,
				   unsigned max)
{
	struct scnpm_nft_attrs t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (!nest || mnl_attr_validate(nest, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	return mnl_attr_parse_nested(nest, scnpm_nft_attrs_cb, &t) < 0 ? -EBADMSG : 0;
}

static inline int scnpm_nft_u32(const struct nlattr *a, uint32_t *ret)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return -EBADMSG;
	*ret = be32toh(mnl_attr_get_u32(a));
	return 0;
}

static inline int scnpm_nft_u64(const struct nlattr *a, uint64_t *ret)
{
	if (!a || mnl_attr_validate(a, MNL_TYPE_U64) < 0)
		return -EBADMSG;
	*ret = be64toh(mnl_attr_get_u64(a));
	return 0;
}

/* An 8-byte NFTA_DATA_VALUE (cgroup ids travel in host byte order) inside nest. */
static inline int scnpm_nft_data_u64(const struct nlattr *nest, uint64_t *ret)
{
	const struct nlattr *d[NFTA_DATA_MAX + 1];

	if (scnpm_nft_nested(nest, d, NFTA_DATA_MAX) < 0 || !d[NFTA_DATA_VALUE] ||
	    mnl_attr_get_payload_len(d[NFTA_DATA_VALUE]) != sizeof(*ret))
		return -EBADMSG;
	memcpy(ret, mnl_attr_get_payload(d[NFTA_DATA_VALUE]), sizeof(*ret));
	return 0;
}

/* One expression (NFTA_LIST_ELEM or NFTA_SET_ELEM_EXPR): is it name, and its data
 * attributes into tb (up to max). 1 it is, 0 it is another, -EBADMSG malformed. */
static inline int scnpm_nft_expr(const struct nlattr *elem, const char *name,
				 const struct nlattr **tb, unsigned max)
{
	const struct nlattr *e[NFTA_EXPR_MAX + 1];

	if (scnpm_nft_nested(elem, e, NFTA_EXPR_MAX) < 0 || !e[NFTA_EXPR_NAME] ||
	    mnl_attr_validate(e[NFTA_EXPR_NAME], MNL_TYPE_NUL_STRING) < 0)
		return -EBADMSG;
	if (strcmp(mnl_attr_get_str(e[NFTA_EXPR_NAME]), name) != 0)
		return 0;
	if (!e[NFTA_EXPR_DATA]) {
		memset(tb, 0, (max + 1) * sizeof(*tb));
		return 1;
	}
	return scnpm_nft_nested(e[NFTA_EXPR_DATA], tb, max) < 0 ? -EBADMSG : 1;
}

/* A counter expression's numbers into ret, unless it has one already. */
static inline int scnpm_nft_counter(const struct nlattr *elem, struct scnpm_nft_readback *ret)
{
	const struct nlattr *c[NFTA_COUNTER_MAX + 1];
	uint64_t packets, bytes;
	int r = scnpm_nft_expr(elem, "counter", c, NFTA_COUNTER_MAX);

	if (r <= 0 || ret->has_counter)
		return r;
	if (scnpm_nft_u64(c[NFTA_COUNTER_PACKETS], &packets) < 0 ||
	    scnpm_nft_u64(c[NFTA_COUNTER_BYTES], &bytes) < 0)
		return -EBADMSG;
	ret->has_counter = 1;
	ret->packets = packets;
	ret->bytes = bytes;
	return 1;
}

static inline int scnpm_nft_msg_attrs(const struct nlmsghdr *nlh, uint16_t msg,
				      const struct nlattr **tb, unsigned max)
{
	struct scnpm_nft_attrs t = { tb, max };

	memset(tb, 0, (max + 1) * sizeof(*tb));
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)) ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | msg))
		return -EBADMSG;
	return mnl_attr_parse(nlh, sizeof(struct nfgenmsg), scnpm_nft_attrs_cb, &t) < 0 ? -EBADMSG
											: 0;
}

/* A NEWRULE message: its handle, tag, first counter, and the id of its first
 * "socket cgroupv2 level N" match (a socket expression with that key, then a cmp eq on
 * the register it loaded). 0 or -EBADMSG. */
static inline int scnpm_nft_parse_rule(const struct nlmsghdr *nlh, struct scnpm_nft_readback *ret)
{
	const struct nlattr *tb[NFTA_RULE_MAX + 1], *elem;
	struct scnpm_nft_readback rb;
	uint32_t sreg = 0;
	int want_cmp = 0;

	memset(&rb, 0, sizeof(rb));
	if (scnpm_nft_msg_attrs(nlh, NFT_MSG_NEWRULE, tb, NFTA_RULE_MAX) < 0 ||
	    scnpm_nft_u64(tb[NFTA_RULE_HANDLE], &rb.handle) < 0)
		return -EBADMSG;
	if (tb[NFTA_RULE_USERDATA])
		rb.tag = scnpm_tag_from_comment(
		    scnpm_udata_comment(mnl_attr_get_payload(tb[NFTA_RULE_USERDATA]),
					mnl_attr_get_payload_len(tb[NFTA_RULE_USERDATA])));
	if (tb[NFTA_RULE_EXPRESSIONS]) {
		if (mnl_attr_validate(tb[NFTA_RULE_EXPRESSIONS], MNL_TYPE_NESTED) < 0)
			return -EBADMSG;
		for (elem = (const struct nlattr *)mnl_attr_get_payload(tb[NFTA_RULE_EXPRESSIONS]);
		     mnl_attr_ok(elem, (char *)mnl_attr_get_payload(tb[NFTA_RULE_EXPRESSIONS]) +
					   mnl_attr_get_payload_len(tb[NFTA_RULE_EXPRESSIONS]) -
					   (const char *)elem);
		     elem = mnl_attr_next(elem)) {
			const struct nlattr *x[16];
			uint32_t key, reg, op;
			int r;

			if (scnpm_nft_counter(elem, &rb) < 0)
				return -EBADMSG;
			r = scnpm_nft_expr(elem, "socket", x, NFTA_SOCKET_MAX);
			if (r < 0)
				return -EBADMSG;
			if (r > 0) {
				want_cmp = rb.cgroup_id == 0 && scnpm_nft_u32(x[NFTA_SOCKET_KEY], &key) == 0 &&
					   key == NFT_SOCKET_CGROUPV2 &&
					   scnpm_nft_u32(x[NFTA_SOCKET_DREG], &sreg) == 0;
				continue;
			}
			r = scnpm_nft_expr(elem, "cmp", x, NFTA_CMP_MAX);
			if (r < 0)
				return -EBADMSG;
			if (r > 0 && want_cmp && scnpm_nft_u32(x[NFTA_CMP_SREG], &reg) == 0 &&
			    reg == sreg && scnpm_nft_u32(x[NFTA_CMP_OP], &op) == 0 && op == NFT_CMP_EQ &&
			    scnpm_nft_data_u64(x[NFTA_CMP_DATA], &rb.cgroup_id) < 0)
				return -EBADMSG;
			want_cmp = 0;
		}
	}
	rb.found = 1;
	*ret = rb;
	return 0;
}

/* A NEWSETELEM message: does it hold the element key (and its counter)? 0 (ret->found
 * says) or -EBADMSG. */
static inline int scnpm_nft_parse_element(const struct nlmsghdr *nlh, uint64_t key,
					  struct scnpm_nft_readback *ret)
{
	const struct nlattr *tb[NFTA_SET_ELEM_LIST_MAX + 1], *elem, *list;
	struct scnpm_nft_readback rb;

	memset(&rb, 0, sizeof(rb));
	if (scnpm_nft_msg_attrs(nlh, NFT_MSG_NEWSETELEM, tb, NFTA_SET_ELEM_LIST_MAX) < 0)
		return -EBADMSG;
	list = tb[NFTA_SET_ELEM_LIST_ELEMENTS];
	if (list && mnl_attr_validate(list, MNL_TYPE_NESTED) < 0)
		return -EBADMSG;
	for (elem = list ? (const struct nlattr *)mnl_attr_get_payload(list) : NULL;
	     elem && mnl_attr_ok(elem, (char *)mnl_attr_get_payload(list) +
					   mnl_attr_get_payload_len(list) - (const char *)elem);
	     elem = mnl_attr_next(elem)) {
		const struct nlattr *e[NFTA_SET_ELEM_MAX + 1];
		uint64_t id;

		if (scnpm_nft_nested(elem, e, NFTA_SET_ELEM_MAX) < 0 ||
		    scnpm_nft_data_u64(e[NFTA_SET_ELEM_KEY], &id) < 0)
			return -EBADMSG;
		if (id != key)
			continue;
		rb.found = 1;
		rb.cgroup_id = id;
		if (e[NFTA_SET_ELEM_EXPR] && scnpm_nft_counter(e[NFTA_SET_ELEM_EXPR], &rb) < 0)
			return -EBADMSG;
		break;
	}
	if (rb.found)
		*ret = rb;
	else
		ret->found = 0;
	return 0;
}

struct scnpm_nft_get {
	uint64_t key; /* GETSETELEM */
	struct scnpm_nft_readback *ret;
	int r;
};

static inline int scnpm_nft_get_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scnpm_nft_get *g = (struct scnpm_nft_get *)data;

	if (nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE))
		g->r = scnpm_nft_parse_rule(nlh, g->ret);
	else if (nlh->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM))
		g->r = scnpm_nft_parse_element(nlh, g->key, g->ret);
	return g->r < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* Send the request in buf and read its answer into ret. -ENOENT (the table, chain, set,
 * rule or element does not exist) is an answer too: 0 with ret->found 0. */
static inline int scnpm_nft_transact(struct nlmsghdr *nlh, uint64_t key,
				     struct scnpm_nft_readback *ret)
{
	struct timeval tv = { SCNPM_NFT_READBACK_TIMEOUT_SEC, 0 };
	struct scnpm_nft_get g = { key, ret, 0 };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	uint32_t seq = nlh->nlmsg_seq;
	int r = 0;

	memset(ret, 0, sizeof(*ret));
	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return r;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = errno == EAGAIN ? -ETIMEDOUT : -errno;
			break;
		}
		r = mnl_cb_run(buf, scnpm_nlmsg_framed_len(buf, (size_t)n), seq,
			       mnl_socket_get_portid(nl), scnpm_nft_get_cb, &g);
		if (r == MNL_CB_ERROR) {
			r = g.r < 0 ? g.r : errno == ENOENT ? 0 : -errno;
			break;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			break;
		}
	}
	mnl_socket_close(nl);
	if (r < 0)
		memset(ret, 0, sizeof(*ret));
	return r;
}

static inline struct nlmsghdr *scnpm_nft_request(char *buf, uint16_t msg, int family,
						 uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | msg;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = (struct nfgenmsg *)mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = (uint8_t)family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

/* The rule at handle in family table chain (names as the kernel has them, unquoted).
 * 0 with ret filled (found 0 when there is no such rule, or no such chain or table),
 * -errno when the kernel could not be asked. */
static inline int scnpm_nft_get_rule(int family, const char *table, const char *chain,
				     uint64_t handle, struct scnpm_nft_readback *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	if (!table || !chain || strlen(table) >= NFT_TABLE_MAXNAMELEN ||
	    strlen(chain) >= NFT_CHAIN_MAXNAMELEN || handle == 0)
		return -EINVAL;
	nlh = scnpm_nft_request(buf, NFT_MSG_GETRULE, family, 1);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
	mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(handle));
	return scnpm_nft_transact(nlh, 0, ret);
}

/* The element key (a cgroup id) of set or map set in family table. As above. */
static inline int scnpm_nft_get_element(int family, const char *table, const char *set,
					uint64_t key, struct scnpm_nft_readback *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *list, *elem, *k;
	struct nlmsghdr *nlh;

	if (!table || !set || strlen(table) >= NFT_TABLE_MAXNAMELEN ||
	    strlen(set) >= NFT_SET_MAXNAMELEN || key == 0)
		return -EINVAL;
	nlh = scnpm_nft_request(buf, NFT_MSG_GETSETELEM, family, 1);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(key), &key);
	mnl_attr_nest_end(nlh, k);
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	return scnpm_nft_transact(nlh, key, ret);
}

#ifdef __cplusplus
}
#endif

#endif /* SCNPM_NFT_READBACK_H */
