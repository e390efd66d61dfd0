/* SPDX-License-Identifier: ISC */
/*
 * internal/base.h - the caps (house style rule 8: every size cap, in one
 * place) and the RFC 8460 result type names; included by every module
 * header.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_BASE_H
#define MTASTS_INTERNAL_BASE_H

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "mtasts.h"
#include "mtasts_admin.h"

#if defined(__GNUC__)
#define MTASTS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTASTS_PRINTF(f, a)
#endif

/* RFC 8461 §3.3 suggests 64 kilobytes; we read it as 64 KiB, inclusive. */
#define MTASTS_POLICY_BODY_MAX 65536
/* One policy line, terminator excluded. */
#define MTASTS_POLICY_LINE_MAX 1024
/* mx lines in one policy: MTASTS_POLICY_MX_MAX, in mtasts.h. */
/* All lines in one policy. */
#define MTASTS_POLICY_LINES_MAX 4096
/* RFC 8461 §3.2 prose: max_age at most 31557600 seconds. */
#define MTASTS_MAX_AGE_MAX 31557600U
/* One concatenated TXT record. */
#define MTASTS_TXT_MAX 4096
/* TXT records considered in one RRset. */
#define MTASTS_TXT_RECORDS_MAX 64
/* DNS label and name lengths (RFC 1035). */
#define MTASTS_LABEL_MAX 63
/* Raw input to domain normalisation (U-labels may be long in UTF-8). */
#define MTASTS_DOMAIN_INPUT_MAX 1024
/* HTTP response head (status line + headers). */
#define MTASTS_HTTP_HEAD_MAX 16384
/* Raw response bytes read for one fetch (head + framed body). */
#define MTASTS_HTTP_RAW_MAX (MTASTS_HTTP_HEAD_MAX + 4 * MTASTS_POLICY_BODY_MAX)
/* Addresses tried for one policy host. */
#define MTASTS_ADDRS_MAX 16
/* Cache file size (raw policy + metadata, JSON-escaped). */
#define MTASTS_CACHE_FILE_MAX (8 * MTASTS_POLICY_BODY_MAX)
/* Cache file times: up to 9999-12-31T23:59:59Z, so no sum overflows. */
#define MTASTS_CACHE_TIME_MAX 253402300799LL
/* Longest mx pattern kept in a cache file's informational "mx" array. */
#define MTASTS_CACHE_MX_LEN_MAX (MTASTS_DOMAIN_MAX + 2)
/* RFC 8461 §3.3: no new fetch for the same id within five minutes. */
#define MTASTS_FETCH_BACKOFF 300
/* MTASTS_RESULT_TYPE_MAX, MTASTS_REASON_MAX: mtasts_admin.h. */

/* ---- RFC 8460 result types (checklist item 112) ---- */
#define MTASTS_RT_STARTTLS_NOT_SUPPORTED "starttls-not-supported"
#define MTASTS_RT_CERT_HOST_MISMATCH "certificate-host-mismatch"
#define MTASTS_RT_CERT_EXPIRED "certificate-expired"
#define MTASTS_RT_CERT_NOT_TRUSTED "certificate-not-trusted"
#define MTASTS_RT_VALIDATION_FAILURE "validation-failure"
#define MTASTS_RT_STS_FETCH_ERROR "sts-policy-fetch-error"
#define MTASTS_RT_STS_INVALID "sts-policy-invalid"
#define MTASTS_RT_STS_WEBPKI_INVALID "sts-webpki-invalid"
#define MTASTS_RT_DNSSEC_INVALID "dnssec-invalid"
#define MTASTS_RT_TLSA_INVALID "tlsa-invalid"
#define MTASTS_RT_DANE_REQUIRED "dane-required"

#endif /* MTASTS_INTERNAL_BASE_H */
