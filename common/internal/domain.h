/* SPDX-License-Identifier: ISC */
/*
 * internal/domain.h - domain.c: domain names.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_DOMAIN_H
#define MTASTS_INTERNAL_DOMAIN_H

#include "internal/base.h"

/*
 * Validate an LDH host name of (ptr, len), no trailing dot, lower or upper
 * case: labels 1..63 of [A-Za-z0-9-], not starting or ending with '-',
 * total <= 253, one or more labels. Returns 1 if valid.
 */
int mtasts_hostname_valid(const char *s, size_t len);

/*
 * 1 if the last label of s[0..len) is all digits: "1.2.3.4" is an address
 * written as a name, and no top-level domain is numeric (RFC 3696 §2).
 */
int mtasts_numeric_tld(const char *s, size_t len);

#endif /* MTASTS_INTERNAL_DOMAIN_H */
