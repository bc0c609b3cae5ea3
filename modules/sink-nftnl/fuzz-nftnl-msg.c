/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nf_tables messages as sink-nftnl reads them from its command socket (acks, dump
 * replies, echoed rules) and its monitor socket (notifications from others'
 * transactions): a buffer framed by scnpm_nlmsg_framed_len() and split with
 * mnl_nlmsg_ok()/mnl_nlmsg_next() as nftnl_sink_drain() does, each message through every parser of
 * nftnl-batch.c. Messages may be truncated, carry wrong lengths or unknown attributes. Besides no
 * crash: names come back NUL-terminated within their buffers, a dispatch rule's level is 1..255.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/netlink.h>

#include "fuzz.h"
#include "nftnl-batch.h"

static void count_id(uint64_t id, void *userdata)
{
	(*(size_t *)userdata)++;
}

static void parse_one(const struct nlmsghdr *nlh)
{
	struct nlbatch_object o;
	struct nlbatch_dispatch d;
	uint32_t level, gen;
	uint64_t id, handle;
	size_t n_ids = 0;
	int err, r;

	(void)nlbatch_parse_error(nlh, &err);
	(void)nlbatch_parse_gen(nlh, &gen);
	r = nlbatch_parse_setelem_ids(nlh, count_id, &n_ids);
	if (r >= 0 && (size_t)r != n_ids)
		abort();
	if (nlbatch_parse_object(nlh, &o) == 0 &&
	    (!memchr(o.table, '\0', sizeof(o.table)) || !memchr(o.name, '\0', sizeof(o.name))))
		abort();
	if (nlbatch_parse_dispatch_rule(nlh, &d, &level, &id, &handle) == 0) {
		if (level < 1 || level > 255)
			abort();
		if (!memchr(d.verdict.chain, '\0', sizeof(d.verdict.chain)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct nlmsghdr *nlh;
	void *buf;
	int len;

	if (size > 1 << 20)
		return 0;
	buf = fuzz_dup(data, size);
	len = (int)scnpm_nlmsg_framed_len(buf, size);
	for (nlh = buf; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
		parse_one(nlh);
	free(buf);
	return 0;
}
