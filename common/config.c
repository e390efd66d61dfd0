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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtasts_internal.h"

#define CONFIG_LINE_MAX 1024
#define CONFIG_FILE_MAX (256 * 1024)
/* Zones of resolve_special_zone. */
#define CONFIG_SPECIAL_ZONES_MAX 8

/*
 * What a key holds, and so how its value is checked (conf_apply). The
 * messages of each type are the ones mtasts.conf(5) users have seen.
 */
enum conf_type {
	CT_PATH,		/* an absolute path */
	CT_INT,			/* whole number min..max, times scale */
	CT_U64,			/* whole number min..max */
	CT_ENUM,		/* one of names[] */
	CT_TEXT,		/* printable ASCII */
	CT_ADDR,		/* local@domain */
	CT_DOMAIN,		/* a host name, normalised */
	CT_COMMAND,		/* an absolute program path, then arguments */
	CT_RESOLVER,		/* IP or IP@port, repeatable */
	CT_ZONE			/* a special-use zone, repeatable */
};

struct conf_enum {
	const char *name;
	int value;
};

static const struct conf_enum enum_dnssec[] = {
	{ "on", 1 }, { "off", 0 }, { "auto", -1 }, { NULL, 0 }
};
static const struct conf_enum enum_dns_failure[] = {
	{ "none", MTASTS_DNSFAIL_NONE },
	{ "tempfail", MTASTS_DNSFAIL_TEMPFAIL }, { NULL, 0 }
};
/* report_failure_reason, cache_memo: 0 on (the default), -1 off. */
static const struct conf_enum enum_on_off[] = {
	{ "on", 0 }, { "off", -1 }, { NULL, 0 }
};

/*
 * One key of mtasts.conf(5). The table is in the order of the shipped
 * file (dist/mtasts.conf, `mtasts config --defaults`); key is its enum
 * mtasts_conf_key. shown is the value on its commented-out line: the
 * built-in default when is_default, else an example (the default is
 * described in doc). doc is the comment above it, "%R" standing for the
 * range "min..max"; section starts a "## " heading.
 */
struct conf_key {
	const char *name;
	int key;
	int type;
	size_t off;			/* member of struct mtasts_config */
	size_t size;			/* its size, for strings */
	uint64_t min, max;
	int scale;			/* CT_INT: stored as value * scale */
	const char *unit;		/* CT_INT, CT_U64: for the message */
	const struct conf_enum *names;	/* CT_ENUM */
	int repeat;			/* may be set on several lines */
	const char *shown;
	int is_default;
	const char *section;
	const char *doc;
};

#define MEMBER(m) .off = offsetof(struct mtasts_config, m), \
	.size = sizeof(((struct mtasts_config *)0)->m)
#define SECONDS(lo, hi, sc) .type = CT_INT, .min = lo, .max = hi, \
	.scale = sc, .unit = "whole seconds"

