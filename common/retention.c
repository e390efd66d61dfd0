/* SPDX-License-Identifier: ISC */
/*
 * retention.c - pruning of the TLS-RPT spool, the built reports and the
 * send state after report_retention_days (decisions.md D-RET-1). The
 * report job (`mtasts report send`, `mtasts report build`) calls it after
 * its own work; the rule lives here.
 *
 * A UTC day D is old when D + (1 + report_retention_days) days <= now
 * (its last second is that long ago). For an old day:
 *  - state/<report>.state of D (the report's begin is D): removed when
 *    finished (delivered or given up); a pending one is kept and keeps
 *    every file of D (a retry still reads the spool);
 *  - the spool day D.jsonl (and D.jsonl.dropped) of this host: removed
 *    only when report_dir/D/.spool-built says the report job built that
 *    day from this spool; an old day never built is kept and counted (the
 *    operator is told: `mtasts report send --date D` reports it);
 *  - report_dir/D/: its report files, temp files and marker, then the
 *    directory if empty; kept while this host's spool day D is there.
 * Only names the job writes are touched (exact patterns below), only
 * regular files and real directories (never through a symbolic link:
 * fstatat/openat with AT_SYMLINK_NOFOLLOW/O_NOFOLLOW), and nothing when
 * report_retention_days is 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mtasts.h"
#include "mtasts_internal.h"

#define DAY 86400
/* Old days kept for pending sends remembered per run. */
#define RET_PENDING_MAX 4096
/* A state file is small JSON; anything bigger is not ours. */
#define RET_STATE_MAX 4096

int
mtasts_day_parse(const char *s, size_t len, time_t *out)
{
	uint64_t y, m, d;
	int64_t days, era, yoe, mp, doy, doe, yy;
	char back[16];

	if (len != 10 || s[4] != '-' || s[7] != '-' ||
	    mtasts_parse_u64(s, 4, 9999, &y) != 0 || y < 1970 ||
	    mtasts_parse_u64(s + 5, 2, 12, &m) != 0 || m == 0 ||
	    mtasts_parse_u64(s + 8, 2, 31, &d) != 0 || d == 0)
		return -1;
	/* Days from civil (H. Hinnant), proleptic Gregorian. */
	yy = (int64_t)(m <= 2 ? y - 1 : y);
	era = yy / 400;
	yoe = yy - era * 400;
	mp = ((int64_t)m + 9) % 12;
	doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;
	*out = (time_t)(days * DAY);
	/* Rejects 2023-02-29 and the like. */
	mtasts_tlsrpt_day_name(*out, back, sizeof(back));
	return memcmp(back, s, 10) == 0 && back[10] == '\0' ? 0 : -1;
}

static int
all_digits(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 20)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/*
 * A report file name as report_aggregate.c names it (RFC 8460 §5.1):
 * submitter!domain!begin!end!unique.json; *begin its day.
 */
static int
report_name(const char *s, size_t n, time_t *begin)
{
	const char *f[5], *e = s + n, *p = s;
	size_t len[5];
	uint64_t b;
	int i;

	for (i = 0; i < 5; i++) {
		const char *q = i < 4 ? memchr(p, '!', (size_t)(e - p)) : e;

		if (q == NULL)
			return 0;
		f[i] = p;
		len[i] = (size_t)(q - p);
		if (len[i] == 0 || memchr(p, '/', len[i]) != NULL)
			return 0;
		p = q + 1;
	}
	if (!all_digits(f[2], len[2]) || !all_digits(f[3], len[3]) ||
	    len[4] <= 5 || memcmp(f[4] + len[4] - 5, ".json", 5) != 0)
		return 0;
	for (i = 0; i < (int)len[4] - 5; i++)
		if (!((f[4][i] >= 'a' && f[4][i] <= 'z') ||
		    (f[4][i] >= 'A' && f[4][i] <= 'Z') ||
		    (f[4][i] >= '0' && f[4][i] <= '9')))
			return 0;
	if (mtasts_parse_u64(f[2], len[2], (uint64_t)1 << 40, &b) != 0)
		return 0;
	*begin = (time_t)b;
	return 1;
}

/* ".tmp.<pid>.<rest>" (report.c's write_file); *rest what it replaces. */
static int
temp_name(const char *s, const char **rest)
{
	const char *p;

	if (strncmp(s, ".tmp.", 5) != 0 || (p = strchr(s + 5, '.')) == NULL ||
	    !all_digits(s + 5, (size_t)(p - s - 5)))
		return 0;
	*rest = p + 1;
	return 1;
}

/* <report>.state: its report's day. */
static int
state_name(const char *s, time_t *begin)
{
	size_t n = strlen(s);

	return n > 6 && strcmp(s + n - 6, ".state") == 0 &&
	    report_name(s, n - 6, begin);
}

/* A regular file, not a link: 1; anything else (or gone) 0. */
static int
is_file(int dfd, const char *name)
{
	struct stat sb;

	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode);
}

