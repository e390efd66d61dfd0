/* SPDX-License-Identifier: ISC */
/*
 * lookup.c - RFC 8461 policy discovery and application control flow
 * (§3.1, §3.3, §5.1, §10.2) over the shared on-disk cache.
 *
 * The state machine, in order:
 *   1. fast path: a cached entry whose TXT was checked less than
 *      txt_check_interval ago is answered from the cache (no DNS, no TLS);
 *   2. TXT lookup of _mta-sts.<domain> (never a parent domain, §3.4);
 *   3. unchanged id and a valid cached policy: answer from the cache;
 *   4. otherwise fetch over HTTPS, one process per domain at a time, with
 *      the §3.3 five-minute back-off per id after a failure.
 * A failed discovery or fetch never erases or shortens a cached policy
 * (§3.3, §10.2); expired policies are never applied (decisions.md
 * D-CACHE-3). Temporary DNS failure is never "no policy" in the cache.
 * Every store is made under the domain lock into the entry read again
 * there (D-CACHE-8); an entry that exists but is unusable makes the
 * domain "unknown" (D-CACHE-6); out of memory is never an answer
 * (D-OOM-1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

#define T_TXT 16

static void
result_fail(struct mtasts_result *r, const char *type, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);

static void
result_fail(struct mtasts_result *r, const char *type, const char *fmt, ...)
{
	va_list ap;

	/* The first failure is the one that explains the outcome. */
	if (r->failure_type[0] != '\0')
		return;
	mtasts_strlcpy(r->failure_type, type, sizeof(r->failure_type));
	va_start(ap, fmt);
	if (vsnprintf(r->failure_reason, sizeof(r->failure_reason), fmt, ap) <
	    0)
		r->failure_reason[0] = '\0';
	va_end(ap);
}

/* Is the entry's policy applicable at `now` (§3.3 "valid (non-expired)")? */
static int
cache_valid(const struct mtasts_cache_entry *e, time_t now)
{
	return e != NULL && e->policy != NULL && now < e->expires_at;
}

/* Answer from the entry's policy. The result takes its own parsed copy. */
static int
answer_cache(struct mtasts_result *r, struct mtasts_cache_entry *e)
{
	r->status = MTASTS_LOOKUP_POLICY;
	r->source = MTASTS_SOURCE_CACHE;
	mtasts_strlcpy(r->id, e->id, sizeof(r->id));
	r->expires = e->expires_at;
	r->policy = e->policy;	/* ownership moves to the result */
	e->policy = NULL;
	return MTASTS_OK;
}

/* Store, logging (not failing) on error: the answer stands regardless. */
static void
store_entry(struct mtasts_ctx *ctx, const struct mtasts_cache_entry *e)
{
	struct mtasts_error err = { 0, "" };

	if (mtasts_cache_store(ctx, e, &err) != MTASTS_OK)
		mtasts_log(ctx, MTASTS_LOG_WARN,
		    "cache: cannot store policy of %s: %s", e->domain,
		    err.text);
}

static struct mtasts_cache_entry *
entry_new(const char *domain)
{
	struct mtasts_cache_entry *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	mtasts_strlcpy(e->domain, domain, sizeof(e->domain));
	return e;
}

/* a->why of a bogus answer without its "DNSSEC bogus: " subject. */
static const char *
bogus_reason(const struct mtasts_dns_answer *a)
{
	static const char subj[] = "DNSSEC bogus: ";

	return strncmp(a->why, subj, sizeof(subj) - 1) == 0 ?
	    a->why + sizeof(subj) - 1 : a->why;
}

static const char *
dns_status_name(int st)
{
	switch (st) {
	case MTASTS_DNS_NXDOMAIN:
		return "NXDOMAIN";
	case MTASTS_DNS_NODATA:
		return "no TXT record";
	case MTASTS_DNS_BOGUS:
		return "DNSSEC bogus";
	default:
		return "temporary DNS failure";
	}
}

enum txt_outcome {
	TXT_ID,		/* one valid STS record: id filled */
	TXT_NONE,	/* definite: no usable record (§3.1) */
	TXT_TEMP,	/* no answer: try later */
	/*
	 * A local fault, never the domain's: the resolver cannot work
	 * (configuration, D-CONF-5, D-DNSSEC-2) or we ran out of memory
	 * (D-OOM-1). Deferred, never cached, never reported.
	 */
	TXT_LOCAL
};

/* "_mta-sts." prepended to a domain (D-NAME-1). */
#define TXT_PREFIX "_mta-sts."
#define TXT_PREFIX_LEN (sizeof(TXT_PREFIX) - 1)

