/* SPDX-License-Identifier: ISC */
/*
 * test_tlsrpt - the TLS-RPT spool and reports: recording (validation,
 * modes, caps), torn lines, concurrent appends from many processes, the
 * day cap, aggregation into RFC 8460 §4 JSON checked against a schema
 * checker, the report mail (through a fake sendmail that saves it: headers,
 * subject, file name, gzip) and the core's own fetch-failure records.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "mtasts.h"
#include "internal/ctx.h"
#include "internal/report.h"
#include "internal/tlsrpt.h"
#include "internal/tlsrpt_txt.h"
#include "internal/util.h"
#include "spool_ref.h"
#include "t.h"

/* 2024-03-01 00:00:00 UTC */
#define DAY0 1709251200
#define NPROC 16
#define NPERPROC 200

static char tmpdir[256];

static const char policy_text[] =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.com\r\n"
    "mx: *.backup.example.com\r\nmax_age: 604800\r\n";

static const char *
str(const char *s)
{
	return s;
}

static struct mtasts_ctx *
new_ctx(const char *spool)
{
	struct mtasts_ctx *ctx = mtasts_ctx_new();
	char p[512];

	if (ctx == NULL)
		return NULL;
	snprintf(p, sizeof(p), "%s/%s", tmpdir, spool);
	CHECK(mtasts_ctx_set(ctx, "tlsrpt_dir", p, NULL) == MTASTS_OK);
	snprintf(p, sizeof(p), "%s/reports", tmpdir);
	CHECK(mtasts_ctx_set(ctx, "report_dir", p, NULL) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "report_contact",
	    "tlsrpt@sender.example", NULL) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "report_org_name", "Sender Org", NULL) ==
	    MTASTS_OK);
	return ctx;
}

/* ---- RFC 8460 §4 schema checker ---- */

static int
only_keys(json_t *o, const char *const *allowed)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			fprintf(stderr, "schema: unknown member \"%s\"\n", k);
			return 0;
		}
	}
	return 1;
}

static int
is_str(json_t *o, const char *k, int required)
{
	json_t *v = json_object_get(o, k);

	if (v == NULL)
		return !required;
	return json_is_string(v);
}

static int
is_count(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	/* JSON integers, never reals (checklist 101). */
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static int
rfc3339_utc(json_t *v)
{
	const char *s = json_string_value(v);
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	if (s == NULL || strlen(s) != sizeof(pat) - 1)
		return 0;
	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') :
		    s[i] != pat[i])
			return 0;
	return 1;
}

static int
str_array(json_t *a, int allow_absent)
{
	size_t i;
	json_t *e;

	if (a == NULL)
		return allow_absent;
	if (!json_is_array(a))
		return 0;
	json_array_foreach(a, i, e)
		if (!json_is_string(e))
			return 0;
	return 1;
}

static int
schema_valid(json_t *r)
{
	static const char *const top[] = { "organization-name", "date-range",
		"contact-info", "report-id", "policies", NULL };
	static const char *const dr[] = { "start-datetime", "end-datetime",
		NULL };
	static const char *const pe[] = { "policy", "summary",
		"failure-details", NULL };
	static const char *const po[] = { "policy-type", "policy-string",
		"policy-domain", "mx-host", NULL };
	static const char *const su[] = { "total-successful-session-count",
		"total-failure-session-count", NULL };
	static const char *const fd[] = { "result-type", "sending-mta-ip",
		"receiving-mx-hostname", "receiving-mx-helo", "receiving-ip",
		"failed-session-count", "additional-information",
		"failure-reason-code", NULL };
	json_t *d, *pols, *p, *pol, *sum, *fds, *f, *mx;
	const char *pt;
	size_t i, j;

	if (!json_is_object(r) || !only_keys(r, top) ||
	    !is_str(r, "organization-name", 1) ||
	    !is_str(r, "contact-info", 1) || !is_str(r, "report-id", 1))
		return 0;
	d = json_object_get(r, "date-range");
	if (!json_is_object(d) || !only_keys(d, dr) ||
	    !rfc3339_utc(json_object_get(d, "start-datetime")) ||
	    !rfc3339_utc(json_object_get(d, "end-datetime")))
		return 0;
	/* §4: policies MUST be an array even for one policy. */
	pols = json_object_get(r, "policies");
	if (!json_is_array(pols) || json_array_size(pols) == 0)
		return 0;
	json_array_foreach(pols, i, p) {
		pol = json_object_get(p, "policy");
		sum = json_object_get(p, "summary");
		fds = json_object_get(p, "failure-details");
		if (!json_is_object(p) || !only_keys(p, pe) ||
		    !json_is_object(pol) || !only_keys(pol, po) ||
		    !json_is_object(sum) || !only_keys(sum, su))
			return 0;
		pt = json_string_value(json_object_get(pol, "policy-type"));
		if (pt == NULL || (strcmp(pt, "sts") != 0 &&
		    strcmp(pt, "tlsa") != 0 &&
		    strcmp(pt, "no-policy-found") != 0))
			return 0;
		mx = json_object_get(pol, "mx-host");
		if (!is_str(pol, "policy-domain", 1) ||
		    !str_array(json_object_get(pol, "policy-string"), 1) ||
		    !(str_array(mx, 1) || json_is_string(mx)))
			return 0;
		if (!is_count(sum, "total-successful-session-count") ||
		    !is_count(sum, "total-failure-session-count"))
			return 0;
		if (fds == NULL)
			continue;
		if (!json_is_array(fds))
			return 0;
		json_array_foreach(fds, j, f) {
			if (!json_is_object(f) || !only_keys(f, fd) ||
			    !is_str(f, "result-type", 1) ||
			    !is_count(f, "failed-session-count") ||
			    !is_str(f, "sending-mta-ip", 0) ||
			    !is_str(f, "receiving-mx-hostname", 0) ||
			    !is_str(f, "receiving-mx-helo", 0) ||
			    !is_str(f, "receiving-ip", 0) ||
			    !is_str(f, "failure-reason-code", 0))
				return 0;
		}
	}
	return 1;
}

/* ---- helpers ---- */

static int
fake_rua(void *arg, struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	char rec[256];
	int n;

	(void)ctx;
	memset(out, 0, sizeof(*out));
	if (strcmp(domain, "norpt.example") == 0)
		return mtasts_err(err, MTASTS_NOTFOUND, "no record");
	if (strcmp(domain, "tempfail.example") == 0)
		return mtasts_err(err, MTASTS_TEMPFAIL, "SERVFAIL");
	n = snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=%s",
	    arg != NULL ? (const char *)arg : "mailto:rpt@example.com");
	return mtasts_tlsrpt_txt_parse(rec, (size_t)n, out, err);
}

static size_t
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static int
record(struct mtasts_ctx *ctx, const char *domain, int type,
    const struct mtasts_policy *p, const char *mx, const char *ip,
    const char *rt, const char *reason, time_t when)
{
	struct mtasts_tlsrpt_session s;
	struct mtasts_error err = { 0, "" };
	int rc;

	memset(&s, 0, sizeof(s));
	s.policy_domain = domain;
	s.policy_type = type;
	s.policy = p;
	s.mx_host = mx;
	s.mx_ip = ip;
	s.sending_ip = "192.0.2.1";
	s.result_type = rt;
	s.failure_reason = reason;
	s.when = when;
	if (type == MTASTS_POLICY_TYPE_TLSA)
		s.tlsa_records = "3 1 1 abcdef\n3 1 1 012345";
	rc = mtasts_tlsrpt_record(ctx, &s, &err);
	if (rc != MTASTS_OK)
		fprintf(stderr, "record: %s\n", err.text);
	return rc;
}

