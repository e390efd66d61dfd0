/* SPDX-License-Identifier: ISC */
/*
 * internal/ehlo.h - ehlo.c: EHLO response keywords.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_EHLO_H
#define MTASTS_INTERNAL_EHLO_H

#include "internal/base.h"

/*
 * The keyword of one EHLO response line line[0..len) ("250-KW params" or
 * "250 KW", with or without its CRLF/LF): *kw borrows into line. Returns
 * 0, or -1 for a line that is not a 250 line with a keyword or holds a
 * NUL, CR or LF inside.
 */
/* mtasts_ehlo_line_keyword(): public (mtasts.h). */

/*
 * Does the EHLO response resp[0..len) (lines ending in CRLF or LF, the
 * first one the greeting) offer keyword kw, compared case-insensitively
 * with whole first tokens? Returns 1 yes, 0 no, -1 malformed (a NUL, a
 * non-250 line): callers treat -1 as "not offered".
 */
/* mtasts_ehlo_offers(): public (mtasts.h). */

#endif /* MTASTS_INTERNAL_EHLO_H */
