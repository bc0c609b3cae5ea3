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
 *
 * Keys are often names users pick (units, cgroups), so the hashes are keyed per process
 * (SipHash-1-3 under a key drawn from the kernel's AT_RANDOM bytes): which names collide
 * cannot be worked out from outside, and a table cannot be flooded into long probe runs.
 * A hash is stable within a process; iteration order differs between processes.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

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

/* Mixes h so that the low bits a table's mask keeps depend on all of it (for hashes
 * combined from scnpm_hash_*() and other numbers). Never 0. */
static inline uint64_t scnpm_hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

#define SCNPM_SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static inline void scnpm_sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = SCNPM_SIP_ROTL(v[1], 13) ^ v[0];
	v[0] = SCNPM_SIP_ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = SCNPM_SIP_ROTL(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = SCNPM_SIP_ROTL(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = SCNPM_SIP_ROTL(v[1], 17) ^ v[2];
	v[2] = SCNPM_SIP_ROTL(v[2], 32);
}

/* SipHash-c-d of len bytes under the 128-bit key k (c rounds a block, d at the end). */
static inline uint64_t scnpm_siphash(const uint64_t k[2], const void *data, size_t len,
				     unsigned c, unsigned d)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + (len & ~(size_t)7);
	uint64_t v[4] = { k[0] ^ 0x736f6d6570736575ULL, k[1] ^ 0x646f72616e646f6dULL,
			  k[0] ^ 0x6c7967656e657261ULL, k[1] ^ 0x7465646279746573ULL };
	uint64_t m;
	unsigned r;
	size_t i;

	for (;; p += 8) {
		m = 0;
		if (p == end) { /* the last block: the tail and the length */
			for (i = 0; i < (len & 7); i++)
				m |= (uint64_t)p[i] << (8 * i);
			m |= (uint64_t)len << 56;
		} else {
			for (i = 0; i < 8; i++) /* little endian on any host; one load here */
				m |= (uint64_t)p[i] << (8 * i);
		}
		v[3] ^= m;
		for (r = 0; r < c; r++)
			scnpm_sip_round(v);
		v[0] ^= m;
		if (p == end)
			break;
	}
	v[2] ^= 0xff;
	for (r = 0; r < d; r++)
		scnpm_sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* This process's hash key, made once from the 16 random bytes the kernel gives every
 * process (AT_RANDOM: no system call). They also seed libc's stack protector, so the key
 * is derived from them, not them. Each module has its own copy of the key; it is the same. */
static inline const uint64_t *scnpm_hash_key(void)
{
	static const uint64_t derive[2] = { 0x7363706d2d687461ULL, 0x626c652d6b657931ULL };
	static uint64_t key[2];
	static int ready;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
		unsigned char in[17] = { 0 };

		if (r)
			memcpy(in, r, 16);
		/* every caller computes the same value, so a race stores the same bytes */
		__atomic_store_n(&key[0], scnpm_siphash(derive, in, sizeof(in), 1, 3), __ATOMIC_RELAXED);
		in[16] = 1;
		__atomic_store_n(&key[1], scnpm_siphash(derive, in, sizeof(in), 1, 3), __ATOMIC_RELAXED);
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	return key;
}

static inline uint64_t scnpm_hash_bytes(const void *data, size_t len)
{
	uint64_t h = scnpm_siphash(scnpm_hash_key(), data, len, 1, 3);

	return h ? h : 1;
}

static inline uint64_t scnpm_hash_str(const char *s)
{
	return scnpm_hash_bytes(s, strlen(s));
}

static inline uint64_t scnpm_hash_u64(uint64_t x)
{
	return scnpm_hash_bytes(&x, sizeof(x));
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
