/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The module loader against the fixture modules of tests/fixtures/bad-modules/: the good
 * source and sink load, and every refusal comes back with its own negative errno and one
 * line naming the file and the reason.
 *
 * Each test copies the fixtures into a fresh directory with mode 0755, so the result
 * does not depend on the umask the build ran with (a group-writable module is refused).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "loader.h"
#include "util.h"

#ifndef BAD_MODULES_DIR
#error "BAD_MODULES_DIR must point at the build directory of tests/fixtures/bad-modules"
#endif
#ifndef DEFAULT_MODULE_DIR
#error "DEFAULT_MODULE_DIR must be the module directory compiled into the core"
#endif

static char dir[PATH_MAX];

static void copy_file(const char *from, const char *to, mode_t mode)
{
	_cleanup_close_ int in = -EBADF, out = -EBADF;
	char buf[16384];
	ssize_t n;

	in = open(from, O_RDONLY | O_CLOEXEC);
	cr_assert(ge(int, in, 0), "open(%s): %s", from, strerror(errno));
	out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(ge(int, out, 0), "open(%s): %s", to, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert(eq(sz, (size_t)write(out, buf, (size_t)n), (size_t)n), "write(%s)", to);
	cr_assert(eq(sz, (size_t)n, 0), "read(%s): %s", from, strerror(errno));
	/* fchmod, not the open() mode: the umask must not matter. */
	cr_assert(eq(int, fchmod(out, mode), 0));
}

/* Copies scnpm-*.so from the fixture build dir into target. */
static void copy_fixtures(const char *target)
{
	DIR *d = opendir(BAD_MODULES_DIR);
	struct dirent *de;
	size_t n = 0;

	cr_assert(ne(ptr, d, NULL), "opendir(%s): %s", BAD_MODULES_DIR, strerror(errno));
	while ((de = readdir(d))) {
		_cleanup_free_ char *from = NULL, *to = NULL;
		size_t l = strlen(de->d_name);

		if (!startswith(de->d_name, "scnpm-") || l < 3 || !streq(de->d_name + l - 3, ".so"))
			continue;
		cr_assert(ge(int, asprintf(&from, "%s/%s", BAD_MODULES_DIR, de->d_name), 0));
		cr_assert(ge(int, asprintf(&to, "%s/%s", target, de->d_name), 0));
		copy_file(from, to, 0755);
		n++;
	}
	closedir(d);
	cr_assert(gt(sz, n, 0), "no fixture modules in %s", BAD_MODULES_DIR);
}

static char *make_dir(void)
{
	char *d = NULL;

	cr_assert(ge(int, asprintf(&d, "%s/test-loader-XXXXXX", BAD_MODULES_DIR), 0));
	cr_assert(ne(ptr, mkdtemp(d), NULL), "mkdtemp(%s): %s", d, strerror(errno));
	return d;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void loader_setup(void)
{
	_cleanup_free_ char *d = make_dir();

	snprintf(dir, sizeof(dir), "%s", d);
	copy_fixtures(dir);
	(void)unsetenv("SCNPM_MODULE_DIR");
}

static void loader_teardown(void)
{
	if (dir[0])
		(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(loader, .init = loader_setup, .fini = loader_teardown);

/* Root-only checks: skip outside CI, fail under CI (where the job runs as root). */
static void require_root(const char *why)
{
	const char *ci = getenv("CI");

	if (geteuid() == 0)
		return;
	if (ci && streq(ci, "true"))
		cr_fail("this test needs root (%s), and CI=true", why);
	cr_skip_test("needs root: %s", why);
}

static char *fixture_path(const char *d, const char *file)
{
	char *p = NULL;

	cr_assert(ge(int, asprintf(&p, "%s/%s", d, file), 0));
	return p;
}

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strstr(haystack, needle);
}

/* module_load() must fail with exactly 'expected', write nothing to *ret, and give one
 * line containing each of the NULL-terminated substrings. */
static void assert_refused_in(const char *search_path, uint32_t kind, const char *spec, int expected,
			      ...)
{
	_cleanup_free_ char *error = NULL;
	struct module *m = NULL;
	const char *needle;
	va_list ap;
	int r;

	r = module_load(search_path, kind, spec, &m, &error);
	cr_assert(eq(int, r, expected), "module_load('%s') = %d (%s), expected %d (%s); error: %s", spec,
		  r, strerror(-r), expected, strerror(-expected), error ?: "(none)");
	cr_assert(eq(ptr, m, NULL), "*ret written on failure");
	cr_assert(ne(ptr, error, NULL), "no error line for '%s'", spec);
	cr_assert(eq(ptr, strchr(error, '\n'), NULL), "error is more than one line: %s", error);
	va_start(ap, expected);
	while ((needle = va_arg(ap, const char *)))
		cr_assert(contains(error, needle), "error for '%s' does not mention '%s': %s", spec,
			  needle, error);
	va_end(ap);
}

#define assert_refused(kind, spec, expected, ...) \
	assert_refused_in(dir, kind, spec, expected, __VA_ARGS__, NULL)

static struct module *assert_loads_in(const char *search_path, uint32_t kind, const char *spec)
{
	_cleanup_free_ char *error = NULL;
	struct module *m = NULL;
	int r;

	r = module_load(search_path, kind, spec, &m, &error);
	cr_assert(eq(int, r, 0), "module_load('%s') = %d (%s): %s", spec, r, strerror(-r),
		  error ?: "(no error line)");
	cr_assert(ne(ptr, m, NULL));
	return m;
}

/* ---- modules that load ---- */

Test(loader, good_source)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good");

	cr_assert(eq(str, m->name, "source-good"));
	cr_assert(eq(str, m->path, path));
	cr_assert(ne(ptr, (void *)m->desc, NULL));
	cr_assert(eq(u32, m->desc->kind, SCNPM_MODULE_SOURCE));
	cr_assert(eq(ptr, (void *)module_option(m, "key"), NULL));
	cr_assert(eq(ptr, module_free(m), NULL));
}

Test(loader, good_sink)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-sink-good.so");
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SINK, "good");

	cr_assert(eq(str, m->name, "sink-good"));
	cr_assert(eq(str, m->path, path));
	cr_assert(eq(u32, m->desc->kind, SCNPM_MODULE_SINK));
	cr_assert(ne(ptr, (void *)m->desc->apply, NULL));
	module_free(m);
}

