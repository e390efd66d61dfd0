/* SPDX-License-Identifier: ISC */
/*
 * lookup_bench.c - cost of mtasts_lookup() on a cache hit (the decision an
 * MTA makes for every message), against the floor of reading the same
 * cache file, and the first lookup of a fresh process, in one run.
 *
 *	lookup_bench PARENT_DIR NDOMAINS LOOKUPS ROUNDS [FIRST_LOOKUP LIBSO]
 *
 * Output is one "key value" line per measurement (bench/run parses it):
 *   hit_ns         median over ROUNDS of ns per cache-hit lookup, warm
 *                  process, NDOMAINS domains in a pseudo-random order,
 *                  default configuration (cache_memo = on), and
 *                  memo_hit_pct, the share of those loads the memo served;
 *   hit_nomemo_ns  the same with cache_memo = off (every hit reads and
 *                  parses the file), rounds interleaved with hit_ns
 *                  (each pass on names of its own);
 *   floor_ns       median ns for open+read+close of the same files;
 *   disk_bytes     allocated size of the cache directory (st_blocks);
 *   first_ns       median, in the fresh process, of dlopen(LIBSO) +
 *                  context + config file + the first lookup (a hit),
 *                  and first_dlopen_ns, the dlopen() alone;
 *   first_exec_ns  median fork+exec+exit of that process, and
 *   exec_floor_ns  the same process exiting at once (the process floor).
 * The cache is populated by copying one entry written by the library
 * (same length per name), so 10^5 entries take seconds, not fsyncs; then
 * the run waits MEMO_SETTLE_US, as the memo ignores files changed within
 * the last second (a production cache's entries are hours old). The
 * run fails if a lookup is not a cache hit or if a cache hit created a
 * resolver or a TLS context (the fast path must not initialise them).
 * Built by bench/CMakeLists.txt (target `benchmarks`, not part of `all`).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal/cache.h"
#include "internal/ctx.h"
#include "internal/util.h"

/* > CACHE_MEMO_SETTLE_NS in common/cache_memo.c */
#define MEMO_SETTLE_US 1100000

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

static _Noreturn void
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

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t
median(int64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct mtasts_ctx *
make_ctx(const char *dir, const char *memo)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx = mtasts_ctx_new();

	if (ctx == NULL ||
	    mtasts_ctx_set(ctx, "cache_dir", dir, &err) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "txt_check_interval", "604800", &err) !=
		MTASTS_OK ||
	    mtasts_ctx_set(ctx, "cache_memo", memo, &err) != MTASTS_OK)
		die("config", err.text);
	return ctx;
}

/* ns per lookup of LOOKUPS pseudo-random names from *seed; all hits. */
static int64_t
lookup_round(struct mtasts_ctx *ctx, unsigned n, unsigned lookups,
    unsigned *seed)
{
	struct mtasts_error err = { 0, "" };
	char name[64];
	unsigned k, hits = 0;
	int64_t t0;

	t0 = now_ns();
	for (k = 0; k < lookups; k++) {
		struct mtasts_result *res = NULL;

		*seed = *seed * 1103515245 + 12345;
		domain_name(name, sizeof(name), (*seed >> 8) % n);
		if (mtasts_lookup(ctx, name, 0, &res, &err) != MTASTS_OK)
			die("lookup", err.text);
		if (mtasts_result_status(res) == MTASTS_LOOKUP_POLICY &&
		    mtasts_result_source(res) == MTASTS_SOURCE_CACHE)
			hits++;
		mtasts_result_free(res);
	}
	t0 = (now_ns() - t0) / lookups;
	if (hits != lookups)
		die("lookup", "not every lookup was a cache hit");
	return t0;
}

