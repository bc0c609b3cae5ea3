/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft for "scnpm status": inspect() reads back from the kernel, at that moment, the
 * rule an instance holds (GETRULE by its handle, <scnpm/nft-readback.h>): is it there,
 * still ours (its tag), which cgroup id its socket cgroupv2 match compares with, its
 * counter. health() says what the sink counted. Neither changes anything: no
 * notification is read here, nothing is scheduled.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <scnpm/nft-readback.h>

#include "sink-nft.h"

int nft_sink_inspect(void *state, const struct scnpm_rule *rule, const struct scnpm_event *unit,
		     struct scnpm_inspect *ret)
{
	struct nft_sink *s = state;
	struct nft_instance *i;
	struct scnpm_nft_readback rb;
	int r;

	if (!s || !rule || !unit || !unit->unit || !ret)
		return -EINVAL;
	i = nft_instances_find(&s->instances, rule, unit->manager, unit->uid, unit->unit);
	/* Nothing of ours is in the kernel for an instance the sink does not hold: what an
	 * earlier run left is adopted or swept within moments of the start. */
	ret->state = SCNPM_KERNEL_ABSENT;
	if (!i)
		return -ENOENT;
	if (SCNPM_HAS(ret, struct scnpm_inspect, pending))
		ret->pending = i->dirty || (i->want ? i->want_tag != i->tag : i->handle != 0);
	if (i->handle == 0)
		return 0;

	r = scnpm_nft_get_rule(i->family, i->table, i->chain, i->handle, &rb);
	if (r < 0) {
		ret->state = SCNPM_KERNEL_UNKNOWN;
		return r;
	}
	/* the same handle with another tag: someone else's rule in a rebuilt table */
	if (!rb.found || rb.tag != i->tag)
		return 0;
	ret->state = SCNPM_KERNEL_PRESENT;
	if (!SCNPM_HAS(ret, struct scnpm_inspect, object))
		return 0;
	ret->cgroup_id = rb.cgroup_id;
	ret->handle = rb.handle;
	ret->has_counter = (uint32_t)rb.has_counter;
	ret->packets = rb.packets;
	ret->bytes = rb.bytes;
	(void)snprintf(s->inspect_object, sizeof(s->inspect_object),
		       "rule %s %s %s handle %" PRIu64, nft_family_name(i->family) ?: "?", i->table,
		       i->chain, rb.handle);
	ret->object = s->inspect_object;
	return 0;
}

int nft_sink_health(void *state)
{
	struct nft_sink *s = state;
	const struct scnpm_host *h = s ? s->host : NULL;

	if (!h || !SCNPM_HAS(h, struct scnpm_host, health_put) || !h->health_put)
		return -EOPNOTSUPP;
	h->health_put(h, "instances", s->instances.n);
	h->health_put(h, "restored", s->n_restored);
	h->health_put(h, "lost", s->n_lost);
	h->health_put(h, "del_refused", s->n_del_refused);
	h->health_put(h, "queued_deletes", s->n_dels);
	h->health_put(h, "fast_adds", s->fast.n_adds);
	h->health_put(h, "fast_refused", s->fast.n_refused);
	h->health_put(h, "fast_templates", s->fast.n);
	if (s->last_repair_realtime_usec != 0) {
		h->health_put(h, "last_repair_realtime_usec", s->last_repair_realtime_usec);
		h->health_put(h, "last_repair_usec", s->last_repair_usec);
	}
	return 0;
}
