/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The rules of the running configuration, found by unit name: an exact-name table and
 * the list of glob rules, rebuilt whenever the configuration changes. The one question
 * the router asks of it is "which rules match this unit name?", answered by the
 * iterator below; who a matching rule is for (which manager) is rule_manager_matches().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "hashmap.h"

struct rule_list {
	char *name;
	struct rule **rules;
	size_t n;
};

struct rule_index {
	struct hashmap *exact;	/* unit name -> struct rule_list */
	struct rule **globs;
	size_t n_globs;
};

int rule_index_build(struct rule_index *x, const struct config *c);
void rule_index_clear(struct rule_index *x);

struct rule_iter {
	const struct rule_index *x;
	const char *name;
	const struct rule_list *exact;
	size_t i;
};

struct rule_iter rule_iter_start(const struct rule_index *x, const char *name);
/* The next rule whose unit pattern matches the name, NULL at the end. */
struct rule *rule_iter_next(struct rule_iter *it);

#define RULE_FOREACH_MATCHING(r, x, name) \
	for (struct rule_iter _it = rule_iter_start((x), (name)); ((r) = rule_iter_next(&_it));)

/* Does any rule want events of unit name of (manager, uid)? */
bool rule_index_wants(const struct rule_index *x, uint32_t manager, uint32_t uid, const char *name);
