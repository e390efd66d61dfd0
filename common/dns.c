/* SPDX-License-Identifier: ISC */
/*
 * dns.c - the per-process libunbound resolver: queries under a hard
 * deadline, TXT decoding, address and MX look-ups.
 *
 * One ub_ctx per process, made on the first query (a cache hit never
 * creates it), in thread mode: fork mode would leave a resolver child
 * process inside the MTA. Queries go through ub_resolve_async so that a
 * poll() on ub_fd() bounds every call by its deadline whatever the
 * upstream does; an unfinished query is ub_cancel()ed, after which
 * libunbound frees its result itself and never calls us back.
 *
 * Exim forks a process per delivery: the ub_ctx records its creator's pid
 * and a child abandons (never deletes) the parent's context, whose worker
 * thread does not exist in the child, and makes its own.
 *
 * We always forward (configured resolvers, else /etc/resolv.conf), never
 * recurse from the root hints. See docs/decisions.md D-DNS-*.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <unbound.h>

#include "mtasts_internal.h"

#define DNS_CLASS_IN 1
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_TYPE_A 1
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28
/* A repeated D-DNSSEC-1 warning is loud at most this often per host. */
#define DNS_NOTE_INTERVAL_S 3600

#define DNS_TYPE_DNSKEY 48
/* Trust anchor owner names checked (D-DNSSEC-1); more are not looked at. */
#define DNS_ANCHORS_MAX 4
/* At most this much of the first query's deadline goes to the check. */
#define DNS_PROBE_MAX_MS 2000
/*
 * D-DNSSEC-5: a chain-of-trust verdict (working, or switched off under
 * dnssec = auto) is shared by the processes of the host through
 * <cache_dir>/.note-dnssec-verdict for this long.
 */
#define DNS_VERDICT_NOTE "dnssec-verdict"
#define DNS_VERDICT_TTL_S 300
#define DNS_VERDICT_MAX 512

struct mtasts_dns {
	struct ub_ctx *ub;
	pid_t pid;		/* creator: only it may ub_ctx_delete */
	int started;		/* worker thread exists */
	int state;		/* enum mtasts_dnssec_state */
	int64_t probed_ms;	/* last chain-of-trust check (BROKEN) */
	char why[400];		/* the state, explained */
};

/* One outstanding query; lives on the caller's stack. */
struct dns_pending {
	const char *qname;
	int rrtype;
	int async_id;
	int submitted;		/* ub_resolve_async accepted it */
	int done;		/* callback ran */
	int ub_err;		/* callback's err, or submission failure */
	struct ub_result *res;	/* owned until dns_fill() frees it */
};

static const char *
dns_type_name(int t)
{
	switch (t) {
	case DNS_TYPE_A:
		return "A";
	case DNS_TYPE_MX:
		return "MX";
	case 16:
		return "TXT";
	case DNS_TYPE_AAAA:
		return "AAAA";
	default:
		return "other";
	}
}

static int
ub_fail(struct mtasts_error *err, const char *what, int r)
{
	return mtasts_err(err, r == UB_NOMEM ? MTASTS_NOMEM : MTASTS_ERROR,
	    "resolver: %s: %s", what, ub_strerror(r));
}

/* Can we open path for reading (as the effective user)? */
static int
readable(const char *path)
{
	int fd;

	if (path[0] == '\0')
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	close(fd);
	return 1;
}

/*
 * Whether the resolver is to validate: 1, 0, or -1 with err set (dnssec =
 * on and the anchor cannot be read). why explains a 0.
 */
static int
dns_want_dnssec(struct mtasts_ctx *ctx, char *why, size_t whysize,
    struct mtasts_error *err)
{
	const struct mtasts_config *c = &ctx->cfg;

	if (c->dnssec == 0) {
		snprintf(why, whysize, "dnssec = off");
		return 0;
	}
	if (readable(c->trust_anchor_file))
		return 1;
	if (c->dnssec == 1) {
		mtasts_err(err, MTASTS_ERROR,
		    "resolver: dnssec is on but trust anchor file \"%.80s\" "
		    "cannot be read", c->trust_anchor_file);
		return -1;
	}
	snprintf(why, whysize, "dnssec = auto and trust anchor %.200s not "
	    "readable", c->trust_anchor_file);
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: trust anchor %s not readable, "
	    "DNSSEC validation off", c->trust_anchor_file);
	return 0;
}

static int
dns_configure(struct mtasts_ctx *ctx, struct ub_ctx *ub, int dnssec,
    struct mtasts_error *err)
{
	const struct mtasts_config *c = &ctx->cfg;
	char zone[80];
	size_t i;
	int r;

	if ((r = ub_ctx_async(ub, 1)) != 0)
		return ub_fail(err, "async", r);
	/*
	 * libunbound logs its errors to stderr by default; the library
	 * never prints (stderr may be an SMTP session or a bounce). A NULL
	 * stream silences it (libunbound's log state is process-wide).
	 */
	if ((r = ub_ctx_debugout(ub, NULL)) != 0)
		return ub_fail(err, "debugout", r);
	/*
	 * libunbound's library defaults already allow loopback forwarders
	 * (config_create_forlib sets do-not-query-localhost to no, unlike
	 * the daemon); say so explicitly so a future default cannot break
	 * the common "local unbound on 127.0.0.1" setup. Safe because we
	 * only ever forward.
	 */
	if ((r = ub_ctx_set_option(ub, "do-not-query-localhost:", "no")) != 0)
		return ub_fail(err, "do-not-query-localhost", r);
	for (i = 0; i < c->nspecial_zones; i++) {
		/*
		 * RFC 6761 names (test., invalid., onion., ...) are served by
		 * libunbound as static NXDOMAIN zones. "nodefault" cannot be
		 * used through ub_ctx_set_option (its parser stores the whole
		 * "zone nodefault" string as the zone name, 1.17 and HEAD); a
		 * user zone of type transparent with no data also suppresses
		 * the default zone and resolves normally.
		 */
		if (snprintf(zone, sizeof(zone), "%s. transparent",
		    c->special_zones[i]) >= (int)sizeof(zone))
			return mtasts_err(err, MTASTS_ERROR,
			    "resolver: zone name too long");
		if ((r = ub_ctx_set_option(ub, "local-zone:", zone)) != 0)
			return ub_fail(err, "local-zone", r);
	}
	if (dnssec) {
		/*
		 * A static anchor, not RFC 5011 (ub_ctx_add_ta_autr): autr
		 * rewrites the file, which the MTA user usually cannot and
		 * which many processes would race on; the distribution's
		 * package (dns-root-data) keeps the file current.
		 */
		if ((r = ub_ctx_add_ta_file(ub, c->trust_anchor_file)) != 0)
			return ub_fail(err, "trust anchor", r);
	} else if ((r = ub_ctx_set_option(ub, "module-config:",
	    "iterator")) != 0)
		return ub_fail(err, "module-config", r);
	for (i = 0; i < c->nresolvers; i++)
		if ((r = ub_ctx_set_fwd(ub, c->resolvers[i])) != 0)
			return ub_fail(err, "forwarder", r);
	if (c->nresolvers == 0 && (r = ub_ctx_resolvconf(ub, NULL)) != 0) {
		if (r != UB_READFILE)
			return ub_fail(err, "/etc/resolv.conf", r);
		/* resolv.conf(5): without the file, the local server. */
		mtasts_log(ctx, MTASTS_LOG_DEBUG,
		    "dns: /etc/resolv.conf unreadable, using 127.0.0.1");
		if ((r = ub_ctx_set_fwd(ub, "127.0.0.1")) != 0)
			return ub_fail(err, "forwarder", r);
	}
	mtasts_log(ctx, MTASTS_LOG_DEBUG,
	    "dns: resolver created (pid %ld, dnssec %s, %zu forwarders)",
	    (long)getpid(), dnssec ? "on" : "off", c->nresolvers);
	return MTASTS_OK;
}

