/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync: make the kernel hold what the instances want, touching only what differs.
 *
 * apply(), rule_remove() and the notifications only record what should be and mark it
 * dirty; the sync runs once per loop iteration (a defer source after the core's
 * normal-priority work), so everything that became due in one iteration goes out
 * together: one nft transaction with every add, then the deletes, as batches of our own
 * that the kernel refuses if the ruleset changed since we decided on them (nft-del.c).
 * A SIGHUP that edits a rule adds the new form before it deletes the old one: for a
 * moment both are there, never neither.
 *
 * For each dirty instance the plan is one of:
 *   unchanged  the rule in the kernel has the tag wanted: nothing is sent (same handle,
 *              same counters, same place in the chain);
 *   adopt      a tagged rule found in the ruleset (an earlier run's, or ours whose
 *              handle we missed) is exactly the one wanted: take its handle;
 *   replace    add the wanted one (if any), delete the old rule (if any).
 * One failing command aborts a whole nft transaction, and nft's error output does not
 * reliably say which command it was: then every add is retried on its own, so each
 * gets its own result and the good ones get applied.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>

#include "sink-nft.h"

/* How long tagged rules nobody adopted stay after a start or a resync before they are
 * deleted as leftovers: the sources report the units already running in the first
 * moments, and a rule still right for one of them is adopted, not re-added. */
#define NFT_SINK_SWEEP_USEC (2 * 1000 * 1000)

struct nft_op {
	struct nft_instance *i;
	uint64_t old_handle, old_tag; /* to delete; 0: nothing */
	struct nft_seen *adopt;       /* to take over; NULL: none */
	int add;		      /* add i->want */
	int capture;		      /* read the old rule back as a template first */
	int fast;		      /* added on the fast path (nft-fast.c), as fast_handle */
	uint64_t fast_handle;
	ssize_t expect_idx;
};

/* Templates read back per sync, and adds sent on the fast path in one batch. */
#define NFT_FAST_CAPTURE_MAX 64
#define NFT_FAST_BATCH_MAX   64

