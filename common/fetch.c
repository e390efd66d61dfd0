/* SPDX-License-Identifier: ISC */
/*
 * fetch.c - HTTPS fetch of the MTA-STS policy (RFC 8461 §3.2, §3.3).
 *
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt over OpenSSL with
 * SNI and PKIX + DNS-ID verification, under one overall deadline that
 * covers DNS, connect, handshake, request and body: the fetch runs inside
 * a delivery process, so a slow or silent server must not hold it. The
 * addresses of the policy host are raced (RFC 8305, D-NET-3); one that
 * connects but fails before an HTTP answer leaves the rest to a new race
 * within the same deadline (D-NET-4).
 *
 * I/O is net.c's connection: OpenSSL over a BIO pair, the socket
 * non-blocking and polled against the deadline, writes with MSG_NOSIGNAL.
 * So no write can raise SIGPIPE in the host MTA, no signal handler or
 * signal mask is touched, and no OpenSSL call can block.
 *
 * No global OpenSSL state is changed beyond OPENSSL_init_ssl(). The error
 * queue is cleared before returning.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_internal.h"

#define FETCH_PATH "/.well-known/mta-sts.txt"
/* First size of the response buffer, doubled as needed. */
#define FETCH_IO_CHUNK 16384

/* How far one address got; the furthest failure is reported. */
enum {
	P_NONE = 0,
	P_CONNECT,		/* socket or TCP connect failed */
	P_TLS,			/* TLS failed, not because of the certificate */
	P_CERT,			/* certificate verification failed */
	P_HTTP,			/* verified TLS, but no usable HTTP response */
	P_RESPONSE,		/* an HTTP response: final, no other address */
	P_OK
};

/* Phases of struct mtasts_fetch_sm. */
enum { SM_DONE, SM_ROUND, SM_RACE, SM_HANDSHAKE, SM_WRITE, SM_READ };

static void set_fail(struct mtasts_fetch *res, int rc, const char *type,
    const char *fmt, ...) MTASTS_PRINTF(4, 5);

static void
set_fail(struct mtasts_fetch *res, int rc, const char *type,
    const char *fmt, ...)
{
	va_list ap;

	res->rc = rc;
	res->fail_kind = MTASTS_FETCH_OTHER;
	res->verify_error = 0;
	mtasts_strlcpy(res->result_type, type, sizeof(res->result_type));
	va_start(ap, fmt);
	if (vsnprintf(res->reason, sizeof(res->reason), fmt, ap) < 0)
		res->reason[0] = '\0';
	va_end(ap);
}

static void rq_fail(struct mtasts_fetch_sm *sm, const char *fmt, ...)
    MTASTS_PRINTF(2, 3);

/* A request of the caller's failed: its text (the first one stands). */
static void
rq_fail(struct mtasts_fetch_sm *sm, const char *fmt, ...)
{
	va_list ap;

	if (sm->rq->why[0] != '\0')
		return;
	va_start(ap, fmt);
	if (vsnprintf(sm->rq->why, sizeof(sm->rq->why), fmt, ap) < 0)
		sm->rq->why[0] = '\0';
	va_end(ap);
}

/*
 * Leaf certificate details for `mtasts check`. The chain, not
 * SSL_get0_peer_certificate(): after a failed verification only the
 * chain is kept, and that is when the details matter most.
 */
static void
info_cert(SSL *ssl, struct mtasts_fetch *res)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	X509 *cert;
	int days, secs;

	if (chain == NULL || sk_X509_num(chain) < 1)
		return;
	cert = sk_X509_value(chain, 0);
	mtasts_tls_name_text(X509_get_subject_name(cert), res->cert_subject,
	    sizeof(res->cert_subject));
	mtasts_tls_san_text(cert, res->cert_san, sizeof(res->cert_san));
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)) == 1)
		res->cert_not_after = time(NULL) + (time_t)days * 86400 + secs;
}

/* The Location header value of the response head in buf, if any. */
static void
info_location(const char *buf, size_t len, struct mtasts_fetch *res)
{
	size_t pos = 0, e;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);

		if (nl == NULL)
			return;
		e = (size_t)(nl - buf);
		if (e == pos || (e == pos + 1 && buf[pos] == '\r'))
			return;		/* end of the head */
		if (e - pos > 9 &&
		    mtasts_ascii_caseeq(buf + pos, 9, "location:", 9)) {
			size_t v = pos + 9;

			while (v < e && (buf[v] == ' ' || buf[v] == '\t'))
				v++;
			if (e > v && buf[e - 1] == '\r')
				e--;
			mtasts_printable(res->location, sizeof(res->location),
			    buf + v, e > v ? e - v : 0);
			return;
		}
		pos = (size_t)(nl - buf) + 1;
	}
}

