/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <scnpm/cleanup.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define STRV_FOREACH(s, l) for (char **s = (l); s && *s; s++)
#define USEC_PER_MSEC 1000ULL
#define USEC_PER_SEC 1000000ULL

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void freep_strv(char ***p);

#define _cleanup_strv_free_ _cleanup_(freep_strv)

void strv_free(char **l);
static inline void freep_strv(char ***p)
{
	strv_free(*p);
}
