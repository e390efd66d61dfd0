/* SPDX-License-Identifier: ISC */
/*
 * mtasts_internal.h - private declarations shared by the files of common/.
 *
 * Never installed. Grouped by the file that defines them. All size caps
 * live here as named constants (house style rule 8).
 */
#ifndef MTASTS_INTERNAL_H
#define MTASTS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "mtasts.h"

#if defined(__GNUC__)
#define MTASTS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTASTS_PRINTF(f, a)
#endif

/* ---- caps (see docs/decisions.md for the reasoning behind each) ---- */

/* RFC 8461 §3.3 suggests 64 kilobytes; we read it as 64 KiB, inclusive. */
#define MTASTS_POLICY_BODY_MAX 65536
/* One policy line, terminator excluded. */
#define MTASTS_POLICY_LINE_MAX 1024
/* mx lines in one policy. */
#define MTASTS_POLICY_MX_MAX 256
/* All lines in one policy. */
#define MTASTS_POLICY_LINES_MAX 4096
/* RFC 8461 §3.2 prose: max_age at most 31557600 seconds. */
#define MTASTS_MAX_AGE_MAX 31557600U
/* One concatenated TXT record. */
#define MTASTS_TXT_MAX 4096
/* TXT records considered in one RRset. */
#define MTASTS_TXT_RECORDS_MAX 64
/* DNS label and name lengths (RFC 1035). */
#define MTASTS_LABEL_MAX 63
/* Raw input to domain normalisation (U-labels may be long in UTF-8). */
#define MTASTS_DOMAIN_INPUT_MAX 1024
/* HTTP response head (status line + headers). */
#define MTASTS_HTTP_HEAD_MAX 16384
/* Raw response bytes read for one fetch (head + framed body). */
#define MTASTS_HTTP_RAW_MAX (MTASTS_HTTP_HEAD_MAX + 4 * MTASTS_POLICY_BODY_MAX)
/* Addresses tried for one policy host. */
#define MTASTS_ADDRS_MAX 16
/* Cache file size (raw policy + metadata, JSON-escaped). */
#define MTASTS_CACHE_FILE_MAX (8 * MTASTS_POLICY_BODY_MAX)
/* RFC 8461 §3.3: no new fetch for the same id within five minutes. */
#define MTASTS_FETCH_BACKOFF 300
/* Longest RFC 8460 result-type name, NUL included. */
#define MTASTS_RESULT_TYPE_MAX 40
#define MTASTS_REASON_MAX 160

/* ---- RFC 8460 result types (checklist item 112) ---- */
#define MTASTS_RT_STARTTLS_NOT_SUPPORTED "starttls-not-supported"
#define MTASTS_RT_CERT_HOST_MISMATCH "certificate-host-mismatch"
#define MTASTS_RT_CERT_EXPIRED "certificate-expired"
#define MTASTS_RT_CERT_NOT_TRUSTED "certificate-not-trusted"
#define MTASTS_RT_VALIDATION_FAILURE "validation-failure"
#define MTASTS_RT_STS_FETCH_ERROR "sts-policy-fetch-error"
#define MTASTS_RT_STS_INVALID "sts-policy-invalid"
#define MTASTS_RT_STS_WEBPKI_INVALID "sts-webpki-invalid"
#define MTASTS_RT_DNSSEC_INVALID "dnssec-invalid"
#define MTASTS_RT_TLSA_INVALID "tlsa-invalid"
#define MTASTS_RT_DANE_REQUIRED "dane-required"

/* ---- context (ctx.c, config.c) ---- */

#define MTASTS_RESOLVERS_MAX 8
#define MTASTS_PATH_MAX 1024

enum mtasts_dns_failure_policy {
	MTASTS_DNSFAIL_NONE = 0,	/* proceed as if no policy (default) */
	MTASTS_DNSFAIL_TEMPFAIL = 1	/* defer */
};

struct mtasts_config {
	char resolvers[MTASTS_RESOLVERS_MAX][64];	/* "IP" or "IP@port" */
	size_t nresolvers;
	int dnssec;				/* 1: validate */
	char trust_anchor_file[MTASTS_PATH_MAX];
	char ca_file[MTASTS_PATH_MAX];		/* "" = system store */
	char ca_path[MTASTS_PATH_MAX];
	char cache_dir[MTASTS_PATH_MAX];
	int fetch_timeout_ms;			/* whole fetch deadline */
	int dns_timeout_ms;			/* one DNS query */
	int txt_check_interval;			/* seconds */
	int dns_failure;			/* enum mtasts_dns_failure_policy */
	int lock_wait_ms;			/* wait for another fetcher */
	/* special-use zones to resolve normally (decisions.md D-DNS-2) */
	char special_zones[8][64];
	size_t nspecial_zones;
	int refresh_concurrency;
	int cache_purge_after;			/* drop entries expired this long */
	char user_agent[64];
	/* TLS-RPT (tlsrpt.c, report.c); "" / 0 means the built-in default */
	char tlsrpt_dir[MTASTS_PATH_MAX];	/* the session spool */
	char report_dir[MTASTS_PATH_MAX];	/* built reports, send state */
	uint64_t tlsrpt_day_max;		/* spool bytes per UTC day */
	char report_org_name[128];		/* organization-name */
	char report_contact[256];		/* contact-info, an addr-spec */
	char report_submitter[MTASTS_DOMAIN_MAX + 1];	/* a domain */
	char report_from[256];			/* From: of report mail */
	char report_host_id[MTASTS_DOMAIN_MAX + 1];	/* D-RPT-11 */
	char sendmail[MTASTS_PATH_MAX];		/* command, split on WSP */
	int report_reason;			/* 0: on (default), -1: omit */
	int cache_memo;				/* 0: on (default), -1: off */
	int report_retention_days;		/* D-RET-1; 0: keep all */
};

struct mtasts_dns;	/* dns.c */

/*
 * The keys of mtasts.conf(5), indexed for the per-key bookkeeping of
 * config.c (the line a key was set on, duplicates). Order = config.c's
 * table.
 */
enum mtasts_conf_key {
	MTASTS_CK_RESOLVER = 0,
	MTASTS_CK_DNSSEC,
	MTASTS_CK_TRUST_ANCHOR_FILE,
	MTASTS_CK_CA_FILE,
	MTASTS_CK_CA_PATH,
	MTASTS_CK_CACHE_DIR,
	MTASTS_CK_FETCH_TIMEOUT,
	MTASTS_CK_DNS_TIMEOUT,
	MTASTS_CK_LOCK_WAIT,
	MTASTS_CK_TXT_CHECK_INTERVAL,
	MTASTS_CK_CACHE_PURGE_AFTER,
	MTASTS_CK_REFRESH_CONCURRENCY,
	MTASTS_CK_DNS_FAILURE,
	MTASTS_CK_RESOLVE_SPECIAL_ZONE,
	MTASTS_CK_TLSRPT_DIR,
	MTASTS_CK_REPORT_DIR,
	MTASTS_CK_SENDMAIL,
	MTASTS_CK_REPORT_ORG_NAME,
	MTASTS_CK_REPORT_CONTACT,
	MTASTS_CK_REPORT_FROM,
	MTASTS_CK_REPORT_SUBMITTER,
	MTASTS_CK_REPORT_FAILURE_REASON,
	MTASTS_CK_CACHE_MEMO,
	MTASTS_CK_TLSRPT_MAX_DAY_SIZE,
	MTASTS_CK_REPORT_HOST_ID,
	MTASTS_CK_REPORT_RETENTION_DAYS,
	MTASTS_CK_COUNT
};
/* conf_line[] values besides a line number (>= 1) of last_config_file. */
#define MTASTS_CONF_DEFAULT 0		/* never set: the built-in default */
#define MTASTS_CONF_API (-1)		/* set through mtasts_ctx_set() */

