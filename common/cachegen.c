/* SPDX-License-Identifier: ISC */
/*
 * cachegen.c - the cache's generation counter (decisions.md D-MEMO-4).
 *
 * One 64-bit counter in <cache_dir>/.generation. Every process that uses
 * the cache maps the file read-only and shared; every change to an entry
 * file (store, remove) bumps the counter after its rename or unlink, under
 * an flock of the file, with pread + pwrite. So an entry the memo checked
 * against its file while the counter read G is still that file while the
 * counter still reads G, and a memo hit is a memory compare: no system
 * call (cache_memo.c mtasts_cache_memo_fast).
 *
 * Why not an atomic add through a writable mapping: a store through a
 * mapping that needs a block (copy-on-write filesystems, a full disk)
 * raises SIGBUS in the MTA; pwrite returns ENOSPC instead. Readers only
 * read the page, which never allocates.
 *
 * Where this cannot work the memo falls back to what it did before (stat
 * the directory and the entry on every load): filesystems that are not
 * known to share one page cache between the processes of this host (NFS,
 * CIFS, FUSE, overlayfs: a whitelist of local filesystems), a counter file
 * that is not exactly what we write (size, type, mode), or no file yet on
 * a read-only context. A process re-checks the file's identity at most
 * every CACHE_GEN_RECHECK_NS, so one removed and re-created by someone
 * else is picked up; a bump that fails (full disk, a file another user
 * owns) is bounded by the memo's own re-check interval (cache_memo.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"

#define CACHE_GEN_NAME ".generation"
#define CACHE_GEN_SIZE 8
#define CACHE_GEN_MODE 0660
#define CACHE_GEN_RECHECK_NS 1000000000LL

/* Local filesystems whose pages every process of the host shares. */
static const unsigned long cache_gen_fs_ok[] = {
	0xEF53UL,		/* ext2, ext3, ext4 */
	0x58465342UL,		/* xfs */
	0x9123683EUL,		/* btrfs */
	0x01021994UL,		/* tmpfs */
	0x2FC12FC1UL,		/* zfs */
	0xF2F52010UL,		/* f2fs */
};

static int
cache_gen_path(const struct mtasts_ctx *ctx, char *buf, size_t size)
{
	int n;

	n = snprintf(buf, size, "%s/%s", ctx->cfg.cache_dir, CACHE_GEN_NAME);
	return n > 0 && (size_t)n < size;
}

static int
cache_gen_fs_known(int fd)
{
	struct statfs sf;
	size_t i;

	if (fstatfs(fd, &sf) == -1)
		return 0;
	for (i = 0; i < sizeof(cache_gen_fs_ok) / sizeof(cache_gen_fs_ok[0]);
	    i++)
		if ((unsigned long)sf.f_type == cache_gen_fs_ok[i])
			return 1;
	return 0;
}

/* A counter file as we write it: regular, one link, size, not o+w. */
static int
cache_gen_file_ok(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 1 &&
	    st->st_size == CACHE_GEN_SIZE && (st->st_mode & S_IWOTH) == 0;
}

/*
 * Create the counter file: O_EXCL, explicit mode, its 8 bytes written with
 * pwrite (so the block exists before anyone maps it). A racing creator
 * loses with EEXIST and opens the winner's file.
 */
static int
cache_gen_create(int dfd)
{
	static const unsigned char zero[CACHE_GEN_SIZE];
	int fd;

	fd = openat(dfd, CACHE_GEN_NAME, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, CACHE_GEN_MODE);
	if (fd == -1)
		return -1;
	if (fchmod(fd, CACHE_GEN_MODE) == -1 ||
	    pwrite(fd, zero, sizeof(zero), 0) != (ssize_t)sizeof(zero)) {
		(void)unlinkat(dfd, CACHE_GEN_NAME, 0);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void
mtasts_cache_gen_release(struct mtasts_ctx *ctx)
{
	if (ctx->cache_gen.base != NULL)
		munmap(ctx->cache_gen.base, CACHE_GEN_SIZE);
	ctx->cache_gen.base = NULL;
	ctx->cache_gen.map = NULL;
	ctx->cache_gen.state = 0;
}

/* Map the counter; sets state 1 (mapped) or -1 (unusable for now). */
static void
cache_gen_open(struct mtasts_ctx *ctx, int64_t now)
{
	char path[MTASTS_PATH_MAX + sizeof(CACHE_GEN_NAME) + 1];
	struct stat st;
	void *map;
	int fd, dfd;

	ctx->cache_gen.state = -1;
	ctx->cache_gen.checked_ns = now;
	if (ctx->cfg.cache_dir[0] == '\0' ||
	    !cache_gen_path(ctx, path, sizeof(path)))
		return;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && !ctx->cache_readonly) {
		dfd = open(ctx->cfg.cache_dir, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
		if (dfd != -1) {
			(void)cache_gen_create(dfd);
			close(dfd);
		}
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
	}
	if (fd == -1)
		return;
	if (fstat(fd, &st) == -1 || !cache_gen_file_ok(&st) ||
	    !cache_gen_fs_known(fd)) {
		close(fd);
		return;
	}
	map = mmap(NULL, CACHE_GEN_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	ctx->cache_gen.base = map;
	ctx->cache_gen.map = map;
	ctx->cache_gen.dev = st.st_dev;
	ctx->cache_gen.ino = st.st_ino;
	ctx->cache_gen.state = 1;
}

int
mtasts_cache_gen_read(struct mtasts_ctx *ctx, int64_t now, uint64_t *gen)
{
	char path[MTASTS_PATH_MAX + sizeof(CACHE_GEN_NAME) + 1];
	struct mtasts_cache_gen *g = &ctx->cache_gen;
	struct stat st;

	if (g->state == 1 && now - g->checked_ns >= CACHE_GEN_RECHECK_NS) {
		/* Still the file every writer bumps? */
		g->checked_ns = now;
		if (!cache_gen_path(ctx, path, sizeof(path)) ||
		    lstat(path, &st) == -1 || !cache_gen_file_ok(&st) ||
		    st.st_dev != g->dev || st.st_ino != g->ino)
			mtasts_cache_gen_release(ctx);
	}
	if (g->state != 1) {
		if (g->state == -1 &&
		    now - g->checked_ns < CACHE_GEN_RECHECK_NS)
			return 0;
		cache_gen_open(ctx, now);
		if (g->state != 1)
			return 0;
	}
	*gen = __atomic_load_n(g->map, __ATOMIC_ACQUIRE);
	return 1;
}

int
mtasts_cache_gen_bump(int dfd)
{
	unsigned char b[CACHE_GEN_SIZE];
	uint64_t v = 0;
	struct stat st;
	int fd, i, rc = -1, saved;

	fd = openat(dfd, CACHE_GEN_NAME, O_RDWR | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT) {
		/* Nobody maps a file that does not exist: nothing to tell. */
		if (cache_gen_create(dfd) == 0 || errno == EEXIST)
			return 0;
		return -1;
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1 || !cache_gen_file_ok(&st)) {
		errno = EINVAL;
		goto done;
	}
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto done;
	errno = EIO;		/* a short read sets none */
	if (pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
		goto done;
	for (i = 0; i < CACHE_GEN_SIZE; i++)
		v |= (uint64_t)b[i] << (8 * i);
	v++;
	for (i = 0; i < CACHE_GEN_SIZE; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	errno = EIO;
	if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
		goto done;
	rc = 0;
done:
	saved = errno;
	close(fd);		/* releases the lock */
	errno = saved;
	return rc;
}
