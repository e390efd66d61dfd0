/* SPDX-License-Identifier: ISC */
/*
 * spool.c - the TLS-RPT session spool record: one JSON line, written by
 * tlsrpt.c (mtasts_spool_rec_encode) and read by report_aggregate.c
 * (mtasts_spool_line_decode, mtasts_spool_rec_parse). The one place that
 * knows the record's keys, its version and what a well-formed record is.
 *
 * Record keys (short, the line is capped at MTASTS_TLSRPT_RECORD_MAX): v
 * format version, t time, d policy domain, pt policy type, ps
 * policy-string lines, mx mx-host patterns, rh/ri receiving MX name/IP,
 * rhelo its EHLO name, si sending IP, r result type (absent on success),
 * fr failure-reason-code, f flags, k attempt key (D-RPT-12), u record id
 * (D-RPT-17), tr 1 when fields were truncated to fit.
 */
#include <sys/random.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mtasts_internal.h"

#define SPOOL_VERSION 1
/* Bytes an attempt key keeps in the spool (D-RPT-12). */
#define SPOOL_KEY_MAX 128
/* Bytes a failure reason keeps in the spool. */
#define SPOOL_REASON_MAX 256

/* By enum mtasts_policy_type; RFC 8460 §4.4 policy-type. */
static const char *const policy_types[] = { "no-policy-found", "sts",
	"tlsa" };

/* Untrusted text (peer EHLO, error strings) as printable ASCII. */
static json_t *
safe_string(const char *s, size_t max)
{
	char buf[SPOOL_REASON_MAX + 1];

	if (max > SPOOL_REASON_MAX)
		max = SPOOL_REASON_MAX;
	mtasts_sanitize(s, buf, max + 1);
	return json_string(buf);
}

/* Bytes str adds to a compact JSON array (with its comma). */
static size_t
json_cost(json_t *str)
{
	return json_dumpb(str, NULL, 0, JSON_ENCODE_ANY | JSON_COMPACT) + 1;
}

/*
 * Append lines to array a while budget allows; *truncated set when some
 * did not fit. Each line is checked as UTF-8 (jansson) and skipped if not.
 */
static void
add_capped(json_t *a, json_t *line, size_t *budget, int *truncated)
{
	size_t c;

	if (line == NULL) {
		*truncated = 1;
		return;
	}
	c = json_cost(line);
	if (c > *budget) {
		*truncated = 1;
		json_decref(line);
		return;
	}
	*budget -= c;
	json_array_append_new(a, line);
}

