/* SPDX-License-Identifier: ISC */
/*
 * mtasts.c - the `mtasts` command: policy lookups, cache maintenance and
 * the daily refresh, on the same core code the MTA adapters use.
 *
 *   mtasts [--config FILE] [-v] [--syslog | --stderr] COMMAND [--help] ...
 *
 * Commands and their options: usage() below and mtasts(8). Every command
 * and sub-command answers --help (or -h) on stdout with exit 0. A usage
 * error names what was wrong, then prints that command's usage, on
 * stderr (exit 2).
 *
 * Exit status (the same table for every command, cli.h, mtasts(8),
 * docs/operations.md, decisions.md D-CLI-EXIT-1): 0 done, 1 the operation
 * failed, 2 usage or configuration error ("mtasts: <file>:<line>:
 * <reason>", D-CONF-1), 3 `cache show`: not cached (or unusable), 4 done
 * but some items failed (refresh: some policies could not be refreshed;
 * report send: a report was given up). `check` keeps its monitoring-
 * plugin codes (0 ok, 1 warnings, 2 failures, 3 could not check;
 * docs/check.md).
 *
 * Diagnostics go to syslog (facility mail) or stderr: log.c, D-CLI-LOG-1.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_admin.h"

static const char usage_top[] =
    "usage: mtasts [--config FILE] [-v] [--syslog | --stderr] COMMAND ...\n"
    "  lookup [--json] [--mx HOST] [--now EPOCH] DOMAIN\n"
    "  refresh [--json] [--now EPOCH]\n"
    "  cache list [--json] | cache show DOMAIN | cache flush [DOMAIN]\n"
    "  cache purge [--now EPOCH]\n"
    "  check [--json] [--no-smtp] [--port N] [--timeout SECONDS] "
    "DOMAIN...\n"
    "  check --local [--json] [--user NAME]...\n"
    "  report build [--date YYYY-MM-DD] [--out DIR] [--now EPOCH]\n"
    "  report send [--date YYYY-MM-DD] [--now EPOCH]\n"
    "      [--spool DIR ... | --spool-root DIR]  (fleet aggregate)\n"
    "  metrics [--out FILE] [--top N] [--now EPOCH]\n"
    "  status [--json] [--now EPOCH]\n"
    "  config --defaults\n"
    "  version\n"
    "COMMAND --help shows a command's usage; mtasts(8) has the details.\n";
static const char usage_lookup[] =
    "usage: mtasts lookup [--json] [--mx HOST] [--now EPOCH] DOMAIN\n";
static const char usage_refresh[] =
    "usage: mtasts refresh [--json] [--now EPOCH]\n";
static const char usage_cache[] =
    "usage: mtasts cache list [--json]\n"
    "       mtasts cache show DOMAIN\n"
    "       mtasts cache flush [DOMAIN]\n"
    "       mtasts cache purge [--now EPOCH]\n";
static const char usage_version[] = "usage: mtasts version\n";

/* The usage text --help prints for a command; NULL: not one of these. */
static const char *
command_usage(const char *name)
{
	static const struct {
		const char *name, *usage;
	} cmds[] = {
		{ "lookup", usage_lookup },
		{ "refresh", usage_refresh },
		{ "cache", usage_cache },
		{ "check", cli_check_usage },
		{ "report", cli_report_usage },
		{ "metrics", cli_metrics_usage },
		{ "status", cli_status_usage },
		{ "config", cli_config_usage },
		{ "version", usage_version },
	};
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(cmds[i].name, name) == 0)
			return cmds[i].usage;
	return NULL;
}

/* --now EPOCH: 0, or a usage error (printed, with usage) and -1. */
static int
parse_now(const char *cmd, const char *s, time_t *now, const char *usage)
{
	uint64_t v;

	if (mtasts_parse_u64(s, strlen(s), (uint64_t)1 << 40, &v) != 0 ||
	    v == 0) {
		cli_usage_error(usage, "%s: --now: expected Unix seconds, got "
		    "\"%s\"", cmd, s);
		return -1;
	}
	*now = (time_t)v;
	return 0;
}

