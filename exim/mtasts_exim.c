/* SPDX-License-Identifier: ISC */
/*
 * mtasts_exim.c - Exim ${dlfunc} entry points enforcing MTA-STS
 * (RFC 8461) and observing TLS outcomes for TLS-RPT (RFC 8460).
 *
 * This file only translates between Exim and libmtasts: Exim looks up
 * the MX hosts and runs TLS; the library decides about policies. Every
 * entry point is safe in any Exim process (router processes run as root,
 * transports as Debian-exim, continued -MC processes as well), never
 * returns a failure Exim would treat as "go ahead" for an enforce domain,
 * and blocks at most for the library's configured deadlines.
 *
 * Exim 4.96 traps this design follows (docs: exim/README.md):
 *   - a failing dlfunc in a router `condition` skips the router, and in
 *     `ignore_target_hosts` ignores the whole list: those two functions
 *     never fail, they answer "error" and "*" (ignore every host);
 *   - a message returned with a failure is not copied by Exim: it lives
 *     in Exim's pool (string_copy), never on our stack;
 *   - at most 7 user arguments (8 crash 4.96): we take 1 to 3;
 *   - $tls_out_* is reset where msg:delivery runs, so TLS results are
 *     taken in the transport process (smtp:ehlo after STARTTLS).
 *
 * Entry points (argv are expanded Exim strings; CONF is optional):
 *   sts_mode{$domain}{CONF}         enforce | testing | none | tempfail |
 *                                   error
 *   sts_ignore_hosts{$domain}{CONF} ignore_target_hosts list
 *   sts_guard{$domain}{CONF}        redirect data: ":defer: ..." or forced
 *                                   failure (decline)
 *   sts_event{$event_name}{enforce|normal|report}{CONF}   event_action
 *
 * Report mail (RFC 8460 §3, RFC 8689 TLS-Required: No) is routed by the
 * configuration around the MTA-STS routers to its own opportunistic
 * transport whose events say "report": those sessions are recorded with
 * MTASTS_TLSRPT_REPORT_MAIL so the next report does not count them, and
 * no policy is looked up for them (a fetch failure there would be
 * recorded by the core and counted). A dedicated transport also keeps
 * Exim from reusing such a connection (-MC) for normal mail: continued
 * connections stay within one transport.
 */
#define DLFUNC_IMPL
#include <local_scan.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hostlist.h"
#include "mtasts_plugin.h"
#include "netload.h"

#define EXPORT __attribute__((visibility("default")))

/* Exim 4.96 error numbers (macros.h) seen in msg:host:defer. */
#define EXIM_ERRNO_TLSFAILURE (-37)
#define EXIM_ERRNO_TLSREQUIRED (-38)
#define EXIM_ERRNO_EVENT (-58)
#define EXIM_ERRNO_ABS_MAX 100000
/* Certificate expiry beyond which a number is not a date (year 9999). */
#define NOTAFTER_MAX 253402300799ULL

#define SAN_MAX 2048
/* The TLSA RRset of a DANE session, "u s m hex" per line (policy-string). */
#define TLSA_TEXT_MAX 2048
#define HOSTLIST_MAX (MTASTS_POLICY_MX_MAX * (MTASTS_DOMAIN_MAX + 16) + 16)

int sts_mode(uschar **yield, int argc, uschar *argv[]) EXPORT;
int sts_ignore_hosts(uschar **yield, int argc, uschar *argv[]) EXPORT;
int sts_guard(uschar **yield, int argc, uschar *argv[]) EXPORT;
int sts_event(uschar **yield, int argc, uschar *argv[]) EXPORT;

/*
 * The outbound SMTP session of this transport process, from tcp:connect
 * to tcp:close. RFC 8460 counts sessions: each is recorded once.
 */
struct session {
	int active;
	int recorded;
	unsigned flags;		/* MTASTS_TLSRPT_REPORT_MAIL */
	char domain[MTASTS_DOMAIN_MAX + 1];
	char host[MTASTS_DOMAIN_MAX + 2];
	char ip[64];
	int have_cert;		/* leaf certificate seen in tls:cert */
	long long notafter;	/* its expiry, Unix seconds, or -1 */
	int selfsigned;
	char san[SAN_MAX];
	int dane;		/* DANE decided this session (D-DANE-3) */
	char tlsa[TLSA_TEXT_MAX];	/* its TLSA records, or "" */
};

static struct session sess;
static char hostlist[HOSTLIST_MAX];

static const char *var(const char *expr);
static void session_tlsa(void);

/* Bounded copy (always terminated); returns 1 when src was cut. */
static int
copy(char *dst, const char *src, size_t size)
{
	int n = snprintf(dst, size, "%s", src);

	return n < 0 || (size_t)n >= size;
}

/* ---------------------------------------------------------------- logging */

