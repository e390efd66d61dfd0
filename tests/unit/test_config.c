/* SPDX-License-Identifier: ISC */
/*
 * test_config.c - mtasts.conf parsing: keys, values, errors naming file and
 * line, AFTERFINAL, defaults; the load-time check of the files and
 * directories a configuration names (decisions.md D-CONF-1..6).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal/config.h"
#include "internal/ctx.h"
#include "internal/util.h"
#include "t.h"

static char tmpdir[] = "/tmp/mtasts-config-XXXXXX";

/* A real (self-signed, EC P-256) certificate. */
static const char CERT[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBijCCAS+gAwIBAgIUTAM7OgdR8bHUSEiK1VcvfyDBda8wCgYIKoZIzj0EAwIw\n"
    "GTEXMBUGA1UEAwwObXRhc3RzIHRlc3QgQ0EwIBcNMjYxMjAyMDAyMzE1WhgPMjEy\n"
    "NjExMDgwMDIzMTVaMBkxFzAVBgNVBAMMDm10YXN0cyB0ZXN0IENBMFkwEwYHKoZI\n"
    "zj0CAQYIKoZIzj0DAQcDQgAEF6vWPPoVOdP/qIFoSCl51wBYejLMXUqT0ykG6dSA\n"
    "gUW9YNEYELDB7eixyJeJx4bOD7trWLFyye4omCz+5L01eaNTMFEwHQYDVR0OBBYE\n"
    "FC+PEPo8FhZJAVFa+i85afWwEdifMB8GA1UdIwQYMBaAFC+PEPo8FhZJAVFa+i85\n"
    "afWwEdifMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAMVn9qaD\n"
    "0UVJREiaq5oP55KW31IYxrwS1NoLoq2/qJ/hAiEArH7eEgIlGtusWPoCTs175/BG\n"
    "CWVB1DeyPjzyf215eg0=\n"
    "-----END CERTIFICATE-----\n";

/* The two root KSKs as /usr/share/dns/root.key has them (shortened). */
static const char ROOTKEY[] =
    ". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbz"
    "xeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROx"
    "VQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgv"
    "IWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTId"
    "sIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa"
    "8subX2Nn6UwNR1AkUTV74bU= ; keytag 20326\n";

static char ca_file[300], ta_file[300];

/* Write len bytes of text to tmpdir/name; returns the path (static). */
static const char *
put(const char *name, const char *text, size_t len)
{
	static char path[8][300];
	static int next;
	char *p = path[next++ % 8];
	FILE *fp;

	snprintf(p, sizeof(path[0]), "%s/%s", tmpdir, name);
	if ((fp = fopen(p, "w")) == NULL)
		return p;
	fwrite(text, 1, len, fp);
	fclose(fp);
	return p;
}

static const char *
putstr(const char *name, const char *text)
{
	return put(name, text, strlen(text));
}

static int
loadn(const char *text, size_t len, struct mtasts_ctx **out,
    struct mtasts_error *err)
{
	const char *path = put("m.conf", text, len);

	*out = mtasts_ctx_new();
	memset(err, 0, sizeof(*err));
	return mtasts_ctx_load_config(*out, path, err);
}

static int
load(const char *text, struct mtasts_ctx **out, struct mtasts_error *err)
{
	return loadn(text, strlen(text), out, err);
}

/* The config text must load fine. */
static void
expect_ok(const char *text)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	int rc = load(text, &ctx, &err);

	CHECKF(rc == MTASTS_OK, "rc %d (%s) for %s", rc, err.text, text);
	mtasts_ctx_free(ctx);
}

/* The load fails with rc, and err names the file, line and needle. */
static void
expect_rc(const char *text, size_t len, int want, const char *needle)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	int rc = loadn(text, len, &ctx, &err);

	CHECKF(rc == want, "rc %d, want %d for %s (%s)", rc, want, text,
	    err.text);
	CHECKF(strstr(err.text, needle) != NULL, "\"%s\" lacks \"%s\"",
	    err.text, needle);
	CHECKF(strstr(err.text, "m.conf:") != NULL, "no file:line in \"%s\"",
	    err.text);
	mtasts_ctx_free(ctx);
}

/* A configuration check error (the text's files are wrong). */
static void
expect_check(const char *fmt, const char *arg, const char *needle)
{
	char text[1024];

	snprintf(text, sizeof(text), fmt, arg);
	expect_rc(text, strlen(text), MTASTS_ERROR, needle);
}

