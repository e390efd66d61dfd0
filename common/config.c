/* SPDX-License-Identifier: ISC */
/*
 * config.c - mtasts.conf(5): `key = value` lines, `#` comments.
 *
 * Unknown keys, bad values, duplicate keys, NUL and control bytes are
 * errors that name the file and line, so a typo never silently weakens
 * enforcement; config_check.c then checks the files and directories the
 * configuration names (decisions.md D-CONF-1..6). See docs/config.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"

#define CONFIG_LINE_MAX 1024
#define CONFIG_FILE_MAX (256 * 1024)
/* Zones of resolve_special_zone. */
#define CONFIG_SPECIAL_ZONES_MAX 8

/* Names of enum mtasts_conf_key, in its order. */
static const char *const conf_keys[MTASTS_CK_COUNT] = {
	"resolver", "dnssec", "trust_anchor_file", "ca_file", "ca_path",
	"cache_dir", "fetch_timeout", "dns_timeout", "lock_wait",
	"txt_check_interval", "cache_purge_after", "refresh_concurrency",
	"dns_failure", "resolve_special_zone", "tlsrpt_dir", "report_dir",
	"sendmail", "report_org_name", "report_contact", "report_from",
	"report_submitter", "report_failure_reason", "cache_memo",
	"tlsrpt_max_day_size", "report_host_id", "report_retention_days"
};

const char *
mtasts_conf_key_name(int key)
{
	if (key < 0 || key >= MTASTS_CK_COUNT)
		return "?";
	return conf_keys[key];
}

static int
conf_key_index(const char *key)
{
	int i;

	for (i = 0; i < MTASTS_CK_COUNT; i++)
		if (strcmp(conf_keys[i], key) == 0)
			return i;
	return -1;
}

/*
 * A range-checked whole number of `unit` ("seconds", "a count", "bytes"),
 * min..max; the message names the key and the range. *out = n * scale.
 */
static int
set_number(const char *key, const char *v, uint64_t min, uint64_t max,
    const char *unit, uint64_t *out, struct mtasts_error *err)
{
	uint64_t n;

	if (mtasts_parse_u64(v, strlen(v), max, &n) != 0 || n < min)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: expected %s %llu..%llu, got \"%.40s\"", key, unit,
		    (unsigned long long)min, (unsigned long long)max, v);
	*out = n;
	return MTASTS_OK;
}

/* Every max passed here keeps n * scale within int. */
static int
set_int(const char *key, const char *v, uint64_t min, uint64_t max,
    const char *unit, int *out, int scale, struct mtasts_error *err)
{
	uint64_t n = 0;
	int rc;

	if ((rc = set_number(key, v, min, max, unit, &n, err)) != MTASTS_OK)
		return rc;
	*out = (int)n * scale;
	return MTASTS_OK;
}

static int
set_path(const char *key, const char *v, char *dst, size_t size,
    struct mtasts_error *err)
{
	if (v[0] != '/')
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: expected an absolute path, got \"%.60s\"", key, v);
	if (mtasts_strlcpy(dst, v, size) >= size)
		return mtasts_err(err, MTASTS_INVALID, "%s: path too long",
		    key);
	return MTASTS_OK;
}

/* "IP" or "IP@port"; IPv4 or IPv6. */
static int
resolver_valid(const char *v)
{
	char ip[64];
	const char *at = strchr(v, '@');
	size_t n = at != NULL ? (size_t)(at - v) : strlen(v);
	unsigned char buf[sizeof(struct in6_addr)];
	uint64_t port;

	if (n == 0 || n >= sizeof(ip))
		return 0;
	memcpy(ip, v, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, buf) != 1 &&
	    inet_pton(AF_INET6, ip, buf) != 1)
		return 0;
	if (at != NULL &&
	    (mtasts_parse_u64(at + 1, strlen(at + 1), 65535, &port) != 0 ||
		port == 0))
		return 0;
	return 1;
}

