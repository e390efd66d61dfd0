/* SPDX-License-Identifier: ISC */
/*
 * tlsrpt_txt.c - the `_smtp._tls` TXT record of RFC 8460 §3: strict
 * parser, the RRset selection rule, and the two rua URI forms we can
 * deliver to (mailto:, https:). Pure (ptr, len) functions, fuzzed. The
 * framing (bytes, version, delimiters, extensions) is taglist.c's.
 *
 *	tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field)
 *	                   [field-delim]
 *	field-delim      = *WSP ";" *WSP
 *	tlsrpt-field     = tlsrpt-rua / tlsrpt-extension
 *	tlsrpt-version   = %s"v=TLSRPTv1"
 *	tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *	tlsrpt-uri       = URI  ; commas, "!" and ";" MUST be %-encoded
 *	tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 *	tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *	tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * Decisions: docs/decisions.md D-RPT-1 .. D-RPT-3.
 */
#include <string.h>

#include "mtasts_internal.h"

#define RPT_VERSION "v=TLSRPTv1"

static int
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/*
 * RFC 3986 characters: unreserved / gen-delims / sub-delims / "%". RFC
 * 8460 §3 requires ",", "!" and ";" to be encoded inside a rua URI, so
 * they are not URI characters here.
 */
static int
is_uri_char(char c)
{
	if (mtasts_is_alnum(c))
		return 1;
	return strchr("-._~:/?#[]@$&'()*+=%", c) != NULL && c != '\0';
}

/* Scheme of an RFC 3986 URI (ALPHA *(ALPHA / DIGIT / "+-.")) ":"; 0 if none. */
static size_t
scheme_len(const char *u, size_t len)
{
	size_t i;

	if (len == 0 || !is_alpha(u[0]))
		return 0;
	for (i = 1; i < len && u[i] != ':'; i++)
		if (!mtasts_is_alnum(u[i]) && u[i] != '+' && u[i] != '-' &&
		    u[i] != '.')
			return 0;
	return i < len ? i : 0;
}

/* Syntax of one tlsrpt-uri u[0..len): a URI with valid %-escapes. */
static int
uri_valid(const char *u, size_t len)
{
	size_t i;

	if (scheme_len(u, len) == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_uri_char(u[i]))
			return 0;
		if (u[i] == '%' &&
		    (i + 2 >= len || mtasts_hexval(u[i + 1]) < 0 ||
			mtasts_hexval(u[i + 2]) < 0))
			return 0;
	}
	return 1;
}

/* dot-atom text characters of RFC 5322 §3.2.3, minus "!" "%" "/" "|". */
static int
is_local_char(char c)
{
	return mtasts_is_alnum(c) || (c != '\0' &&
	    strchr("#$&'*+-=?^_`{}~", c) != NULL);
}