/* cachegen.c: the shared generation counter (D-MEMO-4) */
struct mtasts_cache_gen {
	void *base;			/* the mapping, for munmap */
	const uint64_t *map;		/* base: read-only, shared, or NULL */
	int state;			/* 0 not tried, 1 mapped, -1 unusable */
	int64_t checked_ns;		/* last identity check / failed try */
	dev_t dev;
	ino_t ino;
};

struct mtasts_ctx {
	struct mtasts_config cfg;
	int finalized;			/* set at first lookup */
	pid_t pid;			/* creator; see fork handling */
	time_t now_override;
	mtasts_log_fn *log_fn;
	void *log_arg;
	struct mtasts_dns *dns;		/* lazily created */
	void *ssl_ctx;			/* SSL_CTX *, lazily created (fetch.c) */
	char last_config_file[MTASTS_PATH_MAX];
	struct mtasts_cache_memo *cache_memo;	/* cache.c, lazily made */
	struct mtasts_cache_gen cache_gen;	/* cachegen.c, lazily mapped */
	const struct mtasts_netops *net;	/* netops.c/netload.c, lazily */
	/*
	 * No TLS-RPT spool writes (succeed without writing): the adapter
	 * says no real delivery happens in this call, e.g. `exim -bt`
	 * (D-EXIM-10). Set by plugin/, never from the configuration.
	 */
	int tlsrpt_dry;
	/* Never write notes into cache_dir (`mtasts check`, read-only). */
	int cache_readonly;
	/* config.c: where each key was set (MTASTS_CONF_* or a line) */
	int conf_line[MTASTS_CK_COUNT];
	int conf_checked;		/* mtasts_config_check() passed */
	/* refresh.c: the network answers the running lookup replays */
	struct mtasts_refresh_item *replay;
};

/* ctx.c */
time_t mtasts_now(const struct mtasts_ctx *ctx);
void mtasts_log(const struct mtasts_ctx *ctx, int level, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);
void mtasts_config_defaults(struct mtasts_config *cfg);

/* ---- config.c, config_check.c: loading and checking mtasts.conf ---- */

/* The name of a key (enum mtasts_conf_key); a static string. */
const char *mtasts_conf_key_name(int key);
/*
 * Parse a configuration file into ctx without checking the files it
 * names (mtasts_ctx_load_config() = this + mtasts_config_check()). path
 * NULL: $MTASTS_CONFIG or /etc/mtasts.conf. *missing is set to 1 when the
 * default file does not exist (not an error), else 0.
 */
int mtasts_config_read(struct mtasts_ctx *ctx, const char *path,
    int *missing, struct mtasts_error *err);
/*
 * The parser of mtasts_config_read(): the file's bytes buf[0..len), need
 * not be NUL-terminated; errors say "<name>:<line>: ...". No file is
 * opened (fuzz/fuzz_config.c).
 */
int mtasts_config_parse(struct mtasts_ctx *ctx, const char *name,
    const char *buf, size_t len, struct mtasts_error *err);
/*
 * The load-time check (decisions.md D-CONF-1..4): every file and
 * directory the deciding path needs exists and is usable. MTASTS_OK, or
 * MTASTS_ERROR with err "<file>:<line>: <key>: <reason>" (or "<key>: ..."
 * for keys set through the API or left at their default). Sets
 * ctx->conf_checked on success.
 */
int mtasts_config_check(struct mtasts_ctx *ctx, struct mtasts_error *err);
/*
 * First use of a context (mtasts_lookup): run mtasts_config_check() unless
 * it already passed since the last change, then freeze the configuration.
 * The error is prefixed "configuration: ".
 */
int mtasts_ctx_finalize(struct mtasts_ctx *ctx, struct mtasts_error *err);
/*
 * "<file>:<line>: " for a key set in a file, "" otherwise, into buf.
 */
void mtasts_conf_where(const struct mtasts_ctx *ctx, int key, char *buf,
    size_t size);

/* The checks themselves, also used by `mtasts check --local`. */
#define MTASTS_CA_FILE_MAX (16 * 1024 * 1024)	/* bytes of a CA bundle */
#define MTASTS_TA_FILE_MAX (1024 * 1024)	/* bytes of a trust anchor */
/*
 * A strict textual PEM check of a CA bundle (no OpenSSL: the light half
 * runs it): every BEGIN CERTIFICATE / TRUSTED CERTIFICATE block has an END
 * and only base64 between; at least one block. *ncerts gets the count.
 * 0, or -1 with why set.
 */
int mtasts_check_pem_file(const char *path, size_t *ncerts, char *why,
    size_t size);
/*
 * A CA directory as OpenSSL's by-hash lookup uses it: at least one entry
 * named <8 hex digits>.<n> that is a readable PEM certificate file.
 * *nlinks gets the number of such names. 0, or -1 with why set.
 */
int mtasts_check_ca_dir(const char *path, size_t *nlinks, char *why,
    size_t size);
/*
 * A DNSSEC trust anchor file in zone-file syntax (what libunbound's
 * ub_ctx_add_ta_file reads): only DS and DNSKEY records, comments and
 * blank lines; at least one record. *nanchors gets the count. 0, -1 with
 * why set; errno_out gets the open(2) errno when the file could not be
 * opened (ENOENT: missing), else 0.
 */
int mtasts_check_trust_anchor(const char *path, size_t *nanchors,
    int *errno_out, char *why, size_t size);

/* ---- util.c ---- */

/* Set err (if non-NULL and not already set): the first error wins. */
void mtasts_err_set(struct mtasts_error *err, int code, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);
/* Returns code after setting err; for `return mtasts_err(...)`. */
int mtasts_err(struct mtasts_error *err, int code, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);

/*
 * Range-checked decimal parse of s[0..len): digits only, no sign, no
 * spaces. Returns 0 and *out on success, -1 on any violation or overflow
 * beyond max.
 */
int mtasts_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Bounded copy, always NUL-terminates when size > 0; returns strlen(src). */
size_t mtasts_strlcpy(char *dst, const char *src, size_t size);

/* Case-insensitive ASCII compare of two (ptr, len) strings: 1 if equal. */
int mtasts_ascii_caseeq(const char *a, size_t alen, const char *b,
    size_t blen);

/* Milliseconds on a monotonic clock, for deadlines. */
int64_t mtasts_mono_ms(void);
/* CLOCK_MONOTONIC_COARSE in ns (vDSO). */
int64_t mtasts_mono_coarse_ns(void);
/* Printable ASCII copy of in ('?' for the rest), NUL-terminated. */
void mtasts_sanitize(const char *in, char *out, size_t size);

/*
 * D-FILE-1, the one way to open a file in a shared directory: openat(dfd,
 * name) with O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC added to flags
 * (O_RDONLY/O_WRONLY/O_RDWR, O_APPEND, O_CREAT; never O_TRUNC), refusing
 * anything but a regular file with one link. O_CREAT tries O_EXCL first;
 * mode is set with fchmod on a file this call created, and with
 * MTASTS_OPEN_FIXMODE in flags also on an existing file we own. Returns
 * the descriptor, or -1 with errno and *why (if why != NULL) a reason for
 * our own refusals.
 */
