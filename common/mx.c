/* SPDX-License-Identifier: ISC */
/*
 * mx.c - MX host name against policy "mx" pattern (RFC 8461 §4.1,
 * docs/decisions.md D-MX-1). A pure function over ASCII names: callers
 * convert U-labels to A-labels first (mtasts_domain_normalize()).
 */
#include <stdio.h>
#include <string.h>

#include "mtasts_internal.h"

/*
 * 1 if s[0..len) is a non-empty ASCII name with non-empty labels and no
 * '*', WSP, CTL or 8-bit byte. Label syntax is not checked further: the
 * policy parser already validated the patterns, and an MX target with an
 * odd (e.g. '_') label may still be matched by a wildcard.
 */
static int
name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > MTASTS_DOMAIN_MAX)
		return 0;
	/* Disallow ".a", "a..b" and "a." (after one dot was stripped). */
	if (s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '*')
			return 0;
		if (c == '.' && i + 1 < len && s[i + 1] == '.')
			return 0;
	}
	return 1;
}

int
mtasts_mx_match(const char *pattern, size_t plen, const char *host,
    size_t hlen)
{
	const char *dot;

	if (pattern == NULL || host == NULL)
		return 0;
	/* A trailing dot (FQDN form) is ignored on both sides. */
	if (plen > 0 && pattern[plen - 1] == '.')
		plen--;
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	/* Wildcards appear only in patterns, never in the MX name. */
	if (!name_ok(host, hlen))
		return 0;
	if (plen >= 2 && pattern[0] == '*' && pattern[1] == '.') {
		/* "*" is the whole left-most label, and only that. */
		if (!name_ok(pattern + 2, plen - 2))
			return 0;
		/* Exactly one non-empty label before the rest: not deeper. */
		dot = memchr(host, '.', hlen);
		if (dot == NULL)
			return 0;
		return mtasts_ascii_caseeq(pattern + 2, plen - 2, dot + 1,
		    hlen - (size_t)(dot + 1 - host));
	}
	/* Disallow "*", "foo*.example", "a.*.example": not patterns. */
	if (!name_ok(pattern, plen))
		return 0;
	/* A literal pattern matches exactly; never as a suffix. */
	return mtasts_ascii_caseeq(pattern, plen, host, hlen);
}

/*
 * Why no pattern of p covers host, when the reason is one of the two
 * mistakes §4.1's rule makes easy: a wildcard used for the bare name or
 * for more than one label, an exact name meant to cover a subdomain.
 */
int
mtasts_mx_explain_miss(const struct mtasts_policy *p, const char *host,
    char *out, size_t size)
{
	size_t i, hl = strlen(host);

	for (i = 0; i < mtasts_policy_mx_count(p); i++) {
		const char *pat = mtasts_policy_mx(p, i);
		const char *base = pat[0] == '*' ? pat + 2 : pat;
		size_t bl = strlen(base);

		if (pat[0] == '*' && hl == bl &&
		    mtasts_ascii_caseeq(host, hl, base, bl)) {
			snprintf(out, size, "\"%s\" does not match the bare "
			    "name %s", pat, host);
			return 1;
		}
		if (hl > bl + 1 && host[hl - bl - 1] == '.' &&
		    mtasts_ascii_caseeq(host + hl - bl, bl, base, bl)) {
			if (pat[0] == '*')
				snprintf(out, size, "\"%s\" covers exactly one "
				    "label, not %s (more than one label "
				    "deeper)", pat, host);
			else
				snprintf(out, size, "\"%s\" is an exact name, "
				    "it does not cover %s (use \"*.%s\" for "
				    "one label below it)", pat, host, pat);
			return 1;
		}
	}
	return 0;
}
