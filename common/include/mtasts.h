/* SPDX-License-Identifier: ISC */
/*
 * mtasts.h - public API of libmtasts, MTA-STS (RFC 8461) and TLS-RPT
 * (RFC 8460) for the sending side of a mail server.
 *
 * This is the only installed header. Every handle is opaque. Every
 * function that can fail returns an enum mtasts_rc and, when the caller
 * passes a struct mtasts_error, fills it with a one-line reason (the first
 * error wins). Strings passed in are copied; getters return borrowed
 * pointers whose lifetime is stated in their comment.
 *
 * Usage, in an MTA delivery process:
 *
 *	struct mtasts_ctx *ctx = mtasts_ctx_new();
 *	mtasts_ctx_load_config(ctx, NULL, &err);	// /etc/mtasts.conf
 *	mtasts_lookup(ctx, "example.com", 0, &res, &err);
 *	if (mtasts_result_status(res) == MTASTS_LOOKUP_POLICY) ...
 *	mtasts_result_free(res);
 *	mtasts_ctx_free(ctx);
 *
 * Thread and fork safety: a context belongs to one thread. A context may be
 * inherited across fork(); the child must not free shared state of the
 * parent, and the library detects the pid change itself (see
 * mtasts_ctx_free()).
 */
#ifndef MTASTS_H
#define MTASTS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MTASTS_VERSION_MAJOR 0
#define MTASTS_VERSION_MINOR 1
#define MTASTS_VERSION_PATCH 0
#define MTASTS_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define MTASTS_WUR __attribute__((warn_unused_result))
/* The library is built with hidden visibility; only these are exported. */
#define MTASTS_API __attribute__((visibility("default")))
#else
#define MTASTS_WUR
#define MTASTS_API
#endif

/*
 * Result codes. NOTFOUND is a definite "no record / no policy" answer;
 * TEMPFAIL is DNS or HTTPS trouble and is never an answer: callers must not
 * treat it as NOTFOUND, and the library never caches it as one.
 */
enum mtasts_rc {
	MTASTS_OK = 0,
	MTASTS_NOTFOUND = 1,	/* definite negative answer */
	MTASTS_TEMPFAIL = 2,	/* try later */
	MTASTS_INVALID = 3,	/* malformed input */
	MTASTS_NOMEM = 4,	/* allocation failed */
	MTASTS_ERROR = 5,	/* internal, configuration or usage error */
	MTASTS_AFTERFINAL = 6	/* configuration change after first use */
};

#define MTASTS_ERROR_TEXT_MAX 160

/* Caller-allocated error detail. Zero it before use; the first error wins. */
struct mtasts_error {
	int code;				/* enum mtasts_rc */
	char text[MTASTS_ERROR_TEXT_MAX];	/* NUL-terminated reason */
};

/**
 * mtasts_strerror - short static name of a result code.
 * @return a static string; never NULL.
 */
MTASTS_API const char *mtasts_strerror(int rc);

/** Library version string (MTASTS_VERSION_STRING of the built library). */
MTASTS_API const char *mtasts_version(void);

/* ---------------------------------------------------------------------- */
/* Parsers and matching: pure functions, no context needed.                */

#define MTASTS_ID_MAX 32	/* RFC 8461 §3.1: id is 1*32(ALPHA / DIGIT) */
#define MTASTS_DOMAIN_MAX 253	/* RFC 1035 presentation length, no dot */

/**
 * mtasts_txt_parse - parse one concatenated `_mta-sts` TXT record.
 * @param rec the record, strings already concatenated (RFC 8461 §3.1).
 * @param len its length in bytes.
 * @param id receives the NUL-terminated id on MTASTS_OK.
 * @param err optional reason on failure.
 * @return MTASTS_OK, or MTASTS_INVALID (syntax error; the reason names it).
 */
MTASTS_API int mtasts_txt_parse(const char *rec, size_t len,
    char id[MTASTS_ID_MAX + 1], struct mtasts_error *err);

/**
 * mtasts_txt_select - apply the RFC 8461 §3.1 selection rule to the TXT
 * RRset of `_mta-sts.<domain>`: records not beginning with "v=STSv1" are
 * discarded, exactly one must remain and it must be valid.
 * @param recs array of nrecs records, each its strings concatenated.
 * @param lens their lengths.
 * @return MTASTS_OK (id filled), MTASTS_NOTFOUND (no STS record at all), or
 * MTASTS_INVALID (several STS records, or the one is malformed). Both
 * NOTFOUND and INVALID mean "no live policy" (§3.1).
 */
MTASTS_API int mtasts_txt_select(const char *const *recs, const size_t *lens,
    size_t nrecs, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err);

