/* SPDX-License-Identifier: ISC */
/*
 * internal/netops.h - the network half, reached through a table
 * (netops.c, netload.c).
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_NETOPS_H
#define MTASTS_INTERNAL_NETOPS_H

#include "internal/base.h"

struct mtasts_cache_entry;
struct mtasts_dns_answer;
struct mtasts_fetch;

#define MTASTS_NETOPS_ABI 2
struct mtasts_netops {
	unsigned abi;			/* MTASTS_NETOPS_ABI */
	size_t ctx_size;		/* sizeof(struct mtasts_ctx) */
	size_t fetch_size;		/* sizeof(struct mtasts_fetch) */
	size_t answer_size;		/* sizeof(struct mtasts_dns_answer) */
	int (*dns_query)(struct mtasts_ctx *, const char *, int, int,
	    struct mtasts_dns_answer **, struct mtasts_error *);
	void (*dns_answer_free)(struct mtasts_dns_answer *);
	int (*dns_txt_decode)(const struct mtasts_dns_answer *, char ***,
	    size_t **, size_t *);
	void (*dns_txt_free)(char **, size_t *, size_t);
	void (*fetch_policy)(struct mtasts_ctx *, const char *,
	    struct mtasts_fetch *);
	void (*fetch_clear)(struct mtasts_fetch *);
	/* mtasts_dns_free() and mtasts_fetch_free() */
	void (*release)(struct mtasts_ctx *);
	/* the jansson cache codec (cache_json.c; D-LAZYNET-4) */
	int (*cache_encode)(const struct mtasts_cache_entry *, char **,
	    size_t *, struct mtasts_error *);
	int (*cache_decode_json)(const char *, const char *, size_t,
	    struct mtasts_cache_entry *, char *, size_t);
};
/* The table of this build's own network code (netops.c). */
extern const struct mtasts_netops mtasts_netops_direct;
/*
 * netreg.c: the network operations for ctx (remembered in ctx->net): a
 * table already set (the unit tests' seam), else the registered loader's
 * (checked: ABI and struct sizes), else the built-in one; NULL with err
 * set when none can be had (the Exim module's mtasts_net.so is missing or
 * mismatched): the caller must then fail closed.
 */
const struct mtasts_netops *mtasts_netops_get(struct mtasts_ctx *ctx,
    struct mtasts_error *err);
/* Release ctx's resolver and TLS context, if any (mtasts_ctx_free). */
void mtasts_net_release(struct mtasts_ctx *ctx);

#endif /* MTASTS_INTERNAL_NETOPS_H */
