/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_INSTANCE_H
#define SCNPM_SINK_NFT_INSTANCE_H

/*
 * What sink-nft keeps in the kernel: one instance per (rule, manager, uid, unit), holding
 * both what should be there (the tagged add command, or nothing) and what is (the handle
 * and tag of the rule in the kernel, or none). apply() changes the first, the sync makes
 * the second follow, notifications about rules deleted by others clear the second.
 * Instances whose two halves may differ are on the dirty list, so a sync costs what
 * changed, not what exists. Indexed by key (apply) and by (family, table, handle)
 * (notifications). No kernel, no logging.
 */

#include <stddef.h>
#include <stdint.h>

struct nft_instance {
	const void *rule; /* key: the struct scnpm_rule it was applied for (not dereferenced) */
	uint32_t manager; /* key */
	uint32_t uid;	  /* key */
	char *unit;	  /* key; owned */
	int family;	  /* NFPROTO_* */
	char *table;	  /* owned, unquoted */
	char *chain;	  /* owned, unquoted */

	char *want;	  /* owned: the tagged add command that should be in; NULL: nothing */
	uint64_t want_tag;
	uint64_t want_cgroup_id; /* the cgroup want is for, 0: none or not known */
	uint64_t want_path_hash; /* hash of that cgroup's path and want's text (no tag) */
	uint64_t handle;  /* the rule in the kernel, 0: none */
	uint64_t tag;	  /* its tag */
	/* What the rule at handle was added (or adopted) for, when fast_ok: its template
	 * may be read back before it is withdrawn, for the same rule in the unit's next
	 * cgroup (nft-fast.c). */
	uint64_t in_cgroup_id, in_path_hash;
	int fast_ok;

	uint32_t change;  /* the apply() to report (enum scnpm_change); 0: nothing to report */
	uint32_t result;  /* a result decided at apply() (skipped, failed), 0: by the sync */
	char *message;	  /* owned, with result */
	int lost;	  /* in the kernel once, deleted by someone else: restore */
	int waiting;	  /* its table or chain does not exist: retried when it appears */
	int failed_reported; /* its last report said FAILED: say when it is in after all */

	struct nft_instance *next_by_key, *next_by_handle;
	struct nft_instance *dirty_prev, *dirty_next;
	int dirty;
};

struct nft_instances {
	struct nft_instance **by_key;
	struct nft_instance **by_handle;
	size_t n_buckets;
	size_t n;
	struct nft_instance *dirty_head, *dirty_tail;
	size_t n_dirty;
};

void nft_instances_done(struct nft_instances *t);

struct nft_instance *nft_instances_find(const struct nft_instances *t, const void *rule,
					uint32_t manager, uint32_t uid, const char *unit);
struct nft_instance *nft_instances_find_handle(const struct nft_instances *t, int family,
					       const char *table, uint64_t handle);

/* The instance of this key, created (nothing wanted, nothing in) when there is none.
 * NULL on -EINVAL (missing names) or -ENOMEM. */
struct nft_instance *nft_instances_get(struct nft_instances *t, const void *rule, uint32_t manager,
				       uint32_t uid, const char *unit, int family,
				       const char *table, const char *chain);

/* What is in the kernel for i now: handle (0: nothing) and its tag. */
void nft_instances_set_handle(struct nft_instances *t, struct nft_instance *i, uint64_t handle,
			      uint64_t tag);

/* Unlinks and frees i. */
void nft_instances_remove(struct nft_instances *t, struct nft_instance *i);

void nft_instances_mark_dirty(struct nft_instances *t, struct nft_instance *i);
void nft_instances_clear_dirty(struct nft_instances *t, struct nft_instance *i);
/* The first dirty instance, or NULL. */
static inline struct nft_instance *nft_instances_first_dirty(const struct nft_instances *t)
{
	return t->dirty_head;
}

/* Someone deleted the rule at handle (DELRULE): if it was an instance's, that instance
 * has nothing in the kernel any more; it is marked lost and dirty. Returns it or NULL. */
struct nft_instance *nft_instances_lose_handle(struct nft_instances *t, int family,
					       const char *table, uint64_t handle);
/* The same for every instance in a chain, or in a table (chain NULL), or everywhere
 * (table NULL). Returns how many lost their rule. */
size_t nft_instances_lose_where(struct nft_instances *t, int family, const char *table,
				const char *chain);
/* A table or chain appeared: waiting instances there (chain NULL: anywhere in the table)
 * become dirty again. Returns how many. */
size_t nft_instances_wake_where(struct nft_instances *t, int family, const char *table,
				const char *chain);

/* Removes every instance of rule; returns how many. */
size_t nft_instances_forget_rule(struct nft_instances *t, const void *rule);

/* Calls f for each instance of rule, or every instance when rule is NULL (f must not
 * change the table). */
void nft_instances_foreach(const struct nft_instances *t, const void *rule,
			   void (*f)(struct nft_instance *i, void *userdata), void *userdata);

#endif