static json_t *
find_policy(json_t *rep, const char *type)
{
	size_t i;
	json_t *p;

	json_array_foreach(json_object_get(rep, "policies"), i, p)
		if (strcmp(json_string_value(json_object_get(json_object_get(p,
		    "policy"), "policy-type")), type) == 0)
			return p;
	return NULL;
}

static json_int_t
summary(json_t *p, const char *k)
{
	return json_integer_value(json_object_get(json_object_get(p,
	    "summary"), k));
}

/* ---- tests ---- */

static void
test_record_and_build(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool1");
	struct mtasts_policy *pol = NULL;
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	struct mtasts_tlsrpt_session s;
	char path[512];
	struct stat sb;
	size_t n = 0, i;
	FILE *f;
	int k;

	CHECK(mtasts_policy_parse(policy_text, sizeof(policy_text) - 1, &pol,
	    NULL) == MTASTS_OK);
	/* D-RPT-11: this host's reports name the host. */
	CHECK(mtasts_ctx_set(ctx, "report_host_id", "MX-A.sender.example.",
	    NULL) == MTASTS_OK);
	/* example.com: 3 OK, 2 expired on mx1, 1 mismatch, 1 report mail. */
	for (k = 0; k < 3; k++)
		CHECK(record(ctx, "Example.COM.", MTASTS_POLICY_TYPE_STS, pol,
		    "mx1.example.com", "2001:db8:0:0::1", NULL, NULL,
		    DAY0 + 100 + k) == MTASTS_OK);
	for (k = 0; k < 2; k++)
		CHECK(record(ctx, "example.com", MTASTS_POLICY_TYPE_STS, pol,
		    "MX1.example.com", "2001:db8::1",
		    MTASTS_RT_CERT_EXPIRED, "X509_V_ERR_CERT_HAS_EXPIRED",
		    DAY0 + 200) == MTASTS_OK);
	CHECK(record(ctx, "example.com", MTASTS_POLICY_TYPE_STS, pol,
	    "evil.example.net", "198.51.100.7",
	    MTASTS_RT_CERT_HOST_MISMATCH, "mx not in policy\r\nx",
	    DAY0 + 300) == MTASTS_OK);
	memset(&s, 0, sizeof(s));
	s.policy_domain = "example.com";
	s.policy_type = MTASTS_POLICY_TYPE_STS;
	s.policy = pol;
	s.result_type = MTASTS_RT_CERT_EXPIRED;
	s.when = DAY0 + 400;
	s.flags = MTASTS_TLSRPT_REPORT_MAIL;
	CHECK(mtasts_tlsrpt_record(ctx, &s, NULL) == MTASTS_OK);
	/* U-label domain: reported as A-labels (§4.4). */
	CHECK(record(ctx, "b\xc3\xbc" "cher.example", MTASTS_POLICY_TYPE_NONE,
	    NULL, "mx.xn--bcher-kva.example", "192.0.2.9", NULL, NULL,
	    DAY0 + 500) == MTASTS_OK);
	CHECK(record(ctx, "dane.example", MTASTS_POLICY_TYPE_TLSA, NULL,
	    "mx.dane.example", "192.0.2.10", "tlsa-invalid", NULL,
	    DAY0 + 600) == MTASTS_OK);
	CHECK(record(ctx, "norpt.example", MTASTS_POLICY_TYPE_NONE, NULL,
	    NULL, NULL, NULL, NULL, DAY0 + 600) == MTASTS_OK);
	CHECK(record(ctx, "tempfail.example", MTASTS_POLICY_TYPE_NONE, NULL,
	    NULL, NULL, NULL, NULL, DAY0 + 600) == MTASTS_OK);
	/* The next day goes to the next file. */
	CHECK(record(ctx, "example.com", MTASTS_POLICY_TYPE_STS, pol,
	    "mx1.example.com", "192.0.2.2", NULL, NULL, DAY0 + 86400) ==
	    MTASTS_OK);

	/* Invalid fields. */
	CHECK(record(ctx, "exa mple.com", 1, pol, NULL, NULL, NULL, NULL,
	    DAY0) == MTASTS_INVALID);
	CHECK(record(ctx, "example.com", 7, pol, NULL, NULL, NULL, NULL,
	    DAY0) == MTASTS_INVALID);
	CHECK(record(ctx, "example.com", 1, pol, "mx", "300.1.1.1", NULL,
	    NULL, DAY0) == MTASTS_INVALID);
	CHECK(record(ctx, "example.com", 1, pol, "mx", NULL, "weird-type",
	    NULL, DAY0) == MTASTS_INVALID);
	CHECK(record(ctx, "example.com", 1, pol, "bad_host!", NULL, NULL,
	    NULL, DAY0) == MTASTS_INVALID);
	CHECK(mtasts_tlsrpt_record(ctx, NULL, &err) == MTASTS_ERROR);

	/* Modes: directory 02770, files 0660 despite the umask. */
	snprintf(path, sizeof(path), "%s/spool1", tmpdir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 02770);
	snprintf(path, sizeof(path), "%s/spool1/2024-03-01.jsonl", tmpdir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0660);
	CHECK(count_lines(path) == 11);

	/* A torn last line and garbage are skipped and counted. */
	CHECK((f = fopen(path, "a")) != NULL);
	fputs("this is not json\n{\"v\":1,\"d\":\"x.example\",\"pt\":\"sts\","
	    "\"r\":\"no-such-type\"}\n{\"v\":1,\"t\":1,\"d\":\"exam", f);
	fclose(f);

	memset(&err, 0, sizeof(err));
	CHECK(mtasts_report_build(ctx, DAY0 + 5000, fake_rua, NULL, &v, &n,
	    &st, &err) == MTASTS_OK);
	CHECKF(st.records == 10 && st.torn == 3 && st.excluded == 1 &&
	    st.domains == 5 && st.no_tlsrpt == 1 && st.tempfail == 1,
	    "records %zu torn %zu excluded %zu domains %zu no %zu temp %zu",
	    st.records, st.torn, st.excluded, st.domains, st.no_tlsrpt,
	    st.tempfail);
	CHECK(n == 3);
	for (i = 0; i < n; i++) {
		json_t *rep = json_loadb(v[i].json, v[i].json_len, 0, NULL);

		CHECKF(rep != NULL && schema_valid(rep), "report %s",
		    v[i].domain);
		json_decref(rep);
	}
	if (n == 3) {
		json_t *rep, *p, *fd, *pol0;

		/* Sorted by domain; A-labels. */
		CHECK_STR(str(v[0].domain), "dane.example");
		CHECK_STR(str(v[1].domain), "example.com");
		CHECK_STR(str(v[2].domain), "xn--bcher-kva.example");
		CHECK_STR(str(v[1].file_name), "sender.example!example.com!"
		    "1709251200!1709337599!20240301mxasenderexample.json");
		CHECK_STR(str(v[1].report_id),
		    "20240301.example.com+mx-a.sender.example@sender.example");
		rep = json_loadb(v[1].json, v[1].json_len, 0, NULL);
		CHECK_STR(json_string_value(json_object_get(json_object_get(
		    rep, "date-range"), "start-datetime")),
		    "2024-03-01T00:00:00Z");
		CHECK_STR(json_string_value(json_object_get(json_object_get(
		    rep, "date-range"), "end-datetime")),
		    "2024-03-01T23:59:59Z");
		CHECK_STR(json_string_value(json_object_get(rep,
		    "organization-name")), "Sender Org");
		CHECK(json_array_size(json_object_get(rep, "policies")) == 1);
		p = find_policy(rep, "sts");
		pol0 = json_object_get(p, "policy");
		CHECK(summary(p, "total-successful-session-count") == 3);
		CHECK(summary(p, "total-failure-session-count") == 3);
		CHECK(json_array_size(json_object_get(pol0,
		    "policy-string")) == 5);
		CHECK_STR(json_string_value(json_array_get(json_object_get(
		    pol0, "policy-string"), 2)), "mx: mx1.example.com");
		CHECK(json_array_size(json_object_get(pol0, "mx-host")) == 2);
		CHECK_STR(json_string_value(json_array_get(json_object_get(
		    pol0, "mx-host"), 1)), "*.backup.example.com");
		fd = json_object_get(p, "failure-details");
		CHECK(json_array_size(fd) == 2);
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    0), "result-type")), "certificate-expired");
		CHECK(json_integer_value(json_object_get(json_array_get(fd, 0),
		    "failed-session-count")) == 2);
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    0), "receiving-ip")), "2001:db8::1");
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    0), "receiving-mx-hostname")), "mx1.example.com");
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    0), "sending-mta-ip")), "192.0.2.1");
		/* Control bytes of a reason never reach the report. */
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    1), "failure-reason-code")), "mx not in policy??x");
		json_decref(rep);
		rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);
		p = find_policy(rep, "tlsa");
		CHECK(p != NULL && json_array_size(json_object_get(
		    json_object_get(p, "policy"), "policy-string")) == 2);
		json_decref(rep);
		rep = json_loadb(v[2].json, v[2].json_len, 0, NULL);
		p = find_policy(rep, "no-policy-found");
		CHECK(p != NULL && summary(p,
		    "total-successful-session-count") == 1);
		CHECK(json_object_get(json_object_get(p, "policy"),
		    "policy-string") == NULL);
		json_decref(rep);
	}
	mtasts_report_free(v, n);

	/* Privacy (§8): failure-reason-code can be left out. */
	CHECK(mtasts_ctx_set(ctx, "report_failure_reason", "off", NULL) ==
	    MTASTS_OK);
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECK(n == 3 && strstr(v[1].json, "failure-reason-code") == NULL);
	mtasts_report_free(v, n);

	/* Submitter must be the contact's domain (§5.3). */
	CHECK(mtasts_ctx_set(ctx, "report_submitter", "other.example",
	    NULL) == MTASTS_OK);
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    &err) == MTASTS_ERROR);
	CHECK(strstr(err.text, "§5.3") != NULL && v == NULL && n == 0);
	mtasts_policy_free(pol);
	mtasts_ctx_free(ctx);
}

