/* SPDX-License-Identifier: ISC */
/*
 * mtasts.c - the `mtasts` command: policy lookups, cache maintenance and
 * the daily refresh, on the same core code the MTA adapters use.
 *
 *   mtasts [--config FILE] [-v] lookup [--json] [--mx HOST] [--now EPOCH] DOMAIN
 *   mtasts [--config FILE] [-v] refresh [--now EPOCH]
 *   mtasts [--config FILE] cache list | show DOMAIN | flush [DOMAIN]
 *   mtasts [--config FILE] cache purge [--now EPOCH]
 *   mtasts [--config FILE] check [--json] ... DOMAIN... | check --local
 *
 * Exit status: 0 answered, 1 internal error, 2 usage or configuration
 * error ("mtasts: <file>:<line>: <reason>", decisions.md D-CONF-1),
 * 3 `cache show`: not cached, 4 refresh finished but some policies could
 * not be refreshed. `check` has its own (0 ok, 1 warnings, 2 failures,
 * 3 could not check; docs/check.md).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_internal.h"

#define EXIT_REFRESH_FAILED 4

static int verbose;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mtasts [--config FILE] [-v] COMMAND ...\n"
	    "  lookup [--json] [--mx HOST] [--now EPOCH] DOMAIN\n"
	    "  refresh [--now EPOCH]\n"
	    "  cache list | cache show DOMAIN | cache flush [DOMAIN]\n"
	    "  cache purge [--now EPOCH]\n"
	    "  check [--json] [--no-smtp] [--port N] DOMAIN...\n"
	    "  check --local [--json] [--user NAME]...\n"
	    "  report build [--date YYYY-MM-DD] [--out DIR] | report send\n"
	    "      [--spool DIR ... | --spool-root DIR]  (fleet aggregate)\n"
	    "  version\n");
}

static void
log_stderr(void *arg, int level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info",
		"debug" };

	(void)arg;
	if (level > MTASTS_LOG_WARN + verbose)
		return;
	fprintf(stderr, "mtasts: %s: %s\n",
	    level >= 0 && level <= 3 ? names[level] : "log", msg);
}

static int
parse_now(const char *s, time_t *now)
{
	uint64_t v;

	if (mtasts_parse_u64(s, strlen(s), (uint64_t)1 << 40, &v) != 0 ||
	    v == 0) {
		fprintf(stderr, "mtasts: --now: expected Unix seconds, got "
				"\"%s\"\n",
		    s);
		return -1;
	}
	*now = (time_t)v;
	return 0;
}

static const char *
status_name(int st)
{
	switch (st) {
	case MTASTS_LOOKUP_POLICY:
		return "policy";
	case MTASTS_LOOKUP_TEMPFAIL:
		return "tempfail";
	default:
		return "none";
	}
}

static json_t *
policy_json(const struct mtasts_policy *p, const char *id)
{
	json_t *o = json_object(), *mx = json_array();
	size_t i;

	for (i = 0; i < mtasts_policy_mx_count(p); i++)
		json_array_append_new(mx, json_string(mtasts_policy_mx(p, i)));
	json_object_set_new(o, "version", json_string("STSv1"));
	json_object_set_new(o, "mode",
	    json_string(mtasts_mode_name(mtasts_policy_mode(p))));
	json_object_set_new(o, "mx", mx);
	json_object_set_new(o, "max_age",
	    json_integer((json_int_t)mtasts_policy_max_age(p)));
	json_object_set_new(o, "id", id != NULL ? json_string(id)
						: json_null());
	return o;
}

static int
cmd_lookup(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	const struct mtasts_policy *p;
	const char *mx = NULL, *domain, *ftype;
	int json = 0, i, rc, allowed = -1;
	time_t now = 0;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--mx") == 0 && i + 1 < argc)
			mx = argv[++i];
		else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			if (parse_now(argv[++i], &now) != 0)
				return EXIT_USAGE;
		} else {
			usage();
			return EXIT_USAGE;
		}
	}
	if (i != argc - 1) {
		usage();
		return EXIT_USAGE;
	}
	domain = argv[i];
	if (now != 0)
		mtasts_ctx_set_now(ctx, now);
	rc = mtasts_lookup(ctx, domain, 0, &r, &err);
	if (rc == MTASTS_INVALID) {
		fprintf(stderr, "mtasts: %s: %s\n", domain, err.text);
		return EXIT_USAGE;
	}
	if (rc != MTASTS_OK) {
		fprintf(stderr, "mtasts: lookup %s: %s\n", domain,
		    err.text[0] ? err.text : mtasts_strerror(rc));
		return EXIT_INTERNAL;
	}
	p = mtasts_result_policy(r);
	if (mx != NULL)
		allowed = p != NULL &&
		    mtasts_policy_mx_allowed(p, mx, strlen(mx));
	ftype = mtasts_result_failure_type(r);
	if (json) {
		json_t *o = json_object();
		char *s;

		json_object_set_new(o, "domain",
		    json_string(mtasts_result_domain(r)));
		json_object_set_new(o, "status",
		    json_string(status_name(mtasts_result_status(r))));
		if (p != NULL) {
			json_object_set_new(o, "source",
			    json_string(mtasts_result_source(r) ==
				    MTASTS_SOURCE_FETCHED
				? "fetched"
				: "cache"));
			json_object_set_new(o, "policy",
			    policy_json(p, mtasts_result_id(r)));
			json_object_set_new(o, "expires",
			    json_integer((json_int_t)mtasts_result_expires(r)));
		}
		if (ftype != NULL) {
			json_t *f = json_object();

			json_object_set_new(f, "result_type",
			    json_string(ftype));
			json_object_set_new(f, "reason",
			    json_string(mtasts_result_failure_reason(r)));
			json_object_set_new(o, "failure", f);
		}
		if (mx != NULL)
			json_object_set_new(o, "mx_allowed",
			    json_boolean(allowed));
		if (mtasts_result_txt_dnssec(r) != NULL)
			json_object_set_new(o, "txt_dnssec",
			    json_string(mtasts_result_txt_dnssec(r)));
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (s != NULL)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		printf("%s: %s", mtasts_result_domain(r),
		    status_name(mtasts_result_status(r)));
		if (p != NULL) {
			size_t k;

			printf(" (%s, id %s, mode %s, max_age %u, mx",
			    mtasts_result_source(r) == MTASTS_SOURCE_FETCHED
				? "fetched"
				: "cached",
			    mtasts_result_id(r) ? mtasts_result_id(r) : "-",
			    mtasts_mode_name(mtasts_policy_mode(p)),
			    (unsigned)mtasts_policy_max_age(p));
			for (k = 0; k < mtasts_policy_mx_count(p); k++)
				printf(" %s", mtasts_policy_mx(p, k));
			printf(")");
		}
		printf("\n");
		if (ftype != NULL)
			printf("  problem: %s: %s\n", ftype,
			    mtasts_result_failure_reason(r));
		if (mx != NULL)
			printf("  mx %s: %s\n", mx,
			    allowed ? "allowed by the policy"
				    : "NOT allowed by the policy");
	}
	mtasts_result_free(r);
	return 0;
}

struct domain_list {
	char **v;
	size_t n, cap;
};

static int
collect(void *arg, const char *domain)
{
	struct domain_list *l = arg;

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

static void
domain_list_free(struct domain_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
list_domains(struct mtasts_ctx *ctx, struct domain_list *l)
{
	struct mtasts_error err = { 0, "" };

	memset(l, 0, sizeof(*l));
	if (mtasts_cache_foreach(ctx, collect, l, &err) != MTASTS_OK) {
		fprintf(stderr, "mtasts: cache: %s\n",
		    err.text[0] ? err.text : "cannot list the cache");
		domain_list_free(l);
		return -1;
	}
	/* An empty cache has no array: qsort(NULL, 0) is undefined. */
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	return 0;
}

