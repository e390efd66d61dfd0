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
 * Then the lookup runs with a network table that answers the TXT query
 * and the fetch with what was prepared (each once) and passes anything
 * else, e.g. a fetch the prediction did not expect, to the real blocking
 * code. A wrong prediction therefore costs time (a fetch not needed, or
 * one done blocking), never a different result. The lookups run on up to
 * refresh_concurrency commit threads, each with its own copy of the
 * context (a domain lock held elsewhere holds one thread, not the run);
 * the network loop goes on meanwhile. The run is one batch of cache
 * stores (D-CACHE-9): each store is atomic and bumps the generation as
 * always, but skips its fsync()s; one syncfs() at the end makes them all
 * durable, and its failure is the run's (MTASTS_ERROR after every
 * done()). Every log line of a domain
 * (its network steps and its lookup) is kept with the domain and given
 * to the context's log function, with the done() call, in the order of
 * domains[] from the calling thread: the output is deterministic and no
 * two domains' lines interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"

#define RF_T_TXT 16
#define RF_T_A 1
#define RF_T_AAAA 28
#define RF_TXT_PREFIX "_mta-sts."

enum { RF_NEW, RF_TXT, RF_ADDR, RF_FETCH, RF_READY, RF_QUEUED, RF_DONE };
/* At most this much log text is kept per domain; the rest is counted. */
#define RF_LOG_MAX 65536

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
	/* The lookup's outcome (RF_DONE), for done(). */
	int rc;
	struct mtasts_result *r;
	struct mtasts_error err;
	/* The domain's log lines: level byte, text, NUL; each in turn. */
	char *log;
	size_t loglen, logcap, logdropped;
};

/* Append a log line to the domain's (log_arg) lines. */
static void
rf_log(void *arg, int level, const char *msg)
{
	struct mtasts_refresh_item *it = arg;
	size_t len = strlen(msg) + 2, cap;
	char *nl;

	if (it->loglen + len > RF_LOG_MAX) {
		it->logdropped++;
		return;
	}
	if (it->loglen + len > it->logcap) {
		cap = it->logcap == 0 ? 1024 : it->logcap;
		while (cap < it->loglen + len)
			cap *= 2;
		if ((nl = realloc(it->log, cap)) == NULL) {
			it->logdropped++;
			return;
		}
		it->log = nl;
		it->logcap = cap;
	}
	it->log[it->loglen] = (char)(level & 0x7f);
	memcpy(it->log + it->loglen + 1, msg, len - 1);
	it->loglen += len;
}

