/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nft under scnpm --check: a directive run as the daemon would send it, in
 * libnftables' dry-run mode. nftables parses and evaluates the command against the
 * kernel's ruleset and the kernel validates the transaction, which is then aborted:
 * nothing is committed, no generation changes.
 *
 * A rule for a table or chain the kernel does not have yet is tried once more after its
 * config file (which is an nftables script that may create them: "systemctl reload
 * nftables" has not run yet). When that works it is a note, not an error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/template.h>

#include "sink-nft.h"

/* Dry-run cmds. 0, or -errno with nft's first error, summarized, in *ret_why. */
static int nft_sink_dry_run(struct nft_sink *s, const char *cmds, enum nft_error_kind *ret_kind,
			    char **ret_why)
{
	const char *err;
	int r;

	nft_ctx_set_dry_run(s->nft, true);
	r = nft_run_cmd_from_buffer(s->nft, cmds);
	nft_ctx_set_dry_run(s->nft, false);
	(void)nft_ctx_get_output_buffer(s->nft); /* consume */
	err = nft_ctx_get_error_buffer(s->nft);
	if (r == 0)
		return 0;
	*ret_kind = nft_error_classify(err);
	if (nft_error_summary(err, ret_why) < 0)
		*ret_why = NULL;
	r = nft_error_errno(err);
	return r == -EIO ? -EINVAL : r;
}

/* Does the config file itself load (dry run)? Remembered per file; reported once. */
static int nft_sink_file_loads(struct nft_sink *s, const struct scnpm_rule *rule)
{
	_cleanup_free_ char *why = NULL;
	struct nft_checked_file *t;
	struct nft_buf b = {};
	enum nft_error_kind kind;
	int r;

	for (size_t i = 0; i < s->n_checked_files; i++)
		if (strcmp(s->checked_files[i].name, rule->file) == 0)
			return s->checked_files[i].result;

	/* nft's include takes the file as it is; a quote in its name would end the string */
	if (strchr(rule->file, '"'))
		r = -EINVAL;
	else if (nft_buf_appendf(&b, "include \"%s\"\n", rule->file) < 0)
		r = -ENOMEM;
	else
		r = nft_sink_dry_run(s, nft_buf_str(&b), &kind, &why);
	nft_buf_done(&b);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		scnpm_warning(s->host, "%s: nftables would not load this file: %s", rule->file,
			      why ?: "unknown error");

	t = realloc(s->checked_files, (s->n_checked_files + 1) * sizeof(*t));
	if (!t)
		return -ENOMEM;
	s->checked_files = t;
	t[s->n_checked_files].name = strdup(rule->file);
	if (!t[s->n_checked_files].name)
		return -ENOMEM;
	t[s->n_checked_files++].result = r;
	return r;
}

int nft_sink_check(void *state, const struct scnpm_rule *rule, const char *text,
			  const struct scnpm_event *unit)
{
	struct nft_sink *s = state;
	_cleanup_free_ char *expanded = NULL, *why = NULL, *why2 = NULL;
	struct nft_buf b = {};
	enum nft_error_kind kind = NFT_ERROR_OTHER, kind2;
	int r;

	r = scnpm_template_expand(text, unit, &expanded);
	if (r == -ENODATA) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_SKIPPED,
				"not tried with nftables: no cgroup to try it with");
		return 0;
	}
	if (r < 0) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"cannot expand placeholders: %s", strerror(-r));
		return r;
	}
	r = nft_cmd_add_text(&b, expanded);
	if (r >= 0)
		r = nft_sink_dry_run(s, nft_buf_str(&b), &kind, &why);
	nft_buf_done(&b);
	if (r == 0 || r == -ENOMEM)
		return r;
	if (kind != NFT_ERROR_NOENT || nft_sink_file_loads(s, rule) < 0) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED, "nft: %s",
				why ?: "more than one command, or unknown error");
		return r;
	}

	/* The table or chain is missing: would the file that holds the directive create it? */
	if (nft_buf_appendf(&b, "include \"%s\"\n", rule->file) < 0 ||
	    nft_cmd_add_text(&b, expanded) < 0) {
		nft_buf_done(&b);
		return -ENOMEM;
	}
	r = nft_sink_dry_run(s, nft_buf_str(&b), &kind2, &why2);
	nft_buf_done(&b);
	if (r < 0) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED, "nft: %s",
				why ?: "unknown error");
		return r;
	}
	s->host->report(s->host, rule, unit, SCNPM_RESULT_SKIPPED,
			"works once %s is loaded (nft -f, systemctl reload nftables): now %s",
			rule->file, why ?: "the table or chain does not exist");
	return 0;
}
