/* SPDX-License-Identifier: ISC */
/*
 * test_dns.c - dns.c against tests/world/dnsd.py on 127.0.0.1: record
 * decoding, negative answers, failures and deadlines, special-use zones,
 * lazy creation and fork handling.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/ctx.h"
#include "internal/dns.h"
#include "internal/util.h"
#include "t.h"

#define T_TXT 16
#define T_A 1

static pid_t dnsd_pid = -1;
static int dnsd_port;
static char tmpdir[] = "/tmp/test_dns.XXXXXX";
static char cache_dir[300];
static char zone_path[256], log_path[256];

static const char zone_json[] =
    "{\"ttl\": 60, \"records\": [\n"
    " {\"name\": \"_mta-sts.multi.test\", \"type\": \"TXT\","
    "  \"data\": [\"v=STSv1; \", \"id=20240101\"]},\n"
    " {\"name\": \"_mta-sts.two.test\", \"type\": \"TXT\","
    "  \"data\": [\"v=STSv1; id=1\"]},\n"
    " {\"name\": \"_mta-sts.two.test\", \"type\": \"TXT\","
    "  \"data\": [\"other\"]},\n"
    " {\"name\": \"_mta-sts.alias.test\", \"type\": \"CNAME\","
    "  \"data\": \"_mta-sts.hop.test\"},\n"
    " {\"name\": \"_mta-sts.hop.test\", \"type\": \"CNAME\","
    "  \"data\": \"_mta-sts.provider.test\"},\n"
    " {\"name\": \"_mta-sts.provider.test\", \"type\": \"TXT\","
    "  \"data\": [\"v=STSv1; id=prov\"]},\n"
    " {\"name\": \"loop1.test\", "
    "  \"type\": \"CNAME\", \"data\": \"loop2.test\"},\n"
    " {\"name\": \"loop2.test\", "
    "  \"type\": \"CNAME\", \"data\": \"loop1.test\"},\n"
    " {\"name\": \"_mta-sts.nul.test\", \"type\": \"TXT\","
    "  \"data_hex\": [\"763d53545376313b\", \"00\", \"69643d31\"]},\n"
    " {\"name\": \"mta-sts.a.test\", "
    "  \"type\": \"A\", \"data\": \"127.0.1.5\"},\n"
    " {\"name\": \"mta-sts.a.test\", "
    "  \"type\": \"A\", \"data\": \"127.0.1.6\"},\n"
    " {\"name\": \"mta-sts.a.test\", "
    "  \"type\": \"AAAA\", \"data\": \"fd00::5\"},\n"
    " {\"name\": \"v4only.test\", \"type\": \"A\", \"data\": \"127.0.1.7\"},\n"
    " {\"name\": \"x.ent.test\", \"type\": \"A\", \"data\": \"127.0.1.8\"},\n"
    " {\"name\": \"a.test\", "
    "  \"type\": \"MX\", \"data\": [20, \"mx2.a.test\"]},\n"
    " {\"name\": \"a.test\", "
    "  \"type\": \"MX\", \"data\": [10, \"MX1.a.test\"]},\n"
    " {\"name\": \"a.test\", "
    "  \"type\": \"MX\", \"data\": [30, \"mx3.a.test\"]},\n"
    " {\"name\": \"a.test\", "
    "  \"type\": \"MX\", \"data\": [5, \"mx0.a.test\"]},\n"
    " {\"name\": \"nullmx.test\", \"type\": \"MX\", \"data\": [0, \".\"]},\n"
    " {\"name\": \"_mta-sts.blocked.test\", \"type\": \"TXT\","
    "  \"data\": [\"v=STSv1; id=blocked\"]},\n"
    " {\"name\": \"_mta-sts.forked.test\", \"type\": \"TXT\","
    "  \"data\": [\"v=STSv1; id=child\"]}\n"
    "%s"
    "],\n"
    " \"servfail\": [\"_mta-sts.broken.test\", \"broken.test\"],\n"
    " \"refused\": [\"_mta-sts.refused.test\"],\n"
    " \"drop\": [\"_mta-sts.slow.test\", \"slow.test\"]}\n";

static void
kill_dnsd(void)
{
	char cmd[300];

	if (dnsd_pid > 0) {
		kill(dnsd_pid, SIGTERM);
		waitpid(dnsd_pid, NULL, 0);
		dnsd_pid = -1;
	}
	if (strchr(tmpdir, 'X') == NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
}

static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
write_zone(void)
{
	/* A CNAME chain longer than any resolver follows. */
	char extra[4096], *p = extra;
	FILE *fp;
	int i;

	for (i = 0; i < 30; i++)
		p += snprintf(p, sizeof(extra) - (size_t)(p - extra),
		    ",{\"name\": \"c%d.long.test\", \"type\": \"CNAME\","
		    " \"data\": \"c%d.long.test\"}\n", i, i + 1);
	snprintf(p, sizeof(extra) - (size_t)(p - extra),
	    ",{\"name\": \"c30.long.test\", \"type\": \"A\","
	    " \"data\": \"127.0.1.9\"}\n");
	if ((fp = fopen(zone_path, "w")) == NULL)
		return -1;
	fprintf(fp, zone_json, extra);
	return fclose(fp);
}

