/* SPDX-License-Identifier: ISC */
/*
 * internal/spool.h - the spool record codec: spool.c writes a record line
 * (no JSON library: it is in the Exim module's light half, D-LAZYNET-4),
 * spool_read.c reads lines with jansson.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_SPOOL_H
#define MTASTS_INTERNAL_SPOOL_H

#include "internal/base.h"

struct json_t;
struct mtasts_tlsrpt_session;
/* The record format version ("v"). */
#define MTASTS_SPOOL_VERSION 1
/* 1 if pt is one of the policy types ("pt") spool.c writes. */
int mtasts_spool_policy_type_known(const char *pt);
/*
 * The record line (JSON + "\n", at most MTASTS_TLSRPT_RECORD_MAX bytes)
 * of a validated session: domain, mxh (receiving MX name), mxip and sip
 * (canonical IPs) are already checked, "" when absent. Long fields are
 * truncated to fit. A malloc'd string with *len its length, or NULL (out
 * of memory, or it cannot fit).
 */
char *mtasts_spool_rec_encode(const struct mtasts_tlsrpt_session *s,
    const char *domain, const char *mxh, const char *mxip, const char *sip,
    time_t when, size_t *len);
/*
 * One line of a spool file as getline() read it (n bytes, its newline
 * included): MTASTS_SPOOL_LINE_RECORD with *rec the parsed JSON (owned;
 * json_decref), _EMPTY for a lone newline, _TORN (torn by a crash or a
 * full disk, over-long, NUL, not JSON) with *rec NULL.
 */
#define MTASTS_SPOOL_LINE_RECORD 0
#define MTASTS_SPOOL_LINE_EMPTY 1
#define MTASTS_SPOOL_LINE_TORN 2
int mtasts_spool_line_decode(const char *line, size_t n,
    struct json_t **rec);
/* 1 if the record is of a session that carried a report (§3: excluded). */
int mtasts_spool_rec_report_mail(const struct json_t *rec);
/* Its attempt key (D-RPT-12), borrowed from rec, or NULL. */
const char *mtasts_spool_rec_key(const struct json_t *rec);
/* Hex digits of a record id "u" (D-RPT-17). */
#define MTASTS_SPOOL_ID_LEN 16
/*
 * Its record id (D-RPT-17): 1 and *id set, 0 when it has none, -1 when
 * "u" is present but not MTASTS_SPOOL_ID_LEN lower-case hex digits.
 */
int mtasts_spool_rec_id(const struct json_t *rec, uint64_t *id);
/* The members of one well-formed record, borrowed from its JSON. */
struct mtasts_spool_rec {
	const char *d, *pt, *r, *si, *rh, *ri, *fr, *helo;
	struct json_t *ps, *mx;		/* arrays of strings, or NULL */
};
/* 0 and *f filled when rec is a well-formed record, 1 when malformed. */
int mtasts_spool_rec_parse(struct json_t *rec, struct mtasts_spool_rec *f);

#endif /* MTASTS_INTERNAL_SPOOL_H */
