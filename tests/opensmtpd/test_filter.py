#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_filter - filter-mtasts on the filter protocol as smtpd 6.8 speaks
it (0.6), without smtpd and without network (the resolver is a dead
address, so every lookup fails fast):

  - registrations follow the announced subsystems, then register|ready;
  - every smtp-in filter request is answered `proceed` with the session
    id and token echoed in 0.6 order (filter-result|sid|token|proceed),
    including rcpt-to whose lookup fails and phases it did not register;
  - smtp-out report sequences are classified and logged (verified route
    with no STARTTLS, TLS then hang-up; unverified route);
  - garbage, oversized and truncated lines never crash it; it exits 0
    when smtpd closes the pipe;
  - a filter or report line of a protocol version it does not speak
    stops it (exit 2) unanswered (D-OSMTPD-10); options are range-checked;
  - a recipient whose policy state cannot be established (lookup
    tempfail, job queue full) and has no cached answer gets a 451 at
    RCPT, never `proceed` (D-OSMTPD-11).

Usage: test_filter.py --filter BIN [--mtasts BIN]
"""

import argparse
import os
import selectors
import subprocess
import sys
import socket
import tempfile
import threading
import time

checks = 0
failures = []


def ok(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        sys.stderr.write("FAIL: %s\n" % what)


def conf(d):
    cache = os.path.join(d, "cache")
    os.makedirs(cache, exist_ok=True)
    os.chmod(cache, 0o700)
    p = os.path.join(d, "mtasts.conf")
    with open(p, "w") as f:
        f.write("cache_dir = %s\nresolver = 127.0.0.1@9\n"
                "dns_timeout = 1\nfetch_timeout = 1\ntlsrpt_dir = %s\n" %
                (cache, os.path.join(d, "tlsrpt")))
    return p


def conf_variant(d, name, resolver=None, extra="", dns_timeout=None):
    """conf(d) with another resolver, DNS timeout and extra lines, as a
    new file."""
    with open(conf(d)) as f:
        text = f.read()
    if dns_timeout is not None:
        text = text.replace("dns_timeout = 1\n",
                            "dns_timeout = %d\n" % dns_timeout)
    if resolver is not None:
        text = text.replace("resolver = 127.0.0.1@9\n",
                            "resolver = %s\n" % resolver)
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text + extra)
    return p


def run(filt, args, lines, wait=2.0, until=None):
    """Feed lines, keep the pipe open for `wait` seconds (rcpt-to lookups
    run in worker threads), then close it as smtpd would.  With `until`
    (a function of the answers so far, {token: result}), keep it open
    instead until it returns true or 60 s passed: on a loaded CI host a
    fixed sleep cut answers off mid-stream (closing the pipe ends the
    filter)."""
    p = subprocess.Popen([filt] + args, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write("".join(ln + "\n" for ln in lines).encode())
    p.stdin.flush()
    if until is None:
        time.sleep(wait)
        p.stdin.close()
        p.stdin = None
        out, err = p.communicate(timeout=20)
        return p.returncode, out.decode(), err.decode()
    got = []
    errbuf = []
    t_err = threading.Thread(target=lambda: errbuf.append(p.stderr.read()))
    t_err.start()
    answers = {}
    deadline = time.monotonic() + 60
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    buf = b""
    while not until(answers) and time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *done, buf = buf.split(b"\n")
        for ln in done:
            got.append(ln)
            f = ln.decode(errors="replace").split("|")
            if len(f) >= 4 and f[0] == "filter-result":
                answers[f[2]] = f[3]
    sel.close()
    p.stdin.close()
    p.stdin = None
    rest = p.stdout.read()
    p.wait(timeout=20)
    t_err.join(timeout=20)
    out = b"\n".join(got) + (b"\n" if got else b"") + buf + rest
    return p.returncode, out.decode(), b"".join(errbuf).decode()
    p.stdin = None
    out, err = p.communicate(timeout=20)
    return p.returncode, out.decode(), err.decode()


def test_options(filt, c):
    """Issue 11 item 12: every option value is range-checked, whole."""
    for args in (["-w", "4garbage"], ["-w", "0"], ["-w", "65"],
                 ["-w", " 4"], ["-w", "+4"], ["-w", "-1"], ["-w", ""],
                 ["-w", "99999999999999999999"], ["-q", "0"],
                 ["-q", "1025"], ["-q", "5x"], ["-c", ""],
                 ["-c", c, "extra"]):
        try:
            p = subprocess.run([filt] + args, input=b"",
                               capture_output=True, timeout=10)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        ok(rc == 2, "option %r refused with usage (got %s)" % (args, rc))
    rc, out, _ = run(filt, ["-c", c, "-w", "64", "-q", "1024"],
                     ["config|subsystem|smtp-in", "config|ready"], wait=0.3)
    ok(rc == 0 and "register|ready" in out, "-w 64 -q 1024 accepted")


def test_version(filt, c, cfg, ts):
    """D-OSMTPD-10: a version it does not speak is never answered."""
    for line in ("filter|9.9|%s|smtp-in|rcpt-to|s9|t9|u@example.com" % ts,
                 "filter|0.5|%s|smtp-in|rcpt-to|s9|t9|u@example.com" % ts,
                 "report|9.9|%s|smtp-out|link-disconnect|s9" % ts):
        rc, out, err = run(filt, ["-c", c], cfg + [line], wait=0.5)
        ok(rc == 2, "%s...: exit 2 (got %s)" % (line[:12], rc))
        ok("filter-result" not in out, "%s...: not answered: %r" %
           (line[:12], out))
        ok("not supported" in err, "%s...: logged: %r" % (line[:12], err))


CFG78 = ["config|smtpd-version|7.8.0-portable", "config|protocol|0.7",
         "config|smtp-session-timeout|300", "config|subsystem|smtp-in",
         "config|subsystem|smtp-out", "config|admd|tx.test", "config|ready"]


def test_version_session(filt, c, cfg, ts):
    """D-OSMTPD-13: the version smtpd announced (7.x: config|protocol|0.7)
    or 0.6 when it announced none (6.8) is the only one accepted."""
    # mail-from is answered at once (not ours: proceed)
    rin = "filter|%s|" + ts + "|smtp-in|mail-from|v1|t%d|u@example.com"
    # 6.8 (no announcement): a 0.7 line stops the filter unanswered.
    rc, out, err = run(filt, ["-c", c], cfg + [rin % ("0.6", 1),
                                               rin % ("0.7", 2)], wait=1)
    ok(rc == 2 and "filter-result|v1|t1|proceed" in out and
       "|t2|" not in out, "6.8 session: 0.7 line refused (%s, %r)" %
       (rc, out[-200:]))
    ok('line of version "0.7"' in err, "6.8 session: logged: %r" % err)
    # 7.8: 0.7 lines answered, then a 0.6 line stops it.
    rc, out, err = run(filt, ["-c", c], CFG78 + [rin % ("0.7", 3),
                                                 rin % ("0.6", 4)], wait=1)
    ok(rc == 2 and "filter-result|v1|t3|proceed" in out and
       "|t4|" not in out, "7.8 session: 0.7 answered, 0.6 refused "
       "(%s, %r)" % (rc, out[-200:]))
    # Announced versions: unknown, repeated, or after config|ready.
    for bad in (["config|protocol|0.8"] + CFG78[:1] + CFG78[2:],
                CFG78[:2] + ["config|protocol|0.7"] + CFG78[2:],
                CFG78[:1] + CFG78[2:] + ["config|protocol|0.7"]):
        rc, out, err = run(filt, ["-c", c], bad + [rin % ("0.7", 5)],
                           wait=0.5)
        ok(rc == 2 and "filter-result" not in out,
           "announcement %r refused (%s, %r)" % (bad, rc, out[-100:]))


def test_events78(filt, c, ts):
    """smtpd 7.8's smtp-out events: link-tls only after a verified
    handshake; a failed verification is protocol-server 220 then
    link-disconnect (../shared/notes/opensmtpd-7.8.md)."""
    def ev(sid, name, *rest):
        return "|".join(["report", "0.7", ts, "smtp-out", name, sid] +
                        list(rest))

    def session(sid, ip, *middle):
        return ([ev(sid, "link-connect", "mx.a.test", "pass",
                    "10.0.0.1:4000", "%s:25" % ip),
                 ev(sid, "protocol-server", "220 mx.a.test ESMTP"),
                 ev(sid, "protocol-client", "EHLO tx.test"),
                 ev(sid, "protocol-server", "250-mx.a.test hi"),
                 ev(sid, "protocol-server", "250 STARTTLS"),
                 ev(sid, "protocol-client", "STARTTLS")] + list(middle) +
                [ev(sid, "link-disconnect")])

    lines = [ln for ln in CFG78 if "smtp-in" not in ln]
    # failed verification
    lines += session("f1", "10.0.0.3",
                     ev("f1", "protocol-server", "220 2.0.0 Ready to start "
                        "TLS"))
    # STARTTLS refused
    lines += session("f2", "10.0.0.4",
                     ev("f2", "protocol-server", "454 4.7.0 TLS not "
                        "available"))
    # verified: link-tls after the post-STARTTLS EHLO
    lines += session("f3", "10.0.0.5",
                     ev("f3", "protocol-server", "220 2.0.0 Ready"),
                     ev("f3", "protocol-client", "EHLO tx.test"),
                     ev("f3", "protocol-server", "250-mx.a.test hi"),
                     ev("f3", "protocol-server", "250 8BITMIME"),
                     ev("f3", "link-tls", "TLSv1.3:TLS_AES_256_GCM_SHA384:256"),
                     ev("f3", "tx-mail", "0000002a", "ok", "a@b.test"),
                     ev("f3", "tx-rcpt", "0000002a", "ok", "u@c.test"))
    rc, out, err = run(filt, ["-c", c, "-a", "enforce"], lines, wait=0.5)
    ok(rc == 0, "7.8 events: exit %s (%r)" % (rc, err[-300:]))
    ok("session f1 enforce" in err and "ip=10.0.0.3" in err and
       "result=validation-failure reason=tls-handshake-or-certificate-"
       "verification-failed" in err, "7.8 failed verification: %r" % err)
    ok("session f2 enforce" in err and "result=validation-failure "
       "reason=starttls-refused" in err, "7.8 STARTTLS refused: %r" % err)
    ok("session f3 enforce domain=c.test" in err and
       "tls=TLSv1.3:TLS_AES_256_GCM_SHA384:256 result=success" in err,
       "7.8 verified session: %r" % err)


def test_defer(filt, d, cfg, ts):
    """D-OSMTPD-11: no policy state, no cached answer: 451, not proceed."""
    sid = "d1"
    # (a) the lookup answers tempfail (dns_failure = tempfail, resolver
    # refusing): the recipient is deferred.
    c2 = conf_variant(d, "tempfail.conf", extra="dns_failure = tempfail\n")
    rc, out, err = run(filt, ["-c", c2, "-w", "1"], cfg + [
        "filter|0.6|%s|smtp-in|rcpt-to|%s|t1|u@tempfail.example" %
        (ts, sid)], wait=4)
    ok("filter-result|d1|t1|reject|451 " in out,
       "lookup tempfail: 451 at RCPT: %r" % out)
    ok("filter-result|d1|t1|proceed" not in out,
       "lookup tempfail: not proceeded")
    ok("recipient deferred" in err, "deferral logged: %r" % err[-500:])

    # (b) the job queue is full: one worker stuck on a resolver that never
    # answers, 1024 queued; the rest must be deferred at once. The worker
    # holds its first job for the whole check (60 s DNS timeout; the
    # libunbound under it gives up after ~28 s, and the check is over
    # long before). When the worker thread takes its first job depends on
    # the scheduler (on a loaded host, after the reader queued a few dozen
    # more), so 1024 or 1025 recipients are accepted, the rest deferred,
    # and of the last 50 at most the one whose slot the worker freed is
    # not deferred. Nothing is answered `proceed` while the DNS answer is
    # outstanding.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    c3 = conf_variant(d, "silent.conf",
              resolver="127.0.0.1@%d" % silent.getsockname()[1],
              dns_timeout=60)
    n, qmax = 1100, 1024
    lines = cfg + ["filter|0.6|%s|smtp-in|rcpt-to|%s|q%d|u@busy%d.example" %
                   (ts, sid, i, i) for i in range(n)]
    late = ["q%d" % i for i in range(n - 50, n)]
    t_start = time.monotonic()
    rc, out, err = run(filt, ["-c", c3, "-w", "1"], lines,
                       until=lambda a: list(a.values()).count("reject") >=
                       n - qmax - 1)
    took = time.monotonic() - t_start
    silent.close()
    ans = {}
    for ln in out.splitlines():
        f = ln.split("|")
        if ln.startswith("filter-result|") and len(f) >= 4:
            ans[f[2]] = f[3]
    nrej = list(ans.values()).count("reject")
    ok(n - qmax - 1 <= nrej <= n - qmax,
       "queue full: %d deferred, want %d or %d" % (nrej, n - qmax - 1,
                                                   n - qmax))
    ok(sum(ans.get(t) != "reject" for t in late) <= 1,
       "queue full: late recipients deferred: %r" %
       [(t, ans.get(t)) for t in late if ans.get(t) != "reject"][:5])
    ok(took < 25 and "proceed" not in ans.values(),
       "queue full: nothing proceeded while the policy state was unknown "
       "(%.1f s)" % took)
    ok("job queue full" in err, "queue full logged")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", required=True)
    ap.add_argument("--mtasts")
    a = ap.parse_args()
    t0 = time.monotonic()
    d = tempfile.mkdtemp(prefix="osmtpd-filter-")
    c = conf(d)
    cfg = ["config|smtpd-version|6.8.0p2", "config|smtp-session-timeout|300",
           "config|subsystem|smtp-in", "config|subsystem|smtp-out",
           "config|admd|tx.test", "config|ready"]
    ts = "1700000000.000001"
    sid, tok = "a1b2c3d4e5f60718", "0000000000000042"
    lines = cfg + [
        "filter|0.6|%s|smtp-in|rcpt-to|%s|%s|user@example.com" %
        (ts, sid, tok),
        "filter|0.6|%s|smtp-in|rcpt-to|%s|%s|<u@[127.0.0.1]>" %
        (ts, sid, "43"),
        "filter|0.6|%s|smtp-in|rcpt-to|%s|%s|nodomain" % (ts, sid, "44"),
        "filter|0.6|%s|smtp-in|mail-from|%s|%s|a@b.test" % (ts, sid, "45"),
        "filter|0.6|%s|smtp-in|rcpt-to|%s|%s|x@a|b.test" % (ts, sid, "46"),
        # verified route: EHLO answered without STARTTLS
        "report|0.6|%s|smtp-out|link-connect|s1|mx.a.test|pass|"
        "10.0.0.1:4000|10.0.0.2:25" % ts,
        "report|0.6|%s|smtp-out|protocol-client|s1|EHLO tx.test" % ts,
        "report|0.6|%s|smtp-out|protocol-server|s1|250-mx.a.test hi" % ts,
        "report|0.6|%s|smtp-out|protocol-server|s1|250 8BITMIME" % ts,
        "report|0.6|%s|smtp-out|link-disconnect|s1" % ts,
        # TLS, then disconnect without a transaction
        "report|0.6|%s|smtp-out|link-connect|s2|mx|pass|"
        "[::1]:4000|[::1]:25" % ts,
        "report|0.6|%s|smtp-out|link-tls|s2|TLSv1.3:X:256" % ts,
        "report|0.6|%s|smtp-out|link-disconnect|s2" % ts,
        # garbage
        "", "|", "filter|", "filter|0.6|x|smtp-out|rcpt-to|s|t|u",
        "report|0.6", "report|0.6|t|smtp-out|link-disconnect|unknown",
        "report|0.6|t|smtp-out|tx-rcpt|nosuch|1|ok|a@b",
        "\x00\xff binary", "x" * 70000,
        "filter|0.6|%s|smtp-in|data-line|%s|%s|." % (ts, sid, "47"),
    ]
    rc, out, err = run(a.filter, ["-c", c, "-a", "enforce"], lines)
    outl = out.splitlines()
    ok(rc == 0, "exit status %s" % rc)
    ok(outl[:1] == ["register|filter|smtp-in|rcpt-to"],
       "smtp-in registration first: %r" % outl[:2])
    ok("register|report|smtp-out|link-tls" in outl and
       "register|report|smtp-out|link-disconnect" in outl,
       "smtp-out report registrations")
    ok("register|ready" in outl, "register|ready")
    ready = outl.index("register|ready") if "register|ready" in outl else 0
    ok(all(ln.startswith("register|") for ln in outl[:ready]),
       "only registrations before ready")
    for t in ("0000000000000042", "43", "44", "45", "46", "47"):
        ok("filter-result|%s|%s|proceed" % (sid, t) in outl,
           "proceed for token %s" % t)
    ok(len([ln for ln in outl if ln.startswith("filter-result")]) == 6,
       "exactly one answer per request: %r" % outl)
    ok("session s1 enforce" in err and
       "result=starttls-not-supported" in err, "s1 classified: " + err)
    ok("session s2 enforce" in err and "ip=::1" in err and
       "result=validation-failure reason=certificate-check-failed-after-"
       "tls-handshake" in err, "s2 classified")
    ok("line over" in err, "oversized line skipped and logged")

    # smtp-out only instance registers no filter; relay route unverified.
    lines = [ln for ln in cfg if "smtp-in" not in ln] + [
        "report|0.6|%s|smtp-out|link-connect|s3|mx|pass|1.2.3.4:1|"
        "5.6.7.8:25" % ts,
        "report|0.6|%s|smtp-out|link-tls|s3|TLSv1.3:X:256" % ts,
        "report|0.6|%s|smtp-out|tx-mail|s3|0000002a|ok|a@b.test" % ts,
        "report|0.6|%s|smtp-out|tx-rcpt|s3|0000002a|ok|u@c.test" % ts,
        "report|0.6|%s|smtp-out|link-disconnect|s3" % ts]
    rc, out, err = run(a.filter, ["-c", c, "-a", "relay"], lines, wait=0.5)
    ok(rc == 0, "relay instance exit status %s" % rc)
    ok("register|filter" not in out, "no smtp-in registration")
    ok("session s3 relay domain=c.test" in err and "result=unknown" in err,
       "unverified TLS is not counted as a success: " + err)

    # Bad options.
    p = subprocess.run([a.filter, "-a", "bogus"], capture_output=True)
    ok(p.returncode == 2, "usage error")
    test_options(a.filter, c)
    test_version(a.filter, c, cfg, ts)
    test_version_session(a.filter, c, cfg, ts)
    test_events78(a.filter, c, ts)
    test_defer(a.filter, d, cfg, ts)
    print("test_filter: %d checks, %d failed, %.1fs" %
          (checks, len(failures), time.monotonic() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
