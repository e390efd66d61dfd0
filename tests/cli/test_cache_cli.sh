#!/bin/sh
# SPDX-License-Identifier: ISC
# test_cache_cli.sh MTASTS - `mtasts cache list`, `refresh` and `cache
# purge` on an empty cache (issue 12 item 10: qsort(NULL, 0) made the
# sanitizer build exit 1), and the purge of stale temp files and unused
# lock files (D-PURGE-1) through the command.
set -u
mtasts=$1
t=$(mktemp -d /tmp/test_cache_cli.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail=0
mkdir -m 2770 "$t/cache"
printf 'cache_dir = %s\ntlsrpt_dir = %s/spool\n' "$t/cache" "$t" >"$t/conf"
run() {
	"$mtasts" --config "$t/conf" "$@" >"$t/out" 2>"$t/err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "FAIL: mtasts $* exited $rc"
		cat "$t/err"
		fail=1
	fi
}
run cache list
[ -s "$t/out" ] && { echo "FAIL: cache list of an empty cache printed"; fail=1; }
run refresh
grep -q "0 cached domains" "$t/out" || { echo "FAIL: refresh: $(cat "$t/out")"; fail=1; }
run cache purge
run cache flush

# Leftovers of dead processes: one stale temp file, an unused lock file,
# a fresh temp file (a store in progress, kept).
: >"$t/cache/.gone.example.json.4242.0badcafe.tmp"
touch -d '3 hours ago' "$t/cache/.gone.example.json.4242.0badcafe.tmp"
: >"$t/cache/.gone.example.lock"
: >"$t/cache/.busy.example.json.4243.00c0ffee.tmp"
run cache purge
grep -q "removed 1 stale temp file, 1 unused lock file" "$t/out" ||
	{ echo "FAIL: cache purge: $(cat "$t/out")"; fail=1; }
[ -e "$t/cache/.gone.example.json.4242.0badcafe.tmp" ] &&
	{ echo "FAIL: stale temp file left"; fail=1; }
[ -e "$t/cache/.gone.example.lock" ] && { echo "FAIL: lock file left"; fail=1; }
[ -e "$t/cache/.busy.example.json.4243.00c0ffee.tmp" ] ||
	{ echo "FAIL: a fresh temp file was removed"; fail=1; }
: >"$t/cache/.gone2.example.lock"
run refresh
[ -e "$t/cache/.gone2.example.lock" ] &&
	{ echo "FAIL: refresh left an unused lock file"; fail=1; }
[ "$fail" -eq 0 ] && echo "test_cache_cli: ok"
exit "$fail"
