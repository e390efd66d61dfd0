/* cache.c - STUB, replaced by the on-disk cache. */
#include "mtasts_internal.h"
int mtasts_cache_load(struct mtasts_ctx *ctx, const char *domain, struct mtasts_cache_entry **out, struct mtasts_error *err)
{ (void)ctx; (void)domain; (void)err; *out = NULL; return MTASTS_NOTFOUND; }
int mtasts_cache_store(struct mtasts_ctx *ctx, const struct mtasts_cache_entry *e, struct mtasts_error *err)
{ (void)ctx; (void)e; return mtasts_err(err, MTASTS_ERROR, "stub"); }
int mtasts_cache_remove(struct mtasts_ctx *ctx, const char *domain, struct mtasts_error *err)
{ (void)ctx; (void)domain; (void)err; return MTASTS_OK; }
void mtasts_cache_entry_free(struct mtasts_cache_entry *e) { (void)e; }
int mtasts_cache_lock(struct mtasts_ctx *ctx, const char *domain, int wait_ms, int *fd, struct mtasts_error *err)
{ (void)ctx; (void)domain; (void)wait_ms; (void)err; *fd = -1; return MTASTS_OK; }
void mtasts_cache_unlock(int fd) { (void)fd; }
int mtasts_cache_foreach(struct mtasts_ctx *ctx, int (*fn)(void *arg, const char *domain), void *arg, struct mtasts_error *err)
{ (void)ctx; (void)fn; (void)arg; (void)err; return MTASTS_OK; }
