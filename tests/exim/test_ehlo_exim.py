#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_ehlo_exim - STARTTLS detection in real Exim 4.96 EHLO replies
(issue 11 item 8, docs/decisions.md D-EHLO-1).

Testing-mode domains (mail is delivered whatever TLS does, so only the
event handler's smtp:ehlo parsing decides what is recorded):
  greet-notls.test   MX without STARTTLS whose EHLO greeting line is
                     "250-starttls.example.net Hello ...": must be
                     recorded as starttls-not-supported (a substring
                     match took the host name for the keyword);
  plain-notls.test   MX without STARTTLS, ordinary name: the same;
  good.test          MX with STARTTLS (and a greeting that is just a
                     name): recorded as a success, never as
                     starttls-not-supported.

    test_ehlo_exim.py --so mtasts_exim.so [--keep]
"""

import argparse
import json
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


def records(spool):
    out = []
    for root, _, files in os.walk(spool):
        for f in files:
            with open(os.path.join(root, f)) as fh:
                out += [json.loads(ln) for ln in fh if ln.strip()]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    with E.EximWorld(os.path.abspath(a.so), keep=a.keep) as ew:
        w, rx = ew.w, ew.rx
        doms = {"greet-notls.test": "notls", "plain-notls.test": "notls",
                "good.test": "good"}
        for d, kind in doms.items():
            mx = "mx." + d
            w.add_domain(d, txt="v=STSv1; id=1",
                         policy=W.Policy(mode="testing", mx=[mx]))
            rx.add(mx, kind)
            ew.mx(d, (10, mx))
        rx.greet["mx.greet-notls.test"] = "starttls.example.net"
        rx.greet["mx.good.test"] = "mx.good.test"
        ew.start_receivers()
        import socket
        c = socket.create_connection((rx.hosts["mx.greet-notls.test"][0], 25),
                                     5)
        f = c.makefile("rwb")
        f.readline()
        f.write(b"EHLO probe.test\r\n")
        f.flush()
        resp = []
        while True:
            ln = f.readline().decode()
            resp.append(ln.rstrip())
            if ln[3:4] != "-":
                break
        c.close()
        print("EHLO reply of mx.greet-notls.test: %r" % resp)
        ok(resp[0].startswith("250-starttls.example.net"),
           "the receiver greets as starttls.example.net")
        spool = os.path.join(w.dir, "tlsrpt")
        tx = ew.sender("main", tlsrpt_dir=spool)
        for d in doms:
            tx.send("u@" + d, subject="ehlo " + d)
        tx.run_queue()
        for d in doms:
            got = rx.mail("mx." + d)
            ok(len(got) == 1, "%s delivered (testing mode): %d" %
               (d, len(got)))
        recs = records(spool)
        by = {}
        for r in recs:
            by.setdefault(r.get("d"), []).append(r.get("r", "success"))
        print("records: %r" % by)
        ok(by.get("greet-notls.test") == ["starttls-not-supported"],
           "greeting 'starttls.example.net' without STARTTLS recorded as "
           "starttls-not-supported: %r" % by.get("greet-notls.test"))
        ok(by.get("plain-notls.test") == ["starttls-not-supported"],
           "plain MX without STARTTLS: %r" % by.get("plain-notls.test"))
        ok(by.get("good.test") == ["success"],
           "MX offering STARTTLS recorded as a success: %r" %
           by.get("good.test"))
    print("ehlo: %s" % ("ok" if not FAILS else "%d FAILED" % len(FAILS)))
    return 0 if not FAILS else 1


if __name__ == "__main__":
    sys.exit(main())
