#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_local_faults - the Exim rows of the local-faults matrix (issue 11).

Rule: no local condition (configuration, resolver, trust store, cache
state, missing pieces) may leave an enforce-policy domain less protected
than a correctly configured host would. Where the answer cannot be
determined, the mail is deferred; once the fault is repaired it is
delivered as the policy says.

Every row has its own sender (spool, cache, mtasts.conf) and its own four
enforce domains, all with a preferred rogue MX or a broken MX:

  <row>-enforce.test   rogue.attacker.test (pref 5, valid certificate for
                       its own name), mx1.<row>-enforce.test (pref 10, good)
  <row>-notls.test     its policy MX offers no STARTTLS
  <row>-expired.test   its policy MX has an expired certificate
  <row>-nomatch.test   only the rogue MX (the policy MX is not in DNS)

Verdicts come from what the receiving Exim stored (address, SNI, cipher)
and from the sender's queue, after every queue run:
  - rogue.attacker.test never receives anything;
  - nothing is received in clear (no cipher), nothing by a receiver that
    has no STARTTLS or an expired certificate at that moment, and every
    message carries the SNI of the MX that stored it;
  - mail that was not delivered is still queued (deferred, not bounced);
  - after the local repair the enforce domain's mail is delivered to its
    policy MX; after the MX hosts are repaired too (STARTTLS on, a valid
    certificate, the policy MX in DNS) everything is delivered.

