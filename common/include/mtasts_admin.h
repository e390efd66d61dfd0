/* SPDX-License-Identifier: ISC */
/*
 * mtasts_admin.h - the administration API of libmtasts: what the `mtasts`
 * command (cli/) needs beyond mtasts.h to look after a host's cache,
 * reports and configuration, and to explain a domain's set-up.
 *
 * It lives beside mtasts.h (common/include/) and follows its rules: the
 * handles are opaque, every function that can fail returns an enum
 * mtasts_rc and fills the caller's struct mtasts_error, getters return
 * borrowed pointers valid until the handle is freed, _free(NULL) is a
 * no-op. The structs declared with fields here are ones the caller
 * allocates (results and counters), like struct mtasts_error.
 *
 * The rules the administration applies live behind it, once: which cache
 * entries a purge removes (mtasts_admin_purge_due, D-PURGE-1), when an
 * undelivered report is tried again or given up (RFC 8460 §5.5,
 * mtasts_admin_retry_next, D-RPT-10), and what a failed TXT discovery
 * or policy fetch means (enum mtasts_txt_kind, enum mtasts_fetch_kind), so
 * that `mtasts check` never parses the core's wording.
 */
#ifndef MTASTS_ADMIN_H
#define MTASTS_ADMIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mtasts.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Small helpers the core and its tools share.                             */

/* mtasts_strlcpy(), mtasts_mono_ms(), mtasts_parse_u64(): in mtasts.h. */
/**
 * Replace path with data[0..len) through tmp (same directory): an O_EXCL
 * temp file of mode, fsync, rename, fsync of the directory (best effort).
 * @return 0, or -1 with errno.
 */
MTASTS_API int mtasts_write_atomic(const char *path, const char *tmp,
    const char *data, size_t len, mode_t mode);
/**
 * mkdir -p path (missing parts created with mode; never follows a link
 * into place). @return 0, or -1 with errno and *why (may be NULL).
 */
MTASTS_API int mtasts_mkdir_p(const char *path, mode_t mode, const char **why);

/**
 * mtasts_mx_explain_miss - for a host no mx pattern of p matches: why,
 * when it is a wildcard-depth or exact-name mistake (RFC 8461 §4.1), in
 * out (one line). @return 1 with out set, 0 when there is no such hint.
 */
MTASTS_API int mtasts_mx_explain_miss(const struct mtasts_policy *p,
    const char *host, char *out, size_t size);

/* A result code of the admin API besides enum mtasts_rc. */
enum mtasts_admin_rc {
	/* A cache entry file exists but cannot be used (D-CACHE-6). */
	MTASTS_ADMIN_UNUSABLE = 100,
	/* The configuration cannot do this (exit 2 in the CLI). */
	MTASTS_ADMIN_CONFIG = 101
};

/* ---------------------------------------------------------------------- */
/* Configuration values, as the core uses them (defaults applied).         */

enum mtasts_admin_key {
	MTASTS_ADMIN_CACHE_DIR = 0,	/* string */
	MTASTS_ADMIN_TLSRPT_DIR,	/* string: the session spool */
	MTASTS_ADMIN_REPORT_DIR,	/* string: built reports, send state */
	MTASTS_ADMIN_REFRESH_CONCURRENCY,	/* int */
	MTASTS_ADMIN_CACHE_PURGE_AFTER,	/* int, seconds */
	MTASTS_ADMIN_FETCH_TIMEOUT_MS,	/* int */
	MTASTS_ADMIN_DNS_TIMEOUT_MS,	/* int */
	MTASTS_ADMIN_CA_FILE,		/* string, "": the system store */
	MTASTS_ADMIN_CA_PATH,		/* string, "" when unset */
	MTASTS_ADMIN_TRUST_ANCHOR_FILE,	/* string */
	MTASTS_ADMIN_SENDMAIL,		/* string: the command */
	MTASTS_ADMIN_REPORT_CONTACT,	/* string, "" when unset */
	MTASTS_ADMIN_DNSSEC		/* int: 1 on, 0 off, -1 auto */
};
/**
 * mtasts_admin_conf_str - a path-valued key. @return a string owned by
 * ctx, valid until the next change of its configuration; "" for an int key.
 */
