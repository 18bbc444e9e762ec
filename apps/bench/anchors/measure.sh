#!/bin/bash
# The anchors next to iomux-echo's reactor and epoll models, one server at a
# time, in an order that rotates each round: the server pinned to CPU 0,
# `iomux-bench load` (64-byte messages, one in flight per connection) pinned
# to CPU 1. Each server is run twice per round and connection count:
#
#   - a plain run (1 s warm-up, D s measured): messages per second of the
#     server's own CPU time, from /proc (load --server-pid);
#   - a run of 2 s, no warm-up, with the server started under `perf stat`:
#     its system calls (raw_syscalls:sys_enter) divided by the messages
#     echoed, and among them epoll_wait, epoll_ctl, and brk/mmap/munmap
#     (memory). The count covers the server's whole life, so accepting and
#     closing the connections is in it: a few calls per connection, under
#     0.03 per message here.
#
# perf is kept out of the first run because counting tracepoints costs the
# server a little per system call, more for servers that make more of them.
# Prints every run, then per server and connection count the medians over
# the rounds and the median of the per-round ratios to the first server.
#
#   apps/bench/anchors/measure.sh [-r ROUNDS] [-c CONNS,...] [-d SECONDS]
#                                 [SERVER...]
#   SERVER: an iomux-echo model (reactor, epoll, ...) or libuv, libev,
#   libevent; default: reactor epoll libuv libev libevent. BUILD=DIR names
#   the build tree (default: build). Needs taskset and perf.
set -euo pipefail

rounds=3 conns_list=100,1000 duration=3
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "$1"; }
while getopts r:c:d:h opt; do
  case $opt in
    r) rounds=$OPTARG ;;
    c) conns_list=$OPTARG ;;
    d) duration=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
  esac
done
shift $((OPTIND - 1))
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(reactor epoll libuv libev libevent)

build=${BUILD:-$(dirname "$0")/../../../build}
bench=$build/apps/bench/iomux-bench
for tool in taskset perf; do
  command -v "$tool" >/dev/null || { echo "measure: needs $tool" >&2; exit 2; }
done
[ -x "$bench" ] || { echo "measure: build first, or set BUILD" >&2; exit 2; }

tmp=$(mktemp -d)
server_pid= perf_pid=
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

events=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait
events+=,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl
events+=,syscalls:sys_enter_brk,syscalls:sys_enter_mmap
events+=,syscalls:sys_enter_munmap

# start NAME [perf]: the server on CPU 0, under `perf stat` if asked; sets
# server_pid and port.
start() {
  local cmd
  case $1 in
    libuv) cmd=("$build/apps/bench/uv_echo") ;;
    libev) cmd=("$build/apps/bench/ev_echo") ;;
    libevent) cmd=("$build/apps/bench/event_echo") ;;
    *) cmd=("$build/apps/echo/iomux-echo" --model "$1") ;;
  esac
  : >"$tmp/port"
  if [ $# -gt 1 ]; then
    perf stat -x, -o "$tmp/perf" -e "$events" -- \
      taskset -c 0 "${cmd[@]}" --port 0 >"$tmp/port" &
    perf_pid=$!
  else
    taskset -c 0 "${cmd[@]}" --port 0 >"$tmp/port" &
    server_pid=$!
  fi
  port=
  for _ in $(seq 50); do
    port=$(grep -o '^[0-9]\+$' "$tmp/port" | tail -1) && [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "measure: $1 printed no port" >&2; exit 1; }
  # perf's child: taskset, which has become the server
  [ -z "$perf_pid" ] || server_pid=$(pgrep -P "$perf_pid")
}

stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "${perf_pid:-$server_pid}" 2>/dev/null || true
  server_pid= perf_pid=
}

# load CONNS WARMUP SECONDS: drive the server; JSON to $tmp/load.json.
load() {
  taskset -c 1 "$bench" load --port "$port" --conns "$1" --size 64 \
    --warmup "$2" --duration "$3" --server-pid "$server_pid" --json \
    >"$tmp/load.json" 2>/dev/null || true
}