static const struct conf_key conf_table[] = {
	{ .name = "resolver", .key = MTASTS_CK_RESOLVER, .type = CT_RESOLVER,
	    .repeat = 1, .shown = "127.0.0.1", .section = "DNS",
	    .doc = "DNS servers to forward to, IP or IP@port, repeatable (at "
	    "most 8).\nDefault: the servers in /etc/resolv.conf." },
	{ .name = "dnssec", .key = MTASTS_CK_DNSSEC, .type = CT_ENUM,
	    MEMBER(dnssec), .names = enum_dnssec, .shown = "auto",
	    .is_default = 1,
	    .doc = "DNSSEC validation: on, off or auto (validate when "
	    "trust_anchor_file\nexists and the resolver path can validate "
	    "it)." },
	{ .name = "trust_anchor_file", .key = MTASTS_CK_TRUST_ANCHOR_FILE,
	    .type = CT_PATH, MEMBER(trust_anchor_file),
	    .shown = "/usr/share/dns/root.key", .is_default = 1 },
	{ .name = "dns_timeout", .key = MTASTS_CK_DNS_TIMEOUT,
	    SECONDS(1, 120, 1000), MEMBER(dns_timeout_ms), .shown = "5",
	    .is_default = 1,
	    .doc = "Seconds, %R: deadline of one DNS query." },
	{ .name = "dns_failure", .key = MTASTS_CK_DNS_FAILURE, .type = CT_ENUM,
	    MEMBER(dns_failure), .names = enum_dns_failure, .shown = "none",
	    .is_default = 1,
	    .doc = "A temporary DNS failure for a domain without a valid "
	    "cached policy:\nnone (deliver as without a policy, RFC 8461 "
	    "section 3.3) or tempfail." },
	{ .name = "resolve_special_zone", .key = MTASTS_CK_RESOLVE_SPECIAL_ZONE,
	    .type = CT_ZONE, .repeat = 1, .shown = "test",
	    .doc = "A special-use zone (RFC 6761) resolved through the "
	    "resolvers; for\nprivate test zones only; repeatable. Default: "
	    "none." },

	{ .name = "ca_file", .key = MTASTS_CK_CA_FILE, .type = CT_PATH,
	    MEMBER(ca_file), .shown = "/etc/ssl/certs/ca-certificates.crt",
	    .section = "HTTPS policy fetch",
	    .doc = "CA store for the policy hosts (PEM bundle or hashed "
	    "directory).\nDefault: the system store." },
	{ .name = "ca_path", .key = MTASTS_CK_CA_PATH, .type = CT_PATH,
	    MEMBER(ca_path), .shown = "/etc/ssl/certs" },
	{ .name = "fetch_timeout", .key = MTASTS_CK_FETCH_TIMEOUT,
	    SECONDS(1, 300, 1000), MEMBER(fetch_timeout_ms), .shown = "20",
	    .is_default = 1,
	    .doc = "Seconds, %R: one deadline for a whole policy fetch." },

	{ .name = "cache_dir", .key = MTASTS_CK_CACHE_DIR, .type = CT_PATH,
	    MEMBER(cache_dir), .shown = "/var/cache/mtasts", .is_default = 1,
	    .section = "Policy cache" },
	{ .name = "cache_memo", .key = MTASTS_CK_CACHE_MEMO, .type = CT_ENUM,
	    MEMBER(cache_memo), .names = enum_on_off, .shown = "on",
	    .is_default = 1 },
	/* Default -1: follows fetch_timeout. */
	{ .name = "lock_wait", .key = MTASTS_CK_LOCK_WAIT,
	    SECONDS(0, 300, 1000), MEMBER(lock_wait_ms), .shown = "20",
	    .doc = "Seconds, %R, that a process waits for another's fetch of "
	    "the same\ndomain. Default: fetch_timeout." },
	{ .name = "txt_check_interval", .key = MTASTS_CK_TXT_CHECK_INTERVAL,
	    SECONDS(0, 86400 * 7, 1), MEMBER(txt_check_interval),
	    .shown = "3600", .is_default = 1,
	    .doc = "Seconds, %R: a policy whose TXT record was checked this "
	    "recently\nis used without DNS or HTTPS." },
	{ .name = "cache_purge_after", .key = MTASTS_CK_CACHE_PURGE_AFTER,
	    SECONDS(0, 86400 * 366, 1), MEMBER(cache_purge_after),
	    .shown = "2592000", .is_default = 1,
	    .doc = "Seconds, %R: refresh and cache purge delete entries "
	    "expired\nthis long ago (30 days)." },
	{ .name = "refresh_concurrency", .key = MTASTS_CK_REFRESH_CONCURRENCY,
	    .type = CT_INT, .min = 1, .max = 64, .scale = 1,
	    .unit = "a count of parallel fetches", MEMBER(refresh_concurrency),
	    .shown = "8", .is_default = 1,
	    .doc = "Parallel fetches of `mtasts refresh`, %R." },

	/* tlsrpt_dir, report_dir, sendmail: "" is the built-in default. */
	{ .name = "tlsrpt_dir", .key = MTASTS_CK_TLSRPT_DIR, .type = CT_PATH,
	    MEMBER(tlsrpt_dir), .shown = MTASTS_TLSRPT_DIR_DEFAULT,
	    .section = "TLS-RPT (RFC 8460)" },
	/* 0 is the built-in default, MTASTS_TLSRPT_DAY_MAX_DEFAULT. */
	{ .name = "tlsrpt_max_day_size", .key = MTASTS_CK_TLSRPT_MAX_DAY_SIZE,
	    .type = CT_U64, .min = 65536, .max = 1ULL << 40, .unit = "bytes",
	    MEMBER(tlsrpt_day_max), .shown = "268435456",
	    .doc = "Bytes, %R: one day's spool size cap (256 MiB)." },
	{ .name = "report_dir", .key = MTASTS_CK_REPORT_DIR, .type = CT_PATH,
	    MEMBER(report_dir), .shown = MTASTS_REPORT_DIR_DEFAULT },
	/* D-RET-1: 0 keeps everything; at most ten years. */
	{ .name = "report_retention_days",
	    .key = MTASTS_CK_REPORT_RETENTION_DAYS, .type = CT_INT, .min = 0,
	    .max = MTASTS_RETENTION_DAYS_MAX, .scale = 1, .unit = "whole days",
	    MEMBER(report_retention_days), .shown = "30", .is_default = 1,
	    .doc = "Days, %R: `mtasts report send` prunes reported spool days, "
	    "built\nreports and finished send state older than this (0 keeps "
	    "everything)." },
	{ .name = "report_contact", .key = MTASTS_CK_REPORT_CONTACT,
	    .type = CT_ADDR, MEMBER(report_contact),
	    .shown = "tlsrpt@example.net",
	    .doc = "contact-info of the reports, required to send reports. "
	    "Default: none." },
	{ .name = "report_from", .key = MTASTS_CK_REPORT_FROM, .type = CT_ADDR,
	    MEMBER(report_from), .shown = "tlsrpt-noreply@example.net",
	    .doc = "Default: report_contact." },
	{ .name = "report_submitter", .key = MTASTS_CK_REPORT_SUBMITTER,
	    .type = CT_DOMAIN, MEMBER(report_submitter),
	    .shown = "example.net",
	    .doc = "Default: the domain of report_contact." },
	{ .name = "report_org_name", .key = MTASTS_CK_REPORT_ORG_NAME,
	    .type = CT_TEXT, MEMBER(report_org_name), .shown = "Example Org",
	    .doc = "Default: the submitter domain." },
	/* D-RPT-11: a host name, so it is dot-atom in the report-id. */
	{ .name = "report_host_id", .key = MTASTS_CK_REPORT_HOST_ID,
	    .type = CT_DOMAIN, MEMBER(report_host_id),
	    .shown = "mx1.example.net",
	    .doc = "Default: this host's name." },
	/* A command line split on WSP and run without a shell. */
	{ .name = "sendmail", .key = MTASTS_CK_SENDMAIL, .type = CT_COMMAND,
	    MEMBER(sendmail), .shown = MTASTS_SENDMAIL_DEFAULT },
	{ .name = "report_failure_reason",
	    .key = MTASTS_CK_REPORT_FAILURE_REASON, .type = CT_ENUM,
	    MEMBER(report_reason), .names = enum_on_off, .shown = "on",
	    .is_default = 1 },
};

