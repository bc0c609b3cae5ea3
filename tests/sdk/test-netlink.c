/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* scnpm_nlmsg_framed_len() (<scnpm/netlink.h>): how much of a received buffer libmnl may
 * walk. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <scnpm/netlink.h>

static size_t put(uint8_t *buf, size_t off, uint32_t len)
{
	struct nlmsghdr h = {.nlmsg_len = len, .nlmsg_type = NLMSG_NOOP};

	memcpy(buf + off, &h, sizeof(h));
	return off + NLMSG_ALIGN(len);
}

Test(netlink, whole_messages)
{
	uint8_t buf[256] = {};
	size_t n = put(buf, 0, 20);

	n = put(buf, n, 16);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, n), n));
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, 0), 0));
	/* the last one without its padding: its attributes may reach into it */
	n = put(buf, 0, 16);
	n = put(buf, n, 18);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, n - 2), 16));
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, n), n));
}

Test(netlink, stops_at_the_first_that_does_not_fit)
{
	uint8_t buf[256] = {};
	size_t first = put(buf, 0, 20);

	/* 2 GiB and more: libmnl's int comparison lets these through */
	put(buf, first, 0x80000010u);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, first + 64), first));
	put(buf, first, 0xfffffff0u);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, first + 64), first));
	/* shorter than a header, longer than what is left, a header cut short */
	put(buf, first, 8);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, first + 64), first));
	put(buf, first, 65);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, first + 64), first));
	put(buf, first, 16);
	cr_assert(eq(sz, scnpm_nlmsg_framed_len(buf, first + 15), first));
}