static void
expect_error(const char *text, const char *needle)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	int rc = load(text, &ctx, &err);

	CHECKF(rc == MTASTS_INVALID, "rc %d for %s (%s)", rc, text, err.text);
	CHECKF(strstr(err.text, needle) != NULL, "\"%s\" lacks \"%s\"",
	    err.text, needle);
	CHECKF(strstr(err.text, "m.conf:") != NULL, "no file:line in \"%s\"",
	    err.text);
	mtasts_ctx_free(ctx);
}

/* D-CONF-6: the file is read with (ptr, len); NUL and control bytes. */
static void
test_syntax(void)
{
	static const char nul_start[] = "resolver = 127.0.0.1\n\0bogus = 1\n";
	static const char nul_mid[] = "resolver = 127.0.0.1\ndns_failure = "
	    "tempfail\0bogus\n";
	static const char nul_comment[] = "# a comment\0 with a NUL\n";
	static const char nul_last[] = "resolver = 127.0.0.1\n\0";

	expect_rc(nul_start, sizeof(nul_start) - 1, MTASTS_INVALID,
	    ":2: NUL byte at column 1");
	expect_rc(nul_mid, sizeof(nul_mid) - 1, MTASTS_INVALID,
	    ":2: NUL byte at column 23");
	expect_rc(nul_comment, sizeof(nul_comment) - 1, MTASTS_INVALID,
	    ":1: NUL byte");
	expect_rc(nul_last, sizeof(nul_last) - 1, MTASTS_INVALID,
	    ":2: NUL byte");
	expect_error("dns_failure = tempfail\x01\n", ":1: control character "
	    "0x01");
	expect_error("cache_memo = off\x1b[0m\n", "control character 0x1b");
	expect_error(" = value\n", ":1: expected key = value");
	/* CRLF line ends and a last line without one are fine. */
	expect_ok("dns_failure = tempfail\r\ncache_memo = off\r\n");
	expect_ok("dns_failure = tempfail");
	{
		char big[1100];

		memset(big, '#', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = '\0';
		expect_error(big, ":1: line too long");
	}
}

/* D-CONF-6: a key set twice in one file is an error. */
static void
test_duplicates(void)
{
	expect_error("fetch_timeout = 5\ndns_timeout = 2\nfetch_timeout = 6\n",
	    ":3: fetch_timeout: duplicate key (first set on line 1)");
	expect_error("ca_file = /a\nca_file = /b\n", ":2: ca_file: duplicate");
	expect_error("dnssec = off\ndnssec = off\n", ":2: dnssec: duplicate");
	/* The repeatable keys repeat, but never the same value twice. */
	expect_ok("resolver = 127.0.0.1\nresolver = 127.0.0.2\n"
	    "resolve_special_zone = test\nresolve_special_zone = example\n");
	expect_error("resolver = 127.0.0.1\nresolver = 127.0.0.1\n",
	    ":2: resolver: 127.0.0.1 listed twice");
	expect_error("resolve_special_zone = test\n"
	    "resolve_special_zone = TEST.\n", ":2: resolve_special_zone: "
	    "TEST listed twice");
}

/* Every numeric option is range-checked; the message names the range. */
static void
test_ranges(void)
{
	static const struct {
		const char *line, *needle;
	} bad[] = {
		{ "fetch_timeout = 0", "fetch_timeout: expected whole "
		    "seconds 1..300, got \"0\"" },
		{ "fetch_timeout = 301", "seconds 1..300" },
		{ "dns_timeout = 0", "dns_timeout: expected whole seconds "
		    "1..120" },
		{ "dns_timeout = 121", "dns_timeout: expected whole seconds "
		    "1..120" },
		{ "lock_wait = 301", "lock_wait: expected whole seconds "
		    "0..300" },
		{ "lock_wait = -1", "lock_wait: expected" },
		{ "txt_check_interval = 604801", "txt_check_interval: "
		    "expected whole seconds 0..604800" },
		{ "cache_purge_after = 31622401", "cache_purge_after: "
		    "expected whole seconds 0..31622400" },
		{ "refresh_concurrency = 0", "refresh_concurrency: expected a "
		    "count of parallel fetches 1..64, got \"0\"" },
		{ "refresh_concurrency = 65", "refresh_concurrency: expected "
		    "a count of parallel fetches 1..64" },
		{ "refresh_concurrency = 8x", "refresh_concurrency: expected "
		    "a count" },
		{ "tlsrpt_max_day_size = 65535", "tlsrpt_max_day_size: "
		    "expected bytes 65536..1099511627776, got \"65535\"" },
		{ "tlsrpt_max_day_size = 1099511627777", "tlsrpt_max_day_size: "
		    "expected bytes 65536..1099511627776" },
		{ "report_retention_days = 3651", "report_retention_days: "
		    "expected whole days 0..3650, got \"3651\"" },
		{ "report_retention_days = -1", "report_retention_days: "
		    "expected whole days" },
		{ "fetch_timeout = +5", "fetch_timeout: expected" },
		{ "fetch_timeout = 5 s", "fetch_timeout: expected" },
		{ "fetch_timeout =", "fetch_timeout: expected" },
	};
	static const char *const good[] = {
		"fetch_timeout = 300", "dns_timeout = 120", "lock_wait = 0",
		"txt_check_interval = 604800", "cache_purge_after = 31622400",
		"refresh_concurrency = 64", "tlsrpt_max_day_size = 65536",
		"tlsrpt_max_day_size = 1099511627776",
		"report_retention_days = 0", "report_retention_days = 3650",
	};
	char text[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s\n", bad[i].line);
		expect_error(text, bad[i].needle);
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "%s\n", good[i]);
		expect_ok(text);
	}
}

