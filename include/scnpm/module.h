/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_MODULE_H
#define SCNPM_MODULE_H

/*
 * The scnpm module ABI: everything a source or sink module may see of the daemon.
 *
 * Flow. Sources report normalized unit events through host->emit(). The core validates
 * each event (unit name, cgroup path), matches it against the configured rules, coalesces
 * bursts per unit, and asks the sink that owns each rule to make the kernel match the
 * unit's current state through sink->apply(). Sinks never see events directly and never
 * call emit(); sources never see rules.
 *
 * Loading. A module is a shared object named scnpm-<kind>-<name>.so in the module
 * directory (pkg-config --variable=moduledir scnpm-module). It exports exactly one
 * symbol, SCNPM_MODULE_SYMBOL, a const struct scnpm_module. It never links against the
 * daemon (build it with -Wl,--no-undefined); what it may use is lent through
 * struct scnpm_host.
 *
 * Threading. Everything runs on the host's sd-event loop, on one thread. Callbacks must
 * not block for unbounded time. Modules add their own fds to the borrowed loop, never
 * run, exit or unref it, and release every event source they created in done().
 *
 * Returns. Functions returning int return 0 (or a non-negative count) on success and a
 * negative errno on failure.
 *
 * Rules for changing this header (read before editing):
 *  1. scnpm_module, scnpm_host, scnpm_event, scnpm_rule and scnpm_inspect start with a
 *     size field (and the first two with abi). New members are appended at the end
 *     only. A reader checks SCNPM_HAS(p, type, member) before touching a member added
 *     after ABI 1.0, so a module built against an older header keeps working with a
 *     newer daemon and the other way round.
 *  2. Removing, reordering or retyping a member, or changing what a member means, is an
 *     incompatible change: bump SCNPM_MODULE_ABI, the symbol name (scnpm_module_vN),
 *     the module directory (scnpm-N) and the abi variable of scnpm-module.pc, and note
 *     it in the changelog below.
 *  3. Members are fixed-width integers (enums travel as uint32_t), const char * strings
 *     (UTF-8, NUL-terminated, lifetime in a trailing comment) and function pointers. No
 *     bool, no bitfields, no enum-typed members.
 *  4. tests/abi/test-abi.c pins sizes, offsets and enum values; update it in the same
 *     commit, and only for appended members.
 *
 * Changelog:
 *  ABI 1 (scnpm 0.1): first version.
 *  ABI 1.1: appended scnpm_module.check, scnpm_host.health_put, scnpm_module.inspect
 *           and scnpm_module.health (the module's three optional), struct scnpm_inspect and SCNPM_RESULT_RESTORED. Modules
 *           built for 1.0 load unchanged; a 1.1 module checks
 *           SCNPM_HAS(h, struct scnpm_host, health_put) before using any of it.
 *  ABI 1.2: appended scnpm_host.resync. A source checks
 *           SCNPM_HAS(h, struct scnpm_host, resync) before calling it.
 */

#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCNPM_MODULE_ABI 1
#define SCNPM_MODULE_SYMBOL "scnpm_module_v1"

/* Defines the one exported descriptor. Use exactly once per module:
 *     SCNPM_MODULE_DEFINE = { .abi = SCNPM_MODULE_ABI, ... };
 * Build with -fvisibility=hidden so nothing else is exported. */
#define SCNPM_MODULE_DEFINE \
	__attribute__((visibility("default"))) const struct scnpm_module scnpm_module_v1

/* Is an extensible struct (with a size header) large enough to carry 'member'? */
#define SCNPM_HAS(obj, type, member) \
	((obj)->size >= offsetof(type, member) + sizeof(((type *)0)->member))

enum scnpm_module_kind {
	SCNPM_MODULE_SOURCE = 1,
	SCNPM_MODULE_SINK = 2,
};