static int
prune_unlink(int dfd, const char *dir, const char *name, size_t *count,
    struct mtasts_prune_stats *st, struct mtasts_error *err)
{
	if (!is_file(dfd, name))
		return 0;
	if (unlinkat(dfd, name, 0) == 0) {
		(*count)++;
		return 0;
	}
	if (errno == ENOENT)
		return 0;
	st->errors++;
	mtasts_err(err, MTASTS_ERROR, "retention: cannot remove %s/%s: %s",
	    dir, name, strerror(errno));
	return -1;
}

/* A finished send state: delivered ("done") or given up. -1: unreadable. */
static int
state_finished(int dfd, const char *name)
{
	char buf[RET_STATE_MAX + 1];
	json_t *j;
	ssize_t n;
	int fd, fin;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || n > RET_STATE_MAX)
		return -1;
	if ((j = json_loadb(buf, (size_t)n, 0, NULL)) == NULL)
		return -1;
	fin = json_is_string(json_object_get(j, "done")) ||
	    json_is_true(json_object_get(j, "gave_up"));
	json_decref(j);
	return fin;
}

struct pending {
	time_t day[RET_PENDING_MAX];
	size_t n;
	int overflow;
};

static int
is_pending(const struct pending *p, time_t day)
{
	size_t i;

	if (p->overflow)
		return 1;	/* too many to tell: keep everything */
	for (i = 0; i < p->n; i++)
		if (p->day[i] == day)
			return 1;
	return 0;
}

static void
add_pending(struct pending *p, time_t day)
{
	if (is_pending(p, day))
		return;
	if (p->n == RET_PENDING_MAX)
		p->overflow = 1;
	else
		p->day[p->n++] = day;
}

/* Open a real directory (never a link) under dfd (or a path). */
static int
open_dir(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* Pass 1: state/: finished old states go, pending old days are noted. */
static void
prune_state(int rfd, const char *sdir, time_t cutoff, struct pending *pend,
    struct mtasts_prune_stats *st, struct mtasts_error *err)
{
	DIR *d;
	struct dirent *de;
	int dfd;

	if ((dfd = rfd < 0 ? -1 : open_dir(rfd, "state")) < 0)
		return;		/* no send state yet (or not a directory) */
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *rest;
		time_t begin;

		if (temp_name(de->d_name, &rest)) {
			/* A store a dead process left; its day decides. */
			if (state_name(rest, &begin) && begin < cutoff)
				(void)prune_unlink(dirfd(d), sdir, de->d_name,
				    &st->state_files, st, err);
			continue;
		}
		if (!state_name(de->d_name, &begin) || begin >= cutoff ||
		    !is_file(dirfd(d), de->d_name))
			continue;
		if (state_finished(dirfd(d), de->d_name) == 1)
			(void)prune_unlink(dirfd(d), sdir, de->d_name,
			    &st->state_files, st, err);
		else
			add_pending(pend, begin);
	}
	closedir(d);
}

/* Was spool day `name` (YYYY-MM-DD) built by the report job? */
static int
day_built(int rfd, const char *name)
{
	int dfd = open_dir(rfd, name), ok;

	if (dfd < 0)
		return 0;
	ok = is_file(dfd, MTASTS_SPOOL_BUILT_MARK);
	close(dfd);
	return ok;
}

/* Pass 2: this host's spool days, once reported. */
static void
prune_spool(const char *spool, int sfd, int rfd, time_t cutoff,
    const struct pending *pend, struct mtasts_prune_stats *st,
    struct mtasts_error *err)
{
	DIR *d;
	struct dirent *de;
	int dfd;

