/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt.c - the TLS-RPT session spool (RFC 8460): every process that
 * delivers mail appends one JSON line per outbound SMTP session to the
 * file of the current UTC day; `mtasts report` aggregates it
 * (report_aggregate.c). The record format is spool.c's.
 *
 * Concurrency without locks: each record is one write(2) on an O_APPEND
 * descriptor of at most MTASTS_TLSRPT_RECORD_MAX (= PIPE_BUF) bytes, so
 * records of concurrent writers never interleave and no process waits for
 * another. A record a full disk tears is truncated away by its writer
 * (D-SPOOL-2); a crash can still leave a torn line, which the reader skips
 * and counts (docs/decisions.md D-RPT-5). The spool directory and its
 * files are opened so that a FIFO, a link or a world-writable directory
 * is refused at once, never waited on (D-FILE-1, D-SPOOL-1).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtasts_internal.h"

/*
 * RFC 8460 §4.3 / IANA "STARTTLS Validation Result Types": the one list,
 * indexed by the public enum mtasts_tlsrpt_type (the spool writer here,
 * the report build and the tally in report_aggregate.c via spool.c,
 * `mtasts metrics` through
 * mtasts_tlsrpt_type_name()).
 */
static const char *const result_types[MTASTS_TLSRPT_TYPES] = {
	[MTASTS_TLSRPT_STARTTLS_NOT_SUPPORTED] =
	    MTASTS_RT_STARTTLS_NOT_SUPPORTED,
	[MTASTS_TLSRPT_CERT_HOST_MISMATCH] = MTASTS_RT_CERT_HOST_MISMATCH,
	[MTASTS_TLSRPT_CERT_EXPIRED] = MTASTS_RT_CERT_EXPIRED,
	[MTASTS_TLSRPT_CERT_NOT_TRUSTED] = MTASTS_RT_CERT_NOT_TRUSTED,
	[MTASTS_TLSRPT_VALIDATION_FAILURE] = MTASTS_RT_VALIDATION_FAILURE,
	[MTASTS_TLSRPT_TLSA_INVALID] = MTASTS_RT_TLSA_INVALID,
	[MTASTS_TLSRPT_DNSSEC_INVALID] = MTASTS_RT_DNSSEC_INVALID,
	[MTASTS_TLSRPT_DANE_REQUIRED] = MTASTS_RT_DANE_REQUIRED,
	[MTASTS_TLSRPT_STS_FETCH_ERROR] = MTASTS_RT_STS_FETCH_ERROR,
	[MTASTS_TLSRPT_STS_INVALID] = MTASTS_RT_STS_INVALID,
	[MTASTS_TLSRPT_STS_WEBPKI_INVALID] = MTASTS_RT_STS_WEBPKI_INVALID,
};

const char *
mtasts_tlsrpt_dir(const struct mtasts_ctx *ctx)
{
	return ctx->cfg.tlsrpt_dir[0] != '\0' ? ctx->cfg.tlsrpt_dir :
	    MTASTS_TLSRPT_DIR_DEFAULT;
}

void
mtasts_tlsrpt_day_name(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (gmtime_r(&t, &tm) != NULL)
		strftime(buf, size, "%Y-%m-%d", &tm);
}

int
mtasts_tlsrpt_spool_path(const struct mtasts_ctx *ctx, time_t day,
    char *buf, size_t size)
{
	char name[16];
	int n;

	mtasts_tlsrpt_day_name(day, name, sizeof(name));
	n = snprintf(buf, size, "%s/%s.jsonl", mtasts_tlsrpt_dir(ctx), name);
	return n < 0 || (size_t)n >= size || name[0] == '\0' ? -1 : 0;
}

/*
 * The spool directory, opened for appending records (D-FILE-1): what we
 * create (mkdir -p) is 02770, as the spool is shared by the MTA's delivery
 * processes and the report job through a common group and setgid keeps
 * new files in that group; a world-writable spool is refused, because
 * anybody could plant a FIFO, a link or forged records in it (D-SPOOL-1).
 */
static int
spool_dir_open(const struct mtasts_ctx *ctx, int create_dir,
    const char **why)
{
	return mtasts_dir_open(mtasts_tlsrpt_dir(ctx), 02770, create_dir ?
	    MTASTS_DIR_CREATE_PARENTS : MTASTS_DIR_EXISTING, why);
}


/* An IP address in canonical text (RFC 5952 for IPv6); -1 if invalid. */
static int
canon_ip(const char *s, char *out, size_t size)
{
	unsigned char a[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)size) ? 0 : -1;
	if (inet_pton(AF_INET6, s, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)size) ? 0 : -1;
	return -1;
}

const char *
mtasts_tlsrpt_type_name(int t)
{
	return t >= 0 && t < MTASTS_TLSRPT_TYPES ? result_types[t] : NULL;
}