/* Which systemd instance manages a unit. */
enum scnpm_manager {
	SCNPM_MANAGER_ANY = 0,		/* not known, or does not matter for the rule */
	SCNPM_MANAGER_SYSTEM = 1,	/* PID 1 */
	SCNPM_MANAGER_USER = 2,		/* the user manager (user@UID.service) of uid */
};

/* What happened to a unit. */
enum scnpm_change {
	SCNPM_UNIT_STARTED = 1,		/* the unit runs (its cgroup exists, if it has one) */
	SCNPM_UNIT_STOPPED = 2,		/* the unit is gone: withdraw what was applied for it */
	SCNPM_UNIT_CHANGED = 3,		/* something happened: look again (withdraw, re-apply) */
};

/*
 * A unit event, reported by a source, and the unit's current state, handed to a sink.
 * Borrowed by the receiver for the duration of the call only: copy what you keep.
 * The core drops an event whose name is not a valid systemd unit name or whose cgroup
 * path has a component that is not one, so sinks only ever see validated strings.
 */
struct scnpm_event {
	uint32_t size;			/* sizeof(struct scnpm_event) as compiled by the producer */
	uint32_t change;		/* enum scnpm_change */
	const char *unit;		/* borrowed; unit name, never NULL */
	uint32_t manager;		/* enum scnpm_manager */
	uint32_t uid;			/* uid of the user manager; 0 for the system manager */
	const char *cgroup_path;	/* borrowed; relative to the cgroup2 root, no leading '/';
					 * NULL when the source does not know it */
	uint64_t cgroup_id;		/* cgroup2 directory inode number; 0 when not known */
	uint32_t cgroup_level;		/* number of components of cgroup_path; 0 when not known */
	uint32_t reserved;		/* 0 */
	uint64_t timestamp;		/* CLOCK_MONOTONIC, microseconds, when the source saw it */
	/* append only */
};

enum scnpm_object {
	SCNPM_OBJECT_RULE = 1,		/* "add rule FAMILY TABLE CHAIN ..." */
	SCNPM_OBJECT_ELEMENT = 2,	/* "add element FAMILY TABLE SET { ... }" */
};

/*
 * One configured line: "# UNIT :: [add [rule]] FAMILY TABLE NAME BODY".
 * Owned by the core. The pointer stays valid from sink->rule_add() until
 * sink->rule_remove() returns; a sink may key its state by it. file and line may change
 * when a reload finds the same rule at another place, so read them when logging, do not
 * keep copies of the pointers.
 */
struct scnpm_rule {
	uint32_t size;			/* sizeof(struct scnpm_rule) as compiled by the core */
	uint32_t object;		/* enum scnpm_object */
	const char *unit;		/* unit or unit pattern as written in the config */
	const char *text;		/* normalized nft command: "add rule inet filter out ..." */
	const char *family;		/* "inet", "ip", ... */
	const char *table;
	const char *name;		/* chain (rules) or set/map (elements) */
	const char *body;		/* what follows the name, never NULL (may be "") */
	const char *file;		/* config file it came from */
	uint32_t line;			/* its first line in file, 1-based */
	uint32_t reserved;		/* 0 */
	/* append only */
};

/* What a sink reports for one rule, through host->report(). */
enum scnpm_result {
	SCNPM_RESULT_APPLIED = 1,	/* the kernel now matches the unit's state */
	SCNPM_RESULT_SKIPPED = 2,	/* nothing to apply: the unit's cgroup does not exist */
	SCNPM_RESULT_FAILED = 3,	/* the kernel refused; message says why */
	SCNPM_RESULT_REFUSED = 4,	/* rule_add(): this sink cannot express the rule */
	SCNPM_RESULT_RESTORED = 5,	/* ABI 1.1: applied again, unasked, after someone else
					 * deleted it (a firewall reload, a flush, by hand);
					 * only to a host with health_put (else: APPLIED) */
};