#define MTASTS_OPEN_FIXMODE 0x40000000
int mtasts_open_file(int dfd, const char *name, int flags, mode_t mode,
    const char **why);
/*
 * Open a directory (O_DIRECTORY, fstat S_ISDIR), refusing a world-writable
 * one. create: MTASTS_DIR_EXISTING, MTASTS_DIR_CREATE (the last
 * component), MTASTS_DIR_CREATE_PARENTS (mkdir -p). What is created is made
 * 0700 and fchmod'ed to mode through an O_NOFOLLOW descriptor. Returns the
 * descriptor or -1 with errno (ENOENT when missing) and *why.
 */
#define MTASTS_DIR_EXISTING 0
#define MTASTS_DIR_CREATE 1
#define MTASTS_DIR_CREATE_PARENTS 2
int mtasts_dir_open(const char *path, mode_t mode, int create,
    const char **why);

/* ABNF character classes shared by the record parsers (RFC 5234 WSP). */
static inline int
mtasts_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static inline int
mtasts_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* ---- fd.c: close-on-exec for descriptors others open for us (D-FD-1) ---- */

/* Descriptor numbers a snapshot records exactly; above, only "any?". */
#define MTASTS_FD_SNAP_MAX 4096

struct mtasts_fdsnap {
	unsigned char bits[MTASTS_FD_SNAP_MAX / 8];
	int high;	/* a descriptor >= the bound existed (or unknown) */
};

/* Record the descriptors open now (before a call into libunbound). */
void mtasts_fd_snapshot(struct mtasts_fdsnap *s);

/*
 * Set FD_CLOEXEC on every socket and FIFO opened since the snapshot s
 * (regular files and the snapshot's descriptors are never touched).
 * Returns how many were marked.
 */
unsigned mtasts_fd_cloexec_new(const struct mtasts_fdsnap *s);

/* ---- ehlo.c: EHLO response keywords (RFC 5321 §4.1.1.1, D-EHLO-1) ---- */

/*
 * The keyword of one EHLO response line line[0..len) ("250-KW params" or
 * "250 KW", with or without its CRLF/LF): *kw borrows into line. Returns
 * 0, or -1 for a line that is not a 250 line with a keyword or holds a
 * NUL, CR or LF inside.
 */
int mtasts_ehlo_line_keyword(const char *line, size_t len, const char **kw,
    size_t *kwlen);

/*
 * Does the EHLO response resp[0..len) (lines ending in CRLF or LF, the
 * first one the greeting) offer keyword kw, compared case-insensitively
 * with whole first tokens? Returns 1 yes, 0 no, -1 malformed (a NUL, a
 * non-250 line): callers treat -1 as "not offered".
 */
int mtasts_ehlo_offers(const char *resp, size_t len, const char *kw);

/* ---- domain.c ---- */

/*
 * Validate an LDH host name of (ptr, len), no trailing dot, lower or upper
 * case: labels 1..63 of [A-Za-z0-9-], not starting or ending with '-',
 * total <= 253, one or more labels. Returns 1 if valid.
 */
int mtasts_hostname_valid(const char *s, size_t len);

/*
 * 1 if the last label of s[0..len) is all digits: "1.2.3.4" is an address
 * written as a name, and no top-level domain is numeric (RFC 3696 §2).
 */
int mtasts_numeric_tld(const char *s, size_t len);

/* ---- dns.c ---- */

enum mtasts_dns_status {
	MTASTS_DNS_ANSWER = 0,		/* records in the answer */
	MTASTS_DNS_NXDOMAIN = 1,	/* definite: name does not exist */
	MTASTS_DNS_NODATA = 2,		/* definite: no record of the type */
	MTASTS_DNS_TEMPFAIL = 3,	/* SERVFAIL, timeout, refused, ... */
	MTASTS_DNS_BOGUS = 4		/* DNSSEC validation failed */
};

#define MTASTS_DNS_RR_MAX 64

struct mtasts_dns_answer {
	int status;			/* enum mtasts_dns_status */
	int secure;			/* DNSSEC secure (validated) */
	int rcode;			/* DNS rcode */
	char canonname[MTASTS_DOMAIN_MAX + 2];	/* after CNAMEs, or "" */
	char why[MTASTS_REASON_MAX];	/* reason on TEMPFAIL/BOGUS */
	size_t nrr;
	unsigned char *rdata[MTASTS_DNS_RR_MAX];	/* owned copies */
	size_t rdlen[MTASTS_DNS_RR_MAX];
	int truncated;			/* RRset had > MTASTS_DNS_RR_MAX RRs */
	/*
	 * The resolver validated (DNSSEC on and its chain of trust works).
	 * 0: the answer is unvalidated whatever secure says.
	 */
	int validating;
	/*
	 * status BOGUS only: what the unauthenticated bytes say (ANSWER with
	 * rdata/nrr filled, NXDOMAIN, NODATA or TEMPFAIL). libunbound 1.17
	 * keeps a bogus answer's records in ub_result (decisions.md
	 * D-DNSSEC-3); callers that may use unauthenticated data (the TXT id,
	 * the policy host's addresses: PKIX authenticates what follows) read
	 * it, the others treat BOGUS as a temporary failure.
	 */
	int bogus_status;
};

/*
 * Resolve (qname, rrtype) within deadline_ms through the context's
 * resolver (created on first call). *out is a new answer on MTASTS_OK (any
 * status, including TEMPFAIL, is reported inside the answer); NULL
 * otherwise. Returns MTASTS_OK, MTASTS_NOMEM or MTASTS_ERROR (resolver
 * could not be set up, or dnssec = on and the resolver path cannot
 * validate the trust anchor (D-DNSSEC-2): err says why; the caller
 * defers, never "no record").
 */
int mtasts_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err);
void mtasts_dns_answer_free(struct mtasts_dns_answer *a);

/*
 * DNSSEC state of the context's resolver (decisions.md D-DNSSEC-1..2).
 * The chain of trust is checked once per process when the resolver is
 * made: a DNSKEY query for each trust anchor owner name under the
 * validating resolver must come back secure.
 */
enum mtasts_dnssec_state {
	MTASTS_DNSSEC_OFF = 0,		/* dnssec = off, or auto without anchor */
	MTASTS_DNSSEC_WORKING = 1,	/* validating; the anchor validated */
	/* auto: the resolver path cannot validate; validation off (warned) */
	MTASTS_DNSSEC_AUTO_DISABLED = 2,
	/* on: the resolver path cannot validate; DNS lookups fail (defer) */
	MTASTS_DNSSEC_BROKEN = 3,
	/* validating, the check had no answer yet (timeout): retried */
	MTASTS_DNSSEC_UNKNOWN = 4
};
/* Seconds before a BROKEN verdict (dnssec = on) is checked again. */
#define MTASTS_DNSSEC_REPROBE_S 60

/*
 * cache.c: 1 when the host-wide note `name` in cache_dir is older than
 * interval seconds (or missing), and renews it; 0 otherwise. For warnings
 * every process would repeat (D-DNSSEC-1).
 */
ssize_t mtasts_cache_note_read(struct mtasts_ctx *ctx, const char *name,
    char *buf, size_t size, time_t *mtime);
