/* SPDX-License-Identifier: ISC */
/*
 * enforce.c - the decisions every MTA adapter asks for: which mode
 * applies to a domain before connecting (RFC 8461 §3.4, §5), what a
 * session's facts mean for TLS-RPT (RFC 8460 §4.3) and for delivery
 * (RFC 8461 §4.1, §5), with an enhanced status code for the MTA's log
 * (decisions.md D-ENF-1, D-ENF-2), and the "held" rule (D-EXIM-11).
 *
 * Adapters translate their MTA's words into struct mtasts_session_facts
 * and pass the verdict on; no adapter decides itself. Part of the light
 * half: nothing here touches DNS or TLS.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "mtasts_internal.h"

/* D-ENF-1: the enhanced status codes (RFC 3463, RFC 7372 registry). */
#define STATUS_POLICY_UNKNOWN "4.7.0"	/* no decision possible now */
#define STATUS_NO_STARTTLS "4.7.4"	/* security features not supported */
#define STATUS_AUTH_FAILED "4.7.5"	/* cryptographic failure */

/* RFC 8460 §4.3.2 failure-reason-codes the classification names. */
#define RC_NO_STARTTLS "starttls-not-offered-in-ehlo"
#define RC_STARTTLS_REFUSED "starttls-refused"
#define RC_HANDSHAKE "tls-handshake-or-certificate-verification-failed"
#define RC_AFTER_HANDSHAKE "certificate-check-failed-after-tls-handshake"
#define RC_MX_MISMATCH "mx-mismatch: MX host not in the policy"

static const char *const mode_names[] = { "none", "testing", "enforce",
	"tempfail", "error" };

const char *
mtasts_enforce_mode_name(int m)
{
	if (m < 0 || (size_t)m >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "error";
	return mode_names[m];
}

static void
verdict_init(struct mtasts_verdict *v, int mode)
{
	memset(v, 0, sizeof(*v));
	v->action = MTASTS_VERDICT_DELIVER;
	v->mode = mode;
	v->type = MTASTS_TLSRPT_NONE;
}

static void
verdict_set(struct mtasts_verdict *v, int action, const char *status,
    const char *fmt, const char *a, const char *b)
{
	v->action = action;
	mtasts_strlcpy(v->status, status != NULL ? status : "",
	    sizeof(v->status));
	snprintf(v->reason, sizeof(v->reason), fmt, a != NULL ? a : "",
	    b != NULL ? b : "");
}

int
mtasts_enforce_policy_domain(const char *domain,
    char out[MTASTS_DOMAIN_MAX + 1])
{
	char n[MTASTS_DOMAIN_MAX + 1];

	if (out != NULL)
		out[0] = '\0';
	if (domain == NULL || domain[0] == '\0')
		return MTASTS_INVALID;
	/* RFC 8461 §3.4: an address literal (or any non-host name). */
	if (domain[0] == '[' ||
	    mtasts_domain_normalize(domain, strlen(domain), n, NULL) !=
	    MTASTS_OK)
		return MTASTS_NOTFOUND;
	if (out != NULL)
		memcpy(out, n, sizeof(n));
	return MTASTS_OK;
}

/* The mode r's policy sets; NONE without one (a tempfail included). */
static int
result_mode(const struct mtasts_result *r)
{
	const struct mtasts_policy *p;

	if (r == NULL || mtasts_result_status(r) != MTASTS_LOOKUP_POLICY ||
	    (p = mtasts_result_policy(r)) == NULL)
		return MTASTS_MODE_NONE;
	return mtasts_policy_mode(p);
}

static const char *
result_what(const struct mtasts_result *r)
{
	const char *t = mtasts_result_failure_type(r);
	const char *why = mtasts_result_failure_reason(r);

	if (why != NULL && why[0] != '\0')
		return why;
	return t != NULL ? t : "policy not available";
}

int
mtasts_enforce_mode(const char *domain, int lookup_rc,
    const struct mtasts_result *r, struct mtasts_verdict *v)
{
	struct mtasts_verdict lv;
	int m;

	if (v == NULL)
		v = &lv;
	if (mtasts_enforce_policy_domain(domain, NULL) == MTASTS_NOTFOUND) {
		verdict_init(v, MTASTS_ENFORCE_NONE);
		return v->mode;
	}
	if (lookup_rc != MTASTS_OK || r == NULL) {
		/* Local trouble, no answer: never "no policy" (fail closed). */
		verdict_init(v, MTASTS_ENFORCE_ERROR);
		verdict_set(v, MTASTS_VERDICT_DEFER, STATUS_POLICY_UNKNOWN,
		    "%s: cannot decide: lookup failed: %s",
		    domain != NULL ? domain : "(no domain)",
		    mtasts_strerror(lookup_rc != MTASTS_OK ? lookup_rc :
		    MTASTS_ERROR));
		return v->mode;
	}
	if (mtasts_result_status(r) == MTASTS_LOOKUP_TEMPFAIL) {
		verdict_init(v, MTASTS_ENFORCE_TEMPFAIL);
		v->type = mtasts_tlsrpt_type_parse(
		    mtasts_result_failure_type(r));
		if (v->type < 0)
			v->type = MTASTS_TLSRPT_STS_FETCH_ERROR;
		verdict_set(v, MTASTS_VERDICT_DEFER, STATUS_POLICY_UNKNOWN,
		    "policy of %s not available: %s", mtasts_result_domain(r),
		    result_what(r));
		return v->mode;
	}
	m = result_mode(r);
	verdict_init(v, m == MTASTS_MODE_ENFORCE ? MTASTS_ENFORCE_ENFORCE :
	    m == MTASTS_MODE_TESTING ? MTASTS_ENFORCE_TESTING :
	    MTASTS_ENFORCE_NONE);
	return v->mode;
}

/* ------------------------------------------------ held domains (D-EXIM-11) */

/*
 * "<cache_dir>/.held.<domain>": a dotfile, so the cache's own listing,
 * `mtasts cache list` and `cache flush` never see it.
 */
#define HELD_PREFIX ".held."
#define HELD_FILE_MAX 64

static int
held_path(const struct mtasts_ctx *ctx, const char *domain, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/" HELD_PREFIX "%s", ctx->cfg.cache_dir,
	    domain);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * 1 and *until when domain has a held marker, 0 when it has none. An
 * unreadable or malformed marker counts as held with no end (fail
 * closed): *until is then -1.
 */
static int
held_get(const struct mtasts_ctx *ctx, const char *domain, long long *until)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char buf[HELD_FILE_MAX + 1];
	struct stat sb;
	uint64_t v;
	ssize_t n;
	size_t len;
	int fd;

	*until = -1;
	if (held_path(ctx, domain, path, sizeof(path)) != 0)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1)
		return errno == ENOENT || errno == ENOTDIR ? 0 : 1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > HELD_FILE_MAX ||
	    (n = read(fd, buf, HELD_FILE_MAX)) <= 0) {
		close(fd);
		return 1;
	}
	close(fd);
	len = (size_t)n;
	if (buf[len - 1] == '\n')
		len--;
	if (mtasts_parse_u64(buf, len, (uint64_t)1 << 40, &v) == 0)
		*until = (long long)v;
	return 1;
}

