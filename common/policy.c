/* SPDX-License-Identifier: ISC */
/*
 * policy.c - strict RFC 8461 §3.2 policy parser and the policy object
 * (docs/decisions.md D-POL-1 .. D-POL-5, D-CAP-1).
 *
 *	sts-policy-record      = sts-policy-field *WSP
 *	                         *(sts-policy-term sts-policy-field *WSP)
 *	                         [sts-policy-term]
 *	sts-policy-field-delim = ":" *WSP
 *	sts-policy-term        = LF / CRLF
 *	sts-policy-ext-name    = (sts-policy-alphanum)
 *	                         *31(sts-policy-alphanum / "_" / "-" / ".")
 *	sts-policy-ext-value   = sts-policy-vchar
 *	                         [*(%x20 / sts-policy-vchar) sts-policy-vchar]
 *	sts-policy-vchar       = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
 *
 * The known keys are case-sensitive (RFC 7405 %s): "Mode:" is an unknown
 * extension. Every line, known or not, must match the extension grammar.
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

#define EXT_NAME_MAX 32
#define MAX_AGE_DIGITS 10
#define QUOTE_MAX 40

struct mtasts_policy {
	int mode;		/* enum mtasts_mode */
	uint32_t max_age;
	char **mx;		/* lower-cased, de-duplicated patterns */
	size_t nmx;
	char *text;		/* the raw body, NUL-terminated copy */
	size_t text_len;
	char *linebuf;		/* copy of the body, terminators -> NUL */
	const char **lines;	/* point into linebuf */
	size_t nlines;
	/*
	 * Holders - 1: a parsed policy is immutable, so the cache memo
	 * lends the same object to every entry it serves (D-MEMO-4).
	 * Atomic: a result may be freed in another thread than the one
	 * whose context memoised it.
	 */
	unsigned int refs;
};

static const char *const mode_names[] = { "none", "testing", "enforce" };

const char *
mtasts_mode_name(int mode)
{
	if (mode < 0 || (size_t)mode >= sizeof(mode_names) /
	    sizeof(mode_names[0]))
		return "unknown";
	return mode_names[mode];
}

static int
qlen(size_t n)
{
	return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

/*
 * Check v[0..len) (leading and trailing WSP already removed) against
 * sts-policy-ext-value. Sets *ascii to 0 if it holds UTF-8.
 */
static int
value_ok(const char *v, size_t len, size_t lineno, int *ascii,
    struct mtasts_error *err)
{
	const unsigned char *u = (const unsigned char *)v;
	size_t i = 0, n;

	*ascii = 1;
	if (len == 0)
		return mtasts_err(err, MTASTS_INVALID, "line %zu: empty value",
		    lineno);
	while (i < len) {
		if (u[i] >= 0x21 && u[i] <= 0x7e) {
			i++;
			continue;
		}
		/* Inner SP only: the value starts and ends with a vchar. */
		if (u[i] == ' ') {
			i++;
			continue;
		}
		if (u[i] >= 0x80 && (n = mtasts_utf8_len(u + i, len - i)) > 0) {
			*ascii = 0;
			i += n;
			continue;
		}
		if (u[i] >= 0x80)
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: malformed UTF-8 at column %zu", lineno,
			    i + 1);
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: control byte 0x%02x in value", lineno, u[i]);
	}
	return MTASTS_OK;
}

/* sts-policy-mx-value = ["*."] Domain, A-labels only (§3.2). */
static int
mx_value_ok(const char *v, size_t len, int ascii, size_t lineno,
    struct mtasts_error *err)
{
	const char *d = v;
	size_t dlen = len;

	if (!ascii)
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: mx \"%.*s\" is not an A-label (U-labels are "
		    "not allowed)", lineno, qlen(len), v);
	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		d += 2;
		dlen -= 2;
	}
	if (!mtasts_hostname_valid(d, dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: invalid mx \"%.*s\"", lineno, qlen(len), v);
	/* D-POL-5: an address is not a host name, wildcard or not. */
	if (mtasts_numeric_tld(d, dlen))
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: mx \"%.*s\" is an IP address", lineno,
		    qlen(len), v);
	return MTASTS_OK;
}

static int
mx_add(struct mtasts_policy *p, const char *v, size_t len)
{
	char *s;
	size_t i;

	/* Duplicates (any case) add nothing to the policy. */
	for (i = 0; i < p->nmx; i++)
		if (mtasts_ascii_caseeq(p->mx[i], strlen(p->mx[i]), v, len))
			return MTASTS_OK;
	if ((s = malloc(len + 1)) == NULL)
		return MTASTS_NOMEM;
	for (i = 0; i < len; i++)
		s[i] = (v[i] >= 'A' && v[i] <= 'Z') ? (char)(v[i] - 'A' + 'a') :
		    v[i];
	s[len] = '\0';
	p->mx[p->nmx++] = s;
	return MTASTS_OK;
}

