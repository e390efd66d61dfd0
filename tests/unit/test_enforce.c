/* SPDX-License-Identifier: ISC */
/*
 * test_enforce - the core's decisions as tables (common/enforce.c,
 * common/mxset.c, decisions.md D-ENF-1, D-ENF-2):
 *   - the verdict: mode x MX match x TLS facts -> action, RFC 8460 result
 *     type, enhanced status code;
 *   - the classification of neutral session facts (Exim's and
 *     OpenSMTPD's translations feed these);
 *   - "before connecting": which mode applies, the RFC 8461 §3.4
 *     address-literal rule, tempfail and lookup errors;
 *   - MX sets: implicit MX, null MX, the policy filter;
 *   - the public result-type enum and its names.
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/base.h"
#include "internal/lookup.h"
#include "internal/report.h"
#include "internal/util.h"

#include "t.h"

#define NOW 1800000000LL

enum pol { P_NOPOLICY, P_NONE, P_TESTING, P_ENFORCE, P_TEMPFAIL };

static struct mtasts_result *
result(enum pol k)
{
	static const char *const modes[] = { NULL, "none", "testing",
		"enforce", NULL };
	struct mtasts_result *r = calloc(1, sizeof(*r));
	char body[256];

	CHECK(r != NULL);
	if (r == NULL)
		return NULL;
	mtasts_strlcpy(r->domain, "a.test", sizeof(r->domain));
	r->status = k == P_NOPOLICY ? MTASTS_LOOKUP_NONE : k == P_TEMPFAIL ?
	    MTASTS_LOOKUP_TEMPFAIL : MTASTS_LOOKUP_POLICY;
	if (k == P_TEMPFAIL) {
		mtasts_strlcpy(r->failure_type, MTASTS_RT_STS_FETCH_ERROR,
		    sizeof(r->failure_type));
		mtasts_strlcpy(r->failure_reason, "HTTPS: connection refused",
		    sizeof(r->failure_reason));
	}
	if (modes[k] != NULL) {
		snprintf(body, sizeof(body), "version: STSv1\nmode: %s\n"
		    "mx: mx1.a.test\nmx: *.b.test\nmax_age: 86400\n",
		    modes[k]);
		CHECK(mtasts_policy_parse(body, strlen(body), &r->policy,
		    NULL) == MTASTS_OK);
		r->expires = (time_t)NOW + 86400;
	}
	return r;
}

/* TLS facts, named for the table. */
enum tls {
	T_NONE,		/* connected, nothing judged yet */
	T_OK,		/* TLS up, certificate verified */
	T_NOSTARTTLS,	/* EHLO without STARTTLS */
	T_REFUSED,	/* STARTTLS answered 454 */
	T_HANDSHAKE,	/* STARTTLS 220, no TLS (OpenSMTPD 7.x) */
	T_EXPIRED,	/* "not verified": expired leaf */
	T_SELFSIGNED,	/* "not verified": names fine, chain not */
	T_WRONGNAME,	/* "not verified": no DNS-ID names the host */
	T_NOCERT,	/* "not verified", no certificate seen */
	T_AFTER,	/* TLS up, the MTA's check failed, reason unknown */
	T_UNVERIFIED,	/* TLS up, no verification verdict */
	T_DANE_OK,
	T_DANE_FAIL
};