/* The client SSL_CTX, made on the first fetch and kept in the context. */
static SSL_CTX *
tls_ctx(struct mtasts_ctx *ctx, struct mtasts_fetch *res)
{
	char why[MTASTS_REASON_MAX];

	if (ctx->ssl_ctx == NULL) {
		ctx->ssl_ctx = mtasts_tls_client_ctx(&ctx->cfg, 1, why,
		    sizeof(why));
		if (ctx->ssl_ctx == NULL) {
			/*
			 * D-CONF-5: no CA store is a configuration error,
			 * never the policy host's fault.
			 */
			set_fail(res, MTASTS_ERROR,
			    MTASTS_RT_STS_FETCH_ERROR, "configuration: %s",
			    why);
			mtasts_log(ctx, MTASTS_LOG_ERR, "fetch: %s",
			    res->reason);
		}
	}
	return ctx->ssl_ctx;
}

static int
build_request(const struct mtasts_ctx *ctx, const char *host, char *req,
    size_t size)
{
	const char *ua = ctx->cfg.user_agent;
	int n;

	/* A header line must not be injectable through the configuration. */
	if (ua[strcspn(ua, "\r\n")] != '\0' || ua[0] == '\0')
		ua = "mtasts/" MTASTS_VERSION_STRING;
	/* RFC 8461 §3.3: no conditional request, no HTTP caching. */
	n = snprintf(req, size,
	    "GET " FETCH_PATH " HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: %s\r\n"
	    "Accept: text/plain\r\n"
	    "Connection: close\r\n"
	    "\r\n", host, ua);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

/* Check the response so far; returns 1 when the attempt is decided. */
static int
judge(const char *as, int st, size_t len,
    const struct mtasts_http_resp *resp, struct mtasts_fetch *res,
    int *prog)
{
	if (resp->status != 0) {
		*prog = P_RESPONSE;
		res->http_status = resp->status;
		mtasts_printable(res->content_type, sizeof(res->content_type),
		    resp->content_type, strlen(resp->content_type));
		/* RFC 8461 §3.3: only 200, and 3xx MUST NOT be followed. */
		if (resp->status >= 300 && resp->status < 400) {
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "HTTP redirect (%d) not followed", resp->status);
			return 1;
		}
		if (resp->status != 200) {
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR, "HTTP status %d",
			    resp->status);
			return 1;
		}
		/* §3.2: guard against user-hosted non-text content. */
		if (!resp->content_type_ok) {
			if (resp->content_type[0] == '\0')
				set_fail(res, MTASTS_INVALID,
				    MTASTS_RT_STS_INVALID,
				    "media type is not text/plain "
				    "(no Content-Type)");
			else
				set_fail(res, MTASTS_INVALID,
				    MTASTS_RT_STS_INVALID,
				    "media type is not text/plain: "
				    "\"%.60s\"", resp->content_type);
			res->fail_kind = MTASTS_FETCH_MEDIA_TYPE;
			return 1;
		}
	}
	switch (st) {
	case MTASTS_HTTP_TOOBIG:
		set_fail(res, MTASTS_INVALID, MTASTS_RT_STS_INVALID,
		    "policy body larger than %d bytes",
		    MTASTS_POLICY_BODY_MAX);
		res->fail_kind = MTASTS_FETCH_TOO_LARGE;
		return 1;
	case MTASTS_HTTP_ERROR:
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "%s from %s: %s", resp->status != 0 ? "bad HTTP body" :
		    "malformed HTTP response", as, resp->why);
		return 1;
	case MTASTS_HTTP_DONE:
		if ((res->body = malloc(resp->body_len + 1)) == NULL) {
			set_fail(res, MTASTS_NOMEM,
			    MTASTS_RT_STS_FETCH_ERROR, "out of memory");
			return 1;
		}
		memcpy(res->body, resp->body, resp->body_len);
		res->body[resp->body_len] = '\0';
		res->body_len = resp->body_len;
		res->rc = MTASTS_OK;
		*prog = P_OK;
		return 1;
	default:
		break;
	}
	if (len >= MTASTS_HTTP_RAW_MAX) {
		set_fail(res, MTASTS_INVALID, MTASTS_RT_STS_INVALID,
		    "HTTP response larger than %d bytes", MTASTS_HTTP_RAW_MAX);
		res->fail_kind = MTASTS_FETCH_TOO_LARGE;
		return 1;
	}
	return 0;
}

