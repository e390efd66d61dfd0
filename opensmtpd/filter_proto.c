/* SPDX-License-Identifier: ISC */
/*
 * filter_proto.c - line layer of the OpenSMTPD filter protocol for
 * filter-mtasts (see filter_proto.h). smtpd 6.8's lka_filter.c writes:
 *
 *	config|subsystem|smtp-in		config|ready
 *	filter|<ver>|<ts>|smtp-in|<phase>|<sid>|<token>[|<param>]
 *	report|<ver>|<ts>|smtp-out|<event>|<sid>[|<fields>...]
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "filter_proto.h"

static const char *const versions[] = { "0.6", "0.7" };

int
mtasts_fproto_version_ok(const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		if (strcmp(v, versions[i]) == 0)
			return 1;
	return 0;
}

/* Split at '|' into at most max fields; the last keeps its '|'s. */
const char *
mtasts_fproto_expected(const char *announced)
{
	return announced != NULL && announced[0] != '\0' ? announced :
	    MTASTS_FPROTO_DEFAULT;
}

static size_t
split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line, *bar;

	while (n + 1 < max && (bar = strchr(p, '|')) != NULL) {
		*bar = '\0';
		f[n++] = p;
		p = bar + 1;
	}
	f[n++] = p;
	return n;
}

int
mtasts_fproto_parse(char *line, struct mtasts_fproto_line *out)
{
	memset(out, 0, sizeof(*out));
	if (strncmp(line, "config|", 7) == 0) {
		if (strcmp(line, "config|subsystem|smtp-in") == 0)
			out->kind = MTASTS_FPROTO_SUBSYS_IN;
		else if (strcmp(line, "config|subsystem|smtp-out") == 0)
			out->kind = MTASTS_FPROTO_SUBSYS_OUT;
		else if (strcmp(line, "config|ready") == 0)
			out->kind = MTASTS_FPROTO_READY;
		else
			out->kind = MTASTS_FPROTO_IGNORE;
		return out->kind;
	}
	if (strncmp(line, "filter|", 7) == 0) {
		out->nf = split(line, out->f, 8);
		if (out->f[1][0] != '\0' &&
		    !mtasts_fproto_version_ok(out->f[1]))
			return out->kind = MTASTS_FPROTO_VERSION;
		if (out->nf < 7 || out->f[1][0] == '\0' ||
		    strcmp(out->f[3], "smtp-in") != 0 ||
		    out->f[5][0] == '\0' || out->f[6][0] == '\0')
			return out->kind = MTASTS_FPROTO_MALFORMED;
		out->sid = out->f[5];
		out->token = out->f[6];
		if (strcmp(out->f[4], "rcpt-to") == 0 && out->nf == 8) {
			out->param = out->f[7];
			return out->kind = MTASTS_FPROTO_RCPT;
		}
		out->param = out->nf == 8 ? out->f[7] : NULL;
		return out->kind = MTASTS_FPROTO_OTHER_PHASE;
	}
	if (strncmp(line, "report|", 7) == 0) {
		out->nf = split(line, out->f, 10);
		if (out->f[1][0] != '\0' &&
		    !mtasts_fproto_version_ok(out->f[1]))
			return out->kind = MTASTS_FPROTO_VERSION;
		if (out->nf < 6 || out->f[1][0] == '\0')
			return out->kind = MTASTS_FPROTO_MALFORMED;
		if (strcmp(out->f[3], "smtp-out") != 0)
			return out->kind = MTASTS_FPROTO_IGNORE;
		return out->kind = MTASTS_FPROTO_REPORT_OUT;
	}
	return out->kind = MTASTS_FPROTO_IGNORE;
}

int
mtasts_fproto_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;	/* no sign, no blanks */
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