static void
print_json(json_t *o, size_t flags)
{
	char *s = json_dumps(o, flags | JSON_SORT_KEYS);

	if (s != NULL)
		puts(s);
	free(s);
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
	json_object_set_new(o, "id", id != NULL ? json_string(id) :
	    json_null());
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
			if (parse_now("lookup", argv[++i], &now,
			    usage_lookup) != 0)
				return EXIT_USAGE;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else
			return cli_bad_arg("lookup", usage_lookup, argc, argv,
			    i);
	}
	if (i >= argc)
		return cli_usage_error(usage_lookup, "lookup: missing DOMAIN");
	if (i != argc - 1)
		return cli_bad_arg("lookup", usage_lookup, argc, argv, i + 1);
	domain = argv[i];
	if (now != 0)
		mtasts_ctx_set_now(ctx, now);
	rc = mtasts_lookup(ctx, domain, 0, &r, &err);
	if (rc == MTASTS_INVALID)
		return cli_usage_error(usage_lookup, "lookup: %s", err.text);
	if (rc != MTASTS_OK) {
		cli_log(LOG_ERR, "lookup: %s: %s", domain,
		    err.text[0] ? err.text : mtasts_strerror(rc));
		return EXIT_FAILED;
	}
	p = mtasts_result_policy(r);
	if (mx != NULL)
		allowed = p != NULL &&
		    mtasts_policy_mx_allowed(p, mx, strlen(mx));
	ftype = mtasts_result_failure_type(r);
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "domain",
		    json_string(mtasts_result_domain(r)));
		json_object_set_new(o, "status",
		    json_string(status_name(mtasts_result_status(r))));
		if (p != NULL) {
			json_object_set_new(o, "source",
			    json_string(mtasts_result_source(r) ==
			    MTASTS_SOURCE_FETCHED ? "fetched" : "cache"));
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
		print_json(o, JSON_COMPACT);
		json_decref(o);
	} else {
		printf("%s: %s", mtasts_result_domain(r),
		    status_name(mtasts_result_status(r)));
		if (p != NULL) {
			size_t k;

			printf(" (%s, id %s, mode %s, max_age %u, mx",
			    mtasts_result_source(r) == MTASTS_SOURCE_FETCHED ?
			    "fetched" : "cached",
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
			    allowed ? "allowed by the policy" :
			    "NOT allowed by the policy");
	}
	mtasts_result_free(r);
	return 0;
}

struct domain_list {
	char **v;
	size_t n;
};

static void
domain_list_free(struct domain_list *l)
{
	mtasts_admin_names_free(l->v, l->n);
}

static int
list_domains(struct mtasts_ctx *ctx, struct domain_list *l)
{
	struct mtasts_error err = { 0, "" };

	memset(l, 0, sizeof(*l));
	if (mtasts_admin_cache_list(ctx, &l->v, &l->n, &err) != MTASTS_OK) {
		/* The core's cache errors name the cache ("cache: ..."). */
		cli_log(LOG_ERR, "%s",
		    err.text[0] ? err.text : "cache: cannot list the cache");
		return -1;
	}
	return 0;
}

/*
 * Remove what dead or finished processes left in the cache directory
 * (D-PURGE-1): stale temp files, unused lock files. 0, or -1 on error.
 */
static int
purge_stale(struct mtasts_ctx *ctx, size_t *ntmp, size_t *nlock)
{
	struct mtasts_error err = { 0, "" };

	*ntmp = *nlock = 0;
	if (mtasts_admin_cache_purge_stale(ctx, ntmp, nlock, &err) !=
	    MTASTS_OK) {
		cli_log(LOG_ERR, "cannot remove stale files: %s", err.text);
		return -1;
	}
	if (*ntmp + *nlock > 0)
		cli_log(LOG_INFO, "cache: removed %zu stale temp file%s, %zu "
		    "unused lock file%s", *ntmp, *ntmp == 1 ? "" : "s", *nlock,
		    *nlock == 1 ? "" : "s");
	return 0;
}

