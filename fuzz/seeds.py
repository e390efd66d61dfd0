#!/usr/bin/env python3
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


BUILDERS = {
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
