/*
 * probe.c - SMTP STARTTLS probe of one MX host, for `mtasts check`: what
 * an RFC 8461 §4 compliant sender sees (banner, EHLO, STARTTLS, TLS
 * handshake, certificate valid for the MX name), bounded by one deadline.
 *
 * I/O: a non-blocking socket with poll() against the deadline. OpenSSL
 * talks to it through a tiny BIO whose writes use send(MSG_NOSIGNAL), so a
 * peer that hangs up cannot raise SIGPIPE. The handshake runs with
 * SSL_VERIFY_NONE so that it completes and the certificate can be shown;
 * the verification result (chain + DNS-ID, computed by OpenSSL all the
 * same) is then judged the way a sender would. Each probe makes its own
 * SSL_CTX, so probes can run in parallel threads on one mtasts_ctx.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
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

/* Name we greet with: any syntactically valid one will do (RFC 5321). */
#define PROBE_EHLO "EHLO mtasts-check.invalid\r\n"

struct pconn {
	int fd;
	int64_t deadline;
	int timed_out;
	int eof;
	char buf[MTASTS_SMTP_REPLY_MAX];	/* plaintext bytes received */
	size_t len;
	char why[MTASTS_REASON_MAX];
};

static void probe_fail(struct mtasts_probe *p, const char *type,
    const char *fmt, ...) MTASTS_PRINTF(3, 4);

static void
probe_fail(struct mtasts_probe *p, const char *type, const char *fmt, ...)
{
	va_list ap;

	if (p->reason[0] != '\0')
		return;
	mtasts_strlcpy(p->result_type, type, sizeof(p->result_type));
	va_start(ap, fmt);
	if (vsnprintf(p->reason, sizeof(p->reason), fmt, ap) < 0)
		p->reason[0] = '\0';
	va_end(ap);
}

/* Copy remote text for display: printable ASCII only (no terminal escapes). */
static void
sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, o = 0;

	if (size == 0)
		return;
	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[o] = '\0';
}

static int
wait_fd(struct pconn *c, short events)
{
	struct pollfd pf;
	int64_t rem;
	int r;

	for (;;) {
		if ((rem = c->deadline - mtasts_mono_ms()) <= 0) {
			c->timed_out = 1;
			mtasts_strlcpy(c->why, "timed out", sizeof(c->why));
			return -1;
		}
		pf.fd = c->fd;
		pf.events = events;
		pf.revents = 0;
		r = poll(&pf, 1, rem > INT_MAX ? INT_MAX : (int)rem);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(c->why, sizeof(c->why), "poll: %s",
			    strerror(errno));
			return -1;
		}
		if (r > 0)
			return 0;
	}
}

