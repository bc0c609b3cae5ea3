/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft: applies configured nftables rule text ("add rule FAMILY TABLE CHAIN ...",
 * placeholders expanded per unit) through one long-lived libnftables context, and
 * withdraws what it added when the unit restarts or stops.
 *
 * It watches nf_tables notifications (NETLINK_NETFILTER, group NFNLGRP_NFTABLES): the
 * NEWRULE messages of its own transactions tell it the handles of the rules it added
 * (cheap: no echo, no ruleset dump, no cgroupfs walk), and DELRULE/DELCHAIN/DELTABLE
 * tell it which of them are gone (nft -f with flush ruleset, nftables restart, manual
 * deletes). It deletes only by handles it learned that way and still believes in, after
 * reading every pending notification, so it never deletes someone else's rule that got
 * an old handle number in a replaced ruleset.
 *
 * Options: none. sd-event sources: one io source on the notification socket
 * ("sink-nft-monitor"). Failure policy: a rule whose cgroup does not exist is SKIPPED;
 * any other nft error FAILS that rule alone (the batch is retried one rule at a time);
 * lost notifications (ENOBUFS) make it forget every handle, which can leave rules behind
 * (until --flush) but never deletes a rule it cannot prove is its own.
 */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/template.h>

#include "nft-cmd.h"
#include "nft-instance.h"
#include "nft-notify.h"

/* Big enough for a 'nft -f' or 'flush ruleset' of tens of thousands of rules between
 * two reads. Only used while notifications wait; needs CAP_NET_ADMIN, which we need
 * anyway, to go beyond net.core.rmem_max. */
#define NFT_SINK_RCVBUF (16 * 1024 * 1024)
#define NFT_SINK_RXBUF	(64 * 1024)

enum nft_sink_lost_state {
	NFT_SINK_LOST_NONE = 0,
	NFT_SINK_LOST_DRAINING, /* ENOBUFS seen, queue not yet read to the end */
	NFT_SINK_LOST_WAIT_GEN, /* queue read to the end, the transaction in flight is torn */
};

struct nft_sink {
	const struct scnpm_host *host;
	struct nft_ctx *nft;
	int nft_fd;	     /* libnftables' netlink socket, -1 when not found */
	uint32_t nft_portid; /* its port, once the kernel bound it; 0 before */
	struct mnl_socket *mon;
	sd_event_source *mon_source;
	char *rxbuf;

	struct nft_instances instances;
	struct nft_txn txn; /* NEWRULE messages since the last NEWGEN */
	enum nft_sink_lost_state lost;
	uint64_t n_lost;

	/* The adds of the command being run, whose handles our own NEWGEN will close. */
	struct nft_expect *expect;
	size_t n_expect;
	uint32_t expect_tid;
	int expect_state; /* 0 waiting, 1 matched, < 0 failed */

	struct nft_buf cmd;
};

/* One rule of an apply(). */
struct nft_op {
	const struct scnpm_rule *rule;
	int family;
	char *table, *chain; /* unquoted, as the kernel reports them */
	char *text;	     /* expanded add command; NULL: nothing to add */
	uint64_t old_handle; /* instance to withdraw; 0: none */
	uint64_t new_handle;
	int skip;	    /* preparation failed: leave the kernel alone */
	ssize_t expect_idx; /* index of its add in the batch's expectations, or -1 */
	uint32_t result;    /* 0 while undecided */
	char *message;
};

static void nft_op_done(struct nft_op *op)
{
	free(op->table);
	free(op->chain);
	free(op->text);
	free(op->message);
}

/* ---- notifications ---- */

