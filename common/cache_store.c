/* SPDX-License-Identifier: ISC */
/*
 * cache_store.c - the shared on-disk MTA-STS policy cache: one JSON file per
 * policy domain, <cache_dir>/<domain>.json, written by some delivery
 * processes and read by many at once.
 *
 * RFC 8461 §10: a cached enforce policy is what defeats a downgrade
 * attacker, so this is a security store, not a performance cache. Writes
 * go to a temp file that is fsync'ed and renamed over the entry, so a
 * crash or a full disk never loses the previous entry and readers never
 * see a partial file. A bulk refresh's stores skip the fsyncs and the
 * batch ends with one syncfs() instead (D-CACHE-9). Everything read back
 * is hostile input: any file that is not exactly what we would have
 * written is logged and ignored.
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

#include "mtasts_internal.h"

#define CACHE_DIR_MODE 02770
/* O_EXCL collisions tolerated when picking a temp file name. */
#define CACHE_TMP_TRIES 8
/* Domain prefix length kept in temp file names (they must fit NAME_MAX). */
#define CACHE_TMP_DOMAIN_MAX (NAME_MAX - 48)
#define CACHE_WHY_MAX 128

/* syncfs(2): in glibc since 2.14, declared only under _GNU_SOURCE. */
int syncfs(int);

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
int
mtasts_cache_dir_open(const struct mtasts_ctx *ctx, int create, int *dfd,
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
		/* Only names mtasts_cache_domain_ok() passed are memoised. */
		if (gen_ok && (dlen = strnlen(domain, MTASTS_DOMAIN_MAX + 1)) <=
		    MTASTS_DOMAIN_MAX &&
		    (rc = mtasts_cache_memo_fast(ctx, domain, dlen, mono, gen,
		    out, err)) != MTASTS_NOTFOUND)
			return rc;
	}
	if (!mtasts_cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	/* Such a name can never have been stored. */
	if (!mtasts_cache_filename(domain, name))
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
	    (rc = mtasts_cache_memo_load(ctx, domain, dlen, path, gen_ok, gen,
	    mono, out, err)) != MTASTS_NOTFOUND)
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
	rc = mtasts_cache_decode(ctx, domain, buf, off, e, why, sizeof(why));
	if (rc == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "cache: out of memory");
	if (rc == MTASTS_OK) {
		if (ctx->cfg.cache_memo >= 0)
			mtasts_cache_memo_record(ctx, e, dlen, &st, gen_ok,
			    gen, mono);
		*out = e;
		e = NULL;
	}
