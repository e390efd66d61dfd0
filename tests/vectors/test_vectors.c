/* SPDX-License-Identifier: ISC */
/*
 * test_vectors - data-driven tests from the shared peer/RFC vectors.
 *
 * Usage: test_vectors policies|txt|mx_match VECTORS_DIR DEVIATIONS_FILE
 *
 * Reads VECTORS_DIR/<kind>.json at run time. Each case is expected to give
 * `rfc_8461_valid` when present (null, the ambiguous IP-literal cases,
 * counts as false: we reject them), else `valid`. A mismatch fails unless
 * the case is listed in DEVIATIONS_FILE as `<kind> <case-name> <reason>`;
 * a listed case that no longer deviates fails too, so the list stays true.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mtasts.h"

#define NAME_MAX_LEN 512
#define DEV_MAX 256

static int npass, nfail, ndev, nskip;
static char *devs[DEV_MAX];
static size_t ndevs;

static int
load_deviations(const char *path, const char *kind)
{
	char line[1024];
	FILE *f;
	size_t klen = strlen(kind);

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "test_vectors: cannot open deviations file "
		    "%s\n", path);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name, *end;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (strncmp(line, kind, klen) != 0 || line[klen] != ' ')
			continue;
		name = line + klen + 1;
		for (end = name; *end != '\0' && *end != ' ' && *end != '\n';
		    end++)
			;
		if (*end != ' ') {
			fprintf(stderr, "test_vectors: %s: deviation without "
			    "a reason: %s", path, line);
			fclose(f);
			return -1;
		}
		*end = '\0';
		if (ndevs == DEV_MAX || (devs[ndevs] = strdup(name)) == NULL) {
			fclose(f);
			return -1;
		}
		ndevs++;
	}
	fclose(f);
	return 0;
}

static int
is_deviation(const char *name)
{
	size_t i;

	for (i = 0; i < ndevs; i++)
		if (strcmp(devs[i], name) == 0)
			return 1;
	return 0;
}

/* Record the outcome of one case; why is printed on mismatch. */
static void
outcome(const char *kind, const char *name, int ok, const char *why)
{
	int dev = is_deviation(name);

	if (ok && !dev) {
		npass++;
	} else if (ok && dev) {
		nfail++;
		printf("FAIL %s %s: listed in deviations but passes\n", kind,
		    name);
	} else if (dev) {
		ndev++;
		printf("DEVIATION %s %s: %s\n", kind, name, why);
	} else {
		nfail++;
		printf("FAIL %s %s: %s\n", kind, name, why);
	}
}

/* `rfc_8461_valid` when present (null = false), else `valid`. */
static int
expected_valid(json_t *c)
{
	json_t *r = json_object_get(c, "rfc_8461_valid");

	if (r != NULL)
		return json_is_true(r);
	return json_is_true(json_object_get(c, "valid"));
}

static const char *
jstr(json_t *c, const char *key)
{
	const char *s = json_string_value(json_object_get(c, key));

	return s != NULL ? s : "";
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The policy body of a case: text, text_hex or generate. malloc'd. */
static char *
case_body(json_t *c, size_t *len)
{
	json_t *t, *g;
	char *buf = NULL;

	*len = 0;
	if ((t = json_object_get(c, "text_hex")) != NULL &&
	    json_is_string(t)) {
		const char *h = json_string_value(t);
		size_t i, n = strlen(h);

		if (n % 2 != 0 || (buf = malloc(n / 2 + 1)) == NULL)
			return NULL;
		for (i = 0; i < n / 2; i++) {
			int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);

			if (hi < 0 || lo < 0) {
				free(buf);
				return NULL;
			}
			buf[i] = (char)(hi * 16 + lo);
		}
		*len = n / 2;
		return buf;
	}
	if ((g = json_object_get(c, "generate")) != NULL &&
	    json_is_object(g)) {
		const char *pre = jstr(g, "prefix"), *ch = jstr(g,
		    "repeat_char"), *suf = jstr(g, "suffix");
		json_int_t cnt = json_integer_value(json_object_get(g,
		    "repeat_count"));
		size_t plen = strlen(pre), clen = strlen(ch), slen =
		    strlen(suf), i, n;

		if (cnt < 0 || cnt > 100000000 || clen == 0)
			return NULL;
		n = plen + clen * (size_t)cnt + slen;
		if ((buf = malloc(n + 1)) == NULL)
			return NULL;
		memcpy(buf, pre, plen);
		for (i = 0; i < (size_t)cnt; i++)
			memcpy(buf + plen + i * clen, ch, clen);
		memcpy(buf + n - slen, suf, slen);
		*len = n;
		return buf;
	}
	if ((t = json_object_get(c, "text")) != NULL && json_is_string(t)) {
		*len = json_string_length(t);
		if ((buf = malloc(*len + 1)) == NULL)
			return NULL;
		memcpy(buf, json_string_value(t), *len);
		return buf;
	}
	return NULL;
}