/* Start reading the response of the attempt. */
static void
sm_read_init(struct mtasts_fetch_sm *sm)
{
	memset(&sm->resp, 0, sizeof(sm->resp));
	/* Incremental: each byte is parsed once (D-NET-5). */
	mtasts_http_parser_init(&sm->ps);
	sm->buf = NULL;
	sm->len = sm->size = 0;
	sm->reading = 1;
}

/* The attempt's response is judged: details, log, buffers freed. */
static void
sm_read_done(struct mtasts_fetch_sm *sm)
{
	if (!sm->reading)
		return;
	if (sm->rq == NULL && sm->resp.has_location)
		info_location(sm->buf, sm->len, &sm->cur);
	if (sm->rq == NULL && sm->resp.status != 0)
		mtasts_log(sm->ctx, MTASTS_LOG_DEBUG, "fetch: %s: HTTP %d, "
		    "Content-Type \"%s\", %zu bytes read", sm->as,
		    sm->resp.status, sm->resp.content_type, sm->len);
	mtasts_http_clear(&sm->resp);
	mtasts_http_parser_clear(&sm->ps);
	free(sm->buf);
	sm->buf = NULL;
	sm->reading = 0;
}

/*
 * One TLS step of the attempt against its deadline: the step's result, or
 * MTASTS_CONN_AGAIN with sm->pfd/sm->wake set for the caller's poll().
 */
static int
sm_tls(struct mtasts_fetch_sm *sm, int op, void *buf, int n)
{
	short ev;
	int r;

	r = mtasts_conn_tls_step(&sm->c, op, buf, n, &ev);
	if (r != MTASTS_CONN_AGAIN)
		return r;
	if (mtasts_mono_ms() >= sm->c.deadline) {
		/* As mtasts_conn_wait() says it. */
		sm->c.timed_out = 1;
		mtasts_strlcpy(sm->c.why, "timed out", sizeof(sm->c.why));
		return -1;
	}
	sm->pfd[0].fd = sm->c.fd;
	sm->pfd[0].events = ev;
	sm->pfd[0].revents = 0;
	sm->npfd = 1;
	sm->wake = sm->c.deadline;
	return MTASTS_CONN_AGAIN;
}

/*
 * A request of the caller's: only the status matters (RFC 8460 §5.4),
 * reading stops once the head is parsed. 1 decided, 0 waiting.
 */
static int
sm_read_rq(struct mtasts_fetch_sm *sm)
{
	size_t max = sm->rq->resp_max;
	int r;

	if (sm->buf == NULL && (sm->buf = malloc(max)) == NULL) {
		rq_fail(sm, "out of memory");
		sm->rq->nomem = 1;
		return 1;
	}
	while (sm->len < max) {
		r = sm_tls(sm, MTASTS_TLS_READ, sm->buf + sm->len,
		    (int)(max - sm->len));
		if (r == MTASTS_CONN_AGAIN)
			return 0;
		if (r <= 0)
			break;
		sm->len += (size_t)r;
		/* Incremental: each byte is parsed once (D-NET-5). */
		mtasts_http_feed(&sm->ps, sm->buf, sm->len, 0, max, &sm->resp);
		if (sm->resp.status != 0)
			break;
	}
	if (sm->resp.status == 0)
		mtasts_http_feed(&sm->ps, sm->buf, sm->len, 1, max,
		    &sm->resp);
	sm->rq->status = sm->resp.status;
	if (sm->resp.status < 200 || sm->resp.status > 299)
		rq_fail(sm, "%s answered HTTP %d", sm->host, sm->resp.status);
	return 1;
}

