/* SPDX-License-Identifier: ISC */
/*
 * report_aggregate.c - RFC 8460 aggregate reports: read one UTC day of the
 * session spool (records decoded by spool.c), aggregate it per policy
 * domain into exactly the §4 JSON (mtasts_report_build), and the same
 * reading counted per domain for `mtasts metrics|status`
 * (mtasts_spool_tally). Delivery is report_mail.c and report_send.c.
 *
 * Only domains with a valid `_smtp._tls` TXT record get a report (§3).
 * Decisions: docs/decisions.md D-RPT-4 .. D-RPT-12, D-MET-1, D-MET-2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mtasts_internal.h"

#define DAY 86400

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
	json_t *policies;	/* array: {policy, summary, failure-details} */
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
static int
agg_add(struct agg *a, json_t *rec, int with_reason)
{
	struct mtasts_spool_rec f;
	const char *d, *pt, *r, *si, *rh, *ri, *fr, *helo;
	json_t *ps, *mx, *key = NULL, *ix, *pol, *summ, *dix, *det;
	struct agg_domain *ad;
	char *ks = NULL;
	size_t pi;
	int rc = -1;

	if (mtasts_spool_rec_parse(rec, &f) != 0)
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
 * D-RPT-17: the record ids seen in one spool file. Open addressing over
 * seeded, mixed ids (a hostile spool cannot aim its ids at one chain);
 * at most half full. Bounded by the file, which the day cap bounds.
 */
struct idset {
	uint64_t *v;		/* 0 = empty slot; id 0 is has_zero */
	size_t n, cap;
	uint64_t seed;
	int has_zero;
};

static uint64_t
idset_mix(const struct idset *s, uint64_t x)
{
	x ^= s->seed;
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* The slot holding id, or the empty one where it goes. */
static size_t
idset_slot(const struct idset *s, uint64_t id)
{
	size_t mask = s->cap - 1, i;

	for (i = idset_mix(s, id) & mask; s->v[i] != 0 && s->v[i] != id;
	    i = (i + 1) & mask)
		;
	return i;
}

/* 1 if id was new (now added), 0 if seen before, -1 out of memory. */
static int
idset_add(struct idset *s, uint64_t id)
{
	size_t i;

	if (id == 0) {
		if (s->has_zero)
			return 0;
		s->has_zero = 1;
		return 1;
	}
	if (2 * (s->n + 1) > s->cap) {
		struct idset t = *s;

		s->cap = t.cap != 0 ? 2 * t.cap : 1024;
		if (s->cap < t.cap ||
		    (s->v = calloc(s->cap, sizeof(*s->v))) == NULL) {
			*s = t;
			return -1;
		}
		for (i = 0; i < t.cap; i++)
			if (t.v[i] != 0)
				s->v[idset_slot(s, t.v[i])] = t.v[i];
		free(t.v);
	}
	if (s->v[i = idset_slot(s, id)] == id)
		return 0;
	s->v[i] = id;
	s->n++;
	return 1;
}

/*
 * Read one day's spool file, every record that counts to fn: the same
 * reading for the reports and the metrics (D-MET-1).
 */
static int
read_spool(struct mtasts_ctx *ctx, const char *dir, time_t day,
    spool_rec_fn *fn, void *arg, struct mtasts_report_counts *st,
    struct mtasts_error *err)
{
	char path[MTASTS_PATH_MAX + 32], dp[MTASTS_PATH_MAX + 48], ymd[16];
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	struct stat sb;
	FILE *f = NULL;
	json_t *seen = NULL;
	struct idset ids;
	int rc = MTASTS_ERROR;

	memset(&ids, 0, sizeof(ids));
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
			if (errno == ENOENT)	/* no sessions that day */
				return MTASTS_OK;
			return mtasts_err(err, MTASTS_ERROR, "%s: %s", path,
			    why != NULL ? why : strerror(errno));
		}
		if ((f = fdopen(fd, "r")) == NULL) {
			close(fd);
			return mtasts_err(err, MTASTS_NOMEM, "%s: %s", path,
			    strerror(errno));
		}
	}
	/* D-RPT-17: the seed of this file's id set. */
	if (getrandom(&ids.seed, sizeof(ids.seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(ids.seed))
		ids.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	/* D-RPT-12: attempt keys seen in this host's spool. */
	if ((seen = json_object()) == NULL) {
		mtasts_err_set(err, MTASTS_NOMEM, "out of memory");
		goto done;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *rec;
		int r;

		if ((r = mtasts_spool_line_decode(line, (size_t)n, &rec)) ==
		    MTASTS_SPOOL_LINE_EMPTY)
			continue;
		if (r == MTASTS_SPOOL_LINE_TORN) {
			st->torn++;
			continue;
		}
		{
			/*
			 * D-RPT-17: a record id seen before in this file is a
			 * copy of that line (shipped twice): counted once.
			 */
			uint64_t id;
			int has;

			if ((has = mtasts_spool_rec_id(rec, &id)) < 0) {
				st->torn++;
				json_decref(rec);
				continue;
			}
			if (has && (r = idset_add(&ids, id)) <= 0) {
				json_decref(rec);
				if (r < 0) {
					mtasts_err_set(err, MTASTS_NOMEM,
					    "out of memory");
					goto done;
				}
				st->copies++;
				continue;
			}
		}
		if (mtasts_spool_rec_report_mail(rec)) {
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
			const char *k = mtasts_spool_rec_key(rec);

			if (k != NULL) {
				if (json_object_get(seen, k) != NULL) {
					st->duplicates++;
					json_decref(rec);
					continue;
				}
				if (json_object_set_new(seen, k,
				    json_true()) != 0) {
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
	free(ids.v);
	free(line);
	fclose(f);
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
    size_t *nout, struct mtasts_report_counts *st, struct mtasts_error *err)
{
	return mtasts_report_build_spools(ctx, day, NULL, 0, fn, arg, out,
	    nout, st, err);
}

int
mtasts_report_build_spools(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, mtasts_report_rua_fn *fn,
    void *arg, struct mtasts_report **out, size_t *nout,
    struct mtasts_report_counts *st, struct mtasts_error *err)
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
	struct mtasts_spool_rec f;
	json_t *ix;
	int rt;

	(void)with_reason;
	if (mtasts_spool_rec_parse(rec, &f) != 0)
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
	/* mtasts_spool_rec_parse let only known types through */
	if ((rt = mtasts_tlsrpt_result_type_index(f.r)) < 0)
		return 1;
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
    struct mtasts_report_counts *st, struct mtasts_error *err)
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
