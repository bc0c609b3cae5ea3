/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft: applies configured nftables rule text ("add rule FAMILY TABLE CHAIN ...",
 * placeholders expanded per unit) through one long-lived libnftables context, keeps it
 * in the kernel whatever else happens to the ruleset, and withdraws it when the unit
 * restarts or stops.
 *
 * Ownership. Every rule it adds carries scnpm's tag in its comment (nft-tag.h); a rule
 * without one is never touched. At start it reads the tagged rules of the ruleset and
 * adopts those that are still exactly right (same handle, counters, position: no
 * downtime across its own restarts, crashes or upgrades); the ones nobody adopts within
 * a moment are stale leftovers and deleted.
 *
 * Self-healing. It watches nf_tables notifications (NETLINK_NETFILTER, group
 * NFNLGRP_NFTABLES): the NEWRULE messages of its own transactions tell it the handles of
 * the rules it added; DELRULE/DELCHAIN/DELTABLE from anyone else (nft -f with flush
 * ruleset, a restart or reload of nftables.service, flush chain, a delete by hand) mark
 * what of ours is gone, and the next sync restores it; a rule whose table or chain does
 * not exist is added when NEWTABLE/NEWCHAIN says it appeared. Lost notifications
 * (ENOBUFS) make it read the ruleset again before it deletes anything.
 *
 * Work happens in the sync (nft-sync.c), once per loop iteration: apply() and
 * rule_remove() only record what should be. Options: none. Event sources: io on the
 * notification socket ("sink-nft-monitor"), a defer ("sink-nft-sync"), a timer
 * ("sink-nft-sweep"). Failure policy: a rule whose cgroup does not exist is SKIPPED; a
 * missing table or chain FAILS and is retried when it appears; any other nft error FAILS
 * that rule alone.
 */

#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/netlink.h>
#include <scnpm/template.h>

#include "nft-tag.h"
#include "sink-nft.h"

/* Big enough for a 'nft -f' or 'flush ruleset' of tens of thousands of rules between
 * two reads. Only used while notifications wait; needs CAP_NET_ADMIN, which we need
 * anyway, to go beyond net.core.rmem_max. */
#define NFT_SINK_RCVBUF (16 * 1024 * 1024)
#define NFT_SINK_RXBUF	(64 * 1024)

/* ---- notifications ---- */

static void nft_sink_on_lost(struct nft_sink *s)
{
	/* We missed messages and cannot tell which: a DELRULE for one of our handles
	 * (followed by someone else's rule taking that number after a ruleset replace),
	 * or the NEWRULE of our own add. So no handle is trusted before the ruleset was
	 * read again (the next sync does, before it deletes anything), and the transaction
	 * in flight is torn: no handle is learned until the queue was read to its end and
	 * the next NEWGEN closed whatever was in progress. */
	nft_txn_reset(&s->txn);
	s->lost = NFT_SINK_LOST_DRAINING;
	s->n_lost++;
	s->need_resync = 1;
	if (s->expect && s->expect_state == 0)
		s->expect_state = -ENOBUFS;
	scnpm_warning(s->host,
		      "Lost nftables notifications (receive queue overflow, %" PRIu64 " so far), "
		      "reading the ruleset again",
		      s->n_lost);
	nft_sink_schedule(s);
}

static int nft_del_gone(const struct nft_del *d, const struct nft_notify *n)
{
	return d->handle != 0 && d->family == n->family && strcmp(d->table, n->table) == 0 &&
	       (n->type == NFT_NOTIFY_DELTABLE ||
		(n->type == NFT_NOTIFY_DELCHAIN && strcmp(d->chain, n->chain) == 0) ||
		(n->type == NFT_NOTIFY_DELRULE && d->handle == n->handle));
}

/* Queued deletes (of removed directives' rules, of leftovers) and those being sent, of
 * rules that are gone already: never sent, as their handle may be someone else's in a
 * rebuilt table. */
static void nft_sink_forget_dels(struct nft_sink *s, const struct nft_notify *n)
{
	for (size_t k = 0; k < s->n_inflight; k++)
		if (nft_del_gone(&s->inflight[k], n))
			s->inflight[k].handle = 0;
	for (size_t k = 0; k < s->n_dels;) {
		struct nft_del *d = &s->dels[k];

		if (!nft_del_gone(d, n)) {
			k++;
			continue;
		}
		free(d->table);
		free(d->chain);
		memmove(d, d + 1, (s->n_dels - k - 1) * sizeof(*d));
		s->n_dels--;
	}
}

