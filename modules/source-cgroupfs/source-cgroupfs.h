/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SOURCE_CGROUPFS_H
#define SCNPM_SOURCE_CGROUPFS_H

/*
 * Internal entry points of source-cgroupfs.c, for its tests only. They are what the
 * module's own sd-event callbacks call; the built module exports none of them
 * (gnu_symbol_visibility: 'hidden').
 */

#include <stddef.h>

struct cgroupfs_source;

/* Process a buffer of struct inotify_event records as read from the inotify fd (the
 * I/O callback calls this for every read). A test hands it a synthetic IN_Q_OVERFLOW. */
void cgroupfs_source_process_events(struct cgroupfs_source *s, const void *buf, size_t len);

/* Rescan the whole tree and reconcile it with what is known: STARTED for new unit
 * cgroups, STOPPED for vanished ones, watches retried where missing. 0 or -errno. */
int cgroupfs_source_rescan(struct cgroupfs_source *s);

/* Number of inotify watches held, and of directories that should have one but do not. */
unsigned cgroupfs_source_n_watches(const struct cgroupfs_source *s);
unsigned cgroupfs_source_n_unwatched(const struct cgroupfs_source *s);

#endif /* SCNPM_SOURCE_CGROUPFS_H */