int
mtasts_tlsrpt_type_parse(const char *s)
{
	int i;

	if (s == NULL)
		return MTASTS_TLSRPT_NONE;
	for (i = 0; i < MTASTS_TLSRPT_TYPES; i++)
		if (strcmp(s, result_types[i]) == 0)
			return i;
	return MTASTS_TLSRPT_UNKNOWN;
}

size_t
mtasts_tlsrpt_result_type_count(void)
{
	return MTASTS_TLSRPT_TYPES;
}

const char *
mtasts_tlsrpt_result_type_name(size_t i)
{
	return i < MTASTS_TLSRPT_TYPES ? result_types[i] : NULL;
}

int
mtasts_tlsrpt_result_type_index(const char *s)
{
	int t = s != NULL ? mtasts_tlsrpt_type_parse(s) : MTASTS_TLSRPT_UNKNOWN;

	return t >= 0 ? t : -1;
}

static int
known_result_type(const char *s)
{
	return mtasts_tlsrpt_result_type_index(s) != -1;
}

/* Count a dropped session: one byte in <day>.dropped, lock-free. */
static void
count_drop(int dfd, const char *name)
{
	char dp[NAME_MAX + 1];
	int fd;

	if ((size_t)snprintf(dp, sizeof(dp), "%s.dropped", name) >=
	    sizeof(dp))
		return;
	/* D-FILE-1: never a FIFO, a link, or a file that is not ours. */
	fd = mtasts_open_file(dfd, dp, O_WRONLY | O_APPEND | O_CREAT |
	    MTASTS_OPEN_FIXMODE, 0660, NULL);
	if (fd < 0)
		return;
	if (write(fd, "\n", 1) != 1) {
		/* Nothing more to do: the drop is logged by the caller. */
	}
	close(fd);
}

/*
 * Append one record (line, ending in "\n") to the day file. Never blocks: the
 * directory and the file are opened as D-FILE-1 says, so a FIFO, a link
 * or a world-writable spool is an error, never a hang (D-SPOOL-1).
 */