/* Start dnsd.py and wait for its "ready" line. */
static int
start_dnsd(void)
{
	char port[16], buf[64];
	int pfd[2], attempt;

	for (attempt = 0; attempt < 5; attempt++) {
		struct pollfd p;
		ssize_t r;
		size_t got = 0;
		int64_t end;

		if ((dnsd_port = free_port()) <= 0 || pipe(pfd) == -1)
			return -1;
		snprintf(port, sizeof(port), "%d", dnsd_port);
		if ((dnsd_pid = fork()) == -1)
			return -1;
		if (dnsd_pid == 0) {
			/* Never outlive the test, even if it crashes. */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			dup2(pfd[1], 1);
			close(pfd[0]);
			close(pfd[1]);
			execl("/usr/bin/python3", "python3",
			    MTASTS_SOURCE_DIR "/tests/world/dnsd.py",
			    "--listen", "127.0.0.1", "--port", port,
			    "--zone", zone_path, "--log", log_path,
			    (char *)NULL);
			_exit(127);
		}
		close(pfd[1]);
		end = mtasts_mono_ms() + 10000;
		while (got < sizeof(buf) - 1 && mtasts_mono_ms() < end) {
			p.fd = pfd[0];
			p.events = POLLIN;
			if (poll(&p, 1, 200) <= 0)
				continue;
			if ((r = read(pfd[0], buf + got,
			    sizeof(buf) - 1 - got)) <= 0)
				break;
			got += (size_t)r;
			buf[got] = '\0';
			if (strstr(buf, "ready\n") != NULL) {
				close(pfd[0]);
				return 0;
			}
		}
		close(pfd[0]);
		kill(dnsd_pid, SIGTERM);
		waitpid(dnsd_pid, NULL, 0);
		dnsd_pid = -1;
	}
	return -1;
}

/* 1 if the dnsd log has a line starting with name + " ". */
static int
log_has(const char *name)
{
	char line[512];
	FILE *fp;
	size_t n = strlen(name);
	int found = 0;

	if ((fp = fopen(log_path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			found = 1;
	fclose(fp);
	return found;
}

static struct mtasts_ctx *
mkctx(int special, const char *timeout)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_ctx *ctx;
	char r[64];

	if ((ctx = mtasts_ctx_new()) == NULL)
		return NULL;
	snprintf(r, sizeof(r), "127.0.0.1@%d", dnsd_port);
	CHECK(mtasts_ctx_set(ctx, "resolver", r, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "dnssec", "off", &e) == MTASTS_OK);
	/* Never the host's /var/cache/mtasts (notes, D-DNSSEC-5). */
	CHECK(mtasts_ctx_set(ctx, "cache_dir", cache_dir, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "dns_timeout", timeout, &e) == MTASTS_OK);
	if (special)
		CHECK(mtasts_ctx_set(ctx, "resolve_special_zone", "test", &e) ==
		    MTASTS_OK);
	CHECKF(e.code == MTASTS_OK, "%s", e.text);
	return ctx;
}

/* Query and return the status, or -1 when the call itself failed. */
static int
qstatus(struct mtasts_ctx *ctx, const char *name, int type, int ms,
    struct mtasts_dns_answer **ap)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_dns_answer *a = NULL;
	int rc, st;

	rc = mtasts_dns_query(ctx, name, type, ms, &a, &e);
	CHECKF(rc == MTASTS_OK && a != NULL, "%s: rc %d %s", name, rc, e.text);
	if (a == NULL)
		return -1;
	st = a->status;
	if (ap != NULL)
		*ap = a;
	else
		mtasts_dns_answer_free(a);
	return st;
}

static void
test_txt(struct mtasts_ctx *ctx)
{
	struct mtasts_dns_answer *a = NULL;
	char **recs;
	size_t *lens, n, i;
	int one = 0, other = 0;

	CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 0, &a) ==
	    MTASTS_DNS_ANSWER);
	if (a != NULL) {
		CHECK(a->nrr == 1);
		CHECK(a->secure == 0);
		CHECK_STR(a->canonname, "");
		CHECK(mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK);
		CHECK(n == 1);
		if (n == 1) {
			CHECK_STR(recs[0], "v=STSv1; id=20240101");
			CHECK(lens[0] == 20);
		}
		mtasts_dns_txt_free(recs, lens, n);
		mtasts_dns_answer_free(a);
		a = NULL;
	}

	CHECK(qstatus(ctx, "_mta-sts.two.test", T_TXT, 0, &a) ==
	    MTASTS_DNS_ANSWER);
	if (a != NULL) {
		CHECK(mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK);
		CHECK(n == 2);
		for (i = 0; i < n; i++) {
			one += strcmp(recs[i], "v=STSv1; id=1") == 0;
			other += strcmp(recs[i], "other") == 0;
		}
		CHECK(one == 1 && other == 1);
		mtasts_dns_txt_free(recs, lens, n);
		mtasts_dns_answer_free(a);
		a = NULL;
	}

	/* A NUL inside the record is kept, with the true length. */
	CHECK(qstatus(ctx, "_mta-sts.nul.test", T_TXT, 0, &a) ==
	    MTASTS_DNS_ANSWER);
	if (a != NULL) {
		CHECK(mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK);
		CHECK(n == 1);
		if (n == 1) {
			CHECK(lens[0] == 13);
			CHECK(strlen(recs[0]) == 8);
			CHECK(memcmp(recs[0], "v=STSv1;\0id=1", 13) == 0);
		}
		mtasts_dns_txt_free(recs, lens, n);
		mtasts_dns_answer_free(a);
		a = NULL;
	}

	/* CNAMEs are followed; canonname is the final name. */
	CHECK(qstatus(ctx, "_mta-sts.alias.test", T_TXT, 0, &a) ==
	    MTASTS_DNS_ANSWER);
	if (a != NULL) {
		CHECK_STR(a->canonname, "_mta-sts.provider.test");
		CHECK(mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK);
		CHECK(n == 1);
		if (n == 1)
			CHECK_STR(recs[0], "v=STSv1; id=prov");
		mtasts_dns_txt_free(recs, lens, n);
		mtasts_dns_answer_free(a);
	}
}

