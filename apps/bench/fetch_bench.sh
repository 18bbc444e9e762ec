#!/usr/bin/env bash
# iomux-bench fetch: iomux-fetch against curl --parallel (and wget2, aria2c),
# on a local nginx, and nginx's own ceiling with wrk. Run by `iomux-bench
# fetch` (apps/bench/fetch.c), which passes the iomux-fetch to measure:
#   fetch_bench.sh IOMUX_FETCH [--reps N] [--files N] [--conc N] [--big-mib N]
#                  [--quick]
# nginx runs pinned to CPU 0, every client to CPU 1 (taskset). Each case
# runs --reps times (3) and the median is reported: wall time, and the
# client's CPU time (user + sys, from bash's `time`) per request. Results
# go to stdout as a markdown table, with the ratios to curl from the same
# run (the machine is shared: compare ratios, not absolute numbers).
# Everything lives in a temporary directory, deleted at the end (the big
# file too); nginx is stopped.
set -euo pipefail
fetch=$1
shift
reps=3 files=10000 conc=100 big_mib=1024
while [ $# -gt 0 ]; do
  case $1 in
  --reps) reps=$2; shift 2 ;;
  --files) files=$2; shift 2 ;;
  --conc) conc=$2; shift 2 ;;
  --big-mib) big_mib=$2; shift 2 ;;
  --quick) reps=1 files=1000 big_mib=64; shift ;;
  -h|--help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  *) echo "iomux-bench fetch: unknown option '$1'; try --help" >&2; exit 2 ;;
  esac
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
for tool in "$nginx" curl openssl taskset; do
  command -v "$tool" >/dev/null ||
    { echo "iomux-bench fetch: $tool is missing (scripts/deps.sh bench)" >&2; exit 1; }
done
have() { command -v "$1" >/dev/null 2>&1; }

tmp=$(mktemp -d)
ngx_pid=
cleanup() {
  if [ -n "$ngx_pid" ]; then kill "$ngx_pid" 2>/dev/null || true; wait "$ngx_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

# ---- data: N files of 1 KiB, one big file (sparse: made with truncate)
mkdir -p www/s tmp out
head -c 1024 /dev/urandom >www/s/f1
for ((i = 2; i <= files; i++)); do ln www/s/f1 "www/s/f$i"; done
truncate -s "${big_mib}M" www/big
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=bench-CA 2>/dev/null
openssl req $ec -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
echo 'subjectAltName=IP:127.0.0.1' >ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 2 -extfile ext 2>/dev/null

# ---- nginx on CPU 0
port=$((20000 + RANDOM % 20000))
tport=$((port + 1))
user=""; [ "$(id -u)" -eq 0 ] && user="user root;"
cat >nginx.conf <<EOF
daemon off;
worker_processes 1;
worker_cpu_affinity 1;
$user
pid $tmp/nginx.pid;
error_log $tmp/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/tmp;
  proxy_temp_path $tmp/tmp;
  fastcgi_temp_path $tmp/tmp;
  uwsgi_temp_path $tmp/tmp;
  scgi_temp_path $tmp/tmp;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$port backlog=4096;
    listen 127.0.0.1:$tport ssl backlog=4096;
    ssl_certificate $tmp/server.crt;
    ssl_certificate_key $tmp/server.key;
    ssl_session_cache shared:bench:10m;
    root $tmp/www;
  }
}
EOF
taskset -c 0 "$nginx" -p "$tmp" -c "$tmp/nginx.conf" &
ngx_pid=$!
for ((i = 0; i < 50; i++)); do
  curl -s -o /dev/null "http://127.0.0.1:$port/s/f1" && break
  sleep 0.1
done

for scheme in http https; do
  p=$port; [ $scheme = https ] && p=$tport
  for ((i = 1; i <= files; i++)); do echo "$scheme://127.0.0.1:$p/s/f$i"; done >list.$scheme
  sed 's/.*/url = "&"\noutput = "\/dev\/null"/' list.$scheme >curl.$scheme
done

