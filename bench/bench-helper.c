/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small tools the benchmark harness (bench/run) runs inside the throwaway container.
 * They see the daemon only from outside: packets, cgroupfs and nf_tables netlink.
 *
 *   send PORT NAME SEQFILE   a unit's ExecStart: first action is one UDP datagram
 *                            "NAME SEQ a" to 127.0.0.1:PORT (SEQ read from SEQFILE),
 *                            0.5 s later "NAME SEQ b", then waits to be stopped
 *   send-once PORT NAME SEQFILE LOG
 *                            a unit's ExecStart: first action is one UDP datagram
 *                            "NAME SEQ" to 127.0.0.1:PORT; then appends "NAME SEQ sent USEC
 *                            MONO" (or "blocked", when the output hook dropped it: EPERM) to
 *                            LOG, USEC and MONO the CLOCK_REALTIME and CLOCK_MONOTONIC
 *                            microseconds of the attempt; exits 0
 *   listen PORT FILE         receive datagrams on 127.0.0.1:PORT, one line each to FILE
 *   monitor FILE PREFIX DIR...
 *                            inotify on each DIR and an nf_tables netlink monitor
 *                            (NFNLGRP_NFTABLES) on one CLOCK_MONOTONIC: for every
 *                            directory PREFIX* created in a DIR, the microseconds until
 *                            a NEWRULE or NEWSETELEM carrying its cgroup id was
 *                            committed; lines "NAME ID USEC CREATED" to FILE (CREATED: when
 *                            the directory was seen, CLOCK_MONOTONIC us); until SIGTERM
 *   churn DIR PREFIX FROM K TIMEOUT_MS
 *                            mkdir DIR/PREFIX-I.service for I in FROM..FROM+K-1, one at a
 *                            time, each timed until a NEWRULE/NEWSETELEM with its id is
 *                            committed; after 0.5 s rmdir them the same way, timed until
 *                            DELRULE/DELSETELEM; prints "add USEC" / "del USEC" lines
 *                            ("add miss" when nothing came within TIMEOUT_MS)
 *   ids rules FAMILY TABLE CHAIN | ids elems FAMILY TABLE SET
 *                            one line per rule (its 8-byte compare value, the cgroup id
 *                            of a "socket cgroupv2" rule, or "-") or per element (key)
 *
 * It reports, it never judges. Errors go to stderr with exit status 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#define MAX_IDS 64

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int die(const char *what)
{
	fprintf(stderr, "bench-helper: %s: %s\n", what, strerror(errno));
	return 1;
}

