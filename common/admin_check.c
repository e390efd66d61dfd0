/* SPDX-License-Identifier: ISC */
/*
 * admin_check.c - the structured answers `mtasts check` explains
 * (mtasts_admin.h): `_mta-sts` TXT discovery with its details (RFC 8461
 * §3.1, the selection rule is txt.c's) and the kind of a policy fetch
 * failure, so that no caller classifies the core's wording.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "mtasts_internal.h"

#define T_TXT 16
#define STS_VERSION "v=STSv1"
#define TLSRPT_VERSION "v=TLSRPTv1"

struct mtasts_txt_info {
	int kind;			/* enum mtasts_txt_kind */
	char qname[MTASTS_DOMAIN_MAX + 16];
	char id[MTASTS_ID_MAX + 1];
	char why[MTASTS_REASON_MAX + MTASTS_ERROR_TEXT_MAX];
	const char *dnssec;		/* static, or NULL */
	char cname[MTASTS_DOMAIN_MAX + 2];
	int has_cname;
	char **recs;
	size_t *lens, n;
	size_t nsts;
	long lookalike;
	struct mtasts_tlsrpt_txt rpt;	/* `_smtp._tls`, FOUND */
	const struct mtasts_netops *net;	/* that decoded recs */
};

/*
 * One discovery for `_mta-sts` (RFC 8461 §3.1, tlsrpt 0) and `_smtp._tls`
 * (RFC 8460 §3, tlsrpt 1): the query, the answer's details, the records,
 * then the selection rule of txt.c or tlsrpt_txt.c.
 */
static int
discover(struct mtasts_ctx *ctx, const char *domain, int tlsrpt,
    struct mtasts_txt_info **out, struct mtasts_error *err)
{
	const struct mtasts_netops *net = NULL;
	struct mtasts_txt_info *t;
	struct mtasts_dns_answer *a = NULL;
	struct mtasts_error qerr = { 0, "" };
	size_t i;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	t->lookalike = -1;
	snprintf(t->qname, sizeof(t->qname), "%s%s", tlsrpt ? "_smtp._tls." :
	    "_mta-sts.", domain);
	/* The lookup's network seam: the same resolver, the same answers. */
	if ((net = mtasts_netops_get(ctx, &qerr)) == NULL)
		rc = MTASTS_ERROR;
	else
		rc = net->dns_query(ctx, t->qname, T_TXT, 0, &a, &qerr);
	if (rc != MTASTS_OK) {
		t->kind = MTASTS_TXT_RESOLVER;
		mtasts_strlcpy(t->why, qerr.text, sizeof(t->why));
		goto done;
	}
	t->dnssec = a->status == MTASTS_DNS_BOGUS ? "bogus" :
	    a->secure ? "secure" : "insecure";
	if (a->canonname[0] != '\0' &&
	    !mtasts_ascii_caseeq(a->canonname, strlen(a->canonname), t->qname,
	    strlen(t->qname))) {
		t->has_cname = 1;
		mtasts_strlcpy(t->cname, a->canonname, sizeof(t->cname));
	}
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
		break;
	case MTASTS_DNS_NXDOMAIN:
		t->kind = MTASTS_TXT_NXDOMAIN;
		goto done;
	case MTASTS_DNS_NODATA:
		t->kind = MTASTS_TXT_NODATA;
		goto done;
	case MTASTS_DNS_BOGUS:
		/*
		 * The checker's verdict: the signatures need repair, even
		 * where a lookup would use the unauthenticated id
		 * (D-DNSSEC-3).
		 */
		t->kind = MTASTS_TXT_BOGUS;
		mtasts_strlcpy(t->why, a->why, sizeof(t->why));
		goto done;
	default:
		t->kind = MTASTS_TXT_DNS_FAILED;
		mtasts_strlcpy(t->why, a->why, sizeof(t->why));
		goto done;
	}
	t->net = net;
	if (net->dns_txt_decode(a, &t->recs, &t->lens, &t->n) != MTASTS_OK) {
		t->recs = NULL;
		t->lens = NULL;
		t->n = 0;
		t->kind = MTASTS_TXT_MALFORMED;
		goto done;
	}
	for (i = 0; i < t->n; i++)
		if (mtasts_taglist_versioned(t->recs[i], t->lens[i], tlsrpt ?
		    TLSRPT_VERSION : STS_VERSION))
			t->nsts++;
	qerr.code = 0;
	qerr.text[0] = '\0';
	if (tlsrpt)
		rc = mtasts_tlsrpt_txt_select((const char *const *)t->recs,
		    t->lens, t->n, &t->rpt, &qerr);
	else
		rc = mtasts_txt_select((const char *const *)t->recs, t->lens,
		    t->n, t->id, &qerr);
	if (rc == MTASTS_OK)
		t->kind = MTASTS_TXT_FOUND;
	else if (rc == MTASTS_NOTFOUND) {
		t->kind = MTASTS_TXT_NO_STS;
		for (i = 0; i < t->n && !tlsrpt; i++)
			if (t->lens[i] >= 5 && mtasts_ascii_caseeq(t->recs[i],
			    5, "v=sts", 5)) {
				t->lookalike = (long)i;
				break;
			}
	} else if (rc == MTASTS_NOMEM) {
		net->dns_answer_free(a);
		net->dns_txt_free(t->recs, t->lens, t->n);
		free(t);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	} else {
		t->kind = t->n <= MTASTS_TXT_RECORDS_MAX && t->nsts > 1 ?
		    MTASTS_TXT_MULTIPLE : MTASTS_TXT_SYNTAX;
		mtasts_strlcpy(t->why, qerr.text, sizeof(t->why));
	}