static void
dns_cb(void *arg, int ub_err, struct ub_result *res)
{
	struct dns_pending *p = arg;

	/* We own res now (ub_resolve_free in dns_fill). */
	p->done = 1;
	p->ub_err = ub_err;
	p->res = res;
}

/*
 * The first query starts libunbound's worker thread, which inherits our
 * signal mask and does not block signals itself: block them all while
 * it is created, so the MTA's process-directed signals (SIGALRM for I/O
 * timeouts, SIGCHLD, SIGTERM) always reach the MTA's own threads and a
 * SIGPIPE raised by the worker cannot kill the MTA.
 */
static int
dns_submit(struct mtasts_dns *d, struct dns_pending *q)
{
	sigset_t all, old;
	int r, masked = 0;

	if (!d->started) {
		sigfillset(&all);
		masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
	}
	r = ub_resolve_async(d->ub, q->qname, q->rrtype, DNS_CLASS_IN, q,
	    dns_cb, &q->async_id);
	if (masked)
		(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		d->started = 1;
	return r;
}

/*
 * Submit the nq queries to d and wait for all of them, at most
 * deadline_ms. Unanswered queries are cancelled. Returns MTASTS_OK or an
 * error for a query libunbound refuses (a set-up failure).
 */
static int
dns_wait(struct mtasts_ctx *ctx, struct mtasts_dns *d, struct dns_pending *q,
    size_t nq, int deadline_ms, struct mtasts_error *err)
{
	struct ub_ctx *ub = d->ub;
	int64_t end;
	size_t i, left = 0;
	int r, rc = MTASTS_OK, broken = 0;

	end = mtasts_mono_ms() + deadline_ms;
	for (i = 0; i < nq; i++) {
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: query %s %s",
		    q[i].qname, dns_type_name(q[i].rrtype));
		r = dns_submit(d, &q[i]);
		if (r != 0) {
			/* Failures here are set-up failures (finalize). */
			rc = ub_fail(err, "resolve", r);
			goto cancel;
		}
		q[i].submitted = 1;
		left++;
	}
	while (left > 0) {
		struct pollfd pfd;
		int64_t wait = end - mtasts_mono_ms();

		if (wait <= 0)
			break;
		pfd.fd = ub_fd(ub);
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, (int)wait);
		if (r == -1 && errno != EINTR) {
			broken = UB_PIPE;
			break;
		}
		if (r <= 0)
			continue;
		if ((broken = ub_process(ub)) != 0)
			break;
		for (left = 0, i = 0; i < nq; i++)
			if (!q[i].done)
				left++;
	}
cancel:
	/* After ub_cancel libunbound frees the result, never calls back. */
	for (i = 0; i < nq; i++)
		if (q[i].submitted && !q[i].done) {
			(void)ub_cancel(ub, q[i].async_id);
			if (broken != 0) {
				q[i].done = 1;
				q[i].ub_err = broken;
			}
		}
	return rc;
}

/*
 * The owner names of the DS/DNSKEY records of a trust anchor file (zone
 * file format, as ub_ctx_add_ta_file reads it), lower case with the final
 * dot, at most max distinct ones. Returns how many were found.
 */
static size_t
dns_anchor_names(const char *path, char names[][MTASTS_DOMAIN_MAX + 2],
    size_t max)
{
	char line[1024], *tok, *t, *save = NULL;
	size_t n = 0, i, l;
	FILE *fp;
	int partial = 0, skip, type_ok;

	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	while (n < max && fgets(line, sizeof(line), fp) != NULL) {
		l = strlen(line);
		skip = partial;	/* the tail of an over-long line */
		partial = l > 0 && line[l - 1] != '\n' && !feof(fp);
		/* Continuations and owner-less lines start with blanks. */
		if (skip || line[0] == ' ' || line[0] == '\t' ||
		    line[0] == ';' || line[0] == '$' || line[0] == '\n')
			continue;
		if ((tok = strtok_r(line, " \t\r\n", &save)) == NULL)
			continue;
		l = strlen(tok);
		if (l == 0 || l > MTASTS_DOMAIN_MAX)
			continue;
		type_ok = 0;
		for (t = strtok_r(NULL, " \t\r\n", &save); t != NULL &&
		    t[0] != ';'; t = strtok_r(NULL, " \t\r\n", &save))
			if (strcasecmp(t, "DS") == 0 ||
			    strcasecmp(t, "DNSKEY") == 0) {
				type_ok = 1;
				break;
			}
		if (!type_ok)
			continue;
		for (i = 0; i < l; i++)
			if (tok[i] >= 'A' && tok[i] <= 'Z')
				tok[i] = (char)(tok[i] - 'A' + 'a');
		if (tok[l - 1] != '.') {
			tok[l] = '.';
			tok[++l] = '\0';
		}
		for (i = 0; i < n; i++)
			if (strcmp(names[i], tok) == 0)
				break;
		if (i == n)
			mtasts_strlcpy(names[n++], tok, sizeof(names[0]));
	}
	fclose(fp);
	return n;
}

