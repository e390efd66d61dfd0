/* SPDX-License-Identifier: ISC */
/*
 * check.c - `mtasts check [--json] [--no-smtp] [--port N] [--timeout S]
 * DOMAIN...`: a deployment checker that says why a domain's MTA-STS or
 * TLS-RPT set-up fails and whose fault it is.
 *
 * Every verdict comes from the core the MTAs use (TXT selection, policy
 * parser, MX matching, the HTTPS fetch, the DNS layer, the cache reader),
 * so the checker and the enforcer cannot disagree; this file only runs
 * them and explains. It never writes the policy cache.
 *
 * Exit status: 0 all ok, 1 warnings, 2 failures, 3 could not check
 * (DNS trouble, unreachable hosts, usage errors).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <pwd.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_admin.h"

#define DAY 86400
/* Warn when a certificate expires sooner than this (days). */
#define CHECK_CERT_WARN_DAYS 14
/* MX hosts probed per domain (each in its own thread). */
#define CHECK_MX_MAX 32
#define CHECK_CHECKS_MAX (8 + CHECK_MX_MAX)
#define CHECK_MSG_MAX 512
#define CHECK_DEFAULT_TIMEOUT 10
#define CHECK_PATH_MAX 1024	/* mtasts.conf paths */
#define CHECK_REASON_MAX 160

enum cst {
	ST_OK = 0,
	ST_SKIP,
	ST_WARN,
	ST_ERROR,	/* could not check */
	ST_FAIL
};

static const char *const st_names[] = { "ok", "skip", "warn", "error",
	"fail" };

struct check {
	const char *name;
	char target[MTASTS_DOMAIN_MAX + 1];
	int status;
	char msg[CHECK_MSG_MAX];
	char fix[CHECK_MSG_MAX];
	json_t *data;
};

struct opts {
	int json;
	int smtp;
	int port;
	int timeout_s;
};

/* Everything learnt about one domain, shared between the checks. */
struct dom {
	char name[MTASTS_DOMAIN_MAX + 1];
	struct check c[CHECK_CHECKS_MAX];
	size_t n;
	int have_id;
	char id[MTASTS_ID_MAX + 1];
	struct mtasts_fetch_info *f;	/* rc == MTASTS_OK: body present */
	int fetched;
	struct mtasts_policy *pol;
	int mx_state;			/* 0 unknown, 1 list, 2 implicit */
	struct {
		unsigned pref;
		char name[MTASTS_DOMAIN_MAX + 1];
	} *mx;
	size_t nmx;
};

static struct check *
add_check(struct dom *d, const char *name, const char *target)
{
	struct check *c;

	if (d->n == CHECK_CHECKS_MAX)
		d->n--;		/* cannot happen: CHECK_MX_MAX bounds it */
	c = &d->c[d->n++];
	memset(c, 0, sizeof(*c));
	c->name = name;
	if (target != NULL)
		mtasts_strlcpy(c->target, target, sizeof(c->target));
	c->data = json_object();
	return c;
}

static void set_st(struct check *c, int st, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Append "; s" to buf (or set it when empty), truncating at its end. */
static void
append(char *buf, size_t size, const char *s)
{
	size_t l = strlen(buf);

	if (s[0] == '\0')
		return;
	if (l > 0 && l + 2 < size) {
		buf[l++] = ';';
		buf[l++] = ' ';
		buf[l] = '\0';
	}
	mtasts_strlcpy(buf + l, s, size - l);
}

/*
 * Set status, message and fix: a worse status replaces what was there,
 * an equal one adds its message and fix (several findings of one rank).
 */
static void
set_st(struct check *c, int st, const char *fix, const char *fmt, ...)
{
	va_list ap;
	char m[CHECK_MSG_MAX];

	va_start(ap, fmt);
	if (vsnprintf(m, sizeof(m), fmt, ap) < 0)
		m[0] = '\0';
	va_end(ap);
	if (c->msg[0] == '\0' || st > c->status) {
		c->status = st;
		mtasts_strlcpy(c->msg, m, sizeof(c->msg));
		mtasts_strlcpy(c->fix, fix != NULL ? fix : "", sizeof(c->fix));
	} else if (st == c->status) {
		append(c->msg, sizeof(c->msg), m);
		append(c->fix, sizeof(c->fix), fix != NULL ? fix : "");
	}
}

static void
jset_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v != NULL ? json_string(v) : json_null());
}

static void
jset_int(json_t *o, const char *k, long long v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void
fmt_time(time_t t, char *out, size_t size)
{
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		mtasts_strlcpy(out, "-", size);
}

/* ---- 1. _mta-sts TXT ---- */

/* The core's discovery (mtasts_admin_txt_discover), explained. */
static void
check_txt(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "txt", NULL);
	struct mtasts_txt_info *t = NULL;
	struct mtasts_error err = { 0, "" };
	const char *qname, *cname, *why;
	size_t n, i, len;
	json_t *arr;

	if (mtasts_admin_txt_discover(ctx, d->name, &t, &err) != MTASTS_OK) {
		set_st(c, ST_ERROR, "check the resolver setting of mtasts.conf",
		    "_mta-sts.%s: %s", d->name, err.text);
		return;
	}
	qname = mtasts_txt_info_qname(t);
	cname = mtasts_txt_info_cname(t);
	why = mtasts_txt_info_why(t);
	n = mtasts_txt_info_count(t);
	jset_str(c->data, "name", qname);
	if (mtasts_txt_info_dnssec(t) != NULL)
		jset_str(c->data, "dnssec", mtasts_txt_info_dnssec(t));
	if (cname != NULL) {
		arr = json_array();
		json_array_append_new(arr, json_string(qname));
		json_array_append_new(arr, json_string(cname));
		json_object_set_new(c->data, "cname_chain", arr);
	}
	/* The records, when the RRset could be decoded. */
	if (mtasts_txt_info_kind(t) == MTASTS_TXT_FOUND ||
	    mtasts_txt_info_kind(t) >= MTASTS_TXT_NO_STS) {
		arr = json_array();
		for (i = 0; i < n; i++) {
			const char *rec = mtasts_txt_info_record(t, i, &len);

			json_array_append_new(arr, json_stringn(rec, len));
		}
		json_object_set_new(c->data, "records", arr);
	}
	switch (mtasts_txt_info_kind(t)) {
	case MTASTS_TXT_RESOLVER:
		set_st(c, ST_ERROR, "check the resolver setting of mtasts.conf",
		    "%s: %s", qname, why);
		break;
	case MTASTS_TXT_NXDOMAIN:
	case MTASTS_TXT_NODATA:
		set_st(c, ST_FAIL, "publish _mta-sts.<domain> TXT "
		    "\"v=STSv1; id=<YYYYMMDDhhmmss>\"",
		    "%s: %s: compliant senders do not use MTA-STS for %s",
		    qname, mtasts_txt_info_kind(t) == MTASTS_TXT_NXDOMAIN ?
		    "NXDOMAIN" : "no TXT record", d->name);
		break;
	case MTASTS_TXT_BOGUS:
		set_st(c, ST_FAIL, "repair the zone's DNSSEC signatures or DS "
		    "record", "%s: DNSSEC validation failed (dnssec-invalid): "
		    "%s", qname, why);
		break;
	case MTASTS_TXT_DNS_FAILED:
		set_st(c, ST_ERROR, "make the domain's name servers answer "
		    "(senders defer or skip MTA-STS meanwhile)",
		    "%s: DNS lookup failed: %s", qname, why);
		break;
	case MTASTS_TXT_MALFORMED:
		set_st(c, ST_FAIL, "republish the record as plain TXT "
		    "strings", "%s: malformed or oversized TXT RRset", qname);
		break;
	case MTASTS_TXT_FOUND:
		mtasts_strlcpy(d->id, mtasts_txt_info_id(t), sizeof(d->id));
		d->have_id = 1;
		jset_str(c->data, "id", d->id);
		set_st(c, ST_OK, NULL, "%s: v=STSv1, id=%s (DNSSEC %s%s%s)",
		    qname, d->id, mtasts_txt_info_dnssec(t),
		    cname != NULL ? ", via CNAME " : "",
		    cname != NULL ? cname : "");
		break;
	case MTASTS_TXT_NO_STS: {
		const char *hint = "publish \"v=STSv1; id=...\" (the ';' "
		    "after v=STSv1 is required)";
		long k = mtasts_txt_info_lookalike(t);

		if (k >= 0)
			set_st(c, ST_FAIL, hint, "%s: \"%.80s\" is not an STS "
			    "record: it must begin with \"v=STSv1;\"", qname,
			    mtasts_txt_info_record(t, (size_t)k, &len));
		else
			set_st(c, ST_FAIL, hint, "%s: %zu TXT record(s), none "
			    "begins with \"v=STSv1;\"", qname, n);
		break;
	}
	case MTASTS_TXT_MULTIPLE:
		set_st(c, ST_FAIL, "keep exactly one v=STSv1 record",
		    "%s: %s: senders ignore all of them", qname, why);
		break;
	default:
		set_st(c, ST_FAIL, "fix the record syntax (RFC 8461 §3.1)",
		    "%s: %s", qname, why);
		break;
	}
	mtasts_txt_info_free(t);
}

