#!/bin/sh
# cli: every tool's command line says the same things the same way.
#   --version           "<tool> VERSION" on stdout, exit 0
#   an unknown option   one line on stderr naming it and ending
#   a bad number          "try '<tool> --help'", nothing on stdout,
#   a stray argument      exit status 2
#   --json --csv
# and iomux-echo on a port in use fails with "address already in use" and
# the address, unless both servers asked for --reuseport (then the second
# prints the port it was given, as it prints the one it picked for 0).
#
# usage: cli_check.sh VERSION IOMUX_ECHO IOMUX_BENCH IOMUX_CHAT IOMUX_FETCH
#                     [IOMUX_CHATD]
set -u
version=$1 echo=$2 bench=$3 chat=$4 fetch=$5 chatd=${6:-}
tmp=$(mktemp -d)
servers=
trap 'for p in $servers; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
passed=0 failed=0

verdict() { # NAME OK [WHY]
  if [ "$2" = 1 ]; then
    passed=$((passed + 1))
    echo "ok   $1"
  else
    failed=$((failed + 1))
    echo "FAIL $1: $3"
    sed 's/^/    stdout: /' "$tmp/out"
    sed 's/^/    stderr: /' "$tmp/err"
  fi
}

# run CMD...: with a time limit and no stdin; sets $rc, fills out and err.
run() {
  timeout 10 "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
}

# version TOOL CMD...: prints exactly "TOOL VERSION".
version() {
  tool=$1
  shift
  run "$@" --version
  [ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "$tool $version" ]
  verdict "$tool: --version" $((! $?)) "exit $rc, want '$tool $version'"
}

# usage NAME TOOL PATTERN CMD...: exit 2, nothing on stdout, one line on
# stderr with PATTERN (grep -E) in it, ending with "try 'TOOL --help'".
usage() {
  name=$1 tool=$2 pattern=$3
  shift 3
  run "$@"
  ok=1
  [ "$rc" -eq 2 ] || ok=0
  [ -s "$tmp/out" ] && ok=0
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || ok=0
  grep -Eq -- "$pattern" "$tmp/err" || ok=0
  grep -q -- "; try '$tool --help'\$" "$tmp/err" || ok=0
  verdict "$tool: $name" $ok "exit $rc, want 2 and one line /$pattern/"
}

# No process has a pid this high (pids stay below pid_max).
nopid=$(cat /proc/sys/kernel/pid_max)

version iomux-echo "$echo"
usage "unknown option" iomux-echo "unknown option '--bogus'" \
  "$echo" --model epoll --bogus
usage "port out of range" iomux-echo "--port: '80000'" \
  "$echo" --model epoll --port 80000
usage "count not a number" iomux-echo "--threads: '3x'" \
  "$echo" --model reactor --threads 3x
usage "negative count" iomux-echo "--max-conns: '-5'" \
  "$echo" --model epoll --max-conns -5
usage "stray argument" iomux-echo "unexpected argument 'stray'" \
  "$echo" --model epoll stray
usage "unknown model" iomux-echo "unknown model 'nope'" "$echo" --model nope

version iomux-bench "$bench"
usage "unknown option" iomux-bench "unknown option '--bogus'" \
  "$bench" --bogus
usage "unknown mode" iomux-bench "unknown mode 'nope'" "$bench" nope
for mode in selector load chat fetch compare; do
  version iomux-bench "$bench" "$mode"
  usage "$mode: unknown option" "iomux-bench $mode" \
    "unknown option '--bogus'" "$bench" "$mode" --bogus
  usage "$mode: stray argument" "iomux-bench $mode" \
    "unexpected argument 'stray'" "$bench" "$mode" stray
done
usage "selector: --reps 3x" "iomux-bench selector" "--reps: '3x'" \
  "$bench" selector --reps 3x
usage "selector: --sizes with a bad count" "iomux-bench selector" \
  "--sizes: '10,-1'" "$bench" selector --sizes 10,-1
usage "compare: --reps 2.5" "iomux-bench compare" "--reps wants .*'2.5'" \
  "$bench" compare --reps 2.5
usage "load: --port 80000" "iomux-bench load" "--port: '80000'" \
  "$bench" load --port 80000
usage "load: --conns -5" "iomux-bench load" "--conns: '-5'" \
  "$bench" load --port 7 --conns -5
usage "load: --duration 1x" "iomux-bench load" "--duration: '1x'" \
  "$bench" load --port 7 --duration 1x
