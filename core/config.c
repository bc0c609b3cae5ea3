/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/template.h>
#include <scnpm/unit-name.h>

#include "config.h"
#include "util.h"

static const char *const families[] = { "ip", "ip6", "inet", "arp", "bridge", "netdev" };

struct config *config_new(void)
{
	return calloc(1, sizeof(struct config));
}

struct rule *rule_free(struct rule *r)
{
	if (!r)
		return NULL;
	free(r->unit_spec);
	free(r->text);
	free(r->family);
	free(r->table);
	free(r->name);
	free(r->body);
	free(r->file);
	strv_free(r->cgroup_paths);
	free(r);
	return NULL;
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_rules; i++)
		rule_free(c->rules[i]);
	free(c->rules);
	strv_free(c->files);
	free(c);
	return NULL;
}

static int set_error(char **ret_error, int r, const char *file, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int set_error(char **ret_error, int r, const char *file, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	if (ret_error) {
		char *e = NULL;
		int k;

		if (line > 0)
			k = asprintf(&e, "%s:%u: %s", file, line, msg);
		else
			k = asprintf(&e, "%s: %s", file, msg);
		*ret_error = k < 0 ? NULL : e;
	}
	return r;
}

static bool glob_char(char c)
{
	return c == '*' || c == '?' || c == '[' || c == ']' || c == '!' || c == '^';
}

bool unit_pattern_is_valid(const char *s)
{
	const char *dot;
	bool glob = false;

	if (!s || !*s || strlen(s) > SCNPM_UNIT_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		if (glob_char(*p))
			glob = true;
		else if (!scnpm_unit_char_is_valid(*p))
			return false;
	}
	if (!glob)
		return scnpm_unit_name_is_valid(s);

	/* A glob: the type suffix must be spelled out, so that a pattern never spans unit
	 * types by accident ("app-*" would match app-x.scope and app-y.service alike). */
	dot = strrchr(s, '.');
	if (!dot || dot == s)
		return false;
	return scnpm_unit_type_is_valid(dot + 1, strlen(dot + 1));
}

/* The original tool's test for "this comment is a directive": the first word looks
 * like NAME.TYPE. Anything else is an ordinary comment, even with "::" in it. */
static bool looks_like_unit(const char *s, size_t n)
{
	const char *dot = NULL;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '.')
			dot = s + i;
	if (!dot || dot == s || dot == s + n - 1)
		return false;
	for (const char *p = dot + 1; p < s + n; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	return true;
}

bool rule_pattern_matches(const struct rule *r, const char *name)
{
	if (r->is_glob)
		return fnmatch(r->pattern, name, FNM_NOESCAPE) == 0;
	return streq(r->pattern, name);
}

bool rule_manager_matches(const struct rule *r, uint32_t manager, uint32_t uid)
{
	switch (r->manager) {
	case SCNPM_MANAGER_SYSTEM:
		return manager == SCNPM_MANAGER_SYSTEM;
	case SCNPM_MANAGER_USER:
		return manager == SCNPM_MANAGER_USER && (!r->has_uid || r->uid == uid);
	default:
		/* unqualified: a literal rule looks again whoever reports the name (its
		 * cgroup path decides); a unit-bound one is for system units only */
		return r->any_manager || rule_is_literal(r) || manager == SCNPM_MANAGER_SYSTEM;
	}
}

bool rule_matches(const struct rule *r, uint32_t manager, uint32_t uid, const char *name)
{
	return rule_manager_matches(r, manager, uid) && rule_pattern_matches(r, name);
}

/* One word of a body: a "quoted string" (no escapes in nft strings) or up to a space,
 * ',', '{' or '}'. */
static const char *body_word(const char *p, const char **ret_start, size_t *ret_len)
{
	p = skip_space(p);
	if (*p == '"') {
		const char *e = strchr(p + 1, '"');

		if (!e)
			return NULL;
		*ret_start = p + 1;
		*ret_len = (size_t)(e - p - 1);
		return e + 1;
	}
	*ret_start = p;
	*ret_len = strcspn(p, " \t,{}");
	return p + *ret_len;
}

static int push_path(char ***l, const char *s, size_t n, char **ret_bad)
{
	_cleanup_free_ char *w = NULL;

	/* nft takes "/system.slice/..." as well */
	for (; n > 0 && *s == '/'; s++, n--)
		;
	w = strndup(s, n);

	if (!w)
		return -ENOMEM;
	if (scnpm_cgroup_path_level(w) == 0) {
		*ret_bad = TAKE_PTR(w);
		return -EINVAL;
	}
	return strv_push(l, w);
}

int rule_body_cgroup_paths(const char *body, char ***ret, char **ret_bad)
{
	char **l = NULL;
	const char *p = body;
	int r;

	*ret = NULL;
	*ret_bad = NULL;
	while ((p = strstr(p, "cgroupv2"))) {
		const char *w;
		size_t n;

		/* "cgroupv2 level N": a word boundary before, then level and its number */
		if ((p > body && p[-1] != ' ' && p[-1] != '\t') || (p[8] != ' ' && p[8] != '\t')) {
			p += 8;
			continue;
		}
		p = skip_space(p + 8);
		if (!startswith(p, "level")) {
			continue;
		}
		p = skip_space(p + 5);
		p += strspn(p, "0123456789");
		p = skip_space(p);
		if (*p == '{') {
			p++;
			for (;;) {
				p = skip_space(p);
				if (*p == '}' || *p == '\0')
					break;
				const char *before = p;

				p = body_word(p, &w, &n);
				if (!p)
					break;
				if (n > 0 && (r = push_path(&l, w, n, ret_bad)) < 0)
					goto fail;
				p = skip_space(p);
				/* a separator, or a stray '{' that is no word: step over it */
				if (*p == ',' || p == before)
					p++;
			}
			/* an unterminated quote ends the body (nft refuses the rule) */
			if (!p)
				break;
		} else {
			p = body_word(p, &w, &n);
			if (!p)
				break;
			/* a placeholder or a set reference (@set) names no literal cgroup */
			if (n > 0 && *w != '%' && *w != '@' && (r = push_path(&l, w, n, ret_bad)) < 0)
				goto fail;
		}
	}
	*ret = l;
	return 0;
fail:
	strv_free(l);
	return r;
}

/* Take the next whitespace-separated word of *p into a new string. */
static char *next_word(const char **p)
{
	const char *s = skip_space(*p), *e = s;

	while (*e && *e != ' ' && *e != '\t')
		e++;
	*p = e;
	return e > s ? strndup(s, (size_t)(e - s)) : NULL;
}

static bool identifier_is_valid(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-' || *p == '.' || *p == '/'))
			return false;
	return *s != '\0';
}

/* "gate" or "gate:OPTION,OPTION": see config.h. */
static int parse_gate(struct rule *r, const char *q, const char *file, unsigned line,
		      char **ret_error)
{
	_cleanup_free_ char *opts = NULL;
	char *save = NULL;

	if (r->gated)
		return set_error(ret_error, -EINVAL, file, line, "more than one gate qualifier");
	r->gated = true;
	if (streq(q, "gate"))
		return 0;
	opts = strdup(q + strlen("gate:"));
	if (!opts)
		return -ENOMEM;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		_cleanup_free_ char *esc = NULL;
		uint64_t usec;

		if (streq(o, "thaw"))
			r->gate_keep_frozen = false;
		else if (streq(o, "keep-frozen"))
			r->gate_keep_frozen = true;
		else if (parse_duration_usec(o, &usec) >= 0 && usec > 0 &&
			 usec <= GATE_DEADLINE_MAX_USEC)
			r->gate_deadline_usec = usec;
		else {
			esc = cescape_trunc(o, 32);
			return set_error(ret_error, -EINVAL, file, line,
					 "invalid gate option '%s' (expected a deadline from 1us to 60s "
					 "such as 200ms, 'thaw' or 'keep-frozen')",
					 esc ?: "");
		}
	}
	if (!*opts || q[strlen(q) - 1] == ',')
		return set_error(ret_error, -EINVAL, file, line,
				 "empty gate option (write 'gate/' or 'gate:OPTION,.../')");
	return 0;
}

