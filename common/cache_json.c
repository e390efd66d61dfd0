/* SPDX-License-Identifier: ISC */
/*
 * cache_json.c - the cache entry file codec through jansson: the encoder
 * (mtasts_cache_encode) and the decoder of any JSON file
 * (mtasts_cache_decode_json), which gives the reasons; cache_codec.c
 * decodes what the encoder writes without it (D-CACHE-10). Not in the
 * Exim module's light half, which reaches these through the network
 * operations (D-LAZYNET-4).
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

static const char *const cache_keys[] = {
	"format", "domain", "id", "policy", "mode", "max_age", "mx",
	"fetched_at", "expires_at", "txt_checked_at", "txt_id", "fail"
};
static const char *const cache_fail_keys[] = {
	"at", "id", "type", "reason"
};

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
	if (n < 0 || n > MTASTS_CACHE_TIME_MAX)
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
	    !mtasts_cache_text_ok(e->fail_reason, sizeof(e->fail_reason)))
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
		    json_string_length(v) > MTASTS_CACHE_MX_LEN_MAX)
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
	if (!json_is_integer(v) || json_integer_value(v) != MTASTS_CACHE_FORMAT)
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
	bad |= cache_set(root, "format", json_integer(MTASTS_CACHE_FORMAT));
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