enum mtasts_mode {
	MTASTS_MODE_NONE = 0,
	MTASTS_MODE_TESTING = 1,
	MTASTS_MODE_ENFORCE = 2
};

/** Name of a mode ("none", "testing", "enforce"); never NULL. */
MTASTS_API const char *mtasts_mode_name(int mode);

struct mtasts_policy;

/**
 * mtasts_policy_parse - parse a policy body (RFC 8461 §3.2).
 * @param body the HTTPS response body; need not be NUL-terminated.
 * @param len its length; over 64 KiB is MTASTS_INVALID.
 * @param out receives a new policy on MTASTS_OK, owned by the caller and
 * released with mtasts_policy_free(); set to NULL otherwise.
 * @return MTASTS_OK, MTASTS_INVALID (reason: "line N: ..."), MTASTS_NOMEM.
 */
MTASTS_API MTASTS_WUR int mtasts_policy_parse(const char *body, size_t len,
    struct mtasts_policy **out, struct mtasts_error *err);

/** Release a policy; NULL is a no-op. */
MTASTS_API void mtasts_policy_free(struct mtasts_policy *p);

/** The policy's mode (enum mtasts_mode). */
MTASTS_API int mtasts_policy_mode(const struct mtasts_policy *p);

/** max_age in seconds, 0..31557600. */
MTASTS_API uint32_t mtasts_policy_max_age(const struct mtasts_policy *p);

/** Number of mx patterns. */
MTASTS_API size_t mtasts_policy_mx_count(const struct mtasts_policy *p);

/** mx pattern i, lower-cased; borrowed, valid while p lives. */
MTASTS_API const char *mtasts_policy_mx(const struct mtasts_policy *p,
    size_t i);

/**
 * Number of raw policy lines (terminators removed), as served. TLS-RPT
 * reports them as `policy-string` (RFC 8460 §4.4).
 */
MTASTS_API size_t mtasts_policy_line_count(const struct mtasts_policy *p);

/** Raw line i; borrowed, valid while p lives. */
MTASTS_API const char *mtasts_policy_line(const struct mtasts_policy *p,
    size_t i);

/** The raw body as served; borrowed, valid while p lives. */
MTASTS_API const char *mtasts_policy_text(const struct mtasts_policy *p,
    size_t *len);

/**
 * mtasts_mx_match - does MX host name `host` match policy pattern
 * `pattern` (RFC 8461 §4.1)? Case-insensitive, a trailing dot on either is
 * ignored, "*" matches exactly one whole left-most label.
 * @return 1 on match, 0 otherwise (also for malformed input).
 */
MTASTS_API int mtasts_mx_match(const char *pattern, size_t plen,
    const char *host, size_t hlen);

/** 1 if any mx pattern of p matches host, else 0. */
MTASTS_API int mtasts_policy_mx_allowed(const struct mtasts_policy *p,
    const char *host, size_t hlen);

/**
 * mtasts_domain_normalize - policy domain normalisation (checklist item 4):
 * lower-case, strip one trailing dot, U-labels to A-labels, validate as a
 * host name (LDH labels of 1..63, total <= 253).
 * @param out receives the normalised name.
 * @return MTASTS_OK or MTASTS_INVALID (reason set).
 */
MTASTS_API int mtasts_domain_normalize(const char *in, size_t len,
    char out[MTASTS_DOMAIN_MAX + 1], struct mtasts_error *err);

/* ---------------------------------------------------------------------- */
/* Context, configuration and policy lookup.                               */

struct mtasts_ctx;

enum mtasts_log_level {
	MTASTS_LOG_ERR = 0,
	MTASTS_LOG_WARN = 1,
	MTASTS_LOG_INFO = 2,
	MTASTS_LOG_DEBUG = 3
};

/* Log sink supplied by the host (Exim's log_write, syslog, stderr). */
typedef void mtasts_log_fn(void *arg, int level, const char *msg);

/**
 * mtasts_ctx_new - a context with safe defaults (verify certificates and
 * names, TLS >= 1.2, caps applied, cache in /var/cache/mtasts).
 * Creates no resolver and no TLS state: both are made on first need.
 * @return a new context, or NULL when out of memory.
 */
MTASTS_API MTASTS_WUR struct mtasts_ctx *mtasts_ctx_new(void);

/**
 * mtasts_ctx_free - release a context; NULL is a no-op. In a process that
 * inherited the context through fork() it releases only memory that is
 * safe to release there.
 */
MTASTS_API void mtasts_ctx_free(struct mtasts_ctx *ctx);

