#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""dnsd.py - small authoritative DNS server for the hermetic tests.

It poses as the recursive resolver libunbound forwards to: every answer
has AA=1 and RA=1, every name is "in zone". Python 3 standard library only.

    dnsd.py --listen IP [--listen IP ...] --port N --zone FILE [--log FILE]

The zone FILE is JSON and is re-read whenever it changes (tests edit it
mid-test; a half-written file keeps the previous zone until it parses):

    {"ttl": 60,
     "records": [
       {"name": "_mta-sts.a.test", "type": "TXT", "data": ["v=STSv1; id=1"]},
       {"name": "_mta-sts.b.test", "type": "TXT", "data_hex": ["763d"]},
       {"name": "mta-sts.a.test", "type": "A", "data": "127.0.1.5"},
       {"name": "mta-sts.a.test", "type": "AAAA", "data": "fd00::5"},
       {"name": "_mta-sts.c.test", "type": "CNAME",
        "data": "_mta-sts.provider.test"},
       {"name": "a.test", "type": "MX", "data": [10, "mx1.a.test"]},
       {"name": "x.test", "type": "TYPE65", "rdata_hex": "0001"}
     ],
     "servfail": [...], "refused": [...], "drop": [...]}

TXT: one record is one RR; "data" is a list of character-strings (a bare
string is a one-string list); strings longer than 255 bytes are split
into 255-byte strings (the concatenation is what MTA-STS reads).
"data_hex" gives the raw bytes of each string. Any type may instead give
"rdata_hex", the raw RDATA, sent as is (malformed on purpose if wanted).
Supported "data" types: A AAAA CNAME NS PTR MX TXT.

Names are case-insensitive, with or without trailing dot. A name holding
records of other types, or an ancestor of a name with records (empty
non-terminal), gives NODATA; anything else NXDOMAIN. Negative answers
carry an SOA of the name's last label. In-zone CNAMEs are followed, the
chain put in the answer (loops detected, at most 8 steps). servfail /
refused / drop apply to the query name, any type.

A zone may also hand whole subtrees to a real server (the DNSSEC-signed
zone of the world, served by nsd; decisions.md D-DNSSEC-4):

     "relay": [{"zone": "sec.test", "addr": "127.0.0.54", "port": 53,
                "except": ["unsigned.sec.test"]}]

A query for the zone or a name below it is passed through as raw bytes
(UDP stays UDP, TCP stays TCP; the DO bit and EDNS with it) and the
server's answer is returned unchanged, RRSIGs and all. Names at or below
an "except" name (an unsigned delegation served by this file) are
answered here, except the DS query at the "except" name itself, which
belongs to the parent zone and is relayed. Relayed queries are logged
like the others.

