#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make.py - write the golden request files *.in (as smtpd 6.8 frames them)
and cases.txt. The matching *.out files are the table's replies, reviewed
and committed; regenerate them with test_table.py --regen only after
reviewing a protocol change."""

import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import tproto as P  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    # name: (requests, expected exit status)
    "session": ([P.open_req(), P.update(), P.check("nopolicy.test"),
                 P.check("u@a.test", P.K_MAILADDR),
                 P.lookup("a.test", P.K_DOMAIN), P.fetch(),
                 P.check("[127.0.0.1]"), P.close()], 0),
    "garbage_type": ([P.frame(99, b"xyz"), P.check("nopolicy.test"),
                      P.close()], 0),
    "bad_requests": ([P.frame(P.CHECK, struct.pack("=iQ", 2, 0) + b"a.test"),
                      P.frame(P.CHECK, struct.pack("=iQ", 2, 1) +
                              b"a.test\0"),
                      P.frame(P.LOOKUP, struct.pack("=iQ", 2, 0) +
                              b"a\0b\0"),
                      P.open_req(version=3), P.frame(P.OK),
                      P.frame(P.UPDATE, b"x"), P.update()], 0),
    "broken_header": ([P.update(), struct.pack("=IHHII", 5, 4, 0, 0, 0) +
                       b"trailing garbage"], 2),
    "truncated": ([P.update(), P.check("a.test")[:20]], 0),
    "relay_nomx": ([P.lookup("nomx.example.com")], 0),
}


def main():
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        for name, (reqs, status) in CASES.items():
            with open(os.path.join(HERE, name + ".in"), "wb") as g:
                g.write(b"".join(reqs))
            f.write("%s %d\n" % (name, status))


if __name__ == "__main__":
    main()