/* §3.1 discovery. reason gets a short explanation of NONE/TEMP. */
static int
txt_discover(struct mtasts_ctx *ctx, const char *domain, char *id,
    char *reason, size_t rsize, int *secure, struct mtasts_error *err)
{
	struct mtasts_dns_answer *a = NULL;
	struct mtasts_error perr = { 0, "" };
	char qname[MTASTS_DOMAIN_MAX + 16], **recs = NULL;
	size_t *lens = NULL, n = 0;
	int rc, out = TXT_TEMP;

	*secure = MTASTS_TXT_DNSSEC_NONE;
	/*
	 * D-NAME-1: _mta-sts.<domain> longer than a DNS name (253 octets
	 * in presentation form, 255 on the wire) can never exist, so such a
	 * domain can never have a policy: definite, and no query is sent.
	 */
	if (strlen(domain) > MTASTS_DOMAIN_MAX - TXT_PREFIX_LEN ||
	    (size_t)snprintf(qname, sizeof(qname), TXT_PREFIX "%s", domain) >=
	    sizeof(qname)) {
		snprintf(reason, rsize,
		    "TXT " TXT_PREFIX "<domain> would be longer than %d "
		    "octets: no policy can exist", MTASTS_DOMAIN_MAX);
		return TXT_NONE;
	}
	rc = ctx->net->dns_query(ctx, qname, T_TXT, ctx->cfg.dns_timeout_ms, &a,
	    err);
	if (rc != MTASTS_OK) {
		/* The DNS layer's errors name the resolver themselves. */
		snprintf(reason, rsize, "%sTXT %s: %s",
		    rc == MTASTS_ERROR ? "configuration: " : "", qname,
		    err != NULL && err->text[0] != '\0' ? err->text :
		    mtasts_strerror(rc));
		/*
		 * MTASTS_ERROR: the resolver cannot be set up or cannot
		 * validate with dnssec = on (D-DNSSEC-2, D-CONF-5); NOMEM:
		 * D-OOM-1. Local: defer whatever dns_failure says.
		 */
		return rc == MTASTS_ERROR || rc == MTASTS_NOMEM ? TXT_LOCAL :
		    TXT_TEMP;
	}
	*secure = !a->validating ? MTASTS_TXT_DNSSEC_OFF :
	    a->status == MTASTS_DNS_BOGUS ? MTASTS_TXT_DNSSEC_BOGUS :
	    a->secure ? MTASTS_TXT_DNSSEC_SECURE : MTASTS_TXT_DNSSEC_INSECURE;
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
		break;
	case MTASTS_DNS_BOGUS:
		/*
		 * D-DNSSEC-3: bogus under a working chain of trust is
		 * tampering or a broken signer, never "no record". Data that
		 * holds a well-formed record is used as a non-validating
		 * resolver would use it (the id only leads to the HTTPS
		 * fetch, which PKIX authenticates); anything else is a
		 * temporary DNS failure (D-DNS-1 dns_failure).
		 */
		/* a->why names the subject: "DNSSEC bogus: <reason>". */
		mtasts_log(ctx, MTASTS_LOG_WARN, "%s: TXT %s is DNSSEC-bogus "
		    "(%s); %s", domain, qname, bogus_reason(a),
		    a->bogus_status == MTASTS_DNS_ANSWER ?
		    "its unauthenticated data is used, the policy itself is "
		    "authenticated by HTTPS" :
		    "treated as a temporary DNS failure");
		if (a->bogus_status == MTASTS_DNS_ANSWER)
			break;
		snprintf(reason, rsize, "TXT %s: %s", qname, a->why);
		goto done;
	case MTASTS_DNS_NXDOMAIN:
	case MTASTS_DNS_NODATA:
		snprintf(reason, rsize, "TXT %s: %s", qname,
		    dns_status_name(a->status));
		out = TXT_NONE;
		goto done;
	default:
		snprintf(reason, rsize, "TXT %s: %s%s%s", qname,
		    dns_status_name(a->status), a->why[0] ? ": " : "", a->why);
		goto done;
	}
	if ((rc = ctx->net->dns_txt_decode(a, &recs, &lens, &n)) != MTASTS_OK) {
		if (rc == MTASTS_NOMEM) {
			snprintf(reason, rsize, "TXT %s: out of memory", qname);
			out = TXT_LOCAL;
			goto done;
		}
		snprintf(reason, rsize, "TXT %s: malformed TXT data%s", qname,
		    a->status == MTASTS_DNS_BOGUS ? " (DNSSEC bogus)" : "");
		out = a->status == MTASTS_DNS_BOGUS ? TXT_TEMP : TXT_NONE;
		goto done;
	}
	rc = mtasts_txt_select((const char *const *)recs, lens, n, id, &perr);
	if (rc == MTASTS_OK)
		out = TXT_ID;
	else if (rc == MTASTS_NOMEM) {
		snprintf(reason, rsize, "TXT %s: out of memory", qname);
		out = TXT_LOCAL;
	} else if (a->status == MTASTS_DNS_BOGUS) {
		/* Unusable bogus data: not "no record" (D-DNSSEC-3). */
		snprintf(reason, rsize, "TXT %s: %s (%s)", qname,
		    rc == MTASTS_NOTFOUND ? "no STS record" : perr.text,
		    a->why);
		out = TXT_TEMP;
	} else {
		snprintf(reason, rsize, "TXT %s: %s", qname,
		    rc == MTASTS_NOTFOUND ? "no STS record" : perr.text);
		out = TXT_NONE;
	}