done:
	if (net != NULL)
		net->dns_answer_free(a);
	*out = t;
	return MTASTS_OK;
}

int
mtasts_admin_txt_discover(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_txt_info **out, struct mtasts_error *err)
{
	return discover(ctx, domain, 0, out, err);
}

int
mtasts_admin_tlsrpt_discover(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_txt_info **out, struct mtasts_error *err)
{
	return discover(ctx, domain, 1, out, err);
}

size_t
mtasts_txt_info_rua_count(const struct mtasts_txt_info *t)
{
	return t->kind == MTASTS_TXT_FOUND ? t->rpt.nrua : 0;
}

const char *
mtasts_txt_info_rua(const struct mtasts_txt_info *t, size_t i)
{
	return i < mtasts_txt_info_rua_count(t) ? t->rpt.rua[i] : NULL;
}

size_t
mtasts_txt_info_rua_unsupported(const struct mtasts_txt_info *t)
{
	return t->kind == MTASTS_TXT_FOUND ? t->rpt.nunsupported : 0;
}

void
mtasts_txt_info_free(struct mtasts_txt_info *t)
{
	if (t == NULL)
		return;
	if (t->net != NULL)
		t->net->dns_txt_free(t->recs, t->lens, t->n);
	free(t);
}

int
mtasts_txt_info_kind(const struct mtasts_txt_info *t)
{
	return t->kind;
}

const char *
mtasts_txt_info_qname(const struct mtasts_txt_info *t)
{
	return t->qname;
}

const char *
mtasts_txt_info_id(const struct mtasts_txt_info *t)
{
	return t->id;
}

const char *
mtasts_txt_info_why(const struct mtasts_txt_info *t)
{
	return t->why;
}

const char *
mtasts_txt_info_dnssec(const struct mtasts_txt_info *t)
{
	return t->dnssec;
}

const char *
mtasts_txt_info_cname(const struct mtasts_txt_info *t)
{
	return t->has_cname ? t->cname : NULL;
}

size_t
mtasts_txt_info_count(const struct mtasts_txt_info *t)
{
	return t->n;
}

const char *
mtasts_txt_info_record(const struct mtasts_txt_info *t, size_t i,
    size_t *len)
{
	*len = t->lens[i];
	return t->recs[i];
}

size_t
mtasts_txt_info_nsts(const struct mtasts_txt_info *t)
{
	return t->nsts;
}

long
mtasts_txt_info_lookalike(const struct mtasts_txt_info *t)
{
	return t->lookalike;
}

int
mtasts_fetch_kind(const struct mtasts_fetch *f)
{
	if (f->rc == MTASTS_OK)
		return MTASTS_FETCH_OK;
	if (strcmp(f->result_type, MTASTS_RT_STS_WEBPKI_INVALID) == 0) {
		/* The MX classification of the same failure (§4.3.1). */
		const char *t = mtasts_tls_verify_type(f->verify_error, 0);

		if (strcmp(t, MTASTS_RT_CERT_EXPIRED) == 0)
			return MTASTS_FETCH_CERT_EXPIRED;
		if (strcmp(t, MTASTS_RT_CERT_HOST_MISMATCH) == 0)
			return MTASTS_FETCH_CERT_NAME;
		return MTASTS_FETCH_CERT_OTHER;
	}
	if (f->http_status >= 300 && f->http_status < 400)
		return MTASTS_FETCH_REDIRECT;
	if (f->http_status != 0 && f->http_status != 200)
		return MTASTS_FETCH_HTTP_STATUS;
	if (f->fail_kind == MTASTS_FETCH_TOO_LARGE ||
	    f->fail_kind == MTASTS_FETCH_MEDIA_TYPE)
		return f->fail_kind;
	return MTASTS_FETCH_OTHER;
}

