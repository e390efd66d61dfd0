/* SPDX-License-Identifier: ISC */
/*
 * filter_proto.h - the line layer of the OpenSMTPD filter protocol as
 * filter-mtasts speaks it (smtpd 6.8: 0.6; 0.7 uses the same lines), kept
 * apart from the program so it can be fuzzed (fuzz/fuzz_filter_proto.c).
 * Pure: no I/O, no allocation, no globals.
 */
#ifndef MTASTS_FILTER_PROTO_H
#define MTASTS_FILTER_PROTO_H

#include <stddef.h>

/* Most '|'-separated fields kept; the last one keeps any further '|'s. */
#define MTASTS_FPROTO_FIELDS 16

enum mtasts_fproto_kind {
	MTASTS_FPROTO_IGNORE = 0,	/* nothing to do (unknown config key) */
	MTASTS_FPROTO_SUBSYS_IN,	/* config|subsystem|smtp-in */
	MTASTS_FPROTO_SUBSYS_OUT,	/* config|subsystem|smtp-out */
	MTASTS_FPROTO_READY,		/* config|ready */
	MTASTS_FPROTO_RCPT,		/* smtp-in rcpt-to: sid, token, addr */
	MTASTS_FPROTO_OTHER_PHASE,	/* another smtp-in phase: sid, token */
	MTASTS_FPROTO_REPORT_OUT,	/* smtp-out report: f[], nf */
	MTASTS_FPROTO_MALFORMED,	/* a known version, but not a request */
	MTASTS_FPROTO_VERSION		/* a protocol version we do not speak */
};

struct mtasts_fproto_line {
	int kind;			/* enum mtasts_fproto_kind */
	char *f[MTASTS_FPROTO_FIELDS];	/* pointers into the line */
	size_t nf;
	const char *sid, *token, *param;	/* RCPT / OTHER_PHASE */
};

/*
 * Parse one line (NUL-terminated, no '\n'; modified in place: '|'s become
 * NULs). Versions are compared exactly against the ones whose line format
 * filter-mtasts implements ("0.6", "0.7"); a filter or report line with
 * any other non-empty version is MTASTS_FPROTO_VERSION (decisions.md
 * D-OSMTPD-10: the caller stops). Returns out->kind.
 */
int mtasts_fproto_parse(char *line, struct mtasts_fproto_line *out);

/* Is v one of the protocol versions filter-mtasts speaks? */
int mtasts_fproto_version_ok(const char *v);

/*
 * The version every filter and report line of a session must carry
 * (D-OSMTPD-13): the one smtpd announced with config|protocol (7.x:
 * "0.7"), or "0.6" when it announced none (6.8 sends no such line).
 */
#define MTASTS_FPROTO_DEFAULT "0.6"
const char *mtasts_fproto_expected(const char *announced);

/*
 * Range-checked decimal option value: the whole string is one base-10
 * number in [min, max], no sign games, no trailing garbage. 0 or -1.
 */
int mtasts_fproto_parse_long(const char *s, long min, long max, long *out);

#endif
