/* SPDX-License-Identifier: ISC */
/*
 * cache_lock.c - the per-domain lock files of the cache directory
 * (.<domain>.lock, flock'ed): one refresh of a domain at a time across
 * processes (mtasts_cache_lock, mtasts_cache_unlock), and the check that
 * a name still refers to an open file (D-PURGE-1).
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"

/* Lock polling: start fast, back off to a modest interval. */
#define CACHE_LOCK_POLL_MIN_MS 1
#define CACHE_LOCK_POLL_MAX_MS 20

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
int
mtasts_cache_same_file(int dfd, const char *name, int fd)
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
	if (!mtasts_cache_domain_ok(domain, &dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "cache: invalid domain name");
	/* lock_wait = -1 in the configuration follows fetch_timeout. */
	if (wait_ms < 0)
		wait_ms = ctx->cfg.fetch_timeout_ms;
	deadline = mtasts_mono_ms() + wait_ms;
	if ((rc = mtasts_cache_dir_open(ctx, 1, &dfd, err)) != MTASTS_OK)
		goto done;
	cache_lockname(domain, dlen, name, sizeof(name));
	for (;;) {
		/*
		 * D-FILE-1: a regular file with one link, never a FIFO or a
		 * link to a file elsewhere; its mode is fixed only through
		 * this checked descriptor, and only when we own it.
		 */
		lfd = mtasts_open_file(dfd, name, O_RDWR | O_CREAT |
		    MTASTS_OPEN_FIXMODE, MTASTS_CACHE_FILE_MODE, &why);
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
		if (mtasts_cache_same_file(dfd, name, lfd))
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
