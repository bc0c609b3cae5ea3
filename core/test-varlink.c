/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Varlink transport against a server on a test loop, with a test interface: framing
 * (NUL-terminated, pipelined, split into bytes), the org.varlink.service methods, the
 * errors for what is malformed, the bounds (request size, connections, a client that
 * sends nothing or reads nothing), the socket's mode and peers, and the client.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "macro.h"
#include "util.h"
#include "varlink.h"

static unsigned n_calls;

/* Echo: its parameters back. Fail: -ENOMEM. Wrong: an error of the interface's. */
static int test_echo(struct json_object *parameters, struct varlink_reply *reply, void *userdata)
{
	n_calls++;
	reply->parameters = json_object_get(parameters);
	return 0;
}

static int test_fail(struct json_object *parameters, struct varlink_reply *reply, void *userdata)
{
	return -ENOMEM;
}

static int test_wrong(struct json_object *parameters, struct varlink_reply *reply, void *userdata)
{
	reply->error = "io.scnpm.Test.Wrong";
	return 0;
}

static const struct varlink_method test_methods[] = {
	{ "Echo", test_echo },
	{ "Fail", test_fail },
	{ "Wrong", test_wrong },
	{ NULL },
};

static const struct varlink_interface test_iface = {
	.name = "io.scnpm.Test",
	.description = "interface io.scnpm.Test\nmethod Echo() -> ()\n",
	.methods = test_methods,
	.product = "scnpm",
	.version = "test",
	.url = "man:scnpm(8)",
};

static struct {
	sd_event *e;
	struct varlink_server *s;
	char dir[64], path[128];
} fx;

static void setup(void)
{
	strcpy(fx.dir, "/tmp/scnpm-test-varlink-XXXXXX");
	cr_assert(ne(ptr, mkdtemp(fx.dir), NULL));
	snprintf(fx.path, sizeof(fx.path), "%s/io.scnpm", fx.dir);
	cr_assert(eq(int, sd_event_new(&fx.e), 0));
	cr_assert(eq(int, varlink_server_new(fx.e, &test_iface, NULL, &fx.s), 0));
	cr_assert(eq(int, varlink_server_listen(fx.s, fx.path), 0));
	n_calls = 0;
	signal(SIGPIPE, SIG_IGN);
}

static void teardown(void)
{
	varlink_server_free(fx.s);
	sd_event_unref(fx.e);
	(void)unlink(fx.path);
	(void)rmdir(fx.dir);
}

TestSuite(varlink, .init = setup, .fini = teardown);

static int client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	cr_assert(ge(int, fd, 0));
	strcpy(sa.sun_path, fx.path);
	cr_assert(eq(int, connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0), "connect: %m");
	return fd;
}

static void send_raw(int fd, const char *buf, size_t len)
{
	cr_assert(eq(long, send(fd, buf, len, MSG_NOSIGNAL), (long)len));
}

/* A message and its NUL. */
static void send_msg(int fd, const char *text)
{
	send_raw(fd, text, strlen(text) + 1);
}

/* Run the loop until the client fd has a whole message (returned) or was closed (NULL).
 * Fails after 5 s without either. */
static char *recv_msg(int fd)
{
	static char buf[1 << 20];
	static size_t n;
	static int buf_fd = -1;
	uint64_t end = now_usec() + 5 * USEC_PER_SEC;

	if (buf_fd != fd)
		n = 0, buf_fd = fd;
	for (;;) {
		char *nul = memchr(buf, '\0', n);
		ssize_t k;

		if (nul) {
			size_t l = (size_t)(nul - buf) + 1;
			char *msg = strdup(buf);

			memmove(buf, buf + l, n - l);
			n -= l;
			return msg;
		}
		k = recv(fd, buf + n, sizeof(buf) - n, MSG_DONTWAIT);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return NULL; /* ECONNRESET: closed with our data unread */
		if (k > 0) {
			n += (size_t)k;
			continue;
		}
		cr_assert(eq(int, errno, EAGAIN), "recv: %m");
		cr_assert(lt(u64, now_usec(), end), "no reply within 5 s");
		(void)sd_event_run(fx.e, 100 * USEC_PER_MSEC);
	}
}