static void
test_concurrent(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool2");
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	char path[512];
	pid_t pids[NPROC];
	size_t n = 0;
	int i, status, ok = 1;

	for (i = 0; i < NPROC; i++) {
		if ((pids[i] = fork()) == 0) {
			int j, bad = 0;

			for (j = 0; j < NPERPROC; j++)
				bad |= record(ctx, i % 2 ? "a.example" :
				    "b.example", MTASTS_POLICY_TYPE_NONE,
				    NULL, "mx.a.example", "192.0.2.3",
				    j % 4 == 0 ? "starttls-not-supported" :
				    NULL, NULL, DAY0 + 7) != MTASTS_OK;
			_exit(bad);
		}
	}
	for (i = 0; i < NPROC; i++)
		if (waitpid(pids[i], &status, 0) != pids[i] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	CHECK(ok);
	snprintf(path, sizeof(path), "%s/spool2/2024-03-01.jsonl", tmpdir);
	CHECK(count_lines(path) == NPROC * NPERPROC);
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECKF(st.records == NPROC * NPERPROC && st.torn == 0,
	    "records %zu torn %zu", st.records, st.torn);
	if (n == 2) {
		json_t *rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);
		json_t *p = find_policy(rep, "no-policy-found");

		CHECK(summary(p, "total-successful-session-count") ==
		    NPROC / 2 * NPERPROC * 3 / 4);
		CHECK(summary(p, "total-failure-session-count") ==
		    NPROC / 2 * NPERPROC / 4);
		json_decref(rep);
	} else
		CHECK(n == 2);
	mtasts_report_free(v, n);
	mtasts_ctx_free(ctx);
}

static void
test_day_cap_and_truncation(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool3");
	struct mtasts_policy *pol = NULL;
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	char *big, path[512], line[8192];
	size_t n = 0, off = 0;
	int i, ok = 0, fails = 0;
	FILE *f;

	CHECK(mtasts_ctx_set(ctx, "tlsrpt_max_day_size", "65536", NULL) ==
	    MTASTS_OK);
	/* A policy far over one record: mx lines dropped to fit, tr set. */
	big = malloc(65536);
	off = (size_t)snprintf(big, 65536, "version: STSv1\nmode: testing\n"
	    "max_age: 86400\n");
	for (i = 0; i < 200; i++)
		off += (size_t)snprintf(big + off, 65536 - off,
		    "mx: mx%03d.a-rather-long-host-name.example.com\n", i);
	CHECK(mtasts_policy_parse(big, off, &pol, NULL) == MTASTS_OK);
	CHECK(record(ctx, "big.example", MTASTS_POLICY_TYPE_STS, pol,
	    "mx000.a-rather-long-host-name.example.com", "192.0.2.1", NULL,
	    NULL, DAY0) == MTASTS_OK);
	snprintf(path, sizeof(path), "%s/spool3/2024-03-01.jsonl", tmpdir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			ok = strlen(line) <= MTASTS_TLSRPT_RECORD_MAX &&
			    strstr(line, "\"tr\":1") != NULL;
		fclose(f);
	}
	CHECK(ok);
	/* Fill the day: later sessions are dropped and counted. */
	for (i = 0; i < 40; i++)
		if (record(ctx, "big.example", MTASTS_POLICY_TYPE_STS, pol,
		    NULL, NULL, NULL, NULL, DAY0) != MTASTS_OK)
			fails++;
	CHECK(fails > 0);
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECKF(st.dropped == (size_t)fails && st.records == 41 - (size_t)fails,
	    "dropped %zu fails %d records %zu", st.dropped, fails, st.records);
	CHECK(n == 1);
	mtasts_report_free(v, n);
	mtasts_policy_free(pol);
	free(big);
	mtasts_ctx_free(ctx);
}