static void nft_sink_on_lost(struct nft_sink *s)
{
	size_t n;

	/* We missed messages and cannot tell which: a DELRULE for one of our handles
	 * (followed by someone else's rule taking that number after a ruleset replace),
	 * or the NEWRULE of our own add. Deleting by a handle we are no longer sure of
	 * could remove a foreign rule; forgetting all of them can only leave some of ours
	 * behind (still matching their old cgroups, which are gone or will be withdrawn
	 * by --flush on the next start). We choose the latter. The transaction in
	 * flight is torn, so no handle is learned until the queue was read to its end and
	 * the next NEWGEN closed whatever was in progress. */
	n = nft_instances_forget_all(&s->instances);
	nft_txn_reset(&s->txn);
	s->lost = NFT_SINK_LOST_DRAINING;
	s->n_lost++;
	if (s->expect && s->expect_state == 0)
		s->expect_state = -ENOBUFS;
	scnpm_warning(s->host,
		      "Lost nftables notifications (receive queue overflow, %" PRIu64 " so far), "
		      "forgetting %zu rule handle(s): rules applied so far will not be withdrawn",
		      s->n_lost, n);
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
	case NFT_NOTIFY_DELRULE:
		(void)nft_instances_forget_handle(&s->instances, n.family, n.table, n.handle);
		break;
	case NFT_NOTIFY_DELCHAIN:
		if (nft_instances_forget_where(&s->instances, n.family, n.table, n.chain) > 0)
			scnpm_debug(s->host, "Chain '%s' of table '%s' was deleted", n.chain,
				    n.table);
		break;
	case NFT_NOTIFY_DELTABLE:
		if (nft_instances_forget_where(&s->instances, n.family, n.table, NULL) > 0)
			scnpm_debug(s->host, "Table '%s' was deleted", n.table);
		break;
	case NFT_NOTIFY_NEWGEN:
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
		}
		nft_txn_reset(&s->txn);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

/* Read every notification queued on the monitor socket. */
static int nft_sink_drain(struct nft_sink *s)
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
		(void)mnl_cb_run(s->rxbuf, (size_t)n, 0, 0, nft_sink_on_msg, s);
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

/* ---- libnftables' own socket ---- */

static int is_nfnl_socket(int fd)
{
	int domain = 0, protocol = 0;
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_NETLINK)
		return 0;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0)
		return 0;
	return protocol == NETLINK_NETFILTER;
}

/* The NETLINK_NETFILTER sockets among our fds, as a bitmap of fd numbers. */
static int nft_sink_nfnl_fds(uint8_t *bitmap, size_t n_fds)
{
	DIR *d;
	struct dirent *de;

	memset(bitmap, 0, (n_fds + 7) / 8);
	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd >= n_fds || (int)fd == dirfd(d))
			continue;
		if (is_nfnl_socket((int)fd))
			bitmap[fd / 8] |= (uint8_t)(1u << (fd % 8));
	}
	closedir(d);
	return 0;
}

/*
 * Create the libnftables context and find its netlink socket: the one
 * NETLINK_NETFILTER socket that appeared during nft_ctx_new(). libnftables opens it
 * there and keeps it for the context's lifetime (it stopped reopening it in 0.9.9); the
 * kernel binds it to a port at its first send. Knowing that port tells our own
 * transactions apart from everybody else's in the notifications, also inside a PID
 * namespace, where the task id the kernel reports is not ours. When the socket cannot
 * be found (no /proc), the task id is used instead.
 */
static int nft_sink_new_ctx(struct nft_sink *s)
{
	enum { N_FDS = 4096 };
	uint8_t before[N_FDS / 8], after[N_FDS / 8];
	int have_before, found = -1;

	have_before = nft_sink_nfnl_fds(before, N_FDS) >= 0;
	s->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!s->nft)
		return -ENOMEM;
	s->nft_fd = -1;
	if (!have_before || nft_sink_nfnl_fds(after, N_FDS) < 0)
		return 0;
	for (int fd = 0; fd < N_FDS; fd++)
		if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8))) {
			if (found >= 0)
				return 0; /* more than one: cannot tell */
			found = fd;
		}
	s->nft_fd = found;
	return 0;
}

static uint32_t nft_sink_socket_port(int fd)
{
	struct sockaddr_nl addr = {};
	socklen_t len = sizeof(addr);

	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0 || addr.nl_family != AF_NETLINK)
		return 0;
	return addr.nl_pid;
}

/* ---- running commands ---- */

/*
 * Run cmds (one or more lines) as one libnftables batch, that is one kernel
 * transaction. For the n rules it adds (e, in order), learn their handles from our
 * transaction's notifications; a handle stays 0 when that failed. On failure returns
 * -errno and, in *ret_err, nft's error output (valid until the next run).
 */