/* ---- 2. policy host ---- */

static const char *
webpki_fix(int kind)
{
	if (kind == MTASTS_FETCH_CERT_EXPIRED)
		return "renew the certificate of the policy host";
	if (kind == MTASTS_FETCH_CERT_NAME)
		return "the certificate must list mta-sts.<domain> as a DNS "
		    "subjectAltName";
	return "use a certificate from a publicly trusted CA for "
	    "mta-sts.<domain>, with its intermediates";
}

static void
check_host(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "policy-host", NULL);
	struct mtasts_error err = { 0, "" };
	struct mtasts_fetch_info *f;
	char host[MTASTS_DOMAIN_MAX + 16], url[MTASTS_DOMAIN_MAX + 64];
	const char *addr, *tlsv, *ctype, *loc, *rtype, *reason;
	char na[32];
	size_t blen = 0;
	long days = 0;
	time_t not_after;
	int rc, kind, http;

	snprintf(host, sizeof(host), "mta-sts.%s", d->name);
	snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt",
	    host);
	jset_str(c->data, "host", host);
	jset_str(c->data, "url", url);
	/* The lookup's own fetch, with the details kept (the core's). */
	rc = mtasts_admin_policy_fetch(ctx, d->name, &d->f, &err);
	if (rc == MTASTS_NOTFOUND) {
		set_st(c, ST_FAIL, "publish an A/AAAA record for "
		    "mta-sts.<domain> (the HTTPS policy server)",
		    "%s does not resolve (no A/AAAA record)", host);
		return;
	}
	if (rc != MTASTS_OK) {
		set_st(c, ST_ERROR, "make the domain's name servers answer",
		    "%s: address lookup failed: %s", host, err.text);
		return;
	}
	f = d->f;
	jset_int(c->data, "addresses",
	    (long long)mtasts_fetch_info_addresses(f));
	d->fetched = 1;
	addr = mtasts_fetch_info_addr(f);
	tlsv = mtasts_fetch_info_tls_version(f);
	ctype = mtasts_fetch_info_content_type(f);
	loc = mtasts_fetch_info_location(f);
	rtype = mtasts_fetch_info_result_type(f);
	reason = mtasts_fetch_info_reason(f);
	http = mtasts_fetch_info_http_status(f);
	not_after = mtasts_fetch_info_cert_not_after(f);
	(void)mtasts_fetch_info_body(f, &blen);
	jset_str(c->data, "addr", addr[0] ? addr : NULL);
	jset_str(c->data, "tls_version", tlsv[0] ? tlsv : NULL);
	if (not_after != 0) {
		json_t *cert = json_object();

		days = (long)((not_after - time(NULL)) / DAY);
		fmt_time(not_after, na, sizeof(na));
		jset_str(cert, "subject", mtasts_fetch_info_cert_subject(f));
		jset_str(cert, "san", mtasts_fetch_info_cert_san(f));
		jset_str(cert, "not_after", na);
		jset_int(cert, "days_left", days);
		json_object_set_new(c->data, "certificate", cert);
	}
	if (http != 0)
		jset_int(c->data, "http_status", http);
	if (ctype[0] != '\0')
		jset_str(c->data, "content_type", ctype);
	if (loc[0] != '\0')
		jset_str(c->data, "location", loc);
	if (mtasts_fetch_info_rc(f) == MTASTS_OK)
		jset_int(c->data, "body_size", (long long)blen);
	else {
		jset_str(c->data, "result_type", rtype);
		jset_str(c->data, "reason", reason);
	}
	if (mtasts_fetch_info_rc(f) == MTASTS_OK) {
		if (days < CHECK_CERT_WARN_DAYS)
			set_st(c, ST_WARN, "renew the certificate of the "
			    "policy host now", "%s: certificate expires in %ld "
			    "day(s) (%s)", host, days, na);
		else
			set_st(c, ST_OK, NULL, "%s: HTTP 200, %s, %zu bytes, "
			    "%s, certificate valid for %ld days", url, ctype,
			    blen, tlsv, days);
		return;
	}
	/* The kind is the core's (mtasts_fetch_kind), never the wording. */
	switch (kind = mtasts_fetch_info_kind(f)) {
	case MTASTS_FETCH_CERT_EXPIRED:
	case MTASTS_FETCH_CERT_NAME:
	case MTASTS_FETCH_CERT_OTHER:
		set_st(c, ST_FAIL, webpki_fix(kind),
		    "%s: certificate not valid (sts-webpki-invalid): %s", host,
		    reason);
		break;
	case MTASTS_FETCH_REDIRECT:
		set_st(c, ST_FAIL, "serve the policy directly at the "
		    "well-known URL: senders never follow redirects (RFC 8461 "
		    "§3.3)", "%s: redirect %d to \"%s\"", url, http,
		    loc[0] ? loc : "?");
		break;
	case MTASTS_FETCH_HTTP_STATUS:
		set_st(c, ST_FAIL, "serve the policy with status 200",
		    "%s: HTTP status %d", url, http);
		break;
	case MTASTS_FETCH_TOO_LARGE:
		set_st(c, ST_FAIL, "keep the policy under 64 KiB (RFC 8461 "
		    "§3.2)", "%s: %s", url, reason);
		break;
	case MTASTS_FETCH_MEDIA_TYPE:
		set_st(c, ST_FAIL, "serve the policy as Content-Type: "
		    "text/plain", "%s: %s", url, reason);
		break;
	default:
		set_st(c, ST_FAIL, "make the policy host answer HTTPS on "
		    "port 443", "%s: %s: %s", url, rtype, reason);
		break;
	}
}

/* ---- 3. policy body ---- */

static void
check_policy(struct dom *d)
{
	struct check *c = add_check(d, "policy", NULL);
	struct mtasts_error err = { 0, "" };
	const char *body;
	json_t *mx;
	uint32_t age;
	size_t i, blen;
	int mode;

	if (!d->fetched || mtasts_fetch_info_rc(d->f) != MTASTS_OK) {
		set_st(c, ST_SKIP, NULL, "no policy body to check (see "
		    "policy-host)");
		return;
	}
	body = mtasts_fetch_info_body(d->f, &blen);
	if (mtasts_policy_parse(body, blen, &d->pol, &err) !=
	    MTASTS_OK) {
		set_st(c, ST_FAIL, "fix the policy text (RFC 8461 §3.2: "
		    "version, mode, mx, max_age lines)",
		    "policy invalid (sts-policy-invalid): %s", err.text);
		jset_str(c->data, "error", err.text);
		return;
	}
	mode = mtasts_policy_mode(d->pol);
	age = mtasts_policy_max_age(d->pol);
	jset_str(c->data, "mode", mtasts_mode_name(mode));
	jset_int(c->data, "max_age", age);
	mx = json_array();
	for (i = 0; i < mtasts_policy_mx_count(d->pol); i++)
		json_array_append_new(mx,
		    json_string(mtasts_policy_mx(d->pol, i)));
	json_object_set_new(c->data, "mx", mx);
	jset_int(c->data, "lines", (long long)mtasts_policy_line_count(d->pol));
	set_st(c, ST_OK, NULL, "mode %s, max_age %u, %zu mx pattern(s)",
	    mtasts_mode_name(mode), (unsigned)age,
	    mtasts_policy_mx_count(d->pol));
	if (age < DAY)
		set_st(c, ST_WARN, "use max_age of at least 604800 (a week); "
		    "31557600 is the maximum", "max_age %u is under one day: "
		    "too short to protect between a sender's refreshes",
		    (unsigned)age);
	if (mode == MTASTS_MODE_TESTING)
		set_st(c, ST_WARN, "switch to \"mode: enforce\" (and bump the "
		    "id) once TLS-RPT reports are clean", "mode testing: "
		    "failures are only reported, mail is not protected");
	else if (mode == MTASTS_MODE_NONE)
		set_st(c, ST_WARN, "publish mode testing or enforce, or remove "
		    "the TXT record once max_age has passed", "mode none: the "
		    "policy is withdrawn, senders apply no MTA-STS");
}

