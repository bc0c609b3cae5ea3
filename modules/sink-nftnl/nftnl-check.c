/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sink-nftnl under scnpm --check: is what a directive names in the kernel, and of a
 * kind the directive can fill? A set for "add element ... { %{cgroup} }" must have
 * cgroup ids as keys (type cgroupsv2) and no data; a map for "{ %{cgroup} : VERDICT }"
 * must map them to verdicts; the chain of a dispatch rule and the chain a verdict jumps
 * to must exist. Read-only GETSET / GETCHAIN requests on a socket of the check's own.
 *
 * One that is missing is an error unless the directive's config file mentions it (as
 * "set NAME", "map NAME" or "chain NAME"): then it is created when nftables loads that
 * file, and the check only notes it. (This sink has no nft parser to load the file in
 * a dry run, as sink-nft does.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/set.h>

#include <scnpm/cleanup.h>

#include "sink-nftnl.h"

struct check_reply {
	struct nftnl_set *set; /* GETSET: filled from the reply; NULL for GETCHAIN */
	int got;
};

static int check_on_msg(const struct nlmsghdr *nlh, void *data)
{
	struct check_reply *r = data;

	if (r->set && nftnl_set_nlmsg_parse(nlh, r->set) < 0)
		return MNL_CB_ERROR;
	r->got = 1;
	return MNL_CB_OK;
}

/* Ask the kernel for one set (set != NULL) or chain. 0 when it exists, -ENOENT when
 * not, other -errno when the kernel could not be asked. */
static int check_get(int family, const char *table, const char *name, struct nftnl_set *set)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct check_reply reply = { .set = set };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint32_t seq = 1, portid;
	ssize_t n;
	int r = 0;

	nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	if (set) {
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, (uint16_t)family, NLM_F_ACK, seq);
		nftnl_set_set_str(set, NFTNL_SET_TABLE, table);
		nftnl_set_set_str(set, NFTNL_SET_NAME, name);
		nftnl_set_nlmsg_build_payload(nlh, set);
	} else {
		struct nftnl_chain *c = nftnl_chain_alloc();

		if (!c) {
			r = -ENOMEM;
			goto out;
		}
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, (uint16_t)family, NLM_F_ACK, seq);
		nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
		nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
		nftnl_chain_nlmsg_build_payload(nlh, c);
		nftnl_chain_free(c);
	}
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0) {
		r = mnl_cb_run(buf, (size_t)n, seq, portid, check_on_msg, &reply);
		if (r <= MNL_CB_STOP)
			break;
	}
	if (n < 0 || r < 0)
		r = -errno;
	else
		r = reply.got ? 0 : -ENOENT;
out:
	mnl_socket_close(nl);
	return r;
}

/* Does the config file mention "KIND NAME" (so that loading it creates NAME)? */
static int file_mentions(const char *file, const char *kind, const char *name)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(file, "re");
	int found = 0;

	if (!f)
		return 0;
	while (!found && getline(&line, &cap, f) > 0) {
		char *p = strstr(line, kind);

		for (; p && !found; p = strstr(p + 1, kind)) {
			const char *q = p + strlen(kind);
			size_t l = strlen(name);

			if ((p == line || strchr(" \t{", p[-1])) && (*q == ' ' || *q == '\t')) {
				q += strspn(q, " \t");
				found = strncmp(q, name, l) == 0 && strchr(" \t{\n", q[l]) && q[l];
			}
		}
	}
	fclose(f);
	return found;
}

/* Report a missing set, map or chain: a note when its file creates it. -ENOENT or 0. */
static int check_missing(struct nftnl_sink *s, const struct scnpm_rule *rule,
			 const struct scnpm_event *unit, const char *kind, const char *alt,
			 const char *name)
{
	if (file_mentions(rule->file, kind, name) || (alt && file_mentions(rule->file, alt, name))) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_SKIPPED,
				"%s %s %s %s is not in the kernel yet; %s creates it when nftables "
				"loads it (systemctl reload nftables)",
				kind, rule->family, rule->table, name, rule->file);
		return 0;
	}
	s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED, "%s %s %s %s does not exist",
			kind, rule->family, rule->table, name);
	return -ENOENT;
}

static int check_chain(struct nftnl_sink *s, const struct scnpm_rule *rule,
		       const struct scnpm_event *unit, int family, const char *chain)
{
	int r = check_get(family, rule->table, chain, NULL);

	if (r == -ENOENT)
		return check_missing(s, rule, unit, "chain", NULL, chain);
	if (r < 0)
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"cannot ask the kernel for chain %s: %s", chain, strerror(-r));
	return r;
}

static int check_set(struct nftnl_sink *s, const struct scnpm_rule *rule,
		     const struct scnpm_event *unit, int family, const struct nlbatch_verdict *v)
{
	struct nftnl_set *set = nftnl_set_alloc();
	uint32_t flags, key_len, data_type;
	int want_map = v->kind != NLBATCH_VERDICT_NONE, r;

	if (!set)
		return -ENOMEM;
	r = check_get(family, rule->table, rule->name, set);
	if (r == -ENOENT) {
		nftnl_set_free(set);
		return check_missing(s, rule, unit, want_map ? "map" : "set", want_map ? "set" : "map",
				     rule->name);
	}
	if (r < 0) {
		nftnl_set_free(set);
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"cannot ask the kernel for set %s: %s", rule->name, strerror(-r));
		return r;
	}
	flags = nftnl_set_get_u32(set, NFTNL_SET_FLAGS);
	key_len = nftnl_set_get_u32(set, NFTNL_SET_KEY_LEN);
	data_type = nftnl_set_get_u32(set, NFTNL_SET_DATA_TYPE);
	nftnl_set_free(set);

	if (key_len != sizeof(uint64_t)) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"%s's keys are not cgroup ids: declare it 'type cgroupsv2'%s", rule->name,
				want_map ? " : verdict" : "");
		return -EINVAL;
	}
	if (want_map && (!(flags & NFT_SET_MAP) || data_type != NFT_DATA_VERDICT)) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"%s is not a verdict map: declare it 'type cgroupsv2 : verdict'",
				rule->name);
		return -EINVAL;
	}
	if (!want_map && (flags & NFT_SET_MAP)) {
		s->host->report(s->host, rule, unit, SCNPM_RESULT_FAILED,
				"%s is a map: give the element a value ({ %%{cgroup} : jump CHAIN })",
				rule->name);
		return -EINVAL;
	}
	return 0;
}

int nftnl_sink_check(void *state, const struct scnpm_rule *rule, const char *text,
		     const struct scnpm_event *unit)
{
	struct nftnl_sink *s = state;
	struct nftnl_srule *sr = nftnl_sink_find_srule(s, rule);
	const struct nlbatch_verdict *v;
	int family = nlbatch_family_from_string(rule->family), r;

	if (!sr || family < 0)
		return 0; /* not ours: rule_add() refused it and said why */
	v = sr->is_element ? &sr->verdict : &sr->dispatch.verdict;
	r = sr->is_element ? check_set(s, rule, unit, family, v)
			   : check_chain(s, rule, unit, family, rule->name);
	if (r >= 0 && (v->kind == NLBATCH_VERDICT_JUMP || v->kind == NLBATCH_VERDICT_GOTO))
		r = check_chain(s, rule, unit, family, v->chain);
	return r;
}
