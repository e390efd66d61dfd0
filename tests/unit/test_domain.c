/* SPDX-License-Identifier: ISC */
/*
 * test_domain - mtasts_hostname_valid() and mtasts_domain_normalize()
 * (checklist item 4, docs/decisions.md D-DOM-1).
 */
#include <string.h>

#include "mtasts.h"
#include "internal/domain.h"
#include "t.h"

/* A char array as a pointer, for CHECK_STR (-Waddress). */
static const char *
str(const char *s)
{
	return s;
}

struct ncase {
	const char *in;
	const char *out;	/* NULL: invalid */
	const char *reason;	/* substring of the reason, or NULL */
};

static const struct ncase cases[] = {
	{ "example.com", "example.com", NULL },
	{ "Example.COM", "example.com", NULL },
	{ "example.com.", "example.com", NULL },
	{ "localhost", "localhost", NULL },
	{ "a-b.c0.example", "a-b.c0.example", NULL },
	{ "xn--mnchen-3ya.example", "xn--mnchen-3ya.example", NULL },
	{ "m\xc3\xbcnchen.example", "xn--mnchen-3ya.example", NULL },
	{ "M\xc3\x9cNCHEN.Example.", "xn--mnchen-3ya.example", NULL },
	/* mailauth: 例え.test */
	{ "\xe4\xbe\x8b\xe3\x81\x88.test", "xn--r8jz45g.test", NULL },
	{ "\xc3\xb1" "aca.com", "xn--aca-6ma.com", NULL },
	{ "1example.com", "1example.com", NULL },
	{ "example.123a", "example.123a", NULL },
	{ "", NULL, "empty" },
	{ ".", NULL, "empty" },
	{ "example.com..", NULL, "not a valid host name" },
	{ ".example.com", NULL, "not a valid host name" },
	{ "a..example", NULL, "not a valid host name" },
	{ "-a.example", NULL, "not a valid host name" },
	{ "a-.example", NULL, "not a valid host name" },
	{ "a_b.example", NULL, "not a valid host name" },
	{ "a b.example", NULL, "not a valid host name" },
	{ "*.example", NULL, "not a valid host name" },
	{ "[192.0.2.1]", NULL, "address literal" },
	{ "[IPv6:2001:db8::1]", NULL, "address literal" },
	{ "192.0.2.1", NULL, "numeric last label" },
	{ "192.0.2.1.", NULL, "numeric last label" },
	{ "example.123", NULL, "numeric last label" },
	{ "2001:db8::1", NULL, "not a valid host name" },
	{ "\xff.example", NULL, "cannot convert" },
	{ "\xc3.example", NULL, "cannot convert" },
	{ NULL, NULL, NULL }
};

static void
test_table(void)
{
	const struct ncase *c;

	for (c = cases; c->in != NULL; c++) {
		struct mtasts_error err;
		char out[MTASTS_DOMAIN_MAX + 1];
		int rc;

		memset(&err, 0, sizeof(err));
		memset(out, 'X', sizeof(out));
		rc = mtasts_domain_normalize(c->in, strlen(c->in), out, &err);
		if (c->out != NULL) {
			CHECKF(rc == MTASTS_OK, "\"%s\": %s", c->in, err.text);
			CHECK_STR(str(out), c->out);
		} else {
			CHECKF(rc == MTASTS_INVALID, "\"%s\" accepted as %s",
			    c->in, out);
			CHECK(out[0] == '\0');
			if (c->reason != NULL)
				CHECKF(strstr(err.text, c->reason) != NULL,
				    "\"%s\": reason \"%s\" lacks \"%s\"",
				    c->in, err.text, c->reason);
		}
	}
}

static void
test_lengths(void)
{
	char in[MTASTS_DOMAIN_INPUT_MAX + 8], out[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error err;
	size_t i;

	/* 63-character label ok, 64 not. */
	memset(in, 'a', 63);
	memcpy(in + 63, ".example", 9);
	CHECK(mtasts_hostname_valid(in, strlen(in)) == 1);
	CHECK(mtasts_domain_normalize(in, strlen(in), out, NULL) == MTASTS_OK);
	memset(in, 'a', 64);
	memcpy(in + 64, ".example", 9);
	CHECK(mtasts_hostname_valid(in, strlen(in)) == 0);
	CHECK(mtasts_domain_normalize(in, strlen(in), out, NULL) ==
	    MTASTS_INVALID);

	/* 253 characters ok (plus one trailing dot), 254 not. */
	for (i = 0; i < 253; i++)
		in[i] = (i % 2 == 0) ? 'a' : '.';
	in[253] = '\0';
	CHECK(mtasts_hostname_valid(in, 253) == 1);
	CHECK(mtasts_domain_normalize(in, 253, out, NULL) == MTASTS_OK);
	CHECK(strlen(out) == 253);
	in[253] = '.';
	CHECK(mtasts_domain_normalize(in, 254, out, NULL) == MTASTS_OK);
	in[253] = 'a';
	in[252] = 'b';
	CHECK(mtasts_hostname_valid(in, 254) == 0);
	CHECK(mtasts_domain_normalize(in, 254, out, NULL) == MTASTS_INVALID);

	/* Raw input cap. */
	memset(in, 'a', sizeof(in));
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_domain_normalize(in, MTASTS_DOMAIN_INPUT_MAX + 1, out,
	    &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "too long") != NULL);

	/* NUL inside the length. */
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_domain_normalize("a.example\0b", 11, out, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "NUL byte in domain at offset 9") != NULL);
	/* (ptr, len): the rest of the buffer is ignored. */
	CHECK(mtasts_domain_normalize("a.example.junk", 9, out, NULL) ==
	    MTASTS_OK);
	CHECK_STR(str(out), "a.example");
	CHECK(mtasts_domain_normalize(NULL, 0, out, NULL) == MTASTS_INVALID);

	CHECK(mtasts_hostname_valid(NULL, 0) == 0);
	CHECK(mtasts_hostname_valid("a", 1) == 1);
	CHECK(mtasts_hostname_valid("a.", 2) == 0);
	CHECK(mtasts_hostname_valid("A-1.B", 5) == 1);
	CHECK(mtasts_hostname_valid("a\0b", 3) == 0);
}

int
main(void)
{
	test_table();
	test_lengths();
	return T_DONE();
}
