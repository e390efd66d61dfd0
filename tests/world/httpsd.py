#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""httpsd - many misbehaving HTTPS policy hosts in one process (test world).

Usage: httpsd.py --config CONFIG.json --status STATUSFILE

CONFIG.json (re-read whenever it changes; the generation it applied is
written to STATUSFILE, and "ready" is printed on stdout after the first):

  {"generation": 3, "log": "/tmp/.../https.log",
   "listeners": [{"name": "mta-sts.a.test", "addr": "127.0.1.5", "port": 443,
                  "cert": "/path/cert.pem", "key": "/path/key.pem",
                  "behaviour": {...}}]}

behaviour keys (all optional):
  silent      true: accept TCP and never start TLS (a "black hole" host)
  status      HTTP status (200); reason: reason phrase
  content_type  header value; null omits the header ("text/plain")
  headers     [[name, value], ...] extra response headers
  location    Location header (redirects)
  body / body_hex   response body (text, or hex for raw bytes)
  framing     content-length | chunked | close | short | chunked-endless |
              chunked-1 (every body byte its own 1-byte chunk)
  content_length  announce this length instead of the real one
  drip        {"bytes": N, "interval_ms": T}: send the response in N-byte
              pieces every T ms (T = 0: at once, but still one TLS record
              per piece: 1-byte records with N = 1)
  delay_ms    wait this long after the request before answering
Only GET /.well-known/mta-sts.txt gets the configured answer; other paths 404.

Every connection and request is logged as one JSON line:
  {"event": "request", "listener", "addr", "sni", "request_line", "method",
   "path", "host", "user_agent", "time"}
  {"event": "tls-error", "listener", "addr", "sni", "error", "time"}
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

WELL_KNOWN = "/.well-known/mta-sts.txt"
HEAD_MAX = 16384
IO_TIMEOUT = 10.0


class Listener:
    def __init__(self, spec):
        self.addr = spec["addr"]
        self.port = spec.get("port", 443)
        fam = socket.AF_INET6 if ":" in self.addr else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.sock.bind((self.addr, self.port))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.certkey = None
        self.update(spec)

    def update(self, spec):
        self.name = spec.get("name", self.addr)
        self.behaviour = spec.get("behaviour", {})
        ck = (spec.get("cert"), spec.get("key"))
        if ck != self.certkey and ck[0]:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(ck[0], ck[1])
            ctx.sni_callback = _sni_callback
            self.ctx = ctx
            self.certkey = ck


# The SNI callback runs in the thread doing the handshake, so a thread-local
# carries the name even when the client aborts the handshake.
_conn = threading.local()


def _sni_callback(_sslobj, name, _ctx):
    _conn.sni = name
    return None


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
                return  # half-written; the writer renames, so rare
        self.stamp = stamp
        self.log_path = cfg.get("log")
        want = {}
        for spec in cfg.get("listeners", []):
            want[(spec["addr"], spec.get("port", 443))] = spec
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
                    conn, peer = lst.sock.accept()
                except (BlockingIOError, OSError):
                    continue
                conn.setblocking(True)
                # Like real web servers: no Nagle delay on small replies.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                # Snapshot: a reload mid-connection must not change it.
                snap = (lst.name, lst.addr, lst.ctx, dict(lst.behaviour))
                threading.Thread(target=self.handle, args=(conn, snap),
                                 daemon=True).start()

    def handle(self, conn, snap):
        name, addr, ctx, beh = snap
        try:
            self._handle(conn, name, addr, ctx, beh)
        except Exception as e:  # a peer hanging up is normal here
            self.log({"event": "conn-error", "listener": name, "addr": addr,
                      "error": repr(e)})
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _handle(self, conn, name, addr, ctx, beh):
        if beh.get("silent"):
            self.log({"event": "silent-accept", "listener": name,
                      "addr": addr})
            conn.settimeout(60)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            return
        conn.settimeout(IO_TIMEOUT)
        _conn.sni = None
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.log({"event": "tls-error", "listener": name, "addr": addr,
                      "sni": _conn.sni, "error": str(e)})
            return
        sni = _conn.sni
        head = b""
        while b"\r\n\r\n" not in head and len(head) < HEAD_MAX:
            chunk = tls.recv(4096)
            if not chunk:
                break
            head += chunk
        text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        lines = text.split("\r\n")
        reqline = lines[0] if lines else ""
        hdrs = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdrs.setdefault(k.strip().lower(), v.strip())
        parts = reqline.split(" ")
        method = parts[0] if parts else ""
        path = parts[1] if len(parts) > 1 else ""
        self.log({"event": "request", "listener": name, "addr": addr,
                  "sni": sni, "request_line": reqline, "method": method,
                  "path": path, "host": hdrs.get("host"),
                  "user_agent": hdrs.get("user-agent"), "headers": hdrs})
        if beh.get("delay_ms"):
            time.sleep(beh["delay_ms"] / 1000.0)
        if method == "GET" and path == WELL_KNOWN:
            self.respond(tls, beh)
        else:
            self.respond(tls, {"status": 404, "body": "not found\n"})
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError, ValueError):
            pass

    @staticmethod
    def respond(tls, beh):
        status = beh.get("status", 200)
        reason = beh.get("reason", {200: "OK", 301: "Moved Permanently",
                                    302: "Found", 404: "Not Found",
                                    500: "Internal Server Error"}
                         .get(status, "Status"))
        if "body_hex" in beh:
            body = bytes.fromhex(beh["body_hex"])
        else:
            body = beh.get("body", "").encode("utf-8")
        framing = beh.get("framing", "content-length")
        hdr = ["HTTP/1.1 %d %s" % (status, reason)]
        ct = beh.get("content_type", "text/plain")
        if ct is not None:
            hdr.append("Content-Type: " + ct)
        if beh.get("location"):
            hdr.append("Location: " + beh["location"])
        for k, v in beh.get("headers", []):
            hdr.append("%s: %s" % (k, v))
        if framing in ("chunked", "chunked-endless", "chunked-1"):
            hdr.append("Transfer-Encoding: chunked")
        elif framing == "short":
            hdr.append("Content-Length: %d" % beh.get("content_length",
                                                       len(body) + 1000))
        elif framing != "close":
            hdr.append("Content-Length: %d" % beh.get("content_length",
                                                       len(body)))
        hdr.append("Connection: close")
        head = ("\r\n".join(hdr) + "\r\n\r\n").encode("latin-1")
        if framing == "chunked":
            payload = b""
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                payload += b"%x\r\n%s\r\n" % (len(piece), piece)
            payload += b"0\r\n\r\n"
        elif framing == "chunked-1":
            payload = b"".join(b"1\r\n%c\r\n" % c for c in body)
            payload += b"0\r\n\r\n"
        else:
            payload = body
        data = head + payload
        drip = beh.get("drip")
        if drip:
            n = max(1, drip.get("bytes", 1))
            dt = drip.get("interval_ms", 100) / 1000.0
            for i in range(0, len(data), n):
                tls.sendall(data[i:i + n])
                if dt > 0:
                    time.sleep(dt)
        else:
            tls.sendall(data)
        if framing == "chunked-endless":
            piece = b"a" * 4096
            deadline = time.time() + 30
            while time.time() < deadline:
                tls.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--status", required=True)
    a = ap.parse_args()
    Server(a.config, a.status).run()


if __name__ == "__main__":
    sys.exit(main())
