# SPDX-License-Identifier: ISC
"""tproto - the OpenSMTPD 6.8 proc-table imsg framing, as smtpd's
table_proc.c writes requests and reads replies (native byte order, LP64:
int 4 bytes, size_t 8 bytes). Used by the table tests."""

import struct

HDR = struct.Struct("=IHHII")
OK, FAIL, OPEN, CLOSE, UPDATE, CHECK, LOOKUP, FETCH = range(8)
K_DOMAIN, K_MAILADDR, K_RELAYHOST = 0x2, 0x40, 0x200


def frame(mtype, payload=b"", flags=0, peerid=0, pid=0):
    return HDR.pack(mtype, HDR.size + len(payload), flags, peerid,
                    pid) + payload


def open_req(name="mtasts", version=2):
    return frame(OPEN, struct.pack("=I", version) +
                 name.encode().ljust(2048, b"\0"))


def check(key, service=K_DOMAIN):
    return frame(CHECK, struct.pack("=iQ", service, 0) + key.encode() +
                 b"\0")


def lookup(key, service=K_RELAYHOST):
    return frame(LOOKUP, struct.pack("=iQ", service, 0) + key.encode() +
                 b"\0")


def fetch(service=K_RELAYHOST):
    return frame(FETCH, struct.pack("=iQ", service, 0))


def update():
    return frame(UPDATE)


def close():
    return frame(CLOSE)


def read_reply(sock_or_file, buf=b""):
    """Read one reply frame; returns (type, payload, rest) or None at EOF."""
    while len(buf) < HDR.size or len(buf) < HDR.unpack(buf[:16])[1]:
        chunk = (sock_or_file.recv(65536) if hasattr(sock_or_file, "recv")
                 else sock_or_file.read(65536))
        if not chunk:
            return None
        buf += chunk
    mtype, ln, _, _, _ = HDR.unpack(buf[:16])
    return mtype, buf[16:ln], buf[ln:]


def parse_replies(data):
    """All reply frames of a byte string: [(type, payload)]."""
    out = []
    while len(data) >= HDR.size:
        mtype, ln, _, _, _ = HDR.unpack(data[:16])
        if ln < HDR.size or len(data) < ln:
            break
        out.append((mtype, data[16:ln]))
        data = data[ln:]
    return out, data


def decode(mtype, payload):
    """(type, r, value) of a reply."""
    r = struct.unpack("=i", payload[:4])[0] if len(payload) >= 4 else None
    value = None
    if len(payload) > 4:
        value = payload[4:].rstrip(b"\0").decode()
    return mtype, r, value
