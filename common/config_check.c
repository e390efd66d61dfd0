/* SPDX-License-Identifier: ISC */
/*
 * config_check.c - the load-time check of a configuration (decisions.md
 * D-CONF-1..4): every file and directory the deciding path needs exists
 * and is usable, so that a typo in mtasts.conf is a configuration error
 * (the CLI exits 2, the MTA adapters defer) and never a silent "no
 * policy".
 *
 * This file is in the light half of the core (the Exim module links it
 * without OpenSSL and libunbound, D-LAZYNET-1), so the checks are textual:
 * a strict PEM scan of CA bundles, OpenSSL's hash-link names in a CA
 * directory, a zone-file scan of the DNSSEC trust anchor. The network half
 * still loads the CA store with OpenSSL and turns a failure there into a
 * configuration error as well (fetch.c, D-CONF-5).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtasts_internal.h"

/* Shortest base64 body of a certificate block (a DER cert is >> 96 B). */
#define PEM_CERT_B64_MIN 128
/* Certificate blocks of a bundle whose base64 is checked in full. */
#define PEM_STRICT_BLOCKS 4
/* Hash-link files of a CA directory opened before giving up. */
#define CA_DIR_PROBE_MAX 16
/* Tokens of one trust anchor record (rdata split over several). */
#define TA_TOKENS_MAX 64
/* Shortest DS digest (SHA-1, hex) and DNSKEY public key (base64). */
#define TA_DS_HEX_MIN 40
#define TA_KEY_B64_MIN 16

static int
fail(char *why, size_t size, const char *fmt, ...) MTASTS_PRINTF(3, 4);

static int
fail(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, size, fmt, ap) < 0 && size > 0)
		why[0] = '\0';
	va_end(ap);
	return -1;
}

/*
 * Read a regular file of at most max bytes into *out (malloc'd). A FIFO
 * or device never blocks us (O_NONBLOCK, then S_ISREG). 0, or -1 with why
 * and *eno (the open(2) errno, else 0).
 */
static int
slurp(const char *path, size_t max, char **out, size_t *len, int *eno,
    char *why, size_t size)
{
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	ssize_t n = 0;
	int fd;

	*out = NULL;
	*len = 0;
	*eno = 0;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1) {
		*eno = errno;
		return fail(why, size, "%s", strerror(errno));
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(why, size, "not a regular file");
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return fail(why, size, "larger than %zu bytes", max);
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return fail(why, size, "out of memory");
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (n == -1) {
		int e = errno;

		close(fd);
		free(buf);
		return fail(why, size, "read: %s", strerror(e));
	}
	close(fd);
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
}

/* The next line of buf[*pos..len), without "\n" or "\r\n". */
static int
next_line(const char *buf, size_t len, size_t *pos, const char **lp,
    size_t *ll)
{
	const char *p, *nl;
	size_t n;

	if (*pos >= len)
		return 0;
	p = buf + *pos;
	nl = memchr(p, '\n', len - *pos);
	n = nl != NULL ? (size_t)(nl - p) : len - *pos;
	*pos += n + (nl != NULL);
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' ||
	    p[n - 1] == '\t'))
		n--;
	*lp = p;
	*ll = n;
	return 1;
}