/* ---- 4. MX consistency ---- */

static void
check_mx(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "mx", NULL);
	struct mtasts_error err = { 0, "" };
	json_t *arr, *unused;
	size_t i, k, nbad = 0, nunused = 0;
	char why[256], first_bad[MTASTS_DOMAIN_MAX + 1] = "";
	char fixbuf[CHECK_MSG_MAX];
	struct mtasts_mxset *set = NULL;
	int rc, mode, sev, null_mx = 0;

	/* The core's MX set: implicit MX (RFC 5321 §5.1), null MX (7505). */
	rc = mtasts_mxset_resolve(ctx, d->name, 0, &set, &err);
	if (rc == MTASTS_OK) {
		null_mx = mtasts_mxset_kind(set) == MTASTS_MXSET_NULL;
		d->nmx = mtasts_mxset_count(set);
		if (d->nmx > 0 && (d->mx = calloc(d->nmx,
		    sizeof(*d->mx))) == NULL)
			d->nmx = 0;
		for (i = 0; i < d->nmx; i++) {
			mtasts_strlcpy(d->mx[i].name, mtasts_mxset_host(set, i),
			    sizeof(d->mx[i].name));
			d->mx[i].pref = mtasts_mxset_pref(set, i);
		}
		if (d->nmx > 0)
			d->mx_state = mtasts_mxset_kind(set) ==
			    MTASTS_MXSET_IMPLICIT ? 2 : 1;
		mtasts_mxset_free(set);
	}
	arr = json_array();
	for (i = 0; i < d->nmx; i++) {
		json_t *o = json_object();

		jset_str(o, "host", d->mx[i].name);
		jset_int(o, "preference", d->mx[i].pref);
		json_array_append_new(arr, o);
	}
	json_object_set_new(c->data, "mx", arr);
	if (rc == MTASTS_TEMPFAIL || (rc != MTASTS_OK &&
	    rc != MTASTS_INVALID)) {
		set_st(c, ST_ERROR, "make the domain's name servers answer",
		    "MX lookup failed: %s", err.text);
		return;
	}
	if (rc == MTASTS_INVALID) {
		set_st(c, ST_FAIL, "publish MX records naming host names",
		    "MX records exist but none is a usable host name");
		return;
	}
	if (null_mx) {
		set_st(c, ST_WARN, "remove the MTA-STS records, or publish "
		    "real MX records", "null MX (RFC 7505): %s accepts no "
		    "mail, MTA-STS has nothing to protect", d->name);
		return;
	}
	if (d->pol == NULL) {
		set_st(c, ST_SKIP, NULL, "%zu MX host(s); no valid policy to "
		    "compare with", d->nmx);
		return;
	}
	mode = mtasts_policy_mode(d->pol);
	/* Only enforce makes an unmatched MX undeliverable (§5). */
	sev = mode == MTASTS_MODE_ENFORCE ? ST_FAIL : ST_WARN;
	for (i = 0; i < d->nmx; i++) {
		json_t *o = json_array_get(arr, i);
		const char *by = NULL;

		for (k = 0; k < mtasts_policy_mx_count(d->pol); k++)
			if (mtasts_mx_match(mtasts_policy_mx(d->pol, k),
			    strlen(mtasts_policy_mx(d->pol, k)), d->mx[i].name,
			    strlen(d->mx[i].name))) {
				by = mtasts_policy_mx(d->pol, k);
				break;
			}
		jset_str(o, "matched_by", by);
		if (by != NULL)
			continue;
		why[0] = '\0';
		if (mtasts_mx_explain_miss(d->pol, d->mx[i].name, why,
			sizeof(why)))
			jset_str(o, "hint", why);
		if (nbad++ == 0)
			mtasts_strlcpy(first_bad, d->mx[i].name,
			    sizeof(first_bad));
		snprintf(fixbuf, sizeof(fixbuf), "add \"mx: %s\" to the "
		    "policy and bump the id, or remove the MX record",
		    d->mx[i].name);
		set_st(c, sev, fixbuf, "MX %s (preference %u) matches no "
		    "policy mx pattern%s%s%s", d->mx[i].name, d->mx[i].pref,
		    why[0] ? ": " : "", why, mode == MTASTS_MODE_ENFORCE ?
		    "; compliant senders will never deliver to it" :
		    "; senders will report failures for it");
	}
	unused = json_array();
	for (k = 0; k < mtasts_policy_mx_count(d->pol); k++) {
		const char *pat = mtasts_policy_mx(d->pol, k);

		for (i = 0; i < d->nmx; i++)
			if (mtasts_mx_match(pat, strlen(pat), d->mx[i].name,
			    strlen(d->mx[i].name)))
				break;
		if (i < d->nmx)
			continue;
		json_array_append_new(unused, json_string(pat));
		if (nunused++ == 0 && nbad == 0)
			set_st(c, ST_WARN, "remove stale mx patterns from the "
			    "policy (and bump the id)", "policy mx pattern "
			    "\"%s\" matches no MX host", pat);
	}
	json_object_set_new(c->data, "unused_patterns", unused);
	jset_int(c->data, "unmatched", (long long)nbad);
	if (nbad == d->nmx && mode == MTASTS_MODE_ENFORCE) {
		/* The summary replaces the per-host failure of equal rank. */
		c->msg[0] = c->fix[0] = '\0';
		why[0] = '\0';
		(void)mtasts_mx_explain_miss(d->pol, first_bad, why,
		    sizeof(why));
		set_st(c, ST_FAIL, "list the MX hosts in the policy's mx lines "
		    "and bump the id", "no MX host matches the policy: "
		    "compliant senders cannot deliver to %s at all (%s%s%s)",
		    d->name, first_bad, why[0] ? ": " : "", why);
	}
	if (nbad == 0 && nunused == 0)
		set_st(c, ST_OK, NULL, "all %zu MX host(s) match the policy%s",
		    d->nmx, d->mx_state == 2 ? " (implicit MX: no MX record, "
		    "the domain itself)" : "");
}

/* ---- 5. SMTP STARTTLS probes ---- */

struct probe_job {
	struct mtasts_ctx *ctx;
	const char *host;
	struct mtasts_probe_target *target;
	int64_t deadline;
	struct mtasts_probe res;
	pthread_t tid;
	int started;
	int resolve_rc;
	char resolve_why[MTASTS_ERROR_TEXT_MAX];
};

static void *
probe_thread(void *arg)
{
	struct probe_job *j = arg;

	mtasts_admin_probe_run(j->ctx, j->target, j->deadline, &j->res);
	return NULL;
}

static const char *
probe_fix(const struct mtasts_probe *p)
{
	/* STARTTLS offered, then refused (validation-failure, D-ENF-2). */
	if (p->starttls_code != 0 && p->starttls_code != 220)
		return "STARTTLS is advertised but refused: make the MTA "
		    "load its certificate and key";
	switch (mtasts_tlsrpt_type_parse(p->result_type)) {
	case MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED:
		return "enable STARTTLS on this MX with a valid certificate";
	case MTASTS_TLSRPT_CERT_HOST_MISMATCH:
		return "the certificate must list the MX host name as a DNS "
		    "subjectAltName (or a *.<parent> wildcard)";
	case MTASTS_TLSRPT_CERT_EXPIRED:
		return "renew the MX certificate";
	case MTASTS_TLSRPT_CERT_NOT_TRUSTED:
		return "use a certificate chained to a publicly trusted CA, "
		    "and send the intermediates";
	default:
		return "check the MX's TLS configuration (TLS 1.2 or later)";
	}
}

