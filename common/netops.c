/* SPDX-License-Identifier: ISC */
/*
 * netops.c - the network operations table of this build (DNS through
 * libunbound, policy fetch through OpenSSL), bound directly.
 *
 * The static and shared libraries use it as is (netreg.c, built with
 * MTASTS_NET_BUILTIN); mtasts_net.so exports it through
 * mtasts_netops_builtin() for the Exim module, which links only the light
 * half and registers a loader for it (exim/netload.c).
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
	.cache_encode = mtasts_cache_encode,
	.cache_decode_json = mtasts_cache_decode_json,
};

const struct mtasts_netops *
mtasts_netops_builtin(void)
{
	return &mtasts_netops_direct;
}
