#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_tlsrpt_exim - TLS-RPT (RFC 8460) from real Exim 4.96 traffic.

In the hermetic world: a real Exim sender with the exim/README.md routers
and mtasts_exim.so delivers to domains with mixed outcomes (enforce good,
enforce without STARTTLS, enforce with a wrong-name certificate, testing
with an expired certificate, a rogue MX preferred over the policy MX, an
MX set emptied by the policy, no policy), each publishing `_smtp._tls`.
Then `mtasts report build` for today must give exactly the per-policy
counts this test caused, cross-checked against the SMTP connections the
receiving Exim really accepted, and every report must be schema-valid.
`mtasts report send` hands mailto: reports to the same Exim (`exim -t`):
the report address is at an enforce domain whose MX has a broken
certificate, so only `TLS-Required: No` (RFC 8689) gets them through;
https: reports go to tests/world/tlsrpt_collector.py. The report-mail
sessions must not be counted when the day is built again.

    test_tlsrpt_exim.py --so mtasts_exim.so --mtasts BIN [--keep]
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "world"))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))

import eximworld as E  # noqa: E402
import promtext  # noqa: E402
from tlsrpt_schema import (  # noqa: E402
    read_maildir, report_mail_checks, schema_errors)

W = E.W
SUBMITTER = "sender.world.test"
HOST_ID = "tx-main.sender.world.test"   # report_host_id, D-RPT-11
RUA_MAIL = "tlsrpt@reports.test"

FAILS = []


def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILS.append(what)
    return cond


def policy_lines(mode, mx):
    return ["version: STSv1", "mode: %s" % mode, "mx: %s" % mx,
            "max_age: 86400"]


def by_type(rep):
    return {p["policy"]["policy-type"]: p for p in rep["policies"]}


def details(p):
    """failure-details as comparable tuples."""
    return sorted((f["result-type"], f.get("receiving-mx-hostname"),
                   f.get("receiving-ip"), f["failed-session-count"])
                  for f in p.get("failure-details", []))


def run(so, mtasts, keep):
    with E.EximWorld(so, mtasts=mtasts, keep=keep) as ew:
        return scenario(ew, mtasts)


def scenario(ew, mtasts):
    w, rx = ew.w, ew.rx
    rx.add("rogue.attacker.test", "good")
    ruas = {}

    def dom(name, mode, mxs, rua):
        if mode is None:
            w.add_domain(name)
        else:
            w.add_domain(name, txt="v=STSv1; id=1", policy=W.Policy(
                mode=mode, mx=[mxs[-1][1]]))
        for _, host, kind in mxs:
            rx.add(host, kind)
        ew.mx(name, *[(p, h) for p, h, _ in mxs])
        w.add_records({"name": "_smtp._tls." + name, "type": "TXT",
                       "data": ["v=TLSRPTv1; rua=" + rua]})
        ruas[name] = rua

    coll = "https://collector.test/"
    dom("good.test", "enforce", [(10, "mx.good.test", "good")],
        coll + "good")
    dom("notls.test", "enforce", [(10, "mx.notls.test", "notls")],
        "mailto:" + RUA_MAIL + "," + coll + "notls")
    dom("badname.test", "enforce", [(10, "mx.badname.test", "wrongname")],
        "mailto:" + RUA_MAIL)
    dom("testing.test", "testing", [(10, "mx.testing.test", "expired")],
        coll + "testing")
    dom("rogue.test", "enforce", [(5, "rogue.attacker.test", "good"),
                                  (10, "mx.rogue.test", "good")],
        coll + "rogue")
    # Testing mode, a non-policy MX preferred: delivered there, recorded
    # as validation-failure at tcp:connect, before Exim knows its own
    # sending address (issue 16: the record must still carry it).
    rx.add("rogue2.attacker.test", "good")
    dom("testrogue.test", "testing", [(5, "rogue2.attacker.test", "good"),
                                      (10, "mx.testrogue.test", "good")],
        coll + "testrogue")
    # The policy names an MX that is not in DNS: the MX set is emptied.
    dom("nomatch.test", "enforce", [(5, "rogue.attacker.test", "good"),
                                    (10, "mx.nomatch.test", "good")],
        "mailto:" + RUA_MAIL)
    ew.mx("nomatch.test", (5, "rogue.attacker.test"))
    dom("nopolicy.test", None, [(10, "mx.nopolicy.test", "good")],
        coll + "nopolicy")
    # Where reports go: enforce, and its only MX has a broken certificate.
    dom("reports.test", "enforce", [(10, "mx.reports.test", "wrongname")],
        "mailto:" + RUA_MAIL)

    a_coll = w.alloc_v4()
    w.add_records({"name": "collector.test", "type": "A", "data": a_coll})
    posts = os.path.join(w.dir, "posts")
    cert, key = w.pki.leaf("collector.test")
    cp = subprocess.Popen([W.PY, os.path.join(HERE, "..", "world",
                                              "tlsrpt_collector.py"),
                           "--addr", a_coll, "--cert", cert, "--key", key,
                           "--dir", posts], stdout=subprocess.PIPE, text=True)
    try:
        ok(cp.stdout.readline().strip() == "ready", "collector started")
        ew.start_receivers()
        return phases(ew, mtasts, ruas, posts)
    finally:
        cp.terminate()
        cp.wait()


