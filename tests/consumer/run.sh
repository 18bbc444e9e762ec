#!/bin/sh
# install.consumer: install iomux from the build tree into a scratch prefix
# and use it from outside, as a user would:
#   - the installed tools resolve every library they need without help
#     (ldd) and run;
#   - every program in examples/ builds with the README's line,
#     `cc x.c $(pkg-config --cflags --libs iomux)`, against libiomux.so,
#     and again against libiomux.a with `pkg-config --static`; each runs
#     under example_check, which checks every byte it serves or fetches;
#   - CMake's find_package(iomux): iomux::iomux (main.c, a selector on a
#     pipe) and iomux::iomux_static (the proactor example).
# usage: run.sh BUILD_DIR CONSUMER_DIR EXAMPLES_DIR EXAMPLE_CHECK
# CFLAGS: the flags to build the examples with (default -Wall -Wextra).
set -eu
build=$1 src=$2 examples=$3 check=$4
cflags=${CFLAGS:--Wall -Wextra}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(dirname "$(find "$prefix" -name 'libiomux.so' | head -n 1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"

for tool in "$prefix"/bin/*; do
  if ldd "$tool" | grep -q 'not found'; then
    ldd "$tool"
    echo "FAIL: $tool: a library is not found" >&2
    exit 1
  fi
  "$tool" --help >/dev/null
done
echo "ok: the installed tools run"

# A prefix outside the loader's path: the programs linked to libiomux.so
# find it through LD_LIBRARY_PATH, as a user's would.
export LD_LIBRARY_PATH="$libdir"
for file in "$examples"/*.c; do
  name=$(basename "$file" .c)
  case $name in http_*) kind=http ;; *) kind=echo ;; esac
  cc $cflags -o "$scratch/$name" "$file" \
     $(pkg-config --cflags --libs iomux)
  ldd "$scratch/$name" | grep -q "$libdir/libiomux.so" || {
    echo "FAIL: $name is not linked to the installed libiomux.so" >&2
    exit 1
  }
  "$check" "$kind" "$scratch/$name"
  # The README's line for the archive.
  cc $cflags -o "$scratch/$name-static" "$file" \
     $(pkg-config --cflags --libs --static iomux | sed 's/-liomux/-l:libiomux.a/')
  if ldd "$scratch/$name-static" | grep -q libiomux; then
    echo "FAIL: $name-static is linked to libiomux.so" >&2
    exit 1
  fi
  "$check" "$kind" "$scratch/$name-static"
done

cmake -S "$src" -B "$scratch/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DEXAMPLES="$examples" >/dev/null
cmake --build "$scratch/cmake-build" >/dev/null
"$scratch/cmake-build/consumer"
"$check" echo "$scratch/cmake-build/consumer-static"
