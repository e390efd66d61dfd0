/* SPDX-License-Identifier: ISC */
/*
 * cache_codec.c - the cache entry file format: the names an entry may have
 * (domain, file name), the checks of an entry's fields, and the JSON codec
 * (mtasts_cache_decode, mtasts_cache_encode). Pure: no I/O, no context.
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

#include <jansson.h>

#include "mtasts_internal.h"

#define CACHE_FORMAT 1
/* 9999-12-31T23:59:59Z: keeps every time_t sum below overflow. */
#define CACHE_TIME_MAX 253402300799LL
/* Longest mx pattern kept in the informational "mx" array. */
#define CACHE_MX_LEN_MAX (MTASTS_DOMAIN_MAX + 2)

static const char *const cache_keys[] = {
	"format", "domain", "id", "policy", "mode", "max_age", "mx",
	"fetched_at", "expires_at", "txt_checked_at", "txt_id", "fail"
};
static const char *const cache_fail_keys[] = {
	"at", "id", "type", "reason"
};

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
static int
cache_text_ok(const char *s, size_t size)
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
	return t >= 0 && (long long)t <= CACHE_TIME_MAX;
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


/* Copy a JSON string of at most size-1 bytes without NUL. */
static int
cache_get_str(const json_t *v, char *dst, size_t size)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= size || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

static int
cache_get_time(const json_t *v, time_t *out)
{
	json_int_t n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	if (n < 0 || n > CACHE_TIME_MAX)
		return -1;
	*out = (time_t)n;
	return 0;
}

static int
cache_known_key(const char *k, const char *const *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(k, keys[i]) == 0)
			return 1;
	return 0;
}

#define CORRUPT(...)                                                       \
	do {                                                               \
		snprintf(why, wl, __VA_ARGS__);                            \
		rc = MTASTS_INVALID;                                       \
		goto done;                                                 \
	} while (0)

/* The "fail" object: all four keys, nothing else. */
static int
cache_decode_fail(json_t *f, struct mtasts_cache_entry *e, char *why,
    size_t wl)
{
	const char *k;
	json_t *v;
	int rc = MTASTS_OK;

	if (!json_is_object(f))
		CORRUPT("fail: not an object");
	json_object_foreach(f, k, v) {
		if (!cache_known_key(k, cache_fail_keys,
			sizeof(cache_fail_keys) / sizeof(cache_fail_keys[0])))
			CORRUPT("fail: unknown key");
	}
	if (cache_get_time(json_object_get(f, "at"), &e->fail_at) != 0)
		CORRUPT("fail.at");
	if (cache_get_str(json_object_get(f, "id"), e->fail_id,
		sizeof(e->fail_id)) != 0)
		CORRUPT("fail.id");
	if (cache_get_str(json_object_get(f, "type"), e->fail_type,
		sizeof(e->fail_type)) != 0)
		CORRUPT("fail.type");
	if (cache_get_str(json_object_get(f, "reason"), e->fail_reason,
		sizeof(e->fail_reason)) != 0 ||
	    !cache_text_ok(e->fail_reason, sizeof(e->fail_reason)))
		CORRUPT("fail.reason");
	/* Store leaves an empty failure out (D-CACHEFILE-1). */
	if (e->fail_at == 0 && e->fail_id[0] == '\0' &&
	    e->fail_type[0] == '\0' && e->fail_reason[0] == '\0')
		CORRUPT("fail: empty");
done:
	return rc;
}

/* The policy and the fields derived from it. */
static int
cache_decode_policy(const json_t *root, const json_t *pol,
    struct mtasts_cache_entry *e, char *why, size_t wl)
{
	struct mtasts_error perr = { 0, "" };
	const json_t *mode, *maxage, *mx, *v;
	const char *text;
	size_t len, i;
	int rc = MTASTS_OK, prc;

