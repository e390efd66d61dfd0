/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tlsrpt_txt - libFuzzer target for the `_smtp._tls` TXT parser
 * (RFC 8460 §3): the input as one record, then split at '\n' into an
 * RRset for the selection rule, then each kept rua through the mailto:
 * and https: helpers. Records are copied to exact-length buffers so ASan
 * catches any read past (ptr, len).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/tlsrpt_txt.h"

#define FUZZ_RECS 16

/* Invariants of a parse result, whatever the input. */
static void
check(int rc, const struct mtasts_tlsrpt_txt *t,
    const struct mtasts_error *err)
{
	char a[MTASTS_TLSRPT_URI_MAX + 1], host[MTASTS_DOMAIN_MAX + 1];
	char path[MTASTS_TLSRPT_URI_MAX + 1];
	unsigned port;
	size_t i, j;

	if (memchr(err->text, '\0', sizeof(err->text)) == NULL)
		abort();
	if (rc != MTASTS_OK) {
		if (t->nrua != 0 || err->code != rc || err->text[0] == '\0')
			abort();
		return;
	}
	if (t->nrua == 0 || t->nrua > MTASTS_TLSRPT_RUA_MAX)
		abort();
	for (i = 0; i < t->nrua; i++) {
		const char *u = t->rua[i];
		size_t n = strnlen(u, MTASTS_TLSRPT_URI_MAX + 1);
		int m, h;

		if (n == 0 || n > MTASTS_TLSRPT_URI_MAX)
			abort();
		/* §3: ",", "!", ";" and WSP never appear raw in a kept URI. */
		if (strpbrk(u, ",!; \t") != NULL)
			abort();
		m = mtasts_tlsrpt_mailto_addr(u, n, a, sizeof(a));
		h = mtasts_tlsrpt_https_split(u, n, host, sizeof(host), &port,
		    path, sizeof(path));
		if ((m == 0) == (h == 0))
			abort();
		if (m == 0) {
			/* Nothing that could break a mail header. */
			for (j = 0; a[j] != '\0'; j++)
				if ((unsigned char)a[j] <= 0x20 ||
				    (unsigned char)a[j] >= 0x7f ||
				    strchr("<>,;:\"()[]\\", a[j]) != NULL)
					abort();
		} else if (port == 0 || port > 65535 || host[0] == '\0' ||
		    path[0] != '/')
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *one = NULL, *recs[FUZZ_RECS];
	size_t lens[FUZZ_RECS], n = 0, pos = 0, i;
	struct mtasts_tlsrpt_txt *t;
	struct mtasts_error err;
	int rc;

	if ((t = malloc(sizeof(*t))) == NULL)
		return 0;
	if ((one = malloc(size + 1)) == NULL)
		goto done;
	memcpy(one, s, size);
	memset(&err, 0, sizeof(err));
	rc = mtasts_tlsrpt_txt_parse(one, size, t, &err);
	check(rc, t, &err);

	while (pos <= size && n < FUZZ_RECS) {
		const char *nl = memchr(s + pos, '\n', size - pos);
		size_t end = nl != NULL ? (size_t)(nl - s) : size;

		lens[n] = end - pos;
		if ((recs[n] = malloc(lens[n] + 1)) == NULL)
			goto done;
		memcpy(recs[n], s + pos, lens[n]);
		n++;
		pos = end + 1;
	}
	memset(&err, 0, sizeof(err));
	rc = mtasts_tlsrpt_txt_select((const char *const *)recs, lens, n, t,
	    &err);
	if (rc == MTASTS_NOTFOUND) {
		if (t->nrua != 0)
			abort();
	} else
		check(rc, t, &err);
done:
	for (i = 0; i < n; i++)
		free(recs[i]);
	free(one);
	free(t);
	return 0;
}