	if (sfd < 0 || (dfd = fcntl(sfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	rewinddir(d);	/* a duplicate shares the offset */
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char ymd[11];
		time_t day;

		/* YYYY-MM-DD.jsonl or YYYY-MM-DD.jsonl.dropped, nothing else */
		if (!((n == 16 && strcmp(de->d_name + 10, ".jsonl") == 0) ||
		    (n == 24 && strcmp(de->d_name + 10, ".jsonl.dropped") ==
		    0)) || mtasts_day_parse(de->d_name, 10, &day) != 0 ||
		    day >= cutoff || !is_file(dirfd(d), de->d_name))
			continue;
		memcpy(ymd, de->d_name, 10);
		ymd[10] = '\0';
		if (is_pending(pend, day)) {
			if (n == 16)
				st->kept_pending++;
			continue;
		}
		if (rfd < 0 || !day_built(rfd, ymd)) {
			if (n == 16) {
				st->kept_unreported++;
				if (st->oldest_unreported[0] == '\0' ||
				    strcmp(ymd, st->oldest_unreported) < 0)
					mtasts_strlcpy(st->oldest_unreported,
					    ymd, sizeof(st->oldest_unreported));
			}
			continue;
		}
		(void)prune_unlink(dirfd(d), spool, de->d_name,
		    &st->spool_files, st, err);
	}
	closedir(d);
}

/* Pass 3: report_dir/D/ of old days whose spool day is gone. */
static void
prune_reports(const char *rdir, int rfd, int sfd, time_t cutoff,
    const struct pending *pend, struct mtasts_prune_stats *st,
    struct mtasts_error *err)
{
	DIR *d;
	struct dirent *de;
	int dup;

	if ((dup = fcntl(rfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return;
	if ((d = fdopendir(dup)) == NULL) {
		close(dup);
		return;
	}
	rewinddir(d);	/* a duplicate shares the offset */
	while ((de = readdir(d)) != NULL) {
		char spool_name[32], path[MTASTS_PATH_MAX + 16];
		struct dirent *fe;
		DIR *sub;
		time_t day;
		int dfd;

		if (strlen(de->d_name) != 10 ||
		    mtasts_day_parse(de->d_name, 10, &day) != 0 ||
		    day >= cutoff || is_pending(pend, day))
			continue;
		snprintf(spool_name, sizeof(spool_name), "%s.jsonl",
		    de->d_name);
		/* The marker stays while this host's spool day does. */
		if (sfd >= 0 && is_file(sfd, spool_name))
			continue;
		if ((dfd = open_dir(dirfd(d), de->d_name)) < 0)
			continue;	/* not a real directory */
		if ((sub = fdopendir(dfd)) == NULL) {
			close(dfd);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", rdir, de->d_name);
		while ((fe = readdir(sub)) != NULL) {
			const char *rest;
			time_t b;

			if (strcmp(fe->d_name, MTASTS_SPOOL_BUILT_MARK) == 0 ||
			    (temp_name(fe->d_name, &rest) &&
			    report_name(rest, strlen(rest), &b)))
				(void)prune_unlink(dirfd(sub), path,
				    fe->d_name, &st->other_files, st, err);
			else if (report_name(fe->d_name, strlen(fe->d_name),
			    &b))
				(void)prune_unlink(dirfd(sub), path,
				    fe->d_name, &st->report_files, st, err);
		}
		closedir(sub);
		/* Only when empty: anything not ours stays, and its dir. */
		if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
			st->report_dirs++;
	}
	closedir(d);
}

int
mtasts_retention_prune(struct mtasts_ctx *ctx, time_t now, int own_spool,
    struct mtasts_prune_stats *st, struct mtasts_error *err)
{
	const char *rdir = ctx->cfg.report_dir[0] ? ctx->cfg.report_dir :
	    MTASTS_REPORT_DIR_DEFAULT;
	const char *spool = mtasts_tlsrpt_dir(ctx);
	char sdir[MTASTS_PATH_MAX + 8];
	struct pending *pend;
	time_t cutoff;
	int rfd, sfd;

	memset(st, 0, sizeof(*st));
	st->days = ctx->cfg.report_retention_days;
	if (ctx->cfg.report_retention_days <= 0)
		return MTASTS_OK;	/* D-RET-1: 0 keeps everything */
	/* Day D is old when D + 1 + days <= now: D < cutoff. */
	cutoff = now - (time_t)(ctx->cfg.report_retention_days + 1) * DAY + 1;
	if ((size_t)snprintf(sdir, sizeof(sdir), "%s/state", rdir) >=
	    sizeof(sdir))
		return mtasts_err(err, MTASTS_ERROR, "retention: report_dir "
		    "path too long");
	if ((pend = calloc(1, sizeof(*pend))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "retention: out of "
		    "memory");
	/*
	 * The configured directories are the operator's (they may be links
	 * to another disk); what is inside them is never followed.
	 */
	rfd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	prune_state(rfd, sdir, cutoff, pend, st, err);
	if (own_spool)
		prune_spool(spool, sfd, rfd, cutoff, pend, st, err);
	if (rfd >= 0)
		prune_reports(rdir, rfd, sfd, cutoff, pend, st, err);
	if (rfd >= 0)
		close(rfd);
	if (sfd >= 0)
		close(sfd);
	free(pend);
	return st->errors > 0 ? MTASTS_ERROR : MTASTS_OK;
}

int
mtasts_retention_mark_day(struct mtasts_ctx *ctx, const char *dir,
    struct mtasts_error *err)
{
	int dfd, fd;

	(void)ctx;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0)
		return mtasts_err(err, MTASTS_ERROR, "retention: %s: %s", dir,
		    strerror(errno));
	fd = mtasts_open_file(dfd, MTASTS_SPOOL_BUILT_MARK, O_WRONLY |
	    O_CREAT, 0640, NULL);
	close(dfd);
	if (fd < 0)
		return mtasts_err(err, MTASTS_ERROR, "retention: %s/%s: "
		    "cannot create", dir, MTASTS_SPOOL_BUILT_MARK);
	close(fd);
	return MTASTS_OK;
}