def phases(ew, mtasts, ruas, posts):
    w, rx = ew.w, ew.rx
    spool = os.path.join(w.dir, "tlsrpt")
    reports = os.path.join(w.dir, "reports")
    txdir = os.path.join(w.dir, "tx-main")
    sendmail = "%s -C %s -odq -oi -t" % (E.EXIM,
                                         os.path.join(txdir, "exim.conf"))
    tx = ew.sender("main", tlsrpt_dir=spool, report_dir=reports,
                   report_host_id=HOST_ID,
                   report_contact="tlsrpt@" + SUBMITTER,
                   report_org_name="Exim Sender Test",
                   report_from="noreply@" + SUBMITTER, sendmail=sendmail)
    day = time.strftime("%Y-%m-%d", time.gmtime())

    def mt(*args):
        p = subprocess.run([mtasts, "--config", tx.mtasts_conf] +
                           list(args), capture_output=True, text=True,
                           timeout=120)
        return p

    base = rx.connections_settled()

    def sessions():
        now = rx.connections()
        return {k: now[k] - base.get(k, 0) for k in now}

    # ---- round 0: a two-stage queue run (exim -qq): Exim routes every
    # message first, then delivers the messages for one host over one
    # connection (-MC continued deliveries): RFC 8460 counts ONE session.
    # The first stage routes every message, so the guard's record for
    # nomatch.test (no session: the policy empties its MX set) is made
    # twice with the same attempt key and counted once (D-RPT-12).
    for i in range(3):
        tx.send("u%d@good.test" % i, subject="good %d" % i)
    for i in range(2):
        tx.send("u%d@testing.test" % i, subject="testing %d" % i)
    tx.send("q0@nomatch.test", subject="nomatch qqff")
    p = tx.exim("-qqff", timeout=600)
    ok(p.returncode == 0, "exim -qqff: %s" % p.stderr)
    rx.settle()
    # exim -bt/-bv/-be route or expand without delivering: no record.
    for a in (["-bt", "t@nomatch.test"], ["-bv", "t@nomatch.test"]):
        tx.exim(*a)
    # ---- round 1: every other kind of outcome
    tx.send("u@notls.test", subject="notls")
    tx.send("u@badname.test", subject="badname")
    tx.send("u@rogue.test", subject="rogue")
    tx.send("u@nomatch.test", subject="nomatch")
    tx.send("u@testrogue.test", subject="testrogue")
    tx.send("u@nopolicy.test", subject="nopolicy")
    tx.send("u@reports.test", subject="normal to reports.test")
    # RFC 8689 from a local originator: delivered despite the bad cert.
    tx.send("local@badname.test", subject="local tls-required-no",
            headers="TLS-Required: No\n")
    # The same header relayed from outside: enforce still applies.
    tx.send("relayed@reports.test", subject="relayed tls-required-no",
            headers="TLS-Required: No\n", remote="192.0.2.77")
    tx.run_queue()
    tx.clear_retry()
    # ---- round 2: the deferred ones are tried again
    tx.run_queue()
    mail = rx.all_mail()
    conns1 = sessions()
    q = sorted(tx.queue())
    print("round 1+2: receiver connections %r" %
          {k: v for k, v in conns1.items() if v})
    print("queue: %r" % q)
    log = tx.log()

    def subj(host):
        return sorted(m.get("subject", "") for m in mail.get(host, []))

    ok(subj("mx.good.test") == ["good 0", "good 1", "good 2"],
       "good.test: 3 messages delivered: %r" % subj("mx.good.test"))
    ok(subj("mx.testing.test") == ["testing 0", "testing 1"],
       "testing.test: delivered despite the expired cert")
    ok(subj("mx.rogue.test") == ["rogue"] and
       subj("rogue.attacker.test") == [] and
       conns1["rogue.attacker.test"] == 0,
       "rogue MX never contacted; policy MX got the mail")
    ok(subj("mx.badname.test") == ["local tls-required-no"],
       "badname.test: only the local TLS-Required: No message arrived: %r"
       % subj("mx.badname.test"))
    ok(q == ["q0@nomatch.test", "relayed@reports.test", "u@badname.test",
             "u@nomatch.test", "u@notls.test", "u@reports.test"],
       "deferred and still queued: normal mail to the broken enforce "
       "domains, and the relayed TLS-Required: No message: %r" % q)
    ok(subj("mx.reports.test") == [] and subj("mx.notls.test") == [],
       "no mail reached the broken enforce MX hosts")
    ok("R=mtasts_tls_not_required T=mtasts_report_smtp" in log and
       "relayed@reports.test R=mtasts_tls_not_required" not in log,
       "only the local TLS-Required: No message took the bypass router")

    # SMTP sessions per receiving host, from the receiver's own log:
    # what the report must count. 3 messages to good.test and 2 to
    # testing.test went over one connection each (-MC); every delivery
    # attempt to a broken MX is its own session (2 rounds); badname.test
    # also got the local TLS-Required: No message (1 session, excluded).
    want_conns = {"mx.good.test": 1, "mx.testing.test": 1,
                  "mx.notls.test": 2, "mx.badname.test": 3,
                  "mx.rogue.test": 1, "mx.nopolicy.test": 1,
                  "mx.reports.test": 4, "rogue.attacker.test": 0,
                  "mx.nomatch.test": 0, "rogue2.attacker.test": 1,
                  "mx.testrogue.test": 0}
    ok(conns1 == want_conns, "receiver sessions %r, want %r" %
       (conns1, want_conns))
    ses_good = conns1["mx.good.test"]
    ses_testing = conns1["mx.testing.test"]
    # nomatch.test has no sessions: its delivery attempts, from Exim's own
    # log, are the distinct (queue run, message) pairs the guard deferred
    # (the -qqff run routes q0 in both stages: one attempt).
    attempts, run = set(), None
    for ln in log.splitlines():
        m = re.search(r"Start queue run: pid=(\d+)", ln)
        if m:
            run = m.group(1)
        m = re.search(r" (\S+) == \S+@nomatch\.test R=mtasts_guard defer",
                      ln)
        if m:
            attempts.add((run, m.group(1)))
    att_nomatch = len(attempts)
    ok(att_nomatch == 5, "nomatch.test: 5 delivery attempts in Exim's log "
       "(q0: -qqff, 2x -qff; u: 2x -qff): %r" % sorted(attempts))

    built1 = os.path.join(w.dir, "built1")
    b = mt("report", "build", "--date", day, "--out", built1)
    print(b.stdout + b.stderr)
    reps = load(built1)
    expect = {
        "good.test": ("sts", policy_lines("enforce", "mx.good.test"),
                      ses_good, []),
        "notls.test": ("sts", policy_lines("enforce", "mx.notls.test"), 0,
                       [("starttls-not-supported", "mx.notls.test",
                         rx.hosts["mx.notls.test"][0], 2)]),
        "badname.test": ("sts", policy_lines("enforce", "mx.badname.test"),
                         0, [("certificate-host-mismatch", "mx.badname.test",
                              rx.hosts["mx.badname.test"][0], 2)]),
        "testing.test": ("sts", policy_lines("testing", "mx.testing.test"),
                         0, [("certificate-expired", "mx.testing.test",
                              rx.hosts["mx.testing.test"][0],
                              ses_testing)]),
        "rogue.test": ("sts", policy_lines("enforce", "mx.rogue.test"), 1,
                       []),
        # D-RPT-15: no session, one record per delivery attempt: q0 in
        # the -qqff run (two routing passes, one attempt) and rounds 1
        # and 2 (-qff), u in rounds 1 and 2. The refused MX is named,
        # no receiving-ip (never tried), the sending IP is this host's.
        "nomatch.test": ("sts", policy_lines("enforce", "mx.nomatch.test"),
                         0, [("validation-failure", "rogue.attacker.test",
                              None, att_nomatch)]),
        "nopolicy.test": ("no-policy-found", None, 1, []),
        "testrogue.test": ("sts", policy_lines("testing",
                                               "mx.testrogue.test"), 0,
                           [("validation-failure", "rogue2.attacker.test",
                             rx.hosts["rogue2.attacker.test"][0], 1)]),
        "reports.test": ("sts", policy_lines("enforce", "mx.reports.test"),
                         0, [("certificate-host-mismatch", "mx.reports.test",
                              rx.hosts["mx.reports.test"][0], 4)]),
    }
    excluded1 = 1           # local TLS-Required: No to badname.test
    sessions1 = sum(e[2] + sum(d[3] for d in e[3]) for e in expect.values())
    ok(b.returncode == 0 and
       ("summary date=%s sessions=%d torn=0 excluded=%d dropped=0 "
        "domains=9 reports=9 no_tlsrpt=0 tempfail=0" %
        (day, sessions1, excluded1)) in b.stdout,
       "report build: %d sessions, %d excluded: %s" %
       (sessions1, excluded1, b.stdout.strip().splitlines()[-1:]))
    check_reports(reps, expect, day)
    check_metrics(mt, expect, excluded1)

    # ---- report send: https POSTs, mail through Exim with TLS-Required
    s = mt("report", "send", "--date", day)
    print(s.stdout + s.stderr)
    mailto = sorted(d for d, r in ruas.items() if r.startswith("mailto:"))
    https = sorted(d for d, r in ruas.items() if r.startswith("https:"))
    for d in mailto:
        ok("!%s!" % d in s.stdout and "mailto:" + RUA_MAIL in s.stdout,
           "%s sent by mail" % d)
    for d in https:
        ok(("!%s!" % d) in s.stdout and ruas[d] in s.stdout,
           "%s sent to %s" % (d, ruas[d]))
    ok(s.returncode == 0, "report send exit 0: %d %s" % (s.returncode,
                                                         s.stderr))
    got = {}
    for fn in sorted(os.listdir(posts)) if os.path.isdir(posts) else []:
        with open(os.path.join(posts, fn)) as f:
            p = json.load(f)
        got[p["path"]] = p
    ok(sorted(got) == sorted("/" + d.split(".")[0] for d in https),
       "collector got one POST per https domain: %r" % sorted(got))
    for d in https:
        p = got.get("/" + d.split(".")[0])
        if p is None:
            continue
        body = json.loads(gzip.decompress(bytes.fromhex(p["body_hex"])))
        ok(p["headers"].get("content-type") == "application/tlsrpt+gzip" and
           body == reps.get(d), "%s: POSTed gzip report = built report" % d)

    # Deliver: report mail passes the broken MX, normal mail still defers.
    queued = tx.queue()
    ok(queued.count(RUA_MAIL) == len(mailto),
       "%d report mails queued by sendmail: %r" % (len(mailto), queued))
    # A normal two-stage queue run (exim -qq: not forced, retry records
    # kept): the broken MX hosts have host retry records from the
    # enforce failures above. The report transport keys its own retry
    # data by host name only (retry_include_ip_address = false), so those
    # records do not hold back the report mail, and the normal mail is
    # not retried yet; nomatch.test's routing retry record keeps both
    # stages from running its guard: no attempt, no record.
    p = tx.exim("-qq", timeout=600)
    ok(p.returncode == 0, "exim -qq: %s" % p.stderr)
    rx.settle()
    conns2 = sessions()
    delta = {k: conns2[k] - conns1.get(k, 0) for k in conns2}
    print("round 3: receiver connections %r" %
          {k: v for k, v in delta.items() if v})
    q = sorted(tx.queue())
    ok(q == ["q0@nomatch.test", "relayed@reports.test", "u@badname.test",
             "u@nomatch.test", "u@notls.test", "u@reports.test"],
       "normal mail to the same broken enforce MX still deferred: %r" % q)
    rmail = read_mail(rx, "mx.reports.test")
    rep_mail = [m for m in rmail if m["TLS-Report-Domain"]]
    ok(len(rep_mail) == len(mailto) and len(rmail) == len(mailto),
       "reports.test MX got exactly the %d report mails: %r" %
       (len(mailto), [m["Subject"] for m in rmail]))
    for m in rep_mail:
        check_mail(m, reps, day)
    mids = [str(m["Message-ID"]) for m in rep_mail]
    ok(len(set(mids)) == len(mids), "report Message-IDs unique: %r" % mids)
    # D-RPT-14: sendmail got -f report_from (Exim logs the envelope).
    env = [x for x in tx.log_lines(r"<= \S+ U=\S+ P=local ")
           if "<= sender@%s " % SUBMITTER not in x]
    ok(len(env) == len(mailto) and
       all("<= noreply@%s " % SUBMITTER in x for x in env),
       "report mail envelope sender is report_from: %r" % env)
    ok(sorted(m["TLS-Report-Domain"] for m in rep_mail) == mailto,
       "one report mail per mailto domain")

    # ---- the day again: report mail is not counted
    # Round 3: the report mails' one session, nothing else (the deferred
    # normal mail waits for its retry time; nomatch.test's routing retry
    # record keeps the guard from running again).
    # exim -qq: the second stage delivers all report mails for the one
    # MX over one connection (-MC), one session.
    want_delta = dict((k, 0) for k in want_conns)
    want_delta["mx.reports.test"] = 1
    ok(delta == want_delta, "round 3 receiver sessions %r, want %r" %
       (delta, want_delta))
    report_sessions = delta["mx.reports.test"]
    sessions2 = sessions1
    excluded2 = excluded1 + report_sessions
    built2 = os.path.join(w.dir, "built2")
    b2 = mt("report", "build", "--date", day, "--out", built2)
    print(b2.stdout + b2.stderr)
    ok(("summary date=%s sessions=%d torn=0 excluded=%d dropped=0 "
        "domains=9 reports=9" % (day, sessions2, excluded2)) in b2.stdout,
       "rebuild after the report mail: %d sessions, %d excluded (the %d "
       "report-mail sessions): %s" % (sessions2, excluded2, report_sessions,
                                      b2.stdout.strip().splitlines()[-1:]))
    reps2 = load(built2)
    check_reports(reps2, expect, day)
    ok(tx.panic() == "", "no panic log: %r" % tx.panic()[-300:])
    ok(not tx.log_lines("TLS-RPT record failed|report transport used"),
       "no record failures, no misrouted mail: %r" %
       tx.log_lines("TLS-RPT record failed|report transport used")[:3])
    if day != time.strftime("%Y-%m-%d", time.gmtime()):
        ok(False, "the UTC day changed during the test: run it again")
    print("sample report (reports.test, built from real Exim traffic):\n" +
          json.dumps(reps2.get("reports.test"), indent=1))
    return 0


