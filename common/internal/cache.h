/* SPDX-License-Identifier: ISC */
/*
 * internal/cache.h - the policy cache (cache_codec.c, cache_store.c,
 * cache_memo.c, cache_lock.c, cachegen.c).
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_CACHE_H
#define MTASTS_INTERNAL_CACHE_H

#include "internal/base.h"

struct mtasts_cache_entry {
	char domain[MTASTS_DOMAIN_MAX + 1];
	char id[MTASTS_ID_MAX + 1];		/* "" when no policy held */
	struct mtasts_policy *policy;		/* NULL when no policy held */
	time_t fetched_at;
	time_t expires_at;			/* fetched_at + max_age */
	time_t txt_checked_at;			/* last TXT check, any result */
	char txt_id[MTASTS_ID_MAX + 1];		/* id seen at that check */
	/* last fetch failure, for the §3.3 back-off */
	time_t fail_at;
	char fail_id[MTASTS_ID_MAX + 1];
	char fail_type[MTASTS_RESULT_TYPE_MAX];
	char fail_reason[MTASTS_REASON_MAX];
};

/*
 * mtasts_cache_load() only: an entry file exists but cannot be used (not a
 * regular file, symbolic link, FIFO, directory, oversize, truncated,
 * corrupt or inconsistent JSON). Distinct from MTASTS_NOTFOUND ("no
 * file"): an entry that exists is evidence of a policy (decisions.md
 * D-CACHE-6). Not a public result code (mtasts_strerror() does not know
 * it); never returned by the public API.
 */
#define MTASTS_CACHE_UNUSABLE 100

/*
 * Read the entry of a normalised domain. A missing file (or a missing
 * cache directory) is MTASTS_NOTFOUND; a file that is there but is not
 * exactly what a store writes (see MTASTS_CACHE_UNUSABLE) is logged, never
 * trusted, and is MTASTS_CACHE_UNUSABLE with err saying why. Unreadable
 * (permissions, I/O) is MTASTS_ERROR; out of memory MTASTS_NOMEM. *out is
 * a new entry on MTASTS_OK. The stored raw policy text is parsed again on
 * load.
 */
int mtasts_cache_load(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_cache_entry **out, struct mtasts_error *err);
/*
 * Atomically replace the entry (temp file, fsync, rename, fsync of the
 * directory; in a batch, temp file and rename only: D-CACHE-9).
 */
int mtasts_cache_store(struct mtasts_ctx *ctx,
    const struct mtasts_cache_entry *e, struct mtasts_error *err);
/*
 * A batch of stores (a bulk refresh, D-CACHE-9). While ctx->cache_batch
 * points to b, a store renames its temp file over the entry without the
 * two fsync()s (still atomic, still one generation bump per store) and
 * counts itself in b->stores. mtasts_cache_batch_begin() opens the cache
 * directory before the first store, so that mtasts_cache_batch_end()'s
 * syncfs() reports a write-back error of any store of the batch; it
 * answers MTASTS_OK (ctx->cache_batch = b) or MTASTS_ERROR/NOTFOUND (no
 * batch: stores keep their fsyncs). mtasts_cache_batch_end() clears
 * ctx->cache_batch and makes the batch durable: MTASTS_OK, or MTASTS_ERROR
 * with err when the sync failed (the entries are whole, old or new, but
 * may not survive a power loss). Contexts copied from ctx while the batch
 * is open (refresh.c's commit threads) share b; they are done before end.
 */
struct mtasts_cache_batch {
	int dfd;			/* the cache directory, or -1 */
	unsigned long stores;		/* atomic: stores made in the batch */
};
int mtasts_cache_batch_begin(struct mtasts_ctx *ctx,
    struct mtasts_cache_batch *b, struct mtasts_error *err);
int mtasts_cache_batch_end(struct mtasts_ctx *ctx,
    struct mtasts_cache_batch *b, struct mtasts_error *err);
int mtasts_cache_remove(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_error *err);
int mtasts_cache_remove_entry(struct mtasts_ctx *ctx, const char *domain,
    int *removed, struct mtasts_error *err);
void mtasts_cache_entry_free(struct mtasts_cache_entry *e);
/*
 * The context's memo of parsed entries (cache_memo = on): each load still
 * stat()s the directory and the entry file and serves a copy only when the
 * file is the one that was parsed. Freed by mtasts_ctx_free().
 */
void mtasts_cache_memo_free(struct mtasts_ctx *ctx);
/*
 * cachegen.c (D-MEMO-4). mtasts_cache_gen_read(): 1 and *gen = the
 * counter when the shared mapping is usable, else 0 (the memo then stats
 * every load). now is mtasts_mono_coarse_ns(). mtasts_cache_gen_bump():
 * after a rename or unlink in the cache directory dfd; 0 or -1 with errno.
 */
int mtasts_cache_gen_read(struct mtasts_ctx *ctx, int64_t now,
    uint64_t *gen);
int mtasts_cache_gen_bump(int dfd);
void mtasts_cache_gen_release(struct mtasts_ctx *ctx);
/* One more holder of an immutable parsed policy (policy.c). */
struct mtasts_policy *mtasts_policy_ref(struct mtasts_policy *p);
/* Entries held and loads served from the memo, for tests and benchmarks. */
void mtasts_cache_memo_stats(const struct mtasts_ctx *ctx, size_t *entries,
    uint64_t *hits);
/*
 * Per-domain fetch lock across processes. Waits at most wait_ms.
 * Returns MTASTS_OK (*fd holds the lock), MTASTS_TEMPFAIL (busy), or
 * MTASTS_ERROR.
 */