/* Store d0000000 through the library, then copy it to the other names. */
static void
populate(struct mtasts_ctx *ctx, const char *dir, unsigned n, time_t now)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	char path[700], name[64], buf[8192], *p;
	ssize_t len;
	unsigned i;
	int fd;

	memset(&e, 0, sizeof(e));
	if (mtasts_policy_parse(policy_text, strlen(policy_text), &e.policy,
		&err) != MTASTS_OK)
		die("policy", err.text);
	mtasts_strlcpy(e.id, "20261122T000000", sizeof(e.id));
	mtasts_strlcpy(e.txt_id, e.id, sizeof(e.txt_id));
	e.fetched_at = now;
	e.expires_at = now + 604800;
	e.txt_checked_at = now;
	domain_name(e.domain, sizeof(e.domain), 0);
	if (mtasts_cache_store(ctx, &e, &err) != MTASTS_OK)
		die("store", err.text);
	mtasts_policy_free(e.policy);
	snprintf(path, sizeof(path), "%s/%s.json", dir, e.domain);
	if ((fd = open(path, O_RDONLY)) == -1 ||
	    (len = read(fd, buf, sizeof(buf) - 1)) <= 0)
		die("template", path);
	close(fd);
	buf[len] = '\0';
	if ((p = strstr(buf, e.domain)) == NULL)
		die("template", "no domain");
	for (i = 1; i < n; i++) {
		domain_name(name, sizeof(name), i);
		memcpy(p, name, strlen(name));
		snprintf(path, sizeof(path), "%s/%s.json", dir, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);
		if (fd == -1 || write(fd, buf, (size_t)len) != len)
			die("populate", path);
		close(fd);
	}
}

static long long
disk_use(const char *dir)
{
	char path[700];
	struct dirent *de;
	struct stat st;
	long long sum = 0;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		die("opendir", dir);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0)
			sum += (long long)st.st_blocks * 512;
	}
	closedir(d);
	return sum;
}