int
mtasts_enforce_held_note(struct mtasts_ctx *ctx,
    const struct mtasts_result *r, struct mtasts_error *err)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char line[32];
	const char *why = NULL;
	long long until;
	int fd, n, rc = MTASTS_OK;

	if (ctx == NULL || r == NULL ||
	    result_mode(r) != MTASTS_MODE_ENFORCE || r->expires <= time(NULL))
		return MTASTS_OK;
	if (held_get(ctx, r->domain, &until) && until >= r->expires)
		return MTASTS_OK;	/* already held at least as long */
	if (held_path(ctx, r->domain, path, sizeof(path)) != 0)
		return MTASTS_OK;
	/* Regular file, one link, no symlink, never blocks (D-FILE-1). */
	fd = mtasts_open_file(AT_FDCWD, path, O_WRONLY | O_CREAT, 0660, &why);
	if (fd == -1)
		return mtasts_err(err, MTASTS_ERROR, "cannot remember the "
		    "held mail in %s: %s", path,
		    why != NULL ? why : strerror(errno));
	n = snprintf(line, sizeof(line), "%lld\n", (long long)r->expires);
	if (n <= 0 || ftruncate(fd, 0) != 0 || write(fd, line, (size_t)n) != n)
		rc = mtasts_err(err, MTASTS_ERROR, "cannot write %s: %s", path,
		    strerror(errno));
	close(fd);
	return rc;
}

int
mtasts_enforce_held_apply(struct mtasts_ctx *ctx, struct mtasts_result *r)
{
	char path[MTASTS_PATH_MAX + MTASTS_DOMAIN_MAX + 16];
	char why[MTASTS_REASON_MAX];
	long long until;

	if (ctx == NULL || r == NULL || r->status == MTASTS_LOOKUP_TEMPFAIL ||
	    (r->status == MTASTS_LOOKUP_POLICY &&
	    result_mode(r) == MTASTS_MODE_ENFORCE))
		return 0;
	if (!held_get(ctx, r->domain, &until))
		return 0;
	if (r->status == MTASTS_LOOKUP_POLICY || r->failure_type[0] == '\0' ||
	    (until >= 0 && until <= (long long)time(NULL))) {
		/* A definite answer, or the hold ran out: forget it. */
		if (held_path(ctx, r->domain, path, sizeof(path)) == 0)
			(void)unlink(path);
		return 0;
	}
	snprintf(why, sizeof(why), "policy unknown (%s); mail for this domain "
	    "was held under its enforce policy, valid until %lld",
	    r->failure_reason, until);
	mtasts_strlcpy(r->failure_reason, why, sizeof(r->failure_reason));
	r->status = MTASTS_LOOKUP_TEMPFAIL;
	mtasts_log(ctx, MTASTS_LOG_WARN, "%s: %s: deferred", r->domain, why);
	return 1;
}

