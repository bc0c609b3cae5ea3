/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_DUMP_H
#define SCNPM_SINK_NFT_DUMP_H

/*
 * The rules in the kernel that carry scnpm's tag (nft-tag.h), read with one
 * NFT_MSG_GETRULE dump of every family: what a start adopts, what a resync after lost
 * notifications checks its handles against, and what is left over to sweep. Rules
 * without a tag are not even kept.
 */

#include <stddef.h>
#include <stdint.h>

struct nft_seen {
	int family;
	char *table, *chain; /* owned, as the kernel reports them */
	uint64_t handle;
	uint64_t tag;
	int taken; /* adopted, deleted, or known gone */
};

struct nft_seen_list {
	struct nft_seen *rules; /* sorted by tag after nft_seen_sort() */
	size_t n, cap;
	size_t n_free; /* not taken */
};

void nft_seen_done(struct nft_seen_list *l);
/* Appends one rule. 0 or -ENOMEM. */
int nft_seen_add(struct nft_seen_list *l, int family, const char *table, const char *chain,
		 uint64_t handle, uint64_t tag);
void nft_seen_sort(struct nft_seen_list *l);
/* A rule not yet taken with this tag in this chain (after nft_seen_sort()), or NULL. */
struct nft_seen *nft_seen_find(const struct nft_seen_list *l, int family, const char *table,
			       const char *chain, uint64_t tag);
/* The rule at handle (any tag), or NULL. */
struct nft_seen *nft_seen_find_handle(const struct nft_seen_list *l, int family,
				      const char *table, uint64_t handle);
static inline void nft_seen_take(struct nft_seen_list *l, struct nft_seen *s)
{
	if (!s->taken) {
		s->taken = 1;
		l->n_free--;
	}
}
/* Marks every rule in a chain (or a table: chain NULL) taken. */
void nft_seen_take_where(struct nft_seen_list *l, int family, const char *table,
			 const char *chain);

/* Dump the tagged rules of the whole ruleset into *ret (sorted). 0 or -errno. */
int nft_dump_tagged_rules(struct nft_seen_list *ret);

#endif
