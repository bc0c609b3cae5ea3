/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hash table against a plain array of the same entries: puts, gets, removals in
 * every order (removal moves entries back within their probe runs), growth, and
 * iteration that sees each entry once. The keyed hash: SipHash against its published
 * vectors, stable within the process, under this process's key.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <scnpm/htable.h>

#include "hashmap.h"
#include "util.h"

#define N 3000

static char keys[N][16];

static void make_keys(void)
{
	for (unsigned i = 0; i < N; i++)
		snprintf(keys[i], sizeof(keys[i]), "k%u", i);
}

static void check_contents(struct hashmap *h, const bool *in)
{
	size_t n = 0, i = 0, seen = 0;
	const char *key;
	void *v;

	for (unsigned k = 0; k < N; k++) {
		cr_assert(eq(ptr, hashmap_get(h, keys[k]), in[k] ? keys[k] : NULL), "%s", keys[k]);
		n += in[k];
	}
	cr_assert(eq(sz, hashmap_size(h), n));
	while ((v = hashmap_iterate(h, &i, &key))) {
		cr_assert(eq(ptr, v, (void *)key));
		cr_assert(in[((char *)v - keys[0]) / sizeof(keys[0])]);
		seen++;
	}
	cr_assert(eq(sz, seen, n));
}

Test(hashmap, put_get_remove_iterate)
{
	struct hashmap *h = hashmap_new();
	static bool in[N];

	make_keys();
	cr_assert(ne(ptr, h, NULL));
	for (unsigned k = 0; k < N; k++) {
		cr_assert(eq(int, hashmap_put(h, keys[k], keys[k]), 0));
		in[k] = true;
	}
	cr_assert(eq(int, hashmap_put(h, keys[7], keys[7]), -EEXIST));
	check_contents(h, in);
	/* every third, then the rest in another order */
	for (unsigned k = 0; k < N; k += 3) {
		cr_assert(eq(ptr, hashmap_remove(h, keys[k]), keys[k]));
		in[k] = false;
	}
	cr_assert(eq(ptr, hashmap_remove(h, keys[0]), NULL));
	check_contents(h, in);
	for (unsigned k = 0; k < N; k += 3) {
		cr_assert(eq(int, hashmap_put(h, keys[k], keys[k]), 0));
		in[k] = true;
	}
	check_contents(h, in);
	for (unsigned k = N; k > 0; k--)
		if ((k - 1) % 2 == 0) {
			cr_assert(eq(ptr, hashmap_remove(h, keys[k - 1]), keys[k - 1]));
			in[k - 1] = false;
		}
	check_contents(h, in);
	for (unsigned k = 0; k < N; k++)
		if (in[k]) {
			cr_assert(eq(ptr, hashmap_remove(h, keys[k]), keys[k]));
			in[k] = false;
		}
	check_contents(h, in);
	cr_assert(eq(sz, hashmap_size(h), 0));
	hashmap_free(h);
}

Test(hashmap, empty_and_null)
{
	struct hashmap *h = hashmap_new();
	size_t i = 0;

	cr_assert(eq(ptr, hashmap_get(h, "x"), NULL));
	cr_assert(eq(ptr, hashmap_iterate(h, &i, NULL), NULL));
	cr_assert(eq(ptr, hashmap_get(NULL, "x"), NULL));
	cr_assert(eq(sz, hashmap_size(NULL), 0));
	hashmap_free(h);
}

