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
 * on later runs, for up to 24 hours after the first attempt (§5.5).
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

#include <jansson.h>

#include "cli.h"
#include "mtasts.h"
#include "mtasts_internal.h"

#define EXIT_GAVE_UP 4
#define DAY 86400
/* §5.5: redeliver for up to 24 hours, exponential back-off. */
#define RETRY_WINDOW DAY
#define RETRY_FIRST 300
#define RETRY_MAX (4 * 3600)
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
		mtasts_tlsrpt_day_name(*out, back, sizeof(back));
		if (strcmp(back, s) != 0)
			return -1;
	}
	return 0;
}

/* Write data to dir/name atomically (cli_write_atomic), mode 0640. */
static int
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[MTASTS_PATH_MAX * 2], tmp[MTASTS_PATH_MAX * 2 + 32];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (size_t)snprintf(tmp, sizeof(tmp),
	    "%s/.tmp.%ld.%s", dir, (long)getpid(), name) >= sizeof(tmp))
		return -1;
	return cli_write_atomic(path, tmp, data, len, 0640);
}

static const char *
report_dir(const struct mtasts_ctx *ctx)
{
	return ctx->cfg.report_dir[0] ? ctx->cfg.report_dir :
	    MTASTS_REPORT_DIR_DEFAULT;
}

static void
print_stats(const char *ymd, const struct mtasts_report_stats *st,
    size_t nreports)
{
	printf("summary date=%s sessions=%zu torn=%zu excluded=%zu "
	    "dropped=%zu domains=%zu reports=%zu no_tlsrpt=%zu tempfail=%zu "
	    "duplicates=%zu spools=%zu\n", ymd, st->records, st->torn,
	    st->excluded, st->dropped, st->domains, nreports, st->no_tlsrpt,
	    st->tempfail, st->duplicates, st->spools);
}

/* Send state of one report: report_dir/state/<file>.state (JSON). */
struct state {
	long long first, next, attempts;
	char done[MTASTS_TLSRPT_URI_MAX + 1];
	int gave_up;
};

static void
state_load(const char *path, struct state *s)
{
	json_t *j;
	const char *d;

	memset(s, 0, sizeof(*s));
	if ((j = json_load_file(path, 0, NULL)) == NULL)
		return;
	s->first = json_integer_value(json_object_get(j, "first"));
	s->next = json_integer_value(json_object_get(j, "next"));
	s->attempts = json_integer_value(json_object_get(j, "attempts"));
	s->gave_up = json_is_true(json_object_get(j, "gave_up"));
	if ((d = json_string_value(json_object_get(j, "done"))) != NULL)
		mtasts_strlcpy(s->done, d, sizeof(s->done));
	json_decref(j);
}

