/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * source-journal: reports unit events from systemd's own job and unit messages.
 *
 * Watches the local journal (system and user-UID files, SD_JOURNAL_LOCAL_ONLY) from its
 * tail, pre-filtered with sd_journal_add_match() to the unit MESSAGE_IDs sent over the
 * native protocol by a process whose _COMM is systemd or (systemd); every entry is then
 * checked in journal-parse.c against the fields journald sets itself (PID 1, or the user
 * manager of the sending uid), so a forged UNIT= changes nothing. Events carry no cgroup
 * (the journal does not name it).
 *
 * Options: directory=PATH  read the journal files in PATH instead of the local journal
 *                          (tests, debugging). Default: the local journal.
 *
 * sd-event sources: the journal's inotify fd (io), a CLOCK_MONOTONIC timer when
 * sd_journal_get_timeout() asks for one (journals on network file systems), and a defer
 * source that resumes reading after a batch of BATCH entries (and does the first read).
 *
 * Failure policy: init fails with one error line when the system journal exists but
 * cannot be read (names the groups that can) or when there is none. Afterwards, read
 * errors are warnings and following carries on; rotation and vacuuming
 * (SD_JOURNAL_INVALIDATE) keep the read position.
 *
 * Gaps: what is not in the journal cannot be read from it. Files going (vacuuming, moved
 * away) may take entries not read yet, files that could not be opened for a while
 * (permissions) are read from where they are; and while journald restarts, PID 1 logs to
 * the kernel's buffer instead, until it sees the new journald ready. So the module asks
 * the core to look at every unit again (host->resync()) when the journal files changed
 * and when it reads a new journald's "Journal started", and once more RESTART_SETTLE
 * after that, by when PID 1 logs to the journal again.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-messages.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>

#include "journal-access.h"
#include "journal-parse.h"

/* Entries read per loop iteration before yielding to other event sources. */
#define BATCH 256
/* After journald's "Journal started": when to look at every unit once more (PID 1 logs
 * to the journal again once it has seen the new journald ready, which follows that
 * message at once). */
#define RESTART_SETTLE_USEC (2 * 1000000ULL)

static int journal_source_on_time(sd_event_source *es, uint64_t usec, void *userdata);

struct journal_source {
	const struct scnpm_host *host;
	sd_journal *journal;
	sd_event_source *io;
	sd_event_source *timer;
	sd_event_source *more;
	sd_event_source *settle;	/* the resync after a journald restart */
	sd_id128_t boot_id;
	int have_boot_id;
};

struct journal_entry {
	char *values[JOURNAL_N_FIELDS];
};

static void journal_entry_done(struct journal_entry *e)
{
	for (size_t i = 0; i < JOURNAL_N_FIELDS; i++) {
		free(e->values[i]);
		e->values[i] = NULL;
	}
}

/* The value of one field of the current entry: NULL when absent, -EBADMSG when it is
 * malformed (journal_field_value()). */
static int journal_source_get_field(sd_journal *j, const char *field, char **ret)
{
	const void *data;
	size_t len;
	int r;

	r = sd_journal_get_data(j, field, &data, &len);
	if (r == -ENOENT) {
		*ret = NULL;
		return 0;
	}
	if (r < 0)
		return r;
	return journal_field_value(data, len, field, ret);
}

static uint64_t now_monotonic_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* When journald received the entry, if that was during this boot; otherwise now. */
static uint64_t journal_source_timestamp(struct journal_source *s)
{
	sd_id128_t boot;
	uint64_t t;

	if (s->have_boot_id && sd_journal_get_monotonic_usec(s->journal, &t, &boot) >= 0 &&
	    sd_id128_equal(boot, s->boot_id))
		return t;
	return now_monotonic_usec();
}

static void journal_source_emit(struct journal_source *s, const struct journal_unit_event *ue)
{
	const struct scnpm_host *h = s->host;
	const struct scnpm_event ev = {
	    .size = sizeof(struct scnpm_event),
	    .change = ue->change,
	    .unit = ue->unit,
	    .manager = ue->manager,
	    .uid = ue->uid,
	    .cgroup_path = NULL, /* the journal does not say */
	    .cgroup_id = 0,
	    .cgroup_level = 0,
	    .timestamp = journal_source_timestamp(s),
	};
	int r;

	r = h->emit(h, &ev);
	if (r < 0)
		scnpm_debug_errno(h, r, "Event for '%s' was dropped: %m", ue->unit);
}