Test(hashmap, keys_formatted_in_place_or_on_the_heap)
{
	char buf[KEY_BUF], name[600];
	_cleanup_free_ char *heap = NULL, *want = NULL;
	const char *k;

	k = key_format(buf, &heap, NULL, 2, 1000, "a.service");
	cr_assert(eq(str, (char *)k, "2:1000:a.service"));
	cr_assert(eq(ptr, (void *)k, buf));
	cr_assert(eq(ptr, heap, NULL));
	k = key_format(buf, &heap, (void *)0xabc0, 0, 0, "x");
	cr_assert(eq(str, (char *)k, "abc0 0:0:x"));
	k = key_format(buf, &heap, NULL, 4294967295u, 4294967295u, "");
	cr_assert(eq(str, (char *)k, "4294967295:4294967295:"));
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	k = key_format(buf, &heap, (void *)UINTPTR_MAX, 4294967295u, 4294967295u, name);
	cr_assert(ne(ptr, heap, NULL));
	cr_assert(eq(ptr, (void *)k, heap));
	cr_assert(ge(int, asprintf(&want, "%jx 4294967295:4294967295:%s", (uintmax_t)UINTPTR_MAX, name), 0));
	cr_assert(eq(str, (char *)k, want));
}

/* The reference's 64-bit vectors (SipHash-2-4, key 00..0f, message 00..len-1). */
Test(htable, siphash_reference_vectors)
{
	static const uint64_t want[16] = {
		0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL, 0x85676696d7fb7e2dULL,
		0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL, 0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL,
		0x93f5f5799a932462ULL, 0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
		0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL, 0xa129ca6149be45e5ULL,
	};
	const uint64_t k[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	unsigned char m[16];

	for (unsigned i = 0; i < 16; i++)
		m[i] = (unsigned char)i;
	for (unsigned n = 0; n < 16; n++)
		cr_assert(eq(u64, scnpm_siphash(k, m, n, 2, 4), want[n]), "length %u", n);
}

Test(htable, hash_stable_within_the_process_and_keyed)
{
	const uint64_t *key = scnpm_hash_key();
	const uint64_t zero[2] = { 0, 0 };
	const char *s = "bs-4711.service";
	uint64_t h = scnpm_hash_str(s), x = 4711;
	char copy[32];

	/* the same string, the same hash, however often and wherever it is stored */
	cr_assert(eq(u64, scnpm_hash_str(s), h));
	cr_assert(eq(u64, scnpm_hash_str(strcpy(copy, s)), h));
	cr_assert(eq(ptr, (void *)scnpm_hash_key(), (void *)key));
	cr_assert(eq(u64, scnpm_hash_u64(x), scnpm_hash_u64(4711)));
	/* under this process's key, never the 0 that marks an empty slot */
	cr_assert(eq(u64, h, scnpm_siphash(key, s, strlen(s), 1, 3) ?: 1));
	cr_assert(ne(u64, scnpm_hash_str(""), 0));
	cr_assert(ne(u64, scnpm_hash_u64(0), 0));
	/* the key changes the hash (no claim on how the key is drawn) */
	cr_assert(ne(u64, scnpm_siphash(zero, s, strlen(s), 1, 3), scnpm_siphash(key, s, strlen(s), 1, 3)));
}

Test(htable, table_works_with_the_keyed_hash)
{
	struct scnpm_htable t = { 0 };
	static char names[N][24];

	for (unsigned i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "u-%u.service", i);
		cr_assert(eq(int, scnpm_htable_put(&t, scnpm_hash_str(names[i]), scnpm_htable_eq_str,
						   names[i], names[i]), 0));
	}
	cr_assert(eq(sz, scnpm_htable_size(&t), N));
	for (unsigned i = 0; i < N; i++)
		cr_assert(eq(ptr, scnpm_htable_get(&t, scnpm_hash_str(names[i]), scnpm_htable_eq_str,
						   names[i]), names[i]));
	for (unsigned i = 0; i < N; i += 2)
		cr_assert(eq(ptr, scnpm_htable_remove(&t, scnpm_hash_str(names[i]), scnpm_htable_eq_str,
						      names[i]), names[i]));
	for (unsigned i = 0; i < N; i++)
		cr_assert(eq(ptr, scnpm_htable_get(&t, scnpm_hash_str(names[i]), scnpm_htable_eq_str,
						   names[i]), i % 2 ? names[i] : NULL));
	scnpm_htable_done(&t);
}
