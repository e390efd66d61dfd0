/* SPDX-License-Identifier: ISC */
/*
 * net.c - deadline-bounded TCP connections and client TLS over them, for
 * the policy fetch (fetch.c), the SMTP STARTTLS probe (probe.c) and the
 * TLS-RPT HTTPS POST (report.c).
 *
 * All of it runs inside a host MTA's delivery process, so:
 * - every wait is a poll() bounded by one deadline (a mtasts_mono_ms()
 *   time): a slow or silent peer cannot hold the caller past it;
 * - OpenSSL never touches the socket. The SSL object talks to one half of
 *   a BIO pair; this file moves bytes between the other half and the
 *   non-blocking socket, and writes with send(..., MSG_NOSIGNAL). So no
 *   write can raise SIGPIPE in the host MTA (whose own TLS library may be
 *   GnuTLS), and no signal handler or signal mask is ever touched.
 *   A custom BIO_METHOD would do the same with fewer lines, but each one
 *   takes a process-wide BIO_get_new_index() that is never given back
 *   (OpenSSL 3.0 counts past 255 into the type flag bits), and a shared
 *   one would be global state: the BIO pair needs neither.
 *
 * Connections are raced over a host's addresses the RFC 8305 way
 * (mtasts_conn_race(), D-NET-3): a dead first address costs one attempt
 * delay, not the deadline.
 *
 * Also here: the X509 verification result as an RFC 8460 result type,
 * and the text forms of addresses and certificate names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "mtasts_internal.h"

/* Bytes moved between the socket and the BIO pair per call. */
#define NET_IO_CHUNK 16384