/* D-CONF-2: ca_file is a PEM bundle with at least one certificate. */
static void
test_pem(void)
{
	char why[MTASTS_REASON_MAX], text[4096];
	const char *p;
	size_t n;

	/* The good ones: one, two with text between, TRUSTED. */
	CHECK(mtasts_check_pem_file(ca_file, &n, why, sizeof(why)) == 0 &&
	    n == 1);
	snprintf(text, sizeof(text), "Subject: test CA\n%s\nmore text\n%s",
	    CERT, CERT);
	p = put("two.pem", text, strlen(text));
	CHECKF(mtasts_check_pem_file(p, &n, why, sizeof(why)) == 0 && n == 2,
	    "%s", why);
	snprintf(text, sizeof(text), "-----BEGIN TRUSTED CERTIFICATE-----\n"
	    "%.*s-----END TRUSTED CERTIFICATE-----\n",
	    (int)(strlen(CERT) - 28 - 26), CERT + 28);
	p = put("trusted.pem", text, strlen(text));
	CHECKF(mtasts_check_pem_file(p, &n, why, sizeof(why)) == 0 && n == 1,
	    "%s", why);

	/* ... and the broken ones, each named. */
	p = putstr("empty.pem", "");
	expect_check("ca_file = %s\n", p, ":1: ca_file: ");
	expect_check("ca_file = %s\n", p, "no PEM certificate");
	p = putstr("garbage.pem", "hello world\nthis is no bundle\n");
	expect_check("ca_file = %s\n", p, "no PEM certificate");
	p = put("der.pem", "\x30\x82\x01\x8a\x00\x01", 6);
	expect_check("ca_file = %s\n", p, "binary data");
	snprintf(text, sizeof(text), "%.*s", (int)(strlen(CERT) - 26), CERT);
	p = put("noend.pem", text, strlen(text));
	expect_check("ca_file = %s\n", p, "has no END line");
	snprintf(text, sizeof(text), "-----BEGIN CERTIFICATE-----\nMIIB\n"
	    "-----END CERTIFICATE-----\n");
	p = put("short.pem", text, strlen(text));
	expect_check("ca_file = %s\n", p, "truncated");
	snprintf(text, sizeof(text), "%s", CERT);
	text[100] = '*';
	p = put("badb64.pem", text, strlen(text));
	expect_check("ca_file = %s\n", p, "line 3: not base64");
	snprintf(text, sizeof(text), "-----BEGIN CERTIFICATE-----\n%.*s"
	    "-----END CERTIFICATE-----\n", (int)(strlen(CERT) - 28 - 26 - 1),
	    CERT + 29);
	p = put("notder.pem", text, strlen(text));
	expect_check("ca_file = %s\n", p, "is not DER");
	snprintf(text, sizeof(text), "%.*s-----END X509 CRL-----\n",
	    (int)(strlen(CERT) - 26), CERT);
	p = put("mismatch.pem", text, strlen(text));
	expect_check("ca_file = %s\n", p, "END does not match the BEGIN of "
	    "line 1");
	/* A key alone is no CA. */
	p = putstr("key.pem", "-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n"
	    "-----END PRIVATE KEY-----\n");
	expect_check("ca_file = %s\n", p, "no PEM certificate");
	/* A directory is not a bundle. */
	expect_check("ca_file = %s\n", tmpdir, "not a regular file");
}

