/* SPDX-License-Identifier: ISC */
/*
 * cli.h - the sub-commands of the `mtasts` command, one file each.
 * Each returns the process exit status (see mtasts.c).
 */
#ifndef MTASTS_CLI_H
#define MTASTS_CLI_H

#include "mtasts.h"

#define EXIT_INTERNAL 1
#define EXIT_USAGE 2

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

#endif
