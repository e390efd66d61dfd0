/* SPDX-License-Identifier: ISC */
/*
 * mtasts_refresh.h - many policy lookups in one process, for `mtasts
 * refresh` (decisions.md D-REFRESH-1).
 *
 * Not part of libmtasts.so's exported API yet (the CLI links the static
 * library); it follows mtasts.h's rules.
 */
#ifndef MTASTS_REFRESH_H
#define MTASTS_REFRESH_H

#include <stddef.h>

#include "mtasts.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What became of domain i: rc and r as mtasts_lookup() returns them (r
 * NULL unless rc is MTASTS_OK; borrowed, freed after the call), err its
 * error text.
 */
typedef void mtasts_refresh_fn(void *arg, size_t i, int rc,
    const struct mtasts_result *r, const struct mtasts_error *err);

/*
 * mtasts_lookup(ctx, domains[i], flags) for every i, with the network
 * work of up to refresh_concurrency domains in flight at once in this one
 * process (libunbound's asynchronous queries, non-blocking sockets, the
 * context's one TLS context), each under its own deadlines (dns_timeout,
 * fetch_timeout). Every lookup's decisions, cache stores and TLS-RPT
 * records are mtasts_lookup()'s own. done() is called once per domain,
 * in the order of domains[], from this thread. Returns MTASTS_OK, or
 * MTASTS_NOMEM / MTASTS_ERROR (err set) when it could not run at all
 * (done() was then called for no domain), or MTASTS_ERROR (err set)
 * after done() was called for every domain when the run's cache stores
 * could not be made durable (decisions.md D-CACHE-9: the final sync
 * failed; every entry is whole, old or new).
 */
int mtasts_refresh_run(struct mtasts_ctx *ctx, const char *const *domains,
    size_t n, unsigned flags, mtasts_refresh_fn *done, void *arg,
    struct mtasts_error *err);

#ifdef __cplusplus
}
#endif

#endif
