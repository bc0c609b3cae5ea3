/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance-lock.h"
#include "log.h"
#include "util.h"

int instance_lock_take(void)
{
	_cleanup_free_ char *path = NULL;
	const char *dir = runtime_dir();
	char pid[32] = "";
	struct stat ns;
	ssize_t n;
	int fd, r;

	if (stat("/proc/self/ns/net", &ns) < 0)
		ns.st_ino = 0;
	if (asprintf(&path, "%s/netns-%" PRIu64 ".lock", dir, (uint64_t)ns.st_ino) < 0)
		return log_oom();
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return log_warning_errno(-errno, "Cannot create %s, not checking for another scnpm: %m",
					 dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return log_warning_errno(-errno, "Cannot open %s, not checking for another scnpm: %m",
					 path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK) {
			n = pread(fd, pid, sizeof(pid) - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			close(fd);
			return log_error_errno(-EBUSY,
					       "Another scnpm (PID %s) keeps the firewall of this network "
					       "namespace (lock %s); exiting",
					       *pid ? pid : "unknown", path);
		}
		close(fd);
		return log_warning_errno(r, "Cannot lock %s, not checking for another scnpm: %m", path);
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_debug_errno(-errno, "Cannot write our PID to %s, ignoring: %m", path);
	return fd;
}
