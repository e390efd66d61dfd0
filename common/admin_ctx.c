/* SPDX-License-Identifier: ISC */
/*
 * admin_ctx.c - the configuration values and the clock of a context as
 * the administration API (mtasts_admin.h) shows them, and the atomic file
 * replacement the reports, their send state and the metrics use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"

const char *
mtasts_admin_conf_str(const struct mtasts_ctx *ctx, int key)
{
	switch (key) {
	case MTASTS_ADMIN_CACHE_DIR:
		return ctx->cfg.cache_dir;
	case MTASTS_ADMIN_TLSRPT_DIR:
		return mtasts_tlsrpt_dir(ctx);
	case MTASTS_ADMIN_REPORT_DIR:
		return ctx->cfg.report_dir[0] != '\0' ? ctx->cfg.report_dir :
		    MTASTS_REPORT_DIR_DEFAULT;
	case MTASTS_ADMIN_CA_FILE:
		return ctx->cfg.ca_file;
	case MTASTS_ADMIN_CA_PATH:
		return ctx->cfg.ca_path;
	case MTASTS_ADMIN_TRUST_ANCHOR_FILE:
		return ctx->cfg.trust_anchor_file;
	case MTASTS_ADMIN_SENDMAIL:
		return ctx->cfg.sendmail[0] != '\0' ? ctx->cfg.sendmail :
		    MTASTS_SENDMAIL_DEFAULT;
	case MTASTS_ADMIN_REPORT_CONTACT:
		return ctx->cfg.report_contact;
	default:
		return "";
	}
}

/* The mtasts.conf key behind an admin key, or -1. */
static int
conf_key(int key)
{
	switch (key) {
	case MTASTS_ADMIN_CACHE_DIR:
		return MTASTS_CK_CACHE_DIR;
	case MTASTS_ADMIN_TLSRPT_DIR:
		return MTASTS_CK_TLSRPT_DIR;
	case MTASTS_ADMIN_REPORT_DIR:
		return MTASTS_CK_REPORT_DIR;
	case MTASTS_ADMIN_REFRESH_CONCURRENCY:
		return MTASTS_CK_REFRESH_CONCURRENCY;
	case MTASTS_ADMIN_CACHE_PURGE_AFTER:
		return MTASTS_CK_CACHE_PURGE_AFTER;
	case MTASTS_ADMIN_FETCH_TIMEOUT_MS:
		return MTASTS_CK_FETCH_TIMEOUT;
	case MTASTS_ADMIN_DNS_TIMEOUT_MS:
		return MTASTS_CK_DNS_TIMEOUT;
	case MTASTS_ADMIN_CA_FILE:
		return MTASTS_CK_CA_FILE;
	case MTASTS_ADMIN_CA_PATH:
		return MTASTS_CK_CA_PATH;
	case MTASTS_ADMIN_TRUST_ANCHOR_FILE:
		return MTASTS_CK_TRUST_ANCHOR_FILE;
	case MTASTS_ADMIN_SENDMAIL:
		return MTASTS_CK_SENDMAIL;
	case MTASTS_ADMIN_REPORT_CONTACT:
		return MTASTS_CK_REPORT_CONTACT;
	case MTASTS_ADMIN_DNSSEC:
		return MTASTS_CK_DNSSEC;
	default:
		return -1;
	}
}

int
mtasts_admin_conf_is_default(const struct mtasts_ctx *ctx, int key)
{
	int k = conf_key(key);

	return k < 0 || ctx->conf_line[k] == MTASTS_CONF_DEFAULT;
}

const char *
mtasts_admin_conf_resolver(const struct mtasts_ctx *ctx, size_t i)
{
	return i < ctx->cfg.nresolvers ? ctx->cfg.resolvers[i] : NULL;
}

int
mtasts_admin_conf_int(const struct mtasts_ctx *ctx, int key)
{
	switch (key) {
	case MTASTS_ADMIN_REFRESH_CONCURRENCY:
		return ctx->cfg.refresh_concurrency;
	case MTASTS_ADMIN_CACHE_PURGE_AFTER:
		return ctx->cfg.cache_purge_after;
	case MTASTS_ADMIN_FETCH_TIMEOUT_MS:
		return ctx->cfg.fetch_timeout_ms;
	case MTASTS_ADMIN_DNS_TIMEOUT_MS:
		return ctx->cfg.dns_timeout_ms;
	case MTASTS_ADMIN_DNSSEC:
		return ctx->cfg.dnssec;
	default:
		return 0;
	}
}

time_t
mtasts_admin_now(const struct mtasts_ctx *ctx)
{
	return mtasts_now(ctx);
}

void
mtasts_admin_set_cache_readonly(struct mtasts_ctx *ctx)
{
	ctx->cache_readonly = 1;
}

int
mtasts_write_atomic(const char *path, const char *tmp, const char *data,
    size_t len, mode_t mode)
{
	char dir[MTASTS_PATH_MAX * 2];
	const char *slash = strrchr(path, '/');
	size_t off = 0;
	int fd, dfd;

	/*
	 * A fresh file (O_EXCL after removing a leftover): O_TRUNC on an
	 * existing name could truncate a hard-linked file elsewhere.
	 */
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, mode)) < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	/* The descriptor is closed exactly once, whatever fails. */
	if (off != len || fsync(fd) != 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	/* The rename itself durable (best effort). */
	if (slash == NULL)
		mtasts_strlcpy(dir, ".", sizeof(dir));
	else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (dir[0] == '\0')
			mtasts_strlcpy(dir, "/", sizeof(dir));
	} else
		return 0;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
