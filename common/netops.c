/* SPDX-License-Identifier: ISC */
/*
 * netops.c - the network operations table of this build (DNS through
 * libunbound, policy fetch through OpenSSL), bound directly.
 *
 * The static and shared libraries use it as is; mtasts_net.so exports it
 * for the Exim module, which links only the light half and loads this one
 * on the first cache miss (exim/netload.c defines the module's own
 * mtasts_netops_get() and mtasts_net_release()).
 */
#include "mtasts_internal.h"

static void
net_release(struct mtasts_ctx *ctx)
{
	mtasts_dns_free(ctx);
	mtasts_fetch_free(ctx);
}

const struct mtasts_netops mtasts_netops_direct = {
	.abi = MTASTS_NETOPS_ABI,
	.ctx_size = sizeof(struct mtasts_ctx),
	.fetch_size = sizeof(struct mtasts_fetch),
	.answer_size = sizeof(struct mtasts_dns_answer),
	.dns_query = mtasts_dns_query,
	.dns_answer_free = mtasts_dns_answer_free,
	.dns_txt_decode = mtasts_dns_txt_decode,
	.dns_txt_free = mtasts_dns_txt_free,
	.fetch_policy = mtasts_fetch_policy,
	.fetch_clear = mtasts_fetch_clear,
	.release = net_release,
};

const struct mtasts_netops *
mtasts_netops_get(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	(void)err;
	/* A table already set is kept: the unit tests' fake network seam. */
	if (ctx->net == NULL)
		ctx->net = &mtasts_netops_direct;
	return ctx->net;
}

void
mtasts_net_release(struct mtasts_ctx *ctx)
{
	/* The CLI also reaches dns.c and fetch.c directly: always release. */
	net_release(ctx);
}
