#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_tlsrpt_smtpd - TLS-RPT (RFC 8460) from real OpenSMTPD 6.8 or 7.8 traffic
(--smtpd-version, issue 15).

In the hermetic world: Debian's smtpd 6.8 (osmtpdworld.py) with the
smtpd.conf of opensmtpd/README.md delivers to Exim receivers for domains
with mixed outcomes, each publishing `_smtp._tls` with an https: rua at
tests/world/tlsrpt_collector.py:

  good.test       enforce, good MX                     success
  rogue.test      enforce, rogue MX preferred in DNS   success (policy MX)
  notls.test      enforce, MX without STARTTLS         starttls-not-supported
  testnotls.test  testing, MX without STARTTLS         starttls-not-supported
  testing.test    testing, MX with an expired cert     not recorded (README
                  Limits: testing mode is observed, not verified)
  nopolicy.test   no policy                            not recorded (no
                  success for unverified sessions)
  reports.test    enforce, wrong-name cert; the mailto: report address

Then `mtasts report build` for today must give exactly the per-policy
counts of the SMTP sessions the receivers saw (and the filter logged),
every report schema-valid; `mtasts report send` POSTs the https: reports
(gzip = built report) and hands the mailto: report to smtpd's sendmail.
smtpd 6.8 cannot route by header (no TLS-Required: No), so report mail is
routed by its envelope sender (`match mail-from`) to a relay action with
no MTA-STS filter (README "Report mail"): delivered despite the broken
certificate, and not counted when the day is built again.

Usage: test_tlsrpt_smtpd.py --table BIN --filter BIN --mtasts BIN
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "world"))
sys.path.insert(0, os.path.join(HERE, "..", "exim"))

import world as W  # noqa: E402
import eximworld as E  # noqa: E402
import osmtpdworld as O  # noqa: E402
from tlsrpt_schema import (  # noqa: E402
    read_maildir, report_mail_checks, schema_errors)

SUBMITTER = "sender.world.test"
HOST_ID = "smtpd1.sender.world.test"    # report_host_id, D-RPT-11
REPORT_FROM = "tlsrpt-noreply@" + SUBMITTER
RUA_MAIL = "tlsrpt@reports.test"
COLL = "https://collector.test/"

checks = 0
failures = []


def ok(cond, what):
    global checks
    checks += 1
    print("%s: %s" % ("ok" if cond else "FAIL", what), flush=True)
    if not cond:
        failures.append(what)
    return cond


# opensmtpd/README.md's smtpd.conf plus its report-mail rule.
SMTPD_CONF = """# smtpd.conf of opensmtpd/README.md, with this world's paths
table mtasts mtasts:{mconf}

filter "mtasts_enforce" proc-exec "{libexec}/filter-mtasts -c {mconf} -a enforce"
filter "mtasts_relay" proc-exec "{libexec}/filter-mtasts -c {mconf} -a relay"
filter "mtasts_in" chain {{ "mtasts_enforce", "mtasts_relay" }}

listen on socket filter "mtasts_in"
listen on 127.0.0.1 port 25 filter "mtasts_in"

action "mtasts_enforce" relay domain <mtasts> filter "mtasts_enforce"
action "outbound" relay filter "mtasts_relay"
# TLS-RPT report mail (mtasts.conf report_from): opportunistic, unfiltered.
action "mtasts_report" relay

match from local mail-from "{report_from}" for any action "mtasts_report"
match from local for domain <mtasts> action "mtasts_enforce"
match from local for any action "outbound"
"""

