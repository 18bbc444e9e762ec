#!/bin/sh
# iomux-chatd against ngircd under the same chat load, side by side
# (docs/io-models.md, "Group chat"): ROUNDS rounds, each running both
# servers one after the other (the order alternating by round), so that
# both meet the same weather on a shared machine. Each server runs on
# CPU 0 and the generator on CPU 1 (chat_cluster_bench.sh with no nodes for
# chatd, iomux-bench chat --spawn ngircd for ngircd, which pins the same
# way). One line per run, then per round the ratios chatd / ngircd of
# deliveries/s and of deliveries per server CPU-second, and their medians.
# Exit status 1 if a run failed or reported any error.
#
#   apps/bench/chat_ngircd_bench.sh BUILD_DIR ROUNDS [iomux-bench chat args]
#   apps/bench/chat_ngircd_bench.sh build 5 --clients 1000 --senders 10 \
#       --rate 1000 --duration 8 --warmup 2
#
# CHATD_ARGS adds options to iomux-chatd (say --batch-ms 2).
set -eu
build=$1 rounds=$2
shift 2
here=$(dirname "$0")
bench=$build/apps/bench/iomux-bench
command -v ngircd >/dev/null 2>&1 || [ -x /usr/sbin/ngircd ] || {
  echo "chat_ngircd_bench: ngircd not found (scripts/deps.sh bench)" >&2
  exit 77
}
out=$(mktemp -d /tmp/iomux-chat-ngircd-XXXXXX)
trap 'rm -rf "$out"' EXIT

pick() { # file column...: the values of the named columns of the CSV row
  f=$1
  shift
  awk -F, -v want="$*" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i }
    NR == 2 { n = split(want, w, " ")
              for (i = 1; i <= n; i++) printf "%s ", $col[w[i]]; print "" }' \
    "$f"
}

printf '%-5s %-6s %12s %14s %9s %9s %6s\n' round server deliveries/s \
  "per server CPU-s" "p50 ms" "p99 ms" errors
errors=0
r=1
while [ "$r" -le "$rounds" ]; do
  if [ $((r % 2)) -eq 1 ]; then order="ngircd chatd"; else order="chatd ngircd"; fi
  for s in $order; do
    if [ "$s" = ngircd ]; then
      "$bench" chat --spawn ngircd --csv "$@" >"$out/$s.$r" 2>"$out/err" ||
        true
    else
      "$here/chat_cluster_bench.sh" "$build" 0 --csv "$@" 2>"$out/err" |
        head -n 2 >"$out/$s.$r" || true
    fi
    if [ "$(wc -l <"$out/$s.$r")" -lt 2 ]; then
      echo "round $r: $s failed:" >&2
      cat "$out/err" >&2
      exit 1
    fi
    vals=$(pick "$out/$s.$r" deliveries_per_s \
      deliveries_per_server_cpu_s p50_ns p99_ns lost duplicated reordered \
      corrupt disconnected setup)
    echo "$r $s $vals" | awk '{ printf "%-5s %-6s %12.0f %14.0f %9.1f %9.1f %6d\n",
      $1, $2, $3, $4, $5 / 1e6, $6 / 1e6, $7 + $8 + $9 + $10 + $11 + $12 }'
    echo "$vals" | awk '$5 + $6 + $7 + $8 + $9 + $10 > 0 { exit 1 }' ||
      errors=1
    echo "$vals" >"$out/v.$s.$r"
  done
  r=$((r + 1))
done

# The ratios of each round, then their medians.
r=1
: >"$out/ratios"
while [ "$r" -le "$rounds" ]; do
  paste -d' ' "$out/v.chatd.$r" "$out/v.ngircd.$r" |
    awk '{ printf "%.2f %.2f\n", $1 / $11, $2 / $12 }' >>"$out/ratios"
  r=$((r + 1))
done
echo
echo "chatd / ngircd, by round (deliveries/s, deliveries per server CPU-s):"
awk '{ printf "  %s  %s\n", $1, $2 }' "$out/ratios"
sort -n -k1,1 "$out/ratios" | awk '{ a[NR] = $1 } END {
  printf "median deliveries/s ratio:             %.2f\n", a[int((NR + 1) / 2)] }'
sort -n -k2,2 "$out/ratios" | awk '{ a[NR] = $2 } END {
  printf "median deliveries per server CPU-s ratio: %.2f\n", a[int((NR + 1) / 2)] }'
if [ "$errors" -ne 0 ]; then
  echo "chat_ngircd_bench: a run had errors (lost, duplicated, ...): its" \
    "figures do not count" >&2
  exit 1
fi
