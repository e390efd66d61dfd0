/* SPDX-License-Identifier: ISC */
/*
 * bench_util.h - what the bench programs that time libraries directly
 * share: the clock, the process's CPU, and a libunbound context set up
 * the way common/dns.c sets up its own with DNSSEC off. Header only;
 * include after <unbound.h> for bench_ub_configure().
 */
#ifndef MTASTS_BENCH_UTIL_H
#define MTASTS_BENCH_UTIL_H

#include <sys/resource.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
static inline double
bench_now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* User + system CPU of the process so far (every thread), in seconds. */
static inline double
bench_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

#ifdef UNBOUND_VERSION_MAJOR
/*
 * dns.c's options with DNSSEC off: silent, loopback forwarders allowed,
 * the world's "test." zone resolved normally, the iterator only,
 * forwarding to resolver. 0 on success.
 */
static inline int
bench_ub_configure(struct ub_ctx *ub, const char *resolver)
{
	return ub_ctx_debugout(ub, NULL) != 0 ||
	    ub_ctx_set_option(ub, "do-not-query-localhost:", "no") != 0 ||
	    ub_ctx_set_option(ub, "local-zone:", "test. transparent") != 0 ||
	    ub_ctx_set_option(ub, "module-config:", "iterator") != 0 ||
	    ub_ctx_set_fwd(ub, resolver) != 0;
}
#endif

#endif