static void
probe_report(struct dom *d, struct probe_job *j, const struct opts *o)
{
	struct check *c = add_check(d, "smtp", j->host);
	const struct mtasts_probe *p = &j->res;
	char na[32];

	jset_str(c->data, "host", j->host);
	if (j->resolve_rc == MTASTS_NOTFOUND) {
		set_st(c, ST_FAIL, "publish an A/AAAA record for the MX host, "
		    "or remove the MX record", "%s does not resolve", j->host);
		return;
	}
	if (j->resolve_rc != MTASTS_OK) {
		set_st(c, ST_ERROR, "make the name servers answer",
		    "%s: address lookup failed: %s", j->host, j->resolve_why);
		return;
	}
	jset_str(c->data, "addr", p->addr);
	jset_str(c->data, "banner", p->banner[0] ? p->banner : NULL);
	json_object_set_new(c->data, "starttls_offered",
	    json_boolean(p->starttls_offered));
	if (p->starttls_code != 0)
		jset_int(c->data, "starttls_reply", p->starttls_code);
	jset_str(c->data, "tls_version", p->tls_version[0] ? p->tls_version :
	    NULL);
	jset_str(c->data, "cipher", p->cipher[0] ? p->cipher : NULL);
	if (p->cert_not_after != 0) {
		json_t *cert = json_object();

		fmt_time(p->cert_not_after, na, sizeof(na));
		jset_str(cert, "subject", p->cert_subject);
		jset_str(cert, "issuer", p->cert_issuer);
		jset_str(cert, "san", p->cert_san);
		jset_str(cert, "not_after", na);
		jset_int(cert, "days_left", p->days_left);
		json_object_set_new(c->data, "certificate", cert);
	}
	/* The core's RFC 8460 name (mtasts_tlsrpt_type_name()). */
	jset_str(c->data, "result_type", mtasts_tlsrpt_type_name(
	    mtasts_tlsrpt_type_parse(p->result_type[0] ? p->result_type :
	    NULL)));
	jset_int(c->data, "elapsed_ms", p->elapsed_ms);
	if (p->ok) {
		if (p->days_left < CHECK_CERT_WARN_DAYS)
			set_st(c, ST_WARN, "renew the MX certificate now",
			    "%s: certificate expires in %ld day(s)", j->host,
			    p->days_left);
		else
			set_st(c, ST_OK, NULL, "%s [%s]: STARTTLS, %s %s, "
			    "certificate valid for %s (%ld days left)",
			    j->host, p->addr, p->tls_version, p->cipher,
			    j->host, p->days_left);
		return;
	}
	if (mtasts_tlsrpt_type_parse(p->result_type[0] ? p->result_type :
	    NULL) >= 0) {
		set_st(c, ST_FAIL, probe_fix(p), "%s [%s]: %s: %s%s%s%s",
		    j->host, p->addr, p->result_type, p->reason,
		    p->cert_san[0] ? " (certificate SAN: " : "", p->cert_san,
		    p->cert_san[0] ? ")" : "");
		return;
	}
	set_st(c, ST_ERROR, o->port == 25 ? "outbound port 25 may be blocked "
	    "from here: check from another network, or use --no-smtp" :
	    "check the address and port", "%s: cannot connect: %s", j->host,
	    p->reason[0] ? p->reason : "timed out");
}

static void
check_smtp(struct mtasts_ctx *ctx, struct dom *d, const struct opts *o)
{
	struct probe_job *jobs = NULL;
	struct mtasts_error err;
	int64_t deadline;
	size_t i, n;

	if (!o->smtp) {
		set_st(add_check(d, "smtp", NULL), ST_SKIP, NULL,
		    "SMTP probes skipped (--no-smtp)");
		return;
	}
	if (d->mx_state == 0 || d->nmx == 0) {
		set_st(add_check(d, "smtp", NULL), ST_SKIP, NULL,
		    "no MX host to probe");
		return;
	}
	n = d->nmx > CHECK_MX_MAX ? CHECK_MX_MAX : d->nmx;
	if ((jobs = calloc(n, sizeof(*jobs))) == NULL) {
		set_st(add_check(d, "smtp", NULL), ST_ERROR, NULL,
		    "out of memory");
		return;
	}
	/* The resolver belongs to this thread: resolve first, then probe. */
	for (i = 0; i < n; i++) {
		memset(&err, 0, sizeof(err));
		jobs[i].ctx = ctx;
		jobs[i].host = d->mx[i].name;
		jobs[i].resolve_rc = mtasts_admin_probe_target(ctx,
		    d->mx[i].name, o->port, &jobs[i].target, &err);
		mtasts_strlcpy(jobs[i].resolve_why, err.text,
		    sizeof(jobs[i].resolve_why));
	}
	/* All hosts concurrently, under one deadline. */
	deadline = mtasts_mono_ms() + (int64_t)o->timeout_s * 1000;
	for (i = 0; i < n; i++) {
		jobs[i].deadline = deadline;
		if (jobs[i].resolve_rc != MTASTS_OK)
			continue;
		if (pthread_create(&jobs[i].tid, NULL, probe_thread,
		    &jobs[i]) == 0)
			jobs[i].started = 1;
		else
			probe_thread(&jobs[i]);
	}
	for (i = 0; i < n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].tid, NULL);
	for (i = 0; i < n; i++) {
		probe_report(d, &jobs[i], o);
		mtasts_admin_probe_target_free(jobs[i].target);
	}
	free(jobs);
}

/* ---- 6. TLS-RPT ---- */

static void
check_tlsrpt(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "tls-rpt", NULL);
	struct mtasts_txt_info *t = NULL;
	struct mtasts_error err = { 0, "" };
	const char *qname, *why;
	size_t n, i, len, nrua, nbad;
	json_t *arr;
	int kind;

	if (mtasts_admin_tlsrpt_discover(ctx, d->name, &t, &err) !=
	    MTASTS_OK) {
		set_st(c, ST_ERROR, NULL, "_smtp._tls.%s: %s", d->name,
		    err.text);
		return;
	}
	qname = mtasts_txt_info_qname(t);
	why = mtasts_txt_info_why(t);
	kind = mtasts_txt_info_kind(t);
	n = mtasts_txt_info_count(t);
	jset_str(c->data, "name", qname);
	/* The records, when the RRset could be decoded. */
	if (kind == MTASTS_TXT_FOUND || kind >= MTASTS_TXT_NO_STS) {
		arr = json_array();
		for (i = 0; i < n; i++) {
			const char *rec = mtasts_txt_info_record(t, i, &len);

			json_array_append_new(arr, json_stringn(rec, len));
		}
		json_object_set_new(c->data, "records", arr);
	}
	switch (kind) {
	case MTASTS_TXT_RESOLVER:
		set_st(c, ST_ERROR, NULL, "%s: %s", qname, why);
		break;
	case MTASTS_TXT_NXDOMAIN:
	case MTASTS_TXT_NODATA:
		set_st(c, ST_WARN, "publish _smtp._tls.<domain> TXT "
		    "\"v=TLSRPTv1; rua=mailto:tls-reports@<domain>\"",
		    "%s: no TLS-RPT record: you will not hear about senders' "
		    "TLS failures", qname);
		break;
	case MTASTS_TXT_BOGUS:
	case MTASTS_TXT_DNS_FAILED:
		set_st(c, kind == MTASTS_TXT_BOGUS ? ST_FAIL : ST_ERROR,
		    "make the domain's name servers answer",
		    "%s: DNS lookup failed: %s", qname, why);
		break;
	case MTASTS_TXT_MALFORMED:
		set_st(c, ST_FAIL, NULL, "%s: malformed TXT RRset", qname);
		break;
	case MTASTS_TXT_NO_STS:
		set_st(c, ST_WARN, "publish \"v=TLSRPTv1; rua=...\"",
		    "%s: no record begins with \"v=TLSRPTv1;\"", qname);
		break;
	case MTASTS_TXT_FOUND:
		nrua = mtasts_txt_info_rua_count(t);
		nbad = mtasts_txt_info_rua_unsupported(t);
		arr = json_array();
		for (i = 0; i < nrua; i++)
			json_array_append_new(arr,
			    json_string(mtasts_txt_info_rua(t, i)));
		json_object_set_new(c->data, "rua", arr);
		jset_int(c->data, "unsupported_rua", (long long)nbad);
		if (nbad > 0)
			set_st(c, ST_WARN, "use only mailto: and https: rua "
			    "URIs", "%s: %zu rua URI(s) use a scheme senders "
			    "cannot deliver to", qname, nbad);
		else
			set_st(c, ST_OK, NULL, "%s: v=TLSRPTv1, rua %s%s",
			    qname, mtasts_txt_info_rua(t, 0), nrua > 1 ?
			    " (and more)" : "");
		break;
	default:
		set_st(c, ST_FAIL, "fix the record: \"v=TLSRPTv1; "
		    "rua=mailto:addr\" or rua=https://... (RFC 8460 §3)",
		    "%s: invalid TLS-RPT record: %s", qname, why);
		break;
	}
	mtasts_txt_info_free(t);
}

