/* SPDX-License-Identifier: ISC */
/*
 * plugin.c - per-process libmtasts state for MTA adapters: the context,
 * its configuration, the log sink and the lookup memo.
 *
 * MTAs call adapters from many short-lived processes (Exim forks a
 * delivery process per message and a transport process per connection).
 * The state here is therefore static per process and checks getpid() on
 * every entry: a child made by fork() drops the inherited context through
 * mtasts_ctx_free(), which only releases what is safe to release there,
 * and makes its own. The memo survives fork on purpose: a transport
 * process then enforces exactly the policy its parent router applied.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"
#include "mtasts_plugin.h"

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
	char config_path[MTASTS_PATH_MAX];	/* "" = library default */
	mtasts_log_fn *log_fn;
	void *log_arg;
	struct memo memo[MTASTS_PLUGIN_MEMO_MAX];
	int64_t memo_ttl_ms;		/* 0 = MTASTS_PLUGIN_MEMO_TTL_MS */
	int no_reports;			/* not a real delivery: no TLS-RPT */
	unsigned next;
	unsigned long lookups, hits;
};

static struct plugin_state st;

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
	return env != NULL && env[0] != '\0' ? env
					      : MTASTS_PLUGIN_DEFAULT_CONFIG;
}

struct mtasts_ctx *
mtasts_plugin_ctx(const char *config, struct mtasts_error *err)
{
	struct mtasts_error lerr = { 0, "" };
	const char *want = config != NULL ? config : "";

	if (st.pid != getpid()) {
		/* New process (first call, or a fork child). */
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
		if (mtasts_strlcpy(st.config_path, want,
			sizeof(st.config_path)) >= sizeof(st.config_path)) {
			st.config_rc = MTASTS_ERROR;
			mtasts_strlcpy(st.config_err, "config path too long",
			    sizeof(st.config_err));
		} else if ((st.ctx = mtasts_ctx_new()) == NULL) {
			st.config_rc = MTASTS_NOMEM;
			mtasts_strlcpy(st.config_err, "out of memory",
			    sizeof(st.config_err));
		} else {
			mtasts_ctx_set_log(st.ctx, st.log_fn, st.log_arg);
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
		mtasts_err_set(err, st.config_rc != MTASTS_OK ? st.config_rc
							     : MTASTS_ERROR,
		    "%s", st.config_err[0] ? st.config_err : "no context");
		return NULL;
	}
	st.ctx->tlsrpt_dry = st.no_reports;
	return st.ctx;
}

/* ------------------------------------------------ held domains (D-EXIM-11) */

/* "<cache_dir>/.held.<domain>": a dotfile, so the cache's own listing,
 * `mtasts cache list` and `cache flush` never see it. */
#define HELD_PREFIX ".held."
#define HELD_FILE_MAX 64

static int
held_path(const struct mtasts_ctx *ctx, const char *domain, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/" HELD_PREFIX "%s", ctx->cfg.cache_dir,
	    domain);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * 1 and *until when domain has a held marker, 0 when it has none. An
 * unreadable or malformed marker counts as held with no end (fail
 * closed): *until is then -1.
 */
static int
held_get(const struct mtasts_ctx *ctx, const char *domain, long long *until)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char buf[HELD_FILE_MAX + 1];
	struct stat sb;
	uint64_t v;
	ssize_t n;
	size_t len;
	int fd;

	*until = -1;
	if (held_path(ctx, domain, path, sizeof(path)) != 0)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : 1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > HELD_FILE_MAX ||
	    (n = read(fd, buf, HELD_FILE_MAX)) <= 0) {
		close(fd);
		return 1;
	}
	close(fd);
	len = (size_t)n;
	if (buf[len - 1] == '\n')
		len--;
	if (mtasts_parse_u64(buf, len, (uint64_t)1 << 40, &v) == 0)
		*until = (long long)v;
	return 1;
}

