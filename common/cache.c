/* SPDX-License-Identifier: ISC */
/*
 * cache.c - the shared on-disk MTA-STS policy cache: one JSON file per
 * policy domain, <cache_dir>/<domain>.json, written by some delivery
 * processes and read by many at once.
 *
 * RFC 8461 §10: a cached enforce policy is what defeats a downgrade
 * attacker, so this is a security store, not a performance cache. Writes
 * go to a temp file that is fsync'ed and renamed over the entry, so a
 * crash or a full disk never loses the previous entry and readers never
 * see a partial file. Everything read back is hostile input: any file
 * that is not exactly what we would have written is logged and ignored.
 *
 * Exim routers run as root and transports as Debian-exim, so a directory
 * we create is 02770 (setgid: the group is inherited) and files are 0660,
 * both set with fchmod so the umask does not matter. A world-writable
 * cache directory is refused, and cache files are never opened through a
 * symbolic link.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mtasts_internal.h"

#define CACHE_FORMAT 1
#define CACHE_DIR_MODE 02770
#define CACHE_FILE_MODE 0660
/* 9999-12-31T23:59:59Z: keeps every time_t sum below overflow. */
#define CACHE_TIME_MAX 253402300799LL
/* Longest mx pattern kept in the informational "mx" array. */
#define CACHE_MX_LEN_MAX (MTASTS_DOMAIN_MAX + 2)
/* Lock polling: start fast, back off to a modest interval. */
#define CACHE_LOCK_POLL_MIN_MS 1
#define CACHE_LOCK_POLL_MAX_MS 20
/* O_EXCL collisions tolerated when picking a temp file name. */
#define CACHE_TMP_TRIES 8
/* Domain prefix length kept in temp file names (they must fit NAME_MAX). */
#define CACHE_TMP_DOMAIN_MAX (NAME_MAX - 48)
#define CACHE_WHY_MAX 128
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

static const char *const cache_keys[] = {
	"format", "domain", "id", "policy", "mode", "max_age", "mx",
	"fetched_at", "expires_at", "txt_checked_at", "txt_id", "fail"
};
static const char *const cache_fail_keys[] = {
	"at", "id", "type", "reason"
};

/*
 * A normalised policy domain as a file name component: lower-case LDH,
 * so no '/', no leading '.', no "..". Checked here as well as by
 * mtasts_hostname_valid() because the name becomes a path.
 */
static int
cache_domain_ok(const char *d, size_t *lenp)
{
	const char *end;
	size_t len, i;

	*lenp = 0;
	if (d == NULL)
		return 0;
	if ((end = memchr(d, '\0', MTASTS_DOMAIN_MAX + 1)) == NULL)
		return 0;
	len = (size_t)(end - d);
	if (len == 0 || d[0] == '.' || d[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.' && d[i + 1] == '.')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.'))
			return 0;
	}
	if (!mtasts_hostname_valid(d, len))
		return 0;
	*lenp = len;
	return 1;
}

/* "<domain>.json"; 0 when it is longer than one directory entry. */
static int
cache_filename(const char *domain, char name[NAME_MAX + 1])
{
	int n;

	n = snprintf(name, NAME_MAX + 1, "%s.json", domain);
	return n > 0 && n <= NAME_MAX;
}

/* RFC 8461 §3.1: id is 1*32(ALPHA / DIGIT). */
static int
cache_id_ok(const char *s, size_t size, int empty_ok)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9')))
			return 0;
	}
	if (i == size || i > MTASTS_ID_MAX)
		return 0;
	return i > 0 || empty_ok;
}

/* RFC 8460 result type names: [a-z0-9-], possibly empty. */
static int
cache_type_ok(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-'))
			return 0;
	}
	return i < size;
}

/*
 * Reasons end up in logs and SMTP replies: printable ASCII only, so a
 * tampered file cannot inject lines (house style rule 8), and exactly the
 * bytes mtasts_sanitize() lets through, so that what load accepts is what
 * store writes (D-CACHEFILE-1).
 */
static int
cache_text_ok(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			return 0;
	}
	return i < size;
}


static int
cache_time_ok(time_t t)
{
	return t >= 0 && (long long)t <= CACHE_TIME_MAX;
}

/*
 * The invariants of an entry, checked before a store and after a load so
 * that store never writes what load would refuse.
 */
static int
cache_entry_check(const struct mtasts_cache_entry *e, char *why, size_t wl)
{
	size_t dlen;

	if (!cache_domain_ok(e->domain, &dlen)) {
		snprintf(why, wl, "bad domain");
		return -1;
	}
	if (!cache_time_ok(e->fetched_at) || !cache_time_ok(e->expires_at) ||
	    !cache_time_ok(e->txt_checked_at) || !cache_time_ok(e->fail_at)) {
		snprintf(why, wl, "time out of range");
		return -1;
	}
	if (e->policy != NULL) {
		if (!cache_id_ok(e->id, sizeof(e->id), 0)) {
			snprintf(why, wl, "bad id");
			return -1;
		}
		/* RFC 8461 §3.2: cached for max_age from the fetch. */
		if (e->expires_at != e->fetched_at +
			(time_t)mtasts_policy_max_age(e->policy)) {
			snprintf(why, wl, "expires_at is not fetched_at + "
			    "max_age");
			return -1;
		}
	} else if (e->id[0] != '\0') {
		snprintf(why, wl, "id without a policy");
		return -1;
	}
	if (!cache_id_ok(e->txt_id, sizeof(e->txt_id), 1)) {
		snprintf(why, wl, "bad txt_id");
		return -1;
	}
	if (!cache_id_ok(e->fail_id, sizeof(e->fail_id), 1)) {
		snprintf(why, wl, "bad fail id");
		return -1;
	}
	if (!cache_type_ok(e->fail_type, sizeof(e->fail_type))) {
		snprintf(why, wl, "bad fail type");
		return -1;
	}
	if (memchr(e->fail_reason, '\0', sizeof(e->fail_reason)) == NULL) {
		snprintf(why, wl, "bad fail reason");
		return -1;
	}
	return 0;
}

