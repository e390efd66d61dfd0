/* SPDX-License-Identifier: ISC */
/*
 * report_send.c - where an RFC 8460 report goes and getting it there: the
 * rua of the `_smtp._tls` TXT record (§3, mtasts_report_rua_dns), the
 * HTTPS POST to an `https:` rua (§5.2), and the delivery loop over a
 * report's rua (mtasts_report_deliver; `mailto:` through report_mail.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "mtasts_internal.h"

/* Response head read from an HTTPS collector. */
#define POST_RESPONSE_MAX 16384

int
mtasts_report_rua_dns(void *arg, struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	char qname[MTASTS_DOMAIN_MAX + 16];
	struct mtasts_dns_answer *a = NULL;
	char **recs = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	(void)arg;
	memset(out, 0, sizeof(*out));
	/* §3: the policy is published at "_smtp._tls.<Policy Domain>". */
	if ((size_t)snprintf(qname, sizeof(qname), "_smtp._tls.%s", domain) >=
	    sizeof(qname))
		return mtasts_err(err, MTASTS_INVALID, "name too long");
	if ((rc = mtasts_dns_query(ctx, qname, 16, ctx->cfg.dns_timeout_ms, &a,
	    err)) != MTASTS_OK)
		return rc;
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
		break;
	case MTASTS_DNS_NXDOMAIN:
	case MTASTS_DNS_NODATA:
		rc = mtasts_err(err, MTASTS_NOTFOUND, "%s: no TXT record",
		    qname);
		goto done;
	default:
		rc = mtasts_err(err, MTASTS_TEMPFAIL, "%s: %s", qname,
		    a->why[0] ? a->why : "DNS failure");
		goto done;
	}
	if ((rc = mtasts_dns_txt_decode(a, &recs, &lens, &n)) != MTASTS_OK) {
		mtasts_err_set(err, rc, "%s: malformed TXT", qname);
		goto done;
	}
	rc = mtasts_tlsrpt_txt_select((const char *const *)recs, lens, n, out,
	    err);
done:
	mtasts_dns_txt_free(recs, lens, n);
	mtasts_dns_answer_free(a);
	return rc;
}

/*
 * Race a connection to the untried addresses (D-NET-3), then TLS, POST,
 * status line on the winner. 2xx is MTASTS_OK. fetch.c's HTTPS state
 * machine with a request of ours (one client, D-NET-6), over net.c's
 * connection, so a collector that closes early (say a 413 before the
 * whole body is read) cannot kill us with SIGPIPE.
 */
static int
post_one(struct mtasts_ctx *ctx, SSL_CTX *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, int *aerr,
    const char *req, size_t reqlen, const char *body, size_t bodylen,
    int64_t deadline, int *status, struct mtasts_error *err)
{
	struct mtasts_https_req rq;
	int rc = MTASTS_TEMPFAIL;

	memset(&rq, 0, sizeof(rq));
	rq.peer = MTASTS_TLS_PEER_URI_HOST;	/* PKIX + the URI's host */
	rq.head = req;
	rq.headlen = reqlen;
	rq.body = body;
	rq.bodylen = bodylen;
	rq.resp_max = POST_RESPONSE_MAX;
	(void)mtasts_https_request(ctx, sctx, host, addrs, naddrs, aerr,
	    deadline, &rq);
	*status = rq.status;
	if (rq.nomem)
		rc = MTASTS_NOMEM;
	else if (rq.why[0] == '\0')
		rc = MTASTS_OK;
	if (rc != MTASTS_OK)
		mtasts_err_set(err, rc, "%s", rq.why);
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "report: POST to %s: status %d",
	    host, *status);
	return rc;
}