	mode = json_object_get(root, "mode");
	maxage = json_object_get(root, "max_age");
	mx = json_object_get(root, "mx");
	if (json_is_null(pol)) {
		if (mode != NULL || maxage != NULL || mx != NULL)
			CORRUPT("mode, max_age or mx without a policy");
		goto done;
	}
	if (!json_is_string(pol))
		CORRUPT("policy: not a string");
	text = json_string_value(pol);
	len = json_string_length(pol);
	if (len == 0 || len > MTASTS_POLICY_BODY_MAX ||
	    memchr(text, '\0', len) != NULL)
		CORRUPT("policy: bad length or NUL");
	if (!json_is_string(mode))
		CORRUPT("mode");
	if (!json_is_integer(maxage))
		CORRUPT("max_age");
	if (!json_is_array(mx) || json_array_size(mx) > MTASTS_POLICY_MX_MAX)
		CORRUPT("mx");
	for (i = 0; i < json_array_size(mx); i++) {
		v = json_array_get(mx, i);
		if (!json_is_string(v) ||
		    json_string_length(v) > CACHE_MX_LEN_MAX)
			CORRUPT("mx");
	}
	/* Never trust the stored fields: the raw text is the truth. */
	prc = mtasts_policy_parse(text, len, &e->policy, &perr);
	if (prc == MTASTS_NOMEM) {
		rc = MTASTS_NOMEM;
		goto done;
	}
	if (prc != MTASTS_OK)
		CORRUPT("policy: %.80s", perr.text);
	if (strcmp(json_string_value(mode),
		mtasts_mode_name(mtasts_policy_mode(e->policy))) != 0)
		CORRUPT("mode differs from the policy");
	if (json_integer_value(maxage) !=
	    (json_int_t)mtasts_policy_max_age(e->policy))
		CORRUPT("max_age differs from the policy");
	/* Informational, but exactly what store writes (D-CACHEFILE-1). */
	if (json_array_size(mx) != mtasts_policy_mx_count(e->policy))
		CORRUPT("mx differs from the policy");
	for (i = 0; i < json_array_size(mx); i++)
		if (strcmp(json_string_value(json_array_get(mx, i)),
		    mtasts_policy_mx(e->policy, i)) != 0)
			CORRUPT("mx differs from the policy");
done:
	return rc;
}

/*
 * Decode a cache file of the expected domain into e with jansson: any
 * valid JSON. MTASTS_INVALID (why filled) for anything but a well-formed,
 * consistent entry. The authority on what is corrupt and why.
 */
int
mtasts_cache_decode_json(const char *domain, const char *buf, size_t len,
    struct mtasts_cache_entry *e, char *why, size_t wl)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *k;
	int rc = MTASTS_OK;

	if (memchr(buf, '\0', len) != NULL)
		CORRUPT("NUL byte");
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	/* Out of memory says nothing about the file (D-OOM-1). */
	if (root == NULL && json_error_code(&jerr) == json_error_out_of_memory)
		return MTASTS_NOMEM;
	if (root == NULL)
		CORRUPT("JSON line %d: %.60s", jerr.line, jerr.text);
	if (!json_is_object(root))
		CORRUPT("not an object");
	json_object_foreach(root, k, v) {
		if (!cache_known_key(k, cache_keys,
			sizeof(cache_keys) / sizeof(cache_keys[0])))
			CORRUPT("unknown key");
	}
	v = json_object_get(root, "format");
	if (!json_is_integer(v) || json_integer_value(v) != CACHE_FORMAT)
		CORRUPT("format");
	if (cache_get_str(json_object_get(root, "domain"), e->domain,
		sizeof(e->domain)) != 0)
		CORRUPT("domain");
	if (strcmp(e->domain, domain) != 0)
		CORRUPT("domain does not match the file name");
	if (cache_get_str(json_object_get(root, "id"), e->id,
		sizeof(e->id)) != 0)
		CORRUPT("id");
	if (cache_get_time(json_object_get(root, "fetched_at"),
		&e->fetched_at) != 0)
		CORRUPT("fetched_at");
	if (cache_get_time(json_object_get(root, "expires_at"),
		&e->expires_at) != 0)
		CORRUPT("expires_at");
	if (cache_get_time(json_object_get(root, "txt_checked_at"),
		&e->txt_checked_at) != 0)
		CORRUPT("txt_checked_at");
	if (cache_get_str(json_object_get(root, "txt_id"), e->txt_id,
		sizeof(e->txt_id)) != 0)
		CORRUPT("txt_id");
	if ((v = json_object_get(root, "fail")) != NULL &&
	    (rc = cache_decode_fail(v, e, why, wl)) != MTASTS_OK)
		goto done;
	if ((v = json_object_get(root, "policy")) == NULL)
		CORRUPT("policy missing");
	if ((rc = cache_decode_policy(root, v, e, why, wl)) != MTASTS_OK)
		goto done;
	if (mtasts_cache_entry_check(e, why, wl) != 0)
		rc = MTASTS_INVALID;
done:
	json_decref(root);
	return rc;
}

#undef CORRUPT

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

/* A non-negative integer <= CACHE_TIME_MAX, no leading zero. */
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
			if (++digits > 12 || v > CACHE_TIME_MAX)
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
	char mode[16], mx[CACHE_MX_LEN_MAX + 1];
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
	    !cache_text_ok(e->fail_reason, sizeof(e->fail_reason)) ||
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
	    cc_int(&c, &format) != 0 || format != CACHE_FORMAT ||
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
 * decoder for what encode wrote, jansson for anything else (D-CACHE-10).
 */
int
mtasts_cache_decode(const char *domain, const char *buf, size_t len,
    struct mtasts_cache_entry *e, char *why, size_t wl)
{
	int rc;