static bool closed(int fd)
{
	char *m;

	while ((m = recv_msg(fd)))
		free(m);
	return true;
}

/* The reply to text, on a connection of its own. */
static char *call(const char *text)
{
	int fd = client();
	char *r;

	send_msg(fd, text);
	r = recv_msg(fd);
	close(fd);
	return r;
}

#define assert_contains(s, needle) cr_assert(ne(ptr, strstr((s), (needle)), NULL), "'%s' lacks '%s'", (s), (needle))

Test(varlink, get_info_lists_the_interfaces)
{
	_cleanup_free_ char *r = call("{\"method\":\"org.varlink.service.GetInfo\"}");

	cr_assert(ne(ptr, r, NULL));
	assert_contains(r, "\"interfaces\":[\"org.varlink.service\",\"io.scnpm.Test\"]");
	assert_contains(r, "\"product\":\"scnpm\"");
}

Test(varlink, get_interface_description)
{
	_cleanup_free_ char *a = call("{\"method\":\"org.varlink.service.GetInterfaceDescription\","
				      "\"parameters\":{\"interface\":\"io.scnpm.Test\"}}");
	_cleanup_free_ char *b = call("{\"method\":\"org.varlink.service.GetInterfaceDescription\","
				      "\"parameters\":{\"interface\":\"org.varlink.service\"}}");
	_cleanup_free_ char *c = call("{\"method\":\"org.varlink.service.GetInterfaceDescription\","
				      "\"parameters\":{\"interface\":\"io.nope\"}}");
	_cleanup_free_ char *d = call("{\"method\":\"org.varlink.service.GetInterfaceDescription\","
				      "\"parameters\":{\"interface\":1}}");

	cr_assert(eq(str, a, "{\"parameters\":{\"description\":\"interface io.scnpm.Test\\nmethod Echo() -> ()\\n\"}}"));
	assert_contains(b, "interface org.varlink.service\\n");
	assert_contains(c, "\"error\":\"org.varlink.service.InterfaceNotFound\"");
	assert_contains(c, "\"interface\":\"io.nope\"");
	assert_contains(d, "\"error\":\"org.varlink.service.InvalidParameter\"");
}

Test(varlink, methods_and_errors)
{
	_cleanup_free_ char *echo = call("{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"a\":[1,\"x\"]}}");
	_cleanup_free_ char *noparams = call("{\"method\":\"io.scnpm.Test.Echo\"}");
	_cleanup_free_ char *wrong = call("{\"method\":\"io.scnpm.Test.Wrong\"}");
	_cleanup_free_ char *nomethod = call("{\"method\":\"io.scnpm.Test.Nope\"}");
	_cleanup_free_ char *noiface = call("{\"method\":\"io.nope.Echo\"}");
	_cleanup_free_ char *upgrade = call("{\"method\":\"io.scnpm.Test.Echo\",\"upgrade\":true}");

	cr_assert(eq(str, echo, "{\"parameters\":{\"a\":[1,\"x\"]}}"));
	cr_assert(eq(str, noparams, "{\"parameters\":{}}"));
	cr_assert(eq(str, wrong, "{\"error\":\"io.scnpm.Test.Wrong\",\"parameters\":{}}"));
	cr_assert(eq(str, nomethod, "{\"error\":\"org.varlink.service.MethodNotFound\",\"parameters\":{\"method\":\"io.scnpm.Test.Nope\"}}"));
	cr_assert(eq(str, noiface, "{\"error\":\"org.varlink.service.InterfaceNotFound\",\"parameters\":{\"interface\":\"io.nope\"}}"));
	assert_contains(upgrade, "org.varlink.service.MethodNotImplemented");
}