#define CONF_TABLE_LEN (sizeof(conf_table) / sizeof(conf_table[0]))

/* The preamble of the shipped file, after its SPDX line. */
static const char conf_preamble[] =
    "#\n"
    "# /etc/mtasts.conf - configuration of mtasts (MTA-STS, TLS-RPT) for "
    "the\n"
    "# mtasts command, the Exim module and the OpenSMTPD table and "
    "filter.\n"
    "# See mtasts.conf(5). Every key is shown commented out at its "
    "built-in\n"
    "# default: this file as shipped means \"all defaults\". Lines are\n"
    "# `key = value`; a key may be set once (resolver and "
    "resolve_special_zone\n"
    "# may be repeated). Run `mtasts check --local` after a change.\n";

static const struct conf_key *
conf_key_find(const char *name)
{
	size_t i;

	for (i = 0; i < CONF_TABLE_LEN; i++)
		if (strcmp(conf_table[i].name, name) == 0)
			return &conf_table[i];
	return NULL;
}

const char *
mtasts_conf_key_name(int key)
{
	size_t i;

	for (i = 0; i < CONF_TABLE_LEN; i++)
		if (conf_table[i].key == key)
			return conf_table[i].name;
	return "?";
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

/* "on, off or auto": the names of an enum key, for its message. */
static void
enum_expect(const struct conf_enum *names, char *buf, size_t size)
{
	size_t i, n, off = 0;

	for (n = 0; names[n].name != NULL; n++)
		;
	buf[0] = '\0';
	for (i = 0; i < n && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s",
		    i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i].name);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* The resolver key: appended to the list. */
static int
set_resolver(struct mtasts_config *c, const char *v,
    struct mtasts_error *err)
{
	size_t i;

	if (!resolver_valid(v))
		return mtasts_err(err, MTASTS_INVALID,
		    "resolver: expected IP or IP@port, got \"%.60s\"", v);
	for (i = 0; i < c->nresolvers; i++)
		if (strcmp(c->resolvers[i], v) == 0)
			return mtasts_err(err, MTASTS_INVALID,
			    "resolver: %s listed twice", v);
	if (c->nresolvers >= MTASTS_RESOLVERS_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "resolver: at most %d resolvers", MTASTS_RESOLVERS_MAX);
	mtasts_strlcpy(c->resolvers[c->nresolvers++], v,
	    sizeof(c->resolvers[0]));
	return MTASTS_OK;
}

/* The resolve_special_zone key: appended to the list. */
static int
set_zone(struct mtasts_config *c, const char *v, struct mtasts_error *err)
{
	char z[64];
	size_t i, n;

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
			    "resolve_special_zone: %s listed twice", z);
	if (c->nspecial_zones >= CONFIG_SPECIAL_ZONES_MAX)
		return mtasts_err(err, MTASTS_INVALID,
		    "resolve_special_zone: at most %d zones",
		    CONFIG_SPECIAL_ZONES_MAX);
	mtasts_strlcpy(c->special_zones[c->nspecial_zones++], z,
	    sizeof(c->special_zones[0]));
	return MTASTS_OK;
}

