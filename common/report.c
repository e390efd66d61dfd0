/* SPDX-License-Identifier: ISC */
/*
 * report.c - RFC 8460 aggregate reports: read one UTC day of the session
 * spool (tlsrpt.c), aggregate it per policy domain into exactly the §4
 * JSON, and deliver it gzip'd (§5) to the domain's rua: `mailto:` through
 * the local MTA's sendmail interface, `https:` by POST.
 *
 * Only domains with a valid `_smtp._tls` TXT record get a report (§3).
 * Decisions: docs/decisions.md D-RPT-4 .. D-RPT-9.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include "mtasts_internal.h"

#define DAY 86400
/* Argument words of the sendmail command. */
#define SENDMAIL_ARGS_MAX 16
/* How long sendmail and an HTTPS POST may take. */
#define SEND_TIMEOUT_MS 60000
/* Response head read from an HTTPS collector. */
#define POST_RESPONSE_MAX 16384

/* RFC 8460 result types: the list is tlsrpt.c's. */
static int
known_result_type(const char *s)
{
	return mtasts_tlsrpt_result_type_index(s) != -1;
}

/* ------------------------------------------------------------------ */
/* Report identity.                                                    */

static const char *
contact_domain(const struct mtasts_ctx *ctx)
{
	const char *at = strrchr(ctx->cfg.report_contact, '@');

	return at != NULL ? at + 1 : "";
}

int
mtasts_report_identity(const struct mtasts_ctx *ctx, char *submitter,
    size_t size, struct mtasts_error *err)
{
	const char *cd = contact_domain(ctx);
	char d[MTASTS_DOMAIN_MAX + 1];

	if (size > 0)
		submitter[0] = '\0';
	if (ctx->cfg.report_contact[0] == '\0')
		return mtasts_err(err, MTASTS_ERROR,
		    "report_contact is not configured");
	if (mtasts_domain_normalize(cd, strlen(cd), d, err) != MTASTS_OK)
		return MTASTS_ERROR;
	/*
	 * §5.3: "The 'TLS-Report-Submitter' value MUST match the value
	 * found in the [RFC5321] domain from the 'contact-info'": a domain,
	 * never the organization name (tlsrpt-reporter#56).
	 */
	if (ctx->cfg.report_submitter[0] != '\0' &&
	    strcmp(ctx->cfg.report_submitter, d) != 0)
		return mtasts_err(err, MTASTS_ERROR, "report_submitter %s "
		    "differs from the domain of report_contact (%s); RFC 8460 "
		    "§5.3 requires them equal", ctx->cfg.report_submitter, d);
	if (mtasts_strlcpy(submitter, d, size) >= size)
		return mtasts_err(err, MTASTS_ERROR, "submitter too long");
	return MTASTS_OK;
}

/* ------------------------------------------------------------------ */
/* Aggregation.                                                        */

struct agg_domain {
	char domain[MTASTS_DOMAIN_MAX + 1];
	json_t *policies;	/* array of {policy, summary, failure-details} */
	json_t *pindex;		/* policy key -> index */
	json_t *dindex;		/* array (per policy) of detail key -> index */
};

struct agg {
	json_t *domains;	/* domain -> index into v */
	struct agg_domain *v;
	size_t n, cap;
};

static void
agg_clear(struct agg *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		json_decref(a->v[i].policies);
		json_decref(a->v[i].pindex);
		json_decref(a->v[i].dindex);
	}
	free(a->v);
	json_decref(a->domains);
	memset(a, 0, sizeof(*a));
}

static struct agg_domain *
agg_domain(struct agg *a, const char *domain)
{
	json_t *ix = json_object_get(a->domains, domain);
	struct agg_domain *d;

	if (ix != NULL)
		return &a->v[json_integer_value(ix)];
	if (a->n == a->cap) {
		size_t nc = a->cap == 0 ? 16 : a->cap * 2;
		struct agg_domain *nv = realloc(a->v, nc * sizeof(*nv));

		if (nv == NULL)
			return NULL;
		a->v = nv;
		a->cap = nc;
	}
	d = &a->v[a->n];
	memset(d, 0, sizeof(*d));
	mtasts_strlcpy(d->domain, domain, sizeof(d->domain));
	d->policies = json_array();
	d->pindex = json_object();
	d->dindex = json_array();
	if (d->policies == NULL || d->pindex == NULL || d->dindex == NULL ||
	    json_object_set_new(a->domains, domain,
	    json_integer((json_int_t)a->n)) != 0) {
		json_decref(d->policies);
		json_decref(d->pindex);
		json_decref(d->dindex);
		return NULL;
	}
	a->n++;
	return d;
}

