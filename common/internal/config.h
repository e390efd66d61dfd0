/* SPDX-License-Identifier: ISC */
/*
 * internal/config.h - loading and checking mtasts.conf (config.c,
 * config_check.c).
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_CONFIG_H
#define MTASTS_INTERNAL_CONFIG_H

#include "internal/base.h"

/* The name of a key (enum mtasts_conf_key); a static string. */
const char *mtasts_conf_key_name(int key);
/*
 * The documented defaults in mtasts.conf syntax (`mtasts config
 * --defaults`; dist/mtasts.conf is that text after its SPDX line and
 * blank comment line): every key commented out at its built-in default
 * or an example, with its doc, in the table order of config.c. malloc'd,
 * *len bytes; NULL when out of memory.
 */
/* mtasts_config_defaults_text(): public, in mtasts_admin.h. */
/*
 * The value shown for key (enum mtasts_conf_key) in that text: 1 when it
 * is the built-in default (setting it changes nothing), 0 when it is an
 * example, -1 for no such key. For tests.
 */
int mtasts_config_shown_default(int key, const char **shown);
/*
 * Parse a configuration file into ctx without checking the files it
 * names (mtasts_ctx_load_config() = this + mtasts_config_check()). path
 * NULL: $MTASTS_CONFIG or /etc/mtasts.conf. *missing is set to 1 when the
 * default file does not exist (not an error), else 0.
 */
/* mtasts_config_read(): public, in mtasts_admin.h. */
/*
 * The parser of mtasts_config_read(): the file's bytes buf[0..len), need
 * not be NUL-terminated; errors say "<name>:<line>: ...". No file is
 * opened (fuzz/fuzz_config.c).
 */
int mtasts_config_parse(struct mtasts_ctx *ctx, const char *name,
    const char *buf, size_t len, struct mtasts_error *err);
/*
 * The load-time check (decisions.md D-CONF-1..4): every file and
 * directory the deciding path needs exists and is usable. MTASTS_OK, or
 * MTASTS_ERROR with err "<file>:<line>: <key>: <reason>" (or "<key>: ..."
 * for keys set through the API or left at their default). Sets
 * ctx->conf_checked on success.
 */
/* mtasts_config_check(): public, in mtasts_admin.h. */
/*
 * First use of a context (mtasts_lookup): run mtasts_config_check() unless
 * it already passed since the last change, then freeze the configuration.
 * The error is prefixed "configuration: ".
 */
int mtasts_ctx_finalize(struct mtasts_ctx *ctx, struct mtasts_error *err);
/*
 * "<file>:<line>: " for a key set in a file, "" otherwise, into buf.
 */
void mtasts_conf_where(const struct mtasts_ctx *ctx, int key, char *buf,
    size_t size);

/* The checks themselves, also used by `mtasts check --local`. */
#define MTASTS_CA_FILE_MAX (16 * 1024 * 1024)	/* bytes of a CA bundle */
#define MTASTS_TA_FILE_MAX (1024 * 1024)	/* bytes of a trust anchor */
/*
 * A strict textual PEM check of a CA bundle (no OpenSSL: the light half
 * runs it): every BEGIN CERTIFICATE / TRUSTED CERTIFICATE block has an END
 * and only base64 between; at least one block. *ncerts gets the count.
 * 0, or -1 with why set.
 */
/* mtasts_check_pem_file(): public, in mtasts_admin.h. */
/*
 * A CA directory as OpenSSL's by-hash lookup uses it: at least one entry
 * named <8 hex digits>.<n> that is a readable PEM certificate file.
 * *nlinks gets the number of such names. 0, or -1 with why set.
 */
/* mtasts_check_ca_dir(): public, in mtasts_admin.h. */
/*
 * A DNSSEC trust anchor file in zone-file syntax (what libunbound's
 * ub_ctx_add_ta_file reads): only DS and DNSKEY records, comments and
 * blank lines; at least one record. *nanchors gets the count. 0, -1 with
 * why set; errno_out gets the open(2) errno when the file could not be
 * opened (ENOENT: missing), else 0.
 */
/* mtasts_check_trust_anchor(): public, in mtasts_admin.h. */

#endif /* MTASTS_INTERNAL_CONFIG_H */
