#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_filter_golden - filter-mtasts text transcripts (house style 13c):
each golden/filter/<case>.in (filter protocol lines as smtpd 6.8 (0.6)
or 7.x (0.7) writes them) is fed on stdin; stdout must equal <case>.out
line for line, the exit status that of cases.txt, and every line of the
optional <case>.log must occur in stderr (the session classification
lines, which carry timings). No smtpd, no network: the resolver is a dead
address, so a lookup fails fast; the cache is empty.

What the transcripts pin: registrations per announced subsystem, the
0.6/0.7 answer order, RFC 8461 §3.4 (address literals proceed without a
lookup, through the core's mtasts_enforce_policy_domain), a recipient
whose policy state is unknown gets 451 4.7.0 (D-OSMTPD-11), the smtp-out
event streams classified by the core (D-ENF-2, D-OSMTPD-14), a version
it does not speak stops it (D-OSMTPD-10), garbage is ignored.

Usage: test_filter_golden.py --filter BIN --golden DIR [--regen]
"""

import argparse
import os
import selectors
import subprocess
import sys
import tempfile
import time

failures = []
checks = 0


def ok(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        sys.stderr.write("FAIL: %s\n" % what)


def conf(d, variant=None):
    cache = os.path.join(d, "cache")
    os.makedirs(cache, exist_ok=True)
    os.chmod(cache, 0o700)
    p = os.path.join(d, "mtasts-%s.conf" % (variant or "default"))
    with open(p, "w") as f:
        f.write("cache_dir = %s\nresolver = 127.0.0.1@9\n"
                "dns_timeout = 1\nfetch_timeout = 1\ntlsrpt_dir = %s\n" %
                (cache, os.path.join(d, "tlsrpt")))
        if variant == "tempfail":
            f.write("dns_failure = tempfail\n")
    return p


def run(filt, args, data, want_lines, settle=0.5, limit=30):
    """Feed data; read stdout until want_lines lines came (or limit s),
    wait settle s more for anything extra, then close stdin as smtpd
    would."""
    p = subprocess.Popen([filt] + args, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(data)
    p.stdin.flush()
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    out = b""
    deadline = time.monotonic() + limit
    extra_until = None
    while time.monotonic() < deadline:
        if extra_until is None and out.count(b"\n") >= want_lines:
            extra_until = time.monotonic() + settle
        if extra_until is not None and time.monotonic() >= extra_until:
            break
        if not sel.select(timeout=0.1):
            if p.poll() is not None:
                break
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        out += chunk
    sel.close()
    try:
        p.stdin.close()
    except BrokenPipeError:
        pass
    p.stdin = None
    rest, err = p.communicate(timeout=20)
    return p.returncode, out + rest, err.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--filter", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--regen", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="osmtpd-filter-golden-")
    cases = []
    with open(os.path.join(a.golden, "cases.txt")) as f:
        for ln in f:
            if ln.strip() and not ln.startswith("#"):
                cases.append((ln.split() + [None])[:4])
    for name, action, status, variant in cases:
        c = conf(d, variant)
        with open(os.path.join(a.golden, name + ".in"), "rb") as f:
            data = f.read()
        outp = os.path.join(a.golden, name + ".out")
        if a.regen:
            rc, out, err = run(a.filter, ["-c", c, "-a", action], data,
                               10 ** 6, limit=4)
            with open(outp, "wb") as f:
                f.write(out)
            sys.stderr.write("%s: exit %s\n%s" % (name, rc, err))
            continue
        with open(outp, "rb") as f:
            want = f.read()
        rc, out, err = run(a.filter, ["-c", c, "-a", action], data,
                           want.count(b"\n"))
        ok(out.splitlines() == want.splitlines(),
           "%s: stdout %r != %r" % (name, out, want))
        ok(rc == int(status), "%s: exit %s, want %s (%s)" %
           (name, rc, status, err[-300:]))
        logp = os.path.join(a.golden, name + ".log")
        if os.path.exists(logp):
            with open(logp) as f:
                for ln in f:
                    ln = ln.rstrip("\n")
                    if ln and not ln.startswith("#"):
                        ok(ln in err, "%s: log lacks %r: %s" %
                           (name, ln, err))
        ok("AddressSanitizer" not in err and "runtime error" not in err,
           "%s: sanitizer report" % name)
    print("test_filter_golden: %d cases, %d checks, %d failed" %
          (len(cases), checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