/* Read and judge the response: 1 decided, 0 waiting for the socket. */
static int
sm_read(struct mtasts_fetch_sm *sm)
{
	struct mtasts_fetch *res = &sm->cur;
	char *nb;
	int n, st, eof;

	if (sm->rq != NULL)
		return sm_read_rq(sm);
	for (;;) {
		eof = 0;
		if (sm->len == sm->size) {
			sm->size = sm->size == 0 ? FETCH_IO_CHUNK :
			    sm->size * 2;
			if (sm->size > MTASTS_HTTP_RAW_MAX)
				sm->size = MTASTS_HTTP_RAW_MAX;
			if ((nb = realloc(sm->buf, sm->size)) == NULL) {
				set_fail(res, MTASTS_NOMEM,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "out of memory");
				return 1;
			}
			sm->buf = nb;
		}
		n = sm_tls(sm, MTASTS_TLS_READ, sm->buf + sm->len,
		    (int)(sm->size - sm->len));
		if (n == MTASTS_CONN_AGAIN)
			return 0;
		if (n > 0) {
			sm->len += (size_t)n;
			st = mtasts_http_feed(&sm->ps, sm->buf, sm->len, 0,
			    MTASTS_POLICY_BODY_MAX, &sm->resp);
		} else if (n == 0) {
			eof = 1;
			st = mtasts_http_feed(&sm->ps, sm->buf, sm->len, 1,
			    MTASTS_POLICY_BODY_MAX, &sm->resp);
		} else if (n == MTASTS_CONN_EOF_UNCLEAN) {
			/*
			 * TCP closed without close_notify: fine when the
			 * framing already ended the body, but a
			 * close-delimited body could have been truncated
			 * by anyone on the path.
			 */
			eof = 1;
			st = mtasts_http_feed(&sm->ps, sm->buf, sm->len, 0,
			    MTASTS_POLICY_BODY_MAX, &sm->resp);
			if (st == MTASTS_HTTP_MORE) {
				st = mtasts_http_feed(&sm->ps, sm->buf,
				    sm->len, 1, MTASTS_POLICY_BODY_MAX,
				    &sm->resp);
				if (st == MTASTS_HTTP_DONE) {
					st = MTASTS_HTTP_ERROR;
					mtasts_strlcpy(sm->resp.why,
					    "connection closed without TLS "
					    "close_notify",
					    sizeof(sm->resp.why));
				}
			}
		} else {
			if (sm->resp.status != 0)
				sm->prog = P_RESPONSE;
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "reading response from %s: %s after %zu bytes",
			    sm->as, mtasts_conn_why(&sm->c), sm->len);
			return 1;
		}
		if (judge(sm->as, st, sm->len, &sm->resp, res, &sm->prog))
			return 1;
		if (eof) {
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "incomplete HTTP response from %s", sm->as);
			return 1;
		}
	}
}

/* The race is over: log it; 0 connected (go on with TLS), -1 failed. */
static int
sm_raced(struct mtasts_fetch_sm *sm)
{
	struct mtasts_fetch *res = &sm->cur;
	char as[sizeof(res->addr)];
	size_t i, nfail = 0;
	int w = sm->race.winner;

	for (i = 0, sm->left = 0; i < sm->naddrs; i++) {
		if (sm->err[i] > 0) {
			nfail++;
			if (sm->before[i] == MTASTS_RACE_UNTRIED) {
				mtasts_addr_text(&sm->addrs[i], as,
				    sizeof(as));
				mtasts_log(sm->ctx, MTASTS_LOG_DEBUG,
				    "fetch: %s: connect to %s: %s", sm->host,
				    as, sm->err[i] == ETIMEDOUT &&
				    sm->c.timed_out ? "timed out" :
				    strerror(sm->err[i]));
			}
		} else if (sm->err[i] == MTASTS_RACE_UNTRIED)
			sm->left++;
	}
	if (w < 0 && sm->rq != NULL) {
		if (sm->c.race_last >= 0) {
			mtasts_addr_text(&sm->addrs[sm->c.race_last], as,
			    sizeof(as));
			rq_fail(sm, "connect %s (%s): %s", sm->host, as,
			    mtasts_conn_why(&sm->c));
		} else
			rq_fail(sm, "connect %s: %s", sm->host,
			    mtasts_conn_why(&sm->c));
		return -1;
	}
	if (w < 0) {
		if (sm->c.race_last >= 0)
			mtasts_addr_text(&sm->addrs[sm->c.race_last], sm->as,
			    sizeof(sm->as));
		else
			mtasts_strlcpy(sm->as, sm->host, sizeof(sm->as));
		mtasts_strlcpy(res->addr, sm->as, sizeof(res->addr));
		if (nfail > 1)
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "connect to %s: %s (%zu addresses tried)", sm->as,
			    mtasts_conn_why(&sm->c), nfail);
		else
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR, "connect to %s: %s",
			    sm->as, mtasts_conn_why(&sm->c));
		return -1;
	}
	mtasts_addr_text(&sm->addrs[w], sm->as, sizeof(sm->as));
	mtasts_strlcpy(res->addr, sm->as, sizeof(res->addr));
	if (sm->rq == NULL)
		mtasts_log(sm->ctx, MTASTS_LOG_DEBUG, "fetch: %s: connected "
		    "to %s", sm->host, sm->as);
	sm->prog = P_TLS;
	/*
	 * RFC 8461 §7.1: SNI is the policy host. §3.3: the certificate must
	 * be valid for it as a DNS-ID (RFC 6125): SAN only, never the CN,
	 * and a wildcard only as the whole left-most label.
	 */
	if (mtasts_conn_tls_start(&sm->c, sm->sctx, sm->host,
	    sm->rq != NULL ? sm->rq->peer : MTASTS_TLS_PEER_DNSID) != 0) {
		if (sm->rq != NULL)
			rq_fail(sm, "TLS setup failed");
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", mtasts_tls_reason());
		return -1;
	}
	/*
	 * D-NET-4: while other addresses are left, a handshake that stalls
	 * (a path that passes SYNs but drops full-sized segments) may take
	 * only half of the time left, so they still get theirs.
	 */
	{
		int64_t now = mtasts_mono_ms();

		if (sm->left > 0 && sm->deadline > now)
			sm->c.deadline = now + (sm->deadline - now) / 2;
	}
	return 0;
}

