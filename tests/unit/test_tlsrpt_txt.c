/* SPDX-License-Identifier: ISC */
/*
 * test_tlsrpt_txt - the `_smtp._tls` TXT parser (RFC 8460 §3): the shared
 * vectors (MTASTS_VECTORS_DIR/tlsrpt_txt.json, read at run time) and a
 * table of edge cases, plus the mailto:/https: URI helpers.
 *
 * A vector's expectation is `rfc_8460_valid` when present, else `valid`
 * (as tests/vectors/test_vectors.c does with `rfc_8461_valid`); a case
 * may deviate only when tests/vectors/deviations.txt lists it under the
 * kind `tlsrpt_txt`.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mtasts.h"
#include "internal/tlsrpt_txt.h"
#include "t.h"

struct tcase {
	const char *rec;
	int valid;
	size_t nrua;
	const char *rua0;
	const char *reason;	/* substring of the reason when invalid */
};

static const struct tcase cases[] = {
	{ "v=TLSRPTv1;rua=mailto:a@example.com", 1, 1, "mailto:a@example.com",
	    NULL },
	{ "v=TLSRPTv1 ; rua=mailto:a@example.com ; ", 1, 1, NULL, NULL },
	{ "v=TLSRPTv1;rua=mailto:a@example.com;", 1, 1, NULL, NULL },
	{ "v=TLSRPTv1;\trua=https://r.example/x\t,\tmailto:b@example.org", 1,
	    2, "https://r.example/x", NULL },
	/* Unknown fields are ignored (§3), before and after rua. */
	{ "v=TLSRPTv1; ext=1; rua=mailto:a@example.com; x.y_z-1=!\"#", 1, 1,
	    NULL, NULL },
	/* An unusable scheme beside a usable one: the usable one is kept. */
	{ "v=TLSRPTv1; rua=ftp://r.example/x,mailto:a@example.com", 1, 1,
	    "mailto:a@example.com", NULL },
	/* D-RPT-2: the first rua counts, a later valid one is ignored. */
	{ "v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com",
	    1, 1, "mailto:a@example.com", NULL },
	{ "v=TLSRPTv1; rua=mailto:a@example.com; rua=", 0, 0, NULL,
	    "empty rua URI" },
	/* Encoded comma: one address list, which we do not deliver to. */
	{ "v=TLSRPTv1; rua=mailto:a@example.com%2Cb@example.com", 0, 0, NULL,
	    "no mailto: or https:" },
	{ "v=TLSRPTv1; rua=mailto:a%40example.com", 1, 1, NULL, NULL },
	{ "v=TLSRPTv1; rua=mailto:rep%2Bx@example.com", 1, 1, NULL, NULL },
	{ "v=TLSRPTv1; rua=mailto:a@example.com!x", 0, 0, NULL,
	    "invalid rua URI" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com,", 0, 0, NULL,
	    "empty rua URI" },
	{ "v=TLSRPTv1; rua=,mailto:a@example.com", 0, 0, NULL,
	    "empty rua URI" },
	{ "v=TLSRPTv1; rua=mailto:a@ex%ample.com", 0, 0, NULL,
	    "invalid rua URI" },
	{ "v=TLSRPTv1; rua=a@example.com", 0, 0, NULL, "invalid rua URI" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com x", 0, 0, NULL,
	    "expected ';'" },
	{ "v=TLSRPTv1; RUA=mailto:a@example.com", 0, 0, NULL, "no rua" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com; x=a=b", 0, 0, NULL,
	    "'=' in value" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com; x", 0, 0, NULL,
	    "has no '='" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com; -x=1", 0, 0, NULL,
	    "invalid field name" },
	{ "v=TLSRPTv1;; rua=mailto:a@example.com", 0, 0, NULL,
	    "empty field" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com ", 0, 0, NULL,
	    "trailing whitespace" },
	{ "v=TLSRPTv1", 0, 0, NULL, "no rua" },
	{ "v=tlsrptv1; rua=mailto:a@example.com", 0, 0, NULL,
	    "does not begin" },
	{ "v=TLSRPTv1; rua=mailto:a@example.com\r", 0, 0, NULL,
	    "control byte 0x0d" },
	{ "v=TLSRPTv1; rua=https://user@r.example/", 0, 0, NULL,
	    "no mailto:" },
	{ "v=TLSRPTv1; rua=https://[2001:db8::1]:8443/r?x=1", 1, 1, NULL,
	    NULL },
	{ "v=TLSRPTv1; rua=https://r.example:0/", 0, 0, NULL, "no mailto:" },
	{ "v=TLSRPTv1; rua=https:///x", 0, 0, NULL, "no mailto:" },
	/* Header injection through a decoded CR LF is refused. */
	{ "v=TLSRPTv1; rua=mailto:a@example.com%0D%0ABcc:x@evil.example", 0,
	    0, NULL, "no mailto:" },
};