/* A new libunbound context for ctx's configuration; NULL with err set. */
static struct ub_ctx *
dns_make_ub(struct mtasts_ctx *ctx, int dnssec, struct mtasts_error *err)
{
	struct ub_ctx *ub;

	if ((ub = ub_ctx_create()) == NULL) {
		mtasts_err(err, MTASTS_ERROR, "resolver: ub_ctx_create failed");
		return NULL;
	}
	if (dns_configure(ctx, ub, dnssec, err) != MTASTS_OK) {
		ub_ctx_delete(ub);
		return NULL;
	}
	return ub;
}

static void
dns_fnv64(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 1099511628211ULL;
	}
}

/*
 * What a verdict depends on (D-DNSSEC-5): the configured resolvers, the
 * trust anchor file and /etc/resolv.conf (path and identity: device,
 * inode, size, mtime). Any change makes the shared verdict another key's.
 */
static uint64_t
dns_verdict_key(const struct mtasts_ctx *ctx)
{
	const struct mtasts_config *c = &ctx->cfg;
	const char *files[2];
	struct stat st;
	uint64_t h = 14695981039346656037ULL;
	long long v[5];
	size_t i;

	files[0] = c->trust_anchor_file;
	files[1] = "/etc/resolv.conf";
	for (i = 0; i < c->nresolvers; i++)
		dns_fnv64(&h, c->resolvers[i], strlen(c->resolvers[i]) + 1);
	dns_fnv64(&h, "|", 1);
	for (i = 0; i < 2; i++) {
		dns_fnv64(&h, files[i], strlen(files[i]) + 1);
		memset(v, 0, sizeof(v));
		if (stat(files[i], &st) == 0) {
			v[0] = (long long)st.st_dev;
			v[1] = (long long)st.st_ino;
			v[2] = (long long)st.st_size;
			v[3] = (long long)st.st_mtim.tv_sec;
			v[4] = (long long)st.st_mtim.tv_nsec;
		}
		dns_fnv64(&h, v, sizeof(v));
	}
	return h;
}

/* A decimal field of a verdict line: digits then sep; advances *pp. */
static int
dns_verdict_num(const char **pp, char sep, unsigned long long max,
    unsigned long long *out)
{
	const char *p = *pp;
	unsigned long long v = 0;
	size_t n = 0;

	while (*p >= '0' && *p <= '9' && n < 20) {
		if (v > (max - (unsigned long long)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned long long)(*p - '0');
		p++;
		n++;
	}
	if (n == 0 || *p != sep)
		return -1;
	*out = v;
	*pp = p + 1;
	return 0;
}

/*
 * A fresh verdict of this host for key: 1 with *state (WORKING or
 * AUTO_DISABLED) and why, else 0. The note is hostile input like any
 * file: "1 <working|auto-off> <epoch> <16 hex key> <printable why>\n",
 * nothing else accepted.
 */
static int
dns_verdict_load(struct mtasts_ctx *ctx, uint64_t key, int *state,
    char *why, size_t whysize)
{
	char buf[DNS_VERDICT_MAX], hex[17];
	const char *p;
	unsigned long long at;
	time_t mtime, now = time(NULL);
	ssize_t n, i;

	if ((n = mtasts_cache_note_read(ctx, DNS_VERDICT_NOTE, buf,
	    sizeof(buf), &mtime)) < 2 || buf[n - 1] != '\n')
		return 0;
	buf[--n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 ||
		    (unsigned char)buf[i] > 0x7e)
			return 0;
	if (strncmp(buf, "1 working ", 10) == 0) {
		*state = MTASTS_DNSSEC_WORKING;
		p = buf + 10;
	} else if (strncmp(buf, "1 auto-off ", 11) == 0) {
		*state = MTASTS_DNSSEC_AUTO_DISABLED;
		p = buf + 11;
	} else
		return 0;
	if (dns_verdict_num(&p, ' ', 253402300799ULL, &at) != 0 ||
	    (long long)at > (long long)now + 60 ||
	    (long long)now - (long long)at >= DNS_VERDICT_TTL_S)
		return 0;
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)key);
	if (strncmp(p, hex, 16) != 0 || p[16] != ' ' || p[17] == '\0')
		return 0;
	mtasts_strlcpy(why, p + 17, whysize);
	return 1;
}

/* Share this process's verdict with the host's others (D-DNSSEC-5). */
static void
dns_verdict_store(struct mtasts_ctx *ctx, const struct mtasts_dns *d)
{
	char buf[DNS_VERDICT_MAX], clean[400];
	int n;

	if (ctx->cfg.dnssec != -1 || ctx->cache_readonly)
		return;
	mtasts_sanitize(d->why, clean, sizeof(clean));
	n = snprintf(buf, sizeof(buf), "1 %s %lld %016llx %s\n",
	    d->state == MTASTS_DNSSEC_WORKING ? "working" : "auto-off",
	    (long long)time(NULL), (unsigned long long)dns_verdict_key(ctx),
	    clean[0] != '\0' ? clean : "-");
	if (n > 0 && (size_t)n < sizeof(buf))
		(void)mtasts_cache_note_write(ctx, DNS_VERDICT_NOTE, buf,
		    (size_t)n);
}

/* The D-DNSSEC-1 warning: loud once an hour per host, else debug. */
static void
dns_note_auto_off(struct mtasts_ctx *ctx, const struct mtasts_dns *d)
{
	/*
	 * Loud once an hour per host, not once per Exim delivery process:
	 * the condition belongs to the host's resolver path, not to one
	 * process; `mtasts check --local` shows it at any time.
	 */
	mtasts_log(ctx, mtasts_cache_note_due(ctx, "dnssec-auto-off",
	    DNS_NOTE_INTERVAL_S) ? MTASTS_LOG_WARN : MTASTS_LOG_DEBUG,
	    "dns: D-DNSSEC-1: %s", d->why);
}