int mtasts_cache_note_write(struct mtasts_ctx *ctx, const char *name,
    const char *data, size_t len);
int mtasts_cache_note_due(struct mtasts_ctx *ctx, const char *name,
    int interval);

/*
 * For `mtasts check --local`: make the resolver if needed (running the
 * chain-of-trust check, at most one DNSKEY query per anchor owner name,
 * within dns_timeout) and report its DNSSEC state in *state (enum
 * mtasts_dnssec_state) with a one-line explanation in why (what was
 * found and how to fix it). Returns MTASTS_OK (BROKEN included: that is
 * a state, not a failure of this call), or MTASTS_ERROR / MTASTS_NOMEM
 * when the resolver cannot be set up at all (err says why).
 */
int mtasts_dns_dnssec_status(struct mtasts_ctx *ctx, int *state, char *why,
    size_t whysize, struct mtasts_error *err);
const char *mtasts_dnssec_state_name(int state);

/* Release the resolver (fork-aware: never frees a parent's worker). */
void mtasts_dns_free(struct mtasts_ctx *ctx);

/*
 * Decode the TXT RRs of an answer: each RR's character-strings
 * concatenated (RFC 8461 §3.1). recs[i] are NUL-terminated malloc'd copies
 * (a record containing NUL is kept with its length so parsers can reject
 * it). Returns MTASTS_OK, MTASTS_INVALID (malformed rdata), MTASTS_NOMEM.
 */
int mtasts_dns_txt_decode(const struct mtasts_dns_answer *a, char ***recs,
    size_t **lens, size_t *n);
void mtasts_dns_txt_free(char **recs, size_t *lens, size_t n);

/*
 * Resolve the A and AAAA records of host within deadline_ms; addrs gets up
 * to max addresses with port set. IPv6 first, then IPv4.
 * Returns MTASTS_OK (n >= 1), MTASTS_NOTFOUND (no address), MTASTS_TEMPFAIL.
 */
int mtasts_dns_addrs(struct mtasts_ctx *ctx, const char *host, int port,
    int deadline_ms, struct sockaddr_storage *addrs, size_t max, size_t *n,
    struct mtasts_error *err);
/*
 * The resolver with many queries in flight, for one event loop
 * (refresh.c): the same context, chain-of-trust check, answers and
 * timeouts as mtasts_dns_query() and mtasts_dns_addrs(). open makes the
 * resolver (checking the chain of trust when due) and gives the
 * descriptor to poll for POLLIN; MTASTS_ERROR when it cannot be set up or
 * is BROKEN (D-DNSSEC-2). submit never blocks (NULL: out of memory, no
 * resolver, or libunbound refused it); process runs the callbacks
 * (ub_process) after POLLIN; a query's answer is made once it is done or
 * its deadline has passed (then "DNS timeout after <deadline_ms> ms");
 * free cancels what is still pending. D-FD-1 is the caller's: submit and
 * process make no descriptor snapshot (refresh.c takes one around the
 * whole run; a snapshot costs a /proc/self/fd walk). async_addrs turns an AAAA and an A query of host into
 * addresses as mtasts_dns_addrs() does (the queries are freed by the
 * caller).
 */
struct mtasts_dns_q;
int mtasts_dns_async_open(struct mtasts_ctx *ctx, int *fd,
    struct mtasts_error *err);
struct mtasts_dns_q *mtasts_dns_async_submit(struct mtasts_ctx *ctx,
    const char *qname, int rrtype);
int mtasts_dns_async_process(struct mtasts_ctx *ctx);
int mtasts_dns_async_done(const struct mtasts_dns_q *q);
int mtasts_dns_async_answer(struct mtasts_ctx *ctx, struct mtasts_dns_q *q,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err);
int mtasts_dns_async_addrs(struct mtasts_ctx *ctx, const char *host, int port,
    struct mtasts_dns_q *q6, struct mtasts_dns_q *q4, int deadline_ms,
    struct sockaddr_storage *addrs, size_t max, size_t *n,
    struct mtasts_error *err);
void mtasts_dns_async_free(struct mtasts_ctx *ctx, struct mtasts_dns_q *q);

struct mtasts_dns_mx {
	unsigned pref;
	char name[MTASTS_DOMAIN_MAX + 1];	/* lower case, no final dot */
};

/*
 * MX targets of domain sorted by preference (equal preferences keep DNS
 * order), *out malloc'd (release with free()). Returns MTASTS_OK with
 * *n >= 1; MTASTS_OK with *n == 0 and *out == NULL for an RFC 7505 null
 * MX (the domain accepts no mail); MTASTS_NOTFOUND when there is no MX
 * RRset (NXDOMAIN/NODATA: RFC 5321 §5.1 implicit MX applies);
 * MTASTS_INVALID when MX records exist but none is a usable host name;
 * MTASTS_TEMPFAIL; MTASTS_NOMEM.
 */
int mtasts_dns_mx(struct mtasts_ctx *ctx, const char *domain, int deadline_ms,
    struct mtasts_dns_mx **out, size_t *n, struct mtasts_error *err);

/* ---- fetch.c ---- */

struct mtasts_fetch {
	/*
	 * MTASTS_OK, MTASTS_TEMPFAIL, MTASTS_INVALID; MTASTS_NOMEM when the
	 * fetch ran out of memory locally (never the domain's fault: the
	 * lookup neither records nor reports it, decisions.md D-OOM-1);
	 * MTASTS_ERROR for a local fault (the CA store cannot be loaded): a
	 * configuration error, never the domain's (decisions.md D-CONF-5).
	 */
	int rc;
	char result_type[MTASTS_RESULT_TYPE_MAX];	/* RFC 8460, on error */
	char reason[MTASTS_REASON_MAX];
	int http_status;
	char *body;		/* malloc'd, NUL-terminated, on OK */
	size_t body_len;
	/*
	 * Details of the reported attempt, for `mtasts check`: filled as
	 * far as it got ("" / 0 when it did not get there).
	 */
	char addr[64];			/* "ip:port" */
	char tls_version[16];		/* "TLSv1.3" */
	char cert_subject[256];		/* leaf, RFC 2253, sanitised */
	char cert_san[256];		/* leaf DNS SANs, comma-separated */
	time_t cert_not_after;		/* leaf notAfter, 0 unknown */
	char content_type[128];		/* as served, sanitised */
	char location[256];		/* Location header, sanitised */
};

/*
 * Fetch https://mta-sts.<domain>/.well-known/mta-sts.txt under one overall
 * deadline (cfg.fetch_timeout_ms): every address of the policy host, SNI
 * and PKIX + host-name verification, HTTP/1.1, status 200 only, text/plain
 * only, body <= MTASTS_POLICY_BODY_MAX. On failure rc/result_type/reason
 * say why: sts-webpki-invalid for certificate trouble, sts-policy-invalid
 * for a bad media type or oversize body, sts-policy-fetch-error for the
 * rest. The body is not parsed here. Release with mtasts_fetch_clear().
 */
void mtasts_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res);
void mtasts_fetch_clear(struct mtasts_fetch *res);
/*
 * The two steps of mtasts_fetch_policy() before mtasts_fetch_from(), for
 * refresh.c's asynchronous fetches: the policy host of domain (-1: res
 * failed), and the outcome of its address look-up (rc, n addresses, err
 * as mtasts_dns_addrs() gives them; 0 go on, -1 res failed).
 */
