#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Install the build into a temporary DESTDIR and use it the way a user
# would: find it with pkg-config alone, build install-client.c against it as
# C and as C++ (and statically), run the programs, and check what was
# installed: soname, static library, exported symbols, man pages, and no
# feature macro in the pkg-config Cflags.
#
# Usage: check-install.sh BUILD_ROOT MESON PKGCONFIG_DIR MANDIR SOURCE_MANDIR
#                         VERSION B_SANITIZE B_COVERAGE CLIENT_SRC CHECK_SYMBOLS
#   PKGCONFIG_DIR and MANDIR are where they go without DESTDIR (absolute);
#   every page SOURCE_MANDIR/NAME.N must be installed as MANDIR/manN/NAME.N.
#   B_SANITIZE/B_COVERAGE are the build's options: a library built with a
#   sanitizer or gcov needs the same runtime in the program that uses it.
# Environment: CC and CXX, the compiler commands (CXX empty: no C++ part).
set -euo pipefail

if [ $# -ne 10 ]; then
	sed -n '3,16p' "$0" >&2
	exit 2
fi
build=$1 meson=$2 pcdir=$3 mandir=$4 srcman=$5 version=$6
sanitize=$7 coverage=$8 client=$9 check_symbols=${10}
# meson test points LD_LIBRARY_PATH at the build tree; only what is
# installed may be used here.
unset LD_LIBRARY_PATH
read -r -a cc <<<"${CC:-cc}"
read -r -a cxx <<<"${CXX-c++}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-install.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
dest=$tmp/dest
status=0

fail() {
	echo "FAIL: $*"
	status=1
}

step() {
	echo
	echo "== $*"
}

runv() {
	echo "+ $*"
	"$@"
}

step "meson install into $dest"
runv "$meson" install --no-rebuild --destdir "$dest" -C "$build"

step "pkg-config finds the installed fdpass.pc"
if [ ! -f "$dest$pcdir/fdpass.pc" ]; then
	echo "FAIL: no fdpass.pc in $pcdir (installed files:)"
	(cd "$dest" && find . -type f -o -type l)
	exit 1
fi
export PKG_CONFIG_PATH="$dest$pcdir"
export PKG_CONFIG_SYSROOT_DIR="$dest"
# Keep -I/usr/include and -L/usr/lib when the prefix is /usr: with a
# sysroot they point into the DESTDIR and are needed.
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
pcfiledir=$(pkg-config --variable=pcfiledir fdpass)
[ "$pcfiledir" = "$dest$pcdir" ] ||
	fail "pkg-config found fdpass.pc in $pcfiledir, not $dest$pcdir"
modversion=$(pkg-config --modversion fdpass)
[ "$modversion" = "$version" ] ||
	fail "pkg-config --modversion says $modversion, the project is $version"
cflags=$(pkg-config --cflags fdpass)
static_cflags=$(pkg-config --static --cflags fdpass)
libs=$(pkg-config --libs fdpass)
static_libs=$(pkg-config --static --libs fdpass)
echo "cflags: $cflags"
echo "libs:   $libs"
# shellcheck disable=SC2086
for flag in $(printf '%s\n' $cflags $static_cflags | sort -u); do
	case $flag in
	-D* | -U*) fail "pkg-config --cflags pushes $flag onto every user" ;;
	esac
done

libdir=$(pkg-config --variable=libdir fdpass)
case $libdir in
"$dest"/*) ;;
*) libdir=$dest$libdir ;; # a pkg-config that does not apply the sysroot
esac

step "installed libraries in $libdir"
for f in libfdpass.so.1 libfdpass.so libfdpass.a; do
	[ -e "$libdir/$f" ] || fail "$f is not installed"
done
if [ -e "$libdir/libfdpass.so.1" ]; then
	runv "$check_symbols" --lib "$libdir/libfdpass.so.1" \
		--soname libfdpass.so.1 --static "$libdir/libfdpass.a" ||
		fail "the installed library exports the wrong symbols or soname"
fi

step "installed man pages"
n=0
for page in "$srcman"/*.[1-9]; do
	[ -e "$page" ] || continue
	n=$((n + 1))
	section=man${page##*.}
	[ -f "$dest$mandir/$section/${page##*/}" ] ||
		fail "man/${page##*/} is not installed in $mandir/$section"
done
echo "$n man pages in the source tree, all installed"

san=()
if [ "$sanitize" != none ]; then
	san+=("-fsanitize=$sanitize")
fi
if [ "$coverage" = true ]; then
	san+=(--coverage)
fi

# build_and_run NAME COMPILER... : compile and run one client. $cflags and
# $libs are split into words on purpose: that is how users write it.
build_and_run() {
	local name=$1 exe=$tmp/$1 loaded
	shift
	# shellcheck disable=SC2086
	runv "$@" -o "$exe" "$client" -x none "${san[@]}" $cflags $libs ||
		{ fail "$name does not build with pkg-config's flags"; return; }
	readelf -d -W "$exe" | grep -q 'NEEDED.*\[libfdpass\.so\.1\]' ||
		fail "$name does not need libfdpass.so.1"
	loaded=$(LD_TRACE_LOADED_OBJECTS=1 LD_LIBRARY_PATH=$libdir "$exe" |
		grep 'libfdpass\.so\.1 =>' || true)
	case $loaded in
	*"=> $libdir/libfdpass.so.1 "*) echo "loads$loaded" ;;
	*) fail "$name does not load the installed library: ${loaded:-not found}" ;;
	esac
	LD_LIBRARY_PATH=$libdir runv "$exe" || fail "$name failed"
}

step "C client, shared library"
build_and_run client-c "${cc[@]}" -x c -Wall -Werror

step "C++ client, shared library"
if [ ${#cxx[@]} -eq 0 ]; then
	echo "skipped: no C++ compiler"
else
	build_and_run client-c++ "${cxx[@]}" -x c++ -Wall -Werror
fi

step "C client, static library"
# shellcheck disable=SC2086
if runv "${cc[@]}" -o "$tmp/client-static" -x c "$client" -x none "${san[@]}" \
	$static_cflags -Wl,-Bstatic $static_libs -Wl,-Bdynamic; then
	if readelf -d -W "$tmp/client-static" | grep -q 'NEEDED.*libfdpass'; then
		fail "the static client still needs the shared library"
	fi
	runv "$tmp/client-static" || fail "the static client failed"
else
	fail "the static library does not link with pkg-config --static's flags"
fi

echo
if [ $status -ne 0 ]; then
	echo "install test FAILED"
else
	echo "ok: the installed libfdpass works from C${cxx[0]:+ and C++}"
fi
exit $status
