/* SPDX-License-Identifier: ISC */
/*
 * socketmap_bench.c - a minimal Postfix socketmap client (netstrings over
 * one persistent TCP connection, one query in flight, as Postfix's
 * socketmap table uses it) to time postfix-mta-sts-resolver's
 * mta-sts-daemon, the anchor of bench/run.
 *
 *	socketmap_bench HOST PORT warm DOMAINFILE QUERIES ROUNDS
 *	socketmap_bench HOST PORT cold DOMAIN
 *
 * warm: first asks for every domain of DOMAINFILE (pipelined, so the
 * daemon fetches them concurrently and caches them), then ROUNDS rounds of
 * QUERIES sequential queries over random domains; prints warm_ns (median
 * ns per query) and warm_rounds_ns. cold: one query, prints cold_ns.
 * Every answer must be "OK secure match=...": a query that is not
 * answered with the policy fails the run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXDOM 4096

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
	fprintf(stderr, "socketmap_bench: %s: %s\n", what, why);
	exit(1);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static char rbuf[65536];
static size_t rlen;

static void
send_query(int fd, const char *domain)
{
	char q[600];
	int n, m;

	m = (int)strlen("postfix ") + (int)strlen(domain);
	n = snprintf(q, sizeof(q), "%d:postfix %s,", m, domain);
	if (n <= 0 || (size_t)n >= sizeof(q) || write(fd, q, (size_t)n) != n)
		die("write", domain);
}

/* Read one netstring answer; fail unless it is a policy. */
static void
read_answer(int fd, const char *domain)
{
	char *colon, *end;
	size_t len, need;
	ssize_t n;

	for (;;) {
		colon = memchr(rbuf, ':', rlen);
		if (colon != NULL) {
			len = strtoul(rbuf, &end, 10);
			need = (size_t)(colon - rbuf) + 1 + len + 1;
			if (end != colon)
				die("netstring", "bad length");
			if (rlen >= need)
				break;
		}
		if (rlen == sizeof(rbuf))
			die("netstring", "too long");
		n = read(fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (n <= 0)
			die("read", domain);
		rlen += (size_t)n;
	}
	if (strncmp(colon + 1, "OK secure match=", 16) != 0) {
		fprintf(stderr, "socketmap_bench: %s: %.*s\n", domain,
		    (int)len, colon + 1);
		die("answer", "not a policy");
	}
	memmove(rbuf, rbuf + need, rlen - need);
	rlen -= need;
}

static int
connect_to(const char *host, const char *port)
{
	struct sockaddr_in sin;
	int fd, one = 1;
	char *end;
	long p = strtol(port, &end, 10);

	if (*port == '\0' || *end != '\0' || p < 1 || p > 65535)
		die("port", port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)p);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("address", host);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("connect", host);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int
main(int argc, char **argv)
{
	static char *dom[MAXDOM];
	char line[600];
	unsigned nd = 0, q, nq, r, nr, i, seed = 4242;
	int64_t t0, *rounds;
	FILE *f;
	int fd;

	if (argc == 5 && strcmp(argv[3], "cold") == 0) {
		fd = connect_to(argv[1], argv[2]);
		t0 = now_ns();
		send_query(fd, argv[4]);
		read_answer(fd, argv[4]);
		printf("cold_ns %lld\n", (long long)(now_ns() - t0));
		close(fd);
		return 0;
	}
	if (argc != 7 || strcmp(argv[3], "warm") != 0)
		die("usage", "HOST PORT warm FILE QUERIES ROUNDS | "
		    "HOST PORT cold DOMAIN");
	if ((f = fopen(argv[4], "r")) == NULL)
		die("open", argv[4]);
	while (nd < MAXDOM && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] != '\0' && (dom[nd] = strdup(line)) != NULL)
			nd++;
	}
	fclose(f);
	nq = (unsigned)strtoul(argv[5], NULL, 10);
	nr = (unsigned)strtoul(argv[6], NULL, 10);
	if (nd == 0 || nq == 0 || nr == 0)
		die("usage", "no domains, queries or rounds");
	if ((rounds = calloc(nr, sizeof(*rounds))) == NULL)
		die("calloc", "failed");
	fd = connect_to(argv[1], argv[2]);
	/* Warm the daemon's cache: all domains in flight at once. */
	for (i = 0; i < nd; i++)
		send_query(fd, dom[i]);
	for (i = 0; i < nd; i++)
		read_answer(fd, dom[i]);
	for (r = 0; r < nr; r++) {
		t0 = now_ns();
		for (q = 0; q < nq; q++) {
			seed = seed * 1103515245 + 12345;
			i = (seed >> 8) % nd;
			send_query(fd, dom[i]);
			read_answer(fd, dom[i]);
		}
		rounds[r] = (now_ns() - t0) / nq;
	}
	printf("warm_rounds_ns");
	for (r = 0; r < nr; r++)
		printf(" %lld", (long long)rounds[r]);
	qsort(rounds, nr, sizeof(*rounds), cmp_i64);
	printf("\nwarm_ns %lld\n", (long long)rounds[nr / 2]);
	close(fd);
	for (i = 0; i < nd; i++)
		free(dom[i]);
	free(rounds);
	return 0;
}
