/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_NETLINK_H
#define SCNPM_NETLINK_H

/*
 * For sinks that read netlink: how much of a received buffer is whole messages.
 *
 * libmnl 1.0.4's mnl_nlmsg_ok() compares nlmsg_len as an int, so a message claiming 2 GiB
 * or more passes, and mnl_nlmsg_next() (and mnl_cb_run(), which loops with both) then
 * steps outside the buffer. Hand libmnl scnpm_nlmsg_framed_len(buf, n) instead of the n
 * that recv() returned: the messages from the first one that does not fit on are
 * dropped, as libmnl drops a short tail. "Fits" includes the padding to 4 bytes:
 * mnl_attr_parse() walks attributes up to MNL_ALIGN(nlmsg_len), so an attribute may
 * end in the padding of the last message, beyond the bytes received.
 */

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The length of the leading run of messages in buf (len bytes) whose header is whole
 * and whose nlmsg_len is at least a header and, padded, within what is left. */
static inline size_t scnpm_nlmsg_framed_len(const void *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t off = 0;

	while (len - off >= sizeof(struct nlmsghdr)) {
		uint32_t l;

		memcpy(&l, p + off + offsetof(struct nlmsghdr, nlmsg_len), sizeof(l));
		if (l < sizeof(struct nlmsghdr) || l > len - off)
			break;
		/* libmnl walks a message's attributes up to its aligned end: a message
		 * whose padding is cut off is not whole (the kernel pads every one) */
		if (NLMSG_ALIGN(l) > len - off)
			break;
		off += NLMSG_ALIGN(l);
	}
	return off;
}

#endif /* SCNPM_NETLINK_H */
