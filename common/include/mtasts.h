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
MTASTS_API int mtasts_txt_parse(const char *rec, size_t len, char id[MTASTS_ID_MAX + 1],
    struct mtasts_error *err);

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
MTASTS_API const char *mtasts_policy_mx(const struct mtasts_policy *p, size_t i);

/**
 * Number of raw policy lines (terminators removed), as served. TLS-RPT
 * reports them as `policy-string` (RFC 8460 §4.4).
 */
MTASTS_API size_t mtasts_policy_line_count(const struct mtasts_policy *p);

/** Raw line i; borrowed, valid while p lives. */
MTASTS_API const char *mtasts_policy_line(const struct mtasts_policy *p, size_t i);

/** The raw body as served; borrowed, valid while p lives. */
MTASTS_API const char *mtasts_policy_text(const struct mtasts_policy *p, size_t *len);

/**
 * mtasts_mx_match - does MX host name `host` match policy pattern
 * `pattern` (RFC 8461 §4.1)? Case-insensitive, a trailing dot on either is
 * ignored, "*" matches exactly one whole left-most label.
 * @return 1 on match, 0 otherwise (also for malformed input).
 */
MTASTS_API int mtasts_mx_match(const char *pattern, size_t plen, const char *host,
    size_t hlen);

/** 1 if any mx pattern of p matches host, else 0. */
MTASTS_API int mtasts_policy_mx_allowed(const struct mtasts_policy *p, const char *host,
    size_t hlen);

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
MTASTS_API void mtasts_ctx_set_log(struct mtasts_ctx *ctx, mtasts_log_fn *fn, void *arg);

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
MTASTS_API MTASTS_WUR int mtasts_lookup(struct mtasts_ctx *ctx, const char *domain,
    unsigned flags, struct mtasts_result **out, struct mtasts_error *err);

MTASTS_API void mtasts_result_free(struct mtasts_result *r);
/** enum mtasts_lookup_status */
MTASTS_API int mtasts_result_status(const struct mtasts_result *r);
/** enum mtasts_source */
MTASTS_API int mtasts_result_source(const struct mtasts_result *r);
/** The normalised policy domain; borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_domain(const struct mtasts_result *r);
/** The applied policy, or NULL; borrowed, valid while r lives. */
MTASTS_API const struct mtasts_policy *mtasts_result_policy(const struct mtasts_result *r);
/** The policy id, or NULL; borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_id(const struct mtasts_result *r);
/** When the applied policy expires (Unix seconds), 0 without policy. */
MTASTS_API time_t mtasts_result_expires(const struct mtasts_result *r);
/**
 * RFC 8460 result type of what went wrong during this lookup
 * ("sts-policy-fetch-error", ...), or NULL when nothing did. Set also when a
 * cached policy was applied because the refresh failed.
 */
MTASTS_API const char *mtasts_result_failure_type(const struct mtasts_result *r);
/** Human reason for the failure, or NULL. Borrowed, valid while r lives. */
MTASTS_API const char *mtasts_result_failure_reason(const struct mtasts_result *r);


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
	const char *result_type;	/* NULL on success, else RFC 8460 name */
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

#ifdef __cplusplus
}
#endif

#endif /* MTASTS_H */