Test(loader, free_null)
{
	cr_assert(eq(ptr, module_free(NULL), NULL));
}

Test(loader, same_module_twice)
{
	struct module *a = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good");
	struct module *b = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good:key=2");

	/* dlopen() shares the object; unloading one must leave the other usable. */
	module_free(a);
	cr_assert(eq(str, (char *)b->desc->name, "source-good"));
	cr_assert(eq(str, (char *)module_option(b, "key"), "2"));
	module_free(b);
}

/* The daemon holds all its modules at once: each must get its own descriptor, however
 * the loader names the objects it hands to dlopen(). */
Test(loader, two_modules_at_once)
{
	struct module *a = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good");
	struct module *b = assert_loads_in(dir, SCNPM_MODULE_SINK, "good");
	struct module *c;

	cr_assert(eq(str, (char *)a->desc->name, "source-good"));
	cr_assert(eq(str, (char *)b->desc->name, "sink-good"));
	module_free(a);
	c = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good");
	cr_assert(eq(str, (char *)c->desc->name, "source-good"));
	cr_assert(eq(str, (char *)b->desc->name, "sink-good"));
	module_free(b);
	module_free(c);
}

Test(loader, option_value)
{
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good:key=value");

	cr_assert(eq(str, (char *)module_option(m, "key"), "value"));
	cr_assert(eq(ptr, (void *)module_option(m, "ke"), NULL));
	cr_assert(eq(ptr, (void *)module_option(m, "keys"), NULL));
	module_free(m);
}

Test(loader, option_bare_key)
{
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good:key");

	cr_assert(eq(str, (char *)module_option(m, "key"), ""));
	module_free(m);
}

Test(loader, option_value_with_equals)
{
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good:key=a=b");

	cr_assert(eq(str, (char *)module_option(m, "key"), "a=b"));
	module_free(m);
}

Test(loader, option_given_twice)
{
	assert_refused(SCNPM_MODULE_SOURCE, "good:key=a,key=b", -EINVAL, "option 'key' given twice",
		       "scnpm-source-good.so");
}

Test(loader, option_empty_list)
{
	struct module *m = assert_loads_in(dir, SCNPM_MODULE_SOURCE, "good:");

	cr_assert(eq(ptr, (void *)module_option(m, "key"), NULL));
	module_free(m);
}

/* ---- refusals ---- */

