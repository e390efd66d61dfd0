/* SPDX-License-Identifier: ISC */
/*
 * test_exim_plugin.c - the adapter glue without Exim: policy mx patterns
 * as an Exim host list, the per-process context (config errors, fork),
 * and the lookup memo.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostlist.h"
#include "mtasts.h"
#include "mtasts_admin.h"
#include "internal/cache.h"
#include "internal/util.h"

#include "mtasts_plugin.h"
#include "t.h"

static struct mtasts_policy *
policy(const char *body)
{
	struct mtasts_policy *p = NULL;

	if (mtasts_policy_parse(body, strlen(body), &p, NULL) != MTASTS_OK)
		return NULL;
	return p;
}

static void
test_hostlist(void)
{
	struct mtasts_policy *p;
	char buf[512], small[20];

	p = policy("version: STSv1\nmode: enforce\nmx: mx1.example.com\n"
	    "mx: *.mx.example-2.net\nmax_age: 600\n");
	CHECK(p != NULL);
	CHECK(mtasts_exim_hostlist(p, buf, sizeof(buf)) > 0);
	CHECK(strcmp(buf, "<; !^mx1\\.example\\.com$ ; "
	    "!^[^.]+\\.mx\\.example-2\\.net$ ; *") == 0);
	CHECK(mtasts_exim_hostlist(p, small, sizeof(small)) == 0);
	CHECK(mtasts_exim_hostlist(NULL, buf, sizeof(buf)) > 0);
	CHECK(strcmp(buf, "<; *") == 0);
	mtasts_policy_free(p);
}

static void
log_count(void *arg, int level, const char *msg)
{
	(void)level;
	(void)msg;
	(*(int *)arg)++;
}

static const char *dir;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static void
test_config(void)
{
	struct mtasts_error err = { 0, "" };
	const struct mtasts_result *r;
	char bad[256];

	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	write_file(bad, "fetch_timout = 3\n");
	mtasts_plugin_reset();
	CHECK(mtasts_plugin_ctx(bad, &err) == NULL);
	CHECK(strstr(err.text, "unknown key") != NULL);
	memset(&err, 0, sizeof(err));
	/* Remembered: the same failure, no silent fallback to defaults. */
	CHECK(mtasts_plugin_lookup("a.test", bad, &r, &err) != MTASTS_OK);
	CHECK(r == NULL);
	CHECK(strstr(err.text, "configuration") != NULL);
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_plugin_ctx("/nonexistent/mtasts.conf", &err) == NULL);

	/*
	 * D-EXIM-9: no file named and none at the default place is a
	 * configuration error, never "the defaults" (the CLI differs).
	 */
	mtasts_plugin_reset();
	memset(&err, 0, sizeof(err));
	setenv("MTASTS_CONFIG", "/nonexistent/env-mtasts.conf", 1);
	CHECK(mtasts_plugin_ctx(NULL, &err) == NULL);
	CHECKF(strstr(err.text, "/nonexistent/env-mtasts.conf") != NULL, "%s",
	    err.text);
	unsetenv("MTASTS_CONFIG");
	if (access(MTASTS_PLUGIN_DEFAULT_CONFIG, F_OK) != 0) {
		mtasts_plugin_reset();
		memset(&err, 0, sizeof(err));
		CHECK(mtasts_plugin_ctx("", &err) == NULL);
		CHECKF(strstr(err.text, MTASTS_PLUGIN_DEFAULT_CONFIG) != NULL,
		    "%s", err.text);
		memset(&err, 0, sizeof(err));
		CHECK(mtasts_plugin_lookup("a.test", NULL, &r, &err) !=
		    MTASTS_OK && r == NULL);
	} else
		printf("%s exists: its absence not checked\n",
		    MTASTS_PLUGIN_DEFAULT_CONFIG);
	mtasts_plugin_reset();
}

/*
 * The memo entry is stamped when the answer is known: a lookup slower
 * than the memo lifetime (here a TXT check against a resolver that never
 * answers, 1 s, with a 700 ms lifetime) is still reused right after.
 */
