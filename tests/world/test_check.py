#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_check - `mtasts check` against misconfigured domains in the world.

Every check (txt, policy-host, policy, mx, smtp, tls-rpt, cache) is driven
into each of its states by a domain declared here, and both outputs are
asserted: the --json document (status, message, data of every check, the
exit code) and the aligned text (status column, summary line).

    test_check.py --mtasts BIN [-k PATTERN] [-v] [--keep]

MX receivers are smtpd.py listeners (one loopback address each, port 25),
started next to the world's dnsd/httpsd by the SmtpHosts helper below.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import world  # noqa: E402
from world import Policy, policy_text  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa

W = None
SMTP = None
TIMEOUT = 3        # --timeout for the probes (seconds)
SLACK = 2.5

GOOD_RPT = "v=TLSRPTv1; rua=mailto:tls-reports@example.test"


class SmtpHosts:
    """smtpd.py receivers for MX hosts: an A record and a listener each."""

    def __init__(self, w):
        self.w = w
        self.conf = os.path.join(w.dir, "smtpd.json")
        self.status = os.path.join(w.dir, "smtpd.status")
        self.log = os.path.join(w.dir, "smtp.log")
        self.listeners = []
        self.gen = 0
        open(self.log, "w").close()
        self._write()
        w._spawn([world.PY, os.path.join(HERE, "smtpd.py"), "--config",
                  self.conf, "--status", self.status], "smtpd")

    def _write(self):
        self.gen += 1
        world._write_atomic(self.conf, json.dumps(
            {"generation": self.gen, "log": self.log,
             "listeners": self.listeners}))
        if self.gen == 1:
            return
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(self.status) as f:
                    if int(f.read().strip() or 0) >= self.gen:
                        return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.005)
        raise world.WorldError("smtpd did not apply generation %d" %
                               self.gen)

    def add(self, name, cert="good", certfile=None, listen=True,
            **behaviour):
        addr = self.w.alloc_v4()
        self.w.add_records({"name": name, "type": "A", "data": addr})
        if listen:
            c, k = certfile or self.w.pki.leaf(name, cert)
            self.listeners.append({"name": name, "addr": addr, "port": 25,
                                   "cert": c, "key": k,
                                   "behaviour": behaviour})
            self._write()
        return addr

    def events(self, name=None):
        out = []
        with open(self.log) as f:
            for line in f:
                rec = json.loads(line)
                if name is None or rec.get("listener") == name:
                    out.append(rec)
        return out


