/* SPDX-License-Identifier: ISC */
/*
 * test_cache.c - the on-disk policy cache: round trips, a corpus of
 * corrupt and hostile files, modes, atomic replacement under concurrent
 * writers and readers, the per-domain fetch lock, foreach and remove,
 * and the per-context memo of parsed entries against changes made by
 * other processes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal/cache.h"
#include "internal/ctx.h"
#include "internal/util.h"
#include "t.h"

#define BASE_T 1700000000
#define DOM "example.com"

static char topdir[512];
static int warns;		/* WARN lines mentioning "corrupt" */
static char lastlog[512];

static int ctllog;		/* log lines with control characters */

static void
logfn(void *arg, int level, const char *msg)
{
	const char *p;

	(void)arg;
	for (p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			ctllog++;
	mtasts_strlcpy(lastlog, msg, sizeof(lastlog));
	if (level == MTASTS_LOG_WARN && strstr(msg, "corrupt") != NULL)
		warns++;
}

static struct mtasts_ctx *
new_ctx(const char *dir)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx = mtasts_ctx_new();
	char spool[1200];

	/* Never the host's default spool (/var/spool/mtasts/tlsrpt). */
	snprintf(spool, sizeof(spool), "%s.tlsrpt", dir);
	if (ctx == NULL || mtasts_ctx_set(ctx, "cache_dir", dir, &err) != 0 ||
	    mtasts_ctx_set(ctx, "tlsrpt_dir", spool, &err) != 0) {
		fprintf(stderr, "ctx: %s\n", err.text);
		exit(1);
	}
	mtasts_ctx_set_log(ctx, logfn, NULL);
	return ctx;
}

/* A fresh directory below topdir; created (mode 02770) unless !make. */
static void
subdir(char *buf, size_t size, const char *name, int make)
{
	snprintf(buf, size, "%s/%s", topdir, name);
	if (make && mkdir(buf, 02770) != 0) {
		perror(buf);
		exit(1);
	}
	if (make)
		chmod(buf, 02770);
}

static void
put_file(const char *dir, const char *name, const void *data, size_t len,
    mode_t mode)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
}

static char *
get_file(const char *dir, const char *name, size_t *len)
{
	char path[1024], *buf;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL ||
	    read(fd, buf, (size_t)st.st_size) != (ssize_t)st.st_size) {
		close(fd);
		free(buf);
		return NULL;
	}
	buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

/* Number of entries in dir whose name contains s. */
static int
count_names(const char *dir, const char *s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, s) != NULL)
			n++;
	closedir(d);
	return n;
}

static struct mtasts_policy *
policy(const char *text)
{
	struct mtasts_policy *p = NULL;
	struct mtasts_error err = { 0, "" };

	if (mtasts_policy_parse(text, strlen(text), &p, &err) != MTASTS_OK) {
		fprintf(stderr, "policy parse: %s\n", err.text);
		exit(1);
	}
	return p;
}

#define POLICY1 "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n" \
	"mx: *.backup.example.net\r\nmax_age: 604800\r\n"

static struct mtasts_cache_entry *
entry_policy(const char *domain)
{
	struct mtasts_cache_entry *e = calloc(1, sizeof(*e));

	mtasts_strlcpy(e->domain, domain, sizeof(e->domain));
	mtasts_strlcpy(e->id, "20240101T000000", sizeof(e->id));
	e->policy = policy(POLICY1);
	e->fetched_at = BASE_T;
	e->expires_at = BASE_T + 604800;
	e->txt_checked_at = BASE_T + 5;
	mtasts_strlcpy(e->txt_id, "20240101T000000", sizeof(e->txt_id));
	e->fail_at = BASE_T + 10;
	mtasts_strlcpy(e->fail_id, "newer1", sizeof(e->fail_id));
	mtasts_strlcpy(e->fail_type, MTASTS_RT_STS_FETCH_ERROR,
	    sizeof(e->fail_type));
	mtasts_strlcpy(e->fail_reason, "HTTP 500 from mta-sts.example.com",
	    sizeof(e->fail_reason));
	return e;
}

/* "TXT checked, no record": no policy, no failure. */
static struct mtasts_cache_entry *
entry_negative(const char *domain)
{
	struct mtasts_cache_entry *e = calloc(1, sizeof(*e));

	mtasts_strlcpy(e->domain, domain, sizeof(e->domain));
	e->txt_checked_at = BASE_T + 99;
	return e;
}

static void
check_same(const struct mtasts_cache_entry *a,
    const struct mtasts_cache_entry *b)
{
	const char *ta, *tb;
	size_t la, lb, i;

	CHECK_STR(a->domain, b->domain);
	CHECK_STR(a->id, b->id);
	CHECK(a->fetched_at == b->fetched_at);
	CHECK(a->expires_at == b->expires_at);
	CHECK(a->txt_checked_at == b->txt_checked_at);
	CHECK_STR(a->txt_id, b->txt_id);
	CHECK(a->fail_at == b->fail_at);
	CHECK_STR(a->fail_id, b->fail_id);
	CHECK_STR(a->fail_type, b->fail_type);
	CHECK_STR(a->fail_reason, b->fail_reason);
	CHECK((a->policy == NULL) == (b->policy == NULL));
	if (a->policy == NULL || b->policy == NULL)
		return;
	ta = mtasts_policy_text(a->policy, &la);
	tb = mtasts_policy_text(b->policy, &lb);
	CHECK(la == lb && memcmp(ta, tb, la) == 0);
	CHECK(mtasts_policy_mode(a->policy) == mtasts_policy_mode(b->policy));
	CHECK(mtasts_policy_max_age(a->policy) ==
	    mtasts_policy_max_age(b->policy));
	CHECK(mtasts_policy_mx_count(a->policy) ==
	    mtasts_policy_mx_count(b->policy));
	for (i = 0; i < mtasts_policy_mx_count(a->policy); i++)
		CHECK_STR(mtasts_policy_mx(a->policy, i),
		    mtasts_policy_mx(b->policy, i));
}

static void
test_round_trip(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600];
	int rc;

	subdir(dir, sizeof(dir), "rt", 1);
	ctx = new_ctx(dir);

	e = entry_policy(DOM);
	rc = mtasts_cache_store(ctx, e, &err);
	CHECKF(rc == MTASTS_OK, "%s", err.text);
	rc = mtasts_cache_load(ctx, DOM, &got, &err);
	CHECKF(rc == MTASTS_OK, "%d %s / %s", rc, err.text, lastlog);
	if (got != NULL) {
		check_same(e, got);
		CHECK(mtasts_policy_mode(got->policy) == MTASTS_MODE_ENFORCE);
		CHECK(mtasts_policy_max_age(got->policy) == 604800);
	}
	mtasts_cache_entry_free(got);
	got = NULL;
	mtasts_cache_entry_free(e);

	/* No policy, failure record only (back-off before any policy). */
	e = entry_negative("nopolicy.example");
	e->fail_at = BASE_T + 1;
	mtasts_strlcpy(e->fail_id, "abc", sizeof(e->fail_id));
	mtasts_strlcpy(e->fail_type, MTASTS_RT_STS_WEBPKI_INVALID,
	    sizeof(e->fail_type));
	mtasts_strlcpy(e->fail_reason, "certificate expired",
	    sizeof(e->fail_reason));
	mtasts_strlcpy(e->txt_id, "abc", sizeof(e->txt_id));
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "nopolicy.example", &got, &err) ==
	    MTASTS_OK);
	if (got != NULL)
		check_same(e, got);
	mtasts_cache_entry_free(got);
	got = NULL;
	mtasts_cache_entry_free(e);

	/* Negative entry: TXT checked, no record. */
	e = entry_negative("neg.example");
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "neg.example", &got, &err) ==
	    MTASTS_OK);
	if (got != NULL) {
		check_same(e, got);
		CHECK(got->policy == NULL && got->fail_at == 0);
	}
	mtasts_cache_entry_free(got);
	got = NULL;

	/* Store over an existing entry: the new one wins, no temp left. */
	e->txt_checked_at = BASE_T + 12345;
	mtasts_strlcpy(e->txt_id, "second", sizeof(e->txt_id));
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "neg.example", &got, &err) ==
	    MTASTS_OK);
	if (got != NULL)
		check_same(e, got);
	mtasts_cache_entry_free(got);
	got = NULL;
	mtasts_cache_entry_free(e);
	CHECK(count_names(dir, ".tmp") == 0);

	/* A reason with control bytes is stored sanitised, never refused. */
	e = entry_negative("reason.example");
	e->fail_at = BASE_T;
	mtasts_strlcpy(e->fail_reason, "bad\r\nline\x7f\xc3\xa9",
	    sizeof(e->fail_reason));
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "reason.example", &got, &err) ==
	    MTASTS_OK);
	if (got != NULL)
		CHECK_STR(got->fail_reason, "bad??line???");
	mtasts_cache_entry_free(got);
	got = NULL;
	mtasts_cache_entry_free(e);

	/* Missing entry: NOTFOUND, silently. */
	warns = 0;
	CHECK(mtasts_cache_load(ctx, "missing.example", &got, &err) ==
	    MTASTS_NOTFOUND);
	CHECK(got == NULL && warns == 0);
	mtasts_ctx_free(ctx);

	/* Missing cache directory: NOTFOUND, and nothing created by load. */
	subdir(dir, sizeof(dir), "rt-nodir", 0);
	ctx = new_ctx(dir);
	CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_NOTFOUND);
	CHECK(access(dir, F_OK) != 0);
	mtasts_ctx_free(ctx);
	mtasts_cache_entry_free(NULL);
}

