/* SPDX-License-Identifier: ISC */
/*
 * table_proto_imsg.h - the OpenSMTPD 6.8 proc-table wire protocol: binary
 * OpenBSD imsg frames on the table's stdin socket (smtpd table_proc.c,
 * smtpd-api.h at tag v6.8.0p2).
 *
 * Pure framing code: no I/O, no allocation, no libmtasts state, so the
 * fuzz target (fuzz/fuzz_table_imsg.c) can include it. The 7.6+ line
 * protocol (smtpd-tables(7)) belongs in a sibling table_proto_text.c that
 * fills the same struct mtasts_timsg_req.
 *
 * A frame is a 16-byte header in native byte order,
 *	u32 type; u16 len (header included); u16 flags; u32 peerid; u32 pid
 * followed by len - 16 payload bytes:
 *	OPEN	u32 version (2); char name[LINE_MAX = 2048]
 *	CLOSE	-			(no reply)
 *	UPDATE	-			reply OK + int
 *	CHECK	int service; size_t nparams (0); char key[] NUL
 *		reply OK + int r (1 found, 0 not found, -1 error)
 *	LOOKUP	as CHECK		reply OK + int r [+ char value[] NUL]
 *	FETCH	int service; size_t nparams	reply as LOOKUP
 */
#ifndef MTASTS_TABLE_PROTO_IMSG_H
#define MTASTS_TABLE_PROTO_IMSG_H

#include <stddef.h>
#include <stdint.h>

/* imsg header size and the largest frame (OpenBSD MAX_IMSGSIZE). */
#define MTASTS_TIMSG_HDR 16
#define MTASTS_TIMSG_MAX 16384
/* smtpd lower-cases keys into a 1024-byte buffer (table.c table_lookup). */
#define MTASTS_TIMSG_KEY_MAX 1023
/* struct table_open_params: name[LINE_MAX]. */
#define MTASTS_TIMSG_NAME_MAX 2048
/* PROC_TABLE_API_VERSION of 6.8. */
#define MTASTS_TIMSG_API_VERSION 2

/* Message types (smtpd-api.h enum PROC_TABLE_*). */
enum mtasts_timsg_type {
	MTASTS_TIMSG_OK = 0,
	MTASTS_TIMSG_FAIL = 1,
	MTASTS_TIMSG_OPEN = 2,
	MTASTS_TIMSG_CLOSE = 3,
	MTASTS_TIMSG_UPDATE = 4,
	MTASTS_TIMSG_CHECK = 5,
	MTASTS_TIMSG_LOOKUP = 6,
	MTASTS_TIMSG_FETCH = 7
};

/* The services this table answers (enum table_service). */
#define MTASTS_TSVC_DOMAIN 0x002
#define MTASTS_TSVC_RELAYHOST 0x200

/* One decoded request; strings point into the caller's buffer. */
struct mtasts_timsg_req {
	uint32_t type;		/* enum mtasts_timsg_type */
	uint16_t flags;
	uint32_t peerid;
	uint32_t pid;
	uint32_t version;	/* OPEN */
	int service;		/* CHECK, LOOKUP, FETCH */
	const char *str;	/* OPEN: table name; CHECK/LOOKUP: key */
	size_t str_len;		/* strlen(str) */
};

/* mtasts_timsg_parse() verdicts. */
enum mtasts_timsg_verdict {
	MTASTS_TIMSG_MORE = 0,	/* incomplete frame: read more */
	MTASTS_TIMSG_REQ = 1,	/* *req decoded; *used bytes consumed */
	/* well-framed but malformed: *used bytes skipped, answer FAIL */
	MTASTS_TIMSG_BAD = 2,
	MTASTS_TIMSG_BROKEN = 3	/* header unusable: framing is lost */
};

/*
 * Decode the first frame of buf[0..len). Returns an enum
 * mtasts_timsg_verdict; *used is the frame length for REQ and BAD, 0
 * otherwise. why (size bytes) gets a one-line reason for BAD and BROKEN.
 * Never reads outside buf, accepts any alignment.
 */
int mtasts_timsg_parse(const unsigned char *buf, size_t len,
    struct mtasts_timsg_req *req, size_t *used, char *why, size_t size);

/*
 * Encode a reply frame of `type` (OK or FAIL) into out[0..size): an
 * optional int result (r != NULL) and an optional NUL-terminated value
 * (value != NULL, only after an int). The pid field is written as 0
 * (smtpd does not read it; a fixed value keeps golden files stable).
 * Returns the frame length, or 0 when it does not fit or exceeds
 * MTASTS_TIMSG_MAX.
 */
size_t mtasts_timsg_reply(unsigned char *out, size_t size, uint32_t type,
    const int *r, const char *value);

/* Encode a request (tests and tools): payload copied verbatim. */
size_t mtasts_timsg_frame(unsigned char *out, size_t size, uint32_t type,
    const void *payload, size_t plen);

#endif /* MTASTS_TABLE_PROTO_IMSG_H */
