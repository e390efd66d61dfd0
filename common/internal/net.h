/* SPDX-License-Identifier: ISC */
/*
 * internal/net.h - net.c: deadline-bounded TCP and client TLS.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_NET_H
#define MTASTS_INTERNAL_NET_H

#include <poll.h>

#include "internal/base.h"

struct mtasts_config;

/* OpenSSL types by their struct tags, so this header needs no OpenSSL. */
struct ssl_st;
struct ssl_ctx_st;
struct bio_st;
struct x509_st;
struct X509_name_st;

/*
 * One TCP connection bounded by one deadline, optionally with client TLS
 * on it. Never raises SIGPIPE (send with MSG_NOSIGNAL; OpenSSL talks to a
 * BIO pair, never to the socket), never blocks past the deadline, touches
 * no signal state. Not shared between threads.
 */
struct mtasts_conn {
	int fd;				/* -1 when not connected */
	int64_t deadline;		/* a mtasts_mono_ms() time */
	int eof;			/* the peer closed TCP */
	int timed_out;
	int race_last;			/* see mtasts_conn_race() */
	struct ssl_st *ssl;		/* after mtasts_conn_tls_start() */
	struct bio_st *net;		/* our half of the BIO pair */
	int held;			/* mtasts_conn_tls_step(): result
					 * waiting for its bytes to leave */
	char why[MTASTS_REASON_MAX];	/* the I/O failure, "" none */
};

/* mtasts_conn_race(): not tried yet; the RFC 8305 §5 attempt delay. */
#define MTASTS_RACE_UNTRIED (-1)
#define MTASTS_RACE_DELAY_MS 250

/* mtasts_conn_tls_read(): TCP closed without a TLS close_notify. */
#define MTASTS_CONN_EOF_UNCLEAN (-2)
/* mtasts_conn_tls_step(): cannot go on until the socket is ready. */
#define MTASTS_CONN_AGAIN (-3)

/* The operations of mtasts_conn_tls_step(). */
enum mtasts_tls_op { MTASTS_TLS_HANDSHAKE, MTASTS_TLS_WRITE, MTASTS_TLS_READ };

/*
 * mtasts_conn_race() as a state machine, for callers that wait on many
 * things at once (refresh.c). begin, then step until it returns 1; while
 * it returns 0, poll pfd[0..npend) (their events are set) until *wake,
 * and step again (revents as poll() left them; a failed poll: set
 * poll_errno). winner is then the index (c->fd connected) or -1, with
 * err[], c->why, c->timed_out, c->race_last as mtasts_conn_race() says.
 */
struct mtasts_race {
	const struct sockaddr_storage *addrs;
	int *err;
	size_t order[MTASTS_ADDRS_MAX], idx[MTASTS_ADDRS_MAX];
	struct pollfd pfd[MTASTS_ADDRS_MAX];
	size_t norder, next, npend;
	int64_t start_next;
	int winner, last, poll_errno;
};
void mtasts_race_begin(struct mtasts_race *rc, struct mtasts_conn *c,
    const struct sockaddr_storage *addrs, size_t n, int *err);
int mtasts_race_step(struct mtasts_race *rc, struct mtasts_conn *c,
    int64_t *wake);

/* How mtasts_conn_tls_start() checks the server's name. */
enum mtasts_tls_peer {
	/* RFC 8461 hosts: SNI + DNS-ID in a SAN only, never the CN. */
	MTASTS_TLS_PEER_DNSID = 0,
	/* https: rua host: an IP literal (iPAddress SAN, no SNI) or a name
	 * (SNI + DNS-ID, the CN only when the certificate has no DNS SAN) */
	MTASTS_TLS_PEER_URI_HOST = 1
};

/* Zero c, no socket yet; everything after runs until deadline_ms_mono. */
void mtasts_conn_init(struct mtasts_conn *c, int64_t deadline_ms_mono);
/* Free the TLS state and close the socket; c can be closed again. */
void mtasts_conn_close(struct mtasts_conn *c);
/*
 * Non-blocking TCP connect to sa (TCP_NODELAY). The calls below return 0
 * (or a count) on success and -1 on failure, with timed_out or why set:
 * mtasts_conn_why() says it in words.
 */
int mtasts_conn_connect(struct mtasts_conn *c,
    const struct sockaddr_storage *sa);
/*
 * RFC 8305 Happy Eyeballs connect (D-NET-3) to one of addrs[0..n) (at
 * most MTASTS_ADDRS_MAX) whose err[i] is MTASTS_RACE_UNTRIED: families
 * interleaved, the first family first; a new attempt starts every
 * MTASTS_RACE_DELAY_MS while earlier ones are pending, at once when one
 * fails; the first TCP connection to complete wins and the others are
 * closed. Returns the winner's index (its socket is c->fd, err[winner]
 * is 0), or -1 when none connected by c->deadline (timed_out / why set,
 * c->race_last the index whose failure why describes, or -1). err[] gets
 * the errno of each failed address, ETIMEDOUT for those still pending at
 * the deadline; those pending when another won stay UNTRIED.
 */