/**
 * mtasts_ctx_set - set one configuration key (the keys of mtasts.conf(5),
 * see docs/config.md). Repeatable keys ("resolver") accumulate (the same
 * value twice is MTASTS_INVALID); others are replaced. The files the
 * configuration names are checked at the first mtasts_lookup().
 * @return MTASTS_OK, MTASTS_INVALID (unknown key or bad value),
 * MTASTS_AFTERFINAL (context already used for a lookup).
 */
MTASTS_API int mtasts_ctx_set(struct mtasts_ctx *ctx, const char *key,
    const char *value, struct mtasts_error *err);

/**
 * mtasts_ctx_load_config - read a `key = value` file; `#` starts a comment.
 * Then check every file and directory the configuration (defaults
 * included) names: CA store, trust anchor, cache and spool directories
 * (docs/config.md, decisions.md D-CONF-1).
 * @param path the file; NULL means $MTASTS_CONFIG or /etc/mtasts.conf (a
 * missing default file is not an error, a missing named file is).
 * @return MTASTS_OK, MTASTS_INVALID (syntax; err names file and line),
 * MTASTS_ERROR (unreadable file, or a path that is missing or unusable:
 * err names file, line, key and reason).
 */
MTASTS_API int mtasts_ctx_load_config(struct mtasts_ctx *ctx, const char *path,
    struct mtasts_error *err);

/** Install the log sink; NULL silences the library. */
MTASTS_API void mtasts_ctx_set_log(struct mtasts_ctx *ctx, mtasts_log_fn *fn,
    void *arg);

/**
 * mtasts_ctx_set_now - evaluate expiry and back-off as of `now` (Unix
 * seconds) instead of the clock; 0 restores the clock.
 */
MTASTS_API void mtasts_ctx_set_now(struct mtasts_ctx *ctx, time_t now);

enum mtasts_lookup_status {
	MTASTS_LOOKUP_NONE = 0,		/* no policy: deliver as usual */
	MTASTS_LOOKUP_POLICY = 1,	/* a policy applies (any mode) */
	MTASTS_LOOKUP_TEMPFAIL = 2	/* cannot decide now: defer */
};

enum mtasts_source {
	MTASTS_SOURCE_NONE = 0,		/* no policy involved */
	MTASTS_SOURCE_FETCHED = 1,	/* fetched during this lookup */
	MTASTS_SOURCE_CACHE = 2		/* from the on-disk cache */
};

/* mtasts_lookup() flags */
#define MTASTS_LOOKUP_CACHE_ONLY 0x1	/* never touch DNS or HTTPS */
#define MTASTS_LOOKUP_FORCE_FETCH 0x2	/* fetch HTTPS whatever the TXT id */

struct mtasts_result;

/**
 * mtasts_lookup - the RFC 8461 §5.1 policy discovery for one domain, with
 * the shared on-disk cache. On a cache hit whose TXT was checked within
 * txt_check_interval, reads one file and touches neither DNS nor TLS.
 * @param domain the policy domain (normalised internally).
 * @param out receives a new result (free with mtasts_result_free()) when
 * the return is MTASTS_OK; NULL otherwise.
 * @return MTASTS_OK when the lookup was answered (the answer may be
 * "tempfail"), MTASTS_INVALID for a bad domain, MTASTS_NOMEM, MTASTS_ERROR
 * (among others a configuration that fails its check at the first use:
 * err "configuration: <key>: ..."; the caller must defer).
 */
MTASTS_API MTASTS_WUR int mtasts_lookup(struct mtasts_ctx *ctx,
    const char *domain, unsigned flags, struct mtasts_result **out,
    struct mtasts_error *err);

MTASTS_API void mtasts_result_free(struct mtasts_result *r);
/** enum mtasts_lookup_status */
MTASTS_API int mtasts_result_status(const struct mtasts_result *r);
/** enum mtasts_source */
MTASTS_API int mtasts_result_source(const struct mtasts_result *r);
/** The normalised policy domain; borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_domain(const struct mtasts_result *r);
/** The applied policy, or NULL; borrowed, valid while r lives. */
MTASTS_API const struct mtasts_policy *mtasts_result_policy(
    const struct mtasts_result *r);
/** The policy id, or NULL; borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_id(const struct mtasts_result *r);
/** When the applied policy expires (Unix seconds), 0 without policy. */
MTASTS_API time_t mtasts_result_expires(const struct mtasts_result *r);
/**
 * RFC 8460 result type of what went wrong during this lookup
 * ("sts-policy-fetch-error", ...), or NULL when nothing did. Set also when a
 * cached policy was applied because the refresh failed.
 */
MTASTS_API const char *mtasts_result_failure_type(
    const struct mtasts_result *r);
/** Human reason for the failure, or NULL. Borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_failure_reason(
    const struct mtasts_result *r);

/* ---------------------------------------------------------------------- */
/* TLS-RPT (RFC 8460): recording the outcome of outbound SMTP sessions.     */

