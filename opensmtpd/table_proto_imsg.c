/* SPDX-License-Identifier: ISC */
/*
 * table_proto_imsg.c - OpenSMTPD 6.8 proc-table imsg framing: decode one
 * request frame, encode reply frames (table_proto_imsg.h).
 *
 * Every field is read with memcpy (frames arrive at any offset of the read
 * buffer) and every length is checked against what the 6.8 sender
 * (table_proc.c) can produce, so a garbage frame yields a verdict, never
 * an out-of-bounds read. smtpd itself treats any reply other than OK as
 * fatal; FAIL is for peers that are not smtpd (tests, a confused caller).
 */
#include <stdio.h>
#include <string.h>

#include "table_proto_imsg.h"

static void
why_set(char *why, size_t size, const char *msg, unsigned long v)
{
	if (why != NULL && size > 0)
		snprintf(why, size, msg, v);
}

/* The key or name must be a C string that ends the payload exactly. */
static int
str_ok(const unsigned char *p, size_t n)
{
	return n >= 1 && p[n - 1] == '\0' && memchr(p, '\0', n - 1) == NULL;
}

int
mtasts_timsg_parse(const unsigned char *buf, size_t len,
    struct mtasts_timsg_req *req, size_t *used, char *why, size_t size)
{
	const unsigned char *p;
	const unsigned char *nul;
	uint16_t flen;
	size_t plen, fixed;
	size_t np;
	int svc;

	*used = 0;
	memset(req, 0, sizeof(*req));
	if (why != NULL && size > 0)
		why[0] = '\0';
	if (len < MTASTS_TIMSG_HDR)
		return MTASTS_TIMSG_MORE;
	memcpy(&req->type, buf, 4);
	memcpy(&flen, buf + 4, 2);
	memcpy(&req->flags, buf + 6, 2);
	memcpy(&req->peerid, buf + 8, 4);
	memcpy(&req->pid, buf + 12, 4);
	if (flen < MTASTS_TIMSG_HDR) {
		why_set(why, size, "frame length %lu is shorter than the "
		    "imsg header", flen);
		return MTASTS_TIMSG_BROKEN;
	}
	if (flen > MTASTS_TIMSG_MAX) {
		why_set(why, size, "frame length %lu exceeds the imsg "
		    "maximum", flen);
		return MTASTS_TIMSG_BROKEN;
	}
	if (len < flen)
		return MTASTS_TIMSG_MORE;
	*used = flen;
	p = buf + MTASTS_TIMSG_HDR;
	plen = (size_t)flen - MTASTS_TIMSG_HDR;
	fixed = sizeof(int) + sizeof(size_t);

	switch (req->type) {
	case MTASTS_TIMSG_OPEN:
		if (plen < 4 + 1 || plen > 4 + MTASTS_TIMSG_NAME_MAX) {
			why_set(why, size, "OPEN payload of %lu bytes", plen);
			return MTASTS_TIMSG_BAD;
		}
		memcpy(&req->version, p, 4);
		if (req->version != MTASTS_TIMSG_API_VERSION) {
			why_set(why, size, "unsupported table API version %lu",
			    req->version);
			return MTASTS_TIMSG_BAD;
		}
		/* name[] is NUL-padded: the name ends at its first NUL. */
		if ((nul = memchr(p + 4, '\0', plen - 4)) == NULL) {
			why_set(why, size, "OPEN table name of %lu bytes is "
			    "not terminated", plen - 4);
			return MTASTS_TIMSG_BAD;
		}
		req->str = (const char *)(p + 4);
		req->str_len = (size_t)(nul - (p + 4));
		return MTASTS_TIMSG_REQ;
	case MTASTS_TIMSG_CLOSE:
	case MTASTS_TIMSG_UPDATE:
		if (plen != 0) {
			why_set(why, size, "unexpected payload of %lu bytes",
			    plen);
			return MTASTS_TIMSG_BAD;
		}
		return MTASTS_TIMSG_REQ;
	case MTASTS_TIMSG_CHECK:
	case MTASTS_TIMSG_LOOKUP:
	case MTASTS_TIMSG_FETCH:
		if (plen < fixed) {
			why_set(why, size, "request payload of %lu bytes",
			    plen);
			return MTASTS_TIMSG_BAD;
		}
		memcpy(&svc, p, sizeof(svc));
		memcpy(&np, p + sizeof(int), sizeof(np));
		req->service = svc;
		if (np != 0) {
			/* 6.8 never sends parameters (imsg_add_params). */
			why_set(why, size, "%lu lookup parameters (6.8 sends "
			    "none)", (unsigned long)np);
			return MTASTS_TIMSG_BAD;
		}
		if (req->type == MTASTS_TIMSG_FETCH) {
			if (plen != fixed) {
				why_set(why, size, "FETCH payload of %lu bytes",
				    plen);
				return MTASTS_TIMSG_BAD;
			}
			return MTASTS_TIMSG_REQ;
		}
		if (!str_ok(p + fixed, plen - fixed)) {
			why_set(why, size, "key is not one NUL-terminated "
			    "string (%lu bytes)", plen - fixed);
			return MTASTS_TIMSG_BAD;
		}
		if (plen - fixed - 1 > MTASTS_TIMSG_KEY_MAX) {
			why_set(why, size, "key of %lu bytes is too long",
			    plen - fixed - 1);
			return MTASTS_TIMSG_BAD;
		}
		req->str = (const char *)(p + fixed);
		req->str_len = plen - fixed - 1;
		return MTASTS_TIMSG_REQ;
	default:
		why_set(why, size, "unexpected message type %lu", req->type);
		return MTASTS_TIMSG_BAD;
	}
}

size_t
mtasts_timsg_frame(unsigned char *out, size_t size, uint32_t type,
    const void *payload, size_t plen)
{
	uint16_t flen, flags = 0;
	uint32_t zero = 0;

	if (plen > MTASTS_TIMSG_MAX - MTASTS_TIMSG_HDR ||
	    size < MTASTS_TIMSG_HDR + plen)
		return 0;
	flen = (uint16_t)(MTASTS_TIMSG_HDR + plen);
	memcpy(out, &type, 4);
	memcpy(out + 4, &flen, 2);
	memcpy(out + 6, &flags, 2);
	memcpy(out + 8, &zero, 4);	/* peerid */
	memcpy(out + 12, &zero, 4);	/* pid */
	if (plen > 0)
		memcpy(out + MTASTS_TIMSG_HDR, payload, plen);
	return flen;
}

size_t
mtasts_timsg_reply(unsigned char *out, size_t size, uint32_t type,
    const int *r, const char *value)
{
	unsigned char payload[MTASTS_TIMSG_MAX];
	size_t plen = 0, vlen;

	if (r != NULL) {
		memcpy(payload, r, sizeof(*r));
		plen = sizeof(*r);
		if (value != NULL) {
			vlen = strlen(value) + 1;
			if (vlen > sizeof(payload) - MTASTS_TIMSG_HDR - plen)
				return 0;
			memcpy(payload + plen, value, vlen);
			plen += vlen;
		}
	}
	return mtasts_timsg_frame(out, size, type, payload, plen);
}
