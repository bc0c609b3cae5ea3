/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nftnl for "scnpm status": inspect() reads back from the kernel, at that moment,
 * what a claim stands for (<scnpm/nft-readback.h>): for an element directive, whether the
 * set or map holds the unit's current cgroup id (or, failing that, the id the sink last
 * put there: then it holds it for another cgroup); for a dispatch rule, the rule at the
 * claim's handle, if it still carries scnpm's tag, and the id it matches. health() says
 * what the sink counted. Neither reads the sink's sockets or changes what it holds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include <scnpm/nft-readback.h>

#include "sink-nftnl.h"

static int inspect_element(struct nftnl_sink *s, const struct nftnl_srule *sr,
			   const struct nftnl_claim *c, uint64_t id, struct scnpm_inspect *ret)
{
	const struct nftnl_target *t = sr->target;
	uint64_t other = c && c->actual != id ? c->actual : 0;
	struct scnpm_nft_readback rb = {};
	char v[NFT_CHAIN_MAXNAMELEN + 16];
	int r = 0;

	if (id != 0)
		r = scnpm_nft_get_element(t->family, t->table, t->name, id, &rb);
	if (r >= 0 && !rb.found && other != 0)
		r = scnpm_nft_get_element(t->family, t->table, t->name, other, &rb);
	if (r < 0) {
		ret->state = SCNPM_KERNEL_UNKNOWN;
		return r;
	}
	if (!rb.found)
		return 0;
	ret->state = SCNPM_KERNEL_PRESENT;
	ret->cgroup_id = rb.cgroup_id;
	ret->has_counter = (uint32_t)rb.has_counter;
	ret->packets = rb.packets;
	ret->bytes = rb.bytes;
	if (sr->verdict.kind == NLBATCH_VERDICT_NONE)
		snprintf(s->inspect_object, sizeof(s->inspect_object), "element %s %s %s %" PRIu64,
			 nftnl_fam(t), t->table, t->name, rb.cgroup_id);
	else
		snprintf(s->inspect_object, sizeof(s->inspect_object),
			 "element %s %s %s %" PRIu64 " : %s", nftnl_fam(t), t->table, t->name,
			 rb.cgroup_id, nlbatch_verdict_to_string(&sr->verdict, v, sizeof(v)));
	ret->object = s->inspect_object;
	return 0;
}

static int inspect_rule(struct nftnl_sink *s, const struct nftnl_srule *sr,
			const struct nftnl_claim *c, struct scnpm_inspect *ret)
{
	const struct nftnl_target *t = sr->target;
	struct scnpm_nft_readback rb;
	int r;

	if (!c || c->handle == 0)
		return 0;
	r = scnpm_nft_get_rule(t->family, t->table, t->name, c->handle, &rb);
	if (r < 0) {
		ret->state = SCNPM_KERNEL_UNKNOWN;
		return r;
	}
	/* a rule without our tag at that handle is someone else's */
	if (!rb.found || rb.tag == 0)
		return 0;
	ret->state = SCNPM_KERNEL_PRESENT;
	ret->cgroup_id = rb.cgroup_id;
	ret->handle = rb.handle;
	ret->has_counter = (uint32_t)rb.has_counter;
	ret->packets = rb.packets;
	ret->bytes = rb.bytes;
	snprintf(s->inspect_object, sizeof(s->inspect_object), "rule %s %s %s handle %" PRIu64,
		 nftnl_fam(t), t->table, t->name, rb.handle);
	ret->object = s->inspect_object;
	return 0;
}

int nftnl_sink_inspect(void *state, const struct scnpm_rule *rule,
		       const struct scnpm_event *unit, struct scnpm_inspect *ret)
{
	struct nftnl_sink *s = state;
	struct nftnl_srule *sr;
	struct nftnl_claim *c;
	int r;

	if (!s || !rule || !unit || !unit->unit || !ret ||
	    !SCNPM_HAS(ret, struct scnpm_inspect, object))
		return -EINVAL;
	sr = nftnl_sink_find_srule(s, rule);
	if (!sr)
		return -ENOENT;
	c = nftnl_sink_get_claim(sr, unit, 0);
	ret->state = SCNPM_KERNEL_ABSENT;
	ret->pending = c && (c->pending > 0 || c->dirty || c->desired != c->actual);
	if (sr->is_element)
		/* an element is its cgroup id: whoever put it there, it matches the unit */
		r = inspect_element(s, sr, c,
				    unit->change == SCNPM_UNIT_STOPPED ? 0 : unit->cgroup_id, ret);
	else
		r = inspect_rule(s, sr, c, ret);
	if (r < 0)
		return r;
	return c ? 0 : -ENOENT;
}

void nftnl_sink_count_restored(struct nftnl_sink *s, unsigned n)
{
	struct timespec ts;

	if (n == 0)
		return;
	s->n_restored += n;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	s->last_repair_realtime_usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int nftnl_sink_health(void *state)
{
	struct nftnl_sink *s = state;
	const struct scnpm_host *h = s ? s->host : NULL;
	uint64_t n_targets = 0, n_missing = 0;

	if (!h || !SCNPM_HAS(h, struct scnpm_host, health_put) || !h->health_put)
		return -EOPNOTSUPP;
	for (const struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->n_rules > 0) {
			n_targets++;
			n_missing += t->exists == 0;
		}
	h->health_put(h, "targets", n_targets);
	h->health_put(h, "targets_missing", n_missing);
	h->health_put(h, "restored", s->n_restored);
	h->health_put(h, "lost", s->n_lost);
	h->health_put(h, "restarts", s->n_restarts);
	if (s->last_repair_realtime_usec != 0)
		h->health_put(h, "last_repair_realtime_usec", s->last_repair_realtime_usec);
	return 0;
}