static int
do_connect(struct pconn *c, const struct sockaddr_storage *sa)
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
	if (connect(c->fd, (const struct sockaddr *)sa, slen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		mtasts_strlcpy(c->why, strerror(errno), sizeof(c->why));
		return -1;
	}
	if (wait_fd(c, POLLOUT) != 0)
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

static int
send_all(struct pconn *c, const char *s, size_t len)
{
	size_t off = 0;
	ssize_t w;

	while (off < len) {
		w = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(c, POLLOUT) != 0)
				return -1;
			continue;
		}
		snprintf(c->why, sizeof(c->why), "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* End of the first complete line in the buffer (index after LF), or 0. */
static size_t
line_end(const struct pconn *c)
{
	const char *nl = memchr(c->buf, '\n', c->len);

	return nl == NULL ? 0 : (size_t)(nl - c->buf) + 1;
}

/*
 * Read one SMTP reply (RFC 5321 §4.2: "ddd-text" lines then "ddd text").
 * Consumes it from the buffer; *code gets the reply code, text (if not
 * NULL) the raw reply (all lines, CRLF kept), NUL-terminated. Returns 0 or
 * -1 (c->why set).
 */
static int
read_reply(struct pconn *c, int *code, char *text, size_t tsize)
{
	size_t used = 0, e;
	ssize_t n;
	int first = -1;

	*code = 0;
	if (text != NULL && tsize > 0)
		text[0] = '\0';
	for (;;) {
		while ((e = line_end(c)) > 0) {
			const char *l = c->buf;
			int k, last;

			if (e < 4 || l[0] < '2' || l[0] > '5' ||
			    l[1] < '0' || l[1] > '9' || l[2] < '0' ||
			    l[2] > '9' || (l[3] != ' ' && l[3] != '-' &&
			    l[3] != '\r' && l[3] != '\n')) {
				mtasts_strlcpy(c->why, "malformed SMTP reply",
				    sizeof(c->why));
				return -1;
			}
			k = (l[0] - '0') * 100 + (l[1] - '0') * 10 +
			    (l[2] - '0');
			if (first == -1)
				first = k;
			else if (k != first) {
				mtasts_strlcpy(c->why, "inconsistent codes "
				    "in a multi-line SMTP reply",
				    sizeof(c->why));
				return -1;
			}
			last = l[3] != '-';
			if (text != NULL && used + e < tsize) {
				memcpy(text + used, l, e);
				used += e;
				text[used] = '\0';
			}
			memmove(c->buf, c->buf + e, c->len - e);
			c->len -= e;
			if (last) {
				*code = first;
				return 0;
			}
		}
		if (c->len >= MTASTS_SMTP_LINE_MAX ||
		    c->len == sizeof(c->buf)) {
			mtasts_strlcpy(c->why, "SMTP reply line too long",
			    sizeof(c->why));
			return -1;
		}
		if (c->eof) {
			mtasts_strlcpy(c->why, "connection closed by server",
			    sizeof(c->why));
			return -1;
		}
		if (wait_fd(c, POLLIN) != 0)
			return -1;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n > 0)
			c->len += (size_t)n;
		else if (n == 0)
			c->eof = 1;
		else if (errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK) {
			snprintf(c->why, sizeof(c->why), "recv: %s",
			    strerror(errno));
			return -1;
		}
	}
}

/* Does the EHLO reply list the STARTTLS keyword (RFC 3207 §4)? */
static int
ehlo_has_starttls(const char *text)
{
	const char *l = text;

	while (*l != '\0') {
		size_t n = strcspn(l, "\r\n");

		/* "250-STARTTLS" / "250 STARTTLS", keyword alone. */
		if (n >= 12 && mtasts_ascii_caseeq(l + 4, 8, "STARTTLS", 8) &&
		    (n == 12 || l[12] == ' '))
			return 1;
		l += n;
		while (*l == '\r' || *l == '\n')
			l++;
	}
	return 0;
}

/* ---- the socket BIO: send(MSG_NOSIGNAL), never SIGPIPE ---- */

static int
bio_write(BIO *b, const char *buf, int len)
{
	struct pconn *c = BIO_get_data(b);
	ssize_t w;

	BIO_clear_retry_flags(b);
	w = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (w >= 0)
		return (int)w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		BIO_set_retry_write(b);
	else
		snprintf(c->why, sizeof(c->why), "send: %s", strerror(errno));
	return -1;
}

static int
bio_read(BIO *b, char *buf, int len)
{
	struct pconn *c = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	n = recv(c->fd, buf, (size_t)len, 0);
	if (n > 0)
		return (int)n;
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		BIO_set_retry_read(b);
	else
		snprintf(c->why, sizeof(c->why), "recv: %s", strerror(errno));
	return -1;
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static const char *
verify_type(long v)
{
	switch (v) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return MTASTS_RT_CERT_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return MTASTS_RT_CERT_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_INVALID_CA:
		return MTASTS_RT_CERT_NOT_TRUSTED;
	default:
		return MTASTS_RT_VALIDATION_FAILURE;
	}
}

static void
name_text(const X509_NAME *nm, char *out, size_t size)
{
	BIO *m;
	char *data;
	long n;

	out[0] = '\0';
	if ((m = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(m, nm, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(m, &data)) > 0)
		sanitize(out, size, data, (size_t)n);
	BIO_free(m);
}

/* Subject, issuer, DNS SANs and expiry of the peer certificate. */
static void
cert_details(struct mtasts_ctx *ctx, X509 *cert, struct mtasts_probe *p)
{
	GENERAL_NAMES *gens;
	ASN1_TIME *now = NULL;
	int i, days = 0, secs = 0;
	size_t o = 0;

	name_text(X509_get_subject_name(cert), p->cert_subject,
	    sizeof(p->cert_subject));
	name_text(X509_get_issuer_name(cert), p->cert_issuer,
	    sizeof(p->cert_issuer));
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *s;
		int len;

		if (g->type != GEN_DNS)
			continue;
		s = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || o + (size_t)len + 2 >= sizeof(p->cert_san))
			continue;
		if (o > 0)
			p->cert_san[o++] = ',';
		sanitize(p->cert_san + o, sizeof(p->cert_san) - o,
		    (const char *)s, (size_t)len);
		o = strlen(p->cert_san);
	}
	GENERAL_NAMES_free(gens);
	if ((now = ASN1_TIME_set(NULL, mtasts_now(ctx))) != NULL &&
	    ASN1_TIME_diff(&days, &secs, now, X509_get0_notAfter(cert)) == 1) {
		p->days_left = days;
		p->cert_not_after = mtasts_now(ctx) + (time_t)days * 86400 +
		    secs;
	}
	ASN1_TIME_free(now);
}

