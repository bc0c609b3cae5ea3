/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "module-check.h"

/* The header of the running program, which the linker maps with it (GNU ld and lld
 * define the symbol): a module must be for the same class, byte order and machine. */
extern const ElfW(Ehdr) __ehdr_start __attribute__((weak, visibility("hidden")));

static int refuse_with(int r, char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse_with(int r, char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why && why_size > 0) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

/* Not a loadable module (-ENOEXEC), and not one we may trust (-EPERM). */
#define refuse(...)	 refuse_with(-ENOEXEC, __VA_ARGS__)
#define refuse_perm(...) refuse_with(-EPERM, __VA_ARGS__)

/* Does [off, off + len) lie within a file of size bytes? */
static bool range_in_file(uint64_t off, uint64_t len, uint64_t size, uint64_t *ret_end)
{
	uint64_t end;

	if (__builtin_add_overflow(off, len, &end))
		return false;
	*ret_end = end;
	return end <= size;
}

int module_elf_check_header(const ElfW(Ehdr) * eh, uint64_t file_size, char *why, size_t why_size)
{
	const ElfW(Ehdr) *self = &__ehdr_start;
	uint64_t end = 0;

	if (file_size < SELFMAG || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return refuse(why, why_size, "not an ELF file");
	if (file_size < sizeof(ElfW(Ehdr)))
		return refuse(why, why_size,
			      "truncated: %" PRIu64 " bytes, shorter than an ELF header",
			      file_size);
	if (eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))
		return refuse(why, why_size, "not a %zu-bit ELF object", sizeof(void *) * 8);
	if (eh->e_ident[EI_DATA] !=
	    (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB))
		return refuse(why, why_size, "ELF object of the other byte order");
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return refuse(why, why_size, "unknown ELF version %u",
			      (unsigned)eh->e_ident[EI_VERSION]);
	if (eh->e_type != ET_DYN)
		return refuse(why, why_size, "not a shared object (ELF type %u)",
			      (unsigned)eh->e_type);
	if (self && eh->e_machine != self->e_machine)
		return refuse(why, why_size,
			      "built for another machine (ELF machine %u, this is %u)",
			      (unsigned)eh->e_machine, (unsigned)self->e_machine);
	if (eh->e_ehsize < sizeof(ElfW(Ehdr)) || eh->e_phentsize != sizeof(ElfW(Phdr)))
		return refuse(why, why_size,
			      "malformed ELF header (header size %u, program header size %u)",
			      (unsigned)eh->e_ehsize, (unsigned)eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > MODULE_ELF_PHNUM_MAX)
		return refuse(why, why_size, "malformed ELF header: %u program headers",
			      (unsigned)eh->e_phnum);
	if (!range_in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr)), file_size,
			   &end))
		return refuse(why, why_size,
			      "truncated: the program headers end at byte %" PRIu64
			      ", the file has %" PRIu64,
			      end ?: UINT64_MAX, file_size);
	/* ld.so does not read the section headers, but they come last in the file: a file
	 * cut anywhere after its segments is caught here. */
	if (eh->e_shoff != 0 && eh->e_shnum > 0) {
		if (eh->e_shentsize != sizeof(ElfW(Shdr)))
			return refuse(why, why_size,
				      "malformed ELF header (section header size %u)",
				      (unsigned)eh->e_shentsize);
		if (!range_in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(ElfW(Shdr)),
				   file_size, &end))
			return refuse(why, why_size,
				      "truncated: the section headers end at byte %" PRIu64
				      ", the file has %" PRIu64,
				      end ?: UINT64_MAX, file_size);
	}
	return 0;
}

static const char *phdr_type_name(uint32_t type)
{
	switch (type) {
	case PT_LOAD:
		return "LOAD";
	case PT_DYNAMIC:
		return "DYNAMIC";
	case PT_INTERP:
		return "INTERP";
	case PT_NOTE:
		return "NOTE";
	case PT_TLS:
		return "TLS";
	case PT_GNU_EH_FRAME:
		return "GNU_EH_FRAME";
	default:
		return "other";
	}
}

int module_elf_check_phdrs(const ElfW(Phdr) * ph, size_t n, uint64_t file_size, char *why,
			   size_t why_size)
{
	const ElfW(Phdr) *dyn = NULL;
	size_t n_load = 0;
	uint64_t end = 0;

	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_filesz > 0 &&
		    !range_in_file(ph[i].p_offset, ph[i].p_filesz, file_size, &end))
			return refuse(why, why_size,
				      "truncated: segment %zu (%s) ends at byte %" PRIu64
				      ", the file has %" PRIu64,
				      i, phdr_type_name(ph[i].p_type), end ?: UINT64_MAX,
				      file_size);
		if (ph[i].p_type == PT_LOAD) {
			if (ph[i].p_filesz > ph[i].p_memsz)
				return refuse(why, why_size,
					      "malformed segment %zu (LOAD): %" PRIu64
					      " bytes in the file, %" PRIu64 " in memory",
					      i, (uint64_t)ph[i].p_filesz, (uint64_t)ph[i].p_memsz);
			n_load++;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			if (dyn)
				return refuse(why, why_size, "malformed: two DYNAMIC segments");
			dyn = &ph[i];
		}
	}
	if (n_load == 0)
		return refuse(why, why_size, "malformed: no LOAD segment");
	if (!dyn)
		return refuse(why, why_size, "not a dynamic shared object: no DYNAMIC segment");

	/* ld.so reads the dynamic section where it is mapped: it must lie in the file-backed
	 * part of a loaded segment. */
	for (size_t i = 0; i < n; i++) {
		uint64_t dyn_end, load_end;

		if (ph[i].p_type != PT_LOAD)
			continue;
		if (dyn->p_vaddr >= ph[i].p_vaddr &&
		    !__builtin_add_overflow(dyn->p_vaddr, dyn->p_memsz, &dyn_end) &&
		    !__builtin_add_overflow(ph[i].p_vaddr, ph[i].p_filesz, &load_end) &&
		    dyn_end <= load_end)
			return 0;
	}
	return refuse(why, why_size,
		      "malformed: the DYNAMIC segment lies outside the loaded segments");
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	ssize_t k = pread(fd, buf, n, (off_t)off);

	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : -EIO;
}

