/* SPDX-License-Identifier: ISC */
/*
 * internal/fetch.h - fetch.c: the HTTPS policy fetch.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_FETCH_H
#define MTASTS_INTERNAL_FETCH_H

#include "internal/base.h"

struct mtasts_fetch {
	/*
	 * MTASTS_OK, MTASTS_TEMPFAIL, MTASTS_INVALID; MTASTS_NOMEM when the
	 * fetch ran out of memory locally (never the domain's fault: the
	 * lookup neither records nor reports it, decisions.md D-OOM-1);
	 * MTASTS_ERROR for a local fault (the CA store cannot be loaded): a
	 * configuration error, never the domain's (decisions.md D-CONF-5).
	 */
	int rc;
	char result_type[MTASTS_RESULT_TYPE_MAX];	/* RFC 8460, on error */
	char reason[MTASTS_REASON_MAX];
	int http_status;
	char *body;		/* malloc'd, NUL-terminated, on OK */
	size_t body_len;
	/*
	 * Details of the reported attempt, for `mtasts check`: filled as
	 * far as it got ("" / 0 when it did not get there).
	 */
	char addr[64];			/* "ip:port" */
	char tls_version[16];		/* "TLSv1.3" */
	char cert_subject[256];		/* leaf, RFC 2253, sanitised */
	char cert_san[256];		/* leaf DNS SANs, comma-separated */
	time_t cert_not_after;		/* leaf notAfter, 0 unknown */
	char content_type[128];		/* as served, sanitised */
	char location[256];		/* Location header, sanitised */
	/* enum mtasts_fetch_kind of a failure, for `mtasts check` */
	int fail_kind;
	long verify_error;		/* X509_V_ERR_* of a PKIX failure */
};
/* The kind of res's failure (enum mtasts_fetch_kind), never by wording. */
int mtasts_fetch_kind(const struct mtasts_fetch *res);

/*
 * Fetch https://mta-sts.<domain>/.well-known/mta-sts.txt under one overall
 * deadline (cfg.fetch_timeout_ms): every address of the policy host, SNI
 * and PKIX + host-name verification, HTTP/1.1, status 200 only, text/plain
 * only, body <= MTASTS_POLICY_BODY_MAX. On failure rc/result_type/reason
 * say why: sts-webpki-invalid for certificate trouble, sts-policy-invalid
 * for a bad media type or oversize body, sts-policy-fetch-error for the
 * rest. The body is not parsed here. Release with mtasts_fetch_clear().
 */
void mtasts_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res);
void mtasts_fetch_clear(struct mtasts_fetch *res);
/*
 * Test seam: everything mtasts_fetch_policy() does after resolving host:
 * try addrs[0..naddrs) in order (ports from the sockaddrs) until
 * deadline_ms_mono (a mtasts_mono_ms() time). Fills res like
 * mtasts_fetch_policy().
 */
void mtasts_fetch_from(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res);
/* Free the lazily made SSL_CTX. */
void mtasts_fetch_free(struct mtasts_ctx *ctx);
/*
 * The context's client SSL_CTX * (made on first use: PKIX + TLS >= 1.2,
 * ca_file/ca_path), borrowed; NULL with err set. For TLS-RPT HTTPS POSTs.
 */
void *mtasts_fetch_ssl_ctx(struct mtasts_ctx *ctx, struct mtasts_error *err);

#endif /* MTASTS_INTERNAL_FETCH_H */
