/* SPDX-License-Identifier: ISC */
/*
 * test_admin - the rules behind the administration API (mtasts_admin.h),
 * one case table each: the cache purge rule (D-PURGE-1), the RFC 8460
 * §5.5 retry schedule (D-RPT-10), the TXT discovery kinds `mtasts
 * check` explains, and the policy fetch failure kinds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "mtasts.h"
#include "mtasts_admin.h"
#include "internal/ctx.h"
#include "internal/cache.h"
#include "internal/dns.h"
#include "internal/fetch.h"
#include "internal/util.h"
#include "fakenet.h"
#include "t.h"

#define DAY 86400
#define T0 1700000000LL

/* Entry state x now -> kept / removed, with purge_after = 30 days. */
static const struct purge_case {
	const char *what;
	int has_policy;
	long long expires_at, txt_checked_at, now;
	int removed;
	long long since;
} purge_cases[] = {
	{ "policy valid", 1, T0 + DAY, T0, T0, 0, T0 + DAY },
	{ "policy just expired", 1, T0, T0 - DAY, T0 + 1, 0, T0 },
	{ "expired exactly purge_after ago", 1, T0, T0, T0 + 30 * DAY, 0,
	    T0 },
	{ "expired purge_after + 1 s ago", 1, T0, T0, T0 + 30 * DAY + 1, 1,
	    T0 },
	{ "expired long ago, TXT checked now", 1, T0, T0 + 60 * DAY,
	    T0 + 60 * DAY, 1, T0 },
	{ "negative, checked recently", 0, 0, T0, T0 + DAY, 0, T0 },
	{ "negative, checked purge_after + 1 s ago", 0, 0, T0,
	    T0 + 30 * DAY + 1, 1, T0 },
	{ "negative, expires_at ignored", 0, T0 + 90 * DAY, T0,
	    T0 + 31 * DAY, 1, T0 },
	{ "clock behind the entry", 1, T0, T0, T0 - 90 * DAY, 0, T0 },
	{ "never checked (0)", 0, 0, 0, T0, 1, 0 },
};

static void
test_purge_rule(void)
{
	size_t i;

	for (i = 0; i < sizeof(purge_cases) / sizeof(purge_cases[0]); i++) {
		const struct purge_case *c = &purge_cases[i];
		time_t since = -1;
		int r = mtasts_admin_purge_due(c->has_policy,
		    (time_t)c->expires_at, (time_t)c->txt_checked_at,
		    (time_t)c->now, 30 * DAY, &since);

		CHECKF(r == c->removed, "%s: got %d", c->what, r);
		CHECKF((long long)since == c->since, "%s: since %lld",
		    c->what, (long long)since);
	}
	/* purge_after 0: anything expired before now goes. */
	CHECK(mtasts_admin_purge_due(1, T0, 0, T0 + 1, 0, NULL) == 1);
	CHECK(mtasts_admin_purge_due(1, T0, 0, T0, 0, NULL) == 0);
}

/* Failed attempt n at now (first try at T0) -> next try, or given up. */
static const struct retry_case {
	long long attempts, now;
	int gave_up;
	long long next;
} retry_cases[] = {
	{ 1, T0, 0, T0 + 300 },			/* 5 min */
	{ 2, T0 + 300, 0, T0 + 300 + 600 },	/* 10 min */
	{ 3, T0 + 900, 0, T0 + 900 + 1200 },	/* 20 min */
	{ 4, T0 + 2100, 0, T0 + 2100 + 2400 },
	{ 5, T0 + 4500, 0, T0 + 4500 + 4800 },
	{ 6, T0 + 9300, 0, T0 + 9300 + 9600 },
	{ 7, T0 + 18900, 0, T0 + 18900 + 14400 },	/* capped at 4 h */
	{ 8, T0 + 33300, 0, T0 + 33300 + 14400 },
	{ 40, T0 + 80000, 0, T0 + 80000 + 14400 },	/* no overflow */
	{ 0, T0, 0, T0 + 300 },			/* treated as the first */
	{ 9, T0 + DAY - 1, 0, T0 + DAY - 1 + 14400 },	/* still inside */
	{ 9, T0 + DAY, 1, 0 },			/* 24 h after the first */
	{ 2, T0 + 2 * DAY, 1, 0 },		/* a run after days */
};

