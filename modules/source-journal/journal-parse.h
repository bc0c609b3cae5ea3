/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_JOURNAL_PARSE_H
#define SCNPM_JOURNAL_PARSE_H

/*
 * The pure half of source-journal: from the fields of one journal entry to a unit event
 * or "ignore". No sd-journal, no logging, so it can be tested with plain tables.
 */

#include <stddef.h>
#include <stdint.h>

/* The fields of one entry that the mapping reads. Each is the value after "FIELD=",
 * NUL-terminated, or NULL when the entry does not have the field. Borrowed. */
struct journal_fields {
	const char *message_id; /* MESSAGE_ID= (32 hex digits) */
	const char *unit;	/* UNIT= (system manager) */
	const char *user_unit;	/* USER_UNIT= (user manager) */
	const char *job_result; /* JOB_RESULT= */
	/* trusted: set by journald from the sender's credentials */
	const char *transport;	       /* _TRANSPORT= */
	const char *pid;	       /* _PID= */
	const char *uid;	       /* _UID= */
	const char *comm;	       /* _COMM= */
	const char *systemd_unit;      /* _SYSTEMD_UNIT= */
	const char *systemd_user_unit; /* _SYSTEMD_USER_UNIT= */
	const char *systemd_cgroup;    /* _SYSTEMD_CGROUP= */
};

/* What journal_parse_entry() makes of a trusted unit message. */
struct journal_unit_event {
	uint32_t change;  /* enum scnpm_change */
	uint32_t manager; /* enum scnpm_manager: SYSTEM or USER */
	uint32_t uid;	  /* uid of the user manager, 0 for the system manager */
	const char *unit; /* borrowed from the fields: UNIT= or USER_UNIT= */
};

/* The fields the mapping reads, by name, in the order of the members of struct
 * journal_fields: values[i] holds the value of journal_field_names[i] (or NULL), and
 * journal_fields_from_values() makes the struct of them (borrowing the strings). */
#define JOURNAL_N_FIELDS 11
extern const char *const journal_field_names[JOURNAL_N_FIELDS];
void journal_fields_from_values(char *const values[JOURNAL_N_FIELDS], struct journal_fields *ret);

/* One datum as sd_journal_get_data() returns it, "FIELD=value" and not NUL-terminated:
 * a NUL-terminated copy of the value of field in *ret (free() it). -EBADMSG when the
 * datum is not of that field or its value holds a NUL byte (no field this module trusts
 * does), -ENOMEM. */
int journal_field_value(const void *data, size_t len, const char *field, char **ret);

/* The MESSAGE_IDs the mapping acts on, for sd_journal_add_match(). Each entry is a
 * 32-character lowercase hex string; the array ends with NULL. */
extern const char *const journal_parse_message_ids[];

/*
 * Maps one entry. Returns
 *   1        a unit event, written to *ret;
 *   0        not a unit message this module acts on (no or another MESSAGE_ID);
 *   -EPERM   a unit message whose trusted fields do not show that the system manager
 *            (PID 1) or the user manager of the sending uid wrote it: forged, ignore it;
 *   -EBADMSG a message from a manager that lacks the unit field (UNIT= from PID 1,
 *            USER_UNIT= from a user manager).
 * *ret is written only when 1 is returned. ret_reason, when not NULL, receives a static
 * string saying why an entry was refused (for debug logs), or NULL.
 *
 * Unit names are not validated here: the core validates every event a source reports.
 */
/* Is the entry journald's own "Journal started" (SD_MESSAGE_JOURNAL_START), which each
 * journald writes first? _TRANSPORT=driver: journald sets it only for what it writes
 * itself, a client cannot send it. 1 or 0. */
int journal_parse_is_journal_start(const struct journal_fields *f);

int journal_parse_entry(const struct journal_fields *f, struct journal_unit_event *ret,
			const char **ret_reason);

#endif /* SCNPM_JOURNAL_PARSE_H */
