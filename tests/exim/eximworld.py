# SPDX-License-Identifier: ISC
"""eximworld - real Exim 4.96 senders and receivers inside the test world.

Extends tests/world/world.py (the namespace, DNS, policy hosts, PKI) with:

  - Receivers: ONE Exim daemon posing as every MX host, each on its own
    loopback address, with a per-address certificate (good, expired,
    wrongname, selfsigned, ...) or no STARTTLS at all. Every message is
    stored in a maildir per receiving address with the receiving address,
    the SNI and the cipher added as headers, so tests assert on what each
    receiver really got.
  - Senders: Exim run as root with -C and the configuration of
    exim/README.md (routers mtasts_enforce, mtasts_guard, dnslookup;
    transports mtasts_smtp, remote_smtp) loading the real mtasts_exim.so.

The Exim run here is never the host's (docs/decisions.md D-TEST-MTA-1):
scripts/bootstrap only fetches the exim4-daemon-heavy, exim4-base and
exim4-config .debs into /var/cache/mtasts-test (installing Exim would
remove the host's OpenSMTPD or Postfix: Conflicts: mail-transport-agent).
private_prefix() unpacks them once with `dpkg -x` into
/var/cache/mtasts-test/exim-<sha256 of the .debs> (setuid bits stripped:
no setuid-root binary outside the package database). Inside the test's
mount namespace, install_private_exim() makes Exim's compiled-in paths
resolve to that copy, whatever the host has installed:

  - /usr/sbin: an overlay whose upper layer holds the private exim4
    (setuid root, as the -MC re-exec of continued deliveries and the
    delivery processes need: exim_path is compiled in as /usr/sbin/exim4);
  - /etc: an overlay in which /etc/exim4 is replaced by a directory with
    only trusted_configs (TRUSTED_CONFIG_LIST is compiled in as
    /etc/exim4/trusted_configs; the host's /etc/exim4 is hidden), and
    /etc/passwd, /etc/group get a private Debian-exim user and group
    (any host entry replaced, so a host with and without exim4 runs the
    same way).

The host directories are the read-only lower layers; writes land in the
world directory. Every start checks that /usr/sbin/exim4 is the private
copy (same bytes, from the upper layer) and that /etc/exim4 holds nothing
of the host's.

Exim specifics (../shared/notes/mta-integration.md part C): spool and log
directories are owned by Debian-exim (transports drop to that user);
continued -MC deliveries need the -C config listed in trusted_configs;
the test CA is bind-mounted over the system bundle so
`tls_verify_certificates = system` is tested as configured in production.
"""

import functools
import glob
import grp
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import stat
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))

import world as W  # noqa: E402

# Exim's compiled-in paths (exim4 -bV of the Debian 12 build): inside the
# namespace they resolve to the private copy (install_private_exim).
EXIM = "/usr/sbin/exim4"
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
TRUSTED_CONFIGS = "/etc/exim4/trusted_configs"
# The .debs scripts/bootstrap fetches (never installs) and their cache.
DEB_DIR = "/var/cache/mtasts-test"
EXIM_DEBS = ("exim4-daemon-heavy", "exim4-base", "exim4-config")
EXIM_USER = "Debian-exim"

# MX kinds a receiver address can have.
RX_KINDS = ("good", "notls", "expired", "wrongname", "selfsigned",
            "untrusted")

RX_CONF = r"""# receiver: one Exim daemon posing as every MX host (tests/exim)
primary_hostname = rx.world.test
keep_environment =
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
pid_file_path = {d}/exim.pid
local_interfaces = <; {ifaces}
daemon_smtp_ports = 25
acl_smtp_rcpt = accept
log_selector = +tls_sni +received_recipients +incoming_interface \
  +smtp_connection
# Per receiving address: STARTTLS or not, and which certificate.
tls_advertise_hosts = ${{if eq{{${{lookup{{$received_ip_address}}lsearch{{{d}/notls}}{{yes}}{{no}}}}}}{{yes}}{{:}}{{*}}}}
tls_certificate = ${{lookup{{$received_ip_address}}lsearch{{{d}/certs}}}}
tls_privatekey = {key}
# The name in the SMTP banner and the EHLO greeting line, per address.
smtp_active_hostname = ${{lookup{{$received_ip_address}}lsearch{{{d}/greet}}{{$value}}{{rx.world.test}}}}
host_lookup = :
rfc1413_hosts = :
# Deliver every message at once, however many arrive on one connection
# (the default queues after 10: nobody runs that queue here).
smtp_accept_queue_per_connection = 0

begin routers
store:
  driver = accept
  transport = store

begin transports
store:
  driver = appendfile
  directory = {d}/mail/${{lookup{{$received_ip_address}}lsearch{{{d}/names}}}}
  maildir_format
  create_directory
  user = Debian-exim
  headers_add = X-Rx-Addr: $received_ip_address\nX-Rx-SNI: $tls_in_sni\nX-Rx-Cipher: $tls_in_cipher

begin retry
* * F,1h,1m
"""

