# SPDX-License-Identifier: ISC
"""tlsrpt_schema - the RFC 8460 §4 report schema checker of the tests.

Shared by tests/world/test_tlsrpt.py (spool fed through the library) and
tests/exim/test_tlsrpt_exim.py (spool fed by real Exim deliveries).
schema_errors(report) lists what is wrong (empty: valid); schema_ok(report)
is the boolean. read_maildir() and report_mail_checks() check a report
mail as a receiver got it (used by the Exim and OpenSMTPD report tests). Field names, JSON types and required members follow
RFC 8460 §4.3/§4.4; `mx-host` may be a string or an array of strings
(errata 6241 practice, docs/decisions.md D-RPT-6).
"""

import email
import email.policy
import email.utils
import glob
import gzip
import json
import os
import re

TOP = {"organization-name", "date-range", "contact-info", "report-id",
       "policies"}
POLICY_TYPES = ("sts", "tlsa", "no-policy-found")
DETAIL_KEYS = {"result-type", "sending-mta-ip", "receiving-mx-hostname",
               "receiving-mx-helo", "receiving-ip", "failed-session-count",
               "additional-information", "failure-reason-code"}
RESULT_TYPES = ("starttls-not-supported", "certificate-host-mismatch",
                "certificate-expired", "certificate-not-trusted",
                "validation-failure", "tlsa-invalid", "dnssec-invalid",
                "dane-required", "sts-policy-fetch-error",
                "sts-policy-invalid", "sts-webpki-invalid")


def _strlist(v):
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def schema_errors(r):
    e = []
    if not isinstance(r, dict):
        return ["report is not an object"]
    if set(r) != TOP:
        e.append("top-level members %s" % sorted(r))
    for k in ("organization-name", "contact-info", "report-id"):
        if not isinstance(r.get(k), str) or not r.get(k):
            e.append("%s not a non-empty string" % k)
    dr = r.get("date-range")
    if not isinstance(dr, dict) or set(dr) != {"start-datetime",
                                               "end-datetime"} or \
            not all(isinstance(v, str) for v in dr.values()):
        e.append("date-range %r" % (dr,))
    pols = r.get("policies")
    if not isinstance(pols, list) or not pols:
        return e + ["policies not a non-empty array"]
    for i, p in enumerate(pols):
        w = "policies[%d]" % i
        if not isinstance(p, dict) or not set(p) <= {
                "policy", "summary", "failure-details"} or \
                "policy" not in p or "summary" not in p:
            e.append("%s members %r" % (w, p))
            continue
        pol = p["policy"]
        if not isinstance(pol, dict) or not set(pol) <= {
                "policy-type", "policy-string", "policy-domain",
                "mx-host"}:
            e.append("%s.policy members %r" % (w, pol))
            continue
        if pol.get("policy-type") not in POLICY_TYPES:
            e.append("%s policy-type %r" % (w, pol.get("policy-type")))
        if not isinstance(pol.get("policy-domain"), str):
            e.append("%s policy-domain %r" % (w, pol.get("policy-domain")))
        if "policy-string" in pol and not _strlist(pol["policy-string"]):
            e.append("%s policy-string %r" % (w, pol["policy-string"]))
        if "mx-host" in pol and not (isinstance(pol["mx-host"], str) or
                                     _strlist(pol["mx-host"])):
            e.append("%s mx-host %r" % (w, pol["mx-host"]))
        s = p["summary"]
        if not isinstance(s, dict) or set(s) != {
                "total-successful-session-count",
                "total-failure-session-count"} or \
                not all(type(v) is int and v >= 0 for v in s.values()):
            e.append("%s summary %r" % (w, s))
        fd = p.get("failure-details", [])
        if not isinstance(fd, list):
            e.append("%s failure-details not an array" % w)
            continue
        for j, f in enumerate(fd):
            fw = "%s.failure-details[%d]" % (w, j)
            if not isinstance(f, dict) or not set(f) <= DETAIL_KEYS or \
                    "result-type" not in f:
                e.append("%s members %r" % (fw, f))
                continue
            if f["result-type"] not in RESULT_TYPES:
                e.append("%s result-type %r" % (fw, f["result-type"]))
            if type(f.get("failed-session-count")) is not int:
                e.append("%s failed-session-count %r" %
                         (fw, f.get("failed-session-count")))
            for k in DETAIL_KEYS - {"failed-session-count"}:
                if k in f and not isinstance(f[k], str):
                    e.append("%s %s not a string" % (fw, k))
    return e


