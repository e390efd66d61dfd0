/* SPDX-License-Identifier: ISC */
/*
 * internal/util.h - util.c: strings, numbers, clocks, files and directories.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_UTIL_H
#define MTASTS_INTERNAL_UTIL_H

#include "internal/base.h"

/* Set err (if non-NULL and not already set): the first error wins. */
void mtasts_err_set(struct mtasts_error *err, int code, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);
/* Returns code after setting err; for `return mtasts_err(...)`. */
int mtasts_err(struct mtasts_error *err, int code, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);

/*
 * Range-checked decimal parse of s[0..len): digits only, no sign, no
 * spaces. Returns 0 and *out on success, -1 on any violation or overflow
 * beyond max.
 */
/* mtasts_parse_u64() is public (mtasts.h). */

/* Bounded copy, always NUL-terminates when size > 0; returns strlen(src). */
/* mtasts_strlcpy(): public, in mtasts_admin.h. */

/* Case-insensitive ASCII compare of two (ptr, len) strings: 1 if equal. */
int mtasts_ascii_caseeq(const char *a, size_t alen, const char *b,
    size_t blen);

/* Milliseconds on a monotonic clock, for deadlines. */
/* mtasts_mono_ms(): public, in mtasts_admin.h. */
/* CLOCK_MONOTONIC_COARSE in ns (vDSO). */
int64_t mtasts_mono_coarse_ns(void);
/*
 * Length of the well-formed UTF-8 sequence of 2 to 4 bytes at s[0..len)
 * (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF), or
 * 0. The policy parser's and the cache codec's (D-CACHE-10) one test.
 */
size_t mtasts_utf8_len(const unsigned char *s, size_t len);
/* Printable ASCII copy of in ('?' for the rest), NUL-terminated. */
void mtasts_sanitize(const char *in, char *out, size_t size);

/*
 * D-FILE-1, the one way to open a file in a shared directory: openat(dfd,
 * name) with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC added to flags
 * (O_RDONLY/O_WRONLY/O_RDWR, O_APPEND, O_CREAT; never O_TRUNC), refusing
 * anything but a regular file with one link. O_CREAT tries O_EXCL first;
 * mode is set with fchmod on a file this call created, and with
 * MTASTS_OPEN_FIXMODE in flags also on an existing file we own. Returns
 * the descriptor, or -1 with errno and *why (if why != NULL) a reason for
 * our own refusals.
 */
#define MTASTS_OPEN_FIXMODE 0x40000000
int mtasts_open_file(int dfd, const char *name, int flags, mode_t mode,
    const char **why);
/*
 * Open a directory (O_DIRECTORY, fstat S_ISDIR), refusing a world-writable
 * one. create: MTASTS_DIR_EXISTING, MTASTS_DIR_CREATE (the last
 * component), MTASTS_DIR_CREATE_PARENTS (mkdir -p). What is created is made
 * 0700 and fchmod'ed to mode through an O_NOFOLLOW descriptor. Returns the
 * descriptor or -1 with errno (ENOENT when missing) and *why.
 */
#define MTASTS_DIR_EXISTING 0
#define MTASTS_DIR_CREATE 1
#define MTASTS_DIR_CREATE_PARENTS 2
int mtasts_dir_open(const char *path, mode_t mode, int create,
    const char **why);
/*
 * mkdir -p: mtasts_dir_open(path, mode, MTASTS_DIR_CREATE_PARENTS, why)
 * without keeping the descriptor. 0, or -1 with errno and *why.
 */
/* mtasts_mkdir_p(): public, in mtasts_admin.h. */

/* ABNF character classes shared by the record parsers (RFC 5234 WSP). */
static inline int
mtasts_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static inline int
mtasts_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* The value of a HEXDIG (either case), or -1. */
static inline int
mtasts_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif /* MTASTS_INTERNAL_UTIL_H */
