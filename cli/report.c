/* SPDX-License-Identifier: ISC */
/*
 * report.c - `mtasts report build|send`: RFC 8460 aggregate reports from
 * the TLS-RPT session spool, one per policy domain with a TLSRPT record.
 *
 *   mtasts report build [--date YYYY-MM-DD] [--out DIR] [--now EPOCH]
 *                       [--spool DIR ... | --spool-root DIR]
 *   mtasts report send [--date YYYY-MM-DD] [--now EPOCH]
 *                      [--spool DIR ... | --spool-root DIR]
 *
 * --spool (repeatable) or --spool-root (every subdirectory one host's
 * spool) aggregate the spools of a fleet into one report per policy
 * domain and day with summed counts, whose report-id names no host
 * (docs/decisions.md D-RPT-11); without them the report is this host's.
 *
 * The date defaults to yesterday (UTC): run both daily, some hours after
 * midnight UTC (docs/tlsrpt.md). `send` keeps one state file per report in
 * report_dir/state and retries failed deliveries with exponential back-off
 * on later runs, for up to 24 hours after the first attempt (§5.5): the
 * rule and the state are the core's (mtasts_admin_report_send, D-RPT-10).
 *
 * Exit status: 0 done (or retries pending), 1 internal error, 2 usage or
 * configuration error, 4 some report could not be delivered and was given
 * up after 24 hours.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_admin.h"

#define EXIT_GAVE_UP 4
#define DAY 86400
#define REPORT_PATH_MAX 1024	/* mtasts.conf paths */
/* Spool directories one fleet report reads. */
#define SPOOLS_MAX 1024

const char cli_report_usage[] =
    "usage: mtasts report build [--date YYYY-MM-DD] [--out DIR] "
    "[--now EPOCH]\n"
    "           [--spool DIR ... | --spool-root DIR]\n"
    "       mtasts report send [--date YYYY-MM-DD] [--now EPOCH]\n"
    "           [--spool DIR ... | --spool-root DIR]\n";

/* "YYYY-MM-DD" to the Unix time of its 00:00 UTC. */
static int
parse_date(const char *s, time_t *out)
{
	uint64_t y, m, d;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	int64_t days;
	uint64_t yy;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
	    mtasts_parse_u64(s, 4, 9999, &y) != 0 || y < 1970 ||
	    mtasts_parse_u64(s + 5, 2, 12, &m) != 0 || m == 0 ||
	    mtasts_parse_u64(s + 8, 2, 31, &d) != 0 || d == 0 ||
	    d > (uint64_t)mdays[m - 1])
		return -1;
	/* Days from civil (H. Hinnant), proleptic Gregorian. */
	yy = m <= 2 ? y - 1 : y;
	{
		int64_t era = (int64_t)yy / 400;
		int64_t yoe = (int64_t)yy - era * 400;
		int64_t mp = ((int64_t)m + 9) % 12;
		int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
		int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

		days = era * 146097 + doe - 719468;
	}
	*out = (time_t)(days * DAY);
	{
		char back[16];

		/* Rejects 2023-02-29 and the like. */
		mtasts_admin_day_name(*out, back, sizeof(back));
		if (strcmp(back, s) != 0)
			return -1;
	}
	return 0;
}

/* Write data to dir/name atomically (mtasts_write_atomic), mode 0640. */
static int
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[REPORT_PATH_MAX * 2], tmp[REPORT_PATH_MAX * 2 + 32];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (size_t)snprintf(tmp, sizeof(tmp),
	    "%s/.tmp.%ld.%s", dir, (long)getpid(), name) >= sizeof(tmp))
		return -1;
	return mtasts_write_atomic(path, tmp, data, len, 0640);
}

static const char *
report_dir(const struct mtasts_ctx *ctx)
{
	return mtasts_admin_conf_str(ctx, MTASTS_ADMIN_REPORT_DIR);
}

static void
print_stats(const char *ymd, const struct mtasts_report_counts *st,
    size_t nreports)
{
	printf("summary date=%s sessions=%zu torn=%zu excluded=%zu "
	    "dropped=%zu domains=%zu reports=%zu no_tlsrpt=%zu tempfail=%zu "
	    "duplicates=%zu spools=%zu copies=%zu\n", ymd, st->records,
	    st->torn, st->excluded, st->dropped, st->domains, nreports,
	    st->no_tlsrpt, st->tempfail, st->duplicates, st->spools,
	    st->copies);
}

