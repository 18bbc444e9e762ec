#!/bin/sh
# fetch.nginx: iomux-fetch against a real nginx, plain and TLS.
#   - 1,000 files made here (sizes 0 to ~20 KB, some empty, one of 3 MB),
#     fetched at -j 50 over http and over https (a throwaway CA and server
#     certificate made here with openssl): every file's sha256 checked;
#   - keep-alive reuse seen in nginx's access log ($connection): far fewer
#     connections than requests; TLS sessions resumed ($ssl_session_reused);
#   - a chunked body (gzip: nginx does not know its length), redirects
#     (relative, absolute-path, absolute), HEAD;
#   - TLS failures: an unknown CA, a name not in the certificate; -k.
# nginx runs from the config fetch_nginx.conf, on free loopback ports, all
# its files in a temporary directory, and is stopped at the end.
#   fetch_nginx_test.sh IOMUX_FETCH
# Exit 77 (skipped) when nginx or openssl is missing.
set -eu
fetch=$1
here=$(cd "$(dirname "$0")" && pwd)
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "no nginx: skipped"; exit 77; }
command -v openssl >/dev/null || { echo "no openssl: skipped"; exit 77; }
tmp=$(mktemp -d)
ngx_pid=
cleanup() {
  if [ -n "$ngx_pid" ]; then
    kill "$ngx_pid" 2>/dev/null || true
    wait "$ngx_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -5 "$tmp/error.log" >&2 2>/dev/null || true
  exit 1
}
N=${N:-1000}

# ---- certificates: a CA, and a server certificate for 127.0.0.1 and localhost
cd "$tmp"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 \
  -subj /CN=iomux-fetch-test-CA 2>/dev/null
# shellcheck disable=SC2086
openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost \
  2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 2 -extfile ext 2>/dev/null

# ---- files: various sizes, some empty, one of several MB
mkdir -p www/files tmp
i=1
while [ $i -le $N ]; do
  size=$(( (i * 7919) % 20011 ))
  [ $((i % 97)) -eq 0 ] && size=0
  [ $i -eq 500 ] && size=3145728
  head -c $size /dev/urandom >www/files/f$i
  i=$((i + 1))
done
(cd www/files && sha256sum f*) | sort >want.sha

# ---- nginx on free ports (a taken one makes it exit: try others)
[ "$(id -u)" -eq 0 ] && user="user root;" || user=""
started=
for attempt in 1 2 3 4 5 6; do
  port=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 20000 ))
  tport=$((port + 1))
  sed -e "s|@DIR@|$tmp|g" -e "s|@PORT@|$port|g" -e "s|@TLSPORT@|$tport|g" \
    -e "s|@USER@|$user|" "$here/fetch_nginx.conf" >nginx.conf
  "$nginx" -p "$tmp" -c "$tmp/nginx.conf" 2>>nginx.stderr &
  ngx_pid=$!
  i=0
  while [ $i -lt 50 ]; do
    if ! kill -0 $ngx_pid 2>/dev/null; then break; fi
    # The probe asks for a path the counts below ignore: nginx may log it
    # after the log is emptied.
    if curl -s -o /dev/null "http://127.0.0.1:$port/probe"; then
      started=1; break
    fi
    sleep 0.1; i=$((i + 1))
  done
  [ -n "$started" ] && break
  kill $ngx_pid 2>/dev/null || true
  wait $ngx_pid 2>/dev/null || true
  ngx_pid=
done
[ -n "$started" ] || fail "nginx did not start: $(cat nginx.stderr)"
: >access.log # forget the probe

u="http://127.0.0.1:$port"
s="https://127.0.0.1:$tport"

