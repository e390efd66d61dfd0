/* SPDX-License-Identifier: ISC */
/*
 * hostlist.h - translation of policy mx patterns into an Exim host list
 * (no Exim headers needed, so it is unit-tested on its own).
 */
#ifndef MTASTS_EXIM_HOSTLIST_H
#define MTASTS_EXIM_HOSTLIST_H

#include <stddef.h>

#include "mtasts.h"

/*
 * The ignore_target_hosts value for an applied policy: every MX whose
 * name matches no mx pattern is ignored.
 *
 *	<; !^mx1\.example\.com$ ; !^[^.]+\.example\.net$ ; *
 *
 * Anchored regexes, because a bare name makes Exim compare addresses and
 * an Exim "*.x" matches any depth while an MTA-STS "*.x" matches exactly
 * one label (RFC 8461 §4.1). A pattern that is not a well-formed host
 * name pattern is left out (so its hosts are ignored: fail closed).
 * @return the length written (NUL excluded), or 0 when buf is too small.
 */
size_t mtasts_exim_hostlist(const struct mtasts_policy *p, char *buf,
    size_t size);

/* The list that ignores every host. */
#define MTASTS_EXIM_IGNORE_ALL "*"

#endif /* MTASTS_EXIM_HOSTLIST_H */