/*
 * Drop e's domain when the core's purge rule says so (D-PURGE-1,
 * mtasts_admin_purge_due): 2 purged, 1 could not, 0 kept. Frees nothing.
 */
static int
purge_expired(struct mtasts_ctx *ctx, const struct mtasts_cache_item *e,
    time_t now, const char *who, char *why, size_t whysize)
{
	struct mtasts_error err = { 0, "" };
	const char *domain = mtasts_cache_item_domain(e);
	time_t last = 0;
	int purged = 0;

	if (mtasts_admin_cache_purge(ctx, e, now, &purged, &last, &err) ==
	    MTASTS_OK) {
		if (!purged)
			return 0;
		snprintf(why, whysize, "expired or negative since %lld",
		    (long long)last);
		cli_log(LOG_NOTICE, "%s: %s: purged (%s)", who, domain, why);
		return 2;
	}
	snprintf(why, whysize, "cannot purge: %s", err.text);
	cli_log(LOG_ERR, "%s: %s: %s", who, domain, why);
	return 1;
}

/* What refreshing one domain did (decisions.md D-CLI-EXIT-1). */
enum { R_REFRESHED, R_UNCHANGED, R_FAILED, R_PURGED, R_SKIPPED, R_NOUT };
static const char *const r_names[R_NOUT] = { "refreshed", "unchanged",
	"failed", "purged", "skipped" };

struct refresh_out {
	int what;
	char domain[MTASTS_DOMAIN_MAX + 1];
	char id[MTASTS_ID_MAX + 1];
	char mode[16];
	unsigned max_age;
	char reason[1024];
	/* The cached policy before the lookup (refresh_prepare). */
	char old_id[MTASTS_ID_MAX + 1];
	char *old_text;
	size_t old_len;
};

/*
 * The first half of refreshing one domain: what the cache holds. Returns 1
 * when the domain is to be looked up (o->old_* keep the cached policy to
 * compare with), 0 when o already says what happened.
 */
static int
refresh_prepare(struct mtasts_ctx *ctx, const char *domain, time_t now,
    struct refresh_out *o)
{
	struct mtasts_cache_item *e = NULL;
	struct mtasts_error err = { 0, "" };
	int rc;

	memset(o, 0, sizeof(*o));
	mtasts_strlcpy(o->domain, domain, sizeof(o->domain));
	rc = mtasts_admin_cache_get(ctx, domain, &e, &err);
	if (rc == MTASTS_ADMIN_UNUSABLE) {
		/*
		 * D-CACHE-6: an unusable entry is repaired by a fetch (the
		 * lookup replaces it), never purged on its own.
		 */
		cli_log(LOG_WARNING, "refresh: %s: %s; fetching", domain,
		    err.text);
		return 1;
	}
	if (rc != MTASTS_OK) {
		/* Gone since the listing (another process purged it). */
		o->what = R_SKIPPED;
		mtasts_strlcpy(o->reason, "no longer cached",
		    sizeof(o->reason));
		return 0;
	}
	/* Drop entries unused and expired for cache_purge_after. */
	if ((rc = purge_expired(ctx, e, now, "refresh", o->reason,
	    sizeof(o->reason))) != 0) {
		o->what = rc == 2 ? R_PURGED : R_FAILED;
		mtasts_cache_item_free(e);
		return 0;
	}
	if (mtasts_cache_item_policy(e) == NULL) {
		/* A negative entry: nothing to re-fetch. */
		o->what = R_SKIPPED;
		mtasts_strlcpy(o->reason, "no policy cached (negative entry)",
		    sizeof(o->reason));
		mtasts_cache_item_free(e);
		return 0;
	}
	{
		const char *t = mtasts_policy_text(mtasts_cache_item_policy(e),
		    &o->old_len);

		mtasts_strlcpy(o->old_id, mtasts_cache_item_id(e),
		    sizeof(o->old_id));
		if ((o->old_text = malloc(o->old_len + 1)) != NULL) {
			memcpy(o->old_text, t, o->old_len);
			o->old_text[o->old_len] = '\0';
		}
	}
	mtasts_cache_item_free(e);
	return 1;
}

