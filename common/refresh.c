/* SPDX-License-Identifier: ISC */
/*
 * refresh.c - many policy lookups in one process, event-driven
 * (mtasts_refresh_run(), `mtasts refresh`; decisions.md D-REFRESH-1).
 *
 * Each domain is one mtasts_lookup(), unchanged: its decisions, its
 * cache stores under the domain lock (D-CACHE-8), its DNSSEC handling
 * (D-DNSSEC-*), its TLS-RPT records. What runs concurrently is only the
 * network work the lookup is going to ask for, done beforehand:
 *   1. the TXT query of _mta-sts.<domain> (libunbound's asynchronous
 *      API, one resolver for all, polled on ub_fd());
 *   2. when the lookup will fetch (the entry holds a valid policy, or the
 *      TXT answer carries an id; under MTASTS_LOOKUP_FORCE_FETCH that is
 *      when mtasts_lookup() fetches), the AAAA and A queries of
 *      mta-sts.<domain> and the HTTPS fetch, fetch.c's state machine
 *      (D-NET-6) on a non-blocking socket, with the context's one
 *      SSL_CTX.
 * Each step has the deadline the blocking lookup gives it (dns_timeout;
 * fetch_timeout for addresses, connect, TLS and HTTP together), so a
 * stalled host holds nothing but its own slot until its own deadline. At
 * most refresh_concurrency domains are in flight.
 *
 * Then, in the order of the domains, the lookup runs with a network table
 * that answers the TXT query and the fetch with what was prepared (each
 * once) and passes anything else, e.g. a fetch the prediction did not
 * expect, to the real blocking code. A wrong prediction therefore costs
 * time (a fetch not needed, or one done blocking), never a different
 * result. The done() callbacks, and so the command's output, come in that
 * order from this one thread.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"
#include "mtasts_refresh.h"

#define RF_T_TXT 16
#define RF_T_A 1
#define RF_T_AAAA 28
#define RF_TXT_PREFIX "_mta-sts."

enum { RF_NEW, RF_TXT, RF_ADDR, RF_FETCH, RF_READY };

struct mtasts_refresh_item {
	int state;
	char name[MTASTS_DOMAIN_MAX + 1];	/* normalised, "" unusable */
	char qname[MTASTS_DOMAIN_MAX + 16];
	char host[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_dns_q *txt, *q6, *q4;
	int64_t txt_deadline, fetch_deadline;
	int addr_ms;			/* the address look-up's deadline */
	/* The prepared TXT answer (have_txt), as mtasts_dns_query() gives. */
	int have_txt, txt_rc;
	struct mtasts_dns_answer *txt_ans;
	struct mtasts_error txt_err;
	/* The prepared fetch (have_fetch), as mtasts_fetch_policy() gives. */
	int have_fetch;
	struct mtasts_fetch fetch;
	struct mtasts_fetch_sm *sm;
};

/* ---- the replaying network table ---- */

static int
rp_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err)
{
	struct mtasts_refresh_item *it = ctx->replay;

	if (it != NULL && it->have_txt && rrtype == RF_T_TXT &&
	    strcmp(qname, it->qname) == 0) {
		it->have_txt = 0;
		*out = it->txt_ans;
		it->txt_ans = NULL;
		if (it->txt_rc != MTASTS_OK && err != NULL)
			*err = it->txt_err;
		return it->txt_rc;
	}
	return mtasts_dns_query(ctx, qname, rrtype, deadline_ms, out, err);
}

static void
rp_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res)
{
	struct mtasts_refresh_item *it = ctx->replay;

	if (it != NULL && it->have_fetch && strcmp(domain, it->name) == 0) {
		it->have_fetch = 0;
		*res = it->fetch;
		memset(&it->fetch, 0, sizeof(it->fetch));
		return;
	}
	mtasts_fetch_policy(ctx, domain, res);
}

static void
rp_release(struct mtasts_ctx *ctx)
{
	mtasts_dns_free(ctx);
	mtasts_fetch_free(ctx);
}

static const struct mtasts_netops rp_ops = {
	.abi = MTASTS_NETOPS_ABI,
	.ctx_size = sizeof(struct mtasts_ctx),
	.fetch_size = sizeof(struct mtasts_fetch),
	.answer_size = sizeof(struct mtasts_dns_answer),
	.dns_query = rp_dns_query,
	.dns_answer_free = mtasts_dns_answer_free,
	.dns_txt_decode = mtasts_dns_txt_decode,
	.dns_txt_free = mtasts_dns_txt_free,
	.fetch_policy = rp_fetch_policy,
	.fetch_clear = mtasts_fetch_clear,
	.release = rp_release,
};