int mtasts_fetch_host(const char *domain, char *host, size_t size,
    struct mtasts_fetch *res);
int mtasts_fetch_addrs_judge(const char *host, int rc, size_t n,
    const struct mtasts_error *err, struct mtasts_fetch *res);
/*
 * Test seam: everything mtasts_fetch_policy() does after resolving host:
 * try addrs[0..naddrs) in order (ports from the sockaddrs) until
 * deadline_ms_mono (a mtasts_mono_ms() time). Fills res like
 * mtasts_fetch_policy().
 */
void mtasts_fetch_from(struct mtasts_ctx *ctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res);
/* Free the lazily made SSL_CTX. */
void mtasts_fetch_free(struct mtasts_ctx *ctx);
/*
 * The context's client SSL_CTX * (made on first use: PKIX + TLS >= 1.2,
 * ca_file/ca_path), borrowed; NULL with err set. For TLS-RPT HTTPS POSTs.
 */
void *mtasts_fetch_ssl_ctx(struct mtasts_ctx *ctx, struct mtasts_error *err);

/* ---- probe.c: SMTP STARTTLS probe of one MX host (mtasts check) ---- */

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

/* ---- net.c: deadline-bounded TCP and client TLS (fetch, probe, report) */

/* OpenSSL types by their struct tags, so this header needs no OpenSSL. */
struct ssl_st;
struct ssl_ctx_st;
struct bio_st;
struct x509_st;
struct X509_name_st;

/*
 * One TCP connection bounded by one deadline, optionally with client TLS
 * on it. Never raises SIGPIPE (send with MSG_NOSIGNAL; OpenSSL talks to a
 * BIO pair, never to the socket), never blocks past the deadline, touches
 * no signal state. Not shared between threads.
 */
struct mtasts_conn {
	int fd;				/* -1 when not connected */
	int64_t deadline;		/* a mtasts_mono_ms() time */
	int eof;			/* the peer closed TCP */
	int timed_out;
	int race_last;			/* see mtasts_conn_race() */
	struct ssl_st *ssl;		/* after mtasts_conn_tls_start() */
	struct bio_st *net;		/* our half of the BIO pair */
	int held;			/* mtasts_conn_tls_step(): result
					 * waiting for its bytes to leave */
	char why[MTASTS_REASON_MAX];	/* the I/O failure, "" none */
};

/* mtasts_conn_race(): not tried yet; the RFC 8305 §5 attempt delay. */
#define MTASTS_RACE_UNTRIED (-1)
#define MTASTS_RACE_DELAY_MS 250

/* mtasts_conn_tls_read(): TCP closed without a TLS close_notify. */
#define MTASTS_CONN_EOF_UNCLEAN (-2)
/* mtasts_conn_tls_step(): cannot go on until the socket is ready. */
#define MTASTS_CONN_AGAIN (-3)

/* The operations of mtasts_conn_tls_step(). */
enum mtasts_tls_op { MTASTS_TLS_HANDSHAKE, MTASTS_TLS_WRITE, MTASTS_TLS_READ };

/*
 * mtasts_conn_race() as a state machine, for callers that wait on many
 * things at once (refresh.c). begin, then step until it returns 1; while
 * it returns 0, poll pfd[0..npend) (their events are set) until *wake,
 * and step again (revents as poll() left them; a failed poll: set
 * poll_errno). winner is then the index (c->fd connected) or -1, with
 * err[], c->why, c->timed_out, c->race_last as mtasts_conn_race() says.
 */
struct mtasts_race {
	const struct sockaddr_storage *addrs;
	int *err;
	size_t order[MTASTS_ADDRS_MAX], idx[MTASTS_ADDRS_MAX];
	struct pollfd pfd[MTASTS_ADDRS_MAX];
	size_t norder, next, npend;
	int64_t start_next;
	int winner, last, poll_errno;
};
void mtasts_race_begin(struct mtasts_race *rc, struct mtasts_conn *c,
    const struct sockaddr_storage *addrs, size_t n, int *err);
int mtasts_race_step(struct mtasts_race *rc, struct mtasts_conn *c,
    int64_t *wake);

/* How mtasts_conn_tls_start() checks the server's name. */
enum mtasts_tls_peer {
	/* RFC 8461 hosts: SNI + DNS-ID in a SAN only, never the CN. */
	MTASTS_TLS_PEER_DNSID = 0,
	/* https: rua host: an IP literal (iPAddress SAN, no SNI) or a name
	 * (SNI + DNS-ID, the CN only when the certificate has no DNS SAN) */
	MTASTS_TLS_PEER_URI_HOST = 1
};

/* Zero c, no socket yet; everything after runs until deadline_ms_mono. */
void mtasts_conn_init(struct mtasts_conn *c, int64_t deadline_ms_mono);
/* Free the TLS state and close the socket; c can be closed again. */
void mtasts_conn_close(struct mtasts_conn *c);
/*
 * Non-blocking TCP connect to sa (TCP_NODELAY). The calls below return 0
 * (or a count) on success and -1 on failure, with timed_out or why set:
 * mtasts_conn_why() says it in words.
 */
int mtasts_conn_connect(struct mtasts_conn *c,
    const struct sockaddr_storage *sa);
/*
 * RFC 8305 Happy Eyeballs connect (D-NET-3) to one of addrs[0..n) (at
 * most MTASTS_ADDRS_MAX) whose err[i] is MTASTS_RACE_UNTRIED: families
 * interleaved, the first family first; a new attempt starts every
 * MTASTS_RACE_DELAY_MS while earlier ones are pending, at once when one
 * fails; the first TCP connection to complete wins and the others are
 * closed. Returns the winner's index (its socket is c->fd, err[winner]
 * is 0), or -1 when none connected by c->deadline (timed_out / why set,
 * c->race_last the index whose failure why describes, or -1). err[] gets
 * the errno of each failed address, ETIMEDOUT for those still pending at
 * the deadline; those pending when another won stay UNTRIED.
 */
int mtasts_conn_race(struct mtasts_conn *c,
    const struct sockaddr_storage *addrs, size_t n, int *err);
/* poll() for events until the deadline. */
int mtasts_conn_wait(struct mtasts_conn *c, short events);
/* Plaintext: send all len bytes. */
int mtasts_conn_send(struct mtasts_conn *c, const void *buf, size_t len);
/* Plaintext: wait for and read some bytes; 0 at EOF (eof set). */
ssize_t mtasts_conn_recv(struct mtasts_conn *c, void *buf, size_t size);
/* "timed out", the I/O failure, else the last queued OpenSSL reason. */
const char *mtasts_conn_why(const struct mtasts_conn *c);
/* The reason of the last queued OpenSSL error, or "unknown TLS error". */
const char *mtasts_tls_reason(void);

/*
 * A new client SSL_CTX: TLS >= 1.2, no session cache, the CA store of cfg
 * (ca_file/ca_path, else the system's), SSL_VERIFY_PEER or, to judge the
 * verification result afterwards, SSL_VERIFY_NONE. NULL with why set.
 * The caller owns it (SSL_CTX_free).
 */
struct ssl_ctx_st *mtasts_tls_client_ctx(const struct mtasts_config *cfg,
    int verify_peer, char *why, size_t size);
/*
 * Certificates of sctx's store loaded so far (a CA file and the system
 * file are read eagerly; a hashed directory is read on demand and counts
 * nothing here). For `mtasts check --local`.
 */
