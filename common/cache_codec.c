/* SPDX-License-Identifier: ISC */
/*
 * cache_codec.c - the cache entry file format: the names an entry may have
 * (domain, file name), the checks of an entry's fields, and the decoder
 * (mtasts_cache_decode): the fast one of what mtasts_cache_encode()
 * writes, here, and the jansson codec (cache_json.c) for anything else and
 * for encoding. No I/O. The Exim module's light half has no jansson: it
 * reaches cache_json.c through the network half (D-LAZYNET-4).
 *
 * Everything decoded is hostile input (RFC 8461 §10; see cache_store.c):
 * any file that is not exactly what mtasts_cache_encode() would have
 * written is rejected with a reason.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtasts_internal.h"

/*
 * A normalised policy domain as a file name component: lower-case LDH,
 * so no '/', no leading '.', no "..". Checked here as well as by
 * mtasts_hostname_valid() because the name becomes a path.
 */
int
mtasts_cache_domain_ok(const char *d, size_t *lenp)
{
	const char *end;
	size_t len, i;

	*lenp = 0;
	if (d == NULL)
		return 0;
	if ((end = memchr(d, '\0', MTASTS_DOMAIN_MAX + 1)) == NULL)
		return 0;
	len = (size_t)(end - d);
	if (len == 0 || d[0] == '.' || d[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.' && d[i + 1] == '.')
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-' || c == '.'))
			return 0;
	}
	if (!mtasts_hostname_valid(d, len))
		return 0;
	*lenp = len;
	return 1;
}

/* "<domain>.json"; 0 when it is longer than one directory entry. */
int
mtasts_cache_filename(const char *domain, char name[NAME_MAX + 1])
{
	int n;

	n = snprintf(name, NAME_MAX + 1, "%s.json", domain);
	return n > 0 && n <= NAME_MAX;
}

/* RFC 8461 §3.1: id is 1*32(ALPHA / DIGIT). */
static int
cache_id_ok(const char *s, size_t size, int empty_ok)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9')))
			return 0;
	}
	if (i == size || i > MTASTS_ID_MAX)
		return 0;
	return i > 0 || empty_ok;
}

/* RFC 8460 result type names: [a-z0-9-], possibly empty. */
static int
cache_type_ok(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '-'))
			return 0;
	}
	return i < size;
}

/*
 * Reasons end up in logs and SMTP replies: printable ASCII only, so a
 * tampered file cannot inject lines (house style rule 8), and exactly the
 * bytes mtasts_sanitize() lets through, so that what load accepts is what
 * store writes (D-CACHEFILE-1).
 */
int
mtasts_cache_text_ok(const char *s, size_t size)
{
	size_t i;

	for (i = 0; i < size && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f)
			return 0;
	}
	return i < size;
}

static int
cache_time_ok(time_t t)
{
	return t >= 0 && (long long)t <= MTASTS_CACHE_TIME_MAX;
}

/*
 * The invariants of an entry, checked before a store and after a load so
 * that store never writes what load would refuse.
 */
int
mtasts_cache_entry_check(const struct mtasts_cache_entry *e, char *why,
    size_t wl)
{
	size_t dlen;

	if (!mtasts_cache_domain_ok(e->domain, &dlen)) {
		snprintf(why, wl, "bad domain");
		return -1;
	}
	if (!cache_time_ok(e->fetched_at) || !cache_time_ok(e->expires_at) ||
	    !cache_time_ok(e->txt_checked_at) || !cache_time_ok(e->fail_at)) {
		snprintf(why, wl, "time out of range");
		return -1;
	}
	if (e->policy != NULL) {
		if (!cache_id_ok(e->id, sizeof(e->id), 0)) {
			snprintf(why, wl, "bad id");
			return -1;
		}
		/* RFC 8461 §3.2: cached for max_age from the fetch. */
		if (e->expires_at != e->fetched_at +
			(time_t)mtasts_policy_max_age(e->policy)) {
			snprintf(why, wl, "expires_at is not fetched_at + "
			    "max_age");
			return -1;
		}
	} else if (e->id[0] != '\0') {
		snprintf(why, wl, "id without a policy");
		return -1;
	}
	if (!cache_id_ok(e->txt_id, sizeof(e->txt_id), 1)) {
		snprintf(why, wl, "bad txt_id");
		return -1;
	}
	if (!cache_id_ok(e->fail_id, sizeof(e->fail_id), 1)) {
		snprintf(why, wl, "bad fail id");
		return -1;
	}
	if (!cache_type_ok(e->fail_type, sizeof(e->fail_type))) {
		snprintf(why, wl, "bad fail type");
		return -1;
	}
	if (memchr(e->fail_reason, '\0', sizeof(e->fail_reason)) == NULL) {
		snprintf(why, wl, "bad fail reason");
		return -1;
	}
	return 0;
}

