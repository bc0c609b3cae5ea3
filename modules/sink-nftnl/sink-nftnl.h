/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_SINK_NFTNL_H
#define SCNPM_SINK_NFTNL_H

/*
 * sink-nftnl's state and the functions its parts share (see sink-nftnl.c for what the
 * module does):
 *   sink-nftnl.c       the module callbacks: rules, apply, flush, lifecycle;
 *   nftnl-claims.c     what each (rule, manager, uid, unit) wants, elements and their
 *                      references, the dirty list, reports;
 *   nftnl-transport.c  the op queue, batches (bounded, generation-checked), acks and
 *                      what each acked op means, the command socket;
 *   nftnl-targets.c    managed sets and chains: dumps, reconciliation, adoption of an
 *                      earlier run's rules, the settle step;
 *   nftnl-monitor.c    nf_tables notifications: what others deleted or created;
 *   nftnl-check.c      scnpm --check: do the sets, maps and chains exist, of the right kind;
 *   nftnl-inspect.c    "scnpm status": inspect() and health().
 */

#include <search.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <systemd/sd-event.h>

#include <scnpm/htable.h>
#include <scnpm/module.h>

#include "nftnl-batch.h"

/* Messages per batch: bounds the acks queued on the socket at once. Bytes per batch:
 * one batch is one sendto(), which the socket's send buffer must hold (raised to
 * NFTNL_SINK_SNDBUF, but the default 212,992 B is all an unprivileged test gets); the
 * budget halves on EMSGSIZE and grows back after batches that went through. */
#define NFTNL_SINK_BATCH_MAX 1024
#define NFTNL_SINK_BATCH_BYTES (128 * 1024)
#define NFTNL_SINK_BATCH_BYTES_MIN (4 * 1024)
#define NFTNL_SINK_SNDBUF (4 * 1024 * 1024)
#define NFTNL_SINK_RCVBUF (16 * 1024 * 1024)
#define NFTNL_SINK_RECV_SIZE (64 * 1024)

enum nftnl_op_type {
	NFTNL_OP_ADD_ELEM,
	NFTNL_OP_DEL_ELEM,
	NFTNL_OP_ADD_RULE,
	NFTNL_OP_DEL_RULE,
};

struct nftnl_sink;

/* Listing a target (GETSETELEM, GETRULE dumps), one at a time per socket. */
enum nftnl_dump_state {
	NFTNL_DUMP_NONE,	/* nothing asked, or what was asked is reconciled */
	NFTNL_DUMP_QUEUED,	/* waits for another target's dump to end */
	NFTNL_DUMP_RUNNING,	/* asked with dump_seq, replies coming in */
	NFTNL_DUMP_DONE,	/* dump_ids holds a complete listing not reconciled yet */
};

/* Whether the core's first applies for a target are in, so that what nobody claims in
 * its listing (stale ids, an earlier run's rules) may go. */
enum nftnl_settle {
	NFTNL_SETTLE_NO,
	NFTNL_SETTLE_WANTED,	/* the idle-priority settle step will say so */
	NFTNL_SETTLED,
};

/* A set, map or chain named by one or more rules. Lives until done(). */
struct nftnl_target {
	struct nftnl_target *next;
	int is_set;
	int family;
	char *table, *name;
	unsigned n_rules;
	int exists;		/* 1 yes, 0 known missing, -1 not known */
	int warned;		/* missing: said so once */
	/* sets and maps */
	struct scnpm_htable elems;	/* struct nftnl_elem, by id */
	enum nftnl_dump_state dump;
	uint32_t dump_seq;	/* the running dump's */
	uint32_t dump_req_seq;	/* seq of the last dump request */
	enum nftnl_settle settle;
	uint64_t *dump_ids;
	size_t n_dump_ids, cap_dump_ids;
	/* chains: the first listing, which finds the tagged rules an earlier run left */
	int initial_dump;	/* running: the chain's claims wait for it */
	struct nftnl_orphan *orphans;	/* tagged rules not (yet) adopted */
	size_t n_orphans, cap_orphans;
};

/* A dispatch rule carrying scnpm's tag, found in a managed chain at start. */
struct nftnl_orphan {
	uint64_t handle, tag, id;
	int taken;
};

/* One cgroup id in a managed set, with the number of claims that want it. */
struct nftnl_elem {
	uint64_t id;
	unsigned refs;
	int in_kernel;		/* believed to be in the kernel */
	int adding;		/* an ADD is queued or in flight */
	int replaced;		/* one DEL+ADD was tried after EEXIST/EBUSY */
	int seen;		/* reconcile scratch */
	uint32_t add_seq;	/* seq of the add the kernel acked last */
	const struct nlbatch_verdict *verdict;	/* map value, interned (nftnl_sink_verdict()) */
};

struct nftnl_srule {
	struct nftnl_srule *next;
	const struct scnpm_rule *rule;	/* borrowed from the core until rule_remove() */
	int is_element;
	struct nftnl_target *target;
	struct nlbatch_verdict verdict;		/* element rules (map value) */
	struct nlbatch_dispatch dispatch;	/* dispatch rules */
	const struct nlbatch_verdict *iverdict;	/* the one of the two that applies, interned */
	struct scnpm_htable claims;		/* struct nftnl_claim, by (manager, uid, unit) */
};