/* Printable ASCII only: these values end up in mail headers and JSON. */
static int
set_text(const char *key, const char *v, char *dst, size_t size,
    struct mtasts_error *err)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] >= 0x7f)
			return mtasts_err(err, MTASTS_INVALID,
			    "%s: only printable ASCII allowed", key);
	if (i == 0 || mtasts_strlcpy(dst, v, size) >= size)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: expected 1..%zu characters", key, size - 1);
	return MTASTS_OK;
}

/* A plain addr-spec local@domain (dot-atom local part, LDH domain). */
static int
set_addr(const char *key, const char *v, char *dst, size_t size,
    struct mtasts_error *err)
{
	const char *at = strrchr(v, '@');
	size_t i;

	if (at == NULL || at == v || !mtasts_hostname_valid(at + 1,
	    strlen(at + 1)))
		goto bad;
	for (i = 0; v + i < at; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') ||
		    (v[i] >= 'A' && v[i] <= 'Z') ||
		    (v[i] >= '0' && v[i] <= '9') ||
		    strchr(".!#$%&'*+-/=?^_`{|}~", v[i]) != NULL))
			goto bad;
	return set_text(key, v, dst, size, err);
bad:
	return mtasts_err(err, MTASTS_INVALID,
	    "%s: expected an address local@domain, got \"%.60s\"", key, v);
}

/*
 * Set one key of c. Exact duplicates of a repeatable key's value are
 * refused (D-CONF-6): the list would hold it twice, and the copy usually
 * stands where a different value was meant.
 */
static int
conf_apply(struct mtasts_config *c, int k, const char *key, const char *v,
    struct mtasts_error *err)
{
	uint64_t n = 0;
	size_t i;
	int rc;