/* Mainlog lines: one line, printable, stable "MTA-STS:" prefix. */
static void
exim_log(void *arg, int level, const char *msg)
{
	char clean[600];
	size_t i;

	(void)arg;
	for (i = 0; msg[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = (msg[i] >= 0x20 && msg[i] < 0x7f) ? msg[i] : '?';
	clean[i] = '\0';
	if (level >= MTASTS_LOG_DEBUG) {
		if (debug_selector != 0)
			debug_printf("MTA-STS: %s\n", clean);
		return;
	}
	log_write(0, LOG_MAIN, "MTA-STS: %s", clean);
}

/*
 * Exim's testing modes, from its command line: address testing and
 * verification (-bt, -bv, -bvs), expansion testing (-be, -bem), host and
 * filter testing (-bh, -bhc, -bf, -bF), rewrite/retry testing (-brw,
 * -brt), configuration printing (-bP, -bV), and -N (deliveries are only
 * pretended). Exim 4.96 exports no variable that says so (D-EXIM-10).
 */
static const char *const testing_opts[] = {
	"-bt", "-bv", "-bvs", "-be", "-bem", "-bh", "-bhc", "-bf", "-bF",
	"-brw", "-brt", "-bP", "-bV", "-N", NULL
};

#define CMDLINE_MAX 16384

/* 1 testing, 0 not, -1 unknown; known: val is set for this program image. */
static int cmdline_known, cmdline_val;

static int
testing_opt(const char *a)
{
	int i;

	for (i = 0; testing_opts[i] != NULL; i++)
		if (strcmp(a, testing_opts[i]) == 0)
			return 1;
	return 0;
}

#ifdef __GLIBC__
/*
 * glibc calls a dlopen()ed object's initialisers with the program's
 * argc, argv and environment (elf/dl-init.c), so the command line is read
 * from memory at load, with no system call (D-EXIM-10, D-EXIM-14). Other C
 * libraries pass nothing: there /proc/self/cmdline is read on first use.
 */
__attribute__((constructor)) static void
cmdline_init(int argc, char **argv, char **envp)
{
	int i, val = 0;

	(void)envp;
	if (argc <= 0 || argv == NULL)
		return;
	for (i = 0; i < argc && argv[i] != NULL; i++)
		if (testing_opt(argv[i]))
			val = 1;
	cmdline_val = val;
	cmdline_known = 1;
}
#endif

/*
 * Read once per program image: a forked child (the transport process of
 * a delivery) has the same command line, and an exec starts with this
 * unset again.
 */
static int
cmdline_testing(void)
{
	char buf[CMDLINE_MAX];
	size_t pos, n;
	ssize_t r;
	int fd;

	if (cmdline_known)
		return cmdline_val;
	cmdline_known = 1;
	cmdline_val = -1;
	if ((fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) == -1)
		return cmdline_val;
	for (n = 0; n < sizeof(buf) - 1; n += (size_t)r)
		if ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) <= 0)
			break;
	close(fd);
	buf[n] = '\0';
	cmdline_val = 0;
	/* NUL-separated arguments; a cut last one is simply not matched. */
	for (pos = 0; pos < n; pos += strlen(buf + pos) + 1)
		if (testing_opt(buf + pos))
			cmdline_val = 1;
	return cmdline_val;
}

/*
 * Only real deliveries write TLS-RPT records (D-EXIM-10): not Exim's
 * testing modes, and not a routing without a message (SMTP-time
 * verification, -bt): every delivery process has $message_id.
 */
static int
real_delivery(void)
{
	return cmdline_testing() != 1 && var("$message_id")[0] != '\0';
}

static void
setup(void)
{
	mtasts_plugin_set_log(exim_log, NULL);
	/* The network half is loaded on the first cache miss (netload.c). */
	mtasts_plugin_set_net_loader(mtasts_exim_net_load);
	mtasts_plugin_set_no_reports(!real_delivery());
}

/* ----------------------------------------------------------------- helpers */

static const char *
arg(int argc, uschar *argv[], int i)
{
	if (i >= argc || argv[i] == NULL || argv[i][0] == '\0')
		return NULL;
	return (const char *)argv[i];
}

/* Value of an Exim expansion; "" when it fails or is unset. */
static const char *
var(const char *expr)
{
	char buf[256];
	uschar *v;

	if (copy(buf, expr, sizeof(buf)))
		return "";
	v = expand_string(US buf);
	return v != NULL ? (const char *)v : "";
}

/* Set *yield to a copy in Exim's pool: it must outlive this call. */
static int
ret(uschar **yield, int rc, const char *s)
{
	*yield = s != NULL ? string_copy(CUS s) : NULL;
	return rc;
}

/* ---------------------------------------------------------------- routers */

/*
 * RFC 8461 §3.4, asked of the core before the lookup: a recipient domain
 * that is not a host name (an address literal) has no policy, while a
 * lookup error must stay fail-closed.
 */