/* The handshake ended (r: its result): 0 verified, go on; -1 failed. */
static int
sm_handshaken(struct mtasts_fetch_sm *sm, int r)
{
	struct mtasts_fetch *res = &sm->cur;
	long v;

	sm->c.deadline = sm->deadline;
	if (sm->rq != NULL) {
		if (r <= 0) {
			v = SSL_get_verify_result(sm->c.ssl);
			rq_fail(sm, "TLS handshake with %s: %s", sm->host,
			    v != X509_V_OK ? X509_verify_cert_error_string(v) :
			    sm->c.timed_out ? "timed out" : "failed");
			return -1;
		}
		sm->prog = P_HTTP;
		sm->wp[0] = sm->rq->head;
		sm->wl[0] = sm->rq->headlen;
		sm->wp[1] = sm->rq->body;
		sm->wl[1] = sm->rq->bodylen;
		sm->wpart = sm->woff = 0;
		return 0;
	}
	info_cert(sm->c.ssl, res);
	if ((v = mtasts_conn_tls_verify_result(&sm->c)) != X509_V_OK) {
		sm->prog = P_CERT;
		set_fail(res, MTASTS_TEMPFAIL,
		    mtasts_tls_verify_type(v, 1), "%s (%s) from %s",
		    X509_verify_cert_error_string(v),
		    mtasts_tls_verify_name(v), sm->as);
		res->verify_error = v;
		return -1;
	}
	if (r <= 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS handshake with %s: %s", sm->as,
		    mtasts_conn_why(&sm->c));
		return -1;
	}
	sm->c.timed_out = 0;
	sm->prog = P_HTTP;
	mtasts_strlcpy(res->tls_version, SSL_get_version(sm->c.ssl),
	    sizeof(res->tls_version));
	mtasts_log(sm->ctx, MTASTS_LOG_DEBUG, "fetch: %s: %s %s with %s",
	    sm->host, SSL_get_version(sm->c.ssl),
	    SSL_get_cipher_name(sm->c.ssl), sm->as);
	if ((sm->reqlen = build_request(sm->ctx, sm->host, sm->req,
	    sizeof(sm->req))) < 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "request too long");
		return -1;
	}
	sm->wp[0] = sm->req;
	sm->wl[0] = (size_t)sm->reqlen;
	sm->wp[1] = NULL;
	sm->wl[1] = 0;
	sm->wpart = sm->woff = 0;
	return 0;
}

/* The attempt is over: keep the furthest one (its progress decides). */
static void
sm_attempt_done(struct mtasts_fetch_sm *sm)
{
	sm_read_done(sm);
	if (sm->cur.rc != MTASTS_OK)
		mtasts_log(sm->ctx, MTASTS_LOG_DEBUG, "fetch: %s: %s: %s",
		    sm->host, sm->cur.result_type, sm->cur.reason);
	mtasts_conn_close(&sm->c);
	ERR_clear_error();
	if (sm->rq != NULL) {
		/* One attempt: the caller runs the rounds. */
		mtasts_fetch_clear(&sm->cur);
		sm->phase = SM_DONE;
		return;
	}
	if (sm->prog > sm->best) {
		mtasts_fetch_clear(sm->res);
		*sm->res = sm->cur;
		sm->best = sm->prog;
	} else
		mtasts_fetch_clear(&sm->cur);
	memset(&sm->cur, 0, sizeof(sm->cur));
	/* Any HTTP answer is the server's word: don't shop around. */
	sm->phase = sm->prog >= P_RESPONSE || sm->prog == P_CONNECT ?
	    SM_DONE : SM_ROUND;
}

