/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* NULL-terminated string vectors. */
void strv_free(char **l);
size_t strv_length(char **l);
int strv_push(char ***l, const char *s); /* copies s */
bool strv_contains(char **l, const char *s);
/* The strings joined with sep, in a new string; NULL when out of memory. */
char *strv_join(char **l, const char *sep);

/* A copy of s safe to print in a log line: non-printable bytes, quotes and backslashes
 * escaped, at most max visible bytes of s (then "..."). Never NULL on success. */
char *cescape_trunc(const char *s, size_t max);

/* How many of the first n bytes of s are valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF): n when all of them are. */
size_t utf8_valid_prefix(const char *s, size_t n);

int safe_atou32(const char *s, uint32_t *ret);
int safe_atou64(const char *s, uint64_t *ret);
/* "200ms", "1s", "500us", or a bare number of milliseconds; at most 12 digits. */
int parse_duration_usec(const char *s, uint64_t *ret);

const char *startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
char *skip_space(const char *s);
void strip_trailing_space(char *s);

/* CLOCK_MONOTONIC, CLOCK_REALTIME in microseconds. */
uint64_t now_usec(void);
uint64_t now_realtime_usec(void);

/* "system", "user" or "any" for an enum scnpm_manager. */
const char *manager_kind_to_string(uint32_t kind);

/* The daemon's runtime directory: $RUNTIME_DIRECTORY (the unit's RuntimeDirectory=scnpm)
 * or /run/scnpm. Holds the instance lock and the control socket. */
const char *runtime_dir(void);

/* Table keys "[PTR ]MANAGER:UID:NAME" (units, applied records, the tree snapshot),
 * written without printf or allocation: into buf when they fit, else into a heap copy
 * left in *ret_heap for the caller to free. NULL when out of memory. */
#define KEY_BUF 320
const char *key_format(char buf[static KEY_BUF], char **ret_heap, const void *ptr,
		       uint32_t manager, uint32_t uid, const char *name);