/* The second half: what the lookup did; log it, describe it in o. */
static void
refresh_finish(const char *domain, int rc, const struct mtasts_result *r,
    const struct mtasts_error *err, struct refresh_out *o)
{
	const struct mtasts_policy *p;
	const char *old_text = o->old_text, *old_id = o->old_id;
	size_t old_len = o->old_len;

	if (rc != MTASTS_OK) {
		o->what = R_FAILED;
		mtasts_strlcpy(o->reason, err->text[0] ? err->text :
		    mtasts_strerror(rc), sizeof(o->reason));
		cli_log(LOG_ERR, "refresh: %s: FAILED: %s", domain, o->reason);
		goto done;
	}
	p = mtasts_result_policy(r);
	if (mtasts_result_source(r) == MTASTS_SOURCE_FETCHED && p != NULL) {
		size_t len;
		const char *t = mtasts_policy_text(p, &len);
		const char *id = mtasts_result_id(r) ? mtasts_result_id(r) : "";

		mtasts_strlcpy(o->id, id, sizeof(o->id));
		mtasts_strlcpy(o->mode, mtasts_mode_name(mtasts_policy_mode(p)),
		    sizeof(o->mode));
		o->max_age = (unsigned)mtasts_policy_max_age(p);
		o->what = old_text != NULL && strcmp(old_id, id) == 0 &&
		    len == old_len && memcmp(t, old_text, len) == 0 ?
		    R_UNCHANGED : R_REFRESHED;
		if (o->what == R_UNCHANGED)
			cli_log(LOG_INFO, "refresh: %s: %s id=%s max_age=%u "
			    "(fetched, unchanged)", domain, o->mode, o->id,
			    o->max_age);
		else
			cli_log(LOG_NOTICE, "refresh: %s: %s id=%s max_age=%u "
			    "(fetched, %s%s)", domain, o->mode, o->id,
			    o->max_age, old_text != NULL ? "was id=" : "new",
			    old_text != NULL ? old_id : "");
	} else {
		o->what = R_FAILED;
		snprintf(o->reason, sizeof(o->reason), "%s: %s; %s",
		    mtasts_result_failure_type(r) ?
		    mtasts_result_failure_type(r) : "unknown",
		    mtasts_result_failure_reason(r) ?
		    mtasts_result_failure_reason(r) : "",
		    mtasts_result_status(r) == MTASTS_LOOKUP_POLICY ?
		    "cached policy kept" : "no valid cached policy");
		cli_log(LOG_WARNING, "refresh: %s: FAILED: %s", domain,
		    o->reason);
	}
done:
	free(o->old_text);
	o->old_text = NULL;
}

/* The domains being looked up, and where their outcome goes. */
struct refresh_run {
	struct refresh_out *res;
	size_t *idx;			/* lookup j is res[idx[j]] */
	const char **names;
	size_t ndone;			/* done() calls */
};

static void
refresh_done(void *arg, size_t j, int rc, const struct mtasts_result *r,
    const struct mtasts_error *err)
{
	struct refresh_run *run = arg;
	struct refresh_out *o = &run->res[run->idx[j]];

	refresh_finish(o->domain, rc, r, err, o);
	run->ndone++;
}