/* Entries the store must refuse, and domains every call must refuse. */
static void
test_store_invalid(void)
{
	static const char *const bad[] = {
		"", ".", "..", "../etc", ".hidden", "a/b", "Example.com",
		"example.com.", "a..b", "-a.example", "a_b.example",
		"/abs", "x y", "a.example/../b"
	};
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600];
	size_t i;
	int fd = -1;

	subdir(dir, sizeof(dir), "inv", 1);
	ctx = new_ctx(dir);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = entry_negative("x.example");
		mtasts_strlcpy(e->domain, bad[i], sizeof(e->domain));
		CHECKF(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID,
		    "%s", bad[i]);
		CHECKF(mtasts_cache_load(ctx, bad[i], &got, NULL) ==
		    MTASTS_INVALID && got == NULL, "%s", bad[i]);
		CHECKF(mtasts_cache_remove(ctx, bad[i], NULL) ==
		    MTASTS_INVALID, "%s", bad[i]);
		CHECKF(mtasts_cache_lock(ctx, bad[i], 0, &fd, NULL) ==
		    MTASTS_INVALID && fd == -1, "%s", bad[i]);
		mtasts_cache_entry_free(e);
	}
	CHECK(mtasts_cache_load(ctx, NULL, &got, NULL) == MTASTS_INVALID);
	CHECK(mtasts_cache_store(ctx, NULL, NULL) == MTASTS_INVALID);

	e = entry_policy(DOM);
	e->expires_at++;
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_INVALID);
	CHECK(strstr(err.text, "expires_at") != NULL);
	e->expires_at--;
	mtasts_strlcpy(e->id, "not-alnum", sizeof(e->id));
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	e->id[0] = '\0';
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	mtasts_strlcpy(e->id, "ok", sizeof(e->id));
	mtasts_strlcpy(e->txt_id, "no!", sizeof(e->txt_id));
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	e->txt_id[0] = '\0';
	mtasts_strlcpy(e->fail_type, "Bad Type", sizeof(e->fail_type));
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	e->fail_type[0] = '\0';
	e->fetched_at = -1;
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	mtasts_cache_entry_free(e);

	e = entry_negative(DOM);
	mtasts_strlcpy(e->id, "abc", sizeof(e->id));	/* id, no policy */
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_INVALID);
	mtasts_cache_entry_free(e);
	CHECK(count_names(dir, DOM) == 0);
	mtasts_ctx_free(ctx);
}

/*
 * Domains up to 250 characters fit "<domain>.json" in NAME_MAX; longer
 * valid ones cannot be stored but must not break anything.
 */
static void
test_long_domain(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600], d250[260], d253[260];
	int fd = -1;

	memset(d250, 'a', 250);
	d250[63] = d250[127] = d250[191] = '.';
	d250[250] = '\0';
	memset(d253, 'b', 253);
	d253[63] = d253[127] = d253[191] = '.';
	d253[253] = '\0';
	subdir(dir, sizeof(dir), "long", 1);
	ctx = new_ctx(dir);
	e = entry_negative(d250);
	CHECKF(mtasts_cache_store(ctx, e, &err) == MTASTS_OK, "%s", err.text);
	CHECK(mtasts_cache_load(ctx, d250, &got, NULL) == MTASTS_OK);
	mtasts_cache_entry_free(got);
	got = NULL;
	CHECK(mtasts_cache_lock(ctx, d250, 0, &fd, NULL) == MTASTS_OK);
	mtasts_cache_unlock(fd);
	mtasts_cache_entry_free(e);
	e = entry_negative(d253);
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_ERROR);
	CHECK(mtasts_cache_load(ctx, d253, &got, NULL) == MTASTS_NOTFOUND);
	CHECK(mtasts_cache_remove(ctx, d253, NULL) == MTASTS_OK);
	CHECK(mtasts_cache_lock(ctx, d253, 0, &fd, NULL) == MTASTS_OK &&
	    fd >= 0);
	mtasts_cache_unlock(fd);
	CHECK(count_names(dir, ".tmp") == 0);
	mtasts_cache_entry_free(e);
	mtasts_ctx_free(ctx);
}

/* Expect the file now in place for DOM to be refused, with a WARN. */
static int corpus_n;

static void
expect_corrupt(struct mtasts_ctx *ctx, const char *what)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *got = (void *)&got;
	int before = warns, rc;

	corpus_n++;
	rc = mtasts_cache_load(ctx, DOM, &got, &err);
	/* D-CACHE-6: there but unusable, never "not cached". */
	CHECKF(rc == MTASTS_CACHE_UNUSABLE && got == NULL &&
	    err.text[0] != '\0' && warns == before + 1,
	    "%s: rc %d, warns %d", what, rc, warns - before);
	mtasts_cache_entry_free(got == (void *)&got ? NULL : got);
}

static void
corrupt_json(struct mtasts_ctx *ctx, const char *dir, json_t *root,
    const char *what)
{
	char *s = json_dumps(root, JSON_COMPACT);

	put_file(dir, DOM ".json", s, strlen(s), 0660);
	expect_corrupt(ctx, what);
	free(s);
}

/* Load the valid file as JSON, change key (NULL value: delete), test. */
static void
mutate(struct mtasts_ctx *ctx, const char *dir, const char *valid,
    const char *obj, const char *key, json_t *value, const char *what)
{
	json_t *root = json_loads(valid, 0, NULL), *o = root;

	if (obj != NULL)
		o = json_object_get(root, obj);
	if (value == NULL)
		json_object_del(o, key);
	else
		json_object_set_new(o, key, value);
	corrupt_json(ctx, dir, root, what);
	json_decref(root);
}

