/* SPDX-License-Identifier: ISC */
/*
 * ehlo.c - the one EHLO response parser (RFC 5321 §4.1.1.1, ehlo-ok-rsp)
 * shared by every adapter and the checker: does a server offer an
 * extension keyword (STARTTLS, RFC 3207 §4)? docs/decisions.md D-EHLO-1.
 *
 *   ehlo-ok-rsp = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
 *               / ( "250-" Domain [ SP ehlo-greet ] CRLF
 *                   *( "250-" ehlo-line CRLF )
 *                   "250" SP ehlo-line CRLF )
 *   ehlo-line   = ehlo-keyword *( SP ehlo-param )
 *
 * The keyword is the whole first token of a line after its greeting
 * line: "250-starttls.example.net" is a greeting (or an unknown keyword),
 * never STARTTLS. Lines end in CRLF or a bare LF (Exim hands the response
 * over joined with LF). A NUL byte cannot appear in an SMTP reply: the
 * whole response is rejected.
 */
#include <string.h>

#include "mtasts_internal.h"

int
mtasts_ehlo_line_keyword(const char *line, size_t len, const char **kw,
    size_t *kwlen)
{
	size_t i;

	*kw = NULL;
	*kwlen = 0;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) !=
	    NULL || memchr(line, '\n', len) != NULL)
		return -1;
	if (len < 4 || memcmp(line, "250", 3) != 0 ||
	    (line[3] != '-' && line[3] != ' '))
		return -1;
	for (i = 4; i < len && line[i] != ' '; i++)
		;
	if (i == 4)
		return -1;	/* "250- foo": no keyword */
	*kw = line + 4;
	*kwlen = i - 4;
	return 0;
}

int
mtasts_ehlo_offers(const char *resp, size_t len, const char *kw)
{
	size_t pos = 0, klen = strlen(kw);
	int first = 1, found = 0;

	if (memchr(resp, '\0', len) != NULL)
		return -1;
	while (pos < len) {
		const char *l = resp + pos, *nl, *k;
		size_t n, kn;

		nl = memchr(l, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - l) + 1 : len - pos;
		pos += n;
		if (n == 1 || (n == 2 && l[0] == '\r'))
			continue;	/* an empty line (a trailing LF) */
		if (mtasts_ehlo_line_keyword(l, n, &k, &kn) != 0)
			return -1;	/* not a 250 line, or a stray CR */
		if (first) {
			first = 0;	/* the greeting: Domain, no keyword */
			continue;
		}
		if (mtasts_ascii_caseeq(k, kn, kw, klen))
			found = 1;
	}
	return found;
}
