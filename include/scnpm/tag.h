/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_TAG_H
#define SCNPM_TAG_H

/*
 * scnpm's tag on the rules it adds: an nft comment ending in "scnpm:" and 16 lowercase
 * hex digits (the whole comment, or after a space), a hash of what makes the rule what
 * it is. Sinks write it into the rule's userdata (nft shows it as the comment) and read it
 * back to recognise their own rules across restarts: a rule without it is never theirs.
 * Header-only: the hash (FNV-1a 64, numbers little-endian, strings with their NUL, so the
 * same input gives the same tag on every host) and reading a comment.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCNPM_TAG_PREFIX "scnpm:"
#define SCNPM_TAG_LEN	 (sizeof(SCNPM_TAG_PREFIX) - 1 + 16)
#define SCNPM_TAG_SEED	 UINT64_C(0xcbf29ce484222325)

static inline uint64_t scnpm_tag_mix(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static inline uint64_t scnpm_tag_mix_str(uint64_t h, const char *s)
{
	return scnpm_tag_mix(h, s ? s : "", strlen(s ? s : "") + 1);
}

static inline uint64_t scnpm_tag_mix_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return scnpm_tag_mix(h, b, sizeof(b));
}

/* A finished hash as a tag: never 0, which means "no tag". */
static inline uint64_t scnpm_tag_finish(uint64_t h)
{
	return h ? h : 1;
}

/* The comment in a rule's userdata as nft writes it (TLVs of { u8 type, u8 len,
 * value[len] }, type 0 a NUL-terminated string), pointing into data; NULL when there is
 * none or the blob is malformed. */
static inline const char *scnpm_udata_comment(const void *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;

	while (p && end - p >= 2) {
		unsigned char type = p[0], l = p[1];

		if (l > end - p - 2)
			return NULL;
		if (type == 0)
			return l > 0 && p[2 + l - 1] == '\0' ? (const char *)p + 2 : NULL;
		p += 2 + l;
	}
	return NULL;
}

/* The tag in a comment, or 0 when it carries none. */
static inline uint64_t scnpm_tag_from_comment(const char *comment)
{
	size_t n, p = sizeof(SCNPM_TAG_PREFIX) - 1;
	uint64_t v = 0;
	const char *t;

	if (!comment)
		return 0;
	n = strlen(comment);
	if (n < SCNPM_TAG_LEN)
		return 0;
	t = comment + n - SCNPM_TAG_LEN;
	if (t != comment && t[-1] != ' ')
		return 0;
	if (strncmp(t, SCNPM_TAG_PREFIX, p) != 0)
		return 0;
	for (size_t i = p; i < SCNPM_TAG_LEN; i++) {
		char c = t[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return 0;
		v = v << 4 | (uint64_t)d;
	}
	return v;
}

#ifdef __cplusplus
}
#endif

#endif
