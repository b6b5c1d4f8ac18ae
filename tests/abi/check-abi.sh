#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Compare the built shared library with the committed ABI baseline. Added
# functions pass; a removed function, a changed signature, a changed soname
# or symbol version fail. Exits 77 (skipped) when abidiff is not installed
# (Debian: abigail-tools).
#
# The library must have debug info: without .debug_info abidiff sees only
# the symbol names and misses every type change. The default buildtype,
# debugoptimized, has it.
#
# To regenerate the baseline after an intentional ABI addition (from a build
# with debug info, and commit it together with the new map node):
#   meson setup /tmp/build-baseline . && ninja -C /tmp/build-baseline
#   abidw --short-locs --no-comp-dir-path --exported-interfaces-only --headers-dir include \
#         --out-file tests/abi/libfdpass.abi /tmp/build-baseline/lib/libfdpass.so.1
# (or `ninja -C <builddir> update-abi-baseline`, which runs the same abidw;
# tests/abi/meson.build tells why --exported-interfaces-only is needed.)
# The library is read the same way here.
#
# Usage: check-abi.sh BASELINE LIBRARY
set -u

if [ $# -ne 2 ]; then
	echo "usage: $0 BASELINE LIBRARY" >&2
	exit 2
fi
baseline=$1 lib=$2

if ! command -v abidiff >/dev/null; then
	echo "SKIP: abidiff not found (Debian: apt-get install abigail-tools)"
	exit 77
fi
if [ ! -s "$baseline" ]; then
	echo "FAIL: no baseline at $baseline"
	exit 1
fi
if [ ! -f "$lib" ]; then
	echo "FAIL: $lib does not exist (not built?)"
	exit 1
fi
if ! readelf -S -W "$lib" | grep -Eq '[[:space:]]\.z?debug_info[[:space:]]'; then
	echo "FAIL: $lib has no .debug_info: abidiff would compare symbol names only"
	echo "      and miss every type change. Build with debug info (the default"
	echo "      buildtype debugoptimized, or -Ddebug=true), or configure"
	echo "      with -Dabi_check=false to skip this test."
	exit 1
fi

# Types defined outside the public headers are private (the opaque structs'
# layouts): --headers-dir2 keeps their changes out of the comparison.
headers=$(cd "$(dirname "$0")/../../include" && pwd)
echo "+ abidiff --exported-interfaces-only --no-added-syms --fail-no-debug-info --headers-dir2 $headers $baseline $lib"
abidiff --exported-interfaces-only --no-added-syms --fail-no-debug-info \
	--headers-dir2 "$headers" "$baseline" "$lib"
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok: the ABI of $lib matches the baseline (additions aside)"
	exit 0
fi
# abidiff's exit status is a bit field (abidiff(1), "RETURN VALUES").
what=()
[ $((rc & 1)) -ne 0 ] && what+=("abidiff error")
[ $((rc & 2)) -ne 0 ] && what+=("usage error")
[ $((rc & 4)) -ne 0 ] && what+=("ABI change")
[ $((rc & 8)) -ne 0 ] && what+=("INCOMPATIBLE ABI change")
echo "FAIL: abidiff exited with $rc (${what[*]:-unknown status})."
echo "      A released function never changes or goes away: fix the library,"
echo "      not the baseline. (Additions pass; record them in the baseline as"
echo "      described in this script's header so they are protected too.)"
exit 1