static void
test_retry_rule(void)
{
	size_t i;

	for (i = 0; i < sizeof(retry_cases) / sizeof(retry_cases[0]); i++) {
		const struct retry_case *c = &retry_cases[i];
		long long next = 0;
		int r = mtasts_admin_retry_next(T0, c->attempts, c->now, &next);

		CHECKF(r == c->gave_up, "case %zu: gave_up %d", i, r);
		if (!c->gave_up)
			CHECKF(next == c->next, "case %zu: next %lld, want "
			    "%lld", i, next - T0, c->next - T0);
	}
	CHECK(MTASTS_RETRY_WINDOW == DAY);
}

/* The fake resolver's answer -> the discovery kind. */
static const struct txt_case {
	int fake;		/* enum fake_txt */
	const char *txt;
	int kind;
	const char *id;
	long lookalike;
} txt_cases[] = {
	{ FAKE_TXT_RECORD, NULL, MTASTS_TXT_FOUND, "abc123", -1 },
	{ FAKE_TXT_RECORD, "v=STSv1;id=x;", MTASTS_TXT_FOUND, "x", -1 },
	{ FAKE_TXT_RECORD, "v=stsv1; id=abc", MTASTS_TXT_NO_STS, "", 0 },
	{ FAKE_TXT_RECORD, "v=STSv1", MTASTS_TXT_NO_STS, "", 0 },
	{ FAKE_TXT_RECORD, "v=spf1 -all", MTASTS_TXT_NO_STS, "", -1 },
	{ FAKE_TXT_RECORD, "v=STSv1; id=a-b", MTASTS_TXT_SYNTAX, "", -1 },
	{ FAKE_TXT_RECORD, "v=STSv1; x=1", MTASTS_TXT_SYNTAX, "", -1 },
	{ FAKE_TXT_NXDOMAIN, "", MTASTS_TXT_NXDOMAIN, "", -1 },
	{ FAKE_TXT_SERVFAIL, "", MTASTS_TXT_DNS_FAILED, "", -1 },
	{ FAKE_TXT_REFUSE, "", MTASTS_TXT_RESOLVER, "", -1 },
};

static void
test_txt_discover(void)
{
	size_t i;

	for (i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		struct mtasts_ctx *ctx = mtasts_ctx_new();
		struct mtasts_txt_info *t = NULL;
		struct mtasts_error err = { 0, "" };
		struct fakenet f;

		fakenet_attach(&f, ctx);
		if (c->txt == NULL)
			fakenet_txt_id(&f, "abc123");
		else {
			f.txt_kind = c->fake;
			mtasts_strlcpy(f.txt, c->txt, sizeof(f.txt));
		}
		CHECK(mtasts_admin_txt_discover(ctx, "example.com", &t, &err) ==
		    MTASTS_OK);
		if (t != NULL) {
			CHECKF(mtasts_txt_info_kind(t) == c->kind,
			    "case %zu: kind %d, want %d", i,
			    mtasts_txt_info_kind(t), c->kind);
			CHECK_STR(mtasts_txt_info_id(t), c->id);
			CHECK_STR(mtasts_txt_info_qname(t),
			    "_mta-sts.example.com");
			CHECKF(mtasts_txt_info_lookalike(t) == c->lookalike,
			    "case %zu: lookalike %ld", i,
			    mtasts_txt_info_lookalike(t));
			if (c->kind == MTASTS_TXT_SYNTAX ||
			    c->kind == MTASTS_TXT_RESOLVER)
				CHECK(mtasts_txt_info_why(t)[0] != '\0');
			if (c->fake == FAKE_TXT_RECORD)
				CHECK(mtasts_txt_info_count(t) == 1);
		}
		mtasts_txt_info_free(t);
		fakenet_detach(&f);
		mtasts_ctx_free(ctx);
	}
	mtasts_txt_info_free(NULL);
}

