/* SPDX-License-Identifier: ISC */
/*
 * status.c - `mtasts status [--json] [--now EPOCH]`: one screen for the
 * operator when mail is held: what is enforced, what failed today (UTC)
 * and why, what will be reported, and local faults (docs/operations.md,
 * decisions.md D-MET-6).
 *
 * Exit status: 0 nothing failing, 1 internal error, 2 usage or
 * configuration error, 4 attention: a session failed today, a policy
 * refresh is failing, a cache entry is unusable, a report was given up,
 * or a source (cache, spool, report state), the cache directory or the
 * spool directory has a local fault.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "scan.h"

#define EXIT_ATTENTION 4
/* Names listed before "and N more". */
#define LIST_MAX 10

static void
print_list(const char *const *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < LIST_MAX; i++)
		printf("%s%s", i ? ", " : " ", v[i]);
	if (n > LIST_MAX)
		printf(" and %zu more", n - LIST_MAX);
	printf("\n");
}

static json_t *
str_array(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* "3 certificate-expired, 1 validation-failure" */
static void
print_fails(const struct mtasts_tally_row *d)
{
	size_t k, first = 1;

	for (k = 0; k < mtasts_tlsrpt_result_type_count(); k++)
		if (d->fail[k] > 0) {
			printf("%s%zu %s", first ? "" : ", ", d->fail[k],
			    mtasts_tlsrpt_result_type_name(k));
			first = 0;
		}
}

const char cli_status_usage[] =
    "usage: mtasts status [--json] [--now EPOCH]\n";

int
cmd_status(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct cli_scan sc;
	char day[16], warn[512], swarn[512];
	const char *why = NULL;
	size_t i, k, sessions = 0, failed = 0, enf_failed = 0, nfaildom = 0;
	int json = 0, attention = 0, exists = 0;

	for (k = 1; k < (size_t)argc; k++) {
		uint64_t v;

		if (strcmp(argv[k], "--json") == 0)
			json = 1;
		else if (strcmp(argv[k], "--now") == 0 &&
		    k + 1 < (size_t)argc &&
		    mtasts_parse_u64(argv[k + 1], strlen(argv[k + 1]),
			(uint64_t)1 << 40, &v) == 0 &&
		    v != 0) {
			mtasts_ctx_set_now(ctx, (time_t)v);
			k++;
		} else if (cli_is_help(argv[k]))
			return cli_help(cli_status_usage);
		else if (strcmp(argv[k], "--now") == 0 && k + 1 < (size_t)argc)
			return cli_usage_error(cli_status_usage, "status: "
			    "--now: expected seconds since the epoch, got "
			    "\"%.40s\"", argv[k + 1]);
		else
			return cli_bad_arg("status", cli_status_usage, argc,
			    argv, (int)k);
	}
	cli_scan(ctx, &sc);
	mtasts_admin_day_name(sc.day, day, sizeof(day));
	/* The load-time check of cache_dir, strict (as check --local). */
	warn[0] = '\0';
	if (mtasts_admin_cache_dir_check(ctx, 1, 0, &exists, &err) != MTASTS_OK)
		snprintf(warn, sizeof(warn), "cache directory: %s", err.text);
	/*
	 * The spool as the adapters open it (D-SPOOL-1): missing is fine (the
	 * first record creates it), refused means sessions go unrecorded.
	 */
	swarn[0] = '\0';
	if (mtasts_admin_spool_dir_check(ctx, &why) != 0 && errno != ENOENT)
		snprintf(swarn, sizeof(swarn), "TLS-RPT spool %s: %s; sessions "
		    "are not recorded", mtasts_admin_conf_str(ctx,
		    MTASTS_ADMIN_TLSRPT_DIR), why != NULL ? why :
		    strerror(errno));
	for (i = 0; i < sc.ntally; i++) {
		sessions += sc.tally[i].ok + sc.tally[i].failed;
		failed += sc.tally[i].failed;
		enf_failed += sc.tally[i].enforce_failed;
		nfaildom += sc.tally[i].failed > 0;
	}
	attention = failed > 0 || sc.nfailing > 0 || sc.unusable > 0 ||
	    sc.rstate[2] > 0 || !sc.cache_ok || !sc.spool_ok ||
	    !sc.state_ok || warn[0] != '\0' || swarn[0] != '\0';
	if (json) {
		json_t *o = json_object(), *f = json_array(), *r = json_array();
		json_t *src = json_object();
		char *s;

		json_object_set_new(o, "day", json_string(day));
		json_object_set_new(o, "now", json_integer(sc.now));
		json_object_set_new(o, "policies", json_pack("{s:I,s:I,s:I,"
		    "s:I,s:I,s:I}", "enforce", (json_int_t)sc.modes[2],
		    "testing", (json_int_t)sc.modes[1], "none",
		    (json_int_t)sc.modes[0], "expired",
		    (json_int_t)sc.expired, "no_policy",
		    (json_int_t)sc.negative, "unusable",
		    (json_int_t)sc.unusable));
		json_object_set_new(o, "enforce", str_array(sc.enforce,
		    sc.nenforce));
		json_object_set_new(o, "unusable", str_array(
		    sc.unusable_names, sc.nunusable_names));
		for (i = 0; i < sc.ntally; i++) {
			const struct mtasts_tally_row *d = &sc.tally[i];
			json_t *t = json_object();

			for (k = 0; k < mtasts_tlsrpt_result_type_count(); k++)
				if (d->fail[k] > 0)
					json_object_set_new(t,
					    mtasts_tlsrpt_result_type_name(k),
					    json_integer((json_int_t)
					    d->fail[k]));
			json_array_append_new(f, json_pack("{s:s,s:I,s:I,s:I,"
			    "s:o}", "domain", d->domain, "ok",
			    (json_int_t)d->ok, "failed", (json_int_t)d->failed,
			    "enforce_failed", (json_int_t)d->enforce_failed,
			    "failures", t));
		}
		json_object_set_new(o, "today", json_pack("{s:I,s:I,s:I,s:o}",
		    "sessions", (json_int_t)sessions, "failed",
		    (json_int_t)failed, "enforce_failed",
		    (json_int_t)enf_failed, "domains", f));
		for (i = 0; i < sc.nfailing; i++)
			json_array_append_new(r, json_pack("{s:s,s:s,s:s,s:I}",
			    "domain", sc.failing[i].domain, "result_type",
			    sc.failing[i].type, "reason", sc.failing[i].reason,
			    "at", (json_int_t)sc.failing[i].at));
		json_object_set_new(o, "refresh_failing", r);
		json_object_set_new(o, "reports", json_pack("{s:I,s:I,s:I,"
		    "s:I,s:o}", "domains_today", (json_int_t)sc.ntally,
		    "sent", (json_int_t)sc.rstate[0], "retrying",
		    (json_int_t)sc.rstate[1], "gave_up",
		    (json_int_t)sc.rstate[2], "pending",
		    str_array(sc.rpending, sc.nrpending)));
		json_object_set_new(src, "cache", sc.cache_ok ? json_null() :
		    json_string(sc.cache_err));
		json_object_set_new(src, "spool", sc.spool_ok ? json_null() :
		    json_string(sc.spool_err));
		json_object_set_new(src, "report_state", sc.state_ok ?
		    json_null() : json_string(sc.state_err));
		json_object_set_new(o, "source_errors", src);
		{
			json_t *wa = json_array();

			if (warn[0] != '\0')
				json_array_append_new(wa, json_string(warn));
			if (swarn[0] != '\0')
				json_array_append_new(wa, json_string(swarn));
			json_object_set_new(o, "warnings", wa);
		}
		json_object_set_new(o, "attention", json_boolean(attention));
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s != NULL)
			puts(s);
		free(s);
		json_decref(o);
		goto done;
	}
	printf("mtasts status, %s UTC (today since 00:00)\n", day);
	if (sc.cache_ok) {
		printf("enforce: %zu polic%s", sc.modes[2],
		    sc.modes[2] == 1 ? "y" : "ies");
		if (sc.nenforce > 0)
			printf(":");
		print_list((const char *const *)sc.enforce, sc.nenforce);
		printf("testing: %zu, none: %zu, no policy: %zu, expired: "
		    "%zu\n", sc.modes[1], sc.modes[0], sc.negative,
		    sc.expired);
		if (sc.unusable > 0) {
			printf("UNUSABLE cache entries (mail to them defers; "
			    "`mtasts refresh` repairs): %zu:", sc.unusable);
			print_list((const char *const *)sc.unusable_names,
			    sc.nunusable_names);
		}
		if (sc.nfailing > 0) {
			printf("refresh FAILING: %zu domain%s\n", sc.nfailing,
			    sc.nfailing == 1 ? "" : "s");
			for (i = 0; i < sc.nfailing && i < LIST_MAX; i++)
				printf("  %s: %s: %s\n", sc.failing[i].domain,
				    sc.failing[i].type, sc.failing[i].reason);
			if (sc.nfailing > LIST_MAX)
				printf("  and %zu more\n",
				    sc.nfailing - LIST_MAX);
		} else
			printf("refresh: no failures\n");
	} else
		printf("cache: CANNOT READ: %s\n", sc.cache_err);
	if (sc.spool_ok) {
		printf("today: %zu session%s to %zu policy domain%s, %zu "
		    "failed", sessions, sessions == 1 ? "" : "s", sc.ntally,
		    sc.ntally == 1 ? "" : "s", failed);
		if (enf_failed > 0)
			printf(" (%zu under enforce: not delivered over them)",
			    enf_failed);
		printf("\n");
		for (i = k = 0; i < sc.ntally; i++) {
			const struct mtasts_tally_row *d = &sc.tally[i];

			if (d->failed == 0)
				continue;
			if (k++ == LIST_MAX)
				break;
			printf("  %s: ", d->domain);
			print_fails(d);
			printf(" (%zu ok)\n", d->ok);
		}
		if (nfaildom > LIST_MAX)
			printf("  and %zu more domains with failures\n",
			    nfaildom - LIST_MAX);
		if (sc.st.torn > 0)
			printf("  %zu malformed spool lines skipped\n",
			    sc.st.torn);
		if (sc.st.dropped > 0)
			printf("  %zu sessions DROPPED: the day's spool is "
			    "full (tlsrpt_day_max)\n", sc.st.dropped);
	} else
		printf("spool: CANNOT READ: %s\n", sc.spool_err);
	printf("reports: %zu policy domain%s in today's spool (reported "
	    "tomorrow where they publish TLSRPT)\n", sc.ntally,
	    sc.ntally == 1 ? "" : "s");
	if (sc.state_ok) {
		printf("reports of the last 7 days: %zu sent, %zu retrying, "
		    "%zu given up\n", sc.rstate[0], sc.rstate[1],
		    sc.rstate[2]);
		for (i = 0; i < sc.nrpending && i < LIST_MAX; i++)
			printf("  %s\n", sc.rpending[i]);
		if (sc.nrpending > LIST_MAX)
			printf("  and %zu more\n", sc.nrpending - LIST_MAX);
	} else
		printf("reports: CANNOT READ: %s\n", sc.state_err);
	if (warn[0] != '\0')
		printf("WARNING: %s\n", warn);
	if (swarn[0] != '\0')
		printf("WARNING: %s\n", swarn);
	printf("status: %s\n", attention ? "ATTENTION (exit 4)" : "ok");
done:
	cli_scan_free(&sc);
	fflush(stdout);
	return attention ? EXIT_ATTENTION : 0;
}
