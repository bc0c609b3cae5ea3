/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-cgroupfs: reports a unit STARTED when its cgroup directory appears on cgroup2
 * (systemd makes it before forking the unit's processes) and STOPPED when it goes.
 * Watches, with an inotify fd of its own, the root, every slice and user@UID.service;
 * services and scopes are reported through their parent's watch, and what is below them
 * (Delegate=) is no unit of ours. Invalid names are logged once, never descended into.
 * Options: root=PATH (default: the cgroup2 mount in /proc/self/mountinfo, /sys/fs/cgroup
 * before /sys/fs/cgroup/unified), rescan-interval=SECONDS (5), max-watches=N (0: none).
 * sd-event sources: an I/O source on the inotify fd, a rescan timer.
 * Failures: IN_Q_OVERFLOW rescans and reconciles everything; out of watches (ENOSPC or
 * max-watches) warns once and rescans on the timer until all are watched again. init
 * fails only without a root to open or without inotify.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include <scnpm/cleanup.h>
#include <scnpm/htable.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include <scnpm/cgroup2.h>

#include "cgroupfs-util.h"
#include "source-cgroupfs.h"

#define CGROUPFS_WATCH_MASK                                                             \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | \
	 IN_ONLYDIR)
#define CGROUPFS_DEFAULT_RESCAN_USEC (5 * UINT64_C(1000000))
/* Warnings about invalid names, then debug only: a user can create any number of them. */
#define CGROUPFS_MAX_IGNORED_WARNINGS 64
/* How much of a hostile name goes into a log line. */
#define CGROUPFS_LOG_NAME_MAX 64
/* And of the (valid) path above it: cgroup2 takes names of up to 4095 bytes, so that
 * path can be near PATH_MAX, and journald splits lines longer than LINE_MAX. */
#define CGROUPFS_LOG_PATH_MAX 128
/* Per I/O callback one read of at most this much; sd-event calls again for the rest
 * (the fd stays readable), after the other sources had their turn. An event costs a
 * few µs (its cgroup is opened and stat()ed), so 16 KiB (~400 events of unit names)
 * keeps one loop iteration near 2 ms in a burst of 10k cgroups; 16 reads of 64 KiB
 * held the loop for 15-55 ms there. */
#define CGROUPFS_READ_BUFFER (16 * 1024)
#define CGROUPFS_READS_PER_DISPATCH 1

enum cgroupfs_node_kind {
	CGROUPFS_NODE_ROOT,
	CGROUPFS_NODE_UNIT,	/* reported */
	CGROUPFS_NODE_IGNORED,	/* name or path not acceptable: remembered so it is logged once */
};

struct cgroupfs_node {
	struct cgroupfs_node *parent;
	struct cgroupfs_node *first_child, *prev, *next;
	struct scnpm_htable children;		/* by name */
	char *path;				/* relative to the root; "" for the root */
	const char *name;			/* last component of path */
	uint64_t ino;				/* st_ino: the cgroup id on cgroup2 */
	uint64_t gen;				/* last listing of the parent that saw it */
	int wd;					/* inotify watch, -1 if none */
	int kind;				/* enum cgroupfs_node_kind */
	int scan;				/* holds units: watch it and list it */
	int unwatched;				/* scan node whose watch could not be added */
	uint32_t manager, uid;			/* who runs this unit */
	uint32_t child_manager, child_uid;	/* who runs the units directly below */
	uint32_t level;				/* components in path */
};

struct cgroupfs_source {
	const struct scnpm_host *host;
	char *root;
	int root_fd;
	int inotify_fd;
	void *buf;				/* CGROUPFS_READ_BUFFER bytes */
	sd_event_source *io_source;
	sd_event_source *timer_source;
	uint64_t rescan_usec;
	unsigned max_watches;			/* 0: only the kernel's limit */
	unsigned n_watches;
	unsigned n_unwatched;
	unsigned n_ignored_logged;
	int watch_warned;
	int need_rescan;
	int dirent_ino;				/* listings give st_ino in d_ino */
	uint64_t gen;
	struct cgroupfs_node *root_node;
	void *by_wd;				/* tsearch() tree of nodes, by wd */
};

static int cgroupfs_node_cmp_wd(const void *a, const void *b)
{
	int x = ((const struct cgroupfs_node *)a)->wd, y = ((const struct cgroupfs_node *)b)->wd;

	return (x > y) - (x < y);
}

