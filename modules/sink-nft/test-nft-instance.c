/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>

#include "nft-instance.h"

static const int rule_a, rule_b; /* stand-ins for struct scnpm_rule pointers */

Test(nft_instance, put_find_replace)
{
	struct nft_instances t = {};
	struct nft_instance *i;

	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "a.service"), NULL));
	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, "t", "c", 5), 0));
	i = nft_instances_find(&t, &rule_a, 1, 0, "a.service");
	cr_assert(ne(ptr, i, NULL));
	cr_assert(eq(u64, i->handle, 5));

	/* The key is (rule, manager, uid, unit): each part tells instances apart. */
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_b, 1, 0, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 2, 0, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 1000, "a.service"), NULL));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "b.service"), NULL));

	/* Same key again replaces: one instance per key. */
	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, "t", "c", 9), 0));
	cr_assert(eq(sz, t.n, 1));
	cr_assert(eq(u64, nft_instances_find(&t, &rule_a, 1, 0, "a.service")->handle, 9));
	cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 5), NULL));
	cr_assert(ne(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", 9), NULL));

	nft_instances_done(&t);
	cr_assert(eq(sz, t.n, 0));
}

Test(nft_instance, refuses_incomplete)
{
	struct nft_instances t = {};

	cr_assert(eq(int, nft_instances_put(&t, &rule_a, 1, 0, NULL, NFPROTO_INET, "t", "c", 5),
		     -EINVAL));
	cr_assert(eq(int,
		     nft_instances_put(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, "t", "c", 0),
		     -EINVAL));
	cr_assert(eq(sz, t.n, 0));
	nft_instances_done(&t);
}

Test(nft_instance, forget_by_handle_needs_family_and_table)
{
	struct nft_instances t = {};

	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, "t", "c", 7), 0));
	cr_assert(eq(sz, nft_instances_forget_handle(&t, NFPROTO_IPV4, "t", 7), 0));
	cr_assert(eq(sz, nft_instances_forget_handle(&t, NFPROTO_INET, "other", 7), 0));
	cr_assert(eq(sz, nft_instances_forget_handle(&t, NFPROTO_INET, "t", 8), 0));
	cr_assert(eq(sz, nft_instances_forget_handle(&t, NFPROTO_INET, "t", 7), 1));
	cr_assert(eq(ptr, nft_instances_find(&t, &rule_a, 1, 0, "a.service"), NULL));
	cr_assert(eq(sz, t.n, 0));
	nft_instances_done(&t);
}

Test(nft_instance, forget_where_and_rule)
{
	struct nft_instances t = {};

	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_a, 1, 0, "a.service", NFPROTO_INET, "t", "c", 1), 0));
	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_a, 1, 0, "b.service", NFPROTO_INET, "t", "d", 2), 0));
	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_b, 1, 0, "a.service", NFPROTO_INET, "u", "c", 1), 0));
	cr_assert(eq(
	    int, nft_instances_put(&t, &rule_b, 1, 0, "b.service", NFPROTO_IPV4, "t", "c", 1), 0));

	cr_assert(eq(sz, nft_instances_forget_where(&t, NFPROTO_INET, "t", "c"), 1));
	cr_assert(eq(sz, t.n, 3));
	cr_assert(eq(sz, nft_instances_forget_where(&t, NFPROTO_INET, "t", NULL), 1));
	cr_assert(eq(sz, t.n, 2));
	cr_assert(eq(sz, nft_instances_forget_rule(&t, &rule_b), 2));
	cr_assert(eq(sz, t.n, 0));
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
		cr_assert(eq(int,
			     nft_instances_put(&t, k % 2 ? &rule_a : &rule_b, 2, k, unit,
					       NFPROTO_INET, "t", "c", k + 1),
			     0));
	}
	cr_assert(eq(sz, t.n, 5000));
	for (unsigned k = 0; k < 5000; k++) {
		struct nft_instance *i;

		snprintf(unit, sizeof(unit), "u%u.service", k);
		i = nft_instances_find(&t, k % 2 ? &rule_a : &rule_b, 2, k, unit);
		cr_assert(ne(ptr, i, NULL));
		cr_assert(eq(u64, i->handle, k + 1));
		cr_assert(eq(ptr, nft_instances_find_handle(&t, NFPROTO_INET, "t", k + 1), i));
	}
	nft_instances_foreach_rule(&t, &rule_a, count, &n);
	cr_assert(eq(sz, n, 2500));
	for (unsigned k = 0; k < 5000; k += 2)
		cr_assert(eq(sz, nft_instances_forget_handle(&t, NFPROTO_INET, "t", k + 1), 1));
	cr_assert(eq(sz, t.n, 2500));
	cr_assert(eq(sz, nft_instances_forget_all(&t), 2500));
	nft_instances_done(&t);
}
