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
	free(i->want);
	free(i->message);
	free(i);
}

void nft_instances_done(struct nft_instances *t)
{
	for (size_t b = 0; b < t->n_buckets; b++)
		while (t->by_key[b]) {
			struct nft_instance *i = t->by_key[b];

			t->by_key[b] = i->next_by_key;
			instance_free(i);
		}
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
	if (t->n == 0 || !table || handle == 0)
		return NULL;
	for (struct nft_instance *i = t->by_handle[hash_handle(t, family, handle)]; i;
	     i = i->next_by_handle)
		if (i->handle == handle && i->family == family && strcmp(i->table, table) == 0)
			return i;
	return NULL;
}

static void link_handle(struct nft_instances *t, struct nft_instance *i)
{
	size_t h;

	if (i->handle == 0)
		return;
	h = hash_handle(t, i->family, i->handle);
	i->next_by_handle = t->by_handle[h];
	t->by_handle[h] = i;
}

static void unlink_handle(struct nft_instances *t, struct nft_instance *i)
{
	if (i->handle == 0)
		return;
	for (struct nft_instance **p = &t->by_handle[hash_handle(t, i->family, i->handle)]; *p;
	     p = &(*p)->next_by_handle)
		if (*p == i) {
			*p = i->next_by_handle;
			break;
		}
	i->next_by_handle = NULL;
}

static void link_instance(struct nft_instances *t, struct nft_instance *i)
{
	size_t k = hash_key(t, i->rule, i->manager, i->uid, i->unit);

	i->next_by_key = t->by_key[k];
	t->by_key[k] = i;
	link_handle(t, i);
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

struct nft_instance *nft_instances_get(struct nft_instances *t, const void *rule, uint32_t manager,
				       uint32_t uid, const char *unit, int family,
				       const char *table, const char *chain)
{
	struct nft_instance *i;

	if (!unit || !table || !chain)
		return NULL;
	i = nft_instances_find(t, rule, manager, uid, unit);
	if (i)
		return i;
	if (t->n + 1 > t->n_buckets && grow(t) < 0)
		return NULL;

	i = calloc(1, sizeof(*i));
	if (!i)
		return NULL;
	*i = (struct nft_instance){
	    .rule = rule,
	    .manager = manager,
	    .uid = uid,
	    .unit = strdup(unit),
	    .family = family,
	    .table = strdup(table),
	    .chain = strdup(chain),
	};
	if (!i->unit || !i->table || !i->chain) {
		instance_free(i);
		return NULL;
	}
	link_instance(t, i);
	t->n++;
	return i;
}

void nft_instances_set_handle(struct nft_instances *t, struct nft_instance *i, uint64_t handle,
			      uint64_t tag)
{
	unlink_handle(t, i);
	i->handle = handle;
	i->tag = handle ? tag : 0;
	link_handle(t, i);
}

void nft_instances_mark_dirty(struct nft_instances *t, struct nft_instance *i)
{
	if (i->dirty)
		return;
	i->dirty = 1;
	i->dirty_next = NULL;
	i->dirty_prev = t->dirty_tail;
	if (t->dirty_tail)
		t->dirty_tail->dirty_next = i;
	else
		t->dirty_head = i;
	t->dirty_tail = i;
	t->n_dirty++;
}

void nft_instances_clear_dirty(struct nft_instances *t, struct nft_instance *i)
{
	if (!i->dirty)
		return;
	if (i->dirty_prev)
		i->dirty_prev->dirty_next = i->dirty_next;
	else
		t->dirty_head = i->dirty_next;
	if (i->dirty_next)
		i->dirty_next->dirty_prev = i->dirty_prev;
	else
		t->dirty_tail = i->dirty_prev;
	i->dirty = 0;
	i->dirty_prev = i->dirty_next = NULL;
	t->n_dirty--;
}

void nft_instances_remove(struct nft_instances *t, struct nft_instance *i)
{
	nft_instances_clear_dirty(t, i);
	for (struct nft_instance **p = &t->by_key[hash_key(t, i->rule, i->manager, i->uid, i->unit)];
	     *p; p = &(*p)->next_by_key)
		if (*p == i) {
			*p = i->next_by_key;
			break;
		}
	unlink_handle(t, i);
	t->n--;
	instance_free(i);
}

static void lose(struct nft_instances *t, struct nft_instance *i)
{
	nft_instances_set_handle(t, i, 0, 0);
	i->lost = 1;
	nft_instances_mark_dirty(t, i);
}

struct nft_instance *nft_instances_lose_handle(struct nft_instances *t, int family,
					       const char *table, uint64_t handle)
{
	struct nft_instance *i = nft_instances_find_handle(t, family, table, handle);

	if (i)
		lose(t, i);
	return i;
}

static int in_where(const struct nft_instance *i, int family, const char *table, const char *chain)
{
	return (!table || (i->family == family && strcmp(i->table, table) == 0)) &&
	       (!chain || strcmp(i->chain, chain) == 0);
}

size_t nft_instances_lose_where(struct nft_instances *t, int family, const char *table,
				const char *chain)
{
	size_t n = 0;

	for (size_t b = 0; b < t->n_buckets; b++)
		for (struct nft_instance *i = t->by_key[b]; i; i = i->next_by_key)
			if (i->handle != 0 && in_where(i, family, table, chain)) {
				lose(t, i);
				n++;
			}
	return n;
}

size_t nft_instances_wake_where(struct nft_instances *t, int family, const char *table,
				const char *chain)
{
	size_t n = 0;

	for (size_t b = 0; b < t->n_buckets; b++)
		for (struct nft_instance *i = t->by_key[b]; i; i = i->next_by_key)
			if (i->waiting && in_where(i, family, table, chain)) {
				i->waiting = 0;
				nft_instances_mark_dirty(t, i);
				n++;
			}
	return n;
}

size_t nft_instances_forget_rule(struct nft_instances *t, const void *rule)
{
	size_t n = 0;

	for (size_t b = 0; b < t->n_buckets; b++) {
		struct nft_instance *i = t->by_key[b];

		while (i) {
			struct nft_instance *next = i->next_by_key;

			if (i->rule == rule) {
				nft_instances_remove(t, i);
				n++;
			}
			i = next;
		}
	}
	return n;
}

void nft_instances_foreach(const struct nft_instances *t, const void *rule,
			   void (*f)(struct nft_instance *i, void *userdata), void *userdata)
{
	for (size_t b = 0; b < t->n_buckets; b++)
		for (struct nft_instance *i = t->by_key[b]; i; i = i->next_by_key)
			if (!rule || i->rule == rule)
				f(i, userdata);
}