static void journal_source_resync(struct journal_source *s)
{
	const struct scnpm_host *h = s->host;

	if (SCNPM_HAS(h, struct scnpm_host, resync) && h->resync)
		h->resync(h);
}

static int journal_source_on_settle(sd_event_source *es, uint64_t usec, void *userdata)
{
	struct journal_source *s = userdata;

	scnpm_debug(s->host, "journald restarted %" PRIu64 " s ago, looking at every unit once more",
		    (uint64_t)(RESTART_SETTLE_USEC / 1000000u));
	journal_source_resync(s);
	return 0;
}

/* A new journald: PID 1 logged elsewhere while there was none. */
static void journal_source_journald_restarted(struct journal_source *s)
{
	const struct scnpm_host *h = s->host;
	int r;

	scnpm_notice(h, "journald restarted: what PID 1 logged meanwhile is not in the journal, "
			"looking at every unit again");
	journal_source_resync(s);
	if (s->settle)
		r = sd_event_source_set_time_relative(s->settle, RESTART_SETTLE_USEC);
	else {
		r = sd_event_add_time_relative(h->event, &s->settle, CLOCK_MONOTONIC,
					       RESTART_SETTLE_USEC, 0, journal_source_on_settle, s);
		if (r >= 0)
			(void)sd_event_source_set_description(s->settle, "source-journal-settle");
	}
	if (r >= 0)
		r = sd_event_source_set_enabled(s->settle, SD_EVENT_ONESHOT);
	if (r < 0)
		scnpm_warning_errno(h, r, "Failed to arm the journal's settle timer, ignoring: %m");
}

static void journal_source_handle_entry(struct journal_source *s)
{
	const struct scnpm_host *h = s->host;
	struct journal_entry e = {};
	struct journal_fields f;
	struct journal_unit_event ue;
	const char *reason = NULL;
	int r;

	for (size_t i = 0; i < JOURNAL_N_FIELDS; i++) {
		r = journal_source_get_field(s->journal, journal_field_names[i], &e.values[i]);
		if (r < 0) {
			scnpm_debug_errno(h, r, "Skipping journal entry, cannot read %s=: %m",
					  journal_field_names[i]);
			goto out;
		}
	}
	journal_fields_from_values(e.values, &f);

	if (journal_parse_is_journal_start(&f)) {
		journal_source_journald_restarted(s);
		goto out;
	}
	r = journal_parse_entry(&f, &ue, &reason);
	if (r == 0)
		goto out;
	if (r < 0) {
		/* Forged or odd entries: debug only, a local user must not be able to
		 * flood the admin's log through us. */
		scnpm_debug(h,
			    "Ignoring unit message (%s) for '%s' from _PID=%s _UID=%s _COMM='%s' "
			    "_SYSTEMD_CGROUP='%s': %s",
			    f.message_id,
			    f.unit	  ? f.unit
			    : f.user_unit ? f.user_unit
					  : "",
			    f.pid ? f.pid : "", f.uid ? f.uid : "", f.comm ? f.comm : "",
			    f.systemd_cgroup ? f.systemd_cgroup : "", reason ? reason : "");
		goto out;
	}
	journal_source_emit(s, &ue);
out:
	journal_entry_done(&e);
}

