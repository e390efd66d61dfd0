/* fetch.c - STUB, replaced by the HTTPS fetch. */
#include <string.h>
#include "mtasts_internal.h"
void mtasts_fetch_policy(struct mtasts_ctx *ctx, const char *domain, struct mtasts_fetch *res)
{ (void)ctx; (void)domain; memset(res, 0, sizeof(*res)); res->rc = MTASTS_TEMPFAIL; }
void mtasts_fetch_clear(struct mtasts_fetch *res) { (void)res; }
void mtasts_fetch_free(struct mtasts_ctx *ctx) { (void)ctx; }
