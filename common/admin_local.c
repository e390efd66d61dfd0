/* SPDX-License-Identifier: ISC */
/*
 * admin_local.c - what `mtasts check --local` asks the core about this
 * installation (mtasts_admin.h): the CA store the fetch loads and what
 * the resolver answers.
 */
#include <openssl/ssl.h>

#include "mtasts_internal.h"

#define T_NS 2

_Static_assert((int)MTASTS_ADMIN_DNSSEC_OFF == (int)MTASTS_DNSSEC_OFF &&
	(int)MTASTS_ADMIN_DNSSEC_WORKING == (int)MTASTS_DNSSEC_WORKING &&
	(int)MTASTS_ADMIN_DNSSEC_AUTO_DISABLED ==
	    (int)MTASTS_DNSSEC_AUTO_DISABLED &&
	(int)MTASTS_ADMIN_DNSSEC_BROKEN == (int)MTASTS_DNSSEC_BROKEN &&
	(int)MTASTS_ADMIN_DNSSEC_UNKNOWN == (int)MTASTS_DNSSEC_UNKNOWN,
    "one list of DNSSEC states");

int
mtasts_admin_ca_store_count(struct mtasts_ctx *ctx, size_t *n, char *dir,
    size_t dsize, char *why, size_t size)
{
	struct ssl_ctx_st *sctx;

	*n = 0;
	if (dsize > 0)
		dir[0] = '\0';
	if ((sctx = mtasts_tls_client_ctx(&ctx->cfg, 1, why, size)) == NULL)
		return -1;
	*n = mtasts_tls_ca_count(sctx);
	if (mtasts_tls_system_dir_used(&ctx->cfg))
		mtasts_strlcpy(dir, mtasts_tls_system_dir(), dsize);
	SSL_CTX_free((SSL_CTX *)sctx);
	return 0;
}

int
mtasts_admin_resolver_probe(struct mtasts_ctx *ctx, int ms, int *answer,
    char *why, size_t size, struct mtasts_error *err)
{
	struct mtasts_dns_answer *a = NULL;
	int rc;

	*answer = MTASTS_RESOLVER_SILENT;
	if (size > 0)
		why[0] = '\0';
	if ((rc = mtasts_dns_query(ctx, ".", T_NS, ms, &a, err)) !=
	    MTASTS_OK)
		return rc;
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
	case MTASTS_DNS_NODATA:
	case MTASTS_DNS_NXDOMAIN:
		*answer = MTASTS_RESOLVER_ANSWERS;
		break;
	case MTASTS_DNS_BOGUS:
		*answer = MTASTS_RESOLVER_BOGUS;
		break;
	default:
		break;
	}
	mtasts_strlcpy(why, a->why, size);
	mtasts_dns_answer_free(a);
	return MTASTS_OK;
}

void
mtasts_admin_release_resolver(struct mtasts_ctx *ctx)
{
	mtasts_dns_free(ctx);
}