/*
 * Remove what dead or finished processes left in the cache directory
 * (D-PURGE-1): stale temp files, unused lock files. 0, or -1 on error.
 */
static int
purge_stale(struct mtasts_ctx *ctx)
{
	struct mtasts_error err = { 0, "" };
	size_t ntmp = 0, nlock = 0;

	if (mtasts_cache_purge_stale(ctx, &ntmp, &nlock, &err) !=
	    MTASTS_OK) {
		fprintf(stderr, "mtasts: cache: cannot remove stale files: "
		    "%s\n", err.text);
		return -1;
	}
	if (ntmp + nlock > 0)
		printf("cache: removed %zu stale temp file%s, %zu unused lock "
		    "file%s\n", ntmp, ntmp == 1 ? "" : "s", nlock,
		    nlock == 1 ? "" : "s");
	return 0;
}

/*
 * Drop e's domain when it has been expired (or negative) and unused for
 * cache_purge_after: 2 purged, 1 could not, 0 kept. Frees nothing.
 */
static int
purge_expired(struct mtasts_ctx *ctx, const struct mtasts_cache_entry *e,
    time_t now)
{
	struct mtasts_error err = { 0, "" };
	time_t last;

	last = e->policy != NULL ? e->expires_at : e->txt_checked_at;
	if (!(now > last && now - last > ctx->cfg.cache_purge_after))
		return 0;
	if (mtasts_cache_remove(ctx, e->domain, &err) == MTASTS_OK) {
		printf("%s: purged (expired or negative since %lld)\n",
		    e->domain, (long long)last);
		return 2;
	}
	fprintf(stderr, "mtasts: %s: cannot purge: %s\n", e->domain,
	    err.text);
	return 1;
}

