/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nftnl: puts the cgroup ids of units into nftables sets ("type cgroupsv2") and
 * verdict maps ("type cgroupsv2 : verdict"), and maintains plain dispatch rules
 * "socket cgroupv2 level N <id> [counter] VERDICT", over raw netlink (libmnl +
 * libnftnl, no libnftables).
 *
 * Writes: NEWSETELEM/DELSETELEM and NEWRULE/DELRULE batches on one long-lived
 *   NETLINK_NETFILTER socket; everything that becomes due in one loop iteration goes out
 *   as one batch, one batch in flight at a time, acks read asynchronously.
 * Watches: nf_tables notifications (NFNLGRP_NFTABLES) on a second socket, to refill a
 *   managed set, map or chain at once when it comes back after a firewall reload, and to
 *   forget rule handles whose chain or table went away.
 * Options: cgroup-root=DIR (default: /sys/fs/cgroup if it is cgroup2, else the first
 *   cgroup2 mount in /proc/self/mountinfo), used to stat() a unit's cgroup path when the
 *   source did not pass the cgroup id.
 * Event sources: io on both sockets, a defer source that flushes the queued batch
 *   (below normal priority, so all applies of one iteration coalesce), and an idle-
 *   priority defer source that allows stale elements of a newly managed set to be swept
 *   once the core's initial applies for it have come in.
 * Failure policy: results are reported per rule and unit; a failed message never loses
 *   the others (the rest of an aborted batch is resent); a missing set or chain is
 *   warned about once and filled as soon as it appears; nothing stops the daemon.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <systemd/sd-event.h>

#include <scnpm/cgroup2.h>
#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include <scnpm/tag.h>

#include "nftnl-batch.h"

/* Messages per batch: bounds the acks queued on the socket at once. Bytes per batch:
 * one batch is one sendto(), which the socket's send buffer must hold (raised to
 * NFTNL_SINK_SNDBUF, but the default 212,992 B is all an unprivileged test gets); the
 * budget halves on EMSGSIZE and grows back after batches that went through. */
#define NFTNL_SINK_BATCH_MAX 1024
#define NFTNL_SINK_BATCH_BYTES (128 * 1024)
#define NFTNL_SINK_BATCH_BYTES_MIN (4 * 1024)
#define NFTNL_SINK_SNDBUF (4 * 1024 * 1024)
#define NFTNL_SINK_RCVBUF (16 * 1024 * 1024)
#define NFTNL_SINK_RECV_SIZE (64 * 1024)

enum nftnl_op_type {
	NFTNL_OP_ADD_ELEM,
	NFTNL_OP_DEL_ELEM,
	NFTNL_OP_ADD_RULE,
	NFTNL_OP_DEL_RULE,
};

struct nftnl_sink;

/* A set, map or chain named by one or more rules. Lives until done(). */
struct nftnl_target {
	struct nftnl_target *next;
	int is_set;
	int family;
	char *table, *name;
	unsigned n_rules;
	int exists;		/* 1 yes, 0 known missing, -1 not known */
	int warned;		/* missing: said so once */
	/* sets and maps */
	void *elems;		/* tsearch tree of struct nftnl_elem, by id */
	uint32_t dump_seq;	/* != 0: a GETSETELEM dump is running */
	int dump_wanted;	/* waits for another target's dump to end */
	uint32_t dump_req_seq;	/* seq of the last dump request */
	int dump_done;		/* dump_ids holds a complete dump not reconciled yet */
	int settled;		/* the core's applies for it came in: stale ids may go */
	int want_settle;
	uint64_t *dump_ids;
	size_t n_dump_ids, cap_dump_ids;
	/* chains: the first listing, which finds the tagged rules an earlier run left */
	int initial_dump;	/* running: the chain's claims wait for it */
	struct nftnl_orphan *orphans;	/* tagged rules not (yet) adopted */
	size_t n_orphans, cap_orphans;
};

/* A dispatch rule carrying scnpm's tag, found in a managed chain at start. */
struct nftnl_orphan {
	uint64_t handle, tag, id;
	int taken;
};

/* One cgroup id in a managed set, with the number of claims that want it. */
struct nftnl_elem {
	uint64_t id;
	unsigned refs;
	int in_kernel;		/* believed to be in the kernel */
	int adding;		/* an ADD is queued or in flight */
	int replaced;		/* one DEL+ADD was tried after EEXIST/EBUSY */
	int seen;		/* reconcile scratch */
	uint32_t add_seq;	/* seq of the add the kernel acked last */
	struct nlbatch_verdict verdict;
};

struct nftnl_srule {
	struct nftnl_srule *next;
	const struct scnpm_rule *rule;	/* borrowed from the core until rule_remove() */
	int is_element;
	struct nftnl_target *target;
	struct nlbatch_verdict verdict;		/* element rules (map value) */
	struct nlbatch_dispatch dispatch;	/* dispatch rules */
	void *claims;				/* tsearch tree of struct nftnl_claim */
};

/* What was applied for one (rule, manager, uid, unit). */
struct nftnl_claim {
	struct nftnl_srule *srule;
	uint32_t manager, uid;
	char *unit;
	/* last unit state seen, for reports (the core's copy is borrowed) */
	struct scnpm_event ev;
	char *ev_path;
	uint64_t desired, actual;	/* cgroup ids, 0 none */
	uint32_t desired_level, actual_level;
	uint64_t handle;		/* dispatch rule handle, 0 unknown */
	unsigned pending;		/* ops queued or in flight reporting for it */
	int dirty;
	int report_owed;
	int stopped;
	uint32_t result;
	char message[256];
};

struct nftnl_op {
	struct nftnl_op *next;
	int type;			/* enum nftnl_op_type */
	struct nftnl_target *target;
	uint64_t id;
	uint32_t level;
	uint64_t handle;
	struct nlbatch_verdict verdict;
	struct nlbatch_dispatch dispatch;
	struct nftnl_claim *claim;	/* NULL: refill, sweep, withdrawal of a removed rule */
	uint32_t seq;
	int acked;
	int error;			/* negative errno from the ack */
	int cancelled;
};

struct nftnl_sink {
	const struct scnpm_host *host;
	char *cgroup_root;
	struct mnl_socket *nl, *mon;
	uint32_t portid;
	uint32_t seq;
	sd_event_source *nl_source, *mon_source, *flush_source, *settle_source;
	int started;

	struct nftnl_target *targets;
	struct nftnl_srule *srules;

	struct nftnl_claim **dirty;
	size_t n_dirty, cap_dirty;

	struct nftnl_op *queue, *queue_tail;
	struct nftnl_op **inflight;
	size_t n_inflight, n_unacked;
	uint32_t inflight_begin_seq, inflight_first_seq;
	int overrun;

	struct nlbatch_buf batch;
	size_t batch_budget; /* bytes */
	uint32_t genid;	     /* the ruleset generation last seen (NEWGEN), 0: not known */
	int restart;	     /* the batch in flight was refused: the ruleset changed under it */
	uint64_t n_restarts;
	char *rbuf;
};

static void nftnl_sink_schedule(struct nftnl_sink *s);
static void nftnl_sink_mark_dirty(struct nftnl_sink *s, struct nftnl_claim *c);
static int nftnl_sink_drain(struct nftnl_sink *s, int fd,
			    void (*handle)(struct nftnl_sink *s, const struct nlmsghdr *nlh),
			    const char *what);
static void nftnl_sink_mon_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh);
static void nftnl_sink_resync(struct nftnl_sink *s);

static int nftnl_elem_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct nftnl_elem *)a)->id, y = ((const struct nftnl_elem *)b)->id;

	return x < y ? -1 : x > y;
}

static int nftnl_claim_cmp(const void *a, const void *b)
{
	const struct nftnl_claim *x = a, *y = b;

	if (x->manager != y->manager)
		return x->manager < y->manager ? -1 : 1;
	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return strcmp(x->unit, y->unit);
}

static const char *nftnl_fam(const struct nftnl_target *t)
{
	return nlbatch_family_to_string(t->family);
}

/* ---- cgroups ---- */

static int nftnl_sink_find_cgroup_root(char **ret)
{
	struct statfs sfs;

	if (statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC) {
		*ret = strdup("/sys/fs/cgroup");
		return *ret ? 0 : -ENOMEM;
	}
	return scnpm_cgroup2_find_root(ret);
}

/* The unit's cgroup id: 0 when it has none (path given but gone), -ENODATA when the
 * source knows neither id nor path. */
static int nftnl_sink_resolve(struct nftnl_sink *s, const struct scnpm_event *unit,
			      uint64_t *ret_id)
{
	_cleanup_free_ char *p = NULL;
	struct stat st;

	if (unit->cgroup_id != 0) {
		*ret_id = unit->cgroup_id;
		return 0;
	}
	if (!unit->cgroup_path)
		return -ENODATA;
	if (!s->cgroup_root)
		return -ENOENT;
	if (asprintf(&p, "%s/%s", s->cgroup_root, unit->cgroup_path) < 0)
		return -ENOMEM;
	if (stat(p, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			*ret_id = 0;
			return 0;
		}
		return -errno;
	}
	*ret_id = (uint64_t)st.st_ino;
	return 0;
}

/* ---- reports ---- */