	rc = mtasts_cache_decode_fast(domain, buf, len, e);
	if (rc != CACHE_NOT_CANONICAL)
		return rc;
	mtasts_policy_free(e->policy);
	memset(e, 0, sizeof(*e));
	return mtasts_cache_decode_json(domain, buf, len, e, why, wl);
}

static int
cache_set(json_t *o, const char *k, json_t *v)
{
	/* json_object_set_new() consumes v even on failure. */
	return v == NULL || json_object_set_new(o, k, v) != 0 ? -1 : 0;
}

/* Serialise a checked entry into *out (malloc'd, NUL-terminated). */
int
mtasts_cache_encode(const struct mtasts_cache_entry *e, char **out,
    size_t *outlen, struct mtasts_error *err)
{
	json_t *root = NULL, *mx = NULL, *fail = NULL, *chk;
	json_error_t jerr;
	char reason[MTASTS_REASON_MAX];
	const char *text;
	char *s = NULL;
	size_t len, i;
	int rc = MTASTS_NOMEM, bad = 0;

	*out = NULL;
	*outlen = 0;
	if ((root = json_object()) == NULL)
		goto done;
	bad |= cache_set(root, "format", json_integer(CACHE_FORMAT));
	bad |= cache_set(root, "domain", json_string(e->domain));
	bad |= cache_set(root, "id", json_string(e->id));
	if (e->policy != NULL) {
		text = mtasts_policy_text(e->policy, &len);
		if (text == NULL || len == 0 || len > MTASTS_POLICY_BODY_MAX ||
		    memchr(text, '\0', len) != NULL) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "cache: %s: policy text unusable", e->domain);
			goto done;
		}
		/* jansson refuses invalid UTF-8 here (RFC 8461 §3.2 ABNF). */
		if (cache_set(root, "policy", json_stringn(text, len)) != 0) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "cache: %s: policy text is not UTF-8", e->domain);
			goto done;
		}
		bad |= cache_set(root, "mode", json_string(mtasts_mode_name(
		    mtasts_policy_mode(e->policy))));
		bad |= cache_set(root, "max_age",
		    json_integer(mtasts_policy_max_age(e->policy)));
		if ((mx = json_array()) == NULL)
			goto done;
		for (i = 0; i < mtasts_policy_mx_count(e->policy); i++) {
			text = mtasts_policy_mx(e->policy, i);
			if (text == NULL ||
			    json_array_append_new(mx, json_string(text)) != 0)
				bad = -1;
		}
		bad |= cache_set(root, "mx", mx);
		mx = NULL;
	} else
		bad |= cache_set(root, "policy", json_null());
	bad |= cache_set(root, "fetched_at", json_integer(e->fetched_at));
	bad |= cache_set(root, "expires_at", json_integer(e->expires_at));
	bad |= cache_set(root, "txt_checked_at",
	    json_integer(e->txt_checked_at));
	bad |= cache_set(root, "txt_id", json_string(e->txt_id));
	if (e->fail_at != 0 || e->fail_id[0] != '\0' ||
	    e->fail_type[0] != '\0' || e->fail_reason[0] != '\0') {
		if ((fail = json_object()) == NULL)
			goto done;
		bad |= cache_set(fail, "at", json_integer(e->fail_at));
		bad |= cache_set(fail, "id", json_string(e->fail_id));
		bad |= cache_set(fail, "type", json_string(e->fail_type));
		mtasts_sanitize(e->fail_reason, reason, sizeof(reason));
		bad |= cache_set(fail, "reason", json_string(reason));
		bad |= cache_set(root, "fail", fail);
		fail = NULL;
	}
	if (bad) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "cache: %s: entry cannot be encoded", e->domain);
		goto done;
	}
	if ((s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto done;
	len = strlen(s);
	/*
	 * jansson 2.14's json_dumps() ignores a failed append of an object
	 * key (out of memory) and returns JSON without the key's closing
	 * quote: a store of it would replace a good entry with an unusable
	 * one (D-OOM-1). Never write what does not read back.
	 */
	if ((chk = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		if (json_error_code(&jerr) != json_error_out_of_memory)
			rc = mtasts_err(err, MTASTS_NOMEM,
			    "cache: %s: encoding failed (out of memory?)",
			    e->domain);
		goto done;
	}
	json_decref(chk);
	if (len > MTASTS_CACHE_FILE_MAX) {
		rc = mtasts_err(err, MTASTS_INVALID, "cache: %s: entry too big",
		    e->domain);
		goto done;
	}
	*out = s;
	*outlen = len;
	s = NULL;
	rc = MTASTS_OK;
done:
	if (rc == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "cache: out of memory");
	free(s);
	json_decref(mx);
	json_decref(fail);
	json_decref(root);
	return rc;
}
