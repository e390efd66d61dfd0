/* SPDX-License-Identifier: ISC */
/*
 * admin_report.c - building and sending the TLS-RPT aggregate reports for
 * the administration API (mtasts_admin.h): the built reports behind an
 * opaque handle, the send state of each report (report_dir/state) and the
 * RFC 8460 §5.5 retry rule (D-RPT-10), written here once.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "mtasts_internal.h"

_Static_assert(MTASTS_SEND_URI_MAX == MTASTS_TLSRPT_URI_MAX,
    "a done rua fits the send state");

struct mtasts_reports {
	struct mtasts_report *v;
	size_t n;
};

int
mtasts_admin_report_build(struct mtasts_ctx *ctx, time_t day,
    const char *const *spools, size_t nspools, struct mtasts_reports **out,
    struct mtasts_report_counts *st, struct mtasts_error *err)
{
	struct mtasts_reports *rs;
	char submitter[MTASTS_DOMAIN_MAX + 1];
	int rc;

	*out = NULL;
	memset(st, 0, sizeof(*st));
	/* The report's identity is configuration (§5.3). */
	if (mtasts_report_identity(ctx, submitter, sizeof(submitter),
	    err) != MTASTS_OK)
		return MTASTS_ADMIN_CONFIG;
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	rc = mtasts_report_build_spools(ctx, day, spools, nspools,
	    mtasts_report_rua_dns, NULL, &rs->v, &rs->n, st, err);
	if (rc != MTASTS_OK) {
		mtasts_reports_free(rs);
		return rc;
	}
	*out = rs;
	return MTASTS_OK;
}

void
mtasts_reports_free(struct mtasts_reports *rs)
{
	if (rs == NULL)
		return;
	mtasts_report_free(rs->v, rs->n);
	free(rs);
}

size_t
mtasts_reports_count(const struct mtasts_reports *rs)
{
	return rs != NULL ? rs->n : 0;
}

const char *
mtasts_reports_file_name(const struct mtasts_reports *rs, size_t i)
{
	return rs->v[i].file_name;
}

const char *
mtasts_reports_json(const struct mtasts_reports *rs, size_t i, size_t *len)
{
	*len = rs->v[i].json_len;
	return rs->v[i].json;
}

/*
 * §5.5: "the sender SHOULD retry ... with an exponential back-off, for
 * up to 24 hours" (D-RPT-10): 5 min, 10, 20, ... at most 4 h
 * between tries, given up once a failure is 24 h after the first try.
 */
int
mtasts_admin_retry_next(long long first, long long attempts, long long now,
    long long *next)
{
	long long wait;

	if (now - first >= MTASTS_RETRY_WINDOW)
		return 1;
	if (attempts < 1)
		attempts = 1;
	wait = (long long)MTASTS_RETRY_FIRST << (attempts > 7 ? 6 :
	    attempts - 1);
	if (wait > MTASTS_RETRY_MAX)
		wait = MTASTS_RETRY_MAX;
	*next = now + wait;
	return 0;
}

int
mtasts_admin_report_state_dir(const struct mtasts_ctx *ctx, char *buf,
    size_t size)
{
	int n = snprintf(buf, size, "%s/state",
	    mtasts_admin_conf_str(ctx, MTASTS_ADMIN_REPORT_DIR));

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Send state of one report: report_dir/state/<file>.state (JSON). */
struct state {
	long long first, next, attempts;
	char done[MTASTS_TLSRPT_URI_MAX + 1];
	int gave_up;
};

static void
state_load(const char *path, struct state *s)
{
	json_t *j;
	const char *d;

	memset(s, 0, sizeof(*s));
	if ((j = json_load_file(path, 0, NULL)) == NULL)
		return;
	s->first = json_integer_value(json_object_get(j, "first"));
	s->next = json_integer_value(json_object_get(j, "next"));
	s->attempts = json_integer_value(json_object_get(j, "attempts"));
	s->gave_up = json_is_true(json_object_get(j, "gave_up"));
	if ((d = json_string_value(json_object_get(j, "done"))) != NULL)
		mtasts_strlcpy(s->done, d, sizeof(s->done));
	json_decref(j);
}

static int
state_store(const char *dir, const char *name, const struct state *s)
{
	char path[MTASTS_PATH_MAX * 2], tmp[MTASTS_PATH_MAX * 2 + 32];
	json_t *j;
	char *txt;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path) || (size_t)snprintf(tmp, sizeof(tmp),
	    "%s/.tmp.%ld.%s", dir, (long)getpid(), name) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	j = json_pack("{s:I, s:I, s:I, s:s?, s:b}", "first",
	    (json_int_t)s->first, "next", (json_int_t)s->next, "attempts",
	    (json_int_t)s->attempts, "done", s->done[0] ? s->done : NULL,
	    "gave_up", s->gave_up);
	if (j == NULL || (txt = json_dumps(j, JSON_COMPACT)) == NULL) {
		json_decref(j);
		errno = ENOMEM;
		return -1;
	}
	rc = mtasts_write_atomic(path, tmp, txt, strlen(txt), 0640);
	free(txt);
	json_decref(j);
	return rc;
}