/* D-CONF-2..4: typos in each path key. */
static void
test_paths(void)
{
	char dir[300], link[400], text[1024];
	const char *p;

	/* The typo of issue 11: one letter off. */
	snprintf(text, sizeof(text), "%.*s", (int)strlen(ca_file) - 4,
	    ca_file);
	expect_check("dnssec = off\nca_file = %s\n", text, ":2: ca_file: ");
	expect_check("dnssec = off\nca_file = %s\n", text,
	    "No such file or directory");
	expect_check("ca_file = %s.pem\n", "/nonexistent/ca",
	    ":1: ca_file: /nonexistent/ca.pem: No such file or directory");

	/* ca_path: exists, is a directory, holds a usable hash link. */
	expect_check("ca_path = %s\n", "/nonexistent/certs",
	    ":1: ca_path: /nonexistent/certs: No such file");
	expect_check("ca_path = %s\n", ca_file, "Not a directory");
	snprintf(dir, sizeof(dir), "%s/certs", tmpdir);
	CHECK(mkdir(dir, 0755) == 0);
	expect_check("ca_path = %s\n", dir, "no certificate hash links");
	snprintf(link, sizeof(link), "%s/readme.txt", dir);
	CHECK(symlink(ca_file, link) == 0);
	expect_check("ca_path = %s\n", dir, "no certificate hash links");
	p = putstr("garbage.pem", "garbage\n");
	snprintf(link, sizeof(link), "%s/0123abcd.0", dir);
	CHECK(symlink(p, link) == 0);
	expect_check("ca_path = %s\n", dir, "none of 1 hash link(s)");
	snprintf(link, sizeof(link), "%s/89abcdef.1", dir);
	CHECK(symlink(ca_file, link) == 0);
	snprintf(text, sizeof(text), "ca_path = %s\n", dir);
	expect_ok(text);
	{
		size_t n;
		char why[MTASTS_REASON_MAX];

		CHECK(mtasts_check_ca_dir(dir, &n, why, sizeof(why)) == 0 &&
		    n == 2);
	}

	/*
	 * cache_dir: a directory. Named in the file it must exist (a typo
	 * would start an empty cache); the default may be missing under an
	 * existing parent (the first store makes it).
	 */
	snprintf(text, sizeof(text), "%s/newcache", tmpdir);
	expect_check("cache_dir = %s\n", text, ":1: cache_dir: ");
	expect_check("cache_dir = %s\n", text, "newcache: No such file or "
	    "directory (create it, mode 02770)");
	expect_check("cache_dir = %s\n", "/nonexistent/mtasts/cache",
	    ":1: cache_dir: /nonexistent/mtasts/cache: No such file");
	{
		struct mtasts_ctx *ctx = mtasts_ctx_new();
		struct mtasts_error err = { 0, "" };
		const char *conf = putstr("m.conf", "dnssec = off\n");

		mtasts_strlcpy(ctx->cfg.cache_dir, text,
		    sizeof(ctx->cfg.cache_dir));
		CHECKF(mtasts_ctx_load_config(ctx, conf, &err) == MTASTS_OK,
		    "%s", err.text);
		mtasts_ctx_free(ctx);
		ctx = mtasts_ctx_new();
		memset(&err, 0, sizeof(err));
		mtasts_strlcpy(ctx->cfg.cache_dir, "/nonexistent/mtasts/cache",
		    sizeof(ctx->cfg.cache_dir));
		CHECK(mtasts_ctx_load_config(ctx, conf, &err) == MTASTS_ERROR);
		CHECKF(strstr(err.text, "cache_dir: /nonexistent/mtasts/cache: "
		    "does not exist and cannot be created "
		    "(/nonexistent/mtasts: No such file or directory) "
		    "(default)") != NULL, "%s", err.text);
		CHECK(strstr(err.text, "m.conf") == NULL);
		mtasts_ctx_free(ctx);
	}
	expect_check("cache_dir = %s\n", ca_file, ":1: cache_dir: ");
	expect_check("cache_dir = %s\n", ca_file, "not a directory");
	snprintf(text, sizeof(text), "%s/x", ca_file);
	expect_check("cache_dir = %s\n", text, "Not a directory");

	/* tlsrpt_dir: made on demand, but never where a file is. */
	snprintf(text, sizeof(text), "tlsrpt_dir = %s/spool/a/b\n", tmpdir);
	expect_ok(text);
	expect_check("dnssec = off\ntlsrpt_dir = %s\n", ca_file,
	    ":2: tlsrpt_dir: ");
	expect_check("dnssec = off\ntlsrpt_dir = %s\n", ca_file,
	    "not a directory");
	snprintf(text, sizeof(text), "%s/sub", ca_file);
	expect_check("tlsrpt_dir = %s\n", text, "not a directory");
}

