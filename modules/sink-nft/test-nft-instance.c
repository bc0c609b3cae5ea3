/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>

#include "nft-instance.h"

static const int rule_a, rule_b; /* stand-ins for struct scnpm_rule pointers */

static struct nft_instance *get(struct nft_instances *t, const void *rule, uint32_t uid,
				const char *unit, int family, const char *table, const char *chain,
				uint64_t handle)
{
	struct nft_instance *i = nft_instances_get(t, rule, 1, uid, unit, family, table, chain);

	cr_assert(ne(ptr, i, NULL));
	nft_instances_set_handle(t, i, handle, handle ? 100 + handle : 0);
	return i;
}

Test(nft_instance, get_find_by_key_and_handle)
{
	struct nft_instances t = {};
	struct nft_instance *i;

	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "a.service"), NULL));
	i = get(&t, &rule_a, 0, "a.service", NFPROTO_INET, "t", "c", 5);
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "a.service"), i));
	cr_assert(eq(u64, i->tag, 105));

	/* The key is (rule, manager, uid, unit): each part tells instances apart. */
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_b, 1, 0, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 2, 0, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 1000, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "b.service"), NULL));

	/* The same key again is the same instance; a new handle moves its index entry. */
	cr_assert(eq(ptr, get(&t, &rule_a, 0, "a.service", NFPROTO_INET, "t", "c", 9), i));
	cr_assert(eq(sz, t.n, 1));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 5), NULL));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 9), i));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_IPV4, "t", 9), NULL));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "u", 9), NULL));

	/* Nothing in the kernel: not found by any handle. */
	nft_instances_set_handle(&t, i, 0, 0);
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 9), NULL));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 0), NULL));

	nft_instances_remove(&t, i);
	cr_assert(eq(sz, t.n, 0));
	nft_instances_done(&t);
}

Test(nft_instance, refuses_incomplete)
{
	struct nft_instances t = {};

	cr_assert(eq(ptr, nft_instances_get(&t, &rule_a, 1, 0, NULL, NFPROTO_INET, "t", "c"), NULL));
	cr_assert(eq(ptr, nft_instances_get(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, NULL, "c"),
		     NULL));
	cr_assert(eq(sz, t.n, 0));
	nft_instances_done(&t);
}

Test(nft_instance, dirty_list_in_order_and_once)
{
	struct nft_instances t = {};
	struct nft_instance *a = get(&t, &rule_a, 0, "a.service", NFPROTO_INET, "t", "c", 1);
	struct nft_instance *b = get(&t, &rule_a, 0, "b.service", NFPROTO_INET, "t", "c", 2);
	struct nft_instance *c = get(&t, &rule_a, 0, "c.service", NFPROTO_INET, "t", "c", 3);

	nft_instances_mark_dirty(&t, b);
	nft_instances_mark_dirty(&t, a);
	nft_instances_mark_dirty(&t, b);
	nft_instances_mark_dirty(&t, c);
	cr_assert(eq(sz, t.n_dirty, 3));
	cr_assert(eq(ptr, nft_instances_first_dirty(&t), b));
	nft_instances_clear_dirty(&t, b);
	cr_assert(eq(ptr, nft_instances_first_dirty(&t), a));
	/* Removing a dirty instance takes it off the list. */
	nft_instances_remove(&t, a);
	cr_assert(eq(ptr, nft_instances_first_dirty(&t), c));
	cr_assert(eq(sz, t.n_dirty, 1));
	nft_instances_done(&t);
}

