/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-freeze.h"
#include "macro.h"
#include "util.h"

int cgroup_events_parse(const char *text, int *ret_populated, int *ret_frozen)
{
	int populated = -1, frozen = -1;

	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		const char *sp = memchr(p, ' ', n);
		int v;

		if (n == 0) {
			p++;
			continue;
		}
		if (!sp || sp + 2 != p + n || (sp[1] != '0' && sp[1] != '1'))
			return -EINVAL;
		v = sp[1] - '0';
		if ((size_t)(sp - p) == strlen("populated") && strneq(p, "populated", sp - p))
			populated = v;
		else if ((size_t)(sp - p) == strlen("frozen") && strneq(p, "frozen", sp - p))
			frozen = v;
		p += n;
		if (*p == '\n')
			p++;
	}
	*ret_populated = populated;
	*ret_frozen = frozen;
	return 0;
}

int cgroup_open(int root_fd, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	int dir = root_fd;

	if (!path || !*path || *path == '/')
		return -EINVAL;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		_cleanup_free_ char *c = strndup(p, n);
		int next;

		if (!c)
			return -ENOMEM;
		if (n == 0 || streq(c, ".") || streq(c, ".."))
			return -EINVAL;
		next = openat(dir, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0)
			return -errno;
		if (fd >= 0)
			close(fd);
		fd = next;
		dir = fd;
		p += n;
		if (*p == '/')
			p++;
	}
	return TAKE_FD(fd);
}

static int read_small(int dirfd, const char *name, char *buf, size_t size)
{
	_cleanup_close_ int fd = -EBADF;
	ssize_t n;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int cgroup_read_events(int fd, int *ret_populated, int *ret_frozen)
{
	char buf[256];
	int r;

	r = read_small(fd, "cgroup.events", buf, sizeof(buf));
	if (r < 0)
		return r;
	return cgroup_events_parse(buf, ret_populated, ret_frozen);
}

int cgroup_read_freeze(int fd)
{
	char buf[16];
	int r;

	r = read_small(fd, "cgroup.freeze", buf, sizeof(buf));
	if (r < 0)
		return r;
	if ((buf[0] != '0' && buf[0] != '1') || (buf[1] != '\0' && buf[1] != '\n'))
		return -EINVAL;
	return buf[0] - '0';
}

int cgroup_write_freeze(int fd, bool freeze)
{
	_cleanup_close_ int f = -EBADF;

	f = openat(fd, "cgroup.freeze", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0)
		return -errno;
	if (write(f, freeze ? "1" : "0", 1) != 1)
		return errno > 0 ? -errno : -EIO;
	return 0;
}
