/* SPDX-License-Identifier: ISC */
/*
 * table_mtasts.c - table-mtasts, an OpenSMTPD proc-table backend (6.8 imsg
 * protocol, table_proto_imsg.c; 7.x text protocol 0.1, table_proto_text.c;
 * detected from smtpd's first bytes, D-OSMTPD-13) that answers from the
 * MTA-STS policy cache:
 *
 *	K_DOMAIN check		1 when the domain has a valid enforce policy
 *	K_RELAYHOST lookup	smtp+tls://<policy-valid MX> for an enforce
 *				domain, rotated across attempts; smtp://<MX>
 *				when no policy applies any more
 *
 * smtpd's lka process calls a proc table synchronously and dies with it
 * (mta-integration.md B2), so the request loop only reads the on-disk
 * cache (MTASTS_LOOKUP_CACHE_ONLY) and an in-memory MX map. MX sets are
 * resolved by a resolver thread with its own libmtasts context: prefetched
 * when a K_DOMAIN check says "enforce" (RCPT time), refreshed in the
 * background, and waited for within a budget shared by all lookups
 * (MTASTS_OSMTPD_MX_WAIT_MS per TABLE_WAIT_WINDOW_MS). Policies are
 * fetched by filter-mtasts at RCPT time and by `mtasts refresh`; the
 * table's discovery thread fetches only for enforce-route mail whose cache
 * entry was lost (decisions.md D-OSMTPD-9), never on the request path.
 * On 6.8 the process never exits on bad input (table_proto_imsg.c); on 7.x
 * a protocol violation stops it (D-OSMTPD-13).
 *
 * Usage (smtpd.conf): table mtasts mtasts:/etc/mtasts.conf
 * smtpd runs /usr/libexec/opensmtpd/table-mtasts with argv[1] = the text
 * after "mtasts:" and the table socket on stdin.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "osmtpd.h"
#include "table_proto_imsg.h"
#include "table_proto_text.h"

/*
 * Policy discovery on the enforce route (decisions.md D-OSMTPD-9): mail
 * routed to the enforce action whose cache entry is missing, unusable or
 * expired is held (the relay lookup tempfails) and the domain is queued
 * for a full discovery in the table's discovery thread, never on the
 * request path. DISC_FRESH: how long an established "no policy" answer
 * of that thread lets held mail go opportunistic; DISC_RETRY: no new
 * discovery of a domain this soon after one that established nothing
 * (smtpd retries much more slowly anyway).
 */
#define TABLE_DISC_QUEUE_MAX 256
#define TABLE_DISC_FRESH_MS (600 * 1000)
#define TABLE_DISC_RETRY_MS (10 * 1000)
/*
 * K_RELAYHOST lookups may wait for a pending MX resolution, but smtpd's
 * lka blocks meanwhile: all of them together wait at most
 * MTASTS_OSMTPD_MX_WAIT_MS per WAIT_WINDOW (decisions.md D-OSMTPD-2).
 */
#define TABLE_WAIT_WINDOW_MS (10 * 1000)

struct mxent {
	char domain[MTASTS_DOMAIN_MAX + 1];	/* "" = free slot */
	struct mtasts_mxset *set;	/* the core's MX set; NULL: none yet */
	int64_t at_ms;			/* last successful resolution */
	int64_t fail_ms;		/* last failed resolution */
	int queued;
	unsigned rot;			/* rotation counter */
	int64_t rot_ms;			/* start of the current round */
	/* policy discovery for the enforce route (D-OSMTPD-9) */
	int disc_queued;
	int64_t disc_none_ms;		/* discovery established "no policy" */
	int64_t disc_fail_ms;		/* a discovery established nothing */
};

struct table {
	const char *config;		/* NULL = library default */
	struct mtasts_ctx *ctx;		/* request loop only */
	/* D-OSMTPD-12: why ctx is NULL ("" = loaded); set before threads */
	char conf_err[MTASTS_ERROR_TEXT_MAX];
	int64_t conf_logged_ms;		/* last per-request reminder */
	pthread_mutex_t mu;
	pthread_cond_t work;		/* queue not empty */
	pthread_cond_t done;		/* a resolution finished */
	struct mxent *map;		/* MTASTS_OSMTPD_MX_SLOTS */
	size_t nmap;
	char queue[MTASTS_OSMTPD_QUEUE_MAX][MTASTS_DOMAIN_MAX + 1];
	size_t qhead, qlen;
	/* policy discoveries for the discovery thread (D-OSMTPD-9) */
	pthread_cond_t dwork;
	char dqueue[TABLE_DISC_QUEUE_MAX][MTASTS_DOMAIN_MAX + 1];
	size_t dhead, dlen;
	/* K_RELAYHOST wait budget (D-OSMTPD-2) */
	int64_t wait_window_ms;		/* start of the current window */
	int64_t waited_ms;		/* waited in it */
	unsigned long lookups, fast;
};

static int log_stderr;

