/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mx - libFuzzer target for MX matching and domain normalisation.
 * The input is "<pattern>\n<host>"; each part is copied to a buffer of
 * its exact length. Checks: a literal pattern matches only its own name
 * (case-insensitively, one trailing dot ignored), and normalisation gives
 * a valid lower-case host name and is idempotent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/domain.h"
#include "internal/util.h"

static void
check_normalize(const char *s, size_t len)
{
	char out[MTASTS_DOMAIN_MAX + 1], again[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error err;
	size_t i, n;

	memset(&err, 0, sizeof(err));
	if (mtasts_domain_normalize(s, len, out, &err) != MTASTS_OK) {
		if (out[0] != '\0' || err.code != MTASTS_INVALID ||
		    memchr(err.text, '\0', sizeof(err.text)) == NULL)
			abort();
		return;
	}
	n = strlen(out);
	if (!mtasts_hostname_valid(out, n))
		abort();
	for (i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			abort();
	if (mtasts_domain_normalize(out, n, again, NULL) != MTASTS_OK ||
	    strcmp(out, again) != 0)
		abort();
	/* A normalised name always matches itself as a literal pattern. */
	if (!mtasts_mx_match(out, n, out, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl;
	char *pat = NULL, *host = NULL;
	size_t plen, hlen, a, b;
	int m;

	nl = memchr(s, '\n', size);
	plen = nl != NULL ? (size_t)(nl - s) : size;
	hlen = nl != NULL ? size - plen - 1 : 0;
	if ((pat = malloc(plen + 1)) == NULL ||
	    (host = malloc(hlen + 1)) == NULL)
		goto done;
	memcpy(pat, s, plen);
	memcpy(host, s + plen + (nl != NULL), hlen);

	m = mtasts_mx_match(pat, plen, host, hlen);
	if (m != 0 && m != 1)
		abort();
	if (plen > 0 && memchr(pat, '*', plen) == NULL &&
	    memchr(host, '*', hlen) == NULL) {
		/* Literal: symmetric, and equal up to case and one dot. */
		if (m != mtasts_mx_match(host, hlen, pat, plen))
			abort();
		a = plen - (pat[plen - 1] == '.');
		b = hlen - (hlen > 0 && host[hlen - 1] == '.');
		if (m && !mtasts_ascii_caseeq(pat, a, host, b))
			abort();
	}
	/* The MX name never contains the wildcard. */
	if (m && memchr(host, '*', hlen) != NULL)
		abort();
	check_normalize(pat, plen);
	check_normalize(host, hlen);
done:
	free(pat);
	free(host);
	return 0;
}
