/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_NFTNL_BATCH_H
#define SCNPM_NFTNL_BATCH_H

/*
 * The non-logging half of sink-nftnl: parsing the rule bodies this sink can express and
 * building / parsing the nf_tables netlink messages it sends and receives. Everything
 * here is pure (no socket, no kernel) so it can be tested by round trip: build with
 * libnftnl, parse back with libnftnl, compare. Functions return 0 or -errno.
 */

#include <linux/netfilter/nf_tables.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct nlmsghdr;

enum nlbatch_verdict_kind {
	NLBATCH_VERDICT_NONE = 0,	/* plain set element: no data */
	NLBATCH_VERDICT_ACCEPT,
	NLBATCH_VERDICT_DROP,
	NLBATCH_VERDICT_REJECT,		/* dispatch rules only */
	NLBATCH_VERDICT_JUMP,
	NLBATCH_VERDICT_GOTO,
};

struct nlbatch_verdict {
	int kind;			/* enum nlbatch_verdict_kind */
	char chain[NFT_CHAIN_MAXNAMELEN]; /* jump/goto target */
};

/* "socket cgroupv2 level N %{cgroup} [counter] VERDICT" */
struct nlbatch_dispatch {
	uint32_t level;			/* 1..255; 0: from the unit ("level %{level}") */
	int counter;
	struct nlbatch_verdict verdict;
	uint64_t tag;			/* scnpm's tag (<scnpm/tag.h>) in the rule's comment; 0: none */
};

/* A growable buffer of netlink messages: one nf_tables batch. */
struct nlbatch_buf {
	char *data;
	size_t len, cap;
	unsigned n_msgs;		/* messages between begin and end */
};

/* "inet" -> NFPROTO_INET, ...; -EINVAL for an unknown family. */
int nlbatch_family_from_string(const char *s);
const char *nlbatch_family_to_string(int family);

int nlbatch_verdict_equal(const struct nlbatch_verdict *a, const struct nlbatch_verdict *b);
/* "jump mail_only"; buf of at least NFT_CHAIN_MAXNAMELEN + 8 */
const char *nlbatch_verdict_to_string(const struct nlbatch_verdict *v, char *buf, size_t size);

/* Element directive body: "{ %{cgroup} }" (ret->kind NONE) or "{ %{cgroup} : VERDICT }"
 * with VERDICT accept, drop, jump CHAIN or goto CHAIN. -EINVAL for anything else. */
int nlbatch_parse_element_body(const char *body, struct nlbatch_verdict *ret);

/* Rule body "socket cgroupv2 level N %{cgroup} [counter] VERDICT", VERDICT one of accept,
 * drop, reject, jump CHAIN, goto CHAIN; N a number 1..255 or %{level}. -EINVAL else. */
int nlbatch_parse_dispatch_body(const char *body, struct nlbatch_dispatch *ret);

void nlbatch_buf_done(struct nlbatch_buf *b);
void nlbatch_buf_reset(struct nlbatch_buf *b);

/* Open and close an nf_tables batch (NFNL_MSG_BATCH_BEGIN / _END). */
int nlbatch_begin(struct nlbatch_buf *b, uint32_t seq);
/* The same, carrying the ruleset generation the batch was decided on (NFNL_BATCH_GENID):
 * the kernel refuses it with ERESTART when another commit came in between. 0: no check. */
int nlbatch_begin_genid(struct nlbatch_buf *b, uint32_t seq, uint32_t genid);
int nlbatch_end(struct nlbatch_buf *b, uint32_t seq);

/*
 * Set elements. type is NFT_MSG_NEWSETELEM or NFT_MSG_DELSETELEM; v is NULL (or kind
 * NONE) for a plain set, the verdict for a verdict map (ignored for deletion). The
 * element key is the cgroup id, 8 bytes in host byte order (nft's cgroupsv2 type).
 * Every message carries NLM_F_ACK.
 */
int nlbatch_put_setelem(struct nlbatch_buf *b, uint16_t type, int family, const char *table,
			const char *set, uint64_t id, const struct nlbatch_verdict *v,
			uint32_t seq);
/* DELSETELEM without elements: flush the set. */
int nlbatch_put_flush_set(struct nlbatch_buf *b, int family, const char *table, const char *set,
			  uint32_t seq);
/* NEWRULE (append, ACK, ECHO) for "socket cgroupv2 level L <id> [counter] VERDICT". */
int nlbatch_put_dispatch_rule(struct nlbatch_buf *b, int family, const char *table,
			      const char *chain, const struct nlbatch_dispatch *d, uint32_t level,
			      uint64_t id, uint32_t seq);
/* DELRULE by handle; handle 0 deletes every rule of the chain (flush). */
int nlbatch_put_delrule(struct nlbatch_buf *b, int family, const char *table, const char *chain,
			uint64_t handle, uint32_t seq);

/* A GETSETELEM dump request, written to buf (at least 1024 + names bytes); returns its
 * length. */
ssize_t nlbatch_getsetelem(char *buf, size_t size, int family, const char *table, const char *set,
			   uint32_t seq);

/* A GETRULE dump request for one chain; returns its length. */
ssize_t nlbatch_getrule(char *buf, size_t size, int family, const char *table, const char *chain,
			uint32_t seq);
/* NFT_MSG_GETGEN: the ruleset's generation; the answer (and every commit's last
 * notification) is NEWGEN, which nlbatch_parse_gen() reads. 0 or -errno. */
ssize_t nlbatch_getgen(char *buf, size_t size, uint32_t seq);
int nlbatch_parse_gen(const struct nlmsghdr *nlh, uint32_t *ret);

/* The error code an NLMSG_ERROR (0: an ack) or NLMSG_DONE message carries: 0 and
 * *ret_error; -ENOMSG for another type, -EBADMSG when it is too short to carry one. */
int nlbatch_parse_error(const struct nlmsghdr *nlh, int *ret_error);

/* Calls cb for each element key of a NEWSETELEM message (dump reply or notification)
 * that is 8 bytes long. Returns the number of ids, or -errno. */
int nlbatch_parse_setelem_ids(const struct nlmsghdr *nlh, void (*cb)(uint64_t id, void *data),
			      void *data);

/* What a table/chain/set/rule message names. Strings point into ret (copied). */
struct nlbatch_object {
	uint16_t msg;			/* NFT_MSG_* */
	int family;
	char table[NFT_TABLE_MAXNAMELEN];
	char name[NFT_NAME_MAXLEN];	/* chain or set; chain for rules */
	uint64_t handle;		/* rule handle (rules only) */
};

/* Parses an nf_tables message of type NEW/DEL TABLE, CHAIN, SET or RULE. -EPROTO for
 * anything else or a malformed message. */
int nlbatch_parse_object(const struct nlmsghdr *nlh, struct nlbatch_object *ret);

/* Does the rule message describe "socket cgroupv2 level L <id> [counter] VERDICT"?
 * Fills what it finds; -ENOMSG when the rule has another shape. */
int nlbatch_parse_dispatch_rule(const struct nlmsghdr *nlh, struct nlbatch_dispatch *ret_d,
				uint32_t *ret_level, uint64_t *ret_id, uint64_t *ret_handle);

#endif /* SCNPM_NFTNL_BATCH_H */
