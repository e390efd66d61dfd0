/* txt.c - STUB, replaced by the TXT parser. */
#include "mtasts_internal.h"
int mtasts_txt_parse(const char *rec, size_t len, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err)
{ (void)rec; (void)len; (void)id; return mtasts_err(err, MTASTS_ERROR, "stub"); }
int mtasts_txt_select(const char *const *recs, const size_t *lens, size_t nrecs, char id[MTASTS_ID_MAX + 1], struct mtasts_error *err)
{ (void)recs; (void)lens; (void)nrecs; (void)id; return mtasts_err(err, MTASTS_ERROR, "stub"); }