/*
 * The fast decoder (D-CACHE-10). It recognises the JSON that
 * mtasts_cache_encode() writes: the keys in the order encode sets them,
 * strings of raw 0x20-0x7f and well-formed UTF-8 with encode's escapes,
 * non-negative integers without leading zeros, JSON white space anywhere
 * between tokens. Whatever else the file holds (another key order, a \u
 * escape other than \u0001-\u001f, malformed UTF-8, any error) makes it
 * answer CACHE_NOT_CANONICAL and the jansson decoder decides, with its
 * reason. It applies every check the
 * jansson decoder applies, so it accepts a subset of what that accepts,
 * with equal results (fuzz_cache_codec asserts both, and that every file
 * encode writes is taken by this path).
 */
#define CACHE_NOT_CANONICAL (-1000)

struct cache_cur {
	const char	*p;
	const char	*end;
};

static void
cc_ws(struct cache_cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' ||
	    *c->p == '\t' || *c->p == '\r'))
		c->p++;
}

static int
cc_char(struct cache_cur *c, char ch)
{
	cc_ws(c);
	if (c->p == c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* ws "name" ws ':' ; name is a plain ASCII key. */
static int
cc_key(struct cache_cur *c, const char *name)
{
	size_t n = strlen(name);

	if (cc_char(c, '"') != 0 || (size_t)(c->end - c->p) < n + 1 ||
	    memcmp(c->p, name, n) != 0 || c->p[n] != '"')
		return -1;
	c->p += n + 1;
	return cc_char(c, ':');
}

/* ", key:" before every key but the first. */
static int
cc_next_key(struct cache_cur *c, const char *name)
{
	return cc_char(c, ',') != 0 ? -1 : cc_key(c, name);
}

/*
 * A string into dst[0..size): at most size-1 bytes, NUL-terminated.
 * Raw bytes as encode leaves them (0x20-0x7f, well-formed UTF-8), its
 * short escapes, and \u0001-\u001f (how jansson writes other controls).
 */
static int
cc_str(struct cache_cur *c, char *dst, size_t size, size_t *lenp)
{
	size_t n = 0, u;
	int h1, h2;
	char ch;

	if (cc_char(c, '"') != 0)
		return -1;
	for (;;) {
		if (c->p == c->end)
			return -1;
		ch = *c->p;
		if ((unsigned char)ch >= 0x80) {
			u = mtasts_utf8_len((const unsigned char *)c->p,
			    (size_t)(c->end - c->p));
			if (u == 0 || n + u >= size)
				return -1;
			memcpy(dst + n, c->p, u);
			n += u;
			c->p += u;
			continue;
		}
		c->p++;
		if (ch == '"')
			break;
		if ((unsigned char)ch < 0x20)
			return -1;
		if (ch == '\\') {
			if (c->p == c->end)
				return -1;
			switch (*c->p++) {
			case '"':
				ch = '"';
				break;
			case '\\':
				ch = '\\';
				break;
			case '/':
				ch = '/';
				break;
			case 'b':
				ch = '\b';
				break;
			case 'f':
				ch = '\f';
				break;
			case 'n':
				ch = '\n';
				break;
			case 'r':
				ch = '\r';
				break;
			case 't':
				ch = '\t';
				break;
			case 'u':
				/* \u00XX, 0 < XX < 0x20: nothing else. */
				if (c->end - c->p < 4 || c->p[0] != '0' ||
				    c->p[1] != '0' ||
				    (h1 = mtasts_hexval(
				    (unsigned char)c->p[2])) < 0 || h1 > 1 ||
				    (h2 = mtasts_hexval(
				    (unsigned char)c->p[3])) < 0 ||
				    h1 * 16 + h2 == 0)
					return -1;
				ch = (char)(h1 * 16 + h2);
				c->p += 4;
				break;
			default:
				return -1;
			}
		}
		if (n + 1 >= size)
			return -1;
		dst[n++] = ch;
	}
	dst[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return 0;
}

/* A non-negative integer <= MTASTS_CACHE_TIME_MAX, no leading zero. */
static int
cc_int(struct cache_cur *c, long long *out)
{
	long long v = 0;
	int digits = 0;

	cc_ws(c);
	if (c->p < c->end && *c->p == '0') {
		c->p++;
		digits = 1;
	} else
		while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
			v = v * 10 + (*c->p++ - '0');
			if (++digits > 12 || v > MTASTS_CACHE_TIME_MAX)
				return -1;
		}
	/* "1.5", "1e3", "01": not what encode writes. */
	if (digits == 0 || (c->p < c->end && ((*c->p >= '0' &&
	    *c->p <= '9') || *c->p == '.' || *c->p == 'e' || *c->p == 'E')))
		return -1;
	*out = v;
	return 0;
}

static int
cc_time(struct cache_cur *c, time_t *out)
{
	long long v;

	if (cc_int(c, &v) != 0)
		return -1;
	*out = (time_t)v;
	return 0;
}

static int
cc_null(struct cache_cur *c)
{
	cc_ws(c);
	if (c->end - c->p < 4 || memcmp(c->p, "null", 4) != 0)
		return -1;
	c->p += 4;
	return 0;
}

/* "policy": "..." , "mode", "max_age", "mx", each equal to the policy. */
static int
cc_policy(struct cache_cur *c, size_t len, struct mtasts_cache_entry *e)
{
	struct mtasts_error perr = { 0, "" };
	char mode[16], mx[MTASTS_CACHE_MX_LEN_MAX + 1];
	char *text;
	size_t tlen, i, n;
	long long maxage;
	int prc;

	if (cc_key(c, "policy") != 0)
		return -1;
	cc_ws(c);
	if (c->p < c->end && *c->p == 'n')
		return cc_null(c);
	if ((text = malloc(len + 1)) == NULL)
		return MTASTS_NOMEM;
	if (cc_str(c, text, len + 1, &tlen) != 0 || tlen == 0 ||
	    tlen > MTASTS_POLICY_BODY_MAX || memchr(text, '\0', tlen) != NULL) {
		free(text);
		return -1;
	}
	prc = mtasts_policy_parse(text, tlen, &e->policy, &perr);
	free(text);
	if (prc == MTASTS_NOMEM)
		return MTASTS_NOMEM;
	if (prc != MTASTS_OK)
		return -1;
	if (cc_next_key(c, "mode") != 0 ||
	    cc_str(c, mode, sizeof(mode), NULL) != 0 ||
	    strcmp(mode, mtasts_mode_name(mtasts_policy_mode(e->policy))) != 0)
		return -1;
	if (cc_next_key(c, "max_age") != 0 || cc_int(c, &maxage) != 0 ||
	    maxage != (long long)mtasts_policy_max_age(e->policy))
		return -1;
	if (cc_next_key(c, "mx") != 0 || cc_char(c, '[') != 0)
		return -1;
	n = mtasts_policy_mx_count(e->policy);
	for (i = 0; i < n; i++) {
		if ((i > 0 && cc_char(c, ',') != 0) ||
		    cc_str(c, mx, sizeof(mx), NULL) != 0 ||
		    strcmp(mx, mtasts_policy_mx(e->policy, i)) != 0)
			return -1;
	}
	return cc_char(c, ']');
}

/* ", "fail": { "at", "id", "type", "reason" }" or nothing. */
static int
cc_fail(struct cache_cur *c, struct mtasts_cache_entry *e)
{
	cc_ws(c);
	if (c->p < c->end && *c->p == '}')
		return 0;
	if (cc_next_key(c, "fail") != 0 || cc_char(c, '{') != 0 ||
	    cc_key(c, "at") != 0 || cc_time(c, &e->fail_at) != 0 ||
	    cc_next_key(c, "id") != 0 ||
	    cc_str(c, e->fail_id, sizeof(e->fail_id), NULL) != 0 ||
	    cc_next_key(c, "type") != 0 ||
	    cc_str(c, e->fail_type, sizeof(e->fail_type), NULL) != 0 ||
	    cc_next_key(c, "reason") != 0 ||
	    cc_str(c, e->fail_reason, sizeof(e->fail_reason), NULL) != 0 ||
	    !mtasts_cache_text_ok(e->fail_reason, sizeof(e->fail_reason)) ||
	    cc_char(c, '}') != 0)
		return -1;
	/* Store leaves an empty failure out (D-CACHEFILE-1). */
	if (e->fail_at == 0 && e->fail_id[0] == '\0' &&
	    e->fail_type[0] == '\0' && e->fail_reason[0] == '\0')
		return -1;
	return 0;
}

int
mtasts_cache_decode_fast(const char *domain, const char *buf, size_t len,
    struct mtasts_cache_entry *e)
{
	struct cache_cur c = { buf, buf + len };
	long long format;
	char why[8];
	int rc;

	if (memchr(buf, '\0', len) != NULL)
		return CACHE_NOT_CANONICAL;
	if (cc_char(&c, '{') != 0 || cc_key(&c, "format") != 0 ||
	    cc_int(&c, &format) != 0 || format != MTASTS_CACHE_FORMAT ||
	    cc_next_key(&c, "domain") != 0 ||
	    cc_str(&c, e->domain, sizeof(e->domain), NULL) != 0 ||
	    strcmp(e->domain, domain) != 0 || cc_next_key(&c, "id") != 0 ||
	    cc_str(&c, e->id, sizeof(e->id), NULL) != 0 ||
	    cc_char(&c, ',') != 0)
		return CACHE_NOT_CANONICAL;
	if ((rc = cc_policy(&c, len, e)) == MTASTS_NOMEM)
		return MTASTS_NOMEM;
	if (rc != 0 || cc_next_key(&c, "fetched_at") != 0 ||
	    cc_time(&c, &e->fetched_at) != 0 ||
	    cc_next_key(&c, "expires_at") != 0 ||
	    cc_time(&c, &e->expires_at) != 0 ||
	    cc_next_key(&c, "txt_checked_at") != 0 ||
	    cc_time(&c, &e->txt_checked_at) != 0 ||
	    cc_next_key(&c, "txt_id") != 0 ||
	    cc_str(&c, e->txt_id, sizeof(e->txt_id), NULL) != 0 ||
	    cc_fail(&c, e) != 0 || cc_char(&c, '}') != 0)
		return CACHE_NOT_CANONICAL;
	cc_ws(&c);
	if (c.p != c.end ||
	    mtasts_cache_entry_check(e, why, sizeof(why)) != 0)
		return CACHE_NOT_CANONICAL;
	return MTASTS_OK;
}

/*
 * Decode a cache file of the expected domain into the zeroed e: the fast
 * decoder for what encode wrote, jansson for anything else (D-CACHE-10),
 * through the network operations: the light half links no jansson and
 * loads the network half for such a file (D-LAZYNET-4).
 */
int
mtasts_cache_decode(struct mtasts_ctx *ctx, const char *domain,
    const char *buf, size_t len, struct mtasts_cache_entry *e, char *why,
    size_t wl)
{
	struct mtasts_error err = { 0, "" };
	const struct mtasts_netops *ops;
	int rc;

	rc = mtasts_cache_decode_fast(domain, buf, len, e);
	if (rc != CACHE_NOT_CANONICAL)
		return rc;
	mtasts_policy_free(e->policy);
	memset(e, 0, sizeof(*e));
	if ((ops = mtasts_netops_get(ctx, &err)) == NULL) {
		snprintf(why, wl, "not canonical, and no JSON decoder: %s",
		    err.text);
		return err.code == MTASTS_NOMEM ? MTASTS_NOMEM : MTASTS_INVALID;
	}
	return ops->cache_decode_json(domain, buf, len, e, why, wl);
}
