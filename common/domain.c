/* SPDX-License-Identifier: ISC */
/*
 * domain.c - host name validation and policy domain normalisation
 * (checklist item 4, docs/decisions.md D-DOM-1): lower-case, one trailing
 * dot stripped, U-labels converted to A-labels with libidn2, then checked
 * as an LDH host name.
 */
#include <string.h>

#include <idn2.h>

#include "mtasts_internal.h"

static int
ldh_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

int
mtasts_hostname_valid(const char *s, size_t len)
{
	size_t i, start = 0;

	if (s == NULL || len == 0 || len > MTASTS_DOMAIN_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		size_t llen;

		if (i < len && s[i] != '.') {
			if (!ldh_char((unsigned char)s[i]))
				return 0;
			continue;
		}
		/* End of a label: RFC 1035 §2.3.1 / RFC 5321 sub-domain. */
		llen = i - start;
		if (llen == 0 || llen > MTASTS_LABEL_MAX)
			return 0;
		if (s[start] == '-' || s[i - 1] == '-')
			return 0;
		start = i + 1;
	}
	return 1;
}

int
mtasts_numeric_tld(const char *s, size_t len)
{
	size_t i = len;

	while (i > 0 && s[i - 1] != '.') {
		if (s[i - 1] < '0' || s[i - 1] > '9')
			return 0;
		i--;
	}
	return i < len;
}

int
mtasts_domain_normalize(const char *in, size_t len,
    char out[MTASTS_DOMAIN_MAX + 1], struct mtasts_error *err)
{
	char buf[MTASTS_DOMAIN_INPUT_MAX + 1];
	char *ascii = NULL;
	const char *name;
	size_t i, n;
	int rc, nonascii = 0;

	out[0] = '\0';
	if (in == NULL || len == 0) {
		rc = mtasts_err(err, MTASTS_INVALID, "empty domain");
		goto done;
	}
	if (len > MTASTS_DOMAIN_INPUT_MAX) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "domain too long (%zu bytes)", len);
		goto done;
	}
	for (i = 0; i < len; i++) {
		if (in[i] == '\0') {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "NUL byte in domain at offset %zu", i);
			goto done;
		}
		if ((unsigned char)in[i] >= 0x80)
			nonascii = 1;
	}
	/* RFC 8461 §3.4: no policy for address literals. */
	if (in[0] == '[') {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "address literal \"%.*s\" has no policy domain",
		    (int)(len > 64 ? 64 : len), in);
		goto done;
	}
	memcpy(buf, in, len);
	buf[len] = '\0';
	/* One trailing dot is the FQDN form; "a.." stays invalid. */
	if (buf[len - 1] == '.')
		buf[--len] = '\0';
	if (len == 0) {
		rc = mtasts_err(err, MTASTS_INVALID, "empty domain");
		goto done;
	}
	name = buf;
	if (nonascii) {
		int irc;

		irc = idn2_to_ascii_8z(buf, &ascii,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (irc != IDN2_OK) {
			ascii = NULL;
			rc = mtasts_err(err, MTASTS_INVALID,
			    "cannot convert domain to A-labels: %s",
			    idn2_strerror(irc));
			goto done;
		}
		name = ascii;
	}
	n = strlen(name);
	if (!mtasts_hostname_valid(name, n)) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "\"%.*s\" is not a valid host name",
		    (int)(n > 64 ? 64 : n), name);
		goto done;
	}
	if (mtasts_numeric_tld(name, n)) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "\"%s\" has a numeric last label (address?)", name);
		goto done;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	rc = MTASTS_OK;
done:
	if (ascii != NULL)
		idn2_free(ascii);
	return rc;
}