def schema_ok(r):
    return not schema_errors(r)


# RFC 5322 §3.2.3 dot-atom-text, §3.6.4 msg-id (no obsolete forms).
ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+"
DOT_ATOM = r"%s(?:\.%s)*" % (ATEXT, ATEXT)
MSG_ID = re.compile(r"<%s@%s>\Z" % (DOT_ATOM, DOT_ATOM))
ADDR_SPEC = re.compile(r"%s@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\Z"
                       % DOT_ATOM)
DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?"
# RFC 8460 §5.3 tlsrpt-subject, Report-ID a msg-id.
SUBJECT = re.compile(r"Report Domain: (%s) Submitter: (%s) "
                     r"Report-ID: <(%s@%s)>\Z" % (DOMAIN, DOMAIN, DOT_ATOM,
                                                  DOT_ATOM))
# §5.1: sender!policy-domain!begin!end[!unique-id].json, unique-id
# 1*(ALPHA / DIGIT); §5.3 adds ".gz".
FILE_NAME = re.compile(r"(%s)!(%s)!([0-9]+)!([0-9]+)(?:![A-Za-z0-9]+)?"
                       r"\.json\.gz\Z" % (DOMAIN, DOMAIN))
# RFC 5322 §3.3 date-time as mtasts writes it (no obsolete forms).
DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|"
                  r"Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                  r"[0-9]{2}:[0-9]{2}:[0-9]{2} [+-][0-9]{4}\Z")


def mail_errors(raw):
    """RFC 5322 / MIME / RFC 8460 §5.3 problems of one report mail as
    bytes (empty: valid). Checks the raw header fields (each once, the
    Message-ID a msg-id), Date and From syntax, line lengths, the subject
    form, multipart/report; report-type=tlsrpt with a text part and one
    application/tlsrpt+gzip base64 attachment whose name is the §5.1 file
    name of the headers' domain and submitter."""
    e = []
    if isinstance(raw, str):
        raw = raw.encode()
    head, sep, _ = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    if not sep:
        return ["no header/body separator"]
    for ln in raw.split(b"\n"):
        if len(ln.rstrip(b"\r")) > 998:
            e.append("line longer than 998 octets")
            break
    if any(c >= 0x80 for c in head):
        e.append("8-bit header")
    fields = {}
    for ln in head.decode("ascii", "replace").split("\n"):
        if ln[:1] in (" ", "\t"):
            continue
        name = ln.split(":", 1)[0]
        fields[name.lower()] = fields.get(name.lower(), 0) + 1
    for h in ("date", "from", "message-id", "subject", "to", "mime-version",
              "content-type", "tls-report-domain", "tls-report-submitter"):
        if fields.get(h, 0) != 1:
            e.append("%s field %d times" % (h, fields.get(h, 0)))
    m = email.message_from_bytes(raw, policy=email.policy.compat32)
    mid = (m.get("Message-ID") or "").strip()
    if not MSG_ID.match(mid):
        e.append("Message-ID %r is not an RFC 5322 msg-id" % mid)
    date = (m.get("Date") or "").strip()
    if not DATE.match(date) or email.utils.parsedate_tz(date) is None:
        e.append("Date %r" % date)
    frm = (m.get("From") or "").strip()
    if not ADDR_SPEC.match(frm):
        e.append("From %r is not an addr-spec" % frm)
    if (m.get("MIME-Version") or "").strip() != "1.0":
        e.append("MIME-Version %r" % m.get("MIME-Version"))
    dom = (m.get("TLS-Report-Domain") or "").strip()
    sub = (m.get("TLS-Report-Submitter") or "").strip()
    sm = SUBJECT.match((m.get("Subject") or "").strip())
    if not sm:
        e.append("Subject %r not the §5.3 form" % m.get("Subject"))
    elif sm.group(1) != dom or sm.group(2) != sub:
        e.append("Subject %r disagrees with TLS-Report-Domain/-Submitter"
                 % m.get("Subject"))
    if m.get_content_type() != "multipart/report" or \
            m.get_param("report-type") != "tlsrpt" or not m.get_boundary():
        e.append("Content-Type %r" % m.get("Content-Type"))
        return e
    parts = m.get_payload()
    if not isinstance(parts, list) or len(parts) != 2:
        return e + ["%r MIME parts, want 2" % (
            len(parts) if isinstance(parts, list) else parts)]
    if parts[0].get_content_type() != "text/plain":
        e.append("first part %s" % parts[0].get_content_type())
    a = parts[1]
    if a.get_content_type() != "application/tlsrpt+gzip" or \
            (a.get("Content-Transfer-Encoding") or "").lower() != "base64":
        e.append("attachment %s %s" % (a.get_content_type(),
                                       a.get("Content-Transfer-Encoding")))
    fn = a.get_filename() or ""
    fm = FILE_NAME.match(fn)
    if not fm or fm.group(1) != sub or fm.group(2) != dom:
        e.append("attachment name %r" % fn)
    elif a.get_param("name") != fn:
        e.append("Content-Type name %r != filename %r" %
                 (a.get_param("name"), fn))
    try:
        json.loads(gzip.decompress(a.get_payload(decode=True)))
    except (OSError, ValueError) as x:
        e.append("attachment is not gzip'd JSON: %s" % x)
    return e