static void
test_corrupt(void)
{
	static const char *const str_keys[] = {
		"domain", "id", "txt_id", "mode", "policy"
	};
	static const char *const int_keys[] = {
		"format", "fetched_at", "expires_at", "txt_checked_at",
		"max_age"
	};
	static const char *const fail_str[] = { "id", "type", "reason" };
	static const char *const must[] = {
		"format", "domain", "id", "policy", "mode", "max_age", "mx",
		"fetched_at", "expires_at", "txt_checked_at", "txt_id"
	};
	static const char *const bad_ids[] = {
		"", "a!b", "ab cd", "123456789012345678901234567890123",
		"\xc3\xa9t\xc3\xa9"
	};
	static const char *const raw[] = {
		"[]", "\"x\"", "1", "null", "{}", "{", "}", "{\"format\":1}",
		"\xef\xbb\xbf{}", "{\"format\":1e400}",
		"{\"format\":99999999999999999999999999}",
		"{\"format\":1,\"format\":1}"
	};
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600], other[600], path[1200], *valid, *big, *s;
	json_t *root;
	size_t len, i, j;
	unsigned seed = 12345;
	int rc;

	subdir(dir, sizeof(dir), "corrupt", 1);
	ctx = new_ctx(dir);
	e = entry_policy(DOM);
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_cache_entry_free(e);
	valid = get_file(dir, DOM ".json", &len);
	CHECK(valid != NULL);
	if (valid == NULL)
		return;
	warns = 0;

	/* Truncated at every byte, including the empty file. */
	for (i = 0; i < len; i++) {
		put_file(dir, DOM ".json", valid, i, 0660);
		expect_corrupt(ctx, "truncated");
	}
	/* Wrong types for every field. */
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++) {
		mutate(ctx, dir, valid, NULL, str_keys[i], json_integer(1),
		    str_keys[i]);
		mutate(ctx, dir, valid, NULL, str_keys[i], json_true(),
		    str_keys[i]);
		mutate(ctx, dir, valid, NULL, str_keys[i], json_array(),
		    str_keys[i]);
		mutate(ctx, dir, valid, NULL, str_keys[i], json_object(),
		    str_keys[i]);
		mutate(ctx, dir, valid, NULL, str_keys[i], json_real(1.5),
		    str_keys[i]);
	}
	for (i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
		mutate(ctx, dir, valid, NULL, int_keys[i], json_string("1"),
		    int_keys[i]);
		mutate(ctx, dir, valid, NULL, int_keys[i], json_real(1.0),
		    int_keys[i]);
		mutate(ctx, dir, valid, NULL, int_keys[i], json_null(),
		    int_keys[i]);
		mutate(ctx, dir, valid, NULL, int_keys[i], json_integer(-1),
		    int_keys[i]);
		mutate(ctx, dir, valid, NULL, int_keys[i],
		    json_integer(INT64_MAX), int_keys[i]);
	}
	mutate(ctx, dir, valid, NULL, "mx", json_string("x"), "mx");
	mutate(ctx, dir, valid, NULL, "mx", json_null(), "mx");
	root = json_array();
	json_array_append_new(root, json_integer(1));
	mutate(ctx, dir, valid, NULL, "mx", root, "mx element");
	mutate(ctx, dir, valid, NULL, "fail", json_string("x"), "fail");
	mutate(ctx, dir, valid, NULL, "fail", json_null(), "fail");
	mutate(ctx, dir, valid, NULL, "fail", json_array(), "fail");
	for (i = 0; i < sizeof(fail_str) / sizeof(fail_str[0]); i++) {
		mutate(ctx, dir, valid, "fail", fail_str[i], json_integer(1),
		    "fail str");
		mutate(ctx, dir, valid, "fail", fail_str[i], NULL,
		    "fail missing");
	}
	mutate(ctx, dir, valid, "fail", "at", json_string("1"), "fail.at");
	mutate(ctx, dir, valid, "fail", "at", NULL, "fail.at missing");
	mutate(ctx, dir, valid, "fail", "extra", json_integer(1),
	    "fail extra key");
	mutate(ctx, dir, valid, "fail", "type", json_string("Bad Type"),
	    "fail.type");
	mutate(ctx, dir, valid, "fail", "reason", json_string("a\nb"),
	    "fail.reason newline");
	/* Every required key missing. */
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++)
		mutate(ctx, dir, valid, NULL, must[i], NULL, must[i]);
	mutate(ctx, dir, valid, NULL, "extra", json_integer(1),
	    "unknown key");
	/* Consistency. */
	mutate(ctx, dir, valid, NULL, "format", json_integer(2), "format 2");
	mutate(ctx, dir, valid, NULL, "domain", json_string("example.org"),
	    "domain mismatch");
	mutate(ctx, dir, valid, NULL, "domain", json_string("EXAMPLE.COM"),
	    "domain case");
	mutate(ctx, dir, valid, NULL, "expires_at",
	    json_integer(BASE_T + 604801), "expires mismatch");
	mutate(ctx, dir, valid, NULL, "expires_at",
	    json_integer(253402300800LL), "expires huge");
	mutate(ctx, dir, valid, NULL, "max_age", json_integer(604801),
	    "max_age mismatch");
	mutate(ctx, dir, valid, NULL, "mode", json_string("testing"),
	    "mode mismatch");
	mutate(ctx, dir, valid, NULL, "policy", json_string("garbage"),
	    "unparseable policy");
	mutate(ctx, dir, valid, NULL, "policy",
	    json_string("version: STSv1\nmode: enforce\nmx: a.example\n"
		"max_age: 999999999999\n"), "policy max_age out of range");
	mutate(ctx, dir, valid, NULL, "policy", json_string(""),
	    "empty policy");
	mutate(ctx, dir, valid, NULL, "policy", json_null(),
	    "null policy with id and mode");
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		mutate(ctx, dir, valid, NULL, "id", json_string(bad_ids[i]),
		    "bad id");
		if (bad_ids[i][0] != '\0') {
			mutate(ctx, dir, valid, NULL, "txt_id",
			    json_string(bad_ids[i]), "bad txt_id");
			mutate(ctx, dir, valid, "fail", "id",
			    json_string(bad_ids[i]), "bad fail.id");
		}
	}
	/* NUL: raw byte, and as an escape. */
	s = strdup(valid);
	s[strstr(s, DOM) - s + 3] = '\0';
	put_file(dir, DOM ".json", s, len, 0660);
	expect_corrupt(ctx, "raw NUL");
	free(s);
	mutate(ctx, dir, valid, NULL, "domain", json_stringn(DOM "\0x",
	    sizeof(DOM) + 1), "escaped NUL in domain");
	mutate(ctx, dir, valid, NULL, "policy", json_stringn(POLICY1 "\0",
	    sizeof(POLICY1)), "escaped NUL in policy");
	/* Bytes jansson quotes in its error text must not reach the log. */
	put_file(dir, DOM ".json", "{\"\x01\n\x1b[2J\": 1}", 12, 0660);
	expect_corrupt(ctx, "control bytes in a key");
	put_file(dir, DOM ".json", "{\"a\": x\ny}", 11, 0660);
	expect_corrupt(ctx, "newline in a bad token");
	/* Duplicate keys. */
	s = malloc(len + 32);
	snprintf(s, len + 32, "{\"id\":\"abc\",%s", valid + 1);
	put_file(dir, DOM ".json", s, strlen(s), 0660);
	expect_corrupt(ctx, "duplicate id");
	free(s);
	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		put_file(dir, DOM ".json", raw[i], strlen(raw[i]), 0660);
		expect_corrupt(ctx, raw[i]);
	}
	/* Trailing garbage after a valid object. */
	s = malloc(len + 8);
	memcpy(s, valid, len);
	memcpy(s + len, " {}", 3);
	put_file(dir, DOM ".json", s, len + 3, 0660);
	expect_corrupt(ctx, "trailing garbage");
	free(s);

	/* Size: padding up to the cap loads, one byte more does not. */
	big = malloc(10 * 1024 * 1024);
	memset(big, ' ', 10 * 1024 * 1024);
	memcpy(big, valid, len);
	put_file(dir, DOM ".json", big, MTASTS_CACHE_FILE_MAX, 0660);
	rc = mtasts_cache_load(ctx, DOM, &got, &err);
	CHECKF(rc == MTASTS_OK, "file of exactly the cap: %d", rc);
	mtasts_cache_entry_free(got);
	got = NULL;
	put_file(dir, DOM ".json", big, MTASTS_CACHE_FILE_MAX + 1, 0660);
	expect_corrupt(ctx, "cap + 1");
	put_file(dir, DOM ".json", big, 10 * 1024 * 1024, 0660);
	expect_corrupt(ctx, "10 MB");
	/* Deep nesting. */
	for (i = 0; i < 100000; i++)
		big[i] = '[';
	put_file(dir, DOM ".json", big, 100000, 0660);
	expect_corrupt(ctx, "deep nesting");
	free(big);

	/* Not a plain file: symlink to a valid one, directory, FIFO. */
	subdir(other, sizeof(other), "corrupt-other", 1);
	put_file(other, DOM ".json", valid, len, 0660);
	snprintf(path, sizeof(path), "%s/%s.json", dir, DOM);
	unlink(path);
	snprintf(other + strlen(other), sizeof(other) - strlen(other),
	    "/%s.json", DOM);
	CHECK(symlink(other, path) == 0);
	expect_corrupt(ctx, "symlink");
	unlink(path);
	CHECK(mkdir(path, 0770) == 0);
	expect_corrupt(ctx, "directory");
	rmdir(path);
	CHECK(mkfifo(path, 0660) == 0);
	expect_corrupt(ctx, "fifo");
	unlink(path);
	/* World-writable file: anyone could have written it. */
	put_file(dir, DOM ".json", valid, len, 0666);
	expect_corrupt(ctx, "world-writable file");

	/* Random byte damage: never a crash, never a wrong domain. */
	for (i = 0; i < 2000; i++) {
		s = malloc(len);
		memcpy(s, valid, len);
		for (j = 0; j < 1 + i % 4; j++) {
			seed = seed * 1103515245u + 12345u;
			s[(seed >> 8) % len] ^= (char)(1u << ((seed >> 4) % 8));
		}
		put_file(dir, DOM ".json", s, len, 0660);
		rc = mtasts_cache_load(ctx, DOM, &got, NULL);
		CHECK(rc == MTASTS_OK || rc == MTASTS_CACHE_UNUSABLE);
		if (got != NULL) {
			CHECK_STR(got->domain, DOM);
			CHECK(got->policy != NULL &&
			    got->expires_at == got->fetched_at +
				(time_t)mtasts_policy_max_age(got->policy));
		}
		mtasts_cache_entry_free(got);
		got = NULL;
		free(s);
	}

	/* And the valid file still loads: the corpus was not vacuous. */
	put_file(dir, DOM ".json", valid, len, 0660);
	CHECK(mtasts_cache_load(ctx, DOM, &got, NULL) == MTASTS_OK);
	mtasts_cache_entry_free(got);
	CHECKF(ctllog == 0, "%d log lines with control characters", ctllog);
	printf("corrupt corpus: %d files refused\n", corpus_n);
	free(valid);
	mtasts_ctx_free(ctx);
}

