/* SPDX-License-Identifier: ISC */
/*
 * table_proto_text.h - the OpenSMTPD 7.x proc-table protocol 0.1: text
 * lines on the table's stdin socket (smtpd-tables(7), table_proc.c of
 * 7.8.0p1). The sibling of table_proto_imsg.h (6.8); both decode into
 * struct mtasts_timsg_req so table-mtasts answers from one place.
 *
 * Pure line code: no I/O, no allocation, no libmtasts state, so the fuzz
 * target (fuzz/fuzz_table_text.c) can include it.
 *
 * smtpd -> table, handshake (in this order in 7.8):
 *	config|smtpd-version|7.8.0-portable
 *	config|protocol|0.1
 *	config|tablename|<name>
 *	config|ready
 * table -> smtpd: register|domain, register|relayhost, register|ready
 * smtpd -> table, requests (one at a time in 7.8; '|' may appear only in
 * the last field):
 *	table|0.1|<sec>.<usec>|<name>|update|<id>
 *	table|0.1|<sec>.<usec>|<name>|check|<service>|<id>|<key>
 *	table|0.1|<sec>.<usec>|<name>|lookup|<service>|<id>|<key>
 *	table|0.1|<sec>.<usec>|<name>|fetch|<service>|<id>
 * table -> smtpd, answers echo the id:
 *	update-result|<id>|ok			or |error|<message>
 *	check-result|<id>|found			or |not-found, |error|<message>
 *	lookup-result|<id>|found|<value>	or |not-found, |error|<message>
 *	fetch-result|<id>|...			as lookup
 * smtpd treats a reply it cannot parse, or one with another id, as fatal.
 *
 * Strictness (decisions.md D-OSMTPD-13): the protocol version must be
 * exactly 0.1 in the handshake and in every request, the table name of a
 * request must be the handshake's, every field has a grammar and a size
 * cap; anything else is a protocol violation and the table stops (smtpd
 * then stops too: fail-stop, never a guess). Keys are never echoed: an
 * answer line holds only the fixed result words, the request id (checked
 * to be alphanumeric) and a value this program built (checked to be
 * printable ASCII without '|').
 */
#ifndef MTASTS_TABLE_PROTO_TEXT_H
#define MTASTS_TABLE_PROTO_TEXT_H

#include <stddef.h>

#include "table_proto_imsg.h"

/* The protocol version this table speaks (smtpd-tables(7)). */
#define MTASTS_TTEXT_PROTOCOL "0.1"
/* The longest line accepted, newline excluded (a key is <= 1023). */
#define MTASTS_TTEXT_LINE_MAX 4096
/* smtpd keeps the last id in char lastid[16] ("%08x"). */
#define MTASTS_TTEXT_ID_MAX 15
/* As 6.8: smtpd lower-cases keys into a 1024-byte buffer. */
#define MTASTS_TTEXT_KEY_MAX MTASTS_TIMSG_KEY_MAX
/* A table name (smtpd: t_name[LINE_MAX]; ours are short). */
#define MTASTS_TTEXT_NAME_MAX 255
/* The smtpd-version value, e.g. "7.8.0-portable". */
#define MTASTS_TTEXT_VERSION_MAX 64
/* A config key, e.g. "smtpd-version". */
#define MTASTS_TTEXT_CKEY_MAX 32
/* Timestamp "<sec>.<usec>": digits on each side. */
#define MTASTS_TTEXT_SEC_DIGITS_MAX 19
#define MTASTS_TTEXT_USEC_DIGITS_MAX 9
/* The longest answer line, newline included. */
#define MTASTS_TTEXT_REPLY_MAX 2048

/* Handshake state; zero it before the first line. */
struct mtasts_ttext {
	int ready;			/* config|ready seen */
	int have_version, have_protocol, have_name;
	char smtpd_version[MTASTS_TTEXT_VERSION_MAX + 1];
	char name[MTASTS_TTEXT_NAME_MAX + 1];
};

/* mtasts_ttext_line() verdicts. */
enum mtasts_ttext_verdict {
	MTASTS_TTEXT_CONFIG = 0,	/* a handshake line, nothing to say */
	MTASTS_TTEXT_READY = 1,		/* handshake complete: register */
	MTASTS_TTEXT_REQ = 2,		/* *req decoded, *id set */
	MTASTS_TTEXT_BAD = 3		/* protocol violation: stop */
};

/*
 * Decode one line (line[0..len), the newline removed). For a request,
 * req->type is MTASTS_TIMSG_UPDATE/CHECK/LOOKUP/FETCH, req->service
 * MTASTS_TSVC_DOMAIN or MTASTS_TSVC_RELAYHOST, req->str, req->str_len the key
 * (pointing into line, NOT NUL-terminated: copy it), and *id, *id_len the
 * request id (into line). why (size bytes) gets a one-line reason for BAD.
 * Never reads outside line.
 */
int mtasts_ttext_line(struct mtasts_ttext *st, const char *line, size_t len,
    struct mtasts_timsg_req *req, const char **id, size_t *id_len,
    char *why, size_t size);

/* The registration answer to config|ready. Returns its length or 0. */
size_t mtasts_ttext_register(char *out, size_t size);

/*
 * The answer to a request of `type` with id[0..id_len): r 1 found (value
 * for LOOKUP/FETCH, "ok" for UPDATE), 0 not-found, -1 error. An error
 * carries the fixed message `msg` (NULL: "temporary failure"; printable
 * ASCII). Returns the line length (newline included), or 0 when the id,
 * value or message is not safe to put on the line or it does not fit.
 */
size_t mtasts_ttext_reply(char *out, size_t size, unsigned type,
    const char *id, size_t id_len, int r, const char *value,
    const char *msg);

#endif /* MTASTS_TABLE_PROTO_TEXT_H */