/* Forget the outcome of q[0..nq) (to submit them again). */
static void
dns_reset(struct dns_pending *q, size_t nq)
{
	size_t i;

	for (i = 0; i < nq; i++) {
		ub_resolve_free(q[i].res);
		q[i].res = NULL;
		q[i].submitted = q[i].done = q[i].ub_err = 0;
		q[i].async_id = 0;
	}
}

/*
 * Decisions.md D-DNSSEC-1/2: does the chain of trust work through this
 * resolver path? A DNSKEY query for each trust anchor owner name under
 * the validating context must come back secure. If it cannot (bogus, no
 * DNSKEY, an error rcode), the path cannot validate anything: with
 * dnssec = auto validation is switched off for this process (the context
 * is made again without the validator) with one warning; with dnssec = on
 * the resolver refuses to answer (BROKEN: lookups defer) and the check is
 * repeated after MTASTS_DNSSEC_REPROBE_S. No answer in time leaves the
 * state UNKNOWN (still validating), checked again after the same delay.
 *
 * The check runs before the caller's first query, inside that query's
 * deadline and at most DNS_PROBE_MAX_MS of it. Not together with it: under
 * a validator that cannot validate, libunbound asks again and again for
 * every bogus answer, and the query would then be asked a second time
 * through the new context.
 */
static int
dns_probe(struct mtasts_ctx *ctx, struct mtasts_dns *d, int deadline_ms,
    struct mtasts_error *err)
{
	char names[DNS_ANCHORS_MAX][MTASTS_DOMAIN_MAX + 2];
	char fail[200] = "";
	struct dns_pending all[DNS_ANCHORS_MAX];
	struct ub_ctx *ub;
	size_t n, i, nsecure = 0;
	int rc = MTASTS_OK, prev = d->state;

	memset(all, 0, sizeof(all));
	d->probed_ms = mtasts_mono_ms();
	n = dns_anchor_names(ctx->cfg.trust_anchor_file, names,
	    DNS_ANCHORS_MAX);
	if (n == 0)
		snprintf(fail, sizeof(fail), "no DS or DNSKEY record in the "
		    "trust anchor file %.120s", ctx->cfg.trust_anchor_file);
	for (i = 0; i < n; i++) {
		all[i].qname = names[i];
		all[i].rrtype = DNS_TYPE_DNSKEY;
	}
	if (n > 0)
		rc = dns_wait(ctx, d, all, n, deadline_ms, err);
	for (i = 0; rc == MTASTS_OK && i < n && fail[0] == '\0'; i++) {
		struct ub_result *res = all[i].res;

		if (!all[i].done || all[i].ub_err != 0 || res == NULL)
			continue;	/* no verdict from this one */
		if (res->secure) {
			nsecure++;
			continue;
		}
		if (res->bogus)
			snprintf(fail, sizeof(fail),
			    "DNSKEY %s is bogus: %.120s", names[i],
			    res->why_bogus != NULL ? res->why_bogus :
			    "no reason");
		else if (res->rcode != DNS_RCODE_NOERROR)
			snprintf(fail, sizeof(fail), "DNSKEY %s: DNS rcode %d",
			    names[i], res->rcode);
		else
			snprintf(fail, sizeof(fail), "DNSKEY %s: %s", names[i],
			    res->havedata ? "answer not secure" :
			    "no DNSKEY records");
	}
	dns_reset(all, n);
	if (rc != MTASTS_OK)
		return rc;
	if (fail[0] == '\0' && nsecure == n) {
		d->state = MTASTS_DNSSEC_WORKING;
		snprintf(d->why, sizeof(d->why), "validating: trust anchor "
		    "%.200s validated through the resolver",
		    ctx->cfg.trust_anchor_file);
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: %s", d->why);
		dns_verdict_store(ctx, d);
		return MTASTS_OK;
	}
	if (fail[0] == '\0') {
		d->state = MTASTS_DNSSEC_UNKNOWN;
		snprintf(d->why, sizeof(d->why), "validating; the chain of "
		    "trust could not be checked yet (no answer to the DNSKEY "
		    "query within %d ms)", deadline_ms);
		mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: %s", d->why);
		return MTASTS_OK;
	}
	if (ctx->cfg.dnssec == 1) {
		d->state = MTASTS_DNSSEC_BROKEN;
		snprintf(d->why, sizeof(d->why), "dnssec = on but the resolver "
		    "path cannot validate the trust anchor (use a resolver "
		    "that returns DNSSEC records, or dnssec = auto): %s",
		    fail);
		if (prev != MTASTS_DNSSEC_BROKEN)
			mtasts_log(ctx, MTASTS_LOG_ERR, "dns: every lookup "
			    "that needs DNS is deferred (decisions.md "
			    "D-DNSSEC-2): %s", d->why);
		return MTASTS_OK;
	}
	/* auto: the same resolver, without the validator. */
	if ((ub = dns_make_ub(ctx, 0, err)) == NULL)
		return err != NULL && err->code != 0 ? err->code : MTASTS_ERROR;
	ub_ctx_delete(d->ub);
	d->ub = ub;
	d->started = 0;
	d->state = MTASTS_DNSSEC_AUTO_DISABLED;
	snprintf(d->why, sizeof(d->why), "DNSSEC validation is off for this "
	    "process: the resolver path cannot validate the trust anchor "
	    "(set dnssec = off to silence this, or use a resolver that "
	    "returns DNSSEC records): %s", fail);
	dns_note_auto_off(ctx, d);
	dns_verdict_store(ctx, d);
	return MTASTS_OK;
}

/* Is the chain-of-trust check (again) due? */
static int
dns_probe_due(const struct mtasts_dns *d)
{
	return (d->state == MTASTS_DNSSEC_UNKNOWN ||
	    d->state == MTASTS_DNSSEC_BROKEN) && (d->probed_ms == 0 ||
	    mtasts_mono_ms() - d->probed_ms >=
	    (int64_t)MTASTS_DNSSEC_REPROBE_S * 1000);
}

/*
 * The process's resolver, made (again, after a fork) when needed. Fails
 * with MTASTS_ERROR when it cannot be set up. Its chain of trust is
 * checked by the caller (dns_probe_due, dns_probe).
 */
static int
dns_get(struct mtasts_ctx *ctx, struct mtasts_dns **dp,
    struct mtasts_error *err)
{
	struct mtasts_dns *d = ctx->dns;
	int want;

