#!/bin/sh
# bench.chat: `iomux-bench chat` must measure a real IRC server without
# loss, and catch a broken one.
#
# usage: bench_chat_test.sh IOMUX_BENCH BAD_IRC [NGIRCD]
#
# Against ngircd (started by the bench itself, --spawn): a short open-loop
# run and a closed-loop one over 50 clients must report no error. Against
# bad_irc (apps/bench/testdata/bad_irc.c), which breaks channel delivery
# number 100 (drop, dup, reorder, corrupt): the matching error must be
# counted and the exit status must be 1; its ok mode must pass. Without
# ngircd the bad_irc checks still run, and the test then exits 77 (skipped)
# if they all passed.
set -u
bench=$1 bad=$2 ngircd=${3:-}
. "$(dirname "$0")/bench_lib.sh"

# check NAME WANT PATTERN CHAT_ARGS...: want exit status 0 ("ok"), 1
# ("fail") or 2 ("usage"), and PATTERN (grep -E) in the output.
check() {
  name=$1 want=$2 pattern=$3
  shift 3
  timeout 60 "$bench" chat "$@" >"$tmp/out" 2>&1
  judge "$name" "$want" $? "$pattern"
}

# against_bad MODE NAME WANT PATTERN: 20 clients, 4 senders, 1 s.
against_bad() {
  mode=$1 name=$2 want=$3 pattern=$4
  start_server "$bad" --mode "$mode" --after 100 ||
    { failed=$((failed + 1)); return; }
  check "$name" "$want" "$pattern" --port "$port" --clients 20 \
    --senders 4 --rate 400 --duration 1 --warmup 0.2 --drain 1
  stop_server
}

against_bad ok "a correct server passes" ok "errors +none"
against_bad drop "a dropped delivery is lost" fail \
  "errors +lost 1, duplicated 0, reordered 0, corrupt 0, disconnected 0"
against_bad dup "a duplicated delivery is caught" fail \
  "errors +lost 0, duplicated 1, reordered 0, corrupt 0, disconnected 0"
against_bad reorder "a reordered delivery is caught" fail \
  "errors +lost 0, duplicated 0, reordered 1, corrupt 0, disconnected 0"
against_bad corrupt "a corrupt delivery is caught (and so lost)" fail \
  "errors +lost 1, duplicated 0, reordered 0, corrupt 1, disconnected 0"

check "bad option refused" usage "bad value for --clients" --port 7 \
  --clients x --rate 1
check "rate or closed required" usage "one of --rate R and --closed" \
  --port 7
check "remote address refused" usage "not a loopback address" \
  --host 192.0.2.1 --port 7 --rate 1

if [ -n "$ngircd" ] && [ -x "$ngircd" ]; then
  check "ngircd, open loop, 50 clients: no loss" ok "errors +none" \
    --spawn ngircd --ngircd "$ngircd" --clients 50 --senders 5 \
    --rate 500 --duration 2 --warmup 0.5
  check "ngircd, closed loop, 2 channels: no loss" ok "errors +none" \
    --spawn ngircd --ngircd "$ngircd" --clients 50 --channels 2 \
    --senders 4 --closed --duration 1 --warmup 0.3
  check "ngircd, JSON with the server's figures" ok \
    '^\{"host":"127.0.0.1".*"errors":\{"lost":0.*"server":\{"pid":[0-9]+' \
    --spawn ngircd --ngircd "$ngircd" --clients 10 --senders 2 \
    --rate 100 --duration 0.5 --warmup 0.1 --json
else
  echo "skip ngircd runs: no ngircd (${ngircd:-not given})"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || exit 1
[ -n "$ngircd" ] && [ -x "$ngircd" ] || exit 77
exit 0