# (domain, mode or None, policy mx, [(pref, mx host, kind)], rua)
DOMAINS = [
    ("good.test", "enforce", "mx.good.test",
     [(10, "mx.good.test", "good")], COLL + "good"),
    ("rogue.test", "enforce", "mx.rogue.test",
     [(5, "rogue.attacker.test", "good"), (10, "mx.rogue.test", "good")],
     COLL + "rogue"),
    ("notls.test", "enforce", "mx.notls.test",
     [(10, "mx.notls.test", "notls")], COLL + "notls"),
    ("testnotls.test", "testing", "mx.testnotls.test",
     [(10, "mx.testnotls.test", "notls")], COLL + "testnotls"),
    ("testing.test", "testing", "mx.testing.test",
     [(10, "mx.testing.test", "expired")], COLL + "testing"),
    ("nopolicy.test", None, None,
     [(10, "mx.nopolicy.test", "good")], COLL + "nopolicy"),
    ("reports.test", "enforce", "mx.reports.test",
     [(10, "mx.reports.test", "wrongname")], "mailto:" + RUA_MAIL),
]
SEND = [("u0@good.test", "good 0"), ("u1@good.test", "good 1"),
        ("u@rogue.test", "rogue"), ("u@notls.test", "notls"),
        ("u@testnotls.test", "testnotls"), ("u@testing.test", "testing"),
        ("u@nopolicy.test", "nopolicy"), ("u@reports.test", "reports")]
DELIVERED = {"mx.good.test": ["good 0", "good 1"],
             "mx.rogue.test": ["rogue"],
             "mx.testnotls.test": ["testnotls"],
             "mx.testing.test": ["testing"],
             "mx.nopolicy.test": ["nopolicy"]}
SESSION_RE = r"session \S+ (enforce|relay) domain="


def policy_lines(mode, mx):
    return ["version: STSv1", "mode: %s" % mode, "mx: %s" % mx,
            "max_age: 86400"]


def wait_for(pred, timeout, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def subjects(rx, host):
    return sorted(m.get("subject", "") for m in rx.mail(host))


def details(p):
    return sorted((f["result-type"], f.get("receiving-mx-hostname"),
                   f.get("receiving-ip"), f["failed-session-count"])
                  for f in p.get("failure-details", []))


def load(d):
    out = {}
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, fn)) as f:
            out[fn.split("!")[1]] = json.load(f)
    return out


def check_reports(reps, expect, day):
    ok(sorted(reps) == sorted(expect), "one report per recorded domain: "
       "%r, want %r" % (sorted(reps), sorted(expect)))
    for d, (mode, succ, fails) in sorted(expect.items()):
        rep = reps.get(d)
        if rep is None:
            continue
        errs = schema_errors(rep)
        ok(not errs, "%s: RFC 8460 schema valid %r" % (d, errs))
        ok(rep["report-id"] == "%s.%s+%s@%s" % (day.replace("-", ""), d,
                                                HOST_ID, SUBMITTER) and
           rep["date-range"]["start-datetime"] == day + "T00:00:00Z",
           "%s: report-id and date-range" % d)
        ok(len(rep["policies"]) == 1, "%s: one policy" % d)
        p = rep["policies"][0]
        mx = [x[2] for x in DOMAINS if x[0] == d][0]
        ok(p["policy"] == {"policy-type": "sts", "policy-domain": d,
                           "policy-string": policy_lines(mode, mx),
                           "mx-host": [mx]},
           "%s: sts policy %r" % (d, p["policy"]))
        nfail = sum(f[3] for f in fails)
        ok(p["summary"] == {"total-successful-session-count": succ,
                            "total-failure-session-count": nfail},
           "%s: summary %d ok / %d failed: %r" % (d, succ, nfail,
                                                  p["summary"]))
        ok(details(p) == sorted(fails), "%s: failure-details %r, want %r"
           % (d, details(p), sorted(fails)))


