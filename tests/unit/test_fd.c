/* SPDX-License-Identifier: ISC */
/*
 * test_fd - close-on-exec for descriptors that appear during a call
 * into a library without CLOEXEC options (common/fd.c, D-FD-1).
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "internal/fd.h"
#include "t.h"

static int
cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl != -1 && (fl & FD_CLOEXEC) != 0;
}

int
main(void)
{
	struct mtasts_fdsnap s;
	int before[2], p[2], sv[2], f, hi;

	/* The caller's own descriptors, open before: never touched. */
	CHECK(pipe(before) == 0);
	mtasts_fd_snapshot(&s);
	/* What "the library" opens: a pipe, a socket pair, a file. */
	CHECK(pipe(p) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	CHECK((f = open("/dev/null", O_RDONLY)) != -1);
	CHECK((hi = fcntl(p[0], F_DUPFD, MTASTS_FD_SNAP_MAX + 10)) != -1 ||
	    1);
	CHECK(!cloexec(p[0]) && !cloexec(sv[0]));
	CHECKF(mtasts_fd_cloexec_new(&s) == (hi != -1 ? 5u : 4u), "marked");
	CHECK(cloexec(p[0]) && cloexec(p[1]));
	CHECK(cloexec(sv[0]) && cloexec(sv[1]));
	if (hi != -1)
		CHECK(cloexec(hi));	/* above the bound, none before */
	/* Regular files are left alone (the MTA's log may open inside). */
	CHECK(!cloexec(f));
	CHECK(!cloexec(before[0]) && !cloexec(before[1]));
	/* A second pass marks nothing more. */
	CHECK(mtasts_fd_cloexec_new(&s) == 0);
	return T_DONE();
}
