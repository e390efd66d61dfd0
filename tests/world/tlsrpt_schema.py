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
import glob
import gzip
import json
import os

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


def read_maildir(new_dir):
    """The messages in a maildir's new/ folder, oldest name first."""
    out = []
    for fn in sorted(glob.glob(os.path.join(new_dir, "*"))):
        with open(fn, "rb") as f:
            out.append(email.message_from_bytes(
                f.read(), policy=email.policy.default))
    return out


def report_mail_checks(m, rep, day, submitter, rua, tls_required_no):
    """(ok, what) pairs for one received report mail (RFC 8460 §5.1, §5.3):
    headers, subject, multipart/report, the gzip attachment's type, name
    and content (= the built report `rep`), and that it travelled over
    TLS. tls_required_no: the MTA marks report mail TLS-Required: No."""
    d = str(m["TLS-Report-Domain"])
    out = []
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
                fn.endswith("!%s.json.gz" % ymd),
                "%s: attachment %s" % (d, fn)))
    if att:
        body = json.loads(gzip.decompress(att[0].get_content()))
        out.append((body == rep, "%s: mailed report = built report" % d))
    out.append((m.get("X-Rx-Cipher", "").startswith("TLS"),
                "%s: report mail still went over (unverified) TLS" % d))
    return out