# The sender: exactly the configuration documented in exim/README.md,
# plus the paths of this world.
TX_CONF = r"""# sender under test (tests/exim); routers/transports from exim/README.md
primary_hostname = sender.world.test
keep_environment =
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
pid_file_path = {d}/exim.pid
domainlist local_domains = sender.world.test
log_selector = +tls_sni +tls_peerdn +tls_certificate_verified +deliver_time
host_lookup = :
rfc1413_hosts = :
remote_max_parallel = {parallel}
{extra_main}
MTASTS_SO = {so}
MTASTS_CONF = {conf}

begin routers

{routers}

local:
  driver = accept
  domains = +local_domains
  transport = null

begin transports

{transports}

null:
  driver = appendfile
  file = /dev/null
  user = Debian-exim

begin retry
* * F,4d,15m
"""

ROUTERS_MTASTS = r"""mtasts_tls_not_required:
  driver = dnslookup
  domains = ! +local_domains
  condition = ${if and{{eq{${lc:$h_TLS-Required:}}{no}}\
                       {or{{!def:sender_host_address}{def:authenticated_id}}}}}
  transport = mtasts_report_smtp
  no_verify

mtasts_enforce:
  driver = dnslookup
  domains = ! +local_domains
  condition = ${if eq{${dlfunc{MTASTS_SO}{sts_mode}{$domain}{MTASTS_CONF}}}{enforce}}
  ignore_target_hosts = ${dlfunc{MTASTS_SO}{sts_ignore_hosts}{$domain}{MTASTS_CONF}}
  transport = mtasts_smtp
  no_verify

mtasts_guard:
  driver = redirect
  domains = ! +local_domains
  allow_defer
  data = ${dlfunc{MTASTS_SO}{sts_guard}{$domain}{MTASTS_CONF}}
  no_verify

dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
"""

ROUTERS_PLAIN = r"""dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
"""

# The TLS an enforce policy demands: required, certificate and host name
# verified against the system store (exim/README.md).
TLS_ENFORCED = r"""  hosts_require_tls = *
  tls_verify_hosts = *
  tls_try_verify_hosts = :
  tls_verify_cert_hostnames = *
  tls_verify_certificates = system
"""

TRANSPORTS_MTASTS = r"""mtasts_smtp:
  driver = smtp
  multi_domain = false
""" + TLS_ENFORCED + r"""  tls_sni = $host
  event_action = ${dlfunc{MTASTS_SO}{sts_event}{$event_name}{enforce}{MTASTS_CONF}}

remote_smtp:
  driver = smtp
  multi_domain = false
  tls_sni = $host
  event_action = ${dlfunc{MTASTS_SO}{sts_event}{$event_name}{normal}{MTASTS_CONF}}

mtasts_report_smtp:
  driver = smtp
  multi_domain = false
  tls_sni = $host
  hosts_try_dane =
  retry_include_ip_address = false
  event_action = ${dlfunc{MTASTS_SO}{sts_event}{$event_name}{report}{MTASTS_CONF}}
"""

TRANSPORTS_PLAIN = r"""mtasts_report_smtp:
  driver = smtp
  multi_domain = false
  tls_sni = $host

mtasts_smtp:
  driver = smtp
  multi_domain = false
  tls_sni = $host

remote_smtp:
  driver = smtp
  multi_domain = false
  tls_sni = $host
"""

