#!/bin/sh
# Build the IRC fuzz target with clang's libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer:  tests/fuzz/build.sh OUT
# It compiles the library layers the chat server uses (core, selector,
# loop, stream) and the server's IRC files along with the target, all with
# the same instrumentation. Used by `make fuzz` and by the CMake build.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1
cc=${FUZZ_CC:-clang}
mkdir -p "$(dirname "$out")"
chat=$root/apps/chat
exec "$cc" -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -D_POSIX_C_SOURCE=200809L \
    -I"$root/include" -I"$chat" \
    "$root/tests/fuzz/fuzz_irc.c" \
    "$chat"/irc_*.c "$chat/names.c" "$chat/sendq.c" "$chat/conn.c" \
    "$root"/src/core/*.c "$root"/src/selector/*.c "$root"/src/loop/*.c \
    "$root"/src/stream/*.c -lpthread -o "$out"
