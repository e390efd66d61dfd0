/* SPDX-License-Identifier: ISC */
/*
 * internal/dns.h - dns.c: the resolver and its answers.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_DNS_H
#define MTASTS_INTERNAL_DNS_H

#include "internal/base.h"

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
	MTASTS_DNSSEC_OFF = 0,		/* dnssec = off, or auto, no anchor */
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
 * cache_store.c: 1 when the host-wide note `name` in cache_dir is older than
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
/* mtasts_dns_dnssec_status(): public, in mtasts_admin.h. */
/* mtasts_dnssec_state_name(): public, in mtasts_admin.h. */

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
 * whole run; a snapshot costs a /proc/self/fd walk). async_addrs turns
 * an AAAA and an A query of host into addresses as mtasts_dns_addrs()
 * does (the queries are freed by the caller).
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

#endif /* MTASTS_INTERNAL_DNS_H */