UDP and TCP; EDNS0 OPT is echoed with a 4096-byte payload size; an answer
larger than the client's size is sent with TC=1 and no records so the
client retries over TCP. --log appends "<qname-lowercase> <QTYPE>" per
query, flushed. Prints "ready" on stdout once all sockets listen.
"""

import argparse
import ipaddress
import json
import os
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15,
         "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41, "DS": 43,
         "RRSIG": 46, "DNSKEY": 48, "TLSA": 52, "ANY": 255}
TYPE_NAMES = {v: k for k, v in TYPES.items()}

RC_NOERROR, RC_FORMERR, RC_SERVFAIL, RC_NXDOMAIN, RC_NOTIMP, RC_REFUSED = \
    0, 1, 2, 3, 4, 5
CNAME_STEPS = 8


class BadPacket(Exception):
    pass


def norm(name):
    name = str(name).strip().lower()
    if name.endswith(".") and name != ".":
        name = name[:-1]
    return "" if name == "." else name


def type_code(t):
    t = str(t).upper()
    if t in TYPES:
        return TYPES[t]
    if t.startswith("TYPE") and t[4:].isdigit():
        return int(t[4:])
    raise ValueError("unknown type %s" % t)


def type_name(code):
    return TYPE_NAMES.get(code, "TYPE%d" % code)


def name_wire(name):
    out = b""
    name = norm(name)
    if name:
        for label in name.split("."):
            b = label.encode("utf-8")
            if not 0 < len(b) < 64:
                raise ValueError("bad label in %r" % name)
            out += bytes([len(b)]) + b
    return out + b"\0"


def strings_wire(strings):
    out = b""
    for s in strings:
        if s == b"":
            out += b"\0"
        for i in range(0, len(s), 255):
            chunk = s[i:i + 255]
            out += bytes([len(chunk)]) + chunk
    return out


def rdata_of(rec, rtype):
    if "rdata_hex" in rec:
        return bytes.fromhex(rec["rdata_hex"])
    if rtype == TYPES["TXT"]:
        if "data_hex" in rec:
            raw = [bytes.fromhex(h) for h in rec["data_hex"]]
        else:
            data = rec["data"]
            if isinstance(data, str):
                data = [data]
            raw = [s.encode("utf-8") for s in data]
        return strings_wire(raw)
    data = rec["data"]
    if rtype == TYPES["A"]:
        return ipaddress.IPv4Address(data).packed
    if rtype == TYPES["AAAA"]:
        return ipaddress.IPv6Address(data).packed
    if rtype in (TYPES["CNAME"], TYPES["NS"], TYPES["PTR"]):
        return name_wire(data)
    if rtype == TYPES["MX"]:
        return struct.pack("!H", int(data[0])) + name_wire(data[1])
    if rtype == TYPES["TLSA"]:
        # [usage, selector, matching type, hex]
        return struct.pack("!BBB", int(data[0]), int(data[1]),
                           int(data[2])) + bytes.fromhex(data[3])
    raise ValueError("type %s needs rdata_hex" % type_name(rtype))


class Zone:
    """The parsed zone file: name -> [(type, rdata, target-or-None)]."""

    def __init__(self, obj):
        self.ttl = int(obj.get("ttl", 60))
        self.names = {}
        self.ancestors = set()
        for rec in obj.get("records", []):
            name = norm(rec["name"])
            rtype = type_code(rec["type"])
            target = None
            if rtype == TYPES["CNAME"] and "data" in rec:
                target = norm(rec["data"])
            self.names.setdefault(name, []).append(
                (rtype, rdata_of(rec, rtype), target))
            labels = name.split(".") if name else []
            for i in range(1, len(labels) + 1):
                self.ancestors.add(".".join(labels[i:]))
        self.servfail = set(norm(n) for n in obj.get("servfail", []))
        self.refused = set(norm(n) for n in obj.get("refused", []))
        self.drop = set(norm(n) for n in obj.get("drop", []))
        self.relay = []
        for r in obj.get("relay", []):
            self.relay.append((norm(r["zone"]), r["addr"],
                               int(r.get("port", 53)),
                               [norm(e) for e in r.get("except", [])]))

    def relay_for(self, qname, qtype):
        """(addr, port) of the server that owns qname, or None."""
        name = norm(qname)

        def under(n, z):
            return n == z or n.endswith("." + z)
        for zone, addr, port, excepts in self.relay:
            if not under(name, zone):
                continue
            if any(under(name, e) and not (name == e and
                                           qtype == TYPES["DS"])
                   for e in excepts):
                continue
            return addr, port
        return None


class Server:
    def __init__(self, zone_path, log_path):
        self.zone_path = zone_path
        self.zone = Zone({})
        self.stamp = None
        self.lock = threading.Lock()
        self.log = open(log_path, "a", encoding="utf-8") if log_path \
            else None

    def current_zone(self):
        with self.lock:
            try:
                st = os.stat(self.zone_path)
                stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
                if stamp != self.stamp:
                    with open(self.zone_path, "r", encoding="utf-8") as f:
                        self.zone = Zone(json.load(f))
                    self.stamp = stamp
            except (OSError, ValueError, KeyError, TypeError,
                    IndexError) as e:
                # Half-written or broken file: keep the previous zone and
                # try again on the next query.
                sys.stderr.write("dnsd: zone: %s\n" % e)
            return self.zone

    def log_query(self, qname, qtype):
        if self.log is None:
            return
        with self.lock:
            self.log.write("%s %s\n" % (norm(qname) or ".",
                                        type_name(qtype)))
            self.log.flush()

    # -- wire format -----------------------------------------------------

    @staticmethod
    def parse_query(pkt):
        """Returns (id, flags, qname_wire, qname, qtype, qclass, edns)."""
        if len(pkt) < 12:
            raise BadPacket("short")
        qid, flags, qd, an, ns, ar = struct.unpack("!6H", pkt[:12])
        if flags & 0x8000:
            raise BadPacket("response")
        if qd != 1:
            return qid, flags, None, None, None, None, None
        pos, labels = 12, []
        while True:
            if pos >= len(pkt):
                raise BadPacket("name")
            n = pkt[pos]
            if n & 0xc0 or pos + 1 + n > len(pkt):
                raise BadPacket("label")
            if n == 0:
                pos += 1
                break
            labels.append(pkt[pos + 1:pos + 1 + n])
            pos += 1 + n
            if pos - 12 > 255:
                raise BadPacket("long name")
        qwire = pkt[12:pos]
        if pos + 4 > len(pkt):
            raise BadPacket("question")
        qtype, qclass = struct.unpack("!HH", pkt[pos:pos + 4])
        pos += 4
        qname = ".".join(l.decode("latin-1") for l in labels)
        edns = None
        # Skip answer/authority, then look for OPT among the additionals.
        for i in range(an + ns + ar):
            start = pos
            while True:
                if pos >= len(pkt):
                    raise BadPacket("rr name")
                n = pkt[pos]
                if n & 0xc0 == 0xc0:
                    pos += 2
                    break
                pos += 1 + n
                if n == 0:
                    break
            if pos + 10 > len(pkt):
                raise BadPacket("rr")
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH",
                                                      pkt[pos:pos + 10])
            pos += 10 + rdlen
            if pos > len(pkt):
                raise BadPacket("rdata")
            if i >= an + ns and rtype == TYPES["OPT"] and \
                    pkt[start] == 0:
                edns = (max(512, rclass), (ttl >> 15) & 1)
        return qid, flags, qwire, qname, qtype, qclass, edns

    @staticmethod
    def rr(owner_wire, rtype, ttl, rdata):
        return owner_wire + struct.pack("!HHIH", rtype, 1, ttl,
                                        len(rdata)) + rdata

    def soa(self, zone, qname):
        apex = qname.split(".")[-1] if qname else ""
        rdata = name_wire("ns." + apex) + name_wire("hostmaster." + apex) \
            + struct.pack("!5I", 1, 3600, 600, 86400, zone.ttl)
        return self.rr(name_wire(apex), TYPES["SOA"], zone.ttl, rdata)

    def resolve(self, zone, qwire, qname, qtype):
        """Returns (rcode, answers, authority) or None to drop."""
        name = norm(qname)
        if name in zone.drop:
            return None
        if name in zone.servfail:
            return RC_SERVFAIL, [], []
        if name in zone.refused:
            return RC_REFUSED, [], []
        answers, seen, owner = [], set(), qwire
        for _ in range(CNAME_STEPS + 1):
            seen.add(name)
            recs = zone.names.get(name, [])
            cname = [r for r in recs if r[0] == TYPES["CNAME"]]
            if cname and qtype not in (TYPES["CNAME"], TYPES["ANY"]):
                answers.append(self.rr(owner, TYPES["CNAME"], zone.ttl,
                                       cname[0][1]))
                target = cname[0][2]
                if target is None or target in seen:
                    return RC_NOERROR, answers, []
                name, owner = target, name_wire(target)
                continue
            match = [r for r in recs
                     if r[0] == qtype or qtype == TYPES["ANY"]]
            if match:
                for r in match:
                    answers.append(self.rr(owner, r[0], zone.ttl, r[1]))
                return RC_NOERROR, answers, []
            if recs or name in zone.ancestors:
                return RC_NOERROR, answers, [self.soa(zone, name)]
            return RC_NXDOMAIN, answers, [self.soa(zone, name)]
        # Chain longer than CNAME_STEPS: hand back what we have.
        return RC_NOERROR, answers, []

    def answer(self, pkt, max_size):
        """Returns the response bytes, or None to stay silent."""
        try:
            qid, flags, qwire, qname, qtype, qclass, edns = \
                self.parse_query(pkt)
        except BadPacket:
            if len(pkt) >= 12 and not pkt[2] & 0x80:
                return pkt[:2] + struct.pack("!HHHHH", 0x8580 | RC_FORMERR,
                                             0, 0, 0, 0)
            return None
        opcode = (flags >> 11) & 0xf
        rd = flags & 0x0100
        head_flags = 0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080
        if qwire is None or opcode != 0:
            rc = RC_FORMERR if opcode == 0 else RC_NOTIMP
            return struct.pack("!6H", qid, head_flags | rc, 0, 0, 0, 0)
        self.log_query(qname, qtype)
        zone = self.current_zone()
        relay = zone.relay_for(qname, qtype)
        if relay is not None:
            return self.relay(pkt, relay, max_size is None)
        question = qwire + struct.pack("!HH", qtype, qclass)
        opt = b""
        if edns is not None:
            opt = b"\0" + struct.pack("!HHIH", TYPES["OPT"], 4096,
                                      edns[1] << 15, 0)
            max_size = edns[0] if max_size is not None else None
        elif max_size is not None:
            max_size = 512
        if qclass not in (1, 255):
            res = (RC_REFUSED, [], [])
        else:
            res = self.resolve(zone, qwire, qname, qtype)
        if res is None:
            return None
        rc, ans, auth = res
        nadd = 1 if opt else 0
        msg = struct.pack("!6H", qid, head_flags | rc, 1, len(ans),
                          len(auth), nadd) + question + b"".join(ans) + \
            b"".join(auth) + opt
        if max_size is not None and len(msg) > max_size:
            msg = struct.pack("!6H", qid, head_flags | 0x0200 | rc, 1, 0,
                              0, nadd) + question + opt
        return msg

    @staticmethod
    def relay(pkt, server, tcp):
        """Pass pkt to server unchanged; its answer, or None."""
        fam = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM if tcp else
                          socket.SOCK_DGRAM)
        s.settimeout(3)
        try:
            if tcp:
                s.connect(server)
                s.sendall(struct.pack("!H", len(pkt)) + pkt)
                head = Server.recv_exact(s, 2)
                if head is None:
                    return None
                return Server.recv_exact(s, struct.unpack("!H", head)[0])
            s.sendto(pkt, server)
            resp, _ = s.recvfrom(65535)
            return resp
        except OSError as e:
            sys.stderr.write("dnsd: relay to %s: %r\n" % (server[0], e))
            return None
        finally:
            s.close()

    # -- transports ------------------------------------------------------

    def serve_udp(self, sock):
        while True:
            try:
                pkt, peer = sock.recvfrom(65535)
            except OSError:
                continue
            try:
                resp = self.answer(pkt, 512)
                if resp is not None:
                    sock.sendto(resp, peer)
            except Exception as e:  # never die on one bad packet
                sys.stderr.write("dnsd: udp: %r\n" % e)

    def serve_tcp_conn(self, conn):
        conn.settimeout(30)
        try:
            while True:
                head = self.recv_exact(conn, 2)
                if head is None:
                    return
                pkt = self.recv_exact(conn, struct.unpack("!H", head)[0])
                if pkt is None:
                    return
                resp = self.answer(pkt, None)
                if resp is not None:
                    conn.sendall(struct.pack("!H", len(resp)) + resp)
        except Exception as e:
            sys.stderr.write("dnsd: tcp: %r\n" % e)
        finally:
            conn.close()

    @staticmethod
    def recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def serve_tcp(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            threading.Thread(target=self.serve_tcp_conn, args=(conn,),
                             daemon=True).start()


def main():
    ap = argparse.ArgumentParser(description="test DNS server")
    ap.add_argument("--listen", action="append", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--log")
    args = ap.parse_args()

    srv = Server(args.zone, args.log)
    srv.current_zone()
    threads = []
    for ip in args.listen:
        fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((ip, args.port))
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind((ip, args.port))
        t.listen(64)
        threads.append(threading.Thread(target=srv.serve_udp, args=(u,),
                                        daemon=True))
        threads.append(threading.Thread(target=srv.serve_tcp, args=(t,),
                                        daemon=True))
    for th in threads:
        th.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
