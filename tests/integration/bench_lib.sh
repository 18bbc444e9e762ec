# bench_lib.sh: what the iomux-bench test scripts (bench_load_test.sh,
# bench_chat_test.sh) share. Sourced, not run: it makes $tmp (removed at
# exit, with the server still running, if any), counts in $passed and
# $failed, and defines the functions below.
tmp=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0

# start_server CMD...: run it, wait for the port it prints, set $port.
start_server() {
  rm -f "$tmp/port" # the last server's port must not be read as this one's
  "$@" >"$tmp/port" 2>"$tmp/server.err" &
  server=$!
  port=
  for _ in $(seq 50); do
    port=$(head -n 1 "$tmp/port" 2>/dev/null)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "could not start: $*" >&2
  cat "$tmp/server.err" >&2
  return 1
}

stop_server() {
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  server=
}

# judge NAME WANT STATUS PATTERN: a command ended with STATUS and wrote
# $tmp/out. Wanted: exit status 0 ("ok"), 1 ("fail") or 2 ("usage"), and
# PATTERN (grep -E) in the output. Counts and says the verdict.
judge() {
  name=$1 want=$2 status=$3 pattern=$4
  ok=1
  case $want in
  ok) [ "$status" -eq 0 ] || ok=0 ;;
  fail) [ "$status" -eq 1 ] || ok=0 ;;
  usage) [ "$status" -eq 2 ] || ok=0 ;;
  esac
  grep -Eq "$pattern" "$tmp/out" || ok=0
  if [ "$ok" = 1 ]; then
    passed=$((passed + 1))
    echo "ok   $name (exit $status)"
  else
    failed=$((failed + 1))
    echo "FAIL $name: exit $status, wanted $want and /$pattern/; output:"
    sed 's/^/    /' "$tmp/out"
  fi
}
