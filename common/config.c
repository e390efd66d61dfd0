/*
 * config.c - mtasts.conf(5): `key = value` lines, `#` comments.
 *
 * Unknown keys and bad values are errors that name the file and line, so a
 * typo never silently weakens enforcement. See docs/config.md.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

#define CONFIG_LINE_MAX 1024
#define CONFIG_FILE_MAX (256 * 1024)

static int
set_seconds(const char *key, const char *v, uint64_t min, uint64_t max,
    int *out, int scale, struct mtasts_error *err)
{
	uint64_t n;

	if (mtasts_parse_u64(v, strlen(v), max, &n) != 0 || n < min)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: expected whole seconds %llu..%llu, got \"%.40s\"", key,
		    (unsigned long long)min, (unsigned long long)max, v);
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

int
mtasts_ctx_set(struct mtasts_ctx *ctx, const char *key, const char *v,
    struct mtasts_error *err)
{
	struct mtasts_config *c = &ctx->cfg;

	if (ctx->finalized)
		return mtasts_err(err, MTASTS_AFTERFINAL,
		    "%s: configuration change after first use", key);
	if (strcmp(key, "resolver") == 0) {
		if (!resolver_valid(v))
			return mtasts_err(err, MTASTS_INVALID,
			    "resolver: expected IP or IP@port, got \"%.60s\"",
			    v);
		if (c->nresolvers >= MTASTS_RESOLVERS_MAX)
			return mtasts_err(err, MTASTS_INVALID,
			    "resolver: at most %d resolvers",
			    MTASTS_RESOLVERS_MAX);
		mtasts_strlcpy(c->resolvers[c->nresolvers++], v,
		    sizeof(c->resolvers[0]));
		return MTASTS_OK;
	}
	if (strcmp(key, "dnssec") == 0) {
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
	}
	if (strcmp(key, "trust_anchor_file") == 0)
		return set_path(key, v, c->trust_anchor_file,
		    sizeof(c->trust_anchor_file), err);
	if (strcmp(key, "ca_file") == 0)
		return set_path(key, v, c->ca_file, sizeof(c->ca_file), err);
	if (strcmp(key, "ca_path") == 0)
		return set_path(key, v, c->ca_path, sizeof(c->ca_path), err);
	if (strcmp(key, "cache_dir") == 0)
		return set_path(key, v, c->cache_dir, sizeof(c->cache_dir),
		    err);
	if (strcmp(key, "fetch_timeout") == 0)
		return set_seconds(key, v, 1, 300, &c->fetch_timeout_ms, 1000,
		    err);
	if (strcmp(key, "dns_timeout") == 0)
		return set_seconds(key, v, 1, 120, &c->dns_timeout_ms, 1000,
		    err);
	if (strcmp(key, "lock_wait") == 0)
		return set_seconds(key, v, 0, 300, &c->lock_wait_ms, 1000,
		    err);
	if (strcmp(key, "txt_check_interval") == 0)
		return set_seconds(key, v, 0, 86400 * 7,
		    &c->txt_check_interval, 1, err);
	if (strcmp(key, "cache_purge_after") == 0)
		return set_seconds(key, v, 0, 86400 * 366,
		    &c->cache_purge_after, 1, err);
	if (strcmp(key, "refresh_concurrency") == 0)
		return set_seconds(key, v, 1, 64, &c->refresh_concurrency, 1,
		    err);
	if (strcmp(key, "dns_failure") == 0) {
		if (strcmp(v, "none") == 0)
			c->dns_failure = MTASTS_DNSFAIL_NONE;
		else if (strcmp(v, "tempfail") == 0)
			c->dns_failure = MTASTS_DNSFAIL_TEMPFAIL;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "dns_failure: expected none or tempfail, got "
			    "\"%.40s\"", v);
		return MTASTS_OK;
	}
	if (strcmp(key, "resolve_special_zone") == 0) {
		char z[64];
		size_t n = strlen(v);

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
		if (c->nspecial_zones >= 8)
			return mtasts_err(err, MTASTS_INVALID,
			    "resolve_special_zone: at most 8 zones");
		mtasts_strlcpy(c->special_zones[c->nspecial_zones++], z,
		    sizeof(c->special_zones[0]));
		return MTASTS_OK;
	}
	if (strcmp(key, "tlsrpt_dir") == 0)
		return set_path(key, v, c->tlsrpt_dir, sizeof(c->tlsrpt_dir),
		    err);
	if (strcmp(key, "report_dir") == 0)
		return set_path(key, v, c->report_dir, sizeof(c->report_dir),
		    err);
	if (strcmp(key, "sendmail") == 0) {
		/* A command line split on WSP and run without a shell. */
		if (v[0] != '/')
			return mtasts_err(err, MTASTS_INVALID,
			    "sendmail: expected an absolute program path");
		return set_text(key, v, c->sendmail, sizeof(c->sendmail),
		    err);
	}
	if (strcmp(key, "report_org_name") == 0)
		return set_text(key, v, c->report_org_name,
		    sizeof(c->report_org_name), err);
	if (strcmp(key, "report_contact") == 0)
		return set_addr(key, v, c->report_contact,
		    sizeof(c->report_contact), err);
	if (strcmp(key, "report_from") == 0)
		return set_addr(key, v, c->report_from,
		    sizeof(c->report_from), err);
	if (strcmp(key, "report_submitter") == 0) {
		char d[MTASTS_DOMAIN_MAX + 1];
		struct mtasts_error e = { 0, "" };

		if (mtasts_domain_normalize(v, strlen(v), d, &e) != MTASTS_OK)
			return mtasts_err(err, MTASTS_INVALID,
			    "report_submitter: %s", e.text);
		mtasts_strlcpy(c->report_submitter, d,
		    sizeof(c->report_submitter));
		return MTASTS_OK;
	}
	if (strcmp(key, "report_failure_reason") == 0) {
		if (strcmp(v, "on") == 0)
			c->report_reason = 0;
		else if (strcmp(v, "off") == 0)
			c->report_reason = -1;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "report_failure_reason: expected on or off");
		return MTASTS_OK;
	}
	if (strcmp(key, "cache_memo") == 0) {
		if (strcmp(v, "on") == 0)
			c->cache_memo = 0;
		else if (strcmp(v, "off") == 0)
			c->cache_memo = -1;
		else
			return mtasts_err(err, MTASTS_INVALID,
			    "cache_memo: expected on or off");
		return MTASTS_OK;
	}
	if (strcmp(key, "tlsrpt_max_day_size") == 0) {
		uint64_t n;

		if (mtasts_parse_u64(v, strlen(v), 1ULL << 40, &n) != 0 ||
		    n < 65536)
			return mtasts_err(err, MTASTS_INVALID,
			    "tlsrpt_max_day_size: expected bytes 65536..2^40");
		c->tlsrpt_day_max = n;
		return MTASTS_OK;
	}
	return mtasts_err(err, MTASTS_INVALID, "unknown key \"%.40s\"", key);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