/* D-CONF-3: the trust anchor whenever validation can be on. */
static void
test_trust_anchor(void)
{
	char why[MTASTS_REASON_MAX], text[2048];
	const char *p;
	size_t n;
	int eno;

	CHECKF(mtasts_check_trust_anchor(ta_file, &n, &eno, why,
	    sizeof(why)) == 0 && n == 1, "%s", why);
	if (access("/usr/share/dns/root.key", R_OK) == 0)
		CHECKF(mtasts_check_trust_anchor("/usr/share/dns/root.key", &n,
		    &eno, why, sizeof(why)) == 0 && n >= 1, "%s", why);
	/* DS form, TTL and class in either order, $TTL, parentheses */
	p = putstr("ds.key", "; the root DS\n$TTL 3600\n"
	    ".  172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D084"
	    "58E880409BBC683457104237C7F8EC8D\n"
	    ". IN 3600 DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450"
	    "D612C483AF444A4C0FB2B16\n"
	    ". DNSKEY ( 257 3 8\n  AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvk\n"
	    "  MgJzkKTOiW1vkIbz ) ; a comment (with parens)\n");
	CHECKF(mtasts_check_trust_anchor(p, &n, &eno, why, sizeof(why)) == 0 &&
	    n == 3, "%s", why);

	/* dnssec = on: a missing or broken anchor is a configuration error */
	expect_check("dnssec = on\ntrust_anchor_file = %s\n",
	    "/usr/share/dns/root.kee", ":2: trust_anchor_file: "
	    "/usr/share/dns/root.kee: No such file or directory");
	p = putstr("empty.key", "");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "no DS or DNSKEY record");
	p = putstr("a.key", ". IN A 192.0.2.1\n");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "line 1: \"A\": only DS and DNSKEY");
	p = putstr("proto.key", ". IN DNSKEY 257 4 8 AwEAAaz/tAm8yTn4Mfeh\n");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "not a zone key");
	p = putstr("short.key", ". IN DS 20326 8 2 E06D44\n");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "too short");
	p = putstr("nothex.key", ". IN DS 20326 8 2 "
	    "E06D44B80B8F1D39A95C0B0D7C65D08458E88040ZZ\n");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p, "not hex");
	p = putstr("paren.key", ". IN DNSKEY ( 257 3 8 "
	    "AwEAAaz/tAm8yTn4Mfeh\n");
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "unbalanced parentheses");
	p = put("pem.key", CERT, strlen(CERT));
	expect_check("dnssec = on\ntrust_anchor_file = %s\n", p,
	    "trust_anchor_file: ");
	/* auto: a missing anchor means "validation off"; a broken one not */
	snprintf(text, sizeof(text), "dnssec = auto\ntrust_anchor_file = "
	    "%s/none.key\n", tmpdir);
	expect_ok(text);
	p = putstr("empty.key", "");
	expect_check("dnssec = auto\ntrust_anchor_file = %s\n", p,
	    ":2: trust_anchor_file: ");
	expect_check("trust_anchor_file = %s\n", p, ":1: trust_anchor_file");
	expect_check("trust_anchor_file = %s\n", tmpdir, "not a regular "
	    "file");
	/* off: never read */
	snprintf(text, sizeof(text), "dnssec = off\ntrust_anchor_file = %s\n",
	    p);
	expect_ok(text);
	/* The default anchor is named as such, at the dnssec line. */
	{
		struct mtasts_ctx *ctx = mtasts_ctx_new();
		struct mtasts_error err = { 0, "" };
		const char *conf = putstr("m.conf", "cache_memo = on\n"
		    "dnssec = on\n");

		mtasts_strlcpy(ctx->cfg.trust_anchor_file, "/nonexistent/r.key",
		    sizeof(ctx->cfg.trust_anchor_file));
		CHECK(mtasts_ctx_load_config(ctx, conf, &err) == MTASTS_ERROR);
		CHECKF(strstr(err.text, "m.conf:2: dnssec = on: "
		    "trust_anchor_file /nonexistent/r.key (default): "
		    "No such") != NULL, "%s", err.text);
		mtasts_ctx_free(ctx);
	}
}

