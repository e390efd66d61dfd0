/* SPDX-License-Identifier: ISC */
/*
 * cache_memo.c - the context's memo of parsed cache entries (cache_memo = on).
 *
 * Long-lived processes (the OpenSMTPD table, Exim queue runners) load the
 * same entries over and over, so a context keeps a memo of parsed entries
 * (cache_memo = on). It is only a parse cache, never a second source of
 * truth: it serves an entry only while the file is the very file that was
 * parsed. Two ways to know (D-MEMO-4): the shared generation counter
 * (cachegen.c), which every store and remove bumps after its rename or
 * unlink, so while it still reads what it read when the entry was matched
 * to its file the hit is a memory compare; and, when the counter changed,
 * is unusable, or CACHE_MEMO_TRUST_NS passed, the directory check and an
 * lstat() of the entry (device, inode, size, mode, mtime, ctime). Stores
 * rename a new inode over the entry and any write in place changes ctime,
 * so whatever another process does to the file is seen on the next load
 * (a store through the library), or within CACHE_MEMO_TRUST_NS (anything
 * else: an editor, a bump that failed).
 */

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mtasts_internal.h"

/* Memo: entries per context, hash buckets (a power of two). */
#define CACHE_MEMO_MAX 1024
#define CACHE_MEMO_BUCKETS 2048
/* Longer policies are not memoised: bounds the memo near 3 MiB. */
#define CACHE_MEMO_TEXT_MAX 2048
/*
 * A file changed less than this long ago is not memoised: file times come
 * from a coarse clock (one tick, <= 10 ms), so a second change within the
 * same tick (an in-place rewrite of the same size, or a rename of a new
 * file that reuses the freed inode number) could leave every stat field
 * as it was. Any change after we recorded the file moves its ctime past
 * the recorded one.
 */
#define CACHE_MEMO_SETTLE_NS 1000000000LL
/*
 * Longest a memo entry is served on the generation counter alone, without
 * looking at its file: bounds what a change that did not bump the counter
 * (made by hand, or a bump that failed) goes unseen (D-MEMO-4).
 */
#define CACHE_MEMO_TRUST_NS 1000000000LL

struct cache_memo_ent {
	/* e.policy: the memo's reference, lent to every copy it serves */
	struct mtasts_cache_entry e;
	/* the identity of the file e was parsed from */
	dev_t dev;
	ino_t ino;
	off_t size;
	mode_t mode;
	struct timespec mtim, ctim;
	/* when it was last matched to that file: counter, monotonic time */
	uint64_t gen;
	int gen_ok;			/* gen was read from a usable counter */
	int64_t checked_ns;
	uint32_t hash;
	int next;			/* bucket chain; -1 ends it */
};

/*
 * Private heap memory of one context: a child that inherits the context
 * through fork() gets its own copy, and nothing in it is shared with
 * another process. A context belongs to one thread (mtasts.h).
 */
struct mtasts_cache_memo {
	int bucket[CACHE_MEMO_BUCKETS];	/* slot index; -1 empty */
	struct cache_memo_ent *slot[CACHE_MEMO_MAX];	/* [0, n) used */
	size_t n;
	uint32_t rnd;			/* xorshift32: victims when full */
	uint64_t hits;
};

static uint32_t
memo_hash(const char *d, size_t len)
{
	uint32_t h = 2166136261U;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)d[i];
		h *= 16777619U;
	}
	return h;
}

/* Slot of domain, or -1. */
static int
memo_find(const struct mtasts_cache_memo *m, const char *domain,
    uint32_t h)
{
	int i;

	if (m == NULL)
		return -1;
	for (i = m->bucket[h & (CACHE_MEMO_BUCKETS - 1)]; i != -1;
	    i = m->slot[i]->next)
		if (m->slot[i]->hash == h &&
		    strcmp(m->slot[i]->e.domain, domain) == 0)
			return i;
	return -1;
}

/* The link that points at slot i in its bucket chain. */
static int *
memo_link(struct mtasts_cache_memo *m, int i)
{
	int *p = &m->bucket[m->slot[i]->hash & (CACHE_MEMO_BUCKETS - 1)];

	while (*p != i)
		p = &m->slot[*p]->next;
	return p;
}

/* Free slot i; the last slot moves into it so [0, n) stays dense. */
static void
memo_evict(struct mtasts_cache_memo *m, int i)
{
	int last;

	*memo_link(m, i) = m->slot[i]->next;
	mtasts_policy_free(m->slot[i]->e.policy);
	free(m->slot[i]);
	last = (int)--m->n;
	if (i != last) {
		*memo_link(m, last) = i;
		m->slot[i] = m->slot[last];
	}
	m->slot[last] = NULL;
}

void
mtasts_cache_memo_drop(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen)
{
	struct mtasts_cache_memo *m = ctx->cache_memo;
	int i;

	if ((i = memo_find(m, domain, memo_hash(domain, dlen))) != -1)
		memo_evict(m, i);
}

static int
memo_same_file(const struct cache_memo_ent *me, const struct stat *st)
{
	return me->dev == st->st_dev && me->ino == st->st_ino &&
	    me->size == st->st_size && me->mode == st->st_mode &&
	    me->mtim.tv_sec == st->st_mtim.tv_sec &&
	    me->mtim.tv_nsec == st->st_mtim.tv_nsec &&
	    me->ctim.tv_sec == st->st_ctim.tv_sec &&
	    me->ctim.tv_nsec == st->st_ctim.tv_nsec;
}

/*
 * Remember e, parsed from the file st describes. Best effort: without
 * memory, or for a file too recently changed, the next load parses again.
 */