	*dp = NULL;
	if (d != NULL && d->pid != getpid()) {
		/*
		 * Forked child: the parent's worker thread is not here, and
		 * deleting a thread-mode context from a child has hung in
		 * libunbound versions; leak it deliberately (one per child).
		 * The child checks the chain of trust again (its own
		 * context; once per process).
		 */
		free(d);
		ctx->dns = d = NULL;
	}
	if (d == NULL) {
		char vwhy[sizeof(d->why)];
		int vstate = MTASTS_DNSSEC_UNKNOWN, shared = 0;

		if ((d = calloc(1, sizeof(*d))) == NULL)
			return mtasts_err(err, MTASTS_NOMEM, "out of memory");
		want = dns_want_dnssec(ctx, d->why, sizeof(d->why), err);
		/*
		 * D-DNSSEC-5: dnssec = auto takes the host's fresh verdict
		 * (no chain-of-trust check, no second resolver context);
		 * dnssec = on always checks for itself.
		 */
		if (want == 1 && ctx->cfg.dnssec == -1 &&
		    !ctx->cache_readonly &&
		    dns_verdict_load(ctx, dns_verdict_key(ctx), &vstate, vwhy,
		    sizeof(vwhy))) {
			shared = 1;
			if (vstate == MTASTS_DNSSEC_AUTO_DISABLED)
				want = 0;
		}
		if (want < 0 || (d->ub = dns_make_ub(ctx, want, err)) ==
		    NULL) {
			free(d);
			return err != NULL && err->code != 0 ? err->code :
			    MTASTS_ERROR;
		}
		d->state = want ? MTASTS_DNSSEC_UNKNOWN : MTASTS_DNSSEC_OFF;
		if (shared) {
			d->state = vstate;
			mtasts_strlcpy(d->why, vwhy, sizeof(d->why));
			if (vstate == MTASTS_DNSSEC_AUTO_DISABLED)
				dns_note_auto_off(ctx, d);
			else
				mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: %s "
				    "(this host's verdict, D-DNSSEC-5)",
				    d->why);
		}
		d->pid = getpid();
		ctx->dns = d;
		/* The resolver now embodies the configuration: freeze it. */
		ctx->finalized = 1;
	}
	*dp = d;
	return MTASTS_OK;
}

void
mtasts_dns_free(struct mtasts_ctx *ctx)
{
	if (ctx == NULL || ctx->dns == NULL)
		return;
	if (ctx->dns->pid == getpid())
		ub_ctx_delete(ctx->dns->ub);
	free(ctx->dns);
	ctx->dns = NULL;
}

const char *
mtasts_dnssec_state_name(int state)
{
	switch (state) {
	case MTASTS_DNSSEC_OFF:
		return "off";
	case MTASTS_DNSSEC_WORKING:
		return "on-working";
	case MTASTS_DNSSEC_AUTO_DISABLED:
		return "auto-disabled";
	case MTASTS_DNSSEC_BROKEN:
		return "broken";
	default:
		return "unknown";
	}
}

static int
dns_status_run(struct mtasts_ctx *ctx, int *state, char *why,
    size_t whysize, struct mtasts_error *err)
{
	struct mtasts_dns *d;
	int rc;

	*state = MTASTS_DNSSEC_UNKNOWN;
	if (whysize > 0)
		why[0] = '\0';
	if ((rc = dns_get(ctx, &d, err)) != MTASTS_OK)
		return rc;
	if (dns_probe_due(d) && (rc = dns_probe(ctx, d,
	    ctx->cfg.dns_timeout_ms, err)) != MTASTS_OK)
		return rc;
	*state = d->state;
	mtasts_strlcpy(why, d->why, whysize);
	return MTASTS_OK;
}

int
mtasts_dns_dnssec_status(struct mtasts_ctx *ctx, int *state, char *why,
    size_t whysize, struct mtasts_error *err)
{
	struct mtasts_fdsnap fds;
	int rc;

	mtasts_fd_snapshot(&fds);	/* D-FD-1 */
	rc = dns_status_run(ctx, state, why, whysize, err);
	(void)mtasts_fd_cloexec_new(&fds);
	return rc;
}

/*
 * Submit the nq queries through the process's resolver and wait for all
 * of them, at most deadline_ms in all (a chain-of-trust check that is due
 * comes first, inside the same deadline). Returns MTASTS_OK or
 * MTASTS_ERROR for a resolver that cannot be set up or is BROKEN (err
 * says why).
 * D-FD-1: libunbound's pipes and its worker's query sockets have no
 * CLOEXEC option and must not leak into what the MTA execs (Exim -MC,
 * ${run}): every entry into the resolver runs between a descriptor
 * snapshot and mtasts_fd_cloexec_new().
 */
static int
dns_run_fds(struct mtasts_ctx *ctx, struct dns_pending *q, size_t nq,
    int deadline_ms, struct mtasts_error *err)
{
	struct mtasts_dns *d;
	int64_t t0 = mtasts_mono_ms(), left;
	int rc;

	if ((rc = dns_get(ctx, &d, err)) != MTASTS_OK)
		return rc;
	if (dns_probe_due(d) && (rc = dns_probe(ctx, d,
	    deadline_ms < DNS_PROBE_MAX_MS ? deadline_ms : DNS_PROBE_MAX_MS,
	    err)) != MTASTS_OK)
		return rc;
	if (d->state == MTASTS_DNSSEC_BROKEN)
		return mtasts_err(err, MTASTS_ERROR, "resolver: %s", d->why);
	left = deadline_ms - (mtasts_mono_ms() - t0);
	return dns_wait(ctx, d, q, nq, left > 0 ? (int)left : 1, err);
}

static int
dns_run(struct mtasts_ctx *ctx, struct dns_pending *q, size_t nq,
    int deadline_ms, struct mtasts_error *err)
{
	struct mtasts_fdsnap fds;
	int rc;

	mtasts_fd_snapshot(&fds);
	rc = dns_run_fds(ctx, q, nq, deadline_ms, err);
	(void)mtasts_fd_cloexec_new(&fds);
	return rc;
}

