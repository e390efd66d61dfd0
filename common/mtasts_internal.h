/* SPDX-License-Identifier: ISC */
/*
 * mtasts_internal.h - private declarations shared by the files of common/:
 * the umbrella of the module headers in common/internal/, one per concern
 * (the file or files that define what it declares). Only common/ includes
 * it; white-box tests (tests/unit, fuzz/, bench/) include the module
 * headers they need. Never installed. All size caps are in
 * internal/base.h (house style rule 8). A declaration added here (while
 * other branches still add to this file) belongs in its module header.
 */
#ifndef MTASTS_INTERNAL_H
#define MTASTS_INTERNAL_H

#include "internal/base.h"
#include "internal/ctx.h"
#include "internal/config.h"
#include "internal/util.h"
#include "internal/fd.h"
#include "internal/ehlo.h"
#include "internal/domain.h"
#include "internal/dns.h"
#include "internal/fetch.h"
#include "internal/probe.h"
#include "internal/net.h"
#include "internal/http.h"
#include "internal/cache.h"
#include "internal/lookup.h"
#include "internal/tlsrpt.h"
#include "internal/spool.h"
#include "internal/txt.h"
#include "internal/tlsrpt_txt.h"
#include "internal/report.h"
#include "internal/netops.h"

#endif /* MTASTS_INTERNAL_H */
