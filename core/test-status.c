/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * io.scnpm.Manager against the router with the stand-in modules (manager-fixture.h):
 * every instance listed with what the sink reads back, the verdicts (a unit restarted or
 * stopped behind scnpm's back, one it never heard of, a failed rule), the filters,
 * DescribeUnit, that answering changes nothing, and the socket end to end.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "applied.h"
#include "manager-fixture.h"
#include "status.h"
#include "util.h"

TestSuite(status, .init = fixture_setup, .fini = fixture_teardown);

#define USER_APP "user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope"

static const char conf[] =
	"# a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
	"# system/a.service :: add rule inet f c meta mark 1 %{unit}\n"
	"# user/app-*.scope :: add rule inet f c meta mark 2 %{cgroup}\n"
	"# system/b.service :: add rule inet f c meta mark 3 %{cgroup}\n";

/* "directives.1.instances.0.verdict": the value there as text ("" when absent). */
static const char *at(struct json_object *o, const char *path)
{
	static char buf[16384];
	char p[256], *save = NULL;

	snprintf(p, sizeof(p), "%s", path);
	for (char *k = strtok_r(p, ".", &save); k && o; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	if (!o)
		return "";
	snprintf(buf, sizeof(buf), "%s", json_object_is_type(o, json_type_string)
						 ? json_object_get_string(o)
						 : json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	return buf;
}

static struct json_object *get_status(const char *params_json)
{
	struct json_object *params = json_tokener_parse(params_json ?: "{}");
	struct varlink_reply reply = {};

	cr_assert(ne(ptr, params, NULL));
	cr_assert(eq(int, status_get_status(params, &reply, fx.m), 0));
	json_object_put(params);
	cr_assert(eq(ptr, (void *)reply.error, NULL), "error %s", reply.error);
	return reply.parameters;
}

static struct json_object *describe(const char *unit)
{
	struct json_object *params = json_object_new_object();
	struct varlink_reply reply = {};

	json_object_object_add(params, "unit", json_object_new_string(unit));
	cr_assert(eq(int, status_describe_unit(params, &reply, fx.m), 0));
	json_object_put(params);
	cr_assert(eq(ptr, (void *)reply.error, NULL), "error %s", reply.error);
	return reply.parameters;
}

static void start_conf(const char *sink_extra)
{
	mkcg("system.slice/a.service");
	cr_assert(eq(int, start(conf, (struct manager_options){ .cooldown_usec = 0 }, sink_extra), 0));
	/* started after scnpm and reported by no source (an event lost): matched by a
	 * directive, and unknown to scnpm until something tells it */
	mkcg(USER_APP);
	run_pending();
}

Test(status, every_directive_and_instance_with_what_the_kernel_holds)
{
	_cleanup_(json_object_putp) struct json_object *s = NULL;

	start_conf(NULL);
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.0.kind"), "literal"));
	cr_assert(eq(str, (char *)at(s, "directives.0.sink"), "sink-test"));
	cr_assert(eq(str, (char *)at(s, "directives.0.line"), "1"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.manager"), "any"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.cgroup"), "system.slice/a.service"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.result"), "applied"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.kernel.state"), "present"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.kernel.packets"), "7"));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.verdict"), "enforced"));
	cr_assert(eq(str, (char *)at(s, "directives.1.unit"), "system/a.service"));
	cr_assert(eq(str, (char *)at(s, "directives.1.kind"), "unit_bound"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.verdict"), "enforced"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.kernel.object"),
		     "test add rule inet f c meta mark 1 \"a.service\""));
	/* the unit and the kernel agree on the id */
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.kernel.cgroup_id"),
		     (char *)at(s, "directives.1.instances.0.cgroup_id")));
	cr_assert(eq(str, (char *)at(s, "directives.3.unit"), "system/b.service"));
	cr_assert(eq(str, (char *)at(s, "directives.3.instances"), "[]"));
	cr_assert(eq(str, (char *)at(s, "daemon.summary"), "4 rules, 1 unit; 0 failed"));
	cr_assert(eq(str, (char *)at(s, "daemon.modules.1.name"), "sink-test"));
	cr_assert(eq(str, (char *)at(s, "daemon.modules.1.health.instances"), "2"));
	cr_assert(eq(str, (char *)at(s, "daemon.modules.1.health.Bad Key"), ""), "an invalid key was taken");
	cr_assert(eq(str, (char *)at(s, "daemon.modules.0.health"), "{}"));
}

/* app-x.scope runs, matches a directive, and scnpm never heard of it: the tree is looked
 * at, not only what scnpm remembers. */
