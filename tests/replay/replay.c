/* SPDX-License-Identifier: ISC */
/*
 * replay.c - run the RFC 8461 lookup state machine (mtasts_lookup) from a
 * plain-text scenario: the cache as it is on disk, the clock, what the
 * resolver answers for _mta-sts.<domain>, what the policy host serves;
 * then lookups, each followed by what must be true afterwards (status,
 * source, failure, the cache entry, the TLS-RPT spool lines, the log).
 * In the spirit of unbound's testbound; the format is in README.md.
 *
 * The network is a scripted table installed through the network-ops seam
 * (struct mtasts_netops, the one tests/unit/fakenet.h uses); nothing else
 * of the library is replaced. Needs no root and no network: the cache and
 * spool are fresh directories under $TMPDIR (or /tmp).
 *
 *	replay [-v] scenario.scn ...
 *
 * Exit 0 when every expectation of every scenario held, 1 otherwise.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal/ctx.h"
#include "internal/cache.h"
#include "internal/dns.h"
#include "internal/fetch.h"
#include "internal/netops.h"
#include "internal/spool.h"
#include "internal/tlsrpt.h"
#include "internal/util.h"

#define LINE_MAX_ 4096
#define TOK_MAX 32
#define DOM_MAX 16
#define POL_MAX 16
#define RR_MAX 8
#define LOG_MAX 64

/* ---- the scripted network ---- */

enum txt_kind {
	TXT_UNSET = 0,		/* never scripted: NXDOMAIN */
	TXT_RECORDS,		/* ANSWER with the records */
	TXT_NXDOMAIN,
	TXT_NODATA,
	TXT_SERVFAIL,
	TXT_TIMEOUT,
	TXT_REFUSED,		/* resolver cannot be used (rc ERROR) */
	TXT_NOMEM,		/* the DNS layer ran out of memory */
	TXT_BOGUS,		/* DNSSEC bogus, no usable data */
	TXT_BOGUS_RECORDS	/* DNSSEC bogus, records readable */
};

enum fetch_kind {
	FETCH_UNSET = 0,	/* never scripted: connection refused */
	FETCH_BODY,		/* 200 with a policy block's text */
	FETCH_HTTP,		/* an HTTP status other than 200 */
	FETCH_TLS,		/* certificate rejected */
	FETCH_INVALID,		/* refused by the fetch (size, type) */
	FETCH_TIMEOUT,
	FETCH_LOCAL,		/* local fault (CA store), rc ERROR */
	FETCH_NOMEM
};

struct dom {
	char name[MTASTS_DOMAIN_MAX + 1];
	int txt;			/* enum txt_kind */
	char *rr[RR_MAX];
	size_t nrr;
	int secure;
	int lockfd;		/* held by "another process", or -1 */
	int fetch;			/* enum fetch_kind */
	int status;			/* FETCH_HTTP */
	char *body;		/* FETCH_BODY: a policy block's */
	char *why;			/* FETCH_TLS/LOCAL reason */
};

struct pol {
	char name[64];
	char *text;
};

struct scen {
	const char *file;
	int line;
	int fails;
	int verbose;
	char top[512], cache[600], spool[600];
	time_t t0, now;
	int t0_set;
	char *conf_key[32], *conf_val[32];
	size_t nconf;
	int shared;			/* one context for every lookup */
	struct mtasts_ctx *ctx;		/* the shared one */
	struct dom dom[DOM_MAX];
	size_t ndom;
	struct pol pol[POL_MAX];
	size_t npol;
	/* the last lookup */
	int looked;
	int rc;
	int rc_checked;			/* an expect rc followed */
	int rc_line;
	struct mtasts_result *res;
	char err[MTASTS_ERROR_TEXT_MAX];
	int queries, fetches;
	char qname[300];
	size_t spool_before;
	char *log[LOG_MAX];
	int loglevel[LOG_MAX];
	size_t nlog;
};

static struct scen *cur;	/* the network layer's way back */

static void
fail(struct scen *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", s->file, s->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	s->fails++;
}

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n)) == NULL) {
		perror("malloc");
		exit(2);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xmalloc(n), s, n);
}

static struct dom *
dom_get(struct scen *s, const char *name, int create)
{
	size_t i;

	for (i = 0; i < s->ndom; i++)
		if (strcasecmp(s->dom[i].name, name) == 0)
			return &s->dom[i];
	if (!create)
		return NULL;
	if (s->ndom == DOM_MAX) {
		fail(s, "more than %d domains", DOM_MAX);
		exit(1);
	}
	memset(&s->dom[s->ndom], 0, sizeof(s->dom[0]));
	mtasts_strlcpy(s->dom[s->ndom].name, name, sizeof(s->dom[0].name));
	s->dom[s->ndom].lockfd = -1;
	return &s->dom[s->ndom++];
}

static void
dom_clear_txt(struct dom *d)
{
	size_t i;

	for (i = 0; i < d->nrr; i++)
		free(d->rr[i]);
	d->nrr = 0;
	d->txt = TXT_UNSET;
	d->secure = 0;
}