static void nft_sink_on_gone(struct nft_sink *s, const struct nft_notify *n)
{
	struct nft_seen *seen;
	size_t k;

	if (n->type == NFT_NOTIFY_DELRULE || n->type == NFT_NOTIFY_DELCHAIN ||
	    n->type == NFT_NOTIFY_DELTABLE)
		nft_sink_forget_dels(s, n);
	switch (n->type) {
	case NFT_NOTIFY_DELRULE:
		seen = nft_seen_find_handle(&s->seen, n->family, n->table, n->handle);
		if (seen)
			nft_seen_take(&s->seen, seen);
		if (nft_instances_lose_handle(&s->instances, n->family, n->table, n->handle)) {
			nft_sink_repair_started(s);
			scnpm_info(s->host, "A rule of ours in chain %s %s %s was deleted (handle %" PRIu64
				   "), restoring it", nft_family_name(n->family) ?: "?", n->table,
				   n->chain, n->handle);
			nft_sink_schedule(s);
		}
		break;
	case NFT_NOTIFY_DELCHAIN:
	case NFT_NOTIFY_DELTABLE:
		nft_seen_take_where(&s->seen, n->family, n->table,
				    n->type == NFT_NOTIFY_DELCHAIN ? n->chain : NULL);
		k = nft_instances_lose_where(&s->instances, n->family, n->table,
					     n->type == NFT_NOTIFY_DELCHAIN ? n->chain : NULL);
		if (k > 0) {
			nft_sink_repair_started(s);
			scnpm_info(s->host, "%s %s %s%s%s was deleted with %zu rule(s) of ours, restoring them",
				   n->type == NFT_NOTIFY_DELCHAIN ? "Chain" : "Table",
				   nft_family_name(n->family) ?: "?", n->table,
				   n->type == NFT_NOTIFY_DELCHAIN ? " " : "",
				   n->type == NFT_NOTIFY_DELCHAIN ? n->chain : "", k);
			nft_sink_schedule(s);
		}
		break;
	case NFT_NOTIFY_NEWCHAIN:
	case NFT_NOTIFY_NEWTABLE:
		if (nft_instances_wake_where(&s->instances, n->family, n->table,
					     n->type == NFT_NOTIFY_NEWCHAIN ? n->chain : NULL) > 0)
			nft_sink_schedule(s);
		break;
	default:
		break;
	}
}

static int nft_sink_on_msg(const struct nlmsghdr *nlh, void *userdata)
{
	struct nft_sink *s = userdata;
	struct nft_notify n;
	int r;

	r = nft_notify_parse(nlh, &n);
	if (r < 0) {
		scnpm_debug_errno(s->host, r, "Ignoring malformed nftables notification: %m");
		return MNL_CB_OK;
	}

	switch (n.type) {
	case NFT_NOTIFY_NEWRULE:
		if (s->lost == NFT_SINK_LOST_NONE) {
			r = nft_txn_add(&s->txn, &n);
			if (r < 0) {
				/* Cannot track this transaction: treat it as torn. */
				nft_txn_reset(&s->txn);
				s->lost = NFT_SINK_LOST_WAIT_GEN;
			}
		}
		break;
	case NFT_NOTIFY_NEWGEN:
		s->genid = n.gen_id;
		if (s->lost != NFT_SINK_LOST_NONE) {
			if (s->expect && s->expect_state == 0 &&
			    (s->nft_portid ? n.portid == s->nft_portid
					   : n.gen_pid == s->expect_tid))
				s->expect_state = -ENOBUFS;
			if (s->lost == NFT_SINK_LOST_WAIT_GEN)
				s->lost = NFT_SINK_LOST_NONE;
		} else if (s->expect && s->expect_state == 0) {
			r = nft_txn_match(&s->txn, &n, s->nft_portid, s->expect_tid, s->expect,
					  s->n_expect);
			if (r != 0)
				s->expect_state = r;
			/* The instances hold their new handles from here on, so that a
			 * delete of them later in this same read is seen as such. */
			for (size_t k = 0; r == 1 && k < s->n_expect; k++)
				if (s->expect[k].owner && s->expect[k].handle != 0)
					nft_instances_set_handle(&s->instances, s->expect[k].owner,
								 s->expect[k].handle, s->expect[k].tag);
		}
		nft_txn_reset(&s->txn);
		break;
	default:
		nft_sink_on_gone(s, &n);
	}
	return MNL_CB_OK;
}

