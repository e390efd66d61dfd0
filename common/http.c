/*
 * http.c - HTTP/1.1 response parser for the MTA-STS policy fetch
 * (RFC 8461 §3.3 over RFC 9112 message syntax).
 *
 * The parser is pure: it looks at the bytes received so far, (buf, len),
 * and says whether the response is complete, needs more bytes, is
 * malformed or is over the body cap. The fetch calls it again with the
 * growing buffer after every read, so every verdict other than MORE must
 * stay the same when more bytes arrive (the fuzzer checks this).
 *
 * It is strict where leniency could let a server or an attacker confuse
 * the framing of the policy body: no obs-fold, no bare CR, no NUL in the
 * head, no duplicate framing or Content-Type headers, no Content-Length
 * together with chunked, only the "chunked" transfer-coding. Interim 1xx
 * responses are skipped (RFC 9110 §15.2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

/* Hex digits in one chunk size; 16 is a 64-bit size with no leading 0s. */
#define HTTP_CHUNK_DIGITS_MAX 16
/* Bytes of chunk extensions on one chunk-size line. */
#define HTTP_CHUNK_EXT_MAX 1024

enum framing {
	FR_NONE = 0,		/* no body (204, 304) */
	FR_LENGTH,		/* Content-Length */
	FR_CHUNKED,		/* Transfer-Encoding: chunked */
	FR_CLOSE		/* delimited by the connection close */
};

struct head {
	enum framing framing;
	uint64_t clen;
	int seen_cl, seen_te, seen_ct, seen_loc;
};

static int
fail(struct mtasts_http_resp *resp, const char *why)
{
	mtasts_strlcpy(resp->why, why, sizeof(resp->why));
	return MTASTS_HTTP_ERROR;
}

/*
 * Find the line starting at pos. Returns 1 with [*start, *start + *llen)
 * the line without its terminator and *next after it, 0 when the line is
 * not complete yet, -1 on a NUL or a bare CR (RFC 9112 §2.2: a bare CR
 * must not be taken as a line end; we reject it).
 */
static int
next_line(const char *buf, size_t len, size_t pos, size_t *llen,
    size_t *next)
{
	size_t i;

	for (i = pos; i < len; i++) {
		if (buf[i] == '\0')
			return -1;
		if (buf[i] == '\n') {
			*llen = i - pos;
			*next = i + 1;
			return 1;
		}
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return 0;
			if (buf[i + 1] != '\n')
				return -1;
			*llen = i - pos;
			*next = i + 2;
			return 1;
		}
	}
	return 0;
}