static void
test_fetch_failure(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool4");
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	char path[512];
	struct stat sb;
	size_t n = 0;

	/* No spool directory: nothing is created as a side effect. */
	mtasts_tlsrpt_record_fetch_failure(ctx, "f.example",
	    MTASTS_RT_STS_FETCH_ERROR, "timed out", DAY0);
	snprintf(path, sizeof(path), "%s/spool4", tmpdir);
	CHECK(stat(path, &sb) != 0);
	CHECK(mkdir(path, 02770) == 0);
	mtasts_tlsrpt_record_fetch_failure(ctx, "f.example",
	    MTASTS_RT_STS_WEBPKI_INVALID, "unable to get local issuer", DAY0);
	mtasts_tlsrpt_record_fetch_failure(ctx, "f.example", "bogus", NULL,
	    DAY0);
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECK(n == 1 && st.records == 2);
	if (n == 1) {
		json_t *rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);
		json_t *p = find_policy(rep, "sts");
		json_t *fd = json_object_get(p, "failure-details");

		CHECK(schema_valid(rep));
		CHECK(summary(p, "total-failure-session-count") == 2);
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    0), "result-type")), "sts-webpki-invalid");
		CHECK_STR(json_string_value(json_object_get(json_array_get(fd,
		    1), "result-type")), "sts-policy-fetch-error");
		json_decref(rep);
	}
	mtasts_report_free(v, n);
	mtasts_ctx_free(ctx);
}

/* gunzip in (RFC 1952) into a malloc'd string. */
static char *
gunzip(const unsigned char *in, size_t len, size_t *outlen)
{
	z_stream z;
	char *out = malloc(1 << 20);
	int rc;

	memset(&z, 0, sizeof(z));
	if (out == NULL || inflateInit2(&z, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (1 << 20) - 1;
	rc = inflate(&z, Z_FINISH);
	*outlen = (1 << 20) - 1 - z.avail_out;
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		return NULL;
	}
	out[*outlen] = '\0';
	return out;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;

	*len = 0;
	if (f == NULL)
		return NULL;
	buf = malloc(1 << 20);
	if (buf != NULL) {
		*len = fread(buf, 1, (1 << 20) - 1, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/*
 * The Message-ID header of msg: "<" id-left "@" id-right ">", both
 * dot-atom-text (RFC 5322 §3.6.4); copied to out.
 */
static int
msgid_valid(const char *msg, char *out, size_t size)
{
	const char *p = strstr(msg, "\r\nMessage-ID: <"), *e, *at, *c;
	int dot = 1;

	if (p == NULL || strstr(p + 1, "\r\nMessage-ID:") != NULL)
		return 0;
	p += strlen("\r\nMessage-ID: <");
	if ((e = strstr(p, ">\r\n")) == NULL || (size_t)(e - p) >= size)
		return 0;
	if ((at = memchr(p, '@', (size_t)(e - p))) == NULL ||
	    memchr(at + 1, '@', (size_t)(e - at - 1)) != NULL)
		return 0;
	for (c = p; c < e; c++) {
		if (c == at) {
			if (dot)
				return 0;
			dot = 1;
			continue;
		}
		if (*c == '.') {
			if (dot)
				return 0;
			dot = 1;
			continue;
		}
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~", *c) != NULL))
			return 0;
		dot = 0;
	}
	if (dot)
		return 0;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 1;
}

static void
test_mail(void)
{
	char mid1[256] = "", mid2[256] = "";
	struct mtasts_ctx *ctx = new_ctx("spool5");
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	char script[512], saved[512], cmd[1200], done[600];
	char *msg, *p, *q, *b64, *json;
	unsigned char *gz;
	size_t n = 0, len, blen, glen, jlen, i;
	FILE *f;

	snprintf(script, sizeof(script), "%s/fake-sendmail", tmpdir);
	snprintf(saved, sizeof(saved), "%s/saved-mail", tmpdir);
	if ((f = fopen(script, "w")) != NULL) {
		fprintf(f, "#!/bin/sh\n"
		    "[ \"$1\" = -oi ] && [ \"$2\" = -t ] || exit 64\n"
		    "echo \"$*\" > '%s.argv'\n"
		    "cat > '%s'\n", saved, saved);
		fclose(f);
	}
	chmod(script, 0755);
	snprintf(cmd, sizeof(cmd), "%s -oi -t", script);
	CHECK(mtasts_ctx_set(ctx, "sendmail", cmd, NULL) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "report_from", "noreply@sender.example",
	    NULL) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "report_host_id", "mx2.sender.example",
	    NULL) == MTASTS_OK);
	CHECK(record(ctx, "example.com", MTASTS_POLICY_TYPE_NONE, NULL,
	    "mx1.example.com", "192.0.2.5", "starttls-not-supported", NULL,
	    DAY0 + 1) == MTASTS_OK);
	/* ftp: is ignored, the %-encoded mailto: is used. */
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua,
	    (void *)"ftp://x.example/r,mailto:tls%2Breports@example.com", &v,
	    &n, &st, NULL) == MTASTS_OK);
	CHECK(n == 1);
	if (n != 1)
		goto done;
	CHECK(mtasts_report_deliver(ctx, &v[0], DAY0 + 86400 + 3600, done,
	    sizeof(done), &err) == MTASTS_OK);
	CHECK_STR(str(done), "mailto:tls%2Breports@example.com");
	msg = slurp(saved, &len);
	CHECK(msg != NULL);
	if (msg == NULL)
		goto done;
	CHECK(strstr(msg, "From: noreply@sender.example\r\n") != NULL);
	CHECK(strstr(msg, "To: tls+reports@example.com\r\n") != NULL);
	CHECK(strstr(msg, "\r\nSubject: Report Domain: example.com "
	    "Submitter: sender.example Report-ID: "
	    "<20240301.example.com+mx2.sender.example@sender.example>\r\n") !=
	    NULL);
	/* D-RPT-14: the envelope sender is report_from. */
	{
		char ap[600], *argv_saved;
		size_t alen;

		snprintf(ap, sizeof(ap), "%s.argv", saved);
		argv_saved = slurp(ap, &alen);
		CHECK_STR(argv_saved, "-oi -t -f noreply@sender.example\n");
		free(argv_saved);
	}
	/* D-RPT-13: an RFC 5322 msg-id, "@" once, dot-atom-text left. */
	CHECK(msgid_valid(msg, mid1, sizeof(mid1)));
	CHECK(strstr(msg, "\r\nTLS-Report-Domain: example.com\r\n") != NULL);
	CHECK(strstr(msg, "\r\nTLS-Report-Submitter: sender.example\r\n") !=
	    NULL);
	CHECK(strstr(msg, "\r\nTLS-Required: No\r\n") != NULL);
	CHECK(strstr(msg, "\r\nMessage-ID: <") != NULL);
	CHECK(strstr(msg, "\r\nDate: Sat, 02 Mar 2024 01:00:00 +0000\r\n") !=
	    NULL);
	CHECK(strstr(msg, "Content-Type: multipart/report; "
	    "report-type=\"tlsrpt\"") != NULL);
	CHECK(strstr(msg, "Content-Type: application/tlsrpt+gzip") != NULL);
	CHECK(strstr(msg, "filename=\"sender.example!example.com!1709251200!"
	    "1709337599!20240301mx2senderexample.json.gz\"") != NULL);
	/* Decode the attachment: base64, gunzip, the very report. */
	p = strstr(msg, "Content-Transfer-Encoding: base64\r\n\r\n");
	CHECK(p != NULL);
	if (p == NULL)
		goto freemsg;
	p += strlen("Content-Transfer-Encoding: base64\r\n\r\n");
	q = strstr(p, "\r\n\r\n--");
	b64 = malloc(len);
	for (blen = 0, i = 0; q != NULL && p + i < q; i++)
		if (p[i] != '\r' && p[i] != '\n')
			b64[blen++] = p[i];
	gz = malloc(blen);
	glen = (size_t)EVP_DecodeBlock(gz, (unsigned char *)b64, (int)blen);
	while (blen > 0 && b64[blen - 1] == '=') {
		glen--;
		blen--;
	}
	json = gunzip(gz, glen, &jlen);
	CHECK(json != NULL && jlen == v[0].json_len &&
	    memcmp(json, v[0].json, jlen) == 0);
	free(json);
	free(gz);
	free(b64);
freemsg:
	free(msg);
	/* A failing sendmail is a temporary failure. */
	CHECK(mtasts_ctx_set(ctx, "sendmail", "/bin/false", NULL) ==
	    MTASTS_OK);
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_report_deliver(ctx, &v[0], DAY0, done, sizeof(done),
	    &err) == MTASTS_TEMPFAIL);
	CHECK(strstr(err.text, "exit status 1") != NULL);
	/* The same report mailed again has another Message-ID. */
	snprintf(cmd, sizeof(cmd), "%s -oi -t", script);
	CHECK(mtasts_ctx_set(ctx, "sendmail", cmd, NULL) == MTASTS_OK);
	CHECK(mtasts_report_deliver(ctx, &v[0], DAY0 + 86400 + 3600, done,
	    sizeof(done), &err) == MTASTS_OK);
	if ((msg = slurp(saved, &len)) != NULL) {
		CHECK(msgid_valid(msg, mid2, sizeof(mid2)));
		CHECKF(strcmp(mid1, mid2) != 0, "Message-ID %s twice", mid1);
		free(msg);
	}
	/* A sendmail command that names the sender keeps it. */
	snprintf(cmd, sizeof(cmd), "%s -oi -t -fother@sender.example",
	    script);
	CHECK(mtasts_ctx_set(ctx, "sendmail", cmd, NULL) == MTASTS_OK);
	CHECK(mtasts_report_deliver(ctx, &v[0], DAY0 + 86400 + 3600, done,
	    sizeof(done), &err) == MTASTS_OK);
	{
		char ap[600], *argv_saved;
		size_t alen;

		snprintf(ap, sizeof(ap), "%s.argv", saved);
		argv_saved = slurp(ap, &alen);
		CHECK_STR(argv_saved, "-oi -t -fother@sender.example\n");
		free(argv_saved);
	}