static void nftnl_claim_result(struct nftnl_claim *c, uint32_t result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Keeps the worst outcome until the claim's report goes out. */
static void nftnl_claim_result(struct nftnl_claim *c, uint32_t result, const char *fmt, ...)
{
	va_list ap;

	if (c->result == SCNPM_RESULT_FAILED)
		return;
	if (c->result == SCNPM_RESULT_SKIPPED && result == SCNPM_RESULT_APPLIED)
		return;
	c->result = result;
	c->message[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->message, sizeof(c->message), fmt, ap);
		va_end(ap);
	}
}

static void nftnl_sink_claim_free(struct nftnl_sink *s, struct nftnl_claim *c);

/* Report if nothing is pending. May free the claim (a stopped unit with nothing left). */
static void nftnl_sink_claim_maybe_report(struct nftnl_sink *s, struct nftnl_claim *c)
{
	if (c->pending > 0 || c->dirty || !c->report_owed)
		return;
	c->report_owed = 0;
	s->host->report(s->host, c->srule->rule, &c->ev, c->result ? c->result : SCNPM_RESULT_APPLIED,
			"%s", c->message);
	c->result = 0;
	c->message[0] = '\0';
	if (c->stopped && c->actual == 0 && c->desired == 0 && !c->dirty) {
		tdelete(c, &c->srule->claims, nftnl_claim_cmp);
		nftnl_sink_claim_free(s, c);
	}
}

/* ---- op queue ---- */

static struct nftnl_op *nftnl_sink_queue_op(struct nftnl_sink *s, int type, struct nftnl_target *t,
					    uint64_t id, struct nftnl_claim *c)
{
	struct nftnl_op *op = calloc(1, sizeof(*op));

	if (!op) {
		if (c)
			nftnl_claim_result(c, SCNPM_RESULT_FAILED, "out of memory");
		return NULL;
	}
	op->type = type;
	op->target = t;
	op->id = id;
	op->claim = c;
	if (c)
		c->pending++;
	if (s->queue_tail)
		s->queue_tail->next = op;
	else
		s->queue = op;
	s->queue_tail = op;
	nftnl_sink_schedule(s);
	return op;
}

static struct nftnl_elem *nftnl_target_find_elem(struct nftnl_target *t, uint64_t id)
{
	struct nftnl_elem key = { .id = id };
	void **p = tfind(&key, &t->elems, nftnl_elem_cmp);

	return p ? *p : NULL;
}

static void nftnl_sink_add_elem(struct nftnl_sink *s, struct nftnl_target *t,
				struct nftnl_elem *e, struct nftnl_claim *c)
{
	struct nftnl_op *op = nftnl_sink_queue_op(s, NFTNL_OP_ADD_ELEM, t, e->id, c);

	if (!op)
		return;
	op->verdict = e->verdict;
	e->adding = 1;
}

/* A claim stops wanting id in t. */
static void nftnl_sink_release(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			       struct nftnl_claim *c)
{
	struct nftnl_elem *e = nftnl_target_find_elem(t, id);

	if (!e || e->refs == 0)
		return;
	if (--e->refs > 0)
		return;
	if ((e->in_kernel || e->adding) && t->exists != 0)
		nftnl_sink_queue_op(s, NFTNL_OP_DEL_ELEM, t, id, c);
	tdelete(e, &t->elems, nftnl_elem_cmp);
	free(e);
}

/* A claim starts wanting id in t. */
static void nftnl_sink_take(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			    struct nftnl_claim *c)
{
	const struct nlbatch_verdict *v = &c->srule->verdict;
	struct nftnl_elem *e = nftnl_target_find_elem(t, id);
	char a[NFT_CHAIN_MAXNAMELEN + 8], b[NFT_CHAIN_MAXNAMELEN + 8];

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			e->id = id;
			e->verdict = *v;
		}
		if (!e || !tsearch(e, &t->elems, nftnl_elem_cmp)) {
			free(e);
			nftnl_claim_result(c, SCNPM_RESULT_FAILED, "out of memory");
			return;
		}
	} else if (e->refs > 0 && !nlbatch_verdict_equal(&e->verdict, v)) {
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "cgroup %" PRIu64 " is already mapped to '%s' in %s %s %s by another rule, not to '%s'",
				   id, nlbatch_verdict_to_string(&e->verdict, a, sizeof(a)), nftnl_fam(t),
				   t->table, t->name, nlbatch_verdict_to_string(v, b, sizeof(b)));
		return;
	}
	e->refs++;
	c->actual = id;
	if (t->exists == 0) {
		nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
				   "%s %s %s does not exist; filled when it appears", nftnl_fam(t),
				   t->table, t->name);
		return;
	}
	if (!e->in_kernel && !e->adding)
		nftnl_sink_add_elem(s, t, e, c);
}

static void nftnl_sink_process_elem_claim(struct nftnl_sink *s, struct nftnl_claim *c)
{
	struct nftnl_target *t = c->srule->target;

	if (c->desired != c->actual) {
		if (c->actual != 0)
			nftnl_sink_release(s, t, c->actual, c);
		c->actual = 0;
		if (c->desired != 0)
			nftnl_sink_take(s, t, c->desired, c);
	} else if (c->desired != 0) {
		struct nftnl_elem *e = nftnl_target_find_elem(t, c->desired);

		/* re-applying: retry an element whose add failed earlier */
		if (e && !e->in_kernel && !e->adding && t->exists != 0)
			nftnl_sink_add_elem(s, t, e, c);
		else if (t->exists == 0)
			nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
					   "%s %s %s does not exist; filled when it appears",
					   nftnl_fam(t), t->table, t->name);
	}
}

/* What makes a claim's dispatch rule what it is: directive, unit, cgroup id and level. */
static uint64_t nftnl_claim_tag(const struct nftnl_claim *c)
{
	const struct scnpm_rule *rule = c->srule->rule;
	uint64_t h = SCNPM_TAG_SEED;

	h = scnpm_tag_mix_str(h, rule->unit);
	h = scnpm_tag_mix_str(h, rule->text);
	h = scnpm_tag_mix_u64(h, c->manager);
	h = scnpm_tag_mix_u64(h, c->uid);
	h = scnpm_tag_mix_str(h, c->unit);
	h = scnpm_tag_mix_u64(h, c->desired);
	h = scnpm_tag_mix_u64(h, c->desired_level);
	return scnpm_tag_finish(h);
}

/* A rule an earlier run left that is exactly what the claim wants: take it over. */
static int nftnl_sink_adopt(struct nftnl_sink *s, struct nftnl_claim *c, uint64_t tag)
{
	struct nftnl_target *t = c->srule->target;

	for (size_t i = 0; i < t->n_orphans; i++) {
		struct nftnl_orphan *o = &t->orphans[i];

		if (o->taken || o->tag != tag || o->id != c->desired)
			continue;
		o->taken = 1;
		c->handle = o->handle;
		c->actual = c->desired;
		c->actual_level = c->desired_level;
		nftnl_claim_result(c, SCNPM_RESULT_APPLIED, "in place (handle %" PRIu64 ")", o->handle);
		return 1;
	}
	return 0;
}

static void nftnl_sink_process_rule_claim(struct nftnl_sink *s, struct nftnl_claim *c)
{
	struct nftnl_target *t = c->srule->target;
	int changed;

	if (c->actual != 0 && c->handle == 0)
		c->actual = 0; /* forgotten: its chain or table went away */
	changed = c->desired != c->actual ||
		  (c->desired != 0 && c->desired_level != c->actual_level);
	if (!changed)
		return;
	if (c->actual != 0) {
		struct nftnl_op *op = nftnl_sink_queue_op(s, NFTNL_OP_DEL_RULE, t, c->actual, c);

		if (op)
			op->handle = c->handle;
	}
	if (c->desired != 0) {
		struct nftnl_op *op;

		if (t->exists == 0) {
			nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
					   "chain %s %s %s does not exist; rule added when it appears",
					   nftnl_fam(t), t->table, t->name);
			return;
		}
		if (c->actual == 0 && nftnl_sink_adopt(s, c, nftnl_claim_tag(c)))
			return;
		op = nftnl_sink_queue_op(s, NFTNL_OP_ADD_RULE, t, c->desired, c);
		if (op) {
			op->level = c->desired_level;
			op->dispatch = c->srule->dispatch;
			op->dispatch.tag = nftnl_claim_tag(c);
		}
	}
}

/* Turns the dirty claims into queued ops. Dispatch claims with ops in flight wait (their
 * handle may not be known yet) and stay dirty. */
static void nftnl_sink_process_dirty(struct nftnl_sink *s)
{
	size_t keep = 0, n = s->n_dirty;

	for (size_t i = 0; i < n; i++) {
		struct nftnl_claim *c = s->dirty[i];

		if (!c)
			continue;
		if (!c->srule->is_element && (c->pending > 0 || c->srule->target->initial_dump)) {
			s->dirty[keep++] = c;
			continue;
		}
		s->dirty[i] = NULL;
		c->dirty = 0;
		if (c->srule->is_element)
			nftnl_sink_process_elem_claim(s, c);
		else
			nftnl_sink_process_rule_claim(s, c);
		nftnl_sink_claim_maybe_report(s, c);
	}
	/* claims marked dirty while processing were appended after n */
	for (size_t i = n; i < s->n_dirty; i++)
		if (s->dirty[i])
			s->dirty[keep++] = s->dirty[i];
	s->n_dirty = keep;
}