static struct cgroupfs_node *cgroupfs_node_child(struct cgroupfs_node *parent, const char *name)
{
	return scnpm_htable_get(&parent->children, scnpm_hash_str(name), scnpm_htable_eq_str, name);
}

static struct cgroupfs_node *cgroupfs_source_node_by_wd(struct cgroupfs_source *s, int wd)
{
	struct cgroupfs_node key = { .wd = wd };
	void *p = tfind(&key, &s->by_wd, cgroupfs_node_cmp_wd);

	return p ? *(struct cgroupfs_node **)p : NULL;
}

static void cgroupfs_source_emit(struct cgroupfs_source *s, const struct cgroupfs_node *n,
				 uint32_t change)
{
	uint64_t now = 0;
	int r;

	(void)sd_event_now(s->host->event, CLOCK_MONOTONIC, &now);

	const struct scnpm_event ev = {
		.size = sizeof(struct scnpm_event),
		.change = change,
		.unit = n->name,
		.manager = n->manager,
		.uid = n->uid,
		.cgroup_path = n->path,
		.cgroup_id = n->ino,
		.cgroup_level = n->level,
		.timestamp = now,
	};

	r = s->host->emit(s->host, &ev);
	if (r < 0)
		scnpm_debug_errno(s->host, r, "Event for '%s' not taken: %m", n->path);
}

static int cgroupfs_source_on_timer(sd_event_source *src, uint64_t usec, void *userdata);

static int cgroupfs_source_arm_timer(struct cgroupfs_source *s)
{
	int enabled, r;

	if (!s->io_source)
		return 0;	/* not started yet: start() rescans anyway */

	if (!s->timer_source) {
		r = sd_event_add_time_relative(s->host->event, &s->timer_source, CLOCK_MONOTONIC,
					       s->rescan_usec, 0, cgroupfs_source_on_timer, s);
		if (r < 0)
			return r;
		(void)sd_event_source_set_description(s->timer_source, "source-cgroupfs-rescan");
		return 0;
	}

	r = sd_event_source_get_enabled(s->timer_source, &enabled);
	if (r < 0)
		return r;
	if (enabled != SD_EVENT_OFF)
		return 0;
	r = sd_event_source_set_time_relative(s->timer_source, s->rescan_usec);
	if (r < 0)
		return r;
	return sd_event_source_set_enabled(s->timer_source, SD_EVENT_ONESHOT);
}

static void cgroupfs_source_forget_watch(struct cgroupfs_source *s, struct cgroupfs_node *n,
					 int remove)
{
	if (n->wd < 0)
		return;
	(void)tdelete(n, &s->by_wd, cgroupfs_node_cmp_wd);
	/* Fails harmlessly when the kernel dropped the watch already (directory gone). */
	if (remove && s->inotify_fd >= 0)
		(void)inotify_rm_watch(s->inotify_fd, n->wd);
	n->wd = -1;
	s->n_watches--;
}

static void cgroupfs_source_set_unwatched(struct cgroupfs_source *s, struct cgroupfs_node *n,
					  int unwatched)
{
	if (n->unwatched == unwatched)
		return;
	n->unwatched = unwatched;
	if (unwatched)
		s->n_unwatched++;
	else
		s->n_unwatched--;
}

/* Post-order, so STOPPED comes deepest first. Does not touch siblings. */
static void cgroupfs_source_node_free(struct cgroupfs_source *s, struct cgroupfs_node *n,
				      int emit)
{
	while (n->first_child)
		cgroupfs_source_node_free(s, n->first_child, emit);

	if (emit && n->kind == CGROUPFS_NODE_UNIT)
		cgroupfs_source_emit(s, n, SCNPM_UNIT_STOPPED);

	cgroupfs_source_forget_watch(s, n, 1);
	cgroupfs_source_set_unwatched(s, n, 0);

	if (n->parent) {
		(void)scnpm_htable_remove(&n->parent->children, scnpm_hash_str(n->name),
					  scnpm_htable_eq_str, n->name);
		if (n->prev)
			n->prev->next = n->next;
		else
			n->parent->first_child = n->next;
		if (n->next)
			n->next->prev = n->prev;
	}
	scnpm_htable_done(&n->children);
	free(n->path);
	free(n);
}

