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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_internal.h"

#define FETCH_PATH "/.well-known/mta-sts.txt"
/* First size of the response buffer, doubled as needed. */
#define FETCH_IO_CHUNK 16384

/* How far one address got; the furthest failure is reported. */
enum progress {
	P_NONE = 0,
	P_CONNECT,		/* socket or TCP connect failed */
	P_TLS,			/* TLS failed, not because of the certificate */
	P_CERT,			/* certificate verification failed */
	P_HTTP,			/* verified TLS, but no usable HTTP response */
	P_RESPONSE,		/* an HTTP response: final, try no other address */
	P_OK
};

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

/* Read and judge the response. */
static void
read_response(struct mtasts_ctx *ctx, struct mtasts_conn *c, const char *as,
    struct mtasts_fetch *res, int *prog)
{
	struct mtasts_http_parser ps;
	struct mtasts_http_resp resp;
	char *buf = NULL, *nb;
	size_t len = 0, size = 0;
	int n, st, eof = 0;

	memset(&resp, 0, sizeof(resp));
	/* Incremental: each byte is parsed once (D-NET-5). */
	mtasts_http_parser_init(&ps);
	for (;;) {
		if (len == size) {
			size = size == 0 ? FETCH_IO_CHUNK : size * 2;
			if (size > MTASTS_HTTP_RAW_MAX)
				size = MTASTS_HTTP_RAW_MAX;
			if ((nb = realloc(buf, size)) == NULL) {
				set_fail(res, MTASTS_NOMEM,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "out of memory");
				goto done;
			}
			buf = nb;
		}
		n = mtasts_conn_tls_read(c, buf + len, size - len);
		if (n > 0) {
			len += (size_t)n;
			st = mtasts_http_feed(&ps, buf, len, 0,
			    MTASTS_POLICY_BODY_MAX, &resp);
		} else if (n == 0) {
			eof = 1;
			st = mtasts_http_feed(&ps, buf, len, 1,
			    MTASTS_POLICY_BODY_MAX, &resp);
		} else if (n == MTASTS_CONN_EOF_UNCLEAN) {
			/*
			 * TCP closed without close_notify: fine when the
			 * framing already ended the body, but a
			 * close-delimited body could have been truncated
			 * by anyone on the path.
			 */
			eof = 1;
			st = mtasts_http_feed(&ps, buf, len, 0,
			    MTASTS_POLICY_BODY_MAX, &resp);
			if (st == MTASTS_HTTP_MORE) {
				st = mtasts_http_feed(&ps, buf, len, 1,
				    MTASTS_POLICY_BODY_MAX, &resp);
				if (st == MTASTS_HTTP_DONE) {
					st = MTASTS_HTTP_ERROR;
					mtasts_strlcpy(resp.why, "connection "
					    "closed without TLS close_notify",
					    sizeof(resp.why));
				}
			}
		} else {
			if (resp.status != 0)
				*prog = P_RESPONSE;
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "reading response from %s: %s after %zu bytes",
			    as, mtasts_conn_why(c), len);
			goto done;
		}
		if (judge(as, st, len, &resp, res, prog))
			goto done;
		if (eof) {
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "incomplete HTTP response from %s", as);
			goto done;
		}
	}
done:
	if (resp.has_location)
		info_location(buf, len, res);
	if (resp.status != 0)
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: HTTP %d, "
		    "Content-Type \"%s\", %zu bytes read", as, resp.status,
		    resp.content_type, len);
	mtasts_http_clear(&resp);
	mtasts_http_parser_clear(&ps);
	free(buf);
}

/*
 * Race a TCP connection to the untried addresses (D-NET-3), then TLS,
 * request and response on the winner. Returns enum progress.
 */
static int
attempt(struct mtasts_ctx *ctx, SSL_CTX *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, int *err,
    int64_t deadline, struct mtasts_fetch *res)
{
	struct mtasts_conn c;
	char as[sizeof(res->addr)], req[512];
	int before[MTASTS_ADDRS_MAX];
	int prog = P_CONNECT, reqlen, r, w;
	size_t i, nfail = 0, left = 0;
	int64_t now;
	long v;

	mtasts_conn_init(&c, deadline);
	memcpy(before, err, naddrs * sizeof(*err));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: connecting", host);
	w = mtasts_conn_race(&c, addrs, naddrs, err);
	for (i = 0; i < naddrs; i++) {
		if (err[i] > 0) {
			nfail++;
			if (before[i] == MTASTS_RACE_UNTRIED) {
				mtasts_addr_text(&addrs[i], as, sizeof(as));
				mtasts_log(ctx, MTASTS_LOG_DEBUG,
				    "fetch: %s: connect to %s: %s", host, as,
				    err[i] == ETIMEDOUT && c.timed_out ?
				    "timed out" : strerror(err[i]));
			}
		} else if (err[i] == MTASTS_RACE_UNTRIED)
			left++;
	}
	if (w < 0) {
		if (c.race_last >= 0)
			mtasts_addr_text(&addrs[c.race_last], as, sizeof(as));
		else
			mtasts_strlcpy(as, host, sizeof(as));
		mtasts_strlcpy(res->addr, as, sizeof(res->addr));
		if (nfail > 1)
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "connect to %s: %s (%zu addresses tried)", as,
			    mtasts_conn_why(&c), nfail);
		else
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR, "connect to %s: %s",
			    as, mtasts_conn_why(&c));
		goto done;
	}
	mtasts_addr_text(&addrs[w], as, sizeof(as));
	mtasts_strlcpy(res->addr, as, sizeof(res->addr));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: connected to %s", host,
	    as);
	prog = P_TLS;
	/*
	 * RFC 8461 §7.1: SNI is the policy host. §3.3: the certificate must
	 * be valid for it as a DNS-ID (RFC 6125): SAN only, never the CN,
	 * and a wildcard only as the whole left-most label.
	 */
	if (mtasts_conn_tls_start(&c, sctx, host, MTASTS_TLS_PEER_DNSID) !=
	    0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", mtasts_tls_reason());
		goto done;
	}
	/*
	 * D-NET-4: while other addresses are left, a handshake that stalls
	 * (a path that passes SYNs but drops full-sized segments) may take
	 * only half of the time left, so they still get theirs.
	 */
	now = mtasts_mono_ms();
	if (left > 0 && deadline > now)
		c.deadline = now + (deadline - now) / 2;
	r = mtasts_conn_tls_handshake(&c);
	c.deadline = deadline;
	info_cert(c.ssl, res);
	if ((v = mtasts_conn_tls_verify_result(&c)) != X509_V_OK) {
		prog = P_CERT;
		set_fail(res, MTASTS_TEMPFAIL,
		    mtasts_tls_verify_type(v, 1), "%s (%s) from %s",
		    X509_verify_cert_error_string(v),
		    mtasts_tls_verify_name(v), as);
		res->verify_error = v;
		goto done;
	}
	if (r != 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS handshake with %s: %s", as, mtasts_conn_why(&c));
		goto done;
	}
	c.timed_out = 0;
	prog = P_HTTP;
	mtasts_strlcpy(res->tls_version, SSL_get_version(c.ssl),
	    sizeof(res->tls_version));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: %s %s with %s", host,
	    SSL_get_version(c.ssl), SSL_get_cipher_name(c.ssl), as);
	if ((reqlen = build_request(ctx, host, req, sizeof(req))) < 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "request too long");
		goto done;
	}
	if (mtasts_conn_tls_write(&c, req, (size_t)reqlen) != 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "sending request to %s: %s", as, mtasts_conn_why(&c));
		goto done;
	}
	read_response(ctx, &c, as, res, &prog);