Test(varlink, bad_fields_are_invalid_parameters)
{
	static const char *const calls[][2] = {
		{ "{}", "method" },
		{ "{\"method\":1}", "method" },
		{ "{\"method\":\"NoDot\"}", "method" },
		{ "{\"method\":\"io.scnpm.Test.\"}", "method" },
		{ "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":[]}", "parameters" },
		{ "{\"method\":\"io.scnpm.Test.Echo\",\"oneway\":\"yes\"}", "oneway" },
		{ "{\"method\":\"io.scnpm.Test.Echo\",\"oneway\":true,\"more\":true}", "more" },
		{ "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":1}}", "x" },
	};

	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		_cleanup_free_ char *r = call(calls[i][0]);
		char want[128];

		cr_assert(ne(ptr, r, NULL), "%s: no reply", calls[i][0]);
		snprintf(want, sizeof(want),
			 "{\"error\":\"org.varlink.service.InvalidParameter\",\"parameters\":{\"parameter\":\"%s\"}}",
			 calls[i][1]);
		cr_assert(eq(str, r, want), "%s", calls[i][0]);
	}
	cr_assert(eq(u32, n_calls, 0), "a bad call reached the method");
}

Test(varlink, malformed_json_is_answered_then_closed)
{
	static const char *const bad[] = {
		"{\"method\":", "[1,2]", "\"str\"", "{'method':'x'}", "{\"method\":\"a.b\"} x", "\xff\xfe{}",
	};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		int fd = client();
		_cleanup_free_ char *r = NULL;

		send_msg(fd, bad[i]);
		send_msg(fd, "{\"method\":\"io.scnpm.Test.Echo\"}");
		r = recv_msg(fd);
		cr_assert(ne(ptr, r, NULL), "case %zu", i);
		cr_assert(eq(str, r, "{\"error\":\"io.scnpm.Test.InvalidRequest\",\"parameters\":{\"reason\":\"not a JSON object\"}}"),
			  "case %zu: %s", i, r);
		cr_assert(closed(fd), "case %zu: still open", i);
		close(fd);
	}
	cr_assert(eq(u32, n_calls, 0), "a call after garbage was answered");
	cr_assert(eq(u32, varlink_server_n_connections(fx.s), 0));
}

Test(varlink, oversized_request_is_refused)
{
	struct varlink_limits l = VARLINK_LIMITS_DEFAULT;
	_cleanup_free_ char *big = malloc(4096);
	_cleanup_free_ char *r1 = NULL, *r2 = NULL, *r3 = NULL;
	int fd;

	l.request_max = 1024;
	varlink_server_set_limits(fx.s, &l);
	/* exactly the limit is fine */
	memset(big, ' ', 4096);
	memcpy(big, "{\"method\":\"io.scnpm.Test.Echo\"}", 31);
	big[1024] = '\0';
	fd = client();
	send_raw(fd, big, 1025);
	r1 = recv_msg(fd);
	cr_assert(eq(str, r1, "{\"parameters\":{}}"));

	/* one byte more, NUL or not: refused, and the connection goes */
	big[1024] = ' ';
	big[1025] = '\0';
	send_raw(fd, big, 1026);
	r2 = recv_msg(fd);
	cr_assert(eq(str, r2, "{\"error\":\"io.scnpm.Test.RequestTooLarge\",\"parameters\":{\"limit\":1024}}"));
	cr_assert(closed(fd));
	close(fd);

	fd = client();
	send_raw(fd, big, 4096); /* no NUL at all */
	r3 = recv_msg(fd);
	assert_contains(r3, "RequestTooLarge");
	cr_assert(closed(fd));
	close(fd);
	cr_assert(eq(u32, n_calls, 1));
}

Test(varlink, pipelined_and_split_requests)
{
	static const char two[] = "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":1}}\0"
				  "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":2}}";
	static const char one[] = "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":3}}";
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
	int fd = client();

	send_raw(fd, two, sizeof(two));
	for (size_t i = 0; i < sizeof(one); i++) {
		send_raw(fd, one + i, 1);
		(void)sd_event_run(fx.e, 0);
	}
	a = recv_msg(fd);
	b = recv_msg(fd);
	c = recv_msg(fd);
	cr_assert(eq(str, a, "{\"parameters\":{\"n\":1}}"));
	cr_assert(eq(str, b, "{\"parameters\":{\"n\":2}}"));
	cr_assert(eq(str, c, "{\"parameters\":{\"n\":3}}"));
	close(fd);
}

