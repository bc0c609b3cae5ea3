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
#include <scnpm/netlink.h>
#include <scnpm/unit-name.h>

#include <scnpm/tag.h>



#include "sink-nftnl.h"

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
	r->iverdict = nftnl_sink_verdict(s, is_element ? &v : &d.verdict);
	if (!r->iverdict) {
		free(r);
		return -ENOMEM;
	}
	r->next = s->srules;
	s->srules = r;
	if (t->n_rules++ == 0)
		nftnl_sink_watch_target(s, t);
	return 0;
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
		len = (int)scnpm_nlmsg_framed_len(buf, (size_t)n);
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			int err;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    (nlh->nlmsg_seq != msg_seq && nlh->nlmsg_seq != seq))
				continue;
			if (nlbatch_parse_error(nlh, &err) < 0)
				return -EBADMSG;
			if (err != 0)
				return err;
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

void nftnl_target_free(struct nftnl_target *t)
{
	struct nftnl_elem *e;
	size_t i = 0;

	if (!t)
		return;
	free(t->orphans);
	while ((e = scnpm_htable_iterate(&t->elems, &i, NULL)))
		free(e);
	scnpm_htable_done(&t->elems);
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
	while (s->verdicts) {
		struct nftnl_verdict *v = s->verdicts;

		s->verdicts = v->next;
		free(v);
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
	.check = nftnl_sink_check,
	.inspect = nftnl_sink_inspect,
	.health = nftnl_sink_health,
};

