/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sink-nftnl: the op queue, batches, acks and what each op means once done. */
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
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <systemd/sd-event.h>

#include <scnpm/cgroup2.h>
#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/netlink.h>
#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include <scnpm/tag.h>



#include "sink-nftnl.h"

void nftnl_mnl_socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		mnl_socket_close(*nl);
}

/* ---- batches ---- */

int nftnl_sink_put_op(struct nftnl_sink *s, struct nftnl_op *op)
{
	struct nftnl_target *t = op->target;

	switch (op->type) {
	case NFTNL_OP_ADD_ELEM:
		return nlbatch_put_setelem(&s->batch, NFT_MSG_NEWSETELEM, t->family, t->table,
					   t->name, op->id, op->verdict, op->seq);
	case NFTNL_OP_DEL_ELEM:
		return nlbatch_put_setelem(&s->batch, NFT_MSG_DELSETELEM, t->family, t->table,
					   t->name, op->id, NULL, op->seq);
	case NFTNL_OP_ADD_RULE: {
		struct nlbatch_dispatch d = { .counter = op->counter, .tag = op->tag };

		if (!op->verdict)
			return -EINVAL;
		d.verdict = *op->verdict;
		return nlbatch_put_dispatch_rule(&s->batch, t->family, t->table, t->name, &d,
						 op->level, op->id, op->seq);
	}
	case NFTNL_OP_DEL_RULE:
		if (op->handle == 0)
			return -EINVAL; /* never flush a chain by accident */
		return nlbatch_put_delrule(&s->batch, t->family, t->table, t->name, op->handle,
					   op->seq);
	}
	return -EINVAL;
}


/* The ruleset's generation now (NFT_MSG_GETGEN on a socket of its own). 0 or -errno. */
int nftnl_sink_get_genid(uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	ssize_t n;
	int r;

	if (!nl)
		return -errno;
	n = nlbatch_getgen(buf, sizeof(buf), 1);
	if (n < 0)
		r = (int)n;
	else if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
		 mnl_socket_sendto(nl, buf, (size_t)n) < 0 ||
		 (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0)
		r = -errno;
	else if (scnpm_nlmsg_framed_len(buf, (size_t)n) == 0)
		r = -EBADMSG;
	else
		r = nlbatch_parse_gen((const struct nlmsghdr *)buf, ret);
	mnl_socket_close(nl);
	return r;
}

int nftnl_sink_send(struct nftnl_sink *s, const void *buf, size_t len)
{
	for (;;) {
		if (mnl_socket_sendto(s->nl, buf, len) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

void nftnl_sink_send_batch(struct nftnl_sink *s)
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

void nftnl_sink_target_missing(struct nftnl_sink *s, struct nftnl_target *t)
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
/* What an acked (or failed, or cancelled) op means, one function per kind of op. */

static void add_elem_done(struct nftnl_sink *s, struct nftnl_op *op, int err)
{
	struct nftnl_target *t = op->target;
	struct nftnl_claim *c = op->claim;
	struct nftnl_elem *e = nftnl_target_find_elem(t, op->id);

	if (op->cancelled)
		return;
	if (e && e->verdict == op->verdict)
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
		return;
	}
	if (e)
		e->in_kernel = 0;
	if (err == -ENOENT && t->exists != 1) {
		nftnl_sink_target_missing(s, t);
		if (c)
			nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
					   "%s %s %s does not exist; filled when it appears",
					   nftnl_fam(t), t->table, t->name);
		return;
	}
	if ((err == -EEXIST || err == -EBUSY) && e && e->refs > 0 && !e->replaced) {
		/* an element left with another verdict (an earlier run, another config):
		 * replace it, once */
		struct nftnl_op *add;

		e->replaced = 1;
		nftnl_sink_queue_op(s, NFTNL_OP_DEL_ELEM, t, op->id, NULL);
		add = nftnl_sink_queue_op(s, NFTNL_OP_ADD_ELEM, t, op->id, c);
		if (add) {
			add->verdict = e->verdict;
			e->adding = 1;
		}
		return;
	}
	if (!c)
		scnpm_warning_errno(s->host, err, "Failed to add cgroup %" PRIu64 " to %s %s %s: %m",
				    op->id, nftnl_fam(t), t->table, t->name);
	else if (err == -ENOENT && op->verdict && op->verdict->kind >= NLBATCH_VERDICT_JUMP)
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "Failed to add cgroup %" PRIu64 " to %s %s %s: %s (does chain '%s' exist?)",
				   op->id, nftnl_fam(t), t->table, t->name, strerror(-err),
				   op->verdict->chain);
	else
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "Failed to add cgroup %" PRIu64 " to %s %s %s: %s", op->id,
				   nftnl_fam(t), t->table, t->name, strerror(-err));
}

