#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_dane_exim - DANE and MTA-STS together on real Exim 4.96 (issue 17).

RFC 8461 §2: "senders who implement MTA-STS validation MUST NOT allow
MTA-STS Policy validation to override a failing DANE validation."

The world: the DNSSEC-signed zone sec.test (world.SignedZone: nsd behind
dnsd's relay) with an insecure delegation unsigned.sec.test, and a real
validating resolver for Exim (world.Validator: Debian's unbound daemon in
the namespace, the signed zone's DS as its trust anchor, forwarding to
dnsd). Exim's libc resolver is pointed at it (/etc/resolv.conf with
trust-ad, bind-mounted in the namespace) and the sender has
dns_dnssec_ok = 1; Exim's DANE is its own (hosts_try_dane default *).
The sender's routers and transports are exim/README.md's. Every MX host
certificate shares the world PKI's leaf key, so DANE-EE 3 1 1 records are
the SHA-256 of that key's SubjectPublicKeyInfo; a "wrong" record is the
SHA-256 of something else.

Rows (verdicts from what the receiving Exim stored: address, SNI, cipher;
the sender's queue and log; the sender's TLS-RPT spool):
  both         enforce policy + valid DANE-EE TLSA; the policy MX has a
               self-signed certificate (PKIX would fail), a preferred rogue
               MX not in the policy has valid TLSA too: delivered to the
               policy MX under DANE (CV=dane), nothing to the rogue (the
               STS mx pattern still applies, D-DANE-1)
  mismatch     enforce policy, PKIX-valid MX, TLSA present but matching
               nothing: held (STS does not override the failing DANE)
  testing      the same with a testing policy: held
  bogus        enforce policy, valid TLSA whose RRSIG is broken (bogus):
               held, never downgraded
  nodane       enforce policy, no TLSA (secure NODATA), preferred rogue MX:
               MTA-STS as today: delivered to the policy MX, PKIX-verified
  nodanex      enforce policy, no TLSA, the policy MX's certificate expired:
               held by MTA-STS
  insecure     enforce policy below the insecure delegation, a TLSA
               record there that matches nothing (insecure: not DANE):
               delivered under MTA-STS (PKIX)
  daneonly     no MTA-STS, valid TLSA, self-signed MX: Exim's own DANE,
               delivered by the plain dnslookup router (CV=dane)
  daneonlybad  no MTA-STS, TLSA matching nothing: held by Exim's DANE
  required     a second sender whose remote_smtp has hosts_require_dane = *,
               a domain without MTA-STS whose MX is below the insecure
               delegation: never delivered (Exim fails it permanently:
               "lookup not DNSSEC"; its own choice), dane-required
  tlsrpt       DANE sessions recorded as policy-type tlsa with the TLSA
               records as policy-string; failures as tlsa-invalid /
               dnssec-invalid / dane-required (D-DANE-3); non-DANE ones as
               sts

--break MODE breaks the product on purpose to show the rows can fail:
  sts-overrides-dane  the enforce transport ignores DANE
                      (hosts_try_dane = :): PKIX + STS decide
  no-validator        Exim's resolv.conf names dnsd (not validating):
                      Exim never sees an AD bit, so never uses DANE
  no-mtasts           no mtasts at all (plain routers and transports)

    test_dane_exim.py --so mtasts_exim.so [--break MODE] [--keep]