static void
facts(struct mtasts_session_facts *f, const char *host, int literal,
    enum tls t)
{
	memset(f, 0, sizeof(*f));
	f->mx_host = host;
	f->mx_literal = literal;
	switch (t) {
	case T_NONE:
		break;
	case T_OK:
		f->starttls = MTASTS_STARTTLS_OFFERED;
		f->tls = MTASTS_TLS_UP;
		f->cert = MTASTS_CERT_OK;
		break;
	case T_NOSTARTTLS:
		f->starttls = MTASTS_STARTTLS_NOT_OFFERED;
		break;
	case T_REFUSED:
		f->starttls = MTASTS_STARTTLS_REFUSED;
		break;
	case T_HANDSHAKE:
		f->starttls = MTASTS_STARTTLS_OFFERED;
		f->tls = MTASTS_TLS_FAILED;
		break;
	case T_EXPIRED:
	case T_SELFSIGNED:
	case T_WRONGNAME:
	case T_NOCERT:
		f->tls = MTASTS_TLS_UP;
		f->cert = MTASTS_CERT_FAILED;
		f->cert_seen = t != T_NOCERT;
		f->cert_notafter = t == T_EXPIRED ? NOW - 10 : NOW + 1000;
		f->cert_names = t == T_WRONGNAME ?
		    "DNS=other.test\nIP=1.2.3.4" :
		    "DNS=x.test;DNS=mx1.a.test, DNS=mx2.b.test";
		break;
	case T_AFTER:
		f->tls = MTASTS_TLS_UP;
		f->cert = MTASTS_CERT_OTHER;
		break;
	case T_UNVERIFIED:
		f->tls = MTASTS_TLS_UP;
		break;
	case T_DANE_OK:
		f->tls = MTASTS_TLS_UP;
		f->dane = MTASTS_DANE_OK;
		break;
	case T_DANE_FAIL:
		f->dane = MTASTS_DANE_NO_MATCH;
		break;
	}
}

#define D MTASTS_VERDICT_DELIVER
#define DR MTASTS_VERDICT_DELIVER_REPORT
#define SK MTASTS_VERDICT_SKIP_HOST
#define OK_ MTASTS_TLSRPT_NONE
#define VF MTASTS_TLSRPT_VALIDATION_FAILURE
#define NS MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED
#define EX MTASTS_TLSRPT_CERT_EXPIRED
#define NT MTASTS_TLSRPT_CERT_NOT_TRUSTED
#define HM MTASTS_TLSRPT_CERT_HOST_MISMATCH
#define TI MTASTS_TLSRPT_TLSA_INVALID

struct vcase {
	enum pol pol;
	const char *host;	/* mx1.a.test, x.b.test match; others not */
	int literal;
	enum tls tls;
	int known;
	int action;
	int type;
	const char *status;
	const char *reason;	/* NULL: not checked */
};