enum mtasts_policy_type {
	MTASTS_POLICY_TYPE_NONE = 0,	/* "no-policy-found" */
	MTASTS_POLICY_TYPE_STS = 1,	/* "sts" */
	MTASTS_POLICY_TYPE_TLSA = 2	/* "tlsa" */
};

/*
 * One outbound SMTP session as the adapter saw it. Caller-allocated (zero
 * it first); every string is copied by mtasts_tlsrpt_record(), so they may
 * be stack or host-pool memory. NULL strings are "unknown".
 */
struct mtasts_tlsrpt_session {
	const char *policy_domain;	/* recipient (policy) domain */
	int policy_type;		/* enum mtasts_policy_type */
	const struct mtasts_policy *policy;	/* for STS: policy-string, mx */
	const char *tlsa_records;	/* for TLSA: "3 1 1 ab..\n3 1 1 cd.." */
	const char *mx_host;		/* receiving-mx-hostname */
	const char *mx_ip;		/* receiving-ip */
	const char *mx_helo;		/* receiving-mx-helo, optional */
	const char *sending_ip;		/* sending-mta-ip */
	const char *result_type;	/* NULL on success, or RFC 8460 name */
	const char *failure_reason;	/* failure-reason-code, optional */
	time_t when;			/* 0 = now */
	unsigned flags;			/* MTASTS_TLSRPT_* below */
	/*
	 * Optional: the identity of a delivery attempt that made no
	 * session (a policy refusal before any connection). Records with
	 * the same key in one spool count once (D-RPT-12).
	 */
	const char *attempt_key;
};

/*
 * The session delivered a TLS-RPT report (the message carries
 * "TLS-Required: No", RFC 8689). It is spooled but never counted in a
 * report (RFC 8460 §3: "SHOULD NOT include this SMTP session in the next
 * report"), so a broken MX cannot make reports about reports.
 */
#define MTASTS_TLSRPT_REPORT_MAIL 0x1

/**
 * mtasts_tlsrpt_record - append one session outcome to the TLS-RPT spool
 * (config key tlsrpt_dir). A small atomic append; takes no lock across
 * network I/O and never blocks on other processes for long.
 * @return MTASTS_OK, MTASTS_INVALID (bad field), MTASTS_ERROR (spool).
 */
MTASTS_API int mtasts_tlsrpt_record(struct mtasts_ctx *ctx,
    const struct mtasts_tlsrpt_session *s, struct mtasts_error *err);

/* ---------------------------------------------------------------------- */
/* RFC 8460 result types (tlsrpt.c): the one list of the library.          */

/*
 * RFC 8460 §4.3 / IANA "STARTTLS Validation Result Types", in the order
 * reports and `mtasts metrics` list them. MTASTS_TLSRPT_NONE is no
 * failure (a successful session); MTASTS_TLSRPT_UNKNOWN is a string that
 * names no result type.
 */
enum mtasts_tlsrpt_type {
	MTASTS_TLSRPT_UNKNOWN = -2,
	MTASTS_TLSRPT_NONE = -1,
	MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED = 0,
	MTASTS_TLSRPT_CERT_HOST_MISMATCH = 1,
	MTASTS_TLSRPT_CERT_EXPIRED = 2,
	MTASTS_TLSRPT_CERT_NOT_TRUSTED = 3,
	MTASTS_TLSRPT_VALIDATION_FAILURE = 4,
	MTASTS_TLSRPT_TLSA_INVALID = 5,
	MTASTS_TLSRPT_DNSSEC_INVALID = 6,
	MTASTS_TLSRPT_DANE_REQUIRED = 7,
	MTASTS_TLSRPT_STS_FETCH_ERROR = 8,
	MTASTS_TLSRPT_STS_INVALID = 9,
	MTASTS_TLSRPT_STS_WEBPKI_INVALID = 10,
	MTASTS_TLSRPT_TYPES = 11	/* how many there are */
};

/**
 * mtasts_tlsrpt_type_name - the RFC 8460 name of a result type
 * ("starttls-not-supported", ...).
 * @param t an enum mtasts_tlsrpt_type.
 * @return a static string, or NULL for MTASTS_TLSRPT_NONE and anything
 * that is not a result type.
 */
MTASTS_API const char *mtasts_tlsrpt_type_name(int t);

/**
 * mtasts_tlsrpt_type_parse - the result type an RFC 8460 name stands for.
 * @param s a NUL-terminated name, compared exactly; NULL is "no failure".
 * @return the enum mtasts_tlsrpt_type, MTASTS_TLSRPT_NONE for NULL,
 * MTASTS_TLSRPT_UNKNOWN for any other string.
 */
