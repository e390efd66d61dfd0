/* SPDX-License-Identifier: ISC */
/*
 * fuzz_spool_report.c - libFuzzer target for spool -> report -> mail
 * (common/report_*.c, spool.c, tlsrpt.c): the input is one UTC day's spool
 * file as the report job finds it (torn, hostile or fine lines). The
 * builder runs with a fake TLSRPT lookup (no DNS), and every report goes
 * through gzip and the RFC 8460 §5.3 mail, never to sendmail. Oracles: the
 * build never fails on spool content; every line is counted exactly once
 * (a record, torn/malformed, or report mail); every report is valid JSON
 * with the §4 shape and consistent counts; the session counts add up to
 * the records; gzip inflates back to the JSON; the mail is 7-bit CRLF text
 * with lines of at most 998 octets whose attachment decodes to the gzip.
 * The metrics tally (mtasts_spool_tally) reads the same counts.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "internal/ctx.h"
#include "internal/domain.h"
#include "internal/report.h"
#include "internal/tlsrpt.h"
#include "internal/tlsrpt_txt.h"
#include "internal/util.h"

/* 2024-03-01 00:00:00 UTC */
#define DAY0 1709251200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct mtasts_ctx *ctx;
static char spool[256], path[300], dropped[320];

/* Domains starting "n" have no TLSRPT record, "t" a failed lookup. */
static int
fake_rua(void *arg, struct mtasts_ctx *c, const char *domain,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	static const char rec[] = "v=TLSRPTv1; rua=mailto:rpt@example.com,"
	    "https://rpt.example.com/v1";

	(void)arg;
	(void)c;
	memset(out, 0, sizeof(*out));
	if (domain[0] == 'n')
		return mtasts_err(err, MTASTS_NOTFOUND, "no record");
	if (domain[0] == 't')
		return mtasts_err(err, MTASTS_TEMPFAIL, "SERVFAIL");
	return mtasts_tlsrpt_txt_parse(rec, sizeof(rec) - 1, out, err);
}

static void
setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char p[300];

	snprintf(spool, sizeof(spool), "%s/fuzz_spool.XXXXXX",
	    tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(spool) == NULL || (ctx = mtasts_ctx_new()) == NULL)
		abort();
	snprintf(p, sizeof(p), "%s/reports", spool);
	if (mtasts_ctx_set(ctx, "tlsrpt_dir", spool, NULL) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "report_dir", p, NULL) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "report_contact", "tlsrpt@sender.example",
	    NULL) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "report_org_name", "Sender Org", NULL) !=
	    MTASTS_OK)
		abort();
	if (mtasts_tlsrpt_spool_path(ctx, DAY0, path, sizeof(path)) != 0)
		abort();
	snprintf(dropped, sizeof(dropped), "%s.dropped", path);
}

/* Lines the reader sees: getline() segments other than a lone "\n". */
static size_t
count_lines(const uint8_t *d, size_t n)
{
	size_t i, start = 0, lines = 0;

	for (i = 0; i < n; i++)
		if (d[i] == '\n') {
			if (i > start)
				lines++;
			start = i + 1;
		}
	return lines + (start < n);
}

static json_int_t
ival(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		abort();
	return json_integer_value(v);
}

/* §4 shape and counts of one report; returns its sessions. */
static json_int_t
check_report(const struct mtasts_report *r)
{
	json_t *root, *pols, *p, *sum, *fds, *f, *pol;
	json_int_t total = 0, fail, fsum;
	size_t i, j;

	root = json_loadb(r->json, r->json_len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (root == NULL || !json_is_object(root) ||
	    !json_is_string(json_object_get(root, "organization-name")) ||
	    !json_is_string(json_object_get(root, "contact-info")) ||
	    !json_is_string(json_object_get(root, "report-id")) ||
	    !json_is_object(json_object_get(root, "date-range")))
		abort();
	pols = json_object_get(root, "policies");
	if (!json_is_array(pols) || json_array_size(pols) == 0)
		abort();
	json_array_foreach(pols, i, p) {
		pol = json_object_get(p, "policy");
		sum = json_object_get(p, "summary");
		if (!json_is_object(pol) || !json_is_object(sum) ||
		    !json_is_string(json_object_get(pol, "policy-type")) ||
		    strcmp(json_string_value(json_object_get(pol,
		    "policy-domain")), r->domain) != 0)
			abort();
		fail = ival(sum, "total-failure-session-count");
		total += ival(sum, "total-successful-session-count") + fail;
		fds = json_object_get(p, "failure-details");
		fsum = 0;
		if (fds != NULL) {
			if (!json_is_array(fds))
				abort();
			json_array_foreach(fds, j, f) {
				if (!json_is_string(json_object_get(f,
				    "result-type")))
					abort();
				fsum += ival(f, "failed-session-count");
			}
		}
		/* Every failed session is in exactly one detail. */
		if (fsum != fail)
			abort();
	}
	json_decref(root);
	return total;
}

static void
check_gzip(const struct mtasts_report *r, const char *gz, size_t gzlen)
{
	z_stream z;
	char *out = malloc(r->json_len + 1);
	int rc;

	memset(&z, 0, sizeof(z));
	if (out == NULL || inflateInit2(&z, 15 + 16) != Z_OK)
		abort();
	z.next_in = (Bytef *)(uintptr_t)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)r->json_len + 1;
	rc = inflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END || z.total_out != r->json_len ||
	    memcmp(out, r->json, r->json_len) != 0)
		abort();
	inflateEnd(&z);
	free(out);
}