Test(loader, no_such_module)
{
	assert_refused(SCNPM_MODULE_SOURCE, "nosuch", -ENOENT, "no such module",
		       "scnpm-source-nosuch.so", dir);
}

Test(loader, no_such_module_names_every_dir)
{
	_cleanup_free_ char *path = NULL;

	cr_assert(ge(int, asprintf(&path, "/nonexistent-a:%s:/nonexistent-b", dir), 0));
	assert_refused_in(path, SCNPM_MODULE_SINK, "nosuch", -ENOENT, "scnpm-sink-nosuch.so",
			  "/nonexistent-a", dir, "/nonexistent-b", NULL);
}

/* A source named "good" is not the sink "good" and the other way round. */
Test(loader, kind_selects_file)
{
	assert_refused(SCNPM_MODULE_SINK, "abi2", -ENOENT, "scnpm-sink-abi2.so");
}

Test(loader, name_with_slash)
{
	assert_refused(SCNPM_MODULE_SOURCE, "../bad-modules/scnpm-source-good", -EINVAL, "'/'",
		       "../bad-modules/scnpm-source-good");
	assert_refused(SCNPM_MODULE_SINK, "/usr/lib/evil:key=1", -EINVAL, "'/'", "/usr/lib/evil");
}

Test(loader, name_invalid)
{
	assert_refused(SCNPM_MODULE_SOURCE, "", -EINVAL, "invalid module name");
	assert_refused(SCNPM_MODULE_SOURCE, ":key=1", -EINVAL, "invalid module name");
	assert_refused(SCNPM_MODULE_SOURCE, "go od", -EINVAL, "invalid module name");
	assert_refused(SCNPM_MODULE_SOURCE, "..", -EINVAL, "invalid module name");
	assert_refused(SCNPM_MODULE_SOURCE, "good\n", -EINVAL, "invalid module name", "\\x0a");
}

Test(loader, not_an_scnpm_module)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-nosym.so");

	assert_refused(SCNPM_MODULE_SOURCE, "nosym", -ENOEXEC, path, "not an scnpm module",
		       SCNPM_MODULE_SYMBOL);
}

Test(loader, not_a_shared_object)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-text.so");
	FILE *f = fopen(path, "we");

	cr_assert(ne(ptr, f, NULL));
	fputs("#!/bin/sh\necho not a module\n", f);
	cr_assert(eq(int, fclose(f), 0));
	cr_assert(eq(int, chmod(path, 0755), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "text", -ENOEXEC, path, "refusing module",
		       "not an ELF file");
}

/* ---- ELF headers against the file: a module cut short must be refused, not mapped
 * (ld.so touching a page past the end of the file is SIGBUS) ---- */

static void truncate_to(const char *path, off_t size)
{
	cr_assert(eq(int, truncate(path, size), 0), "truncate(%s, %jd): %s", path, (intmax_t)size,
		  strerror(errno));
}

static void patch(const char *path, off_t off, const void *data, size_t n)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(sz, (size_t)pwrite(fd, data, n, off), n));
}

Test(loader, truncated_module)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");
	_cleanup_free_ char *orig = fixture_path(BAD_MODULES_DIR, "scnpm-source-good.so");
	static const off_t sizes[] = {0, 1, 63, 64, 1024, 4096, 8192, 12288, 16384};
	struct stat st;

	cr_assert(eq(int, stat(orig, &st), 0));
	for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
		cr_assert(lt(i64, (int64_t)sizes[i], (int64_t)st.st_size));
		copy_file(orig, path, 0755);
		truncate_to(path, sizes[i]);
		if (sizes[i] < 4)
			assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path,
				       "refusing module", "not an ELF file");
		else
			assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path,
				       "refusing module", "truncated");
	}
	/* one byte short of the whole file */
	copy_file(orig, path, 0755);
	truncate_to(path, st.st_size - 1);
	assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path, "truncated", "section headers");
}

Test(loader, program_headers_past_the_end)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");
	struct stat st;
	ElfW(Off) off;

	cr_assert(eq(int, stat(path, &st), 0));
	off = (ElfW(Off))st.st_size - 8;
	patch(path, offsetof(ElfW(Ehdr), e_phoff), &off, sizeof(off));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path, "truncated", "program headers");
}

Test(loader, not_a_shared_object_type)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");
	ElfW(Half) type = ET_EXEC;

	patch(path, offsetof(ElfW(Ehdr), e_type), &type, sizeof(type));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path, "not a shared object");
}

