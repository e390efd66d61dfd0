/* check.c - STUB: mtasts check. */
#include <stdio.h>
#include "cli.h"
int
cmd_check(struct mtasts_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtasts: check: not implemented yet\n");
	return 3;
}
