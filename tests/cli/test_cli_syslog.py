#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""test_cli_syslog.py MTASTS - where the mtasts command's diagnostics go
(decisions.md D-CLI-LOG-1, issue 13).

Runs the real command in a private mount namespace (unshare -m, needs
root) whose /dev/log is a datagram socket this test listens on, and checks
the lines it receives: facility mail (PRI = 16 + severity), ident "mtasts"
with the pid, one line per event, the severity of each event; that results
stay on stdout; that --stderr and MTASTS_LOG=stderr force stderr, --syslog
forces syslog on a terminal, a terminal gets stderr by default, and that
without a listening syslog daemon the lines fall back to stderr.
"""
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile

LOG_MAIL = 2 << 3
ERR, WARNING, NOTICE, INFO = 3, 4, 5, 6
LINE = re.compile(r"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d "
                  r"mtasts\[(\d+)\]: (.*)$")
failed = 0


def ok(cond, what):
    global failed
    if not cond:
        failed = 1
        print("FAIL: " + what)


def reexec_private():
    """Re-run this script in a mount namespace with its own /dev."""
    if os.environ.get("TEST_CLI_SYSLOG_NS") == "1":
        return
    if os.geteuid() != 0:
        print("test_cli_syslog: FATAL: needs root (unshare -m)")
        sys.exit(1)
    env = dict(os.environ, TEST_CLI_SYSLOG_NS="1")
    p = subprocess.run(["unshare", "-m", "--propagation", "private",
                        sys.executable] + sys.argv, env=env)
    sys.exit(p.returncode)


def private_dev(tmp):
    """A /dev with the usual nodes but our own (absent) log socket."""
    newdev = os.path.join(tmp, "dev")
    os.mkdir(newdev)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs",
                    newdev], check=True)
    for n in ("null", "zero", "random", "urandom", "tty"):
        src = "/dev/" + n
        if os.path.exists(src):
            open(os.path.join(newdev, n), "w").close()
            subprocess.run(["mount", "--bind", src,
                            os.path.join(newdev, n)], check=True)
    os.mkdir(os.path.join(newdev, "pts"))
    subprocess.run(["mount", "--rbind", "/dev/pts",
                    os.path.join(newdev, "pts")], check=True)
    os.symlink("pts/ptmx", os.path.join(newdev, "ptmx"))
    subprocess.run(["mount", "--rbind", newdev, "/dev"], check=True)


class Listener:
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.s.bind("/dev/log")

    def drain(self, wait=0.3):
        out = []
        while True:
            r, _, _ = select.select([self.s], [], [], wait)
            if not r:
                return out
            out.append(self.s.recv(65536).decode("utf-8", "replace"))
            wait = 0.05

    def close(self):
        self.s.close()
        os.unlink("/dev/log")


def parse(lines):
    out = []
    for ln in lines:
        m = LINE.match(ln)
        ok(m is not None, "syslog line format: %r" % ln)
        if m:
            out.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return out


def main():
    mtasts = os.path.abspath(sys.argv[1])
    reexec_private()
    tmp = tempfile.mkdtemp(prefix="test_cli_syslog.")
    try:
        private_dev(tmp)
        cache = os.path.join(tmp, "cache")
        os.mkdir(cache, 0o2770)
        conf = os.path.join(tmp, "conf")
        with open(conf, "w") as f:
            f.write("cache_dir = %s\ntlsrpt_dir = %s/spool\n"
                    "report_dir = %s/reports\n" % (cache, tmp, tmp))
        bad = os.path.join(tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("dns_timeout = 0\n")
        env = dict(os.environ)
        env.pop("MTASTS_LOG", None)

        def run(*args, extra_env=None, stderr=subprocess.PIPE):
            e = dict(env, **(extra_env or {}))
            return subprocess.run([mtasts] + list(args), env=e,
                                  stdout=subprocess.PIPE, stderr=stderr,
                                  stdin=subprocess.DEVNULL, text=True)

        lg = Listener()
        # A configuration error from a job (stderr not a terminal): one
        # line at mail.err, nothing on stderr, exit 2.
        p = run("--config", bad, "refresh")
        got = parse(lg.drain())
        ok(p.returncode == 2, "config error exit %d" % p.returncode)
        ok(p.stderr == "", "config error also on stderr: %r" % p.stderr)
        ok(p.stdout == "", "config error on stdout: %r" % p.stdout)
        ok(len(got) == 1, "one line per event: %r" % got)
        if got:
            pri, pid, msg = got[0]
            ok(pri == LOG_MAIL + ERR, "config error PRI %d, want %d" %
               (pri, LOG_MAIL + ERR))
            ok(pid == p.pid if hasattr(p, "pid") else pid > 0,
               "pid %d" % pid)
            ok(msg.startswith("%s:1: dns_timeout: " % bad),
               "config error text: %r" % msg)

        # An operator action (mail.notice) and a result on stdout.
        with open(os.path.join(cache, "gone.test.json"), "w") as f:
            f.write("junk")
        p = run("--config", conf, "cache", "list")
        got = parse(lg.drain())
        ok(p.returncode == 0 and "gone.test" in p.stdout and
           "UNUSABLE" in p.stdout, "cache list result on stdout: %r %r" %
           (p.returncode, p.stdout))
        # Only the core's warning about the entry, once, named as such.
        ok([(g[0], g[2].split(": ")[:2]) for g in got] ==
           [(LOG_MAIL + WARNING, ["warning", "cache"])],
           "cache list logs only the core's warning: %r" % got)
        p = run("--config", conf, "cache", "flush", "gone.test")
        got = parse(lg.drain())
        ok(p.returncode == 0 and p.stderr == "", "flush: %r %r" %
           (p.returncode, p.stderr))
        ok([(g[0], g[2]) for g in got] ==
           [(LOG_MAIL + NOTICE, "cache flush: gone.test: removed")],
           "flush logged at mail.notice: %r" % got)
        # Again: nothing is cached now, and the flush must not say it
        # removed anything (exit 3, "not found", as cache show).
        p = run("--config", conf, "cache", "flush", "gone.test")
        got = parse(lg.drain())
        ok(p.returncode == 3 and p.stderr == "", "flush of an uncached "
           "domain exits 3: %r %r" % (p.returncode, p.stderr))
        ok([(g[0], g[2]) for g in got] ==
           [(LOG_MAIL + NOTICE, "cache flush: gone.test: not cached, "
             "nothing removed")],
           "flush of an uncached domain says so: %r" % got)

        # A refresh job: per-domain events at their severity, the summary
        # on stdout. An unusable entry that cannot be fetched (a resolver
        # that does not answer): warning (unusable), then the failure.
        with open(os.path.join(cache, "bad.test.json"), "w") as f:
            f.write("junk")
        with open(conf, "a") as f:
            f.write("resolver = 127.0.0.1@9\ndns_timeout = 1\n")
        p = run("--config", conf, "refresh")
        got = parse(lg.drain(1.0))
        ok(p.returncode == 4, "refresh exit %d" % p.returncode)
        ok(p.stdout.startswith("refresh: 1 cached domains: 0 refreshed, "
                               "0 unchanged, 1 failed"),
           "refresh summary on stdout: %r" % p.stdout)
        ok(p.stderr == "", "refresh wrote to stderr: %r" % p.stderr)
        msgs = [(g[0], g[2]) for g in got]
        ok(any(pr == LOG_MAIL + WARNING and
               m.startswith("refresh: bad.test: cache entry ") and
               "; fetching" in m for pr, m in msgs),
           "unusable entry at mail.warning: %r" % msgs)
        ok(any(pr in (LOG_MAIL + WARNING, LOG_MAIL + ERR) and
               m.startswith("refresh: bad.test: FAILED: ")
               for pr, m in msgs), "refresh failure logged: %r" % msgs)
        ok(all("\n" not in m for _, m in msgs), "multi-line: %r" % msgs)
        ok(not any("cache: cache:" in m for _, m in msgs),
           "doubled prefix: %r" % msgs)

        # --stderr and MTASTS_LOG=stderr force stderr.
        for how in ({"args": ["--stderr"]},
                    {"env": {"MTASTS_LOG": "stderr"}}):
            p = run(*(how.get("args", []) + ["--config", bad, "refresh"]),
                    extra_env=how.get("env"))
            got = lg.drain()
            ok(p.returncode == 2 and p.stderr.startswith(
                "mtasts: %s:1: dns_timeout: " % bad),
               "%r: stderr %r" % (how, p.stderr))
            ok(got == [], "%r: syslog got %r" % (how, got))

        # A terminal gets stderr; --syslog sends to syslog even there.
        for args, to_syslog in (([], False), (["--syslog"], True)):
            master, slave = pty.openpty()
            p = subprocess.run([mtasts] + args + ["--config", bad,
                                                  "refresh"], env=env,
                               stdout=subprocess.PIPE, stderr=slave,
                               stdin=subprocess.DEVNULL, text=True)
            os.close(slave)
            tty = b""
            while select.select([master], [], [], 0.2)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                tty += chunk
            os.close(master)
            got = parse(lg.drain())
            ok(p.returncode == 2, "tty %r exit %d" % (args, p.returncode))
            if to_syslog:
                ok(len(got) == 1 and got[0][0] == LOG_MAIL + ERR and
                   tty == b"", "--syslog on a tty: %r %r" % (got, tty))
            else:
                ok(got == [] and b"dns_timeout" in tty,
                   "tty default: %r %r" % (got, tty))

        # No syslog daemon listening: the line is not lost.
        lg.close()
        p = run("--config", bad, "refresh")
        ok(p.returncode == 2 and "dns_timeout" in p.stderr,
           "no syslog daemon: stderr %r" % p.stderr)
    finally:
        os.chdir("/")
        shutil.rmtree(tmp, ignore_errors=True)
    if failed == 0:
        print("test_cli_syslog: ok")
    return failed


if __name__ == "__main__":
    sys.exit(main())