/* One qualifier word: which managers' units, or the gate. */
static int parse_qualifier(struct rule *r, const char *q, bool *have_manager, const char *file,
			   unsigned line, char **ret_error)
{
	_cleanup_free_ char *esc = NULL;
	const char *u;

	if (streq(q, "gate") || startswith(q, "gate:"))
		return parse_gate(r, q, file, line, ret_error);
	if (*have_manager) {
		esc = cescape_trunc(q, 64);
		return set_error(ret_error, -EINVAL, file, line,
				 "more than one manager qualifier ('%s/' after another)", esc ?: "");
	}
	*have_manager = true;
	if (streq(q, "system"))
		r->manager = SCNPM_MANAGER_SYSTEM;
	else if (streq(q, "any"))
		r->any_manager = true;
	else if (streq(q, "user"))
		r->manager = SCNPM_MANAGER_USER;
	else if ((u = startswith(q, "user@")) && safe_atou32(u, &r->uid) >= 0) {
		r->manager = SCNPM_MANAGER_USER;
		r->has_uid = true;
	} else {
		esc = cescape_trunc(q, 64);
		return set_error(ret_error, -EINVAL, file, line,
				 "unknown manager qualifier '%s/' (use system/, user/, user@UID/ or "
				 "any/; gate/ or gate:OPTIONS/ for a gate)",
				 esc ?: "");
	}
	return 0;
}

