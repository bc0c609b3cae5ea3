/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The fast path of a unit restart. A restarted unit gets a new cgroup at the same path,
 * and its rule comes back the same but for the cgroup id and the tag. Through
 * libnftables, each such add costs a cache refresh (a dozen netlink round trips), a parse
 * and a path lookup, ~250 us in a small chain and more in a big one. So before the sync
 * withdraws a rule of ours, it reads the rule back by handle (GETRULE on our own socket)
 * and keeps it as a template (nft-replay.c) under the instance's key: directive, manager,
 * uid, unit. When that instance wants its rule again for a cgroup at the same path with
 * the same text, the sync sends those adds first, as one nf_tables batch of our own:
 * NEWRULE messages put from the templates with the new cgroup id and tag, appended,
 * echoed (the echo gives the handle) and acked. If the kernel refuses the batch, nothing
 * of it is in and those adds go through libnftables as usual.
 *
 * The cache is bounded: at most NFT_FAST_KEEP templates (the least recently captured or
 * used goes first), at most NFT_FAST_CAPTURE_MAX captures and NFT_FAST_BATCH_MAX fast
 * adds per sync, so a sync costs at most a fixed number of round trips more, whatever the
 * size of the ruleset.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/nft-readback.h>

#include "sink-nft.h"

#define NFT_FAST_KEEP 256
/* Its message, and so its echo, fits what nft_sink_nl_read() reads in one datagram. */
#define NFT_FAST_MSG_MAX 8192

void nft_fast_done(struct nft_fast *f)
{
	for (size_t k = 0; k < f->n; k++) {
		free(f->e[k].unit);
		nft_replay_done(&f->e[k].t);
	}
	free(f->e);
	f->e = NULL;
	f->n = 0;
}

static void fast_drop(struct nft_fast *f, struct nft_fast_entry *e)
{
	free(e->unit);
	nft_replay_done(&e->t);
	*e = f->e[--f->n];
}

void nft_fast_forget_rule(struct nft_fast *f, const void *rule)
{
	for (size_t k = 0; k < f->n;)
		if (f->e[k].rule == rule)
			fast_drop(f, &f->e[k]);
		else
			k++;
}

static struct nft_fast_entry *fast_lookup(struct nft_fast *f, const struct nft_instance *i)
{
	for (size_t k = 0; k < f->n; k++) {
		struct nft_fast_entry *e = &f->e[k];

		if (e->rule == i->rule && e->manager == i->manager && e->uid == i->uid &&
		    strcmp(e->unit, i->unit) == 0)
			return e;
	}
	return NULL;
}

struct nft_fast_entry *nft_sink_fast_find(struct nft_sink *s, const struct nft_instance *i)
{
	struct nft_fast_entry *e;

	if (!i->want || i->want_cgroup_id == 0 || i->waiting)
		return NULL;
	e = fast_lookup(&s->fast, i);
	if (!e || e->path_hash != i->want_path_hash || e->t.family != i->family ||
	    strcmp(e->t.table, i->table) != 0 || strcmp(e->t.chain, i->chain) != 0)
		return NULL;
	return e;
}

/* Keep t (taken over) as i's template: in place of its old one, in a free slot, or in
 * place of the least recently used. */
static int fast_keep(struct nft_fast *f, const struct nft_instance *i, struct nft_replay *t)
{
	struct nft_fast_entry *e = fast_lookup(f, i);
	char *unit;

	if (!e) {
		unit = strdup(i->unit);
		if (!unit)
			return -ENOMEM;
		if (!f->e) {
			f->e = calloc(NFT_FAST_KEEP, sizeof(*f->e));
			if (!f->e) {
				free(unit);
				return -ENOMEM;
			}
		}
		if (f->n == NFT_FAST_KEEP) {
			struct nft_fast_entry *old = &f->e[0];

			for (size_t k = 1; k < f->n; k++)
				if (f->e[k].used < old->used)
					old = &f->e[k];
			fast_drop(f, old);
		}
		e = &f->e[f->n++];
		*e = (struct nft_fast_entry){
		    .rule = i->rule, .manager = i->manager, .uid = i->uid, .unit = unit};
	}
	nft_replay_done(&e->t);
	e->t = *t;
	*t = (struct nft_replay){};
	e->path_hash = i->in_path_hash;
	e->used = ++f->clock;
	return 0;
}

/* ---- capture ---- */

struct fast_get {
	uint32_t seq;
	uint64_t cgroup_id;
	struct nft_replay t;
	int r; /* 1 captured, 0 no answer yet, < 0 failed */
};

static int fast_get_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct fast_get *g = userdata;

	if (nlh->nlmsg_seq != g->seq || g->r != 0)
		return MNL_CB_OK;
	g->r = nft_replay_capture(nlh, g->cgroup_id, &g->t);
	if (g->r == 0)
		g->r = 1;
	return MNL_CB_OK;
}

static int fast_get_ack_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct fast_get *g = userdata;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_seq == g->seq && g->r == 0 && mnl_nlmsg_get_payload_len(nlh) >= sizeof(*e) &&
	    e->error != 0)
		g->r = e->error;
	return MNL_CB_OK;
}

