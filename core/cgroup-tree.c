/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include "cgroup-tree.h"
#include "hashmap.h"
#include "util.h"

/* How deep slices nest before we stop looking (systemd allows more, nobody uses it). */
#define SLICE_DEPTH_MAX 16

static uint64_t n_dirs_read;

uint64_t cgroup_tree_dirs_read(void)
{
	return n_dirs_read;
}

static DIR *tree_opendir(const char *path)
{
	n_dirs_read++;
	return opendir(path);
}

int cgroup_tree_id(const char *root, const char *path, uint64_t *ret_id)
{
	_cleanup_free_ char *p = NULL;
	struct stat st;

	if (asprintf(&p, "%s/%s", root, path) < 0)
		return -ENOMEM;
	if (stat(p, &st) < 0)
		return errno == ENOTDIR ? -ENOENT : -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOENT;
	*ret_id = (uint64_t)st.st_ino;
	return 0;
}

static bool is_slice(const char *s, size_t n)
{
	return n > 6 && memcmp(s + n - 6, ".slice", 6) == 0;
}

/* "user@N.service" → N */
static bool parse_user_manager(const char *s, size_t n, uint32_t *ret_uid)
{
	char buf[32];

	if (n < 14 || n >= sizeof(buf) || memcmp(s, "user@", 5) != 0 ||
	    memcmp(s + n - 8, ".service", 8) != 0)
		return false;
	memcpy(buf, s + 5, n - 13);
	buf[n - 13] = '\0';
	return safe_atou32(buf, ret_uid) >= 0;
}

int cgroup_path_owner(const char *path, uint32_t *ret_manager, uint32_t *ret_uid,
		      const char **ret_unit)
{
	const char *c[SLICE_DEPTH_MAX + 4];
	size_t len[SLICE_DEPTH_MAX + 4], n = 0, first = 0;
	uint32_t manager = SCNPM_MANAGER_SYSTEM, uid = 0;

	if (scnpm_cgroup_path_level(path) == 0)
		return -EINVAL;
	for (const char *p = path; *p;) {
		size_t l = strcspn(p, "/");

		if (n == ELEMENTSOF(c))
			return -EINVAL;
		c[n] = p;
		len[n++] = l;
		p += l;
		if (*p == '/')
			p++;
	}

	/* user.slice/user-N.slice/user@N.service/... : the user manager of N */
	if (n > 3 && len[0] == 10 && memcmp(c[0], "user.slice", 10) == 0 &&
	    parse_user_manager(c[2], len[2], &uid)) {
		char slice[32];

		snprintf(slice, sizeof(slice), "user-%" PRIu32 ".slice", uid);
		if (strlen(slice) != len[1] || memcmp(c[1], slice, len[1]) != 0)
			return -EINVAL;
		manager = SCNPM_MANAGER_USER;
		first = 3;
	}
	for (size_t i = first; i + 1 < n; i++)
		if (!is_slice(c[i], len[i]))
			return -EINVAL;

	*ret_manager = manager;
	*ret_uid = uid;
	*ret_unit = c[n - 1];
	return 0;
}

static int try_path(const char *root, const char *path, char **ret_path, uint64_t *ret_id)
{
	int r;

	r = cgroup_tree_id(root, path, ret_id);
	if (r < 0)
		return r;
	*ret_path = strdup(path);
	return *ret_path ? 0 : -ENOMEM;
}

/* "a-b-c.slice" lives at "a.slice/a-b.slice/a-b-c.slice" (systemd.slice(5)). */
static int slice_path(const char *base, const char *name, char **ret)
{
	size_t n = strlen(name) - 6;
	_cleanup_free_ char *p = strdup(base);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (name[i] != '-')
			continue;
		char *t = NULL;

		if (asprintf(&t, "%s%s%.*s.slice", p, *p ? "/" : "", (int)i, name) < 0)
			return -ENOMEM;
		free(p);
		p = t;
	}
	{
		char *t = NULL;

		if (asprintf(&t, "%s%s%s", p, *p ? "/" : "", name) < 0)
			return -ENOMEM;
		*ret = t;
	}
	return 0;
}