MTASTS_API const char *mtasts_admin_conf_str(const struct mtasts_ctx *ctx,
    int key);
/** mtasts_admin_conf_int - an int-valued key; 0 for a string key. */
MTASTS_API int mtasts_admin_conf_int(const struct mtasts_ctx *ctx, int key);
/** 1 when key is left at its built-in default (not set in a file or by API). */
MTASTS_API int mtasts_admin_conf_is_default(const struct mtasts_ctx *ctx,
    int key);
/** The i-th configured resolver ("IP" or "IP@port"), NULL past the end. */
MTASTS_API const char *mtasts_admin_conf_resolver(const struct mtasts_ctx *ctx,
    size_t i);
/** The clock of ctx: mtasts_ctx_set_now()'s time, else time(NULL). */
MTASTS_API time_t mtasts_admin_now(const struct mtasts_ctx *ctx);
/**
 * What DNSSEC said of a lookup's `_mta-sts` TXT answer (D-DNSSEC-3):
 * "secure", "insecure", "bogus", "off", or NULL when no TXT query was made.
 */
MTASTS_API const char *mtasts_result_txt_dnssec(const struct mtasts_result *r);
/** Never write notes into the cache directory (a read-only checker). */
MTASTS_API void mtasts_admin_set_cache_readonly(struct mtasts_ctx *ctx);

/* ---------------------------------------------------------------------- */
/* The policy cache: list, show, remove, purge.                            */

struct mtasts_cache_item;	/* one cache entry, as read */

/**
 * mtasts_admin_cache_list - the cached domain names, sorted (strcmp).
 * *names (n of them) is released with mtasts_admin_names_free().
 */
MTASTS_API int mtasts_admin_cache_list(struct mtasts_ctx *ctx, char ***names,
    size_t *n, struct mtasts_error *err);
MTASTS_API void mtasts_admin_names_free(char **names, size_t n);
/**
 * mtasts_admin_cache_get - read the entry of a normalised domain.
 * @return MTASTS_OK (*out new), MTASTS_NOTFOUND, MTASTS_ADMIN_UNUSABLE
 * (the file exists but cannot be used; err says why), MTASTS_ERROR,
 * MTASTS_NOMEM.
 */
MTASTS_API int mtasts_admin_cache_get(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_cache_item **out,
    struct mtasts_error *err);
MTASTS_API void mtasts_cache_item_free(struct mtasts_cache_item *e);
/* Getters; strings are "" when unset, never NULL (policy may be NULL). */
MTASTS_API const char *mtasts_cache_item_domain(
    const struct mtasts_cache_item *e);
/** The cached policy, NULL for a negative entry; valid until freed. */
MTASTS_API const struct mtasts_policy *mtasts_cache_item_policy(
    const struct mtasts_cache_item *e);
MTASTS_API const char *mtasts_cache_item_id(const struct mtasts_cache_item *e);
MTASTS_API time_t mtasts_cache_item_fetched_at(
    const struct mtasts_cache_item *e);
MTASTS_API time_t mtasts_cache_item_expires_at(
    const struct mtasts_cache_item *e);
MTASTS_API time_t mtasts_cache_item_txt_checked_at(
    const struct mtasts_cache_item *e);
MTASTS_API const char *mtasts_cache_item_txt_id(
    const struct mtasts_cache_item *e);
/** The last fetch failure (§3.3 back-off state); 0 when none. */
MTASTS_API time_t mtasts_cache_item_fail_at(const struct mtasts_cache_item *e);
MTASTS_API const char *mtasts_cache_item_fail_id(
    const struct mtasts_cache_item *e);
MTASTS_API const char *mtasts_cache_item_fail_type(
    const struct mtasts_cache_item *e);
MTASTS_API const char *mtasts_cache_item_fail_reason(
    const struct mtasts_cache_item *e);

/**
 * mtasts_admin_cache_remove - remove a domain's entry (its lock file goes
 * with the next purge of stale files). MTASTS_NOTFOUND (err says so) when
 * there was no entry: nothing was removed.
 */
MTASTS_API int mtasts_admin_cache_remove(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_error *err);