int module_elf_check_fd(int fd, char *why, size_t why_size)
{
	_cleanup_free_ ElfW(Phdr) *ph = NULL;
	ElfW(Ehdr) eh = {};
	struct stat st;
	size_t head;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	head = (uint64_t)st.st_size < sizeof(eh) ? (size_t)st.st_size : sizeof(eh);
	r = pread_full(fd, &eh, head, 0);
	if (r < 0)
		return r;
	r = module_elf_check_header(&eh, (uint64_t)st.st_size, why, why_size);
	if (r < 0)
		return r;

	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph)
		return -ENOMEM;
	r = pread_full(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff);
	if (r < 0)
		return r;
	return module_elf_check_phdrs(ph, eh.e_phnum, (uint64_t)st.st_size, why, why_size);
}

/* ---- who could have written it ---- */

static int check_dir(int fd, const char *path, size_t path_len, bool last, char *why,
		     size_t why_size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return refuse_perm(why, why_size, "'%.*s' is not a directory", (int)path_len, path);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return refuse_perm(
		    why, why_size,
		    "directory '%.*s' is owned by uid %u, not by root or the daemon's user (uid %u)",
		    (int)path_len, path, (unsigned)st.st_uid, (unsigned)geteuid());
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX)))
		return refuse_perm(why, why_size, "directory '%.*s' is writable by %s (mode %04o)",
				   (int)path_len, path,
				   st.st_mode & S_IWOTH ? "everyone" : "its group",
				   (unsigned)(st.st_mode & 07777));
	return 0;
}

/* Opens the absolute, canonical directory path one component at a time, never following
 * a symlink, checking each. Returns an O_PATH fd of it or -errno. */
static int open_trusted_dir(const char *path, char *why, size_t why_size)
{
	_cleanup_close_ int fd = -EBADF;
	const char *p = path;
	int r;

	if (*path != '/')
		return -EINVAL;
	fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = check_dir(fd, "/", 1, path[1] == '\0', why, why_size);
	if (r < 0)
		return r;

	for (;;) {
		_cleanup_free_ char *name = NULL;
		size_t n;
		int nfd;

		p += strspn(p, "/");
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		name = strndup(p, n);
		if (!name)
			return -ENOMEM;
		nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			if (errno == ELOOP || errno == ENOTDIR)
				return refuse_perm(why, why_size,
						   "'%.*s' changed while it was checked",
						   (int)(p + n - path), path);
			return -errno;
		}
		close(fd);
		fd = nfd;
		p += n;
		r = check_dir(fd, path, (size_t)(p - path), p[strspn(p, "/")] == '\0', why,
			      why_size);
		if (r < 0)
			return r;
	}
	return TAKE_FD(fd);
}

/* The directory part (a new string, "." when there is none) and the last component. */
static int split_path(const char *path, char **ret_dir, const char **ret_base)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash && slash[1] == '\0')
		return -EINVAL;
	d = !slash	    ? strdup(".")
	    : slash == path ? strdup("/")
			    : strndup(path, (size_t)(slash - path));
	if (!d)
		return -ENOMEM;
	*ret_dir = d;
	*ret_base = slash ? slash + 1 : path;
	return 0;
}

int module_open_checked(const char *path, char *why, size_t why_size)
{
	_cleanup_free_ char *abs = NULL, *dir = NULL, *real = NULL, *real_dir = NULL;
	_cleanup_close_ int dfd = -EBADF;
	const char *base;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return -errno;

	/* The directory the name was found in, resolved: it decides which file the name
	 * means, so it is checked even when the name is a symlink. */
	r = split_path(path, &dir, &base);
	if (r < 0)
		return r;
	abs = realpath(dir, NULL);
	if (!abs)
		return -errno;
	dfd = open_trusted_dir(abs, why, why_size);
	if (dfd < 0)
		return dfd;

	if (S_ISLNK(st.st_mode)) {
		real = realpath(path, NULL);
		if (!real)
			return refuse_perm(why, why_size,
					   "symlink whose target cannot be resolved (%s)",
					   strerror(errno));
		r = split_path(real, &real_dir, &base);
		if (r < 0)
			return r;
		close(dfd);
		dfd = open_trusted_dir(real_dir, why, why_size);
		if (dfd < 0)
			return dfd;
	}

	fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ELOOP)
			return refuse_perm(why, why_size, "it changed while it was checked");
		return -errno;
	}
	return fd;
}