/* *pending: reports neither delivered nor given up after this run. */
static int
send_reports(struct mtasts_ctx *ctx, const struct mtasts_reports *rs,
    time_t now, size_t *pending)
{
	char sdir[REPORT_PATH_MAX + 16];
	size_t i, n = mtasts_reports_count(rs), nsent = 0, nalready = 0,
	    nlater = 0, nretry = 0, ngaveup = 0, nfailed = 0;
	int rc = 0;

	if (mtasts_admin_report_state_dir(ctx, sdir, sizeof(sdir)) != 0 ||
	    mtasts_mkdir_p(sdir, 0750, NULL) != 0) {
		cli_log(LOG_ERR, "report send: %s: %s", sdir, strerror(errno));
		*pending = n;
		return EXIT_FAILED;
	}
	for (i = 0; i < n; i++) {
		const char *name = mtasts_reports_file_name(rs, i);
		struct mtasts_send_result r;

		/* The §5.5 rule and the send state are the core's. */
		if (mtasts_admin_report_send(ctx, rs, i, now, &r) !=
		    MTASTS_OK) {
			(*pending)++;
			nfailed++;
			cli_log(LOG_ERR, "report send: %s: %s", sdir,
			    strerror(errno));
			rc = EXIT_INTERNAL;
			continue;
		}
		switch (r.outcome) {
		case MTASTS_SEND_ALREADY:
			printf("already-sent %s %s\n", name, r.done);
			nalready++;
			continue;
		case MTASTS_SEND_GAVE_UP_EARLIER:
			printf("gave-up %s\n", name);
			ngaveup++;
			continue;
		case MTASTS_SEND_LATER:
			printf("later %s %lld\n", name, r.next);
			nlater++;
			(*pending)++;
			continue;
		case MTASTS_SEND_SENT:
			printf("sent %s %s\n", name, r.done);
			nsent++;
			cli_log(LOG_NOTICE, "report send: %s: sent to %s",
			    name, r.done);
			break;
		case MTASTS_SEND_GAVE_UP:
			rc = EXIT_GAVE_UP;
			printf("gave-up %s %s\n", name, r.why);
			ngaveup++;
			cli_log(LOG_ERR, "report send: %s: given up after %d "
			    "hours of retries: %s", name,
			    MTASTS_RETRY_WINDOW / 3600, r.why);
			break;
		default:
			nretry++;
			(*pending)++;
			printf("retry %s %lld %s\n", name, r.next, r.why);
			cli_log(LOG_WARNING, "report send: %s: not delivered, "
			    "retry at %lld: %s", name, r.next, r.why);
			break;
		}
		if (r.state_failed) {
			/* Not recorded: the next run decides again. */
			(*pending)++;
			nfailed++;
			cli_log(LOG_ERR, "report send: cannot write %s: %s",
			    r.state_path, strerror(r.state_errno));
			rc = EXIT_INTERNAL;
		}
	}
	/* The failures counted, as the other commands' summaries do. */
	printf("send reports=%zu sent=%zu already_sent=%zu retry=%zu "
	    "later=%zu gave_up=%zu state_errors=%zu\n", n, nsent, nalready,
	    nretry, nlater, ngaveup, nfailed);
	return rc;
}

/*
 * Retention (decisions.md D-RET-1, the rule is the core's): what is older
 * than report_retention_days goes; one line on stdout, one log line for
 * what was removed, a warning for old spool days that were never
 * reported. 0, or -1 when something could not be removed.
 */