/* Read every notification queued on the monitor socket. */
int nft_sink_drain(struct nft_sink *s)
{
	int fd = mnl_socket_get_fd(s->mon);

	for (;;) {
		ssize_t n;

		n = recv(fd, s->rxbuf, NFT_SINK_RXBUF, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (s->lost == NFT_SINK_LOST_DRAINING)
					s->lost = NFT_SINK_LOST_WAIT_GEN;
				return 0;
			}
			if (errno == ENOBUFS) {
				nft_sink_on_lost(s);
				continue;
			}
			return -errno;
		}
		if (n > NFT_SINK_RXBUF) {
			/* A datagram bigger than we can read: as good as lost. */
			nft_sink_on_lost(s);
			continue;
		}
		(void)mnl_cb_run(s->rxbuf, scnpm_nlmsg_framed_len(s->rxbuf, (size_t)n), 0, 0,
				 nft_sink_on_msg, s);
	}
}

static int nft_sink_on_monitor(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
	struct nft_sink *s = userdata;
	int r;

	r = nft_sink_drain(s);
	if (r < 0)
		scnpm_warning_errno(s->host, r,
				    "Failed to read nftables notifications, ignoring: %m");
	return 0;
}

/* ---- module callbacks ---- */

static void nft_sink_done(void *state)
{
	struct nft_sink *s = state;

	if (!s)
		return;
	/* What rule_remove() queued must not be lost on the way out. */
	if (s->started && s->n_dels > 0)
		(void)nft_sink_sync(s);
	sd_event_source_disable_unref(s->mon_source);
	sd_event_source_disable_unref(s->sync_source);
	sd_event_source_disable_unref(s->sweep_source);
	if (s->mon)
		mnl_socket_close(s->mon);
	if (s->del_nl)
		mnl_socket_close(s->del_nl);
	if (s->nft)
		nft_ctx_free(s->nft);
	nft_instances_done(&s->instances);
	nft_fast_done(&s->fast);
	nft_sink_dels_done(s);
	nft_seen_done(&s->seen);
	nft_txn_done(&s->txn);
	nft_buf_done(&s->cmd);
	for (size_t i = 0; i < s->n_checked_files; i++)
		free(s->checked_files[i].name);
	free(s->checked_files);
	free(s->rxbuf);
	free(s);
}