# TRANSPORTS_PLAIN with the TLS that mtasts_smtp demands (required,
# certificate and name verified, system CA store) on remote_smtp, the
# transport of ROUTERS_PLAIN, and no module: the baseline that separates
# what MTA-STS enforcement costs any implementation (verified TLS) from
# what the module adds (bench/exim_overhead).
TRANSPORTS_VERIFIED = TRANSPORTS_PLAIN.replace(
    """remote_smtp:
  driver = smtp
  multi_domain = false
""", """remote_smtp:
  driver = smtp
  multi_domain = false
""" + TLS_ENFORCED)
assert TRANSPORTS_VERIFIED != TRANSPORTS_PLAIN


# ------------------------------------------------------- the private Exim

def _debver_cmp(a, b):
    """dpkg's version order of two .deb file names (pkg_version_arch)."""
    va, vb = (os.path.basename(x).split("_")[1] for x in (a, b))
    if va == vb:
        return 0
    lt = subprocess.run(["dpkg", "--compare-versions", va, "lt", vb])
    return -1 if lt.returncode == 0 else 1


def find_debs(deb_dir=None):
    """The newest .deb of each EXIM_DEBS package in deb_dir (default
    $MTASTS_EXIM_DEB_DIR or /var/cache/mtasts-test). Raises WorldError
    naming what is missing."""
    d = deb_dir or os.environ.get("MTASTS_EXIM_DEB_DIR") or DEB_DIR
    out = []
    for pkg in EXIM_DEBS:
        debs = glob.glob(os.path.join(d, pkg + "_*.deb"))
        if not debs:
            raise W.WorldError("no %s .deb in %s (scripts/bootstrap fetches "
                               "it with apt-get download; Exim is never "
                               "installed on the host)" % (pkg, d))
        out.append(max(debs, key=functools.cmp_to_key(_debver_cmp)))
    return out


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


_PREFIX = None


def private_prefix(deb_dir=None):
    """Exim unpacked from the cached .debs (dpkg -x), cached in
    DEB_DIR/exim-<key>, key = sha256 over the .debs' sha256 sums: a new
    .deb makes a new prefix. Setuid/setgid bits are stripped in the cache
    (only the namespace's copy is setuid). Safe against a concurrent
    test: unpacked into a temporary directory, then renamed."""
    global _PREFIX
    if _PREFIX is not None:
        return _PREFIX
    debs = find_debs(deb_dir)
    key = hashlib.sha256("".join(_sha256(d) + "\n" for d in debs)
                         .encode()).hexdigest()[:16]
    cache = os.path.dirname(debs[0])
    root = os.path.join(cache, "exim-" + key)
    if not os.path.isfile(os.path.join(root, ".complete")):
        tmp = tempfile.mkdtemp(prefix=".exim-tmp-", dir=cache)
        try:
            for d in debs:
                W._run("dpkg", "-x", d, tmp)
            for top, dirs, files in os.walk(tmp):
                for n in dirs + files:
                    p = os.path.join(top, n)
                    st = os.lstat(p)
                    if stat.S_ISLNK(st.st_mode):
                        continue
                    if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                        os.chmod(p, stat.S_IMODE(st.st_mode) &
                                 ~(stat.S_ISUID | stat.S_ISGID))
            with open(os.path.join(tmp, ".complete"), "w") as f:
                f.write("".join("%s  %s\n" % (_sha256(d), os.path.basename(d))
                                for d in debs))
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, root)
            except OSError:
                if not os.path.isfile(os.path.join(root, ".complete")):
                    raise
        finally:
            if os.path.isdir(tmp):
                shutil.rmtree(tmp)
    _PREFIX = root
    return root


def overlay_dir(world_dir, target, tag=None):
    """Make the host directory `target` privately writable in this mount
    namespace: an overlay whose lower layer is the host directory (the
    kernel never writes to it) and whose upper layer lives in world_dir.

    Never bind-mount a host directory *into* world_dir: World.stop()
    removes world_dir recursively, and a recursive removal walks into bind
    mounts and deletes the host's files. Here world_dir only ever holds
    the upper and work layers, so removing it cannot reach the host.
    Returns (listing of `target` before the overlay, upper directory), so
    callers can check afterwards that the host directory is unchanged."""
    before = sorted(os.listdir(target)) if os.path.isdir(target) else None
    tag = tag or "ovl-" + target.strip("/").replace("/", "-")
    up = os.path.join(world_dir, tag, "up")
    work = os.path.join(world_dir, tag, "work")
    os.makedirs(up)
    os.makedirs(work)
    W._run("mount", "-t", "overlay", "overlay", "-o",
           "lowerdir=%s,upperdir=%s,workdir=%s" % (target, up, work),
           target)
    return before, up


