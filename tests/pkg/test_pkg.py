#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_pkg - the Debian packages, built, linted, installed, used, purged.

    test_pkg.py --src SRCDIR [--build-only] [--keep]

1. Clone SRCDIR's HEAD into a scratch directory and build the .debs there
   with `dpkg-buildpackage -us -uc -b` (DEB_BUILD_OPTIONS=nocheck unless
   MTASTS_PKG_CHECK=1: the unit tier runs in ctest anyway).
2. lintian on the .changes: no error (the warnings kept are listed in
   debian/README.source, and printed here).
3. The file list of each .deb is exactly the expected one.
4. (not with --build-only) A fresh Debian 12 root made by mmdebstrap from
   Debian's archive with exim4-daemon-heavy and the packages' run-time
   dependencies, cached under /var/cache/mtasts-test/roots keyed by the
   suite, the mirror and the package list (a root of another key unused
   for 14 days is removed), copied per run. In a private
   mount namespace, chrooted: dpkg -i mtasts + mtasts-exim; mtasts is
   enabled with the commands of mtasts-exim(8) ENABLING (taken from the
   page itself; systemctl is left out, the root runs no init); the Exim
   attack matrix tests/pkg/exim_matrix.py against the installed files and
   the shipped configuration; dpkg --purge; what remains is checked.
5. The same with Debian's opensmtpd in a second fresh root: mtasts +
   mtasts-opensmtpd, the directories for the opensmtpd user, smtpd.conf
   untouched, `smtpd -n` accepts the configuration of table-mtasts(8) and
   filter-mtasts(8) as pasted, purge. (No mail flows there: the OpenSMTPD
   attack matrix runs in tests/opensmtpd against the build tree.)