int
mtasts_admin_report_send(struct mtasts_ctx *ctx,
    const struct mtasts_reports *rs, size_t i, time_t now,
    struct mtasts_send_result *res)
{
	const struct mtasts_report *r = &rs->v[i];
	struct mtasts_error err = { 0, "" };
	char sdir[MTASTS_PATH_MAX + 16], sname[sizeof(r->file_name) + 8];
	struct state s;

	memset(res, 0, sizeof(*res));
	if (mtasts_admin_report_state_dir(ctx, sdir, sizeof(sdir)) != 0) {
		errno = ENAMETOOLONG;
		return MTASTS_ERROR;
	}
	snprintf(sname, sizeof(sname), "%s.state", r->file_name);
	snprintf(res->state_path, sizeof(res->state_path), "%s/%s", sdir,
	    sname);
	state_load(res->state_path, &s);
	if (s.done[0] != '\0') {
		res->outcome = MTASTS_SEND_ALREADY;
		mtasts_strlcpy(res->done, s.done, sizeof(res->done));
		return MTASTS_OK;
	}
	if (s.gave_up) {
		res->outcome = MTASTS_SEND_GAVE_UP_EARLIER;
		return MTASTS_OK;
	}
	if (s.attempts > 0 && now < s.next) {
		res->outcome = MTASTS_SEND_LATER;
		res->next = s.next;
		return MTASTS_OK;
	}
	if (s.first == 0)
		s.first = now;
	s.attempts++;
	if (mtasts_report_deliver(ctx, r, now, res->done, sizeof(res->done),
	    &err) == MTASTS_OK) {
		mtasts_strlcpy(s.done, res->done, sizeof(s.done));
		res->outcome = MTASTS_SEND_SENT;
	} else {
		res->done[0] = '\0';
		mtasts_strlcpy(res->why, err.text, sizeof(res->why));
		if (mtasts_admin_retry_next(s.first, s.attempts, now,
		    &s.next)) {
			s.gave_up = 1;
			res->outcome = MTASTS_SEND_GAVE_UP;
		} else {
			res->outcome = MTASTS_SEND_RETRY;
			res->next = s.next;
		}
	}
	if (state_store(sdir, sname, &s) != 0) {
		res->state_failed = 1;
		res->state_errno = errno;
	}
	return MTASTS_OK;
}

int
mtasts_admin_report_states(struct mtasts_ctx *ctx, time_t since,
    size_t st[3], void (*fn)(void *, const char *, int), void *arg)
{
	char sdir[MTASTS_PATH_MAX + 16], p[MTASTS_PATH_MAX + 300];
	struct dirent *de;
	DIR *d;

	st[0] = st[1] = st[2] = 0;
	if (mtasts_admin_report_state_dir(ctx, sdir, sizeof(sdir)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((d = opendir(sdir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		const char *b, *e;
		struct state s;
		uint64_t begin;
		size_t n = strlen(de->d_name);
		int k;

		/* submitter!domain!begin!end!id.json.state (§5.1 + .state) */
		if (de->d_name[0] == '.' || n < 7 ||
		    strcmp(de->d_name + n - 6, ".state") != 0)
			continue;
		if ((b = strchr(de->d_name, '!')) == NULL ||
		    (b = strchr(b + 1, '!')) == NULL ||
		    (e = strchr(b + 1, '!')) == NULL ||
		    mtasts_parse_u64(b + 1, (size_t)(e - b - 1),
		    (uint64_t)1 << 40, &begin) != 0 || (time_t)begin < since)
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", sdir,
		    de->d_name) >= sizeof(p))
			continue;
		state_load(p, &s);
		k = s.done[0] != '\0' ? 0 : s.gave_up ? 2 : 1;
		st[k]++;
		if (k != 0 && fn != NULL)
			fn(arg, de->d_name, k);
	}
	closedir(d);
	return 0;
}

int
mtasts_admin_report_mark_day(struct mtasts_ctx *ctx, const char *dir,
    struct mtasts_error *err)
{
	return mtasts_retention_mark_day(ctx, dir, err);
}

void
mtasts_admin_day_name(time_t t, char *buf, size_t size)
{
	mtasts_tlsrpt_day_name(t, buf, size);
}

int
mtasts_admin_retention(struct mtasts_ctx *ctx, time_t now, int own_spool,
    struct mtasts_retention_counts *st, struct mtasts_error *err)
{
	struct mtasts_prune_stats ps;
	int rc;

	memset(&ps, 0, sizeof(ps));
	rc = mtasts_retention_prune(ctx, now, own_spool, &ps, err);
	memset(st, 0, sizeof(*st));
	st->days = ps.days;
	st->spool_files = ps.spool_files;
	st->report_files = ps.report_files;
	st->report_dirs = ps.report_dirs;
	st->state_files = ps.state_files;
	st->other_files = ps.other_files;
	st->kept_pending = ps.kept_pending;
	st->kept_unreported = ps.kept_unreported;
	mtasts_strlcpy(st->oldest_unreported, ps.oldest_unreported,
	    sizeof(st->oldest_unreported));
	st->errors = ps.errors;
	return rc;
}