Test(status, a_unit_scnpm_missed_is_not_enforced)
{
	_cleanup_(json_object_putp) struct json_object *s = NULL;

	start_conf(NULL);
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.unit"), "app-x.scope"));
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.manager"), "user"));
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.uid"), "1000"));
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.result"), ""));
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.kernel.state"), "absent"));
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.verdict"), "not_enforced"));
	cr_assert(eq(str, (char *)at(s, "problems"), "1"));

	/* once told, it is */
	send_event("started\tuser:1000\tapp-x.scope\t" USER_APP);
	run_pending();
	json_object_put(s);
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.2.instances.0.verdict"), "enforced"));
	cr_assert(eq(str, (char *)at(s, "problems"), "0"));
}

/* Restarted (a new cgroup, a new id) and stopped behind scnpm's back: what the kernel
 * holds is for a cgroup that is gone. */
Test(status, restarted_or_stopped_unnoticed)
{
	_cleanup_(json_object_putp) struct json_object *s = NULL;
	char old_id[32];

	start_conf(NULL);
	s = get_status(NULL);
	snprintf(old_id, sizeof(old_id), "%s", at(s, "directives.1.instances.0.cgroup_id"));
	json_object_put(s);

	rmcg("system.slice/a.service");
	mkcg("system.slice/a.service");
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.verdict"), "not_enforced"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.verdict"), "not_enforced"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.kernel.cgroup_id"), old_id));
	cr_assert(ne(str, (char *)at(s, "directives.1.instances.0.cgroup_id"), old_id));
	cr_assert(eq(str, (char *)at(s, "problems"), "3"), "with app-x.scope");
	json_object_put(s);

	rmcg("system.slice/a.service");
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.cgroup"), ""));
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.verdict"), "stale"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.verdict"), "stale"));

	/* scnpm hears of it: nothing held, nothing running */
	send_event("stopped\tsystem\ta.service");
	run_pending();
	json_object_put(s);
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.0.instances.0.verdict"), "not_running"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances"), "[]"));
	cr_assert(eq(str, (char *)at(s, "problems"), "1"));
}

Test(status, a_failed_rule_says_why)
{
	_cleanup_(json_object_putp) struct json_object *s = NULL;

	start_conf(",fail=mark 1");
	s = get_status(NULL);
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.result"), "failed"));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.message"), "test sink fails 'mark 1'"));
	cr_assert(ne(str, (char *)at(s, "directives.1.instances.0.since_usec"), ""));
	cr_assert(eq(str, (char *)at(s, "directives.1.instances.0.verdict"), "not_enforced"));
	cr_assert(eq(str, (char *)at(s, "daemon.summary"), "4 rules, 1 unit; 1 failed"));
}

Test(status, patterns_select_directives_and_units)
{
	_cleanup_(json_object_putp) struct json_object *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	struct json_object *bad = json_tokener_parse("{\"patterns\":[1]}"),
			   *unknown = json_tokener_parse("{\"nope\":1}");
	struct varlink_reply reply = {};

	start_conf(NULL);
	/* as written: the directive with all its instances */
	a = get_status("{\"patterns\":[\"user/*\"]}");
	cr_assert(eq(sz, json_object_array_length(json_object_object_get(a, "directives")), 1));
	cr_assert(eq(str, (char *)at(a, "directives.0.unit"), "user/app-*.scope"));
	/* a unit name: the directives with an instance for it, only those instances */
	b = get_status("{\"patterns\":[\"a.serv*\"]}");
	cr_assert(eq(sz, json_object_array_length(json_object_object_get(b, "directives")), 2));
	c = get_status("{\"patterns\":[\"user@1000/app-*\"]}");
	cr_assert(eq(sz, json_object_array_length(json_object_object_get(c, "directives")), 1));
	cr_assert(eq(str, (char *)at(c, "directives.0.instances.0.unit"), "app-x.scope"));
	d = get_status("{\"patterns\":[\"user@1001/*.scope\"]}");
	cr_assert(eq(str, (char *)at(d, "directives"), "[]"));

	cr_assert(eq(int, status_get_status(bad, &reply, fx.m), 0));
	cr_assert(eq(str, (char *)reply.error, "org.varlink.service.InvalidParameter"));
	cr_assert(eq(str, (char *)at(reply.parameters, "parameter"), "patterns"));
	json_object_put(reply.parameters);
	reply = (struct varlink_reply){};
	cr_assert(eq(int, status_get_status(unknown, &reply, fx.m), 0));
	cr_assert(eq(str, (char *)at(reply.parameters, "parameter"), "nope"));
	json_object_put(reply.parameters);
	json_object_put(bad);
	json_object_put(unknown);
}

