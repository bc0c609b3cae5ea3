/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFT_H
#define SCNPM_SINK_NFT_H

/*
 * sink-nft's state, shared by its parts:
 *   sink-nft.c   the module callbacks and the nf_tables notifications;
 *   nft-sync.c   the sync: plan (unchanged, adopt, delete, add), one transaction, the
 *                one-by-one fallback, reports, restores, the start-up adoption and sweep;
 *   nft-run.c    the libnftables context: running a batch, learning its handles;
 *   nft-del.c    deletes by handle as our own batches, checked against the generation;
 *   nft-fast.c   the fast path of a unit restart: templates of the rules withdrawn, put
 *                back for the new cgroup as one raw batch;
 *   nft-check.c  scnpm --check: dry runs of what apply() would send;
 *   nft-inspect.c "scnpm status": inspect() and health().
 */

#include <libmnl/libmnl.h>
#include <nftables/libnftables.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include <scnpm/module.h>

#include "nft-cmd.h"
#include "nft-dump.h"
#include "nft-instance.h"
#include "nft-notify.h"
#include "nft-replay.h"

enum nft_sink_lost_state {
	NFT_SINK_LOST_NONE = 0,
	NFT_SINK_LOST_DRAINING, /* ENOBUFS seen, queue not yet read to the end */
	NFT_SINK_LOST_WAIT_GEN, /* queue read to the end, the transaction in flight is torn */
};

/* A rule of ours to delete that no instance holds any more: a removed directive's, or a
 * stale leftover of an earlier run. */
struct nft_del {
	int family;
	char *table, *chain; /* owned, unquoted */
	uint64_t handle;     /* 0: settled (deleted, or known gone) */
	uint64_t tag;	     /* the tag it carries, 0 when not known */
	int err;	     /* nft-del.c: this delete's ack */
};

/* nft-fast.c: the template of a rule an instance withdrew, under the instance's key. */
struct nft_fast_entry {
	const void *rule; /* not dereferenced */
	uint32_t manager, uid;
	char *unit;	    /* owned */
	uint64_t path_hash; /* the instance's in_path_hash when captured */
	uint64_t used;	    /* when captured or last put: the least recent goes first */
	int refused;	    /* the kernel refused what was put from it: to be dropped */
	struct nft_replay t;
};

struct nft_fast {
	struct nft_fast_entry *e; /* at most NFT_FAST_KEEP */
	size_t n;
	uint64_t clock;
	uint64_t n_adds;    /* rules added on the fast path */
	uint64_t n_refused; /* fast batches the kernel refused: their adds went the slow way */
};

struct nft_sink {
	const struct scnpm_host *host;
	struct nft_ctx *nft;
	int nft_fd;	     /* libnftables' netlink socket, -1 when not found */
	uint32_t nft_portid; /* its port, once the kernel bound it; 0 before */
	struct mnl_socket *mon;
	sd_event_source *mon_source;
	sd_event_source *sync_source;  /* defer: the sync, once per loop iteration */
	sd_event_source *sweep_source; /* timer: delete leftovers nobody adopted */
	char *rxbuf;

	struct nft_instances instances;
	struct nft_del *dels;
	size_t n_dels, cap_dels;
	/* The deletes being sent (nft-del.c): a notification that one of them is gone
	 * settles it there too. */
	struct nft_del *inflight;
	size_t n_inflight;
	struct mnl_socket *del_nl; /* our own nf_tables batches: the deletes */
	uint32_t del_seq;
	uint32_t genid; /* of the last NEWGEN read; 0 before the first */
	uint64_t n_del_refused; /* delete batches the kernel refused: the ruleset had moved on */
	struct nft_fast fast;

	/* Tagged rules found in the kernel and not (yet) adopted: at start, after a resync. */
	struct nft_seen_list seen;
	int need_resync; /* read the ruleset before the next sync */
	int resync_failed; /* the last read failed: again at the next sync, no sooner */
	int started;

	struct nft_txn txn; /* NEWRULE messages since the last NEWGEN */
	enum nft_sink_lost_state lost;
	uint64_t n_lost;
	uint64_t n_restored;
	uint64_t n_unknown_ids; /* applies with a cgroup path but no id */
	/* The last repair of what others deleted: from the first loss seen (monotonic) to
	 * the sync that restored it, and when that was (realtime). */
	uint64_t repair_start_usec; /* 0: nothing lost waits */
	uint64_t last_repair_usec, last_repair_realtime_usec;
	char inspect_object[512]; /* what inspect() last read back, for people */

	/* The adds of the command being run, whose handles our own NEWGEN will close. */
	struct nft_expect *expect;
	size_t n_expect;
	uint32_t expect_tid;
	int expect_state; /* 0 waiting, 1 matched, < 0 failed */

