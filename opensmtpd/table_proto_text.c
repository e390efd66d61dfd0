/* SPDX-License-Identifier: ISC */
/*
 * table_proto_text.c - OpenSMTPD 7.x proc-table protocol 0.1: decode one
 * line from smtpd, encode the registration and the answers
 * (table_proto_text.h). Every field is matched against a grammar and a
 * size cap; the decoder keeps no pointer beyond the line it was given.
 */
#include <stdio.h>
#include <string.h>

#include "table_proto_text.h"

static void
why_set(char *why, size_t size, const char *msg)
{
	if (why != NULL && size > 0)
		snprintf(why, size, "%s", msg);
}

/* A field cursor over line[0..len). */
struct cur {
	const char *p;
	size_t n;
};

/*
 * The next '|'-separated field; with last, the rest of the line (which
 * may contain '|'). Returns 0 when there is no field left.
 */
static int
field(struct cur *c, const char **f, size_t *flen, int last)
{
	const char *bar;

	if (c->p == NULL)
		return 0;
	if (last || (bar = memchr(c->p, '|', c->n)) == NULL) {
		*f = c->p;
		*flen = c->n;
		c->p = NULL;
		c->n = 0;
		return 1;
	}
	*f = c->p;
	*flen = (size_t)(bar - c->p);
	c->n -= *flen + 1;
	c->p = bar + 1;
	return 1;
}

static int
is(const char *f, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(f, word, n) == 0;
}

static int
digits(const char *f, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (f[i] < '0' || f[i] > '9')
			return 0;
	return 1;
}

/* <sec>.<usec> as table_proc.c writes it ("%lld.%06ld"). */
static int
timestamp_ok(const char *f, size_t n)
{
	const char *dot = memchr(f, '.', n);

	if (dot == NULL)
		return 0;
	return digits(f, (size_t)(dot - f), MTASTS_TTEXT_SEC_DIGITS_MAX) &&
	    digits(dot + 1, n - (size_t)(dot - f) - 1,
	    MTASTS_TTEXT_USEC_DIGITS_MAX);
}

/* An id we may echo: 1..MTASTS_TTEXT_ID_MAX alphanumerics. */
static int
id_ok(const char *f, size_t n)
{
	size_t i;

	if (n == 0 || n > MTASTS_TTEXT_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((f[i] >= '0' && f[i] <= '9') ||
		    (f[i] >= 'a' && f[i] <= 'z') ||
		    (f[i] >= 'A' && f[i] <= 'Z')))
			return 0;
	return 1;
}

/* Printable ASCII without '|' (values and messages we write). */
static int
safe(const char *f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (f[i] < 0x21 || f[i] > 0x7e || f[i] == '|')
			return 0;
	return 1;
}

/* Like safe(), spaces allowed (smtpd-version, table names, messages). */
static int
text_ok(const char *f, size_t n, size_t max)
{
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++)
		if (f[i] < 0x20 || f[i] > 0x7e || f[i] == '|')
			return 0;
	return 1;
}

/* A config key: [a-z0-9-]+. */
static int
ckey_ok(const char *f, size_t n)
{
	size_t i;

	if (n == 0 || n > MTASTS_TTEXT_CKEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((f[i] >= 'a' && f[i] <= 'z') ||
		    (f[i] >= '0' && f[i] <= '9') || f[i] == '-'))
			return 0;
	return 1;
}

