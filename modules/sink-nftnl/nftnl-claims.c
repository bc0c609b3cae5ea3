/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sink-nftnl: claims, elements and their references, the dirty list, reports. */
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

const struct nlbatch_verdict *nftnl_sink_verdict(struct nftnl_sink *s, const struct nlbatch_verdict *v)
{
	struct nftnl_verdict *x;

	for (x = s->verdicts; x; x = x->next)
		if (nlbatch_verdict_equal(&x->v, v))
			return &x->v;
	x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->v = *v;
	x->next = s->verdicts;
	s->verdicts = x;
	return &x->v;
}

/* Claims are keyed by (manager, uid, unit): the claim itself is the key. */
int nftnl_claim_eq(const void *a, const void *b)
{
	const struct nftnl_claim *x = a, *y = b;

	return x->manager == y->manager && x->uid == y->uid && strcmp(x->unit, y->unit) == 0;
}

uint64_t nftnl_claim_hash(uint32_t manager, uint32_t uid, const char *unit)
{
	return scnpm_hash_final(scnpm_hash_str(unit) ^ ((uint64_t)manager << 32 | uid));
}

const char *nftnl_fam(const struct nftnl_target *t)
{
	return nlbatch_family_to_string(t->family);
}

/* ---- cgroups ---- */

int nftnl_sink_find_cgroup_root(char **ret)
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
int nftnl_sink_resolve(struct nftnl_sink *s, const struct scnpm_event *unit,
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


/* Keeps the worst outcome until the claim's report goes out. */
void nftnl_claim_result(struct nftnl_claim *c, uint32_t result, const char *fmt, ...)
{
	va_list ap;

	if (c->result == SCNPM_RESULT_FAILED)
		return;
	if (c->result == SCNPM_RESULT_SKIPPED && result == SCNPM_RESULT_APPLIED)
		return;
	c->result = result;
	free(c->message);
	c->message = NULL;
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&c->message, fmt, ap) < 0)
			c->message = NULL;
		va_end(ap);
	}
}


/* Report if nothing is pending. May free the claim (a stopped unit with nothing left). */
void nftnl_sink_claim_maybe_report(struct nftnl_sink *s, struct nftnl_claim *c)
{
	uint32_t result = c->result ? c->result : SCNPM_RESULT_APPLIED;

	if (c->pending > 0 || c->dirty || !c->report_owed)
		return;
	c->report_owed = 0;
	/* back unasked: the core logs it per unit (a host older than ABI 1.1 hears APPLIED) */
	if (c->restoring && result == SCNPM_RESULT_APPLIED && c->actual != 0 &&
	    SCNPM_HAS(s->host, struct scnpm_host, health_put) && s->host->health_put)
		result = SCNPM_RESULT_RESTORED;
	c->restoring = 0;
	s->host->report(s->host, c->srule->rule, &c->ev, result, "%s", c->message ? c->message : "");
	c->result = 0;
	free(c->message);
	c->message = NULL;
	if (c->stopped && c->actual == 0 && c->desired == 0 && !c->dirty) {
		scnpm_htable_remove(&c->srule->claims, nftnl_claim_hash(c->manager, c->uid, c->unit),
				    nftnl_claim_eq, c);
		nftnl_sink_claim_free(s, c);
	}
}

/* ---- op queue ---- */