def leaf_expiring(pki, host, days):
    """A trusted leaf for host valid for `days` more days (certs.py has
    no such kind; made here with the world CA)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, host)]))
            .issuer_name(pki.ca_cert.subject)
            .public_key(pki.leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=days, hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(host)]), critical=False)
            .sign(pki.ca_key, hashes.SHA256()))
    path = os.path.join(pki.dir, "%s.expiring%d.pem" % (host, days))
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return path, pki.leaf_key_path


def mx_rr(domain, host, pref=10):
    return {"name": domain, "type": "MX", "data": [pref, host]}


def rpt_rr(domain, txt=GOOD_RPT):
    return {"name": "_smtp._tls." + domain, "type": "TXT", "data": [txt]}


def declare(domain, txt="v=STSv1; id=1", policy="default", mx=("mx1",),
            rpt=GOOD_RPT, smtp=True, records=(), smtp_kw=None):
    """A domain with MX hosts <m>.<domain>, each an smtpd receiver."""
    hosts = ["%s.%s" % (m, domain) if "." not in m else m for m in mx]
    if policy == "default":
        policy = Policy(mx=hosts)
    recs = [mx_rr(domain, h, 10 * (i + 1)) for i, h in enumerate(hosts)]
    if rpt is not None:
        recs.append(rpt_rr(domain, rpt))
    recs += list(records)
    W.add_domain(domain, txt=txt, policy=policy, records=recs)
    if smtp:
        for h in hosts:
            SMTP.add(h, **(smtp_kw or {}).get(h, {}))
    return hosts


class Base(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.c = W.client()

    def check(self, *domains, smtp=True, client=None, extra=()):
        args = ["check", "--json", "--timeout", str(TIMEOUT)]
        if not smtp:
            args.append("--no-smtp")
        args += list(extra) + list(domains)
        r = (client or self.c).run(*args)
        self.assertIsNotNone(r.json, r)
        self.assertEqual(r.json["exit"], r.rc, r)
        return r

    def text(self, *domains, smtp=True, client=None):
        args = ["check", "--timeout", str(TIMEOUT)]
        if not smtp:
            args.append("--no-smtp")
        return (client or self.c).run(*(args + list(domains)))

    @staticmethod
    def checks(r, i=0):
        """{name or name:target: check} of domain i."""
        out = {}
        for c in r.json["domains"][i]["checks"]:
            k = c["name"] + (":" + c["target"] if "target" in c else "")
            out[k] = c
        return out

    def assertStatuses(self, r, want, i=0):
        got = {k: c["status"] for k, c in self.checks(r, i).items()}
        self.assertEqual(got, want, json.dumps(r.json, indent=1))

    def assertMsg(self, r, name, *parts, i=0):
        c = self.checks(r, i)[name]
        for p in parts:
            self.assertIn(p, c["message"], c)
        return c


ALL_OK_NOSMTP = {"txt": "ok", "policy-host": "ok", "policy": "ok",
                 "mx": "ok", "smtp": "skip", "tls-rpt": "ok",
                 "cache": "skip"}


class Good(Base):
    def test_good_domain_all_ok(self):
        hosts = declare("good.test", txt="v=STSv1; id=20240101",
                        mx=("mx1", "mx2"))
        r = self.check("good.test")
        self.assertEqual(r.rc, 0, r)
        want = dict(ALL_OK_NOSMTP)
        del want["smtp"]
        for h in hosts:
            want["smtp:" + h] = "ok"
        self.assertStatuses(r, want)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.json["version"], 1)
        d = r.json["domains"][0]
        self.assertEqual(d["domain"], "good.test")
        self.assertEqual(d["status"], "ok")
        c = self.checks(r)
        self.assertEqual(c["txt"]["message"], "_mta-sts.good.test: "
                         "v=STSv1, id=20240101 (DNSSEC insecure)")
        self.assertEqual(c["txt"]["data"]["id"], "20240101")
        self.assertEqual(c["txt"]["data"]["dnssec"], "insecure")
        ph = c["policy-host"]["data"]
        self.assertEqual(ph["http_status"], 200)
        self.assertEqual(ph["content_type"], "text/plain")
        self.assertIn(ph["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(ph["certificate"]["san"], "mta-sts.good.test")
        self.assertGreaterEqual(ph["certificate"]["days_left"], 28)
        self.assertEqual(ph["body_size"], len(policy_text(
            "enforce", hosts, 86400)))
        self.assertEqual(c["policy"]["message"],
                         "mode enforce, max_age 86400, 2 mx pattern(s)")
        self.assertEqual(c["mx"]["message"],
                         "all 2 MX host(s) match the policy")
        self.assertEqual([m["matched_by"] for m in c["mx"]["data"]["mx"]],
                         hosts)
        s = c["smtp:mx1.good.test"]
        self.assertTrue(s["data"]["starttls_offered"])
        self.assertEqual(s["data"]["starttls_reply"], 220)
        self.assertIsNone(s["data"]["result_type"])
        self.assertEqual(s["data"]["certificate"]["san"], "mx1.good.test")
        self.assertIn("certificate valid for mx1.good.test",
                      s["message"])
        self.assertEqual(c["tls-rpt"]["data"]["rua"],
                         ["mailto:tls-reports@example.test"])
        self.assertIsNone(c["txt"]["fix"])
        # The probe is what a sender does: SNI = MX name, EHLO, TLS.
        ev = SMTP.events("mx1.good.test")
        tls = [e for e in ev if e["event"] == "tls"]
        self.assertEqual(len(tls), 1, ev)
        self.assertEqual(tls[0]["sni"], "mx1.good.test")
        # check never writes the cache
        self.assertEqual(os.listdir(self.c.cache_dir), [])

    def test_smtp_mx_blackholed_ipv6_then_ipv4(self):
        """Issue 12 item 2, D-NET-3: the probe races the MX's addresses;
        a dead AAAA (tried first) must not eat the probe's deadline."""
        hosts = declare("mxdead6.test", mx=("mx1",))
        W.add_records({"name": hosts[0], "type": "AAAA",
                       "data": W.alloc_dead(6)})
        r = self.check("mxdead6.test")
        self.assertEqual(self.checks(r)["smtp:" + hosts[0]]["status"], "ok",
                         json.dumps(r.json, indent=1))
        self.assertLess(r.elapsed, TIMEOUT, r)
        self.assertEqual(len([e for e in SMTP.events(hosts[0])
                              if e.get("event") == "connect"]), 1)

    def test_good_domain_text(self):
        declare("goodtext.test", mx=("mx1",))
        r = self.text("goodtext.test")
        self.assertEqual(r.rc, 0, r)
        lines = r.out.splitlines()
        self.assertEqual(lines[0], "goodtext.test")
        self.assertEqual(lines[1], "  ok    txt         _mta-sts.goodtext."
                         "test: v=STSv1, id=1 (DNSSEC insecure)")
        names = [ln[8:20].strip() for ln in lines[1:-1]
                 if not ln[8:20].strip() == ""]
        self.assertEqual(names, ["txt", "policy-host", "policy", "mx",
                                 "smtp", "tls-rpt", "cache"])
        self.assertEqual(lines[-1], "goodtext.test: ok (6 ok, 0 warning(s), "
                         "0 failure(s), 0 not checked, 1 skipped)")
        self.assertNotIn("\033", r.out)   # no colour when not a TTY

    def test_colour_only_on_a_tty(self):
        import pty
        import subprocess
        declare("tty.test", policy=Policy(mode="testing",
                                          mx=["mx1.tty.test"]), smtp=False)
        mfd, sfd = pty.openpty()
        p = subprocess.Popen([W.mtasts_bin, "--config", self.c.config,
                              "check", "--no-smtp", "tty.test"],
                             stdout=sfd, stderr=subprocess.DEVNULL)
        os.close(sfd)
        out = b""
        while True:
            try:
                chunk = os.read(mfd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.close(mfd)
        self.assertEqual(p.wait(timeout=30), 1)
        self.assertIn(b"\033[33mWARN \033[0m policy", out)
        self.assertIn(b"\033[1mtty.test\033[0m", out)

    def test_cname_chain(self):
        declare("provider.test", txt="v=STSv1; id=prov1", mx=("mx1",),
                smtp=False)
        W.add_domain("cust.test", policy=Policy(mx=["mx1.provider.test"]),
                     records=[{"name": "_mta-sts.cust.test",
                               "type": "CNAME",
                               "data": "_mta-sts.provider.test"},
                              mx_rr("cust.test", "mx1.provider.test"),
                              rpt_rr("cust.test")])
        r = self.check("cust.test", smtp=False)
        self.assertEqual(r.rc, 0, r)
        self.assertStatuses(r, ALL_OK_NOSMTP)
        c = self.assertMsg(r, "txt", "id=prov1",
                           "via CNAME _mta-sts.provider.test")
        self.assertEqual(c["data"]["cname_chain"],
                         ["_mta-sts.cust.test", "_mta-sts.provider.test"])

    def test_two_domains_worst_wins(self):
        declare("twoa.test", smtp=False)
        declare("twob.test", policy=Policy(mode="testing",
                                           mx=["mx1.twob.test"]),
                smtp=False)
        r = self.check("twoa.test", "twob.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        self.assertEqual([d["status"] for d in r.json["domains"]],
                         ["ok", "warn"])
        t = self.text("twoa.test", "twob.test", smtp=False)
        self.assertEqual(t.rc, 1)
        self.assertEqual(t.out.splitlines()[-1], "overall: warn")


class Txt(Base):
    def test_no_txt(self):
        declare("notxt.test", txt=None, smtp=False)
        r = self.check("notxt.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.assertMsg(r, "txt", "_mta-sts.notxt.test: NXDOMAIN: "
                           "compliant senders do not use MTA-STS")
        self.assertEqual(c["status"], "fail")
        self.assertIn("v=STSv1; id=", c["fix"])

    def test_two_sts_records(self):
        declare("twosts.test", txt=["v=STSv1; id=1", "v=STSv1; id=2"],
                smtp=False)
        r = self.check("twosts.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.assertMsg(r, "txt", "2 STS records: senders ignore all")
        self.assertEqual(c["status"], "fail")
        self.assertEqual(sorted(c["data"]["records"]),
                         ["v=STSv1; id=1", "v=STSv1; id=2"])

    def test_bad_id_token(self):
        declare("badid.test", txt="v=STSv1; id=2024-01-01", smtp=False)
        r = self.check("badid.test", smtp=False)
        c = self.assertMsg(r, "txt", 'invalid id "2024-01-01" at offset 12')
        self.assertEqual(c["status"], "fail")
        self.assertEqual(r.rc, 2)

    def test_missing_semicolon(self):
        declare("nosemi.test", txt="v=STSv1 id=1", smtp=False)
        r = self.check("nosemi.test", smtp=False)
        c = self.assertMsg(r, "txt", '"v=STSv1 id=1" is not an STS record')
        self.assertEqual(c["status"], "fail")
        self.assertIn("';'", c["fix"])

    def test_txt_servfail_could_not_check(self):
        declare("dnsfail.test", smtp=False)
        W.set_dns_failure("_mta-sts.dnsfail.test", "servfail")
        r = self.check("dnsfail.test", smtp=False)
        self.assertEqual(r.rc, 3, r)
        want = dict(ALL_OK_NOSMTP)
        want["txt"] = "error"
        self.assertStatuses(r, want)
        self.assertMsg(r, "txt", "_mta-sts.dnsfail.test: DNS lookup failed")
        self.assertEqual(r.json["status"], "error")
        t = self.text("dnsfail.test", smtp=False)
        self.assertEqual(t.rc, 3)
        self.assertTrue(t.out.splitlines()[1].startswith(
            "  ERROR txt         _mta-sts.dnsfail.test: DNS lookup failed"),
            t.out)

    def test_mx_servfail(self):
        declare("mxfail.test", smtp=False)
        W.set_dns_failure("mxfail.test", "servfail")
        r = self.check("mxfail.test")
        self.assertEqual(r.rc, 3, r)
        want = dict(ALL_OK_NOSMTP)
        want["mx"] = "error"
        self.assertStatuses(r, want)
        self.assertMsg(r, "mx", "MX lookup failed")
        self.assertMsg(r, "smtp", "no MX host to probe")


class PolicyHost(Base):
    def test_expired_policy_cert(self):
        declare("expcert.test", policy=Policy(cert="expired",
                                              mx=["mx1.expcert.test"]),
                smtp=False)
        r = self.check("expcert.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        self.assertStatuses(r, {"txt": "ok", "policy-host": "fail",
                                "policy": "skip", "mx": "skip",
                                "smtp": "skip", "tls-rpt": "ok",
                                "cache": "skip"})
        c = self.assertMsg(r, "policy-host", "mta-sts.expcert.test: "
                           "certificate not valid (sts-webpki-invalid): "
                           "certificate has expired")
        self.assertEqual(c["fix"], "renew the certificate of the policy "
                         "host")
        self.assertLess(c["data"]["certificate"]["days_left"], 0)
        self.assertEqual(c["data"]["result_type"], "sts-webpki-invalid")

    def test_wrongname_policy_cert(self):
        declare("pwrong.test", policy=Policy(cert="wrongname",
                                             mx=["mx1.pwrong.test"]),
                smtp=False)
        r = self.check("pwrong.test", smtp=False)
        c = self.assertMsg(r, "policy-host", "X509_V_ERR_HOSTNAME_MISMATCH")
        self.assertIn("subjectAltName", c["fix"])
        self.assertEqual(c["data"]["certificate"]["san"],
                         "other-name.invalid-host.test,pwrong.test")

    def test_expiring_policy_cert_warns(self):
        host = "mta-sts.pexpiring.test"
        W.pki._cache[(host, "good")] = leaf_expiring(W.pki, host, 5)
        declare("pexpiring.test", smtp=False)
        r = self.check("pexpiring.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        c = self.assertMsg(r, "policy-host", "mta-sts.pexpiring.test: "
                           "certificate expires in 5 day(s)")
        self.assertEqual(c["status"], "warn")

    def test_redirect(self):
        declare("redir.test", policy=Policy(
            status=301, location="https://elsewhere.test/p.txt",
            mx=["mx1.redir.test"]), smtp=False)
        r = self.check("redir.test", smtp=False)
        c = self.assertMsg(r, "policy-host", "redirect 301 to "
                           "\"https://elsewhere.test/p.txt\"")
        self.assertEqual(c["status"], "fail")
        self.assertEqual(c["data"]["location"],
                         "https://elsewhere.test/p.txt")
        self.assertIn("never follow redirects", c["fix"])

    def test_status_404(self):
        declare("p404.test", policy=Policy(status=404, body="nope\n"),
                smtp=False)
        r = self.check("p404.test", smtp=False)
        self.assertMsg(r, "policy-host", "HTTP status 404")

    def test_media_type(self):
        declare("html.test", policy=Policy(content_type="text/html",
                                           mx=["mx1.html.test"]),
                smtp=False)
        r = self.check("html.test", smtp=False)
        c = self.assertMsg(r, "policy-host",
                           'media type is not text/plain: "text/html"')
        self.assertEqual(c["data"]["content_type"], "text/html")
        self.assertEqual(c["status"], "fail")

    def test_oversize_body(self):
        declare("big.test", policy=Policy(body="x" * 70000), smtp=False)
        r = self.check("big.test", smtp=False)
        c = self.assertMsg(r, "policy-host", "policy body larger than "
                           "65536 bytes")
        self.assertEqual(c["fix"], "keep the policy under 64 KiB (RFC 8461 "
                         "§3.2)")

    def test_https_refused(self):
        declare("refused.test", policy=Policy(addrs="refused"), smtp=False)
        r = self.check("refused.test", smtp=False)
        c = self.assertMsg(r, "policy-host", "sts-policy-fetch-error: "
                           "connect to ", "Connection refused")
        self.assertEqual(c["status"], "fail")
        self.assertEqual(r.rc, 2)

    def test_no_policy_host(self):
        declare("nohost.test", policy=Policy(addrs="none"), smtp=False)
        r = self.check("nohost.test", smtp=False)
        c = self.assertMsg(r, "policy-host", "mta-sts.nohost.test does not "
                           "resolve (no A/AAAA record)")
        self.assertEqual(c["status"], "fail")


class PolicyBody(Base):
    def test_testing_mode(self):
        declare("testing.test", policy=Policy(mode="testing",
                                              mx=["mx1.testing.test"]),
                smtp=False)
        r = self.check("testing.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        want = dict(ALL_OK_NOSMTP)
        want["policy"] = "warn"
        self.assertStatuses(r, want)
        c = self.checks(r)["policy"]
        self.assertEqual(c["message"], "mode testing: failures are only "
                         "reported, mail is not protected")
        self.assertEqual(c["data"]["mode"], "testing")

    def test_mode_none(self):
        declare("withdrawn.test", policy=Policy(mode="none",
                                                mx=["mx1.withdrawn.test"]),
                smtp=False)
        r = self.check("withdrawn.test", smtp=False)
        self.assertMsg(r, "policy", "mode none: the policy is withdrawn")

    def test_short_max_age(self):
        declare("short.test", policy=Policy(max_age=3600,
                                            mx=["mx1.short.test"]),
                smtp=False)
        r = self.check("short.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        c = self.assertMsg(r, "policy", "max_age 3600 is under one day")
        self.assertEqual(c["status"], "warn")

    def test_two_warnings_one_check(self):
        declare("twowarn.test", policy=Policy(mode="testing", max_age=60,
                                              mx=["mx1.twowarn.test"]),
                smtp=False)
        r = self.check("twowarn.test", smtp=False)
        c = self.checks(r)["policy"]
        self.assertEqual(c["status"], "warn")
        self.assertEqual(c["message"], "max_age 60 is under one day: too "
                         "short to protect between a sender's refreshes; "
                         "mode testing: failures are only reported, mail is "
                         "not protected")
        self.assertEqual(c["fix"].count("; "), 2, c)

    def test_syntax_error_line(self):
        body = "version: STSv1\nmode: enforcing\nmx: mx1.syn.test\n" \
               "max_age: 86400\n"
        declare("syn.test", policy=Policy(body=body), smtp=False)
        r = self.check("syn.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.assertMsg(r, "policy", "policy invalid "
                           "(sts-policy-invalid): line 2")
        self.assertIn("enforcing", c["message"])
        self.assertEqual(c["status"], "fail")
        self.assertEqual(self.checks(r)["mx"]["status"], "skip")


class Mx(Base):
    def test_mx_not_in_policy(self):
        declare("mxmiss.test", policy=Policy(mx=["mx1.mxmiss.test"]),
                mx=("mx1", "mx2"), smtp=False)
        r = self.check("mxmiss.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.checks(r)["mx"]
        self.assertEqual(c["status"], "fail")
        self.assertEqual(c["message"], "MX mx2.mxmiss.test (preference 20) "
                         "matches no policy mx pattern; compliant senders "
                         "will never deliver to it")
        self.assertEqual(c["fix"], "add \"mx: mx2.mxmiss.test\" to the "
                         "policy and bump the id, or remove the MX record")
        self.assertEqual([(m["host"], m["matched_by"])
                          for m in c["data"]["mx"]],
                         [("mx1.mxmiss.test", "mx1.mxmiss.test"),
                          ("mx2.mxmiss.test", None)])
        t = self.text("mxmiss.test", smtp=False)
        self.assertIn("  FAIL  mx          MX mx2.mxmiss.test (preference "
                      "20) matches no policy mx pattern", t.out)
        self.assertIn("              fix: add \"mx: mx2.mxmiss.test\"",
                      t.out)
        self.assertEqual(t.out.splitlines()[-1], "mxmiss.test: FAIL (4 ok, "
                         "0 warning(s), 1 failure(s), 0 not checked, "
                         "2 skipped)")

    def test_mx_not_in_policy_testing_warns(self):
        declare("mxmisst.test", policy=Policy(mode="testing",
                                              mx=["mx1.mxmisst.test"]),
                mx=("mx1", "mx2"), smtp=False)
        r = self.check("mxmisst.test", smtp=False)
        c = self.assertMsg(r, "mx", "senders will report failures for it")
        self.assertEqual(c["status"], "warn")

    def test_wildcard_depth(self):
        declare("wild.test", policy=Policy(mx=["*.wild.test"]),
                mx=("mx", "a.b.wild.test"), smtp=False)
        r = self.check("wild.test", smtp=False)
        c = self.checks(r)["mx"]
        self.assertEqual(c["status"], "fail")
        self.assertIn("\"*.wild.test\" covers exactly one label, not "
                      "a.b.wild.test", c["message"])
        self.assertEqual(c["data"]["mx"][1]["hint"],
                         "\"*.wild.test\" covers exactly one label, not "
                         "a.b.wild.test (more than one label deeper)")
        self.assertEqual(c["data"]["mx"][0]["matched_by"], "*.wild.test")

    def test_exact_pattern_for_subdomain(self):
        declare("exact.test", policy=Policy(mx=["mail.exact.test"]),
                mx=("mx.mail.exact.test",), smtp=False)
        r = self.check("exact.test", smtp=False)
        c = self.checks(r)["mx"]
        # every MX unmatched in enforce: the summary failure wins
        self.assertEqual(c["status"], "fail")
        self.assertEqual(c["message"], "no MX host matches the policy: "
                         "compliant senders cannot deliver to exact.test at "
                         "all (mx.mail.exact.test: \"mail.exact.test\" is "
                         "an exact name, it does not cover "
                         "mx.mail.exact.test (use \"*.mail.exact.test\" "
                         "for one label below it))")
        self.assertEqual(c["data"]["mx"][0]["hint"],
                         '"mail.exact.test" is an exact name, it does not '
                         'cover mx.mail.exact.test (use "*.mail.exact.test"'
                         ' for one label below it)')

    def test_unused_pattern_warns(self):
        declare("unused.test", policy=Policy(
            mx=["mx1.unused.test", "old.unused.test"]), smtp=False)
        r = self.check("unused.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        c = self.checks(r)["mx"]
        self.assertEqual(c["status"], "warn")
        self.assertEqual(c["message"], "policy mx pattern "
                         "\"old.unused.test\" matches no MX host")
        self.assertEqual(c["data"]["unused_patterns"], ["old.unused.test"])

    def test_implicit_mx(self):
        W.add_domain("implicit.test", txt="v=STSv1; id=1",
                     policy=Policy(mx=["implicit.test"]),
                     records=[rpt_rr("implicit.test")])
        r = self.check("implicit.test", smtp=False)
        self.assertMsg(r, "mx", "implicit MX")
        self.assertEqual(r.rc, 0, r)


class Smtp(Base):
    def test_starttls_missing_on_one_mx(self):
        declare("nostarttls.test", mx=("mx1", "mx2", "mx3"), smtp_kw={
            "mx2.nostarttls.test": {"starttls": False},
            "mx3.nostarttls.test": {
                "starttls_reply": "454 4.7.0 TLS not available"}})
        r = self.check("nostarttls.test")
        self.assertEqual(r.rc, 2, r)
        c = self.checks(r)
        self.assertEqual(c["smtp:mx1.nostarttls.test"]["status"], "ok")
        m2 = c["smtp:mx2.nostarttls.test"]
        self.assertEqual(m2["status"], "fail")
        self.assertEqual(m2["data"]["result_type"], "starttls-not-supported")
        self.assertFalse(m2["data"]["starttls_offered"])
        self.assertIn("STARTTLS not offered in the EHLO reply",
                      m2["message"])
        self.assertEqual(m2["fix"], "enable STARTTLS on this MX with a "
                         "valid certificate")
        m3 = c["smtp:mx3.nostarttls.test"]
        self.assertEqual(m3["data"]["starttls_reply"], 454)
        # Offered, then refused: the core's classification (D-ENF-2),
        # as the MTAs' sessions report it.
        self.assertEqual(m3["data"]["result_type"], "validation-failure")
        self.assertIn('STARTTLS refused: "454 4.7.0 TLS not available"',
                      m3["message"])
        self.assertIn("advertised but refused", m3["fix"])

    def test_certificate_kinds(self):
        declare("mxcerts.test", mx=("wrong", "old", "self", "star"),
                smtp_kw={"wrong.mxcerts.test": {"cert": "wrongname"},
                         "old.mxcerts.test": {"cert": "expired"},
                         "self.mxcerts.test": {"cert": "selfsigned"},
                         "star.mxcerts.test": {"cert": "partialwild"}},
                policy=Policy(mx=["*.mxcerts.test"]))
        r = self.check("mxcerts.test")
        self.assertEqual(r.rc, 2, r)
        c = self.checks(r)
        want = {"wrong": "certificate-host-mismatch",
                "old": "certificate-expired",
                "self": "certificate-not-trusted",
                "star": "certificate-host-mismatch"}
        for k, t in want.items():
            x = c["smtp:%s.mxcerts.test" % k]
            self.assertEqual(x["status"], "fail", x)
            self.assertEqual(x["data"]["result_type"], t, x)
            self.assertIn("[%s:25]: %s: certificate: " %
                          (x["data"]["addr"].split(":")[0], t),
                          x["message"])
            self.assertEqual(x["data"]["tls_version"][:5], "TLSv1")
        self.assertIn("(certificate SAN: other-name.invalid-host.test,"
                      "mxcerts.test)",
                      c["smtp:wrong.mxcerts.test"]["message"])
        self.assertLess(c["smtp:old.mxcerts.test"]["data"]["certificate"]
                        ["days_left"], 0)

    def test_bad_banner_and_injection(self):
        declare("rude.test", mx=("mx1", "mx2", "mx3"), smtp_kw={
            "mx1.rude.test": {"banner": "554 5.7.1 go away"},
            "mx2.rude.test": {"inject": "250 injected"},
            "mx3.rude.test": {"tls_max": "TLSv1.2"}})
        r = self.check("rude.test")
        c = self.checks(r)
        m1 = c["smtp:mx1.rude.test"]
        self.assertEqual(m1["data"]["result_type"], "starttls-not-supported")
        self.assertIn('SMTP banner is not 220: "554 5.7.1 go away"',
                      m1["message"])
        m2 = c["smtp:mx2.rude.test"]
        self.assertEqual(m2["data"]["result_type"], "validation-failure")
        self.assertIn("server sent 14 bytes after the 220 to STARTTLS",
                      m2["message"])
        m3 = c["smtp:mx3.rude.test"]
        self.assertEqual(m3["status"], "ok", m3)
        self.assertEqual(m3["data"]["tls_version"], "TLSv1.2")
        self.assertEqual(r.rc, 2)

    def test_expiring_mx_cert_warns(self):
        host = "mx1.mxexpiring.test"
        declare("mxexpiring.test", smtp_kw={host: {
            "certfile": leaf_expiring(W.pki, host, 3)}})
        r = self.check("mxexpiring.test")
        self.assertEqual(r.rc, 1, r)
        c = self.assertMsg(r, "smtp:" + host, host + ": certificate "
                           "expires in 3 day(s)")
        self.assertEqual(c["status"], "warn")

    def test_no_smtp_flag(self):
        declare("nosmtp.test", mx=("mx1",))
        before = len(SMTP.events("mx1.nosmtp.test"))
        r = self.check("nosmtp.test", smtp=False)
        self.assertEqual(r.rc, 0, r)
        self.assertMsg(r, "smtp", "SMTP probes skipped (--no-smtp)")
        self.assertEqual(len(SMTP.events("mx1.nosmtp.test")), before)

    def test_banner_timeout_bounded_and_concurrent(self):
        # Two MX hosts that greet only after 10 s: both probes run at
        # once, so the whole check takes about one --timeout, not two.
        declare("slow.test", mx=("mx1", "mx2"), smtp_kw={
            "mx1.slow.test": {"banner_delay_ms": 10000},
            "mx2.slow.test": {"banner_delay_ms": 10000}})
        r = self.check("slow.test")
        self.assertEqual(r.rc, 2, r)
        self.assertLess(r.elapsed, TIMEOUT + SLACK, r)
        for h in ("mx1.slow.test", "mx2.slow.test"):
            c = self.assertMsg(r, "smtp:" + h, "no SMTP banner", "timed out")
            self.assertEqual(c["status"], "fail")

    def test_delayed_banner_within_deadline(self):
        declare("lateok.test", mx=("mx1", "mx2"), smtp_kw={
            "mx1.lateok.test": {"banner_delay_ms": 1500},
            "mx2.lateok.test": {"banner_delay_ms": 1500}})
        r = self.check("lateok.test")
        self.assertEqual(r.rc, 0, r)
        self.assertLess(r.elapsed, 1.5 * 2, r)   # concurrently

    def test_unreachable_mx_is_could_not_check(self):
        declare("down.test", mx=("mx1",), smtp_kw={
            "mx1.down.test": {"listen": False}})
        r = self.check("down.test")
        self.assertEqual(r.rc, 3, r)
        c = self.assertMsg(r, "smtp:mx1.down.test",
                           "mx1.down.test: cannot connect: connect to")
        self.assertEqual(c["status"], "error")
        self.assertIn("port 25 may be blocked", c["fix"])

    def test_mx_host_does_not_resolve(self):
        W.add_domain("ghost.test", txt="v=STSv1; id=1",
                     policy=Policy(mx=["mx1.ghost.test"]),
                     records=[mx_rr("ghost.test", "mx1.ghost.test"),
                              rpt_rr("ghost.test")])
        r = self.check("ghost.test")
        c = self.assertMsg(r, "smtp:mx1.ghost.test",
                           "mx1.ghost.test does not resolve")
        self.assertEqual(c["status"], "fail")

    def test_other_port(self):
        declare("port.test", mx=("mx1",))
        r = self.check("port.test", extra=("--port", "2525"))
        c = self.checks(r)["smtp:mx1.port.test"]
        self.assertEqual(c["status"], "error", c)
        self.assertIn(":2525", c["message"])
        self.assertIn("check the address and port", c["fix"])


class TlsRpt(Base):
    def test_bad_rua_scheme(self):
        declare("badrua.test", rpt="v=TLSRPTv1; rua=ftp://reports.test/x",
                smtp=False)
        r = self.check("badrua.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.assertMsg(r, "tls-rpt", "_smtp._tls.badrua.test: invalid "
                           "TLS-RPT record: ")
        self.assertEqual(c["status"], "fail")
        self.assertEqual(c["data"]["records"],
                         ["v=TLSRPTv1; rua=ftp://reports.test/x"])

    def test_mixed_rua_warns(self):
        declare("mixrua.test", rpt="v=TLSRPTv1; rua=mailto:r@mixrua.test,"
                "ftp://reports.test/x", smtp=False)
        r = self.check("mixrua.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        c = self.assertMsg(r, "tls-rpt", "1 rua URI(s) use a scheme")
        self.assertEqual(c["status"], "warn")
        self.assertEqual(c["data"]["rua"], ["mailto:r@mixrua.test"])

    def test_no_tlsrpt(self):
        declare("norpt.test", rpt=None, smtp=False)
        r = self.check("norpt.test", smtp=False)
        self.assertEqual(r.rc, 1, r)
        c = self.assertMsg(r, "tls-rpt", "no TLS-RPT record")
        self.assertEqual(c["status"], "warn")

    def test_bad_version(self):
        declare("rptver.test", rpt="v=TLSRPTv1 rua=mailto:a@rptver.test",
                smtp=False)
        r = self.check("rptver.test", smtp=False)
        c = self.checks(r)["tls-rpt"]
        self.assertIn(c["status"], ("warn", "fail"), c)


class Cache(Base):
    def seed(self, domain, body_mx):
        declare(domain, txt="v=STSv1; id=c1",
                policy=Policy(mx=body_mx), smtp=False)
        r = self.c.lookup(domain)
        self.assertEqual(r["status"], "policy", r)

    def cache_snapshot(self):
        out = {}
        for n in sorted(os.listdir(self.c.cache_dir)):
            p = os.path.join(self.c.cache_dir, n)
            if os.path.isfile(p):
                with open(p, "rb") as f:
                    out[n] = (f.read(), os.stat(p).st_mtime_ns)
        return out

    def test_id_not_bumped(self):
        self.seed("nobump.test", ["mx1.nobump.test"])
        W.set_policy("nobump.test", Policy(
            mx=["mx1.nobump.test", "mx2.nobump.test"]))
        snap = self.cache_snapshot()
        r = self.check("nobump.test", smtp=False)
        self.assertEqual(r.rc, 2, r)
        c = self.checks(r)["cache"]
        self.assertEqual(c["status"], "fail")
        self.assertIn("policy body changed but id c1 was not bumped "
                      "(line 4: cached \"max_age: 86400\", live "
                      "\"mx: mx2.nobump.test\")", c["message"])
        self.assertEqual(c["fix"], "change the id in the _mta-sts TXT "
                         "record whenever the policy changes")
        self.assertFalse(c["data"]["id_changed"])
        self.assertTrue(c["data"]["body_changed"])
        self.assertEqual(c["data"]["first_changed_line"], 4)
        # never modifies the cache
        self.assertEqual(self.cache_snapshot(), snap)

    def test_id_changed_body_same(self):
        self.seed("idonly.test", ["mx1.idonly.test"])
        W.set_txt("idonly.test", "v=STSv1; id=c2")
        r = self.check("idonly.test", smtp=False)
        self.assertEqual(r.rc, 0, r)
        self.assertMsg(r, "cache", "id changed (c1 -> c2) without a policy "
                       "change: harmless")

    def test_matches_cache(self):
        self.seed("same.test", ["mx1.same.test"])
        r = self.check("same.test", smtp=False)
        self.assertEqual(r.rc, 0, r)
        c = self.assertMsg(r, "cache", "cached policy (id c1, fetched ")
        self.assertEqual(c["status"], "ok")

    def test_updated_properly(self):
        self.seed("updated.test", ["mx1.updated.test"])
        W.set_txt("updated.test", "v=STSv1; id=c2")
        W.set_policy("updated.test", Policy(
            mx=["mx1.updated.test", "*.updated.test"]))
        r = self.check("updated.test", smtp=False)
        self.assertMsg(r, "cache", "policy updated since cached (id c1 -> "
                       "c2)")
        self.assertEqual(r.rc, 0, r)


class Usage(Base):
    def test_usage_errors(self):
        for args in (["check"], ["check", "--port", "0", "a.test"],
                     ["check", "--bogus", "a.test"],
                     ["check", "--timeout", "x", "a.test"]):
            r = self.c.run(*args)
            self.assertEqual(r.rc, 3, (args, r))
            self.assertIn("check", r.err)

    def test_invalid_domain(self):
        r = self.check("bad_domain..test")
        self.assertEqual(r.rc, 3, r)
        self.assertStatuses(r, {"domain": "error"})


# ================================= configuration errors (D-CONF-1..5)

class ConfigErrors(Base):
    """A configuration typo is exit 2 naming file:line, never "none"."""

    def assertConfigError(self, r, line, *parts):
        self.assertEqual(r.rc, 2, r)
        self.assertEqual(r.out, "", r)
        self.assertNotIn('"none"', r.out)
        first = r.err.splitlines()[0] if r.err else ""
        self.assertTrue(first.startswith("mtasts: %s:%d: " %
                                         (r.argv[2], line)), r)
        for p in parts:
            self.assertIn(p, first, r)

    def test_ca_file_typo_lookup_exit_2(self):
        declare("cfgtypo.test", smtp=False)
        good = W.client()
        self.assertEqual(good.lookup("cfgtypo.test").get("status"),
                         "policy")
        typo = good.opts["ca_file"][:-1]      # ca.pem -> ca.pe
        c = W.client(ca_file=typo)
        line = list(c.opts).index("ca_file") + 2   # after the # line
        q0 = len(W.dns_queries("_mta-sts.cfgtypo.test", "TXT"))
        r = c.lookup("cfgtypo.test")
        self.assertConfigError(r, line, "ca_file: %s: No such file or "
                               "directory" % typo)
        # refused before any DNS or HTTPS
        self.assertEqual(len(W.dns_queries("_mta-sts.cfgtypo.test",
                                           "TXT")), q0)
        self.assertEqual(os.listdir(c.cache_dir), [])
        # Every command refuses the configuration, not only lookup.
        for args in (["refresh"], ["cache", "list"], ["check",
                                                       "cfgtypo.test"]):
            self.assertConfigError(c.run(*args), line, "ca_file")

    def test_trust_anchor_typo_with_dnssec_on(self):
        declare("tatypo.test", smtp=False)
        c = W.client(dnssec="on",
                     trust_anchor_file="/usr/share/dns/root.kee")
        line = list(c.opts).index("trust_anchor_file") + 2
        r = c.lookup("tatypo.test")
        self.assertConfigError(r, line, "trust_anchor_file: "
                               "/usr/share/dns/root.kee: No such file")

    def test_empty_ca_file_and_ca_path_typo(self):
        empty = os.path.join(W.dir, "empty-ca.pem")
        open(empty, "w").close()
        c = W.client(ca_file=empty)
        self.assertConfigError(c.lookup("x.test"),
                               list(c.opts).index("ca_file") + 2,
                               "no PEM certificate")
        c = W.client(ca_file=None, ca_path="/etc/ssl/cert")
        self.assertConfigError(c.lookup("x.test"),
                               list(c.opts).index("ca_path") + 2,
                               "ca_path: /etc/ssl/cert: No such file")

    def test_system_store_hashed_dir(self):
        # D-NET-7: without ca_file/ca_path the system store is read by
        # its hashed directory (SSL_CERT_DIR here, /etc/ssl/certs on a
        # host); SSL_CERT_FILE, when set, still decides.
        W.add_domain("sysstore.test", txt="v=STSv1; id=1",
                     policy=Policy(mx=["mx.sysstore.test"]))
        dirs = {}
        for k, ca in (("good", W.pki.ca_file),
                      ("other", W.pki.untrusted_ca_file)):
            d = dirs[k] = os.path.join(W.dir, "sys-certs-" + k)
            os.makedirs(d, exist_ok=True)
            shutil.copy(ca, os.path.join(d, "ca.pem"))
            subprocess.run(["openssl", "rehash", d], check=True,
                           capture_output=True)

        def lookup(env):
            c = W.client(ca_file=None)
            e = {k: v for k, v in os.environ.items()
                 if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
            e.update(env)
            p = subprocess.run([W.mtasts_bin, "--config", c.config,
                                "lookup", "--json", "sysstore.test"],
                               capture_output=True, text=True, env=e,
                               timeout=60)
            try:
                return p, json.loads(p.stdout)
            except ValueError:
                return p, {}
        p, j = lookup({"SSL_CERT_DIR": dirs["good"]})
        self.assertEqual((p.returncode, j.get("status"), j.get("source")),
                         (0, "policy", "fetched"), p.stdout + p.stderr)
        p, j = lookup({"SSL_CERT_DIR": dirs["other"]})
        self.assertNotEqual(j.get("source"), "fetched", p.stdout + p.stderr)
        self.assertNotIn("configuration", p.stderr)
        p, j = lookup({"SSL_CERT_DIR": dirs["other"],
                       "SSL_CERT_FILE": W.pki.ca_file})
        self.assertEqual((p.returncode, j.get("status"), j.get("source")),
                         (0, "policy", "fetched"), p.stdout + p.stderr)
        # `mtasts check --local` names the directory, not "0 loaded".
        c = W.client(ca_file=None)
        e = {k: v for k, v in os.environ.items()
             if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
        e["SSL_CERT_DIR"] = dirs["good"]
        p = subprocess.run([W.mtasts_bin, "--config", c.config, "check",
                            "--local"], capture_output=True, text=True,
                           env=e, timeout=60)
        self.assertRegex(p.stdout, r"ok +ca-store +system store: hashed "
                         r"directory %s " % dirs["good"], p.stdout)

    def test_duplicate_key_and_nul_byte(self):
        c = W.client()
        with open(c.config, "a") as f:
            f.write("fetch_timeout = 9\n")
        n = len(c.opts) + 2
        self.assertConfigError(c.lookup("x.test"), n, "fetch_timeout: "
                               "duplicate key (first set on line %d)" %
                               (list(c.opts).index("fetch_timeout") + 2))
        c = W.client()
        with open(c.config, "ab") as f:
            f.write(b"\0ca_file = /nonexistent\n")
        self.assertConfigError(c.lookup("x.test"), len(c.opts) + 2,
                               "NUL byte at column 1")

    def test_ca_store_openssl_cannot_load_defers(self):
        # D-CONF-5: textually fine PEM that OpenSSL cannot decode: the
        # net half's load failure is a configuration error, the lookup
        # defers (never "none"), nothing is cached or reported.
        declare("badstore.test", smtp=False)
        bad = os.path.join(W.dir, "undecodable-ca.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n" +
                    "MII" + "A" * 61 + "\n" + "A" * 64 + "\n" +
                    "-----END CERTIFICATE-----\n")
        spool = os.path.join(W.dir, "spool-badstore")
        os.makedirs(spool)
        c = W.client(ca_file=bad, tlsrpt_dir=spool)
        r = c.lookup("badstore.test")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r["status"], "tempfail", r)
        self.assertIn("configuration: cannot load CA certificates",
                      r["failure"]["reason"], r)
        # no entry (no back-off), only the fetch lock file
        self.assertEqual([n for n in os.listdir(c.cache_dir)
                          if n.endswith(".json")], [])
        self.assertEqual([n for n in os.listdir(spool)
                          if n.endswith(".jsonl")], [])
        # Repaired: the policy applies at once (no back-off was stored).
        with open(c.config) as f:
            text = f.read().replace(bad, W.pki.ca_file)
        with open(c.config, "w") as f:
            f.write(text)
        r = c.lookup("badstore.test")
        self.assertEqual(r["status"], "policy", r)


# ========================================== mtasts check --local

class Local(Base):
    """check --local: the installation as the MTA user sees it."""

    USER = "nobody"

    def setUp(self):
        import pwd
        import shutil
        import tempfile
        super().setUp()
        self.pw = pwd.getpwnam(self.USER)
        self.base = tempfile.mkdtemp(prefix="mtasts-local-", dir="/tmp")
        os.chmod(self.base, 0o755)
        self.addCleanup(shutil.rmtree, self.base, True)
        self.cache = os.path.join(self.base, "cache")
        self.spool = os.path.join(self.base, "tlsrpt")
        for d in (self.cache, self.spool):
            os.makedirs(d)
            os.chown(d, 0, self.pw.pw_gid)
            os.chmod(d, 0o2770)

    def local(self, user=USER, **cfg):
        opts = {"cache_dir": self.cache, "tlsrpt_dir": self.spool,
                "dnssec": None,
                "trust_anchor_file": os.path.join(self.base, "none.key")}
        opts.update(cfg)
        c = W.client(**opts)
        r = c.run("check", "--local", "--json", "--user", user)
        self.assertIsNotNone(r.json, r)
        self.assertEqual(r.json["exit"], r.rc, r)
        r.local = {x["name"] + (":" + x["target"] if "target" in x
                                else ""): x
                   for x in r.json["local"]["checks"]}
        return c, r

    def statuses(self, r):
        return {k: v["status"] for k, v in r.local.items()}

    GOOD = {"config": "ok", "files": "ok", "ca-store": "ok",
            "anchor": "ok", "dnssec": "ok", "resolver": "ok",
            "reports": "skip",
            "cache_dir:nobody": "ok", "tlsrpt_dir:nobody": "ok"}

    def test_dnssec_auto_disabled(self):
        # The default trust anchor (dns-root-data) with the world's
        # resolver, which serves no DNSSEC: auto switches validation off
        # (D-DNSSEC-1), a warning that says how to fix it.
        if not os.path.exists("/usr/share/dns/root.key"):
            self.skipTest("no /usr/share/dns/root.key")
        c, r = self.local(trust_anchor_file=None)
        d = r.local["dnssec"]
        self.assertEqual(d["status"], "warn", d)
        self.assertEqual(d["data"]["state"], "auto-disabled", d)
        self.assertIn("validation is switched off", d["message"])
        self.assertIn("dnssec = off", d["fix"])
        self.assertEqual(r.rc, 1, r)

    def test_dnssec_on_broken(self):
        # dnssec = on with the same resolver: a configuration error that
        # defers every lookup needing DNS (D-DNSSEC-2).
        if not os.path.exists("/usr/share/dns/root.key"):
            self.skipTest("no /usr/share/dns/root.key")
        c, r = self.local(trust_anchor_file=None, dnssec="on")
        d = r.local["dnssec"]
        self.assertEqual(d["status"], "fail", d)
        self.assertEqual(d["data"]["state"], "broken", d)
        self.assertIn("deferred", d["message"])
        self.assertEqual(r.rc, 2, r)

    def test_good_installation(self):
        c, r = self.local()
        self.assertEqual(self.statuses(r), self.GOOD, json.dumps(r.json,
                                                                 indent=1))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.json["status"], "ok")
        self.assertEqual(r.local["ca-store"]["data"]["certificates"], 1)
        self.assertIn("1 certificate(s) loaded",
                      r.local["ca-store"]["message"])
        self.assertIn("validation is off", r.local["anchor"]["message"])
        self.assertEqual(r.local["dnssec"]["data"],
                         {"mode": "auto", "capability_checked": True,
                          "state": "off"})
        self.assertIn("answers", r.local["resolver"]["message"])
        self.assertIn("writable by nobody",
                      r.local["cache_dir:nobody"]["message"])
        # nothing was left behind by the write tests
        self.assertEqual(os.listdir(self.cache), [])
        self.assertEqual(os.listdir(self.spool), [])
        # text output: the same rows, the summary line
        t = c.run("check", "--local", "--user", "nobody")
        self.assertEqual(t.rc, 0, t)
        self.assertRegex(t.out, r"(?m)^  ok    cache_dir   ")
        self.assertIn("local: ok (8 ok, 0 warning(s), 0 failure(s), 0 not "
                      "checked, 1 skipped)", t.out)

    def test_unwritable_cache_dir_as_user(self):
        os.chmod(self.cache, 0o2750)          # group may read, not write
        c, r = self.local()
        want = dict(self.GOOD)
        want["cache_dir:nobody"] = "fail"
        self.assertEqual(self.statuses(r), want, json.dumps(r.json,
                                                            indent=1))
        self.assertEqual(r.rc, 2, r)
        x = r.local["cache_dir:nobody"]
        self.assertIn("%s: not writable by nobody: Permission denied" %
                      self.cache, x["message"])
        self.assertFalse(x["data"]["writable"])
        # root itself could write: the check really ran as the user
        c, r = self.local(user="root")
        self.assertEqual(r.local["cache_dir:root"]["status"], "ok", r)

    def test_unreadable_entry_and_missing_spool(self):
        with open(os.path.join(self.cache, "a.test.json"), "w") as f:
            f.write("{}")
        os.chmod(os.path.join(self.cache, "a.test.json"), 0o600)
        os.rmdir(self.spool)
        os.chmod(self.base, 0o755)
        c, r = self.local()
        self.assertEqual(r.local["cache_dir:nobody"]["status"], "fail", r)
        self.assertIn("1 of 1 file(s) cannot be used by nobody",
                      r.local["cache_dir:nobody"]["message"])
        t = r.local["tlsrpt_dir:nobody"]
        self.assertEqual(t["status"], "fail", r)
        self.assertIn("does not exist and nobody cannot create it",
                      t["message"])

    def test_missing_ca_file(self):
        missing = os.path.join(self.base, "ca-certificate.crt")
        c, r = self.local(ca_file=missing)
        st = self.statuses(r)
        self.assertEqual(st["config"], "ok", r)
        self.assertEqual(st["files"], "fail", r)
        self.assertEqual(st["ca-store"], "fail", r)
        self.assertEqual(r.rc, 2, r)
        line = list(c.opts).index("ca_file") + 2
        self.assertEqual(r.local["files"]["message"],
                         "%s:%d: ca_file: %s: No such file or directory" %
                         (c.config, line, missing))
        # the other rows are still checked
        self.assertEqual(st["cache_dir:nobody"], "ok", r)

    def test_unreachable_resolver(self):
        t0 = time.monotonic()
        c, r = self.local(resolver="127.0.0.1@9", dns_timeout="2")
        self.assertLess(time.monotonic() - t0, 10)
        want = dict(self.GOOD)
        want["resolver"] = "fail"
        self.assertEqual(self.statuses(r), want, json.dumps(r.json,
                                                            indent=1))
        self.assertEqual(r.rc, 2, r)
        self.assertIn("127.0.0.1@9 does not answer",
                      r.local["resolver"]["message"])
        self.assertLessEqual(r.local["resolver"]["data"]["elapsed_ms"],
                             2500)

    def test_reports(self):
        c, r = self.local(report_contact="tlsrpt@sender.test",
                          sendmail="/nonexistent/sendmail -t",
                          report_dir=os.path.join(self.base, "reports"))
        self.assertEqual(r.local["reports"]["status"], "fail", r)
        self.assertIn("sendmail /nonexistent/sendmail is not an executable",
                      r.local["reports"]["message"])
        c, r = self.local(report_contact="tlsrpt@sender.test",
                          sendmail="/bin/cat", report_dir=os.path.join(
                              self.base, "reports"))
        self.assertEqual(r.local["reports"]["status"], "ok", r)
        self.assertEqual(r.rc, 0, r)

    def test_syntax_error_is_reported_not_fatal(self):
        c = W.client()
        with open(c.config, "a") as f:
            f.write("fetch_timout = 3\n")
        r = c.run("check", "--local", "--json", "--user", "nobody")
        self.assertEqual(r.rc, 2, r)
        rows = r.json["local"]["checks"]
        self.assertEqual([x["name"] for x in rows], ["config"], r)
        self.assertEqual(rows[0]["status"], "fail")
        self.assertIn(':%d: unknown key "fetch_timout"' %
                      (len(c.opts) + 2), rows[0]["message"])

    def test_usage(self):
        for args in (["check", "--local", "--bogus"],
                     ["check", "--local", "--user"]):
            r = self.c.run(*args)
            self.assertEqual(r.rc, 3, (args, r))
            self.assertIn("check --local", r.err)
        r = self.c.run("check", "--local", "--json", "--user", "no-such-u")
        self.assertEqual(r.rc, 3, r)
        rows = {x["name"]: x for x in r.json["local"]["checks"]}
        self.assertEqual(rows["cache_dir"]["status"], "error", r)
        self.assertEqual(rows["cache_dir"]["message"],
                         'no such user "no-such-u"')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    world.ensure_namespace()
    if not os.access(a.mtasts, os.X_OK):
        sys.stderr.write("test_check: FATAL: %s is not executable\n" %
                         a.mtasts)
        return 1
    global W, SMTP
    t0 = time.monotonic()
    W = world.World(mtasts=os.path.abspath(a.mtasts), keep=a.keep)
    W.start()
    try:
        SMTP = SmtpHosts(W)
        loader = unittest.TestLoader()
        if a.k:
            loader.testNamePatterns = ["*%s*" % k for k in a.k]
        suite = unittest.TestSuite()
        for cls in (Good, Txt, PolicyHost, PolicyBody, Mx, Smtp, TlsRpt,
                    Cache, Usage, ConfigErrors, Local):
            suite.addTests(loader.loadTestsFromTestCase(cls))
        res = unittest.TextTestRunner(verbosity=2 if a.v else 1,
                                      stream=sys.stdout).run(suite)
    finally:
        W.stop()
    print("check scenarios: %d run, %d failures, %d errors in %.1fs "
          "(%d mtasts runs)" % (res.testsRun, len(res.failures),
                                len(res.errors), time.monotonic() - t0,
                                len(W.runs)))
    san = [x for x in W.runs if "Sanitizer" in x.err or
           "runtime error:" in x.err]
    for x in san:
        print("SANITIZER REPORT in %s:\n%s" % (" ".join(x.argv), x.err))
    if res.testsRun == 0 or san:
        return 1
    return 0 if res.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