Exit 0 on success, 1 on failure.
"""

import argparse
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
ROOT_PKGS = sorted("""exim4-daemon-heavy python3 python3-cryptography
 iproute2 mount procps ca-certificates dns-root-data adduser
 libssl3 libunbound8 libjansson4 libidn2-0 zlib1g""".split())
# The OpenSMTPD root: Debian's opensmtpd instead of Exim (they conflict).
ROOT_PKGS_OSMTPD = sorted("""opensmtpd ca-certificates dns-root-data
 adduser libssl3 libunbound8 libjansson4 libidn2-0 zlib1g""".split())
CACHE = "/var/cache/mtasts-test/roots"

# Files (not directories) of each package, /usr/share/doc aside.
EXPECTED = {
    "mtasts": {
        "/usr/sbin/mtasts", "/etc/mtasts.conf",
        "/lib/systemd/system/mtasts-refresh.service",
        "/lib/systemd/system/mtasts-refresh.timer",
        "/lib/systemd/system/mtasts-report.service",
        "/lib/systemd/system/mtasts-report.timer",
        "/lib/systemd/system/mtasts-metrics.service",
        "/lib/systemd/system/mtasts-metrics.timer",
        "/usr/share/man/man5/mtasts.conf.5.gz",
    },
    "mtasts-exim": {
        "/usr/lib/mtasts/mtasts_exim.so", "/usr/lib/mtasts/mtasts_net.so",
        "/usr/share/mtasts-exim/conf.d/main/00_mtasts",
        "/usr/share/mtasts-exim/conf.d/router/190_mtasts",
        "/usr/share/mtasts-exim/conf.d/transport/30_mtasts",
        "/lib/systemd/system/mtasts-refresh.service.d/mtasts-exim.conf",
        "/lib/systemd/system/mtasts-report.service.d/mtasts-exim.conf",
        "/usr/lib/tmpfiles.d/mtasts-exim.conf",
        "/usr/share/man/man8/mtasts-exim.8.gz",
    },
    "mtasts-opensmtpd": {
        "/usr/libexec/opensmtpd/table-mtasts",
        "/usr/libexec/opensmtpd/filter-mtasts",
        "/lib/systemd/system/mtasts-refresh.service.d/mtasts-opensmtpd.conf",
        "/lib/systemd/system/mtasts-report.service.d/mtasts-opensmtpd.conf",
        "/usr/lib/tmpfiles.d/mtasts-opensmtpd.conf",
        "/usr/share/man/man8/table-mtasts.8.gz",
        "/usr/share/man/man8/filter-mtasts.8.gz",
    },
}
# Owner, group and mode of the state directories mtasts-exim sets up.
EXIM_DIRS = ("/var/cache/mtasts", "/var/spool/mtasts/tlsrpt",
             "/var/lib/mtasts/reports")
# What purge must leave behind of ours: nothing.
GONE = ("/usr/sbin/mtasts", "/etc/mtasts.conf", "/usr/lib/mtasts",
        "/usr/share/mtasts-exim", "/var/cache/mtasts", "/var/spool/mtasts",
        "/var/lib/mtasts", "/usr/lib/tmpfiles.d/mtasts-exim.conf",
        "/lib/systemd/system/mtasts-refresh.service",
        "/lib/systemd/system/mtasts-refresh.service.d")
GONE_OSMTPD = tuple(p for p in GONE if "exim" not in p) + (
    "/usr/libexec/opensmtpd/table-mtasts",
    "/usr/libexec/opensmtpd/filter-mtasts",
    "/usr/lib/tmpfiles.d/mtasts-opensmtpd.conf")

failed = []
passed = 0


def ok(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failed.append(what)
        print("FAIL: %s" % what, flush=True)
    return cond


def run(argv, check=True, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    p = subprocess.run(argv, **kw)
    if check and p.returncode != 0:
        sys.stderr.write("%s: rc %d\n%s\n%s\n" % (
            " ".join(argv), p.returncode, (p.stdout or "")[-4000:],
            (p.stderr or "")[-4000:]))
        raise SystemExit(1)
    return p


def build(src, work):
    head = run(["git", "-C", src, "rev-parse", "HEAD"]).stdout.strip()
    clone = os.path.join(work, "mtasts")
    run(["git", "clone", "-q", "--no-hardlinks", src, clone])
    run(["git", "-C", clone, "checkout", "-q", "--detach", head])
    env = dict(os.environ)
    opts = ["parallel=2"]
    if os.environ.get("MTASTS_PKG_CHECK") != "1":
        opts.append("nocheck")
    env["DEB_BUILD_OPTIONS"] = " ".join(opts)
    t0 = time.monotonic()
    p = run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=clone, env=env,
            check=False)
    ok(p.returncode == 0, "dpkg-buildpackage -us -uc -b from a clean clone "
       "of %s" % head[:12])
    if p.returncode != 0:
        print((p.stdout + p.stderr)[-6000:])
        raise SystemExit(1)
    print("build: %.0fs (%s)" % (time.monotonic() - t0, env["DEB_BUILD_OPTIONS"]),
          flush=True)
    debs = {}
    for d in glob.glob(os.path.join(work, "*.deb")):
        name = os.path.basename(d).split("_")[0]
        debs[name] = d
    ok(set(EXPECTED) <= set(debs) and
       all(n in EXPECTED or n.endswith("-dbgsym") for n in debs),
       "the .debs: %r" % sorted(debs))
    return clone, debs


def lint(work, clone):
    changes = glob.glob(os.path.join(work, "*.changes"))
    p = run(["lintian", "--info", "--display-info", "--pedantic",
             "--tag-display-limit", "0"] + changes, check=False)
    lines = [ln for ln in p.stdout.splitlines() if re.match(r"[EWIPX]: ", ln)]
    errs = [ln for ln in lines if ln.startswith("E: ")]
    warns = [ln for ln in lines if ln.startswith("W: ")]
    print("lintian: %d errors, %d warnings, %d info/pedantic" % (
        len(errs), len(warns), len(lines) - len(errs) - len(warns)))
    for ln in lines:
        print("  " + ln)
    ok(not errs, "lintian: no errors")
    # Every warning kept is named in debian/README.source.
    src = open(os.path.join(clone, "debian", "README.source")).read()
    for ln in warns:
        tag = ln.split()[2] if len(ln.split()) > 2 else ln
        ok(tag in src, "lintian warning %s is listed in "
           "debian/README.source" % tag)


def filelist(clone, debs):
    for name, want in EXPECTED.items():
        want = set(want)
        if name == "mtasts" and os.path.exists(
                os.path.join(clone, "docs", "mtasts.8")):
            want.add("/usr/share/man/man8/mtasts.8.gz")
        out = run(["dpkg-deb", "-c", debs[name]]).stdout
        files = set()
        for ln in out.splitlines():
            f = ln.split(None, 5)[5].split(" -> ")[0]
            f = f[1:] if f.startswith(".") else f
            if ln.startswith("d") or f.startswith("/usr/share/doc/"):
                continue
            files.add(f)
        ok(files == want, "%s file list: missing %r, unexpected %r" % (
            name, sorted(want - files), sorted(files - want)))
        mode = {ln.split(None, 5)[5][1:]: ln.split()[0]
                for ln in out.splitlines()}
        if name == "mtasts":
            ok(mode.get("/usr/sbin/mtasts") == "-rwxr-xr-x",
               "mtasts is 0755")
        if name == "mtasts-exim":
            ok(mode.get("/usr/lib/mtasts/mtasts_exim.so") == "-rw-r--r--",
               "mtasts_exim.so is 0644")
    conff = run(["dpkg-deb", "-f", debs["mtasts"], "Package"]).stdout
    ctl = run(["dpkg-deb", "--ctrl-tarfile", debs["mtasts"]],
              capture_output=True, text=False).stdout
    ok(b"./conffiles" in ctl and conff.strip() == "mtasts",
       "mtasts has conffiles")
    info = run(["dpkg-deb", "-I", debs["mtasts-exim"], "control"]).stdout
    ok(re.search(r"^Depends:.*exim4-daemon-heavy", info, re.M),
       "mtasts-exim depends on exim4-daemon-heavy")


def root_tar(pkgs):
    key = hashlib.sha256(("%s\n%s\n%s\n" % (SUITE, MIRROR, " ".join(
        pkgs))).encode()).hexdigest()[:16]
    return os.path.join(CACHE, "%s-%s.tar" % (SUITE, key))


# A root whose key no list here makes any more, unused this long, goes.
ROOT_KEEP_S = 14 * 86400


def prune_roots():
    """Each root is ~200 MB and a changed package list makes a new key:
    remove the roots of other keys not used (mtime, touched at each use)
    for ROOT_KEEP_S, and the partial output of an mmdebstrap whose process
    is gone. Prints what went."""
    live = {root_tar(ROOT_PKGS), root_tar(ROOT_PKGS_OSMTPD)}
    now = time.time()
    for path in glob.glob(os.path.join(CACHE, "*.tar")):
        m = re.search(r"\.(\d+)\.tmp\.tar$", path)
        try:
            if m:
                try:
                    os.kill(int(m[1]), 0)
                    continue
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue
            elif path in live or now - os.stat(path).st_mtime < ROOT_KEEP_S:
                continue
            os.unlink(path)
            print("root: pruned %s (%s)" % (path, "partial" if m else
                                            "another key, unused"))
        except FileNotFoundError:
            pass


def fresh_root(work, pkgs=ROOT_PKGS, name="root"):
    os.makedirs(CACHE, exist_ok=True)
    prune_roots()
    tar = root_tar(pkgs)
    t0 = time.monotonic()
    if not os.path.exists(tar):
        if shutil.which("mmdebstrap") is None:
            ok(False, "mmdebstrap missing (scripts/bootstrap installs it)")
            raise SystemExit(1)
        # mmdebstrap picks the output format by the name: keep ".tar".
        tmp = "%s.%d.tmp.tar" % (tar[:-4], os.getpid())
        run(["mmdebstrap", "--quiet", "--variant=apt",
             "--include=" + ",".join(pkgs), SUITE, tmp, MIRROR])
        os.rename(tmp, tar)
        print("root: made %s in %.0fs" % (tar, time.monotonic() - t0))
        t0 = time.monotonic()
    os.utime(tar)  # in use: prune_roots() keeps it
    root = os.path.join(work, name)
    os.mkdir(root)
    run(["tar", "-C", root, "--numeric-owner", "-xpf", tar])
    print("root: copied from the cache in %.1fs" % (time.monotonic() - t0),
          flush=True)
    return root


def enable_commands(clone):
    """The ENABLING commands of mtasts-exim(8), from the page itself,
    without the ones that need a running init."""
    page = open(os.path.join(clone, "docs", "mtasts-exim.8")).read()
    m = re.search(r"^\.Sh ENABLING\n.*?^\.Bd -literal[^\n]*\n(.*?)^\.Ed",
                  page, re.S | re.M)
    body = m.group(1).replace("\\e", "\\")
    out = []
    for ln in body.splitlines():
        ln = re.sub(r"\s*&&\s*systemctl .*$", "", ln)
        if ln.startswith("systemctl ") or ln.startswith("mtasts check"):
            continue        # no init in the root; the check runs later
        out.append(ln)
    return "\n".join(out) + "\n"


def in_root(root, clone, debs):
    """One shell script, run in a private mount namespace."""
    tests = os.path.join(clone, "tests")
    ddir = os.path.join(root, "tmp", "debs")
    os.makedirs(ddir)
    for n in ("mtasts", "mtasts-exim"):
        shutil.copy(debs[n], ddir)
    with open(os.path.join(root, "tmp", "enable.sh"), "w") as f:
        f.write("set -eux\n" + enable_commands(clone))
    script = r"""