static int
streq_ci(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
	return *a == *b;
}

static void
run_policy(json_t *c)
{
	const char *name = jstr(c, "name");
	struct mtasts_error err;
	struct mtasts_policy *p = NULL;
	char why[512];
	char *body;
	size_t len, i;
	int want = expected_valid(c), rc, ok = 1;

	memset(&err, 0, sizeof(err));
	if ((body = case_body(c, &len)) == NULL) {
		outcome("policies", name, 0, "cannot build body from vector");
		return;
	}
	rc = mtasts_policy_parse(body, len, &p, &err);
	free(body);
	if ((rc == MTASTS_OK) != want) {
		snprintf(why, sizeof(why), "expected %s, got %s (%s)",
		    want ? "valid" : "invalid", mtasts_strerror(rc), err.text);
		outcome("policies", name, 0, why);
		goto done;
	}
	if (rc == MTASTS_OK) {
		json_t *mx = json_object_get(c, "mx");
		json_int_t age = json_integer_value(json_object_get(c,
		    "max_age"));
		size_t nmx = json_is_array(mx) ? json_array_size(mx) : 0;

		why[0] = '\0';
		if (strcmp(mtasts_mode_name(mtasts_policy_mode(p)),
		    jstr(c, "mode")) != 0) {
			snprintf(why, sizeof(why), "mode %s, expected %s",
			    mtasts_mode_name(mtasts_policy_mode(p)),
			    jstr(c, "mode"));
			ok = 0;
		} else if ((json_int_t)mtasts_policy_max_age(p) != age) {
			snprintf(why, sizeof(why), "max_age %u, expected %lld",
			    mtasts_policy_max_age(p), (long long)age);
			ok = 0;
		} else if (mtasts_policy_mx_count(p) != nmx) {
			snprintf(why, sizeof(why), "%zu mx, expected %zu",
			    mtasts_policy_mx_count(p), nmx);
			ok = 0;
		}
		for (i = 0; ok && i < nmx; i++) {
			const char *e = json_string_value(json_array_get(mx,
			    i));

			if (e == NULL || !streq_ci(mtasts_policy_mx(p, i), e)) {
				snprintf(why, sizeof(why),
				    "mx[%zu] \"%s\", expected \"%s\"", i,
				    mtasts_policy_mx(p, i), e ? e : "(null)");
				ok = 0;
			}
		}
		outcome("policies", name, ok, why);
		goto done;
	}
	outcome("policies", name, 1, "");
done:
	mtasts_policy_free(p);
}

static void
run_txt(json_t *c)
{
	const char *name = jstr(c, "name");
	json_t *rrs = json_object_get(c, "records"), *rr, *s;
	struct mtasts_error err;
	char id[MTASTS_ID_MAX + 1], why[512];
	char *recs[64];
	size_t lens[64], nrecs = 0, i, j;
	int want = expected_valid(c), rc;

	memset(&err, 0, sizeof(err));
	if (!json_is_array(rrs) || json_array_size(rrs) > 64) {
		outcome("txt", name, 0, "bad records in vector");
		return;
	}
	if (json_object_get(c, "rcode") != NULL &&
	    json_array_size(rrs) == 0) {
		/* DNS-level case: the lookup layer owns rcode semantics. */
		rc = mtasts_txt_select(NULL, NULL, 0, id, &err);
		nskip++;
		if (rc != MTASTS_NOTFOUND) {
			snprintf(why, sizeof(why), "empty RRset gave %s",
			    mtasts_strerror(rc));
			outcome("txt", name, 0, why);
		}
		return;
	}
	json_array_foreach(rrs, i, rr) {
		size_t n = 0;

		json_array_foreach(rr, j, s)
			n += json_string_length(s);
		if ((recs[nrecs] = malloc(n + 1)) == NULL)
			goto done;
		/* §3.1: concatenate the strings without separators. */
		n = 0;
		json_array_foreach(rr, j, s) {
			memcpy(recs[nrecs] + n, json_string_value(s),
			    json_string_length(s));
			n += json_string_length(s);
		}
		recs[nrecs][n] = '\0';
		lens[nrecs++] = n;
	}
	rc = mtasts_txt_select((const char *const *)recs, lens, nrecs, id,
	    &err);
	if ((rc == MTASTS_OK) != want) {
		snprintf(why, sizeof(why), "expected %s, got %s (%s)",
		    want ? "valid" : "invalid", mtasts_strerror(rc), err.text);
		outcome("txt", name, 0, why);
	} else if (rc == MTASTS_OK && strcmp(id, jstr(c, "id")) != 0) {
		snprintf(why, sizeof(why), "id \"%s\", expected \"%s\"", id,
		    jstr(c, "id"));
		outcome("txt", name, 0, why);
	} else
		outcome("txt", name, 1, "");
done:
	for (i = 0; i < nrecs; i++)
		free(recs[i]);
}