static void
log_sink(void *arg, int level, const char *msg)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		LOG_DEBUG };
	static const char *const name[] = { "error", "warning", "info",
		"debug" };

	(void)arg;
	if (level < 0 || level > MTASTS_LOG_DEBUG)
		level = MTASTS_LOG_ERR;
	if (log_stderr)
		fprintf(stderr, "table-mtasts[%ld]: %s: %s\n", (long)getpid(),
		    name[level], msg);
	else if (level <= MTASTS_LOG_INFO)
		syslog(prio[level], "%s", msg);
}

static void tlog(int level, const char *fmt, ...) MTASTS_OSMTPD_PRINTF(2, 3);

static void
tlog(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	log_sink(NULL, level, msg);
}

/*
 * A context for one thread. D-OSMTPD-12: mtasts.conf is read once, when
 * smtpd starts the table; a configuration error is logged once (by the
 * main thread: the threads stay quiet about the same error) and every
 * request is then answered with a temporary failure.
 */
static struct mtasts_ctx *
ctx_make(struct table *t, int quiet)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;

	if ((ctx = mtasts_ctx_new()) == NULL) {
		tlog(MTASTS_LOG_ERR, "out of memory");
		return NULL;
	}
	mtasts_ctx_set_log(ctx, log_sink, NULL);
	if (mtasts_ctx_load_config(ctx, t->config, &err) != MTASTS_OK) {
		if (t->conf_err[0] == '\0')
			mtasts_strlcpy(t->conf_err, err.text,
			    sizeof(t->conf_err));
		if (!quiet)
			tlog(MTASTS_LOG_ERR, "configuration error: %s; "
			    "every request is answered with a temporary "
			    "failure (new mail is deferred at RCPT, queued "
			    "enforce mail stays queued): fix it, check with "
			    "`mtasts check --local`, then restart smtpd",
			    err.text);
		mtasts_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * No configuration: a reminder with the request's domain, at most once a
 * minute (the error itself was logged at start). Not locked: the request
 * loop is the only caller.
 */
static void
conf_remind(struct table *t, const char *what, const char *domain)
{
	int64_t now = mtasts_mono_ms();

	if (t->conf_logged_ms != 0 && now - t->conf_logged_ms < 60000)
		return;
	t->conf_logged_ms = now;
	tlog(MTASTS_LOG_ERR, "%s %.253s: temporary failure: configuration "
	    "error: %s (restart smtpd after fixing it)", what, domain,
	    t->conf_err[0] != '\0' ? t->conf_err : "not loaded");
}

/* ------------------------------------------------------------ MX map */

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static void
map_wipe(struct table *t)
{
	size_t i;

	for (i = 0; i < MTASTS_OSMTPD_MX_SLOTS; i++)
		mtasts_mxset_free(t->map[i].set);
	memset(t->map, 0, MTASTS_OSMTPD_MX_SLOTS * sizeof(*t->map));
	t->nmap = 0;
}

/* Find (or with create, add) the entry of a normalised domain. Locked. */
static struct mxent *
map_get(struct table *t, const char *domain, int create)
{
	size_t i, n;
	struct mxent *e;

	if (create && t->nmap >= MTASTS_OSMTPD_MX_SLOTS / 4 * 3) {
		/* Bounded memory: start over; hot domains come back. */
		tlog(MTASTS_LOG_INFO, "MX map full (%zu domains), cleared",
		    t->nmap);
		map_wipe(t);
	}
	i = hash(domain) % MTASTS_OSMTPD_MX_SLOTS;
	for (n = 0; n < MTASTS_OSMTPD_MX_SLOTS; n++) {
		e = &t->map[(i + n) % MTASTS_OSMTPD_MX_SLOTS];
		if (e->domain[0] == '\0') {
			if (!create)
				return NULL;
			mtasts_strlcpy(e->domain, domain,
			    sizeof(e->domain));
			t->nmap++;
			return e;
		}
		if (strcmp(e->domain, domain) == 0)
			return e;
	}
	return NULL;
}

/* Queue a resolution unless one is pending or the queue is full. Locked. */
static void
enqueue(struct table *t, struct mxent *e)
{
	size_t slot;

	if (e->queued || t->qlen >= MTASTS_OSMTPD_QUEUE_MAX)
		return;
	slot = (t->qhead + t->qlen) % MTASTS_OSMTPD_QUEUE_MAX;
	mtasts_strlcpy(t->queue[slot], e->domain,
	    sizeof(t->queue[slot]));
	t->qlen++;
	e->queued = 1;
	pthread_cond_signal(&t->work);
}

/* Does the entry need a (re)resolution now? Locked. */
static int
needs_resolve(const struct mxent *e, int64_t now)
{
	if (e->queued)
		return 0;
	if (e->fail_ms != 0 && now - e->fail_ms < MTASTS_OSMTPD_MX_RETRY_MS &&
	    e->fail_ms >= e->at_ms)
		return 0;
	return e->at_ms == 0 || now - e->at_ms >= MTASTS_OSMTPD_MX_FRESH_MS;
}

/* Is the resolved set still usable? Locked. */
static int
usable(const struct mxent *e, int64_t now)
{
	return e->at_ms != 0 && now - e->at_ms < MTASTS_OSMTPD_MX_STALE_MS;
}

static void
prefetch(struct table *t, const char *domain)
{
	struct mxent *e;

	pthread_mutex_lock(&t->mu);
	if ((e = map_get(t, domain, 1)) != NULL &&
	    needs_resolve(e, mtasts_mono_ms()))
		enqueue(t, e);
	pthread_mutex_unlock(&t->mu);
}

static void *
resolver(void *arg)
{
	struct table *t = arg;
	struct mtasts_ctx *ctx = ctx_make(t, t->ctx == NULL);
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error err;
	struct mtasts_mxset *set;
	struct mxent *e;
	int rc;

	for (;;) {
		pthread_mutex_lock(&t->mu);
		while (t->qlen == 0)
			pthread_cond_wait(&t->work, &t->mu);
		mtasts_strlcpy(domain, t->queue[t->qhead],
		    sizeof(domain));
		t->qhead = (t->qhead + 1) % MTASTS_OSMTPD_QUEUE_MAX;
		t->qlen--;
		pthread_mutex_unlock(&t->mu);

		/* Implicit and null MX are the core's (mtasts_mxset_*). */
		set = NULL;
		memset(&err, 0, sizeof(err));
		rc = ctx == NULL ? MTASTS_ERROR : mtasts_mxset_resolve(ctx,
		    domain, MTASTS_OSMTPD_MX_DNS_MS, &set, &err);
		if (rc != MTASTS_OK)
			tlog(MTASTS_LOG_WARN, "MX of %s: %s", domain,
			    err.text[0] ? err.text : mtasts_strerror(rc));

		pthread_mutex_lock(&t->mu);
		e = map_get(t, domain, 1);
		if (e == NULL) {
			mtasts_mxset_free(set);
		} else if (set == NULL) {
			/* Keep a previous good set until it goes stale. */
			e->fail_ms = mtasts_mono_ms();
			e->queued = 0;
		} else {
			mtasts_mxset_free(e->set);
			e->set = set;
			e->at_ms = mtasts_mono_ms();
			e->queued = 0;
		}
		pthread_cond_broadcast(&t->done);
		pthread_mutex_unlock(&t->mu);
	}
	return NULL;
}

/*
 * Queue a full policy discovery of a domain whose enforce-route mail is
 * held for want of a usable cache entry. Locked.
 */
static void
disc_enqueue(struct table *t, struct mxent *e, int64_t now)
{
	size_t slot;

	if (e->disc_queued || (e->disc_fail_ms != 0 &&
	    now - e->disc_fail_ms < TABLE_DISC_RETRY_MS))
		return;
	if (t->dlen >= TABLE_DISC_QUEUE_MAX) {
		tlog(MTASTS_LOG_WARN, "%s: discovery queue full; the next "
		    "attempt tries again", e->domain);
		return;
	}
	slot = (t->dhead + t->dlen) % TABLE_DISC_QUEUE_MAX;
	mtasts_strlcpy(t->dqueue[slot], e->domain,
	    sizeof(t->dqueue[slot]));
	t->dlen++;
	e->disc_queued = 1;
	pthread_cond_signal(&t->dwork);
}

/*
 * The discovery thread: a full mtasts_lookup() (TXT, HTTPS fetch, cache
 * store) with its own context, off smtpd's request path (D-OSMTPD-2). A
 * fetched policy lands in the cache, where the next attempt finds it;
 * only a definite "no MTA-STS record" (RFC 8461 §3.1, no failure) is
 * remembered as "no policy" (D-OSMTPD-9).
 */
static void *
discoverer(void *arg)
{
	struct table *t = arg;
	struct mtasts_ctx *ctx = ctx_make(t, t->ctx == NULL);
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_result *res;
	struct mtasts_error err;
	const struct mtasts_policy *p;
	struct mxent *e;
	int rc, none, fail;

	for (;;) {
		pthread_mutex_lock(&t->mu);
		while (t->dlen == 0)
			pthread_cond_wait(&t->dwork, &t->mu);
		mtasts_strlcpy(domain, t->dqueue[t->dhead],
		    sizeof(domain));
		t->dhead = (t->dhead + 1) % TABLE_DISC_QUEUE_MAX;
		t->dlen--;
		pthread_mutex_unlock(&t->mu);

		res = NULL;
		memset(&err, 0, sizeof(err));
		rc = ctx == NULL ? MTASTS_ERROR : mtasts_lookup(ctx, domain, 0,
		    &res, &err);
		none = 0;
		fail = 1;
		if (rc != MTASTS_OK)
			tlog(MTASTS_LOG_WARN, "%s: policy discovery failed: "
			    "%s; enforce mail stays queued", domain,
			    ctx == NULL ? "no configuration" : err.text);
		else if (mtasts_result_status(res) == MTASTS_LOOKUP_POLICY) {
			p = mtasts_result_policy(res);
			fail = 0;
			tlog(MTASTS_LOG_INFO, "%s: policy discovery: mode %s "
			    "id %s (%s)", domain,
			    mtasts_mode_name(mtasts_policy_mode(p)),
			    mtasts_result_id(res) != NULL ?
			    mtasts_result_id(res) : "?",
			    mtasts_result_source(res) == MTASTS_SOURCE_FETCHED ?
			    "fetched" : "cached");
		} else if (mtasts_result_status(res) == MTASTS_LOOKUP_NONE &&
		    mtasts_result_failure_type(res) == NULL) {
			none = 1;
			fail = 0;
			tlog(MTASTS_LOG_WARN, "%s: policy discovery: no "
			    "MTA-STS record; held enforce mail is delivered "
			    "opportunistically", domain);
		} else
			tlog(MTASTS_LOG_WARN, "%s: policy discovery could not "
			    "establish the policy (%s); enforce mail stays "
			    "queued", domain,
			    mtasts_result_failure_reason(res) != NULL ?
			    mtasts_result_failure_reason(res) :
			    "temporary failure");
		mtasts_result_free(res);

		pthread_mutex_lock(&t->mu);
		if ((e = map_get(t, domain, 1)) != NULL) {
			e->disc_queued = 0;
			e->disc_none_ms = none ? mtasts_mono_ms() : 0;
			e->disc_fail_ms = fail ? mtasts_mono_ms() : 0;
		}
		pthread_mutex_unlock(&t->mu);
	}
	return NULL;
}

/* ------------------------------------------------------------ answers */

/*
 * The policy that applies to a normalised domain now, from the cache only.
 * Returns 1 (*res set, caller frees), 0 (no policy), -1 (cannot decide).
 */
static int
cached_policy(struct table *t, const char *domain, struct mtasts_result **res)
{
	struct mtasts_error err = { 0, "" };
	int rc;

	*res = NULL;
	if (t->ctx == NULL) {
		conf_remind(t, "RCPT check for", domain);
		return -1;
	}
	rc = mtasts_lookup(t->ctx, domain, MTASTS_LOOKUP_CACHE_ONLY, res,
	    &err);
	if (rc == MTASTS_INVALID)
		return 0;	/* not a domain name: no policy can exist */
	if (rc != MTASTS_OK) {
		tlog(MTASTS_LOG_ERR, "lookup %s: %s", domain, err.text);
		return -1;
	}
	switch (mtasts_result_status(*res)) {
	case MTASTS_LOOKUP_POLICY:
		return 1;
	case MTASTS_LOOKUP_NONE:
		mtasts_result_free(*res);
		*res = NULL;
		return 0;
	default:
		tlog(MTASTS_LOG_ERR, "cache for %s: %s", domain,
		    mtasts_result_failure_reason(*res) != NULL ?
		    mtasts_result_failure_reason(*res) : "unreadable");
		mtasts_result_free(*res);
		*res = NULL;
		return -1;
	}
}

/* The core's "which mode applies" (mtasts_enforce_mode()). */
static int
result_mode(const struct mtasts_result *res)
{
	if (res == NULL)
		return MTASTS_MODE_NONE;
	switch (mtasts_enforce_mode(mtasts_result_domain(res), MTASTS_OK, res,
	    NULL)) {
	case MTASTS_ENFORCE_ENFORCE:
		return MTASTS_MODE_ENFORCE;
	case MTASTS_ENFORCE_TESTING:
		return MTASTS_MODE_TESTING;
	default:
		return MTASTS_MODE_NONE;
	}
}

/* K_DOMAIN check: does `for domain <mtasts>` route this to enforcement? */
static int
check_domain(struct table *t, const char *key)
{
	struct mtasts_result *res;
	int r;

	if ((r = cached_policy(t, key, &res)) != 1)
		return r;
	r = result_mode(res) == MTASTS_MODE_ENFORCE;
	if (r)
		prefetch(t, mtasts_result_domain(res));
	mtasts_result_free(res);
	return r;
}

static void
deadline_ts(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* What the enforce route does for a domain now (D-OSMTPD-9). */
enum route {
	ROUTE_ENFORCE,		/* valid enforce policy: pin, verify */
	ROUTE_OPEN,		/* established: no enforce policy */
	ROUTE_HOLD,		/* unknown: tempfail, discover */
	ROUTE_ERROR		/* cannot decide at all: tempfail */
};

/*
 * Mail reaches K_RELAYHOST only through the enforce action: its route was
 * decided as enforce at RCPT time. So a missing, unreadable, corrupt or
 * expired cache entry is "unknown", never "no policy": only a cached
 * policy of another mode (a fetched document says so) or a definite
 * "no MTA-STS record" from a real discovery (a negative entry within
 * txt_check_interval, or this table's own discovery) opens the route.
 */
static int
enforce_route(struct table *t, const char *domain, struct mtasts_result **res,
    char *why, size_t size)
{
	struct mtasts_error err = { 0, "" };
	int rc, st;

	*res = NULL;
	if (t->ctx == NULL) {
		conf_remind(t, "enforce mail held for", domain);
		return ROUTE_ERROR;
	}
	rc = mtasts_lookup(t->ctx, domain, MTASTS_LOOKUP_CACHE_ONLY, res,
	    &err);
	if (rc != MTASTS_OK) {
		tlog(MTASTS_LOG_ERR, "lookup %s: %s", domain, err.text);
		return ROUTE_ERROR;
	}
	st = mtasts_result_status(*res);
	if (st == MTASTS_LOOKUP_POLICY) {
		if (result_mode(*res) == MTASTS_MODE_ENFORCE)
			return ROUTE_ENFORCE;
		snprintf(why, size, "the cached policy is now mode %s",
		    mtasts_mode_name(result_mode(*res)));
		return ROUTE_OPEN;
	}
	if (st != MTASTS_LOOKUP_NONE) {
		snprintf(why, size, "cache entry unusable (%s)",
		    mtasts_result_failure_reason(*res) != NULL ?
		    mtasts_result_failure_reason(*res) : "unreadable");
		mtasts_result_free(*res);
		*res = NULL;
		return ROUTE_HOLD;
	}
	mtasts_result_free(*res);
	*res = NULL;
	/* The core's "does the cache answer": a fresh "no record" opens. */
	return mtasts_enforce_cached(t->ctx, domain, why, size) == 2 ?
	    ROUTE_OPEN : ROUTE_HOLD;
}

/*
 * D-OSMTPD-16: an enforce domain whose MX set the policy empties has no
 * session the filter could see; the delivery attempt is recorded here,
 * as the Exim adapter does (D-RPT-12): validation-failure, reason
 * mx-mismatch, the most preferred MX host (the one refused), no address.
 * One record per relay lookup, i.e. per envelope and delivery attempt.
 */
static void
record_mismatch(struct table *t, const char *domain,
    const struct mtasts_policy *p, const char *mx)
{
	struct mtasts_tlsrpt_session rec;
	struct mtasts_error err = { 0, "" };

	memset(&rec, 0, sizeof(rec));
	rec.policy_domain = domain;
	rec.policy_type = MTASTS_POLICY_TYPE_STS;
	rec.policy = p;
	rec.mx_host = mx[0] != '\0' ? mx : NULL;
	rec.result_type =
	    mtasts_tlsrpt_type_name(MTASTS_TLSRPT_VALIDATION_FAILURE);
	rec.failure_reason = "mx-mismatch";
	if (mtasts_tlsrpt_record(t->ctx, &rec, &err) != MTASTS_OK)
		tlog(MTASTS_LOG_WARN, "%s: tlsrpt: %s", domain, err.text);
}

/* K_RELAYHOST lookup: the relay URL of this delivery attempt. */
static int
lookup_relay(struct table *t, const char *key, char *url, size_t size)
{
	char domain[MTASTS_DOMAIN_MAX + 1], why[MTASTS_OSMTPD_REASON_MAX + 64];
	char first[MTASTS_DOMAIN_MAX + 1];
	int mismatch;
	struct mtasts_result *res = NULL;
	const struct mtasts_policy *enforce = NULL;
	struct mtasts_error err = { 0, "" };
	struct timespec ts;
	struct mxent *e;
	int64_t now, budget;
	int r, route;

	if (mtasts_domain_normalize(key, strlen(key), domain, &err) !=
	    MTASTS_OK) {
		tlog(MTASTS_LOG_WARN, "relay lookup for \"%.80s\": %s", key,
		    err.text);
		return 0;
	}
	why[0] = '\0';
	if ((route = enforce_route(t, domain, &res, why, sizeof(why))) ==
	    ROUTE_ERROR)
		return -1;
	if (route == ROUTE_ENFORCE)
		enforce = mtasts_result_policy(res);

	pthread_mutex_lock(&t->mu);
	now = mtasts_mono_ms();
	e = map_get(t, domain, 1);
	if (route == ROUTE_HOLD && e != NULL && e->disc_none_ms != 0 &&
	    now - e->disc_none_ms < TABLE_DISC_FRESH_MS) {
		route = ROUTE_OPEN;
		snprintf(why, sizeof(why), "policy discovery found no MTA-STS "
		    "record");
	}
	if (route == ROUTE_HOLD) {
		if (e != NULL)
			disc_enqueue(t, e, now);
		pthread_mutex_unlock(&t->mu);
		tlog(MTASTS_LOG_WARN, "%s: %s; enforce mail held (temporary "
		    "failure) until the policy is discovered again", domain,
		    why);
		r = 0;
		goto done;
	}
	if (route == ROUTE_OPEN)
		/* Accepted under enforcement, no longer enforced: §5. */
		tlog(MTASTS_LOG_INFO, "%s: %s: no enforce policy applies now; "
		    "opportunistic delivery", domain, why);
	if (e != NULL && needs_resolve(e, now))
		enqueue(t, e);
	if (e != NULL && !usable(e, now)) {
		/*
		 * Wait for the pending resolution, within the budget shared
		 * by all lookups of the window: smtpd's lka is blocked.
		 */
		t->lookups++;
		if (t->wait_window_ms == 0 ||
		    now - t->wait_window_ms >= TABLE_WAIT_WINDOW_MS) {
			t->wait_window_ms = now;
			t->waited_ms = 0;
		}
		budget = MTASTS_OSMTPD_MX_WAIT_MS - t->waited_ms;
		if (budget > 0 && e->queued) {
			deadline_ts(&ts, (int)budget);
			while ((e = map_get(t, domain, 0)) != NULL &&
			    !usable(e, mtasts_mono_ms()) && e->queued &&
			    pthread_cond_timedwait(&t->done, &t->mu, &ts) == 0)
				;
			t->waited_ms += mtasts_mono_ms() - now;
		}
	} else
		t->fast++;
	if (e == NULL || !usable(e, mtasts_mono_ms())) {
		pthread_mutex_unlock(&t->mu);
		tlog(MTASTS_LOG_WARN, "%s: MX not resolved yet; temporary "
		    "failure for this attempt", domain);
		r = 0;
		goto done;
	}
	now = mtasts_mono_ms();
	if (e->rot_ms == 0 ||
	    now - e->rot_ms >= MTASTS_OSMTPD_ROTATE_RESET_MS) {
		e->rot = 0;
		e->rot_ms = now;
	} else if (now - e->rot_ms >= MTASTS_OSMTPD_ROTATE_HOLD_MS) {
		e->rot++;
		e->rot_ms = now;
	}
	r = mtasts_osmtpd_relay_url(domain, enforce, e->set, e->rot, url,
	    size, why, sizeof(why));
	/* The MX set exists but the enforce policy empties it (D-OSMTPD-16). */
	mismatch = r == 0 && enforce != NULL && e->set != NULL &&
	    mtasts_mxset_kind(e->set) != MTASTS_MXSET_NULL &&
	    mtasts_mxset_count(e->set) > 0;
	if (mismatch)
		mtasts_strlcpy(first, mtasts_mxset_host(e->set, 0),
		    sizeof(first));
	pthread_mutex_unlock(&t->mu);
	if (mismatch)
		record_mismatch(t, domain, enforce, first);
	if (r == 1)
		tlog(MTASTS_LOG_INFO, "%s: relay %s (%s)", domain, url,
		    enforce != NULL ? "enforce" : "no policy");
	else
		tlog(MTASTS_LOG_WARN, "%s: %s; temporary failure for this "
		    "attempt", domain, why);
done:
	mtasts_result_free(res);
	return r;
}

/* ------------------------------------------------------------ I/O */

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
reply(int fd, uint32_t type, const int *r, const char *value)
{
	unsigned char out[MTASTS_TIMSG_MAX];
	size_t n;

	if ((n = mtasts_timsg_reply(out, sizeof(out), type, r, value)) == 0)
		return -1;
	return write_all(fd, out, n);
}

static const char *
svc_name(int svc)
{
	switch (svc) {
	case MTASTS_TSVC_DOMAIN:
		return "K_DOMAIN";
	case MTASTS_TSVC_RELAYHOST:
		return "K_RELAYHOST";
	default:
		return "unsupported service";
	}
}

/*
 * The answer to one request, whatever the protocol: 1 found (url set for
 * K_RELAYHOST lookups), 0 not found, -1 temporary failure. Both adapters
 * (imsg 6.8, text 0.1) only translate it (D-OSMTPD-13).
 */
static int
answer(struct table *t, const struct mtasts_timsg_req *q, char *url,
    size_t size)
{
	switch (q->type) {
	case MTASTS_TIMSG_UPDATE:
		/*
		 * Nothing to reload: the cache is read at every lookup, and
		 * mtasts.conf only at start, as the filters do (D-OSMTPD-12).
		 */
		return 1;
	case MTASTS_TIMSG_CHECK:
		if (q->service == MTASTS_TSVC_DOMAIN)
			return check_domain(t, q->str);
		tlog(MTASTS_LOG_ERR, "check of %s (0x%x) is not supported: "
		    "use the table with `for domain`", svc_name(q->service),
		    (unsigned)q->service);
		return -1;
	case MTASTS_TIMSG_LOOKUP:
		if (q->service == MTASTS_TSVC_RELAYHOST)
			return lookup_relay(t, q->str, url, size);
		tlog(MTASTS_LOG_ERR, "lookup of %s (0x%x) is not supported: "
		    "use the table with `relay domain`", svc_name(q->service),
		    (unsigned)q->service);
		return -1;
	case MTASTS_TIMSG_FETCH:
		tlog(MTASTS_LOG_ERR, "fetch (`relay host <table>`) is not "
		    "supported: use `relay domain <table>`");
		return -1;
	default:
		return -1;
	}
}

/* 6.8: answer one request; returns 1 to stop (CLOSE), -1 on write error. */
static int
handle(struct table *t, int ofd, const struct mtasts_timsg_req *q)
{
	char url[MTASTS_OSMTPD_URL_MAX + 1];
	int r;

	switch (q->type) {
	case MTASTS_TIMSG_OPEN:
		tlog(MTASTS_LOG_INFO, "table \"%.64s\" open, config %s",
		    q->str, t->config != NULL ? t->config : "(default)");
		return reply(ofd, MTASTS_TIMSG_OK, NULL, NULL);
	case MTASTS_TIMSG_CLOSE:
		return 1;
	case MTASTS_TIMSG_UPDATE:
	case MTASTS_TIMSG_CHECK:
	case MTASTS_TIMSG_FETCH:
		r = answer(t, q, url, sizeof(url));
		return reply(ofd, MTASTS_TIMSG_OK, &r, NULL);
	case MTASTS_TIMSG_LOOKUP:
		r = answer(t, q, url, sizeof(url));
		return reply(ofd, MTASTS_TIMSG_OK, &r, r == 1 ? url : NULL);
	default:
		r = -1;
		return reply(ofd, MTASTS_TIMSG_FAIL, NULL, NULL);
	}
}

/* 6.8: the imsg loop over buf[0..have) and what follows. */
static int
run_imsg(struct table *t, int ofd, unsigned char *buf, size_t bufsize,
    size_t have)
{
	struct mtasts_timsg_req q;
	char why[MTASTS_OSMTPD_REASON_MAX];
	size_t used;
	ssize_t n;
	int v;

	for (;;) {
		for (;;) {
			v = mtasts_timsg_parse(buf, have, &q, &used, why,
			    sizeof(why));
			if (v == MTASTS_TIMSG_MORE)
				break;
			if (v == MTASTS_TIMSG_BROKEN) {
				/* Cannot find the next frame: say so, stop. */
				tlog(MTASTS_LOG_ERR, "protocol error: %s; "
				    "closing", why);
				(void)reply(ofd, MTASTS_TIMSG_FAIL, NULL, NULL);
				return 2;
			}
			if (v == MTASTS_TIMSG_BAD) {
				tlog(MTASTS_LOG_ERR, "protocol error: %s", why);
				if (reply(ofd, MTASTS_TIMSG_FAIL, NULL,
				    NULL) != 0)
					goto werr;
			} else if ((v = handle(t, ofd, &q)) != 0) {
				if (v < 0)
					goto werr;
				tlog(MTASTS_LOG_INFO, "closed by smtpd");
				return 0;
			}
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		n = read(0, buf + have, bufsize - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				tlog(MTASTS_LOG_ERR, "read: %s",
				    strerror(errno));
			return n < 0;
		}
		have += (size_t)n;
	}
werr:
	tlog(MTASTS_LOG_ERR, "write: %s", strerror(errno));
	return 1;
}

/*
 * 7.x: one text line (protocol 0.1). Returns 0 to go on, 2 on a protocol
 * violation (fail-stop: smtpd cannot be answered safely any more), 1 on a
 * write error.
 */
static int
text_line(struct table *t, struct mtasts_ttext *st, int ofd,
    const char *line, size_t len)
{
	char url[MTASTS_OSMTPD_URL_MAX + 1], key[MTASTS_TTEXT_KEY_MAX + 1];
	char out[MTASTS_TTEXT_REPLY_MAX], why[MTASTS_OSMTPD_REASON_MAX];
	struct mtasts_timsg_req q;
	const char *id;
	size_t idlen, n;
	int v, r;

	v = mtasts_ttext_line(st, line, len, &q, &id, &idlen, why,
	    sizeof(why));
	switch (v) {
	case MTASTS_TTEXT_CONFIG:
		return 0;
	case MTASTS_TTEXT_READY:
		tlog(MTASTS_LOG_INFO, "table \"%.64s\" open (smtpd %s, table "
		    "protocol " MTASTS_TTEXT_PROTOCOL "), config %s", st->name,
		    st->smtpd_version, t->config != NULL ? t->config :
		    "(default)");
		n = mtasts_ttext_register(out, sizeof(out));
		return n == 0 || write_all(ofd, (unsigned char *)out, n) != 0;
	case MTASTS_TTEXT_REQ:
		break;
	default:
		/* D-OSMTPD-13: never guess what a confused peer meant. */
		tlog(MTASTS_LOG_ERR, "table protocol %s violation: %s; "
		    "stopping (smtpd stops with its table)",
		    MTASTS_TTEXT_PROTOCOL, why);
		return 2;
	}
	/* The key, NUL-terminated for the decision code. */
	memcpy(key, q.str != NULL ? q.str : "", q.str_len);
	key[q.str_len] = '\0';
	q.str = key;
	url[0] = '\0';
	r = answer(t, &q, url, sizeof(url));
	n = mtasts_ttext_reply(out, sizeof(out), q.type, id, idlen, r,
	    r == 1 ? url : NULL, NULL);
	if (n == 0) {
		/* A value we cannot put on the line: a temporary failure. */
		tlog(MTASTS_LOG_ERR, "answer not representable in protocol "
		    MTASTS_TTEXT_PROTOCOL "; temporary failure");
		n = mtasts_ttext_reply(out, sizeof(out), q.type, id, idlen,
		    -1, NULL, NULL);
	}
	if (n == 0)
		return 2;
	return write_all(ofd, (unsigned char *)out, n) != 0;
}

/* 7.x: the line loop over buf[0..have) and what follows. */
static int
run_text(struct table *t, int ofd, unsigned char *buf, size_t bufsize,
    size_t have)
{
	struct mtasts_ttext st;
	unsigned char *nl;
	size_t len;
	ssize_t n;
	int rc;

	memset(&st, 0, sizeof(st));
	for (;;) {
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			len = (size_t)(nl - buf);
			if ((rc = text_line(t, &st, ofd, (const char *)buf,
			    len)) != 0) {
				if (rc == 1)
					tlog(MTASTS_LOG_ERR, "write: %s",
					    strerror(errno));
				return rc;
			}
			memmove(buf, nl + 1, have - len - 1);
			have -= len + 1;
		}
		if (have > MTASTS_TTEXT_LINE_MAX) {
			tlog(MTASTS_LOG_ERR, "table protocol %s violation: "
			    "line longer than %d bytes; stopping",
			    MTASTS_TTEXT_PROTOCOL, MTASTS_TTEXT_LINE_MAX);
			return 2;
		}
		n = read(0, buf + have, bufsize - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				tlog(MTASTS_LOG_ERR, "read: %s",
				    strerror(errno));
			else
				tlog(MTASTS_LOG_INFO, "closed by smtpd");
			return n < 0;
		}
		have += (size_t)n;
	}
}

/*
 * Which protocol smtpd speaks, from what it sends first (D-OSMTPD-13):
 * 7.x opens with the text line "config|..."; 6.8 with an imsg OPEN frame,
 * whose first four bytes are a small message type and can never spell
 * "conf". Reads into buf until the prefix decides; returns 1 for text,
 * 0 for imsg (any other first bytes: the imsg parser judges them), -1 on
 * a read error. *have is what was read.
 */
#define TEXT_PREFIX "config|"

static int
detect(unsigned char *buf, size_t bufsize, size_t *have)
{
	size_t plen = sizeof(TEXT_PREFIX) - 1;
	ssize_t n;

	*have = 0;
	for (;;) {
		if (*have >= plen)
			return memcmp(buf, TEXT_PREFIX, plen) == 0;
		if (*have > 0 && memcmp(buf, TEXT_PREFIX, *have) != 0)
			return 0;
		n = read(0, buf + *have, bufsize - *have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			tlog(MTASTS_LOG_ERR, "read: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;	/* EOF: the imsg loop ends it */
		*have += (size_t)n;
	}
}

int
main(int argc, char *argv[])
{
	static struct table t;
	static unsigned char buf[2 * MTASTS_TIMSG_MAX];
	size_t have = 0;
	pthread_t th;
	struct stat sb;
	int ofd, rc;
	const char *e = getenv("MTASTS_OPENSMTPD_LOG");

	log_stderr = e != NULL && strcmp(e, "stderr") == 0;
	if (!log_stderr)
		openlog("table-mtasts", LOG_PID | LOG_NDELAY, LOG_MAIL);
	signal(SIGPIPE, SIG_IGN);
	if (argc > 2) {
		/* smtpd passes one argument: the text after "mtasts:". */
		tlog(MTASTS_LOG_ERR, "usage: table-mtasts [mtasts.conf]");
		return 2;
	}
	t.config = argc > 1 && argv[1][0] != '\0' ? argv[1] : NULL;
	/* smtpd talks on the stdin socket; tests may use stdin/stdout. */
	ofd = fstat(0, &sb) == 0 && S_ISSOCK(sb.st_mode) ? 0 : 1;
	pthread_mutex_init(&t.mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&t.done, &ca);
		pthread_condattr_destroy(&ca);
	}
	pthread_cond_init(&t.work, NULL);
	pthread_cond_init(&t.dwork, NULL);
	if ((t.map = calloc(MTASTS_OSMTPD_MX_SLOTS, sizeof(*t.map))) ==
	    NULL) {
		tlog(MTASTS_LOG_ERR, "out of memory");
		return 1;
	}
	t.ctx = ctx_make(&t, 0);
	if (pthread_create(&th, NULL, resolver, &t) != 0) {
		tlog(MTASTS_LOG_ERR, "cannot start the resolver thread");
		return 1;
	}
	pthread_detach(th);
	if (pthread_create(&th, NULL, discoverer, &t) != 0) {
		tlog(MTASTS_LOG_ERR, "cannot start the discovery thread");
		return 1;
	}
	pthread_detach(th);

	switch (detect(buf, sizeof(buf), &have)) {
	case 1:
		rc = run_text(&t, ofd, buf, sizeof(buf), have);
		break;
	case 0:
		rc = run_imsg(&t, ofd, buf, sizeof(buf), have);
		break;
	default:
		rc = 1;
		break;
	}
	/* The resolver thread may be inside libunbound: just leave. */
	_exit(rc);
}