/* dir + "/" + name into buf; MTASTS_ERROR when it does not fit. */
static int
cache_path(const struct mtasts_ctx *ctx, const char *name, char *buf,
    size_t size, struct mtasts_error *err)
{
	int n;

	n = snprintf(buf, size, "%s/%s", ctx->cfg.cache_dir, name);
	if (n < 0 || (size_t)n >= size)
		return mtasts_err(err, MTASTS_ERROR, "cache: path too long");
	return MTASTS_OK;
}

/*
 * A group-shared cache must not be writable by everybody: anyone could
 * plant or replace a policy (RFC 8461 §10).
 */
static int
cache_dir_mode_ok(const struct mtasts_ctx *ctx, const struct stat *st,
    struct mtasts_error *err)
{
	if (!S_ISDIR(st->st_mode))
		return mtasts_err(err, MTASTS_ERROR,
		    "cache: %s: not a directory", ctx->cfg.cache_dir);
	if (st->st_mode & S_IWOTH)
		return mtasts_err(err, MTASTS_ERROR,
		    "cache: %s: directory is world-writable, refused",
		    ctx->cfg.cache_dir);
	return MTASTS_OK;
}

/*
 * Open the cache directory for the writing paths; *dfd is -1 unless OK.
 * create: make the last component when missing, else MTASTS_NOTFOUND.
 */
static int
cache_dir_open(const struct mtasts_ctx *ctx, int create, int *dfd,
    struct mtasts_error *err)
{
	const char *dir = ctx->cfg.cache_dir, *why = NULL;

	*dfd = -1;
	if (dir[0] == '\0')
		return mtasts_err(err, MTASTS_ERROR, "cache: no cache_dir");
	/* D-FILE-1: made 0700, then 02770 by fchmod; world-writable refused. */
	*dfd = mtasts_dir_open(dir, CACHE_DIR_MODE, create ?
	    MTASTS_DIR_CREATE : MTASTS_DIR_EXISTING, &why);
	if (*dfd != -1)
		return MTASTS_OK;
	if (errno == ENOENT && !create)
		return MTASTS_NOTFOUND;
	if (why != NULL)
		return mtasts_err(err, MTASTS_ERROR, "cache: %s: %s", dir, why);
	return mtasts_err(err, MTASTS_ERROR, "cache: %s: %s", dir,
	    strerror(errno));
}

