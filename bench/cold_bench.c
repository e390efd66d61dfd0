/* SPDX-License-Identifier: ISC */
/*
 * cold_bench.c - cold lookup latency against the physical floor, in the
 * hermetic world (bench/run starts it), interleaved in one process.
 *
 *	cold_bench CONFIG CAFILE DNS_ADDR SHMDIR WARMDOMAIN DOMAIN ADDR...
 *
 * Two contexts from CONFIG, one with its cache_dir replaced by SHMDIR (a
 * tmpfs, where fsync costs nothing), are warmed by one lookup of
 * WARMDOMAIN (resolver and TLS context exist, as in any process after
 * its first fetch), then for every uncached DOMAIN, in rotating order:
 *   cold:       mtasts_lookup(): TXT + A/AAAA + HTTPS + parse + cache
 *               write (temp file, fsync, rename, fsync of the directory);
 *   cold_tmpfs: the same with the cache on tmpfs: the difference is what
 *               the durable cache write costs;
 *   floor:      the UDP DNS queries any client needs, one after the
 *               other (the TXT, then the A of mta-sts.DOMAIN: issue 18's
 *               definition; until 2026-12-02 it left the A out, so it
 *               was one resolver round trip below what a client can do)
 *               + TCP connect to ADDR + verified TLS handshake + GET +
 *               read of the policy, with a minimal OpenSSL client whose
 *               SSL_CTX is made beforehand.
 * fsync: the two fsync() calls alone on a 512-byte file in the cache
 * directory. Prints medians (cold_ns cold_tmpfs_ns floor_ns fsync_ns)
 * and the rounds.
 *
 *	cold_bench bulk CAFILE DNS_ADDR CONC DOMAIN ADDR...
 *
 * The floor of issue 18 goal 3 (bulk refresh): the floor's steps above
 * (TXT + A over UDP, TCP, verified TLS, GET) for every DOMAIN once, CONC
 * at a time (CONC threads of blocking calls, one SSL_CTX made
 * beforehand), no parse, no cache. Prints wall_s and cpu_s (user + sys
 * of the process) of the whole batch.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "internal/ctx.h"
#include "internal/util.h"

#include "bench_util.h"

#define MAXR 256

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
	fprintf(stderr, "cold_bench: %s: %s\n", what, why);
	exit(1);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *key, int64_t *v, unsigned n)
{
	int64_t s[MAXR];
	unsigned i;

	printf("%s_rounds_ns", key);
	for (i = 0; i < n; i++)
		printf(" %lld", (long long)v[i]);
	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_i64);
	printf("\n%s_ns %lld\n", key, (long long)(n % 2 ? s[n / 2] :
	    (s[n / 2 - 1] + s[n / 2]) / 2));
}

/* One query over UDP; fails unless NOERROR with an answer. */
static void
dns_query(const char *dns, const char *name, unsigned char type)
{
	unsigned char q[512], a[4096];
	struct sockaddr_in sin;
	size_t off = 12, l;
	const char *p, *dot;
	ssize_t n;
	int fd;

	memset(q, 0, 12);
	q[0] = 0x12;
	q[1] = 0x34;
	q[2] = 0x01;	/* RD */
	q[5] = 1;	/* QDCOUNT */
	for (p = name; *p != '\0'; p = *dot ? dot + 1 : dot) {
		dot = strchr(p, '.');
		if (dot == NULL)
			dot = p + strlen(p);
		l = (size_t)(dot - p);
		q[off++] = (unsigned char)l;
		memcpy(q + off, p, l);
		off += l;
	}
	q[off++] = 0;
	q[off++] = 0;
	q[off++] = type;
	q[off++] = 0;
	q[off++] = 1;	/* IN */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(53);
	inet_pton(AF_INET, dns, &sin.sin_addr);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    sendto(fd, q, off, 0, (struct sockaddr *)&sin, sizeof(sin)) !=
		(ssize_t)off)
		die("dns", "send");
	n = recv(fd, a, sizeof(a), 0);
	close(fd);
	if (n < 12 || (a[3] & 0x0f) != 0 || (a[6] == 0 && a[7] == 0))
		die("dns", name);
}

/* TCP + verified TLS + GET + read until close. */
static void
https_get(SSL_CTX *sctx, const char *host, const char *addr)
{
	struct sockaddr_in sin;
	char req[600], buf[16384], name[300];
	size_t got = 0;
	SSL *ssl;
	int fd, n, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(443);
	inet_pton(AF_INET, addr, &sin.sin_addr);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect", addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((ssl = SSL_new(sctx)) == NULL)
		die("SSL_new", host);
	SSL_set_fd(ssl, fd);
	/* The macro casts away const: give it a writable copy. */
	mtasts_strlcpy(name, host, sizeof(name));
	SSL_set_tlsext_host_name(ssl, name);
	SSL_set1_host(ssl, host);
	if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK)
		die("TLS", host);
	n = snprintf(req, sizeof(req), "GET /.well-known/mta-sts.txt "
	    "HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
	if (SSL_write(ssl, req, n) != n)
		die("TLS write", host);
	while (got < sizeof(buf) - 1 &&
	    (n = SSL_read(ssl, buf + got, (int)(sizeof(buf) - 1 - got))) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0 ||
	    strstr(buf, "version: STSv1") == NULL)
		die("GET", host);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
}

static void
lookup_fetch(struct mtasts_ctx *ctx, const char *domain)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_result *r = NULL;

	if (mtasts_lookup(ctx, domain, 0, &r, &err) != MTASTS_OK)
		die("lookup", err.text);
	if (mtasts_result_status(r) != MTASTS_LOOKUP_POLICY ||
	    mtasts_result_source(r) != MTASTS_SOURCE_FETCHED)
		die("lookup: not fetched", domain);
	mtasts_result_free(r);
}

