/* SPDX-License-Identifier: ISC */
/*
 * internal/http.h - http.c: HTTP/1.1 response parsing.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_HTTP_H
#define MTASTS_INTERNAL_HTTP_H

#include "internal/base.h"

enum mtasts_http_state {
	MTASTS_HTTP_MORE = 0,		/* need more bytes */
	MTASTS_HTTP_DONE = 1,		/* complete response */
	MTASTS_HTTP_ERROR = 2,		/* malformed */
	MTASTS_HTTP_TOOBIG = 3		/* body over the cap */
};

struct mtasts_http_resp {
	int status;
	int content_type_ok;	/* media type is text/plain */
	char content_type[128];
	int has_location;
	const char *body;	/* points into the parsed or dechunked buffer */
	size_t body_len;
	char *owned_body;	/* dechunked copy, freed by mtasts_http_clear */
	char why[MTASTS_REASON_MAX];
};

/*
 * The incremental parser (D-NET-5): it keeps its place between calls, so
 * each byte received is looked at O(1) times however the peer splits its
 * response. Opaque to callers; http.c owns the fields.
 */
struct mtasts_http_parser {
	int verdict;		/* mtasts_http_state, final if not MORE */
	int phase;		/* http.c's enum phase */
	size_t pos;		/* next byte to look at */
	size_t line;		/* start of the line being read */
	size_t mark;		/* start of the chunked trailer */
	size_t body_at;		/* offset of the body */
	uint64_t clen;
	int status, framing, seen_cl, seen_te, seen_ct, seen_loc;
	size_t chunk;		/* size being read, then bytes left */
	unsigned digits, ext;	/* of the chunk-size line being read */
	size_t sum;		/* dechunked bytes so far */
	char *dbuf;		/* the dechunked body */
	size_t dsize;
};

void mtasts_http_parser_init(struct mtasts_http_parser *ps);
/* Free what the parser holds; it can be cleared again. */
void mtasts_http_parser_clear(struct mtasts_http_parser *ps);
/*
 * Parse the bytes received so far, buf[0..len). eof says the peer closed.
 * Returns an enum mtasts_http_state; on DONE, resp is filled. body_cap is
 * the body limit (bytes beyond it give TOOBIG as soon as they are seen).
 * Each call must pass the same body_cap and the same bytes as the one
 * before plus any new ones (buf itself may move: only offsets are kept).
 * resp must be zeroed before the first call and is kept up to date; on
 * DONE a dechunked body moves to resp->owned_body. Once the final head is
 * parsed, status, content_type(_ok) and has_location are set whatever the
 * return (so a caller can stop early); status is 0 before. why is set on
 * ERROR. Only the verdict MORE can change when more bytes arrive; any
 * other is returned again by later calls.
 */
int mtasts_http_feed(struct mtasts_http_parser *ps, const char *buf,
    size_t len, int eof, size_t body_cap, struct mtasts_http_resp *resp);
/*
 * One-shot form of the above on a fresh parser: resp is cleared first.
 * O(len) per call, so a reader must not call it again after every read
 * (that was quadratic, issue 12 item 4): keep a parser and feed it.
 */
int mtasts_http_parse(const char *buf, size_t len, int eof, size_t body_cap,
    struct mtasts_http_resp *resp);
void mtasts_http_clear(struct mtasts_http_resp *resp);
/* 1 if a Content-Type value is text/plain (parameters allowed). */
int mtasts_http_media_type_ok(const char *v, size_t len);

#endif /* MTASTS_INTERNAL_HTTP_H */
