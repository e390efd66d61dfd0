#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_tlsrpt - TLS-RPT end to end in the test world (no MTA).

Sessions are recorded through the real library API (libmtasts via ctypes,
mtasts_tlsrpt_record), a policy fetch failure is recorded by the core
during `mtasts lookup`, then `mtasts report build` must produce exactly
the expected counts, every report schema-valid, and `mtasts report send`
must deliver to an https: collector (tlsrpt_collector.py) and to a mailto:
rua through a fake sendmail that saves the message; a failing collector
leaves a retry state. Report-mail sessions (TLS-Required: No) are spooled
with MTASTS_TLSRPT_REPORT_MAIL and must not be counted.

Usage: test_tlsrpt.py --mtasts BIN --lib LIBMTASTS_SO
"""

import argparse
import base64
import ctypes
import email
import email.policy
import gzip
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import world  # noqa: E402
from tlsrpt_schema import mail_errors, schema_ok  # noqa: E402

DAY0 = 1709251200          # 2024-03-01T00:00:00Z
DATE = "2024-03-01"
SUBMITTER = "sender.test"
HOST_ID = "tx1.sender.test"     # report_host_id (D-RPT-11)
UID = "20240301tx1sendertest"   # §5.1 unique-id: day + host id's alnum

FAILS = []


def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


class Session(ctypes.Structure):
    _fields_ = [("policy_domain", ctypes.c_char_p),
                ("policy_type", ctypes.c_int),
                ("policy", ctypes.c_void_p),
                ("tlsa_records", ctypes.c_char_p),
                ("mx_host", ctypes.c_char_p),
                ("mx_ip", ctypes.c_char_p),
                ("mx_helo", ctypes.c_char_p),
                ("sending_ip", ctypes.c_char_p),
                ("result_type", ctypes.c_char_p),
                ("failure_reason", ctypes.c_char_p),
                ("when", ctypes.c_int64),
                ("flags", ctypes.c_uint),
                ("attempt_key", ctypes.c_char_p)]


class Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("text", ctypes.c_char * 160)]


class Lib:
    def __init__(self, path, config):
        self.l = ctypes.CDLL(path)
        self.l.mtasts_ctx_new.restype = ctypes.c_void_p
        self.l.mtasts_ctx_load_config.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self.l.mtasts_tlsrpt_record.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(Session), ctypes.POINTER(Err)]
        self.l.mtasts_policy_parse.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t,
            ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self.ctx = self.l.mtasts_ctx_new()
        rc = self.l.mtasts_ctx_load_config(self.ctx, config.encode(), None)
        assert rc == 0, rc

    def policy(self, text):
        p = ctypes.c_void_p()
        t = text.encode()
        rc = self.l.mtasts_policy_parse(t, len(t), ctypes.byref(p), None)
        assert rc == 0, rc
        return p

    def record(self, domain, ptype, policy=None, mx=None, ip=None,
               result=None, reason=None, when=DAY0 + 3600, flags=0,
               helo=None, key=None):
        s = Session()
        s.policy_domain = domain.encode()
        s.policy_type = {"none": 0, "sts": 1, "tlsa": 2}[ptype]
        s.policy = policy.value if policy is not None else None
        s.mx_host = mx.encode() if mx else None
        s.mx_ip = ip.encode() if ip else None
        s.mx_helo = helo.encode() if helo else None
        s.sending_ip = b"192.0.2.25"
        s.result_type = result.encode() if result else None
        s.failure_reason = reason.encode() if reason else None
        s.when = when
        s.flags = flags
        s.attempt_key = key.encode() if key else None
        e = Err()
        rc = self.l.mtasts_tlsrpt_record(self.ctx, ctypes.byref(s),
                                         ctypes.byref(e))
        assert rc == 0, (rc, e.text)


def policies_by_type(rep):
    return {p["policy"]["policy-type"]: p for p in rep["policies"]}


def preload_sanitizer(lib):
    """A sanitizer build of libmtasts needs its runtime loaded first."""
    try:
        ctypes.CDLL(lib)
        # Loaded; the children (sanitized mtasts, python) must not inherit.
        os.environ.pop("LD_PRELOAD", None)
        return
    except OSError as e:
        err = str(e)
        if "__asan" not in err and "__ubsan" not in err:
            raise
    if os.environ.get("MTASTS_TLSRPT_PRELOAD") == "1":
        raise SystemExit("cannot load %s even with the sanitizer runtime: "
                         "%s" % (lib, err))
    name = "libclang_rt.asan-%s.so" % os.uname().machine
    try:
        rt = subprocess.run(["clang", "-print-file-name=" + name],
                            capture_output=True, text=True).stdout.strip()
    except OSError:
        rt = ""
    if not os.path.isabs(rt) or not os.path.exists(rt):
        import glob
        found = sorted(glob.glob("/usr/lib/llvm-*/lib/clang/*/lib/linux/" +
                                 name))
        rt = found[-1] if found else ""
    env = dict(os.environ, LD_PRELOAD=rt, MTASTS_TLSRPT_PRELOAD="1",
               ASAN_OPTIONS="detect_leaks=0")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()
    world.ensure_namespace()
    # After the namespace re-exec, which would drop the preload again.
    preload_sanitizer(args.lib)
    w = world.World(mtasts=args.mtasts)
    w.start()
    colls = []
    try:
        run(w, args, colls)
    finally:
        for c in colls:
            c.terminate()
            c.wait()
        w.stop()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


def collector(w, colls, name, addr, outdir, status=201):
    cert, key = w.pki.leaf(name)
    p = subprocess.Popen([world.PY, os.path.join(HERE, "tlsrpt_collector.py"),
                          "--addr", addr, "--cert", cert, "--key", key,
                          "--dir", outdir, "--status", str(status)],
                         stdout=subprocess.PIPE, text=True)
    colls.append(p)
    assert p.stdout.readline().strip() == "ready"


def run(w, args, colls):
    base = w.dir
    spool = os.path.join(base, "spool")
    reports = os.path.join(base, "reports")
    mails = os.path.join(base, "mails")
    posts = os.path.join(base, "posts")
    posts_down = os.path.join(base, "posts-down")
    os.makedirs(mails)
    sendmail = os.path.join(base, "fake-sendmail")
    with open(sendmail, "w") as f:
        f.write("#!/bin/sh\n[ \"$1\" = -oi ] && [ \"$2\" = -t ] || exit 64\n"
                "echo \"$*\" > \"%s/argv.$$\"\n"
                "cat > \"%s/mail.$$\"\n" % (base, mails))
    os.chmod(sendmail, 0o755)

    a_ok, a_down = w.alloc_v4(), w.alloc_v4()
    collector(w, colls, "collector.test", a_ok, posts)
    collector(w, colls, "down.collector.test", a_down, posts_down, 500)
    w.add_records({"name": "collector.test", "type": "A", "data": a_ok},
                  {"name": "down.collector.test", "type": "A",
                   "data": a_down})
    # Issue 12 item 2, D-NET-3: the collector's AAAA (tried first) is
    # blackholed; the POST races on to the A within its deadline.
    w.add_records({"name": "collector.test", "type": "AAAA",
                   "data": w.alloc_dead(6)})

    def tlsrpt(domain, rua):
        w.add_records({"name": "_smtp._tls." + domain, "type": "TXT",
                       "data": ["v=TLSRPTv1; rua=" + rua]})

    tlsrpt("https.test", "https://collector.test/tlsrpt")
    tlsrpt("mail.test", "mailto:tlsrpt@reports.test")
    tlsrpt("both.test", "mailto:x@reports.test,https://collector.test/b")
    tlsrpt("fetchfail.test", "https://collector.test/ff")
    tlsrpt("down.test", "https://down.collector.test/")
    w.add_records({"name": "_smtp._tls.bad.test", "type": "TXT",
                   "data": ["v=TLSRPTv1; rua=ftp://x.test/"]})
    w.add_domain("fetchfail.test", txt="v=STSv1; id=1", policy=None)

    c = w.client("rpt", tlsrpt_dir=spool, report_dir=reports,
                 report_contact="tlsrpt@" + SUBMITTER,
                 report_org_name="Sender Test Org", sendmail=sendmail +
                 " -oi -t", report_from="noreply@" + SUBMITTER,
                 report_host_id=HOST_ID)
    lib = Lib(args.lib, c.config)
    pol = lib.policy("version: STSv1\nmode: enforce\nmx: mx.https.test\n"
                     "max_age: 86400\n")
    # https.test: 5 ok, 3 expired, 2 starttls-not-supported, 1 report mail
    for _ in range(5):
        lib.record("https.test", "sts", pol, "mx.https.test", "127.0.9.1")
    for _ in range(3):
        lib.record("https.test", "sts", pol, "mx.https.test", "127.0.9.1",
                   "certificate-expired", "X509_V_ERR_CERT_HAS_EXPIRED",
                   helo="mx.https.test")
    for _ in range(2):
        lib.record("https.test", "sts", pol, "mx.https.test", "127.0.9.2",
                   "starttls-not-supported")
    lib.record("https.test", "sts", pol, "mx.https.test", "127.0.9.1",
               "certificate-expired", flags=1)
    # mail.test: 4 no-policy-found ok; both.test: 1 tlsa failure + 1 ok
    for _ in range(4):
        lib.record("mail.test", "none", None, "mx.mail.test", "127.0.9.3")
    lib.record("both.test", "tlsa", None, "mx.both.test", "127.0.9.4",
               "tlsa-invalid")
    lib.record("both.test", "none", None, "mx.both.test", "127.0.9.4")
    lib.record("down.test", "none", None, "mx.down.test", "127.0.9.5")
    lib.record("bad.test", "none", None, "mx.bad.test", "127.0.9.6")
    lib.record("nothing.test", "none", None, "mx.nothing.test", "127.0.9.7")
    # The core records the fetch failure of a delivery-time lookup.
    r = c.lookup("fetchfail.test", now=DAY0 + 7200)
    ok(r.get("failure_type") == "sts-policy-fetch-error" or
       "sts-policy-fetch-error" in r.out, "lookup fetchfail.test fails "
       "with sts-policy-fetch-error: %r" % r)
    # refresh is not a session: nothing recorded for it.
    c.run("refresh", now=DAY0 + 7300)
    with open(os.path.join(spool, DATE + ".jsonl"), "a") as f:
        f.write('{"v":1,"t":1709254800,"d":"https.te')   # torn last line

    out = os.path.join(base, "built")
    b = c.run("report", "build", "--date", DATE, "--out", out)
    ok(b.rc == 0, "report build exit 0: %r %s" % (b.rc, b.err))
    ok("summary date=2024-03-01 sessions=20 torn=1 excluded=1 dropped=0 "
       "domains=7 reports=5 no_tlsrpt=2 tempfail=0" in b.out,
       "build summary: %s" % b.out.strip().splitlines()[-1:])
    files = sorted(os.listdir(out)) if os.path.isdir(out) else []
    want = sorted("%s!%s!%d!%d!%s.json" % (SUBMITTER, d, DAY0,
                                           DAY0 + 86399, UID)
                  for d in ("https.test", "mail.test", "both.test",
                            "fetchfail.test", "down.test"))
    ok(files == want, "report files %s" % files)
    reps = {}
    for fn in files:
        with open(os.path.join(out, fn)) as f:
            rep = json.load(f)
        reps[fn.split("!")[1]] = rep
        ok(schema_ok(rep), "schema valid: " + fn)
        ok(rep["report-id"] == "20240301.%s+%s@%s" % (
            fn.split("!")[1], HOST_ID, SUBMITTER),
           "report-id names the host: %s" % rep["report-id"])
    h = policies_by_type(reps.get("https.test", {"policies": []}))
    sts = h.get("sts", {})
    ok(sts.get("summary") == {"total-successful-session-count": 5,
                              "total-failure-session-count": 5},
       "https.test summary %s" % sts.get("summary"))
    fd = sts.get("failure-details", [])
    ok(len(fd) == 2 and fd[0]["result-type"] == "certificate-expired" and
       fd[0]["failed-session-count"] == 3 and
       fd[0]["receiving-mx-helo"] == "mx.https.test" and
       fd[0]["receiving-ip"] == "127.0.9.1" and
       fd[0]["sending-mta-ip"] == "192.0.2.25" and
       fd[1]["result-type"] == "starttls-not-supported" and
       fd[1]["failed-session-count"] == 2, "https.test details %s" % fd)
    ok(sts.get("policy", {}).get("policy-string") ==
       ["version: STSv1", "mode: enforce", "mx: mx.https.test",
        "max_age: 86400"] and sts["policy"]["mx-host"] == ["mx.https.test"],
       "https.test policy %s" % sts.get("policy"))
    m = policies_by_type(reps.get("mail.test", {"policies": []}))
    ok(m.get("no-policy-found", {}).get("summary", {}).get(
        "total-successful-session-count") == 4, "mail.test 4 sessions")
    bt = policies_by_type(reps.get("both.test", {"policies": []}))
    ok(set(bt) == {"tlsa", "no-policy-found"} and
       bt["tlsa"]["summary"]["total-failure-session-count"] == 1,
       "both.test policies %s" % list(bt))
    ff = policies_by_type(reps.get("fetchfail.test", {"policies": []}))
    ffd = ff.get("sts", {}).get("failure-details", [])
    ok(len(ffd) == 1 and ffd[0]["result-type"] == "sts-policy-fetch-error"
       and ffd[0]["failed-session-count"] == 1,
       "fetchfail.test core-recorded failure %s" % ffd)

    now = DAY0 + 86400 + 3 * 3600
    s = c.run("report", "send", "--date", DATE, now=now)
    ok(s.rc == 0, "report send exit 0: %r %s" % (s.rc, s.err))
    ok(s.elapsed < 10, "report send past a blackholed AAAA took %.1f s" %
       s.elapsed)
    for d, how in (("https.test", "https://collector.test/tlsrpt"),
                   ("mail.test", "mailto:tlsrpt@reports.test"),
                   ("both.test", "mailto:x@reports.test"),
                   ("fetchfail.test", "https://collector.test/ff")):
        ok("sent %s!%s!" % (SUBMITTER, d) in s.out and how in s.out,
           "sent %s via %s" % (d, how))
    ok("retry %s!down.test!" % SUBMITTER in s.out, "down.test retried: " +
       s.out)
    # https: gzip'd report, right media type and path.
    got = {}
    for fn in sorted(os.listdir(posts)):
        with open(os.path.join(posts, fn)) as f:
            p = json.load(f)
        got[p["path"]] = p
    p = got.get("/tlsrpt")
    ok(p is not None and p["method"] == "POST" and
       p["headers"].get("content-type") == "application/tlsrpt+gzip",
       "https POST headers %s" % (p and p["headers"]))
    if p:
        body = json.loads(gzip.decompress(bytes.fromhex(p["body_hex"])))
        ok(body == reps["https.test"], "POSTed report equals the built one")
    ok(len(os.listdir(posts_down)) == 1, "down collector was tried once")
    # mailto: the saved message.
    msgs = []
    mids = set()
    for fn in sorted(os.listdir(mails)):
        with open(os.path.join(mails, fn), "rb") as f:
            raw = f.read()
        msgs.append(email.message_from_bytes(raw,
                                             policy=email.policy.default))
        errs = mail_errors(raw)
        ok(not errs, "report mail %s RFC 5322/MIME/§5.3 valid: %r" %
           (msgs[-1]["TLS-Report-Domain"], errs))
        mids.add(str(msgs[-1]["Message-ID"]))
    ok(len(msgs) == 2, "two report mails (mail.test, both.test)")
    ok(len(mids) == len(msgs), "Message-IDs unique: %s" % sorted(mids))
    argvs = set()
    for fn in os.listdir(base):
        if fn.startswith("argv."):
            with open(os.path.join(base, fn)) as f:
                argvs.add(f.read().strip())
    ok(argvs == {"-oi -t -f noreply@" + SUBMITTER},
       "sendmail got the envelope sender -f report_from: %s" % argvs)
    mm = [x for x in msgs if x["TLS-Report-Domain"] == "mail.test"]
    if mm:
        x = mm[0]
        ok(x["To"] == "tlsrpt@reports.test", "To " + str(x["To"]))
        ok(x["TLS-Report-Submitter"] == SUBMITTER, "submitter header")
        ok(x["TLS-Required"] == "No", "TLS-Required: No")
        ok(x["Subject"] == "Report Domain: mail.test Submitter: %s "
           "Report-ID: <20240301.mail.test+%s@%s>" % (SUBMITTER, HOST_ID,
                                                       SUBMITTER),
           "subject " + str(x["Subject"]))
        ok(x.get_content_type() == "multipart/report" and
           x.get_param("report-type") == "tlsrpt", "multipart/report")
        att = [pt for pt in x.iter_attachments()]
        ok(len(att) == 1 and att[0].get_content_type() ==
           "application/tlsrpt+gzip" and att[0].get_filename() ==
           "%s!mail.test!%d!%d!%s.json.gz" % (SUBMITTER, DAY0,
                                               DAY0 + 86399, UID),
           "attachment %s" % [a.get_filename() for a in att])
        if att:
            body = json.loads(gzip.decompress(att[0].get_content()))
            ok(body == reps["mail.test"], "mailed report equals the built")
    else:
        ok(False, "no mail for mail.test")
    # A second run: delivered ones are not sent again; down.test waits.
    s2 = c.run("report", "send", "--date", DATE, now=now + 60)
    ok("already-sent %s!https.test!" % SUBMITTER in s2.out and
       "later %s!down.test!" % SUBMITTER in s2.out, "second run: " + s2.out)
    ok(len(os.listdir(mails)) == 2, "no duplicate mail")
    # After 24 h of failures the report is given up (exit 4).
    s3 = c.run("report", "send", "--date", DATE, now=now + 86400 + 60)
    ok(s3.rc == 4 and "gave-up %s!down.test!" % SUBMITTER in s3.out,
       "gave up after 24 h: %r %s" % (s3.rc, s3.out))
    ok(len(os.listdir(posts_down)) == 2, "down collector tried twice")
    # The report mail itself, recorded by an adapter with the flag on
    # the next day, is not counted in the next day's report.
    lib.record("mail.test", "none", None, "mx.mail.test", "127.0.9.3",
               "certificate-expired", when=DAY0 + 86400 + 4 * 3600,
               flags=1)
    lib.record("mail.test", "none", None, "mx.mail.test", "127.0.9.3",
               when=DAY0 + 86400 + 4 * 3600)
    b2 = c.run("report", "build", "--date", "2024-03-02", "--out",
               os.path.join(base, "built2"))
    ok("sessions=1 torn=0 excluded=1" in b2.out, "report mail excluded: " +
       b2.out)
    with open(os.path.join(base, "built2",
                           "%s!mail.test!%d!%d!20240302tx1sendertest.json"
                           % (SUBMITTER, DAY0 + 86400, DAY0 + 2 * 86400 - 1))
              ) as f:
        rep = json.load(f)
    ok(rep["policies"][0]["summary"] == {
        "total-successful-session-count": 1,
        "total-failure-session-count": 0}, "next report counts only 1")
    with open(os.path.join(out, [f for f in files if "!https.test!" in f][0])
              ) as f:
        print("sample report:\n" + f.read())
    fleet(w, args, sendmail)


def fleet(w, args, sendmail):
    """Issue 16, D-RPT-11/11: three hosts with the same submitter. Each
    host's own report names the host (a deduplicating receiver keeps all
    three); `report build --spool` x3 and `--spool-root` aggregate the
    three spools into one report per policy domain with exact sums, and
    a refused delivery attempt spooled twice (two routing passes, same
    attempt key) counts once."""
    base = os.path.join(w.dir, "fleet")
    root = os.path.join(base, "spools")
    pol_txt = ("version: STSv1\nmode: enforce\nmx: mx.https.test\n"
               "max_age: 86400\n")
    spools, ids = [], set()
    want_ok, want_fail, want_vf = 0, 0, 0
    for h in range(3):
        host = "tx%d.sender.test" % (h + 1)
        spool = os.path.join(root, host)
        spools.append(spool)
        c = w.client("fleet%d" % h, tlsrpt_dir=spool,
                     report_dir=os.path.join(base, "rep%d" % h),
                     report_contact="tlsrpt@" + SUBMITTER,
                     report_host_id=host, sendmail=sendmail + " -oi -t")
        lib = Lib(args.lib, c.config)
        pol = lib.policy(pol_txt)
        for _ in range(2 + h):
            lib.record("https.test", "sts", pol, "mx.https.test",
                       "127.0.9.1")
        for _ in range(3 * h + 1):
            lib.record("https.test", "sts", pol, "mx.https.test",
                       "127.0.9.2", "certificate-expired", helo="mx")
        # one attempt, two routing passes: the same key twice
        for _ in range(2):
            lib.record("https.test", "sts", pol, "mx.https.test", None,
                       "validation-failure", "mx-mismatch",
                       key="exim:1rAbcD-000%d-00:77:1" % h)
        want_ok += 2 + h
        want_fail += 3 * h + 1
        want_vf += 1
        lib.record("mail.test", "none", None, "mx.mail.test", "127.0.9.3")
        o = os.path.join(base, "own%d" % h)
        b = c.run("report", "build", "--date", DATE, "--out", o)
        ok(b.rc == 0 and "duplicates=1" in b.out,
           "host %s builds its own report: %s" % (host, b.out.strip()))
        for fn in sorted(os.listdir(o)) if os.path.isdir(o) else []:
            with open(os.path.join(o, fn)) as f:
                ids.add((fn, json.load(f)["report-id"]))
    ok(len(ids) == 6 and len({i for _, i in ids}) == 6 and
       len({f for f, _ in ids}) == 6,
       "per-host reports: 6 distinct report-ids and file names %s" %
       sorted(ids))
    agg = w.client("fleetagg", report_dir=os.path.join(base, "agg"),
                   report_contact="tlsrpt@" + SUBMITTER,
                   report_host_id="reporter.sender.test")
    for how, extra in (("--spool", [x for sp in spools
                                    for x in ("--spool", sp)]),
                       ("--spool-root", ["--spool-root", root])):
        o = os.path.join(base, "agg-" + how.strip("-"))
        b = agg.run("report", "build", "--date", DATE, "--out", o, *extra)
        ok(b.rc == 0 and "sessions=%d " % (want_ok + want_fail + want_vf +
                                           3) in b.out and
           "duplicates=3 spools=3" in b.out,
           "%s build: %r %s %s" % (how, b.rc, b.out.strip(), b.err))
        files = sorted(os.listdir(o)) if os.path.isdir(o) else []
        ok(files == ["%s!%s!%d!%d!20240301.json" % (SUBMITTER, d, DAY0,
                                                     DAY0 + 86399)
                     for d in ("https.test", "mail.test")],
           "%s: one report per policy domain %s" % (how, files))
        reps = {}
        for fn in files:
            with open(os.path.join(o, fn)) as f:
                reps[fn.split("!")[1]] = json.load(f)
        r = reps.get("https.test", {"policies": []})
        ok(schema_ok(r) and r.get("report-id") ==
           "20240301.https.test@" + SUBMITTER,
           "%s: fleet report-id %s" % (how, r.get("report-id")))
        p = policies_by_type(r).get("sts", {})
        ok(p.get("summary") == {
            "total-successful-session-count": want_ok,
            "total-failure-session-count": want_fail + want_vf},
           "%s: summed summary %s (want %d ok, %d failed)" % (
               how, p.get("summary"), want_ok, want_fail + want_vf))
        det = {d["result-type"]: d["failed-session-count"]
               for d in p.get("failure-details", [])}
        ok(det == {"certificate-expired": want_fail,
                   "validation-failure": want_vf},
           "%s: summed failure-details %s" % (how, det))
        m = policies_by_type(reps.get("mail.test", {"policies": []}))
        ok(m.get("no-policy-found", {}).get("summary", {}).get(
            "total-successful-session-count") == 3,
           "%s: mail.test 3 sessions, one per host" % how)
    b = agg.run("report", "build", "--date", DATE, "--spool-root",
                os.path.join(base, "nonexistent"))
    ok(b.rc == 2, "missing --spool-root is a usage error: %r" % b.rc)


if __name__ == "__main__":
    sys.exit(main())
