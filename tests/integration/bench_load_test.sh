#!/bin/sh
# bench.load: `iomux-bench load` must catch a broken echo server, each way it
# can break, and pass a correct one.
#
# usage: bench_load_test.sh IOMUX_BENCH BAD_ECHO IOMUX_ECHO
#
# bad_echo (apps/bench/testdata/bad_echo.c) breaks the first connection it
# accepts after 1000 bytes: flip (a changed byte), stall (no more reading or
# writing), close (closed early); late serves it only after a while. Each run
# is one second with no warm-up.
set -u
bench=$1 bad=$2 echo=$3
. "$(dirname "$0")/bench_lib.sh"

# check NAME WANT PATTERN LOAD_ARGS...: run the load; want exit status 0
# ("ok"), 1 ("fail") or 2 ("usage"), and PATTERN (grep -E) in its output.
check() {
  name=$1 want=$2 pattern=$3
  shift 3
  timeout 20 "$bench" load --conns 4 --duration 1 --warmup 0 "$@" \
    >"$tmp/out" 2>&1
  judge "$name" "$want" $? "$pattern"
}

# bad_echo MODE NAME WANT PATTERN [LOAD_ARGS...] (breaks after $after bytes)
after=1000
against_bad() {
  mode=$1
  shift
  start_server "$bad" --mode "$mode" --after "$after" || { failed=$((failed + 1)); return; }
  name=$1 want=$2 pattern=$3
  shift 3
  check "$name" "$want" "$pattern" --port "$port" "$@"
  stop_server
}

against_bad flip  "mismatch detected" fail "first mismatch: connection [0-9]+, message"
against_bad stall "stall detected" fail "first stalled: connection [0-9]+"
after=0 # a connection never answered is caught at the end of the run
against_bad stall "never answered detected" fail \
  "first stalled: connection [0-9]+: no echo in the whole run"
after=700 # but a first echo later than the stall limit (500 ms here) is not
against_bad late "first echo after 700 ms is no stall" ok "errors +none"
after=1000
against_bad close "early close detected" fail "first lost: connection [0-9]+: closed by the server"
against_bad ok    "correct poll server passes" ok "errors +none"

if start_server "$echo" --model reactor --port 0; then
  check "iomux-echo reactor passes" ok "errors +none" --port "$port"
  check "reactor, pipeline 8, 3000-byte messages" ok "errors +none" \
    --port "$port" --pipeline 8 --size 3000
  check "reactor, 2 processes" ok "errors +none" --port "$port" --procs 2
  check "JSON output" ok '^\{"host":"127.0.0.1".*"errors":\{"mismatch":0' \
    --port "$port" --json
  check "uppercase expected from a plain echo" fail "first mismatch" \
    --port "$port" --upper
  stop_server
else
  failed=$((failed + 1))
fi

if start_server "$echo" --model reactor --port 0 --upper; then
  check "iomux-echo --upper passes with --upper" ok "errors +none" \
    --port "$port" --upper --size 100
  stop_server
else
  failed=$((failed + 1))
fi

# A port nobody listens on: every connect fails.
start_server "$bad" --mode ok || failed=$((failed + 1))
closed=$port
stop_server
check "connect failures counted" fail "connect failed 4" --port "$closed"
check "remote address refused" usage "not a loopback address" \
  --host 192.0.2.1 --port 7
check "bad option refused" usage "bad value for --conns" --port 7 --conns x

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
