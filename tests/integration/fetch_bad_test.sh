#!/bin/sh
# fetch.bad: iomux-fetch against fetch_server's bad cases, all in one run
# with good downloads among them (-o DIR, --json). Checks: each URL's error,
# the good files byte for byte, no partial or temporary file left, the
# timeouts on time (not early, not much late), exit status 1; then usage:
# a bad option is one line + "try 'iomux-fetch --help'" and exit 2, --help
# exit 0.
#   fetch_bad_test.sh IOMUX_FETCH FETCH_SERVER
set -eu
fetch=$1
server=$2
tmp=$(mktemp -d)
srv_pid=
cleanup() {
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

mkfifo "$tmp/in"
"$server" <"$tmp/in" >"$tmp/port" &
srv_pid=$!
exec 3>"$tmp/in" # the server runs until this closes
i=0
while ! [ -s "$tmp/port" ]; do
  i=$((i + 1)); [ $i -lt 100 ] || fail "fetch_server did not start"; sleep 0.05
done
read -r _ port _ stuck <"$tmp/port"
u="http://127.0.0.1:$port"

mkdir "$tmp/out"
set +e
"$fetch" --json -o "$tmp/out" -j 8 --max-time 1 --connect-timeout 0.5 \
  "$u/ok/100000" "$u/badstatus" "$u/bighead" "$u/fold" "$u/short" \
  "$u/badchunk" "$u/overflow" "$u/silent" "$u/stall" "$u/reset" \
  "$u/chunked/7777" "$u/nothing" "http://127.0.0.1:$stuck/x" \
  "http://bad host/" "https://127.0.0.1:$port/ok/1" "$u/eof/5000" \
  >"$tmp/json" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "exit status $rc, want 1"

# url -> expected error text (a substring), or "null" for success
check() {
  line=$(grep -F "\"url\":\"$1\"," "$tmp/json") || fail "no JSON line for $1"
  case $line in
  *"\"error\":$2"*) ;;
  *"\"error\":\""*"$2"*) ;;
  *) fail "$1: want error '$2', got: $line" ;;
  esac
}
check "$u/ok/100000" null
check "$u/chunked/7777" null
check "$u/eof/5000" null
check "$u/badstatus" "bad status line"
check "$u/bighead" "header block over 64 KiB"
check "$u/fold" "obs-fold"
check "$u/short" "before the end of the body"
check "$u/badchunk" "bad chunk size"
check "$u/overflow" "chunk size overflows"
check "$u/silent" "timed out"
check "$u/stall" "timed out"
check "$u/reset" "reset"
check "$u/nothing" "HTTP 404"
check "http://127.0.0.1:$stuck/x" "connect timed out"
check "http://bad host/" "bad URL"
check "https://127.0.0.1:$port/ok/1" "TLS handshake failed"

# Timeouts on time: --max-time 1 for silent and stall, 0.5 s to connect.
timed() {
  t=$(grep -F "\"url\":\"$1\"," "$tmp/json" | sed 's/.*"time":\([0-9.]*\).*/\1/')
  awk -v t="$t" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }' ||
    fail "$1 took $t s, want $2 to $3"
}
timed "$u/silent" 1.0 1.4
timed "$u/stall" 1.0 1.4
timed "http://127.0.0.1:$stuck/x" 0.5 0.9

# Only the three good files, whole; nothing partial or temporary.
files=$(cd "$tmp/out" && ls -A | sort | tr '\n' ' ')
[ "$files" = "100000 5000 7777 " ] || fail "files in -o DIR: '$files'"
for f in 100000 5000 7777; do
  [ "$(wc -c <"$tmp/out/$f")" -eq "$f" ] || fail "$f: wrong size"
  awk -v n="$f" 'BEGIN { for (i = 0; i < n; i++)
    printf "%c", 97 + i % 26 }' >"$tmp/want"
  cmp -s "$tmp/want" "$tmp/out/$f" || fail "$f: wrong bytes"
done

# -O FILE after a failure: no file at all.
set +e
"$fetch" -s -O "$tmp/one" "$u/short"; rc=$?
set -e
[ $rc -eq 1 ] && ! [ -e "$tmp/one" ] || fail "-O left a file after a failure"
[ -z "$(ls -A "$tmp" | grep part || true)" ] || fail "a .part file was left"

# -O to a device writes to it and leaves it a device (no rename over it).
"$fetch" -s -O /dev/null "$u/ok/1000" || fail "-O /dev/null"
[ -c /dev/null ] || fail "/dev/null is no longer a device"

# -L follows; without it the 302 is the answer.
"$fetch" -s -L -O "$tmp/r" "$u/redirect/3"
[ "$(cat "$tmp/r")" = done ] || fail "-L: got '$(cat "$tmp/r")'"
"$fetch" -s --json "$u/redirect/1" | grep -q '"status":302' || fail "no -L"
# -I prints the head.
"$fetch" -I "$u/ok/9" 2>/dev/null | grep -q "^Content-Length: 9" || fail "-I"

# Usage.
set +e
"$fetch" --bogus "$u/" 2>"$tmp/usage"; rc=$?
set -e
[ $rc -eq 2 ] || fail "bad option: exit $rc, want 2"
[ "$(wc -l <"$tmp/usage")" -eq 1 ] &&
  grep -q "try 'iomux-fetch --help'" "$tmp/usage" ||
  fail "bad option message: $(cat "$tmp/usage")"
"$fetch" --help | grep -q -- "--max-time" || fail "--help"
echo "fetch.bad: ok"