done:
	if (res->rc != MTASTS_OK)
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: %s: %s", host,
		    res->result_type, res->reason);
	mtasts_conn_close(&c);
	ERR_clear_error();
	return prog;
}

void
mtasts_fetch_from(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res)
{
	struct mtasts_fetch cur;
	SSL_CTX *sctx;
	int64_t t0 = mtasts_mono_ms();
	size_t i, hlen = strlen(host);
	int err[MTASTS_ADDRS_MAX];
	int best = P_NONE, p, left;

	memset(res, 0, sizeof(*res));
	/* host goes into SNI and the Host header: no room for surprises. */
	if (hlen == 0 || hlen > MTASTS_DOMAIN_MAX ||
	    host[strcspn(host, " \t\r\n/:@")] != '\0') {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "invalid policy host name");
		goto done;
	}
	if (naddrs == 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s has no address", host);
		goto done;
	}
	if ((sctx = tls_ctx(ctx, res)) == NULL)
		goto done;
	if (naddrs > MTASTS_ADDRS_MAX)
		naddrs = MTASTS_ADDRS_MAX;
	for (i = 0; i < naddrs; i++)
		err[i] = MTASTS_RACE_UNTRIED;
	/*
	 * Each round races the addresses not yet used (D-NET-3); when the
	 * winner fails short of an HTTP response (TLS, certificate, no
	 * answer), the next round races the rest within the same deadline
	 * (D-NET-4).
	 */
	for (;;) {
		if (mtasts_mono_ms() >= deadline_ms_mono) {
			if (best == P_NONE)
				set_fail(res, MTASTS_TEMPFAIL,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "timed out before connecting to %s",
				    host);
			break;
		}
		for (i = 0, left = 0; i < naddrs; i++)
			if (err[i] == MTASTS_RACE_UNTRIED)
				left++;
		if (left == 0)
			break;
		memset(&cur, 0, sizeof(cur));
		p = attempt(ctx, sctx, host, addrs, naddrs, err,
		    deadline_ms_mono, &cur);
		if (p > best) {
			mtasts_fetch_clear(res);
			*res = cur;
			best = p;
		} else
			mtasts_fetch_clear(&cur);
		/* Any HTTP answer is the server's word: don't shop around. */
		if (p >= P_RESPONSE || p == P_CONNECT)
			break;
	}
done:
	if (res->rc == MTASTS_OK)
		mtasts_log(ctx, MTASTS_LOG_INFO, "fetch: https://%s" FETCH_PATH
		    ": %zu bytes in %lld ms", host, res->body_len,
		    (long long)(mtasts_mono_ms() - t0));
	else
		mtasts_log(ctx, MTASTS_LOG_INFO, "fetch: https://%s" FETCH_PATH
		    ": %s: %s (%lld ms)", host, res->result_type, res->reason,
		    (long long)(mtasts_mono_ms() - t0));
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
	int rc, len;

	memset(res, 0, sizeof(*res));
	memset(&err, 0, sizeof(err));
	/* RFC 8461 §3.2: the Policy Host is "mta-sts." + Policy Domain. */
	len = snprintf(host, sizeof(host), "mta-sts.%s", domain);
	if (len < 0 || (size_t)len >= sizeof(host)) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host name for %.60s is too long", domain);
		return;
	}
	rem = deadline - mtasts_mono_ms();
	rc = mtasts_dns_addrs(ctx, host, 443, rem > 0 ? (int)rem : 1, addrs,
	    MTASTS_ADDRS_MAX, &n, &err);
	if (rc == MTASTS_NOTFOUND || (rc == MTASTS_OK && n == 0)) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s has no address", host);
		return;
	}
	if (rc != MTASTS_OK) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "policy host %s: address lookup failed: %.80s", host,
		    err.text[0] != '\0' ? err.text : mtasts_strerror(rc));
		return;
	}
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