set -eu
R=%(root)s
# "/" in the chroot must be a mount point (the world's unshare sets
# its propagation).
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mkdir -p "$R%(tests)s"
mount --bind -o ro "%(tests)s" "$R%(tests)s"
c() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
echo "== dpkg -i mtasts mtasts-exim"
c sh -c 'dpkg -i /tmp/debs/*.deb'
echo "== directories"
for d in %(dirs)s; do c stat -c "$d %%U:%%G %%a" "$d"; done
echo "== exim config before enabling"
c sh -c 'grep -l mtasts -r /etc/exim4 || echo "no mtasts in /etc/exim4"'
echo "== enable (mtasts-exim(8))"
c sh /tmp/enable.sh
c sh -c 'printf "resolve_special_zone = test\n" >> /etc/mtasts.conf'
c /usr/sbin/exim4 -bV | grep -E 'Expand_dlfunc|Event' || true
echo "== matrix"
c /usr/bin/python3 %(tests)s/pkg/exim_matrix.py && rc=0 || rc=$?
echo "matrix rc=$rc"
echo "== purge"
c dpkg --purge mtasts-exim mtasts
echo "== after purge"
for p in %(gone)s; do
	if [ -e "$R$p" ] || [ -L "$R$p" ]; then echo "REMAINS $p"; fi
