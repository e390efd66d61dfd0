#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""test_fds - no descriptor of mtasts survives exec in real Exim 4.96
(issue 11 item 5, docs/decisions.md D-FD-1).

1. A long continued-delivery chain: N messages to one enforce domain whose
   single MX is good, delivered by `exim -qqff` (two-stage queue run: the
   first pass routes everything and fills the wait-<transport> hints, the
   second delivers them down one connection, each next message in an
   `exim -MC` process exec'ed by the previous one). The open descriptors
   of every -MC process are sampled from /proc/<pid>/fd while the chain
   runs; the same chain is run by a sender without mtasts. The maximum
   with mtasts must stay within a small constant of the maximum without
   it, and must not grow along the chain. Before the fix libunbound's
   pipes/sockets (4 per process) were inherited down the chain.
2. `${run}` children: `exim -be` doing a lookup that needs DNS (TXT
   check), then ${run} of a script listing /proc/self/fd: the child sees
   the same descriptors as without the lookup (no pipe:/socket: of ours).

    test_fds.py --so mtasts_exim.so [--messages N] [--keep]
"""

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import eximworld as E  # noqa: E402

W = E.W

# The smtp transport keeps a connection for connection_max_messages
# messages (default 500, left as is: the chain is Exim's default one).
CHAIN_MAIN = """queue_run_max = 1
"""

# Allowed difference between the chains' maxima (descriptors): the -MC
# process's own resolver (measured: 4 sockets, 2 pipes, an event fd, all
# close-on-exec) and one more (a query socket or the cache lock in flight).
SLACK = 8


class Sampler(threading.Thread):
    """Sample /proc/<pid>/fd of the sender's -MC processes."""

    def __init__(self, conf):
        super().__init__(daemon=True)
        self.conf = conf
        self.stop_ev = threading.Event()
        self.seen = {}           # pid -> (max fds, message id)
        self.top = (0, [])       # the largest table seen: (n, fd:kind)
        self.order = []
        self.exes = set()        # /proc/<pid>/exe of every -MC process

    def run(self):
        while not self.stop_ev.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        argv = f.read().split(b"\0")
                    if b"-MC" not in argv or \
                            self.conf.encode() not in argv:
                        continue
                    fds = os.listdir("/proc/%s/fd" % pid)
                    n = len(fds)
                    # D-TEST-MTA-1: the -MC re-exec (exim_path) is the
                    # private Exim, never the host's.
                    st = os.stat("/proc/%s/exe" % pid)
                    self.exes.add((os.readlink("/proc/%s/exe" % pid),
                                   st.st_dev, st.st_ino))
                    if n > self.top[0]:
                        kinds = []
                        for fd in sorted(fds, key=int):
                            try:
                                t = os.readlink("/proc/%s/fd/%s" %
                                                (pid, fd))
                            except OSError:
                                t = "?"
                            kinds.append("%s:%s" % (fd, t.split(":[")[0]
                                                    .split("/")[-1]))
                        self.top = (n, kinds)
                except OSError:
                    continue
                mid = argv[-2].decode(errors="replace") if len(argv) > 1 \
                    else "?"
                if pid not in self.seen:
                    self.order.append(pid)
                    self.seen[pid] = (n, mid)
                elif n > self.seen[pid][0]:
                    self.seen[pid] = (n, mid)
            time.sleep(0.002)

    def stop(self):
        self.stop_ev.set()
        self.join()

    def counts(self):
        return [self.seen[p][0] for p in self.order]


def run_chain(ew, name, mtasts, n):
    tx = ew.sender(name, mtasts=mtasts, parallel=1, extra_main=CHAIN_MAIN)
    t0 = time.monotonic()
    # One batched-SMTP submission (-bS) for all n messages, queued only.
    bsmtp = "".join(
        "MAIL FROM:<sender@sender.world.test>\nRCPT TO:<u%d@enforce.test>\n"
        "DATA\nFrom: sender@sender.world.test\nTo: u%d@enforce.test\n"
        "Subject: %s %d\n\nhello\n.\n" % (i, i, name, i) for i in range(n))
    p = tx.exim("-bS", "-odq", stdin=bsmtp + "QUIT\n", timeout=300)
    if p.returncode != 0 or len(tx.queue()) != n:
        raise W.WorldError("exim -bS: rc %d, %d queued: %s" %
                           (p.returncode, len(tx.queue()), p.stderr[-500:]))
    t_sub = time.monotonic() - t0
    c0 = ew.rx.connections_settled(quiet=0.3).get("mx1.enforce.test", 0)
    s = Sampler(tx.conf)
    s.start()
    t0 = time.monotonic()
    p = tx.exim("-qqff", timeout=600)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and tx.queue():
        time.sleep(0.2)
    # The last -MC processes may still be exiting.
    time.sleep(0.5)
    s.stop()
    dt = time.monotonic() - t0
    ew.rx.settle()
    left = tx.queue()
    counts = s.counts()
    conns = ew.rx.connections_settled(quiet=0.3).get("mx1.enforce.test",
                                                      0) - c0
    print("%s: %d messages submitted in %.1fs, chain delivered in %.1fs; "
          "-MC processes sampled %d; fds max %s, first %s, last %s; "
          "queued %d; exim rc %d; SMTP connections %d" %
          (name, n, t_sub, dt, len(counts), max(counts or [0]),
           counts[:3], counts[-3:], len(left), p.returncode, conns),
          flush=True)
    print("%s: largest -MC descriptor table: %s" % (name, " ".join(
        s.top[1])), flush=True)
    return tx, counts, left, conns, s.exes


def run_script_fds(ew, tx, domain):
    """${run} of a script listing its fds, after a DNS-using lookup."""
    script = os.path.join(ew.w.dir, "lsfd.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\nfor f in /proc/$$/fd/*; do "
                "echo \"${f##*/} $(readlink $f)\"; done\n")
    os.chmod(script, 0o755)
    run = "${run{%s}{$value}{run failed}}" % script
    look = "${dlfunc{%s}{sts_mode}{%s}{%s}}" % (tx.so, domain,
                                                tx.mtasts_conf)
    base = tx.exim("-be", stdin=run + "\n", timeout=60).stdout
    after = tx.exim("-be", stdin="<" + look + ">" + run + "\n",
                    timeout=60).stdout
    return base, after


def fd_lines(out):
    """{fd: target} from the script's output, minus its own dir fd."""
    d = {}
    for ln in out.splitlines():
        ln = ln.strip().lstrip(">").strip()
        if ln.startswith("<"):
            ln = ln.split(">", 1)[-1]
        parts = ln.split(" ", 1)
        if len(parts) == 2 and parts[0].isdigit():
            if parts[1].startswith("/proc/"):
                continue
            # pipe:[inode] / socket:[inode]: the kind, not the inode.
            d[int(parts[0])] = parts[1].split(":[")[0]
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--so", required=True)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    E.ensure_namespace()
    failed = []

    def ok(cond, what):
        if not cond:
            failed.append(what)
            print("FAIL: %s" % what, flush=True)
        return cond

    with E.EximWorld(os.path.abspath(a.so), keep=a.keep) as ew:
        w, rx = ew.w, ew.rx
        w.add_domain("enforce.test", txt="v=STSv1; id=1",
                     policy=W.Policy(mode="enforce",
                                     mx=["mx1.enforce.test"]))
        rx.add("mx1.enforce.test", "good")
        ew.mx("enforce.test", (10, "mx1.enforce.test"))
        ew.start_receivers()

        # ${run} children first (a fresh process, DNS needed: TXT check).
        tx0 = ew.sender("run")
        base, after = run_script_fds(ew, tx0, "enforce.test")
        b, f = fd_lines(base), fd_lines(after)
        print("${run} child fds without a lookup: %r" % b)
        print("${run} child fds after a lookup:   %r" % f)
        ok("<enforce>" in after,
           "the -be lookup answered enforce: %r" % after[:200])
        ok(b and f == b, "${run} child inherits nothing from the module: "
           "%r vs %r" % (f, b))
        ok(not [k for k, t in f.items() if t in ("socket", "pipe")
                and k not in b],
           "no socket/pipe of the module in the ${run} child: %r" % f)

        n = a.messages
        _, plain, left_p, conn_p, exe_p = run_chain(ew, "plain", False, n)
        txm, with_m, left_m, conn_m, exe_m = run_chain(ew, "mtasts", True, n)
        st = os.stat(E.EXIM)    # the private copy (PrivateExim checks)
        ok(exe_p | exe_m == {(E.EXIM, st.st_dev, st.st_ino)},
           "every -MC process runs the private %s (dev, inode %d, %d): %r"
           % (E.EXIM, st.st_dev, st.st_ino, sorted(exe_p | exe_m)))
        got = len(rx.mail("mx1.enforce.test"))
        ok(got == 2 * n, "receiver stored %d of %d messages" % (got, 2 * n))
        ok(not left_p and not left_m, "queues empty: plain %d, mtasts %d"
           % (len(left_p), len(left_m)))
        # Both chains must really be chains (Exim continued on one
        # connection): most messages went through -MC processes.
        ok(len(plain) >= n // 2 and len(with_m) >= n // 2,
           "continued deliveries sampled: plain %d, mtasts %d of %d" %
           (len(plain), len(with_m), n))
        # connection_max_messages (500): n messages need n/500 sessions.
        ok(conn_m <= (n + 499) // 500 + 1 and conn_p <= (n + 499) // 500 + 1,
           "one SMTP connection per 500 messages: mtasts %d, plain %d" %
           (conn_m, conn_p))
        if plain and with_m:
            ok(max(with_m) <= max(plain) + SLACK,
               "fd maximum with mtasts %d within %d of without %d" %
               (max(with_m), SLACK, max(plain)))
            k = max(1, len(with_m) // 10)
            head, tail = max(with_m[:k]), max(with_m[-k:])
            ok(tail <= head + 2,
               "no growth along the chain: first tenth max %d, last "
               "tenth max %d" % (head, tail))
        ok(not txm.panic().strip(), "no panic log: %r" % txm.panic()[-500:])
    print("fds: %s" % ("ok" if not failed else "%d FAILED" % len(failed)))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
