/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Deleting rules of ours by handle without ever hitting someone else's.
 *
 * A handle is only unique within its table, and a table that is deleted and created
 * again (a 'flush ruleset' + reload, 'nft -f') numbers its rules from 1 again: the
 * handle we hold may be a foreign rule's by the time our delete reaches the kernel. So
 * deletes do not go through libnftables (whose batches carry no generation) but as our
 * own nf_tables batch whose begin message carries NFNL_BATCH_GENID, the ruleset
 * generation our decision was based on: the last NEWGEN the monitor read, after reading
 * every notification queued (so every DELRULE/DELTABLE of others is known and the
 * deletes of gone rules are dropped). If any commit slipped in after that, the kernel
 * refuses the whole batch with ERESTART and touches nothing; then the notifications are
 * read again, the deletes are checked against the tagged rules of the ruleset as it is
 * now (a generation-consistent read), and sent again.
 *
 * Each DELRULE asks for an ack, so one that fails (ENOENT: gone already) is known by its
 * sequence number; the kernel aborts the batch then, and the rest go again without it.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/netlink.h>

#include "sink-nft.h"

/* Deletes per batch; their acks (about 1 KiB each as the socket accounts them) fit the
 * receive buffer. Acks lost anyway (ENOBUFS) make the ruleset be read to see what
 * happened. */
#define NFT_DEL_BATCH_MAX 512
#define NFT_DEL_RCVBUF	  (2 * 1024 * 1024)
/* Batches refused for a stale generation before the deletes wait for the next sync. */
#define NFT_DEL_ATTEMPTS 8
/* What one datagram of answers may take: coalesced acks and echoes fill at most a page,
 * a single rule echoed back may be bigger (nft-fast.c keeps its rules below this). */
#define NFT_NL_RXBUF (16 * 1024)