static int nft_sink_run(struct nft_sink *s, const char *cmds, struct nft_expect *e, size_t n,
			const char **ret_err)
{
	const char *err;
	int r;

	for (size_t i = 0; i < n; i++)
		e[i].handle = 0;
	s->expect = e;
	s->n_expect = n;
	s->expect_tid = (uint32_t)gettid();
	s->expect_state = 0;

	r = nft_run_cmd_from_buffer(s->nft, cmds);
	if (s->nft_portid == 0 && s->nft_fd >= 0) {
		s->nft_portid = nft_sink_socket_port(s->nft_fd);
		if (s->nft_portid != 0)
			scnpm_debug(s->host, "libnftables commits through netlink port %" PRIu32,
				    s->nft_portid);
	}
	(void)nft_ctx_get_output_buffer(s->nft); /* consume */
	err = nft_ctx_get_error_buffer(s->nft);
	if (r != 0) {
		s->expect = NULL;
		if (ret_err)
			*ret_err = err;
		return nft_error_errno(err);
	}

	/* The kernel queued the notifications of our commit before it acked the batch,
	 * so they are all there by now. */
	r = nft_sink_drain(s);
	if (r < 0)
		scnpm_warning_errno(s->host, r, "Failed to read nftables notifications: %m");
	if (n > 0 && s->expect_state != 1)
		scnpm_warning(
		    s->host,
		    "Added %zu rule(s) but could not learn their handles (%s): they will not be withdrawn",
		    n, s->expect_state < 0 ? strerror(-s->expect_state) : "no notification");
	s->expect = NULL;
	return 0;
}

/* ---- module callbacks ---- */

