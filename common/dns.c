/* dns.c - STUB, replaced by the libunbound resolver. */
#include "mtasts_internal.h"
int mtasts_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype, int deadline_ms, struct mtasts_dns_answer **out, struct mtasts_error *err)
{ (void)ctx; (void)qname; (void)rrtype; (void)deadline_ms; *out = NULL; return mtasts_err(err, MTASTS_ERROR, "stub"); }
void mtasts_dns_answer_free(struct mtasts_dns_answer *a) { (void)a; }
void mtasts_dns_free(struct mtasts_ctx *ctx) { (void)ctx; }
int mtasts_dns_txt_decode(const struct mtasts_dns_answer *a, char ***recs, size_t **lens, size_t *n)
{ (void)a; *recs = NULL; *lens = NULL; *n = 0; return MTASTS_ERROR; }
void mtasts_dns_txt_free(char **recs, size_t *lens, size_t n) { (void)recs; (void)lens; (void)n; }
int mtasts_dns_addrs(struct mtasts_ctx *ctx, const char *host, int port, int deadline_ms, struct sockaddr_storage *addrs, size_t max, size_t *n, struct mtasts_error *err)
{ (void)ctx; (void)host; (void)port; (void)deadline_ms; (void)addrs; (void)max; *n = 0; return mtasts_err(err, MTASTS_TEMPFAIL, "stub"); }
