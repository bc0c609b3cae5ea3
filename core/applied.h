/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * What the sinks were told: one record per instance of a rule the core asked a sink to
 * put in the kernel, keyed like the sinks key theirs, (rule, manager, uid, subject), with
 * the cgroup id it was for and the last result the sink reported. The router compares
 * the cgroup tree with these records, so an event that changes nothing sends nothing,
 * and a failed or skipped instance is sent again on the next look. A record goes when
 * its instance is withdrawn or its rule leaves the configuration.
 *
 * Subjects: a literal rule has one instance, (rule, ANY, 0, its unit pattern); a
 * unit-bound rule one per unit, (rule, manager, uid, unit name).
 */

#include <stdbool.h>
#include <stdint.h>

struct manager;
struct rule;

struct applied {
	char *key;
	struct rule *rule;
	uint32_t manager, uid;
	const char *subject;	/* the key's tail */
	uint64_t cgroup_id;	/* what it was sent for (literal rules: of all paths combined) */
	uint32_t result;	/* enum scnpm_result the sink reported; 0 while none */
	bool in_pass;		/* sent by a global pass (dispatch.h), not reported yet */

	/* For "scnpm status": the last report, kept across re-sends until the next one. */
	uint32_t last_result;	/* 0: none yet */
	uint64_t last_id;	/* cgroup_id it was for */
	uint64_t since_usec;	/* CLOCK_REALTIME: when last_result or last_id last changed */
	char *message;		/* the sink's words with it, NULL when none */
};

struct applied *applied_find(struct manager *m, const struct rule *rule, uint32_t manager,
			     uint32_t uid, const char *subject);
/* Create or update the record; its result is reset until the sink reports. */
int applied_put(struct manager *m, struct rule *rule, uint32_t manager, uint32_t uid,
		const char *subject, uint64_t cgroup_id);
void applied_remove(struct manager *m, struct applied *a);
/* Record a sink's report; true when it tells something new (another result, another
 * cgroup) rather than an unchanged re-apply. */
bool applied_report(struct manager *m, struct applied *a, uint32_t result, const char *message);
/* The rule left the configuration: forget all its records. */
void applied_forget_rule(struct manager *m, const struct rule *rule);
void applied_free_all(struct manager *m);

/* For the status line, kept as records change: how many subjects (units) have a record
 * whose last report was APPLIED (struct manager's n_records_failed: FAILED). */
size_t applied_count_subjects(struct manager *m);
