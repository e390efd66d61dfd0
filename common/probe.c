/* SPDX-License-Identifier: ISC */
/*
 * probe.c - SMTP STARTTLS probe of one MX host, for `mtasts check`: what
 * an RFC 8461 §4 compliant sender sees (banner, EHLO, STARTTLS, TLS
 * handshake, certificate valid for the MX name), bounded by one deadline.
 *
 * I/O is net.c's connection: a non-blocking socket polled against the
 * deadline, OpenSSL over a BIO pair, writes with send(MSG_NOSIGNAL), so a
 * peer that hangs up cannot raise SIGPIPE. The handshake runs with
 * SSL_VERIFY_NONE so that it completes and the certificate can be shown;
 * the verification result (chain + DNS-ID, computed by OpenSSL all the
 * same) is then judged the way a sender would. Each probe makes its own
 * SSL_CTX, so probes can run in parallel threads on one mtasts_ctx.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_internal.h"

/* Name we greet with: any syntactically valid one will do (RFC 5321). */
#define PROBE_EHLO "EHLO mtasts-check.invalid\r\n"

struct pconn {
	struct mtasts_conn conn;	/* why: also the SMTP failure */
	char buf[MTASTS_SMTP_REPLY_MAX];	/* plaintext bytes received */
	size_t len;
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

/*
 * A STARTTLS or TLS outcome, classified by the core as an MTA's session
 * would be (D-ENF-2): starttls and tls are enum mtasts_starttls and
 * enum mtasts_tls_state.
 */
static const char *
probe_type(int starttls, int tls)
{
	struct mtasts_session_facts f;
	const char *reason;
	int type;

	memset(&f, 0, sizeof(f));
	f.starttls = starttls;
	f.tls = tls;
	if (!mtasts_verdict_classify(&f, 0, &type, &reason) ||
	    type == MTASTS_TLSRPT_NONE)
		return MTASTS_RT_VALIDATION_FAILURE;
	return mtasts_tlsrpt_type_name(type);
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
 * -1 (mtasts_conn_why() says why).
 */
static int
read_reply(struct pconn *c, int *code, char *text, size_t tsize)
{
	char *why = c->conn.why;
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
				mtasts_strlcpy(why, "malformed SMTP reply",
				    sizeof(c->conn.why));
				return -1;
			}
			k = (l[0] - '0') * 100 + (l[1] - '0') * 10 +
			    (l[2] - '0');
			if (first == -1)
				first = k;
			else if (k != first) {
				mtasts_strlcpy(why, "inconsistent codes "
				    "in a multi-line SMTP reply",
				    sizeof(c->conn.why));
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
			mtasts_strlcpy(why, "SMTP reply line too long",
			    sizeof(c->conn.why));
			return -1;
		}
		if (c->conn.eof) {
			mtasts_strlcpy(why, "connection closed by server",
			    sizeof(c->conn.why));
			return -1;
		}
		n = mtasts_conn_recv(&c->conn, c->buf + c->len,
		    sizeof(c->buf) - c->len);
		if (n < 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* Subject, issuer, DNS SANs and expiry of the peer certificate. */
static void
cert_details(struct mtasts_ctx *ctx, X509 *cert, struct mtasts_probe *p)
{
	ASN1_TIME *now = NULL;
	int days = 0, secs = 0;

	mtasts_tls_name_text(X509_get_subject_name(cert), p->cert_subject,
	    sizeof(p->cert_subject));
	mtasts_tls_name_text(X509_get_issuer_name(cert), p->cert_issuer,
	    sizeof(p->cert_issuer));
	mtasts_tls_san_text(cert, p->cert_san, sizeof(p->cert_san));
	if ((now = ASN1_TIME_set(NULL, mtasts_now(ctx))) != NULL &&
	    ASN1_TIME_diff(&days, &secs, now, X509_get0_notAfter(cert)) == 1) {
		p->days_left = days;
		p->cert_not_after = mtasts_now(ctx) + (time_t)days * 86400 +
		    secs;
	}
	ASN1_TIME_free(now);
}

/* TLS on the connection; fills version, cipher, certificate, verdict. */
static void
probe_tls(struct mtasts_ctx *ctx, struct pconn *c, const char *host,
    struct mtasts_probe *p)
{
	struct mtasts_conn *conn = &c->conn;
	SSL_CTX *sctx = NULL;
	X509 *cert;
	char why[MTASTS_REASON_MAX];

	/*
	 * The probe's own SSL_CTX with the fetch's trust settings, but
	 * SSL_VERIFY_NONE: the handshake completes, so the certificate can
	 * be shown, and the verdict is judged afterwards.
	 */
	if ((sctx = mtasts_tls_client_ctx(&ctx->cfg, 0, why,
	    sizeof(why))) == NULL) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "%s", why);
		goto done;
	}
	/*
	 * RFC 8461 §4.1: the certificate must be valid for the MX host name
	 * as a DNS-ID (RFC 6125): SAN only, wildcard only as the whole
	 * left-most label; SNI is that name (§7.1 of RFC 8461 for the fetch,
	 * RFC 8460 report semantics for the MX).
	 */
	if (mtasts_conn_tls_start(conn, sctx, host, MTASTS_TLS_PEER_DNSID) !=
	    0) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "TLS setup failed");
		goto done;
	}
	if (mtasts_conn_tls_handshake(conn) != 0) {
		probe_fail(p, probe_type(MTASTS_STARTTLS_OFFERED,
		    MTASTS_TLS_FAILED), "TLS handshake: %s",
		    mtasts_conn_why(conn));
		goto done;
	}
	p->stage = MTASTS_PROBE_TLS;
	mtasts_printable(p->tls_version, sizeof(p->tls_version),
	    SSL_get_version(conn->ssl), strlen(SSL_get_version(conn->ssl)));
	mtasts_printable(p->cipher, sizeof(p->cipher),
	    SSL_get_cipher_name(conn->ssl),
	    strlen(SSL_get_cipher_name(conn->ssl)));
	if ((cert = SSL_get0_peer_certificate(conn->ssl)) == NULL) {
		p->verify_error = X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
		mtasts_strlcpy(p->verify_text, "no server certificate",
		    sizeof(p->verify_text));
		probe_fail(p, mtasts_tls_verify_type(p->verify_error, 0),
		    "no server certificate");
		goto done;
	}
	cert_details(ctx, cert, p);
	p->verify_error = mtasts_conn_tls_verify_result(conn);
	if (p->verify_error != X509_V_OK) {
		mtasts_strlcpy(p->verify_text,
		    X509_verify_cert_error_string(p->verify_error),
		    sizeof(p->verify_text));
		probe_fail(p, mtasts_tls_verify_type(p->verify_error, 0),
		    "certificate: %s", p->verify_text);
		goto done;
	}
	p->ok = 1;
	/* Polite close; the result does not depend on it. */
	(void)mtasts_conn_tls_write(conn, "QUIT\r\n", 6);