/* Breadth first over the slices below base: is name directly in one of them? */
static int scan_slices(const char *root, const char *base, const char *name, char **ret_path,
		       uint64_t *ret_id)
{
	char **queue = NULL;
	size_t head = 0;
	int r = -ENOENT;

	if (strv_push(&queue, base) < 0)
		return -ENOMEM;
	/* at most 1024 slices looked into: a bound, not a limit anyone reaches */
	for (unsigned visited = 0; queue[head] && visited < 1024; visited++) {
		const char *dir = queue[head++];
		_cleanup_free_ char *abs = NULL, *cand = NULL;
		struct dirent *de;
		DIR *d;

		if (asprintf(&cand, "%s%s%s", dir, *dir ? "/" : "", name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (try_path(root, cand, ret_path, ret_id) == 0) {
			r = 0;
			break;
		}
		if (asprintf(&abs, "%s/%s", root, dir) < 0) {
			r = -ENOMEM;
			break;
		}
		d = tree_opendir(abs);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			_cleanup_free_ char *sub = NULL;

			if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
				continue;
			if (!is_slice(de->d_name, l) || !scnpm_unit_name_is_valid(de->d_name))
				continue;
			if (scnpm_cgroup_path_level(dir) >= SLICE_DEPTH_MAX)
				continue;
			if (asprintf(&sub, "%s%s%s", dir, *dir ? "/" : "", de->d_name) < 0 ||
			    strv_push(&queue, sub) < 0) {
				r = -ENOMEM;
				break;
			}
		}
		closedir(d);
		if (r == -ENOMEM)
			break;
	}
	strv_free(queue);
	return r;
}

int cgroup_tree_find_unit(const char *root, uint32_t manager, uint32_t uid, const char *name,
			  char **ret_path, uint64_t *ret_id)
{
	static const char *const user_slices[] = { "app.slice", "session.slice", "background.slice" };
	_cleanup_free_ char *base = NULL, *cand = NULL;
	int r;

	if (!scnpm_unit_name_is_valid(name))
		return -EINVAL;
	if (manager == SCNPM_MANAGER_USER) {
		if (asprintf(&base, "user.slice/user-%" PRIu32 ".slice/user@%" PRIu32 ".service", uid,
			     uid) < 0)
			return -ENOMEM;
	} else {
		uint32_t u;

		base = strdup("");
		if (!base)
			return -ENOMEM;
		if (streq(name, "-.slice"))
			return -ENOENT; /* the root: not something a rule can name */
		if (parse_user_manager(name, strlen(name), &u)) {
			if (asprintf(&cand, "user.slice/user-%" PRIu32 ".slice/%s", u, name) < 0)
				return -ENOMEM;
			return try_path(root, cand, ret_path, ret_id);
		}
	}

	/* the usual places */
	if (endswith(name, ".slice")) {
		r = slice_path(base, name, &cand);
		if (r < 0)
			return r;
		return try_path(root, cand, ret_path, ret_id);
	}
	if (manager == SCNPM_MANAGER_USER) {
		for (size_t i = 0; i < ELEMENTSOF(user_slices); i++) {
			free(cand);
			cand = NULL;
			if (asprintf(&cand, "%s/%s/%s", base, user_slices[i], name) < 0)
				return -ENOMEM;
			if (try_path(root, cand, ret_path, ret_id) == 0)
				return 0;
		}
	} else {
		if (asprintf(&cand, "system.slice/%s", name) < 0)
			return -ENOMEM;
		if (try_path(root, cand, ret_path, ret_id) == 0)
			return 0;
	}
	/* anywhere among the manager's slices */
	return scan_slices(root, base, name, ret_path, ret_id);
}

int cgroup_tree_user_managers(const char *root, uint32_t **ret_uids, size_t *ret_n)
{
	_cleanup_free_ char *p = NULL;
	uint32_t *uids = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	*ret_uids = NULL;
	*ret_n = 0;
	if (asprintf(&p, "%s/user.slice", root) < 0)
		return -ENOMEM;
	d = tree_opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char mgr[64];
		uint32_t uid, *t;
		uint64_t id;

		if (sscanf(de->d_name, "user-%" SCNu32 ".slice", &uid) != 1)
			continue;
		snprintf(mgr, sizeof(mgr), "user.slice/user-%" PRIu32 ".slice/user@%" PRIu32 ".service",
			 uid, uid);
		if (cgroup_tree_id(root, mgr, &id) < 0)
			continue;
		t = realloc(uids, (n + 1) * sizeof(*t));
		if (!t) {
			free(uids);
			closedir(d);
			return -ENOMEM;
		}
		uids = t;
		uids[n++] = uid;
	}
	closedir(d);
	*ret_uids = uids;
	*ret_n = n;
	return 0;
}