/* D-CONF-1: keys set through the API are checked before the first use. */
static void
test_api(void)
{
	struct mtasts_ctx *ctx;
	struct mtasts_result *r = NULL;
	struct mtasts_error err = { 0, "" };
	char cache[300];

	snprintf(cache, sizeof(cache), "%s/apicache", tmpdir);
	CHECK(mkdir(cache, 02770) == 0);
	ctx = mtasts_ctx_new();
	CHECK(mtasts_ctx_set(ctx, "cache_dir", cache, &err) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "dnssec", "off", &err) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "ca_file", "/etc/ssl/certs/"
	    "ca-certificate.crt", &err) == MTASTS_OK);
	CHECK(mtasts_lookup(ctx, "example.com", MTASTS_LOOKUP_CACHE_ONLY, &r,
	    &err) == MTASTS_ERROR);
	CHECK(r == NULL);
	CHECKF(strstr(err.text, "configuration: ca_file: /etc/ssl/certs/"
	    "ca-certificate.crt: No such file") != NULL, "%s", err.text);
	CHECK(strstr(err.text, ".conf:") == NULL);
	CHECK(!ctx->finalized);
	/* Repaired, the same context works, then is frozen. */
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_ctx_set(ctx, "ca_file", ca_file, &err) == MTASTS_OK);
	CHECKF(mtasts_lookup(ctx, "example.com", MTASTS_LOOKUP_CACHE_ONLY, &r,
	    &err) == MTASTS_OK, "%s", err.text);
	CHECK(r != NULL && mtasts_result_status(r) == MTASTS_LOOKUP_NONE);
	mtasts_result_free(r);
	CHECK(ctx->finalized);
	CHECK(mtasts_ctx_set(ctx, "ca_file", ca_file, &err) ==
	    MTASTS_AFTERFINAL);
	mtasts_ctx_free(ctx);

	/* A loaded file then changed through the API is checked again. */
	{
		char text[400];

		snprintf(text, sizeof(text), "dnssec = off\ncache_dir = %s\n",
		    cache);
		CHECK(load(text, &ctx, &err) == MTASTS_OK);
		CHECK(ctx->conf_checked);
		memset(&err, 0, sizeof(err));
		CHECK(mtasts_ctx_set(ctx, "ca_path", "/nonexistent", &err) ==
		    MTASTS_OK);
		CHECK(!ctx->conf_checked);
		CHECK(mtasts_lookup(ctx, "example.com",
		    MTASTS_LOOKUP_CACHE_ONLY, &r, &err) == MTASTS_ERROR);
		CHECKF(strstr(err.text, "configuration: ca_path: "
		    "/nonexistent: No such") != NULL, "%s", err.text);
		mtasts_ctx_free(ctx);
	}
	/*
	 * D-CONF-5: the trust anchor removed after the check: the resolver
	 * cannot be made, a local fault: tempfail, never "none", and no
	 * TLS-RPT record blames the domain.
	 */
	{
		char text[1200], ta[300], spool[300];
		struct stat st;

		snprintf(ta, sizeof(ta), "%s", putstr("gone.key", ROOTKEY));
		snprintf(spool, sizeof(spool), "%s/spool-gone", tmpdir);
		CHECK(mkdir(spool, 0700) == 0);
		snprintf(text, sizeof(text), "dnssec = on\ntrust_anchor_file = "
		    "%s\ncache_dir = %s\nresolver = 127.0.0.1@9\n"
		    "tlsrpt_dir = %s\ndns_timeout = 1\n", ta, cache, spool);
		CHECKF(load(text, &ctx, &err) == MTASTS_OK, "%s", err.text);
		CHECK(unlink(ta) == 0);
		memset(&err, 0, sizeof(err));
		CHECKF(mtasts_lookup(ctx, "example.com", 0, &r, &err) ==
		    MTASTS_OK, "%s", err.text);
		CHECK(r != NULL &&
		    mtasts_result_status(r) == MTASTS_LOOKUP_TEMPFAIL);
		CHECKF(r != NULL && mtasts_result_failure_reason(r) != NULL &&
		    strstr(mtasts_result_failure_reason(r), "configuration: "
		    "TXT _mta-sts.example.com: resolver: ") != NULL, "%s",
		    r != NULL && mtasts_result_failure_reason(r) ?
		    mtasts_result_failure_reason(r) : "(none)");
		/* The resolver is named once (issue 13). */
		CHECKF(r != NULL && mtasts_result_failure_reason(r) != NULL &&
		    strstr(mtasts_result_failure_reason(r), "resolver: "
		    "resolver:") == NULL, "%s", r != NULL &&
		    mtasts_result_failure_reason(r) ?
		    mtasts_result_failure_reason(r) : "(none)");
		mtasts_result_free(r);
		r = NULL;
		snprintf(text, sizeof(text), "%s/example.com.json", cache);
		CHECK(stat(text, &st) == -1 && errno == ENOENT);
		{
			char cmd[400];

			snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"",
			    spool);
			CHECK(system(cmd) == 0);
		}
		mtasts_ctx_free(ctx);
	}

	/* The API itself may set a key again (last wins). */
	ctx = mtasts_ctx_new();
	CHECK(mtasts_ctx_set(ctx, "fetch_timeout", "5", NULL) == MTASTS_OK);
	CHECK(mtasts_ctx_set(ctx, "fetch_timeout", "6", NULL) == MTASTS_OK);
	CHECK(ctx->cfg.fetch_timeout_ms == 6000);
	mtasts_ctx_free(ctx);
}