static int cgroupfs_node_new(struct cgroupfs_node *parent, const char *name, uint64_t ino,
			     struct cgroupfs_node **ret)
{
	_cleanup_free_ struct cgroupfs_node *n = NULL;
	size_t plen = strlen(parent->path), nlen = strlen(name), len;
	uint32_t uid;

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	len = plen + (plen > 0) + nlen;
	n->path = malloc(len + 1);
	if (!n->path)
		return -ENOMEM;
	memcpy(n->path, parent->path, plen);
	if (plen > 0)
		n->path[plen] = '/';
	memcpy(n->path + len - nlen, name, nlen + 1);
	n->name = n->path + len - nlen;
	n->parent = parent;
	n->ino = ino;
	n->wd = -1;
	n->manager = parent->child_manager;
	n->uid = parent->child_uid;

	/* Every component must be a unit name, so nothing a user names a cgroup can reach
	 * rule text unchecked. The parent passed this already; checking the whole path
	 * keeps that a local fact. */
	n->level = len < PATH_MAX ? scnpm_cgroup_path_level(n->path) : 0;
	if (n->level == 0)
		n->kind = CGROUPFS_NODE_IGNORED;
	else {
		n->kind = CGROUPFS_NODE_UNIT;
		if (cgroupfs_name_is_slice(name)) {
			n->scan = 1;
			n->child_manager = parent->child_manager;
			n->child_uid = parent->child_uid;
		} else if (parent->child_manager == SCNPM_MANAGER_SYSTEM &&
			   cgroupfs_parse_user_manager(name, &uid) >= 0) {
			/* Only a unit of the system manager counts: a user can create a
			 * "user@0.service" directory inside their own tree. */
			n->scan = 1;
			n->child_manager = SCNPM_MANAGER_USER;
			n->child_uid = uid;
		}
	}

	if (scnpm_htable_put(&parent->children, scnpm_hash_str(n->name), scnpm_htable_eq_str,
			     n->name, n) < 0) {
		free(n->path);
		return -ENOMEM;
	}
	n->next = parent->first_child;
	if (n->next)
		n->next->prev = n;
	parent->first_child = n;

	*ret = TAKE_PTR(n);
	return 0;
}

static void cgroupfs_source_log_ignored(struct cgroupfs_source *s, const struct cgroupfs_node *n)
{
	char name[4 * CGROUPFS_LOG_NAME_MAX + 8];
	int prio = LOG_WARNING;

	if (s->n_ignored_logged >= CGROUPFS_MAX_IGNORED_WARNINGS)
		prio = LOG_DEBUG;
	else
		s->n_ignored_logged++;

	/* The parent's path passed validation (cut, not escaped); the name did not: escape
	 * it. */
	scnpm_log(s->host, prio,
		  "Ignoring cgroup '%s' (%zu bytes) in '/%.*s%s': %s, nothing below it is reported",
		  cgroupfs_escape_name(n->name, CGROUPFS_LOG_NAME_MAX, name, sizeof(name)),
		  strlen(n->name), CGROUPFS_LOG_PATH_MAX, n->parent->path,
		  strlen(n->parent->path) > CGROUPFS_LOG_PATH_MAX ? "..." : "",
		  strlen(n->path) >= PATH_MAX ? "path too long" : "not a valid unit name");

	if (s->n_ignored_logged == CGROUPFS_MAX_IGNORED_WARNINGS && prio == LOG_WARNING)
		scnpm_notice(s->host, "Further ignored cgroup names are logged at debug level only");
}

static void cgroupfs_source_watch_failed(struct cgroupfs_source *s, struct cgroupfs_node *n,
					 int error)
{
	cgroupfs_source_set_unwatched(s, n, 1);

	if (!s->watch_warned) {
		s->watch_warned = 1;
		if (error == -ENOSPC)
			scnpm_warning(s->host,
				      "Out of inotify watches at '/%s' (%u in use%s): rescanning every %" PRIu64 " ms until they suffice; raise sysctl fs.inotify.max_user_watches",
				      n->path, s->n_watches,
				      s->max_watches > 0 ? ", max-watches= reached" : "",
				      s->rescan_usec / 1000);
		else
			scnpm_warning_errno(s->host, error,
					    "Failed to watch '/%s', rescanning every %" PRIu64 " ms instead: %m",
					    n->path, s->rescan_usec / 1000);
	}

	if (cgroupfs_source_arm_timer(s) < 0)
		scnpm_error(s->host, "Failed to arm the rescan timer, changes below '/%s' go unnoticed",
			    n->path);
}

