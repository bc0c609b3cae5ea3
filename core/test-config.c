/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include "config.h"
#include "util.h"

/* Parse the n bytes of text as file "t.conf". Returns r; *ret_error gets the message. */
static int parse_n(const char *text, size_t n, struct config **ret, char **ret_error)
{
	FILE *f = fmemopen((void *)text, n, "r");
	struct config *c = config_new();
	int r;

	cr_assert(ne(ptr, f, NULL));
	*ret_error = NULL;
	r = config_parse_stream(c, f, "t.conf", ret_error);
	fclose(f);
	*ret = c;
	return r;
}

static int parse(const char *text, struct config **ret, char **ret_error)
{
	return parse_n(text, strlen(text), ret, ret_error);
}

struct valid_case {
	const char *text;
	size_t n_rules;
	const char *unit;   /* first rule */
	const char *cmd;    /* first rule's normalized text */
	unsigned line;
	unsigned object;
};

static const struct valid_case valid_cases[] = {
	{ "# a.service :: add rule inet filter out accept\n", 1, "a.service",
	  "add rule inet filter out accept", 1, SCNPM_OBJECT_RULE },
	/* "add" and "rule" are optional, as in the original */
	{ "# a.service :: inet filter out accept\n", 1, "a.service", "add rule inet filter out accept",
	  1, SCNPM_OBJECT_RULE },
	{ "# a.service :: add inet filter out accept\n", 1, "a.service",
	  "add rule inet filter out accept", 1, SCNPM_OBJECT_RULE },
	/* any number of '#', spaces after them, leading indentation */
	{ "####   a.service   ::   add rule ip t c  counter  \n", 1, "a.service",
	  "add rule ip t c counter", 1, SCNPM_OBJECT_RULE },
	{ "\t# a.service :: add rule ip t c\n", 1, "a.service", "add rule ip t c", 1,
	  SCNPM_OBJECT_RULE },
	/* continuation lines */
	{ "x\n# postfix.service :: add rule inet filter vpn.whitelist \\\n"
	  "# socket cgroupv2 level 2 \"system.slice/postfix.service\" \\\n"
	  "##   tcp dport 25 accept\n",
	  1, "postfix.service",
	  "add rule inet filter vpn.whitelist socket cgroupv2 level 2 \"system.slice/postfix.service\" tcp dport 25 accept",
	  2, SCNPM_OBJECT_RULE },
	/* ordinary comments and nft lines are ignored, also with "::" */
	{ "# note :: this is prose\n#a.service :: add rule ip t c\ntable inet x {}\n# just text\n", 1,
	  "a.service", "add rule ip t c", 2, SCNPM_OBJECT_RULE },
	/* element directives, qualifiers, globs, placeholders */
	{ "# postfix.service :: add element inet filter allowed { %{cgroup} }\n", 1, "postfix.service",
	  "add element inet filter allowed { %{cgroup} }", 1, SCNPM_OBJECT_ELEMENT },
	{ "# user@1000/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept\n",
	  1, "user@1000/app-*.scope",
	  "add rule inet f c socket cgroupv2 level %{level} %{cgroup} accept", 1, SCNPM_OBJECT_RULE },
	/* several rules for one unit */
	{ "# a.service :: add rule ip t c tcp dport 1 accept\n# a.service :: add rule ip t c tcp dport 2 accept\n"
	  "# b.scope :: add rule ip t c accept\n",
	  3, "a.service", "add rule ip t c tcp dport 1 accept", 1, SCNPM_OBJECT_RULE },
	/* no directives at all */
	{ "table inet filter {\n  chain out { }\n}\n", 0, NULL, NULL, 0, 0 },
	/* CRLF line ends */
	{ "# a.service :: add rule ip t c accept\r\n", 1, "a.service", "add rule ip t c accept", 1,
	  SCNPM_OBJECT_RULE },
};

/* Table-driven, in one test: Criterion's parameterized tests copy the parameters into
 * a re-executed worker, where pointers to string literals do not survive (PIE). */
