/* SPDX-License-Identifier: ISC */
/*
 * netload.h - the Exim module's loader of the network half
 * (mtasts_net.so), registered with the core through
 * mtasts_plugin_set_net_loader().
 */
#ifndef MTASTS_EXIM_NETLOAD_H
#define MTASTS_EXIM_NETLOAD_H

#include "mtasts.h"

/*
 * mtasts_exim_net_load - dlopen() mtasts_net.so from this module's
 * directory (once per process: the handle is never closed) and return its
 * operations table; NULL with err set when it cannot be loaded. The core
 * checks the table before using it.
 */
mtasts_net_loader_fn mtasts_exim_net_load;

#endif /* MTASTS_EXIM_NETLOAD_H */
