/* SPDX-License-Identifier: ISC */
/*
 * osmtpd.c - translation helpers shared by table-mtasts and filter-mtasts:
 * the relay URL for a delivery attempt, the domain of an address.
 *
 * RFC 8461 §4.1 is applied by mtasts_policy_mx_allowed(); here we only
 * pick one candidate per attempt because a 6.8 relay URL names exactly one
 * host (mta-integration.md B2: no fallback list inside an attempt).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "osmtpd.h"

int
mtasts_osmtpd_relay_url(const char *domain,
    const struct mtasts_policy *enforce, int state,
    const struct mtasts_dns_mx *mx, size_t nmx, unsigned rot, char *out,
    size_t size, char *why, size_t whysize)
{
	const char *cand[MTASTS_DNS_RR_MAX + 1];
	const char *scheme = enforce != NULL ? "smtp+tls://" : "smtp://";
	size_t i, n = 0;
	int w;

	if (size > 0)
		out[0] = '\0';
	if (whysize > 0)
		why[0] = '\0';
	switch (state) {
	case MTASTS_OSMTPD_MX_LIST:
		for (i = 0; i < nmx && n < MTASTS_DNS_RR_MAX; i++) {
			if (enforce == NULL || mtasts_policy_mx_allowed(
			    enforce, mx[i].name, strlen(mx[i].name)))
				cand[n++] = mx[i].name;
		}
		break;
	case MTASTS_OSMTPD_MX_IMPLICIT:
		/* RFC 5321 §5.1: the domain is its own MX; §4.1 still applies. */
		if (enforce == NULL || mtasts_policy_mx_allowed(enforce, domain,
		    strlen(domain)))
			cand[n++] = domain;
		break;
	case MTASTS_OSMTPD_MX_NULL:
		snprintf(why, whysize, "%s accepts no mail (null MX)", domain);
		return 0;
	default:
		snprintf(why, whysize, "MX of %s not resolved", domain);
		return 0;
	}
	if (n == 0) {
		snprintf(why, whysize, "no MX of %s matches its MTA-STS policy",
		    domain);
		return 0;
	}
	w = snprintf(out, size, "%s%s", scheme, cand[rot % n]);
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
	if (!greeting && mtasts_ascii_caseeq(kw, kwlen, "STARTTLS", 8))
		s->starttls_adv = 1;
}

int
mtasts_osmtpd_classify(const struct mtasts_osmtpd_tls *s, int verified,
    const char **result)
{
	*result = NULL;
	if (s->tls) {
		if (s->tx)
			return verified;	/* success only if verified */
		if (verified) {
			/*
			 * smtpd drops a route whose certificate fails the
			 * check right after the handshake; the report stream
			 * does not say why (smtpd's log does).
			 */
			*result = MTASTS_RT_VALIDATION_FAILURE;
			return 1;
		}
		return 0;
	}
	if (s->starttls_sent) {
		/* STARTTLS was accepted or refused, no TLS followed. */
		*result = MTASTS_RT_VALIDATION_FAILURE;
		return 1;
	}
	if (s->ehlo_reply && !s->starttls_adv) {
		*result = MTASTS_RT_STARTTLS_NOT_SUPPORTED;
		return 1;
	}
	return 0;
}

const char *
mtasts_osmtpd_reason(const struct mtasts_osmtpd_tls *s, const char *result)
{
	if (result == NULL)
		return NULL;
	if (s->tls)
		/* 6.8: link-tls, then smtpd's own check dropped the route. */
		return MTASTS_OSMTPD_RC_AFTER_HANDSHAKE;
	if (s->starttls_sent)
		/*
		 * 220 and no session: 7.x reports link-tls only after a
		 * verified handshake, so this is the verification (or the
		 * handshake itself) failing; which check, the events do not
		 * say.
		 */
		return s->starttls_reply == 220 || s->starttls_reply == 0
		    ? MTASTS_OSMTPD_RC_HANDSHAKE
		    : MTASTS_OSMTPD_RC_STARTTLS_REFUSED;
	return MTASTS_OSMTPD_RC_NO_STARTTLS;
}