Test(config, valid)
{
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *tc = &valid_cases[i];
		struct config *c;
		char *error;
		int r = parse(tc->text, &c, &error);

		cr_assert(eq(int, r, 0), "case %zu: error: %s", i, error ?: "(none)");
		cr_assert(eq(sz, c->n_rules, tc->n_rules), "case %zu", i);
		if (tc->n_rules > 0) {
			cr_assert(eq(str, c->rules[0]->unit_spec, (char *)tc->unit), "case %zu", i);
			cr_assert(eq(str, c->rules[0]->text, (char *)tc->cmd), "case %zu", i);
			cr_assert(eq(u32, c->rules[0]->pub.line, tc->line), "case %zu", i);
			cr_assert(eq(u32, c->rules[0]->pub.object, tc->object), "case %zu", i);
			cr_assert(eq(str, (char *)c->rules[0]->pub.file, "t.conf"), "case %zu", i);
			cr_assert(eq(str, (char *)c->rules[0]->pub.text, (char *)tc->cmd), "case %zu", i);
		}
		config_free(c);
		free(error);
	}
}

struct error_case {
	const char *text;
	const char *message; /* expected error, exactly "t.conf:LINE: ..." prefix + substring */
	const char *prefix;
};

static const struct error_case error_cases[] = {
	{ "# a.service :: add rule inet filter out \\\nadd rule x\n", "is not a comment", "t.conf:1: " },
	{ "\n\n# a.service :: add rule inet filter out \\\n", "end of the file", "t.conf:3: " },
	{ "# a.service :: add rule inet filter\n", "expected '[add [rule]] FAMILY TABLE CHAIN", "t.conf:1: " },
	{ "# a.service :: add rule\n", "expected", "t.conf:1: " },
	{ "# a.service ::\n", "expected", "t.conf:1: " },
	{ "# a.service :: add rule filter out tcp dport 1 accept\n", "unknown family 'filter'", "t.conf:1: " },
	{ "# a.service :: add rule inet fil;ter out accept\n", "invalid table or chain name", "t.conf:1: " },
	{ "\n# a;b.service :: add rule inet f c accept\n", "invalid unit name 'a;b.service'", "t.conf:2: " },
	{ "# a.servicex :: add rule inet f c accept\n", "invalid unit name", "t.conf:1: " },
	{ "# @a.service :: add rule inet f c accept\n", "invalid unit name", "t.conf:1: " },
	{ "# bogus/a.service :: add rule inet f c accept\n", "unknown manager qualifier 'bogus/'", "t.conf:1: " },
	{ "# user@x/a.service :: add rule inet f c accept\n", "unknown manager qualifier", "t.conf:1: " },
	{ "# a.service :: add element inet f s\n", "element directive without elements", "t.conf:1: " },
	{ "# a.service :: add rule inet f c socket cgroupv2 level %{level} %{cgroups} accept\n",
	  "unknown placeholder '%{cgroups}' (known: %{cgroup}, %{level}, %{unit})", "t.conf:1: " },
	{ "# a.service :: add rule inet f c meta mark %{ accept\n", "unknown placeholder '%{'", "t.conf:1: " },
	/* gates */
	{ "# gate:soon/a.service :: add rule inet f c drop\n", "invalid gate option 'soon'", "t.conf:1: " },
	{ "# gate:0ms/a.service :: add rule inet f c drop\n", "invalid gate option '0ms'", "t.conf:1: " },
	{ "# gate:61s/a.service :: add rule inet f c drop\n", "invalid gate option '61s'", "t.conf:1: " },
	{ "# gate:/a.service :: add rule inet f c drop\n", "empty gate option", "t.conf:1: " },
	{ "# gate:1s,/a.service :: add rule inet f c drop\n", "empty gate option", "t.conf:1: " },
	{ "# gate/gate/a.service :: add rule inet f c drop\n", "more than one gate qualifier", "t.conf:1: " },
	{ "# user/system/a.service :: add rule inet f c drop\n", "more than one manager qualifier", "t.conf:1: " },
	{ "# gate//a.service :: add rule inet f c drop\n", "empty qualifier", "t.conf:1: " },
	{ "\n# gate/a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/b.service\" drop\n",
	  "gated directive names no cgroup of unit 'a.service'", "t.conf:2: " },
};

