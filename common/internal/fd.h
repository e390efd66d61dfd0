/* SPDX-License-Identifier: ISC */
/*
 * internal/fd.h - fd.c: close-on-exec for descriptors others open for us.
 *
 * Private to common/ and its white-box tests (tests/unit, fuzz/,
 * bench/); never installed. mtasts_internal.h includes every module
 * header.
 */
#ifndef MTASTS_INTERNAL_FD_H
#define MTASTS_INTERNAL_FD_H

#include "internal/base.h"

/* Descriptor numbers a snapshot records exactly; above, only "any?". */
#define MTASTS_FD_SNAP_MAX 4096

struct mtasts_fdsnap {
	unsigned char bits[MTASTS_FD_SNAP_MAX / 8];
	int high;	/* a descriptor >= the bound existed (or unknown) */
};

/* Record the descriptors open now (before a call into libunbound). */
void mtasts_fd_snapshot(struct mtasts_fdsnap *s);

/*
 * Set FD_CLOEXEC on every socket and FIFO opened since the snapshot s
 * (regular files and the snapshot's descriptors are never touched).
 * Returns how many were marked.
 */
unsigned mtasts_fd_cloexec_new(const struct mtasts_fdsnap *s);

#endif /* MTASTS_INTERNAL_FD_H */
