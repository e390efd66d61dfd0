/* SPDX-License-Identifier: ISC */
/*
 * fuzz_table_imsg.c - libFuzzer target for the OpenSMTPD 6.8 proc-table
 * imsg parser (opensmtpd/table_proto_imsg.c, compiled in here because the
 * fuzz build only builds the core). The input is a byte stream as the
 * table reads it from smtpd; it is consumed frame by frame exactly as
 * table-mtasts's loop does. Oracles: every verdict is in range, a consumed
 * length never exceeds the input, strings are NUL-terminated inside the
 * frame, and a reply to every decoded request encodes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../opensmtpd/table_proto_imsg.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char out[MTASTS_TIMSG_MAX];
	struct mtasts_timsg_req q;
	char why[160];
	size_t used, off = 0;
	int v, r = 1;

	while (off <= size) {
		v = mtasts_timsg_parse(data + off, size - off, &q, &used, why,
		    sizeof(why));
		if (v < MTASTS_TIMSG_MORE || v > MTASTS_TIMSG_BROKEN)
			abort();
		if (v == MTASTS_TIMSG_MORE || v == MTASTS_TIMSG_BROKEN)
			break;
		if (used < MTASTS_TIMSG_HDR || used > size - off)
			abort();
		if (v == MTASTS_TIMSG_REQ && q.str != NULL) {
			const char *base = (const char *)data + off;

			if (q.str < base || q.str + q.str_len >= base + used ||
			    q.str[q.str_len] != '\0' ||
			    strlen(q.str) != q.str_len)
				abort();
			if (mtasts_timsg_reply(out, sizeof(out),
			    MTASTS_TIMSG_OK, &r, q.str) == 0)
				abort();
		}
		if (memchr(why, '\0', sizeof(why)) == NULL)
			abort();
		off += used;
	}
	return 0;
}
