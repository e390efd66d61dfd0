#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_testmodes - Exim's testing modes write no TLS-RPT records
(issue 11 item 6, docs/decisions.md D-EXIM-10).

`exim -bt`, `exim -bv`, `exim -be '${dlfunc{..}{sts_guard}..}'` and
`exim -N -qff` (a queued message, so $message_id is set) route or expand
without delivering anything: no SMTP session happens, so the
TLS-RPT spool must stay byte-identical, whatever the lookups find (an
enforce domain with no matching MX, whose guard would record a
validation-failure; a domain whose policy fetch fails while a valid
cached policy applies, which the core records as sts-policy-fetch-error).
A real queue run afterwards must write those records (the positive
control: the test is not vacuous).

    test_testmodes.py --so mtasts_exim.so [--keep]
"""

import argparse
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import eximworld as E  # noqa: E402

W = E.W
FAILS = []


def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def spool_digest(d):
    """{relative path: sha256} of every file under the spool."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = hashlib.sha256(
                    fh.read()).hexdigest()
    return out


def spool_text(d):
    t = ""
    for root, _, files in os.walk(d):
        for f in sorted(files):
            with open(os.path.join(root, f), errors="replace") as fh:
                t += fh.read()
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    with E.EximWorld(os.path.abspath(a.so), keep=a.keep) as ew:
        w, rx = ew.w, ew.rx
        rx.add("rogue.attacker.test", "good")
        w.add_domain("nomatch.test", txt="v=STSv1; id=1",
                     policy=W.Policy(mode="enforce", mx=["mx.nomatch.test"]))
        ew.mx("nomatch.test", (5, "rogue.attacker.test"))
        w.add_domain("fetchfail.test", txt="v=STSv1; id=1",
                     policy=W.Policy(mode="enforce",
                                     mx=["mx.fetchfail.test"]))
        rx.add("mx.fetchfail.test", "good")
        ew.mx("fetchfail.test", (10, "mx.fetchfail.test"))
        # The same for the positive control only: -bt's failed fetch
        # starts the §3.3 back-off for fetchfail.test, under which a later
        # delivery does not fetch (nor record) again.
        w.add_domain("fetchfail2.test", txt="v=STSv1; id=1",
                     policy=W.Policy(mode="enforce",
                                     mx=["mx.fetchfail2.test"]))
        rx.add("mx.fetchfail2.test", "good")
        ew.mx("fetchfail2.test", (10, "mx.fetchfail2.test"))
        ew.start_receivers()
        spool = os.path.join(w.dir, "tlsrpt")
        tx = ew.sender("main", tlsrpt_dir=spool)
        so, conf = tx.so, tx.mtasts_conf

        # Warm the cache for fetchfail.test, then break its policy host
        # and change the id: every lookup now fails to fetch while the
        # cached policy still applies (the core records that, §6).
        for d in ("fetchfail.test", "fetchfail2.test"):
            p = tx.exim("-be", stdin="${dlfunc{%s}{sts_mode}{%s}{%s}}\n"
                        % (so, d, conf))
            ok("enforce" in p.stdout, "%s cached: %r" % (d, p.stdout))
            w.set_policy(d, W.Policy(status=500, body="oops"))
            w.set_txt(d, "v=STSv1; id=2")
        before = spool_digest(spool)

        runs = [
            ("-bt", ["-bt", "u@nomatch.test"]),
            ("-bt", ["-bt", "u@fetchfail.test"]),
            ("-bt", ["-bt", "u@nomatch.test", "v@nomatch.test"]),
            ("-bv", ["-bv", "u@nomatch.test"]),
            ("-bv", ["-bv", "u@fetchfail.test"]),
        ]
        for what, args in runs:
            q = tx.exim(*args)
            print("%s -> rc %d %s" % (" ".join(args), q.returncode,
                                      (q.stdout + q.stderr).strip()[:300]))
        q = tx.exim("-bt", "u@nomatch.test")
        ok("no MX host of nomatch.test matches" in q.stdout,
           "-bt really reached the guard: %r" % q.stdout[:300])
        exprs = ["${dlfunc{%s}{sts_guard}{nomatch.test}{%s}}" % (so, conf),
                 "${dlfunc{%s}{sts_guard}{fetchfail.test}{%s}}" % (so, conf),
                 "${dlfunc{%s}{sts_mode}{fetchfail.test}{%s}}" % (so, conf),
                 "${dlfunc{%s}{sts_event}{tcp:connect}{enforce}{%s}}" %
                 (so, conf)]
        for e in exprs:
            q = tx.exim("-be", stdin=e + "\n")
            print("-be %s -> %s" % (e[-60:], (q.stdout + q.stderr)
                                   .strip()[:200]))
        q = tx.exim("-be", stdin=exprs[0] + "\n")
        ok("no MX host of nomatch.test matches" in q.stdout,
           "-be really ran the guard: %r" % q.stdout[:300])
        # -N (deliveries only pretended) with a queued message: routing
        # has a $message_id, so only the command line tells this process
        # it is not a delivery (the module's initialiser reads it,
        # D-EXIM-14); the guard still runs and defers.
        tx.send("n@nomatch.test", subject="pretended")
        with open(tx.mainlog, errors="replace") as f:
            log0 = len(f.read())
        q = tx.exim("-N", "-qff")
        with open(tx.mainlog, errors="replace") as f:
            logn = f.read()[log0:]
        ok("no MX host of nomatch.test matches" in logn + q.stdout + q.stderr,
           "-N -qff really reached the guard: %r" % (logn[-400:] +
                                                      q.stderr[-300:]))
        after = spool_digest(spool)
        ok(after == before, "TLS-RPT spool byte-identical after -bt/-bv/"
           "-be/-N: %r -> %r\n%s" % (before, after,
                                      spool_text(spool)[-1500:]))

        # Positive control: real deliveries do record.
        tx.send("u@nomatch.test", subject="real nomatch")
        tx.send("u@fetchfail2.test", subject="real fetchfail2")
        tx.run_queue()
        text = spool_text(spool)
        ok(spool_digest(spool) != before and "nomatch.test" in text and
           "validation-failure" in text,
           "a real delivery records the nomatch validation-failure: %r" %
           text[-800:])
        ok("fetchfail2.test" in text and "sts-policy-fetch-error" in text,
           "a real delivery records the fetch failure: %r" % text[-800:])
        ok(rx.mail("rogue.attacker.test") == [],
           "nothing reached the rogue MX")
    print("testmodes: %s" % ("ok" if not FAILS else "%d FAILED" %
                              len(FAILS)))
    return 0 if not FAILS else 1


if __name__ == "__main__":
    sys.exit(main())
