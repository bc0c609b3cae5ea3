/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sink-nftnl: nf_tables notifications of others' changes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <systemd/sd-event.h>

#include <scnpm/cgroup2.h>
#include <scnpm/cleanup.h>
#include <scnpm/log.h>
#include <scnpm/module.h>
#include <scnpm/unit-name.h>

#include <scnpm/tag.h>



#include "sink-nftnl.h"

/* ---- notifications ---- */

int nftnl_target_matches(const struct nftnl_target *t, const struct nlbatch_object *o,
				int is_set, int check_name)
{
	return t->n_rules > 0 && t->family == o->family && strcmp(t->table, o->table) == 0 &&
	       (is_set < 0 || t->is_set == is_set) && (!check_name || strcmp(t->name, o->name) == 0);
}

void nftnl_sink_target_gone(struct nftnl_sink *s, struct nftnl_target *t)
{
	if (t->exists == 1)
		scnpm_notice(s->host, "%s %s %s %s was deleted; filled again when it comes back",
			     t->is_set ? "Set" : "Chain", nftnl_fam(t), t->table, t->name);
	t->exists = 0;
	t->warned = 1;
	if (t->is_set)
		nftnl_target_walk(s, t, NFTNL_WALK_GONE);
	else
		nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_ALL, 0);
}

void nftnl_sink_target_back(struct nftnl_sink *s, struct nftnl_target *t)
{
	unsigned n;

	t->exists = 1;
	t->warned = 0;
	if (t->is_set) {
		n = nftnl_target_walk(s, t, NFTNL_WALK_REFILL);
		nftnl_sink_count_restored(s, n);
		scnpm_notice(s->host, "Set %s %s %s appeared; adding %u cgroup ids", nftnl_fam(t),
			     t->table, t->name, n);
	} else {
		nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_REDO, 0);
		scnpm_notice(s->host, "Chain %s %s %s appeared; adding its rules", nftnl_fam(t),
			     t->table, t->name);
	}
}

void nftnl_sink_mon_msg(struct nftnl_sink *s, const struct nlmsghdr *nlh)
{
	struct nlbatch_object o;

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES &&
	    NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN) {
		/* every commit, ours included, ends with one */
		(void)nlbatch_parse_gen(nlh, &s->genid);
		return;
	}
	if (nlh->nlmsg_pid == s->portid && s->portid != 0)
		return; /* caused by our own batches */
	if (nlbatch_parse_object(nlh, &o) < 0)
		return;

	for (struct nftnl_target *t = s->targets; t; t = t->next) {
		switch (o.msg) {
		case NFT_MSG_DELTABLE:
			if (nftnl_target_matches(t, &o, -1, 0))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_DELSET:
			if (nftnl_target_matches(t, &o, 1, 1))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_DELCHAIN:
			if (nftnl_target_matches(t, &o, 0, 1))
				nftnl_sink_target_gone(s, t);
			break;
		case NFT_MSG_NEWSET:
			if (nftnl_target_matches(t, &o, 1, 1))
				nftnl_sink_target_back(s, t);
			break;
		case NFT_MSG_NEWCHAIN:
			if (nftnl_target_matches(t, &o, 0, 1))
				nftnl_sink_target_back(s, t);
			else if (nftnl_target_matches(t, &o, 1, 0) && t->exists == 1)
				/* a verdict map element may have failed for want of it */
				nftnl_target_walk(s, t, NFTNL_WALK_RETRY_FAILED);
			break;
		case NFT_MSG_DELRULE:
			if (nftnl_target_matches(t, &o, 0, 1) && o.handle != 0)
				nftnl_sink_target_claims(s, t, NFTNL_CLAIMS_FORGET_HANDLE, o.handle);
			break;
		case NFT_MSG_DELSETELEM:
			/* flush set, or elements deleted by hand: list the set, add back what
			 * is missing (once per burst: one dump at a time) */
			if (nftnl_target_matches(t, &o, 1, 1) && t->exists == 1 &&
			    t->dump != NFTNL_DUMP_RUNNING) {
				scnpm_info(s->host, "Elements of set %s %s %s were deleted, checking it",
					   nftnl_fam(t), t->table, t->name);
				(void)nftnl_sink_request_dump(s, t);
			}
			break;
		}
	}
}

int nftnl_sink_on_mon(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
	struct nftnl_sink *s = userdata;
	int overrun = nftnl_sink_drain(s, fd, nftnl_sink_mon_msg, "nf_tables notifications");
	if (overrun) {
		s->n_lost++;
		scnpm_warning(s->host, "Lost nf_tables notifications (receive buffer overrun), resyncing");
		nftnl_sink_resync(s);
	}
	return 0;
}