/* A 3000-byte TXT: larger than libunbound's EDNS size, so TC + TCP. */
static void
test_big_txt(struct mtasts_ctx *ctx)
{
	struct mtasts_dns_answer *a = NULL;
	char **recs;
	size_t *lens, n;

	CHECK(qstatus(ctx, "_mta-sts.big.test", T_TXT, 0, &a) ==
	    MTASTS_DNS_ANSWER);
	if (a == NULL)
		return;
	CHECK(mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK);
	CHECK(n == 1 && lens[0] == 3000 && recs[0][2999] == 'y');
	mtasts_dns_txt_free(recs, lens, n);
	mtasts_dns_answer_free(a);
}

static void
test_negative(struct mtasts_ctx *ctx)
{
	int64_t t0;
	int st;

	CHECK(qstatus(ctx, "_mta-sts.none.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_NXDOMAIN);
	CHECK(qstatus(ctx, "mta-sts.a.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_NODATA);
	/* Empty non-terminal. */
	CHECK(qstatus(ctx, "ent.test", T_A, 0, NULL) == MTASTS_DNS_NODATA);
	CHECK(qstatus(ctx, "_mta-sts.broken.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_TEMPFAIL);
	CHECK(qstatus(ctx, "_mta-sts.refused.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_TEMPFAIL);
	CHECK(log_has("_mta-sts.broken.test"));
	CHECK(log_has("_mta-sts.refused.test"));

	/* Loops and long chains end, not as an answer, within the time. */
	t0 = mtasts_mono_ms();
	st = qstatus(ctx, "loop1.test", T_A, 3000, NULL);
	CHECKF(st == MTASTS_DNS_TEMPFAIL || st == MTASTS_DNS_NXDOMAIN,
	    "loop status %d", st);
	CHECK(mtasts_mono_ms() - t0 < 3300);
	t0 = mtasts_mono_ms();
	st = qstatus(ctx, "c0.long.test", T_A, 3000, NULL);
	CHECKF(st == MTASTS_DNS_TEMPFAIL || st == MTASTS_DNS_NXDOMAIN,
	    "long chain status %d", st);
	CHECK(mtasts_mono_ms() - t0 < 3300);
}

/* Unanswered queries end in TEMPFAIL at the deadline. */
static void
test_deadline(struct mtasts_ctx *ctx, const char *name, int arg, int ms)
{
	struct mtasts_dns_answer *a = NULL;
	int64_t t0, dt;

	t0 = mtasts_mono_ms();
	CHECK(qstatus(ctx, name, T_TXT, arg, &a) == MTASTS_DNS_TEMPFAIL);
	dt = mtasts_mono_ms() - t0;
	CHECKF(dt >= ms - 5 && dt < ms + 250, "took %lld ms for %d",
	    (long long)dt, ms);
	if (a != NULL) {
		CHECKF(strstr(a->why, "timeout") != NULL, "%s", a->why);
		mtasts_dns_answer_free(a);
	}
}

static int
addr_is(const struct sockaddr_storage *ss, const char *ip, int port)
{
	char buf[64];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 =
		    (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		return strcmp(buf, ip) == 0 && ntohs(s6->sin6_port) == port;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		return strcmp(buf, ip) == 0 && ntohs(s4->sin_port) == port;
	}
	return 0;
}

static void
test_addrs(struct mtasts_ctx *ctx)
{
	struct sockaddr_storage ss[MTASTS_ADDRS_MAX];
	struct mtasts_error e = { 0, "" };
	size_t n;
	int rc;

	rc = mtasts_dns_addrs(ctx, "mta-sts.a.test", 443, 0, ss,
	    MTASTS_ADDRS_MAX, &n, &e);
	CHECKF(rc == MTASTS_OK && n == 3, "rc %d n %zu %s", rc, n, e.text);
	if (rc == MTASTS_OK && n == 3) {
		CHECK(addr_is(&ss[0], "fd00::5", 443));
		CHECK((addr_is(&ss[1], "127.0.1.5", 443) &&
		    addr_is(&ss[2], "127.0.1.6", 443)) ||
		    (addr_is(&ss[1], "127.0.1.6", 443) &&
		    addr_is(&ss[2], "127.0.1.5", 443)));
	}
	/* max is respected. */
	rc = mtasts_dns_addrs(ctx, "mta-sts.a.test", 443, 0, ss, 2, &n, &e);
	CHECK(rc == MTASTS_OK && n == 2 && ss[0].ss_family == AF_INET6);
	rc = mtasts_dns_addrs(ctx, "v4only.test", 8443, 0, ss,
	    MTASTS_ADDRS_MAX, &n, &e);
	CHECK(rc == MTASTS_OK && n == 1 && addr_is(&ss[0], "127.0.1.7", 8443));
	rc = mtasts_dns_addrs(ctx, "nohost.test", 443, 0, ss,
	    MTASTS_ADDRS_MAX, &n, &e);
	CHECK(rc == MTASTS_NOTFOUND && n == 0);
	memset(&e, 0, sizeof(e));
	rc = mtasts_dns_addrs(ctx, "broken.test", 443, 0, ss,
	    MTASTS_ADDRS_MAX, &n, &e);
	CHECKF(rc == MTASTS_TEMPFAIL && n == 0, "rc %d", rc);
	CHECK(e.code == MTASTS_TEMPFAIL && e.text[0] != '\0');
}

static void
test_mx(struct mtasts_ctx *ctx)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_dns_mx *mx = NULL;
	size_t n;
	int rc;

	rc = mtasts_dns_mx(ctx, "a.test", 0, &mx, &n, &e);
	CHECKF(rc == MTASTS_OK && n == 4, "rc %d n %zu %s", rc, n, e.text);
	if (rc == MTASTS_OK && n == 4) {
		CHECK(mx[0].pref == 5);
		CHECK_STR(mx[0].name, "mx0.a.test");
		CHECK(mx[1].pref == 10);
		CHECK_STR(mx[1].name, "mx1.a.test");
		CHECK(mx[2].pref == 20);
		CHECK_STR(mx[2].name, "mx2.a.test");
		CHECK(mx[3].pref == 30);
		CHECK_STR(mx[3].name, "mx3.a.test");
	}
	free(mx);
	rc = mtasts_dns_mx(ctx, "nullmx.test", 0, &mx, &n, &e);
	CHECK(rc == MTASTS_OK && n == 0 && mx == NULL);
	rc = mtasts_dns_mx(ctx, "v4only.test", 0, &mx, &n, &e);
	CHECK(rc == MTASTS_NOTFOUND && n == 0 && mx == NULL);
	rc = mtasts_dns_mx(ctx, "nomx.test", 0, &mx, &n, &e);
	CHECK(rc == MTASTS_NOTFOUND && n == 0 && mx == NULL);
	rc = mtasts_dns_mx(ctx, "broken.test", 0, &mx, &n, &e);
	CHECK(rc == MTASTS_TEMPFAIL && n == 0 && mx == NULL);
}

/* TXT rdata checks on hand-made answers (libunbound never hands these). */
static void
test_txt_decode(void)
{
	struct mtasts_dns_answer a;
	unsigned char bad1[] = "\x05" "abc", empty1[] = "\x00", two[] =
	    "\x02" "ab" "\x00" "\x01" "c";
	unsigned char big[MTASTS_TXT_MAX + 32];
	char **recs;
	size_t *lens, n, i;

	memset(&a, 0, sizeof(a));
	a.status = MTASTS_DNS_ANSWER;
	a.nrr = 1;
	a.rdata[0] = bad1;
	a.rdlen[0] = 4;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_INVALID);
	CHECK(recs == NULL && lens == NULL && n == 0);
	a.rdlen[0] = 0;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_INVALID);
	a.rdata[0] = empty1;
	a.rdlen[0] = 1;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_OK);
	CHECK(n == 1 && lens[0] == 0 && recs[0][0] == '\0');
	mtasts_dns_txt_free(recs, lens, n);
	/* A good RR followed by a malformed one: all rejected. */
	a.nrr = 2;
	a.rdata[0] = two;
	a.rdlen[0] = 6;
	a.rdata[1] = bad1;
	a.rdlen[1] = 4;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_INVALID);
	a.nrr = 1;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_OK);
	CHECK(n == 1 && lens[0] == 3 && strcmp(recs[0], "abc") == 0);
	mtasts_dns_txt_free(recs, lens, n);
	/* Record cap: MTASTS_TXT_MAX bytes is fine, one more is not. */
	for (i = 0; i + 256 <= sizeof(big); i += 256) {
		big[i] = 255;
		memset(big + i + 1, 'x', 255);
	}
	a.rdata[0] = big;
	a.rdlen[0] = (MTASTS_TXT_MAX / 255) * 256;	/* 16 * 255 = 4080 */
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_OK);
	mtasts_dns_txt_free(recs, lens, n);
	big[a.rdlen[0]] = MTASTS_TXT_MAX - 4080;
	a.rdlen[0] += 1 + (size_t)(MTASTS_TXT_MAX - 4080);
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_OK);
	CHECK(n == 1 && lens[0] == MTASTS_TXT_MAX);
	mtasts_dns_txt_free(recs, lens, n);
	big[(MTASTS_TXT_MAX / 255) * 256] = MTASTS_TXT_MAX - 4080 + 1;
	a.rdlen[0] += 1;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_INVALID);
	/* An RRset cut at MTASTS_DNS_RR_MAX is refused. */
	a.rdata[0] = two;
	a.rdlen[0] = 6;
	a.truncated = 1;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_INVALID);
	/* Not an answer: nothing, OK. */
	a.truncated = 0;
	a.status = MTASTS_DNS_NODATA;
	CHECK(mtasts_dns_txt_decode(&a, &recs, &lens, &n) == MTASTS_OK &&
	    n == 0 && recs == NULL);
	mtasts_dns_answer_free(NULL);
	mtasts_dns_txt_free(NULL, NULL, 0);
}