def _free_id(used, start=61000):
    i = start
    while i in used:
        i += 1
    return i


def _private_user(name, gecos, home):
    """Replace any `name` entry of /etc/passwd and /etc/group (the /etc
    overlay's copies) with one of a free uid/gid."""
    with open("/etc/passwd") as f:
        pw = [ln for ln in f.read().splitlines()
              if ln and ln.split(":", 1)[0] != name]
    with open("/etc/group") as f:
        gr = [ln for ln in f.read().splitlines()
              if ln and ln.split(":", 1)[0] != name]
    uids = {int(ln.split(":")[2]) for ln in pw if ln.count(":") >= 3}
    gids = {int(ln.split(":")[2]) for ln in gr if ln.count(":") >= 3}
    uid = _free_id(uids | gids)
    pw.append("%s:x:%d:%d:%s:%s:/usr/sbin/nologin" % (name, uid, uid,
                                                      gecos, home))
    gr.append("%s:x:%d:" % (name, uid))
    for path, lines in (("/etc/passwd", pw), ("/etc/group", gr)):
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o644)


class PrivateExim:
    """Exim from private_prefix() at its compiled-in paths, in this mount
    namespace only (D-TEST-MTA-1). undo() unmounts the overlays."""

    def __init__(self, world_dir):
        self.prefix = private_prefix()
        self.dir = os.path.join(world_dir, "exim-install")
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o755)
        self.mounts = []
        try:
            self._install()
        except BaseException:
            self.undo()
            raise

    def _install(self):
        src = os.path.join(self.prefix, "usr/sbin/exim4")
        _, sbin_up = overlay_dir(self.dir, "/usr/sbin")
        self.mounts.append("/usr/sbin")
        # The host's exim4 and tools (if any) are replaced by the
        # private ones; nothing else of /usr/sbin changes.
        for n in sorted(os.listdir(os.path.join(self.prefix, "usr/sbin"))):
            if n != "exim" and not n.startswith("exim"):
                continue
            dst = os.path.join("/usr/sbin", n)
            if os.path.lexists(dst):
                os.unlink(dst)
            s = os.path.join(self.prefix, "usr/sbin", n)
            if os.path.islink(s):
                os.symlink(os.readlink(s), dst)
            else:
                shutil.copy(s, dst)
        os.chown(EXIM, 0, 0)
        os.chmod(EXIM, 0o4755)
        _, etc_up = overlay_dir(self.dir, "/etc")
        self.mounts.append("/etc")
        etc_exim = os.path.dirname(TRUSTED_CONFIGS)
        if os.path.lexists(etc_exim):
            if os.path.isdir(etc_exim) and not os.path.islink(etc_exim):
                shutil.rmtree(etc_exim)
            else:
                os.unlink(etc_exim)
        os.mkdir(etc_exim, 0o755)
        open(TRUSTED_CONFIGS, "w").close()
        os.chmod(TRUSTED_CONFIGS, 0o644)
        home = os.path.join(self.dir, "home")
        os.makedirs(home)
        _private_user(EXIM_USER, "Exim test", home)
        # The proof that the host's Exim is out of the game.
        if _sha256(EXIM) != _sha256(src) or \
                not os.path.isfile(os.path.join(sbin_up, "exim4")) or \
                not os.stat(EXIM).st_mode & stat.S_ISUID:
            raise W.WorldError("%s is not the private Exim of %s" %
                               (EXIM, self.prefix))
        if os.listdir(etc_exim) != ["trusted_configs"] or \
                not os.path.isdir(os.path.join(etc_up, "exim4")):
            raise W.WorldError("%s still shows the host's files" % etc_exim)

    def undo(self):
        for m in reversed(self.mounts):
            subprocess.call(["umount", "-l", m], stderr=subprocess.DEVNULL)
        self.mounts = []


