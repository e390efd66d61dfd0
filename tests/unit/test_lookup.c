/* SPDX-License-Identifier: ISC */
/*
 * test_lookup.c - the discovery/cache state machine (common/lookup.c)
 * through a scripted network layer (fakenet.h):
 *   - two contexts on one cache, one running its whole lookup inside the
 *     other's DNS query, for every store path (decisions.md D-CACHE-8):
 *     a process that read the cache before another stored a newer policy
 *     never erases or downgrades it;
 *   - an unusable cache entry is "unknown", not "not cached" (D-CACHE-6);
 *   - an impossible _mta-sts name is a definite "none" without a query
 *     (D-NAME-1);
 *   - a lock error while a valid cached policy applies is logged;
 *   - mtasts_refresh_run() over a network table not its own runs each
 *     lookup once, in order, as mtasts_lookup() would (D-REFRESH-1);
 *   - a lookup's store syncs (file and directory), a refresh's stores do
 *     not and the run ends with one syncfs(), whose failure is the run's,
 *     after every outcome, with every entry whole; another context's
 *     memo sees each batch store at once (D-CACHE-9, D-MEMO-4).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mtasts_admin.h"
#include "internal/cache.h"
#include "internal/ctx.h"
#include "internal/util.h"
#include "fakenet.h"
#include "t.h"

#define T0 1700000000
#define DOM "race.example"

static const char *const ENFORCE =
    "version: STSv1\nmode: enforce\nmx: mx.race.example\nmax_age: 86400\n";
static const char *const TESTING =
    "version: STSv1\nmode: testing\nmx: mx.race.example\nmax_age: 86400\n";

static char topdir[512];

/*
 * fsync() and syncfs() of the library, counted (this program's own
 * definitions win over libc's); syncfs_errno makes syncfs() fail.
 */
static int nfsync, nsyncfs, syncfs_errno;
int syncfs(int);

int
fsync(int fd)
{
	nfsync++;
	return (int)syscall(SYS_fsync, fd);
}

int
syncfs(int fd)
{
	nsyncfs++;
	if (syncfs_errno != 0) {
		errno = syncfs_errno;
		return -1;
	}
	return (int)syscall(SYS_syncfs, fd);
}
static char errlog[1024];	/* last ERR/WARN line */
static int errs;

static void
logfn(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= MTASTS_LOG_WARN) {
		errs++;
		mtasts_strlcpy(errlog, msg, sizeof(errlog));
	}
}

static struct mtasts_ctx *
new_ctx(const char *dir, time_t now)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx = mtasts_ctx_new();
	char spool[1200];

	/* Never the host's default spool (/var/spool/mtasts/tlsrpt). */
	snprintf(spool, sizeof(spool), "%s.tlsrpt", dir);
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

static void
fresh_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", topdir, name);
	if (mkdir(buf, 02770) != 0) {
		perror(buf);
		exit(1);
	}
	chmod(buf, 02770);
}

/* Lookup: status, and mode/id of the policy (or -1 / ""). */
struct ans {
	int rc, status, source, mode;
	char id[MTASTS_ID_MAX + 1];
	char reason[MTASTS_REASON_MAX];
};

static struct ans
look(struct mtasts_ctx *ctx, const char *domain, unsigned flags)
{
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	struct ans a;

	memset(&a, 0, sizeof(a));
	a.mode = -1;
	a.rc = mtasts_lookup(ctx, domain, flags, &r, &err);
	if (a.rc != MTASTS_OK)
		return a;
	a.status = mtasts_result_status(r);
	a.source = mtasts_result_source(r);
	if (mtasts_result_policy(r) != NULL)
		a.mode = mtasts_policy_mode(mtasts_result_policy(r));
	if (mtasts_result_id(r) != NULL)
		mtasts_strlcpy(a.id, mtasts_result_id(r), sizeof(a.id));
	if (mtasts_result_failure_reason(r) != NULL)
		mtasts_strlcpy(a.reason, mtasts_result_failure_reason(r),
		    sizeof(a.reason));
	mtasts_result_free(r);
	return a;
}

