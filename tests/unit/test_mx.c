/* SPDX-License-Identifier: ISC */
/*
 * test_mx - mtasts_mx_match() from a table of permit and reject cases
 * (RFC 8461 §4.1, docs/decisions.md D-MX-*), plus
 * mtasts_policy_mx_allowed().
 */
#include <string.h>

#include "mtasts.h"
#include "t.h"

struct mcase {
	const char *pattern;
	const char *host;
	int match;
};

static const struct mcase cases[] = {
	/* exact, case-insensitive, trailing dot on either side */
	{ "mail.example.com", "mail.example.com", 1 },
	{ "mail.example.com", "MAIL.Example.COM", 1 },
	{ "MAIL.EXAMPLE.COM", "mail.example.com", 1 },
	{ "mail.example.com", "mail.example.com.", 1 },
	{ "mail.example.com.", "mail.example.com", 1 },
	{ "mail.example.com.", "mail.example.com.", 1 },
	{ "mail.example.com", "mail.example.com..", 0 },
	{ "mail.example.com", "mail.example.co", 0 },
	{ "mail.example.com", "ail.example.com", 0 },
	/* a literal pattern never suffix-matches */
	{ "example.com", "mail.example.com", 0 },
	{ "example.com", "xexample.com", 0 },
	/* "*" is exactly one whole left-most label */
	{ "*.example.com", "mail.example.com", 1 },
	{ "*.example.com", "m.example.com", 1 },
	{ "*.example.com", "MAIL.EXAMPLE.COM.", 1 },
	{ "*.EXAMPLE.com", "mail.example.COM", 1 },
	{ "*.example.com", "example.com", 0 },
	{ "*.example.com", "a.b.example.com", 0 },
	{ "*.example.com", ".example.com", 0 },
	{ "*.example.com", "mail.example.org", 0 },
	{ "*.example.com", "mailexample.com", 0 },
	{ "*.example.com", "mail..example.com", 0 },
	{ "*.example.com", "*.example.com", 0 },
	{ "*.example.com", "a*.example.com", 0 },
	{ "*.com", "example.com", 1 },
	{ "*.com", "com", 0 },
	/* not patterns */
	{ "*", "example", 0 },
	{ "*.", "example", 0 },
	{ "*.*.example.com", "a.b.example.com", 0 },
	{ "**.example.com", "a.example.com", 0 },
	{ "foo*.example.com", "foo1.example.com", 0 },
	{ "a.*.example.com", "a.b.example.com", 0 },
	{ ".example.com", "a.example.com", 0 },
	{ ".example.com", ".example.com", 0 },
	{ "*..example.com", "a..example.com", 0 },
	/* empty and malformed */
	{ "", "", 0 },
	{ "", "a", 0 },
	{ "a", "", 0 },
	{ ".", ".", 0 },
	{ "a", ".", 0 },
	{ "mail.example.com", " mail.example.com", 0 },
	{ "mail.example.com", "mail.example.com ", 0 },
	{ "mail.example.com", "mail.exa mple.com", 0 },
	{ "mail.example.com", "mail.example.com\n", 0 },
	/* ASCII only: U-labels never match, A-labels do */
	{ "m\xc3\xbcnchen.example", "m\xc3\xbcnchen.example", 0 },
	{ "*.m\xc3\xbcnchen.example", "a.m\xc3\xbcnchen.example", 0 },
	{ "xn--mnchen-3ya.example", "XN--MNCHEN-3YA.example", 1 },
	{ "*.xn--mnchen-3ya.example", "mx.xn--mnchen-3ya.example", 1 },
	/* wildcard does not validate the label (vector '_a.example.com') */
	{ "*.example.com", "_a.example.com", 1 },
	{ NULL, NULL, 0 }
};

static void
test_table(void)
{
	const struct mcase *c;

	for (c = cases; c->pattern != NULL; c++) {
		int got = mtasts_mx_match(c->pattern, strlen(c->pattern),
		    c->host, strlen(c->host));

		CHECKF(got == c->match, "pattern \"%s\" host \"%s\": got %d",
		    c->pattern, c->host, got);
	}
	CHECK(mtasts_mx_match(NULL, 0, "a", 1) == 0);
	CHECK(mtasts_mx_match("a", 1, NULL, 0) == 0);
	/* (ptr, len): bytes beyond len are not part of the name. */
	CHECK(mtasts_mx_match("a.example.comXX", 13, "a.example.com", 13) ==
	    1);
	CHECK(mtasts_mx_match("a.example.com", 13, "a.example.com.YY", 14) ==
	    1);
	/* A NUL inside the length is malformed. */
	CHECK(mtasts_mx_match("a.example", 9, "a.example\0", 10) == 0);
	CHECK(mtasts_mx_match("a\0.example", 10, "a\0.example", 10) == 0);
}

static void
test_policy_allowed(void)
{
	static const char body[] = "version: STSv1\nmode: enforce\n"
	    "mx: mail.example.com\nmx: *.backup.example.net\nmax_age: 60\n";
	struct mtasts_policy *p = NULL;

	CHECK(mtasts_policy_parse(body, sizeof(body) - 1, &p, NULL) ==
	    MTASTS_OK);
	CHECK(mtasts_policy_mx_allowed(p, "mail.example.com", 16) == 1);
	CHECK(mtasts_policy_mx_allowed(p, "MAIL.example.com.", 17) == 1);
	CHECK(mtasts_policy_mx_allowed(p, "x.backup.example.net", 20) == 1);
	CHECK(mtasts_policy_mx_allowed(p, "backup.example.net", 18) == 0);
	CHECK(mtasts_policy_mx_allowed(p, "x.mail.example.com", 18) == 0);
	CHECK(mtasts_policy_mx_allowed(p, "", 0) == 0);
	CHECK(mtasts_policy_mx_allowed(p, NULL, 0) == 0);
	CHECK(mtasts_policy_mx_allowed(NULL, "mail.example.com", 16) == 0);
	mtasts_policy_free(p);
}

int
main(void)
{
	test_table();
	test_policy_allowed();
	return T_DONE();
}