Test(loader, other_machine)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");
	ElfW(Half) machine = EM_S390;

	patch(path, offsetof(ElfW(Ehdr), e_machine), &machine, sizeof(machine));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -ENOEXEC, path, "another machine");
}

/* ---- who could have written the module's directory ---- */

static char *make_subdir(const char *parent, const char *name, mode_t mode)
{
	char *d = fixture_path(parent, name);

	cr_assert(eq(int, mkdir(d, 0700), 0), "mkdir(%s): %s", d, strerror(errno));
	cr_assert(eq(int, chmod(d, mode), 0));
	return d;
}

static void copy_good_source(const char *to_dir)
{
	_cleanup_free_ char *from = fixture_path(dir, "scnpm-source-good.so");
	_cleanup_free_ char *to = fixture_path(to_dir, "scnpm-source-good.so");

	copy_file(from, to, 0755);
}

Test(loader, directory_world_writable)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	cr_assert(eq(int, chmod(dir, 0777), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "refusing module", dir,
		       "writable by everyone", "0777");
}

Test(loader, directory_group_writable)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	cr_assert(eq(int, chmod(dir, 0775), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "refusing module", dir,
		       "writable by its group");
}

/* Sticky is fine above the module directory (/tmp), not for the directory itself:
 * anyone could add a module there. */
Test(loader, directory_sticky)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	cr_assert(eq(int, chmod(dir, 01777), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "writable by everyone", "1777");
}

Test(loader, sticky_ancestor)
{
	_cleanup_free_ char *top = make_subdir(dir, "tmp", 01777);
	_cleanup_free_ char *mods = make_subdir(top, "mods", 0755);
	struct module *m;

	copy_good_source(mods);
	m = assert_loads_in(mods, SCNPM_MODULE_SOURCE, "good");
	module_free(m);
}

Test(loader, ancestor_world_writable)
{
	_cleanup_free_ char *top = make_subdir(dir, "open", 0777);
	_cleanup_free_ char *mods = make_subdir(top, "mods", 0755);
	_cleanup_free_ char *path = fixture_path(mods, "scnpm-source-good.so");

	copy_good_source(mods);
	assert_refused_in(mods, SCNPM_MODULE_SOURCE, "good", -EPERM, path, "refusing module", top,
			  "writable by everyone", NULL);
}

Test(loader, directory_owned_by_other_user)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	require_root("chown a module directory to another uid");
	cr_assert(eq(int, chown(dir, 65534, 65534), 0), "chown: %s", strerror(errno));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "directory",
		       "owned by uid 65534");
}

/* ---- symlinks: followed, and the target is held to the same rules ---- */

/* dir/mods/scnpm-source-good.so -> dir/<other>/scnpm-source-good.so, with <other> of
 * the given mode. Returns the link's path; *ret_other and *ret_mods the directories. */
static char *make_linked_module(const char *other_name, mode_t other_mode, char **ret_other,
				char **ret_mods)
{
	_cleanup_free_ char *target = NULL;
	char *link;

	*ret_other = make_subdir(dir, other_name, other_mode);
	*ret_mods = make_subdir(dir, "mods", 0755);
	target = fixture_path(*ret_other, "scnpm-source-good.so");
	link = fixture_path(*ret_mods, "scnpm-source-good.so");
	copy_good_source(*ret_other);
	cr_assert(eq(int, symlink(target, link), 0));
	return link;
}

Test(loader, symlink_to_trusted_target)
{
	_cleanup_free_ char *other = NULL, *mods = NULL;
	_cleanup_free_ char *link = make_linked_module("elsewhere", 0755, &other, &mods);
	struct module *m;

	m = assert_loads_in(mods, SCNPM_MODULE_SOURCE, "good");
	cr_assert(eq(str, m->path, link));
	module_free(m);
}

Test(loader, symlink_to_untrusted_target)
{
	_cleanup_free_ char *other = NULL, *mods = NULL;
	_cleanup_free_ char *link = make_linked_module("open", 0777, &other, &mods);

	assert_refused_in(mods, SCNPM_MODULE_SOURCE, "good", -EPERM, link, "refusing module", other,
			  "writable by everyone", NULL);
}

