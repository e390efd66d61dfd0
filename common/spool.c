/* SPDX-License-Identifier: ISC */
/*
 * spool.c - the TLS-RPT session spool record: one JSON line, written by
 * tlsrpt.c (mtasts_spool_rec_encode, here) and read by report_aggregate.c
 * (mtasts_spool_line_decode, mtasts_spool_rec_parse: spool_read.c). These
 * two files are the only ones that know the record's keys, its version
 * and what a well-formed record is.
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

#include "mtasts_internal.h"

/* Bytes an attempt key keeps in the spool (D-RPT-12). */
#define SPOOL_KEY_MAX 128
/* Bytes a failure reason keeps in the spool. */
#define SPOOL_REASON_MAX 256

/* By enum mtasts_policy_type; RFC 8460 §4.4 policy-type. */
static const char *const policy_types[] = { "no-policy-found", "sts",
	"tlsa" };

int
mtasts_spool_policy_type_known(const char *pt)
{
	size_t i;

	for (i = 0; i < sizeof(policy_types) / sizeof(policy_types[0]); i++)
		if (strcmp(pt, policy_types[i]) == 0)
			return 1;
	return 0;
}

/*
 * The line is written here by hand, not through jansson: spool.c is part
 * of the light half that every Exim delivery process loads, which links no
 * JSON library (D-LAZYNET-4). The text is exactly what jansson's
 * json_dumps(JSON_COMPACT) made of the same object before (test_tlsrpt and
 * fuzz_spool_report compare the two byte for byte): members in the order
 * written, jansson's escapes, and a string that is not well-formed UTF-8
 * left out, as json_string() refused it. Readers parse it with jansson
 * (spool_read.c).
 */
struct spool_w {
	char	*buf;			/* MTASTS_TLSRPT_RECORD_MAX + 1 */
	size_t	 len;
	int	 over;			/* something did not fit */
	int	 comma;			/* a value ends the text so far */
};

/*
 * Bytes s[0..n) takes as a JSON string, its quotes included, or 0 when it
 * is not well-formed UTF-8.
 */
static size_t
jstr_cost(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, c = 2, k;

	while (i < n) {
		if (u[i] >= 0x80) {
			if ((k = mtasts_utf8_len(u + i, n - i)) == 0)
				return 0;
			c += k;
			i += k;
			continue;
		}
		if (u[i] == '"' || u[i] == '\\' || u[i] == '\b' ||
		    u[i] == '\f' || u[i] == '\n' || u[i] == '\r' ||
		    u[i] == '\t')
			c += 2;
		else if (u[i] < 0x20)
			c += 6;		/* \u00XX */
		else
			c++;
		i++;
	}
	return c;
}

static void
w_put(struct spool_w *w, const char *p, size_t n)
{
	if (w->over || n > MTASTS_TLSRPT_RECORD_MAX - w->len) {
		w->over = 1;
		return;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
w_sep(struct spool_w *w)
{
	if (w->comma)
		w_put(w, ",", 1);
	w->comma = 0;
}

/* s[0..n), well-formed UTF-8 (jstr_cost), as jansson escapes it. */
static void
w_str(struct spool_w *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t i, run;

	w_sep(w);
	w_put(w, "\"", 1);
	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n &&
		    (unsigned char)s[i + run] >= 0x20 && s[i + run] != '"' &&
		    s[i + run] != '\\'; run++)
			;
		if (run > 0) {
			w_put(w, s + i, run);
			continue;
		}
		run = 1;
		switch (s[i]) {
		case '"':
			w_put(w, "\\\"", 2);
			break;
		case '\\':
			w_put(w, "\\\\", 2);
			break;
		case '\b':
			w_put(w, "\\b", 2);
			break;
		case '\f':
			w_put(w, "\\f", 2);
			break;
		case '\n':
			w_put(w, "\\n", 2);
			break;
		case '\r':
			w_put(w, "\\r", 2);
			break;
		case '\t':
			w_put(w, "\\t", 2);
			break;
		default:
			esc[4] = hex[(unsigned char)s[i] >> 4];
			esc[5] = hex[(unsigned char)s[i] & 0xf];
			w_put(w, esc, sizeof(esc));
		}
	}
	w_put(w, "\"", 1);
	w->comma = 1;
}

/* "key": (keys are plain ASCII constants). */
static void
w_key(struct spool_w *w, const char *k)
{
	w_sep(w);
	w_put(w, "\"", 1);
	w_put(w, k, strlen(k));
	w_put(w, "\":", 2);
}

static void
w_open(struct spool_w *w, const char *key, char c)
{
	if (key != NULL)
		w_key(w, key);
	else
		w_sep(w);
	w_put(w, &c, 1);
	w->comma = 0;
}

static void
w_close(struct spool_w *w, char c)
{
	w_put(w, &c, 1);
	w->comma = 1;
}

static void
w_int(struct spool_w *w, const char *key, long long v)
{
	char num[24];
	int n;

	w_key(w, key);
	n = snprintf(num, sizeof(num), "%lld", v);
	w_put(w, num, n > 0 ? (size_t)n : 0);
	w->comma = 1;
}

/* "key":"s", or nothing when s is not well-formed UTF-8. */
static void
w_member(struct spool_w *w, const char *key, const char *s)
{
	size_t n = strlen(s);

	if (jstr_cost(s, n) == 0)
		return;
	w_key(w, key);
	w_str(w, s, n);
}

