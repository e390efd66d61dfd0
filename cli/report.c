/* report.c - STUB: mtasts report. */
#include <stdio.h>
#include "cli.h"
int
cmd_report(struct mtasts_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtasts: report: not implemented yet\n");
	return EXIT_INTERNAL;
}