int
mtasts_cache_dir_check(const struct mtasts_ctx *ctx, int strict,
    int must_exist, int *exists, struct mtasts_error *err)
{
	const char *dir = ctx->cfg.cache_dir;
	char parent[MTASTS_PATH_MAX];
	struct stat st;
	char *slash;
	int rc;

	*exists = 0;
	if (dir[0] == '\0')
		return mtasts_err(err, MTASTS_ERROR, "no cache_dir");
	if (stat(dir, &st) == 0) {
		*exists = 1;
		if (!S_ISDIR(st.st_mode))
			return mtasts_err(err, MTASTS_ERROR,
			    "%.100s: not a directory", dir);
		if (strict && (rc = cache_dir_mode_ok(ctx, &st, err)) !=
		    MTASTS_OK)
			return rc;
		if (access(dir, X_OK) != 0)
			return mtasts_err(err, MTASTS_ERROR, "%.100s: %s", dir,
			    strerror(errno));
		return MTASTS_OK;
	}
	if (errno != ENOENT)
		return mtasts_err(err, MTASTS_ERROR, "%.100s: %s", dir,
		    strerror(errno));
	if (must_exist)
		return mtasts_err(err, MTASTS_ERROR, "%.100s: %s (create it, "
		    "mode 02770)", dir, strerror(ENOENT));
	/* Missing: the first store makes the last component (02770). */
	mtasts_strlcpy(parent, dir, sizeof(parent));
	while ((slash = strrchr(parent, '/')) != NULL && slash[1] == '\0' &&
	    slash != parent)
		*slash = '\0';
	if ((slash = strrchr(parent, '/')) == NULL)
		return mtasts_err(err, MTASTS_ERROR, "%.100s: %s", dir,
		    strerror(ENOENT));
	slash[slash == parent ? 1 : 0] = '\0';
	if (stat(parent, &st) != 0)
		return mtasts_err(err, MTASTS_ERROR, "%.100s: does not exist "
		    "and cannot be created (%.80s: %s)", dir, parent,
		    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mtasts_err(err, MTASTS_ERROR, "%.100s: does not exist "
		    "and cannot be created (%.80s: not a directory)", dir,
		    parent);
	return MTASTS_OK;
}

/* Copy a JSON string of at most size-1 bytes without NUL. */
static int
cache_get_str(const json_t *v, char *dst, size_t size)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= size || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int
cache_get_time(const json_t *v, time_t *out)
{
	json_int_t n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	if (n < 0 || n > CACHE_TIME_MAX)
		return -1;
	*out = (time_t)n;
	return 0;
}

static int
cache_known_key(const char *k, const char *const *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

#define CORRUPT(...)                                                       \
	do {                                                               \
		snprintf(why, wl, __VA_ARGS__);                            \
		rc = MTASTS_INVALID;                                       \
		goto done;                                                 \
	} while (0)

/* The "fail" object: all four keys, nothing else. */
static int
cache_decode_fail(json_t *f, struct mtasts_cache_entry *e, char *why,
    size_t wl)
{
	const char *k;
	json_t *v;
	int rc = MTASTS_OK;

	if (!json_is_object(f))
		CORRUPT("fail: not an object");
	json_object_foreach(f, k, v) {
		if (!cache_known_key(k, cache_fail_keys,
			sizeof(cache_fail_keys) / sizeof(cache_fail_keys[0])))
			CORRUPT("fail: unknown key");
	}
	if (cache_get_time(json_object_get(f, "at"), &e->fail_at) != 0)
		CORRUPT("fail.at");
	if (cache_get_str(json_object_get(f, "id"), e->fail_id,
		sizeof(e->fail_id)) != 0)
		CORRUPT("fail.id");
	if (cache_get_str(json_object_get(f, "type"), e->fail_type,
		sizeof(e->fail_type)) != 0)
		CORRUPT("fail.type");
	if (cache_get_str(json_object_get(f, "reason"), e->fail_reason,
		sizeof(e->fail_reason)) != 0 ||
	    !cache_text_ok(e->fail_reason, sizeof(e->fail_reason)))
		CORRUPT("fail.reason");
	/* Store leaves an empty failure out (D-CACHEFILE-1). */
	if (e->fail_at == 0 && e->fail_id[0] == '\0' &&
	    e->fail_type[0] == '\0' && e->fail_reason[0] == '\0')
		CORRUPT("fail: empty");
done:
	return rc;
}

/* The policy and the fields derived from it. */
static int
cache_decode_policy(const json_t *root, const json_t *pol,
    struct mtasts_cache_entry *e, char *why, size_t wl)
{
	struct mtasts_error perr = { 0, "" };
	const json_t *mode, *maxage, *mx, *v;
	const char *text;
	size_t len, i;
	int rc = MTASTS_OK, prc;

	mode = json_object_get(root, "mode");
	maxage = json_object_get(root, "max_age");
	mx = json_object_get(root, "mx");
	if (json_is_null(pol)) {
		if (mode != NULL || maxage != NULL || mx != NULL)
			CORRUPT("mode, max_age or mx without a policy");
		goto done;
	}
	if (!json_is_string(pol))
		CORRUPT("policy: not a string");
	text = json_string_value(pol);
	len = json_string_length(pol);
	if (len == 0 || len > MTASTS_POLICY_BODY_MAX ||
	    memchr(text, '\0', len) != NULL)
		CORRUPT("policy: bad length or NUL");
	if (!json_is_string(mode))
		CORRUPT("mode");
	if (!json_is_integer(maxage))
		CORRUPT("max_age");
	if (!json_is_array(mx) || json_array_size(mx) > MTASTS_POLICY_MX_MAX)
		CORRUPT("mx");
	for (i = 0; i < json_array_size(mx); i++) {
		v = json_array_get(mx, i);
		if (!json_is_string(v) ||
		    json_string_length(v) > CACHE_MX_LEN_MAX)
			CORRUPT("mx");
	}
	/* Never trust the stored fields: the raw text is the truth. */
	prc = mtasts_policy_parse(text, len, &e->policy, &perr);
	if (prc == MTASTS_NOMEM) {
		rc = MTASTS_NOMEM;
		goto done;
	}
	if (prc != MTASTS_OK)
		CORRUPT("policy: %.80s", perr.text);
	if (strcmp(json_string_value(mode),
		mtasts_mode_name(mtasts_policy_mode(e->policy))) != 0)
		CORRUPT("mode differs from the policy");
	if (json_integer_value(maxage) !=
	    (json_int_t)mtasts_policy_max_age(e->policy))
		CORRUPT("max_age differs from the policy");
	/* Informational, but exactly what store writes (D-CACHEFILE-1). */
	if (json_array_size(mx) != mtasts_policy_mx_count(e->policy))
		CORRUPT("mx differs from the policy");
	for (i = 0; i < json_array_size(mx); i++)
		if (strcmp(json_string_value(json_array_get(mx, i)),
		    mtasts_policy_mx(e->policy, i)) != 0)
			CORRUPT("mx differs from the policy");
done:
	return rc;
}

/*
 * Decode a cache file of the expected domain into e. MTASTS_INVALID (why
 * filled) for anything but a well-formed, consistent entry.
 */
int
mtasts_cache_decode(const char *domain, const char *buf, size_t len,
    struct mtasts_cache_entry *e, char *why, size_t wl)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *k;
	int rc = MTASTS_OK;

	if (memchr(buf, '\0', len) != NULL)
		CORRUPT("NUL byte");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	/* Out of memory says nothing about the file (D-OOM-1). */
	if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return MTASTS_NOMEM;
	if (root == NULL)
		CORRUPT("JSON line %d: %.60s", jerr.line, jerr.text);
	if (!json_is_object(root))
		CORRUPT("not an object");
	json_object_foreach(root, k, v) {
		if (!cache_known_key(k, cache_keys,
			sizeof(cache_keys) / sizeof(cache_keys[0])))
			CORRUPT("unknown key");
	}
	v = json_object_get(root, "format");
	if (!json_is_integer(v) || json_integer_value(v) != CACHE_FORMAT)
		CORRUPT("format");
	if (cache_get_str(json_object_get(root, "domain"), e->domain,
		sizeof(e->domain)) != 0)
		CORRUPT("domain");
	if (strcmp(e->domain, domain) != 0)
		CORRUPT("domain does not match the file name");
	if (cache_get_str(json_object_get(root, "id"), e->id,
		sizeof(e->id)) != 0)
		CORRUPT("id");
	if (cache_get_time(json_object_get(root, "fetched_at"),
		&e->fetched_at) != 0)
		CORRUPT("fetched_at");
	if (cache_get_time(json_object_get(root, "expires_at"),
		&e->expires_at) != 0)
		CORRUPT("expires_at");
	if (cache_get_time(json_object_get(root, "txt_checked_at"),
		&e->txt_checked_at) != 0)
		CORRUPT("txt_checked_at");
	if (cache_get_str(json_object_get(root, "txt_id"), e->txt_id,
		sizeof(e->txt_id)) != 0)
		CORRUPT("txt_id");
	if ((v = json_object_get(root, "fail")) != NULL &&
	    (rc = cache_decode_fail(v, e, why, wl)) != MTASTS_OK)
		goto done;
	if ((v = json_object_get(root, "policy")) == NULL)
		CORRUPT("policy missing");
	if ((rc = cache_decode_policy(root, v, e, why, wl)) != MTASTS_OK)
		goto done;
	if (cache_entry_check(e, why, wl) != 0)
		rc = MTASTS_INVALID;
done:
	json_decref(root);
	return rc;
}

#undef CORRUPT

/* ---- the memo of parsed entries ---- */

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

static void
memo_drop(struct mtasts_ctx *ctx, const char *domain, size_t dlen)
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
static void
memo_record(struct mtasts_ctx *ctx, const struct mtasts_cache_entry *e,
    size_t dlen, const struct stat *st, int gen_ok, uint64_t gen,
    int64_t mono)
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
 * or MTASTS_NOTFOUND: "look at the file" (memo_load, or the full load).
 */
static int
memo_fast(struct mtasts_ctx *ctx, const char *domain, size_t dlen,
    int64_t mono, uint64_t gen, struct mtasts_cache_entry **out,
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
static int
memo_load(struct mtasts_ctx *ctx, const char *domain, size_t dlen,
    const char *path, int gen_ok, uint64_t gen, int64_t mono,
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

int
mtasts_cache_load(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_cache_entry **out, struct mtasts_error *err)
{
	char path[MTASTS_PATH_MAX + NAME_MAX + 2], name[NAME_MAX + 1];
	char why[CACHE_WHY_MAX], clean[CACHE_WHY_MAX];
	struct mtasts_cache_entry *e = NULL;
	struct stat st;
	char *buf = NULL;
	size_t dlen, off = 0;
	ssize_t n;
	uint64_t gen = 0;
	int64_t mono = 0;
	int fd = -1, rc, gen_ok = 0;

	*out = NULL;
	why[0] = '\0';
	/*
	 * Read the counter before anything looks at the file: a store that
	 * renames after this point bumps it past gen (D-MEMO-4).
	 */
	/*
	 * Only once the memo holds an entry: a process that loads once (an
	 * Exim delivery) never maps the counter; its first memo entry is
	 * recorded without a generation and matched by stat (D-MEMO-1).
	 */
	if (ctx->cfg.cache_memo >= 0 && domain != NULL &&
	    ctx->cache_memo != NULL) {
		mono = mtasts_mono_coarse_ns();
		gen_ok = mtasts_cache_gen_read(ctx, mono, &gen);
		/* Only names that passed cache_domain_ok() are memoised. */
		if (gen_ok && (dlen = strnlen(domain, MTASTS_DOMAIN_MAX + 1)) <=
		    MTASTS_DOMAIN_MAX &&
		    (rc = memo_fast(ctx, domain, dlen, mono, gen, out, err)) !=
		    MTASTS_NOTFOUND)
			return rc;
	}
	if (!cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	/* Such a name can never have been stored. */
	if (!cache_filename(domain, name))
		return MTASTS_NOTFOUND;
	/*
	 * The read path is stat + open + fstat + read + close: no locks,
	 * because entries are only ever replaced whole by rename().
	 */
	if (stat(ctx->cfg.cache_dir, &st) == -1) {
		if (errno == ENOENT)
			return MTASTS_NOTFOUND;
		return mtasts_err(err, MTASTS_ERROR, "cache: %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
	}
	if ((rc = cache_dir_mode_ok(ctx, &st, err)) != MTASTS_OK)
		return rc;
	if ((rc = cache_path(ctx, name, path, sizeof(path), err)) !=
	    MTASTS_OK)
		return rc;
	if (ctx->cfg.cache_memo >= 0 &&
	    (rc = memo_load(ctx, domain, dlen, path, gen_ok, gen, mono, out,
	    err)) != MTASTS_NOTFOUND)
		return rc;
	/* O_NONBLOCK: a FIFO planted here must not hang the delivery. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT) {
			rc = MTASTS_NOTFOUND;
			goto done;
		}
		if (errno == ELOOP || errno == ENXIO || errno == EISDIR) {
			snprintf(why, sizeof(why), "not a regular file");
			rc = MTASTS_INVALID;
			goto done;
		}
		/*
		 * EACCES and friends are not "no policy": answering
		 * NOTFOUND would silently drop an enforced policy.
		 */
		rc = mtasts_err(err, errno == ENOMEM ? MTASTS_NOMEM :
		    MTASTS_ERROR, "cache: %s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) == -1) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: %s: %s", path,
		    strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
		rc = MTASTS_INVALID;
		goto done;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(why, sizeof(why), "world-writable file");
		rc = MTASTS_INVALID;
		goto done;
	}
	if (st.st_size <= 0 || st.st_size > MTASTS_CACHE_FILE_MAX) {
		snprintf(why, sizeof(why), "size %lld",
		    (long long)st.st_size);
		rc = MTASTS_INVALID;
		goto done;
	}
	if ((buf = malloc((size_t)st.st_size)) == NULL ||
	    (e = calloc(1, sizeof(*e))) == NULL) {
		rc = mtasts_err(err, MTASTS_NOMEM, "cache: out of memory");
		goto done;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = mtasts_err(err, MTASTS_ERROR, "cache: read %s: %s",
			    path, strerror(errno));
			goto done;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	if (off != (size_t)st.st_size) {
		snprintf(why, sizeof(why), "short read");
		rc = MTASTS_INVALID;
		goto done;
	}
	rc = mtasts_cache_decode(domain, buf, off, e, why, sizeof(why));
	if (rc == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "cache: out of memory");
	if (rc == MTASTS_OK) {
		if (ctx->cfg.cache_memo >= 0)
			memo_record(ctx, e, dlen, &st, gen_ok, gen, mono);
		*out = e;
		e = NULL;
	}
done:
	/* Whatever the file is now, it is not what the memo holds. */
	if (rc != MTASTS_OK && ctx->cache_memo != NULL)
		memo_drop(ctx, domain, dlen);
	if (rc == MTASTS_INVALID) {
		/*
		 * why may quote the hostile file (jansson, policy parser).
		 * The file is never trusted, but it is not "no entry" either:
		 * D-CACHE-6, the lookup treats the domain as unknown.
		 */
		mtasts_sanitize(why, clean, sizeof(clean));
		mtasts_log(ctx, MTASTS_LOG_WARN,
		    "cache: %s: corrupt (%s), not used", path, clean);
		rc = mtasts_err(err, MTASTS_CACHE_UNUSABLE,
		    "cache entry %s unusable (%s)", path, clean);
	}
	if (fd != -1)
		close(fd);
	free(buf);
	mtasts_cache_entry_free(e);
	return rc;
}

/*
 * An entry file of the directory dfd was replaced or removed: tell every
 * process's memo (D-MEMO-4). If the counter cannot be bumped, other
 * processes see the change within CACHE_MEMO_TRUST_NS instead of at once.
 */
static void
cache_changed(struct mtasts_ctx *ctx, int dfd)
{
	if (mtasts_cache_gen_bump(dfd) == 0)
		return;
	mtasts_log(ctx, MTASTS_LOG_WARN, "cache: %s/.generation: cannot "
	    "bump (%s): other processes may serve the replaced entry from "
	    "memory for up to 1 s", ctx->cfg.cache_dir, strerror(errno));
}

static int
cache_set(json_t *o, const char *k, json_t *v)
{
	/* json_object_set_new() consumes v even on failure. */
	return v == NULL || json_object_set_new(o, k, v) != 0 ? -1 : 0;
}

/* Serialise a checked entry into *out (malloc'd, NUL-terminated). */
int
mtasts_cache_encode(const struct mtasts_cache_entry *e, char **out,
    size_t *outlen, struct mtasts_error *err)
{
	json_t *root = NULL, *mx = NULL, *fail = NULL, *chk;
	json_error_t jerr;
	char reason[MTASTS_REASON_MAX];
	const char *text;
	char *s = NULL;
	size_t len, i;
	int rc = MTASTS_NOMEM, bad = 0;

	*out = NULL;
	*outlen = 0;
	if ((root = json_object()) == NULL)
		goto done;
	bad |= cache_set(root, "format", json_integer(CACHE_FORMAT));
	bad |= cache_set(root, "domain", json_string(e->domain));
	bad |= cache_set(root, "id", json_string(e->id));
	if (e->policy != NULL) {
		text = mtasts_policy_text(e->policy, &len);
		if (text == NULL || len == 0 || len > MTASTS_POLICY_BODY_MAX ||
		    memchr(text, '\0', len) != NULL) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "cache: %s: policy text unusable", e->domain);
			goto done;
		}
		/* jansson refuses invalid UTF-8 here (RFC 8461 §3.2 ABNF). */
		if (cache_set(root, "policy", json_stringn(text, len)) != 0) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "cache: %s: policy text is not UTF-8", e->domain);
			goto done;
		}
		bad |= cache_set(root, "mode", json_string(mtasts_mode_name(
		    mtasts_policy_mode(e->policy))));
		bad |= cache_set(root, "max_age",
		    json_integer(mtasts_policy_max_age(e->policy)));
		if ((mx = json_array()) == NULL)
			goto done;
		for (i = 0; i < mtasts_policy_mx_count(e->policy); i++) {
			text = mtasts_policy_mx(e->policy, i);
			if (text == NULL ||
			    json_array_append_new(mx, json_string(text)) != 0)
				bad = -1;
		}
		bad |= cache_set(root, "mx", mx);
		mx = NULL;
	} else
		bad |= cache_set(root, "policy", json_null());
	bad |= cache_set(root, "fetched_at", json_integer(e->fetched_at));
	bad |= cache_set(root, "expires_at", json_integer(e->expires_at));
	bad |= cache_set(root, "txt_checked_at",
	    json_integer(e->txt_checked_at));
	bad |= cache_set(root, "txt_id", json_string(e->txt_id));
	if (e->fail_at != 0 || e->fail_id[0] != '\0' ||
	    e->fail_type[0] != '\0' || e->fail_reason[0] != '\0') {
		if ((fail = json_object()) == NULL)
			goto done;
		bad |= cache_set(fail, "at", json_integer(e->fail_at));
		bad |= cache_set(fail, "id", json_string(e->fail_id));
		bad |= cache_set(fail, "type", json_string(e->fail_type));
		mtasts_sanitize(e->fail_reason, reason, sizeof(reason));
		bad |= cache_set(fail, "reason", json_string(reason));
		bad |= cache_set(root, "fail", fail);
		fail = NULL;
	}
	if (bad) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "cache: %s: entry cannot be encoded", e->domain);
		goto done;
	}
	if ((s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto done;
	len = strlen(s);
	/*
	 * jansson 2.14's json_dumps() ignores a failed append of an object
	 * key (out of memory) and returns JSON without the key's closing
	 * quote: a store of it would replace a good entry with an unusable
	 * one (D-OOM-1). Never write what does not read back.
	 */
	if ((chk = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) != json_error_out_of_memory)
			rc = mtasts_err(err, MTASTS_NOMEM,
			    "cache: %s: encoding failed (out of memory?)",
			    e->domain);
		goto done;
	}
	json_decref(chk);
	if (len > MTASTS_CACHE_FILE_MAX) {
		rc = mtasts_err(err, MTASTS_INVALID, "cache: %s: entry too big",
		    e->domain);
		goto done;
	}
	*out = s;
	*outlen = len;
	s = NULL;
	rc = MTASTS_OK;
done:
	if (rc == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "cache: out of memory");
	free(s);
	json_decref(mx);
	json_decref(fail);
	json_decref(root);
	return rc;
}

/* A fresh, unpredictable temp name; O_EXCL settles any collision. */
static void
cache_tmpname(const char *domain, size_t dlen, char *buf, size_t size)
{
	struct timespec ts;
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint32_t)ts.tv_nsec ^ ((uint32_t)ts.tv_sec << 20);
	}
	if (dlen > CACHE_TMP_DOMAIN_MAX)
		dlen = CACHE_TMP_DOMAIN_MAX;
	if (snprintf(buf, size, ".%.*s.json.%ld.%08x.tmp", (int)dlen, domain,
		(long)getpid(), (unsigned)r) < 0)
		buf[0] = '\0';
}