/*
 * Set key ck of c from v, as its type says. Exact duplicates of a
 * repeatable key's value are refused (D-CONF-6): the list would hold it
 * twice, and the copy usually stands where a different value was meant.
 */
static int
conf_apply(struct mtasts_config *c, const struct conf_key *ck,
    const char *v, struct mtasts_error *err)
{
	char *dst = (char *)c + ck->off;
	char expect[64];
	uint64_t n = 0;
	size_t i;
	int rc;

	switch (ck->type) {
	case CT_PATH:
		return set_path(ck->name, v, dst, ck->size, err);
	case CT_INT:
		/* Every max in the table keeps n * scale within int. */
		return set_int(ck->name, v, ck->min, ck->max, ck->unit,
		    (int *)(void *)dst, ck->scale, err);
	case CT_U64:
		if ((rc = set_number(ck->name, v, ck->min, ck->max, ck->unit,
		    &n, err)) != MTASTS_OK)
			return rc;
		*(uint64_t *)(void *)dst = n;
		return MTASTS_OK;
	case CT_ENUM:
		for (i = 0; ck->names[i].name != NULL; i++)
			if (strcmp(v, ck->names[i].name) == 0) {
				*(int *)(void *)dst = ck->names[i].value;
				return MTASTS_OK;
			}
		enum_expect(ck->names, expect, sizeof(expect));
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: expected %s, got \"%.40s\"", ck->name, expect, v);
	case CT_TEXT:
		return set_text(ck->name, v, dst, ck->size, err);
	case CT_ADDR:
		return set_addr(ck->name, v, dst, ck->size, err);
	case CT_DOMAIN: {
		char d[MTASTS_DOMAIN_MAX + 1];
		struct mtasts_error e = { 0, "" };

		if (mtasts_domain_normalize(v, strlen(v), d, &e) != MTASTS_OK)
			return mtasts_err(err, MTASTS_INVALID, "%s: %s",
			    ck->name, e.text);
		mtasts_strlcpy(dst, d, ck->size);
		return MTASTS_OK;
	}
	case CT_COMMAND:
		if (v[0] != '/')
			return mtasts_err(err, MTASTS_INVALID,
			    "%s: expected an absolute program path", ck->name);
		return set_text(ck->name, v, dst, ck->size, err);
	case CT_RESOLVER:
		return set_resolver(c, v, err);
	case CT_ZONE:
		return set_zone(c, v, err);
	default:
		return mtasts_err(err, MTASTS_INVALID,
		    "unknown key \"%.40s\"", ck->name);
	}
}

