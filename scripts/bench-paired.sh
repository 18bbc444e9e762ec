#!/bin/bash
# Two echo servers measured at the same time, so that what the machine does
# to one (a noisy neighbour, a slower core) it does to the other: both
# servers pinned to CPU 0, each driven by its own `iomux-bench load` pinned
# to CPU 1. Prints, per round, each server's messages per second of its own
# CPU and their ratio (B / A).
#
# Good for what a server spends per message (a feature on or off). Not for
# what changes when a server sleeps: while one sleeps the other gets the
# CPU, which changes its batching too. `iomux-bench compare` is the solo,
# one-after-the-other measurement.
#
#   scripts/bench-paired.sh [-r ROUNDS] [-c CONNS] [-d SECONDS] A B
#   A, B: "MODEL" or "VAR=VALUE ... MODEL", e.g.
#   scripts/bench-paired.sh uring "IOM_URING_OFF=multishot uring"
#   ECHO=PATH among the words runs that iomux-echo binary (another build,
#   for a before/after comparison of one model):
#   scripts/bench-paired.sh "ECHO=../old/build/apps/echo/iomux-echo reactor" reactor
set -euo pipefail

rounds=4 conns=1000 duration=4
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "$1"; }
while getopts r:c:d:h opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    c) conns=$OPTARG ;;
    d) duration=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage 2

build=${BUILD:-$(dirname "$0")/../build}
echo_bin=$build/apps/echo/iomux-echo
bench_bin=$build/apps/bench/iomux-bench
[ -x "$echo_bin" ] && [ -x "$bench_bin" ] || {
  echo "bench-paired: build first (make), or set BUILD" >&2
  exit 2
}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# start_server SPEC NAME: "VAR=V ... MODEL" on CPU 0; its pid in $tmp/NAME.pid
start_server() {
  local words=($1) model env=() bin=$echo_bin w
  model=${words[-1]}
  for w in "${words[@]:0:${#words[@]}-1}"; do
    case $w in
      ECHO=*) bin=${w#ECHO=} ;;
      *) env+=("$w") ;;
    esac
  done
  env "${env[@]}" taskset -c 0 "$bin" --model "$model" --port 0 \
    >"$tmp/$2.port" &
  echo $! >"$tmp/$2.pid"
  pids+=($!)
}

port_of() {
  for _ in $(seq 50); do
    grep -qo '[0-9]\+' "$tmp/$1.port" 2>/dev/null && break
    sleep 0.1
  done
  grep -o '[0-9]\+' "$tmp/$1.port" | tail -1
}

# per_cpu JSON: the server's messages per CPU-second, or "errors"
per_cpu() {
  if ! grep -q '"errors":{"mismatch":0,"lost":0,"stalled":0,"connect_failed":0}' "$1"; then
    echo errors
    return
  fi
  grep -o '"messages_per_cpu_s":[0-9.]*' "$1" | cut -d: -f2 | cut -d. -f1
}

printf '%-6s %14s %14s %7s\n' round "A msg/cpu-s" "B msg/cpu-s" "B/A"
for r in $(seq "$rounds"); do
  pids=()
  start_server "$1" a
  start_server "$2" b
  pa=$(port_of a) pb=$(port_of b)
  taskset -c 1 "$bench_bin" load --port "$pa" --conns "$conns" --size 64 \
    --duration "$duration" --warmup 1 --server-pid "$(cat "$tmp/a.pid")" \
    --json >"$tmp/a.json" 2>/dev/null &
  la=$!
  taskset -c 1 "$bench_bin" load --port "$pb" --conns "$conns" --size 64 \
    --duration "$duration" --warmup 1 --server-pid "$(cat "$tmp/b.pid")" \
    --json >"$tmp/b.json" 2>/dev/null &
  lb=$!
  wait "$la" "$lb" || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  a=$(per_cpu "$tmp/a.json") b=$(per_cpu "$tmp/b.json")
  if [ "$a" = errors ] || [ "$b" = errors ]; then
    printf '%-6s %14s %14s %7s\n' "$r" "$a" "$b" -
  else
    printf '%-6s %14s %14s %7s\n' "$r" "$a" "$b" \
      "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
  fi
done
