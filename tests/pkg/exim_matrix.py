#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""exim_matrix - the Exim attack matrix against an INSTALLED mtasts-exim.

Runs inside a fresh Debian 12 root (tests/pkg/test_pkg.py made it, chroot
into it) where Debian's exim4-daemon-heavy and the mtasts .debs are
installed and mtasts was enabled as mtasts-exim(8) says. Nothing of the
build tree is used: the sender is the root's own Exim with the
configuration update-exim4.conf assembled from the shipped conf.d
snippets, the module is /usr/lib/mtasts/mtasts_exim.so, the configuration
/etc/mtasts.conf as shipped plus `resolve_special_zone = test` (the
world's domains are under .test).

The world (tests/world: DNS, HTTPS policy hosts, test CA) and the Exim
receivers of tests/exim/eximworld.py run in a private network and mount
namespace inside the root; /etc/resolv.conf names the world's DNS and the
world CA is bind-mounted over the CA bundle, as eximworld does.

Verdicts from what the receivers stored:
  enforce.test   rogue MX preferred in DNS, policy MX good: delivered to
                 the policy MX only, over TLS with SNI = the MX name
  nomatch.test   only a rogue MX: held (queued), rogue got nothing
  notls.test     policy MX without STARTTLS: held, nothing received
  expired.test   policy MX with an expired certificate: held
then the report job as the Debian-exim user (what the units run):
`mtasts report build` and `report send` for today, the report mail
through the root's Exim to the rua's MX.
Exit 0 on success, 1 on failure.
"""

import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "exim"))

import eximworld as E  # noqa: E402

W = E.W
# The root's own Exim (receivers and sender alike): the Exim under test
# is Debian's package installed in the root, not a private copy.
E.EXIM = "/usr/sbin/exim4"
if hasattr(E, "check_exim_process"):
    E.check_exim_process = lambda pid: None
MAINLOG = "/var/log/exim4/mainlog"
SYSTEM_CERTS = "/etc/ssl/certs"


class RootEximWorld(E.EximWorld):
    """eximworld's world and receivers on the root's installed Exim: the
    world CA over the root's CA bundle, and a copy of the root's
    /etc/exim4 (as enabled) with a trusted_configs for the receivers'
    -C file, bind-mounted over /etc/exim4 in this mount namespace."""

    def start(self):
        self.w.start()
        os.chmod(self.w.dir, 0o755)
        os.chmod(self.w.pki.dir, 0o755)
        os.chmod(self.w.pki.ca_file, 0o644)
        # The system store holding only the world CA, in both forms
        # update-ca-certificates keeps: the bundle (Exim's GnuTLS
        # "system") and the hashed directory (mtasts's default, D-NET-7).
        certs = os.path.join(self.w.dir, "etc-ssl-certs")
        os.makedirs(certs)
        shutil.copy(self.w.pki.ca_file, os.path.join(certs, "world-ca.pem"))
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in",
                            self.w.pki.ca_file], check=True,
                           capture_output=True, text=True).stdout.strip()
        os.symlink("world-ca.pem", os.path.join(certs, h + ".0"))
        os.symlink("world-ca.pem", os.path.join(certs,
                                                "ca-certificates.crt"))
        os.chmod(certs, 0o755)
        W._run("mount", "--bind", certs, SYSTEM_CERTS)
        etc = os.path.join(self.w.dir, "etc-exim4")
        shutil.copytree("/etc/exim4", etc, symlinks=True)
        self._trusted_path = os.path.join(etc, "trusted_configs")
        open(self._trusted_path, "w").close()
        os.chmod(self._trusted_path, 0o644)
        W._run("mount", "--bind", etc, "/etc/exim4")
        self.rx = E.Receiver(self)
        return self

    def stop(self):
        if self.rx is not None:
            self.rx.stop()
        self.w.stop()


def run(*argv, check=True):
    p = subprocess.run(list(argv), capture_output=True, text=True,
                       timeout=300)
    if check and p.returncode != 0:
        raise W.WorldError("%s: rc %d: %s %s" % (" ".join(argv),
                                                 p.returncode, p.stdout,
                                                 p.stderr))
    return p


def main():
    W.ensure_namespace()
    passed, failed = 0, []

    def ok(cond, what):
        nonlocal passed
        if cond:
            passed += 1
        else:
            failed.append(what)
            print("FAIL: %s" % what, flush=True)

    with RootEximWorld(None, mtasts="/usr/sbin/mtasts") as ew:
        w, rx = ew.w, ew.rx
        # The root's resolver is the world's DNS (this file is the
        # root's; the mount namespace ends with the test).
        with open("/etc/resolv.conf", "w") as f:
            f.write("nameserver %s\n" % W.DNS_ADDR)
        rx.add("rogue.attacker.test", "good")

        def dom(name, mx_policy, mxs):
            w.add_domain(name, txt="v=STSv1; id=1",
                         policy=W.Policy(mode="enforce", mx=[mx_policy]))
            for _, host, kind in mxs:
                rx.add(host, kind)
            ew.mx(name, *[(p, h) for p, h, _ in mxs])

        dom("enforce.test", "mx1.enforce.test",
            [(5, "rogue.attacker.test", "good"),
             (10, "mx1.enforce.test", "good")])
        # TLS-RPT for enforce.test: reports by mail to rua.test's MX.
        w.add_records({"name": "_smtp._tls.enforce.test", "type": "TXT",
                       "data": ["v=TLSRPTv1; rua=mailto:tlsrpt@rua.test"]})
        w.add_domain("rua.test")
        rx.add("mx.rua.test", "good")
        ew.mx("rua.test", (10, "mx.rua.test"))
        dom("nomatch.test", "mx.nomatch.test",
            [(5, "rogue.attacker.test", "good")])
        rx.add("mx.nomatch.test", "good")       # not in DNS
        dom("notls.test", "mx.notls.test", [(10, "mx.notls.test", "notls")])
        dom("expired.test", "mx.expired.test",
            [(10, "mx.expired.test", "expired")])
        ew.start_receivers()

        chk = run("mtasts", "check", "--local", "--user", "Debian-exim",
                  check=False)
        print("mtasts check --local --user Debian-exim: rc %d\n%s%s" %
              (chk.returncode, chk.stdout, chk.stderr), flush=True)
        ok(chk.returncode in (0, 1), "mtasts check --local passes "
           "(0 or warnings only): rc %d" % chk.returncode)

        rcpts = ["u@enforce.test", "u@nomatch.test", "u@notls.test",
                 "u@expired.test"]
        for r in rcpts:
            msg = "From: root@localhost\nTo: %s\nSubject: pkg %s\n\nhi\n" % (
                r, r)
            subprocess.run(
                ["/usr/sbin/exim4", "-odq", "-f", "root@localhost", r],
                input=msg, text=True, check=True, timeout=60)
        run("/usr/sbin/exim4", "-qff")
        rx.settle()
        mail = rx.all_mail()
        log = open(MAINLOG, errors="replace").read() if os.path.exists(
            MAINLOG) else ""
        q = run("/usr/sbin/exim4", "-bp").stdout

        m = mail.get("mx1.enforce.test", [])
        ok(len(m) == 1 and m[0].get("subject") == "pkg u@enforce.test",
           "enforce.test delivered once to the policy MX: %r" % m)
        ok(m and m[0].get("x-rx-sni") == "mx1.enforce.test",
           "enforce.test: SNI is the MX name: %r" % m)
        ok(m and m[0].get("x-rx-cipher", "") != "",
           "enforce.test: delivered over TLS: %r" % m)
        ok(re.search(r"=> u@enforce\.test R=mtasts_enforce T=mtasts_smtp "
                     r"H=mx1\.enforce\.test .*X=TLS.*CV=yes", log),
           "enforce.test: mtasts_enforce/mtasts_smtp, certificate "
           "verified (CV=yes) in Exim's log")
        ok(mail.get("rogue.attacker.test") == [],
           "rogue MX got nothing: %r" % mail.get("rogue.attacker.test"))
        for d in ("nomatch.test", "notls.test", "expired.test"):
            ok("u@" + d in q, "%s held in the queue" % d)
            ok(not mail.get("mx." + d), "%s: no receiver got it" % d)
            ok(not re.search(r"\*\* u@%s" % re.escape(d), log),
               "%s: not bounced" % d)
        ok(re.search(r"== u@nomatch\.test R=mtasts_guard defer", log),
           "nomatch.test deferred by the guard router")
        ok(re.search(r"MTA-STS: notls\.test mode=enforce.*"
                     r"starttls-not-supported", log),
           "notls.test: logged starttls-not-supported")
        ok(re.search(r"MTA-STS: expired\.test mode=enforce.*"
                     r"certificate-expired", log),
           "expired.test: logged certificate-expired")
        spool = os.listdir("/var/spool/mtasts/tlsrpt")
        ok(any(f.endswith(".jsonl") for f in spool),
           "TLS-RPT sessions recorded in /var/spool/mtasts/tlsrpt: %r"
           % spool)

        # The report job as the units run it (User=Debian-exim from the
        # mtasts-exim drop-in): build and send today's report; the
        # report mail goes through the root's Exim (sendmail) to rua.test.
        with open("/etc/mtasts.conf", "a") as f:
            f.write("report_contact = tlsrpt@sender.example\n")
        day = time.strftime("%Y-%m-%d", time.gmtime())
        b = run("runuser", "-u", "Debian-exim", "--", "mtasts", "report",
                "build", "--date", day, check=False)
        print("report build: rc %d\n%s%s" % (b.returncode, b.stdout,
                                             b.stderr), flush=True)
        ok(b.returncode == 0 and "wrote /var/lib/mtasts/reports/" in b.stdout,
           "report build as Debian-exim writes report_dir")
        snd = run("runuser", "-u", "Debian-exim", "--", "mtasts", "report",
                  "send", "--date", day, check=False)
        print("report send: rc %d\n%s%s" % (snd.returncode, snd.stdout,
                                            snd.stderr), flush=True)
        ok(snd.returncode == 0 and re.search(r"^sent ", snd.stdout, re.M),
           "report send as Debian-exim: sent, exit 0")
        ok("Permission denied" not in b.stderr + snd.stderr,
           "no Permission denied in the report job")
        run("/usr/sbin/exim4", "-qff")
        rx.settle()
        rep = rx.mail("mx.rua.test")
        ok(len(rep) == 1 and "enforce.test" in rep[0].get("subject", "")
           and rep[0].get("tls-required", "").lower() == "no",
           "the report mail reached rua.test's MX: %r" % rep)
        # The receiver can hold the message a moment before the sender
        # has written its "=>" line: wait for the line (10 s at most).
        want = re.compile(r"=> tlsrpt@rua\.test R=mtasts_tls_not_required "
                          r"T=mtasts_report_smtp")
        t_end = time.monotonic() + 10
        while True:
            log = open(MAINLOG, errors="replace").read()
            if want.search(log) or time.monotonic() > t_end:
                break
            time.sleep(0.1)
        ok(want.search(log),
           "report mail routed by mtasts_tls_not_required / "
           "mtasts_report_smtp of the shipped snippets")
        if failed:
            print("--- mainlog\n" + log[-6000:])
            pl = "/var/log/exim4/paniclog"
            if os.path.exists(pl):
                print("--- paniclog\n" + open(pl).read()[-3000:])
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