/* Set key from line `line` of the file being read, or from the API (0). */
static int
conf_set(struct mtasts_ctx *ctx, const char *key, const char *v, int line,
    struct mtasts_error *err)
{
	const struct conf_key *ck;
	int k, rc;

	if (ctx->finalized)
		return mtasts_err(err, MTASTS_AFTERFINAL,
		    "%.40s: configuration change after first use", key);
	if ((ck = conf_key_find(key)) == NULL)
		return mtasts_err(err, MTASTS_INVALID,
		    "unknown key \"%.40s\"", key);
	k = ck->key;
	/*
	 * D-CONF-6: in a file a key is set once; the last of two lines used
	 * to win silently. resolver and resolve_special_zone repeat.
	 */
	if (line > 0 && ctx->conf_line[k] > 0 && !ck->repeat)
		return mtasts_err(err, MTASTS_INVALID,
		    "%s: duplicate key (first set on line %d)", key,
		    ctx->conf_line[k]);
	if ((rc = conf_apply(&ctx->cfg, ck, v, err)) != MTASTS_OK)
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
	struct stat st;
	char *buf, *nbuf;
	size_t off = 0, size;
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
	/*
	 * Sized by the file, not by the cap: a 256 KiB buffer is an mmap and
	 * munmap in every Exim delivery process. It grows if the file does.
	 */
	size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0 &&
	    st.st_size < CONFIG_FILE_MAX ? (size_t)st.st_size + 2 : 4096;
	if ((buf = malloc(size)) == NULL) {
		close(fd);
		return mtasts_err(err, MTASTS_NOMEM, "%s: out of memory",
		    path);
	}
	for (;;) {
		if (off == size) {
			size = size * 2 > CONFIG_FILE_MAX + 1 ?
			    CONFIG_FILE_MAX + 1 : size * 2;
			if ((nbuf = realloc(buf, size)) == NULL) {
				close(fd);
				free(buf);
				return mtasts_err(err, MTASTS_NOMEM,
				    "%s: out of memory", path);
			}
			buf = nbuf;
		}
		n = read(fd, buf + off, size - off);
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

/* A doc line with "%R" expanded to ck's range. */
static void
put_doc_line(FILE *f, const struct conf_key *ck, const char *l, size_t n)
{
	const char *r;

	fputs("# ", f);
	while (n > 0 && (r = memchr(l, '%', n)) != NULL && (size_t)(r - l) + 1 <
	    n && r[1] == 'R') {
		fwrite(l, 1, (size_t)(r - l), f);
		fprintf(f, "%llu..%llu", (unsigned long long)ck->min,
		    (unsigned long long)ck->max);
		n -= (size_t)(r - l) + 2;
		l = r + 2;
	}
	fwrite(l, 1, n, f);
	fputc('\n', f);
}

char *
mtasts_config_defaults_text(size_t *len)
{
	const struct conf_key *ck;
	char *buf = NULL;
	size_t i, size = 0;
	FILE *f;

	*len = 0;
	if ((f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	fputs(conf_preamble, f);
	for (i = 0; i < CONF_TABLE_LEN; i++) {
		const char *l, *nl;

		ck = &conf_table[i];
		if (ck->section != NULL)
			fprintf(f, "\n## %s\n", ck->section);
		for (l = ck->doc; l != NULL && *l != '\0'; l = nl + 1) {
			if ((nl = strchr(l, '\n')) == NULL)
				nl = l + strlen(l);
			put_doc_line(f, ck, l, (size_t)(nl - l));
			if (*nl == '\0')
				break;
		}
		fprintf(f, "#%s = %s\n", ck->name, ck->shown);
	}
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	*len = size;
	return buf;
}

int
mtasts_config_shown_default(int key, const char **shown)
{
	size_t i;

	*shown = NULL;
	for (i = 0; i < CONF_TABLE_LEN; i++)
		if (conf_table[i].key == key) {
			*shown = conf_table[i].shown;
			return conf_table[i].is_default;
		}
	return -1;
}