done:
	mtasts_report_free(v, n);
	mtasts_ctx_free(ctx);
}

/*
 * D-RPT-17: every record carries its own id "u", so three sessions
 * identical to the second are three, and a line that arrives twice
 * (rsyslog re-sends after a failed connection) counts once. A "u" that
 * is not 16 lower-case hex digits makes the line malformed.
 */
static void
test_shipped_copies(void)
{
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_ctx *ctx;
	char path[600], *buf, *nl, ids[3][17];
	size_t n = 0, len, k;
	FILE *f;

	ctx = new_ctx("copies");
	for (k = 0; k < 3; k++)
		CHECK(record(ctx, "example.com", MTASTS_POLICY_TYPE_NONE,
		    NULL, "mx1.example.com", "192.0.2.5", NULL, NULL,
		    DAY0 + 10) == MTASTS_OK);
	snprintf(path, sizeof(path), "%s/copies/2024-03-01.jsonl", tmpdir);
	buf = slurp(path, &len);
	CHECK(buf != NULL);
	if (buf == NULL)
		goto done;
	/* Three lines, each with a distinct 16-hex-digit id. */
	{
		const char *p = buf;

		for (k = 0; k < 3 && (p = strstr(p, "\"u\":\"")) != NULL;
		    k++) {
			p += 5;
			CHECK(strspn(p, "0123456789abcdef") == 16 &&
			    p[16] == '"');
			memcpy(ids[k], p, 16);
			ids[k][16] = '\0';
		}
		CHECK(k == 3 && strcmp(ids[0], ids[1]) != 0 &&
		    strcmp(ids[0], ids[2]) != 0 &&
		    strcmp(ids[1], ids[2]) != 0);
	}
	/* Ship lines 1 and 3 again, and two lines with a bad id. */
	CHECK((f = fopen(path, "a")) != NULL);
	if (f != NULL) {
		nl = strchr(buf, '\n');
		fwrite(buf, 1, (size_t)(nl - buf) + 1, f);
		nl = strrchr(buf, '\n');
		*nl = '\0';
		fprintf(f, "%s\n", strrchr(buf, '\n') + 1);
		fprintf(f, "{\"v\":1,\"t\":%lld,\"d\":\"example.com\","
		    "\"pt\":\"no-policy-found\",\"u\":\"ABCDEF0123456789\"}\n"
		    "{\"v\":1,\"t\":%lld,\"d\":\"example.com\","
		    "\"pt\":\"no-policy-found\",\"u\":\"12\"}\n",
		    (long long)DAY0 + 11, (long long)DAY0 + 12);
		fclose(f);
	}
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECKF(st.records == 3 && st.copies == 2 && st.torn == 2 &&
	    st.duplicates == 0, "records %zu copies %zu torn %zu dups %zu",
	    st.records, st.copies, st.torn, st.duplicates);
	CHECK(n == 1);
	if (n == 1) {
		json_t *rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);

		CHECK(summary(find_policy(rep, "no-policy-found"),
		    "total-successful-session-count") == 3);
		json_decref(rep);
	}
	mtasts_report_free(v, n);
	v = NULL;
	n = 0;
	/*
	 * Enough ids to make the id set grow twice (it starts at 1024
	 * slots, at most half full), each line then shipped again, and the
	 * id 0 twice.
	 */
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL) {
		for (k = 0; k < 2 * 1500; k++)
			fprintf(f, "{\"v\":1,\"t\":%lld,\"d\":\"example.com\","
			    "\"pt\":\"no-policy-found\",\"u\":\"%016llx\"}\n",
			    (long long)DAY0 + 10, (unsigned long long)(k %
			    1500) * 0x9e3779b97f4a7c15ULL);
		fclose(f);
	}
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECKF(st.records == 1500 && st.copies == 1500 && st.torn == 0,
	    "records %zu copies %zu torn %zu", st.records, st.copies,
	    st.torn);
done:
	free(buf);
	mtasts_report_free(v, n);
	mtasts_ctx_free(ctx);
}

/*
 * D-RPT-11, D-RPT-12: three hosts' spools, one report per policy domain
 * with the summed counts; a repeated attempt key counts once per host.
 */
