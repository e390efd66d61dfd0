/* SPDX-License-Identifier: ISC */
/*
 * fuzz_table_text.c - libFuzzer target for the OpenSMTPD 7.x proc-table
 * text protocol 0.1 parser (opensmtpd/table_proto_text.c, compiled in here
 * because the fuzz build only builds the core). The input is a byte stream
 * as the table reads it from smtpd, split into lines exactly as
 * table-mtasts's text loop does. Oracles: every verdict is in range; the
 * handshake completes at most once and only with protocol 0.1; a decoded
 * key and id lie inside their line; the id is safe to echo; every answer
 * encodes as exactly one line that starts with "<op>-result|<id>|" and
 * never contains the key; a violation ends the stream (fail-stop).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../opensmtpd/table_proto_text.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_answer(const struct mtasts_timsg_req *q, const char *id, size_t idlen,
    int r, const char *value)
{
	char out[MTASTS_TTEXT_REPLY_MAX];
	static const char *const ops[] = { NULL, NULL, NULL, NULL, "update",
		"check", "lookup", "fetch" };
	char want[MTASTS_TTEXT_REPLY_MAX];
	const char *nl;
	size_t n;

	if (q->type < MTASTS_TIMSG_UPDATE || q->type > MTASTS_TIMSG_FETCH)
		abort();
	/* want = "<op>-result|" "|<result>\n", the id goes between. */
	snprintf(want, sizeof(want), "%s-result||%s%s\n", ops[q->type],
	    r < 0 ? "error|temporary failure" :
	    q->type == MTASTS_TIMSG_UPDATE ?
	    (r > 0 ? "ok" : "error|not reloaded") :
	    r == 0 ? "not-found" : q->type == MTASTS_TIMSG_CHECK ?
	    "found" : "found|", r > 0 && q->type != MTASTS_TIMSG_UPDATE &&
	    q->type != MTASTS_TIMSG_CHECK ? value : "");
	n = mtasts_ttext_reply(out, sizeof(out), q->type, id, idlen, r, value,
	    NULL);
	if (n == 0 || n >= sizeof(out) || out[n - 1] != '\n')
		abort();
	if ((nl = memchr(out, '\n', n)) != out + n - 1)
		abort();
	if (memchr(out, '\0', n) != NULL || memchr(out, '\r', n) != NULL)
		abort();
	nl = memchr(out, '|', n);
	if (nl == NULL || memcmp(nl + 1, id, idlen) != 0 ||
	    nl[1 + idlen] != '|')
		abort();
	/* The whole line is fixed words, the id and our value: no key. */
	if (n != strlen(want) + idlen || memcmp(out, want,
	    (size_t)(nl + 1 - out)) != 0 || strcmp(out + (nl + 1 - out) +
	    idlen, want + (nl + 1 - out)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_ttext st;
	struct mtasts_timsg_req q;
	const char *line, *id, *nl;
	char why[160];
	size_t off = 0, len, idlen, i;
	int v, readies = 0;

	memset(&st, 0, sizeof(st));
	while (off < size && (nl = memchr(data + off, '\n', size - off)) !=
	    NULL) {
		line = (const char *)data + off;
		len = (size_t)(nl - line);
		v = mtasts_ttext_line(&st, line, len, &q, &id, &idlen, why,
		    sizeof(why));
		if (v < MTASTS_TTEXT_CONFIG || v > MTASTS_TTEXT_BAD)
			abort();
		if (memchr(why, '\0', sizeof(why)) == NULL)
			abort();
		if (v == MTASTS_TTEXT_BAD) {
			if (why[0] == '\0')
				abort();	/* every refusal says why */
			break;
		}
		if (v == MTASTS_TTEXT_READY) {
			if (++readies > 1 || !st.ready ||
			    strlen(st.name) == 0 || !st.have_protocol)
				abort();
		}
		if (v == MTASTS_TTEXT_REQ) {
			if (!st.ready || id == NULL || id < line ||
			    id + idlen > line + len || idlen == 0 ||
			    idlen > MTASTS_TTEXT_ID_MAX)
				abort();
			for (i = 0; i < idlen; i++)
				if (id[i] == '|' || id[i] == '\n')
					abort();
			if (q.str != NULL && (q.str < line ||
			    q.str + q.str_len > line + len ||
			    q.str_len > MTASTS_TTEXT_KEY_MAX))
				abort();
			if (q.type != MTASTS_TIMSG_UPDATE &&
			    q.service != MTASTS_TSVC_DOMAIN &&
			    q.service != MTASTS_TSVC_RELAYHOST)
				abort();
			check_answer(&q, id, idlen, -1, NULL);
			check_answer(&q, id, idlen, 0, NULL);
			check_answer(&q, id, idlen, 1,
			    "smtp+tls://mx1.example.net");
			/* A value that could inject is refused. */
			if (q.type == MTASTS_TIMSG_LOOKUP &&
			    mtasts_ttext_reply(why, sizeof(why), q.type, id,
			    idlen, 1, "x|found", NULL) != 0)
				abort();
		}
		off += len + 1;
	}
	return 0;
}
