#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_localfaults_conf_smtpd - the configuration rows of issue 11's
local-faults matrix with a real smtpd 6.8 or 7.8 (osmtpdworld.py) and the
smtpd.conf of opensmtpd/README.md as documented (test_localfaults_smtpd
has the cache rows).

table-mtasts and filter-mtasts read mtasts.conf once, when smtpd starts
them (D-OSMTPD-12): an operator's edit takes effect at `systemctl restart
opensmtpd`, so every row edits mtasts.conf and restarts smtpd, the way
an operator does. Enforce mail is queued first, under the documented
config, held by broken policy MXs (cf-rogue.test: a rogue preferred MX
that accepts anything and a policy MX without STARTTLS; cf-expired.test:
a policy MX with an expired certificate). Then, per row:

  4. cache_dir made world-writable (not a load error: refused at every
     access, D-CONF-4 / D-CACHE-6; run first)
  1. ca_file typo (one letter off), and a ca_path typo
  2. dnssec = on with a trust_anchor_file typo
  3. cache_dir replaced by a file

after the restart with the broken configuration: a first-contact enforce
domain whose preferred MX is a rogue host gets 4xx at RCPT (over SMTP
and through the local `sendmail`), nothing is accepted for it; forced
queue runs deliver none of the held mail anywhere (the rogue MX, the
no-STARTTLS MX and the expired MX get nothing) and it stays queued; the
smtpd log names the configuration error (table and filter) or the cache
refusal. Then the configuration and the receivers are repaired; without
a restart nothing changes (first contact still 4xx, held mail still
queued: the running table and filters do not re-read mtasts.conf); after
`mtasts check --local` passes and smtpd is restarted, the held mail and the first-contact mail (sent again,
as the client retries) reach only the policy MXs, over TLS; the rogue MX
got nothing at all.

Usage: test_localfaults_conf_smtpd.py --table BIN --filter BIN --mtasts BIN
"""

import argparse
import json
import os
import re
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "world"))
sys.path.insert(0, os.path.join(HERE, "..", "exim"))

import world as W  # noqa: E402
import eximworld as E  # noqa: E402
import osmtpdworld as O  # noqa: E402
import test_localfaults_smtpd as L  # noqa: E402

checks = 0
failures = []


def ok(cond, what):
    global checks
    checks += 1
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    sys.stdout.flush()
    if not cond:
        failures.append(what)


ROGUE = "rogue.attacker.test"
# (domain, policy mx, [(pref, host, kind)])
DOMAINS = [
    ("cf-rogue.test", "mx.cf-rogue.test",
     [(5, ROGUE, "good"), (10, "mx.cf-rogue.test", "notls")]),
    ("cf-expired.test", "mx.cf-expired.test",
     [(10, "mx.cf-expired.test", "expired")]),
]
HELD = ["cf-rogue.test", "cf-expired.test"]
ROWS = [
    # (name, first-contact domain, log pattern)
    ("ca_file typo", "cf-first1.test", r"ca_file"),
    ("trust_anchor_file typo, dnssec = on", "cf-first2.test",
     r"trust_anchor_file"),
    ("cache_dir replaced by a file", "cf-first3.test",
     r"cache_dir.*[Nn]ot a directory"),
    ("cache_dir world-writable", "cf-first4.test", r"world-writable"),
    ("ca_path typo", "cf-first5.test", r"ca_path"),
]
for _, first, _ in ROWS:
    pmx = "mx." + first
    DOMAINS.append((first, pmx, [(5, ROGUE, "good"), (10, pmx, "good")]))


def rcpt_code(sm, rcpt):
    """Send over SMTP; the RCPT reply code (250 when accepted)."""
    try:
        sm.send(rcpt, subject="first " + rcpt)
    except smtplib.SMTPRecipientsRefused as e:
        return list(e.recipients.values())[0][0]
    return 250


def run(a):
    t0 = time.monotonic()
    ew = E.EximWorld(so=None, mtasts=a.mtasts)
    ew.start()
    sm = None
    try:
        w = ew.w
        for dom, pmx, mxs in DOMAINS:
            for _, host, kind in mxs:
                if host not in ew.rx.hosts:
                    ew.rx.add(host, kind)
            w.add_domain(dom, txt="v=STSv1; id=1",
                         policy=W.Policy(mode="enforce", mx=[pmx]))
            ew.mx(dom, *[(p, h) for p, h, _ in mxs])
        ew.start_receivers()
        rx = ew.rx

        sm = O.Smtpd(ew, a.table, a.filter, None, name="cf",
                     version=a.smtpd_version)
        sm.install()
        cache = os.path.join(sm.dir, "cache")
        spool = os.path.join(sm.dir, "tlsrpt")
        for p in (cache, spool):
            os.makedirs(p)
            os.chown(p, sm.uid, sm.gid)
            os.chmod(p, 0o2770)
        mconf = os.path.join(sm.dir, "mtasts.conf")
        # The documented config: product defaults otherwise.
        good = ("resolver = %s\nresolve_special_zone = test\n"
                "ca_file = %s\ncache_dir = %s\ntlsrpt_dir = %s\n"
                "fetch_timeout = 3\ndns_timeout = 2\n" %
                (W.DNS_ADDR, w.pki.ca_file, cache, spool))

        def write_conf(text):
            with open(mconf, "w") as f:
                f.write(text)
            os.chmod(mconf, 0o644)

        def mtasts(*args):
            return subprocess.run([a.mtasts, "--config", mconf] +
                                  list(args), capture_output=True,
                                  text=True, timeout=60)

        write_conf(good)
        sm.conf_text_fn = lambda s: L.SMTPD_CONF.format(
            mconf=mconf, libexec=O.LIBEXEC,
            socket='listen on socket filter "mtasts_in"')
        sm.start()
        ok(sm.alive(), "smtpd %s started with the documented config" %
           a.smtpd_version)

        # ---- enforce mail held by broken policy MXs, good config
        for dom in HELD:
            sm.send("user@" + dom, subject="held " + dom)
        ok(L.wait_for(lambda: len(sm.log_lines(
            r"mta delivery.*cf-(rogue|expired).*result=\"TempFail\"")) >= 2,
            30), "held mail: the first delivery attempts failed")
        q = sm.queue()
        for dom in HELD:
            ok(("user@" + dom) in q, "%s: queued under the good config" %
               dom)

        def restart():
            sm.stop()
            sm.start()

        def held_stays(row):
            for _ in range(2):
                sm.smtpctl("schedule", "all")
                time.sleep(4)
            for dom in HELD:
                got = L.all_mail_for(rx, dom)
                ok(got == [], "%s: %s: held mail delivered nowhere "
                   "(got it at %s)" % (row, dom, [h for h, _ in got]))
            q = sm.queue()
            for dom in HELD:
                ok(("user@" + dom) in q, "%s: %s: still queued" %
                   (row, dom))

        def first_contact(row, dom):
            code = rcpt_code(sm, "user@" + dom)
            ok(code is not None and 400 <= code < 500,
               "%s: first-contact %s: 4xx at RCPT over SMTP (got %s)" %
               (row, dom, code))
            r = L.sendmail(sm, "user@" + dom, "first local " + dom)
            ok(r.returncode != 0 and " 4" in " " + r.stderr,
               "%s: first-contact %s: local sendmail refused with 4xx "
               "(exit %s: %s)" % (row, dom, r.returncode,
                                  r.stderr.strip()[-160:]))
            ok(("user@" + dom) not in sm.queue(),
               "%s: %s: nothing accepted into the queue" % (row, dom))

        def row_run(row, first, pattern, conf=None, fs=None, load=True):
            mark = len(sm.log())
            if conf is not None:
                write_conf(conf)
            if fs is not None:
                fs()
            # What the operator runs before restarting (README).
            r = mtasts("check", "--local", "--user", "opensmtpd")
            ok(r.returncode == 2, "%s: mtasts check --local fails (exit "
               "%d): %s" % (row, r.returncode,
                            (r.stdout + r.stderr).strip()[-300:]))
            restart()
            ok(sm.alive(), "%s: smtpd runs with the broken config" % row)
            first_contact(row, first)
            held_stays(row)
            got = L.all_mail_for(rx, first)
            ok(got == [], "%s: %s: first-contact mail reached nobody "
               "(got it at %s)" % (row, first, [h for h, _ in got]))
            new = sm.log()[mark:]
            ok(re.search(r"table-mtasts.*" + pattern, new) is not None,
               "%s: table-mtasts logged it (%s)" % (row, pattern))
            ok(re.search(r"filter-mtasts.*" + pattern, new) is not None,
               "%s: filter-mtasts logged it (%s)" % (row, pattern))
            if load:
                # D-OSMTPD-12: once at start, per process, with the fix.
                n = len(re.findall(r"table-mtasts.*configuration error:"
                                   r".*every request.*restart smtpd", new))
                ok(n == 1, "%s: table-mtasts logged the configuration "
                   "error once at start (%d)" % (row, n))
                n = len(re.findall(r"filter-mtasts: error: configuration "
                                   r"error:.*every recipient.*restart smtpd", new))
                ok(n == 2, "%s: each filter-mtasts logged it once (%d)" %
                   (row, n))
                ok(re.search(r"table-mtasts.*enforce mail held for "
                             r"cf-(rogue|expired)\.test: temporary "
                             r"failure: configuration error", new),
                   "%s: the table says why the held mail is held" % row)

        # 4. cache_dir world-writable (documented config)
        row_run(ROWS[3][0], ROWS[3][1], ROWS[3][2],
                fs=lambda: os.chmod(cache, 0o2777), load=False)
        # 1. ca_file typo
        row_run(ROWS[0][0], ROWS[0][1], ROWS[0][2],
                conf=good.replace(w.pki.ca_file, w.pki.ca_file[:-2] +
                                  "x" + w.pki.ca_file[-1:]),
                fs=lambda: os.chmod(cache, 0o2770))
        # 1b. ca_path typo (beside the working ca_file)
        row_run(ROWS[4][0], ROWS[4][1], ROWS[4][2],
                conf=good + "ca_path = /etc/ssl/certz\n")
        # 2. dnssec = on, trust anchor typo
        row_run(ROWS[1][0], ROWS[1][1], ROWS[1][2],
                conf=good + "dnssec = on\n"
                "trust_anchor_file = /usr/share/dns/root.kye\n")
        # 3. cache_dir replaced by a file (documented config)
        saved = cache + ".saved"

        def dir_to_file():
            os.rename(cache, saved)
            with open(cache, "w") as f:
                f.write("not a directory\n")
        row_run(ROWS[2][0], ROWS[2][1], ROWS[2][2], conf=good,
                fs=dir_to_file)

        # ---- repair: directory back, documented config, receivers
        os.unlink(cache)
        os.rename(saved, cache)
        write_conf(good)
        for dom, pmx, _ in DOMAINS:
            rx.set_kind(pmx, "good")
        r = mtasts("check", "--local", "--json", "--user", "opensmtpd")
        try:
            rows = json.loads(r.stdout)["local"]["checks"]
        except (ValueError, KeyError):
            rows = []
        # The world's resolver serves no DNSSEC and the host's root.key is
        # there: the dnssec row warns "auto-disabled" (D-DNSSEC-1); every
        # other row must be ok (or skipped).
        bad = [(c["name"], c["status"]) for c in rows
               if c["status"] not in ("ok", "skip") and
               not (c["name"] == "dnssec" and c["status"] == "warn" and
                    c["data"].get("state") == "auto-disabled")]
        ok(rows and not bad and r.returncode in (0, 1),
           "mtasts check --local after the repair: exit %d, not ok: %s\n%s"
           % (r.returncode, bad, r.stdout + r.stderr))
        # D-OSMTPD-12: the running table and filters do not re-read
        # mtasts.conf; until smtpd is restarted nothing changes (the
        # receivers are already repaired: only the restart is missing).
        mark = len(sm.log())
        code = rcpt_code(sm, "user@" + ROWS[2][1])
        ok(code is not None and 400 <= code < 500, "repaired, not "
           "restarted: %s still 4xx at RCPT (got %s)" % (ROWS[2][1], code))
        held_stays("repaired, not restarted")
        ok(re.search(r"filter-mtasts.*configuration error \(restart smtpd",
                     sm.log()[mark:]),
           "repaired, not restarted: the filter says to restart smtpd")
        restart()
        for _, first, _ in ROWS:
            code = rcpt_code(sm, "user@" + first)
            ok(code == 250, "repaired: %s accepted (got %s)" % (first, code))
        for dom, pmx, _ in DOMAINS:
            ok(L.wait_for(lambda: L.mail_for(rx, pmx, dom), 45,
                          tick=lambda: sm.smtpctl("schedule", "all")),
               "repaired: %s delivered to the policy MX" % dom)
            got = L.all_mail_for(rx, dom)
            ok(got and all(h == pmx for h, _ in got),
               "repaired: %s: only the policy MX received: %s" %
               (dom, [h for h, _ in got]))
            ok(got and all(m.get("x-rx-cipher") for _, m in got),
               "repaired: %s: received over TLS" % dom)
        ok(L.wait_for(lambda: sm.queue() == [], 10),
           "the queue is empty: %s" % sm.queue())
        ok(rx.mail(ROGUE) == [], "the rogue MX received nothing at all")
        ok(sm.alive(), "smtpd (and its table and filters) still running")
    finally:
        if sm is not None:
            sm.stop()
            diffs = sm.release()
            ok(diffs == [], "host directories under the overlays are "
               "unchanged: %s" % diffs)
            if failures:
                sys.stderr.write("--- smtpd log (tail) ---\n%s\n" %
                                 sm.log()[-60000:])
        ew.stop()
    print("test_localfaults_conf_smtpd: %d checks, %d failed, %.1fs" %
          (checks, len(failures), time.monotonic() - t0))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--filter", required=True)
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--smtpd-version", choices=O.VERSIONS, default="6.8")
    a = ap.parse_args()
    if a.smtpd_version == "7.8" and O.skip78_requested():
        print("SKIP: no OpenSMTPD 7.8 source and %s is set" % O.SKIP78_ENV)
        return O.SKIP_RC
    E.ensure_namespace()
    return run(a)


if __name__ == "__main__":
    sys.exit(main())