static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
trim_ows(const char **v, size_t *len)
{
	while (*len > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
		(*len)--;
}

int
mtasts_http_media_type_ok(const char *v, size_t len)
{
	static const char tp[] = "text/plain";
	const size_t tplen = sizeof(tp) - 1;
	size_t i;

	if (v == NULL)
		return 0;
	trim_ows(&v, &len);
	if (len < tplen || !mtasts_ascii_caseeq(v, tplen, tp, tplen))
		return 0;
	/*
	 * RFC 8461 §3.2: parameters are ignored, but the type must end here:
	 * "text/plain+" or "text/plainx" is another media type.
	 */
	for (i = tplen; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
		continue;
	return i == len || v[i] == ';';
}

/* "HTTP/1.x SP 3DIGIT [SP reason-phrase]" */
static int
parse_status(const char *l, size_t n, int *status)
{
	size_t i;

	if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ')
		return -1;
	if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' ||
	    l[11] < '0' || l[11] > '9')
		return -1;
	if (n > 12 && l[12] != ' ')
		return -1;
	for (i = 13; i < n; i++) {
		unsigned char c = (unsigned char)l[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -1;
	}
	*status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	return 0;
}

/* Content-Length: 1#DIGIT, all list members equal (RFC 9112 §6.3). */
static int
parse_clen(const char *v, size_t n, uint64_t *out)
{
	uint64_t first = 0, x;
	size_t i = 0, s;
	int have = 0;

	for (;;) {
		const char *e;
		size_t elen;

		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = v + s;
		elen = i - s;
		trim_ows(&e, &elen);
		if (mtasts_parse_u64(e, elen, UINT64_MAX / 2, &x) != 0)
			return -1;
		if (have && x != first)
			return -1;
		first = x;
		have = 1;
		if (i == n)
			break;
		i++;
	}
	*out = first;
	return 0;
}

static int
header(const char *l, size_t n, struct head *h, struct mtasts_http_resp *resp)
{
	const char *v;
	size_t i, vlen;

	/* RFC 9112 §5.2: obs-fold is obsolete; we refuse it. */
	if (n > 0 && (l[0] == ' ' || l[0] == '\t'))
		return fail(resp, "obsolete line folding in header");
	if (memchr(l, ':', n) == NULL)
		return fail(resp, "header line without colon");
	for (i = 0; l[i] != ':'; i++)
		if (!is_tchar((unsigned char)l[i]))
			break;
	if (l[i] != ':' || i == 0)
		return fail(resp, "invalid header name");
	v = l + i + 1;
	vlen = n - i - 1;
	trim_ows(&v, &vlen);
	for (size_t j = 0; j < vlen; j++) {
		unsigned char c = (unsigned char)v[j];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(resp, "control character in header value");
	}
	if (mtasts_ascii_caseeq(l, i, "content-length", 14)) {
		uint64_t x;

		if (parse_clen(v, vlen, &x) != 0)
			return fail(resp, "invalid Content-Length");
		if (h->seen_cl && x != h->clen)
			return fail(resp, "conflicting Content-Length headers");
		h->seen_cl = 1;
		h->clen = x;
	} else if (mtasts_ascii_caseeq(l, i, "transfer-encoding", 17)) {
		if (h->seen_te)
			return fail(resp, "duplicate Transfer-Encoding");
		h->seen_te = 1;
		if (!mtasts_ascii_caseeq(v, vlen, "chunked", 7))
			return fail(resp, "unsupported Transfer-Encoding");
	} else if (mtasts_ascii_caseeq(l, i, "content-type", 12)) {
		if (h->seen_ct)
			return fail(resp, "duplicate Content-Type");
		h->seen_ct = 1;
		resp->content_type_ok = mtasts_http_media_type_ok(v, vlen);
		if (vlen >= sizeof(resp->content_type))
			vlen = sizeof(resp->content_type) - 1;
		memcpy(resp->content_type, v, vlen);
		resp->content_type[vlen] = '\0';
	} else if (mtasts_ascii_caseeq(l, i, "location", 8)) {
		if (h->seen_loc)
			return fail(resp, "duplicate Location");
		h->seen_loc = 1;
		resp->has_location = 1;
	}
	return MTASTS_HTTP_MORE;
}

/*
 * Walk a chunked body p[0..len). With dst NULL only validate and count;
 * with dst copy the data (the caller has already seen DONE and *total).
 */
static int
chunks(const char *p, size_t len, int eof, size_t cap, char *dst,
    size_t *total, struct mtasts_http_resp *resp)
{
	size_t pos = 0, sum = 0, llen, next, tstart;
	int r;

	for (;;) {
		size_t v = 0, digits = 0, ext = 0;
		int h;

		while (pos < len && (h = hexval((unsigned char)p[pos])) >= 0) {
			if (++digits > HTTP_CHUNK_DIGITS_MAX)
				return fail(resp, "chunk size too long");
			/* Overflow-safe: stop as soon as the cap is passed. */
			if (v > (SIZE_MAX - 15) / 16)
				return MTASTS_HTTP_TOOBIG;
			v = v * 16 + (size_t)h;
			if (v > cap - sum)
				return MTASTS_HTTP_TOOBIG;
			pos++;
		}
		if (pos == len)
			goto more;
		if (digits == 0)
			return fail(resp, "invalid chunk size");
		/* chunk-ext = *( BWS ";" ... ): tolerated, not interpreted */
		while (pos < len && (p[pos] == ' ' || p[pos] == '\t'))
			pos++;
		if (pos < len && p[pos] == ';') {
			while (pos < len && p[pos] != '\r' && p[pos] != '\n') {
				unsigned char c = (unsigned char)p[pos];

				if ((c < 0x20 && c != '\t') || c == 0x7f)
					return fail(resp,
					    "control character in chunk "
					    "extension");
				if (++ext > HTTP_CHUNK_EXT_MAX)
					return fail(resp,
					    "chunk extension too long");
				pos++;
			}
		}
		if (pos == len)
			goto more;
		if ((r = next_line(p, len, pos, &llen, &next)) < 0 ||
		    (r == 1 && llen != 0))
			return fail(resp, "invalid chunk size");
		if (r == 0)
			goto more;
		pos = next;
		if (v == 0)
			break;
		if (len - pos < v)
			goto more;
		if (dst != NULL)
			memcpy(dst + sum, p + pos, v);
		pos += v;
		sum += v;
		if ((r = next_line(p, len, pos, &llen, &next)) < 0 ||
		    (r == 1 && llen != 0))
			return fail(resp, "missing CRLF after chunk data");
		if (r == 0)
			goto more;
		pos = next;
	}
	/* Trailer section (RFC 9112 §7.1.2): skipped, bounded, no NUL. */
	tstart = pos;
	for (;;) {
		if ((r = next_line(p, len, pos, &llen, &next)) < 0)
			return fail(resp, "invalid chunked trailer");
		if (r == 0) {
			if (len - tstart > MTASTS_HTTP_HEAD_MAX)
				return fail(resp, "chunked trailer too big");
			goto more;
		}
		pos = next;
		if (llen == 0)
			break;
		if (pos - tstart > MTASTS_HTTP_HEAD_MAX)
			return fail(resp, "chunked trailer too big");
	}
	*total = sum;
	return MTASTS_HTTP_DONE;
more:
	if (eof)
		return fail(resp, "short body: connection closed in chunked "
		    "body");
	return MTASTS_HTTP_MORE;
}

/* Parse the head(s); *body_at gets the offset of the body. */
static int
parse_head(const char *buf, size_t len, int eof, struct head *h,
    size_t *body_at, struct mtasts_http_resp *resp)
{
	size_t pos = 0, llen, next;
	int r, status;

	for (;;) {
		memset(h, 0, sizeof(*h));
		resp->content_type_ok = 0;
		resp->content_type[0] = '\0';
		resp->has_location = 0;
		if ((r = next_line(buf, len, pos, &llen, &next)) < 0)
			return fail(resp, "NUL or bare CR in status line");
		if (r == 0)
			goto more;
		if (parse_status(buf + pos, llen, &status) != 0)
			return fail(resp, "invalid HTTP status line");
		pos = next;
		for (;;) {
			if ((r = next_line(buf, len, pos, &llen, &next)) < 0)
				return fail(resp,
				    "NUL or bare CR in response head");
			if (r == 0)
				goto more;
			if (next > MTASTS_HTTP_HEAD_MAX)
				goto toobig;
			if (llen == 0)
				break;
			if (header(buf + pos, llen, h, resp) !=
			    MTASTS_HTTP_MORE)
				return MTASTS_HTTP_ERROR;
			pos = next;
		}
		pos = next;
		if (status == 101)
			return fail(resp, "unexpected 101 Switching Protocols");
		/* RFC 9110 §15.2: interim responses precede the final one. */
		if (status >= 200)
			break;
	}
	if (h->seen_te && h->seen_cl)
		return fail(resp, "both Content-Length and chunked");
	if (status == 204 || status == 304)
		h->framing = FR_NONE;
	else if (h->seen_te)
		h->framing = FR_CHUNKED;
	else if (h->seen_cl)
		h->framing = FR_LENGTH;
	else
		h->framing = FR_CLOSE;
	resp->status = status;
	*body_at = pos;
	return MTASTS_HTTP_DONE;
more:
	/* Any partial line counts too: the cap is on bytes received. */
	if (len > MTASTS_HTTP_HEAD_MAX)
		goto toobig;
	if (eof)
		return fail(resp, len == 0 ? "connection closed without "
		    "response" : "connection closed in response head");
	return MTASTS_HTTP_MORE;
toobig:
	return fail(resp, "response head larger than 16384 bytes");
}

int
mtasts_http_parse(const char *buf, size_t len, int eof, size_t body_cap,
    struct mtasts_http_resp *resp)
{
	struct head h;
	size_t at = 0, avail, total = 0;
	int r;

	mtasts_http_clear(resp);
	if ((r = parse_head(buf, len, eof, &h, &at, resp)) != MTASTS_HTTP_DONE)
		return r;
	avail = len - at;
	switch (h.framing) {
	case FR_NONE:
		resp->body = buf + at;
		return MTASTS_HTTP_DONE;
	case FR_LENGTH:
		/* Over the cap: refuse before reading a byte of it. */
		if (h.clen > body_cap)
			return MTASTS_HTTP_TOOBIG;
		if (avail >= h.clen) {
			resp->body = buf + at;
			resp->body_len = (size_t)h.clen;
			return MTASTS_HTTP_DONE;
		}
		if (eof) {
			snprintf(resp->why, sizeof(resp->why),
			    "short body: got %zu of %llu bytes", avail,
			    (unsigned long long)h.clen);
			return MTASTS_HTTP_ERROR;
		}
		return MTASTS_HTTP_MORE;
	case FR_CLOSE:
		if (avail > body_cap)
			return MTASTS_HTTP_TOOBIG;
		if (!eof)
			return MTASTS_HTTP_MORE;
		resp->body = buf + at;
		resp->body_len = avail;
		return MTASTS_HTTP_DONE;
	case FR_CHUNKED:
		break;
	}
	r = chunks(buf + at, avail, eof, body_cap, NULL, &total, resp);
	if (r != MTASTS_HTTP_DONE)
		return r;
	if ((resp->owned_body = malloc(total + 1)) == NULL)
		return fail(resp, "out of memory");
	(void)chunks(buf + at, avail, eof, body_cap, resp->owned_body, &total,
	    resp);
	resp->owned_body[total] = '\0';
	resp->body = resp->owned_body;
	resp->body_len = total;
	return MTASTS_HTTP_DONE;
}

void
mtasts_http_clear(struct mtasts_http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->owned_body);
	memset(resp, 0, sizeof(*resp));
}
