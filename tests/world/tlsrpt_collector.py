#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""tlsrpt_collector - a tiny HTTPS TLS-RPT report collector (test world).

Usage: tlsrpt_collector.py --addr IP [--port 443] --cert PEM --key PEM
                           --dir DIR [--status CODE]

Accepts POSTs on any path over TLS and saves each one as DIR/N.json
({"path", "headers", "body_hex"}), then answers with --status (default
201; 500 simulates a collector that is down). Prints "ready" once
listening. One thread per connection, HTTP/1.1 with Content-Length only.
"""

import argparse
import json
import os
import socket
import ssl
import sys
import threading

LIMIT = 1 << 20


def handle(conn, args, lock, counter):
    try:
        conn.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf and len(buf) < 16384:
            d = conn.recv(4096)
            if not d:
                return
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(body) < n and len(body) < LIMIT:
            d = conn.recv(65536)
            if not d:
                break
            body += d
        with lock:
            counter[0] += 1
            i = counter[0]
        with open(os.path.join(args.dir, "%03d.json" % i), "w") as f:
            json.dump({"method": method, "path": path, "headers": headers,
                       "body_hex": body.hex()}, f)
        reason = "Created" if args.status == 201 else "Status"
        conn.sendall(("HTTP/1.1 %d %s\r\nContent-Length: 0\r\n"
                      "Connection: close\r\n\r\n" % (args.status, reason))
                     .encode())
        try:
            conn.unwrap()
        except (ssl.SSLError, OSError):
            pass
    except (OSError, ValueError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--status", type=int, default=201)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    fam = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((args.addr, args.port))
    s.listen(16)
    print("ready", flush=True)
    lock, counter = threading.Lock(), [0]
    while True:
        c, _ = s.accept()
        try:
            tc = ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            c.close()
            continue
        threading.Thread(target=handle, args=(tc, args, lock, counter),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