/* What was applied for one (rule, manager, uid, unit). */
struct nftnl_claim {
	struct nftnl_srule *srule;
	uint32_t manager, uid;
	char *unit;
	/* last unit state seen, for reports (the core's copy is borrowed) */
	struct scnpm_event ev;
	char *ev_path;
	uint64_t desired, actual;	/* cgroup ids, 0 none */
	uint32_t desired_level, actual_level;
	uint64_t handle;		/* dispatch rule handle, 0 unknown */
	unsigned pending;		/* ops queued or in flight reporting for it */
	int dirty;
	int report_owed;
	int stopped;
	int restoring;			/* its rule was deleted by someone else: the report
					 * that it is back is RESTORED */
	uint32_t result;
	char *message;			/* with result, NULL when none */
};

struct nftnl_op {
	struct nftnl_op *next;
	int type;			/* enum nftnl_op_type */
	struct nftnl_target *target;
	uint64_t id;
	uint32_t level;
	uint64_t handle;
	/* elements: the map value (NULL or kind NONE: a plain set); dispatch rules: their
	 * verdict, counter and tag. Interned: an op may outlive its element and rule. */
	const struct nlbatch_verdict *verdict;
	int counter;
	uint64_t tag;
	struct nftnl_claim *claim;	/* NULL: refill, sweep, withdrawal of a removed rule */
	uint32_t seq;
	int acked;
	int error;			/* negative errno from the ack */
	int cancelled;
};

/* One of each verdict the rules name, for the sink's lifetime. */
struct nftnl_verdict {
	struct nftnl_verdict *next;
	struct nlbatch_verdict v;
};

struct nftnl_sink {
	const struct scnpm_host *host;
	struct nftnl_verdict *verdicts;
	char *cgroup_root;
	struct mnl_socket *nl, *mon;
	uint32_t portid;
	uint32_t seq;
	sd_event_source *nl_source, *mon_source, *flush_source, *settle_source;
	int started;

	struct nftnl_target *targets;
	struct nftnl_srule *srules;

	struct nftnl_claim **dirty;
	size_t n_dirty, cap_dirty;

	struct nftnl_op *queue, *queue_tail;
	struct nftnl_op **inflight;
	size_t n_inflight, n_unacked;
	uint32_t inflight_begin_seq, inflight_first_seq;
	int overrun;

	struct nlbatch_buf batch;
	size_t batch_budget; /* bytes */
	uint32_t genid;	     /* the ruleset generation last seen (NEWGEN), 0: not known */
	int restart;	     /* the batch in flight was refused: the ruleset changed under it */
	uint64_t n_restarts;
	uint64_t n_restored;	/* ids and rules put back after someone else deleted them */
	uint64_t n_lost;	/* notification overruns */
	uint64_t last_repair_realtime_usec;
	char inspect_object[512];	/* what inspect() last read back, for people */
	char *rbuf;
};


struct nftnl_walk_ctx {
	struct nftnl_sink *s;
	struct nftnl_target *t;
	int mode;
	unsigned n;
};

enum {
	NFTNL_WALK_CLEAR_SEEN,
	NFTNL_WALK_ADD_UNSEEN,
	NFTNL_WALK_GONE,
	NFTNL_WALK_REFILL,
	NFTNL_WALK_RETRY_FAILED,
};

struct nftnl_claims_ctx {
	struct nftnl_sink *s;
	int mode;
	uint64_t handle;
	struct nftnl_target *t;
};

enum {
	NFTNL_CLAIMS_FORGET_ALL,
	NFTNL_CLAIMS_FORGET_HANDLE,
	NFTNL_CLAIMS_REDO,
	NFTNL_CLAIMS_VERIFY,
};

/* The sink's one copy of v (added when new); NULL when out of memory. */
const struct nlbatch_verdict *nftnl_sink_verdict(struct nftnl_sink *s, const struct nlbatch_verdict *v);
int nftnl_claim_eq(const void *a, const void *b);
uint64_t nftnl_claim_hash(uint32_t manager, uint32_t uid, const char *unit);
const char *nftnl_fam(const struct nftnl_target *t);
int nftnl_sink_find_cgroup_root(char **ret);
int nftnl_sink_resolve(struct nftnl_sink *s, const struct scnpm_event *unit,
			      uint64_t *ret_id);
