/* SPDX-License-Identifier: ISC */
/*
 * first_lookup.c - the first MTA-STS decision of a fresh process, as an
 * Exim delivery process makes it: dlopen the library, create a context,
 * read the config file, one lookup that is a cache hit.
 *
 *	first_lookup LIBSO CONFIG DOMAIN lookup|noop
 *
 * Prints the nanoseconds from before dlopen() to after the lookup and
 * those of dlopen() alone (or 0 0 for noop, the process floor). Not linked
 * to libmtasts: the library and its dependencies (OpenSSL, libunbound,
 * jansson) are loaded by dlopen() inside the measurement. Fails unless the
 * answer is a cache hit and no resolver, TLS context or socket was
 * created: the cache-hit path must not initialise DNS or TLS. Run by
 * lookup_bench.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal/ctx.h"

typedef struct mtasts_ctx *ctx_new_fn(void);
typedef int load_fn(struct mtasts_ctx *, const char *, struct mtasts_error *);
typedef int lookup_fn(struct mtasts_ctx *, const char *, unsigned,
    struct mtasts_result **, struct mtasts_error *);
typedef int result_int_fn(const struct mtasts_result *);
typedef void result_free_fn(struct mtasts_result *);
typedef void ctx_free_fn(struct mtasts_ctx *);

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
fail(const char *what, const char *why)
{
	fprintf(stderr, "first_lookup: %s: %s\n", what, why ? why : "");
	return 1;
}

static int
sockets_open(void)
{
	char path[300], link[300];
	struct dirent *de;
	ssize_t n;
	int count = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (strncmp(link, "socket:", 7) == 0)
				count++;
		}
	}
	closedir(d);
	return count;
}

int
main(int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_result *r = NULL;
	struct mtasts_ctx *ctx;
	ctx_new_fn *ctx_new;
	load_fn *load;
	lookup_fn *lookup;
	result_int_fn *status, *source;
	result_free_fn *rfree;
	ctx_free_fn *cfree;
	int64_t t0, t, td;
	void *h;
	int ok;

	if (argc != 5)
		return fail("usage", "LIBSO CONFIG DOMAIN lookup|noop");
	if (strcmp(argv[4], "noop") == 0) {
		printf("0 0\n");
		return 0;
	}
	t0 = now_ns();
	if ((h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL)
		return fail("dlopen", dlerror());
	td = now_ns() - t0;
	*(void **)&ctx_new = dlsym(h, "mtasts_ctx_new");
	*(void **)&load = dlsym(h, "mtasts_ctx_load_config");
	*(void **)&lookup = dlsym(h, "mtasts_lookup");
	*(void **)&status = dlsym(h, "mtasts_result_status");
	*(void **)&source = dlsym(h, "mtasts_result_source");
	*(void **)&rfree = dlsym(h, "mtasts_result_free");
	*(void **)&cfree = dlsym(h, "mtasts_ctx_free");
	if (!ctx_new || !load || !lookup || !status || !source || !rfree ||
	    !cfree)
		return fail("dlsym", dlerror());
	if ((ctx = ctx_new()) == NULL)
		return fail("ctx", "out of memory");
	if (load(ctx, argv[2], &err) != MTASTS_OK)
		return fail("config", err.text);
	if (lookup(ctx, argv[3], 0, &r, &err) != MTASTS_OK)
		return fail("lookup", err.text);
	t = now_ns() - t0;
	ok = status(r) == MTASTS_LOOKUP_POLICY &&
	    source(r) == MTASTS_SOURCE_CACHE;
	/* Same header as the library: the lazily created handles. */
	if (ctx->dns != NULL || ctx->ssl_ctx != NULL || sockets_open() != 0)
		return fail("fast path", "DNS or TLS initialised on a hit");
	rfree(r);
	cfree(ctx);
	if (!ok)
		return fail("lookup", "not a cache hit");
	printf("%lld %lld\n", (long long)t, (long long)td);
	return 0;
}