/*
 * Refresh one domain; returns 0 refreshed (or nothing to do), 1 failed,
 * 2 purged.
 */
static int
refresh_one(struct mtasts_ctx *ctx, const char *domain, time_t now)
{
	struct mtasts_cache_entry *e = NULL;
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	int rc, out = 0;

	rc = mtasts_cache_load(ctx, domain, &e, &err);
	if (rc == MTASTS_CACHE_UNUSABLE) {
		/*
		 * D-CACHE-6: an unusable entry is repaired by a fetch (the
		 * lookup replaces it), never purged on its own.
		 */
		fprintf(stderr, "mtasts: %s: %s; fetching\n", domain,
		    err.text);
		err.code = 0;
		err.text[0] = '\0';
		goto fetch;
	}
	if (rc != MTASTS_OK)
		return 0;
	/* Drop entries unused and expired for cache_purge_after. */
	if ((rc = purge_expired(ctx, e, now)) != 0) {
		mtasts_cache_entry_free(e);
		return rc;
	}
	if (e->policy == NULL) {
		/* A negative entry: nothing to re-fetch. */
		mtasts_cache_entry_free(e);
		return 0;
	}
	mtasts_cache_entry_free(e);
fetch:
	rc = mtasts_lookup(ctx, domain, MTASTS_LOOKUP_FORCE_FETCH, &r, &err);
	if (rc != MTASTS_OK) {
		fprintf(stderr, "mtasts: %s: refresh failed: %s\n", domain,
		    err.text);
		return 1;
	}
	if (mtasts_result_source(r) == MTASTS_SOURCE_FETCHED) {
		const struct mtasts_policy *p = mtasts_result_policy(r);

		printf("%s: refreshed, id %s, mode %s, max_age %u\n", domain,
		    mtasts_result_id(r),
		    mtasts_mode_name(mtasts_policy_mode(p)),
		    (unsigned)mtasts_policy_max_age(p));
	} else {
		printf("%s: refresh FAILED (%s: %s); %s\n", domain,
		    mtasts_result_failure_type(r) ?
			mtasts_result_failure_type(r) : "unknown",
		    mtasts_result_failure_reason(r) ?
			mtasts_result_failure_reason(r) : "",
		    mtasts_result_status(r) == MTASTS_LOOKUP_POLICY
			? "cached policy kept"
			: "no valid cached policy");
		out = 1;
	}
	mtasts_result_free(r);
	return out;
}

