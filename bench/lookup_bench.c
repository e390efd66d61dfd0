/*
 * lookup_bench.c - cost of mtasts_lookup() on a cache hit (the decision an
 * MTA makes for every message), against the floor of reading the same
 * cache file, in one run on one machine.
 *
 *	lookup_bench [PARENT_DIR] [NDOMAINS] [LOOKUPS]
 *
 * Prints, as a markdown table:
 *   - ns per cache-hit lookup (normalise + load + parse + result), warm
 *     process, over NDOMAINS domains visited in a pseudo-random order;
 *   - ns for open+read+close of the same files (the I/O floor) and the
 *     ratio lookup / floor;
 *   - the first lookup of a fresh process (fork: context creation, config
 *     and one cache hit), and proof that it created no resolver and no TLS
 *     context (the cache-hit path must not initialise DNS or TLS).
 * Built by bench/CMakeLists.txt (target lookup_bench, not part of `all`).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"

static const char policy_text[] = "version: STSv1\n"
				   "mode: enforce\n"
				   "mx: mx1.example.net\n"
				   "mx: *.mx.example.net\n"
				   "mx: backup.example.org\n"
				   "max_age: 604800\n";

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what, const char *why)
{
	fprintf(stderr, "lookup_bench: %s: %s\n", what, why);
	exit(1);
}

static void
domain_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "d%07u.bench.example", i);
}

static struct mtasts_ctx *
make_ctx(const char *dir)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx = mtasts_ctx_new();

	if (ctx == NULL ||
	    mtasts_ctx_set(ctx, "cache_dir", dir, &err) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "txt_check_interval", "604800", &err) !=
		MTASTS_OK)
		die("config", err.text);
	return ctx;
}

static void
populate(struct mtasts_ctx *ctx, unsigned n, time_t now)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	unsigned i;

	memset(&e, 0, sizeof(e));
	if (mtasts_policy_parse(policy_text, strlen(policy_text), &e.policy,
		&err) != MTASTS_OK)
		die("policy", err.text);
	mtasts_strlcpy(e.id, "20261122T000000", sizeof(e.id));
	mtasts_strlcpy(e.txt_id, e.id, sizeof(e.txt_id));
	e.fetched_at = now;
	e.expires_at = now + 604800;
	e.txt_checked_at = now;
	for (i = 0; i < n; i++) {
		domain_name(e.domain, sizeof(e.domain), i);
		if (mtasts_cache_store(ctx, &e, &err) != MTASTS_OK)
			die("store", err.text);
	}
	mtasts_policy_free(e.policy);
}

int
main(int argc, char **argv)
{
	const char *parent = argc > 1 ? argv[1] : "/dev/shm";
	unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
	unsigned lookups = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10)
				    : 200000;
	char dir[512], name[64], path[700], buf[8192];
	struct mtasts_ctx *ctx;
	struct mtasts_error err = { 0, "" };
	int64_t t0, t_lookup, t_floor, t_first = 0;
	unsigned i, k, seed = 12345, hits = 0;
	int status;
	pid_t pid;
	int pfd[2];

	if (n == 0 || lookups == 0)
		die("usage", "lookup_bench [PARENT_DIR] [NDOMAINS] [LOOKUPS]");
	snprintf(dir, sizeof(dir), "%s/mtasts-bench-XXXXXX", parent);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", dir);
	snprintf(path, sizeof(path), "%s/cache", dir);
	ctx = make_ctx(path);
	populate(ctx, n, time(NULL));

	/* Warm up, then measure cache-hit lookups. */
	for (i = 0; i < n && i < 1000; i++) {
		struct mtasts_result *r = NULL;

		domain_name(name, sizeof(name), i);
		if (mtasts_lookup(ctx, name, 0, &r, &err) != MTASTS_OK)
			die("lookup", err.text);
		mtasts_result_free(r);
	}
	t0 = now_ns();
	for (k = 0; k < lookups; k++) {
		struct mtasts_result *r = NULL;

		seed = seed * 1103515245 + 12345;
		domain_name(name, sizeof(name), (seed >> 8) % n);
		if (mtasts_lookup(ctx, name, 0, &r, &err) != MTASTS_OK)
			die("lookup", err.text);
		if (mtasts_result_status(r) == MTASTS_LOOKUP_POLICY &&
		    mtasts_result_source(r) == MTASTS_SOURCE_CACHE)
			hits++;
		mtasts_result_free(r);
	}
	t_lookup = now_ns() - t0;
	if (hits != lookups)
		die("lookup", "not every lookup was a cache hit");
	if (ctx->dns != NULL || ctx->ssl_ctx != NULL)
		die("fast path", "a cache hit initialised DNS or TLS");

	/* The floor: open + read + close of the same files. */
	seed = 12345;
	t0 = now_ns();
	for (k = 0; k < lookups; k++) {
		int fd;

		seed = seed * 1103515245 + 12345;
		domain_name(name, sizeof(name), (seed >> 8) % n);
		snprintf(path, sizeof(path), "%s/cache/%s.json", dir, name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			die("open", path);
		if (read(fd, buf, sizeof(buf)) <= 0)
			die("read", path);
		close(fd);
	}
	t_floor = now_ns() - t0;

	/* First lookup in a fresh process (what an Exim delivery pays). */
	if (pipe(pfd) != 0)
		die("pipe", "failed");
	for (k = 0; k < 20; k++) {
		if ((pid = fork()) == 0) {
			struct mtasts_ctx *c;
			struct mtasts_result *r = NULL;
			int64_t t, ok;

			t = now_ns();
			snprintf(path, sizeof(path), "%s/cache", dir);
			c = make_ctx(path);
			domain_name(name, sizeof(name), k % n);
			ok = mtasts_lookup(c, name, 0, &r, &err) == MTASTS_OK &&
			    c->dns == NULL && c->ssl_ctx == NULL;
			mtasts_result_free(r);
			mtasts_ctx_free(c);
			t = ok ? now_ns() - t : -1;
			if (write(pfd[1], &t, sizeof(t)) != sizeof(t))
				_exit(1);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		{
			int64_t t;

			if (read(pfd[0], &t, sizeof(t)) != sizeof(t) || t < 0)
				die("fresh process", "lookup failed or "
						     "initialised DNS/TLS");
			t_first += t;
		}
	}
	t_first /= 20;

	printf("| metric (%u cached domains, %s) | value |\n", n, parent);
	printf("|---|---|\n");
	printf("| cache-hit lookup, warm process | %.2f us |\n",
	    (double)t_lookup / lookups / 1000.0);
	printf("| cache-hit lookups per second, one core | %.0f |\n",
	    lookups / ((double)t_lookup / 1e9));
	printf("| floor: open+read+close of the entry | %.2f us |\n",
	    (double)t_floor / lookups / 1000.0);
	printf("| ratio lookup / floor | %.1fx |\n",
	    (double)t_lookup / (double)t_floor);
	printf("| first lookup in a fresh process (ctx + lookup) | %.2f us |\n",
	    (double)t_first / 1000.0);
	printf("| DNS or TLS initialised on the cache-hit path | no |\n");

	mtasts_ctx_free(ctx);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return 0;
}
