/* SPDX-License-Identifier: ISC */
/*
 * first_exim.c - the first MTA-STS decision of a fresh process through
 * mtasts_exim.so itself, as an Exim delivery process makes it: dlopen the
 * module, one ${dlfunc{...}{sts_mode}{DOMAIN}{CONFIG}} that is a cache hit.
 *
 *	first_exim MODULE CONFIG DOMAIN lookup|noop
 *	first_exim MODULE CONFIG DOMAIN miss DOMAIN2
 *
 * Same interface and output as first_lookup ("total_ns dlopen_ns"), so
 * lookup_bench can run it. "miss": DOMAIN and DOMAIN2 are not cached, so
 * the first decision loads the network half (mtasts_net.so: OpenSSL,
 * libunbound), builds the resolver and the TLS context and fetches; the
 * second is a later cold lookup of the same process. Prints "first_ns
 * later_ns dlopen_ns" (issue 18 goal 2: the first at most 2 ms above the
 * later). The few Exim functions the module calls are
 * stubbed here and exported to it (ENABLE_EXPORTS). Fails unless the
 * answer is a mode (not tempfail/error); reports on stderr whether
 * OpenSSL or libunbound got mapped (they must not be for a hit).
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef unsigned char uschar;
typedef int dlfunc_fn(uschar **, int, uschar **);

/* Exim's side of local_scan.h, as far as the module uses it. */
unsigned int debug_selector;
void debug_printf(const char *, ...);
uschar *expand_string(uschar *);
void log_write(unsigned int, int, const char *, ...);
uschar *string_copy_function(const uschar *);

void
debug_printf(const char *fmt, ...)
{
	(void)fmt;
}

uschar *
expand_string(uschar *s)
{
	(void)s;
	return NULL;
}

void
log_write(unsigned int sel, int flags, const char *fmt, ...)
{
	(void)sel;
	(void)flags;
	(void)fmt;
}

uschar *
string_copy_function(const uschar *s)
{
	return (uschar *)strdup((const char *)s);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Is a library whose name contains `name` mapped into this process? */
static int
mapped(const char *name)
{
	char line[512];
	FILE *f;
	int found = 0;

	if ((f = fopen("/proc/self/maps", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, name) != NULL)
			found = 1;
	fclose(f);
	return found;
}

int
main(int argc, char **argv)
{
	uschar *yield = NULL, *args[2];
	dlfunc_fn *mode;
	int64_t t0, t, td;
	void *h;

	if (argc != 5 && !(argc == 6 && strcmp(argv[4], "miss") == 0)) {
		fprintf(stderr, "usage: first_exim MODULE CONFIG DOMAIN "
		    "lookup|noop|miss DOMAIN2\n");
		return 1;
	}
	if (strcmp(argv[4], "noop") == 0) {
		printf("0 0\n");
		return 0;
	}
	t0 = now_ns();
	if ((h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "first_exim: dlopen: %s\n", dlerror());
		return 1;
	}
	td = now_ns() - t0;
	*(void **)&mode = dlsym(h, "sts_mode");
	if (mode == NULL) {
		fprintf(stderr, "first_exim: no sts_mode\n");
		return 1;
	}
	args[0] = (uschar *)argv[3];
	args[1] = (uschar *)argv[2];
	if (mode(&yield, 2, args) != 0 || yield == NULL ||
	    strcmp((char *)yield, "tempfail") == 0 ||
	    strcmp((char *)yield, "error") == 0) {
		fprintf(stderr, "first_exim: sts_mode: %s\n",
		    yield ? (char *)yield : "(null)");
		return 1;
	}
	t = now_ns() - t0;
	if (argc == 6) {
		int64_t t1 = now_ns(), t2;

		yield = NULL;
		args[0] = (uschar *)argv[5];
		if (mode(&yield, 2, args) != 0 || yield == NULL ||
		    strcmp((char *)yield, "tempfail") == 0 ||
		    strcmp((char *)yield, "error") == 0) {
			fprintf(stderr, "first_exim: sts_mode %s: %s\n",
			    argv[5], yield ? (char *)yield : "(null)");
			return 1;
		}
		t2 = now_ns() - t1;
		if (mapped("libssl") != 1 || mapped("libunbound") != 1) {
			fprintf(stderr, "first_exim: miss without the "
			    "network half\n");
			return 1;
		}
		printf("%lld %lld %lld\n", (long long)t, (long long)t2,
		    (long long)td);
		return 0;
	}
	if (getenv("FIRST_EXIM_VERBOSE") != NULL)
		fprintf(stderr, "mode %s libssl %d libunbound %d\n",
		    (char *)yield, mapped("libssl"), mapped("libunbound"));
	printf("%lld %lld\n", (long long)t, (long long)td);
	return 0;
}