Test(varlink, oneway_gets_no_reply)
{
	_cleanup_free_ char *r = NULL;
	int fd = client();

	send_msg(fd, "{\"method\":\"io.scnpm.Test.Echo\",\"oneway\":true,\"parameters\":{\"n\":1}}");
	send_msg(fd, "{\"method\":\"io.scnpm.Test.Echo\",\"more\":true,\"parameters\":{\"n\":2}}");
	r = recv_msg(fd);
	cr_assert(eq(str, r, "{\"parameters\":{\"n\":2}}"));
	cr_assert(eq(u32, n_calls, 2));
	close(fd);
}

Test(varlink, a_silent_client_holds_up_nobody)
{
	int quiet = client(), half = client();
	_cleanup_free_ char *r = NULL;

	send_raw(half, "{\"method\":", 10); /* and never the rest */
	for (unsigned i = 0; i < 3; i++) {
		free(r);
		r = call("{\"method\":\"io.scnpm.Test.Echo\"}");
		cr_assert(eq(str, r, "{\"parameters\":{}}"));
	}
	while (varlink_server_n_connections(fx.s) > 2)
		(void)sd_event_run(fx.e, 100 * USEC_PER_MSEC);
	cr_assert(eq(u32, varlink_server_n_connections(fx.s), 2));
	close(quiet);
	close(half);
}

Test(varlink, concurrent_clients)
{
	int fds[32];

	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		char msg[96];

		fds[i] = client();
		snprintf(msg, sizeof(msg), "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":%zu}}", i);
		send_msg(fds[i], msg);
	}
	for (size_t i = ELEMENTSOF(fds); i > 0; i--) {
		_cleanup_free_ char *r = recv_msg(fds[i - 1]);
		char want[64];

		snprintf(want, sizeof(want), "{\"parameters\":{\"n\":%zu}}", i - 1);
		cr_assert(eq(str, r, want));
		close(fds[i - 1]);
	}
}

Test(varlink, connections_are_bounded)
{
	struct varlink_limits l = VARLINK_LIMITS_DEFAULT;
	_cleanup_free_ char *r = NULL;
	int a, b, c, d;

	l.connections_max = 2;
	varlink_server_set_limits(fx.s, &l);
	a = client();
	b = client();
	c = client();
	send_msg(c, "{\"method\":\"io.scnpm.Test.Echo\"}");
	cr_assert(closed(c), "a third connection was kept");
	cr_assert(eq(u32, varlink_server_n_connections(fx.s), 2));
	close(a);
	/* the server notices a's end when it reads it */
	d = client();
	send_msg(b, "{\"method\":\"io.scnpm.Test.Echo\"}");
	r = recv_msg(b);
	cr_assert(eq(str, r, "{\"parameters\":{}}"));
	while (varlink_server_n_connections(fx.s) > 1)
		(void)sd_event_run(fx.e, 100 * USEC_PER_MSEC);
	close(b);
	close(c);
	close(d);
}

Test(varlink, idle_connections_are_closed)
{
	struct varlink_limits l = VARLINK_LIMITS_DEFAULT;
	int fd;

	l.idle_usec = 20 * USEC_PER_MSEC;
	varlink_server_set_limits(fx.s, &l);
	fd = client();
	cr_assert(closed(fd));
	cr_assert(eq(u32, varlink_server_n_connections(fx.s), 0));
	close(fd);
}

/* A client that sends and never reads: once its replies fill the socket and output_high
 * more, the server stops reading it (so the client's sends block) instead of queueing
 * without bound, and serves everyone else meanwhile. */
