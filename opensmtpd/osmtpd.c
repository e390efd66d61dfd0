/* SPDX-License-Identifier: ISC */
/*
 * osmtpd.c - translation helpers shared by table-mtasts and filter-mtasts:
 * the relay URL for a delivery attempt, the domain of an address, the
 * event stream of a session as the core's neutral facts.
 *
 * The MX set and RFC 8461 §4.1 are the core's (mtasts_mxset_*); here we
 * only pick one candidate per attempt because a 6.8 relay URL names
 * exactly one host (mta-integration.md B2: no fallback list inside an
 * attempt).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "osmtpd.h"

int
mtasts_osmtpd_relay_url(const char *domain,
    const struct mtasts_policy *enforce, const struct mtasts_mxset *set,
    unsigned rot, char *out, size_t size, char *why, size_t whysize)
{
	const char *scheme = enforce != NULL ? "smtp+tls://" : "smtp://";
	size_t n;
	int w;

	if (size > 0)
		out[0] = '\0';
	if (whysize > 0)
		why[0] = '\0';
	if (set == NULL) {
		snprintf(why, whysize, "MX of %s not resolved", domain);
		return 0;
	}
	/* Null MX, or the policy leaves no MX (RFC 8461 §4.1): the core. */
	if ((n = mtasts_mxset_explain(set, enforce, why, whysize)) == 0)
		return 0;
	w = snprintf(out, size, "%s%s", scheme,
	    mtasts_mxset_allowed_host(set, enforce, rot % n));
	if (w < 0 || (size_t)w >= size) {
		if (size > 0)
			out[0] = '\0';
		snprintf(why, whysize, "relay URL too long");
		return 0;
	}
	return 1;
}

int
mtasts_osmtpd_addr_domain(const char *addr, char *out, size_t size)
{
	const char *at, *end;
	size_t n;

	if (size > 0)
		out[0] = '\0';
	if (addr == NULL || (at = strrchr(addr, '@')) == NULL)
		return -1;
	at++;
	end = at + strlen(at);
	if (end > at && end[-1] == '>')
		end--;
	n = (size_t)(end - at);
	if (n == 0 || n >= size)
		return -1;
	memcpy(out, at, n);
	out[n] = '\0';
	return 0;
}

void
mtasts_osmtpd_tls_client(struct mtasts_osmtpd_tls *s, const char *cmd)
{
	if (strncasecmp(cmd, "EHLO ", 5) == 0)
		s->ehlo_sent = 1;
	else if (strcasecmp(cmd, "STARTTLS") == 0)
		s->starttls_sent = 1;
}

void
mtasts_osmtpd_tls_server(struct mtasts_osmtpd_tls *s, const char *line)
{
	const char *kw;
	size_t kwlen;
	int greeting;

	/* The reply to STARTTLS: the first line after it, before TLS. */
	if (s->starttls_sent && !s->tls && s->starttls_reply == 0 &&
	    line[0] >= '1' && line[0] <= '5' && line[1] >= '0' &&
	    line[1] <= '9' && line[2] >= '0' && line[2] <= '9') {
		s->starttls_reply = (line[0] - '0') * 100 +
		    (line[1] - '0') * 10 + (line[2] - '0');
		return;
	}
	/* The keyword alone, after the greeting line (ehlo.c, D-EHLO-1). */
	if (mtasts_ehlo_line_keyword(line, strlen(line), &kw, &kwlen) != 0)
		return;
	greeting = !s->ehlo_reply;
	if (s->ehlo_sent && !s->tls)
		s->ehlo_reply = 1;
	if (!greeting && kwlen == 8 && strncasecmp(kw, "STARTTLS", 8) == 0)
		s->starttls_adv = 1;
}

void
mtasts_osmtpd_facts(const struct mtasts_osmtpd_tls *s, int verified,
    struct mtasts_session_facts *f)
{
	memset(f, 0, sizeof(*f));
	if (s->tls) {
		f->tls = MTASTS_TLS_UP;
		/*
		 * A transaction after TLS on a verified route: smtpd's check
		 * passed. No transaction: smtpd dropped the route right after
		 * the handshake, the stream does not say why (6.8).
		 */
		if (verified)
			f->cert = s->tx ? MTASTS_CERT_OK : MTASTS_CERT_OTHER;
		return;
	}
	if (s->starttls_sent) {
		/*
		 * 220 and no session: 7.x reports link-tls only after a
		 * verified handshake, so the handshake or its verification
		 * failed; another reply refused STARTTLS.
		 */
		if (s->starttls_reply == 220 || s->starttls_reply == 0) {
			f->starttls = MTASTS_STARTTLS_OFFERED;
			f->tls = MTASTS_TLS_FAILED;
		} else
			f->starttls = MTASTS_STARTTLS_REFUSED;
		return;
	}
	if (s->ehlo_reply)
		f->starttls = s->starttls_adv ? MTASTS_STARTTLS_OFFERED :
		    MTASTS_STARTTLS_NOT_OFFERED;
}