done:
	ctx->net->dns_txt_free(recs, lens, n);
	ctx->net->dns_answer_free(a);
	return out;
}

/*
 * D-CACHE-6: the entry file exists but cannot be used, and discovery did
 * not give a policy to replace it: the domain is "unknown", the mail is
 * deferred, and the operator is told what to do.
 */
static int
answer_unusable(struct mtasts_ctx *ctx, struct mtasts_result *r,
    const char *why, const char *what)
{
	/* This explains the outcome better than any earlier failure. */
	r->failure_type[0] = '\0';
	/* The fix first: the reason is cut at MTASTS_REASON_MAX. */
	result_fail(r, MTASTS_RT_STS_FETCH_ERROR,
	    "cache entry unusable (fix: mtasts cache flush %s, or mtasts "
	    "refresh) and %s", r->domain, what);
	mtasts_log(ctx, MTASTS_LOG_ERR,
	    "%s: deferred: %s, and %s; if the domain no longer publishes "
	    "MTA-STS run `mtasts cache flush %s`, otherwise `mtasts refresh` "
	    "once its policy can be fetched", r->domain, why, what,
	    r->domain);
	r->status = MTASTS_LOOKUP_TEMPFAIL;
	return MTASTS_OK;
}

/* The cache entry as first read, and what became of it. */
struct lk_cache {
	int unusable;			/* file there, but unusable */
	char why[MTASTS_ERROR_TEXT_MAX];	/* ... why (cache.c's text) */
};

/*
 * Of two entries of one domain, the one to answer from: a valid policy
 * beats none, the later fetch beats the earlier (D-CACHE-8).
 */
static int
prefer_fresh(const struct mtasts_cache_entry *e,
    const struct mtasts_cache_entry *f, time_t now)
{
	if (cache_valid(f, now))
		return !cache_valid(e, now) || f->fetched_at >= e->fetched_at;
	return !cache_valid(e, now);
}

/*
 * Record a TXT check and answer (D-CACHE-8). txt_id is the id the TXT
 * record carries, which equals the id of *ep's valid policy, or "" when
 * discovery definitely found no record.
 *
 * The store happens only under the domain lock, taken without waiting
 * (a busy lock means another process is storing right now: the check is
 * simply not recorded), and only into the entry read again under that
 * lock: txt_checked_at and txt_id advance, the policy, its expiry and the
 * fail record are never touched, and a negative entry is only created
 * where no entry exists. So a process that read the cache before another
 * stored a newer policy can never erase or downgrade it.
 */
static int
txt_checked(struct mtasts_ctx *ctx, struct mtasts_cache_entry **ep,
    const char *txt_id, struct lk_cache *lc, time_t now,
    struct mtasts_result *r)
{
	struct mtasts_cache_entry *e = *ep, *f = NULL;
	struct mtasts_error err = { 0, "" };
	int lockfd = -1, locked, rc, reread_failed = 0;

