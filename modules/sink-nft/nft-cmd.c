/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>
#include <scnpm/nft-family.h>

#include "nft-cmd.h"

void nft_buf_done(struct nft_buf *b)
{
	free(b->data);
	*b = (struct nft_buf){};
}

void nft_buf_reset(struct nft_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int nft_buf_appendf(struct nft_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;

	if (b->len + (size_t)n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}

	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int nft_family_from_name(const char *name)
{
	int f = scnpm_nft_family_from_name(name);

	return f < 0 ? -EINVAL : f;
}

const char *nft_family_name(int family)
{
	return scnpm_nft_family_name(family);
}

int nft_name_unquote(const char *name, char **ret)
{
	size_t len;
	char *s;

	if (!name || !*name)
		return -EINVAL;
	len = strlen(name);
	if (len >= 2 && name[0] == '"' && name[len - 1] == '"') {
		name++;
		len -= 2;
	}
	if (len == 0)
		return -EINVAL;
	s = strndup(name, len);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* Names end up unquoted in a command line: nothing in them may end that command. */
static int nft_cmd_check_token(const char *s)
{
	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++)
		if (*s == '\n' || *s == ';' || *s == '#' || *s == ' ' || *s == '\t')
			return -EINVAL;
	return 0;
}

int nft_cmd_delete_rule(struct nft_buf *b, const char *family, const char *table, const char *chain,
			uint64_t handle)
{
	if (nft_cmd_check_token(family) < 0 || nft_cmd_check_token(table) < 0 ||
	    nft_cmd_check_token(chain) < 0 || handle == 0)
		return -EINVAL;
	return nft_buf_appendf(b, "delete rule %s %s %s handle %" PRIu64 "\n", family, table, chain,
			       handle);
}

int nft_cmd_flush_chain(struct nft_buf *b, const char *family, const char *table, const char *chain)
{
	if (nft_cmd_check_token(family) < 0 || nft_cmd_check_token(table) < 0 ||
	    nft_cmd_check_token(chain) < 0)
		return -EINVAL;
	return nft_buf_appendf(b, "flush chain %s %s %s\n", family, table, chain);
}

int nft_cmd_add_text(struct nft_buf *b, const char *text)
{
	int quoted = 0;

	if (!text || !*text)
		return -EINVAL;
	for (const char *p = text; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (*p == '\n' || *p == '\r' || (*p == ';' && !quoted))
			return -EINVAL;
	}
	if (quoted)
		return -EINVAL;
	return nft_buf_appendf(b, "%s\n", text);
}

enum nft_error_kind nft_error_classify(const char *errbuf)
{
	if (!errbuf)
		return NFT_ERROR_OTHER;
	if (strstr(errbuf, "cgroupv2 path fails"))
		return NFT_ERROR_NO_CGROUP;
	if (nft_error_errno(errbuf) == -ENOENT)
		return NFT_ERROR_NOENT;
	return NFT_ERROR_OTHER;
}

int nft_error_errno(const char *errbuf)
{
	static const int errnos[] = {
	    ENOENT,	  EPERM,	   EACCES,  EEXIST,  EBUSY,  ENOMEM, ENOSPC, EOPNOTSUPP,
	    EAFNOSUPPORT, EPROTONOSUPPORT, ENOTDIR, ENOBUFS, EMLINK, ERANGE, EINVAL,
	};
	const char *first;

	if (!errbuf)
		return -EIO;
	/* Only look at the first error line: later lines echo the command, which may hold
	 * any text. */
	first = strstr(errbuf, "Error: ");
	if (!first)
		return -EIO;
	for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
		const char *msg = strerror(errnos[i]);
		const char *hit = strstr(first, msg);
		const char *eol = strchr(first, '\n');

		if (hit && (!eol || hit < eol))
			return -errnos[i];
	}
	return -EIO;
}

static int is_marker_line(const char *s, size_t len)
{
	int marks = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '^' || s[i] == '~')
			marks++;
		else if (s[i] != ' ')
			return 0;
	}
	return marks > 0;
}

int nft_error_summary(const char *errbuf, char **ret)
{
	const char *msg, *msg_end, *cmd, *cmd_end, *mark, *mark_end;
	size_t msg_len, tok_start = 0, tok_len = 0;
	char *s;

	msg = errbuf ? strstr(errbuf, "Error: ") : NULL;
	if (!msg) {
		s = strdup("unknown error");
		goto out;
	}
	msg += strlen("Error: ");
	msg_end = strchrnul(msg, '\n');
	msg_len = (size_t)(msg_end - msg);
	while (msg_len > 0 && (msg[msg_len - 1] == ' ' || msg[msg_len - 1] == '\r'))
		msg_len--;

	/* nft prints the command on the next line and underlines the culprit below it. */
	if (*msg_end == '\n') {
		cmd = msg_end + 1;
		cmd_end = strchrnul(cmd, '\n');
		if (*cmd_end == '\n') {
			mark = cmd_end + 1;
			mark_end = strchrnul(mark, '\n');
			if (is_marker_line(mark, (size_t)(mark_end - mark))) {
				size_t cmd_len = (size_t)(cmd_end - cmd);

				tok_start = strspn(mark, " ");
				tok_len = (size_t)(mark_end - mark) - tok_start;
				while (tok_len > 0 && mark[tok_start + tok_len - 1] == ' ')
					tok_len--;
				if (tok_start >= cmd_len)
					tok_len = 0;
				else if (tok_start + tok_len > cmd_len)
					tok_len = cmd_len - tok_start;
				if (tok_len > 0) {
					if (asprintf(&s, "%.*s at '%.*s'", (int)msg_len, msg,
						     (int)tok_len, cmd + tok_start) < 0)
						return -ENOMEM;
					*ret = s;
					return 0;
				}
			}
		}
	}
	s = strndup(msg, msg_len);
out:
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