	switch (k) {
	case MTASTS_CK_RESOLVER:
		if (!resolver_valid(v))
			return mtasts_err(err, MTASTS_INVALID,
			    "resolver: expected IP or IP@port, got \"%.60s\"",
			    v);
		for (i = 0; i < c->nresolvers; i++)
			if (strcmp(c->resolvers[i], v) == 0)
				return mtasts_err(err, MTASTS_INVALID,
				    "resolver: %s listed twice", v);
		if (c->nresolvers >= MTASTS_RESOLVERS_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "resolver: at most %d resolvers",
			    MTASTS_RESOLVERS_MAX);
		mtasts_strlcpy(c->resolvers[c->nresolvers++], v,
		    sizeof(c->resolvers[0]));
		return MTASTS_OK;
	case MTASTS_CK_DNSSEC:
		if (strcmp(v, "on") == 0)
			c->dnssec = 1;
		else if (strcmp(v, "off") == 0)
			c->dnssec = 0;
		else if (strcmp(v, "auto") == 0)
			c->dnssec = -1;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "dnssec: expected on, off or auto, got \"%.40s\"",
			    v);
		return MTASTS_OK;
	case MTASTS_CK_TRUST_ANCHOR_FILE:
		return set_path(key, v, c->trust_anchor_file,
		    sizeof(c->trust_anchor_file), err);
	case MTASTS_CK_CA_FILE:
		return set_path(key, v, c->ca_file, sizeof(c->ca_file), err);
	case MTASTS_CK_CA_PATH:
		return set_path(key, v, c->ca_path, sizeof(c->ca_path), err);
	case MTASTS_CK_CACHE_DIR:
		return set_path(key, v, c->cache_dir, sizeof(c->cache_dir),
		    err);
	case MTASTS_CK_FETCH_TIMEOUT:
		return set_int(key, v, 1, 300, "whole seconds",
		    &c->fetch_timeout_ms, 1000, err);
	case MTASTS_CK_DNS_TIMEOUT:
		return set_int(key, v, 1, 120, "whole seconds",
		    &c->dns_timeout_ms, 1000, err);
	case MTASTS_CK_LOCK_WAIT:
		return set_int(key, v, 0, 300, "whole seconds",
		    &c->lock_wait_ms, 1000, err);
	case MTASTS_CK_TXT_CHECK_INTERVAL:
		return set_int(key, v, 0, 86400 * 7, "whole seconds",
		    &c->txt_check_interval, 1, err);
	case MTASTS_CK_CACHE_PURGE_AFTER:
		return set_int(key, v, 0, 86400 * 366, "whole seconds",
		    &c->cache_purge_after, 1, err);
	case MTASTS_CK_REFRESH_CONCURRENCY:
		return set_int(key, v, 1, 64, "a count of parallel fetches",
		    &c->refresh_concurrency, 1, err);
	case MTASTS_CK_DNS_FAILURE:
		if (strcmp(v, "none") == 0)
			c->dns_failure = MTASTS_DNSFAIL_NONE;
		else if (strcmp(v, "tempfail") == 0)
			c->dns_failure = MTASTS_DNSFAIL_TEMPFAIL;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "dns_failure: expected none or tempfail, got "
			    "\"%.40s\"", v);
		return MTASTS_OK;
	case MTASTS_CK_RESOLVE_SPECIAL_ZONE: {
		char z[64];

		n = strlen(v);
		if (n > 0 && v[n - 1] == '.')
			n--;
		if (n == 0 || n >= sizeof(z))
			return mtasts_err(err, MTASTS_INVALID,
			    "resolve_special_zone: bad zone \"%.40s\"", v);
		memcpy(z, v, n);
		z[n] = '\0';
		if (!mtasts_hostname_valid(z, n))
			return mtasts_err(err, MTASTS_INVALID,
			    "resolve_special_zone: bad zone \"%.40s\"", v);
		for (i = 0; i < c->nspecial_zones; i++)
			if (mtasts_ascii_caseeq(c->special_zones[i],
			    strlen(c->special_zones[i]), z, n))
				return mtasts_err(err, MTASTS_INVALID,
				    "resolve_special_zone: %s listed twice",
				    z);
		if (c->nspecial_zones >= CONFIG_SPECIAL_ZONES_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "resolve_special_zone: at most %d zones",
			    CONFIG_SPECIAL_ZONES_MAX);
		mtasts_strlcpy(c->special_zones[c->nspecial_zones++], z,
		    sizeof(c->special_zones[0]));
		return MTASTS_OK;
	}
	case MTASTS_CK_TLSRPT_DIR:
		return set_path(key, v, c->tlsrpt_dir, sizeof(c->tlsrpt_dir),
		    err);
	case MTASTS_CK_REPORT_DIR:
		return set_path(key, v, c->report_dir, sizeof(c->report_dir),
		    err);
	case MTASTS_CK_SENDMAIL:
		/* A command line split on WSP and run without a shell. */
		if (v[0] != '/')
			return mtasts_err(err, MTASTS_INVALID,
			    "sendmail: expected an absolute program path");
		return set_text(key, v, c->sendmail, sizeof(c->sendmail),
		    err);
	case MTASTS_CK_REPORT_ORG_NAME:
		return set_text(key, v, c->report_org_name,
		    sizeof(c->report_org_name), err);
	case MTASTS_CK_REPORT_CONTACT:
		return set_addr(key, v, c->report_contact,
		    sizeof(c->report_contact), err);
	case MTASTS_CK_REPORT_FROM:
		return set_addr(key, v, c->report_from,
		    sizeof(c->report_from), err);
	case MTASTS_CK_REPORT_SUBMITTER: {
		char d[MTASTS_DOMAIN_MAX + 1];
		struct mtasts_error e = { 0, "" };

		if (mtasts_domain_normalize(v, strlen(v), d, &e) != MTASTS_OK)
			return mtasts_err(err, MTASTS_INVALID,
			    "report_submitter: %s", e.text);
		mtasts_strlcpy(c->report_submitter, d,
		    sizeof(c->report_submitter));
		return MTASTS_OK;
	}
	case MTASTS_CK_REPORT_HOST_ID: {
		char d[MTASTS_DOMAIN_MAX + 1];
		struct mtasts_error e = { 0, "" };

		/* D-RPT-11: a host name, so it is dot-atom in the report-id. */
		if (mtasts_domain_normalize(v, strlen(v), d, &e) != MTASTS_OK)
			return mtasts_err(err, MTASTS_INVALID,
			    "report_host_id: %s", e.text);
		mtasts_strlcpy(c->report_host_id, d,
		    sizeof(c->report_host_id));
		return MTASTS_OK;
	}
	case MTASTS_CK_REPORT_FAILURE_REASON:
		if (strcmp(v, "on") == 0)
			c->report_reason = 0;
		else if (strcmp(v, "off") == 0)
			c->report_reason = -1;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "report_failure_reason: expected on or off, got "
			    "\"%.40s\"", v);
		return MTASTS_OK;
	case MTASTS_CK_CACHE_MEMO:
		if (strcmp(v, "on") == 0)
			c->cache_memo = 0;
		else if (strcmp(v, "off") == 0)
			c->cache_memo = -1;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "cache_memo: expected on or off, got \"%.40s\"",
			    v);
		return MTASTS_OK;
	case MTASTS_CK_REPORT_RETENTION_DAYS:
		/* D-RET-1: 0 keeps everything; at most ten years. */
		return set_int(key, v, 0, MTASTS_RETENTION_DAYS_MAX,
		    "whole days", &c->report_retention_days, 1, err);
	case MTASTS_CK_TLSRPT_MAX_DAY_SIZE:
		if ((rc = set_number(key, v, 65536, 1ULL << 40, "bytes", &n,
		    err)) != MTASTS_OK)
			return rc;
		c->tlsrpt_day_max = n;
		return MTASTS_OK;
	default:
		return mtasts_err(err, MTASTS_INVALID,
		    "unknown key \"%.40s\"", key);
	}
}

