#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_opensmtpd - MTA-STS with a real OpenSMTPD end to end: Debian's 6.8
or 7.8 built from ../shared/third_party (--smtpd-version, issue 15).

A real smtpd (osmtpdworld.py) with the smtpd.conf of
opensmtpd/README.md (table-mtasts for `for domain` and `relay domain`,
filter-mtasts on the listener and on both relay actions) sends to real
Exim receivers (tests/exim/eximworld.py) in the hermetic world. Every
assertion is about what the receivers got and what is still queued:

  enforce, rogue preferred MX      only the listed MX receives, over TLS
  enforce, no STARTTLS / expired / wrong name / self-signed / no MX match
                                   nothing delivered, still queued,
                                   delivered once the receiver is fixed
  enforce, broken preferred MX     delivered to the next valid MX on a
                                   later attempt (rotation)
  testing, no STARTTLS             delivered, failure logged
  no policy, wrong-name cert       delivered (opportunistic)
  TLS-RPT spool                    success and failure sessions recorded
  smtpd, table, filter             still running at the end
  SNI                              6.8: none (a documented limit);
                                   7.8: the MX name, on every TLS delivery

Usage: test_opensmtpd.py --table BIN --filter BIN --mtasts BIN
                         [--smtpd-version 6.8|7.8]
"""

import argparse
import glob
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "world"))
sys.path.insert(0, os.path.join(HERE, "..", "exim"))

import world as W  # noqa: E402
import eximworld as E  # noqa: E402
import osmtpdworld as O  # noqa: E402

checks = 0
failures = []


def ok(cond, what):
    global checks
    checks += 1
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        failures.append(what)


SMTPD_CONF = """# smtpd.conf of opensmtpd/README.md, with this world's paths
table mtasts mtasts:{mconf}

filter "mtasts_enforce" proc-exec "{libexec}/filter-mtasts -c {mconf} -a enforce"
filter "mtasts_relay" proc-exec "{libexec}/filter-mtasts -c {mconf} -a relay"
filter "mtasts_in" chain {{ "mtasts_enforce", "mtasts_relay" }}

listen on socket filter "mtasts_in"
listen on 127.0.0.1 port 25 filter "mtasts_in"

action "mtasts_enforce" relay domain <mtasts> filter "mtasts_enforce"
action "outbound" relay filter "mtasts_relay"