/* X509_V_ERR_* names for the reasons we report. */
static const struct {
	long code;
	const char *name;
} x509_names[] = {
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
	    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT" },
	{ X509_V_ERR_CERT_SIGNATURE_FAILURE,
	    "X509_V_ERR_CERT_SIGNATURE_FAILURE" },
	{ X509_V_ERR_CERT_NOT_YET_VALID, "X509_V_ERR_CERT_NOT_YET_VALID" },
	{ X509_V_ERR_CERT_HAS_EXPIRED, "X509_V_ERR_CERT_HAS_EXPIRED" },
	{ X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
	    "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT" },
	{ X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
	    "X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN" },
	{ X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
	    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY" },
	{ X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE,
	    "X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
	{ X509_V_ERR_CERT_CHAIN_TOO_LONG, "X509_V_ERR_CERT_CHAIN_TOO_LONG" },
	{ X509_V_ERR_CERT_REVOKED, "X509_V_ERR_CERT_REVOKED" },
	{ X509_V_ERR_INVALID_CA, "X509_V_ERR_INVALID_CA" },
	{ X509_V_ERR_PATH_LENGTH_EXCEEDED, "X509_V_ERR_PATH_LENGTH_EXCEEDED" },
	{ X509_V_ERR_INVALID_PURPOSE, "X509_V_ERR_INVALID_PURPOSE" },
	{ X509_V_ERR_CERT_UNTRUSTED, "X509_V_ERR_CERT_UNTRUSTED" },
	{ X509_V_ERR_CERT_REJECTED, "X509_V_ERR_CERT_REJECTED" },
	{ X509_V_ERR_HOSTNAME_MISMATCH, "X509_V_ERR_HOSTNAME_MISMATCH" },
	{ X509_V_ERR_EE_KEY_TOO_SMALL, "X509_V_ERR_EE_KEY_TOO_SMALL" },
	{ X509_V_ERR_CA_KEY_TOO_SMALL, "X509_V_ERR_CA_KEY_TOO_SMALL" },
	{ X509_V_ERR_CA_MD_TOO_WEAK, "X509_V_ERR_CA_MD_TOO_WEAK" },
	{ X509_V_ERR_INVALID_EXTENSION, "X509_V_ERR_INVALID_EXTENSION" },
	{ X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION,
	    "X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD,
	    "X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD" },
	{ X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
	    "X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD" },
};

/* ---- addresses and display text ---- */

void
mtasts_addr_text(const struct sockaddr_storage *sa, char *out, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	const void *a;
	int port;

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		a = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if (inet_ntop(sa->ss_family, a, ip, sizeof(ip)) == NULL)
		mtasts_strlcpy(ip, "?", sizeof(ip));
	snprintf(out, size, sa->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
	    ip, port);
}

void
mtasts_printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, o = 0;

	if (size == 0)
		return;
	for (i = 0; i < len && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)src[i];

		dst[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	dst[o] = '\0';
}

/* ---- the connection ---- */

void
mtasts_conn_init(struct mtasts_conn *c, int64_t deadline_ms_mono)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->deadline = deadline_ms_mono;
}

void
mtasts_conn_close(struct mtasts_conn *c)
{
	if (c == NULL)
		return;
	SSL_free(c->ssl);		/* and our inner half of the pair */
	c->ssl = NULL;
	BIO_free(c->net);
	c->net = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int
mtasts_conn_wait(struct mtasts_conn *c, short events)
{
	struct pollfd p;
	int64_t rem;
	int r;

	for (;;) {
		if ((rem = c->deadline - mtasts_mono_ms()) <= 0) {
			c->timed_out = 1;
			mtasts_strlcpy(c->why, "timed out", sizeof(c->why));
			return -1;
		}
		p.fd = c->fd;
		p.events = events;
		p.revents = 0;
		r = poll(&p, 1, rem > INT_MAX ? INT_MAX : (int)rem);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (p.revents & POLLNVAL) != 0) {
			snprintf(c->why, sizeof(c->why), "poll: %s",
			    strerror(r < 0 ? errno : EBADF));
			return -1;
		}
		if (r > 0)
			return 0;
	}
}

/*
 * Start a non-blocking connect to sa: returns the socket with *e 0 when
 * connected at once, EINPROGRESS when pending, -1 with *e the error.
 */
static int
connect_start(const struct sockaddr_storage *sa, int *e)
{
	socklen_t slen;
	int fd;

	if (sa->ss_family != AF_INET && sa->ss_family != AF_INET6) {
		*e = EAFNOSUPPORT;
		return -1;
	}
	slen = sa->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*e = errno;
		return -1;
	}
	/*
	 * The TLS Finished and the request are two small writes: without
	 * TCP_NODELAY, Nagle holds the request until the server's delayed
	 * ACK (40 ms on Linux). Failure to set it only costs latency.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
	    sizeof(int));
	if (connect(fd, (const struct sockaddr *)sa, slen) == 0) {
		*e = 0;
		return fd;
	}
	if (errno == EINPROGRESS) {
		*e = EINPROGRESS;
		return fd;
	}
	*e = errno;
	close(fd);
	return -1;
}

/*
 * RFC 8305 §4 order of the addresses still to try: the first family
 * first (the resolver's preference: AAAA before A), then the families
 * alternate, each in its own order. Returns how many went into order[].
 */
static size_t
race_order(const struct sockaddr_storage *addrs, size_t n, const int *err,
    size_t *order)
{
	size_t fam[2][MTASTS_ADDRS_MAX], nf[2] = { 0, 0 }, k = 0, i, j;
	int first = -1;

	for (i = 0; i < n && i < MTASTS_ADDRS_MAX; i++) {
		if (err[i] != MTASTS_RACE_UNTRIED)
			continue;
		if (first < 0)
			first = addrs[i].ss_family;
		j = addrs[i].ss_family == first ? 0 : 1;
		fam[j][nf[j]++] = i;
	}
	for (i = 0; i < nf[0] || i < nf[1]; i++)
		for (j = 0; j < 2; j++)
			if (i < nf[j])
				order[k++] = fam[j][i];
	return k;
}

void
mtasts_race_begin(struct mtasts_race *rc, struct mtasts_conn *c,
    const struct sockaddr_storage *addrs, size_t n, int *err)
{
	memset(rc, 0, sizeof(*rc));
	if (n > MTASTS_ADDRS_MAX)
		n = MTASTS_ADDRS_MAX;
	rc->addrs = addrs;
	rc->err = err;
	rc->norder = race_order(addrs, n, err, rc->order);
	rc->winner = rc->last = -1;
	c->why[0] = '\0';
	c->timed_out = 0;
}

/* The race is over: close the losers, say why when nobody won. */
static int
race_finish(struct mtasts_race *rc, struct mtasts_conn *c)
{
	size_t i;

	for (i = 0; i < rc->npend; i++) {
		close(rc->pfd[i].fd);
		if (rc->winner >= 0)
			rc->err[rc->idx[i]] = MTASTS_RACE_UNTRIED;
	}
	rc->npend = 0;
	if (rc->winner >= 0) {
		rc->err[rc->winner] = 0;
		c->why[0] = '\0';
		c->timed_out = 0;
		return 1;
	}
	if (c->why[0] == '\0') {
		if (rc->last >= 0)
			mtasts_strlcpy(c->why, strerror(rc->err[rc->last]),
			    sizeof(c->why));
		else
			mtasts_strlcpy(c->why, "no address to try",
			    sizeof(c->why));
	}
	c->race_last = rc->last;
	return 1;
}

int
mtasts_race_step(struct mtasts_race *rc, struct mtasts_conn *c,
    int64_t *wake)
{
	int64_t now;
	size_t i;
	int fd, e;
	socklen_t slen;

	if (rc->poll_errno != 0) {
		snprintf(c->why, sizeof(c->why), "poll: %s",
		    strerror(rc->poll_errno));
		for (i = 0; i < rc->npend; i++)
			rc->err[rc->idx[i]] = rc->poll_errno;
		for (i = 0; i < rc->npend; i++)
			close(rc->pfd[i].fd);
		rc->npend = 0;
		return race_finish(rc, c);
	}
	/* What the last poll() saw. */
	for (i = 0; i < rc->npend; ) {
		if (rc->pfd[i].revents == 0) {
			i++;
			continue;
		}
		e = 0;
		slen = sizeof(e);
		if (getsockopt(rc->pfd[i].fd, SOL_SOCKET, SO_ERROR, &e,
		    &slen) != 0)
			e = errno;
		else if (e == 0 && (rc->pfd[i].revents & POLLOUT) == 0)
			e = ECONNRESET;	/* POLLHUP, no error */
		if (e == 0) {
			/* First to complete wins (§5). */
			c->fd = rc->pfd[i].fd;
			rc->winner = (int)rc->idx[i];
			rc->pfd[i] = rc->pfd[--rc->npend];
			rc->idx[i] = rc->idx[rc->npend];
			return race_finish(rc, c);
		}
		rc->err[rc->idx[i]] = e;
		rc->last = (int)rc->idx[i];
		close(rc->pfd[i].fd);
		rc->pfd[i] = rc->pfd[--rc->npend];
		rc->idx[i] = rc->idx[rc->npend];
		/* A failure starts the next attempt at once. */
		rc->start_next = 0;
	}
	for (;;) {
		if (rc->next >= rc->norder && rc->npend == 0)
			return race_finish(rc, c);
		now = mtasts_mono_ms();
		if (now >= c->deadline) {
			c->timed_out = 1;
			mtasts_strlcpy(c->why, "timed out", sizeof(c->why));
			/* Name the first attempt still pending. */
			for (i = 0; i < rc->next; i++)
				if (rc->err[rc->order[i]] ==
				    MTASTS_RACE_UNTRIED) {
					rc->last = (int)rc->order[i];
					break;
				}
			for (i = 0; i < rc->npend; i++)
				rc->err[rc->idx[i]] = ETIMEDOUT;
			return race_finish(rc, c);
		}
		/* §5: the next attempt when the delay is up or none pend. */
		if (rc->next < rc->norder &&
		    (rc->npend == 0 || now >= rc->start_next)) {
			i = rc->order[rc->next++];
			fd = connect_start(&rc->addrs[i], &e);
			if (e == 0) {
				c->fd = fd;
				rc->winner = (int)i;
				return race_finish(rc, c);
			}
			if (fd < 0) {
				rc->err[i] = e;
				rc->last = (int)i;
				continue;
			}
			rc->pfd[rc->npend].fd = fd;
			rc->pfd[rc->npend].events = POLLOUT;
			rc->pfd[rc->npend].revents = 0;
			rc->idx[rc->npend++] = i;
			rc->start_next = now + MTASTS_RACE_DELAY_MS;
			continue;
		}
		*wake = c->deadline;
		if (rc->next < rc->norder && rc->start_next < *wake)
			*wake = rc->start_next;
		for (i = 0; i < rc->npend; i++)
			rc->pfd[i].revents = 0;
		return 0;
	}
}

int
mtasts_conn_race(struct mtasts_conn *c, const struct sockaddr_storage *addrs,
    size_t n, int *err)
{
	struct mtasts_race rc;
	int64_t wake = 0, wait;
	int r;

	mtasts_race_begin(&rc, c, addrs, n, err);
	while (mtasts_race_step(&rc, c, &wake) == 0) {
		wait = wake - mtasts_mono_ms();
		if (wait < 0)
			wait = 0;
		r = poll(rc.pfd, rc.npend, wait > INT_MAX ? INT_MAX :
		    (int)wait);
		if (r < 0 && errno != EINTR)
			rc.poll_errno = errno;
	}
	return rc.winner;
}

int
mtasts_conn_connect(struct mtasts_conn *c, const struct sockaddr_storage *sa)
{
	int err = MTASTS_RACE_UNTRIED;

	return mtasts_conn_race(c, sa, 1, &err) >= 0 ? 0 : -1;
}

int
mtasts_conn_send(struct mtasts_conn *c, const void *buf, size_t len)
{
	const char *s = buf;
	size_t off = 0;
	ssize_t w;

	while (off < len) {
		w = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (mtasts_conn_wait(c, POLLOUT) != 0)
				return -1;
			continue;
		}
		snprintf(c->why, sizeof(c->why), "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

ssize_t
mtasts_conn_recv(struct mtasts_conn *c, void *buf, size_t size)
{
	ssize_t n;

	for (;;) {
		if (mtasts_conn_wait(c, POLLIN) != 0)
			return -1;
		n = recv(c->fd, buf, size, 0);
		if (n > 0)
			return n;
		if (n == 0) {
			c->eof = 1;
			return 0;
		}
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		snprintf(c->why, sizeof(c->why), "recv: %s", strerror(errno));
		return -1;
	}
}

const char *
mtasts_tls_reason(void)
{
	const char *s;
	unsigned long e;

	if ((e = ERR_peek_last_error()) == 0)
		return "unknown TLS error";
	if ((s = ERR_reason_error_string(e)) == NULL)
		return "unknown TLS error";
	return s;
}

const char *
mtasts_conn_why(const struct mtasts_conn *c)
{
	if (c->timed_out)
		return "timed out";
	if (c->why[0] != '\0')
		return c->why;
	return mtasts_tls_reason();
}

/* ---- TLS over the connection ---- */

static const char *
system_file(void)
{
	const char *f = getenv(X509_get_default_cert_file_env());

	return f != NULL && f[0] != '\0' ? f : X509_get_default_cert_file();
}

const char *
mtasts_tls_system_dir(void)
{
	const char *d = getenv(X509_get_default_cert_dir_env());

	return d != NULL && d[0] != '\0' ? d : X509_get_default_cert_dir();
}

/* Some directory of the (colon-separated) system list has a hash link. */
static int
system_dir_ok(void)
{
	const char *d = mtasts_tls_system_dir(), *e;
	char one[MTASTS_PATH_MAX], why[MTASTS_REASON_MAX];
	size_t n, links;

	while (*d != '\0') {
		e = strchr(d, ':');
		n = e != NULL ? (size_t)(e - d) : strlen(d);
		if (n > 0 && n < sizeof(one)) {
			memcpy(one, d, n);
			one[n] = '\0';
			if (mtasts_check_ca_dir(one, &links, why,
			    sizeof(why)) == 0)
				return 1;
		}
		d += n + (e != NULL);
	}
	return 0;
}

int
mtasts_tls_system_dir_used(const struct mtasts_config *cfg)
{
	const char *f = getenv(X509_get_default_cert_file_env());

	/* An explicit bundle (SSL_CERT_FILE, "" as unset: system_file()). */
	return cfg->ca_file[0] == '\0' && cfg->ca_path[0] == '\0' &&
	    (f == NULL || f[0] == '\0') && system_dir_ok();
}

size_t
mtasts_tls_ca_count(struct ssl_ctx_st *sctx)
{
	STACK_OF(X509_OBJECT) *objs;
	X509_STORE *store;
	size_t n = 0;
	int i;

	if (sctx == NULL || (store = SSL_CTX_get_cert_store(sctx)) == NULL ||
	    (objs = X509_STORE_get0_objects(store)) == NULL)
		return 0;
	for (i = 0; i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) ==
		    X509_LU_X509)
			n++;
	return n;
}

struct ssl_ctx_st *
mtasts_tls_client_ctx(const struct mtasts_config *cfg, int verify_peer,
    char *why, size_t size)
{
	SSL_CTX *sctx = NULL;

	ERR_clear_error();
	if (OPENSSL_init_ssl(0, NULL) != 1 ||
	    (sctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(why, size, "TLS setup failed: %s",
		    mtasts_tls_reason());
		goto err;
	}
	/* RFC 8461 §7.2 and RFC 7525: TLS 1.2 or later only. */
	if (SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION) != 1) {
		snprintf(why, size, "TLS setup failed: %s",
		    mtasts_tls_reason());
		goto err;
	}
	SSL_CTX_set_verify(sctx, verify_peer ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	/* Each connection stands alone: no TLS session reuse either. */
	SSL_CTX_set_session_cache_mode(sctx, SSL_SESS_CACHE_OFF);
	if (cfg->ca_file[0] != '\0' || cfg->ca_path[0] != '\0') {
		if (SSL_CTX_load_verify_locations(sctx,
		    cfg->ca_file[0] != '\0' ? cfg->ca_file : NULL,
		    cfg->ca_path[0] != '\0' ? cfg->ca_path : NULL) != 1) {
			snprintf(why, size,
			    "cannot load CA certificates from %.60s%.60s",
			    cfg->ca_file, cfg->ca_path);
			goto err;
		}
	} else if (mtasts_tls_system_dir_used(cfg)) {
		/*
		 * D-NET-7: the system store by its hashed directory, each
		 * issuer read when a chain needs it, not the whole bundle
		 * file (~19 ms for Debian's 144 CAs in every fresh process).
		 */
		if (SSL_CTX_load_verify_locations(sctx, NULL,
		    mtasts_tls_system_dir()) != 1) {
			snprintf(why, size, "cannot use the system CA "
			    "directory %.100s", mtasts_tls_system_dir());
			goto err;
		}
	} else if (SSL_CTX_set_default_verify_paths(sctx) != 1) {
		snprintf(why, size, "cannot load the system CA certificates");
		goto err;
	} else if (mtasts_tls_ca_count(sctx) == 0 && !system_dir_ok()) {
		/*
		 * D-CONF-5: OpenSSL accepts a missing system store, and every
		 * fetch would then fail as if the policy hosts were at fault.
		 */
		snprintf(why, size, "no CA certificates in the system store "
		    "(%s, %s): install ca-certificates or set ca_file",
		    system_file(), mtasts_tls_system_dir());
		goto err;
	}
	return sctx;
err:
	SSL_CTX_free(sctx);
	ERR_clear_error();
	return NULL;
}

int
mtasts_conn_tls_start(struct mtasts_conn *c, struct ssl_ctx_st *sctx,
    const char *host, int peer)
{
	BIO *inner = NULL;
	char sni[MTASTS_DOMAIN_MAX + 1];
	unsigned char ip[sizeof(struct in6_addr)];
	unsigned flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
	int rc = -1;

	ERR_clear_error();
	if ((c->ssl = SSL_new(sctx)) == NULL ||
	    BIO_new_bio_pair(&inner, 0, &c->net, 0) != 1)
		goto done;
	SSL_set_bio(c->ssl, inner, inner);
	inner = NULL;
	SSL_set_connect_state(c->ssl);
	if (peer == MTASTS_TLS_PEER_URI_HOST &&
	    (inet_pton(AF_INET, host, ip) == 1 ||
	    inet_pton(AF_INET6, host, ip) == 1)) {
		/* An IP literal: iPAddress SAN, and no SNI (RFC 6066 §3). */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    host) == 1)
			rc = 0;
		goto done;
	}
	/* (a writable copy: the OpenSSL macro casts away const) */
	if (mtasts_strlcpy(sni, host, sizeof(sni)) >= sizeof(sni) ||
	    SSL_set_tlsext_host_name(c->ssl, sni) != 1 ||
	    SSL_set1_host(c->ssl, host) != 1)
		goto done;
	/*
	 * RFC 6125 DNS-ID: a wildcard only as the whole left-most label.
	 * RFC 8461 §3.3 and §4.1 hosts: SAN only, never the subject CN.
	 */
	if (peer == MTASTS_TLS_PEER_DNSID)
		flags |= X509_CHECK_FLAG_NEVER_CHECK_SUBJECT;
	SSL_set_hostflags(c->ssl, flags);
	rc = 0;
done:
	BIO_free(inner);
	return rc;
}

/*
 * Send what OpenSSL has queued for the network, without waiting: 0 all
 * sent, 1 the socket is full (the rest stays in the pair), -1 error.
 */
static int
flush_out(struct mtasts_conn *c)
{
	char *p;
	int n;
	ssize_t w;

	while ((n = BIO_nread0(c->net, &p)) > 0) {
		w = send(c->fd, p, (size_t)n, MSG_NOSIGNAL);
		if (w > 0) {
			(void)BIO_nread(c->net, &p, (int)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		snprintf(c->why, sizeof(c->why), "send: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Move what the socket has into OpenSSL's half, without waiting: 0 moved
 * (or EOF seen), 1 nothing there yet, -1 error.
 */
static int
fill_in(struct mtasts_conn *c)
{
	char tmp[NET_IO_CHUNK];
	size_t room;
	ssize_t n;

	if (c->eof) {
		mtasts_strlcpy(c->why, "connection closed by peer",
		    sizeof(c->why));
		return -1;
	}
	room = BIO_ctrl_get_write_guarantee(c->net);
	if (room > sizeof(tmp))
		room = sizeof(tmp);
	if (room == 0)
		return 0;
	for (;;) {
		n = recv(c->fd, tmp, room, 0);
		if (n >= 0 || errno != EINTR)
			break;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 1;
	if (n < 0) {
		snprintf(c->why, sizeof(c->why), "recv: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		/* The SSL side now sees EOF on its next read. */
		c->eof = 1;
		(void)BIO_shutdown_wr(c->net);
		return 0;
	}
	if (BIO_write(c->net, tmp, (int)n) != (int)n) {
		mtasts_strlcpy(c->why, "BIO pair write failed",
		    sizeof(c->why));
		return -1;
	}
	return 0;
}

int
mtasts_conn_tls_step(struct mtasts_conn *c, int op, void *buf, int n,
    short *events)
{
	int r, e, f;

	*events = 0;
	/* A result held back until its bytes left (see below). */
	if (c->held > 0) {
		if ((f = flush_out(c)) != 0) {
			if (f < 0)
				return -1;
			*events = POLLOUT;
			return MTASTS_CONN_AGAIN;
		}
		r = c->held;
		c->held = 0;
		return r;
	}
	for (;;) {
		ERR_clear_error();
		switch (op) {
		case MTASTS_TLS_HANDSHAKE:
			r = SSL_do_handshake(c->ssl);
			break;
		case MTASTS_TLS_WRITE:
			r = SSL_write(c->ssl, buf, n);
			break;
		default:
			r = SSL_read(c->ssl, buf, n);
			break;
		}
		e = SSL_get_error(c->ssl, r);
		/* Also sends a fatal alert, so the server logs why. */
		f = flush_out(c);
		if (f < 0 && r > 0)
			return -1;
		if (r > 0) {
			if (f == 0)
				return r;
			/* Done for OpenSSL, not yet on the wire. */
			c->held = r;
			*events = POLLOUT;
			return MTASTS_CONN_AGAIN;
		}
		switch (e) {
		case SSL_ERROR_WANT_READ:
			if (c->why[0] != '\0')
				return -1;
			if (f == 1) {
				*events = POLLOUT;
				return MTASTS_CONN_AGAIN;
			}
			if ((f = fill_in(c)) < 0)
				return -1;
			if (f == 1) {
				*events = POLLIN;
				return MTASTS_CONN_AGAIN;
			}
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (c->why[0] != '\0')
				return -1;
			if (f == 1) {
				*events = POLLOUT;
				return MTASTS_CONN_AGAIN;
			}
			continue;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		case SSL_ERROR_SSL:
			if (op == MTASTS_TLS_READ && c->eof &&
			    ERR_GET_REASON(ERR_peek_error()) ==
			    SSL_R_UNEXPECTED_EOF_WHILE_READING)
				return MTASTS_CONN_EOF_UNCLEAN;
			return -1;
		case SSL_ERROR_SYSCALL:
			if (op == MTASTS_TLS_READ && c->eof)
				return MTASTS_CONN_EOF_UNCLEAN;
			if (c->why[0] == '\0')
				mtasts_strlcpy(c->why, c->eof ?
				    "connection closed by peer" :
				    "TLS I/O error", sizeof(c->why));
			return -1;
		default:
			return -1;
		}
	}
}

/*
 * Drive one TLS operation to completion or failure within the deadline:
 * the non-blocking step, and poll() while it cannot go on. Returns > 0
 * (handshake done, bytes written or read), 0 on a clean close_notify
 * (read), MTASTS_CONN_EOF_UNCLEAN (read), -1 on error.
 */
static int
tls_io(struct mtasts_conn *c, int op, void *buf, int n)
{
	short ev;
	int r;

	for (;;) {
		r = mtasts_conn_tls_step(c, op, buf, n, &ev);
		if (r != MTASTS_CONN_AGAIN)
			return r;
		if (mtasts_conn_wait(c, ev) != 0)
			return -1;
	}
}

int
mtasts_conn_tls_handshake(struct mtasts_conn *c)
{
	return tls_io(c, MTASTS_TLS_HANDSHAKE, NULL, 0) > 0 ? 0 : -1;
}

int
mtasts_conn_tls_write(struct mtasts_conn *c, const void *buf, size_t len)
{
	const char *s = buf;
	size_t off = 0;
	int n, r;

	while (off < len) {
		n = len - off > INT_MAX ? INT_MAX : (int)(len - off);
		/* Not partial-write mode: SSL_write() takes all n or fails. */
		if ((r = tls_io(c, MTASTS_TLS_WRITE,
		    (void *)(uintptr_t)(s + off), n)) <= 0)
			return -1;
		off += (size_t)r;
	}
	return 0;
}

int
mtasts_conn_tls_read(struct mtasts_conn *c, void *buf, size_t size)
{
	return tls_io(c, MTASTS_TLS_READ, buf,
	    size > INT_MAX ? INT_MAX : (int)size);
}

long
mtasts_conn_tls_verify_result(const struct mtasts_conn *c)
{
	long v = SSL_get_verify_result(c->ssl);

	/* A finished handshake without a server certificate proves nothing. */
	if (v == X509_V_OK && SSL_is_init_finished(c->ssl) &&
	    SSL_get0_peer_certificate(c->ssl) == NULL)
		v = X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
	return v;
}

/* ---- verification results and certificate text ---- */

const char *
mtasts_tls_verify_name(long v)
{
	size_t i;

	for (i = 0; i < sizeof(x509_names) / sizeof(x509_names[0]); i++)
		if (x509_names[i].code == v)
			return x509_names[i].name;
	return "X509_V_ERR";
}

int
mtasts_tls_verify_cert(long v)
{
	switch (v) {
	case X509_V_OK:
		return MTASTS_CERT_OK;
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return MTASTS_CERT_NAME_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return MTASTS_CERT_EXPIRED;
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED:
	case X509_V_ERR_INVALID_CA:
		return MTASTS_CERT_UNTRUSTED;
	default:
		return MTASTS_CERT_OTHER;
	}
}

const char *
mtasts_tls_verify_type(long v, int policy_host)
{
	struct mtasts_session_facts f;
	const char *reason;
	int type;

	/* RFC 8460 §4.3.2: the policy host's PKIX failure, whatever it is. */
	if (policy_host)
		return MTASTS_RT_STS_WEBPKI_INVALID;
	/* An MX: the core's one classification (D-ENF-2). */
	memset(&f, 0, sizeof(f));
	f.starttls = MTASTS_STARTTLS_OFFERED;
	f.tls = MTASTS_TLS_UP;
	f.cert = mtasts_tls_verify_cert(v);
	f.cert_seen = 1;
	if (!mtasts_verdict_classify(&f, 0, &type, &reason) ||
	    type == MTASTS_TLSRPT_NONE)
		return MTASTS_RT_VALIDATION_FAILURE;
	return mtasts_tlsrpt_type_name(type);
}

void
mtasts_tls_name_text(const struct X509_name_st *nm, char *out, size_t size)
{
	BIO *m;
	char *data;
	long n;

	if (size > 0)
		out[0] = '\0';
	if ((m = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(m, nm, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(m, &data)) > 0)
		mtasts_printable(out, size, data, (size_t)n);
	BIO_free(m);
}

void
mtasts_tls_san_text(const struct x509_st *cert, char *out, size_t size)
{
	GENERAL_NAMES *gens;
	size_t o = 0;
	int i;

	if (size > 0)
		out[0] = '\0';
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int len;

		if (g->type != GEN_DNS)
			continue;
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || o + (size_t)len + 2 >= size)
			continue;
		if (o > 0)
			out[o++] = ',';
		mtasts_printable(out + o, size - o,
		    (const char *)ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)len);
		o = strlen(out);
	}
	GENERAL_NAMES_free(gens);
}