/* ---- 7. consistency with the cached policy ---- */

/* 1-based number of the first differing line of a and b, 0 if equal. */
static size_t
first_diff(const char *a, size_t al, const char *b, size_t bl, char *la,
    char *lb, size_t size)
{
	size_t i = 0, line = 1, sa, sb;

	while (i < al && i < bl && a[i] == b[i]) {
		if (a[i] == '\n')
			line++;
		i++;
	}
	if (i == al && i == bl)
		return 0;
	/* back to the start of the line, then quote both versions */
	while (i > 0 && a[i - 1] != '\n')
		i--;
	sa = strcspn(a + i, "\r\n");
	sb = strcspn(b + i, "\r\n");
	snprintf(la, size, "%.*s", (int)(i + sa > al ? al - i : sa), a + i);
	snprintf(lb, size, "%.*s", (int)(i + sb > bl ? bl - i : sb), b + i);
	return line;
}

static void
check_cache(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "cache", NULL);
	struct mtasts_cache_item *e = NULL;
	struct mtasts_error err = { 0, "" };
	const struct mtasts_policy *p;
	const char *text, *id, *body;
	char fa[32], la[120], lb[120];
	size_t tlen, line, blen = 0;
	int rc, same_id, same_body;

	rc = mtasts_admin_cache_get(ctx, d->name, &e, &err);
	if (rc == MTASTS_NOTFOUND) {
		set_st(c, ST_SKIP, NULL, "no cached policy for %s", d->name);
		goto done;
	}
	if (rc != MTASTS_OK) {
		set_st(c, ST_SKIP, NULL, "cache not readable: %s", err.text);
		goto done;
	}
	if ((p = mtasts_cache_item_policy(e)) == NULL) {
		set_st(c, ST_SKIP, NULL, "cache holds no policy for %s",
		    d->name);
		goto done;
	}
	id = mtasts_cache_item_id(e);
	fmt_time(mtasts_cache_item_fetched_at(e), fa, sizeof(fa));
	jset_str(c->data, "cached_id", id);
	jset_str(c->data, "fetched_at", fa);
	fmt_time(mtasts_cache_item_expires_at(e), la, sizeof(la));
	jset_str(c->data, "expires_at", la);
	if (!d->have_id || d->f == NULL ||
	    (body = mtasts_fetch_info_body(d->f, &blen)) == NULL) {
		set_st(c, ST_SKIP, NULL, "cached policy id %s; the live "
		    "policy could not be read to compare", id);
		goto done;
	}
	jset_str(c->data, "live_id", d->id);
	text = mtasts_policy_text(p, &tlen);
	same_id = strcmp(id, d->id) == 0;
	line = first_diff(text, tlen, body, blen, la, lb,
	    sizeof(la));
	same_body = line == 0;
	json_object_set_new(c->data, "id_changed", json_boolean(!same_id));
	json_object_set_new(c->data, "body_changed",
	    json_boolean(!same_body));
	if (!same_body) {
		jset_int(c->data, "first_changed_line", (long long)line);
		jset_str(c->data, "cached_line", la);
		jset_str(c->data, "live_line", lb);
	}
	if (same_id && !same_body)
		set_st(c, ST_FAIL, "change the id in the _mta-sts TXT record "
		    "whenever the policy changes", "policy body changed but "
		    "id %s was not bumped (line %zu: cached \"%s\", live "
		    "\"%s\"): senders holding it keep the old policy until "
		    "%s", d->id, line, la, lb,
		    json_string_value(json_object_get(c->data,
		    "expires_at")));
	else if (!same_id && same_body)
		set_st(c, ST_OK, NULL, "id changed (%s -> %s) without a policy "
		    "change: harmless, senders re-fetch the same policy",
		    id, d->id);
	else if (!same_id)
		set_st(c, ST_OK, NULL, "policy updated since cached (id %s -> "
		    "%s); senders pick it up at their next TXT check", id,
		    d->id);
	else
		set_st(c, ST_OK, NULL, "cached policy (id %s, fetched %s) "
		    "matches the live one", id, fa);
done:
	mtasts_cache_item_free(e);
}

/* ---- driver and output ---- */

static void
dom_clear(struct dom *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		json_decref(d->c[i].data);
	mtasts_fetch_info_free(d->f);
	mtasts_policy_free(d->pol);
	free(d->mx);
}

static int
dom_status(const struct dom *d)
{
	size_t i;
	int st = ST_OK;

	for (i = 0; i < d->n; i++)
		if (d->c[i].status > st && d->c[i].status != ST_SKIP)
			st = d->c[i].status;
	return st;
}

static void
check_domain(struct mtasts_ctx *ctx, const char *arg, struct dom *d,
    const struct opts *o)
{
	struct mtasts_error err = { 0, "" };

	if (mtasts_domain_normalize(arg, strlen(arg), d->name, &err) !=
	    MTASTS_OK) {
		mtasts_strlcpy(d->name, arg, sizeof(d->name));
		set_st(add_check(d, "domain", NULL), ST_ERROR, NULL,
		    "not a valid domain name: %s", err.text);
		return;
	}
	check_txt(ctx, d);
	check_host(ctx, d);
	check_policy(d);
	check_mx(ctx, d);
	check_smtp(ctx, d, o);
	check_tlsrpt(ctx, d);
	check_cache(ctx, d);
}

static json_t *
dom_json(const struct dom *d)
{
	json_t *o = json_object(), *arr = json_array();
	size_t i;

	for (i = 0; i < d->n; i++) {
		const struct check *c = &d->c[i];
		json_t *j = json_object();

		jset_str(j, "name", c->name);
		if (c->target[0] != '\0')
			jset_str(j, "target", c->target);
		jset_str(j, "status", st_names[c->status]);
		jset_str(j, "message", c->msg);
		jset_str(j, "fix", c->fix[0] ? c->fix : NULL);
		json_object_set(j, "data", c->data);
		json_array_append_new(arr, j);
	}
	jset_str(o, "domain", d->name);
	jset_str(o, "status", st_names[dom_status(d)]);
	json_object_set_new(o, "checks", arr);
	return o;
}

static void
dom_text(const struct dom *d, int colour)
{
	static const char *const col[] = { "\033[32m", "\033[2m",
		"\033[33m", "\033[35m", "\033[31m" };
	static const char *const label[] = { "ok", "skip", "WARN", "ERROR",
		"FAIL" };
	size_t i, cnt[5] = { 0, 0, 0, 0, 0 };
	int st = dom_status(d);

	printf("%s%s%s\n", colour ? "\033[1m" : "", d->name,
	    colour ? "\033[0m" : "");
	for (i = 0; i < d->n; i++) {
		const struct check *c = &d->c[i];

		cnt[c->status]++;
		printf("  %s%-5s%s %-11s %s\n", colour ? col[c->status] : "",
		    label[c->status], colour ? "\033[0m" : "", c->name,
		    c->msg);
		if (c->fix[0] != '\0' && c->status != ST_OK)
			printf("  %-5s %-11s fix: %s\n", "", "", c->fix);
	}
	printf("%s: %s%s%s (%zu ok, %zu warning(s), %zu failure(s), %zu "
	    "not checked, %zu skipped)\n", d->name, colour ? col[st] : "",
	    label[st], colour ? "\033[0m" : "", cnt[ST_OK], cnt[ST_WARN],
	    cnt[ST_FAIL], cnt[ST_ERROR], cnt[ST_SKIP]);
}

const char cli_check_usage[] =
    "usage: mtasts check [--json] [--no-smtp] [--port N] [--timeout SECONDS] "
    "DOMAIN...\n"
    "       mtasts check --local [--json] [--user NAME]...\n";

/*
 * A usage error of check: what was wrong and the usage on stderr, exit 3
 * "could not check" (the monitoring-plugin codes of docs/check.md;
 * decisions.md D-CLI-EXIT-1).
 */
#define CHECK_USAGE_ERROR(...) \
	(cli_usage_error(cli_check_usage, __VA_ARGS__), EXIT_CHECK_UNKNOWN)
#define EXIT_CHECK_UNKNOWN 3

static int
exit_code(int st)
{
	switch (st) {
	case ST_FAIL:
		return 2;
	case ST_ERROR:
		return 3;
	case ST_WARN:
		return 1;
	default:
		return 0;
	}
}