/* Set key from line `line` of the file being read, or from the API (0). */
static int
conf_set(struct mtasts_ctx *ctx, const char *key, const char *v, int line,
    struct mtasts_error *err)
{
	int k, rc;

	if (ctx->finalized)
		return mtasts_err(err, MTASTS_AFTERFINAL,
		    "%.40s: configuration change after first use", key);
	if ((k = conf_key_index(key)) < 0)
		return mtasts_err(err, MTASTS_INVALID,
		    "unknown key \"%.40s\"", key);
	/*
	 * D-CONF-6: in a file a key is set once; the last of two lines used
	 * to win silently. resolver and resolve_special_zone repeat.
	 */
	if (line > 0 && ctx->conf_line[k] > 0 &&
	    k != MTASTS_CK_RESOLVER && k != MTASTS_CK_RESOLVE_SPECIAL_ZONE)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: duplicate key (first set on line %d)", key,
		    ctx->conf_line[k]);
	if ((rc = conf_apply(&ctx->cfg, k, key, v, err)) != MTASTS_OK)
		return rc;
	if (line > 0 ? ctx->conf_line[k] <= 0 : 1)
		ctx->conf_line[k] = line > 0 ? line : MTASTS_CONF_API;
	ctx->conf_checked = 0;
	return MTASTS_OK;
}

