/* SPDX-License-Identifier: ISC */
/*
 * test_txt - mtasts_txt_parse() and mtasts_txt_select() edge cases beyond
 * the shared vectors (docs/decisions.md D-TXT-*).
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/base.h"
#include "t.h"

/* A char array as a pointer, for CHECK_STR (-Waddress). */
static const char *
str(const char *s)
{
	return s;
}

struct tcase {
	const char *rec;
	const char *id;		/* NULL: invalid */
	const char *reason;	/* substring of the reason, or NULL */
};

static const struct tcase cases[] = {
	{ "v=STSv1; id=abc", "abc", NULL },
	{ "v=STSv1;id=abc;", "abc", NULL },
	{ "v=STSv1 ;id=abc ; ", "abc", NULL },
	{ "v=STSv1\t;\tid=abc\t;\t", "abc", NULL },
	{ "v=STSv1; ext=1; id=Z9", "Z9", NULL },
	{ "v=STSv1; id=abc; id=x-y", "abc", NULL },
	{ "v=STSv1; a.b_c-d=!\"#$%&'()*+,-./:<>?@[\\]^_`{|}~; id=q", "q",
	    NULL },
	{ "v=STSv1; abcdefghijklmnopqrstuvwxyz012345=1; id=a", "a", NULL },
	{ "v=STSv1; id=abc; id=", NULL, "empty value" },
	{ "v=STSv1; id=x-y; id=abc", NULL, "invalid id \"x-y\" at offset 12" },
	{ "v=STSv1; id=bad-value", NULL,
	    "invalid id \"bad-value\" at offset 12" },
	{ "v=STSv1; id=", NULL, "invalid id" },
	{ "v=STSv1; id=abc;;", NULL, "empty field at offset 16" },
	{ "v=STSv1;; id=abc", NULL, "empty field" },
	{ "v=STSv1; id=abc ", NULL, "trailing whitespace" },
	{ "v=STSv1 ", NULL, "trailing whitespace" },
	{ "v=STSv1", NULL, "no fields" },
	{ "v=STSv1;", NULL, "no fields" },
	{ "v=STSv1; ext=1", NULL, "missing id" },
	{ "v=STSv1; ID=abc", NULL, "missing id" },
	{ "V=STSv1; id=abc", NULL, "does not begin" },
	{ "v=STSv1x; id=abc", NULL, "expected ';' at offset 7" },
	{ " v=STSv1; id=abc", NULL, "does not begin" },
	{ "", NULL, "does not begin" },
	{ "v=STSv1; id=abc; ext", NULL, "has no '='" },
	{ "v=STSv1; id=abc; =x", NULL, "invalid field name" },
	{ "v=STSv1; id=abc; -x=1", NULL, "invalid field name" },
	{ "v=STSv1; id=abc; x!=1", NULL, "invalid field name" },
	{ "v=STSv1; id=abc; abcdefghijklmnopqrstuvwxyz0123456=1", NULL,
	    "longer than 32" },
	{ "v=STSv1; id=abc; x=a=b", NULL, "invalid character '='" },
	{ "v=STSv1; id=abc; x=a b", NULL, "expected ';'" },
	{ "v=STSv1; id=abc\r", NULL, "control byte 0x0d at offset 15" },
	{ "v=STSv1; id=abc\x7f", NULL, "control byte 0x7f" },
	{ "v=STSv1; id=abc; x=\xc3\xa9", NULL, "non-ASCII byte 0xc3" },
	{ NULL, NULL, NULL }
};

static void
test_table(void)
{
	const struct tcase *c;

	for (c = cases; c->rec != NULL; c++) {
		struct mtasts_error err;
		char id[MTASTS_ID_MAX + 1];
		int rc;

		memset(&err, 0, sizeof(err));
		memset(id, 'X', sizeof(id));
		rc = mtasts_txt_parse(c->rec, strlen(c->rec), id, &err);
		if (c->id != NULL) {
			CHECKF(rc == MTASTS_OK, "\"%s\": %s", c->rec, err.text);
			CHECK_STR(str(id), c->id);
		} else {
			CHECKF(rc == MTASTS_INVALID, "\"%s\" accepted",
			    c->rec);
			CHECKF(id[0] == '\0', "\"%s\": id not cleared", c->rec);
			CHECK(err.code == MTASTS_INVALID);
			if (c->reason != NULL)
				CHECKF(strstr(err.text, c->reason) != NULL,
				    "\"%s\": reason \"%s\" lacks \"%s\"",
				    c->rec, err.text, c->reason);
		}
	}
}