static int
net_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err)
{
	struct mtasts_dns_answer *a;
	struct dom *d = NULL;
	size_t i, len;

	(void)ctx;
	(void)rrtype;
	*out = NULL;
	cur->queries++;
	mtasts_strlcpy(cur->qname, qname, sizeof(cur->qname));
	if (strncmp(qname, "_mta-sts.", 9) == 0)
		d = dom_get(cur, qname + 9, 0);
	if (d != NULL && d->txt == TXT_REFUSED)
		return mtasts_err(err, MTASTS_ERROR,
		    "resolver: scripted refusal");
	if (d != NULL && d->txt == TXT_NOMEM)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	a->status = MTASTS_DNS_NXDOMAIN;
	if (d == NULL) {
		*out = a;
		return MTASTS_OK;
	}
	a->secure = d->secure;
	a->validating = d->secure || d->txt == TXT_BOGUS ||
	    d->txt == TXT_BOGUS_RECORDS;
	switch (d->txt) {
	case TXT_UNSET:
	case TXT_NXDOMAIN:
		break;
	case TXT_NODATA:
		a->status = MTASTS_DNS_NODATA;
		break;
	case TXT_SERVFAIL:
		a->status = MTASTS_DNS_TEMPFAIL;
		a->rcode = 2;
		mtasts_strlcpy(a->why, "SERVFAIL", sizeof(a->why));
		break;
	case TXT_TIMEOUT:
		a->status = MTASTS_DNS_TEMPFAIL;
		snprintf(a->why, sizeof(a->why), "DNS timeout after %d ms",
		    deadline_ms);
		break;
	case TXT_BOGUS:
		a->status = MTASTS_DNS_BOGUS;
		a->bogus_status = MTASTS_DNS_TEMPFAIL;
		mtasts_strlcpy(a->why, "DNSSEC bogus: scripted",
		    sizeof(a->why));
		break;
	case TXT_BOGUS_RECORDS:
	case TXT_RECORDS:
		a->status = d->txt == TXT_RECORDS ? MTASTS_DNS_ANSWER :
		    MTASTS_DNS_BOGUS;
		a->bogus_status = MTASTS_DNS_ANSWER;
		if (d->txt == TXT_BOGUS_RECORDS)
			mtasts_strlcpy(a->why, "DNSSEC bogus: scripted",
			    sizeof(a->why));
		for (i = 0; i < d->nrr; i++) {
			/* One character-string per record (<= 255). */
			len = strlen(d->rr[i]);
			if ((a->rdata[i] = malloc(len + 1)) == NULL) {
				mtasts_dns_answer_free(a);
				return mtasts_err(err, MTASTS_NOMEM,
				    "out of memory");
			}
			a->rdata[i][0] = (unsigned char)len;
			memcpy(a->rdata[i] + 1, d->rr[i], len);
			a->rdlen[i] = len + 1;
			a->nrr = i + 1;
		}
		break;
	default:
		abort();
	}
	*out = a;
	return MTASTS_OK;
}

static void
set_fetch_fail(struct mtasts_fetch *res, int rc, const char *type,
    const char *reason)
{
	res->rc = rc;
	mtasts_strlcpy(res->result_type, type, sizeof(res->result_type));
	mtasts_strlcpy(res->reason, reason, sizeof(res->reason));
}

static void
net_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res)
{
	struct dom *d = dom_get(cur, domain, 0);
	char buf[64];
	size_t len;

	(void)ctx;
	memset(res, 0, sizeof(*res));
	cur->fetches++;
	switch (d != NULL ? d->fetch : FETCH_UNSET) {
	case FETCH_BODY:
		len = strlen(d->body);
		if ((res->body = malloc(len + 1)) == NULL) {
			set_fetch_fail(res, MTASTS_NOMEM,
			    MTASTS_RT_STS_FETCH_ERROR, "out of memory");
			return;
		}
		memcpy(res->body, d->body, len + 1);
		res->body_len = len;
		res->http_status = 200;
		res->rc = MTASTS_OK;
		break;
	case FETCH_HTTP:
		snprintf(buf, sizeof(buf), "HTTP status %d", d->status);
		set_fetch_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    buf);
		res->http_status = d->status;
		break;
	case FETCH_TLS:
		set_fetch_fail(res, MTASTS_TEMPFAIL,
		    MTASTS_RT_STS_WEBPKI_INVALID, d->why);
		break;
	case FETCH_INVALID:
		set_fetch_fail(res, MTASTS_INVALID, MTASTS_RT_STS_INVALID,
		    d->why);
		break;
	case FETCH_TIMEOUT:
		set_fetch_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "timeout");
		break;
	case FETCH_LOCAL:
		set_fetch_fail(res, MTASTS_ERROR, MTASTS_RT_STS_FETCH_ERROR,
		    d->why);
		break;
	case FETCH_NOMEM:
		set_fetch_fail(res, MTASTS_NOMEM, MTASTS_RT_STS_FETCH_ERROR,
		    "out of memory");
		break;
	default:
		set_fetch_fail(res, MTASTS_TEMPFAIL, MTASTS_RT_STS_FETCH_ERROR,
		    "connect: connection refused (nothing scripted)");
		break;
	}
}

static void
net_fetch_clear(struct mtasts_fetch *res)
{
	free(res->body);
	res->body = NULL;
}

static void
net_release(struct mtasts_ctx *ctx)
{
	(void)ctx;
}

static const struct mtasts_netops replay_netops = {
	.abi = MTASTS_NETOPS_ABI,
	.ctx_size = sizeof(struct mtasts_ctx),
	.fetch_size = sizeof(struct mtasts_fetch),
	.answer_size = sizeof(struct mtasts_dns_answer),
	.dns_query = net_dns_query,
	.dns_answer_free = mtasts_dns_answer_free,
	.dns_txt_decode = mtasts_dns_txt_decode,
	.dns_txt_free = mtasts_dns_txt_free,
	.fetch_policy = net_fetch_policy,
	.fetch_clear = net_fetch_clear,
	.release = net_release,
	.cache_encode = mtasts_cache_encode,
	.cache_decode_json = mtasts_cache_decode_json,
};

/* The one place that knows how the network half is put in front. */
static void
net_install(struct mtasts_ctx *ctx)
{
	ctx->net = &replay_netops;
}

/* ---- contexts ---- */

static void
logfn(void *arg, int level, const char *msg)
{
	struct scen *s = arg;

	if (s->verbose)
		fprintf(stderr, "  log %d: %s\n", level, msg);
	if (s->nlog < LOG_MAX) {
		s->loglevel[s->nlog] = level;
		s->log[s->nlog++] = xstrdup(msg);
	}
}