void
mtasts_fetch_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res)
{
	size_t i, hlen = strlen(host);

	memset(sm, 0, sizeof(*sm));
	memset(res, 0, sizeof(*res));
	sm->ctx = ctx;
	sm->res = res;
	sm->deadline = deadline_ms_mono;
	sm->t0 = mtasts_mono_ms();
	sm->c.fd = -1;
	sm->phase = SM_DONE;
	mtasts_strlcpy(sm->host, host, sizeof(sm->host));
	/* host goes into SNI and the Host header: no room for surprises. */
	if (hlen == 0 || hlen > MTASTS_DOMAIN_MAX ||
	    host[strcspn(host, " \t\r\n/:@")] != '\0') {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "invalid policy host name");
		return;
	}
	if (naddrs == 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s has no address", host);
		return;
	}
	if ((sm->sctx = tls_ctx(ctx, res)) == NULL)
		return;
	if (naddrs > MTASTS_ADDRS_MAX)
		naddrs = MTASTS_ADDRS_MAX;
	memcpy(sm->addrs, addrs, naddrs * sizeof(*addrs));
	sm->naddrs = naddrs;
	for (i = 0; i < naddrs; i++)
		sm->err[i] = MTASTS_RACE_UNTRIED;
	sm->best = P_NONE;
	sm->phase = SM_ROUND;
}

void
mtasts_https_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    struct ssl_ctx_st *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, const int *err,
    int64_t deadline_ms_mono, struct mtasts_https_req *rq)
{
	memset(sm, 0, sizeof(*sm));
	sm->ctx = ctx;
	sm->sctx = sctx;
	sm->rq = rq;
	sm->res = &sm->cur;
	sm->deadline = deadline_ms_mono;
	sm->t0 = mtasts_mono_ms();
	sm->c.fd = -1;
	rq->status = 0;
	rq->nomem = 0;
	rq->why[0] = '\0';
	mtasts_strlcpy(sm->host, host, sizeof(sm->host));
	if (naddrs > MTASTS_ADDRS_MAX)
		naddrs = MTASTS_ADDRS_MAX;
	memcpy(sm->addrs, addrs, naddrs * sizeof(*addrs));
	memcpy(sm->err, err, naddrs * sizeof(*err));
	sm->naddrs = naddrs;
	sm->best = P_NONE;
	sm->phase = SM_ROUND;
}

static void
sm_run(struct mtasts_fetch_sm *sm)
{
	int64_t wait;
	int r;

	while (mtasts_fetch_sm_step(sm) == 0) {
		wait = sm->wake - mtasts_mono_ms();
		if (wait < 0)
			wait = 0;
		r = poll(sm->pfd, sm->npfd, wait > INT_MAX ? INT_MAX :
		    (int)wait);
		mtasts_fetch_sm_polled(sm, r < 0 && errno != EINTR ? errno :
		    0);
	}
}

int
mtasts_https_request(struct mtasts_ctx *ctx, struct ssl_ctx_st *sctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int *err, int64_t deadline_ms_mono, struct mtasts_https_req *rq)
{
	struct mtasts_fetch_sm *sm;

	if ((sm = malloc(sizeof(*sm))) == NULL) {
		rq->status = 0;
		rq->nomem = 1;
		mtasts_strlcpy(rq->why, "out of memory", sizeof(rq->why));
		return -1;
	}
	mtasts_https_sm_start(sm, ctx, sctx, host, addrs, naddrs, err,
	    deadline_ms_mono, rq);
	sm_run(sm);
	if (naddrs > MTASTS_ADDRS_MAX)
		naddrs = MTASTS_ADDRS_MAX;
	memcpy(err, sm->err, naddrs * sizeof(*err));
	free(sm);
	return rq->why[0] == '\0' ? 0 : -1;
}