static int cgroupfs_source_watch(struct cgroupfs_source *s, struct cgroupfs_node *n, int dfd)
{
	struct cgroupfs_node *old;
	char p[sizeof("/proc/self/fd/") + 12];
	int wd;

	if (n->wd >= 0)
		return 0;

	if (s->max_watches > 0 && s->n_watches >= s->max_watches) {
		cgroupfs_source_watch_failed(s, n, -ENOSPC);
		return -ENOSPC;
	}

	/* Watch the very directory that is about to be listed, not whatever the path
	 * names by now. */
	snprintf(p, sizeof(p), "/proc/self/fd/%i", dfd);
	wd = inotify_add_watch(s->inotify_fd, p, CGROUPFS_WATCH_MASK);
	if (wd < 0 && errno == ENOENT) {
		/* No /proc mounted, or the directory is gone; by name then, which fails the
		 * same way in the second case. */
		_cleanup_free_ char *abs = NULL;

		if (asprintf(&abs, "%s/%s", s->root, n->path) < 0)
			return -ENOMEM;
		wd = inotify_add_watch(s->inotify_fd, abs, CGROUPFS_WATCH_MASK | IN_DONT_FOLLOW);
	}
	if (wd < 0) {
		int r = -errno;

		if (r != -ENOENT)
			cgroupfs_source_watch_failed(s, n, r);
		return r;
	}

	/* The same inode under another name: only on trees that allow rename(), which
	 * cgroup2 does not. The newer name wins; rescans look after the older one. */
	old = cgroupfs_source_node_by_wd(s, wd);
	if (old && old != n) {
		cgroupfs_source_forget_watch(s, old, 0);
		cgroupfs_source_watch_failed(s, old, -EEXIST);
	}

	n->wd = wd;
	if (!tsearch(n, &s->by_wd, cgroupfs_node_cmp_wd)) {
		(void)inotify_rm_watch(s->inotify_fd, wd);
		n->wd = -1;
		cgroupfs_source_watch_failed(s, n, -ENOMEM);
		return -ENOMEM;
	}
	s->n_watches++;
	cgroupfs_source_set_unwatched(s, n, 0);
	return 0;
}

static int cgroupfs_source_sync_dir(struct cgroupfs_source *s, struct cgroupfs_node *n, int full);

/*
 * Make what is known about parent/name match what is there: the directory found there
 * with inode number ino, or none when !exists. Level-triggered: an inotify event only
 * says where to look, so stale, duplicated or reordered events do no harm.
 */
static int cgroupfs_source_reconcile_child(struct cgroupfs_source *s,
					   struct cgroupfs_node *parent, const char *name,
					   int exists, uint64_t ino, int full, uint64_t gen)
{
	struct cgroupfs_node *c;
	int r;

	c = cgroupfs_node_child(parent, name);
	if (!exists) {
		if (c)
			cgroupfs_source_node_free(s, c, 1);
		return 0;
	}

	if (c && c->ino == ino) {
		c->gen = gen;
		if (c->scan && (full || c->wd < 0))
			(void)cgroupfs_source_sync_dir(s, c, full);
		return 0;
	}

	/* Gone and back under the same name (a restart): the old cgroup first. */
	if (c)
		cgroupfs_source_node_free(s, c, 1);

	r = cgroupfs_node_new(parent, name, ino, &c);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to track cgroup '/%s/...': %m",
					 parent->path);
	c->gen = gen;
	if (c->kind == CGROUPFS_NODE_UNIT)
		cgroupfs_source_emit(s, c, SCNPM_UNIT_STARTED);
	else
		cgroupfs_source_log_ignored(s, c);

	if (c->scan)
		(void)cgroupfs_source_sync_dir(s, c, full);
	return 0;
}

struct cgroupfs_entry {
	char *name;
	uint64_t ino;
};