static struct mtasts_ctx *
ctx_open(struct scen *s)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	size_t i;

	if (s->shared && s->ctx != NULL) {
		mtasts_ctx_set_now(ctx = s->ctx, s->now);
		return ctx;
	}
	if ((ctx = mtasts_ctx_new()) == NULL) {
		perror("mtasts_ctx_new");
		exit(2);
	}
	/* Never the host's default paths; a lock held is "busy" at once. */
	if (mtasts_ctx_set(ctx, "cache_dir", s->cache, &err) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "tlsrpt_dir", s->spool, &err) != MTASTS_OK ||
	    mtasts_ctx_set(ctx, "lock_wait", "0", &err) != MTASTS_OK) {
		fail(s, "context: %s", err.text);
		exit(1);
	}
	for (i = 0; i < s->nconf; i++)
		if (mtasts_ctx_set(ctx, s->conf_key[i], s->conf_val[i],
		    &err) != MTASTS_OK) {
			fail(s, "config %s: %s", s->conf_key[i], err.text);
			exit(1);
		}
	mtasts_ctx_set_log(ctx, logfn, s);
	mtasts_ctx_set_now(ctx, s->now);
	net_install(ctx);
	if (s->shared)
		s->ctx = ctx;
	return ctx;
}

static void
ctx_close(struct scen *s, struct mtasts_ctx *ctx)
{
	if (ctx != s->ctx)
		mtasts_ctx_free(ctx);
}

/* ---- the spool ---- */

static int
namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every line of every file of the spool, in file-name order; returns the
 * count, lines in *out (NULL: only count).
 */
static size_t
spool_lines(struct scen *s, char ***out)
{
	char *names[256], path[1200], buf[LINE_MAX_], **lines = NULL;
	size_t n = 0, nl = 0, i;
	struct dirent *de;
	FILE *f;
	DIR *d;

	if ((d = opendir(s->spool)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL && n < 256)
		if (de->d_name[0] != '.')
			names[n++] = xstrdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), namecmp);
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->spool, names[i]);
		free(names[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof(buf), f) != NULL) {
			buf[strcspn(buf, "\n")] = '\0';
			if (out != NULL) {
				lines = realloc(lines, (nl + 1) *
				    sizeof(*lines));
				if (lines == NULL)
					exit(2);
				lines[nl] = xstrdup(buf);
			}
			nl++;
		}
		fclose(f);
	}
	if (out != NULL)
		*out = lines;
	return nl;
}

static void
lines_free(char **lines, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

/* ---- parsing ---- */

/*
 * Split a line into words; "..." is one word with \" \\ \n \r \t
 * escapes. Stops at an unquoted #. Returns the count, -1 on error.
 */
static int
split(char *line, char **tok, int max)
{
	char *p = line, *w;
	int n = 0;

	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			return n;
		if (n == max)
			return -1;
		tok[n++] = w = p;
		if (*p == '"') {
			char *q = ++p;

			tok[n - 1] = w = q;
			while (*p != '"') {
				if (*p == '\0')
					return -1;
				if (*p == '\\' && p[1] != '\0') {
					p++;
					*q++ = *p == 'n' ? '\n' : *p == 'r' ?
					    '\r' : *p == 't' ? '\t' : *p;
					p++;
				} else
					*q++ = *p++;
			}
			p++;
			*q = '\0';
			if (*p != '\0' && !isspace((unsigned char)*p))
				return -1;
			if (*p != '\0')
				p++;
			continue;
		}
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
}

/* A decimal count, 0..LLONG_MAX; -1 when v is not one. */
static long long
number(const char *v)
{
	long long n;
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	return errno != 0 || *end != '\0' ? -1 : n;
}

/* "T0", "T0+N", "T0-N", "now", "now+N", "now-N" or seconds since 1970. */
static int
parse_time(struct scen *s, const char *v, time_t *out)
{
	const char *p = v;
	time_t base;
	long long n = 0;
	char *end;

	if (strncmp(p, "T0", 2) == 0) {
		base = s->t0;
		p += 2;
	} else if (strncmp(p, "now", 3) == 0) {
		base = s->now;
		p += 3;
	} else {
		errno = 0;
		n = strtoll(p, &end, 10);
		if (errno != 0 || end == p || *end != '\0')
			return -1;
		*out = (time_t)n;
		return 0;
	}
	if (*p == '\0') {
		*out = base;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -1;
	errno = 0;
	n = strtoll(p + 1, &end, 10);
	if (errno != 0 || end == p + 1 || *end != '\0' || n < 0)
		return -1;
	*out = *p == '+' ? base + (time_t)n : base - (time_t)n;
	return 0;
}

static void
time_text(struct scen *s, time_t t, char *buf, size_t size)
{
	if (t == 0)
		snprintf(buf, size, "0");
	else if (t >= s->t0)
		snprintf(buf, size, "T0+%lld", (long long)(t - s->t0));
	else
		snprintf(buf, size, "T0-%lld", (long long)(s->t0 - t));
}

static struct pol *
pol_get(struct scen *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->npol; i++)
		if (strcmp(s->pol[i].name, name) == 0)
			return &s->pol[i];
	return NULL;
}

/* "key=value": value, or NULL when w is not key=... */
static const char *
kv(const char *w, const char *key)
{
	size_t n = strlen(key);

	return strncmp(w, key, n) == 0 && w[n] == '=' ? w + n + 1 : NULL;
}

static const char *rc_name(int);

/* ---- commands ---- */

static char *
entry_path(struct scen *s, const char *domain, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s.json", s->cache, domain);
	return buf;
}

/*
 * cache <domain> [policy=<name>] [id=] [fetched=] [expires=]
 *     [txt_checked=] [txt_id=] [fail_at=] [fail_id=] [fail_type=]
 *     [fail_reason=]
 */
static void
cmd_cache(struct scen *s, char **tok, int n)
{
	struct mtasts_cache_entry e;
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	const char *v;
	struct pol *p = NULL;
	int i, have_exp = 0, have_tc = 0, have_tid = 0;

	if (n < 2) {
		fail(s, "cache: no domain");
		return;
	}
	memset(&e, 0, sizeof(e));
	mtasts_strlcpy(e.domain, tok[1], sizeof(e.domain));
	e.fetched_at = s->now;
	for (i = 2; i < n; i++) {
		if ((v = kv(tok[i], "policy")) != NULL) {
			if ((p = pol_get(s, v)) == NULL) {
				fail(s, "cache: no policy block %s", v);
				return;
			}
		} else if ((v = kv(tok[i], "id")) != NULL)
			mtasts_strlcpy(e.id, v, sizeof(e.id));
		else if ((v = kv(tok[i], "txt_id")) != NULL) {
			mtasts_strlcpy(e.txt_id, v, sizeof(e.txt_id));
			have_tid = 1;
		} else if ((v = kv(tok[i], "fail_id")) != NULL)
			mtasts_strlcpy(e.fail_id, v, sizeof(e.fail_id));
		else if ((v = kv(tok[i], "fail_type")) != NULL)
			mtasts_strlcpy(e.fail_type, v, sizeof(e.fail_type));
		else if ((v = kv(tok[i], "fail_reason")) != NULL)
			mtasts_strlcpy(e.fail_reason, v,
			    sizeof(e.fail_reason));
		else if ((v = kv(tok[i], "fetched")) != NULL) {
			if (parse_time(s, v, &e.fetched_at) != 0)
				goto bad;
		} else if ((v = kv(tok[i], "expires")) != NULL) {
			if (parse_time(s, v, &e.expires_at) != 0)
				goto bad;
			have_exp = 1;
		} else if ((v = kv(tok[i], "txt_checked")) != NULL) {
			if (parse_time(s, v, &e.txt_checked_at) != 0)
				goto bad;
			have_tc = 1;
		} else if ((v = kv(tok[i], "fail_at")) != NULL) {
			if (parse_time(s, v, &e.fail_at) != 0)
				goto bad;
		} else
			goto bad;
	}
	if (p != NULL && mtasts_policy_parse(p->text, strlen(p->text),
	    &e.policy, &err) != MTASTS_OK) {
		fail(s, "cache: policy %s: %s", p->name, err.text);
		return;
	}
	if (e.policy != NULL && !have_exp)
		e.expires_at = e.fetched_at +
		    (time_t)mtasts_policy_max_age(e.policy);
	if (!have_tc)
		e.txt_checked_at = e.fetched_at;
	if (!have_tid)
		mtasts_strlcpy(e.txt_id, e.id, sizeof(e.txt_id));
	/* Written by "another process": never the shared context. */
	i = s->shared;
	s->shared = 0;
	ctx = ctx_open(s);
	s->shared = i;
	if (mtasts_cache_store(ctx, &e, &err) != MTASTS_OK)
		fail(s, "cache: store: %s", err.text);
	mtasts_ctx_free(ctx);
	mtasts_policy_free(e.policy);
	return;
bad:
	fail(s, "cache: bad word %s", tok[i]);
	mtasts_policy_free(e.policy);
}

static int
write_file(const char *path, const char *data, size_t len)
{
	int fd, ok;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0660)) == -1)
		return -1;
	ok = write(fd, data, len) == (ssize_t)len;
	return close(fd) == 0 && ok ? 0 : -1;
}

