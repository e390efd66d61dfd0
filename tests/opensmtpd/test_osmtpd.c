/* SPDX-License-Identifier: ISC */
/*
 * test_osmtpd.c - unit tests of the OpenSMTPD adapter's pure parts: the
 * 6.8 proc-table imsg framing (every malformed shape gets a verdict), the
 * relay URL choice and rotation, address domains, and the smtp-out TLS
 * outcome classification.
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "mtasts_admin.h"
#include "internal/cache.h"
#include "internal/util.h"

#include "osmtpd.h"
#include "filter_proto.h"
#include "t.h"
#include "table_proto_imsg.h"

/* A CHECK/LOOKUP payload as smtpd's table_proc_lookup() builds it. */
static size_t
lookup_payload(unsigned char *p, int svc, size_t nparams, const char *key,
    size_t keylen)
{
	memcpy(p, &svc, sizeof(svc));
	memcpy(p + sizeof(svc), &nparams, sizeof(nparams));
	memcpy(p + sizeof(svc) + sizeof(nparams), key, keylen);
	return sizeof(svc) + sizeof(nparams) + keylen;
}

static int
parse1(const unsigned char *b, size_t n, struct mtasts_timsg_req *q,
    size_t *used)
{
	char why[160];

	return mtasts_timsg_parse(b, n, q, used, why, sizeof(why));
}

static void
test_framing(void)
{
	unsigned char pl[MTASTS_TIMSG_MAX], fr[MTASTS_TIMSG_MAX + 64];
	struct mtasts_timsg_req q;
	size_t n, fn, used, i;
	uint32_t v = 2;
	uint16_t len;
	int r;

	/* OPEN: version + name[2048], NUL padded (2052 bytes). */
	memset(pl, 0, sizeof(pl));
	memcpy(pl, &v, 4);
	memcpy(pl + 4, "mtasts", 6);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_OPEN, pl, 2052);
	CHECK(fn == 2068);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_REQ);
	CHECK(used == fn && q.type == MTASTS_TIMSG_OPEN && q.version == 2);
	CHECK(q.str_len == 6 && strcmp(q.str, "mtasts") == 0);
	/* Every strict prefix needs more bytes. */
	for (i = 0; i < fn; i++)
		CHECK(parse1(fr, i, &q, &used) == MTASTS_TIMSG_MORE);
	/* Wrong version, unterminated name. */
	v = 3;
	memcpy(pl, &v, 4);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_OPEN, pl, 2052);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD && used == fn);
	v = 2;
	memcpy(pl, &v, 4);
	memset(pl + 4, 'x', 2048);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_OPEN, pl, 2052);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);

	/* CHECK K_DOMAIN "example.test". */
	n = lookup_payload(pl, MTASTS_TSVC_DOMAIN, 0, "example.test", 13);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_CHECK, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_REQ);
	CHECK(q.service == MTASTS_TSVC_DOMAIN && q.str_len == 12);
	CHECK_STR(q.str, "example.test");
	/* Two frames back to back: the first is consumed alone. */
	memcpy(fr + fn, fr, fn);
	CHECK(parse1(fr, 2 * fn, &q, &used) == MTASTS_TIMSG_REQ && used == fn);
	/* Parameters, missing NUL, inner NUL, empty key, short payload. */
	n = lookup_payload(pl, MTASTS_TSVC_DOMAIN, 1, "a.test", 7);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_LOOKUP, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	n = lookup_payload(pl, MTASTS_TSVC_DOMAIN, 0, "a.test", 6);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_LOOKUP, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	n = lookup_payload(pl, MTASTS_TSVC_DOMAIN, 0, "a\0b.test", 9);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_LOOKUP, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	n = lookup_payload(pl, MTASTS_TSVC_DOMAIN, 0, "", 1);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_LOOKUP, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_REQ && q.str_len == 0);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_CHECK, pl, 5);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	/* Key longer than smtpd can send. */
	memset(pl + 12, 'a', 1500);
	pl[12 + 1500] = '\0';
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_CHECK, pl,
	    12 + 1501);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	/* FETCH: exactly service + nparams. */
	n = lookup_payload(pl, MTASTS_TSVC_RELAYHOST, 0, "", 0);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_FETCH, pl, n);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_REQ);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_FETCH, pl, n + 1);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	/* UPDATE/CLOSE carry nothing; reply types and unknown are BAD. */
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_UPDATE, NULL, 0);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_REQ);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_CLOSE, pl, 1);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	fn = mtasts_timsg_frame(fr, sizeof(fr), MTASTS_TIMSG_OK, NULL, 0);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD);
	fn = mtasts_timsg_frame(fr, sizeof(fr), 0x7fffffff, NULL, 0);
	CHECK(parse1(fr, fn, &q, &used) == MTASTS_TIMSG_BAD && used == 16);
	/* Broken headers: length below 16 or above the maximum. */
	len = 3;
	memcpy(fr + 4, &len, 2);
	CHECK(parse1(fr, 16, &q, &used) == MTASTS_TIMSG_BROKEN && used == 0);
	len = MTASTS_TIMSG_MAX + 1;
	memcpy(fr + 4, &len, 2);
	CHECK(parse1(fr, 16, &q, &used) == MTASTS_TIMSG_BROKEN);
	/* Pseudo-random garbage never reads out of bounds (ASan run). */
	srand(8461);
	for (i = 0; i < 20000; i++) {
		size_t k, m = (size_t)rand() % 64;
		unsigned char *g = malloc(m > 0 ? m : 1);

		for (k = 0; k < m; k++)
			g[k] = (unsigned char)rand();
		if (m >= 6 && (i & 1)) {
			len = (uint16_t)(16 + rand() % 48);
			memcpy(g + 4, &len, 2);
		}
		r = parse1(g, m, &q, &used);
		CHECK(r >= MTASTS_TIMSG_MORE && r <= MTASTS_TIMSG_BROKEN &&
		    used <= m);
		free(g);
	}

	/* Replies: OK + int; OK + int + value; FAIL empty. */
	r = 1;
	fn = mtasts_timsg_reply(fr, sizeof(fr), MTASTS_TIMSG_OK, &r,
	    "smtp+tls://mx.a.test");
	CHECK(fn == 16 + 4 + 21);
	memcpy(&len, fr + 4, 2);
	CHECK(len == fn && memcmp(fr + 20, "smtp+tls://mx.a.test", 21) == 0);
	fn = mtasts_timsg_reply(fr, sizeof(fr), MTASTS_TIMSG_FAIL, NULL, NULL);
	CHECK(fn == 16 && fr[0] == 1);
	CHECK(mtasts_timsg_reply(fr, 10, MTASTS_TIMSG_OK, &r, NULL) == 0);
}

