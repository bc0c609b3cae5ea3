/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Varlink server: the listening socket, one struct connection per client with its
 * own input and output buffers, framing (NUL-terminated JSON objects), and the dispatch
 * of each call to org.varlink.service or the daemon's interface. See varlink.h for the
 * bounds it keeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"
#include "varlink.h"

#define VARLINK_READ_SIZE (16U * 1024U)
#define VARLINK_METHOD_NAME_MAX 255U

static const char org_varlink_service_idl[] =
	"# The interface every Varlink service offers: who it is and what it speaks.\n"
	"interface org.varlink.service\n"
	"\n"
	"# The service, and the interfaces it implements.\n"
	"method GetInfo() -> (\n"
	"  vendor: string,\n"
	"  product: string,\n"
	"  version: string,\n"
	"  url: string,\n"
	"  interfaces: []string\n"
	")\n"
	"\n"
	"# The description (IDL) of one of its interfaces.\n"
	"method GetInterfaceDescription(interface: string) -> (description: string)\n"
	"\n"
	"# No such interface here.\n"
	"error InterfaceNotFound (interface: string)\n"
	"\n"
	"# No such method in the interface.\n"
	"error MethodNotFound (method: string)\n"
	"\n"
	"# The interface has the method, this service does not implement it.\n"
	"error MethodNotImplemented (method: string)\n"
	"\n"
	"# A parameter of the call is missing, of the wrong type or not known.\n"
	"error InvalidParameter (parameter: string)\n";

struct connection {
	struct varlink_server *server;
	struct connection *next, *prev;
	int fd;
	sd_event_source *io, *idle;
	char *in;		/* what was read and not yet dispatched */
	size_t n_in;
	char *out;		/* replies not yet written: out[out_done..n_out) */
	size_t n_out, out_done;
	bool read_eof;		/* the peer will send nothing more */
	bool closing;		/* close once the output is written */
};

struct varlink_server {
	sd_event *event;
	const struct varlink_interface *iface;
	void *userdata;
	struct varlink_limits limits;
	int listen_fd;
	sd_event_source *listen_source;
	char *path;		/* the socket file we created, removed at the end */
	ino_t path_ino;
	struct connection *connections;
	unsigned n_connections;
};

/* ---- connections ---- */

static void connection_free(struct connection *c)
{
	struct varlink_server *s = c->server;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->connections = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_connections--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->idle);
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static size_t connection_pending(const struct connection *c)
{
	return c->n_out - c->out_done;
}

