/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - `mtasts metrics [--out FILE] [--top N]`: the Prometheus
 * text exposition format (version 0.0.4) for node_exporter's textfile
 * collector, from the cache, today's TLS-RPT spool and the report send
 * state (docs/decisions.md D-MET-1 .. D-MET-5, docs/operations.md).
 *
 * The counting is the core's (mtasts_spool_tally(), the cache API) and
 * cli_scan() below, shared with `mtasts status`; this file formats.
 *
 * Exit status: 0 written, 1 internal error (nothing replaced), 2 usage,
 * 4 written but some source could not be read (its mtasts_source_ok is 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "scan.h"

#define EXIT_SOURCE_FAILED 4
#define DAY 86400
/* D-MET-3: per-domain label values kept; the rest is "_other". */
#define TOP_DEFAULT 20
#define TOP_MAX 1000
/* D-MET-4: report send states of the last days. */
#define STATE_DAYS 7
/* Output assembled in memory before the file is replaced. */
#define METRICS_OUT_MAX (16 * 1024 * 1024)

const long long scan_age_le[SCAN_AGE_BUCKETS] = { 3600, 86400, 7 * 86400,
	30 * 86400, -1 };

/* ---- the scan, shared with status.c ---- */

struct names {
	char **v;
	size_t n, cap;
};

static int
names_add(struct names *l, const char *s)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(s)) == NULL)
		return -1;
	l->n++;
	return 0;
}

static void
names_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
pending_add(void *arg, const char *name, int state)
{
	struct names *l = arg;
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s %s", state == 2 ? "gave-up" :
	    "retrying", name);
	(void)names_add(l, buf);
}

static int
scan_cache(struct mtasts_ctx *ctx, struct cli_scan *sc)
{
	struct mtasts_error err = { 0, "" };
	struct names all = { 0 }, enf = { 0 }, bad = { 0 };
	size_t i, nf = 0, capf = 0;
	int rc = 0;

	if (mtasts_admin_cache_list(ctx, &all.v, &all.n, &err) !=
	    MTASTS_OK) {
		snprintf(sc->cache_err, sizeof(sc->cache_err), "%s",
		    err.text[0] ? err.text : "cannot list the cache");
		return -1;
	}
	for (i = 0; i < all.n && rc == 0; i++) {
		struct mtasts_cache_item *e = NULL;
		const struct mtasts_policy *p;
		long long age;
		size_t b;
		int lrc;

		lrc = mtasts_admin_cache_get(ctx, all.v[i], &e, &err);
		if (lrc == MTASTS_ADMIN_UNUSABLE) {
			/* D-CACHE-6: lookups defer until it is repaired. */
			sc->unusable++;
			if (names_add(&bad, all.v[i]) != 0)
				rc = -1;
			continue;
		}
		if (lrc == MTASTS_NOTFOUND)
			continue;	/* removed meanwhile */
		if (lrc != MTASTS_OK) {
			snprintf(sc->cache_err, sizeof(sc->cache_err),
			    "%s: %s", all.v[i], err.text);
			rc = -1;
			break;
		}
		if ((p = mtasts_cache_item_policy(e)) == NULL)
			sc->negative++;
		else {
			int m = mtasts_policy_mode(p);

			if (m >= 0 && m <= 2)
				sc->modes[m]++;
			if (m == MTASTS_MODE_ENFORCE &&
			    names_add(&enf, mtasts_cache_item_domain(e)) != 0)
				rc = -1;
			if (sc->now >= mtasts_cache_item_expires_at(e))
				sc->expired++;
			age = (long long)(sc->now -
			    mtasts_cache_item_fetched_at(e));
			if (age < 0)
				age = 0;
			sc->npolicies++;
			sc->age_sum += (double)age;
			for (b = 0; b < SCAN_AGE_BUCKETS; b++)
				if (scan_age_le[b] < 0 || age <= scan_age_le[b])
					sc->age_bucket[b]++;
		}
		/*
		 * D-MET-1: the last fetch attempt failed when its failure is
		 * newer than the last good fetch (the §3.3 back-off state).
		 */
		if (mtasts_cache_item_fail_at(e) != 0 &&
		    mtasts_cache_item_fail_at(e) >=
		    mtasts_cache_item_fetched_at(e)) {
			if (nf == capf) {
				size_t nc = capf ? capf * 2 : 16;
				struct cli_failing *nv = realloc(sc->failing,
				    nc * sizeof(*nv));

				if (nv == NULL) {
					rc = -1;
					mtasts_cache_item_free(e);
					break;
				}
				sc->failing = nv;
				capf = nc;
			}
			mtasts_strlcpy(sc->failing[nf].domain,
			    mtasts_cache_item_domain(e),
			    sizeof(sc->failing[nf].domain));
			mtasts_strlcpy(sc->failing[nf].type,
			    mtasts_cache_item_fail_type(e),
			    sizeof(sc->failing[nf].type));
			mtasts_strlcpy(sc->failing[nf].reason,
			    mtasts_cache_item_fail_reason(e),
			    sizeof(sc->failing[nf].reason));
			sc->failing[nf].at =
			    (long long)mtasts_cache_item_fail_at(e);
			nf++;
		}
		mtasts_cache_item_free(e);
	}
	sc->nfailing = nf;
	if (enf.n > 1)
		qsort(enf.v, enf.n, sizeof(*enf.v), cmp_name);
	if (bad.n > 1)
		qsort(bad.v, bad.n, sizeof(*bad.v), cmp_name);
	sc->enforce = enf.v;
	sc->nenforce = enf.n;
	sc->unusable_names = bad.v;
	sc->nunusable_names = bad.n;
	names_free(all.v, all.n);
	if (rc != 0 && sc->cache_err[0] == '\0')
		snprintf(sc->cache_err, sizeof(sc->cache_err),
		    "out of memory");
	return rc;
}

