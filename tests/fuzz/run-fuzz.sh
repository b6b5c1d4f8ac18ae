#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run-fuzz.sh FUZZER CORPUS ARTIFACTS [libFuzzer options...]
#
# Runs a libFuzzer target on a copy of its seed corpus (the committed corpus
# is never written to) with the options given, for meson test. A crash,
# leak or timeout fails the test; libFuzzer saves the input that caused it
# under ARTIFACTS/ (crash-<sha1>, leak-<sha1>, timeout-<sha1>), to replay
# with: FUZZER ARTIFACTS/crash-<sha1>
set -eu

fuzzer=$1
corpus=$2
artifacts=$3
shift 3

work=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cp "$corpus"/* "$work"/
mkdir -p "$artifacts"

status=0
"$fuzzer" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$work" || status=$?
echo "run-fuzz: $(basename "$fuzzer"): exit status $status, corpus grew from" \
     "$(ls "$corpus" | wc -l) to $(ls "$work" | wc -l) inputs"
exit $status
