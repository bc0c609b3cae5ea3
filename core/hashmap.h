/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A string-keyed hash table (<scnpm/htable.h>, no allocation per entry). Keys are
 * borrowed from the values: the caller keeps them alive while the entry exists. */

#include <stddef.h>

struct hashmap;

struct hashmap *hashmap_new(void);
struct hashmap *hashmap_free(struct hashmap *h); /* frees the table, not the values */
int hashmap_put(struct hashmap *h, const char *key, void *value); /* -EEXIST if present */
void *hashmap_get(const struct hashmap *h, const char *key);
void *hashmap_remove(struct hashmap *h, const char *key);
size_t hashmap_size(const struct hashmap *h);

/* Iterate: *i starts at 0; returns the next value or NULL at the end. Changing the map
 * while iterating is not allowed: collect, then remove. */
void *hashmap_iterate(const struct hashmap *h, size_t *i, const char **ret_key);
