/* SPDX-License-Identifier: ISC */
/*
 * mtasts_plugin.h - shared-object glue for MTA adapters (Exim dlfunc,
 * OpenSMTPD table): one lazily created libmtasts context per process,
 * recreated after fork(), configuration from /etc/mtasts.conf or a named
 * file, a log sink supplied by the host MTA, and a small per-process memo
 * of lookup results so that one delivery reads the policy cache once.
 *
 * Not thread-safe: MTA delivery processes are single-threaded.
 */
#ifndef MTASTS_PLUGIN_H
#define MTASTS_PLUGIN_H

#include <stdint.h>

#include "mtasts.h"

/* Lookups remembered per process (round-robin replacement). */
#define MTASTS_PLUGIN_MEMO_MAX 64
/*
 * How long a remembered lookup is reused. Delivery processes live for
 * one message; the bound matters for long-lived queue runners only.
 */
#define MTASTS_PLUGIN_MEMO_TTL_MS 30000

/*
 * The configuration file when the MTA names none (and $MTASTS_CONFIG is
 * unset). It must exist: adapters never run on defaults (D-EXIM-9).
 */
#define MTASTS_PLUGIN_DEFAULT_CONFIG "/etc/mtasts.conf"

/*
 * Install the host's log sink for the library and the adapter. Survives
 * fork and context re-creation.
 */
void mtasts_plugin_set_log(mtasts_log_fn *fn, void *arg);

/*
 * Register the loader of the network half for every context the glue
 * makes (a host linking only the light half of the library: the Exim
 * module, exim/netload.c). Survives fork and context re-creation.
 */
void mtasts_plugin_set_net_loader(mtasts_net_loader_fn *fn);

/* Log through the host sink (no-op without one). */
void mtasts_plugin_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * mtasts_plugin_ctx - this process's context, created on first use or
 * after a fork or a change of config path. config NULL or "" means
 * $MTASTS_CONFIG or MTASTS_PLUGIN_DEFAULT_CONFIG, which must exist (a
 * missing file is a configuration error, never "the defaults").
 * @return the context, or NULL when it cannot be made or its
 * configuration does not load (err says why; the failure is remembered
 * for the process so every call fails the same way).
 */
struct mtasts_ctx *mtasts_plugin_ctx(const char *config,
    struct mtasts_error *err);

/*
 * mtasts_plugin_lookup - mtasts_lookup() through the memo.
 * @param out receives a borrowed result, valid until the next call of
 * any mtasts_plugin_* function; NULL on failure.
 * @return MTASTS_OK, or the failure of the context or the lookup (err
 * set): callers must treat any failure as "cannot decide".
 */
int mtasts_plugin_lookup(const char *domain, const char *config,
    const struct mtasts_result **out, struct mtasts_error *err);

/*
 * mtasts_plugin_note_held - the adapter deferred mail under r's enforce
 * policy: remember the domain as held until the policy's expiry, in the
 * cache directory (a dotfile that `mtasts cache flush` leaves alone).
 * While remembered, a lookup whose policy is unknown (cache entry gone
 * or unusable and the fetch failing) answers tempfail instead of "no
 * policy" (D-EXIM-11). No-op for anything but an enforce policy.
 */
void mtasts_plugin_note_held(const struct mtasts_result *r);

/* The mode that applies per the result: enum mtasts_mode. */
int mtasts_plugin_result_mode(const struct mtasts_result *r);

/* Memo statistics since the process started (tests, benchmarks). */
void mtasts_plugin_stats(unsigned long *lookups, unsigned long *hits);

/*
 * Until changed: whether the host is doing something other than a real
 * delivery (address or expansion testing, SMTP-time verification), in
 * which case nothing is written to the TLS-RPT spool, by the adapter or
 * by the lookups (D-EXIM-10). Survives fork and context re-creation.
 */
void mtasts_plugin_set_no_reports(int on);

/* Memo lifetime in ms instead of MTASTS_PLUGIN_MEMO_TTL_MS (tests). */
void mtasts_plugin_set_memo_ttl(int64_t ms);

/* Release everything (tests; MTAs never need it). */
void mtasts_plugin_reset(void);

#endif /* MTASTS_PLUGIN_H */