MTASTS_API int mtasts_tlsrpt_type_parse(const char *s);

/* ---------------------------------------------------------------------- */
/* Decisions (enforce.c): what the MTA does, per domain and per MX host.    */

/*
 * The facts an MTA has about one outbound SMTP session (or a host it is
 * about to connect to), in neutral terms: the adapter translates its MTA's
 * words into these and the core classifies them (RFC 8460 §4.3) and
 * decides (RFC 8461 §4.1, §5). Caller-allocated; zero it first, then every
 * field left 0/NULL is "not known". Strings are borrowed for the call.
 */
enum mtasts_starttls {
	MTASTS_STARTTLS_UNKNOWN = 0,	/* no EHLO answer seen (yet) */
	MTASTS_STARTTLS_OFFERED = 1,	/* the EHLO answer lists STARTTLS */
	MTASTS_STARTTLS_NOT_OFFERED = 2,	/* an EHLO answer without it */
	MTASTS_STARTTLS_REFUSED = 3	/* offered, STARTTLS reply not 220 */
};

enum mtasts_tls_state {
	MTASTS_TLS_UNKNOWN = 0,		/* no handshake (yet) */
	MTASTS_TLS_FAILED = 1,		/* handshake or its checks failed */
	MTASTS_TLS_UP = 2		/* handshake completed */
};

/* The MTA's own certificate verification, as far as it says. */
enum mtasts_cert_check {
	MTASTS_CERT_UNKNOWN = 0,	/* not verified, or verdict not known */
	MTASTS_CERT_OK = 1,		/* chain and MX name verified */
	MTASTS_CERT_FAILED = 2,		/* failed; classify from cert_* facts */
	MTASTS_CERT_EXPIRED = 3,
	MTASTS_CERT_UNTRUSTED = 4,	/* no trusted chain: self-signed, ... */
	MTASTS_CERT_NAME_MISMATCH = 5,	/* no DNS-ID names the MX host */
	MTASTS_CERT_OTHER = 6		/* failed, reason unknown to the MTA */
};

/* DANE (RFC 7672) when the MTA's DANE decided the session (RFC 8461 §2). */
enum mtasts_dane_state {
	MTASTS_DANE_NONE = 0,		/* DANE did not decide this session */
	MTASTS_DANE_OK = 1,		/* a TLSA record matched */
	MTASTS_DANE_NO_MATCH = 2,	/* TLSA records, none matched */
	MTASTS_DANE_DNSSEC_INVALID = 3,	/* the TLSA lookup failed (bogus) */
	MTASTS_DANE_REQUIRED = 4,	/* DANE required, no usable TLSA */
	MTASTS_DANE_OTHER = 5
};

struct mtasts_session_facts {
	const char *mx_host;		/* MX host name as routed */
	const char *mx_ip;		/* its address, optional */
	int mx_literal;			/* the "host" is an address literal */
	int starttls;			/* enum mtasts_starttls */
	int tls;			/* enum mtasts_tls_state */
	const char *tls_version;	/* "TLSv1.3", informational */
	int cert;			/* enum mtasts_cert_check */
	int cert_seen;			/* a leaf certificate was received */
	long long cert_notafter;	/* its expiry (Unix s); 0 unknown */
	/*
	 * Its DNS-IDs, separated by newline, ';' or ','; an entry may carry
	 * a "DNS=" tag (Exim's subj_altname), entries with another tag are
	 * ignored. NULL when the MTA does not have them.
	 */
	const char *cert_names;
	int dane;			/* enum mtasts_dane_state */
	/* The MTA's own words for the outcome; becomes the reason. */
	const char *detail;
};

/* What the MTA does. */
enum mtasts_verdict_action {
	MTASTS_VERDICT_DELIVER = 0,	/* go ahead */
	MTASTS_VERDICT_DELIVER_REPORT = 1,	/* go ahead; report a failure */
	MTASTS_VERDICT_DEFER = 2,	/* do not deliver now (the domain) */
	MTASTS_VERDICT_SKIP_HOST = 3	/* not this MX host (next, or defer) */
};

#define MTASTS_VERDICT_REASON_MAX 320
#define MTASTS_VERDICT_STATUS_MAX 8

/*
 * A decision. Caller-allocated; the functions below fill every field.
 * status is an RFC 3463 enhanced status code for the MTA's log or SMTP
 * reply (decisions.md D-ENF-1), "" when delivering.
 */
