/* SPDX-License-Identifier: ISC */
/*
 * test_ehlo - the EHLO response keyword parser shared by the Exim module,
 * the OpenSMTPD filter and the checker (common/ehlo.c, D-EHLO-1).
 */
#include <string.h>

#include "internal/ehlo.h"
#include "t.h"

#define OFFERS(s) mtasts_ehlo_offers((s), sizeof(s) - 1, "STARTTLS")

static int
line_kw(const char *line, size_t len, const char *want)
{
	const char *kw;
	size_t n;

	if (mtasts_ehlo_line_keyword(line, len, &kw, &n) != 0)
		return want == NULL;
	return want != NULL && n == strlen(want) && memcmp(kw, want, n) == 0;
}

#define LINE(s, want) CHECKF(line_kw((s), sizeof(s) - 1, (want)), "%s", s)

int
main(void)
{
	/* One line: the keyword is the whole first token. */
	LINE("250-STARTTLS", "STARTTLS");
	LINE("250 STARTTLS", "STARTTLS");
	LINE("250-STARTTLS foo", "STARTTLS");
	LINE("250-STARTTLS\r\n", "STARTTLS");
	LINE("250 STARTTLS\n", "STARTTLS");
	LINE("250-starttls.example.net", "starttls.example.net");
	LINE("250-SIZE 52428800", "SIZE");
	LINE("250-", NULL);
	LINE("250- STARTTLS", NULL);
	LINE("250STARTTLS", NULL);
	LINE("251-STARTTLS", NULL);
	LINE("220 STARTTLS", NULL);
	LINE("25", NULL);
	LINE("", NULL);
	LINE("250-STAR\rTTLS", NULL);
	LINE("250-STARTTLS\r\r\n", NULL);
	LINE("250-STARTTLS\0", NULL);
	LINE("250-STAR\0TLS", NULL);

	/* Whole responses: the first line is the greeting (a Domain). */
	CHECK(OFFERS("250-mx.example.net Hello\r\n250-SIZE 1000\r\n"
	    "250-STARTTLS\r\n250 HELP\r\n") == 1);
	CHECK(OFFERS(
	    "250-mx.example.net\n250-PIPELINING\n250 STARTTLS\n") == 1);
	CHECK(OFFERS("250-mx.example.net\n250 starttls") == 1);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-StartTLS\r\n250 HELP") == 1);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-STARTTLS foo\r\n250 HELP") == 1);
	/* Substrings and prefixes are not the keyword. */
	CHECK(OFFERS("250-starttls.example.net Hello\r\n250-SIZE 1\r\n"
	    "250 HELP\r\n") == 0);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-X-STARTTLS\r\n250 HELP") == 0);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-STARTTLSX\r\n250 HELP") == 0);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-AUTH STARTTLS\r\n250 HELP") == 0);
	CHECK(OFFERS("250-mx.example.net\r\n250-STARTTL\r\n250 HELP") == 0);
	/* A one-line response is the greeting alone: nothing offered. */
	CHECK(OFFERS("250 STARTTLS\r\n") == 0);
	CHECK(OFFERS("250 mx.example.net\r\n") == 0);
	CHECK(OFFERS("") == 0);
	/* Malformed: NUL anywhere, a stray CR, a line that is not 250. */
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-STARTTLS\0\r\n250 HELP") == -1);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-STARTTLS\r\n250 HE\0LP") == -1);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n250-STA\rRTTLS\r\n250 HELP") == -1);
	CHECK(OFFERS(
	    "250-mx.example.net\r\n550-STARTTLS\r\n250 HELP") == -1);
	/* Other keywords through the same parser. */
	CHECK(mtasts_ehlo_offers("250-a\r\n250 PIPELINING", 21,
	    "pipelining") == 1);
	return T_DONE();
}