struct bulk {
	SSL_CTX		*sctx;
	const char	*dns;
	char		**pairs;	/* DOMAIN ADDR ... */
	unsigned	 n;
	atomic_uint	 next;
};

static void *
bulk_worker(void *arg)
{
	struct bulk *b = arg;
	char host[300], txt[310];
	unsigned i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->n) {
		snprintf(txt, sizeof(txt), "_mta-sts.%s", b->pairs[2 * i]);
		snprintf(host, sizeof(host), "mta-sts.%s", b->pairs[2 * i]);
		dns_query(b->dns, txt, 16);	/* TXT */
		dns_query(b->dns, host, 1);	/* A */
		https_get(b->sctx, host, b->pairs[2 * i + 1]);
	}
	return NULL;
}

static int
bulk_main(int argc, char **argv)
{
	pthread_t t[64];
	struct bulk b;
	unsigned long conc = 0;
	unsigned i;
	char *end = NULL;
	int64_t t0;
	double c0;

	if (argc >= 5)
		conc = strtoul(argv[4], &end, 10);
	if (argc < 7 || (argc - 5) % 2 != 0 || end == argv[4] ||
	    *end != '\0' || conc < 1 || conc > 64)
		die("usage", "bulk CAFILE DNS CONC(1-64) DOMAIN ADDR...");
	if ((b.sctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(b.sctx, argv[2], NULL) != 1)
		die("SSL_CTX", argv[2]);
	SSL_CTX_set_min_proto_version(b.sctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(b.sctx, SSL_VERIFY_PEER, NULL);
	b.dns = argv[3];
	b.pairs = argv + 5;
	b.n = (unsigned)(argc - 5) / 2;
	atomic_init(&b.next, 0);
	c0 = bench_cpu_s();
	t0 = now_ns();
	for (i = 0; i < conc; i++)
		if (pthread_create(&t[i], NULL, bulk_worker, &b) != 0)
			die("pthread_create", "bulk");
	for (i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	printf("n %u\nwall_s %.6f\ncpu_s %.6f\n", b.n,
	    (double)(now_ns() - t0) / 1e9, bench_cpu_s() - c0);
	SSL_CTX_free(b.sctx);
	return 0;
}

int
main(int argc, char **argv)
{
	struct mtasts_error err = { 0, "" };
	int64_t cold[MAXR], shm[MAXR], flo[MAXR], sync[MAXR], t0;
	struct mtasts_ctx *ctx, *ctx2;
	char host[300], txt[310], path[1200], blob[512];
	unsigned n = 0, i, k;
	SSL_CTX *sctx;
	int fd, dfd;

	if (argc > 1 && strcmp(argv[1], "bulk") == 0)
		return bulk_main(argc, argv);
	if (argc < 8 || (argc - 6) % 2 != 0 || (argc - 6) / 2 > MAXR)
		die("usage", "CONFIG CAFILE DNS SHMDIR WARM DOMAIN ADDR...");
	if ((ctx = mtasts_ctx_new()) == NULL ||
	    mtasts_ctx_load_config(ctx, argv[1], &err) != MTASTS_OK ||
	    (ctx2 = mtasts_ctx_new()) == NULL ||
	    mtasts_ctx_load_config(ctx2, argv[1], &err) != MTASTS_OK ||
	    mtasts_ctx_set(ctx2, "cache_dir", argv[4], &err) != MTASTS_OK)
		die("config", err.text);
	if ((sctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_load_verify_locations(sctx, argv[2], NULL) != 1)
		die("SSL_CTX", argv[2]);
	SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);
	lookup_fetch(ctx, argv[5]);
	lookup_fetch(ctx2, argv[5]);
	if (ctx->dns == NULL || ctx->ssl_ctx == NULL)
		die("warm-up", "no resolver or TLS context after a fetch");
	if ((dfd = open(ctx->cfg.cache_dir, O_RDONLY | O_DIRECTORY)) == -1)
		die("open", ctx->cfg.cache_dir);
	memset(blob, 'x', sizeof(blob));
	for (i = 6; i + 1 < (unsigned)argc; i += 2, n++) {
		const char *d = argv[i], *addr = argv[i + 1];

		snprintf(host, sizeof(host), "mta-sts.%s", d);
		/* Rotate the order so that no side always goes first. */
		for (k = 0; k < 3; k++) {
			t0 = now_ns();
			switch ((n + k) % 3) {
			case 0:
				lookup_fetch(ctx, d);
				cold[n] = now_ns() - t0;
				break;
			case 1:
				lookup_fetch(ctx2, d);
				shm[n] = now_ns() - t0;
				break;
			default:
				snprintf(txt, sizeof(txt), "_mta-sts.%s", d);
				dns_query(argv[3], txt, 16);	/* TXT */
				dns_query(argv[3], host, 1);	/* A */
				https_get(sctx, host, addr);
				flo[n] = now_ns() - t0;
			}
		}
		snprintf(path, sizeof(path), "%s/fsync-probe.tmp",
		    ctx->cfg.cache_dir);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
			-1 ||
		    write(fd, blob, sizeof(blob)) != (ssize_t)sizeof(blob))
			die("probe", path);
		t0 = now_ns();
		if (fsync(fd) != 0 || fsync(dfd) != 0)
			die("fsync", path);
		sync[n] = now_ns() - t0;
		close(fd);
		unlink(path);
	}
	report("cold", cold, n);
	report("cold_tmpfs", shm, n);
	report("floor", flo, n);
	report("fsync", sync, n);
	close(dfd);
	SSL_CTX_free(sctx);
	mtasts_ctx_free(ctx);
	mtasts_ctx_free(ctx2);
	return 0;
}
