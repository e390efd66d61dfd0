#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_demo - scripts/demo's program prints no error line and its summary
states only what happened (issue 13).

Runs tests/exim/demo.py as scripts/demo does (it enters its own namespace)
and checks:
  - it exits 0 and no output line is an error (no "error", "denied",
    "failed:" of a record, traceback, panic, FATAL);
  - the TLS-RPT line of the summary gives the numbers of the records the
    sender really wrote (counted here from a copy of its spool) and those
    numbers are the ones this fixed scenario must produce: 7 sessions,
    3 successful, 4 failed (2 starttls-not-supported, 1
    certificate-host-mismatch, 1 certificate-not-trusted);
  - the host's default paths (/var/spool/mtasts, /var/lib/mtasts) are left
    as they were.
Usage: test_demo.py --so mtasts_exim.so --mtasts mtasts
"""

import argparse
import collections
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
HOST_PATHS = ("/var/spool/mtasts", "/var/lib/mtasts")
ERROR_RX = re.compile(r"(?i)(\berror\b|denied|record failed|traceback|"
                      r"\bpanic|fatal|warning)")
SUMMARY_RX = re.compile(r"^TLS-RPT: (\d+) session records written to the "
                        r"sender's spool: (\d+) successful, (\d+) failed"
                        r"(?: \(([^)]*)\))?\.$", re.M)
EXPECT = (7, 3, 4, {"starttls-not-supported": 2,
                    "certificate-host-mismatch": 1,
                    "certificate-not-trusted": 1})


def snapshot(paths):
    out = {}
    for p in paths:
        if not os.path.exists(p):
            out[p] = None
            continue
        out[p] = sorted((os.path.relpath(os.path.join(t, n), p),
                         os.lstat(os.path.join(t, n)).st_mtime_ns)
                        for t, ds, fs in os.walk(p) for n in ds + fs)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--mtasts", required=True)
    a = ap.parse_args()
    failed = []

    def check(ok, what):
        print("%s: %s" % ("ok" if ok else "FAIL", what))
        if not ok:
            failed.append(what)

    before = snapshot(HOST_PATHS)
    with tempfile.TemporaryDirectory(prefix="mtasts-demo-test-") as tmp:
        copy = os.path.join(tmp, "spool")
        p = subprocess.run([sys.executable, os.path.join(HERE, "demo.py"),
                            "--so", a.so, "--mtasts", a.mtasts,
                            "--spool-copy", copy],
                           capture_output=True, text=True, timeout=600)
        out = p.stdout + p.stderr
        sys.stdout.write(out)
        check(p.returncode == 0, "demo exits 0 (got %d)" % p.returncode)
        bad = [ln for ln in out.splitlines() if ERROR_RX.search(ln)]
        check(not bad, "no error lines in the demo's output: %r" % bad[:5])
        recs = []
        for f in sorted(glob.glob(os.path.join(copy, "*.jsonl"))):
            with open(f) as fh:
                recs += [json.loads(ln) for ln in fh if ln.strip()]
        ok = sum(1 for r in recs if "r" not in r)
        types = collections.Counter(r["r"] for r in recs if "r" in r)
        m = SUMMARY_RX.search(p.stdout)
        check(m is not None, "the summary has a TLS-RPT count line")
        if m is not None:
            said = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            said_types = {}
            for part in (m.group(4) or "").split(", "):
                if part:
                    n, t = part.split(" ", 1)
                    said_types[t] = int(n)
            real = (len(recs), ok, sum(types.values()))
            check(said == real and said_types == dict(types),
                  "summary %r %r = records in the spool %r %r" %
                  (said, said_types, real, dict(types)))
            check(real + (dict(types),) == EXPECT,
                  "the scenario's records: %r %r, expected %r" %
                  (real, dict(types), EXPECT))
        check("would-be failures logged" not in p.stdout,
              "no claim the demo cannot back")
    after = snapshot(HOST_PATHS)
    check(before == after, "host default paths untouched: %r -> %r" %
          (before, after))
    print("test_demo: %d failed" % len(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