struct nftnl_op *nftnl_sink_queue_op(struct nftnl_sink *s, int type, struct nftnl_target *t,
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

struct nftnl_elem *nftnl_target_find_elem(struct nftnl_target *t, uint64_t id)
{
	return scnpm_htable_get(&t->elems, scnpm_hash_u64(id), scnpm_htable_eq_u64, &id);
}

void nftnl_sink_add_elem(struct nftnl_sink *s, struct nftnl_target *t,
				struct nftnl_elem *e, struct nftnl_claim *c)
{
	struct nftnl_op *op = nftnl_sink_queue_op(s, NFTNL_OP_ADD_ELEM, t, e->id, c);

	if (!op)
		return;
	op->verdict = e->verdict;
	e->adding = 1;
}

/* A claim stops wanting id in t. */
void nftnl_sink_release(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			       struct nftnl_claim *c)
{
	struct nftnl_elem *e = nftnl_target_find_elem(t, id);

	if (!e || e->refs == 0)
		return;
	if (--e->refs > 0)
		return;
	if ((e->in_kernel || e->adding) && t->exists != 0)
		nftnl_sink_queue_op(s, NFTNL_OP_DEL_ELEM, t, id, c);
	scnpm_htable_remove(&t->elems, scnpm_hash_u64(id), scnpm_htable_eq_u64, &id);
	free(e);
}

/* A claim starts wanting id in t. */
void nftnl_sink_take(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			    struct nftnl_claim *c)
{
	const struct nlbatch_verdict *v = c->srule->iverdict;
	struct nftnl_elem *e = nftnl_target_find_elem(t, id);
	char a[NFT_CHAIN_MAXNAMELEN + 8], b[NFT_CHAIN_MAXNAMELEN + 8];

	if (!e) {
		e = calloc(1, sizeof(*e));
		if (e) {
			e->id = id;
			e->verdict = v;
		}
		if (!e || scnpm_htable_put(&t->elems, scnpm_hash_u64(id), scnpm_htable_eq_u64,
					   &e->id, e) < 0) {
			free(e);
			nftnl_claim_result(c, SCNPM_RESULT_FAILED, "out of memory");
			return;
		}
	} else if (e->refs > 0 && e->verdict != v) {
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "cgroup %" PRIu64 " is already mapped to '%s' in %s %s %s by another rule, not to '%s'",
				   id, nlbatch_verdict_to_string(e->verdict, a, sizeof(a)), nftnl_fam(t),
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

void nftnl_sink_process_elem_claim(struct nftnl_sink *s, struct nftnl_claim *c)
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
uint64_t nftnl_claim_tag(const struct nftnl_claim *c)
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
int nftnl_sink_adopt(struct nftnl_sink *s, struct nftnl_claim *c, uint64_t tag)
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

void nftnl_sink_process_rule_claim(struct nftnl_sink *s, struct nftnl_claim *c)
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
			op->verdict = c->srule->iverdict;
			op->counter = c->srule->dispatch.counter;
			op->tag = nftnl_claim_tag(c);
		}
	}
}

/* Turns the dirty claims into queued ops. Dispatch claims with ops in flight wait (their
 * handle may not be known yet) and stay dirty. */
void nftnl_sink_process_dirty(struct nftnl_sink *s)
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

void nftnl_sink_mark_dirty(struct nftnl_sink *s, struct nftnl_claim *c)
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

void nftnl_sink_claim_free(struct nftnl_sink *s, struct nftnl_claim *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < s->n_dirty; i++)
		if (s->dirty[i] == c)
			s->dirty[i] = NULL;
	free(c->unit);
	free(c->ev_path);
	free(c->message);
	free(c);
}

/* Detach the claim from every op that reports for it. */
void nftnl_sink_claim_detach(struct nftnl_sink *s, struct nftnl_claim *c)
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
void nftnl_sink_claim_withdraw(struct nftnl_sink *s, struct nftnl_claim *c)
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

void nftnl_sink_srule_free(struct nftnl_sink *s, struct nftnl_srule *r, int withdraw)
{
	struct nftnl_claim *c;
	size_t i = 0;

	/* the table goes as a whole: nothing below looks a claim up */
	while ((c = scnpm_htable_iterate(&r->claims, &i, NULL))) {
		if (withdraw)
			nftnl_sink_claim_withdraw(s, c);
		else
			nftnl_sink_claim_free(s, c);
	}
	scnpm_htable_done(&r->claims);
	free(r);
}

struct nftnl_claim *nftnl_sink_get_claim(struct nftnl_srule *r,
						const struct scnpm_event *unit, int create)
{
	struct nftnl_claim key = { .manager = unit->manager, .uid = unit->uid, .unit = (char *)unit->unit };
	uint64_t hash = nftnl_claim_hash(unit->manager, unit->uid, unit->unit);
	struct nftnl_claim *c = scnpm_htable_get(&r->claims, hash, nftnl_claim_eq, &key);

	if (c)
		return c;
	if (!create)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srule = r;
	c->manager = unit->manager;
	c->uid = unit->uid;
	c->unit = strdup(unit->unit);
	if (!c->unit || scnpm_htable_put(&r->claims, hash, nftnl_claim_eq, c, c) < 0) {
		free(c->unit);
		free(c);
		return NULL;
	}
	return c;
}

int nftnl_claim_set_event(struct nftnl_claim *c, const struct scnpm_event *unit)
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