/**
 * mtasts_admin_purge_due - the purge rule (D-PURGE-1): an entry goes when
 * its policy expired (a negative entry: its last TXT check was) more than
 * purge_after seconds before now. *since gets that time.
 * @return 1 remove, 0 keep.
 */
MTASTS_API int mtasts_admin_purge_due(int has_policy, time_t expires_at,
    time_t txt_checked_at, time_t now, int purge_after, time_t *since);
/**
 * mtasts_admin_cache_purge - apply the rule (cache_purge_after) to e and
 * remove its domain when due. *purged gets 1 when removed, 0 when kept.
 * @return MTASTS_OK, or the error of the removal (err says why).
 */
MTASTS_API int mtasts_admin_cache_purge(struct mtasts_ctx *ctx,
    const struct mtasts_cache_item *e, time_t now, int *purged, time_t *since,
    struct mtasts_error *err);
/**
 * mtasts_admin_cache_purge_stale - remove what dead or finished processes
 * left in the cache directory: stale temp files, unused lock files.
 */
MTASTS_API int mtasts_admin_cache_purge_stale(struct mtasts_ctx *ctx,
    size_t *ntmp, size_t *nlock, struct mtasts_error *err);

/* ---------------------------------------------------------------------- */
/* TLS-RPT aggregate reports: build, send (RFC 8460 §4, §5), retention.    */

struct mtasts_reports;	/* the reports of one day, one per policy domain */

/* What building read (caller-allocated; the core fills every field). */
struct mtasts_report_counts {
	size_t records;		/* sessions counted */
	size_t torn;		/* spool lines skipped: torn or malformed */
	size_t excluded;	/* report-mail sessions, never counted */
	size_t dropped;		/* sessions dropped when spooling (day cap) */
	size_t domains;		/* policy domains in the spool */
	size_t no_tlsrpt;	/* of which without a usable TLSRPT record */
	size_t tempfail;	/* of which the TLSRPT lookup failed for now */
	size_t duplicates;	/* repeated attempt keys, counted once */
	size_t spools;		/* spool directories read (fleet build) */
	size_t copies;		/* repeated record ids (lines shipped twice) */
};

/**
 * mtasts_admin_report_build - the reports of the UTC day containing day,
 * from this host's spool (spools NULL) or a fleet's (D-RPT-11); rua from
 * `_smtp._tls` TXT. @return MTASTS_OK (*out new), MTASTS_ADMIN_CONFIG
 * (report_contact / report_submitter unusable), or another error.
 */
MTASTS_API int mtasts_admin_report_build(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, struct mtasts_reports **out,
    struct mtasts_report_counts *st, struct mtasts_error *err);
MTASTS_API void mtasts_reports_free(struct mtasts_reports *rs);
MTASTS_API size_t mtasts_reports_count(const struct mtasts_reports *rs);
/** The report's file name (RFC 8460 §5.1, ...json); valid until freed. */
MTASTS_API const char *mtasts_reports_file_name(
    const struct mtasts_reports *rs, size_t i);
/** The report JSON (UTF-8, *len bytes, no final NUL); valid until freed. */
MTASTS_API const char *mtasts_reports_json(const struct mtasts_reports *rs,
    size_t i, size_t *len);

/*
 * RFC 8460 §5.5 (D-RPT-10): a report that could not be delivered is
 * tried again on later runs, first after MTASTS_RETRY_FIRST seconds, then
 * twice as long each time up to MTASTS_RETRY_MAX between tries, until
 * MTASTS_RETRY_WINDOW after the first attempt: then it is given up.
 */
#define MTASTS_RETRY_WINDOW 86400
#define MTASTS_RETRY_FIRST 300
#define MTASTS_RETRY_MAX (4 * 3600)
/**
 * mtasts_admin_retry_next - after failed attempt number attempts (>= 1)
 * at now, the first at first. @return 1 give up, else 0 with *next the
 * earliest time of the next attempt.
 */
MTASTS_API int mtasts_admin_retry_next(long long first, long long attempts,
    long long now, long long *next);

