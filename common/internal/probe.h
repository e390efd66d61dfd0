/* SPDX-License-Identifier: ISC */
/*
 * internal/probe.h - probe.c: the SMTP STARTTLS probe (mtasts check).
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_PROBE_H
#define MTASTS_INTERNAL_PROBE_H

#include "internal/base.h"

/* One SMTP reply line, and one whole (multi-line) reply. */
#define MTASTS_SMTP_LINE_MAX 1000
#define MTASTS_SMTP_REPLY_MAX 8192
/* Certificate text kept for display (subject, issuer, SAN list). */
#define MTASTS_CERT_TEXT_MAX 256

/* How far a probe got; a failure happened in the stage after this. */
enum mtasts_probe_stage {
	MTASTS_PROBE_NONE = 0,		/* nothing connected */
	MTASTS_PROBE_CONNECTED = 1,	/* TCP up; banner missing or bad */
	MTASTS_PROBE_GREETED = 2,	/* 220 banner; EHLO failed */
	MTASTS_PROBE_EHLO = 3,		/* EHLO answered; STARTTLS not usable */
	MTASTS_PROBE_STARTTLS = 4,	/* 220 to STARTTLS; handshake failed */
	MTASTS_PROBE_TLS = 5		/* handshake done; see verify_error */
};

struct mtasts_probe {
	int stage;			/* enum mtasts_probe_stage */
	int ok;				/* TLS up and certificate valid */
	int timed_out;
	char addr[64];			/* "ip:port" of the last attempt */
	char banner[128];		/* sanitised first banner line */
	int starttls_offered;		/* EHLO listed STARTTLS */
	int starttls_code;		/* reply code to STARTTLS, 0 unsent */
	char tls_version[16];		/* "TLSv1.3" */
	char cipher[64];
	long verify_error;		/* X509_V_OK (0) when valid */
	char verify_text[96];		/* OpenSSL's text for verify_error */
	char cert_subject[MTASTS_CERT_TEXT_MAX];	/* RFC 2253 */
	char cert_issuer[MTASTS_CERT_TEXT_MAX];
	char cert_san[MTASTS_CERT_TEXT_MAX];	/* DNS SANs, comma-separated */
	time_t cert_not_after;		/* 0 when no certificate seen */
	long days_left;			/* whole days until notAfter */
	char result_type[MTASTS_RESULT_TYPE_MAX];	/* RFC 8460, or "" */
	char reason[MTASTS_REASON_MAX];	/* one line, "" when ok */
	int64_t elapsed_ms;
};

/*
 * What a compliant RFC 8461 sender sees at an MX host: try addrs[0..n) in
 * order (ports from the sockaddrs) until one answers SMTP, then banner,
 * EHLO, STARTTLS, a TLS >= 1.2 handshake with SNI = host, and PKIX
 * verification against the configured CA store with host as a DNS-ID
 * (SAN only, a wildcard only as the whole left-most label, no CN). The
 * handshake is completed even when verification fails so the certificate
 * can be shown; verify_error/result_type say what a sender would reject.
 * Everything runs before deadline_ms_mono (a mtasts_mono_ms() time).
 * Reads only ctx->cfg and the log sink and makes its own TLS state, so
 * several threads may probe with one context at once; never raises
 * SIGPIPE. All strings in *out are sanitised printable ASCII.
 */
void mtasts_probe_smtp(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_probe *out);

#endif /* MTASTS_INTERNAL_PROBE_H */
