/* SPDX-License-Identifier: ISC */
/*
 * internal/ctx.h - the library context and its configuration (ctx.c, config.c).
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_CTX_H
#define MTASTS_INTERNAL_CTX_H

#include "internal/base.h"

struct mtasts_cache_memo;
struct mtasts_netops;

#define MTASTS_RESOLVERS_MAX 8
#define MTASTS_PATH_MAX 1024

enum mtasts_dns_failure_policy {
	MTASTS_DNSFAIL_NONE = 0,	/* proceed as if no policy (default) */
	MTASTS_DNSFAIL_TEMPFAIL = 1	/* defer */
};

struct mtasts_config {
	char resolvers[MTASTS_RESOLVERS_MAX][64];	/* "IP" or "IP@port" */
	size_t nresolvers;
	int dnssec;				/* 1: validate */
	char trust_anchor_file[MTASTS_PATH_MAX];
	char ca_file[MTASTS_PATH_MAX];		/* "" = system store */
	char ca_path[MTASTS_PATH_MAX];
	char cache_dir[MTASTS_PATH_MAX];
	int fetch_timeout_ms;			/* whole fetch deadline */
	int dns_timeout_ms;			/* one DNS query */
	int txt_check_interval;			/* seconds */
	/* enum mtasts_dns_failure_policy */
	int dns_failure;
	int lock_wait_ms;			/* wait for another fetcher */
	/* special-use zones to resolve normally (decisions.md D-DNS-2) */
	char special_zones[8][64];
	size_t nspecial_zones;
	int refresh_concurrency;
	/* drop entries expired this long */
	int cache_purge_after;
	char user_agent[64];
	/* TLS-RPT (tlsrpt.c, report_*.c); "" / 0 means the built-in default */
	char tlsrpt_dir[MTASTS_PATH_MAX];	/* the session spool */
	char report_dir[MTASTS_PATH_MAX];	/* built reports, send state */
	uint64_t tlsrpt_day_max;		/* spool bytes per UTC day */
	char report_org_name[128];		/* organization-name */
	char report_contact[256];		/* contact-info, an addr-spec */
	char report_submitter[MTASTS_DOMAIN_MAX + 1];	/* a domain */
	char report_from[256];			/* From: of report mail */
	char report_host_id[MTASTS_DOMAIN_MAX + 1];	/* D-RPT-11 */
	char sendmail[MTASTS_PATH_MAX];		/* command, split on WSP */
	int report_reason;			/* 0: on (default), -1: omit */
	int cache_memo;				/* 0: on (default), -1: off */
	int report_retention_days;		/* D-RET-1; 0: keep all */
};

struct mtasts_dns;	/* dns.c */

/*
 * The keys of mtasts.conf(5), indexed for the per-key bookkeeping of
 * config.c (the line a key was set on, duplicates). Order = config.c's
 * table.
 */
enum mtasts_conf_key {
	MTASTS_CK_RESOLVER = 0,
	MTASTS_CK_DNSSEC,
	MTASTS_CK_TRUST_ANCHOR_FILE,
	MTASTS_CK_CA_FILE,
	MTASTS_CK_CA_PATH,
	MTASTS_CK_CACHE_DIR,
	MTASTS_CK_FETCH_TIMEOUT,
	MTASTS_CK_DNS_TIMEOUT,
	MTASTS_CK_LOCK_WAIT,
	MTASTS_CK_TXT_CHECK_INTERVAL,
	MTASTS_CK_CACHE_PURGE_AFTER,
	MTASTS_CK_REFRESH_CONCURRENCY,
	MTASTS_CK_DNS_FAILURE,
	MTASTS_CK_RESOLVE_SPECIAL_ZONE,
	MTASTS_CK_TLSRPT_DIR,
	MTASTS_CK_REPORT_DIR,
	MTASTS_CK_SENDMAIL,
	MTASTS_CK_REPORT_ORG_NAME,
	MTASTS_CK_REPORT_CONTACT,
	MTASTS_CK_REPORT_FROM,
	MTASTS_CK_REPORT_SUBMITTER,
	MTASTS_CK_REPORT_FAILURE_REASON,
	MTASTS_CK_CACHE_MEMO,
	MTASTS_CK_TLSRPT_MAX_DAY_SIZE,
	MTASTS_CK_REPORT_HOST_ID,
	MTASTS_CK_REPORT_RETENTION_DAYS,
	MTASTS_CK_COUNT
};
/* conf_line[] values besides a line number (>= 1) of last_config_file. */
#define MTASTS_CONF_DEFAULT 0		/* never set: the built-in default */
#define MTASTS_CONF_API (-1)		/* set through mtasts_ctx_set() */

/* cachegen.c: the shared generation counter (D-MEMO-4) */
struct mtasts_cache_gen {
	void *base;			/* the mapping, for munmap */
	const uint64_t *map;		/* base: read-only, shared, or NULL */
	int state;			/* 0 not tried, 1 mapped, -1 unusable */
	int64_t checked_ns;		/* last identity check / failed try */
	dev_t dev;
	ino_t ino;
};

struct mtasts_ctx {
	struct mtasts_config cfg;
	int finalized;			/* set at first lookup */
	time_t now_override;
	mtasts_log_fn *log_fn;
	void *log_arg;
	struct mtasts_dns *dns;		/* lazily created */
	void *ssl_ctx;			/* SSL_CTX *, lazily made (fetch.c) */
	char last_config_file[MTASTS_PATH_MAX];
	struct mtasts_cache_memo *cache_memo;	/* cache_memo.c, lazily made */
	struct mtasts_cache_gen cache_gen;	/* cachegen.c, lazily mapped */
	const struct mtasts_netops *net;	/* netreg.c, lazily */
	mtasts_net_loader_fn *net_loader;	/* registered by a light host */
	/*
	 * No TLS-RPT spool writes (succeed without writing): the adapter
	 * says no real delivery happens in this call, e.g. `exim -bt`
	 * (D-EXIM-10). Set by plugin/, never from the configuration.
	 */
	int tlsrpt_dry;
	/* Never write notes into cache_dir (`mtasts check`, read-only). */
	int cache_readonly;
	/* config.c: where each key was set (MTASTS_CONF_* or a line) */
	int conf_line[MTASTS_CK_COUNT];
	int conf_checked;		/* mtasts_config_check() passed */
	/* refresh.c: the network answers the running lookup replays */
	struct mtasts_refresh_item *replay;
	/* refresh.c: stores defer their fsyncs to the batch (D-CACHE-9) */
	struct mtasts_cache_batch *cache_batch;
};

/* ctx.c */
time_t mtasts_now(const struct mtasts_ctx *ctx);
void mtasts_log(const struct mtasts_ctx *ctx, int level, const char *fmt, ...)
    MTASTS_PRINTF(3, 4);
void mtasts_config_defaults(struct mtasts_config *cfg);

#endif /* MTASTS_INTERNAL_CTX_H */
