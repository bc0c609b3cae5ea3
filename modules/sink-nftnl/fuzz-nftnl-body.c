/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The directive bodies sink-nftnl takes (what it decides it can express before anything
 * reaches the kernel): "{ %{cgroup} [: VERDICT] }" for elements and "socket cgroupv2
 * level N %{cgroup} [counter] VERDICT" for rules. Besides no crash: an accepted body has
 * a known verdict, a jump or goto target that fits nf_tables' name limit and is
 * NUL-terminated, and a rule's level 0..255 (0: from the unit). A body that is accepted
 * is then built into a batch, as apply() would.
 */
#include <errno.h>
#include <linux/netfilter.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nftnl-batch.h"

static void check_verdict(const struct nlbatch_verdict *v, int rule)
{
	char buf[NFT_CHAIN_MAXNAMELEN + 16];

	if (v->kind < NLBATCH_VERDICT_NONE || v->kind > NLBATCH_VERDICT_GOTO)
		abort();
	if (!rule && v->kind == NLBATCH_VERDICT_REJECT)
		abort();
	if (!memchr(v->chain, '\0', sizeof(v->chain)))
		abort();
	if (!nlbatch_verdict_to_string(v, buf, sizeof(buf)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nlbatch_verdict v;
	struct nlbatch_dispatch d;
	struct nlbatch_buf b = {};
	char *body;

	if (size > 4096)
		return 0;
	body = strndup((const char *)data, size);
	if (!body)
		return 0;

	if (nlbatch_parse_element_body(body, &v) == 0) {
		check_verdict(&v, 0);
		if (nlbatch_begin(&b, 1) < 0 ||
		    nlbatch_put_setelem(&b, NFT_MSG_NEWSETELEM, NFPROTO_INET, "filter", "allowed",
					4242, &v, 2) < 0)
			abort();
	}
	if (nlbatch_parse_dispatch_body(body, &d) == 0) {
		check_verdict(&d.verdict, 1);
		if (d.level > 255)
			abort();
		nlbatch_buf_reset(&b);
		if (nlbatch_begin(&b, 1) < 0)
			abort();
		/* a verdict naming a chain too long for nf_tables is refused by rule_add() */
		if (strlen(d.verdict.chain) < NFT_CHAIN_MAXNAMELEN &&
		    nlbatch_put_dispatch_rule(&b, NFPROTO_INET, "filter", "out", &d,
					      d.level ? d.level : 2, 4242, 2) < 0)
			abort();
	}
	nlbatch_buf_done(&b);
	free(body);
	return 0;
}