/* What mtasts_admin_report_send() did with one report. */
enum mtasts_send_outcome {
	MTASTS_SEND_ALREADY = 0,	/* delivered by an earlier run (done) */
	MTASTS_SEND_GAVE_UP_EARLIER,	/* given up by an earlier run */
	MTASTS_SEND_LATER,		/* not yet due (next) */
	MTASTS_SEND_SENT,		/* delivered now (done) */
	MTASTS_SEND_GAVE_UP,		/* failed, and the window is over */
	MTASTS_SEND_RETRY		/* failed; next try at next */
};
#define MTASTS_SEND_URI_MAX 512
struct mtasts_send_result {
	int outcome;			/* enum mtasts_send_outcome */
	long long next;			/* LATER, RETRY */
	char done[MTASTS_SEND_URI_MAX + 1];	/* the rua that accepted it */
	char why[MTASTS_ERROR_TEXT_MAX];	/* the delivery failure */
	/* The send state could not be written: the next run decides again. */
	int state_failed;
	int state_errno;
	char state_path[1024 + 600];
};
/**
 * mtasts_admin_report_send - deliver report i unless its send state
 * (report_dir/state/<file>.state) says it is done, given up or not yet
 * due; record the attempt. MTASTS_ERROR when the state directory cannot
 * be made (errno set), else MTASTS_OK with *res saying what happened.
 */
MTASTS_API int mtasts_admin_report_send(struct mtasts_ctx *ctx,
    const struct mtasts_reports *rs, size_t i, time_t now,
    struct mtasts_send_result *res);
/** The send state directory, report_dir/state, into buf. */
MTASTS_API int mtasts_admin_report_state_dir(const struct mtasts_ctx *ctx,
    char *buf, size_t size);
/**
 * mtasts_admin_report_states - the send states of reports of days >=
 * since (D-MET-4): st[0] sent, st[1] retrying or not yet tried, st[2]
 * given up; fn (if not NULL) gets the file name of each of the last two
 * and its state (1 or 2). 0, or -1 with errno (a missing directory: 0).
 */
MTASTS_API int mtasts_admin_report_states(struct mtasts_ctx *ctx, time_t since,
    size_t st[3], void (*fn)(void *arg, const char *name, int state),
    void *arg);
/** Mark dir (report_dir/<day>) as built from this host's spool day. */
MTASTS_API int mtasts_admin_report_mark_day(struct mtasts_ctx *ctx,
    const char *dir, struct mtasts_error *err);
/** "YYYY-MM-DD" of the UTC day of t into buf (>= 11 bytes). */
MTASTS_API void mtasts_admin_day_name(time_t t, char *buf, size_t size);

/* What retention removed and kept (caller-allocated; D-RET-1). */
struct mtasts_retention_counts {
	int days;			/* the retention used; 0: none */
	size_t spool_files, report_files, report_dirs, state_files;
	size_t other_files;		/* markers, temp files of dead stores */
	size_t kept_pending;		/* old spool days: a send is pending */
	size_t kept_unreported;		/* old spool days never built */
	char oldest_unreported[11];	/* YYYY-MM-DD of the oldest of those */
	size_t errors;			/* files that could not be removed */
};
/**
 * mtasts_admin_retention - remove what is older than
 * report_retention_days (own_spool: this host's spool days too, once
 * reported). The counts are filled either way.
 */
MTASTS_API int mtasts_admin_retention(struct mtasts_ctx *ctx, time_t now,
    int own_spool, struct mtasts_retention_counts *st,
    struct mtasts_error *err);

/* ---------------------------------------------------------------------- */
/* Today's sessions and the RFC 8460 result types (metrics, status).       */

/** The number of RFC 8460 result types (one list, tlsrpt.c). */
MTASTS_API size_t mtasts_tlsrpt_result_type_count(void);
/** The i-th RFC 8460 result type name (a static string), NULL past the end. */
MTASTS_API const char *mtasts_tlsrpt_result_type_name(size_t i);

