/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * inotify event streams through source-cgroupfs: the input is a buffer as read() from
 * the inotify fd would return it (struct inotify_event records: wd, mask, cookie, len,
 * name), handed to cgroupfs_source_process_events() of a module started once on a small
 * cgroup-like tree in a temporary directory, and rescanned after each input. The module watches
 * that tree, so small wd numbers are its real watches. Records may be truncated, have an odd or
 * huge len, a name without NUL, "..", a '/', or overflow and IGNORED markers. Besides no
 * crash: every event the module emits names a valid unit and a cgroup path of valid unit
 * names inside the tree.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include "fake-host.h"
#include "fuzz.h"
#include "source-cgroupfs.h"

extern const struct scnpm_module scnpm_module_v1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
static char root[64];
static sd_event *event;
/* One module for every input: closing an inotify fd with watches waits for the kernel
 * (an SRCU grace period, ~10 ms), which would be most of each run. */
static struct fake_host *host;
static void *state;

static const char *const tree[] = {
    "init.scope",
    "system.slice",
    "system.slice/a.service",
    "system.slice/b.service",
    "system.slice/c@1.service",
    "user.slice",
    "user.slice/user-1000.slice",
    "user.slice/user-1000.slice/session-1.scope",
    "user.slice/user-1000.slice/user@1000.service",
    "user.slice/user-1000.slice/user@1000.service/app.slice",
    "user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope",
    "user.slice/user-1000.slice/user@1000.service/init.scope",
    "not-a-unit",
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? 0 : 0;
}

static void remove_tree(void)
{
	if (state)
		scnpm_module_v1.done(state);
	host = fake_host_free(host);
	event = sd_event_unref(event);
	if (root[0])
		(void)nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(root, sizeof(root), "%s/fuzz-cgroupfs-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(root))
		abort();
	atexit(remove_tree);
	for (size_t i = 0; i < sizeof(tree) / sizeof(tree[0]); i++) {
		char p[256];

		snprintf(p, sizeof(p), "%s/%s", root, tree[i]);
		if (mkdir(p, 0755) < 0)
			abort();
	}
	if (sd_event_new(&event) < 0)
		abort();
	host = fake_host_new(event, "source-cgroupfs");
	host->echo = FAKE_HOST_ECHO_NONE;
	fake_host_set_option(host, "root", root);
	if (scnpm_module_v1.init(&host->host, &state) < 0 || scnpm_module_v1.start(state) < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	void *buf;

	if (size > 1 << 16)
		return 0;
	fake_host_clear_events(host);
	fake_host_clear_logs(host);

	buf = fuzz_dup(data, size);
	cgroupfs_source_process_events(state, buf, size);
	free(buf);

	for (size_t i = 0; i < host->n_events; i++) {
		const struct fake_event *e = &host->events[i];

		if (!scnpm_unit_name_is_valid(e->unit) || !e->cgroup_path ||
		    scnpm_cgroup_path_level(e->cgroup_path) == 0)
			abort();
	}
	/* Back to the state every input starts from: the tree known and watched again (a
	 * dropped watch comes back with its old wd: the kernel still holds it). */
	if (cgroupfs_source_rescan(state) < 0)
		abort();
	return 0;
}