match from local for domain <mtasts> action "mtasts_enforce"
match from local for any action "outbound"
"""

# (domain, mode or None, policy mx patterns, [(pref, mx host, kind)])
DOMAINS = [
    ("sts-enforce.test", "enforce", ["mx1.sts-enforce.test"],
     [(5, "rogue.attacker.test", "good"),
      (10, "mx1.sts-enforce.test", "good")]),
    ("sts-wild.test", "enforce", ["*.sts-wild.test"],
     [(10, "mx.sts-wild.test", "good")]),
    ("sts-notls.test", "enforce", ["mx.sts-notls.test"],
     [(10, "mx.sts-notls.test", "notls")]),
    ("sts-expired.test", "enforce", ["mx.sts-expired.test"],
     [(10, "mx.sts-expired.test", "expired")]),
    ("sts-badname.test", "enforce", ["mx.sts-badname.test"],
     [(10, "mx.sts-badname.test", "wrongname")]),
    ("sts-selfsigned.test", "enforce", ["mx.sts-selfsigned.test"],
     [(10, "mx.sts-selfsigned.test", "selfsigned")]),
    ("sts-nomatch.test", "enforce", ["mx.sts-nomatch.test"],
     [(10, "rogue.attacker.test", "good")]),
    ("sts-failover.test", "enforce", ["*.sts-failover.test"],
     [(10, "mxa.sts-failover.test", "notls"),
      (20, "mxb.sts-failover.test", "good")]),
    ("sts-testing.test", "testing", ["mx.sts-testing.test"],
     [(10, "mx.sts-testing.test", "notls")]),
    ("nopolicy.test", None, [],
     [(10, "mx.nopolicy.test", "wrongname")]),
]

BROKEN = ["sts-notls.test", "sts-expired.test", "sts-badname.test",
          "sts-selfsigned.test", "sts-nomatch.test"]


def mail_for(rx, host, domain):
    return [m for m in rx.mail(host)
            if ("user@" + domain) in m.get("to", "")]


def wait_for(pred, timeout, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def tlsrpt_records(d):
    recs = []
    for p in glob.glob(os.path.join(d, "*")):
        if os.path.isdir(p):
            continue
        with open(p, errors="replace") as f:
            for ln in f:
                try:
                    recs.append(json.loads(ln))
                except ValueError:
                    pass
    return recs


def run(a):
    t0 = time.monotonic()
    ew = E.EximWorld(so=None, mtasts=a.mtasts)
    ew.start()
    sm = None
    try:
        w = ew.w
        for dom, mode, pats, mxs in DOMAINS:
            for _, host, kind in mxs:
                if host not in ew.rx.hosts:
                    ew.rx.add(host, kind)
            if mode is None:
                w.add_domain(dom)
            else:
                w.add_domain(dom, txt="v=STSv1; id=1",
                             policy=W.Policy(mode=mode, mx=pats))
            ew.mx(dom, *[(p, h) for p, h, _ in mxs])
        ew.start_receivers()

        v78 = a.smtpd_version == "7.8"
        sm = O.Smtpd(ew, a.table, a.filter, None,
                     version=a.smtpd_version)
        sm.install()
        # The adapter's libmtasts configuration, cache and TLS-RPT spool,
        # owned by the user smtpd runs tables and filters as.
        cache = os.path.join(sm.dir, "cache")
        spool = os.path.join(sm.dir, "tlsrpt")
        for p in (cache, spool):
            os.makedirs(p)
            os.chown(p, sm.uid, sm.gid)
            os.chmod(p, 0o2770)
        mconf = os.path.join(sm.dir, "mtasts.conf")
        with open(mconf, "w") as f:
            f.write("resolver = %s\nresolve_special_zone = "
                    "test\nca_file = %s\ncache_dir = %s\ntlsrpt_dir = %s\n"
                    "fetch_timeout = 3\ndns_timeout = 2\n" %
                    (W.DNS_ADDR, w.pki.ca_file, cache, spool))
        os.chmod(mconf, 0o644)
        sm.conf_text_fn = lambda s: SMTPD_CONF.format(
            mconf=mconf, libexec=O.LIBEXEC)
        sm.start()
        ok(sm.alive(), "smtpd %s started with table-mtasts and "
           "filter-mtasts" % a.smtpd_version)
        # The table speaks the protocol of this smtpd (D-OSMTPD-13).
        ok(sm.log_lines(r"table-mtasts.*table \"mtasts\" open \(smtpd "
                        r"7\.8\.0-portable, table protocol 0\.1\)") if v78
           else sm.log_lines(r"table-mtasts.*table \"mtasts\" open, "
                             r"config"),
           "table-mtasts opened with the %s protocol" %
           ("text 0.1" if v78 else "imsg"))

        for dom, _, _, _ in DOMAINS:
            sm.send("user@" + dom, subject="first " + dom)
        rx = ew.rx

        # 1. What gets delivered at the first attempt.
        ok(wait_for(lambda: mail_for(rx, "mx1.sts-enforce.test",
                                     "sts-enforce.test"), 40),
           "enforce: delivered to the policy MX mx1")
        m = mail_for(rx, "mx1.sts-enforce.test", "sts-enforce.test")
        ok(m and m[0].get("x-rx-cipher", "") != "",
           "enforce: received over TLS (%s)" %
           (m[0].get("x-rx-cipher") if m else "-"))
        if v78:
            # RFC 8461 §7.1 met on 7.x: SNI is the MX name.
            ok(m and m[0].get("x-rx-sni", "") == "mx1.sts-enforce.test",
               "enforce: SNI is the MX name (%s)" %
               (m[0].get("x-rx-sni") if m else "-"))
        else:
            ok(m and m[0].get("x-rx-sni", "") == "",
               "enforce: no SNI (smtpd 6.8 sends none; documented limit)")
        ok(wait_for(lambda: mail_for(rx, "mx.sts-wild.test",
                                     "sts-wild.test"), 20),
           "enforce, wildcard pattern: delivered")
        ok(wait_for(lambda: mail_for(rx, "mx.sts-testing.test",
                                     "sts-testing.test"), 40),
           "testing, no STARTTLS: delivered anyway")
        ok(wait_for(lambda: mail_for(rx, "mx.nopolicy.test",
                                     "nopolicy.test"), 40),
           "no policy, wrong-name certificate: delivered (opportunistic)")
        # Let every failing first attempt finish (failures are reported
        # about 10 s late by smtpd).
        time.sleep(14)
        for dom in BROKEN:
            got = [h for h in rx.hosts if mail_for(rx, h, dom)]
            ok(got == [], "%s: nothing delivered (%s)" % (dom, got))
        ok(rx.mail("rogue.attacker.test") == [],
           "rogue preferred MX never received anything")
        q = sm.queue()
        for dom in BROKEN + ["sts-failover.test"]:
            ok(("user@" + dom) in q, "%s: still queued" % dom)
        if v78:
            ok(sm.log_lines(r"certificate verification failed: "
                            r"certificate has expired"),
               "smtpd 7.8 logged the expired certificate")
            ok(sm.log_lines(r"certificate verification failed: "
                            r"self.signed certificate"),
               "smtpd 7.8 logged the self-signed certificate")
            ok(sm.log_lines(r"name .mx\.sts-badname\.test' not present "
                            r"in server certificate"),
               "smtpd 7.8 logged the wrong-name certificate")
            ok(sm.log_lines(r"TLS required but not supported"),
               "smtpd 7.8 logged the missing STARTTLS")
            for ln in sm.log_lines(r"IO Error|rror: "):
                print("smtpd 7.8 TLS error: %s" % ln)
        else:
            ok(sm.log_lines(r"ssl_check_name|SSL certificate check failed|"
                            r"TLS required but not supported"),
               "smtpd logged the TLS failures")
        ok(sm.log_lines(r"table-mtasts.*sts-nomatch.test: no MX"),
           "table: no policy-valid MX for sts-nomatch.test")
        ok(sm.log_lines(r"MTA-STS testing-mode failure: domain "
                        r"sts-testing.test .*starttls-not-supported"),
           "filter logged the testing-mode failure")

        # 2. Repair the receivers; the next attempt delivers. Routes that
        # failed are disabled for 15 s, so wait that out, then retry all.
        for host in ("mx.sts-notls.test", "mx.sts-expired.test",
                     "mx.sts-badname.test", "mx.sts-selfsigned.test"):
            rx.set_kind(host, "good")
        time.sleep(8)
        r = sm.smtpctl("schedule", "all")
        ok(r.returncode == 0, "smtpctl schedule all: %s" % r.stderr.strip())
        for dom in ("sts-notls.test", "sts-expired.test",
                    "sts-badname.test", "sts-selfsigned.test"):
            host = "mx." + dom
            ok(wait_for(lambda: mail_for(rx, host, dom), 40),
               "%s: delivered after the receiver was fixed" % dom)
        ok(wait_for(lambda: mail_for(rx, "mxb.sts-failover.test",
                                     "sts-failover.test"), 40),
           "failover: delivered to the second valid MX on a later attempt")
        ok(mail_for(rx, "mxa.sts-failover.test", "sts-failover.test") == [],
           "failover: never delivered in clear to the broken MX")
        for dom in ("sts-notls.test", "sts-expired.test",
                    "sts-badname.test", "sts-selfsigned.test",
                    "sts-failover.test"):
            ms = [m for h in rx.hosts for m in mail_for(rx, h, dom)]
            ok(ms and all(m.get("x-rx-cipher") for m in ms),
               "%s: received over TLS" % dom)
            if v78:
                ok(ms and all(m.get("x-rx-sni") == h for h in rx.hosts
                              for m in mail_for(rx, h, dom)),
                   "%s: SNI is the MX name of each delivery" % dom)
        q = sm.queue()
        ok(q == ["user@sts-nomatch.test"],
           "only sts-nomatch.test is left in the queue: %s" % q)
        ok(rx.mail("rogue.attacker.test") == [],
           "rogue MX still received nothing")

        # 3. TLS-RPT spool. smtpd holds finished sessions open for 10 s;
        # the outcome is recorded at link-disconnect.
        def by_domain():
            by = {}
            for rec in tlsrpt_records(spool):
                by.setdefault(rec.get("d"), []).append(rec.get("r"))
            return by
        wait_for(lambda: None in by_domain().get("sts-notls.test", []), 25)
        by = by_domain()
        ok(None in by.get("sts-enforce.test", []),
           "tlsrpt: success session recorded for sts-enforce.test")
        ok("starttls-not-supported" in by.get("sts-notls.test", []),
           "tlsrpt: starttls-not-supported for sts-notls.test")
        ok("validation-failure" in by.get("sts-expired.test", []),
           "tlsrpt: validation-failure for sts-expired.test")
        reasons = [rec.get("fr") for rec in tlsrpt_records(spool)
                   if rec.get("d") == "sts-expired.test" and rec.get("r")]
        ok(reasons and all(reasons), "tlsrpt: the sts-expired.test "
           "failure carries a failure-reason-code: %s" % reasons)
        ok(None in by.get("sts-notls.test", []),
           "tlsrpt: success for sts-notls.test after the repair")
        ok("starttls-not-supported" in by.get("sts-testing.test", []),
           "tlsrpt: testing-mode failure for sts-testing.test")
        # D-OSMTPD-16: the policy empties sts-nomatch.test's MX set, no
        # session happens; the table records each refused attempt.
        nm = [rec for rec in tlsrpt_records(spool)
              if rec.get("d") == "sts-nomatch.test"]
        ok(nm and all(rec.get("r") == "validation-failure" and
                      rec.get("fr") == "mx-mismatch" and
                      rec.get("rh") == "rogue.attacker.test" and
                      "ri" not in rec for rec in nm),
           "tlsrpt: sts-nomatch.test attempts recorded as "
           "validation-failure/mx-mismatch: %s" %
           [(rec.get("r"), rec.get("fr"), rec.get("rh")) for rec in nm])
        ok(by.get("nopolicy.test") is None,
           "tlsrpt: nothing recorded for an unverified no-policy session")
        print("tlsrpt records: %s" % json.dumps(by, sort_keys=True))

        ok(sm.alive(), "smtpd (and so its table and filters) still running")
        ok(not sm.log_lines(r"table-proc: exiting|lost processor|fatal"),
           "no table or filter failure in the smtpd log")
    finally:
        if sm is not None:
            sm.stop()
            diffs = sm.release()
            ok(diffs == [], "host directories under the overlays are "
               "unchanged: %s" % diffs)
            if failures:
                sys.stderr.write("--- smtpd log (tail) ---\n%s\n" %
                                 sm.log()[-6000:])
        ew.stop()
    print("test_opensmtpd: %d checks, %d failed, %.1fs" %
          (checks, len(failures), time.monotonic() - t0))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--filter", required=True)
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--smtpd-version", choices=O.VERSIONS, default="6.8")
    a = ap.parse_args()
    if a.smtpd_version == "7.8" and O.skip78_requested():
        print("SKIP: no OpenSMTPD 7.8 source and %s is set" % O.SKIP78_ENV)
        return O.SKIP_RC
    E.ensure_namespace()
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