/*
 * The file is read into a buffer of its size (a regular file) or one
 * that grows (a pipe, a file growing meanwhile), never past the 256 KiB
 * cap: both load what they hold, and both refuse more than the cap.
 */
static int
load_fifo(const char *text, size_t len, struct mtasts_error *err,
    struct mtasts_ctx **out)
{
	char path[300];
	pid_t pid;
	int fd, rc, status;

	snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	unlink(path);
	if (mkfifo(path, 0600) != 0)
		return -100;
	if ((pid = fork()) == 0) {
		size_t off = 0;
		ssize_t n;

		if ((fd = open(path, O_WRONLY)) == -1)
			_exit(1);
		while (off < len && (n = write(fd, text + off,
		    len - off)) > 0)
			off += (size_t)n;
		_exit(0);
	}
	*out = mtasts_ctx_new();
	memset(err, 0, sizeof(*err));
	rc = mtasts_ctx_load_config(*out, path, err);
	kill(pid, SIGKILL);	/* a writer the reader left behind */
	waitpid(pid, &status, 0);
	unlink(path);
	return rc;
}

static void
test_read_sizes(void)
{
	const size_t cap = 256 * 1024;
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	char *big;
	size_t n;
	int rc;

	if ((big = malloc(cap + 4096)) == NULL)
		return;
	/* 20 KB of comments, then a key: the pipe's buffer grows 3 times. */
	memset(big, '#', 20000);
	for (n = 99; n < 20000; n += 100)
		big[n] = '\n';
	n = 20000 + (size_t)snprintf(big + 20000, 100,
	    "fetch_timeout = 7\n");
	rc = load_fifo(big, n, &err, &ctx);
	CHECKF(rc == MTASTS_OK && ctx->cfg.fetch_timeout_ms == 7000,
	    "fifo: rc %d (%s)", rc, err.text);
	mtasts_ctx_free(ctx);
	/* Exactly the cap loads, one byte more does not; file and pipe. */
	memset(big, '#', cap + 1);
	for (n = 99; n < cap + 1; n += 100)
		big[n] = '\n';
	big[cap - 1] = '\n';
	rc = loadn(big, cap, &ctx, &err);
	CHECKF(rc == MTASTS_OK, "file at the cap: rc %d (%s)", rc, err.text);
	mtasts_ctx_free(ctx);
	rc = loadn(big, cap + 1, &ctx, &err);
	CHECKF(rc == MTASTS_INVALID && strstr(err.text, "too large") != NULL,
	    "file over the cap: rc %d (%s)", rc, err.text);
	mtasts_ctx_free(ctx);
	rc = load_fifo(big, cap, &err, &ctx);
	CHECKF(rc == MTASTS_OK, "pipe at the cap: rc %d (%s)", rc, err.text);
	mtasts_ctx_free(ctx);
	rc = load_fifo(big, cap + 1, &err, &ctx);
	CHECKF(rc == MTASTS_INVALID && strstr(err.text, "too large") != NULL,
	    "pipe over the cap: rc %d (%s)", rc, err.text);
	mtasts_ctx_free(ctx);
	free(big);
}

