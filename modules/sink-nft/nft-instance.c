/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nft-instance.h"

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)

static size_t hash_key(const struct nft_instances *t, const void *rule, uint32_t manager,
		       uint32_t uid, const char *unit)
{
	uint64_t h = FNV_OFFSET;

	h = fnv1a(h, &rule, sizeof(rule));
	h = fnv1a(h, &manager, sizeof(manager));
	h = fnv1a(h, &uid, sizeof(uid));
	h = fnv1a(h, unit, strlen(unit));
	return (size_t)(h % t->n_buckets);
}

/* Handles are unique within a table; tables rarely share handle numbers in a way that
 * matters for the distribution, so the table name stays out of the hash. */
static size_t hash_handle(const struct nft_instances *t, int family, uint64_t handle)
{
	uint64_t h = FNV_OFFSET;

	h = fnv1a(h, &family, sizeof(family));
	h = fnv1a(h, &handle, sizeof(handle));
	return (size_t)(h % t->n_buckets);
}

static void instance_free(struct nft_instance *i)
{
	if (!i)
		return;
	free(i->unit);
	free(i->table);
	free(i->chain);
	free(i);
}

void nft_instances_done(struct nft_instances *t)
{
	(void)nft_instances_forget_all(t);
	free(t->by_key);
	free(t->by_handle);
	*t = (struct nft_instances){};
}

struct nft_instance *nft_instances_find(const struct nft_instances *t, const void *rule,
					uint32_t manager, uint32_t uid, const char *unit)
{
	if (t->n == 0 || !unit)
		return NULL;
	for (struct nft_instance *i = t->by_key[hash_key(t, rule, manager, uid, unit)]; i;
	     i = i->next_by_key)
		if (i->rule == rule && i->manager == manager && i->uid == uid &&
		    strcmp(i->unit, unit) == 0)
			return i;
	return NULL;
}

struct nft_instance *nft_instances_find_handle(const struct nft_instances *t, int family,
					       const char *table, uint64_t handle)
{
	if (t->n == 0 || !table)
		return NULL;
	for (struct nft_instance *i = t->by_handle[hash_handle(t, family, handle)]; i;
	     i = i->next_by_handle)
		if (i->handle == handle && i->family == family && strcmp(i->table, table) == 0)
			return i;
	return NULL;
}

static void link_instance(struct nft_instances *t, struct nft_instance *i)
{
	size_t k = hash_key(t, i->rule, i->manager, i->uid, i->unit);
	size_t h = hash_handle(t, i->family, i->handle);

	i->next_by_key = t->by_key[k];
	t->by_key[k] = i;
	i->next_by_handle = t->by_handle[h];
	t->by_handle[h] = i;
}

static int grow(struct nft_instances *t)
{
	struct nft_instance **by_key, **by_handle, *all = NULL;
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;

	by_key = calloc(n, sizeof(*by_key));
	by_handle = calloc(n, sizeof(*by_handle));
	if (!by_key || !by_handle) {
		free(by_key);
		free(by_handle);
		return -ENOMEM;
	}

	/* Collect everything through the key chains (each instance is on exactly one),
	 * then relink into the new arrays. */
	for (size_t b = 0; b < t->n_buckets; b++)
		while (t->by_key[b]) {
			struct nft_instance *i = t->by_key[b];

			t->by_key[b] = i->next_by_key;
			i->next_by_key = all;
			all = i;
		}
	free(t->by_key);
	free(t->by_handle);
	t->by_key = by_key;
	t->by_handle = by_handle;
	t->n_buckets = n;
	while (all) {
		struct nft_instance *i = all;

		all = i->next_by_key;
		link_instance(t, i);
	}
	return 0;
}

int nft_instances_put(struct nft_instances *t, const void *rule, uint32_t manager, uint32_t uid,
		      const char *unit, int family, const char *table, const char *chain,
		      uint64_t handle)
{
	struct nft_instance *i, *old;

	if (!unit || !table || !chain || handle == 0)
		return -EINVAL;
	if (t->n + 1 > t->n_buckets && grow(t) < 0)
		return -ENOMEM;

	i = calloc(1, sizeof(*i));
	if (!i)
		return -ENOMEM;
	*i = (struct nft_instance){
	    .rule = rule,
	    .manager = manager,
	    .uid = uid,
	    .unit = strdup(unit),
	    .family = family,
	    .table = strdup(table),
	    .chain = strdup(chain),
	    .handle = handle,
	};
	if (!i->unit || !i->table || !i->chain) {
		instance_free(i);
		return -ENOMEM;
	}

	old = nft_instances_find(t, rule, manager, uid, unit);
	if (old)
		nft_instances_remove(t, old);
	link_instance(t, i);
	t->n++;
	return 0;
}

void nft_instances_remove(struct nft_instances *t, struct nft_instance *i)
{
	struct nft_instance **p;

	for (p = &t->by_key[hash_key(t, i->rule, i->manager, i->uid, i->unit)]; *p;
	     p = &(*p)->next_by_key)
		if (*p == i) {
			*p = i->next_by_key;
			break;
		}
	for (p = &t->by_handle[hash_handle(t, i->family, i->handle)]; *p; p = &(*p)->next_by_handle)
		if (*p == i) {
			*p = i->next_by_handle;
			break;
		}
	t->n--;
	instance_free(i);
}

size_t nft_instances_forget_handle(struct nft_instances *t, int family, const char *table,
				   uint64_t handle)
{
	struct nft_instance *i = nft_instances_find_handle(t, family, table, handle);

	if (!i)
		return 0;
	nft_instances_remove(t, i);
	return 1;
}

/* Removes every instance for which match() says yes. */
static size_t forget_matching(struct nft_instances *t,
			      int (*match)(const struct nft_instance *i, const void *arg),
			      const void *arg)
{
	size_t n = 0;

	for (size_t b = 0; b < t->n_buckets; b++) {
		struct nft_instance *i = t->by_key[b];

		while (i) {
			struct nft_instance *next = i->next_by_key;

			if (match(i, arg)) {
				nft_instances_remove(t, i);
				n++;
			}
			i = next;
		}
	}
	return n;
}

struct where {
	int family;
	const char *table, *chain;
};

static int match_where(const struct nft_instance *i, const void *arg)
{
	const struct where *w = arg;

	return i->family == w->family && (!w->table || strcmp(i->table, w->table) == 0) &&
	       (!w->chain || strcmp(i->chain, w->chain) == 0);
}

size_t nft_instances_forget_where(struct nft_instances *t, int family, const char *table,
				  const char *chain)
{
	struct where w = {.family = family, .table = table, .chain = chain};

	return forget_matching(t, match_where, &w);
}

static int match_rule(const struct nft_instance *i, const void *arg)
{
	return i->rule == arg;
}

size_t nft_instances_forget_rule(struct nft_instances *t, const void *rule)
{
	return forget_matching(t, match_rule, rule);
}

static int match_all(const struct nft_instance *i, const void *arg)
{
	return 1;
}

size_t nft_instances_forget_all(struct nft_instances *t)
{
	return forget_matching(t, match_all, NULL);
}

void nft_instances_foreach_rule(const struct nft_instances *t, const void *rule,
				void (*f)(struct nft_instance *i, void *userdata), void *userdata)
{
	for (size_t b = 0; b < t->n_buckets; b++)
		for (struct nft_instance *i = t->by_key[b]; i; i = i->next_by_key)
			if (i->rule == rule)
				f(i, userdata);
}