/* Without resolve_special_zone, test. stays blocked inside libunbound. */
static void
test_special_blocked(void)
{
	struct mtasts_ctx *ctx = mkctx(0, "2");

	if (ctx == NULL)
		return;
	CHECK(qstatus(ctx, "_mta-sts.blocked.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_NXDOMAIN);
	CHECK(qstatus(ctx, "mta-sts.a.test", T_A, 0, NULL) ==
	    MTASTS_DNS_NXDOMAIN);
	CHECK(!log_has("_mta-sts.blocked.test"));
	mtasts_ctx_free(ctx);
}

static void
test_setup_errors(void)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_dns_answer *a = (void *)&e;
	struct mtasts_ctx *ctx = mkctx(1, "2");
	int rc;

	if (ctx == NULL)
		return;
	CHECK(mtasts_ctx_set(ctx, "dnssec", "on", &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "trust_anchor_file", "/nonexistent/root.key",
	    &e) == MTASTS_OK);
	rc = mtasts_dns_query(ctx, "_mta-sts.multi.test", T_TXT, 0, &a, &e);
	CHECK(rc == MTASTS_ERROR && a == NULL);
	CHECKF(strstr(e.text, "trust anchor") != NULL, "%s", e.text);
	CHECK(ctx->dns == NULL);
	/* Nothing of this process's in it: a fork child may keep it. */
	CHECK(mtasts_ctx_fork_safe(ctx));
	CHECK(!mtasts_ctx_fork_safe(NULL));
	mtasts_ctx_free(ctx);

	/* auto without a readable anchor: validation off, queries work. */
	if ((ctx = mkctx(1, "2")) == NULL)
		return;
	memset(&e, 0, sizeof(e));
	CHECK(mtasts_ctx_set(ctx, "dnssec", "auto", &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "trust_anchor_file", "/nonexistent/root.key",
	    &e) == MTASTS_OK);
	CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_ANSWER);
	mtasts_ctx_free(ctx);
}