struct mtasts_verdict {
	int action;			/* enum mtasts_verdict_action */
	int mode;			/* enum mtasts_enforce_mode applied */
	int known;			/* 1: a TLS-RPT outcome to record */
	int type;			/* enum mtasts_tlsrpt_type */
	char status[MTASTS_VERDICT_STATUS_MAX];
	char reason[MTASTS_VERDICT_REASON_MAX];	/* one line; "" none */
};

/* Which rule applies to a domain before connecting. */
enum mtasts_enforce_mode {
	MTASTS_ENFORCE_NONE = 0,	/* no policy (or mode none): as usual */
	MTASTS_ENFORCE_TESTING = 1,	/* report failures, deliver anyway */
	MTASTS_ENFORCE_ENFORCE = 2,	/* policy MX hosts, verified TLS only */
	MTASTS_ENFORCE_TEMPFAIL = 3,	/* policy unknown now: defer */
	MTASTS_ENFORCE_ERROR = 4	/* no decision (local trouble): defer */
};

/**
 * mtasts_enforce_mode_name - "none", "testing", "enforce", "tempfail",
 * "error"; a static string, never NULL.
 */
MTASTS_API const char *mtasts_enforce_mode_name(int m);

/**
 * mtasts_enforce_policy_domain - may this recipient domain have a policy?
 * RFC 8461 §3.4: a domain that is not a host name (an address literal
 * such as [192.0.2.1]) has none. Adapters ask this before the lookup,
 * because a lookup error must stay fail-closed while this is a property
 * of the address itself.
 * @param domain the recipient domain as the MTA has it.
 * @param out receives the normalised name on MTASTS_OK (may be NULL).
 * @return MTASTS_OK (look the policy up), MTASTS_NOTFOUND (no policy is
 * possible: deliver as usual), MTASTS_INVALID (NULL or empty: no domain
 * to decide about; the caller's rule applies).
 */
MTASTS_API int mtasts_enforce_policy_domain(const char *domain,
    char out[MTASTS_DOMAIN_MAX + 1]);

/**
 * mtasts_enforce_mode - the one "before connecting" decision: which mode
 * applies to domain given the outcome of its lookup.
 * @param domain the recipient domain (address literals: NONE, §3.4).
 * @param lookup_rc what mtasts_lookup() (or the plugin glue) returned.
 * @param r the lookup result when lookup_rc is MTASTS_OK, else NULL.
 * @param v optional; receives the action (DEFER for TEMPFAIL and ERROR,
 * with status 4.7.0 and the reason) and mode.
 * @return enum mtasts_enforce_mode.
 */
MTASTS_API int mtasts_enforce_mode(const char *domain, int lookup_rc,
    const struct mtasts_result *r, struct mtasts_verdict *v);

/**
 * mtasts_enforce_held_note - the MTA deferred mail under r's enforce
 * policy: remember the domain as held until the policy expires (a
 * "<cache_dir>/.held.<domain>" dotfile that `mtasts cache flush` leaves
 * alone; D-EXIM-11). No-op for anything but an enforce policy.
 * @return MTASTS_OK (also for the no-op), MTASTS_ERROR (err says why).
 */
MTASTS_API int mtasts_enforce_held_note(struct mtasts_ctx *ctx,
    const struct mtasts_result *r, struct mtasts_error *err);

/**
 * mtasts_enforce_held_apply - after a lookup: a domain held under an
 * enforce policy valid until T stays deferred until T while its policy is
 * unknown (cache entry gone or unusable and the fetch failing): r is
 * turned into MTASTS_LOOKUP_TEMPFAIL with a reason saying so. A definite
 * answer (no record, a fetched policy not in enforce mode) or the end of
 * the hold forgets it (D-EXIM-11).
 * @return 1 when r was turned into a tempfail, else 0.
 */
MTASTS_API int mtasts_enforce_held_apply(struct mtasts_ctx *ctx,
    struct mtasts_result *r);

/**
 * mtasts_enforce_cached - does the cache hold an answer a cache-only
 * lookup can route domain by right now: a valid policy (any mode), or
 * "no record" from a TXT check within txt_check_interval?
 * @param why optional; receives a one-line description of the answer.
 * @return 1 yes (policy), 2 yes (no policy), 0 no.
 */
MTASTS_API int mtasts_enforce_cached(struct mtasts_ctx *ctx,
    const char *domain, char *why, size_t whysize);

/**
 * mtasts_verdict_classify - the RFC 8460 outcome of a session from its
 * neutral facts (the one classification, D-ENF-2).
 * @param f the facts; DANE (f->dane) decides before MTA-STS.
 * @param now the time to judge cert_notafter by (0: the clock).
 * @param type receives an enum mtasts_tlsrpt_type (NONE: success).
 * @param reason receives f->detail when set, else a static
 * failure-reason-code (RFC 8460 §4.3.2) or NULL on success.
 * @return 1 when the facts show an outcome, 0 when not yet (or never).
 */
