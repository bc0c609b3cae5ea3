/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <scnpm/netlink.h>

#include "nft-dump.h"
#include "nft-notify.h"
#include "nft-tag.h"

void nft_seen_done(struct nft_seen_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->rules[i].table);
		free(l->rules[i].chain);
	}
	free(l->rules);
	*l = (struct nft_seen_list){};
}

int nft_seen_add(struct nft_seen_list *l, int family, const char *table, const char *chain,
		 uint64_t handle, uint64_t tag)
{
	struct nft_seen s;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct nft_seen *p = realloc(l->rules, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->rules = p;
		l->cap = cap;
	}
	s = (struct nft_seen){
	    .family = family,
	    .table = strdup(table),
	    .chain = strdup(chain),
	    .handle = handle,
	    .tag = tag,
	};
	if (!s.table || !s.chain) {
		free(s.table);
		free(s.chain);
		return -ENOMEM;
	}
	l->rules[l->n++] = s;
	l->n_free++;
	return 0;
}

static int cmp_tag(const void *a, const void *b)
{
	const struct nft_seen *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->handle < y->handle ? -1 : x->handle > y->handle;
}

void nft_seen_sort(struct nft_seen_list *l)
{
	if (l->n > 1)
		qsort(l->rules, l->n, sizeof(*l->rules), cmp_tag);
}

struct nft_seen *nft_seen_find(const struct nft_seen_list *l, int family, const char *table,
			       const char *chain, uint64_t tag)
{
	size_t lo = 0, hi = l->n;

	if (l->n_free == 0)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->rules[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < l->n && l->rules[i].tag == tag; i++) {
		struct nft_seen *s = &l->rules[i];

		if (!s->taken && s->family == family && strcmp(s->table, table) == 0 &&
		    strcmp(s->chain, chain) == 0)
			return s;
	}
	return NULL;
}

struct nft_seen *nft_seen_find_handle(const struct nft_seen_list *l, int family,
				      const char *table, uint64_t handle)
{
	for (size_t i = 0; i < l->n; i++) {
		struct nft_seen *s = &l->rules[i];

		if (s->handle == handle && s->family == family && strcmp(s->table, table) == 0)
			return s;
	}
	return NULL;
}

void nft_seen_take_where(struct nft_seen_list *l, int family, const char *table,
			 const char *chain)
{
	for (size_t i = 0; i < l->n; i++) {
		struct nft_seen *s = &l->rules[i];

		if (s->family == family && strcmp(s->table, table) == 0 &&
		    (!chain || strcmp(s->chain, chain) == 0))
			nft_seen_take(l, s);
	}
}

struct dump {
	struct nft_seen_list *l;
	int r;
	int interrupted;
};

static int dump_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct dump *d = userdata;
	struct nft_notify n;
	uint64_t tag;

	if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
		d->interrupted = 1;
	if (nft_notify_parse(nlh, &n) < 0 || n.type != NFT_NOTIFY_NEWRULE)
		return MNL_CB_OK;
	tag = scnpm_tag_from_comment(n.comment);
	if (tag == 0)
		return MNL_CB_OK;
	if (nft_seen_add(d->l, n.family, n.table, n.chain, n.handle, tag) < 0) {
		d->r = -ENOMEM;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

static int dump_once(struct nft_seen_list *l, int *ret_interrupted)
{
	enum { BUFSZ = 64 * 1024 };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	struct dump d = {.l = l};
	uint32_t seq = (uint32_t)time(NULL), portid;
	char *buf;
	int r;

	buf = malloc(BUFSZ);
	if (!buf)
		return -ENOMEM;
	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto finish;
	}
	portid = mnl_socket_get_portid(nl);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto finish;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, BUFSZ);

		if (n < 0) {
			r = errno == EINTR ? 0 : -errno;
			if (r == 0)
				continue;
			goto finish;
		}
		r = mnl_cb_run(buf, scnpm_nlmsg_framed_len(buf, (size_t)n), seq, portid, dump_cb,
			       &d);
		if (r == MNL_CB_ERROR) {
			if (d.r == 0 && errno == EINTR) {
				/* libmnl says NLM_F_DUMP_INTR this way */
				d.interrupted = 1;
				r = 0;
				break;
			}
			r = d.r < 0 ? d.r : -errno;
			goto finish;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			break;
		}
	}
	*ret_interrupted = d.interrupted;
finish:
	if (nl)
		mnl_socket_close(nl);
	free(buf);
	return r;
}

int nft_dump_tagged_rules(struct nft_seen_list *ret)
{
	/* A dump the ruleset changed under is retried: a commit is short. */
	for (int attempt = 0; attempt < 16; attempt++) {
		struct nft_seen_list l = {};
		int interrupted = 0, r;

		r = dump_once(&l, &interrupted);
		if (r < 0) {
			nft_seen_done(&l);
			return r;
		}
		if (interrupted) {
			nft_seen_done(&l);
			continue;
		}
		nft_seen_sort(&l);
		*ret = l;
		return 0;
	}
	return -EAGAIN;
}
