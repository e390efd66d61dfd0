#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""anchor_refresh - postfix-mta-sts-resolver's proactive fetch over N domains.

Usage (inside the world, run by bench/run):
    anchor_refresh.py --concurrency C --id ID DOMAIN...

Drives the anchor's own STSProactiveFetcher.iterate_domains() (the code
mta-sts-daemon runs periodically when proactive_policy_fetching is
enabled) over an internal cache holding every DOMAIN with an old
timestamp and a stale policy id, so that each domain costs a TXT query
and an HTTPS fetch, the same work as `mtasts refresh` (which re-fetches
every cached policy). uvloop is enabled as mta-sts-daemon does by
default. Prints "wall_s", "cpu_s" (user+system of this process, all
threads, for the fetch alone) and "updated" (domains whose cached id is
now ID); the CA comes from SSL_CERT_FILE, the resolver from resolv.conf.
"""
import argparse
import asyncio
import os
import time

from postfix_mta_sts_resolver import utils
from postfix_mta_sts_resolver.base_cache import CacheEntry
from postfix_mta_sts_resolver.internal_cache import InternalLRUCache
from postfix_mta_sts_resolver.proactive_fetcher import STSProactiveFetcher


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("domains", nargs="+")
    a = ap.parse_args()
    utils.enable_uvloop()
    cfg = utils.populate_cfg_defaults({"proactive_policy_fetching": {
        "enabled": True, "concurrency_limit": a.concurrency}})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    cache = InternalLRUCache(cache_size=len(a.domains) + 10)
    old = {"version": "STSv1", "mode": "enforce", "mx": ["stale.test"],
           "max_age": 86400}
    for d in a.domains:
        loop.run_until_complete(cache.set(d, CacheEntry(0, "stale", old)))
    fetcher = STSProactiveFetcher(cfg, loop, cache)
    c0, t0 = os.times(), time.monotonic()
    loop.run_until_complete(fetcher.iterate_domains())
    t1, c1 = time.monotonic(), os.times()
    updated = 0
    for d in a.domains:
        e = loop.run_until_complete(cache.get(d))
        if e is not None and e.pol_id == a.id:
            updated += 1
    print("wall_s %.6f" % (t1 - t0))
    print("cpu_s %.6f" % ((c1.user - c0.user) + (c1.system - c0.system)))
    print("updated %d" % updated)
    loop.close()


if __name__ == "__main__":
    main()
