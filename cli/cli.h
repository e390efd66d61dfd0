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
#include "mtasts_admin.h"

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

/* config.c: mtasts config --defaults (reads no configuration) */
int cmd_config(int argc, char **argv);
/* metrics.c: mtasts metrics [--out FILE] [--top N] */
int cmd_metrics(struct mtasts_ctx *ctx, int argc, char **argv);
/* status.c: mtasts status [--json] */
int cmd_status(struct mtasts_ctx *ctx, int argc, char **argv);

#endif