int
mtasts_cache_store(struct mtasts_ctx *ctx,
    const struct mtasts_cache_entry *e, struct mtasts_error *err)
{
	char name[NAME_MAX + 1], tmp[NAME_MAX + 1], why[CACHE_WHY_MAX];
	char *json = NULL;
	size_t dlen, jlen, off = 0;
	ssize_t n;
	int dfd = -1, fd = -1, rc, tmp_made = 0, i;

	if (e == NULL)
		return mtasts_err(err, MTASTS_INVALID, "cache: no entry");
	if (cache_entry_check(e, why, sizeof(why)) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: refusing to store entry: %s", why);
	cache_domain_ok(e->domain, &dlen);
	if (!cache_filename(e->domain, name))
		return mtasts_err(err, MTASTS_ERROR,
		    "cache: domain too long for a cache file name");
	/* The next load reads what this store leaves, whatever happens. */
	if (ctx->cache_memo != NULL)
		memo_drop(ctx, e->domain, dlen);
	if ((rc = mtasts_cache_encode(e, &json, &jlen, err)) != MTASTS_OK)
		goto done;
	if ((rc = cache_dir_open(ctx, 1, &dfd, err)) != MTASTS_OK)
		goto done;
	for (i = 0; i < CACHE_TMP_TRIES; i++) {
		cache_tmpname(e->domain, dlen, tmp, sizeof(tmp));
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, CACHE_FILE_MODE);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: create %s/%s: %s",
		    ctx->cfg.cache_dir, tmp, strerror(errno));
		goto done;
	}
	tmp_made = 1;
	/* Explicit mode: root and Debian-exim share the files via group. */
	if (fchmod(fd, CACHE_FILE_MODE) == -1)
		goto ioerr;
	while (off < jlen) {
		n = write(fd, json + off, jlen - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0)
			errno = EIO;
		if (n <= 0)
			goto ioerr;
		off += (size_t)n;
	}
	/* Durable before it becomes visible: a crash keeps old or new. */
	if (fsync(fd) == -1)
		goto ioerr;
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto ioerr;
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto ioerr;
	tmp_made = 0;
	cache_changed(ctx, dfd);
	if (fsync(dfd) == -1 && errno != EINVAL) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: fsync %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		goto done;
	}
	rc = MTASTS_OK;
	goto done;