int
mtasts_fetch_sm_step(struct mtasts_fetch_sm *sm)
{
	struct mtasts_fetch *res;
	size_t i, left;
	int r;

	sm->npfd = 0;
	for (;;) {
		switch (sm->phase) {
		case SM_ROUND:
			/*
			 * Each round races the addresses not yet used
			 * (D-NET-3); when the winner fails short of an HTTP
			 * response (TLS, certificate, no answer), the next
			 * round races the rest within the same deadline
			 * (D-NET-4).
			 */
			if (mtasts_mono_ms() >= sm->deadline) {
				if (sm->rq != NULL)
					rq_fail(sm, "connect %s: timed out",
					    sm->host);
				if (sm->best == P_NONE)
					set_fail(sm->res, MTASTS_TEMPFAIL,
					    MTASTS_RT_STS_FETCH_ERROR,
					    "timed out before connecting to "
					    "%s", sm->host);
				sm->phase = SM_DONE;
				break;
			}
			for (i = 0, left = 0; i < sm->naddrs; i++)
				if (sm->err[i] == MTASTS_RACE_UNTRIED)
					left++;
			if (left == 0) {
				if (sm->rq != NULL)
					rq_fail(sm, "connect %s: no address to "
					    "try", sm->host);
				sm->phase = SM_DONE;
				break;
			}
			memset(&sm->cur, 0, sizeof(sm->cur));
			mtasts_conn_init(&sm->c, sm->deadline);
			memcpy(sm->before, sm->err,
			    sm->naddrs * sizeof(*sm->err));
			sm->prog = P_CONNECT;
			if (sm->rq == NULL)
				mtasts_log(sm->ctx, MTASTS_LOG_DEBUG,
				    "fetch: %s: connecting", sm->host);
			mtasts_race_begin(&sm->race, &sm->c, sm->addrs,
			    sm->naddrs, sm->err);
			sm->phase = SM_RACE;
			/* FALLTHROUGH */
		case SM_RACE:
			if (mtasts_race_step(&sm->race, &sm->c,
			    &sm->wake) == 0) {
				memcpy(sm->pfd, sm->race.pfd,
				    sm->race.npend * sizeof(*sm->pfd));
				sm->npfd = sm->race.npend;
				return 0;
			}
			if (sm_raced(sm) != 0) {
				sm_attempt_done(sm);
				break;
			}
			sm->phase = SM_HANDSHAKE;
			/* FALLTHROUGH */
		case SM_HANDSHAKE:
			r = sm_tls(sm, MTASTS_TLS_HANDSHAKE, NULL, 0);
			if (r == MTASTS_CONN_AGAIN)
				return 0;
			if (sm_handshaken(sm, r) != 0) {
				sm_attempt_done(sm);
				break;
			}
			sm->phase = SM_WRITE;
			/* FALLTHROUGH */
		case SM_WRITE:
			/* Not partial-write mode: SSL_write() takes all n. */
			while (sm->wpart < 2) {
				size_t rest = sm->wl[sm->wpart] - sm->woff;

				if (rest == 0) {
					sm->wpart++;
					sm->woff = 0;
					continue;
				}
				r = sm_tls(sm, MTASTS_TLS_WRITE,
				    (void *)(uintptr_t)(sm->wp[sm->wpart] +
				    sm->woff), rest > INT_MAX ? INT_MAX :
				    (int)rest);
				if (r == MTASTS_CONN_AGAIN)
					return 0;
				if (r <= 0)
					break;
				sm->woff += (size_t)r;
			}
			if (sm->wpart < 2 && sm->rq != NULL) {
				rq_fail(sm, "sending to %s failed", sm->host);
				sm_attempt_done(sm);
				break;
			}
			if (sm->wpart < 2) {
				set_fail(&sm->cur, MTASTS_TEMPFAIL,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "sending request to %s: %s", sm->as,
				    mtasts_conn_why(&sm->c));
				sm_attempt_done(sm);
				break;
			}
			sm_read_init(sm);
			sm->phase = SM_READ;
			/* FALLTHROUGH */
		case SM_READ:
			if (sm_read(sm) == 0)
				return 0;
			sm_attempt_done(sm);
			break;
		default:
			res = sm->res;
			if (sm->rq != NULL)
				return 1;
			if (res->rc == MTASTS_OK)
				mtasts_log(sm->ctx, MTASTS_LOG_INFO,
				    "fetch: https://%s" FETCH_PATH ": %zu "
				    "bytes in %lld ms", sm->host,
				    res->body_len,
				    (long long)(mtasts_mono_ms() - sm->t0));
			else
				mtasts_log(sm->ctx, MTASTS_LOG_INFO,
				    "fetch: https://%s" FETCH_PATH ": %s: %s "
				    "(%lld ms)",
				    sm->host, res->result_type, res->reason,
				    (long long)(mtasts_mono_ms() - sm->t0));
			return 1;
		}
	}
}