	rc = mtasts_cache_lock(ctx, e->domain, 0, &lockfd, &err);
	locked = rc == MTASTS_OK;
	if (rc == MTASTS_TEMPFAIL)
		mtasts_log(ctx, MTASTS_LOG_DEBUG,
		    "%s: cache busy: TXT check not recorded", e->domain);
	else if (rc != MTASTS_OK)
		mtasts_log(ctx, MTASTS_LOG_WARN,
		    "%s: cannot record the TXT check: %s", e->domain,
		    err.text);
	err.code = 0;
	err.text[0] = '\0';
	rc = mtasts_cache_load(ctx, e->domain, &f, &err);
	switch (rc) {
	case MTASTS_OK:
		lc->unusable = 0;
		if (now >= f->txt_checked_at &&
		    (txt_id[0] == '\0' ||
			(cache_valid(f, now) && strcmp(f->id, txt_id) == 0))) {
			f->txt_checked_at = now;
			mtasts_strlcpy(f->txt_id, txt_id, sizeof(f->txt_id));
			if (locked)
				store_entry(ctx, f);
		}
		if (prefer_fresh(e, f, now)) {
			mtasts_cache_entry_free(e);
			*ep = e = f;
		} else
			mtasts_cache_entry_free(f);
		break;
	case MTASTS_NOTFOUND:
		/* Gone (flushed) or never there: no evidence of a policy. */
		lc->unusable = 0;
		if (txt_id[0] == '\0' && !cache_valid(e, now)) {
			e->txt_checked_at = now;
			e->txt_id[0] = '\0';
			if (locked)
				store_entry(ctx, e);
		}
		break;
	case MTASTS_CACHE_UNUSABLE:
		lc->unusable = 1;
		mtasts_strlcpy(lc->why, err.text, sizeof(lc->why));
		break;
	default:
		/* Out of memory, unreadable: what is there is unknown. */
		reread_failed = 1;
		result_fail(r, MTASTS_RT_STS_FETCH_ERROR, "cache: %s",
		    err.text);
		break;
	}
	if (locked)
		mtasts_cache_unlock(lockfd);
	if (cache_valid(e, now))
		return answer_cache(r, e);
	if (lc->unusable)
		return answer_unusable(ctx, r, lc->why,
		    "no TXT record was found (an unexpired policy survives "
		    "its removal)");
	r->status = reread_failed ? MTASTS_LOOKUP_TEMPFAIL : MTASTS_LOOKUP_NONE;
	return MTASTS_OK;
}

/*
 * Fetch and parse the live policy for `id`, holding the domain lock.
 * On success fills *e (policy, id, times) and returns 1; on failure records
 * the failure in e->fail_* and in r, keeps e's policy, and returns 0.
 * Out of memory (D-OOM-1) or a local fault such as a CA store that cannot
 * be loaded (D-CONF-5) is no failure of the domain: it is recorded in r
 * only, never in e, and -1 is returned.
 */
static int
fetch_into(struct mtasts_ctx *ctx, struct mtasts_cache_entry *e,
    const char *id, time_t now, struct mtasts_result *r)
{
	struct mtasts_fetch f;
	struct mtasts_policy *p = NULL;
	struct mtasts_error perr = { 0, "" };
	int ok = 0, prc;

	ctx->net->fetch_policy(ctx, e->domain, &f);
	if (f.rc == MTASTS_ERROR) {
		result_fail(r, MTASTS_RT_STS_FETCH_ERROR, "%s", f.reason);
		mtasts_log(ctx, MTASTS_LOG_ERR, "%s: cannot fetch the policy: "
		    "%s", e->domain, f.reason);
		ctx->net->fetch_clear(&f);
		return -1;
	}
	if (f.rc == MTASTS_OK) {
		prc = mtasts_policy_parse(f.body, f.body_len, &p, &perr);
		if (prc == MTASTS_OK)
			ok = 1;
		else if (prc == MTASTS_NOMEM)
			f.rc = MTASTS_NOMEM;
		else {
			mtasts_strlcpy(f.result_type, MTASTS_RT_STS_INVALID,
			    sizeof(f.result_type));
			snprintf(f.reason, sizeof(f.reason),
			    "policy invalid: %s", perr.text);
		}
	}
	if (ok) {
		mtasts_policy_free(e->policy);
		e->policy = p;
		mtasts_strlcpy(e->id, id, sizeof(e->id));
		e->fetched_at = now;
		e->expires_at = now + (time_t)mtasts_policy_max_age(p);
		e->fail_at = 0;
		e->fail_id[0] = e->fail_type[0] = e->fail_reason[0] = '\0';
		mtasts_log(ctx, MTASTS_LOG_INFO,
		    "%s: fetched policy id %s mode %s max_age %u", e->domain,
		    id, mtasts_mode_name(mtasts_policy_mode(p)),
		    (unsigned)mtasts_policy_max_age(p));
	} else if (f.rc == MTASTS_NOMEM) {
		ok = -1;
		result_fail(r, MTASTS_RT_STS_FETCH_ERROR,
		    "policy fetch for id %s: out of memory (local)", id);
		mtasts_log(ctx, MTASTS_LOG_WARN,
		    "%s: policy fetch for id %s: out of memory%s", e->domain,
		    id, cache_valid(e, now) ? "; cached policy still applied" :
		    "; deferred");
	} else {
		const char *type = f.result_type[0] ? f.result_type :
		    MTASTS_RT_STS_FETCH_ERROR;

		e->fail_at = now;
		mtasts_strlcpy(e->fail_id, id, sizeof(e->fail_id));
		mtasts_strlcpy(e->fail_type, type, sizeof(e->fail_type));
		mtasts_strlcpy(e->fail_reason, f.reason[0] ? f.reason :
		    "policy fetch failed", sizeof(e->fail_reason));
		result_fail(r, type, "%s", e->fail_reason);
		/*
		 * §3.3 SHOULD: alert administrators when a refresh fails,
		 * unless the cached policy mode is none.
		 */
		mtasts_log(ctx,
		    e->policy != NULL &&
		    mtasts_policy_mode(e->policy) != MTASTS_MODE_NONE ?
		    MTASTS_LOG_WARN : MTASTS_LOG_INFO,
		    "%s: policy fetch for id %s failed (%s): %s%s", e->domain,
		    id, type, e->fail_reason,
		    cache_valid(e, now) ? "; cached policy still applied" : "");
	}
	ctx->net->fetch_clear(&f);
	return ok;
}