#define MTASTS_TALLY_TYPES 11	/* = mtasts_tlsrpt_result_type_count() */
/* One policy domain's sessions of a day (a result row the core fills). */
struct mtasts_tally_row {
	char domain[MTASTS_DOMAIN_MAX + 1];
	size_t ok;				/* successful sessions */
	size_t failed;				/* failed sessions */
	size_t fail[MTASTS_TALLY_TYPES];	/* by result type index */
	size_t enforce_failed;	/* failed under an enforce STS policy */
};
/**
 * mtasts_admin_spool_tally - per policy domain session counts of this
 * host's spool of the UTC day containing day, read as the report build
 * reads it (D-MET-1), most sessions first, then by name (D-MET-3).
 * *rows (n of them, NULL when none) is released with free().
 */
MTASTS_API int mtasts_admin_spool_tally(struct mtasts_ctx *ctx, time_t day,
    struct mtasts_tally_row **rows, size_t *n, struct mtasts_report_counts *st,
    struct mtasts_error *err);
/**
 * mtasts_admin_cache_dir_check - cache_dir as the load-time check sees it
 * (D-CONF-4); strict adds the per-access checks. *exists gets 1 when the
 * directory exists. MTASTS_OK or MTASTS_ERROR (err says why).
 */
MTASTS_API int mtasts_admin_cache_dir_check(const struct mtasts_ctx *ctx,
    int strict, int must_exist, int *exists, struct mtasts_error *err);
/**
 * mtasts_admin_spool_dir_check - the spool directory as the adapters open
 * it (D-SPOOL-1). 0 usable, or -1 with errno (ENOENT: missing, which is
 * fine) and *why (static, may be NULL) for the core's own refusals.
 */
MTASTS_API int mtasts_admin_spool_dir_check(const struct mtasts_ctx *ctx,
    const char **why);

/* ---------------------------------------------------------------------- */
/* `mtasts check`: the SMTP STARTTLS probe of one MX host (probe.c).        */

/* Longest RFC 8460 result-type name, NUL included. */
#define MTASTS_RESULT_TYPE_MAX 40
/* A one-line reason. */
#define MTASTS_REASON_MAX 160
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

/* The addresses of one MX host, resolved for a probe (opaque). */
struct mtasts_probe_target;

/**
 * mtasts_admin_probe_target - resolve host's AAAA and A records (IPv6
 * first) for probes on port; uses ctx's resolver, so only from the
 * thread that owns ctx. *out (free with mtasts_admin_probe_target_free)
 * on MTASTS_OK; MTASTS_NOTFOUND (no address), MTASTS_TEMPFAIL, with err.
 */
MTASTS_API MTASTS_WUR int mtasts_admin_probe_target(struct mtasts_ctx *ctx,
    const char *host, int port, struct mtasts_probe_target **out,
    struct mtasts_error *err);
/** Release a target; NULL is a no-op. */
MTASTS_API void mtasts_admin_probe_target_free(struct mtasts_probe_target *t);
/**
 * mtasts_admin_probe_run - what a compliant RFC 8461 sender sees at the
 * target: its addresses in order until one answers SMTP, banner, EHLO,
 * STARTTLS, TLS >= 1.2 with SNI, PKIX with the host name as DNS-ID, all
 * before deadline_ms_mono (a mtasts_mono_ms() time). Reads only ctx's
 * configuration and log sink and makes its own TLS state: several
 * threads may probe with one context at once. *out is filled (printable
 * ASCII strings).
 */
MTASTS_API void mtasts_admin_probe_run(struct mtasts_ctx *ctx,
    const struct mtasts_probe_target *t, int64_t deadline_ms_mono,
    struct mtasts_probe *out);

/* ---------------------------------------------------------------------- */
/* `mtasts check --local`: the installation's health.                      */

/**
 * mtasts_config_read - parse a configuration file into ctx without
 * checking the files it names. path NULL: $MTASTS_CONFIG or
 * /etc/mtasts.conf; *missing gets 1 when that default does not exist.
 */
MTASTS_API int mtasts_config_read(struct mtasts_ctx *ctx, const char *path,
    int *missing, struct mtasts_error *err);
/**
 * mtasts_config_defaults_text - the documented defaults in mtasts.conf
 * syntax (`mtasts config --defaults`; dist/mtasts.conf is that text):
 * every key commented out at its built-in default, with its doc, in the
 * order of config.c's key table. Owned by the caller (free()), *len
 * bytes; NULL when out of memory.
 */