static int
cmd_refresh(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct domain_list l;
	struct refresh_out *res = NULL;
	struct refresh_run run = { NULL, NULL, NULL, 0 };
	struct mtasts_error err = { 0, "" };
	size_t cnt[R_NOUT] = { 0 }, i, ntmp = 0, nlock = 0, nlook = 0;
	time_t now = 0;
	int k, json = 0, failed = 0, unsynced = 0;

	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--now") == 0 && k + 1 < argc) {
			if (parse_now("refresh", argv[++k], &now,
			    usage_refresh) != 0)
				return EXIT_USAGE;
		} else if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else
			return cli_bad_arg("refresh", usage_refresh, argc,
			    argv, k);
	}
	if (now != 0)
		mtasts_ctx_set_now(ctx, now);
	now = now != 0 ? now : time(NULL);
	if (list_domains(ctx, &l) != 0)
		return EXIT_FAILED;
	if ((res = calloc(l.n + 1, sizeof(*res))) == NULL ||
	    (run.idx = calloc(l.n + 1, sizeof(*run.idx))) == NULL ||
	    (run.names = calloc(l.n + 1, sizeof(*run.names))) == NULL) {
		cli_log(LOG_ERR, "refresh: %s", strerror(errno));
		free(res);
		free(run.idx);
		domain_list_free(&l);
		return EXIT_FAILED;
	}
	run.res = res;
	/*
	 * What the cache holds first (purges, negative entries), then the
	 * lookups: one process, many in flight (D-REFRESH-1), the outcomes
	 * in the order of the sorted domains, so no two lines interleave.
	 */
	for (i = 0; i < l.n; i++)
		if (refresh_prepare(ctx, l.v[i], now, &res[i])) {
			run.idx[nlook] = i;
			run.names[nlook++] = res[i].domain;
		}
	if (nlook > 0 && mtasts_refresh_run(ctx, run.names, nlook,
	    MTASTS_LOOKUP_FORCE_FETCH, refresh_done, &run, &err) !=
	    MTASTS_OK) {
		cli_log(LOG_ERR, "refresh: %s", err.text);
		/*
		 * D-CACHE-9: after every outcome, the batch's stores are not
		 * known to be durable: the outcomes stand, the job failed.
		 */
		unsynced = run.ndone == nlook;
		for (i = 0; i < nlook && !unsynced; i++) {
			struct refresh_out *o = &res[run.idx[i]];

			free(o->old_text);
			o->old_text = NULL;
			o->what = R_FAILED;
			mtasts_strlcpy(o->reason, err.text, sizeof(o->reason));
		}
	}
	for (i = 0; i < l.n; i++)
		cnt[res[i].what]++;
	/* Temp files of dead stores, locks of purged domains. */
	if (purge_stale(ctx, &ntmp, &nlock) != 0)
		failed = 1;
	if (cnt[R_FAILED] > 0)
		failed = 1;
	if (json) {
		json_t *o = json_object(), *arr = json_array();

		for (i = 0; i < l.n; i++) {
			json_t *d = json_object();

			json_object_set_new(d, "domain",
			    json_string(res[i].domain));
			json_object_set_new(d, "result",
			    json_string(r_names[res[i].what]));
			if (res[i].id[0] != '\0') {
				json_object_set_new(d, "id",
				    json_string(res[i].id));
				json_object_set_new(d, "mode",
				    json_string(res[i].mode));
				json_object_set_new(d, "max_age",
				    json_integer(res[i].max_age));
			}
			if (res[i].reason[0] != '\0')
				json_object_set_new(d, "reason",
				    json_string(res[i].reason));
			json_array_append_new(arr, d);
		}
		json_object_set_new(o, "version", json_integer(1));
		json_object_set_new(o, "cached", json_integer((json_int_t)l.n));
		for (i = 0; i < R_NOUT; i++)
			json_object_set_new(o, r_names[i],
			    json_integer((json_int_t)cnt[i]));
		json_object_set_new(o, "stale_temp_files_removed",
		    json_integer((json_int_t)ntmp));
		json_object_set_new(o, "unused_lock_files_removed",
		    json_integer((json_int_t)nlock));
		json_object_set_new(o, "domains", arr);
		json_object_set_new(o, "exit", json_integer(unsynced ?
		    EXIT_FAILED : failed ? EXIT_PARTIAL : EXIT_OK));
		print_json(o, JSON_INDENT(2));
		json_decref(o);
	} else
		printf("refresh: %zu cached domains: %zu refreshed, %zu "
		    "unchanged, %zu failed, %zu purged, %zu skipped\n", l.n,
		    cnt[R_REFRESHED], cnt[R_UNCHANGED], cnt[R_FAILED],
		    cnt[R_PURGED], cnt[R_SKIPPED]);
	free(run.names);
	free(run.idx);
	free(res);
	domain_list_free(&l);
	return unsynced ? EXIT_FAILED : failed ? EXIT_PARTIAL : EXIT_OK;
}