/* A forked child queries through the inherited context. */
static void
test_fork(struct mtasts_ctx *ctx)
{
	int64_t end;
	pid_t pid, w = 0;
	int status = -1;

	CHECK(ctx->dns != NULL);	/* the parent's resolver exists */
	/* D-EXIM-4: a context with a resolver is not the child's. */
	CHECK(!mtasts_ctx_fork_safe(ctx));
	if ((pid = fork()) == -1) {
		CHECK(0);
		return;
	}
	if (pid == 0) {
		struct mtasts_dns_answer *a = NULL;
		struct mtasts_error e = { 0, "" };
		char **recs = NULL;
		size_t *lens = NULL, n = 0;
		int ok;

		ok = mtasts_dns_query(ctx, "_mta-sts.forked.test", T_TXT, 2000,
		    &a, &e) == MTASTS_OK && a->status == MTASTS_DNS_ANSWER &&
		    mtasts_dns_txt_decode(a, &recs, &lens, &n) == MTASTS_OK &&
		    n == 1 && strcmp(recs[0], "v=STSv1; id=child") == 0;
		mtasts_dns_txt_free(recs, lens, n);
		mtasts_dns_answer_free(a);
		/* Frees the child's resolver, leaves the parent's alone. */
		mtasts_ctx_free(ctx);
		_exit(ok ? 0 : 1);
	}
	end = mtasts_mono_ms() + 10000;
	while (mtasts_mono_ms() < end &&
	    (w = waitpid(pid, &status, WNOHANG)) == 0)
		usleep(10000);
	if (w == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECKF(w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", status);
	CHECK(log_has("_mta-sts.forked.test"));
	/* The parent's resolver still works. */
	CHECK(qstatus(ctx, "_mta-sts.two.test", T_TXT, 0, NULL) ==
	    MTASTS_DNS_ANSWER);
}

/*
 * libunbound's worker thread blocks every signal: SIGALRM, SIGCHLD,
 * SIGTERM, SIGPIPE must be the MTA's business, never the worker's.
 */
static void
test_worker_sigmask(void)
{
	const unsigned long long want = 1ULL << (SIGALRM - 1) |
	    1ULL << (SIGCHLD - 1) | 1ULL << (SIGTERM - 1) |
	    1ULL << (SIGPIPE - 1) | 1ULL << (SIGHUP - 1);
	char path[300], line[256];
	DIR *dir;
	struct dirent *de;
	int others = 0, blocked = 0;

	if ((dir = opendir("/proc/self/task")) == NULL) {
		CHECK(0);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		FILE *fp;

		if (de->d_name[0] == '.' ||
		    strtol(de->d_name, NULL, 10) == (long)getpid())
			continue;
		others++;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
		    de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0 &&
			    (strtoull(line + 7, NULL, 16) & want) == want)
				blocked++;
		fclose(fp);
	}
	closedir(dir);
	CHECKF(others >= 1 && blocked == others, "%d threads, %d blocked",
	    others, blocked);
}

/* Lines of the dnsd log that are exactly "<name> <type>". */
static int
log_count(const char *name, const char *type)
{
	char line[512], want[300];
	FILE *fp;
	int n = 0;

	snprintf(want, sizeof(want), "%s %s\n", name, type);
	if ((fp = fopen(log_path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strcmp(line, want) == 0)
			n++;
	fclose(fp);
	return n;
}

static struct mtasts_ctx *
dnssec_ctx(const char *mode, const char *anchor)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_ctx *ctx;

	if ((ctx = mkctx(1, "3")) == NULL)
		return NULL;
	CHECK(mtasts_ctx_set(ctx, "dnssec", mode, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "trust_anchor_file", anchor, &e) ==
	    MTASTS_OK);
	return ctx;
}

/*
 * decisions.md D-DNSSEC-1/2: a forwarder that serves no signatures
 * cannot validate the root anchor. auto: validation off for the process,
 * answers as without DNSSEC; on: the resolver refuses (the caller
 * defers), and the chain of trust is checked once, not per query.
 */
static void
test_dnssec_states(void)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_dns_answer *a = NULL;
	struct mtasts_ctx *ctx;
	char why[400], path[300];
	int st, n0;
	FILE *fp;

	if (access("/usr/share/dns/root.key", R_OK) != 0) {
		/* scripts/bootstrap installs dns-root-data: never skip. */
		CHECKF(0, "no /usr/share/dns/root.key (dns-root-data)");
		return;
	}
	/* on: every query fails with the reason; one DNSKEY probe. */
	if ((ctx = dnssec_ctx("on", "/usr/share/dns/root.key")) != NULL) {
		n0 = log_count(".", "DNSKEY");
		CHECK(mtasts_dns_query(ctx, "_mta-sts.multi.test", T_TXT, 0,
		    &a, &e) == MTASTS_ERROR && a == NULL);
		CHECKF(strstr(e.text, "dnssec = on") != NULL &&
		    strstr(e.text, "cannot validate the trust anchor") !=
		    NULL && strstr(e.text, "DNSKEY .") != NULL, "%s", e.text);
		e.code = 0;
		e.text[0] = '\0';
		CHECK(mtasts_dns_query(ctx, "_mta-sts.two.test", T_TXT, 0,
		    &a, &e) == MTASTS_ERROR && a == NULL);
		CHECK(mtasts_dns_dnssec_status(ctx, &st, why, sizeof(why),
		    &e) == MTASTS_OK);
		CHECKF(st == MTASTS_DNSSEC_BROKEN, "state %d", st);
		CHECKF(strstr(why, "dnssec = on") != NULL, "%s", why);
		CHECK(strcmp(mtasts_dnssec_state_name(st), "broken") == 0);
		/*
		 * One check: the DNSKEY query and libunbound's own retries of
		 * a bogus answer (6 upstream queries with 1.17.1).
		 */
		CHECKF(log_count(".", "DNSKEY") - n0 >= 1 &&
		    log_count(".", "DNSKEY") - n0 <= 8, "%d DNSKEY queries",
		    log_count(".", "DNSKEY") - n0);
		n0 = log_count(".", "DNSKEY");
		CHECK(mtasts_dns_query(ctx, "_mta-sts.two.test", T_TXT, 0,
		    &a, &e) == MTASTS_ERROR);
		CHECKF(log_count(".", "DNSKEY") == n0, "re-probed at once");
		mtasts_ctx_free(ctx);
	}
	/* auto: validation off, plain answers. */
	if ((ctx = dnssec_ctx("auto", "/usr/share/dns/root.key")) != NULL) {
		CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 0, &a) ==
		    MTASTS_DNS_ANSWER);
		if (a != NULL) {
			CHECK(a->nrr == 1 && a->validating == 0 &&
			    a->secure == 0);
			mtasts_dns_answer_free(a);
			a = NULL;
		}
		CHECK(mtasts_dns_dnssec_status(ctx, &st, why, sizeof(why),
		    &e) == MTASTS_OK);
		CHECKF(st == MTASTS_DNSSEC_AUTO_DISABLED, "state %d", st);
		CHECKF(strstr(why, "dnssec = off") != NULL &&
		    strstr(why, "DNSKEY . is bogus") != NULL, "%s", why);
		mtasts_ctx_free(ctx);
	}
	/* off: no probe at all. */
	if ((ctx = dnssec_ctx("off", "/usr/share/dns/root.key")) != NULL) {
		n0 = log_count(".", "DNSKEY");
		CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 0, NULL) ==
		    MTASTS_DNS_ANSWER);
		CHECK(mtasts_dns_dnssec_status(ctx, &st, why, sizeof(why),
		    &e) == MTASTS_OK && st == MTASTS_DNSSEC_OFF);
		CHECK(log_count(".", "DNSKEY") == n0);
		mtasts_ctx_free(ctx);
	}
	/* An anchor file without DS/DNSKEY records validates nothing. */
	snprintf(path, sizeof(path), "%s/empty.key", tmpdir);
	if ((fp = fopen(path, "w")) != NULL) {
		fputs("; no anchors here\n", fp);
		fclose(fp);
	}
	if ((ctx = dnssec_ctx("auto", path)) != NULL) {
		CHECK(mtasts_dns_dnssec_status(ctx, &st, why, sizeof(why),
		    &e) == MTASTS_OK);
		CHECKF(st == MTASTS_DNSSEC_AUTO_DISABLED &&
		    strstr(why, "no DS or DNSKEY record") != NULL, "%d %s", st,
		    why);
		mtasts_ctx_free(ctx);
	}
}