static const struct vcase vcases[] = {
	/* enforce: policy MX */
	{ P_ENFORCE, "mx1.a.test", 0, T_NONE, 0, D, OK_, "", "" },
	{ P_ENFORCE, "mx1.a.test", 0, T_OK, 1, D, OK_, "", "" },
	{ P_ENFORCE, "x.b.test", 0, T_OK, 1, D, OK_, "", NULL },
	{ P_ENFORCE, "mx1.a.test", 0, T_NOSTARTTLS, 1, SK, NS, "4.7.4",
	    "starttls-not-offered-in-ehlo" },
	{ P_ENFORCE, "mx1.a.test", 0, T_REFUSED, 1, SK, VF, "4.7.5",
	    "starttls-refused" },
	{ P_ENFORCE, "mx1.a.test", 0, T_HANDSHAKE, 1, SK, VF, "4.7.5",
	    "tls-handshake-or-certificate-verification-failed" },
	{ P_ENFORCE, "mx1.a.test", 0, T_EXPIRED, 1, SK, EX, "4.7.5", NULL },
	{ P_ENFORCE, "mx1.a.test", 0, T_SELFSIGNED, 1, SK, NT, "4.7.5", NULL },
	{ P_ENFORCE, "mx1.a.test", 0, T_WRONGNAME, 1, SK, HM, "4.7.5", NULL },
	{ P_ENFORCE, "mx1.a.test", 0, T_NOCERT, 1, SK, VF, "4.7.5", NULL },
	{ P_ENFORCE, "mx1.a.test", 0, T_AFTER, 1, SK, VF, "4.7.5",
	    "certificate-check-failed-after-tls-handshake" },
	{ P_ENFORCE, "mx1.a.test", 0, T_UNVERIFIED, 0, D, OK_, "", NULL },
	/* enforce: MX not in the policy (§4.1), whatever the TLS */
	{ P_ENFORCE, "rogue.test", 0, T_NONE, 1, SK, VF, "4.7.5",
	    "mx-mismatch: MX host not in the policy" },
	{ P_ENFORCE, "rogue.test", 0, T_OK, 1, SK, VF, "4.7.5", NULL },
	{ P_ENFORCE, "a.b.b.test", 0, T_OK, 1, SK, VF, "4.7.5", NULL },
	/* an address literal matches no pattern */
	{ P_ENFORCE, "mx1.a.test", 1, T_OK, 1, SK, VF, "4.7.5", NULL },
	/* DANE decides first and is never overridden (RFC 8461 §2) */
	{ P_ENFORCE, "rogue.test", 0, T_DANE_OK, 1, D, OK_, "", NULL },
	{ P_NOPOLICY, "rogue.test", 0, T_DANE_FAIL, 1, SK, TI, "4.7.5",
	    NULL },
	/* testing: deliver, report the failure */
	{ P_TESTING, "mx1.a.test", 0, T_OK, 1, D, OK_, "", NULL },
	{ P_TESTING, "mx1.a.test", 0, T_NOSTARTTLS, 1, DR, NS, "", NULL },
	{ P_TESTING, "mx1.a.test", 0, T_EXPIRED, 1, DR, EX, "", NULL },
	{ P_TESTING, "rogue.test", 0, T_NONE, 1, DR, VF, "", NULL },
	/* mode none and no policy: deliver; the outcome is still known */
	{ P_NONE, "rogue.test", 0, T_NONE, 0, D, OK_, "", NULL },
	{ P_NONE, "mx1.a.test", 0, T_NOSTARTTLS, 1, D, NS, "", NULL },
	{ P_NOPOLICY, "rogue.test", 0, T_EXPIRED, 1, D, EX, "", NULL },
	{ P_NOPOLICY, "rogue.test", 0, T_OK, 1, D, OK_, "", NULL },
	/* a tempfail result has no mode: no MX rule at the session */
	{ P_TEMPFAIL, "rogue.test", 0, T_NONE, 0, D, OK_, "", NULL },
};

static void
test_verdicts(void)
{
	struct mtasts_session_facts f;
	struct mtasts_verdict v;
	struct mtasts_result *r;
	size_t i;

	for (i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
		const struct vcase *c = &vcases[i];

		r = result(c->pol);
		facts(&f, c->host, c->literal, c->tls);
		CHECKF(mtasts_verdict_session(r, &f, NOW, &v) == c->known,
		    "case %zu", i);
		CHECKF(v.known == c->known && v.action == c->action &&
		    v.type == c->type, "case %zu: known %d action %d type %d",
		    i, v.known, v.action, v.type);
		CHECKF(strcmp(v.status, c->status) == 0, "case %zu: \"%s\"", i,
		    v.status);
		if (c->reason != NULL)
			CHECKF(strcmp(v.reason, c->reason) == 0,
			    "case %zu: \"%s\"", i, v.reason);
		mtasts_result_free(r);
	}
	/* The MTA's own words win as the reason. */
	facts(&f, "mx1.a.test", 0, T_NOSTARTTLS);
	f.detail = "STARTTLS not offered";
	CHECK(mtasts_verdict_session(NULL, &f, NOW, &v) == 1);
	CHECK(strcmp(v.reason, "STARTTLS not offered") == 0);
}

/* Classification alone, incl. the DANE mapping (D-DANE-3). */
struct ccase {
	int dane, starttls, tls, cert, seen;
	long long notafter;
	const char *names;
	int known, type;
};

