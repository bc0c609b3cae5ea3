/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_NOTIFY_H
#define SCNPM_SINK_NFT_NOTIFY_H

/*
 * Reading nf_tables notifications (NFNLGRP_NFTABLES), without a kernel: what one
 * netlink message says, and whether the transaction a NEWGEN message closes is the one
 * we just committed (so that its NEWRULE messages tell us our rules' handles).
 *
 * How a transaction shows up on the monitor socket: the kernel commits one batch at a
 * time per network namespace (commit_mutex) and, still inside that commit, sends one
 * message per changed object in batch order, then NEWGEN. Every message carries the
 * committer's netlink portid in nlmsg_pid; NEWGEN also carries the committing task's
 * id (NFTA_GEN_PROC_PID). So the NEWRULE messages between two NEWGENs belong to the
 * transaction the second NEWGEN closes.
 */

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>

enum nft_notify_type {
	NFT_NOTIFY_OTHER = 0, /* nothing sink-nft cares about */
	NFT_NOTIFY_NEWRULE,
	NFT_NOTIFY_DELRULE,
	NFT_NOTIFY_DELCHAIN,
	NFT_NOTIFY_DELTABLE,
	NFT_NOTIFY_NEWGEN,
	NFT_NOTIFY_NEWCHAIN,
	NFT_NOTIFY_NEWTABLE,
};

struct nft_notify {
	enum nft_notify_type type;
	int family;	   /* nfgen_family */
	uint32_t portid;   /* nlmsg_pid: the committer's netlink port */
	const char *table; /* points into the message; NULL for NEWGEN (and a
			    * ruleset-wide DELTABLE never comes: one per table) */
	const char *chain; /* rules and chains */
	uint64_t handle;   /* rules */
	const char *comment; /* rules: the comment in the rule's userdata (points into the
			      * message), NULL when it has none */
	uint32_t gen_id;   /* NEWGEN */
	uint32_t gen_pid;  /* NEWGEN: committing task id, 0 when the kernel did not say */
};

/* Decode one message. 0 (type OTHER for messages of no interest), -EBADMSG when a
 * message of interest lacks what it must carry. */
int nft_notify_parse(const struct nlmsghdr *nlh, struct nft_notify *ret);

/* The NEWRULE messages of the transaction in progress. */
struct nft_newrule {
	int family;
	char *table, *chain; /* owned */
	uint64_t handle;
	uint32_t portid;
};

struct nft_txn {
	struct nft_newrule *rules;
	size_t n, cap;
};

int nft_txn_add(struct nft_txn *x, const struct nft_notify *newrule);
void nft_txn_reset(struct nft_txn *x);
void nft_txn_done(struct nft_txn *x);

/* A rule we added and whose handle we want to learn. */
struct nft_expect {
	int family;
	const char *table; /* unquoted */
	const char *chain; /* unquoted */
	uint64_t handle;   /* out: set by nft_txn_match() */
	void *owner;	   /* the caller's, untouched (sink-nft: the instance the add is for) */
	uint64_t tag;	   /* the caller's, untouched */
};

/*
 * Is the transaction x, closed by NEWGEN gen, the one in which we added the rules of
 * e[0..n), in this order? "We" is the netlink port that committed it (portid), or when
 * that is not known (0), the committing task (tid; only right outside a PID namespace:
 * the kernel reports the task's id in the initial one). Returns 1 and fills e[].handle
 * when it is; 0 when it is someone else's (or one of ours without new rules); -EBADMSG
 * when it is ours but does not hold the rules expected.
 */
int nft_txn_match(const struct nft_txn *x, const struct nft_notify *gen, uint32_t portid,
		  uint32_t tid, struct nft_expect *e, size_t n);

#endif
