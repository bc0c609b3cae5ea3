/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_HTABLE_H
#define SCNPM_HTABLE_H

/*
 * A hash table for the core and modules that keep one entry per unit or cgroup, header-
 * only: open addressing with linear probing, one array of slots (hash, key, value) and
 * no allocation per entry, at most 3/4 full. The caller hashes (scnpm_hash_*()) and
 * says when a key matches (eq(slot key, key)); keys are borrowed from the values.
 * Removal moves the rest of a probe run back, so there are no tombstones. Changing the
 * table while iterating is not allowed: collect, then remove.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scnpm_htable_slot {
	uint64_t hash; /* 0: empty (scnpm_hash_*() never return 0) */
	const void *key;
	void *value;
};

struct scnpm_htable {
	struct scnpm_htable_slot *slots; /* NULL until the first put */
	size_t mask;			 /* slots - 1, a power of two */
	size_t n;
};

typedef int (*scnpm_htable_eq_t)(const void *slot_key, const void *key);

static inline uint64_t scnpm_hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* FNV-1a of a string, finished so that the low bits the mask keeps are mixed. */
static inline uint64_t scnpm_hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return scnpm_hash_final(h);
}

static inline uint64_t scnpm_hash_u64(uint64_t x)
{
	return scnpm_hash_final(x ^ 0x9e3779b97f4a7c15ULL);
}

static inline int scnpm_htable_eq_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b) == 0;
}

static inline int scnpm_htable_eq_u64(const void *a, const void *b)
{
	return *(const uint64_t *)a == *(const uint64_t *)b;
}

static inline size_t scnpm_htable_size(const struct scnpm_htable *t)
{
	return t ? t->n : 0;
}

/* The slot holding key, or the empty one where it would go; NULL for an empty table. */
static inline struct scnpm_htable_slot *scnpm_htable_slot(const struct scnpm_htable *t,
							  uint64_t hash, scnpm_htable_eq_t eq,
							  const void *key)
{
	if (!t || !t->slots)
		return NULL;
	for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
		struct scnpm_htable_slot *s = &t->slots[i];

		if (s->hash == 0 || (s->hash == hash && eq(s->key, key)))
			return s;
	}
}

static inline void *scnpm_htable_get(const struct scnpm_htable *t, uint64_t hash,
				     scnpm_htable_eq_t eq, const void *key)
{
	struct scnpm_htable_slot *s = scnpm_htable_slot(t, hash, eq, key);

	return s ? s->value : NULL;
}

static inline int scnpm_htable_grow(struct scnpm_htable *t)
{
	size_t n = t->slots ? (t->mask + 1) * 2 : 16, old_n = t->slots ? t->mask + 1 : 0;
	struct scnpm_htable_slot *old = t->slots,
				 *slots = (struct scnpm_htable_slot *)calloc(n, sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	t->slots = slots;
	t->mask = n - 1;
	for (size_t i = 0; i < old_n; i++) {
		size_t j;

		if (old[i].hash == 0)
			continue;
		for (j = old[i].hash & t->mask; slots[j].hash != 0; j = (j + 1) & t->mask)
			;
		slots[j] = old[i];
	}
	free(old);
	return 0;
}

/* Add value under key; -EEXIST when key is there already, -ENOMEM. */
static inline int scnpm_htable_put(struct scnpm_htable *t, uint64_t hash, scnpm_htable_eq_t eq,
				   const void *key, void *value)
{
	struct scnpm_htable_slot *s = scnpm_htable_slot(t, hash, eq, key);

	if (s && s->hash != 0)
		return -EEXIST;
	if (!t->slots || (t->n + 1) * 4 > (t->mask + 1) * 3) {
		if (scnpm_htable_grow(t) < 0)
			return -ENOMEM;
		s = scnpm_htable_slot(t, hash, eq, key);
	}
	s->hash = hash;
	s->key = key;
	s->value = value;
	t->n++;
	return 0;
}

/* Remove key's entry and return its value, NULL when there is none. */
static inline void *scnpm_htable_remove(struct scnpm_htable *t, uint64_t hash, scnpm_htable_eq_t eq,
					const void *key)
{
	struct scnpm_htable_slot *s = scnpm_htable_slot(t, hash, eq, key);
	void *v;
	size_t i;

	if (!s || s->hash == 0)
		return NULL;
	v = s->value;
	t->n--;
	/* close the gap: move back each later entry of the run that may live here */
	i = (size_t)(s - t->slots);
	for (size_t j = (i + 1) & t->mask; t->slots[j].hash != 0; j = (j + 1) & t->mask) {
		size_t home = t->slots[j].hash & t->mask;

		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	memset(&t->slots[i], 0, sizeof(t->slots[i]));
	return v;
}

/* *i starts at 0; the next value, NULL at the end. */
static inline void *scnpm_htable_iterate(const struct scnpm_htable *t, size_t *i,
					 const void **ret_key)
{
	if (!t || !t->slots)
		return NULL;
	for (; *i <= t->mask; (*i)++) {
		const struct scnpm_htable_slot *s = &t->slots[*i];

		if (s->hash == 0)
			continue;
		(*i)++;
		if (ret_key)
			*ret_key = s->key;
		return s->value;
	}
	return NULL;
}

/* Frees the slots, not the values. */
static inline void scnpm_htable_done(struct scnpm_htable *t)
{
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

#endif /* SCNPM_HTABLE_H */