/* One run reports every bad directive, in order, and keeps the good ones. */
Test(config, every_error_reported)
{
	static const char text[] =
	    "# a.service :: add rule inet f c accept\n"
	    "# b.service :: add rule inetx f c accept\n"
	    "# c.service :: add rule inet f c %{bogus} accept\n"
	    "# d.service :: add rule inet f c \\\n"
	    "not a comment\n"
	    "# e.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/../x\" accept\n"
	    "# f.service :: add rule inet f c drop\n"
	    "# g.service :: add rule inet f c \\\n";
	static const char *const expected[] = {
	    "t.conf:2: unknown family 'inetx'",
	    "t.conf:3: unknown placeholder '%{bogus}'",
	    "t.conf:4: broken continuation",
	    "t.conf:6: invalid cgroup path 'system.slice/../x'",
	    "t.conf:8: broken continuation",
	};
	struct config *c;
	char *error, *line;
	size_t n = 0;

	cr_assert(eq(int, parse(text, &c, &error), -EINVAL));
	cr_assert(ne(ptr, error, NULL));
	line = error;
	for (char *next; line && *line; line = next, n++) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		cr_assert(lt(sz, n, sizeof(expected) / sizeof(expected[0])), "extra error: %s", line);
		cr_expect(eq(int, strncmp(line, expected[n], strlen(expected[n])), 0), "error %zu: %s", n, line);
	}
	cr_expect(eq(sz, n, sizeof(expected) / sizeof(expected[0])));
	cr_assert(eq(sz, c->n_rules, 2));
	cr_expect(eq(str, (char *)c->rules[0]->pub.unit, "a.service"));
	cr_expect(eq(str, (char *)c->rules[1]->pub.unit, "f.service"));
	config_free(c);
	free(error);
}

Test(config, errors)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *tc = &error_cases[i];
		struct config *c;
		char *error;
		int r = parse(tc->text, &c, &error);

		cr_assert(lt(int, r, 0), "case %zu", i);
		cr_assert(ne(ptr, error, NULL), "case %zu", i);
		cr_assert(eq(int, strncmp(error, tc->prefix, strlen(tc->prefix)), 0), "case %zu: got: %s", i, error);
		cr_assert(ne(ptr, strstr(error, tc->message), NULL), "case %zu: got: %s", i, error);
		config_free(c);
		free(error);
	}
}

/* A NUL byte ends a C string, not nft's view of the line: never cut a line silently. */
Test(config, nul_byte)
{
	static const struct {
		const char *text;
		size_t n;
		const char *error;
	} cases[] = {
#define C(s, e) { s, sizeof(s) - 1, e }
		C("# a.service :: add rule inet f c accept\0; flush ruleset\n",
		  "t.conf:1: NUL byte in line (byte 40)"),
		C("# a.service :: add rule inet f c \\\n# accept\0\n", "t.conf:2: NUL byte in line (byte 9)"),
		C("table inet f {}\n# just a comment\n\0\n", "t.conf:3: NUL byte in line (byte 1)"),
		C("# a.service :: add rule inet f c accept\n# no newline at the end\0",
		  "t.conf:2: NUL byte in line (byte 24)"),
#undef C
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct config *c;
		char *error;

		cr_assert(eq(int, parse_n(cases[i].text, cases[i].n, &c, &error), -EINVAL), "case %zu", i);
		cr_assert(eq(str, error, (char *)cases[i].error), "case %zu", i);
		config_free(c);
		free(error);
	}
}

Test(config, invalid_utf8_in_directive)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "# a.service :: add rule inet f c comment \"\xff\" accept\n", "t.conf:1: invalid UTF-8 in directive (byte 43)" },
		/* overlong '/', a UTF-16 surrogate, beyond U+10FFFF, cut short at the end */
		{ "# a.service :: add rule inet f c comment \"\xc0\xaf\"\n", "t.conf:1: invalid UTF-8 in directive (byte 43)" },
		{ "# a.service :: add rule inet f c comment \"\xed\xa0\x80\"\n", "t.conf:1: invalid UTF-8 in directive (byte 43)" },
		{ "# a.service :: add rule inet f c comment \"\xf4\x90\x80\x80\"\n", "t.conf:1: invalid UTF-8 in directive (byte 43)" },
		{ "# a.service :: add rule inet f c accept \xe2\x82\n", "t.conf:1: invalid UTF-8 in directive (byte 41)" },
		/* a continuation line names its own line */
		{ "\n# a.service :: add rule inet f c \\\n# comment \"\x80\"\n", "t.conf:3: invalid UTF-8 in directive (byte 12)" },
		/* in the unit name */
		{ "# \xe9.service :: add rule inet f c\n", NULL },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct config *c;
		char *error;

		cr_assert(lt(int, parse(cases[i].text, &c, &error), 0), "case %zu", i);
		if (cases[i].error)
			cr_assert(eq(str, error, (char *)cases[i].error), "case %zu", i);
		else
			cr_assert(ne(ptr, strstr(error, "t.conf:1: "), NULL), "case %zu: %s", i, error);
		config_free(c);
		free(error);
	}
}