static int nft_sink_open_monitor(struct nft_sink *s)
{
	int group = NFNLGRP_NFTABLES, size = NFT_SINK_RCVBUF, fd;

	s->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!s->mon)
		return -errno;
	if (mnl_socket_bind(s->mon, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	if (mnl_socket_setsockopt(s->mon, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
		return -errno;
	fd = mnl_socket_get_fd(s->mon);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return 0;
}

static int nft_sink_init(const struct scnpm_host *h, void **ret_state)
{
	struct nft_sink *s;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;

	s->rxbuf = malloc(NFT_SINK_RXBUF);
	if (!s->rxbuf) {
		nft_sink_done(s);
		return -ENOMEM;
	}

	s->nft_fd = -1;
	r = nft_sink_new_ctx(s);
	if (r < 0) {
		nft_sink_done(s);
		return scnpm_error_errno(h, -ENOMEM, "Failed to create libnftables context");
	}
	if (s->nft_fd < 0)
		scnpm_debug(
		    s->host,
		    "Could not find libnftables' netlink socket, telling our transactions by task id");
	if (nft_ctx_buffer_output(s->nft) != 0 || nft_ctx_buffer_error(s->nft) != 0) {
		nft_sink_done(s);
		return scnpm_error_errno(h, -ENOMEM, "Failed to buffer libnftables output");
	}

	/* Subscribed before the ruleset is read: nothing that changes after is missed. */
	r = nft_sink_open_monitor(s);
	if (r < 0) {
		nft_sink_done(s);
		return scnpm_error_errno(
		    h, r,
		    "Failed to subscribe to nftables notifications (needs CAP_NET_ADMIN): %m");
	}

	r = nft_sink_open_del_socket(s);
	if (r < 0) {
		nft_sink_done(s);
		return scnpm_error_errno(h, r, "Failed to open a netlink socket for nf_tables: %m");
	}
	/* The generation the first deletes are decided on; NEWGEN keeps it current. */
	if (nft_sink_get_genid(s, &s->genid) < 0)
		s->genid = 0; /* the first deletes read the ruleset first */

	*ret_state = s;
	return 0;
}

static int nft_sink_start(void *state)
{
	struct nft_sink *s = state;
	int r;

	r = sd_event_add_io(s->host->event, &s->mon_source, mnl_socket_get_fd(s->mon), EPOLLIN,
			    nft_sink_on_monitor, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to watch nftables notifications: %m");
	(void)sd_event_source_set_description(s->mon_source, "sink-nft-monitor");
	r = nft_sink_add_sources(s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to add event sources: %m");
	s->started = 1;

	/* What an earlier run left: adopted by the first applies, swept after a moment. */
	s->need_resync = 1;
	nft_sink_schedule(s);
	return 0;
}

/* Would the commands we build for this rule be well-formed? Decided without a kernel. */
static int nft_sink_check_rule(const struct scnpm_rule *rule, const char **ret_why)
{
	struct nft_buf b = {};
	int r;

	if (nft_family_from_name(rule->family) < 0) {
		*ret_why = "unknown nftables family";
		return -EINVAL;
	}
	r = nft_cmd_delete_rule(&b, rule->family, rule->table, rule->name, 1);
	if (r >= 0)
		r = nft_cmd_add_text(&b, rule->text);
	nft_buf_done(&b);
	if (r < 0) {
		*ret_why = r == -ENOMEM
			       ? "out of memory"
			       : "table or chain name not usable, or more than one nft command";
		return r;
	}
	return 0;
}

static int nft_sink_rule_add(void *state, const struct scnpm_rule *rule)
{
	struct nft_sink *s = state;
	const char *why;
	int r;

	if (rule->object == SCNPM_OBJECT_ELEMENT) {
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_REFUSED,
				"element directives need --sink nftnl");
		return -EOPNOTSUPP;
	}
	if (rule->object != SCNPM_OBJECT_RULE) {
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_REFUSED,
				"unknown kind of directive (%" PRIu32 ")", rule->object);
		return -EOPNOTSUPP;
	}
	r = nft_sink_check_rule(rule, &why);
	if (r < 0) {
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_REFUSED, "%s", why);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* What should be in the kernel for one rule and unit: recorded in its instance. */
static void nft_sink_want(struct nft_sink *s, const struct scnpm_event *unit,
			  const struct scnpm_rule *rule)
{
	_cleanup_free_ char *table = NULL, *chain = NULL, *text = NULL, *tagged = NULL;
	struct nft_instance *i;
	const char *why = NULL;
	int family = nft_family_from_name(rule->family), r;
	uint64_t tag;

	if (family < 0 || nft_name_unquote(rule->table, &table) < 0 ||
	    nft_name_unquote(rule->name, &chain) < 0) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"unusable family, table or chain name");
		return;
	}
	i = nft_instances_get(&s->instances, rule, unit->manager, unit->uid, unit->unit, family,
			      table, chain);
	if (!i) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED, "out of memory");
		return;
	}
	nft_instances_mark_dirty(&s->instances, i);
	i->change = unit->change;
	i->result = 0;
	free(i->message);
	i->message = NULL;
	i->waiting = 0;

	if (unit->change == SCNPM_UNIT_STOPPED)
		goto want_nothing;
	r = scnpm_template_expand(rule->text, unit, &text);
	if (r == -ENODATA) {
		/* Withdraw the old instance, add nothing: the unit has no cgroup now. */
		i->result = SCNPM_RESULT_SKIPPED;
		i->message = strdup("unit has no known cgroup");
		goto want_nothing;
	}
	if (r < 0) {
		/* Leave what is in the kernel as it is. */
		i->result = SCNPM_RESULT_FAILED;
		if (asprintf(&i->message, "cannot expand placeholders: %s", strerror(-r)) < 0)
			i->message = NULL;
		return;
	}
	tag = nft_tag_compute(&(struct nft_tag_input){
	    .directive_unit = rule->unit,
	    .directive_text = rule->text,
	    .manager = unit->manager,
	    .uid = unit->uid,
	    .unit = unit->unit,
	    .text = text,
	    /* An id the source could not tell (a path, no id): never the same rule. */
	    .cgroup_id = unit->cgroup_id ?: (unit->cgroup_path ? ++s->n_unknown_ids : 0),
	});
	r = nft_tag_text(text, tag, &tagged, &why);
	if (r < 0) {
		i->result = SCNPM_RESULT_FAILED;
		i->message = strdup(r == -ENOMEM ? "out of memory" : why);
		goto want_nothing;
	}
	free(i->want);
	i->want = TAKE_PTR(tagged);
	i->want_tag = tag;
	/* The same path and text for another cgroup id is the same rule but for that id:
	 * the fast path may put it back from the rule it withdrew (nft-fast.c). */
	i->want_cgroup_id = unit->cgroup_id;
	i->want_path_hash = scnpm_tag_finish(
	    scnpm_tag_mix_str(scnpm_tag_mix_str(SCNPM_TAG_SEED, unit->cgroup_path), text));
	return;

want_nothing:
	free(i->want);
	i->want = NULL;
	i->want_tag = 0;
	i->want_cgroup_id = 0;
	i->want_path_hash = 0;
}

