#!/bin/sh
# Install iomux from the build tree $1 into a scratch prefix, then build and
# run the consumer in $2 against it: with pkg-config, and with CMake's
# find_package(iomux). Fails if either cannot find or link the library.
set -eu
build=$1 src=$2
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null

export PKG_CONFIG_PATH="$(find "$prefix" -type d -name pkgconfig | tr "\n" ":")"
# A shared build installs libiomux.so outside the loader's search path.
export LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name 'libiomux.*' | head -n 1)")"
cc -Wall -Werror -o "$scratch/by-pkg-config" "$src/main.c" \
   $(pkg-config --cflags --libs iomux)
"$scratch/by-pkg-config"

cmake -S "$src" -B "$scratch/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/cmake-build" >/dev/null
"$scratch/cmake-build/consumer"