/* Valid UTF-8 in a directive is fine, and an ordinary comment may be in any encoding. */
Test(config, utf8_accepted)
{
	struct config *c;
	char *error;

	cr_assert(eq(int, parse("# caf\xe9 (Latin-1, an ordinary comment)\n"
				"# a.service :: add rule inet f c comment \"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\" accept\n",
				&c, &error),
			0), "%s", error);
	cr_assert(eq(sz, c->n_rules, 1));
	config_free(c);
}

Test(config, utf8_valid_prefix)
{
	cr_assert(eq(sz, utf8_valid_prefix("", 0), 0));
	cr_assert(eq(sz, utf8_valid_prefix("abc", 3), 3));
	cr_assert(eq(sz, utf8_valid_prefix("a\xc3\xa9" "b", 4), 4));
	cr_assert(eq(sz, utf8_valid_prefix("\xf4\x8f\xbf\xbf", 4), 4)); /* U+10FFFF */
	cr_assert(eq(sz, utf8_valid_prefix("ab\xc3", 3), 2));
	cr_assert(eq(sz, utf8_valid_prefix("\xe0\x80\x80", 3), 0)); /* overlong NUL */
	cr_assert(eq(sz, utf8_valid_prefix("x\xf8\x88\x80\x80\x80", 6), 1));
	cr_assert(eq(sz, utf8_valid_prefix("\xc3\x28", 2), 0));
}

/* Found by fuzz-config: an unterminated quote inside "cgroupv2 level N { ... }" made the
 * parser call strstr(NULL): the daemon died on --check, at start and on SIGHUP. */
Test(config, unterminated_quote_in_cgroup_set)
{
	struct config *c;
	char *error = NULL;

	cr_assert(
	    eq(int,
	       parse(
		   "# a.service :: add rule inet f c socket cgroupv2 level 2 { \"system.slice/a.service\n",
		   &c, &error),
	       0),
	    "%s", error ?: "");
	cr_assert(eq(sz, c->n_rules, 1));
	config_free(c);
}

/* Found by fuzz-config: a '{' inside the set was no word and no separator, and the
 * scanner stood on it for ever: --check, start and SIGHUP hung. */
Test(config, brace_inside_cgroup_set)
{
	struct config *c;
	char *error = NULL;

	cr_assert(
	    eq(int,
	       parse(
		   "# a.service :: add rule ip t c socket cgroupv2 level 2 { { \"system.slice/a.service\" } accept\n",
		   &c, &error),
	       0),
	    "%s", error ?: "");
	cr_assert(eq(sz, c->n_rules, 1));
	config_free(c);
}

Test(config, long_line)
{
	size_t n = CONFIG_LINE_MAX + 100;
	char *text = malloc(n + 64);
	struct config *c;
	char *error;

	strcpy(text, "# a.service :: add rule inet f c ");
	memset(text + strlen(text), 'x', n);
	strcpy(text + n, "\n");
	cr_assert(lt(int, parse(text, &c, &error), 0));
	cr_assert(ne(ptr, strstr(error, "t.conf:1: line is longer than 65536 bytes"), NULL), "got: %s", error);
	config_free(c);
	free(error);
	free(text);
}

Test(config, unreadable_file)
{
	struct config *c = config_new();
	char *error = NULL;

	cr_assert(eq(int, config_parse_file(c, "/nonexistent/scnpm.conf", &error), -ENOENT));
	cr_assert(eq(str, error, "/nonexistent/scnpm.conf: cannot read: No such file or directory"));
	config_free(c);
	free(error);
}

Test(config, file_and_lines)
{
	char path[] = "/tmp/scnpm-test-config-XXXXXX";
	int fd = mkstemp(path);
	struct config *c = config_new();
	char *error = NULL;
	const char *text = "flush ruleset\n# a.service :: add rule ip t c \\\n#   accept\n\n# b.service :: add rule ip t c drop\n";

	cr_assert(ge(int, fd, 0));
	cr_assert(eq(long, write(fd, text, strlen(text)), (long)strlen(text)));
	close(fd);
	cr_assert(eq(int, config_parse_file(c, path, &error), 0));
	cr_assert(eq(sz, c->n_rules, 2));
	cr_assert(eq(str, c->rules[0]->file, path));
	cr_assert(eq(u32, c->rules[0]->line, 2));
	cr_assert(eq(u32, c->rules[1]->line, 5));
	cr_assert(eq(str, c->rules[0]->text, "add rule ip t c accept"));
	unlink(path);
	config_free(c);
}