int
mtasts_enforce_cached(struct mtasts_ctx *ctx, const char *domain, char *why,
    size_t whysize)
{
	struct mtasts_cache_entry *e = NULL;
	struct mtasts_error err = { 0, "" };
	char norm[MTASTS_DOMAIN_MAX + 1];
	time_t now;
	int rc, r = 0;

	if (whysize > 0)
		why[0] = '\0';
	if (ctx == NULL || domain == NULL ||
	    mtasts_domain_normalize(domain, strlen(domain), norm, &err) !=
	    MTASTS_OK) {
		if (whysize > 0)
			snprintf(why, whysize, "%s", err.text);
		return 0;
	}
	rc = mtasts_cache_load(ctx, norm, &e, &err);
	now = mtasts_now(ctx);
	if (rc == MTASTS_OK && e->policy != NULL && now < e->expires_at) {
		r = 1;
		if (whysize > 0)
			snprintf(why, whysize, "a valid cached policy");
	} else if (rc == MTASTS_OK && e->policy == NULL &&
	    e->txt_id[0] == '\0' && e->txt_checked_at != 0 &&
	    e->txt_checked_at <= now &&
	    now - e->txt_checked_at < ctx->cfg.txt_check_interval) {
		/* lookup.c's fast path answers "no policy" from this. */
		r = 2;
		if (whysize > 0)
			snprintf(why, whysize, "no MTA-STS record (discovered "
			    "%lld s ago)",
			    (long long)(now - e->txt_checked_at));
	} else if (whysize > 0)
		snprintf(why, whysize, "%s", rc == MTASTS_NOTFOUND ?
		    "no usable cache entry (missing, corrupt or flushed)" :
		    rc != MTASTS_OK ? err.text :
		    e->policy != NULL ? "the cached policy has expired" :
		    "the cache entry holds no policy");
	if (rc == MTASTS_OK)
		mtasts_cache_entry_free(e);
	return r;
}

/* --------------------------------------------- classification (D-ENF-2) */

/* Does a DNS-ID of names (see struct mtasts_session_facts) name host? */
static int
names_host(const char *names, const char *host)
{
	const char *p = names;
	size_t hl = strlen(host);

	while (*p != '\0') {
		size_t n = strcspn(p, "\n;,");
		const char *s = p;

		while (n > 0 && *s == ' ') {
			s++;
			n--;
		}
		/* "DNS=name" or untagged name; other tags are not DNS-IDs. */
		if (n > 4 && strncasecmp(s, "DNS=", 4) == 0) {
			s += 4;
			n -= 4;
		} else if (memchr(s, '=', n) != NULL)
			n = 0;
		if (n > 0 && mtasts_mx_match(s, n, host, hl))
			return 1;
		p += strcspn(p, "\n;,");
		if (*p != '\0')
			p++;
	}
	return 0;
}

/* A failed certificate check, classified (RFC 8460 §4.3.2). */
static int
cert_type(const struct mtasts_session_facts *f, time_t now)
{
	switch (f->cert) {
	case MTASTS_CERT_EXPIRED:
		return MTASTS_TLSRPT_CERT_EXPIRED;
	case MTASTS_CERT_UNTRUSTED:
		return MTASTS_TLSRPT_CERT_NOT_TRUSTED;
	case MTASTS_CERT_NAME_MISMATCH:
		return MTASTS_TLSRPT_CERT_HOST_MISMATCH;
	case MTASTS_CERT_FAILED:
		break;
	default:
		return MTASTS_TLSRPT_VALIDATION_FAILURE;
	}
	/* The MTA says only "failed": judge from what it has seen. */
	if (!f->cert_seen)
		return MTASTS_TLSRPT_VALIDATION_FAILURE;
	if (f->cert_notafter > 0 && f->cert_notafter < (long long)now)
		return MTASTS_TLSRPT_CERT_EXPIRED;
	if (f->mx_host != NULL &&
	    !names_host(f->cert_names != NULL ? f->cert_names : "", f->mx_host))
		return MTASTS_TLSRPT_CERT_HOST_MISMATCH;
	return MTASTS_TLSRPT_CERT_NOT_TRUSTED;
}