size_t mtasts_tls_ca_count(struct ssl_ctx_st *sctx);
/*
 * Client TLS on a connected c (not yet handshaken): SSL from sctx, a BIO
 * pair, and host checked as peer says (enum mtasts_tls_peer). -1 leaves
 * the reason in the OpenSSL error queue (mtasts_tls_reason()).
 */
int mtasts_conn_tls_start(struct mtasts_conn *c, struct ssl_ctx_st *sctx,
    const char *host, int peer);
int mtasts_conn_tls_handshake(struct mtasts_conn *c);
/*
 * One non-blocking step of a TLS operation (enum mtasts_tls_op) on c: the
 * result the blocking calls below would give, or MTASTS_CONN_AGAIN with
 * *events (POLLIN/POLLOUT) to wait for on c->fd before the next step (the
 * same operation, the same arguments). Deadlines are the caller's: the
 * blocking calls are this step and mtasts_conn_wait().
 */
int mtasts_conn_tls_step(struct mtasts_conn *c, int op, void *buf, int n,
    short *events);
/* Write all len bytes. */
int mtasts_conn_tls_write(struct mtasts_conn *c, const void *buf,
    size_t len);
/*
 * Read some bytes: > 0, 0 on a clean close_notify, MTASTS_CONN_EOF_UNCLEAN
 * when TCP closed without one (a close-delimited body may be truncated),
 * -1 on error.
 */
int mtasts_conn_tls_read(struct mtasts_conn *c, void *buf, size_t size);
/*
 * SSL_get_verify_result(), except that a finished handshake without a
 * server certificate is X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE.
 */
long mtasts_conn_tls_verify_result(const struct mtasts_conn *c);

/*
 * The RFC 8460 result type of a failed verification v (X509_V_ERR_*):
 * for the policy host (policy_host != 0) always sts-webpki-invalid
 * (§4.3.2); for an MX (§4.3.1) certificate-host-mismatch,
 * certificate-expired, certificate-not-trusted (no chain to a trusted
 * root), else validation-failure. A static string.
 */
const char *mtasts_tls_verify_type(long v, int policy_host);
/* The X509_V_ERR_* symbol of v, or "X509_V_ERR"; a static string. */
const char *mtasts_tls_verify_name(long v);
/* Subject or issuer name, RFC 2253, printable ASCII ("" on failure). */
void mtasts_tls_name_text(const struct X509_name_st *nm, char *out,
    size_t size);
/* The DNS SANs of cert, comma-separated, printable (those that fit). */
void mtasts_tls_san_text(const struct x509_st *cert, char *out, size_t size);

/* "ip:port" or "[ip]:port" of an AF_INET/AF_INET6 address. */
void mtasts_addr_text(const struct sockaddr_storage *sa, char *out,
    size_t size);
/* Copy remote text for display: printable ASCII only, others '?'. */
void mtasts_printable(char *dst, size_t size, const char *src, size_t len);

/* ---- http.c: HTTP/1.1 response parsing (incremental, fuzzed) ---- */

enum mtasts_http_state {
	MTASTS_HTTP_MORE = 0,		/* need more bytes */
	MTASTS_HTTP_DONE = 1,		/* complete response */
	MTASTS_HTTP_ERROR = 2,		/* malformed */
	MTASTS_HTTP_TOOBIG = 3		/* body over the cap */
};

struct mtasts_http_resp {
	int status;
	int content_type_ok;	/* media type is text/plain */
	char content_type[128];
	int has_location;
	const char *body;	/* points into the parsed buffer (or dechunked) */
	size_t body_len;
	char *owned_body;	/* dechunked copy, freed by mtasts_http_clear */
	char why[MTASTS_REASON_MAX];
};

/*
 * The incremental parser (D-NET-5): it keeps its place between calls, so
 * each byte received is looked at O(1) times however the peer splits its
 * response. Opaque to callers; http.c owns the fields.
 */
struct mtasts_http_parser {
	int verdict;		/* mtasts_http_state, final if not MORE */
	int phase;		/* http.c's enum phase */
	size_t pos;		/* next byte to look at */
	size_t line;		/* start of the line being read */
	size_t mark;		/* start of the chunked trailer */
	size_t body_at;		/* offset of the body */
	uint64_t clen;
	int status, framing, seen_cl, seen_te, seen_ct, seen_loc;
	size_t chunk;		/* size being read, then bytes left */
	unsigned digits, ext;	/* of the chunk-size line being read */
	size_t sum;		/* dechunked bytes so far */
	char *dbuf;		/* the dechunked body */
	size_t dsize;
};

void mtasts_http_parser_init(struct mtasts_http_parser *ps);
/* Free what the parser holds; it can be cleared again. */
void mtasts_http_parser_clear(struct mtasts_http_parser *ps);
/*
 * Parse the bytes received so far, buf[0..len). eof says the peer closed.
 * Returns an enum mtasts_http_state; on DONE, resp is filled. body_cap is
 * the body limit (bytes beyond it give TOOBIG as soon as they are seen).
 * Each call must pass the same body_cap and the same bytes as the one
 * before plus any new ones (buf itself may move: only offsets are kept).
 * resp must be zeroed before the first call and is kept up to date; on
 * DONE a dechunked body moves to resp->owned_body. Once the final head is
 * parsed, status, content_type(_ok) and has_location are set whatever the
 * return (so a caller can stop early); status is 0 before. why is set on
 * ERROR. Only the verdict MORE can change when more bytes arrive; any
 * other is returned again by later calls.
 */
int mtasts_http_feed(struct mtasts_http_parser *ps, const char *buf,
    size_t len, int eof, size_t body_cap, struct mtasts_http_resp *resp);

/*
 * fetch.c: the policy fetch as a state machine (D-NET-6), so that one
 * process can have many in flight (refresh.c) and the blocking fetch is
 * the same code with one. start (no I/O), then step until it returns 1
 * (res filled as mtasts_fetch_from() fills it); while step returns 0,
 * poll pfd[0..npfd) until wake (a mtasts_mono_ms() time), tell the
 * machine with mtasts_fetch_sm_polled() (pfd[] revents as poll() left
 * them; poll_errno 0 or poll()'s errno) and step again. abort frees an
 * unfinished one (res keeps what the furthest attempt so far left).
 */
/*
 * A request of the caller's through the same machine (the TLS-RPT POST,
 * report.c): one attempt over the untried addresses, TLS checked as peer
 * says, head then body written, the response read until its status line
 * and headers are parsed (at most resp_max bytes). Out: status (0 none),
 * why ("" when the request got an answer, 2xx or not: then status says
 * it), nomem.
 */
struct mtasts_https_req {
	int peer;			/* enum mtasts_tls_peer */
	const char *head;
	size_t headlen;
	const char *body;
	size_t bodylen;
	size_t resp_max;
	int status;
	int nomem;
	char why[MTASTS_REASON_MAX];
};