/* One fork+exec of FIRST_LOOKUP; *inproc gets its own measurement. */
static int64_t
run_first(const char *prog, const char *lib, const char *conf,
    const char *domain, int noop, int64_t *inproc, int64_t *dl)
{
	char buf[64], *end;
	int64_t t0, t;
	ssize_t n;
	int pfd[2], status;
	pid_t pid;

	if (pipe(pfd) != 0)
		die("pipe", "failed");
	t0 = now_ns();
	if ((pid = fork()) == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl(prog, prog, lib, conf, domain, noop ? "noop" : "lookup",
		    (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	waitpid(pid, &status, 0);
	t = now_ns() - t0;
	close(pfd[0]);
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("first lookup", "fresh process failed (see stderr)");
	buf[n] = '\0';
	*inproc = strtoll(buf, &end, 10);
	*dl = strtoll(end, NULL, 10);
	return t;
}

int
main(int argc, char **argv)
{
	const char *parent, *prog = NULL, *lib = NULL;
	unsigned n, lookups, rounds, r, k, seed;
	char dir[512], cdir[600], conf[600], name[64], path[700], buf[8192];
	struct mtasts_ctx *ctx, *nomemo;
	struct mtasts_error err = { 0, "" };
	int64_t t0, *hit, *hitnm, *flo, *first, *fexec, *fnoop, *dl, dummy;
	uint64_t mhits0, mhits;
	size_t mentries;
	FILE *f;

	if (argc != 5 && argc != 7)
		die("usage", "lookup_bench PARENT_DIR NDOMAINS LOOKUPS ROUNDS "
		    "[FIRST_LOOKUP LIBSO]");
	parent = argv[1];
	n = (unsigned)strtoul(argv[2], NULL, 10);
	lookups = (unsigned)strtoul(argv[3], NULL, 10);
	rounds = (unsigned)strtoul(argv[4], NULL, 10);
	if (argc == 7) {
		prog = argv[5];
		lib = argv[6];
	}
	if (n == 0 || lookups == 0 || rounds == 0)
		die("usage", "zero count");
	hit = calloc(rounds, sizeof(*hit));
	hitnm = calloc(rounds, sizeof(*hitnm));
	flo = calloc(rounds, sizeof(*flo));
	first = calloc(rounds, sizeof(*first));
	fexec = calloc(rounds, sizeof(*fexec));
	fnoop = calloc(rounds, sizeof(*fnoop));
	dl = calloc(rounds, sizeof(*dl));
	if (!hit || !hitnm || !flo || !first || !fexec || !fnoop || !dl)
		die("calloc", "failed");
	snprintf(dir, sizeof(dir), "%s/mtasts-bench-XXXXXX", parent);
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", dir);
	snprintf(cdir, sizeof(cdir), "%s/cache", dir);
	ctx = make_ctx(cdir, "on");
	nomemo = make_ctx(cdir, "off");
	populate(ctx, cdir, n, time(NULL));
	printf("domains %u\ndisk_bytes %lld\n", n, disk_use(cdir));
	usleep(MEMO_SETTLE_US);

	/* Warm the page cache, the allocator and the memo. */
	for (k = 0; k < n && k < 2000; k++) {
		struct mtasts_result *res = NULL;

		domain_name(name, sizeof(name), k);
		if (mtasts_lookup(ctx, name, 0, &res, &err) != MTASTS_OK ||
		    mtasts_lookup(nomemo, name, 0, &res, &err) != MTASTS_OK)
			die("lookup", err.text);
		mtasts_result_free(res);
	}
	mtasts_cache_memo_stats(ctx, &mentries, &mhits0);
	seed = 12345;
	for (r = 0; r < rounds; r++) {
		/*
		 * Interleaved: memo on, memo off, the floor, each on names
		 * of its own. Passes over the same names favoured whichever
		 * came later: with 10^5 files the first pass pulled the
		 * dentries and pages it touched into the CPU caches (memo on
		 * measured 2x memo off there for that reason alone).
		 */
		hit[r] = lookup_round(ctx, n, lookups, &seed);
		hitnm[r] = lookup_round(nomemo, n, lookups, &seed);
		t0 = now_ns();
		for (k = 0; k < lookups; k++) {
			int fd;

			seed = seed * 1103515245 + 12345;
			domain_name(name, sizeof(name), (seed >> 8) % n);
			snprintf(path, sizeof(path), "%s/%s.json", cdir, name);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				die("open", path);
			if (read(fd, buf, sizeof(buf)) <= 0)
				die("read", path);
			close(fd);
		}
		flo[r] = (now_ns() - t0) / lookups;
	}
	if (ctx->dns != NULL || ctx->ssl_ctx != NULL ||
	    nomemo->dns != NULL || nomemo->ssl_ctx != NULL)
		die("fast path", "a cache hit initialised DNS or TLS");
	mtasts_cache_memo_stats(ctx, &mentries, &mhits);
	printf("hit_ns %lld\nhit_nomemo_ns %lld\nfloor_ns %lld\n",
	    (long long)median(hit, rounds), (long long)median(hitnm, rounds),
	    (long long)median(flo, rounds));
	printf("memo_hit_pct %.1f\nmemo_entries %zu\n",
	    100.0 * (double)(mhits - mhits0) / ((double)lookups * rounds),
	    mentries);
	printf("hit_rounds_ns");
	for (r = 0; r < rounds; r++)
		printf(" %lld", (long long)hit[r]);
	printf("\nhit_nomemo_rounds_ns");
	for (r = 0; r < rounds; r++)
		printf(" %lld", (long long)hitnm[r]);
	printf("\n");

	if (prog != NULL) {
		/* What an Exim delivery process pays for its first message. */
		snprintf(conf, sizeof(conf), "%s/mtasts.conf", dir);
		if ((f = fopen(conf, "w")) == NULL)
			die("fopen", conf);
		fprintf(f, "cache_dir = %s\ntxt_check_interval = 604800\n",
		    cdir);
		fclose(f);
		for (r = 0; r < rounds; r++) {
			domain_name(name, sizeof(name), (r * 7919) % n);
			fnoop[r] = run_first(prog, lib, conf, name, 1, &dummy,
			    &dummy);
			fexec[r] = run_first(prog, lib, conf, name, 0,
			    &first[r], &dl[r]);
		}
		printf("first_ns %lld\nfirst_exec_ns %lld\nexec_floor_ns "
		    "%lld\n",
		    (long long)median(first, rounds),
		    (long long)median(fexec, rounds),
		    (long long)median(fnoop, rounds));
		printf("first_dlopen_ns %lld\n", (long long)median(dl, rounds));
	}

	mtasts_ctx_free(ctx);
	mtasts_ctx_free(nomemo);
	free(hit);
	free(hitnm);
	free(flo);
	free(first);
	free(fexec);
	free(fnoop);
	free(dl);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	return system(path) != 0;
}