static void
check_modes(mode_t mask)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e;
	struct mtasts_ctx *ctx;
	char dir[600], path[1200], name[64];
	struct stat st;
	mode_t old;
	int fd = -1;

	snprintf(name, sizeof(name), "modes-%03o", (unsigned)mask);
	subdir(dir, sizeof(dir), name, 0);
	ctx = new_ctx(dir);
	old = umask(mask);
	e = entry_negative(DOM);
	CHECKF(mtasts_cache_store(ctx, e, &err) == MTASTS_OK, "%s", err.text);
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 07777) == 02770);
	snprintf(path, sizeof(path), "%s/%s.json", dir, DOM);
	CHECKF(stat(path, &st) == 0 && (st.st_mode & 07777) == 0660,
	    "umask %03o: file mode %04o", (unsigned)mask,
	    (unsigned)(st.st_mode & 07777));
	CHECK(mtasts_cache_lock(ctx, DOM, 0, &fd, &err) == MTASTS_OK);
	mtasts_cache_unlock(fd);
	snprintf(path, sizeof(path), "%s/.%s.lock", dir, DOM);
	CHECKF(stat(path, &st) == 0 && (st.st_mode & 07777) == 0660,
	    "umask %03o: lock mode %04o", (unsigned)mask,
	    (unsigned)(st.st_mode & 07777));
	umask(old);
	mtasts_cache_entry_free(e);
	mtasts_ctx_free(ctx);
}

static void
test_modes(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600];
	mode_t ww[] = { 0777, 01777, 02772 };
	size_t i;
	int fd = -1, seen = 0;

	check_modes(0);
	check_modes(022);
	check_modes(077);
	check_modes(0777);

	/* A world-writable cache directory is refused by every call. */
	subdir(dir, sizeof(dir), "ww", 1);
	ctx = new_ctx(dir);
	e = entry_negative(DOM);
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	for (i = 0; i < sizeof(ww) / sizeof(ww[0]); i++) {
		chmod(dir, ww[i]);
		memset(&err, 0, sizeof(err));
		CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_ERROR);
		CHECKF(strstr(err.text, "world-writable") != NULL, "%s",
		    err.text);
		memset(&err, 0, sizeof(err));
		CHECK(mtasts_cache_load(ctx, DOM, &got, &err) ==
		    MTASTS_ERROR && got == NULL);
		CHECK(strstr(err.text, "world-writable") != NULL);
		CHECK(mtasts_cache_lock(ctx, DOM, 0, &fd, NULL) ==
		    MTASTS_ERROR && fd == -1);
		CHECK(mtasts_cache_remove(ctx, DOM, NULL) == MTASTS_ERROR);
		CHECK(mtasts_cache_foreach(ctx, NULL, &seen, NULL) ==
		    MTASTS_ERROR);
	}
	chmod(dir, 02770);
	CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_OK);
	mtasts_cache_entry_free(got);
	mtasts_cache_entry_free(e);
	mtasts_ctx_free(ctx);

	/* cache_dir that is a file. */
	subdir(dir, sizeof(dir), "notadir", 0);
	put_file(topdir, "notadir", "x", 1, 0660);
	ctx = new_ctx(dir);
	e = entry_negative(DOM);
	CHECK(mtasts_cache_store(ctx, e, NULL) == MTASTS_ERROR);
	CHECK(mtasts_cache_load(ctx, DOM, &got, NULL) == MTASTS_ERROR);
	mtasts_cache_entry_free(e);
	mtasts_ctx_free(ctx);
}

/*
 * A store that fails half-way (here: file size limit, as ENOSPC would)
 * keeps the previous entry and leaves no temp file behind.
 */
static void
test_store_failure(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600];
	pid_t pid;
	int status = -1;

	subdir(dir, sizeof(dir), "fail", 1);
	ctx = new_ctx(dir);
	e = entry_policy(DOM);
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_cache_entry_free(e);
	if ((pid = fork()) == 0) {
		struct rlimit rl = { 64, 64 };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		e = entry_negative(DOM);
		_exit(mtasts_cache_store(ctx, e, &err) == MTASTS_ERROR &&
		    strstr(err.text, "write") != NULL ? 0 : 1);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
	    status);
	CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_OK);
	CHECK(got != NULL && got->policy != NULL);
	CHECK(count_names(dir, ".tmp") == 0);
	mtasts_cache_entry_free(got);
	mtasts_ctx_free(ctx);
}

/* Writer w's i-th entry: every field derived from (w, i). */
static struct mtasts_cache_entry *
entry_token(int w, int i)
{
	struct mtasts_cache_entry *e = calloc(1, sizeof(*e));
	char text[4096], id[40];
	size_t n = 0;
	int k;

	snprintf(id, sizeof(id), "w%dn%d", w, i);
	n += (size_t)snprintf(text + n, sizeof(text) - n,
	    "version: STSv1\nmode: testing\nmax_age: %d\n", 86400 + i);
	/* Varying length so that a torn read cannot look complete. */
	for (k = 0; k < 1 + (w * 7 + i) % 40; k++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "mx: %s-%d.example.net\n", id, k);
	mtasts_strlcpy(e->domain, DOM, sizeof(e->domain));
	mtasts_strlcpy(e->id, id, sizeof(e->id));
	e->policy = policy(text);
	e->fetched_at = BASE_T + i;
	e->expires_at = e->fetched_at + 86400 + i;
	e->txt_checked_at = BASE_T + i;
	mtasts_strlcpy(e->txt_id, id, sizeof(e->txt_id));
	e->fail_at = BASE_T + w;
	mtasts_strlcpy(e->fail_id, id, sizeof(e->fail_id));
	snprintf(e->fail_reason, sizeof(e->fail_reason), "reason %s", id);
	return e;
}

static int
entry_consistent(const struct mtasts_cache_entry *e)
{
	char reason[MTASTS_REASON_MAX], mx0[100];
	int w, i, k;

	if (sscanf(e->id, "w%dn%d", &w, &i) != 2 || e->policy == NULL)
		return 0;
	snprintf(reason, sizeof(reason), "reason %s", e->id);
	snprintf(mx0, sizeof(mx0), "%s-0.example.net", e->id);
	k = 1 + (w * 7 + i) % 40;
	return strcmp(e->txt_id, e->id) == 0 &&
	    strcmp(e->fail_id, e->id) == 0 &&
	    strcmp(e->fail_reason, reason) == 0 &&
	    e->fetched_at == BASE_T + i && e->txt_checked_at == BASE_T + i &&
	    e->fail_at == BASE_T + w &&
	    mtasts_policy_max_age(e->policy) == (uint32_t)(86400 + i) &&
	    mtasts_policy_mx_count(e->policy) == (size_t)k &&
	    strcmp(mtasts_policy_mx(e->policy, 0), mx0) == 0;
}