MTASTS_API char *mtasts_config_defaults_text(size_t *len);
/** mtasts_config_check - the load-time check of what it names (D-CONF-1..4). */
MTASTS_API int mtasts_config_check(struct mtasts_ctx *ctx,
    struct mtasts_error *err);
/** A CA bundle's strict PEM check; *ncerts blocks. 0, or -1 with why. */
MTASTS_API int mtasts_check_pem_file(const char *path, size_t *ncerts,
    char *why, size_t size);
/** A hashed CA directory; *nlinks usable names. 0, or -1 with why. */
MTASTS_API int mtasts_check_ca_dir(const char *path, size_t *nlinks, char *why,
    size_t size);
/**
 * A DNSSEC trust anchor file (DS/DNSKEY only); *nanchors records.
 * 0, or -1 with why and *errno_out the open(2) errno (else 0).
 */
MTASTS_API int mtasts_check_trust_anchor(const char *path, size_t *nanchors,
    int *errno_out, char *why, size_t size);
/**
 * mtasts_admin_ca_store_count - load the CA store the fetch uses
 * (ca_file / ca_path / the system's): *n certificates loaded eagerly;
 * dir (size dsize) the system's hashed directory when that is the store,
 * read per issuer (D-NET-7), else "". 0, or -1 with why.
 */
MTASTS_API int mtasts_admin_ca_store_count(struct mtasts_ctx *ctx, size_t *n,
    char *dir, size_t dsize, char *why, size_t size);

/* The resolver's DNSSEC state (D-DNSSEC-1..2). */
enum mtasts_admin_dnssec_state {
	MTASTS_ADMIN_DNSSEC_OFF = 0,		/* not validating */
	MTASTS_ADMIN_DNSSEC_WORKING = 1,	/* the anchor validated */
	MTASTS_ADMIN_DNSSEC_AUTO_DISABLED = 2,	/* auto: switched off */
	MTASTS_ADMIN_DNSSEC_BROKEN = 3,		/* on: lookups defer */
	MTASTS_ADMIN_DNSSEC_UNKNOWN = 4		/* no answer in time */
};
/**
 * mtasts_dns_dnssec_status - make the resolver if needed and say its
 * DNSSEC state (*state) with a one-line why. MTASTS_OK, or MTASTS_ERROR /
 * MTASTS_NOMEM when no resolver can be set up (err).
 */
MTASTS_API int mtasts_dns_dnssec_status(struct mtasts_ctx *ctx, int *state,
    char *why, size_t whysize, struct mtasts_error *err);
/** "off", "on-working", "auto-disabled", "broken", "unknown" (static). */
MTASTS_API const char *mtasts_dnssec_state_name(int state);

/* What the resolver said to ". NS". */
enum mtasts_resolver_answer {
	MTASTS_RESOLVER_ANSWERS = 0,	/* an answer, NODATA or NXDOMAIN */
	MTASTS_RESOLVER_BOGUS,		/* answers, validation failed (why) */
	MTASTS_RESOLVER_SILENT		/* no answer in time, SERVFAIL (why) */
};
/**
 * mtasts_admin_resolver_probe - ask the context's resolver ". NS" within
 * ms. MTASTS_OK with *answer (enum mtasts_resolver_answer), or the error
 * of a resolver that cannot be used (err).
 */
MTASTS_API int mtasts_admin_resolver_probe(struct mtasts_ctx *ctx, int ms,
    int *answer, char *why, size_t size, struct mtasts_error *err);
/** Release the context's resolver (no resolver thread across a fork()). */
MTASTS_API void mtasts_admin_release_resolver(struct mtasts_ctx *ctx);

/* ---------------------------------------------------------------------- */
/* `mtasts check`: structured answers of TXT discovery and policy fetch.   */