/* The host's verdict file, "" when there is none. */
static void
verdict_text(char *buf, size_t size)
{
	char path[400];
	FILE *fp;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/.note-dnssec-verdict", cache_dir);
	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, size - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
}

static void
verdict_put(const char *text)
{
	char path[400];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/.note-dnssec-verdict", cache_dir);
	if ((fp = fopen(path, "w")) != NULL) {
		fputs(text, fp);
		fclose(fp);
	}
}

/* One auto context's first query; the DNSKEY queries it caused. */
static int
verdict_probe(const char *mode, const char *anchor, int readonly,
    int *state, char *why, size_t whysize)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_dns_answer *a = NULL;
	struct mtasts_ctx *ctx;
	int n0 = log_count(".", "DNSKEY");

	*state = -1;
	if ((ctx = dnssec_ctx(mode, anchor)) == NULL)
		return -1;
	ctx->cache_readonly = readonly;
	/* Its outcome depends on the mode (on: refused); the state tells. */
	(void)mtasts_dns_query(ctx, "_mta-sts.multi.test", T_TXT, 0, &a, &e);
	mtasts_dns_answer_free(a);
	e.code = 0;
	CHECK(mtasts_dns_dnssec_status(ctx, state, why, whysize, &e) ==
	    MTASTS_OK);
	mtasts_ctx_free(ctx);
	return log_count(".", "DNSKEY") - n0;
}

