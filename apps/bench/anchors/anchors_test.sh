#!/bin/bash
# bench.anchors: each anchor given on the command line echoes every byte, on
# the usual path (64-byte messages, 100 connections, 256 KiB messages with 8
# in flight on 4) -- `iomux-bench load` checks every byte and exits 1 on any
# mismatch, loss or stall -- and to a client that sends 64 MiB before it
# reads anything: far more than the socket buffers hold, so the server must
# queue output and then stop reading (its RSS stays under 16 MiB), and still
# echo every byte in order once the client reads.
#
#   anchors_test.sh [--sanitized] IOMUX_BENCH ANCHOR...
#
# --sanitized (an ASan build): no RSS bound, since the sanitizer's shadow
# memory and quarantine of freed blocks are in the RSS, and no leak check
# at exit, since what the libraries keep until exit is not the anchors'.
set -euo pipefail

rss_max=$((16 << 10)) # KiB
if [ "${1:-}" = --sanitized ]; then
  rss_max=
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
  shift
fi
bench=$1
shift
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
blob=$tmp/blob
head -c $((64 << 20)) /dev/urandom >"$blob"

# slow_reader PORT: the 64 MiB client; fails if the echo differs or the
# server's RSS passed 16 MiB while the client was not reading.
slow_reader() {
  exec 3<>"/dev/tcp/127.0.0.1/$1"
  cat "$blob" >&3 &
  local writer=$! rss
  sleep 1
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
  head -c $((64 << 20)) <&3 | cmp -s - "$blob" || { echo "echo differs"; return 1; }
  wait "$writer"
  exec 3<&-
  [ -z "$rss_max" ] || [ "$rss" -lt "$rss_max" ] ||
    { echo "RSS $rss KiB while paused"; return 1; }
}

for anchor in "$@"; do
  "$anchor" --port 0 >"$tmp/port" &
  pid=$!
  for _ in $(seq 50); do
    [ -s "$tmp/port" ] && break
    sleep 0.1
  done
  port=$(cat "$tmp/port")
  "$bench" load --port "$port" --conns 100 --duration 1 --warmup 0.2 \
    >"$tmp/out" || { cat "$tmp/out"; echo "FAIL: $anchor, 64 B"; exit 1; }
  "$bench" load --port "$port" --conns 4 --size 262144 --pipeline 8 \
    --duration 1 --warmup 0.2 \
    >"$tmp/out" || { cat "$tmp/out"; echo "FAIL: $anchor, 256 KiB"; exit 1; }
  slow_reader "$port" || { echo "FAIL: $anchor, slow reader"; exit 1; }
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
  pid=
  [ "$status" -eq 0 ] || { echo "FAIL: $anchor exited $status on SIGTERM"; exit 1; }
  echo "ok: $(basename "$anchor")"
done