static int
spool_write(struct mtasts_ctx *ctx, const char *line, size_t len,
    time_t when, int create_dir, struct mtasts_error *err)
{
	char path[MTASTS_PATH_MAX + 32], name[32];
	char buf[16];
	struct stat st;
	uint64_t cap = ctx->cfg.tlsrpt_day_max != 0 ?
	    ctx->cfg.tlsrpt_day_max : MTASTS_TLSRPT_DAY_MAX_DEFAULT;
	const char *why = NULL;
	ssize_t w;
	int dfd = -1, fd = -1, rc = MTASTS_ERROR;

	if (ctx->tlsrpt_dry)
		return MTASTS_OK;	/* no delivery happened (D-EXIM-10) */
	mtasts_tlsrpt_day_name(when, buf, sizeof(buf));
	if (mtasts_tlsrpt_spool_path(ctx, when, path, sizeof(path)) != 0 ||
	    (size_t)snprintf(name, sizeof(name), "%s.jsonl", buf) >=
	    sizeof(name)) {
		mtasts_err_set(err, MTASTS_ERROR,
		    "tlsrpt: spool path too long");
		goto done;
	}
	if ((dfd = spool_dir_open(ctx, create_dir, &why)) < 0) {
		if (!create_dir && errno == ENOENT) {
			rc = MTASTS_NOTFOUND;
			goto done;
		}
		mtasts_err_set(err, MTASTS_ERROR, "tlsrpt: %s: %s",
		    mtasts_tlsrpt_dir(ctx), why != NULL ? why :
		    strerror(errno));
		goto done;
	}
	if ((fd = mtasts_open_file(dfd, name, O_WRONLY | O_APPEND | O_CREAT,
	    0660, &why)) < 0) {
		mtasts_err_set(err, MTASTS_ERROR, "tlsrpt: %s: %s", path,
		    why != NULL ? why : strerror(errno));
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		mtasts_err_set(err, MTASTS_ERROR, "tlsrpt: %s: %s", path,
		    strerror(errno));
		goto done;
	}
	/*
	 * Bound the day's spool (checklist 115). Concurrent writers may each
	 * pass this check at once: the overshoot is at most one record each.
	 */
	if ((uint64_t)st.st_size + len > cap) {
		count_drop(dfd, name);
		mtasts_log(ctx, MTASTS_LOG_WARN, "tlsrpt: %s full (%llu bytes),"
		    " session dropped", path, (unsigned long long)cap);
		mtasts_err_set(err, MTASTS_ERROR, "tlsrpt: day spool full");
		goto done;
	}
	w = write(fd, line, len);
	if (w < 0 || (size_t)w != len) {
		int e = w < 0 ? errno : ENOSPC;
		off_t end;

		/*
		 * D-SPOOL-2: a short write (a full disk) left a torn line
		 * without its newline, and the newline would not fit either.
		 * Take the torn bytes back while they are still the end of
		 * the file, so the next record starts on a line of its own;
		 * only if someone appended after them end the line instead.
		 */
		if (w > 0 && (end = lseek(fd, 0, SEEK_CUR)) >= w &&
		    fstat(fd, &st) == 0 && st.st_size == end) {
			if (ftruncate(fd, end - w) != 0 &&
			    write(fd, "\n", 1) != 1) {
				/* The reader skips and counts the torn line. */
			}
		} else if (w > 0 && write(fd, "\n", 1) != 1) {
			/* The reader skips and counts the torn line. */
		}
		mtasts_err_set(err, MTASTS_ERROR, "tlsrpt: write %s: %s", path,
		    strerror(e));
		goto done;
	}
	rc = MTASTS_OK;
done:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int
mtasts_tlsrpt_record(struct mtasts_ctx *ctx,
    const struct mtasts_tlsrpt_session *s, struct mtasts_error *err)
{
	char domain[MTASTS_DOMAIN_MAX + 1], mxh[MTASTS_DOMAIN_MAX + 1];
	char mxip[INET6_ADDRSTRLEN], sip[INET6_ADDRSTRLEN];
	struct mtasts_error e = { 0, "" };
	char *line = NULL;
	size_t len;
	time_t when;
	int rc;

	mxh[0] = mxip[0] = sip[0] = '\0';
	if (ctx == NULL || s == NULL)
		return mtasts_err(err, MTASTS_ERROR, "tlsrpt: no session");
	if (s->policy_domain == NULL || mtasts_domain_normalize(
	    s->policy_domain, strlen(s->policy_domain), domain, &e) !=
	    MTASTS_OK)
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: policy domain: %s", e.text[0] ? e.text :
		    "missing");
	if (s->policy_type < MTASTS_POLICY_TYPE_NONE ||
	    s->policy_type > MTASTS_POLICY_TYPE_TLSA)
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: unknown policy type %d", s->policy_type);
	/* §4.4: A-labels in receiving-mx-hostname, a name we can report. */
	if (s->mx_host != NULL && s->mx_host[0] != '\0' &&
	    mtasts_domain_normalize(s->mx_host, strlen(s->mx_host), mxh,
	    &e) != MTASTS_OK)
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: mx host: %s", e.text);
	if (s->mx_ip != NULL && s->mx_ip[0] != '\0' &&
	    canon_ip(s->mx_ip, mxip, sizeof(mxip)) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: bad receiving IP \"%.45s\"", s->mx_ip);
	if (s->sending_ip != NULL && s->sending_ip[0] != '\0' &&
	    canon_ip(s->sending_ip, sip, sizeof(sip)) != 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: bad sending IP \"%.45s\"", s->sending_ip);
	if (s->result_type != NULL && !known_result_type(s->result_type))
		return mtasts_err(err, MTASTS_INVALID,
		    "tlsrpt: unknown result type \"%.40s\"", s->result_type);
	when = s->when != 0 ? s->when : mtasts_now(ctx);
	if ((line = mtasts_spool_rec_encode(s, domain, mxh, mxip, sip, when,
	    &len)) == NULL)
		return mtasts_err(err, MTASTS_NOMEM,
		    "tlsrpt: cannot encode the record");
	rc = spool_write(ctx, line, len, when, 1, err);
	free(line);
	return rc;
}

void
mtasts_tlsrpt_record_fetch_failure(struct mtasts_ctx *ctx,
    const char *domain, const char *result_type, const char *reason,
    time_t when)
{
	struct mtasts_tlsrpt_session s;
	char d[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error e = { 0, "" };
	char *line;
	size_t len;

	memset(&s, 0, sizeof(s));
	s.policy_type = MTASTS_POLICY_TYPE_STS;
	s.result_type = result_type != NULL && known_result_type(
	    result_type) ? result_type : MTASTS_RT_STS_FETCH_ERROR;
	s.failure_reason = reason;
	if (domain == NULL || mtasts_domain_normalize(domain, strlen(domain),
	    d, NULL) != MTASTS_OK)
		return;
	if ((line = mtasts_spool_rec_encode(&s, d, "", "", "",
	    when != 0 ? when : mtasts_now(ctx), &len)) == NULL)
		return;
	if (spool_write(ctx, line, len, when != 0 ? when : mtasts_now(ctx),
	    0, &e) == MTASTS_ERROR)
		/* Reports would silently miss the failure: say so. */
		mtasts_log(ctx, MTASTS_LOG_WARN, "%s (policy fetch failure "
		    "of %s not recorded)", e.text, d);
	free(line);
}