MTASTS_API int mtasts_verdict_classify(const struct mtasts_session_facts *f,
    time_t now, int *type, const char **reason);

/**
 * mtasts_verdict_session - the decision for one MX host: the policy's MX
 * rule (RFC 8461 §4.1; an address literal matches no pattern), then the
 * TLS outcome, under the mode of r (§5: enforce SKIP_HOST, testing
 * DELIVER_REPORT, none DELIVER). A host the facts have not judged yet
 * (known 0) gets DELIVER: go on.
 * @param r the lookup result or NULL (no policy: classification only).
 * @param now as for mtasts_verdict_classify().
 * @return v->known.
 */
MTASTS_API int mtasts_verdict_session(const struct mtasts_result *r,
    const struct mtasts_session_facts *f, time_t now,
    struct mtasts_verdict *v);

/* ---------------------------------------------------------------------- */
/* MX sets (mxset.c): RFC 5321 §5.1 implicit MX, RFC 7505 null MX, and the */
/* policy filter (RFC 8461 §4.1), once for every MTA.                      */

enum mtasts_mxset_kind {
	MTASTS_MXSET_LIST = 1,		/* MX records */
	MTASTS_MXSET_IMPLICIT = 2,	/* no MX RRset: the domain itself */
	MTASTS_MXSET_NULL = 3		/* RFC 7505 null MX: no mail */
};

struct mtasts_mxset;

/**
 * mtasts_mxset_build - an MX set from an MX answer the MTA already has.
 * @param domain the (normalised) domain, copied.
 * @param mx_rc the answer: MTASTS_OK with n >= 1 records, MTASTS_OK with
 * n == 0 for a null MX (RFC 7505: one "." target), MTASTS_NOTFOUND for
 * no MX RRset (implicit MX). Anything else is returned as is.
 * @param hosts n target names (copied), in preference order.
 * @param prefs their preferences, or NULL.
 * @param out receives a new set (mtasts_mxset_free()) on MTASTS_OK, NULL
 * otherwise.
 * @return MTASTS_OK, MTASTS_INVALID (a name is not a host name, or records
 * exist and none is usable), MTASTS_NOMEM, or mx_rc.
 */
MTASTS_API MTASTS_WUR int mtasts_mxset_build(const char *domain, int mx_rc,
    const char *const *hosts, const unsigned *prefs, size_t n,
    struct mtasts_mxset **out, struct mtasts_error *err);

/**
 * mtasts_mxset_resolve - the MX set of domain through the library's
 * resolver (network half: not available in the Exim module).
 * @param timeout_ms the DNS deadline; 0 means the configured dns_timeout.
 * @param out as for mtasts_mxset_build().
 * @return MTASTS_OK, MTASTS_TEMPFAIL, MTASTS_INVALID (MX records but none
 * a usable host name), MTASTS_NOMEM, MTASTS_ERROR.
 */
MTASTS_API MTASTS_WUR int mtasts_mxset_resolve(struct mtasts_ctx *ctx,
    const char *domain, int timeout_ms, struct mtasts_mxset **out,
    struct mtasts_error *err);

/** Release a set; NULL is a no-op. */
MTASTS_API void mtasts_mxset_free(struct mtasts_mxset *s);

/** enum mtasts_mxset_kind of s. */
MTASTS_API int mtasts_mxset_kind(const struct mtasts_mxset *s);

/** Hosts in s: the MX targets, the domain (implicit), 0 (null MX). */
MTASTS_API size_t mtasts_mxset_count(const struct mtasts_mxset *s);

/** Host i in preference order; borrowed, valid while s lives. */
MTASTS_API const char *mtasts_mxset_host(const struct mtasts_mxset *s,
    size_t i);

/** Preference of host i (0 for the implicit MX). */
MTASTS_API unsigned mtasts_mxset_pref(const struct mtasts_mxset *s, size_t i);

/**
 * mtasts_mxset_allowed - how many hosts of s policy p allows (p NULL:
 * all; RFC 8461 §4.1, also for the implicit MX).
 */
MTASTS_API size_t mtasts_mxset_allowed(const struct mtasts_mxset *s,
    const struct mtasts_policy *p);

/**
 * mtasts_mxset_allowed_host - the k-th host of s that p allows, in
 * preference order; borrowed, valid while s lives; NULL past the end.
 */
MTASTS_API const char *mtasts_mxset_allowed_host(const struct mtasts_mxset *s,
    const struct mtasts_policy *p, size_t k);

/**
 * mtasts_mxset_explain - a one-line reason when p leaves no host of s
 * (null MX, or no MX matches the policy), for logs; "" when some is left.
 * @return the number of allowed hosts.
 */