static json_t *
entry_json(const struct mtasts_cache_item *e)
{
	const struct mtasts_policy *p = mtasts_cache_item_policy(e);
	json_t *o = json_object();

	json_object_set_new(o, "domain",
	    json_string(mtasts_cache_item_domain(e)));
	if (p != NULL) {
		size_t len;
		const char *text = mtasts_policy_text(p, &len);

		json_object_set_new(o, "policy",
		    policy_json(p, mtasts_cache_item_id(e)));
		json_object_set_new(o, "policy_text",
		    json_stringn(text, len));
	}
	json_object_set_new(o, "fetched_at",
	    json_integer((json_int_t)mtasts_cache_item_fetched_at(e)));
	json_object_set_new(o, "expires_at",
	    json_integer((json_int_t)mtasts_cache_item_expires_at(e)));
	json_object_set_new(o, "txt_checked_at",
	    json_integer((json_int_t)mtasts_cache_item_txt_checked_at(e)));
	json_object_set_new(o, "txt_id",
	    json_string(mtasts_cache_item_txt_id(e)));
	if (mtasts_cache_item_fail_at(e) != 0) {
		json_t *f = json_object();

		json_object_set_new(f, "at",
		    json_integer((json_int_t)mtasts_cache_item_fail_at(e)));
		json_object_set_new(f, "id",
		    json_string(mtasts_cache_item_fail_id(e)));
		json_object_set_new(f, "result_type",
		    json_string(mtasts_cache_item_fail_type(e)));
		json_object_set_new(f, "reason",
		    json_string(mtasts_cache_item_fail_reason(e)));
		json_object_set_new(o, "last_failure", f);
	}
	return o;
}

/* mtasts cache list [--json]: one line (or object) per cached domain. */
static int
cache_list(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct domain_list l;
	json_t *arr = NULL;
	time_t now = time(NULL);
	size_t i;
	int k, json = 0;

	for (k = 2; k < argc; k++)
		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else
			return cli_bad_arg("cache list", usage_cache, argc,
			    argv, k);
	if (list_domains(ctx, &l) != 0)
		return EXIT_FAILED;
	if (json)
		arr = json_array();
	for (i = 0; i < l.n; i++) {
		struct mtasts_cache_item *e = NULL;
		struct mtasts_error err = { 0, "" };
		const struct mtasts_policy *p;
		const char *state;
		time_t exp;
		int rc;

		rc = mtasts_admin_cache_get(ctx, l.v[i], &e, &err);
		if (rc == MTASTS_ADMIN_UNUSABLE) {
			/* D-CACHE-6: lookups defer until repaired. */
			if (json) {
				json_t *o = json_object();

				json_object_set_new(o, "domain",
				    json_string(l.v[i]));
				json_object_set_new(o, "state",
				    json_string("unusable"));
				json_object_set_new(o, "reason",
				    json_string(err.text));
				json_array_append_new(arr, o);
			} else
				printf("%-40s %-8s\n", l.v[i], "UNUSABLE");
			continue;
		}
		if (e == NULL)
			continue;
		p = mtasts_cache_item_policy(e);
		exp = mtasts_cache_item_expires_at(e);
		state = p == NULL ? "no-policy" : now < exp ? "valid" :
		    "expired";
		if (json) {
			json_t *o = entry_json(e);

			json_object_del(o, "policy_text");
			json_object_set_new(o, "state", json_string(state));
			json_array_append_new(arr, o);
		} else if (p != NULL)
			printf("%-40s %-8s id %-32s %s\n",
			    mtasts_cache_item_domain(e),
			    mtasts_mode_name(mtasts_policy_mode(p)),
			    mtasts_cache_item_id(e), now < exp ? "valid" :
			    "EXPIRED");
		else
			printf("%-40s %-8s\n", mtasts_cache_item_domain(e),
			    "no-policy");
		mtasts_cache_item_free(e);
	}
	if (json) {
		json_t *o = json_object();

		json_object_set_new(o, "version", json_integer(1));
		json_object_set_new(o, "domains", arr);
		print_json(o, JSON_INDENT(2));
		json_decref(o);
	}
	domain_list_free(&l);
	return EXIT_OK;
}

