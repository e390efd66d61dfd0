#!/bin/sh
# SPDX-License-Identifier: ISC
# test_retention.sh MTASTS - `mtasts report send` prunes the TLS-RPT spool,
# built reports and send state older than report_retention_days
# (decisions.md D-RET-1): never a spool day that was not reported, never
# anything of a day whose send is pending, only the names the job writes,
# never through a symbolic link; `report build` prunes nothing;
# report_retention_days = 0 keeps everything; the key is range-checked.
set -u
mtasts=$1
t=$(mktemp -d /tmp/test_retention.XXXXXX)
trap 'rm -rf "$t"' EXIT
fail=0
export MTASTS_LOG=stderr
bad() { echo "FAIL: $*"; fail=1; }
gone() { [ -e "$1" ] || [ -L "$1" ] && bad "not pruned: ${1#"$t"/}"; }
kept() { [ -e "$1" ] || [ -L "$1" ] || bad "pruned: ${1#"$t"/}"; }

DAY=86400
D0301=1709251200	# 2024-03-01 00:00 UTC
D0303=$((D0301 + 2 * DAY))
D0305=$((D0301 + 4 * DAY))
D0320=$((D0301 + 19 * DAY))
NOW=$((D0301 + 45 * DAY + 43200))	# 2024-04-15 12:00 UTC
# 30 days: a day is old when its end is 30 days ago: 2024-03-15 and before.

setup() {
	rm -rf "$t/spool" "$t/reports" "$t/outside"
	mkdir -p "$t/spool" "$t/reports/state" "$t/outside/dir"
	s=$t/spool r=$t/reports st=$t/reports/state
	for d in 2024-03-01 2024-03-02 2024-03-03 2024-03-15 2024-03-16 \
	    2024-03-20; do
		echo '{}' >"$s/$d.jsonl"
	done
	echo >"$s/2024-03-01.jsonl.dropped"
	echo 'mine' >"$s/notes.txt"
	echo '{}' >"$s/2024-13-01.jsonl"
	echo 'outside' >"$t/outside/spool.jsonl"
	ln -s "$t/outside/spool.jsonl" "$s/2024-03-04.jsonl"
	# Reported days (the marker the send job leaves, D-RET-1).
	for d in 2024-03-01 2024-03-03 2024-03-04 2024-03-05 2024-03-15 \
	    2024-03-16 2024-03-20; do
		mkdir "$r/$d"
		: >"$r/$d/.spool-built"
	done
	f1="sender.test!a.test!$D0301!$((D0301 + DAY - 1))!20240301tx1.json"
	echo '{}' >"$r/2024-03-01/$f1"
	echo '{}' >"$r/2024-03-01/.tmp.4242.$f1"
	echo 'not ours' >"$r/2024-03-01/README"
	f3="sender.test!b.test!$D0303!$((D0303 + DAY - 1))!20240303.json"
	echo '{}' >"$r/2024-03-03/$f3"
	f5="sender.test!c.test!$D0305!$((D0305 + DAY - 1))!20240305.json"
	echo '{}' >"$r/2024-03-05/$f5"
	f20="sender.test!d.test!$D0320!$((D0320 + DAY - 1))!20240320.json"
	echo '{}' >"$r/2024-03-20/$f20"
	# A day directory that is a link out of report_dir.
	echo '{}' >"$t/outside/dir/$f5"
	: >"$t/outside/dir/.spool-built"
	ln -s "$t/outside/dir" "$r/2024-03-06"
	# Send state: delivered, pending (a retry), given up, recent.
	echo '{"first":1,"next":0,"attempts":1,"done":"mailto:x@a.test","gave_up":false}' \
	    >"$st/$f1.state"
	echo '{"first":1,"next":2,"attempts":2,"gave_up":false}' >"$st/$f3.state"
	echo '{"first":1,"next":0,"attempts":9,"gave_up":true}' >"$st/$f5.state"
	echo '{"first":1,"next":0,"attempts":1,"done":"mailto:x@d.test","gave_up":false}' \
	    >"$st/$f20.state"
	echo '{}' >"$st/.tmp.77.$f5.state"
	echo '{}' >"$st/unrelated.state"
	ln -s "$t/outside/spool.jsonl" "$st/sender.test!e.test!$D0301!1!x.json.state"
}

conf() {
	printf 'tlsrpt_dir = %s/spool\nreport_dir = %s/reports\ncache_dir = %s\nreport_contact = tlsrpt@sender.test\nreport_submitter = sender.test\n%s' \
	    "$t" "$t" "$t" "$1" >"$t/conf"
}

# report build prunes nothing.
setup
conf ""
"$mtasts" --config "$t/conf" report build --now "$NOW" >"$t/out" 2>"$t/err" ||
	bad "report build exited $?: $(cat "$t/err")"
kept "$s/2024-03-01.jsonl"
kept "$r/2024-03-01/$f1"
kept "$st/$f1.state"
grep -q '^retention' "$t/out" && bad "report build pruned: $(cat "$t/out")"

# report send prunes.
"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err"
rc=$?
[ "$rc" -eq 0 ] || bad "report send exited $rc: $(cat "$t/err")"
# reported, old: spool day, its reports, temp file, marker, state go.
gone "$s/2024-03-01.jsonl"
gone "$s/2024-03-01.jsonl.dropped"
gone "$s/2024-03-15.jsonl"
gone "$r/2024-03-01/$f1"
gone "$r/2024-03-01/.tmp.4242.$f1"
gone "$r/2024-03-01/.spool-built"
gone "$st/$f1.state"
gone "$r/2024-03-05"
gone "$st/$f5.state"
gone "$st/.tmp.77.$f5.state"
gone "$r/2024-03-15"
# what is not the job's stays, and the directory holding it.
kept "$r/2024-03-01/README"
kept "$s/notes.txt"
kept "$s/2024-13-01.jsonl"
kept "$st/unrelated.state"
# never reported: kept, and the operator is told.
kept "$s/2024-03-02.jsonl"
grep -q 'retention: 1 spool day(s) older than 30 days were never reported.*oldest 2024-03-02' \
    "$t/err" || bad "no warning for the unreported day: $(cat "$t/err")"
