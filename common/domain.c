/* domain.c - STUB, replaced by domain normalisation. */
#include "mtasts_internal.h"
int mtasts_hostname_valid(const char *s, size_t len) { (void)s; (void)len; return 1; }
int mtasts_domain_normalize(const char *in, size_t len, char out[MTASTS_DOMAIN_MAX + 1], struct mtasts_error *err)
{ (void)in; (void)len; (void)out; return mtasts_err(err, MTASTS_ERROR, "stub"); }
