/*
 * fetch.c - HTTPS fetch of the MTA-STS policy (RFC 8461 §3.2, §3.3).
 *
 * GET https://mta-sts.<domain>/.well-known/mta-sts.txt over OpenSSL with
 * SNI and PKIX + DNS-ID verification, under one overall deadline that
 * covers DNS, connect, handshake, request and body: the fetch runs inside
 * a delivery process, so a slow or silent server must not hold it.
 *
 * I/O design: OpenSSL never touches the socket. The SSL object talks to
 * one half of a BIO pair; this file moves bytes between the other half
 * and a non-blocking socket with poll() bounded by the deadline, and
 * writes with send(..., MSG_NOSIGNAL). So no write can raise SIGPIPE in
 * the host MTA (whose own TLS library may be GnuTLS), no signal handler
 * or signal mask is touched, and no OpenSSL call can block.
 *
 * No global OpenSSL state is changed beyond OPENSSL_init_ssl(). The error
 * queue is cleared before returning.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_internal.h"

#define FETCH_PATH "/.well-known/mta-sts.txt"
/* Bytes moved between socket and BIO pair per call. */
#define FETCH_IO_CHUNK 16384
#define FETCH_ADDRSTR_MAX 64

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

enum tls_op { OP_HANDSHAKE, OP_WRITE, OP_READ };

struct conn {
	int fd;
	SSL *ssl;
	BIO *net;		/* our half of the BIO pair */
	int64_t deadline;
	int eof;		/* peer closed TCP */
	int timed_out;
	char why[MTASTS_REASON_MAX];	/* I/O failure */
};

/* X509_V_ERR_* names for the reasons we report (sts-webpki-invalid). */
static const struct {
	long code;
	const char *name;
} x509_names[] = {
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
	    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE,
	    "X509_V_ERR_CERT_SIGNATURE_FAILURE" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "X509_V_ERR_CERT_NOT_YET_VALID" },
	{ X509_V_ERR_CERT_HAS_EXPIRED, "X509_V_ERR_CERT_HAS_EXPIRED" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
	    "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
	    "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
	    "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "X509_V_ERR_CERT_CHAIN_TOO_LONG" },
	{ X509_V_ERR_CERT_REVOKED, "X509_V_ERR_CERT_REVOKED" },
	{ X509_V_ERR_INVALID_CA, "X509_V_ERR_INVALID_CA" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED, "X509_V_ERR_PATH_LENGTH_EXCEEDED" },
	{ X509_V_ERR_INVALID_PURPOSE, "X509_V_ERR_INVALID_PURPOSE" },
	{ X509_V_ERR_CERT_UNTRUSTED, "X509_V_ERR_CERT_UNTRUSTED" },
	{ X509_V_ERR_CERT_REJECTED, "X509_V_ERR_CERT_REJECTED" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, "X509_V_ERR_HOSTNAME_MISMATCH" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "X509_V_ERR_EE_KEY_TOO_SMALL" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL, "X509_V_ERR_CA_KEY_TOO_SMALL" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "X509_V_ERR_CA_MD_TOO_WEAK" },
	{ X509_V_ERR_INVALID_EXTENSION, "X509_V_ERR_INVALID_EXTENSION" },
	{ X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION,
	    "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD,
	    "X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
	    "X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD" },
};

static void set_fail(struct mtasts_fetch *res, int rc, const char *type,
    const char *fmt, ...) MTASTS_PRINTF(4, 5);

static void
set_fail(struct mtasts_fetch *res, int rc, const char *type,
    const char *fmt, ...)
{
	va_list ap;

	res->rc = rc;
	mtasts_strlcpy(res->result_type, type, sizeof(res->result_type));
	va_start(ap, fmt);
	if (vsnprintf(res->reason, sizeof(res->reason), fmt, ap) < 0)
		res->reason[0] = '\0';
	va_end(ap);
}

