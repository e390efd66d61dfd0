/* SPDX-License-Identifier: ISC */
/*
 * cache_load_bench.c - nanoseconds per mtasts_cache_load() (the
 * per-message fast path) with 10, 1000 and 100000 cached domains.
 *
 * Not part of ctest. Build by hand after building the library in
 * build-cache (from the top of the source tree):
 *
 *	cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
 *	    -Icommon/include -Icommon bench/cache_load_bench.c \
 *	    build-cache/common/libmtasts.a \
 *	    $(pkg-config --libs jansson libidn2) -lunbound -lssl -lcrypto \
 *	    -lz -o build-cache/cache_load_bench
 *
 * Run:	build-cache/cache_load_bench [PARENT_DIR] [LOADS]
 *
 * PARENT_DIR (default /dev/shm, a tmpfs; use e.g. /var/tmp for a disk)
 * gets a temporary directory that is removed at the end. Each entry is a
 * real enforce policy with three mx lines, stored once through
 * mtasts_cache_store() and copied to the other domains (same length), so
 * every load opens, reads, JSON-parses and policy-parses one file. The
 * page cache is warm: this measures CPU and system-call cost, not disk.
 * The breakdown lines time the pieces of one load on their own, and the
 * two decoders (D-CACHE-10) on the template.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal/cache.h"
#include "internal/ctx.h"
#include "internal/util.h"

#define POLICY "version: STSv1\r\nmode: enforce\r\n" \
	"mx: mail.example.com\r\nmx: *.mx.example.net\r\n" \
	"mx: backup.example.org\r\nmax_age: 1209600\r\n"

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
domain_name(char *buf, size_t size, unsigned i)
{
	snprintf(buf, size, "d%07u.example", i);
}

static void
die(const char *what)
{
	fprintf(stderr, "cache_load_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A template file for d0000000.example, written by the library. */