MTASTS_API size_t mtasts_mxset_explain(const struct mtasts_mxset *s,
    const struct mtasts_policy *p, char *why, size_t whysize);

/* Longest address text (RFC 5952 IPv6), NUL included. */
#define MTASTS_IP_TEXT_MAX 46
/* Addresses mtasts_mxset_addrs() gives for one host at most. */
#define MTASTS_MXSET_ADDRS_MAX 16

/**
 * mtasts_mxset_addrs - the addresses of an MX host through the library's
 * resolver (AAAA first, then A; network half), as text.
 * @param timeout_ms the DNS deadline; 0 means the configured dns_timeout.
 * @param ips receives up to max addresses (max <= MTASTS_MXSET_ADDRS_MAX).
 * @param n receives how many.
 * @return MTASTS_OK (n >= 1), MTASTS_NOTFOUND, MTASTS_TEMPFAIL, ...
 */
MTASTS_API int mtasts_mxset_addrs(struct mtasts_ctx *ctx, const char *host,
    int timeout_ms, char ips[][MTASTS_IP_TEXT_MAX], size_t max, size_t *n,
    struct mtasts_error *err);

/* ---------------------------------------------------------------------- */
/* Host glue: what adapters need besides the above (ctx.c, netreg.c).       */

/**
 * mtasts_ctx_set_no_reports - while on, nothing is written to the TLS-RPT
 * spool (the host is testing, not delivering; D-EXIM-10).
 */
MTASTS_API void mtasts_ctx_set_no_reports(struct mtasts_ctx *ctx, int on);

/**
 * mtasts_ctx_fork_safe - whether a child made by fork() may go on using
 * ctx: 1 while it holds nothing that belongs to its process (no resolver
 * and its thread, no TLS context, no refresh batch), as in a process that
 * only answered from the cache; 0 once it has any of them, and the child
 * must make its own context (D-EXIM-4).
 */
MTASTS_API int mtasts_ctx_fork_safe(const struct mtasts_ctx *ctx);

/*
 * The network half (DNS and HTTPS code) as an operations table. A host
 * that links only the light half of the library (the Exim module) loads
 * it on the first cache miss and registers the loader explicitly; the
 * static and shared libraries have it built in.
 */
struct mtasts_netops;
typedef const struct mtasts_netops *mtasts_net_loader_fn(
    struct mtasts_error *err);

/**
 * mtasts_ctx_set_net_loader - how ctx gets its network operations when it
 * first needs them: fn is called once (NULL restores the built-in table,
 * if any). The table is checked against this library (ABI and sizes);
 * a missing or mismatched one fails the lookup closed.
 */
MTASTS_API void mtasts_ctx_set_net_loader(struct mtasts_ctx *ctx,
    mtasts_net_loader_fn *fn);

/**
 * mtasts_netops_builtin - the network operations table of this build,
 * for the object a light host loads (mtasts_net.so); never NULL.
 */
MTASTS_API const struct mtasts_netops *mtasts_netops_builtin(void);

/**
 * mtasts_ehlo_offers - does the EHLO response resp[0..len) (lines ending
 * in CRLF or LF, the first the greeting) offer keyword kw, as a whole
 * first token, case-insensitively (D-EHLO-1)?
 * @return 1 yes, 0 no, -1 malformed (treat as "not offered").
 */
MTASTS_API int mtasts_ehlo_offers(const char *resp, size_t len, const char *kw);

/**
 * mtasts_ehlo_line_keyword - the keyword of one EHLO reply line ("250-X
 * args" gives X): 0 with kw and kwlen set (kw borrows into line), -1 for a
 * line that is not a 250 line with a keyword.
 */
MTASTS_API int mtasts_ehlo_line_keyword(const char *line, size_t len,
    const char **kw, size_t *kwlen);

/** Bounded copy; always NUL-terminates when size > 0. @return strlen(src). */
MTASTS_API size_t mtasts_strlcpy(char *dst, const char *src, size_t size);

/** Milliseconds on a monotonic clock, for deadlines and ages. */
MTASTS_API int64_t mtasts_mono_ms(void);

/**
 * mtasts_parse_u64 - decimal digits s[0..len) (at least one, nothing
 * else) as a number no larger than max.
 * @return 0 with *out set, -1 otherwise.
 */
MTASTS_API int mtasts_parse_u64(const char *s, size_t len, uint64_t max,
    uint64_t *out);

/** mx lines in one policy (RFC 8461 §3.2 sets no limit; this cap does). */
#define MTASTS_POLICY_MX_MAX 256


#ifdef __cplusplus
}
#endif

#endif /* MTASTS_H */