static int
no_policy_domain(int argc, uschar *argv[])
{
	return mtasts_enforce_policy_domain(arg(argc, argv, 0), NULL) ==
	    MTASTS_NOTFOUND;
}

/* The core's "which mode applies" for the router's domain. */
static int
router_mode(int argc, uschar *argv[], const struct mtasts_result **r,
    struct mtasts_error *err, struct mtasts_verdict *v)
{
	int rc = MTASTS_INVALID;

	*r = NULL;
	if (argc >= 1)
		rc = mtasts_plugin_lookup(arg(argc, argv, 0),
		    arg(argc, argv, 1), r, err);
	return mtasts_enforce_mode(arg(argc, argv, 0), rc, *r, v);
}

int
sts_mode(uschar **yield, int argc, uschar *argv[])
{
	const struct mtasts_result *r;
	struct mtasts_error err = { 0, "" };

	setup();
	if (no_policy_domain(argc, argv))
		return ret(yield, OK, "none");
	/* "error": the guard defers. */
	return ret(yield, OK, mtasts_enforce_mode_name(router_mode(argc, argv,
	    &r, &err, NULL)));
}

int
sts_ignore_hosts(uschar **yield, int argc, uschar *argv[])
{
	const struct mtasts_result *r;
	struct mtasts_error err = { 0, "" };
	int m;

	setup();
	if (no_policy_domain(argc, argv))
		return ret(yield, OK, "");
	m = router_mode(argc, argv, &r, &err, NULL);
	/* Any trouble: ignore every host, the guard router then defers. */
	if (m == MTASTS_ENFORCE_ERROR || m == MTASTS_ENFORCE_TEMPFAIL)
		return ret(yield, OK, MTASTS_EXIM_IGNORE_ALL);
	if (m != MTASTS_ENFORCE_ENFORCE)
		return ret(yield, OK, "");
	if (mtasts_exim_hostlist(mtasts_result_policy(r), hostlist,
		sizeof(hostlist)) == 0)
		return ret(yield, OK, MTASTS_EXIM_IGNORE_ALL);
	return ret(yield, OK, hostlist);
}

/*
 * The local address this host's routing table would use towards ip: a
 * UDP socket "connected" there, no packet sent. For sending-mta-ip where
 * no connection exists yet (tcp:connect) or ever (the guard), D-RPT-15.
 * "" when unknown.
 */
static void
source_toward(const char *ip, char *out, size_t size)
{
	struct sockaddr_storage ss, me;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len, mlen = sizeof(me);
	int fd;

	out[0] = '\0';
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(25);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(25);
		len = sizeof(*s6);
	} else
		return;
	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&me, &mlen) == 0) {
		if (me.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&me)->
			    sin_addr, out, (socklen_t)size);
		else if (me.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&me)->
			    sin6_addr, out, (socklen_t)size);
	}
	close(fd);
}

/*
 * record - one session for TLS-RPT. tlsa non-NULL: the session was
 * decided by Exim's DANE, recorded as policy-type tlsa with these records
 * as the policy-string (D-RPT-9, D-DANE-3), never as sts.
 * toward: the address that the session went or would go to (for the
 * sending IP when Exim has none yet); key: the delivery attempt of a
 * record that is no session (D-RPT-12).
 */
static void
record(const char *domain, const struct mtasts_result *r, const char *host,
    const char *ip, const char *type, const char *reason, unsigned flags,
    const char *conf, const char *tlsa, const char *toward,
    const char *key)
{
	struct mtasts_tlsrpt_session s;
	struct mtasts_error err = { 0, "" };
	struct mtasts_ctx *ctx;
	const struct mtasts_policy *p = r != NULL ? mtasts_result_policy(r) :
	    NULL;
	char src[64];

	if ((ctx = mtasts_plugin_ctx(conf, &err)) == NULL)
		return;
	memset(&s, 0, sizeof(s));
	s.policy_domain = domain;
	if (tlsa != NULL) {
		s.policy_type = MTASTS_POLICY_TYPE_TLSA;
		s.tlsa_records = tlsa;
	} else {
		s.policy_type = p != NULL ? MTASTS_POLICY_TYPE_STS :
		    MTASTS_POLICY_TYPE_NONE;
		s.policy = p;
	}
	s.mx_host = host != NULL && host[0] != '\0' ? host : NULL;
	s.mx_ip = ip != NULL && ip[0] != '\0' ? ip : NULL;
	s.sending_ip = var("$sending_ip_address");
	if (s.sending_ip[0] == '\0' && toward != NULL && toward[0] != '\0') {
		source_toward(toward, src, sizeof(src));
		s.sending_ip = src;
	}
	if (s.sending_ip[0] == '\0')
		s.sending_ip = NULL;
	s.result_type = type;
	s.failure_reason = reason;
	s.flags = flags;
	s.attempt_key = key;
	if (mtasts_tlsrpt_record(ctx, &s, &err) != MTASTS_OK)
		mtasts_plugin_log(MTASTS_LOG_WARN,
		    "%s: TLS-RPT record failed: %s", domain, err.text);
}