static void nftnl_sink_mark_dirty(struct nftnl_sink *s, struct nftnl_claim *c)
{
	if (c->dirty)
		return;
	if (s->n_dirty == s->cap_dirty) {
		size_t cap = s->cap_dirty ? s->cap_dirty * 2 : 64;
		struct nftnl_claim **d = realloc(s->dirty, cap * sizeof(*d));

		if (!d) {
			nftnl_claim_result(c, SCNPM_RESULT_FAILED, "out of memory");
			return;
		}
		s->dirty = d;
		s->cap_dirty = cap;
	}
	s->dirty[s->n_dirty++] = c;
	c->dirty = 1;
	nftnl_sink_schedule(s);
}

/* ---- batches ---- */

static int nftnl_sink_put_op(struct nftnl_sink *s, struct nftnl_op *op)
{
	struct nftnl_target *t = op->target;

	switch (op->type) {
	case NFTNL_OP_ADD_ELEM:
		return nlbatch_put_setelem(&s->batch, NFT_MSG_NEWSETELEM, t->family, t->table,
					   t->name, op->id, &op->verdict, op->seq);
	case NFTNL_OP_DEL_ELEM:
		return nlbatch_put_setelem(&s->batch, NFT_MSG_DELSETELEM, t->family, t->table,
					   t->name, op->id, NULL, op->seq);
	case NFTNL_OP_ADD_RULE:
		return nlbatch_put_dispatch_rule(&s->batch, t->family, t->table, t->name,
						 &op->dispatch, op->level, op->id, op->seq);
	case NFTNL_OP_DEL_RULE:
		if (op->handle == 0)
			return -EINVAL; /* never flush a chain by accident */
		return nlbatch_put_delrule(&s->batch, t->family, t->table, t->name, op->handle,
					   op->seq);
	}
	return -EINVAL;
}

static void nftnl_sink_op_done(struct nftnl_sink *s, struct nftnl_op *op);

/* The ruleset's generation now (NFT_MSG_GETGEN on a socket of its own). 0 or -errno. */
static int nftnl_sink_get_genid(uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	const struct nlattr *a;
	ssize_t n;
	int r = -EBADMSG;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto finish;
	}
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto finish;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0) {
		r = -errno;
		goto finish;
	}
	nlh = (struct nlmsghdr *)buf;
	if (!mnl_nlmsg_ok(nlh, (int)n) || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWGEN)
		goto finish;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFTA_GEN_ID && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
			*ret = ntohl(mnl_attr_get_u32(a));
			r = 0;
		}
finish:
	mnl_socket_close(nl);
	return r;
}