static int
prune(struct mtasts_ctx *ctx, time_t now, int own_spool)
{
	struct mtasts_retention_counts ps;
	struct mtasts_error err = { 0, "" };
	int rc;

	rc = mtasts_admin_retention(ctx, now, own_spool, &ps, &err);
	printf("retention days=%d spool=%zu reports=%zu report_dirs=%zu "
	    "state=%zu other=%zu kept_pending=%zu kept_unreported=%zu "
	    "errors=%zu\n", ps.days, ps.spool_files, ps.report_files,
	    ps.report_dirs, ps.state_files, ps.other_files, ps.kept_pending,
	    ps.kept_unreported, ps.errors);
	if (ps.spool_files + ps.report_files + ps.report_dirs +
	    ps.state_files + ps.other_files > 0)
		cli_log(LOG_INFO, "retention: removed %zu spool, %zu report, "
		    "%zu state file(s) and %zu report dir(s) older than %d "
		    "days", ps.spool_files, ps.report_files, ps.state_files,
		    ps.report_dirs, ps.days);
	if (ps.kept_unreported > 0)
		cli_log(LOG_WARNING, "retention: %zu spool day(s) older than "
		    "%d days were never reported and are kept (oldest %s; "
		    "`mtasts report send --date %s` reports it)",
		    ps.kept_unreported, ps.days, ps.oldest_unreported,
		    ps.oldest_unreported);
	if (rc != MTASTS_OK) {
		cli_log(LOG_ERR, "%s", err.text);
		return -1;
	}
	return 0;
}