/*
 * The most preferred MX host of domain (Exim's resolver, as routing saw
 * it) and its first address; "" when there is none.
 */
static void
first_mx(const char *domain, char *host, size_t hsize, char *ip,
    size_t isize)
{
	char q[MTASTS_DOMAIN_MAX + 64];
	const char *v, *p;
	uint64_t best = UINT64_MAX;

	host[0] = ip[0] = '\0';
	/* domain is a normalized host name: nothing to escape. */
	snprintf(q, sizeof(q), "${lookup dnsdb{>, mx=%s}{$value}}", domain);
	for (p = v = var(q); *p != '\0';) {
		size_t n = strcspn(p, ","), sp = strcspn(p, " ");
		uint64_t pref;

		if (sp < n && mtasts_parse_u64(p, sp, 65535, &pref) == 0 &&
		    pref < best && n - sp - 1 < hsize && n - sp > 1) {
			best = pref;
			memcpy(host, p + sp + 1, n - sp - 1);
			host[n - sp - 1] = '\0';
		}
		p += n;
		if (*p == ',')
			p++;
	}
	if (host[0] == '\0' ||
	    mtasts_enforce_policy_domain(host, NULL) != MTASTS_OK) {
		host[0] = '\0';
		return;
	}
	snprintf(q, sizeof(q), "${lookup dnsdb{>, a=%s}{$value}}", host);
	v = var(q);
	if (v[0] == '\0') {
		snprintf(q, sizeof(q), "${lookup dnsdb{>, aaaa=%s}{$value}}",
		    host);
		v = var(q);
	}
	/* The first address; record() checks its syntax. */
	snprintf(ip, isize, "%.*s", (int)strcspn(v, ","), v);
}

/* Bytes of /proc/<pid>/stat and /proc/<pid>/cmdline read. */
#define PROC_READ_MAX 4096

/* Up to size-1 bytes of /proc/<pid>/<what>; -1 on failure. */
static ssize_t
proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * The parent pid (stat field 4) and start time (field 22, clock ticks
 * since boot) of pid; -1 when unknown.
 */