field() { grep -o "\"$1\":[0-9.]*" "$tmp/load.json" | head -1 | cut -d: -f2; }

# clean: the last load saw no error; if it did, say which on stderr.
clean() {
  grep -q '"errors":{"mismatch":0,"lost":0,"stalled":0,"connect_failed":0}' \
    "$tmp/load.json" && return
  echo "measure: $name, $conns connections: load failed:" \
    "$(grep -o '"errors":{[^}]*}' "$tmp/load.json" || echo no report)" >&2
  return 1
}

# count EVENT...: the sum of those events' counts in $tmp/perf.
count() {
  local sum=0 e
  for e in "$@"; do
    sum=$((sum + $(awk -F, -v e="$e" '$3 == e { n += $1 } END { print n + 0 }' \
      "$tmp/perf")))
  done
  echo "$sum"
}

# per COUNT: COUNT divided by $msgs, the messages the server echoed.
per() { awk -v c="$1" -v m="$msgs" 'BEGIN { printf "%.3f", c / m }'; }

# One line per run: round conns server msg/cpu-s syscalls wait ctl mem.
results=$tmp/results
printf '%-5s %5s %-9s %11s %9s %7s %7s %7s\n' round conns server \
  msg/cpu-s sys/msg wait ctl mem
IFS=, read -ra conns_all <<<"$conns_list"
for r in $(seq "$rounds"); do
  for conns in "${conns_all[@]}"; do
    n=${#servers[@]}
    for i in $(seq 0 $((n - 1))); do
      name=${servers[$(((i + r - 1) % n))]}
      start "$name"
      load "$conns" 1 "$duration"
      cpu=errors
      clean && cpu=$(field messages_per_cpu_s)
      stop

      start "$name" perf
      load "$conns" 0 2
      stop
      if clean; then
        msgs=$(field messages)
        sys=$(per "$(count raw_syscalls:sys_enter)")
        wait_=$(per "$(count syscalls:sys_enter_epoll_wait \
          syscalls:sys_enter_epoll_pwait)")
        ctl=$(per "$(count syscalls:sys_enter_epoll_ctl)")
        mem=$(per "$(count syscalls:sys_enter_brk syscalls:sys_enter_mmap \
          syscalls:sys_enter_munmap)")
      else
        sys=errors wait_=- ctl=- mem=-
      fi
      printf '%-5s %5s %-9s %11s %9s %7s %7s %7s\n' "$r" "$conns" "$name" \
        "$cpu" "$sys" "$wait_" "$ctl" "$mem" | tee -a "$results"
    done
  done
done

# Medians over the rounds; the ratio is the median of the per-round ratios
# msg/cpu-s(server) / msg/cpu-s(first server), each from one round.
echo
printf '%5s %-9s %11s %10s %9s %7s %7s %7s\n' conns server msg/cpu-s \
  "ratio" sys/msg wait ctl mem
for conns in "${conns_all[@]}"; do
  for name in "${servers[@]}"; do
    awk -v c="$conns" -v s="$name" -v base="${servers[0]}" '
      function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++)
          for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
          }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      $2 == c && $3 == base && $4 != "errors" { b[$1] = $4 }
      $2 == c && $3 == s {
        if ($4 != "errors") { cpu[++nc] = $4; own[$1] = $4 }
        if ($5 != "errors") {
          sy[++ns] = $5; w[ns] = $6; ct[ns] = $7; m[ns] = $8
        }
      }
      END {
        for (r in own) if (r in b) ratio[++nr] = own[r] / b[r]
        printf "%5s %-9s %11s %10s %9s %7s %7s %7s\n", c, s,
          nc ? sprintf("%.0f", median(cpu, nc)) : "-",
          nr ? sprintf("%.2f", median(ratio, nr)) : "-",
          ns ? median(sy, ns) : "-", ns ? median(w, ns) : "-",
          ns ? median(ct, ns) : "-", ns ? median(m, ns) : "-"
      }' "$results"
  done
done
