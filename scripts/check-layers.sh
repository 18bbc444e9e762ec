#!/bin/sh
# Layers talk through functions (DESIGN.md): a folder of src/ may include
# from another folder only that folder's *_internal.h (functions) or core/
# (what every layer shares). Another folder's *_impl.h or backend.h would
# reach its structs. Prints each offending include and fails.
#   scripts/check-layers.sh [SRC_DIR]
set -eu
src=${1:-$(dirname "$0")/../src}
bad=$(grep -rnE '#include "\.\./[a-z_]+/[a-z_]+\.h"' "$src" |
  grep -vE '#include "\.\./(core/[a-z_]+|[a-z_]+/[a-z_]+_internal)\.h"' || true)
if [ -n "$bad" ]; then
  echo "check-layers: these includes reach into another layer's private header:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "check-layers: every cross-folder include is a *_internal.h or core/"
