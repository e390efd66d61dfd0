/* SPDX-License-Identifier: ISC */
/*
 * spool_ref.h - the oracle for spool.c's hand-written record writer: the
 * jansson encoder it replaced (D-LAZYNET-4), kept only here, for
 * test_tlsrpt and fuzz_spool_encode. spool_ref_encode() is what
 * mtasts_spool_rec_encode() wrote before, with the record id "u" given
 * (it is random in the real one). Both must produce the same bytes.
 */
#ifndef MTASTS_TEST_SPOOL_REF_H
#define MTASTS_TEST_SPOOL_REF_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal/spool.h"
#include "internal/tlsrpt.h"
#include "internal/util.h"

static const char *const spool_ref_types[] = { "no-policy-found", "sts",
	"tlsa" };

static json_t *
spool_ref_safe(const char *s, size_t max)
{
	char buf[256 + 1];

	if (max > 256)
		max = 256;
	mtasts_sanitize(s, buf, max + 1);
	return json_string(buf);
}

static size_t
spool_ref_cost(json_t *str)
{
	return json_dumpb(str, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT) + 1;
}

static void
spool_ref_capped(json_t *a, json_t *line, size_t *budget, int *truncated)
{
	size_t c;

	if (line == NULL) {
		*truncated = 1;
		return;
	}
	c = spool_ref_cost(line);
	if (c > *budget) {
		*truncated = 1;
		json_decref(line);
		return;
	}
	*budget -= c;
	json_array_append_new(a, line);
}

/* u: the record id to write, or NULL for none. NULL when it cannot fit. */
static char *
spool_ref_encode(const struct mtasts_tlsrpt_session *s, const char *domain,
    const char *mxh, const char *mxip, const char *sip, time_t when,
    const char *u)
{
	json_t *o, *ps = NULL, *mx = NULL;
	char *out = NULL, *nl;
	size_t base, budget, i, len;
	int truncated = 0;

	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "v", json_integer(MTASTS_SPOOL_VERSION));
	json_object_set_new(o, "t", json_integer((json_int_t)when));
	json_object_set_new(o, "d", json_string(domain));
	json_object_set_new(o, "pt", json_string(
	    spool_ref_types[s->policy_type]));
	if (mxh[0] != '\0')
		json_object_set_new(o, "rh", json_string(mxh));
	if (mxip[0] != '\0')
		json_object_set_new(o, "ri", json_string(mxip));
	if (sip[0] != '\0')
		json_object_set_new(o, "si", json_string(sip));
	if (s->mx_helo != NULL && s->mx_helo[0] != '\0')
		json_object_set_new(o, "rhelo", spool_ref_safe(s->mx_helo,
		    MTASTS_TLSRPT_HELO_MAX));
	if (s->result_type != NULL) {
		json_object_set_new(o, "r", json_string(s->result_type));
		if (s->failure_reason != NULL && s->failure_reason[0] != '\0')
			json_object_set_new(o, "fr", spool_ref_safe(
			    s->failure_reason, 256));
	}
	if (s->attempt_key != NULL && s->attempt_key[0] != '\0')
		json_object_set_new(o, "k", spool_ref_safe(s->attempt_key,
		    128));
	if (s->flags & MTASTS_TLSRPT_REPORT_MAIL)
		json_object_set_new(o, "f",
		    json_integer(MTASTS_TLSRPT_REC_REPORT_MAIL));
	if (u != NULL)
		json_object_set_new(o, "u", json_string(u));
	base = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (base == 0 || base + 40 > MTASTS_TLSRPT_RECORD_MAX)
		goto done;
	budget = MTASTS_TLSRPT_RECORD_MAX - base - 40;
	ps = json_array();
	mx = json_array();
	if (ps == NULL || mx == NULL)
		goto done;
	if (s->policy_type == MTASTS_POLICY_TYPE_STS && s->policy != NULL) {
		for (i = 0; i < mtasts_policy_line_count(s->policy); i++)
			spool_ref_capped(ps, json_string(mtasts_policy_line(
			    s->policy, i)), &budget, &truncated);
		for (i = 0; i < mtasts_policy_mx_count(s->policy); i++)
			spool_ref_capped(mx, json_string(mtasts_policy_mx(
			    s->policy, i)), &budget, &truncated);
	} else if (s->policy_type == MTASTS_POLICY_TYPE_TLSA) {
		const char *p = s->tlsa_records != NULL ? s->tlsa_records :
		    "";

		while (*p != '\0') {
			size_t n = strcspn(p, "\n");

			if (n > 0)
				spool_ref_capped(ps, json_stringn(p, n),
				    &budget, &truncated);
			p += n;
			if (*p == '\n')
				p++;
		}
		if (mxh[0] != '\0')
			spool_ref_capped(mx, json_string(mxh), &budget,
			    &truncated);
	}
	if (json_array_size(ps) > 0)
		json_object_set(o, "ps", ps);
	if (json_array_size(mx) > 0)
		json_object_set(o, "mx", mx);
	if (truncated)
		json_object_set_new(o, "tr", json_integer(1));
	if ((out = json_dumps(o, JSON_COMPACT)) == NULL)
		goto done;
	len = strlen(out);
	if (len + 1 > MTASTS_TLSRPT_RECORD_MAX || (nl = realloc(out,
	    len + 2)) == NULL) {
		free(out);
		out = NULL;
		goto done;
	}
	out = nl;
	out[len] = '\n';
	out[len + 1] = '\0';
done:
	json_decref(ps);
	json_decref(mx);
	json_decref(o);
	return out;
}

/*
 * The record id of a line mtasts_spool_rec_encode() wrote, into u (17
 * bytes), or "" when it has none.
 */
static void
spool_ref_id(const char *line, char *u)
{
	const char *p = strstr(line, ",\"u\":\"");

	u[0] = '\0';
	if (p != NULL && strlen(p + 6) >= MTASTS_SPOOL_ID_LEN) {
		memcpy(u, p + 6, MTASTS_SPOOL_ID_LEN);
		u[MTASTS_SPOOL_ID_LEN] = '\0';
	}
}

#endif /* MTASTS_TEST_SPOOL_REF_H */
