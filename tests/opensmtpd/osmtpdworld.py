# SPDX-License-Identifier: ISC
"""osmtpdworld - a real OpenSMTPD 6.8 or 7.8 sender inside the hermetic world.

version "6.8" (the default) runs Debian's 6.8.0p2 .deb; version "7.8" runs
smtpd 7.8.0p1 built from ../shared/third_party by scripts/build-opensmtpd78
(cached under /var/cache/mtasts-test/opensmtpd-7.8.0p1-<sha256>/, Debian's
layout and users, issue 15). Both run the same way:

Debian's opensmtpd conflicts with every other MTA (Conflicts:
mail-transport-agent) and is never installed on the host (D-TEST-MTA-1), so
the .deb fetched by scripts/bootstrap is unpacked with `dpkg -x` into the
world directory and run from there, as root, with private copies of
everything it needs (mta-integration.md part D), all inside the test's
mount namespace so the host is never touched:

  - /etc/passwd, /etc/group with the users opensmtpd and opensmtpq;
  - /usr/libexec, /var/spool, /run, /var/lib: overlays over the host
    directories (writes land in the world directory; the host directory
    is the read-only lower layer) holding opensmtpd/ (the unpacked libexec
    programs, table-mtasts and filter-mtasts under test), smtpd/, the
    chroot /var/lib/opensmtpd/empty and /run/smtpd.sock;
  - smtpctl: a setgid-opensmtpq copy (smtpctl insists on it).

The receivers are tests/exim/eximworld.py's: one Exim daemon posing as
every MX host, storing what it got per address; that Exim is the private
copy eximworld.PrivateExim sets up (also never the host's).
"""

import glob
import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "world"))
sys.path.insert(0, os.path.join(HERE, "..", "exim"))

import world as W  # noqa: E402
import eximworld as E  # noqa: E402

DEB_DIRS = ("/var/cache/mtasts-test",)
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD78 = os.path.join(REPO, "scripts", "build-opensmtpd78")
# As tests/CMakeLists.txt finds the vectors: ../shared next to the repo.
TARBALL78 = os.path.join(REPO, "..", "shared", "third_party",
                         "opensmtpd-7.8.0p1.tar.gz")
VERSIONS = ("6.8", "7.8")
# Set to skip the 7.8 tests when the tarball is absent (explicit opt-out;
# without it a missing tarball is a failure, never a silent skip).
SKIP78_ENV = "MTASTS_SKIP_OPENSMTPD78"
SKIP_RC = 77


def tarball78():
    return os.environ.get("MTASTS_OPENSMTPD78_TARBALL", TARBALL78)


def skip78_requested():
    """True when the 7.8 tarball is absent and the operator opted out."""
    return (not os.path.exists(tarball78()) and
            os.environ.get(SKIP78_ENV, "") not in ("", "0"))


def build78():
    """The cached DESTDIR of smtpd 7.8 (built on first use)."""
    tb = tarball78()
    if not os.path.exists(tb):
        raise W.WorldError(
            "no OpenSMTPD 7.8 source at %s: the 7.8 tests need "
            "../shared/third_party (set %s=1 to skip them explicitly)" %
            (tb, SKIP78_ENV))
    t0 = time.monotonic()
    p = subprocess.run([BUILD78, tb], capture_output=True, text=True)
    if p.returncode != 0:
        raise W.WorldError("building OpenSMTPD 7.8 failed: %s" %
                           p.stderr[-2000:])
    root = p.stdout.strip().splitlines()[-1]
    print("osmtpdworld: smtpd 7.8 at %s (%.1f s%s)" % (
        root, time.monotonic() - t0,
        ", built now" if "built" in p.stderr else ", cached"))
    return root
LIBEXEC = "/usr/libexec/opensmtpd"
# Host directories smtpd writes to or needs entries in; each gets a
# private overlay (overlay_dir), never a bind mount into the world dir.
# /root: smtpd's sendmail (smtpctl enqueue) saves a refused message in
# ~/dead.letter of the submitting user, root here; without the overlay a
# test that submits a message smtpd refuses wrote /root/dead.letter on
# the host.
OVERLAYS = ("/usr/libexec", "/var/spool", "/run", "/var/lib", "/root")
# Host directories other programs change while a test runs (other
# sessions' tests, shells): overlaid, but not compared in release().
UNCOMPARED = ("/root",)


def find_deb():
    env = os.environ.get("MTASTS_OPENSMTPD_DEB")
    if env:
        return env
    for d in DEB_DIRS:
        debs = sorted(glob.glob(os.path.join(d, "opensmtpd_6.8*.deb")))
        if debs:
            return debs[-1]
    return None


def _free_id(used, start=61000):
    i = start
    while i in used:
        i += 1
    return i