static void del_elem_done(struct nftnl_sink *s, struct nftnl_op *op, int err)
{
	struct nftnl_target *t = op->target;

	if (err == 0 || err == -ENOENT || op->cancelled)
		return;
	if (op->claim)
		nftnl_claim_result(op->claim, SCNPM_RESULT_FAILED,
				   "Failed to remove cgroup %" PRIu64 " from %s %s %s: %s", op->id,
				   nftnl_fam(t), t->table, t->name, strerror(-err));
	else
		scnpm_warning_errno(s->host, err, "Failed to remove cgroup %" PRIu64 " from %s %s %s: %m",
				    op->id, nftnl_fam(t), t->table, t->name);
}

static void add_rule_done(struct nftnl_sink *s, struct nftnl_op *op, int err)
{
	struct nftnl_target *t = op->target;
	struct nftnl_claim *c = op->claim;

	if (op->cancelled)
		return;
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
			struct nftnl_op *del = nftnl_sink_queue_op(s, NFTNL_OP_DEL_RULE, t, op->id, NULL);

			if (del)
				del->handle = op->handle;
		}
		return;
	}
	if (err == -ENOENT && t->exists != 1) {
		nftnl_sink_target_missing(s, t);
		if (c)
			nftnl_claim_result(c, SCNPM_RESULT_SKIPPED,
					   "chain %s %s %s does not exist; rule added when it appears",
					   nftnl_fam(t), t->table, t->name);
		return;
	}
	if (c)
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "Failed to add rule for cgroup %" PRIu64 " to %s %s %s: %s", op->id,
				   nftnl_fam(t), t->table, t->name, strerror(-err));
}

static void del_rule_done(struct nftnl_sink *s, struct nftnl_op *op, int err)
{
	struct nftnl_target *t = op->target;
	struct nftnl_claim *c = op->claim;

	if (c && (err == 0 || err == -ENOENT) && c->handle == op->handle) {
		c->actual = 0;
		c->handle = 0;
	}
	if (err == 0 || err == -ENOENT || op->cancelled)
		return;
	if (c)
		nftnl_claim_result(c, SCNPM_RESULT_FAILED,
				   "Failed to delete rule handle %" PRIu64 " from %s %s %s: %s",
				   op->handle, nftnl_fam(t), t->table, t->name, strerror(-err));
	else
		scnpm_warning_errno(s->host, err, "Failed to delete rule handle %" PRIu64 " from %s %s %s: %m",
				    op->handle, nftnl_fam(t), t->table, t->name);
}

void nftnl_sink_op_done(struct nftnl_sink *s, struct nftnl_op *op)
{
	static void (*const done[])(struct nftnl_sink *, struct nftnl_op *, int) = {
		[NFTNL_OP_ADD_ELEM] = add_elem_done,
		[NFTNL_OP_DEL_ELEM] = del_elem_done,
		[NFTNL_OP_ADD_RULE] = add_rule_done,
		[NFTNL_OP_DEL_RULE] = del_rule_done,
	};
	struct nftnl_claim *c = op->claim;

	done[op->type](s, op, op->error);
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
void nftnl_sink_batch_complete(struct nftnl_sink *s)
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

/* ---- the command socket ---- */

struct nftnl_target *nftnl_sink_find_dump(struct nftnl_sink *s, uint32_t seq)
{
	if (seq == 0)
		return NULL;
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->dump == NFTNL_DUMP_RUNNING && t->dump_seq == seq)
			return t;
	return NULL;
}