int
cli_scan(struct mtasts_ctx *ctx, struct cli_scan *sc)
{
	struct mtasts_error err = { 0, "" };
	struct names pend = { 0 };

	memset(sc, 0, sizeof(*sc));
	sc->now = mtasts_admin_now(ctx);
	sc->day = sc->now - sc->now % DAY;
	sc->cache_ok = scan_cache(ctx, sc) == 0;
	/* Sorted by the core, most sessions first (D-MET-3). */
	if (mtasts_admin_spool_tally(ctx, sc->day, &sc->tally, &sc->ntally,
	    &sc->st, &err) == MTASTS_OK)
		sc->spool_ok = 1;
	else
		snprintf(sc->spool_err, sizeof(sc->spool_err), "%s",
		    err.text);
	if (mtasts_admin_report_states(ctx, sc->day - STATE_DAYS * DAY,
		sc->rstate, pending_add, &pend) == 0)
		sc->state_ok = 1;
	else
		snprintf(sc->state_err, sizeof(sc->state_err),
		    "report state: %s", strerror(errno));
	if (pend.n > 1)
		qsort(pend.v, pend.n, sizeof(*pend.v), cmp_name);
	sc->rpending = pend.v;
	sc->nrpending = pend.n;
	return 0;
}

void
cli_scan_free(struct cli_scan *sc)
{
	names_free(sc->enforce, sc->nenforce);
	names_free(sc->unusable_names, sc->nunusable_names);
	names_free(sc->rpending, sc->nrpending);
	free(sc->failing);
	free(sc->tally);
	memset(sc, 0, sizeof(*sc));
}

/* ---- the exposition format ---- */

struct out {
	char *b;
	size_t n, cap;
	int bad;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->bad)
		return;
	if (o->n + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 8192;
		char *nb;

		while (cap < o->n + n + 1)
			cap *= 2;
		if (cap > METRICS_OUT_MAX || (nb = realloc(o->b, cap)) ==
		    NULL) {
			o->bad = 1;
			return;
		}
		o->b = nb;
		o->cap = cap;
	}
	memcpy(o->b + o->n, s, n);
	o->n += n;
	o->b[o->n] = '\0';
}

static void out_printf(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		o->bad = 1;
		return;
	}
	out_add(o, buf, (size_t)n);
}

/*
 * A label value as the exposition format quotes it: backslash, double
 * quote and line feed escaped (D-MET-5). Other control bytes and bytes
 * outside ASCII become '?': the values come from files others write.
 */
