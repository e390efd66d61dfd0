/* lookup.c - STUB, replaced by the policy lookup state machine. */
#include "mtasts_internal.h"
int mtasts_lookup(struct mtasts_ctx *ctx, const char *domain, unsigned flags, struct mtasts_result **out, struct mtasts_error *err)
{ (void)ctx; (void)domain; (void)flags; *out = NULL; return mtasts_err(err, MTASTS_ERROR, "stub"); }
void mtasts_result_free(struct mtasts_result *r) { (void)r; }
int mtasts_result_status(const struct mtasts_result *r) { return r->status; }
int mtasts_result_source(const struct mtasts_result *r) { return r->source; }
const char *mtasts_result_domain(const struct mtasts_result *r) { return r->domain; }
const struct mtasts_policy *mtasts_result_policy(const struct mtasts_result *r) { return r->policy; }
const char *mtasts_result_id(const struct mtasts_result *r) { return r->id[0] ? r->id : NULL; }
time_t mtasts_result_expires(const struct mtasts_result *r) { return r->expires; }
const char *mtasts_result_failure_type(const struct mtasts_result *r) { return r->failure_type[0] ? r->failure_type : NULL; }
const char *mtasts_result_failure_reason(const struct mtasts_result *r) { return r->failure_reason[0] ? r->failure_reason : NULL; }