static int
cmd_refresh(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct domain_list l;
	time_t now = 0;
	size_t i, nworkers;
	int k, failed = 0, status;
	pid_t *pids;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--now") == 0 && k + 1 < argc) {
			if (parse_now(argv[++k], &now) != 0)
				return EXIT_USAGE;
		} else {
			usage();
			return EXIT_USAGE;
		}
	}
	if (now != 0)
		mtasts_ctx_set_now(ctx, now);
	now = now != 0 ? now : time(NULL);
	if (list_domains(ctx, &l) != 0)
		return EXIT_INTERNAL;
	nworkers = (size_t)ctx->cfg.refresh_concurrency;
	if (nworkers > l.n)
		nworkers = l.n;
	if ((pids = calloc(nworkers + 1, sizeof(*pids))) == NULL) {
		domain_list_free(&l);
		return EXIT_INTERNAL;
	}
	fflush(stdout);
	/*
	 * Bounded concurrency: worker w refreshes every nworkers-th domain.
	 * Each worker makes its own resolver and TLS context on first use.
	 */
	for (i = 0; i < nworkers; i++) {
		if ((pids[i] = fork()) == -1) {
			fprintf(stderr, "mtasts: fork: %s\n", strerror(errno));
			failed = 1;
			break;
		}
		if (pids[i] == 0) {
			size_t j;
			int f = 0;

			for (j = i; j < l.n; j += nworkers)
				if (refresh_one(ctx, l.v[j], now) == 1)
					f = 1;
			fflush(stdout);
			_exit(f ? EXIT_REFRESH_FAILED : 0);
		}
	}
	for (i = 0; i < nworkers; i++) {
		if (pids[i] <= 0)
			continue;
		if (waitpid(pids[i], &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failed = 1;
	}
	/* Temp files of dead stores, locks of purged domains. */
	if (purge_stale(ctx) != 0)
		failed = 1;
	printf("refresh: %zu cached domains, %s\n", l.n,
	    failed ? "some refreshes FAILED (see above)" : "all refreshed");
	free(pids);
	domain_list_free(&l);
	return failed ? EXIT_REFRESH_FAILED : 0;
}

static json_t *
entry_json(const struct mtasts_cache_entry *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "domain", json_string(e->domain));
	if (e->policy != NULL) {
		size_t len;
		const char *text = mtasts_policy_text(e->policy, &len);

		json_object_set_new(o, "policy", policy_json(e->policy, e->id));
		json_object_set_new(o, "policy_text",
		    json_stringn(text, len));
	}
	json_object_set_new(o, "fetched_at",
	    json_integer((json_int_t)e->fetched_at));
	json_object_set_new(o, "expires_at",
	    json_integer((json_int_t)e->expires_at));
	json_object_set_new(o, "txt_checked_at",
	    json_integer((json_int_t)e->txt_checked_at));
	json_object_set_new(o, "txt_id", json_string(e->txt_id));
	if (e->fail_at != 0) {
		json_t *f = json_object();

		json_object_set_new(f, "at",
		    json_integer((json_int_t)e->fail_at));
		json_object_set_new(f, "id", json_string(e->fail_id));
		json_object_set_new(f, "result_type",
		    json_string(e->fail_type));
		json_object_set_new(f, "reason", json_string(e->fail_reason));
		json_object_set_new(o, "last_failure", f);
	}
	return o;
}