static void
out_label(struct out *o, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			out_add(o, "\\\\", 2);
		else if (c == '"')
			out_add(o, "\\\"", 2);
		else if (c == '\n')
			out_add(o, "\\n", 2);
		else if (c < 0x20 || c >= 0x7f)
			out_add(o, "?", 1);
		else
			out_add(o, (const char *)&c, 1);
	}
}

static void
head(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1"[,l2="v2"]} value */
static void
sample2(struct out *o, const char *name, const char *l1, const char *v1,
    const char *l2, const char *v2, double value)
{
	out_add(o, name, strlen(name));
	if (l1 != NULL) {
		out_printf(o, "{%s=\"", l1);
		out_label(o, v1);
		out_add(o, "\"", 1);
		if (l2 != NULL) {
			out_printf(o, ",%s=\"", l2);
			out_label(o, v2);
			out_add(o, "\"", 1);
		}
		out_add(o, "}", 1);
	}
	out_printf(o, " %.17g\n", value);
}

static void
sample(struct out *o, const char *name, double value)
{
	sample2(o, name, NULL, NULL, NULL, NULL, value);
}

/* The type as a label value; unknown ones (a tampered file) as "other". */
static const char *
known_type(const char *t)
{
	size_t i;

	for (i = 0; i < mtasts_tlsrpt_result_type_count(); i++)
		if (strcmp(t, mtasts_tlsrpt_result_type_name(i)) == 0)
			return t;
	return "other";
}

static void
format_cache(struct out *o, const struct cli_scan *sc)
{
	static const char *const mode[] = { "none", "testing", "enforce" };
	size_t i, j;

	head(o, "mtasts_cache_policies", "gauge",
	    "Cached MTA-STS policies by mode (expired ones included).");
	for (i = 0; i < 3; i++)
		sample2(o, "mtasts_cache_policies", "mode", mode[i], NULL,
		    NULL, (double)sc->modes[i]);
	head(o, "mtasts_cache_policies_expired", "gauge",
	    "Cached policies past their max_age, kept until refreshed or "
	    "purged.");
	sample(o, "mtasts_cache_policies_expired", (double)sc->expired);
	head(o, "mtasts_cache_negative_entries", "gauge",
	    "Cached domains without a policy (no _mta-sts TXT record).");
	sample(o, "mtasts_cache_negative_entries", (double)sc->negative);
	head(o, "mtasts_cache_unusable_entries", "gauge",
	    "Cache entries that cannot be read: their mail defers until "
	    "repaired (D-CACHE-6).");
	sample(o, "mtasts_cache_unusable_entries", (double)sc->unusable);
	head(o, "mtasts_cache_policy_age_seconds", "histogram",
	    "Seconds since each cached policy was fetched.");
	for (i = 0; i < SCAN_AGE_BUCKETS; i++) {
		char le[32];

		if (scan_age_le[i] < 0)
			snprintf(le, sizeof(le), "+Inf");
		else
			snprintf(le, sizeof(le), "%lld", scan_age_le[i]);
		sample2(o, "mtasts_cache_policy_age_seconds_bucket", "le", le,
		    NULL, NULL, (double)sc->age_bucket[i]);
	}
	sample(o, "mtasts_cache_policy_age_seconds_sum", sc->age_sum);
	sample(o, "mtasts_cache_policy_age_seconds_count",
	    (double)sc->npolicies);
	head(o, "mtasts_refresh_failing_domains", "gauge",
	    "Cached domains whose last policy fetch failed, by result type.");
	{
		size_t n = mtasts_tlsrpt_result_type_count();
		size_t cnt[MTASTS_TALLY_TYPES + 1] = { 0 };

		for (j = 0; j < sc->nfailing; j++) {
			const char *t = known_type(sc->failing[j].type);

			for (i = 0; i < n; i++)
				if (strcmp(t, mtasts_tlsrpt_result_type_name(
				    i)) == 0)
					break;
			cnt[i]++;	/* i == n: "other" */
		}
		for (i = 0; i <= n; i++)
			if (cnt[i] > 0)
				sample2(o, "mtasts_refresh_failing_domains",
				    "result_type", i < n ?
				    mtasts_tlsrpt_result_type_name(i) :
				    "other", NULL, NULL, (double)cnt[i]);
	}
}

static void
format_spool(struct out *o, const struct cli_scan *sc, size_t top)
{
	const struct mtasts_tally_row *tv = sc->tally;
	struct mtasts_tally_row other;
	size_t i, k, nt = mtasts_tlsrpt_result_type_count();

	memset(&other, 0, sizeof(other));
	mtasts_strlcpy(other.domain, "_other", sizeof(other.domain));
	head(o, "mtasts_tlsrpt_sessions_total", "counter",
	    "SMTP sessions spooled for TLS-RPT today (since 00:00 UTC; "
	    "resets daily), by policy domain (top N, the rest _other) and "
	    "result.");
	for (i = top; i < sc->ntally; i++) {
		other.ok += tv[i].ok;
		other.failed += tv[i].failed;
		other.enforce_failed += tv[i].enforce_failed;
		for (k = 0; k < nt; k++)
			other.fail[k] += tv[i].fail[k];
	}
	for (i = 0; i < sc->ntally && i <= top; i++) {
		const struct mtasts_tally_row *d = i < top ? &tv[i] :
		    &other;

		if (d->ok > 0)
			sample2(o, "mtasts_tlsrpt_sessions_total", "domain",
			    d->domain, "result", "success", (double)d->ok);
		for (k = 0; k < nt; k++)
			if (d->fail[k] > 0)
				sample2(o, "mtasts_tlsrpt_sessions_total",
				    "domain", d->domain, "result",
				    mtasts_tlsrpt_result_type_name(k),
				    (double)d->fail[k]);
	}
	head(o, "mtasts_tlsrpt_enforce_failed_sessions_total", "counter",
	    "Failed sessions under an enforce MTA-STS policy today: no mail "
	    "was delivered over them (deferred, or another MX tried).");
	for (i = 0; i < sc->ntally && i < top; i++)
		if (tv[i].enforce_failed > 0)
			sample2(o,
			    "mtasts_tlsrpt_enforce_failed_sessions_total",
			    "domain", tv[i].domain, NULL, NULL,
			    (double)tv[i].enforce_failed);
	if (sc->ntally > top && other.enforce_failed > 0)
		sample2(o, "mtasts_tlsrpt_enforce_failed_sessions_total",
		    "domain", "_other", NULL, NULL,
		    (double)other.enforce_failed);
	head(o, "mtasts_tlsrpt_domains", "gauge",
	    "Distinct policy domains in today's spool (labelled or not).");
	sample(o, "mtasts_tlsrpt_domains", (double)sc->ntally);
	head(o, "mtasts_tlsrpt_spool_malformed_lines_total", "counter",
	    "Spool lines of today skipped: torn or malformed.");
	sample(o, "mtasts_tlsrpt_spool_malformed_lines_total",
	    (double)sc->st.torn);
	head(o, "mtasts_tlsrpt_report_mail_sessions_total", "counter",
	    "Sessions that delivered report mail today (never reported).");
	sample(o, "mtasts_tlsrpt_report_mail_sessions_total",
	    (double)sc->st.excluded);
	head(o, "mtasts_tlsrpt_dropped_sessions_total", "counter",
	    "Sessions not spooled today because the day's spool was full.");
	sample(o, "mtasts_tlsrpt_dropped_sessions_total",
	    (double)sc->st.dropped);
	head(o, "mtasts_tlsrpt_duplicate_records_total", "counter",
	    "Repeated records of one delivery attempt, counted once.");
	sample(o, "mtasts_tlsrpt_duplicate_records_total",
	    (double)sc->st.duplicates);
	head(o, "mtasts_tlsrpt_copied_records_total", "counter",
	    "Spool lines repeating a record id (shipped twice), counted once.");
	sample(o, "mtasts_tlsrpt_copied_records_total",
	    (double)sc->st.copies);
}

static int
metrics_format(const struct cli_scan *sc, size_t top, struct out *o)
{
	static const char *const rs[] = { "sent", "retrying", "gave_up" };
	size_t i;

	if (sc->cache_ok)
		format_cache(o, sc);
	if (sc->spool_ok)
		format_spool(o, sc, top);
	if (sc->state_ok) {
		head(o, "mtasts_report_states", "gauge",
		    "TLS-RPT reports of the last 7 days by send state.");
		for (i = 0; i < 3; i++)
			sample2(o, "mtasts_report_states", "state", rs[i],
			    NULL, NULL, (double)sc->rstate[i]);
	}
	head(o, "mtasts_source_ok", "gauge",
	    "1 when the source could be read for these metrics, else 0.");
	sample2(o, "mtasts_source_ok", "source", "cache", NULL, NULL,
	    sc->cache_ok);
	sample2(o, "mtasts_source_ok", "source", "spool", NULL, NULL,
	    sc->spool_ok);
	sample2(o, "mtasts_source_ok", "source", "report_state", NULL, NULL,
	    sc->state_ok);
	head(o, "mtasts_metrics_timestamp_seconds", "gauge",
	    "When these metrics were computed (Unix time).");
	sample(o, "mtasts_metrics_timestamp_seconds", (double)sc->now);
	return o->bad ? -1 : 0;
}

/*
 * Replace path atomically (D-MET-5), so the textfile collector never
 * reads half a file. 0644: node_exporter runs as another user; nothing
 * secret here.
 */
static int
write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[1024 + 64];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	return mtasts_write_atomic(path, tmp, data, len, 0644);
}

