#!/bin/sh
# chat.fuzz-corpus: run_corpus.sh FUZZ_IRC TESTS_FUZZ_DIR
# Replay every seed input, then fuzz 20,000 runs from them with a fixed
# seed; new inputs go to a scratch directory, removed at the end.
set -eu
fuzz=$1
dir=$2
"$fuzz" "$dir"/corpus_irc/*
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$fuzz" -runs=20000 -seed=1 -max_len=4096 -dict="$dir/irc.dict" \
    "$scratch" "$dir/corpus_irc"
