#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""test_metrics.py --mtasts BIN [metrics|status]: `mtasts metrics` and
`mtasts status` over a constructed cache, TLS-RPT spool and report send
state (issue 16; decisions.md D-MET-1 .. D-MET-6).

metrics: every output line parsed strictly (promtext.py), every series
compared with the exact expected value; hostile spool lines (domain names
with quotes, backslashes, newlines, an injected sample) are skipped as
malformed and never reach a label; top N + "_other"; --out replaces the
file atomically; an unreadable source is mtasts_source_ok 0 and exit 4.
status: text and --json, "and N more", exit 0 when nothing fails and 4
when something failed today."""
import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promtext  # noqa: E402

DAY = 86400
NOW = 1796169600 + 3 * 3600 + 7          # 2026-12-02 03:00:07 UTC
TODAY = NOW - NOW % DAY
FAILS = []


def ok(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        FAILS.append(what)


def policy(mode, max_age, mx):
    return ("version: STSv1\nmode: %s\nmx: %s\nmax_age: %d\n" %
            (mode, mx, max_age))


def cache_entry(d, domain, mode=None, age=0, max_age=86400, fail=None):
    e = {"format": 1, "domain": domain, "txt_checked_at": NOW - age,
         "txt_id": "t1"}
    if mode is None:
        e.update({"id": "", "policy": None, "fetched_at": 0,
                  "expires_at": 0})
    else:
        e.update({"id": "p1", "policy": policy(mode, max_age, "mx." + domain),
                  "mode": mode, "max_age": max_age, "mx": ["mx." + domain],
                  "fetched_at": NOW - age,
                  "expires_at": NOW - age + max_age})
    if fail is not None:
        e["fail"] = fail
    path = os.path.join(d, domain + ".json")
    with open(path, "w") as f:
        json.dump(e, f)
    os.chmod(path, 0o660)


def rec(domain, result=None, mode="enforce", key=None, flags=None,
        when=NOW - 60, uid=None):
    r = {"v": 1, "t": when, "d": domain, "pt": "sts",
         "ps": ["version: STSv1", "mode: %s" % mode, "mx: mx." + domain,
                "max_age: 86400"], "mx": ["mx." + domain],
         "rh": "mx." + domain, "ri": "192.0.2.1", "si": "192.0.2.9"}
    if result is not None:
        r["r"] = result
    if key is not None:
        r["k"] = key
    if flags is not None:
        r["f"] = flags
    if uid is not None:
        r["u"] = uid
    return json.dumps(r, separators=(",", ":")) + "\n"


def day_name(t):
    import time
    return time.strftime("%Y-%m-%d", time.gmtime(t))


class Setup:
    def __init__(self, base, clean=False):
        self.base = base
        self.cache = os.path.join(base, "cache")
        self.spool = os.path.join(base, "spool")
        self.rep = os.path.join(base, "rep")
        for p in (self.cache, self.spool):
            os.makedirs(p)
            os.chmod(p, 0o2770)
        self.conf = os.path.join(base, "mtasts.conf")
        with open(self.conf, "w") as f:
            f.write("cache_dir = %s\ntlsrpt_dir = %s\nreport_dir = %s\n" %
                    (self.cache, self.spool, self.rep))
        if clean:
            cache_entry(self.cache, "a.test", "enforce", age=100)
            self.write_spool([rec("a.test")] * 3)
            return
        cache_entry(self.cache, "a.test", "enforce", age=100)
        for i in range(1, 11):
            cache_entry(self.cache, "e%02d.test" % i, "enforce", age=100)
        cache_entry(self.cache, "f.test", "enforce", age=10 * DAY,
                    fail={"at": NOW - 3600, "id": "", "type":
                          "sts-policy-fetch-error",
                          "reason": "HTTP status 404"})
        cache_entry(self.cache, "b.test", "testing", age=2 * DAY,
                    max_age=7 * DAY)
        cache_entry(self.cache, "c.test", "none", age=40 * DAY,
                    max_age=31557600)
        cache_entry(self.cache, "d.test", None, age=50)
        with open(os.path.join(self.cache, "e.test.json"), "w") as f:
            f.write("{not json")
        # a hostile failure type: the entry is unusable, never a label
        with open(os.path.join(self.cache, "g.test.json"), "w") as f:
            json.dump({"format": 1, "domain": "g.test", "id": "",
                       "policy": None, "fetched_at": 0, "expires_at": 0,
                       "txt_checked_at": NOW, "txt_id": "",
                       "fail": {"at": NOW, "id": "", "type":
                                'x"} 1\nmtasts_evil{a="', "reason": "r"}},
                      f)
        lines = [rec("a.test")] * 3 + \
            [rec("a.test", "certificate-expired")] * 2 + \
            [rec("b.test", "validation-failure", mode="testing"),
             rec("b.test", mode="testing"),
             rec("a.test", "certificate-expired", flags=1),
             rec("h.test", "validation-failure", key="exim:1x:7:1"),
             rec("h.test", "validation-failure", key="exim:1x:7:1")]
        # one line shipped twice (D-RPT-17): one session, one copy
        lines += [rec("b.test", mode="testing", uid="00c0ffee00c0ffee")] * 2
        lines += [rec("z%02d.test" % i) for i in range(30)]
        # hostile domain names: skipped as malformed (D-MET-5)
        for evil in ('ev"il.test', "ev\\il.test", "evil\n.test",
                     'evil.test"} 1\nmtasts_fake 1\n#'):
            lines.append(json.dumps({"v": 1, "t": NOW, "d": evil,
                                     "pt": "sts"}) + "\n")
        lines.append('{"v":1,"t":1,"d":"a.te')      # torn, no newline
        self.write_spool(lines)
        with open(os.path.join(self.spool, day_name(TODAY - DAY) +
                               ".jsonl"), "w") as f:
            f.write(rec("a.test", "certificate-expired",
                        when=TODAY - 3600) * 7)
        sdir = os.path.join(self.rep, "state")
        os.makedirs(sdir)
        for dom, begin, st in (
                ("a.test", TODAY - DAY, {"done": "mailto:r@a.test"}),
                ("b.test", TODAY - DAY, {}),
                ("c.test", TODAY - 2 * DAY, {"gave_up": True}),
                ("d.test", TODAY - 10 * DAY, {"gave_up": True})):
            s = {"first": begin + DAY + 3600, "next": 0, "attempts": 2,
                 "gave_up": False}
            s.update(st)
            with open(os.path.join(sdir, "sender.test!%s!%d!%d!x.json."
                                   "state" % (dom, begin, begin + DAY - 1)),
                      "w") as f:
                json.dump(s, f)

    def write_spool(self, lines):
        with open(os.path.join(self.spool, day_name(TODAY) + ".jsonl"),
                  "w") as f:
            f.write("".join(lines))

    def run(self, *args):
        p = subprocess.run([MTASTS, "--config", self.conf] + list(args) +
                           ["--now", str(NOW)], capture_output=True,
                           text=True, timeout=60)
        return p


def expected_full():
    age_sum = 100 * 11 + 10 * DAY + 2 * DAY + 40 * DAY
    E = {
        ("mtasts_cache_policies", (("mode", "enforce"),)): 12,
        ("mtasts_cache_policies", (("mode", "testing"),)): 1,
        ("mtasts_cache_policies", (("mode", "none"),)): 1,
        ("mtasts_cache_policies_expired", ()): 1,
        ("mtasts_cache_negative_entries", ()): 1,
        ("mtasts_cache_unusable_entries", ()): 2,
        ("mtasts_cache_policy_age_seconds_bucket", (("le", "3600"),)): 11,
        ("mtasts_cache_policy_age_seconds_bucket", (("le", "86400"),)): 11,
        ("mtasts_cache_policy_age_seconds_bucket", (("le", "604800"),)): 12,
        ("mtasts_cache_policy_age_seconds_bucket", (("le", "2592000"),)):
            13,
        ("mtasts_cache_policy_age_seconds_bucket", (("le", "+Inf"),)): 14,
        ("mtasts_cache_policy_age_seconds_sum", ()): age_sum,
        ("mtasts_cache_policy_age_seconds_count", ()): 14,
        ("mtasts_refresh_failing_domains",
         (("result_type", "sts-policy-fetch-error"),)): 1,
        ("mtasts_tlsrpt_domains", ()): 33,
        ("mtasts_tlsrpt_spool_malformed_lines_total", ()): 5,
        ("mtasts_tlsrpt_report_mail_sessions_total", ()): 1,
        ("mtasts_tlsrpt_dropped_sessions_total", ()): 0,
        ("mtasts_tlsrpt_duplicate_records_total", ()): 1,
        ("mtasts_tlsrpt_copied_records_total", ()): 1,
        ("mtasts_report_states", (("state", "sent"),)): 1,
        ("mtasts_report_states", (("state", "retrying"),)): 1,
        ("mtasts_report_states", (("state", "gave_up"),)): 1,
        ("mtasts_source_ok", (("source", "cache"),)): 1,
        ("mtasts_source_ok", (("source", "spool"),)): 1,
        ("mtasts_source_ok", (("source", "report_state"),)): 1,
        ("mtasts_metrics_timestamp_seconds", ()): NOW,
    }

    def s(dom, res, v):
        E[("mtasts_tlsrpt_sessions_total",
           (("domain", dom), ("result", res)))] = v
    s("a.test", "success", 3)
    s("a.test", "certificate-expired", 2)
    s("b.test", "success", 2)
    s("b.test", "validation-failure", 1)
    s("h.test", "validation-failure", 1)
    s("_other", "success", 30)
    for dom, v in (("a.test", 2), ("h.test", 1)):
        E[("mtasts_tlsrpt_enforce_failed_sessions_total",
           (("domain", dom),))] = v
    return E


PROMTOOL_DEB_DIR = "/var/cache/mtasts-test"


def promtool(base):
    """promtool from Debian's prometheus .deb (scripts/bootstrap fetches
    it; never installed: the package brings a daemon), or None."""
    debs = sorted(f for f in os.listdir(PROMTOOL_DEB_DIR)
                  if f.startswith("prometheus_") and f.endswith(".deb")) \
        if os.path.isdir(PROMTOOL_DEB_DIR) else []
    if not debs:
        return None
    d = os.path.join(base, "prom")
    subprocess.run(["dpkg", "-x", os.path.join(PROMTOOL_DEB_DIR, debs[-1]),
                    d], check=True)
    p = os.path.join(d, "usr", "bin", "promtool")
    return p if os.access(p, os.X_OK) else None


def promtool_check(tool, text, what):
    if tool is None:
        return
    p = subprocess.run([tool, "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    ok(p.returncode == 0 and p.stdout.strip() == "" and
       p.stderr.strip() == "", "promtool check metrics (%s): %d %s %s" %
       (what, p.returncode, p.stdout, p.stderr))


def test_parser():
    """The strict parser rejects what it must (it is the oracle)."""
    good = "# HELP mtasts_x h\n# TYPE mtasts_x gauge\nmtasts_x 1\n"
    ok(promtext.series(promtext.parse(good)) == {("mtasts_x", ()): 1.0},
       "parser accepts a minimal family")
    for bad, why in (
            ("mtasts_x 1\n", "sample before HELP/TYPE"),
            (good + "mtasts_x 2\n", "duplicate series"),
            (good.replace("gauge", "gauges"), "bad type"),
            (good + "# HELP mtasts_x again\n", "second HELP"),
            ("# HELP mtasts_x h\n# TYPE mtasts_x gauge\n"
             'mtasts_x{a="\\q"} 1\n', "bad label escape"),
            ("# HELP mtasts_x h\n# TYPE mtasts_x gauge\n"
             'mtasts_x{a="1",a="2"} 1\n', "duplicate label"),
            ("# HELP mtasts_x h\n# TYPE mtasts_x gauge\nmtasts_x one\n",
             "value not a float"),
            ("# HELP mtasts_x h\n# TYPE mtasts_x gauge\n"
             'mtasts_x{a="x\ny"} 1\n', "raw newline in a label"),
            (good + "# TYPE mtasts_y counter\n# HELP mtasts_y h\n"
             "mtasts_y -1\n", "negative counter"),
            (good + "# HELP mtasts_y h\n# TYPE mtasts_y gauge\nmtasts_y 1\n"
             "mtasts_x{b=\"1\"} 1\n", "family not contiguous"),
            ("# HELP mtasts_h h\n# TYPE mtasts_h histogram\n"
             'mtasts_h_bucket{le="1"} 2\nmtasts_h_bucket{le="+Inf"} 1\n'
             "mtasts_h_sum 1\nmtasts_h_count 1\n", "histogram not cumulative"),
            ("# HELP other_x h\n# TYPE other_x gauge\nother_x 1\n",
             "name without the mtasts_ prefix"),
            (good + "\n", "blank line"),
            (good[:-1], "no final newline")):
        try:
            promtext.parse(bad)
            ok(False, "parser rejects: " + why)
        except promtext.ParseError:
            ok(True, "parser rejects: " + why)


def test_metrics(base):
    test_parser()
    tool = promtool(base)
    print("promtool: %s" % (tool or "not available (bootstrap fetches "
                                    "prometheus_*.deb); strict parser only"))
    su = Setup(os.path.join(base, "full"))
    p = su.run("metrics", "--top", "3")
    ok(p.returncode == 0, "metrics exit 0: %d %s" % (p.returncode, p.stderr))
    promtool_check(tool, p.stdout, "full")
    try:
        fams = promtext.parse(p.stdout)
    except promtext.ParseError as e:
        ok(False, "strict parse: %s\n%s" % (e, p.stdout))
        return
    ok(True, "strict parse of %d lines" % p.stdout.count("\n"))
    got = promtext.series(fams)
    want = expected_full()
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            ok(False, "series %r: got %r want %r" % (k, got.get(k),
                                                     want.get(k)))
    ok(got == want, "all %d series exact" % len(want))
    ok("evil" not in p.stdout and "mtasts_fake" not in p.stdout,
       "hostile names never reach the output")
    types = {f: v["type"] for f, v in fams.items()}
    ok(types["mtasts_tlsrpt_sessions_total"] == "counter" and
       types["mtasts_cache_policy_age_seconds"] == "histogram" and
       types["mtasts_cache_policies"] == "gauge", "types %r" % types)
    # Cardinality cap (D-MET-3): --top 0 folds every domain into _other.
    p0 = su.run("metrics", "--top", "0")
    g0 = promtext.series(promtext.parse(p0.stdout))
    doms = {dict(l).get("domain") for (n, l) in g0
            if n == "mtasts_tlsrpt_sessions_total"}
    ok(doms == {"_other"} and g0[("mtasts_tlsrpt_sessions_total",
                                  (("domain", "_other"),
                                   ("result", "success")))] == 35,
       "--top 0: only _other, 35 successes: %r" % doms)
    # Default top (20): 20 domains + _other.
    pd = su.run("metrics")
    promtool_check(tool, pd.stdout, "default top")
    gd = promtext.series(promtext.parse(pd.stdout))
    doms = {dict(l).get("domain") for (n, l) in gd
            if n == "mtasts_tlsrpt_sessions_total"}
    ok(len(doms) == 21 and "_other" in doms, "default top 20 + _other: %d"
       % len(doms))
    bad = su.run("metrics", "--top", "x")
    ok(bad.returncode == 2, "--top x: usage error %d" % bad.returncode)
    # --out: atomic replacement, 0644, no temp file left.
    outd = os.path.join(base, "textfile")
    os.makedirs(outd)
    out = os.path.join(outd, "mtasts.prom")
    with open(out, "w") as f:
        f.write("old\n")
    ino = os.stat(out).st_ino
    po = su.run("metrics", "--top", "3", "--out", out)
    with open(out) as f:
        txt = f.read()
    ok(po.returncode == 0 and po.stdout == "" and txt == p.stdout,
       "--out wrote the same text: %d %s" % (po.returncode, po.stderr))
    ok(os.stat(out).st_ino != ino and
       stat.S_IMODE(os.stat(out).st_mode) == 0o644 and
       os.listdir(outd) == ["mtasts.prom"],
       "--out renamed a new 0644 file over the old, no temp left: %r" %
       os.listdir(outd))
    pm = su.run("metrics", "--out", os.path.join(base, "nodir", "m.prom"))
    ok(pm.returncode == 1, "--out into a missing directory: exit 1 (%d)" %
       pm.returncode)
    # A source that cannot be read: a FIFO as today's spool file
    # (D-FILE-1: refused at once, never waited on).
    sp = os.path.join(su.spool, day_name(TODAY) + ".jsonl")
    os.unlink(sp)
    os.mkfifo(sp)
    pf = su.run("metrics")
    fams = promtext.parse(pf.stdout)
    g = promtext.series(fams)
    promtool_check(tool, pf.stdout, "unreadable spool")
    ok(pf.returncode == 4 and
       g[("mtasts_source_ok", (("source", "spool"),))] == 0 and
       g[("mtasts_source_ok", (("source", "cache"),))] == 1 and
       "mtasts_tlsrpt_sessions_total" not in fams and
       "spool" in pf.stderr,
       "unreadable spool: source_ok 0, no spool families, exit 4: %d %s" %
       (pf.returncode, pf.stderr.strip()))


def test_status(base):
    su = Setup(os.path.join(base, "st-full"))
    p = su.run("status")
    print(p.stdout)
    out = p.stdout
    ok(p.returncode == 4, "status with failures: exit 4 (%d)" % p.returncode)
    ok("enforce: 12 policies: a.test, e01.test, e02.test, e03.test, "
       "e04.test, e05.test, e06.test, e07.test, e08.test, e09.test and 2 "
       "more\n" in out, "enforced domains, truncated")
    ok("testing: 1, none: 1, no policy: 1, expired: 1\n" in out, "modes")
    ok("UNUSABLE cache entries" in out and ": 2: e.test, g.test\n" in out,
       "unusable entries named")
    ok("refresh FAILING: 1 domain\n  f.test: sts-policy-fetch-error: HTTP "
       "status 404\n" in out, "refresh failure and why")
    ok("today: 39 sessions to 33 policy domains, 4 failed (3 under enforce:"
       " not delivered over them)\n" in out, "today's totals")
    ok("  a.test: 2 certificate-expired (3 ok)\n" in out and
       "  b.test: 1 validation-failure (2 ok)\n" in out and
       "  h.test: 1 validation-failure (0 ok)\n" in out and
       "z00.test" not in out, "failures by domain and type")
    ok("5 malformed spool lines skipped" in out and "evil" not in out,
       "malformed lines counted, hostile names not shown")
    ok("reports of the last 7 days: 1 sent, 1 retrying, 1 given up\n" in out
       and "  gave-up sender.test!c.test!" in out and
       "  retrying sender.test!b.test!" in out, "report state")
    ok(out.endswith("status: ATTENTION (exit 4)\n"), "verdict")
    pj = su.run("status", "--json")
    try:
        j = json.loads(pj.stdout)
    except ValueError as e:
        ok(False, "status --json: %s" % e)
        return
    ok(pj.returncode == 4 and j["policies"] == {
        "enforce": 12, "testing": 1, "none": 1, "expired": 1,
        "no_policy": 1, "unusable": 2} and len(j["enforce"]) == 12 and
       j["today"]["sessions"] == 39 and j["today"]["failed"] == 4 and
       j["today"]["enforce_failed"] == 3 and
       j["refresh_failing"][0]["domain"] == "f.test" and
       j["reports"]["gave_up"] == 1 and j["attention"] is True,
       "status --json: %s" % pj.stdout[:300])
    doms = {d["domain"]: d for d in j["today"]["domains"]}
    ok(doms["a.test"]["failures"] == {"certificate-expired": 2} and
       doms["a.test"]["ok"] == 3 and len(doms) == 33,
       "json per-domain failures")
    clean = Setup(os.path.join(base, "st-clean"), clean=True)
    pc = clean.run("status")
    ok(pc.returncode == 0 and pc.stdout.endswith("status: ok\n") and
       "enforce: 1 policy: a.test\n" in pc.stdout and
       "today: 3 sessions to 1 policy domain, 0 failed\n" in pc.stdout,
       "clean status exit 0: %d\n%s" % (pc.returncode, pc.stdout))
    # A local fault the load-time check knows: a world-writable cache.
    os.chmod(clean.cache, 0o2777)
    pw = clean.run("status")
    ok(pw.returncode == 4 and "WARNING: cache directory" in pw.stdout,
       "world-writable cache dir: warning, exit 4: %d\n%s" %
       (pw.returncode, pw.stdout))
    os.chmod(clean.cache, 0o2770)
    ok(clean.run("status").returncode == 0, "cache repaired: exit 0")
    # A world-writable spool: the adapters refuse it (D-SPOOL-1).
    os.chmod(clean.spool, 0o2777)
    ps = clean.run("status", "--json")
    js = json.loads(ps.stdout)
    ok(ps.returncode == 4 and len(js["warnings"]) == 1 and
       "TLS-RPT spool" in js["warnings"][0] and
       "not recorded" in js["warnings"][0],
       "world-writable spool: warning, exit 4: %d %r" %
       (ps.returncode, js["warnings"]))
    pu = clean.run("status", "--bogus")
    ok(pu.returncode == 2, "usage error exit 2")


def main():
    global MTASTS
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("which", nargs="?", default="all")
    a = ap.parse_args()
    MTASTS = a.mtasts
    base = tempfile.mkdtemp(prefix="test_metrics.")
    try:
        if a.which in ("all", "metrics"):
            test_metrics(base)
        if a.which in ("all", "status"):
            test_status(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("%s: %d failures" % (os.path.basename(sys.argv[0]), len(FAILS)))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
