/* SPDX-License-Identifier: ISC */
/*
 * scan.h - what `mtasts metrics` and `mtasts status` read (metrics.c).
 */
#ifndef MTASTS_CLI_SCAN_H
#define MTASTS_CLI_SCAN_H

#include "cli.h"

/*
 * metrics.c: what `metrics` and `status` show, read from the cache, the
 * spool of today (UTC) and the report send state. A source that cannot be
 * read has its *_ok 0 and *_err saying why; the rest is still filled.
 */
#define SCAN_AGE_BUCKETS 5
struct cli_failing {
	char domain[MTASTS_DOMAIN_MAX + 1];
	char type[64];
	char reason[256];
	long long at;
};
struct cli_scan {
	time_t now, day;
	int cache_ok, spool_ok, state_ok;
	char cache_err[256], spool_err[256], state_err[256];
	/* cache */
	size_t modes[3];		/* by MTASTS_MODE_* */
	size_t expired, negative, unusable;
	size_t age_bucket[SCAN_AGE_BUCKETS];	/* cumulative, le bounds */
	size_t npolicies;
	double age_sum;
	char **enforce, **unusable_names;	/* sorted */
	size_t nenforce, nunusable_names;
	struct cli_failing *failing;	/* last fetch attempt failed */
	size_t nfailing;
	/* spool of today */
	struct mtasts_tally_row *tally;	/* sorted: most sessions first */
	size_t ntally;
	struct mtasts_report_counts st;
	/* report state, last 7 days: sent, retrying, given up */
	size_t rstate[3];
	char **rpending;		/* names retrying or given up */
	size_t nrpending;
};
extern const long long scan_age_le[SCAN_AGE_BUCKETS];
int cli_scan(struct mtasts_ctx *ctx, struct cli_scan *sc);
void cli_scan_free(struct cli_scan *sc);

#endif
