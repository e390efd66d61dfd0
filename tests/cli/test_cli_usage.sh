#!/bin/sh
# SPDX-License-Identifier: ISC
# test_cli_usage.sh MTASTS - the mtasts command's interface (issue 13):
# --help/-h on stdout with exit 0 for every command and sub-command, usage
# errors that say what was wrong (then the usage) on stderr with exit 2
# (check: 3), the exit-code table (decisions.md D-CLI-EXIT-1), --json for
# `cache list` and `refresh`, the refresh summary with its failure count,
# and messages that name their subject once.
set -u
mtasts=$1
t=$(mktemp -d /tmp/test_cli_usage.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail=0
export MTASTS_LOG=stderr
mkdir -m 2770 "$t/cache"
printf 'cache_dir = %s\ntlsrpt_dir = %s/spool\nreport_dir = %s/reports\n' \
    "$t/cache" "$t" "$t" >"$t/conf"
bad() { echo "FAIL: $*"; fail=1; }

# run WANT_RC ARGS...: out in $t/out, err in $t/err
run() {
	want=$1
	shift
	"$mtasts" "$@" >"$t/out" 2>"$t/err" </dev/null
	rc=$?
	[ "$rc" -eq "$want" ] || bad "mtasts $* exited $rc, want $want: $(cat "$t/err")"
}

# --help: stdout, exit 0, nothing on stderr, no configuration needed.
for args in "--help" "-h" "help" "lookup --help" "lookup -h" \
    "refresh --help" "cache --help" "cache list --help" "cache show --help" \
    "cache flush --help" "cache purge --help" "check --help" \
    "check --local --help" "report --help" "report build --help" \
    "report send --help" "version --help" "help cache" \
    "--config /nonexistent/conf lookup --help"; do
	# shellcheck disable=SC2086
	run 0 $args
	grep -q '^usage: mtasts' "$t/out" || bad "$args: no usage on stdout"
	[ -s "$t/err" ] && bad "$args: wrote to stderr: $(cat "$t/err")"
done
run 0 lookup --help
grep -q 'lookup \[--json\]' "$t/out" || bad "lookup --help: not lookup's usage"
run 0 report build --help
grep -q 'report build' "$t/out" || bad "report build --help: not report's usage"
run 0 check --help
grep -q 'check --local' "$t/out" || bad "check --help: not check's usage"

# Usage errors: "mtasts: <what was wrong>" then the usage, on stderr.
# usage_error RC "MESSAGE" ARGS...
usage_error() {
	want=$1
	msg=$2
	shift 2
	run "$want" --config "$t/conf" "$@"
	[ -s "$t/out" ] && bad "$*: wrote to stdout: $(cat "$t/out")"
	first=$(head -n 1 "$t/err")
	[ "$first" = "mtasts: $msg" ] ||
		bad "$*: first stderr line \"$first\", want \"mtasts: $msg\""
	sed -n 2p "$t/err" | grep -q 'usage: mtasts' ||
		bad "$*: no usage after the message: $(cat "$t/err")"
}
usage_error 2 "missing COMMAND"
usage_error 2 'unknown command "frobnicate"' frobnicate
usage_error 2 "mtasts: unknown option --frob" --frob lookup a.test
usage_error 2 "lookup: missing DOMAIN" lookup
usage_error 2 "lookup: missing DOMAIN" lookup --json
usage_error 2 "lookup: unknown option --foo" lookup --foo a.test
usage_error 2 "lookup: --mx needs a value" lookup --mx
usage_error 2 'lookup: unexpected argument "b.test"' lookup a.test b.test
usage_error 2 'lookup: --now: expected Unix seconds, got "soon"' \
    lookup --now soon a.test
usage_error 2 "refresh: unknown option --all" refresh --all
usage_error 2 "cache: missing sub-command (list, show, flush or purge)" cache
usage_error 2 'cache: unknown sub-command "drop"' cache drop
usage_error 2 "cache show: missing DOMAIN" cache show
usage_error 2 "cache list: unknown option --long" cache list --long
usage_error 2 'cache purge: --now: expected Unix seconds, got "0"' \
    cache purge --now 0
usage_error 2 "report: missing sub-command (build or send)" report
usage_error 2 'report: unknown sub-command "mail"' report mail
usage_error 2 "report build: unknown option --to" report build --to x
usage_error 2 "report send: --out is for report build only" \
    report send --out "$t/x"
usage_error 2 'report: --date: expected YYYY-MM-DD, got "2024-02-30"' \
    report build --date 2024-02-30
usage_error 2 'version: unexpected argument "x"' version x
# check keeps its monitoring-plugin codes: 3 = could not check.
usage_error 3 "check: missing DOMAIN (or --local)" check
usage_error 3 "check: unknown option --bogus" check --bogus a.test
usage_error 3 "check --local: unknown option --bogus" check --local --bogus
usage_error 3 "check --local: more than 8 --user options" check --local \
    --user a --user b --user c --user d --user e --user f --user g --user h \
    --user i
usage_error 3 'check: --port: expected a number 1..65535, got "0"' \
    check --port 0 a.test

# Exit codes: 3 not cached; 1 the operation failed.
run 3 --config "$t/conf" cache show nothere.test
grep -q 'nothere.test: not cached' "$t/err" || bad "cache show: $(cat "$t/err")"
# A configuration error: 2, naming the file and line.
printf 'refresh_concurrency = 0\n' >"$t/bad.conf"
run 2 --config "$t/bad.conf" refresh
grep -q "^mtasts: $t/bad.conf:1: refresh_concurrency: " "$t/err" ||
	bad "config error: $(cat "$t/err")"
grep -q 'seconds' "$t/err" && bad "refresh_concurrency is not in seconds: $(cat "$t/err")"

# --json: cache list and refresh.
run 0 --config "$t/conf" cache list --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d=={"version":1,"domains":[]}, d' \
    "$t/out" || bad "cache list --json: $(cat "$t/out")"
# One negative entry, one unusable entry (D-CACHE-6).
printf '{"format": 1, "domain": "neg.test", "id": "", "fetched_at": 0, "expires_at": 0, "txt_checked_at": %s, "txt_id": "", "policy": null}' \
    "$(date +%s)" >"$t/cache/neg.test.json"
printf 'not json' >"$t/cache/broken.test.json"
run 0 --config "$t/conf" cache list --json
python3 - "$t/out" <<'PY' || bad "cache list --json: $(cat "$t/out")"
import json, sys
d = json.load(open(sys.argv[1]))
by = {x["domain"]: x for x in d["domains"]}
assert by["broken.test"]["state"] == "unusable", by
assert "reason" in by["broken.test"], by
PY
run 0 --config "$t/conf" cache list
grep -q '^broken.test  *UNUSABLE' "$t/out" || bad "cache list: $(cat "$t/out")"
# refresh: the unusable entry cannot be fetched here (no network in the
# config: a resolver that does not answer): one failure, exit 4.
printf 'resolver = 127.0.0.1@9\ndns_timeout = 1\nfetch_timeout = 1\n' >>"$t/conf"
run 4 --config "$t/conf" refresh
grep -q '^refresh: 2 cached domains: 0 refreshed, 0 unchanged, 1 failed, 0 purged, 1 skipped$' \
    "$t/out" || bad "refresh summary: $(cat "$t/out")"
grep -q 'refresh: broken.test: FAILED' "$t/err" || bad "refresh log: $(cat "$t/err")"
run 4 --config "$t/conf" refresh --json
python3 - "$t/out" <<'PY' || bad "refresh --json: $(cat "$t/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and d["cached"] == 2, d
assert (d["refreshed"], d["unchanged"], d["failed"], d["purged"],
        d["skipped"]) == (0, 0, 1, 0, 1), d
assert d["exit"] == 4, d
r = {x["domain"]: x for x in d["domains"]}
assert r["broken.test"]["result"] == "failed" and r["broken.test"]["reason"], r
assert r["neg.test"]["result"] == "skipped", r
PY

# Each message names its subject once: a refused cache directory.
chmod 0777 "$t/cache"
run 1 --config "$t/conf" cache list
grep -q "cache: $t/cache: directory is world-writable" "$t/err" ||
	bad "world-writable cache: $(cat "$t/err")"
grep -q 'cache: cache:' "$t/err" && bad "doubled prefix: $(cat "$t/err")"
chmod 2770 "$t/cache"

# mtasts(8) documents every command and option the usage names, and
# renders without warnings.
man8=${2:-}
if [ -n "$man8" ]; then
	"$mtasts" --help >"$t/usage"
	for w in $(grep -o -- '--[a-z-]*' "$t/usage" | sort -u); do
		grep -qF -- "Fl ${w#-}" "$man8" ||
			bad "mtasts.8 does not document $w"
	done
	for c in lookup refresh "cache list" "cache show" "cache flush" \
	    "cache purge" check "report build" "report send" version help; do
		grep -qE "^\.It Cm $c( |\$)" "$man8" ||
			bad "mtasts.8: no entry for $c"
	done
	if command -v man >/dev/null 2>&1; then
		MANWIDTH=80 man --warnings -l "$man8" >/dev/null 2>"$t/manerr"
		[ -s "$t/manerr" ] && bad "mtasts.8 warnings: $(cat "$t/manerr")"
	fi
fi

[ "$fail" -eq 0 ] && echo "test_cli_usage: ok"
exit "$fail"