void
mtasts_fetch_sm_abort(struct mtasts_fetch_sm *sm)
{
	size_t i;

	if (sm->phase == SM_RACE)
		for (i = 0; i < sm->race.npend; i++)
			close(sm->race.pfd[i].fd);
	sm->race.npend = 0;
	sm_read_done(sm);
	mtasts_conn_close(&sm->c);
	mtasts_fetch_clear(&sm->cur);
	ERR_clear_error();
	sm->phase = SM_DONE;
}

/*
 * The blocking fetch is the state machine with one request in flight
 * (D-NET-6): poll() on what it waits for, step again.
 */
void
mtasts_fetch_from(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res)
{
	struct mtasts_fetch_sm *sm;

	if ((sm = malloc(sizeof(*sm))) == NULL) {
		memset(res, 0, sizeof(*res));
		set_fail(res, MTASTS_NOMEM, MTASTS_RT_STS_FETCH_ERROR,
		    "out of memory");
		return;
	}
	mtasts_fetch_sm_start(sm, ctx, host, addrs, naddrs,
	    deadline_ms_mono, res);
	sm_run(sm);
	free(sm);
}

void
mtasts_fetch_sm_polled(struct mtasts_fetch_sm *sm, int poll_errno)
{
	/* Only the race looks at revents; TLS steps just try again. */
	if (sm->phase == SM_RACE) {
		memcpy(sm->race.pfd, sm->pfd,
		    sm->race.npend * sizeof(*sm->pfd));
		sm->race.poll_errno = poll_errno;
	} else if (poll_errno != 0) {
		snprintf(sm->c.why, sizeof(sm->c.why), "poll: %s",
		    strerror(poll_errno));
	}
}

int
mtasts_fetch_host(const char *domain, char *host, size_t size,
    struct mtasts_fetch *res)
{
	int len;

	/* RFC 8461 §3.2: the Policy Host is "mta-sts." + Policy Domain. */
	len = snprintf(host, size, "mta-sts.%s", domain);
	if (len < 0 || (size_t)len >= size) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host name for %.60s is too long", domain);
		return -1;
	}
	return 0;
}

int
mtasts_fetch_addrs_judge(const char *host, int rc, size_t n,
    const struct mtasts_error *err, struct mtasts_fetch *res)
{
	if (rc == MTASTS_NOTFOUND || (rc == MTASTS_OK && n == 0)) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s has no address", host);
		return -1;
	}
	if (rc != MTASTS_OK) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s: address lookup failed: %.80s", host,
		    err->text[0] != '\0' ? err->text : mtasts_strerror(rc));
		return -1;
	}
	return 0;
}

void
mtasts_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res)
{
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	struct mtasts_error err;
	char host[MTASTS_DOMAIN_MAX + 1];
	int64_t deadline = mtasts_mono_ms() + ctx->cfg.fetch_timeout_ms;
	int64_t rem;
	size_t n = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&err, 0, sizeof(err));
	if (mtasts_fetch_host(domain, host, sizeof(host), res) != 0)
		return;
	rem = deadline - mtasts_mono_ms();
	rc = mtasts_dns_addrs(ctx, host, 443, rem > 0 ? (int)rem : 1, addrs,
	    MTASTS_ADDRS_MAX, &n, &err);
	if (mtasts_fetch_addrs_judge(host, rc, n, &err, res) != 0)
		return;
	if (n > MTASTS_ADDRS_MAX)
		n = MTASTS_ADDRS_MAX;
	mtasts_fetch_from(ctx, host, addrs, n, deadline, res);
}

void
mtasts_fetch_clear(struct mtasts_fetch *res)
{
	if (res == NULL)
		return;
	free(res->body);
	memset(res, 0, sizeof(*res));
}

void
mtasts_fetch_free(struct mtasts_ctx *ctx)
{
	if (ctx == NULL || ctx->ssl_ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	ctx->ssl_ctx = NULL;
}

/* For report.c (TLS-RPT over HTTPS): the same client TLS setup. */
void *
mtasts_fetch_ssl_ctx(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	struct mtasts_fetch res;
	SSL_CTX *sctx;

	memset(&res, 0, sizeof(res));
	if ((sctx = tls_ctx(ctx, &res)) == NULL)
		mtasts_err_set(err, MTASTS_ERROR, "%s", res.reason);
	return sctx;
}