static struct mtasts_policy *
policy(const char *text)
{
	struct mtasts_policy *p = NULL;

	CHECK(mtasts_policy_parse(text, strlen(text), &p, NULL) == MTASTS_OK);
	return p;
}

static void
test_relay_url(void)
{
	static const char *const names[3] = { "rogue.attacker.test",
		"mx1.a.test", "mx2.a.test" };
	static const unsigned prefs[3] = { 5, 10, 20 };
	struct mtasts_mxset *mx = NULL, *imp = NULL, *imp2 = NULL, *nul = NULL;
	struct mtasts_policy *p = policy("version: STSv1\nmode: enforce\n"
	    "mx: mx1.a.test\nmx: *.a.test\nmax_age: 86400\n");
	struct mtasts_policy *q = policy("version: STSv1\nmode: enforce\n"
	    "mx: other.test\nmax_age: 86400\n");
	char url[MTASTS_OSMTPD_URL_MAX + 1], why[160];

	/* The core's MX sets (mtasts_mxset_*), as the resolver makes them. */
	CHECK(mtasts_mxset_build("a.test", MTASTS_OK, names, prefs, 3, &mx,
	    NULL) == MTASTS_OK);
	CHECK(mtasts_mxset_build("mx1.a.test", MTASTS_NOTFOUND, NULL, NULL, 0,
	    &imp, NULL) == MTASTS_OK);
	CHECK(mtasts_mxset_build("a.test", MTASTS_NOTFOUND, NULL, NULL, 0,
	    &imp2, NULL) == MTASTS_OK);
	CHECK(mtasts_mxset_build("a.test", MTASTS_OK, NULL, NULL, 0, &nul,
	    NULL) == MTASTS_OK);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, mx, 0, url, sizeof(url),
	    why, sizeof(why)) == 1);
	CHECKF(strcmp(url, "smtp+tls://mx1.a.test") == 0, "%s", url);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, mx, 1, url, sizeof(url),
	    why, sizeof(why)) == 1);
	CHECKF(strcmp(url, "smtp+tls://mx2.a.test") == 0, "%s", url);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, mx, 2, url, sizeof(url),
	    why, sizeof(why)) == 1);
	/* wraps, never rogue */
	CHECKF(strcmp(url, "smtp+tls://mx1.a.test") == 0, "%s", url);
	/* No policy any more: every MX, opportunistic. */
	CHECK(mtasts_osmtpd_relay_url("a.test", NULL, mx, 0, url, sizeof(url),
	    why, sizeof(why)) == 1);
	CHECKF(strcmp(url, "smtp://rogue.attacker.test") == 0, "%s", url);
	/* Nothing matches: tempfail with a reason. */
	CHECK(mtasts_osmtpd_relay_url("a.test", q, mx, 0, url, sizeof(url),
	    why, sizeof(why)) == 0);
	CHECK(url[0] == '\0' && strstr(why, "matches") != NULL);
	/* Implicit MX: the domain itself, only if the policy lists it. */
	CHECK(mtasts_osmtpd_relay_url("mx1.a.test", p, imp, 7, url,
	    sizeof(url), why, sizeof(why)) == 1);
	CHECKF(strcmp(url, "smtp+tls://mx1.a.test") == 0, "%s", url);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, imp2, 0, url, sizeof(url),
	    why, sizeof(why)) == 0);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, nul, 0, url, sizeof(url),
	    why, sizeof(why)) == 0);
	CHECK(strstr(why, "null MX") != NULL);
	/* Not resolved (yet, or the resolution failed). */
	CHECK(mtasts_osmtpd_relay_url("a.test", p, NULL, 0, url, sizeof(url),
	    why, sizeof(why)) == 0);
	CHECK(mtasts_osmtpd_relay_url("a.test", p, mx, 0, url, 12, why,
	    sizeof(why)) == 0);
	mtasts_mxset_free(mx);
	mtasts_mxset_free(imp);
	mtasts_mxset_free(imp2);
	mtasts_mxset_free(nul);
	mtasts_policy_free(p);
	mtasts_policy_free(q);
}

