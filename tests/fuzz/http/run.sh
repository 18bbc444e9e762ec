#!/bin/sh
# The HTTP parser's libFuzzer target (fuzz_http_parse.c), built with clang
# straight from the layer's sources (the parser has no I/O: parse.c, url.c
# and the allocator are all it needs), with ASan and UBSan.
#   run.sh corpus OUTDIR          run every seed in corpus/ once (CTest)
#   run.sh fuzz OUTDIR [SECONDS]  fuzz for SECONDS (default 60), new finds
#                                 kept in OUTDIR/corpus, crashes in OUTDIR
# Exit 77 when clang or its libFuzzer runtime is missing (CTest: skipped).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
mode=${1:?usage: run.sh corpus|fuzz OUTDIR [SECONDS]}
out=${2:?usage: run.sh corpus|fuzz OUTDIR [SECONDS]}
secs=${3:-60}
CLANG=${CLANG:-clang}
mkdir -p "$out"
bin=$out/fuzz_http_parse

command -v "$CLANG" >/dev/null 2>&1 || { echo "no clang: skipped"; exit 77; }
srcs="$here/fuzz_http_parse.c $root/src/http/parse.c $root/src/http/url.c
      $root/src/core/alloc.c"
if [ ! -x "$bin" ] || [ -n "$(find $srcs "$root/include/iomux/http.h" \
                                 -newer "$bin" 2>/dev/null)" ]; then
  # shellcheck disable=SC2086
  "$CLANG" -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/include" -I"$root/src" $srcs -o "$bin" ||
    { echo "clang cannot build a libFuzzer target here: skipped"; exit 77; }
fi

case $mode in
corpus)
  exec "$bin" -runs=0 "$here/corpus" ;;
fuzz)
  mkdir -p "$out/corpus"
  cd "$out"
  exec "$bin" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    "$out/corpus" "$here/corpus" ;;
*)
  echo "run.sh: unknown mode '$mode'" >&2
  exit 2 ;;
esac
