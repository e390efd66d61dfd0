#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""test_rsyslog_fleet - TLS-RPT spools of three hosts shipped with real
rsyslog (imfile -> omfwd TCP -> omfile, one directory per host) to one
reporting host, then `mtasts report build --spool-root` over what arrived
(issue 16; docs/fleet.md, decisions.md D-RPT-16).

The senders' and the receiver's configurations are the ones docs/fleet.md
gives, with the paths and the port of this test. Every rsyslogd runs in
the world's private network namespace with its own configuration, work
directory and pid file, no imuxsock (the host's /dev/log is never
touched) and processInternalMessages on (its own messages go to a file
in its work directory).

Checked: the arrived files are byte-identical to the spools (lines of
~4 KiB, lines written before rsyslogd started, while it runs, a second
UTC day's file appearing mid-run (the spool-day rollover), and lines
written while one sender was stopped, shipped once after its restart);
then the reporting host is down while the senders start: rsyslog re-sends
some lines (at-least-once), and every line still arrives, a repeat being
the same bytes with the same record id; the reports built from the
arrived files equal the reports built from the original spools (--spool
x3), their summary counting the repeats as copies=N (D-RPT-17), and have
exactly the expected summed counts.

Usage: test_rsyslog_fleet.py --mtasts BIN --lib LIBMTASTS_SO
"""
import argparse
import filecmp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import world  # noqa: E402
from test_tlsrpt import Lib, policies_by_type, preload_sanitizer  # noqa: E402,E501
from tlsrpt_schema import schema_ok  # noqa: E402

DAY0 = 1709251200          # 2024-03-01T00:00:00Z
DATES = ("2024-03-01", "2024-03-02")
SUBMITTER = "sender.test"
PORT = 10514
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
FAILS = []


def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


# docs/fleet.md, "On every mail host" (paths and port substituted).
SENDER_CONF = """\
global(workDirectory="{work}" localHostName="{host}"
       maxMessageSize="64k" processInternalMessages="on")
module(load="imfile" mode="inotify")
template(name="mtasts_fwd" type="list") {{
  constant(value="<134>1 ")
  property(name="timegenerated" dateFormat="rfc3339")
  constant(value=" ")
  property(name="$myhostname")
  constant(value=" mtasts-tlsrpt - ")
  property(name="$.day")
  constant(value=" - ")
  property(name="msg")
}}
ruleset(name="mtasts_ship") {{
  # the UTC day of the spool file, never the time of shipping
  set $.day = re_extract($!metadata!filename,
      '([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})[.]jsonl$', 0, 1, "");
  if $.day != "" then {{
    action(type="omfwd" target="{target}" port="{port}" protocol="tcp"
           TCP_Framing="octet-counted" template="mtasts_fwd"
           queue.type="LinkedList" queue.filename="mtasts_fwd"
           queue.saveOnShutdown="on" action.resumeRetryCount="-1")
  }}
  stop
}}
input(type="imfile" file="{spool}/*.jsonl" tag="mtasts-tlsrpt"
      ruleset="mtasts_ship" addMetadata="on" persistStateInterval="1")
*.* action(type="omfile" file="{work}/rsyslogd.log")
"""

# docs/fleet.md, "On the reporting host".
RECEIVER_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k"
       processInternalMessages="on")
module(load="imtcp")
input(type="imtcp" address="{addr}" port="{port}" ruleset="mtasts_recv")
template(name="mtasts_path" type="string"
         string="{root}/%hostname:::secpath-replace%/%msgid:::secpath-replace%.jsonl")
template(name="mtasts_line" type="string" string="%msg%\\n")
ruleset(name="mtasts_recv") {{
  if $app-name == "mtasts-tlsrpt" and
     re_match($msgid, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$') and
     re_match($hostname, '^[A-Za-z0-9][A-Za-z0-9.-]*$') then {{
    action(type="omfile" dynaFile="mtasts_path" template="mtasts_line"
           dirCreateMode="0750" fileCreateMode="0640")
  }}
  stop
}}
*.* action(type="omfile" file="{work}/rsyslogd.log")
"""


