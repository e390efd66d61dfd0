/* SPDX-License-Identifier: ISC */
/*
 * fuzz_cache_codec.c - libFuzzer target for the cache file codec
 * (common/cache_codec.c, D-CACHEFILE-1). Input:
 * "<domain>\n<file contents>". The oracle is the round trip: whatever
 * decode accepts, encode must write, the written file must decode to an
 * equal entry, and encoding that again must give the same bytes. Every
 * refusal must come with a reason. The differential half (D-CACHE-10):
 * what the fast decoder accepts, the jansson decoder accepts equal, and
 * every file encode writes is taken by the fast decoder.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/cache.h"
#include "internal/ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The full core: its jansson decoder is bound directly (netops.c). */
static struct mtasts_ctx *ctx;

static void
same(const struct mtasts_cache_entry *a, const struct mtasts_cache_entry *b)
{
	const char *ta, *tb;
	size_t la, lb, i;

	if (strcmp(a->domain, b->domain) != 0 || strcmp(a->id, b->id) != 0 ||
	    a->fetched_at != b->fetched_at || a->expires_at != b->expires_at ||
	    a->txt_checked_at != b->txt_checked_at ||
	    strcmp(a->txt_id, b->txt_id) != 0 || a->fail_at != b->fail_at ||
	    strcmp(a->fail_id, b->fail_id) != 0 ||
	    strcmp(a->fail_type, b->fail_type) != 0 ||
	    strcmp(a->fail_reason, b->fail_reason) != 0 ||
	    (a->policy == NULL) != (b->policy == NULL))
		abort();
	if (a->policy == NULL)
		return;
	ta = mtasts_policy_text(a->policy, &la);
	tb = mtasts_policy_text(b->policy, &lb);
	if (la != lb || memcmp(ta, tb, la) != 0 ||
	    mtasts_policy_mode(a->policy) != mtasts_policy_mode(b->policy) ||
	    mtasts_policy_max_age(a->policy) !=
	    mtasts_policy_max_age(b->policy) ||
	    mtasts_policy_mx_count(a->policy) !=
	    mtasts_policy_mx_count(b->policy))
		abort();
	for (i = 0; i < mtasts_policy_mx_count(a->policy); i++)
		if (strcmp(mtasts_policy_mx(a->policy, i),
		    mtasts_policy_mx(b->policy, i)) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_cache_entry a, b;
	char domain[MTASTS_DOMAIN_MAX + 1], why[128];
	const char *nl, *file;
	char *out1 = NULL, *out2 = NULL;
	size_t dlen, flen, len1 = 0, len2 = 0;
	int rc;

	if (ctx == NULL && (ctx = mtasts_ctx_new()) == NULL)
		return 0;
	nl = memchr(data, '\n', size);
	if (nl == NULL || (dlen = (size_t)(nl - (const char *)data)) >
	    MTASTS_DOMAIN_MAX || memchr(data, '\0', dlen) != NULL)
		return 0;
	memcpy(domain, data, dlen);
	domain[dlen] = '\0';
	file = nl + 1;
	flen = size - dlen - 1;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (mtasts_cache_decode_fast(domain, file, flen, &a) == MTASTS_OK) {
		why[0] = '\0';
		rc = mtasts_cache_decode_json(domain, file, flen, &b, why,
		    sizeof(why));
		if (rc != MTASTS_OK && rc != MTASTS_NOMEM)
			abort();
		if (rc == MTASTS_OK)
			same(&a, &b);
	}
	mtasts_policy_free(a.policy);
	mtasts_policy_free(b.policy);
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	why[0] = '\0';
	rc = mtasts_cache_decode(ctx, domain, file, flen, &a, why, sizeof(why));
	if (rc == MTASTS_NOMEM)
		goto done;
	if (rc != MTASTS_OK) {
		if (rc != MTASTS_INVALID || why[0] == '\0' ||
		    memchr(why, '\0', sizeof(why)) == NULL)
			abort();
		goto done;
	}
	/* Accepted: store must be able to write it, and only that. */
	if (mtasts_cache_encode(&a, &out1, &len1, NULL) != MTASTS_OK ||
	    len1 != strlen(out1) || len1 > MTASTS_CACHE_FILE_MAX)
		abort();
	/* What encode writes is canonical: the fast decoder takes it. */
	rc = mtasts_cache_decode_fast(domain, out1, len1, &b);
	if (rc == MTASTS_NOMEM)
		goto done;
	if (rc != MTASTS_OK)
		abort();
	same(&a, &b);
	if (mtasts_cache_encode(&b, &out2, &len2, NULL) != MTASTS_OK ||
	    len1 != len2 || memcmp(out1, out2, len1) != 0)
		abort();
done:
	mtasts_policy_free(a.policy);
	mtasts_policy_free(b.policy);
	free(out1);
	free(out2);
	return 0;
}