static void nft_sink_done(void *state)
{
	struct nft_sink *s = state;

	if (!s)
		return;
	sd_event_source_disable_unref(s->mon_source);
	if (s->mon)
		mnl_socket_close(s->mon);
	if (s->nft)
		nft_ctx_free(s->nft);
	nft_instances_done(&s->instances);
	nft_txn_done(&s->txn);
	nft_buf_done(&s->cmd);
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

	r = nft_sink_open_monitor(s);
	if (r < 0) {
		nft_sink_done(s);
		return scnpm_error_errno(
		    h, r,
		    "Failed to subscribe to nftables notifications (needs CAP_NET_ADMIN): %m");
	}

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

static int nft_op_set(struct nft_op *op, uint32_t result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int nft_op_set(struct nft_op *op, uint32_t result, const char *fmt, ...)
{
	va_list ap;
	int r = 0;

	op->result = result;
	free(op->message);
	op->message = NULL;
	if (fmt) {
		va_start(ap, fmt);
		if (vasprintf(&op->message, fmt, ap) < 0) {
			op->message = NULL;
			r = -ENOMEM;
		}
		va_end(ap);
	}
	return r;
}

/* Set op's result from nft's error output for its add command. */
static void nft_op_add_failed(struct nft_sink *s, struct nft_op *op, const char *err)
{
	_cleanup_free_ char *summary = NULL;

	(void)nft_error_summary(err, &summary);
	if (nft_error_classify(err) == NFT_ERROR_NO_CGROUP)
		(void)nft_op_set(op, SCNPM_RESULT_SKIPPED, "%s",
				 summary ?: "cgroup does not exist");
	else
		(void)nft_op_set(op, SCNPM_RESULT_FAILED, "%s", summary ?: "nft failed");
}

/* Record what a successful add or delete of op means for the instance table. */
static void nft_sink_op_committed(struct nft_sink *s, const struct scnpm_event *unit,
				  struct nft_op *op, int added, int deleted)
{
	struct nft_instance *i;
	int r;

	if (deleted) {
		i = nft_instances_find(&s->instances, op->rule, unit->manager, unit->uid,
				       unit->unit);
		if (i && i->handle == op->old_handle)
			nft_instances_remove(&s->instances, i);
	}
	if (!added)
		return;
	if (op->new_handle == 0)
		return; /* nft_sink_run() warned */
	r = nft_instances_put(&s->instances, op->rule, unit->manager, unit->uid, unit->unit,
			      op->family, op->table, op->chain, op->new_handle);
	if (r < 0)
		scnpm_warning_errno(s->host, r,
				    "Failed to remember handle %" PRIu64
				    ", the rule will not be withdrawn: %m",
				    op->new_handle);
}

static void nft_sink_op_applied(struct nft_op *op, int added, int deleted)
{
	if (op->result != 0)
		return; /* decided before (SKIPPED: nothing to add) */
	if (added)
		(void)nft_op_set(op, SCNPM_RESULT_APPLIED, "added (handle %" PRIu64 ")%s",
				 op->new_handle, deleted ? ", previous instance withdrawn" : "");
	else
		(void)nft_op_set(op, SCNPM_RESULT_APPLIED,
				 deleted ? "withdrawn" : "nothing to withdraw");
}

/* Still ours after reading every pending notification? */
static int nft_sink_op_still_ours(struct nft_sink *s, const struct scnpm_event *unit,
				  const struct nft_op *op)
{
	struct nft_instance *i;

	if (op->old_handle == 0)
		return 0;
	i = nft_instances_find(&s->instances, op->rule, unit->manager, unit->uid, unit->unit);
	return i && i->handle == op->old_handle;
}

/* Forget op's previous instance, if we still hold it under the same handle. */
static void nft_sink_op_forget_old(struct nft_sink *s, const struct scnpm_event *unit,
				   const struct nft_op *op)
{
	struct nft_instance *i;

	i = nft_instances_find(&s->instances, op->rule, unit->manager, unit->uid, unit->unit);
	if (i && i->handle == op->old_handle)
		nft_instances_remove(&s->instances, i);
}

/* Withdraw op's previous instance on its own. 1 deleted, 0 nothing to do, < 0 failed
 * (op's result is set then). */
static int nft_sink_op_delete_alone(struct nft_sink *s, const struct scnpm_event *unit,
				    struct nft_op *op)
{
	_cleanup_free_ char *summary = NULL;
	const char *err = NULL;
	int r;

	/* Re-read notifications: the ruleset may have changed under the failed batch. */
	(void)nft_sink_drain(s);
	if (!nft_sink_op_still_ours(s, unit, op))
		return 0;

	nft_buf_reset(&s->cmd);
	r = nft_cmd_delete_rule(&s->cmd, op->rule->family, op->rule->table, op->rule->name,
				op->old_handle);
	if (r < 0) {
		(void)nft_op_set(op, SCNPM_RESULT_FAILED, "cannot build the nft command: %s",
				 strerror(-r));
		return r;
	}
	r = nft_sink_run(s, nft_buf_str(&s->cmd), NULL, 0, &err);
	if (r >= 0) {
		nft_sink_op_forget_old(s, unit, op);
		return 1;
	}
	if (nft_error_classify(err) == NFT_ERROR_NOENT) {
		/* Gone already, and we were not told: stop believing in that handle. */
		nft_sink_op_forget_old(s, unit, op);
		return 0;
	}
	(void)nft_error_summary(err, &summary);
	(void)nft_op_set(op, SCNPM_RESULT_FAILED,
			 "failed to withdraw the previous instance (handle %" PRIu64 "): %s",
			 op->old_handle, summary ?: "nft failed");
	return r;
}

/* One rule at a time: used when the batch failed, so that each rule gets its own result. */
static void nft_sink_op_alone(struct nft_sink *s, const struct scnpm_event *unit, struct nft_op *op)
{
	struct nft_expect e = {.family = op->family, .table = op->table, .chain = op->chain};
	const char *err = NULL;
	int deleted, r;

	deleted = nft_sink_op_delete_alone(s, unit, op);
	if (deleted < 0)
		return; /* adding now would leave two instances */

	if (!op->text) {
		nft_sink_op_applied(op, 0, deleted);
		return;
	}
	nft_buf_reset(&s->cmd);
	r = nft_cmd_add_text(&s->cmd, op->text);
	if (r < 0) {
		(void)nft_op_set(op, SCNPM_RESULT_FAILED, "cannot build the nft command: %s",
				 strerror(-r));
		return;
	}
	r = nft_sink_run(s, nft_buf_str(&s->cmd), &e, 1, &err);
	if (r < 0) {
		nft_op_add_failed(s, op, err);
		return;
	}
	op->new_handle = e.handle;
	nft_sink_op_committed(s, unit, op, 1, 0);
	nft_sink_op_applied(op, 1, deleted);
}

/* Work out what to do for one rule: which instance to withdraw, what to add. */
static void nft_sink_op_prepare(struct nft_sink *s, const struct scnpm_event *unit,
				const struct scnpm_rule *rule, struct nft_op *op)
{
	struct nft_instance *i;
	int r;

	*op = (struct nft_op){.rule = rule, .expect_idx = -1};
	op->family = nft_family_from_name(rule->family);
	if (op->family < 0 || nft_name_unquote(rule->table, &op->table) < 0 ||
	    nft_name_unquote(rule->name, &op->chain) < 0) {
		op->skip = 1;
		(void)nft_op_set(op, SCNPM_RESULT_FAILED, "unusable family, table or chain name");
		return;
	}

	i = nft_instances_find(&s->instances, rule, unit->manager, unit->uid, unit->unit);
	if (i)
		op->old_handle = i->handle;

	if (unit->change == SCNPM_UNIT_STOPPED)
		return;

	if (scnpm_template_has_placeholders(rule->text)) {
		r = scnpm_template_expand(rule->text, unit, &op->text);
		if (r == -ENODATA) {
			/* Withdraw the old instance, add nothing: the unit has no cgroup now. */
			(void)nft_op_set(op, SCNPM_RESULT_SKIPPED, "unit has no known cgroup");
			return;
		}
		if (r < 0) {
			op->skip = 1;
			(void)nft_op_set(op, SCNPM_RESULT_FAILED, "cannot expand placeholders: %s",
					 strerror(-r));
			return;
		}
	} else {
		op->text = strdup(rule->text);
		if (!op->text) {
			op->skip = 1;
			(void)nft_op_set(op, SCNPM_RESULT_FAILED, "out of memory");
		}
	}
}

static int nft_sink_apply(void *state, const struct scnpm_event *unit,
			  const struct scnpm_rule *const *rules, size_t n_rules)
{
	struct nft_sink *s = state;
	_cleanup_free_ struct nft_op *ops = NULL;
	_cleanup_free_ struct nft_expect *expect = NULL;
	size_t n_expect = 0, n_cmds = 0;
	const char *err = NULL;
	int r;

	if (n_rules == 0)
		return 0;

	ops = calloc(n_rules, sizeof(*ops));
	expect = calloc(n_rules, sizeof(*expect));
	if (!ops || !expect) {
		for (size_t i = 0; i < n_rules; i++)
			s->host->report(s->host, rules[i], unit, SCNPM_RESULT_FAILED,
					"out of memory");
		return -ENOMEM;
	}

	/* Know what is still ours before deciding what to delete. */
	r = nft_sink_drain(s);
	if (r < 0)
		scnpm_warning_errno(s->host, r, "Failed to read nftables notifications: %m");

	/* One batch, one transaction: deletes of the old instances and adds of the new
	 * ones, in rule order. */
	nft_buf_reset(&s->cmd);
	for (size_t i = 0; i < n_rules; i++) {
		struct nft_op *op = &ops[i];

		nft_sink_op_prepare(s, unit, rules[i], op);
		if (op->skip)
			continue;
		if (op->old_handle != 0) {
			r = nft_cmd_delete_rule(&s->cmd, op->rule->family, op->rule->table,
						op->rule->name, op->old_handle);
			if (r < 0) {
				op->skip = 1;
				(void)nft_op_set(op, SCNPM_RESULT_FAILED,
						 "cannot build the nft command: %s", strerror(-r));
				continue;
			}
			n_cmds++;
		}
		if (op->text && op->result == 0) {
			r = nft_cmd_add_text(&s->cmd, op->text);
			if (r < 0) {
				/* Still withdraw the old instance (its command is in). */
				free(op->text);
				op->text = NULL;
				(void)nft_op_set(op, SCNPM_RESULT_FAILED,
						 "cannot build the nft command: %s", strerror(-r));
				continue;
			}
			expect[n_expect] = (struct nft_expect){
			    .family = op->family,
			    .table = op->table,
			    .chain = op->chain,
			};
			op->expect_idx = (ssize_t)n_expect++;
			n_cmds++;
		}
	}

	if (n_cmds > 0)
		r = nft_sink_run(s, nft_buf_str(&s->cmd), expect, n_expect, &err);
	else
		r = 0;

	if (r >= 0) {
		for (size_t i = 0; i < n_rules; i++) {
			struct nft_op *op = &ops[i];
			int added = op->expect_idx >= 0, deleted = op->old_handle != 0;

			if (op->skip)
				continue;
			if (added)
				op->new_handle = expect[op->expect_idx].handle;
			nft_sink_op_committed(s, unit, op, added, deleted);
			nft_sink_op_applied(op, added, deleted);
		}
	} else if (n_cmds == 1 && n_expect == 1) {
		/* The batch was that one add: its error is the rule's result. */
		for (size_t i = 0; i < n_rules; i++)
			if (ops[i].expect_idx >= 0)
				nft_op_add_failed(s, &ops[i], err);
	} else {
		/* One failing command aborts the whole transaction and nft's error output
		 * does not reliably say which command it was: retry one rule at a time,
		 * so that every rule gets its own result and the good ones get applied. */
		scnpm_debug(s->host,
			    "Batch of %zu nft command(s) for '%s' failed, retrying one by one",
			    n_cmds, unit->unit);
		for (size_t i = 0; i < n_rules; i++) {
			struct nft_op *op = &ops[i];

			if (op->skip)
				continue;
			if (op->result == 0 || op->old_handle != 0)
				nft_sink_op_alone(s, unit, op);
		}
	}

	for (size_t i = 0; i < n_rules; i++) {
		struct nft_op *op = &ops[i];

		s->host->report(s->host, op->rule, unit, op->result ?: SCNPM_RESULT_FAILED, "%s",
				op->message ?: "no result");
		nft_op_done(op);
	}
	return 0;
}

struct handle_list {
	uint64_t *handles;
	size_t n, cap;
	int oom;
};

static void collect_handle(struct nft_instance *i, void *userdata)
{
	struct handle_list *l = userdata;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint64_t *p = realloc(l->handles, cap * sizeof(*p));

		if (!p) {
			l->oom = 1;
			return;
		}
		l->handles = p;
		l->cap = cap;
	}
	l->handles[l->n++] = i->handle;
}

static void nft_sink_rule_remove(void *state, const struct scnpm_rule *rule)
{
	struct nft_sink *s = state;
	struct handle_list l = {};
	const char *err = NULL;
	int r;

	(void)nft_sink_drain(s);
	nft_instances_foreach_rule(&s->instances, rule, collect_handle, &l);
	if (l.oom)
		scnpm_warning(s->host,
			      "Out of memory, not withdrawing all instances of a removed rule");

	nft_buf_reset(&s->cmd);
	for (size_t i = 0; i < l.n; i++)
		(void)nft_cmd_delete_rule(&s->cmd, rule->family, rule->table, rule->name,
					  l.handles[i]);

	if (l.n > 0 && nft_sink_run(s, nft_buf_str(&s->cmd), NULL, 0, &err) < 0) {
		/* Some instance is gone already (or worse): one at a time. */
		for (size_t i = 0; i < l.n; i++) {
			_cleanup_free_ char *summary = NULL;

			nft_buf_reset(&s->cmd);
			(void)nft_cmd_delete_rule(&s->cmd, rule->family, rule->table, rule->name,
						  l.handles[i]);
			r = nft_sink_run(s, nft_buf_str(&s->cmd), NULL, 0, &err);
			if (r >= 0 || nft_error_classify(err) == NFT_ERROR_NOENT)
				continue;
			(void)nft_error_summary(err, &summary);
			scnpm_warning(s->host,
				      "Failed to withdraw rule handle %" PRIu64
				      " of chain '%s', ignoring: %s",
				      l.handles[i], rule->name, summary ?: "nft failed");
		}
	}

	(void)nft_instances_forget_rule(&s->instances, rule);
	free(l.handles);
}

static int nft_sink_flush(void *state, const struct scnpm_rule *rule)
{
	struct nft_sink *s = state;
	_cleanup_free_ char *summary = NULL, *table = NULL, *chain = NULL;
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

	/* The DELRULE notifications said it already; this covers a lost one. */
	if (nft_name_unquote(rule->table, &table) >= 0 && nft_name_unquote(rule->name, &chain) >= 0)
		(void)nft_instances_forget_where(&s->instances, nft_family_from_name(rule->family),
						 table, chain);
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
};
