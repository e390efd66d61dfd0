/* SPDX-License-Identifier: ISC */
/*
 * txt.c - the `_mta-sts` TXT record: strict RFC 8461 §3.1 parser and the
 * RRset selection rule (docs/decisions.md D-TXT-1 .. D-TXT-3). The
 * framing (bytes, version, delimiters, extensions) is taglist.c's.
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

int
mtasts_txt_parse(const char *rec, size_t len, char id[MTASTS_ID_MAX + 1],
    struct mtasts_error *err)
{
	struct mtasts_taglist tl;
	size_t pos, end, i, nfields = 0, idpos = 0, idlen = 0;
	int have_id = 0, r;

	id[0] = '\0';
	if (mtasts_taglist_open(&tl, rec, len, STS_VERSION, err) != MTASTS_OK)
		return MTASTS_INVALID;
	while ((r = mtasts_taglist_next(&tl, err)) == 1) {
		pos = tl.pos;
		end = mtasts_taglist_token_end(&tl, pos);
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
				    mtasts_taglist_qlen(n), rec + pos + 3,
				    pos + 3);
			idpos = pos + 3;
			idlen = n;
			have_id = 1;
		} else if (mtasts_taglist_extension(&tl, pos, err) == 0)
			return MTASTS_INVALID;
		nfields++;
		tl.pos = end;
	}
	if (r < 0)
		return MTASTS_INVALID;
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
mtasts_txt_select(const char *const *recs, const size_t *lens,
    size_t nrecs, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err)
{
	size_t which;
	int rc;

	id[0] = '\0';
	/*
	 * §3.1: "records that do not begin with 'v=STSv1;' are discarded".
	 * With erratum 6285 WSP may come before the ';' (D-TXT-2), so
	 * "v=STSv1 ;" counts, while "v=STSv10;", "v=STSv1.1", "v=stsv1;"
	 * and a bare "v=STSv1" are discarded. §3.1: "If the number of
	 * resulting records is not one" there is no policy.
	 */
	if ((rc = mtasts_taglist_select(recs, lens, nrecs, STS_VERSION, "STS",
	    &which, err)) != MTASTS_OK)
		return rc;
	return mtasts_txt_parse(recs[which], lens[which], id, err);
}
