#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""world - a small internet inside a network namespace, for end-to-end tests.

The world is one Python object that owns, inside a private network and
mount namespace (nothing can leave it: the namespace only has `lo`):

  - a run-time PKI (certs.py): trusted test CA, untrusted CA, bad leaves;
  - dnsd.py on 127.0.0.53:53 serving a JSON zone rewritten on every change;
  - httpsd.py serving every policy host on its own loopback address:443;
  - Client objects that run the real `mtasts` binary with a generated
    config (own cache_dir) and parse its JSON.

Domains are declarative:

    w = World(mtasts="/path/to/mtasts"); w.start()
    w.add_domain("enforce1.test", txt="v=STSv1; id=1",
                 policy=Policy(mode="enforce", mx=["mx1.enforce1.test"]))
    c = w.client()
    r = c.lookup("enforce1.test")          # r.json["status"] == "policy"
    w.https_requests("mta-sts.enforce1.test")
    w.dns_queries("_mta-sts.enforce1.test", "TXT")

Command line (re-executes itself under `unshare --net --mount`; root only):

    world.py selftest [--mtasts BIN]
    world.py shell [--mtasts BIN] [-- CMD ARGS...]   (default: $SHELL)

A DNSSEC-signed zone (decisions.md D-DNSSEC-4) is a real one: signed at
run time by ldns-signzone (ldnsutils) with a fresh ldns-keygen key and
served by nsd on SIGNED_ADDR; dnsd relays the zone's queries there
unchanged. Declare the zone's domains first, then sign:

    w.add_domain("good.sec.test", txt="v=STSv1; id=1", policy=Policy())
    sz = w.sign_zone("sec.test", insecure=["unsigned.sec.test"],
                     tamper=["_mta-sts.bad.sec.test"])
    c = w.client(trust_anchor_file=sz.anchor_file)

Later tiers (MTAs, TLS-RPT collectors) extend World with more servers;
keep new daemons as separate scripts driven by JSON files.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time

# The mtasts command logs to syslog when stderr is not a terminal
# (decisions.md D-CLI-LOG-1); the worlds read its diagnostics on stderr.
os.environ.setdefault("MTASTS_LOG", "stderr")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import certs  # noqa: E402

PY = "/usr/bin/python3"
DNS_ADDR = "127.0.0.53"
SIGNED_ADDR = "127.0.0.54"   # nsd, the signed zone's authoritative server
VALIDATOR_ADDR = "127.0.0.55"  # unbound, a validating resolver (Validator)
NS_ENV = "MTASTS_WORLD_NS"
V6_PREFIX = "fd00::"


class WorldError(Exception):
    pass


# ---------------------------------------------------------------- teardown