int
cmd_check(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct opts o = { 0, 1, 25, CHECK_DEFAULT_TIMEOUT };
	struct dom *d = NULL;
	json_t *out = NULL, *arr = NULL;
	uint64_t v;
	int i, first, worst = ST_OK, colour, rc;

	mtasts_admin_set_cache_readonly(ctx);	/* never writes the cache */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o.json = 1;
		else if (strcmp(argv[i], "--no-smtp") == 0)
			o.smtp = 0;
		else if ((strcmp(argv[i], "--port") == 0 ||
		    strcmp(argv[i], "--timeout") == 0) && i + 1 < argc) {
			const char *s = argv[i + 1];

			if (mtasts_parse_u64(s, strlen(s), 65535, &v) != 0 ||
			    v == 0)
				return CHECK_USAGE_ERROR("check: %s: expected "
				    "a number 1..65535, got \"%s\"", argv[i],
				    s);
			if (argv[i][2] == 'p')
				o.port = (int)v;
			else
				o.timeout_s = (int)v;
			i++;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			cli_bad_arg("check", cli_check_usage, argc, argv, i);
			return EXIT_CHECK_UNKNOWN;
		}
	}
	if (i >= argc)
		return CHECK_USAGE_ERROR("check: missing DOMAIN (or --local)");
	first = i;
	colour = !o.json && isatty(STDOUT_FILENO) && getenv("NO_COLOR") ==
	    NULL;
	if (o.json) {
		out = json_object();
		arr = json_array();
	}
	for (i = first; i < argc; i++) {
		int st;

		if ((d = calloc(1, sizeof(*d))) == NULL) {
			cli_log(LOG_ERR, "check: out of memory");
			worst = ST_ERROR;
			break;
		}
		check_domain(ctx, argv[i], d, &o);
		st = dom_status(d);
		if (st > worst)
			worst = st;
		if (o.json)
			json_array_append_new(arr, dom_json(d));
		else {
			if (i > first)
				printf("\n");
			dom_text(d, colour);
			fflush(stdout);
		}
		dom_clear(d);
		free(d);
	}
	rc = exit_code(worst);
	if (o.json) {
		char *s;

		jset_int(out, "version", 1);
		jset_str(out, "status", st_names[worst]);
		jset_int(out, "exit", rc);
		json_object_set_new(out, "domains", arr);
		s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (s != NULL)
			puts(s);
		free(s);
		json_decref(out);
	} else if (argc - first > 1)
		printf("\noverall: %s\n", st_names[worst]);
	return rc;
}

/* ---- mtasts check --local: the installation itself ---- */

/* The resolver probe's deadline (ms): "reachable" must be quick. */
#define LOCAL_RESOLVER_MS 3000
/* Cache files opened as the MTA user before giving up counting. */
#define LOCAL_CACHE_FILES_MAX 10000
/* The MTA users looked for when --user is not given (decisions.md). */
static const char *const mta_users[] = { "Debian-exim", "opensmtpd" };

/* What a child running as the MTA user found about one directory. */
struct as_user {
	int status;			/* enum cst */
	char msg[CHECK_MSG_MAX];
	char fix[CHECK_MSG_MAX];
	int exists, writable, creatable;
	long files, bad_files;
};