static int nftnl_sink_send(struct nftnl_sink *s, const void *buf, size_t len)
{
	for (;;) {
		if (mnl_socket_sendto(s->nl, buf, len) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static void nftnl_sink_send_batch(struct nftnl_sink *s)
{
	struct nftnl_op **ops, *op;
	size_t n = 0;
	int r;

	if (s->inflight || !s->queue || !s->nl)
		return;

	ops = calloc(NFTNL_SINK_BATCH_MAX + 64, sizeof(*ops));
	if (!ops) {
		scnpm_warning_errno(s->host, -ENOMEM, "Failed to send batch, retrying later: %m");
		return;
	}
	/* Decide on the ruleset as it is: every change of others read (what they deleted
	 * is not deleted again by a stale handle), and the batch carries the generation
	 * that reading ended at, so the kernel refuses it if another commit slipped in. */
	if (s->mon && nftnl_sink_drain(s, mnl_socket_get_fd(s->mon), nftnl_sink_mon_msg,
				       "nf_tables notifications")) {
		scnpm_warning(s->host, "Lost nf_tables notifications (receive buffer overrun), resyncing");
		nftnl_sink_resync(s);
	}
	if (!s->queue)
		return;
	nlbatch_buf_reset(&s->batch);
	s->inflight_begin_seq = s->seq++;
	s->inflight_first_seq = s->seq;
	r = nlbatch_begin_genid(&s->batch, s->inflight_begin_seq, s->genid);

	/* Take ops in order; never split the ops of one claim (a restart's DEL and ADD
	 * go out together, atomically). */
	while (r >= 0 && (op = s->queue)) {
		int same_claim = n > 0 && op->claim && op->claim == ops[n - 1]->claim;

		if ((n >= NFTNL_SINK_BATCH_MAX || s->batch.len >= s->batch_budget) &&
		    (!same_claim || n >= NFTNL_SINK_BATCH_MAX + 63))
			break;
		s->queue = op->next;
		if (!s->queue)
			s->queue_tail = NULL;
		op->next = NULL;
		if (op->cancelled) {
			nftnl_sink_op_done(s, op);
			continue;
		}
		op->seq = s->seq++;
		op->acked = 0;
		op->error = 0;
		r = nftnl_sink_put_op(s, op);
		if (r < 0) {
			op->error = r;
			op->acked = 1;
			op->seq = 0;
			nftnl_sink_op_done(s, op);
			r = 0;
			continue;
		}
		ops[n++] = op;
	}
	if (r >= 0)
		r = nlbatch_end(&s->batch, s->seq++);
	if (n == 0) {
		free(ops);
		return;
	}
	if (r >= 0)
		r = nftnl_sink_send(s, s->batch.data, s->batch.len);
	if (r < 0 && (r == -EMSGSIZE || r == -ENOBUFS || r == -ENOMEM || r == -EAGAIN) &&
	    (n > 1 || s->batch_budget > NFTNL_SINK_BATCH_BYTES_MIN)) {
		/* Too big for the socket right now: put the ops back, in order, and send
		 * them in smaller batches. Nothing is dropped. */
		scnpm_debug(s->host, "Batch of %zu messages (%zu bytes) not sent (%s), splitting",
			    n, s->batch.len, strerror(-r));
		s->batch_budget = s->batch.len / 2 > NFTNL_SINK_BATCH_BYTES_MIN
					  ? s->batch.len / 2 : NFTNL_SINK_BATCH_BYTES_MIN;
		for (size_t i = n; i > 0; i--) {
			ops[i - 1]->next = s->queue;
			s->queue = ops[i - 1];
			if (!s->queue_tail)
				s->queue_tail = ops[i - 1];
		}
		free(ops);
		nftnl_sink_schedule(s);
		return;
	}
	if (r < 0) {
		scnpm_warning_errno(s->host, r, "Failed to send nf_tables batch of %zu messages: %m",
				    n);
		for (size_t i = 0; i < n; i++) {
			ops[i]->error = r;
			nftnl_sink_op_done(s, ops[i]);
		}
		free(ops);
		return;
	}
	if (s->batch_budget < NFTNL_SINK_BATCH_BYTES)
		s->batch_budget = s->batch_budget * 2 < NFTNL_SINK_BATCH_BYTES ? s->batch_budget * 2
									 : NFTNL_SINK_BATCH_BYTES;
	scnpm_debug(s->host, "Sent nf_tables batch of %zu messages", n);
	s->inflight = ops;
	s->n_inflight = n;
	s->n_unacked = n;
}

static void nftnl_sink_target_missing(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (t->exists == 1)
		return;
	t->exists = 0;
	if (!t->warned) {
		t->warned = 1;
		scnpm_warning(s->host, "%s %s %s %s does not exist; filled as soon as it appears",
			      t->is_set ? "Set" : "Chain", nftnl_fam(t), t->table, t->name);
	}
}

/* One acked (or failed, or cancelled) op: bookkeeping and the claim's result. Frees op. */
static void nftnl_sink_op_done(struct nftnl_sink *s, struct nftnl_op *op)
{
	struct nftnl_target *t = op->target;
	struct nftnl_claim *c = op->claim;
	int err = op->error;

	switch (op->type) {
	case NFTNL_OP_ADD_ELEM: {
		struct nftnl_elem *e = nftnl_target_find_elem(t, op->id);

		if (op->cancelled)
			break;
		if (e && e->verdict.kind == op->verdict.kind)
			e->adding = 0;
		if (err == 0) {
			if (e) {
				e->in_kernel = 1;
				e->add_seq = op->seq;
			}
			if (t->exists != 1) {
				t->exists = 1;
				t->warned = 0;
			}
			break;
		}
		if (e)
			e->in_kernel = 0;
		if (err == -ENOENT && t->exists != 1) {
			nftnl_sink_target_missing(s, t);
			if (c)
				nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
						   "%s %s %s does not exist; filled when it appears",
						   nftnl_fam(t), t->table, t->name);
			break;
		}
		if ((err == -EEXIST || err == -EBUSY) && e && e->refs > 0 && !e->replaced) {
			/* an element left with another verdict (an earlier run, another
			 * config): replace it, once */
			struct nftnl_op *add;

			e->replaced = 1;
			nftnl_sink_queue_op(s, NFTNL_OP_DEL_ELEM, t, op->id, NULL);
			add = nftnl_sink_queue_op(s, NFTNL_OP_ADD_ELEM, t, op->id, c);
			if (add) {
				add->verdict = e->verdict;
				e->adding = 1;
			}
			break;
		}
		if (c) {
			if (err == -ENOENT && op->verdict.kind >= NLBATCH_VERDICT_JUMP)
				nftnl_claim_result(c, SCNPM_RESULT_FAILED,
						   "Failed to add cgroup %" PRIu64 " to %s %s %s: %s (does chain '%s' exist?)",
						   op->id, nftnl_fam(t), t->table, t->name,
						   strerror(-err), op->verdict.chain);
			else
				nftnl_claim_result(c, SCNPM_RESULT_FAILED,
						   "Failed to add cgroup %" PRIu64 " to %s %s %s: %s",
						   op->id, nftnl_fam(t), t->table, t->name, strerror(-err));
		} else
			scnpm_warning_errno(s->host, err, "Failed to add cgroup %" PRIu64 " to %s %s %s: %m",
					    op->id, nftnl_fam(t), t->table, t->name);
		break;
	}
	case NFTNL_OP_DEL_ELEM:
		if (err == 0 || err == -ENOENT || op->cancelled)
			break;
		if (c)
			nftnl_claim_result(c, SCNPM_RESULT_FAILED,
					   "Failed to remove cgroup %" PRIu64 " from %s %s %s: %s", op->id,
					   nftnl_fam(t), t->table, t->name, strerror(-err));
		else
			scnpm_warning_errno(s->host, err, "Failed to remove cgroup %" PRIu64 " from %s %s %s: %m",
					    op->id, nftnl_fam(t), t->table, t->name);
		break;
	case NFTNL_OP_ADD_RULE:
		if (op->cancelled)
			break;
		if (err == 0 && op->handle == 0)
			err = -EBADMSG; /* no echo: we cannot own it */
		if (err == 0) {
			if (t->exists != 1) {
				t->exists = 1;
				t->warned = 0;
			}
			if (c) {
				c->actual = op->id;
				c->actual_level = op->level;
				c->handle = op->handle;
			} else {
				/* its rule or unit went away while the add was in flight */
				struct nftnl_op *del =
					nftnl_sink_queue_op(s, NFTNL_OP_DEL_RULE, t, op->id, NULL);
				if (del)
					del->handle = op->handle;
			}
			break;
		}
		if (err == -ENOENT && t->exists != 1) {
			nftnl_sink_target_missing(s, t);
			if (c)
				nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
						   "chain %s %s %s does not exist; rule added when it appears",
						   nftnl_fam(t), t->table, t->name);
			break;
		}
		if (c)
			nftnl_claim_result(c, SCNPM_RESULT_FAILED,
					   "Failed to add rule for cgroup %" PRIu64 " to %s %s %s: %s",
					   op->id, nftnl_fam(t), t->table, t->name, strerror(-err));
		break;
	case NFTNL_OP_DEL_RULE:
		if (c && (err == 0 || err == -ENOENT) && c->handle == op->handle) {
			c->actual = 0;
			c->handle = 0;
		}
		if (err != 0 && err != -ENOENT && !op->cancelled) {
			if (c)
				nftnl_claim_result(c, SCNPM_RESULT_FAILED,
						   "Failed to delete rule handle %" PRIu64 " from %s %s %s: %s",
						   op->handle, nftnl_fam(t), t->table, t->name,
						   strerror(-err));
			else
				scnpm_warning_errno(s->host, err, "Failed to delete rule handle %" PRIu64 " from %s %s %s: %m",
						    op->handle, nftnl_fam(t), t->table, t->name);
		}
		break;
	}

	free(op);
	if (c) {
		c->pending--;
		if (c->pending == 0 && c->dirty)
			nftnl_sink_schedule(s); /* the unit changed while this was in flight */
		nftnl_sink_claim_maybe_report(s, c);
	}
}

/* Called when every ack of the batch in flight came in (or was lost). An nf_tables batch
 * is all or nothing: when any message failed, nothing was committed, so the messages
 * that were fine go out again, at the head of the queue, and only the failed ones are
 * reported. Acks lost to an overrun count as success when no ack reported a failure
 * (a failed batch reports its failures first-hand), and a resync checks the sets. */
static void nftnl_sink_batch_complete(struct nftnl_sink *s)
{
	struct nftnl_op **ops = s->inflight, *head = NULL, *last = NULL;
	size_t n = s->n_inflight, n_failed = 0, n_resent = 0;

	s->inflight = NULL;
	s->n_inflight = s->n_unacked = 0;

	if (s->restart) {
		s->restart = 0;
		s->n_restarts++;
		scnpm_debug(s->host, "The ruleset changed under our batch of %zu messages (ERESTART), "
			    "deciding again", n);
		(void)nftnl_sink_get_genid(&s->genid);
		for (size_t i = n; i > 0; i--) {
			struct nftnl_op *op = ops[i - 1];

			if (op->type == NFTNL_OP_ADD_RULE)
				op->handle = 0;
			op->next = s->queue;
			s->queue = op;
			if (!s->queue_tail)
				s->queue_tail = op;
		}
		free(ops);
		nftnl_sink_schedule(s);
		return;
	}

	for (size_t i = 0; i < n; i++)
		if (ops[i]->acked && ops[i]->error != 0)
			n_failed++;
	for (size_t i = 0; i < n; i++) {
		if (!ops[i]->acked) {
			ops[i]->error = 0; /* lost ack */
			if (ops[i]->type == NFTNL_OP_ADD_RULE && ops[i]->handle == 0)
				ops[i]->error = -ENOBUFS;
		}
	}
	if (n_failed > 0) {
		for (size_t i = 0; i < n; i++) {
			if (ops[i]->error != 0)
				continue;
			ops[i]->next = NULL;
			ops[i]->handle = ops[i]->type == NFTNL_OP_ADD_RULE ? 0 : ops[i]->handle;
			if (last)
				last->next = ops[i];
			else
				head = ops[i];
			last = ops[i];
			ops[i] = NULL;
			n_resent++;
		}
		if (head) {
			last->next = s->queue;
			if (!s->queue)
				s->queue_tail = last;
			s->queue = head;
		}
		scnpm_debug(s->host, "nf_tables batch aborted by %zu failed messages, resending %zu",
			    n_failed, n_resent);
	}
	for (size_t i = 0; i < n; i++)
		if (ops[i])
			nftnl_sink_op_done(s, ops[i]);
	free(ops);
	nftnl_sink_schedule(s);
}

/* ---- dumps and reconciliation ---- */

/* A netlink socket runs one dump at a time: the kernel answers a second request with
 * EBUSY while the first has not ended. Dumps are therefore sent one after the other;
 * the next one starts when the running one ends (nftnl_sink_next_dump()). */
static int nftnl_sink_request_dump(struct nftnl_sink *s, struct nftnl_target *t)
{
	char buf[8192];
	ssize_t len;
	uint32_t seq;
	int r;

	if (t->dump_seq != 0 || !s->nl)
		return 0;
	for (struct nftnl_target *o = s->targets; o; o = o->next)
		if (o->dump_seq != 0) {
			t->dump_wanted = 1;
			return 0;
		}
	t->dump_wanted = 0;
	seq = s->seq++;
	if (t->is_set)
		len = nlbatch_getsetelem(buf, sizeof(buf), t->family, t->table, t->name, seq);
	else
		len = nlbatch_getrule(buf, sizeof(buf), t->family, t->table, t->name, seq);
	if (len < 0)
		return (int)len;
	r = nftnl_sink_send(s, buf, (size_t)len);
	if (r < 0)
		return scnpm_warning_errno(s->host, r, "Failed to list %s %s %s: %m", nftnl_fam(t),
					   t->table, t->name);
	t->dump_seq = seq;
	t->dump_req_seq = seq;
	t->dump_done = 0;
	t->n_dump_ids = 0;
	return 0;
}

static void nftnl_sink_next_dump(struct nftnl_sink *s)
{
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump_seq != 0)
			return;
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump_wanted) {
			(void)nftnl_sink_request_dump(s, t);
			if (t->dump_seq != 0)
				return;
		}
}

static int nftnl_target_push_id(struct nftnl_target *t, uint64_t id)
{
	if (t->n_dump_ids == t->cap_dump_ids) {
		size_t cap = t->cap_dump_ids ? t->cap_dump_ids * 2 : 64;
		uint64_t *d = realloc(t->dump_ids, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		t->dump_ids = d;
		t->cap_dump_ids = cap;
	}
	t->dump_ids[t->n_dump_ids++] = id;
	return 0;
}

static int nftnl_target_push_orphan(struct nftnl_target *t, uint64_t handle, uint64_t tag,
				    uint64_t id)
{
	if (t->n_orphans == t->cap_orphans) {
		size_t cap = t->cap_orphans ? t->cap_orphans * 2 : 16;
		struct nftnl_orphan *o = realloc(t->orphans, cap * sizeof(*o));

		if (!o)
			return -ENOMEM;
		t->orphans = o;
		t->cap_orphans = cap;
	}
	t->orphans[t->n_orphans++] = (struct nftnl_orphan){ .handle = handle, .tag = tag, .id = id };
	return 0;
}

/* Tagged rules of an earlier run that nobody adopted once the core's first applies are
 * in: stale (an old cgroup id, a directive that left the config). Ours: delete them. */
static void nftnl_sink_sweep_orphans(struct nftnl_sink *s, struct nftnl_target *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_orphans; i++) {
		struct nftnl_op *op;

		if (t->orphans[i].taken)
			continue;
		op = nftnl_sink_queue_op(s, NFTNL_OP_DEL_RULE, t, t->orphans[i].id, NULL);
		if (op) {
			op->handle = t->orphans[i].handle;
			n++;
		}
	}
	if (n > 0)
		scnpm_notice(s->host, "Deleting %zu stale rule(s) of ours in chain %s %s %s (left by an earlier run)",
			     n, nftnl_fam(t), t->table, t->name);
	free(t->orphans);
	t->orphans = NULL;
	t->n_orphans = t->cap_orphans = 0;
}

