/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * "scnpm status": asks the running daemon over its control socket (io.scnpm.Manager,
 * see status.h) and prints the answer for people, or as JSON for scripts. Arguments that
 * are unit names ask DescribeUnit ("why is this unit blocked?"), globs and qualified
 * names (user@1000/app-*.scope) filter GetStatus. Exit status 3 when something is
 * configured but not what the kernel holds.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <scnpm/unit-name.h>

#include "status-client.h"
#include "status.h"
#include "util.h"
#include "varlink.h"

#define STATUS_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define STATUS_REPLY_MAX (256U * 1024U * 1024U)

static const char *arg_socket;
static int arg_json; /* 0 off, 1 pretty, 2 short */

/* ---- reading the reply ---- */

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool num(struct json_object *o, const char *key, uint64_t *ret)
{
	struct json_object *v = get(o, key);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_uint64(v);
	return true;
}

static uint64_t num0(struct json_object *o, const char *key)
{
	uint64_t v = 0;

	(void)num(o, key, &v);
	return v;
}

static size_t len(struct json_object *a)
{
	return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static const char *timestamp(uint64_t usec, char buf[static 32])
{
	time_t t = (time_t)(usec / USEC_PER_SEC);
	struct tm tm;

	if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		return "-";
	return buf;
}

static const char *duration(uint64_t usec, char buf[static 32])
{
	if (usec < USEC_PER_MSEC)
		snprintf(buf, 32, "%" PRIu64 " us", usec);
	else if (usec < USEC_PER_SEC)
		snprintf(buf, 32, "%.1f ms", (double)usec / USEC_PER_MSEC);
	else
		snprintf(buf, 32, "%.2f s", (double)usec / USEC_PER_SEC);
	return buf;
}

/* "system", "user@1000", "any" */
static const char *manager_label(struct json_object *inst, char buf[static 32])
{
	const char *m = str(inst, "manager") ?: "?";
	uint64_t uid;

	if (streq(m, "user") && num(inst, "uid", &uid)) {
		snprintf(buf, 32, "user@%" PRIu64, uid);
		return buf;
	}
	return m;
}

/* ---- the table of a directive's instances ---- */

enum { COL_UNIT, COL_MANAGER, COL_CGROUP, COL_ID, COL_KERNEL, COL_COUNTER, COL_RESULT, COL_VERDICT, N_COLS };

static const char *const col_names[N_COLS] = {
	"UNIT", "MANAGER", "CGROUP", "ID", "KERNEL", "COUNTER", "RESULT", "VERDICT",
};

static const char *verdict_label(const char *v)
{
	if (!v)
		return "?";
	if (streq(v, "not_enforced"))
		return "NOT ENFORCED";
	if (streq(v, "stale"))
		return "STALE";
	if (streq(v, "not_running"))
		return "not running";
	return v;
}

static void kernel_cell(struct json_object *inst, char *buf, size_t n)
{
	struct json_object *k = get(inst, "kernel");
	const char *state = str(k, "state") ?: "unknown";
	uint64_t handle, kid, id;
	bool pending = get(k, "pending") && json_object_get_boolean(get(k, "pending"));

	if (streq(state, "present")) {
		if (num(k, "handle", &handle))
			snprintf(buf, n, "handle %" PRIu64, handle);
		else
			snprintf(buf, n, "element");
		/* the id nft would show as some other unit's: ours, from scnpm's own table */
		if (num(k, "cgroup_id", &kid) && (!num(inst, "cgroup_id", &id) || kid != id))
			snprintf(buf + strlen(buf), n - strlen(buf), " for cgroup %" PRIu64, kid);
	} else
		snprintf(buf, n, "%s", streq(state, "absent") ? "nothing" : "?");
	if (pending)
		snprintf(buf + strlen(buf), n - strlen(buf), " (changing)");
}

static void instance_cells(struct json_object *inst, char cells[N_COLS][256])
{
	struct json_object *k = get(inst, "kernel");
	uint64_t v, since;
	char t[32];

	snprintf(cells[COL_UNIT], 256, "%s", str(inst, "unit") ?: "?");
	snprintf(cells[COL_MANAGER], 256, "%s", manager_label(inst, t));
	snprintf(cells[COL_CGROUP], 256, "%s", str(inst, "cgroup") ?: "-");
	if (num(inst, "cgroup_id", &v))
		snprintf(cells[COL_ID], 256, "%" PRIu64, v);
	else
		snprintf(cells[COL_ID], 256, "-");
	kernel_cell(inst, cells[COL_KERNEL], 256);
	if (num(k, "packets", &v))
		snprintf(cells[COL_COUNTER], 256, "%" PRIu64 " pkts %" PRIu64 " B", v, num0(k, "bytes"));
	else
		snprintf(cells[COL_COUNTER], 256, "-");
	if (str(inst, "result") && num(inst, "since_usec", &since))
		snprintf(cells[COL_RESULT], 256, "%s %s", str(inst, "result"), timestamp(since, t));
	else
		snprintf(cells[COL_RESULT], 256, "%s", str(inst, "result") ?: "-");
	snprintf(cells[COL_VERDICT], 256, "%s", verdict_label(str(inst, "verdict")));
}

static void print_instances(struct json_object *instances)
{
	size_t n = len(instances), width[N_COLS];
	char (*cells)[N_COLS][256];

	if (n == 0) {
		printf("    (no instance: no unit it is for runs now)\n");
		return;
	}
	cells = calloc(n, sizeof(*cells));
	if (!cells)
		return;
	for (size_t c = 0; c < N_COLS; c++)
		width[c] = strlen(col_names[c]);
	for (size_t i = 0; i < n; i++) {
		instance_cells(json_object_array_get_idx(instances, i), cells[i]);
		for (size_t c = 0; c < N_COLS; c++)
			width[c] = MAX(width[c], strlen(cells[i][c]));
	}
	printf("   ");
	for (size_t c = 0; c < N_COLS; c++)
		printf(" %-*s", c + 1 < N_COLS ? (int)width[c] : 0, col_names[c]);
	printf("\n");
	for (size_t i = 0; i < n; i++) {
		struct json_object *inst = json_object_array_get_idx(instances, i);
		const char *result = str(inst, "result"), *msg = str(inst, "message");

		printf("   ");
		for (size_t c = 0; c < N_COLS; c++)
			printf(" %-*s", c + 1 < N_COLS ? (int)width[c] : 0, cells[i][c]);
		printf("\n");
		if (msg && result && !streq(result, "applied"))
			printf("      %s: %s\n", result, msg);
	}
	free(cells);
}

static void print_directive(struct json_object *d)
{
	printf("%s:%" PRIu64 ": %s -> %s (%s)\n    %s\n", str(d, "file") ?: "?", num0(d, "line"),
	       str(d, "unit") ?: "?", str(d, "sink") ?: "?",
	       streq(str(d, "kind") ?: "", "literal") ? "names its cgroup" : "per unit",
	       str(d, "text") ?: "");
}

/* ---- GetStatus ---- */

static void print_health(struct json_object *health)
{
	bool first = true;
	char t[32];

	json_object_object_foreach(health, key, val) {
		uint64_t v = json_object_get_uint64(val);
		size_t l = strlen(key);
		char name[64];

		snprintf(name, sizeof(name), "%s", key);
		for (char *p = name; *p; p++)
			if (*p == '_')
				*p = ' ';
		printf("%s", first ? ": " : ", ");
		first = false;
		if (endswith(key, "_realtime_usec")) {
			name[l - strlen("_realtime_usec")] = '\0';
			printf("%s %s", name, timestamp(v, t));
		} else if (endswith(key, "_usec")) {
			name[l - strlen("_usec")] = '\0';
			printf("%s %s", name, duration(v, t));
		} else
			printf("%s %" PRIu64, name, v);
	}
}

static void print_status(struct json_object *p)
{
	struct json_object *daemon = get(p, "daemon"), *mods = get(daemon, "modules"),
			   *files = get(daemon, "config_files"), *dirs = get(p, "directives");
	uint64_t reloaded;
	char t[32];

	printf("scnpm %s (PID %" PRIu64 "), running since %s: %s\n", str(daemon, "version") ?: "?",
	       num0(daemon, "pid"), timestamp(num0(daemon, "started_usec"), t),
	       str(daemon, "summary") ?: "");
	printf("Configuration:");
	for (size_t i = 0; i < len(files); i++)
		printf(" %s", json_object_get_string(json_object_array_get_idx(files, i)));
	if (num(daemon, "reloaded_usec", &reloaded))
		printf(" (reloaded %s)", timestamp(reloaded, t));
	printf("%s\n", len(files) ? "" : " none");
	if (num0(daemon, "dropped_events") > 0)
		printf("Events refused: %" PRIu64 " (see the log)\n", num0(daemon, "dropped_events"));
	if (num0(get(daemon, "gates"), "gated") > 0 || num0(get(daemon, "gates"), "failed") > 0) {
		printf("Gates:");
		print_health(get(daemon, "gates"));
		printf("\n");
	}
	for (size_t i = 0; i < len(mods); i++) {
		struct json_object *mod = json_object_array_get_idx(mods, i);

		printf("  %s", str(mod, "name") ?: "?");
		print_health(get(mod, "health"));
		printf("\n");
	}
	for (size_t i = 0; i < len(dirs); i++) {
		struct json_object *d = json_object_array_get_idx(dirs, i);

		printf("\n");
		print_directive(d);
		print_instances(get(d, "instances"));
	}
}

/* ---- DescribeUnit ---- */

static void print_verdict_sentence(struct json_object *inst)
{
	struct json_object *k = get(inst, "kernel");
	const char *v = str(inst, "verdict") ?: "?", *object = str(k, "object") ?: "it",
		   *result = str(inst, "result"), *msg = str(inst, "message");
	uint64_t id = num0(inst, "cgroup_id"), kid;
	char t[32];

	printf("      %s: ", manager_label(inst, t));
	if (streq(v, "enforced"))
		printf("enforced: the kernel holds %s for cgroup %" PRIu64, object, id);
	else if (streq(v, "not_enforced") && num(k, "cgroup_id", &kid))
		printf("NOT ENFORCED: the kernel holds %s for cgroup %" PRIu64 ", but the unit's cgroup "
		       "is %" PRIu64 " now", object, kid, id);
	else if (streq(v, "not_enforced"))
		printf("NOT ENFORCED: the kernel holds nothing for its cgroup %" PRIu64, id);
	else if (streq(v, "stale"))
		printf("STALE: the unit has no cgroup, but the kernel still holds %s", object);
	else if (streq(v, "not_running"))
		printf("not running: no cgroup, nothing in the kernel");
	else
		printf("unverified: its sink cannot read back from the kernel");
	if (num(k, "packets", &kid))
		printf(" (%" PRIu64 " packets, %" PRIu64 " bytes)", kid, num0(k, "bytes"));
	printf("\n");
	if (result)
		printf("        %s reported %s%s%s\n", str(inst, "unit") ?: "", result, msg ? ": " : "",
		       msg ?: "");
}

static void print_unit(struct json_object *p)
{
	struct json_object *cgroups = get(p, "cgroups"), *dirs = get(p, "directives");
	const char *unit = str(p, "unit") ?: "?";
	char t[32];

	printf("%s\n", unit);
	if (len(cgroups) == 0)
		printf("  runs in no manager now\n");
	for (size_t i = 0; i < len(cgroups); i++) {
		struct json_object *c = json_object_array_get_idx(cgroups, i);

		printf("  runs in %s: %s (cgroup %" PRIu64 ")\n", manager_label(c, t),
		       str(c, "cgroup") ?: "?", num0(c, "cgroup_id"));
	}
	if (len(dirs) == 0)
		printf("  no directive matches it\n");
	for (size_t i = 0; i < len(dirs); i++) {
		struct json_object *d = json_object_array_get_idx(dirs, i), *inst = get(d, "instances");

		printf("  ");
		print_directive(d);
		if (len(inst) == 0)
			printf("      not running in any manager this directive is for\n");
		for (size_t k = 0; k < len(inst); k++)
			print_verdict_sentence(json_object_array_get_idx(inst, k));
	}
	if (num0(p, "problems") > 0)
		printf("  => %" PRIu64 " instance(s) NOT what the configuration says\n", num0(p, "problems"));
}

/* ---- calls ---- */

/* Call method; prints the answer (or why there is none). Adds its problems. */
static int call(const char *method, struct json_object *params, void (*print)(struct json_object *),
		uint64_t *problems)
{
	_cleanup_(json_object_putp) struct json_object *reply = NULL;
	_cleanup_free_ char *error = NULL;
	int r;

	r = varlink_call(arg_socket, method, params, STATUS_TIMEOUT_USEC, STATUS_REPLY_MAX, &reply,
			 &error);
	if (r < 0) {
		fprintf(stderr, "Cannot ask scnpm at %s: %s%s\n", arg_socket, strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ? " (is scnpm running?)"
			: r == -EACCES			   ? " (only root may ask)"
							   : "");
		return r;
	}
	if (error) {
		const char *what = str(reply, "parameter") ?: str(reply, "reason");

		fprintf(stderr, "scnpm answered %s%s%s\n", error, what ? ": " : "", what ?: "");
		return -EBADMSG;
	}
	*problems += num0(reply, "problems");
	if (arg_json)
		printf("%s\n", json_object_to_json_string_ext(
				       reply, (arg_json == 1 ? JSON_C_TO_STRING_PRETTY : JSON_C_TO_STRING_PLAIN) |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print(reply);
	return 0;
}

/* A unit name for DescribeUnit, not a pattern: valid as a name, nothing of a glob. */
static bool is_unit_name(const char *s)
{
	return scnpm_unit_name_is_valid(s) && !strpbrk(s, "*?[");
}

static void help(void)
{
	printf("Usage: scnpm status [OPTIONS] [PATTERN|UNIT...]\n"
	       "\n"
	       "Show what the running scnpm keeps in the kernel for which unit, read back from\n"
	       "the kernel now. PATTERNs (globs, or qualified: user@1000/app-*.scope) select\n"
	       "directives and units; a UNIT name shows every directive that matches it, in\n"
	       "every manager, and whether the kernel holds it for the unit's cgroup now.\n"
	       "\n"
	       "Options:\n"
	       "     --json[=pretty|short]  Print the daemon's answer as JSON (io.scnpm.Manager)\n"
	       "     --socket=PATH          The control socket (default /run/scnpm/%s)\n"
	       "  -h --help                 Show this help\n"
	       "\n"
	       "Exit status: 0 the kernel holds what the configuration says, 3 it does not\n"
	       "(something is not enforced, or stale), 1 no answer, 2 usage error.\n"
	       "See scnpm(8).\n",
	       STATUS_SOCKET_NAME);
}

static int parse_argv(int argc, char *argv[])
{
	enum { ARG_JSON = 0x100, ARG_SOCKET };
	static const struct option options[] = {
		{ "json", optional_argument, NULL, ARG_JSON },
		{ "socket", required_argument, NULL, ARG_SOCKET },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
		switch (c) {
		case ARG_JSON:
			if (!optarg || streq(optarg, "pretty"))
				arg_json = 1;
			else if (streq(optarg, "short"))
				arg_json = 2;
			else {
				fprintf(stderr, "Invalid --json '%s': expected pretty or short\n", optarg);
				return -EINVAL;
			}
			break;
		case ARG_SOCKET:
			arg_socket = optarg;
			break;
		case 'h':
			help();
			return 1;
		default:
			return -EINVAL;
		}
	for (int i = optind; i < argc; i++)
		if (strlen(argv[i]) > 256) {
			fprintf(stderr, "Argument too long: '%.40s...'\n", argv[i]);
			return -EINVAL;
		}
	return 0;
}

int status_main(int argc, char *argv[])
{
	_cleanup_(json_object_putp) struct json_object *patterns = json_object_new_array();
	_cleanup_free_ char *socket = NULL;
	uint64_t problems = 0;
	bool any_unit = false;
	int r;

	r = parse_argv(argc, argv);
	if (r != 0)
		return r < 0 ? 2 : 0;
	if (!arg_socket) {
		if (asprintf(&socket, "/run/scnpm/%s", STATUS_SOCKET_NAME) < 0)
			return 1;
		arg_socket = socket;
	}
	if (!patterns)
		return 1;
	for (int i = optind; i < argc; i++) {
		if (is_unit_name(argv[i]))
			any_unit = true;
		else
			json_object_array_add(patterns, json_object_new_string(argv[i]));
	}

	if (json_object_array_length(patterns) > 0 || !any_unit) {
		_cleanup_(json_object_putp) struct json_object *params = json_object_new_object();

		if (!params)
			return 1;
		if (json_object_array_length(patterns) > 0)
			json_object_object_add(params, "patterns", json_object_get(patterns));
		if (call("io.scnpm.Manager.GetStatus", params, print_status, &problems) < 0)
			return 1;
	}
	for (int i = optind; i < argc; i++) {
		_cleanup_(json_object_putp) struct json_object *params = json_object_new_object();

		if (!is_unit_name(argv[i]))
			continue;
		if (!params)
			return 1;
		json_object_object_add(params, "unit", json_object_new_string(argv[i]));
		if (!arg_json && (i > optind || json_object_array_length(patterns) > 0))
			printf("\n");
		if (call("io.scnpm.Manager.DescribeUnit", params, print_unit, &problems) < 0)
			return 1;
	}
	return problems > 0 ? 3 : 0;
}