def overlay_dir(world_dir, target):
    """Make the host directory `target` privately writable in this mount
    namespace: an overlay whose lower layer is the host directory (the
    kernel never writes to it) and whose upper layer lives in world_dir.

    Never bind-mount a host directory *into* world_dir: World.stop()
    removes world_dir recursively, and a recursive removal walks into bind
    mounts and deletes the host's files. Here world_dir only ever holds
    the upper and work layers, so removing it cannot reach the host.
    Returns the sorted listing of `target` before the overlay, so callers
    can check afterwards that the host directory is unchanged."""
    before = sorted(os.listdir(target)) if os.path.isdir(target) else None
    tag = target.strip("/").replace("/", "-")
    up = os.path.join(world_dir, "ovl-" + tag, "up")
    work = os.path.join(world_dir, "ovl-" + tag, "work")
    os.makedirs(up)
    os.makedirs(work)
    W._run("mount", "-t", "overlay", "overlay", "-o",
           "lowerdir=%s,upperdir=%s,workdir=%s" % (target, up, work),
           target)
    return before


class Smtpd:
    """smtpd 6.8 from the unpacked .deb or 7.8 from the cached build, with
    the adapter installed."""

    def __init__(self, ew, table, filt, conf_text_fn, name="tx",
                 version="6.8"):
        if version not in VERSIONS:
            raise ValueError("smtpd version %r" % (version,))
        self.version = version
        self.ew = ew
        self.w = ew.w
        self.dir = os.path.join(self.w.dir, "osmtpd-" + name)
        self.table = table
        self.filter = filt
        self.conf_text_fn = conf_text_fn
        self.proc = None
        self.log_path = os.path.join(self.dir, "smtpd.log")

    # -- installation (once per namespace)

    def install(self):
        if self.version == "7.8":
            root = build78()    # read-only: only copied from
            os.makedirs(self.dir)
            os.chmod(self.dir, 0o755)
        else:
            deb = find_deb()
            if deb is None or not os.path.exists(deb):
                raise W.WorldError(
                    "no opensmtpd 6.8 .deb in %s (run scripts/bootstrap)" %
                    (DEB_DIRS,))
            os.makedirs(self.dir)
            os.chmod(self.dir, 0o755)
            root = os.path.join(self.dir, "root")
            W._run("dpkg", "-x", deb, root)
        self.smtpd = os.path.join(root, "usr/sbin/smtpd")
        self._users()
        # smtpd resolves MX hosts with getaddrinfo(AI_ADDRCONFIG), which
        # ignores loopback addresses: without a non-loopback IPv4 address
        # it never asks for A records ("Host not found"). A veth pair
        # kept inside the namespace (leading nowhere) provides one.
        W._run("ip", "link", "add", "osmtpd0", "type", "veth", "peer",
               "name", "osmtpd1")
        W._run("ip", "addr", "add", "10.254.254.1/32", "dev", "osmtpd0")
        W._run("ip", "link", "set", "osmtpd0", "up")
        # /usr/libexec/opensmtpd: the package's programs + ours.
        lib = os.path.join(self.dir, "libexec")
        shutil.copytree(os.path.join(root, "usr/libexec/opensmtpd"), lib)
        for src, name in ((self.table, "table-mtasts"),
                          (self.filter, "filter-mtasts")):
            shutil.copy(src, os.path.join(lib, name))
            os.chmod(os.path.join(lib, name), 0o755)
        self.overlays = {}
        for d in OVERLAYS:
            self.overlays[d] = overlay_dir(self.dir, d)
        if os.path.exists(LIBEXEC):
            shutil.rmtree(LIBEXEC)      # the overlay's copy only
        shutil.copytree(lib, LIBEXEC)
        os.makedirs("/var/spool/smtpd", exist_ok=True)
        os.chmod("/var/spool/smtpd", 0o711)
        # The chroot of the unprivileged processes (PATH_CHROOT).
        os.makedirs("/var/lib/opensmtpd/empty", exist_ok=True)
        os.chmod("/var/lib/opensmtpd/empty", 0o755)
        # smtpctl must be setgid opensmtpq.
        self.smtpctl_bin = os.path.join(self.dir, "smtpctl")
        shutil.copy(os.path.join(root, "usr/sbin/smtpctl"), self.smtpctl_bin)
        os.chown(self.smtpctl_bin, 0, grp.getgrnam("opensmtpq").gr_gid)
        os.chmod(self.smtpctl_bin, 0o2755)
        self.empty = os.path.join(self.dir, "empty")
        os.makedirs(self.empty, exist_ok=True)

    def _users(self):
        """Private /etc/passwd and /etc/group with opensmtpd, opensmtpq."""
        have_users = True
        for u in ("opensmtpd", "opensmtpq"):
            try:
                pwd.getpwnam(u)
            except KeyError:
                have_users = False
        if have_users:
            return
        uids = {p.pw_uid for p in pwd.getpwall()}
        gids = {g.gr_gid for g in grp.getgrall()}
        home = os.path.join(self.dir, "empty")
        os.makedirs(home, exist_ok=True)
        pw_lines, gr_lines = [], []
        for u in ("opensmtpd", "opensmtpq"):
            uid = _free_id(uids)
            uids.add(uid)
            gid = _free_id(gids)
            gids.add(gid)
            pw_lines.append("%s:x:%d:%d:OpenSMTPD test:%s:/usr/sbin/nologin"
                            % (u, uid, gid, home))
            gr_lines.append("%s:x:%d:" % (u, gid))
        for path, extra in (("/etc/passwd", pw_lines),
                            ("/etc/group", gr_lines)):
            copy = os.path.join(self.dir, os.path.basename(path))
            with open(path) as f:
                text = f.read()
            if not text.endswith("\n"):
                text += "\n"
            with open(copy, "w") as f:
                f.write(text + "\n".join(extra) + "\n")
            os.chmod(copy, 0o644)
            W._run("mount", "--bind", copy, path)

    @property
    def uid(self):
        return pwd.getpwnam("opensmtpd").pw_uid

    @property
    def gid(self):
        return pwd.getpwnam("opensmtpd").pw_gid

    # -- running

    def start(self):
        self.conf = os.path.join(self.dir, "smtpd.conf")
        with open(self.conf, "w") as f:
            f.write(self.conf_text_fn(self))
        os.chmod(self.conf, 0o644)
        env = dict(os.environ, MTASTS_OPENSMTPD_LOG="stderr")
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([self.smtpd, "-d", "-f", self.conf],
                                     stdout=self.logf, stderr=self.logf,
                                     env=env)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise W.WorldError("smtpd exited %s: %s" % (
                    self.proc.returncode, self.log()[-3000:]))
            try:
                s = smtplib.SMTP("127.0.0.1", 25, timeout=2)
                s.quit()
                return
            except OSError:
                time.sleep(0.1)
        raise W.WorldError("smtpd did not listen: " + self.log()[-3000:])

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def release(self):
        """Unmount the overlays and check the host directories below are
        exactly as they were (returns a list of differences)."""
        diffs = []
        for d, before in getattr(self, "overlays", {}).items():
            # smtpd's children (tables, filters, mta) may still be exiting
            # after stop() and keep the overlay busy: retry, and detach it
            # lazily at the end, so that the listing below is always the
            # host's directory and never the overlay's (a failed umount
            # once made this check compare the overlay with the host).
            deadline = time.monotonic() + 15
            while True:
                p = subprocess.run(["umount", d], capture_output=True,
                                   text=True)
                if p.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    sys.stderr.write("osmtpdworld: umount %s: %s; detaching "
                                     "lazily\n" % (d, p.stderr.strip()))
                    subprocess.run(["umount", "-l", d], capture_output=True)
                    break
                time.sleep(0.2)
            after = sorted(os.listdir(d)) if os.path.isdir(d) else None
            if after != before and d not in UNCOMPARED:
                diffs.append("%s: %s -> %s" % (d, before, after))
        self.overlays = {}
        return diffs

    def stop(self):
        # Debugging aid: keep smtpd's whole log (the world dir is removed).
        keep = os.environ.get("MTASTS_OSMTPD_KEEP_LOG")
        if keep:
            with open(keep, "a") as f:
                f.write(self.log())
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern):
        rx = re.compile(pattern)
        return [ln for ln in self.log().splitlines() if rx.search(ln)]

    def smtpctl(self, *args):
        return subprocess.run([self.smtpctl_bin] + list(args),
                              capture_output=True, text=True, timeout=30)

    def queue(self):
        """Recipients still queued."""
        out = self.smtpctl("show", "queue").stdout
        rcpts = []
        for ln in out.splitlines():
            f = ln.split("|")
            if len(f) > 5:
                rcpts.append(f[5] if "@" in f[5] else
                             next((x for x in f if "@" in x and
                                   "sender" not in x), ""))
        return rcpts

    def send(self, rcpt, subject="test"):
        """Submit one message over SMTP on 127.0.0.1 (counts as local)."""
        msg = ("From: sender@sender.world.test\r\nTo: %s\r\nSubject: %s\r\n"
               "\r\nhello\r\n" % (rcpt, subject))
        s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
        try:
            s.sendmail("sender@sender.world.test", [rcpt], msg)
        finally:
            s.quit()