void nftnl_sink_nl_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh)
{
	uint32_t seq = nlh->nlmsg_seq;
	struct nftnl_target *t;

	if (s->inflight && seq >= s->inflight_first_seq &&
	    seq - s->inflight_first_seq < s->n_inflight) {
		struct nftnl_op *op = s->inflight[seq - s->inflight_first_seq];

		int err;

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (nlbatch_parse_error(nlh, &err) < 0 || op->acked)
				return;
			op->acked = 1;
			op->error = err;
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
		int err;

		/* the batch as a whole was refused (EPERM, ...) */
		if (nlbatch_parse_error(nlh, &err) < 0 || err == 0)
			return;
		if (err == -ERESTART) {
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
				s->inflight[i]->error = err;
			}
		s->n_unacked = 0;
		return;
	}
	t = nftnl_sink_find_dump(s, seq);
	if (t) {
		nftnl_sink_dump_msg(s, t, nlh);
		if (t->dump != NFTNL_DUMP_RUNNING)
			nftnl_sink_next_dump(s);
	}
}

void nftnl_sink_resync(struct nftnl_sink *s)
{
	for (struct nftnl_target *t = s->targets; t; t = t->next)
		if (t->n_rules > 0)
			(void)nftnl_sink_request_dump(s, t);
}

/* Read everything queued on fd and hand each message to handle(). Returns 1 when the
 * kernel dropped messages (ENOBUFS: receive buffer overrun), else 0. */
int nftnl_sink_drain(struct nftnl_sink *s, int fd,
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
		len = (int)scnpm_nlmsg_framed_len(s->rbuf, (size_t)n);
		for (nlh = (const struct nlmsghdr *)s->rbuf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len))
			handle(s, nlh);
	}
	return overrun;
}

int nftnl_sink_on_nl(sd_event_source *es, int fd, uint32_t revents, void *userdata)
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
			if (t->dump == NFTNL_DUMP_RUNNING)
				t->dump = NFTNL_DUMP_NONE; /* its replies may be lost too */
		nftnl_sink_resync(s);
	}
	if (s->inflight && (s->n_unacked == 0 || overrun))
		nftnl_sink_batch_complete(s);
	return 0;
}

/* ---- deferred work ---- */

int nftnl_sink_on_flush(sd_event_source *es, void *userdata)
{
	struct nftnl_sink *s = userdata;

	nftnl_sink_process_dirty(s);
	nftnl_sink_send_batch(s);
	/* The kernel handled the batch while we sent it: its acks, and the notifications
	 * of our own commit, are queued already. Reading them now saves the loop a wakeup
	 * for each socket (the next batch, if any, goes from the next iteration). */
	if (s->inflight) {
		(void)nftnl_sink_on_nl(NULL, mnl_socket_get_fd(s->nl), EPOLLIN, s);
		if (s->mon)
			(void)nftnl_sink_on_mon(NULL, mnl_socket_get_fd(s->mon), EPOLLIN, s);
	}
	return 0;
}

void nftnl_sink_schedule(struct nftnl_sink *s)
{
	if (s->flush_source)
		(void)sd_event_source_set_enabled(s->flush_source, SD_EVENT_ONESHOT);
}

/* Runs at idle priority once after start() (and after a rule naming a new set was
 * added): by then the core has made its initial apply() calls, which it makes from
 * normal-priority sources in the first iterations, so an id nobody claimed is stale. */
void nftnl_sink_set_bufs(struct mnl_socket *nl)
{
	int fd = mnl_socket_get_fd(nl), size = NFTNL_SINK_RCVBUF, snd = NFTNL_SINK_SNDBUF;

	/* The *FORCE options need CAP_NET_ADMIN, which writing nf_tables needs anyway;
	 * nft raises its send buffer the same way for big batches. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &snd, sizeof(snd)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd));
}

int nftnl_sink_open(struct mnl_socket **ret, unsigned group)
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