static int
eq(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int
is_b64(char c)
{
	return mtasts_is_alnum(c) || c == '+' || c == '/';
}

/* 1 for the characters of base64 (RFC 4648 §4) without the padding. */
static const unsigned char b64_class[256] = {
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
	['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
	['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
	['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
	['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
	['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['+'] = 1, ['/'] = 1,
};

/* RFC 7468 labels whose blocks OpenSSL loads as trusted certificates. */
static int
pem_cert_label(const char *p, size_t n)
{
	return eq(p, n, "CERTIFICATE") || eq(p, n, "TRUSTED CERTIFICATE") ||
	    eq(p, n, "X509 CERTIFICATE");
}

/*
 * Scan buf for PEM blocks (RFC 7468, strict): "-----BEGIN L-----", lines
 * of base64, "-----END L-----" with the same label. Certificate blocks
 * must carry a DER SEQUENCE ("MI...") of a plausible size with correct
 * padding; other blocks (CRLs, keys) are skipped but must be closed.
 */
static int
pem_scan(const char *buf, size_t len, size_t *ncerts, char *why,
    size_t size)
{
	const char *l, *label = NULL;
	size_t ll, pos = 0, lablen = 0, b64 = 0, pad = 0;
	int lineno = 0, start = 0, cert = 0;

	*ncerts = 0;
	if (memchr(buf, '\0', len) != NULL)
		return fail(why, size, "binary data (DER?), not PEM text");
	while (next_line(buf, len, &pos, &l, &ll)) {
		lineno++;
		if (label == NULL) {
			if (ll < 16 || memcmp(l, "-----BEGIN ", 11) != 0)
				continue;	/* text between blocks */
			if (memcmp(l + ll - 5, "-----", 5) != 0)
				return fail(why, size, "line %d: malformed "
				    "BEGIN line", lineno);
			label = l + 11;
			lablen = ll - 16;
			cert = pem_cert_label(label, lablen);
			b64 = pad = 0;
			start = lineno;
			continue;
		}
		if (ll >= 9 && memcmp(l, "-----END ", 9) == 0) {
			if (ll != lablen + 14 ||
			    memcmp(l + 9, label, lablen) != 0 ||
			    memcmp(l + ll - 5, "-----", 5) != 0)
				return fail(why, size, "line %d: END does not "
				    "match the BEGIN of line %d", lineno,
				    start);
			if (cert) {
				if (b64 < PEM_CERT_B64_MIN ||
				    (b64 + pad) % 4 != 0)
					return fail(why, size, "line %d: "
					    "certificate block of line %d is "
					    "truncated", lineno, start);
				(*ncerts)++;
			}
			label = NULL;
			continue;
		}
		/*
		 * The base64 of the first PEM_STRICT_BLOCKS certificates is
		 * checked character by character; of the others only the
		 * structure (a 200 KB system bundle is read by every Exim
		 * delivery process; OpenSSL's own load catches the rest,
		 * D-CONF-5).
		 */
		if (!cert || *ncerts >= PEM_STRICT_BLOCKS) {
			if (cert && b64 == 0 && ll > 0)
				b64 = PEM_CERT_B64_MIN;
			continue;
		}
		if (ll > 0 && b64 == 0 && l[0] != 'M')
			return fail(why, size, "line %d: certificate block of "
			    "line %d is not DER", lineno, start);
		{
			/* Local copies: the hot loop of a 200 KB bundle. */
			const unsigned char *q = (const unsigned char *)l;
			size_t k, body = ll;

			while (body > 0 && q[body - 1] == '=')
				body--;
			if (pad > 0 && ll > 0)
				return fail(why, size, "line %d: base64 after "
				    "the padding", lineno);
			for (k = 0; k < body; k++)
				if (!b64_class[q[k]])
					return fail(why, size, "line %d: not "
					    "base64 in the certificate block "
					    "of line %d", lineno, start);
			b64 += body;
			pad += ll - body;
			if (pad > 2)
				return fail(why, size, "line %d: bad base64 "
				    "padding", lineno);
		}
	}
	if (label != NULL)
		return fail(why, size, "block of line %d has no END line",
		    start);
	if (*ncerts == 0)
		return fail(why, size, "no PEM certificate (-----BEGIN "
		    "CERTIFICATE-----) in the file");
	return 0;
}

int
mtasts_check_pem_file(const char *path, size_t *ncerts, char *why,
    size_t size)
{
	char *buf;
	size_t len;
	int eno, rc;

	*ncerts = 0;
	if (slurp(path, MTASTS_CA_FILE_MAX, &buf, &len, &eno, why, size) != 0)
		return -1;
	rc = pem_scan(buf, len, ncerts, why, size);
	free(buf);
	return rc;
}

/* OpenSSL's by-hash names: 8 lower-case hex digits, ".", a number. */
static int
hash_name(const char *n)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (!((n[i] >= '0' && n[i] <= '9') ||
		    (n[i] >= 'a' && n[i] <= 'f')))
			return 0;
	if (n[8] != '.' || n[9] == '\0')
		return 0;
	for (i = 9; n[i] != '\0'; i++)
		if (n[i] < '0' || n[i] > '9')
			return 0;
	return 1;
}

int
mtasts_check_ca_dir(const char *path, size_t *nlinks, char *why,
    size_t size)
{
	char file[MTASTS_PATH_MAX + 300], last[MTASTS_REASON_MAX] = "";
	struct dirent *de;
	DIR *d;
	size_t probed = 0, n;
	int good = 0;

	*nlinks = 0;
	if ((d = opendir(path)) == NULL)
		return fail(why, size, "%s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (!hash_name(de->d_name))
			continue;
		(*nlinks)++;
		if (good || probed >= CA_DIR_PROBE_MAX)
			continue;
		probed++;
		if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
		    de->d_name) >= sizeof(file))
			continue;
		if (mtasts_check_pem_file(file, &n, last, sizeof(last)) == 0)
			good = 1;
	}
	closedir(d);
	if (*nlinks == 0)
		return fail(why, size, "no certificate hash links "
		    "(<hash>.0): run \"openssl rehash\" on it");
	if (!good)
		return fail(why, size, "none of %zu hash link(s) probed is a "
		    "PEM certificate (%s)", probed, last);
	return 0;
}

/* ---- DNSSEC trust anchor (zone-file syntax, DS and DNSKEY only) ---- */

struct tok {
	const char *p;
	size_t n;
};

static int
tok_num(const struct tok *t, uint64_t max, uint64_t *v)
{
	return mtasts_parse_u64(t->p, t->n, max, v);
}

static int
tok_caseeq(const struct tok *t, const char *s)
{
	return mtasts_ascii_caseeq(t->p, t->n, s, strlen(s));
}

/* One record of ntok tokens; the reason names line. */
static int
ta_record(const struct tok *t, size_t ntok, int owner_given, int line,
    char *why, size_t size)
{
	uint64_t a, b, c;
	size_t i = owner_given ? 1 : 0, k, chars = 0;
	int ds;

	if (ntok > 0 && t[0].p[0] == '$') {
		if (tok_caseeq(&t[0], "$TTL") || tok_caseeq(&t[0], "$ORIGIN"))
			return 0;
		return fail(why, size, "line %d: unknown directive", line);
	}
	/* [TTL] [class], in either order (RFC 1035 §5.1) */
	for (k = 0; k < 2 && i < ntok; k++) {
		if (tok_num(&t[i], UINT32_MAX, &a) == 0 ||
		    tok_caseeq(&t[i], "IN"))
			i++;
	}
	if (i >= ntok)
		return fail(why, size, "line %d: not a DS or DNSKEY record "
		    "(\"<owner> [TTL] [IN] DS|DNSKEY <rdata>\")", line);
	if (tok_caseeq(&t[i], "DS"))
		ds = 1;
	else if (tok_caseeq(&t[i], "DNSKEY"))
		ds = 0;
	else
		return fail(why, size, "line %d: \"%.*s\": only DS and DNSKEY "
		    "records are trust anchors", line,
		    (int)(t[i].n > 20 ? 20 : t[i].n), t[i].p);
	i++;
	if (ntok - i < 4 || tok_num(&t[i], 65535, &a) != 0 ||
	    tok_num(&t[i + 1], 255, &b) != 0 ||
	    tok_num(&t[i + 2], 255, &c) != 0)
		return fail(why, size, "line %d: malformed %s record", line,
		    ds ? "DS" : "DNSKEY");
	if (!ds && (!(a & 0x100) || b != 3))
		return fail(why, size, "line %d: DNSKEY is not a zone key "
		    "(flags %llu, protocol %llu)", line,
		    (unsigned long long)a, (unsigned long long)b);
	for (i += 3; i < ntok; i++)
		for (k = 0; k < t[i].n; k++) {
			char ch = t[i].p[k];

			if (ds ? !((ch >= '0' && ch <= '9') ||
			    (ch >= 'a' && ch <= 'f') ||
			    (ch >= 'A' && ch <= 'F')) :
			    !(is_b64(ch) || ch == '='))
				return fail(why, size, "line %d: %s is not "
				    "%s", line, ds ? "DS digest" :
				    "DNSKEY key", ds ? "hex" : "base64");
			chars++;
		}
	if (ds ? chars < TA_DS_HEX_MIN || chars % 2 != 0 :
	    chars < TA_KEY_B64_MIN || chars % 4 != 0)
		return fail(why, size, "line %d: %s too short or truncated",
		    line, ds ? "DS digest" : "DNSKEY key");
	return 1;
}

int
mtasts_check_trust_anchor(const char *path, size_t *nanchors,
    int *errno_out, char *why, size_t size)
{
	struct tok t[TA_TOKENS_MAX];
	const char *l;
	char *buf;
	size_t len, ll, pos = 0, ntok = 0, i;
	int lineno = 0, depth = 0, rec_line = 0, owner = 0, r;

	*nanchors = 0;
	if (slurp(path, MTASTS_TA_FILE_MAX, &buf, &len, errno_out, why,
	    size) != 0)
		return -1;
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		return fail(why, size, "binary data, not a zone file");
	}
	while (next_line(buf, len, &pos, &l, &ll)) {
		lineno++;
		if (depth == 0) {
			ntok = 0;
			rec_line = lineno;
			owner = ll > 0 && l[0] != ' ' && l[0] != '\t';
		}
		for (i = 0; i < ll; ) {
			char ch = l[i];

			if (ch == ';')
				break;
			if (ch == ' ' || ch == '\t') {
				i++;
				continue;
			}
			if (ch == '(' || ch == ')') {
				depth += ch == '(' ? 1 : -1;
				if (depth < 0 || depth > 1) {
					free(buf);
					return fail(why, size, "line %d: "
					    "unbalanced parentheses", lineno);
				}
				i++;
				continue;
			}
			if (ch == '"' || (unsigned char)ch < 0x20) {
				free(buf);
				return fail(why, size, "line %d: unexpected "
				    "character", lineno);
			}
			if (ntok == TA_TOKENS_MAX) {
				free(buf);
				return fail(why, size, "line %d: record too "
				    "long", lineno);
			}
			t[ntok].p = l + i;
			while (i < ll && l[i] != ' ' && l[i] != '\t' &&
			    l[i] != ';' && l[i] != '(' && l[i] != ')')
				i++;
			t[ntok].n = (size_t)(l + i - t[ntok].p);
			ntok++;
		}
		if (depth > 0 || ntok == 0)
			continue;
		if ((r = ta_record(t, ntok, owner, rec_line, why, size)) < 0) {
			free(buf);
			return -1;
		}
		*nanchors += (size_t)r;
	}
	free(buf);
	if (depth != 0)
		return fail(why, size, "unbalanced parentheses at the end");
	if (*nanchors == 0)
		return fail(why, size, "no DS or DNSKEY record in the file");
	return 0;
}

/* ---- the check of a whole configuration ---- */

void
mtasts_conf_where(const struct mtasts_ctx *ctx, int key, char *buf,
    size_t size)
{
	if (key >= 0 && key < MTASTS_CK_COUNT && ctx->conf_line[key] > 0)
		snprintf(buf, size, "%s:%d: ", ctx->last_config_file,
		    ctx->conf_line[key]);
	else if (size > 0)
		buf[0] = '\0';
}

static int
check_fail(const struct mtasts_ctx *ctx, int key, struct mtasts_error *err,
    const char *path, const char *why)
{
	char w[MTASTS_PATH_MAX + 16];

	mtasts_conf_where(ctx, key, w, sizeof(w));
	return mtasts_err(err, MTASTS_ERROR, "%s%s: %.100s%s: %s", w,
	    mtasts_conf_key_name(key), path,
	    ctx->conf_line[key] == MTASTS_CONF_DEFAULT ? " (default)" : "",
	    why);
}

int
mtasts_config_check(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	const struct mtasts_config *c = &ctx->cfg;
	struct mtasts_error e = { 0, "" };
	char why[MTASTS_REASON_MAX];
	const char *dir;
	struct stat st;
	size_t n;
	int eno, exists, key;

	/* D-CONF-2: a CA store that names nothing would fail every fetch. */
	if (c->ca_file[0] != '\0' &&
	    mtasts_check_pem_file(c->ca_file, &n, why, sizeof(why)) != 0)
		return check_fail(ctx, MTASTS_CK_CA_FILE, err, c->ca_file,
		    why);
	if (c->ca_path[0] != '\0' &&
	    mtasts_check_ca_dir(c->ca_path, &n, why, sizeof(why)) != 0)
		return check_fail(ctx, MTASTS_CK_CA_PATH, err, c->ca_path,
		    why);
	/*
	 * D-CONF-3: the trust anchor whenever validation can be on. Under
	 * auto a missing file means "validation off"; a file that exists
	 * must be readable and parse.
	 */
	if (c->dnssec != 0 && mtasts_check_trust_anchor(c->trust_anchor_file,
	    &n, &eno, why, sizeof(why)) != 0 &&
	    !(c->dnssec == -1 && eno == ENOENT)) {
		key = ctx->conf_line[MTASTS_CK_TRUST_ANCHOR_FILE] ==
		    MTASTS_CONF_DEFAULT && ctx->conf_line[MTASTS_CK_DNSSEC] >
		    0 ? MTASTS_CK_DNSSEC : MTASTS_CK_TRUST_ANCHOR_FILE;
		if (key == MTASTS_CK_DNSSEC) {
			char w[MTASTS_PATH_MAX + 16];

			mtasts_conf_where(ctx, key, w, sizeof(w));
			return mtasts_err(err, MTASTS_ERROR, "%sdnssec = %s: "
			    "trust_anchor_file %.100s (default): %s", w,
			    c->dnssec == 1 ? "on" : "auto",
			    c->trust_anchor_file, why);
		}
		return check_fail(ctx, key, err, c->trust_anchor_file, why);
	}
	/*
	 * D-CONF-4: the cache directory, with cache.c's own rules. One that
	 * was named must exist: a typo would silently start an empty cache
	 * and drop every cached policy. The default is made on first use.
	 */
	if (mtasts_cache_dir_check(ctx, 0,
	    ctx->conf_line[MTASTS_CK_CACHE_DIR] != MTASTS_CONF_DEFAULT,
	    &exists, &e) != MTASTS_OK) {
		char w[MTASTS_PATH_MAX + 16];

		mtasts_conf_where(ctx, MTASTS_CK_CACHE_DIR, w, sizeof(w));
		return mtasts_err(err, MTASTS_ERROR, "%scache_dir: %s%s", w,
		    e.text, ctx->conf_line[MTASTS_CK_CACHE_DIR] ==
		    MTASTS_CONF_DEFAULT ? " (default)" : "");
	}
	/*
	 * The TLS-RPT spool is made (mkdir -p) by the first recorded
	 * session: only a path that can never be a directory is refused.
	 */
	dir = mtasts_tlsrpt_dir(ctx);
	if (stat(dir, &st) == 0 ? !S_ISDIR(st.st_mode) : errno == ENOTDIR)
		return check_fail(ctx, MTASTS_CK_TLSRPT_DIR, err, dir,
		    "not a directory");
	ctx->conf_checked = 1;
	return MTASTS_OK;
}

int
mtasts_ctx_finalize(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	struct mtasts_error e = { 0, "" };
	int rc;

	if (ctx->finalized)
		return MTASTS_OK;
	if (!ctx->conf_checked &&
	    (rc = mtasts_config_check(ctx, &e)) != MTASTS_OK)
		return mtasts_err(err, rc, "configuration: %s", e.text);
	ctx->finalized = 1;
	return MTASTS_OK;
}
