/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The fixture of the core's router tests (test-manager.c, test-status.c): a manager
 * with the stand-in source and sink of tests/lib, events through a pipe, the sink's log
 * and held state, and a cgroup tree of the right shape in a temporary directory
 * (--cgroup-root). Test code: failures are cr_assert()s.
 */

#include <stdbool.h>

#include "manager.h"

struct fixture {
	sd_event *e;
	struct manager *m;
	int pipe[2];
	char dir[64];
	char log[128], conf[128], cg[128];
	char **logs; /* captured daemon messages */
	char **fields; /* and their structured fields, one "MESSAGE_ID UNIT MANAGER:UID FILE:LINE" each */
	char *files[2];
};

extern struct fixture fx;

void fixture_setup(void);
void fixture_teardown(void);

/* Build a manager with the test modules and start it; returns manager_start()'s result. */
int start(const char *conf, struct manager_options opt, const char *sink_extra);
/* One line to the stand-in source ("started\tsystem\ta.service\t..."). */
void send_event(const char *line);
/* mkdir -p / "rmdir" of a cgroup below the fake root. */
void mkcg(const char *path);
void rmcg(const char *path);
/* Run until the loop has nothing more to do right now. */
void run_pending(void);

bool logged(const char *substring);
unsigned logged_fields(const char *substring);
void write_file(const char *path, const char *text);
char *read_file(const char *path);
unsigned count(const char *path, const char *substring);
char *held(void);
bool holds(const char *substring);