/* What the fetch recorded -> the kind `mtasts check` advises on. */
static void
test_fetch_kind(void)
{
	static const struct {
		int rc;
		const char *type;
		int http, fail_kind;
		long verify;
		int kind;
	} cases[] = {
		{ MTASTS_OK, "", 200, 0, 0, MTASTS_FETCH_OK },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_WEBPKI_INVALID, 0, 0,
		    X509_V_ERR_CERT_HAS_EXPIRED, MTASTS_FETCH_CERT_EXPIRED },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_WEBPKI_INVALID, 0, 0,
		    X509_V_ERR_HOSTNAME_MISMATCH, MTASTS_FETCH_CERT_NAME },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_WEBPKI_INVALID, 0, 0,
		    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
		    MTASTS_FETCH_CERT_OTHER },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR, 301, 0, 0,
		    MTASTS_FETCH_REDIRECT },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR, 404, 0, 0,
		    MTASTS_FETCH_HTTP_STATUS },
		{ MTASTS_INVALID, MTASTS_RT_STS_INVALID, 200,
		    MTASTS_FETCH_TOO_LARGE, 0, MTASTS_FETCH_TOO_LARGE },
		{ MTASTS_INVALID, MTASTS_RT_STS_INVALID, 200,
		    MTASTS_FETCH_MEDIA_TYPE, 0, MTASTS_FETCH_MEDIA_TYPE },
		{ MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR, 0,
		    MTASTS_FETCH_OTHER, 0, MTASTS_FETCH_OTHER },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mtasts_fetch f;

		memset(&f, 0, sizeof(f));
		f.rc = cases[i].rc;
		mtasts_strlcpy(f.result_type, cases[i].type,
		    sizeof(f.result_type));
		f.http_status = cases[i].http;
		f.fail_kind = cases[i].fail_kind;
		f.verify_error = cases[i].verify;
		CHECKF(mtasts_fetch_kind(&f) == cases[i].kind,
		    "case %zu: kind %d", i, mtasts_fetch_kind(&f));
	}
}

static void
put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((f = fopen(p, "w")) != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
count_pending(void *arg, const char *name, int state)
{
	size_t *n = arg;

	(void)name;
	n[state]++;
}

/* Send state files -> sent / retrying / given up (D-MET-4, D-RPT-10). */
static void
test_report_states(void)
{
	char tmpl[] = "/tmp/test_admin.XXXXXX", sdir[256], cmd[300];
	struct mtasts_ctx *ctx = mtasts_ctx_new();
	struct mtasts_error err = { 0, "" };
	size_t st[3] = { 9, 9, 9 }, pend[3] = { 0, 0, 0 };
	char *dir = mkdtemp(tmpl);

	CHECK(dir != NULL && ctx != NULL);
	if (dir == NULL || ctx == NULL)
		return;
	CHECK(mtasts_ctx_set(ctx, "report_dir", dir, &err) == MTASTS_OK);
	/* No state directory yet: no report, not an error. */
	CHECK(mtasts_admin_report_states(ctx, 0, st, NULL, NULL) == 0);
	CHECK(st[0] == 0 && st[1] == 0 && st[2] == 0);
	CHECK(mtasts_admin_report_state_dir(ctx, sdir, sizeof(sdir)) == 0);
	CHECK(mkdir(sdir, 0700) == 0);
	put(sdir, "s!a.example!1700000000!1700086400!x.json.state",
	    "{\"first\":1,\"next\":0,\"attempts\":1,"
	    "\"done\":\"mailto:r@a.example\",\"gave_up\":false}");
	put(sdir, "s!b.example!1700000000!1700086400!x.json.state",
	    "{\"first\":1,\"next\":9,\"attempts\":2,\"gave_up\":false}");
	put(sdir, "s!c.example!1700000000!1700086400!x.json.state",
	    "{\"first\":1,\"next\":0,\"attempts\":9,\"gave_up\":true}");
	put(sdir, "s!d.example!1600000000!1600086400!x.json.state",
	    "{\"gave_up\":true}");		/* before since */
	put(sdir, "junk.state", "{}");		/* not a report's */
	put(sdir, ".s!e.example!1700000000!1!x.json.state", "{}");
	CHECK(mtasts_admin_report_states(ctx, 1699990000, st, count_pending,
	    pend) == 0);
	CHECKF(st[0] == 1 && st[1] == 1 && st[2] == 1, "%zu %zu %zu", st[0],
	    st[1], st[2]);
	CHECK(pend[0] == 0 && pend[1] == 1 && pend[2] == 1);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
	mtasts_ctx_free(ctx);
}

int
main(void)
{
	test_purge_rule();
	test_retry_rule();
	test_txt_discover();
	test_fetch_kind();
	test_report_states();
	return T_DONE();
}
