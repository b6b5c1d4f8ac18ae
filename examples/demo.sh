#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# libfdpass in one screen: builds the library and its two example programs,
# starts one fdpass-frontend and two fdpass-backends on loopback, sends a few
# requests with curl and shows who answered, then stops everything.
#
#   bash examples/demo.sh
#
# On a Debian 12 machine, as root, it first installs what is missing (meson,
# ninja-build, pkg-config, gcc, curl). It builds into build-demo/ in the
# source tree (DEMO_BUILD_DIR overrides; a second run reuses it) with
# -Dtests=false, so cmocka is not needed. Sockets and logs live in a
# temporary directory that is removed on exit, with every process started.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=${DEMO_BUILD_DIR:-$src/build-demo}

packages=(meson ninja-build pkg-config gcc curl)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "demo: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "demo: installing ${missing[*]} ..."
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-demo.XXXXXX")
pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== building libfdpass and its examples into $build"
if [[ -f $build/build.ninja ]]; then
	meson compile -C "$build" >"$run/build.log" 2>&1 || { cat "$run/build.log"; exit 1; }
else
	{ meson setup "$build" "$src" -Dtests=false && meson compile -C "$build"; } \
		>"$run/build.log" 2>&1 || { cat "$run/build.log"; exit 1; }
fi
backend=$build/examples/fdpass-backend
frontend=$build/examples/fdpass-frontend

# Wait until a file exists (a backend's socket) or a process has died.
wait_for_socket() {
	local i
	for i in $(seq 100); do
		[[ -S $1 ]] && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.05
	done
	echo "demo: fdpass-backend did not start:" >&2
	cat "$run"/backend-*.log >&2
	exit 1
}

# Each backend is started through "exec" in a subshell, so that it keeps the
# subshell's pid and can say which process it is in the body it serves.
start_backend() { # NAME
	local sock=$run/$1.sock
	( exec "$backend" --listen "$sock" --body "answered by backend $1 (pid $BASHPID)
" 2>"$run/backend-$1.log" ) &
	pids+=($!)
	wait_for_socket "$sock" $!
	echo "   fdpass-backend $1, pid $!, listening on $sock"
}

echo "== starting two backends and a front-end"
start_backend A
start_backend B

# The front-end binds the port itself; if the one picked is taken, try another.
port=
for attempt in 1 2 3 4 5 6 7 8 9 10; do
	try=$((20000 + RANDOM % 40000))
	"$frontend" --listen "127.0.0.1:$try" \
		--route "/alpha=$run/A.sock" \
		--route "/beta=$run/B.sock" \
		--route "/gone=$run/C.sock" \
		2>"$run/frontend.log" &
	fe=$!
	for i in $(seq 100); do
		kill -0 "$fe" 2>/dev/null || break
		if (exec 3<>"/dev/tcp/127.0.0.1/$try") 2>/dev/null; then
			port=$try
			break
		fi
		sleep 0.05
	done
	if [[ -n $port ]] && kill -0 "$fe" 2>/dev/null; then
		pids+=("$fe")
		break
	fi
	port=
	wait "$fe" 2>/dev/null || true
	grep -qi 'in use' "$run/frontend.log" || { cat "$run/frontend.log" >&2; exit 1; }
done
[[ -n $port ]] || { echo "demo: found no free port" >&2; exit 1; }
echo "   fdpass-frontend, pid $fe, listening on 127.0.0.1:$port:"
echo "     /alpha -> backend A, /beta -> backend B, /gone -> backend C, which is not running"

show() { # PATH
	echo
	echo "\$ curl -i http://127.0.0.1:$port$1"
	curl -sS -i --max-time 10 "http://127.0.0.1:$port$1" | tr -d '\r'
}

show /alpha/hello
show /beta/index.html
show /alpha/again
show /nothing-here
show /gone/x

cat <<EOF

== what happened
For each 200 above, fdpass-frontend read the request head and picked the
route with the longest matching path prefix. It connected to that backend's
unix socket, ran the "flush" flusher, which wrote the status line, Date,
Server and "Connection: close" to the client, then passed the client's TCP
socket itself to the backend: one '\\0' byte with an SCM_RIGHTS control
message (fdpass_handoff(); the same bytes Apache httpd's mod_proxy_fdpass
sends). The backend (fdpass_backend_recv()) wrote the body straight to the
client and closed it: the body never went through the front-end. The 404
(no route) and the 502 (backend C is not running) came from the
front-end itself. The logs:
EOF
sed 's/^/   /' "$run/frontend.log"
sed 's/^/   /' "$run/backend-A.log" "$run/backend-B.log"

echo
echo "== stopping the front-end and the backends"