/* The domain's lines to the real log function, in order; then none. */
static void
rf_log_flush(const struct mtasts_ctx *ctx, struct mtasts_refresh_item *it)
{
	size_t off = 0;

	while (off < it->loglen) {
		const char *m = it->log + off + 1;

		if (ctx->log_fn != NULL)
			ctx->log_fn(ctx->log_arg, it->log[off], m);
		off += strlen(m) + 2;
	}
	if (it->logdropped > 0)
		mtasts_log(ctx, MTASTS_LOG_WARN, "refresh: %zu log line(s) "
		    "not shown (more than %d bytes for one domain)",
		    it->logdropped, RF_LOG_MAX);
	free(it->log);
	it->log = NULL;
	it->loglen = it->logcap = it->logdropped = 0;
}

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
	.cache_encode = mtasts_cache_encode,
	.cache_decode_json = mtasts_cache_decode_json,
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
	if (mtasts_domain_normalize(domain, strlen(domain), it->name, &nerr) !=
		MTASTS_OK ||
	    strlen(it->name) >
		MTASTS_DOMAIN_MAX - (sizeof(RF_TXT_PREFIX) - 1) ||
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

/*
 * Run domain it's lookup over what was prepared, in ctx (the caller's
 * context, or a commit thread's copy of it); the outcome stays in it.
 */
static void
item_lookup(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it,
    const char *domain, unsigned flags)
{
	const struct mtasts_netops *saved = ctx->net;

	if (it->have_txt || it->have_fetch) {
		ctx->replay = it;
		ctx->net = &rp_ops;
	}
	it->r = NULL;
	memset(&it->err, 0, sizeof(it->err));
	it->rc = mtasts_lookup(ctx, domain, flags, &it->r, &it->err);
	ctx->net = saved;
	ctx->replay = NULL;
	mtasts_dns_answer_free(it->txt_ans);
	it->txt_ans = NULL;
	mtasts_fetch_clear(&it->fetch);
	it->have_txt = it->have_fetch = 0;
}

/* Domain i is done: its lines, then done(). */
static void
item_emit(struct mtasts_ctx *ctx, struct mtasts_refresh_item *it, size_t i,
    mtasts_refresh_fn *done, void *arg)
{
	rf_log_flush(ctx, it);
	done(arg, i, it->rc, it->rc == MTASTS_OK ? it->r : NULL, &it->err);
	mtasts_result_free(it->r);
	it->r = NULL;
}

/* ---- the commit threads ---- */

struct rf_engine {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct mtasts_refresh_item *items;
	const char *const *domains;
	unsigned flags;
	size_t *queue, qhead, qtail;	/* items ready for their lookup */
	int stop;
	int wake[2];			/* a lookup ended: wakes the loop */
};

struct rf_thread {
	struct rf_engine *e;
	struct mtasts_ctx *ctx;		/* this thread's copy */
	pthread_t tid;
	int started;
};

static void *
rf_commit_main(void *arg)
{
	struct rf_thread *t = arg;
	struct rf_engine *e = t->e;
	struct mtasts_refresh_item *it;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		while (!e->stop && e->qhead == e->qtail)
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->qhead == e->qtail) {
			pthread_mutex_unlock(&e->mu);
			return NULL;
		}
		i = e->queue[e->qhead++];
		pthread_mutex_unlock(&e->mu);
		it = &e->items[i];
		t->ctx->log_arg = it;
		item_lookup(t->ctx, it, e->domains[i], e->flags);
		pthread_mutex_lock(&e->mu);
		it->state = RF_DONE;
		pthread_mutex_unlock(&e->mu);
		(void)!write(e->wake[1], "", 1);
	}
}

/*
 * A copy of ctx for a commit thread: the same configuration and clock,
 * its own cache memo and generation mapping, resolver and TLS context
 * only if a lookup needs the blocking network, log lines into the
 * domain's.
 */
static struct mtasts_ctx *
rf_ctx_copy(const struct mtasts_ctx *ctx)
{
	struct mtasts_ctx *c;

	if ((c = malloc(sizeof(*c))) == NULL)
		return NULL;
	*c = *ctx;
	c->dns = NULL;
	c->ssl_ctx = NULL;
	c->cache_memo = NULL;
	memset(&c->cache_gen, 0, sizeof(c->cache_gen));
	c->net = &mtasts_netops_direct;
	c->replay = NULL;
	c->log_fn = rf_log;
	c->log_arg = NULL;
	return c;
}