int
mtasts_ctx_set(struct mtasts_ctx *ctx, const char *key, const char *v,
    struct mtasts_error *err)
{
	if (ctx == NULL || key == NULL || v == NULL)
		return mtasts_err(err, MTASTS_INVALID, "no key or value");
	return conf_set(ctx, key, v, 0, err);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Read the whole file (at most CONFIG_FILE_MAX bytes) into *out. */
static int
read_file(const char *path, int explicit, char **out, size_t *len,
    int *missing, struct mtasts_error *err)
{
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (!explicit && errno == ENOENT) {
			*missing = 1;
			return MTASTS_OK;
		}
		return mtasts_err(err, MTASTS_ERROR, "%s: %s", path,
		    strerror(errno));
	}
	if ((buf = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		close(fd);
		return mtasts_err(err, MTASTS_NOMEM, "%s: out of memory",
		    path);
	}
	for (;;) {
		n = read(fd, buf + off, CONFIG_FILE_MAX + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;

			close(fd);
			free(buf);
			return mtasts_err(err, MTASTS_ERROR, "%s: read: %s",
			    path, strerror(e));
		}
		if (n == 0)
			break;
		off += (size_t)n;
		if (off > CONFIG_FILE_MAX) {
			close(fd);
			free(buf);
			return mtasts_err(err, MTASTS_INVALID,
			    "%s: file too large (over %d bytes)", path,
			    CONFIG_FILE_MAX);
		}
	}
	close(fd);
	*out = buf;
	*len = off;
	return MTASTS_OK;
}

/*
 * One line line[0..len), terminator removed. Read with (ptr, len): a NUL
 * byte anywhere (D-CONF-6) and any other control byte but TAB are errors,
 * as is a line over CONFIG_LINE_MAX.
 */
static int
parse_line(struct mtasts_ctx *ctx, const char *path, int lineno,
    const char *p, size_t len, struct mtasts_error *err)
{
	struct mtasts_error e = { 0, "" };
	char line[CONFIG_LINE_MAX + 1], *k, *v, *eq;
	size_t i;
	int rc;

	if (len > 0 && p[len - 1] == '\r')
		len--;		/* CRLF files */
	if (len > CONFIG_LINE_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s:%d: line too long (over %d bytes)", path, lineno,
		    CONFIG_LINE_MAX);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\0')
			return mtasts_err(err, MTASTS_INVALID,
			    "%s:%d: NUL byte at column %zu", path, lineno,
			    i + 1);
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return mtasts_err(err, MTASTS_INVALID,
			    "%s:%d: control character 0x%02x at column %zu",
			    path, lineno, c, i + 1);
	}
	memcpy(line, p, len);
	line[len] = '\0';
	if ((k = strchr(line, '#')) != NULL)
		*k = '\0';
	k = trim(line);
	if (*k == '\0')
		return MTASTS_OK;
	if ((eq = strchr(k, '=')) == NULL || eq == k)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s:%d: expected key = value", path, lineno);
	*eq = '\0';
	k = trim(k);
	v = trim(eq + 1);
	if ((rc = conf_set(ctx, k, v, lineno, &e)) != MTASTS_OK)
		return mtasts_err(err, rc, "%s:%d: %s", path, lineno, e.text);
	return MTASTS_OK;
}

int
mtasts_config_read(struct mtasts_ctx *ctx, const char *path, int *missing,
    struct mtasts_error *err)
{
	const char *env;
	char *buf = NULL;
	size_t len = 0;
	int explicit = 1, rc;

	*missing = 0;
	if (path == NULL) {
		env = getenv("MTASTS_CONFIG");
		if (env != NULL && env[0] != '\0')
			path = env;
		else {
			path = "/etc/mtasts.conf";
			explicit = 0;
		}
	}
	if ((rc = read_file(path, explicit, &buf, &len, missing, err)) !=
	    MTASTS_OK || *missing)
		return rc;
	rc = mtasts_config_parse(ctx, path, buf, len, err);
	free(buf);
	return rc;
}

int
mtasts_config_parse(struct mtasts_ctx *ctx, const char *name,
    const char *buf, size_t len, struct mtasts_error *err)
{
	size_t pos = 0;
	int lineno = 0, rc = MTASTS_OK, i;

	if (len > CONFIG_FILE_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: file too large (over %d bytes)", name,
		    CONFIG_FILE_MAX);
	if (mtasts_strlcpy(ctx->last_config_file, name,
	    sizeof(ctx->last_config_file)) >= sizeof(ctx->last_config_file))
		return mtasts_err(err, MTASTS_INVALID, "%.80s...: config path "
		    "too long", name);
	/* Lines are numbered in this file: older ones lose their number. */
	for (i = 0; i < MTASTS_CK_COUNT; i++)
		if (ctx->conf_line[i] > 0)
			ctx->conf_line[i] = MTASTS_CONF_API;
	ctx->conf_checked = 0;
	while (pos < len) {
		const char *p = buf + pos, *nl = memchr(p, '\n', len - pos);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - pos;

		lineno++;
		if ((rc = parse_line(ctx, name, lineno, p, n, err)) !=
		    MTASTS_OK)
			break;
		pos += n + (nl != NULL);
	}
	return rc;
}

int
mtasts_ctx_load_config(struct mtasts_ctx *ctx, const char *path,
    struct mtasts_error *err)
{
	int missing, rc;

	if (ctx == NULL)
		return mtasts_err(err, MTASTS_ERROR, "no context");
	if ((rc = mtasts_config_read(ctx, path, &missing, err)) != MTASTS_OK)
		return rc;
	/* D-CONF-1: the defaults of a missing default file are checked too. */
	return mtasts_config_check(ctx, err);
}