int nft_sink_fast_capture(struct nft_sink *s, const struct nft_instance *i, uint64_t handle,
			  uint64_t tag)
{
	char buf[1024] __attribute__((aligned(4)));
	struct fast_get g = {.cgroup_id = i->in_cgroup_id};
	struct nlmsghdr *nlh;
	int r;

	if (i->in_cgroup_id == 0 || handle == 0 || tag == 0 ||
	    strlen(i->table) >= NFT_TABLE_MAXNAMELEN || strlen(i->chain) >= NFT_CHAIN_MAXNAMELEN)
		return -EINVAL;
	g.seq = ++s->del_seq;
	nlh = scnpm_nft_request(buf, NFT_MSG_GETRULE, i->family, g.seq);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, i->table);
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, i->chain);
	mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(handle));
	r = nft_sink_nl_send(s, nlh, nlh->nlmsg_len);
	if (r >= 0)
		r = nft_sink_nl_read(s, fast_get_cb, fast_get_ack_cb, &g);
	if (r >= 0)
		r = g.r < 0 ? g.r : g.r == 0 ? -ENODATA : 0;
	/* The same handle with another tag: not the rule we hold (any more). */
	if (r >= 0 && g.t.tag != tag)
		r = -ESTALE;
	if (r >= 0 && nft_replay_size(&g.t) > NFT_FAST_MSG_MAX)
		r = -EMSGSIZE;
	if (r >= 0)
		r = fast_keep(&s->fast, i, &g.t);
	nft_replay_done(&g.t);
	if (r < 0) {
		struct nft_fast_entry *e = fast_lookup(&s->fast, i);

		if (e)
			fast_drop(&s->fast, e); /* no longer what the rule looks like */
		scnpm_debug_errno(s->host, r,
				  "No fast path for the next rule of '%s' in chain %s %s %s: %m",
				  i->unit, nft_family_name(i->family) ?: "?", i->table, i->chain);
	}
	return r;
}

/* ---- the fast batch ---- */

struct fast_acks {
	uint32_t first_seq; /* of a[0]; the begin message has first_seq - 1 */
	struct nft_fast_add *a;
	size_t n;
	int acked; /* adds acked without error */
	int err;   /* the first error the kernel answered */
};

static int fast_echo_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct fast_acks *x = userdata;
	struct nft_notify n;
	uint32_t k = nlh->nlmsg_seq - x->first_seq;

	if (k < x->n && nft_notify_parse(nlh, &n) >= 0 && n.type == NFT_NOTIFY_NEWRULE)
		x->a[k].handle = n.handle;
	return MNL_CB_OK;
}

static int fast_ack_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct fast_acks *x = userdata;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	uint32_t k = nlh->nlmsg_seq - x->first_seq;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
		return MNL_CB_OK;
	if (e->error != 0 && x->err == 0)
		x->err = e->error;
	if (k < x->n) {
		x->a[k].err = e->error;
		x->acked += e->error == 0;
	}
	return MNL_CB_OK;
}

/* The answers were lost: is the batch in? Look for the tags in the ruleset. 1 it is
 * (handles filled where found), 0 it is not, -errno when that could not be read. */
static int fast_find_added(struct nft_fast_add *a, size_t n)
{
	struct nft_seen_list l = {};
	int found = 0, r;

	r = nft_dump_tagged_rules(&l);
	if (r < 0)
		return r;
	for (size_t k = 0; k < n; k++) {
		struct nft_instance *i = a[k].i;
		struct nft_seen *sr = nft_seen_find(&l, i->family, i->table, i->chain, i->want_tag);

		if (sr) {
			a[k].handle = sr->handle;
			found = 1;
		}
	}
	nft_seen_done(&l);
	return found;
}

int nft_sink_fast_add(struct nft_sink *s, struct nft_fast_add *a, size_t n)
{
	_cleanup_free_ char *buf = NULL;
	struct fast_acks x = {.a = a, .n = n};
	size_t cap = 2 * MNL_ALIGN(MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg) + 8), len = 0;
	int r, unknown = 0;

	if (n == 0)
		return 0;
	for (size_t k = 0; k < n; k++)
		cap += nft_replay_size(&a[k].e->t);
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	x.first_seq = s->del_seq + 2;
	len += nft_sink_put_batch_msg(buf, NFNL_MSG_BATCH_BEGIN, ++s->del_seq, 0);
	for (size_t k = 0; k < n; k++) {
		struct nft_instance *i = a[k].i;

		len += nft_replay_put(&a[k].e->t, buf + len, ++s->del_seq, i->want_cgroup_id,
				      i->want_tag);
		a[k].handle = 0;
		a[k].err = 0;
		a[k].e->used = ++s->fast.clock;
	}
	len += nft_sink_put_batch_msg(buf + len, NFNL_MSG_BATCH_END, ++s->del_seq, 0);

	r = nft_sink_nl_send(s, buf, len);
	if (r < 0)
		return r; /* not sent: nothing added */
	r = nft_sink_nl_read(s, fast_echo_cb, fast_ack_cb, &x);
	if (r == -ENOBUFS) {
		r = fast_find_added(a, n);
		if (r == 0)
			return -ENOBUFS;
		unknown = r < 0;
	} else if (r < 0 || x.err != 0 || (size_t)x.acked != n) {
		/* Refused: the kernel aborted the whole batch. The templates it named
		 * are dropped; the others may serve again. */
		s->fast.n_refused++;
		for (size_t k = 0; k < n; k++)
			a[k].e->refused = a[k].err != 0;
		for (size_t k = 0; k < s->fast.n;)
			if (s->fast.e[k].refused)
				fast_drop(&s->fast, &s->fast.e[k]);
			else
				k++;
		return r < 0 ? r : x.err ?: -EBADMSG;
	}

	for (size_t k = 0; k < n; k++) {
		nft_instances_set_handle(&s->instances, a[k].i, a[k].handle, a[k].i->want_tag);
		if (a[k].handle == 0)
			unknown = 1;
	}
	s->fast.n_adds += n;
	if (unknown) {
		/* Their tags tell them apart in the ruleset: the next sync reads it. */
		scnpm_info(
		    s->host,
		    "Added %zu rule(s) but could not learn every handle, reading the ruleset", n);
		s->need_resync = 1;
	}
	return 0;
}