/* Turn q's outcome into a new answer; frees q->res. */
static int
dns_fill(struct mtasts_ctx *ctx, struct dns_pending *q, int deadline_ms,
    struct mtasts_dns_answer **out)
{
	struct mtasts_dns_answer *a;
	struct ub_result *res = q->res;
	size_t i, n;
	int rc = MTASTS_OK;

	*out = NULL;
	q->res = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		rc = MTASTS_NOMEM;
		goto done;
	}
	a->status = MTASTS_DNS_TEMPFAIL;
	if (!q->done) {
		snprintf(a->why, sizeof(a->why), "DNS timeout after %d ms",
		    deadline_ms);
		goto done;
	}
	if (q->ub_err != 0 || res == NULL) {
		snprintf(a->why, sizeof(a->why), "resolver: %s",
		    ub_strerror(q->ub_err));
		goto done;
	}
	a->rcode = res->rcode;
	a->secure = res->secure;
	if (res->canonname != NULL) {
		size_t l = mtasts_strlcpy(a->canonname, res->canonname,
		    sizeof(a->canonname));

		if (l < sizeof(a->canonname) && l > 1 &&
		    a->canonname[l - 1] == '.')
			a->canonname[l - 1] = '\0';
	}
	a->validating = ctx->dns != NULL &&
	    (ctx->dns->state == MTASTS_DNSSEC_WORKING ||
	    ctx->dns->state == MTASTS_DNSSEC_UNKNOWN);
	/*
	 * A bogus answer keeps what the upstream sent (libunbound 1.17 leaves
	 * the records in ub_result): classified like any answer into
	 * bogus_status, for the callers that may use unauthenticated data
	 * (decisions.md D-DNSSEC-3).
	 */
	if (res->rcode == DNS_RCODE_NXDOMAIN)
		a->status = MTASTS_DNS_NXDOMAIN;
	else if (res->rcode != DNS_RCODE_NOERROR)
		snprintf(a->why, sizeof(a->why), "DNS rcode %d", res->rcode);
	else if (!res->havedata)
		a->status = MTASTS_DNS_NODATA;
	else {
		for (n = 0; res->data[n] != NULL; n++)
			;
		if (n > MTASTS_DNS_RR_MAX) {
			a->truncated = 1;
			n = MTASTS_DNS_RR_MAX;
		}
		for (i = 0; i < n; i++) {
			size_t l = res->len[i] > 0 ? (size_t)res->len[i] : 0;

			/* +1: never malloc(0); a->rdlen keeps the truth. */
			if ((a->rdata[i] = malloc(l + 1)) == NULL) {
				rc = MTASTS_NOMEM;
				goto done;
			}
			memcpy(a->rdata[i], res->data[i], l);
			a->rdlen[i] = l;
			a->nrr = i + 1;
		}
		a->status = MTASTS_DNS_ANSWER;
	}
	if (res->bogus) {
		a->bogus_status = a->status;
		a->status = MTASTS_DNS_BOGUS;
		a->secure = 0;
		snprintf(a->why, sizeof(a->why), "DNSSEC bogus: %s",
		    res->why_bogus != NULL ? res->why_bogus : "no reason");
	}
done:
	if (rc == MTASTS_OK) {
		mtasts_log(ctx, MTASTS_LOG_DEBUG,
		    "dns: %s %s: status %d rcode %d secure %d nrr %zu%s%s",
		    q->qname, dns_type_name(q->rrtype), a->status, a->rcode,
		    a->secure, a->nrr, a->why[0] != '\0' ? ": " : "", a->why);
		*out = a;
	} else
		mtasts_dns_answer_free(a);
	ub_resolve_free(res);
	return rc;
}

static int
dns_deadline(const struct mtasts_ctx *ctx, int deadline_ms)
{
	return deadline_ms > 0 ? deadline_ms : ctx->cfg.dns_timeout_ms;
}

int
mtasts_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err)
{
	struct dns_pending q;
	int rc;

	*out = NULL;
	memset(&q, 0, sizeof(q));
	q.qname = qname;
	q.rrtype = rrtype;
	deadline_ms = dns_deadline(ctx, deadline_ms);
	if ((rc = dns_run(ctx, &q, 1, deadline_ms, err)) == MTASTS_OK &&
	    (rc = dns_fill(ctx, &q, deadline_ms, out)) == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "out of memory");
	ub_resolve_free(q.res);
	return rc;
}

void
mtasts_dns_answer_free(struct mtasts_dns_answer *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nrr; i++)
		free(a->rdata[i]);
	free(a);
}

int
mtasts_dns_txt_decode(const struct mtasts_dns_answer *a, char ***recs,
    size_t **lens, size_t *n)
{
	char **r = NULL;
	size_t *l = NULL, i, k = 0;
	int rc = MTASTS_OK;

	*recs = NULL;
	*lens = NULL;
	*n = 0;
	if ((a->status != MTASTS_DNS_ANSWER && (a->status !=
	    MTASTS_DNS_BOGUS || a->bogus_status != MTASTS_DNS_ANSWER)) ||
	    a->nrr == 0)
		return MTASTS_OK;
	/* A cut RRset could hide a second v=STSv1 record (§3.1). */
	if (a->truncated || a->nrr > MTASTS_TXT_RECORDS_MAX)
		return MTASTS_INVALID;
	if ((r = calloc(a->nrr, sizeof(*r))) == NULL ||
	    (l = calloc(a->nrr, sizeof(*l))) == NULL) {
		rc = MTASTS_NOMEM;
		goto done;
	}
	for (k = 0; k < a->nrr; k++) {
		const unsigned char *p = a->rdata[k];
		size_t len = a->rdlen[k], pos, total = 0;

		/* First pass: validate the <character-string> lengths. */
		for (pos = 0; pos < len; pos += 1 + (size_t)p[pos]) {
			if ((size_t)p[pos] > len - pos - 1) {
				rc = MTASTS_INVALID;
				goto done;
			}
			total += p[pos];
		}
		if (len == 0 || total > MTASTS_TXT_MAX) {
			rc = MTASTS_INVALID;
			goto done;
		}
		if ((r[k] = malloc(total + 1)) == NULL) {
			rc = MTASTS_NOMEM;
			goto done;
		}
		/* RFC 8461 §3.1: strings joined with no separator. */
		for (total = 0, pos = 0; pos < len; pos += 1 + (size_t)p[pos]) {
			memcpy(r[k] + total, p + pos + 1, p[pos]);
			total += p[pos];
		}
		r[k][total] = '\0';
		l[k] = total;
	}
	*recs = r;
	*lens = l;
	*n = a->nrr;
	r = NULL;
	l = NULL;
done:
	if (r != NULL)
		for (i = 0; i < a->nrr; i++)
			free(r[i]);
	free(r);
	free(l);
	return rc;
}

