/* SPDX-License-Identifier: ISC */
/*
 * fuzz_filter_proto.c - libFuzzer target for filter-mtasts's filter
 * protocol line parser (opensmtpd/filter_proto.c, compiled in here because
 * the fuzz build only builds the core). The input is the byte stream
 * smtpd writes to the filter; it is cut into lines at '\n' as
 * filter-mtasts's loop does and every line is parsed. Oracles: the kind is
 * in range; field pointers stay inside the line; a request has non-empty
 * session id and token; a line of a known version is never VERSION and
 * one of an unknown non-empty version always is; option parsing accepts
 * only in-range values.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../opensmtpd/filter_proto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
inside(const char *p, const char *base, size_t len)
{
	if (p != NULL && (p < base || p > base + len))
		abort();
}

static void
one_line(char *line, size_t len)
{
	struct mtasts_fproto_line l;
	char ver[32];
	const char *bar;
	size_t i, vlen;
	int k, filter, report, known, empty;
	long v;

	filter = strncmp(line, "filter|", 7) == 0;
	report = strncmp(line, "report|", 7) == 0;
	known = 0;
	empty = 1;
	if (filter || report) {
		bar = strchr(line + 7, '|');
		vlen = bar != NULL ? (size_t)(bar - (line + 7)) :
		    strlen(line + 7);
		empty = vlen == 0;
		if (vlen < sizeof(ver)) {
			memcpy(ver, line + 7, vlen);
			ver[vlen] = '\0';
			known = mtasts_fproto_version_ok(ver);
		}
	}
	k = mtasts_fproto_parse(line, &l);
	if (k < MTASTS_FPROTO_IGNORE || k > MTASTS_FPROTO_VERSION)
		abort();
	if (l.nf > MTASTS_FPROTO_FIELDS)
		abort();
	for (i = 0; i < l.nf; i++)
		inside(l.f[i], line, len);
	inside(l.sid, line, len);
	inside(l.token, line, len);
	inside(l.param, line, len);
	if (k == MTASTS_FPROTO_RCPT || k == MTASTS_FPROTO_OTHER_PHASE) {
		if (!filter || l.sid == NULL || l.token == NULL ||
		    l.sid[0] == '\0' || l.token[0] == '\0')
			abort();
		if (k == MTASTS_FPROTO_RCPT && l.param == NULL)
			abort();
	}
	if (k == MTASTS_FPROTO_REPORT_OUT && (!report || l.nf < 6))
		abort();
	if (k == MTASTS_FPROTO_VERSION && (!(filter || report) ||
	    mtasts_fproto_version_ok(l.f[1])))
		abort();
	if ((filter || report) &&
	    (k == MTASTS_FPROTO_VERSION) != (!empty && !known))
		abort();
	/* The same bytes as an option value. */
	if (mtasts_fproto_parse_long(line, 1, 64, &v) == 0 &&
	    (v < 1 || v > 64))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *p, *nl;

	if (size > 1 << 20)
		return 0;
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (p = buf; p < buf + size; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(buf + size - p))) == NULL)
			nl = buf + size;
		*nl = '\0';
		one_line(p, strlen(p));
	}
	free(buf);
	return 0;
}
