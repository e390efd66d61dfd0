/* SPDX-License-Identifier: ISC */
/*
 * plugin.c - per-process libmtasts state for MTA adapters: the context,
 * its configuration, the log sink and the lookup memo.
 *
 * MTAs call adapters from many short-lived processes (Exim forks a
 * delivery process per message and a transport process per connection).
 * The state here is therefore static per process and checks getpid() on
 * every entry: a child made by fork() keeps the inherited context while
 * mtasts_ctx_fork_safe() says nothing in it belongs to the parent's
 * process (a cache-hit-only context), else drops it through
 * mtasts_ctx_free(), which only releases what is safe to release there,
 * and makes its own. The memo survives fork on purpose: a transport
 * process then enforces exactly the policy its parent router applied.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_plugin.h"

/* Longest configuration path the glue remembers. */
#define CONFIG_PATH_MAX 1024

struct memo {
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_result *res;
	int64_t at_ms;
};

struct plugin_state {
	pid_t pid;
	struct mtasts_ctx *ctx;
	int loaded;			/* a config load was attempted */
	int config_rc;			/* its result */
	char config_err[MTASTS_ERROR_TEXT_MAX];
	char config_path[CONFIG_PATH_MAX];	/* "" = library default */
	mtasts_net_loader_fn *net_loader;	/* light host's network half */
	mtasts_log_fn *log_fn;
	void *log_arg;
	struct memo memo[MTASTS_PLUGIN_MEMO_MAX];
	int64_t memo_ttl_ms;		/* 0 = MTASTS_PLUGIN_MEMO_TTL_MS */
	int no_reports;			/* not a real delivery: no TLS-RPT */
	unsigned next;
	unsigned long lookups, hits;
};

static struct plugin_state st;

/* Bounded copy (always terminated); returns 1 when src was cut. */
static int
copy(char *dst, const char *src, size_t size)
{
	int n = snprintf(dst, size, "%s", src);

	return n < 0 || (size_t)n >= size;
}

/* The first error wins (struct mtasts_error); returns code. */
static int
seterr(struct mtasts_error *err, int code, const char *text)
{
	if (err != NULL && err->code == 0) {
		err->code = code;
		copy(err->text, text, sizeof(err->text));
	}
	return code;
}

void
mtasts_plugin_set_net_loader(mtasts_net_loader_fn *fn)
{
	st.net_loader = fn;
	if (st.ctx != NULL)
		mtasts_ctx_set_net_loader(st.ctx, fn);
}

void
mtasts_plugin_set_log(mtasts_log_fn *fn, void *arg)
{
	st.log_fn = fn;
	st.log_arg = arg;
	if (st.ctx != NULL)
		mtasts_ctx_set_log(st.ctx, fn, arg);
}