/* A string member or NULL; a present non-string member is an error. */
static int
opt_str(json_t *o, const char *k, const char **out)
{
	json_t *v = json_object_get(o, k);

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

static int
str_array(json_t *v)
{
	size_t i;
	json_t *e;

	if (v == NULL)
		return 1;
	if (!json_is_array(v))
		return 0;
	json_array_foreach(v, i, e)
		if (!json_is_string(e))
			return 0;
	return 1;
}

/* Bump an integer member. */
static void
bump(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	json_integer_set(v, json_integer_value(v) + 1);
}

/*
 * Add one spool record. Returns 0, 1 when the record is malformed (the
 * caller counts it with the torn lines), -1 when out of memory.
 */
/* The members of one spool record, checked (rec_parse). */
struct rec_fields {
	const char *d, *pt, *r, *si, *rh, *ri, *fr, *helo;
	json_t *ps, *mx;
};

/* 0 and f filled when rec is a well-formed record, 1 when malformed. */
static int
rec_parse(json_t *rec, struct rec_fields *f)
{
	memset(f, 0, sizeof(*f));
	if (!json_is_object(rec))
		return 1;
	f->ps = json_object_get(rec, "ps");
	f->mx = json_object_get(rec, "mx");
	/* The domain is LDH (hostname_valid): a label can never carry it. */
	if (json_integer_value(json_object_get(rec, "v")) != 1 ||
	    opt_str(rec, "d", &f->d) != 0 || f->d == NULL ||
	    !mtasts_hostname_valid(f->d, strlen(f->d)) ||
	    opt_str(rec, "pt", &f->pt) != 0 || f->pt == NULL ||
	    (strcmp(f->pt, "sts") != 0 && strcmp(f->pt, "tlsa") != 0 &&
	    strcmp(f->pt, "no-policy-found") != 0) ||
	    opt_str(rec, "r", &f->r) != 0 || (f->r != NULL &&
	    !known_result_type(f->r)) || opt_str(rec, "si", &f->si) != 0 ||
	    opt_str(rec, "rh", &f->rh) != 0 || opt_str(rec, "ri", &f->ri) != 0 ||
	    opt_str(rec, "fr", &f->fr) != 0 ||
	    opt_str(rec, "rhelo", &f->helo) != 0 ||
	    !str_array(f->ps) || !str_array(f->mx))
		return 1;
	return 0;
}

static int
agg_add(struct agg *a, json_t *rec, int with_reason)
{
	struct rec_fields f;
	const char *d, *pt, *r, *si, *rh, *ri, *fr, *helo;
	json_t *ps, *mx, *key = NULL, *ix, *pol, *summ, *dix, *det;
	struct agg_domain *ad;
	char *ks = NULL;
	size_t pi;
	int rc = -1;

	if (rec_parse(rec, &f) != 0)
		return 1;
	d = f.d;
	pt = f.pt;
	r = f.r;
	si = f.si;
	rh = f.rh;
	ri = f.ri;
	fr = f.fr;
	helo = f.helo;
	ps = f.ps;
	mx = f.mx;
	if ((ad = agg_domain(a, d)) == NULL)
		return -1;
	/* One policy object per distinct (type, policy-string, mx-host). */
	key = json_pack("[sOO]", pt, ps != NULL ? ps : json_null(),
	    mx != NULL ? mx : json_null());
	if (key == NULL || (ks = json_dumps(key, JSON_COMPACT)) == NULL)
		goto done;
	if ((ix = json_object_get(ad->pindex, ks)) != NULL)
		pi = (size_t)json_integer_value(ix);
	else {
		json_t *p = json_object(), *entry;

		if (p == NULL)
			goto done;
		json_object_set_new(p, "policy-type", json_string(pt));
		/* §4.4: policy-string is an array of strings. */
		if (ps != NULL && json_array_size(ps) > 0)
			json_object_set(p, "policy-string", ps);
		json_object_set_new(p, "policy-domain", json_string(d));
		/* D-RPT-6: mx-host as an array (errata 6241 practice). */
		if (mx != NULL && json_array_size(mx) > 0)
			json_object_set(p, "mx-host", mx);
		entry = json_pack("{s:o, s:{s:I, s:I}, s:[]}", "policy", p,
		    "summary", "total-successful-session-count",
		    (json_int_t)0, "total-failure-session-count",
		    (json_int_t)0, "failure-details");
		if (entry == NULL)
			goto done;
		pi = json_array_size(ad->policies);
		json_array_append_new(ad->policies, entry);
		json_array_append_new(ad->dindex, json_object());
		json_object_set_new(ad->pindex, ks, json_integer(
		    (json_int_t)pi));
	}
	pol = json_array_get(ad->policies, pi);
	summ = json_object_get(pol, "summary");
	if (r == NULL) {
		bump(summ, "total-successful-session-count");
		rc = 0;
		goto done;
	}
	bump(summ, "total-failure-session-count");
	if (!with_reason)
		fr = NULL;
	/* §4.4: failure details aggregated by these five members. */
	json_decref(key);
	free(ks);
	ks = NULL;
	key = json_pack("[sssss]", r, si ? si : "", rh ? rh : "",
	    ri ? ri : "", fr ? fr : "");
	if (key == NULL || (ks = json_dumps(key, JSON_COMPACT)) == NULL)
		goto done;
	dix = json_array_get(ad->dindex, pi);
	det = json_object_get(pol, "failure-details");
	if ((ix = json_object_get(dix, ks)) != NULL) {
		json_t *fd = json_array_get(det, (size_t)json_integer_value(
		    ix));

		bump(fd, "failed-session-count");
		if (helo != NULL && json_object_get(fd,
		    "receiving-mx-helo") == NULL)
			json_object_set_new(fd, "receiving-mx-helo",
			    json_string(helo));
	} else {
		json_t *fd = json_object();

		if (fd == NULL)
			goto done;
		json_object_set_new(fd, "result-type", json_string(r));
		if (si != NULL)
			json_object_set_new(fd, "sending-mta-ip",
			    json_string(si));
		if (rh != NULL)
			json_object_set_new(fd, "receiving-mx-hostname",
			    json_string(rh));
		if (helo != NULL)
			json_object_set_new(fd, "receiving-mx-helo",
			    json_string(helo));
		if (ri != NULL)
			json_object_set_new(fd, "receiving-ip",
			    json_string(ri));
		json_object_set_new(fd, "failed-session-count",
		    json_integer(1));
		if (fr != NULL)
			json_object_set_new(fd, "failure-reason-code",
			    json_string(fr));
		json_object_set_new(dix, ks, json_integer(
		    (json_int_t)json_array_size(det)));
		json_array_append_new(det, fd);
	}
	rc = 0;
done:
	json_decref(key);
	free(ks);
	return rc;
}

/*
 * A consumer of spool records: 0 counted, 1 malformed (counted with the
 * torn lines), -1 out of memory.
 */
typedef int spool_rec_fn(void *arg, json_t *rec, int with_reason);

static int
agg_add_fn(void *arg, json_t *rec, int with_reason)
{
	return agg_add(arg, rec, with_reason);
}

/*
 * Read one day's spool file, every record that counts to fn: the same
 * reading for the reports and the metrics (D-MET-1).
 */
static int
read_spool(struct mtasts_ctx *ctx, const char *dir, time_t day,
    spool_rec_fn *fn, void *arg, struct mtasts_report_stats *st,
    struct mtasts_error *err)
{
	char path[MTASTS_PATH_MAX + 32], dp[MTASTS_PATH_MAX + 48], ymd[16];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct stat sb;
	FILE *f = NULL;
	json_t *seen = NULL;
	int rc = MTASTS_ERROR;

	mtasts_tlsrpt_day_name(day, ymd, sizeof(ymd));
	if (ymd[0] == '\0' || (size_t)snprintf(path, sizeof(path),
	    "%s/%s.jsonl", dir, ymd) >= sizeof(path))
		return mtasts_err(err, MTASTS_ERROR, "spool path too long");
	snprintf(dp, sizeof(dp), "%s.dropped", path);
	if (stat(dp, &sb) == 0)
		st->dropped += (size_t)sb.st_size;
	/* D-FILE-1: a FIFO or link planted in the spool must not hang us. */
	{
		const char *why = NULL;
		int fd = mtasts_open_file(AT_FDCWD, path, O_RDONLY, 0, &why);

		if (fd == -1) {
			if (errno == ENOENT)
				return MTASTS_OK;	/* no sessions that day */
			return mtasts_err(err, MTASTS_ERROR, "%s: %s", path,
			    why != NULL ? why : strerror(errno));
		}
		if ((f = fdopen(fd, "r")) == NULL) {
			close(fd);
			return mtasts_err(err, MTASTS_NOMEM, "%s: %s", path,
			    strerror(errno));
		}
	}
	/* D-RPT-12: attempt keys seen in this host's spool. */
	if ((seen = json_object()) == NULL) {
		mtasts_err_set(err, MTASTS_NOMEM, "out of memory");
		goto done;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *rec;
		int r;

		/*
		 * A line without its newline was torn by a crash or a full
		 * disk; an over-long one cannot come from tlsrpt.c.
		 */
		if (line[n - 1] != '\n' || (size_t)n > MTASTS_TLSRPT_RECORD_MAX ||
		    memchr(line, '\0', (size_t)n) != NULL) {
			st->torn++;
			continue;
		}
		if (n == 1)
			continue;
		if ((rec = json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES,
		    NULL)) == NULL) {
			st->torn++;
			continue;
		}
		if (json_integer_value(json_object_get(rec, "f")) &
		    MTASTS_TLSRPT_REC_REPORT_MAIL) {
			/* §3: report mail is not part of the next report. */
			st->excluded++;
			json_decref(rec);
			continue;
		}
		{
			/*
			 * D-RPT-12: a record with an attempt key "k" is one
			 * delivery attempt however often it was written (Exim
			 * routes a message twice in a two-stage queue run).
			 */
			json_t *k = json_object_get(rec, "k");

			if (json_is_string(k)) {
				if (json_object_get(seen,
				    json_string_value(k)) != NULL) {
					st->duplicates++;
					json_decref(rec);
					continue;
				}
				if (json_object_set_new(seen,
				    json_string_value(k), json_true()) != 0) {
					json_decref(rec);
					mtasts_err_set(err, MTASTS_NOMEM,
					    "out of memory");
					goto done;
				}
			}
		}
		r = fn(arg, rec, ctx->cfg.report_reason >= 0);
		json_decref(rec);
		if (r < 0) {
			mtasts_err_set(err, MTASTS_NOMEM, "out of memory");
			goto done;
		}
		if (r > 0)
			st->torn++;
		else
			st->records++;
	}
	if (ferror(f)) {
		mtasts_err_set(err, MTASTS_ERROR, "%s: read error", path);
		goto done;
	}
	rc = MTASTS_OK;
done:
	json_decref(seen);
	free(line);
	fclose(f);
	return rc;
}