/* What `_mta-sts.<domain>` TXT discovery (RFC 8461 §3.1) found. */
enum mtasts_txt_kind {
	MTASTS_TXT_FOUND = 0,		/* one valid STS record: id */
	MTASTS_TXT_RESOLVER,		/* no query possible (local; why) */
	MTASTS_TXT_NXDOMAIN,		/* definite: the name does not exist */
	MTASTS_TXT_NODATA,		/* definite: no TXT record */
	MTASTS_TXT_BOGUS,		/* DNSSEC validation failed (why) */
	MTASTS_TXT_DNS_FAILED,		/* temporary DNS failure (why) */
	MTASTS_TXT_MALFORMED,		/* rdata malformed or oversized */
	MTASTS_TXT_NO_STS,		/* no record begins "v=STSv1;" */
	MTASTS_TXT_MULTIPLE,		/* more than one STS record */
	MTASTS_TXT_SYNTAX		/* the one STS record invalid (why) */
};
struct mtasts_txt_info;
/**
 * mtasts_admin_txt_discover - the TXT discovery of domain (normalised),
 * as the lookup does it, with the details a checker shows. @return
 * MTASTS_OK (*out new, whatever the kind) or MTASTS_NOMEM.
 */
MTASTS_API int mtasts_admin_txt_discover(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_txt_info **out,
    struct mtasts_error *err);
MTASTS_API void mtasts_txt_info_free(struct mtasts_txt_info *t);
MTASTS_API int mtasts_txt_info_kind(const struct mtasts_txt_info *t);
/** "_mta-sts.<domain>". */
MTASTS_API const char *mtasts_txt_info_qname(const struct mtasts_txt_info *t);
/** The record's id (FOUND), else "". */
MTASTS_API const char *mtasts_txt_info_id(const struct mtasts_txt_info *t);
/** The reason of RESOLVER, BOGUS, DNS_FAILED, SYNTAX; else "". */
MTASTS_API const char *mtasts_txt_info_why(const struct mtasts_txt_info *t);
/** "secure", "insecure" or "bogus"; NULL when no answer was had. */
MTASTS_API const char *mtasts_txt_info_dnssec(const struct mtasts_txt_info *t);
/** The name the answer came from when a CNAME led elsewhere, else NULL. */
MTASTS_API const char *mtasts_txt_info_cname(const struct mtasts_txt_info *t);
/** The TXT records of the answer (decoded), in DNS order. */
MTASTS_API size_t mtasts_txt_info_count(const struct mtasts_txt_info *t);
MTASTS_API const char *mtasts_txt_info_record(const struct mtasts_txt_info *t,
    size_t i, size_t *len);
/** MULTIPLE: how many STS records. */
MTASTS_API size_t mtasts_txt_info_nsts(const struct mtasts_txt_info *t);
/**
 * NO_STS: the index of a record that looks like a mistyped STS record
 * (begins "v=sts", any case), or -1.
 */
MTASTS_API long mtasts_txt_info_lookalike(const struct mtasts_txt_info *t);
/**
 * mtasts_admin_tlsrpt_discover - the same for `_smtp._tls.<domain>` (RFC
 * 8460 §3): NO_STS means no record begins "v=TLSRPTv1;", SYNTAX an
 * invalid one (why), FOUND a record with a usable rua.
 */
MTASTS_API int mtasts_admin_tlsrpt_discover(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_txt_info **out,
    struct mtasts_error *err);
/** FOUND by mtasts_admin_tlsrpt_discover: the usable rua URIs, in order. */
MTASTS_API size_t mtasts_txt_info_rua_count(const struct mtasts_txt_info *t);
MTASTS_API const char *mtasts_txt_info_rua(const struct mtasts_txt_info *t,
    size_t i);
/** FOUND: valid rua URIs with a scheme senders cannot deliver to. */
MTASTS_API size_t mtasts_txt_info_rua_unsupported(
    const struct mtasts_txt_info *t);

/* Why a policy fetch failed, for a checker's advice. */
enum mtasts_fetch_kind {
	MTASTS_FETCH_OK = 0,
	MTASTS_FETCH_CERT_EXPIRED,	/* the policy host's certificate */
	MTASTS_FETCH_CERT_NAME,		/* does not name the host */
	MTASTS_FETCH_CERT_OTHER,	/* untrusted, or another PKIX failure */
	MTASTS_FETCH_REDIRECT,		/* HTTP 3xx */
	MTASTS_FETCH_HTTP_STATUS,	/* another status than 200 */
	MTASTS_FETCH_TOO_LARGE,		/* body or response over the cap */
	MTASTS_FETCH_MEDIA_TYPE,	/* not text/plain */
	MTASTS_FETCH_OTHER		/* connection, TLS, protocol... */
};


