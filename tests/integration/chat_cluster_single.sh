#!/bin/sh
# chat.cluster.single.GROUP: chat_check's functional groups against one
# iomux-chatd in cluster mode, so that --cluster changes nothing a client of
# a single node can see. A redis-server on a unix socket in a temporary
# directory (no port to find), and a wrapper that adds
# --cluster unix:SOCKET to every chatd chat_check starts.
#   chat_cluster_single.sh CHAT_CHECK CHATD GROUP [--sanitized]
set -eu
check=$1 chatd=$2 group=$3
shift 3
redis=$(command -v redis-server || true)
[ -n "$redis" ] || { echo "skip: redis-server not found"; exit 77; }
dir=$(mktemp -d /tmp/iomux-cluster-single-XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap 'cleanup; exit 1' INT TERM
"$redis" --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
  --dir "$dir" --daemonize no >"$dir/redis.log" 2>&1 &
pid=$!
i=0
until [ -S "$dir/redis.sock" ]; do
  i=$((i + 1))
  if [ $i -ge 250 ]; then
    echo "FAIL redis-server did not start"
    cat "$dir/redis.log"
    cleanup
    exit 1
  fi
  sleep 0.02
done
cat >"$dir/chatd" <<WRAP
#!/bin/sh
exec "$chatd" "\$@" --cluster "unix:$dir/redis.sock"
WRAP
chmod +x "$dir/chatd"
rc=0
# A cluster node also holds each user's Redis records, and the join storm's
# replies pass through hiredis's buffers (RSS does not shrink after): the
# idle bound is 4 KiB here, 2 KiB for a single node.
"$check" --server "$dir/chatd" --idle-limit 4096 "$@" "$group" || rc=$?
cleanup
exit $rc