/* ---- one domain's network work ---- */

static void
item_clear(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it)
{
	mtasts_dns_async_free(ctx, it->txt);
	mtasts_dns_async_free(ctx, it->q6);
	mtasts_dns_async_free(ctx, it->q4);
	it->txt = it->q6 = it->q4 = NULL;
	mtasts_dns_answer_free(it->txt_ans);
	it->txt_ans = NULL;
	if (it->sm != NULL) {
		mtasts_fetch_sm_abort(it->sm);
		free(it->sm);
		it->sm = NULL;
	}
	mtasts_fetch_clear(&it->fetch);
	it->have_txt = it->have_fetch = 0;
}

/* Does the TXT answer carry a well-formed id (§3.1)? */
static int
txt_has_id(const struct mtasts_dns_answer *a)
{
	char **recs = NULL, id[MTASTS_ID_MAX + 1];
	size_t *lens = NULL, n = 0;
	struct mtasts_error perr = { 0, "" };
	int ok;

	if (a == NULL || !(a->status == MTASTS_DNS_ANSWER ||
	    (a->status == MTASTS_DNS_BOGUS &&
	    a->bogus_status == MTASTS_DNS_ANSWER)))
		return 0;
	if (mtasts_dns_txt_decode(a, &recs, &lens, &n) != MTASTS_OK)
		return 0;
	ok = mtasts_txt_select((const char *const *)recs, lens, n, id,
	    &perr) == MTASTS_OK;
	mtasts_dns_txt_free(recs, lens, n);
	return ok;
}

/*
 * Will the lookup fetch? A prediction only (see the top): a valid cached
 * policy is re-fetched by refresh whatever the TXT says; otherwise the TXT
 * record must name an id.
 */
static int
will_fetch(struct mtasts_ctx *ctx, const struct mtasts_refresh_item *it,
    unsigned flags)
{
	struct mtasts_cache_entry *e = NULL;
	struct mtasts_error lerr = { 0, "" };
	int valid = 0;

	if (txt_has_id(it->txt_ans))
		return 1;
	if (!(flags & MTASTS_LOOKUP_FORCE_FETCH))
		return 0;
	if (mtasts_cache_load(ctx, it->name, &e, &lerr) == MTASTS_OK)
		valid = e->policy != NULL && mtasts_now(ctx) < e->expires_at;
	mtasts_cache_entry_free(e);
	return valid;
}

static void
item_ready(struct mtasts_refresh_item *it, size_t *inflight)
{
	it->state = RF_READY;
	(*inflight)--;
}

/* The fetch has its addresses (or not): start the HTTPS state machine. */
static void
item_addrs(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    size_t *inflight)
{
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	struct mtasts_error err = { 0, "" };
	size_t n = 0;
	int rc;

	rc = mtasts_dns_async_addrs(ctx, it->host, 443, it->q6, it->q4,
	    it->addr_ms, addrs, MTASTS_ADDRS_MAX, &n, &err);
	mtasts_dns_async_free(ctx, it->q6);
	mtasts_dns_async_free(ctx, it->q4);
	it->q6 = it->q4 = NULL;
	it->have_fetch = 1;
	if (rc == MTASTS_NOMEM) {
		/* The blocking fetch (at the lookup) says it its own way. */
		it->have_fetch = 0;
		item_ready(it, inflight);
		return;
	}
	if (mtasts_fetch_addrs_judge(it->host, rc, n, &err, &it->fetch) != 0) {
		item_ready(it, inflight);
		return;
	}
	if (n > MTASTS_ADDRS_MAX)
		n = MTASTS_ADDRS_MAX;
	if ((it->sm = malloc(sizeof(*it->sm))) == NULL) {
		it->have_fetch = 0;
		item_ready(it, inflight);
		return;
	}
	mtasts_fetch_sm_start(it->sm, ctx, it->host, addrs, n,
	    it->fetch_deadline, &it->fetch);
	it->state = RF_FETCH;
}

