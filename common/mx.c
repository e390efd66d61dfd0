/* mx.c - STUB, replaced by MX matching. */
#include "mtasts_internal.h"
int mtasts_mx_match(const char *pattern, size_t plen, const char *host, size_t hlen)
{ (void)pattern; (void)plen; (void)host; (void)hlen; return 0; }
