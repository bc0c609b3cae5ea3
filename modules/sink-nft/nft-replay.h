/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_REPLAY_H
#define SCNPM_SINK_NFT_REPLAY_H

/*
 * A rule of ours as the kernel holds it, kept so that the same rule for the unit's next
 * cgroup can be sent as one raw NEWRULE message, without libnftables' cache, parser and
 * path lookup (nft-fast.c).
 *
 * capture() reads one NEWRULE message (the answer to a GETRULE by handle) into a
 * template: family, table, chain, the expression list and the userdata (the comment with
 * scnpm's tag). put() builds the NEWRULE message that adds the same rule again with
 * another cgroup id and another tag. Only rules that this can reproduce exactly are
 * templates; everything else is refused and goes the normal way:
 *
 *   - expressions only of the kinds socket, cmp, meta, payload, immediate, counter, ct,
 *     bitwise and lookup, each with no attribute the kernel headers we were built with do
 *     not name: they hold no state of their own and refer to other objects only by name
 *     (a jump's chain, a lookup's set), so the same attributes make the same rule. An
 *     anonymous set or a bound chain (named "__...") lives and dies with its rule, and an
 *     id refers into the batch that created it: both are refused;
 *   - exactly one "socket cgroupv2" match: a socket expression with that key, directly
 *     followed by a cmp eq of its register against 8 bytes, which must be the unit's own
 *     cgroup id the caller expects (the old one): that is the value put() replaces;
 *   - userdata that is just the comment, ending in scnpm's tag: put() rewrites its 16 hex
 *     digits;
 *   - no compat, ids or other rule attributes; handle and position are not kept.
 *
 * Counters start from zero in the rule put() builds, as in any new rule. Pure: no kernel,
 * no logging.
 */

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

struct nft_replay {
	int family;	     /* NFPROTO_* */
	char *table, *chain; /* owned, as the kernel has them */
	uint8_t *exprs;	     /* owned: NFTA_RULE_EXPRESSIONS' payload, counters zeroed */
	size_t exprs_len;
	size_t cgroup_off; /* the compared cgroup id in exprs (8 bytes, host order) */
	uint8_t *udata;	   /* owned: NFTA_RULE_USERDATA's payload */
	size_t udata_len;
	size_t tag_off;	    /* the 16 hex digits of the tag in udata */
	uint64_t cgroup_id; /* as captured */
	uint64_t tag;	    /* as captured */
};

/* The template of the NEWRULE message nlh whose cgroupv2 match compares with cgroup_id.
 * 0; -EBADMSG when the message is malformed; -EOPNOTSUPP when it is well-formed but not
 * a template (see above); -ENOMEM. *ret is written only on success. */
int nft_replay_capture(const struct nlmsghdr *nlh, uint64_t cgroup_id, struct nft_replay *ret);

void nft_replay_done(struct nft_replay *t);

/* The bytes put() writes for t. */
size_t nft_replay_size(const struct nft_replay *t);

/* Build in buf (nft_replay_size(t) bytes) the NEWRULE message (NLM_F_CREATE |
 * NLM_F_APPEND | NLM_F_ECHO | NLM_F_ACK, sequence number seq) that adds t's rule at the
 * end of its chain, comparing with cgroup_id and carrying tag. Returns its length. */
size_t nft_replay_put(const struct nft_replay *t, void *buf, uint32_t seq, uint64_t cgroup_id,
		      uint64_t tag);

#endif
