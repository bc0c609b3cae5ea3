/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the fuzz targets (fuzz-*.c beside the code they feed). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input in a buffer of its own, malloc()ed, so aligned as a receive buffer is, and of
 * exactly size bytes, so that ASan sees a read past it. Out of memory aborts. */
static inline void *fuzz_dup(const uint8_t *data, size_t size)
{
	void *buf = malloc(size ? size : 1);

	if (!buf)
		abort();
	memcpy(buf, data, size);
	return buf;
}