# ---- measuring: median of $reps runs of a command on CPU 1
# prints "wall cpu" (seconds); the command's output is discarded
TIMEFORMAT='%R %U %S'
measure() {
  local runs=()
  for ((r = 0; r < reps; r++)); do
    local t
    t=$({ time taskset -c 1 "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
    runs+=("$(awk '{printf "%.4f %.4f", $1, $2 + $3}' <<<"$t")")
  done
  printf '%s\n' "${runs[@]}" | sort -n | awk -v n="$reps" 'NR == int((n + 1) / 2)'
}

rows=()
row() { # name, wall cpu, requests, bytes, curl's "wall cpu" (or "")
  local name=$1 wc=$2 n=$3 bytes=$4 ref=$5
  rows+=("$(awk -v name="$name" -v wc="$wc" -v n="$n" -v b="$bytes" -v ref="$ref" 'BEGIN {
    split(wc, a, " "); split(ref, c, " ");
    rw = (c[1] > 0) ? sprintf("%.2f", a[1] / c[1]) : "-";
    rc = (c[2] > 0) ? sprintf("%.2f", a[2] / c[2]) : "-";
    printf "| %s | %.3f | %.0f | %.1f | %.1f | %s | %s |", name, a[1], n / a[1],
      a[2] * 1e6 / n, b / a[1] / 1048576, rw, rc }')")
}

echo "iomux-bench fetch: $files files of 1 KiB at concurrency $conc, ${big_mib} MiB file; median of $reps; nginx on CPU 0, clients on CPU 1" >&2
for scheme in http https; do
  tls=(); curltls=(); wgettls=()
  [ $scheme = https ] && tls=(--cacert ca.crt) curltls=(--cacert ca.crt) wgettls=(--ca-certificate=ca.crt)
  bytes=$((files * 1024))
  echo "  $scheme: curl" >&2
  c=$(measure curl -s --parallel --parallel-max "$conc" "${curltls[@]}" -K curl.$scheme)
  echo "  $scheme: iomux-fetch" >&2
  m=$(measure "$fetch" -s -j "$conc" --discard "${tls[@]}" -i list.$scheme)
  row "iomux-fetch, $scheme" "$m" "$files" "$bytes" "$c"
  m=$(measure "$fetch" -s -j "$conc" -o out "${tls[@]}" -i list.$scheme)
  row "iomux-fetch -o DIR, $scheme" "$m" "$files" "$bytes" "$c"
  row "curl --parallel, $scheme" "$c" "$files" "$bytes" "$c"
  if have wget2; then
    echo "  $scheme: wget2" >&2
    m=$(measure wget2 -q --max-threads="$conc" --no-http2 "${wgettls[@]}" -O /dev/null -i list.$scheme)
    row "wget2, $scheme" "$m" "$files" "$bytes" "$c"
  fi
  if have aria2c && [ $scheme = http ]; then
    echo "  $scheme: aria2c" >&2
    m=$(measure aria2c -q -j "$conc" -x 1 --allow-overwrite=true -d out -i list.$scheme)
    row "aria2c, $scheme" "$m" "$files" "$bytes" "$c"
  fi
  if have wrk; then
    echo "  $scheme: wrk" >&2
    p=$port; [ $scheme = https ] && p=$tport
    w=$(taskset -c 1 wrk -t1 -c"$conc" -d3s "$scheme://127.0.0.1:$p/s/f1" | awk '/Requests\/sec/ {print $2}')
    wall=$(awk -v r="$w" -v n="$files" 'BEGIN { printf "%.4f 0", n / r }')
    rows+=("| wrk (nginx's ceiling), $scheme | $(awk -v w="$wall" 'BEGIN{split(w,a," "); printf "%.3f", a[1]}') | ${w%.*} | - | - | - | - |")
  fi
done

big=$((big_mib * 1048576))
echo "  big file" >&2
c=$(measure curl -s -o /dev/null "http://127.0.0.1:$port/big")
m=$(measure "$fetch" -s --discard "http://127.0.0.1:$port/big")
row "iomux-fetch, ${big_mib} MiB" "$m" 1 "$big" "$c"
m=$(measure "$fetch" -s -O /dev/null "http://127.0.0.1:$port/big")
row "iomux-fetch -O /dev/null, ${big_mib} MiB" "$m" 1 "$big" "$c"
row "curl, ${big_mib} MiB" "$c" 1 "$big" "$c"
if have wget2; then
  m=$(measure wget2 -q -O /dev/null "http://127.0.0.1:$port/big")
  row "wget2, ${big_mib} MiB" "$m" 1 "$big" "$c"
fi

echo
echo "| client | wall s | requests/s | CPU us/request | MiB/s | wall / curl | CPU / curl |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