static const char *
x509_name(long code)
{
	size_t i;

	for (i = 0; i < sizeof(x509_names) / sizeof(x509_names[0]); i++)
		if (x509_names[i].code == code)
			return x509_names[i].name;
	return "X509_V_ERR";
}

/* The reason of the last queued OpenSSL error, for logs and reasons. */
static const char *
ssl_reason(void)
{
	const char *s;
	unsigned long e;

	if ((e = ERR_peek_last_error()) == 0)
		return "unknown TLS error";
	if ((s = ERR_reason_error_string(e)) == NULL)
		return "unknown TLS error";
	return s;
}

static void
addr_str(const struct sockaddr_storage *sa, char *out, size_t size,
    int *port)
{
	const void *a;

	*port = 0;
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = &s6->sin6_addr;
		*port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		a = &s4->sin_addr;
		*port = ntohs(s4->sin_port);
	}
	if (inet_ntop(sa->ss_family, a, out, (socklen_t)size) == NULL)
		mtasts_strlcpy(out, "?", size);
}

/* Copy remote text for display: printable ASCII only. */
static void
info_copy(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[o] = '\0';
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
	GENERAL_NAMES *gens;
	X509 *cert;
	BIO *m;
	char *data;
	long n;
	int i, days, secs;
	size_t o = 0;

	if (chain == NULL || sk_X509_num(chain) < 1)
		return;
	cert = sk_X509_value(chain, 0);
	if ((m = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(m, X509_get_subject_name(cert), 0,
		    XN_FLAG_RFC2253) >= 0 &&
		    (n = BIO_get_mem_data(m, &data)) > 0)
			info_copy(res->cert_subject, sizeof(res->cert_subject),
			    data, (size_t)n);
		BIO_free(m);
	}
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int len;

		if (g->type != GEN_DNS)
			continue;
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || o + (size_t)len + 2 >= sizeof(res->cert_san))
			continue;
		if (o > 0)
			res->cert_san[o++] = ',';
		info_copy(res->cert_san + o, sizeof(res->cert_san) - o,
		    (const char *)ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)len);
		o = strlen(res->cert_san);
	}
	GENERAL_NAMES_free(gens);
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
			info_copy(res->location, sizeof(res->location),
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
	const struct mtasts_config *cfg = &ctx->cfg;
	SSL_CTX *sctx = NULL;

	if (ctx->ssl_ctx != NULL)
		return ctx->ssl_ctx;
	ERR_clear_error();
	if (OPENSSL_init_ssl(0, NULL) != 1 ||
	    (sctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", ssl_reason());
		goto err;
	}
	/* RFC 8461 §7.2 and RFC 7525: TLS 1.2 or later only. */
	if (SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) != 1) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", ssl_reason());
		goto err;
	}
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
	/* Each fetch stands alone: no TLS session reuse either. */
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	if (cfg->ca_file[0] != '\0' || cfg->ca_path[0] != '\0') {
		if (SSL_CTX_load_verify_locations(sctx,
		    cfg->ca_file[0] != '\0' ? cfg->ca_file : NULL,
		    cfg->ca_path[0] != '\0' ? cfg->ca_path : NULL) != 1) {
			set_fail(res, MTASTS_TEMPFAIL,
			    MTASTS_RT_STS_FETCH_ERROR,
			    "cannot load CA certificates from %.60s%.60s",
			    cfg->ca_file, cfg->ca_path);
			goto err;
		}
	} else if (SSL_CTX_set_default_verify_paths(sctx) != 1) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "cannot load the system CA certificates");
		goto err;
	}
	ctx->ssl_ctx = sctx;
	return sctx;
err:
	mtasts_log(ctx, MTASTS_LOG_WARN, "fetch: %s", res->reason);
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return NULL;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timeout, -1 error. */
static int
wait_fd(struct conn *c, short events)
{
	struct pollfd p;
	int64_t rem;
	int r;

	for (;;) {
		if ((rem = c->deadline - mtasts_mono_ms()) <= 0) {
			c->timed_out = 1;
			return 0;
		}
		p.fd = c->fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, rem > INT_MAX ? INT_MAX : (int)rem);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (p.revents & POLLNVAL) != 0) {
			snprintf(c->why, sizeof(c->why), "poll: %s",
			    strerror(errno));
			return -1;
		}
		if (r > 0)
			return 1;
	}
}