def mounts_under(path):
    """Mount points at or below path in this mount namespace, deepest
    first (from /proc/self/mountinfo; octal escapes decoded)."""
    top = os.path.realpath(path).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = re.sub(r"\\([0-7]{3})",
                        lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if mp == top or mp.startswith(top + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def safe_rmtree(path):
    """Delete a world directory without ever deleting through a mount.

    Tests bind-mount system directories (e.g. an MTA's /var/lib) into
    their world directory to rebuild a private view of the system; a bind
    mount on the same file system is not visible to os.path.ismount, so a
    plain rmtree would delete the host's real files through it. Every
    mount below the directory is detached first, and deletion is refused
    if one survives."""
    if not os.path.isdir(path):
        return
    for mp in mounts_under(path):
        subprocess.call(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    left = mounts_under(path)
    if left:
        raise WorldError("refusing to delete %s: still mounted: %s" %
                         (path, ", ".join(left)))
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- namespace

def ensure_namespace():
    """Re-execute this program inside a fresh net+mount namespace.

    Never returns in the parent. Fails loudly (exit 1) when that is not
    possible: a world test that cannot isolate itself must not pass.
    """
    if os.environ.get(NS_ENV) == "1":
        ifaces = net_interfaces()
        if ifaces != ["lo"]:
            sys.stderr.write("world: FATAL: not in an isolated network "
                             "namespace (interfaces: %s)\n" % ifaces)
            sys.exit(1)
        return
    if os.geteuid() != 0:
        sys.stderr.write("world: FATAL: needs root for unshare --net "
                         "--mount (the world tests cannot run; failing)\n")
        sys.exit(1)
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.stderr.write("world: FATAL: unshare(1) not found "
                         "(util-linux); failing\n")
        sys.exit(1)
    env = dict(os.environ)
    env[NS_ENV] = "1"
    argv = [unshare, "--net", "--mount", "--propagation", "private", "--",
            PY, os.path.abspath(sys.argv[0])] + sys.argv[1:]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(unshare, argv, env)
    except OSError as e:
        sys.stderr.write("world: FATAL: exec unshare: %s\n" % e)
        sys.exit(1)


def net_interfaces():
    """Interface names of this network namespace (sysfs may be the host's)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(ln.split(":")[1].strip().split("@")[0]
                  for ln in out.splitlines() if ln.strip())


def _run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise WorldError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


# ------------------------------------------------------------------ policies

def policy_text(mode="enforce", mx=("mx1.example.test",), max_age=86400,
                version="STSv1", eol="\n", extra=()):
    lines = ["version: " + version, "mode: " + mode]
    lines += ["mx: " + m for m in mx]
    if max_age is not None:
        lines.append("max_age: %s" % max_age)
    lines += list(extra)
    return eol.join(lines) + eol


class Policy:
    """What the policy host mta-sts.<domain> does.

    body defaults to policy_text(mode, mx, max_age). cert is a certs.KINDS
    name. addrs: "v4" (one IPv4 listener), "v6" (IPv6 only), "v6refused+v4"
    (AAAA with nothing listening, A that works), "v6dead+v4" (AAAA whose
    packets vanish: routed to a dummy device, so a connect hangs; A that
    works), "v4dead+v6" (the same with the families swapped), "v4dead+v4" (a
    dead A listed before a working A), "none" (no A/AAAA),
    cert_host: name the certificate is made for (default the policy host),
    "refused" (A with nothing listening), "servfail" (address lookups
    SERVFAIL). All other keywords are httpsd behaviour keys.
    """

    def __init__(self, body=None, mode="enforce", mx=("mx1.example.test",),
                 max_age=86400, cert="good", addrs="v4", cert_host=None,
                 **behaviour):
        if body is None and "body_hex" not in behaviour:
            body = policy_text(mode, mx, max_age)
        self.body = body
        self.cert = cert
        self.cert_host = cert_host   # certificate name if not the host's
        self.addrs = addrs
        self.behaviour = behaviour

    def httpsd_behaviour(self):
        b = dict(self.behaviour)
        if self.body is not None and "body_hex" not in b:
            b["body"] = self.body
        return b


class Domain:
    def __init__(self, name):
        self.name = name
        self.policy_host = "mta-sts." + name
        self.txt = None          # list of RRs, each a list of strings
        self.policy = None
        self.v4 = None           # address of the listener
        self.v6 = None
        self.dead = None         # a blackholed address (alloc_dead)
        self.extra = []          # extra DNS records (dicts)


# --------------------------------------------------------------------- world

class World:
    def __init__(self, mtasts=None, workdir=None, keep=False):
        self.mtasts_bin = mtasts
        self.keep = keep
        self.dir = workdir or tempfile.mkdtemp(prefix="mtasts-world-")
        self.domains = {}
        self.records = []        # free-standing DNS records
        self.servfail = set()
        self.refused = set()
        self.drop = set()
        self.procs = []
        self._next_v4 = 0
        self._next_v6 = 0
        self._next_dead = 0
        self._dead_dev = False
        self._generation = 0
        self._zone_mtime = 0
        self._clients = 0
        self.runs = []           # every Result, for timing reports
        self.zone_path = os.path.join(self.dir, "zone.json")
        self.dns_log = os.path.join(self.dir, "dns.log")
        self.https_conf = os.path.join(self.dir, "httpsd.json")
        self.https_status = os.path.join(self.dir, "httpsd.status")
        self.https_log = os.path.join(self.dir, "https.log")
        self.pki = None
        self.signed = {}         # apex -> SignedZone

    # -- lifecycle

    def start(self):
        if os.environ.get(NS_ENV) != "1":
            raise WorldError("World.start() outside the namespace; call "
                             "world.ensure_namespace() first")
        _run("ip", "link", "set", "lo", "up")
        # Resolver libraries that read resolv.conf must only see dnsd.
        rc = os.path.join(self.dir, "resolv.conf")
        with open(rc, "w") as f:
            f.write("nameserver %s\n" % DNS_ADDR)
        try:
            _run("mount", "--bind", rc, "/etc/resolv.conf")
        except WorldError:
            pass  # not fatal: mtasts uses its configured resolver
        self.pki = certs.Pki(os.path.join(self.dir, "pki"))
        for p in (self.dns_log, self.https_log):
            open(p, "w").close()
        self._write_zone()
        self._write_https()
        here = HERE
        self._spawn([PY, os.path.join(here, "dnsd.py"), "--listen", DNS_ADDR,
                     "--port", "53", "--zone", self.zone_path,
                     "--log", self.dns_log], "dnsd")
        self._spawn([PY, os.path.join(here, "httpsd.py"), "--config",
                     self.https_conf, "--status", self.https_status],
                    "httpsd")
        return self

    def _spawn(self, argv, name):
        errf = open(os.path.join(self.dir, name + ".stderr"), "w")
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf,
                             text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise WorldError("%s did not start (see %s/%s.stderr): %r" %
                             (name, self.dir, name, line))
        return p

    def stop(self):
        if getattr(self, "validator", None) is not None:
            self.validator.stop()
        for sz in self.signed.values():
            sz.stop()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []
        if not self.keep:
            safe_rmtree(self.dir)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- addresses

    def alloc_v4(self):
        self._next_v4 += 1
        n = self._next_v4
        return "127.0.%d.%d" % (1 + n // 250, 1 + n % 250)

    def alloc_v6(self):
        self._next_v6 += 1
        a = "%s1:%x" % (V6_PREFIX, self._next_v6)
        _run("ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad")
        return a

    DEAD_DEV = "mtdead0"

    def alloc_dead(self, family):
        """An address whose packets vanish: routed (inside the private
        namespace only) to a dummy device, which drops all it is given.
        A connect to it gets no answer at all and hangs, like one to a
        host behind a broken path. A local address would answer, so the
        address is never put on an interface."""
        if not self._dead_dev:
            # dummy, else ifb (kernels without the dummy module): both
            # drop every packet routed to them (ifb keeps only redirected
            # ones), and both are NOARP, so no neighbour lookup answers.
            try:
                _run("ip", "link", "add", self.DEAD_DEV, "type", "dummy")
            except WorldError:
                _run("ip", "link", "add", self.DEAD_DEV, "type", "ifb")
            _run("ip", "link", "set", self.DEAD_DEV, "up")
            self._dead_dev = True
        self._next_dead += 1
        n = self._next_dead
        if family == 6:
            a = "fd00:dead::%x" % n
            _run("ip", "-6", "route", "add", a + "/128", "dev",
                 self.DEAD_DEV)
        else:
            a = "10.255.%d.%d" % (n // 250, 1 + n % 250)
            _run("ip", "route", "add", a + "/32", "dev", self.DEAD_DEV)
        return a

    # -- declarative DNS + HTTPS

    def add_domain(self, name, txt=None, policy=None, records=(),
                   write=True):
        """Declare a mail domain.

        txt: None (no _mta-sts record), a string (one RR, one string), or
        a list whose items are strings (one RR each) or lists of strings
        (one multi-string RR each). policy: a Policy or None (no host).
        records: extra zone records (dicts in dnsd's format).
        """
        name = name.lower().rstrip(".")
        if name in self.domains:
            raise WorldError("domain %s declared twice" % name)
        d = Domain(name)
        self.domains[name] = d
        d.txt = self._txt_rrs(txt)
        d.extra = list(records)
        d.policy = policy
        if write:
            self._commit()
        return d

    @staticmethod
    def _txt_rrs(txt):
        if txt is None:
            return []
        if isinstance(txt, str):
            return [[txt]]
        return [[r] if isinstance(r, str) else list(r) for r in txt]

    def set_txt(self, name, txt):
        self.domains[name].txt = self._txt_rrs(txt)
        self._commit()

    def set_policy(self, name, policy):
        self.domains[name].policy = policy
        self._commit()

    def set_dns_failure(self, qname, kind=None):
        """kind: "servfail", "refused", "drop" or None (answer normally)."""
        qname = qname.lower()
        for s in (self.servfail, self.refused, self.drop):
            s.discard(qname)
        if kind is not None:
            {"servfail": self.servfail, "refused": self.refused,
             "drop": self.drop}[kind].add(qname)
        self._commit()

    def add_records(self, *records):
        self.records.extend(records)
        self._commit()

    def _commit(self):
        self._assign_addresses()
        self._write_zone()
        self._write_https()

    def _assign_addresses(self):
        for d in self.domains.values():
            p = d.policy
            if p is None:
                continue
            if p.addrs in ("v4", "refused", "v6refused+v4", "v6dead+v4",
                           "v4dead+v4") and d.v4 is None:
                d.v4 = self.alloc_v4()
            if p.addrs in ("v6", "v6refused+v4", "v4dead+v6") and \
                    d.v6 is None:
                d.v6 = self.alloc_v6()
            if p.addrs == "v6dead+v4" and d.dead is None:
                d.dead = self.alloc_dead(6)
            if p.addrs in ("v4dead+v6", "v4dead+v4") and d.dead is None:
                d.dead = self.alloc_dead(4)

    def _zone(self):
        recs = list(self.records)
        servfail = set(self.servfail)
        for d in self.domains.values():
            for rr in d.txt:
                recs.append({"name": "_mta-sts." + d.name, "type": "TXT",
                             "data": rr})
            recs.extend(d.extra)
            p = d.policy
            if p is None or p.addrs == "none":
                continue
            if p.addrs == "servfail":
                servfail.add(d.policy_host)
                continue
            if p.addrs == "v6dead+v4":
                recs.append({"name": d.policy_host, "type": "AAAA",
                             "data": d.dead})
            if p.addrs in ("v4dead+v6", "v4dead+v4"):
                recs.append({"name": d.policy_host, "type": "A",
                             "data": d.dead})
            if p.addrs in ("v4", "refused", "v6refused+v4", "v6dead+v4",
                           "v4dead+v4"):
                recs.append({"name": d.policy_host, "type": "A",
                             "data": d.v4})
            if p.addrs in ("v6", "v6refused+v4", "v4dead+v6"):
                recs.append({"name": d.policy_host, "type": "AAAA",
                             "data": d.v6})
        return {"ttl": 60, "records": recs, "servfail": sorted(servfail),
                "refused": sorted(self.refused), "drop": sorted(self.drop),
                "relay": [sz.relay() for sz in self.signed.values()]}

    def sign_zone(self, apex, insecure=(), tamper=()):
        """Sign apex (every record declared so far below it, except those
        below an insecure child) and serve it with nsd; see SignedZone.
        Calling it again for the same apex re-signs (same key) and
        restarts nsd, e.g. with another tamper list."""
        apex = apex.lower().rstrip(".")
        sz = self.signed.get(apex)
        if sz is None:
            sz = SignedZone(self, apex)
            self.signed[apex] = sz
        sz.publish(list(insecure), list(tamper))
        self._write_zone()
        return sz

    # -- declarative DNS + HTTPS (continued)

    def _write_zone(self):
        _write_atomic(self.zone_path, json.dumps(self._zone(), indent=1))
        # dnsd notices changes by (mtime, size, inode); make mtime strictly
        # increase even for two writes within one clock tick.
        t = max(time.time_ns(), self._zone_mtime + 1000)
        self._zone_mtime = t
        os.utime(self.zone_path, ns=(t, t))

    def _listeners(self):
        out = []
        for d in self.domains.values():
            p = d.policy
            if p is None:
                continue
            cert, key = self.pki.leaf(p.cert_host or d.policy_host, p.cert)
            beh = p.httpsd_behaviour()
            if p.addrs == "v4":
                out.append({"name": d.policy_host, "addr": d.v4,
                            "cert": cert, "key": key, "behaviour": beh})
            if p.addrs in ("v6", "v4dead+v6"):
                out.append({"name": d.policy_host, "addr": d.v6,
                            "cert": cert, "key": key, "behaviour": beh})
            if p.addrs in ("v6refused+v4", "v6dead+v4", "v4dead+v4"):
                out.append({"name": d.policy_host, "addr": d.v4,
                            "cert": cert, "key": key, "behaviour": beh})
        return out

    def _write_https(self):
        self._generation += 1
        cfg = {"generation": self._generation, "log": self.https_log,
               "listeners": self._listeners()}
        _write_atomic(self.https_conf, json.dumps(cfg, indent=1))
        if not self.procs:
            return
        # Wait until httpsd has applied this generation: a test that
        # changes a policy and immediately looks it up must see the change.
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                with open(self.https_status) as f:
                    if int(f.read().strip() or 0) >= self._generation:
                        return
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.005)
        raise WorldError("httpsd did not apply generation %d" %
                         self._generation)

    # -- observations

    def https_events(self, host=None, event=None):
        out = []
        with open(self.https_log) as f:
            for line in f:
                rec = json.loads(line)
                if host is not None and rec.get("listener") != host:
                    continue
                if event is not None and rec.get("event") != event:
                    continue
                out.append(rec)
        return out

    def https_requests(self, host=None):
        return self.https_events(host, "request")

    def dns_queries(self, name=None, qtype=None):
        """[(qname, qtype)] logged by dnsd, optionally filtered.

        name matches the query name exactly or any name below it when it
        starts with '.', e.g. ".a.test".
        """
        out = []
        with open(self.dns_log) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2:
                    continue
                q, t = parts
                if name is not None:
                    n = name.lower()
                    if n.startswith("."):
                        if not (q.endswith(n) or q == n[1:]):
                            continue
                    elif q != n:
                        continue
                if qtype is not None and t != qtype:
                    continue
                out.append((q, t))
        return out

    # -- mtasts

    def client(self, name=None, **cfg):
        self._clients += 1
        return Client(self, name or "c%d" % self._clients, **cfg)

    def mtasts(self, *args, now=None):
        """Run mtasts with a default client's config (see Client.run)."""
        if not hasattr(self, "_default_client"):
            self._default_client = self.client("default")
        return self._default_client.run(*args, now=now)


def _zone_rdata(rec):
    """dnsd JSON record -> zone-file RDATA text (the types worlds use)."""
    t = rec["type"].upper()
    if t == "TXT":
        data = rec["data"]
        if isinstance(data, str):
            data = [data]
        out = []
        for chunk in data:
            b = chunk.encode("utf-8")
            for i in range(0, max(len(b), 1), 255):
                piece = b[i:i + 255]
                esc = "".join(chr(c) if 0x20 <= c < 0x7f and
                              c not in (0x22, 0x5c) else "\\%03d" % c
                              for c in piece)
                out.append('"%s"' % esc)
        return " ".join(out)
    if t in ("A", "AAAA"):
        return rec["data"]
    if t in ("CNAME", "NS", "PTR"):
        return rec["data"].rstrip(".") + "."
    if t == "MX":
        return "%d %s." % (int(rec["data"][0]), rec["data"][1].rstrip("."))
    if t == "TLSA":
        u, sel, mt, hexdata = rec["data"]
        return "%d %d %d %s" % (int(u), int(sel), int(mt), hexdata)
    raise WorldError("signed zone: cannot write a %s record" % t)


class SignedZone:
    """A DNSSEC-signed zone served by nsd (decisions.md D-DNSSEC-4).

    Keys come from ldns-keygen (ECDSA P-256, one KSK that also signs the
    zone: a few milliseconds, so they are made per world, never cached),
    the signature from ldns-signzone (NSEC3, 4 weeks validity). anchor_file
    holds the key's DS record: a trust anchor for libunbound
    (trust_anchor_file). insecure: child zones delegated without DS and
    served by dnsd (an insecure delegation). tamper: owner names whose TXT
    RRSIG gets one signature byte changed after signing (validation then
    fails with "signature verification failed": bogus); "owner/TYPE" breaks
    the RRSIG of another type, e.g. "_25._tcp.mx.x.sec.test/TLSA")."""

    def __init__(self, world, apex):
        self.world = world
        self.apex = apex
        self.dir = os.path.join(world.dir, "signed-" + apex)
        os.makedirs(self.dir, exist_ok=True)
        self.zone_file = os.path.join(self.dir, apex + ".zone")
        self.signed_file = self.zone_file + ".signed"
        self.anchor_file = os.path.join(self.dir, "anchor.ds")
        self.conf = os.path.join(self.dir, "nsd.conf")
        self.insecure = []
        self.proc = None
        for tool in ("ldns-keygen", "ldns-signzone", "nsd"):
            if shutil.which(tool) is None:
                raise WorldError("%s not found: install ldnsutils and nsd "
                                 "(scripts/bootstrap)" % tool)
        base = subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256",
                               "-k", apex], cwd=self.dir, check=True,
                              capture_output=True, text=True).stdout.strip()
        self.key = os.path.join(self.dir, base)
        with open(self.key + ".ds") as f:
            ds = f.read().split()
        # "<owner> <ttl> IN DS ..." -> a zone-file line without the TTL
        i = ds.index("DS")
        with open(self.anchor_file, "w") as f:
            f.write("%s IN DS %s\n" % (ds[0], " ".join(ds[i + 1:])))

    def relay(self):
        return {"zone": self.apex, "addr": SIGNED_ADDR, "port": 53,
                "except": list(self.insecure)}

    def _under(self, name, zone):
        return name == zone or name.endswith("." + zone)

    def publish(self, insecure, tamper):
        self.insecure = [n.lower().rstrip(".") for n in insecure]
        apex = self.apex
        lines = ["$ORIGIN %s." % apex, "$TTL 60",
                 "@ IN SOA ns.%s. hostmaster.%s. 1 3600 600 86400 60" %
                 (apex, apex),
                 "@ IN NS ns.%s." % apex,
                 "ns.%s. IN A %s" % (apex, SIGNED_ADDR)]
        for child in self.insecure:
            lines.append("%s. IN NS ns.%s." % (child, child))
            lines.append("ns.%s. IN A %s" % (child, DNS_ADDR))
        for rec in self.world._zone()["records"]:
            name = rec["name"].lower().rstrip(".")
            if not self._under(name, apex) or \
                    any(self._under(name, c) for c in self.insecure):
                continue
            lines.append("%s. IN %s %s" % (name, rec["type"].upper(),
                                            _zone_rdata(rec)))
        with open(self.zone_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["ldns-signzone", "-n", "-f", self.signed_file,
                        self.zone_file, self.key], check=True,
                       capture_output=True, text=True)
        self._tamper(tamper)
        self._restart()

    def _tamper(self, tamper):
        if not tamper:
            return
        want = set()
        for t in tamper:
            owner, _, rtype = t.partition("/")
            want.add((owner.lower().rstrip(".") + ".",
                      (rtype or "TXT").upper()))
        out, hit = [], set()
        with open(self.signed_file) as f:
            for line in f:
                fl = line.split()
                if len(fl) > 8 and fl[3] == "RRSIG" and \
                        (fl[0].lower(), fl[4]) in want:
                    sig = fl[-1]
                    k = len(sig) // 2
                    fl[-1] = sig[:k] + ("A" if sig[k] != "A" else "B") + \
                        sig[k + 1:]
                    line = "\t".join(fl) + "\n"
                    hit.add((fl[0].lower(), fl[4]))
                out.append(line)
        missing = want - hit
        if missing:
            raise WorldError("tamper: no RRSIG for %s" %
                             ", ".join("%s/%s" % m for m in sorted(missing)))
        with open(self.signed_file, "w") as f:
            f.writelines(out)

    def _restart(self):
        self.stop()
        d = self.dir
        with open(self.conf, "w") as f:
            f.write("""server:
  ip-address: %s
  port: 53
  database: ""
  zonelistfile: "%s/zone.list"
  xfrdfile: "%s/xfrd.state"
  xfrdir: "%s"
  pidfile: "%s/nsd.pid"
  username: ""
  chroot: ""
  logfile: "%s/nsd.log"
  zonesdir: "%s"
remote-control:
  control-enable: no
zone:
  name: %s
  zonefile: "%s"
""" % (SIGNED_ADDR, d, d, d, d, d, d, self.apex, self.signed_file))
        errf = open(os.path.join(d, "nsd.stderr"), "a")
        self.proc = subprocess.Popen(["nsd", "-d", "-c", self.conf],
                                     stdout=errf, stderr=errf)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                rc, _ = dns_query(self.apex, "SOA", server=SIGNED_ADDR,
                                  timeout=0.2)
                if rc == 0:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise WorldError("nsd did not start (see %s/nsd.log, nsd.stderr)"
                         % d)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Validator:
    """A validating resolver for MTAs that trust the AD bit (Exim's DANE):
    Debian's unbound daemon, run in the foreground inside the namespace on
    VALIDATOR_ADDR with its own configuration (never the packaged
    service), forwarding everything to dnsd (which relays the signed zone
    to nsd), with the signed zone's DS as its only trust anchor: names
    below the anchor are validated (secure or bogus), everything else is
    insecure. Caches are kept at one second so a re-signed zone is seen
    at once (restart() to be sure)."""

    def __init__(self, world, anchor_files):
        if shutil.which("unbound") is None:
            raise WorldError("unbound not found: install unbound "
                             "(scripts/bootstrap)")
        self.world = world
        self.dir = os.path.join(world.dir, "unbound")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.anchor_files = list(anchor_files)
        self.proc = None
        world.validator = self       # World.stop() stops it

    def start(self):
        d = self.dir
        anchors = "".join('  trust-anchor-file: "%s"\n' % a
                          for a in self.anchor_files)
        with open(self.conf, "w") as f:
            f.write("""server:
  interface: %s
  port: 53
  do-daemonize: no
  use-systemd: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: "%s/unbound.pid"
  logfile: "%s/unbound.log"
  use-syslog: no
  verbosity: 1
  val-log-level: 2
  do-ip6: no
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "validator iterator"
  qname-minimisation: no
  aggressive-nsec: no
  cache-max-ttl: 1
  cache-max-negative-ttl: 1
  val-bogus-ttl: 1
  prefetch: no
  local-zone: "test." nodefault
%sremote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: %s
""" % (VALIDATOR_ADDR, d, d, d, anchors, DNS_ADDR))
        errf = open(os.path.join(d, "unbound.stderr"), "a")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf],
                                     stdout=errf, stderr=errf)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                rc, _ = dns_query("test", "SOA", server=VALIDATOR_ADDR,
                                  timeout=0.2)
                if rc is not None:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise WorldError("unbound did not start (see %s/unbound.log, "
                         "unbound.stderr)" % d)

    def resolv_conf(self):
        """A resolv.conf for libc resolvers that trusts this resolver's
        AD bit (glibc strips it without trust-ad)."""
        p = os.path.join(self.dir, "resolv.conf")
        with open(p, "w") as f:
            f.write("nameserver %s\noptions trust-ad edns0\n" %
                    VALIDATOR_ADDR)
        os.chmod(p, 0o644)
        return p

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()