void
mtasts_plugin_log(int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (st.log_fn == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	st.log_fn(st.log_arg, level, msg);
}

static void
memo_clear(void)
{
	size_t i;

	for (i = 0; i < MTASTS_PLUGIN_MEMO_MAX; i++) {
		mtasts_result_free(st.memo[i].res);
		memset(&st.memo[i], 0, sizeof(st.memo[i]));
	}
	st.next = 0;
}

static void
ctx_drop(void)
{
	mtasts_ctx_free(st.ctx);
	st.ctx = NULL;
	st.loaded = 0;
	st.config_rc = MTASTS_OK;
	st.config_err[0] = '\0';
}

/*
 * The file the adapter loads: the one named, else $MTASTS_CONFIG, else
 * MTASTS_PLUGIN_DEFAULT_CONFIG, always by name. Unlike the CLI (the
 * core's NULL path: a missing /etc/mtasts.conf means the defaults), an
 * MTA never runs on defaults it was not given: a missing file is a
 * configuration error, so the MTA defers (D-EXIM-9).
 */
static const char *
config_file(const char *want)
{
	const char *env;

	if (want[0] != '\0')
		return want;
	env = getenv("MTASTS_CONFIG");
	return env != NULL && env[0] != '\0' ? env :
	    MTASTS_PLUGIN_DEFAULT_CONFIG;
}

struct mtasts_ctx *
mtasts_plugin_ctx(const char *config, struct mtasts_error *err)
{
	struct mtasts_error lerr = { 0, "" };
	const char *want = config != NULL ? config : "";

	if (st.pid != getpid()) {
		/*
		 * New process (first call, or a fork child). A context that
		 * only answered from the cache is the child's too: keeping
		 * it saves the transport process a second configuration
		 * load (D-EXIM-4). One with a resolver or TLS is not.
		 */
		if (st.ctx == NULL || !mtasts_ctx_fork_safe(st.ctx))
			ctx_drop();
		st.pid = getpid();
	}
	if (st.loaded && strcmp(st.config_path, want) != 0) {
		/* Another configuration: nothing learnt under the old holds. */
		ctx_drop();
		memo_clear();
	}
	if (!st.loaded) {
		st.loaded = 1;
		if (copy(st.config_path, want, sizeof(st.config_path))) {
			st.config_rc = MTASTS_ERROR;
			copy(st.config_err, "config path too long",
			    sizeof(st.config_err));
		} else if ((st.ctx = mtasts_ctx_new()) == NULL) {
			st.config_rc = MTASTS_NOMEM;
			copy(st.config_err, "out of memory",
			    sizeof(st.config_err));
		} else {
			mtasts_ctx_set_log(st.ctx, st.log_fn, st.log_arg);
			if (st.net_loader != NULL)
				mtasts_ctx_set_net_loader(st.ctx,
				    st.net_loader);
			st.config_rc = mtasts_ctx_load_config(st.ctx,
			    config_file(want), &lerr);
			if (st.config_rc != MTASTS_OK) {
				snprintf(st.config_err, sizeof(st.config_err),
				    "configuration: %s", lerr.text);
				mtasts_ctx_free(st.ctx);
				st.ctx = NULL;
				/* Once per process: the reason, loudly. */
				mtasts_plugin_log(MTASTS_LOG_ERR, "%s; mail "
				    "that needs a policy decision is deferred",
				    st.config_err);
			}
		}
	}
	if (st.ctx == NULL) {
		(void)seterr(err,
		    st.config_rc != MTASTS_OK ? st.config_rc : MTASTS_ERROR,
		    st.config_err[0] ? st.config_err : "no context");
		return NULL;
	}
	mtasts_ctx_set_no_reports(st.ctx, st.no_reports);
	return st.ctx;
}

/* ------------------------------------------------ held domains (D-EXIM-11) */

void
mtasts_plugin_note_held(const struct mtasts_result *r)
{
	struct mtasts_error err = { 0, "" };

	if (st.ctx == NULL || st.pid != getpid() || r == NULL)
		return;
	if (mtasts_enforce_held_note(st.ctx, r, &err) != MTASTS_OK)
		mtasts_plugin_log(MTASTS_LOG_WARN, "%s: %s",
		    mtasts_result_domain(r), err.text);
}

int
mtasts_plugin_lookup(const char *domain, const char *config,
    const struct mtasts_result **out, struct mtasts_error *err)
{
	struct mtasts_ctx *ctx;
	struct mtasts_result *res = NULL;
	char key[MTASTS_DOMAIN_MAX + 1];
	int64_t now, ttl;
	size_t i;
	int rc;

	*out = NULL;
	if (domain == NULL)
		return seterr(err, MTASTS_INVALID, "no domain");
	if ((ctx = mtasts_plugin_ctx(config, err)) == NULL)
		return err != NULL && err->code != 0 ? err->code : MTASTS_ERROR;
	if ((rc = mtasts_domain_normalize(domain, strlen(domain), key, err)) !=
	    MTASTS_OK)
		return rc;
	st.lookups++;
	ttl = st.memo_ttl_ms > 0 ? st.memo_ttl_ms : MTASTS_PLUGIN_MEMO_TTL_MS;
	now = mtasts_mono_ms();
	for (i = 0; i < MTASTS_PLUGIN_MEMO_MAX; i++) {
		struct memo *m = &st.memo[i];

		if (m->res == NULL || strcmp(m->domain, key) != 0)
			continue;
		if (now - m->at_ms >= 0 &&
		    now - m->at_ms < ttl) {
			st.hits++;
			*out = m->res;
			return MTASTS_OK;
		}
		mtasts_result_free(m->res);
		memset(m, 0, sizeof(*m));
	}
	if ((rc = mtasts_lookup(ctx, key, 0, &res, err)) != MTASTS_OK)
		return rc;
	(void)mtasts_enforce_held_apply(ctx, res);	/* D-EXIM-11 */
	i = st.next++ % MTASTS_PLUGIN_MEMO_MAX;
	mtasts_result_free(st.memo[i].res);
	copy(st.memo[i].domain, key, sizeof(st.memo[i].domain));
	st.memo[i].res = res;
	/*
	 * Stamped when the answer is known, not when it was asked for: a
	 * lookup that waited for the lock and fetched (tens of seconds)
	 * must not be stored already expired, or the router and the
	 * transport of one delivery could see different answers.
	 */
	st.memo[i].at_ms = mtasts_mono_ms();
	*out = res;
	return MTASTS_OK;
}

int
mtasts_plugin_result_mode(const struct mtasts_result *r)
{
	int m;

	if (r == NULL)
		return MTASTS_MODE_NONE;
	m = mtasts_enforce_mode(mtasts_result_domain(r), MTASTS_OK, r, NULL);
	/* The core's answer, as a policy mode (tempfail: no policy mode). */
	return m == MTASTS_ENFORCE_ENFORCE ? MTASTS_MODE_ENFORCE :
	    m == MTASTS_ENFORCE_TESTING ? MTASTS_MODE_TESTING :
	    MTASTS_MODE_NONE;
}

void
mtasts_plugin_stats(unsigned long *lookups, unsigned long *hits)
{
	*lookups = st.lookups;
	*hits = st.hits;
}

void
mtasts_plugin_set_no_reports(int on)
{
	st.no_reports = on != 0;
	if (st.ctx != NULL)
		mtasts_ctx_set_no_reports(st.ctx, st.no_reports);
}

void
mtasts_plugin_set_memo_ttl(int64_t ms)
{
	st.memo_ttl_ms = ms;
}

void
mtasts_plugin_reset(void)
{
	mtasts_log_fn *fn = st.log_fn;
	mtasts_net_loader_fn *net = st.net_loader;
	void *arg = st.log_arg;

	memo_clear();
	if (st.pid == getpid())
		ctx_drop();
	memset(&st, 0, sizeof(st));
	st.log_fn = fn;
	st.log_arg = arg;
	st.net_loader = net;
}
