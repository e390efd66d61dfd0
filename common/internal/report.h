/* SPDX-License-Identifier: ISC */
/*
 * internal/report.h - RFC 8460 aggregate reports (report_*.c) and the tally.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_REPORT_H
#define MTASTS_INTERNAL_REPORT_H

#include "internal/base.h"
#include "internal/tlsrpt_txt.h"

/* How long sendmail and an HTTPS POST may take. */
#define MTASTS_REPORT_SEND_TIMEOUT_MS 60000

/* struct mtasts_report_counts (build and tally counts): mtasts_admin.h. */

struct mtasts_report {
	char domain[MTASTS_DOMAIN_MAX + 1];		/* policy domain */
	char submitter[MTASTS_DOMAIN_MAX + 1];
	char report_id[3 * MTASTS_DOMAIN_MAX + 16];
	char file_name[3 * MTASTS_DOMAIN_MAX + 64];	/* ...json */
	time_t begin, end;
	char *json;			/* the report (UTF-8), owned */
	size_t json_len;
	struct mtasts_tlsrpt_txt rua;	/* where it goes */
};

/* Where a domain's reports go: MTASTS_OK, NOTFOUND, INVALID, TEMPFAIL. */
typedef int mtasts_report_rua_fn(void *arg, struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_tlsrpt_txt *out,
    struct mtasts_error *err);
/*
 * report_send.c, the real one: `_smtp._tls.<domain>` TXT through the
 * context resolver.
 */
int mtasts_report_rua_dns(void *arg, struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_tlsrpt_txt *out,
    struct mtasts_error *err);
/*
 * The submitter domain (= domain of report_contact, §5.3); MTASTS_ERROR
 * when report_contact is unset or report_submitter disagrees with it.
 */
int mtasts_report_identity(const struct mtasts_ctx *ctx, char *submitter,
    size_t size, struct mtasts_error *err);
/*
 * Aggregate the spool of the UTC day containing `day` into one report per
 * policy domain that fn says has a usable TLSRPT record, sorted by domain.
 * *out (n entries) is released with mtasts_report_free().
 */
int mtasts_report_build(struct mtasts_ctx *ctx, time_t day,
    mtasts_report_rua_fn *fn, void *arg, struct mtasts_report **out,
    size_t *n, struct mtasts_report_counts *st, struct mtasts_error *err);
/*
 * The same over the given spool directories (one per host, D-RPT-11):
 * the counts are summed into one report per policy domain, whose
 * report-id carries no host. spools NULL: this host's tlsrpt_dir.
 */
int mtasts_report_build_spools(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, mtasts_report_rua_fn *fn,
    void *arg, struct mtasts_report **out, size_t *n,
    struct mtasts_report_counts *st, struct mtasts_error *err);
/* This host's report id: report_host_id, else the host name (D-RPT-11). */
int mtasts_report_host_id(const struct mtasts_ctx *ctx, char *buf,
    size_t size);
void mtasts_report_free(struct mtasts_report *r, size_t n);

/*
 * Per policy domain session counts of one UTC day of the spool, read as
 * the report build reads it (same validation, report mail excluded,
 * attempt keys counted once): `mtasts metrics` and `mtasts status`
 * (decisions.md D-MET-1). Result types in the order of
 * mtasts_tlsrpt_result_type_name().
 */
#define MTASTS_TLSRPT_RESULT_TYPES MTASTS_TLSRPT_TYPES
struct mtasts_tally_domain {
	char domain[MTASTS_DOMAIN_MAX + 1];
	size_t ok;				/* successful sessions */
	size_t failed;				/* failed sessions */
	size_t fail[MTASTS_TLSRPT_RESULT_TYPES];	/* by result type */
	size_t enforce_failed;	/* failed under an enforce STS policy */
};
struct mtasts_tally {
	struct mtasts_tally_domain *v;		/* in spool order */
	size_t n, cap;
};
/* spools NULL: this host's tlsrpt_dir; else those directories. */
int mtasts_spool_tally(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, struct mtasts_tally *t,
    struct mtasts_report_counts *st, struct mtasts_error *err);
void mtasts_tally_free(struct mtasts_tally *t);
/*
 * tlsrpt.c: the RFC 8460 result types (one list, indexed by the public
 * enum mtasts_tlsrpt_type): index-based views for the report and the CLI.
 */
/* mtasts_tlsrpt_result_type_count(): public, in mtasts_admin.h. */
/* The i-th RFC 8460 result type name, NULL past the end. */
/* mtasts_tlsrpt_result_type_name(): public, in mtasts_admin.h. */
/* Its index, or -1 for a string that is not one. */
int mtasts_tlsrpt_result_type_index(const char *s);
/* report_mail.c: gzip (RFC 1952) of in; *out malloc'd. */
int mtasts_report_gzip(const char *in, size_t len, char **out,
    size_t *outlen);
/* The §5.3 multipart/report message for one mailto: recipient. */
int mtasts_report_mail(const struct mtasts_ctx *ctx,
    const struct mtasts_report *r, const char *rcpt, const char *gz,
    size_t gzlen, time_t now, char **out, size_t *outlen,
    struct mtasts_error *err);
/* Pipe a message to the sendmail command (no shell); exit 0 = accepted. */
int mtasts_report_sendmail(struct mtasts_ctx *ctx, const char *msg,
    size_t len, struct mtasts_error *err);
/*
 * report_send.c: POST a gzip'd report to an https: rua; any 2xx =
 * accepted (§5.4).
 */
int mtasts_report_post(struct mtasts_ctx *ctx, const char *uri,
    const char *body, size_t len, struct mtasts_error *err);
/*
 * Deliver r to its rua in order until one accepts (§3): MTASTS_OK with
 * done_uri set, else MTASTS_TEMPFAIL (err: the last failure).
 */
int mtasts_report_deliver(struct mtasts_ctx *ctx,
    const struct mtasts_report *r, time_t now, char *done_uri, size_t size,
    struct mtasts_error *err);

#endif /* MTASTS_INTERNAL_REPORT_H */
