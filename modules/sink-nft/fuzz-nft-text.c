/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Rule text on its way into an nft batch: placeholder expansion (<scnpm/template.h>) for
 * a unit and cgroup the core accepted, sink-nft's tag in the rule's comment, and the
 * check that keeps a second command out of the batch (nft_cmd_add_text()); also the
 * reading of nft's error output. The input is "UNIT\nCGROUP-PATH\nTEMPLATE...".
 *
 * Besides no crash: expanding a template that passes the batch check, for names the
 * core accepts, gives text that passes it too; so does tagging text that passes it; and
 * the tag can be read back from the tagged text's comment.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <scnpm/module.h>
#include <scnpm/tag.h>
#include <scnpm/template.h>
#include <scnpm/unit-name.h>

#include "fuzz.h"
#include "nft-cmd.h"
#include "nft-tag.h"

static int passes_batch_check(const char *text)
{
	struct nft_buf b = {};
	int r = nft_cmd_add_text(&b, text);

	nft_buf_done(&b);
	return r >= 0;
}

static void check_tag(const char *text)
{
	const uint64_t tag = 0x3f2a9c0d11e4b7a6ULL;
	char *tagged = NULL, want[64];
	const char *why = NULL;
	size_t n;

	if (nft_tag_text(text, tag, &tagged, &why) < 0) {
		if (!why)
			abort();
		return;
	}
	if (passes_batch_check(text) && !passes_batch_check(tagged))
		abort();
	snprintf(want, sizeof(want), SCNPM_TAG_PREFIX "%016" PRIx64 "\"", tag);
	n = strlen(tagged);
	if (n < strlen(want) || strcmp(tagged + n - strlen(want), want) != 0)
		abort();
	free(tagged);
}

static void check_errbuf(const char *s)
{
	char *summary = NULL;

	(void)nft_error_classify(s);
	if (nft_error_errno(s) >= 0)
		abort();
	if (nft_error_summary(s, &summary) >= 0) {
		if (!summary)
			abort();
		free(summary);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *unit, *path, *text, *nl, *out = NULL;
	struct scnpm_event ev = {.size = sizeof(ev)};
	int r;

	if (size > 65536)
		return 0;
	s = strndup((const char *)data, size);
	if (!s)
		return 0;
	check_errbuf(s);

	unit = s;
	nl = strchr(unit, '\n');
	if (!nl)
		goto out;
	*nl = '\0';
	path = nl + 1;
	nl = strchr(path, '\n');
	if (!nl)
		goto out;
	*nl = '\0';
	text = nl + 1;

	/* what the core hands a sink: validated names only, or no cgroup at all */
	if (!scnpm_unit_name_is_valid(unit))
		goto out;
	ev.unit = unit;
	ev.cgroup_path = *path ? path : NULL;
	if (ev.cgroup_path && scnpm_cgroup_path_level(path) == 0)
		goto out;

	r = scnpm_template_expand(text, &ev, &out);
	if (r < 0) {
		if (r != -ENODATA && r != -ENOMEM)
			abort();
		goto out;
	}
	if (scnpm_template_has_placeholders(out) && !scnpm_template_has_placeholders(text))
		abort();
	if (passes_batch_check(text) && !passes_batch_check(out))
		abort();
	check_tag(out);
out:
	free(out);
	free(s);
	return 0;
}