def check_metrics(mt, expect, excluded):
    """`mtasts metrics` over the same real spool (D-MET-1): parsed
    strictly, and the session series per domain and result type are
    exactly the counts the reports carry (same reading of the spool)."""
    m = mt("metrics", "--top", "20")
    try:
        got = promtext.series(promtext.parse(m.stdout))
    except promtext.ParseError as e:
        ok(False, "metrics: strict parse: %s" % e)
        return
    want = {}
    for d, (_pt, lines, succ, dets) in expect.items():
        if succ:
            want[(d, "success")] = succ
        for rtype, _mx, _ip, n in dets:
            want[(d, rtype)] = want.get((d, rtype), 0) + n
    ses = {(dict(lb)["domain"], dict(lb)["result"]): v
           for (n, lb), v in got.items()
           if n == "mtasts_tlsrpt_sessions_total"}
    ok(m.returncode == 0 and ses == want,
       "metrics: sessions by domain and result %r, want %r (rc %d %s)" %
       (ses, want, m.returncode, m.stderr.strip()))
    enf = {dict(lb)["domain"]: v for (n, lb), v in got.items()
           if n == "mtasts_tlsrpt_enforce_failed_sessions_total"}
    want_enf = {d: sum(x[3] for x in e[3]) for d, e in expect.items()
                if e[1] is not None and "mode: enforce" in e[1] and e[3]}
    ok(enf == want_enf, "metrics: enforce-failed sessions %r, want %r" %
       (enf, want_enf))
    ok(got.get(("mtasts_tlsrpt_report_mail_sessions_total", ())) ==
       excluded and got.get(("mtasts_tlsrpt_domains", ())) == len(expect)
       and got.get(("mtasts_tlsrpt_spool_malformed_lines_total", ())) == 0,
       "metrics: report mail %r, domains %r" % (
           got.get(("mtasts_tlsrpt_report_mail_sessions_total", ())),
           got.get(("mtasts_tlsrpt_domains", ()))))
    # mtasts status over the same spool (D-MET-6): failures today, exit 4.
    st = mt("status")
    nfail = sum(n for e in expect.values() for *_x, n in e[3])
    nses = nfail + sum(e[2] for e in expect.values())
    line = "today: %d sessions to %d policy domains, %d failed (%d under " \
        "enforce: not delivered over them)\n" % (
            nses, len(expect), nfail, sum(want_enf.values()))
    ok(st.returncode == 4 and line in st.stdout and
       "  nomatch.test: 5 validation-failure (0 ok)\n" in st.stdout,
       "status: %r in\n%s" % (line, st.stdout))