/* What the kernel holds for one instance, as sink->inspect() read it back. */
enum scnpm_kernel_state {
	SCNPM_KERNEL_UNKNOWN = 0,	/* the sink cannot tell */
	SCNPM_KERNEL_PRESENT = 1,	/* the kernel holds the instance's rule or element */
	SCNPM_KERNEL_ABSENT = 2,	/* it holds nothing for the instance */
};

/*
 * ABI 1.1. Filled by sink->inspect(). The core zeroes it and sets size; the sink writes
 * only the members that fit (SCNPM_HAS), so either side may be newer.
 */
struct scnpm_inspect {
	uint32_t size;			/* sizeof(struct scnpm_inspect) as compiled by the core */
	uint32_t state;			/* enum scnpm_kernel_state */
	uint64_t cgroup_id;		/* the cgroup id the kernel's rule or element matches,
					 * 0 when it holds none or the sink cannot tell */
	uint64_t handle;		/* the rule's handle; 0 for an element or none */
	uint64_t packets;		/* the rule's or element's counter, with has_counter */
	uint64_t bytes;
	uint32_t has_counter;		/* 1: packets and bytes are the kernel's counter */
	uint32_t pending;		/* 1: the sink has a change of it on the way to the
					 * kernel (state is what the kernel holds before it) */
	const char *object;		/* what it is, for people: "rule inet filter out handle
					 * 12", "element inet filter allowed 4711 : accept";
					 * borrowed until the next call into the sink; NULL allowed */
	/* append only */
};

struct scnpm_host;

/* What the daemon lends a module. Modules never link against the daemon. */
struct scnpm_host {
	uint32_t abi;			/* SCNPM_MODULE_ABI */
	uint32_t size;			/* sizeof(struct scnpm_host) as compiled by the daemon */
	sd_event *event;		/* borrowed: never unref, run or exit it */
	const char *module_name;	/* borrowed: "source-journal" */

	/* Log a message tagged with the module's name. prio is a syslog priority
	 * (LOG_ERR ...); error is 0 or a negative errno, which %m expands to. */
	void (*log)(const struct scnpm_host *h, int prio, int error, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));

	/* The value of a module option given on the command line (--sink nft:key=value),
	 * or NULL when not given. "key" alone gives "". Only keys listed in
	 * scnpm_module.options are ever accepted by the daemon. Borrowed. */
	const char *(*option)(const struct scnpm_host *h, const char *key);

	/* Sources: report a unit event. Returns 0, or -EINVAL when the event was dropped
	 * (the core logged why). Must not be called from within a sink callback. */
	int (*emit)(const struct scnpm_host *h, const struct scnpm_event *ev);

	/* Sinks: report the outcome for one rule. unit is the state passed to apply(), or
	 * NULL from rule_add()/flush(). The core logs it with the rule's file:line. fmt may
	 * be NULL when there is nothing to add. */
	void (*report)(const struct scnpm_host *h, const struct scnpm_rule *rule,
		       const struct scnpm_event *unit, uint32_t result, const char *fmt, ...)
		__attribute__((format(printf, 5, 6)));

	/* ABI 1.1. From within the module's health() only: one item of its health, shown by
	 * "scnpm status" ("watches", "restored"). key is [a-z0-9_]+, borrowed for the call;
	 * keys ending in "_realtime_usec" are CLOCK_REALTIME time stamps, in "_usec"
	 * durations, both in microseconds. */
	void (*health_put)(const struct scnpm_host *h, const char *key, uint64_t value);

	/* ABI 1.2. Sources: events may have been lost (what the source reads had a gap: a
	 * journal restarted, files gone before they were read). The core looks at every
	 * unit again, once, from the loop, and the cgroup tree decides. Cheap to ask for
	 * twice: requests before that pass are one. Must not be called from within a sink
	 * callback. */
	void (*resync)(const struct scnpm_host *h);
	/* append only */
};