/* The event stream as facts, classified by the core (D-ENF-2). */
static int
classify(const struct mtasts_osmtpd_tls *s, int verified, const char **rt,
    const char **reason)
{
	struct mtasts_session_facts f;
	int known, t;

	mtasts_osmtpd_facts(s, verified, &f);
	known = mtasts_verdict_classify(&f, 0, &t, reason);
	*rt = mtasts_tlsrpt_type_name(t);
	return known;
}

static void
test_addr_and_tls(void)
{
	struct mtasts_osmtpd_tls s;
	char d[MTASTS_DOMAIN_MAX + 1];
	const char *rt, *why;

	CHECK(mtasts_osmtpd_addr_domain("user@a.test", d, sizeof(d)) == 0);
	CHECKF(strcmp(d, "a.test") == 0, "%s", d);
	CHECK(mtasts_osmtpd_addr_domain("<u@x@b.test>", d, sizeof(d)) == 0);
	CHECKF(strcmp(d, "b.test") == 0, "%s", d);
	CHECK(mtasts_osmtpd_addr_domain("user", d, sizeof(d)) == -1);
	CHECK(mtasts_osmtpd_addr_domain("user@", d, sizeof(d)) == -1);
	CHECK(mtasts_osmtpd_addr_domain(NULL, d, sizeof(d)) == -1);

	/* Verified route, TLS then a transaction: success. */
	memset(&s, 0, sizeof(s));
	mtasts_osmtpd_tls_client(&s, "EHLO me.test");
	mtasts_osmtpd_tls_server(&s, "250-mx hello");
	mtasts_osmtpd_tls_server(&s, "250-STARTTLS");
	mtasts_osmtpd_tls_server(&s, "250 8BITMIME");
	mtasts_osmtpd_tls_client(&s, "STARTTLS");
	CHECK(s.ehlo_reply && s.starttls_adv && s.starttls_sent);
	s.tls = 1;
	s.tx = 1;
	CHECK(classify(&s, 1, &rt, &why) == 1 && rt == NULL && why == NULL);
	CHECK(classify(&s, 0, &rt, &why) == 0);	/* unverified */
	/* Verified route, TLS then hang-up: certificate rejected. */
	s.tx = 0;
	CHECK(classify(&s, 1, &rt, &why) == 1);
	CHECK_STR(rt, MTASTS_RT_VALIDATION_FAILURE);
	CHECK_STR(why, "certificate-check-failed-after-tls-handshake");
	/* STARTTLS answered 220, no TLS (7.x): handshake or verification. */
	s.tls = 0;
	s.starttls_reply = 220;
	CHECK(classify(&s, 1, &rt, &why) == 1);
	CHECK_STR(rt, MTASTS_RT_VALIDATION_FAILURE);
	CHECK_STR(why, "tls-handshake-or-certificate-verification-failed");
	/* STARTTLS refused. */
	s.starttls_reply = 454;
	CHECK(classify(&s, 0, &rt, &why) == 1);
	CHECK_STR(rt, MTASTS_RT_VALIDATION_FAILURE);
	CHECK_STR(why, "starttls-refused");
	/* No STARTTLS offered. */
	memset(&s, 0, sizeof(s));
	mtasts_osmtpd_tls_client(&s, "EHLO me.test");
	mtasts_osmtpd_tls_server(&s, "250-mx hello");
	mtasts_osmtpd_tls_server(&s, "250 STARTTLSX");
	CHECK(!s.starttls_adv);
	CHECK(classify(&s, 0, &rt, &why) == 1);
	CHECK_STR(rt, MTASTS_RT_STARTTLS_NOT_SUPPORTED);
	CHECK_STR(why, "starttls-not-offered-in-ehlo");
	/* Connection failed before EHLO: no TLS outcome. */
	memset(&s, 0, sizeof(s));
	CHECK(classify(&s, 1, &rt, &why) == 0 && rt == NULL);
}