/* Untrusted text (peer EHLO, error strings) as printable ASCII. */
static void
w_safe(struct spool_w *w, const char *key, const char *s, size_t max)
{
	char buf[SPOOL_REASON_MAX + 1];

	if (max > SPOOL_REASON_MAX)
		max = SPOOL_REASON_MAX;
	mtasts_sanitize(s, buf, max + 1);
	w_member(w, key, buf);
}

/* The ']' of the array w_capped() opened, if it did. */
static void
w_capped_end(struct spool_w *w, int *open)
{
	if (*open)
		w_close(w, ']');
	*open = 0;
}

/*
 * One element of the array "key" while the budget allows: the key and
 * '[' come with the first element that fits (an empty array is left
 * out); *truncated when one does not fit or is not UTF-8.
 */
static void
w_capped(struct spool_w *w, const char *key, int *open, const char *s,
    size_t n, size_t *budget, int *truncated)
{
	size_t c = jstr_cost(s, n);

	/* Its cost in the array: the string and its comma. */
	if (c == 0 || c + 1 > *budget) {
		*truncated = 1;
		return;
	}
	*budget -= c + 1;
	if (!*open) {
		w_open(w, key, '[');
		*open = 1;
	}
	w_str(w, s, n);
}

char *
mtasts_spool_rec_encode(const struct mtasts_tlsrpt_session *s,
    const char *domain, const char *mxh, const char *mxip, const char *sip,
    time_t when, size_t *len)
{
	struct spool_w w = { NULL, 0, 0, 0 };
	size_t base, budget, i;
	int truncated = 0, open;

	*len = 0;
	if ((w.buf = malloc(MTASTS_TLSRPT_RECORD_MAX + 1)) == NULL)
		return NULL;
	w_open(&w, NULL, '{');
	w_int(&w, "v", MTASTS_SPOOL_VERSION);
	w_int(&w, "t", (long long)when);
	w_member(&w, "d", domain);
	w_member(&w, "pt", policy_types[s->policy_type]);
	if (mxh[0] != '\0')
		w_member(&w, "rh", mxh);
	if (mxip[0] != '\0')
		w_member(&w, "ri", mxip);
	if (sip[0] != '\0')
		w_member(&w, "si", sip);
	if (s->mx_helo != NULL && s->mx_helo[0] != '\0')
		w_safe(&w, "rhelo", s->mx_helo, MTASTS_TLSRPT_HELO_MAX);
	if (s->result_type != NULL) {
		w_member(&w, "r", s->result_type);
		if (s->failure_reason != NULL && s->failure_reason[0] != '\0')
			w_safe(&w, "fr", s->failure_reason,
			    SPOOL_REASON_MAX);
	}
	if (s->attempt_key != NULL && s->attempt_key[0] != '\0')
		w_safe(&w, "k", s->attempt_key, SPOOL_KEY_MAX);
	if (s->flags & MTASTS_TLSRPT_REPORT_MAIL)
		w_int(&w, "f", MTASTS_TLSRPT_REC_REPORT_MAIL);
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
			w_member(&w, "u", hex);
		}
	}
	/* Room left for the arrays: key overhead, "tr", newline. */
	base = w.len + 1;	/* with its closing brace */
	if (w.over || base + 40 > MTASTS_TLSRPT_RECORD_MAX)
		goto fail;
	budget = MTASTS_TLSRPT_RECORD_MAX - base - 40;
	open = 0;
	if (s->policy_type == MTASTS_POLICY_TYPE_STS && s->policy != NULL) {
		/* §4.4: policy-string is the policy as served, line by line. */
		for (i = 0; i < mtasts_policy_line_count(s->policy); i++)
			w_capped(&w, "ps", &open, mtasts_policy_line(s->policy,
			    i), strlen(mtasts_policy_line(s->policy, i)),
			    &budget, &truncated);
		w_capped_end(&w, &open);
		for (i = 0; i < mtasts_policy_mx_count(s->policy); i++)
			w_capped(&w, "mx", &open, mtasts_policy_mx(s->policy,
			    i), strlen(mtasts_policy_mx(s->policy, i)),
			    &budget, &truncated);
	} else if (s->policy_type == MTASTS_POLICY_TYPE_TLSA) {
		const char *p = s->tlsa_records != NULL ? s->tlsa_records :
		    "";

		/* §4.4: each TLSA RR's presentation RDATA, one per line. */
		while (*p != '\0') {
			size_t n = strcspn(p, "\n");

			if (n > 0)
				w_capped(&w, "ps", &open, p, n, &budget,
				    &truncated);
			p += n;
			if (*p == '\n')
				p++;
		}
		w_capped_end(&w, &open);
		if (mxh[0] != '\0')
			w_capped(&w, "mx", &open, mxh, strlen(mxh), &budget,
			    &truncated);
	}
	w_capped_end(&w, &open);
	if (truncated)
		w_int(&w, "tr", 1);
	w_close(&w, '}');
	w_put(&w, "\n", 1);
	if (w.over)
		goto fail;
	w.buf[w.len] = '\0';
	*len = w.len;
	return w.buf;
fail:
	free(w.buf);
	return NULL;
}