/* The TXT query is answered (or timed out): fetch, or be ready. */
static void
item_txt(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    unsigned flags, size_t *inflight)
{
	int64_t now;

	it->txt_rc = mtasts_dns_async_answer(ctx, it->txt,
	    ctx->cfg.dns_timeout_ms, &it->txt_ans, &it->txt_err);
	mtasts_dns_async_free(ctx, it->txt);
	it->txt = NULL;
	it->have_txt = 1;
	if (!will_fetch(ctx, it, flags)) {
		item_ready(it, inflight);
		return;
	}
	memset(&it->fetch, 0, sizeof(it->fetch));
	if (mtasts_fetch_host(it->name, it->host, sizeof(it->host),
	    &it->fetch) != 0) {
		it->have_fetch = 1;
		item_ready(it, inflight);
		return;
	}
	/* As mtasts_fetch_policy(): one deadline from here on. */
	now = mtasts_mono_ms();
	it->fetch_deadline = now + ctx->cfg.fetch_timeout_ms;
	it->addr_ms = ctx->cfg.fetch_timeout_ms > 0 ?
	    ctx->cfg.fetch_timeout_ms : 1;
	it->q6 = mtasts_dns_async_submit(ctx, it->host, RF_T_AAAA);
	it->q4 = mtasts_dns_async_submit(ctx, it->host, RF_T_A);
	if (it->q6 == NULL || it->q4 == NULL) {
		/* Out of memory: the lookup fetches the blocking way. */
		mtasts_dns_async_free(ctx, it->q6);
		mtasts_dns_async_free(ctx, it->q4);
		it->q6 = it->q4 = NULL;
		item_ready(it, inflight);
		return;
	}
	it->state = RF_ADDR;
}

/* Start domain it's network work (or none: ready at once). */
static void
item_start(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    const char *domain, size_t *inflight)
{
	struct mtasts_error nerr = { 0, "" };

	(*inflight)++;
	/* What the lookup will ask for: the normalised name (D-NAME-1). */
	if (mtasts_domain_normalize(domain, strlen(domain), it->name,
	    &nerr) != MTASTS_OK ||
	    strlen(it->name) > MTASTS_DOMAIN_MAX - (sizeof(RF_TXT_PREFIX) - 1) ||
	    (size_t)snprintf(it->qname, sizeof(it->qname), RF_TXT_PREFIX "%s",
	    it->name) >= sizeof(it->qname)) {
		it->name[0] = '\0';
		item_ready(it, inflight);
		return;
	}
	it->txt_deadline = mtasts_mono_ms() + ctx->cfg.dns_timeout_ms;
	if ((it->txt = mtasts_dns_async_submit(ctx, it->qname,
	    RF_T_TXT)) == NULL) {
		item_ready(it, inflight);
		return;
	}
	it->state = RF_TXT;
}

/* Move it on after a poll(); pfd: its descriptors' revents. */
static void
item_poll(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    unsigned flags, size_t *inflight)
{
	int64_t now = mtasts_mono_ms();

	switch (it->state) {
	case RF_TXT:
		if (mtasts_dns_async_done(it->txt) || now >= it->txt_deadline)
			item_txt(ctx, it, flags, inflight);
		if (it->state != RF_ADDR)
			break;
		/* FALLTHROUGH */
	case RF_ADDR:
		if ((mtasts_dns_async_done(it->q6) &&
		    mtasts_dns_async_done(it->q4)) ||
		    now >= it->fetch_deadline)
			item_addrs(ctx, it, inflight);
		if (it->state != RF_FETCH)
			break;
		/* FALLTHROUGH */
	case RF_FETCH:
		if (mtasts_fetch_sm_step(it->sm) == 1) {
			free(it->sm);
			it->sm = NULL;
			item_ready(it, inflight);
		}
		break;
	default:
		break;
	}
}

/* What it waits for: descriptors into pfd (room for max), wake time. */
static size_t
item_fds(const struct mtasts_refresh_item *it, struct pollfd *pfd,
    size_t max, int64_t *wake)
{
	size_t n = 0;

	switch (it->state) {
	case RF_TXT:
		if (it->txt_deadline < *wake)
			*wake = it->txt_deadline;
		break;
	case RF_ADDR:
		if (it->fetch_deadline < *wake)
			*wake = it->fetch_deadline;
		break;
	case RF_FETCH:
		n = it->sm->npfd < max ? it->sm->npfd : max;
		memcpy(pfd, it->sm->pfd, n * sizeof(*pfd));
		if (it->sm->wake < *wake)
			*wake = it->sm->wake;
		break;
	default:
		break;
	}
	return n;
}

/* Run domain i's lookup over what was prepared; report it. */
static void
item_commit(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    const char *domain, size_t i, unsigned flags, mtasts_refresh_fn *done,
    void *arg)
{
	const struct mtasts_netops *saved = ctx->net;
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	int rc;

	if (it->have_txt || it->have_fetch) {
		ctx->replay = it;
		ctx->net = &rp_ops;
	}
	rc = mtasts_lookup(ctx, domain, flags, &r, &err);
	ctx->net = saved;
	ctx->replay = NULL;
	done(arg, i, rc, rc == MTASTS_OK ? r : NULL, &err);
	mtasts_result_free(r);
	item_clear(ctx, it);
}