static void cgroupfs_entries_free(struct cgroupfs_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

/*
 * Watch n (if it has no watch yet) and list it, then reconcile its children. The watch
 * comes first so that a directory created after the listing is reported by inotify and
 * one created before shows in the listing (or both: that is harmless). The listing is
 * read completely before recursing, so the depth of a tree never costs open fds.
 * With full, recurse into known children too (rescans); otherwise only into new ones.
 */
static int cgroupfs_source_sync_dir(struct cgroupfs_source *s, struct cgroupfs_node *n, int full)
{
	_cleanup_close_ int fd = -EBADF;
	struct cgroupfs_entry *entries = NULL;
	size_t n_entries = 0, allocated = 0;
	struct cgroupfs_node *c, *next;
	struct dirent *de;
	struct stat st;
	uint64_t gen;
	DIR *d;
	int r = 0;

	fd = openat(s->root_fd, n->path[0] ? n->path : ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* Replaced since we looked: the parent's watch (or the next rescan) tells. */
	if ((uint64_t)st.st_ino != n->ino)
		return -ESTALE;

	(void)cgroupfs_source_watch(s, n, fd);

	d = fdopendir(fd);
	if (!d)
		return -errno;
	fd = -EBADF;

	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* the cgroup id from the listing where it is st_ino: no lookup per entry */
		if (s->dirent_ino && de->d_type == DT_DIR)
			st.st_ino = (ino_t)de->d_ino;
		else if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			 !S_ISDIR(st.st_mode))
			continue;

		if (n_entries == allocated) {
			size_t a = allocated ? allocated * 2 : 16;
			struct cgroupfs_entry *t = reallocarray(entries, a, sizeof(*entries));

			if (!t) {
				r = -ENOMEM;
				break;
			}
			entries = t;
			allocated = a;
		}
		entries[n_entries].name = strdup(de->d_name);
		if (!entries[n_entries].name) {
			r = -ENOMEM;
			break;
		}
		entries[n_entries++].ino = (uint64_t)st.st_ino;
	}
	closedir(d);
	if (r < 0) {
		/* Half a listing must not make the others look gone. */
		cgroupfs_entries_free(entries, n_entries);
		return scnpm_warning_errno(s->host, r, "Failed to list '/%s': %m", n->path);
	}

	gen = ++s->gen;
	for (size_t i = 0; i < n_entries; i++)
		(void)cgroupfs_source_reconcile_child(s, n, entries[i].name, 1, entries[i].ino, full,
						      gen);
	cgroupfs_entries_free(entries, n_entries);

	for (c = n->first_child; c; c = next) {
		next = c->next;
		if (c->gen != gen)
			cgroupfs_source_node_free(s, c, 1);
	}
	return 0;
}

/* Look at parent/name again, whatever the event said happened to it. */
static void cgroupfs_source_recheck(struct cgroupfs_source *s, struct cgroupfs_node *parent,
				    const char *name)
{
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	int found;

	fd = openat(s->root_fd, parent->path[0] ? parent->path : ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_ino != parent->ino) {
		/* The parent itself changed: look at it from its own parent. */
		if (parent->parent) {
			_cleanup_free_ char *pname = strdup(parent->name);

			if (pname)
				cgroupfs_source_recheck(s, parent->parent, pname);
		}
		return;
	}

	found = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode);
	(void)cgroupfs_source_reconcile_child(s, parent, name, found, found ? (uint64_t)st.st_ino : 0,
					      0, 0);
}

/* name: the record's name, NULL when it has none (or none that ends within the record). */
static void cgroupfs_source_handle_event(struct cgroupfs_source *s, const struct inotify_event *ev,
					 const char *name)
{
	struct cgroupfs_node *n;

	if (ev->mask & IN_Q_OVERFLOW) {
		scnpm_notice(s->host, "Inotify event queue overflowed, rescanning '%s'", s->root);
		s->need_rescan = 1;
		return;
	}

	n = cgroupfs_source_node_by_wd(s, ev->wd);
	if (!n)
		return;	/* a watch we dropped already */

	if (ev->mask & IN_IGNORED) {
		/* The kernel removed the watch: the directory is gone (or unmounted). */
		cgroupfs_source_forget_watch(s, n, 0);
		if (n->scan && !n->parent) {
			scnpm_warning(s->host, "Lost the inotify watch on '%s', rescanning every %" PRIu64 " ms",
				      s->root, s->rescan_usec / 1000);
			cgroupfs_source_set_unwatched(s, n, 1);
			(void)cgroupfs_source_arm_timer(s);
			return;
		}
	}

	if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
		if (n->parent) {
			_cleanup_free_ char *name = strdup(n->name);

			if (name)
				cgroupfs_source_recheck(s, n->parent, name);
		}
		return;
	}

	/* a directory entry's name: never empty, ".", ".." or with a '/' */
	if (!name || !*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strchr(name, '/') || !(ev->mask & IN_ISDIR) ||
	    !(ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)))
		return;

	cgroupfs_source_recheck(s, n, name);
}

