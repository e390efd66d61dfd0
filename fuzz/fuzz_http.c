/* SPDX-License-Identifier: ISC */
/*
 * fuzz_http - libFuzzer target for the HTTP/1.1 response parser. The
 * input is fed the way the fetch feeds it: growing prefixes at random
 * split points, then the whole with and without EOF. Checks that every
 * verdict but MORE is final (same verdict, status and body with more
 * bytes or at EOF), that EOF always decides, and the body invariants.
 *
 * The incremental parser (mtasts_http_feed, D-NET-5) is fed the same
 * prefixes, each in a fresh copy (the buffer moves, as after realloc),
 * and must agree with the one-shot parse of every prefix; then it is fed
 * one byte more per call and must reach the same final verdict and body.
 *
 * Input layout: byte 0 picks the body cap (65536 or 0..127, so that the
 * TOOBIG paths are reachable with small inputs), bytes 1..4 seed the
 * split points, the rest is the response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/http.h"

#define SPLITS_MAX 24

/* Parse a private copy of exactly len bytes so ASan sees over-reads. */
static int
parse(const uint8_t *data, size_t len, int eof, size_t cap,
    struct mtasts_http_resp *r, char **copy)
{
	free(*copy);
	if ((*copy = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	memcpy(*copy, data, len);
	return mtasts_http_parse(*copy, len, eof, cap, r);
}

/* Feed the incremental parser a private copy of exactly len bytes. */
static int
feed(struct mtasts_http_parser *ps, const uint8_t *data, size_t len,
    int eof, size_t cap, struct mtasts_http_resp *r, char **copy)
{
	free(*copy);
	if ((*copy = malloc(len == 0 ? 1 : len)) == NULL)
		abort();
	memcpy(*copy, data, len);
	return mtasts_http_feed(ps, *copy, len, eof, cap, r);
}

static void
same(int a, const struct mtasts_http_resp *ra, int b,
    const struct mtasts_http_resp *rb)
{
	if (a != b || ra->status != rb->status)
		abort();
	if (a == MTASTS_HTTP_DONE && (ra->body_len != rb->body_len ||
	    memcmp(ra->body, rb->body, ra->body_len) != 0))
		abort();
	if (a == MTASTS_HTTP_ERROR && rb->why[0] == '\0')
		abort();
}

/* One byte more per call, then EOF: the same verdicts as one-shot. */
static void
bytewise(const uint8_t *data, size_t len, size_t cap, int fst,
    const struct mtasts_http_resp *f, int est,
    const struct mtasts_http_resp *e)
{
	struct mtasts_http_parser ps;
	struct mtasts_http_resp r;
	size_t i;
	int st = MTASTS_HTTP_MORE;

	memset(&r, 0, sizeof(r));
	mtasts_http_parser_init(&ps);
	for (i = 0; i <= len; i++) {
		st = mtasts_http_feed(&ps, (const char *)data, i, 0, cap, &r);
		if (st != MTASTS_HTTP_MORE)
			break;
	}
	if (st != MTASTS_HTTP_MORE)
		same(fst, f, st, &r);	/* decided early: final */
	else {
		same(fst, f, st, &r);
		st = mtasts_http_feed(&ps, (const char *)data, len, 1, cap, &r);
		same(est, e, st, &r);
	}
	mtasts_http_parser_clear(&ps);
	mtasts_http_clear(&r);
}

static void
check_done(const struct mtasts_http_resp *r, const char *buf, size_t len,
    size_t cap)
{
	if (r->body_len > cap || r->status < 100 || r->status > 599)
		abort();
	if (r->owned_body != NULL) {
		if (r->body != r->owned_body || r->body[r->body_len] != '\0')
			abort();
	} else if (r->body < buf || r->body + r->body_len > buf + len)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_http_parser ps;
	struct mtasts_http_resp r, f, ir;
	char *copy = NULL, *fcopy = NULL, *icopy = NULL;
	uint32_t seed;
	size_t cap, len, at = 0, i;
	int st = MTASTS_HTTP_MORE, ist = MTASTS_HTTP_MORE, fst, est;
	int status = 0;

	if (size < 5)
		return 0;
	cap = (data[0] & 1) ? MTASTS_POLICY_BODY_MAX : (size_t)(data[0] >> 1);
	seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 |
	    (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24;
	data += 5;
	len = size - 5;
	(void)mtasts_http_media_type_ok((const char *)data, len);

	memset(&r, 0, sizeof(r));
	memset(&f, 0, sizeof(f));
	memset(&ir, 0, sizeof(ir));
	mtasts_http_parser_init(&ps);
	for (i = 0; i < SPLITS_MAX && at < len; i++) {
		seed = seed * 1103515245u + 12345u;
		at += 1 + (seed >> 8) % (len / 4 + 1);
		if (at > len)
			at = len;
		st = parse(data, at, 0, cap, &r, &copy);
		if (r.status != 0)
			status = r.status;
		/* Incremental over the same prefixes: the same answers. */
		ist = feed(&ps, data, at, 0, cap, &ir, &icopy);
		same(st, &r, ist, &ir);
		if (st != MTASTS_HTTP_MORE)
			break;
	}
	/* The whole input, still open. */
	fst = parse(data, len, 0, cap, &f, &fcopy);
	if (status != 0 && f.status != status)
		abort();
	if (st != MTASTS_HTTP_MORE) {
		if (fst != st)
			abort();
		if (st == MTASTS_HTTP_DONE && (f.body_len != r.body_len ||
		    memcmp(f.body, r.body, r.body_len) != 0))
			abort();
	}
	if (fst == MTASTS_HTTP_DONE)
		check_done(&f, fcopy, len, cap);
	if (fst == MTASTS_HTTP_ERROR && f.why[0] == '\0')
		abort();
	/* At EOF the verdict is decided, and a final one does not change. */
	est = parse(data, len, 1, cap, &r, &copy);
	if (est == MTASTS_HTTP_MORE)
		abort();
	if (fst != MTASTS_HTTP_MORE && est != fst)
		abort();
	if (est == MTASTS_HTTP_DONE)
		check_done(&r, copy, len, cap);
	/* The incremental parser, still open after its prefixes. */
	if (ist == MTASTS_HTTP_MORE) {
		ist = feed(&ps, data, len, 0, cap, &ir, &icopy);
		same(fst, &f, ist, &ir);
		if (ist == MTASTS_HTTP_MORE) {
			ist = feed(&ps, data, len, 1, cap, &ir, &icopy);
			same(est, &r, ist, &ir);
		}
		if (ist == MTASTS_HTTP_DONE)
			check_done(&ir, icopy, len, cap);
	}
	if (len <= 4096)
		bytewise(data, len, cap, fst, &f, est, &r);
	mtasts_http_parser_clear(&ps);
	mtasts_http_clear(&ir);
	mtasts_http_clear(&r);
	mtasts_http_clear(&f);
	free(copy);
	free(fcopy);
	free(icopy);
	return 0;
}