const char cli_metrics_usage[] =
    "usage: mtasts metrics [--out FILE] [--top N] [--now EPOCH]\n";

int
cmd_metrics(struct mtasts_ctx *ctx, int argc, char **argv)
{
	struct cli_scan sc;
	struct out o = { NULL, 0, 0, 0 };
	const char *path = NULL;
	size_t top = TOP_DEFAULT;
	int k, rc;

	for (k = 1; k < argc; k++) {
		uint64_t v;

		if (strcmp(argv[k], "--out") == 0 && k + 1 < argc)
			path = argv[++k];
		else if (strcmp(argv[k], "--top") == 0 && k + 1 < argc &&
		    mtasts_parse_u64(argv[k + 1], strlen(argv[k + 1]), TOP_MAX,
		    &v) == 0) {
			top = (size_t)v;
			k++;
		} else if (strcmp(argv[k], "--now") == 0 && k + 1 < argc &&
		    mtasts_parse_u64(argv[k + 1], strlen(argv[k + 1]),
		    (uint64_t)1 << 40, &v) == 0 && v != 0) {
			mtasts_ctx_set_now(ctx, (time_t)v);
			k++;
		} else if (cli_is_help(argv[k]))
			return cli_help(cli_metrics_usage);
		else if (strcmp(argv[k], "--top") == 0 && k + 1 < argc)
			return cli_usage_error(cli_metrics_usage, "metrics: "
			    "--top: expected 0..%d, got \"%.40s\"", TOP_MAX,
			    argv[k + 1]);
		else if (strcmp(argv[k], "--now") == 0 && k + 1 < argc)
			return cli_usage_error(cli_metrics_usage, "metrics: "
			    "--now: expected seconds since the epoch, got "
			    "\"%.40s\"", argv[k + 1]);
		else
			return cli_bad_arg("metrics", cli_metrics_usage, argc,
			    argv, k);
	}
	cli_scan(ctx, &sc);
	if (metrics_format(&sc, top, &o) != 0) {
		cli_log(LOG_ERR, "metrics: out of memory");
		cli_scan_free(&sc);
		free(o.b);
		return EXIT_INTERNAL;
	}
	rc = 0;
	if (!sc.cache_ok)
		cli_log(LOG_ERR, "metrics: cache: %s", sc.cache_err);
	if (!sc.spool_ok)
		cli_log(LOG_ERR, "metrics: spool: %s", sc.spool_err);
	if (!sc.state_ok)
		cli_log(LOG_ERR, "metrics: %s", sc.state_err);
	if (!sc.cache_ok || !sc.spool_ok || !sc.state_ok)
		rc = EXIT_SOURCE_FAILED;
	if (path == NULL) {
		if (fwrite(o.b, 1, o.n, stdout) != o.n || fflush(stdout) != 0)
			rc = EXIT_INTERNAL;
	} else if (write_atomic(path, o.b, o.n) != 0) {
		cli_log(LOG_ERR, "metrics: cannot write %s: %s", path,
		    strerror(errno));
		rc = EXIT_INTERNAL;
	}
	cli_scan_free(&sc);
	free(o.b);
	return rc;
}