/*
 * D-DNSSEC-5: under dnssec = auto the chain-of-trust verdict is shared by
 * the host's processes for DNS_VERDICT_TTL_S: the first one checks and
 * writes it, the next ones neither query DNSKEY nor build a second
 * resolver. dnssec = on, a read-only context (`mtasts check`), another
 * trust anchor, a stale or malformed note: checked again.
 */
static void
test_dnssec_verdict(void)
{
	char why[400], text[600], line[600], path[300], *p;
	int st, n;
	FILE *in, *out;

	if (access("/usr/share/dns/root.key", R_OK) != 0)
		return;		/* test_dnssec_states says so */
	verdict_put("");
	n = verdict_probe("auto", "/usr/share/dns/root.key", 0, &st, why,
	    sizeof(why));
	CHECKF(n >= 1 && st == MTASTS_DNSSEC_AUTO_DISABLED, "%d %d", n, st);
	verdict_text(text, sizeof(text));
	CHECKF(strncmp(text, "1 auto-off ", 11) == 0 &&
	    strstr(text, "DNSKEY . is bogus") != NULL &&
	    text[strlen(text) - 1] == '\n', "%s", text);
	/* The next process: no DNSKEY query, the same state and reason. */
	n = verdict_probe("auto", "/usr/share/dns/root.key", 0, &st, why,
	    sizeof(why));
	CHECKF(n == 0 && st == MTASTS_DNSSEC_AUTO_DISABLED, "%d %d", n, st);
	CHECKF(strstr(why, "DNSKEY . is bogus") != NULL, "%s", why);
	/* dnssec = on and `mtasts check` look for themselves. */
	n = verdict_probe("on", "/usr/share/dns/root.key", 0, &st, why,
	    sizeof(why));
	CHECKF(n >= 1 && st == MTASTS_DNSSEC_BROKEN, "%d %d", n, st);
	n = verdict_probe("auto", "/usr/share/dns/root.key", 1, &st, why,
	    sizeof(why));
	CHECKF(n >= 1 && st == MTASTS_DNSSEC_AUTO_DISABLED, "%d %d", n, st);
	/* Another trust anchor file is another key. */
	snprintf(path, sizeof(path), "%s/root-copy.key", tmpdir);
	if ((in = fopen("/usr/share/dns/root.key", "r")) != NULL &&
	    (out = fopen(path, "w")) != NULL) {
		while (fgets(line, sizeof(line), in) != NULL)
			fputs(line, out);
		fclose(out);
	}
	if (in != NULL)
		fclose(in);
	n = verdict_probe("auto", path, 0, &st, why, sizeof(why));
	CHECKF(n >= 1 && st == MTASTS_DNSSEC_AUTO_DISABLED, "%d %d", n, st);
	/* Hostile or stale notes are not verdicts. */
	verdict_text(text, sizeof(text));
	if ((p = strchr(text + 11, ' ')) != NULL) {
		const char *bad[4];
		char stale[600], nokey[600];
		size_t i;

		/* "1 auto-off <at> <key> ...": the same with at = 1. */
		snprintf(stale, sizeof(stale), "1 auto-off 1%s", p);
		snprintf(nokey, sizeof(nokey),
		    "1 auto-off %.*s 0000000000000000"
		    " forged\n", (int)(p - text - 11), text + 11);
		bad[0] = stale;
		bad[1] = nokey;
		bad[2] = "1 working 99999999999999999999999 x y\n";
		bad[3] = "garbage\n";
		for (i = 0; i < 4; i++) {
			verdict_put(bad[i]);
			n = verdict_probe("auto", path, 0, &st, why,
			    sizeof(why));
			CHECKF(n >= 1 && st == MTASTS_DNSSEC_AUTO_DISABLED,
			    "note %zu: %d %d", i, n, st);
		}
	} else
		CHECKF(0, "verdict note: %s", text);
}