static void
test_concurrency(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e;
	struct mtasts_ctx *ctx;
	char dir[600];
	pid_t pids[16];
	int w, i, status, ok = 0;

	subdir(dir, sizeof(dir), "conc", 1);
	ctx = new_ctx(dir);
	e = entry_token(99, 0);
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_cache_entry_free(e);
	for (w = 0; w < 16; w++) {
		if ((pids[w] = fork()) != 0)
			continue;
		{
			int64_t end = mtasts_mono_ms() + 1000;
			int n = 0, bad = 0;

			warns = 0;
			for (i = 1; mtasts_mono_ms() < end; i++) {
				struct mtasts_cache_entry *g = NULL;

				if (w < 8) {
					g = entry_token(w, i);
					if (mtasts_cache_store(ctx, g, NULL) !=
					    MTASTS_OK)
						bad++;
				} else if (mtasts_cache_load(ctx, DOM, &g,
				    NULL) != MTASTS_OK ||
				    !entry_consistent(g))
					bad++;
				mtasts_cache_entry_free(g);
				n++;
			}
			if (bad != 0 || warns != 0 || n < 10)
				fprintf(stderr, "child %d: %d ops, %d bad, "
				    "%d warns\n", w, n, bad, warns);
			_exit(bad == 0 && warns == 0 && n >= 10 ? 0 : 1);
		}
	}
	for (w = 0; w < 16; w++)
		if (pids[w] > 0 && waitpid(pids[w], &status, 0) == pids[w] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
	CHECKF(ok == 16, "%d of 16 children clean", ok);
	CHECK(count_names(dir, ".tmp") == 0);
	mtasts_ctx_free(ctx);
}

static void
test_lock(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	char dir[600], c;
	int64_t t0, dt;
	int fd = -1, fd2 = -1, p1[2], p2[2], status, rc;
	pid_t pid;

	subdir(dir, sizeof(dir), "lock", 0);
	ctx = new_ctx(dir);

	/* Same process, two descriptors: the lock still excludes. */
	CHECK(mtasts_cache_lock(ctx, DOM, 0, &fd, &err) == MTASTS_OK &&
	    fd >= 0);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	t0 = mtasts_mono_ms();
	CHECK(mtasts_cache_lock(ctx, DOM, 50, &fd2, &err) ==
	    MTASTS_TEMPFAIL && fd2 == -1);
	dt = mtasts_mono_ms() - t0;
	CHECKF(dt >= 50 && dt < 500, "waited %lld ms", (long long)dt);
	/* Other domains are independent. */
	CHECK(mtasts_cache_lock(ctx, "other.example", 0, &fd2, NULL) ==
	    MTASTS_OK);
	mtasts_cache_unlock(fd2);
	mtasts_cache_unlock(fd);
	CHECK(mtasts_cache_lock(ctx, DOM, 0, &fd, NULL) == MTASTS_OK);
	mtasts_cache_unlock(fd);
	mtasts_cache_unlock(-1);

	/* Another process holds it, then dies without unlocking. */
	if (pipe(p1) != 0 || pipe(p2) != 0)
		return;
	if ((pid = fork()) == 0) {
		close(p1[0]);
		close(p2[1]);
		rc = mtasts_cache_lock(ctx, DOM, 0, &fd, NULL);
		c = rc == MTASTS_OK ? 'L' : 'E';
		if (write(p1[1], &c, 1) != 1)
			_exit(2);
		(void)read(p2[0], &c, 1);	/* until the parent says */
		_exit(0);
	}
	close(p1[1]);
	close(p2[0]);
	CHECK(read(p1[0], &c, 1) == 1 && c == 'L');
	memset(&err, 0, sizeof(err));
	t0 = mtasts_mono_ms();
	rc = mtasts_cache_lock(ctx, DOM, 300, &fd, &err);
	dt = mtasts_mono_ms() - t0;
	CHECKF(rc == MTASTS_TEMPFAIL && fd == -1, "rc %d", rc);
	CHECKF(dt >= 300 && dt < 800, "waited %lld ms", (long long)dt);
	CHECK(strstr(err.text, DOM) != NULL);
	close(p2[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	t0 = mtasts_mono_ms();
	rc = mtasts_cache_lock(ctx, DOM, 2000, &fd, &err);
	dt = mtasts_mono_ms() - t0;
	CHECK(rc == MTASTS_OK && fd >= 0);
	CHECKF(dt < 100, "took %lld ms after the holder died", (long long)dt);
	mtasts_cache_unlock(fd);

	/* A waiter gets the lock as soon as the holder releases it. */
	if ((pid = fork()) == 0) {
		rc = mtasts_cache_lock(ctx, DOM, 0, &fd, NULL);
		usleep(200 * 1000);
		_exit(rc == MTASTS_OK ? 0 : 1);
	}
	usleep(50 * 1000);
	t0 = mtasts_mono_ms();
	rc = mtasts_cache_lock(ctx, DOM, 3000, &fd, &err);
	dt = mtasts_mono_ms() - t0;
	CHECKF(rc == MTASTS_OK && dt >= 50 && dt < 1000, "rc %d, %lld ms",
	    rc, (long long)dt);
	mtasts_cache_unlock(fd);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0);
	close(p1[0]);
	/* The lock file stays (never unlinked) and foreach ignores it. */
	CHECK(count_names(dir, ".lock") == 2);
	mtasts_ctx_free(ctx);
}

struct seen {
	int n;
	char names[16][64];
};

static int
collect(void *arg, const char *domain)
{
	struct seen *s = arg;

	if (s->n < 16)
		mtasts_strlcpy(s->names[s->n], domain, sizeof(s->names[0]));
	s->n++;
	return 0;
}

static int
stop_first(void *arg, const char *domain)
{
	(void)domain;
	(*(int *)arg)++;
	return 1;
}

static int
seen_has(const struct seen *s, const char *d)
{
	int i;

	for (i = 0; i < s->n && i < 16; i++)
		if (strcmp(s->names[i], d) == 0)
			return 1;
	return 0;
}

static void
test_foreach_remove(void)
{
	static const char *const junk[] = {
		".a.example.json.123.deadbeef.tmp", ".hidden.json", "README",
		"UPPER.example.json", "x..y.json", "-bad.example.json",
		"c.example.json.bak", ".json", "json", "a_b.example.json"
	};
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	struct seen s;
	char dir[600], path[1200];
	size_t i;
	int fd = -1, n = 0;

	subdir(dir, sizeof(dir), "each", 0);
	ctx = new_ctx(dir);
	memset(&s, 0, sizeof(s));
	CHECK(mtasts_cache_foreach(ctx, collect, &s, &err) == MTASTS_OK &&
	    s.n == 0);	/* missing directory: nothing */
	CHECK(mtasts_cache_remove(ctx, DOM, &err) == MTASTS_OK);
	e = entry_negative("a.example");
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_strlcpy(e->domain, "b.example.org", sizeof(e->domain));
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(mtasts_cache_lock(ctx, "a.example", 0, &fd, &err) ==
	    MTASTS_OK);
	mtasts_cache_unlock(fd);
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
		put_file(dir, junk[i], "{}", 2, 0660);
	snprintf(path, sizeof(path), "%s/dir.example.json", dir);
	CHECK(mkdir(path, 0770) == 0);
	snprintf(path, sizeof(path), "%s/sym.example.json", dir);
	CHECK(symlink("a.example.json", path) == 0);
	snprintf(path, sizeof(path), "%s/fifo.example.json", dir);
	CHECK(mkfifo(path, 0660) == 0);

	memset(&s, 0, sizeof(s));
	CHECK(mtasts_cache_foreach(ctx, collect, &s, &err) == MTASTS_OK);
	CHECKF(s.n == 2 && seen_has(&s, "a.example") &&
	    seen_has(&s, "b.example.org"), "%d names", s.n);
	CHECK(mtasts_cache_foreach(ctx, stop_first, &n, &err) == MTASTS_OK);
	CHECK(n == 1);

	/* remove: gone, again is fine, others untouched. */
	CHECK(mtasts_cache_remove(ctx, "a.example", &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "a.example", &got, &err) ==
	    MTASTS_NOTFOUND);
	CHECK(mtasts_cache_remove(ctx, "a.example", &err) == MTASTS_OK);
	CHECK(mtasts_cache_load(ctx, "b.example.org", &got, &err) ==
	    MTASTS_OK);
	mtasts_cache_entry_free(got);
	memset(&s, 0, sizeof(s));
	CHECK(mtasts_cache_foreach(ctx, collect, &s, &err) == MTASTS_OK);
	CHECK(s.n == 1 && seen_has(&s, "b.example.org"));
	/* Junk is left alone. */
	CHECK(count_names(dir, ".tmp") == 1);
	mtasts_cache_entry_free(e);
	mtasts_ctx_free(ctx);
}

/* ---- the memo of parsed entries ---- */

#define MEMO_MANY 1100		/* more than the memo holds (1024) */
#define MEMO_SETTLE_US 1100000	/* cache_memo.c CACHE_MEMO_SETTLE_NS + margin */
/* cache_memo.c CACHE_MEMO_TRUST_NS + the coarse clock's tick + margin */
#define MEMO_TRUST_US 1150000

static uint64_t
memo_hits(const struct mtasts_ctx *ctx)
{
	size_t n;
	uint64_t h;

	mtasts_cache_memo_stats(ctx, &n, &h);
	return h;
}

static size_t
memo_entries(const struct mtasts_ctx *ctx)
{
	size_t n;
	uint64_t h;

	mtasts_cache_memo_stats(ctx, &n, &h);
	return n;
}

static int
load_rc(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_cache_entry **out)
{
	struct mtasts_error err = { 0, "" };

	return mtasts_cache_load(ctx, domain, out, &err);
}

/* Load twice; the second load must come from the memo. */
static void
memo_warm(struct mtasts_ctx *ctx, const char *domain)
{
	struct mtasts_cache_entry *got = NULL;
	uint64_t h0;

	CHECK(load_rc(ctx, domain, &got) == MTASTS_OK);
	mtasts_cache_entry_free(got);
	got = NULL;
	h0 = memo_hits(ctx);
	CHECK(load_rc(ctx, domain, &got) == MTASTS_OK);
	CHECKF(memo_hits(ctx) == h0 + 1, "%s: not served from the memo",
	    domain);
	mtasts_cache_entry_free(got);
}

static void
test_memo(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *e2, *neg, *a = NULL, *b = NULL;
	struct mtasts_ctx *ctx, *ctx2, *off;
	char dir[600], path[700], name[64], *json;
	size_t len, i;
	uint64_t h0;
	int64_t t0;
	int status, fd;
	pid_t pid;

	subdir(dir, sizeof(dir), "memo", 1);
	ctx = new_ctx(dir);
	ctx2 = new_ctx(dir);
	off = new_ctx(dir);
	CHECK(mtasts_ctx_set(off, "cache_memo", "off", &err) == MTASTS_OK);
	CHECK(mtasts_ctx_set(off, "cache_memo", "maybe", &err) ==
	    MTASTS_INVALID);
	e = entry_policy("memo.example");
	e2 = entry_policy("memo.example");
	mtasts_policy_free(e2->policy);
	e2->policy = policy("version: STSv1\nmode: testing\nmx: other.example"
			    "\nmax_age: 86400\n");
	mtasts_strlcpy(e2->id, "second", sizeof(e2->id));
	e2->expires_at = e2->fetched_at + 86400;
	neg = entry_negative("neg.example");
	t0 = mtasts_mono_ms();
	CHECK(mtasts_cache_store(ctx2, e, &err) == MTASTS_OK);
	/* A file changed within the last second is never memoised. */
	CHECK(load_rc(ctx, "memo.example", &a) == MTASTS_OK);
	mtasts_cache_entry_free(a);
	a = NULL;
	/* (Only meaningful if the load came within that second.) */
	CHECK(memo_entries(ctx) == 0 || mtasts_mono_ms() - t0 >= 900);
	CHECK(mtasts_cache_store(ctx2, neg, &err) == MTASTS_OK);
	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "gone%zu.example", i);
		mtasts_strlcpy(e->domain, name, sizeof(e->domain));
		CHECK(mtasts_cache_store(ctx2, e, &err) == MTASTS_OK);
	}
	for (i = 0; i < MEMO_MANY; i++) {
		snprintf(name, sizeof(name), "m%04zu.example", i);
		mtasts_strlcpy(neg->domain, name, sizeof(neg->domain));
		CHECK(mtasts_cache_store(ctx2, neg, &err) == MTASTS_OK);
	}
	mtasts_strlcpy(e->domain, "memo.example", sizeof(e->domain));
	mtasts_strlcpy(neg->domain, "neg.example", sizeof(neg->domain));

	usleep(MEMO_SETTLE_US);

	/*
	 * A hit is a private copy of the entry, identical to a full load;
	 * the parsed policy, immutable, is shared by reference (D-MEMO-4)
	 * and outlives any one holder.
	 */
	memo_warm(ctx, "memo.example");
	CHECK(load_rc(ctx, "memo.example", &a) == MTASTS_OK);
	CHECK(load_rc(ctx, "memo.example", &b) == MTASTS_OK);
	CHECK(a != NULL && b != NULL && a != b && a->policy == b->policy);
	if (a != NULL && b != NULL) {
		check_same(a, e);
		check_same(b, e);
		/* Scribbling on one copy does not reach the memo. */
		a->id[0] = 'X';
		a->fail_reason[0] = '\0';
	}
	mtasts_cache_entry_free(a);
	a = NULL;
	if (b != NULL)
		check_same(b, e);
	mtasts_cache_memo_free(ctx);	/* the memo lets go first */
	if (b != NULL)
		check_same(b, e);
	mtasts_cache_entry_free(b);
	b = NULL;
	memo_warm(ctx, "memo.example");
	CHECK(load_rc(ctx, "memo.example", &a) == MTASTS_OK);
	if (a != NULL)
		check_same(a, e);
	mtasts_cache_entry_free(a);
	a = NULL;
	memo_warm(ctx, "neg.example");
	CHECK(load_rc(ctx, "neg.example", &a) == MTASTS_OK);
	if (a != NULL)
		check_same(a, neg);
	mtasts_cache_entry_free(a);
	a = NULL;
	/* cache_memo = off: never served from a memo. */
	CHECK(load_rc(off, "memo.example", &a) == MTASTS_OK);
	mtasts_cache_entry_free(a);
	a = NULL;
	CHECK(load_rc(off, "memo.example", &a) == MTASTS_OK);
	mtasts_cache_entry_free(a);
	a = NULL;
	CHECK(memo_hits(off) == 0 && memo_entries(off) == 0);

	/*
	 * Another process (a forked child inheriting the warm context, as
	 * an Exim delivery does) replaces the entry: the parent's next load
	 * sees it. The child's inherited memo must see it as well.
	 */
	if ((pid = fork()) == 0) {
		struct mtasts_cache_entry *c = NULL;
		int bad = 0;

		bad |= load_rc(ctx, "memo.example", &c) != MTASTS_OK ||
		    strcmp(c->id, "20240101T000000") != 0;
		mtasts_cache_entry_free(c);
		c = NULL;
		bad |= mtasts_cache_store(ctx2, e2, NULL) != MTASTS_OK;
		bad |= load_rc(ctx, "memo.example", &c) != MTASTS_OK ||
		    strcmp(c->id, "second") != 0;
		mtasts_cache_entry_free(c);
		_exit(bad);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	h0 = memo_hits(ctx);
	CHECK(load_rc(ctx, "memo.example", &a) == MTASTS_OK);
	CHECK(memo_hits(ctx) == h0);
	if (a != NULL)
		check_same(a, e2);
	mtasts_cache_entry_free(a);
	a = NULL;

	/* A store through the same context: the next load reads it. */
	usleep(MEMO_SETTLE_US);
	memo_warm(ctx, "memo.example");
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	CHECK(load_rc(ctx, "memo.example", &a) == MTASTS_OK);
	if (a != NULL)
		check_same(a, e);
	mtasts_cache_entry_free(a);
	a = NULL;

	/*
	 * Changes made behind the library's back (no store, no remove: the
	 * shared counter is not bumped) are seen once the memo's trust
	 * window has passed (D-MEMO-4); until then the memo serves the
	 * entry it validated, never anything else.
	 */
	t0 = mtasts_mono_ms();
	memo_warm(ctx, "gone0.example");
	memo_warm(ctx, "gone1.example");
	memo_warm(ctx, "gone2.example");
	memo_warm(ctx, "gone3.example");
	/* Removed. */
	snprintf(path, sizeof(path), "%s/gone0.example.json", dir);
	CHECK(unlink(path) == 0);
	/* Replaced by garbage (rename). */
	put_file(dir, "gone1.example.json", "{\"format\": 1}", 13, 0660);
	/* Overwritten in place with garbage of the same size. */
	json = get_file(dir, "gone2.example.json", &len);
	CHECK(json != NULL && len > 10);
	if (json != NULL) {
		memset(json, ' ', len);
		json[0] = '[';
		snprintf(path, sizeof(path), "%s/gone2.example.json", dir);
		fd = open(path, O_WRONLY);
		CHECK(fd != -1 && write(fd, json, len) == (ssize_t)len);
		if (fd != -1)
			close(fd);
	}
	free(json);
	/* Replaced by a symbolic link to a good entry. */
	snprintf(path, sizeof(path), "%s/gone3.example.json", dir);
	CHECK(unlink(path) == 0 && symlink("gone4.example.json", path) == 0);
	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "gone%zu.example", i);
		h0 = memo_hits(ctx);
		/*
		 * A host so loaded that the window passed since the warm-up
		 * cannot show it: say so rather than assert the wrong thing.
		 */
		if (mtasts_mono_ms() - t0 >= 900) {
			fprintf(stderr, "test_memo: window check skipped for "
			    "%s (%lld ms since the warm-up)\n", name,
			    (long long)(mtasts_mono_ms() - t0));
			continue;
		}
		CHECK(load_rc(ctx, name, &a) == MTASTS_OK && a != NULL);
		CHECKF(memo_hits(ctx) == h0 + 1, "%s: within the window, "
		    "from the memo", name);
		if (a != NULL) {
			CHECKF(strcmp(a->domain, name) == 0, "%s", a->domain);
			mtasts_strlcpy(e->domain, name, sizeof(e->domain));
			check_same(a, e);
		}
		mtasts_cache_entry_free(a);
		a = NULL;
	}
	mtasts_strlcpy(e->domain, "memo.example", sizeof(e->domain));
	usleep(MEMO_TRUST_US);
	/* Then the file decides: NOTFOUND, UNUSABLE with a warning. */
	CHECK(load_rc(ctx, "gone0.example", &a) == MTASTS_NOTFOUND &&
	    a == NULL);
	warns = 0;
	CHECK(load_rc(ctx, "gone1.example", &a) == MTASTS_CACHE_UNUSABLE &&
	    a == NULL);
	CHECK(warns == 1);
	warns = 0;
	CHECK(load_rc(ctx, "gone2.example", &a) == MTASTS_CACHE_UNUSABLE &&
	    a == NULL);
	CHECK(warns == 1);
	warns = 0;
	CHECK(load_rc(ctx, "gone3.example", &a) == MTASTS_CACHE_UNUSABLE &&
	    a == NULL);
	CHECK(warns == 1);

	/*
	 * A world-writable directory is refused, warm memo or not, once
	 * the window has passed (what the memo serves until then was
	 * validated under the safe directory).
	 */
	memo_warm(ctx, "gone4.example");
	CHECK(chmod(dir, 02777) == 0);
	usleep(MEMO_TRUST_US);
	CHECK(load_rc(ctx, "gone4.example", &a) == MTASTS_ERROR && a == NULL);
	CHECK(chmod(dir, 02770) == 0);
	CHECK(load_rc(ctx, "gone4.example", &a) == MTASTS_OK);
	mtasts_cache_entry_free(a);
	a = NULL;
	h0 = memo_hits(ctx);
	CHECK(load_rc(ctx, "gone4.example", &a) == MTASTS_OK);
	mtasts_cache_entry_free(a);
	a = NULL;
	CHECK(memo_hits(ctx) == h0 + 1);
	/* ... and a directory that is gone is NOTFOUND. */
	snprintf(path, sizeof(path), "%s.moved", dir);
	CHECK(rename(dir, path) == 0);
	usleep(MEMO_TRUST_US);
	CHECK(load_rc(ctx, "gone4.example", &a) == MTASTS_NOTFOUND &&
	    a == NULL);
	CHECK(rename(path, dir) == 0);

	/* Bounded: more domains than the memo holds, all still right. */
	for (i = 0; i < MEMO_MANY; i++) {
		snprintf(name, sizeof(name), "m%04zu.example", i);
		CHECK(load_rc(ctx, name, &a) == MTASTS_OK && a != NULL &&
		    strcmp(a->domain, name) == 0);
		mtasts_cache_entry_free(a);
		a = NULL;
	}
	CHECKF(memo_entries(ctx) == 1024, "%zu", memo_entries(ctx));
	h0 = memo_hits(ctx);
	for (i = 0; i < MEMO_MANY; i++) {
		snprintf(name, sizeof(name), "m%04zu.example", i);
		CHECK(load_rc(ctx, name, &a) == MTASTS_OK && a != NULL &&
		    strcmp(a->domain, name) == 0);
		mtasts_cache_entry_free(a);
		a = NULL;
	}
	CHECK(memo_entries(ctx) == 1024);
	CHECKF(memo_hits(ctx) > h0 + 800, "%llu",
	    (unsigned long long)(memo_hits(ctx) - h0));
	mtasts_cache_entry_free(e);
	mtasts_cache_entry_free(e2);
	mtasts_cache_entry_free(neg);
	mtasts_ctx_free(ctx);
	mtasts_ctx_free(ctx2);
	mtasts_ctx_free(off);
}