void nftnl_claim_result(struct nftnl_claim *c, uint32_t result, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void nftnl_sink_claim_maybe_report(struct nftnl_sink *s, struct nftnl_claim *c);
struct nftnl_op *nftnl_sink_queue_op(struct nftnl_sink *s, int type, struct nftnl_target *t,
					    uint64_t id, struct nftnl_claim *c);
struct nftnl_elem *nftnl_target_find_elem(struct nftnl_target *t, uint64_t id);
void nftnl_sink_add_elem(struct nftnl_sink *s, struct nftnl_target *t,
				struct nftnl_elem *e, struct nftnl_claim *c);
void nftnl_sink_release(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			       struct nftnl_claim *c);
void nftnl_sink_take(struct nftnl_sink *s, struct nftnl_target *t, uint64_t id,
			    struct nftnl_claim *c);
void nftnl_sink_process_elem_claim(struct nftnl_sink *s, struct nftnl_claim *c);
uint64_t nftnl_claim_tag(const struct nftnl_claim *c);
int nftnl_sink_adopt(struct nftnl_sink *s, struct nftnl_claim *c, uint64_t tag);
void nftnl_sink_process_rule_claim(struct nftnl_sink *s, struct nftnl_claim *c);
void nftnl_sink_process_dirty(struct nftnl_sink *s);
void nftnl_sink_mark_dirty(struct nftnl_sink *s, struct nftnl_claim *c);
void nftnl_sink_claim_free(struct nftnl_sink *s, struct nftnl_claim *c);
void nftnl_sink_claim_detach(struct nftnl_sink *s, struct nftnl_claim *c);
void nftnl_sink_claim_withdraw(struct nftnl_sink *s, struct nftnl_claim *c);
void nftnl_sink_srule_free(struct nftnl_sink *s, struct nftnl_srule *r, int withdraw);
struct nftnl_claim *nftnl_sink_get_claim(struct nftnl_srule *r,
						const struct scnpm_event *unit, int create);
int nftnl_claim_set_event(struct nftnl_claim *c, const struct scnpm_event *unit);
int nftnl_sink_put_op(struct nftnl_sink *s, struct nftnl_op *op);
int nftnl_sink_get_genid(uint32_t *ret);
int nftnl_sink_send(struct nftnl_sink *s, const void *buf, size_t len);
void nftnl_sink_send_batch(struct nftnl_sink *s);
void nftnl_sink_target_missing(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_op_done(struct nftnl_sink *s, struct nftnl_op *op);
void nftnl_sink_batch_complete(struct nftnl_sink *s);
struct nftnl_target *nftnl_sink_find_dump(struct nftnl_sink *s, uint32_t seq);
void nftnl_sink_nl_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh);
void nftnl_sink_resync(struct nftnl_sink *s);
int nftnl_sink_drain(struct nftnl_sink *s, int fd,
			    void (*handle)(struct nftnl_sink *s, const struct nlmsghdr *nlh),
			    const char *what);
int nftnl_sink_on_nl(sd_event_source *es, int fd, uint32_t revents, void *userdata);
int nftnl_sink_on_flush(sd_event_source *es, void *userdata);
void nftnl_sink_schedule(struct nftnl_sink *s);
void nftnl_sink_set_bufs(struct mnl_socket *nl);
int nftnl_sink_open(struct mnl_socket **ret, unsigned group);
int nftnl_sink_request_dump(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_next_dump(struct nftnl_sink *s);
int nftnl_target_push_id(struct nftnl_target *t, uint64_t id);
int nftnl_target_push_orphan(struct nftnl_target *t, uint64_t handle, uint64_t tag,
				    uint64_t id);
void nftnl_sink_sweep_orphans(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_on_dump_id(uint64_t id, void *data);
void nftnl_elem_walk(const void *node, VISIT which, void *data);
unsigned nftnl_target_walk(struct nftnl_sink *s, struct nftnl_target *t, int mode);
void nftnl_sink_reconcile_set(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_claims_walk(const void *node, VISIT which, void *data);
void nftnl_sink_target_claims(struct nftnl_sink *s, struct nftnl_target *t, int mode,
				     uint64_t handle);
void nftnl_sink_maybe_reconcile(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_dump_msg(struct nftnl_sink *s, struct nftnl_target *t,
				const struct nlmsghdr *nlh);
int nftnl_sink_on_settle(sd_event_source *es, void *userdata);
void nftnl_sink_watch_target(struct nftnl_sink *s, struct nftnl_target *t);
struct nftnl_target *nftnl_sink_get_target(struct nftnl_sink *s, int is_set, int family,
						  const char *table, const char *name);
/* Count n ids or rules put back after someone else deleted them. */
void nftnl_sink_count_restored(struct nftnl_sink *s, unsigned n);
/* nftnl-inspect.c: the module's inspect() and health() */
int nftnl_sink_inspect(void *state, const struct scnpm_rule *rule,
		       const struct scnpm_event *unit, struct scnpm_inspect *ret);
int nftnl_sink_health(void *state);
/* nftnl-check.c: the module's check() */
int nftnl_sink_check(void *state, const struct scnpm_rule *rule, const char *text,
		     const struct scnpm_event *unit);

struct nftnl_srule *nftnl_sink_find_srule(struct nftnl_sink *s,
						 const struct scnpm_rule *rule);
int nftnl_target_matches(const struct nftnl_target *t, const struct nlbatch_object *o,
				int is_set, int check_name);
void nftnl_sink_target_gone(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_target_back(struct nftnl_sink *s, struct nftnl_target *t);
void nftnl_sink_mon_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh);
int nftnl_sink_on_mon(sd_event_source *es, int fd, uint32_t revents, void *userdata);
void nftnl_target_free(struct nftnl_target *t);
void nftnl_mnl_socket_closep(struct mnl_socket **nl);

#endif