#define CHECK_POLICY(a, m, i)                                              \
	CHECKF((a).rc == MTASTS_OK && (a).status == MTASTS_LOOKUP_POLICY &&  \
	    (a).mode == (m) && strcmp((a).id, (i)) == 0,                   \
	    "rc %d status %d mode %d id \"%s\" (%s)", (a).rc, (a).status,   \
	    (a).mode, (a).id, (a).reason)

#define CHECK_STATUS(a, st)                                                \
	CHECKF((a).rc == MTASTS_OK && (a).status == (st),                  \
	    "rc %d status %d mode %d id \"%s\" (%s)", (a).rc, (a).status,   \
	    (a).mode, (a).id, (a).reason)

/* What the cache file holds now: mode of its policy (-1 none), id. */
static int
cached(struct mtasts_ctx *ctx, const char *domain, char *id, size_t idsz,
    time_t *txt_checked_at)
{
	struct mtasts_cache_entry *e = NULL;
	int mode = -1, rc;

	id[0] = '\0';
	if ((rc = mtasts_cache_load(ctx, domain, &e, NULL)) != MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? -2 : -3;
	if (e->policy != NULL)
		mode = mtasts_policy_mode(e->policy);
	mtasts_strlcpy(id, e->id, idsz);
	if (txt_checked_at != NULL)
		*txt_checked_at = e->txt_checked_at;
	mtasts_cache_entry_free(e);
	return mode;
}

/* The other process: B's whole lookup, run inside A's DNS query. */
struct other {
	struct mtasts_ctx *ctx;
	struct ans a;
};

static void
run_other(void *arg)
{
	struct other *o = arg;

	o->a = look(o->ctx, DOM, 0);
}

/*
 * Two contexts A and B on one cache directory, both at time now, with
 * their own resolvers; B's lookup runs inside A's DNS query.
 */
struct pair {
	char dir[600];
	struct mtasts_ctx *a, *b, *c;
	struct fakenet na, nb, nc;
	struct other ob;
};

static void
pair_open(struct pair *p, const char *name, time_t now)
{
	fresh_dir(p->dir, sizeof(p->dir), name);
	p->a = new_ctx(p->dir, now);
	p->b = new_ctx(p->dir, now);
	p->c = new_ctx(p->dir, now);
	fakenet_attach(&p->na, p->a);
	fakenet_attach(&p->nb, p->b);
	fakenet_attach(&p->nc, p->c);
	p->ob.ctx = p->b;
}

static void
pair_close(struct pair *p)
{
	fakenet_detach(&p->na);
	fakenet_detach(&p->nb);
	fakenet_detach(&p->nc);
	mtasts_ctx_free(p->a);
	mtasts_ctx_free(p->b);
	mtasts_ctx_free(p->c);
}

/* Seed the cache through B: TXT id, body, at time t. */
static void
seed(struct pair *p, const char *id, const char *body, time_t t)
{
	struct ans a;

	mtasts_ctx_set_now(p->b, t);
	fakenet_txt_id(&p->nb, id);
	p->nb.body = body;
	a = look(p->b, DOM, 0);
	CHECKF(a.status == MTASTS_LOOKUP_POLICY &&
	    a.source == MTASTS_SOURCE_FETCHED, "seed %s: %d (%s)", id,
	    a.status, a.reason);
}

/*
 * Issue 12 item 1 (a): A read "not cached", B fetches and stores enforce,
 * A's resolver says NXDOMAIN. A's negative store must not erase it.
 */
static void
test_race_negative_over_new_policy(void)
{
	struct pair p;
	struct ans a;
	char id[64];

	pair_open(&p, "race-a", T0);
	p.na.txt_kind = FAKE_TXT_NXDOMAIN;
	p.na.hook = run_other;
	p.na.hook_arg = &p.ob;
	fakenet_txt_id(&p.nb, "e1");
	p.nb.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK_POLICY(p.ob.a, MTASTS_MODE_ENFORCE, "e1");
	/* A answers the policy B stored, and the file still holds it. */
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == MTASTS_MODE_ENFORCE);
	CHECKF(strcmp(id, "e1") == 0, "id %s", id);
	/* DNS down everywhere: the cached policy applies (§3.3). */
	mtasts_ctx_set_now(p.c, T0 + 10);
	p.nc.txt_kind = FAKE_TXT_SERVFAIL;
	a = look(p.c, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	/* ... and inside txt_check_interval of A's check. */
	mtasts_ctx_set_now(p.c, T0 + 70);
	a = look(p.c, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	pair_close(&p);
}

/*
 * Issue 12 item 1 (b): testing id t1 cached; B fetches enforce id e2; A's
 * resolver still says t1. A must not store the old testing entry back
 * with txt_checked_at = now.
 */
static void
test_race_same_id_over_new_policy(void)
{
	struct pair p;
	struct ans a;
	char id[64];

	pair_open(&p, "race-b", T0 + 100);
	seed(&p, "t1", TESTING, T0);
	mtasts_ctx_set_now(p.b, T0 + 100);
	fakenet_txt_id(&p.na, "t1");
	p.na.body = TESTING;
	p.na.hook = run_other;
	p.na.hook_arg = &p.ob;
	fakenet_txt_id(&p.nb, "e2");
	p.nb.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK_POLICY(p.ob.a, MTASTS_MODE_ENFORCE, "e2");
	CHECK(p.na.fetches == 0);
	/* The newest stored policy wins, and it stays in the file. */
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == MTASTS_MODE_ENFORCE);
	CHECKF(strcmp(id, "e2") == 0, "id %s", id);
	/* id e2 everywhere, within txt_check_interval: enforce e2. */
	mtasts_ctx_set_now(p.c, T0 + 110);
	fakenet_txt_id(&p.nc, "e2");
	a = look(p.c, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	pair_close(&p);
}

/*
 * The TXT-removed store (valid cache, NXDOMAIN): testing t1 cached, B
 * fetches enforce e2, A's resolver says NXDOMAIN. A must not store its
 * old testing policy back.
 */
static void
test_race_txt_removed_over_new_policy(void)
{
	struct pair p;
	struct ans a;
	char id[64];

	pair_open(&p, "race-c", T0 + 100);
	seed(&p, "t1", TESTING, T0);
	mtasts_ctx_set_now(p.b, T0 + 100);
	p.na.txt_kind = FAKE_TXT_NXDOMAIN;
	p.na.hook = run_other;
	p.na.hook_arg = &p.ob;
	fakenet_txt_id(&p.nb, "e2");
	p.nb.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK_POLICY(p.ob.a, MTASTS_MODE_ENFORCE, "e2");
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == MTASTS_MODE_ENFORCE);
	CHECKF(strcmp(id, "e2") == 0, "id %s", id);
	mtasts_ctx_set_now(p.c, T0 + 110);
	p.nc.txt_kind = FAKE_TXT_SERVFAIL;
	a = look(p.c, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	pair_close(&p);
}

/*
 * The fetch paths (already under the lock with a re-read before this
 * change; kept as regression tests): A sees a new id e3 whose fetch
 * fails, while B stores enforce e2. A's failure record must keep e2; and
 * when A and B see the same new id, only one fetches.
 */
static void
test_race_fetch_paths(void)
{
	struct pair p;
	struct ans a;
	char id[64];

	pair_open(&p, "race-d", T0 + 100);
	seed(&p, "t1", TESTING, T0);
	mtasts_ctx_set_now(p.b, T0 + 100);
	fakenet_txt_id(&p.na, "e3");
	p.na.body = NULL;	/* HTTP 500 */
	p.na.hook = run_other;
	p.na.hook_arg = &p.ob;
	fakenet_txt_id(&p.nb, "e2");
	p.nb.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK(p.na.fetches == 1);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == MTASTS_MODE_ENFORCE);
	CHECKF(strcmp(id, "e2") == 0, "id %s", id);
	pair_close(&p);

	pair_open(&p, "race-e", T0 + 100);
	seed(&p, "t1", TESTING, T0);
	mtasts_ctx_set_now(p.b, T0 + 100);
	fakenet_txt_id(&p.na, "e2");
	p.na.body = ENFORCE;
	p.na.hook = run_other;
	p.na.hook_arg = &p.ob;
	fakenet_txt_id(&p.nb, "e2");
	p.nb.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e2");
	CHECK(p.na.fetches == 0 && p.nb.fetches == 2);
	pair_close(&p);
}

/*
 * A TXT-check store never waits for the lock: held by another process,
 * the check is not recorded, the answer stands.
 */
static void
test_txt_check_skipped_when_locked(void)
{
	struct pair p;
	struct ans a;
	struct mtasts_error err = { 0, "" };
	char id[64];
	time_t tca = 0;
	int64_t t;
	int fd = -1;

	pair_open(&p, "locked", T0 + 100);
	seed(&p, "e1", ENFORCE, T0);
	/* A long lock_wait applies to fetches only, never to this. */
	CHECK(mtasts_ctx_set(p.a, "lock_wait", "5", &err) == 0);
	CHECK(mtasts_cache_lock(p.b, DOM, 0, &fd, &err) == MTASTS_OK);
	fakenet_txt_id(&p.na, "e1");
	t = mtasts_mono_ms();
	a = look(p.a, DOM, 0);
	t = mtasts_mono_ms() - t;
	CHECKF(t < 1000, "waited %lld ms", (long long)t);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	CHECK(cached(p.a, DOM, id, sizeof(id), &tca) == MTASTS_MODE_ENFORCE);
	CHECK(tca == T0);
	mtasts_cache_unlock(fd);
	a = look(p.a, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	CHECK(cached(p.a, DOM, id, sizeof(id), &tca) == MTASTS_MODE_ENFORCE);
	CHECK(tca == T0 + 100);
	/* A negative answer with the lock free is remembered. */
	p.na.txt_kind = FAKE_TXT_NXDOMAIN;
	a = look(p.a, "neg.example", 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_NONE);
	CHECK(cached(p.a, "neg.example", id, sizeof(id), &tca) == -1 &&
	    tca == T0 + 100);
	pair_close(&p);
}

/* Issue 12 item 10: a lock error while a valid policy applies is loud. */
static void
test_lock_error_logged(void)
{
	struct pair p;
	struct ans a;
	struct mtasts_error err = { 0, "" };
	struct dirent *de;
	char path[1200];
	DIR *d;
	int fd = -1, found = 0;

	pair_open(&p, "lockerr", T0 + 100);
	seed(&p, "e1", ENFORCE, T0);
	CHECK(mtasts_cache_lock(p.b, DOM, 0, &fd, &err) == MTASTS_OK);
	mtasts_cache_unlock(fd);
	/* Replace the lock file by a directory: locking is now an error. */
	if ((d = opendir(p.dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, "." DOM ".lock") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", p.dir,
			    de->d_name);
			CHECK(unlink(path) == 0 && mkdir(path, 0700) == 0);
			found++;
		}
		closedir(d);
	}
	CHECK(found == 1);
	fakenet_txt_id(&p.na, "e2");
	p.na.body = TESTING;
	errs = 0;
	errlog[0] = '\0';
	a = look(p.a, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	CHECK(p.na.fetches == 0);
	CHECKF(errs >= 1 && strstr(errlog, DOM) != NULL &&
	    strstr(errlog, "lock") != NULL, "log: \"%s\"", errlog);
	pair_close(&p);
}

/* A host name of exactly len octets: labels of 63, then the rest. */
static void
mkname(char *buf, size_t len, char c)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (i % 64 == 63) ? '.' : c;
	if (buf[len - 1] == '.')
		buf[len - 2] = '.', buf[len - 1] = c;
	buf[len] = '\0';
}

/* Issue 12 item 8 / D-NAME-1: no _mta-sts name over 253 octets. */
static void
test_impossible_name(void)
{
	struct pair p;
	struct ans a;
	struct mtasts_error err = { 0, "" };
	char d245[300], d253[300], d244[300], norm[300];

	mkname(d245, 245, 'a');
	mkname(d253, 253, 'c');
	mkname(d244, 244, 'b');
	CHECK(mtasts_domain_normalize(d245, strlen(d245), norm, &err) ==
	    MTASTS_OK && strcmp(norm, d245) == 0 && strlen(d245) == 245);
	CHECK(mtasts_domain_normalize(d253, strlen(d253), norm, &err) ==
	    MTASTS_OK && strcmp(norm, d253) == 0 && strlen(d253) == 253);

	pair_open(&p, "longname", T0);
	/* The resolver would refuse the name: that is no "tempfail". */
	CHECK(mtasts_ctx_set(p.a, "dns_failure", "tempfail", &err) == 0);
	p.na.txt_kind = FAKE_TXT_NXDOMAIN;
	a = look(p.a, d245, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_NONE);
	a = look(p.a, d253, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_NONE);
	CHECKF(p.na.queries == 0, "%d queries", p.na.queries);
	/* 244 octets: _mta-sts.<domain> is 253, a real query. */
	a = look(p.a, d244, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_NONE);
	CHECKF(p.na.queries == 1 && strlen(p.na.last_qname) == 253,
	    "%d queries, \"%s\"", p.na.queries, p.na.last_qname);
	pair_close(&p);
}

/* Put an unusable file (garbage JSON) where DOM's entry goes. */
static void
break_entry(const char *dir)
{
	char path[1200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s.json", dir, DOM);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660);
	if (fd == -1 || write(fd, "{\"format\": 1, \"dom", 18) != 18)
		abort();
	close(fd);
}

/* Issue 11 item 10 / D-CACHE-6: an unusable entry is "unknown". */
static void
test_unusable_entry(void)
{
	struct pair p;
	struct ans a;
	char id[64];

	pair_open(&p, "unusable", T0 + 100);
	seed(&p, "e1", ENFORCE, T0);
	break_entry(p.dir);
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == -3);

	/* TXT temporary failure: defer, say how to fix. */
	p.na.txt_kind = FAKE_TXT_SERVFAIL;
	a = look(p.a, DOM, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_TEMPFAIL);
	CHECKF(strstr(a.reason, "unusable") != NULL &&
	    strstr(a.reason, "mtasts cache flush") != NULL, "%s", a.reason);
	/* Cache only (the OpenSMTPD table): the same. */
	a = look(p.a, DOM, MTASTS_LOOKUP_CACHE_ONLY);
	CHECK_STATUS(a, MTASTS_LOOKUP_TEMPFAIL);
	/* TXT definitely absent: still unknown, nothing stored over it. */
	p.na.txt_kind = FAKE_TXT_NXDOMAIN;
	a = look(p.a, DOM, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_TEMPFAIL);
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == -3);
	/* TXT id, fetch fails: unknown, the file stays as evidence. */
	fakenet_txt_id(&p.na, "e1");
	p.na.body = NULL;
	a = look(p.a, DOM, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_TEMPFAIL);
	CHECK(p.na.fetches == 1);
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == -3);
	/* TXT id, fetch works: the fetched policy replaces the file. */
	p.na.body = ENFORCE;
	a = look(p.a, DOM, 0);
	CHECK_POLICY(a, MTASTS_MODE_ENFORCE, "e1");
	CHECK(a.source == MTASTS_SOURCE_FETCHED);
	CHECK(cached(p.a, DOM, id, sizeof(id), NULL) == MTASTS_MODE_ENFORCE);
	/* Flushed (no file): "not cached" again, the usual rules. */
	CHECK(mtasts_cache_remove(p.a, DOM, NULL) == MTASTS_OK);
	p.na.txt_kind = FAKE_TXT_SERVFAIL;
	a = look(p.a, DOM, 0);
	CHECK_STATUS(a, MTASTS_LOOKUP_NONE);	/* dns_failure = none */
	pair_close(&p);
}