int
mtasts_report_rua_dns(void *arg, struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	char qname[MTASTS_DOMAIN_MAX + 16];
	struct mtasts_dns_answer *a = NULL;
	char **recs = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	(void)arg;
	memset(out, 0, sizeof(*out));
	/* §3: the policy is published at "_smtp._tls.<Policy Domain>". */
	if ((size_t)snprintf(qname, sizeof(qname), "_smtp._tls.%s", domain) >=
	    sizeof(qname))
		return mtasts_err(err, MTASTS_INVALID, "name too long");
	if ((rc = mtasts_dns_query(ctx, qname, 16, ctx->cfg.dns_timeout_ms, &a,
	    err)) != MTASTS_OK)
		return rc;
	switch (a->status) {
	case MTASTS_DNS_ANSWER:
		break;
	case MTASTS_DNS_NXDOMAIN:
	case MTASTS_DNS_NODATA:
		rc = mtasts_err(err, MTASTS_NOTFOUND, "%s: no TXT record",
		    qname);
		goto done;
	default:
		rc = mtasts_err(err, MTASTS_TEMPFAIL, "%s: %s", qname,
		    a->why[0] ? a->why : "DNS failure");
		goto done;
	}
	if ((rc = mtasts_dns_txt_decode(a, &recs, &lens, &n)) != MTASTS_OK) {
		mtasts_err_set(err, rc, "%s: malformed TXT", qname);
		goto done;
	}
	rc = mtasts_tlsrpt_txt_select((const char *const *)recs, lens, n, out,
	    err);
done:
	mtasts_dns_txt_free(recs, lens, n);
	mtasts_dns_answer_free(a);
	return rc;
}

