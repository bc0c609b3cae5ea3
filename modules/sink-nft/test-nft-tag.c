/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nft-tag.h"

static const struct nft_tag_input base = {
    .directive_unit = "a.service",
    .directive_text = "add rule inet f o socket cgroupv2 level %{level} %{cgroup} accept",
    .manager = 1,
    .uid = 0,
    .unit = "a.service",
    .text = "add rule inet f o socket cgroupv2 level 2 \"system.slice/a.service\" accept",
    .cgroup_id = 4711,
};

Test(nft_tag, every_part_counts)
{
	uint64_t t = nft_tag_compute(&base);
	struct nft_tag_input in;

	cr_assert(ne(u64, t, 0));
	cr_assert(eq(u64, nft_tag_compute(&base), t), "stable");
	in = base, in.directive_unit = "b.service";
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	in = base, in.directive_text = "add rule inet f o accept";
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	in = base, in.manager = 2;
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	in = base, in.uid = 1000;
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	in = base, in.unit = "b.service";
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	in = base, in.text = "add rule inet f o drop";
	cr_assert(ne(u64, nft_tag_compute(&in), t));
	/* a restart while scnpm was not running: same path, new cgroup */
	in = base, in.cgroup_id = 4712;
	cr_assert(ne(u64, nft_tag_compute(&in), t));
}

static void tagged(const char *text, const char *want)
{
	const char *why = NULL;
	char *out = NULL;

	cr_assert(eq(int, nft_tag_text(text, 0x1234abcdULL, &out, &why), 0), "%s", text);
	cr_assert(eq(str, out, (char *)want));
	free(out);
}

Test(nft_tag, goes_into_the_comment)
{
	tagged("add rule inet f o accept", "add rule inet f o accept comment \"scnpm:000000001234abcd\"");
	tagged("add rule inet f o accept  ", "add rule inet f o accept comment \"scnpm:000000001234abcd\"");
	tagged("add rule inet f o accept comment \"mail\"",
	       "add rule inet f o accept comment \"mail scnpm:000000001234abcd\"");
	tagged("add rule inet f o accept comment mail",
	       "add rule inet f o accept comment \"mail scnpm:000000001234abcd\"");
	tagged("add rule inet f o accept comment \"\"",
	       "add rule inet f o accept comment \"scnpm:000000001234abcd\"");
	/* "comment" inside a string, or not at the end, is not the rule's comment */
	tagged("add rule inet f o meta mark 1 counter comment x accept",
	       "add rule inet f o meta mark 1 counter comment x accept comment \"scnpm:000000001234abcd\"");
	tagged("add rule inet f o socket cgroupv2 level 1 \"a comment b\" accept",
	       "add rule inet f o socket cgroupv2 level 1 \"a comment b\" accept comment \"scnpm:000000001234abcd\"");
	tagged("add rule inet f o nocomment x",
	       "add rule inet f o nocomment x comment \"scnpm:000000001234abcd\"");
}

Test(nft_tag, too_long_a_comment_is_refused)
{
	char text[400], *out = NULL;
	const char *why = NULL;

	snprintf(text, sizeof(text), "add rule inet f o accept comment \"%0106d\"", 0);
	cr_assert(eq(int, nft_tag_text(text, 1, &out, &why), -EINVAL));
	cr_assert(ne(ptr, strstr(why, "too long"), NULL));
	snprintf(text, sizeof(text), "add rule inet f o accept comment \"%0105d\"", 0);
	cr_assert(eq(int, nft_tag_text(text, 1, &out, &why), 0));
	cr_assert(eq(sz, strlen(strstr(out, "comment \"") + 9) - 1, NFT_COMMENT_MAX));
	free(out);
}

Test(nft_tag, read_back)
{
	cr_assert(eq(u64, scnpm_tag_from_comment("scnpm:000000001234abcd"), 0x1234abcdULL));
	cr_assert(eq(u64, scnpm_tag_from_comment("mail scnpm:ffffffffffffffff"), UINT64_MAX));
	cr_assert(eq(u64, scnpm_tag_from_comment(NULL), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment(""), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment("foreign"), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment("xscnpm:000000001234abcd"), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment("scnpm:000000001234abcD"), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment("scnpm:000000001234abc"), 0));
	cr_assert(eq(u64, scnpm_tag_from_comment("scnpm:000000001234abcd "), 0));
}
