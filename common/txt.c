/* SPDX-License-Identifier: ISC */
/*
 * txt.c - the `_mta-sts` TXT record: strict RFC 8461 §3.1 parser and the
 * RRset selection rule (docs/decisions.md D-TXT-1 .. D-TXT-3).
 *
 *	sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *	                  [sts-field-delim]
 *	sts-field-delim = *WSP ";" *WSP
 *	sts-version     = %s"v=STSv1"
 *	sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *	sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 */
#include <string.h>

#include "mtasts_internal.h"

#define STS_VERSION "v=STSv1"
#define STS_VERSION_LEN (sizeof(STS_VERSION) - 1)
#define EXT_NAME_MAX 32
/* Longest token quoted in a reason. */
#define QUOTE_MAX 40

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

/* End of a field token: WSP, ";" or the end of the record. */
static size_t
token_end(const char *rec, size_t len, size_t pos)
{
	while (pos < len && !mtasts_is_wsp(rec[pos]) && rec[pos] != ';')
		pos++;
	return pos;
}

static int
qlen(size_t n)
{
	return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

/*
 * Parse the extension field at rec[pos..end). The record is known to be
 * printable ASCII plus WSP at this point.
 */
static int
parse_extension(const char *rec, size_t pos, size_t end,
    struct mtasts_error *err)
{
	size_t i, eq;

	for (eq = pos; eq < end && rec[eq] != '='; eq++)
		;
	if (eq == end)
		return mtasts_err(err, MTASTS_INVALID,
		    "field \"%.*s\" at offset %zu has no '='",
		    qlen(end - pos), rec + pos, pos);
	if (eq - pos > EXT_NAME_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "extension name at offset %zu longer than %d",
		    pos, EXT_NAME_MAX);
	if (eq == pos || !mtasts_is_alnum(rec[pos]))
		goto badname;
	for (i = pos; i < eq; i++)
		if (!is_ext_name_char(rec[i]))
			goto badname;
	if (eq + 1 == end)
		return mtasts_err(err, MTASTS_INVALID,
		    "empty value for \"%.*s\" at offset %zu",
		    qlen(eq - pos), rec + pos, pos);
	for (i = eq + 1; i < end; i++)
		if (!is_ext_value_char(rec[i]))
			return mtasts_err(err, MTASTS_INVALID,
			    "invalid character '%c' in value of \"%.*s\" at "
			    "offset %zu", rec[i], qlen(eq - pos), rec + pos, i);
	return MTASTS_OK;
badname:
	return mtasts_err(err, MTASTS_INVALID,
	    "invalid field name \"%.*s\" at offset %zu",
	    qlen(eq - pos), rec + pos, pos);
}

int
mtasts_txt_parse(const char *rec, size_t len, char id[MTASTS_ID_MAX + 1],
    struct mtasts_error *err)
{
	size_t pos, end, i, nfields = 0, idpos = 0, idlen = 0;
	int have_id = 0;

	id[0] = '\0';
	if (rec == NULL)
		return mtasts_err(err, MTASTS_INVALID, "no record");
	if (len > MTASTS_TXT_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "record too long (%zu bytes, max %d)", len, MTASTS_TXT_MAX);
	/* §3.1: "MTA-STS TXT records MUST be US-ASCII". */
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
	/* §3.1: the record MUST begin with sts-version (case-sensitive). */
	if (len < STS_VERSION_LEN ||
	    memcmp(rec, STS_VERSION, STS_VERSION_LEN) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "record does not begin with \"" STS_VERSION "\"");
	pos = STS_VERSION_LEN;
	for (;;) {
		/* sts-field-delim = *WSP ";" *WSP (erratum 6285: WSP first) */
		size_t wsp = pos;

		while (pos < len && mtasts_is_wsp(rec[pos]))
			pos++;
		if (pos == len) {
			if (wsp != pos)
				return mtasts_err(err, MTASTS_INVALID,
				    "trailing whitespace without ';' at "
				    "offset %zu", wsp);
			break;
		}
		if (rec[pos] != ';')
			return mtasts_err(err, MTASTS_INVALID,
			    "expected ';' at offset %zu, found \"%.*s\"", pos,
			    qlen(token_end(rec, len, pos) - pos), rec + pos);
		pos++;
		while (pos < len && mtasts_is_wsp(rec[pos]))
			pos++;
		/* [sts-field-delim] at the end. */
		if (pos == len)
			break;
		if (rec[pos] == ';')
			return mtasts_err(err, MTASTS_INVALID,
			    "empty field at offset %zu", pos);
		end = token_end(rec, len, pos);
		/*
		 * Only the first "id=" is sts-id (D-TXT-3, first wins as for
		 * policies in §3.2); a later one must still be a valid
		 * extension field.
		 */
		if (!have_id && end - pos >= 3 &&
		    memcmp(rec + pos, "id=", 3) == 0) {
			size_t n = end - pos - 3;

			for (i = pos + 3; i < end; i++)
				if (!mtasts_is_alnum(rec[i]))
					break;
			if (n == 0 || n > MTASTS_ID_MAX || i != end)
				return mtasts_err(err, MTASTS_INVALID,
				    "invalid id \"%.*s\" at offset %zu",
				    qlen(n), rec + pos + 3, pos + 3);
			idpos = pos + 3;
			idlen = n;
			have_id = 1;
		} else if (parse_extension(rec, pos, end, err) != MTASTS_OK)
			return MTASTS_INVALID;
		nfields++;
		pos = end;
	}
	if (!have_id)
		return mtasts_err(err, MTASTS_INVALID,
		    nfields == 0 ? "no fields after \"" STS_VERSION "\"" :
		    "missing id field");
	/* Only a fully valid record yields an id. */
	memcpy(id, rec + idpos, idlen);
	id[idlen] = '\0';
	return MTASTS_OK;
}

int
mtasts_txt_versioned(const char *rec, size_t len, const char *version)
{
	size_t vlen = strlen(version), pos = vlen;

	if (rec == NULL || len < vlen || memcmp(rec, version, vlen) != 0)
		return 0;
	while (pos < len && mtasts_is_wsp(rec[pos]))
		pos++;
	return pos < len && rec[pos] == ';';
}

int
mtasts_txt_select(const char *const *recs, const size_t *lens,
    size_t nrecs, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err)
{
	size_t i, n = 0, which = 0;

	id[0] = '\0';
	if (nrecs > 0 && (recs == NULL || lens == NULL))
		return mtasts_err(err, MTASTS_ERROR, "no records passed");
	if (nrecs > MTASTS_TXT_RECORDS_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "%zu TXT records (max %d)", nrecs, MTASTS_TXT_RECORDS_MAX);
	/*
	 * §3.1: "records that do not begin with 'v=STSv1;' are discarded".
	 * With erratum 6285 WSP may come before the ';' (D-TXT-2), so
	 * "v=STSv1 ;" counts, while "v=STSv10;", "v=STSv1.1", "v=stsv1;"
	 * and a bare "v=STSv1" are discarded.
	 */
	for (i = 0; i < nrecs; i++) {
		if (mtasts_txt_versioned(recs[i], lens[i], STS_VERSION)) {
			n++;
			which = i;
		}
	}
	if (n == 0)
		return mtasts_err(err, MTASTS_NOTFOUND,
		    "no \"" STS_VERSION ";\" TXT record");
	/* §3.1: "If the number of resulting records is not one". */
	if (n > 1)
		return mtasts_err(err, MTASTS_INVALID, "%zu STS records", n);
	return mtasts_txt_parse(recs[which], lens[which], id, err);
}