def load(d):
    out = {}
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, fn)) as f:
            out[fn.split("!")[1]] = json.load(f)
    return out


def check_reports(reps, expect, day):
    ok(sorted(reps) == sorted(expect), "one report per domain: %r" %
       sorted(reps))
    for d, (ptype, pstr, succ, fails) in sorted(expect.items()):
        rep = reps.get(d)
        if rep is None:
            continue
        errs = schema_errors(rep)
        ok(not errs, "%s: RFC 8460 schema valid %r" % (d, errs))
        ok(rep["report-id"] == "%s.%s+%s@%s" % (day.replace("-", ""), d,
                                                HOST_ID, SUBMITTER) and
           rep["date-range"]["start-datetime"] == day + "T00:00:00Z",
           "%s: report-id and date-range" % d)
        pols = by_type(rep)
        ok(list(pols) == [ptype], "%s: one %s policy: %r" % (d, ptype,
                                                             list(pols)))
        p = pols.get(ptype, {"policy": {}, "summary": {}})
        ok(p["policy"].get("policy-domain") == d and
           p["policy"].get("policy-string") == pstr,
           "%s: policy %r" % (d, p["policy"]))
        nfail = sum(f[3] for f in fails)
        ok(p["summary"] == {"total-successful-session-count": succ,
                            "total-failure-session-count": nfail},
           "%s: summary %d ok / %d failed: %r" % (d, succ, nfail,
                                                  p["summary"]))
        ok(details(p) == sorted(fails), "%s: failure-details %r, want %r"
           % (d, details(p), sorted(fails)))
        # §4.4: sending-mta-ip and receiving-mx-hostname are required in
        # every failure detail (fetch failures have no MX and no session).
        for f in p.get("failure-details", []):
            if f["result-type"].startswith("sts-policy"):
                continue
            ok(f.get("sending-mta-ip") and f.get("receiving-mx-hostname"),
               "%s: %s detail has sending-mta-ip and receiving-mx-hostname:"
               " %r" % (d, f["result-type"], f))


def read_mail(rx, host):
    return read_maildir(os.path.join(rx.dir, "mail", host, "new"))


def check_mail(m, reps, day):
    for cond, what in report_mail_checks(m, reps.get(str(m["TLS-Report-Domain"]), {}), day, SUBMITTER, RUA_MAIL,
                                         True):
        ok(cond, what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    t0 = time.monotonic()
    try:
        run(os.path.abspath(a.so), os.path.abspath(a.mtasts), a.keep)
    except W.WorldError as e:
        ok(False, "world: %s" % e)
    print("tlsrpt-exim: %d failed in %.1fs" % (len(FAILS),
                                               time.monotonic() - t0))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
