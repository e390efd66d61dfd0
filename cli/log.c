/* SPDX-License-Identifier: ISC */
/*
 * log.c - where the `mtasts` command's diagnostics go (decisions.md
 * D-CLI-LOG-1): syslog, facility mail, ident "mtasts", with the pid, when
 * stderr is not a terminal (a timer, cron, a pipe) or with --syslog;
 * stderr when it is a terminal or with --stderr (or MTASTS_LOG=stderr).
 * One line per event. Results (lookup answers, JSON, tables, summaries)
 * go to stdout whatever the mode; usage errors always go to stderr.
 *
 * When no syslog daemon listens on /dev/log (a container, a chroot), the
 * lines go to stderr: an operator's error is never dropped silently.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "cli.h"
#include "mtasts.h"

#define CLI_LOG_LINE_MAX 2048

static int log_syslog;		/* 1: syslog(3), 0: stderr */
int cli_verbose;

/* Is a syslog daemon listening on /dev/log (datagram or stream)? */
static int
syslog_listening(void)
{
	struct sockaddr_un sun;
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	size_t i;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	mtasts_strlcpy(sun.sun_path, _PATH_LOG, sizeof(sun.sun_path));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			return 1;
		}
		close(fd);
	}
	return 0;
}

static int
cli_log_parse_env(int mode)
{
	const char *e = getenv("MTASTS_LOG");

	if (mode != CLI_LOG_AUTO || e == NULL)
		return mode;
	if (strcmp(e, "stderr") == 0)
		return CLI_LOG_STDERR;
	if (strcmp(e, "syslog") == 0)
		return CLI_LOG_SYSLOG;
	return mode;
}

void
cli_log_open(int mode)
{
	mode = cli_log_parse_env(mode);
	if (mode == CLI_LOG_AUTO)
		mode = isatty(STDERR_FILENO) ? CLI_LOG_STDERR : CLI_LOG_SYSLOG;
	log_syslog = mode == CLI_LOG_SYSLOG && syslog_listening();
	if (log_syslog)
		openlog("mtasts", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

int
cli_log_is_syslog(void)
{
	return log_syslog;
}

static void
vlog(int pri, const char *level, const char *fmt, va_list ap)
{
	char line[CLI_LOG_LINE_MAX];
	char *p;

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	/* One event, one line: no embedded newlines reach the log. */
	for (p = line; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_syslog)
		syslog(pri, "%s%s%s", level ? level : "", level ? ": " : "",
		    line);
	else {
		fflush(stdout);
		fprintf(stderr, "mtasts: %s%s%s\n", level ? level : "",
		    level ? ": " : "", line);
	}
}

void
cli_log(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, NULL, fmt, ap);
	va_end(ap);
}

static void
lib_log(int pri, const char *level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, level, fmt, ap);
	va_end(ap);
}

/*
 * The core's log sink (mtasts_ctx_set_log): errors and warnings always,
 * -v adds its info lines, -vv its debug lines; each line names its level
 * ("mtasts: warning: ...").
 */
void
cli_log_lib(void *arg, int level, const char *msg)
{
	static const int pri[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		LOG_DEBUG };
	static const char *const names[] = { "error", "warning", "info",
		"debug" };
	int l = level < 0 ? 0 : level > 3 ? 3 : level;

	(void)arg;
	if (l > MTASTS_LOG_WARN + cli_verbose)
		return;
	lib_log(pri[l], names[l], "%s", msg);
}

/*
 * A usage error: what was wrong, then the command's usage, on stderr.
 * Returns EXIT_USAGE.
 */
int
cli_usage_error(const char *usage, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("mtasts: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/*
 * A usage error about argv[i] of command cmd: an unexpected argument, an
 * option without its value, an unknown option. Returns EXIT_USAGE.
 */
int
cli_bad_arg(const char *cmd, const char *usage, int argc, char **argv, int i)
{
	static const char *const valued[] = { "--mx", "--now", "--config",
		"--port", "--timeout", "--user", "--date", "--out", "--spool",
		"--spool-root" };
	size_t k;

	if (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)
		return cli_usage_error(usage, "%s: unexpected argument "
		    "\"%s\"", cmd, argv[i]);
	for (k = 0; i + 1 >= argc && k < sizeof(valued) / sizeof(*valued);
	    k++)
		if (strcmp(argv[i], valued[k]) == 0)
			return cli_usage_error(usage, "%s: %s needs a value",
			    cmd, argv[i]);
	return cli_usage_error(usage, "%s: unknown option %s", cmd, argv[i]);
}

int
cli_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int
cli_help(const char *usage)
{
	fputs(usage, stdout);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}
