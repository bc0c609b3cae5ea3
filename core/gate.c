/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <scnpm/unit-name.h>

#include "applied.h"
#include "cgroup-freeze.h"
#include "cgroup-tree.h"
#include "dispatch.h"
#include "freezer.h"
#include "gate.h"
#include "log.h"
#include "manager.h"
#include "unit.h"
#include "util.h"

enum gate_verdict gate_decide(const struct gate_item *items, size_t n, bool expired,
			      size_t *ret_n_missing)
{
	size_t missing = 0;
	bool pending = false, keep = false;

	for (size_t i = 0; i < n; i++) {
		uint32_t r = items[i].result;

		if (r == SCNPM_RESULT_APPLIED || r == SCNPM_RESULT_RESTORED)
			continue;
		missing++;
		if (r == 0)
			pending = true;
		if (items[i].keep_frozen)
			keep = true;
	}
	if (ret_n_missing)
		*ret_n_missing = missing;
	if (missing == 0)
		return GATE_THAW;
	if (pending && !expired)
		return GATE_WAIT;
	/* a rule that failed may come in later (its table appears): a keep-frozen one is
	 * waited for, however long it takes */
	return keep ? GATE_HOLD : GATE_THAW;
}

bool gate_covers(const struct rule *r, uint32_t kind, uint32_t uid, const char *name,
		 const char *path)
{
	if (!r->gated || !rule_pattern_matches(r, name))
		return false;
	if (rule_is_literal(r)) {
		/* a literal rule's gate is on the cgroups it names, whoever reported them */
		STRV_FOREACH(p, r->cgroup_paths)
			if (streq(*p, path))
				return true;
		return false;
	}
	return kind != SCNPM_MANAGER_ANY && rule_manager_matches(r, kind, uid);
}

/* ---- records under RUNTIME_DIRECTORY/frozen ---- */

