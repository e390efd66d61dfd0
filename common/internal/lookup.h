/* SPDX-License-Identifier: ISC */
/*
 * internal/lookup.h - lookup.c: the lookup result.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_LOOKUP_H
#define MTASTS_INTERNAL_LOOKUP_H

#include "internal/base.h"

/* What DNSSEC said of this lookup's _mta-sts TXT answer (D-DNSSEC-3). */
enum mtasts_txt_dnssec {
	MTASTS_TXT_DNSSEC_NONE = 0,	/* no TXT query (cache fast path) */
	MTASTS_TXT_DNSSEC_OFF,		/* the resolver does not validate */
	MTASTS_TXT_DNSSEC_INSECURE,	/* validated: no chain of trust */
	MTASTS_TXT_DNSSEC_SECURE,	/* validated: secure */
	MTASTS_TXT_DNSSEC_BOGUS		/* validation failed: unauthenticated */
};
/* "secure", "insecure", "bogus", "off", or NULL (none) for the CLI JSON. */
/* mtasts_result_txt_dnssec(): public, in mtasts_admin.h. */

struct mtasts_result {
	int status;
	int source;
	int txt_dnssec;			/* enum mtasts_txt_dnssec */
	char domain[MTASTS_DOMAIN_MAX + 1];
	char id[MTASTS_ID_MAX + 1];
	struct mtasts_policy *policy;
	time_t expires;
	char failure_type[MTASTS_RESULT_TYPE_MAX];
	char failure_reason[MTASTS_REASON_MAX];
};

#endif /* MTASTS_INTERNAL_LOOKUP_H */