static const char *
str(const char *s)
{
	return s;
}

static void
table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct mtasts_tlsrpt_txt t;
		struct mtasts_error err;
		int rc;

		memset(&err, 0, sizeof(err));
		rc = mtasts_tlsrpt_txt_parse(c->rec, strlen(c->rec), &t, &err);
		CHECKF((rc == MTASTS_OK) == c->valid,
		    "case %zu \"%s\": %s (%s)", i, c->rec,
		    mtasts_strerror(rc), err.text);
		if (rc == MTASTS_OK && c->valid) {
			CHECKF(t.nrua == c->nrua, "case %zu: %zu rua", i,
			    t.nrua);
			if (c->rua0 != NULL)
				CHECK_STR(str(t.rua[0]), c->rua0);
		} else if (rc != MTASTS_OK) {
			CHECK(t.nrua == 0);
			CHECKF(c->reason == NULL ||
			    strstr(err.text, c->reason) != NULL,
			    "case %zu: reason \"%s\", want \"%s\"", i,
			    err.text, c->reason ? c->reason : "");
		}
	}
}

static void
helpers(void)
{
	char a[256], host[256], path[256];
	unsigned port;
	struct mtasts_tlsrpt_txt t;
	const char *recs[3];
	size_t lens[3], i;
	struct mtasts_error err;
	const char nul[] = "v=TLSRPTv1; rua=mailto:a@example.com\0x";

	CHECK(mtasts_tlsrpt_mailto_addr("mailto:Rep.x@Example.COM?subject=x",
	    34, a, sizeof(a)) == 0);
	CHECK_STR(str(a), "Rep.x@Example.COM");
	CHECK(mtasts_tlsrpt_mailto_addr("MAILTO:a%2eb@x.example", 22, a,
	    sizeof(a)) == 0);
	CHECK_STR(str(a), "a.b@x.example");
	CHECK(mtasts_tlsrpt_mailto_addr("mailto:a..b@x.example", 21, a,
	    sizeof(a)) == -1);
	CHECK(a[0] == '\0');
	CHECK(mtasts_tlsrpt_mailto_addr("mailto:.a@x.example", 19, a,
	    sizeof(a)) == -1);
	CHECK(mtasts_tlsrpt_mailto_addr("mailto:\"a b\"@x.example", 22, a,
	    sizeof(a)) == -1);
	CHECK(mtasts_tlsrpt_mailto_addr("mailto:a@x.example", 18, a, 5) ==
	    -1);
	CHECK(mtasts_tlsrpt_https_split("https://R.example:8443/a/b?c=d#f",
	    32, host, sizeof(host), &port, path, sizeof(path)) == 0);
	CHECK_STR(str(host), "R.example");
	CHECK(port == 8443);
	CHECK_STR(str(path), "/a/b?c=d");
	CHECK(mtasts_tlsrpt_https_split("https://r.example", 17, host,
	    sizeof(host), &port, path, sizeof(path)) == 0);
	CHECK(port == 443);
	CHECK_STR(str(path), "/");
	CHECK(mtasts_tlsrpt_https_split("https://r.example?q", 19, host,
	    sizeof(host), &port, path, sizeof(path)) == 0);
	CHECK_STR(str(path), "/?q");
	CHECK(mtasts_tlsrpt_https_split("https://[::1]/x", 15, host,
	    sizeof(host), &port, path, sizeof(path)) == 0);
	CHECK_STR(str(host), "::1");
	CHECK(mtasts_tlsrpt_https_split("http://r.example/", 17, host,
	    sizeof(host), &port, path, sizeof(path)) == -1);
	CHECK(mtasts_tlsrpt_https_split("https://r.example:70000/", 24, host,
	    sizeof(host), &port, path, sizeof(path)) == -1);
	CHECK(host[0] == '\0' && port == 0);

	/* NUL bytes inside (ptr, len) are rejected. */
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_tlsrpt_txt_parse(nul, sizeof(nul) - 1, &t, &err) ==
	    MTASTS_INVALID);
	CHECK(strstr(err.text, "NUL") != NULL);

	/* Selection: discard rule, WSP before ';', several records. */
	recs[0] = "v=TLSRPTv10; rua=mailto:x@example.com";
	recs[1] = "v=TLSRPTv1 ; rua=mailto:y@example.com";
	recs[2] = "v=TLSRPTv1";
	for (i = 0; i < 3; i++)
		lens[i] = strlen(recs[i]);
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_tlsrpt_txt_select(recs, lens, 3, &t, &err) ==
	    MTASTS_OK);
	CHECK_STR(str(t.rua[0]), "mailto:y@example.com");
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_tlsrpt_txt_select(recs, lens, 1, &t, &err) ==
	    MTASTS_NOTFOUND);
	CHECK(mtasts_tlsrpt_txt_select(NULL, NULL, 0, &t, NULL) ==
	    MTASTS_NOTFOUND);
	recs[0] = recs[1];
	lens[0] = lens[1];
	CHECK(mtasts_tlsrpt_txt_select(recs, lens, 2, &t, NULL) ==
	    MTASTS_INVALID);
	CHECK(t.nrua == 0);
}