static int parse_unit_spec(struct rule *r, const char *file, unsigned line, char **ret_error)
{
	const char *slash = strrchr(r->unit_spec, '/');
	_cleanup_free_ char *esc = NULL;
	bool have_manager = false;
	int k;

	r->pattern = r->unit_spec;
	r->manager = SCNPM_MANAGER_ANY;
	if (slash) {
		/* qualifiers: every '/'-separated word before the unit, in any order */
		_cleanup_free_ char *q = strndup(r->unit_spec, (size_t)(slash - r->unit_spec));
		char *save = NULL;

		if (!q)
			return -ENOMEM;
		if (*q == '\0' || strstr(q, "//") || *q == '/' || q[strlen(q) - 1] == '/')
			return set_error(ret_error, -EINVAL, file, line,
					 "empty qualifier before the unit name");
		for (char *w = strtok_r(q, "/", &save); w; w = strtok_r(NULL, "/", &save)) {
			k = parse_qualifier(r, w, &have_manager, file, line, ret_error);
			if (k < 0)
				return k;
		}
		r->pattern = slash + 1;
	}

	if (!unit_pattern_is_valid(r->pattern)) {
		esc = cescape_trunc(r->pattern, 64);
		return set_error(ret_error, -EINVAL, file, line,
				 "invalid unit name '%s' (systemd.unit(5): up to 255 of [A-Za-z0-9:_.\\-@], "
				 "ending in a unit type such as .service; globs *?[] allowed)",
				 esc ?: "");
	}
	r->is_glob = strpbrk(r->pattern, "*?[") != NULL;
	return 0;
}

/* A gated literal rule must name the unit's own cgroup: the gate closes on that cgroup
 * only, never on another unit's. */
static int check_gate_literal(const struct rule *r, const char *file, unsigned line,
			      char **ret_error)
{
	_cleanup_free_ char *esc = NULL;

	if (!r->gated || !rule_is_literal(r))
		return 0;
	STRV_FOREACH(p, r->cgroup_paths) {
		const char *last = strrchr(*p, '/');

		if (rule_pattern_matches(r, last ? last + 1 : *p))
			return 0;
	}
	esc = cescape_trunc(r->pattern, 64);
	return set_error(ret_error, -EINVAL, file, line,
			 "gated directive names no cgroup of unit '%s' (the gate freezes the unit's "
			 "own cgroup: name it after 'cgroupv2 level', or use %s)",
			 esc ?: "", SCNPM_PLACEHOLDER_CGROUP);
}