static int journal_source_rearm(struct journal_source *s)
{
	const struct scnpm_host *h = s->host;
	uint64_t t;
	int r;

	r = sd_journal_get_timeout(s->journal, &t);
	if (r < 0)
		return scnpm_warning_errno(h, r, "Failed to get the journal timeout, ignoring: %m");
	if (t == UINT64_MAX) {
		if (s->timer)
			(void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
		return 0;
	}
	if (s->timer) {
		r = sd_event_source_set_time(s->timer, t);
		if (r >= 0)
			r = sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
	} else {
		r = sd_event_add_time(h->event, &s->timer, CLOCK_MONOTONIC, t, 0,
				      journal_source_on_time, s);
		if (r >= 0)
			(void)sd_event_source_set_description(s->timer, "source-journal-timer");
	}
	if (r < 0)
		return scnpm_warning_errno(h, r, "Failed to arm the journal timer, ignoring: %m");
	return 0;
}

/* Reads up to BATCH entries; when more may be waiting, resumes from the defer source on
 * the next loop iteration so that other sources get their turn. */
static void journal_source_drain(struct journal_source *s)
{
	int r;

	for (unsigned n = 0;; n++) {
		if (n == BATCH) {
			r = sd_event_source_set_enabled(s->more, SD_EVENT_ONESHOT);
			if (r < 0)
				scnpm_warning_errno(s->host, r,
						    "Failed to schedule reading on, ignoring: %m");
			return;
		}
		r = sd_journal_next(s->journal);
		if (r < 0) {
			scnpm_warning_errno(s->host, r, "Failed to read the journal, ignoring: %m");
			return;
		}
		if (r == 0)
			return;
		journal_source_handle_entry(s);
	}
}

static void journal_source_process(struct journal_source *s)
{
	int r;

	r = sd_journal_process(s->journal);
	if (r < 0)
		scnpm_warning_errno(s->host, r, "Failed to process journal changes, ignoring: %m");
	else if (r == SD_JOURNAL_INVALIDATE) {
		/* Files were added or removed (rotation, vacuuming, runtime→persistent flush,
		 * readable again). sd-journal keeps our location across that, but a file
		 * that went may have held entries not read yet. */
		scnpm_debug(s->host, "Journal files changed, following on and looking at every unit again");
		journal_source_resync(s);
	}
	journal_source_drain(s);
	(void)journal_source_rearm(s);
}

static int journal_source_on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	journal_source_process(userdata);
	return 0;
}

static int journal_source_on_time(sd_event_source *es, uint64_t usec, void *userdata)
{
	journal_source_process(userdata);
	return 0;
}

static int journal_source_on_more(sd_event_source *es, void *userdata)
{
	struct journal_source *s = userdata;

	journal_source_drain(s);
	(void)journal_source_rearm(s);
	return 0;
}

static void journal_source_done(void *state)
{
	struct journal_source *s = state;

	if (!s)
		return;
	s->io = sd_event_source_disable_unref(s->io);
	s->timer = sd_event_source_disable_unref(s->timer);
	s->more = sd_event_source_disable_unref(s->more);
	s->settle = sd_event_source_disable_unref(s->settle);
	sd_journal_close(s->journal);
	free(s);
}

