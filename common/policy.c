/* policy.c - STUB, replaced by the policy parser. */
#include "mtasts_internal.h"
const char *mtasts_mode_name(int mode) { (void)mode; return "none"; }
int mtasts_policy_parse(const char *body, size_t len, struct mtasts_policy **out, struct mtasts_error *err)
{ (void)body; (void)len; *out = NULL; return mtasts_err(err, MTASTS_ERROR, "stub"); }
void mtasts_policy_free(struct mtasts_policy *p) { (void)p; }
int mtasts_policy_mode(const struct mtasts_policy *p) { (void)p; return 0; }
uint32_t mtasts_policy_max_age(const struct mtasts_policy *p) { (void)p; return 0; }
size_t mtasts_policy_mx_count(const struct mtasts_policy *p) { (void)p; return 0; }
const char *mtasts_policy_mx(const struct mtasts_policy *p, size_t i) { (void)p; (void)i; return NULL; }
size_t mtasts_policy_line_count(const struct mtasts_policy *p) { (void)p; return 0; }
const char *mtasts_policy_line(const struct mtasts_policy *p, size_t i) { (void)p; (void)i; return NULL; }
const char *mtasts_policy_text(const struct mtasts_policy *p, size_t *len) { (void)p; *len = 0; return ""; }
int mtasts_policy_mx_allowed(const struct mtasts_policy *p, const char *host, size_t hlen) { (void)p; (void)host; (void)hlen; return 0; }
