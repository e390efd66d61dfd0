/* SPDX-License-Identifier: ISC */
/*
 * util.c - small helpers shared by the core: error filling, range-checked
 * number parsing, bounded copies, monotonic time, and the one safe way to
 * open the files and directories the core shares with other local users
 * (D-FILE-1).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"

/* Opens retried when the file vanishes under us (a concurrent purge). */
#define OPEN_TRIES 8

static const char *const rc_names[] = {
	"ok", "not found", "temporary failure", "invalid", "out of memory",
	"internal error", "configuration change after first use"
};

const char *
mtasts_strerror(int rc)
{
	if (rc < 0 || (size_t)rc >= sizeof(rc_names) / sizeof(rc_names[0]))
		return "unknown error";
	return rc_names[rc];
}

const char *
mtasts_version(void)
{
	return MTASTS_VERSION_STRING;
}

static void
err_vset(struct mtasts_error *err, int code, const char *fmt, va_list ap)
{
	if (err == NULL)
		return;
	/* The first error wins: later, vaguer errors must not hide it. */
	if (err->code != MTASTS_OK || err->text[0] != '\0')
		return;
	err->code = code;
	if (vsnprintf(err->text, sizeof(err->text), fmt, ap) < 0)
		err->text[0] = '\0';
}

void
mtasts_err_set(struct mtasts_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
}

int
mtasts_err(struct mtasts_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int
mtasts_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

size_t
mtasts_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

int
mtasts_ascii_caseeq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y)
			return 0;
	}
	return 1;
}

/*
 * Text that quotes servers, libraries or hostile files, for a log line, a
 * cache file or a note: printable ASCII only ('?' for anything else), so
 * no line break or control byte passes, NUL-terminated in out[size].
 */
void
mtasts_sanitize(const char *in, char *out, size_t size)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; i + 1 < size && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	out[i] = '\0';
}

/* CLOCK_MONOTONIC_COARSE in ns: a vDSO read, never a system call. */
int64_t
mtasts_mono_coarse_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
mtasts_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * D-FILE-1: every file the core keeps in a directory it shares (cache,
 * spool) is opened here. O_NOFOLLOW: never through a symbolic link;
 * O_NONBLOCK: a FIFO or device planted in its place can never hang the
 * caller (a FIFO without a reader is ENXIO for writers, one with a reader
 * is refused below); a regular file with exactly one link, so a hard link
 * to a file elsewhere (/etc/mtasts.conf with fs.protected_hardlinks=0) is
 * never written or chmod'ed. The mode is set with fchmod on the checked
 * descriptor only: on a file this call created, or, with MTASTS_OPEN_FIXMODE,
 * on an existing one we own.
 */
int
mtasts_open_file(int dfd, const char *name, int flags, mode_t mode,
    const char **why)
{
	const int base = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	/* Never O_TRUNC: it would act before the checks below. */
	int acc = flags & (O_ACCMODE | O_APPEND), fd = -1, e;
	int created = 0, tries;
	struct stat st;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	/*
	 * The file as it is first: it usually exists (a day's spool, a lock
	 * file), and a failed O_EXCL would cost every such call a system
	 * call. Missing: O_CREAT|O_EXCL, so that we know we made it.
	 */
	for (tries = 0; tries < OPEN_TRIES; tries++) {
		fd = openat(dfd, name, acc | base);
		if (fd == -1 && errno == ENOENT && (flags & O_CREAT)) {
			fd = openat(dfd, name, acc | base | O_CREAT | O_EXCL,
			    mode);
			if (fd != -1)
				created = 1;
			else if (errno == EEXIST)
				continue;	/* made meanwhile: try again */
		}
		if (fd == -1)
			break;
		if (fstat(fd, &st) == -1)
			goto fail;
		/* Unlinked since we opened it (a purge): try again. */
		if (st.st_nlink == 0 && (flags & O_CREAT)) {
			close(fd);
			fd = -1;
			created = 0;
			continue;
		}
		break;
	}
	if (fd == -1) {
		if (tries == OPEN_TRIES)
			errno = EAGAIN;
		if (errno == ELOOP)
			*why = "a symbolic link, refused";
		else if (errno == ENXIO)
			*why = "not a regular file (FIFO or socket), refused";
		else if (errno == EISDIR)
			*why = "a directory, refused";
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file, refused";
		errno = EINVAL;
		goto fail;
	}
	if (st.st_nlink != 1) {
		*why = "a file with several hard links, refused";
		errno = EMLINK;
		goto fail;
	}
	if ((created || ((flags & MTASTS_OPEN_FIXMODE) &&
	    st.st_uid == geteuid())) && (st.st_mode & 07777) != mode &&
	    fchmod(fd, mode) == -1 && created)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* mkdir one component 0700, then fchmod it to mode (never by path). */
static int
mkdir_one(const char *path, mode_t mode)
{
	struct stat st;
	int fd, e;

	if (mkdir(path, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	/* Still the directory we made, not something put in its place. */
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		errno = EPERM;
		goto fail;
	}
	if (fchmod(fd, mode) == -1)
		goto fail;
	close(fd);
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
mtasts_dir_open(const char *path, mode_t mode, int create, const char **why)
{
	char buf[MTASTS_PATH_MAX];
	struct stat st;
	const char *dummy;
	char *p;
	int fd, e;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (path[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create != MTASTS_DIR_EXISTING) {
		if (mtasts_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		p = create == MTASTS_DIR_CREATE_PARENTS ? buf + 1 :
		    buf + strlen(buf);
		for (;; p++) {
			if (*p == '/' || *p == '\0') {
				char c = *p;

				*p = '\0';
				if (mkdir_one(buf, mode) == -1)
					return -1;
				*p = c;
				if (c == '\0')
					break;
			}
		}
		fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISDIR(st.st_mode)) {
		*why = "not a directory";
		errno = ENOTDIR;
		goto fail;
	}
	/* Anybody could plant files (FIFOs, links, records) in it. */
	if (st.st_mode & S_IWOTH) {
		*why = "directory is world-writable, refused";
		errno = EPERM;
		goto fail;
	}
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
mtasts_mkdir_p(const char *path, mode_t mode, const char **why)
{
	int fd;

	if ((fd = mtasts_dir_open(path, mode, MTASTS_DIR_CREATE_PARENTS,
	    why)) == -1)
		return -1;
	close(fd);
	return 0;
}

/*
 * Length of the well-formed UTF-8 sequence (RFC 3629 UTF8-2/3/4: no
 * overlong forms, no surrogates, nothing above U+10FFFF) at s[0..len),
 * or 0.
 */
size_t
mtasts_utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}
