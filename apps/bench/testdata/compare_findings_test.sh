#!/bin/sh
# bench.compare.findings: what the report makes of a model that leaves a
# client unserved, and the --idle scenario, small. "stall" is bad_echo
# leaving its first client without an echo (standing in for threads that
# cannot keep up); a wrapper serves it, and epoll and select, as the
# models of an iomux-echo. Three reps of 0.3 s runs, so the charts have
# ranges to draw; the idle scenario at 0 and 20 idle connections, 2 busy.
#
# usage: compare_findings_test.sh IOMUX_BENCH IOMUX_ECHO BAD_ECHO
set -u
bench=$1 echo=$2 bad=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

fail() {
  echo "FAIL $*"
  failed=1
}

cat >"$tmp/echo" <<WRAP
#!/bin/sh
case "\$2" in
list) printf 'epoll\nselect\nstall\n' ;;
stall)
  "$bad" --mode stall --after 0 --port 0 &
  pid=\$!
  trap 'kill \$pid; exit 0' TERM
  wait \$pid ;;
*) exec "$echo" "\$@" ;;
esac
WRAP
chmod +x "$tmp/echo"

timeout 100 "$bench" compare --models epoll,select,stall --conns 4 \
  --idle 0,20 --busy 2 --duration 0.3 --warmup 0 --reps 3 \
  --echo "$tmp/echo" --out "$tmp/report" >"$tmp/out" 2>"$tmp/err"
status=$?
cat "$tmp/out"
[ "$status" -eq 0 ] || { fail "compare exited $status"; cat "$tmp/err"; }

report=$tmp/report
csv=$report/results.csv
html=$report/report.html

# The unserved client: in the table, the CSV, the findings and the chart.
grep -Eq '^stall +unserved 1/4' "$tmp/out" || fail "table: stall not unserved 1/4"
[ "$(grep -c '^stall,4,[0-9],[0-9],unserved,"1 of 4 clients not served' \
  "$csv")" -eq 3 ] || fail "results.csv: stall not unserved in each of 3 runs"
grep -q '<li class="unserved">stall at 4 connections (in all 3 runs' "$html" ||
  fail "report.html: no finding for stall at 4 connections"
grep -q '1 of 4 clients not served in the 0.3 s run (1 stalled' "$html" ||
  fail "report.html: the finding does not carry the load's numbers"
grep -q 'from: stall at 4 conns' "$html" || fail "report.html: finding names no cell"
grep -q 'error: stalled' "$html" "$csv" && fail "an unserved client shown as an error"
grep -q 'did not serve every client there' "$report/throughput.svg" ||
  fail "throughput.svg: no mark for the unserved cell"
grep -q 'bars: their range' "$report/throughput.svg" ||
  fail "throughput.svg: the runs' range is not drawn"

# The idle scenario: its rows, its charts, its section.
for m in epoll select; do
  for n in 0 20; do
    grep -Eq "^$m,2,[0-9],[0-9],ok,.*,$n\$" "$csv" ||
      fail "results.csv: no ok run of $m with 2 busy among $n idle"
  done
done
for f in idle-cpu.svg idle-throughput.svg; do
  grep -q '^<svg ' "$report/$f" || fail "$f missing"
done
grep -q 'idle connections beside the busy ones' "$report/idle-cpu.svg" ||
  fail "idle-cpu.svg: wrong x axis"
grep -q 'Few busy connections among many idle ones' "$html" ||
  fail "report.html: no idle section"
grep -q '"idle_medians":\[' "$report/results.json" || fail "JSON: no idle medians"
grep -Eq '^select +[0-9.]+ µs \|' "$tmp/out" || fail "no idle table row for select"

[ "$failed" -eq 0 ] && echo "ok   bench.compare.findings"
exit "$failed"