Test(status, describe_unit_in_every_manager)
{
	_cleanup_(json_object_putp) struct json_object *a = NULL, *x = NULL, *b = NULL;
	struct json_object *bad = json_tokener_parse("{\"unit\":\"a;b.service\"}");
	struct varlink_reply reply = {};

	start_conf(NULL);
	mkcg("user.slice/user-1000.slice/user@1000.service/app.slice/a.service");
	a = describe("a.service");
	cr_assert(eq(str, (char *)at(a, "cgroups.0.manager"), "system"));
	cr_assert(eq(str, (char *)at(a, "cgroups.1.manager"), "user"));
	cr_assert(eq(str, (char *)at(a, "cgroups.1.uid"), "1000"));
	/* the literal one and the system one; not the user unit's */
	cr_assert(eq(sz, json_object_array_length(json_object_object_get(a, "directives")), 2));
	cr_assert(eq(str, (char *)at(a, "directives.1.instances.0.manager"), "system"));
	cr_assert(eq(str, (char *)at(a, "directives.1.instances.1"), ""));
	cr_assert(eq(str, (char *)at(a, "problems"), "0"));

	x = describe("app-x.scope");
	cr_assert(eq(str, (char *)at(x, "directives.0.unit"), "user/app-*.scope"));
	cr_assert(eq(str, (char *)at(x, "directives.0.instances.0.verdict"), "not_enforced"));
	cr_assert(eq(str, (char *)at(x, "problems"), "1"));

	/* a directive for it, though it runs nowhere */
	b = describe("b.service");
	cr_assert(eq(str, (char *)at(b, "cgroups"), "[]"));
	cr_assert(eq(str, (char *)at(b, "directives.0.unit"), "system/b.service"));
	cr_assert(eq(str, (char *)at(b, "directives.0.instances"), "[]"));

	cr_assert(eq(int, status_describe_unit(bad, &reply, fx.m), 0));
	cr_assert(eq(str, (char *)reply.error, "org.varlink.service.InvalidParameter"));
	json_object_put(reply.parameters);
	json_object_put(bad);
}

/* Asking changes nothing: no call into the sink but inspect(), no record added or
 * dropped, not even for the unit scnpm had not heard of. */
Test(status, answering_changes_nothing)
{
	_cleanup_free_ char *log_before = NULL, *log_after = NULL, *held_before = NULL, *held_after = NULL;
	size_t n_applied, n_units;

	start_conf(NULL);
	log_before = read_file(fx.log);
	held_before = held();
	n_applied = hashmap_size(fx.m->applied);
	n_units = hashmap_size(fx.m->units);
	for (unsigned i = 0; i < 3; i++) {
		json_object_put(get_status(NULL));
		json_object_put(describe("a.service"));
		json_object_put(describe("app-x.scope"));
	}
	run_pending();
	log_after = read_file(fx.log);
	held_after = held();
	cr_assert(eq(str, log_before, log_after));
	cr_assert(eq(str, held_before, held_after));
	cr_assert(eq(sz, hashmap_size(fx.m->applied), n_applied));
	cr_assert(eq(sz, hashmap_size(fx.m->units), n_units));
}

/* The daemon's socket: the interface described by its IDL file, GetStatus answered. */
Test(status, over_the_socket)
{
	_cleanup_free_ char *idl = read_file(IDL_PATH);
	struct varlink_server *s = NULL;
	char path[192];
	int p[2];
	pid_t pid;
	char out[65536] = "";

	start_conf(NULL);
	snprintf(path, sizeof(path), "%s/io.scnpm", fx.dir);
	cr_assert(eq(int, status_server_new(fx.m, path, &s), 0));
	cr_assert(eq(str, (char *)status_interface.description, idl));
	cr_assert(eq(int, pipe2(p, O_NONBLOCK), 0));
	pid = fork();
	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		struct json_object *reply = NULL, *desc = json_object_new_object();
		char *error = NULL;

		close(p[0]);
		json_object_object_add(desc, "interface", json_object_new_string("io.scnpm.Manager"));
		if (varlink_call(path, "org.varlink.service.GetInterfaceDescription", desc,
				 5 * USEC_PER_SEC, 1 << 20, &reply, &error) == 0)
			dprintf(p[1], "%s\n", at(reply, "description"));
		if (varlink_call(path, "io.scnpm.Manager.GetStatus", NULL, 5 * USEC_PER_SEC, 1 << 24,
				 &reply, &error) == 0)
			dprintf(p[1], "%s %s\n", error ?: "ok", at(reply, "directives.1.instances.0.verdict"));
		_exit(0);
	}
	close(p[1]);
	for (size_t n = 0;;) {
		ssize_t k = read(p[0], out + n, sizeof(out) - 1 - n);

		if (k == 0)
			break;
		if (k > 0) {
			n += (size_t)k;
			continue;
		}
		(void)sd_event_run(fx.e, 10 * USEC_PER_MSEC);
	}
	close(p[0]);
	cr_assert(ne(ptr, strstr(out, "ok enforced\n"), NULL), "%s", out);
	cr_assert(eq(int, strncmp(out, idl, strlen(idl)), 0), "the description is not the IDL file");
	varlink_server_free(s);
}
