/* SPDX-License-Identifier: ISC */
/*
 * fuzz_config - libFuzzer target for the mtasts.conf parser
 * (mtasts_config_parse(), D-CONF-6): the input is the file's bytes, copied
 * to a buffer of its exact length so ASan catches any read past (ptr,
 * len). Only the parser runs: the load-time check would stat() paths
 * taken from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "internal/config.h"
#include "internal/ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	char *buf;
	size_t i;
	int rc;

	if ((ctx = mtasts_ctx_new()) == NULL)
		return 0;
	if ((buf = malloc(size > 0 ? size : 1)) == NULL) {
		mtasts_ctx_free(ctx);
		return 0;
	}
	memcpy(buf, data, size);
	rc = mtasts_config_parse(ctx, "f.conf", buf, size, &err);
	if (memchr(err.text, '\0', sizeof(err.text)) == NULL)
		abort();
	if (rc != MTASTS_OK && (err.code != rc || strncmp(err.text, "f.conf",
	    6) != 0))
		abort();
	if (rc == MTASTS_OK) {
		const struct mtasts_config *c = &ctx->cfg;

		/* What was accepted is within its documented range. */
		if (c->nresolvers > MTASTS_RESOLVERS_MAX ||
		    c->nspecial_zones > 8 || c->fetch_timeout_ms < 1000 ||
		    c->fetch_timeout_ms > 300000 || c->dns_timeout_ms < 1000 ||
		    c->dns_timeout_ms > 120000 ||
		    c->refresh_concurrency < 1 || c->refresh_concurrency > 64)
			abort();
		for (i = 0; i < c->nresolvers; i++)
			if (memchr(c->resolvers[i], '\0',
			    sizeof(c->resolvers[i])) == NULL)
				abort();
		/* No byte of an accepted file is NUL or a control but TAB. */
		for (i = 0; i < size; i++)
			if (data[i] == '\0')
				abort();
	}
	free(buf);
	mtasts_ctx_free(ctx);
	return 0;
}