/* Split the copy in linebuf into lines at LF / CRLF (errata 6253). */
static int
split_lines(struct mtasts_policy *p, struct mtasts_error *err)
{
	char *s = p->linebuf;
	size_t len = p->text_len, pos = 0, n = 0, cap = 16;

	if ((p->lines = malloc(cap * sizeof(*p->lines))) == NULL)
		return MTASTS_NOMEM;
	while (pos < len) {
		char *lf = memchr(s + pos, '\n', len - pos);
		size_t end = lf != NULL ? (size_t)(lf - s) : len;
		size_t next = lf != NULL ? end + 1 : len;

		if (lf != NULL && end > pos && s[end - 1] == '\r')
			end--;
		if (end - pos > MTASTS_POLICY_LINE_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: longer than %d bytes", n + 1,
			    MTASTS_POLICY_LINE_MAX);
		if (n == MTASTS_POLICY_LINES_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "more than %d lines", MTASTS_POLICY_LINES_MAX);
		if (n == cap) {
			const char **nl;

			cap *= 2;
			if ((nl = realloc(p->lines, cap * sizeof(*nl))) ==
			    NULL)
				return MTASTS_NOMEM;
			p->lines = nl;
		}
		s[end] = '\0';
		p->lines[n++] = s + pos;
		pos = next;
	}
	p->nlines = n;
	return MTASTS_OK;
}

struct seen {
	int version, mode, max_age;
	size_t mx;	/* mx lines, duplicates included */
};

static int
parse_line(struct mtasts_policy *p, const char *l, size_t len,
    size_t lineno, struct seen *seen, struct mtasts_error *err)
{
	size_t i, klen, vlen;
	const char *v;
	uint64_t age;
	int ascii, rc;

	/* §3.2 ABNF: no empty lines and no leading WSP. */
	if (len == 0)
		return mtasts_err(err, MTASTS_INVALID, "line %zu: empty line",
		    lineno);
	if (mtasts_is_wsp(l[0]))
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: leading whitespace", lineno);
	for (klen = 0; klen < len && l[klen] != ':'; klen++) {
		if (mtasts_is_alnum(l[klen]) || (klen > 0 && (l[klen] == '_' ||
		    l[klen] == '-' || l[klen] == '.')))
			continue;
		if (mtasts_is_wsp(l[klen]))
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: whitespace in or after field name",
			    lineno);
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: invalid field name at column %zu", lineno,
		    klen + 1);
	}
	if (klen == len)
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: no ':'", lineno);
	if (klen == 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: empty field name", lineno);
	if (klen > EXT_NAME_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "line %zu: field name longer than %d", lineno,
		    EXT_NAME_MAX);
	/* ":" *WSP value *WSP */
	for (i = klen + 1; i < len && mtasts_is_wsp(l[i]); i++)
		;
	v = l + i;
	vlen = len - i;
	while (vlen > 0 && mtasts_is_wsp(v[vlen - 1]))
		vlen--;
	if ((rc = value_ok(v, vlen, lineno, &ascii, err)) != MTASTS_OK)
		return rc;

#define KEY(k) (klen == sizeof(k) - 1 && memcmp(l, k, klen) == 0)
#define VAL(k) (vlen == sizeof(k) - 1 && memcmp(v, k, vlen) == 0)
	/* §3.2: a repeated non-mx field: the first counts (D-POL-2). */
	if (KEY("version") && !seen->version++) {
		if (!VAL("STSv1"))
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: unsupported version \"%.*s\"", lineno,
			    qlen(vlen), v);
	} else if (KEY("mode") && !seen->mode++) {
		if (VAL("enforce"))
			p->mode = MTASTS_MODE_ENFORCE;
		else if (VAL("testing"))
			p->mode = MTASTS_MODE_TESTING;
		else if (VAL("none"))
			p->mode = MTASTS_MODE_NONE;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: invalid mode \"%.*s\"", lineno,
			    qlen(vlen), v);
	} else if (KEY("max_age") && !seen->max_age++) {
		/* 1*10DIGIT, and the prose maximum (D-POL-3). */
		if (vlen > MAX_AGE_DIGITS || mtasts_parse_u64(v, vlen,
		    UINT64_MAX, &age) != 0)
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: invalid max_age \"%.*s\"", lineno,
			    qlen(vlen), v);
		if (age > MTASTS_MAX_AGE_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: max_age %.*s out of range 0..%u",
			    lineno, qlen(vlen), v, MTASTS_MAX_AGE_MAX);
		p->max_age = (uint32_t)age;
	} else if (KEY("mx")) {
		if ((rc = mx_value_ok(v, vlen, ascii, lineno, err)) !=
		    MTASTS_OK)
			return rc;
		if (++seen->mx > MTASTS_POLICY_MX_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "line %zu: more than %d mx patterns", lineno,
			    MTASTS_POLICY_MX_MAX);
		if (mx_add(p, v, vlen) != MTASTS_OK)
			return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
#undef KEY
#undef VAL
	/* Anything else is an extension: ignored (§3.2), grammar checked. */
	return MTASTS_OK;
}

