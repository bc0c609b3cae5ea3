/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_CLEANUP_H
#define SCNPM_CLEANUP_H

/*
 * Header-only _cleanup_ helpers for modules and the core (systemd's idiom, scnpm_
 * prefixed so they cannot clash with a module's own macros). The cleanup functions keep
 * errno intact, so "return -errno" after a failed call still reports the right error.
 *
 *     _cleanup_close_ int fd = -EBADF;
 *     fd = open(path, O_RDONLY | O_CLOEXEC);
 *     if (fd < 0)
 *             return -errno;
 *     *ret = TAKE_FD(fd);
 */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void scnpm_freep(void *p)
{
	int saved = errno;
	free(*(void **)p);
	errno = saved;
}

static inline void scnpm_closep(int *fd)
{
	int saved = errno;
	if (*fd >= 0)
		(void)close(*fd);
	errno = saved;
}

/* For library destructors that do not accept NULL (libnftnl's, for one). */
#define SCNPM_DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                   \
	static inline void func##p(type *p)                                             \
	{                                                                               \
		if (*p) {                                                               \
			int _saved = errno;                                             \
			func(*p);                                                       \
			errno = _saved;                                                 \
		}                                                                       \
	}

#ifndef _cleanup_
#define _cleanup_(f) __attribute__((cleanup(f)))
#endif
#ifndef _cleanup_free_
#define _cleanup_free_ _cleanup_(scnpm_freep)
#endif
#ifndef _cleanup_close_
#define _cleanup_close_ _cleanup_(scnpm_closep)
#endif
#ifndef TAKE_PTR
#define TAKE_PTR(p)                                                                     \
	__extension__({                                                                 \
		__typeof__(p) _p = (p);                                                 \
		(p) = NULL;                                                             \
		_p;                                                                     \
	})
#endif
#ifndef TAKE_FD
#define TAKE_FD(fd)                                                                     \
	__extension__({                                                                 \
		int _fd = (fd);                                                         \
		(fd) = -EBADF;                                                          \
		_fd;                                                                    \
	})
#endif

#endif /* SCNPM_CLEANUP_H */