done
c sh -c 'dpkg -l "mtasts*" 2>/dev/null | grep "^[a-z][a-z] " || echo "no mtasts package known"'
c sh -c 'dpkg-query -W -f="\${Status}\n" exim4-daemon-heavy'
c sh -c 'ls /etc/exim4/conf.d/router/190_mtasts'
exit $rc
""" % {"root": root, "tests": tests, "dirs": " ".join(EXIM_DIRS),
       "gone": " ".join(GONE)}
    t0 = time.monotonic()
    p = run(["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", script], check=False)
    out = p.stdout + p.stderr
    print(out[-12000:])
    print("root: install, matrix, purge in %.0fs" % (time.monotonic() - t0))
    ok(p.returncode == 0, "Exim attack matrix in the fresh root (rc %d)"
       % p.returncode)
    ok(re.search(r"no mtasts in /etc/exim4", out),
       "installing left the Exim configuration alone")
    for d in EXIM_DIRS:
        ok(re.search(r"^%s root:Debian-exim 2770$" % re.escape(d), out,
                     re.M), "%s root:Debian-exim 2770" % d)
    ok(re.search(r"^\d+ passed, 0 failed$", out, re.M),
       "matrix: every check passed")
    ok("REMAINS" not in out, "purge leaves nothing of mtasts: %r" %
       re.findall(r"REMAINS \S+", out))
    ok("no mtasts package known" in out, "dpkg forgot the packages")
    ok(re.search(r"^install ok installed$", out, re.M),
       "exim4-daemon-heavy still installed")
    ok("/etc/exim4/conf.d/router/190_mtasts" in out,
       "the operator's copies in /etc/exim4 are left alone")


def smtpd_conf(clone):
    """smtpd.conf from the CONFIGURATION blocks of filter-mtasts(8) and
    table-mtasts(8), as an operator pastes them."""
    blocks = []
    for page in ("filter-mtasts.8", "table-mtasts.8"):
        text = open(os.path.join(clone, "docs", page)).read()
        sec = re.search(r"^\.Sh CONFIGURATION\n(.*?)^\.Sh ", text,
                        re.S | re.M).group(1)
        for b in re.findall(r"^\.Bd -literal[^\n]*\n(.*?)^\.Ed", sec,
                            re.S | re.M):
            blocks.append(b.replace("\\e", "\\"))
    # filter-mtasts(8): filters and listeners, then the report-mail rule;
    # table-mtasts(8): the table, the actions and the other rules. The
    # report action and rule go after the table's actions, before its
    # rules (the report rule must match first).
    filt, report, table = blocks[0], blocks[1], blocks[2]
    tl = table.splitlines()
    acts = [ln for ln in tl if not ln.startswith("match ")]
    rules = [ln for ln in tl if ln.startswith("match ")]
    return filt + "\n".join(acts) + "\n" + report + "\n".join(rules) + "\n"


def osmtpd_root(root, clone, debs):
    ddir = os.path.join(root, "tmp", "debs")
    os.makedirs(ddir)
    for n in ("mtasts", "mtasts-opensmtpd"):
        shutil.copy(debs[n], ddir)
    with open(os.path.join(root, "tmp", "smtpd-mtasts.conf"), "w") as f:
        f.write(smtpd_conf(clone))
    script = r"""