struct mtasts_fetch_info {
	struct mtasts_fetch f;
	size_t naddrs;
};

int
mtasts_admin_policy_fetch(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch_info **out, struct mtasts_error *err)
{
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	struct mtasts_fetch_info *fi;
	char host[MTASTS_DOMAIN_MAX + 16];
	size_t n = 0;
	int rc;

	*out = NULL;
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	rc = mtasts_dns_addrs(ctx, host, 443, 0, addrs, MTASTS_ADDRS_MAX, &n,
	    err);
	if (rc != MTASTS_OK)
		return rc;
	if ((fi = calloc(1, sizeof(*fi))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	fi->naddrs = n;
	mtasts_fetch_from(ctx, host, addrs, n, mtasts_mono_ms() +
	    ctx->cfg.fetch_timeout_ms, &fi->f);
	*out = fi;
	return MTASTS_OK;
}

void
mtasts_fetch_info_free(struct mtasts_fetch_info *fi)
{
	if (fi == NULL)
		return;
	mtasts_fetch_clear(&fi->f);
	free(fi);
}

int
mtasts_fetch_info_rc(const struct mtasts_fetch_info *fi)
{
	return fi->f.rc;
}

int
mtasts_fetch_info_kind(const struct mtasts_fetch_info *fi)
{
	return mtasts_fetch_kind(&fi->f);
}

size_t
mtasts_fetch_info_addresses(const struct mtasts_fetch_info *fi)
{
	return fi->naddrs;
}

const char *
mtasts_fetch_info_addr(const struct mtasts_fetch_info *fi)
{
	return fi->f.addr;
}

const char *
mtasts_fetch_info_tls_version(const struct mtasts_fetch_info *fi)
{
	return fi->f.tls_version;
}

const char *
mtasts_fetch_info_cert_subject(const struct mtasts_fetch_info *fi)
{
	return fi->f.cert_subject;
}

const char *
mtasts_fetch_info_cert_san(const struct mtasts_fetch_info *fi)
{
	return fi->f.cert_san;
}

time_t
mtasts_fetch_info_cert_not_after(const struct mtasts_fetch_info *fi)
{
	return fi->f.cert_not_after;
}

int
mtasts_fetch_info_http_status(const struct mtasts_fetch_info *fi)
{
	return fi->f.http_status;
}

const char *
mtasts_fetch_info_content_type(const struct mtasts_fetch_info *fi)
{
	return fi->f.content_type;
}

const char *
mtasts_fetch_info_location(const struct mtasts_fetch_info *fi)
{
	return fi->f.location;
}

const char *
mtasts_fetch_info_body(const struct mtasts_fetch_info *fi, size_t *len)
{
	*len = fi->f.rc == MTASTS_OK ? fi->f.body_len : 0;
	return fi->f.rc == MTASTS_OK ? fi->f.body : NULL;
}

const char *
mtasts_fetch_info_result_type(const struct mtasts_fetch_info *fi)
{
	return fi->f.result_type;
}

const char *
mtasts_fetch_info_reason(const struct mtasts_fetch_info *fi)
{
	return fi->f.reason;
}

/* ---- the SMTP probe of one MX host (mtasts check; probe.c) ---- */

/* Addresses of one host a probe tries, in order. */
#define PROBE_ADDRS_MAX 8

struct mtasts_probe_target {
	char host[MTASTS_DOMAIN_MAX + 1];
	struct sockaddr_storage addrs[PROBE_ADDRS_MAX];
	size_t naddrs;
};

int
mtasts_admin_probe_target(struct mtasts_ctx *ctx, const char *host,
    int port, struct mtasts_probe_target **out, struct mtasts_error *err)
{
	struct mtasts_probe_target *t;
	int rc;

	*out = NULL;
	if (host == NULL || strlen(host) > MTASTS_DOMAIN_MAX)
		return mtasts_err(err, MTASTS_INVALID, "not a host name");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	mtasts_strlcpy(t->host, host, sizeof(t->host));
	rc = mtasts_dns_addrs(ctx, host, port, 0, t->addrs, PROBE_ADDRS_MAX,
	    &t->naddrs, err);
	if (rc != MTASTS_OK) {
		free(t);
		return rc;
	}
	*out = t;
	return MTASTS_OK;
}

void
mtasts_admin_probe_target_free(struct mtasts_probe_target *t)
{
	free(t);
}

void
mtasts_admin_probe_run(struct mtasts_ctx *ctx,
    const struct mtasts_probe_target *t, int64_t deadline_ms_mono,
    struct mtasts_probe *out)
{
	mtasts_probe_smtp(ctx, t->host, t->addrs, t->naddrs, deadline_ms_mono,
	    out);
}