ioerr:
	rc = mtasts_err(err, MTASTS_ERROR, "cache: write %s/%s: %s",
	    ctx->cfg.cache_dir, tmp, strerror(errno));
done:
	if (fd != -1)
		close(fd);
	if (tmp_made)
		unlinkat(dfd, tmp, 0);
	if (dfd != -1)
		close(dfd);
	free(json);
	return rc;
}

int
mtasts_cache_remove(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_error *err)
{
	char name[NAME_MAX + 1];
	size_t dlen;
	int dfd = -1, rc;

	if (!cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	if (!cache_filename(domain, name))
		return MTASTS_OK;
	if (ctx->cache_memo != NULL)
		memo_drop(ctx, domain, dlen);
	if ((rc = cache_dir_open(ctx, 0, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
	/*
	 * An (empty) directory in an entry's place is an unusable entry
	 * (D-CACHE-6) that `cache flush` is documented to repair.
	 */
	if (unlinkat(dfd, name, 0) == -1 && errno != ENOENT &&
	    (errno != EISDIR ||
		(unlinkat(dfd, name, AT_REMOVEDIR) == -1 && errno != ENOENT))) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: remove %s/%s: %s",
		    ctx->cfg.cache_dir, name, strerror(errno));
		goto done;
	}
	cache_changed(ctx, dfd);
	(void)fsync(dfd);
	rc = MTASTS_OK;
done:
	close(dfd);
	return rc;
}

void
mtasts_cache_entry_free(struct mtasts_cache_entry *e)
{
	if (e == NULL)
		return;
	mtasts_policy_free(e->policy);
	free(e);
}

/*
 * Lock file name. Too long a domain gets a hashed name: '#' never occurs
 * in a domain, and a hash collision only makes two domains share a lock.
 */
static void
cache_lockname(const char *domain, size_t dlen, char *buf, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	size_t i;
	int n;

	n = snprintf(buf, size, ".%s.lock", domain);
	if (n > 0 && (size_t)n < size && n <= NAME_MAX)
		return;
	for (i = 0; i < dlen; i++) {
		h ^= (unsigned char)domain[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(buf, size, ".#%016llx.lock", (unsigned long long)h);
}

/* 1 if name in dfd still names the file open as fd (D-PURGE-1). */
static int
cache_same_file(int dfd, const char *name, int fd)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && fstatat(dfd, name, &b,
	    AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino;
}

int
mtasts_cache_lock(struct mtasts_ctx *ctx, const char *domain, int wait_ms,
    int *fd, struct mtasts_error *err)
{
	char name[NAME_MAX + 1];
	struct timespec ts;
	const char *why;
	int64_t deadline, now, nap = CACHE_LOCK_POLL_MIN_MS;
	size_t dlen;
	int dfd = -1, lfd = -1, rc;

	*fd = -1;
	if (!cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	/* lock_wait = -1 in the configuration follows fetch_timeout. */
	if (wait_ms < 0)
		wait_ms = ctx->cfg.fetch_timeout_ms;
	deadline = mtasts_mono_ms() + wait_ms;
	if ((rc = cache_dir_open(ctx, 1, &dfd, err)) != MTASTS_OK)
		goto done;
	cache_lockname(domain, dlen, name, sizeof(name));
	for (;;) {
		/*
		 * D-FILE-1: a regular file with one link, never a FIFO or a
		 * link to a file elsewhere; its mode is fixed only through
		 * this checked descriptor, and only when we own it.
		 */
		lfd = mtasts_open_file(dfd, name, O_RDWR | O_CREAT |
		    MTASTS_OPEN_FIXMODE, CACHE_FILE_MODE, &why);
		if (lfd == -1) {
			rc = mtasts_err(err, MTASTS_ERROR,
			    "cache: lock %s/%s: %s", ctx->cfg.cache_dir, name,
			    why != NULL ? why : strerror(errno));
			goto done;
		}
		/* Polled, not blocking: no signals or alarms in a host. */
		for (;;) {
			if (flock(lfd, LOCK_EX | LOCK_NB) == 0)
				break;
			if (errno == EINTR)
				continue;
			if (errno != EWOULDBLOCK) {
				rc = mtasts_err(err, MTASTS_ERROR,
				    "cache: flock %s/%s: %s",
				    ctx->cfg.cache_dir, name, strerror(errno));
				goto done;
			}
			now = mtasts_mono_ms();
			if (now >= deadline)
				goto busy;
			if (nap > deadline - now)
				nap = deadline - now;
			ts.tv_sec = (time_t)(nap / 1000);
			ts.tv_nsec = (long)(nap % 1000) * 1000000L;
			(void)nanosleep(&ts, NULL);
			if (nap < CACHE_LOCK_POLL_MAX_MS)
				nap *= 2;
			if (nap > CACHE_LOCK_POLL_MAX_MS)
				nap = CACHE_LOCK_POLL_MAX_MS;
		}
		/*
		 * D-PURGE-1: a purge unlinks a lock file only while holding
		 * its lock. If ours was unlinked (or replaced) while we
		 * waited, we hold a lock nobody else will ever take: start
		 * again on the file the name refers to now.
		 */
		if (cache_same_file(dfd, name, lfd))
			break;
		close(lfd);
		lfd = -1;
		if (mtasts_mono_ms() >= deadline)
			goto busy;
	}
	*fd = lfd;
	lfd = -1;
	rc = MTASTS_OK;
	goto done;
busy:
	rc = mtasts_err(err, MTASTS_TEMPFAIL,
	    "cache: %s: another process is fetching (waited %d ms)", domain,
	    wait_ms);
done:
	if (lfd != -1)
		close(lfd);
	if (dfd != -1)
		close(dfd);
	return rc;
}

void
mtasts_cache_unlock(int fd)
{
	/* Closing the only descriptor releases the flock. */
	if (fd >= 0)
		close(fd);
}

int
mtasts_cache_foreach(struct mtasts_ctx *ctx,
    int (*fn)(void *arg, const char *domain), void *arg,
    struct mtasts_error *err)
{
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	size_t n, dlen;
	int dfd = -1, rc;

	if ((rc = cache_dir_open(ctx, 0, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
	if ((d = fdopendir(dfd)) == NULL) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		close(dfd);
		goto done;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		/* Temp files and lock files are dotfiles. */
		if (de->d_name[0] == '.')
			continue;
		n = strlen(de->d_name);
		if (n <= 5 || n - 5 > MTASTS_DOMAIN_MAX ||
		    memcmp(de->d_name + n - 5, ".json", 5) != 0)
			continue;
		memcpy(domain, de->d_name, n - 5);
		domain[n - 5] = '\0';
		if (!cache_domain_ok(domain, &dlen))
			continue;
		if (de->d_type != DT_REG) {
			if (de->d_type != DT_UNKNOWN)
				continue;
			if (fstatat(dirfd(d), de->d_name, &st,
				AT_SYMLINK_NOFOLLOW) == -1 ||
			    !S_ISREG(st.st_mode))
				continue;
		}
		if (fn(arg, domain) != 0) {
			errno = 0;
			break;
		}
	}
	if (errno != 0) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: readdir %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		goto done;
	}
	rc = MTASTS_OK;
done:
	if (d != NULL)
		closedir(d);
	return rc;
}

/* ".<anything>.json.<pid>.<8 hex>.tmp", as cache_tmpname() makes them. */
static int
cache_is_tmpname(const char *n, size_t len)
{
	size_t i;

	if (len < 1 + 6 + 2 + 9 + 4 || n[0] != '.' ||
	    memcmp(n + len - 4, ".tmp", 4) != 0 || n[len - 13] != '.')
		return 0;
	for (i = len - 12; i < len - 4; i++)
		if (!((n[i] >= '0' && n[i] <= '9') ||
		    (n[i] >= 'a' && n[i] <= 'f')))
			return 0;
	for (i = len - 14; i > 0 && n[i] >= '0' && n[i] <= '9'; i--)
		;
	return i >= 6 && i < len - 14 && n[i] == '.' &&
	    memcmp(n + i - 5, ".json", 5) == 0;
}

/*
 * A lock file nobody holds, of a domain without an entry: take its lock
 * without waiting, check the name still refers to it, unlink it while
 * holding the lock (D-PURGE-1; mtasts_cache_lock() re-checks after its
 * flock). 1 removed, 0 kept.
 */
static int
cache_purge_lock(int dfd, const char *name, size_t len)
{
	char domain[MTASTS_DOMAIN_MAX + 1], entry[NAME_MAX + 1];
	struct stat st;
	size_t dlen;
	int fd, rc = 0;

	if (len > 6 && name[1] != '#') {
		dlen = len - 6;
		if (dlen > MTASTS_DOMAIN_MAX)
			return 0;
		memcpy(domain, name + 1, dlen);
		domain[dlen] = '\0';
		if (!cache_domain_ok(domain, &dlen) ||
		    !cache_filename(domain, entry))
			return 0;
		/* The domain has an entry: its lock is still of use. */
		if (fstatat(dfd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
		    errno != ENOENT)
			return 0;
	}
	/* (A hashed name cannot be mapped back: removed when unheld.) */
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
	    cache_same_file(dfd, name, fd) && unlinkat(dfd, name, 0) == 0)
		rc = 1;
	close(fd);
	return rc;
}

int
mtasts_cache_purge_stale(struct mtasts_ctx *ctx, size_t *ntmp,
    size_t *nlock, struct mtasts_error *err)
{
	struct dirent *de;
	struct stat st;
	DIR *d = NULL;
	size_t n, tmps = 0, locks = 0;
	time_t now = time(NULL);
	int dfd = -1, rc;

	if (ntmp != NULL)
		*ntmp = 0;
	if (nlock != NULL)
		*nlock = 0;
	if ((rc = cache_dir_open(ctx, 0, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
	if ((d = fdopendir(dfd)) == NULL) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		close(dfd);
		return rc;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (de->d_name[0] != '.')
			continue;
		n = strlen(de->d_name);
		if (cache_is_tmpname(de->d_name, n)) {
			/*
			 * A store renames its temp file within moments; one
			 * this old belongs to a process that died. Should
			 * it still be alive, its rename fails cleanly.
			 */
			if (fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime < now - MTASTS_CACHE_TMP_STALE &&
			    unlinkat(dirfd(d), de->d_name, 0) == 0)
				tmps++;
		} else if (n > 6 && memcmp(de->d_name + n - 5, ".lock", 5) ==
		    0)
			locks += (size_t)cache_purge_lock(dirfd(d),
			    de->d_name, n);
	}
	if (errno != 0) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: readdir %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		goto done;
	}
	if (tmps + locks > 0)
		(void)fsync(dirfd(d));
	rc = MTASTS_OK;
done:
	closedir(d);
	if (ntmp != NULL)
		*ntmp = tmps;
	if (nlock != NULL)
		*nlock = locks;
	return rc;
}

/*
 * Host-wide rate limit for a warning that every process would otherwise
 * repeat (an Exim delivery process each): 1 when `name` was not noted in
 * cache_dir within the last `interval` seconds, and notes it now; 0 when
 * it was. The note is `.note-<name>`, a regular file whose mtime is the
 * time of the last loud report. A cache directory that cannot be used
 * answers 1: a repeated warning is better than none (D-DNSSEC-1).
 */
int
mtasts_cache_note_due(struct mtasts_ctx *ctx, const char *name,
    int interval)
{
	char file[64];
	struct stat st;
	time_t now = time(NULL);
	int dfd = -1, fd, due = 1;

	if (ctx->cache_readonly ||
	    (size_t)snprintf(file, sizeof(file), ".note-%s", name) >=
	    sizeof(file) || cache_dir_open(ctx, 1, &dfd, NULL) != MTASTS_OK)
		return 1;
	fd = mtasts_open_file(dfd, file, O_WRONLY | O_CREAT, 0660, NULL);
	close(dfd);
	if (fd == -1)
		return 1;
	if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_mtime <= now &&
	    now - st.st_mtime < interval)
		due = 0;
	if (due && (pwrite(fd, "1\n", 2, 0) != 2 || futimens(fd, NULL) != 0))
		due = 1;
	close(fd);
	return due;
}

/*
 * Small per-host facts kept in cache_dir as ".note-<name>" (D-DNSSEC-5):
 * not entries, never listed, never memoised. Read: at most size - 1 bytes
 * into buf, NUL-terminated; the length, or -1 (no file, not a regular
 * file, too long, unreadable: all mean "no note"). *mtime: the file's.
 */
ssize_t
mtasts_cache_note_read(struct mtasts_ctx *ctx, const char *name, char *buf,
    size_t size, time_t *mtime)
{
	char file[64];
	struct stat st;
	ssize_t n = -1;
	int dfd = -1, fd;

	if (size < 2 || (size_t)snprintf(file, sizeof(file), ".note-%s",
	    name) >= sizeof(file) ||
	    cache_dir_open(ctx, 0, &dfd, NULL) != MTASTS_OK)
		return -1;
	fd = mtasts_open_file(dfd, file, O_RDONLY, 0, NULL);
	close(dfd);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_IWOTH) == 0 && st.st_size > 0 &&
	    (size_t)st.st_size < size) {
		n = read(fd, buf, size - 1);
		if (n != st.st_size)
			n = -1;
		else {
			buf[n] = '\0';
			*mtime = st.st_mtime;
		}
	}
	close(fd);
	return n;
}

/* Replace ".note-<name>" whole (temp file + rename); 0 or -1. */
int
mtasts_cache_note_write(struct mtasts_ctx *ctx, const char *name,
    const char *data, size_t len)
{
	char file[64], tmp[96];
	int dfd = -1, fd, rc = -1;

	if (ctx->cache_readonly ||
	    (size_t)snprintf(file, sizeof(file), ".note-%s", name) >=
	    sizeof(file) ||
	    (size_t)snprintf(tmp, sizeof(tmp), ".note-%s.%ld.tmp", name,
	    (long)getpid()) >= sizeof(tmp) ||
	    cache_dir_open(ctx, 0, &dfd, NULL) != MTASTS_OK)
		return -1;
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NOCTTY | O_CLOEXEC, CACHE_FILE_MODE);
	if (fd != -1) {
		int ok = fchmod(fd, CACHE_FILE_MODE) == 0 &&
		    write(fd, data, len) == (ssize_t)len;

		if (close(fd) != 0)
			ok = 0;
		if (ok && renameat(dfd, tmp, dfd, file) == 0)
			rc = 0;
		else
			(void)unlinkat(dfd, tmp, 0);
	}
	close(dfd);
	return rc;
}