/* "[add [rule|element]] FAMILY TABLE NAME BODY" → the fields of r. */
static int parse_command(struct rule *r, const char *cmd, const char *file, unsigned line,
			 char **ret_error)
{
	const char *p = cmd, *save;
	_cleanup_free_ char *w = NULL;
	bool known = false;
	int k;

	r->pub.object = SCNPM_OBJECT_RULE;
	save = p;
	w = next_word(&p);
	if (w && streq(w, "add")) {
		free(w);
		save = p;
		w = next_word(&p);
	}
	if (w && (streq(w, "rule") || streq(w, "element"))) {
		if (streq(w, "element"))
			r->pub.object = SCNPM_OBJECT_ELEMENT;
	} else
		p = save;

	r->family = next_word(&p);
	r->table = next_word(&p);
	r->name = next_word(&p);
	if (!r->family || !r->table || !r->name)
		return set_error(ret_error, -EINVAL, file, line,
				 "expected '%sFAMILY TABLE %s ...' after '::'",
				 r->pub.object == SCNPM_OBJECT_ELEMENT ? "add element " : "[add [rule]] ",
				 r->pub.object == SCNPM_OBJECT_ELEMENT ? "SET" : "CHAIN");
	for (size_t i = 0; i < ELEMENTSOF(families); i++)
		if (streq(r->family, families[i]))
			known = true;
	if (!known) {
		_cleanup_free_ char *esc = cescape_trunc(r->family, 32);

		return set_error(ret_error, -EINVAL, file, line,
				 "unknown family '%s': expected FAMILY TABLE %s after '::' "
				 "(family one of ip, ip6, inet, arp, bridge, netdev)",
				 esc ?: "", r->pub.object == SCNPM_OBJECT_ELEMENT ? "SET" : "CHAIN");
	}
	if (!identifier_is_valid(r->table) || !identifier_is_valid(r->name)) {
		_cleanup_free_ char *t = cescape_trunc(r->table, 64), *n = cescape_trunc(r->name, 64);

		return set_error(ret_error, -EINVAL, file, line, "invalid table or %s name '%s %s'",
				 r->pub.object == SCNPM_OBJECT_ELEMENT ? "set" : "chain", t ?: "", n ?: "");
	}

	r->body = strdup(skip_space(p));
	if (!r->body)
		return -ENOMEM;
	strip_trailing_space(r->body);
	if (r->pub.object == SCNPM_OBJECT_ELEMENT && !*r->body)
		return set_error(ret_error, -EINVAL, file, line, "element directive without elements");

	k = asprintf(&r->text, "add %s %s %s %s%s%s",
		     r->pub.object == SCNPM_OBJECT_ELEMENT ? "element" : "rule", r->family, r->table,
		     r->name, *r->body ? " " : "", r->body);
	if (k < 0) {
		r->text = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int config_add_directive(struct config *c, const char *file, unsigned line,
				const char *unit_spec, size_t unit_len, const char *cmd,
				char **ret_error)
{
	struct rule *r, **t;
	int k;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->unit_spec = strndup(unit_spec, unit_len);
	r->file = strdup(file);
	r->line = line;
	if (!r->unit_spec || !r->file) {
		rule_free(r);
		return -ENOMEM;
	}
	k = parse_unit_spec(r, file, line, ret_error);
	if (k >= 0)
		k = parse_command(r, cmd, file, line, ret_error);
	if (k < 0) {
		rule_free(r);
		return k;
	}
	for (const char *p = strstr(r->text, "%{"); p; p = strstr(p + 2, "%{")) {
		size_t n = strcspn(p, "} \t\"");
		_cleanup_free_ char *tok = NULL, *esc = NULL;

		if (p[n] == '}' && (strneq(p, SCNPM_PLACEHOLDER_CGROUP, n + 1) ||
				    strneq(p, SCNPM_PLACEHOLDER_LEVEL, n + 1) ||
				    strneq(p, SCNPM_PLACEHOLDER_UNIT, n + 1)))
			continue;
		tok = strndup(p, p[n] == '}' ? n + 1 : n);
		esc = tok ? cescape_trunc(tok, 32) : NULL;
		rule_free(r);
		return set_error(ret_error, -EINVAL, file, line,
				 "unknown placeholder '%s' (known: %s, %s, %s)", esc ?: "",
				 SCNPM_PLACEHOLDER_CGROUP, SCNPM_PLACEHOLDER_LEVEL,
				 SCNPM_PLACEHOLDER_UNIT);
	}
	r->templated = scnpm_template_has_placeholders(r->text);
	if (!r->templated && r->pub.object == SCNPM_OBJECT_RULE) {
		_cleanup_free_ char *bad = NULL;

		k = rule_body_cgroup_paths(r->body, &r->cgroup_paths, &bad);
		if (k < 0) {
			_cleanup_free_ char *esc = bad ? cescape_trunc(bad, 80) : NULL;

			rule_free(r);
			if (k != -EINVAL)
				return k;
			return set_error(ret_error, k, file, line,
					 "invalid cgroup path '%s' after 'cgroupv2 level' (expected "
					 "unit names separated by '/', relative to the cgroup2 root)",
					 esc ?: "");
		}
	}
	k = check_gate_literal(r, file, line, ret_error);
	if (k < 0) {
		rule_free(r);
		return k;
	}

	r->pub = (struct scnpm_rule){
		.size = sizeof(struct scnpm_rule),
		.object = r->pub.object,
		.unit = r->unit_spec,
		.text = r->text,
		.family = r->family,
		.table = r->table,
		.name = r->name,
		.body = r->body,
		.file = r->file,
		.line = line,
	};

	t = realloc(c->rules, (c->n_rules + 1) * sizeof(*t));
	if (!t) {
		rule_free(r);
		return -ENOMEM;
	}
	c->rules = t;
	c->rules[c->n_rules++] = r;
	return 0;
}

/* Strip "#...# " from a comment line; NULL if the line is not a comment. */
static const char *comment_text(const char *line)
{
	const char *p = skip_space(line);

	if (*p != '#')
		return NULL;
	while (*p == '#')
		p++;
	return skip_space(p);
}

/* Remove a trailing backslash (and the spaces around it); true if there was one. */
static bool strip_continuation(char *s)
{
	size_t n;

	strip_trailing_space(s);
	n = strlen(s);
	if (n == 0 || s[n - 1] != '\\')
		return false;
	s[n - 1] = '\0';
	strip_trailing_space(s);
	return true;
}

/* Keep the message of a directive's error and go on with the next directive, so that
 * one run reports every mistake; the first error's code is what the parse returns. */
static int collect_error(char **all, int *first, int r, char *msg)
{
	_cleanup_free_ char *m = msg;
	char *t = NULL;

	if (r == -ENOMEM)
		return r;
	if (*first == 0)
		*first = r;
	if (!m)
		return 0; /* the message itself ran out of memory: the code still counts */
	if (asprintf(&t, "%s%s%s", *all ?: "", *all ? "\n" : "", m) < 0)
		return -ENOMEM;
	free(*all);
	*all = t;
	return 0;
}

/* Ordinary comments may be in any encoding; directives end up in nft rule text. */
static int check_utf8(const char *line, size_t n, const char *file, unsigned lineno,
		      char **ret_error)
{
	size_t ok = utf8_valid_prefix(line, n);

	if (ok == n)
		return 0;
	return set_error(ret_error, -EINVAL, file, lineno, "invalid UTF-8 in directive (byte %zu)",
			 ok + 1);
}

int config_parse_stream(struct config *c, FILE *f, const char *name, char **ret_error)
{
	_cleanup_free_ char *buf = NULL, *acc = NULL, *errors = NULL;
	char *msg = NULL;
	size_t cap = 0, acc_len = 0;
	unsigned lineno = 0, start_line = 0;
	size_t unit_off = 0, unit_len = 0, cmd_off = 0;
	bool cont = false;
	int first = 0;
	ssize_t n;
	int r;

	/* expr reports into msg; keep its error and go on, stop only when out of memory */
#define COLLECT(expr)                                                              \
	do {                                                                       \
		r = (expr);                                                        \
		if (r < 0 && (r = collect_error(&errors, &first, r, TAKE_PTR(msg))) < 0) \
			return r;                                                  \
	} while (0)

	for (;;) {
		const char *text, *p, *u, *nul;
		char *line;

		errno = 0;
		n = getline(&buf, &cap, f);
		if (n < 0) {
			if (ferror(f)) {
				COLLECT(set_error(&msg, errno > 0 ? -errno : -EIO, name, lineno + 1,
						  "read failed: %s", strerror(errno > 0 ? errno : EIO)));
				cont = false;
			}
			break;
		}
		lineno++;
		if ((size_t)n > CONFIG_LINE_MAX) {
			COLLECT(set_error(&msg, -E2BIG, name, lineno,
					  "line is longer than %u bytes", CONFIG_LINE_MAX));
			cont = false;
			continue;
		}
		line = buf;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		/* A NUL would end the line for us here and not for nft, which reads the
		 * same file: whatever follows it must not be left unseen. */
		nul = memchr(line, '\0', (size_t)n);
		if (nul) {
			COLLECT(set_error(&msg, -EINVAL, name, lineno, "NUL byte in line (byte %zu)",
					  (size_t)(nul - line) + 1));
			cont = false;
			continue;
		}

		if (cont) {
			char *t;
			size_t l;
			bool more;

			text = comment_text(line);
			if (!text) {
				COLLECT(set_error(&msg, -EINVAL, name, start_line,
						  "broken continuation: the directive ends with '\\' but line %u is not a comment",
						  lineno));
				cont = false;
				continue;
			}
			r = check_utf8(line, (size_t)n, name, lineno, &msg);
			if (r < 0) {
				COLLECT(r);
				cont = false;
				continue;
			}
			l = strlen(text);
			if (acc_len + 1 + l > CONFIG_LINE_MAX) {
				COLLECT(set_error(&msg, -E2BIG, name, start_line,
						  "directive is longer than %u bytes", CONFIG_LINE_MAX));
				cont = false;
				continue;
			}
			t = realloc(acc, acc_len + 1 + l + 1);
			if (!t)
				return -ENOMEM;
			acc = t;
			acc[acc_len++] = ' ';
			memcpy(acc + acc_len, text, l + 1);
			more = strip_continuation(acc + acc_len);
			acc_len = strlen(acc);
			if (more)
				continue;
			cont = false;
			COLLECT(config_add_directive(c, name, start_line, acc + unit_off, unit_len,
						     acc + cmd_off, &msg));
			continue;
		}

		text = comment_text(line);
		if (!text)
			continue;

		/* UNIT :: ... */
		u = text;
		p = u + strcspn(u, " \t");
		unit_len = (size_t)(p - u);
		p = skip_space(p);
		if (!strneq(p, "::", 2) || (p[2] != '\0' && p[2] != ' ' && p[2] != '\t'))
			continue;
		{
			/* qualifiers are not part of the NAME.TYPE shape test */
			const char *slash = memrchr(u, '/', unit_len);
			const char *shape = slash ? slash + 1 : u;

			if (!looks_like_unit(shape, unit_len - (size_t)(shape - u)))
				continue;
		}
		r = check_utf8(line, (size_t)n, name, lineno, &msg);
		if (r < 0) {
			COLLECT(r);
			continue;
		}

		free(acc);
		acc = strdup(text);
		if (!acc)
			return -ENOMEM;
		unit_off = 0;
		cmd_off = (size_t)(p + 2 - text);
		start_line = lineno;
		if (strip_continuation(acc)) {
			cont = true;
			acc_len = strlen(acc);
			continue;
		}
		COLLECT(config_add_directive(c, name, start_line, acc + unit_off, unit_len,
					     acc + cmd_off, &msg));
	}

	if (cont)
		COLLECT(set_error(&msg, -EINVAL, name, start_line,
				  "broken continuation: the directive ends with '\\' at the end of the file"));
#undef COLLECT
	if (first < 0 && ret_error)
		*ret_error = TAKE_PTR(errors);
	return first;
}

int config_parse_file(struct config *c, const char *path, char **ret_error)
{
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f)
		return set_error(ret_error, -errno, path, 0, "cannot read: %s", strerror(errno));
	r = config_parse_stream(c, f, path, ret_error);
	fclose(f);
	if (r >= 0) {
		r = strv_push(&c->files, path);
		if (r < 0)
			return r;
	}
	return r;
}
