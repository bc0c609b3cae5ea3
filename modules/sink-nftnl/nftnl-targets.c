/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sink-nftnl: managed sets and chains, their dumps, reconciliation and adoption. */
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



#include "sink-nftnl.h"

/* ---- dumps and reconciliation ---- */

/* A netlink socket runs one dump at a time: the kernel answers a second request with
 * EBUSY while the first has not ended. Dumps are therefore sent one after the other;
 * the next one starts when the running one ends (nftnl_sink_next_dump()). */
int nftnl_sink_request_dump(struct nftnl_sink *s, struct nftnl_target *t)
{
	char buf[8192];
	ssize_t len;
	uint32_t seq;
	int r;

	if (t->dump == NFTNL_DUMP_RUNNING || !s->nl)
		return 0;
	for (struct nftnl_target *o = s->targets; o; o = o->next)
		if (o->dump == NFTNL_DUMP_RUNNING) {
			t->dump = NFTNL_DUMP_QUEUED;
			return 0;
		}
	t->dump = NFTNL_DUMP_NONE;
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
	t->dump = NFTNL_DUMP_RUNNING;
	t->dump_seq = seq;
	t->dump_req_seq = seq;
	t->n_dump_ids = 0;
	return 0;
}

void nftnl_sink_next_dump(struct nftnl_sink *s)
{
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump == NFTNL_DUMP_RUNNING)
			return;
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump == NFTNL_DUMP_QUEUED) {
			(void)nftnl_sink_request_dump(s, t);
			if (t->dump == NFTNL_DUMP_RUNNING)
				return;
		}
}

int nftnl_target_push_id(struct nftnl_target *t, uint64_t id)
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

int nftnl_target_push_orphan(struct nftnl_target *t, uint64_t handle, uint64_t tag,
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
void nftnl_sink_sweep_orphans(struct nftnl_sink *s, struct nftnl_target *t)
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

void nftnl_on_dump_id(uint64_t id, void *data)
{
	(void)nftnl_target_push_id(data, id);
}


void nftnl_elem_walk(const void *node, VISIT which, void *data)
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

unsigned nftnl_target_walk(struct nftnl_sink *s, struct nftnl_target *t, int mode)
{
	struct nftnl_walk_ctx ctx = { .s = s, .t = t, .mode = mode };
	struct nftnl_elem *e;
	size_t i = 0;

	while ((e = scnpm_htable_iterate(&t->elems, &i, NULL)))
		nftnl_elem_walk(&e, leaf, &ctx);
	return ctx.n;
}

/* The set holds exactly the ids claimed: add what is missing, remove what nobody
 * claims (the set belongs to scnpm). */
void nftnl_sink_reconcile_set(struct nftnl_sink *s, struct nftnl_target *t)
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
	/* what the sink believed in the kernel and the listing lacks: deleted by others */
	if (t->settle == NFTNL_SETTLED)
		nftnl_sink_count_restored(s, n_add);
	if (n_del > 0 || n_add > 0)
		scnpm_info(s->host, "Reconciling %s %s %s: removing %u stale, adding %u missing cgroup ids",
			   nftnl_fam(t), t->table, t->name, n_del, n_add);
	t->dump = NFTNL_DUMP_NONE;
	t->n_dump_ids = 0;
}



void nftnl_sink_claims_walk(const void *node, VISIT which, void *data)
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
				nftnl_sink_count_restored(ctx->s, 1);
				c->restoring = 1;
				c->report_owed = 1;
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

void nftnl_sink_target_claims(struct nftnl_sink *s, struct nftnl_target *t, int mode,
				     uint64_t handle)
{
	struct nftnl_claims_ctx ctx = { .s = s, .mode = mode, .handle = handle, .t = t };

	for (struct nftnl_srule *r = s->srules; r; r = r->next) {
		struct nftnl_claim *c;
		size_t i = 0;

		if (r->target != t)
			continue;
		while ((c = scnpm_htable_iterate(&r->claims, &i, NULL)))
			nftnl_sink_claims_walk(&c, leaf, &ctx);
	}
}

void nftnl_sink_maybe_reconcile(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (t->dump != NFTNL_DUMP_DONE || t->settle != NFTNL_SETTLED)
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
	t->dump = NFTNL_DUMP_NONE;
	t->n_dump_ids = 0;
}

void nftnl_sink_dump_msg(struct nftnl_sink *s, struct nftnl_target *t,
				const struct nlmsghdr *nlh)
{
	int err = 0;

	if (nlh->nlmsg_type == NLMSG_ERROR || nlh->nlmsg_type == NLMSG_DONE) {
		if (nlbatch_parse_error(nlh, &err) < 0)
			err = 0;
		t->dump = NFTNL_DUMP_NONE;
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
			t->dump = NFTNL_DUMP_QUEUED;
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
		t->dump = NFTNL_DUMP_DONE;
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

int nftnl_sink_on_settle(sd_event_source *es, void *userdata)
{
	struct nftnl_sink *s = userdata;

	for (struct nftnl_target *t = s->targets; t; t = t->next) {
		if (t->settle != NFTNL_SETTLE_WANTED)
			continue;
		t->settle = NFTNL_SETTLED;
		nftnl_sink_maybe_reconcile(s, t);
	}
	return 0;
}

void nftnl_sink_watch_target(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (!s->started)
		return;
	/* sets: stale ids go; chains: rules an earlier run left are adopted or go */
	if (!t->is_set)
		t->initial_dump = 1;
	(void)nftnl_sink_request_dump(s, t);
	if (!t->is_set && t->dump != NFTNL_DUMP_RUNNING && t->dump != NFTNL_DUMP_QUEUED)
		t->initial_dump = 0; /* could not ask: do not hold its claims */
	if (t->settle != NFTNL_SETTLED)
		t->settle = NFTNL_SETTLE_WANTED;
	if (s->settle_source)
		(void)sd_event_source_set_enabled(s->settle_source, SD_EVENT_ONESHOT);
}

/* ---- rules ---- */

struct nftnl_target *nftnl_sink_get_target(struct nftnl_sink *s, int is_set, int family,
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
	/* a chain's listing is checked (and an earlier run's rules adopted or swept) as
	 * soon as it is in: the claims it holds back are processed first */
	t->settle = is_set ? NFTNL_SETTLE_NO : NFTNL_SETTLED;
	t->next = s->targets;
	s->targets = t;
	return t;
}

struct nftnl_srule *nftnl_sink_find_srule(struct nftnl_sink *s,
						 const struct scnpm_rule *rule)
{
	for (struct nftnl_srule *r = s->srules; r; r = r->next)
		if (r->rule == rule)
			return r;
	return NULL;
}

