/* SPDX-License-Identifier: ISC */
/*
 * dns_modes.c - libunbound's threaded asynchronous mode (what common/dns.c
 * uses) against its event mode (ub_ctx_create_event: the queries run in
 * the caller's libevent loop, no worker thread, no pipe), with the same
 * options, in a fresh process (issue 18 goals 2 and 3: what the lever
 * named in decisions.md D-REFRESH-1 would save).
 *
 *	dns_modes RESOLVER thread|event DOMAIN...
 *
 * The context is configured as dns.c does with DNSSEC off (forwarding to
 * RESOLVER, iterator only, the "test" zone transparent). Then the TXT of
 * _mta-sts.DOMAIN1 (the first query: in thread mode it starts the
 * worker), the TXT of _mta-sts.DOMAIN2 (a later one), then the bulk: for
 * every DOMAIN the TXT of _mta-sts.DOMAIN and the AAAA and A of
 * mta-sts.DOMAIN, 24 in flight (a refresh's 8 domains' worth). Prints
 * "key value" lines: ctx_ms, first_ms, later_ms, bulk_queries,
 * bulk_wall_s, bulk_cpu_s (user + sys of the process, every thread).
 * Fails unless every query is answered (any rcode). Not the product's
 * code: the event mode hands back the raw answer, which this does not
 * parse. Built by bench/CMakeLists.txt when libevent's headers exist.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#include <event2/event.h>
#include <unbound.h>
#include <unbound-event.h>

#include "bench_util.h"

#define DNS_CLASS_IN 1
#define INFLIGHT 24
#define WAIT_MS 5000

struct run {
	struct ub_ctx		*ub;
	struct event_base	*base;	/* event mode */
	char			**domains;
	unsigned		 ndomains, next, done, sent, failed;
};

static void
die(const char *what)
{
	fprintf(stderr, "dns_modes: %s\n", what);
	exit(1);
}

static void
thread_cb(void *arg, int err, struct ub_result *res)
{
	struct run *r = arg;

	if (err != 0 || res == NULL)
		r->failed++;
	r->done++;
	ub_resolve_free(res);
}

static void
event_cb(void *arg, int rcode, void *pkt, int len, int sec, char *bogus,
    int ratelimited)
{
	struct run *r = arg;

	(void)rcode;
	(void)sec;
	(void)bogus;
	(void)ratelimited;
	if (pkt == NULL || len < 12)
		r->failed++;
	r->done++;
}

static void
submit(struct run *r, int event, const char *name, int type)
{
	int id;

	if ((event ? ub_resolve_event(r->ub, name, type, DNS_CLASS_IN, r,
	    event_cb, &id) : ub_resolve_async(r->ub, name, type, DNS_CLASS_IN,
	    r, thread_cb, &id)) != 0)
		die("submit");
	r->sent++;
}

static void
step(struct run *r, int event)
{
	struct pollfd p;

	if (event) {
		if (event_base_loop(r->base, EVLOOP_ONCE) == -1)
			die("event_base_loop");
		return;
	}
	p.fd = ub_fd(r->ub);
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, 100) > 0 && ub_process(r->ub) != 0)
		die("ub_process");
}

/* One TXT query, waited for. */
static double
one(struct run *r, int event, const char *domain)
{
	char name[300];
	double t0 = bench_now_ms(), until = t0 + WAIT_MS;
	unsigned want = r->done + 1;

	snprintf(name, sizeof(name), "_mta-sts.%s", domain);
	submit(r, event, name, 16);
	while (r->done < want && bench_now_ms() < until)
		step(r, event);
	if (r->done < want || r->failed)
		die(name);
	return bench_now_ms() - t0;
}

int
main(int argc, char **argv)
{
	struct run r;
	char name[300];
	double t0, c0, w0, first, later;
	unsigned i, k, total;
	int event;

	if (argc < 5 || (strcmp(argv[2], "thread") != 0 &&
	    strcmp(argv[2], "event") != 0))
		die("usage: RESOLVER thread|event DOMAIN1 DOMAIN2...");
	event = argv[2][0] == 'e';
	memset(&r, 0, sizeof(r));
	r.domains = argv + 3;
	r.ndomains = (unsigned)(argc - 3);
	t0 = bench_now_ms();
	if (event) {
		if ((r.base = event_base_new()) == NULL ||
		    (r.ub = ub_ctx_create_event(r.base)) == NULL)
			die("ub_ctx_create_event");
	} else if ((r.ub = ub_ctx_create()) == NULL ||
	    ub_ctx_async(r.ub, 1) != 0)
		die("ub_ctx_create");
	if (bench_ub_configure(r.ub, argv[1]) != 0)
		die("configure");
	printf("ctx_ms %.3f\n", bench_now_ms() - t0);
	first = one(&r, event, r.domains[0]);
	later = one(&r, event, r.domains[1]);
	printf("first_ms %.3f\nlater_ms %.3f\n", first, later);
	total = r.ndomains * 3;
	r.done = r.sent = 0;
	c0 = bench_cpu_s();
	w0 = bench_now_ms();
	for (i = 0, k = 0; r.done < total;) {
		while (r.sent - r.done < INFLIGHT && r.sent < total) {
			const char *d = r.domains[i];

			switch (k++) {
			case 0:
				snprintf(name, sizeof(name), "_mta-sts.%s", d);
				submit(&r, event, name, 16);
				break;
			case 1:
				snprintf(name, sizeof(name), "mta-sts.%s", d);
				submit(&r, event, name, 28);
				break;
			default:
				snprintf(name, sizeof(name), "mta-sts.%s", d);
				submit(&r, event, name, 1);
				k = 0;
				i++;
			}
		}
		if (bench_now_ms() - w0 > 60000)
			die("bulk: timed out");
		step(&r, event);
	}
	if (r.failed)
		die("bulk: a query failed");
	printf("bulk_queries %u\nbulk_wall_s %.6f\nbulk_cpu_s %.6f\n", total,
	    (bench_now_ms() - w0) / 1e3, bench_cpu_s() - c0);
	ub_ctx_delete(r.ub);
	if (r.base != NULL)
		event_base_free(r.base);
	return 0;
}