static void
log_print(void *arg, int level, const char *msg)
{
	(void)arg;
	if (getenv("TEST_VERBOSE") != NULL)
		fprintf(stderr, "log %d: %s\n", level, msg);
}

static void
test_memo_stamp(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	struct mtasts_ctx *ctx;
	const struct mtasts_result *r = NULL;
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	unsigned long n, hits;
	char conf[256], cache[256], text[600];
	int64_t t0;
	int s;

	/* A UDP "resolver" that reads nothing and never answers. */
	s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(s != -1 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &slen) == 0);
	snprintf(cache, sizeof(cache), "%s/cache-slow", dir);
	CHECK(mkdir(cache, 02770) == 0);
	snprintf(conf, sizeof(conf), "%s/slow.conf", dir);
	snprintf(text, sizeof(text), "cache_dir = %s\ntlsrpt_dir = %s.tlsrpt\n"
	    "txt_check_interval = 0\nresolver = 127.0.0.1@%u\n"
	    "dns_timeout = 1\nfetch_timeout = 1\ndnssec = off\n", cache,
	    cache, (unsigned)ntohs(sa.sin_port));
	write_file(conf, text);
	mtasts_plugin_reset();
	mtasts_plugin_set_memo_ttl(700);
	mtasts_plugin_set_log(log_print, NULL);
	ctx = mtasts_plugin_ctx(conf, &err);
	CHECKF(ctx != NULL, "%s", err.text);
	if (ctx == NULL)
		goto done;
	memset(&e, 0, sizeof(e));
	mtasts_strlcpy(e.domain, "slow.example.net", sizeof(e.domain));
	mtasts_strlcpy(e.id, "1", sizeof(e.id));
	mtasts_strlcpy(e.txt_id, "1", sizeof(e.txt_id));
	e.policy = policy("version: STSv1\nmode: enforce\n"
	    "mx: mx.slow.example.net\nmax_age: 86400\n");
	e.fetched_at = e.txt_checked_at = time(NULL) - 60;
	e.expires_at = e.fetched_at + 86400;
	CHECKF(mtasts_cache_store(ctx, &e, &err) == MTASTS_OK, "%s",
	    err.text);
	mtasts_policy_free(e.policy);
	t0 = mtasts_mono_ms();
	CHECK(mtasts_plugin_lookup("slow.example.net", conf, &r, &err) ==
	    MTASTS_OK);
	CHECKF(mtasts_mono_ms() - t0 >= 700, "the lookup took %lld ms",
	    (long long)(mtasts_mono_ms() - t0));
	CHECK(mtasts_plugin_result_mode(r) == MTASTS_MODE_ENFORCE);
	CHECK(mtasts_plugin_lookup("slow.example.net", conf, &r, &err) ==
	    MTASTS_OK);
	mtasts_plugin_stats(&n, &hits);
	CHECKF(n == 2 && hits == 1, "lookups %lu hits %lu", n, hits);
done:
	mtasts_plugin_reset();
	if (s != -1)
		close(s);
}

