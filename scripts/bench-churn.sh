#!/bin/bash
# epoll_ctl calls per echoed message for `iomux-echo --model reactor` under
# flow-control churn: 1 MiB messages, 8 in flight on each of 4 connections,
# more than the kernel's socket buffers hold, so sends are partial and each
# stream pauses reading, watches for writability, and resumes, over and
# over. Counts come from perf over the 4 s of load (CONNS, SIZE, PIPE
# override the shape).
#   scripts/bench-churn.sh [BUILD_DIR]     (default: build)
set -eu
build=${1:-$(dirname "$0")/../build}
echo_bin=$build/apps/echo/iomux-echo bench_bin=$build/apps/bench/iomux-bench
out=$(mktemp)
$echo_bin --model reactor --port 0 > "$out" &
pid=$!
sleep 0.3
port=$(grep -o '[0-9]*$' "$out" | head -1)
perf stat -x, -e syscalls:sys_enter_epoll_ctl -e raw_syscalls:sys_enter -p $pid -o /tmp/perf.$pid -- sleep 4 &
perfpid=$!
$bench_bin load --port "$port" --conns ${CONNS:-4} --size ${SIZE:-1048576} --pipeline ${PIPE:-8} --duration 4 --warmup 0 --csv > /tmp/load.$pid
wait $perfpid
kill $pid; wait $pid 2>/dev/null || true
msgs=$(tail -1 /tmp/load.$pid | cut -d, -f9)
ctl=$(grep epoll_ctl /tmp/perf.$pid | cut -d, -f1)
all=$(grep raw_syscalls /tmp/perf.$pid | cut -d, -f1)
rm -f "$out" /tmp/load.$pid /tmp/perf.$pid
echo "messages=$msgs epoll_ctl=$ctl per_message=$(echo "scale=3; $ctl / $msgs" | bc) syscalls=$all"
