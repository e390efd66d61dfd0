/* SPDX-License-Identifier: ISC */
/*
 * test_lookup_oom.c - out of memory is never an answer (decisions.md
 * D-OOM-1, issue 11 item 7).
 *
 * This program wraps malloc, calloc and realloc at link time so that the
 * n-th allocation of one lookup fails, for n = 1, 2, ... until a lookup
 * runs without an injected failure; once with only the n-th failing, once
 * with every allocation from the n-th on failing. Every allocation of ours
 * on the lookup path is covered: result, cache load (policy parser), the
 * TXT answer and its decoding, the fetched body, the policy parse, the
 * cache store, the TLS-RPT line. A second pass counts jansson's own
 * allocations too (json_set_alloc_funcs), each run in a child process:
 * jansson 2.14 may abort() there (lex_scan_string() asserts when
 * lex_save() lost a byte), which a delivery survives as a deferral, so
 * aborts are counted and shown, not failed; json_dumps() can drop a key's
 * closing quote, which cache.c now catches by reading the encoding back
 * before it is written. The network is the scripted one of fakenet.h; the
 * domain has an enforce policy. The lookups (issue 14 part 4 added the
 * last four):
 *   uncached           TXT e1, fetch, parse, store;
 *   cached-same-id     cached e1, TXT e1: the TXT-check store;
 *   cached-new-id      cached e1, TXT e2: fetch, parse, store;
 *   cached-txt-gone    cached e1, NXDOMAIN: the TXT-check store;
 *   cached-fast-path   cached e1, TXT checked 30 s ago: load and parse
 *                      only, never the network (our allocations);
 *   cached-expired     cached e1 past max_age, TXT e1: refetched;
 *   refresh            cached e1, MTASTS_LOOKUP_FORCE_FETCH;
 *   unusable-entry     cached e1 truncated (D-CACHE-6), TXT e1: fetched.
 * For each run:
 *   - the run with no failure injected answers the enforce policy (so
 *     the loop really walked the whole lookup);
 *   - the answer is never "no policy": POLICY (enforce), TEMPFAIL, or an
 *     error return;
 *   - the cache entry afterwards is either absent (uncached), still
 *     unusable (unusable-entry), or holds the enforce policy, with no
 *     fetch-failure record and no negative entry;
 *   - the TLS-RPT spool holds no record (nothing blames the domain).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "internal/cache.h"
#include "internal/ctx.h"
#include "internal/util.h"
#include "fakenet.h"
#include "t.h"

/*
 * Linked with --wrap=malloc,--wrap=calloc,--wrap=realloc (see
 * tests/CMakeLists.txt): every call from this program's own objects and
 * from libmtasts.a comes here; the C library's and jansson's internal
 * allocations do not. Works under AddressSanitizer too (__real_* is its
 * allocator), so the failure paths are also checked for memory errors
 * and leaks there.
 */
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

static long oom_at = -1;	/* -1: off; else the allocation to fail */
static int oom_sticky;		/* fail every allocation from oom_at on */
static long oom_count;		/* allocations counted since armed */
static long oom_failed;		/* failures injected since armed */
static int oom_jansson;		/* jansson's allocations counted too */

