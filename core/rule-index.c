/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rule-index.h"

void rule_index_clear(struct rule_index *x)
{
	struct rule_list *l;
	size_t i = 0;

	while ((l = hashmap_iterate(x->exact, &i, NULL))) {
		free(l->rules);
		free(l->name);
		free(l);
	}
	x->exact = hashmap_free(x->exact);
	free(x->globs);
	x->globs = NULL;
	x->n_globs = 0;
}

static int push(struct rule ***v, size_t *n, struct rule *r)
{
	struct rule **t = realloc(*v, (*n + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	*v = t;
	(*v)[(*n)++] = r;
	return 0;
}

int rule_index_build(struct rule_index *x, const struct config *c)
{
	rule_index_clear(x);
	x->exact = hashmap_new();
	if (!x->exact)
		return -ENOMEM;

	for (size_t i = 0; i < c->n_rules; i++) {
		struct rule *r = c->rules[i];
		struct rule_list *l;

		if (r->is_glob) {
			if (push(&x->globs, &x->n_globs, r) < 0)
				return -ENOMEM;
			continue;
		}
		l = hashmap_get(x->exact, r->pattern);
		if (!l) {
			l = calloc(1, sizeof(*l));
			if (!l || !(l->name = strdup(r->pattern)) || hashmap_put(x->exact, l->name, l) < 0) {
				if (l)
					free(l->name);
				free(l);
				return -ENOMEM;
			}
		}
		if (push(&l->rules, &l->n, r) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct rule_iter rule_iter_start(const struct rule_index *x, const char *name)
{
	return (struct rule_iter){ .x = x, .name = name, .exact = hashmap_get(x->exact, name) };
}

struct rule *rule_iter_next(struct rule_iter *it)
{
	size_t n_exact = it->exact ? it->exact->n : 0;

	while (it->i < n_exact + it->x->n_globs) {
		size_t i = it->i++;
		struct rule *r;

		if (i < n_exact)
			return it->exact->rules[i];
		r = it->x->globs[i - n_exact];
		if (rule_pattern_matches(r, it->name))
			return r;
	}
	return NULL;
}

bool rule_index_wants(const struct rule_index *x, uint32_t manager, uint32_t uid, const char *name)
{
	struct rule *r;

	RULE_FOREACH_MATCHING(r, x, name)
		if (rule_manager_matches(r, manager, uid))
			return true;
	return false;
}