int
mtasts_tlsrpt_mailto_addr(const char *uri, size_t len, char *out,
    size_t size)
{
	char buf[MTASTS_TLSRPT_URI_MAX + 1];
	size_t i, n = 0, at = 0, nat = 0;

	if (size > 0)
		out[0] = '\0';
	if (uri == NULL || len < 7 || !mtasts_ascii_caseeq(uri, 7,
	    "mailto:", 7))
		return -1;
	/* RFC 6068: to = addr-spec *("," addr-spec), hfields after "?". */
	for (i = 7; i < len && uri[i] != '?' && uri[i] != '#'; i++) {
		char c = uri[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len ||
			    (hi = mtasts_hexval(uri[i + 1])) < 0 ||
			    (lo = mtasts_hexval(uri[i + 2])) < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (n >= sizeof(buf) - 1)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	/*
	 * The address ends up in a To: header handed to sendmail, and the
	 * record is controlled by the recipient domain: accept only a
	 * dot-atom local part and an LDH host name (D-RPT-3). A list of
	 * several addresses (a decoded ",") is not accepted either.
	 */
	for (i = 0; i < n; i++)
		if (buf[i] == '@') {
			at = i;
			nat++;
		}
	if (nat != 1 || at == 0 || at > 64 || buf[0] == '.' ||
	    buf[at - 1] == '.')
		return -1;
	for (i = 0; i < at; i++)
		if (!is_local_char(buf[i]) && !(buf[i] == '.' &&
		    buf[i + 1] != '.'))
			return -1;
	if (!mtasts_hostname_valid(buf + at + 1, n - at - 1))
		return -1;
	if (mtasts_strlcpy(out, buf, size) >= size) {
		if (size > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

int
mtasts_tlsrpt_https_split(const char *uri, size_t len, char *host,
    size_t hostsize, unsigned *port, char *path, size_t pathsize)
{
	size_t i, hs, he, ps;
	uint64_t p = 443;

	if (hostsize > 0)
		host[0] = '\0';
	if (pathsize > 0)
		path[0] = '\0';
	*port = 0;
	if (uri == NULL || len < 8 || !mtasts_ascii_caseeq(uri, 8,
	    "https://", 8) || !uri_valid(uri, len))
		return -1;
	hs = 8;
	for (i = hs; i < len && uri[i] != '/' && uri[i] != '?' &&
	    uri[i] != '#'; i++)
		/* No userinfo: a report goes to a host, not an account. */
		if (uri[i] == '@')
			return -1;
	ps = i;
	if (hs < ps && uri[hs] == '[') {
		/* IP-literal: kept with its brackets stripped. */
		for (he = hs; he < ps && uri[he] != ']'; he++)
			;
		if (he == ps || he == hs + 1)
			return -1;
		if (he - hs - 1 >= hostsize)
			return -1;
		memcpy(host, uri + hs + 1, he - hs - 1);
		host[he - hs - 1] = '\0';
		for (i = 0; host[i] != '\0'; i++)
			if (!(mtasts_hexval(host[i]) >= 0 || host[i] == ':' ||
			    host[i] == '.'))
				return -1;
		he++;
	} else {
		for (he = hs; he < ps && uri[he] != ':'; he++)
			;
		if (he == hs || he - hs >= hostsize ||
		    !mtasts_hostname_valid(uri + hs, he - hs))
			return -1;
		memcpy(host, uri + hs, he - hs);
		host[he - hs] = '\0';
	}
	if (he < ps) {
		if (uri[he] != ':' || mtasts_parse_u64(uri + he + 1,
		    ps - he - 1, 65535, &p) != 0 || p == 0)
			goto bad;
	}
	/* The request target: path and query, never the fragment. */
	for (i = ps; i < len && uri[i] != '#'; i++)
		;
	if (i == ps) {
		if (pathsize < 2)
			goto bad;
		path[0] = '/';
		path[1] = '\0';
	} else {
		size_t off = uri[ps] == '/' ? 0 : 1;

		if (i - ps + off >= pathsize)
			goto bad;
		path[0] = '/';
		memcpy(path + off, uri + ps, i - ps);
		path[i - ps + off] = '\0';
	}
	*port = (unsigned)p;
	return 0;
bad:
	if (hostsize > 0)
		host[0] = '\0';
	if (pathsize > 0)
		path[0] = '\0';
	return -1;
}

/* 1 if the URI is one we can deliver a report to (§3: mailto, https). */
static int
uri_usable(const char *u, size_t len)
{
	char a[MTASTS_TLSRPT_URI_MAX + 1], path[MTASTS_TLSRPT_URI_MAX + 1];
	char host[MTASTS_DOMAIN_MAX + 1];
	unsigned port;

	if (len > MTASTS_TLSRPT_URI_MAX)
		return 0;
	if (mtasts_tlsrpt_mailto_addr(u, len, a, sizeof(a)) == 0)
		return 1;
	return mtasts_tlsrpt_https_split(u, len, host, sizeof(host), &port,
	    path, sizeof(path)) == 0;
}

/*
 * Parse the tlsrpt-rua value starting at rec[pos] (just after "rua=").
 * Stores usable URIs in out when keep is set. Returns the end position,
 * or 0 with err set.
 */
static size_t
parse_rua(const char *rec, size_t len, size_t pos, int keep,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	for (;;) {
		size_t s = pos, w;

		while (pos < len && !mtasts_is_wsp(rec[pos]) &&
		    rec[pos] != ',' && rec[pos] != ';')
			pos++;
		if (pos == s) {
			mtasts_err(err, MTASTS_INVALID,
			    "empty rua URI at offset %zu", s);
			return 0;
		}
		if (!uri_valid(rec + s, pos - s)) {
			mtasts_err(err, MTASTS_INVALID,
			    "invalid rua URI \"%.*s\" at offset %zu",
			    mtasts_taglist_qlen(pos - s), rec + s, s);
			return 0;
		}
		if (keep) {
			if (!uri_usable(rec + s, pos - s))
				out->nunsupported++;
			else if (out->nrua < MTASTS_TLSRPT_RUA_MAX) {
				memcpy(out->rua[out->nrua], rec + s, pos - s);
				out->rua[out->nrua][pos - s] = '\0';
				out->nrua++;
			} else
				out->nunsupported++;
		}
		for (w = pos; w < len && mtasts_is_wsp(rec[w]); w++)
			;
		if (w == len || rec[w] != ',')
			return pos;
		pos = w + 1;
		while (pos < len && mtasts_is_wsp(rec[pos]))
			pos++;
	}
}

int
mtasts_tlsrpt_txt_parse(const char *rec, size_t len,
    struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	struct mtasts_taglist tl;
	size_t pos, end;
	int have_rua = 0, r;

	memset(out, 0, sizeof(*out));
	if (mtasts_taglist_open(&tl, rec, len, RPT_VERSION, err) != MTASTS_OK)
		return MTASTS_INVALID;
	while ((r = mtasts_taglist_next(&tl, err)) == 1) {
		pos = tl.pos;
		if (len - pos >= 4 && memcmp(rec + pos, "rua=", 4) == 0) {
			/*
			 * D-RPT-2: the first rua counts; a repeated one
			 * must still be a valid rua and is ignored.
			 */
			end = parse_rua(rec, len, pos + 4, !have_rua, out,
			    err);
			have_rua = 1;
		} else
			end = mtasts_taglist_extension(&tl, pos, err);
		if (end == 0)
			goto fail;
		tl.pos = end;
	}
	if (r < 0)
		goto fail;
	if (!have_rua) {
		mtasts_err(err, MTASTS_INVALID, "no rua field");
		goto fail;
	}
	/* §3: only mailto and https are defined; nothing else is usable. */
	if (out->nrua == 0) {
		mtasts_err(err, MTASTS_INVALID,
		    "no mailto: or https: rua we can deliver to");
		goto fail;
	}
	return MTASTS_OK;
fail:
	memset(out, 0, sizeof(*out));
	return MTASTS_INVALID;
}

int
mtasts_tlsrpt_txt_select(const char *const *recs, const size_t *lens,
    size_t nrecs, struct mtasts_tlsrpt_txt *out, struct mtasts_error *err)
{
	size_t which;
	int rc;

	memset(out, 0, sizeof(*out));
	/*
	 * §3: "records that do not begin with 'v=TLSRPTv1;' are discarded".
	 * As for `_mta-sts` (D-TXT-2) WSP may come before the ';'
	 * (field-delim), so "v=TLSRPTv1 ;" is kept, "v=TLSRPTv10;" and a
	 * bare "v=TLSRPTv1" are not. §3: "If the number of resulting
	 * records is not one" there is none.
	 */
	if ((rc = mtasts_taglist_select(recs, lens, nrecs, RPT_VERSION,
	    "TLSRPT", &which, err)) != MTASTS_OK)
		return rc;
	return mtasts_tlsrpt_txt_parse(recs[which], lens[which], out, err);
}
