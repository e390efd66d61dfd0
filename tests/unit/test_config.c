/*
 * test_config.c - mtasts.conf parsing: keys, values, errors naming file and
 * line, AFTERFINAL, defaults.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts_internal.h"
#include "t.h"

static char tmpdir[] = "/tmp/mtasts-config-XXXXXX";

static int
load(const char *text, struct mtasts_ctx **out, struct mtasts_error *err)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/m.conf", tmpdir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fwrite(text, 1, strlen(text), fp);
	fclose(fp);
	*out = mtasts_ctx_new();
	memset(err, 0, sizeof(*err));
	return mtasts_ctx_load_config(*out, path, err);
}

static void
expect_error(const char *text, const char *needle)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;
	int rc = load(text, &ctx, &err);

	CHECKF(rc == MTASTS_INVALID, "rc %d for %s", rc, text);
	CHECKF(strstr(err.text, needle) != NULL, "\"%s\" lacks \"%s\"",
	    err.text, needle);
	CHECKF(strstr(err.text, "m.conf:") != NULL, "no file:line in \"%s\"",
	    err.text);
	mtasts_ctx_free(ctx);
}

int
main(void)
{
	struct mtasts_ctx *ctx;
	struct mtasts_error err;

	if (mkdtemp(tmpdir) == NULL)
		return 1;

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

	/* A full, valid file with comments and blank lines. */
	CHECK(load("# comment\n\nresolver = 127.0.0.53\n"
		   "resolver=::1@5353  # trailing comment\n"
		   "dnssec = off\ncache_dir = /tmp/x\nfetch_timeout = 2\n"
		   "txt_check_interval = 60\ndns_failure = tempfail\n"
		   "resolve_special_zone = test.\nca_file = /etc/ssl/x.pem\n",
		  &ctx, &err) == MTASTS_OK);
	CHECK(ctx->cfg.nresolvers == 2);
	CHECK_STR(ctx->cfg.resolvers[1], "::1@5353");
	CHECK(ctx->cfg.dnssec == 0);
	CHECK(ctx->cfg.fetch_timeout_ms == 2000);
	CHECK(ctx->cfg.txt_check_interval == 60);
	CHECK(ctx->cfg.dns_failure == MTASTS_DNSFAIL_TEMPFAIL);
	CHECK_STR(ctx->cfg.special_zones[0], "test");
	CHECK_STR(ctx->cfg.ca_file, "/etc/ssl/x.pem");
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
			  &v) == 0 && v == UINT64_MAX);
	}

	{
		char path[256];

		snprintf(path, sizeof(path), "%s/m.conf", tmpdir);
		unlink(path);
		rmdir(tmpdir);
	}
	return T_DONE();
}