done:
	/* Whatever the file is now, it is not what the memo holds. */
	if (rc != MTASTS_OK && ctx->cache_memo != NULL)
		mtasts_cache_memo_drop(ctx, domain, dlen);
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
	struct mtasts_cache_batch *batch = ctx->cache_batch;
	const struct mtasts_netops *ops;
	char *json = NULL;
	size_t dlen, jlen, off = 0;
	ssize_t n;
	int dfd = -1, fd = -1, rc, tmp_made = 0, i;

	if (e == NULL)
		return mtasts_err(err, MTASTS_INVALID, "cache: no entry");
	if (mtasts_cache_entry_check(e, why, sizeof(why)) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: refusing to store entry: %s", why);
	mtasts_cache_domain_ok(e->domain, &dlen);
	if (!mtasts_cache_filename(e->domain, name))
		return mtasts_err(err, MTASTS_ERROR,
		    "cache: domain too long for a cache file name");
	/* The next load reads what this store leaves, whatever happens. */
	if (ctx->cache_memo != NULL)
		mtasts_cache_memo_drop(ctx, e->domain, dlen);
	/* jansson: in the network half for the light one (D-LAZYNET-4). */
	if ((ops = mtasts_netops_get(ctx, err)) == NULL) {
		rc = err != NULL && err->code != 0 ? err->code : MTASTS_ERROR;
		goto done;
	}
	if ((rc = ops->cache_encode(e, &json, &jlen, err)) != MTASTS_OK)
		goto done;
	if ((rc = mtasts_cache_dir_open(ctx, 1, &dfd, err)) != MTASTS_OK)
		goto done;
	for (i = 0; i < CACHE_TMP_TRIES; i++) {
		cache_tmpname(e->domain, dlen, tmp, sizeof(tmp));
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, MTASTS_CACHE_FILE_MODE);
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
	if (fchmod(fd, MTASTS_CACHE_FILE_MODE) == -1)
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
	/*
	 * Durable before it becomes visible: a crash keeps old or new. In a
	 * batch the batch's syncfs() makes it durable (D-CACHE-9).
	 */
	if (batch != NULL)
		__atomic_add_fetch(&batch->stores, 1, __ATOMIC_RELAXED);
	else if (fsync(fd) == -1)
		goto ioerr;
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto ioerr;
	if (renameat(dfd, tmp, dfd, name) == -1)
		goto ioerr;
	tmp_made = 0;
	/* Per store, batch or not: every other process's next load sees it. */
	cache_changed(ctx, dfd);
	if (batch == NULL && fsync(dfd) == -1 && errno != EINVAL) {
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
mtasts_cache_batch_begin(struct mtasts_ctx *ctx,
    struct mtasts_cache_batch *b, struct mtasts_error *err)
{
	int rc;

	b->stores = 0;
	/*
	 * Opened now, before any store: syncfs() reports the write-back
	 * errors of the filesystem since this descriptor was opened.
	 */
	if ((rc = mtasts_cache_dir_open(ctx, 0, &b->dfd, err)) != MTASTS_OK)
		return rc;
	ctx->cache_batch = b;
	return MTASTS_OK;
}

int
mtasts_cache_batch_end(struct mtasts_ctx *ctx,
    struct mtasts_cache_batch *b, struct mtasts_error *err)
{
	int rc = MTASTS_OK;

	ctx->cache_batch = NULL;
	if (b->dfd == -1)
		return MTASTS_OK;
	/* Every temp file's data and every rename of the batch (D-CACHE-9). */
	if (__atomic_load_n(&b->stores, __ATOMIC_RELAXED) > 0 &&
	    syncfs(b->dfd) == -1)
		rc = mtasts_err(err, MTASTS_ERROR, "cache: sync %s: %s (%lu "
		    "entries stored whole, but they may not survive a power "
		    "loss)", ctx->cfg.cache_dir, strerror(errno), b->stores);
	close(b->dfd);
	b->dfd = -1;
	return rc;
}

int
mtasts_cache_remove(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_error *err)
{
	return mtasts_cache_remove_entry(ctx, domain, NULL, err);
}

/* *removed (if not NULL): 1 when an entry was there and is gone now. */
int
mtasts_cache_remove_entry(struct mtasts_ctx *ctx, const char *domain,
    int *removed, struct mtasts_error *err)
{
	char name[NAME_MAX + 1];
	size_t dlen;
	int dfd = -1, gone = 0, rc;

	if (removed != NULL)
		*removed = 0;
	if (!mtasts_cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	if (!mtasts_cache_filename(domain, name))
		return MTASTS_OK;
	if (ctx->cache_memo != NULL)
		mtasts_cache_memo_drop(ctx, domain, dlen);
	if ((rc = mtasts_cache_dir_open(ctx, 0, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
	/*
	 * An (empty) directory in an entry's place is an unusable entry
	 * (D-CACHE-6) that `cache flush` is documented to repair.
	 */
	if (unlinkat(dfd, name, 0) == 0 ||
	    (errno == EISDIR && unlinkat(dfd, name, AT_REMOVEDIR) == 0))
		gone = 1;
	else if (errno != ENOENT) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: remove %s/%s: %s",
		    ctx->cfg.cache_dir, name, strerror(errno));
		goto done;
	}
	/* Nothing was there: nothing changed for the other processes. */
	if (gone) {
		cache_changed(ctx, dfd);
		(void)fsync(dfd);
	}
	if (removed != NULL)
		*removed = gone;
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
 * The cache directory opened for a scan: MTASTS_OK with *d and *dfd (its
 * descriptor, owned by *d), MTASTS_NOTFOUND when it does not exist, or an
 * error; *d is NULL unless MTASTS_OK.
 */
static int
cache_dir_scan(const struct mtasts_ctx *ctx, DIR **d, int *dfd,
    struct mtasts_error *err)
{
	int rc;

	*d = NULL;
	if ((rc = mtasts_cache_dir_open(ctx, 0, dfd, err)) != MTASTS_OK)
		return rc;
	if ((*d = fdopendir(*dfd)) == NULL) {
		rc = mtasts_err(err, MTASTS_ERROR, "cache: %s: %s",
		    ctx->cfg.cache_dir, strerror(errno));
		close(*dfd);
		*dfd = -1;
		return rc;
	}
	return MTASTS_OK;
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

	/* No cache directory: nothing cached. */
	if ((rc = cache_dir_scan(ctx, &d, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
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
		if (!mtasts_cache_domain_ok(domain, &dlen))
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
		if (!mtasts_cache_domain_ok(domain, &dlen) ||
		    !mtasts_cache_filename(domain, entry))
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
	    mtasts_cache_same_file(dfd, name, fd) &&
	    unlinkat(dfd, name, 0) == 0)
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
	/* No cache directory: nothing cached. */
	if ((rc = cache_dir_scan(ctx, &d, &dfd, err)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_OK : rc;
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
		sizeof(file) ||
	    mtasts_cache_dir_open(ctx, 1, &dfd, NULL) != MTASTS_OK)
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
	    mtasts_cache_dir_open(ctx, 0, &dfd, NULL) != MTASTS_OK)
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
	    mtasts_cache_dir_open(ctx, 0, &dfd, NULL) != MTASTS_OK)
		return -1;
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NOCTTY | O_CLOEXEC, MTASTS_CACHE_FILE_MODE);
	if (fd != -1) {
		int ok = fchmod(fd, MTASTS_CACHE_FILE_MODE) == 0 &&
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
