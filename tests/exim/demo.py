#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""demo - MTA-STS enforced by a real Exim under attack, told in plain words.

Started by scripts/demo. Inside a private network namespace: a DNS server,
HTTPS policy hosts, one Exim daemon posing as every MX host, and a real
Exim 4.96 sender with mtasts_exim.so. Mail goes to enforce, testing and
no-policy domains while an attacker strips STARTTLS, presents bad
certificates or spoofs the MX records; then the attack stops.
"""

import argparse
import collections
import glob
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import eximworld as E  # noqa: E402

W = E.W

CASES = [
    # domain, mode, policy mx, MX records [(pref, host, receiver kind)],
    # the attack in words
    ("bank.test", "enforce", ["mx1.bank.test"],
     [(5, "evil.attacker.test", "good"), (10, "mx1.bank.test", "good")],
     "MX records spoofed: evil.attacker.test (valid certificate for its "
     "own name) is preferred"),
    ("shop.test", "enforce", ["mx.shop.test"],
     [(10, "mx.shop.test", "notls")],
     "STARTTLS stripped from the MX's answer"),
    ("clinic.test", "enforce", ["mx.clinic.test"],
     [(10, "mx.clinic.test", "wrongname")],
     "MX presents a certificate for another name"),
    ("news.test", "testing", ["mx.news.test"],
     [(10, "mx.news.test", "notls")],
     "STARTTLS stripped from the MX's answer"),
    ("blog.test", None, None,
     [(10, "mx.blog.test", "selfsigned")],
     "MX presents a self-signed certificate"),
]


def describe(tx, rx, domain, mxs):
    log = tx.log()
    rcpt = "user@" + domain
    out = []
    got = []
    for _, host, _ in mxs:
        for m in rx.mail(host):
            if m.get("to") == rcpt:
                got.append((host, m))
    why = [ln.split("MTA-STS: ", 1)[1] for ln in log.splitlines()
           if "MTA-STS: " in ln and domain in ln and
           "fetch: https" not in ln]
    if got:
        for host, m in got:
            tls = m.get("x-rx-cipher", "")
            sni = m.get("x-rx-sni", "")
            dl = [ln for ln in log.splitlines()
                  if ("=> " + rcpt) in ln and ("H=" + host) in ln]
            cv = "certificate verified" if dl and "CV=yes" in dl[-1] \
                else "certificate NOT verified"
            if tls:
                out.append("DELIVERED to %s over %s, %s, SNI %s" % (
                    host, tls.split(":")[0], cv, sni or "(none)"))
            else:
                out.append("DELIVERED to %s IN CLEARTEXT (no TLS)" % host)
    elif rcpt in tx.queue():
        d = [ln for ln in log.splitlines() if ("== " + rcpt) in ln]
        reason = d[-1].split("DT=")[-1].split(": ", 1)[-1] if d else "?"
        out.append("DEFERRED: still queued, will be retried (%s)" % reason)
    else:
        out.append("no delivery yet")
    for _, host, _ in mxs:
        if "attacker" in host:
            n = len([m for m in rx.mail(host) if m.get("to") == rcpt])
            out.append("%s received %d message(s)" % (host, n))
    for w in why[-2:]:
        out.append("why: " + w)
    return out


def spool_records(tx):
    """The TLS-RPT session records the sender really wrote (its private
    spool, tlsrpt_dir of its mtasts.conf: setgid Debian-exim 02770 as
    docs/tlsrpt.md sets it up, never the host's /var/spool/mtasts)."""
    recs = []
    for p in sorted(glob.glob(os.path.join(tx.dir, "tlsrpt", "*.jsonl"))):
        with open(p) as f:
            recs.extend(json.loads(ln) for ln in f if ln.strip())
    return recs


def problems(tx, rx):
    """Error lines of the run: Exim panics (sender and receiver) and
    every mainlog line in which mtasts reports a local failure."""
    out = ["sender paniclog: " + ln for ln in tx.panic().splitlines()]
    try:
        with open(os.path.join(rx.dir, "log", "paniclog")) as f:
            out += ["receiver paniclog: " + ln for ln in f.read()
                    .splitlines()]
    except FileNotFoundError:
        pass
    out += ["sender: " + ln for ln in tx.log().splitlines()
            if "record failed" in ln or "Permission denied" in ln or
            ("MTA-STS" in ln and "error" in ln.lower())]
    return out


def tlsrpt_summary(recs):
    ok = [r for r in recs if "r" not in r]
    bad = collections.Counter(r["r"] for r in recs if "r" in r)
    why = ", ".join("%d %s" % (n, t) for t, n in sorted(bad.items()))
    return ("TLS-RPT: %d session records written to the sender's spool: "
            "%d successful, %d failed%s.\n(A report is built only for "
            "domains that publish a _smtp._tls record; none of the demo "
            "domains does.)" % (len(recs), len(ok), sum(bad.values()),
                                " (%s)" % why if why else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--mtasts")
    ap.add_argument("--spool-copy", help="copy the sender's TLS-RPT spool "
                    "here at the end (tests/exim/test_demo.py)")
    a = ap.parse_args()
    E.ensure_namespace()
    t0 = time.monotonic()
    with E.EximWorld(os.path.abspath(a.so), mtasts=a.mtasts) as ew:
        w, rx = ew.w, ew.rx
        for domain, mode, mx, mxs, _ in CASES:
            if mode is None:
                w.add_domain(domain)
            else:
                w.add_domain(domain, txt="v=STSv1; id=1",
                             policy=W.Policy(mode=mode, mx=mx))
            for _, host, kind in mxs:
                rx.add(host, kind)
            ew.mx(domain, *[(p, h) for p, h, _ in mxs])
        ew.start_receivers()
        tx = ew.sender("demo")
        print("A real Exim %s sender (GnuTLS) with mtasts_exim.so (libmtasts, "
              "OpenSSL) sends one message to each domain.\n" %
              tx.exim("-bV").stdout.split()[2])
        for domain, *_ in CASES:
            tx.send("user@" + domain, subject="demo " + domain)
        tx.run_queue()
        print("=== Round 1: under attack ===\n")
        for domain, mode, mx, mxs, attack in CASES:
            pol = ("MTA-STS %s, policy allows %s" % (mode, ", ".join(mx))
                   if mode else "no MTA-STS policy")
            print("%s (%s)\n  attack: %s" % (domain, pol, attack))
            for ln in describe(tx, rx, domain, mxs):
                print("  -> " + ln)
            print()
        print("=== Round 2: the attack stops; Exim's next queue run ===\n")
        for domain, mode, mx, mxs, _ in CASES:
            for _, host, kind in mxs:
                if kind != "good" and mode == "enforce":
                    rx.set_kind(host, "good")
        tx.clear_retry()
        tx.run_queue()
        for domain, mode, mx, mxs, _ in CASES:
            if mode != "enforce" or domain == "bank.test":
                continue
            print("%s" % domain)
            for ln in describe(tx, rx, domain, mxs)[:1]:
                print("  -> " + ln)
        recs = spool_records(tx)
        if a.spool_copy:
            shutil.copytree(os.path.join(tx.dir, "tlsrpt"), a.spool_copy)
        bad = problems(tx, rx)
        print("\nSummary: enforce-mode mail went only to policy MX hosts over "
              "verified TLS, or waited\nin the queue (never bounced, never "
              "sent in clear); testing-mode and no-policy mail was\n"
              "delivered as before.")
        print(tlsrpt_summary(recs))
        print("Sender log (MTA-STS lines): grep 'MTA-STS:' in Exim's "
              "mainlog. Demo took %.0fs." % (time.monotonic() - t0))
        for ln in bad:
            print("error: " + ln, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