/* The probe's own client SSL_CTX: the fetch's trust settings. */
static SSL_CTX *
probe_tls_ctx(const struct mtasts_ctx *ctx, struct mtasts_probe *p)
{
	const struct mtasts_config *cfg = &ctx->cfg;
	SSL_CTX *sctx;

	if (OPENSSL_init_ssl(0, NULL) != 1 ||
	    (sctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "TLS setup failed");
		return NULL;
	}
	/* RFC 8461 §7.2 / RFC 7525 as for the fetch: TLS 1.2 or later. */
	if (SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) != 1)
		goto err;
	SSL_CTX_set_verify(sctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	if (cfg->ca_file[0] != '\0' || cfg->ca_path[0] != '\0') {
		if (SSL_CTX_load_verify_locations(sctx,
		    cfg->ca_file[0] != '\0' ? cfg->ca_file : NULL,
		    cfg->ca_path[0] != '\0' ? cfg->ca_path : NULL) != 1)
			goto err;
	} else if (SSL_CTX_set_default_verify_paths(sctx) != 1)
		goto err;
	return sctx;
err:
	probe_fail(p, MTASTS_RT_VALIDATION_FAILURE,
	    "TLS setup failed (CA store %.60s%.60s)", cfg->ca_file,
	    cfg->ca_path);
	SSL_CTX_free(sctx);
	return NULL;
}

/* TLS on the connection; fills version, cipher, certificate, verdict. */
static void
probe_tls(struct mtasts_ctx *ctx, struct pconn *c, const char *host,
    struct mtasts_probe *p)
{
	SSL_CTX *sctx = NULL;
	SSL *ssl = NULL;
	BIO_METHOD *meth = NULL;
	BIO *b = NULL;
	X509 *cert;
	char sni[MTASTS_DOMAIN_MAX + 1];
	unsigned long e;
	int r;

	ERR_clear_error();
	if ((sctx = probe_tls_ctx(ctx, p)) == NULL)
		goto done;
	if ((meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "mtasts-probe")) == NULL ||
	    BIO_meth_set_write(meth, bio_write) != 1 ||
	    BIO_meth_set_read(meth, bio_read) != 1 ||
	    BIO_meth_set_ctrl(meth, bio_ctrl) != 1 ||
	    (b = BIO_new(meth)) == NULL || (ssl = SSL_new(sctx)) == NULL) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "TLS setup failed");
		goto done;
	}
	BIO_set_data(b, c);
	BIO_set_init(b, 1);
	SSL_set_bio(ssl, b, b);
	b = NULL;
	SSL_set_connect_state(ssl);
	/*
	 * RFC 8461 §4.1: the certificate must be valid for the MX host name
	 * as a DNS-ID (RFC 6125): SAN only, wildcard only as the whole
	 * left-most label; SNI is that name (§7.1 of RFC 8461 for the fetch,
	 * RFC 8460 report semantics for the MX).
	 */
	mtasts_strlcpy(sni, host, sizeof(sni));
	if (SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    SSL_set1_host(ssl, host) != 1) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "TLS setup failed");
		goto done;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
	for (;;) {
		ERR_clear_error();
		r = SSL_do_handshake(ssl);
		if (r == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			if (wait_fd(c, POLLIN) != 0)
				goto hsfail;
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (wait_fd(c, POLLOUT) != 0)
				goto hsfail;
			continue;
		default:
			goto hsfail;
		}
	}
	p->stage = MTASTS_PROBE_TLS;
	sanitize(p->tls_version, sizeof(p->tls_version),
	    SSL_get_version(ssl), strlen(SSL_get_version(ssl)));
	sanitize(p->cipher, sizeof(p->cipher), SSL_get_cipher_name(ssl),
	    strlen(SSL_get_cipher_name(ssl)));
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL) {
		p->verify_error = X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
		mtasts_strlcpy(p->verify_text, "no server certificate",
		    sizeof(p->verify_text));
		probe_fail(p, MTASTS_RT_CERT_NOT_TRUSTED,
		    "no server certificate");
		goto done;
	}
	cert_details(ctx, cert, p);
	p->verify_error = SSL_get_verify_result(ssl);
	if (p->verify_error != X509_V_OK) {
		mtasts_strlcpy(p->verify_text,
		    X509_verify_cert_error_string(p->verify_error),
		    sizeof(p->verify_text));
		probe_fail(p, verify_type(p->verify_error),
		    "certificate: %s", p->verify_text);
		goto done;
	}
	p->ok = 1;
	/* Polite close; the result does not depend on it. */
	(void)SSL_write(ssl, "QUIT\r\n", 6);
	goto done;
