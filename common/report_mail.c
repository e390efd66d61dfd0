/* SPDX-License-Identifier: ISC */
/*
 * report_mail.c - an RFC 8460 report as mail (§5.3): gzip of the JSON
 * (§5), the MIME message (multipart/report; report-type=tlsrpt), and its
 * hand-over to the local MTA's sendmail interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <zlib.h>

#include "mtasts_internal.h"

/* Argument words of the sendmail command. */
#define SENDMAIL_ARGS_MAX 16


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
	int sv[2] = { -1, -1 }, status, rc = MTASTS_TEMPFAIL, werr = 0;
	int64_t deadline = mtasts_mono_ms() + MTASTS_REPORT_SEND_TIMEOUT_MS;
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
			werr = w < 0 ? errno : EPIPE;
			break;
		}
		off += (size_t)w;
	}
	close(sv[0]);
	sv[0] = -1;
	/*
	 * The exit status says more than the write error it causes: a
	 * sendmail that exits at once (bad option, no permission) closes
	 * its end before or while we write, and which comes first is
	 * scheduling.
	 */
	status = wait_child(pid, deadline);
	if (status < 0)
		mtasts_err_set(err, MTASTS_TEMPFAIL, "sendmail: timed out");
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		mtasts_err_set(err, MTASTS_TEMPFAIL, "sendmail %s: exit "
		    "status %d", argv[0], WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	else if (werr != 0)
		mtasts_err_set(err, MTASTS_TEMPFAIL, "sendmail %s: write: %s",
		    argv[0], strerror(werr));
	else if (off == len)
		rc = MTASTS_OK;
done:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}
