/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_CMD_H
#define SCNPM_SINK_NFT_CMD_H

/*
 * Pure helpers of sink-nft, testable without a kernel: nft command text, reading nft's
 * error output, nftables family names. None of them log; all return 0 or -errno.
 */

#include <stddef.h>
#include <stdint.h>

/* A growing NUL-terminated string, for batches of nft commands. */
struct nft_buf {
	char *data; /* owned; NULL while empty */
	size_t len;
	size_t cap;
};

void nft_buf_done(struct nft_buf *b);
void nft_buf_reset(struct nft_buf *b);
/* Appends printf output. 0 or -ENOMEM. */
int nft_buf_appendf(struct nft_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline const char *nft_buf_str(const struct nft_buf *b)
{
	return b->data ? b->data : "";
}

/* NFPROTO_* of an nft family name ("inet" -> NFPROTO_INET), -EINVAL when unknown. */
int nft_family_from_name(const char *name);
/* The other way round; NULL when unknown. */
const char *nft_family_name(int family);

/* Table, chain and set names as nft prints them may be quoted ("my chain"); the kernel
 * knows them without quotes. Copies name without one pair of surrounding double quotes
 * into a new string. 0, -EINVAL (NULL or empty name) or -ENOMEM. */
int nft_name_unquote(const char *name, char **ret);

/* Appends "delete rule FAMILY TABLE CHAIN handle N\n". 0, -EINVAL or -ENOMEM. */
int nft_cmd_delete_rule(struct nft_buf *b, const char *family, const char *table, const char *chain,
			uint64_t handle);
/* Appends "flush chain FAMILY TABLE CHAIN\n". */
int nft_cmd_flush_chain(struct nft_buf *b, const char *family, const char *table,
			const char *chain);
/* Appends one rule command (already expanded rule text) and a newline. Refuses text
 * with a newline or ';' outside a quoted string, which would smuggle a second command
 * into the batch (-EINVAL). */
int nft_cmd_add_text(struct nft_buf *b, const char *text);

enum nft_error_kind {
	NFT_ERROR_OTHER = 0,
	NFT_ERROR_NO_CGROUP, /* "cgroupv2 path fails": the unit's cgroup does not exist */
	NFT_ERROR_NOENT,     /* table, chain or rule handle does not exist */
};

/* What kind of failure does nft's error output (error buffer) describe? */
enum nft_error_kind nft_error_classify(const char *errbuf);
/* A negative errno for nft's error output: the strerror() text nft appends, mapped
 * back; -EIO when nothing is recognized. */
int nft_error_errno(const char *errbuf);
/* One line for a log or report: the text of nft's first "Error: " line, followed by
 * " at 'TOKEN'" when nft underlined part of the command. Always succeeds unless out of
 * memory (*ret is "unknown error" when errbuf has nothing usable). */
int nft_error_summary(const char *errbuf, char **ret);

#endif
