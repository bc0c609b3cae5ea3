/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_INSTANCE_H
#define SCNPM_SINK_NFT_INSTANCE_H

/*
 * What sink-nft applied and may withdraw: one instance per (rule, manager, uid, unit),
 * holding the kernel handle of the rule it added. Indexed twice, by that key (apply)
 * and by (family, table, handle) (netlink notifications about deleted rules), so that
 * neither lookup grows with the number of instances. No kernel, no logging.
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
	uint64_t handle;  /* kernel rule handle, never 0 */
	struct nft_instance *next_by_key, *next_by_handle;
};

struct nft_instances {
	struct nft_instance **by_key;
	struct nft_instance **by_handle;
	size_t n_buckets;
	size_t n;
};

void nft_instances_done(struct nft_instances *t);

struct nft_instance *nft_instances_find(const struct nft_instances *t, const void *rule,
					uint32_t manager, uint32_t uid, const char *unit);
struct nft_instance *nft_instances_find_handle(const struct nft_instances *t, int family,
					       const char *table, uint64_t handle);

/* Records an instance; replaces (frees) an existing one with the same key.
 * 0, -EINVAL or -ENOMEM (then nothing changed). */
int nft_instances_put(struct nft_instances *t, const void *rule, uint32_t manager, uint32_t uid,
		      const char *unit, int family, const char *table, const char *chain,
		      uint64_t handle);

/* Unlinks and frees i. */
void nft_instances_remove(struct nft_instances *t, struct nft_instance *i);

/* Forget instances: by handle, every one in a chain, in a table, of a rule, or all.
 * NULL table/chain match anything. Each returns how many it forgot. */
size_t nft_instances_forget_handle(struct nft_instances *t, int family, const char *table,
				   uint64_t handle);
size_t nft_instances_forget_where(struct nft_instances *t, int family, const char *table,
				  const char *chain);
size_t nft_instances_forget_rule(struct nft_instances *t, const void *rule);
size_t nft_instances_forget_all(struct nft_instances *t);

/* Calls f for each instance of rule (f must not change the table). */
void nft_instances_foreach_rule(const struct nft_instances *t, const void *rule,
				void (*f)(struct nft_instance *i, void *userdata), void *userdata);

#endif
