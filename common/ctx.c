/* SPDX-License-Identifier: ISC */
/*
 * ctx.c - the library context: defaults, logging, clock, lifetime.
 *
 * A context is cheap to create: it holds configuration only. The resolver
 * (dns.c) and the TLS client context (fetch.c) are made on first need, so
 * a cache hit never initialises DNS or TLS. Both are reached only through
 * the network operations (netops.c), which the Exim module loads on the
 * first cache miss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

void
mtasts_config_defaults(struct mtasts_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dnssec = -1;	/* auto: on when the trust anchor exists */
	mtasts_strlcpy(cfg->trust_anchor_file, "/usr/share/dns/root.key",
	    sizeof(cfg->trust_anchor_file));
	mtasts_strlcpy(cfg->cache_dir, "/var/cache/mtasts",
	    sizeof(cfg->cache_dir));
	cfg->fetch_timeout_ms = 20000;
	cfg->dns_timeout_ms = 5000;
	cfg->txt_check_interval = 3600;
	cfg->dns_failure = MTASTS_DNSFAIL_NONE;
	cfg->lock_wait_ms = -1;	/* follows fetch_timeout */
	cfg->refresh_concurrency = 8;
	cfg->cache_purge_after = 30 * 86400;
	cfg->report_retention_days = MTASTS_RETENTION_DAYS_DEFAULT;
	mtasts_strlcpy(cfg->user_agent, "mtasts/" MTASTS_VERSION_STRING,
	    sizeof(cfg->user_agent));
}

struct mtasts_ctx *
mtasts_ctx_new(void)
{
	struct mtasts_ctx *ctx;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return NULL;
	mtasts_config_defaults(&ctx->cfg);
	return ctx;
}

void
mtasts_ctx_free(struct mtasts_ctx *ctx)
{
	if (ctx == NULL)
		return;
	mtasts_net_release(ctx);
	mtasts_cache_memo_free(ctx);
	mtasts_cache_gen_release(ctx);
	free(ctx);
}

int
mtasts_ctx_fork_safe(const struct mtasts_ctx *ctx)
{
	/*
	 * The memo is private heap and the counter a shared mapping: both
	 * are the child's as much as the parent's (cache_memo.c, cachegen.c).
	 */
	return ctx != NULL && ctx->dns == NULL && ctx->ssl_ctx == NULL &&
	    ctx->replay == NULL && ctx->cache_batch == NULL;
}

void
mtasts_ctx_set_no_reports(struct mtasts_ctx *ctx, int on)
{
	ctx->tlsrpt_dry = on != 0;
}

void
mtasts_ctx_set_log(struct mtasts_ctx *ctx, mtasts_log_fn *fn, void *arg)
{
	ctx->log_fn = fn;
	ctx->log_arg = arg;
}

void
mtasts_ctx_set_now(struct mtasts_ctx *ctx, time_t now)
{
	ctx->now_override = now;
}

time_t
mtasts_now(const struct mtasts_ctx *ctx)
{
	if (ctx != NULL && ctx->now_override != 0)
		return ctx->now_override;
	return time(NULL);
}

void
mtasts_log(const struct mtasts_ctx *ctx, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (ctx == NULL || ctx->log_fn == NULL)
		return;
	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	ctx->log_fn(ctx->log_arg, level, msg);
}
