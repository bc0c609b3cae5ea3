/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * io.scnpm.Manager (io.scnpm.Manager.varlink): the daemon's side of "scnpm status".
 * Every answer looks at the cgroup tree and asks each sink to read back from the kernel
 * (sink->inspect()) what it holds for each instance, at that moment; it changes nothing.
 * The control socket is $RUNTIME_DIRECTORY/io.scnpm (/run/scnpm/io.scnpm), or the one a
 * socket unit passes.
 */

#include "manager.h"
#include "varlink.h"

#define STATUS_SOCKET_NAME "io.scnpm"

/* The interface (its IDL, for GetInterfaceDescription). */
extern const struct varlink_interface status_interface;

/* Serve io.scnpm.Manager for m: on the socket passed by systemd if there is one, else at
 * path. The server holds m and must be freed before it. */
int status_server_new(struct manager *m, const char *path, struct varlink_server **ret);

/* The methods, for tests. */
int status_get_status(struct json_object *parameters, struct varlink_reply *reply, void *userdata);
int status_describe_unit(struct json_object *parameters, struct varlink_reply *reply,
			 void *userdata);