struct refresh_seen {
	size_t n, order[8];
	struct ans a[8];
};

static void
refresh_cb(void *arg, size_t i, int rc, const struct mtasts_result *r,
    const struct mtasts_error *err)
{
	struct refresh_seen *s = arg;
	struct ans *a;

	(void)err;
	if (s->n >= 8)
		return;
	s->order[s->n] = i;
	a = &s->a[s->n++];
	memset(a, 0, sizeof(*a));
	a->rc = rc;
	a->mode = -1;
	if (r == NULL)
		return;
	a->status = mtasts_result_status(r);
	a->source = mtasts_result_source(r);
	if (mtasts_result_policy(r) != NULL)
		a->mode = mtasts_policy_mode(mtasts_result_policy(r));
	if (mtasts_result_id(r) != NULL)
		mtasts_strlcpy(a->id, mtasts_result_id(r), sizeof(a->id));
}

/*
 * D-REFRESH-1: over a network table not its own (here the fake), the
 * engine is mtasts_lookup() for each domain, one after another, in order.
 */
static void
test_refresh_run_fake_network(void)
{
	static const char *const doms[] = { "r1.example", "r2.example",
		"r3.example" };
	struct refresh_seen seen;
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	struct fakenet f;
	char dir[600], id[MTASTS_ID_MAX + 1];
	size_t i;

	fresh_dir(dir, sizeof(dir), "refresh");
	ctx = new_ctx(dir, T0);
	fakenet_attach(&f, ctx);
	mtasts_strlcpy(f.txt, "v=STSv1; id=v1", sizeof(f.txt));
	f.body = ENFORCE;
	memset(&seen, 0, sizeof(seen));
	CHECK(mtasts_refresh_run(ctx, doms, 3, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_OK);
	CHECK(seen.n == 3);
	for (i = 0; i < seen.n; i++) {
		CHECK(seen.order[i] == i);
		CHECK_POLICY(seen.a[i], MTASTS_MODE_ENFORCE, "v1");
		CHECK(seen.a[i].source == MTASTS_SOURCE_FETCHED);
		CHECK(cached(ctx, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_ENFORCE && strcmp(id, "v1") == 0);
	}
	CHECK(f.queries == 3 && f.fetches == 3);
	/* A failed fetch keeps each cached policy. */
	f.body = NULL;
	memset(&seen, 0, sizeof(seen));
	CHECK(mtasts_refresh_run(ctx, doms, 3, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_OK);
	CHECK(seen.n == 3 && f.fetches == 6);
	for (i = 0; i < seen.n; i++) {
		CHECK_POLICY(seen.a[i], MTASTS_MODE_ENFORCE, "v1");
		CHECK(seen.a[i].source == MTASTS_SOURCE_CACHE);
	}
	/* Nothing to do: no call. */
	memset(&seen, 0, sizeof(seen));
	CHECK(mtasts_refresh_run(ctx, doms, 0, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_OK && seen.n == 0);
	fakenet_detach(&f);
	mtasts_ctx_free(ctx);
}

/* No temp file of a store is left in dir. */
static int
no_tmp_files(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp") != NULL)
			n++;
	closedir(d);
	return n == 0;
}

/*
 * D-CACHE-9: the single lookup's store is durable on its own (fsync of
 * the temp file and of the directory); a refresh's stores skip both and
 * the run ends with one syncfs(); a failed syncfs() is the run's error,
 * reported after every done(), and leaves each entry whole (the new one:
 * the renames happened). A second context (another process) whose memo
 * holds an entry sees the batch's store at its next load (the generation
 * bump stays per store, D-MEMO-4).
 */
static void
test_refresh_batch_sync(void)
{
	static const char *const doms[] = { "b1.example", "b2.example",
		"b3.example" };
	struct refresh_seen seen;
	struct mtasts_error err = { 0, "" };
	struct mtasts_result *r = NULL;
	struct mtasts_ctx *ctx, *other;
	struct fakenet f;
	char dir[600], id[MTASTS_ID_MAX + 1];
	size_t i;

	fresh_dir(dir, sizeof(dir), "batch");
	ctx = new_ctx(dir, T0);
	other = new_ctx(dir, T0);
	fakenet_attach(&f, ctx);
	mtasts_strlcpy(f.txt, "v=STSv1; id=v1", sizeof(f.txt));
	f.body = ENFORCE;
	/* First fetch (TOFU), one lookup: both fsyncs, no syncfs. */
	nfsync = nsyncfs = 0;
	for (i = 0; i < 3; i++) {
		CHECK(mtasts_lookup(ctx, doms[i], 0, &r, &err) == MTASTS_OK);
		mtasts_result_free(r);
		r = NULL;
	}
	CHECK(nfsync >= 6 && nsyncfs == 0);
	/* The other context's memo holds the enforce entries. */
	for (i = 0; i < 3; i++) {
		CHECK(cached(other, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_ENFORCE);
		CHECK(cached(other, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_ENFORCE && strcmp(id, "v1") == 0);
	}
	/* A refresh: no fsync, one syncfs. */
	nfsync = nsyncfs = 0;
	memset(&seen, 0, sizeof(seen));
	CHECK(mtasts_refresh_run(ctx, doms, 3, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_OK);
	CHECK(seen.n == 3 && nfsync == 0 && nsyncfs == 1);
	CHECK(ctx->cache_batch == NULL);
	/* A new policy, and the final sync fails. */
	mtasts_strlcpy(f.txt, "v=STSv1; id=v2", sizeof(f.txt));
	f.body = TESTING;
	syncfs_errno = EIO;
	nfsync = nsyncfs = 0;
	memset(&seen, 0, sizeof(seen));
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_refresh_run(ctx, doms, 3, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_ERROR);
	syncfs_errno = 0;
	CHECK(strstr(err.text, "sync") != NULL &&
	    strstr(err.text, strerror(EIO)) != NULL);
	CHECK(seen.n == 3 && nfsync == 0 && nsyncfs == 1);
	CHECK(ctx->cache_batch == NULL);
	for (i = 0; i < 3; i++) {
		CHECK(seen.order[i] == i && seen.a[i].rc == MTASTS_OK);
		CHECK_POLICY(seen.a[i], MTASTS_MODE_TESTING, "v2");
		/* Whole, and the other context's memo saw the store. */
		CHECK(cached(other, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_TESTING && strcmp(id, "v2") == 0);
		CHECK(cached(ctx, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_TESTING && strcmp(id, "v2") == 0);
	}
	CHECK(no_tmp_files(dir));
	/* A failed refresh keeps the policies; nothing stored to sync. */
	f.body = NULL;
	nfsync = nsyncfs = 0;
	memset(&seen, 0, sizeof(seen));
	CHECK(mtasts_refresh_run(ctx, doms, 3, MTASTS_LOOKUP_FORCE_FETCH,
	    refresh_cb, &seen, &err) == MTASTS_OK);
	CHECK(seen.n == 3 && nfsync == 0);
	for (i = 0; i < 3; i++)
		CHECK(cached(other, doms[i], id, sizeof(id), NULL) ==
		    MTASTS_MODE_TESTING && strcmp(id, "v2") == 0);
	/* After the run, a lookup's store syncs again. */
	f.body = ENFORCE;
	nfsync = nsyncfs = 0;
	CHECK(mtasts_lookup(ctx, "b4.example", 0, &r, &err) == MTASTS_OK);
	mtasts_result_free(r);
	CHECK(nfsync >= 2 && nsyncfs == 0);
	fakenet_detach(&f);
	mtasts_ctx_free(other);
	mtasts_ctx_free(ctx);
}

int
main(void)
{
	char tmpl[] = "/tmp/mtasts-lookup-XXXXXX";

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	mtasts_strlcpy(topdir, tmpl, sizeof(topdir));
	test_race_negative_over_new_policy();
	test_race_same_id_over_new_policy();
	test_race_txt_removed_over_new_policy();
	test_race_fetch_paths();
	test_txt_check_skipped_when_locked();
	test_lock_error_logged();
	test_impossible_name();
	test_unusable_entry();
	test_refresh_run_fake_network();
	test_refresh_batch_sync();
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", topdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", topdir);
	}
	return T_DONE();
}