int
main(void)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(ca_file, sizeof(ca_file), "%s", put("ca.pem", CERT,
	    strlen(CERT)));
	snprintf(ta_file, sizeof(ta_file), "%s", put("root.key", ROOTKEY,
	    strlen(ROOTKEY)));

	/* Defaults are the safe ones. */
	ctx = mtasts_ctx_new();
	CHECK(ctx != NULL);
	CHECK(ctx->cfg.fetch_timeout_ms == 20000);
	CHECK(ctx->cfg.txt_check_interval == 3600);
	CHECK(ctx->cfg.dns_failure == MTASTS_DNSFAIL_NONE);
	CHECK_STR(ctx->cfg.cache_dir, "/var/cache/mtasts");
	CHECK(ctx->cfg.nresolvers == 0);
	CHECK(ctx->dns == NULL && ctx->ssl_ctx == NULL);
	mtasts_ctx_free(ctx);

	/*
	 * D-CONF-8: a value the documented defaults (`mtasts config
	 * --defaults`, dist/mtasts.conf) call the built-in default is one:
	 * setting it leaves the configuration as it was; and every key
	 * shows a value the parser accepts.
	 */
	{
		struct mtasts_config def;
		const char *shown;
		int k, d, ndef = 0;

		mtasts_config_defaults(&def);
		for (k = 0; k < MTASTS_CK_COUNT; k++) {
			d = mtasts_config_shown_default(k, &shown);
			CHECK(d >= 0 && shown != NULL);
			if (d < 0 || shown == NULL)
				continue;
			ctx = mtasts_ctx_new();
			CHECK(ctx != NULL);
			memset(&err, 0, sizeof(err));
			CHECK(mtasts_ctx_set(ctx, mtasts_conf_key_name(k),
			    shown, &err) == MTASTS_OK);
			if (d == 1) {
				ndef++;
				if (memcmp(&ctx->cfg, &def, sizeof(def)) != 0)
					fprintf(stderr, "%s = %s is not the "
					    "default\n",
					    mtasts_conf_key_name(k), shown);
				CHECK(memcmp(&ctx->cfg, &def,
				    sizeof(def)) == 0);
			}
			mtasts_ctx_free(ctx);
		}
		CHECK(ndef >= 10);
		CHECK(mtasts_config_shown_default(MTASTS_CK_COUNT, &shown) ==
		    -1);
	}

	/* A full, valid file with comments and blank lines. */
	{
		char text[1024];

		snprintf(text, sizeof(text), "# comment\n\n"
		    "resolver = 127.0.0.53\n"
		    "resolver=::1@5353  # trailing comment\n"
		    "dnssec = off\ncache_dir = %s\nfetch_timeout = 2\n"
		    "txt_check_interval = 60\ndns_failure = tempfail\n"
		    "resolve_special_zone = test.\nca_file = %s\n", tmpdir,
		    ca_file);
		CHECKF(load(text, &ctx, &err) == MTASTS_OK, "%s", err.text);
	}
	CHECK(ctx->cfg.nresolvers == 2);
	CHECK_STR(ctx->cfg.resolvers[1], "::1@5353");
	CHECK(ctx->cfg.dnssec == 0);
	CHECK(ctx->cfg.fetch_timeout_ms == 2000);
	CHECK(ctx->cfg.txt_check_interval == 60);
	CHECK(ctx->cfg.dns_failure == MTASTS_DNSFAIL_TEMPFAIL);
	CHECK_STR(ctx->cfg.special_zones[0], "test");
	CHECK(strcmp(ctx->cfg.ca_file, ca_file) == 0);
	/* After the first use the configuration is frozen. */
	ctx->finalized = 1;
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_ctx_set(ctx, "dnssec", "on", &err) == MTASTS_AFTERFINAL);
	mtasts_ctx_free(ctx);

	expect_error("resolver = 127.0.0.1\nbogus = 1\n", ":2: unknown key");
	expect_error("resolver = example.com\n", ":1: resolver");
	expect_error("resolver = 127.0.0.1@0\n", "resolver");
	expect_error("resolver = 127.0.0.1@65536\n", "resolver");
	expect_error("dnssec = yes\n", "dnssec");
	expect_error("fetch_timeout = 0\n", "fetch_timeout");
	expect_error("fetch_timeout = 1e3\n", "fetch_timeout");
	expect_error("fetch_timeout = -5\n", "fetch_timeout");
	expect_error("fetch_timeout = 99999999999999999999\n", "fetch_timeout");
	expect_error("cache_dir = relative/path\n", "absolute");
	expect_error("dns_failure = defer\n", "dns_failure");
	expect_error("just a line\n", "key = value");
	expect_error("resolve_special_zone = bad_zone!\n", "resolve_special");

	test_syntax();
	test_duplicates();
	test_ranges();
	test_pem();
	test_paths();
	test_trust_anchor();
	test_api();
	test_read_sizes();

	/* A missing named file is an error; a missing default is not. */
	ctx = mtasts_ctx_new();
	memset(&err, 0, sizeof(err));
	CHECK(mtasts_ctx_load_config(ctx, "/nonexistent/mtasts.conf", &err) ==
	    MTASTS_ERROR);
	CHECK(strstr(err.text, "/nonexistent/mtasts.conf") != NULL);
	mtasts_ctx_free(ctx);

	/* The first error wins. */
	memset(&err, 0, sizeof(err));
	mtasts_err_set(&err, MTASTS_INVALID, "first");
	mtasts_err_set(&err, MTASTS_ERROR, "second");
	CHECK_STR(err.text, "first");
	CHECK(err.code == MTASTS_INVALID);

	{
		uint64_t v;

		CHECK(mtasts_parse_u64("31557600", 8, 31557600, &v) == 0 &&
		    v == 31557600);
		CHECK(mtasts_parse_u64("31557601", 8, 31557600, &v) == -1);
		CHECK(mtasts_parse_u64("", 0, 10, &v) == -1);
		CHECK(mtasts_parse_u64("18446744073709551616", 20, UINT64_MAX,
		    &v) == -1);
		CHECK(mtasts_parse_u64("18446744073709551615", 20, UINT64_MAX,
		    &v) == 0 &&
		    v == UINT64_MAX);
	}

	{
		char cmd[400];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tmpdir);
	}
	return T_DONE();
}