/* Case name "<pattern>~<host>", with WSP, CTL and '%' %-encoded. */
static void
mx_name(const char *pat, const char *host, char *out, size_t size)
{
	const char *parts[2] = { pat, host };
	size_t o = 0, k;

	for (k = 0; k < 2; k++) {
		const unsigned char *s = (const unsigned char *)parts[k];

		if (k == 1 && o + 1 < size)
			out[o++] = '~';
		for (; *s != '\0' && o + 4 < size; s++) {
			if (*s <= 0x20 || *s == 0x7f || *s == '%')
				o += (size_t)snprintf(out + o, size - o,
				    "%%%02X", *s);
			else
				out[o++] = (char)*s;
		}
	}
	out[o] = '\0';
}

static void
run_mx(json_t *c)
{
	const char *pat = jstr(c, "pattern"), *host = jstr(c, "host");
	char name[NAME_MAX_LEN], norm[MTASTS_DOMAIN_MAX + 1], why[512];
	const unsigned char *u;
	struct mtasts_error err;
	int want = json_is_true(json_object_get(c, "match")), got;

	memset(&err, 0, sizeof(err));
	mx_name(pat, host, name, sizeof(name));
	/* The MX name from DNS may be given as U-labels: A-labels first. */
	for (u = (const unsigned char *)host; *u != '\0' && *u < 0x80; u++)
		;
	if (*u != '\0') {
		if (mtasts_domain_normalize(host, strlen(host), norm, &err) !=
		    MTASTS_OK)
			norm[0] = '\0';
		host = norm;
	}
	got = mtasts_mx_match(pat, strlen(pat), host, strlen(host));
	snprintf(why, sizeof(why), "expected %s, got %s (host as matched "
	    "\"%s\"%s%s)", want ? "match" : "no match", got ? "match" :
	    "no match", host, err.text[0] ? ": " : "", err.text);
	outcome("mx_match", name, got == want, why);
}

int
main(int argc, char **argv)
{
	char path[4096];
	json_error_t jerr;
	json_t *root, *c;
	size_t i;

	if (argc != 4 || (strcmp(argv[1], "policies") != 0 &&
	    strcmp(argv[1], "txt") != 0 && strcmp(argv[1], "mx_match") !=
	    0)) {
		fprintf(stderr, "usage: test_vectors policies|txt|mx_match "
		    "VECTORS_DIR DEVIATIONS_FILE\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/%s.json", argv[2], argv[1]);
	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		fprintf(stderr, "test_vectors: cannot load vectors %s: %s "
		    "(is the shared vectors folder missing?)\n", path,
		    jerr.text);
		return 2;
	}
	if (!json_is_array(root) || json_array_size(root) == 0) {
		fprintf(stderr, "test_vectors: %s: not a non-empty array\n",
		    path);
		json_decref(root);
		return 2;
	}
	if (load_deviations(argv[3], argv[1]) != 0) {
		json_decref(root);
		return 2;
	}
	json_array_foreach(root, i, c) {
		if (strcmp(argv[1], "policies") == 0)
			run_policy(c);
		else if (strcmp(argv[1], "txt") == 0)
			run_txt(c);
		else
			run_mx(c);
	}
	json_decref(root);
	for (i = 0; i < ndevs; i++)
		free(devs[i]);
	printf("%s: %d deviations (listed), %d skipped (DNS rcode cases)\n",
	    argv[1], ndev, nskip);
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail == 0 && npass > 0 ? 0 : 1;
}