void
mtasts_plugin_note_held(const struct mtasts_result *r)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char line[32];
	const char *why = NULL;
	long long until;
	int fd, n;

	if (st.ctx == NULL || st.pid != getpid() || r == NULL ||
	    mtasts_plugin_result_mode(r) != MTASTS_MODE_ENFORCE ||
	    r->expires <= time(NULL))
		return;
	if (held_get(st.ctx, r->domain, &until) && until >= r->expires)
		return;		/* already remembered at least as long */
	if (held_path(st.ctx, r->domain, path, sizeof(path)) != 0)
		return;
	/* Regular file, one link, no symlink, never blocks (D-FILE-1). */
	fd = mtasts_open_file(AT_FDCWD, path, O_WRONLY | O_CREAT, 0660, &why);
	if (fd == -1) {
		mtasts_plugin_log(MTASTS_LOG_WARN, "%s: cannot remember the "
		    "held mail in %s: %s", r->domain, path,
		    why != NULL ? why : strerror(errno));
		return;
	}
	n = snprintf(line, sizeof(line), "%lld\n", (long long)r->expires);
	if (n <= 0 || ftruncate(fd, 0) != 0 || write(fd, line, (size_t)n) != n)
		mtasts_plugin_log(MTASTS_LOG_WARN, "%s: cannot write %s: %s",
		    r->domain, path, strerror(errno));
	close(fd);
}

/*
 * A domain whose mail this host held under an enforce policy valid until
 * T keeps being deferred until T when the policy is unknown now (its
 * cache entry flushed or unusable and the fetch failing): that is the
 * protection the cache entry would have given. A definite answer (no
 * record, or a fetched policy not in enforce mode) forgets the hold.
 */
static void
held_apply(struct mtasts_ctx *ctx, struct mtasts_result *r)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char why[MTASTS_REASON_MAX];
	long long until;
	int mode = mtasts_plugin_result_mode(r);

	if (r->status == MTASTS_LOOKUP_TEMPFAIL ||
	    (r->status == MTASTS_LOOKUP_POLICY && mode == MTASTS_MODE_ENFORCE))
		return;
	if (!held_get(ctx, r->domain, &until))
		return;
	if (r->status == MTASTS_LOOKUP_POLICY || r->failure_type[0] == '\0' ||
	    (until >= 0 && until <= (long long)time(NULL))) {
		/* A definite answer, or the hold ran out: forget it. */
		if (held_path(ctx, r->domain, path, sizeof(path)) == 0)
			(void)unlink(path);
		return;
	}
	snprintf(why, sizeof(why), "policy unknown (%s); mail for this domain "
	    "was held under its enforce policy, valid until %lld",
	    r->failure_reason, until);
	mtasts_strlcpy(r->failure_reason, why, sizeof(r->failure_reason));
	r->status = MTASTS_LOOKUP_TEMPFAIL;
	mtasts_plugin_log(MTASTS_LOG_WARN, "%s: %s: deferred", r->domain, why);
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
		return mtasts_err(err, MTASTS_INVALID, "no domain");
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
	held_apply(ctx, res);
	i = st.next++ % MTASTS_PLUGIN_MEMO_MAX;
	mtasts_result_free(st.memo[i].res);
	mtasts_strlcpy(st.memo[i].domain, key, sizeof(st.memo[i].domain));
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
	const struct mtasts_policy *p;

	if (r == NULL || mtasts_result_status(r) != MTASTS_LOOKUP_POLICY ||
	    (p = mtasts_result_policy(r)) == NULL)
		return MTASTS_MODE_NONE;
	return mtasts_policy_mode(p);
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
		st.ctx->tlsrpt_dry = st.no_reports;
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
	void *arg = st.log_arg;

	memo_clear();
	if (st.pid == getpid())
		ctx_drop();
	memset(&st, 0, sizeof(st));
	st.log_fn = fn;
	st.log_arg = arg;
}
