/* SPDX-License-Identifier: ISC */
/*
 * config.c - mtasts config --defaults: print the documented defaults of
 * mtasts.conf(5) in its syntax, every key commented out at its built-in
 * default or an example. The text is the core's (common/config.c's key
 * table); the shipped dist/mtasts.conf is that text (ctest
 * lint.conf_defaults). Reads no configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_config_usage[] = "usage: mtasts config --defaults\n";

int
cmd_config(int argc, char **argv)
{
	char *text;
	size_t len;
	int rc = EXIT_OK;

	if (argc < 2)
		return cli_usage_error(cli_config_usage,
		    "config: missing --defaults");
	if (strcmp(argv[1], "--defaults") != 0)
		return cli_bad_arg("config", cli_config_usage, argc, argv, 1);
	if (argc > 2)
		return cli_bad_arg("config", cli_config_usage, argc, argv, 2);
	if ((text = mtasts_config_defaults_text(&len)) == NULL) {
		fprintf(stderr, "mtasts: config: out of memory\n");
		return EXIT_FAILED;
	}
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		rc = EXIT_FAILED;
	free(text);
	return rc;
}