static int
state_store(const char *dir, const char *name, const struct state *s)
{
	json_t *j;
	char *txt;
	int rc;

	j = json_pack("{s:I, s:I, s:I, s:s?, s:b}", "first",
	    (json_int_t)s->first, "next", (json_int_t)s->next, "attempts",
	    (json_int_t)s->attempts, "done", s->done[0] ? s->done : NULL,
	    "gave_up", s->gave_up);
	if (j == NULL || (txt = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		return -1;
	}
	rc = write_file(dir, name, txt, strlen(txt));
	free(txt);
	json_decref(j);
	return rc;
}

/*
 * Count the send state files of reports whose day began at or after
 * since (D-MET-4): st[0] sent, st[1] retrying (or not yet tried), st[2]
 * given up. The names of reports retrying or given up go to fn when it is
 * not NULL. 0, or -1 when the state directory cannot be read (a missing
 * one is no report yet: 0).
 */
int
report_state_scan(struct mtasts_ctx *ctx, time_t since, size_t st[3],
    void (*fn)(void *, const char *, int), void *arg)
{
	char sdir[MTASTS_PATH_MAX + 16], p[MTASTS_PATH_MAX + 300];
	struct dirent *de;
	DIR *d;

	st[0] = st[1] = st[2] = 0;
	snprintf(sdir, sizeof(sdir), "%s/state", report_dir(ctx));
	if ((d = opendir(sdir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		const char *b, *e;
		struct state s;
		uint64_t begin;
		size_t n = strlen(de->d_name);
		int k;

		/* submitter!domain!begin!end!id.json.state (§5.1 + .state) */
		if (de->d_name[0] == '.' || n < 7 ||
		    strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		if ((b = strchr(de->d_name, '!')) == NULL ||
		    (b = strchr(b + 1, '!')) == NULL ||
		    (e = strchr(b + 1, '!')) == NULL ||
		    mtasts_parse_u64(b + 1, (size_t)(e - b - 1),
		    (uint64_t)1 << 40, &begin) != 0 || (time_t)begin < since)
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", sdir,
		    de->d_name) >= sizeof(p))
			continue;
		state_load(p, &s);
		k = s.done[0] != '\0' ? 0 : s.gave_up ? 2 : 1;
		st[k]++;
		if (k != 0 && fn != NULL)
			fn(arg, de->d_name, k);
	}
	closedir(d);
	return 0;
}

/* *pending: reports neither delivered nor given up after this run. */
static int
send_reports(struct mtasts_ctx *ctx, struct mtasts_report *v, size_t n,
    time_t now, size_t *pending)
{
	char sdir[MTASTS_PATH_MAX + 16], sname[sizeof(v[0].file_name) + 8];
	char spath[sizeof(sdir) + sizeof(sname) + 2];
	size_t i, nsent = 0, nalready = 0, nlater = 0, nretry = 0,
	    ngaveup = 0, nfailed = 0;
	int rc = 0;

	snprintf(sdir, sizeof(sdir), "%s/state", report_dir(ctx));
	if (mtasts_mkdir_p(sdir, 0750, NULL) != 0) {
		cli_log(LOG_ERR, "report send: %s: %s", sdir, strerror(errno));
		*pending = n;
		return EXIT_FAILED;
	}
	for (i = 0; i < n; i++) {
		struct mtasts_report *r = &v[i];
		struct mtasts_error err = { 0, "" };
		struct state s;
		char done[MTASTS_TLSRPT_URI_MAX + 1];
		long long wait;

		snprintf(sname, sizeof(sname), "%s.state", r->file_name);
		snprintf(spath, sizeof(spath), "%s/%s", sdir, sname);
		state_load(spath, &s);
		if (s.done[0] != '\0') {
			printf("already-sent %s %s\n", r->file_name, s.done);
			nalready++;
			continue;
		}
		if (s.gave_up) {
			printf("gave-up %s\n", r->file_name);
			ngaveup++;
			continue;
		}
		if (s.attempts > 0 && now < s.next) {
			printf("later %s %lld\n", r->file_name, s.next);
			nlater++;
			(*pending)++;
			continue;
		}
		if (s.first == 0)
			s.first = now;
		s.attempts++;
		if (mtasts_report_deliver(ctx, r, now, done, sizeof(done),
		    &err) == MTASTS_OK) {
			mtasts_strlcpy(s.done, done, sizeof(s.done));
			printf("sent %s %s\n", r->file_name, done);
			nsent++;
			cli_log(LOG_NOTICE, "report send: %s: sent to %s",
			    r->file_name, done);
		} else if (now - s.first >= RETRY_WINDOW) {
			s.gave_up = 1;
			rc = EXIT_GAVE_UP;
			printf("gave-up %s %s\n", r->file_name, err.text);
			ngaveup++;
			cli_log(LOG_ERR, "report send: %s: given up after %d "
			    "hours of retries: %s", r->file_name,
			    RETRY_WINDOW / 3600, err.text);
		} else {
			/* 5 min, 10, 20, ... at most 4 h between tries. */
			wait = (long long)RETRY_FIRST << (s.attempts > 7 ? 6 :
			    s.attempts - 1);
			if (wait > RETRY_MAX)
				wait = RETRY_MAX;
			s.next = now + wait;
			nretry++;
			(*pending)++;
			printf("retry %s %lld %s\n", r->file_name, s.next,
			    err.text);
			cli_log(LOG_WARNING, "report send: %s: not delivered, "
			    "retry at %lld: %s", r->file_name, s.next,
			    err.text);
		}
		if (state_store(sdir, sname, &s) != 0) {
			/* Not recorded: the next run decides again. */
			(*pending)++;
			nfailed++;
			cli_log(LOG_ERR, "report send: cannot write %s: %s",
			    spath, strerror(errno));
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
	struct mtasts_prune_stats ps;
	struct mtasts_error err = { 0, "" };
	int rc;

	rc = mtasts_retention_prune(ctx, now, own_spool, &ps, &err);
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
		char p[MTASTS_PATH_MAX];
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
	char ymd[16], dir[MTASTS_PATH_MAX * 2];
	struct mtasts_report *v = NULL;
	struct mtasts_report_stats st;
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
	now = mtasts_now(ctx);
	if (date != NULL) {
		if (parse_date(date, &day) != 0) {
			rc = cli_usage_error(cli_report_usage, "report: "
			    "--date: expected YYYY-MM-DD, got \"%s\"", date);
			goto done;
		}
	} else
		day = now - DAY;	/* yesterday, UTC */
	mtasts_tlsrpt_day_name(day, ymd, sizeof(ymd));
	if (fleet && nspools == 0) {
		rc = cli_usage_error(cli_report_usage, "report: --spool-root: "
		    "no spool directory in it");
		goto done;
	}
	k = mtasts_report_build_spools(ctx, day, fleet ? (const char *const *)
	    spools : NULL, nspools, mtasts_report_rua_dns, NULL, &v, &n, &st,
	    &err);
	if (k != MTASTS_OK) {
		cli_log(LOG_ERR, "report: %s", err.text);
		rc = k == MTASTS_ERROR && strstr(err.text, "report_") !=
		    NULL ? EXIT_USAGE : EXIT_INTERNAL;
		goto done;
	}
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
		if (write_file(dir, v[i].file_name, v[i].json,
		    v[i].json_len) != 0) {
			cli_log(LOG_ERR, "report: cannot write %s/%s: %s",
			    dir, v[i].file_name, strerror(errno));
			goto done;
		}
		if (!send)
			printf("wrote %s/%s\n", dir, v[i].file_name);
	}
	print_stats(ymd, &st, n);
	if (!send) {
		rc = EXIT_OK;
		goto done;
	}
	rc = send_reports(ctx, v, n, now, &pending);
	/*
	 * D-RET-1: every report of this host's spool day is delivered or
	 * given up (or there was none), and no domain's TLSRPT record was
	 * left unknown (tempfail: its report was not built, a later
	 * `report send --date` may build it): the marker lets a later run
	 * prune that spool day once it is old. Then the pruning itself.
	 */
	if (!fleet && pending == 0 && st.tempfail == 0) {
		char mark[MTASTS_PATH_MAX * 2];

		snprintf(mark, sizeof(mark), "%s/%s", report_dir(ctx), ymd);
		err.text[0] = '\0';
		if (mtasts_mkdir_p(mark, 0750, NULL) != 0 ||
		    mtasts_retention_mark_day(ctx, mark, &err) != MTASTS_OK) {
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
	mtasts_report_free(v, n);
	for (i = 0; i < nspools; i++)
		free(spools[i]);
	return rc;
}