/* refresh's purge without the fetches (D-PURGE-1). */
static int
cache_purge(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct domain_list l;
	char why[512];
	time_t now = 0;
	size_t i, npurged = 0, nfailed = 0, ntmp = 0, nlock = 0;
	int k, rc = EXIT_OK;

	for (k = 2; k < argc; k++) {
		if (strcmp(argv[k], "--now") == 0 && k + 1 < argc) {
			if (parse_now("cache purge", argv[++k], &now,
			    usage_cache) != 0)
				return EXIT_USAGE;
		} else
			return cli_bad_arg("cache purge", usage_cache, argc,
			    argv, k);
	}
	now = now != 0 ? now : time(NULL);
	if (list_domains(ctx, &l) != 0)
		return EXIT_FAILED;
	for (i = 0; i < l.n; i++) {
		struct mtasts_cache_item *e = NULL;

		if (mtasts_admin_cache_get(ctx, l.v[i], &e, NULL) != MTASTS_OK)
			continue;
		switch (purge_expired(ctx, e, now, "cache purge", why,
		    sizeof(why))) {
		case 1:
			nfailed++;
			break;
		case 2:
			npurged++;
			break;
		}
		mtasts_cache_item_free(e);
	}
	domain_list_free(&l);
	if (purge_stale(ctx, &ntmp, &nlock) != 0)
		nfailed++;
	printf("cache purge: %zu purged, %zu failed, removed %zu stale temp "
	    "file%s, %zu unused lock file%s\n", npurged, nfailed, ntmp,
	    ntmp == 1 ? "" : "s", nlock, nlock == 1 ? "" : "s");
	if (nfailed > 0)
		rc = EXIT_FAILED;
	return rc;
}

static int
cmd_cache(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct domain_list l;
	char dom[MTASTS_DOMAIN_MAX + 1];
	const char *sub;
	size_t i, ntmp, nlock, nfailed = 0;
	struct mtasts_cache_item *e = NULL;
	json_t *o;
	int rc;

	if (argc < 2)
		return cli_usage_error(usage_cache, "cache: missing "
		    "sub-command (list, show, flush or purge)");
	sub = argv[1];
	if (strcmp(sub, "list") == 0)
		return cache_list(ctx, argc, argv);
	if (strcmp(sub, "purge") == 0)
		return cache_purge(ctx, argc, argv);
	if (strcmp(sub, "show") != 0 && strcmp(sub, "flush") != 0)
		return cli_usage_error(usage_cache, "cache: unknown "
		    "sub-command \"%s\"", sub);
	if (argc > 2 && argv[2][0] == '-')
		return cli_bad_arg(strcmp(sub, "show") == 0 ? "cache show" :
		    "cache flush", usage_cache, argc, argv, 2);
	if (argc > 3)
		return cli_bad_arg(strcmp(sub, "show") == 0 ? "cache show" :
		    "cache flush", usage_cache, argc, argv, 3);
	if (argc == 3 && mtasts_domain_normalize(argv[2], strlen(argv[2]),
	    dom, &err) != MTASTS_OK)
		return cli_usage_error(usage_cache, "cache %s: %s", sub,
		    err.text);
	if (strcmp(sub, "show") == 0) {
		if (argc != 3)
			return cli_usage_error(usage_cache, "cache show: "
			    "missing DOMAIN");
		rc = mtasts_admin_cache_get(ctx, dom, &e, &err);
		if (rc == MTASTS_ADMIN_UNUSABLE) {
			cli_log(LOG_WARNING, "%s; lookups of %s defer until "
			    "`mtasts cache flush %s` or `mtasts refresh` "
			    "repairs it", err.text, dom, dom);
			return EXIT_NOTFOUND;
		}
		if (rc != MTASTS_OK) {
			/* The answer to the question, not an event. */
			fprintf(stderr, "mtasts: cache show: %s: not cached\n",
			    dom);
			return EXIT_NOTFOUND;
		}
		o = entry_json(e);
		print_json(o, JSON_INDENT(2));
		json_decref(o);
		mtasts_cache_item_free(e);
		return EXIT_OK;
	}
	/* flush */
	if (argc == 3) {
		if ((rc = mtasts_admin_cache_remove(ctx, dom, &err)) ==
		    MTASTS_NOTFOUND) {
			/* A typo must not look like a done flush. */
			cli_log(LOG_NOTICE, "cache flush: %s: not cached, "
			    "nothing removed", dom);
			return EXIT_NOTFOUND;
		}
		if (rc != MTASTS_OK) {
			cli_log(LOG_ERR, "%s", err.text);
			return EXIT_FAILED;
		}
		cli_log(LOG_NOTICE, "cache flush: %s: removed", dom);
		return EXIT_OK;
	}
	if (list_domains(ctx, &l) != 0)
		return EXIT_FAILED;
	for (i = 0; i < l.n; i++)
		/* NOTFOUND: removed by another process since the listing. */
		if ((rc = mtasts_admin_cache_remove(ctx, l.v[i], &err)) !=
		    MTASTS_OK && rc != MTASTS_NOTFOUND) {
			cli_log(LOG_ERR, "%s", err.text);
			nfailed++;
		}
	rc = purge_stale(ctx, &ntmp, &nlock) != 0 ? EXIT_FAILED : EXIT_OK;
	printf("flushed %zu entries, %zu failed\n", l.n - nfailed, nfailed);
	cli_log(LOG_NOTICE, "cache flush: %zu entries removed, %zu failed",
	    l.n - nfailed, nfailed);
	domain_list_free(&l);
	return nfailed > 0 ? EXIT_FAILED : rc;
}