void cgroupfs_source_process_events(struct cgroupfs_source *s, const void *buf, size_t len)
{
	const uint8_t *p = buf, *end = p + len;

	while ((size_t)(end - p) >= sizeof(struct inotify_event)) {
		struct inotify_event ev;
		const char *name;

		/* Copied out: the kernel aligns its records and NUL-pads their names, but
		 * nothing here relies on a buffer being what the kernel writes. */
		memcpy(&ev, p, sizeof(ev));
		if (ev.len > (size_t)(end - p) - sizeof(ev))
			break;
		name = (const char *)p + sizeof(ev);
		if (ev.len == 0 || !memchr(name, '\0', ev.len))
			name = NULL;
		p += sizeof(ev) + ev.len;

		/* Once a rescan is due, what this buffer still holds is covered by it. */
		if (!s->need_rescan)
			cgroupfs_source_handle_event(s, &ev, name);
	}

	if (s->need_rescan) {
		s->need_rescan = 0;
		(void)cgroupfs_source_rescan(s);
	}
}

int cgroupfs_source_rescan(struct cgroupfs_source *s)
{
	int r;

	r = cgroupfs_source_sync_dir(s, s->root_node, 1);
	if (r < 0)
		return scnpm_warning_errno(s->host, r, "Failed to scan '%s': %m", s->root);
	return 0;
}

unsigned cgroupfs_source_n_watches(const struct cgroupfs_source *s)
{
	return s->n_watches;
}

unsigned cgroupfs_source_n_unwatched(const struct cgroupfs_source *s)
{
	return s->n_unwatched;
}

static int cgroupfs_source_on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct cgroupfs_source *s = userdata;

	for (unsigned i = 0; i < CGROUPFS_READS_PER_DISPATCH; i++) {
		ssize_t l = read(fd, s->buf, CGROUPFS_READ_BUFFER);

		if (l < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			scnpm_warning_errno(s->host, -errno, "Failed to read inotify events, rescanning: %m");
			(void)cgroupfs_source_rescan(s);
			break;
		}
		cgroupfs_source_process_events(s, s->buf, (size_t)l);
	}
	return 0;
}

static int cgroupfs_source_on_timer(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct cgroupfs_source *s = userdata;

	(void)cgroupfs_source_rescan(s);

	if (s->n_unwatched > 0) {
		if (cgroupfs_source_arm_timer(s) < 0)
			scnpm_error(s->host, "Failed to re-arm the rescan timer");
	} else if (s->watch_warned) {
		s->watch_warned = 0;
		scnpm_notice(s->host, "Every cgroup directory is watched again (%u watches)",
			     s->n_watches);
	}
	return 0;
}

static void cgroupfs_source_free(struct cgroupfs_source *s)
{
	if (!s)
		return;
	s->timer_source = sd_event_source_disable_unref(s->timer_source);
	s->io_source = sd_event_source_disable_unref(s->io_source);
	/* Closing the fd drops every watch at once. */
	if (s->inotify_fd >= 0)
		(void)close(s->inotify_fd);
	s->inotify_fd = -EBADF;
	if (s->root_node)
		cgroupfs_source_node_free(s, s->root_node, 0);
	if (s->root_fd >= 0)
		(void)close(s->root_fd);
	free(s->buf);
	free(s->root);
	free(s);
}

SCNPM_DEFINE_TRIVIAL_CLEANUP_FUNC(struct cgroupfs_source *, cgroupfs_source_free)
SCNPM_DEFINE_TRIVIAL_CLEANUP_FUNC(FILE *, fclose)

static int cgroupfs_source_find_root(const struct scnpm_host *h, char **ret)
{
	_cleanup_(fclosep) FILE *f = NULL;
	int r;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return scnpm_error_errno(h, -errno, "Failed to open /proc/self/mountinfo: %m");
	r = scnpm_cgroup2_find_mount(f, ret);
	if (r == -ENOENT)
		return scnpm_error_errno(h, r,
					 "No cgroup2 file system is mounted (none in /proc/self/mountinfo); mount one or pass root=PATH");
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to read /proc/self/mountinfo: %m");
	return 0;
}

