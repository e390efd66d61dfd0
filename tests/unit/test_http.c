/* SPDX-License-Identifier: ISC */
/*
 * test_http.c - table-driven tests of the HTTP/1.1 response parser
 * (common/http.c): framings, caps, incremental feeding, malformed heads,
 * media types.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal/http.h"
#include "t.h"

#define CAP MTASTS_POLICY_BODY_MAX
#define S(x) x, sizeof(x) - 1

struct tcase {
	const char *name;
	const char *in;
	size_t len;
	int eof;
	int want;		/* enum mtasts_http_state */
	int status;		/* when the head is complete */
	const char *body;	/* on DONE */
	int ct_ok;
	const char *why;	/* substring of why on ERROR */
};

#define H200 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

static const struct tcase cases[] = {
	{ "content-length", S(H200 "Content-Length: 5\r\n\r\nhello"), 0,
	    MTASTS_HTTP_DONE, 200, "hello", 1, NULL },
	{ "content-length extra ignored",
	    S(H200 "Content-Length: 2\r\n\r\nhello"), 0, MTASTS_HTTP_DONE,
	    200, "he", 1, NULL },
	{ "content-length more", S(H200 "Content-Length: 5\r\n\r\nhel"), 0,
	    MTASTS_HTTP_MORE, 200, NULL, 1, NULL },
	{ "short body", S(H200 "Content-Length: 5\r\n\r\nhel"), 1,
	    MTASTS_HTTP_ERROR, 200, NULL, 1, "short body" },
	{ "content-length zero", S(H200 "Content-Length: 0\r\n\r\n"), 0,
	    MTASTS_HTTP_DONE, 200, "", 1, NULL },
	{ "same content-length twice",
	    S(H200 "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"), 0,
	    MTASTS_HTTP_DONE, 200, "hello", 1, NULL },
	{ "content-length list", S(H200 "Content-Length: 5, 5\r\n\r\nhello"),
	    0, MTASTS_HTTP_DONE, 200, "hello", 1, NULL },
	{ "differing content-length",
	    S(H200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "Content-Length" },
	{ "differing content-length list",
	    S(H200 "Content-Length: 5, 6\r\n\r\nhello"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "Content-Length" },
	{ "negative content-length", S(H200 "Content-Length: -1\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "Content-Length" },
	{ "huge content-length",
	    S(H200 "Content-Length: 99999999999999999999999\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "Content-Length" },
	{ "content-length over cap", S(H200 "Content-Length: 65537\r\n\r\n"),
	    0, MTASTS_HTTP_TOOBIG, 200, NULL, 1, NULL },
	{ "chunked", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 0, MTASTS_HTTP_DONE,
	    200, "hello world", 1, NULL },
	{ "chunked upper-case hex, ext, trailer",
	    S(H200 "Transfer-Encoding: Chunked\r\n\r\n"
	    "0A;foo=bar\r\n0123456789\r\n00 ; x\r\nX-T: 1\r\n\r\n"), 0,
	    MTASTS_HTTP_DONE, 200, "0123456789", 1, NULL },
	{ "chunked garbage size", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "zz\r\nhello\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "chunk size" },
	{ "chunked size with junk", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "5x\r\nhello\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "chunk size" },
	/* D-NET-5: junk after the size is refused before its line ends */
	{ "chunked size junk, line open", S(H200 "Transfer-Encoding: "
	    "chunked\r\n\r\n5x"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "chunk size" },
	{ "chunked data junk, line open", S(H200 "Transfer-Encoding: "
	    "chunked\r\n\r\n1\r\nab"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "missing CRLF" },
	{ "chunked blanks before ext", S(H200 "Transfer-Encoding: "
	    "chunked\r\n\r\n2 \t;a=b\r\nok\r\n0\r\n\r\n"), 0,
	    MTASTS_HTTP_DONE, 200, "ok", 1, NULL },
	{ "chunked 0x prefix", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "0x5\r\nhello\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "chunk size" },
	{ "chunked negative size", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "-5\r\nhello\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "chunk size" },
	{ "chunked overflowing size",
	    S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "FFFFFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), 0,
	    MTASTS_HTTP_TOOBIG, 200, NULL, 1, NULL },
	{ "chunked long zero size", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "000000000000000000000005\r\nhello\r\n0\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 200, NULL, 1, "chunk size" },
	{ "chunked missing crlf after data",
	    S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhelloX\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "CRLF" },
	{ "chunked closed early", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n"), 1, MTASTS_HTTP_ERROR, 200, NULL, 1,
	    "short body" },
	{ "chunked needs more", S(H200 "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n"), 0, MTASTS_HTTP_MORE, 200, NULL, 1, NULL },
	{ "chunked and content-length",
	    S(H200 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "chunked" },
	{ "gzip transfer-coding", S(H200 "Transfer-Encoding: gzip\r\n\r\n"),
	    0, MTASTS_HTTP_ERROR, 0, NULL, 0, "Transfer-Encoding" },
	{ "gzip, chunked", S(H200 "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	    0, MTASTS_HTTP_ERROR, 0, NULL, 0, "Transfer-Encoding" },
	{ "close-delimited", S(H200 "\r\nhello"), 1, MTASTS_HTTP_DONE, 200,
	    "hello", 1, NULL },
	{ "close-delimited open", S(H200 "\r\nhello"), 0, MTASTS_HTTP_MORE,
	    200, NULL, 1, NULL },
	{ "close-delimited http/1.0", S("HTTP/1.0 200 OK\r\n"
	    "Content-Type: text/plain\r\n\r\nhello"), 1, MTASTS_HTTP_DONE, 200,
	    "hello", 1, NULL },
	{ "bare LF lines", S("HTTP/1.1 200 OK\nContent-Type: text/plain\n"
	    "Content-Length: 2\n\nok"), 0, MTASTS_HTTP_DONE, 200, "ok", 1,
	    NULL },
	{ "no reason phrase", S("HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok"),
	    0, MTASTS_HTTP_DONE, 200, "ok", 0, NULL },
	{ "interim 100 skipped", S("HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
	    H200 "Content-Length: 2\r\n\r\nok"), 0, MTASTS_HTTP_DONE, 200,
	    "ok", 1, NULL },
	{ "101", S("HTTP/1.1 101 Switching Protocols\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "101" },
	{ "404", S("HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
	    "Content-Length: 3\r\n\r\nno!"), 0, MTASTS_HTTP_DONE, 404, "no!",
	    0, NULL },
	{ "404 head only", S("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n"
	    "\r\n"), 0, MTASTS_HTTP_MORE, 404, NULL, 0, NULL },
	{ "204 no body", S("HTTP/1.1 204 No Content\r\n\r\n"), 0,
	    MTASTS_HTTP_DONE, 204, "", 0, NULL },
	{ "301 with location", S("HTTP/1.1 301 Moved Permanently\r\n"
	    "Location: https://evil.example/x\r\nContent-Length: 0\r\n\r\n"),
	    0, MTASTS_HTTP_DONE, 301, "", 0, NULL },
	{ "empty input eof", S(""), 1, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "without response" },
	{ "empty input", S(""), 0, MTASTS_HTTP_MORE, 0, NULL, 0, NULL },
	{ "head cut at eof", S("HTTP/1.1 200 OK\r\nContent-"), 1,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "response head" },
	{ "missing status line", S("Content-Type: text/plain\r\n\r\nhello"),
	    0, MTASTS_HTTP_ERROR, 0, NULL, 0, "status line" },
	{ "HTTP/2 status line", S("HTTP/2 200 OK\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "status line" },
	{ "HTTP/1.1 two-digit status", S("HTTP/1.1 20 OK\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "status line" },
	{ "status 600", S("HTTP/1.1 600 Odd\r\n\r\n"), 0, MTASTS_HTTP_ERROR,
	    0, NULL, 0, "status line" },
	{ "status letters", S("HTTP/1.1 2x0 OK\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "status line" },
	{ "lower-case http", S("http/1.1 200 OK\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "status line" },
	{ "header without colon", S("HTTP/1.1 200 OK\r\nContent-Type "
	    "text/plain\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0, "colon" },
	{ "space before colon", S("HTTP/1.1 200 OK\r\nContent-Type : "
	    "text/plain\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "header name" },
	{ "empty header name", S("HTTP/1.1 200 OK\r\n: x\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "header name" },
	{ "obs-fold", S(H200 "X-A: 1\r\n  continued\r\nContent-Length: 0\r\n"
	    "\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0, "folding" },
	{ "duplicate content-type", S(H200 "Content-Type: text/plain\r\n"
	    "Content-Length: 0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "duplicate" },
	{ "duplicate transfer-encoding", S(H200 "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "duplicate" },
	{ "duplicate location", S("HTTP/1.1 302 Found\r\nLocation: /a\r\n"
	    "Location: /b\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "duplicate" },
	{ "NUL in status line", S("HTTP/1.1 200 O\0K\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "NUL" },
	{ "NUL in header", S(H200 "X-A: a\0b\r\nContent-Length: 0\r\n\r\n"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "NUL" },
	{ "NUL in partial head", S("HTTP/1.1 200 OK\r\nX-A: a\0"), 0,
	    MTASTS_HTTP_ERROR, 0, NULL, 0, "NUL" },
	{ "bare CR in header", S(H200 "X-A: a\rb\r\nContent-Length: 0\r\n\r\n"),
	    0, MTASTS_HTTP_ERROR, 0, NULL, 0, "bare CR" },
	{ "control char in value", S(H200 "X-A: a\001b\r\n"
	    "Content-Length: 0\r\n\r\n"), 0, MTASTS_HTTP_ERROR, 0, NULL, 0,
	    "control" },
	{ "NUL in body kept", S(H200 "Content-Length: 3\r\n\r\na\0b"), 0,
	    MTASTS_HTTP_DONE, 200, NULL, 1, NULL },
	{ "text/html", S("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	    "Content-Length: 2\r\n\r\nok"), 0, MTASTS_HTTP_DONE, 200, "ok", 0,
	    NULL },
	{ "no content-type", S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	    "ok"), 0, MTASTS_HTTP_DONE, 200, "ok", 0, NULL },
};

/*
 * D-NET-5: the incremental parser fed one byte more per call, each time
 * from a fresh copy (the buffer moves, as after realloc), must say what
 * the one-shot parse of the whole says.
 */
static void
incremental(const struct tcase *c)
{
	struct mtasts_http_parser ps;
	struct mtasts_http_resp r;
	char *copy = NULL;
	size_t k;
	int st = MTASTS_HTTP_MORE;

	memset(&r, 0, sizeof(r));
	mtasts_http_parser_init(&ps);
	for (k = 0; k <= c->len && st == MTASTS_HTTP_MORE; k++) {
		free(copy);
		if ((copy = malloc(k + 1)) == NULL)
			abort();
		memcpy(copy, c->in, k);
		st = mtasts_http_feed(&ps, copy, k, k == c->len && c->eof, CAP,
		    &r);
	}
	CHECKF(st == c->want, "%s: incremental state %d, want %d (%s)",
	    c->name, st, c->want, r.why);
	CHECKF(r.status == c->status, "%s: incremental status %d", c->name,
	    r.status);
	if (st == MTASTS_HTTP_DONE && c->body != NULL)
		CHECKF(r.body_len == strlen(c->body) &&
		    memcmp(r.body, c->body, r.body_len) == 0,
		    "%s: incremental body", c->name);
	if (c->why != NULL)
		CHECKF(strstr(r.why, c->why) != NULL,
		    "%s: incremental why \"%s\"", c->name, r.why);
	/* a final verdict is returned again */
	if (st != MTASTS_HTTP_MORE)
		CHECKF(mtasts_http_feed(&ps, c->in, c->len, 1, CAP, &r) == st,
		    "%s: verdict changed", c->name);
	mtasts_http_parser_clear(&ps);
	mtasts_http_clear(&r);
	free(copy);
}

static void
test_table(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *c = &cases[i];
		struct mtasts_http_resp r;
		int st;

		memset(&r, 0, sizeof(r));
		st = mtasts_http_parse(c->in, c->len, c->eof, CAP, &r);
		CHECKF(st == c->want, "%s: state %d, want %d (%s)", c->name,
		    st, c->want, r.why);
		CHECKF(r.status == c->status, "%s: status %d, want %d",
		    c->name, r.status, c->status);
		if (c->status != 0)
			CHECKF(r.content_type_ok == c->ct_ok,
			    "%s: content_type_ok %d", c->name,
			    r.content_type_ok);
		if (st == MTASTS_HTTP_DONE && c->body != NULL)
			CHECKF(r.body_len == strlen(c->body) &&
			    memcmp(r.body, c->body, r.body_len) == 0,
			    "%s: body \"%.*s\"", c->name, (int)r.body_len,
			    r.body);
		if (c->why != NULL)
			CHECKF(strstr(r.why, c->why) != NULL,
			    "%s: why \"%s\", want \"%s\"", c->name, r.why,
			    c->why);
		mtasts_http_clear(&r);
		incremental(c);
	}
}

static void
test_location(void)
{
	static const char in[] = "HTTP/1.1 301 Moved\r\n"
	    "Location: https://other.example/.well-known/mta-sts.txt\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct mtasts_http_resp r;

	memset(&r, 0, sizeof(r));
	CHECK(mtasts_http_parse(in, sizeof(in) - 1, 0, CAP, &r) ==
	    MTASTS_HTTP_DONE);
	CHECK(r.status == 301);
	CHECK(r.has_location == 1);
	mtasts_http_clear(&r);
}

static void
test_nul_body(void)
{
	static const char in[] = H200 "Content-Length: 3\r\n\r\na\0b";
	struct mtasts_http_resp r;

	memset(&r, 0, sizeof(r));
	CHECK(mtasts_http_parse(in, sizeof(in) - 1, 0, CAP, &r) ==
	    MTASTS_HTTP_DONE);
	CHECK(r.body_len == 3 && memcmp(r.body, "a\0b", 3) == 0);
	mtasts_http_clear(&r);
}

/* Feed every prefix: all MORE until the whole, then the same verdict. */
static void
split_every_byte(const char *name, const char *in, size_t len,
    const char *body)
{
	struct mtasts_http_resp r;
	size_t k, bad = 0;
	int st;

	memset(&r, 0, sizeof(r));
	for (k = 0; k < len; k++)
		if (mtasts_http_parse(in, k, 0, CAP, &r) != MTASTS_HTTP_MORE)
			bad++;
	CHECKF(bad == 0, "%s: %zu prefixes not MORE", name, bad);
	st = mtasts_http_parse(in, len, 0, CAP, &r);
	CHECKF(st == MTASTS_HTTP_DONE, "%s: state %d (%s)", name, st, r.why);
	CHECKF(r.body_len == strlen(body) &&
	    memcmp(r.body, body, r.body_len) == 0, "%s: body", name);
	mtasts_http_clear(&r);
}

/* D-NET-5: blanks after a chunk size count towards the extension cap. */
static void
test_chunk_bws(void)
{
	static const char head[] = H200 "Transfer-Encoding: chunked\r\n\r\n1";
	struct mtasts_http_resp r;
	size_t n = sizeof(head) - 1;
	char *p = malloc(n + 2000);

	if (p == NULL)
		abort();
	memcpy(p, head, n);
	memset(p + n, ' ', 2000);
	memset(&r, 0, sizeof(r));
	CHECK(mtasts_http_parse(p, n + 1024, 0, CAP, &r) == MTASTS_HTTP_MORE);
	CHECK(mtasts_http_parse(p, n + 1025, 0, CAP, &r) ==
	    MTASTS_HTTP_ERROR);
	CHECK(strstr(r.why, "chunk extension too long") != NULL);
	mtasts_http_clear(&r);
	free(p);
}

/*
 * D-NET-5: a 1-byte-chunk body fed one byte per call costs linear time.
 * 64 KiB of body is 393 kB of response; re-parsing from the start after
 * every byte (the old fetch) took minutes, the incremental parser takes
 * milliseconds. The CPU bound is loose for slow sanitizer builds.
 */
static void
test_chunk1_linear(void)
{
	static const char head[] = H200 "Transfer-Encoding: chunked\r\n\r\n";
	size_t hl = sizeof(head) - 1, n = hl + 6 * 65536 + 5, i;
	struct mtasts_http_parser ps;
	struct mtasts_http_resp r;
	struct timespec t0, t1;
	char *p = malloc(n);
	int st = MTASTS_HTTP_MORE;
	double cpu;

	if (p == NULL)
		abort();
	memcpy(p, head, hl);
	for (i = 0; i < 65536; i++)
		memcpy(p + hl + 6 * i, "1\r\nz\r\n", 6);
	memcpy(p + n - 5, "0\r\n\r\n", 5);
	memset(&r, 0, sizeof(r));
	mtasts_http_parser_init(&ps);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 1; i <= n && st == MTASTS_HTTP_MORE; i++)
		st = mtasts_http_feed(&ps, p, i, 0, 65536, &r);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	cpu = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECKF(st == MTASTS_HTTP_DONE && r.body_len == 65536 && i == n + 1,
	    "1-byte chunks: state %d, %zu bytes (%s)", st, r.body_len, r.why);
	CHECKF(cpu < 0.5, "1-byte chunks: %.3f s CPU", cpu);
	printf("64 KiB in 1-byte chunks, fed byte by byte: %.4f s CPU\n", cpu);
	mtasts_http_parser_clear(&ps);
	mtasts_http_clear(&r);
	free(p);
}

static void
test_splits(void)
{
	static const char chunked[] = H200 "Transfer-Encoding: chunked\r\n"
	    "\r\n5;e=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nT: x\r\n\r\n";
	static const char clen[] = H200 "Content-Length: 11\r\n\r\nhello world";

	split_every_byte("chunked", chunked, sizeof(chunked) - 1,
	    "hello world");
	split_every_byte("content-length", clen, sizeof(clen) - 1,
	    "hello world");
}

static char *
make_resp(int framing, size_t blen, size_t *len)
{
	size_t cap = blen + 256, n = 0;
	char *p = malloc(cap);

	if (p == NULL)
		return NULL;
	n = (size_t)snprintf(p, cap, H200 "%s", framing == 0 ?
	    "Content-Length: " : framing == 1 ?
	    "Transfer-Encoding: chunked\r\n\r\n" : "\r\n");
	if (framing == 0)
		n += (size_t)snprintf(p + n, cap - n, "%zu\r\n\r\n", blen);
	if (framing == 1)
		n += (size_t)snprintf(p + n, cap - n, "%zx\r\n", blen);
	memset(p + n, 'a', blen);
	n += blen;
	if (framing == 1)
		n += (size_t)snprintf(p + n, cap - n, "\r\n0\r\n\r\n");
	*len = n;
	return p;
}

static void
test_caps(void)
{
	static const char *names[] = { "content-length", "chunked", "close" };
	int f;

	for (f = 0; f < 3; f++) {
		struct mtasts_http_resp r;
		size_t len;
		char *p;
		int st;

		memset(&r, 0, sizeof(r));
		p = make_resp(f, CAP, &len);
		CHECK(p != NULL);
		st = mtasts_http_parse(p, len, f == 2, CAP, &r);
		CHECKF(st == MTASTS_HTTP_DONE && r.body_len == CAP,
		    "%s: exactly %d: state %d len %zu", names[f], CAP, st,
		    r.body_len);
		mtasts_http_clear(&r);
		free(p);

		p = make_resp(f, CAP + 1, &len);
		CHECK(p != NULL);
		st = mtasts_http_parse(p, len, f == 2, CAP, &r);
		CHECKF(st == MTASTS_HTTP_TOOBIG, "%s: %d + 1: state %d",
		    names[f], CAP, st);
		mtasts_http_clear(&r);
		free(p);
	}
}

/* TOOBIG as soon as the cap is passed, without waiting for the rest. */
static void
test_toobig_early(void)
{
	struct mtasts_http_resp r;
	size_t len;
	char *p;

	memset(&r, 0, sizeof(r));
	p = make_resp(2, CAP + 1, &len);
	CHECK(p != NULL && mtasts_http_parse(p, len, 0, CAP, &r) ==
	    MTASTS_HTTP_TOOBIG);
	free(p);
	/* chunked: the size line alone is enough */
	p = make_resp(1, CAP + 1, &len);
	CHECK(p != NULL && mtasts_http_parse(p, len - CAP - 10, 0, CAP, &r) ==
	    MTASTS_HTTP_TOOBIG);
	free(p);
	/* two chunks adding up to one over the cap */
	{
		static const char in[] = H200 "Transfer-Encoding: chunked\r\n"
		    "\r\n8000\r\n";
		static const char in2[] = "\r\n8001\r\n";
		size_t l1 = sizeof(in) - 1, l2 = sizeof(in2) - 1;
		char *q = malloc(l1 + 0x8000 + l2);

		CHECK(q != NULL);
		if (q != NULL) {
			memcpy(q, in, l1);
			memset(q + l1, 'b', 0x8000);
			memcpy(q + l1 + 0x8000, in2, l2);
			CHECK(mtasts_http_parse(q, l1 + 0x8000 + l2, 0, CAP,
			    &r) == MTASTS_HTTP_TOOBIG);
		}
		free(q);
	}
	mtasts_http_clear(&r);
}

static void
test_head_too_big(void)
{
	struct mtasts_http_resp r;
	size_t n = 0, cap = MTASTS_HTTP_HEAD_MAX + 4096;
	char *p = malloc(cap);

	memset(&r, 0, sizeof(r));
	CHECK(p != NULL);
	if (p == NULL)
		return;
	n = (size_t)snprintf(p, cap, "HTTP/1.1 200 OK\r\n");
	while (n + 40 < cap)
		n += (size_t)snprintf(p + n, cap - n, "X-Pad-%06zu: 0123456789"
		    "\r\n", n);
	/* incomplete head over the cap */
	CHECK(mtasts_http_parse(p, n, 0, CAP, &r) == MTASTS_HTTP_ERROR);
	CHECK(strstr(r.why, "head larger") != NULL);
	/* complete head over the cap */
	n += (size_t)snprintf(p + n, cap - n, "\r\n");
	CHECK(mtasts_http_parse(p, n, 0, CAP, &r) == MTASTS_HTTP_ERROR);
	/* just under the cap is fine */
	n = (size_t)snprintf(p, cap, H200 "Content-Length: 0\r\nX-Pad: ");
	memset(p + n, 'x', MTASTS_HTTP_HEAD_MAX - n - 4);
	n = MTASTS_HTTP_HEAD_MAX - 4;
	memcpy(p + n, "\r\n\r\n", 4);
	n += 4;
	CHECKF(mtasts_http_parse(p, n, 0, CAP, &r) == MTASTS_HTTP_DONE,
	    "head of exactly %d: %s", MTASTS_HTTP_HEAD_MAX, r.why);
	mtasts_http_clear(&r);
	free(p);
}

static void
test_media_types(void)
{
	static const struct {
		const char *v;
		int ok;
	} mt[] = {
		{ "text/plain", 1 },
		{ "TEXT/PLAIN", 1 },
		{ "Text/Plain", 1 },
		{ "text/plain; charset=utf-8", 1 },
		{ "text/plain ; charset=UTF-8", 1 },
		{ "text/plain;charset=us-ascii", 1 },
		{ "text/plain; charset=iso-8859-1", 1 },
		{ "  text/plain  ", 1 },
		{ "text/plain;", 1 },
		{ "text/html", 0 },
		{ "application/octet-stream", 0 },
		{ "text/plain+", 0 },
		{ "text/plainx", 0 },
		{ "text/plai", 0 },
		{ "text/ plain", 0 },
		{ "text", 0 },
		{ "", 0 },
		{ "   ", 0 },
		{ "text/plain, text/html", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(mt) / sizeof(mt[0]); i++)
		CHECKF(mtasts_http_media_type_ok(mt[i].v, strlen(mt[i].v)) ==
		    mt[i].ok, "media type \"%s\"", mt[i].v);
	CHECK(mtasts_http_media_type_ok(NULL, 0) == 0);
	CHECK(mtasts_http_media_type_ok("text/plain\0x", 12) == 0);
	/* an empty Content-Type header in a response */
	{
		static const char in[] = "HTTP/1.1 200 OK\r\nContent-Type:\r\n"
		    "Content-Length: 0\r\n\r\n";
		struct mtasts_http_resp r;

		memset(&r, 0, sizeof(r));
		CHECK(mtasts_http_parse(in, sizeof(in) - 1, 0, CAP, &r) ==
		    MTASTS_HTTP_DONE);
		CHECK(r.content_type_ok == 0);
		mtasts_http_clear(&r);
	}
	mtasts_http_clear(NULL);
}

int
main(void)
{
	test_table();
	test_location();
	test_nul_body();
	test_splits();
	test_chunk_bws();
	test_chunk1_linear();
	test_caps();
	test_toobig_early();
	test_head_too_big();
	test_media_types();
	return T_DONE();
}
