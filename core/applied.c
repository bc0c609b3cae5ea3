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

/* ---- what the status line counts, kept as records change ---- */

/* The subjects with at least one record in place, by "BUCKET:0:SUBJECT": BUCKET is
 * uid + 1 for a user unit, else 0 (a literal rule's subject is its system unit). */
struct subject_count {
	unsigned n;
	char key[];
};

static void subject_counts_clear(struct manager *m)
{
	struct subject_count *c;
	size_t i = 0;

	while ((c = hashmap_iterate(m->applied_subjects, &i, NULL)))
		free(c);
	m->applied_subjects = hashmap_free(m->applied_subjects);
}

/* A record of a's subject came in place (+1) or left it (-1). 0, or -ENOMEM: the
 * counts are rebuilt the next time they are read. */
static int subject_count_change(struct manager *m, const struct applied *a, int delta)
{
	_cleanup_free_ char *heap = NULL;
	char buf[KEY_BUF];
	const char *k;
	struct subject_count *c;
	size_t l;

	if (m->applied_subjects_stale)
		return 0;
	k = key_format(buf, &heap, NULL, a->manager == SCNPM_MANAGER_USER ? a->uid + 1 : 0, 0,
		       a->subject);
	if (!k || (!m->applied_subjects && !(m->applied_subjects = hashmap_new())))
		goto fail;
	c = hashmap_get(m->applied_subjects, k);
	if (delta < 0) {
		if (c && --c->n == 0) {
			hashmap_remove(m->applied_subjects, c->key);
			free(c);
		}
		return 0;
	}
	if (!c) {
		l = strlen(k) + 1;
		c = calloc(1, sizeof(*c) + l);
		if (!c)
			goto fail;
		memcpy(c->key, k, l);
		if (hashmap_put(m->applied_subjects, c->key, c) < 0) {
			free(c);
			goto fail;
		}
	}
	c->n++;
	return 0;
fail:
	m->applied_subjects_stale = true;
	return -ENOMEM;
}

static void record_counted(struct manager *m, const struct applied *a, int delta)
{
	if (a->last_result == SCNPM_RESULT_FAILED)
		m->n_records_failed += delta;
	else if (a->last_result == SCNPM_RESULT_APPLIED)
		(void)subject_count_change(m, a, delta);
}

size_t applied_count_subjects(struct manager *m)
{
	struct applied *a;
	size_t i = 0;

	if (m->applied_subjects_stale) {
		/* out of memory once: count again from the records */
		subject_counts_clear(m);
		m->applied_subjects_stale = false;
		while ((a = hashmap_iterate(m->applied, &i, NULL)))
			if (a->last_result == SCNPM_RESULT_APPLIED &&
			    subject_count_change(m, a, +1) < 0)
				break;
	}
	return hashmap_size(m->applied_subjects);
}

static struct applied *applied_free(struct manager *m, struct applied *a)
{
	if (a) {
		if (m)
			record_counted(m, a, -1);
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
			applied_free(NULL, a);
			return -ENOMEM;
		}
		/* the subject is the key's tail */
		a->subject = a->key + strlen(a->key) - strlen(subject);
	}
	a->cgroup_id = cgroup_id;
	a->result = 0;
	a->in_pass = m->global_pass;
	return 0;
}

bool applied_report(struct manager *m, struct applied *a, uint32_t result, const char *message)
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
	if (result != a->last_result) {
		record_counted(m, a, -1);
		a->last_result = result;
		record_counted(m, a, +1);
	}
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
	applied_free(m, a);
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
		applied_free(NULL, a);
	m->applied = hashmap_free(m->applied);
	subject_counts_clear(m);
	m->n_records_failed = 0;
}