static int
config_line(struct mtasts_ttext *st, struct cur *c, char *why, size_t size)
{
	const char *k, *v;
	size_t kn, vn;

	if (st->ready) {
		why_set(why, size, "config line after config|ready");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(c, &k, &kn, 0) || !ckey_ok(k, kn)) {
		why_set(why, size, "malformed config key");
		return MTASTS_TTEXT_BAD;
	}
	if (is(k, kn, "ready")) {
		if (c->p != NULL) {
			why_set(why, size, "config|ready with a value");
			return MTASTS_TTEXT_BAD;
		}
		if (!st->have_protocol || !st->have_name ||
		    !st->have_version) {
			why_set(why, size, "config|ready before smtpd-version, "
			    "protocol and tablename");
			return MTASTS_TTEXT_BAD;
		}
		st->ready = 1;
		return MTASTS_TTEXT_READY;
	}
	/* Every other key has exactly one value (the rest of the line). */
	if (!field(c, &v, &vn, 1)) {
		why_set(why, size, "config key without a value");
		return MTASTS_TTEXT_BAD;
	}
	if (is(k, kn, "protocol")) {
		if (st->have_protocol) {
			why_set(why, size, "duplicate config|protocol");
			return MTASTS_TTEXT_BAD;
		}
		if (!is(v, vn, MTASTS_TTEXT_PROTOCOL)) {
			why_set(why, size, "unsupported table protocol version "
			    "(this table speaks " MTASTS_TTEXT_PROTOCOL ")");
			return MTASTS_TTEXT_BAD;
		}
		st->have_protocol = 1;
	} else if (is(k, kn, "smtpd-version")) {
		if (st->have_version ||
		    !text_ok(v, vn, MTASTS_TTEXT_VERSION_MAX)) {
			why_set(why, size, "duplicate or malformed "
			    "config|smtpd-version");
			return MTASTS_TTEXT_BAD;
		}
		memcpy(st->smtpd_version, v, vn);
		st->smtpd_version[vn] = '\0';
		st->have_version = 1;
	} else if (is(k, kn, "tablename")) {
		if (st->have_name || !text_ok(v, vn, MTASTS_TTEXT_NAME_MAX)) {
			why_set(why, size, "duplicate or malformed "
			    "config|tablename");
			return MTASTS_TTEXT_BAD;
		}
		memcpy(st->name, v, vn);
		st->name[vn] = '\0';
		st->have_name = 1;
	}
	/*
	 * Any other well-formed key is informational: ignored
	 * (D-OSMTPD-13; the protocol version above is what is checked).
	 */
	return MTASTS_TTEXT_CONFIG;
}

int
mtasts_ttext_line(struct mtasts_ttext *st, const char *line, size_t len,
    struct mtasts_timsg_req *req, const char **id, size_t *id_len,
    char *why, size_t size)
{
	struct cur c = { line, len };
	const char *f, *svc;
	size_t fn, svcn;

	memset(req, 0, sizeof(*req));
	*id = NULL;
	*id_len = 0;
	if (why != NULL && size > 0)
		why[0] = '\0';
	if (len > MTASTS_TTEXT_LINE_MAX) {
		why_set(why, size, "line too long");
		return MTASTS_TTEXT_BAD;
	}
	/* smtpd writes no NUL and no CR: either means a confused peer. */
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) !=
	    NULL) {
		why_set(why, size, "NUL or CR in a line");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, &f, &fn, 0)) {
		why_set(why, size, "empty line");
		return MTASTS_TTEXT_BAD;
	}
	if (is(f, fn, "config"))
		return config_line(st, &c, why, size);
	if (!is(f, fn, "table")) {
		why_set(why, size, "line is neither config| nor table|");
		return MTASTS_TTEXT_BAD;
	}
	if (!st->ready) {
		why_set(why, size, "request before config|ready");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, &f, &fn, 0) || !is(f, fn, MTASTS_TTEXT_PROTOCOL)) {
		why_set(why, size, "request of another protocol version");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, &f, &fn, 0) || !timestamp_ok(f, fn)) {
		why_set(why, size, "malformed request timestamp");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, &f, &fn, 0) || !is(f, fn, st->name)) {
		why_set(why, size, "request for another table name");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, &f, &fn, 0)) {
		why_set(why, size, "request without an operation");
		return MTASTS_TTEXT_BAD;
	}
	if (is(f, fn, "update")) {
		req->type = MTASTS_TIMSG_UPDATE;
		if (!field(&c, id, id_len, 0) || c.p != NULL ||
		    !id_ok(*id, *id_len)) {
			why_set(why, size, "malformed update request");
			return MTASTS_TTEXT_BAD;
		}
		return MTASTS_TTEXT_REQ;
	}
	if (is(f, fn, "check"))
		req->type = MTASTS_TIMSG_CHECK;
	else if (is(f, fn, "lookup"))
		req->type = MTASTS_TIMSG_LOOKUP;
	else if (is(f, fn, "fetch"))
		req->type = MTASTS_TIMSG_FETCH;
	else {
		why_set(why, size, "unknown operation");
		return MTASTS_TTEXT_BAD;
	}
	/* Only the services registered (mtasts_ttext_register). */
	if (!field(&c, &svc, &svcn, 0)) {
		why_set(why, size, "request without a service");
		return MTASTS_TTEXT_BAD;
	}
	if (is(svc, svcn, "domain"))
		req->service = MTASTS_TSVC_DOMAIN;
	else if (is(svc, svcn, "relayhost"))
		req->service = MTASTS_TSVC_RELAYHOST;
	else {
		why_set(why, size, "request for a service not registered");
		return MTASTS_TTEXT_BAD;
	}
	if (!field(&c, id, id_len, req->type == MTASTS_TIMSG_FETCH) ||
	    !id_ok(*id, *id_len)) {
		*id = NULL;
		*id_len = 0;
		why_set(why, size, "malformed request id");
		return MTASTS_TTEXT_BAD;
	}
	if (req->type == MTASTS_TIMSG_FETCH)
		return MTASTS_TTEXT_REQ;
	/* The key: the rest of the line, '|' included. */
	if (!field(&c, &f, &fn, 1)) {
		why_set(why, size, "request without a key");
		return MTASTS_TTEXT_BAD;
	}
	if (fn > MTASTS_TTEXT_KEY_MAX) {
		why_set(why, size, "key too long");
		return MTASTS_TTEXT_BAD;
	}
	req->str = f;
	req->str_len = fn;
	return MTASTS_TTEXT_REQ;
}