struct mtasts_fetch_info;	/* one policy fetch, as a sender makes it */
/**
 * mtasts_admin_policy_fetch - resolve mta-sts.<domain> and fetch
 * https://mta-sts.<domain>/.well-known/mta-sts.txt as the lookup does
 * (every address, PKIX, fetch_timeout), keeping what a checker shows.
 * @return MTASTS_OK (*out new; mtasts_fetch_info_rc() says how the fetch
 * went), MTASTS_NOTFOUND (the host has no A/AAAA record), MTASTS_NOMEM,
 * or the address lookup's failure (err).
 */
MTASTS_API int mtasts_admin_policy_fetch(struct mtasts_ctx *ctx,
    const char *domain, struct mtasts_fetch_info **out,
    struct mtasts_error *err);
MTASTS_API void mtasts_fetch_info_free(struct mtasts_fetch_info *f);
/** MTASTS_OK (a body), MTASTS_TEMPFAIL, MTASTS_INVALID, ... */
MTASTS_API int mtasts_fetch_info_rc(const struct mtasts_fetch_info *f);
/** enum mtasts_fetch_kind of a failure (MTASTS_FETCH_OK on success). */
MTASTS_API int mtasts_fetch_info_kind(const struct mtasts_fetch_info *f);
/** Addresses the policy host resolved to. */
MTASTS_API size_t mtasts_fetch_info_addresses(
    const struct mtasts_fetch_info *f);
/* Details of the attempt, "" / 0 where it did not get (sanitised text). */
MTASTS_API const char *mtasts_fetch_info_addr(
    const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_tls_version(
    const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_cert_subject(
    const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_cert_san(
    const struct mtasts_fetch_info *f);
MTASTS_API time_t mtasts_fetch_info_cert_not_after(
    const struct mtasts_fetch_info *f);
MTASTS_API int mtasts_fetch_info_http_status(const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_content_type(
    const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_location(
    const struct mtasts_fetch_info *f);
/** The body (rc MTASTS_OK; NUL-terminated, *len bytes), else NULL. */
MTASTS_API const char *mtasts_fetch_info_body(
    const struct mtasts_fetch_info *f, size_t *len);
/** The RFC 8460 result type and the reason of a failure, else "". */
MTASTS_API const char *mtasts_fetch_info_result_type(
    const struct mtasts_fetch_info *f);
MTASTS_API const char *mtasts_fetch_info_reason(
    const struct mtasts_fetch_info *f);

/* ---------------------------------------------------------------------- */
/* `mtasts refresh`: many policy lookups in one process (refresh.c).       */

/*
 * What became of domain i: rc and r as mtasts_lookup() returns them (r
 * NULL unless rc is MTASTS_OK; borrowed, freed after the call), err its
 * error text.
 */
typedef void mtasts_refresh_fn(void *arg, size_t i, int rc,
    const struct mtasts_result *r, const struct mtasts_error *err);

/*
 * mtasts_lookup(ctx, domains[i], flags) for every i, with the network
 * work of up to refresh_concurrency domains in flight at once in this one
 * process (libunbound's asynchronous queries, non-blocking sockets, the
 * context's one TLS context), each under its own deadlines (dns_timeout,
 * fetch_timeout). Every lookup's decisions, cache stores and TLS-RPT
 * records are mtasts_lookup()'s own. done() is called once per domain,
 * in the order of domains[], from this thread. Returns MTASTS_OK, or
 * MTASTS_NOMEM / MTASTS_ERROR (err set) when it could not run at all
 * (done() was then called for no domain), or MTASTS_ERROR (err set)
 * after done() was called for every domain when the run's cache stores
 * could not be made durable (decisions.md D-CACHE-9: the final sync
 * failed; every entry is whole, old or new).
 */
MTASTS_API int mtasts_refresh_run(struct mtasts_ctx *ctx,
    const char *const *domains, size_t n, unsigned flags,
    mtasts_refresh_fn *done, void *arg, struct mtasts_error *err);

#ifdef __cplusplus
}
#endif

#endif /* MTASTS_ADMIN_H */