static void
test_fleet(void)
{
	static const char *const hosts[] = { "fleet-a", "fleet-b", "fleet-c" };
	char dirs[3][512], hid[300];
	const char *spools[3];
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	size_t n = 0, h, k;
	json_t *rep, *p, *fd;

	for (h = 0; h < 3; h++) {
		struct mtasts_tlsrpt_session s;

		ctx = new_ctx(hosts[h]);
		snprintf(dirs[h], sizeof(dirs[h]), "%s/%s", tmpdir, hosts[h]);
		spools[h] = dirs[h];
		/* host h: h+1 successes, 2h failures on example.com */
		for (k = 0; k < h + 1; k++)
			CHECK(record(ctx, "example.com",
			    MTASTS_POLICY_TYPE_NONE, NULL, "mx1.example.com",
			    "192.0.2.5", NULL, NULL, DAY0 + 10) == MTASTS_OK);
		for (k = 0; k < 2 * h; k++)
			CHECK(record(ctx, "example.com",
			    MTASTS_POLICY_TYPE_NONE, NULL, "mx1.example.com",
			    "192.0.2.5", "starttls-not-supported", NULL,
			    DAY0 + 20) == MTASTS_OK);
		/* One refused delivery attempt written twice, same key. */
		memset(&s, 0, sizeof(s));
		s.policy_domain = "other.example";
		s.policy_type = MTASTS_POLICY_TYPE_NONE;
		s.mx_host = "mx.other.example";
		s.sending_ip = "192.0.2.1";
		s.result_type = MTASTS_RT_VALIDATION_FAILURE;
		s.when = DAY0 + 30;
		s.attempt_key = "exim:1abcde-000001-AB:4242:99";
		CHECK(mtasts_tlsrpt_record(ctx, &s, NULL) == MTASTS_OK);
		CHECK(mtasts_tlsrpt_record(ctx, &s, NULL) == MTASTS_OK);
		/* This host's own report counts it once, names the host. */
		CHECK(mtasts_ctx_set(ctx, "report_host_id", hosts[h], NULL) ==
		    MTASTS_OK);
		CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n,
		    &st, NULL) == MTASTS_OK);
		CHECKF(st.records == 3 * h + 2 && st.duplicates == 1,
		    "host %zu: records %zu duplicates %zu", h, st.records,
		    st.duplicates);
		CHECK(n == 2 && strstr(v[0].report_id, hosts[h]) != NULL);
		mtasts_report_free(v, n);
		v = NULL;
		n = 0;
		mtasts_ctx_free(ctx);
	}
	/* The default host id; a bad report_host_id is refused. */
	ctx = new_ctx("fleet-agg");
	CHECK(mtasts_report_host_id(ctx, hid, sizeof(hid)) == 0 &&
	    hid[0] != '\0' && strchr(hid, '@') == NULL);
	CHECK(mtasts_ctx_set(ctx, "report_host_id", "bad host", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_report_build_spools(ctx, DAY0, spools, 3, fake_rua, NULL,
	    &v, &n, &st, &err) == MTASTS_OK);
	CHECKF(st.records == 3 * 0 + 2 + 3 * 1 + 2 + 3 * 2 + 2 &&
	    st.duplicates == 3 && st.spools == 3, "records %zu dups %zu",
	    st.records, st.duplicates);
	CHECK(n == 2);
	if (n == 2) {
		CHECK_STR(str(v[0].report_id),
		    "20240301.example.com@sender.example");
		CHECK_STR(str(v[0].file_name), "sender.example!example.com!"
		    "1709251200!1709337599!20240301.json");
		rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);
		CHECK(rep != NULL && schema_valid(rep));
		p = find_policy(rep, "no-policy-found");
		/* 1+2+3 successes, 0+2+4 failures */
		CHECK(summary(p, "total-successful-session-count") == 6);
		CHECK(summary(p, "total-failure-session-count") == 6);
		fd = json_array_get(json_object_get(p, "failure-details"), 0);
		CHECK(json_integer_value(json_object_get(fd,
		    "failed-session-count")) == 6);
		json_decref(rep);
		rep = json_loadb(v[1].json, v[1].json_len, 0, NULL);
		p = find_policy(rep, "no-policy-found");
		/* one attempt per host, never two */
		CHECK(summary(p, "total-failure-session-count") == 3);
		json_decref(rep);
	}
	mtasts_report_free(v, n);
	mtasts_ctx_free(ctx);
}

static void
test_config(void)
{
	struct mtasts_ctx *ctx = mtasts_ctx_new();

	CHECK(mtasts_ctx_set(ctx, "tlsrpt_dir", "relative", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "sendmail", "sendmail -t", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_contact", "no-at-sign", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_contact", "a b@x.example", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_from", "x@bad_domain", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_org_name", "Bad\tName", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_submitter",
	    "B\xc3\xbc" "cher.example", NULL) == MTASTS_OK);
	CHECK_STR(str(ctx->cfg.report_submitter), "xn--bcher-kva.example");
	CHECK(mtasts_ctx_set(ctx, "tlsrpt_max_day_size", "100", NULL) ==
	    MTASTS_INVALID);
	CHECK(mtasts_ctx_set(ctx, "report_failure_reason", "maybe", NULL) ==
	    MTASTS_INVALID);
	mtasts_ctx_free(ctx);
}

/*
 * Record one failing session in a child and wait at most 5 s for it:
 * returns the child's exit status (0 recorded, 1 refused), or -1 when it
 * hung and had to be killed (D-SPOOL-1: the spool never blocks a delivery).
 */
