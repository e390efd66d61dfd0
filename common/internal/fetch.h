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
#include "internal/http.h"
#include "internal/net.h"

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
 * The two steps of mtasts_fetch_policy() before mtasts_fetch_from(), for
 * refresh.c's asynchronous fetches: the policy host of domain (-1: res
 * failed), and the outcome of its address look-up (rc, n addresses, err
 * as mtasts_dns_addrs() gives them; 0 go on, -1 res failed).
 */
int mtasts_fetch_host(const char *domain, char *host, size_t size,
    struct mtasts_fetch *res);
int mtasts_fetch_addrs_judge(const char *host, int rc, size_t n,
    const struct mtasts_error *err, struct mtasts_fetch *res);
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

/*
 * fetch.c: the policy fetch as a state machine (D-NET-6), so that one
 * process can have many in flight (refresh.c) and the blocking fetch is
 * the same code with one. start (no I/O), then step until it returns 1
 * (res filled as mtasts_fetch_from() fills it); while step returns 0,
 * poll pfd[0..npfd) until wake (a mtasts_mono_ms() time), tell the
 * machine with mtasts_fetch_sm_polled() (pfd[] revents as poll() left
 * them; poll_errno 0 or poll()'s errno) and step again. abort frees an
 * unfinished one (res keeps what the furthest attempt so far left).
 */
/*
 * A request of the caller's through the same machine (the TLS-RPT POST,
 * report.c): one attempt over the untried addresses, TLS checked as peer
 * says, head then body written, the response read until its status line
 * and headers are parsed (at most resp_max bytes). Out: status (0 none),
 * why ("" when the request got an answer, 2xx or not: then status says
 * it), nomem.
 */
struct mtasts_https_req {
	int peer;			/* enum mtasts_tls_peer */
	const char *head;
	size_t headlen;
	const char *body;
	size_t bodylen;
	size_t resp_max;
	int status;
	int nomem;
	char why[MTASTS_REASON_MAX];
};

struct mtasts_fetch_sm {
	struct mtasts_ctx *ctx;
	struct mtasts_https_req *rq;	/* NULL: the policy GET */
	struct ssl_ctx_st *sctx;
	struct mtasts_fetch *res;	/* the answer: furthest attempt */
	struct mtasts_fetch cur;	/* this attempt */
	char host[MTASTS_DOMAIN_MAX + 1];
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	size_t naddrs, left;
	int err[MTASTS_ADDRS_MAX], before[MTASTS_ADDRS_MAX];
	int64_t deadline, t0;
	int phase, prog, best;
	struct mtasts_conn c;
	struct mtasts_race race;
	char as[64];
	char req[512];
	int reqlen;
	const char *wp[2];		/* what to write: request, body */
	size_t wl[2], wpart, woff;
	struct mtasts_http_parser ps;
	struct mtasts_http_resp resp;
	char *buf;
	size_t len, size;
	int reading;
	/* What to wait for before the next step. */
	struct pollfd pfd[MTASTS_ADDRS_MAX];
	size_t npfd;
	int64_t wake;
};
void mtasts_fetch_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res);
int mtasts_fetch_sm_step(struct mtasts_fetch_sm *sm);
void mtasts_fetch_sm_polled(struct mtasts_fetch_sm *sm, int poll_errno);
void mtasts_fetch_sm_abort(struct mtasts_fetch_sm *sm);
/*
 * The machine for a request of the caller's (struct mtasts_https_req):
 * start, and its blocking driver. err[0..naddrs) as for
 * mtasts_conn_race() (in: what earlier attempts left; out: updated).
 * mtasts_https_request() returns 0 when the request got an HTTP answer
 * (rq->status; rq->why set unless 2xx), -1 with rq->why.
 */
void mtasts_https_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    struct ssl_ctx_st *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, const int *err,
    int64_t deadline_ms_mono, struct mtasts_https_req *rq);
int mtasts_https_request(struct mtasts_ctx *ctx, struct ssl_ctx_st *sctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int *err, int64_t deadline_ms_mono, struct mtasts_https_req *rq);

#endif /* MTASTS_INTERNAL_FETCH_H */
