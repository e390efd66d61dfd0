/*
 * util.c - small helpers shared by the core: error filling, range-checked
 * number parsing, bounded copies, monotonic time.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mtasts_internal.h"

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

int64_t
mtasts_mono_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
