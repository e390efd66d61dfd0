/* SPDX-License-Identifier: ISC */
/*
 * spool_read.c - reading TLS-RPT session spool lines (report_aggregate.c:
 * report build, metrics, status), with jansson. spool.c writes them; this
 * half is not in the Exim module's light half (D-LAZYNET-4).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mtasts_internal.h"


int
mtasts_spool_line_decode(const char *line, size_t n, json_t **rec)
{
	*rec = NULL;
	/*
	 * A line without its newline was torn by a crash or a full disk; an
	 * over-long one cannot come from mtasts_spool_rec_encode().
	 */
	if (n == 0 || line[n - 1] != '\n' || n > MTASTS_TLSRPT_RECORD_MAX ||
	    memchr(line, '\0', n) != NULL)
		return MTASTS_SPOOL_LINE_TORN;
	if (n == 1)
		return MTASTS_SPOOL_LINE_EMPTY;
	if ((*rec = json_loadb(line, n - 1, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL)
		return MTASTS_SPOOL_LINE_TORN;
	return MTASTS_SPOOL_LINE_RECORD;
}

int
mtasts_spool_rec_report_mail(const json_t *rec)
{
	return (json_integer_value(json_object_get(rec, "f")) &
	    MTASTS_TLSRPT_REC_REPORT_MAIL) != 0;
}

const char *
mtasts_spool_rec_key(const json_t *rec)
{
	json_t *k = json_object_get(rec, "k");

	return json_is_string(k) ? json_string_value(k) : NULL;
}

int
mtasts_spool_rec_id(const json_t *rec, uint64_t *id)
{
	json_t *u = json_object_get(rec, "u");
	const char *p;
	uint64_t v = 0;
	size_t i;

	if (u == NULL)
		return 0;
	if (!json_is_string(u) || json_string_length(u) !=
	    MTASTS_SPOOL_ID_LEN)
		return -1;
	p = json_string_value(u);
	/* Lower case only: one spelling per id. */
	if (strspn(p, "0123456789abcdef") != MTASTS_SPOOL_ID_LEN)
		return -1;
	for (i = 0; i < MTASTS_SPOOL_ID_LEN; i++)
		v = v << 4 | (uint64_t)mtasts_hexval((unsigned char)p[i]);
	*id = v;
	return 1;
}

/* A string member or NULL; a present non-string member is an error. */
static int
opt_str(json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
str_array(json_t *v)
{
	size_t i;
	json_t *e;

	if (v == NULL)
		return 1;
	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return 0;
	return 1;
}

int
mtasts_spool_rec_parse(json_t *rec, struct mtasts_spool_rec *f)
{
	memset(f, 0, sizeof(*f));
	if (!json_is_object(rec))
		return 1;
	f->ps = json_object_get(rec, "ps");
	f->mx = json_object_get(rec, "mx");
	/* The domain is LDH (hostname_valid): a label can never carry it. */
	if (json_integer_value(json_object_get(rec, "v")) !=
	    MTASTS_SPOOL_VERSION ||
	    opt_str(rec, "d", &f->d) != 0 || f->d == NULL ||
	    !mtasts_hostname_valid(f->d, strlen(f->d)) ||
	    opt_str(rec, "pt", &f->pt) != 0 || f->pt == NULL ||
	    !mtasts_spool_policy_type_known(f->pt) ||
	    opt_str(rec, "r", &f->r) != 0 ||
	    (f->r != NULL && mtasts_tlsrpt_result_type_index(f->r) == -1) ||
	    opt_str(rec, "si", &f->si) != 0 ||
	    opt_str(rec, "rh", &f->rh) != 0 ||
	    opt_str(rec, "ri", &f->ri) != 0 ||
	    opt_str(rec, "fr", &f->fr) != 0 ||
	    opt_str(rec, "rhelo", &f->helo) != 0 || !str_array(f->ps) ||
	    !str_array(f->mx))
		return 1;
	return 0;
}
