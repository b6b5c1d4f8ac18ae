#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The test command: on a Debian 12 machine, as root, installs what is missing,
# then builds libfdpass three ways and runs the whole suite on each:
#   1. a plain build (-Wall -Wextra -Werror, debug info), every test, including
#      the ABI, symbol, header, install and man-page checks;
#   2. AddressSanitizer + UndefinedBehaviorSanitizer, the unit and interop tests;
#   3. the plain build under valgrind memcheck, the unit and interop tests.
# Exits non-zero if anything fails. Build directories go under $BUILD_ROOT
# (default: build-test/ in the source tree) and are made anew each run.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
root=${BUILD_ROOT:-$src/build-test}

packages=(meson ninja-build pkg-config gcc g++ libcmocka-dev abigail-tools valgrind
          python3 binutils groff-base man-db apache2 curl)

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
	meson test -C "$root/asan" --suite unit --suite interop --print-errorlogs || status=1

step "valgrind memcheck"
meson test -C "$root/plain" --setup valgrind --suite unit --suite interop \
	--print-errorlogs || status=1

echo
if ((status)); then
	echo "run-all: FAILED"
else
	echo "run-all: all three runs passed"
fi
exit $status