int
mtasts_verdict_classify(const struct mtasts_session_facts *f, time_t now,
    int *type, const char **reason)
{
	const char *code = NULL;
	int t = MTASTS_TLSRPT_NONE, known = 1;

	if (now == 0)
		now = time(NULL);
	switch (f->dane) {
	case MTASTS_DANE_NONE:
		break;
	case MTASTS_DANE_OK:
		goto done;
	case MTASTS_DANE_NO_MATCH:
		t = MTASTS_TLSRPT_TLSA_INVALID;
		goto done;
	case MTASTS_DANE_DNSSEC_INVALID:
		t = MTASTS_TLSRPT_DNSSEC_INVALID;
		goto done;
	case MTASTS_DANE_REQUIRED:
		t = MTASTS_TLSRPT_DANE_REQUIRED;
		goto done;
	default:
		t = MTASTS_TLSRPT_VALIDATION_FAILURE;
		goto done;
	}
	if (f->tls == MTASTS_TLS_UP) {
		if (f->cert == MTASTS_CERT_OK)
			goto done;
		if (f->cert == MTASTS_CERT_UNKNOWN) {
			/* TLS with no verification verdict: not an outcome. */
			known = 0;
			goto done;
		}
		t = cert_type(f, now);
		code = RC_AFTER_HANDSHAKE;
		goto done;
	}
	if (f->starttls == MTASTS_STARTTLS_NOT_OFFERED) {
		t = MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED;
		code = RC_NO_STARTTLS;
		goto done;
	}
	if (f->starttls == MTASTS_STARTTLS_REFUSED) {
		t = MTASTS_TLSRPT_VALIDATION_FAILURE;
		code = RC_STARTTLS_REFUSED;
		goto done;
	}
	if (f->tls == MTASTS_TLS_FAILED) {
		t = cert_type(f, now);
		code = RC_HANDSHAKE;
		goto done;
	}
	known = 0;
done:
	*type = known ? t : MTASTS_TLSRPT_NONE;
	if (!known)
		*reason = NULL;
	else if (f->detail != NULL)
		*reason = f->detail;
	else
		*reason = t == MTASTS_TLSRPT_NONE ? NULL :
		    code != NULL ? code : mtasts_tlsrpt_type_name(t);
	return known;
}

/* D-ENF-1: the status code a failure of type t suggests. */
static const char *
failure_status(int t)
{
	return t == MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED ? STATUS_NO_STARTTLS :
	    STATUS_AUTH_FAILED;
}

int
mtasts_verdict_session(const struct mtasts_result *r,
    const struct mtasts_session_facts *f, time_t now,
    struct mtasts_verdict *v)
{
	const struct mtasts_policy *p = NULL;
	const char *reason = NULL;
	int m = result_mode(r), type;

	verdict_init(v, m == MTASTS_MODE_ENFORCE ? MTASTS_ENFORCE_ENFORCE :
	    m == MTASTS_MODE_TESTING ? MTASTS_ENFORCE_TESTING :
	    MTASTS_ENFORCE_NONE);
	if (m != MTASTS_MODE_NONE)
		p = mtasts_result_policy(r);
	/*
	 * RFC 8461 §2: DANE decides before MTA-STS and is never overridden
	 * (D-DANE-1); so the MX rule is not applied to a DANE outcome here.
	 */
	if (f->dane == MTASTS_DANE_NONE && p != NULL && f->mx_host != NULL &&
	    (f->mx_literal || !mtasts_policy_mx_allowed(p, f->mx_host,
	    strlen(f->mx_host)))) {
		/* §4.1: an address literal matches no mx pattern. */
		v->known = 1;
		v->type = MTASTS_TLSRPT_VALIDATION_FAILURE;
		reason = f->detail != NULL ? f->detail : RC_MX_MISMATCH;
	} else if (mtasts_verdict_classify(f, now, &type, &reason)) {
		v->known = 1;
		v->type = type;
	}
	if (reason != NULL)
		mtasts_strlcpy(v->reason, reason, sizeof(v->reason));
	else if (v->known && f->detail != NULL)
		mtasts_strlcpy(v->reason, f->detail, sizeof(v->reason));
	if (!v->known || v->type == MTASTS_TLSRPT_NONE)
		return v->known;
	if (f->dane != MTASTS_DANE_NONE) {
		/* A DANE failure: the host is not used, whatever the mode. */
		v->action = MTASTS_VERDICT_SKIP_HOST;
		mtasts_strlcpy(v->status, STATUS_AUTH_FAILED,
		    sizeof(v->status));
	} else if (m == MTASTS_MODE_ENFORCE) {
		v->action = MTASTS_VERDICT_SKIP_HOST;
		mtasts_strlcpy(v->status, failure_status(v->type),
		    sizeof(v->status));
	} else if (m == MTASTS_MODE_TESTING)
		v->action = MTASTS_VERDICT_DELIVER_REPORT;
	return v->known;
}
