/* SPDX-License-Identifier: ISC */
/*
 * taglist.c - the tag-list framing shared by the `_mta-sts` TXT record
 * (RFC 8461 §3.1, txt.c) and the `_smtp._tls` TXT record (RFC 8460 §3,
 * tlsrpt_txt.c): the byte rules, the version, the field delimiters, and
 * the extension field both grammars define alike.
 *
 *	record      = version 1*(field-delim field) [field-delim]
 *	field-delim = *WSP ";" *WSP		(erratum 6285, D-TXT-2)
 *	ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * The caller parses the fields it knows (sts-id, tlsrpt-rua) itself.
 */
#include <string.h>

#include "mtasts_internal.h"

#define EXT_NAME_MAX 32
/* Longest token quoted in a reason. */
#define QUOTE_MAX 40

int
mtasts_taglist_qlen(size_t n)
{
	return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

static int
is_ext_name_char(char c)
{
	return mtasts_is_alnum(c) || c == '_' || c == '-' || c == '.';
}

/* %x21-3A / %x3C / %x3E-7E: no SP, CTL, "=" or ";". */
static int
is_ext_value_char(char c)
{
	return c >= 0x21 && c <= 0x7e && c != '=' && c != ';';
}

size_t
mtasts_taglist_token_end(const struct mtasts_taglist *t, size_t pos)
{
	while (pos < t->len && !mtasts_is_wsp(t->rec[pos]) &&
	    t->rec[pos] != ';')
		pos++;
	return pos;
}

int
mtasts_taglist_versioned(const char *rec, size_t len, const char *version)
{
	size_t vlen = strlen(version), pos = vlen;

	if (rec == NULL || len < vlen || memcmp(rec, version, vlen) != 0)
		return 0;
	while (pos < len && mtasts_is_wsp(rec[pos]))
		pos++;
	return pos < len && rec[pos] == ';';
}

int
mtasts_taglist_select(const char *const *recs, const size_t *lens,
    size_t nrecs, const char *version, const char *what, size_t *which,
    struct mtasts_error *err)
{
	size_t i, n = 0;

	*which = 0;
	if (nrecs > 0 && (recs == NULL || lens == NULL))
		return mtasts_err(err, MTASTS_ERROR, "no records passed");
	if (nrecs > MTASTS_TXT_RECORDS_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "%zu TXT records (max %d)", nrecs, MTASTS_TXT_RECORDS_MAX);
	for (i = 0; i < nrecs; i++)
		if (mtasts_taglist_versioned(recs[i], lens[i], version)) {
			n++;
			*which = i;
		}
	if (n == 0)
		return mtasts_err(err, MTASTS_NOTFOUND,
		    "no \"%s;\" TXT record", version);
	if (n > 1)
		return mtasts_err(err, MTASTS_INVALID, "%zu %s records", n,
		    what);
	return MTASTS_OK;
}

int
mtasts_taglist_open(struct mtasts_taglist *t, const char *rec, size_t len,
    const char *version, struct mtasts_error *err)
{
	size_t i, vlen = strlen(version);

	memset(t, 0, sizeof(*t));
	if (rec == NULL)
		return mtasts_err(err, MTASTS_INVALID, "no record");
	if (len > MTASTS_TXT_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "record too long (%zu bytes, max %d)", len, MTASTS_TXT_MAX);
	/*
	 * RFC 8461 §3.1: "MTA-STS TXT records MUST be US-ASCII"; the RFC
	 * 8460 ABNF admits printable US-ASCII and WSP only.
	 */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rec[i];

		if (c == '\0')
			return mtasts_err(err, MTASTS_INVALID,
			    "NUL byte at offset %zu", i);
		if (c >= 0x80)
			return mtasts_err(err, MTASTS_INVALID,
			    "non-ASCII byte 0x%02x at offset %zu", c, i);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return mtasts_err(err, MTASTS_INVALID,
			    "control byte 0x%02x at offset %zu", c, i);
	}
	/* The record MUST begin with the version (case-sensitive). */
	if (len < vlen || memcmp(rec, version, vlen) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "record does not begin with \"%s\"", version);
	t->rec = rec;
	t->len = len;
	t->pos = vlen;
	return MTASTS_OK;
}

int
mtasts_taglist_next(struct mtasts_taglist *t, struct mtasts_error *err)
{
	const char *rec = t->rec;
	size_t len = t->len, pos = t->pos, wsp = pos;

	/* field-delim = *WSP ";" *WSP (erratum 6285: WSP first) */
	while (pos < len && mtasts_is_wsp(rec[pos]))
		pos++;
	if (pos == len) {
		if (wsp != pos) {
			mtasts_err(err, MTASTS_INVALID,
			    "trailing whitespace without ';' at offset %zu",
			    wsp);
			return -1;
		}
		return 0;
	}
	if (rec[pos] != ';') {
		mtasts_err(err, MTASTS_INVALID,
		    "expected ';' at offset %zu, found \"%.*s\"", pos,
		    mtasts_taglist_qlen(mtasts_taglist_token_end(t, pos) - pos),
		    rec + pos);
		return -1;
	}
	pos++;
	while (pos < len && mtasts_is_wsp(rec[pos]))
		pos++;
	t->pos = pos;
	/* [field-delim] at the end. */
	if (pos == len)
		return 0;
	if (rec[pos] == ';') {
		mtasts_err(err, MTASTS_INVALID, "empty field at offset %zu",
		    pos);
		return -1;
	}
	return 1;
}

size_t
mtasts_taglist_extension(const struct mtasts_taglist *t, size_t pos,
    struct mtasts_error *err)
{
	const char *rec = t->rec;
	size_t i, eq, end = mtasts_taglist_token_end(t, pos);

	for (eq = pos; eq < end && rec[eq] != '='; eq++)
		;
	if (eq == end) {
		mtasts_err(err, MTASTS_INVALID,
		    "field \"%.*s\" at offset %zu has no '='",
		    mtasts_taglist_qlen(end - pos), rec + pos, pos);
		return 0;
	}
	if (eq - pos > EXT_NAME_MAX) {
		mtasts_err(err, MTASTS_INVALID,
		    "extension name at offset %zu longer than %d", pos,
		    EXT_NAME_MAX);
		return 0;
	}
	if (eq == pos || !mtasts_is_alnum(rec[pos]))
		goto badname;
	for (i = pos; i < eq; i++)
		if (!is_ext_name_char(rec[i]))
			goto badname;
	if (eq + 1 == end) {
		mtasts_err(err, MTASTS_INVALID,
		    "empty value for \"%.*s\" at offset %zu",
		    mtasts_taglist_qlen(eq - pos), rec + pos, pos);
		return 0;
	}
	/* The bytes were checked at open: only '=' can be out of place. */
	for (i = eq + 1; i < end; i++)
		if (!is_ext_value_char(rec[i])) {
			mtasts_err(err, MTASTS_INVALID,
			    "invalid character '%c' in value of \"%.*s\" at "
			    "offset %zu", rec[i], mtasts_taglist_qlen(eq - pos),
			    rec + pos, i);
			return 0;
		}
	return end;
badname:
	mtasts_err(err, MTASTS_INVALID,
	    "invalid field name \"%.*s\" at offset %zu",
	    mtasts_taglist_qlen(eq - pos), rec + pos, pos);
	return 0;
}