class Result:
    def __init__(self, argv, proc, elapsed):
        self.argv = argv
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.elapsed = elapsed
        try:
            self.json = json.loads(self.out) if self.out.strip() else None
        except ValueError:
            self.json = None

    def __getitem__(self, k):
        if self.json is None:
            raise KeyError("%s (no JSON output; rc=%s stdout=%r stderr=%r)"
                           % (k, self.rc, self.out[:300], self.err[:300]))
        return self.json[k]

    def get(self, k, default=None):
        return (self.json or {}).get(k, default)

    def __repr__(self):
        return ("Result(rc=%s, %.2fs, json=%s, stderr=%r)" %
                (self.rc, self.elapsed, json.dumps(self.json),
                 self.err[-500:]))


class Client:
    """One mtasts configuration with its own cache directory."""

    # No dnssec line: the product's default (auto, the system trust
    # anchor), decisions.md D-DNSSEC-1.
    DEFAULTS = {"resolve_special_zone": "test",
                "fetch_timeout": "2", "dns_timeout": "2",
                "txt_check_interval": "0", "lock_wait": "10"}

    def __init__(self, world, name, **cfg):
        self.world = world
        self.dir = os.path.join(world.dir, "clients", name)
        os.makedirs(self.dir, exist_ok=True)
        self.cache_dir = os.path.join(self.dir, "cache")
        os.makedirs(self.cache_dir, exist_ok=True)
        os.chmod(self.cache_dir, 0o700)
        opts = dict(self.DEFAULTS)
        opts["resolver"] = DNS_ADDR
        opts["ca_file"] = world.pki.ca_file
        opts["cache_dir"] = self.cache_dir
        # Never the host's default spool (/var/spool/mtasts/tlsrpt).
        opts["tlsrpt_dir"] = os.path.join(self.dir, "tlsrpt")
        for k, v in cfg.items():
            if v is None:
                opts.pop(k, None)
            else:
                opts[k] = str(v)
        self.opts = opts
        self.config = os.path.join(self.dir, "mtasts.conf")
        with open(self.config, "w") as f:
            f.write("# generated by tests/world/world.py\n")
            for k, v in opts.items():
                f.write("%s = %s\n" % (k, v))

    def run(self, *args, now=None, timeout=60):
        if not self.world.mtasts_bin:
            raise WorldError("no mtasts binary given (--mtasts)")
        args = list(args)
        if now is not None:
            args.insert(1, "--now")
            args.insert(2, str(int(now)))
        argv = [self.world.mtasts_bin, "--config", self.config] + args
        t0 = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True,
                           timeout=timeout)
        r = Result(argv, p, time.monotonic() - t0)
        self.world.runs.append(r)
        return r

    def lookup(self, domain, mx=None, now=None, timeout=60):
        args = ["lookup", "--json"]
        if mx is not None:
            args += ["--mx", mx]
        args.append(domain)
        return self.run(*args, now=now, timeout=timeout)

    def spawn_lookup(self, domain, now=None):
        """Start a lookup without waiting (for races); returns Popen."""
        argv = [self.world.mtasts_bin, "--config", self.config, "lookup",
                "--json"]
        if now is not None:
            argv += ["--now", str(int(now))]
        argv.append(domain)
        return subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------ raw clients