static int
lookup_locked_fetch(struct mtasts_ctx *ctx, struct mtasts_cache_entry **ep,
    const char *id, unsigned flags, time_t now, struct mtasts_result *r,
    struct lk_cache *lc)
{
	struct mtasts_cache_entry *e = *ep, *fresh = NULL;
	struct mtasts_error err = { 0, "" };
	int lockfd = -1, wait, rc, ok;

	wait = ctx->cfg.lock_wait_ms >= 0 ? ctx->cfg.lock_wait_ms :
	    ctx->cfg.fetch_timeout_ms;
	rc = mtasts_cache_lock(ctx, e->domain, wait, &lockfd, &err);
	if (rc != MTASTS_OK) {
		/*
		 * Busy: another process is fetching this domain right now.
		 * Anything else is local trouble the operator must hear of,
		 * also when the cached policy covers for it.
		 */
		if (rc != MTASTS_TEMPFAIL)
			mtasts_log(ctx, MTASTS_LOG_ERR,
			    "%s: no policy fetch: %s%s", e->domain, err.text,
			    cache_valid(e, now) ? "; cached policy applied" :
			    "; deferred");
		if (cache_valid(e, now))
			return answer_cache(r, e);
		if (lc->unusable)
			return answer_unusable(ctx, r, lc->why,
			    "the policy cannot be fetched now");
		result_fail(r, MTASTS_RT_STS_FETCH_ERROR, "%s",
		    rc == MTASTS_TEMPFAIL ?
			"policy fetch in progress in another process" :
			err.text);
		r->status = MTASTS_LOOKUP_TEMPFAIL;
		return MTASTS_OK;
	}
	/* Whoever held the lock may have just done our work: re-read. */
	err.code = 0;
	err.text[0] = '\0';
	rc = mtasts_cache_load(ctx, e->domain, &fresh, &err);
	if (rc == MTASTS_OK) {
		lc->unusable = 0;
		mtasts_cache_entry_free(e);
		*ep = e = fresh;
		if (!(flags & MTASTS_LOOKUP_FORCE_FETCH) &&
		    cache_valid(e, now) && strcmp(e->id, id) == 0) {
			mtasts_cache_unlock(lockfd);
			return answer_cache(r, e);
		}
		if (!(flags & MTASTS_LOOKUP_FORCE_FETCH) && e->fail_at != 0 &&
		    strcmp(e->fail_id, id) == 0 && now >= e->fail_at &&
		    now - e->fail_at < MTASTS_FETCH_BACKOFF) {
			mtasts_cache_unlock(lockfd);
			result_fail(r, e->fail_type,
			    "back-off after recent fetch error: %s",
			    e->fail_reason);
			if (cache_valid(e, now))
				return answer_cache(r, e);
			r->status = MTASTS_LOOKUP_NONE;
			return MTASTS_OK;
		}
	} else if (rc == MTASTS_NOTFOUND)
		lc->unusable = 0;
	else if (rc == MTASTS_CACHE_UNUSABLE) {
		lc->unusable = 1;
		mtasts_strlcpy(lc->why, err.text, sizeof(lc->why));
	} else {
		/* Out of memory, unreadable: cannot merge, do not store. */
		mtasts_cache_unlock(lockfd);
		result_fail(r, MTASTS_RT_STS_FETCH_ERROR, "cache: %s",
		    err.text);
		if (cache_valid(e, now) &&
		    !(flags & MTASTS_LOOKUP_FORCE_FETCH))
			return answer_cache(r, e);
		r->status = MTASTS_LOOKUP_TEMPFAIL;
		return MTASTS_OK;
	}
	e->txt_checked_at = now;
	mtasts_strlcpy(e->txt_id, id, sizeof(e->txt_id));
	ok = fetch_into(ctx, e, id, now, r);
	if (ok > 0) {
		/* Replaces an unusable file too (D-CACHE-6). */
		store_entry(ctx, e);
		mtasts_cache_unlock(lockfd);
		r->status = MTASTS_LOOKUP_POLICY;
		r->source = MTASTS_SOURCE_FETCHED;
		mtasts_strlcpy(r->id, e->id, sizeof(r->id));
		r->expires = e->expires_at;
		r->policy = e->policy;
		e->policy = NULL;
		return MTASTS_OK;
	}
	if (ok < 0) {
		/* D-OOM-1: nothing stored, nothing reported. */
		mtasts_cache_unlock(lockfd);
		if (cache_valid(e, now))
			return answer_cache(r, e);
		r->status = MTASTS_LOOKUP_TEMPFAIL;
		return MTASTS_OK;
	}
	/*
	 * The failure record goes into the entry re-read under the lock.
	 * Over an unusable file only when it restores a valid policy: the
	 * unusable file is the evidence that keeps the domain "unknown".
	 */
	if (!lc->unusable || cache_valid(e, now))
		store_entry(ctx, e);
	mtasts_cache_unlock(lockfd);
	/*
	 * RFC 8461 §6 / RFC 8460 §4.3.2: a failed fetch for a delivery is
	 * reported (sts-*). `mtasts refresh` (FORCE_FETCH) is not a session.
	 */
	if (!(flags & MTASTS_LOOKUP_FORCE_FETCH))
		mtasts_tlsrpt_record_fetch_failure(ctx, e->domain,
		    r->failure_type, r->failure_reason, now);
	if (cache_valid(e, now))
		return answer_cache(r, e);
	if (lc->unusable)
		return answer_unusable(ctx, r, lc->why,
		    "the policy fetch failed");
	r->status = MTASTS_LOOKUP_NONE;
	return MTASTS_OK;
}