static int frozen_dir(struct manager *m)
{
	_cleanup_free_ char *path = NULL;
	const char *dir = m->opt.frozen_dir;
	int fd;

	if (m->frozen_dir_fd >= 0)
		return m->frozen_dir_fd;
	if (!dir) {
		if (asprintf(&path, "%s/frozen", runtime_dir()) < 0)
			return -ENOMEM;
		dir = path;
		/* the runtime directory itself, unless systemd made it */
		if (mkdir(runtime_dir(), 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	m->frozen_dir_fd = fd;
	return fd;
}

static int record_write(struct manager *m, const struct gate *g)
{
	_cleanup_close_ int fd = -EBADF;
	_cleanup_free_ char *text = NULL;
	int dir, n;

	dir = frozen_dir(m);
	if (dir < 0)
		return dir;
	n = asprintf(&text, "%s\n", g->path);
	if (n < 0)
		return -ENOMEM;
	fd = openat(dir, g->key, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

static void record_remove(struct manager *m, const char *key)
{
	if (m->frozen_dir_fd >= 0 && unlinkat(m->frozen_dir_fd, key, 0) < 0 && errno != ENOENT)
		log_warning_errno(-errno, "Cannot remove the record of frozen cgroup %s, ignoring: %m", key);
}

/* ---- gates ---- */

static int cgroup_root_fd(struct manager *m)
{
	int fd;

	if (m->cgroup_root_fd >= 0)
		return m->cgroup_root_fd;
	fd = open(m->opt.cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	m->cgroup_root_fd = fd;
	return fd;
}

static struct gate *gate_free(struct gate *g)
{
	if (!g)
		return NULL;
	sd_event_source_disable_unref(g->timer);
	if (g->wd >= 0 && g->manager->gate_inotify_fd >= 0)
		(void)inotify_rm_watch(g->manager->gate_inotify_fd, g->wd);
	if (g->fd >= 0)
		close(g->fd);
	free(g->key);
	free(g->unit);
	free(g->path);
	free(g);
	return NULL;
}

static void gate_log_fields(const struct gate *g, struct log_fields *f)
{
	*f = (struct log_fields){
		.unit = g->unit,
		.manager = g->kind,
		.uid = g->uid,
		.cgroup_id = g->cgroup_id,
	};
}

/* Open the gate: stop watching, thaw unless someone else has set cgroup.freeze since (the
 * fd is the cgroup we froze, whatever its path is now), drop the record, forget the gate. */
static void gate_on_freezer(const struct freezer_done *d, void *userdata);

/* Queue a write to g's cgroup.freeze; written at once when there is no freezer thread. */
static void gate_write(struct manager *m, struct gate *g, bool freeze)
{
	struct freezer_done d = { .id = g->cgroup_id, .freeze = freeze, .populated = -1 };
	int frozen, r = 0;

	if (!m->freezer)
		r = freezer_new(m->event, gate_on_freezer, m, &m->freezer);
	if (r >= 0)
		r = freezer_queue(m->freezer, g->fd, g->cgroup_id, freeze);
	if (r >= 0)
		return;
	log_debug_errno(r, "No freezer thread, writing cgroup.freeze from the loop: %m");
	d.error = cgroup_write_freeze(g->fd, freeze);
	if (freeze && d.error == 0 && cgroup_read_events(g->fd, &d.populated, &frozen) < 0)
		d.populated = -1;
	gate_on_freezer(&d, m);
}

/* Open the gate: stop watching, thaw unless someone else has set cgroup.freeze since (the
 * fd is the cgroup we froze, whatever its path is now), drop the record, forget the gate. */
static void gate_release(struct manager *m, struct gate *g, bool thaw, const char *why)
{
	uint64_t held = now_usec() - g->frozen_usec;

	/* first: our own thaw is not someone else's write */
	if (g->wd >= 0)
		(void)inotify_rm_watch(m->gate_inotify_fd, g->wd);
	g->wd = -1;
	/* after the freeze: the freezer keeps the order */
	if (thaw)
		gate_write(m, g, false);
	log_debug("Gate of unit '%s' (cgroup %s) open after %" PRIu64 " us: %s", g->unit, g->key,
		  held, why);
	m->gate_frozen_usec_total += held;
	if (held > m->gate_frozen_usec_max)
		m->gate_frozen_usec_max = held;
	if (!g->freezing)	/* frozen: it held the unit (else it never froze) */
		m->gate_holds[m->n_gate_holds++ % GATE_HOLDS] = held;
	record_remove(m, g->key);
	hashmap_remove(m->gates, g->key);
	gate_free(g);
}

static void gate_open(struct manager *m, struct gate *g, const char *why)
{
	gate_release(m, g, true, why);
}

/* The results of the gated directives that cover g, into a new array. */
static int gate_items(struct manager *m, const struct gate *g, struct gate_item **ret,
		      size_t *ret_n, const struct rule ***ret_rules)
{
	_cleanup_free_ struct gate_item *items = NULL;
	_cleanup_free_ const struct rule **rules = NULL;
	size_t n = 0, max = 0;
	struct rule *r;

	RULE_FOREACH_MATCHING(r, &m->index, g->unit)
		if (gate_covers(r, g->kind, g->uid, g->unit, g->path))
			max++;
	items = calloc(max + 1, sizeof(*items));
	rules = calloc(max + 1, sizeof(*rules));
	if (!items || !rules)
		return -ENOMEM;
	RULE_FOREACH_MATCHING(r, &m->index, g->unit) {
		struct applied *a;
		uint32_t result;

		if (!gate_covers(r, g->kind, g->uid, g->unit, g->path))
			continue;
		if (rule_is_literal(r)) {
			uint64_t now_id, first_id;

			a = applied_find(m, r, SCNPM_MANAGER_ANY, 0, r->pattern);
			/* sent for the cgroups as they are now, this one among them */
			if (a && !(dispatch_literal_cgroup(m, r, &now_id, &first_id) &&
				   a->cgroup_id == now_id))
				a = NULL;
		} else {
			a = applied_find(m, r, g->kind, g->uid, g->unit);
			if (a && a->cgroup_id != g->cgroup_id)
				a = NULL;
		}
		/* Only a report for this cgroup counts. A record of the unit's previous
		 * cgroup (the router has not sent this one yet), or none: due, waited for
		 * until the deadline. (Thawing on the old report let a restarted unit run
		 * before its new rule was in.) */
		result = a ? a->result : 0;
		rules[n] = r;
		items[n++] = (struct gate_item){ .result = result, .keep_frozen = r->gate_keep_frozen };
	}
	*ret = TAKE_PTR(items);
	*ret_rules = TAKE_PTR(rules);
	*ret_n = n;
	return 0;
}

static void gate_log_missing(const struct gate *g, const struct gate_item *items,
			     const struct rule **rules, size_t n, int level, const char *what)
{
	struct log_fields f;

	gate_log_fields(g, &f);
	for (size_t i = 0; i < n; i++) {
		if (items[i].result == SCNPM_RESULT_APPLIED || items[i].result == SCNPM_RESULT_RESTORED)
			continue;
		f.rule_file = rules[i]->file;
		f.rule_line = rules[i]->line;
		log_struct(level, &f, "%s:%u: unit '%s': %s: the rule is %s", rules[i]->file,
			   rules[i]->line, g->unit, what,
			   items[i].result == 0 ? "not acknowledged by the kernel in time"
						: "not in the kernel");
	}
}

static void gate_check(struct manager *m, struct gate *g)
{
	_cleanup_free_ struct gate_item *items = NULL;
	_cleanup_free_ const struct rule **rules = NULL;
	enum gate_verdict v;
	size_t n = 0, missing = 0;
	uint64_t id;

	/* the freeze is on its way: its report looks again */
	if (g->freezing)
		return;
	/* gone (or replaced, or renamed by its user): nothing to hold back any more */
	if (cgroup_tree_id(m->opt.cgroup_root, g->path, &id) < 0 || id != g->cgroup_id) {
		gate_open(m, g, "its cgroup is gone");
		return;
	}
	if (gate_items(m, g, &items, &n, &rules) < 0) {
		log_oom();
		return;
	}
	v = gate_decide(items, n, g->expired, &missing);
	switch (v) {
	case GATE_WAIT:
		return;
	case GATE_THAW:
		if (missing > 0) {
			m->n_gates_thawed_early++;
			gate_log_missing(g, items, rules, n, LOG_WARNING, "thawed before its rules are in");
		}
		gate_open(m, g, missing > 0 ? "thawed anyway" : "its rules are in the kernel");
		return;
	case GATE_HOLD:
		if (!g->held) {
			struct log_fields f;

			g->held = true;
			m->n_gates_held++;
			gate_log_missing(g, items, rules, n, LOG_ERR, "kept frozen (gate keep-frozen)");
			gate_log_fields(g, &f);
			log_struct(LOG_ERR, &f,
				   "Unit '%s' stays frozen until its rules are in the kernel; "
				   "'systemctl thaw' (or writing 0 to /%s/cgroup.freeze) releases it",
				   g->unit, g->path);
		}
		return;
	}
}

void gate_check_all(struct manager *m)
{
	_cleanup_free_ struct gate **list = NULL;
	struct gate *g;
	size_t i = 0, n = 0;

	if (!m->gates || hashmap_size(m->gates) == 0)
		return;
	/* collect first: opening a gate changes the table */
	list = calloc(hashmap_size(m->gates) + 1, sizeof(*list));
	if (!list) {
		log_oom();
		return;
	}
	while ((g = hashmap_iterate(m->gates, &i, NULL)))
		list[n++] = g;
	for (i = 0; i < n; i++)
		gate_check(m, list[i]);
}

static int gate_on_defer(sd_event_source *s, void *userdata)
{
	gate_check_all(userdata);
	return 0;
}

void gate_schedule_check(struct manager *m)
{
	int r;

	if (!m->gates || hashmap_size(m->gates) == 0)
		return;
	if (!m->gate_defer) {
		r = sd_event_add_defer(m->event, &m->gate_defer, gate_on_defer, m);
		if (r < 0) {
			log_warning_errno(r, "Failed to schedule a gate check, checking now: %m");
			gate_check_all(m);
			return;
		}
		(void)sd_event_source_set_description(m->gate_defer, "gate-check");
	}
	(void)sd_event_source_set_enabled(m->gate_defer, SD_EVENT_ONESHOT);
}

static int gate_on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct gate *g = userdata;
	struct manager *m = g->manager;

	g->expired = true;
	m->n_gates_expired++;
	gate_check(m, g);
	return 0;
}

/* The gate's deadline: the longest its directives ask for. */
static uint64_t gate_deadline(struct manager *m, uint32_t kind, uint32_t uid, const char *name,
			      const char *path, size_t *ret_n)
{
	uint64_t d = 0;
	struct rule *r;
	size_t n = 0;

	RULE_FOREACH_MATCHING(r, &m->index, name) {
		uint64_t x;

		if (!gate_covers(r, kind, uid, name, path))
			continue;
		n++;
		x = r->gate_deadline_usec ?: m->opt.gate_deadline_usec ?: GATE_DEADLINE_DEFAULT_USEC;
		if (x > d)
			d = x;
	}
	*ret_n = n;
	return d;
}

/* ---- someone else's write to a closed gate's cgroup.freeze ---- */

static struct gate *gate_by_wd(struct manager *m, int wd)
{
	struct gate *g;
	size_t i = 0;

	while ((g = hashmap_iterate(m->gates, &i, NULL)))
		if (g->wd == wd)
			return g;
	return NULL;
}

/* A write to g's cgroup.freeze that is not ours (systemctl freeze or thaw, its user): the
 * cgroup is theirs now, as they left it; the gate ends without a write of ours. */
static void gate_taken(struct manager *m, struct gate *g)
{
	_cleanup_free_ struct gate_item *items = NULL;
	_cleanup_free_ const struct rule **rules = NULL;
	struct log_fields f;
	size_t n = 0, missing = 0;
	int frozen = cgroup_read_freeze(g->fd);

	if (frozen < 0)
		return;	/* gone: gate_check drops it */
	if (gate_items(m, g, &items, &n, &rules) >= 0)
		(void)gate_decide(items, n, g->expired, &missing);
	m->n_gates_taken++;
	gate_log_fields(g, &f);
	if (frozen == 1)
		log_struct(LOG_NOTICE, &f,
			   "Unit '%s': cgroup '%s' was frozen by someone else (systemctl freeze?) while "
			   "its gate was closed: left frozen, for them to thaw",
			   g->unit, g->path);
	else
		log_struct(missing > 0 ? LOG_WARNING : LOG_INFO, &f,
			   "Unit '%s': cgroup '%s' was thawed by someone else while its gate was closed%s",
			   g->unit, g->path, missing > 0 ? ", before its rules were in the kernel" : "");
	gate_release(m, g, false, "someone else wrote to its cgroup.freeze");
}

static int gate_on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct manager *m = userdata;
	union {
		struct inotify_event ev;
		char buf[4096];
	} u;

	for (;;) {
		ssize_t n = read(fd, &u, sizeof(u));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warning_errno(-errno, "Cannot read the gates' inotify events: %m");
			return 0;
		}
		for (char *p = u.buf; p < u.buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			struct gate *g = gate_by_wd(m, e->wd);

			p += sizeof(*e) + e->len;
			if (!g)
				continue;
			if (e->mask & IN_IGNORED)
				g->wd = -1;	/* its cgroup is gone */
			else if (e->mask & IN_MODIFY)
				gate_taken(m, g);
		}
	}
}

/* Watch g's cgroup.freeze for writes; after our own freeze, so that it is not one. A gate
 * without a watch still works: it just cannot tell someone else's freeze from ours. */
static void gate_watch(struct manager *m, struct gate *g)
{
	char path[64];
	int r;

	if (m->gate_inotify_fd < 0) {
		int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

		if (fd < 0) {
			log_debug_errno(-errno, "No inotify for the gates: %m");
			return;
		}
		r = sd_event_add_io(m->event, &m->gate_inotify, fd, EPOLLIN, gate_on_inotify, m);
		if (r < 0) {
			close(fd);
			log_debug_errno(r, "No inotify for the gates: %m");
			return;
		}
		(void)sd_event_source_set_description(m->gate_inotify, "gate-inotify");
		m->gate_inotify_fd = fd;
	}
	/* by the fd: the cgroup we froze, whatever its path is now */
	snprintf(path, sizeof(path), "/proc/self/fd/%d/cgroup.freeze", g->fd);
	g->wd = inotify_add_watch(m->gate_inotify_fd, path, IN_MODIFY);
	if (g->wd < 0)
		log_debug_errno(-errno, "Cannot watch %s of unit '%s': %m", path, g->unit);
}

/* ---- closing ---- */

/* The gated directive whose choice applies to g: a keep-frozen one if any. */
static const struct rule *gate_rule(struct manager *m, const struct gate *g)
{
	const struct rule *first = NULL;
	struct rule *r;

	RULE_FOREACH_MATCHING(r, &m->index, g->unit) {
		if (!gate_covers(r, g->kind, g->uid, g->unit, g->path))
			continue;
		if (r->gate_keep_frozen)
			return r;
		if (!first)
			first = r;
	}
	return first;
}

/* The gate could not close: one line, naming the unit and the directive, at the level its
 * choice calls for. */
static void gate_failed(struct manager *m, struct gate *g, int err)
{
	const struct rule *r = gate_rule(m, g);
	bool keep = r && r->gate_keep_frozen;
	const char *why = "";
	struct log_fields f;

	m->n_gates_failed++;
	if (err == -EROFS)
		why = " (the cgroup tree is read-only to scnpm: ProtectControlGroups=?; man scnpm, GATES)";
	else if (err == -EACCES || err == -EPERM)
		why = " (no right to write it: DynamicUser= without CAP_DAC_OVERRIDE?; man scnpm, GATES)";
	gate_log_fields(g, &f);
	if (r) {
		f.rule_file = r->file;
		f.rule_line = r->line;
	}
	(void)log_internal(keep ? LOG_ERR : LOG_WARNING, err, NULL, &f, __FILE__, __LINE__, __func__,
		   "%s:%u: unit '%s': gate%s cannot close, cannot freeze /%s: %m%s; %s", r ? r->file : "?",
		   r ? r->line : 0, g->unit, keep ? " (keep-frozen)" : "", g->path, why,
		   keep ? "the unit runs before its rules are in, which keep-frozen was to prevent"
			: "the unit starts without waiting for its rules");
}

/* Is g's cgroup frozen already, or being frozen, by someone else (systemctl freeze, its
 * user, an ancestor)? Theirs to thaw, never ours: 1 yes, 0 no, -errno. */
static int gate_frozen_already(struct gate *g)
{
	int populated, frozen, asked, r;

	r = cgroup_read_events(g->fd, &populated, &frozen);
	if (r < 0)
		return r;
	asked = cgroup_read_freeze(g->fd);
	if (asked < 0)
		return asked;
	return frozen == 1 || asked == 1;
}

/* The freezer's report of a write. */
static void gate_on_freezer(const struct freezer_done *d, void *userdata)
{
	struct manager *m = userdata;
	char key[32];
	struct gate *g;

	snprintf(key, sizeof(key), "%" PRIu64, d->id);
	g = hashmap_get(m->gates, key);
	if (!d->freeze) {
		if (d->error < 0 && d->error != -ENOENT && d->error != -ENODEV)
			log_warning_errno(d->error, "Cannot thaw cgroup %s: %m", key);
		return;
	}
	if (!g || !g->freezing)
		return;
	/* (still freezing: a gate that never froze held nothing) */
	if (d->error == -ENOENT || d->error == -ENODEV) {
		gate_release(m, g, false, "its cgroup is gone");
		return;
	}
	if (d->error < 0) {
		gate_failed(m, g, d->error);
		gate_release(m, g, false, "cannot freeze");
		return;
	}
	g->freezing = false;
	g->frozen_usec = now_usec();
	m->n_gates++;
	gate_watch(m, g);
	if (d->populated == 1) {
		struct log_fields f;

		m->n_gates_late++;
		gate_log_fields(g, &f);
		log_struct(LOG_WARNING, &f,
			   "Unit '%s': late gate, a process was in cgroup '%s' before it was frozen "
			   "and may have run before its rules were in the kernel",
			   g->unit, g->path);
	}
	gate_schedule_check(m);
}

void gate_new_cgroup(struct manager *m, struct unit *u, const char *path, uint64_t id)
{
	_cleanup_free_ char *key = NULL;
	struct gate *g = NULL;
	uint64_t deadline;
	struct stat st;
	size_t n;
	int root, r;

	if (!m->gates_armed || !m->gates || id == 0)
		return;
	deadline = gate_deadline(m, u->kind, u->uid, u->name, path, &n);
	if (n == 0)
		return;
	if (asprintf(&key, "%" PRIu64, id) < 0) {
		log_oom();
		return;
	}
	if (hashmap_get(m->gates, key))
		return;
	if (hashmap_size(m->gates) >= GATES_MAX) {
		m->n_gates_skipped++;
		log_warning("Unit '%s': %u gates are closed already, not gating cgroup '%s'", u->name,
			    GATES_MAX, path);
		return;
	}

	g = calloc(1, sizeof(*g));
	if (!g) {
		log_oom();
		return;
	}
	*g = (struct gate){
		.manager = m,
		.key = TAKE_PTR(key),
		.kind = u->kind,
		.uid = u->uid,
		.unit = strdup(u->name),
		.path = strdup(path),
		.cgroup_id = id,
		.fd = -EBADF,
		.wd = -1,
	};
	if (!g->unit || !g->path) {
		log_oom();
		goto fail;
	}
	root = cgroup_root_fd(m);
	if (root < 0) {
		log_warning_errno(root, "Cannot open the cgroup root %s, not gating '%s': %m",
				  m->opt.cgroup_root, u->name);
		goto fail;
	}
	g->fd = cgroup_open(root, path);
	/* gone already, or another cgroup of the same name since */
	if (g->fd < 0 || fstat(g->fd, &st) < 0 || (uint64_t)st.st_ino != id) {
		log_debug("Cgroup '%s' of unit '%s' changed before it could be gated", path, u->name);
		goto fail;
	}
	r = gate_frozen_already(g);
	if (r == -ENOENT || r == -ENODEV) {
		log_debug("Cgroup '%s' of unit '%s' is gone before it could be gated", path, u->name);
		goto fail;
	}
	if (r < 0) {
		gate_failed(m, g, r);
		goto fail;
	}
	if (r > 0) {
		m->n_gates_frozen_by_others++;
		log_debug("Unit '%s': cgroup '%s' is frozen already (by someone else), not gating it",
			  u->name, path);
		goto fail;
	}
	r = sd_event_add_time_relative(m->event, &g->timer, CLOCK_MONOTONIC, deadline, 0,
				       gate_on_deadline, g);
	if (r >= 0)
		(void)sd_event_source_set_description(g->timer, "gate-deadline");
	if (r < 0 || hashmap_put(m->gates, g->key, g) < 0) {
		log_warning_errno(r < 0 ? r : -ENOMEM, "Unit '%s': cannot keep a gate, not gating: %m",
				  u->name);
		goto fail;
	}
	r = record_write(m, g);
	if (r < 0 && !m->gate_record_warned) {
		m->gate_record_warned = true;
		log_warning_errno(r, "Cannot record frozen cgroups under %s/frozen (a crash would leave "
				  "them for the next start to find), gating anyway: %m",
				  m->opt.frozen_dir ?: runtime_dir());
	}
	g->frozen_usec = now_usec();
	g->freezing = true;
	log_debug("Gate of unit '%s' closing on cgroup %s (%s), deadline %" PRIu64 " us", u->name,
		  g->key, path, deadline);
	/* the rules go out meanwhile: the write may wait for the kernel (freezer.h) */
	gate_write(m, g, true);
	return;
fail:
	gate_free(g);
}

/* ---- start and exit ---- */

static int recover_one(struct manager *m, int dir, const char *name)
{
	_cleanup_close_ int fd = -EBADF, cg = -EBADF;
	char path[4096];
	uint64_t id;
	struct stat st;
	ssize_t n;
	int root, r;

	if (safe_atou64(name, &id) < 0)
		return 0;
	if (hashmap_get(m->gates, name))
		return 0;	/* ours, closed since this start */
	fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, path, sizeof(path) - 1);
	if (n < 0)
		return -errno;
	path[n] = '\0';
	path[strcspn(path, "\n")] = '\0';
	(void)unlinkat(dir, name, 0);
	if (scnpm_cgroup_path_level(path) == 0)
		return 0;
	root = cgroup_root_fd(m);
	if (root < 0)
		return root;
	cg = cgroup_open(root, path);
	/* gone, or another cgroup by that name: not the one we froze */
	if (cg < 0 || fstat(cg, &st) < 0 || (uint64_t)st.st_ino != id)
		return 0;
	r = cgroup_read_freeze(cg);
	if (r != 1)
		return 0;
	r = cgroup_write_freeze(cg, false);
	if (r < 0)
		return r;
	log_notice("Thawed cgroup '%s', which an earlier scnpm froze and did not thaw", path);
	return 1;
}

int gate_recover(struct manager *m)
{
	DIR *d;
	struct dirent *de;
	int dir, fd, n = 0;

	dir = frozen_dir(m);
	if (dir < 0)
		return dir == -ENOENT ? 0 : dir;
	fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int r;

		if (de->d_name[0] == '.')
			continue;
		r = recover_one(m, dir, de->d_name);
		if (r < 0)
			log_warning_errno(r, "Cannot thaw the cgroup recorded as %s, ignoring: %m",
					  de->d_name);
		else
			n += r;
	}
	closedir(d);
	return n;
}

void gate_free_all(struct manager *m)
{
	struct gate *g;
	size_t i = 0;

	/* what is queued is written first (a freeze among it is thawed below) */
	m->freezer = freezer_free(m->freezer);
	if (m->gates) {
		while ((g = hashmap_iterate(m->gates, &i, NULL))) {
			(void)cgroup_write_freeze(g->fd, false);
			record_remove(m, g->key);
			gate_free(g);
		}
		m->gates = hashmap_free(m->gates);
	}
	m->gate_defer = sd_event_source_disable_unref(m->gate_defer);
	m->gate_inotify = sd_event_source_disable_unref(m->gate_inotify);
	if (m->gate_inotify_fd >= 0)
		close(m->gate_inotify_fd);
	if (m->cgroup_root_fd >= 0)
		close(m->cgroup_root_fd);
	if (m->frozen_dir_fd >= 0)
		close(m->frozen_dir_fd);
	m->cgroup_root_fd = m->frozen_dir_fd = m->gate_inotify_fd = -EBADF;
}

void gate_check_sources(struct manager *m)
{
	bool cgroupfs = false, ro = false;
	struct statvfs sv;

	for (size_t i = 0; i < m->n_sources; i++)
		if (streq(m->sources[i]->name, "source-cgroupfs"))
			cgroupfs = true;
	ro = statvfs(m->opt.cgroup_root, &sv) >= 0 && (sv.f_flag & ST_RDONLY);
	for (size_t i = 0; i < m->config->n_rules; i++) {
		struct rule *r = m->config->rules[i];

		if (!r->gated)
			continue;
		if (!cgroupfs)
			log_warning("%s:%u: gated directive, but no source sees a unit's cgroup before "
				    "its processes run (add --source cgroupfs): the gate would close late "
				    "or never",
				    r->file, r->line);
		if (ro)
			log_error("%s:%u: gated directive, but the cgroup tree %s is read-only to scnpm "
				  "(ProtectControlGroups=?): its gates cannot close; man scnpm, GATES",
				  r->file, r->line, m->opt.cgroup_root);
	}
}
