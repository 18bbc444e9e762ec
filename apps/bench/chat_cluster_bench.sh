#!/bin/sh
# iomux-bench chat against an iomux-chatd network (docs/chat-bench.md,
# "A network of nodes"): a redis-server (unix socket in a temp dir) and
# NODES iomux-chatd --cluster nodes, or with NODES=0 one chatd alone, the
# baseline. The servers (nodes and Redis) run on CPU 0 and the generator on
# CPU 1 (taskset; no pinning on a machine with one CPU). Client i connects
# to node i % NODES, and the server figures sum every node and Redis.
#
#   apps/bench/chat_cluster_bench.sh BUILD_DIR NODES [iomux-bench chat args]
#   apps/bench/chat_cluster_bench.sh build 2 --clients 1000 --senders 10 \
#       --rate 1000 --duration 10
#
# CHATD_ARGS adds options to every iomux-chatd (say --batch-ms 2).
# Everything it started is stopped at the end; its exit status is the
# bench's.
set -eu
build=$1 nodes=$2
shift 2
chatd=$build/apps/chat/iomux-chatd
bench=$build/apps/bench/iomux-bench
redis=$(command -v redis-server || true)
[ "$nodes" -eq 0 ] || [ -n "$redis" ] || {
  echo "chat_cluster_bench: redis-server not found (scripts/deps.sh)" >&2
  exit 77
}
cpus=$(nproc)
srv_cpu="" gen_cpu=""
if [ "$cpus" -gt 1 ] && command -v taskset >/dev/null 2>&1; then
  srv_cpu="taskset -c 0" gen_cpu="taskset -c 1"
fi
dir=$(mktemp -d /tmp/iomux-cluster-bench-XXXXXX)
pids=""
stop() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap 'stop; exit 1' INT TERM

cluster=""
if [ "$nodes" -gt 0 ]; then
  $srv_cpu "$redis" --port 0 --unixsocket "$dir/redis.sock" --save '' \
    --appendonly no --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
  rpid=$!
  pids="$rpid"
  i=0
  until [ -S "$dir/redis.sock" ]; do
    i=$((i + 1))
    [ $i -lt 250 ] || { echo "redis-server did not start" >&2; stop; exit 1; }
    sleep 0.02
  done
  cluster="--cluster unix:$dir/redis.sock"
fi

# Each node: a free port (--port 0), read from its "listening on" line.
ports="" spids=""
n=$nodes
[ "$n" -gt 0 ] || n=1
k=0
while [ $k -lt $n ]; do
  fifo=$dir/out$k
  mkfifo "$fifo"
  # shellcheck disable=SC2086 # $cluster, $srv_cpu, CHATD_ARGS: word lists
  $srv_cpu "$chatd" --port 0 --flood off --max-clients 100000 $cluster \
    ${cluster:+--node-id n$k} ${CHATD_ARGS:-} </dev/null >"$fifo" \
    2>"$dir/node$k.log" &
  p=$!
  pids="$pids $p"
  line=$(head -n 1 "$fifo")
  port=${line##*:}
  case $port in
  '' | *[!0-9]*) echo "node $k did not start: $line" >&2; stop; exit 1 ;;
  esac
  ports="$ports${ports:+,}$port"
  spids="$spids${spids:+,}$p"
  k=$((k + 1))
done
[ "$nodes" -eq 0 ] || spids="$spids,$rpid"

# Each process's CPU over the whole run (setup included): utime + stime
# from /proc/PID/stat, in clock ticks.
cpu_of() {
  awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f s", ($14 + $15) / t }' \
    "/proc/$1/stat" 2>/dev/null || echo "?"
}

rc=0
# shellcheck disable=SC2086
$gen_cpu "$bench" chat --port "$ports" --server-pid "$spids" "$@" || rc=$?
k=0
for p in $(echo "$spids" | tr ',' ' '); do
  if [ "$nodes" -gt 0 ] && [ "$p" = "$rpid" ]; then
    echo "  whole run   redis-server pid $p: CPU $(cpu_of "$p")"
  else
    echo "  whole run   chatd node $k pid $p: CPU $(cpu_of "$p")"
    k=$((k + 1))
  fi
done
stop
exit $rc