static int parse_port(const char *s, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(s, &end, 10);

	if (*end != '\0' || p <= 0 || p > 65535) {
		fprintf(stderr, "bench-helper: bad port '%s'\n", s);
		return -EINVAL;
	}
	*sa = (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_port = htons((uint16_t)p),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	return 0;
}

/* ------------------------------------------------------------------------- */

/* SEQFILE's first line into seq, or "0". */
static void read_seq(const char *path, char *seq, size_t size)
{
	FILE *f = fopen(path, "re");

	snprintf(seq, size, "0");
	if (!f)
		return;
	if (!fgets(seq, (int)size, f))
		snprintf(seq, size, "0");
	seq[strcspn(seq, "\n")] = '\0';
	fclose(f);
}

static int cmd_send(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct timespec half = { .tv_sec = 0, .tv_nsec = 500000000 };
	char seq[64], msg[256];
	int fd, n;

	if (argc != 4 || parse_port(argv[1], &sa) < 0)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return die("socket");
	read_seq(argv[3], seq, sizeof(seq));
	/* a dropped datagram fails with EPERM: that is the measurement, not an error */
	n = snprintf(msg, sizeof(msg), "%s %s a", argv[2], seq);
	(void)sendto(fd, msg, n, 0, (struct sockaddr *)&sa, sizeof(sa));
	nanosleep(&half, NULL);
	n = snprintf(msg, sizeof(msg), "%s %s b", argv[2], seq);
	(void)sendto(fd, msg, n, 0, (struct sockaddr *)&sa, sizeof(sa));
	for (;;)
		pause();
}

static int cmd_send_once(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct timespec ts, mono;
	char seq[64], msg[256];
	int fd, out, n;
	bool sent;

	if (argc != 5 || parse_port(argv[1], &sa) < 0)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return die("socket");
	read_seq(argv[3], seq, sizeof(seq));
	n = snprintf(msg, sizeof(msg), "%s %s", argv[2], seq);
	clock_gettime(CLOCK_REALTIME, &ts);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	sent = sendto(fd, msg, n, 0, (struct sockaddr *)&sa, sizeof(sa)) == n;
	if (!sent && errno != EPERM)
		return die("sendto");
	/* one write: lines of units running at once never mix */
	n = snprintf(msg, sizeof(msg), "%s %s %s %" PRIu64 " %" PRIu64 "\n", argv[2], seq,
		     sent ? "sent" : "blocked",
		     (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000,
		     (uint64_t)mono.tv_sec * 1000000 + (uint64_t)mono.tv_nsec / 1000);
	out = open(argv[4], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		return die(argv[4]);
	if (write(out, msg, n) != n)
		return die("write");
	return 0;
}

static int cmd_listen(int argc, char **argv)
{
	struct sockaddr_in sa;
	char buf[512];
	int fd, out, one = 1, rcvbuf = 4 << 20;
	ssize_t n;

	if (argc != 3 || parse_port(argv[1], &sa) < 0)
		return 2;
	out = open(argv[2], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (out < 0)
		return die(argv[2]);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return die("socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return die("bind");
	for (;;) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return die("recv");
		}
		buf[n++] = '\n';
		if (write(out, buf, n) != n)
			return die("write");
	}
}

/* ------------------------------------------------------------------------- */
/* nf_tables notifications: which cgroup ids did a message carry? */

struct idlist {
	uint64_t id[MAX_IDS];
	int n;
	int msg;	/* NFT_MSG_* */
};

static int rule_expr_cb(struct nftnl_expr *e, void *data)
{
	struct idlist *l = data;
	const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	const void *v;
	uint32_t len = 0;

	if (!name || strcmp(name, "cmp") != 0 || l->n >= MAX_IDS)
		return MNL_CB_OK;
	v = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
	if (v && len == sizeof(uint64_t))
		memcpy(&l->id[l->n++], v, sizeof(uint64_t));
	return MNL_CB_OK;
}

static void rule_ids(const struct nlmsghdr *nlh, struct idlist *l)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return;
	if (nftnl_rule_nlmsg_parse(nlh, r) >= 0)
		nftnl_expr_foreach(r, rule_expr_cb, l);
	nftnl_rule_free(r);
}

static void elem_ids(const struct nlmsghdr *nlh, struct idlist *l)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	const void *v;
	uint32_t len;

	if (!s)
		return;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) >= 0) {
		it = nftnl_set_elems_iter_create(s);
		while (it && (e = nftnl_set_elems_iter_next(it)) && l->n < MAX_IDS) {
			len = 0;
			v = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
			if (v && len == sizeof(uint64_t))
				memcpy(&l->id[l->n++], v, sizeof(uint64_t));
		}
		if (it)
			nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
}

/* Fills l from one nf_tables message; l->msg says which kind it was (0: other). */
static void msg_ids(const struct nlmsghdr *nlh, struct idlist *l)
{
	int type = NFNL_MSG_TYPE(nlh->nlmsg_type);

	l->n = 0;
	l->msg = 0;
	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return;
	switch (type) {
	case NFT_MSG_NEWRULE:
	case NFT_MSG_DELRULE:
		l->msg = type;
		rule_ids(nlh, l);
		break;
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		l->msg = type;
		elem_ids(nlh, l);
		break;
	}
}

static struct mnl_socket *monitor_open(void)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	int group = NFNLGRP_NFTABLES, rcvbuf = 32 << 20;

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
		mnl_socket_close(nl);
		return NULL;
	}
	(void)setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
			 sizeof(rcvbuf));
	return nl;
}

/* ------------------------------------------------------------------------- */
/* monitor */

struct pending {
	uint64_t id;
	uint64_t t0;
	char name[128];
};

#define MAX_PENDING 8192

