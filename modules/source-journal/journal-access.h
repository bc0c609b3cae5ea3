/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_JOURNAL_ACCESS_H
#define SCNPM_JOURNAL_ACCESS_H

#include <systemd/sd-id128.h>

/*
 * Can this process read the system journal? sd_journal_open() does not say: it silently
 * opens only the files it may read (a user's own user-UID.journal), so a daemon started
 * without the right group would follow nothing and never notice.
 *
 * Probes ROOT/run/log/journal/MACHINE/system.journal and
 * ROOT/var/log/journal/MACHINE/system.journal by opening them. Returns
 *   0        at least one of them could be opened for reading;
 *   -EACCES  (or -EPERM) one exists but none could be opened; *ret_path, when
 *            ret_path is not NULL, receives the first refused path (free() it);
 *   -ENOENT  neither exists (no journald, or Storage=none);
 *   other -errno on failure.
 * root is "/" except in tests. Non-logging.
 */
int journal_access_check(const char *root, sd_id128_t machine_id, char **ret_path);

#endif /* SCNPM_JOURNAL_ACCESS_H */
