/* SPDX-License-Identifier: ISC */
/*
 * internal/txt.h - taglist.c, txt.c: tag-list TXT records and `_mta-sts`.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_TXT_H
#define MTASTS_INTERNAL_TXT_H

#include "internal/base.h"

/*
 * The discard rule shared by `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls`
 * (RFC 8460 §3) TXT records: 1 if rec[0..len) begins with version
 * (case-sensitive), then *WSP and ";" (a field-delim, D-TXT-2).
 */
int mtasts_taglist_versioned(const char *rec, size_t len,
    const char *version);
/*
 * The RRset selection rule of both records: of recs[0..nrecs), those that
 * begin with version and a field-delim count; MTASTS_OK and *which when
 * exactly one does, MTASTS_NOTFOUND for none, MTASTS_INVALID for several
 * ("<n> <what> records") or more than MTASTS_TXT_RECORDS_MAX records.
 */
int mtasts_taglist_select(const char *const *recs, const size_t *lens,
    size_t nrecs, const char *version, const char *what, size_t *which,
    struct mtasts_error *err);
/*
 * taglist.c: the framing of a tag-list TXT record (the bytes, version,
 * field delimiters and extension fields shared by both grammars). Open
 * checks the caps, the bytes and the version; each _next then stops at a
 * field (1, at t->pos), at the end (0), or at a framing error (-1, err
 * set). The caller parses the field and sets t->pos to its end.
 */
struct mtasts_taglist {
	const char *rec;
	size_t len;
	size_t pos;
};
int mtasts_taglist_open(struct mtasts_taglist *t, const char *rec,
    size_t len, const char *version, struct mtasts_error *err);
int mtasts_taglist_next(struct mtasts_taglist *t, struct mtasts_error *err);
/* End of the token at pos: WSP, ";" or the end of the record. */
size_t mtasts_taglist_token_end(const struct mtasts_taglist *t, size_t pos);
/*
 * The extension field (ext-name "=" ext-value) at pos: its end, or 0 with
 * err set (MTASTS_INVALID).
 */
size_t mtasts_taglist_extension(const struct mtasts_taglist *t, size_t pos,
    struct mtasts_error *err);
/* A length to quote in a reason (%.*s), capped. */
int mtasts_taglist_qlen(size_t n);

#endif /* MTASTS_INTERNAL_TXT_H */
