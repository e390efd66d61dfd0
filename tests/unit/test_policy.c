/* SPDX-License-Identifier: ISC */
/*
 * test_policy - mtasts_policy_parse() and the policy getters: edge cases
 * beyond the shared vectors (checklist item 33 a-i, docs/decisions.md
 * D-POL-*).
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/base.h"
#include "t.h"

#define HDR "version: STSv1\nmode: enforce\nmax_age: 60\n"

struct pcase {
	const char *body;
	int valid;
	const char *reason;	/* substring of the reason, or NULL */
};

static const struct pcase cases[] = {
	{ HDR "mx: a.example", 1, NULL },
	{ HDR "mx: a.example\n", 1, NULL },
	{ HDR "mx: a.example\r\n", 1, NULL },
	{ "version: STSv1\r\nmode: none\nmax_age: 0\r\n", 1, NULL },
	{ "version:\tSTSv1\t \nmode:none  \nmax_age:\t0", 1, NULL },
	{ HDR "mx: *.a.example\nx: \xf0\x9f\x98\x80 ok \xe2\x82\xac", 1, NULL },
	{ HDR "mx: a.example\nx: a:b:c", 1, NULL },
	{ HDR "mx: a.example\nx.y_z-1: v", 1, NULL },
	{ HDR "mx: a.example\nMode: none", 1, NULL },
	{ HDR "mx: a.example\nversion: x y", 1, NULL },
	{ HDR "mx: a.example\nmax_age: 99999999999999", 1, NULL },
	{ HDR "mx: a.example\nmode: bogus", 1, NULL },
	{ HDR "mx: a", 1, NULL },
	{ HDR "mx: *.com", 1, NULL },
	{ HDR "mx: 1a.example", 1, NULL },
	{ HDR "mx: a.1a", 1, NULL },
	/* (a) bare CR is not a terminator */
	{ HDR "mx: a.example\rfoo: bar", 0, "line 4: control byte 0x0d" },
	{ HDR "mx: a.example\r", 0, "line 4: control byte 0x0d" },
	{ HDR "mx: a.example\r\r\n", 0, "control byte" },
	/* (f) blank lines, lines without ':' */
	{ HDR "\nmx: a.example", 0, "line 4: empty line" },
	{ HDR "mx: a.example\n\n", 0, "line 5: empty line" },
	{ HDR "mx: a.example\r\n\r\n", 0, "line 5: empty line" },
	{ "\n" HDR "mx: a.example", 0, "line 1: empty line" },
	{ HDR "mx: a.example\ngarbage", 0, "line 5: no ':'" },
	/* (c) WSP */
	{ HDR " mx: a.example", 0, "line 4: leading whitespace" },
	{ HDR "\tmx: a.example", 0, "leading whitespace" },
	{ HDR "mx : a.example", 0, "line 4: whitespace" },
	{ HDR "mx\t: a.example", 0, "whitespace" },
	/* (d) case-sensitive keys and values */
	{ "Version: STSv1\nmode: none\nmax_age: 1", 0, "missing version" },
	{ "version: STSv1\nMode: none\nmax_age: 1", 0, "missing mode" },
	{ "version: STSv1\nmode: None\nmax_age: 1", 0, "invalid mode" },
	{ "version: STSV1\nmode: none\nmax_age: 1", 0, "unsupported version" },
	{ "version: STSv1\nmode: none\nMax_age: 1", 0, "missing max_age" },
	/* duplicates: first wins, later must still be valid lines */
	{ "version: STSv2\nversion: STSv1\nmode: none\nmax_age: 1", 0,
	    "line 1: unsupported version \"STSv2\"" },
	{ "mode: bad\nmode: none\nversion: STSv1\nmax_age: 1", 0,
	    "invalid mode" },
	{ "max_age: x\nmax_age: 1\nmode: none\nversion: STSv1", 0,
	    "invalid max_age" },
	{ HDR "mx: a.example\nmode: none\x01", 0, "control byte 0x01" },
	{ HDR "mx: a.example\nmax_age:", 0, "line 5: empty value" },
	/* (h) max_age */
	{ "version: STSv1\nmode: none\nmax_age: 31557601", 0,
	    "line 3: max_age 31557601 out of range 0..31557600" },
	{ "version: STSv1\nmode: none\nmax_age: 0031557601", 0,
	    "out of range" },
	{ "version: STSv1\nmode: none\nmax_age: 00000000000", 0,
	    "invalid max_age" },
	{ "version: STSv1\nmode: none\nmax_age: +1", 0, "invalid max_age" },
	{ "version: STSv1\nmode: none\nmax_age: 1 2", 0, "invalid max_age" },
	{ "version: STSv1\nmode: none\nmax_age: \xd9\xa1", 0,
	    "invalid max_age" },
	/* (i) mx syntax */
	{ HDR "mx: a.example.", 0, "line 4: invalid mx \"a.example.\"" },
	{ HDR "mx: *", 0, "invalid mx" },
	{ HDR "mx: *.", 0, "invalid mx" },
	{ HDR "mx: *a.example", 0, "invalid mx" },
	{ HDR "mx: a.*.example", 0, "invalid mx" },
	{ HDR "mx: *.*.example", 0, "invalid mx" },
	{ HDR "mx: a_b.example", 0, "invalid mx" },
	{ HDR "mx: a..example", 0, "invalid mx" },
	{ HDR "mx: -a.example", 0, "invalid mx" },
	{ HDR "mx: a.example, b.example", 0, "invalid mx" },
	{ HDR "mx: a.example b.example", 0, "invalid mx" },
	{ HDR "mx: [192.0.2.1]", 0, "invalid mx" },
	{ HDR "mx: 192.0.2.1", 0, "is an IP address" },
	{ HDR "mx: *.2.1", 0, "is an IP address" },
	{ HDR "mx: a.example\nmx: b.99", 0, "line 5: mx \"b.99\" is an IP" },
	{ HDR "mx: m\xc3\xbcnchen.example", 0, "not an A-label" },
	{ HDR "mx: xn--mnchen-3ya.example\nmx: \xc3\xbc", 0,
	    "line 5: mx \"\xc3\xbc\" is not an A-label" },
	/* mode requires mx */
	{ "version: STSv1\nmode: testing\nmax_age: 1", 0,
	    "mode testing without any mx" },
	{ "version: STSv1\nmode: testing\nmax_age: 1\nnmx: a.example", 0,
	    "without any mx" },
	/* (g) extensions */
	{ HDR "mx: a.example\n_x: 1", 0, "line 5: invalid field name" },
	{ HDR "mx: a.example\n: 1", 0, "line 5: empty field name" },
	{ HDR "mx: a.example\nx/y: 1", 0, "invalid field name at column 2" },
	{ HDR "mx: a.example\nabcdefghijklmnopqrstuvwxyz0123456: 1", 0,
	    "longer than 32" },
	{ HDR "mx: a.example\nabcdefghijklmnopqrstuvwxyz012345: 1", 1, NULL },
	{ HDR "mx: a.example\nx: a\tb", 0, "control byte 0x09" },
	{ HDR "mx: a.example\nx: \x80", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: \xc0\xaf", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: \xe0\x80\xaf", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: \xed\xa0\x80", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: \xf4\x90\x80\x80", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: \xf5\x80\x80\x80", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx: ok\xe2\x82", 0, "malformed UTF-8" },
	{ HDR "mx: a.example\nx\xc3\xa9: 1", 0, "invalid field name" },
	{ "\xef\xbb\xbf" HDR "mx: a.example", 0, "line 1: invalid field name" },
	{ NULL, 0, NULL }
};

