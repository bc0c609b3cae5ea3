/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/*
 * Open addressing with linear probing: one array of slots, no allocation per entry. A
 * slot keeps its key's hash, so probes compare strings only when the hashes agree and
 * growing never hashes a key again. Removal shifts the following entries of the run
 * back (no tombstones), so a lookup stops at the first empty slot. At most 3/4 full.
 */

struct slot {
	uint64_t hash;	/* 0: empty (a key's hash is never 0) */
	const char *key;
	void *value;
};

struct hashmap {
	struct slot *slots;
	size_t mask;	/* slots - 1, a power of two */
	size_t n_entries;
};

#define HASHMAP_MIN_SLOTS 16

static uint64_t hash_string(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	/* mix the high bits into the low ones the mask keeps */
	h ^= h >> 29;
	return h ? h : 1;
}

struct hashmap *hashmap_new(void)
{
	struct hashmap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->slots = calloc(HASHMAP_MIN_SLOTS, sizeof(*h->slots));
	if (!h->slots) {
		free(h);
		return NULL;
	}
	h->mask = HASHMAP_MIN_SLOTS - 1;
	return h;
}

struct hashmap *hashmap_free(struct hashmap *h)
{
	if (!h)
		return NULL;
	free(h->slots);
	free(h);
	return NULL;
}

/* The slot of key, or the empty one where it would go. */
static struct slot *find_slot(const struct hashmap *h, const char *key, uint64_t hash)
{
	for (size_t i = hash & h->mask;; i = (i + 1) & h->mask) {
		struct slot *s = &h->slots[i];

		if (s->hash == 0 || (s->hash == hash && strcmp(s->key, key) == 0))
			return s;
	}
}

static int hashmap_grow(struct hashmap *h)
{
	size_t n = (h->mask + 1) * 2;
	struct slot *old = h->slots, *slots = calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	h->slots = slots;
	h->mask = n - 1;
	for (size_t i = 0; i < n / 2; i++) {
		size_t j;

		if (old[i].hash == 0)
			continue;
		for (j = old[i].hash & h->mask; slots[j].hash != 0; j = (j + 1) & h->mask)
			;
		slots[j] = old[i];
	}
	free(old);
	return 0;
}

int hashmap_put(struct hashmap *h, const char *key, void *value)
{
	uint64_t hash = hash_string(key);
	struct slot *s = find_slot(h, key, hash);

	if (s->hash != 0)
		return -EEXIST;
	if ((h->n_entries + 1) * 4 > (h->mask + 1) * 3) {
		if (hashmap_grow(h) < 0)
			return -ENOMEM;
		s = find_slot(h, key, hash);
	}
	*s = (struct slot){ .hash = hash, .key = key, .value = value };
	h->n_entries++;
	return 0;
}

void *hashmap_get(const struct hashmap *h, const char *key)
{
	if (!h)
		return NULL;
	return find_slot(h, key, hash_string(key))->value;
}

void *hashmap_remove(struct hashmap *h, const char *key)
{
	struct slot *s;
	void *v;
	size_t i;

	if (!h)
		return NULL;
	s = find_slot(h, key, hash_string(key));
	if (s->hash == 0)
		return NULL;
	v = s->value;
	h->n_entries--;
	/* Close the gap: move back each later entry of the run that may live here. */
	i = (size_t)(s - h->slots);
	for (size_t j = (i + 1) & h->mask; h->slots[j].hash != 0; j = (j + 1) & h->mask) {
		size_t home = h->slots[j].hash & h->mask;

		/* j's entry may move to i when its home is not cyclically within (i, j] */
		if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
			h->slots[i] = h->slots[j];
			i = j;
		}
	}
	h->slots[i] = (struct slot){};
	return v;
}

size_t hashmap_size(const struct hashmap *h)
{
	return h ? h->n_entries : 0;
}

/* The cursor is the index of the next slot to look at. */
void *hashmap_iterate(const struct hashmap *h, size_t *i, const char **ret_key)
{
	if (!h)
		return NULL;
	for (; *i <= h->mask; (*i)++) {
		const struct slot *s = &h->slots[*i];

		if (s->hash == 0)
			continue;
		(*i)++;
		if (ret_key)
			*ret_key = s->key;
		return s->value;
	}
	return NULL;
}
