/* SPDX-License-Identifier: ISC */
/*
 * fakenet.h - a scripted network layer for lookup tests, installed
 * through the ctx->net seam (struct mtasts_netops, common/netops.c).
 *
 * Each context gets its own struct fakenet: what its resolver answers for
 * _mta-sts.<domain> and what its policy host serves. A hook runs inside
 * the DNS query, i.e. after the lookup read the cache and before it acts
 * on the answer: that is where a test lets another context (another
 * process, in real life) do its whole lookup, deterministically.
 *
 * Allocations go through malloc/calloc like the real layer's, and fail
 * like it does (MTASTS_NOMEM), so the allocation-failure test covers them.
 */
#ifndef MTASTS_FAKENET_H
#define MTASTS_FAKENET_H

#include <stdlib.h>
#include <string.h>

#include "internal/ctx.h"
#include "internal/dns.h"
#include "internal/fetch.h"
#include "internal/netops.h"
#include "internal/util.h"

enum fake_txt {
	FAKE_TXT_RECORD = 0,	/* one TXT RR with fakenet.txt */
	FAKE_TXT_NXDOMAIN,
	FAKE_TXT_SERVFAIL,
	FAKE_TXT_REFUSE		/* the resolver refuses (rc ERROR) */
};

struct fakenet {
	struct mtasts_ctx *ctx;
	int txt_kind;			/* enum fake_txt */
	char txt[256];
	const char *body;		/* served policy; NULL: HTTP 500 */
	int queries, fetches;
	char last_qname[300];
	void (*hook)(void *);		/* run inside the next DNS query */
	void *hook_arg;
};

#define FAKENET_MAX 8
static struct fakenet *fakenet_tab[FAKENET_MAX];

static struct fakenet *
fakenet_of(const struct mtasts_ctx *ctx)
{
	size_t i;

	for (i = 0; i < FAKENET_MAX; i++)
		if (fakenet_tab[i] != NULL && fakenet_tab[i]->ctx == ctx)
			return fakenet_tab[i];
	abort();
}

static int
fake_dns_query(struct mtasts_ctx *ctx, const char *qname, int rrtype,
    int deadline_ms, struct mtasts_dns_answer **out,
    struct mtasts_error *err)
{
	struct fakenet *f = fakenet_of(ctx);
	struct mtasts_dns_answer *a;
	void (*hook)(void *) = f->hook;
	size_t len;

	(void)rrtype;
	(void)deadline_ms;
	*out = NULL;
	f->queries++;
	mtasts_strlcpy(f->last_qname, qname, sizeof(f->last_qname));
	if (hook != NULL) {
		f->hook = NULL;
		hook(f->hook_arg);
	}
	if (f->txt_kind == FAKE_TXT_REFUSE || strlen(qname) > 253)
		return mtasts_err(err, MTASTS_ERROR, "name refused");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	switch (f->txt_kind) {
	case FAKE_TXT_NXDOMAIN:
		a->status = MTASTS_DNS_NXDOMAIN;
		break;
	case FAKE_TXT_SERVFAIL:
		a->status = MTASTS_DNS_TEMPFAIL;
		mtasts_strlcpy(a->why, "SERVFAIL", sizeof(a->why));
		break;
	default:
		len = strlen(f->txt);
		if (len > 255)
			abort();
		if ((a->rdata[0] = malloc(len + 1)) == NULL) {
			free(a);
			return mtasts_err(err, MTASTS_NOMEM, "out of memory");
		}
		a->rdata[0][0] = (unsigned char)len;
		memcpy(a->rdata[0] + 1, f->txt, len);
		a->rdlen[0] = len + 1;
		a->nrr = 1;
		a->status = MTASTS_DNS_ANSWER;
		break;
	}
	*out = a;
	return MTASTS_OK;
}

static void
fake_fetch_policy(struct mtasts_ctx *ctx, const char *domain,
    struct mtasts_fetch *res)
{
	struct fakenet *f = fakenet_of(ctx);
	size_t len;

	(void)domain;
	memset(res, 0, sizeof(*res));
	f->fetches++;
	if (f->body == NULL) {
		res->rc = MTASTS_TEMPFAIL;
		mtasts_strlcpy(res->result_type, MTASTS_RT_STS_FETCH_ERROR,
		    sizeof(res->result_type));
		mtasts_strlcpy(res->reason, "HTTP 500", sizeof(res->reason));
		res->http_status = 500;
		return;
	}
	len = strlen(f->body);
	if ((res->body = malloc(len + 1)) == NULL) {
		res->rc = MTASTS_NOMEM;
		mtasts_strlcpy(res->result_type, MTASTS_RT_STS_FETCH_ERROR,
		    sizeof(res->result_type));
		mtasts_strlcpy(res->reason, "out of memory",
		    sizeof(res->reason));
		return;
	}
	memcpy(res->body, f->body, len + 1);
	res->body_len = len;
	res->http_status = 200;
	res->rc = MTASTS_OK;
}

static void
fake_fetch_clear(struct mtasts_fetch *res)
{
	free(res->body);
	res->body = NULL;
}

static void
fake_release(struct mtasts_ctx *ctx)
{
	(void)ctx;
}

static const struct mtasts_netops fakenet_ops = {
	.abi = MTASTS_NETOPS_ABI,
	.ctx_size = sizeof(struct mtasts_ctx),
	.fetch_size = sizeof(struct mtasts_fetch),
	.answer_size = sizeof(struct mtasts_dns_answer),
	.dns_query = fake_dns_query,
	.dns_answer_free = mtasts_dns_answer_free,
	.dns_txt_decode = mtasts_dns_txt_decode,
	.dns_txt_free = mtasts_dns_txt_free,
	.fetch_policy = fake_fetch_policy,
	.fetch_clear = fake_fetch_clear,
	.release = fake_release,
	.cache_encode = mtasts_cache_encode,
	.cache_decode_json = mtasts_cache_decode_json,
};

/* Put f in front of ctx's network. */
static void
fakenet_attach(struct fakenet *f, struct mtasts_ctx *ctx)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->ctx = ctx;
	for (i = 0; i < FAKENET_MAX; i++)
		if (fakenet_tab[i] == NULL || fakenet_tab[i]->ctx == ctx) {
			fakenet_tab[i] = f;
			ctx->net = &fakenet_ops;
			return;
		}
	abort();
}

static void
fakenet_detach(struct fakenet *f)
{
	size_t i;

	for (i = 0; i < FAKENET_MAX; i++)
		if (fakenet_tab[i] == f)
			fakenet_tab[i] = NULL;
}

/* The resolver answers one TXT record "v=STSv1; id=<id>". */
static void
fakenet_txt_id(struct fakenet *f, const char *id)
{
	f->txt_kind = FAKE_TXT_RECORD;
	snprintf(f->txt, sizeof(f->txt), "v=STSv1; id=%s", id);
}

#endif