int
mtasts_refresh_run(struct mtasts_ctx *ctx, const char *const *domains,
    size_t n, unsigned flags, mtasts_refresh_fn *done, void *arg,
    struct mtasts_error *err)
{
	struct mtasts_refresh_item *items = NULL;
	struct mtasts_error derr = { 0, "" };
	struct pollfd *pfd = NULL;
	size_t *live = NULL, nlive = 0, inflight = 0, start = 0, commit = 0;
	size_t conc, np, maxfd, j, k;
	int64_t wake, now;
	int ubfd = -1, async, rc, r;

	if (ctx == NULL || done == NULL)
		return mtasts_err(err, MTASTS_ERROR, "refresh: no context");
	if ((rc = mtasts_ctx_finalize(ctx, err)) != MTASTS_OK)
		return rc;
	conc = ctx->cfg.refresh_concurrency > 0 ?
	    (size_t)ctx->cfg.refresh_concurrency : 1;
	if (conc > n)
		conc = n > 0 ? n : 1;
	maxfd = conc * MTASTS_ADDRS_MAX + 1;
	if ((items = calloc(n + 1, sizeof(*items))) == NULL ||
	    (live = calloc(conc, sizeof(*live))) == NULL ||
	    (pfd = calloc(maxfd, sizeof(*pfd))) == NULL) {
		free(items);
		free(live);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
	/*
	 * Only over this build's own network code: another table (the unit
	 * tests' fake network) is used as is, one lookup after another. A
	 * resolver that cannot be set up, or is BROKEN, is left to each
	 * lookup to report (D-DNSSEC-2, D-CONF-5).
	 */
	async = mtasts_netops_get(ctx, &derr) == &mtasts_netops_direct &&
	    mtasts_dns_async_open(ctx, &ubfd, &derr) == MTASTS_OK;
	if (!async)
		for (j = 0; j < n; j++)
			items[j].state = RF_READY;
	while (commit < n) {
		/* Fill the free slots, in order. */
		while (async && inflight < conc && start < n) {
			item_start(ctx, &items[start], domains[start],
			    &inflight);
			if (items[start].state != RF_READY)
				live[nlive++] = start;
			start++;
		}
		/* The lookups, in the order of domains[]. */
		while (commit < n && items[commit].state == RF_READY) {
			item_commit(ctx, &items[commit], domains[commit],
			    commit, flags, done, arg);
			commit++;
		}
		if (nlive == 0)
			continue;
		wake = INT64_MAX;
		np = 0;
		pfd[np].fd = ubfd;
		pfd[np].events = POLLIN;
		pfd[np++].revents = 0;
		for (j = 0; j < nlive; j++)
			np += item_fds(&items[live[j]], pfd + np, maxfd - np,
			    &wake);
		now = mtasts_mono_ms();
		wake = wake == INT64_MAX ? now + 1000 : wake;
		r = poll(pfd, np, wake > now ? (wake - now > INT_MAX ?
		    INT_MAX : (int)(wake - now)) : 0);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (pfd[0].revents & POLLIN) != 0)
			(void)mtasts_dns_async_process(ctx);
		/* Each fetch its revents back, then every live item on. */
		for (j = 0, np = 1; j < nlive; j++) {
			struct mtasts_refresh_item *it = &items[live[j]];

			if (it->state == RF_FETCH) {
				memcpy(it->sm->pfd, pfd + np,
				    it->sm->npfd * sizeof(*pfd));
				np += it->sm->npfd;
				mtasts_fetch_sm_polled(it->sm, 0);
			}
		}
		for (j = 0; j < nlive; j++)
			item_poll(ctx, &items[live[j]], flags, &inflight);
		for (j = k = 0; j < nlive; j++)
			if (items[live[j]].state != RF_READY)
				live[k++] = live[j];
		nlive = k;
	}
	if (commit < n) {
		/* poll() failed: the rest the blocking way, still in order. */
		for (j = 0; j < nlive; j++)
			item_clear(ctx, &items[live[j]]);
		for (; commit < n; commit++)
			item_commit(ctx, &items[commit], domains[commit],
			    commit, flags, done, arg);
	}
	free(pfd);
	free(live);
	free(items);
	return MTASTS_OK;
}
