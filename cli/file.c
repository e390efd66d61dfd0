/* SPDX-License-Identifier: ISC */
/*
 * file.c - replacing a file the CLI writes (built reports, send state,
 * the metrics textfile) atomically: a fresh temp file in the same
 * directory, written whole, fsync'ed, renamed over the name, then the
 * directory fsync'ed (best effort), so a reader sees the old or the new
 * file, never half of one, and a crash keeps one of them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int
cli_write_atomic(const char *path, const char *tmp, const char *data,
    size_t len, mode_t mode)
{
	char dir[MTASTS_PATH_MAX * 2];
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	int fd, dfd;

	/*
	 * A fresh file (O_EXCL after removing a leftover): O_TRUNC on an
	 * existing name could truncate a hard-linked file elsewhere.
	 */
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, mode)) < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* The descriptor is closed exactly once, whatever fails. */
	if (off != len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	/* The rename itself durable (best effort). */
	if (slash == NULL)
		mtasts_strlcpy(dir, ".", sizeof(dir));
	else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (dir[0] == '\0')
			mtasts_strlcpy(dir, "/", sizeof(dir));
	} else
		return 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