int nft_sink_open_del_socket(struct nft_sink *s)
{
	int one = 1, size = NFT_DEL_RCVBUF, fd;

	s->del_nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!s->del_nl)
		return -errno;
	if (mnl_socket_bind(s->del_nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	/* acks without the request echoed back */
	(void)mnl_socket_setsockopt(s->del_nl, NETLINK_CAP_ACK, &one, sizeof(one));
	fd = mnl_socket_get_fd(s->del_nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return 0;
}

static int gen_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct nft_notify n;

	if (nft_notify_parse(nlh, &n) < 0 || n.type != NFT_NOTIFY_NEWGEN)
		return MNL_CB_ERROR;
	*(uint32_t *)userdata = n.gen_id;
	return MNL_CB_OK;
}

int nft_sink_get_genid(struct nft_sink *s, uint32_t *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint32_t seq = ++s->del_seq, gen = 0;
	ssize_t n;
	int r;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	*nfg = (struct nfgenmsg){.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0};
	if (mnl_socket_sendto(s->del_nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do
		n = mnl_socket_recvfrom(s->del_nl, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r = mnl_cb_run(buf, scnpm_nlmsg_framed_len(buf, (size_t)n), seq,
		       mnl_socket_get_portid(s->del_nl), gen_cb, &gen);
	if (r == MNL_CB_ERROR)
		return errno > 0 ? -errno : -EBADMSG;
	*ret = gen;
	return 0;
}

size_t nft_sink_put_batch_msg(void *buf, uint16_t type, uint32_t seq, uint32_t genid)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	*nfg = (struct nfgenmsg){.nfgen_family = AF_UNSPEC,
				 .version = NFNETLINK_V0,
				 .res_id = htons(NFNL_SUBSYS_NFTABLES)};
	if (genid != 0)
		mnl_attr_put_u32(nlh, NFNL_BATCH_GENID, htonl(genid));
	return nlh->nlmsg_len;
}

int nft_sink_nl_send(struct nft_sink *s, const void *buf, size_t len)
{
	for (;;) {
		if (mnl_socket_sendto(s->del_nl, buf, len) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int nft_sink_nl_read(struct nft_sink *s, mnl_cb_t cb, mnl_cb_t ack_cb, void *userdata)
{
	mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = ack_cb};
	int lost = 0;

	/* The kernel answers a request, and runs a whole batch, in our sendto(): all of
	 * it is queued by now. */
	for (;;) {
		char rx[NFT_NL_RXBUF] __attribute__((aligned(4)));
		ssize_t m =
		    recv(mnl_socket_get_fd(s->del_nl), rx, sizeof(rx), MSG_DONTWAIT | MSG_TRUNC);

		if (m < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return lost ? -ENOBUFS : 0;
			if (errno != ENOBUFS)
				return -errno;
			lost = 1;
			continue;
		}
		if ((size_t)m > sizeof(rx)) {
			lost = 1; /* a datagram too big for us: as good as lost */
			continue;
		}
		(void)mnl_cb_run2(rx, scnpm_nlmsg_framed_len(rx, (size_t)m), 0,
				  mnl_socket_get_portid(s->del_nl), cb, userdata, ctl,
				  NLMSG_MIN_TYPE);
	}
}

struct del_acks {
	uint32_t first_seq; /* of p[0]; the begin message has first_seq - 1 */
	struct nft_del **p;
	size_t n;
	int restart; /* the batch was refused for its generation */
};

static int del_ack_cb(const struct nlmsghdr *nlh, void *userdata)
{
	struct del_acks *a = userdata;
	const struct nlmsgerr *e;

	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr))
		return MNL_CB_OK;
	e = mnl_nlmsg_get_payload(nlh);
	if (nlh->nlmsg_seq == a->first_seq - 1) {
		if (e->error == -ERESTART)
			a->restart = 1;
		return MNL_CB_OK;
	}
	if (nlh->nlmsg_seq - a->first_seq < a->n)
		a->p[nlh->nlmsg_seq - a->first_seq]->err = e->error;
	return MNL_CB_OK;
}

/* One batch deleting *p[0..n), decided on generation genid. 0 when the kernel took it,
 * -ERESTART when it refused the generation, -EIO when some delete failed (their err say
 * which; the kernel applied none), other -errno. */
static int del_batch(struct nft_sink *s, struct nft_del **p, size_t n, uint32_t genid)
{
	size_t cap = (n + 2) * 512;
	_cleanup_free_ char *buf = malloc(cap);
	struct del_acks a = {.p = p, .n = n};
	size_t len = 0;
	int failed = 0, r;

	if (!buf)
		return -ENOMEM;
	a.first_seq = s->del_seq + 2;
	len += nft_sink_put_batch_msg(buf, NFNL_MSG_BATCH_BEGIN, ++s->del_seq, genid);
	for (size_t k = 0; k < n; k++) {
		struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + len);
		struct nfgenmsg *nfg;

		nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		nlh->nlmsg_seq = ++s->del_seq;
		nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
		*nfg = (struct nfgenmsg){.nfgen_family = (uint8_t)p[k]->family,
					 .version = NFNETLINK_V0};
		mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, p[k]->table);
		mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, p[k]->chain);
		mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(p[k]->handle));
		len += nlh->nlmsg_len;
		p[k]->err = 0;
	}
	len += nft_sink_put_batch_msg(buf + len, NFNL_MSG_BATCH_END, ++s->del_seq, 0);

	r = nft_sink_nl_send(s, buf, len);
	if (r < 0)
		return r;
	r = nft_sink_nl_read(s, NULL, del_ack_cb, &a);
	if (r < 0)
		return r;
	if (a.restart)
		return -ERESTART;
	for (size_t k = 0; k < n; k++)
		if (p[k]->err != 0)
			failed = 1;
	return failed ? -EIO : 0;
}

/* Settle (handle 0) those of *p[0..n) that are no longer a rule of ours, with the tag
 * they had when known, in the ruleset as it is at generation *ret_genid. 0 or -errno. */
