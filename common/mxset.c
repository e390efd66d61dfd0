/* SPDX-License-Identifier: ISC */
/*
 * mxset.c - the MX set of a recipient domain, once for every MTA: the MX
 * records in preference order, RFC 5321 §5.1's implicit MX (no MX RRset:
 * the domain itself), RFC 7505's null MX (no mail at all), and which
 * hosts a policy allows (RFC 8461 §4.1, applied to the implicit MX too).
 *
 * mtasts_mxset_build() is pure (an MTA with its own resolver, the tests);
 * mtasts_mxset_resolve() asks the library's resolver and so belongs to the
 * network half (not linked into the Exim module).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtasts_internal.h"

struct mtasts_mxset {
	int kind;			/* enum mtasts_mxset_kind */
	char domain[MTASTS_DOMAIN_MAX + 1];
	size_t n;
	struct mtasts_dns_mx *mx;	/* n entries; NULL for a null MX */
};

void
mtasts_mxset_free(struct mtasts_mxset *s)
{
	if (s == NULL)
		return;
	free(s->mx);
	free(s);
}

int
mtasts_mxset_build(const char *domain, int mx_rc, const char *const *hosts,
    const unsigned *prefs, size_t n, struct mtasts_mxset **out,
    struct mtasts_error *err)
{
	struct mtasts_mxset *s = NULL;
	size_t i, j, len;
	int rc;

	*out = NULL;
	if (mx_rc != MTASTS_OK && mx_rc != MTASTS_NOTFOUND)
		return mx_rc;
	if (domain == NULL || (len = strlen(domain)) == 0 ||
	    len > MTASTS_DOMAIN_MAX || !mtasts_hostname_valid(domain, len))
		return mtasts_err(err, MTASTS_INVALID, "MX set: bad domain");
	if (n > MTASTS_DNS_RR_MAX)
		n = MTASTS_DNS_RR_MAX;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	memcpy(s->domain, domain, len + 1);
	if (mx_rc == MTASTS_NOTFOUND || n > 0) {
		if ((s->mx = calloc(n > 0 ? n : 1, sizeof(*s->mx))) == NULL) {
			rc = mtasts_err(err, MTASTS_NOMEM, "out of memory");
			goto err;
		}
	}
	if (mx_rc == MTASTS_NOTFOUND) {
		/* RFC 5321 §5.1: the domain is its own MX, preference 0. */
		s->kind = MTASTS_MXSET_IMPLICIT;
		memcpy(s->mx[0].name, domain, len + 1);
		s->n = 1;
	} else if (n == 0) {
		/* RFC 7505 §3: a single "." MX: the domain accepts no mail. */
		s->kind = MTASTS_MXSET_NULL;
	} else {
		s->kind = MTASTS_MXSET_LIST;
		for (i = 0; i < n; i++) {
			len = hosts[i] != NULL ? strlen(hosts[i]) : 0;
			if (len > 0 && hosts[i][len - 1] == '.')
				len--;
			if (len == 0 || len > MTASTS_DOMAIN_MAX ||
			    !mtasts_hostname_valid(hosts[i], len))
				continue;	/* unusable target: skipped */
			memcpy(s->mx[s->n].name, hosts[i], len);
			s->mx[s->n].name[len] = '\0';
			for (j = 0; j < len; j++)
				if (s->mx[s->n].name[j] >= 'A' &&
				    s->mx[s->n].name[j] <= 'Z')
					s->mx[s->n].name[j] += 'a' - 'A';
			s->mx[s->n].pref = prefs != NULL ? prefs[i] : 0;
			s->n++;
		}
		if (s->n == 0) {
			rc = mtasts_err(err, MTASTS_INVALID, "MX records exist "
			    "but none is a usable host name");
			goto err;
		}
	}
	*out = s;
	return MTASTS_OK;
err:
	mtasts_mxset_free(s);
	return rc;
}

