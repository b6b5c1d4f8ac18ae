#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Compile header-test.c against the public header as a strict user would:
# one language standard, -pedantic -Werror -Wall -Wextra, no feature macro
# (g++ predefines _GNU_SOURCE, so it is undefined for C++ as well), nothing
# on the include path but include/. Then link the object with the library,
# which fails in C++ if the header lost its extern "C".
#
# Usage: check-header.sh c|c++ STD SOURCE INCLUDE_DIR LIBRARY -- COMPILER...
# Exits 77 (skipped) when no compiler is given for the language.
set -eu

if [ $# -lt 6 ] || [ "$6" != -- ]; then
	echo "usage: $0 c|c++ STD SOURCE INCLUDE_DIR LIBRARY -- COMPILER..." >&2
	exit 2
fi
lang=$1 std=$2 src=$3 incdir=$4 lib=$5
shift 6
if [ $# -eq 0 ]; then
	echo "SKIP: no $lang compiler"
	exit 77
fi

flags=(-std="$std" -pedantic -Werror -Wall -Wextra -Wundef -U_GNU_SOURCE)
case $lang in
c) flags+=(-x c -Wstrict-prototypes -Wold-style-definition) ;;
c++) flags+=(-x c++) ;;
*) echo "unknown language $lang" >&2; exit 2 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "+ $* ${flags[*]} -I $incdir -c $src"
"$@" "${flags[@]}" -I "$incdir" -c "$src" -o "$tmp/header-test.o"
echo "+ $* $tmp/header-test.o $lib"
# The library's own link flags (a sanitizer runtime, say) come with it
# through its DT_NEEDED entries; this link only resolves the names.
"$@" -o "$tmp/header-test" "$tmp/header-test.o" "$lib"
echo "ok: fdpass.h is clean as $lang ($std) and links"