# a pending send keeps its whole day.
kept "$s/2024-03-03.jsonl"
kept "$r/2024-03-03/$f3"
kept "$r/2024-03-03/.spool-built"
kept "$st/$f3.state"
# recent days stay.
kept "$s/2024-03-16.jsonl"
kept "$s/2024-03-20.jsonl"
kept "$r/2024-03-16/.spool-built"
kept "$r/2024-03-20/$f20"
kept "$st/$f20.state"
# links are never followed, nor removed.
kept "$s/2024-03-04.jsonl"
kept "$t/outside/spool.jsonl"
kept "$r/2024-03-06"
kept "$t/outside/dir/$f5"
kept "$t/outside/dir/.spool-built"
kept "$st/sender.test!e.test!$D0301!1!x.json.state"
grep -q 'outside' "$t/outside/spool.jsonl" || bad "link target changed"
grep -q '^send reports=0 sent=0 already_sent=0 retry=0 later=0 gave_up=0 state_errors=0$' \
    "$t/out" || bad "send summary: $(grep '^send' "$t/out")"
# yesterday (2024-04-14) had nothing to send: marked as reported.
kept "$r/2024-04-14/.spool-built"
grep -q '^retention days=30 spool=3 reports=2 report_dirs=3 state=3 other=5 kept_pending=1 kept_unreported=1 errors=0$' \
    "$t/out" || bad "retention line: $(grep retention "$t/out")"

# A later run a day on: 2024-03-16 is old now.
"$mtasts" --config "$t/conf" report send --now "$((NOW + DAY))" \
    >"$t/out" 2>"$t/err" || bad "second send exited $?: $(cat "$t/err")"
gone "$s/2024-03-16.jsonl"
gone "$r/2024-03-16"
kept "$s/2024-03-20.jsonl"

# report_retention_days = 0 keeps everything.
setup
conf "report_retention_days = 0
"
"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err" ||
	bad "send with retention 0 exited $?: $(cat "$t/err")"
kept "$s/2024-03-01.jsonl"
kept "$r/2024-03-01/$f1"
kept "$st/$f1.state"
kept "$r/2024-03-05/$f5"
grep -q '^retention days=0 spool=0 reports=0' "$t/out" ||
	bad "retention 0: $(grep retention "$t/out")"

# A shorter retention, 7 days: 2024-03-20 goes too.
setup
conf "report_retention_days = 7
"
"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err" ||
	bad "send with retention 7 exited $?: $(cat "$t/err")"
gone "$s/2024-03-20.jsonl"
gone "$st/$f20.state"
kept "$s/2024-03-03.jsonl"

# The configured directories may be links (another disk): followed, as
# the operator configured them; what is inside them still is not.
setup
mv "$t/spool" "$t/spool.real"
mv "$t/reports" "$t/reports.real"
ln -s "$t/spool.real" "$t/spool"
ln -s "$t/reports.real" "$t/reports"
conf ""
"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err" ||
	bad "send through linked directories exited $?: $(cat "$t/err")"
gone "$t/spool.real/2024-03-01.jsonl"
gone "$t/reports.real/2024-03-05"
gone "$t/reports.real/state/$f1.state"
kept "$t/spool.real/2024-03-02.jsonl"
kept "$t/outside/dir/$f5"
rm -f "$t/spool" "$t/reports"
rm -rf "$t/spool.real" "$t/reports.real"

# A day whose TLSRPT record lookup failed (no report built for that
# domain yet) is not marked reported, so its spool day is never pruned.
rm -rf "$t/spool" "$t/reports"
mkdir -p "$t/spool" "$t/reports"
echo "{\"v\":1,\"t\":$((D0301 + 3600)),\"d\":\"tf.org\",\"pt\":\"no-policy-found\"}" \
    >"$t/spool/2024-03-01.jsonl"
conf "resolver = 127.0.0.1@9
dns_timeout = 1
dnssec = off
"
"$mtasts" --config "$t/conf" report send --now "$((D0301 + DAY + 7200))" \
    >"$t/out" 2>"$t/err"
grep -q ' tempfail=1 ' "$t/out" || bad "no tempfail: $(cat "$t/out" "$t/err")"
gone "$t/reports/2024-03-01/.spool-built"
"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err"
kept "$t/spool/2024-03-01.jsonl"
grep -q 'never reported.*oldest 2024-03-01' "$t/err" ||
	bad "tempfail day: no warning: $(cat "$t/err")"

# The key is range-checked (whole days 0..3650).
for v in 3651 -1 7d ""; do
	conf "report_retention_days = $v
"
	"$mtasts" --config "$t/conf" report send --now "$NOW" >"$t/out" 2>"$t/err"
	rc=$?
	[ "$rc" -eq 2 ] || bad "report_retention_days = $v: exit $rc"
	grep -q "conf:6: report_retention_days: " "$t/err" ||
		bad "report_retention_days = $v: $(cat "$t/err")"
done
conf "report_retention_days = 3651
"
"$mtasts" --config "$t/conf" report send >/dev/null 2>"$t/err"
grep -q 'expected whole days 0..3650, got "3651"' "$t/err" ||
	bad "range message: $(cat "$t/err")"

[ "$fail" -eq 0 ] && echo "test_retention: ok"
exit "$fail"
