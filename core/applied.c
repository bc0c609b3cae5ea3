/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "macro.h"
#include "manager.h"
#include "util.h"

struct applied *applied_find(struct manager *m, const struct rule *rule, uint32_t manager,
			     uint32_t uid, const char *subject)
{
	_cleanup_free_ char *heap = NULL;
	char buf[KEY_BUF];
	const char *k = key_format(buf, &heap, rule, manager, uid, subject);

	return k ? hashmap_get(m->applied, k) : NULL;
}

static struct applied *applied_free(struct applied *a)
{
	if (a) {
		free(a->key);
		free(a->message);
		free(a);
	}
	return NULL;
}

int applied_put(struct manager *m, struct rule *rule, uint32_t manager, uint32_t uid,
		const char *subject, uint64_t cgroup_id)
{
	_cleanup_free_ char *heap = NULL;
	char buf[KEY_BUF];
	const char *k = key_format(buf, &heap, rule, manager, uid, subject);
	struct applied *a;

	if (!k)
		return -ENOMEM;
	a = hashmap_get(m->applied, k);
	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a)
			return -ENOMEM;
		a->key = strdup(k);
		a->rule = rule;
		a->manager = manager;
		a->uid = uid;
		if (!a->key || hashmap_put(m->applied, a->key, a) < 0) {
			applied_free(a);
			return -ENOMEM;
		}
		/* the subject is the key's tail */
		a->subject = a->key + strlen(a->key) - strlen(subject);
	}
	a->cgroup_id = cgroup_id;
	a->result = 0;
	return 0;
}

bool applied_report(struct applied *a, uint32_t result, const char *message)
{
	bool changed = result != a->last_result || a->cgroup_id != a->last_id;
	char *t = message && *message ? strdup(message) : NULL;

	if (result == SCNPM_RESULT_RESTORED)
		result = SCNPM_RESULT_APPLIED;
	a->result = result;
	if (result == SCNPM_RESULT_SKIPPED)
		a->cgroup_id = 0; /* not in the kernel: send again on the next look */
	if (changed)
		a->since_usec = now_realtime_usec();
	a->last_result = result;
	a->last_id = a->cgroup_id;
	free(a->message);
	a->message = t;
	return changed;
}

void applied_remove(struct manager *m, struct applied *a)
{
	if (!a)
		return;
	hashmap_remove(m->applied, a->key);
	applied_free(a);
}

void applied_forget_rule(struct manager *m, const struct rule *rule)
{
	struct applied *a, **gone;
	size_t i = 0, n = 0;

	gone = calloc(hashmap_size(m->applied) + 1, sizeof(*gone));
	if (!gone)
		return; /* the records stay; they only cost memory */
	while ((a = hashmap_iterate(m->applied, &i, NULL)))
		if (a->rule == rule)
			gone[n++] = a;
	for (i = 0; i < n; i++)
		applied_remove(m, gone[i]);
	free(gone);
}

void applied_free_all(struct manager *m)
{
	struct applied *a;
	size_t i = 0;

	while ((a = hashmap_iterate(m->applied, &i, NULL)))
		applied_free(a);
	m->applied = hashmap_free(m->applied);
}
