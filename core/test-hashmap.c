/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The hash table against a plain array of the same entries: puts, gets, removals in
 * every order (removal moves entries back within their probe runs), growth, and
 * iteration that sees each entry once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

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