int
mtasts_policy_parse(const char *body, size_t len,
    struct mtasts_policy **out, struct mtasts_error *err)
{
	struct mtasts_policy *p = NULL;
	struct seen seen = { 0, 0, 0, 0 };
	const char *nul;
	size_t i;
	int rc;

	*out = NULL;
	if (body == NULL || len == 0) {
		rc = mtasts_err(err, MTASTS_INVALID, "empty policy");
		goto err;
	}
	/* §3.3 "64 kilobytes", read as 64 KiB inclusive (D-CAP-1). */
	if (len > MTASTS_POLICY_BODY_MAX) {
		rc = mtasts_err(err, MTASTS_INVALID,
		    "policy too large (%zu bytes, max %d)", len,
		    MTASTS_POLICY_BODY_MAX);
		goto err;
	}
	if ((nul = memchr(body, '\0', len)) != NULL) {
		rc = mtasts_err(err, MTASTS_INVALID, "NUL byte at offset %zu",
		    (size_t)(nul - body));
		goto err;
	}
	rc = MTASTS_NOMEM;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		goto nomem;
	p->mode = -1;
	if ((p->text = malloc(len + 1)) == NULL ||
	    (p->linebuf = malloc(len + 1)) == NULL ||
	    (p->mx = calloc(MTASTS_POLICY_MX_MAX, sizeof(*p->mx))) == NULL)
		goto nomem;
	memcpy(p->text, body, len);
	p->text[len] = '\0';
	memcpy(p->linebuf, body, len);
	p->linebuf[len] = '\0';
	p->text_len = len;
	if ((rc = split_lines(p, err)) != MTASTS_OK)
		goto check;
	for (i = 0; i < p->nlines; i++) {
		rc = parse_line(p, p->lines[i], strlen(p->lines[i]), i + 1,
		    &seen, err);
		if (rc != MTASTS_OK)
			goto check;
	}
	if (!seen.version)
		rc = mtasts_err(err, MTASTS_INVALID, "missing version field");
	else if (!seen.mode)
		rc = mtasts_err(err, MTASTS_INVALID, "missing mode field");
	else if (!seen.max_age)
		rc = mtasts_err(err, MTASTS_INVALID, "missing max_age field");
	/* §3.2: mx "required at least once, except when mode is none". */
	else if (p->nmx == 0 && p->mode != MTASTS_MODE_NONE)
		rc = mtasts_err(err, MTASTS_INVALID,
		    "mode %s without any mx field", mtasts_mode_name(p->mode));
	else {
		*out = p;
		return MTASTS_OK;
	}
	goto err;
check:
	if (rc != MTASTS_NOMEM)
		goto err;
nomem:
	rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
err:
	mtasts_policy_free(p);
	return rc;
}

struct mtasts_policy *
mtasts_policy_ref(struct mtasts_policy *p)
{
	if (p != NULL)
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_RELAXED);
	return p;
}

void
mtasts_policy_free(struct mtasts_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	if (__atomic_load_n(&p->refs, __ATOMIC_ACQUIRE) != 0 &&
	    __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) !=
	    (unsigned int)-1)
		return;
	if (p->mx != NULL)
		for (i = 0; i < p->nmx; i++)
			free(p->mx[i]);
	free(p->mx);
	free(p->lines);
	free(p->linebuf);
	free(p->text);
	free(p);
}

int
mtasts_policy_mode(const struct mtasts_policy *p)
{
	return p != NULL ? p->mode : MTASTS_MODE_NONE;
}

uint32_t
mtasts_policy_max_age(const struct mtasts_policy *p)
{
	return p != NULL ? p->max_age : 0;
}

size_t
mtasts_policy_mx_count(const struct mtasts_policy *p)
{
	return p != NULL ? p->nmx : 0;
}

const char *
mtasts_policy_mx(const struct mtasts_policy *p, size_t i)
{
	return p != NULL && i < p->nmx ? p->mx[i] : NULL;
}

size_t
mtasts_policy_line_count(const struct mtasts_policy *p)
{
	return p != NULL ? p->nlines : 0;
}

const char *
mtasts_policy_line(const struct mtasts_policy *p, size_t i)
{
	return p != NULL && i < p->nlines ? p->lines[i] : NULL;
}

const char *
mtasts_policy_text(const struct mtasts_policy *p, size_t *len)
{
	if (p == NULL) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	if (len != NULL)
		*len = p->text_len;
	return p->text;
}

int
mtasts_policy_mx_allowed(const struct mtasts_policy *p, const char *host,
    size_t hlen)
{
	size_t i;

	if (p == NULL || host == NULL)
		return 0;
	for (i = 0; i < p->nmx; i++)
		if (mtasts_mx_match(p->mx[i], strlen(p->mx[i]), host, hlen))
			return 1;
	return 0;
}