/* Directories a walk reads at most. */
#define WALK_BUDGET 65536

struct walk {
	const char *root;
	cgroup_unit_func_t f;
	void *userdata;
	unsigned budget; /* directories still to read */
};

/* The units in the slice at base (a path below root, "" for the root) and, recursively,
 * in its slices. */
static int walk_slice(struct walk *w, const char *base, unsigned depth, uint32_t manager,
		      uint32_t uid)
{
	_cleanup_free_ char *abs = NULL;
	struct dirent *de;
	int r = 0;
	DIR *d;

	if (w->budget == 0 || depth > SLICE_DEPTH_MAX)
		return 0;
	w->budget--;
	if (asprintf(&abs, "%s/%s", w->root, base) < 0)
		return -ENOMEM;
	d = tree_opendir(abs);
	if (!d)
		return 0; /* gone meanwhile, or not ours to read */
	while (r >= 0 && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		size_t l = strlen(de->d_name);
		uint32_t user;
		uint64_t id;

		if ((de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
		    !scnpm_unit_name_is_valid(de->d_name))
			continue;
		if (asprintf(&path, "%s%s%s", base, *base ? "/" : "", de->d_name) < 0) {
			r = -ENOMEM;
			break;
		}
		if (is_slice(de->d_name, l)) {
			r = walk_slice(w, path, depth + 1, manager, uid);
			continue;
		}
		if (cgroup_tree_id(w->root, path, &id) < 0)
			continue;
		r = w->f(manager, uid, de->d_name, path, id, w->userdata);
		/* user.slice/user-N.slice/user@N.service: the user manager of N */
		if (r >= 0 && manager == SCNPM_MANAGER_SYSTEM && depth == 2 &&
		    parse_user_manager(de->d_name, l, &user)) {
			char slice[64];

			snprintf(slice, sizeof(slice), "user.slice/user-%" PRIu32 ".slice", user);
			if (streq(base, slice))
				r = walk_slice(w, path, 0, SCNPM_MANAGER_USER, user);
		}
	}
	closedir(d);
	return r;
}

int cgroup_tree_foreach_unit(const char *root, cgroup_unit_func_t f, void *userdata)
{
	struct walk w = { .root = root, .f = f, .userdata = userdata, .budget = WALK_BUDGET };

	return walk_slice(&w, "", 0, SCNPM_MANAGER_SYSTEM, 0);
}

/* ---- snapshot ---- */

struct snap_unit {
	char *key;	/* "manager:uid:name" */
	const char *name;	/* in key */
	uint32_t manager, uid;
	char *path;
	uint64_t id;
	bool ambiguous;	/* seen in more than one place: the tree decides, as without a snapshot */
};

struct cgroup_snapshot {
	struct hashmap *units;
};

static char *snap_key(uint32_t manager, uint32_t uid, const char *name)
{
	char *k = NULL;

	if (asprintf(&k, "%" PRIu32 ":%" PRIu32 ":%s", manager, uid, name) < 0)
		return NULL;
	return k;
}

static int snap_on_unit(uint32_t manager, uint32_t uid, const char *name, const char *path,
			uint64_t id, void *userdata)
{
	struct cgroup_snapshot *s = userdata;
	_cleanup_free_ char *key = snap_key(manager, uid, name);
	struct snap_unit *u;

	if (!key)
		return -ENOMEM;
	u = hashmap_get(s->units, key);
	if (u) {
		u->ambiguous = true;
		return 0;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->path = strdup(path);
	u->id = id;
	u->manager = manager;
	u->uid = uid;
	u->key = TAKE_PTR(key);
	u->name = strchr(strchr(u->key, ':') + 1, ':') + 1;
	if (!u->path || hashmap_put(s->units, u->key, u) < 0) {
		free(u->path);
		free(u->key);
		free(u);
		return -ENOMEM;
	}
	return 0;
}

struct cgroup_snapshot *cgroup_snapshot_free(struct cgroup_snapshot *s)
{
	struct snap_unit *u;
	size_t i = 0;

	if (!s)
		return NULL;
	while ((u = hashmap_iterate(s->units, &i, NULL))) {
		free(u->key);
		free(u->path);
		free(u);
	}
	hashmap_free(s->units);
	free(s);
	return NULL;
}

int cgroup_snapshot_take(const char *root, struct cgroup_snapshot **ret)
{
	struct cgroup_snapshot *s = calloc(1, sizeof(*s));
	struct walk w = { .root = root, .f = snap_on_unit, .budget = WALK_BUDGET };
	int r;

	if (!s)
		return -ENOMEM;
	s->units = hashmap_new();
	if (!s->units) {
		free(s);
		return -ENOMEM;
	}
	w.userdata = s;
	r = walk_slice(&w, "", 0, SCNPM_MANAGER_SYSTEM, 0);
	if (r >= 0 && w.budget == 0)
		r = -E2BIG; /* what is missing may be somewhere the walk did not read */
	if (r < 0) {
		cgroup_snapshot_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int cgroup_snapshot_foreach_unit(const struct cgroup_snapshot *s, cgroup_unit_func_t f,
				 void *userdata)
{
	const struct snap_unit *u;
	size_t i = 0;
	int r;

	while ((u = hashmap_iterate(s->units, &i, NULL)))
		if ((r = f(u->manager, u->uid, u->name, u->path, u->id, userdata)) < 0)
			return r;
	return 0;
}

int cgroup_snapshot_find_unit(const struct cgroup_snapshot *s, const char *root, uint32_t manager,
			      uint32_t uid, const char *name, char **ret_path, uint64_t *ret_id)
{
	_cleanup_free_ char *key = NULL;
	const struct snap_unit *u;
	char *p;

	/* The walk reports no slices (find_unit knows where they are: one stat), and
	 * cgroup_tree_find_unit() refuses what is no unit name. */
	if (!s || endswith(name, ".slice") || !scnpm_unit_name_is_valid(name))
		return cgroup_tree_find_unit(root, manager, uid, name, ret_path, ret_id);
	key = snap_key(manager == SCNPM_MANAGER_USER ? manager : SCNPM_MANAGER_SYSTEM,
		       manager == SCNPM_MANAGER_USER ? uid : 0, name);
	if (!key)
		return -ENOMEM;
	u = hashmap_get(s->units, key);
	if (!u)
		return -ENOENT;
	if (u->ambiguous)
		return cgroup_tree_find_unit(root, manager, uid, name, ret_path, ret_id);
	p = strdup(u->path);
	if (!p)
		return -ENOMEM;
	*ret_path = p;
	*ret_id = u->id;
	return 0;
}
