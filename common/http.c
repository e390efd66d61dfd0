/* SPDX-License-Identifier: ISC */
/*
 * http.c - HTTP/1.1 response parser for the MTA-STS policy fetch
 * (RFC 8461 §3.3 over RFC 9112 message syntax).
 *
 * The parser is incremental (D-NET-5): the caller keeps a struct
 * mtasts_http_parser and feeds it the growing buffer after every read;
 * the parser remembers where it is (the line being read, the chunk being
 * copied) and looks at each byte O(1) times, so a peer that sends its
 * response one byte per TLS record costs linear, not quadratic, CPU. It
 * says whether the response is complete, needs more bytes, is malformed
 * or is over the body cap; every verdict other than MORE stays the same
 * when more bytes arrive, and feeding in pieces gives what feeding the
 * whole at once gives (the fuzzer checks both).
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

enum phase {
	PH_STATUS = 0,		/* a status line */
	PH_HEADER,		/* header lines up to the empty one */
	PH_LENGTH,		/* a Content-Length body */
	PH_CLOSE,		/* a close-delimited body */
	PH_CSIZE,		/* chunk-size hex digits */
	PH_CBWS,		/* blanks after the chunk size */
	PH_CEXT,		/* a chunk extension */
	PH_CEOL,		/* the CRLF (or LF) ending the size line */
	PH_CLF,			/* its LF after the CR */
	PH_CDATA,		/* chunk data */
	PH_CDEOL,		/* the CRLF (or LF) after chunk data */
	PH_CDLF,		/* its LF after the CR */
	PH_TRAILER,		/* trailer lines up to the empty one */
	PH_DONE
};

#define HEAD_TOOBIG "response head larger than 16384 bytes"

static int
fail(struct mtasts_http_resp *resp, const char *why)
{
	mtasts_strlcpy(resp->why, why, sizeof(resp->why));
	return MTASTS_HTTP_ERROR;
}

/*
 * Go on reading the line that starts at ps->line, from ps->pos. Returns 1
 * with *llen the line's length without its terminator and ps->pos after
 * it, 0 when the line is not complete yet (ps->pos is where to go on:
 * every byte before it has been checked), -1 on a NUL or a bare CR (RFC
 * 9112 §2.2: a bare CR must not be taken as a line end; we reject it).
 */
