/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the loader checks before it lets the dynamic loader near a module file:
 *
 *  - the file's ELF header and program headers against the file's size, so that a file
 *    cut short (a partial write during an upgrade, a full disk) is refused with a line
 *    naming it, instead of the daemon dying of SIGBUS when ld.so touches a page past
 *    the end of the file;
 *  - who could have written it: the module directory and every directory up to it must
 *    be owned by root or the daemon's euid and writable by nobody else. An ancestor
 *    (not the module directory itself) may be writable by others when it is sticky,
 *    as /tmp is: others can add entries there but cannot rename or replace ours.
 *
 * The ELF checks are pure (no I/O), for the fuzz target; module_open_checked() does the
 * file system half. Neither logs: refusals come back as -errno and a reason.
 */

#include <link.h>
#include <stddef.h>
#include <stdint.h>

/* Most program headers a module may have; real ones have about ten. */
#define MODULE_ELF_PHNUM_MAX 512

/* Is eh (the file's first sizeof(ElfW(Ehdr)) bytes, or fewer when file_size is smaller)
 * the header of a shared object for this machine whose program header table lies within
 * the file? 0, or -ENOEXEC with a reason in why. */
int module_elf_check_header(const ElfW(Ehdr) * eh, uint64_t file_size, char *why, size_t why_size);

/* Do the n program headers (from the header module_elf_check_header() accepted) describe
 * segments that lie within the file, with a dynamic section inside a loaded segment?
 * 0, or -ENOEXEC with a reason in why. */
int module_elf_check_phdrs(const ElfW(Phdr) * ph, size_t n, uint64_t file_size, char *why,
			   size_t why_size);

/* Both, reading the open file fd with pread(). 0, -ENOEXEC (reason in why) or -errno. */
int module_elf_check_fd(int fd, char *why, size_t why_size);

/*
 * Open path (a module file found in the module search path) for reading, refusing
 * (-EPERM, reason in why) when its directory or one above it, or the file itself, could
 * have been written by someone other than root or the daemon's euid. A symlink is
 * followed, and its target is held to the same rules (its directory and every one above
 * it); the directory holding the symlink must pass them too. Components are opened one
 * at a time without following symlinks, so nothing can be swapped in between the checks
 * and the open. Returns the fd (O_RDONLY | O_CLOEXEC) or -errno.
 */
int module_open_checked(const char *path, char *why, size_t why_size);