class Rsyslogd:
    def __init__(self, work, conf_text):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.conf = os.path.join(work, "rsyslog.conf")
        self.pidfile = os.path.join(work, "rsyslogd.pid")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        chk = subprocess.run([RSYSLOGD, "-N1", "-f", self.conf],
                             capture_output=True, text=True)
        if chk.returncode != 0:
            raise RuntimeError("rsyslogd -N1 %s: %s" % (self.conf,
                                                        chk.stderr))
        self.p = None

    def start(self):
        self.p = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf,
                                   "-i", self.pidfile],
                                  stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(
                                      self.work, "stderr"), "a"))

    def stop(self):
        if self.p is not None and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p = None


def wait_for(cond, timeout=30.0):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def lines(path):
    with open(path, "rb") as f:
        return f.read().splitlines(keepends=True)


def listening():
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=2):
            return True
    except OSError:
        return False


def run(w, args):
    base = os.path.join(w.dir, "fleet-rsyslog")
    root = os.path.join(base, "reporter", "spools")   # --spool-root
    os.makedirs(root)
    addr = "127.0.0.1"
    for d in ("https.test", "mail.test", "long.test"):
        w.add_records({"name": "_smtp._tls." + d, "type": "TXT",
                       "data": ["v=TLSRPTv1; rua=mailto:tlsrpt@" + d]})
    long_mx = "".join("mx: mx%02d.%s.long.test\n" % (i, "m" * 40)
                      for i in range(80))
    hosts, libs, pols, spools = [], [], [], []
    want = {}   # (date, domain) -> [ok, failed]
    for h in range(3):
        host = "tx%d.sender.test" % (h + 1)
        spool = os.path.join(base, host, "spool")
        os.makedirs(spool)
        os.chmod(spool, 0o2770)
        c = w.client("rs%d" % h, tlsrpt_dir=spool,
                     report_contact="tlsrpt@" + SUBMITTER,
                     report_host_id=host)
        lib = Lib(args.lib, c.config)
        hosts.append(host)
        libs.append(lib)
        spools.append(spool)
        pols.append((lib.policy("version: STSv1\nmode: enforce\nmx: "
                                "mx.https.test\nmax_age: 86400\n"),
                     lib.policy("version: STSv1\nmode: testing\n" + long_mx +
                                "max_age: 86400\n")))

    def record(h, day, n_ok, n_fail, n_long):
        lib, (pol, lpol) = libs[h], pols[h]
        when = DAY0 + day * 86400 + 3600 * (h + 1)
        for _ in range(n_ok):
            lib.record("https.test", "sts", pol, "mx.https.test",
                       "127.0.9.1", when=when)
        for _ in range(n_fail):
            lib.record("https.test", "sts", pol, "mx.https.test",
                       "127.0.9.2", "certificate-expired", helo="mx",
                       when=when)
        for _ in range(n_long):
            lib.record("long.test", "sts", lpol, "mx00.%s.long.test" %
                       ("m" * 40), "127.0.9.4", "starttls-not-supported",
                       when=when)
        lib.record("mail.test", "none", None, "mx.mail.test", "127.0.9.3",
                   when=when)
        k = DATES[day]
        for dom, o, f in (("https.test", n_ok, n_fail),
                          ("long.test", 0, n_long), ("mail.test", 1, 0)):
            cur = want.setdefault((k, dom), [0, 0])
            cur[0] += o
            cur[1] += f

    # Before rsyslogd runs: imfile reads existing files from the start.
    for h in range(3):
        record(h, 0, 2 + h, h, 1)
    recv = Rsyslogd(os.path.join(base, "reporter", "rsyslog"),
                    RECEIVER_CONF.format(work=os.path.join(
                        base, "reporter", "rsyslog"), addr=addr,
                        port=PORT, root=root))
    senders = [Rsyslogd(os.path.join(base, hosts[h], "rsyslog"),
                        SENDER_CONF.format(
                            work=os.path.join(base, hosts[h], "rsyslog"),
                            host=hosts[h], target=addr, port=PORT,
                            spool=spools[h])) for h in range(3)]
    try:
        # The receiver listens before the senders start: nothing here
        # may be shipped twice. (An outage is the second part, below.)
        recv.start()
        ok(wait_for(listening, 30), "the reporting host listens on %d" %
           PORT)
        for s in senders:
            s.start()
        time.sleep(1)
        # While they run: more of day 1, then day 2's file appears.
        for h in range(3):
            record(h, 0, 3, 2 * h + 1, 2)
        for h in range(3):
            record(h, 1, 1 + h, 1, 1)
        # One sender stopped: its lines wait in the spool file.
        senders[1].stop()
        record(1, 1, 5, 2, 1)
        senders[1].start()
        line_len = max(len(ln) for sp in spools for fn in os.listdir(sp)
                       for ln in open(os.path.join(sp, fn), "rb"))
        ok(line_len > 4000, "spool lines up to %d bytes (near the 4096 "
           "cap) are shipped" % line_len)

        def arrived():
            for h in range(3):
                for fn in os.listdir(spools[h]):
                    if not fn.endswith(".jsonl"):
                        continue
                    dst = os.path.join(root, hosts[h], fn)
                    if not os.path.exists(dst) or \
                            os.path.getsize(dst) != os.path.getsize(
                                os.path.join(spools[h], fn)):
                        return False
            return True
        ok(wait_for(arrived, 90), "every spool file arrived in full")
        for h in range(3):
            for fn in sorted(os.listdir(spools[h])):
                if fn.endswith(".jsonl"):
                    ok(filecmp.cmp(os.path.join(spools[h], fn),
                                   os.path.join(root, hosts[h], fn),
                                   shallow=False),
                       "%s/%s arrived byte-identical" % (hosts[h], fn))
        # The reporting host is down while the senders start (a reboot
        # of it, or of the fleet): rsyslog's omfwd is at-least-once and
        # re-sends lines after the failed connection. The report must
        # count every session once all the same (D-RPT-17).
        for snd in senders:
            snd.stop()
        recv.stop()
        for h in range(3):
            record(h, 0, 2, 1, 1)
        for snd in senders:
            snd.start()
        time.sleep(2)
        recv.start()
        ok(wait_for(listening, 30), "the reporting host listens again")
        day0 = DATES[0] + ".jsonl"

        def arrived_again():
            for h in range(3):
                dst = os.path.join(root, hosts[h], day0)
                got = lines(dst) if os.path.exists(dst) else []
                if not set(lines(os.path.join(spools[h], day0))) <= \
                        set(got):
                    return False
            return True
        # omfwd retries a suspended action after 30 s (its default).
        ok(wait_for(arrived_again, 120), "after the outage every spool "
           "line arrived")
        # Hostile peers: a host name or day that is not a plain name
        # never becomes a path (the receiver's checks + secpath-replace).
        with socket.create_connection((addr, PORT), timeout=10) as so:
            for hn, day in (("../../evil", "2024-03-01"),
                            ("tx1.sender.test", "../../../evil"),
                            ("evil/x", "2024-03-01"),
                            ("tx1.sender.test", "2024-03-01/../../x")):
                m = ("<134>1 2024-03-01T00:00:00Z %s mtasts-tlsrpt - %s - "
                     '{"v":1,"evil":1}' % (hn, day)).encode()
                so.sendall(b"%d " % len(m) + m)
        time.sleep(1)
        time.sleep(1)   # nothing more (no duplicate) may follow
    finally:
        for s in senders:
            s.stop()
        recv.stop()
    copies = {}   # date -> lines that arrived more than once
    for h in range(3):
        for fn in sorted(os.listdir(spools[h])):
            if not fn.endswith(".jsonl"):
                continue
            src = os.path.join(spools[h], fn)
            dst = os.path.join(root, hosts[h], fn)
            want_l = lines(src)
            got_l = lines(dst) if os.path.exists(dst) else []
            # Every line once, by its record id; a repeat is a copy of
            # the very same bytes.
            first, extra = {}, 0
            for ln in got_l:
                u = json.loads(ln).get("u")
                if u in first:
                    extra += 1
                    ok(first[u] == ln, "%s/%s: a repeated id repeats "
                       "its line" % (hosts[h], fn))
                else:
                    first[u] = ln
            date = fn[:-len(".jsonl")]
            copies[date] = copies.get(date, 0) + extra
            ok(None not in first and sorted(first.values()) ==
               sorted(want_l), "%s/%s: every line arrived, each with its "
               "own id (%d lines, %d copies)" % (hosts[h], fn,
                                                 len(want_l), extra))
    print("info: copies shipped (rsyslog re-sends): %r" % copies)
    ok(sorted(os.listdir(root)) == hosts,
       "one directory per host, hostile names dropped: %s" %
       sorted(os.listdir(root)))
    strays = [os.path.join(dp, f) for dp, _dn, fs in os.walk(w.dir)
              for f in fs if "evil" in f or "evil" in dp]
    ok(strays == [], "no file written for a hostile name: %r" % strays)
    ok(os.path.lexists("/dev/log") == DEVLOG_BEFORE,
       "the host's /dev/log untouched (no imuxsock)")
    logs = "".join(open(os.path.join(r.work, "rsyslogd.log")).read()
                   for r in [recv] + senders
                   if os.path.exists(os.path.join(r.work, "rsyslogd.log")))
    ok("error" not in logs.lower(), "rsyslogd logged no error: %s" %
       logs[-2000:])

    agg = w.client("rsagg", report_contact="tlsrpt@" + SUBMITTER,
                   report_host_id="reporter.sender.test")
    for date in DATES:
        outs = {}
        for how, extra in (("spools", [x for sp in spools
                                       for x in ("--spool", sp)]),
                           ("shipped", ["--spool-root", root])):
            o = os.path.join(base, "out-%s-%s" % (how, date))
            b = agg.run("report", "build", "--date", date, "--out", o,
                        *extra)
            files = sorted(os.listdir(o)) if os.path.isdir(o) else []
            ok(b.rc == 0 and "torn=0" in b.out and "spools=3" in b.out,
               "%s %s: %s %s" % (date, how, b.out.strip(), b.err.strip()))
            summary = [ln for ln in b.out.splitlines()
                       if ln.startswith("summary ")]
            outs[how] = (summary, {fn: open(os.path.join(o, fn)).read()
                                 for fn in files})
        ok(outs["spools"][1] == outs["shipped"][1],
           "%s: reports from the shipped files == from the original "
           "spools (%d files)" % (date, len(outs["spools"][1])))
        # The summaries differ only in the copies dropped (D-RPT-17).
        want_sum = [ln.replace(" copies=0", " copies=%d" %
                               copies.get(date, 0))
                    for ln in outs["spools"][0]]
        ok(outs["shipped"][0] == want_sum and
           " copies=0" in "".join(outs["spools"][0]),
           "%s: summary of the shipped files: %s" % (date,
                                                    outs["shipped"][0]))
        reps = {fn.split("!")[1]: json.loads(t)
                for fn, t in outs["shipped"][1].items()}
        for dom in ("https.test", "long.test", "mail.test"):
            r = reps.get(dom)
            w_ok, w_fail = want[(date, dom)]
            got = [0, 0]
            for p in (r or {}).get("policies", []):
                got[0] += p["summary"]["total-successful-session-count"]
                got[1] += p["summary"]["total-failure-session-count"]
            ok(r is not None and schema_ok(r) and got == [w_ok, w_fail],
               "%s %s: exact sums %r (want %r)" % (date, dom, got,
                                                   [w_ok, w_fail]))
        p = policies_by_type(reps["long.test"]).get("sts", {})
        ok(len(p.get("policy", {}).get("policy-string", [])) > 0,
           "%s long.test: policy-string kept" % date)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()
    if not os.access(RSYSLOGD, os.X_OK):
        print("FAIL rsyslogd not installed (scripts/bootstrap installs "
              "rsyslog)")
        return 1
    global DEVLOG_BEFORE
    DEVLOG_BEFORE = os.path.lexists("/dev/log")
    world.ensure_namespace()
    # After the namespace re-exec (the ASan tier's libmtasts needs its
    # runtime preloaded, as world.tlsrpt does).
    preload_sanitizer(args.lib)
    w = world.World(mtasts=args.mtasts)
    w.start()
    try:
        run(w, args)
    finally:
        w.stop()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