Test(varlink, a_client_that_does_not_read)
{
	struct varlink_limits l = VARLINK_LIMITS_DEFAULT;
	_cleanup_free_ char *req = malloc(4096);
	char want[4096];
	unsigned sent = 0, got = 0;
	size_t len;
	int fd;

	l.output_high = 8192;
	varlink_server_set_limits(fx.s, &l);
	len = (size_t)snprintf(req, 4096, "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"pad\":\"%03000d\"}}", 0) + 1;
	snprintf(want, sizeof(want), "{\"parameters\":{\"pad\":\"%03000d\"}}", 0);
	fd = client();
	for (;;) {
		ssize_t k = send(fd, req, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		(void)sd_event_run(fx.e, 0);
		if (k < 0) {
			cr_assert(eq(int, errno, EAGAIN));
			break;
		}
		cr_assert(eq(long, k, (long)len), "short send");
		sent++;
		cr_assert(lt(u32, sent, 20000), "the server reads on and queues without bound");
	}
	for (unsigned i = 0; i < 3; i++) {
		_cleanup_free_ char *r = call("{\"method\":\"io.scnpm.Test.Echo\"}");

		cr_assert(eq(str, r, "{\"parameters\":{}}"));
	}
	/* reading now gets every reply, in order, whole */
	while (got < sent) {
		_cleanup_free_ char *r = recv_msg(fd);

		cr_assert(ne(ptr, r, NULL), "closed after %u of %u replies", got, sent);
		cr_assert(eq(str, r, want), "reply %u", got);
		got++;
	}
	close(fd);
}

Test(varlink, socket_mode_and_takeover)
{
	struct varlink_server *other = NULL;
	struct stat st;

	cr_assert(eq(int, stat(fx.path, &st), 0));
	cr_assert(eq(int, (int)(st.st_mode & 07777), 0600));
	cr_assert(eq(int, S_ISSOCK(st.st_mode), 1));
	/* a live server is not replaced */
	cr_assert(eq(int, varlink_server_new(fx.e, &test_iface, NULL, &other), 0));
	cr_assert(eq(int, varlink_server_listen(other, fx.path), -EADDRINUSE));
	varlink_server_free(other);
	cr_assert(eq(int, stat(fx.path, &st), 0), "the loser removed the winner's socket");
	/* a dead one is */
	fx.s = varlink_server_free(fx.s);
	cr_assert(eq(int, access(fx.path, F_OK), -1), "socket file left behind");
	cr_assert(eq(int, mknod(fx.path, S_IFSOCK | 0600, 0), 0));
	cr_assert(eq(int, varlink_server_new(fx.e, &test_iface, NULL, &fx.s), 0));
	cr_assert(eq(int, varlink_server_listen(fx.s, fx.path), 0));
	free(call("{\"method\":\"io.scnpm.Test.Echo\"}"));
	cr_assert(eq(u32, n_calls, 1));
}

/* Socket activation: a listening socket passed in (as systemd passes scnpm.socket's) is
 * served as it is, and left in place when the server goes: it is the socket unit's. */
Test(varlink, a_passed_socket_is_served_and_left_in_place)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	struct stat st;

	fx.s = varlink_server_free(fx.s);
	cr_assert(eq(int, access(fx.path, F_OK), -1));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(ge(int, fd, 0));
	strcpy(sa.sun_path, fx.path);
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0));
	cr_assert(eq(int, listen(fd, 16), 0));
	cr_assert(eq(int, varlink_server_new(fx.e, &test_iface, NULL, &fx.s), 0));
	cr_assert(eq(int, varlink_server_listen_fd(fx.s, fd), 0));
	cr_assert(eq(int, fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK), "the loop must not block on it");

	{
		_cleanup_free_ char *info = call("{\"method\":\"org.varlink.service.GetInfo\"}");
		_cleanup_free_ char *echo = call("{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"x\":1}}");

		assert_contains(info, "\"interfaces\":[\"org.varlink.service\",\"io.scnpm.Test\"]");
		cr_assert(eq(str, echo, "{\"parameters\":{\"x\":1}}"));
	}
	/* a second one is refused, and closed */
	cr_assert(eq(int, varlink_server_listen_fd(fx.s, dup(fd)), -EBUSY));
	fx.s = varlink_server_free(fx.s);
	cr_assert(eq(int, stat(fx.path, &st), 0), "the socket unit's socket was removed");
}