done:
	SSL_CTX_free(sctx);
	ERR_clear_error();
}

/*
 * Race a connection to the addresses (D-NET-3), then probe the winner.
 * A sender moves on only when it could not connect, so one race decides.
 */
static void
probe_race(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, int64_t deadline,
    struct mtasts_probe *p)
{
	struct pconn *c;
	char *reply = NULL;
	int err[MTASTS_ADDRS_MAX];
	int code, w;
	size_t i, nfail = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (reply = malloc(MTASTS_SMTP_REPLY_MAX)) == NULL) {
		probe_fail(p, MTASTS_RT_VALIDATION_FAILURE, "out of memory");
		goto done;
	}
	if (naddrs > MTASTS_ADDRS_MAX)
		naddrs = MTASTS_ADDRS_MAX;
	for (i = 0; i < naddrs; i++)
		err[i] = MTASTS_RACE_UNTRIED;
	mtasts_conn_init(&c->conn, deadline);
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: connecting to %zu "
	    "address%s", host, naddrs, naddrs == 1 ? "" : "es");
	w = mtasts_conn_race(&c->conn, addrs, naddrs, err);
	for (i = 0; i < naddrs; i++) {
		if (err[i] <= 0)
			continue;
		nfail++;
		mtasts_addr_text(&addrs[i], p->addr, sizeof(p->addr));
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: connect to %s: "
		    "%s", host, p->addr, err[i] == ETIMEDOUT &&
		    c->conn.timed_out ? "timed out" : strerror(err[i]));
	}
	if (w < 0) {
		mtasts_addr_text(&addrs[c->conn.race_last >= 0 ?
		    c->conn.race_last : 0], p->addr, sizeof(p->addr));
		if (nfail > 1)
			snprintf(p->reason, sizeof(p->reason),
			    "connect to %s: %s (%zu addresses tried)",
			    p->addr, mtasts_conn_why(&c->conn), nfail);
		else
			snprintf(p->reason, sizeof(p->reason),
			    "connect to %s: %s", p->addr,
			    mtasts_conn_why(&c->conn));
		goto done;
	}
	mtasts_addr_text(&addrs[w], p->addr, sizeof(p->addr));
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: connected to %s", host,
	    p->addr);
	p->stage = MTASTS_PROBE_CONNECTED;
	if (read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "no SMTP banner from %s: %s", p->addr,
		    mtasts_conn_why(&c->conn));
		goto done;
	}
	mtasts_printable(p->banner, sizeof(p->banner), reply,
	    strcspn(reply, "\r\n"));
	if (code != 220) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "SMTP banner is not 220: \"%.80s\"", p->banner);
		goto done;
	}
	p->stage = MTASTS_PROBE_GREETED;
	if (mtasts_conn_send(&c->conn, PROBE_EHLO, sizeof(PROBE_EHLO) - 1) !=
	    0 || read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED, "EHLO: %s",
		    mtasts_conn_why(&c->conn));
		goto done;
	}
	if (code != 250) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "EHLO answered %d", code);
		goto done;
	}
	p->stage = MTASTS_PROBE_EHLO;
	/* RFC 3207 §4, the keyword alone (ehlo.c, D-EHLO-1). */
	p->starttls_offered = mtasts_ehlo_offers(reply, strlen(reply),
	    "STARTTLS") == 1;
	if (!p->starttls_offered) {
		probe_fail(p, probe_type(MTASTS_STARTTLS_NOT_OFFERED,
		    MTASTS_TLS_UNKNOWN), "STARTTLS not offered in the EHLO "
		    "reply");
		goto done;
	}
	if (mtasts_conn_send(&c->conn, "STARTTLS\r\n", 10) != 0 ||
	    read_reply(c, &code, reply, MTASTS_SMTP_REPLY_MAX) != 0) {
		probe_fail(p, MTASTS_RT_STARTTLS_NOT_SUPPORTED,
		    "STARTTLS: %s", mtasts_conn_why(&c->conn));
		goto done;
	}
	p->starttls_code = code;
	if (code != 220) {
		char line[80];

		mtasts_printable(line, sizeof(line), reply,
		    strcspn(reply, "\r\n"));
		probe_fail(p, probe_type(MTASTS_STARTTLS_REFUSED,
		    MTASTS_TLS_UNKNOWN), "STARTTLS refused: \"%s\"", line);
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
done:
	if (c != NULL && c->conn.timed_out)
		p->timed_out = 1;
	if (c != NULL)
		mtasts_conn_close(&c->conn);
	free(reply);
	free(c);
}

void
mtasts_probe_smtp(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_probe *out)
{
	int64_t t0 = mtasts_mono_ms();

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
	probe_race(ctx, host, addrs, naddrs, deadline_ms_mono, out);
done:
	out->elapsed_ms = mtasts_mono_ms() - t0;
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "probe: %s: %s%s%s (%lld ms)", host,
	    out->ok ? "ok" : out->result_type[0] ? out->result_type :
	    "unreachable", out->reason[0] ? ": " : "", out->reason,
	    (long long)out->elapsed_ms);
}
