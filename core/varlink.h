/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Varlink protocol (varlink.org), server and client, over AF_UNIX stream sockets:
 * each message is one JSON object followed by a NUL byte. libsystemd 252 has no public
 * sd-varlink, so this is the wire protocol on the daemon's sd-event loop, with json-c.
 *
 * Server. One interface of the daemon's plus org.varlink.service (GetInfo,
 * GetInterfaceDescription), answered in order, per connection. Every socket is
 * non-blocking and has its own buffers, so a client that sends half a request, or
 * nothing, or does not read its replies, holds up nobody but itself. Bounds: a request
 * of at most request_max bytes (a longer one is answered with <interface>.RequestTooLarge
 * and the connection closed), at most connections_max connections (more are closed as
 * soon as they are accepted), no reading while more than output_high bytes of replies
 * wait for the client, and a connection that makes no progress for idle_usec is closed.
 * A message that is not a JSON object is answered with <interface>.InvalidRequest and the
 * connection closed; a well-formed call with bad fields with
 * org.varlink.service.InvalidParameter. Peers other than root and our own uid are
 * turned away (the socket file is 0600 as well). Methods are called synchronously and
 * must not change the daemon's state.
 *
 * Client. One call, blocking, bounded by a timeout: for "scnpm status".
 */

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-event.h>

#define VARLINK_ERROR_INTERFACE_NOT_FOUND "org.varlink.service.InterfaceNotFound"
#define VARLINK_ERROR_METHOD_NOT_FOUND "org.varlink.service.MethodNotFound"
#define VARLINK_ERROR_METHOD_NOT_IMPLEMENTED "org.varlink.service.MethodNotImplemented"
#define VARLINK_ERROR_INVALID_PARAMETER "org.varlink.service.InvalidParameter"

/* What a method answers: parameters (owned by the reply; NULL is {}), and for an error
 * its name (static, "org.varlink.service.InvalidParameter" or one of the interface's). */
struct varlink_reply {
	struct json_object *parameters;
	const char *error;
};

/* 0 with reply filled in, or -errno (the connection is then closed). parameters is the
 * call's, never NULL, borrowed. */
typedef int (*varlink_method_t)(struct json_object *parameters, struct varlink_reply *reply,
				void *userdata);

struct varlink_method {
	const char *name;	/* "GetStatus" */
	varlink_method_t call;
};

struct varlink_interface {
	const char *name;		/* "io.scnpm.Manager"; its IDL declares
					 * InvalidRequest(reason: string) and
					 * RequestTooLarge(limit: int) */
	const char *description;	/* the IDL, for GetInterfaceDescription */
	const struct varlink_method *methods;	/* ends with { NULL } */
	const char *product, *version, *url;	/* for GetInfo */
};

struct varlink_limits {
	size_t request_max;		/* bytes of one request, NUL excluded */
	unsigned connections_max;
	size_t output_high;		/* bytes of replies waiting before reading stops */
	uint64_t idle_usec;		/* no progress for this long: closed */
};

#define VARLINK_LIMITS_DEFAULT                                                                \
	((struct varlink_limits){ .request_max = 64 * 1024, .connections_max = 64,             \
				  .output_high = 1024 * 1024, .idle_usec = 60 * 1000000ULL })

struct varlink_server;

/* iface is borrowed and must outlive the server; userdata goes to its methods. */
int varlink_server_new(sd_event *e, const struct varlink_interface *iface, void *userdata,
		       struct varlink_server **ret);
void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *limits);
/* Create the socket at path, mode 0600, and serve it. An earlier one nobody answers on
 * is replaced; -EADDRINUSE when a live server answers there. */
int varlink_server_listen(struct varlink_server *s, const char *path);
/* Serve a listening socket passed in (socket activation); takes the fd. */
int varlink_server_listen_fd(struct varlink_server *s, int fd);
unsigned varlink_server_n_connections(const struct varlink_server *s);
/* Closes every connection, removes the socket file it created. Accepts NULL. */
struct varlink_server *varlink_server_free(struct varlink_server *s);

/* Call method ("io.scnpm.Manager.GetStatus") on the server at path with parameters
 * (borrowed; NULL: {}), waiting at most timeout_usec in all, and reading a reply of at
 * most reply_max bytes. On success returns 0 with the reply's parameters in
 * *ret_parameters and, when it is an error, its name in *ret_error (both owned by the
 * caller; *ret_error NULL otherwise). -errno when there is no reply: -ENOENT (no socket),
 * -EACCES, -ECONNREFUSED, -ETIMEDOUT, -EBADMSG (not a Varlink reply), -EFBIG. */
int varlink_call(const char *path, const char *method, struct json_object *parameters,
		 uint64_t timeout_usec, size_t reply_max, struct json_object **ret_parameters,
		 char **ret_error);

static inline void json_object_putp(struct json_object **p)
{
	json_object_put(*p);
}

/* A JSON object from exactly len bytes of text, or NULL (not JSON, not an object,
 * trailing bytes, nested deeper than 32, invalid UTF-8). */
struct json_object *varlink_parse_object(const char *text, size_t len);