static int
do_connect(struct conn *c, const struct sockaddr_storage *sa)
{
	socklen_t slen;
	int e = 0;

	slen = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	c->fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->why, sizeof(c->why), "socket: %s",
		    strerror(errno));
		return -1;
	}
	/*
	 * The TLS Finished and the request are two small writes: without
	 * TCP_NODELAY, Nagle holds the request until the server's delayed
	 * ACK (40 ms on Linux). Failure to set it only costs latency.
	 */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
	    sizeof(int));
	if (connect(c->fd, (const struct sockaddr *)sa, slen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		mtasts_strlcpy(c->why, strerror(errno), sizeof(c->why));
		return -1;
	}
	if (wait_fd(c, POLLOUT) <= 0)
		return -1;
	slen = sizeof(e);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &slen) != 0)
		e = errno;
	if (e != 0) {
		mtasts_strlcpy(c->why, strerror(e), sizeof(c->why));
		return -1;
	}
	return 0;
}

/* Send everything OpenSSL has queued for the network. */
static int
flush_out(struct conn *c)
{
	char tmp[FETCH_IO_CHUNK];
	int n;

	while (BIO_ctrl_pending(c->net) > 0) {
		size_t off = 0;

		if ((n = BIO_read(c->net, tmp, sizeof(tmp))) <= 0)
			break;
		while (off < (size_t)n) {
			ssize_t w;

			w = send(c->fd, tmp + off, (size_t)n - off,
			    MSG_NOSIGNAL);
			if (w > 0) {
				off += (size_t)w;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (wait_fd(c, POLLOUT) <= 0)
					return -1;
				continue;
			}
			snprintf(c->why, sizeof(c->why), "send: %s",
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Move what the socket has (waiting for it) into OpenSSL's half. */
static int
fill_in(struct conn *c)
{
	char tmp[FETCH_IO_CHUNK];
	size_t room;
	ssize_t n;

	if (c->eof) {
		mtasts_strlcpy(c->why, "connection closed by peer",
		    sizeof(c->why));
		return -1;
	}
	room = BIO_ctrl_get_write_guarantee(c->net);
	if (room > sizeof(tmp))
		room = sizeof(tmp);
	if (room == 0)
		return 0;
	for (;;) {
		if (wait_fd(c, POLLIN) <= 0)
			return -1;
		n = recv(c->fd, tmp, room, 0);
		if (n > 0)
			break;
		if (n == 0) {
			/* The SSL side now sees EOF on its next read. */
			c->eof = 1;
			(void)BIO_shutdown_wr(c->net);
			return 0;
		}
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		snprintf(c->why, sizeof(c->why), "recv: %s", strerror(errno));
		return -1;
	}
	if (BIO_write(c->net, tmp, (int)n) != (int)n) {
		mtasts_strlcpy(c->why, "BIO pair write failed",
		    sizeof(c->why));
		return -1;
	}
	return 0;
}

/*
 * Drive one TLS operation to completion or failure within the deadline.
 * Returns > 0 (handshake done, bytes written or read), 0 on a clean
 * close_notify (read), -2 on EOF without close_notify (read), -1 on error:
 * c->timed_out or c->why, or a queued OpenSSL error, says why.
 */
static int
tls_io(struct conn *c, enum tls_op op, void *buf, int n)
{
	int r, e;

	for (;;) {
		ERR_clear_error();
		switch (op) {
		case OP_HANDSHAKE:
			r = SSL_do_handshake(c->ssl);
			break;
		case OP_WRITE:
			r = SSL_write(c->ssl, buf, n);
			break;
		default:
			r = SSL_read(c->ssl, buf, n);
			break;
		}
		e = SSL_get_error(c->ssl, r);
		/* Also sends a fatal alert, so the server logs why. */
		if (flush_out(c) != 0 && r > 0)
			return -1;
		if (r > 0)
			return r;
		switch (e) {
		case SSL_ERROR_WANT_READ:
			if (c->why[0] != '\0' || fill_in(c) != 0)
				return -1;
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (c->why[0] != '\0')
				return -1;
			continue;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_SSL:
			if (op == OP_READ && c->eof &&
			    ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING)
				return -2;
			return -1;
		case SSL_ERROR_SYSCALL:
			if (op == OP_READ && c->eof)
				return -2;
			if (c->why[0] == '\0')
				mtasts_strlcpy(c->why, c->eof ?
				    "connection closed by peer" :
				    "TLS I/O error", sizeof(c->why));
			return -1;
		default:
			return -1;
		}
	}
}

/* Why the last tls_io failed. */
static const char *
io_why(const struct conn *c)
{
	if (c->timed_out)
		return "timed out";
	if (c->why[0] != '\0')
		return c->why;
	return ssl_reason();
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
		info_copy(res->content_type, sizeof(res->content_type),
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
			return 1;
		}
	}
	switch (st) {
	case MTASTS_HTTP_TOOBIG:
		set_fail(res, MTASTS_INVALID, MTASTS_RT_STS_INVALID,
		    "policy body larger than %d bytes",
		    MTASTS_POLICY_BODY_MAX);
		return 1;
	case MTASTS_HTTP_ERROR:
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "%s from %s: %s", resp->status != 0 ? "bad HTTP body" :
		    "malformed HTTP response", as, resp->why);
		return 1;
	case MTASTS_HTTP_DONE:
		if ((res->body = malloc(resp->body_len + 1)) == NULL) {
			set_fail(res, MTASTS_TEMPFAIL,
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
		return 1;
	}
	return 0;
}

/* Read and judge the response. */
static void
read_response(struct mtasts_ctx *ctx, struct conn *c, const char *as,
    struct mtasts_fetch *res, int *prog)
{
	struct mtasts_http_resp resp;
	char *buf = NULL, *nb;
	size_t len = 0, size = 0;
	int n, st, eof = 0;

	memset(&resp, 0, sizeof(resp));
	for (;;) {
		if (len == size) {
			size = size == 0 ? FETCH_IO_CHUNK : size * 2;
			if (size > MTASTS_HTTP_RAW_MAX)
				size = MTASTS_HTTP_RAW_MAX;
			if ((nb = realloc(buf, size)) == NULL) {
				set_fail(res, MTASTS_TEMPFAIL,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "out of memory");
				goto done;
			}
			buf = nb;
		}
		n = tls_io(c, OP_READ, buf + len, (int)(size - len));
		if (n > 0) {
			len += (size_t)n;
			st = mtasts_http_parse(buf, len, 0,
			    MTASTS_POLICY_BODY_MAX, &resp);
		} else if (n == 0) {
			eof = 1;
			st = mtasts_http_parse(buf, len, 1,
			    MTASTS_POLICY_BODY_MAX, &resp);
		} else if (n == -2) {
			/*
			 * TCP closed without close_notify: fine when the
			 * framing already ended the body, but a
			 * close-delimited body could have been truncated
			 * by anyone on the path.
			 */
			eof = 1;
			st = mtasts_http_parse(buf, len, 0,
			    MTASTS_POLICY_BODY_MAX, &resp);
			if (st == MTASTS_HTTP_MORE) {
				st = mtasts_http_parse(buf, len, 1,
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
			    as, io_why(c), len);
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
	free(buf);
}

/* One address: connect, TLS, request, response. Returns enum progress. */
static int
attempt(struct mtasts_ctx *ctx, SSL_CTX *sctx, const char *host,
    const struct sockaddr_storage *sa, int64_t deadline,
    struct mtasts_fetch *res)
{
	struct conn c;
	BIO *inner = NULL;
	char as[FETCH_ADDRSTR_MAX + 16], ip[FETCH_ADDRSTR_MAX];
	char req[512], sni[MTASTS_DOMAIN_MAX + 1];
	int prog = P_CONNECT, port, reqlen, r;
	long v;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.deadline = deadline;
	addr_str(sa, ip, sizeof(ip), &port);
	snprintf(as, sizeof(as), sa->ss_family == AF_INET6 ? "[%s]:%d" :
	    "%s:%d", ip, port);
	mtasts_strlcpy(res->addr, as, sizeof(res->addr));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: connecting to %s", host,
	    as);
	if (sa->ss_family != AF_INET && sa->ss_family != AF_INET6) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "unsupported address family %d", sa->ss_family);
		goto done;
	}
	if (do_connect(&c, sa) != 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "connect to %s: %s", as, io_why(&c));
		goto done;
	}
	prog = P_TLS;
	ERR_clear_error();
	if ((c.ssl = SSL_new(sctx)) == NULL ||
	    BIO_new_bio_pair(&inner, 0, &c.net, 0) != 1) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", ssl_reason());
		goto done;
	}
	SSL_set_bio(c.ssl, inner, inner);
	inner = NULL;
	SSL_set_connect_state(c.ssl);
	/*
	 * RFC 8461 §7.1: SNI is the policy host. §3.3: the certificate must
	 * be valid for it as a DNS-ID (RFC 6125): SAN only, never the CN,
	 * and a wildcard only as the whole left-most label.
	 */
	/* (a writable copy: the OpenSSL macro casts away const) */
	mtasts_strlcpy(sni, host, sizeof(sni));
	if (SSL_set_tlsext_host_name(c.ssl, sni) != 1 ||
	    SSL_set1_host(c.ssl, host) != 1) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS setup failed: %s", ssl_reason());
		goto done;
	}
	SSL_set_hostflags(c.ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	r = tls_io(&c, OP_HANDSHAKE, NULL, 0);
	info_cert(c.ssl, res);
	v = SSL_get_verify_result(c.ssl);
	if (r > 0 && v == X509_V_OK && SSL_get0_peer_certificate(c.ssl) ==
	    NULL)
		v = X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
	if (v != X509_V_OK) {
		prog = P_CERT;
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_WEBPKI_INVALID,
		    "%s (%s) from %s", X509_verify_cert_error_string(v),
		    x509_name(v), as);
		goto done;
	}
	if (r <= 0) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "TLS handshake with %s: %s", as, io_why(&c));
		goto done;
	}
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
	if (tls_io(&c, OP_WRITE, req, reqlen) != reqlen) {
		set_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "sending request to %s: %s", as, io_why(&c));
		goto done;
	}
	read_response(ctx, &c, as, res, &prog);
done:
	if (res->rc != MTASTS_OK)
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "fetch: %s: %s: %s", host,
		    res->result_type, res->reason);
	BIO_free(inner);
	SSL_free(c.ssl);
	BIO_free(c.net);
	if (c.fd >= 0)
		close(c.fd);
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
	int best = P_NONE, p;

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
	for (i = 0; i < naddrs; i++) {
		if (mtasts_mono_ms() >= deadline_ms_mono) {
			if (best == P_NONE)
				set_fail(res, MTASTS_TEMPFAIL,
				    MTASTS_RT_STS_FETCH_ERROR,
				    "timed out before connecting to %s",
				    host);
			break;
		}
		memset(&cur, 0, sizeof(cur));
		p = attempt(ctx, sctx, host, &addrs[i], deadline_ms_mono, &cur);
		if (p > best) {
			mtasts_fetch_clear(res);
			*res = cur;
			best = p;
		} else
			mtasts_fetch_clear(&cur);
		/* Any HTTP answer is the server's word: don't shop around. */
		if (p >= P_RESPONSE)
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