/* Queue one message: the object's text and its NUL. */
static int connection_send(struct connection *c, struct json_object *msg)
{
	size_t len;
	const char *text = json_object_to_json_string_length(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *t;

	if (!text)
		return -ENOMEM;
	if (c->out_done > 0 && c->out_done == c->n_out)
		c->out_done = c->n_out = 0;
	t = realloc(c->out, c->n_out + len + 1);
	if (!t)
		return -ENOMEM;
	c->out = t;
	memcpy(c->out + c->n_out, text, len);
	c->n_out += len;
	c->out[c->n_out++] = '\0';
	return 0;
}

/* Reply with error name and parameters (owned; NULL: {}). */
static int connection_send_error(struct connection *c, const char *error,
				 struct json_object *parameters)
{
	struct json_object *msg = json_object_new_object();
	int r;

	if (!msg) {
		json_object_put(parameters);
		return -ENOMEM;
	}
	json_object_object_add(msg, "error", json_object_new_string(error));
	json_object_object_add(msg, "parameters", parameters ?: json_object_new_object());
	r = connection_send(c, msg);
	json_object_put(msg);
	return r;
}

static struct json_object *one_field(const char *name, struct json_object *value)
{
	struct json_object *o = json_object_new_object();

	if (o)
		json_object_object_add(o, name, value);
	else
		json_object_put(value);
	return o;
}

static int connection_send_error_str(struct connection *c, const char *error, const char *field,
				     const char *value)
{
	return connection_send_error(c, error, one_field(field, json_object_new_string(value)));
}

/* A message we cannot take apart: say why, then hang up (the framing may be lost). */
static int connection_protocol_error(struct connection *c, const char *error,
				     struct json_object *parameters)
{
	_cleanup_free_ char *name = NULL;

	c->closing = true;
	if (asprintf(&name, "%s.%s", c->server->iface->name, error) < 0) {
		json_object_put(parameters);
		return -ENOMEM;
	}
	return connection_send_error(c, name, parameters);
}

/* ---- org.varlink.service ---- */

static int service_get_info(struct varlink_server *s, struct json_object *parameters,
			    struct varlink_reply *reply)
{
	struct json_object *p, *list;

	json_object_object_foreach(parameters, key, val) {
		(void)val;
		reply->error = VARLINK_ERROR_INVALID_PARAMETER;
		reply->parameters = one_field("parameter", json_object_new_string(key));
		return 0;
	}
	p = json_object_new_object();
	list = json_object_new_array();
	if (!p || !list) {
		json_object_put(p);
		json_object_put(list);
		return -ENOMEM;
	}
	json_object_array_add(list, json_object_new_string("org.varlink.service"));
	json_object_array_add(list, json_object_new_string(s->iface->name));
	json_object_object_add(p, "vendor", json_object_new_string(s->iface->product));
	json_object_object_add(p, "product", json_object_new_string(s->iface->product));
	json_object_object_add(p, "version", json_object_new_string(s->iface->version));
	json_object_object_add(p, "url", json_object_new_string(s->iface->url));
	json_object_object_add(p, "interfaces", list);
	reply->parameters = p;
	return 0;
}

static int service_get_description(struct varlink_server *s, struct json_object *parameters,
				   struct varlink_reply *reply)
{
	struct json_object *v = NULL;
	const char *name, *description = NULL;

	json_object_object_foreach(parameters, key, val) {
		(void)val;
		if (!streq(key, "interface"))
			goto invalid;
	}
	if (!json_object_object_get_ex(parameters, "interface", &v) ||
	    !json_object_is_type(v, json_type_string))
		goto invalid;
	name = json_object_get_string(v);
	if (streq(name, "org.varlink.service"))
		description = org_varlink_service_idl;
	else if (streq(name, s->iface->name))
		description = s->iface->description;
	if (!description) {
		reply->error = VARLINK_ERROR_INTERFACE_NOT_FOUND;
		reply->parameters = one_field("interface", json_object_new_string(name));
		return 0;
	}
	reply->parameters = one_field("description", json_object_new_string(description));
	return reply->parameters ? 0 : -ENOMEM;

invalid:
	reply->error = VARLINK_ERROR_INVALID_PARAMETER;
	reply->parameters = one_field("parameter", json_object_new_string("interface"));
	return 0;
}

/* ---- calls ---- */

static bool method_name_is_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= VARLINK_METHOD_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.") == n &&
	       strchr(s, '.') && s[0] != '.' && s[n - 1] != '.';
}

/* Run the method named; fills reply (a reply, or an error). */
static int connection_call(struct connection *c, const char *method, struct json_object *params,
			   struct varlink_reply *reply)
{
	struct varlink_server *s = c->server;
	const char *dot = strrchr(method, '.'), *name = dot + 1;
	size_t n_iface = (size_t)(dot - method);

	if (n_iface == strlen("org.varlink.service") &&
	    strneq(method, "org.varlink.service", n_iface)) {
		if (streq(name, "GetInfo"))
			return service_get_info(s, params, reply);
		if (streq(name, "GetInterfaceDescription"))
			return service_get_description(s, params, reply);
	} else if (n_iface == strlen(s->iface->name) && strneq(method, s->iface->name, n_iface)) {
		for (const struct varlink_method *m = s->iface->methods; m->name; m++)
			if (streq(m->name, name))
				return m->call(params, reply, s->userdata);
	} else {
		reply->error = VARLINK_ERROR_INTERFACE_NOT_FOUND;
		reply->parameters = one_field("interface", json_object_new_string_len(method, (int)n_iface));
		return 0;
	}
	reply->error = VARLINK_ERROR_METHOD_NOT_FOUND;
	reply->parameters = one_field("method", json_object_new_string(method));
	return 0;
}