/*
 * One lookup, passed through its steps (mtasts_lookup). A step answers
 * (returns 1, with l->r filled and l->rc the lookup's return code) or
 * passes the lookup on to the next (0).
 */
struct lk {
	struct mtasts_ctx *ctx;
	unsigned flags;
	time_t now;
	struct mtasts_result *r;
	struct mtasts_cache_entry *e;	/* the cached entry, or NULL */
	struct lk_cache lc;
	char id[MTASTS_ID_MAX + 1];	/* the TXT record's id */
	char reason[MTASTS_REASON_MAX];	/* why discovery failed */
	int txt;			/* TXT_* of discovery */
	int rc;
	struct mtasts_error *err;	/* the caller's */
};

#define FORCED(l) (((l)->flags & MTASTS_LOOKUP_FORCE_FETCH) != 0)

/* Read the cache entry; an unreadable cache answers TEMPFAIL. */
static int
step_read_cache(struct lk *l)
{
	struct mtasts_error lerr = { 0, "" };
	int rc;

	rc = mtasts_cache_load(l->ctx, l->r->domain, &l->e, &lerr);
	if (rc == MTASTS_CACHE_UNUSABLE) {
		/* D-CACHE-6: there, unusable: evidence of a policy. */
		l->lc.unusable = 1;
		mtasts_strlcpy(l->lc.why, lerr.text, sizeof(l->lc.why));
		l->e = NULL;
	} else if (rc != MTASTS_OK && rc != MTASTS_NOTFOUND) {
		/*
		 * Unreadable cache, or out of memory: fail closed, the
		 * caller defers (D-CACHE-6, D-OOM-1).
		 */
		result_fail(l->r, MTASTS_RT_STS_FETCH_ERROR, "cache: %s",
		    lerr.text);
		l->r->status = MTASTS_LOOKUP_TEMPFAIL;
		return 1;
	}
	return 0;
}

/* 1. Fast path: TXT checked recently; no DNS, no TLS. */
static int
step_txt_recent(struct lk *l)
{
	struct mtasts_cache_entry *e = l->e;

	if (e == NULL || FORCED(l) || e->txt_checked_at > l->now ||
	    l->now - e->txt_checked_at >= l->ctx->cfg.txt_check_interval)
		return 0;
	if (cache_valid(e, l->now)) {
		answer_cache(l->r, e);
		return 1;
	}
	if (e->policy == NULL && e->txt_id[0] == '\0') {
		/* Remembered negative answer (no record). */
		l->r->status = MTASTS_LOOKUP_NONE;
		return 1;
	}
	return 0;
}

/* MTASTS_LOOKUP_CACHE_ONLY: the cache's answer, whatever it is. */
static int
step_cache_only(struct lk *l)
{
	if (!(l->flags & MTASTS_LOOKUP_CACHE_ONLY))
		return 0;
	if (cache_valid(l->e, l->now))
		answer_cache(l->r, l->e);
	else if (l->lc.unusable)
		answer_unusable(l->ctx, l->r, l->lc.why,
		    "this lookup may not use the network");
	else
		l->r->status = MTASTS_LOOKUP_NONE;
	return 1;
}