struct monitor {
	FILE *out;
	struct pending p[MAX_PENDING];
	int n;
	unsigned long lost;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static void pending_add(struct monitor *m, uint64_t id, uint64_t t0, const char *name)
{
	if (m->n == MAX_PENDING) {
		/* forget the oldest half: those never got a rule */
		memmove(m->p, m->p + MAX_PENDING / 2, sizeof(m->p[0]) * (MAX_PENDING / 2));
		m->n = MAX_PENDING / 2;
	}
	m->p[m->n].id = id;
	m->p[m->n].t0 = t0;
	snprintf(m->p[m->n].name, sizeof(m->p[0].name), "%s", name);
	m->n++;
}

static void pending_match(struct monitor *m, const struct idlist *l, uint64_t t1)
{
	int i, j;

	for (j = 0; j < l->n; j++)
		for (i = 0; i < m->n; i++) {
			if (m->p[i].id != l->id[j])
				continue;
			fprintf(m->out, "%s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", m->p[i].name,
				m->p[i].id, t1 - m->p[i].t0, m->p[i].t0);
			fflush(m->out);
			m->p[i] = m->p[--m->n];
			break;
		}
}

static int cmd_monitor(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE * 4] __attribute__((aligned(8)));
	char ibuf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	static struct monitor m;
	const char *prefix;
	char *dirs[16];
	int ndirs, wds[16], ifd, i;
	struct mnl_socket *nl;
	struct pollfd pfd[2];

	if (argc < 4 || argc - 3 > 16)
		return 2;
	m.out = fopen(argv[1], "we");
	if (!m.out)
		return die(argv[1]);
	prefix = argv[2];
	ndirs = argc - 3;
	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0)
		return die("inotify_init1");
	for (i = 0; i < ndirs; i++) {
		dirs[i] = argv[3 + i];
		wds[i] = inotify_add_watch(ifd, dirs[i], IN_CREATE | IN_ONLYDIR);
		if (wds[i] < 0)
			return die(dirs[i]);
	}
	nl = monitor_open();
	if (!nl)
		return die("nf_tables monitor");
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	pfd[0] = (struct pollfd){ .fd = ifd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = mnl_socket_get_fd(nl), .events = POLLIN };
	/* tell the harness we are watching */
	fprintf(m.out, "# ready\n");
	fflush(m.out);

	while (!stop) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return die("poll");
		}
		/* cgroup creations first: a notification that is already queued cannot be
		 * for a cgroup we have not read about yet */
		if (pfd[0].revents & POLLIN) {
			ssize_t n = read(ifd, ibuf, sizeof(ibuf));
			uint64_t t0 = now_usec();
			char *p;

			for (p = ibuf; n > 0 && p < ibuf + n;) {
				struct inotify_event *ev = (struct inotify_event *)p;
				char path[PATH_MAX];
				struct stat st;

				p += sizeof(*ev) + ev->len;
				if (!(ev->mask & IN_CREATE) || !ev->len ||
				    strncmp(ev->name, prefix, strlen(prefix)) != 0)
					continue;
				for (i = 0; i < ndirs && wds[i] != ev->wd; i++)
					;
				if (i == ndirs)
					continue;
				snprintf(path, sizeof(path), "%s/%s", dirs[i], ev->name);
				if (stat(path, &st) < 0)
					continue;
				pending_add(&m, st.st_ino, t0, ev->name);
			}
		}
		if (pfd[1].revents & POLLIN) {
			ssize_t n = recv(pfd[1].fd, buf, sizeof(buf), 0);
			uint64_t t1 = now_usec();
			const struct nlmsghdr *nlh;
			int len = (int)n;

			if (n < 0) {
				if (errno == ENOBUFS)
					m.lost++;
				continue;
			}
			for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
			     nlh = mnl_nlmsg_next(nlh, &len)) {
				struct idlist l;

				msg_ids(nlh, &l);
				if (l.msg == NFT_MSG_NEWRULE || l.msg == NFT_MSG_NEWSETELEM)
					pending_match(&m, &l, t1);
			}
		}
	}
	fprintf(m.out, "# unmatched %d lost %lu\n", m.n, m.lost);
	fclose(m.out);
	mnl_socket_close(nl);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* churn */