static void
test_lengths(void)
{
	char rec[MTASTS_TXT_MAX + 16], id[MTASTS_ID_MAX + 1];
	struct mtasts_error err;
	size_t n;

	/* id of exactly 32 and 33 characters. */
	n = (size_t)snprintf(rec, sizeof(rec), "v=STSv1; id=%s",
	    "0123456789abcdefghijABCDEFGHIJkl");
	CHECK(mtasts_txt_parse(rec, n, id, NULL) == MTASTS_OK);
	CHECK(strlen(id) == 32);
	n = (size_t)snprintf(rec, sizeof(rec), "v=STSv1; id=%s",
	    "0123456789abcdefghijABCDEFGHIJklm");
	CHECK(mtasts_txt_parse(rec, n, id, NULL) == MTASTS_INVALID);

	/* The length is (ptr, len): bytes after len are never read. */
	CHECK(mtasts_txt_parse("v=STSv1; id=abc; junk", 15, id, NULL) ==
	    MTASTS_OK);
	CHECK_STR(str(id), "abc");

	/* NUL inside the record. */
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_txt_parse("v=STSv1; id=a\0b", 15, id, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "NUL byte at offset 13") != NULL);

	/* Cap: exactly MTASTS_TXT_MAX is parsed, one more is refused. */
	memset(rec, 'a', sizeof(rec));
	memcpy(rec, "v=STSv1; id=abc; x=", 19);
	CHECK(mtasts_txt_parse(rec, MTASTS_TXT_MAX, id, NULL) == MTASTS_OK);
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_txt_parse(rec, MTASTS_TXT_MAX + 1, id, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "too long") != NULL);

	CHECK(mtasts_txt_parse(NULL, 0, id, NULL) == MTASTS_INVALID);
}

static int
sel(const char *a, const char *b, const char *c, char *id,
    struct mtasts_error *err)
{
	const char *recs[3] = { a, b, c };
	size_t lens[3], n = 0;

	while (n < 3 && recs[n] != NULL) {
		lens[n] = strlen(recs[n]);
		n++;
	}
	memset(err, 0, sizeof(*err));
	return mtasts_txt_select(recs, lens, n, id, err);
}

static void
test_select(void)
{
	struct mtasts_error err;
	char id[MTASTS_ID_MAX + 1];
	const char *many[MTASTS_TXT_RECORDS_MAX + 1];
	size_t lens[MTASTS_TXT_RECORDS_MAX + 1], i;

	CHECK(sel(NULL, NULL, NULL, id, &err) == MTASTS_NOTFOUND);
	CHECK(err.code == MTASTS_NOTFOUND);
	CHECK(mtasts_txt_select(NULL, NULL, 0, id, NULL) == MTASTS_NOTFOUND);
	CHECK(sel("v=spf1 -all", "verification=x", NULL, id, &err) ==
	    MTASTS_NOTFOUND);
	CHECK(sel("v=spf1 -all", "v=STSv1; id=good", "x", id, &err) ==
	    MTASTS_OK);
	CHECK_STR(str(id), "good");
	/* Discarded: not "v=STSv1" *WSP ";" (D-TXT-2). */
	CHECK(sel("v=STSv10; id=a", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_OK);
	CHECK(sel("v=STSv1.1; id=a", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_OK);
	CHECK(sel("v=stsv1; id=a", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_OK);
	CHECK(sel("v=STSv1", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_OK);
	CHECK(sel("v=STSv1 id=a", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_OK);
	CHECK_STR(str(id), "good");
	/* Counted: WSP before ';' (erratum 6285). */
	CHECK(sel("v=STSv1 ; id=a", "v=STSv1; id=good", NULL, id, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "2 STS records") != NULL);
	CHECK(id[0] == '\0');
	CHECK(sel("v=STSv1;id=a", "v=STSv1;id=a", "v=STSv1;id=a", id, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "3 STS records") != NULL);
	/* One STS record that is broken: invalid, not "not found". */
	CHECK(sel("v=STSv1; bogus", "other", NULL, id, &err) ==
	    MTASTS_INVALID);
	CHECK(sel("v=STSv1; id=a b", NULL, NULL, id, &err) == MTASTS_INVALID);

	for (i = 0; i <= MTASTS_TXT_RECORDS_MAX; i++) {
		many[i] = "x";
		lens[i] = 1;
	}
	CHECK(mtasts_txt_select(many, lens, MTASTS_TXT_RECORDS_MAX, id,
	    NULL) == MTASTS_NOTFOUND);
	CHECK(mtasts_txt_select(many, lens, MTASTS_TXT_RECORDS_MAX + 1, id,
	    NULL) == MTASTS_INVALID);
}

int
main(void)
{
	test_table();
	test_lengths();
	test_select();
	return T_DONE();
}
