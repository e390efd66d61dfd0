/* SPDX-License-Identifier: ISC */
/*
 * admin_cache.c - the policy cache as the administration API shows it
 * (mtasts_admin.h): entries behind an opaque handle, the sorted listing,
 * and the purge rule (D-PURGE-1), written here once.
 */
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

_Static_assert(MTASTS_ADMIN_UNUSABLE == MTASTS_CACHE_UNUSABLE,
    "one code for an unusable cache entry");

struct mtasts_cache_item {
	struct mtasts_cache_entry *e;
};

struct names {
	char **v;
	size_t n, cap;
};

static int
names_add(void *arg, const char *domain)
{
	struct names *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(domain)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
mtasts_admin_names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
mtasts_admin_cache_list(struct mtasts_ctx *ctx, char ***names, size_t *n,
    struct mtasts_error *err)
{
	struct names l = { NULL, 0, 0 };
	int rc;

	*names = NULL;
	*n = 0;
	if ((rc = mtasts_cache_foreach(ctx, names_add, &l, err)) !=
	    MTASTS_OK) {
		mtasts_admin_names_free(l.v, l.n);
		return rc;
	}
	/* An empty cache has no array: qsort(NULL, 0) is undefined. */
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	*names = l.v;
	*n = l.n;
	return MTASTS_OK;
}

int
mtasts_admin_cache_get(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_cache_item **out, struct mtasts_error *err)
{
	struct mtasts_cache_item *it;
	struct mtasts_cache_entry *e = NULL;
	int rc;

	*out = NULL;
	if ((rc = mtasts_cache_load(ctx, domain, &e, err)) != MTASTS_OK)
		return rc;
	if ((it = malloc(sizeof(*it))) == NULL) {
		mtasts_cache_entry_free(e);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
	it->e = e;
	*out = it;
	return MTASTS_OK;
}

void
mtasts_cache_item_free(struct mtasts_cache_item *it)
{
	if (it == NULL)
		return;
	mtasts_cache_entry_free(it->e);
	free(it);
}

const char *
mtasts_cache_item_domain(const struct mtasts_cache_item *it)
{
	return it->e->domain;
}

const struct mtasts_policy *
mtasts_cache_item_policy(const struct mtasts_cache_item *it)
{
	return it->e->policy;
}

const char *
mtasts_cache_item_id(const struct mtasts_cache_item *it)
{
	return it->e->id;
}

time_t
mtasts_cache_item_fetched_at(const struct mtasts_cache_item *it)
{
	return it->e->fetched_at;
}

time_t
mtasts_cache_item_expires_at(const struct mtasts_cache_item *it)
{
	return it->e->expires_at;
}

time_t
mtasts_cache_item_txt_checked_at(const struct mtasts_cache_item *it)
{
	return it->e->txt_checked_at;
}

const char *
mtasts_cache_item_txt_id(const struct mtasts_cache_item *it)
{
	return it->e->txt_id;
}

time_t
mtasts_cache_item_fail_at(const struct mtasts_cache_item *it)
{
	return it->e->fail_at;
}

const char *
mtasts_cache_item_fail_id(const struct mtasts_cache_item *it)
{
	return it->e->fail_id;
}

const char *
mtasts_cache_item_fail_type(const struct mtasts_cache_item *it)
{
	return it->e->fail_type;
}

const char *
mtasts_cache_item_fail_reason(const struct mtasts_cache_item *it)
{
	return it->e->fail_reason;
}

int
mtasts_admin_cache_remove(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_error *err)
{
	int rc, removed;

	if ((rc = mtasts_cache_remove_entry(ctx, domain, &removed, err)) !=
	    MTASTS_OK)
		return rc;
	return removed ? MTASTS_OK : mtasts_err(err, MTASTS_NOTFOUND,
	    "%s is not cached", domain);
}

/*
 * D-PURGE-1: an entry nobody used since it stopped being useful goes.
 * Its last useful moment is the expiry of its policy, or for a negative
 * entry the last TXT check that found none.
 */
int
mtasts_admin_purge_due(int has_policy, time_t expires_at,
    time_t txt_checked_at, time_t now, int purge_after, time_t *since)
{
	time_t last = has_policy ? expires_at : txt_checked_at;

	if (since != NULL)
		*since = last;
	return now > last && now - last > purge_after;
}

int
mtasts_admin_cache_purge(struct mtasts_ctx *ctx,
    const struct mtasts_cache_item *it, time_t now, int *purged,
    time_t *since, struct mtasts_error *err)
{
	const struct mtasts_cache_entry *e = it->e;
	int rc;

	*purged = 0;
	if (!mtasts_admin_purge_due(e->policy != NULL, e->expires_at,
	    e->txt_checked_at, now, ctx->cfg.cache_purge_after, since))
		return MTASTS_OK;
	if ((rc = mtasts_cache_remove(ctx, e->domain, err)) == MTASTS_OK)
		*purged = 1;
	return rc;
}

int
mtasts_admin_cache_purge_stale(struct mtasts_ctx *ctx, size_t *ntmp,
    size_t *nlock, struct mtasts_error *err)
{
	return mtasts_cache_purge_stale(ctx, ntmp, nlock, err);
}

int
mtasts_admin_cache_dir_check(const struct mtasts_ctx *ctx, int strict,
    int must_exist, int *exists, struct mtasts_error *err)
{
	return mtasts_cache_dir_check(ctx, strict, must_exist, exists, err);
}