"""

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import eximworld as E  # noqa: E402
from tlsrpt_schema import schema_errors  # noqa: E402

W = E.W
SIGNED = "sec.test"
INSECURE = "unsigned." + SIGNED
BREAKS = ("sts-overrides-dane", "no-validator", "no-mtasts")

FAILED = []


def ok(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


def spki_sha256(key_path):
    der = subprocess.run(["openssl", "pkey", "-in", key_path, "-pubout",
                          "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


class Dom:
    def __init__(self, name, mode, mxkind, tlsa, rogue=None):
        self.name = name
        self.mode = mode            # enforce | testing | None (no STS)
        self.mx = "mx." + name
        self.mxkind = mxkind
        self.tlsa = tlsa            # "good" | "wrong" | None
        self.rogue = rogue          # rogue MX: (name, tlsa) or None


def rows():
    s, u = SIGNED, INSECURE
    return {
        "both": Dom("both." + s, "enforce", "selfsigned", "good",
                    rogue=("rogue.both." + s, "good")),
        "mismatch": Dom("mismatch." + s, "enforce", "good", "wrong"),
        "testing": Dom("testing." + s, "testing", "good", "wrong"),
        "bogus": Dom("bogus." + s, "enforce", "good", "good"),
        "nodane": Dom("nodane." + s, "enforce", "good", None,
                      rogue=("rogue.nodane." + s, None)),
        "nodanex": Dom("nodanex." + s, "enforce", "expired", None),
        "insecure": Dom("ins." + u, "enforce", "good", "wrong"),
        "daneonly": Dom("daneonly." + s, None, "selfsigned", "good"),
        "daneonlybad": Dom("daneonlybad." + s, None, "good", "wrong"),
    }


def tlsa_name(host):
    return "_25._tcp." + host


def spool_records(d):
    out = []
    for p in sorted(glob.glob(os.path.join(d, "**", "*.jsonl"),
                              recursive=True)):
        with open(p) as f:
            for ln in f:
                try:
                    out.append(json.loads(ln))
                except ValueError:
                    pass
    return out


def check_reports(mtasts, tx, w, R, rr, rw):
    """mtasts report build over the sender's spool: the RFC 8460 JSON the
    recipients would get (policy-type, policy-string, result types)."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out = os.path.join(w.dir, "built")
    p = subprocess.run([mtasts, "--config", tx.mtasts_conf, "report",
                        "build", "--date", day, "--out", out],
                       capture_output=True, text=True, timeout=120)
    ok(p.returncode == 0, "mtasts report build: rc %d %s" %
       (p.returncode, (p.stdout + p.stderr).strip()[-300:]))
    reps = {}
    for fn in sorted(os.listdir(out)) if os.path.isdir(out) else []:
        with open(os.path.join(out, fn)) as f:
            reps[fn.split("!")[1]] = json.load(f)
    for d, rep in sorted(reps.items()):
        errs = schema_errors(rep)
        ok(not errs, "report for %s: RFC 8460 schema valid %r" % (d, errs))

    def pol(n, ptype):
        rep = reps.get(R[n].name) or {}
        return [x for x in rep.get("policies", [])
                if x.get("policy", {}).get("policy-type") == ptype]

    def expect(n, ptype, ps, ok_n, fail_types):
        ps_all = pol(n, ptype)
        others = [x.get("policy", {}).get("policy-type") for x in
                  (reps.get(R[n].name) or {}).get("policies", [])
                  if x.get("policy", {}).get("policy-type") != ptype]
        x = ps_all[0] if len(ps_all) == 1 else {}
        sm = x.get("summary", {})
        ft = sorted(set(f.get("result-type") for f in
                        x.get("failure-details", [])))
        ok(len(ps_all) == 1 and not others and
           (ps is None or x["policy"].get("policy-string") == ps) and
           x["policy"].get("policy-domain") == R[n].name and
           (sm.get("total-successful-session-count", 0) > 0) == ok_n and
           ft == sorted(fail_types),
           "%s: report: one %s policy (no other)%s, successes %s, failures "
           "%r: %s" % (n, ptype, "" if ps is None else " policy-string %r"
                       % ps, "yes" if ok_n else "none", fail_types,
                       json.dumps(reps.get(R[n].name, {}).get("policies"))
                       [:600]))

    expect("both", "tlsa", [rr], True, [])
    expect("mismatch", "tlsa", [rw], False, ["tlsa-invalid"])
    expect("testing", "tlsa", [rw], False, ["tlsa-invalid"])
    expect("bogus", "tlsa", None, False, ["dnssec-invalid"])
    expect("daneonly", "tlsa", [rr], True, [])
    expect("daneonlybad", "tlsa", [rw], False, ["tlsa-invalid"])
    expect("nodane", "sts", None, True, [])
    expect("insecure", "sts", None, True, [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--mtasts")   # the CLI: mtasts report build checks
    ap.add_argument("--break", dest="brk", choices=BREAKS)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    t0 = time.monotonic()
    R = rows()
    ew = E.EximWorld(os.path.abspath(a.so), keep=a.keep)
    with ew:
        w, rx = ew.w, ew.rx
        print("world: %s" % w.dir, flush=True)
        good = spki_sha256(w.pki.leaf_key_path)
        wrong = hashlib.sha256(b"not the MX key").hexdigest()
        val = {"good": good, "wrong": wrong}
        for d in R.values():
            if d.mode is not None:
                w.add_domain(d.name, txt="v=STSv1; id=1",
                             policy=W.Policy(mode=d.mode, mx=[d.mx]))
            rx.add(d.mx, d.mxkind)
            mxs = [(10, d.mx)]
            if d.tlsa:
                w.add_records({"name": tlsa_name(d.mx), "type": "TLSA",
                               "data": [3, 1, 1, val[d.tlsa]]})
            if d.rogue:
                rname, rt = d.rogue
                rx.add(rname, "good")
                mxs.append((5, rname))
                if rt:
                    w.add_records({"name": tlsa_name(rname), "type": "TLSA",
                                   "data": [3, 1, 1, val[rt]]})
            ew.mx(d.name, *mxs)
            w.add_records({"name": "_smtp._tls." + d.name, "type": "TXT",
                           "data": ["v=TLSRPTv1; rua=mailto:tlsrpt@" +
                                    d.name]})
        # The hosts_require_dane sender's domain (not sent by the main one).
        req = Dom("req." + INSECURE, None, "good", None)
        rx.add(req.mx, req.mxkind)
        ew.mx(req.name, (10, req.mx))
        ew.start_receivers()
        sz = w.sign_zone(SIGNED, insecure=[INSECURE],
                         tamper=[tlsa_name(R["bogus"].mx) + "/TLSA"])
        v = W.Validator(w, [sz.anchor_file]).start()
        if a.brk != "no-validator":
            W._run("mount", "--bind", v.resolv_conf(), "/etc/resolv.conf")
        print("signed zone %s, anchor %s; unbound on %s" %
              (SIGNED, sz.anchor_file, W.VALIDATOR_ADDR), flush=True)
        # exim/README.md: dns_dnssec_ok = 1 and a local validating
        # resolver (Exim 4.96 also requests DNSSEC per router through
        # dnssec_request_domains, default *).
        extra = "dns_dnssec_ok = 1"
        kw = {}
        if a.brk == "no-mtasts":
            kw["mtasts"] = False
        tx = ew.sender("dane", extra_main=extra,
                       trust_anchor_file=sz.anchor_file,
                       report_dir=os.path.join(w.dir, "reports"),
                       report_contact="tlsrpt@sender.world.test",
                       report_org_name="DANE Test",
                       report_from="noreply@sender.world.test", **kw)
        if a.brk == "sts-overrides-dane":
            with open(tx.conf) as f:
                text = f.read()
            text = text.replace("mtasts_smtp:\n  driver = smtp\n",
                                "mtasts_smtp:\n  driver = smtp\n"
                                "  hosts_try_dane = :\n", 1)
            with open(tx.conf, "w") as f:
                f.write(text)
        # Plumbing: what Exim's own resolver says (DNSSEC-strict lookups
        # succeed only with the AD bit).
        for q, want in (("dnssec_strict,a=" + R["both"].mx,
                          rx.hosts[R["both"].mx][0]),
                         ("dnssec_strict,tlsa=" + tlsa_name(R["both"].mx),
                          "3 1 1 " + good),
                         ("tlsa=" + tlsa_name(R["bogus"].mx), None),
                         ("dnssec_strict,a=" + R["insecure"].mx, None)):
            p = tx.exim("-be", "${lookup dnsdb{%s}{$value}{(none)}}" % q)
            said = (p.stdout + p.stderr).strip()
            ok(said == want if want else "DEFER" in said,
               "Exim's resolver: dnsdb{%s} %s: %s" %
               (q, want or "fails (bogus / not DNSSEC)", said[:200]))
        treq = ew.sender("req", extra_main=extra,
                         trust_anchor_file=sz.anchor_file, **kw)
        with open(treq.conf) as f:
            text = f.read()
        text = text.replace("remote_smtp:\n  driver = smtp\n",
                            "remote_smtp:\n  driver = smtp\n"
                            "  hosts_require_dane = *\n", 1)
        with open(treq.conf, "w") as f:
            f.write(text)
        for n, d in R.items():
            tx.send("u@" + d.name, subject="dane %s" % n)
        treq.send("u@" + req.name, subject="dane required")
        for rnd in ("first", "second"):
            for t in (tx, treq):
                t.clear_retry()
                t.run_queue()
            print("queue after %s run: %r" % (rnd, sorted(tx.queue())),
                  flush=True)
        log = tx.log()
        queued = set(x.split("@", 1)[1] for x in tx.queue())

        def got(host):
            return [m for m in rx.mail(host)
                    if m.get("subject", "").startswith("dane ")]

        def delivered(n, router, cv):
            d = R[n]
            m = got(d.mx)
            ok(len(m) == 1 and m[0].get("subject") == "dane " + n and
               m[0].get("x-rx-cipher", "").startswith("TLS") and
               d.name not in queued,
               "%s: delivered once to %s over TLS: %r" %
               (n, d.mx, [(x.get("subject"), x.get("x-rx-cipher"))
                          for x in m]))
            lines = [ln for ln in log.splitlines()
                     if " => u@%s " % d.name in ln]
            ok(len(lines) == 1 and (" R=%s " % router) in lines[0] and
               (" CV=%s " % cv) in lines[0],
               "%s: the sender logged R=%s CV=%s: %r" %
               (n, router, cv, lines))

        def held(n, why):
            d = R[n]
            m = got(d.mx)
            ok(not m and d.name in queued,
               "%s: held (%s): nothing received by %s, still queued: "
               "received %r, queue %r" % (n, why, d.mx,
                                          [x.get("subject") for x in m],
                                          sorted(queued)))

        def rogue_nothing(n):
            m = got(R[n].rogue[0])
            ok(not m, "%s: the rogue MX %s (not in the policy) received "
               "nothing: %r" % (n, R[n].rogue[0],
                                [x.get("subject") for x in m]))

        # (1) STS enforce + valid DANE-EE: DANE decides the certificate,
        # the policy's MX pattern still decides the hosts (D-DANE-1).
        delivered("both", "mtasts_enforce", "dane")
        rogue_nothing("both")
        # (2) failing DANE is never overridden by a matching policy.
        held("mismatch", "TLSA matches nothing, PKIX valid, policy MX")
        held("testing", "TLSA matches nothing, testing policy")
        ok(any("DANE attempt failed" in ln and R["mismatch"].mx in ln
               for ln in log.splitlines()),
           "mismatch: Exim logged its DANE failure")
        said = [ln for ln in log.splitlines()
                if "MTA-STS: mismatch.sec.test mx=%s " % R["mismatch"].mx
                in ln and "DANE failed: tlsa-invalid" in ln and
                "does not override DANE" in ln]
        ok(said, "mismatch: the module logged the DANE failure and that "
           "MTA-STS does not override it")
        # (3) bogus TLSA: held, not STS-only, not opportunistic.
        held("bogus", "TLSA RRset bogus")
        # (4) no TLSA / insecure: MTA-STS as today.
        delivered("nodane", "mtasts_enforce", "yes")
        rogue_nothing("nodane")
        held("nodanex", "no TLSA, expired certificate, enforce")
        delivered("insecure", "mtasts_enforce", "yes")
        # (5) DANE-only: Exim's DANE, the plugin stays out of the way.
        delivered("daneonly", "dnslookup", "dane")
        held("daneonlybad", "Exim's DANE, TLSA matches nothing")
        ok(not tx.log_lines(r"\*\* u@"), "nothing bounced: %r" %
           tx.log_lines(r"\*\* u@")[:3])
        ok(not tx.panic().strip(), "no paniclog: %r" % tx.panic()[-300:])
        # (6) TLS-RPT records.
        recs = spool_records(os.path.join(tx.dir, "tlsrpt"))
        print("tlsrpt spool: %d records" % len(recs))

        def recs_of(n, host=None):
            d = R[n]
            return [r for r in recs if r.get("d") == d.name and
                    r.get("rh") == (host or d.mx)]

        def expect_rec(n, pt, result, ps):
            rs = recs_of(n)
            want = [r for r in rs if r.get("pt") == pt and
                    r.get("r") == result and
                    (ps is None or r.get("ps") == ps)]
            ok(rs and len(want) == len(rs),
               "%s: TLS-RPT: every session with %s is pt=%s r=%s ps=%r: %r"
               % (n, R[n].mx, pt, result, ps, rs[:3]))

        rr = "3 1 1 " + good
        rw = "3 1 1 " + wrong
        expect_rec("both", "tlsa", None, [rr])
        expect_rec("mismatch", "tlsa", "tlsa-invalid", [rw])
        expect_rec("testing", "tlsa", "tlsa-invalid", [rw])
        expect_rec("bogus", "tlsa", "dnssec-invalid", None)
        expect_rec("daneonly", "tlsa", None, [rr])
        expect_rec("daneonlybad", "tlsa", "tlsa-invalid", [rw])
        expect_rec("nodane", "sts", None, None)
        expect_rec("insecure", "sts", None, None)
        if a.mtasts:
            check_reports(a.mtasts, tx, w, R, rr, rw)
        # hosts_require_dane: an insecure MX is never used (Exim 4.96
        # bounces: smtp.c returns FAIL for "lookup not DNSSEC").
        m = [x for x in rx.mail(req.mx)
             if x.get("subject", "").startswith("dane ")]
        bounced = treq.log_lines(r"\*\* u@%s .*DANE error: %s lookup not "
                                 r"DNSSEC" % (req.name, req.mx))
        ok(not m and bounced,
           "required: not delivered (hosts_require_dane, insecure MX; "
           "Exim fails it): received %r, Exim said %r" %
           ([x.get("subject") for x in m], bounced[:1]))
        rr_req = [r for r in spool_records(os.path.join(treq.dir, "tlsrpt"))
                  if r.get("d") == req.name]
        ok(rr_req and all(r.get("pt") == "tlsa" and
                          r.get("r") == "dane-required" and
                          r.get("rh") == req.mx for r in rr_req),
           "required: TLS-RPT: every session is pt=tlsa r=dane-required: %r"
           % rr_req[:3])
        v.stop()
        if FAILED:
            lines = [ln for ln in log.splitlines()
                     if "MTA-STS" in ln or " => " in ln or " == " in ln or
                     "DANE" in ln]
            print("--- sender mainlog (%d lines, last 40):\n%s" %
                  (len(lines), "\n".join(lines[-40:])))
    print("dane: %d failed in %.1fs%s" % (
        len(FAILED), time.monotonic() - t0,
        " (broken on purpose: %s)" % a.brk if a.brk else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
