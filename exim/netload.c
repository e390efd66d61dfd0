/* SPDX-License-Identifier: ISC */
/*
 * netload.c - the Exim module's network operations: mtasts_net.so,
 * dlopen()ed from the module's own directory on the first cache miss.
 *
 * Every Exim delivery process loads mtasts_exim.so; a cache hit needs
 * neither OpenSSL nor libunbound, whose loading cost about 3 ms per
 * process (bench/RESULTS.md). So the module links only the light half of
 * the core and fetches the network half when a lookup must go to the
 * network. It is loaded RTLD_LOCAL (its copies of the core stay private)
 * and RTLD_NODELETE (OpenSSL and libunbound must not be unloaded under
 * their own exit handlers); the handle is never closed, so a second
 * dlopen() in the same process only takes a reference.
 *
 * The library's path is the directory of mtasts_exim.so itself (dladdr),
 * else the build-time MTASTS_NET_DIR. The module registers this loader
 * with the core explicitly (mtasts_plugin_set_net_loader() ->
 * mtasts_ctx_set_net_loader()); the core calls it on the first cache
 * miss, checks the table against itself (common/netreg.c) and fails
 * closed on any failure: a valid cached policy still applies, anything
 * else is deferred with this reason.
 */
#define _GNU_SOURCE	/* dladdr(), Dl_info */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "netload.h"

#define NET_SO "mtasts_net.so"
#define NET_SYM "mtasts_net_ops"

/* Longest path of mtasts_net.so. */
#define NET_PATH_MAX 1024

#ifndef MTASTS_NET_DIR
#define MTASTS_NET_DIR "/usr/lib/mtasts"
#endif

typedef const struct mtasts_netops *net_ops_fn(void);

/* The first error wins (struct mtasts_error). */
static void
seterr(struct mtasts_error *err, const char *fmt, const char *a)
{
	if (err == NULL || err->code != 0)
		return;
	err->code = MTASTS_ERROR;
	snprintf(err->text, sizeof(err->text), fmt, a);
}

/* "<dir of this module>/mtasts_net.so", or the configured directory. */
static int
net_path(char *path, size_t size)
{
	Dl_info info;
	const char *slash;
	size_t dirlen;

	memset(&info, 0, sizeof(info));
	if (dladdr((void *)(uintptr_t)&net_path, &info) != 0 &&
	    info.dli_fname != NULL && info.dli_fname[0] == '/' &&
	    (slash = strrchr(info.dli_fname, '/')) != NULL) {
		dirlen = (size_t)(slash - info.dli_fname);
		return (size_t)snprintf(path, size, "%.*s/%s", (int)dirlen,
		    info.dli_fname, NET_SO) < size ? 0 : -1;
	}
	return (size_t)snprintf(path, size, "%s/%s", MTASTS_NET_DIR,
	    NET_SO) < size ? 0 : -1;
}

const struct mtasts_netops *
mtasts_exim_net_load(struct mtasts_error *err)
{
	char path[NET_PATH_MAX];
	const char *why;
	net_ops_fn *fn;
	void *h, *sym;

	if (net_path(path, sizeof(path)) != 0) {
		seterr(err, "network library: path too long", "");
		return NULL;
	}
	(void)dlerror();
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) ==
	    NULL) {
		why = dlerror();
		seterr(err, "network library unavailable (cannot fetch "
		    "policies): %s", why != NULL ? why : path);
		return NULL;
	}
	if ((sym = dlsym(h, NET_SYM)) == NULL) {
		seterr(err, "network library: no " NET_SYM " in %s", path);
		return NULL;
	}
	/* POSIX: a data pointer from dlsym() may be used as a function. */
	memcpy(&fn, &sym, sizeof(fn));
	return fn();
}