/* The filter protocol line layer (D-OSMTPD-10) and option parsing. */
static int
fparse(const char *text, struct mtasts_fproto_line *l, char *buf, size_t n)
{
	mtasts_strlcpy(buf, text, n);
	return mtasts_fproto_parse(buf, l);
}

static void
test_filter_proto(void)
{
	struct mtasts_fproto_line l;
	char b[512];
	long v;

	CHECK(fparse("config|subsystem|smtp-in", &l, b, sizeof(b)) ==
	    MTASTS_FPROTO_SUBSYS_IN);
	CHECK(fparse("config|ready", &l, b, sizeof(b)) == MTASTS_FPROTO_READY);
	CHECK(fparse("config|admd|x", &l, b, sizeof(b)) ==
	    MTASTS_FPROTO_IGNORE);
	CHECK(fparse("filter|0.6|1.0|smtp-in|rcpt-to|sid|tok|u@a|b.test", &l,
	    b, sizeof(b)) == MTASTS_FPROTO_RCPT);
	CHECK(strcmp(l.sid, "sid") == 0 && strcmp(l.token, "tok") == 0);
	CHECKF(strcmp(l.param, "u@a|b.test") == 0, "%s", l.param);
	CHECK(fparse("filter|0.7|1.0|smtp-in|rcpt-to|s|t|u@a.test", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_RCPT);
	CHECK(fparse("filter|0.6|1.0|smtp-in|data-line|s|t|.", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_OTHER_PHASE);
	CHECK(fparse("filter|0.6|1.0|smtp-in|mail-from|s|t", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_OTHER_PHASE);
	/* versions it does not speak: stop (never answered) */
	CHECK(fparse("filter|9.9|1.0|smtp-in|rcpt-to|s|t|u@a.test", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_VERSION);
	CHECK(fparse("filter|0.5|1.0|smtp-in|rcpt-to|s|t|u@a.test", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_VERSION);
	CHECK(fparse("filter|0.60|1.0|smtp-in|rcpt-to|s|t|u", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_VERSION);
	CHECK(fparse("report|0.6 |1|smtp-out|link-tls|s", &l, b, sizeof(b)) ==
	    MTASTS_FPROTO_VERSION);
	CHECK(fparse("report|1.0", &l, b, sizeof(b)) == MTASTS_FPROTO_VERSION);
	/* known version, malformed */
	CHECK(fparse("filter|", &l, b, sizeof(b)) == MTASTS_FPROTO_MALFORMED);
	CHECK(fparse("filter|0.6|x|smtp-out|rcpt-to|s|t|u", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_MALFORMED);
	CHECK(fparse("filter|0.6|x|smtp-in|rcpt-to||t|u", &l, b, sizeof(b)) ==
	    MTASTS_FPROTO_MALFORMED);
	CHECK(fparse("report|0.6", &l, b, sizeof(b)) ==
	    MTASTS_FPROTO_MALFORMED);
	CHECK(fparse("report|0.6|1|smtp-out|link-disconnect|s1", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_REPORT_OUT);
	CHECK(l.nf == 6 && strcmp(l.f[5], "s1") == 0);
	CHECK(fparse("report|0.6|1|smtp-in|link-connect|s1", &l, b,
	    sizeof(b)) == MTASTS_FPROTO_IGNORE);
	CHECK(fparse("", &l, b, sizeof(b)) == MTASTS_FPROTO_IGNORE);

	CHECK(mtasts_fproto_parse_long("4", 1, 64, &v) == 0 && v == 4);
	CHECK(mtasts_fproto_parse_long("64", 1, 64, &v) == 0 && v == 64);
	CHECK(mtasts_fproto_parse_long("4garbage", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("65", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("0", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("-1", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("+4", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long(" 4", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("", 1, 64, &v) == -1);
	CHECK(mtasts_fproto_parse_long("99999999999999999999", 1, 64, &v) ==
	    -1);
	CHECK(mtasts_fproto_parse_long(NULL, 1, 64, &v) == -1);
}

int
main(void)
{
	test_framing();
	test_relay_url();
	test_addr_and_tls();
	test_filter_proto();
	return T_DONE();
}