static void
au_set(struct as_user *r, int st, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
au_set(struct as_user *r, int st, const char *fix, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	va_start(ap, fmt);
	if (vsnprintf(r->msg, sizeof(r->msg), fmt, ap) < 0)
		r->msg[0] = '\0';
	va_end(ap);
	mtasts_strlcpy(r->fix, fix != NULL ? fix : "", sizeof(r->fix));
}

/* Can this process create (and remove) a file in dir? errno on failure. */
static int
try_create(const char *dir)
{
	char p[CHECK_PATH_MAX + 64];
	int fd, e;

	snprintf(p, sizeof(p), "%s/.mtasts-check.%ld", dir, (long)getpid());
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return errno;
	e = close(fd) == 0 ? 0 : errno;
	unlink(p);
	return e;
}

/* The nearest existing ancestor of path (path itself excluded). */
static void
existing_parent(const char *path, char *out, size_t size)
{
	struct stat st;
	char *s;

	mtasts_strlcpy(out, path, size);
	for (;;) {
		if ((s = strrchr(out, '/')) == NULL) {
			mtasts_strlcpy(out, "/", size);
			return;
		}
		if (s == out) {
			out[1] = '\0';
			return;
		}
		*s = '\0';
		if (stat(out, &st) == 0)
			return;
	}
}

/*
 * As the MTA user: the cache directory (cache.c's strict check, a file
 * created and removed, every entry readable and every lock file
 * read-write) or the TLS-RPT spool (writable, or creatable by mkdir -p,
 * and today's spool file appendable).
 */
static void
dir_as_user(struct mtasts_ctx *ctx, int cache, const char *user,
    struct as_user *r)
{
	struct mtasts_error err = { 0, "" };
	const char *dir = mtasts_admin_conf_str(ctx, cache ?
	    MTASTS_ADMIN_CACHE_DIR : MTASTS_ADMIN_TLSRPT_DIR);
	char parent[CHECK_PATH_MAX], p[CHECK_PATH_MAX + 300];
	struct stat st;
	struct dirent *de;
	DIR *d;
	int e, fd;

	if (cache) {
		if (mtasts_admin_cache_dir_check(ctx, 1,
		    !mtasts_admin_conf_is_default(ctx, MTASTS_ADMIN_CACHE_DIR),
		    &r->exists, &err) != MTASTS_OK) {
			au_set(r, ST_FAIL, "make cache_dir a directory owned "
			    "by root, group of the MTA user, mode 02770",
			    "%s (as %s)", err.text, user);
			return;
		}
	} else if (stat(dir, &st) == 0) {
		r->exists = 1;
		if (!S_ISDIR(st.st_mode)) {
			au_set(r, ST_FAIL, "point tlsrpt_dir at a directory",
			    "%s: not a directory", dir);
			return;
		}
	} else if (errno != ENOENT) {
		au_set(r, ST_FAIL, "make the path searchable by the MTA user",
		    "%s: %s (as %s)", dir, strerror(errno), user);
		return;
	}
	if (!r->exists) {
		existing_parent(dir, parent, sizeof(parent));
		r->creatable = access(parent, W_OK | X_OK) == 0;
		if (r->creatable)
			au_set(r, ST_OK, NULL, "%s does not exist yet; %s can "
			    "create it (below %s)", dir, user, parent);
		else
			au_set(r, ST_FAIL, cache ? "create it: install -d -o "
			    "root -g <MTA group> -m 02770 <cache_dir>" :
			    "create it: install -d -o root -g <MTA group> -m "
			    "02770 <tlsrpt_dir>", "%s does not exist and %s "
			    "cannot create it (%s is not writable)", dir, user,
			    parent);
		return;
	}
	if ((e = try_create(dir)) != 0) {
		au_set(r, ST_FAIL, "give the MTA user's group write access "
		    "(chgrp <MTA group>; chmod 02770)", "%s: not writable by "
		    "%s: %s", dir, user, strerror(e));
		return;
	}
	r->writable = 1;
	if ((d = opendir(dir)) == NULL) {
		au_set(r, ST_FAIL, "give the MTA user read access",
		    "%s: cannot list as %s: %s", dir, user, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL && r->files < LOCAL_CACHE_FILES_MAX) {
		size_t n = strlen(de->d_name);
		int want;

		if (cache && n > 5 && strcmp(de->d_name + n - 5, ".json") == 0)
			want = O_RDONLY;
		else if (n > 5 && strcmp(de->d_name + n - 5, ".lock") == 0)
			want = O_RDWR;
		else if (!cache && n > 6 &&
		    strcmp(de->d_name + n - 6, ".jsonl") == 0)
			want = O_WRONLY | O_APPEND;
		else
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		r->files++;
		fd = open(p, want | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		    O_CLOEXEC);
		if (fd == -1)
			r->bad_files++;
		else
			close(fd);
	}
	closedir(d);
	if (r->bad_files > 0)
		au_set(r, ST_FAIL, "chgrp -R <MTA group> and chmod g+rw the "
		    "files (they are made 0660)", "%s: %ld of %ld file(s) "
		    "cannot be %s by %s", dir, r->bad_files, r->files,
		    cache ? "used" : "appended to", user);
	else
		au_set(r, ST_OK, NULL, "%s: writable by %s (%ld file(s) "
		    "usable)", dir, user, r->files);
}

/* Run dir_as_user() in a child that has become user. */
static void
check_dir_user(struct mtasts_ctx *ctx, struct dom *d, int cache,
    const char *user)
{
	struct check *c = add_check(d, cache ? "cache_dir" : "tlsrpt_dir",
	    user);
	struct as_user r;
	struct passwd *pw;
	ssize_t n;
	size_t off = 0;
	pid_t pid;
	int fds[2], status;

	memset(&r, 0, sizeof(r));
	jset_str(c->data, "user", user);
	jset_str(c->data, "dir", mtasts_admin_conf_str(ctx, cache ?
	    MTASTS_ADMIN_CACHE_DIR : MTASTS_ADMIN_TLSRPT_DIR));
	if ((pw = getpwnam(user)) == NULL) {
		set_st(c, ST_ERROR, "give an existing user with --user",
		    "no such user \"%s\"", user);
		return;
	}
	if (geteuid() != 0 && pw->pw_uid != geteuid()) {
		set_st(c, ST_ERROR, "run mtasts check --local as root",
		    "cannot check as %s without root", user);
		return;
	}
	if (pipe(fds) != 0 || (pid = fork()) == -1) {
		set_st(c, ST_ERROR, NULL, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (initgroups(pw->pw_name,
		    pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
		    setuid(pw->pw_uid) != 0))
			au_set(&r, ST_ERROR, NULL, "cannot become %s: %s",
			    user, strerror(errno));
		else
			dir_as_user(ctx, cache, user, &r);
		if (write(fds[1], &r, sizeof(r)) != (ssize_t)sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	while (off < sizeof(r) && (n = read(fds[0], (char *)&r + off,
	    sizeof(r) - off)) > 0)
		off += (size_t)n;
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (off != sizeof(r)) {
		set_st(c, ST_ERROR, NULL, "the check as %s did not finish",
		    user);
		return;
	}
	json_object_set_new(c->data, "exists", json_boolean(r.exists));
	json_object_set_new(c->data, "writable", json_boolean(r.writable));
	if (!r.exists)
		json_object_set_new(c->data, "creatable",
		    json_boolean(r.creatable));
	jset_int(c->data, "files", r.files);
	jset_int(c->data, "bad_files", r.bad_files);
	set_st(c, r.status, r.fix[0] ? r.fix : NULL, "%s", r.msg);
}

static void
check_local_config(struct dom *d, const char *path, int rc, int missing,
    const struct mtasts_error *err)
{
	struct check *c = add_check(d, "config", NULL);

	jset_str(c->data, "file", path);
	if (rc != MTASTS_OK)
		set_st(c, ST_FAIL, "fix the line named (docs/config.md)",
		    "%s", err->text);
	else if (missing)
		set_st(c, ST_OK, NULL, "%s does not exist: built-in defaults",
		    path);
	else
		set_st(c, ST_OK, NULL, "%s: parsed", path);
}

static void
check_local_ca(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "ca-store", NULL);
	const char *ca_file = mtasts_admin_conf_str(ctx, MTASTS_ADMIN_CA_FILE);
	const char *ca_path = mtasts_admin_conf_str(ctx, MTASTS_ADMIN_CA_PATH);
	char why[CHECK_REASON_MAX], sysdir[CHECK_REASON_MAX];
	size_t ntext = 0, nlinks = 0, nssl;

	jset_str(c->data, "ca_file", ca_file[0] ? ca_file : NULL);
	jset_str(c->data, "ca_path", ca_path[0] ? ca_path : NULL);
	if (ca_file[0] != '\0' &&
	    mtasts_check_pem_file(ca_file, &ntext, why, sizeof(why)) != 0) {
		set_st(c, ST_FAIL, "point ca_file at a PEM bundle, e.g. "
		    "/etc/ssl/certs/ca-certificates.crt", "ca_file %s: %s",
		    ca_file, why);
		return;
	}
	if (ca_path[0] != '\0' &&
	    mtasts_check_ca_dir(ca_path, &nlinks, why, sizeof(why)) != 0) {
		set_st(c, ST_FAIL, "point ca_path at a hashed directory, e.g. "
		    "/etc/ssl/certs", "ca_path %s: %s", ca_path, why);
		return;
	}
	if (mtasts_admin_ca_store_count(ctx, &nssl, sysdir, sizeof(sysdir),
	    why, sizeof(why)) != 0) {
		set_st(c, ST_FAIL, "fix ca_file/ca_path, or install "
		    "ca-certificates", "%s", why);
		return;
	}
	jset_int(c->data, "certificates", (long long)nssl);
	if (nlinks > 0)
		jset_int(c->data, "hash_links", (long long)nlinks);
	if (sysdir[0] != '\0') {
		/* D-NET-7: read per issuer, nothing loaded up front. */
		jset_str(c->data, "directory", sysdir);
		set_st(c, ST_OK, NULL, "system store: hashed directory %s "
		    "(certificates read as chains need them)", sysdir);
	} else if (ca_file[0] == '\0' && ca_path[0] == '\0')
		set_st(c, ST_OK, NULL, "system store: %zu certificate(s) "
		    "loaded", nssl);
	else if (ca_file[0] != '\0')
		set_st(c, ST_OK, NULL, "ca_file %s: %zu certificate(s) "
		    "loaded%s%s", ca_file, nssl, nlinks ? ", ca_path " :
		    "", nlinks ? ca_path : "");
	else
		set_st(c, ST_OK, NULL, "ca_path %s: %zu certificate hash "
		    "link(s)", ca_path, nlinks);
}

static void
check_local_anchor(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "anchor", NULL);
	const char *file = mtasts_admin_conf_str(ctx,
	    MTASTS_ADMIN_TRUST_ANCHOR_FILE);
	int dnssec = mtasts_admin_conf_int(ctx, MTASTS_ADMIN_DNSSEC);
	char why[CHECK_REASON_MAX];
	size_t n;
	int eno;

	jset_str(c->data, "file", file);
	if (dnssec == 0) {
		set_st(c, ST_SKIP, NULL, "dnssec = off: no trust anchor used");
		return;
	}
	if (mtasts_check_trust_anchor(file, &n, &eno, why,
	    sizeof(why)) == 0) {
		jset_int(c->data, "anchors", (long long)n);
		set_st(c, ST_OK, NULL, "%s: %zu DS/DNSKEY record(s)",
		    file, n);
	} else if (dnssec == -1 && eno == ENOENT)
		set_st(c, ST_OK, NULL, "%s does not exist: with dnssec = auto, "
		    "DNSSEC validation is off", file);
	else
		set_st(c, ST_FAIL, "install dns-root-data, or fix "
		    "trust_anchor_file", "%s: %s", file, why);
}

/*
 * PLACEHOLDER (coordinator): the row "dnssec" reports the configured mode
 * only. mtasts_dns_dnssec_status() (common/dns.c, another branch) says
 * whether the resolver path can validate; wire it in here after merging.
 */
static void
check_local_dnssec(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "dnssec", NULL);
	struct mtasts_error err = { 0, "" };
	int dnssec = mtasts_admin_conf_int(ctx, MTASTS_ADMIN_DNSSEC);
	const char *mode = dnssec == 1 ? "on" : dnssec == 0 ? "off" : "auto";
	char why[CHECK_REASON_MAX] = "";
	int state = MTASTS_ADMIN_DNSSEC_UNKNOWN, rc;

	jset_str(c->data, "mode", mode);
	/* The same chain-of-trust check a delivery runs (D-DNSSEC-1..2). */
	rc = mtasts_dns_dnssec_status(ctx, &state, why, sizeof(why), &err);
	json_object_set_new(c->data, "capability_checked",
	    rc == MTASTS_OK ? json_true() : json_false());
	if (rc != MTASTS_OK) {
		set_st(c, ST_FAIL, "fix the resolver and dnssec lines of "
		    "mtasts.conf", "dnssec = %s: the resolver cannot be set "
		    "up: %s", mode, err.text);
		return;
	}
	jset_str(c->data, "state", mtasts_dnssec_state_name(state));
	switch (state) {
	case MTASTS_ADMIN_DNSSEC_WORKING:
		set_st(c, ST_OK, NULL, "dnssec = %s: validating; the trust "
		    "anchor validates through the resolver", mode);
		break;
	case MTASTS_ADMIN_DNSSEC_OFF:
		set_st(c, ST_OK, NULL, "dnssec = %s: not validating%s%s", mode,
		    why[0] ? ": " : "", why);
		break;
	case MTASTS_ADMIN_DNSSEC_AUTO_DISABLED:
		set_st(c, ST_WARN, "use a resolver that returns DNSSEC records "
		    "(e.g. a local unbound), or set dnssec = off to silence "
		    "this", "dnssec = auto: validation is switched off in "
		    "every process (%s)", why);
		break;
	case MTASTS_ADMIN_DNSSEC_BROKEN:
		set_st(c, ST_FAIL, "use a resolver that returns DNSSEC "
		    "records, or set dnssec = auto or off", "dnssec = on but "
		    "the resolver path cannot validate the trust anchor: "
		    "every lookup that needs DNS is deferred (%s)", why);
		break;
	default:
		set_st(c, ST_WARN, "check that the resolver answers",
		    "dnssec = %s: the chain-of-trust check had no answer in "
		    "time (%s)", mode, why);
		break;
	}
}

static void
check_local_resolver(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "resolver", NULL);
	struct mtasts_error err = { 0, "" };
	char list[8 * 66] = "", why[CHECK_REASON_MAX];
	int64_t t0 = mtasts_mono_ms();
	int ms = mtasts_admin_conf_int(ctx, MTASTS_ADMIN_DNS_TIMEOUT_MS), rc;
	int answer;
	const char *r;
	size_t i;

	for (i = 0; (r = mtasts_admin_conf_resolver(ctx, i)) != NULL; i++)
		append(list, sizeof(list), r);
	if (list[0] == '\0')
		mtasts_strlcpy(list, "/etc/resolv.conf", sizeof(list));
	jset_str(c->data, "resolvers", list);
	if (ms > LOCAL_RESOLVER_MS)
		ms = LOCAL_RESOLVER_MS;
	rc = mtasts_admin_resolver_probe(ctx, ms, &answer, why, sizeof(why),
	    &err);
	jset_int(c->data, "elapsed_ms", mtasts_mono_ms() - t0);
	if (rc != MTASTS_OK) {
		set_st(c, ST_FAIL, "fix the resolver lines of mtasts.conf",
		    "%s cannot be used: %s", list, err.text);
		return;
	}
	switch (answer) {
	case MTASTS_RESOLVER_ANSWERS:
		set_st(c, ST_OK, NULL, "%s answers (. NS in %lld ms)", list,
		    (long long)(mtasts_mono_ms() - t0));
		break;
	case MTASTS_RESOLVER_BOGUS:
		set_st(c, ST_WARN, "see the dnssec row", "%s answers, but "
		    "DNSSEC validation of . NS failed: %s", list, why);
		break;
	default:
		set_st(c, ST_FAIL, "start the resolver, or fix the resolver "
		    "lines of mtasts.conf; every uncached domain defers or "
		    "goes without MTA-STS meanwhile", "%s does not answer "
		    "within %d ms: %s", list, ms, why);
		break;
	}
}

/*
 * The report commands check report_dir and sendmail themselves when they
 * run (D-CONF-4); here only whether they could: the sendmail program is
 * executable, report_dir exists or can be made by this user.
 */
static void
check_local_reports(struct mtasts_ctx *ctx, struct dom *d)
{
	struct check *c = add_check(d, "reports", NULL);
	char prog[CHECK_PATH_MAX], parent[CHECK_PATH_MAX];
	const char *cmd = mtasts_admin_conf_str(ctx, MTASTS_ADMIN_SENDMAIL);
	const char *dir = mtasts_admin_conf_str(ctx, MTASTS_ADMIN_REPORT_DIR);
	struct stat st;
	size_t n = strcspn(cmd, " \t");

	if (mtasts_admin_conf_str(ctx, MTASTS_ADMIN_REPORT_CONTACT)[0] ==
	    '\0') {
		set_st(c, ST_SKIP, NULL, "TLS-RPT reports not configured "
		    "(no report_contact)");
		return;
	}
	snprintf(prog, sizeof(prog), "%.*s", (int)n, cmd);
	jset_str(c->data, "sendmail", prog);
	jset_str(c->data, "report_dir", dir);
	if (stat(prog, &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(prog, X_OK) != 0) {
		set_st(c, ST_FAIL, "fix the sendmail line of mtasts.conf",
		    "sendmail %s is not an executable program", prog);
		return;
	}
	if (stat(dir, &st) == 0 ? !S_ISDIR(st.st_mode) : errno != ENOENT) {
		set_st(c, ST_FAIL, "point report_dir at a directory",
		    "report_dir %s: %s", dir, stat(dir, &st) == 0 ?
		    "not a directory" : strerror(errno));
		return;
	}
	existing_parent(dir, parent, sizeof(parent));
	if (stat(dir, &st) != 0 && access(parent, W_OK | X_OK) != 0) {
		set_st(c, ST_FAIL, "create report_dir", "report_dir %s does "
		    "not exist and cannot be created here (%s)", dir, parent);
		return;
	}
	set_st(c, ST_OK, NULL, "sendmail %s, report_dir %s", prog, dir);
}


int
cmd_check_local(struct mtasts_ctx *ctx, const char *config, int argc,
    char **argv)
{
	struct mtasts_error err = { 0, "" };
	const char *users[8], *path;
	struct dom *d;
	json_t *out, *o;
	size_t nusers = 0, i;
	int json = 0, colour, missing = 0, rc, k, st;

	mtasts_admin_set_cache_readonly(ctx);	/* never writes the cache */
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--local") == 0)
			continue;
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (strcmp(argv[k], "--user") == 0 && k + 1 < argc &&
		    nusers < sizeof(users) / sizeof(users[0]))
			users[nusers++] = argv[++k];
		else if (strcmp(argv[k], "--user") == 0 && k + 1 < argc)
			return CHECK_USAGE_ERROR("check --local: more than %zu "
			    "--user options", sizeof(users) / sizeof(users[0]));
		else {
			cli_bad_arg("check --local", cli_check_usage, argc,
			    argv, k);
			return EXIT_CHECK_UNKNOWN;
		}
	}
	/* D-CHECK-LOCAL: without --user, every MTA user present here. */
	for (i = 0; nusers == 0 && i < sizeof(mta_users) / sizeof(*mta_users);
	    i++)
		if (getpwnam(mta_users[i]) != NULL)
			users[nusers++] = mta_users[i];
	if (nusers == 0) {
		struct passwd *pw = getpwuid(geteuid());

		users[nusers++] = pw != NULL ? pw->pw_name : "root";
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		cli_log(LOG_ERR, "check: out of memory");
		return 3;
	}
	mtasts_strlcpy(d->name, "local", sizeof(d->name));
	path = config;
	if (path == NULL) {
		path = getenv("MTASTS_CONFIG");
		if (path == NULL || path[0] == '\0')
			path = "/etc/mtasts.conf";
	}
	rc = mtasts_config_read(ctx, config, &missing, &err);
	check_local_config(d, path, rc, missing, &err);
	if (rc == MTASTS_OK) {
		struct check *c = add_check(d, "files", NULL);

		memset(&err, 0, sizeof(err));
		if (mtasts_config_check(ctx, &err) == MTASTS_OK)
			set_st(c, ST_OK, NULL, "the files and directories "
			    "it names are usable");
		else
			set_st(c, ST_FAIL, "fix the line named: until then "
			    "the MTA defers every delivery it would check",
			    "%s", err.text);
		check_local_ca(ctx, d);
		check_local_anchor(ctx, d);
		check_local_dnssec(ctx, d);
		check_local_resolver(ctx, d);
		check_local_reports(ctx, d);
		/* No resolver thread across the fork()s below. */
		mtasts_admin_release_resolver(ctx);
		for (i = 0; i < nusers; i++) {
			check_dir_user(ctx, d, 1, users[i]);
			check_dir_user(ctx, d, 0, users[i]);
		}
	}
	st = dom_status(d);
	rc = exit_code(st);
	if (json) {
		char *s;

		out = json_object();
		o = dom_json(d);
		json_object_del(o, "domain");
		jset_int(out, "version", 1);
		jset_str(out, "status", st_names[st]);
		jset_int(out, "exit", rc);
		json_object_set_new(out, "local", o);
		s = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (s != NULL)
			puts(s);
		free(s);
		json_decref(out);
	} else {
		colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
		dom_text(d, colour);
	}
	dom_clear(d);
	free(d);
	return rc;
}
