/* SPDX-License-Identifier: ISC */
/*
 * internal/tlsrpt.h - tlsrpt.c, retention.c: the TLS-RPT session spool
 * and its retention.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_TLSRPT_H
#define MTASTS_INTERNAL_TLSRPT_H

#include "internal/base.h"

/*
 * Retention of the spool, built reports and send state (retention.c,
 * decisions.md D-RET-1): report_retention_days, 0 keeps everything.
 */
#define MTASTS_RETENTION_DAYS_DEFAULT 30
#define MTASTS_RETENTION_DAYS_MAX 3650
/* report_dir/<day>/ marker: the job built this day from its own spool. */
#define MTASTS_SPOOL_BUILT_MARK ".spool-built"
struct mtasts_prune_stats {
	int days;			/* the retention used; 0: none */
	size_t spool_files;		/* <day>.jsonl, <day>.jsonl.dropped */
	size_t report_files;		/* built report JSON */
	size_t report_dirs;		/* report_dir/<day>/ removed */
	size_t state_files;		/* state/<report>.state */
	size_t other_files;		/* markers, temp files of dead stores */
	size_t kept_pending;		/* old spool days: a send is pending */
	size_t kept_unreported;		/* old spool days never built */
	char oldest_unreported[11];	/* YYYY-MM-DD of the oldest of those */
	size_t errors;			/* files that could not be removed */
};
/*
 * Remove what is older than report_retention_days (own_spool: also this
 * host's spool days, when reported). MTASTS_ERROR when some file could
 * not be removed (err: the last one); the counts are in *st either way.
 */
int mtasts_retention_prune(struct mtasts_ctx *ctx, time_t now, int own_spool,
    struct mtasts_prune_stats *st, struct mtasts_error *err);
/* Mark dir (report_dir/<day>) as built from this host's spool day. */
int mtasts_retention_mark_day(struct mtasts_ctx *ctx, const char *dir,
    struct mtasts_error *err);
/* "YYYY-MM-DD" (len 10) to its 00:00 UTC; -1 unless a real date. */
int mtasts_day_parse(const char *s, size_t len, time_t *day);

/* Default spool and report directories, sendmail command. */
#define MTASTS_TLSRPT_DIR_DEFAULT "/var/spool/mtasts/tlsrpt"
#define MTASTS_REPORT_DIR_DEFAULT "/var/lib/mtasts/reports"
#define MTASTS_SENDMAIL_DEFAULT "/usr/sbin/sendmail -oi -t"
/*
 * One spool record (a JSON line) is written with one O_APPEND write; at
 * most PIPE_BUF (4096 on Linux, the POSIX minimum is 512) so concurrent
 * appends never interleave. Long fields are truncated to fit.
 */
#define MTASTS_TLSRPT_RECORD_MAX 4096
/* Default cap of one day's spool file; sessions beyond it are dropped. */
#define MTASTS_TLSRPT_DAY_MAX_DEFAULT (256ULL * 1024 * 1024)
/* receiving-mx-helo kept. */
#define MTASTS_TLSRPT_HELO_MAX 255
/* Spool record flag: the session carried a TLS-RPT report (excluded). */
#define MTASTS_TLSRPT_REC_REPORT_MAIL 0x1

/* The spool directory and the file of the UTC day containing `day`. */
const char *mtasts_tlsrpt_dir(const struct mtasts_ctx *ctx);
int mtasts_tlsrpt_spool_path(const struct mtasts_ctx *ctx, time_t day,
    char *buf, size_t size);
/* "YYYY-MM-DD" of the UTC day of t; buf of at least 11 bytes. */
void mtasts_tlsrpt_day_name(time_t t, char *buf, size_t size);
/*
 * The core's own record of a policy fetch failure (RFC 8461 §6, RFC 8460
 * result types sts-*): policy type sts, no MX. Best effort: never fails
 * the caller, and writes nothing when the spool directory does not exist
 * (it is created by the first mtasts_tlsrpt_record() of an adapter or by
 * the operator), so tests and tools never create it as a side effect.
 */
void mtasts_tlsrpt_record_fetch_failure(struct mtasts_ctx *ctx,
    const char *domain, const char *result_type, const char *reason,
    time_t when);

#endif /* MTASTS_INTERNAL_TLSRPT_H */