static const struct ccase ccases[] = {
	{ MTASTS_DANE_OK, 0, 0, 0, 0, 0, NULL, 1, OK_ },
	{ MTASTS_DANE_NO_MATCH, 0, 0, 0, 0, 0, NULL, 1, TI },
	{ MTASTS_DANE_DNSSEC_INVALID, 0, 0, 0, 0, 0, NULL, 1,
	    MTASTS_TLSRPT_DNSSEC_INVALID },
	{ MTASTS_DANE_REQUIRED, 0, 0, 0, 0, 0, NULL, 1,
	    MTASTS_TLSRPT_DANE_REQUIRED },
	{ MTASTS_DANE_OTHER, 0, 0, 0, 0, 0, NULL, 1, VF },
	/* the MTA classified the certificate itself */
	{ 0, 0, MTASTS_TLS_UP, MTASTS_CERT_EXPIRED, 0, 0, NULL, 1, EX },
	{ 0, 0, MTASTS_TLS_UP, MTASTS_CERT_UNTRUSTED, 0, 0, NULL, 1, NT },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_NAME_MISMATCH, 0, 0, NULL, 1,
	    HM },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_OTHER, 0, 0, NULL, 1, VF },
	/* "failed": the core judges from what was seen */
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_FAILED, 1, NOW - 1, "", 1, EX },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_FAILED, 1, 0, "mx.test", 1,
	    NT },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_FAILED, 1, 0, "*.test", 1, NT },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_FAILED, 1, 0, "IP=mx.test", 1,
	    HM },
	{ 0, 0, MTASTS_TLS_FAILED, MTASTS_CERT_FAILED, 1, 0, NULL, 1, HM },
	/* nothing judged yet */
	{ 0, MTASTS_STARTTLS_OFFERED, 0, 0, 0, 0, NULL, 0, OK_ },
	{ 0, 0, 0, 0, 0, 0, NULL, 0, OK_ },
};

static void
test_classify(void)
{
	struct mtasts_session_facts f;
	const char *reason;
	size_t i;
	int type;

	for (i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
		const struct ccase *c = &ccases[i];

		memset(&f, 0, sizeof(f));
		f.mx_host = "mx.test";
		f.dane = c->dane;
		f.starttls = c->starttls;
		f.tls = c->tls;
		f.cert = c->cert;
		f.cert_seen = c->seen;
		f.cert_notafter = c->notafter;
		f.cert_names = c->names;
		CHECKF(mtasts_verdict_classify(&f, NOW, &type, &reason) ==
		    c->known && type == c->type, "case %zu: type %d", i, type);
		CHECKF(c->known ? (type == OK_) == (reason == NULL) :
		    reason == NULL, "case %zu", i);
	}
}

/* "Before connecting": the one mode question. */
static void
test_mode(void)
{
	struct mtasts_verdict v;
	struct mtasts_result *r;
	char n[MTASTS_DOMAIN_MAX + 1];

	/* RFC 8461 §3.4: address literals have no policy, before lookup. */
	CHECK(mtasts_enforce_policy_domain("[192.0.2.1]", n) ==
	    MTASTS_NOTFOUND && n[0] == '\0');
	CHECK(mtasts_enforce_policy_domain("[IPv6:2001:db8::1]", n) ==
	    MTASTS_NOTFOUND);
	CHECK(mtasts_enforce_policy_domain("bad_name.test", n) ==
	    MTASTS_NOTFOUND);
	CHECK(mtasts_enforce_policy_domain("", n) == MTASTS_INVALID);
	CHECK(mtasts_enforce_policy_domain(NULL, n) == MTASTS_INVALID);
	CHECK(mtasts_enforce_policy_domain("A.Test.", n) == MTASTS_OK);
	CHECK(strcmp(n, "a.test") == 0);
	CHECK(mtasts_enforce_mode("[192.0.2.1]", MTASTS_ERROR, NULL, &v) ==
	    MTASTS_ENFORCE_NONE && v.action == D);
	/* Local trouble is never "no policy". */
	CHECK(mtasts_enforce_mode("a.test", MTASTS_ERROR, NULL, &v) ==
	    MTASTS_ENFORCE_ERROR);
	CHECK(v.action == MTASTS_VERDICT_DEFER);
	CHECK(strcmp(v.status, "4.7.0") == 0);
	CHECK(mtasts_enforce_mode(NULL, MTASTS_INVALID, NULL, NULL) ==
	    MTASTS_ENFORCE_ERROR);
	r = result(P_TEMPFAIL);
	CHECK(mtasts_enforce_mode("a.test", MTASTS_OK, r, &v) ==
	    MTASTS_ENFORCE_TEMPFAIL);
	CHECK(v.action == MTASTS_VERDICT_DEFER &&
	    v.type == MTASTS_TLSRPT_STS_FETCH_ERROR);
	CHECK(strcmp(v.status, "4.7.0") == 0);
	CHECKF(strcmp(v.reason, "policy of a.test not available: HTTPS: "
	    "connection refused") == 0, "%s", v.reason);
	mtasts_result_free(r);
	r = result(P_ENFORCE);
	CHECK(mtasts_enforce_mode("a.test", MTASTS_OK, r, &v) ==
	    MTASTS_ENFORCE_ENFORCE && v.action == D);
	mtasts_result_free(r);
	r = result(P_TESTING);
	CHECK(mtasts_enforce_mode("a.test", MTASTS_OK, r, NULL) ==
	    MTASTS_ENFORCE_TESTING);
	mtasts_result_free(r);
	r = result(P_NONE);
	CHECK(mtasts_enforce_mode("a.test", MTASTS_OK, r, NULL) ==
	    MTASTS_ENFORCE_NONE);
	mtasts_result_free(r);
	r = result(P_NOPOLICY);
	CHECK(mtasts_enforce_mode("a.test", MTASTS_OK, r, NULL) ==
	    MTASTS_ENFORCE_NONE);
	mtasts_result_free(r);
	CHECK_STR(mtasts_enforce_mode_name(MTASTS_ENFORCE_TEMPFAIL),
	    "tempfail");
	CHECK_STR(mtasts_enforce_mode_name(MTASTS_ENFORCE_ERROR), "error");
	CHECK_STR(mtasts_enforce_mode_name(99), "error");
}