int mtasts_cache_lock(struct mtasts_ctx *ctx, const char *domain,
    int wait_ms, int *fd, struct mtasts_error *err);
void mtasts_cache_unlock(int fd);
/*
 * The configured cache_dir as the load-time check sees it (D-CONF-4):
 * MTASTS_OK when it is a directory this process can search, or, unless
 * must_exist, when it is missing but its parent is a directory (the first
 * store creates it); MTASTS_ERROR otherwise. strict adds the per-access
 * checks of every load and store (world-writable is refused), for
 * `mtasts check --local`. *exists gets 1 when the directory exists.
 */
int mtasts_cache_dir_check(const struct mtasts_ctx *ctx, int strict,
    int must_exist, int *exists, struct mtasts_error *err);
/* Call fn for each cached domain name; stops when fn returns non-zero. */
int mtasts_cache_foreach(struct mtasts_ctx *ctx,
    int (*fn)(void *arg, const char *domain), void *arg,
    struct mtasts_error *err);
/*
 * Remove what dead or finished processes left in the cache directory
 * (D-PURGE-1): temp files of stores older than MTASTS_CACHE_TMP_STALE
 * seconds, and lock files nobody holds of domains without an entry.
 * Counts in *ntmp and *nlock (either may be NULL).
 */
#define MTASTS_CACHE_TMP_STALE 3600
int mtasts_cache_purge_stale(struct mtasts_ctx *ctx, size_t *ntmp,
    size_t *nlock, struct mtasts_error *err);
/*
 * The cache file codec (for the fuzz target): decode buf[0..len) of a
 * domain into the zeroed *e (MTASTS_INVALID with why filled, or
 * MTASTS_NOMEM; free e->policy in any case with the entry), and encode a
 * checked entry. What decode accepts, encode writes back equal (D-CACHEFILE-1).
 */
int mtasts_cache_decode(struct mtasts_ctx *ctx, const char *domain,
    const char *buf, size_t len, struct mtasts_cache_entry *e, char *why,
    size_t wl);
/*
 * Its two halves (D-CACHE-10), for the fuzz target's differential oracle:
 * the fast decoder of exactly what encode writes (MTASTS_OK, MTASTS_NOMEM,
 * or another value: "not canonical", e then holds partial data), and the
 * jansson decoder of any JSON, which gives the reasons (cache_json.c, with
 * the encoder; not in the light half, D-LAZYNET-4).
 */
int mtasts_cache_decode_fast(const char *domain, const char *buf,
    size_t len, struct mtasts_cache_entry *e);
int mtasts_cache_decode_json(const char *domain, const char *buf,
    size_t len, struct mtasts_cache_entry *e, char *why, size_t wl);
int mtasts_cache_encode(const struct mtasts_cache_entry *e, char **out,
    size_t *outlen, struct mtasts_error *err);
/* The file format version ("format"). */
#define MTASTS_CACHE_FORMAT 1
/*
 * Reasons end up in logs and SMTP replies: printable ASCII only (1 if s,
 * NUL-terminated within size, is).
 */
int mtasts_cache_text_ok(const char *s, size_t size);

/*
 * Shared by the cache files (cache_codec.c, cache_store.c, cache_memo.c,
 * cache_lock.c); not for callers outside the cache.
 */
#define MTASTS_CACHE_FILE_MODE 0660
/*
 * cache_codec.c. mtasts_cache_domain_ok(): 1 and *lenp = its length when
 * d is a normalised policy domain usable as a file name component (lower-
 * case LDH: no '/', no leading '.', no ".."), else 0.
 * mtasts_cache_filename(): "<domain>.json" into name; 0 when too long.
 * mtasts_cache_entry_check(): MTASTS_OK, or MTASTS_INVALID with why.
 */
int mtasts_cache_domain_ok(const char *d, size_t *lenp);
int mtasts_cache_filename(const char *domain, char name[NAME_MAX + 1]);
int mtasts_cache_entry_check(const struct mtasts_cache_entry *e, char *why,
    size_t wl);
/*
 * cache_store.c: open the cache directory for the writing paths; *dfd is
 * -1 unless MTASTS_OK. create: make the last component when missing, else
 * MTASTS_NOTFOUND.
 */
int mtasts_cache_dir_open(const struct mtasts_ctx *ctx, int create,
    int *dfd, struct mtasts_error *err);
/* cache_lock.c: 1 if name in dfd still names the file open as fd. */
int mtasts_cache_same_file(int dfd, const char *name, int fd);
/*
 * cache_memo.c, called by mtasts_cache_load/store/remove only (D-MEMO-4).
 * _fast: the hit without a system call; _load: the hit after an lstat of
 * path; both MTASTS_OK, MTASTS_NOMEM or MTASTS_NOTFOUND ("do the full
 * load"). _record: remember e parsed from the file st describes (best
 * effort). _drop: forget domain.
 */
struct stat;
int mtasts_cache_memo_fast(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen, int64_t mono, uint64_t gen, struct mtasts_cache_entry **out,
    struct mtasts_error *err);
int mtasts_cache_memo_load(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen, const char *path, int gen_ok, uint64_t gen, int64_t mono,
    struct mtasts_cache_entry **out, struct mtasts_error *err);
void mtasts_cache_memo_record(struct mtasts_ctx *ctx,
    const struct mtasts_cache_entry *e, size_t dlen, const struct stat *st,
    int gen_ok, uint64_t gen, int64_t mono);
void mtasts_cache_memo_drop(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen);

#endif /* MTASTS_INTERNAL_CACHE_H */
