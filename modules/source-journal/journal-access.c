/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <scnpm/cleanup.h>

#include "journal-access.h"

int journal_access_check(const char *root, sd_id128_t machine_id, char **ret_path)
{
	static const char *const dirs[] = {"run/log/journal", "var/log/journal"};
	_cleanup_free_ char *denied = NULL;
	char id[SD_ID128_STRING_MAX];
	int denied_r = 0;

	if (!root || !*root)
		return -EINVAL;
	(void)sd_id128_to_string(machine_id, id);

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		_cleanup_close_ int fd = -EBADF;
		_cleanup_free_ char *path = NULL;
		const char *sep = root[strlen(root) - 1] == '/' ? "" : "/";

		if (asprintf(&path, "%s%s%s/%s/system.journal", root, sep, dirs[i], id) < 0)
			return -ENOMEM;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0)
			return 0;
		if (errno == ENOENT || errno == ENOTDIR)
			continue;
		if (errno != EACCES && errno != EPERM)
			return -errno;
		if (!denied) {
			denied_r = -errno;
			denied = TAKE_PTR(path);
		}
	}

	if (!denied)
		return -ENOENT;
	if (ret_path)
		*ret_path = TAKE_PTR(denied);
	return denied_r;
}
