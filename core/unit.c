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

static struct unit *unit_free(struct unit *u)
{
	if (!u)
		return NULL;
	sd_event_source_disable_unref(u->timer);
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

static int unit_on_cooldown(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct unit *u = userdata;
	struct manager *m = u->manager;

	if (u->state == UNIT_PENDING) {
		u->state = UNIT_COOLING;
		dispatch_unit(m, u, 0);
		(void)sd_event_source_set_time(s, usec + m->opt.cooldown_usec);
		(void)sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	/* the burst is over */
	u->state = UNIT_IDLE;
	(void)sd_event_source_set_enabled(s, SD_EVENT_OFF);
	unit_maybe_forget(u);
	return 0;
}

static void unit_arm(struct unit *u)
{
	struct manager *m = u->manager;
	int r;

	if (u->timer) {
		r = sd_event_source_set_time_relative(u->timer, m->opt.cooldown_usec);
		if (r >= 0)
			r = sd_event_source_set_enabled(u->timer, SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time_relative(m->event, &u->timer, CLOCK_MONOTONIC,
					       m->opt.cooldown_usec, USEC_PER_MSEC, unit_on_cooldown, u);
		if (r >= 0)
			(void)sd_event_source_set_description(u->timer, "unit-cooldown");
	}
	if (r < 0) {
		log_warning_errno(r, "Failed to arm cooldown timer for '%s', ignoring: %m", u->name);
		u->state = UNIT_IDLE;
		return;
	}
	u->state = UNIT_COOLING;
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
}
