#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""seeds.py - write per-target libFuzzer seed corpora from the shared vectors.

Usage: seeds.py [--vectors DIR] OUTDIR

Creates OUTDIR/<target>/<sha1> files, one per seed, for every target that
has a seed builder below. Vectors are read at run time and never copied
into the source tree. Targets without a builder simply get no seeds.
"""
import argparse
import hashlib
import json
import os
import sys


def policy_body(case):
    if case.get("text_hex"):
        return bytes.fromhex(case["text_hex"])
    gen = case.get("generate")
    if gen:
        return (gen.get("prefix", "") +
                gen.get("repeat_char", "") * int(gen.get("repeat_count", 0)) +
                gen.get("suffix", "")).encode()
    return (case.get("text") or "").encode()


def seeds_policy(vec):
    for case in load(vec, "policies.json"):
        yield policy_body(case)


def seeds_txt(vec):
    # One TXT RR per line: fuzz_txt splits its input at '\n'.
    for case in load(vec, "txt.json"):
        rrs = ["".join(rr) for rr in case.get("records", [])]
        yield "\n".join(rrs).encode()
    for case in load(vec, "tlsrpt_txt.json"):
        yield "\n".join("".join(rr) for rr in case.get("records", [])).encode()


def seeds_mx(vec):
    for case in load(vec, "mx_match.json"):
        yield (case["pattern"] + "\n" + case["host"]).encode()


def seeds_tlsrpt_txt(vec):
    # One TXT RR per line: fuzz_tlsrpt_txt splits its input at '\n'.
    for case in load(vec, "tlsrpt_txt.json"):
        yield "\n".join("".join(rr) for rr in case.get("records", [])).encode()


POLICY = ("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
          "mx: *.backup.example.net\r\nmax_age: 604800\r\n")


def cache_file(domain, policy=True, fail=True):
    # The layout mtasts_cache_encode() writes (JSON_INDENT(1), this order).
    o = {"format": 1, "domain": domain,
         "id": "20240101T000000" if policy else ""}
    if policy:
        o.update({"policy": POLICY, "mode": "enforce", "max_age": 604800,
                  "mx": ["mail.example.com", "*.backup.example.net"]})
    else:
        o["policy"] = None
    o.update({"fetched_at": 1700000000 if policy else 0,
              "expires_at": 1700604800 if policy else 0,
              "txt_checked_at": 1700000005, "txt_id": "20240101T000000"})
    if fail:
        o["fail"] = {"at": 1700000010, "id": "newer1",
                     "type": "sts-policy-fetch-error",
                     "reason": "HTTP 500 from mta-sts." + domain}
    return json.dumps(o, indent=1)


def seeds_cache_codec(vec):
    # Input: "<domain>\n<cache file>" (fuzz_cache_codec.c). Built-in seeds:
    # the codec has no shared vectors.
    for d, pol, fail in (("example.com", True, True),
                         ("example.com", True, False),
                         ("neg.example", False, False),
                         ("neg.example", False, True),
                         ("a-b.c0.example", True, True)):
        yield (d + "\n" + cache_file(d, pol, fail)).encode()
    for case in load(vec, "policies.json")[:40]:
        body = policy_body(case)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        o = json.loads(cache_file("example.com"))
        o["policy"] = text
        yield ("example.com\n" + json.dumps(o, indent=1)).encode()


def spool_line(**kw):
    o = {"v": 1, "t": 1709251300, "d": "example.com", "pt": "sts"}
    o.update(kw)
    return json.dumps(o, separators=(",", ":")) + "\n"


def seeds_spool_report(vec):
    # Input: one day's spool file (fuzz_spool_report.c), as tlsrpt.c
    # writes it: records, failures, report mail, torn and blank lines.
    ps = ["version: STSv1", "mode: enforce", "mx: mx1.example.com",
          "max_age: 604800"]
    ok = spool_line(ps=ps, mx=["mx1.example.com"], rh="mx1.example.com",
                    ri="2001:db8::1", si="192.0.2.1")
    bad = spool_line(ps=ps, mx=["mx1.example.com"], rh="mx1.example.com",
                     ri="2001:db8::1", si="192.0.2.1",
                     r="certificate-expired",
                     fr="X509_V_ERR_CERT_HAS_EXPIRED", rhelo="mx1")
    tlsa = spool_line(d="dane.example", pt="tlsa", ps=["3 1 1 abcdef"],
                      mx=["mx.dane.example"], r="tlsa-invalid")
    none = spool_line(d="plain.example", pt="no-policy-found",
                      r="starttls-not-supported", rh="mx.plain.example")
    mail = spool_line(f=1)
    skipped = spool_line(d="norpt.example") + spool_line(d="tmp.example")
    fetch = spool_line(d="f.example", r="sts-policy-fetch-error",
                       fr="timed out", tr=1)
    yield ok.encode()
    yield (ok * 3 + bad * 2 + mail).encode()
    yield (ok + tlsa + none + skipped + fetch).encode()
    yield (ok + bad[:40] + ok + "\n\n" + bad).encode()
    yield (bad[:-1] + ok).encode()
    yield ("\n" + ok + "{\"v\":1}\n[]\n" + ok[:-1]).encode()
    # D-RPT-17: record ids, a line shipped twice, bad ids.
    u1 = spool_line(u="0123456789abcdef", ps=ps, mx=["mx1.example.com"])
    u2 = spool_line(u="fedcba9876543210", r="certificate-expired")
    yield (u1 + u2 + u1 + spool_line(u="0000000000000000") +
           spool_line(u="0000000000000000") + spool_line(u="ABCDEF") +
           spool_line(u=7)).encode()


BUILDERS = {
    "fuzz_cache_codec": seeds_cache_codec,
    "fuzz_spool_report": seeds_spool_report,
    "fuzz_policy": seeds_policy,
    "fuzz_txt": seeds_txt,
    "fuzz_mx": seeds_mx,
    "fuzz_tlsrpt_txt": seeds_tlsrpt_txt,
}


def load(vec, name):
    path = os.path.join(vec, name)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", default=os.environ.get(
        "MTASTS_VECTORS_DIR", os.path.join(here, "..", "..", "shared",
                                           "vectors")))
    ap.add_argument("outdir")
    args = ap.parse_args()
    if not os.path.isdir(args.vectors):
        print(f"seeds.py: vectors folder {args.vectors} missing",
              file=sys.stderr)
        return 1
    for target, build in BUILDERS.items():
        d = os.path.join(args.outdir, target)
        os.makedirs(d, exist_ok=True)
        n = 0
        for data in build(args.vectors):
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            n += 1
        print(f"seeds.py: {target}: {n} seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
