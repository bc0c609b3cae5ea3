/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_NFT_FAMILY_H
#define SCNPM_NFT_FAMILY_H

/*
 * nftables family names and their NFPROTO_* numbers, as nft spells them ("inet" ->
 * NFPROTO_INET), for sinks that read "add rule FAMILY ..." and talk netlink. Header-only.
 */

#include <linux/netfilter.h>
#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct scnpm_nft_family {
	const char *name;
	int proto;
};

static const struct scnpm_nft_family scnpm_nft_families[] = {
	{ "ip", NFPROTO_IPV4 },	 { "ip6", NFPROTO_IPV6 },	{ "inet", NFPROTO_INET },
	{ "arp", NFPROTO_ARP },	 { "bridge", NFPROTO_BRIDGE }, { "netdev", NFPROTO_NETDEV },
};

/* NFPROTO_* of a family name, -1 when unknown (or NULL). */
static inline int scnpm_nft_family_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(scnpm_nft_families) / sizeof(scnpm_nft_families[0]); i++)
		if (strcmp(scnpm_nft_families[i].name, name) == 0)
			return scnpm_nft_families[i].proto;
	return -1;
}

/* The name of an NFPROTO_* family, NULL when unknown. */
static inline const char *scnpm_nft_family_name(int proto)
{
	for (size_t i = 0; i < sizeof(scnpm_nft_families) / sizeof(scnpm_nft_families[0]); i++)
		if (scnpm_nft_families[i].proto == proto)
			return scnpm_nft_families[i].name;
	return NULL;
}

#ifdef __cplusplus
}
#endif

#endif
