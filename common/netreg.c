/* SPDX-License-Identifier: ISC */
/*
 * netreg.c - how a context gets its network operations (struct
 * mtasts_netops): the unit tests' table, a loader the host registered
 * explicitly (the Exim module, which links only the light half and loads
 * mtasts_net.so on the first cache miss), or the table built into the
 * static and shared libraries (MTASTS_NET_BUILTIN). What a loader returns
 * is checked against this build (ABI and struct sizes): a mismatched pair
 * of files fails the lookup closed.
 */
#include "mtasts_internal.h"

void
mtasts_ctx_set_net_loader(struct mtasts_ctx *ctx, mtasts_net_loader_fn *fn)
{
	ctx->net_loader = fn;
}

const struct mtasts_netops *
mtasts_netops_get(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	const struct mtasts_netops *ops;

	/* A table already set is kept: the unit tests' fake network seam. */
	if (ctx->net != NULL)
		return ctx->net;
	if (ctx->net_loader != NULL) {
		if ((ops = ctx->net_loader(err)) == NULL) {
			mtasts_err_set(err, MTASTS_ERROR, "network library "
			    "unavailable (cannot fetch policies)");
			return NULL;
		}
		if (ops->abi != MTASTS_NETOPS_ABI ||
		    ops->ctx_size != sizeof(struct mtasts_ctx) ||
		    ops->fetch_size != sizeof(struct mtasts_fetch) ||
		    ops->answer_size != sizeof(struct mtasts_dns_answer)) {
			mtasts_err_set(err, MTASTS_ERROR, "network library "
			    "does not match this module");
			return NULL;
		}
		ctx->net = ops;
		return ops;
	}
#ifdef MTASTS_NET_BUILTIN
	ctx->net = &mtasts_netops_direct;
	return ctx->net;
#else
	mtasts_err_set(err, MTASTS_ERROR, "network library unavailable "
	    "(cannot fetch policies): no network operations registered");
	return NULL;
#endif
}

void
mtasts_net_release(struct mtasts_ctx *ctx)
{
#ifdef MTASTS_NET_BUILTIN
	/* The CLI also reaches dns.c and fetch.c directly: always release. */
	mtasts_netops_direct.release(ctx);
#else
	/* Only the loaded library can have made a resolver or SSL_CTX. */
	if (ctx->net != NULL)
		ctx->net->release(ctx);
#endif
}
