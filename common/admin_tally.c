/* SPDX-License-Identifier: ISC */
/*
 * admin_tally.c - today's sessions per policy domain for `mtasts metrics`
 * and `mtasts status` (mtasts_admin.h): the spool tally of report.c in the
 * order D-MET-3 fixes, and the spool directory as the adapters open it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"

_Static_assert(MTASTS_TALLY_TYPES == MTASTS_TLSRPT_RESULT_TYPES,
    "one list of result types");

/* Most sessions first, then by name: a stable top N (D-MET-3). */
static int
cmp_row(const void *a, const void *b)
{
	const struct mtasts_tally_row *x = a, *y = b;
	size_t tx = x->ok + x->failed, ty = y->ok + y->failed;

	if (tx != ty)
		return tx > ty ? -1 : 1;
	return strcmp(x->domain, y->domain);
}

int
mtasts_admin_spool_tally(struct mtasts_ctx *ctx, time_t day,
    struct mtasts_tally_row **rows, size_t *n,
    struct mtasts_report_counts *st, struct mtasts_error *err)
{
	struct mtasts_tally t;
	struct mtasts_tally_row *v = NULL;
	size_t i;
	int rc;

	*rows = NULL;
	*n = 0;
	memset(st, 0, sizeof(*st));
	memset(&t, 0, sizeof(t));
	rc = mtasts_spool_tally(ctx, day, NULL, 0, &t, st, err);
	if (rc != MTASTS_OK)
		goto done;
	if (t.n > 0 && (v = calloc(t.n, sizeof(*v))) == NULL) {
		rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < t.n; i++) {
		mtasts_strlcpy(v[i].domain, t.v[i].domain,
		    sizeof(v[i].domain));
		v[i].ok = t.v[i].ok;
		v[i].failed = t.v[i].failed;
		memcpy(v[i].fail, t.v[i].fail, sizeof(v[i].fail));
		v[i].enforce_failed = t.v[i].enforce_failed;
	}
	if (t.n > 1)
		qsort(v, t.n, sizeof(*v), cmp_row);
	*rows = v;
	*n = t.n;
done:
	mtasts_tally_free(&t);
	return rc;
}

int
mtasts_admin_spool_dir_check(const struct mtasts_ctx *ctx, const char **why)
{
	int dfd;

	*why = NULL;
	if ((dfd = mtasts_dir_open(mtasts_tlsrpt_dir(ctx), 02770,
	    MTASTS_DIR_EXISTING, why)) < 0)
		return -1;
	close(dfd);
	return 0;
}
