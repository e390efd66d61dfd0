/* SPDX-License-Identifier: ISC */
/*
 * fd.c - no descriptor of the library survives exec (D-FD-1).
 *
 * Everything the core opens itself carries O_CLOEXEC / SOCK_CLOEXEC.
 * libunbound has no such option: its context pipes and the sockets its
 * worker thread opens for queries are inherited by every program the
 * MTA execs (Exim's continued-delivery -MC processes re-exec Exim, so
 * they piled up along a connection, and every ${run} or pipe child got
 * them). The resolver calls are therefore bracketed: a snapshot of the
 * descriptor table before, and FD_CLOEXEC on each socket or FIFO that
 * appeared by the end of the call, before control returns to the MTA.
 *
 * Only descriptors that did not exist at the snapshot are touched: the
 * MTA is single-threaded and inside our call, so any new one is the
 * library's (or libunbound's worker thread's). Regular files are left
 * alone: libunbound closes the files it reads at once, and a log
 * callback into the MTA inside the window may open the MTA's own log.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"

static void
snap_set(struct mtasts_fdsnap *s, long fd)
{
	if (fd >= 0 && fd < MTASTS_FD_SNAP_MAX)
		s->bits[fd / 8] |= (unsigned char)(1u << (fd % 8));
	else if (fd >= MTASTS_FD_SNAP_MAX)
		s->high = 1;
}

static int
snap_has(const struct mtasts_fdsnap *s, long fd)
{
	if (fd >= MTASTS_FD_SNAP_MAX)
		return s->high;	/* unknown above the bound: leave alone */
	return (s->bits[fd / 8] >> (fd % 8)) & 1;
}

/*
 * Call fn for every open descriptor: /proc/self/fd when mounted, else
 * an fcntl() scan below the bound (and nothing above it is known).
 */
static void
fd_each(void (*fn)(void *, long), void *arg, int *above_unknown)
{
	struct dirent *de;
	DIR *d;
	long fd;
	uint64_t v;

	*above_unknown = 0;
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (mtasts_parse_u64(de->d_name, strlen(de->d_name),
			    (uint64_t)1 << 30, &v) != 0)
				continue;
			fd = (long)v;
			if (fd != dirfd(d))
				fn(arg, fd);
		}
		closedir(d);
		return;
	}
	*above_unknown = 1;
	for (fd = 0; fd < MTASTS_FD_SNAP_MAX; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			fn(arg, fd);
}

static void
snap_cb(void *arg, long fd)
{
	snap_set(arg, fd);
}

void
mtasts_fd_snapshot(struct mtasts_fdsnap *s)
{
	int unknown;

	memset(s, 0, sizeof(*s));
	fd_each(snap_cb, s, &unknown);
	if (unknown)
		s->high = 1;
}

struct mark {
	const struct mtasts_fdsnap *s;
	unsigned marked;
};

static void
mark_cb(void *arg, long fd)
{
	struct mark *m = arg;
	struct stat st;
	int fl;

	if (snap_has(m->s, fd) || fstat((int)fd, &st) != 0 ||
	    (!S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode)))
		return;
	if ((fl = fcntl((int)fd, F_GETFD)) == -1 || (fl & FD_CLOEXEC))
		return;
	if (fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC) == 0)
		m->marked++;
}

unsigned
mtasts_fd_cloexec_new(const struct mtasts_fdsnap *s)
{
	struct mark m = { s, 0 };
	int unknown;

	fd_each(mark_cb, &m, &unknown);
	return m.marked;
}
