/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include <scnpm/htable.h>

#include "hashmap.h"

/* The SDK's table (<scnpm/htable.h>) with string keys. */
struct hashmap {
	struct scnpm_htable t;
};

struct hashmap *hashmap_new(void)
{
	return calloc(1, sizeof(struct hashmap));
}

struct hashmap *hashmap_free(struct hashmap *h)
{
	if (h) {
		scnpm_htable_done(&h->t);
		free(h);
	}
	return NULL;
}

int hashmap_put(struct hashmap *h, const char *key, void *value)
{
	return scnpm_htable_put(&h->t, scnpm_hash_str(key), scnpm_htable_eq_str, key, value);
}

void *hashmap_get(const struct hashmap *h, const char *key)
{
	return h ? scnpm_htable_get(&h->t, scnpm_hash_str(key), scnpm_htable_eq_str, key) : NULL;
}

void *hashmap_remove(struct hashmap *h, const char *key)
{
	return h ? scnpm_htable_remove(&h->t, scnpm_hash_str(key), scnpm_htable_eq_str, key) : NULL;
}

size_t hashmap_size(const struct hashmap *h)
{
	return h ? h->t.n : 0;
}

void *hashmap_iterate(const struct hashmap *h, size_t *i, const char **ret_key)
{
	const void *k = NULL;
	void *v;

	if (!h)
		return NULL;
	v = scnpm_htable_iterate(&h->t, i, &k);
	if (v && ret_key)
		*ret_key = k;
	return v;
}
