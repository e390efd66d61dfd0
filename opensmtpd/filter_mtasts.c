/* SPDX-License-Identifier: ISC */
/*
 * filter_mtasts.c - filter-mtasts, an OpenSMTPD filter (protocol 0.6 as
 * smtpd 6.8 speaks it, 0.7 as smtpd 7.x announces it with config|protocol;
 * the lines used here are the same in both, D-OSMTPD-13) for MTA-STS:
 *
 *  smtp-in, phase rcpt-to: make sure the recipient domain's policy is in
 *	the shared cache (a full mtasts_lookup(), fetching within the
 *	configured deadline) so that table-mtasts's K_DOMAIN answer, made
 *	right after this phase, is current. Then `proceed`: a recipient's
 *	policy is never a reason to refuse mail (the one 451 below is about
 *	not knowing it).
 *  smtp-out reports: follow each outbound session (link-connect,
 *	protocol lines, link-tls, tx-*, link-disconnect), classify its TLS
 *	outcome, log it, and append it to the TLS-RPT spool; testing-mode
 *	failures are logged as such.
 *
 * smtp-out filters are report-only in 6.8 (mta-integration.md B1): this
 * observes, it never decides delivery. One process per smtpd.conf filter;
 * `-a enforce` marks the instance attached to the enforce action (its
 * sessions use smtp+tls:// relay URLs, so smtpd verified the certificate).
 *
 * Usage: filter-mtasts [-c mtasts.conf] [-a enforce|relay] [-w workers]
 *	[-q jobs]
 * Logs go to stderr, which smtpd copies into its own log.
 *
 * When the recipient domain's policy state cannot be established (the
 * job queue is full, the lookup answered tempfail or failed) and the
 * cache holds no answer the table can route by, the recipient gets a
 * 451 at RCPT and the client retries (decisions.md D-OSMTPD-11): the
 * table would otherwise route it to the opportunistic action for good.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter_proto.h"
#include "osmtpd.h"

#define SID_MAX 32

struct job {
	char sid[SID_MAX + 1];
	char token[SID_MAX + 1];
	char domain[MTASTS_DOMAIN_MAX + 1];
};

struct learnt {				/* an MX address seen at RCPT time */
	char ip[INET6_ADDRSTRLEN];
	char domain[MTASTS_DOMAIN_MAX + 1];
	char mx[MTASTS_DOMAIN_MAX + 1];
};

struct osess {
	char sid[SID_MAX + 1];		/* "" = free */
	char src[INET6_ADDRSTRLEN];
	char dst[INET6_ADDRSTRLEN];
	char domain[MTASTS_DOMAIN_MAX + 1];	/* first tx-rcpt domain */
	char tlsinfo[128];
	struct mtasts_osmtpd_tls tls;
	uint64_t seq;
};

struct filter {
	const char *config;
	int enforce;			/* -a enforce */
	int nworkers;
	size_t jobs_max;		/* -q, at most MTASTS_OSMTPD_JOBS_MAX */
	int in, out;			/* subsystems announced */
	char proto[8];			/* config|protocol ("" = none, 6.8) */
	int ready;			/* config|ready seen */
	struct mtasts_ctx *ctx;		/* main thread */
	pthread_mutex_t mu;		/* jobs, learnt */
	pthread_mutex_t omu;		/* stdout */
	pthread_cond_t work;
	struct job *jobs;
	size_t jhead, jlen;
	struct learnt *learnt;
	size_t nlearnt, lnext;
	struct osess *sess;
	uint64_t seq;
};

static struct filter F;

static void
log_sink(void *arg, int level, const char *msg)
{
	static const char *const name[] = { "error", "warning", "info",
		"debug" };

	(void)arg;
	if (level < 0 || level > MTASTS_LOG_DEBUG)
		level = MTASTS_LOG_ERR;
	if (level == MTASTS_LOG_DEBUG)
		return;
	/* One fprintf per line: stdio locks the stream per call. */
	fprintf(stderr, "filter-mtasts: %s: %s\n", name[level], msg);
}

static void flog(int level, const char *fmt, ...) MTASTS_OSMTPD_PRINTF(2, 3);

static void
flog(int level, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	log_sink(NULL, level, msg);
}

/*
 * A context for one thread. D-OSMTPD-12: mtasts.conf is read once, when
 * smtpd starts the filter; a configuration error is logged once (by the
 * main thread; a worker is quiet when the main thread's load failed too)
 * and every recipient is then deferred (451, D-OSMTPD-11).
 */