Test(config, patterns_and_qualifiers)
{
	struct config *c;
	char *error;

	cr_assert(eq(int, parse("# system/a.service :: add rule ip t c\n"
				"# user/app-*.scope :: add rule ip t c\n"
				"# user@1000/run-u[0-9]*.service :: add rule ip t c socket cgroupv2 level %{level} %{cgroup}\n",
				&c, &error), 0));
	cr_assert(eq(sz, c->n_rules, 3));
	cr_assert(rule_matches(c->rules[0], SCNPM_MANAGER_SYSTEM, 0, "a.service"));
	cr_assert(not(rule_matches(c->rules[0], SCNPM_MANAGER_USER, 0, "a.service")));
	cr_assert(not(rule_matches(c->rules[0], SCNPM_MANAGER_ANY, 0, "a.service")));
	cr_assert(rule_matches(c->rules[1], SCNPM_MANAGER_USER, 1000, "app-firefox-1234.scope"));
	cr_assert(rule_matches(c->rules[1], SCNPM_MANAGER_USER, 0, "app-x.scope"));
	cr_assert(not(rule_matches(c->rules[1], SCNPM_MANAGER_SYSTEM, 0, "app-x.scope")));
	cr_assert(not(rule_matches(c->rules[1], SCNPM_MANAGER_USER, 0, "app-x.service")));
	cr_assert(rule_matches(c->rules[2], SCNPM_MANAGER_USER, 1000, "run-u42.service"));
	cr_assert(not(rule_matches(c->rules[2], SCNPM_MANAGER_USER, 1001, "run-u42.service")));
	cr_assert(c->rules[2]->templated);
	cr_assert(not(c->rules[0]->templated));
	cr_assert(c->rules[1]->is_glob);
	config_free(c);
}

/* Gate qualifiers, alone or with a manager's, in either order; the original tool's lines
 * stay ungated. */
Test(config, gates)
{
	static const char text[] =
	    "# a.service :: add rule inet f c drop\n"
	    "# gate/a.service :: add rule inet f c socket cgroupv2 level 2 \"system.slice/a.service\" drop\n"
	    "# gate:250ms,keep-frozen/user/app-*.scope :: add rule inet f c socket cgroupv2 level %{level} %{cgroup} drop\n"
	    "# user@1000/gate:2s/b.service :: add element inet f s { %{cgroup} }\n"
	    "# gate:keep-frozen,thaw,500us/c.service :: add rule inet f c drop\n";
	_cleanup_free_ char *error = NULL;
	struct config *c;

	cr_assert(eq(int, parse(text, &c, &error), 0), "%s", error ?: "");
	cr_assert(eq(sz, c->n_rules, 5));
	cr_assert(not(c->rules[0]->gated));
	cr_assert(c->rules[1]->gated);
	cr_assert(eq(str, (char *)c->rules[1]->pattern, "a.service"));
	cr_assert(eq(u64, c->rules[1]->gate_deadline_usec, 0));
	cr_assert(not(c->rules[1]->gate_keep_frozen));
	cr_assert(c->rules[2]->gated && c->rules[2]->gate_keep_frozen);
	cr_assert(eq(u64, c->rules[2]->gate_deadline_usec, 250000));
	cr_assert(eq(u32, c->rules[2]->manager, SCNPM_MANAGER_USER));
	cr_assert(eq(str, (char *)c->rules[2]->pattern, "app-*.scope"));
	cr_assert(eq(str, (char *)c->rules[2]->pub.unit, "gate:250ms,keep-frozen/user/app-*.scope"));
	cr_assert(c->rules[3]->gated && c->rules[3]->has_uid && c->rules[3]->uid == 1000);
	cr_assert(eq(u64, c->rules[3]->gate_deadline_usec, 2000000));
	/* the last option wins */
	cr_assert(not(c->rules[4]->gate_keep_frozen));
	cr_assert(eq(u64, c->rules[4]->gate_deadline_usec, 500));
	config_free(c);
}

Test(config, parse_duration)
{
	uint64_t v;

	cr_assert(eq(int, parse_duration_usec("200ms", &v), 0));
	cr_assert(eq(u64, v, 200000));
	cr_assert(eq(int, parse_duration_usec("3s", &v), 0));
	cr_assert(eq(u64, v, 3000000));
	cr_assert(eq(int, parse_duration_usec("7us", &v), 0));
	cr_assert(eq(u64, v, 7));
	cr_assert(eq(int, parse_duration_usec("40", &v), 0));
	cr_assert(eq(u64, v, 40000));
	cr_assert(lt(int, parse_duration_usec("ms", &v), 0));
	cr_assert(lt(int, parse_duration_usec("1 ms", &v), 0));
	cr_assert(lt(int, parse_duration_usec("1h", &v), 0));
	cr_assert(lt(int, parse_duration_usec("-1ms", &v), 0));
	cr_assert(lt(int, parse_duration_usec("9999999999999s", &v), 0));
}