struct mtasts_fetch_sm {
	struct mtasts_ctx *ctx;
	struct mtasts_https_req *rq;	/* NULL: the policy GET */
	struct ssl_ctx_st *sctx;
	struct mtasts_fetch *res;	/* the answer: furthest attempt */
	struct mtasts_fetch cur;	/* this attempt */
	char host[MTASTS_DOMAIN_MAX + 1];
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	size_t naddrs, left;
	int err[MTASTS_ADDRS_MAX], before[MTASTS_ADDRS_MAX];
	int64_t deadline, t0;
	int phase, prog, best;
	struct mtasts_conn c;
	struct mtasts_race race;
	char as[64];
	char req[512];
	int reqlen;
	const char *wp[2];		/* what to write: request, body */
	size_t wl[2], wpart, woff;
	struct mtasts_http_parser ps;
	struct mtasts_http_resp resp;
	char *buf;
	size_t len, size;
	int reading;
	/* What to wait for before the next step. */
	struct pollfd pfd[MTASTS_ADDRS_MAX];
	size_t npfd;
	int64_t wake;
};
void mtasts_fetch_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int64_t deadline_ms_mono, struct mtasts_fetch *res);
int mtasts_fetch_sm_step(struct mtasts_fetch_sm *sm);
void mtasts_fetch_sm_polled(struct mtasts_fetch_sm *sm, int poll_errno);
void mtasts_fetch_sm_abort(struct mtasts_fetch_sm *sm);
/*
 * The machine for a request of the caller's (struct mtasts_https_req):
 * start, and its blocking driver. err[0..naddrs) as for
 * mtasts_conn_race() (in: what earlier attempts left; out: updated).
 * mtasts_https_request() returns 0 when the request got an HTTP answer
 * (rq->status; rq->why set unless 2xx), -1 with rq->why.
 */
void mtasts_https_sm_start(struct mtasts_fetch_sm *sm, struct mtasts_ctx *ctx,
    struct ssl_ctx_st *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, const int *err,
    int64_t deadline_ms_mono, struct mtasts_https_req *rq);
int mtasts_https_request(struct mtasts_ctx *ctx, struct ssl_ctx_st *sctx,
    const char *host, const struct sockaddr_storage *addrs, size_t naddrs,
    int *err, int64_t deadline_ms_mono, struct mtasts_https_req *rq);
/*
 * One-shot form of the above on a fresh parser: resp is cleared first.
 * O(len) per call, so a reader must not call it again after every read
 * (that was quadratic, issue 12 item 4): keep a parser and feed it.
 */
int mtasts_http_parse(const char *buf, size_t len, int eof, size_t body_cap,
    struct mtasts_http_resp *resp);
void mtasts_http_clear(struct mtasts_http_resp *resp);
/* 1 if a Content-Type value is text/plain (parameters allowed). */
int mtasts_http_media_type_ok(const char *v, size_t len);

/* ---- cache.c ---- */

struct mtasts_cache_entry {
	char domain[MTASTS_DOMAIN_MAX + 1];
	char id[MTASTS_ID_MAX + 1];		/* "" when no policy held */
	struct mtasts_policy *policy;		/* NULL when no policy held */
	time_t fetched_at;
	time_t expires_at;			/* fetched_at + max_age */
	time_t txt_checked_at;			/* last TXT check, any result */
	char txt_id[MTASTS_ID_MAX + 1];		/* id seen at that check */
	/* last fetch failure, for the §3.3 back-off */
	time_t fail_at;
	char fail_id[MTASTS_ID_MAX + 1];
	char fail_type[MTASTS_RESULT_TYPE_MAX];
	char fail_reason[MTASTS_REASON_MAX];
};

/*
 * mtasts_cache_load() only: an entry file exists but cannot be used (not a
 * regular file, symbolic link, FIFO, directory, oversize, truncated,
 * corrupt or inconsistent JSON). Distinct from MTASTS_NOTFOUND ("no
 * file"): an entry that exists is evidence of a policy (decisions.md
 * D-CACHE-6). Not a public result code (mtasts_strerror() does not know
 * it); never returned by the public API.
 */
#define MTASTS_CACHE_UNUSABLE 100

/*
 * Read the entry of a normalised domain. A missing file (or a missing
 * cache directory) is MTASTS_NOTFOUND; a file that is there but is not
 * exactly what a store writes (see MTASTS_CACHE_UNUSABLE) is logged, never
 * trusted, and is MTASTS_CACHE_UNUSABLE with err saying why. Unreadable
 * (permissions, I/O) is MTASTS_ERROR; out of memory MTASTS_NOMEM. *out is
 * a new entry on MTASTS_OK. The stored raw policy text is parsed again on
 * load.
 */
int mtasts_cache_load(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_cache_entry **out, struct mtasts_error *err);
/* Atomically replace the entry (temp file, fsync, rename). */
int mtasts_cache_store(struct mtasts_ctx *ctx,
    const struct mtasts_cache_entry *e, struct mtasts_error *err);
int mtasts_cache_remove(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_error *err);
void mtasts_cache_entry_free(struct mtasts_cache_entry *e);
/*
 * The context's memo of parsed entries (cache_memo = on): each load still
 * stat()s the directory and the entry file and serves a copy only when the
 * file is the one that was parsed. Freed by mtasts_ctx_free().
 */
void mtasts_cache_memo_free(struct mtasts_ctx *ctx);
/*
 * cachegen.c (D-MEMO-4). mtasts_cache_gen_read(): 1 and *gen = the
 * counter when the shared mapping is usable, else 0 (the memo then stats
 * every load). now is mtasts_mono_coarse_ns(). mtasts_cache_gen_bump():
 * after a rename or unlink in the cache directory dfd; 0 or -1 with errno.
 */
int mtasts_cache_gen_read(struct mtasts_ctx *ctx, int64_t now,
    uint64_t *gen);
int mtasts_cache_gen_bump(int dfd);
void mtasts_cache_gen_release(struct mtasts_ctx *ctx);
/* One more holder of an immutable parsed policy (policy.c). */
struct mtasts_policy *mtasts_policy_ref(struct mtasts_policy *p);
/* Entries held and loads served from the memo, for tests and benchmarks. */
void mtasts_cache_memo_stats(const struct mtasts_ctx *ctx, size_t *entries,
    uint64_t *hits);
/*
 * Per-domain fetch lock across processes. Waits at most wait_ms.
 * Returns MTASTS_OK (*fd holds the lock), MTASTS_TEMPFAIL (busy), or
 * MTASTS_ERROR.
 */
int mtasts_cache_lock(struct mtasts_ctx *ctx, const char *domain,
    int wait_ms, int *fd, struct mtasts_error *err);
void mtasts_cache_unlock(int fd);
/*
 * The configured cache_dir as the load-time check sees it (D-CONF-4):
 * MTASTS_OK when it is a directory this process can search, or, unless
 * must_exist, when it is missing but its parent is a directory (the first
 * store creates it); MTASTS_ERROR otherwise. strict adds the per-access
 * checks of every load and store (world-writable is refused), for
 * `mtasts check --local`. *exists gets 1 when the directory exists.
 */
int mtasts_cache_dir_check(const struct mtasts_ctx *ctx, int strict,
    int must_exist, int *exists, struct mtasts_error *err);
/* Call fn for each cached domain name; stops when fn returns non-zero. */
int mtasts_cache_foreach(struct mtasts_ctx *ctx,
    int (*fn)(void *arg, const char *domain), void *arg,
    struct mtasts_error *err);
/*
 * Remove what dead or finished processes left in the cache directory
 * (D-PURGE-1): temp files of stores older than MTASTS_CACHE_TMP_STALE
 * seconds, and lock files nobody holds of domains without an entry.
 * Counts in *ntmp and *nlock (either may be NULL).
 */