static int
record_bounded(struct mtasts_ctx *ctx, const char *domain)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };
	pid_t pid;
	int i, status;

	fflush(stderr);
	if ((pid = fork()) == 0)
		_exit(record(ctx, domain, MTASTS_POLICY_TYPE_NONE, NULL,
		    "mx.h.example", "192.0.2.9", "starttls-not-supported",
		    NULL, DAY0) == MTASTS_OK ? 0 : 1);
	for (i = 0; i < 500; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
		nanosleep(&nap, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static mode_t
file_mode(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? sb.st_mode & 07777 : (mode_t)-1;
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	CHECK(fd >= 0 && write(fd, data, len) == (ssize_t)len);
	if (fd >= 0)
		close(fd);
	CHECK(chmod(path, mode) == 0);
}

static int warn_logs;
static char warn_last[512];

static void
warn_log(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level == MTASTS_LOG_WARN) {
		warn_logs++;
		snprintf(warn_last, sizeof(warn_last), "%s", msg);
	}
}

/* Issue 12 item 10: an unwritable fetch-failure record is a warning. */
static void
test_fetch_failure_warns(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool8");
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/spool8", tmpdir);
	CHECK(mkdir(dir, 0700) == 0 && chmod(dir, 0777) == 0);
	mtasts_ctx_set_log(ctx, warn_log, NULL);
	warn_logs = 0;
	mtasts_tlsrpt_record_fetch_failure(ctx, "f.example",
	    MTASTS_RT_STS_FETCH_ERROR, "timed out", DAY0);
	CHECKF(warn_logs == 1 && strstr(warn_last, "not recorded") != NULL &&
	    strstr(warn_last, "world-writable") != NULL, "%d warnings: %s",
	    warn_logs, warn_last);
	mtasts_ctx_free(ctx);
}

/* D-SPOOL-1, D-FILE-1: FIFOs, links and world-writable spools (issue 12). */
static void
test_hostile_spool(void)
{
	struct mtasts_ctx *ctx = new_ctx("spool6");
	char dir[512], day[600], dropped[600], outside[512], out2[512];
	char *big;
	int rfd, rc;

	snprintf(dir, sizeof(dir), "%s/spool6", tmpdir);
	snprintf(day, sizeof(day), "%s/2024-03-01.jsonl", dir);
	snprintf(dropped, sizeof(dropped), "%s.dropped", day);
	snprintf(outside, sizeof(outside), "%s/outside.conf", tmpdir);
	snprintf(out2, sizeof(out2), "%s/outside2.conf", tmpdir);
	CHECK(mkdir(dir, 02770) == 0);

	/* A FIFO at today's file, nobody reading: refused at once. */
	CHECK(mkfifo(day, 0660) == 0);
	rc = record_bounded(ctx, "fifo.example");
	CHECKF(rc == 1, "FIFO day file: child %s (%d)", rc == -1 ? "hung" :
	    "returned", rc);
	/* ... and with a reader: nothing is written into it. */
	rfd = open(day, O_RDONLY | O_NONBLOCK);
	CHECK(rfd >= 0);
	rc = record_bounded(ctx, "fifo.example");
	CHECKF(rc == 1, "FIFO with a reader: %d", rc);
	if (rfd >= 0) {
		char b[16];

		CHECK(read(rfd, b, sizeof(b)) <= 0);
		close(rfd);
	}
	/* The report job reading a FIFO planted as the day file. */
	{
		struct timespec nap = { 0, 10 * 1000 * 1000 };
		pid_t pid;
		int k, status = -1, done = 0;

		fflush(stderr);
		if ((pid = fork()) == 0) {
			struct mtasts_report *rv = NULL;
			size_t rn = 0;
			struct mtasts_report_counts rst;

			_exit(mtasts_report_build(ctx, DAY0, fake_rua, NULL,
			    &rv, &rn, &rst, NULL) == MTASTS_ERROR ? 0 : 1);
		}
		for (k = 0; k < 500 && !done; k++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				done = 1;
			else
				nanosleep(&nap, NULL);
		}
		if (!done) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
		CHECKF(done && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "report build on a FIFO day file %s", done ? "did not "
		    "fail" : "hung");
	}
	CHECK(unlink(day) == 0);

	/* A FIFO at .dropped, reached when the day is over its cap. */
	CHECK(mtasts_ctx_set(ctx, "tlsrpt_max_day_size", "65536", NULL) ==
	    MTASTS_OK);
	big = malloc(70000);
	memset(big, '\n', 70000);
	write_file(day, big, 70000, 0660);
	CHECK(mkfifo(dropped, 0660) == 0);
	rc = record_bounded(ctx, "fifo.example");
	CHECKF(rc == 1, "FIFO .dropped: child %s (%d)", rc == -1 ? "hung" :
	    "returned", rc);
	CHECK(unlink(dropped) == 0);

	/* .dropped a hard link to a file elsewhere: neither written nor
	 * chmod'ed (root is not stopped by fs.protected_hardlinks). */
	write_file(out2, "secret = 1\n", 11, 0644);
	CHECK(link(out2, dropped) == 0);
	CHECK(record_bounded(ctx, "link.example") == 1);
	CHECKF(file_mode(out2) == 0644, "outside file mode now %o",
	    (unsigned)file_mode(out2));
	CHECK(file_size(out2) == 11);
	CHECK(unlink(dropped) == 0);
	CHECK(unlink(day) == 0);
	free(big);

	/* Today's file a hard link to a file elsewhere: not appended to. */
	write_file(outside, "sendmail = /bin/true\n", 21, 0644);
	CHECK(link(outside, day) == 0);
	CHECK(record_bounded(ctx, "link.example") == 1);
	CHECK(file_size(outside) == 21);
	CHECK(file_mode(outside) == 0644);
	CHECK(unlink(day) == 0);

	/* A symbolic link: not followed. */
	CHECK(symlink(outside, day) == 0);
	CHECK(record_bounded(ctx, "link.example") == 1);
	CHECK(file_size(outside) == 21);
	CHECK(unlink(day) == 0);

	/* A world-writable spool (sticky or not) is refused, nothing made. */
	CHECK(chmod(dir, 0777) == 0);
	CHECK(record_bounded(ctx, "ww.example") == 1);
	CHECK(file_size(day) == -1);
	CHECK(chmod(dir, 01777) == 0);
	CHECK(record_bounded(ctx, "ww.example") == 1);
	CHECK(file_size(day) == -1);
	CHECK(chmod(dir, 02770) == 0);
	CHECK(record_bounded(ctx, "ok.example") == 0);
	CHECK(file_size(day) > 0);
	mtasts_ctx_free(ctx);

	/* A new spool is made 02770 whatever the umask (by fchmod). */
	ctx = new_ctx("spool7/a/b");
	umask(077);
	CHECK(record_bounded(ctx, "ok.example") == 0);
	umask(022);
	snprintf(dir, sizeof(dir), "%s/spool7/a/b", tmpdir);
	CHECKF(file_mode(dir) == 02770, "spool mode %o",
	    (unsigned)file_mode(dir));
	snprintf(dir, sizeof(dir), "%s/spool7/a/b/2024-03-01.jsonl", tmpdir);
	CHECK(file_mode(dir) == 0660);
	mtasts_ctx_free(ctx);
}

/*
 * D-SPOOL-2 on a real full filesystem: a 64 KiB tmpfs in a private mount
 * namespace. A record torn by ENOSPC must not swallow the record written
 * once space is back. Runs in a child (the namespace); 77 = cannot mount.
 */
static int
full_fs_child(void)
{
	struct mtasts_ctx *ctx;
	struct mtasts_policy *pol = NULL;
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	char mnt[512], path[600], filler[600], text[8192], c;
	size_t off, n = 0;
	off_t sz;
	int i, fd, fails = t_fail;	/* inherited from the parent */

	snprintf(mnt, sizeof(mnt), "%s/fullfs", tmpdir);
	if (mkdir(mnt, 0700) != 0 || unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700") != 0)
		return 77;
	ctx = new_ctx("fullfs/spool");
	off = (size_t)snprintf(text, sizeof(text),
	    "version: STSv1\nmode: enforce\nmax_age: 86400\n");
	for (i = 0; i < 34; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "mx: mx%02d.a-long-mail-host-name.example.net\n", i);
	CHECK(mtasts_policy_parse(text, off, &pol, NULL) == MTASTS_OK);
	CHECK(record(ctx, "full.example", MTASTS_POLICY_TYPE_STS, pol,
	    "mx00.a-long-mail-host-name.example.net", "192.0.2.1", NULL,
	    NULL, DAY0) == MTASTS_OK);
	snprintf(path, sizeof(path), "%s/spool/2024-03-01.jsonl", mnt);
	sz = file_size(path);
	/* Two records do not fit the file's first page. */
	CHECKF(sz > 2100 && sz < 4000, "record of %lld bytes", (long long)sz);
	/* Fill the filesystem. */
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	memset(text, 'x', sizeof(text));
	while (write(fd, text, 4096) > 0)
		;
	while (write(fd, text, 1) > 0)
		;
	CHECK(errno == ENOSPC);
	close(fd);
	/* Torn by ENOSPC: refused, and no torn bytes left behind. */
	CHECK(record(ctx, "full.example", MTASTS_POLICY_TYPE_STS, pol,
	    "mx01.a-long-mail-host-name.example.net", "192.0.2.1", NULL,
	    NULL, DAY0) != MTASTS_OK);
	fd = open(path, O_RDONLY);
	sz = file_size(path);
	CHECK(fd >= 0 && sz > 0 && pread(fd, &c, 1, sz - 1) == 1 &&
	    c == '\n');
	if (fd >= 0)
		close(fd);
	/* Space is back: the next record is read back intact. */
	CHECK(unlink(filler) == 0);
	CHECK(record(ctx, "full.example", MTASTS_POLICY_TYPE_STS, pol,
	    "mx02.a-long-mail-host-name.example.net", "192.0.2.1",
	    MTASTS_RT_CERT_EXPIRED, NULL, DAY0) == MTASTS_OK);
	CHECK(mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    NULL) == MTASTS_OK);
	CHECKF(st.records == 2 && st.torn == 0, "records %zu torn %zu",
	    st.records, st.torn);
	if (n == 1) {
		json_t *rep = json_loadb(v[0].json, v[0].json_len, 0, NULL);
		json_t *p = find_policy(rep, "sts");

		CHECK(summary(p, "total-failure-session-count") == 1);
		json_decref(rep);
	}
	mtasts_report_free(v, n);
	mtasts_policy_free(pol);
	mtasts_ctx_free(ctx);
	umount(mnt);
	return t_fail == fails ? 0 : 1;
}

static void
test_full_fs(void)
{
	pid_t pid;
	int status;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0)
		_exit(full_fs_child());
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		printf("SKIP full filesystem test: cannot mount a tmpfs in a "
		    "private namespace (not root?)\n");
	else
		CHECKF(WEXITSTATUS(status) == 0, "full filesystem child "
		    "failed");
}