static int
oom_now(void)
{
	if (oom_at < 0)
		return 0;
	oom_count++;
	if (oom_count == oom_at || (oom_sticky && oom_count > oom_at)) {
		oom_failed++;
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *
__wrap_malloc(size_t n)
{
	return oom_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t m)
{
	return oom_now() ? NULL : __real_calloc(n, m);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return oom_now() ? NULL : __real_realloc(p, n);
}

/* jansson's allocator, counted like ours in the "with jansson" runs. */
static void *
jansson_malloc(size_t n)
{
	return oom_now() ? NULL : __real_malloc(n);
}

static void
jansson_free(void *p)
{
	free(p);
}

#define T0 1700000000
#define DOM "oom.example"
#define RUNS_MAX 20000

static const char *const ENFORCE =
    "version: STSv1\nmode: enforce\nmx: mx.oom.example\nmax_age: 86400\n";

static char topdir[512];

static void
logfn(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

enum scen {
	S_UNCACHED,		/* TXT id e1, fetch enforce */
	S_CACHED_SAME,		/* cached e1, TXT e1 (TXT check store) */
	S_CACHED_NEWID,		/* cached e1, TXT e2, fetch enforce */
	S_CACHED_TXT_GONE,	/* cached e1, NXDOMAIN (TXT check store) */
	S_CACHED_FAST,		/* cached e1, TXT checked 30 s ago */
	S_CACHED_EXPIRED,	/* cached e1 expired, TXT e1: refetched */
	S_REFRESH,		/* cached e1, force-fetch (mtasts refresh) */
	S_UNUSABLE,		/* cached e1 truncated, TXT e1, fetch */
	S_N
};

static const char *const scen_name[S_N] = {
	"uncached", "cached-same-id", "cached-new-id", "cached-txt-gone",
	"cached-fast-path", "cached-expired", "refresh", "unusable-entry"
};

/* When the lookup runs, after the seed at T0. */
static const time_t scen_when[S_N] = {
	600, 600, 600, 600, 30, 86400 + 600, 600, 600
};

static struct mtasts_ctx *
new_ctx(const char *dir, const char *spool, time_t now)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx = mtasts_ctx_new();

	if (ctx == NULL || mtasts_ctx_set(ctx, "cache_dir", dir, &err) != 0 ||
	    mtasts_ctx_set(ctx, "tlsrpt_dir", spool, &err) != 0 ||
	    mtasts_ctx_set(ctx, "txt_check_interval", "60", &err) != 0 ||
	    mtasts_ctx_set(ctx, "lock_wait", "0", &err) != 0) {
		fprintf(stderr, "ctx: %s\n", err.text);
		exit(1);
	}
	mtasts_ctx_set_log(ctx, logfn, NULL);
	mtasts_ctx_set_now(ctx, now);
	return ctx;
}

/* Bytes in the spool directory's files. */
static long
spool_bytes(const char *spool)
{
	struct dirent *de;
	struct stat st;
	char path[1200];
	long total = 0;
	DIR *d;

	if ((d = opendir(spool)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", spool, de->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			total += (long)st.st_size;
	}
	closedir(d);
	return total;
}

static void
rmrf(const char *dir)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Cut the domain's entry file to half its length (D-CACHE-6). */
static void
truncate_entry(const char *dir)
{
	char path[1200];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.json", dir, DOM);
	if (stat(path, &st) != 0 || truncate(path, st.st_size / 2) != 0)
		abort();
}

/*
 * One run of scenario s with allocation `at` failing (sticky or not).
 * Returns the number of failures injected (0: the lookup ran clean).
 */
static long
run(enum scen s, long at, int sticky, int *bad)
{
	char dir[720], spool[720];
	struct mtasts_ctx *ctx;
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e = NULL;
	struct fakenet net;
	long injected;
	int rc, st = -1, mode = -1, lrc;
	static int seq;

	/* pid: a forked run that died leaves its directories behind. */
	snprintf(dir, sizeof(dir), "%s/c%d.%ld", topdir, seq, (long)getpid());
	snprintf(spool, sizeof(spool), "%s/s%d.%ld", topdir, seq++,
	    (long)getpid());
	if (mkdir(dir, 02770) != 0 || mkdir(spool, 0770) != 0)
		abort();
	chmod(dir, 02770);
	if (s != S_UNCACHED) {
		/* Seed enforce e1 at T0, without failures. */
		ctx = new_ctx(dir, spool, T0);
		fakenet_attach(&net, ctx);
		fakenet_txt_id(&net, "e1");
		net.body = ENFORCE;
		if (mtasts_lookup(ctx, DOM, 0, &r, &err) != MTASTS_OK ||
		    mtasts_result_status(r) != MTASTS_LOOKUP_POLICY)
			abort();
		mtasts_result_free(r);
		r = NULL;
		fakenet_detach(&net);
		mtasts_ctx_free(ctx);
		if (spool_bytes(spool) != 0)
			abort();
		if (s == S_UNUSABLE)
			truncate_entry(dir);
	}
	/* A fresh context: its memo is empty, the load really parses. */
	ctx = new_ctx(dir, spool, T0 + scen_when[s]);
	fakenet_attach(&net, ctx);
	net.body = ENFORCE;
	switch (s) {
	case S_UNCACHED:
	case S_CACHED_SAME:
	case S_CACHED_FAST:
	case S_CACHED_EXPIRED:
	case S_REFRESH:
	case S_UNUSABLE:
		fakenet_txt_id(&net, "e1");
		break;
	case S_CACHED_NEWID:
		fakenet_txt_id(&net, "e2");
		break;
	case S_CACHED_TXT_GONE:
		net.txt_kind = FAKE_TXT_NXDOMAIN;
		break;
	default:
		abort();
	}
	oom_count = oom_failed = 0;
	oom_sticky = sticky;
	oom_at = at;
	rc = mtasts_lookup(ctx, DOM, s == S_REFRESH ?
	    MTASTS_LOOKUP_FORCE_FETCH : 0, &r, &err);
	oom_at = -1;
	injected = oom_failed;
	if (rc == MTASTS_OK) {
		st = mtasts_result_status(r);
		if (mtasts_result_policy(r) != NULL)
			mode = mtasts_policy_mode(mtasts_result_policy(r));
	}
	if (injected == 0 && !(rc == MTASTS_OK &&
	    st == MTASTS_LOOKUP_POLICY && mode == MTASTS_MODE_ENFORCE)) {
		/* The run without failure is the baseline: the policy. */
		(*bad)++;
		fprintf(stderr, "%s: clean run: rc %d status %d mode %d\n",
		    scen_name[s], rc, st, mode);
	}
	/*
	 * Our own allocations failing never send the fast path to the
	 * network. (jansson's may: its lexer can turn a lost byte into a
	 * syntax error, so the entry reads as unusable (D-CACHE-6) and the
	 * lookup discovers afresh; still fail-closed, checked below.)
	 */
	if (s == S_CACHED_FAST && !oom_jansson &&
	    net.queries + net.fetches != 0) {
		(*bad)++;
		fprintf(stderr, "%s: allocation %ld%s: the fast path used "
		    "the network\n", scen_name[s], at, sticky ? "+" : "");
	}
	if (rc == MTASTS_OK && !(st == MTASTS_LOOKUP_TEMPFAIL ||
	    (st == MTASTS_LOOKUP_POLICY && mode == MTASTS_MODE_ENFORCE))) {
		(*bad)++;
		fprintf(stderr, "%s: allocation %ld%s: status %d mode %d: %s\n",
		    scen_name[s], at, sticky ? "+" : "", st, mode,
		    r != NULL && mtasts_result_failure_reason(r) != NULL ?
		    mtasts_result_failure_reason(r) : "");
	}
	mtasts_result_free(r);
	/* What the cache holds now. */
	lrc = mtasts_cache_load(ctx, DOM, &e, NULL);
	if (lrc == MTASTS_OK) {
		if (e->policy == NULL || e->fail_at != 0 ||
		    mtasts_policy_mode(e->policy) != MTASTS_MODE_ENFORCE) {
			(*bad)++;
			fprintf(stderr, "%s: allocation %ld%s: cache entry "
			    "policy %p fail_at %lld (%s)\n", scen_name[s], at,
			    sticky ? "+" : "", (void *)e->policy,
			    (long long)e->fail_at, e->fail_reason);
		}
		mtasts_cache_entry_free(e);
	} else if (!(s == S_UNCACHED && lrc == MTASTS_NOTFOUND) &&
	    !(s == S_UNUSABLE && lrc == MTASTS_CACHE_UNUSABLE)) {
		(*bad)++;
		fprintf(stderr, "%s: allocation %ld%s: cache load %d\n",
		    scen_name[s], at, sticky ? "+" : "", lrc);
		if (getenv("OOM_DEBUG") != NULL) {
			char cmd[1000];

			snprintf(cmd, sizeof(cmd), "ls -la %s; cat %s/*.json",
			    dir, dir);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot show %s\n", dir);
		}
	}
	if (spool_bytes(spool) != 0) {
		(*bad)++;
		fprintf(stderr, "%s: allocation %ld%s: TLS-RPT record "
		    "written\n", scen_name[s], at, sticky ? "+" : "");
	}
	fakenet_detach(&net);
	mtasts_ctx_free(ctx);
	rmrf(dir);
	rmrf(spool);
	return injected;
}

/*
 * The same run in a child process, jansson's allocations counted too.
 * jansson 2.14 may abort() on an allocation failure (an assertion in its
 * lexer): a crashed delivery process is deferred by the MTA, so an abort
 * is counted, not failed; what must never happen is a wrong answer or a
 * wrong cache entry. Returns injected failures (-1: the child aborted).
 */
static long
run_forked(enum scen s, long at, int sticky, int *bad, int *aborts)
{
	struct rlimit nocore = { 0, 0 };
	int pfd[2], status;
	long injected = 0;
	pid_t pid;

	if (pipe(pfd) != 0)
		abort();
	fflush(NULL);
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		int b = 0;

		close(pfd[0]);
		/* An abort in jansson leaves no core file behind. */
		(void)setrlimit(RLIMIT_CORE, &nocore);
		json_set_alloc_funcs(jansson_malloc, jansson_free);
		oom_jansson = 1;
		injected = run(s, at, sticky, &b);
		if (write(pfd[1], &injected, sizeof(injected)) !=
		    (ssize_t)sizeof(injected))
			_exit(3);
		_exit(b != 0 ? 1 : 0);
	}
	close(pfd[1]);
	if (read(pfd[0], &injected, sizeof(injected)) !=
	    (ssize_t)sizeof(injected))
		injected = -1;
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid)
		abort();
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
		(*aborts)++;
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		(*bad)++;
	return injected;
}

int
main(void)
{
	char tmpl[] = "/tmp/mtasts-oom-XXXXXX";
	long at, runs;
	int s, sticky, bad;

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	mtasts_strlcpy(topdir, tmpl, sizeof(topdir));
	for (s = 0; s < S_N; s++) {
		for (sticky = 0; sticky <= 1; sticky++) {
			bad = 0;
			runs = 0;
			for (at = 1; at < RUNS_MAX; at++) {
				runs++;
				if (run((enum scen)s, at, sticky, &bad) == 0)
					break;
			}
			CHECKF(at < RUNS_MAX, "%s: no clean run",
			    scen_name[s]);
			CHECKF(bad == 0, "%s%s: %d bad outcomes in %ld runs",
			    scen_name[s], sticky ? " (sticky)" : "", bad,
			    runs);
			printf("%s%s: %ld allocations failed in turn, %d bad\n",
			    scen_name[s], sticky ? " (sticky)" : "", runs - 1,
			    bad);
		}
	}
	/* With jansson's allocations failing too, in child processes. */
	for (s = 0; s < S_N; s++) {
		int aborts = 0;

		bad = 0;
		runs = 0;
		for (at = 1; at < RUNS_MAX; at++) {
			long inj;

			runs++;
			inj = run_forked((enum scen)s, at, 0, &bad, &aborts);
			if (inj == 0)
				break;
		}
		CHECKF(at < RUNS_MAX, "%s (jansson): no clean run",
		    scen_name[s]);
		CHECKF(bad == 0, "%s (jansson): %d bad outcomes in %ld runs",
		    scen_name[s], bad, runs);
		printf("%s (with jansson): %ld allocations failed in turn, "
		    "%d bad, %d aborts in jansson\n", scen_name[s], runs - 1,
		    bad, aborts);
	}
	rmrf(topdir);
	return T_DONE();
}