int
mtasts_ctx_load_config(struct mtasts_ctx *ctx, const char *path,
    struct mtasts_error *err)
{
	char line[CONFIG_LINE_MAX + 2];
	const char *env;
	FILE *fp;
	int explicit = 1, lineno = 0, rc = MTASTS_OK;
	size_t total = 0;

	if (path == NULL) {
		env = getenv("MTASTS_CONFIG");
		if (env != NULL && env[0] != '\0')
			path = env;
		else {
			path = "/etc/mtasts.conf";
			explicit = 0;
		}
	}
	if ((fp = fopen(path, "re")) == NULL) {
		if (!explicit && errno == ENOENT)
			return MTASTS_OK;
		return mtasts_err(err, MTASTS_ERROR, "%s: %s", path,
		    strerror(errno));
	}
	mtasts_strlcpy(ctx->last_config_file, path,
	    sizeof(ctx->last_config_file));
	while (fgets(line, sizeof(line), fp) != NULL) {
		struct mtasts_error e = { 0, "" };
		char *k, *v, *eq;
		size_t n = strlen(line);

		lineno++;
		total += n;
		if (total > CONFIG_FILE_MAX) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "%s: file too large", path);
			break;
		}
		if (n > CONFIG_LINE_MAX ||
		    (n > 0 && line[n - 1] != '\n' && !feof(fp))) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "%s:%d: line too long", path, lineno);
			break;
		}
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (strlen(line) != n) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "%s:%d: NUL byte", path, lineno);
			break;
		}
		if ((k = strchr(line, '#')) != NULL)
			*k = '\0';
		k = trim(line);
		if (*k == '\0')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			rc = mtasts_err(err, MTASTS_INVALID,
			    "%s:%d: expected key = value", path, lineno);
			break;
		}
		*eq = '\0';
		k = trim(k);
		v = trim(eq + 1);
		if ((rc = mtasts_ctx_set(ctx, k, v, &e)) != MTASTS_OK) {
			mtasts_err_set(err, rc, "%s:%d: %s", path, lineno,
			    e.text);
			break;
		}
	}
	if (rc == MTASTS_OK && ferror(fp))
		rc = mtasts_err(err, MTASTS_ERROR, "%s: read error", path);
	fclose(fp);
	return rc;
}
