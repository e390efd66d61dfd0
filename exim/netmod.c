/* SPDX-License-Identifier: ISC */
/*
 * netmod.c - mtasts_net.so's one export: the network operations table of
 * the core (mtasts_netops_builtin()) for mtasts_exim.so, which loads this
 * library only on a cache miss (exim/netload.c). Everything else in it
 * stays local (exim/net.map).
 */
#include "mtasts.h"

const struct mtasts_netops *mtasts_net_ops(void)
    __attribute__((visibility("default")));

const struct mtasts_netops *
mtasts_net_ops(void)
{
	return mtasts_netops_builtin();
}