static void
test_memo_fork(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	struct mtasts_ctx *ctx;
	const struct mtasts_result *r = NULL;
	unsigned long n, hits;
	char conf[256], cache[256], text[600];
	pid_t pid;
	int logs = 0, status = -1;

	snprintf(cache, sizeof(cache), "%s/cache", dir);
	/* A cache_dir named in mtasts.conf must exist (D-CONF-4). */
	CHECK(mkdir(cache, 02770) == 0);
	snprintf(conf, sizeof(conf), "%s/good.conf", dir);
	snprintf(text, sizeof(text), "cache_dir = %s\ntxt_check_interval = "
	    "86400\nresolver = 127.0.0.1@9\ndns_timeout = 1\n"
	    "fetch_timeout = 1\n", cache);
	write_file(conf, text);
	mtasts_plugin_reset();
	mtasts_plugin_set_log(log_count, &logs);
	ctx = mtasts_plugin_ctx(conf, &err);
	CHECKF(ctx != NULL, "%s", err.text);
	if (ctx == NULL)
		return;
	memset(&e, 0, sizeof(e));
	mtasts_strlcpy(e.domain, "enforce.test", sizeof(e.domain));
	mtasts_strlcpy(e.id, "1", sizeof(e.id));
	mtasts_strlcpy(e.txt_id, "1", sizeof(e.txt_id));
	e.policy = policy("version: STSv1\nmode: enforce\nmx: mx.enforce.test"
	    "\nmax_age: 86400\n");
	e.fetched_at = e.txt_checked_at = time(NULL);
	e.expires_at = e.fetched_at + 86400;
	CHECKF(mtasts_cache_store(ctx, &e, &err) == MTASTS_OK, "%s",
	    err.text);
	mtasts_policy_free(e.policy);

	CHECK(mtasts_plugin_lookup("Enforce.TEST.", conf, &r, &err) ==
	    MTASTS_OK);
	CHECK(mtasts_plugin_result_mode(r) == MTASTS_MODE_ENFORCE);
	CHECK(mtasts_plugin_lookup("enforce.test", conf, &r, &err) ==
	    MTASTS_OK);
	mtasts_plugin_stats(&n, &hits);
	CHECK(n == 2 && hits == 1);

	/* A fork child makes its own context and keeps the memo. */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct mtasts_ctx *c2 = mtasts_plugin_ctx(conf, NULL);
		const struct mtasts_result *r2 = NULL;
		unsigned long n2, h2;

		/* (The address may repeat: the parent's was freed.) */
		if (c2 == NULL)
			_exit(2);
		if (mtasts_plugin_lookup("enforce.test", conf, &r2, NULL) !=
			MTASTS_OK ||
		    mtasts_plugin_result_mode(r2) != MTASTS_MODE_ENFORCE)
			_exit(3);
		mtasts_plugin_stats(&n2, &h2);
		_exit(h2 == 2 ? 0 : 4);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d",
	    status);

	/*
	 * Many domains through a memo smaller than the set: every lookup
	 * reads the cache and evicts. Heap in use must not grow.
	 */
	{
		size_t used[2] = { 0, 0 };
		int round, i, bad = 0;

		for (i = 0; i < 100; i++) {
			snprintf(e.domain, sizeof(e.domain), "d%03d.test", i);
			e.policy = policy("version: STSv1\nmode: testing\n"
			    "mx: mx.d.test\nmax_age: 86400\n");
			if (mtasts_cache_store(ctx, &e, NULL) != MTASTS_OK)
				bad++;
			mtasts_policy_free(e.policy);
		}
		CHECK(bad == 0);
		for (round = 0; round < 20; round++) {
			for (i = 0; i < 100; i++) {
				char d[32];

				snprintf(d, sizeof(d), "d%03d.test", i);
				if (mtasts_plugin_lookup(d, conf, &r, NULL) !=
					MTASTS_OK ||
				    mtasts_plugin_result_mode(r) !=
					MTASTS_MODE_TESTING)
					bad++;
			}
			if (round == 2 || round == 19)
				used[round == 19] = mallinfo2().uordblks;
		}
		CHECK(bad == 0);
		CHECKF(used[1] <= used[0] + 4096, "heap %zu -> %zu", used[0],
		    used[1]);
		printf("memo eviction: 2000 lookups, heap in use %zu -> %zu "
		    "bytes\n", used[0], used[1]);
	}

	/* Another config path: a new context, nothing remembered. */
	CHECK(mtasts_plugin_ctx(NULL, &err) != NULL || err.code != 0);
	mtasts_plugin_reset();
	mtasts_plugin_stats(&n, &hits);
	CHECK(n == 0 && hits == 0);
}

/*
 * D-EXIM-11: a domain held under an enforce policy stays "tempfail" when
 * its cache entry is gone and discovery fails (here: a resolver that
 * never answers, dns_failure = none, so the core says "no policy" with a
 * failure type); without the hold, or with the hold run out, the core's
 * answer stands. An unparsable marker counts as held.
 */
