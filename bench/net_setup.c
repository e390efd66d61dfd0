/* SPDX-License-Identifier: ISC */
/*
 * net_setup.c - the one-time set-up of the network libraries in a fresh
 * process, step by step, as the network half makes it (issue 18 goal 2:
 * what a process's first cold decision pays above a later one).
 *
 *	net_setup RESOLVER CA_DIR NAME1 NAME2
 *
 * The same calls, with the same options, as common/dns.c (a libunbound
 * context in thread mode, forwarding, iterator only: DNSSEC off) and
 * common/net.c (OpenSSL's initialisation, a client SSL_CTX, the CA
 * store by its hashed directory), timed one by one; NAME1 and NAME2 are
 * TXT queries through it, the first of which starts libunbound's worker.
 * The libraries are mapped at start (linked), so their loading is not in
 * these numbers. Prints one line of "key ms" pairs:
 *   ub_ctx        ub_ctx_create() and its configuration
 *   first_query   the first TXT query (worker thread, its set-up)
 *   later_query   the second one
 *   ssl_init      OPENSSL_init_ssl() (openssl.cnf, providers, strings)
 *   first_ctx     the first SSL_CTX_new()
 *   ca_dir        SSL_CTX_load_verify_locations(NULL, CA_DIR)
 *   later_ctx     a second SSL_CTX_new()
 * Fails unless both queries answer.
 * Built by bench/CMakeLists.txt (target `benchmarks`, not part of `all`).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/ssl.h>
#include <unbound.h>

#include "bench_util.h"

#define DNS_TYPE_TXT 16
#define DNS_CLASS_IN 1
#define QUERY_WAIT_MS 3000

static void
die(const char *what)
{
	fprintf(stderr, "net_setup: %s\n", what);
	exit(1);
}

static void
answered(void *arg, int err, struct ub_result *res)
{
	*(int *)arg = err == 0 && res != NULL ? 1 : -1;
	ub_resolve_free(res);
}

static void
query(struct ub_ctx *ub, const char *name)
{
	struct pollfd p;
	double until = bench_now_ms() + QUERY_WAIT_MS;
	int done = 0, id;

	if (ub_resolve_async(ub, name, DNS_TYPE_TXT, DNS_CLASS_IN, &done,
	    answered, &id) != 0)
		die("ub_resolve_async");
	while (done == 0 && bench_now_ms() < until) {
		p.fd = ub_fd(ub);
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 100) > 0 && ub_process(ub) != 0)
			die("ub_process");
	}
	if (done != 1)
		die(name);
}

int
main(int argc, char *argv[])
{
	struct ub_ctx *ub;
	SSL_CTX *first, *later;
	double t[8];

	if (argc != 5) {
		fprintf(stderr, "usage: net_setup RESOLVER CA_DIR NAME1 "
		    "NAME2\n");
		return 2;
	}
	t[0] = bench_now_ms();
	if ((ub = ub_ctx_create()) == NULL || ub_ctx_async(ub, 1) != 0 ||
	    bench_ub_configure(ub, argv[1]) != 0)
		die("libunbound set-up");
	t[1] = bench_now_ms();
	query(ub, argv[3]);
	t[2] = bench_now_ms();
	query(ub, argv[4]);
	t[3] = bench_now_ms();
	if (OPENSSL_init_ssl(0, NULL) != 1)
		die("OPENSSL_init_ssl");
	t[4] = bench_now_ms();
	if ((first = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	t[5] = bench_now_ms();
	if (SSL_CTX_load_verify_locations(first, NULL, argv[2]) != 1)
		die("SSL_CTX_load_verify_locations");
	t[6] = bench_now_ms();
	if ((later = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	t[7] = bench_now_ms();
	printf("ub_ctx %.3f first_query %.3f later_query %.3f ssl_init %.3f "
	    "first_ctx %.3f ca_dir %.3f later_ctx %.3f\n", t[1] - t[0],
	    t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4], t[6] - t[5],
	    t[7] - t[6]);
	SSL_CTX_free(first);
	SSL_CTX_free(later);
	ub_ctx_delete(ub);
	return 0;
}
