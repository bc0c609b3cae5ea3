/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "dispatch.h"
#include "macro.h"
#include "log.h"
#include "manager.h"
#include "unit.h"

/* Cooldowns ended per timer callback: the loop serves its other sources in between. */
#define UNIT_COOLDOWN_BATCH 64

static bool cool_queued(const struct unit *u)
{
	return u->cool_prev || u->manager->cool_head == u;
}

static void cool_unlink(struct unit *u)
{
	struct manager *m = u->manager;

	if (!cool_queued(u))
		return;
	if (u->cool_prev)
		u->cool_prev->cool_next = u->cool_next;
	else
		m->cool_head = u->cool_next;
	if (u->cool_next)
		u->cool_next->cool_prev = u->cool_prev;
	else
		m->cool_tail = u->cool_prev;
	u->cool_prev = u->cool_next = NULL;
}

/* At the tail: every cooldown lasts the same, so the queue stays ordered by its end. */
static void cool_append(struct unit *u, uint64_t until)
{
	struct manager *m = u->manager;

	cool_unlink(u);
	u->cool_until = until;
	u->cool_prev = m->cool_tail;
	if (m->cool_tail)
		m->cool_tail->cool_next = u;
	else
		m->cool_head = u;
	m->cool_tail = u;
}

static struct unit *unit_free(struct unit *u)
{
	if (!u)
		return NULL;
	cool_unlink(u);
	free(u->key);
	free(u->name);
	free(u->cgroup_hint);
	free(u);
	return NULL;
}

struct unit *unit_get(struct manager *m, uint32_t kind, uint32_t uid, const char *name, bool create)
{
	_cleanup_free_ char *key = NULL;
	struct unit *u;

	if (asprintf(&key, "%" PRIu32 ":%" PRIu32 ":%s", kind, uid, name) < 0) {
		log_oom();
		return NULL;
	}
	u = hashmap_get(m->units, key);
	if (u || !create)
		return u;

	u = calloc(1, sizeof(*u));
	if (!u) {
		log_oom();
		return NULL;
	}
	u->manager = m;
	u->kind = kind;
	u->uid = uid;
	u->key = TAKE_PTR(key);
	u->name = strdup(name);
	if (!u->name || hashmap_put(m->units, u->key, u) < 0) {
		unit_free(u);
		log_oom();
		return NULL;
	}
	return u;
}

void unit_maybe_forget(struct unit *u)
{
	if (u->state != UNIT_IDLE || u->present)
		return;
	hashmap_remove(u->manager->units, u->key);
	unit_free(u);
}

static int cool_arm(struct manager *m);

/* u's cooldown is over: once more if events came since, else the burst is over. */
static void cool_end(struct unit *u, uint64_t now)
{
	struct manager *m = u->manager;

	cool_unlink(u);
	if (u->state == UNIT_PENDING) {
		u->state = UNIT_COOLING;
		cool_append(u, now + m->opt.cooldown_usec);
		dispatch_unit(m, u, 0);
		return;
	}
	u->state = UNIT_IDLE;
	unit_maybe_forget(u);
}

static int cool_on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct manager *m = userdata;
	uint64_t now = usec;

	(void)sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	for (unsigned i = 0; i < UNIT_COOLDOWN_BATCH && m->cool_head && m->cool_head->cool_until <= now;
	     i++)
		cool_end(m->cool_head, now);
	(void)cool_arm(m);
	return 0;
}

/* The timer follows the head of the queue. Without one, every cooldown ends now. */
static int cool_arm(struct manager *m)
{
	int r;

	if (!m->cool_head)
		return m->cool_timer ? sd_event_source_set_enabled(m->cool_timer, SD_EVENT_OFF) : 0;
	if (m->cool_timer) {
		r = sd_event_source_set_time(m->cool_timer, m->cool_head->cool_until);
		if (r >= 0)
			r = sd_event_source_set_enabled(m->cool_timer, SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time(m->event, &m->cool_timer, CLOCK_MONOTONIC,
				      m->cool_head->cool_until, USEC_PER_MSEC, cool_on_timer, m);
		if (r >= 0)
			(void)sd_event_source_set_description(m->cool_timer, "unit-cooldown");
	}
	if (r < 0) {
		uint64_t now = 0;

		log_warning_errno(r, "Failed to arm the cooldown timer, ending every cooldown now: %m");
		(void)sd_event_now(m->event, CLOCK_MONOTONIC, &now);
		while (m->cool_head) {
			struct unit *u = m->cool_head;

			cool_unlink(u);
			if (u->state == UNIT_PENDING)
				dispatch_unit(m, u, 0);
			u->state = UNIT_IDLE;
			unit_maybe_forget(u);
		}
	}
	return r;
}

static void unit_arm(struct unit *u)
{
	struct manager *m = u->manager;
	struct unit *head = m->cool_head;
	uint64_t now = 0;

	(void)sd_event_now(m->event, CLOCK_MONOTONIC, &now);
	u->state = UNIT_COOLING;
	cool_append(u, now + m->opt.cooldown_usec);
	/* behind others the timer is right already */
	if (m->cool_head == u || m->cool_head != head)
		(void)cool_arm(m);
}

void unit_triggered(struct unit *u, bool urgent)
{
	struct manager *m = u->manager;

	if (u->state != UNIT_IDLE && !urgent) {
		u->state = UNIT_PENDING;
		return;
	}
	dispatch_unit(m, u, 0);
	if (m->opt.cooldown_usec == 0) {
		u->state = UNIT_IDLE;
		unit_maybe_forget(u);
		return;
	}
	unit_arm(u);
}

void unit_prune(struct manager *m, bool (*wanted)(struct manager *m, const struct unit *u))
{
	_cleanup_free_ struct unit **gone = NULL;
	struct unit *u;
	size_t i = 0, n = 0;

	gone = calloc(hashmap_size(m->units) + 1, sizeof(*gone));
	if (!gone)
		return;
	while ((u = hashmap_iterate(m->units, &i, NULL)))
		if (!wanted(m, u))
			gone[n++] = u;
	for (i = 0; i < n; i++) {
		hashmap_remove(m->units, gone[i]->key);
		unit_free(gone[i]);
	}
}

void unit_free_all(struct manager *m)
{
	struct unit *u;
	size_t i = 0;

	while ((u = hashmap_iterate(m->units, &i, NULL)))
		unit_free(u);
	m->units = hashmap_free(m->units);
	m->cool_timer = sd_event_source_disable_unref(m->cool_timer);
}