static int cgroupfs_source_init(const struct scnpm_host *h, void **ret_state)
{
	_cleanup_(cgroupfs_source_freep) struct cgroupfs_source *s = NULL;
	struct statfs sfs;
	struct stat st;
	const char *v;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->host = h;
	s->root_fd = s->inotify_fd = -EBADF;
	s->rescan_usec = CGROUPFS_DEFAULT_RESCAN_USEC;

	v = h->option(h, "rescan-interval");
	if (v && cgroupfs_parse_interval(v, &s->rescan_usec) < 0)
		return scnpm_error_errno(h, -EINVAL,
					 "Invalid rescan-interval='%s': expected seconds, e.g. 5 or 0.5", v);
	v = h->option(h, "max-watches");
	if (v && cgroupfs_parse_unsigned(v, &s->max_watches) < 0)
		return scnpm_error_errno(h, -EINVAL,
					 "Invalid max-watches='%s': expected a number (0: no limit of its own)", v);

	v = h->option(h, "root");
	if (v) {
		if (v[0] != '/')
			return scnpm_error_errno(h, -EINVAL, "Invalid root='%s': expected an absolute path", v);
		s->root = strdup(v);
		if (!s->root)
			return -ENOMEM;
	} else {
		r = cgroupfs_source_find_root(h, &s->root);
		if (r < 0)
			return r;
	}

	s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0)
		return scnpm_error_errno(h, -errno, "Failed to open cgroup root '%s': %m", s->root);
	if (fstat(s->root_fd, &st) < 0)
		return scnpm_error_errno(h, -errno, "Failed to stat '%s': %m", s->root);
	if (fstatfs(s->root_fd, &sfs) >= 0 && sfs.f_type != CGROUP2_SUPER_MAGIC)
		scnpm_notice(h, "'%s' is not a cgroup2 file system: directory inode numbers reported as cgroup ids",
			     s->root);
	s->dirent_ino = scnpm_dirent_ino_is_st_ino(s->root_fd);

	s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->inotify_fd < 0) {
		r = -errno;
		if (r == -EMFILE)
			return scnpm_error_errno(h, r,
						 "Failed to create an inotify instance (raise sysctl fs.inotify.max_user_instances): %m");
		return scnpm_error_errno(h, r, "Failed to create an inotify instance: %m");
	}

	s->buf = malloc(CGROUPFS_READ_BUFFER);
	s->root_node = calloc(1, sizeof(*s->root_node));
	if (!s->buf || !s->root_node)
		return -ENOMEM;
	s->root_node->path = strdup("");
	if (!s->root_node->path)
		return -ENOMEM;
	s->root_node->name = s->root_node->path;
	s->root_node->kind = CGROUPFS_NODE_ROOT;
	s->root_node->scan = 1;
	s->root_node->wd = -1;
	s->root_node->ino = (uint64_t)st.st_ino;
	s->root_node->child_manager = SCNPM_MANAGER_SYSTEM;

	scnpm_debug(h, "Watching cgroups under '%s'", s->root);
	*ret_state = TAKE_PTR(s);
	return 0;
}

static int cgroupfs_source_start(void *state)
{
	struct cgroupfs_source *s = state;
	int r;

	r = sd_event_add_io(s->host->event, &s->io_source, s->inotify_fd, EPOLLIN,
			    cgroupfs_source_on_io, s);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to add the inotify fd to the event loop: %m");
	(void)sd_event_source_set_description(s->io_source, "source-cgroupfs-inotify");

	/* Reports what runs already; later changes come through inotify. */
	r = cgroupfs_source_sync_dir(s, s->root_node, 1);
	if (r < 0)
		return scnpm_error_errno(s->host, r, "Failed to scan '%s': %m", s->root);

	scnpm_debug(s->host, "Scanned '%s': %u directories watched, %u not", s->root, s->n_watches,
		    s->n_unwatched);
	return 0;
}

static void cgroupfs_source_done(void *state)
{
	cgroupfs_source_free(state);
}

static const char *const cgroupfs_source_options[] = {
	"root",
	"rescan-interval",
	"max-watches",
	NULL,
};

SCNPM_MODULE_DEFINE = {
	.abi = SCNPM_MODULE_ABI,
	.size = sizeof(struct scnpm_module),
	.kind = SCNPM_MODULE_SOURCE,
	.name = "source-cgroupfs",
	.description = "Units from cgroup2 directories appearing and vanishing (inotify)",
	.options = cgroupfs_source_options,
	.init = cgroupfs_source_init,
	.start = cgroupfs_source_start,
	.done = cgroupfs_source_done,
};