#define MTASTS_CACHE_TMP_STALE 3600
int mtasts_cache_purge_stale(struct mtasts_ctx *ctx, size_t *ntmp,
    size_t *nlock, struct mtasts_error *err);
/*
 * The cache file codec (for the fuzz target): decode buf[0..len) of a
 * domain into the zeroed *e (MTASTS_INVALID with why filled, or
 * MTASTS_NOMEM; free e->policy in any case with the entry), and encode a
 * checked entry. What decode accepts, encode writes back equal (D-CACHEFILE-1).
 */
int mtasts_cache_decode(const char *domain, const char *buf, size_t len,
    struct mtasts_cache_entry *e, char *why, size_t wl);
int mtasts_cache_encode(const struct mtasts_cache_entry *e, char **out,
    size_t *outlen, struct mtasts_error *err);

/* ---- lookup.c ---- */

/* What DNSSEC said of this lookup's _mta-sts TXT answer (D-DNSSEC-3). */
enum mtasts_txt_dnssec {
	MTASTS_TXT_DNSSEC_NONE = 0,	/* no TXT query made (cache fast path) */
	MTASTS_TXT_DNSSEC_OFF,		/* the resolver does not validate */
	MTASTS_TXT_DNSSEC_INSECURE,	/* validated: no chain of trust */
	MTASTS_TXT_DNSSEC_SECURE,	/* validated: secure */
	MTASTS_TXT_DNSSEC_BOGUS		/* validation failed: unauthenticated */
};
/* "secure", "insecure", "bogus", "off", or NULL (none) for the CLI JSON. */
const char *mtasts_result_txt_dnssec(const struct mtasts_result *r);

struct mtasts_result {
	int status;
	int source;
	int txt_dnssec;			/* enum mtasts_txt_dnssec */
	char domain[MTASTS_DOMAIN_MAX + 1];
	char id[MTASTS_ID_MAX + 1];
	struct mtasts_policy *policy;
	time_t expires;
	char failure_type[MTASTS_RESULT_TYPE_MAX];
	char failure_reason[MTASTS_REASON_MAX];
};

/* ---- tlsrpt.c: the session spool (RFC 8460 reporting data) ---- */

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

/* ---- txt.c ---- */

/*
 * The discard rule shared by `_mta-sts` (RFC 8461 §3.1) and `_smtp._tls`
 * (RFC 8460 §3) TXT records: 1 if rec[0..len) begins with version
 * (case-sensitive), then *WSP and ";" (a field-delim, D-TXT-2).
 */
int mtasts_txt_versioned(const char *rec, size_t len, const char *version);

/* ---- tlsrpt_txt.c: the `_smtp._tls` TXT record (RFC 8460 §3) ---- */

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

/* ---- report.c: RFC 8460 §4 aggregate reports and their delivery ---- */

struct mtasts_report_stats {
	size_t records;		/* sessions counted */
	size_t torn;		/* spool lines skipped: torn or malformed */
	size_t excluded;	/* report-mail sessions, never counted */
	size_t dropped;		/* sessions dropped when spooling (day cap) */
	size_t domains;		/* policy domains in the spool */
	size_t no_tlsrpt;	/* of which without a usable TLSRPT record */
	size_t tempfail;	/* of which the TLSRPT lookup failed for now */
	size_t duplicates;	/* repeated attempt keys, counted once */
	size_t spools;		/* spool directories read (fleet build) */
};

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
/* The real one: `_smtp._tls.<domain>` TXT through the context resolver. */
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
    size_t *n, struct mtasts_report_stats *st, struct mtasts_error *err);
/*
 * The same over the given spool directories (one per host, D-RPT-11):
 * the counts are summed into one report per policy domain, whose
 * report-id carries no host. spools NULL: this host's tlsrpt_dir.
 */
int mtasts_report_build_spools(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, mtasts_report_rua_fn *fn,
    void *arg, struct mtasts_report **out, size_t *n,
    struct mtasts_report_stats *st, struct mtasts_error *err);
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
#define MTASTS_TLSRPT_RESULT_TYPES 11
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
    struct mtasts_report_stats *st, struct mtasts_error *err);
void mtasts_tally_free(struct mtasts_tally *t);
/* tlsrpt.c: the RFC 8460 result types (one list). */
size_t mtasts_tlsrpt_result_type_count(void);
/* The i-th RFC 8460 result type name, NULL past the end. */
const char *mtasts_tlsrpt_result_type_name(size_t i);
/* Its index, or -1 for a string that is not one. */
int mtasts_tlsrpt_result_type_index(const char *s);
/* gzip (RFC 1952) of in; *out malloc'd. */
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
/* POST a gzip'd report to an https: rua; any 2xx = accepted (§5.4). */
int mtasts_report_post(struct mtasts_ctx *ctx, const char *uri,
    const char *body, size_t len, struct mtasts_error *err);
/*
 * Deliver r to its rua in order until one accepts (§3): MTASTS_OK with
 * done_uri set, else MTASTS_TEMPFAIL (err: the last failure).
 */
int mtasts_report_deliver(struct mtasts_ctx *ctx,
    const struct mtasts_report *r, time_t now, char *done_uri, size_t size,
    struct mtasts_error *err);

/*
 * ---- the network half, reached through a table (netops.c, netload.c) ----
 *
 * lookup.c and ctx.c call DNS and HTTPS only through these operations, so
 * that an adapter module (mtasts_exim.so) can be linked without OpenSSL
 * and libunbound and load them only on the first cache miss. The static
 * and shared libraries bind the table directly (netops.c); the Exim module
 * dlopen()s mtasts_net.so instead (exim/netload.c). Both halves are built
 * from one source tree: abi and the struct sizes guard against a
 * mismatched pair of files.
 */
#define MTASTS_NETOPS_ABI 1
struct mtasts_netops {
	unsigned abi;			/* MTASTS_NETOPS_ABI */
	size_t ctx_size;		/* sizeof(struct mtasts_ctx) */
	size_t fetch_size;		/* sizeof(struct mtasts_fetch) */
	size_t answer_size;		/* sizeof(struct mtasts_dns_answer) */
	int (*dns_query)(struct mtasts_ctx *, const char *, int, int,
	    struct mtasts_dns_answer **, struct mtasts_error *);
	void (*dns_answer_free)(struct mtasts_dns_answer *);
	int (*dns_txt_decode)(const struct mtasts_dns_answer *, char ***,
	    size_t **, size_t *);
	void (*dns_txt_free)(char **, size_t *, size_t);
	void (*fetch_policy)(struct mtasts_ctx *, const char *,
	    struct mtasts_fetch *);
	void (*fetch_clear)(struct mtasts_fetch *);
	/* mtasts_dns_free() and mtasts_fetch_free() */
	void (*release)(struct mtasts_ctx *);
};
/* The table of this build's own network code (netops.c). */
extern const struct mtasts_netops mtasts_netops_direct;
/*
 * The network operations for ctx (remembered in ctx->net), or NULL with
 * err set when they cannot be had (the Exim module's mtasts_net.so is
 * missing or mismatched): the caller must then fail closed.
 */
const struct mtasts_netops *mtasts_netops_get(struct mtasts_ctx *ctx,
    struct mtasts_error *err);
/* Release ctx's resolver and TLS context, if any (mtasts_ctx_free). */
void mtasts_net_release(struct mtasts_ctx *ctx);

#endif /* MTASTS_INTERNAL_H */