static int del_filter(struct nft_sink *s, struct nft_del **p, size_t n, uint32_t *ret_genid)
{
	for (int attempt = 0; attempt < NFT_DEL_ATTEMPTS; attempt++) {
		struct nft_seen_list l = {};
		uint32_t g1, g2;
		int r;

		r = nft_sink_get_genid(s, &g1);
		if (r >= 0)
			r = nft_dump_tagged_rules(&l);
		if (r >= 0)
			r = nft_sink_get_genid(s, &g2);
		if (r < 0) {
			nft_seen_done(&l);
			return r;
		}
		if (g1 != g2) {
			nft_seen_done(&l);
			continue; /* changed while we read it */
		}
		for (size_t k = 0; k < n; k++) {
			struct nft_seen *sr = nft_seen_find_handle(&l, p[k]->family, p[k]->table,
								   p[k]->handle);

			if (!sr || strcmp(sr->chain, p[k]->chain) != 0 ||
			    (p[k]->tag != 0 && sr->tag != p[k]->tag))
				p[k]->handle = 0;
		}
		*ret_genid = g2;
		nft_seen_done(&l);
		return 0;
	}
	return -EAGAIN;
}

/* The entries of d[0..n) still to delete, at most max of them. */
static size_t del_pending(struct nft_del *d, size_t n, struct nft_del **p, size_t max)
{
	size_t m = 0;

	for (size_t k = 0; k < n && m < max; k++)
		if (d[k].handle != 0)
			p[m++] = &d[k];
	return m;
}

size_t nft_sink_delete(struct nft_sink *s, struct nft_del *d, size_t n)
{
	_cleanup_free_ struct nft_del **p = NULL;
	size_t done = 0, m;
	int r = 0;

	if (n == 0)
		return 0;
	p = calloc(n < NFT_DEL_BATCH_MAX ? n : NFT_DEL_BATCH_MAX, sizeof(*p));
	if (!p) {
		r = -ENOMEM;
		goto requeue;
	}
	s->inflight = d;
	s->n_inflight = n;
	for (int attempt = 0; attempt < NFT_DEL_ATTEMPTS;) {
		uint32_t genid;

		/* Every change of others read: deletes of rules gone since are settled
		 * (nft_sink_forget_dels()), and s->genid is where that reading ended. */
		(void)nft_sink_drain(s);
		m = del_pending(d, n, p, NFT_DEL_BATCH_MAX);
		if (m == 0)
			break;
		genid = s->genid;
		if (attempt > 0 || genid == 0) {
			r = del_filter(s, p, m, &genid);
			if (r < 0)
				break;
			m = del_pending(d, n, p, NFT_DEL_BATCH_MAX);
			if (m == 0)
				break;
		}
		r = del_batch(s, p, m, genid);
		if (r == -ERESTART || r == -ENOBUFS) {
			/* refused, or acks lost: read the ruleset, decide again */
			if (r == -ERESTART)
				s->n_del_refused++;
			attempt++;
			continue;
		}
		if (r < 0 && r != -EIO)
			break;
		for (size_t k = 0; k < m; k++) {
			if (r == 0 || p[k]->err == -ENOENT)
				done++;
			else if (p[k]->err == 0)
				continue; /* good, in a batch that failed: sent again */
			else
				scnpm_warning(s->host,
					      "Failed to delete rule handle %" PRIu64
					      " of chain %s %s %s: %s",
					      p[k]->handle, nft_family_name(p[k]->family),
					      p[k]->table, p[k]->chain, strerror(-p[k]->err));
			p[k]->handle = 0;
		}
		if (r == -EIO)
			attempt++;
		r = 0;
	}

requeue:
	s->inflight = NULL;
	s->n_inflight = 0;
	for (size_t k = 0; k < n; k++) {
		if (d[k].handle == 0)
			continue;
		/* Undecided (the ruleset kept changing, a read failed): the next sync reads
		 * the ruleset before it tries again. */
		if (nft_sink_queue_delete(s, d[k].family, d[k].table, d[k].chain, d[k].handle,
					  d[k].tag) < 0)
			scnpm_warning(s->host, "Out of memory, not deleting rule handle %" PRIu64,
				      d[k].handle);
		s->need_resync = 1;
		if (r < 0 && r != -EAGAIN)
			scnpm_warning_errno(s->host, r,
					    "Failed to delete rule handle %" PRIu64
					    ", trying again on the next change: %m",
					    d[k].handle);
	}
	return done;
}