/*
 * D-MEMO-4: the shared generation counter. A store or remove by another
 * context (another process) is seen by the very next load of a warm memo,
 * without waiting; a counter file that is not what we write turns the
 * fast path off (every load looks at the file again, as before).
 */
static void
test_memo_generation(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *e2, *a = NULL;
	struct mtasts_ctx *ctx, *ctx2, *ctx3;
	char dir[600], path[700];
	struct stat st;
	uint64_t h0;
	int status;
	pid_t pid;

	subdir(dir, sizeof(dir), "memogen", 1);
	ctx = new_ctx(dir);
	ctx2 = new_ctx(dir);
	e = entry_policy("gen.example");
	e2 = entry_policy("gen.example");
	mtasts_strlcpy(e2->id, "second", sizeof(e2->id));
	CHECK(mtasts_cache_store(ctx2, e, &err) == MTASTS_OK);
	mtasts_strlcpy(e->domain, "gen2.example", sizeof(e->domain));
	CHECK(mtasts_cache_store(ctx2, e, &err) == MTASTS_OK);
	mtasts_strlcpy(e->domain, "gen.example", sizeof(e->domain));
	snprintf(path, sizeof(path), "%s/.generation", dir);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size == 8 && (st.st_mode & 07777) == 0660);
	usleep(MEMO_SETTLE_US);
	memo_warm(ctx, "gen.example");
	memo_warm(ctx, "gen2.example");

	/* Replaced by a store in another process: seen at once. */
	if ((pid = fork()) == 0) {
		struct mtasts_ctx *c = new_ctx(dir);

		_exit(mtasts_cache_store(c, e2, NULL) != MTASTS_OK);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(load_rc(ctx, "gen.example", &a) == MTASTS_OK && a != NULL);
	if (a != NULL)
		check_same(a, e2);
	mtasts_cache_entry_free(a);
	a = NULL;
	/* Removed through the library in another process: NOTFOUND at once. */
	if ((pid = fork()) == 0) {
		struct mtasts_ctx *c = new_ctx(dir);

		_exit(mtasts_cache_remove(c, "gen2.example", NULL) !=
		    MTASTS_OK);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
	    WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(load_rc(ctx, "gen2.example", &a) == MTASTS_NOTFOUND &&
	    a == NULL);

	/*
	 * A counter file of the wrong size (someone else's file): no fast
	 * path for a new context, so a change made by hand is seen at once.
	 */
	CHECK(unlink(path) == 0);
	put_file(dir, ".generation", "0123456789", 10, 0660);
	ctx3 = new_ctx(dir);
	usleep(MEMO_SETTLE_US);
	memo_warm(ctx3, "gen.example");
	CHECK(mtasts_cache_store(ctx2, e, &err) == MTASTS_OK);
	snprintf(path, sizeof(path), "%s/gen.example.json", dir);
	CHECK(unlink(path) == 0);
	h0 = memo_hits(ctx3);
	CHECK(load_rc(ctx3, "gen.example", &a) == MTASTS_NOTFOUND &&
	    a == NULL);
	CHECK(memo_hits(ctx3) == h0);
	/* ... and stores do not touch a file that is not theirs. */
	snprintf(path, sizeof(path), "%s/.generation", dir);
	CHECK(lstat(path, &st) == 0 && st.st_size == 10);
	mtasts_cache_entry_free(e);
	mtasts_cache_entry_free(e2);
	mtasts_ctx_free(ctx);
	mtasts_ctx_free(ctx2);
	mtasts_ctx_free(ctx3);
}

/* D-CACHEFILE-1: load accepts exactly what store writes (issue 12 item 10). */
static void
test_codec_agree(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL;
	struct mtasts_ctx *ctx;
	char dir[600], *valid, *again;
	size_t len, len2;

	subdir(dir, sizeof(dir), "agree", 1);
	ctx = new_ctx(dir);
	e = entry_policy(DOM);
	/* Store rewrites a non-ASCII reason to '?' ... */
	mtasts_strlcpy(e->fail_reason, "caf\xc3\xa9 \x01 down",
	    sizeof(e->fail_reason));
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_cache_entry_free(e);
	CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_OK &&
	    got != NULL);
	if (got != NULL)
		CHECK_STR(got->fail_reason, "caf?? ? down");
	mtasts_cache_entry_free(got);
	valid = get_file(dir, DOM ".json", &len);
	CHECK(valid != NULL);
	if (valid == NULL)
		return;
	warns = 0;
	/* ... so load refuses one, as a file store cannot have written. */
	mutate(ctx, dir, valid, "fail", "reason", json_string("caf\xc3\xa9"),
	    "non-ASCII fail.reason");
	mutate(ctx, dir, valid, "fail", "reason", json_string("a\x7f"),
	    "DEL in fail.reason");
	/* An empty failure object: store leaves it out. */
	mutate(ctx, dir, valid, NULL, "fail", json_pack("{s:i,s:s,s:s,s:s}",
	    "at", 0, "id", "", "type", "", "reason", ""), "empty fail");
	/* The informational mx list must be the policy's. */
	mutate(ctx, dir, valid, NULL, "mx", json_pack("[s,s]",
	    "mail.example.com", "evil.example.org"), "mx not the policy's");
	mutate(ctx, dir, valid, NULL, "mx", json_pack("[s]",
	    "mail.example.com"), "mx shorter than the policy's");
	/* The file store wrote loads and stores back byte for byte. */
	put_file(dir, DOM ".json", valid, len, 0660);
	CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_OK);
	if (got != NULL) {
		CHECK(mtasts_cache_store(ctx, got, &err) == MTASTS_OK);
		again = get_file(dir, DOM ".json", &len2);
		CHECK(again != NULL && len2 == len &&
		    memcmp(again, valid, len) == 0);
		free(again);
	}
	mtasts_cache_entry_free(got);
	free(valid);
	mtasts_ctx_free(ctx);
}