/* Nothing listens on the forwarder's port. */
static void
test_dead_forwarder(void)
{
	struct mtasts_error e = { 0, "" };
	struct mtasts_ctx *ctx;
	char r[64];
	int64_t t0;

	if ((ctx = mtasts_ctx_new()) == NULL)
		return;
	snprintf(r, sizeof(r), "127.0.0.1@%d", free_port());
	CHECK(mtasts_ctx_set(ctx, "resolver", r, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "cache_dir", cache_dir, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "dnssec", "off", &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "resolve_special_zone", "test", &e) ==
	    MTASTS_OK);
	t0 = mtasts_mono_ms();
	CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 800, NULL) ==
	    MTASTS_DNS_TEMPFAIL);
	CHECK(mtasts_mono_ms() - t0 < 800 + 250);
	mtasts_ctx_free(ctx);

	/*
	 * dnssec = auto with the root anchor: the chain-of-trust check runs
	 * with the first query, under its deadline (D-DNSSEC-1), so a dead
	 * resolver costs no extra wait; the state stays unknown (checked
	 * again later), not switched off.
	 */
	if ((ctx = mtasts_ctx_new()) == NULL)
		return;
	CHECK(mtasts_ctx_set(ctx, "resolver", r, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "cache_dir", cache_dir, &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "dnssec", "auto", &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "trust_anchor_file",
	    "/usr/share/dns/root.key", &e) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "resolve_special_zone", "test", &e) ==
	    MTASTS_OK);
	t0 = mtasts_mono_ms();
	CHECK(qstatus(ctx, "_mta-sts.multi.test", T_TXT, 800, NULL) ==
	    MTASTS_DNS_TEMPFAIL);
	CHECKF(mtasts_mono_ms() - t0 < 800 + 250, "%lld ms",
	    (long long)(mtasts_mono_ms() - t0));
	{
		char why[400];
		int st;

		/* Checked a moment ago: not again now (no wait here). */
		t0 = mtasts_mono_ms();
		CHECK(mtasts_dns_dnssec_status(ctx, &st, why, sizeof(why),
		    &e) == MTASTS_OK);
		CHECKF(st == MTASTS_DNSSEC_UNKNOWN, "state %d: %s", st, why);
		CHECK(mtasts_mono_ms() - t0 < 100);
	}
	mtasts_ctx_free(ctx);
}

int
main(void)
{
	struct mtasts_ctx *ctx, *slow;
	char big[3100], path2[300];
	FILE *fp;

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	atexit(kill_dnsd);
	snprintf(cache_dir, sizeof(cache_dir), "%s/cache", tmpdir);
	if (mkdir(cache_dir, 0700) != 0) {
		perror("mkdir");
		return 1;
	}
	snprintf(zone_path, sizeof(zone_path), "%s/zone.json", tmpdir);
	snprintf(log_path, sizeof(log_path), "%s/queries.log", tmpdir);
	if (write_zone() != 0 || start_dnsd() != 0) {
		fprintf(stderr, "cannot start dnsd.py\n");
		return 1;
	}

	test_txt_decode();

	ctx = mkctx(1, "2");
	if (ctx == NULL)
		return 1;
	/* Configuration alone never creates the resolver. */
	CHECK(ctx->dns == NULL);
	test_txt(ctx);
	CHECK(ctx->dns != NULL && ctx->finalized);
	test_worker_sigmask();
	test_negative(ctx);
	test_addrs(ctx);
	test_mx(ctx);
	test_special_blocked();
	test_setup_errors();
	test_dnssec_states();
	test_dnssec_verdict();
	test_fork(ctx);

	/* The zone file is re-read when it changes (atomic replace). */
	memset(big, 'y', 3000);
	big[3000] = '\0';
	snprintf(path2, sizeof(path2), "%s.new", zone_path);
	if ((fp = fopen(path2, "w")) != NULL) {
		fprintf(fp, "{\"ttl\": 60, \"records\": [{\"name\": "
		    "\"_mta-sts.big.test\", \"type\": \"TXT\", \"data\": "
		    "[\"%s\"]}], \"drop\": [\"_mta-sts.slow.test\", "
		    "\"_mta-sts.slow2.test\"]}\n", big);
		fclose(fp);
		CHECK(rename(path2, zone_path) == 0);
	}
	test_big_txt(ctx);

	/*
	 * Deadlines last, on their own context: libunbound's worker keeps
	 * retrying a cancelled query and marks the silent forwarder down.
	 */
	slow = mkctx(1, "1");
	if (slow != NULL) {
		test_deadline(slow, "_mta-sts.slow.test", 700, 700);
		test_deadline(slow, "_mta-sts.slow2.test", 300, 300);
		/* deadline 0: the configured dns_timeout (1 s). */
		test_deadline(slow, "_mta-sts.slow.test", 0, 1000);
		/* A and AAAA run concurrently: one deadline, not two. */
		{
			struct sockaddr_storage ss[4];
			struct mtasts_error e = { 0, "" };
			int64_t t0 = mtasts_mono_ms(), dt;
			size_t n;

			CHECK(mtasts_dns_addrs(slow, "_mta-sts.slow.test", 443,
			    500, ss, 4, &n, &e) == MTASTS_TEMPFAIL && n == 0);
			dt = mtasts_mono_ms() - t0;
			CHECKF(dt >= 495 && dt < 750, "addrs took %lld ms",
			    (long long)dt);
			CHECKF(strstr(e.text, "timeout") != NULL, "%s", e.text);
		}
		/* A silent name does not take the forwarder down. */
		CHECK(qstatus(slow, "_mta-sts.big.test", T_TXT, 1000, NULL) ==
		    MTASTS_DNS_ANSWER);
		mtasts_ctx_free(slow);
	}
	test_dead_forwarder();
	mtasts_ctx_free(ctx);
	kill_dnsd();
	return T_DONE();
}