Test(config, literal_and_unit_bound_rules)
{
	struct config *c;
	char *error;

	cr_assert(eq(int, parse("# a.service :: add rule ip t c socket cgroupv2 level 2 \"system.slice/a.service\" accept\n"
				"# b.service :: add rule ip t c socket cgroupv2 level 1 { \"b.slice\", /c.slice } accept\n"
				"# d.service :: add rule ip t c tcp dport 25 accept\n"
				"# e.service :: add rule ip t c socket cgroupv2 level %{level} %{cgroup} accept\n"
				"# any/f.service :: add rule ip t c meta mark 1\n"
				"# g\\x2dh.service :: add rule ip t c meta mark 1\n",
				&c, &error), 0));
	cr_assert(eq(sz, c->n_rules, 6));
	/* literal: the text names the cgroups; any manager's event is a reason to look */
	cr_assert(rule_is_literal(c->rules[0]));
	cr_assert(eq(str, c->rules[0]->cgroup_paths[0], "system.slice/a.service"));
	cr_assert(rule_matches(c->rules[0], SCNPM_MANAGER_USER, 1000, "a.service"));
	cr_assert(eq(str, c->rules[1]->cgroup_paths[0], "b.slice"));
	cr_assert(eq(str, c->rules[1]->cgroup_paths[1], "c.slice"));
	cr_assert(eq(ptr, c->rules[1]->cgroup_paths[2], NULL));
	/* unit-bound: unqualified means system units only */
	cr_assert(not(rule_is_literal(c->rules[2])));
	cr_assert(rule_matches(c->rules[2], SCNPM_MANAGER_SYSTEM, 0, "d.service"));
	cr_assert(not(rule_matches(c->rules[2], SCNPM_MANAGER_USER, 1000, "d.service")));
	cr_assert(not(rule_is_literal(c->rules[3])));
	cr_assert(not(rule_matches(c->rules[3], SCNPM_MANAGER_USER, 1000, "e.service")));
	cr_assert(rule_matches(c->rules[4], SCNPM_MANAGER_USER, 1000, "f.service"));
	cr_assert(rule_matches(c->rules[4], SCNPM_MANAGER_SYSTEM, 0, "f.service"));
	/* as systemctl matches: a backslash is literal */
	cr_assert(rule_matches(c->rules[5], SCNPM_MANAGER_SYSTEM, 0, "g\\x2dh.service"));
	config_free(c);

	cr_assert(lt(int, parse("# a.service :: add rule ip t c socket cgroupv2 level 2 \"system.slice/../x\" accept\n",
				&c, &error), 0));
	cr_assert(ne(ptr, strstr(error, ":1: invalid cgroup path 'system.slice/../x'"), NULL), "%s", error);
	free(error);
	config_free(c);
}

/* Random bytes and random mutations of valid configs: never a crash, always either
 * success or an error message with a location. */
Test(config, fuzz)
{
	static const char *const seeds[] = {
		"# a.service :: add rule inet filter out \\\n# accept\n",
		"# user@1000/app-*.scope :: add element inet f s { %{cgroup} : jump x }\n",
		"## x :: y\n#\n#\\\n",
	};
	char buf[512];

	srand(4711);
	for (int iter = 0; iter < 20000; iter++) {
		size_t n = (size_t)(rand() % (int)sizeof(buf));
		struct config *c;
		char *error;
		int r;

		if (iter % 2 == 0) {
			for (size_t i = 0; i < n; i++)
				buf[i] = (char)(rand() % 256);
		} else {
			const char *s = seeds[rand() % 3];

			n = strlen(s);
			memcpy(buf, s, n);
			for (int k = 0; k < 3; k++)
				buf[rand() % (int)n] = (char)(rand() % 256);
		}
		buf[n] = '\0';
		r = parse(buf, &c, &error);
		if (r < 0)
			cr_assert(ne(ptr, error, NULL));
		else
			cr_assert(eq(ptr, error, NULL));
		for (size_t i = 0; i < c->n_rules; i++)
			cr_assert(ne(ptr, c->rules[i]->text, NULL));
		config_free(c);
		free(error);
	}
}
