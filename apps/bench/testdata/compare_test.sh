#!/bin/sh
# bench.compare: `iomux-bench compare` end to end, small: two models that
# run and one that must be marked n/a (blocking at 10 connections) rather
# than hang, 1 s runs. Checks the report's files, the CSV's rows, what the
# charts and the report must say, and that bad options are refused.
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

html=$tmp/report/report.html
grep -q 'within 1% of the true value' "$html" ||
  fail "report.html does not state the latency's resolution"
grep -q '3 significant digits' "$html" || fail "report.html: no digits stated"
grep -q '1\.0×' "$html" && fail "report.html says 1.0×: a finding of nothing"
# Three models, three colours and two shapes (epoll and reactor circles of
# different colours, blocking a square), and the legend says which is which.
svg=$tmp/report/throughput.svg
colours=$(grep -o 'fill="#[0-9A-F]\{6\}"' "$svg" | sort -u | wc -l)
[ "$colours" -ge 3 ] || fail "throughput.svg: $colours marker colours, wanted 3"
grep -q '<rect x=' "$svg" && grep -q '<circle ' "$svg" ||
  fail "throughput.svg: markers not of distinct shapes"
grep -q 'dashed, hollow: other libraries' "$svg" ||
  fail "throughput.svg: the legend does not tell anchors apart"
grep -q 'p99 latency' "$tmp/report/latency.svg" || fail "latency.svg: no y axis"
head -1 "$csv" | grep -q ',idle$' || fail "results.csv: no idle column"

# Options: each bad one refused in one line that points at --help.
for bad in "--reps 3x" "--reps 4" "--size 64k" "--busy 5" "--nope"; do
  # shellcheck disable=SC2086 # the words are the options
  "$bench" compare $bad --echo "$echo" >"$tmp/out" 2>&1
  status=$?
  lines=$(wc -l <"$tmp/out")
  if [ "$status" -ne 2 ] || [ "$lines" -ne 1 ] ||
     ! grep -q "; try 'iomux-bench compare --help'$" "$tmp/out"; then
    fail "'$bad': exit $status, $lines lines: $(cat "$tmp/out")"
  fi
done

[ "$failed" -eq 0 ] && echo "ok   bench.compare"
exit "$failed"