void
mtasts_dns_txt_free(char **recs, size_t *lens, size_t n)
{
	size_t i;

	if (recs != NULL)
		for (i = 0; i < n; i++)
			free(recs[i]);
	free(recs);
	free(lens);
}

static void
dns_add_addr(struct sockaddr_storage *ss, int family, const void *ip,
    int port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, ip, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, ip, 4);
	}
}

/*
 * The addresses of host from its answered AAAA (q[0]) and A (q[1])
 * queries: what mtasts_dns_addrs() returns. a[] gets the answers (the
 * caller frees them).
 */
static int
dns_addrs_fill(struct mtasts_ctx *ctx, const char *host, int port,
    struct dns_pending *q, int deadline_ms, struct mtasts_dns_answer **a,
    struct sockaddr_storage *addrs, size_t max, size_t *n,
    struct mtasts_error *err)
{
	size_t i, k;
	int rc, definite = 0;

	for (i = 0; i < 2; i++)
		if ((rc = dns_fill(ctx, &q[i], deadline_ms, &a[i])) !=
		    MTASTS_OK) {
			mtasts_err_set(err, rc, "out of memory");
			return rc;
		}
	for (i = 0; i < 2; i++) {
		size_t want = i == 0 ? 16 : 4;

		if (a[i]->status == MTASTS_DNS_NXDOMAIN ||
		    a[i]->status == MTASTS_DNS_NODATA)
			definite++;
		if (a[i]->status == MTASTS_DNS_BOGUS &&
		    a[i]->bogus_status == MTASTS_DNS_ANSWER) {
			/*
			 * D-DNSSEC-3: a non-validating resolver would have
			 * used these addresses; the HTTPS fetch authenticates
			 * the host (PKIX), so they may be tried. Never a
			 * definite "no address".
			 */
			mtasts_log(ctx, MTASTS_LOG_WARN, "dns: %s: %s; using "
			    "the unauthenticated %s records (the certificate "
			    "is still verified)", host, a[i]->why,
			    i == 0 ? "AAAA" : "A");
		} else if (a[i]->status != MTASTS_DNS_ANSWER)
			continue;
		for (k = 0; k < a[i]->nrr && *n < max; k++)
			if (a[i]->rdlen[k] == want)
				dns_add_addr(&addrs[(*n)++],
				    i == 0 ? AF_INET6 : AF_INET,
				    a[i]->rdata[k], port);
	}
	if (*n > 0)
		rc = MTASTS_OK;
	else if (definite == 2)
		rc = mtasts_err(err, MTASTS_NOTFOUND, "%s: no address record",
		    host);
	else {
		const struct mtasts_dns_answer *bad =
		    a[0]->status == MTASTS_DNS_TEMPFAIL ||
		    a[0]->status == MTASTS_DNS_BOGUS ? a[0] : a[1];

		rc = mtasts_err(err, MTASTS_TEMPFAIL, "%s: %s", host,
		    bad->why[0] != '\0' ? bad->why : "no usable address");
	}
	return rc;
}

int
mtasts_dns_addrs(struct mtasts_ctx *ctx, const char *host, int port,
    int deadline_ms, struct sockaddr_storage *addrs, size_t max, size_t *n,
    struct mtasts_error *err)
{
	/* Both families at once, under the one deadline. */
	struct dns_pending q[2];
	struct mtasts_dns_answer *a[2] = { NULL, NULL };
	size_t i;
	int rc;

	*n = 0;
	memset(q, 0, sizeof(q));
	q[0].qname = q[1].qname = host;
	q[0].rrtype = DNS_TYPE_AAAA;
	q[1].rrtype = DNS_TYPE_A;
	deadline_ms = dns_deadline(ctx, deadline_ms);
	if ((rc = dns_run(ctx, q, 2, deadline_ms, err)) != MTASTS_OK) {
		/* Cannot resolve at all: for the caller, try later. */
		rc = rc == MTASTS_NOMEM ? rc : MTASTS_TEMPFAIL;
		goto done;
	}
	rc = dns_addrs_fill(ctx, host, port, q, deadline_ms, a, addrs, max, n,
	    err);
done:
	for (i = 0; i < 2; i++) {
		ub_resolve_free(q[i].res);
		mtasts_dns_answer_free(a[i]);
	}
	return rc;
}

/*
 * Wire name (uncompressed, as libunbound hands rdata over) at p[0..len)
 * to lower-case presentation form without the trailing dot. Returns the
 * bytes consumed, 0 if malformed or not a valid host name. The root name
 * gives "".
 */
static size_t
dns_wire_name(const unsigned char *p, size_t len, char *out, size_t size)
{
	size_t pos = 0, o = 0, i;

	out[0] = '\0';
	for (;;) {
		size_t lab;

		if (pos >= len)
			return 0;
		lab = p[pos++];
		if (lab == 0)
			break;
		if (lab > MTASTS_LABEL_MAX || lab > len - pos ||
		    o + lab + 2 > size)
			return 0;
		if (o > 0)
			out[o++] = '.';
		for (i = 0; i < lab; i++) {
			char c = (char)p[pos + i];

			out[o++] = c >= 'A' && c <= 'Z' ?
			    (char)(c - 'A' + 'a') : c;
		}
		pos += lab;
	}
	out[o] = '\0';
	if (o > 0 && !mtasts_hostname_valid(out, o))
		return 0;
	return pos;
}

