/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

struct entry {
	const char *key;
	void *value;
	struct entry *next;
};

struct hashmap {
	struct entry **buckets;
	size_t n_buckets, n_entries;
};

static uint64_t hash_string(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct hashmap *hashmap_new(void)
{
	struct hashmap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->n_buckets = 16;
	h->buckets = calloc(h->n_buckets, sizeof(struct entry *));
	if (!h->buckets) {
		free(h);
		return NULL;
	}
	return h;
}

struct hashmap *hashmap_free(struct hashmap *h)
{
	if (!h)
		return NULL;
	for (size_t i = 0; i < h->n_buckets; i++)
		for (struct entry *e = h->buckets[i], *n; e; e = n) {
			n = e->next;
			free(e);
		}
	free(h->buckets);
	free(h);
	return NULL;
}

static int hashmap_grow(struct hashmap *h)
{
	size_t nb = h->n_buckets * 2;
	struct entry **b = calloc(nb, sizeof(struct entry *));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < h->n_buckets; i++)
		for (struct entry *e = h->buckets[i], *n; e; e = n) {
			size_t j = hash_string(e->key) % nb;

			n = e->next;
			e->next = b[j];
			b[j] = e;
		}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = nb;
	return 0;
}

int hashmap_put(struct hashmap *h, const char *key, void *value)
{
	struct entry *e;
	size_t i;

	if (hashmap_get(h, key))
		return -EEXIST;
	if (h->n_entries >= h->n_buckets && hashmap_grow(h) < 0)
		return -ENOMEM;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	i = hash_string(key) % h->n_buckets;
	*e = (struct entry){ .key = key, .value = value, .next = h->buckets[i] };
	h->buckets[i] = e;
	h->n_entries++;
	return 0;
}

void *hashmap_get(const struct hashmap *h, const char *key)
{
	if (!h)
		return NULL;
	for (struct entry *e = h->buckets[hash_string(key) % h->n_buckets]; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e->value;
	return NULL;
}

void *hashmap_remove(struct hashmap *h, const char *key)
{
	if (!h)
		return NULL;
	for (struct entry **p = &h->buckets[hash_string(key) % h->n_buckets]; *p; p = &(*p)->next)
		if (strcmp((*p)->key, key) == 0) {
			struct entry *e = *p;
			void *v = e->value;

			*p = e->next;
			free(e);
			h->n_entries--;
			return v;
		}
	return NULL;
}

size_t hashmap_size(const struct hashmap *h)
{
	return h ? h->n_entries : 0;
}

/* The cursor counts entries visited in bucket order; the chain position within a bucket
 * is recomputed each call, which is fine for the table sizes we keep (one entry per
 * configured unit or live matching unit). */
void *hashmap_iterate(const struct hashmap *h, size_t *i, const char **ret_key)
{
	size_t bucket, pos, k;

	if (!h)
		return NULL;
	/* *i encodes (bucket << 32 | position in chain) */
	bucket = *i >> 32;
	pos = *i & 0xffffffffu;
	for (; bucket < h->n_buckets; bucket++, pos = 0) {
		struct entry *e = h->buckets[bucket];

		for (k = 0; e && k < pos; k++)
			e = e->next;
		if (e) {
			*i = (bucket << 32) | (pos + 1);
			if (ret_key)
				*ret_key = e->key;
			return e->value;
		}
	}
	*i = (size_t)h->n_buckets << 32;
	return NULL;
}
