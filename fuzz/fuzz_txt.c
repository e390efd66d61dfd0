/* SPDX-License-Identifier: ISC */
/*
 * fuzz_txt - libFuzzer target for the `_mta-sts` TXT parser: the input as
 * one record for mtasts_txt_parse(), then split at '\n' into an RRset for
 * mtasts_txt_select(). Each record is copied to a buffer of its exact
 * length so ASan catches any read past (ptr, len).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/base.h"

#define FUZZ_RECS 16

/* A successful parse always yields an id of 1..32 ALPHA / DIGIT. */
static void
check_id(int rc, const char *id, const struct mtasts_error *err)
{
	size_t i, n = strnlen(id, MTASTS_ID_MAX + 1);

	if (memchr(err->text, '\0', sizeof(err->text)) == NULL)
		abort();
	if (rc != MTASTS_OK) {
		if (id[0] != '\0' || err->code != rc || err->text[0] == '\0')
			abort();
		return;
	}
	if (n == 0 || n > MTASTS_ID_MAX)
		abort();
	for (i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') ||
		    (id[i] >= 'A' && id[i] <= 'Z') ||
		    (id[i] >= '0' && id[i] <= '9')))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *recs[FUZZ_RECS];
	size_t lens[FUZZ_RECS], n = 0, pos = 0, i;
	char id[MTASTS_ID_MAX + 1];
	struct mtasts_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = mtasts_txt_parse(s, size, id, &err);
	check_id(rc, id, &err);

	while (pos <= size && n < FUZZ_RECS) {
		const char *nl = memchr(s + pos, '\n', size - pos);
		size_t end = nl != NULL ? (size_t)(nl - s) : size;

		lens[n] = end - pos;
		/* malloc(0) may return NULL: keep one byte. */
		if ((recs[n] = malloc(lens[n] + 1)) == NULL)
			goto done;
		memcpy(recs[n], s + pos, lens[n]);
		n++;
		pos = end + 1;
	}
	memset(&err, 0, sizeof(err));
	rc = mtasts_txt_select((const char *const *)recs, lens, n, id, &err);
	if (rc == MTASTS_NOTFOUND) {
		if (id[0] != '\0')
			abort();
	} else
		check_id(rc, id, &err);
done:
	for (i = 0; i < n; i++)
		free(recs[i]);
	return 0;
}