# ---- 1,000 files at -j 50, plain and TLS, every byte checked
bulk() { # scheme-url, out-dir, extra options
  base=$1; out=$2; shift 2
  i=1; while [ $i -le $N ]; do echo "$base/files/f$i"; i=$((i + 1)); done >list
  mkdir "$out"
  : >access.log
  "$fetch" -s -i list -j 50 -o "$out" --json "$@" >"$out.json" ||
    fail "$base: exit $? ($(grep -v '"error":null' "$out.json" | head -3))"
  [ "$(grep -c '"error":null' "$out.json")" -eq $N ] || fail "$base: errors"
  (cd "$out" && sha256sum f*) | sort >got.sha
  cmp -s want.sha got.sha || fail "$base: sha256 differ: $(diff want.sha got.sha | head -3)"
  [ -z "$(ls -A "$out" | grep -v '^f[0-9]*$' || true)" ] || fail "stray files"
  reqs=$(grep -c ' GET /files/' access.log)
  conns=$(awk '{print $1}' access.log | sort -u | wc -l)
  [ "$reqs" -eq $N ] ||
    fail "$base: nginx saw $reqs requests: $(sort -k5 access.log | uniq -c -f4 | sort -rn | head -3; awk '$4 != 200' access.log | head -5)"
  [ "$conns" -le 100 ] || fail "$base: $conns connections for $N requests"
  echo "$base: $N files ok, $conns connections for $reqs requests"
}
bulk "$u" plain
bulk "$s" tls --cacert ca.crt
# Sessions: the bulk run opens its connections before any ticket arrives;
# one after another (the server closes each), every later one resumes.
: >access.log
"$fetch" -s -j 1 --cacert ca.crt -H 'Connection: close' --discard \
  "$s/files/f1" "$s/files/f2" "$s/files/f3" "$s/files/f4" "$s/files/f5" ||
  fail "TLS one by one"
resumed=$(awk '$3 == "r"' access.log | wc -l)
[ "$resumed" -eq 4 ] || fail "$resumed of 4 TLS connections resumed a session"
echo "TLS: 4 of 4 later connections resumed a session"

# ---- chunked (gzip), redirects, HEAD
"$fetch" -s -H 'Accept-Encoding: gzip' -O gz "$u/gz/f500"
curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "$u/gz/f500" |
  grep -qi '^transfer-encoding: chunked' || fail "nginx did not chunk gzip"
[ "$(gzip -dc <gz | sha256sum | cut -d' ' -f1)" = \
  "$(sha256sum <www/files/f500 | cut -d' ' -f1)" ] || fail "chunked body"
for r in redirect:f1 files/redirect-rel:f2 redirect-abs:f3; do
  "$fetch" -s -L -O got "$u/${r%%:*}"
  cmp -s got "www/files/${r#*:}" || fail "redirect /${r%%:*}"
  "$fetch" -s -L --cacert ca.crt -O got "$s/${r%%:*}"
  cmp -s got "www/files/${r#*:}" || fail "https redirect /${r%%:*}"
done
"$fetch" -s -I --json "$u/files/f2" "$s/files/f500" --cacert ca.crt >head.json
[ "$(grep -c '"status":200,"bytes":0,' head.json)" -eq 2 ] || fail "HEAD"
"$fetch" -I "$u/files/f500" | grep -q "^Content-Length: 3145728" ||
  fail "HEAD headers"

# ---- TLS failures, each its own error while the good one beside goes on
set +e
"$fetch" --json -o . "$s/files/f1" "https://127.0.0.2:$tport/files/f2" \
  "$u/files/f3" >bad.json 2>/dev/null
rc=$?
set -e
[ $rc -eq 1 ] || fail "unknown CA: exit $rc"
grep -F "\"url\":\"$s/files/f1\"" bad.json | grep -q "TLS handshake failed" ||
  fail "unknown CA: $(cat bad.json)"
grep -F "127.0.0.2" bad.json | grep -q "TLS handshake failed" ||
  fail "name mismatch: $(cat bad.json)"
grep -F "\"url\":\"$u/files/f3\"" bad.json | grep -q '"error":null' ||
  fail "the good one beside"
"$fetch" -s --cacert ca.crt -O mm "https://127.0.0.2:$tport/files/f2" &&
  fail "a name not in the certificate was accepted"
"$fetch" -s -k -O k "https://127.0.0.2:$tport/files/f2" || fail "-k"
cmp -s k www/files/f2 || fail "-k body"
[ -z "$(ls -A | grep part || true)" ] || fail "a .part file was left"
echo "fetch.nginx: ok"