static void
test_held(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	struct mtasts_ctx *ctx;
	const struct mtasts_result *r = NULL;
	struct sockaddr_in sa;
	socklen_t slen = sizeof(sa);
	char conf[256], cache[256], text[600], marker[400];
	struct stat sb;
	int s, st = -1;

	s = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(s != -1 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sa, &slen) == 0);
	snprintf(cache, sizeof(cache), "%s/cache-held", dir);
	CHECK(mkdir(cache, 02770) == 0);
	snprintf(conf, sizeof(conf), "%s/held.conf", dir);
	snprintf(text, sizeof(text), "cache_dir = %s\ntlsrpt_dir = %s.tlsrpt\n"
	    "txt_check_interval = 86400\nresolver = 127.0.0.1@%u\n"
	    "dns_timeout = 1\nfetch_timeout = 1\ndnssec = off\n"
	    "dns_failure = none\n", cache, cache,
	    (unsigned)ntohs(sa.sin_port));
	write_file(conf, text);
	mtasts_plugin_reset();
	ctx = mtasts_plugin_ctx(conf, &err);
	CHECKF(ctx != NULL, "%s", err.text);
	if (ctx == NULL)
		goto done;
	memset(&e, 0, sizeof(e));
	mtasts_strlcpy(e.domain, "held.example.net", sizeof(e.domain));
	mtasts_strlcpy(e.id, "1", sizeof(e.id));
	mtasts_strlcpy(e.txt_id, "1", sizeof(e.txt_id));
	e.policy = policy("version: STSv1\nmode: enforce\nmx: mx.held.example"
	    ".net\nmax_age: 86400\n");
	e.fetched_at = e.txt_checked_at = time(NULL);
	e.expires_at = e.fetched_at + 86400;
	CHECKF(mtasts_cache_store(ctx, &e, &err) == MTASTS_OK, "%s",
	    err.text);
	mtasts_policy_free(e.policy);
	CHECK(mtasts_plugin_lookup("held.example.net", conf, &r, &err) ==
	    MTASTS_OK && mtasts_plugin_result_mode(r) == MTASTS_MODE_ENFORCE);
	mtasts_plugin_note_held(r);
	snprintf(marker, sizeof(marker), "%s/.held.held.example.net", cache);
	CHECK(stat(marker, &sb) == 0 && S_ISREG(sb.st_mode));

	/* The entry is flushed; discovery fails: held, so tempfail. */
	CHECK(mtasts_cache_remove(ctx, "held.example.net", &err) ==
	    MTASTS_OK);
	mtasts_plugin_reset();
	CHECK(mtasts_plugin_lookup("held.example.net", conf, &r, &err) ==
	    MTASTS_OK);
	CHECKF(r != NULL && (st = mtasts_result_status(r)) ==
	    MTASTS_LOOKUP_TEMPFAIL, "status %d", st);
	CHECK(r != NULL && strstr(mtasts_result_failure_reason(r),
	    "held under its enforce policy") != NULL);
	/* Another domain, never held: the core's "no policy" stands. */
	CHECK(mtasts_plugin_lookup("other.example.net", conf, &r, &err) ==
	    MTASTS_OK && mtasts_result_status(r) == MTASTS_LOOKUP_NONE);
	/* A malformed marker counts as held. */
	write_file(marker, "garbage\n");
	mtasts_plugin_reset();
	CHECK(mtasts_plugin_lookup("held.example.net", conf, &r, &err) ==
	    MTASTS_OK && mtasts_result_status(r) == MTASTS_LOOKUP_TEMPFAIL);
	/* A hold that ran out is forgotten. */
	write_file(marker, "1\n");
	mtasts_plugin_reset();
	CHECK(mtasts_plugin_lookup("held.example.net", conf, &r, &err) ==
	    MTASTS_OK && mtasts_result_status(r) == MTASTS_LOOKUP_NONE);
	CHECK(stat(marker, &sb) == -1);
done:
	mtasts_plugin_reset();
	if (s != -1)
		close(s);
}

int
main(void)
{
	char tmpl[] = "/tmp/test_exim_plugin.XXXXXX";

	if ((dir = mkdtemp(tmpl)) == NULL)
		return 1;
	test_hostlist();
	test_config();
	test_memo_fork();
	test_memo_stamp();
	test_held();
	mtasts_plugin_reset();
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
		_exit(1);
	}
	wait(NULL);
	return T_DONE();
}