/*
 * The network half is needed from here on. Without it (the Exim module's
 * mtasts_net.so missing or mismatched) nothing can be discovered: a valid
 * cached policy still applies, anything else is deferred, never "no
 * policy" (that would silently drop enforce).
 */
static int
step_network(struct lk *l)
{
	struct mtasts_error lerr = { 0, "" };

	if (mtasts_netops_get(l->ctx, &lerr) != NULL)
		return 0;
	result_fail(l->r, MTASTS_RT_STS_FETCH_ERROR, "%s", lerr.text);
	mtasts_log(l->ctx, MTASTS_LOG_ERR, "%s: %s", l->r->domain, lerr.text);
	if (cache_valid(l->e, l->now) && !FORCED(l))
		answer_cache(l->r, l->e);
	else
		l->r->status = MTASTS_LOOKUP_TEMPFAIL;
	return 1;
}

/* 2. TXT discovery; from here on there is an entry to update. */
static int
step_discover(struct lk *l)
{
	struct mtasts_error lerr = { 0, "" };
	int secure;

	l->txt = txt_discover(l->ctx, l->r->domain, l->id, l->reason,
	    sizeof(l->reason), &secure, &lerr);
	l->r->txt_dnssec = secure;
	if (l->e == NULL && (l->e = entry_new(l->r->domain)) == NULL) {
		l->rc = mtasts_err(l->err, MTASTS_NOMEM, "out of memory");
		return 1;
	}
	return 0;
}

/* `mtasts refresh` without a usable TXT id: fetch under the cached id. */
static int
fetch_cached_id(struct lk *l)
{
	mtasts_strlcpy(l->id, l->e->id, sizeof(l->id));
	l->rc = lookup_locked_fetch(l->ctx, &l->e, l->id, l->flags, l->now,
	    l->r, &l->lc);
	return 1;
}

/* No TXT answer (TXT_TEMP) or a local fault (TXT_LOCAL). */
static int
step_txt_failed(struct lk *l)
{
	struct mtasts_result *r = l->r;
	struct mtasts_cache_entry *e = l->e;

	if (l->txt != TXT_TEMP && l->txt != TXT_LOCAL)
		return 0;
	/*
	 * §3.3: no live policy discovered; a valid cache applies. A local
	 * fault (TXT_LOCAL) is logged as an error, defers whatever
	 * dns_failure says and is not the domain's to report.
	 */
	result_fail(r, MTASTS_RT_STS_FETCH_ERROR, "%s", l->reason);
	mtasts_log(l->ctx, l->txt == TXT_LOCAL ? MTASTS_LOG_ERR :
	    MTASTS_LOG_INFO, "%s: %s", r->domain, l->reason);
	if (!cache_valid(e, l->now)) {
		if (l->lc.unusable) {
			answer_unusable(l->ctx, r, l->lc.why, l->reason);
			return 1;
		}
		r->status = l->txt == TXT_LOCAL || l->ctx->cfg.dns_failure ==
		    MTASTS_DNSFAIL_TEMPFAIL ? MTASTS_LOOKUP_TEMPFAIL :
		    MTASTS_LOOKUP_NONE;
		return 1;
	}
	if (!FORCED(l)) {
		/*
		 * RFC 8461 §6: a policy fetch failure of any kind while a
		 * valid cached policy exists is reportable, unless its mode
		 * is none. A local fault (TXT_LOCAL) is not the domain's.
		 */
		if (l->txt == TXT_TEMP &&
		    mtasts_policy_mode(e->policy) != MTASTS_MODE_NONE)
			mtasts_tlsrpt_record_fetch_failure(l->ctx, r->domain,
			    MTASTS_RT_STS_FETCH_ERROR, l->reason, l->now);
		answer_cache(r, e);
		return 1;
	}
	/* refresh (§10.2): fetch anyway, under the cached id */
	return fetch_cached_id(l);
}

/* A definite "no record" (TXT_NONE). */
static int
step_txt_none(struct lk *l)
{
	if (l->txt != TXT_NONE)
		return 0;
	mtasts_log(l->ctx, MTASTS_LOG_DEBUG, "%s: %s", l->r->domain,
	    l->reason);
	/*
	 * §3.1 note, §10.2: a removed TXT record does not remove an
	 * unexpired cached policy. Refresh still re-fetches it under the
	 * cached id.
	 */
	if (cache_valid(l->e, l->now) && FORCED(l))
		return fetch_cached_id(l);
	l->rc = txt_checked(l->ctx, &l->e, "", &l->lc, l->now, l->r);
	return 1;
}

/* 3. Unchanged id and a valid cached policy (§3, §5.1). */
static int
step_id_unchanged(struct lk *l)
{
	if (!cache_valid(l->e, l->now) || strcmp(l->e->id, l->id) != 0 ||
	    FORCED(l))
		return 0;
	l->rc = txt_checked(l->ctx, &l->e, l->id, &l->lc, l->now, l->r);
	return 1;
}