/*
 * The hand-written record writer (spool.c, D-LAZYNET-4) writes the bytes
 * jansson wrote (spool_ref.h): escapes, UTF-8 that is kept or left out,
 * every optional member, arrays cut to fit and "tr".
 */
static void
spool_same(const struct mtasts_tlsrpt_session *s, const char *domain,
    const char *mxh, const char *mxip, const char *sip, const char *what)
{
	char *got, *want, u[MTASTS_SPOOL_ID_LEN + 1];
	size_t len;

	got = mtasts_spool_rec_encode(s, domain, mxh, mxip, sip, DAY0, &len);
	if (got == NULL) {
		want = spool_ref_encode(s, domain, mxh, mxip, sip, DAY0,
		    "0123456789abcdef");
		CHECKF(want == NULL, "%s: writer gave up, jansson wrote %s",
		    what, want);
		free(want);
		return;
	}
	spool_ref_id(got, u);
	CHECKF(u[0] != '\0', "%s: no record id: %s", what, got);
	want = spool_ref_encode(s, domain, mxh, mxip, sip, DAY0, u);
	CHECKF(want != NULL && strcmp(got, want) == 0 && len == strlen(got),
	    "%s:\n got  %s want %s", what, got, want ? want : "(null)\n");
	free(got);
	free(want);
}

static void
test_spool_writer(void)
{
	static const char pol_text[] = "version: STSv1\nmode: enforce\n"
	    "mx: mx1.example.com\nmx: *.example.net\nmax_age: 86400\n";
	struct mtasts_tlsrpt_session s;
	struct mtasts_policy *pol = NULL, *big = NULL;
	char text[65536], helo[600];
	size_t off;
	int i;

	CHECK(mtasts_policy_parse(pol_text, sizeof(pol_text) - 1, &pol,
	    NULL) == MTASTS_OK);
	memset(&s, 0, sizeof(s));
	s.policy_type = MTASTS_POLICY_TYPE_STS;
	s.policy = pol;
	spool_same(&s, "a.example", "mx1.example.com", "192.0.2.1",
	    "198.51.100.7", "success");
	s.result_type = "validation-failure";
	s.failure_reason = "certificate \"expired\"\\ \x01\x1f\x7f\ttab\n";
	s.mx_helo = "h\xc3\xa9lo \x80 bad\r\n";
	s.attempt_key = "k\"ey\x02";
	s.flags = MTASTS_TLSRPT_REPORT_MAIL;
	spool_same(&s, "a.example", "mx1.example.com", "2001:db8::1", "",
	    "failure, hostile text");
	/* Not UTF-8: jansson left such a member out. */
	spool_same(&s, "a.example", "mx\xff.example.com", "", "\xc0\x80",
	    "bad UTF-8 members");
	spool_same(&s, "\xe2\x82\xac.example", "", "", "", "UTF-8 kept");
	/* Raw members are escaped as jansson did: \uXXXX upper case. */
	spool_same(&s, "c.example", "mx\x01\x1f\x7f\"\\/\b\f\n\r\t.x", "",
	    "", "controls");
	/* TLSA lines, one not UTF-8 (cut: "tr"), empty lines skipped. */
	memset(&s, 0, sizeof(s));
	s.policy_type = MTASTS_POLICY_TYPE_TLSA;
	s.tlsa_records = "3 1 1 abcd\n\n3 1 1 \xed\xa0\x80\n2 0 1 ef\"01\n";
	spool_same(&s, "t.example", "mx.t.example", "192.0.2.9", "",
	    "tlsa");
	s.policy_type = MTASTS_POLICY_TYPE_NONE;
	spool_same(&s, "n.example", "", "", "", "no policy");
	/* Arrays cut to fit the record, budget shared by ps and mx. */
	off = (size_t)snprintf(text, sizeof(text), "version: STSv1\n"
	    "mode: testing\nmax_age: 86400\n");
	for (i = 0; i < 150; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "mx: mx%03d.a-rather-long-host-name.example.com\n", i);
	CHECK(mtasts_policy_parse(text, off, &big, NULL) == MTASTS_OK);
	memset(&s, 0, sizeof(s));
	s.policy_type = MTASTS_POLICY_TYPE_STS;
	s.policy = big;
	spool_same(&s, "big.example", "mx000.a-rather-long-host-name."
	    "example.com", "192.0.2.1", "", "truncated");
	/* Every budget left over at the cut, 0 to 60 bytes. */
	for (i = 0; i < 61; i++) {
		char dom[80];

		snprintf(dom, sizeof(dom), "%.*s.example", i + 1,
		    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		    "bbbbbbbbbbbbbbbbbbbb");
		spool_same(&s, dom, "", "", "", dom);
	}
	/* Long EHLO text: sanitised and capped as before. */
	memset(helo, 'h', sizeof(helo) - 1);
	helo[sizeof(helo) - 1] = '\0';
	s.mx_helo = helo;
	spool_same(&s, "big.example", "", "", "", "long EHLO");
	mtasts_policy_free(pol);
	mtasts_policy_free(big);
}

int
main(void)
{
	char cmd[300];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tlsrpt.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	umask(022);
	test_config();
	test_spool_writer();
	test_record_and_build();
	test_concurrent();
	test_day_cap_and_truncation();
	test_fetch_failure();
	test_mail();
	test_fleet();
	test_shipped_copies();
	test_hostile_spool();
	test_fetch_failure_warns();
	test_full_fs();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return T_DONE();
}