def run(a):
    t0 = time.monotonic()
    ew = E.EximWorld(so=None, mtasts=a.mtasts)
    ew.start()
    sm = cp = None
    try:
        w, rx = ew.w, ew.rx
        for dom, mode, pmx, mxs, rua in DOMAINS:
            for _, host, kind in mxs:
                rx.add(host, kind)
            if mode is None:
                w.add_domain(dom)
            else:
                w.add_domain(dom, txt="v=STSv1; id=1",
                             policy=W.Policy(mode=mode, mx=[pmx]))
            ew.mx(dom, *[(p, h) for p, h, _ in mxs])
            w.add_records({"name": "_smtp._tls." + dom, "type": "TXT",
                           "data": ["v=TLSRPTv1; rua=" + rua]})
        a_coll = w.alloc_v4()
        w.add_records({"name": "collector.test", "type": "A",
                       "data": a_coll})
        posts = os.path.join(w.dir, "posts")
        cert, key = w.pki.leaf("collector.test")
        cp = subprocess.Popen([W.PY, os.path.join(HERE, "..", "world",
                                                  "tlsrpt_collector.py"),
                               "--addr", a_coll, "--cert", cert, "--key",
                               key, "--dir", posts],
                              stdout=subprocess.PIPE, text=True)
        ok(cp.stdout.readline().strip() == "ready", "collector started")
        ew.start_receivers()

        sm = O.Smtpd(ew, a.table, a.filter, None,
                     version=a.smtpd_version)
        sm.install()
        cache = os.path.join(sm.dir, "cache")
        spool = os.path.join(sm.dir, "tlsrpt")
        for p in (cache, spool):
            os.makedirs(p)
            os.chown(p, sm.uid, sm.gid)
            os.chmod(p, 0o2770)
        # `sendmail` is smtpctl under that name (the .deb's symlink).
        sendmail = os.path.join(sm.dir, "sendmail")
        os.symlink(sm.smtpctl_bin, sendmail)
        mconf = os.path.join(sm.dir, "mtasts.conf")
        with open(mconf, "w") as f:
            f.write("resolver = %s\nresolve_special_zone = "
                    "test\nca_file = %s\ncache_dir = %s\ntlsrpt_dir = %s\n"
                    "fetch_timeout = 3\ndns_timeout = 2\n"
                    "report_dir = %s\nreport_org_name = OpenSMTPD Sender "
                    "Test\nreport_contact = tlsrpt@%s\nreport_submitter = "
                    "%s\nreport_from = %s\nreport_host_id = %s\n"
                    # D-RPT-14: no -f here, mtasts adds -f report_from,
                    # which the mail-from rule below routes on.
                    "sendmail = %s -t\n" %
                    (W.DNS_ADDR, w.pki.ca_file, cache, spool,
                     os.path.join(w.dir, "reports"), SUBMITTER, SUBMITTER,
                     REPORT_FROM, HOST_ID, sendmail))
        os.chmod(mconf, 0o644)
        sm.conf_text_fn = lambda s: SMTPD_CONF.format(
            mconf=mconf, libexec=O.LIBEXEC, report_from=REPORT_FROM)
        day = time.strftime("%Y-%m-%d", time.gmtime())
        base = rx.connections_settled()
        sm.start()
        ok(sm.alive(), "smtpd %s started" % a.smtpd_version)
        for rcpt, subj in SEND:
            sm.send(rcpt, subject=subj)
        return phases(a, w, rx, sm, mconf, posts, base, day, t0)
    finally:
        if cp is not None:
            cp.terminate()
            cp.wait()
        if sm is not None:
            sm.stop()
            diffs = sm.release()
            ok(diffs == [], "host directories under the overlays are "
               "unchanged: %s" % diffs)
            if failures and os.environ.get("MTASTS_TEST_LOGCOPY"):
                with open(os.environ["MTASTS_TEST_LOGCOPY"], "w") as f:
                    f.write(sm.log())
            if failures:
                sys.stderr.write("--- smtpd log (tail) ---\n%s\n" %
                                 sm.log()[-6000:])
        ew.stop()
        print("test_tlsrpt_smtpd: %d checks, %d failed, %.1fs" %
              (checks, len(failures), time.monotonic() - t0))


