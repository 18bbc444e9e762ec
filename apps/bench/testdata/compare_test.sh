#!/bin/sh
# bench.compare: `iomux-bench compare` end to end, small: two models that
# run and one that must be marked n/a (blocking at 10 connections) rather
# than hang, 1 s runs. Checks the report's files and the CSV's rows.
#
# usage: compare_test.sh IOMUX_BENCH IOMUX_ECHO
set -u
bench=$1 echo=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
  echo "FAIL $*"
  failed=1
}

timeout 55 "$bench" compare --models epoll,reactor,blocking --conns 1,10 \
  --duration 1 --warmup 0 --reps 1 --echo "$echo" --out "$tmp/report" \
  >"$tmp/out" 2>"$tmp/err"
status=$?
cat "$tmp/out"
[ "$status" -eq 0 ] || { fail "compare exited $status"; cat "$tmp/err"; }

for f in report.html results.csv results.json throughput.svg latency.svg \
         cpu.svg memory.svg; do
  [ -s "$tmp/report/$f" ] || fail "$f missing or empty"
done
for f in "$tmp"/report/*.svg; do
  grep -q '^<svg ' "$f" && grep -q '</svg>' "$f" || fail "$f: not an SVG"
done

csv=$tmp/report/results.csv
# One row per run plus one per cell not run: 5 runs, blocking at 10 n/a.
rows=$(($(wc -l <"$csv") - 1))
[ "$rows" -eq 6 ] || fail "results.csv has $rows rows, wanted 6"
for cell in epoll,1 epoll,10 reactor,1 reactor,10 blocking,1; do
  grep -q "^$cell,1,[0-9]*,ok," "$csv" || fail "no ok run for $cell in the CSV"
done
grep -q '^blocking,10,1,[0-9]*,n/a,"n/a (serves 1 at a time)' "$csv" ||
  fail "blocking at 10 connections not marked n/a"
grep -q '"medians":\[' "$tmp/report/results.json" || fail "JSON: no medians"
grep -Eq '^epoll +[0-9.]+k? \| ' "$tmp/out" || fail "no table row for epoll"
grep -q 'report: .*report.html' "$tmp/out" || fail "no word of the report"

[ "$failed" -eq 0 ] && echo "ok   bench.compare"
exit "$failed"