Rows:
  ca_file           ca_file names a missing bundle (one letter off)
  trust_anchor      dnssec = on, trust_anchor_file misspelt
  cache_dir         the cache directory becomes unusable (replaced by a
                    file) while a valid cached policy exists
  no_netlib         mtasts_net.so missing next to mtasts_exim.so
  no_config         no configuration argument, no /etc/mtasts.conf
  flush             `mtasts cache flush` of the held domains while their
                    mail is queued (policy host fine; then again with the
                    policy hosts failing)
  corrupt           corrupt cache entries while enforce mail is queued
                    (policy host fine; then with the policy hosts failing)
  default_dnssec    the default configuration (no dnssec line, the
                    distribution's trust anchor present) with the world's
                    non-DNSSEC DNS
  ca_path           ca_path names a missing directory (one letter off);
                    repaired with a real hashed directory (no ca_file)

DNSSEC rows (D-DNSSEC-3/4): a really signed zone, sec.test (ldns-signzone,
served by nsd through dnsd's relay), its key's DS as trust_anchor_file.
Their domains, policy hosts and MX hosts live in the signed zone
(<kind>.<row>.sec.test) or in its insecure delegation unsigned.sec.test;
the rogue MX stays outside the anchor:
  dnssec_secure     chain valid, default dnssec: the policy applies and
                    `mtasts lookup --json` says "txt_dnssec": "secure"
  dnssec_bogus      every _mta-sts TXT of the row with a broken RRSIG,
                    nothing cached, default dnssec: fetched over HTTPS and
                    enforced ("bogus" reported)
  dnssec_cached     dnssec = on: policies cached under a valid chain, then
                    the TXTs turn bogus with a new id while the policy
                    hosts fail (HTTP 500): the cached policies still apply;
                    repaired (signatures fixed, another id, hosts fine)
  dnssec_insecure   an insecure (unsigned) delegation below the signed
                    zone, default dnssec: normal MTA-STS ("insecure")

    test_local_faults.py --so mtasts_exim.so --mtasts BIN [--only ROW]
"""

import argparse
import glob
import grp
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import eximworld as E  # noqa: E402

W = E.W
ROGUE = "rogue.attacker.test"
KINDS = ("enforce", "notls", "expired", "nomatch")
ROWS = ("ca_file", "trust_anchor", "cache_dir", "no_netlib", "no_config",
        "flush", "corrupt", "default_dnssec", "ca_path",
        "dnssec_secure", "dnssec_bogus", "dnssec_cached", "dnssec_insecure")
DEFAULT_ANCHOR = "/usr/share/dns/root.key"
SIGNED = "sec.test"                     # the signed zone (D-DNSSEC-4)
INSECURE = "unsigned." + SIGNED         # delegated without DS
# DNSSEC rows: where their domains live.
DNSSEC_BASE = {"dnssec_secure": "secure." + SIGNED,
               "dnssec_bogus": "bogus." + SIGNED,
               "dnssec_cached": "cached." + SIGNED,
               "dnssec_insecure": INSECURE}


class Row:
    """One row: its domains, its sender, its checks."""

    def __init__(self, m, name):
        self.m, self.name = m, name
        self.ew, self.w, self.rx = m.ew, m.ew.w, m.ew.rx
        self.failed = []
        self.tx = None
        self.sent = {}           # domain -> subjects sent
        # Receiver "state" per host: what it may receive right now.
        self.bad_hosts = set()

    def dom(self, kind):
        if self.name in DNSSEC_BASE:
            return "%s.%s" % (kind, DNSSEC_BASE[self.name])
        return "%s-%s.test" % (self.name.replace("_", "-"), kind)

    def mxname(self, kind):
        return ("mx1.%s" if kind == "enforce" else "mx.%s") % self.dom(kind)

    def declare(self):
        for k in KINDS:
            d = self.dom(k)
            self.w.add_domain(d, txt="v=STSv1; id=1",
                              policy=W.Policy(mode="enforce",
                                              mx=[self.mxname(k)]))
            hkind = {"enforce": "good", "notls": "notls",
                     "expired": "expired", "nomatch": "good"}[k]
            self.rx.add(self.mxname(k), hkind)
            if k in ("notls", "expired"):
                self.bad_hosts.add(self.mxname(k))
            if k == "enforce":
                self.ew.mx(d, (5, ROGUE), (10, self.mxname(k)))
            elif k == "nomatch":
                self.ew.mx(d, (5, ROGUE))
            else:
                self.ew.mx(d, (10, self.mxname(k)))

    def ok(self, cond, what):
        tag = "%s: %s" % (self.name, what)
        print(("ok   " if cond else "FAIL ") + tag, flush=True)
        if not cond:
            self.failed.append(tag)
        return cond

    def send(self, kinds, label):
        for k in kinds:
            d = self.dom(k)
            subj = "%s %s %s" % (self.name, label, k)
            self.tx.send("u@%s" % d, subject=subj)
            self.sent.setdefault(d, []).append(subj)

    def run(self, label):
        self.tx.clear_retry()
        self.tx.run_queue()
        self.check_invariants(label)

    def mail_of(self, host):
        return [m for m in self.rx.mail(host)
                if m.get("subject", "").startswith(self.name + " ")]

    def check_invariants(self, label):
        rogue = [m.get("subject") for m in self.rx.mail(ROGUE)
                 if m.get("subject", "").startswith(self.name + " ")]
        self.ok(not rogue, "%s: nothing reached the rogue MX: %r" %
                (label, rogue))
        for k in KINDS:
            h = self.mxname(k)
            for msg in self.mail_of(h):
                self.ok(msg.get("x-rx-cipher", "").startswith("TLS"),
                        "%s: %s received over TLS: %r" %
                        (label, h, msg.get("subject")))
                self.ok(msg.get("x-rx-sni") == h,
                        "%s: SNI is the MX name at %s: %r" %
                        (label, h, msg.get("x-rx-sni")))
            if h in self.bad_hosts:
                self.ok(not self.mail_of(h), "%s: broken MX %s received "
                        "nothing: %r" % (label, h, [m.get("subject") for m
                                                    in self.mail_of(h)]))
        self.ok(not self.tx.log_lines(r"\*\* u@"), "%s: nothing bounced: %r"
                % (label, self.tx.log_lines(r"\*\* u@")[:3]))

    def queued(self):
        return set(a.split("@", 1)[1] for a in self.tx.queue())

    def expect_queued(self, kinds, label):
        want = set(self.dom(k) for k in kinds)
        q = self.queued()
        self.ok(want <= q, "%s: still queued %s (queue %s)" %
                (label, sorted(want), sorted(q)))

    def expect_delivered(self, kind, label):
        h, d = self.mxname(kind), self.dom(kind)
        got = sorted(m.get("subject") for m in self.mail_of(h))
        self.ok(got == sorted(self.sent.get(d, [])) and
                d not in self.queued(),
                "%s: %s delivered to %s: got %r of %r" %
                (label, d, h, got, self.sent.get(d)))

    def repair_mx(self):
        """The recipients fix their MX hosts."""
        self.rx.set_kind(self.mxname("notls"), "good")
        self.rx.set_kind(self.mxname("expired"), "good")
        self.bad_hosts.clear()
        self.ew.mx(self.dom("nomatch"), (5, ROGUE),
                   (10, self.mxname("nomatch")))
        self.m.resign()          # the MX change, in the signed zone too

    def finish(self, label="after repair"):
        """Local fault repaired: enforce mail flows, held mail stays held
        until the MX hosts are repaired, then everything is delivered."""
        self.run(label)
        self.expect_delivered("enforce", label)
        self.expect_queued(("notls", "expired", "nomatch"), label)
        self.repair_mx()
        self.run(label + " + MX repaired")
        for k in KINDS:
            self.expect_delivered(k, label + " + MX repaired")
        self.ok(not self.tx.queue(), "%s + MX repaired: queue empty: %r" %
                (label, self.tx.queue()))


class Matrix:
    def __init__(self, so, mtasts, keep):
        self.so, self.mtasts = so, mtasts
        self.ew = E.EximWorld(so, mtasts=mtasts, keep=keep)
        self.sz = None           # the SignedZone, once signed
        self.tamper = set()      # owners whose TXT RRSIG is broken

    def resign(self):
        """Sign the zone again from the world's records (a change below
        sec.test is only served once signed), with self.tamper broken."""
        if self.sz is not None:
            self.sz = self.ew.w.sign_zone(SIGNED, insecure=[INSECURE],
                                          tamper=sorted(self.tamper))

    def good_opts(self, tx_dir):
        """The sender's healthy configuration, exactly as eximworld
        writes it for every other Exim test (whatever its dnssec line is:
        this test does not depend on it)."""
        o = {}
        with open(os.path.join(tx_dir, "mtasts.conf.good")) as f:
            for ln in f:
                k, _, v = ln.partition("=")
                if k.strip():
                    o[k.strip()] = v.strip()
        return o

    def dnssec_opts(self, tx_dir, dnssec=None):
        """The healthy configuration with the signed zone's trust anchor;
        dnssec None: no dnssec line (the default, auto)."""
        o = self.good_opts(tx_dir)
        o.pop("dnssec", None)
        o["trust_anchor_file"] = self.sz.anchor_file
        if dnssec is not None:
            o["dnssec"] = dnssec
        return o

    def lookup(self, tx, domain, mx=ROGUE):
        """`mtasts lookup --json` on the sender's own configuration."""
        p = self.cli(tx, "lookup", "--json", "--mx", mx, domain)
        try:
            j = json.loads(p.stdout)
        except ValueError:
            j = {}
        return p, j

    @staticmethod
    def conf_text(opts):
        return "".join("%s = %s\n" % kv for kv in opts.items()
                       if kv[1] is not None)

    def cli(self, tx, *args):
        return subprocess.run([self.mtasts, "--config", tx.mtasts_conf] +
                              list(args), capture_output=True, text=True,
                              timeout=60)


# ------------------------------------------------------------------ rows
#
# Each row function: declare its domains (before the receivers start),
# then a second function runs it.

def row_config_fault(r, bad_opts, label):
    """A configuration fault from the start (a new installation)."""
    r.send(KINDS, "first")
    r.run(label)
    r.expect_queued(KINDS, label)


def run_ca_file(m, r):
    o = m.good_opts(r.tx.dir)
    o["ca_file"] = "/etc/ssl/certs/ca-certificate.crt"   # one letter off
    write_conf(r.tx, m.conf_text(o))
    row_config_fault(r, o, "ca_file typo")
    write_conf(r.tx, m.conf_text(m.good_opts(r.tx.dir)))
    r.finish()


def run_trust_anchor(m, r):
    o = m.good_opts(r.tx.dir)
    o["dnssec"] = "on"
    o["trust_anchor_file"] = "/usr/share/dns/root.kee"
    write_conf(r.tx, m.conf_text(o))
    row_config_fault(r, o, "trust_anchor_file typo, dnssec = on")
    write_conf(r.tx, m.conf_text(m.good_opts(r.tx.dir)))
    r.finish()


def run_cache_dir(m, r):
    # Healthy first: policies cached, enforce mail delivered, the rest held.
    r.send(KINDS, "first")
    r.run("healthy")
    r.expect_delivered("enforce", "healthy")
    r.expect_queued(("notls", "expired", "nomatch"), "healthy")
    cache = m.good_opts(r.tx.dir)["cache_dir"]
    aside = cache + ".aside"
    os.rename(cache, aside)
    with open(cache, "w") as f:          # not a directory any more
        f.write("not a directory\n")
    r.send(("enforce",), "second")
    r.run("cache dir unusable")
    r.expect_queued(KINDS, "cache dir unusable")
    os.unlink(cache)
    os.rename(aside, cache)
    r.finish()


def run_no_netlib(m, r):
    d = os.path.join(r.w.dir, "so-no-netlib")
    os.makedirs(d, exist_ok=True)
    so = os.path.join(d, "mtasts_exim.so")
    shutil.copy(m.so, so)
    os.chmod(d, 0o755)
    os.chmod(so, 0o644)
    r.tx = r.ew.sender(r.name, so=so)     # same spool, the lone module
    r.send(KINDS, "first")
    r.run("mtasts_net.so missing")
    r.expect_queued(KINDS, "mtasts_net.so missing")
    shutil.copy(os.path.join(os.path.dirname(m.so), "mtasts_net.so"), d)
    os.chmod(os.path.join(d, "mtasts_net.so"), 0o644)
    r.finish("after installing mtasts_net.so")


def run_no_config(m, r):
    # The module called without a configuration argument, and no
    # /etc/mtasts.conf (the namespace's /etc is the host's: check).
    if os.path.exists("/etc/mtasts.conf"):
        r.ok(False, "/etc/mtasts.conf exists on this host: row not run")
        return
    # The defaults name host paths (cache_dir /var/cache/mtasts, the spool
    # /var/spool/mtasts/tlsrpt, report_dir /var/lib/mtasts): give them
    # private overlays in this namespace, emptied of whatever the host
    # holds there (removals are whiteouts in the upper layer), so the row
    # starts from nothing and the host is never written (scripts/test
    # checks).
    for top, sub in (("/var/cache", "mtasts"), ("/var/spool", "mtasts"),
                     ("/var/lib", "mtasts")):
        E.overlay_dir(r.ew.w.dir, top, tag="ovl-noconf-" + sub +
                      top.replace("/", "-"))
        shutil.rmtree(os.path.join(top, sub), ignore_errors=True)
    good = r.tx.conf
    with open(good) as f:
        text = f.read()
    noarg = text.replace("MTASTS_CONF = %s" % r.tx.mtasts_conf,
                         "MTASTS_CONF =")
    with open(good, "w") as f:
        f.write(noarg)
    r.send(KINDS, "first")
    r.run("no configuration")
    r.expect_queued(KINDS, "no configuration")
    r.ok(r.tx.log_lines(r"MTA-STS: .*(/etc/mtasts\.conf|configuration)"),
         "no configuration: the reason is logged")
    with open(good, "w") as f:
        f.write(text)
    r.finish()


def held_then(m, r, fault, label):
    """Mail held by the policy, then a cache fault, first with the policy
    hosts answering, then with them failing (HTTP 500) and a new id in
    DNS (a refetch is needed and fails)."""
    r.send(KINDS, "first")
    r.run("healthy")
    r.expect_delivered("enforce", "healthy")
    r.expect_queued(("notls", "expired", "nomatch"), "healthy")
    fault()
    r.run(label)
    r.expect_queued(("notls", "expired", "nomatch"), label)
    held = ("notls", "expired", "nomatch")
    for k in held:
        r.w.set_policy(r.dom(k), W.Policy(status=500, body="oops"))
        r.w.set_txt(r.dom(k), "v=STSv1; id=2")
    fault()
    r.run(label + ", policy hosts failing")
    r.expect_queued(held, label + ", policy hosts failing")
    for k in held:
        r.w.set_policy(r.dom(k), W.Policy(mode="enforce",
                                          mx=[r.mxname(k)]))
        r.w.set_txt(r.dom(k), "v=STSv1; id=3")   # past the §3.3 back-off
    r.finish()


def run_flush(m, r):
    def fault():
        for k in ("notls", "expired", "nomatch"):
            p = m.cli(r.tx, "cache", "flush", r.dom(k))
            r.ok(p.returncode == 0, "mtasts cache flush %s: %s" %
                 (r.dom(k), (p.stdout + p.stderr).strip()))
    held_then(m, r, fault, "cache flushed")


def run_corrupt(m, r):
    cache = m.good_opts(r.tx.dir)["cache_dir"]

    def fault():
        n = 0
        for k in ("notls", "expired", "nomatch"):
            for p in glob.glob(os.path.join(cache, "*")):
                if os.path.isfile(p) and r.dom(k) in os.path.basename(p) \
                        and not p.endswith(".lock"):
                    with open(p, "r+") as f:
                        data = f.read()
                        f.seek(0)
                        f.truncate()
                        f.write(data[:len(data) // 2])   # truncated JSON
                    n += 1
        r.ok(n >= 3, "corrupted %d cache entries" % n)
    held_then(m, r, fault, "cache entries corrupt")


def run_default_dnssec(m, r):
    if not os.path.exists(DEFAULT_ANCHOR):
        r.ok(False, "%s missing: the row needs the default anchor" %
             DEFAULT_ANCHOR)
        return
    o = m.good_opts(r.tx.dir)
    o.pop("dnssec", None)                 # the default: auto
    write_conf(r.tx, m.conf_text(o))
    r.send(KINDS, "first")
    r.run("default config, DNS without DNSSEC")
    r.expect_delivered("enforce", "default config, DNS without DNSSEC")
    r.expect_queued(("notls", "expired", "nomatch"),
                    "default config, DNS without DNSSEC")
    r.repair_mx()
    r.run("default config + MX repaired")
    for k in KINDS:
        r.expect_delivered(k, "default config + MX repaired")


def run_ca_path(m, r):
    o = m.good_opts(r.tx.dir)
    del o["ca_file"]                       # the directory alone decides
    o["ca_path"] = "/etc/ssl/cert"         # one letter off /etc/ssl/certs
    write_conf(r.tx, m.conf_text(o))
    row_config_fault(r, o, "ca_path typo")
    said = r.tx.log_lines(r"MTA-STS: .*configuration: .*mtasts\.conf:\d+: "
                          r"ca_path: /etc/ssl/cert: ")
    r.ok(said, "ca_path typo: the log names file:line, ca_path and the "
         "directory: %r" % (said[:1] or r.tx.log_lines(r"MTA-STS: ")[-2:]))
    p = m.cli(r.tx, "lookup", "--json", r.dom("enforce"))
    r.ok(p.returncode == 2 and "ca_path" in p.stderr and
         "mtasts.conf:" in p.stderr,
         "ca_path typo: mtasts lookup exits 2 naming file:line: rc %d %r" %
         (p.returncode, p.stderr.strip()[-300:]))
    # Repair: a real hashed directory with the world CA, still no ca_file
    # (the fetches after the repair verify through ca_path alone).
    d = os.path.join(r.tx.dir, "capath")
    os.makedirs(d, exist_ok=True)
    shutil.copy(r.w.pki.ca_file, os.path.join(d, "world-ca.pem"))
    subprocess.run(["openssl", "rehash", d], check=True,
                   capture_output=True)
    os.chmod(d, 0o755)
    o["ca_path"] = d
    write_conf(r.tx, m.conf_text(o))
    r.finish("after repair (ca_path a hashed directory)")


# -------------------------------------------------------- DNSSEC rows
#
# The signed zone is made once all rows are declared (main); a change of
# a record below sec.test (TXT id, MX) is served only after m.resign().

HELD = ("notls", "expired", "nomatch")


def expect_lookup(m, r, label, txt_dnssec, source=None, pid=None):
    """What the CLI says on the sender's configuration: the enforce
    policy, the rogue MX not allowed, the TXT's DNSSEC state."""
    for k in KINDS:
        p, j = m.lookup(r.tx, r.dom(k))
        pol = j.get("policy") or {}
        r.ok(p.returncode == 0 and j.get("status") == "policy" and
             pol.get("mode") == "enforce" and
             [x.lower() for x in pol.get("mx", [])] == [r.mxname(k)] and
             j.get("mx_allowed") is False and
             j.get("txt_dnssec") == txt_dnssec and
             (source is None or j.get("source") == source) and
             (pid is None or pol.get("id") == pid),
             "%s: lookup %s: enforce, rogue not allowed, txt_dnssec %s%s%s:"
             " %s" % (label, r.dom(k), txt_dnssec,
                      "" if source is None else ", source " + source,
                      "" if pid is None else ", id " + pid,
                      (p.stdout.strip() or p.stderr.strip())[:400]))


def enforced_then_mx_repaired(r, label):
    """Held by the policy, then delivered once the MX hosts are fixed."""
    r.send(KINDS, "first")
    r.run(label)
    r.expect_delivered("enforce", label)
    r.expect_queued(HELD, label)


def expect_verified(r, label):
    """Every delivery of the row went through the enforce router and
    transport, with the MX certificate verified (the sender's log)."""
    lines = [ln for ln in r.tx.log_lines(r" => u@")
             if any("u@%s " % r.dom(k) in ln for k in KINDS)]
    bad = [ln for ln in lines if " R=mtasts_enforce T=mtasts_smtp " not in
           ln or " CV=yes " not in ln]
    r.ok(len(lines) >= len(KINDS) and not bad,
         "%s: %d deliveries, all R=mtasts_enforce T=mtasts_smtp CV=yes: %r"
         % (label, len(lines), bad[:2]))


def mx_repaired(r, label):
    r.repair_mx()
    r.run(label + " + MX repaired")
    for k in KINDS:
        r.expect_delivered(k, label + " + MX repaired")
    r.ok(not r.tx.queue(), "%s + MX repaired: queue empty: %r" %
         (label, r.tx.queue()))
    expect_verified(r, label)


def run_dnssec_secure(m, r):
    write_conf(r.tx, m.conf_text(m.dnssec_opts(r.tx.dir)))
    label = "valid chain, default dnssec"
    enforced_then_mx_repaired(r, label)
    expect_lookup(m, r, label, "secure")
    r.ok(not r.tx.log_lines(r"MTA-STS: .*DNSSEC"),
         "%s: no DNSSEC warning: %r" % (label,
                                        r.tx.log_lines(r"DNSSEC")[:2]))
    mx_repaired(r, label)


def run_dnssec_bogus(m, r):
    # main() broke the RRSIG of every _mta-sts TXT of this row.
    write_conf(r.tx, m.conf_text(m.dnssec_opts(r.tx.dir)))
    label = "bogus TXT, nothing cached, default dnssec"
    enforced_then_mx_repaired(r, label)
    hosts = ["mta-sts." + r.dom(k) for k in KINDS]
    r.ok(all(r.w.https_requests(h) for h in hosts),
         "%s: every policy was fetched over HTTPS: %r" %
         (label, dict((h, len(r.w.https_requests(h))) for h in hosts)))
    expect_lookup(m, r, label, "bogus")
    bogus = r.tx.log_lines(r"MTA-STS: .*DNSSEC-bogus")
    r.ok(bogus, "%s: the log says the TXT is DNSSEC-bogus: %r" %
         (label, bogus[:1] or r.tx.log_lines(r"MTA-STS: ")[-2:]))
    mx_repaired(r, label)


def run_dnssec_cached(m, r):
    write_conf(r.tx, m.conf_text(m.dnssec_opts(r.tx.dir, "on")))
    label = "valid chain, dnssec = on"
    enforced_then_mx_repaired(r, label)
    expect_lookup(m, r, label, "secure", pid="1")
    # The TXTs turn bogus with a new id; the policy hosts fail.
    hosts = ["mta-sts." + r.dom(k) for k in KINDS]
    n0 = dict((h, len(r.w.https_requests(h))) for h in hosts)
    for k in KINDS:
        r.w.set_policy(r.dom(k), W.Policy(status=500, body="oops"))
        r.w.set_txt(r.dom(k), "v=STSv1; id=2")
        m.tamper.add("_mta-sts." + r.dom(k))
    m.resign()
    label = "bogus TXT with a new id, policy hosts failing, dnssec = on"
    r.send(("enforce",), "second")
    r.run(label)
    r.expect_delivered("enforce", label)
    r.expect_queued(HELD, label)
    # D-DNSSEC-3: the bogus record's id was used (a refetch was tried),
    # the cached policy applied when it failed.
    r.ok(all(len(r.w.https_requests(h)) > n0[h] for h in hosts),
         "%s: the new id led to a fetch at every policy host: %r" %
         (label, dict((h, len(r.w.https_requests(h)) - n0[h])
                      for h in hosts)))
    expect_lookup(m, r, label, "bogus", source="cache", pid="1")
    # Repair at the recipient: signatures fixed, another id, hosts fine.
    for k in KINDS:
        r.w.set_policy(r.dom(k), W.Policy(mode="enforce",
                                          mx=[r.mxname(k)]))
        r.w.set_txt(r.dom(k), "v=STSv1; id=3")
        m.tamper.discard("_mta-sts." + r.dom(k))
    m.resign()
    r.send(("enforce",), "third")      # decided with the repaired zone
    r.finish("after the signer's repair")
    expect_lookup(m, r, "after the signer's repair", "secure", pid="3")
    expect_verified(r, "after the signer's repair")


def run_dnssec_insecure(m, r):
    write_conf(r.tx, m.conf_text(m.dnssec_opts(r.tx.dir)))
    label = "insecure delegation, default dnssec"
    enforced_then_mx_repaired(r, label)
    expect_lookup(m, r, label, "insecure")
    mx_repaired(r, label)


def write_conf(tx, text):
    with open(tx.mtasts_conf, "w") as f:
        f.write(text)
    os.chmod(tx.mtasts_conf, 0o644)


RUN = {"ca_file": run_ca_file, "trust_anchor": run_trust_anchor,
       "cache_dir": run_cache_dir, "no_netlib": run_no_netlib,
       "no_config": run_no_config, "flush": run_flush,
       "corrupt": run_corrupt, "default_dnssec": run_default_dnssec,
       "ca_path": run_ca_path, "dnssec_secure": run_dnssec_secure,
       "dnssec_bogus": run_dnssec_bogus, "dnssec_cached": run_dnssec_cached,
       "dnssec_insecure": run_dnssec_insecure}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--mtasts", required=True)
    ap.add_argument("--only", choices=ROWS, action="append")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    rows = a.only or list(ROWS)
    m = Matrix(os.path.abspath(a.so), os.path.abspath(a.mtasts), a.keep)
    results = {}
    with m.ew as ew:
        print("world: %s" % ew.w.dir, flush=True)
        ew.rx.add(ROGUE, "good")
        rs = [Row(m, n) for n in rows]
        for r in rs:
            r.declare()
        ew.start_receivers()
        if any(r.name in DNSSEC_BASE for r in rs):
            if "dnssec_bogus" in rows:
                m.tamper |= set("_mta-sts.%s.%s" % (k, DNSSEC_BASE[
                    "dnssec_bogus"]) for k in KINDS)
            m.sz = True
            m.resign()
            print("signed zone %s: anchor %s" % (SIGNED, m.sz.anchor_file),
                  flush=True)
        for r in rs:
            t0 = time.monotonic()
            print("=== row %s" % r.name, flush=True)
            r.tx = ew.sender(r.name)
            shutil.copy(r.tx.mtasts_conf, os.path.join(r.tx.dir,
                                                       "mtasts.conf.good"))
            try:
                RUN[r.name](m, r)
            except Exception as e:      # a crashed row is a failed row
                r.ok(False, "row raised %s: %s" % (type(e).__name__, e))
            results[r.name] = r.failed
            if r.failed and r.tx is not None:
                # The sender's own account of the failed row.
                lines = [ln for ln in r.tx.log().splitlines()
                         if "MTA-STS" in ln or " => " in ln or
                         " == " in ln]
                print("--- %s mainlog (%d lines, last 25):\n%s" %
                      (r.name, len(lines), "\n".join(lines[-25:])))
            print("=== row %s: %s (%.1fs)" % (
                r.name, "ok" if not r.failed else "%d FAILED" %
                len(r.failed), time.monotonic() - t0), flush=True)
    print("\nlocal faults (exim):")
    for n in rows:
        print("  %-15s %s" % (n, "ok" if not results[n] else
                              "FAILED (%d)" % len(results[n])))
    return 0 if not any(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