Test(nft_instance, lose_by_handle_needs_family_and_table)
{
	struct nft_instances t = {};
	struct nft_instance *i = get(&t, &rule_a, 0, "a.service", NFPROTO_INET, "t", "c", 7);

	cr_assert(eq(ptr, nft_instances_lose_handle(&t, NFPROTO_IPV4, "t", 7), NULL));
	cr_assert(eq(ptr, nft_instances_lose_handle(&t, NFPROTO_INET, "other", 7), NULL));
	cr_assert(eq(ptr, nft_instances_lose_handle(&t, NFPROTO_INET, "t", 8), NULL));
	cr_assert(eq(sz, t.n_dirty, 0));
	cr_assert(eq(ptr, nft_instances_lose_handle(&t, NFPROTO_INET, "t", 7), i));
	/* Kept, to be restored: nothing in the kernel, lost, dirty. */
	cr_assert(eq(sz, t.n, 1));
	cr_assert(eq(u64, i->handle, 0));
	cr_assert(i->lost);
	cr_assert(eq(ptr, nft_instances_first_dirty(&t), i));
	nft_instances_done(&t);
}

Test(nft_instance, lose_and_wake_where)
{
	struct nft_instances t = {};
	struct nft_instance *a = get(&t, &rule_a, 0, "a.service", NFPROTO_INET, "t", "c", 1);
	struct nft_instance *b = get(&t, &rule_a, 0, "b.service", NFPROTO_INET, "t", "d", 2);
	struct nft_instance *c = get(&t, &rule_b, 0, "a.service", NFPROTO_INET, "u", "c", 1);
	struct nft_instance *d = get(&t, &rule_b, 0, "b.service", NFPROTO_IPV4, "t", "c", 1);

	cr_assert(eq(sz, nft_instances_lose_where(&t, NFPROTO_INET, "t", "c"), 1));
	cr_assert(eq(u64, a->handle, 0));
	cr_assert(eq(sz, nft_instances_lose_where(&t, NFPROTO_INET, "t", NULL), 1));
	cr_assert(eq(u64, b->handle, 0));
	cr_assert(eq(u64, c->handle, 1));
	cr_assert(eq(u64, d->handle, 1));
	cr_assert(eq(sz, nft_instances_lose_where(&t, 0, NULL, NULL), 2));
	cr_assert(eq(sz, t.n, 4));

	/* Waiting for their chain: woken when it (or its table) appears. */
	for (size_t k = 0; k < 4; k++)
		nft_instances_clear_dirty(&t, nft_instances_first_dirty(&t));
	a->waiting = b->waiting = 1;
	cr_assert(eq(sz, nft_instances_wake_where(&t, NFPROTO_INET, "t", "x"), 0));
	cr_assert(eq(sz, nft_instances_wake_where(&t, NFPROTO_INET, "t", "d"), 1));
	cr_assert(eq(int, b->waiting, 0));
	cr_assert(eq(int, b->dirty, 1));
	cr_assert(eq(sz, nft_instances_wake_where(&t, NFPROTO_INET, "t", NULL), 1));
	cr_assert(eq(int, a->waiting, 0));
	cr_assert(eq(int, a->dirty, 1));

	cr_assert(eq(sz, nft_instances_forget_rule(&t, &rule_b), 2));
	cr_assert(eq(sz, t.n, 2));
	nft_instances_done(&t);
}

static void count(struct nft_instance *i, void *userdata)
{
	(*(size_t *)userdata)++;
}

Test(nft_instance, many_survive_rehash)
{
	struct nft_instances t = {};
	char unit[64];
	size_t n = 0;

	for (unsigned k = 0; k < 5000; k++) {
		snprintf(unit, sizeof(unit), "u%u.service", k);
		(void)get(&t, k % 2 ? &rule_a : &rule_b, k, unit, NFPROTO_INET, "t", "c", k + 1);
	}
	cr_assert(eq(sz, t.n, 5000));
	for (unsigned k = 0; k < 5000; k++) {
		struct nft_instance *i;

		snprintf(unit, sizeof(unit), "u%u.service", k);
		i = nft_instances_find(&t, k % 2 ? &rule_a : &rule_b, 1, k, unit);
		cr_assert(ne(ptr, i, NULL));
		cr_assert(eq(u64, i->handle, k + 1));
		cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", k + 1), i));
	}
	nft_instances_foreach(&t, &rule_a, count, &n);
	cr_assert(eq(sz, n, 2500));
	nft_instances_done(&t);
	cr_assert(eq(sz, t.n, 0));
}