static void
test_table(void)
{
	const struct pcase *c;

	for (c = cases; c->body != NULL; c++) {
		struct mtasts_error err;
		struct mtasts_policy *p = (struct mtasts_policy *)&err;
		int rc;

		memset(&err, 0, sizeof(err));
		rc = mtasts_policy_parse(c->body, strlen(c->body), &p, &err);
		if (c->valid) {
			CHECKF(rc == MTASTS_OK && p != NULL, "\"%s\": %s",
			    c->body, err.text);
		} else {
			CHECKF(rc == MTASTS_INVALID, "\"%s\" accepted",
			    c->body);
			CHECK(p == NULL);
			CHECK(err.code == MTASTS_INVALID);
			if (c->reason != NULL)
				CHECKF(strstr(err.text, c->reason) != NULL,
				    "reason \"%s\" lacks \"%s\"", err.text,
				    c->reason);
		}
		if (rc == MTASTS_OK)
			mtasts_policy_free(p);
	}
}

static void
test_getters(void)
{
	static const char body[] = "mx: MX1.Example.com \r\n"
	    "version: STSv1\nmode: testing\r\nmx: *.b.example\n"
	    "max_age: 0000000060\nmx: mx1.example.COM\nmode: enforce\n"
	    "ext: caf\xc3\xa9 x";
	struct mtasts_policy *p = NULL;
	const char *t;
	size_t len;

	CHECK(mtasts_policy_parse(body, sizeof(body) - 1, &p, NULL) ==
	    MTASTS_OK);
	if (p == NULL)
		return;
	CHECK(mtasts_policy_mode(p) == MTASTS_MODE_TESTING);
	CHECK(mtasts_policy_max_age(p) == 60);
	/* Lower-cased, duplicates (any case) dropped, order kept. */
	CHECK(mtasts_policy_mx_count(p) == 2);
	CHECK_STR(mtasts_policy_mx(p, 0), "mx1.example.com");
	CHECK_STR(mtasts_policy_mx(p, 1), "*.b.example");
	CHECK(mtasts_policy_mx(p, 2) == NULL);
	/* Raw lines, terminators stripped, trailing WSP kept. */
	CHECK(mtasts_policy_line_count(p) == 8);
	CHECK_STR(mtasts_policy_line(p, 0), "mx: MX1.Example.com ");
	CHECK_STR(mtasts_policy_line(p, 2), "mode: testing");
	CHECK_STR(mtasts_policy_line(p, 7), "ext: caf\xc3\xa9 x");
	CHECK(mtasts_policy_line(p, 8) == NULL);
	t = mtasts_policy_text(p, &len);
	CHECK(len == sizeof(body) - 1);
	CHECK(t != NULL && memcmp(t, body, len) == 0 && t[len] == '\0');
	mtasts_policy_free(p);

	CHECK(mtasts_policy_mode(NULL) == MTASTS_MODE_NONE);
	CHECK(mtasts_policy_mx_count(NULL) == 0);
	CHECK(mtasts_policy_line_count(NULL) == 0);
	CHECK(mtasts_policy_text(NULL, &len) == NULL && len == 0);
	mtasts_policy_free(NULL);

	CHECK_STR(mtasts_mode_name(MTASTS_MODE_NONE), "none");
	CHECK_STR(mtasts_mode_name(MTASTS_MODE_TESTING), "testing");
	CHECK_STR(mtasts_mode_name(MTASTS_MODE_ENFORCE), "enforce");
	CHECK_STR(mtasts_mode_name(3), "unknown");
	CHECK_STR(mtasts_mode_name(-1), "unknown");
}

