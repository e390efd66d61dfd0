/* SPDX-License-Identifier: ISC */
/*
 * internal/tlsrpt_txt.h - tlsrpt_txt.c: the `_smtp._tls` TXT record.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_TLSRPT_TXT_H
#define MTASTS_INTERNAL_TLSRPT_TXT_H

#include "internal/base.h"

/* Usable (mailto:/https:) rua URIs kept from one record. */
#define MTASTS_TLSRPT_RUA_MAX 8
/* One rua URI; a longer one is counted as unusable. */
#define MTASTS_TLSRPT_URI_MAX 512

struct mtasts_tlsrpt_txt {
	size_t nrua;			/* usable URIs, in record order */
	char rua[MTASTS_TLSRPT_RUA_MAX][MTASTS_TLSRPT_URI_MAX + 1];
	size_t nunsupported;		/* valid URIs we cannot deliver to */
};

/*
 * Parse one concatenated `_smtp._tls` TXT record rec[0..len). Strict ABNF;
 * unknown fields are ignored (§3). MTASTS_OK needs a rua with at least one
 * usable URI (mailto: with a plain addr-spec, or https:); otherwise
 * MTASTS_INVALID with the reason, and *out zeroed.
 */
int mtasts_tlsrpt_txt_parse(const char *rec, size_t len,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err);
/*
 * §3 selection: records not beginning "v=TLSRPTv1;" are discarded; exactly
 * one must remain. MTASTS_OK, MTASTS_NOTFOUND (none), MTASTS_INVALID.
 */
int mtasts_tlsrpt_txt_select(const char *const *recs, const size_t *lens,
    size_t nrecs, struct mtasts_tlsrpt_txt *out, struct mtasts_error *err);
/*
 * The single addr-spec of a mailto: URI, %-decoded, hfields dropped; only a
 * dot-atom local part and an LDH host name are accepted (it is written into
 * a mail header). Returns 0 or -1.
 */
int mtasts_tlsrpt_mailto_addr(const char *uri, size_t len, char *out,
    size_t size);
/*
 * Split an https: URI into host (brackets of an IP-literal removed), port
 * (443 by default) and request target (path + query, "/" when empty, no
 * fragment). No userinfo. Returns 0 or -1.
 */
int mtasts_tlsrpt_https_split(const char *uri, size_t len, char *host,
    size_t hostsize, unsigned *port, char *path, size_t pathsize);

#endif /* MTASTS_INTERNAL_TLSRPT_TXT_H */