static void set_result(struct nft_instance *i, uint32_t result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_result(struct nft_instance *i, uint32_t result, const char *fmt, ...)
{
	va_list ap;

	i->result = result;
	free(i->message);
	i->message = NULL;
	va_start(ap, fmt);
	if (vasprintf(&i->message, fmt, ap) < 0)
		i->message = NULL;
	va_end(ap);
}

static uint64_t now_usec(clockid_t clock)
{
	struct timespec ts;

	(void)clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- scheduling ---- */

void nft_sink_repair_started(struct nft_sink *s)
{
	if (s->repair_start_usec == 0)
		s->repair_start_usec = now_usec(CLOCK_MONOTONIC);
}

void nft_sink_schedule(struct nft_sink *s)
{
	if (s->sync_source)
		(void)sd_event_source_set_enabled(s->sync_source, SD_EVENT_ONESHOT);
}

static int on_sync(sd_event_source *source, void *userdata)
{
	(void)nft_sink_sync(userdata);
	return 0;
}

static int on_sweep(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct nft_sink *s = userdata;
	size_t n = 0;

	(void)nft_sink_drain(s);
	for (size_t k = 0; k < s->seen.n; k++) {
		struct nft_seen *r = &s->seen.rules[k];

		if (r->taken)
			continue;
		if (nft_sink_queue_delete(s, r->family, r->table, r->chain, r->handle, r->tag) >= 0)
			n++;
	}
	nft_seen_done(&s->seen);
	if (n > 0) {
		scnpm_notice(s->host,
			     "Deleting %zu stale rule(s) of ours that no directive wants any more "
			     "(left by an earlier run)",
			     n);
		nft_sink_schedule(s);
	}
	return 0;
}

static void arm_sweep(struct nft_sink *s)
{
	if (!s->sweep_source || s->seen.n_free == 0)
		return;
	(void)sd_event_source_set_time_relative(s->sweep_source, NFT_SINK_SWEEP_USEC);
	(void)sd_event_source_set_enabled(s->sweep_source, SD_EVENT_ONESHOT);
}

int nft_sink_add_sources(struct nft_sink *s)
{
	sd_event *e = s->host->event;
	int r;

	r = sd_event_add_defer(e, &s->sync_source, on_sync, s);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(s->sync_source, "sink-nft-sync");
	/* after the core's normal-priority sources: one iteration, one transaction */
	(void)sd_event_source_set_priority(s->sync_source, SD_EVENT_PRIORITY_NORMAL + 10);
	(void)sd_event_source_set_enabled(s->sync_source, SD_EVENT_OFF);

	r = sd_event_add_time_relative(e, &s->sweep_source, CLOCK_MONOTONIC, NFT_SINK_SWEEP_USEC,
				       0, on_sweep, s);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(s->sweep_source, "sink-nft-sweep");
	(void)sd_event_source_set_enabled(s->sweep_source, SD_EVENT_OFF);
	return 0;
}

/* ---- deletes no instance holds ---- */

int nft_sink_queue_delete(struct nft_sink *s, int family, const char *table, const char *chain,
			  uint64_t handle, uint64_t tag)
{
	struct nft_del d = {.family = family, .handle = handle, .tag = tag};

	if (!nft_family_name(family))
		return -EINVAL;
	if (s->n_dels == s->cap_dels) {
		size_t cap = s->cap_dels ? s->cap_dels * 2 : 16;
		struct nft_del *p = realloc(s->dels, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->dels = p;
		s->cap_dels = cap;
	}
	d.table = strdup(table);
	d.chain = strdup(chain);
	if (!d.table || !d.chain) {
		free(d.table);
		free(d.chain);
		return -ENOMEM;
	}
	s->dels[s->n_dels++] = d;
	nft_sink_schedule(s);
	return 0;
}

void nft_sink_dels_done(struct nft_sink *s)
{
	for (size_t k = 0; k < s->n_dels; k++) {
		free(s->dels[k].table);
		free(s->dels[k].chain);
	}
	free(s->dels);
	s->dels = NULL;
	s->n_dels = s->cap_dels = 0;
}

/* ---- resync: what of ours is in the kernel ---- */

static void check_instance(struct nft_instance *i, void *userdata)
{
	struct nft_sink *s = userdata;
	struct nft_seen *r;

	if (i->handle == 0) {
		/* maybe in with its handle missed, or its chain came back unseen */
		if (i->want) {
			i->waiting = 0;
			nft_instances_mark_dirty(&s->instances, i);
		}
		return;
	}
	r = nft_seen_find_handle(&s->seen, i->family, i->table, i->handle);
	if (r && r->tag == i->tag && !r->taken) {
		nft_seen_take(&s->seen, r);
		return;
	}
	/* Not there (any more), or the handle is someone else's now. */
	nft_instances_set_handle(&s->instances, i, 0, 0);
	nft_sink_repair_started(s);
	i->lost = 1;
	nft_instances_mark_dirty(&s->instances, i);
}

/* Read the tagged rules of the ruleset: check every handle we hold against them, and
 * keep the rest for adoption (and, if nobody adopts them, the sweep). */
static void resync(struct nft_sink *s)
{
	int r;

	s->need_resync = 0;
	nft_seen_done(&s->seen);
	r = nft_dump_tagged_rules(&s->seen);
	if (r < 0) {
		/* Tried again at the next sync (an apply, a notification), not in a loop. */
		scnpm_warning_errno(s->host, r, "Failed to read the ruleset, trying again on the next change: %m");
		s->resync_failed = 1;
		return;
	}
	s->resync_failed = 0;
	nft_instances_foreach(&s->instances, NULL, check_instance, s);
	/* Deletes queued before we knew: only handles still tagged as ours. */
	for (size_t k = 0; k < s->n_dels;) {
		struct nft_del *d = &s->dels[k];
		struct nft_seen *sr = nft_seen_find_handle(&s->seen, d->family, d->table, d->handle);

		if (sr) {
			nft_seen_take(&s->seen, sr);
			k++;
			continue;
		}
		free(d->table);
		free(d->chain);
		s->dels[k] = s->dels[--s->n_dels];
	}
	if (s->seen.n_free > 0)
		scnpm_debug(s->host, "%zu tagged rule(s) in the ruleset not held by any instance",
			    s->seen.n_free);
	arm_sweep(s);
}

/* ---- plan, commit, fallback ---- */

static void plan(struct nft_sink *s, struct nft_op *op)
{
	struct nft_instance *i = op->i;

	if (i->want && i->handle != 0 && i->tag == i->want_tag)
		return; /* unchanged */
	if (i->want && !i->waiting)
		op->adopt = nft_seen_find(&s->seen, i->family, i->table, i->chain, i->want_tag);
	if (op->adopt)
		nft_seen_take(&s->seen, op->adopt);
	op->old_handle = i->handle;
	op->old_tag = i->tag;
	op->add = i->want && !op->adopt;
	/* Worth a template: withdrawn for good (the unit may come back at the same path),
	 * or replaced by the same rule for another cgroup at the same path. */
	op->capture = op->old_handle != 0 && i->fast_ok && !op->adopt &&
		      (!i->want || i->want_path_hash == i->in_path_hash);
	if (op->old_handle != 0) {
		/* So that the DELRULE of our own delete is not taken for someone else's. */
		nft_instances_set_handle(&s->instances, i, 0, 0);
		i->fast_ok = 0;
	}
	if (op->adopt)
		/* held from now on: a delete of it by someone else is seen as such */
		nft_instances_set_handle(&s->instances, i, op->adopt->handle, i->want_tag);
}

static void undo_delete(struct nft_sink *s, struct nft_op *op)
{
	if (op->old_handle != 0 && (op->i->handle == 0 || op->adopt))
		nft_instances_set_handle(&s->instances, op->i, op->old_handle, op->old_tag);
}

/* An adoption that did not happen: the rule is a leftover again, for the sweep. */
static void unadopt(struct nft_sink *s, struct nft_op *op)
{
	if (!op->adopt)
		return;
	op->adopt->taken = 0;
	s->seen.n_free++;
	op->adopt = NULL;
}

static void add_failed(struct nft_sink *s, struct nft_op *op, const char *err)
{
	struct nft_instance *i = op->i;
	_cleanup_free_ char *summary = NULL;

	(void)nft_error_summary(err, &summary);
	switch (nft_error_classify(err)) {
	case NFT_ERROR_NO_CGROUP:
		set_result(i, SCNPM_RESULT_SKIPPED, "%s", summary ?: "cgroup does not exist");
		free(i->want);
		i->want = NULL;
		break;
	case NFT_ERROR_NOENT:
		i->waiting = 1;
		set_result(i, SCNPM_RESULT_FAILED,
			   "%s; added as soon as table %s %s and chain %s exist",
			   summary ?: "no such table or chain", nft_family_name(i->family), i->table,
			   i->chain);
		if (i->change == 0)
			scnpm_notice(s->host,
				     "Cannot restore a rule in chain %s %s %s, which does not exist; "
				     "restoring it when it appears",
				     nft_family_name(i->family), i->table, i->chain);
		break;
	default:
		set_result(i, SCNPM_RESULT_FAILED, "%s", summary ?: "nft failed");
	}
}

static void committed(struct nft_sink *s, struct nft_op *op, uint64_t new_handle)
{
	struct nft_instance *i = op->i;
	int deleted = op->old_handle != 0;

	/* The handles are in place already: an adopted one since plan(), a new one since
	 * our transaction's NEWGEN was read (nft_sink_on_msg()) or our fast batch's echo. */
	if (op->add || op->adopt) {
		i->in_cgroup_id = i->want_cgroup_id;
		i->in_path_hash = i->want_path_hash;
		i->fast_ok = i->want_cgroup_id != 0;
	}
	if (i->result != 0)
		return; /* decided at apply() */
	if (op->adopt)
		set_result(i, SCNPM_RESULT_APPLIED, "in place (handle %" PRIu64 ")%s",
			   op->adopt->handle, deleted ? ", previous instance withdrawn" : "");
	else if (op->add)
		set_result(i, SCNPM_RESULT_APPLIED, "added (handle %" PRIu64 ")%s", new_handle,
			   deleted ? ", previous instance withdrawn" : "");
	else if (i->want)
		set_result(i, SCNPM_RESULT_APPLIED, "unchanged (handle %" PRIu64 ")", i->handle);
	else
		set_result(i, SCNPM_RESULT_APPLIED, deleted ? "withdrawn" : "nothing to withdraw");
}

/* One instance's add in a transaction of its own. */
static void op_alone(struct nft_sink *s, struct nft_op *op)
{
	struct nft_instance *i = op->i;
	struct nft_expect e = {
	    .family = i->family, .table = i->table, .chain = i->chain, .owner = i, .tag = i->want_tag};
	const char *err = NULL;
	int r;

	if (!op->add || op->fast) {
		committed(s, op, op->fast_handle);
		return;
	}
	nft_buf_reset(&s->cmd);
	r = nft_cmd_add_text(&s->cmd, i->want);
	if (r < 0) {
		set_result(i, SCNPM_RESULT_FAILED, "cannot build the nft command: %s", strerror(-r));
		return;
	}
	r = nft_sink_run(s, nft_buf_str(&s->cmd), &e, 1, &err);
	if (r < 0) {
		add_failed(s, op, err);
		return;
	}
	committed(s, op, e.handle);
}

static void finish(struct nft_sink *s, struct nft_op *op, size_t *n_restored)
{
	struct nft_instance *i = op->i;
	int restored = 0;

	if (i->handle != 0) {
		restored = i->lost && i->change == 0;
		*n_restored += restored;
		i->lost = 0;
	}
	if (i->change != 0 || restored) {
		struct scnpm_event ev = {
		    .size = sizeof(ev),
		    .change = i->change ?: SCNPM_UNIT_STARTED,
		    .unit = i->unit,
		    .manager = i->manager,
		    .uid = i->uid,
		};
		uint32_t result = i->result ?: SCNPM_RESULT_FAILED;

		/* unasked: the core logs it per unit (a host older than ABI 1.1 knows no
		 * RESTORED, and hears APPLIED) */
		if (restored && result == SCNPM_RESULT_APPLIED &&
		    SCNPM_HAS(s->host, struct scnpm_host, health_put) && s->host->health_put)
			result = SCNPM_RESULT_RESTORED;
		s->host->report(s->host, i->rule, &ev, result, "%s", i->message ?: "no result");
		i->failed_reported = result == SCNPM_RESULT_FAILED;
		i->change = 0;
	} else if (i->failed_reported && i->handle != 0) {
		/* in after all (its chain appeared): the core waits for it (a gate) and
		 * shows it as failed until told */
		struct scnpm_event ev = {
		    .size = sizeof(ev),
		    .change = SCNPM_UNIT_STARTED,
		    .unit = i->unit,
		    .manager = i->manager,
		    .uid = i->uid,
		};

		s->host->report(s->host, i->rule, &ev, SCNPM_RESULT_APPLIED, "added now that its chain exists");
		i->failed_reported = 0;
	}
	i->result = 0;
	free(i->message);
	i->message = NULL;
	if (!i->want && i->handle == 0)
		nft_instances_remove(&s->instances, i);
}

/* The deletes of this sync: what was queued, then each replaced instance's old rule. */
static struct nft_del *take_dels(struct nft_sink *s, size_t extra, size_t *ret_n)
{
	struct nft_del *d = s->dels;

	if (s->cap_dels < s->n_dels + extra) {
		d = realloc(s->dels, (s->n_dels + extra + 1) * sizeof(*d));
		if (!d)
			return NULL;
	}
	*ret_n = s->n_dels;
	s->dels = NULL;
	s->n_dels = s->cap_dels = 0;
	return d;
}

static uint64_t op_handle(const struct nft_op *op, const struct nft_expect *expect)
{
	if (op->fast)
		return op->fast_handle;
	return op->expect_idx >= 0 ? expect[op->expect_idx].handle : 0;
}

/* Read back the rules about to be withdrawn that may serve as templates, then send the
 * adds that have one as one batch of our own (nft-fast.c). What the kernel refuses is
 * left to the libnftables transaction. */
static void fast_path(struct nft_sink *s, struct nft_op *ops, size_t n_ops)
{
	struct nft_fast_add fa[NFT_FAST_BATCH_MAX];
	size_t n_fa = 0, n_captured = 0;
	int r;

	for (size_t k = 0; k < n_ops && n_captured < NFT_FAST_CAPTURE_MAX; k++)
		if (ops[k].capture) {
			(void)nft_sink_fast_capture(s, ops[k].i, ops[k].old_handle, ops[k].old_tag);
			n_captured++;
		}
	for (size_t k = 0; k < n_ops && n_fa < NFT_FAST_BATCH_MAX; k++) {
		struct nft_fast_entry *e;

		if (!ops[k].add || ops[k].i->result != 0)
			continue;
		e = nft_sink_fast_find(s, ops[k].i);
		if (e)
			fa[n_fa++] = (struct nft_fast_add){.i = ops[k].i, .e = e};
	}
	if (n_fa == 0)
		return;
	r = nft_sink_fast_add(s, fa, n_fa);
	/* Our batch's notifications read now, before libnftables' transaction: they must
	 * not be taken for its. */
	(void)nft_sink_drain(s);
	if (r < 0) {
		scnpm_debug_errno(
		    s->host, r,
		    "The fast path refused %zu add(s), adding them through libnftables: %m", n_fa);
		return;
	}
	for (size_t k = 0, j = 0; k < n_ops && j < n_fa; k++)
		if (ops[k].i == fa[j].i) {
			ops[k].fast = 1;
			ops[k].fast_handle = fa[j++].handle;
		}
}

int nft_sink_sync(struct nft_sink *s)
{
	_cleanup_free_ struct nft_op *ops = NULL;
	_cleanup_free_ struct nft_expect *expect = NULL;
	struct nft_del *dels;
	size_t n_ops = 0, n_expect = 0, n_dels = 0, n_restored = 0;
	const char *err = NULL;
	int r;

	r = nft_sink_drain(s);
	if (r < 0)
		scnpm_warning_errno(s->host, r, "Failed to read nftables notifications: %m");
	if (s->need_resync)
		resync(s);
	if (s->instances.n_dirty == 0 && s->n_dels == 0)
		return 0;

	ops = calloc(s->instances.n_dirty + 1, sizeof(*ops));
	expect = calloc(s->instances.n_dirty + 1, sizeof(*expect));
	if (!ops || !expect) {
		scnpm_warning(s->host, "Out of memory, retrying on the next change");
		return -ENOMEM;
	}
	/* Taken out of the queue: what is queued meanwhile waits for the next sync. While
	 * they are sent, notifications that one is gone settle it (s->inflight). */
	dels = take_dels(s, s->instances.n_dirty, &n_dels);
	if (!dels) {
		scnpm_warning(s->host, "Out of memory, retrying on the next change");
		return -ENOMEM;
	}
	s->inflight = dels;
	s->n_inflight = n_dels;

	while (nft_instances_first_dirty(&s->instances)) {
		struct nft_instance *i = nft_instances_first_dirty(&s->instances);
		struct nft_op *op = &ops[n_ops++];

		nft_instances_clear_dirty(&s->instances, i);
		*op = (struct nft_op){.i = i, .expect_idx = -1};
		plan(s, op);
		if (op->old_handle != 0) {
			char *table = strdup(i->table), *chain = strdup(i->chain);

			if (!table || !chain) {
				free(table);
				free(chain);
				undo_delete(s, op);
				unadopt(s, op);
				op->add = 0;
				op->old_handle = 0;
				op->capture = 0;
				set_result(i, SCNPM_RESULT_FAILED, "out of memory");
				continue;
			}
			dels[n_dels++] = (struct nft_del){.family = i->family,
							  .table = table,
							  .chain = chain,
							  .handle = op->old_handle,
							  .tag = op->old_tag};
			s->n_inflight = n_dels;
		}
	}

	/* A restart's adds go first on the fast path where a template allows. */
	fast_path(s, ops, n_ops);

	/* One transaction with every other add. */
	nft_buf_reset(&s->cmd);
	for (size_t k = 0; k < n_ops; k++) {
		struct nft_op *op = &ops[k];
		struct nft_instance *i = op->i;

		if (!op->add || op->fast)
			continue;
		r = nft_cmd_add_text(&s->cmd, i->want);
		if (r < 0) {
			op->add = 0;
			set_result(i, SCNPM_RESULT_FAILED, "cannot build the nft command: %s",
				   strerror(-r));
			continue;
		}
		expect[n_expect] = (struct nft_expect){
		    .family = i->family,
		    .table = i->table,
		    .chain = i->chain,
		    .owner = i,
		    .tag = i->want_tag,
		};
		op->expect_idx = (ssize_t)n_expect++;
	}

	r = n_expect > 0 ? nft_sink_run(s, nft_buf_str(&s->cmd), expect, n_expect, &err) : 0;
	if (r >= 0) {
		for (size_t k = 0; k < n_ops; k++)
			committed(s, &ops[k], op_handle(&ops[k], expect));
	} else if (n_expect == 1) {
		/* The transaction was that one add: its error is that instance's result; the
		 * others (unchanged, adopted, only a delete, on the fast path) sent nothing
		 * in it. */
		for (size_t k = 0; k < n_ops; k++)
			if (ops[k].expect_idx >= 0)
				add_failed(s, &ops[k], err);
			else
				committed(s, &ops[k], op_handle(&ops[k], expect));
	} else {
		scnpm_debug(s->host, "Transaction of %zu nft add(s) failed, retrying one by one",
			    n_expect);
		for (size_t k = 0; k < n_ops; k++)
			op_alone(s, &ops[k]);
	}

	/* Then the deletes: the old rules of replaced instances, removed directives',
	 * leftovers. Whatever became of the adds, the old rules are stale. */
	(void)nft_sink_delete(s, dels, n_dels);
	s->inflight = NULL;
	s->n_inflight = 0;
	for (size_t k = 0; k < n_dels; k++) {
		free(dels[k].table);
		free(dels[k].chain);
	}
	free(dels);

	for (size_t k = 0; k < n_ops; k++)
		finish(s, &ops[k], &n_restored);
	if (n_restored > 0) {
		s->n_restored += n_restored;
		s->last_repair_usec = now_usec(CLOCK_MONOTONIC) - s->repair_start_usec;
		s->last_repair_realtime_usec = now_usec(CLOCK_REALTIME);
		s->repair_start_usec = 0;
		scnpm_notice(s->host,
			     "Restored %zu rule(s) that were deleted from the ruleset by someone else "
			     "(a firewall reload, nft -f, a flush or a delete by hand)",
			     n_restored);
	}
	if (s->seen.n > 0 && s->seen.n_free == 0)
		nft_seen_done(&s->seen); /* all adopted: nothing to sweep, nothing to look up */
	if (s->need_resync && !s->resync_failed)
		nft_sink_schedule(s);
	if (s->resync_failed)
		s->need_resync = 1;
	return 0;
}
