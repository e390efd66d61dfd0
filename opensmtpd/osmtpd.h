/* SPDX-License-Identifier: ISC */
/*
 * osmtpd.h - the OpenSMTPD adapter's translation between libmtasts
 * answers and what smtpd 6.8 asks (table services, relay URLs), and the
 * adapter's caps and timers. No policy logic lives here: the MX set
 * (implicit and null MX, which MX a policy allows) is the core's
 * mtasts_mxset_*(), the TLS-RPT outcome of a session its
 * mtasts_verdict_classify(); this only picks among the allowed MXs and
 * translates the event stream into the core's neutral session facts.
 */
#ifndef MTASTS_OSMTPD_H
#define MTASTS_OSMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "mtasts.h"

/*
 * MX sets the table keeps in memory, and how long. The DNS TTL is not
 * exposed by mtasts_mxset_resolve(), so a fixed freshness is used: a set is
 * refreshed in the background after MX_FRESH, used (while a refresh runs)
 * up to MX_STALE, and a failed resolution is retried after MX_RETRY.
 */
#define MTASTS_OSMTPD_MX_SLOTS 4096
#define MTASTS_OSMTPD_MX_FRESH_MS (300 * 1000)
#define MTASTS_OSMTPD_MX_STALE_MS (3600 * 1000)
#define MTASTS_OSMTPD_MX_RETRY_MS (10 * 1000)
/* One MX resolution in the table's resolver thread. */
#define MTASTS_OSMTPD_MX_DNS_MS 5000
/*
 * How long K_RELAYHOST lookups wait, all together per 10 s window, for MX
 * sets that are not in memory yet (decisions.md D-OSMTPD-2). smtpd's lka
 * blocks meanwhile, so this is short; the set is normally prefetched when
 * the K_DOMAIN check accepted the recipient.
 */
#define MTASTS_OSMTPD_MX_WAIT_MS 300
/* Domains queued for the resolver thread. */
#define MTASTS_OSMTPD_QUEUE_MAX 256
/*
 * Rotation across delivery attempts (decisions.md D-OSMTPD-3): lookups
 * within HOLD of the first answer of a round get the same MX (one queue
 * run asks once per envelope); later ones move to the next policy-valid
 * MX; after RESET without lookups the best MX is tried first again.
 */
#define MTASTS_OSMTPD_ROTATE_HOLD_MS 2000
#define MTASTS_OSMTPD_ROTATE_RESET_MS (1800 * 1000)
/* Longest relay URL: scheme + host name. */
#define MTASTS_OSMTPD_URL_MAX (16 + MTASTS_DOMAIN_MAX)

#if defined(__GNUC__)
#define MTASTS_OSMTPD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTASTS_OSMTPD_PRINTF(f, a)
#endif

/* mtasts_strlcpy(), mtasts_mono_ms(): the core's (mtasts.h). */

/* Reason codes are the core's; the longest reason the adapter keeps. */
#define MTASTS_OSMTPD_REASON_MAX 160

/*
 * mtasts_osmtpd_relay_url - the K_RELAYHOST answer for one delivery
 * attempt of `domain`.
 * @param enforce policy to enforce, or NULL: with a policy only the
 * policy-valid MXs are candidates (mtasts_mxset_allowed_host()) and the
 * URL is smtp+tls:// (STARTTLS required, certificate and MX name verified
 * by smtpd); without, every MX is a candidate and the URL is smtp://
 * (opportunistic, as smtpd's own MX delivery).
 * @param set the MX set (borrowed), NULL when not resolved yet.
 * @param rot rotation counter: candidate rot % count is chosen.
 * @param out receives the URL.
 * @return 1 (out set), 0 (no candidate: the attempt tempfails; why set).
 */
int mtasts_osmtpd_relay_url(const char *domain,
    const struct mtasts_policy *enforce, const struct mtasts_mxset *set,
    unsigned rot, char *out, size_t size, char *why, size_t whysize);

/*
 * The domain part of an SMTP address as smtpd writes it ("user@dom",
 * "<user@dom>"), copied to out; 0 on success, -1 when there is none.
 */
int mtasts_osmtpd_addr_domain(const char *addr, char *out, size_t size);

/* Longest filter protocol line handled; longer lines are skipped. */
#define MTASTS_OSMTPD_LINE_MAX 65536
/* smtp-out sessions tracked at once, and learnt MX addresses. */
#define MTASTS_OSMTPD_SESSIONS_MAX 4096
#define MTASTS_OSMTPD_ADDRS_MAX 4096
/* rcpt-to lookups waiting for a worker; beyond, proceed at once. */
#define MTASTS_OSMTPD_JOBS_MAX 1024
#define MTASTS_OSMTPD_WORKERS 4

/* What the smtp-out report stream showed of one session's TLS. */
struct mtasts_osmtpd_tls {
	int ehlo_sent;		/* protocol-client EHLO */
	int ehlo_reply;		/* a 250 line answered it */
	int starttls_adv;	/* 250[- ]STARTTLS */
	int starttls_sent;	/* protocol-client STARTTLS */
	int tls;		/* link-tls */
	int tx;			/* tx-mail / tx-rcpt after that */
	int starttls_reply;	/* reply code to STARTTLS (0 = none seen) */
};

/* Feed one protocol-client / protocol-server line. */
void mtasts_osmtpd_tls_client(struct mtasts_osmtpd_tls *s, const char *cmd);
void mtasts_osmtpd_tls_server(struct mtasts_osmtpd_tls *s, const char *line);

/*
 * mtasts_osmtpd_facts - what the event stream showed of a finished
 * session, as the core's neutral facts (D-OSMTPD-14): the core's
 * mtasts_verdict_classify() then gives the RFC 8460 outcome and reason.
 * The events carry no certificate verdict or reason on 6.8 or 7.x: a
 * certificate failure is told apart only from a refused STARTTLS, never
 * expired from self-signed from wrong name (smtpd's log has those).
 * @param verified 1 when smtpd verified the certificate on this route
 * (smtp+tls:// relay URLs of the enforce action), 0 for opportunistic:
 * TLS on such a route is no outcome.
 * @param f receives the facts (zeroed first).
 */
void mtasts_osmtpd_facts(const struct mtasts_osmtpd_tls *s, int verified,
    struct mtasts_session_facts *f);

#endif /* MTASTS_OSMTPD_H */