/* MX sets: implicit, null, list, and the policy filter. */
struct mxcase {
	const char *domain;
	int rc;			/* the MX answer */
	const char *hosts[4];
	size_t n;
	int want_rc, kind;
	size_t count;
	enum pol pol;		/* the filter */
	size_t allowed;
	const char *first_allowed;
};

static const struct mxcase mxcases[] = {
	{ "a.test", MTASTS_OK, { "mx1.a.test", "rogue.test", "x.b.test" }, 3,
	    MTASTS_OK, MTASTS_MXSET_LIST, 3, P_ENFORCE, 2, "mx1.a.test" },
	{ "a.test", MTASTS_OK, { "rogue.test", "x.b.test." }, 2,
	    MTASTS_OK, MTASTS_MXSET_LIST, 2, P_TESTING, 1, "x.b.test" },
	{ "a.test", MTASTS_OK, { "rogue.test", "MX1.A.TEST" }, 2,
	    MTASTS_OK, MTASTS_MXSET_LIST, 2, P_NOPOLICY, 2, "rogue.test" },
	{ "a.test", MTASTS_OK, { "rogue.test" }, 1, MTASTS_OK,
	    MTASTS_MXSET_LIST, 1, P_ENFORCE, 0, NULL },
	/* RFC 5321 §5.1 implicit MX, still filtered by the policy */
	{ "mx1.a.test", MTASTS_NOTFOUND, { NULL }, 0, MTASTS_OK,
	    MTASTS_MXSET_IMPLICIT, 1, P_ENFORCE, 1, "mx1.a.test" },
	{ "a.test", MTASTS_NOTFOUND, { NULL }, 0, MTASTS_OK,
	    MTASTS_MXSET_IMPLICIT, 1, P_ENFORCE, 0, NULL },
	/* RFC 7505 null MX */
	{ "a.test", MTASTS_OK, { NULL }, 0, MTASTS_OK, MTASTS_MXSET_NULL, 0,
	    P_NOPOLICY, 0, NULL },
	/* unusable targets are skipped; none usable is INVALID */
	{ "a.test", MTASTS_OK, { "bad_name", "mx1.a.test" }, 2, MTASTS_OK,
	    MTASTS_MXSET_LIST, 1, P_ENFORCE, 1, "mx1.a.test" },
	{ "a.test", MTASTS_OK, { "bad_name", "" }, 2, MTASTS_INVALID, 0, 0,
	    P_ENFORCE, 0, NULL },
	/* a DNS failure is passed on, never an empty set */
	{ "a.test", MTASTS_TEMPFAIL, { NULL }, 0, MTASTS_TEMPFAIL, 0, 0,
	    P_ENFORCE, 0, NULL },
};