/* Waits until a message of kind a or b carrying id arrives, or deadline. Returns its
 * CLOCK_MONOTONIC time, 0 on timeout. */
static uint64_t wait_for(struct mnl_socket *nl, uint64_t id, int a, int b, uint64_t deadline)
{
	char buf[MNL_SOCKET_BUFFER_SIZE * 4] __attribute__((aligned(8)));
	struct pollfd pfd = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };

	for (;;) {
		uint64_t now = now_usec(), t;
		const struct nlmsghdr *nlh;
		ssize_t n;
		int len;

		if (now >= deadline)
			return 0;
		if (poll(&pfd, 1, (int)((deadline - now) / 1000) + 1) <= 0)
			continue;
		n = recv(pfd.fd, buf, sizeof(buf), 0);
		t = now_usec();
		if (n < 0)
			continue;
		len = (int)n;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			struct idlist l;
			int i;

			msg_ids(nlh, &l);
			if (l.msg != a && l.msg != b)
				continue;
			for (i = 0; i < l.n; i++)
				if (l.id[i] == id)
					return t;
		}
	}
}

static int cmd_churn(int argc, char **argv)
{
	struct timespec settle = { .tv_sec = 0, .tv_nsec = 500000000 };
	char path[PATH_MAX];
	uint64_t *ids, timeout;
	long from, k, i;
	struct mnl_socket *nl;
	struct stat st;

	if (argc != 6)
		return 2;
	from = strtol(argv[3], NULL, 10);
	k = strtol(argv[4], NULL, 10);
	timeout = (uint64_t)strtol(argv[5], NULL, 10) * 1000;
	if (k <= 0 || timeout == 0)
		return 2;
	ids = calloc(k, sizeof(*ids));
	nl = monitor_open();
	if (!ids || !nl)
		return die("nf_tables monitor");
	for (i = 0; i < k; i++) {
		uint64_t t0, t1;

		snprintf(path, sizeof(path), "%s/%s-%ld.service", argv[1], argv[2], from + i);
		t0 = now_usec();
		if (mkdir(path, 0755) < 0 || stat(path, &st) < 0)
			return die(path);
		ids[i] = st.st_ino;
		t1 = wait_for(nl, ids[i], NFT_MSG_NEWRULE, NFT_MSG_NEWSETELEM, t0 + timeout);
		if (t1)
			printf("add %" PRIu64 "\n", t1 - t0);
		else
			printf("add miss\n");
	}
	nanosleep(&settle, NULL);
	for (i = 0; i < k; i++) {
		uint64_t t0, t1;

		snprintf(path, sizeof(path), "%s/%s-%ld.service", argv[1], argv[2], from + i);
		t0 = now_usec();
		if (rmdir(path) < 0)
			return die(path);
		t1 = wait_for(nl, ids[i], NFT_MSG_DELRULE, NFT_MSG_DELSETELEM, t0 + timeout);
		if (t1)
			printf("del %" PRIu64 "\n", t1 - t0);
		else
			printf("del miss\n");
	}
	mnl_socket_close(nl);
	free(ids);
	return 0;
}

/* ------------------------------------------------------------------------- */
/* ids */

static int family_of(const char *s)
{
	static const struct {
		const char *name;
		int family;
	} f[] = {
		{ "inet", NFPROTO_INET },     { "ip", NFPROTO_IPV4 },	  { "ip6", NFPROTO_IPV6 },
		{ "arp", NFPROTO_ARP },	      { "bridge", NFPROTO_BRIDGE }, { "netdev", NFPROTO_NETDEV },
	};
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (strcmp(s, f[i].name) == 0)
			return f[i].family;
	return -1;
}

struct dump {
	bool rules;
	const char *table, *name;
	FILE *out;		/* what this dump found, printed once it completed */
};