/*
 * D-CACHE-10: what store writes is read by the fast decoder; valid JSON
 * in any other layout still loads (through jansson), equal.
 */
static void
test_codec_fast(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e, *got = NULL, fast;
	struct mtasts_ctx *ctx;
	json_error_t jerr;
	json_t *root;
	char dir[600], *valid, *other;
	size_t len;
	int i;

	subdir(dir, sizeof(dir), "fast", 1);
	ctx = new_ctx(dir);
	for (i = 0; i < 3; i++) {
		e = i != 1 ? entry_policy(DOM) : entry_negative(DOM);
		if (i == 2) {
			/* UTF-8 in an extension value: encode writes it raw. */
			mtasts_policy_free(e->policy);
			e->policy = policy(POLICY1 "ext: caf\xc3\xa9\r\n");
		}
		e->fail_at = BASE_T + 1;
		mtasts_strlcpy(e->fail_id, "abc", sizeof(e->fail_id));
		mtasts_strlcpy(e->fail_type, MTASTS_RT_STS_WEBPKI_INVALID,
		    sizeof(e->fail_type));
		mtasts_strlcpy(e->fail_reason, "a \"quoted\" \\ reason",
		    sizeof(e->fail_reason));
		CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
		valid = get_file(dir, DOM ".json", &len);
		CHECK(valid != NULL);
		if (valid == NULL) {
			mtasts_cache_entry_free(e);
			break;
		}
		memset(&fast, 0, sizeof(fast));
		CHECKF(mtasts_cache_decode_fast(DOM, valid, len, &fast) ==
		    MTASTS_OK, "store's file %d not taken by the fast decoder",
		    i);
		check_same(e, &fast);
		mtasts_policy_free(fast.policy);
		/* Sorted keys, no white space: jansson's, and equal. */
		root = json_loadb(valid, len, 0, &jerr);
		CHECK(root != NULL);
		other = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(root);
		CHECK(other != NULL);
		memset(&fast, 0, sizeof(fast));
		CHECK(mtasts_cache_decode_fast(DOM, other, strlen(other),
		    &fast) != MTASTS_OK);
		mtasts_policy_free(fast.policy);
		put_file(dir, DOM ".json", other, strlen(other), 0660);
		CHECK(mtasts_cache_load(ctx, DOM, &got, &err) == MTASTS_OK);
		if (got != NULL)
			check_same(e, got);
		mtasts_cache_entry_free(got);
		got = NULL;
		free(other);
		free(valid);
		mtasts_cache_entry_free(e);
	}
	mtasts_ctx_free(ctx);
}