/*
 * cache-file <domain> truncated|garbage|empty|directory|fifo|symlink|
 *     oversize|world-writable|missing
 */
static void
cmd_cache_file(struct scen *s, char **tok, int n)
{
	char path[1200], other[1300], *buf = NULL;
	struct stat st;
	const char *how;
	size_t len = 0;
	FILE *f;
	int rc = 0;

	if (n != 3) {
		fail(s, "cache-file: <domain> <how>");
		return;
	}
	entry_path(s, tok[1], path, sizeof(path));
	how = tok[2];
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (f = fopen(path, "r")) != NULL) {
		buf = xmalloc((size_t)st.st_size + 1);
		len = fread(buf, 1, (size_t)st.st_size, f);
		fclose(f);
	}
	if (strcmp(how, "world-writable") == 0) {
		if (chmod(path, 0666) != 0)
			rc = -1;
		goto out;
	}
	(void)unlink(path);
	(void)rmdir(path);
	if (strcmp(how, "missing") == 0)
		;
	else if (strcmp(how, "truncated") == 0)
		rc = buf == NULL ? -1 : write_file(path, buf, len / 2);
	else if (strcmp(how, "garbage") == 0)
		rc = write_file(path, "this is not JSON\n", 17);
	else if (strcmp(how, "empty") == 0)
		rc = write_file(path, "", 0);
	else if (strcmp(how, "directory") == 0)
		rc = mkdir(path, 0770);
	else if (strcmp(how, "fifo") == 0)
		rc = mkfifo(path, 0660);
	else if (strcmp(how, "symlink") == 0) {
		snprintf(other, sizeof(other), "%s/elsewhere", s->cache);
		rc = buf == NULL ? -1 : write_file(other, buf, len);
		if (rc == 0)
			rc = symlink("elsewhere", path);
	} else if (strcmp(how, "oversize") == 0) {
		size_t big = 10 * 1024 * 1024;
		char *o;

		if (buf == NULL || len < 2)
			rc = -1;
		else {
			o = xmalloc(big + len);
			memcpy(o, buf, len - 2);
			memset(o + len - 2, ' ', big);
			memcpy(o + len - 2 + big, "}\n", 2);
			rc = write_file(path, o, len + big);
			free(o);
		}
	} else {
		fail(s, "cache-file: unknown damage %s", how);
		free(buf);
		return;
	}
out:
	if (rc != 0)
		fail(s, "cache-file %s %s: %s", tok[1], how, buf == NULL ?
		    "no entry file to damage" : strerror(errno));
	free(buf);
}

