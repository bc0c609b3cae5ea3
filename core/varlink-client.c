/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Varlink client: one call, one reply, on a socket of its own, bounded in time and
 * size. Blocking (poll() on a non-blocking socket): it is for command-line tools.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "util.h"
#include "varlink.h"

/* Wait until fd is ready for events, or the deadline (CLOCK_MONOTONIC µs) passed. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_usec();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)MIN((deadline - now + 999) / 1000, (uint64_t)INT32_MAX));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

/* After a send() or recv() that returned k: 1 to try again (interrupted, or ready again
 * before the deadline), 0 when k is its result, -errno. */
static int again(int fd, short events, uint64_t deadline, ssize_t k)
{
	int r;

	if (k >= 0)
		return 0;
	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN)
		return -errno;
	r = wait_fd(fd, events, deadline);
	return r < 0 ? r : 1;
}

static int connect_to(const char *path, uint64_t deadline, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -EBADF;
	socklen_t n = sizeof(int);
	int r, err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EAGAIN && errno != EINPROGRESS)
			return -errno;
		r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n) < 0)
			return -errno;
		if (err != 0)
			return -err;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len > 0) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
		int r = again(fd, POLLOUT, deadline, k);

		if (r < 0)
			return r;
		if (r > 0)
			continue;
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Read up to the first NUL; the message without it in *ret (NUL-terminated). */
static int recv_message(int fd, size_t max, uint64_t deadline, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		char *end;
		ssize_t k;
		int r;

		if (cap - n < 4096) {
			char *t;

			if (cap > max)
				return -EFBIG;
			cap = cap ? cap * 2 : 16384;
			t = realloc(buf, cap + 1);
			if (!t)
				return -ENOMEM;
			buf = t;
		}
		k = recv(fd, buf + n, cap - n, 0);
		r = again(fd, POLLIN, deadline, k);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		if (k == 0)
			return -EBADMSG; /* hung up before a whole reply */
		end = memchr(buf + n, '\0', (size_t)k);
		n += (size_t)k;
		if (end) {
			*ret_len = (size_t)(end - buf);
			*ret = TAKE_PTR(buf);
			return 0;
		}
		if (n > max)
			return -EFBIG;
	}
}

int varlink_call(const char *path, const char *method, struct json_object *parameters,
		 uint64_t timeout_usec, size_t reply_max, struct json_object **ret_parameters,
		 char **ret_error)
{
	_cleanup_(json_object_putp) struct json_object *call = json_object_new_object(),
						       *reply = NULL;
	_cleanup_free_ char *text = NULL, *error = NULL;
	uint64_t deadline = now_usec() + timeout_usec;
	_cleanup_close_ int fd = -EBADF;
	struct json_object *p = NULL, *e = NULL;
	const char *req;
	size_t len;
	int r;

	if (!call)
		return -ENOMEM;
	json_object_object_add(call, "method", json_object_new_string(method));
	json_object_object_add(call, "parameters",
			       parameters ? json_object_get(parameters) : json_object_new_object());
	req = json_object_to_json_string_length(call, JSON_C_TO_STRING_PLAIN, &len);
	if (!req)
		return -ENOMEM;

	r = connect_to(path, deadline, &fd);
	if (r < 0)
		return r;
	r = send_all(fd, req, len + 1, deadline); /* with its NUL */
	if (r < 0)
		return r;
	r = recv_message(fd, reply_max, deadline, &text, &len);
	if (r < 0)
		return r;
	reply = varlink_parse_object(text, len);
	if (!reply)
		return -EBADMSG;
	if (json_object_object_get_ex(reply, "error", &e)) {
		if (!json_object_is_type(e, json_type_string))
			return -EBADMSG;
		error = strdup(json_object_get_string(e));
		if (!error)
			return -ENOMEM;
	}
	if (json_object_object_get_ex(reply, "parameters", &p) && !json_object_is_type(p, json_type_object))
		return -EBADMSG;
	*ret_parameters = p ? json_object_get(p) : json_object_new_object();
	if (!*ret_parameters)
		return -ENOMEM;
	*ret_error = TAKE_PTR(error);
	return 0;
}
