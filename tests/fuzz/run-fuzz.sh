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
#
# How long: FDPASS_FUZZ_SECONDS in the environment (a whole number of
# seconds, default 20) becomes -max_total_time; an option of the same name
# given here wins. The run is also cut off 60 seconds after that, in case
# the fuzzer itself hangs (meson test puts no timeout on these tests).
#   FDPASS_FUZZ_SECONDS=300 meson test -C build-fuzz --suite fuzz
set -eu

fuzzer=$1
corpus=$2
artifacts=$3
shift 3

seconds=${FDPASS_FUZZ_SECONDS:-20}
case $seconds in
'' | *[!0-9]* | 0*)
	echo "run-fuzz: FDPASS_FUZZ_SECONDS must be a positive whole number of seconds, not '$seconds'" >&2
	exit 2
	;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cp "$corpus"/* "$work"/
mkdir -p "$artifacts"

cutoff=
if command -v timeout >/dev/null 2>&1; then
	cutoff="timeout -k 10 $((seconds + 60))"
fi

status=0
# libFuzzer's own exit status for a crash is 77, which meson reads as
# "skipped": a finding must fail the test.
$cutoff "$fuzzer" -artifact_prefix="$artifacts/" -print_final_stats=1 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-max_total_time="$seconds" "$@" "$work" || status=$?
echo "run-fuzz: $(basename "$fuzzer"): exit status $status after at most ${seconds}s," \
     "corpus grew from $(ls "$corpus" | wc -l) to $(ls "$work" | wc -l) inputs"
exit $status