/* txt <domain> record "..." [record "..."] [secure] | nxdomain | ... */
static void
cmd_txt(struct scen *s, char **tok, int n)
{
	static const struct {
		const char *name;
		int kind;
	} kinds[] = {
		{ "nxdomain", TXT_NXDOMAIN }, { "nodata", TXT_NODATA },
		{ "servfail", TXT_SERVFAIL }, { "timeout", TXT_TIMEOUT },
		{ "refused", TXT_REFUSED }, { "nomem", TXT_NOMEM },
		{ "bogus", TXT_BOGUS },
	};
	struct dom *d;
	size_t k;
	int i;

	if (n < 3) {
		fail(s, "txt: <domain> <answer>");
		return;
	}
	d = dom_get(s, tok[1], 1);
	dom_clear_txt(d);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (n == 3 && strcmp(tok[2], kinds[k].name) == 0) {
			d->txt = kinds[k].kind;
			return;
		}
	d->txt = TXT_RECORDS;
	for (i = 2; i < n; i++) {
		if (strcmp(tok[i], "secure") == 0)
			d->secure = 1;
		else if (strcmp(tok[i], "bogus") == 0)
			d->txt = TXT_BOGUS_RECORDS;
		else if (strcmp(tok[i], "record") == 0 && i + 1 < n &&
		    d->nrr < RR_MAX && strlen(tok[i + 1]) <= 255)
			d->rr[d->nrr++] = xstrdup(tok[++i]);
		else {
			fail(s, "txt: bad word %s", tok[i]);
			return;
		}
	}
}

/* fetch <domain> 200 <policy> | http <N> | tls "<why>" | timeout | ... */
static void
cmd_fetch(struct scen *s, char **tok, int n)
{
	struct dom *d;
	struct pol *p;

	if (n < 3) {
		fail(s, "fetch: <domain> <answer>");
		return;
	}
	d = dom_get(s, tok[1], 1);
	free(d->why);
	d->why = NULL;
	if (strcmp(tok[2], "200") == 0 && n == 4) {
		if ((p = pol_get(s, tok[3])) == NULL) {
			fail(s, "fetch: no policy block %s", tok[3]);
			return;
		}
		d->fetch = FETCH_BODY;
		d->body = p->text;
	} else if (strcmp(tok[2], "http") == 0 && n == 4) {
		d->fetch = FETCH_HTTP;
		if ((d->status = (int)number(tok[3])) < 100 ||
		    d->status > 599)
			fail(s, "fetch http: a status 100..599");
	} else if (strcmp(tok[2], "tls") == 0 && n <= 4) {
		d->fetch = FETCH_TLS;
		d->why = xstrdup(n == 4 ? tok[3] :
		    "certificate verify failed");
	} else if (strcmp(tok[2], "invalid") == 0 && n <= 4) {
		d->fetch = FETCH_INVALID;
		d->why = xstrdup(n == 4 ? tok[3] :
		    "body larger than 65536 bytes");
	} else if (strcmp(tok[2], "local") == 0 && n <= 4) {
		d->fetch = FETCH_LOCAL;
		d->why = xstrdup(n == 4 ? tok[3] :
		    "configuration: ca_file: cannot be loaded");
	} else if (strcmp(tok[2], "timeout") == 0 && n == 3)
		d->fetch = FETCH_TIMEOUT;
	else if (strcmp(tok[2], "nomem") == 0 && n == 3)
		d->fetch = FETCH_NOMEM;
	else if (strcmp(tok[2], "refused") == 0 && n == 3)
		d->fetch = FETCH_UNSET;
	else
		fail(s, "fetch: bad answer %s", tok[2]);
}

/*
 * lock <domain> / unlock <domain>: "another process" holds the domain's
 * cache lock (it is fetching right now) until unlock.
 */
static void
cmd_lock(struct scen *s, char **tok, int n)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	struct dom *d;
	int i;

	if (n != 2) {
		fail(s, "%s <domain>", tok[0]);
		return;
	}
	d = dom_get(s, tok[1], 1);
	if (strcmp(tok[0], "unlock") == 0) {
		if (d->lockfd == -1)
			fail(s, "unlock %s: not locked", tok[1]);
		else
			mtasts_cache_unlock(d->lockfd);
		d->lockfd = -1;
		return;
	}
	if (d->lockfd != -1) {
		fail(s, "lock %s: already locked", tok[1]);
		return;
	}
	i = s->shared;
	s->shared = 0;
	ctx = ctx_open(s);
	s->shared = i;
	if (mtasts_cache_lock(ctx, tok[1], 0, &d->lockfd, &err) !=
	    MTASTS_OK) {
		fail(s, "lock %s: %s", tok[1], err.text);
		d->lockfd = -1;
	}
	mtasts_ctx_free(ctx);
}

static void
lookup_clear(struct scen *s)
{
	size_t i;

	/* A lookup that was not answered must be expected so. */
	if (s->looked && s->rc != MTASTS_OK && !s->rc_checked) {
		int line = s->line;

		s->line = s->rc_line;
		fail(s, "lookup returned %s (%s) and no expect rc followed",
		    rc_name(s->rc), s->err);
		s->line = line;
	}

	mtasts_result_free(s->res);
	s->res = NULL;
	for (i = 0; i < s->nlog; i++)
		free(s->log[i]);
	s->nlog = 0;
	s->looked = 0;
}

/* lookup <domain> [cache-only] [force-fetch] */
static void
cmd_lookup(struct scen *s, char **tok, int n)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	unsigned flags = 0;
	int i;

	if (n < 2) {
		fail(s, "lookup: no domain");
		return;
	}
	for (i = 2; i < n; i++)
		if (strcmp(tok[i], "cache-only") == 0)
			flags |= MTASTS_LOOKUP_CACHE_ONLY;
		else if (strcmp(tok[i], "force-fetch") == 0)
			flags |= MTASTS_LOOKUP_FORCE_FETCH;
		else {
			fail(s, "lookup: bad flag %s", tok[i]);
			return;
		}
	lookup_clear(s);
	s->spool_before = spool_lines(s, NULL);
	s->queries = s->fetches = 0;
	s->qname[0] = '\0';
	ctx = ctx_open(s);
	s->rc = mtasts_lookup(ctx, tok[1], flags, &s->res, &err);
	s->rc_checked = 0;
	s->rc_line = s->line;
	mtasts_strlcpy(s->err, err.text, sizeof(s->err));
	ctx_close(s, ctx);
	s->looked = 1;
	if (s->verbose)
		fprintf(stderr, "%s:%d: lookup %s: rc %s status %d\n",
		    s->file, s->line, tok[1], mtasts_strerror(s->rc),
		    s->res != NULL ? mtasts_result_status(s->res) : -1);
}