/* Set a file's mtime `ago` seconds back. */
static void
age_file(const char *dir, const char *name, time_t ago)
{
	struct timespec ts[2];
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - ago;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	CHECK(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

static int
exists(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/*
 * D-FILE-1, D-PURGE-1: a hard-linked lock file is never chmod'ed; a purge
 * leaves no stale temp files and no lock files of domains without an
 * entry, and never breaks the mutual exclusion of the lock.
 */
static void
test_purge(void)
{
	struct mtasts_error err = { 0, "" };
	struct mtasts_cache_entry *e;
	struct mtasts_ctx *ctx;
	char dir[600], outside[700], lockp[800], marker[700];
	size_t ntmp = 99, nlock = 99;
	int fd = -1, fd2 = -1, i, status, bad = 0, purged = 0, st = 0;
	pid_t pids[5];
	struct stat sb;

	subdir(dir, sizeof(dir), "purge", 1);
	ctx = new_ctx(dir);

	/* A lock file that is a hard link to a file elsewhere (root is not
	 * stopped by fs.protected_hardlinks): refused, its mode unchanged. */
	snprintf(outside, sizeof(outside), "%s/outside.conf", topdir);
	put_file(topdir, "outside.conf", "x = 1\n", 6, 0644);
	snprintf(lockp, sizeof(lockp), "%s/.linked.example.lock", dir);
	CHECK(link(outside, lockp) == 0);
	CHECK(mtasts_cache_lock(ctx, "linked.example", 0, &fd, &err) ==
	    MTASTS_ERROR && fd == -1);
	CHECKF(stat(outside, &sb) == 0 && (sb.st_mode & 07777) == 0644,
	    "outside file mode now %o", (unsigned)(sb.st_mode & 07777));
	CHECK(unlink(lockp) == 0);
	/* A FIFO in its place: refused without blocking. */
	CHECK(mkfifo(lockp, 0660) == 0);
	CHECK(mtasts_cache_lock(ctx, "linked.example", 0, &fd, NULL) ==
	    MTASTS_ERROR);
	CHECK(unlink(lockp) == 0);

	/* What dead and finished processes leave behind. */
	e = entry_policy("kept.example");
	CHECK(mtasts_cache_store(ctx, e, &err) == MTASTS_OK);
	mtasts_cache_entry_free(e);
	CHECK(mtasts_cache_lock(ctx, "kept.example", 0, &fd, NULL) ==
	    MTASTS_OK);
	mtasts_cache_unlock(fd);
	CHECK(mtasts_cache_lock(ctx, "gone.example", 0, &fd, NULL) ==
	    MTASTS_OK);
	mtasts_cache_unlock(fd);
	CHECK(mtasts_cache_lock(ctx, "held.example", 0, &fd2, NULL) ==
	    MTASTS_OK);
	put_file(dir, ".#0123456789abcdef.lock", "", 0, 0660);
	put_file(dir, ".gone.example.json.4242.0badcafe.tmp", "{", 1, 0660);
	age_file(dir, ".gone.example.json.4242.0badcafe.tmp", 7200);
	put_file(dir, ".kept.example.json.4243.00c0ffee.tmp", "{", 1, 0660);
	put_file(dir, ".unrelated.tmp", "", 0, 0660);
	age_file(dir, ".unrelated.tmp", 7200);
	CHECK(mtasts_cache_purge_stale(ctx, &ntmp, &nlock, &err) ==
	    MTASTS_OK);
	CHECKF(ntmp == 1 && nlock == 2, "removed %zu temp, %zu lock files",
	    ntmp, nlock);
	CHECK(!exists(dir, ".gone.example.json.4242.0badcafe.tmp"));
	CHECK(exists(dir, ".kept.example.json.4243.00c0ffee.tmp"));
	CHECK(exists(dir, ".unrelated.tmp"));
	CHECK(!exists(dir, ".gone.example.lock"));
	CHECK(!exists(dir, ".#0123456789abcdef.lock"));
	CHECK(exists(dir, ".kept.example.lock"));
	CHECK(exists(dir, ".held.example.lock"));
	CHECK(exists(dir, "kept.example.json"));
	mtasts_cache_unlock(fd2);
	/* Once nobody holds it, the lock of a domain without entry goes. */
	CHECK(mtasts_cache_purge_stale(ctx, &ntmp, &nlock, &err) ==
	    MTASTS_OK && nlock == 1 && !exists(dir, ".held.example.lock"));
	/* A locker whose file was purged while it waited starts again. */
	CHECK(mtasts_cache_lock(ctx, "gone.example", 0, &fd, NULL) ==
	    MTASTS_OK);
	mtasts_cache_unlock(fd);

	/*
	 * Mutual exclusion under a purger: four lockers each take the lock
	 * of a domain without entry 300 times and create a marker file with
	 * O_EXCL while holding it; a fifth process purges all along.
	 */
	snprintf(marker, sizeof(marker), "%s/marker", topdir);
	fflush(stdout);
	fflush(stderr);
	for (i = 0; i < 5; i++) {
		if ((pids[i] = fork()) != 0)
			continue;
		if (i == 4) {
			size_t n = 0, total = 0;

			/* The purger: until the lockers are done. */
			while (!exists(topdir, "lockers-done")) {
				if (mtasts_cache_purge_stale(ctx, NULL, &n,
				    NULL) != MTASTS_OK)
					_exit(2);
				total += n;
			}
			_exit(total > 0 ? 0 : 3);
		} else {
			int k, v = 0, mfd;

			for (k = 0; k < 300; k++) {
				struct mtasts_error le = { 0, "" };

				if (mtasts_cache_lock(ctx, "race.example",
				    5000, &fd, &le) != MTASTS_OK) {
					fprintf(stderr, "locker: %s\n",
					    le.text);
					_exit(2);
				}
				mfd = open(marker, O_WRONLY | O_CREAT | O_EXCL,
				    0600);
				if (mfd == -1)
					v++;
				else
					close(mfd);
				usleep(100);
				if (mfd != -1)
					unlink(marker);
				mtasts_cache_unlock(fd);
			}
			_exit(v > 0 ? 1 : 0);
		}
	}
	for (i = 0; i < 4; i++) {
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "locker %d: status %#x\n", i, status);
			bad++;
		}
	}
	put_file(topdir, "lockers-done", "", 0, 0600);
	CHECK(waitpid(pids[4], &status, 0) == pids[4]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		purged = 1;
	else
		st = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	CHECKF(bad == 0, "%d lockers saw another holder", bad);
	CHECKF(purged, "the purger removed no lock file (exit %d)", st);
	mtasts_ctx_free(ctx);
}

static void
cleanup(void)
{
	char cmd[700];

	if (getenv("MTASTS_KEEP_TMP") != NULL || topdir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", topdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", topdir);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(topdir, sizeof(topdir), "%s/test_cache.XXXXXX",
	    tmp != NULL && tmp[0] == '/' ? tmp : "/tmp");
	if (mkdtemp(topdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_round_trip();
	test_store_invalid();
	test_long_domain();
	test_corrupt();
	test_modes();
	test_store_failure();
	test_concurrency();
	test_lock();
	test_foreach_remove();
	test_memo();
	test_memo_generation();
	test_codec_agree();
	test_codec_fast();
	test_purge();
	cleanup();
	return T_DONE();
}
