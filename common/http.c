/* http.c - STUB, replaced by the HTTP response parser. */
#include "mtasts_internal.h"
int mtasts_http_parse(const char *buf, size_t len, int eof, size_t body_cap, struct mtasts_http_resp *resp)
{ (void)buf; (void)len; (void)eof; (void)body_cap; (void)resp; return MTASTS_HTTP_ERROR; }
void mtasts_http_clear(struct mtasts_http_resp *resp) { (void)resp; }
int mtasts_http_media_type_ok(const char *v, size_t len) { (void)v; (void)len; return 0; }
