#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""smtpd - many (mis)configured STARTTLS SMTP receivers in one process.

Usage: smtpd.py --config CONFIG.json --status STATUSFILE

CONFIG.json (re-read whenever it changes; the generation it applied is
written to STATUSFILE, and "ready" is printed on stdout after the first),
in the style of httpsd.py:

  {"generation": 3, "log": "/tmp/.../smtp.log",
   "listeners": [{"name": "mx1.a.test", "addr": "127.0.2.5", "port": 25,
                  "cert": "/path/cert.pem", "key": "/path/key.pem",
                  "behaviour": {...}}]}

behaviour keys (all optional):
  starttls        false: STARTTLS is not advertised (and answered 502)
  starttls_reply  the reply to STARTTLS ("220 2.0.0 Ready to start TLS");
                  anything not starting with 220 keeps the session plain
  banner          greeting line ("220 <name> ESMTP world-smtpd")
  banner_delay_ms wait this long before the greeting
  silent          true: accept TCP, never say anything
  tls_max         highest TLS version offered ("TLSv1.2")
  inject          text sent in the same packet right after the 220 to
                  STARTTLS (a response-injection attempt, RFC 3207 §5)
Only a tiny SMTP subset is spoken: EHLO/HELO, STARTTLS, NOOP, RSET,
MAIL, RCPT, DATA (message discarded), QUIT.

Every connection is logged as JSON lines:
  {"event": "connect"|"ehlo"|"starttls"|"tls"|"tls-error"|"quit",
   "listener", "addr", "sni", "version", "error", "time"}
"""

import argparse
import json
import os
import selectors
import socket
import ssl
import sys
import threading
import time

IO_TIMEOUT = 10.0
LINE_MAX = 4096

_conn = threading.local()


def _sni_callback(_sslobj, name, _ctx):
    _conn.sni = name
    return None


class Listener:
    def __init__(self, spec):
        self.addr = spec["addr"]
        self.port = spec.get("port", 25)
        fam = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind((self.addr, self.port))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.key = None
        self.ctx = None
        self.update(spec)

    def update(self, spec):
        self.name = spec.get("name", self.addr)
        self.behaviour = spec.get("behaviour", {})
        key = (spec.get("cert"), spec.get("key"),
               self.behaviour.get("tls_max"))
        if key != self.key and key[0]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(key[0], key[1])
            if key[2]:
                ctx.maximum_version = getattr(ssl.TLSVersion,
                                              key[2].replace(".", "_"))
            ctx.sni_callback = _sni_callback
            self.ctx = ctx
            self.key = key


class Server:
    def __init__(self, config, status):
        self.config = config
        self.status = status
        self.sel = selectors.DefaultSelector()
        self.listeners = {}
        self.stamp = None
        self.log_path = None
        self.log_lock = threading.Lock()
        self.announced = False

    def log(self, rec):
        rec["time"] = time.time()
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.log_lock:
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(line)

    def reload(self):
        try:
            st = os.stat(self.config)
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        if stamp == self.stamp:
            return
        with open(self.config) as f:
            try:
                cfg = json.load(f)
            except ValueError:
                return
        self.stamp = stamp
        self.log_path = cfg.get("log")
        want = {}
        for spec in cfg.get("listeners", []):
            want[(spec["addr"], spec.get("port", 25))] = spec
        for key in list(self.listeners):
            if key not in want:
                lst = self.listeners.pop(key)
                self.sel.unregister(lst.sock)
                lst.sock.close()
        for key, spec in want.items():
            if key in self.listeners:
                self.listeners[key].update(spec)
            else:
                lst = Listener(spec)
                self.listeners[key] = lst
                self.sel.register(lst.sock, selectors.EVENT_READ, lst)
        tmp = self.status + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % cfg.get("generation", 0))
        os.rename(tmp, self.status)
        if not self.announced:
            print("ready", flush=True)
            self.announced = True

    def run(self):
        while True:
            self.reload()
            for key, _ in self.sel.select(timeout=0.02):
                lst = key.data
                try:
                    conn, _peer = lst.sock.accept()
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                snap = (lst.name, lst.addr, lst.ctx, dict(lst.behaviour))
                threading.Thread(target=self.handle, args=(conn, snap),
                                 daemon=True).start()

    def handle(self, conn, snap):
        name, addr, _ctx, _beh = snap
        try:
            self._handle(conn, *snap)
        except Exception as e:  # a peer hanging up is normal here
            self.log({"event": "conn-error", "listener": name, "addr": addr,
                      "error": repr(e)})
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _handle(self, conn, name, addr, ctx, beh):
        self.log({"event": "connect", "listener": name, "addr": addr})
        if beh.get("silent"):
            conn.settimeout(60)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            return
        conn.settimeout(IO_TIMEOUT)
        if beh.get("banner_delay_ms"):
            time.sleep(beh["banner_delay_ms"] / 1000.0)
        sock = conn
        tls = False
        buf = b""

        def send(line):
            sock.sendall(line.encode("latin-1") + b"\r\n")

        def readline():
            nonlocal buf
            while b"\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                buf += chunk
                if len(buf) > LINE_MAX:
                    return None
            line, _, buf = buf.partition(b"\n")
            return line.rstrip(b"\r").decode("latin-1")

        send(beh.get("banner", "220 %s ESMTP world-smtpd" % name))
        starttls = beh.get("starttls", True)
        while True:
            line = readline()
            if line is None:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.log({"event": "ehlo", "listener": name, "addr": addr,
                          "tls": tls, "arg": line[5:]})
                if verb == "HELO":
                    send("250 %s" % name)
                    continue
                ext = ["%s hello" % name, "PIPELINING", "8BITMIME"]
                if starttls and not tls:
                    ext.append("STARTTLS")
                for i, e in enumerate(ext):
                    send("250%s%s" % (" " if i == len(ext) - 1 else "-", e))
            elif verb == "STARTTLS" and not tls:
                reply = beh.get("starttls_reply",
                                "220 2.0.0 Ready to start TLS")
                if not starttls:
                    reply = "502 5.5.1 STARTTLS not available"
                self.log({"event": "starttls", "listener": name,
                          "addr": addr, "reply": reply})
                if beh.get("inject") and reply.startswith("220"):
                    sock.sendall((reply + "\r\n" + beh["inject"] +
                                  "\r\n").encode("latin-1"))
                    return
                send(reply)
                if not reply.startswith("220"):
                    continue
                _conn.sni = None
                try:
                    sock = ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    self.log({"event": "tls-error", "listener": name,
                              "addr": addr, "sni": _conn.sni,
                              "error": str(e)})
                    return
                tls = True
                buf = b""
                self.log({"event": "tls", "listener": name, "addr": addr,
                          "sni": _conn.sni, "version": sock.version()})
            elif verb == "QUIT":
                self.log({"event": "quit", "listener": name, "addr": addr,
                          "tls": tls})
                send("221 2.0.0 bye")
                return
            elif verb in ("NOOP", "RSET", "MAIL", "RCPT"):
                send("250 2.0.0 OK")
            elif verb == "DATA":
                send("354 go ahead")
                while True:
                    ln = readline()
                    if ln is None:
                        return
                    if ln == ".":
                        break
                send("250 2.0.0 accepted (discarded)")
            else:
                send("500 5.5.2 unrecognised command")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--status", required=True)
    a = ap.parse_args()
    Server(a.config, a.status).run()


if __name__ == "__main__":
    sys.exit(main())