/* A boolean member of the call, false when absent; -EINVAL when of another type. */
static int get_flag(struct json_object *msg, const char *key, bool *ret)
{
	struct json_object *v;

	*ret = false;
	if (!json_object_object_get_ex(msg, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return -EINVAL;
	*ret = json_object_get_boolean(v);
	return 0;
}

/* One message, text[0..len) without its NUL. */
static int connection_dispatch(struct connection *c, const char *text, size_t len)
{
	_cleanup_(json_object_putp) struct json_object *msg = varlink_parse_object(text, len);
	struct json_object *v, *params = NULL, *out;
	struct varlink_reply reply = {};
	bool oneway, more, upgrade;
	const char *method;
	int r;

	if (!msg)
		return connection_protocol_error(
			c, "InvalidRequest",
			one_field("reason", json_object_new_string("not a JSON object")));
	if (!json_object_object_get_ex(msg, "method", &v) || !json_object_is_type(v, json_type_string) ||
	    !method_name_is_valid(json_object_get_string(v)))
		return connection_send_error_str(c, VARLINK_ERROR_INVALID_PARAMETER, "parameter", "method");
	method = json_object_get_string(v);
	if (json_object_object_get_ex(msg, "parameters", &params) &&
	    !json_object_is_type(params, json_type_null) &&
	    !json_object_is_type(params, json_type_object))
		return connection_send_error_str(c, VARLINK_ERROR_INVALID_PARAMETER, "parameter",
						 "parameters");
	if (get_flag(msg, "oneway", &oneway) < 0 || get_flag(msg, "more", &more) < 0 ||
	    get_flag(msg, "upgrade", &upgrade) < 0 || (oneway && more))
		return connection_send_error_str(c, VARLINK_ERROR_INVALID_PARAMETER, "parameter",
						 oneway && more ? "more" : "oneway");
	if (upgrade)
		return connection_send_error_str(c, VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "method",
						 method);

	if (!params || json_object_is_type(params, json_type_null)) {
		params = json_object_new_object();
		if (!params)
			return -ENOMEM;
		json_object_object_add(msg, "parameters", params); /* freed with msg */
	}
	r = connection_call(c, method, params, &reply);
	if (r < 0) {
		json_object_put(reply.parameters);
		return log_debug_errno(r, "Varlink call %s failed, closing the connection: %m", method);
	}
	if (oneway) {
		/* "more" with a single reply needs nothing special: no "continues". */
		json_object_put(reply.parameters);
		return 0;
	}
	if (reply.error)
		return connection_send_error(c, reply.error, reply.parameters);
	out = one_field("parameters", reply.parameters ?: json_object_new_object());
	if (!out)
		return -ENOMEM;
	r = connection_send(c, out);
	json_object_put(out);
	return r;
}

/* Dispatch every complete message in the input, as long as the output has room. */
static int connection_process(struct connection *c)
{
	size_t done = 0;
	int r = 0;

	while (!c->closing && connection_pending(c) <= c->server->limits.output_high) {
		char *end = memchr(c->in + done, '\0', c->n_in - done);

		if (!end)
			break;
		if ((size_t)(end - (c->in + done)) > c->server->limits.request_max) {
			r = connection_protocol_error(
				c, "RequestTooLarge",
				one_field("limit", json_object_new_uint64(c->server->limits.request_max)));
			break;
		}
		r = connection_dispatch(c, c->in + done, (size_t)(end - (c->in + done)));
		done = (size_t)(end - c->in) + 1;
		if (r < 0)
			break;
	}
	if (r >= 0 && !c->closing && c->n_in - done > c->server->limits.request_max)
		/* no NUL within the limit: whatever follows, it is too long */
		r = connection_protocol_error(
			c, "RequestTooLarge",
			one_field("limit", json_object_new_uint64(c->server->limits.request_max)));
	memmove(c->in, c->in + done, c->n_in - done);
	c->n_in -= done;
	return r;
}

static int connection_write(struct connection *c)
{
	while (connection_pending(c) > 0) {
		ssize_t k = send(c->fd, c->out + c->out_done, connection_pending(c),
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->out_done += (size_t)k;
	}
	return 0;
}

static int connection_read(struct connection *c)
{
	/* room for one request and its NUL beyond what is buffered, never more */
	size_t room = c->server->limits.request_max + 1 - MIN(c->n_in, c->server->limits.request_max);
	ssize_t k;
	char *t;

	room = MIN(room, (size_t)VARLINK_READ_SIZE);
	t = realloc(c->in, c->n_in + room);
	if (!t)
		return -ENOMEM;
	c->in = t;
	k = recv(c->fd, c->in + c->n_in, room, MSG_DONTWAIT);
	if (k < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (k == 0)
		c->read_eof = true;
	c->n_in += (size_t)k;
	return 1;
}

static void connection_touch(struct connection *c)
{
	(void)sd_event_source_set_time_relative(c->idle, c->server->limits.idle_usec);
}

/* Read what there is, answer, write what can be written, and say what to wait for. */
static int connection_run(struct connection *c, uint32_t revents)
{
	bool reading;
	int r;

	if (revents & EPOLLOUT) {
		size_t before = connection_pending(c);

		r = connection_write(c);
		if (r < 0)
			return r;
		if (connection_pending(c) < before)
			connection_touch(c);
	}
	if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->read_eof && !c->closing &&
	    connection_pending(c) <= c->server->limits.output_high) {
		r = connection_read(c);
		if (r < 0)
			return r;
		if (r > 0)
			connection_touch(c);
	}
	/* what was read may hold more calls than the output had room for */
	do {
		r = connection_process(c);
		if (r < 0)
			return r;
		r = connection_write(c);
		if (r < 0)
			return r;
	} while (!c->closing && connection_pending(c) <= c->server->limits.output_high &&
		 memchr(c->in, '\0', c->n_in));
	if (connection_pending(c) == 0 && (c->closing || c->read_eof))
		return -ECONNRESET; /* done: said all there was to say */

	reading = !c->read_eof && !c->closing && connection_pending(c) <= c->server->limits.output_high;
	return sd_event_source_set_io_events(c->io, (reading ? EPOLLIN : 0) |
							    (connection_pending(c) > 0 ? EPOLLOUT : 0));
}

static int connection_on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct connection *c = userdata;

	if (connection_run(c, revents) < 0)
		connection_free(c);
	return 0;
}

static int connection_on_idle(sd_event_source *es, uint64_t usec, void *userdata)
{
	log_debug("Varlink connection idle for too long, closing it");
	connection_free(userdata);
	return 0;
}

/* Root and the daemon's own user only: the socket's mode says so, and so do we, should
 * it come from a socket unit with another mode. */
static bool peer_is_allowed(int fd)
{
	struct ucred cred;
	socklen_t n = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static int connection_new(struct varlink_server *s, int fd)
{
	struct connection *c;
	int r;

	if (s->n_connections >= s->limits.connections_max || !peer_is_allowed(fd)) {
		log_debug("Varlink connection refused (%s)", s->n_connections >= s->limits.connections_max
								   ? "too many connections"
								   : "peer not allowed");
		close(fd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->server = s;
	c->fd = fd;
	c->next = s->connections;
	if (c->next)
		c->next->prev = c;
	s->connections = c;
	s->n_connections++;

	r = sd_event_add_io(s->event, &c->io, fd, EPOLLIN, connection_on_io, c);
	if (r >= 0)
		r = sd_event_add_time_relative(s->event, &c->idle, CLOCK_MONOTONIC, s->limits.idle_usec,
					       0, connection_on_idle, c);
	if (r < 0) {
		connection_free(c);
		return r;
	}
	(void)sd_event_source_set_description(c->io, "varlink-connection");
	(void)sd_event_source_set_description(c->idle, "varlink-idle");
	return 0;
}

static int server_on_listen(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct varlink_server *s = userdata;

	/* a bounded number per wakeup: the rest wait for the next iteration */
	for (unsigned i = 0; i < 64; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_debug_errno(-errno, "Failed to accept a Varlink connection: %m");
			break;
		}
		if (connection_new(s, cfd) < 0)
			log_oom();
	}
	return 0;
}

/* ---- the server ---- */

int varlink_server_new(sd_event *e, const struct varlink_interface *iface, void *userdata,
		       struct varlink_server **ret)
{
	struct varlink_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->event = sd_event_ref(e);
	s->iface = iface;
	s->userdata = userdata;
	s->limits = VARLINK_LIMITS_DEFAULT;
	s->listen_fd = -EBADF;
	*ret = s;
	return 0;
}

void varlink_server_set_limits(struct varlink_server *s, const struct varlink_limits *limits)
{
	s->limits = *limits;
}

int varlink_server_listen_fd(struct varlink_server *s, int fd)
{
	int r;

	if (s->listen_fd >= 0) {
		close(fd);
		return -EBUSY;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	s->listen_fd = fd;
	r = sd_event_add_io(s->event, &s->listen_source, fd, EPOLLIN, server_on_listen, s);
	if (r < 0)
		return r;
	(void)sd_event_source_set_description(s->listen_source, "varlink-listen");
	return 0;
}

static int sockaddr_from_path(const char *path, struct sockaddr_un *ret)
{
	*ret = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(ret->sun_path))
		return -ENAMETOOLONG;
	strcpy(ret->sun_path, path);
	return 0;
}

/* Is a server answering at path? */
static bool socket_is_live(const struct sockaddr_un *sa)
{
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return false;
	return connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 || errno == EAGAIN;
}

int varlink_server_listen(struct varlink_server *s, const char *path)
{
	_cleanup_close_ int fd = -EBADF;
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int r;

	r = sockaddr_from_path(path, &sa);
	if (r < 0)
		return r;
	if (socket_is_live(&sa))
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* created 0600: never a moment in which others could connect */
	old = umask(0077);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		(void)unlink(path);
		return r;
	}
	s->path = strdup(path);
	s->path_ino = st.st_ino;
	if (!s->path) {
		(void)unlink(path);
		return -ENOMEM;
	}
	return varlink_server_listen_fd(s, TAKE_FD(fd));
}

unsigned varlink_server_n_connections(const struct varlink_server *s)
{
	return s->n_connections;
}

struct varlink_server *varlink_server_free(struct varlink_server *s)
{
	struct stat st;

	if (!s)
		return NULL;
	while (s->connections)
		connection_free(s->connections);
	sd_event_source_disable_unref(s->listen_source);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	/* only our own: a successor may have put its socket there already */
	if (s->path && stat(s->path, &st) == 0 && st.st_ino == s->path_ino)
		(void)unlink(s->path);
	free(s->path);
	sd_event_unref(s->event);
	free(s);
	return NULL;
}

/* ---- messages ---- */

struct json_object *varlink_parse_object(const char *text, size_t len)
{
	struct json_tokener *tok;
	struct json_object *o;

	if (len > INT32_MAX || memchr(text, '\0', len))
		return NULL;
	tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH);
	if (!tok)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && (json_tokener_get_error(tok) != json_tokener_success ||
		  json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}