static void nftnl_on_dump_id(uint64_t id, void *data)
{
	(void)nftnl_target_push_id(data, id);
}

struct nftnl_walk_ctx {
	struct nftnl_sink *s;
	struct nftnl_target *t;
	int mode;
	unsigned n;
};

enum {
	NFTNL_WALK_CLEAR_SEEN,
	NFTNL_WALK_ADD_UNSEEN,
	NFTNL_WALK_GONE,
	NFTNL_WALK_REFILL,
	NFTNL_WALK_RETRY_FAILED,
};

static void nftnl_elem_walk(const void *node, VISIT which, void *data)
{
	struct nftnl_walk_ctx *ctx = data;
	struct nftnl_elem *e = *(struct nftnl_elem *const *)node;

	if (which != postorder && which != leaf)
		return;
	switch (ctx->mode) {
	case NFTNL_WALK_CLEAR_SEEN:
		e->seen = 0;
		break;
	case NFTNL_WALK_ADD_UNSEEN:
		/* an add acked after the dump was requested is newer than the dump */
		if (e->refs > 0 && !e->seen &&
		    !(e->in_kernel && (int32_t)(e->add_seq - ctx->t->dump_req_seq) > 0)) {
			e->in_kernel = 0;
			if (!e->adding) {
				nftnl_sink_add_elem(ctx->s, ctx->t, e, NULL);
				ctx->n++;
			}
		}
		break;
	case NFTNL_WALK_GONE:
		e->in_kernel = 0;
		break;
	case NFTNL_WALK_REFILL:
		e->in_kernel = 0;
		/* fall through */
	case NFTNL_WALK_RETRY_FAILED:
		if (e->refs > 0 && !e->in_kernel && !e->adding) {
			nftnl_sink_add_elem(ctx->s, ctx->t, e, NULL);
			ctx->n++;
		}
		break;
	}
}

static unsigned nftnl_target_walk(struct nftnl_sink *s, struct nftnl_target *t, int mode)
{
	struct nftnl_walk_ctx ctx = { .s = s, .t = t, .mode = mode };

	twalk_r(t->elems, nftnl_elem_walk, &ctx);
	return ctx.n;
}

/* The set holds exactly the ids claimed: add what is missing, remove what nobody
 * claims (the set belongs to scnpm). */
static void nftnl_sink_reconcile_set(struct nftnl_sink *s, struct nftnl_target *t)
{
	unsigned n_del = 0, n_add;

	nftnl_target_walk(s, t, NFTNL_WALK_CLEAR_SEEN);
	for (size_t i = 0; i < t->n_dump_ids; i++) {
		struct nftnl_elem *e = nftnl_target_find_elem(t, t->dump_ids[i]);

		if (e && e->refs > 0) {
			e->seen = 1;
			e->in_kernel = 1;
		} else if (!e) {
			nftnl_sink_queue_op(s, NFTNL_OP_DEL_ELEM, t, t->dump_ids[i], NULL);
			n_del++;
		}
	}
	n_add = nftnl_target_walk(s, t, NFTNL_WALK_ADD_UNSEEN);
	if (n_del > 0 || n_add > 0)
		scnpm_info(s->host, "Reconciling %s %s %s: removing %u stale, adding %u missing cgroup ids",
			   nftnl_fam(t), t->table, t->name, n_del, n_add);
	t->dump_done = 0;
	t->n_dump_ids = 0;
}

static void nftnl_sink_claims_walk(const void *node, VISIT which, void *data);

struct nftnl_claims_ctx {
	struct nftnl_sink *s;
	int mode;
	uint64_t handle;
	struct nftnl_target *t;
};

enum {
	NFTNL_CLAIMS_FORGET_ALL,
	NFTNL_CLAIMS_FORGET_HANDLE,
	NFTNL_CLAIMS_REDO,
	NFTNL_CLAIMS_VERIFY,
};

static void nftnl_sink_claims_walk(const void *node, VISIT which, void *data)
{
	struct nftnl_claims_ctx *ctx = data;
	struct nftnl_claim *c = *(struct nftnl_claim *const *)node;

	if (which != postorder && which != leaf)
		return;
	switch (ctx->mode) {
	case NFTNL_CLAIMS_FORGET_ALL:
		c->actual = 0;
		c->handle = 0;
		break;
	case NFTNL_CLAIMS_FORGET_HANDLE:
		/* deleted by someone else (flush chain, a delete by hand): restore it */
		if (c->handle == ctx->handle) {
			c->actual = 0;
			c->handle = 0;
			if (c->desired != 0) {
				nftnl_sink_mark_dirty(ctx->s, c);
				scnpm_notice(ctx->s->host, "A rule of ours in chain %s %s %s was deleted "
					     "(handle %" PRIu64 "), restoring it", nftnl_fam(ctx->t),
					     ctx->t->table, ctx->t->name, ctx->handle);
			}
		}
		break;
	case NFTNL_CLAIMS_REDO:
		if (c->desired != 0 && c->desired != c->actual)
			nftnl_sink_mark_dirty(ctx->s, c);
		break;
	case NFTNL_CLAIMS_VERIFY: {
		int found = 0;

		if (c->handle == 0)
			break;
		for (size_t i = 0; i + 1 < ctx->t->n_dump_ids; i += 2)
			if (ctx->t->dump_ids[i] == c->handle && ctx->t->dump_ids[i + 1] == c->actual)
				found = 1;
		if (!found) {
			c->actual = 0;
			c->handle = 0;
			if (c->desired != 0)
				nftnl_sink_mark_dirty(ctx->s, c);
		}
		break;
	}
	}
}

static void nftnl_sink_target_claims(struct nftnl_sink *s, struct nftnl_target *t, int mode,
				     uint64_t handle)
{
	struct nftnl_claims_ctx ctx = { .s = s, .mode = mode, .handle = handle, .t = t };

	for (struct nftnl_srule *r = s->srules; r; r = r->next)
		if (r->target == t)
			twalk_r(r->claims, nftnl_sink_claims_walk, &ctx);
}

static void nftnl_sink_maybe_reconcile(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (!t->dump_done || !t->settled)
		return;
	if (t->is_set) {
		if (t->exists == 1)
			nftnl_sink_reconcile_set(s, t);
	} else {
		/* a rule we hold a handle for must still be there, with our cgroup id */
		nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_VERIFY, 0);
		if (t->n_orphans > 0)
			nftnl_sink_sweep_orphans(s, t);
	}
	t->dump_done = 0;
	t->n_dump_ids = 0;
}

static void nftnl_sink_dump_msg(struct nftnl_sink *s, struct nftnl_target *t,
				const struct nlmsghdr *nlh)
{
	int err = 0;

	if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
		if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
			memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
		t->dump_seq = 0;
		if (t->initial_dump && err != -EBUSY) {
			/* the chain's held claims go now, adopting what is right, before
			 * anything is swept */
			t->initial_dump = 0;
			nftnl_sink_process_dirty(s);
			nftnl_sink_schedule(s);
		}
		if (err == -ENOENT) {
			t->exists = 0;
			if (!t->warned) {
				t->warned = 1;
				scnpm_warning(s->host, "%s %s %s %s does not exist; filled as soon as it appears",
					      t->is_set ? "Set" : "Chain", nftnl_fam(t), t->table,
					      t->name);
			}
			if (t->is_set)
				nftnl_target_walk(s, t, NFTNL_WALK_GONE);
			else
				nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_ALL, 0);
			t->n_dump_ids = 0;
			return;
		}
		if (err == -EBUSY) {
			/* a dump whose replies an overrun cost us is still running in the
			 * kernel; reading drives it to its end, then this one is retried */
			t->dump_wanted = 1;
			t->n_dump_ids = 0;
			return;
		}
		if (err != 0) {
			scnpm_warning_errno(s->host, err, "Failed to list %s %s %s: %m", nftnl_fam(t),
					    t->table, t->name);
			t->n_dump_ids = 0;
			return;
		}
		if (t->exists != 1) {
			t->exists = 1;
			t->warned = 0;
		}
		t->dump_done = 1;
		nftnl_sink_maybe_reconcile(s, t);
		return;
	}
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return;
	if (t->is_set && NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWSETELEM)
		(void)nlbatch_parse_setelem_ids(nlh, nftnl_on_dump_id, t);
	else if (!t->is_set && NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWRULE) {
		struct nlbatch_dispatch d;
		uint64_t id, handle;

		if (nlbatch_parse_dispatch_rule(nlh, &d, NULL, &id, &handle) == 0) {
			(void)nftnl_target_push_id(t, handle);
			(void)nftnl_target_push_id(t, id);
			if (t->initial_dump && d.tag != 0)
				(void)nftnl_target_push_orphan(t, handle, d.tag, id);
		}
	}
}

/* ---- the command socket ---- */

static struct nftnl_target *nftnl_sink_find_dump(struct nftnl_sink *s, uint32_t seq)
{
	if (seq == 0)
		return NULL;
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump_seq == seq)
			return t;
	return NULL;
}