static const char *
status_name(int st)
{
	return st == MTASTS_LOOKUP_POLICY ? "policy" :
	    st == MTASTS_LOOKUP_TEMPFAIL ? "tempfail" :
	    st == MTASTS_LOOKUP_NONE ? "none" : "?";
}

static const char *
source_name(int src)
{
	return src == MTASTS_SOURCE_CACHE ? "cache" :
	    src == MTASTS_SOURCE_FETCHED ? "fetched" :
	    src == MTASTS_SOURCE_NONE ? "none" : "?";
}

static const char *
rc_name(int rc)
{
	switch (rc) {
	case MTASTS_OK:
		return "ok";
	case MTASTS_INVALID:
		return "invalid";
	case MTASTS_NOMEM:
		return "nomem";
	case MTASTS_ERROR:
		return "error";
	default:
		return mtasts_strerror(rc);
	}
}

static void
expect_str(struct scen *s, const char *what, const char *want,
    const char *got)
{
	if (got == NULL)
		got = "none";
	if (strcmp(want, got) != 0)
		fail(s, "expect %s %s: got %s", what, want, got);
}

/* The mx patterns of a policy, comma-separated. */
static void
mx_text(const struct mtasts_policy *p, char *buf, size_t size)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; p != NULL && i < mtasts_policy_mx_count(p); i++) {
		size_t l = strlen(buf);

		snprintf(buf + l, size - l, "%s%s", i > 0 ? "," : "",
		    mtasts_policy_mx(p, i));
	}
}

/*
 * expect cache <domain> absent | unusable | negative [k=v ...] |
 *     policy [k=v ...]
 */
static void
expect_cache(struct scen *s, char **tok, int n)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e = NULL;
	struct mtasts_ctx *ctx;
	char buf[MTASTS_REASON_MAX], tb[64];
	const char *state, *v;
	time_t t;
	int rc, i;

	if (n < 4) {
		fail(s, "expect cache <domain> <state> ...");
		return;
	}
	/* A fresh context: what is on disk, not what a memo remembers. */
	i = s->shared;
	s->shared = 0;
	ctx = ctx_open(s);
	s->shared = i;
	rc = mtasts_cache_load(ctx, tok[2], &e, &err);
	mtasts_ctx_free(ctx);
	state = rc == MTASTS_NOTFOUND ? "absent" :
	    rc == MTASTS_CACHE_UNUSABLE ? "unusable" :
	    rc != MTASTS_OK ? "error" :
	    e->policy == NULL ? "negative" : "policy";
	if (strcmp(state, tok[3]) != 0) {
		fail(s, "expect cache %s %s: got %s%s%s", tok[2], tok[3],
		    state, err.text[0] ? ": " : "", err.text);
		goto out;
	}
	for (i = 4; i < n && e != NULL; i++) {
		if ((v = kv(tok[i], "id")) != NULL)
			expect_str(s, "cache id", v, e->id);
		else if ((v = kv(tok[i], "txt_id")) != NULL)
			expect_str(s, "cache txt_id", v, e->txt_id);
		else if ((v = kv(tok[i], "mode")) != NULL)
			expect_str(s, "cache mode", v, e->policy == NULL ?
			    "none" : mtasts_mode_name(mtasts_policy_mode(
			    e->policy)));
		else if ((v = kv(tok[i], "mx")) != NULL) {
			mx_text(e->policy, buf, sizeof(buf));
			expect_str(s, "cache mx", v, buf);
		} else if ((v = kv(tok[i], "fail_id")) != NULL)
			expect_str(s, "cache fail_id", v, e->fail_id[0] ?
			    e->fail_id : "none");
		else if ((v = kv(tok[i], "fail_type")) != NULL)
			expect_str(s, "cache fail_type", v, e->fail_type[0] ?
			    e->fail_type : "none");
		else if ((v = kv(tok[i], "fetched")) != NULL ||
		    (v = kv(tok[i], "expires")) != NULL ||
		    (v = kv(tok[i], "txt_checked")) != NULL ||
		    (v = kv(tok[i], "fail_at")) != NULL) {
			time_t have = tok[i][0] == 'e' ? e->expires_at :
			    tok[i][0] == 't' ? e->txt_checked_at :
			    tok[i][1] == 'a' ? e->fail_at : e->fetched_at;

			if (strcmp(v, "0") == 0)
				t = 0;
			else if (parse_time(s, v, &t) != 0) {
				fail(s, "expect cache: bad time %s", tok[i]);
				continue;
			}
			if (have != t) {
				time_text(s, have, tb, sizeof(tb));
				fail(s, "expect cache %s: got %s", tok[i], tb);
			}
		} else
			fail(s, "expect cache: bad word %s", tok[i]);
	}
out:
	mtasts_cache_entry_free(e);
}

static void
expect_spool(struct scen *s, char **tok, int n)
{
	char **lines = NULL;
	size_t nl, i, found = 0;

	nl = spool_lines(s, &lines);
	if (strcmp(tok[1], "spool") == 0 && n == 3) {
		if (number(tok[2]) != (long long)(nl - s->spool_before))
			fail(s, "expect spool %s: got %zu new line(s)", tok[2],
			    nl - s->spool_before);
	} else if (n == 3) {
		/* spool-line <text>: a new line holds it */
		for (i = s->spool_before; i < nl; i++)
			if (strstr(lines[i], tok[2]) != NULL)
				found++;
		if (found == 0)
			fail(s, "expect spool-line \"%s\": in none of %zu "
			    "new line(s)%s%s", tok[2], nl - s->spool_before,
			    nl > s->spool_before ? ", e.g. " : "",
			    nl > s->spool_before ? lines[nl - 1] : "");
	} else
		fail(s, "expect %s: one argument", tok[1]);
	lines_free(lines, nl);
}

