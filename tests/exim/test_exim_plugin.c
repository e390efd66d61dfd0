/*
 * test_exim_plugin.c - the adapter glue without Exim: policy mx patterns
 * as an Exim host list, the per-process context (config errors, fork),
 * and the lookup memo.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hostlist.h"
#include "mtasts_internal.h"
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
	    "fetch_timeout = 1\ndnssec = off\n", cache);
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

int
main(void)
{
	char tmpl[] = "/tmp/test_exim_plugin.XXXXXX";

	if ((dir = mkdtemp(tmpl)) == NULL)
		return 1;
	test_hostlist();
	test_config();
	test_memo_fork();
	mtasts_plugin_reset();
	if (fork() == 0) {
		execlp("rm", "rm", "-rf", dir, (char *)NULL);
		_exit(1);
	}
	wait(NULL);
	return T_DONE();
}