size_t
mtasts_ttext_register(char *out, size_t size)
{
	static const char reg[] = "register|domain\nregister|relayhost\n"
	    "register|ready\n";

	if (size < sizeof(reg))
		return 0;
	memcpy(out, reg, sizeof(reg));
	return sizeof(reg) - 1;
}

size_t
mtasts_ttext_reply(char *out, size_t size, unsigned type, const char *id,
    size_t id_len, int r, const char *value, const char *msg)
{
	const char *op;
	int n;

	switch (type) {
	case MTASTS_TIMSG_UPDATE:
		op = "update";
		break;
	case MTASTS_TIMSG_CHECK:
		op = "check";
		break;
	case MTASTS_TIMSG_LOOKUP:
		op = "lookup";
		break;
	case MTASTS_TIMSG_FETCH:
		op = "fetch";
		break;
	default:
		return 0;
	}
	if (!id_ok(id, id_len))
		return 0;
	if (msg == NULL)
		msg = "temporary failure";
	if (r < 0) {
		if (!text_ok(msg, strlen(msg), MTASTS_TTEXT_REPLY_MAX / 2))
			return 0;
		n = snprintf(out, size, "%s-result|%.*s|error|%s\n", op,
		    (int)id_len, id, msg);
	} else if (type == MTASTS_TIMSG_UPDATE)
		n = snprintf(out, size, "update-result|%.*s|%s\n",
		    (int)id_len, id, r > 0 ? "ok" : "error|not reloaded");
	else if (r == 0)
		n = snprintf(out, size, "%s-result|%.*s|not-found\n", op,
		    (int)id_len, id);
	else if (type == MTASTS_TIMSG_CHECK)
		n = snprintf(out, size, "check-result|%.*s|found\n",
		    (int)id_len, id);
	else {
		if (value == NULL || value[0] == '\0' ||
		    strlen(value) > MTASTS_TTEXT_REPLY_MAX / 2 ||
		    !safe(value, strlen(value)))
			return 0;
		n = snprintf(out, size, "%s-result|%.*s|found|%s\n", op,
		    (int)id_len, id, value);
	}
	if (n < 0 || (size_t)n >= size || (size_t)n > MTASTS_TTEXT_REPLY_MAX)
		return 0;
	return (size_t)n;
}
