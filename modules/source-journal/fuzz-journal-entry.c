/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Journal entries through source-journal's reading of them: the input is one entry, its
 * fields one a line as "FIELD=value" (the data sd_journal_get_data() returns; the first
 * datum of a field wins, as there). Each field the module reads goes through
 * journal_field_value(), then the entry through journal_parse_entry() and its trust
 * checks, then the unit name through the core's validation. Besides no crash: an event
 * said to come from the system manager was sent by PID 1 as uid 0; one from a user
 * manager speaks for the uid that sent it; a refusal always says why.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include "fuzz.h"
#include "journal-parse.h"

/* The first line of data that starts with "field=", as sd_journal_get_data() finds it. */
static const char *find_datum(const char *data, size_t size, const char *field, size_t *ret_len)
{
	size_t flen = strlen(field);

	for (const char *p = data, *end = data + size; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		if (len > flen && memcmp(p, field, flen) == 0 && p[flen] == '=') {
			*ret_len = len;
			return p;
		}
		p += len + 1;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *values[JOURNAL_N_FIELDS] = {};
	struct journal_fields f;
	struct journal_unit_event ev;
	const char *reason = NULL;
	int r;

	if (size > 65536)
		return 0;
	for (size_t i = 0; i < JOURNAL_N_FIELDS; i++) {
		size_t len;
		const char *d = find_datum((const char *)data, size, journal_field_names[i], &len);

		if (!d)
			continue;
		r = journal_field_value(d, len, journal_field_names[i], &values[i]);
		if (r == -EBADMSG)
			goto out; /* the module skips the entry */
		if (r < 0)
			goto out;
		if (strlen(values[i]) != len - strlen(journal_field_names[i]) - 1)
			abort();
	}
	journal_fields_from_values(values, &f);

	r = journal_parse_entry(&f, &ev, &reason);
	if (r < 0 && !reason)
		abort();
	if (r == 1) {
		if (ev.manager == SCNPM_MANAGER_SYSTEM &&
		    (!f.pid || strcmp(f.pid, "1") != 0 || !f.uid || strcmp(f.uid, "0") != 0))
			abort();
		if (ev.manager == SCNPM_MANAGER_USER) {
			char uid[16];

			snprintf(uid, sizeof(uid), "%" PRIu32, ev.uid);
			if (!f.uid || strcmp(f.uid, uid) != 0 || ev.unit != f.user_unit)
				abort();
		}
		if (ev.manager != SCNPM_MANAGER_SYSTEM && ev.manager != SCNPM_MANAGER_USER)
			abort();
		/* the core's check of every event a source reports */
		(void)scnpm_unit_name_is_valid(ev.unit);
	}
out:
	for (size_t i = 0; i < JOURNAL_N_FIELDS; i++)
		free(values[i]);
	return 0;
}
