#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""make.py - write the golden request files *.in of the OpenSMTPD 7.x text
table protocol 0.1 (as smtpd 7.8's table_proc.c writes them) and
cases.txt. The matching *.out files are the table's answers, reviewed and
committed; regenerate them with test_table.py --regen only after
reviewing a protocol change (decisions.md D-OSMTPD-13)."""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
TS = "1764645000.123456"
HS = ("config|smtpd-version|7.8.0-portable\n"
      "config|protocol|0.1\n"
      "config|tablename|mtasts\n"
      "config|ready\n")


def req(op, *rest, table="mtasts", version="0.1", ts=TS):
    return "|".join(["table", version, ts, table, op] + list(rest)) + "\n"


CASES = {
    # name: (input, expected exit status)
    "session": (HS + req("update", "0000001a") +
                req("check", "domain", "0000002b", "nopolicy.test") +
                # a key with '|' is one key, never echoed
                req("check", "domain", "0000003c", "a.test|found") +
                req("check", "domain", "0000004d", "[127.0.0.1]") +
                req("lookup", "relayhost", "0000005e", "nomx.example.com") +
                req("lookup", "domain", "0000006f", "a.test") +
                req("check", "relayhost", "00000070", "a.test") +
                req("fetch", "relayhost", "00000081"), 0),
    # unknown informational config keys are ignored (D-OSMTPD-13)
    "config_extra": ("config|smtpd-version|7.9.0\nconfig|subsystem|x\n"
                     "config|protocol|0.1\nconfig|tablename|mtasts\n"
                     "config|ready\n" + req("update", "ab12"), 0),
    "protocol_version": (HS.replace("protocol|0.1", "protocol|0.2") +
                         req("update", "1"), 2),
    "request_version": (HS + req("update", "1") +
                        req("update", "2", version="0.2") +
                        req("update", "3"), 2),
    "before_ready": (HS.replace("config|ready\n", "") + req("update", "1"),
                     2),
    "no_tablename": (HS.replace("config|tablename|mtasts\n", ""), 2),
    "duplicate_protocol": (HS.replace("config|ready\n",
                                      "config|protocol|0.1\nconfig|ready\n"),
                           2),
    "config_after_ready": (HS + "config|tablename|other\n" +
                           req("update", "1"), 2),
    "wrong_table": (HS + req("update", "1") + req("update", "2",
                                                  table="other"), 2),
    "bad_id": (HS + req("check", "domain", "1;2", "a.test"), 2),
    "long_id": (HS + req("check", "domain", "0123456789abcdef", "a.test"),
                2),
    "bad_timestamp": (HS + req("update", "1", ts="now"), 2),
    "unknown_op": (HS + req("dump", "1"), 2),
    "unregistered_service": (HS + req("check", "alias", "1", "root"), 2),
    "update_extra_field": (HS + req("update", "1", "x"), 2),
    "no_key": (HS + "table|0.1|%s|mtasts|check|domain|1\n" % TS, 2),
    # a newline inside a key ends the line: the rest is not a request
    "newline_key": (HS + req("check", "domain", "1",
                             "a.test\ncheck-result|1|found"), 2),
    "nul_in_line": (HS + req("check", "domain", "1", "a.te\0st"), 2),
    "cr_in_line": (HS + req("check", "domain", "1", "a.test\r"), 2),
    "long_key": (HS + req("check", "domain", "1", "a" * 1024), 2),
    "long_line": (HS + "table|" + "x" * 5000, 2),
    "truncated": (HS + req("update", "1") + "table|0.1|" + TS, 0),
    "not_a_line": (HS + "hello\n", 2),
}


def main():
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        for name, (data, status) in CASES.items():
            with open(os.path.join(HERE, name + ".in"), "wb") as g:
                g.write(data.encode())
            f.write("%s %d\n" % (name, status))


if __name__ == "__main__":
    main()