static int
line_more(struct mtasts_http_parser *ps, const char *buf, size_t len,
    size_t *llen)
{
	size_t i;

	for (i = ps->pos; i < len; i++) {
		if (buf[i] == '\0')
			return -1;
		if (buf[i] == '\n') {
			*llen = i - ps->line;
			ps->pos = i + 1;
			return 1;
		}
		if (buf[i] == '\r') {
			if (i + 1 == len) {
				ps->pos = i;	/* look at the CR again */
				return 0;
			}
			if (buf[i + 1] != '\n')
				return -1;
			*llen = i - ps->line;
			ps->pos = i + 2;
			return 1;
		}
	}
	ps->pos = len;
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
header(const char *l, size_t n, struct mtasts_http_parser *h,
    struct mtasts_http_resp *resp)
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

/* A new response head (the first, or the one after an interim 1xx). */
static void
head_reset(struct mtasts_http_parser *ps, struct mtasts_http_resp *resp)
{
	ps->phase = PH_STATUS;
	ps->status = 0;
	ps->clen = 0;
	ps->seen_cl = ps->seen_te = ps->seen_ct = ps->seen_loc = 0;
	resp->content_type_ok = 0;
	resp->content_type[0] = '\0';
	resp->has_location = 0;
}

/* The head has ended (the empty line); decide the framing. */
static int
head_end(struct mtasts_http_parser *ps, size_t cap,
    struct mtasts_http_resp *resp)
{
	if (ps->status == 101)
		return fail(resp, "unexpected 101 Switching Protocols");
	/* RFC 9110 §15.2: interim responses precede the final one. */
	if (ps->status < 200) {
		head_reset(ps, resp);
		ps->line = ps->pos;
		return MTASTS_HTTP_MORE;
	}
	if (ps->seen_te && ps->seen_cl)
		return fail(resp, "both Content-Length and chunked");
	if (ps->status == 204 || ps->status == 304)
		ps->framing = FR_NONE;
	else if (ps->seen_te)
		ps->framing = FR_CHUNKED;
	else if (ps->seen_cl)
		ps->framing = FR_LENGTH;
	else
		ps->framing = FR_CLOSE;
	resp->status = ps->status;
	ps->body_at = ps->pos;
	switch (ps->framing) {
	case FR_NONE:
		ps->phase = PH_DONE;
		resp->body_len = 0;
		return MTASTS_HTTP_DONE;
	case FR_LENGTH:
		/* Over the cap: refuse before reading a byte of it. */
		if (ps->clen > cap)
			return MTASTS_HTTP_TOOBIG;
		ps->phase = PH_LENGTH;
		break;
	case FR_CLOSE:
		ps->phase = PH_CLOSE;
		break;
	default:
		ps->phase = PH_CSIZE;
		ps->chunk = 0;
		ps->digits = ps->ext = 0;
		break;
	}
	return MTASTS_HTTP_MORE;
}

/* One complete line of the head: [l, l + n). */
static int
head_line(struct mtasts_http_parser *ps, const char *l, size_t n, size_t cap,
    struct mtasts_http_resp *resp)
{
	if (ps->phase == PH_STATUS) {
		if (parse_status(l, n, &ps->status) != 0)
			return fail(resp, "invalid HTTP status line");
		ps->phase = PH_HEADER;
		return MTASTS_HTTP_MORE;
	}
	if (ps->pos > MTASTS_HTTP_HEAD_MAX)
		return fail(resp, HEAD_TOOBIG);
	if (n == 0)
		return head_end(ps, cap, resp);
	return header(l, n, ps, resp);
}

/* Append n bytes of chunk data to the dechunked body. */
static int
chunk_data(struct mtasts_http_parser *ps, const char *p, size_t n,
    struct mtasts_http_resp *resp)
{
	size_t need = ps->sum + n + 1, ns;
	char *nb;

	if (need > ps->dsize) {
		ns = ps->dsize != 0 ? ps->dsize : 256;
		while (ns < need)
			ns = ns > SIZE_MAX / 2 ? need : ns * 2;
		if ((nb = realloc(ps->dbuf, ns)) == NULL)
			return fail(resp, "out of memory");
		ps->dbuf = nb;
		ps->dsize = ns;
	}
	memcpy(ps->dbuf + ps->sum, p, n);
	ps->sum += n;
	return MTASTS_HTTP_MORE;
}

/* The chunked body has ended: hand the dechunked copy to resp. */
static int
chunked_done(struct mtasts_http_parser *ps, struct mtasts_http_resp *resp)
{
	if (ps->dbuf == NULL) {
		if ((ps->dbuf = malloc(1)) == NULL)
			return fail(resp, "out of memory");
		ps->dsize = 1;
	}
	ps->dbuf[ps->sum] = '\0';
	free(resp->owned_body);
	resp->owned_body = ps->dbuf;
	resp->body_len = ps->sum;
	ps->dbuf = NULL;
	ps->dsize = 0;
	ps->phase = PH_DONE;
	return MTASTS_HTTP_DONE;
}

static int
ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * Go on from ps->pos over buf[0..len). Every path that returns MORE has
 * looked at every byte before ps->pos and will not look at it again
 * (except a CR at the very end, once).
 */
static int
run(struct mtasts_http_parser *ps, const char *buf, size_t len, int eof,
    size_t cap, struct mtasts_http_resp *resp)
{
	size_t llen, avail, k;
	unsigned char c;
	int r, h;

	for (;;) {
		switch (ps->phase) {
		case PH_STATUS:
		case PH_HEADER:
			if ((r = line_more(ps, buf, len, &llen)) < 0)
				return fail(resp, ps->phase == PH_STATUS ?
				    "NUL or bare CR in status line" :
				    "NUL or bare CR in response head");
			if (r == 0) {
				/* Any partial line counts: the cap is on
				 * bytes received. */
				if (len > MTASTS_HTTP_HEAD_MAX)
					return fail(resp, HEAD_TOOBIG);
				if (eof)
					return fail(resp, len == 0 ?
					    "connection closed without "
					    "response" : "connection closed "
					    "in response head");
				return MTASTS_HTTP_MORE;
			}
			r = head_line(ps, buf + ps->line, llen, cap, resp);
			if (r != MTASTS_HTTP_MORE)
				return r;
			ps->line = ps->pos;
			continue;
		case PH_LENGTH:
			avail = len - ps->body_at;
			if (avail >= ps->clen) {
				resp->body_len = (size_t)ps->clen;
				ps->phase = PH_DONE;
				return MTASTS_HTTP_DONE;
			}
			if (eof) {
				snprintf(resp->why, sizeof(resp->why),
				    "short body: got %zu of %llu bytes", avail,
				    (unsigned long long)ps->clen);
				return MTASTS_HTTP_ERROR;
			}
			return MTASTS_HTTP_MORE;
		case PH_CLOSE:
			avail = len - ps->body_at;
			if (avail > cap)
				return MTASTS_HTTP_TOOBIG;
			if (!eof)
				return MTASTS_HTTP_MORE;
			resp->body_len = avail;
			ps->phase = PH_DONE;
			return MTASTS_HTTP_DONE;
		case PH_DONE:
			return MTASTS_HTTP_DONE;
		case PH_TRAILER:
			/* RFC 9112 §7.1.2: skipped, bounded, no NUL. */
			if ((r = line_more(ps, buf, len, &llen)) < 0)
				return fail(resp, "invalid chunked trailer");
			if (r == 0) {
				if (len - ps->mark > MTASTS_HTTP_HEAD_MAX)
					return fail(resp,
					    "chunked trailer too big");
				goto more;
			}
			if (llen == 0)
				return chunked_done(ps, resp);
			if (ps->pos - ps->mark > MTASTS_HTTP_HEAD_MAX)
				return fail(resp, "chunked trailer too big");
			ps->line = ps->pos;
			continue;
		default:
			break;
		}
		/* The chunked body, byte by byte (data in runs). */
		if (ps->pos == len)
			goto more;
		c = (unsigned char)buf[ps->pos];
		switch (ps->phase) {
		case PH_CSIZE:
			if ((h = mtasts_hexval(c)) >= 0) {
				if (++ps->digits > HTTP_CHUNK_DIGITS_MAX)
					return fail(resp,
					    "chunk size too long");
				/* Overflow-safe: stop once past the cap. */
				if (ps->chunk > (SIZE_MAX - 15) / 16)
					return MTASTS_HTTP_TOOBIG;
				ps->chunk = ps->chunk * 16 + (size_t)h;
				if (ps->chunk > cap - ps->sum)
					return MTASTS_HTTP_TOOBIG;
				ps->pos++;
				break;
			}
			if (ps->digits == 0)
				return fail(resp, "invalid chunk size");
			ps->phase = PH_CBWS;
			break;
		case PH_CBWS:
			/*
			 * chunk-ext = *( BWS ";" ... ): tolerated, not
			 * interpreted; the blanks count towards its cap.
			 */
			if (c == ' ' || c == '\t') {
				if (++ps->ext > HTTP_CHUNK_EXT_MAX)
					return fail(resp,
					    "chunk extension too long");
				ps->pos++;
			} else
				ps->phase = c == ';' ? PH_CEXT : PH_CEOL;
			break;
		case PH_CEXT:
			if (c == '\r' || c == '\n') {
				ps->phase = PH_CEOL;
				break;
			}
			if (ctl(c))
				return fail(resp,
				    "control character in chunk extension");
			if (++ps->ext > HTTP_CHUNK_EXT_MAX)
				return fail(resp, "chunk extension too long");
			ps->pos++;
			break;
		case PH_CEOL:
		case PH_CLF:
			ps->pos++;
			if (ps->phase == PH_CEOL && c == '\r') {
				ps->phase = PH_CLF;
				break;
			}
			if (c != '\n')
				return fail(resp, "invalid chunk size");
			if (ps->chunk == 0) {
				ps->phase = PH_TRAILER;
				ps->line = ps->mark = ps->pos;
			} else
				ps->phase = PH_CDATA;
			break;
		case PH_CDATA:
			k = len - ps->pos;
			if (k > ps->chunk)
				k = ps->chunk;
			if (chunk_data(ps, buf + ps->pos, k, resp) !=
			    MTASTS_HTTP_MORE)
				return MTASTS_HTTP_ERROR;
			ps->pos += k;
			if ((ps->chunk -= k) == 0)
				ps->phase = PH_CDEOL;
			break;
		case PH_CDEOL:
		case PH_CDLF:
			ps->pos++;
			if (ps->phase == PH_CDEOL && c == '\r') {
				ps->phase = PH_CDLF;
				break;
			}
			if (c != '\n')
				return fail(resp,
				    "missing CRLF after chunk data");
			ps->phase = PH_CSIZE;
			ps->chunk = 0;
			ps->digits = ps->ext = 0;
			break;
		default:
			return fail(resp, "internal parser error");
		}
	}
more:
	if (eof)
		return fail(resp, "short body: connection closed in chunked "
		    "body");
	return MTASTS_HTTP_MORE;
}

void
mtasts_http_parser_init(struct mtasts_http_parser *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->verdict = MTASTS_HTTP_MORE;
	ps->phase = PH_STATUS;
}

void
mtasts_http_parser_clear(struct mtasts_http_parser *ps)
{
	if (ps == NULL)
		return;
	free(ps->dbuf);
	mtasts_http_parser_init(ps);
}

int
mtasts_http_feed(struct mtasts_http_parser *ps, const char *buf, size_t len,
    int eof, size_t body_cap, struct mtasts_http_resp *resp)
{
	if (ps->verdict == MTASTS_HTTP_MORE) {
		/* The bytes already parsed must still be there. */
		if (len < ps->pos || (ps->phase > PH_HEADER &&
		    len < ps->body_at))
			ps->verdict = fail(resp, "internal parser error");
		else {
			if (ps->pos == 0 && ps->phase == PH_STATUS)
				head_reset(ps, resp);
			ps->verdict = run(ps, buf, len, eof, body_cap, resp);
		}
	}
	if (ps->verdict == MTASTS_HTTP_DONE)
		resp->body = resp->owned_body != NULL ? resp->owned_body :
		    buf + ps->body_at;
	return ps->verdict;
}

int
mtasts_http_parse(const char *buf, size_t len, int eof, size_t body_cap,
    struct mtasts_http_resp *resp)
{
	struct mtasts_http_parser ps;
	int r;

	mtasts_http_clear(resp);
	mtasts_http_parser_init(&ps);
	r = mtasts_http_feed(&ps, buf, len, eof, body_cap, resp);
	mtasts_http_parser_clear(&ps);
	return r;
}

void
mtasts_http_clear(struct mtasts_http_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->owned_body);
	memset(resp, 0, sizeof(*resp));
}