static void
expect_log(struct scen *s, char **tok, int n)
{
	static const char *const lv[] = { "err", "warn", "info", "debug" };
	size_t i;
	int level = -1, k;

	if (n != 4) {
		fail(s, "expect log <err|warn|info|debug|any|no-err> <text>");
		return;
	}
	for (k = 0; k < 4; k++)
		if (strcmp(tok[2], lv[k]) == 0)
			level = k;
	if (strcmp(tok[2], "no-err") == 0) {
		for (i = 0; i < s->nlog; i++)
			if (s->loglevel[i] == MTASTS_LOG_ERR &&
			    strstr(s->log[i], tok[3]) != NULL)
				fail(s, "expect log no-err \"%s\": logged %s",
				    tok[3], s->log[i]);
		return;
	}
	if (level < 0 && strcmp(tok[2], "any") != 0) {
		fail(s, "expect log: bad level %s", tok[2]);
		return;
	}
	for (i = 0; i < s->nlog; i++)
		if ((level < 0 || s->loglevel[i] == level) &&
		    strstr(s->log[i], tok[3]) != NULL)
			return;
	fail(s, "expect log %s \"%s\": not logged (%zu line(s))", tok[2],
	    tok[3], s->nlog);
}

static void
cmd_expect(struct scen *s, char **tok, int n)
{
	const struct mtasts_result *r = s->res;
	const char *what = n > 1 ? tok[1] : "", *v = n > 2 ? tok[2] : "";
	char buf[MTASTS_REASON_MAX], tb[64];
	time_t t;

	if (n < 3) {
		fail(s, "expect: what?");
		return;
	}
	if (strcmp(what, "cache") == 0) {
		expect_cache(s, tok, n);
		return;
	}
	if (!s->looked) {
		fail(s, "expect %s before any lookup", what);
		return;
	}
	if (strncmp(what, "spool", 5) == 0) {
		expect_spool(s, tok, n);
		return;
	}
	if (strcmp(what, "log") == 0) {
		expect_log(s, tok, n);
		return;
	}
	if (n != 3) {
		fail(s, "expect %s: one argument", what);
		return;
	}
	if (strcmp(what, "rc") == 0) {
		s->rc_checked = 1;
		expect_str(s, "rc", v, rc_name(s->rc));
		return;
	}
	if (strcmp(what, "error") == 0) {
		if (strstr(s->err, v) == NULL)
			fail(s, "expect error \"%s\": got \"%s\"", v, s->err);
		return;
	}
	if (strcmp(what, "queries") == 0 || strcmp(what, "fetches") == 0) {
		int have = what[0] == 'q' ? s->queries : s->fetches;

		if (number(v) != have)
			fail(s, "expect %s %s: got %d", what, v, have);
		return;
	}
	if (strcmp(what, "qname") == 0) {
		expect_str(s, "qname", v, s->qname[0] ? s->qname : "none");
		return;
	}
	if (r == NULL) {
		fail(s, "expect %s: the lookup returned %s (%s), no result",
		    what, rc_name(s->rc), s->err);
		return;
	}
	if (strcmp(what, "status") == 0)
		expect_str(s, "status", v,
		    status_name(mtasts_result_status(r)));
	else if (strcmp(what, "source") == 0)
		expect_str(s, "source", v,
		    source_name(mtasts_result_source(r)));
	else if (strcmp(what, "failure") == 0)
		expect_str(s, "failure", v, mtasts_result_failure_type(r));
	else if (strcmp(what, "reason") == 0) {
		const char *fr = mtasts_result_failure_reason(r);

		if (fr == NULL || strstr(fr, v) == NULL)
			fail(s, "expect reason \"%s\": got \"%s\"", v,
			    fr != NULL ? fr : "");
	} else if (strcmp(what, "id") == 0)
		expect_str(s, "id", v, mtasts_result_id(r));
	else if (strcmp(what, "mode") == 0)
		expect_str(s, "mode", v, mtasts_result_policy(r) == NULL ?
		    "nopolicy" : mtasts_mode_name(mtasts_policy_mode(
		    mtasts_result_policy(r))));
	else if (strcmp(what, "mx") == 0) {
		mx_text(mtasts_result_policy(r), buf, sizeof(buf));
		expect_str(s, "mx", v, buf);
	} else if (strcmp(what, "dnssec") == 0)
		expect_str(s, "dnssec", v, mtasts_result_txt_dnssec(r));
	else if (strcmp(what, "expires") == 0) {
		if (strcmp(v, "0") == 0)
			t = 0;
		else if (parse_time(s, v, &t) != 0) {
			fail(s, "expect expires: bad time %s", v);
			return;
		}
		if (mtasts_result_expires(r) != t) {
			time_text(s, mtasts_result_expires(r), tb, sizeof(tb));
			fail(s, "expect expires %s: got %s", v, tb);
		}
	} else
		fail(s, "expect: unknown %s", what);
}