Test(loader, symlink_to_untrusted_file)
{
	_cleanup_free_ char *other = NULL, *mods = NULL;
	_cleanup_free_ char *link = make_linked_module("elsewhere", 0755, &other, &mods);
	_cleanup_free_ char *target = fixture_path(other, "scnpm-source-good.so");

	cr_assert(eq(int, chmod(target, 0757), 0));
	assert_refused_in(mods, SCNPM_MODULE_SOURCE, "good", -EPERM, link, "writable", "everyone",
			  NULL);
}

/* The directory holding the symlink decides what it points to: it is checked too. */
Test(loader, symlink_in_untrusted_directory)
{
	_cleanup_free_ char *other = NULL, *mods = NULL;
	_cleanup_free_ char *link = make_linked_module("elsewhere", 0755, &other, &mods);

	cr_assert(eq(int, chmod(mods, 0777), 0));
	assert_refused_in(mods, SCNPM_MODULE_SOURCE, "good", -EPERM, link, mods,
			  "writable by everyone", NULL);
}

/* A dangling symlink is a refusal, not "module not installed" (-ENOENT would let the
 * daemon go on without a default module). */
Test(loader, symlink_dangling)
{
	_cleanup_free_ char *link = fixture_path(dir, "scnpm-source-gone.so");

	cr_assert(eq(int, symlink("/nonexistent/scnpm-source-gone.so", link), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "gone", -EPERM, link, "refusing module",
		       "cannot be resolved");
}

Test(loader, module_dir_through_symlink)
{
	_cleanup_free_ char *mods = make_subdir(dir, "mods", 0755);
	_cleanup_free_ char *link = fixture_path(dir, "mods-link");
	struct module *m;

	copy_good_source(mods);
	cr_assert(eq(int, symlink(mods, link), 0));
	m = assert_loads_in(link, SCNPM_MODULE_SOURCE, "good");
	module_free(m);
}

/* What a module calling into the daemon looks like when it escaped --no-undefined. */
Test(loader, unresolved_symbol)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-unresolved.so");

	assert_refused(SCNPM_MODULE_SOURCE, "unresolved", -EIO, path, "cannot load module",
		       "scnpm_fixture_no_such_function");
}

Test(loader, abi_mismatch)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-abi2.so");

	assert_refused(SCNPM_MODULE_SOURCE, "abi2", -EPROTONOSUPPORT, path, "ABI mismatch", "ABI 2",
		       "ABI 1");
}

Test(loader, other_abi_major_symbol)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-v2.so");

	assert_refused(SCNPM_MODULE_SOURCE, "v2", -EPROTONOSUPPORT, path, "ABI mismatch", "ABI 2",
		       "ABI 1");
}

Test(loader, wrong_kind)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-wrongkind.so");

	assert_refused(SCNPM_MODULE_SOURCE, "wrongkind", -EBADMSG, path, "wrong kind", "sink",
		       "source");
}

Test(loader, unknown_kind)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-badkind.so");

	assert_refused(SCNPM_MODULE_SOURCE, "badkind", -EBADMSG, path, "malformed", "kind 7");
}

Test(loader, short_descriptor)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-short.so");

	assert_refused(SCNPM_MODULE_SOURCE, "short", -EBADMSG, path, "malformed", "16 bytes");
}

Test(loader, null_init)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-noinit.so");

	assert_refused(SCNPM_MODULE_SOURCE, "noinit", -EBADMSG, path, "malformed", "init()");
}

Test(loader, null_done)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-nodone.so");

	assert_refused(SCNPM_MODULE_SOURCE, "nodone", -EBADMSG, path, "malformed", "done()");
}

Test(loader, null_name)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-noname.so");

	assert_refused(SCNPM_MODULE_SOURCE, "noname", -EBADMSG, path, "malformed", "name");
}

Test(loader, sink_without_apply)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-sink-noapply.so");

	assert_refused(SCNPM_MODULE_SINK, "noapply", -EBADMSG, path, "malformed", "apply()");
}

Test(loader, name_mismatch)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-misnamed.so");

	assert_refused(SCNPM_MODULE_SOURCE, "misnamed", -EBADMSG, path, "name mismatch",
		       "'source-other'", "source-misnamed");
}

Test(loader, unknown_option)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	assert_refused(SCNPM_MODULE_SOURCE, "good:key=1,nope=2", -EINVAL, path, "no option 'nope'",
		       "options: key");
}

Test(loader, option_for_module_without_options)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-sink-good.so");

	assert_refused(SCNPM_MODULE_SINK, "good:key=1", -EINVAL, path, "no option 'key'",
		       "takes no options");
}