int
mtasts_mxset_resolve(struct mtasts_ctx *ctx, const char *domain,
    int timeout_ms, struct mtasts_mxset **out, struct mtasts_error *err)
{
	struct mtasts_dns_mx *mx = NULL;
	struct mtasts_mxset *s;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (ctx == NULL || domain == NULL)
		return mtasts_err(err, MTASTS_ERROR, "MX set: no context");
	rc = mtasts_dns_mx(ctx, domain, timeout_ms > 0 ? timeout_ms :
	    ctx->cfg.dns_timeout_ms, &mx, &n, err);
	if (rc != MTASTS_OK && rc != MTASTS_NOTFOUND)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		free(mx);
		return mtasts_err(err, MTASTS_NOMEM, "out of memory");
	}
	mtasts_strlcpy(s->domain, domain, sizeof(s->domain));
	if (rc == MTASTS_NOTFOUND) {
		free(mx);
		if ((s->mx = calloc(1, sizeof(*s->mx))) == NULL) {
			free(s);
			return mtasts_err(err, MTASTS_NOMEM, "out of memory");
		}
		/* RFC 5321 §5.1: the domain is its own MX. */
		s->kind = MTASTS_MXSET_IMPLICIT;
		mtasts_strlcpy(s->mx[0].name, domain, sizeof(s->mx[0].name));
		s->n = 1;
	} else {
		/* dns.c answers a null MX (RFC 7505) as OK with n == 0. */
		s->kind = n > 0 ? MTASTS_MXSET_LIST : MTASTS_MXSET_NULL;
		s->mx = mx;
		s->n = n;
	}
	*out = s;
	return MTASTS_OK;
}

int
mtasts_mxset_kind(const struct mtasts_mxset *s)
{
	return s->kind;
}

size_t
mtasts_mxset_count(const struct mtasts_mxset *s)
{
	return s->n;
}

const char *
mtasts_mxset_host(const struct mtasts_mxset *s, size_t i)
{
	return i < s->n ? s->mx[i].name : NULL;
}

unsigned
mtasts_mxset_pref(const struct mtasts_mxset *s, size_t i)
{
	return i < s->n ? s->mx[i].pref : 0;
}

/* RFC 8461 §4.1: p NULL (no policy to apply) allows every host. */
static int
allowed(const struct mtasts_policy *p, const char *host)
{
	return p == NULL || mtasts_policy_mx_allowed(p, host, strlen(host));
}

size_t
mtasts_mxset_allowed(const struct mtasts_mxset *s,
    const struct mtasts_policy *p)
{
	size_t i, k = 0;

	for (i = 0; i < s->n; i++)
		k += allowed(p, s->mx[i].name) ? 1 : 0;
	return k;
}

const char *
mtasts_mxset_allowed_host(const struct mtasts_mxset *s,
    const struct mtasts_policy *p, size_t k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (allowed(p, s->mx[i].name) && k-- == 0)
			return s->mx[i].name;
	return NULL;
}

size_t
mtasts_mxset_explain(const struct mtasts_mxset *s,
    const struct mtasts_policy *p, char *why, size_t whysize)
{
	size_t k = mtasts_mxset_allowed(s, p);

	if (whysize > 0)
		why[0] = '\0';
	if (s->kind == MTASTS_MXSET_NULL)
		snprintf(why, whysize, "%s accepts no mail (null MX)",
		    s->domain);
	else if (k == 0)
		snprintf(why, whysize, "no MX of %s matches its MTA-STS policy",
		    s->domain);
	return k;
}

int
mtasts_mxset_addrs(struct mtasts_ctx *ctx, const char *host, int timeout_ms,
    char ips[][MTASTS_IP_TEXT_MAX], size_t max, size_t *n,
    struct mtasts_error *err)
{
	struct sockaddr_storage ss[MTASTS_MXSET_ADDRS_MAX];
	size_t i, got = 0;
	const void *a;
	int rc;

	*n = 0;
	if (ctx == NULL || host == NULL)
		return mtasts_err(err, MTASTS_ERROR, "MX set: no context");
	if (max > MTASTS_MXSET_ADDRS_MAX)
		max = MTASTS_MXSET_ADDRS_MAX;
	rc = mtasts_dns_addrs(ctx, host, 25, timeout_ms > 0 ? timeout_ms :
	    ctx->cfg.dns_timeout_ms, ss, max, &got, err);
	if (rc != MTASTS_OK)
		return rc;
	for (i = 0; i < got; i++) {
		a = ss[i].ss_family == AF_INET6 ?
		    (const void *)&((struct sockaddr_in6 *)&ss[i])->sin6_addr :
		    (const void *)&((struct sockaddr_in *)&ss[i])->sin_addr;
		if (inet_ntop(ss[i].ss_family, a, ips[*n],
		    MTASTS_IP_TEXT_MAX) != NULL)
			(*n)++;
	}
	return MTASTS_OK;
}
