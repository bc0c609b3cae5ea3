/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft's libnftables context: one for the module's lifetime, found netlink socket and
 * all, and running a batch of commands as one transaction while learning the handles of
 * the rules it adds from the transaction's own notifications.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <scnpm/log.h>

#include "sink-nft.h"

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
int nft_sink_new_ctx(struct nft_sink *s)
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

int nft_sink_run(struct nft_sink *s, const char *cmds, struct nft_expect *e, size_t n,
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
	if (n > 0 && s->expect_state != 1) {
		/* Their tags tell them apart in the ruleset: the next sync reads it. */
		scnpm_info(s->host,
			   "Added %zu rule(s) but could not learn their handles (%s), reading the ruleset",
			   n, s->expect_state < 0 ? strerror(-s->expect_state) : "no notification");
		s->need_resync = 1;
	}
	s->expect = NULL;
	return 0;
}
