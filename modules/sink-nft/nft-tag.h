/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_TAG_H
#define SCNPM_SINK_NFT_TAG_H

/*
 * How sink-nft recognises its own rules, also across its own restarts: every rule it adds
 * carries a tag in its nft comment, "scnpm:" and 16 hex digits, after the comment the
 * directive itself has, if any:
 *
 *     add rule inet filter output socket cgroupv2 level 2 "system.slice/a.service" accept
 *         -> ... accept comment "scnpm:3f2a9c0d11e4b7a6"
 *     ... accept comment "mail"  -> ... accept comment "mail scnpm:3f2a9c0d11e4b7a6"
 *
 * The tag is a hash of everything that makes the rule what it is: the directive (unit
 * pattern and text as configured), the unit it was added for (manager, uid, name), the
 * expanded text and the cgroup id it was resolved for. Equal tags mean the same rule for
 * the same cgroup: a new run adopts it instead of adding it again; a tagged rule nobody
 * adopts is a stale leftover of an earlier run. A rule without a tag is never ours.
 * Pure: no kernel, no logging.
 */

#include <stddef.h>
#include <stdint.h>

#include <scnpm/tag.h>

/* nft takes comments of at most this many bytes. */
#define NFT_COMMENT_MAX	    128

struct nft_tag_input {
	const char *directive_unit; /* as configured */
	const char *directive_text;
	uint32_t manager, uid;
	const char *unit;
	const char *text; /* expanded, without the tag */
	uint64_t cgroup_id;
};

uint64_t nft_tag_compute(const struct nft_tag_input *in);

/* text with the tag in its comment, in a new string. -EINVAL when the text ends in a
 * comment that cannot carry it (malformed, or longer than NFT_COMMENT_MAX with the tag:
 * *ret_why says which), -ENOMEM. */
int nft_tag_text(const char *text, uint64_t tag, char **ret, const char **ret_why);

/* Reading a tag back from a comment: scnpm_tag_from_comment(). A computed tag is never 0. */

#endif
