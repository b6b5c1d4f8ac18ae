#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test command: on a Debian 12 machine, as root, installs what is missing,
# then builds libfdpass several ways and runs the suite on each:
#   1. a plain build (-Wall -Wextra -Werror, debug info), every test: unit,
#      interop, fault injection, ABI/symbols/header/install/man pages, the
#      example programs against httpd, curl and Python, load, and the
#      benchmarks' smoke modes;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: unit, interop, fault;
#   3. the plain build under valgrind memcheck: unit, interop, fault;
#   4. ThreadSanitizer, and helgrind on the plain build: the flusher registry;
#   5. clang: the whole tree, and each libFuzzer target for a bounded time
#      (FDPASS_FUZZ_SECONDS per target, default 20).
# Exits non-zero if anything fails. Build directories go under $BUILD_ROOT
# (default: build-test/ in the source tree) and are made anew each run.
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

step() {
	echo
	echo "=== $* ==="
}

step "plain build: every test"
meson setup "$root/plain" "$src" --buildtype=debugoptimized >/dev/null
meson compile -C "$root/plain"
meson test -C "$root/plain" --print-errorlogs || status=1

step "AddressSanitizer + UndefinedBehaviorSanitizer"
meson setup "$root/asan" "$src" -Db_sanitize=address,undefined -Db_lundef=false \
	-Dabi_check=false >/dev/null
meson compile -C "$root/asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C "$root/asan" $checked_suites --print-errorlogs || status=1

step "valgrind memcheck"
meson test -C "$root/plain" --setup valgrind $checked_suites --print-errorlogs || status=1

step "ThreadSanitizer and helgrind: the flusher registry under threads"
meson setup "$root/tsan" "$src" -Db_sanitize=thread -Dabi_check=false >/dev/null
meson compile -C "$root/tsan" tests/test-flusher
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	meson test -C "$root/tsan" --no-rebuild flusher --print-errorlogs || status=1
meson test -C "$root/plain" --no-rebuild flusher --print-errorlogs \
	--wrap="valgrind --tool=helgrind --error-exitcode=1 --quiet" || status=1

step "clang: the whole tree, and the fuzzers for a bounded time"
CC=clang meson setup "$root/clang" "$src" -Db_lundef=false -Dabi_check=false >/dev/null
meson compile -C "$root/clang" || status=1
FDPASS_FUZZ_SECONDS=${FDPASS_FUZZ_SECONDS:-20} \
	meson test -C "$root/clang" --no-rebuild --suite fuzz --print-errorlogs || status=1

echo
if ((status)); then
	echo "run-all: FAILED"
else
	echo "run-all: every run passed"
fi
exit $status
