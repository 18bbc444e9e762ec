#!/bin/sh
# readme.examples: the C in README.md is cut from the programs in
# examples/, which the build compiles and example.* runs. Every line of a
# ```c block (leading and trailing blanks aside) must be a line of one of
# them, so an excerpt cannot drift into code that does not compile.
# usage: readme_check.sh README EXAMPLES_DIR
set -eu
readme=$1 examples=$2
awk '
  { line = $0; sub(/^[ \t]+/, "", line); sub(/[ \t]+$/, "", line) }
  FILENAME != readme { have[line] = 1; next }
  /^```c$/ { inc = 1; next }
  /^```/ { inc = 0; next }
  inc && line != "" && !(line in have) {
    printf "README.md:%d: not in examples/: %s\n", FNR, $0; bad = 1
  }
  END { exit bad }
' readme="$readme" "$examples"/*.c "$readme"
echo "ok: the README's C is from examples/"
