/* SPDX-License-Identifier: ISC */
/*
 * cli.h - the sub-commands of the `mtasts` command, one file each.
 * Each returns the process exit status (see mtasts.c).
 */
#ifndef MTASTS_CLI_H
#define MTASTS_CLI_H

#include <syslog.h>
#include <time.h>

#include "mtasts.h"
#include "mtasts_internal.h"

/*
 * Exit status, the same for every command (docs/operations.md "Exit
 * status", mtasts(8), decisions.md D-CLI-EXIT-1). `check` keeps its own
 * monitoring-plugin meanings of 1..3 (docs/check.md).
 */
#define EXIT_OK 0
#define EXIT_FAILED 1		/* the operation failed (I/O, permission...) */
#define EXIT_INTERNAL EXIT_FAILED
#define EXIT_USAGE 2		/* usage or configuration error */
#define EXIT_NOTFOUND 3		/* `cache show`: the domain is not cached */
#define EXIT_PARTIAL 4		/* done, but some items failed */

/* log.c: diagnostics to syslog (facility mail) or stderr, D-CLI-LOG-1. */
enum { CLI_LOG_AUTO, CLI_LOG_STDERR, CLI_LOG_SYSLOG };
extern int cli_verbose;
void cli_log_open(int mode);
int cli_log_is_syslog(void);
void cli_log(int pri, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_log_lib(void *arg, int level, const char *msg);
/* "mtasts: <what was wrong>" and usage on stderr; returns EXIT_USAGE. */
int cli_usage_error(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_bad_arg(const char *cmd, const char *usage, int argc, char **argv,
    int i);
int cli_is_help(const char *arg);
/* usage on stdout; returns EXIT_OK. */
int cli_help(const char *usage);

/*
 * file.c: replace path with data[0..len) through tmp (same directory):
 * O_EXCL temp file of mode, fsync, rename, fsync of the directory. 0 or -1.
 */
int cli_write_atomic(const char *path, const char *tmp, const char *data,
    size_t len, mode_t mode);

/* Usage texts ("usage: mtasts ...\n"), printed by --help. */
extern const char cli_check_usage[];
extern const char cli_report_usage[];
extern const char cli_metrics_usage[];
extern const char cli_status_usage[];
extern const char cli_config_usage[];

/* check.c: mtasts check [--json] [--no-smtp] [--port N] DOMAIN... */
int cmd_check(struct mtasts_ctx *ctx, int argc, char **argv);
/*
 * check.c: mtasts check --local [--json] [--user NAME]...: the
 * installation's health. Reads the configuration itself (config: the
 * --config file or NULL), so that a bad one is reported, not fatal.
 */
int cmd_check_local(struct mtasts_ctx *ctx, const char *config, int argc,
    char **argv);
/* report.c: mtasts report build|send ... */
int cmd_report(struct mtasts_ctx *ctx, int argc, char **argv);
/* report.c: send states of the reports of days >= since (D-MET-4). */
int report_state_scan(struct mtasts_ctx *ctx, time_t since, size_t st[3],
    void (*fn)(void *arg, const char *name, int state), void *arg);

/* config.c: mtasts config --defaults (reads no configuration) */
int cmd_config(int argc, char **argv);
/* metrics.c: mtasts metrics [--out FILE] [--top N] */
int cmd_metrics(struct mtasts_ctx *ctx, int argc, char **argv);
/* status.c: mtasts status [--json] */
int cmd_status(struct mtasts_ctx *ctx, int argc, char **argv);

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
	struct mtasts_tally tally;	/* sorted: most sessions first */
	struct mtasts_report_stats st;
	/* report state, last 7 days: sent, retrying, given up */
	size_t rstate[3];
	char **rpending;		/* names retrying or given up */
	size_t nrpending;
};
extern const long long scan_age_le[SCAN_AGE_BUCKETS];
int cli_scan(struct mtasts_ctx *ctx, struct cli_scan *sc);
void cli_scan_free(struct cli_scan *sc);

#endif
