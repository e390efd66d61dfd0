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
/* MTASTS_CERT_TEXT_MAX, enum mtasts_probe_stage, struct mtasts_probe:
 * public (mtasts_admin.h), the CLI allocates them. */

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