char *
mtasts_spool_rec_encode(const struct mtasts_tlsrpt_session *s,
    const char *domain, const char *mxh, const char *mxip, const char *sip,
    time_t when, size_t *len)
{
	json_t *o, *ps = NULL, *mx = NULL;
	char *out = NULL;
	size_t base, budget, i;
	int truncated = 0;

	*len = 0;
	if ((o = json_object()) == NULL)
		return NULL;
	json_object_set_new(o, "v", json_integer(SPOOL_VERSION));
	json_object_set_new(o, "t", json_integer((json_int_t)when));
	json_object_set_new(o, "d", json_string(domain));
	json_object_set_new(o, "pt", json_string(
	    policy_types[s->policy_type]));
	if (mxh[0] != '\0')
		json_object_set_new(o, "rh", json_string(mxh));
	if (mxip[0] != '\0')
		json_object_set_new(o, "ri", json_string(mxip));
	if (sip[0] != '\0')
		json_object_set_new(o, "si", json_string(sip));
	if (s->mx_helo != NULL && s->mx_helo[0] != '\0')
		json_object_set_new(o, "rhelo", safe_string(s->mx_helo,
		    MTASTS_TLSRPT_HELO_MAX));
	if (s->result_type != NULL) {
		json_object_set_new(o, "r", json_string(s->result_type));
		if (s->failure_reason != NULL && s->failure_reason[0] != '\0')
			json_object_set_new(o, "fr", safe_string(
			    s->failure_reason, SPOOL_REASON_MAX));
	}
	if (s->attempt_key != NULL && s->attempt_key[0] != '\0')
		json_object_set_new(o, "k", safe_string(s->attempt_key,
		    SPOOL_KEY_MAX));
	if (s->flags & MTASTS_TLSRPT_REPORT_MAIL)
		json_object_set_new(o, "f",
		    json_integer(MTASTS_TLSRPT_REC_REPORT_MAIL));
	/*
	 * D-RPT-17: a random record id, so that a line shipped twice
	 * (rsyslog is at-least-once) is counted once. Without entropy the
	 * record is written without one: counted, never deduplicated.
	 */
	{
		uint64_t u;
		char hex[MTASTS_SPOOL_ID_LEN + 1];

		if (getrandom(&u, sizeof(u), GRND_NONBLOCK) ==
		    (ssize_t)sizeof(u)) {
			snprintf(hex, sizeof(hex), "%016llx",
			    (unsigned long long)u);
			json_object_set_new(o, "u", json_string(hex));
		}
	}
	/* Room left for the arrays: key overhead, "tr", newline. */
	base = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (base == 0 || base + 40 > MTASTS_TLSRPT_RECORD_MAX)
		goto done;
	budget = MTASTS_TLSRPT_RECORD_MAX - base - 40;
	ps = json_array();
	mx = json_array();
	if (ps == NULL || mx == NULL)
		goto done;
	if (s->policy_type == MTASTS_POLICY_TYPE_STS && s->policy != NULL) {
		/* §4.4: policy-string is the policy as served, line by line. */
		for (i = 0; i < mtasts_policy_line_count(s->policy); i++)
			add_capped(ps, json_string(mtasts_policy_line(
			    s->policy, i)), &budget, &truncated);
		for (i = 0; i < mtasts_policy_mx_count(s->policy); i++)
			add_capped(mx, json_string(mtasts_policy_mx(s->policy,
			    i)), &budget, &truncated);
	} else if (s->policy_type == MTASTS_POLICY_TYPE_TLSA) {
		const char *p = s->tlsa_records != NULL ? s->tlsa_records :
		    "";

		/* §4.4: each TLSA RR's presentation RDATA, one per line. */
		while (*p != '\0') {
			size_t n = strcspn(p, "\n");

			if (n > 0)
				add_capped(ps, json_stringn(p, n), &budget,
				    &truncated);
			p += n;
			if (*p == '\n')
				p++;
		}
		if (mxh[0] != '\0')
			add_capped(mx, json_string(mxh), &budget, &truncated);
	}
	if (json_array_size(ps) > 0)
		json_object_set(o, "ps", ps);
	if (json_array_size(mx) > 0)
		json_object_set(o, "mx", mx);
	if (truncated)
		json_object_set_new(o, "tr", json_integer(1));
	if ((out = json_dumps(o, JSON_COMPACT)) == NULL)
		goto done;
	*len = strlen(out);
	if (*len + 1 > MTASTS_TLSRPT_RECORD_MAX) {
		free(out);
		out = NULL;
		*len = 0;
		goto done;
	}
	/* json_dumps allocates exactly; make room for the newline. */
	{
		char *nl = realloc(out, *len + 2);

		if (nl == NULL) {
			free(out);
			out = NULL;
			*len = 0;
			goto done;
		}
		out = nl;
		out[(*len)++] = '\n';
		out[*len] = '\0';
	}
done:
	json_decref(ps);
	json_decref(mx);
	json_decref(o);
	return out;
}


/* ---- reading ---- */

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


/* 1 if pt is one of the policy types the writer writes. */
static int
known_policy_type(const char *pt)
{
	size_t i;

	for (i = 0; i < sizeof(policy_types) / sizeof(policy_types[0]); i++)
		if (strcmp(pt, policy_types[i]) == 0)
			return 1;
	return 0;
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
	if (json_integer_value(json_object_get(rec, "v")) != SPOOL_VERSION ||
	    opt_str(rec, "d", &f->d) != 0 || f->d == NULL ||
	    !mtasts_hostname_valid(f->d, strlen(f->d)) ||
	    opt_str(rec, "pt", &f->pt) != 0 || f->pt == NULL ||
	    !known_policy_type(f->pt) || opt_str(rec, "r", &f->r) != 0 ||
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