int
mtasts_report_post(struct mtasts_ctx *ctx, const char *uri,
    const char *body, size_t len, struct mtasts_error *err)
{
	char host[MTASTS_DOMAIN_MAX + 1], path[MTASTS_TLSRPT_URI_MAX + 1];
	char req[MTASTS_TLSRPT_URI_MAX + 1024];
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	int aerr[MTASTS_ADDRS_MAX];
	int64_t deadline = mtasts_mono_ms() + MTASTS_REPORT_SEND_TIMEOUT_MS;
	unsigned port;
	size_t n = 0, i;
	SSL_CTX *sctx;
	int rc, reqlen, status;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addrs[0];

	if (mtasts_tlsrpt_https_split(uri, strlen(uri), host, sizeof(host),
	    &port, path, sizeof(path)) != 0)
		return mtasts_err(err, MTASTS_INVALID, "bad https rua");
	memset(addrs, 0, sizeof(addrs));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		n = 1;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		n = 1;
	} else if ((rc = mtasts_dns_addrs(ctx, host, (int)port,
	    ctx->cfg.dns_timeout_ms, addrs, MTASTS_ADDRS_MAX, &n, err)) !=
	    MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_TEMPFAIL : rc;
	if (n > MTASTS_ADDRS_MAX)
		n = MTASTS_ADDRS_MAX;
	if ((sctx = mtasts_fetch_ssl_ctx(ctx, err)) == NULL)
		return MTASTS_ERROR;
	/* §5.4: POST, application/tlsrpt+gzip for a compressed report. */
	{
		char hh[MTASTS_DOMAIN_MAX + 16];
		int v6 = strchr(host, ':') != NULL;

		if (port == 443)
			snprintf(hh, sizeof(hh), v6 ? "[%s]" : "%s", host);
		else
			snprintf(hh, sizeof(hh), v6 ? "[%s]:%u" : "%s:%u", host,
			    port);
		reqlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n"
		    "Host: %s\r\nUser-Agent: mtasts/%s\r\n"
		    "Content-Type: application/tlsrpt+gzip\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    path, hh, MTASTS_VERSION_STRING, len);
	}
	if (reqlen < 0 || (size_t)reqlen >= sizeof(req))
		return mtasts_err(err, MTASTS_INVALID, "request too long");
	rc = MTASTS_TEMPFAIL;
	for (i = 0; i < n; i++)
		aerr[i] = MTASTS_RACE_UNTRIED;
	/* Rounds of racing the addresses not yet used (D-NET-3, -4). */
	while (mtasts_mono_ms() < deadline) {
		struct mtasts_error e = { 0, "" };
		size_t left = 0;

		rc = post_one(ctx, sctx, host, addrs, n, aerr, req,
		    (size_t)reqlen, body, len, deadline, &status, &e);
		if (rc == MTASTS_OK)
			return MTASTS_OK;
		for (i = 0; i < n; i++)
			if (aerr[i] == MTASTS_RACE_UNTRIED)
				left++;
		/* An HTTP answer is the collector's word: no other address. */
		if (status != 0 || left == 0) {
			mtasts_err_set(err, rc, "%s", e.text);
			break;
		}
	}
	if (rc != MTASTS_OK)
		mtasts_err_set(err, rc, "%s: no address reachable", host);
	return rc;
}

int
mtasts_report_deliver(struct mtasts_ctx *ctx, const struct mtasts_report *r,
    time_t now, char *done_uri, size_t size, struct mtasts_error *err)
{
	char *gz = NULL, *msg = NULL, addr[MTASTS_TLSRPT_URI_MAX + 1];
	size_t gzlen = 0, msglen, i;
	int rc = MTASTS_TEMPFAIL;

	if (size > 0)
		done_uri[0] = '\0';
	if ((rc = mtasts_report_gzip(r->json, r->json_len, &gz, &gzlen)) !=
	    MTASTS_OK)
		return mtasts_err(err, rc, "gzip failed");
	rc = MTASTS_TEMPFAIL;
	/* §3: try each rua; delivered once one endpoint accepts it. */
	for (i = 0; i < r->rua.nrua; i++) {
		const char *u = r->rua.rua[i];
		struct mtasts_error e = { 0, "" };
		int one;

		if (mtasts_tlsrpt_mailto_addr(u, strlen(u), addr,
		    sizeof(addr)) == 0) {
			free(msg);
			msg = NULL;
			one = mtasts_report_mail(ctx, r, addr, gz, gzlen, now,
			    &msg, &msglen, &e);
			if (one == MTASTS_OK)
				one = mtasts_report_sendmail(ctx, msg, msglen,
				    &e);
		} else
			one = mtasts_report_post(ctx, u, gz, gzlen, &e);
		if (one == MTASTS_OK) {
			mtasts_log(ctx, MTASTS_LOG_INFO, "report: %s "
			    "delivered to %s", r->file_name, u);
			mtasts_strlcpy(done_uri, u, size);
			rc = MTASTS_OK;
			break;
		}
		mtasts_log(ctx, MTASTS_LOG_WARN, "report: %s to %s: %s",
		    r->file_name, u, e.text);
		mtasts_err_set(err, MTASTS_TEMPFAIL, "%s: %s", u, e.text);
	}
	free(msg);
	free(gz);
	return rc;
}
