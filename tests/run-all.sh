#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test command: on a Debian 12 machine, as root, installs what is missing,
# then builds libfdpass several ways and runs the suite on each:
#   1. a plain build (-Wall -Wextra -Werror, debug info), every test: unit,
#      interop, fault injection, ABI/symbols/header/install/man pages, the
#      example programs against httpd, curl and Python (plain `meson test`),
#      then the load suite and the benchmarks' smoke modes, which plain
#      `meson test` leaves out;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: unit, interop, fault;
#   3. the plain build under valgrind memcheck: unit, interop, fault;
#   4. ThreadSanitizer, and helgrind on the plain build: the flusher registry;
#   5. clang: the whole tree, and each libFuzzer target for a bounded time
#      (FDPASS_FUZZ_SECONDS per target, default 20).
# Exits non-zero if anything fails, after a table of each stage's duration.
# Build directories go under $BUILD_ROOT (default: build-test/ in the source
# tree) and are made anew each run.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
root=${BUILD_ROOT:-$src/build-test}

packages=(meson ninja-build pkg-config gcc g++ libcmocka-dev abigail-tools valgrind
          python3 binutils groff-base man-db apache2 curl clang libclang-rt-14-dev)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "run-all: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "run-all: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

rm -rf "$root"
mkdir -p "$root"
status=0
checked_suites="--suite unit --suite interop --suite fault"
stages=()

# run_stage NAME FUNCTION: runs it, notes its duration and result for the table.
run_stage() {
	local name=$1 t0=$SECONDS result=ok
	echo
	echo "=== $name ==="
	"$2" || { result=FAILED; status=1; }
	stages+=("$name|$((SECONDS - t0))|$result")
}

plain_build() {
	meson setup "$root/plain" "$src" --buildtype=debugoptimized >/dev/null &&
	meson compile -C "$root/plain"
}

plain_tests() {
	meson test -C "$root/plain" --no-rebuild --print-errorlogs
}

# Outside plain `meson test`: the long load suite and the benchmarks' smoke modes.
plain_long() {
	meson test -C "$root/plain" --no-rebuild --suite load --suite bench --print-errorlogs
}

asan() {
	meson setup "$root/asan" "$src" -Db_sanitize=address,undefined -Db_lundef=false \
		-Dabi_check=false >/dev/null &&
	meson compile -C "$root/asan" &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$root/asan" $checked_suites --print-errorlogs
}

memcheck() {
	meson test -C "$root/plain" --no-rebuild --setup valgrind $checked_suites --print-errorlogs
}

threads() {
	local r=0
	meson setup "$root/tsan" "$src" -Db_sanitize=thread -Dabi_check=false >/dev/null &&
	meson compile -C "$root/tsan" tests/test-flusher || return 1
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		meson test -C "$root/tsan" --no-rebuild flusher --print-errorlogs || r=1
	meson test -C "$root/plain" --no-rebuild flusher --print-errorlogs \
		--wrap="valgrind --tool=helgrind --error-exitcode=1 --quiet" || r=1
	return $r
}

clang_fuzz() {
	local r=0
	CC=clang meson setup "$root/clang" "$src" -Db_lundef=false -Dabi_check=false >/dev/null &&
	meson compile -C "$root/clang" || r=1
	FDPASS_FUZZ_SECONDS=${FDPASS_FUZZ_SECONDS:-20} \
		meson test -C "$root/clang" --no-rebuild --suite fuzz --print-errorlogs || r=1
	return $r
}

run_stage "plain build" plain_build
run_stage "plain: meson test (the default suites)" plain_tests
run_stage "plain: load and bench suites" plain_long
run_stage "AddressSanitizer + UndefinedBehaviorSanitizer: build, unit, interop, fault" asan
run_stage "valgrind memcheck: unit, interop, fault" memcheck
run_stage "ThreadSanitizer and helgrind: the flusher registry under threads" threads
run_stage "clang: the whole tree, and the fuzzers for a bounded time" clang_fuzz

echo
echo "=== stage times ==="
total=0
for s in "${stages[@]}"; do
	IFS='|' read -r name secs result <<<"$s"
	printf '%-76s %3dm%02ds  %s\n' "$name" $((secs / 60)) $((secs % 60)) "$result"
	total=$((total + secs))
done
printf '%-76s %3dm%02ds\n' "total" $((total / 60)) $((total % 60))

echo
if ((status)); then
	echo "run-all: FAILED"
else
	echo "run-all: every run passed"
fi
exit $status