static int
listed(const char *name)
{
	char line[1024], path[2048];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "%s/tests/vectors/deviations.txt",
	    MTASTS_SOURCE_DIR);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(name);

		if (strncmp(line, "tlsrpt_txt ", 11) == 0 &&
		    strncmp(line + 11, name, n) == 0 && line[11 + n] == ' ')
			found = 1;
	}
	fclose(f);
	return found;
}

static void
vectors(void)
{
	char path[2048];
	json_error_t jerr;
	json_t *root, *c;
	size_t i, ncases = 0;

	snprintf(path, sizeof(path), "%s/tlsrpt_txt.json",
	    MTASTS_VECTORS_DIR);
	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		CHECKF(0, "cannot load %s: %s", path, jerr.text);
		return;
	}
	json_array_foreach(root, i, c) {
		json_t *rrs = json_object_get(c, "records"), *rr, *s, *e;
		json_t *want_rua = json_object_get(c, "rua");
		const char *name = json_string_value(json_object_get(c,
		    "name"));
		char *recs[MTASTS_TXT_RECORDS_MAX];
		size_t lens[MTASTS_TXT_RECORDS_MAX], n = 0, j, k;
		struct mtasts_tlsrpt_txt t;
		struct mtasts_error err;
		int want, rc, ok;

		if (name == NULL)
			name = "(unnamed)";
		e = json_object_get(c, "rfc_8460_valid");
		want = json_is_true(e != NULL ? e :
		    json_object_get(c, "valid"));
		if (json_array_size(rrs) > MTASTS_TXT_RECORDS_MAX) {
			CHECKF(0, "%s: too many records", name);
			continue;
		}
		/* §3: the strings of one record concatenated, no spaces. */
		json_array_foreach(rrs, j, rr) {
			size_t len = 0;

			json_array_foreach(rr, k, s)
				len += json_string_length(s);
			if ((recs[n] = malloc(len + 1)) == NULL)
				break;
			len = 0;
			json_array_foreach(rr, k, s) {
				memcpy(recs[n] + len, json_string_value(s),
				    json_string_length(s));
				len += json_string_length(s);
			}
			recs[n][len] = '\0';
			lens[n++] = len;
		}
		memset(&err, 0, sizeof(err));
		rc = mtasts_tlsrpt_txt_select((const char *const *)recs, lens,
		    n, &t, &err);
		ok = (rc == MTASTS_OK) == want;
		if (ok && rc == MTASTS_OK) {
			/* The usable URIs, in order, are exactly rua[]. */
			ok = json_array_size(want_rua) == t.nrua;
			for (j = 0; ok && j < t.nrua; j++) {
				const char *w = json_string_value(
				    json_array_get(want_rua, j));

				ok = w != NULL && strcmp(t.rua[j], w) == 0;
			}
		}
		if (listed(name))
			CHECKF(!ok, "%s: listed as deviation but passes",
			    name);
		else
			CHECKF(ok, "vector %s: want %s, got %s (%s), %zu rua",
			    name, want ? "valid" : "invalid",
			    mtasts_strerror(rc), err.text, t.nrua);
		for (j = 0; j < n; j++)
			free(recs[j]);
		ncases++;
	}
	json_decref(root);
	CHECKF(ncases > 0, "no vectors in %s", path);
	printf("tlsrpt_txt vectors: %zu cases\n", ncases);
}

int
main(void)
{
	table();
	helpers();
	vectors();
	return T_DONE();
}