static void
test_max_age(void)
{
	struct mtasts_policy *p = NULL;
	static const char b1[] = "version: STSv1\nmode: none\n"
	    "max_age: 31557600";
	static const char b2[] = "version: STSv1\nmode: none\nmax_age: 0";

	CHECK(mtasts_policy_parse(b1, sizeof(b1) - 1, &p, NULL) == MTASTS_OK);
	CHECK(mtasts_policy_max_age(p) == 31557600U);
	CHECK(mtasts_policy_mode(p) == MTASTS_MODE_NONE);
	CHECK(mtasts_policy_mx_count(p) == 0);
	mtasts_policy_free(p);
	p = NULL;
	CHECK(mtasts_policy_parse(b2, sizeof(b2) - 1, &p, NULL) == MTASTS_OK);
	CHECK(mtasts_policy_max_age(p) == 0);
	mtasts_policy_free(p);
}

/* Caps: body, line length, line count, mx count; NUL; (ptr, len). */
static void
test_caps(void)
{
	struct mtasts_policy *p = NULL;
	struct mtasts_error err;
	char *buf;
	size_t n, i, cap = MTASTS_POLICY_BODY_MAX + 64;

	if ((buf = malloc(cap)) == NULL) {
		CHECK(0);
		return;
	}
	/* Body of exactly 64 KiB is fine; one byte more is not. */
	n = (size_t)snprintf(buf, cap, HDR "mx: a.example\nx: ");
	memset(buf + n, 'a', cap - n);
	for (i = n + 1000; i < MTASTS_POLICY_BODY_MAX; i += 1001)
		memcpy(buf + i - 4, "\nx: ", 4);
	memset(&err, 0, sizeof(err));
	CHECKF(mtasts_policy_parse(buf, MTASTS_POLICY_BODY_MAX, &p, &err) ==
	    MTASTS_OK, "%s", err.text);
	mtasts_policy_free(p);
	p = NULL;
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_policy_parse(buf, MTASTS_POLICY_BODY_MAX + 1, &p, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "too large (65537 bytes") != NULL);
	CHECK(p == NULL);

	/* Line of exactly MTASTS_POLICY_LINE_MAX bytes, then one more. */
	n = (size_t)snprintf(buf, cap, HDR "mx: a.example\nx: ");
	memset(buf + n, 'b', MTASTS_POLICY_LINE_MAX - 3);
	n += MTASTS_POLICY_LINE_MAX - 3;
	CHECK(mtasts_policy_parse(buf, n, &p, NULL) == MTASTS_OK);
	mtasts_policy_free(p);
	p = NULL;
	buf[n] = 'b';
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_policy_parse(buf, n + 1, &p, &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "line 5: longer than") != NULL);

	/* MTASTS_POLICY_MX_MAX mx lines, then one more. */
	n = (size_t)snprintf(buf, cap, HDR);
	for (i = 0; i < MTASTS_POLICY_MX_MAX; i++)
		n += (size_t)snprintf(buf + n, cap - n, "mx: m%zu.example\n",
		    i);
	CHECK(mtasts_policy_parse(buf, n, &p, NULL) == MTASTS_OK);
	CHECK(mtasts_policy_mx_count(p) == MTASTS_POLICY_MX_MAX);
	mtasts_policy_free(p);
	p = NULL;
	n += (size_t)snprintf(buf + n, cap - n, "mx: m0.example\n");
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_policy_parse(buf, n, &p, &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "more than 256 mx") != NULL);

	/* MTASTS_POLICY_LINES_MAX lines, then one more. */
	n = (size_t)snprintf(buf, cap, HDR "mx: a.example\n");
	for (i = 4; i < MTASTS_POLICY_LINES_MAX; i++)
		n += (size_t)snprintf(buf + n, cap - n, "x: 1\n");
	CHECK(mtasts_policy_parse(buf, n, &p, NULL) == MTASTS_OK);
	CHECK(mtasts_policy_line_count(p) == MTASTS_POLICY_LINES_MAX);
	mtasts_policy_free(p);
	p = NULL;
	n += (size_t)snprintf(buf + n, cap - n, "x: 1\n");
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_policy_parse(buf, n, &p, &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "more than 4096 lines") != NULL);

	/* NUL anywhere, even in an extension value. */
	n = (size_t)snprintf(buf, cap, HDR "mx: a.example\nx: a");
	buf[n - 1] = '\0';
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_policy_parse(buf, n, &p, &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "NUL byte") != NULL);

	/* (ptr, len): bytes after len are not part of the policy. */
	n = (size_t)snprintf(buf, cap, HDR "mx: a.example\n\n\ngarbage");
	CHECK(mtasts_policy_parse(buf, n - 9, &p, NULL) == MTASTS_OK);
	mtasts_policy_free(p);
	p = (struct mtasts_policy *)buf;
	CHECK(mtasts_policy_parse(NULL, 0, &p, NULL) == MTASTS_INVALID);
	CHECK(p == NULL);
	CHECK(mtasts_policy_parse("", 0, &p, NULL) == MTASTS_INVALID);
	free(buf);
}

int
main(void)
{
	test_table();
	test_getters();
	test_max_age();
	test_caps();
	return T_DONE();
}