set -eu
R=%(root)s
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
c() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
before=$(c sha256sum /etc/smtpd.conf)
echo "== dpkg -i mtasts mtasts-opensmtpd"
c sh -c 'dpkg -i /tmp/debs/*.deb'
echo "== directories"
for d in %(dirs)s; do c stat -c "$d %%U:%%G %%a" "$d"; done
after=$(c sha256sum /etc/smtpd.conf)
[ "$before" = "$after" ] && echo "smtpd.conf unchanged"
echo "== smtpd -n with the man pages' configuration"
c cat /tmp/smtpd-mtasts.conf
c smtpd -n -f /tmp/smtpd-mtasts.conf 2>&1 && echo "smtpd -n: rc 0" || echo "smtpd -n: failed"
c mtasts check --local --user opensmtpd 2>&1 | grep -E "cache_dir|tlsrpt_dir" || true
echo "== purge"
c dpkg --purge mtasts-opensmtpd mtasts
for p in %(gone)s; do
	if [ -e "$R$p" ] || [ -L "$R$p" ]; then echo "REMAINS $p"; fi
done
c sh -c 'dpkg -l "mtasts*" 2>/dev/null | grep "^[a-z][a-z] " || echo "no mtasts package known"'
c sh -c 'dpkg-query -W -f="\${Status}\n" opensmtpd'
""" % {"root": root, "dirs": " ".join(EXIM_DIRS),
       "gone": " ".join(GONE_OSMTPD)}
    p = run(["unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", script], check=False)
    out = p.stdout + p.stderr
    print(out[-8000:])
    ok(p.returncode == 0, "OpenSMTPD root script (rc %d)" % p.returncode)
    for d in EXIM_DIRS:
        ok(re.search(r"^%s root:opensmtpd 2770$" % re.escape(d), out,
                     re.M), "%s root:opensmtpd 2770" % d)
    ok("smtpd.conf unchanged" in out, "installing left smtpd.conf alone")
    ok("smtpd -n: rc 0" in out and "configuration OK" in out,
       "smtpd -n accepts the configuration of table-mtasts(8) and "
       "filter-mtasts(8)")
    for d in ("/var/cache/mtasts", "/var/spool/mtasts/tlsrpt"):
        ok(re.search(r"ok +\S+ +%s: writable by opensmtpd" % re.escape(d),
                     out), "mtasts check: %s writable by opensmtpd" % d)
    ok("REMAINS" not in out, "purge leaves nothing of mtasts: %r" %
       re.findall(r"REMAINS \S+", out))
    ok("no mtasts package known" in out, "dpkg forgot the packages")
    ok(re.search(r"^install ok installed$", out, re.M),
       "opensmtpd still installed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("test_pkg: needs root (dpkg-buildpackage, chroot); failing")
        return 1
    for tool in ("dpkg-buildpackage", "dh", "lintian"):
        if shutil.which(tool) is None:
            print("test_pkg: %s missing (scripts/bootstrap installs it); "
                  "failing" % tool)
            return 1
    t0 = time.monotonic()
    work = tempfile.mkdtemp(prefix="mtasts-pkg-")
    try:
        clone, debs = build(a.src, work)
        lint(work, clone)
        filelist(clone, debs)
        if not a.build_only:
            root = fresh_root(work)
            in_root(root, clone, debs)
            root = fresh_root(work, ROOT_PKGS_OSMTPD, "root-opensmtpd")
            osmtpd_root(root, clone, debs)
    finally:
        mounted = [ln.split()[1] for ln in open("/proc/self/mounts")
                   if ln.split()[1].startswith(work)]
        if a.keep or mounted:
            print("kept %s%s" % (work, " (still mounted: %r)" % mounted
                                 if mounted else ""))
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("total %.0fs" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
