/* SPDX-License-Identifier: ISC */
/*
 * fuzz_spool_encode.c - libFuzzer target for the hand-written TLS-RPT
 * record writer (common/spool.c, D-LAZYNET-4). Input: one flags byte
 * (policy type, result present, report mail) and NUL-separated fields:
 * domain, MX host, MX IP, sending IP, EHLO, result type, failure reason,
 * attempt key, TLSA lines, policy text. Oracle: the line equals, byte
 * for byte, what the jansson encoder it replaced writes for the same
 * session and record id (tests/unit/spool_ref.h), fits the record cap and
 * ends in one newline; both give up on the same inputs.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/spool_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NFIELDS 10

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_tlsrpt_session s;
	struct mtasts_policy *pol = NULL;
	char *buf, *f[NFIELDS], *got, *want, u[MTASTS_SPOOL_ID_LEN + 1];
	size_t i, n, len;
	unsigned flags;

	if (size < 1 || size > 65536)
		return 0;
	flags = data[0];
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	/* Fields split at NUL; missing ones are "". */
	f[0] = buf;
	for (i = 1, n = 0; i < NFIELDS; i++) {
		n += strlen(buf + n);
		f[i] = n < size - 1 ? buf + ++n : buf + size - 1;
	}
	memset(&s, 0, sizeof(s));
	s.policy_type = (int)(flags % 3);
	if (s.policy_type == MTASTS_POLICY_TYPE_STS &&
	    mtasts_policy_parse(f[9], strlen(f[9]), &pol, NULL) == MTASTS_OK)
		s.policy = pol;
	s.mx_helo = f[4];
	s.result_type = (flags & 4) ? f[5] : NULL;
	s.failure_reason = f[6];
	s.attempt_key = f[7];
	s.tlsa_records = f[8];
	s.flags = (flags & 8) ? MTASTS_TLSRPT_REPORT_MAIL : 0;
	got = mtasts_spool_rec_encode(&s, f[0], f[1], f[2], f[3], 1709251200,
	    &len);
	if (got == NULL) {
		want = spool_ref_encode(&s, f[0], f[1], f[2], f[3],
		    1709251200, "0123456789abcdef");
		if (want != NULL)
			abort();	/* the writer gave up, jansson not */
	} else {
		if (len != strlen(got) || len > MTASTS_TLSRPT_RECORD_MAX ||
		    got[len - 1] != '\n' ||
		    memchr(got, '\n', len - 1) != NULL)
			abort();
		spool_ref_id(got, u);
		want = spool_ref_encode(&s, f[0], f[1], f[2], f[3],
		    1709251200, u[0] != '\0' ? u : NULL);
		if (want == NULL || strcmp(got, want) != 0)
			abort();
	}
	free(got);
	free(want);
	mtasts_policy_free(pol);
	free(buf);
	return 0;
}