static int
proc_stat(pid_t pid, long *ppid, unsigned long long *start)
{
	char buf[PROC_READ_MAX], *p;
	int field;
	uint64_t v;

	*ppid = -1;
	*start = 0;
	if (proc_read(pid, "stat", buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* After the last ')' (the command may contain one): " S ppid ..." */
	for (field = 2; *p != '\0'; p++) {
		if (*p != ' ')
			continue;
		field++;
		if (field == 4 || field == 22) {
			size_t n = strspn(p + 1, "0123456789");

			if (mtasts_parse_u64(p + 1, n, (uint64_t)1 << 62, &v) !=
			    0)
				return -1;
			if (field == 4)
				*ppid = (long)v;
			else {
				*start = (unsigned long long)v;
				return 0;
			}
		}
	}
	return -1;
}

/* Is this command line (NUL-separated) an Exim daemon's (-bd...)? */
static int
cmdline_daemon(const char *buf, ssize_t n)
{
	ssize_t pos;

	for (pos = 0; pos < n; pos += (ssize_t)strlen(buf + pos) + 1)
		if (strncmp(buf + pos, "-bd", 3) == 0)
			return 1;
	return 0;
}

/*
 * The process that runs this delivery attempt (D-RPT-12): our parent,
 * or further up while the parent is a fork of the same Exim command
 * (Exim 4.96 runs the first stage of "exim -qq" in a forked sub-runner,
 * the second from the runner itself), never into a daemon or init.
 * Its pid and start time, unique per queue run or reception.
 */
static void
attempt_owner(long *pid, unsigned long long *start)
{
	char a[PROC_READ_MAX], b[PROC_READ_MAX];
	long cur = (long)getppid(), up;
	unsigned long long st, ust;
	ssize_t na, nb;
	int i;

	*pid = cur;
	*start = 0;
	if (proc_stat((pid_t)cur, &up, &st) != 0)
		return;
	*start = st;
	for (i = 0; i < 8 && up > 1; i++) {
		long up2;

		na = proc_read((pid_t)cur, "cmdline", a, sizeof(a));
		nb = proc_read((pid_t)up, "cmdline", b, sizeof(b));
		if (na <= 0 || na != nb || memcmp(a, b, (size_t)na) != 0 ||
		    cmdline_daemon(b, nb) || proc_stat((pid_t)up, &up2,
		    &ust) != 0)
			break;
		cur = up;
		up = up2;
		*pid = cur;
		*start = ust;
	}
}

/*
 * D-RPT-12, D-RPT-15: an enforce domain whose MX set the policy empties
 * has no session: one record per delivery attempt of the message. A
 * two-stage queue run (-qq, -qqff) routes the message twice, so the key
 * is the message id and the process running the attempt (pid and start
 * time, attempt_owner): the report counts it once. The record names the
 * most preferred MX host of the domain (the one the policy refused), no
 * receiving-ip (no address was tried), and the address this host would
 * have sent from.
 */
static void
guard_record(const char *domain, const struct mtasts_result *r,
    const char *conf)
{
	char host[MTASTS_DOMAIN_MAX + 1], ip[256], key[128];
	unsigned long long start;
	long owner;

	first_mx(domain, host, sizeof(host), ip, sizeof(ip));
	attempt_owner(&owner, &start);
	snprintf(key, sizeof(key), "exim:%.40s:%ld:%llu", var("$message_id"),
	    owner, start);
	record(domain, r, host, NULL,
	    mtasts_tlsrpt_type_name(MTASTS_TLSRPT_VALIDATION_FAILURE),
	    "mx-mismatch", 0, conf, NULL, ip, key);
}

int
sts_guard(uschar **yield, int argc, uschar *argv[])
{
	const struct mtasts_result *r;
	struct mtasts_error err = { 0, "" };
	struct mtasts_verdict v;
	const char *domain = arg(argc, argv, 0), *conf = arg(argc, argv, 1);
	char msg[512];
	int rc, m;

	setup();
	if (no_policy_domain(argc, argv))
		return ret(yield, FAIL_FORCED, NULL);
	rc = mtasts_plugin_lookup(domain, conf, &r, &err);
	if (rc != MTASTS_OK && err.text[0] == '\0')
		snprintf(err.text, sizeof(err.text), "lookup failed: %s",
		    mtasts_strerror(rc));
	m = mtasts_enforce_mode(domain, rc, r, &v);
	if (m == MTASTS_ENFORCE_ERROR) {
		/* Non-forced failure: the redirect router defers. */
		snprintf(msg, sizeof(msg), "MTA-STS: %s: cannot decide: %s",
		    domain != NULL ? domain : "(no domain)", err.text);
		mtasts_plugin_log(MTASTS_LOG_ERR, "%s: deferred: %s",
		    domain != NULL ? domain : "(no domain)", err.text);
		return ret(yield, FAIL, msg);
	}
	if (m == MTASTS_ENFORCE_NONE || m == MTASTS_ENFORCE_TESTING)
		return ret(yield, FAIL_FORCED, NULL);
	domain = mtasts_result_domain(r);
	if (m == MTASTS_ENFORCE_TEMPFAIL) {
		snprintf(msg, sizeof(msg), ":defer: MTA-STS: %s", v.reason);
		mtasts_plugin_log(MTASTS_LOG_WARN,
		    "%s mode=unknown: deferred (%s): %s", domain,
		    mtasts_tlsrpt_type_name(v.type), v.reason);
		return ret(yield, OK, msg);
	}
	/* The enforce router declined: no MX host is in the policy. */
	snprintf(msg, sizeof(msg),
	    ":defer: MTA-STS: no MX host of %s matches its enforce policy",
	    domain);
	mtasts_plugin_log(MTASTS_LOG_WARN,
	    "%s mode=enforce: deferred: no MX host matches the policy "
	    "(validation-failure)", domain);
	guard_record(domain, r, conf);
	mtasts_plugin_note_held(r);	/* D-EXIM-11 */
	return ret(yield, OK, msg);
}

/* ----------------------------------------------------------------- events */

static void
session_start(int report_tp)
{
	memset(&sess, 0, sizeof(sess));
	sess.active = 1;
	sess.notafter = -1;
	sess.flags = report_tp ? MTASTS_TLSRPT_REPORT_MAIL : 0;
	copy(sess.domain, var("$domain"), sizeof(sess.domain));
	copy(sess.host, var("$host"), sizeof(sess.host));
	copy(sess.ip, var("$host_address"), sizeof(sess.ip));
}

/*
 * The policy result of the current session. Report-mail sessions get
 * none: RFC 8689 says not to apply the policy, and a lookup could fetch
 * and record a fetch failure that the next report would count.
 */
static int
session_lookup(const char *conf, const struct mtasts_result **r)
{
	struct mtasts_error err = { 0, "" };

	*r = NULL;
	if (sess.flags & MTASTS_TLSRPT_REPORT_MAIL)
		return 0;
	return mtasts_plugin_lookup(sess.domain, conf, r, &err) == MTASTS_OK ?
	    0 : -1;
}

/* Keep what the core classifies a verification failure by. */
static void
session_cert(void)
{
	const char *na;
	uint64_t v;

	if (strcmp(var("$event_data"), "0") != 0)
		return;	/* only the leaf (depth 0) */
	sess.have_cert = 1;
	copy(sess.san, var("${certextract{subj_altname}{$tls_out_peercert}}"),
	    sizeof(sess.san));
	na = var("${certextract{notafter,int}{$tls_out_peercert}}");
	/* Unix seconds, digits only; anything else: expiry unknown. */
	sess.notafter = mtasts_parse_u64(na, strlen(na), NOTAFTER_MAX, &v) ==
	    0 ? (long long)v : -1;
	sess.selfsigned = strcmp(
	    var("${certextract{subject}{$tls_out_peercert}}"),
	    var("${certextract{issuer}{$tls_out_peercert}}")) == 0;
}

/* The facts of the current session, in the core's neutral terms. */
static void
facts_init(struct mtasts_session_facts *f, const char *detail)
{
	memset(f, 0, sizeof(*f));
	f->mx_host = sess.host;
	f->mx_ip = sess.ip;
	f->detail = detail;
}

/* Exim says only "not verified": the core classifies from these. */
static void
facts_cert(struct mtasts_session_facts *f)
{
	f->cert = MTASTS_CERT_FAILED;
	f->cert_seen = sess.have_cert;
	f->cert_notafter = sess.notafter >= 0 ? sess.notafter : 0;
	f->cert_names = sess.san;
}

/*
 * One session outcome, as the core judged it (mtasts_verdict_session):
 * record it for TLS-RPT and log it when a policy applies. Returns the
 * verdict's action.
 */
static int
outcome(const struct mtasts_result *r, const struct mtasts_session_facts *f,
    const char *conf)
{
	struct mtasts_verdict v;
	const char *type, *why;

	if (sess.recorded ||
	    !mtasts_verdict_session(r, f, 0, &v))
		return MTASTS_VERDICT_DELIVER;
	sess.recorded = 1;
	type = mtasts_tlsrpt_type_name(v.type);
	why = v.reason;
	record(sess.domain, r, sess.host, sess.ip, type, type ? why : NULL,
	    sess.flags, conf, sess.dane ? sess.tlsa : NULL, sess.ip, NULL);
	if (sess.flags & MTASTS_TLSRPT_REPORT_MAIL) {
		/* Delivered whatever the TLS outcome; not in any report. */
		mtasts_plugin_log(MTASTS_LOG_INFO,
		    "%s mx=%s ip=%s: TLS-Required: No (report mail), policy "
		    "not applied, not reported: %s%s%s", sess.domain,
		    sess.host, sess.ip, type != NULL ? type : "TLS ok",
		    type != NULL ? ": " : ", ", why);
		return MTASTS_VERDICT_DELIVER;
	}
	if (v.mode == MTASTS_ENFORCE_NONE)
		return v.action;
	if (type == NULL)
		mtasts_plugin_log(MTASTS_LOG_INFO,
		    "%s mode=%s mx=%s ip=%s: policy MX, verified TLS (%s)",
		    sess.domain, mtasts_enforce_mode_name(v.mode), sess.host,
		    sess.ip, why);
	else if (v.action == MTASTS_VERDICT_DELIVER_REPORT)
		mtasts_plugin_log(MTASTS_LOG_WARN,
		    "%s mode=testing mx=%s ip=%s: would have been blocked: %s "
		    "(%s); delivering anyway", sess.domain, sess.host, sess.ip,
		    type, why);
	else {
		mtasts_plugin_log(MTASTS_LOG_WARN,
		    "%s mode=enforce mx=%s ip=%s: blocked: %s (%s); deferred "
		    "(%s)", sess.domain, sess.host, sess.ip, type, why,
		    v.status);
		mtasts_plugin_note_held(r);	/* D-EXIM-11 */
	}
	return v.action;
}

static int
ev_connect(uschar **yield, int enforce_tp, int report_tp, const char *conf)
{
	const struct mtasts_result *r;
	struct mtasts_error err = { 0, "" };
	struct mtasts_session_facts f;
	char msg[400];

	session_start(report_tp);
	if (sess.domain[0] == '\0')
		return ret(yield, OK, "");
	if (report_tp) {
		/*
		 * The headers are available in the transport process: warn
		 * when the configuration routes other mail here, as that
		 * mail would escape MTA-STS and the reports.
		 */
		if (strcmp(var("${lc:$h_TLS-Required:}"), "no") != 0)
			mtasts_plugin_log(MTASTS_LOG_WARN, "%s: report "
			    "transport used for a message without "
			    "\"TLS-Required: No\" (check the router)",
			    sess.domain);
		return ret(yield, OK, "");
	}
	if (mtasts_plugin_lookup(sess.domain, conf, &r, &err) != MTASTS_OK ||
	    mtasts_result_status(r) == MTASTS_LOOKUP_TEMPFAIL) {
		if (!enforce_tp)
			return ret(yield, OK, "");
		/* Routed as enforce, now undecidable: do not connect. */
		snprintf(msg, sizeof(msg), "MTA-STS: %s: cannot decide: %s",
		    sess.domain, err.text[0] ? err.text : "tempfail");
		mtasts_plugin_log(MTASTS_LOG_ERR, "%s", msg + 9);
		return ret(yield, OK, msg);
	}
	/* RFC 8461 §4.1 through the core: an MX not in the policy. */
	facts_init(&f, NULL);
	if (outcome(r, &f, conf) != MTASTS_VERDICT_SKIP_HOST)
		return ret(yield, OK, "");
	/* Backstop behind ignore_target_hosts: never talk to this host. */
	snprintf(msg, sizeof(msg), "MTA-STS: %s is not a policy MX of %s",
	    sess.host, sess.domain);
	return ret(yield, OK, msg);
}

static void
ev_ehlo(const char *conf)
{
	const struct mtasts_result *r;
	struct mtasts_session_facts f;
	const char *cipher, *data;
	char why[300];

	if (!sess.active || sess.recorded || sess.domain[0] == '\0')
		return;
	if (session_lookup(conf, &r) != 0)
		return;
	cipher = var("$tls_out_cipher");
	if (cipher[0] == '\0') {
		/* EHLO in clear: the response must offer STARTTLS. */
		/* The keyword alone (ehlo.c, D-EHLO-1). */
		data = var("$event_data");
		if (mtasts_ehlo_offers(data, strlen(data), "STARTTLS") != 1) {
			facts_init(&f, "STARTTLS not offered");
			f.starttls = MTASTS_STARTTLS_NOT_OFFERED;
			(void)outcome(r, &f, conf);
		}
		return;
	}
	if (strcmp(var("$tls_out_dane"), "yes") == 0) {
		/*
		 * DANE validated this host (RFC 8461 §2): recorded as a
		 * tlsa session (D-DANE-3). The policy's MX pattern was
		 * already applied by the router and at tcp:connect
		 * (D-DANE-1).
		 */
		snprintf(why, sizeof(why), "DANE, %s", cipher);
		sess.dane = 1;
		session_tlsa();
		facts_init(&f, why);
		f.dane = MTASTS_DANE_OK;
		(void)outcome(NULL, &f, conf);
		if (r != NULL && mtasts_result_status(r) ==
		    MTASTS_LOOKUP_POLICY && mtasts_plugin_result_mode(r) !=
		    MTASTS_MODE_NONE)
			mtasts_plugin_log(MTASTS_LOG_INFO,
			    "%s mode=%s mx=%s ip=%s: policy MX, DANE-verified "
			    "TLS (%s)", sess.domain, mtasts_mode_name(
			    mtasts_plugin_result_mode(r)), sess.host, sess.ip,
			    why);
		return;
	}
	if (strcmp(var("$tls_out_certificate_verified"), "1") == 0) {
		snprintf(why, sizeof(why), "%s, SNI %s", cipher,
		    var("$tls_out_sni"));
		facts_init(&f, why);
		f.tls = MTASTS_TLS_UP;
		f.cert = MTASTS_CERT_OK;
		(void)outcome(r, &f, conf);
		return;
	}
	snprintf(why, sizeof(why), "certificate not verified, %s", cipher);
	facts_init(&f, why);
	f.tls = MTASTS_TLS_UP;
	facts_cert(&f);
	(void)outcome(r, &f, conf);
}

/*
 * $event_defer_errno: an optional '-' and decimal digits, nothing else,
 * within EXIM_ERRNO_ABS_MAX (Exim's own codes are small negatives).
 */
static int
parse_errno(const char *s, long *out)
{
	uint64_t v;
	int neg = s[0] == '-';

	*out = 0;
	if (mtasts_parse_u64(s + neg, strlen(s + neg), EXIM_ERRNO_ABS_MAX,
	    &v) != 0)
		return -1;
	*out = neg ? -(long)v : (long)v;
	return 0;
}

static void
ev_host_defer(const char *conf)
{
	const struct mtasts_result *r;
	struct mtasts_session_facts f;
	long e;

	/* May follow tcp:close: match the session by host instead. */
	if (sess.recorded || sess.domain[0] == '\0' ||
	    strcmp(var("$host"), sess.host) != 0)
		return;
	if (session_lookup(conf, &r) != 0)
		return;
	if (parse_errno(var("$event_defer_errno"), &e) != 0)
		return;	/* not a number Exim writes: no TLS outcome known */
	facts_init(&f, var("$event_data"));
	if (e == EXIM_ERRNO_TLSREQUIRED)
		f.starttls = MTASTS_STARTTLS_NOT_OFFERED;
	else if (e == EXIM_ERRNO_TLSFAILURE) {
		f.tls = MTASTS_TLS_FAILED;
		facts_cert(&f);
	} else
		return;	/* connection refused, ...: not TLS outcomes */
	(void)outcome(r, &f, conf);
}

/*
 * The TLSA records of the current host as Exim's resolver returns them
 * (through the validating resolver it trusts for DANE), one "u s m hex"
 * per line; "" when the lookup fails (bogus: none can be named).
 */
static void
session_tlsa(void)
{
	const char *v;

	v = var("${lookup dnsdb{>\n tlsa=_${if def:host_port{$host_port}"
	    "{25}}._tcp.$host}{$value}{}}");
	if (copy(sess.tlsa, v, sizeof(sess.tlsa)))
		sess.tlsa[0] = '\0';	/* cut records would be wrong ones */
}

/*
 * dane:fail (Exim 4.96 smtp.c): DANE failed for this host, which Exim then
 * defers; MTA-STS never overrides it (RFC 8461 §2), whatever the policy
 * mode. Exim's $event_data -> RFC 8460 result type (D-DANE-3):
 * "validation-failure" (no TLSA record matched the certificate) ->
 * tlsa-invalid; "dnssec-invalid" (the TLSA lookup failed: bogus or
 * SERVFAIL) -> dnssec-invalid; "dane-required" (hosts_require_dane and no
 * usable TLSA) -> dane-required. It can come before tcp:connect (TLSA
 * lookup failures): then it starts the session of this host itself.
 */
static void
ev_dane_fail(const char *conf, int report_tp)
{
	const char *data = var("$event_data"), *type, *why;
	struct mtasts_session_facts f;
	int t;

	if (!sess.active || strcmp(var("$host"), sess.host) != 0)
		session_start(report_tp);
	if (sess.recorded || sess.domain[0] == '\0')
		return;
	facts_init(&f, data);
	if (strcmp(data, "validation-failure") == 0)
		f.dane = MTASTS_DANE_NO_MATCH;
	else if (strcmp(data, "dnssec-invalid") == 0)
		f.dane = MTASTS_DANE_DNSSEC_INVALID;
	else if (strcmp(data, "dane-required") == 0)
		f.dane = MTASTS_DANE_REQUIRED;
	else
		f.dane = MTASTS_DANE_OTHER;
	(void)mtasts_verdict_classify(&f, 0, &t, &why);
	type = mtasts_tlsrpt_type_name(t);
	sess.dane = 1;
	if (f.dane == MTASTS_DANE_NO_MATCH)
		session_tlsa();	/* records exist; none matched */
	sess.recorded = 1;
	record(sess.domain, NULL, sess.host, sess.ip, type, why, sess.flags,
	    conf, sess.tlsa, sess.ip, NULL);
	mtasts_plugin_log(MTASTS_LOG_WARN,
	    "%s mx=%s ip=%s: DANE failed: %s (Exim: %s); host not used, "
	    "MTA-STS does not override DANE (RFC 8461 section 2)",
	    sess.domain, sess.host, sess.ip, type, data);
	/* The session may still go on to tcp:close; nothing else records. */
	sess.active = 1;
}

int
sts_event(uschar **yield, int argc, uschar *argv[])
{
	const char *ev = arg(argc, argv, 0), *kind = arg(argc, argv, 1);
	const char *conf = arg(argc, argv, 2);
	int enforce_tp = kind != NULL && strcmp(kind, "enforce") == 0;
	int report_tp = kind != NULL && strcmp(kind, "report") == 0;

	if (ev == NULL)
		return ret(yield, OK, "");
	/*
	 * Most of a delivery's events need neither the context nor the
	 * log: answered before setup(), which expands $message_id.
	 */
	if (strcmp(ev, "tls:cert") == 0) {
		if (sess.active)
			session_cert();
		/* A non-empty answer would refuse the certificate. */
		return ret(yield, OK, "");
	}
	if (strcmp(ev, "tcp:close") == 0) {
		sess.active = 0;
		return ret(yield, OK, "");
	}
	if (strcmp(ev, "tcp:connect") != 0 && strcmp(ev, "smtp:ehlo") != 0 &&
	    strcmp(ev, "msg:host:defer") != 0 && strcmp(ev, "dane:fail") != 0)
		return ret(yield, OK, "");
	setup();
	if (mtasts_plugin_ctx(conf, NULL) == NULL && enforce_tp &&
	    strcmp(ev, "tcp:connect") == 0)
		return ret(yield, OK, "MTA-STS: configuration error");
	if (strcmp(ev, "tcp:connect") == 0)
		return ev_connect(yield, enforce_tp, report_tp, conf);
	if (strcmp(ev, "smtp:ehlo") == 0)
		ev_ehlo(conf);
	else if (strcmp(ev, "msg:host:defer") == 0)
		ev_host_defer(conf);
	else
		ev_dane_fail(conf, report_tp);
	return ret(yield, OK, "");
}