Test(loader, group_writable)
{
	_cleanup_free_ char *d = make_dir();
	_cleanup_free_ char *from = fixture_path(dir, "scnpm-source-good.so");
	_cleanup_free_ char *path = fixture_path(d, "scnpm-source-good.so");

	copy_file(from, path, 0775);
	assert_refused_in(d, SCNPM_MODULE_SOURCE, "good", -EPERM, path, "writable", "group", NULL);
	(void)nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

Test(loader, world_writable)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	cr_assert(eq(int, chmod(path, 0757), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "writable", "everyone");
}

Test(loader, owned_by_other_user)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-good.so");

	require_root("chown a module to another uid");
	cr_assert(eq(int, chown(path, 65534, 65534), 0), "chown: %s", strerror(errno));
	cr_assert(eq(int, chmod(path, 0755), 0)); /* chown() may drop mode bits */
	assert_refused(SCNPM_MODULE_SOURCE, "good", -EPERM, path, "owned by uid 65534");
}

Test(loader, not_a_regular_file)
{
	_cleanup_free_ char *path = fixture_path(dir, "scnpm-source-dir.so");

	cr_assert(eq(int, mkdir(path, 0755), 0));
	assert_refused(SCNPM_MODULE_SOURCE, "dir", -EPERM, path, "not a regular file");
}

/* A refusal without anyone asking for the message must still be a clean refusal. */
Test(loader, no_error_pointer)
{
	struct module *m = NULL;

	cr_assert(eq(int, module_load(dir, SCNPM_MODULE_SOURCE, "abi2", &m, NULL), -EPROTONOSUPPORT));
	cr_assert(eq(int, module_load(dir, SCNPM_MODULE_SOURCE, "nosuch", &m, NULL), -ENOENT));
	cr_assert(eq(ptr, m, NULL));
}

/* ---- where modules are looked for ---- */

Test(loader, search_path_precedence)
{
	cr_assert(eq(str, (char *)module_search_path(NULL), DEFAULT_MODULE_DIR));
	cr_assert(eq(int, setenv("SCNPM_MODULE_DIR", "", 1), 0));
	cr_assert(eq(str, (char *)module_search_path(NULL), DEFAULT_MODULE_DIR));
	cr_assert(eq(int, setenv("SCNPM_MODULE_DIR", "/from/env:/and/more", 1), 0));
	cr_assert(eq(str, (char *)module_search_path(NULL), "/from/env:/and/more"));
	cr_assert(eq(str, (char *)module_search_path("/explicit"), "/explicit"));
	cr_assert(eq(int, unsetenv("SCNPM_MODULE_DIR"), 0));
	cr_assert(eq(str, (char *)module_search_path("/explicit"), "/explicit"));
}

Test(loader, env_colon_list)
{
	_cleanup_free_ char *list = NULL, *path = fixture_path(dir, "scnpm-sink-good.so");
	struct module *m;

	cr_assert(ge(int, asprintf(&list, "/nonexistent::%s:", dir), 0));
	cr_assert(eq(int, setenv("SCNPM_MODULE_DIR", list, 1), 0));
	m = assert_loads_in(module_search_path(NULL), SCNPM_MODULE_SINK, "good");
	cr_assert(eq(str, m->path, path));
	module_free(m);
}

/* The first directory of the list that has the file wins, even when that copy is refused:
 * the loader must not fall through to a later directory and load something else. */
Test(loader, first_dir_wins)
{
	_cleanup_free_ char *d = make_dir(), *list = NULL, *rlist = NULL;
	_cleanup_free_ char *from = fixture_path(dir, "scnpm-source-misnamed.so");
	_cleanup_free_ char *path = fixture_path(d, "scnpm-source-good.so");
	struct module *m;

	/* d holds a module that calls itself source-other under the name of the good one. */
	copy_file(from, path, 0755);
	cr_assert(ge(int, asprintf(&list, "%s:%s", d, dir), 0));
	cr_assert(ge(int, asprintf(&rlist, "%s:%s", dir, d), 0));

	assert_refused_in(list, SCNPM_MODULE_SOURCE, "good", -EBADMSG, path, "name mismatch", NULL);
	m = assert_loads_in(rlist, SCNPM_MODULE_SOURCE, "good");
	cr_assert(eq(str, (char *)m->desc->name, "source-good"));
	module_free(m);
	(void)nftw(d, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