static int
cmp_domain(const void *x, const void *y)
{
	return strcmp(((const struct agg_domain *)x)->domain,
	    ((const struct agg_domain *)y)->domain);
}

void
mtasts_report_free(struct mtasts_report *r, size_t n)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < n; i++)
		free(r[i].json);
	free(r);
}

static void
rfc3339(time_t t, char *buf, size_t size)
{
	struct tm tm;

	buf[0] = '\0';
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
mtasts_report_host_id(const struct mtasts_ctx *ctx, char *buf, size_t size)
{
	char h[MTASTS_DOMAIN_MAX + 2];
	size_t i, j;

	if (size == 0)
		return -1;
	buf[0] = '\0';
	if (ctx->cfg.report_host_id[0] != '\0')
		return mtasts_strlcpy(buf, ctx->cfg.report_host_id, size) <
		    size ? 0 : -1;
	/*
	 * D-RPT-11: the host name, lower case, reduced to LDH labels so it
	 * stays dot-atom-text in the report-id and Message-ID.
	 */
	if (gethostname(h, sizeof(h)) != 0)
		h[0] = '\0';
	h[sizeof(h) - 1] = '\0';
	for (i = j = 0; h[i] != '\0' && j + 1 < size; i++) {
		char c = h[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.'))
			c = '-';
		if (c == '.' && (j == 0 || buf[j - 1] == '.'))
			continue;
		buf[j++] = c;
	}
	while (j > 0 && buf[j - 1] == '.')
		j--;
	buf[j] = '\0';
	if (j == 0 && mtasts_strlcpy(buf, "localhost", size) >= size)
		return -1;
	return 0;
}

int
mtasts_report_build(struct mtasts_ctx *ctx, time_t day,
    mtasts_report_rua_fn *fn, void *arg, struct mtasts_report **out,
    size_t *nout, struct mtasts_report_stats *st, struct mtasts_error *err)
{
	return mtasts_report_build_spools(ctx, day, NULL, 0, fn, arg, out,
	    nout, st, err);
}

int
mtasts_report_build_spools(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, mtasts_report_rua_fn *fn,
    void *arg, struct mtasts_report **out, size_t *nout,
    struct mtasts_report_stats *st, struct mtasts_error *err)
{
	struct agg a;
	struct mtasts_report *v = NULL;
	char submitter[MTASTS_DOMAIN_MAX + 1], start[32], end[32];
	char ymd[16], compact[16], hid[MTASTS_DOMAIN_MAX + 1];
	char hid_alnum[MTASTS_DOMAIN_MAX + 1];
	time_t begin = day - (day % DAY);
	size_t i, j, n = 0;
	int rc;

	*out = NULL;
	*nout = 0;
	memset(st, 0, sizeof(*st));
	memset(&a, 0, sizeof(a));
	if ((rc = mtasts_report_identity(ctx, submitter, sizeof(submitter),
	    err)) != MTASTS_OK)
		return rc;
	/*
	 * D-RPT-11: the report of one host's spool names the host; a report
	 * aggregated over the spools of a fleet (spools given) is the
	 * submitter's one report for the domain and day.
	 */
	hid[0] = hid_alnum[0] = '\0';
	if (spools == NULL) {
		if (mtasts_report_host_id(ctx, hid, sizeof(hid)) != 0)
			return mtasts_err(err, MTASTS_ERROR,
			    "report host id too long");
		for (i = j = 0; hid[i] != '\0'; i++)
			if ((hid[i] >= 'a' && hid[i] <= 'z') ||
			    (hid[i] >= '0' && hid[i] <= '9'))
				hid_alnum[j++] = hid[i];
		hid_alnum[j] = '\0';
	}
	if ((a.domains = json_object()) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	if (spools == NULL) {
		if ((rc = read_spool(ctx, mtasts_tlsrpt_dir(ctx), begin,
		    agg_add_fn, &a, st, err)) != MTASTS_OK)
			goto done;
	} else
		for (i = 0; i < nspools; i++) {
			if ((rc = read_spool(ctx, spools[i], begin,
			    agg_add_fn, &a, st, err)) != MTASTS_OK)
				goto done;
			st->spools++;
		}
	st->domains = a.n;
	/* json_object keeps insertion order; sort for stable output. */
	if (a.n > 1)
		qsort(a.v, a.n, sizeof(a.v[0]), cmp_domain);
	if (a.n > 0 && (v = calloc(a.n, sizeof(*v))) == NULL) {
		rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
		goto done;
	}
	/* §4.1: a full UTC day, 0000-2400, as [00:00:00, 23:59:59]. */
	rfc3339(begin, start, sizeof(start));
	rfc3339(begin + DAY - 1, end, sizeof(end));
	mtasts_tlsrpt_day_name(begin, ymd, sizeof(ymd));
	for (i = j = 0; ymd[i] != '\0' && j + 1 < sizeof(compact); i++)
		if (ymd[i] != '-')
			compact[j++] = ymd[i];
	compact[j] = '\0';
	for (i = 0; i < a.n; i++) {
		struct mtasts_report *r = &v[n];
		struct mtasts_error e = { 0, "" };
		json_t *rep;
		int frc;

		frc = fn(arg, ctx, a.v[i].domain, &r->rua, &e);
		if (frc == MTASTS_TEMPFAIL || frc == MTASTS_ERROR ||
		    frc == MTASTS_NOMEM) {
			st->tempfail++;
			mtasts_log(ctx, MTASTS_LOG_WARN, "report: %s: TLSRPT "
			    "lookup failed, no report now: %s", a.v[i].domain,
			    e.text);
			continue;
		}
		if (frc != MTASTS_OK) {
			st->no_tlsrpt++;
			mtasts_log(ctx, MTASTS_LOG_DEBUG, "report: %s: no "
			    "usable TLSRPT record: %s", a.v[i].domain, e.text);
			continue;
		}
		mtasts_strlcpy(r->domain, a.v[i].domain, sizeof(r->domain));
		mtasts_strlcpy(r->submitter, submitter, sizeof(r->submitter));
		r->begin = begin;
		r->end = begin + DAY - 1;
		/*
		 * D-RPT-4, D-RPT-11: report-id "<yyyymmdd>.<domain>+<host>@
		 * <submitter>" is unique per (submitter, host, domain, day)
		 * and stable across rebuilds, so a resend is recognisable as
		 * the same report; a fleet aggregate has no "+<host>". It is
		 * also the Report-ID of the subject (§5.3), dot-atom-text.
		 */
		if (hid[0] != '\0')
			snprintf(r->report_id, sizeof(r->report_id),
			    "%s.%s+%s@%s", compact, r->domain, hid, submitter);
		else
			snprintf(r->report_id, sizeof(r->report_id), "%s.%s@%s",
			    compact, r->domain, submitter);
		/*
		 * §5.1: sender!policy-domain!begin!end!unique-id.json, the
		 * unique-id 1*(ALPHA / DIGIT): the day and the host's letters
		 * and digits.
		 */
		snprintf(r->file_name, sizeof(r->file_name),
		    "%s!%s!%lld!%lld!%s%s.json", submitter, r->domain,
		    (long long)r->begin, (long long)r->end, compact, hid_alnum);
		rep = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:O}",
		    "organization-name", ctx->cfg.report_org_name[0] ?
		    ctx->cfg.report_org_name : submitter, "date-range",
		    "start-datetime", start, "end-datetime", end,
		    "contact-info", ctx->cfg.report_contact, "report-id",
		    r->report_id, "policies", a.v[i].policies);
		if (rep == NULL || (r->json = json_dumps(rep, JSON_INDENT(2) |
		    JSON_PRESERVE_ORDER)) == NULL) {
			json_decref(rep);
			rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
			goto done;
		}
		json_decref(rep);
		r->json_len = strlen(r->json);
		n++;
	}
	*out = v;
	*nout = n;
	v = NULL;
	n = 0;
	rc = MTASTS_OK;
done:
	mtasts_report_free(v, n);
	agg_clear(&a);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Tally: per-domain session counts for `mtasts metrics|status`.       */

/* 1 if a policy-string line is "mode: enforce" (RFC 8461 §3.2 syntax). */
static int
ps_line_enforce(const char *l)
{
	size_t n = strlen(l);

	while (n > 0 && (l[n - 1] == ' ' || l[n - 1] == '\t' ||
	    l[n - 1] == '\r'))
		n--;
	if (n < 5 || strncmp(l, "mode", 4) != 0)
		return 0;
	l += 4;
	n -= 4;
	while (n > 0 && (*l == ' ' || *l == '\t')) {
		l++;
		n--;
	}
	if (n == 0 || *l != ':')
		return 0;
	l++;
	n--;
	while (n > 0 && (*l == ' ' || *l == '\t')) {
		l++;
		n--;
	}
	return n == 7 && strncmp(l, "enforce", 7) == 0;
}

struct tally_ctx {
	struct mtasts_tally *t;
	json_t *index;		/* domain -> index into t->v */
};

static int
tally_add(void *arg, json_t *rec, int with_reason)
{
	struct tally_ctx *tc = arg;
	struct mtasts_tally *t = tc->t;
	struct mtasts_tally_domain *td;
	struct rec_fields f;
	json_t *ix;
	int rt;

	(void)with_reason;
	if (rec_parse(rec, &f) != 0)
		return 1;
	if ((ix = json_object_get(tc->index, f.d)) != NULL)
		td = &t->v[json_integer_value(ix)];
	else {
		if (t->n == t->cap) {
			size_t nc = t->cap == 0 ? 16 : t->cap * 2;
			struct mtasts_tally_domain *nv = realloc(t->v,
			    nc * sizeof(*nv));

			if (nv == NULL)
				return -1;
			t->v = nv;
			t->cap = nc;
		}
		td = &t->v[t->n];
		memset(td, 0, sizeof(*td));
		if (mtasts_strlcpy(td->domain, f.d, sizeof(td->domain)) >=
		    sizeof(td->domain))
			return 1;
		if (json_object_set_new(tc->index, f.d,
		    json_integer((json_int_t)t->n)) != 0)
			return -1;
		t->n++;
	}
	if (f.r == NULL) {
		td->ok++;
		return 0;
	}
	if ((rt = mtasts_tlsrpt_result_type_index(f.r)) < 0)
		return 1;	/* rec_parse let only known types through */
	td->fail[rt]++;
	td->failed++;
	/* D-MET-2: a failed session under an enforce policy moved no mail. */
	if (strcmp(f.pt, "sts") == 0) {
		size_t k;

		for (k = 0; k < json_array_size(f.ps); k++)
			if (ps_line_enforce(json_string_value(
			    json_array_get(f.ps, k)))) {
				td->enforce_failed++;
				break;
			}
	}
	return 0;
}

void
mtasts_tally_free(struct mtasts_tally *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

int
mtasts_spool_tally(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, struct mtasts_tally *t,
    struct mtasts_report_stats *st, struct mtasts_error *err)
{
	struct tally_ctx tc;
	time_t begin = day - (day % DAY);
	size_t i;
	int rc = MTASTS_OK;

	memset(t, 0, sizeof(*t));
	memset(st, 0, sizeof(*st));
	tc.t = t;
	if ((tc.index = json_object()) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	if (spools == NULL)
		rc = read_spool(ctx, mtasts_tlsrpt_dir(ctx), begin, tally_add,
		    &tc, st, err);
	else
		for (i = 0; i < nspools && rc == MTASTS_OK; i++) {
			rc = read_spool(ctx, spools[i], begin, tally_add, &tc,
			    st, err);
			st->spools++;
		}
	json_decref(tc.index);
	st->domains = t->n;
	if (rc != MTASTS_OK)
		mtasts_tally_free(t);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Delivery.                                                           */

int
mtasts_report_gzip(const char *in, size_t len, char **out, size_t *outlen)
{
	z_stream z;
	uLong bound;
	char *buf;
	int rc;

	*out = NULL;
	*outlen = 0;
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip (RFC 1952) member, §5.2. */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return MTASTS_NOMEM;
	bound = deflateBound(&z, (uLong)len) + 32;
	if ((buf = malloc(bound)) == NULL) {
		deflateEnd(&z);
		return MTASTS_NOMEM;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	*outlen = bound - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(buf);
		*outlen = 0;
		return MTASTS_ERROR;
	}
	*out = buf;
	return MTASTS_OK;
}

/* Growable text buffer for the message. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap == 0 ? 4096 : b->cap;
		char *np;

		while (nc < b->len + n + 1)
			nc *= 2;
		if ((np = realloc(b->p, nc)) == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_printf(struct buf *b, const char *fmt, ...) MTASTS_PRINTF(2, 3);

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->oom = 1;
		return;
	}
	buf_add(b, tmp, (size_t)n);
}

int
mtasts_report_mail(const struct mtasts_ctx *ctx,
    const struct mtasts_report *r, const char *rcpt, const char *gz,
    size_t gzlen, time_t now, char **out, size_t *outlen,
    struct mtasts_error *err)
{
	struct buf b = { NULL, 0, 0, 0 };
	char date[64], boundary[64], *b64 = NULL;
	const char *from = ctx->cfg.report_from[0] ? ctx->cfg.report_from :
	    ctx->cfg.report_contact;
	struct tm tm;
	size_t i, n;

	*out = NULL;
	*outlen = 0;
	if (gmtime_r(&now, &tm) == NULL)
		return mtasts_err(err, MTASTS_ERROR, "bad time");
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%lld_%ld",
	    (long long)now, (long)getpid());
	if ((b64 = malloc(4 * ((gzlen + 2) / 3) + 1)) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	n = (size_t)EVP_EncodeBlock((unsigned char *)b64,
	    (const unsigned char *)gz, (int)gzlen);
	buf_printf(&b, "From: %s\r\n", from);
	buf_printf(&b, "To: %s\r\n", rcpt);
	/* §5.3 tlsrpt-subject. */
	buf_printf(&b, "Subject: Report Domain: %s Submitter: %s "
	    "Report-ID: <%s>\r\n", r->domain, r->submitter, r->report_id);
	buf_printf(&b, "Date: %s\r\n", date);
	/*
	 * D-RPT-13: RFC 5322 msg-id, unique per mail: the report-id's left
	 * part (dot-atom-text), time, pid and 64 random bits, "@" the
	 * submitter. The report-id itself contains "@" and is not one.
	 */
	{
		unsigned char rnd[8];
		char hex[17];
		size_t k, left = strcspn(r->report_id, "@");

		if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1) {
			free(b64);
			free(b.p);
			return mtasts_err(err, MTASTS_ERROR, "no random bytes");
		}
		for (k = 0; k < sizeof(rnd); k++)
			snprintf(hex + 2 * k, 3, "%02x", rnd[k]);
		buf_printf(&b, "Message-ID: <%.*s.%lld.%ld.%s@%s>\r\n",
		    (int)left, r->report_id, (long long)now, (long)getpid(),
		    hex, r->submitter);
	}
	buf_printf(&b, "MIME-Version: 1.0\r\n");
	buf_printf(&b, "TLS-Report-Domain: %s\r\n", r->domain);
	buf_printf(&b, "TLS-Report-Submitter: %s\r\n", r->submitter);
	/*
	 * §3: reports MUST be delivered despite TLS failures; RFC 8689
	 * TLS-Required: No asks the MTA to do so (D-RPT-8).
	 */
	buf_printf(&b, "TLS-Required: No\r\n");
	buf_printf(&b, "Auto-Submitted: auto-generated\r\n");
	buf_printf(&b, "Content-Type: multipart/report; report-type=\"tlsrpt\";"
	    "\r\n\tboundary=\"%s\"\r\n\r\n", boundary);
	buf_printf(&b, "This is a MIME-formatted message.\r\n\r\n");
	buf_printf(&b, "--%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n", boundary);
	buf_printf(&b, "This is an aggregate TLS report (RFC 8460) from %s "
	    "for the policy domain %s,\r\ncovering %s (UTC). The report is "
	    "attached.\r\n\r\n", r->submitter, r->domain, r->file_name);
	/* §5.3: application/tlsrpt+gzip, the §5.1 file name + ".gz". */
	buf_printf(&b, "--%s\r\nContent-Type: application/tlsrpt+gzip; "
	    "name=\"%s.gz\"\r\nContent-Disposition: attachment; "
	    "filename=\"%s.gz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
	    boundary, r->file_name, r->file_name);
	for (i = 0; i < n; i += 76) {
		buf_add(&b, b64 + i, n - i > 76 ? 76 : n - i);
		buf_add(&b, "\r\n", 2);
	}
	buf_printf(&b, "\r\n--%s--\r\n", boundary);
	free(b64);
	if (b.oom) {
		free(b.p);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
	*out = b.p;
	*outlen = b.len;
	return MTASTS_OK;
}

/* Wait for pid until deadline; kill it then. Returns its status or -1. */
static int
wait_child(pid_t pid, int64_t deadline)
{
	int status;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return status;
		if (w < 0 && errno != EINTR)
			return -1;
		if (mtasts_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		poll(NULL, 0, 20);
	}
}

int
mtasts_report_sendmail(struct mtasts_ctx *ctx, const char *msg, size_t len,
    struct mtasts_error *err)
{
	char cmd[MTASTS_PATH_MAX], *argv[SENDMAIL_ARGS_MAX + 1], *p;
	char fromarg[sizeof(ctx->cfg.report_from)], dash_f[] = "-f";
	const char *from = ctx->cfg.report_from[0] ? ctx->cfg.report_from :
	    ctx->cfg.report_contact;
	int sv[2] = { -1, -1 }, status, rc = MTASTS_TEMPFAIL;
	int64_t deadline = mtasts_mono_ms() + SEND_TIMEOUT_MS;
	size_t argc = 0, off = 0;
	pid_t pid = -1;

	mtasts_strlcpy(cmd, ctx->cfg.sendmail[0] ? ctx->cfg.sendmail :
	    MTASTS_SENDMAIL_DEFAULT, sizeof(cmd));
	/* Split on WSP; never a shell (the rua comes from DNS). */
	for (p = cmd; *p != '\0' && argc < SENDMAIL_ARGS_MAX;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (*p == '\0')
			break;
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	argv[argc] = NULL;
	if (argc == 0)
		return mtasts_err(err, MTASTS_ERROR, "sendmail: empty command");
	/*
	 * D-RPT-14: the envelope sender is report_from (else report_contact),
	 * so bounces of report mail reach the operator, unless the command
	 * names one itself (-f / -r).
	 */
	{
		size_t i;
		int has_f = 0;

		for (i = 1; i < argc; i++)
			if (strncmp(argv[i], "-f", 2) == 0 ||
			    strncmp(argv[i], "-r", 2) == 0)
				has_f = 1;
		if (!has_f && from != NULL && from[0] != '\0') {
			if (argc + 2 > SENDMAIL_ARGS_MAX)
				return mtasts_err(err, MTASTS_ERROR,
				    "sendmail: too many arguments");
			mtasts_strlcpy(fromarg, from, sizeof(fromarg));
			argv[argc++] = dash_f;
			argv[argc++] = fromarg;
			argv[argc] = NULL;
		}
	}
	/* A socketpair, not a pipe: MSG_NOSIGNAL spares us SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return mtasts_err(err, MTASTS_TEMPFAIL, "socketpair: %s",
		    strerror(errno));
	if ((pid = fork()) < 0) {
		mtasts_err_set(err, MTASTS_TEMPFAIL, "fork: %s",
		    strerror(errno));
		goto done;
	}
	if (pid == 0) {
		if (dup2(sv[1], 0) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	sv[1] = -1;
	shutdown(sv[0], SHUT_RD);
	while (off < len) {
		ssize_t w = send(sv[0], msg + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			mtasts_err_set(err, MTASTS_TEMPFAIL,
			    "sendmail: write: %s", strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	close(sv[0]);
	sv[0] = -1;
	status = wait_child(pid, deadline);
	if (status < 0)
		mtasts_err_set(err, MTASTS_TEMPFAIL, "sendmail: timed out");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		mtasts_err_set(err, MTASTS_TEMPFAIL, "sendmail %s: exit "
		    "status %d", argv[0], WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (off == len)
		rc = MTASTS_OK;
done:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}

/*
 * Race a connection to the untried addresses (D-NET-3), then TLS, POST,
 * status line on the winner. 2xx is MTASTS_OK. fetch.c's HTTPS state
 * machine with a request of ours (one client, D-NET-6), over net.c's
 * connection, so a collector that closes early (say a 413 before the
 * whole body is read) cannot kill us with SIGPIPE.
 */
static int
post_one(struct mtasts_ctx *ctx, SSL_CTX *sctx, const char *host,
    const struct sockaddr_storage *addrs, size_t naddrs, int *aerr,
    const char *req, size_t reqlen, const char *body, size_t bodylen,
    int64_t deadline, int *status, struct mtasts_error *err)
{
	struct mtasts_https_req rq;
	int rc = MTASTS_TEMPFAIL;

	memset(&rq, 0, sizeof(rq));
	rq.peer = MTASTS_TLS_PEER_URI_HOST;	/* PKIX + the URI's host */
	rq.head = req;
	rq.headlen = reqlen;
	rq.body = body;
	rq.bodylen = bodylen;
	rq.resp_max = POST_RESPONSE_MAX;
	(void)mtasts_https_request(ctx, sctx, host, addrs, naddrs, aerr,
	    deadline, &rq);
	*status = rq.status;
	if (rq.nomem)
		rc = MTASTS_NOMEM;
	else if (rq.why[0] == '\0')
		rc = MTASTS_OK;
	if (rc != MTASTS_OK)
		mtasts_err_set(err, rc, "%s", rq.why);
	mtasts_log(ctx, MTASTS_LOG_DEBUG, "report: POST to %s: status %d",
	    host, *status);
	return rc;
}

int
mtasts_report_post(struct mtasts_ctx *ctx, const char *uri,
    const char *body, size_t len, struct mtasts_error *err)
{
	char host[MTASTS_DOMAIN_MAX + 1], path[MTASTS_TLSRPT_URI_MAX + 1];
	char req[MTASTS_TLSRPT_URI_MAX + 1024];
	struct sockaddr_storage addrs[MTASTS_ADDRS_MAX];
	int aerr[MTASTS_ADDRS_MAX];
	int64_t deadline = mtasts_mono_ms() + SEND_TIMEOUT_MS;
	unsigned port;
	size_t n = 0, i;
	SSL_CTX *sctx;
	int rc, reqlen, status;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&addrs[0];
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&addrs[0];

	if (mtasts_tlsrpt_https_split(uri, strlen(uri), host, sizeof(host),
	    &port, path, sizeof(path)) != 0)
		return mtasts_err(err, MTASTS_INVALID, "bad https rua");
	memset(addrs, 0, sizeof(addrs));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		n = 1;
	} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		n = 1;
	} else if ((rc = mtasts_dns_addrs(ctx, host, (int)port,
	    ctx->cfg.dns_timeout_ms, addrs, MTASTS_ADDRS_MAX, &n, err)) !=
	    MTASTS_OK)
		return rc == MTASTS_NOTFOUND ? MTASTS_TEMPFAIL : rc;
	if (n > MTASTS_ADDRS_MAX)
		n = MTASTS_ADDRS_MAX;
	if ((sctx = mtasts_fetch_ssl_ctx(ctx, err)) == NULL)
		return MTASTS_ERROR;
	/* §5.4: POST, application/tlsrpt+gzip for a compressed report. */
	{
		char hh[MTASTS_DOMAIN_MAX + 16];
		int v6 = strchr(host, ':') != NULL;

		if (port == 443)
			snprintf(hh, sizeof(hh), v6 ? "[%s]" : "%s", host);
		else
			snprintf(hh, sizeof(hh), v6 ? "[%s]:%u" : "%s:%u", host,
			    port);
		reqlen = snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\n"
		    "Host: %s\r\nUser-Agent: mtasts/%s\r\n"
		    "Content-Type: application/tlsrpt+gzip\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		    path, hh, MTASTS_VERSION_STRING, len);
	}
	if (reqlen < 0 || (size_t)reqlen >= sizeof(req))
		return mtasts_err(err, MTASTS_INVALID, "request too long");
	rc = MTASTS_TEMPFAIL;
	for (i = 0; i < n; i++)
		aerr[i] = MTASTS_RACE_UNTRIED;
	/* Rounds of racing the addresses not yet used (D-NET-3, -4). */
	while (mtasts_mono_ms() < deadline) {
		struct mtasts_error e = { 0, "" };
		size_t left = 0;

		rc = post_one(ctx, sctx, host, addrs, n, aerr, req,
		    (size_t)reqlen, body, len, deadline, &status, &e);
		if (rc == MTASTS_OK)
			return MTASTS_OK;
		for (i = 0; i < n; i++)
			if (aerr[i] == MTASTS_RACE_UNTRIED)
				left++;
		/* An HTTP answer is the collector's word: no other address. */
		if (status != 0 || left == 0) {
			mtasts_err_set(err, rc, "%s", e.text);
			break;
		}
	}
	if (rc != MTASTS_OK)
		mtasts_err_set(err, rc, "%s: no address reachable", host);
	return rc;
}

int
mtasts_report_deliver(struct mtasts_ctx *ctx, const struct mtasts_report *r,
    time_t now, char *done_uri, size_t size, struct mtasts_error *err)
{
	char *gz = NULL, *msg = NULL, addr[MTASTS_TLSRPT_URI_MAX + 1];
	size_t gzlen = 0, msglen, i;
	int rc = MTASTS_TEMPFAIL;

	if (size > 0)
		done_uri[0] = '\0';
	if ((rc = mtasts_report_gzip(r->json, r->json_len, &gz, &gzlen)) !=
	    MTASTS_OK)
		return mtasts_err(err, rc, "gzip failed");
	rc = MTASTS_TEMPFAIL;
	/* §3: try each rua; delivered once one endpoint accepts it. */
	for (i = 0; i < r->rua.nrua; i++) {
		const char *u = r->rua.rua[i];
		struct mtasts_error e = { 0, "" };
		int one;

		if (mtasts_tlsrpt_mailto_addr(u, strlen(u), addr,
		    sizeof(addr)) == 0) {
			free(msg);
			msg = NULL;
			one = mtasts_report_mail(ctx, r, addr, gz, gzlen, now,
			    &msg, &msglen, &e);
			if (one == MTASTS_OK)
				one = mtasts_report_sendmail(ctx, msg, msglen,
				    &e);
		} else
			one = mtasts_report_post(ctx, u, gz, gzlen, &e);
		if (one == MTASTS_OK) {
			mtasts_log(ctx, MTASTS_LOG_INFO, "report: %s "
			    "delivered to %s", r->file_name, u);
			mtasts_strlcpy(done_uri, u, size);
			rc = MTASTS_OK;
			break;
		}
		mtasts_log(ctx, MTASTS_LOG_WARN, "report: %s to %s: %s",
		    r->file_name, u, e.text);
		mtasts_err_set(err, MTASTS_TEMPFAIL, "%s: %s", u, e.text);
	}
	free(msg);
	free(gz);
	return rc;
}