int
mtasts_dns_mx(struct mtasts_ctx *ctx, const char *domain, int deadline_ms,
    struct mtasts_dns_mx **out, size_t *n, struct mtasts_error *err)
{
	struct mtasts_dns_answer *a = NULL;
	struct mtasts_dns_mx *mx = NULL, tmp;
	size_t i, j, cnt = 0, nnull = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = mtasts_dns_query(ctx, domain, DNS_TYPE_MX, deadline_ms, &a,
	    err)) != MTASTS_OK) {
		rc = rc == MTASTS_NOMEM ? rc : MTASTS_TEMPFAIL;
		goto done;
	}
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
		break;
	case MTASTS_DNS_NXDOMAIN:
	case MTASTS_DNS_NODATA:
		rc = mtasts_err(err, MTASTS_NOTFOUND, "%s: no MX record",
		    domain);
		goto done;
	default:
		rc = mtasts_err(err, MTASTS_TEMPFAIL, "%s: MX: %s", domain,
		    a->why);
		goto done;
	}
	if ((mx = calloc(a->nrr, sizeof(*mx))) == NULL) {
		rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < a->nrr; i++) {
		const unsigned char *p = a->rdata[i];

		if (a->rdlen[i] < 3 || dns_wire_name(p + 2, a->rdlen[i] - 2,
		    mx[cnt].name, sizeof(mx[cnt].name)) != a->rdlen[i] - 2) {
			mtasts_log(ctx, MTASTS_LOG_DEBUG,
			    "dns: %s: skipping malformed MX record", domain);
			continue;
		}
		mx[cnt].pref = (unsigned)p[0] << 8 | p[1];
		if (mx[cnt].name[0] == '\0') {
			/* RFC 7505 null MX "." is no host to try. */
			nnull++;
			continue;
		}
		cnt++;
	}
	if (cnt == 0 && nnull > 0) {
		/* Null MX: the domain accepts no mail. OK with *n == 0. */
		free(mx);
		mx = NULL;
		rc = MTASTS_OK;
		goto done;
	}
	if (cnt == 0) {
		/* MX records exist: never fall back to the implicit MX. */
		rc = mtasts_err(err, MTASTS_INVALID, "%s: no usable MX record",
		    domain);
		goto done;
	}
	/* Stable insertion sort: equal preferences keep DNS order. */
	for (i = 1; i < cnt; i++) {
		tmp = mx[i];
		for (j = i; j > 0 && mx[j - 1].pref > tmp.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = tmp;
	}
	*out = mx;
	*n = cnt;
	mx = NULL;
	rc = MTASTS_OK;
done:
	free(mx);
	mtasts_dns_answer_free(a);
	return rc;
}

/* ---- many queries in flight, for one event loop (refresh.c) ---- */

struct mtasts_dns_q {
	struct dns_pending p;
	char qname[MTASTS_DOMAIN_MAX + 2];
};

int
mtasts_dns_async_open(struct mtasts_ctx *ctx, int *fd,
    struct mtasts_error *err)
{
	struct mtasts_fdsnap fds;
	struct mtasts_dns *d;
	int rc;

	*fd = -1;
	mtasts_fd_snapshot(&fds);	/* D-FD-1 */
	if ((rc = dns_get(ctx, &d, err)) == MTASTS_OK &&
	    dns_probe_due(d) && (rc = dns_probe(ctx, d,
	    ctx->cfg.dns_timeout_ms < DNS_PROBE_MAX_MS ?
	    ctx->cfg.dns_timeout_ms : DNS_PROBE_MAX_MS, err)) != MTASTS_OK)
		d = NULL;
	if (rc == MTASTS_OK && d->state == MTASTS_DNSSEC_BROKEN)
		rc = mtasts_err(err, MTASTS_ERROR, "resolver: %s", d->why);
	if (rc == MTASTS_OK)
		*fd = ub_fd(d->ub);
	(void)mtasts_fd_cloexec_new(&fds);
	return rc;
}

struct mtasts_dns_q *
mtasts_dns_async_submit(struct mtasts_ctx *ctx, const char *qname,
    int rrtype)
{
	struct mtasts_dns_q *q;
	int r;

	if (ctx->dns == NULL || ctx->dns->pid != getpid() ||
	    (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	mtasts_strlcpy(q->qname, qname, sizeof(q->qname));
	q->p.qname = q->qname;
	q->p.rrtype = rrtype;
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "dns: query %s %s", q->qname,
	    dns_type_name(rrtype));
	r = dns_submit(ctx->dns, &q->p);
	if (r != 0) {
		/* Refused: left to the blocking query, which says why. */
		free(q);
		return NULL;
	}
	q->p.submitted = 1;
	return q;
}

int
mtasts_dns_async_process(struct mtasts_ctx *ctx)
{
	int r;

	if (ctx->dns == NULL)
		return MTASTS_ERROR;
	r = ub_process(ctx->dns->ub);
	return r == 0 ? MTASTS_OK : MTASTS_ERROR;
}

int
mtasts_dns_async_done(const struct mtasts_dns_q *q)
{
	return q->p.done;
}

void
mtasts_dns_async_free(struct mtasts_ctx *ctx, struct mtasts_dns_q *q)
{
	if (q == NULL)
		return;
	/* After ub_cancel libunbound frees the result, never calls back. */
	if (q->p.submitted && !q->p.done && ctx->dns != NULL)
		(void)ub_cancel(ctx->dns->ub, q->p.async_id);
	ub_resolve_free(q->p.res);
	free(q);
}

int
mtasts_dns_async_answer(struct mtasts_ctx *ctx, struct mtasts_dns_q *q,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err)
{
	int rc;

	/* As mtasts_dns_query() answers: a timeout is an answer too. */
	if ((rc = dns_fill(ctx, &q->p, dns_deadline(ctx, deadline_ms),
	    out)) == MTASTS_NOMEM)
		mtasts_err_set(err, rc, "out of memory");
	return rc;
}

int
mtasts_dns_async_addrs(struct mtasts_ctx *ctx, const char *host, int port,
    struct mtasts_dns_q *q6, struct mtasts_dns_q *q4, int deadline_ms,
    struct sockaddr_storage *addrs, size_t max, size_t *n,
    struct mtasts_error *err)
{
	struct dns_pending q[2];
	struct mtasts_dns_answer *a[2] = { NULL, NULL };
	int rc;

	*n = 0;
	q[0] = q6->p;
	q[1] = q4->p;
	q6->p.res = q4->p.res = NULL;	/* dns_fill() frees them */
	rc = dns_addrs_fill(ctx, host, port, q, dns_deadline(ctx,
	    deadline_ms), a, addrs, max, n, err);
	ub_resolve_free(q[0].res);
	ub_resolve_free(q[1].res);
	mtasts_dns_answer_free(a[0]);
	mtasts_dns_answer_free(a[1]);
	return rc;
}