static int
cmd_cache(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct domain_list l;
	char dom[MTASTS_DOMAIN_MAX + 1];
	size_t i;
	int rc = 0;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		time_t now = time(NULL);

		if (list_domains(ctx, &l) != 0)
			return EXIT_INTERNAL;
		for (i = 0; i < l.n; i++) {
			struct mtasts_cache_entry *e = NULL;

			rc = mtasts_cache_load(ctx, l.v[i], &e, NULL);
			if (rc == MTASTS_CACHE_UNUSABLE) {
				/* D-CACHE-6: lookups defer until repaired. */
				printf("%-40s %-8s\n", l.v[i], "UNUSABLE");
				rc = 0;
				continue;
			}
			rc = 0;
			if (e == NULL)
				continue;
			if (e->policy != NULL)
				printf("%-40s %-8s id %-32s %s\n", e->domain,
				    mtasts_mode_name(
					mtasts_policy_mode(e->policy)),
				    e->id,
				    now < e->expires_at ? "valid"
							: "EXPIRED");
			else
				printf("%-40s %-8s\n", e->domain,
				    "no-policy");
			mtasts_cache_entry_free(e);
		}
		domain_list_free(&l);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "purge") == 0) {
		time_t now = 0;

		/* refresh's purge without the fetches (D-PURGE-1). */
		for (i = 2; i < (size_t)argc; i++) {
			if (strcmp(argv[i], "--now") == 0 &&
			    i + 1 < (size_t)argc) {
				if (parse_now(argv[++i], &now) != 0)
					return EXIT_USAGE;
			} else {
				usage();
				return EXIT_USAGE;
			}
		}
		now = now != 0 ? now : time(NULL);
		if (list_domains(ctx, &l) != 0)
			return EXIT_INTERNAL;
		for (i = 0; i < l.n; i++) {
			struct mtasts_cache_entry *e = NULL;

			if (mtasts_cache_load(ctx, l.v[i], &e, NULL) !=
			    MTASTS_OK)
				continue;
			if (purge_expired(ctx, e, now) == 1)
				rc = EXIT_INTERNAL;
			mtasts_cache_entry_free(e);
		}
		domain_list_free(&l);
		if (purge_stale(ctx) != 0)
			rc = EXIT_INTERNAL;
		return rc;
	}
	if (argc >= 2 && argc <= 3 &&
	    (strcmp(argv[1], "show") == 0 || strcmp(argv[1], "flush") == 0)) {
		if (argc == 3 &&
		    mtasts_domain_normalize(argv[2], strlen(argv[2]), dom,
			&err) != MTASTS_OK) {
			fprintf(stderr, "mtasts: %s: %s\n", argv[2], err.text);
			return EXIT_USAGE;
		}
		if (strcmp(argv[1], "show") == 0 && argc == 3) {
			struct mtasts_cache_entry *e = NULL;
			json_t *o;
			char *s;

			rc = mtasts_cache_load(ctx, dom, &e, &err);
			if (rc == MTASTS_CACHE_UNUSABLE) {
				fprintf(stderr, "mtasts: %s: %s; lookups "
				    "defer until `mtasts cache flush %s` or "
				    "`mtasts refresh` repairs it\n", dom,
				    err.text, dom);
				return 3;
			}
			if (rc != MTASTS_OK) {
				fprintf(stderr, "mtasts: %s: not cached\n",
				    dom);
				return 3;
			}
			o = entry_json(e);
			s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
			if (s != NULL)
				puts(s);
			free(s);
			json_decref(o);
			mtasts_cache_entry_free(e);
			return 0;
		}
		if (strcmp(argv[1], "flush") == 0) {
			if (argc == 3)
				return mtasts_cache_remove(ctx, dom, &err) ==
					MTASTS_OK
				    ? 0
				    : (fprintf(stderr, "mtasts: %s\n",
					   err.text),
					  EXIT_INTERNAL);
			if (list_domains(ctx, &l) != 0)
				return EXIT_INTERNAL;
			for (i = 0; i < l.n; i++)
				if (mtasts_cache_remove(ctx, l.v[i], &err) !=
				    MTASTS_OK)
					rc = EXIT_INTERNAL;
			printf("flushed %zu entries\n", l.n);
			domain_list_free(&l);
			if (purge_stale(ctx) != 0)
				rc = EXIT_INTERNAL;
			return rc;
		}
	}
	usage();
	return EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	const char *config = NULL;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			verbose++;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("mtasts %s\n", mtasts_version());
			return 0;
		} else {
			usage();
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage();
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "version") == 0) {
		printf("mtasts %s\n", mtasts_version());
		return 0;
	}
	if ((ctx = mtasts_ctx_new()) == NULL) {
		fprintf(stderr, "mtasts: out of memory\n");
		return EXIT_INTERNAL;
	}
	mtasts_ctx_set_log(ctx, log_stderr, NULL);
	if (strcmp(argv[i], "check") == 0) {
		int k;

		/* check --local reports a bad configuration, as a row. */
		for (k = i + 1; k < argc; k++)
			if (strcmp(argv[k], "--local") == 0) {
				rc = cmd_check_local(ctx, config, argc - i,
				    argv + i);
				mtasts_ctx_free(ctx);
				return rc;
			}
	}
	/* D-CONF-1: a configuration error is exit 2, naming file:line. */
	if ((rc = mtasts_ctx_load_config(ctx, config, &err)) != MTASTS_OK) {
		fprintf(stderr, "mtasts: %s\n", err.text);
		mtasts_ctx_free(ctx);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "lookup") == 0)
		rc = cmd_lookup(ctx, argc - i, argv + i);
	else if (strcmp(argv[i], "refresh") == 0)
		rc = cmd_refresh(ctx, argc - i, argv + i);
	else if (strcmp(argv[i], "cache") == 0)
		rc = cmd_cache(ctx, argc - i, argv + i);
	else if (strcmp(argv[i], "check") == 0)
		rc = cmd_check(ctx, argc - i, argv + i);
	else if (strcmp(argv[i], "report") == 0)
		rc = cmd_report(ctx, argc - i, argv + i);
	else {
		usage();
		rc = EXIT_USAGE;
	}
	mtasts_ctx_free(ctx);
	return rc;
}