static int nft_sink_apply(void *state, const struct scnpm_event *unit,
			  const struct scnpm_rule *const *rules, size_t n_rules)
{
	struct nft_sink *s = state;

	for (size_t k = 0; k < n_rules; k++)
		nft_sink_want(s, unit, rules[k]);
	nft_sink_schedule(s);
	return 0;
}

static void queue_instance_delete(struct nft_instance *i, void *userdata)
{
	struct nft_sink *s = userdata;

	if (i->handle != 0 &&
	    nft_sink_queue_delete(s, i->family, i->table, i->chain, i->handle, i->tag) < 0)
		scnpm_warning(s->host,
			      "Out of memory, not withdrawing rule handle %" PRIu64 " of chain %s",
			      i->handle, i->chain);
}

static void nft_sink_rule_remove(void *state, const struct scnpm_rule *rule)
{
	struct nft_sink *s = state;

	/* Deleted in the next sync, together with whatever this iteration adds (a
	 * reload's edited rules): no moment with neither or both. */
	nft_instances_foreach(&s->instances, rule, queue_instance_delete, s);
	(void)nft_instances_forget_rule(&s->instances, rule);
	/* rule is freed after this: its address may come back as another directive's */
	nft_fast_forget_rule(&s->fast, rule);
}

static int nft_sink_flush(void *state, const struct scnpm_rule *rule)
{
	struct nft_sink *s = state;
	_cleanup_free_ char *summary = NULL;
	const char *err = NULL;
	int r;

	(void)nft_sink_drain(s);
	nft_buf_reset(&s->cmd);
	r = nft_cmd_flush_chain(&s->cmd, rule->family, rule->table, rule->name);
	if (r < 0) {
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_FAILED,
				"cannot build the flush command: %s", strerror(-r));
		return r;
	}
	r = nft_sink_run(s, nft_buf_str(&s->cmd), NULL, 0, &err);
	if (r < 0) {
		(void)nft_error_summary(err, &summary);
		s->host->report(s->host, rule, NULL, SCNPM_RESULT_FAILED, "%s chain %s %s %s: %s",
				r == -ENOENT ? "no such" : "cannot flush", rule->family,
				rule->table, rule->name, summary ?: "nft failed");
		return r;
	}

	/* The DELRULE notifications tell what of ours went (at start: nothing but leftovers,
	 * which are then not swept again). */
	(void)nft_sink_drain(s);
	scnpm_debug(s->host, "Flushed chain %s %s %s", rule->family, rule->table, rule->name);
	return 0;
}

SCNPM_MODULE_DEFINE = {
    .abi = SCNPM_MODULE_ABI,
    .size = sizeof(struct scnpm_module),
    .kind = SCNPM_MODULE_SINK,
    .name = "sink-nft",
    .description = "nftables rules from rule text, through libnftables",
    .options = NULL,
    .init = nft_sink_init,
    .start = nft_sink_start,
    .done = nft_sink_done,
    .rule_add = nft_sink_rule_add,
    .rule_remove = nft_sink_rule_remove,
    .apply = nft_sink_apply,
    .flush = nft_sink_flush,
    .check = nft_sink_check,
    .inspect = nft_sink_inspect,
    .health = nft_sink_health,
};