/* 4. §3.3 back-off: no new fetch for the same id for 5 minutes. */
static int
step_backoff(struct lk *l)
{
	struct mtasts_cache_entry *e = l->e;

	if (FORCED(l) || e->fail_at == 0 || strcmp(e->fail_id, l->id) != 0 ||
	    l->now < e->fail_at || l->now - e->fail_at >= MTASTS_FETCH_BACKOFF)
		return 0;
	result_fail(l->r, e->fail_type, "back-off after recent fetch error: %s",
	    e->fail_reason);
	if (cache_valid(e, l->now))
		answer_cache(l->r, e);
	else
		l->r->status = MTASTS_LOOKUP_NONE;
	return 1;
}

/* 5. Fetch the policy (under the domain lock) and answer. */
static int
step_fetch(struct lk *l)
{
	l->rc = lookup_locked_fetch(l->ctx, &l->e, l->id, l->flags, l->now,
	    l->r, &l->lc);
	return 1;
}

int
mtasts_lookup(struct mtasts_ctx *ctx, const char *domain, unsigned flags,
    struct mtasts_result **out, struct mtasts_error *err)
{
	struct lk l;
	int rc;

	*out = NULL;
	if (ctx == NULL || domain == NULL)
		return mtasts_err(err, MTASTS_ERROR, "lookup: no context");
	/*
	 * D-CONF-1: a configuration made through mtasts_ctx_set() (or
	 * changed since it was loaded) is checked before its first use; a
	 * bad one is an error, never an answer.
	 */
	if ((rc = mtasts_ctx_finalize(ctx, err)) != MTASTS_OK)
		return rc;
	/* Not memset: the hit path need not clear the reason buffers. */
	l.ctx = ctx;
	l.flags = flags;
	l.now = mtasts_now(ctx);
	l.e = NULL;
	l.lc.unusable = 0;
	l.lc.why[0] = '\0';
	l.id[0] = l.reason[0] = '\0';
	l.txt = TXT_TEMP;
	l.rc = MTASTS_OK;
	l.err = err;
	if ((l.r = calloc(1, sizeof(*l.r))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	rc = mtasts_domain_normalize(domain, strlen(domain), l.r->domain,
	    err);
	if (rc != MTASTS_OK) {
		mtasts_result_free(l.r);
		return rc;
	}
	/* The steps in order; the first that answers ends the lookup. */
	(void)(step_read_cache(&l) || step_txt_recent(&l) ||
	    step_cache_only(&l) || step_network(&l) || step_discover(&l) ||
	    step_txt_failed(&l) || step_txt_none(&l) ||
	    step_id_unchanged(&l) || step_backoff(&l) || step_fetch(&l));
	mtasts_cache_entry_free(l.e);
	if (l.rc != MTASTS_OK && l.rc != MTASTS_NOTFOUND) {
		mtasts_result_free(l.r);
		return l.rc;
	}
	*out = l.r;
	return MTASTS_OK;
}

void
mtasts_result_free(struct mtasts_result *r)
{
	if (r == NULL)
		return;
	mtasts_policy_free(r->policy);
	free(r);
}

int
mtasts_result_status(const struct mtasts_result *r)
{
	return r->status;
}

int
mtasts_result_source(const struct mtasts_result *r)
{
	return r->source;
}

const char *
mtasts_result_domain(const struct mtasts_result *r)
{
	return r->domain;
}

const struct mtasts_policy *
mtasts_result_policy(const struct mtasts_result *r)
{
	return r->policy;
}

const char *
mtasts_result_id(const struct mtasts_result *r)
{
	return r->id[0] != '\0' ? r->id : NULL;
}

time_t
mtasts_result_expires(const struct mtasts_result *r)
{
	return r->expires;
}

const char *
mtasts_result_failure_type(const struct mtasts_result *r)
{
	return r->failure_type[0] != '\0' ? r->failure_type : NULL;
}

const char *
mtasts_result_failure_reason(const struct mtasts_result *r)
{
	return r->failure_reason[0] != '\0' ? r->failure_reason : NULL;
}

const char *
mtasts_result_txt_dnssec(const struct mtasts_result *r)
{
	switch (r->txt_dnssec) {
	case MTASTS_TXT_DNSSEC_OFF:
		return "off";
	case MTASTS_TXT_DNSSEC_INSECURE:
		return "insecure";
	case MTASTS_TXT_DNSSEC_SECURE:
		return "secure";
	case MTASTS_TXT_DNSSEC_BOGUS:
		return "bogus";
	default:
		return NULL;
	}
}