void
mtasts_cache_memo_record(struct mtasts_ctx *ctx,
    const struct mtasts_cache_entry *e, size_t dlen, const struct stat *st,
    int gen_ok, uint64_t gen, int64_t mono)
{
	struct mtasts_cache_memo *m = ctx->cache_memo;
	struct cache_memo_ent *me;
	struct timespec now;
	size_t len = 0;
	uint32_t h;
	int i;

	if (e->policy != NULL &&
	    (mtasts_policy_text(e->policy, &len) == NULL ||
		len == 0 || len > CACHE_MEMO_TEXT_MAX))
		return;
	if (clock_gettime(CLOCK_REALTIME, &now) == -1 ||
	    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec -
	    ((int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec) <
	    CACHE_MEMO_SETTLE_NS)
		return;
	if (m == NULL) {
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return;
		for (i = 0; i < CACHE_MEMO_BUCKETS; i++)
			m->bucket[i] = -1;
		m->rnd = 2463534242U;
		ctx->cache_memo = m;
	}
	if ((me = malloc(sizeof(*me))) == NULL)
		return;
	me->e = *e;
	me->e.policy = mtasts_policy_ref(e->policy);
	me->gen = gen;
	me->gen_ok = gen_ok;
	me->checked_ns = mono;
	me->dev = st->st_dev;
	me->ino = st->st_ino;
	me->size = st->st_size;
	me->mode = st->st_mode;
	me->mtim = st->st_mtim;
	me->ctim = st->st_ctim;
	me->hash = h = memo_hash(e->domain, dlen);
	if ((i = memo_find(m, e->domain, h)) != -1)
		memo_evict(m, i);
	/*
	 * Full: a random victim. Unlike FIFO or LRU it keeps most of its
	 * hits when a process cycles through more domains than it holds.
	 */
	if (m->n == CACHE_MEMO_MAX) {
		m->rnd ^= m->rnd << 13;
		m->rnd ^= m->rnd >> 17;
		m->rnd ^= m->rnd << 5;
		memo_evict(m, (int)(m->rnd % CACHE_MEMO_MAX));
	}
	i = (int)m->n++;
	m->slot[i] = me;
	me->next = m->bucket[h & (CACHE_MEMO_BUCKETS - 1)];
	m->bucket[h & (CACHE_MEMO_BUCKETS - 1)] = i;
}

/* A copy of memo entry me for the caller; it shares the parsed policy. */
static int
memo_copy(struct mtasts_cache_memo *m, const struct cache_memo_ent *me,
    struct mtasts_cache_entry **out, struct mtasts_error *err)
{
	struct mtasts_cache_entry *e;

	if ((e = malloc(sizeof(*e))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "cache: out of memory");
	*e = me->e;
	e->policy = mtasts_policy_ref(me->e.policy);
	m->hits++;
	*out = e;
	return MTASTS_OK;
}

/*
 * The hit without a system call (D-MEMO-4): the memo entry of domain,
 * if it was matched to its file while the shared counter read what it
 * reads now, less than CACHE_MEMO_TRUST_NS ago. MTASTS_OK, MTASTS_NOMEM,
 * or MTASTS_NOTFOUND: "look at the file" (mtasts_cache_memo_load, or the
 * full load).
 */
int
mtasts_cache_memo_fast(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen, int64_t mono, uint64_t gen, struct mtasts_cache_entry **out,
    struct mtasts_error *err)
{
	struct mtasts_cache_memo *m = ctx->cache_memo;
	const struct cache_memo_ent *me;
	int i;

	if ((i = memo_find(m, domain, memo_hash(domain, dlen))) == -1)
		return MTASTS_NOTFOUND;
	me = m->slot[i];
	if (!me->gen_ok || me->gen != gen ||
	    mono - me->checked_ns >= CACHE_MEMO_TRUST_NS ||
	    mono < me->checked_ns)
		return MTASTS_NOTFOUND;
	return memo_copy(m, me, out, err);
}

/*
 * A copy of the memoised entry of domain if path is still the file it was
 * parsed from: MTASTS_OK, or MTASTS_NOMEM; MTASTS_NOTFOUND means "do the
 * full load" (no memo entry, or the file is another one, or any error:
 * the full load reports it properly). gen_ok, gen, mono: the counter and
 * the time read before the lstat, recorded with a match.
 */
int
mtasts_cache_memo_load(struct mtasts_ctx *ctx, const char *domain,
    size_t dlen, const char *path, int gen_ok, uint64_t gen, int64_t mono,
    struct mtasts_cache_entry **out, struct mtasts_error *err)
{
	struct mtasts_cache_memo *m = ctx->cache_memo;
	struct cache_memo_ent *me;
	struct stat st;
	int i;

	if ((i = memo_find(m, domain, memo_hash(domain, dlen))) == -1)
		return MTASTS_NOTFOUND;
	me = m->slot[i];
	/* lstat: a symbolic link put in its place is another file. */
	if (lstat(path, &st) == -1 || !memo_same_file(me, &st)) {
		memo_evict(m, i);
		return MTASTS_NOTFOUND;
	}
	me->gen = gen;
	me->gen_ok = gen_ok;
	me->checked_ns = mono;
	return memo_copy(m, me, out, err);
}

void
mtasts_cache_memo_free(struct mtasts_ctx *ctx)
{
	struct mtasts_cache_memo *m;
	size_t i;

	if (ctx == NULL || (m = ctx->cache_memo) == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		mtasts_policy_free(m->slot[i]->e.policy);
		free(m->slot[i]);
	}
	free(m);
	ctx->cache_memo = NULL;
}

void
mtasts_cache_memo_stats(const struct mtasts_ctx *ctx, size_t *entries,
    uint64_t *hits)
{
	const struct mtasts_cache_memo *m = ctx->cache_memo;

	*entries = m != NULL ? m->n : 0;
	*hits = m != NULL ? m->hits : 0;
}