/* policy <name> ... end: the lines between, each ended by "\n". */
static int
read_policy(struct scen *s, FILE *f, char **tok, int n)
{
	char line[LINE_MAX_], *text = NULL;
	size_t len = 0, l;
	const char *eol = "\n";
	struct pol *p;

	if (n < 2 || n > 3 || (n == 3 && strcmp(tok[2], "crlf") != 0) ||
	    s->npol == POL_MAX || pol_get(s, tok[1]) != NULL) {
		fail(s, "policy <name> [crlf] (unique, at most %d)", POL_MAX);
		return -1;
	}
	if (n == 3)
		eol = "\r\n";
	p = &s->pol[s->npol++];
	mtasts_strlcpy(p->name, tok[1], sizeof(p->name));
	text = xstrdup("");
	while (fgets(line, sizeof(line), f) != NULL) {
		s->line++;
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "end") == 0) {
			p->text = text;
			return 0;
		}
		l = strlen(line);
		if ((text = realloc(text, len + l + 3)) == NULL)
			exit(2);
		memcpy(text + len, line, l);
		memcpy(text + len + l, eol, strlen(eol) + 1);
		len += l + strlen(eol);
	}
	free(text);
	p->text = xstrdup("");
	fail(s, "policy %s: no end line", tok[1]);
	return -1;
}

static void
rmrf(const char *dir)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int
run_file(const char *file, int verbose)
{
	struct scen *s;
	char line[LINE_MAX_], *tok[TOK_MAX];
	const char *tmp = getenv("TMPDIR");
	size_t i;
	FILE *f;
	int n, fails;
	long long adv;

	if ((f = fopen(file, "r")) == NULL) {
		perror(file);
		return 1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		exit(2);
	cur = s;
	s->file = file;
	s->verbose = verbose;
	s->t0 = s->now = 1700000000;
	snprintf(s->top, sizeof(s->top), "%s/mtasts-replay-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(s->top) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(s->cache, sizeof(s->cache), "%s/cache", s->top);
	snprintf(s->spool, sizeof(s->spool), "%s/spool", s->top);
	if (mkdir(s->cache, 02770) != 0 || chmod(s->cache, 02770) != 0 ||
	    mkdir(s->spool, 0770) != 0) {
		perror(s->top);
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		s->line++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			fail(s, "line too long");
			break;
		}
		line[strcspn(line, "\n")] = '\0';
		if ((n = split(line, tok, TOK_MAX)) < 0) {
			fail(s, "cannot split the line (quotes?)");
			continue;
		}
		if (n == 0)
			continue;
		if (strcmp(tok[0], "clock") == 0 && n == 2) {
			time_t t;

			if (!s->t0_set && strncmp(tok[1], "T0", 2) != 0 &&
			    strncmp(tok[1], "now", 3) != 0) {
				if (parse_time(s, tok[1], &t) != 0)
					fail(s, "clock: bad time");
				else
					s->t0 = s->now = t;
				s->t0_set = 1;
			} else if (parse_time(s, tok[1], &s->now) != 0)
				fail(s, "clock: bad time");
		} else if (strcmp(tok[0], "advance") == 0 && n == 2) {
			if ((adv = number(tok[1])) < 0)
				fail(s, "advance: seconds");
			else
				s->now += (time_t)adv;
		} else if (strcmp(tok[0], "config") == 0 && n == 3) {
			if (s->nconf == 32)
				fail(s, "config: too many");
			else {
				s->conf_key[s->nconf] = xstrdup(tok[1]);
				s->conf_val[s->nconf++] = xstrdup(tok[2]);
			}
		} else if (strcmp(tok[0], "context") == 0 && n == 2 &&
		    (strcmp(tok[1], "shared") == 0 ||
		    strcmp(tok[1], "fresh") == 0)) {
			if (s->ctx != NULL) {
				mtasts_ctx_free(s->ctx);
				s->ctx = NULL;
			}
			s->shared = tok[1][0] == 's';
		} else if (strcmp(tok[0], "cache-dir") == 0 && n == 2 &&
		    strcmp(tok[1], "world-writable") == 0) {
			if (chmod(s->cache, 0777) != 0)
				fail(s, "cache-dir: %s", strerror(errno));
		} else if (strcmp(tok[0], "cache-dir") == 0 && n == 2 &&
		    strcmp(tok[1], "ok") == 0) {
			if (chmod(s->cache, 02770) != 0)
				fail(s, "cache-dir: %s", strerror(errno));
		} else if (strcmp(tok[0], "policy") == 0)
			read_policy(s, f, tok, n);
		else if (strcmp(tok[0], "cache") == 0)
			cmd_cache(s, tok, n);
		else if (strcmp(tok[0], "cache-file") == 0)
			cmd_cache_file(s, tok, n);
		else if (strcmp(tok[0], "txt") == 0)
			cmd_txt(s, tok, n);
		else if (strcmp(tok[0], "fetch") == 0)
			cmd_fetch(s, tok, n);
		else if (strcmp(tok[0], "lock") == 0 ||
		    strcmp(tok[0], "unlock") == 0)
			cmd_lock(s, tok, n);
		else if (strcmp(tok[0], "lookup") == 0)
			cmd_lookup(s, tok, n);
		else if (strcmp(tok[0], "expect") == 0)
			cmd_expect(s, tok, n);
		else
			fail(s, "unknown command %s (%d word(s))", tok[0], n);
	}
	fclose(f);
	lookup_clear(s);
	if (s->ctx != NULL)
		mtasts_ctx_free(s->ctx);
	for (i = 0; i < s->ndom; i++) {
		if (s->dom[i].lockfd != -1)
			mtasts_cache_unlock(s->dom[i].lockfd);
		dom_clear_txt(&s->dom[i]);
		free(s->dom[i].why);
	}
	for (i = 0; i < s->npol; i++)
		free(s->pol[i].text);
	for (i = 0; i < s->nconf; i++) {
		free(s->conf_key[i]);
		free(s->conf_val[i]);
	}
	(void)chmod(s->cache, 0700);
	rmrf(s->top);
	fails = s->fails;
	fflush(stderr);
	printf("%s: %s\n", file, fails == 0 ? "ok" : "FAILED");
	fflush(stdout);
	free(s);
	cur = NULL;
	return fails != 0;
}

int
main(int argc, char **argv)
{
	int i = 1, verbose = 0, bad = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		i++;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: replay [-v] scenario.scn ...\n");
		return 2;
	}
	for (; i < argc; i++)
		bad += run_file(argv[i], verbose);
	return bad != 0;
}