static void nftnl_sink_nl_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh)
{
	uint32_t seq = nlh->nlmsg_seq;
	struct nftnl_target *t;

	if (s->inflight && seq >= s->inflight_first_seq &&
	    seq - s->inflight_first_seq < s->n_inflight) {
		struct nftnl_op *op = s->inflight[seq - s->inflight_first_seq];

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int) || op->acked)
				return;
			op->acked = 1;
			op->error = e->error;
			s->n_unacked--;
		} else if (op->type == NFTNL_OP_ADD_RULE &&
			   NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
			   NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWRULE) {
			struct nlbatch_object o;

			if (nlbatch_parse_object(nlh, &o) == 0)
				op->handle = o.handle;
		}
		return;
	}
	if (s->inflight && seq == s->inflight_begin_seq && nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		/* the batch as a whole was refused (EPERM, ...) */
		if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int) || e->error == 0)
			return;
		if (e->error == -ERESTART) {
			/* decided on an old generation: nothing was done, send it again */
			s->restart = 1;
			for (size_t i = 0; i < s->n_inflight; i++)
				s->inflight[i]->acked = 1;
			s->n_unacked = 0;
			return;
		}
		for (size_t i = 0; i < s->n_inflight; i++)
			if (!s->inflight[i]->acked) {
				s->inflight[i]->acked = 1;
				s->inflight[i]->error = e->error;
			}
		s->n_unacked = 0;
		return;
	}
	t = nftnl_sink_find_dump(s, seq);
	if (t) {
		nftnl_sink_dump_msg(s, t, nlh);
		if (t->dump_seq == 0)
			nftnl_sink_next_dump(s);
	}
}

static void nftnl_sink_resync(struct nftnl_sink *s)
{
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->n_rules > 0)
			(void)nftnl_sink_request_dump(s, t);
}

/* Read everything queued on fd and hand each message to handle(). Returns 1 when the
 * kernel dropped messages (ENOBUFS: receive buffer overrun), else 0. */
static int nftnl_sink_drain(struct nftnl_sink *s, int fd,
			    void (*handle)(struct nftnl_sink *s, const struct nlmsghdr *nlh),
			    const char *what)
{
	int overrun = 0;

	for (;;) {
		ssize_t n = recv(fd, s->rbuf, NFTNL_SINK_RECV_SIZE, MSG_DONTWAIT | MSG_TRUNC);
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == ENOBUFS) {
				overrun = 1;
				continue;
			}
			scnpm_warning_errno(s->host, -errno, "Failed to read %s: %m", what);
			break;
		}
		if (n > NFTNL_SINK_RECV_SIZE) {
			/* MSG_TRUNC: the datagram was longer than the buffer, its tail is
			 * gone. As good as lost: resync. */
			scnpm_warning(s->host, "Truncated %s message (%zd bytes), resyncing", what, n);
			overrun = 1;
			continue;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)s->rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			handle(s, nlh);
	}
	return overrun;
}

static int nftnl_sink_on_nl(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct nftnl_sink *s = userdata;
	int overrun = nftnl_sink_drain(s, fd, nftnl_sink_nl_msg, "netlink");

	/* The kernel queues every ack of a batch while the batch is being sent, so what
	 * is missing now was lost to an overrun. */
	if (s->inflight && s->n_unacked > 0) {
		scnpm_warning(s->host, "Lost %zu acks of %zu (receive buffer overrun), resyncing",
			      s->n_unacked, s->n_inflight);
		overrun = 1;
	}
	if (overrun) {
		for (struct nftnl_target *t = s->targets; t; t = t->next)
			t->dump_seq = 0; /* its replies may be lost too */
		nftnl_sink_resync(s);
	}
	if (s->inflight && (s->n_unacked == 0 || overrun))
		nftnl_sink_batch_complete(s);
	return 0;
}

/* ---- notifications ---- */

static int nftnl_target_matches(const struct nftnl_target *t, const struct nlbatch_object *o,
				int is_set, int check_name)
{
	return t->n_rules > 0 && t->family == o->family && strcmp(t->table, o->table) == 0 &&
	       (is_set < 0 || t->is_set == is_set) && (!check_name || strcmp(t->name, o->name) == 0);
}

static void nftnl_sink_target_gone(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (t->exists == 1)
		scnpm_notice(s->host, "%s %s %s %s was deleted; filled again when it comes back",
			     t->is_set ? "Set" : "Chain", nftnl_fam(t), t->table, t->name);
	t->exists = 0;
	t->warned = 1;
	if (t->is_set)
		nftnl_target_walk(s, t, NFTNL_WALK_GONE);
	else
		nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_ALL, 0);
}

static void nftnl_sink_target_back(struct nftnl_sink *s, struct nftnl_target *t)
{
	unsigned n;

	t->exists = 1;
	t->warned = 0;
	if (t->is_set) {
		n = nftnl_target_walk(s, t, NFTNL_WALK_REFILL);
		scnpm_notice(s->host, "Set %s %s %s appeared; adding %u cgroup ids", nftnl_fam(t),
			     t->table, t->name, n);
	} else {
		nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_REDO, 0);
		scnpm_notice(s->host, "Chain %s %s %s appeared; adding its rules", nftnl_fam(t),
			     t->table, t->name);
	}
}

static void nftnl_sink_mon_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh)
{
	struct nlbatch_object o;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
	    NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN) {
		/* every commit, ours included, ends with one */
		const struct nlattr *a;

		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
			if (mnl_attr_get_type(a) == NFTA_GEN_ID &&
			    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				s->genid = ntohl(mnl_attr_get_u32(a));
		return;
	}
	if (nlh->nlmsg_pid == s->portid && s->portid != 0)
		return; /* caused by our own batches */
	if (nlbatch_parse_object(nlh, &o) < 0)
		return;

	for (struct nftnl_target *t = s->targets; t; t = t->next) {
		switch (o.msg) {
		case NFT_MSG_DELTABLE:
			if (nftnl_target_matches(t, &o, -1, 0))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_DELSET:
			if (nftnl_target_matches(t, &o, 1, 1))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_DELCHAIN:
			if (nftnl_target_matches(t, &o, 0, 1))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_NEWSET:
			if (nftnl_target_matches(t, &o, 1, 1))
				nftnl_sink_target_back(s, t);
			break;
		case NFT_MSG_NEWCHAIN:
			if (nftnl_target_matches(t, &o, 0, 1))
				nftnl_sink_target_back(s, t);
			else if (nftnl_target_matches(t, &o, 1, 0) && t->exists == 1)
				/* a verdict map element may have failed for want of it */
				nftnl_target_walk(s, t, NFTNL_WALK_RETRY_FAILED);
			break;
		case NFT_MSG_DELRULE:
			if (nftnl_target_matches(t, &o, 0, 1) && o.handle != 0)
				nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_HANDLE, o.handle);
			break;
		case NFT_MSG_DELSETELEM:
			/* flush set, or elements deleted by hand: list the set, add back what
			 * is missing (once per burst: one dump at a time) */
			if (nftnl_target_matches(t, &o, 1, 1) && t->exists == 1 && t->dump_seq == 0) {
				scnpm_info(s->host, "Elements of set %s %s %s were deleted, checking it",
					   nftnl_fam(t), t->table, t->name);
				(void)nftnl_sink_request_dump(s, t);
			}
			break;
		}
	}
}

static int nftnl_sink_on_mon(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct nftnl_sink *s = userdata;
	int overrun = nftnl_sink_drain(s, fd, nftnl_sink_mon_msg, "nf_tables notifications");
	if (overrun) {
		scnpm_warning(s->host, "Lost nf_tables notifications (receive buffer overrun), resyncing");
		nftnl_sink_resync(s);
	}
	return 0;
}

/* ---- deferred work ---- */

static int nftnl_sink_on_flush(sd_event_source *es, void *userdata)
{
	struct nftnl_sink *s = userdata;

	nftnl_sink_process_dirty(s);
	nftnl_sink_send_batch(s);
	return 0;
}

static void nftnl_sink_schedule(struct nftnl_sink *s)
{
	if (s->flush_source)
		(void)sd_event_source_set_enabled(s->flush_source, SD_EVENT_ONESHOT);
}

/* Runs at idle priority once after start() (and after a rule naming a new set was
 * added): by then the core has made its initial apply() calls, which it makes from
 * normal-priority sources in the first iterations, so an id nobody claimed is stale. */
static int nftnl_sink_on_settle(sd_event_source *es, void *userdata)
{
	struct nftnl_sink *s = userdata;

	for (struct nftnl_target *t = s->targets; t; t = t->next) {
		if (!t->want_settle)
			continue;
		t->want_settle = 0;
		t->settled = 1;
		nftnl_sink_maybe_reconcile(s, t);
	}
	return 0;
}

static void nftnl_sink_watch_target(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (!s->started)
		return;
	/* sets: stale ids go; chains: rules an earlier run left are adopted or go */
	if (!t->is_set)
		t->initial_dump = 1;
	(void)nftnl_sink_request_dump(s, t);
	if (!t->is_set && t->dump_seq == 0 && !t->dump_wanted)
		t->initial_dump = 0; /* could not ask: do not hold its claims */
	t->want_settle = 1;
	if (s->settle_source)
		(void)sd_event_source_set_enabled(s->settle_source, SD_EVENT_ONESHOT);
}

/* ---- rules ---- */

static struct nftnl_target *nftnl_sink_get_target(struct nftnl_sink *s, int is_set, int family,
						  const char *table, const char *name)
{
	struct nftnl_target *t;

	for (t = s->targets; t; t = t->next)
		if (t->is_set == is_set && t->family == family && strcmp(t->table, table) == 0 &&
		    strcmp(t->name, name) == 0)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->table = strdup(table);
	t->name = strdup(name);
	if (!t->table || !t->name) {
		free(t->table);
		free(t->name);
		free(t);
		return NULL;
	}
	t->is_set = is_set;
	t->family = family;
	t->exists = -1;
	t->settled = !is_set;
	t->next = s->targets;
	s->targets = t;
	return t;
}