static char *
make_template(struct mtasts_ctx *ctx, const char *dir, size_t *len)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry e;
	struct stat st;
	char path[1200], *buf;
	int fd;

	memset(&e, 0, sizeof(e));
	domain_name(e.domain, sizeof(e.domain), 0);
	mtasts_strlcpy(e.id, "20240601T120000", sizeof(e.id));
	if (mtasts_policy_parse(POLICY, strlen(POLICY), &e.policy, &err) !=
	    MTASTS_OK) {
		fprintf(stderr, "policy: %s\n", err.text);
		exit(1);
	}
	e.fetched_at = 1717243200;
	e.expires_at = e.fetched_at + 1209600;
	e.txt_checked_at = e.fetched_at;
	mtasts_strlcpy(e.txt_id, e.id, sizeof(e.txt_id));
	if (mtasts_cache_store(ctx, &e, &err) != MTASTS_OK) {
		fprintf(stderr, "store: %s\n", err.text);
		exit(1);
	}
	mtasts_policy_free(e.policy);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.json", dir,
		e.domain) >= sizeof(path) ||
	    (fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		die(path);
	if ((buf = malloc((size_t)st.st_size)) == NULL ||
	    read(fd, buf, (size_t)st.st_size) != st.st_size)
		die("read template");
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
populate(const char *dir, const char *tmpl, size_t len, unsigned n)
{
	char name[64], path[1200], *buf, *p;
	unsigned i;
	int fd;

	if ((buf = malloc(len)) == NULL)
		die("malloc");
	memcpy(buf, tmpl, len);
	p = strstr(buf, "d0000000.example");
	for (i = 0; i < n; i++) {
		domain_name(name, sizeof(name), i);
		memcpy(p, name, strlen(name));
		snprintf(path, sizeof(path), "%s/%s.json", dir, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);
		if (fd == -1 || write(fd, buf, len) != (ssize_t)len)
			die(path);
		close(fd);
	}
	free(buf);
}

static void
depopulate(const char *dir, unsigned n)
{
	char name[64], path[1200];
	unsigned i;

	for (i = 0; i < n; i++) {
		domain_name(name, sizeof(name), i);
		snprintf(path, sizeof(path), "%s/%s.json", dir, name);
		unlink(path);
	}
}

int
main(int argc, char **argv)
{
	static const unsigned sizes[] = { 10, 1000, 100000 };
	const char *parent = argc > 1 ? argv[1] : "/dev/shm";
	unsigned long loads = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	struct mtasts_policy *p;
	struct stat st;
	char top[1024], dir[1100], fpath[1200], name[64], *tmpl;
	size_t len;
	unsigned long i, fails;
	unsigned s, seed = 1;
	int64_t t0, t;

	snprintf(top, sizeof(top), "%s/mtasts-bench.XXXXXX", parent);
	if (mkdtemp(top) == NULL)
		die(top);
	snprintf(dir, sizeof(dir), "%s/cache", top);
	if ((ctx = mtasts_ctx_new()) == NULL ||
	    mtasts_ctx_set(ctx, "cache_dir", dir, &err) != MTASTS_OK) {
		fprintf(stderr, "ctx: %s\n", err.text);
		return 1;
	}
	tmpl = make_template(ctx, dir, &len);
	printf("cache dir %s, entry %zu bytes, %lu loads per size\n", dir,
	    len, loads);

	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		populate(dir, tmpl, len, sizes[s]);
		fails = 0;
		t0 = now_ns();
		for (i = 0; i < loads; i++) {
			struct mtasts_cache_entry *e = NULL;

			seed = seed * 1103515245u + 12345u;
			domain_name(name, sizeof(name), (seed >> 8) % sizes[s]);
			if (mtasts_cache_load(ctx, name, &e, NULL) !=
			    MTASTS_OK)
				fails++;
			mtasts_cache_entry_free(e);
		}
		t = now_ns() - t0;
		printf("%6u domains: %7.0f ns per load (%lu failed)\n",
		    sizes[s], (double)t / (double)loads, fails);
		depopulate(dir, sizes[s]);
	}

	/* Breakdown of one load, on the template alone. */
	t0 = now_ns();
	for (i = 0; i < loads; i++)
		stat(dir, &st);
	printf("breakdown: stat(cache_dir)           %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	populate(dir, tmpl, len, 1);
	domain_name(name, sizeof(name), 0);
	snprintf(fpath, sizeof(fpath), "%s/%s.json", dir, name);
	t0 = now_ns();
	for (i = 0; i < loads; i++) {
		char buf[4096];
		int fd = open(fpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd == -1 || fstat(fd, &st) == -1 ||
		    read(fd, buf, sizeof(buf)) < 0)
			die(fpath);
		close(fd);
	}
	printf("breakdown: open+fstat+read+close     %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	t0 = now_ns();
	for (i = 0; i < loads; i++)
		json_decref(json_loadb(tmpl, len, JSON_REJECT_DUPLICATES,
		    NULL));
	printf("breakdown: json_loadb                %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	/* The decoders themselves (D-CACHE-10), policy parse included. */
	domain_name(name, sizeof(name), 0);
	t0 = now_ns();
	for (i = 0; i < loads; i++) {
		struct mtasts_cache_entry e;

		memset(&e, 0, sizeof(e));
		if (mtasts_cache_decode_fast(name, tmpl, len, &e) !=
		    MTASTS_OK)
			die("fast decode");
		mtasts_policy_free(e.policy);
	}
	printf("breakdown: mtasts_cache_decode_fast  %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	t0 = now_ns();
	for (i = 0; i < loads; i++) {
		struct mtasts_cache_entry e;
		char why[128];

		memset(&e, 0, sizeof(e));
		if (mtasts_cache_decode_json(name, tmpl, len, &e, why,
		    sizeof(why)) != MTASTS_OK)
			die("json decode");
		mtasts_policy_free(e.policy);
	}
	printf("breakdown: mtasts_cache_decode_json  %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	t0 = now_ns();
	for (i = 0; i < loads; i++) {
		if (mtasts_policy_parse(POLICY, strlen(POLICY), &p, NULL) ==
		    MTASTS_OK)
			mtasts_policy_free(p);
	}
	printf("breakdown: mtasts_policy_parse       %7.0f ns\n",
	    (double)(now_ns() - t0) / (double)loads);
	depopulate(dir, 1);

	/* Leave nothing behind: loads create no lock or temp files. */
	rmdir(dir);
	rmdir(top);
	free(tmpl);
	mtasts_ctx_free(ctx);
	return 0;
}