static void
test_mxset(void)
{
	static const unsigned prefs[4] = { 10, 20, 30, 40 };
	struct mtasts_mxset *s;
	struct mtasts_result *r;
	char why[160];
	size_t i, k;

	for (i = 0; i < sizeof(mxcases) / sizeof(mxcases[0]); i++) {
		const struct mxcase *c = &mxcases[i];

		CHECKF(mtasts_mxset_build(c->domain, c->rc, c->hosts, prefs,
		    c->n, &s, NULL) == c->want_rc, "case %zu", i);
		if (c->want_rc != MTASTS_OK) {
			CHECK(s == NULL);
			continue;
		}
		r = result(c->pol);
		CHECKF(mtasts_mxset_kind(s) == c->kind &&
		    mtasts_mxset_count(s) == c->count, "case %zu", i);
		k = mtasts_mxset_explain(s, r->policy, why, sizeof(why));
		CHECKF(k == c->allowed && mtasts_mxset_allowed(s, r->policy) ==
		    c->allowed, "case %zu: %zu", i, k);
		CHECKF((k == 0) == (why[0] != '\0'), "case %zu: %s", i, why);
		if (c->first_allowed != NULL)
			CHECK_STR(mtasts_mxset_allowed_host(s, r->policy, 0),
			    c->first_allowed);
		CHECK(mtasts_mxset_allowed_host(s, r->policy, c->allowed) ==
		    NULL);
		mtasts_result_free(r);
		mtasts_mxset_free(s);
	}
	CHECK(mtasts_mxset_build("a.test", MTASTS_NOTFOUND, NULL, NULL, 0, &s,
	    NULL) == MTASTS_OK);
	CHECK_STR(mtasts_mxset_host(s, 0), "a.test");
	CHECK(mtasts_mxset_pref(s, 0) == 0 && mtasts_mxset_host(s, 1) == NULL);
	mtasts_mxset_free(s);
	CHECK(mtasts_mxset_build("a.test", MTASTS_OK, NULL, NULL, 0, &s,
	    NULL) == MTASTS_OK);
	(void)mtasts_mxset_explain(s, NULL, why, sizeof(why));
	CHECKF(strcmp(why, "a.test accepts no mail (null MX)") == 0, "%s", why);
	mtasts_mxset_free(s);
	mtasts_mxset_free(NULL);
}

static void
test_types(void)
{
	int t;

	CHECK(mtasts_tlsrpt_type_name(MTASTS_TLSRPT_NONE) == NULL);
	CHECK(mtasts_tlsrpt_type_name(MTASTS_TLSRPT_TYPES) == NULL);
	CHECK_STR(mtasts_tlsrpt_type_name(MTASTS_TLSRPT_CERT_EXPIRED),
	    "certificate-expired");
	for (t = 0; t < MTASTS_TLSRPT_TYPES; t++) {
		CHECK(mtasts_tlsrpt_type_parse(mtasts_tlsrpt_type_name(t)) ==
		    t);
		CHECK_STR(mtasts_tlsrpt_result_type_name((size_t)t),
		    mtasts_tlsrpt_type_name(t));
	}
	CHECK(mtasts_tlsrpt_type_parse(NULL) == MTASTS_TLSRPT_NONE);
	CHECK(mtasts_tlsrpt_type_parse("certificate-Expired") ==
	    MTASTS_TLSRPT_UNKNOWN);
	CHECK(mtasts_tlsrpt_result_type_index("nope") == -1);
	CHECK(mtasts_tlsrpt_result_type_count() == MTASTS_TLSRPT_TYPES);
}

int
main(void)
{
	test_verdicts();
	test_classify();
	test_mode();
	test_mxset();
	test_types();
	return T_DONE();
}