static struct nftnl_srule *nftnl_sink_find_srule(struct nftnl_sink *s,
						 const struct scnpm_rule *rule)
{
	for (struct nftnl_srule *r = s->srules; r; r = r->next)
		if (r->rule == rule)
			return r;
	return NULL;
}

static int nftnl_sink_refuse(struct nftnl_sink *s, const struct scnpm_rule *rule)
{
	s->host->report(s->host, rule, NULL, SCNPM_RESULT_REFUSED,
			"sink-nftnl expresses only element directives and 'socket cgroupv2 level N %%{cgroup} VERDICT' rules; use --sink nft");
	return -EOPNOTSUPP;
}

static int nftnl_sink_rule_add(void *state, const struct scnpm_rule *rule)
{
	struct nftnl_sink *s = state;
	struct nftnl_srule *r;
	struct nftnl_target *t;
	struct nlbatch_verdict v = {};
	struct nlbatch_dispatch d = {};
	int family, is_element;

	if (!s || !rule)
		return -EINVAL;
	if (nftnl_sink_find_srule(s, rule))
		return 0;
	family = nlbatch_family_from_string(rule->family);
	if (family < 0 || !rule->table || !rule->name || !rule->body ||
	    strlen(rule->table) >= NFT_TABLE_MAXNAMELEN || strlen(rule->name) >= NFT_NAME_MAXLEN ||
	    !*rule->table || !*rule->name)
		return nftnl_sink_refuse(s, rule);

	if (rule->object == SCNPM_OBJECT_ELEMENT) {
		if (nlbatch_parse_element_body(rule->body, &v) < 0)
			return nftnl_sink_refuse(s, rule);
		is_element = 1;
	} else if (rule->object == SCNPM_OBJECT_RULE) {
		if (nlbatch_parse_dispatch_body(rule->body, &d) < 0)
			return nftnl_sink_refuse(s, rule);
		if ((d.verdict.kind == NLBATCH_VERDICT_JUMP || d.verdict.kind == NLBATCH_VERDICT_GOTO) &&
		    strlen(d.verdict.chain) >= NFT_CHAIN_MAXNAMELEN)
			return nftnl_sink_refuse(s, rule);
		is_element = 0;
	} else
		return nftnl_sink_refuse(s, rule);

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	t = nftnl_sink_get_target(s, is_element, family, rule->table, rule->name);
	if (!t) {
		free(r);
		return -ENOMEM;
	}
	r->rule = rule;
	r->is_element = is_element;
	r->target = t;
	r->verdict = v;
	r->dispatch = d;
	r->next = s->srules;
	s->srules = r;
	if (t->n_rules++ == 0)
		nftnl_sink_watch_target(s, t);
	return 0;
}

static void nftnl_sink_claim_free(struct nftnl_sink *s, struct nftnl_claim *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < s->n_dirty; i++)
		if (s->dirty[i] == c)
			s->dirty[i] = NULL;
	free(c->unit);
	free(c->ev_path);
	free(c);
}

/* Detach the claim from every op that reports for it. */
static void nftnl_sink_claim_detach(struct nftnl_sink *s, struct nftnl_claim *c)
{
	for (struct nftnl_op *op = s->queue; op; op = op->next)
		if (op->claim == c) {
			op->claim = NULL;
			if (op->type == NFTNL_OP_ADD_RULE)
				op->cancelled = 1;
		}
	for (size_t i = 0; i < s->n_inflight; i++)
		if (s->inflight[i]->claim == c)
			s->inflight[i]->claim = NULL;
	c->pending = 0;
}

/* Withdraw what a claim holds, then free it. */
static void nftnl_sink_claim_withdraw(struct nftnl_sink *s, struct nftnl_claim *c)
{
	struct nftnl_target *t = c->srule->target;

	nftnl_sink_claim_detach(s, c);
	if (c->srule->is_element) {
		if (c->actual != 0)
			nftnl_sink_release(s, t, c->actual, NULL);
	} else if (c->actual != 0 && c->handle != 0) {
		struct nftnl_op *op = nftnl_sink_queue_op(s, NFTNL_OP_DEL_RULE, t, c->actual, NULL);

		if (op)
			op->handle = c->handle;
	}
	nftnl_sink_claim_free(s, c);
}

static void nftnl_sink_srule_free(struct nftnl_sink *s, struct nftnl_srule *r, int withdraw)
{
	while (r->claims) {
		struct nftnl_claim *c = *(struct nftnl_claim **)r->claims;

		tdelete(c, &r->claims, nftnl_claim_cmp);
		if (withdraw)
			nftnl_sink_claim_withdraw(s, c);
		else
			nftnl_sink_claim_free(s, c);
	}
	free(r);
}

static void nftnl_sink_rule_remove(void *state, const struct scnpm_rule *rule)
{
	struct nftnl_sink *s = state;
	struct nftnl_srule **p;

	if (!s)
		return;
	for (p = &s->srules; *p; p = &(*p)->next) {
		struct nftnl_srule *r = *p;

		if (r->rule != rule)
			continue;
		*p = r->next;
		r->target->n_rules--;
		nftnl_sink_srule_free(s, r, 1);
		nftnl_sink_schedule(s);
		return;
	}
}

static struct nftnl_claim *nftnl_sink_get_claim(struct nftnl_srule *r,
						const struct scnpm_event *unit, int create)
{
	struct nftnl_claim key = { .manager = unit->manager, .uid = unit->uid, .unit = (char *)unit->unit };
	struct nftnl_claim *c;
	void **p = tfind(&key, &r->claims, nftnl_claim_cmp);

	if (p)
		return *p;
	if (!create)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srule = r;
	c->manager = unit->manager;
	c->uid = unit->uid;
	c->unit = strdup(unit->unit);
	if (!c->unit || !tsearch(c, &r->claims, nftnl_claim_cmp)) {
		free(c->unit);
		free(c);
		return NULL;
	}
	return c;
}

static int nftnl_claim_set_event(struct nftnl_claim *c, const struct scnpm_event *unit)
{
	char *path = NULL;

	if (unit->cgroup_path) {
		path = strdup(unit->cgroup_path);
		if (!path)
			return -ENOMEM;
	}
	free(c->ev_path);
	c->ev_path = path;
	c->ev = (struct scnpm_event){
		.size = sizeof(struct scnpm_event),
		.change = unit->change,
		.unit = c->unit,
		.manager = unit->manager,
		.uid = unit->uid,
		.cgroup_path = path,
		.cgroup_id = unit->cgroup_id,
		.cgroup_level = SCNPM_HAS(unit, struct scnpm_event, cgroup_level) ? unit->cgroup_level : 0,
		.timestamp = SCNPM_HAS(unit, struct scnpm_event, timestamp) ? unit->timestamp : 0,
	};
	return 0;
}

static int nftnl_sink_apply(void *state, const struct scnpm_event *unit,
			    const struct scnpm_rule *const *rules, size_t n_rules)
{
	struct nftnl_sink *s = state;
	uint64_t id = 0;
	int r, n_ok = 0, resolved;

	if (!s || !unit || !unit->unit || (n_rules > 0 && !rules))
		return -EINVAL;

	if (unit->change == SCNPM_UNIT_STOPPED)
		resolved = 0;
	else {
		resolved = nftnl_sink_resolve(s, unit, &id);
		if (resolved < 0 && resolved != -ENODATA)
			scnpm_debug_errno(s->host, resolved, "Failed to find the cgroup of '%s': %m",
					  unit->unit);
	}

	for (size_t i = 0; i < n_rules; i++) {
		struct nftnl_srule *sr = nftnl_sink_find_srule(s, rules[i]);
		struct nftnl_claim *c;
		uint32_t level = 0;
		uint64_t want;

		if (!sr) {
			s->host->report(s->host, rules[i], unit, SCNPM_RESULT_FAILED,
					"rule was not added to sink-nftnl");
			continue;
		}
		c = nftnl_sink_get_claim(sr, unit, unit->change != SCNPM_UNIT_STOPPED);
		if (!c) {
			if (unit->change == SCNPM_UNIT_STOPPED) {
				s->host->report(s->host, rules[i], unit, SCNPM_RESULT_APPLIED, NULL);
				n_ok++;
			} else
				s->host->report(s->host, rules[i], unit, SCNPM_RESULT_FAILED,
						"out of memory");
			continue;
		}
		r = nftnl_claim_set_event(c, unit);
		if (r < 0) {
			s->host->report(s->host, rules[i], unit, SCNPM_RESULT_FAILED, "out of memory");
			continue;
		}
		n_ok++;
		c->report_owed = 1;
		c->stopped = unit->change == SCNPM_UNIT_STOPPED;

		if (resolved == -ENODATA) {
			/* The source does not know where the unit lives: keep what is
			 * applied, it is the best knowledge there is. */
			nftnl_claim_result(c, c->actual ? SCNPM_RESULT_APPLIED : SCNPM_RESULT_SKIPPED,
					   c->actual ? NULL : "cgroup of the unit not known");
			nftnl_sink_mark_dirty(s, c);
			continue;
		}
		if (resolved < 0) {
			nftnl_claim_result(c, SCNPM_RESULT_FAILED, "cannot find cgroup '%s': %s",
					   unit->cgroup_path ? unit->cgroup_path : "",
					   strerror(-resolved));
			nftnl_sink_mark_dirty(s, c);
			continue;
		}
		want = id;
		if (!sr->is_element && want != 0) {
			level = sr->dispatch.level;
			if (level == 0)
				level = c->ev.cgroup_level ? c->ev.cgroup_level :
							     scnpm_cgroup_path_level(unit->cgroup_path);
			if (level == 0 || level > 255) {
				nftnl_claim_result(c, SCNPM_RESULT_FAILED,
						   "level of the cgroup of '%s' not known", unit->unit);
				want = 0;
			}
		}
		c->desired = want;
		c->desired_level = level;
		if (want == 0 && !c->stopped)
			nftnl_claim_result(c, SCNPM_RESULT_SKIPPED, "the unit has no cgroup");
		nftnl_sink_mark_dirty(s, c);
	}
	return n_rules > 0 && n_ok == 0 ? -EIO : 0;
}