	struct nft_buf cmd;

	/* --check: config files tried as nftables scripts, and whether they loaded */
	struct nft_checked_file {
		char *name;
		int result; /* 0 or -errno */
	} *checked_files;
	size_t n_checked_files;
};

/* nft-check.c: the module's check() */
int nft_sink_check(void *state, const struct scnpm_rule *rule, const char *text,
		   const struct scnpm_event *unit);

/* nft-inspect.c: the module's inspect() and health() */
int nft_sink_inspect(void *state, const struct scnpm_rule *rule, const struct scnpm_event *unit,
		     struct scnpm_inspect *ret);
int nft_sink_health(void *state);

/* Something of ours was deleted by someone else: the repair starts now. */
void nft_sink_repair_started(struct nft_sink *s);

/* nft-run.c */
int nft_sink_new_ctx(struct nft_sink *s);
/* Run cmds (one or more lines) as one libnftables batch, one kernel transaction. For the
 * n rules it adds (e, in order), learn their handles from our transaction's
 * notifications; a handle stays 0 when that failed (then need_resync is set: the tags
 * find them). On failure returns -errno and, in *ret_err, nft's error output (valid until
 * the next run). */
int nft_sink_run(struct nft_sink *s, const char *cmds, struct nft_expect *e, size_t n,
		 const char **ret_err);

/* nft-del.c */
int nft_sink_open_del_socket(struct nft_sink *s);
/* Our own nf_tables batches and requests on del_nl, shared by nft-del.c and nft-fast.c:
 * the begin or end message of a batch (genid 0: none) at buf, returning its length;
 * sending a batch or request; reading everything the kernel answered, which it queues
 * before sendto() returns: messages to cb (may be NULL), acks and errors to ack_cb.
 * Reading returns 0, -ENOBUFS when answers were lost, or another -errno. */
size_t nft_sink_put_batch_msg(void *buf, uint16_t type, uint32_t seq, uint32_t genid);
int nft_sink_nl_send(struct nft_sink *s, const void *buf, size_t len);
int nft_sink_nl_read(struct nft_sink *s, mnl_cb_t cb, mnl_cb_t ack_cb, void *userdata);
/* The ruleset's generation now (NFT_MSG_GETGEN). 0 or -errno. */
int nft_sink_get_genid(struct nft_sink *s, uint32_t *ret);
/* Delete the rules d[0..n) (the caller keeps the entries and their strings), each
 * batch refused by the kernel if the ruleset changed since it was decided on. What
 * cannot be decided is queued again. Returns how many were deleted or found gone. */
size_t nft_sink_delete(struct nft_sink *s, struct nft_del *d, size_t n);

/* nft-fast.c */
void nft_fast_done(struct nft_fast *f);
/* Drops the templates of rule's instances (the directive is gone). */
void nft_fast_forget_rule(struct nft_fast *f, const void *rule);
/* Read back the rule at handle (tag: its tag), which i added for in_cgroup_id at
 * in_path_hash, before it is withdrawn, and keep it as i's template. 0, or -errno when it
 * is not one (then nothing is kept for i). */
int nft_sink_fast_capture(struct nft_sink *s, const struct nft_instance *i, uint64_t handle,
			  uint64_t tag);
/* The template for the rule i wants (same directive, unit, cgroup path and text, a known
 * cgroup id), or NULL. Valid until the next capture. */
struct nft_fast_entry *nft_sink_fast_find(struct nft_sink *s, const struct nft_instance *i);

struct nft_fast_add {
	struct nft_instance *i;
	struct nft_fast_entry *e; /* from nft_sink_fast_find() */
	uint64_t handle;	  /* out: of the rule added, 0 when not learned */
	int err;		  /* the kernel's answer to this add */
};
/* Add what a[0..n) want from their templates as one batch of our own. 0 when the kernel
 * took it: the instances hold their new rules (a handle not learned sets need_resync); a
 * negative errno when nothing was added (the templates the kernel refused are dropped). */
int nft_sink_fast_add(struct nft_sink *s, struct nft_fast_add *a, size_t n);

/* sink-nft.c */
int nft_sink_drain(struct nft_sink *s);

/* nft-sync.c */
void nft_sink_schedule(struct nft_sink *s);
int nft_sink_sync(struct nft_sink *s);
int nft_sink_queue_delete(struct nft_sink *s, int family, const char *table, const char *chain,
			  uint64_t handle, uint64_t tag);
void nft_sink_dels_done(struct nft_sink *s);
int nft_sink_add_sources(struct nft_sink *s);

#endif
