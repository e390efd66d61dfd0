/* tlsrpt.c - STUB, replaced by the TLS-RPT spool. */
#include "mtasts_internal.h"
int
mtasts_tlsrpt_record(struct mtasts_ctx *ctx,
    const struct mtasts_tlsrpt_session *s, struct mtasts_error *err)
{
	(void)ctx;
	(void)s;
	(void)err;
	return MTASTS_OK;
}