def dns_query(name, qtype="TXT", server=DNS_ADDR, port=53, timeout=2.0):
    """Minimal UDP DNS client (self-test): returns (rcode, [rdata bytes])."""
    codes = {"A": 1, "TXT": 16, "AAAA": 28, "MX": 15, "CNAME": 5, "SOA": 6}
    qid = os.getpid() & 0xffff
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        b = label.encode("idna") if label else b""
        q += bytes([len(b)]) + b
    q += b"\0" + struct.pack("!HH", codes[qtype], 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (server, port))
        resp, _ = s.recvfrom(65535)
    finally:
        s.close()
    _, flags, qd, an, _, _ = struct.unpack("!HHHHHH", resp[:12])
    off = 12

    def skip_name(o):
        while True:
            n = resp[o]
            if n == 0:
                return o + 1
            if n & 0xc0 == 0xc0:
                return o + 2
            o += 1 + n

    for _ in range(qd):
        off = skip_name(off) + 4
    out = []
    for _ in range(an):
        off = skip_name(off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", resp[off:off + 10])
        off += 10
        if rtype == codes[qtype]:
            out.append(resp[off:off + rdlen])
        off += rdlen
    return flags & 0xf, out


def https_get(host, addr, ca_file, path="/.well-known/mta-sts.txt",
              timeout=3.0):
    """Verified HTTPS GET (self-test): returns (status, headers, body)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.hostname_checks_common_name = False  # RFC 8461 §3.3: DNS-ID only
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    raw = socket.socket(fam, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect((addr, 443))
    with ctx.wrap_socket(raw, server_hostname=host) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: world-"
                   "selftest\r\nConnection: close\r\n\r\n" % (path, host))
                  .encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


# ---------------------------------------------------------------- self-test

def selftest(mtasts=None):
    """Check the world itself, independent of mtasts. Raises on failure."""
    t0 = time.monotonic()
    checks = 0

    def ok(cond, what):
        nonlocal checks
        checks += 1
        if not cond:
            raise WorldError("selftest: " + what)

    with World(mtasts=mtasts) as w:
        ca = w.pki.ca_file
        w.add_domain("good.test", txt=[["v=STSv1; ", "id=1"]],
                     policy=Policy(mx=["mx.good.test"]))
        w.add_domain("cname.test", records=[
            {"name": "_mta-sts.cname.test", "type": "CNAME",
             "data": "_mta-sts.good.test"}])
        w.add_domain("v6.test", txt="v=STSv1; id=6",
                     policy=Policy(addrs="v6refused+v4"))
        w.add_domain("v6only.test", txt="v=STSv1; id=6",
                     policy=Policy(addrs="v6"))
        w.add_domain("silent.test", policy=Policy(silent=True))
        for kind in certs.KINDS:
            w.add_domain("cert-%s.test" % kind, policy=Policy(cert=kind),
                         write=False)
        w.add_domain("chunk.test", policy=Policy(framing="chunked",
                                                 body="x" * 2500))
        w.set_dns_failure("_mta-sts.fail.test", "servfail")

        rc, rrs = dns_query("_mta-sts.good.test")
        ok(rc == 0 and rrs == [b"\x09v=STSv1; \x04id=1"],
           "multi-string TXT: %r %r" % (rc, rrs))
        rc, rrs = dns_query("_mta-sts.cname.test")
        ok(rc == 0 and len(rrs) == 1, "CNAME chain TXT: %r" % rrs)
        rc, _ = dns_query("_mta-sts.nothing.test")
        ok(rc == 3, "NXDOMAIN rcode %d" % rc)
        rc, _ = dns_query("_mta-sts.fail.test")
        ok(rc == 2, "SERVFAIL rcode %d" % rc)
        rc, rrs = dns_query("mta-sts.good.test", "A")
        d = w.domains["good.test"]
        ok(rc == 0 and rrs == [socket.inet_aton(d.v4)], "A %r" % rrs)
        ok(("_mta-sts.good.test", "TXT") in w.dns_queries(), "dns log")

        st, hdrs, body = https_get("mta-sts.good.test", d.v4, ca)
        ok(st == 200 and hdrs.get("content-type") == "text/plain" and
           b"mx: mx.good.test" in body, "good GET %r %r" % (st, body))
        req = w.https_requests("mta-sts.good.test")
        ok(len(req) == 1 and req[0]["sni"] == "mta-sts.good.test" and
           req[0]["host"] == "mta-sts.good.test" and
           req[0]["user_agent"] == "world-selftest", "request log %r" % req)
        st, _, body = https_get("mta-sts.good.test", d.v4, ca, path="/x")
        ok(st == 404, "other path 404")

        # Mid-run change is visible at once.
        w.set_policy("good.test", Policy(status=500, body="oops"))
        st, _, _ = https_get("mta-sts.good.test", d.v4, ca)
        ok(st == 500, "policy change applied")

        st, hdrs, body = https_get("mta-sts.chunk.test",
                                   w.domains["chunk.test"].v4, ca)
        ok(hdrs.get("transfer-encoding") == "chunked" and
           body.startswith(b"3e8\r\n"), "chunked framing")

        # Certificates: only good and wildcard verify for the policy host.
        for kind in certs.KINDS:
            dd = w.domains["cert-%s.test" % kind]
            try:
                https_get(dd.policy_host, dd.v4, ca)
                verified = True
            except ssl.SSLError:
                verified = False
            want = kind in ("good", "wildcard")
            ok(verified == want, "cert %s verified=%s" % (kind, verified))
        ok(any(e["event"] == "tls-error" and
               e["sni"] == "mta-sts.cert-expired.test"
               for e in w.https_events()), "tls-error logged with SNI")

        # IPv6 address refuses, IPv4 answers; IPv6-only host answers.
        v6 = w.domains["v6.test"]
        try:
            https_get(v6.policy_host, v6.v6, ca)
            ok(False, "v6 should refuse")
        except ConnectionRefusedError:
            ok(True, "")
        st, _, _ = https_get(v6.policy_host, v6.v4, ca)
        ok(st == 200, "v4 of v6refused+v4")
        v6o = w.domains["v6only.test"]
        st, _, _ = https_get(v6o.policy_host, v6o.v6, ca)
        ok(st == 200, "v6-only host")

        # Silent host: TCP connects, TLS never starts.
        s = socket.create_connection((w.domains["silent.test"].v4, 443), 2)
        s.settimeout(0.5)
        try:
            s.recv(1)
            ok(False, "silent host sent data")
        except socket.timeout:
            ok(True, "")
        s.close()

        # No traffic can leave: the namespace has lo only.
        ok(net_interfaces() == ["lo"], "only lo")

        if mtasts:
            r = w.client().run("--help")
            ok(r.rc in (0, 2), "mtasts runs (rc %s)" % r.rc)
    print("world selftest: %d checks passed in %.1fs" %
          (checks, time.monotonic() - t0))


DEMO_DOMAINS = [
    ("enforce.test", "v=STSv1; id=20240101",
     dict(mode="enforce", mx=["mx1.enforce.test", "*.backup.enforce.test"])),
    ("testing.test", "v=STSv1; id=t1", dict(mode="testing",
                                            mx=["mx.testing.test"])),
    ("expiredcert.test", "v=STSv1; id=1", dict(cert="expired")),
    ("nopolicy.test", None, None),
]


def shell(mtasts, cmd):
    with World(mtasts=mtasts) as w:
        for name, txt, pol in DEMO_DOMAINS:
            w.add_domain(name, txt=txt,
                         policy=Policy(**pol) if pol is not None else None)
        c = w.client("shell")
        env = dict(os.environ)
        env.update({"WORLD_DIR": w.dir, "MTASTS_CONFIG": c.config,
                    "WORLD_DNS_LOG": w.dns_log,
                    "WORLD_HTTPS_LOG": w.https_log,
                    "PS1": "(mtasts-world) \\w# "})
        if mtasts:
            env["MTASTS"] = mtasts
        sys.stderr.write(
            "world: domains %s; config $MTASTS_CONFIG=%s\n"
            "world: try: $MTASTS --config $MTASTS_CONFIG lookup --json "
            "enforce.test\n" % (", ".join(d[0] for d in DEMO_DOMAINS),
                                c.config))
        return subprocess.call(cmd or [os.environ.get("SHELL", "/bin/sh")],
                               env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["selftest", "shell"])
    ap.add_argument("--mtasts")
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    a = ap.parse_args(argv)
    ensure_namespace()
    if a.mode == "selftest":
        selftest(a.mtasts)
        return 0
    return shell(a.mtasts, cmd)


if __name__ == "__main__":
    sys.exit(main())