static void
check_mail(const char *m, size_t len, const char *gz, size_t gzlen)
{
	static const char att[] = "Content-Transfer-Encoding: base64\r\n\r\n";
	const char *p, *end = m + len;
	unsigned char *dec;
	char *b64;
	size_t i, line = 0, n = 0;
	int d;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)m[i];

		if (c == 0 || c >= 0x80 || (c == '\r' && (i + 1 == len ||
		    m[i + 1] != '\n')) || (c == '\n' && (i == 0 ||
		    m[i - 1] != '\r')))
			abort();
		line = c == '\n' ? 0 : line + 1;
		if (line > 999)
			abort();
	}
	if (len < 2 || m[len - 1] != '\n' || strstr(m,
	    "Content-Type: multipart/report; report-type=\"tlsrpt\"") == NULL)
		abort();
	if ((p = strstr(m, att)) == NULL)
		abort();
	p += sizeof(att) - 1;
	if ((b64 = malloc(len)) == NULL ||
	    (dec = malloc(len)) == NULL)
		abort();
	while (p < end && *p != '\r') {
		while (p < end && *p != '\r')
			b64[n++] = *p++;
		p += 2;
	}
	b64[n] = '\0';
	d = EVP_DecodeBlock(dec, (unsigned char *)b64, (int)n);
	if (d < 0 || (size_t)d < gzlen || (size_t)d > gzlen + 2 ||
	    memcmp(dec, gz, gzlen) != 0)
		abort();
	free(b64);
	free(dec);
}

/*
 * `mtasts metrics|status` read the same file through mtasts_spool_tally()
 * (D-MET-1): the same records, torn lines, report mail, duplicates and
 * copies as the build, sessions adding up, and every domain an LDH name
 * (it becomes a Prometheus label value, D-MET-5).
 */
static void
check_tally(const struct mtasts_report_counts *bst)
{
	struct mtasts_tally t;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	size_t i, k, sum = 0;
	int rc;

	rc = mtasts_spool_tally(ctx, DAY0, NULL, 0, &t, &st, &err);
	if (rc == MTASTS_NOMEM)
		return;
	if (rc != MTASTS_OK || st.records != bst->records ||
	    st.torn != bst->torn || st.excluded != bst->excluded ||
	    st.duplicates != bst->duplicates || st.copies != bst->copies ||
	    t.n != bst->domains)
		abort();
	for (i = 0; i < t.n; i++) {
		size_t f = 0;

		if (!mtasts_hostname_valid(t.v[i].domain,
		    strlen(t.v[i].domain)))
			abort();
		for (k = 0; k < MTASTS_TLSRPT_RESULT_TYPES; k++)
			f += t.v[i].fail[k];
		if (f != t.v[i].failed || t.v[i].enforce_failed > f)
			abort();
		sum += t.v[i].ok + t.v[i].failed;
	}
	if (sum != st.records)
		abort();
	mtasts_tally_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_report *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	json_int_t sessions = 0;
	size_t n = 0, i, lines;
	int fd, rc;

	if (ctx == NULL)
		setup();
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660)) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	memset(&st, 0, sizeof(st));
	rc = mtasts_report_build(ctx, DAY0, fake_rua, NULL, &v, &n, &st,
	    &err);
	if (rc == MTASTS_NOMEM)
		return 0;
	if (rc != MTASTS_OK)
		abort();
	lines = count_lines(data, size);
	/*
	 * Every line once: a record, torn, report mail, a repeated
	 * delivery attempt (D-RPT-12) or a copy of a line (D-RPT-17).
	 */
	if (st.records + st.torn + st.excluded + st.duplicates +
	    st.copies != lines ||
	    st.dropped != 0 ||
	    n > st.domains || st.no_tlsrpt + st.tempfail + n != st.domains)
		abort();
	for (i = 0; i < n; i++) {
		char *gz = NULL, *msg = NULL;
		size_t gzlen = 0, mlen = 0;

		if (i > 0 && strcmp(v[i - 1].domain, v[i].domain) >= 0)
			abort();
		if (v[i].file_name[0] == '\0' || v[i].rua.nrua == 0)
			abort();
		sessions += check_report(&v[i]);
		if (mtasts_report_gzip(v[i].json, v[i].json_len, &gz,
		    &gzlen) != 0 || gz == NULL)
			abort();
		check_gzip(&v[i], gz, gzlen);
		if (mtasts_report_mail(ctx, &v[i], "rpt@example.com", gz,
		    gzlen, DAY0 + 86400 + 60, &msg, &mlen, &err) != MTASTS_OK)
			abort();
		check_mail(msg, mlen, gz, gzlen);
		free(msg);
		free(gz);
	}
	/* Sessions of domains without a report are not in any. */
	if ((size_t)sessions > st.records || (st.no_tlsrpt + st.tempfail ==
	    0 && (size_t)sessions != st.records))
		abort();
	mtasts_report_free(v, n);
	check_tally(&st);
	return 0;
}