static int journal_source_open_local(const struct scnpm_host *h, sd_journal **ret)
{
	_cleanup_free_ char *denied = NULL;
	sd_id128_t machine;
	int r;

	r = sd_id128_get_machine(&machine);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to read the machine ID: %m");

	r = journal_access_check("/", machine, &denied);
	if (r == -EACCES || r == -EPERM)
		return scnpm_error_errno(
		    h, r,
		    "Cannot read the system journal '%s': run scnpm as root or in group "
		    "'systemd-journal' (or 'adm'): %m",
		    denied);
	if (r == -ENOENT)
		return scnpm_error_errno(
		    h, r,
		    "No system journal in /run/log/journal or /var/log/journal: is "
		    "systemd-journald running, with Storage= other than none?");
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to check access to the system journal: %m");

	/* LOCAL_ONLY and no SYSTEM/CURRENT_USER flag: system.journal and every
	 * user-UID.journal. A user manager's messages go to its uid's file. */
	r = sd_journal_open(ret, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to open the journal: %m");
	return 0;
}

/*
 * Cuts the stream down inside sd-journal. Matches on one field are ORed, on different
 * fields ANDed:
 *   (MESSAGE_ID=<one of ours>) AND (_TRANSPORT=journal) AND (_COMM=systemd OR _COMM=(systemd))
 * This must let through a superset of what journal_parse_entry() accepts, which is why
 * it names neither _PID=1 nor a user manager: matches are exact values, the user manager
 * term would need every uid, and _SYSTEMD_USER_UNIT=init.scope is missing in a user
 * manager's first seconds (see journal-parse.c). logger and friends are cut here; a
 * process that renames itself to "systemd" gets through and is refused in code.
 * OR journald's own start message: (MESSAGE_ID=<journal start>) AND (_TRANSPORT=driver).
 */
static int journal_source_add_matches(sd_journal *j)
{
	static const char *const terms[] = {
	    "_TRANSPORT=journal",
	    "_COMM=systemd",
	    "_COMM=(systemd)",
	};
	int r;

	for (const char *const *id = journal_parse_message_ids; *id; id++) {
		char m[sizeof("MESSAGE_ID=") + 32];

		memcpy(m, "MESSAGE_ID=", sizeof("MESSAGE_ID=") - 1);
		memcpy(m + sizeof("MESSAGE_ID=") - 1, *id, 33);
		r = sd_journal_add_match(j, m, 0);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++) {
		r = sd_journal_add_match(j, terms[i], 0);
		if (r < 0)
			return r;
	}
	r = sd_journal_add_disjunction(j);
	if (r >= 0)
		r = sd_journal_add_match(j, "MESSAGE_ID=" SD_MESSAGE_JOURNAL_START_STR, 0);
	if (r >= 0)
		r = sd_journal_add_match(j, "_TRANSPORT=driver", 0);
	return r < 0 ? r : 0;
}

static int journal_source_init(const struct scnpm_host *h, void **ret_state)
{
	_cleanup_(sd_journal_closep) sd_journal *j = NULL;
	struct journal_source *s;
	const char *dir;
	int r;

	dir = h->option(h, "directory");
	if (dir && !*dir)
		return scnpm_error_errno(h, -EINVAL, "Option directory= needs a path");

	if (dir) {
		r = sd_journal_open_directory(&j, dir, 0);
		if (r < 0)
			return scnpm_error_errno(h, r, "Failed to open the journal in '%s': %m",
						 dir);
	} else {
		r = journal_source_open_local(h, &j);
		if (r < 0)
			return r;
	}

	r = journal_source_add_matches(j);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to add journal matches: %m");

	s = calloc(1, sizeof(*s));
	if (!s)
		return scnpm_error_errno(h, -ENOMEM, "Out of memory");
	s->host = h;
	s->have_boot_id = sd_id128_get_boot(&s->boot_id) >= 0;

	/* From the tail: step back onto the newest matching entry, so that the next
	 * sd_journal_next() returns only what is written from now on. When no entry
	 * matches yet, do not stay "at the tail": sd-journal positions a file that appears
	 * later (rotation) at *its* tail too and would skip all but its last entry. Seek to
	 * now on this boot's monotonic clock instead, which every new entry is after. */
	r = sd_journal_seek_tail(j);
	if (r >= 0)
		r = sd_journal_previous(j);
	if (r == 0 && s->have_boot_id)
		r = sd_journal_seek_monotonic_usec(j, s->boot_id, now_monotonic_usec());
	if (r < 0) {
		free(s);
		return scnpm_error_errno(h, r, "Failed to seek to the end of the journal: %m");
	}
	s->journal = TAKE_PTR(j);
	*ret_state = s;
	return 0;
}

static int journal_source_start(void *state)
{
	struct journal_source *s = state;
	const struct scnpm_host *h = s->host;
	int fd, events, r;

	fd = sd_journal_get_fd(s->journal);
	if (fd < 0)
		return scnpm_error_errno(h, fd, "Failed to get the journal's file descriptor: %m");
	events = sd_journal_get_events(s->journal);
	if (events < 0)
		return scnpm_error_errno(h, events, "Failed to get the journal's poll events: %m");

	r = sd_event_add_io(h->event, &s->io, fd, (uint32_t)events, journal_source_on_io, s);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to watch the journal: %m");
	(void)sd_event_source_set_description(s->io, "source-journal");

	/* Also reads what arrived between init and now, on the first loop iteration. */
	r = sd_event_add_defer(h->event, &s->more, journal_source_on_more, s);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to add the journal defer source: %m");
	(void)sd_event_source_set_description(s->more, "source-journal-more");
	r = sd_event_source_set_enabled(s->more, SD_EVENT_ONESHOT);
	if (r < 0)
		return scnpm_error_errno(h, r, "Failed to enable the journal defer source: %m");

	r = journal_source_rearm(s);
	if (r < 0)
		return r;
	scnpm_debug(h, "Following the journal from its tail");
	return 0;
}

static const char *const journal_source_options[] = {"directory", NULL};

SCNPM_MODULE_DEFINE = {
    .abi = SCNPM_MODULE_ABI,
    .size = sizeof(struct scnpm_module),
    .kind = SCNPM_MODULE_SOURCE,
    .name = "source-journal",
    .description = "unit events from systemd's job messages in the journal",
    .options = journal_source_options,
    .init = journal_source_init,
    .start = journal_source_start,
    .done = journal_source_done,
};