static struct mtasts_ctx *
ctx_make(int quiet)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;

	if ((ctx = mtasts_ctx_new()) == NULL) {
		flog(MTASTS_LOG_ERR, "out of memory");
		return NULL;
	}
	mtasts_ctx_set_log(ctx, log_sink, NULL);
	if (mtasts_ctx_load_config(ctx, F.config, &err) != MTASTS_OK) {
		if (!quiet)
			flog(MTASTS_LOG_ERR, "configuration error: %s; "
			    "every recipient is deferred (451): fix it, check "
			    "with `mtasts check --local`, then restart smtpd",
			    err.text);
		mtasts_ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
out(const char *fmt, ...) MTASTS_OSMTPD_PRINTF(1, 2);

static void
out(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	const char *p = line;
	size_t n;
	ssize_t w;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return;
	n = (size_t)len;
	pthread_mutex_lock(&F.omu);
	while (n > 0) {
		if ((w = write(1, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			/* smtpd is gone; nothing left to filter. */
			_exit(0);
		}
		p += w;
		n -= (size_t)w;
	}
	pthread_mutex_unlock(&F.omu);
}

/* ------------------------------------------------------------ smtp-in */

static void
proceed(const char *sid, const char *token)
{
	out("filter-result|%s|%s|proceed\n", sid, token);
}

/* D-OSMTPD-11: the client retries this recipient later. */
static void
defer(const char *sid, const char *token, const char *domain,
    const char *why)
{
	flog(MTASTS_LOG_WARN, "rcpt domain %s: %s; policy state unknown, "
	    "recipient deferred (451)", domain, why);
	out("filter-result|%s|%s|reject|451 4.7.0 MTA-STS policy of %s "
	    "unknown, try again later\n", sid, token, domain);
}

/*
 * Does the cache hold an answer table-mtasts can route this domain by
 * right now (the core's mtasts_enforce_cached(): a valid policy, or a
 * fresh "no record")?
 */
static int
cache_answers(struct mtasts_ctx *ctx, const char *domain)
{
	return mtasts_enforce_cached(ctx, domain, NULL, 0) != 0;
}

/* Remember the addresses of the policy-valid MXs (TLS-RPT attribution). */
static void
learn(struct mtasts_ctx *ctx, const char *domain,
    const struct mtasts_policy *p)
{
	char ips[MTASTS_MXSET_ADDRS_MAX][MTASTS_IP_TEXT_MAX];
	struct mtasts_mxset *set = NULL;
	struct mtasts_error err;
	struct learnt *l;
	const char *mx;
	size_t k, j, n;

	memset(&err, 0, sizeof(err));
	/* The core's MX set and policy filter (RFC 8461 §4.1). */
	if (mtasts_mxset_resolve(ctx, domain, 0, &set, &err) != MTASTS_OK)
		return;
	for (k = 0; (mx = mtasts_mxset_allowed_host(set, p, k)) != NULL; k++) {
		if (mtasts_mxset_addrs(ctx, mx, 0, ips, MTASTS_MXSET_ADDRS_MAX,
		    &n, &err) != MTASTS_OK)
			continue;
		for (j = 0; j < n; j++) {
			pthread_mutex_lock(&F.mu);
			l = &F.learnt[F.lnext++ % MTASTS_OSMTPD_ADDRS_MAX];
			mtasts_strlcpy(l->ip, ips[j], sizeof(l->ip));
			mtasts_strlcpy(l->domain, domain,
			    sizeof(l->domain));
			mtasts_strlcpy(l->mx, mx, sizeof(l->mx));
			if (F.nlearnt < MTASTS_OSMTPD_ADDRS_MAX)
				F.nlearnt++;
			pthread_mutex_unlock(&F.mu);
		}
	}
	mtasts_mxset_free(set);
}

static void *
worker(void *arg)
{
	struct mtasts_ctx *ctx = ctx_make(F.ctx == NULL);
	struct mtasts_result *res;
	struct mtasts_error err;
	const struct mtasts_policy *p;
	struct job j;
	int64_t t0;
	int m;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&F.mu);
		while (F.jlen == 0)
			pthread_cond_wait(&F.work, &F.mu);
		j = F.jobs[F.jhead];
		F.jhead = (F.jhead + 1) % F.jobs_max;
		F.jlen--;
		pthread_mutex_unlock(&F.mu);

		res = NULL;
		memset(&err, 0, sizeof(err));
		t0 = mtasts_mono_ms();
		if (ctx == NULL ||
		    mtasts_lookup(ctx, j.domain, 0, &res, &err) != MTASTS_OK) {
			if (cache_answers(ctx, j.domain))
				proceed(j.sid, j.token);
			else
				defer(j.sid, j.token, j.domain, ctx == NULL ?
				    "configuration error (restart smtpd "
				    "after fixing it)" : err.text);
			continue;
		}
		if (mtasts_result_status(res) == MTASTS_LOOKUP_TEMPFAIL &&
		    !cache_answers(ctx, j.domain)) {
			defer(j.sid, j.token, j.domain,
			    mtasts_result_failure_reason(res) != NULL ?
			    mtasts_result_failure_reason(res) :
			    "lookup tempfail");
			mtasts_result_free(res);
			continue;
		}
		p = mtasts_result_policy(res);
		/*
		 * D-OSMTPD-15: learn the policy MXs' addresses before
		 * answering, so that a first-contact session that fails
		 * before RCPT (no STARTTLS, bad certificate) can be
		 * attributed to its domain when it ends.
		 */
		m = mtasts_enforce_mode(j.domain, MTASTS_OK, res, NULL);
		if (m == MTASTS_ENFORCE_TESTING || m == MTASTS_ENFORCE_ENFORCE)
			learn(ctx, mtasts_result_domain(res), p);
		proceed(j.sid, j.token);
		flog(MTASTS_LOG_INFO, "rcpt domain %s: %s%s (%s, %lld ms)%s%s",
		    j.domain,
		    mtasts_result_status(res) == MTASTS_LOOKUP_POLICY ?
		    "policy mode " : mtasts_result_status(res) ==
		    MTASTS_LOOKUP_NONE ? "no policy" : "lookup tempfail",
		    p != NULL ? mtasts_mode_name(mtasts_policy_mode(p)) : "",
		    mtasts_result_source(res) == MTASTS_SOURCE_FETCHED ?
		    "fetched" : "cached",
		    (long long)(mtasts_mono_ms() - t0),
		    mtasts_result_failure_type(res) != NULL ? "; " : "",
		    mtasts_result_failure_type(res) != NULL ?
		    mtasts_result_failure_reason(res) : "");
		mtasts_result_free(res);
	}
	return NULL;
}

static void
rcpt_to(const char *sid, const char *token, const char *addr)
{
	char domain[MTASTS_DOMAIN_MAX + 1], norm[MTASTS_DOMAIN_MAX + 1];
	struct job *j;

	if (strlen(sid) > SID_MAX || strlen(token) > SID_MAX) {
		flog(MTASTS_LOG_ERR, "oversized session id or token");
		return;
	}
	if (mtasts_osmtpd_addr_domain(addr, domain, sizeof(domain)) != 0 ||
	    mtasts_enforce_policy_domain(domain, norm) != MTASTS_OK) {
		/*
		 * No domain, an address literal or not a domain name: no
		 * policy possible (the table answers "no policy" too).
		 */
		proceed(sid, token);
		return;
	}
	pthread_mutex_lock(&F.mu);
	if (F.jlen >= F.jobs_max) {
		pthread_mutex_unlock(&F.mu);
		/* The table routes by the cache: fine if it has an answer. */
		if (cache_answers(F.ctx, domain)) {
			flog(MTASTS_LOG_WARN, "busy: not refreshing the policy "
			    "of %s (cached answer used)", domain);
			proceed(sid, token);
		} else
			defer(sid, token, domain, "busy (job queue full)");
		return;
	}
	j = &F.jobs[(F.jhead + F.jlen) % F.jobs_max];
	mtasts_strlcpy(j->sid, sid, sizeof(j->sid));
	mtasts_strlcpy(j->token, token, sizeof(j->token));
	mtasts_strlcpy(j->domain, domain, sizeof(j->domain));
	F.jlen++;
	pthread_cond_signal(&F.work);
	pthread_mutex_unlock(&F.mu);
}

/* ------------------------------------------------------------ smtp-out */

static struct osess *
sess_get(const char *sid, int create)
{
	struct osess *s, *old = NULL;
	size_t i;

	for (i = 0; i < MTASTS_OSMTPD_SESSIONS_MAX; i++) {
		s = &F.sess[i];
		if (s->sid[0] != '\0' && strcmp(s->sid, sid) == 0)
			return s;
	}
	if (!create || strlen(sid) > SID_MAX)
		return NULL;
	for (i = 0; i < MTASTS_OSMTPD_SESSIONS_MAX; i++) {
		s = &F.sess[i];
		if (s->sid[0] == '\0')
			break;
		if (old == NULL || s->seq < old->seq)
			old = s;
	}
	if (i == MTASTS_OSMTPD_SESSIONS_MAX)
		s = old;	/* a session whose disconnect we missed */
	memset(s, 0, sizeof(*s));
	mtasts_strlcpy(s->sid, sid, sizeof(s->sid));
	s->seq = ++F.seq;
	return s;
}

/* "1.2.3.4:25", "[::1]:25" or "::1:25" to the bare address. */
static void
host_of(const char *hp, char *out, size_t size)
{
	const char *c = strrchr(hp, ':');
	size_t n = c != NULL ? (size_t)(c - hp) : strlen(hp);

	if (n > 0 && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n >= size)
		n = 0;
	memcpy(out, hp, n);
	out[n] = '\0';
}

static void
finish(struct osess *s)
{
	char mx[MTASTS_DOMAIN_MAX + 1], domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_tlsrpt_session rec;
	struct mtasts_result *res = NULL;
	struct mtasts_error err = { 0, "" };
	const struct mtasts_policy *p = NULL;
	const char *result = NULL, *reason = NULL, *mode = "none";
	struct mtasts_session_facts f;
	struct mtasts_verdict v;
	size_t i;
	int known, type;

	mx[0] = '\0';
	mtasts_strlcpy(domain, s->domain, sizeof(domain));
	pthread_mutex_lock(&F.mu);
	for (i = 0; i < F.nlearnt; i++) {
		const struct learnt *l = &F.learnt[(F.lnext - 1 - i) %
		    MTASTS_OSMTPD_ADDRS_MAX];

		if (strcmp(l->ip, s->dst) != 0)
			continue;
		if (domain[0] == '\0')
			mtasts_strlcpy(domain, l->domain,
			    sizeof(domain));
		if (strcmp(l->domain, domain) == 0) {
			mtasts_strlcpy(mx, l->mx, sizeof(mx));
			break;
		}
	}
	pthread_mutex_unlock(&F.mu);

	/* The event stream as neutral facts; the core classifies. */
	mtasts_osmtpd_facts(&s->tls, F.enforce, &f);
	known = mtasts_verdict_classify(&f, 0, &type, &reason);
	result = mtasts_tlsrpt_type_name(type);
	if (domain[0] != '\0' && F.ctx != NULL &&
	    mtasts_lookup(F.ctx, domain, MTASTS_LOOKUP_CACHE_ONLY, &res,
	    &err) == MTASTS_OK && (p = mtasts_result_policy(res)) != NULL)
		mode = mtasts_mode_name(mtasts_policy_mode(p));
	flog(MTASTS_LOG_INFO, "session %s %s domain=%s mx=%s ip=%s mode=%s "
	    "tls=%s result=%s%s%s", s->sid, F.enforce ? "enforce" : "relay",
	    domain[0] ? domain : "?", mx[0] ? mx : "?", s->dst, mode,
	    s->tls.tls ? s->tlsinfo : "no",
	    !known ? "unknown" : result == NULL ? "success" : result,
	    known && result != NULL ? " reason=" : "",
	    known && result != NULL ? reason : "");
	if (known && result != NULL && p != NULL &&
	    mtasts_verdict_session(res, &f, 0, &v) &&
	    v.action == MTASTS_VERDICT_DELIVER_REPORT)
		flog(MTASTS_LOG_WARN, "MTA-STS testing-mode failure: domain %s "
		    "mx %s ip %s: %s (delivery not blocked: policy is in "
		    "testing mode)", domain, mx[0] ? mx : "?", s->dst, result);
	/*
	 * TLS-RPT: only sessions whose outcome we know and whose policy
	 * domain we could attribute (a failed session has no tx-rcpt).
	 */
	if (known && domain[0] != '\0' && F.ctx != NULL &&
	    (p != NULL || F.enforce)) {
		memset(&rec, 0, sizeof(rec));
		rec.policy_domain = domain;
		rec.policy_type = p != NULL ? MTASTS_POLICY_TYPE_STS :
		    MTASTS_POLICY_TYPE_NONE;
		rec.policy = p;
		rec.mx_host = mx[0] ? mx : NULL;
		rec.mx_ip = s->dst[0] ? s->dst : NULL;
		rec.sending_ip = s->src[0] ? s->src : NULL;
		rec.result_type = result;
		rec.failure_reason = reason;
		memset(&err, 0, sizeof(err));
		if (mtasts_tlsrpt_record(F.ctx, &rec, &err) != MTASTS_OK)
			flog(MTASTS_LOG_WARN, "tlsrpt: %s", err.text);
	}
	mtasts_result_free(res);
	memset(s, 0, sizeof(*s));
}

static void
report_out(char **f, size_t nf)
{
	const char *ev, *sid;
	struct osess *s;

	if (nf < 6)
		return;
	ev = f[4];
	sid = f[5];
	if ((s = sess_get(sid, strcmp(ev, "link-connect") == 0)) == NULL)
		return;
	if (strcmp(ev, "link-connect") == 0 && nf >= 10) {
		host_of(f[8], s->src, sizeof(s->src));
		host_of(f[9], s->dst, sizeof(s->dst));
	} else if (strcmp(ev, "link-tls") == 0 && nf >= 7) {
		s->tls.tls = 1;
		mtasts_strlcpy(s->tlsinfo, f[6], sizeof(s->tlsinfo));
	} else if (strcmp(ev, "protocol-client") == 0 && nf >= 7) {
		mtasts_osmtpd_tls_client(&s->tls, f[6]);
	} else if (strcmp(ev, "protocol-server") == 0 && nf >= 7) {
		mtasts_osmtpd_tls_server(&s->tls, f[6]);
	} else if (strcmp(ev, "tx-mail") == 0 && nf >= 8) {
		if (strcmp(f[7], "ok") == 0)
			s->tls.tx = 1;
	} else if (strcmp(ev, "tx-rcpt") == 0 && nf >= 9) {
		s->tls.tx = 1;
		if (s->domain[0] == '\0')
			(void)mtasts_osmtpd_addr_domain(f[8], s->domain,
			    sizeof(s->domain));
	} else if (strcmp(ev, "link-disconnect") == 0) {
		finish(s);
	}
}

/* ------------------------------------------------------------ protocol */

static void
registrations(void)
{
	static const char *const ev[] = { "link-connect", "link-tls",
		"link-disconnect", "protocol-client", "protocol-server",
		"tx-mail", "tx-rcpt" };
	size_t i;

	if (F.in)
		out("register|filter|smtp-in|rcpt-to\n");
	if (F.out)
		for (i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
			out("register|report|smtp-out|%s\n", ev[i]);
	out("register|ready\n");
}

/*
 * D-OSMTPD-13: smtpd 7.x announces its filter protocol (config|protocol|
 * 0.7); 6.8 announces none and speaks 0.6. Every later line must carry
 * exactly that version: a mixture means a confused peer, and fields
 * would be misread. Stop (as D-OSMTPD-10): smtpd stops with its filter.
 */
static void
version_stop(const char *what, const char *v)
{
	flog(MTASTS_LOG_ERR, "filter protocol: %s \"%.16s\" (smtpd "
	    "announced %s; this filter speaks 0.6 and 0.7); exiting", what, v,
	    F.proto[0] != '\0' ? F.proto : "none, i.e. 0.6");
	_exit(2);
}

static void
dispatch(char *line)
{
	struct mtasts_fproto_line l;
	const char *v;
	int kind;

	if (strncmp(line, "config|protocol|", 16) == 0) {
		v = line + 16;
		if (F.ready || F.proto[0] != '\0' ||
		    !mtasts_fproto_version_ok(v))
			version_stop(F.ready || F.proto[0] != '\0' ?
			    "late or repeated announcement of version" :
			    "announced version not supported:", v);
		mtasts_strlcpy(F.proto, v, sizeof(F.proto));
		return;
	}
	kind = mtasts_fproto_parse(line, &l);
	if ((kind == MTASTS_FPROTO_RCPT || kind == MTASTS_FPROTO_OTHER_PHASE ||
	    kind == MTASTS_FPROTO_REPORT_OUT) &&
	    strcmp(l.f[1], mtasts_fproto_expected(F.proto)) != 0)
		version_stop("line of version", l.f[1]);
	switch (kind) {
	case MTASTS_FPROTO_SUBSYS_IN:
		F.in = 1;
		break;
	case MTASTS_FPROTO_SUBSYS_OUT:
		F.out = 1;
		break;
	case MTASTS_FPROTO_READY:
		F.ready = 1;
		registrations();
		break;
	case MTASTS_FPROTO_RCPT:
		rcpt_to(l.sid, l.token, l.param);
		break;
	case MTASTS_FPROTO_OTHER_PHASE:
		proceed(l.sid, l.token);	/* not ours: never block */
		break;
	case MTASTS_FPROTO_REPORT_OUT:
		report_out(l.f, l.nf);
		break;
	case MTASTS_FPROTO_VERSION:
		/*
		 * D-OSMTPD-10: fields would be misread (0.5 swapped sid and
		 * token). Stop: smtpd then stops too, loudly, rather than
		 * run with a filter that answers the wrong requests.
		 */
		flog(MTASTS_LOG_ERR, "filter protocol version \"%.16s\" is "
		    "not supported (this filter speaks 0.6 and 0.7); exiting",
		    l.f[1]);
		_exit(2);
	case MTASTS_FPROTO_MALFORMED:
		if (strncmp(line, "filter", 6) == 0)
			flog(MTASTS_LOG_ERR, "malformed filter line");
		break;
	default:
		break;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: filter-mtasts [-c mtasts.conf] "
	    "[-a enforce|relay] [-w workers 1-64] [-q jobs 1-%d]\n",
	    MTASTS_OSMTPD_JOBS_MAX);
	exit(2);
}

int
main(int argc, char *argv[])
{
	static char buf[MTASTS_OSMTPD_LINE_MAX + 1];
	size_t have = 0, i, start;
	pthread_t th;
	ssize_t n;
	long v;
	int c, skipping = 0;

	F.nworkers = MTASTS_OSMTPD_WORKERS;
	F.jobs_max = MTASTS_OSMTPD_JOBS_MAX;
	while ((c = getopt(argc, argv, "a:c:q:w:")) != -1) {
		switch (c) {
		case 'a':
			if (strcmp(optarg, "enforce") == 0)
				F.enforce = 1;
			else if (strcmp(optarg, "relay") != 0)
				usage();
			break;
		case 'c':
			if (optarg[0] == '\0')
				usage();
			F.config = optarg;
			break;
		case 'q':
			if (mtasts_fproto_parse_long(optarg, 1,
			    MTASTS_OSMTPD_JOBS_MAX, &v) != 0)
				usage();
			F.jobs_max = (size_t)v;
			break;
		case 'w':
			if (mtasts_fproto_parse_long(optarg, 1, 64, &v) != 0)
				usage();
			F.nworkers = (int)v;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stderr, NULL, _IOLBF, 0);
	pthread_mutex_init(&F.mu, NULL);
	pthread_mutex_init(&F.omu, NULL);
	pthread_cond_init(&F.work, NULL);
	F.jobs = calloc(MTASTS_OSMTPD_JOBS_MAX, sizeof(*F.jobs));
	F.learnt = calloc(MTASTS_OSMTPD_ADDRS_MAX, sizeof(*F.learnt));
	F.sess = calloc(MTASTS_OSMTPD_SESSIONS_MAX, sizeof(*F.sess));
	if (F.jobs == NULL || F.learnt == NULL || F.sess == NULL) {
		flog(MTASTS_LOG_ERR, "out of memory");
		return 1;
	}
	F.ctx = ctx_make(0);
	for (c = 0; c < F.nworkers; c++) {
		if (pthread_create(&th, NULL, worker, NULL) != 0) {
			flog(MTASTS_LOG_ERR, "cannot start worker threads");
			return 1;
		}
		pthread_detach(th);
	}

	for (;;) {
		n = read(0, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		start = 0;
		for (i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			buf[i] = '\0';
			if (!skipping)
				dispatch(buf + start);
			skipping = 0;
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == sizeof(buf) - 1) {
			/* No line is this long in 6.8; resynchronise. */
			flog(MTASTS_LOG_ERR, "line over %d bytes skipped",
			    MTASTS_OSMTPD_LINE_MAX);
			have = 0;
			skipping = 1;
		}
	}
	/* smtpd closed the pipe: queued rcpt-to answers have no reader. */
	_exit(0);
}