def phases(a, w, rx, sm, mconf, posts, base, day, t0):
    def sessions():
        now = rx.connections()
        return {k: now[k] - base.get(k, 0) for k in now}

    def mt(*args):
        return subprocess.run([a.mtasts, "--config", mconf] + list(args),
                              capture_output=True, text=True, timeout=120)

    def quiet():
        """Every session the receivers saw has ended and been logged by
        a filter (smtpd keeps a finished session open ~10 s)."""
        n = sum(sessions().values())
        return n > 0 and len(sm.log_lines(SESSION_RE)) == n

    # ---- 1. deliveries and first attempts
    ok(wait_for(lambda: all(subjects(rx, h) == s
                            for h, s in DELIVERED.items()), 60),
       "delivered: %r" % {h: subjects(rx, h) for h in DELIVERED})
    ok(wait_for(lambda: sessions()["mx.notls.test"] >= 1 and
                sessions()["mx.reports.test"] >= 1, 40),
       "the broken enforce MXs were tried")
    # No retries from here on: the counts must stay put.
    r = sm.smtpctl("pause", "mta")
    ok(r.returncode == 0, "smtpctl pause mta: %s" % r.stderr.strip())
    ok(wait_for(quiet, 40), "every session ended and was logged")
    time.sleep(2)
    conns = sessions()
    print("receiver sessions: %r" % {k: v for k, v in conns.items() if v})
    ok(conns["rogue.attacker.test"] == 0 and
       subjects(rx, "rogue.attacker.test") == [],
       "rogue preferred MX never contacted")
    ok(subjects(rx, "mx.notls.test") == [] and
       subjects(rx, "mx.reports.test") == [],
       "nothing delivered to the broken enforce MXs")
    q = sorted(sm.queue())
    ok(q == ["u@notls.test", "u@reports.test"],
       "broken enforce domains still queued: %r" % q)
    ok(len(sm.log_lines(SESSION_RE)) == sum(conns.values()),
       "one filter session line per receiver session")

    # ---- 2. report build: exact counts from the receivers' sessions
    ip = {h: rx.hosts[h][0] for h in rx.hosts}
    expect = {
        "good.test": ("enforce", conns["mx.good.test"], []),
        "rogue.test": ("enforce", conns["mx.rogue.test"], []),
        "notls.test": ("enforce", 0, [
            ("starttls-not-supported", "mx.notls.test", ip["mx.notls.test"],
             conns["mx.notls.test"])]),
        "testnotls.test": ("testing", 0, [
            ("starttls-not-supported", "mx.testnotls.test",
             ip["mx.testnotls.test"], conns["mx.testnotls.test"])]),
        # Certificate failures are recorded without subtype (README).
        "reports.test": ("enforce", 0, [
            ("validation-failure", "mx.reports.test", ip["mx.reports.test"],
             conns["mx.reports.test"])]),
    }
    nrec = sum(e[1] + sum(f[3] for f in e[2]) for e in expect.values())
    unrecorded = conns["mx.testing.test"] + conns["mx.nopolicy.test"]
    ok(nrec + unrecorded == sum(conns.values()),
       "%d recorded + %d unverified (testing.test, nopolicy.test) = all %d"
       " sessions" % (nrec, unrecorded, sum(conns.values())))
    built1 = os.path.join(w.dir, "built1")
    b = mt("report", "build", "--date", day, "--out", built1)
    print(b.stdout + b.stderr)
    want = ("summary date=%s sessions=%d torn=0 excluded=0 dropped=0 "
            "domains=%d reports=%d no_tlsrpt=0 tempfail=0" %
            (day, nrec, len(expect), len(expect)))
    ok(b.returncode == 0 and want in b.stdout,
       "report build: %s" % want)
    reps = load(built1)
    check_reports(reps, expect, day)

    # ---- 3. report send: https POSTs; mail via smtpd's sendmail
    s = mt("report", "send", "--date", day)
    print(s.stdout + s.stderr)
    ok(s.returncode == 0, "report send exit 0: %d %s" % (s.returncode,
                                                         s.stderr))
    https = sorted(d for d, _, _, _, rua in DOMAINS
                   if rua.startswith("https:") and d in expect)
    got = {}
    for fn in sorted(os.listdir(posts)) if os.path.isdir(posts) else []:
        with open(os.path.join(posts, fn)) as f:
            p = json.load(f)
        got[p["path"]] = p
    ok(sorted(got) == sorted("/" + d.split(".")[0] for d in https),
       "collector got one POST per recorded https domain: %r" % sorted(got))
    for d in https:
        p = got.get("/" + d.split(".")[0])
        if p is None:
            continue
        body = json.loads(gzip.decompress(bytes.fromhex(p["body_hex"])))
        ok(p["headers"].get("content-type") == "application/tlsrpt+gzip"
           and body == reps.get(d), "%s: POSTed gzip report = built report"
           % d)

    # Report mail: smtpd routes it by envelope sender to the unfiltered
    # action, so it is delivered despite the wrong-name certificate.
    # The enforce failure disabled the route to that MX address for 15 s
    # (README Limits): retry only the report envelope until it is back.
    evp = [ln.split("|")[0] for ln in sm.smtpctl("show", "queue").stdout
           .splitlines() if RUA_MAIL in ln]
    ok(len(evp) == 1, "report mail queued by sendmail: %r" % evp)
    r = sm.smtpctl("resume", "mta")
    ok(r.returncode == 0, "smtpctl resume mta")

    def delivered():
        if rx.mail("mx.reports.test"):
            return True
        for e in evp:
            sm.smtpctl("schedule", e)
        return False
    ok(wait_for(delivered, 60, step=3),
       "report mail delivered to mx.reports.test despite the bad cert")
    ok(sm.smtpctl("pause", "mta").returncode == 0, "smtpctl pause mta")
    time.sleep(12)      # smtpd holds the finished session open ~10 s
    rmail = read_mail(rx, "mx.reports.test")
    ok([str(m["TLS-Report-Domain"]) for m in rmail] == ["reports.test"],
       "exactly one mail, the report: %r" % [m["Subject"] for m in rmail])
    for m in rmail:
        check_mail(m, reps.get("reports.test", {}), day)
    q = sorted(sm.queue())
    ok(q == ["u@notls.test", "u@reports.test"],
       "normal mail to the broken enforce domains still queued: %r" % q)
    conns2 = sessions()
    delta = {k: conns2[k] - conns[k] for k in conns2 if conns2[k] != conns[k]}
    print("round 2 receiver sessions: %r" % delta)
    ok(delta == {"mx.reports.test": 1}, "one report-mail session only: %r"
       % delta)

    # ---- 4. the day again: the report-mail session is not counted
    built2 = os.path.join(w.dir, "built2")
    b2 = mt("report", "build", "--date", day, "--out", built2)
    print(b2.stdout + b2.stderr)
    ok(b2.returncode == 0 and want in b2.stdout,
       "rebuild after the report mail: unchanged %s" % want)
    reps2 = load(built2)
    check_reports(reps2, expect, day)
    ok(sm.alive(), "smtpd (and its table and filters) still running")
    ok(not sm.log_lines(r"table-proc: exiting|lost processor|fatal|"
                        r"tlsrpt: "),
       "no table/filter failure, no TLS-RPT record failure")
    if day != time.strftime("%Y-%m-%d", time.gmtime()):
        ok(False, "the UTC day changed during the test: run it again")
    print("sample report (notls.test, from real OpenSMTPD traffic):\n" +
          json.dumps(reps2.get("notls.test"), indent=1))
    return 1 if failures else 0


def read_mail(rx, host):
    return read_maildir(os.path.join(rx.dir, "mail", host, "new"))


def check_mail(m, rep, day):
    for cond, what in report_mail_checks(m, rep, day, SUBMITTER, RUA_MAIL,
                                         False):
        ok(cond, what)


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