int
main(int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	const char *config = NULL, *u;
	int i, k, rc, logmode = CLI_LOG_AUTO;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strcmp(argv[i], "-v") == 0)
			cli_verbose++;
		else if (strcmp(argv[i], "--syslog") == 0)
			logmode = CLI_LOG_SYSLOG;
		else if (strcmp(argv[i], "--stderr") == 0)
			logmode = CLI_LOG_STDERR;
		else if (strcmp(argv[i], "--version") == 0) {
			printf("mtasts %s\n", mtasts_version());
			return EXIT_OK;
		} else if (cli_is_help(argv[i]))
			return cli_help(usage_top);
		else
			return cli_bad_arg("mtasts", usage_top, argc, argv, i);
	}
	if (i >= argc)
		return cli_usage_error(usage_top, "missing COMMAND");
	/* mtasts help [COMMAND], COMMAND [...] --help: usage on stdout. */
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc && (u = command_usage(argv[i + 1])) != NULL)
			return cli_help(u);
		return cli_help(usage_top);
	}
	if ((u = command_usage(argv[i])) != NULL)
		for (k = i + 1; k < argc && strcmp(argv[k], "--") != 0; k++)
			if (cli_is_help(argv[k]))
				return cli_help(u);
	if (strcmp(argv[i], "version") == 0) {
		if (i + 1 < argc)
			return cli_bad_arg("version", usage_version, argc,
			    argv, i + 1);
		printf("mtasts %s\n", mtasts_version());
		return EXIT_OK;
	}
	if (strcmp(argv[i], "config") == 0)
		return cmd_config(argc - i, argv + i);
	cli_log_open(logmode);
	if ((ctx = mtasts_ctx_new()) == NULL) {
		cli_log(LOG_ERR, "out of memory");
		return EXIT_FAILED;
	}
	mtasts_ctx_set_log(ctx, cli_log_lib, NULL);
	if (strcmp(argv[i], "check") == 0) {
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
		cli_log(LOG_ERR, "%s", err.text);
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
	else if (strcmp(argv[i], "metrics") == 0)
		rc = cmd_metrics(ctx, argc - i, argv + i);
	else if (strcmp(argv[i], "status") == 0)
		rc = cmd_status(ctx, argc - i, argv + i);
	else
		rc = cli_usage_error(usage_top, "unknown command \"%s\"",
		    argv[i]);
	mtasts_ctx_free(ctx);
	return rc;
}