int mtasts_conn_race(struct mtasts_conn *c,
    const struct sockaddr_storage *addrs, size_t n, int *err);
/* poll() for events until the deadline. */
int mtasts_conn_wait(struct mtasts_conn *c, short events);
/* Plaintext: send all len bytes. */
int mtasts_conn_send(struct mtasts_conn *c, const void *buf, size_t len);
/* Plaintext: wait for and read some bytes; 0 at EOF (eof set). */
ssize_t mtasts_conn_recv(struct mtasts_conn *c, void *buf, size_t size);
/* "timed out", the I/O failure, else the last queued OpenSSL reason. */
const char *mtasts_conn_why(const struct mtasts_conn *c);
/* The reason of the last queued OpenSSL error, or "unknown TLS error". */
const char *mtasts_tls_reason(void);

/*
 * A new client SSL_CTX: TLS >= 1.2, no session cache, the CA store of cfg
 * (ca_file/ca_path, else the system's), SSL_VERIFY_PEER or, to judge the
 * verification result afterwards, SSL_VERIFY_NONE. NULL with why set.
 * The caller owns it (SSL_CTX_free).
 */
struct ssl_ctx_st *mtasts_tls_client_ctx(const struct mtasts_config *cfg,
    int verify_peer, char *why, size_t size);
/*
 * Certificates of sctx's store loaded so far (a CA file and the system
 * file are read eagerly; a hashed directory is read on demand and counts
 * nothing here). For `mtasts check --local`.
 */
size_t mtasts_tls_ca_count(struct ssl_ctx_st *sctx);
/*
 * D-NET-7: 1 if cfg's CA store is the system's hashed directory (no
 * ca_file/ca_path, no SSL_CERT_FILE, a directory with hash links), read
 * per issuer; 0 if certificates are loaded when the context is made.
 */
int mtasts_tls_system_dir_used(const struct mtasts_config *cfg);
/* The system CA directory list (SSL_CERT_DIR, else OpenSSL's default). */
const char *mtasts_tls_system_dir(void);
/*
 * Client TLS on a connected c (not yet handshaken): SSL from sctx, a BIO
 * pair, and host checked as peer says (enum mtasts_tls_peer). -1 leaves
 * the reason in the OpenSSL error queue (mtasts_tls_reason()).
 */
int mtasts_conn_tls_start(struct mtasts_conn *c, struct ssl_ctx_st *sctx,
    const char *host, int peer);
int mtasts_conn_tls_handshake(struct mtasts_conn *c);
/*
 * One non-blocking step of a TLS operation (enum mtasts_tls_op) on c: the
 * result the blocking calls below would give, or MTASTS_CONN_AGAIN with
 * *events (POLLIN/POLLOUT) to wait for on c->fd before the next step (the
 * same operation, the same arguments). Deadlines are the caller's: the
 * blocking calls are this step and mtasts_conn_wait().
 */
int mtasts_conn_tls_step(struct mtasts_conn *c, int op, void *buf, int n,
    short *events);
/* Write all len bytes. */
int mtasts_conn_tls_write(struct mtasts_conn *c, const void *buf,
    size_t len);
/*
 * Read some bytes: > 0, 0 on a clean close_notify, MTASTS_CONN_EOF_UNCLEAN
 * when TCP closed without one (a close-delimited body may be truncated),
 * -1 on error.
 */
int mtasts_conn_tls_read(struct mtasts_conn *c, void *buf, size_t size);
/*
 * SSL_get_verify_result(), except that a finished handshake without a
 * server certificate is X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE.
 */
long mtasts_conn_tls_verify_result(const struct mtasts_conn *c);

/*
 * The RFC 8460 result type of a failed verification v (X509_V_ERR_*):
 * for the policy host (policy_host != 0) always sts-webpki-invalid
 * (§4.3.2); for an MX (§4.3.1) certificate-host-mismatch,
 * certificate-expired, certificate-not-trusted (no chain to a trusted
 * root), else validation-failure. A static string.
 */
const char *mtasts_tls_verify_type(long v, int policy_host);
/* OpenSSL's verify result v as the neutral enum mtasts_cert_check. */
int mtasts_tls_verify_cert(long v);
/* The X509_V_ERR_* symbol of v, or "X509_V_ERR"; a static string. */
const char *mtasts_tls_verify_name(long v);
/* Subject or issuer name, RFC 2253, printable ASCII ("" on failure). */
void mtasts_tls_name_text(const struct X509_name_st *nm, char *out,
    size_t size);
/* The DNS SANs of cert, comma-separated, printable (those that fit). */
void mtasts_tls_san_text(const struct x509_st *cert, char *out, size_t size);

/* "ip:port" or "[ip]:port" of an AF_INET/AF_INET6 address. */
void mtasts_addr_text(const struct sockaddr_storage *sa, char *out,
    size_t size);
/* Copy remote text for display: printable ASCII only, others '?'. */
void mtasts_printable(char *dst, size_t size, const char *src, size_t len);

#endif /* MTASTS_INTERNAL_NET_H */
