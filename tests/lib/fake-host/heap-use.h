/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SCNPM_HEAP_USE_H
#define SCNPM_HEAP_USE_H

/*
 * Heap in use, for tests that guard against state kept per unit, cgroup or event: what
 * glibc's allocator has handed out and not got back (mallinfo2(): chunks in use plus
 * mmap()ed blocks, less what its per-thread cache holds; heap_in_use() below). Counted, not timed. Under AddressSanitizer malloc is not
 * glibc's and the numbers mean nothing: HEAP_USE_MEANINGFUL is 0 there, and tests skip
 * their bound saying why (the sanitizer's own leak check covers what a test frees).
 */

#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#  define HEAP_USE_MEANINGFUL 0
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#    define HEAP_USE_MEANINGFUL 0
#  endif
#endif
#ifndef HEAP_USE_MEANINGFUL
#  if defined(__GLIBC__)
#    define HEAP_USE_MEANINGFUL 1
#  else
#    define HEAP_USE_MEANINGFUL 0
#  endif
#endif

/* What a churn may leave behind after its warm-up: allocator bookkeeping, a hash table
 * that doubled once more. Per unit name ever seen it is nothing. */
#define HEAP_USE_SLACK (64 * 1024)

#define HEAP_USE_SKIP_REASON "heap in use is not glibc's under a sanitizer"

/* Chunks a thread's cache (tcache) keeps per size, at most, unless tuned higher: 7. */
#define HEAP_USE_CACHE_DRAIN 16
/* The cache's sizes: chunks of 32 to 1040 bytes, 64 of them, 16 apart. */
#define HEAP_USE_CACHE_SIZES 64

/*
 * mallinfo2() counts the chunks glibc keeps in its per-thread cache as in use, though
 * they are free: up to 7 of each small size, so what it says wanders by tens of KiB with
 * the mix of sizes freed last. Those are taken out of the cache first (by allocating
 * more of each size than it holds), the count is read, and what was taken is
 * subtracted: what is left is what the program holds.
 */
static inline size_t heap_in_use(void)
{
#if HEAP_USE_MEANINGFUL
	void *taken[HEAP_USE_CACHE_SIZES * HEAP_USE_CACHE_DRAIN];
	size_t n = 0, ours = 0, total;
	struct mallinfo2 mi;

	for (size_t i = 0; i < HEAP_USE_CACHE_SIZES; i++)
		for (size_t k = 0; k < HEAP_USE_CACHE_DRAIN; k++) {
			/* a request of 24 + 16 i bytes is a chunk of 32 + 16 i */
			void *p = malloc(24 + 16 * i);

			if (!p)
				continue;
			ours += malloc_usable_size(p) + sizeof(size_t);
			taken[n++] = p;
		}
	mi = mallinfo2();
	total = mi.uordblks + mi.hblkhd - ours;
	while (n > 0)
		free(taken[--n]);
	return total;
#else
	return 0;
#endif
}

/* In a Criterion test (criterion/new/assert.h included): the heap in use after a churn
 * of n things is within HEAP_USE_SLACK of what it was after the warm-up, or the log says
 * why that is not checked. */
#define heap_use_assert_flat(what, warm, after, n)                                             \
	do {                                                                                  \
		cr_log_info("%s: heap in use %zu bytes after the warm-up, %zu after %u more",      \
			    (what), (size_t)(warm), (size_t)(after), (unsigned)(n));                \
		if (!HEAP_USE_MEANINGFUL)                                                      \
			cr_log_info("heap bound not checked: " HEAP_USE_SKIP_REASON);          \
		else                                                                           \
			cr_assert(le(sz, (after), (warm) + HEAP_USE_SLACK),                    \
				  "%s: the heap grew by %zd bytes over %u more", (what),           \
				  (ssize_t)((after) - (warm)), (unsigned)(n));                      \
	} while (0)

#endif /* SCNPM_HEAP_USE_H */
