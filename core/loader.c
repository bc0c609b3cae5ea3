/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "module-check.h"
#include "util.h"

#ifndef SCNPM_MODULE_DIR
#error "SCNPM_MODULE_DIR must be defined by the build"
#endif

/* The smallest descriptor of ABI 1: everything up to and including flush. */
#define MODULE_V1_MIN_SIZE (offsetof(struct scnpm_module, flush) + sizeof(void *))

const char *module_kind_to_string(uint32_t kind)
{
	switch (kind) {
	case SCNPM_MODULE_SOURCE:
		return "source";
	case SCNPM_MODULE_SINK:
		return "sink";
	default:
		return "unknown";
	}
}

const char *module_search_path(const char *dir)
{
	const char *e;

	if (dir)
		return dir;
	e = secure_getenv("SCNPM_MODULE_DIR");
	if (e && *e)
		return e;
	return SCNPM_MODULE_DIR;
}

static int fail(char **ret_error, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char **ret_error, int r, const char *fmt, ...)
{
	va_list ap;

	if (ret_error) {
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

struct module *module_free(struct module *m)
{
	if (!m)
		return NULL;
	if (m->initialized && m->desc && m->desc->done)
		m->desc->done(m->state);
	if (m->dl)
		dlclose(m->dl);
	if (m->fd >= 0)
		close(m->fd);
	free(m->name);
	free(m->path);
	strv_free(m->options);
	free(m);
	return NULL;
}

const char *module_option(const struct module *m, const char *key)
{
	size_t l = strlen(key);

	STRV_FOREACH(o, m->options)
		if (strneq(*o, key, l) && ((*o)[l] == '=' || (*o)[l] == '\0'))
			return (*o)[l] == '=' ? *o + l + 1 : *o + l;
	return NULL;
}

static bool module_name_is_valid(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_'))
			return false;
	return *s != '\0';
}

/* Find scnpm-<kind>-<name>.so along the colon-separated search path. */
static int module_find(const char *search_path, const char *file, char **ret_path)
{
	_cleanup_free_ char *copy = strdup(search_path);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *p = NULL;

		if (asprintf(&p, "%s/%s", d, file) < 0)
			return -ENOMEM;
		struct stat st;

		/* lstat: a dangling symlink is found, and refused, not taken for "not here" */
		if (lstat(p, &st) == 0) {
			*ret_path = TAKE_PTR(p);
			return 0;
		}
	}
	return -ENOENT;
}

/* A module runs with all of the daemon's privileges: refuse a file that someone other
 * than root or the daemon's owner could have written. */
static int module_check_owner(int fd, const char *path, char **ret_error)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return fail(ret_error, -errno, "%s: cannot stat module: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail(ret_error, -EPERM, "%s: refusing module: not a regular file", path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return fail(ret_error, -EPERM,
			    "%s: refusing module: owned by uid %u, not by root or the daemon's user (uid %u)",
			    path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return fail(ret_error, -EPERM,
			    "%s: refusing module: writable by %s (mode %04o); only its owner may write it",
			    path, st.st_mode & S_IWOTH ? "everyone" : "its group",
			    (unsigned)(st.st_mode & 07777));
	return 0;
}

static int module_parse_options(struct module *m, const char *opts, char **ret_error)
{
	_cleanup_free_ char *copy = strdup(opts);
	char *save = NULL;

	if (!copy)
		return -ENOMEM;
	for (char *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		size_t kl = strcspn(o, "=");
		bool known = false;
		int r;

		if (m->desc->options)
			for (const char *const *k = m->desc->options; *k; k++)
				if (strlen(*k) == kl && strneq(*k, o, kl))
					known = true;
		if (known) {
			STRV_FOREACH(prev, m->options)
				if (strneq(*prev, o, kl) && ((*prev)[kl] == '=' || (*prev)[kl] == '\0'))
					return fail(ret_error, -EINVAL, "%s: module '%s': option '%.*s' given twice",
						    m->path, m->name, (int)kl, o);
		} else {
			_cleanup_free_ char *esc = cescape_trunc(o, 64);
			char known_list[512] = "";

			if (m->desc->options)
				for (const char *const *k = m->desc->options; *k; k++) {
					if (known_list[0])
						strncat(known_list, ", ", sizeof(known_list) - strlen(known_list) - 1);
					strncat(known_list, *k, sizeof(known_list) - strlen(known_list) - 1);
				}
			return fail(ret_error, -EINVAL, "%s: module '%s' has no option '%.*s' (%s%s)",
				    m->path, m->name, (int)kl, esc ?: "",
				    known_list[0] ? "options: " : "it takes no options", known_list);
		}
		r = strv_push(&m->options, o);
		if (r < 0)
			return r;
	}
	return 0;
}

int module_check_descriptor(const struct scnpm_module *d, uint32_t kind, const char *name,
			    const char *path, char **ret_error)
{
	_cleanup_free_ char *esc = NULL;

	if (d->abi != SCNPM_MODULE_ABI)
		return fail(ret_error, -EPROTONOSUPPORT,
			    "%s: ABI mismatch: module says ABI %u, this scnpm speaks ABI %u", path,
			    (unsigned)d->abi, SCNPM_MODULE_ABI);
	if (d->size < MODULE_V1_MIN_SIZE)
		return fail(ret_error, -EBADMSG,
			    "%s: malformed descriptor: %u bytes, ABI %u needs at least %zu", path,
			    (unsigned)d->size, SCNPM_MODULE_ABI, (size_t)MODULE_V1_MIN_SIZE);
	if (d->kind != SCNPM_MODULE_SOURCE && d->kind != SCNPM_MODULE_SINK)
		return fail(ret_error, -EBADMSG, "%s: malformed descriptor: unknown kind %u", path,
			    (unsigned)d->kind);
	if (d->kind != kind)
		return fail(ret_error, -EBADMSG,
			    "%s: wrong kind: the module is a %s, asked for a %s", path,
			    module_kind_to_string(d->kind), module_kind_to_string(kind));
	if (!d->name || !d->init || !d->done)
		return fail(ret_error, -EBADMSG, "%s: malformed descriptor: %s is missing", path,
			    !d->name   ? "name"
			    : !d->init ? "init()"
				       : "done()");
	if (d->kind == SCNPM_MODULE_SINK &&
	    (!d->rule_add || !d->rule_remove || !d->apply || !d->flush))
		return fail(
		    ret_error, -EBADMSG,
		    "%s: malformed descriptor: a sink needs rule_add(), rule_remove(), apply() and flush()",
		    path);
	if (!streq(d->name, name)) {
		esc = cescape_trunc(d->name, 64);
		return fail(ret_error, -EBADMSG,
			    "%s: name mismatch: the module calls itself '%s', expected '%s'", path,
			    esc ?: "", name);
	}
	return 0;
}

int module_load(const char *search_path, uint32_t kind, const char *spec, struct module **ret,
		char **ret_error)
{
	const char *kind_s = module_kind_to_string(kind), *colon;
	_cleanup_free_ char *name = NULL, *file = NULL, *esc = NULL;
	_cleanup_close_ int fd = -EBADF;
	struct module *m = NULL;
	const struct scnpm_module *d;
	char fdpath[64], why[256] = "";
	int r;

	colon = strchr(spec, ':');
	name = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
	if (!name)
		return -ENOMEM;
	if (strchr(name, '/')) {
		esc = cescape_trunc(name, 64);
		return fail(ret_error, -EINVAL,
			    "%s '%s': refusing a module name with '/': modules load only from the module directory (%s)",
			    kind_s, esc ?: "", search_path);
	}
	if (!module_name_is_valid(name)) {
		esc = cescape_trunc(name, 64);
		return fail(ret_error, -EINVAL, "%s '%s': invalid module name (letters, digits, '-', '_')",
			    kind_s, esc ?: "");
	}

	if (asprintf(&file, "scnpm-%s-%s.so", kind_s, name) < 0)
		return -ENOMEM;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->fd = -EBADF;
	if (asprintf(&m->name, "%s-%s", kind_s, name) < 0) {
		m->name = NULL;
		r = -ENOMEM;
		goto fail;
	}

	r = module_find(search_path, file, &m->path);
	if (r == -ENOENT) {
		r = fail(ret_error, r, "%s: no such module: looked for %s in %s", m->name, file,
			 search_path);
		goto fail;
	}
	if (r < 0)
		goto fail;

	/* Check the file we then load, not a name that could be swapped in between: the
	 * directories up to it first, then the file, then its ELF headers. */
	fd = module_open_checked(m->path, why, sizeof(why));
	if (fd == -EPERM) {
		r = fail(ret_error, fd, "%s: refusing module: %s", m->path, why);
		goto fail;
	}
	if (fd < 0) {
		r = fail(ret_error, fd, "%s: cannot open module: %s", m->path, strerror(-fd));
		goto fail;
	}
	r = module_check_owner(fd, m->path, ret_error);
	if (r < 0)
		goto fail;
	r = module_elf_check_fd(fd, why, sizeof(why));
	if (r == -ENOEXEC) {
		r = fail(ret_error, r, "%s: refusing module: %s", m->path, why);
		goto fail;
	}
	if (r < 0) {
		r = fail(ret_error, r, "%s: cannot read module: %s", m->path, strerror(-r));
		goto fail;
	}

	/* Load through the fd we checked, not a name that could be swapped in between. It
	 * stays open while the module is loaded: the dynamic loader knows objects by name,
	 * and a reused /proc/self/fd/N would make a second module look like the first. */
	m->fd = TAKE_FD(fd);
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", m->fd);
	m->dl = dlopen(fdpath, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl) {
		const char *e = dlerror();

		r = fail(ret_error, -EIO, "%s: cannot load module: %s", m->path, e ?: "unknown error");
		goto fail;
	}

	d = dlsym(m->dl, SCNPM_MODULE_SYMBOL);
	if (!d) {
		/* A module of another ABI major names its descriptor differently. */
		for (unsigned v = 2; v < 10; v++) {
			char sym[32];

			snprintf(sym, sizeof(sym), "scnpm_module_v%u", v);
			if (dlsym(m->dl, sym)) {
				r = fail(ret_error, -EPROTONOSUPPORT,
					 "%s: ABI mismatch: module is built for module ABI %u, this scnpm speaks ABI %u",
					 m->path, v, SCNPM_MODULE_ABI);
				goto fail;
			}
		}
		r = fail(ret_error, -ENOEXEC, "%s: not an scnpm module: no symbol %s", m->path,
			 SCNPM_MODULE_SYMBOL);
		goto fail;
	}
	r = module_check_descriptor(d, kind, m->name, m->path, ret_error);
	if (r < 0)
		goto fail;
	m->desc = d;

	if (colon) {
		r = module_parse_options(m, colon + 1, ret_error);
		if (r < 0)
			goto fail;
	}

	*ret = m;
	return 0;

fail:
	module_free(m);
	return r;
}