usage "load: --json --csv" "iomux-bench load" "--json and --csv" \
  "$bench" load --port 7 --json --csv
usage "load: no such --server-pid" "iomux-bench load" \
  "--server-pid $nopid: no such process" \
  "$bench" load --port 7 --server-pid "$nopid"
usage "chat: --clients -5" "iomux-bench chat" "--clients: '-5'" \
  "$bench" chat --port 7 --rate 1 --clients -5
usage "chat: --port 7,x" "iomux-bench chat" "--port: '7,x'" \
  "$bench" chat --port 7,x --rate 1
usage "chat: --csv --json" "iomux-bench chat" "--json and --csv" \
  "$bench" chat --port 7 --rate 1 --csv --json
usage "chat: no such --server-pid" "iomux-bench chat" \
  "--server-pid $nopid: no such process" \
  "$bench" chat --port 7 --rate 1 --server-pid "$nopid"
usage "fetch: --reps 3x" "iomux-bench fetch" "--reps: '3x'" \
  "$bench" fetch --reps 3x
usage "fetch: --conc 0" "iomux-bench fetch" "--conc: '0'" \
  "$bench" fetch --conc 0

version iomux-chat "$chat"
usage "unknown option" iomux-chat "unknown option '--bogus'" \
  "$chat" --bogus 127.0.0.1 7 nick
usage "port out of range" iomux-chat "PORT '80000'" \
  "$chat" 127.0.0.1 80000 nick
usage "stray argument" iomux-chat "unexpected argument 'stray'" \
  "$chat" 127.0.0.1 7 nick '#c' stray

version iomux-fetch "$fetch"
usage "unknown option" iomux-fetch "unknown option '--bogus'" \
  "$fetch" --bogus http://127.0.0.1:7/
usage "-j 3x" iomux-fetch "-j '3x'" "$fetch" -j 3x http://127.0.0.1:7/
usage "-j -5" iomux-fetch "-j '-5'" "$fetch" -j -5 http://127.0.0.1:7/
usage "--max-time 1x" iomux-fetch "--max-time '1x'" \
  "$fetch" --max-time 1x http://127.0.0.1:7/

if [ -n "$chatd" ]; then
  version iomux-chatd "$chatd"
  usage "unknown option" iomux-chatd "unknown option '--bogus'" \
    "$chatd" --bogus
  usage "port out of range" iomux-chatd "--port: '80000'" \
    "$chatd" --port 80000
  usage "--sendq 64x" iomux-chatd "--sendq: '64x'" "$chatd" --sendq 64x
  usage "--max-clients -1" iomux-chatd "--max-clients: '-1'" \
    "$chatd" --max-clients -1
  usage "stray argument" iomux-chatd "unexpected argument 'stray'" \
    "$chatd" stray
fi

# start NAME ECHO_ARGS...: iomux-echo in the background, its stdout in
# $tmp/NAME; waits for the port line and sets $port (empty if none came).
start() {
  name=$1
  shift
  "$echo" "$@" </dev/null >"$tmp/$name" 2>"$tmp/$name.err" &
  servers="$servers $!"
  port=
  for _ in $(seq 50); do
    port=$(head -n 1 "$tmp/$name" 2>/dev/null)
    [ -n "$port" ] && return
    sleep 0.1
  done
}

# busy NAME ECHO_ARGS...: a second server on $busy_port must fail, saying
# so with the address.
busy() {
  name=$1
  shift
  run "$echo" "$@" --port "$busy_port"
  ok=1
  [ "$rc" -eq 1 ] || ok=0
  want="iomux-echo: listen on 127.0.0.1:$busy_port: address already in use"
  [ "$(cat "$tmp/err")" = "$want" ] || ok=0
  verdict "iomux-echo: $name" $ok "exit $rc, want 1 and '$want'"
}

start first --model epoll --port 0
busy_port=$port
if [ -z "$busy_port" ]; then
  verdict "iomux-echo: a server to be busy with" 0 "no port printed"
else
  busy "busy port refused" --model epoll
  busy "busy port refused (reactor)" --model reactor
  busy "busy port refused (reactor --threads 2)" --model reactor --threads 2
fi

start shared1 --model reactor --port 0 --reuseport
shared=$port
start shared2 --model reactor --port "$shared" --reuseport
[ -n "$shared" ] && [ "$port" = "$shared" ]
verdict "iomux-echo: --reuseport shares, and a given port is printed" \
  $((! $?)) "first printed '$shared', second '$port'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