/* ---- flush ---- */

static void nftnl_mnl_socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

/* Synchronous, on a socket of its own: the core waits for the answer (--flush runs
 * before the initial reconcile). */
static int nftnl_sink_flush(void *state, const struct scnpm_rule *rule)
{
	struct nftnl_sink *s = state;
	__attribute__((cleanup(nftnl_mnl_socket_closep))) struct mnl_socket *nl = NULL;
	struct nlbatch_buf b = {};
	struct timeval tv = { .tv_sec = 5 };
	struct nftnl_srule *sr;
	struct nftnl_target *t;
	uint32_t seq = s ? s->seq++ : 0, msg_seq;
	char buf[8192];
	int r;

	if (!s || !rule)
		return -EINVAL;
	sr = nftnl_sink_find_srule(s, rule);
	if (!sr)
		return -EINVAL;
	t = sr->target;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	msg_seq = s->seq++;
	r = nlbatch_begin(&b, seq);
	if (r >= 0)
		r = t->is_set ? nlbatch_put_flush_set(&b, t->family, t->table, t->name, msg_seq) :
				nlbatch_put_delrule(&b, t->family, t->table, t->name, 0, msg_seq);
	if (r >= 0)
		r = nlbatch_end(&b, s->seq++);
	if (r >= 0 && mnl_socket_sendto(nl, b.data, b.len) < 0)
		r = -errno;
	nlbatch_buf_done(&b);
	if (r < 0)
		return r;

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		const struct nlmsghdr *nlh;
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    (nlh->nlmsg_seq != msg_seq && nlh->nlmsg_seq != seq))
				continue;
			if (e->error != 0)
				return e->error;
			if (nlh->nlmsg_seq != msg_seq)
				continue;
			/* what we believed in the kernel is gone */
			if (t->is_set)
				nftnl_target_walk(s, t, NFTNL_WALK_GONE);
			else
				nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_ALL, 0);
			scnpm_debug(s->host, "Flushed %s %s %s %s", t->is_set ? "set" : "chain",
				    nftnl_fam(t), t->table, t->name);
			return 0;
		}
	}
}

/* ---- lifecycle ---- */

static int nftnl_sink_init(const struct scnpm_host *h, void **ret_state)
{
	struct nftnl_sink *s;
	const char *root;
	int r;

	if (!h || !ret_state)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;
	s->seq = 1;
	s->batch_budget = NFTNL_SINK_BATCH_BYTES;
	s->rbuf = malloc(NFTNL_SINK_RECV_SIZE);
	if (!s->rbuf) {
		free(s);
		return -ENOMEM;
	}

	root = h->option ? h->option(h, "cgroup-root") : NULL;
	if (root && *root) {
		s->cgroup_root = strdup(root);
		if (!s->cgroup_root) {
			free(s->rbuf);
			free(s);
			return -ENOMEM;
		}
	} else {
		r = nftnl_sink_find_cgroup_root(&s->cgroup_root);
		if (r < 0)
			scnpm_warning_errno(h, r, "No cgroup2 mount found; cgroup paths cannot be resolved (set cgroup-root=): %m");
	}
	scnpm_debug(h, "cgroup2 root: %s", s->cgroup_root ? s->cgroup_root : "(none)");
	*ret_state = s;
	return 0;
}

static void nftnl_sink_set_bufs(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl), size = NFTNL_SINK_RCVBUF, snd = NFTNL_SINK_SNDBUF;

	/* The *FORCE options need CAP_NET_ADMIN, which writing nf_tables needs anyway;
	 * nft raises its send buffer the same way for big batches. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
}

static int nftnl_sink_open(struct mnl_socket **ret, unsigned group)
{
	__attribute__((cleanup(nftnl_mnl_socket_closep))) struct mnl_socket *nl = NULL;
	int one = 1;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (group != 0 &&
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return -errno;
	nftnl_sink_set_bufs(nl);
	*ret = TAKE_PTR(nl);
	return 0;
}

static int nftnl_sink_start(void *state)
{
	struct nftnl_sink *s = state;
	sd_event *e;
	int r;

	if (!s)
		return -EINVAL;
	e = s->host->event;

	r = nftnl_sink_open(&s->nl, 0);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to open netlink socket: %m");
	s->portid = mnl_socket_get_portid(s->nl);
	r = nftnl_sink_open(&s->mon, NFNLGRP_NFTABLES);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to subscribe to nf_tables notifications: %m");
	/* after subscribing: every later commit is seen as a NEWGEN */
	if (nftnl_sink_get_genid(&s->genid) < 0)
		s->genid = 0; /* batches go without the check */

	r = sd_event_add_io(e, &s->nl_source, mnl_socket_get_fd(s->nl), EPOLLIN, nftnl_sink_on_nl, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to watch netlink socket: %m");
	(void)sd_event_source_set_description(s->nl_source, "sink-nftnl-netlink");
	r = sd_event_add_io(e, &s->mon_source, mnl_socket_get_fd(s->mon), EPOLLIN, nftnl_sink_on_mon, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to watch nf_tables notifications: %m");
	(void)sd_event_source_set_description(s->mon_source, "sink-nftnl-monitor");

	r = sd_event_add_defer(e, &s->flush_source, nftnl_sink_on_flush, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to add defer source: %m");
	(void)sd_event_source_set_description(s->flush_source, "sink-nftnl-flush");
	/* after the core's normal-priority sources, so that one iteration's applies
	 * coalesce into one batch */
	(void)sd_event_source_set_priority(s->flush_source, SD_EVENT_PRIORITY_NORMAL + 10);
	(void)sd_event_source_set_enabled(s->flush_source, SD_EVENT_OFF);

	r = sd_event_add_defer(e, &s->settle_source, nftnl_sink_on_settle, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to add defer source: %m");
	(void)sd_event_source_set_description(s->settle_source, "sink-nftnl-settle");
	(void)sd_event_source_set_priority(s->settle_source, SD_EVENT_PRIORITY_IDLE);
	(void)sd_event_source_set_enabled(s->settle_source, SD_EVENT_OFF);

	s->started = 1;
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->n_rules > 0)
			nftnl_sink_watch_target(s, t);
	if (s->queue || s->n_dirty > 0)
		nftnl_sink_schedule(s);
	return 0;
}

static void nftnl_target_free(struct nftnl_target *t)
{
	if (t)
		free(t->orphans);
	tdestroy(t->elems, free);
	free(t->dump_ids);
	free(t->table);
	free(t->name);
	free(t);
}

static void nftnl_sink_done(void *state)
{
	struct nftnl_sink *s = state;

	if (!s)
		return;
	s->nl_source = sd_event_source_disable_unref(s->nl_source);
	s->mon_source = sd_event_source_disable_unref(s->mon_source);
	s->flush_source = sd_event_source_disable_unref(s->flush_source);
	s->settle_source = sd_event_source_disable_unref(s->settle_source);

	while (s->queue) {
		struct nftnl_op *op = s->queue;

		s->queue = op->next;
		free(op);
	}
	for (size_t i = 0; i < s->n_inflight; i++)
		free(s->inflight[i]);
	free(s->inflight);
	while (s->srules) {
		struct nftnl_srule *r = s->srules;

		s->srules = r->next;
		nftnl_sink_srule_free(s, r, 0);
	}
	while (s->targets) {
		struct nftnl_target *t = s->targets;

		s->targets = t->next;
		nftnl_target_free(t);
	}
	if (s->nl)
		mnl_socket_close(s->nl);
	if (s->mon)
		mnl_socket_close(s->mon);
	nlbatch_buf_done(&s->batch);
	free(s->dirty);
	free(s->rbuf);
	free(s->cgroup_root);
	free(s);
}

static const char *const nftnl_sink_options[] = { "cgroup-root", NULL };

SCNPM_MODULE_DEFINE = {
	.abi = SCNPM_MODULE_ABI,
	.size = sizeof(struct scnpm_module),
	.kind = SCNPM_MODULE_SINK,
	.name = "sink-nftnl",
	.description = "cgroup ids in nftables sets and verdict maps, and socket cgroupv2 rules, over raw netlink",
	.options = nftnl_sink_options,
	.init = nftnl_sink_init,
	.start = nftnl_sink_start,
	.done = nftnl_sink_done,
	.rule_add = nftnl_sink_rule_add,
	.rule_remove = nftnl_sink_rule_remove,
	.apply = nftnl_sink_apply,
	.flush = nftnl_sink_flush,
};