static void print_elem_keys(const struct nlmsghdr *nlh, FILE *out)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	const void *v;
	uint64_t id;
	uint32_t len;

	if (!s)
		return;
	if (nftnl_set_elems_nlmsg_parse(nlh, s) >= 0) {
		it = nftnl_set_elems_iter_create(s);
		while (it && (e = nftnl_set_elems_iter_next(it))) {
			len = 0;
			v = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
			if (v && len == sizeof(id)) {
				memcpy(&id, v, sizeof(id));
				fprintf(out, "%" PRIu64 "\n", id);
			} else {
				fprintf(out, "-\n");
			}
		}
		if (it)
			nftnl_set_elems_iter_destroy(it);
	}
	nftnl_set_free(s);
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct idlist l = { 0 };
	int i;

	if (d->rules) {
		struct nftnl_rule *r = nftnl_rule_alloc();
		const char *t, *c;

		if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0) {
			nftnl_rule_free(r);
			return MNL_CB_OK;
		}
		t = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
		c = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		if (t && c && strcmp(t, d->table) == 0 && strcmp(c, d->name) == 0) {
			nftnl_expr_foreach(r, rule_expr_cb, &l);
			if (l.n == 0)
				fprintf(d->out, "-\n");
			for (i = 0; i < l.n; i++)
				fprintf(d->out, "%" PRIu64 "\n", l.id[i]);
		}
		nftnl_rule_free(r);
	} else {
		print_elem_keys(nlh, d->out);
	}
	return MNL_CB_OK;
}

/* One dump; -EINTR when the ruleset changed meanwhile (NLM_F_DUMP_INTR). */
static int dump_once(struct dump *d, int family)
{
	static char buf[65536];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL), portid;
	int r = 0;

	if (d->rules) {
		struct nftnl_rule *rl = nftnl_rule_alloc();

		nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, family, NLM_F_DUMP, seq);
		nftnl_rule_set_str(rl, NFTNL_RULE_TABLE, d->table);
		nftnl_rule_set_str(rl, NFTNL_RULE_CHAIN, d->name);
		nftnl_rule_nlmsg_build_payload(nlh, rl);
		nftnl_rule_free(rl);
	} else {
		struct nftnl_set *s = nftnl_set_alloc();

		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, family, NLM_F_DUMP | NLM_F_ACK,
					    seq);
		nftnl_set_set_str(s, NFTNL_SET_NAME, d->name);
		nftnl_set_set_str(s, NFTNL_SET_TABLE, d->table);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
		nftnl_set_free(s);
	}
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, n, seq, portid, dump_cb, d);
		if (r < 0) {
			r = -errno;
			break;
		}
		if (r == MNL_CB_STOP) {
			r = 0;
			break;
		}
	}
out:
	mnl_socket_close(nl);
	return r;
}

static int cmd_ids(int argc, char **argv)
{
	struct dump d = { 0 };
	char *text = NULL;
	size_t size = 0;
	int family, r, tries;

	if (argc != 5 || (strcmp(argv[1], "rules") != 0 && strcmp(argv[1], "elems") != 0))
		return 2;
	family = family_of(argv[2]);
	if (family < 0)
		return 2;
	d.rules = strcmp(argv[1], "rules") == 0;
	d.table = argv[3];
	d.name = argv[4];
	for (tries = 0; tries < 100; tries++) {
		d.out = open_memstream(&text, &size);
		if (!d.out)
			return die("open_memstream");
		r = dump_once(&d, family);
		fclose(d.out);
		if (r != -EINTR)
			break;
		free(text);
		text = NULL;
	}
	if (r < 0) {
		errno = -r;
		return die("dump");
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (strcmp(argv[1], "send-once") == 0)
		return cmd_send_once(argc - 1, argv + 1);
	if (strcmp(argv[1], "listen") == 0)
		return cmd_listen(argc - 1, argv + 1);
	if (strcmp(argv[1], "monitor") == 0)
		return cmd_monitor(argc - 1, argv + 1);
	if (strcmp(argv[1], "churn") == 0)
		return cmd_churn(argc - 1, argv + 1);
	if (strcmp(argv[1], "ids") == 0)
		return cmd_ids(argc - 1, argv + 1);
usage:
	fprintf(stderr, "usage: bench-helper send|send-once|listen|monitor|churn|ids ... (see bench/bench-helper.c)\n");
	return 2;
}