struct scnpm_module {
	uint32_t abi;			/* SCNPM_MODULE_ABI */
	uint32_t size;			/* sizeof(struct scnpm_module) */
	uint32_t kind;			/* enum scnpm_module_kind */
	uint32_t reserved;		/* 0 */
	const char *name;		/* "sink-nft": must match the file scnpm-sink-nft.so */
	const char *description;	/* one line for --help and logs; NULL allowed */
	const char *const *options;	/* NULL-terminated option keys it accepts; NULL: none */

	/* Create the module's state. h stays valid until done(). 0 or -errno. Required. */
	int (*init)(const struct scnpm_host *h, void **ret_state);
	/* Add event sources to the loop; sources report the units already running from here
	 * or from the loop soon after. May be NULL. 0 or -errno. */
	int (*start)(void *state);
	/* Release everything, including event sources. Must accept NULL. Required. */
	void (*done)(void *state);

	/* Sinks only (all four required for a sink, NULL for a source). */

	/* A configured rule becomes this sink's. Return 0 to take it, -EOPNOTSUPP after
	 * reporting SCNPM_RESULT_REFUSED with the reason when the sink cannot express it.
	 * Must not touch the kernel. */
	int (*rule_add)(void *state, const struct scnpm_rule *rule);
	/* The rule left the configuration: withdraw everything applied for it, forget it. */
	void (*rule_remove)(void *state, const struct scnpm_rule *rule);
	/* Make the kernel match unit's state for each of rules[0..n_rules): withdraw what was
	 * applied for an earlier incarnation of the unit and, unless unit->change is
	 * SCNPM_UNIT_STOPPED, apply for the current cgroup. Idempotent. Reports one result
	 * per rule through host->report(). Key applied state by (rule, unit->manager,
	 * unit->uid, unit->unit): the core passes manager SCNPM_MANAGER_ANY for rules whose
	 * text does not depend on which manager runs the unit. Returns 0, or -errno when
	 * nothing could be done at all (results were still reported). */
	int (*apply)(void *state, const struct scnpm_event *unit,
		     const struct scnpm_rule *const *rules, size_t n_rules);
	/* --flush: empty the chain (or set) that rule names. -ENOENT when it does not exist,
	 * other -errno on failure; the daemon then exits with an error. */
	int (*flush)(void *state, const struct scnpm_rule *rule);

	/* ABI 1.1 (read it only if SCNPM_HAS(desc, struct scnpm_module, check)).
	 * Sinks, optional. scnpm --check: would the kernel take what apply() would send for
	 * rule and unit? unit is an example (a running unit's, or an existing cgroup where
	 * none runs); text is rule->text, or a copy in which the cgroup paths that do not
	 * exist now are replaced by one that does. Never changes the kernel (dry runs only),
	 * called after init(), never after start(). Reports SCNPM_RESULT_FAILED with the
	 * reason (or SCNPM_RESULT_SKIPPED with a note when it would work only later) and
	 * returns -errno when the rule would fail, 0 when it would work. */
	int (*check)(void *state, const struct scnpm_rule *rule, const char *text,
		     const struct scnpm_event *unit);

	/* ABI 1.1, optional for both (NULL: not offered); read only with SCNPM_HAS(). */

	/* Sinks: read back from the kernel, now, what it holds for the instance apply() keys
	 * as (rule, unit->manager, unit->uid, unit->unit). unit is the unit's state as the
	 * core finds it now (cgroup path and id, STOPPED when it has none). Fills *ret. Must
	 * not change what the sink holds or will send; takes bounded time (a netlink request
	 * or two). 0; -ENOENT when the sink holds no such instance (ret still says what the
	 * kernel holds, if the sink could look); other -errno when it could not look. */
	int (*inspect)(void *state, const struct scnpm_rule *rule, const struct scnpm_event *unit,
		       struct scnpm_inspect *ret);
	/* Report the module's health, one host->health_put() per item (counters, time
	 * stamps of the last repair). Must not change state. 0 or -errno. */
	int (*health)(void *state);
	/* append only */
};

#ifdef __cplusplus
}
#endif

#endif /* SCNPM_MODULE_H */