def read_maildir(new_dir):
    """The messages in a maildir's new/ folder, oldest name first."""
    out = []
    for fn in sorted(glob.glob(os.path.join(new_dir, "*"))):
        with open(fn, "rb") as f:
            raw = f.read()
        m = email.message_from_bytes(raw, policy=email.policy.default)
        m.raw_bytes = raw
        out.append(m)
    return out


def report_mail_checks(m, rep, day, submitter, rua, tls_required_no):
    """(ok, what) pairs for one received report mail (RFC 8460 §5.1, §5.3):
    headers, subject, multipart/report, the gzip attachment's type, name
    and content (= the built report `rep`), and that it travelled over
    TLS. tls_required_no: the MTA marks report mail TLS-Required: No."""
    d = str(m["TLS-Report-Domain"])
    out = []
    raw = getattr(m, "raw_bytes", None)
    if raw is not None:
        errs = mail_errors(raw)
        out.append((not errs, "%s mail: RFC 5322/MIME/§5.3 valid %r" %
                    (d, errs)))
    hdr = m["TLS-Report-Submitter"] == submitter and m["To"] == rua
    if tls_required_no:
        hdr = hdr and m["TLS-Required"] == "No"
    out.append((hdr, "%s mail: submitter%s, To" % (
        d, ", TLS-Required" if tls_required_no else "")))
    out.append((m["Subject"] ==
                "Report Domain: %s Submitter: %s Report-ID: <%s>" %
                (d, submitter, rep.get("report-id")),
                "%s mail: subject %s" % (d, m["Subject"])))
    out.append((m.get_content_type() == "multipart/report" and
                m.get_param("report-type") == "tlsrpt",
                "%s: multipart/report" % d))
    att = list(m.iter_attachments())
    fn = att[0].get_filename() if att else ""
    ymd = day.replace("-", "")
    out.append((len(att) == 1 and att[0].get_content_type() ==
                "application/tlsrpt+gzip" and
                fn.startswith("%s!%s!" % (submitter, d)) and
                re.search(r"!%s[a-z0-9]*\.json\.gz\Z" % ymd, fn),
                "%s: attachment %s" % (d, fn)))
    if att:
        body = json.loads(gzip.decompress(att[0].get_content()))
        out.append((body == rep, "%s: mailed report = built report" % d))
    out.append((m.get("X-Rx-Cipher", "").startswith("TLS"),
                "%s: report mail still went over (unverified) TLS" % d))
    return out