hsfail:
	e = ERR_peek_last_error();
	probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "TLS handshake: %s",
	    c->why[0] != '\0' ? c->why : e != 0 &&
	    ERR_reason_error_string(e) != NULL ? ERR_reason_error_string(e) :
	    c->eof ? "connection closed by server" : "failed");
done:
	SSL_free(ssl);
	BIO_free(b);
	BIO_meth_free(meth);
	SSL_CTX_free(sctx);
	ERR_clear_error();
}

static void
addr_text(const struct sockaddr_storage *sa, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	const void *a;
	int port;

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		a = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if (inet_ntop(sa->ss_family, a, ip, sizeof(ip)) == NULL)
		mtasts_strlcpy(ip, "?", sizeof(ip));
	snprintf(out, size, sa->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    ip, port);
}

/* One address; returns 1 when the SMTP server answered (stop there). */
static int
probe_one(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *sa, int64_t deadline,
    struct mtasts_probe *p)
{
	struct pconn *c;
	char *reply = NULL;
	int code, answered = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (reply = malloc(MTASTS_SMTP_REPLY_MAX)) == NULL) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "out of memory");
		goto done;
	}
	c->fd = -1;
	c->deadline = deadline;
	addr_text(sa, p->addr, sizeof(p->addr));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: connecting to %s",
	    host, p->addr);
	if (do_connect(c, sa) != 0) {
		p->timed_out = c->timed_out;
		snprintf(p->reason, sizeof(p->reason), "connect to %s: %s",
		    p->addr, c->why);
		goto done;
	}
	answered = 1;
	p->stage = MTASTS_PROBE_CONNECTED;
	if (read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "no SMTP banner from %s: %s", p->addr, c->why);
		goto done;
	}
	sanitize(p->banner, sizeof(p->banner), reply, strcspn(reply, "\r\n"));
	if (code != 220) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "SMTP banner is not 220: \"%.80s\"", p->banner);
		goto done;
	}
	p->stage = MTASTS_PROBE_GREETED;
	if (send_all(c, PROBE_EHLO, sizeof(PROBE_EHLO) - 1) != 0 ||
	    read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED, "EHLO: %s",
		    c->why);
		goto done;
	}
	if (code != 250) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "EHLO answered %d", code);
		goto done;
	}
	p->stage = MTASTS_PROBE_EHLO;
	p->starttls_offered = ehlo_has_starttls(reply);
	if (!p->starttls_offered) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS not offered in the EHLO reply");
		goto done;
	}
	if (send_all(c, "STARTTLS\r\n", 10) != 0 ||
	    read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS: %s", c->why);
		goto done;
	}
	p->starttls_code = code;
	if (code != 220) {
		char line[80];

		sanitize(line, sizeof(line), reply, strcspn(reply, "\r\n"));
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS refused: \"%s\"", line);
		goto done;
	}
	/* RFC 3207 §5 / CVE-2011-0411: nothing may precede the handshake. */
	if (c->len > 0) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE,
		    "server sent %zu bytes after the 220 to STARTTLS", c->len);
		goto done;
	}
	p->stage = MTASTS_PROBE_STARTTLS;
	probe_tls(ctx, c, host, p);
	p->timed_out = c->timed_out;
done:
	if (c != NULL && c->fd >= 0)
		close(c->fd);
	if (c != NULL && c->timed_out)
		p->timed_out = 1;
	free(reply);
	free(c);
	return answered;
}

void
mtasts_probe_smtp(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_probe *out)
{
	int64_t t0 = mtasts_mono_ms();
	size_t i;

	memset(out, 0, sizeof(*out));
	if (host == NULL || !mtasts_hostname_valid(host, strlen(host))) {
		probe_fail(out, MTASTS_RT_VALIDATION_FAILURE,
		    "invalid MX host name");
		goto done;
	}
	if (naddrs == 0) {
		snprintf(out->reason, sizeof(out->reason),
		    "%s has no address", host);
		goto done;
	}
	for (i = 0; i < naddrs; i++) {
		if (mtasts_mono_ms() >= deadline_ms_mono) {
			out->timed_out = 1;
			break;
		}
		memset(out, 0, sizeof(*out));
		/* A sender moves on only when it could not connect. */
		if (probe_one(ctx, host, &addrs[i], deadline_ms_mono, out))
			break;
	}
done:
	out->elapsed_ms = mtasts_mono_ms() - t0;
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: %s%s%s (%lld ms)", host,
	    out->ok ? "ok" : out->result_type[0] ? out->result_type :
	    "unreachable", out->reason[0] ? ": " : "", out->reason,
	    (long long)out->elapsed_ms);
}