/* Queue item i for a commit thread. */
static void
rf_queue(struct rf_engine *e, size_t i)
{
	pthread_mutex_lock(&e->mu);
	e->items[i].state = RF_QUEUED;
	e->queue[e->qtail++] = i;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

static int
rf_state(struct rf_engine *e, size_t i)
{
	int st;

	pthread_mutex_lock(&e->mu);
	st = e->items[i].state;
	pthread_mutex_unlock(&e->mu);
	return st;
}

/* One after another in the caller's context: no network of our own. */
static void
rf_run_serial(struct mtasts_ctx *ctx, struct mtasts_refresh_item *items,
    const char *const *domains, size_t from, size_t n, unsigned flags,
    mtasts_refresh_fn *done, void *arg)
{
	size_t i;

	for (i = from; i < n; i++) {
		item_lookup(ctx, &items[i], domains[i], flags);
		done(arg, i, items[i].rc, items[i].rc == MTASTS_OK ?
		    items[i].r : NULL, &items[i].err);
		mtasts_result_free(items[i].r);
		items[i].r = NULL;
	}
}

/* The network loop; returns how many domains were emitted. */
static size_t
rf_loop(struct mtasts_ctx *ctx, struct rf_engine *e, size_t n, size_t conc,
    int ubfd, mtasts_refresh_fn *done, void *arg)
{
	struct mtasts_refresh_item *items = e->items;
	struct pollfd *pfd;
	mtasts_log_fn *log_fn = ctx->log_fn;
	void *log_arg = ctx->log_arg;
	size_t *live, nlive = 0, inflight = 0, start = 0, emit = 0;
	size_t np, maxfd = conc * MTASTS_ADDRS_MAX + 2, j, k;
	int64_t wake, now;
	int r, tmo;
	char drain[64];

	if ((live = calloc(conc, sizeof(*live))) == NULL)
		return 0;
	if ((pfd = calloc(maxfd, sizeof(*pfd))) == NULL) {
		free(live);
		return 0;
	}
	while (emit < n) {
		/* Fill the free slots, in order. */
		while (inflight < conc && start < n) {
			ctx->log_fn = rf_log;
			ctx->log_arg = &items[start];
			item_start(ctx, &items[start], e->domains[start],
			    &inflight);
			ctx->log_fn = log_fn;
			ctx->log_arg = log_arg;
			if (items[start].state == RF_READY)
				rf_queue(e, start);
			else
				live[nlive++] = start;
			start++;
		}
		/* What is done, in the order of domains[]. */
		while (emit < n && rf_state(e, emit) == RF_DONE) {
			item_emit(ctx, &items[emit], emit, done, arg);
			emit++;
		}
		if (emit >= n)
			break;
		if (nlive == 0 && start < n)
			continue;
		wake = INT64_MAX;
		np = 0;
		pfd[np].fd = e->wake[0];
		pfd[np].events = POLLIN;
		pfd[np++].revents = 0;
		pfd[np].fd = ubfd;
		pfd[np].events = POLLIN;
		pfd[np++].revents = 0;
		for (j = 0; j < nlive; j++)
			np += item_fds(&items[live[j]], pfd + np, maxfd - np,
			    &wake);
		now = mtasts_mono_ms();
		tmo = wake == INT64_MAX ? -1 : wake <= now ? 0 :
		    wake - now > INT_MAX ? INT_MAX : (int)(wake - now);
		r = poll(pfd, np, tmo);
		if (r < 0 && errno != EINTR)
			break;
		if (r > 0 && (pfd[0].revents & POLLIN) != 0)
			while (read(e->wake[0], drain, sizeof(drain)) > 0)
				;
		if (r > 0 && (pfd[1].revents & POLLIN) != 0)
			(void)mtasts_dns_async_process(ctx);
		/* Each fetch its revents back, then every live item on. */
		for (j = 0, np = 2; j < nlive; j++) {
			struct mtasts_refresh_item *it = &items[live[j]];

			if (it->state == RF_FETCH) {
				memcpy(it->sm->pfd, pfd + np,
				    it->sm->npfd * sizeof(*pfd));
				np += it->sm->npfd;
				mtasts_fetch_sm_polled(it->sm, 0);
			}
		}
		for (j = k = 0; j < nlive; j++) {
			struct mtasts_refresh_item *it = &items[live[j]];

			ctx->log_fn = rf_log;
			ctx->log_arg = it;
			item_poll(ctx, it, e->flags, &inflight);
			ctx->log_fn = log_fn;
			ctx->log_arg = log_arg;
			if (it->state == RF_READY)
				rf_queue(e, live[j]);
			else
				live[k++] = live[j];
		}
		nlive = k;
	}
	/* poll() failed: what is still on the network, the blocking way. */
	for (j = 0; j < nlive; j++) {
		item_clear(ctx, &items[live[j]]);
		rf_queue(e, live[j]);
	}
	for (; start < n; start++)
		rf_queue(e, start);
	free(pfd);
	free(live);
	return emit;
}

/* The wake-up pipe: non-blocking, close-on-exec. */
static int
rf_pipe(int *p)
{
	int i;

	if (pipe(p) != 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	for (i = 0; i < 2; i++)
		if (fcntl(p[i], F_SETFD, FD_CLOEXEC) == -1 ||
		    fcntl(p[i], F_SETFL, O_NONBLOCK) == -1)
			return -1;
	return 0;
}

int
mtasts_refresh_run(struct mtasts_ctx *ctx, const char *const *domains,
    size_t n, unsigned flags, mtasts_refresh_fn *done, void *arg,
    struct mtasts_error *err)
{
	struct rf_engine e;
	struct mtasts_cache_batch batch;
	struct mtasts_fdsnap fds;
	struct rf_thread *th = NULL;
	struct mtasts_error derr = { 0, "" };
	size_t conc, nth = 0, emit = 0, j;
	int ubfd = -1, rc;

	if (ctx == NULL || done == NULL)
		return mtasts_err(err, MTASTS_ERROR, "refresh: no context");
	if ((rc = mtasts_ctx_finalize(ctx, err)) != MTASTS_OK)
		return rc;
	if (n == 0)
		return MTASTS_OK;
	conc = ctx->cfg.refresh_concurrency > 0 ?
	    (size_t)ctx->cfg.refresh_concurrency : 1;
	if (conc > n)
		conc = n;
	memset(&e, 0, sizeof(e));
	batch.dfd = -1;
	e.domains = domains;
	e.flags = flags;
	e.wake[0] = e.wake[1] = -1;
	if ((e.items = calloc(n, sizeof(*e.items))) == NULL ||
	    (e.queue = calloc(n, sizeof(*e.queue))) == NULL ||
	    (th = calloc(conc, sizeof(*th))) == NULL) {
		free(e.items);
		free(e.queue);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
	/*
	 * Only over this build's own network code: another table (the unit
	 * tests' fake network) is used as is, one lookup after another. A
	 * resolver that cannot be set up, or is BROKEN, is left to each
	 * lookup to report (D-DNSSEC-2, D-CONF-5).
	 */
	/*
	 * D-FD-1: the resolver's descriptors have no CLOEXEC option; they
	 * get it once, after the run (nothing is exec'd during it).
	 */
	mtasts_fd_snapshot(&fds);
	/*
	 * D-CACHE-9: one sync for the run, before it reports. No batch (no
	 * cache directory yet, or it cannot be opened): each store syncs.
	 * Set before the commit threads' copies are made: they share it.
	 */
	if (ctx->cache_batch == NULL)
		(void)mtasts_cache_batch_begin(ctx, &batch, &derr);
	if (mtasts_netops_get(ctx, &derr) != &mtasts_netops_direct ||
	    mtasts_dns_async_open(ctx, &ubfd, &derr) != MTASTS_OK ||
	    rf_pipe(e.wake) != 0) {
		rf_run_serial(ctx, e.items, domains, 0, n, flags, done, arg);
		goto out;
	}
	pthread_mutex_init(&e.mu, NULL);
	pthread_cond_init(&e.cv, NULL);
	for (nth = 0; nth < conc; nth++) {
		th[nth].e = &e;
		if ((th[nth].ctx = rf_ctx_copy(ctx)) == NULL ||
		    pthread_create(&th[nth].tid, NULL, rf_commit_main,
		    &th[nth]) != 0) {
			free(th[nth].ctx);
			th[nth].ctx = NULL;
			break;
		}
		th[nth].started = 1;
	}
	if (nth == 0) {
		pthread_cond_destroy(&e.cv);
		pthread_mutex_destroy(&e.mu);
		rf_run_serial(ctx, e.items, domains, 0, n, flags, done, arg);
		goto out;
	}
	emit = rf_loop(ctx, &e, n, conc, ubfd, done, arg);
	pthread_mutex_lock(&e.mu);
	e.stop = 1;
	pthread_cond_broadcast(&e.cv);
	pthread_mutex_unlock(&e.mu);
	for (j = 0; j < nth; j++)
		(void)pthread_join(th[j].tid, NULL);
	/* After a failed poll(): the rest, still in order. */
	for (; emit < n; emit++) {
		if (e.items[emit].state != RF_DONE) {
			rf_log_flush(ctx, &e.items[emit]);
			item_lookup(ctx, &e.items[emit], domains[emit], flags);
			e.items[emit].state = RF_DONE;
		}
		item_emit(ctx, &e.items[emit], emit, done, arg);
	}
	for (j = 0; j < nth; j++)
		mtasts_ctx_free(th[j].ctx);
	pthread_cond_destroy(&e.cv);
	pthread_mutex_destroy(&e.mu);
out:
	if (ctx->cache_batch == &batch)
		rc = mtasts_cache_batch_end(ctx, &batch, err);
	(void)mtasts_fd_cloexec_new(&fds);
	if (e.wake[0] >= 0)
		close(e.wake[0]);
	if (e.wake[1] >= 0)
		close(e.wake[1]);
	for (j = 0; j < n; j++)
		item_clear(ctx, &e.items[j]);
	free(th);
	free(e.queue);
	free(e.items);
	return rc;
}