static int
cmp_str(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every subdirectory of root, sorted: one host's spool each. */
static int
spool_root(const char *root, char **spools, size_t *n)
{
	DIR *d;
	struct dirent *de;
	size_t start = *n;

	if ((d = opendir(root)) == NULL) {
		cli_log(LOG_ERR, "report: --spool-root %s: %s", root,
		    strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char p[REPORT_PATH_MAX];
		struct stat sb;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", root,
		    de->d_name) >= sizeof(p) || lstat(p, &sb) != 0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		if (*n == SPOOLS_MAX || (spools[*n] = strdup(p)) == NULL) {
			cli_log(LOG_ERR, "report: --spool-root %s: more than "
			    "%d spools or out of memory", root, SPOOLS_MAX);
			closedir(d);
			return -1;
		}
		(*n)++;
	}
	closedir(d);
	qsort(spools + start, *n - start, sizeof(spools[0]), cmp_str);
	return 0;
}

int
cmd_report(struct mtasts_ctx *ctx, int argc, char **argv)
{
	static char *spools[SPOOLS_MAX];
	size_t nspools = 0;
	int fleet = 0;
	const char *out = NULL, *date = NULL;
	char ymd[16], dir[REPORT_PATH_MAX * 2];
	struct mtasts_reports *v = NULL;
	struct mtasts_report_counts st;
	struct mtasts_error err = { 0, "" };
	time_t now, day;
	size_t n = 0, i;
	int send, rc = EXIT_INTERNAL, k;
	size_t pending = 0;

	send = -1;
	/* The sub-command may follow --now (as `mtasts lookup` allows). */
	for (k = 1; k < argc; k++) {
		if (send < 0 && (strcmp(argv[k], "build") == 0 ||
		    strcmp(argv[k], "send") == 0))
			send = strcmp(argv[k], "send") == 0;
		else if (strcmp(argv[k], "--date") == 0 && k + 1 < argc)
			date = argv[++k];
		else if (strcmp(argv[k], "--out") == 0 && k + 1 < argc)
			out = argv[++k];
		else if (strcmp(argv[k], "--spool") == 0 && k + 1 < argc) {
			fleet = 1;
			if (nspools == SPOOLS_MAX) {
				rc = cli_usage_error(cli_report_usage,
				    "report: more than %d --spool options",
				    SPOOLS_MAX);
				goto done;
			}
			if ((spools[nspools] = strdup(argv[++k])) == NULL) {
				cli_log(LOG_ERR, "report: out of memory");
				goto done;
			}
			nspools++;
		} else if (strcmp(argv[k], "--spool-root") == 0 &&
		    k + 1 < argc) {
			fleet = 1;
			if (spool_root(argv[++k], spools, &nspools) != 0) {
				rc = EXIT_USAGE;
				goto done;
			}
		} else if (strcmp(argv[k], "--now") == 0 && k + 1 < argc) {
			uint64_t t;

			if (mtasts_parse_u64(argv[k + 1], strlen(argv[k + 1]),
			    (uint64_t)1 << 40, &t) != 0 || t == 0) {
				rc = cli_usage_error(cli_report_usage,
				    "report: --now: expected Unix seconds, got "
				    "\"%s\"", argv[k + 1]);
				goto done;
			}
			mtasts_ctx_set_now(ctx, (time_t)t);
			k++;
		} else if (send < 0 && argv[k][0] != '-') {
			rc = cli_usage_error(cli_report_usage, "report: "
			    "unknown sub-command \"%s\"", argv[k]);
			goto done;
		} else {
			rc = cli_bad_arg(send < 0 ? "report" : send ?
			    "report send" : "report build", cli_report_usage,
			    argc, argv, k);
			goto done;
		}
	}
	if (send < 0) {
		rc = cli_usage_error(cli_report_usage, "report: missing "
		    "sub-command (build or send)");
		goto done;
	}
	if (send && out != NULL) {
		rc = cli_usage_error(cli_report_usage, "report send: --out is "
		    "for report build only");
		goto done;
	}
	now = mtasts_admin_now(ctx);
	if (date != NULL) {
		if (parse_date(date, &day) != 0) {
			rc = cli_usage_error(cli_report_usage, "report: "
			    "--date: expected YYYY-MM-DD, got \"%s\"", date);
			goto done;
		}
	} else
		day = now - DAY;	/* yesterday, UTC */
	mtasts_admin_day_name(day, ymd, sizeof(ymd));
	if (fleet && nspools == 0) {
		rc = cli_usage_error(cli_report_usage, "report: --spool-root: "
		    "no spool directory in it");
		goto done;
	}
	k = mtasts_admin_report_build(ctx, day, fleet ? (const char *const *)
	    spools : NULL, nspools, &v, &st, &err);
	if (k != MTASTS_OK) {
		cli_log(LOG_ERR, "report: %s", err.text);
		rc = k == MTASTS_ADMIN_CONFIG ? EXIT_USAGE : EXIT_INTERNAL;
		goto done;
	}
	n = mtasts_reports_count(v);
	if (st.torn > 0)
		cli_log(LOG_WARNING, "report: %s: %zu torn or malformed "
		    "spool lines skipped", ymd, st.torn);
	if (st.dropped > 0)
		cli_log(LOG_WARNING, "report: %s: %zu sessions were "
		    "dropped when the day's spool was full", ymd,
		    st.dropped);
	if (out != NULL)
		mtasts_strlcpy(dir, out, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s/%s", report_dir(ctx), ymd);
	if (n > 0 && mtasts_mkdir_p(dir, 0750, NULL) != 0) {
		cli_log(LOG_ERR, "report: %s: %s", dir, strerror(errno));
		goto done;
	}
	/* Both commands keep the JSON of what they report. */
	for (i = 0; i < n; i++) {
		const char *name = mtasts_reports_file_name(v, i), *json;
		size_t jlen;

		json = mtasts_reports_json(v, i, &jlen);
		if (write_file(dir, name, json, jlen) != 0) {
			cli_log(LOG_ERR, "report: cannot write %s/%s: %s",
			    dir, name, strerror(errno));
			goto done;
		}
		if (!send)
			printf("wrote %s/%s\n", dir, name);
	}
	print_stats(ymd, &st, n);
	if (!send) {
		rc = EXIT_OK;
		goto done;
	}
	rc = send_reports(ctx, v, now, &pending);
	/*
	 * D-RET-1: every report of this host's spool day is delivered or
	 * given up (or there was none), and no domain's TLSRPT record was
	 * left unknown (tempfail: its report was not built, a later
	 * `report send --date` may build it): the marker lets a later run
	 * prune that spool day once it is old. Then the pruning itself.
	 */
	if (!fleet && pending == 0 && st.tempfail == 0) {
		char mark[REPORT_PATH_MAX * 2];

		snprintf(mark, sizeof(mark), "%s/%s", report_dir(ctx), ymd);
		err.text[0] = '\0';
		if (mtasts_mkdir_p(mark, 0750, NULL) != 0 ||
		    mtasts_admin_report_mark_day(ctx, mark, &err) !=
			MTASTS_OK) {
			cli_log(LOG_ERR, "report send: %s: %s", mark,
			    err.text[0] ? err.text : strerror(errno));
			if (rc == EXIT_OK)
				rc = EXIT_FAILED;
		}
	}
	if (prune(ctx, now, !fleet) != 0 && rc == EXIT_OK)
		rc = EXIT_FAILED;
done:
	fflush(stdout);
	mtasts_reports_free(v);
	for (i = 0; i < nspools; i++)
		free(spools[i]);
	return rc;
}
