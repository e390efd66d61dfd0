# SPDX-License-Identifier: ISC
"""A strict parser of the Prometheus text exposition format (0.0.4), for
the output of `mtasts metrics` (decisions.md D-MET-5). Stricter than
Prometheus itself where our output has no reason to use a freedom: no
blank lines, no comments other than HELP and TYPE, no timestamps, every
family has exactly one HELP and one TYPE before its samples, samples of a
family are contiguous, names start with mtasts_.

parse(text) returns {family: {"type", "help", "samples": {(name,
labels-tuple): value}}} or raises ParseError naming the line."""
import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
FLOAT = re.compile(r"[+-]?(Inf|NaN|(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?)\Z")


class ParseError(Exception):
    pass


def _float(s, where):
    if not FLOAT.match(s):
        raise ParseError("%s: not a float: %r" % (where, s))
    return float(s)


def _unescape_help(s, where):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in "\\n":
                raise ParseError("%s: bad escape in HELP" % where)
            out.append("\\" if s[i + 1] == "\\" else "\n")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _labels(s, i, where):
    """Parse {a="x",b="y"} starting at s[i] == '{'; returns (dict, end)."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(s, i)
        if not m:
            raise ParseError("%s: bad label name at %d" % (where, i))
        name = m.group(0)
        if name.startswith("__"):
            raise ParseError("%s: reserved label name %s" % (where, name))
        if name in labels:
            raise ParseError("%s: duplicate label %s" % (where, name))
        i = m.end()
        if s[i:i + 2] != '="':
            raise ParseError("%s: expected =\" after %s" % (where, name))
        i += 2
        val = []
        while True:
            if i >= len(s):
                raise ParseError("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise ParseError("%s: bad escape in label value" %
                                     where)
                val.append({"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]])
                i += 2
                continue
            if c == '"':
                i += 1
                break
            if c == "\n":
                raise ParseError("%s: raw newline in label value" % where)
            val.append(c)
            i += 1
        labels[name] = "".join(val)
        if i < len(s) and s[i] == ",":
            i += 1
            if i < len(s) and s[i] == "}":
                raise ParseError("%s: trailing comma" % where)
            continue
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        raise ParseError("%s: expected , or } in labels" % where)


def _family(name, fams):
    """The family a sample name belongs to (histogram/summary suffixes)."""
    if name in fams:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and name[:-len(suf)] in fams and \
                fams[name[:-len(suf)]]["type"] in ("histogram", "summary"):
            if suf == "_bucket" and \
                    fams[name[:-len(suf)]]["type"] != "histogram":
                break
            return name[:-len(suf)]
    return None


def parse(text, prefix="mtasts_"):
    if not text.endswith("\n"):
        raise ParseError("output does not end with a newline")
    fams, seen, done, current = {}, set(), set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d" % n
        if line == "":
            raise ParseError("%s: blank line" % where)
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or \
                    parts[1] not in ("HELP", "TYPE"):
                raise ParseError("%s: comment other than HELP/TYPE: %r" %
                                 (where, line))
            name = parts[2]
            if not NAME.match(name) or not name.startswith(prefix):
                raise ParseError("%s: bad metric name %r" % (where, name))
            if name in done:
                raise ParseError("%s: %s again after other families" %
                                 (where, name))
            f = fams.setdefault(name, {"type": None, "help": None,
                                       "samples": {}})
            if f["samples"]:
                raise ParseError("%s: %s after samples of %s" %
                                 (where, parts[1], name))
            if current is not None and current != name:
                done.add(current)
            current = name
            if parts[1] == "HELP":
                if f["help"] is not None:
                    raise ParseError("%s: second HELP for %s" %
                                     (where, name))
                f["help"] = _unescape_help(parts[3] if len(parts) > 3
                                           else "", where)
            else:
                if f["type"] is not None:
                    raise ParseError("%s: second TYPE for %s" %
                                     (where, name))
                if len(parts) != 4 or parts[3] not in TYPES:
                    raise ParseError("%s: bad TYPE %r" % (where, line))
                f["type"] = parts[3]
            continue
        m = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*").match(line)
        if not m:
            raise ParseError("%s: bad sample %r" % (where, line))
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, where)
        if line[i:i + 1] != " ":
            raise ParseError("%s: expected one space before the value" %
                             where)
        rest = line[i + 1:].split(" ")
        if len(rest) != 1:
            raise ParseError("%s: timestamp or extra fields: %r" %
                             (where, line))
        value = _float(rest[0], where)
        fam = _family(name, fams)
        if fam is None:
            raise ParseError("%s: sample %s before its HELP/TYPE" %
                             (where, name))
        f = fams[fam]
        if f["type"] is None or f["help"] is None:
            raise ParseError("%s: %s lacks HELP or TYPE" % (where, fam))
        if fam in done or (current is not None and current != fam):
            raise ParseError("%s: samples of %s are not contiguous" %
                             (where, fam))
        current = fam
        t = f["type"]
        if t == "histogram":
            if name == fam:
                raise ParseError("%s: histogram sample without suffix" %
                                 where)
            if (name.endswith("_bucket")) != ("le" in labels):
                raise ParseError("%s: le label only on _bucket" % where)
        if "le" in labels:
            _float(labels["le"], where + " le")
        if t == "counter" and (value < 0 or math.isnan(value)):
            raise ParseError("%s: counter %s negative or NaN" %
                             (where, name))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ParseError("%s: duplicate series %r" % (where, key))
        seen.add(key)
        f["samples"][key] = value
    for fam, f in fams.items():
        if f["type"] is None or f["help"] is None:
            raise ParseError("%s: HELP without TYPE or TYPE without HELP" %
                             fam)
        if f["type"] == "histogram":
            _check_histogram(fam, f)
    return fams


def _check_histogram(fam, f):
    groups = {}
    for (name, labels), v in f["samples"].items():
        other = tuple(kv for kv in labels if kv[0] != "le")
        g = groups.setdefault(other, {"b": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            g["b"].append((float(dict(labels)["le"]), v))
        elif name == fam + "_sum":
            g["sum"] = v
        elif name == fam + "_count":
            g["count"] = v
    for other, g in groups.items():
        b = sorted(g["b"])
        if not b or b[-1][0] != math.inf:
            raise ParseError("%s: no +Inf bucket" % fam)
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            raise ParseError("%s: buckets not cumulative" % fam)
        if g["count"] is None or g["sum"] is None or \
                g["count"] != b[-1][1]:
            raise ParseError("%s: _count missing or != +Inf bucket" % fam)


def series(fams):
    """{(name, frozenset(labels)): value} over all families."""
    out = {}
    for f in fams.values():
        for (name, labels), v in f["samples"].items():
            out[(name, labels)] = v
    return out