/* Every method of both interfaces on one connection, pipelined: answered in order. */
Test(varlink, every_method_on_one_connection_in_order)
{
	static const char *const calls[][2] = {
		{ "{\"method\":\"org.varlink.service.GetInfo\"}", "\"vendor\"" },
		{ "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":{\"interface\":\"io.scnpm.Test\"}}",
		  "interface io.scnpm.Test" },
		{ "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":1}}", "{\"parameters\":{\"n\":1}}" },
		{ "{\"method\":\"io.scnpm.Test.Wrong\"}", "io.scnpm.Test.Wrong" },
		{ "{\"method\":\"io.scnpm.Test.Echo\",\"parameters\":{\"n\":2}}", "{\"parameters\":{\"n\":2}}" },
	};
	int fd = client();

	for (size_t i = 0; i < ELEMENTSOF(calls); i++)
		send_msg(fd, calls[i][0]);
	for (size_t i = 0; i < ELEMENTSOF(calls); i++) {
		_cleanup_free_ char *r = recv_msg(fd);

		cr_assert(ne(ptr, r, NULL), "no reply %zu", i);
		assert_contains(r, calls[i][1]);
	}
	cr_assert(eq(u32, n_calls, 2));
	close(fd);
}

/* In a child of another uid: connect(), and send a call if connected; the exit status
 * says what happened: 0 a reply came, 1 refused by the file's mode, 2 hung up on. */
static int connect_as(uid_t uid)
{
	pid_t pid = fork();
	int status;

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char buf[256];
		int fd;

		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(3);
		strcpy(sa.sun_path, fx.path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(errno == EACCES ? 1 : 3);
		(void)!write(fd, "{\"method\":\"io.scnpm.Test.Echo\"}", 32);
		_exit(read(fd, buf, sizeof(buf)) > 0 ? 0 : 2);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		cr_assert(ge(int, w, 0));
		if (w == pid)
			break;
		(void)sd_event_run(fx.e, 10 * USEC_PER_MSEC);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(varlink, other_users_cannot_connect)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to act as another user");
	cr_assert(eq(int, chmod(fx.dir, 0755), 0));
	cr_assert(eq(int, connect_as(65534), 1), "the socket file let another user connect");
	/* a socket that lets anyone connect (a socket unit's SocketMode=) still does not
	 * serve them */
	cr_assert(eq(int, chmod(fx.path, 0666), 0));
	cr_assert(eq(int, connect_as(65534), 2), "another user was answered");
	cr_assert(eq(u32, n_calls, 0));
	cr_assert(eq(int, connect_as(0), 0));
}

/* The client, in a child, against the server on this loop. */
Test(varlink, client_call)
{
	int p[2];
	pid_t pid;
	char out[512] = "";
	ssize_t n;

	cr_assert(eq(int, pipe2(p, O_CLOEXEC | O_NONBLOCK), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct json_object *params = json_object_new_object(), *reply = NULL;
		char *error = NULL;
		int r;

		json_object_object_add(params, "x", json_object_new_int(7));
		r = varlink_call(fx.path, "io.scnpm.Test.Echo", params, 5 * USEC_PER_SEC, 1 << 20,
				 &reply, &error);
		dprintf(p[1], "%d %s %s|", r, error ?: "-", r >= 0 ? json_object_to_json_string(reply) : "");
		r = varlink_call(fx.path, "io.scnpm.Test.Wrong", NULL, 5 * USEC_PER_SEC, 1 << 20,
				 &reply, &error);
		dprintf(p[1], "%d %s|", r, error ?: "-");
		r = varlink_call(fx.path, "io.scnpm.Test.Fail", NULL, 5 * USEC_PER_SEC, 1 << 20,
				 &reply, &error);
		dprintf(p[1], "%d|", r);
		r = varlink_call("/nonexistent/io.scnpm", "io.scnpm.Test.Echo", NULL,
				 5 * USEC_PER_SEC, 1 << 20, &reply, &error);
		dprintf(p[1], "%d\n", r);
		_exit(0);
	}
	close(p[1]);
	for (size_t len = 0; !strchr(out, '\n');) {
		n = read(p[0], out + len, sizeof(out) - 1 - len);
		if (n > 0) {
			len += (size_t)n;
			out[len] = '\0';
		} else
			(void)sd_event_run(fx.e, 10 * USEC_PER_MSEC);
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	cr_assert(eq(str, out, "0 - { \"x\": 7 }|0 io.scnpm.Test.Wrong|-74|-2\n"));
}
