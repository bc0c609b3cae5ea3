/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/tag.h>

#include "nft-tag.h"

uint64_t nft_tag_compute(const struct nft_tag_input *in)
{
	uint64_t h = SCNPM_TAG_SEED;

	h = scnpm_tag_mix_str(h, in->directive_unit);
	h = scnpm_tag_mix_str(h, in->directive_text);
	h = scnpm_tag_mix_u64(h, in->manager);
	h = scnpm_tag_mix_u64(h, in->uid);
	h = scnpm_tag_mix_str(h, in->unit);
	h = scnpm_tag_mix_str(h, in->text);
	h = scnpm_tag_mix_u64(h, in->cgroup_id);
	return scnpm_tag_finish(h);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Where the text's own trailing "comment VALUE" starts (the word "comment"), and its
 * value. nft only takes the comment at the end of a rule. Quoted strings cannot contain
 * a quote in nft, so scanning for quotes is enough to stay outside them.
 * Returns 1 found, 0 none.
 */
static int find_comment(const char *text, size_t *ret_start, const char **ret_value,
			size_t *ret_len)
{
	size_t n = strlen(text), end = n, vstart, vend, wstart;

	while (end > 0 && is_space(text[end - 1]))
		end--;
	if (end == 0)
		return 0;
	vend = end;
	if (text[end - 1] == '"') {
		const char *q;

		if (end < 2)
			return 0;
		q = memrchr(text, '"', end - 1);
		if (!q)
			return 0;
		vstart = (size_t)(q - text);
	} else {
		vstart = end;
		while (vstart > 0 && !is_space(text[vstart - 1]) && text[vstart - 1] != '"')
			vstart--;
	}
	wstart = vstart;
	while (wstart > 0 && is_space(text[wstart - 1]))
		wstart--;
	if (wstart == vstart || wstart < 7 || strncmp(text + wstart - 7, "comment", 7) != 0)
		return 0;
	if (wstart > 7 && !is_space(text[wstart - 8]))
		return 0;
	/* "comment" itself inside a quoted string? Count the quotes before it. */
	{
		size_t quotes = 0;

		for (size_t i = 0; i < wstart - 7; i++)
			quotes += text[i] == '"';
		if (quotes % 2)
			return 0;
	}
	*ret_start = wstart - 7;
	if (text[vstart] == '"') {
		*ret_value = text + vstart + 1;
		*ret_len = vend - vstart - 2;
	} else {
		*ret_value = text + vstart;
		*ret_len = vend - vstart;
	}
	return 1;
}

int nft_tag_text(const char *text, uint64_t tag, char **ret, const char **ret_why)
{
	const char *value = NULL;
	size_t start = 0, len = 0;
	char *out;
	int r;

	if (find_comment(text, &start, &value, &len)) {
		if (len + 1 + SCNPM_TAG_LEN > NFT_COMMENT_MAX) {
			*ret_why = "its comment is too long to carry scnpm's tag (at most 105 characters)";
			return -EINVAL;
		}
		r = asprintf(&out, "%.*scomment \"%.*s%s" SCNPM_TAG_PREFIX "%016" PRIx64 "\"",
			     (int)start, text, (int)len, value, len ? " " : "", tag);
	} else {
		size_t end = strlen(text);

		while (end > 0 && is_space(text[end - 1]))
			end--;
		r = asprintf(&out, "%.*s comment \"" SCNPM_TAG_PREFIX "%016" PRIx64 "\"", (int)end, text,
			     tag);
	}
	if (r < 0)
		return -ENOMEM;
	*ret = out;
	return 0;
}
