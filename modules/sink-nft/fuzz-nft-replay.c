/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rules read back from the kernel, as the fast path captures them (nft-replay.c): the
 * first 8 bytes are the cgroup id the rule is expected to match (little-endian), the rest
 * netlink messages as GETRULE answers them, framed as nft_sink_nl_read() frames them.
 * Besides no crash, for every message capture() takes:
 *   - the template's offsets lie inside what it owns;
 *   - put() writes exactly nft_replay_size() bytes, and capture() takes what it wrote
 *     again: the same rule (family, table, chain, expressions, comment) but for the new
 *     cgroup id and tag, which the SDK's own rule parser reads back too, with every
 *     counter at zero;
 *   - putting that second template with the first id and tag gives the first message
 *     again, byte for byte.
 */
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/netlink.h>
#include <scnpm/nft-readback.h>

#include "fuzz.h"
#include "nft-replay.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

static int same_rule(const struct nft_replay *a, const struct nft_replay *b)
{
	size_t o = a->cgroup_off;

	return a->family == b->family && strcmp(a->table, b->table) == 0 &&
	       strcmp(a->chain, b->chain) == 0 && a->exprs_len == b->exprs_len &&
	       a->cgroup_off == b->cgroup_off && memcmp(a->exprs, b->exprs, o) == 0 &&
	       memcmp(a->exprs + o + 8, b->exprs + o + 8, a->exprs_len - o - 8) == 0 &&
	       a->udata_len == b->udata_len && a->tag_off == b->tag_off &&
	       memcmp(a->udata, b->udata, a->tag_off) == 0 &&
	       memcmp(a->udata + a->tag_off + 16, b->udata + b->tag_off + 16,
		      a->udata_len - a->tag_off - 16) == 0;
}

/* put() t into a buffer of its own, with room for a handle after it. */
static struct nlmsghdr *put(const struct nft_replay *t, uint64_t id, uint64_t tag)
{
	size_t size = nft_replay_size(t);
	void *buf = calloc(1, size + MNL_ATTR_HDRLEN + 8);

	if (!buf)
		abort();
	CHECK(nft_replay_put(t, buf, 1, id, tag) == size);
	CHECK(((struct nlmsghdr *)buf)->nlmsg_len == size);
	return buf;
}

static void check(const struct nlmsghdr *nlh, uint64_t id)
{
	struct nft_replay t, t2;
	struct scnpm_nft_readback rb;
	struct nlmsghdr *m, *m2;
	uint64_t id2 = id ^ UINT64_C(0x5a5a5a5a5a5a5a5a), tag2;

	if (nft_replay_capture(nlh, id, &t) < 0)
		return;
	CHECK(t.cgroup_id == id && id != 0 && t.tag != 0);
	CHECK(t.cgroup_off + 8 <= t.exprs_len && t.tag_off + 16 <= t.udata_len);
	tag2 = ~t.tag ? ~t.tag : 1;
	if (id2 == 0)
		id2 = 1;

	m = put(&t, id2, tag2);
	CHECK(nft_replay_capture(m, id2, &t2) == 0);
	CHECK(t2.cgroup_id == id2 && t2.tag == tag2 && same_rule(&t, &t2));
	mnl_attr_put_u64(m, NFTA_RULE_HANDLE, htobe64(1));
	CHECK(scnpm_nft_parse_rule(m, &rb) == 0);
	CHECK(rb.cgroup_id == id2 && rb.tag == tag2);
	CHECK(!rb.has_counter || (rb.packets == 0 && rb.bytes == 0));

	m2 = put(&t2, id, t.tag);
	free(m);
	m = put(&t, id, t.tag);
	CHECK(memcmp(m, m2, m->nlmsg_len) == 0);
	free(m);
	free(m2);
	nft_replay_done(&t2);
	nft_replay_done(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t id;
	uint8_t *buf;
	size_t len, off = 0;

	if (size < 8 || size > 1 << 20)
		return 0;
	memcpy(&id, data, sizeof(id));
	id = le64toh(id);
	buf = fuzz_dup(data + 8, size - 8);
	len = scnpm_nlmsg_framed_len(buf, size - 8);
	while (off < len) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)(buf + off);

		check(nlh, id);
		off += NLMSG_ALIGN(nlh->nlmsg_len);
	}
	free(buf);
	return 0;
}