def check_exim_process(pid):
    """The running process `pid` is the private Exim: its executable is
    EXIM in this namespace and has the private copy's bytes."""
    exe = os.readlink("/proc/%d/exe" % pid)
    if exe != EXIM:
        raise W.WorldError("exim pid %d runs %s, not %s" % (pid, exe, EXIM))
    with open("/proc/%d/exe" % pid, "rb") as f:
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    if h.hexdigest() != _sha256(os.path.join(private_prefix(),
                                             "usr/sbin/exim4")):
        raise W.WorldError("exim pid %d is not the private copy" % pid)


def _chown_exim(path):
    os.chown(path, pwd.getpwnam("Debian-exim").pw_uid,
             grp.getgrnam("Debian-exim").gr_gid)


def _mkdirs_exim(*paths):
    for p in paths:
        os.makedirs(p, exist_ok=True)
        _chown_exim(p)


class Receiver:
    """One Exim daemon, many MX personalities (name -> address)."""

    def __init__(self, ew):
        self.ew = ew
        self.dir = os.path.join(ew.w.dir, "rx")
        self.hosts = {}          # name -> (addr, kind)
        self.greet = {}          # name -> the host name it announces
        self.proc = None

    def add(self, name, kind="good"):
        if kind not in RX_KINDS:
            raise ValueError(kind)
        if name in self.hosts:
            return self.hosts[name][0]
        addr = self.ew.w.alloc_v4()
        self.hosts[name] = (addr, kind)
        self.ew.w.add_records({"name": name, "type": "A", "data": addr})
        if self.proc is not None:
            self._write_tables()
            self.restart()
        return addr

    def set_kind(self, name, kind):
        """Repair or break a receiver; takes effect at the next connection."""
        addr, _ = self.hosts[name]
        self.hosts[name] = (addr, kind)
        self._write_tables()

    def _write_tables(self):
        pki = self.ew.w.pki
        certs, notls, names, greet = [], [], [], []
        for name, (addr, kind) in sorted(self.hosts.items()):
            names.append("%s: %s" % (addr, name))
            if name in self.greet:
                greet.append("%s: %s" % (addr, self.greet[name]))
            if kind == "notls":
                notls.append("%s: yes" % addr)
                ck = "good"
            else:
                ck = kind
            cert, _ = pki.leaf(name, ck)
            os.chmod(cert, 0o644)
            certs.append("%s: %s" % (addr, cert))
        for fn, lines in (("certs", certs), ("notls", notls),
                          ("names", names), ("greet", greet)):
            W._write_atomic(os.path.join(self.dir, fn),
                            "\n".join(lines) + "\n")
            os.chmod(os.path.join(self.dir, fn), 0o644)

    def start(self):
        _mkdirs_exim(self.dir, os.path.join(self.dir, "spool"),
                     os.path.join(self.dir, "log"),
                     os.path.join(self.dir, "mail"))
        os.chmod(self.ew.w.pki.leaf_key_path, 0o644)
        self._write_tables()
        ifaces = " ; ".join(a for a, _ in self.hosts.values())
        self.conf = os.path.join(self.dir, "rx.conf")
        with open(self.conf, "w") as f:
            f.write(RX_CONF.format(d=self.dir, ifaces=ifaces,
                                   key=self.ew.w.pki.leaf_key_path))
        os.chmod(self.conf, 0o644)
        self.ew.trust(self.conf)
        errf = open(os.path.join(self.dir, "daemon.stderr"), "w")
        self.proc = subprocess.Popen([EXIM, "-C", self.conf, "-bdf"],
                                     stderr=errf, stdout=errf)
        deadline = time.time() + 10
        addrs = [a for a, _ in self.hosts.values()]
        while time.time() < deadline:
            try:
                for a in addrs:
                    socket.create_connection((a, 25), 1).close()
                check_exim_process(self.proc.pid)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise W.WorldError("receiver exim did not start: %s" %
                           open(os.path.join(self.dir, "daemon.stderr"))
                           .read()[-2000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def settle(self, timeout=20):
        """Wait until every accepted message is stored: the receiver
        answers 250 before its own (local) delivery finishes."""
        inp = os.path.join(self.dir, "spool", "input")
        deadline = time.time() + timeout
        while time.time() < deadline:
            busy = [f for _, _, fs in os.walk(inp) for f in fs
                    if f.endswith("-H") or f.endswith("-D")]
            if not busy:
                return
            time.sleep(0.02)
        raise W.WorldError("receiver did not settle: %r" % busy[:5])

    def mail(self, name):
        """Messages stored by receiver `name`: list of header dicts."""
        out = []
        for p in sorted(glob.glob(os.path.join(self.dir, "mail", name,
                                               "new", "*"))):
            hdrs = {}
            with open(p, errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break
                    k, _, v = line.partition(":")
                    if k and not k[0].isspace():
                        hdrs.setdefault(k.strip().lower(), v.strip())
            out.append(hdrs)
        return out

    def all_mail(self):
        return {n: self.mail(n) for n in self.hosts}

    def connections(self):
        """Inbound SMTP connections per receiver name, from the daemon's
        own log (+smtp_connection +incoming_interface): the SMTP sessions
        the sender really opened, independent of the sender's records.
        start() probes every address until all answer: take a baseline
        before sending and subtract it."""
        byaddr = {a: n for n, (a, _) in self.hosts.items()}
        out = {n: 0 for n in self.hosts}
        try:
            with open(os.path.join(self.dir, "log", "mainlog"),
                      errors="replace") as f:
                for ln in f:
                    m = re.search(r"SMTP connection from .* I=\[([^\]]+)\]"
                                  r":\d+ \(TCP/IP connection count", ln)
                    if m and m.group(1) in byaddr:
                        out[byaddr[m.group(1)]] += 1
        except FileNotFoundError:
            pass
        return out

    def connections_settled(self, quiet=0.5, timeout=10):
        """connections() once the daemon's log has been quiet for `quiet`
        seconds (its children log the start() probes asynchronously)."""
        last, since = self.connections(), time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.connections()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last


class Sender:
    """An Exim sender with its own spool, log and mtasts.conf."""

    def __init__(self, ew, name, mtasts=True, conf_text=None,
                 parallel=2, so=None, extra_main="", routers=None,
                 transports=None, **opts):
        self.ew = ew
        self.so = so or ew.so
        self.name = name
        self.dir = os.path.join(ew.w.dir, "tx-" + name)
        _mkdirs_exim(self.dir, os.path.join(self.dir, "spool"),
                     os.path.join(self.dir, "log"))
        self.mtasts_conf = os.path.join(self.dir, "mtasts.conf")
        self.cache_dir = os.path.join(self.dir, "cache")
        if conf_text is None:
            # Never the host's default spool (/var/spool/mtasts/tlsrpt).
            opts.setdefault("tlsrpt_dir", os.path.join(self.dir, "tlsrpt"))
            o = {"resolver": W.DNS_ADDR,
                 "resolve_special_zone": "test",
                 "ca_file": ew.w.pki.ca_file, "cache_dir": self.cache_dir,
                 "fetch_timeout": "3", "dns_timeout": "2",
                 "txt_check_interval": "0", "lock_wait": "3"}
            for k, v in opts.items():
                if v is None:
                    o.pop(k, None)
                else:
                    o[k] = str(v)
            conf_text = "".join("%s = %s\n" % kv for kv in o.items())
            if o.get("cache_dir") == self.cache_dir:
                # Routers run as root, transports as Debian-exim: the
                # cache is shared through the group (cache.c 02770/0660).
                os.makedirs(self.cache_dir, exist_ok=True)
                os.chown(self.cache_dir, 0,
                         grp.getgrnam("Debian-exim").gr_gid)
                os.chmod(self.cache_dir, 0o2770)
        tdir = opts.get("tlsrpt_dir")
        if tdir:
            # Like the cache: root (routers) and Debian-exim (transports)
            # both append, so the spool directory is setgid Debian-exim.
            os.makedirs(tdir, exist_ok=True)
            os.chown(tdir, 0, grp.getgrnam("Debian-exim").gr_gid)
            os.chmod(tdir, 0o2770)
        with open(self.mtasts_conf, "w") as f:
            f.write(conf_text)
        os.chmod(self.mtasts_conf, 0o644)
        self.conf = os.path.join(self.dir, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(TX_CONF.format(
                d=self.dir, so=self.so, conf=self.mtasts_conf,
                parallel=parallel, extra_main=extra_main,
                routers=routers if routers is not None
                else ROUTERS_MTASTS if mtasts else ROUTERS_PLAIN,
                transports=transports if transports is not None
                else TRANSPORTS_MTASTS if mtasts
                else TRANSPORTS_PLAIN))
        os.chmod(self.conf, 0o644)
        ew.trust(self.conf)
        self.mainlog = os.path.join(self.dir, "log", "mainlog")
        self.paniclog = os.path.join(self.dir, "log", "paniclog")

    def exim(self, *args, stdin=None, timeout=120):
        return subprocess.run([EXIM, "-C", self.conf] + list(args),
                              input=stdin, capture_output=True, text=True,
                              timeout=timeout)

    def send(self, rcpt, subject="test", body="hello\n", headers="",
             remote=None):
        """Queue one message (not delivered until run_queue). headers:
        extra header lines; remote: pretend it came from this SMTP client
        address (not locally submitted)."""
        msg = ("From: sender@sender.world.test\nTo: %s\nSubject: %s\n%s\n%s"
               % (rcpt, subject, headers, body))
        extra = ["-oMa", remote, "-oMr", "esmtp"] if remote else []
        p = self.exim("-odq", *extra, "-f", "sender@sender.world.test",
                      rcpt, stdin=msg)
        if p.returncode != 0:
            raise W.WorldError("exim submit: %s" % p.stderr)

    def run_queue(self, force=True):
        t0 = time.monotonic()
        p = self.exim("-qff" if force else "-q", timeout=600)
        if p.returncode != 0:
            raise W.WorldError("exim -q: %s %s" % (p.stdout, p.stderr))
        if self.ew.rx is not None and self.ew.rx.proc is not None:
            self.ew.rx.settle()
        return time.monotonic() - t0

    def queue(self):
        """Recipients still queued (deferred): list of addresses."""
        out = self.exim("-bp").stdout
        return [ln.split()[-1] for ln in out.splitlines()
                if ln.startswith(" ") and "@" in ln and "<" not in ln and
                not ln.strip().startswith("D ")]

    def log(self):
        try:
            with open(self.mainlog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def panic(self):
        try:
            with open(self.paniclog, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [ln for ln in self.log().splitlines() if rx.search(ln)]

    def clear_retry(self):
        """Forget host retry records (a repaired MX is tried at once)."""
        for p in glob.glob(os.path.join(self.dir, "spool", "db", "*")):
            os.unlink(p)


class EximWorld:
    """A World with Exim receivers and senders. Use inside the namespace."""

    def __init__(self, so, mtasts=None, keep=False):
        self.so = so
        self.w = W.World(mtasts=mtasts, keep=keep)
        self.rx = None
        self.senders = []
        self._trusted = []

    def start(self):
        # The private Exim first: its /etc overlay must lie below the
        # world's bind mounts (resolv.conf, the CA bundle).
        self.exim = PrivateExim(self.w.dir)
        self.w.start()
        # Debian-exim must reach the world's files (mkdtemp made it 0700).
        os.chmod(self.w.dir, 0o755)
        os.chmod(self.w.pki.dir, 0o755)
        os.chmod(self.w.pki.ca_file, 0o644)
        # tls_verify_certificates = system, trusting only the world CA.
        W._run("mount", "--bind", self.w.pki.ca_file, SYSTEM_BUNDLE)
        self._trusted_path = TRUSTED_CONFIGS
        self.rx = Receiver(self)
        return self

    def trust(self, conf):
        self._trusted.append(conf)
        with open(self._trusted_path, "w") as f:
            f.write("\n".join(self._trusted) + "\n")

    def start_receivers(self):
        self.rx.start()

    def sender(self, name="main", **kw):
        s = Sender(self, name, **kw)
        self.senders.append(s)
        return s

    def mx(self, domain, *hosts):
        """Set the MX records of domain: hosts are (pref, name) pairs."""
        self.w.records = [r for r in self.w.records
                          if not (r["type"] == "MX" and r["name"] == domain)]
        self.w.add_records(*[{"name": domain, "type": "MX",
                              "data": [pref, name]} for pref, name in hosts])

    def stop(self):
        if self.rx is not None:
            self.rx.stop()
        if getattr(self, "exim", None) is not None:
            self.exim.undo()
        self.w.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def ensure_namespace():
    W.ensure_namespace()
    try:
        private_prefix()
    except (W.WorldError, OSError) as e:
        sys.stderr.write("eximworld: FATAL: no private Exim: %s\n" % e)
        sys.exit(1)
