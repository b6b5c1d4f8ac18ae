#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The end-to-end hand-off benchmark of libfdpass, on loopback only: the same
# closed-loop load (bench/e2e/loadgen.c) against
#   a   Apache httpd (mpm_event) + mod_proxy_fdpass -> fdpass-backend
#   b0  nginx reverse proxy -> httpserv on a unix socket, client keep-alive off
#   b1  the same with client keep-alive on
#   c   httpserv served directly (keep-alive)
#   d   fdpass-frontend -> fdpass-backend (flush flusher, close-delimited)
#   e   fdpass-frontend keepalive=on -> fdpass-backend --keep-alive
# with a 13-byte and a 1 MiB body, interleaved over several rounds, then a
# scale run of (d) over several connection counts. Writes results.md and
# results.png. See README.md beside this file.
#
#   bash bench/e2e/run.sh [--duration S] [--rounds N] ...   (as root)
#   bash bench/e2e/run.sh --smoke --loadgen L --httpserv H \
#        --fdpass-backend B --fdpass-frontend F               (meson test)
#
# Every process it starts is stopped on exit, whatever happens.

set -u -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

DURATION=5          # seconds per run, warm-up included
WARMUP=1
ROUNDS=5
CONNS=64
SCALE_CONNS="16 64 256 1000"
SCALE_DURATION=4
SCALE_ROUNDS=2
CLIENT_THREADS=1
OUT=$HERE
BUILD=$REPO/build-e2e
SMOKE=0
PIN=0
KEEP=0
NO_INSTALL=0
RUN_CASES="a b0 b1 c d e"
RUN_BODIES="13 1048576"
NO_SCALE=0
REPORT_ONLY=0
LOADGEN= HTTPSERV= FDBACKEND= FDFRONTEND=

usage() {
	cat <<EOF
Usage: bash bench/e2e/run.sh [options]          (full run: as root, Debian 12)
       bash bench/e2e/run.sh --smoke --loadgen L --httpserv H \\
            --fdpass-backend B --fdpass-frontend F    (no root needed)

Options:
  --duration S        seconds per run, warm-up included (default $DURATION)
  --warmup S          seconds not measured at the start of a run (default $WARMUP)
  --rounds N          interleaved rounds of every case (default $ROUNDS)
  --conns N           concurrent connections of the main runs (default $CONNS)
  --scale-conns LIST  connection counts of the scale run (default "$SCALE_CONNS")
  --scale-duration S  seconds per scale run (default $SCALE_DURATION)
  --scale-rounds N    rounds of the scale run (default $SCALE_ROUNDS)
  --client-threads N  load generator threads (default $CLIENT_THREADS)
  --pin               pin the load generator to CPU 1 and the servers to CPU 0
  --cases LIST        only these cases (default "$RUN_CASES"; a partial run
                      reports n/a for ratios it lacks)
  --bodies LIST       only these body sizes in bytes (default "$RUN_BODIES")
  --no-scale          leave out the scale run
  --report-only       run nothing: redraw results.md and results.png from
                      the results.tsv in --out
  --out DIR           where results.md, results.png, results.tsv go
                      (default: $HERE)
  --build-dir DIR     meson build directory (default: $BUILD); built with
                      --buildtype=release
  --no-install        do not apt-get install missing packages
  --keep              keep the temporary directory (configs, logs)
  --smoke             a second or two: one round of (c) and (d) with a small
                      body, checking that responses are counted; needs the
                      four --loadgen/--httpserv/--fdpass-* executables (or
                      builds them); exit 77 when something is missing
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--duration|--warmup|--rounds|--conns|--scale-*|--client-threads|--cases|--bodies|--out|\
	--build-dir|--loadgen|--httpserv|--fdpass-backend|--fdpass-frontend)
		[ $# -ge 2 ] || { echo "run.sh: $1 wants a value" >&2; exit 2; } ;;
	esac
	case $1 in
	--duration) DURATION=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	--scale-conns) SCALE_CONNS=$2; shift ;;
	--scale-duration) SCALE_DURATION=$2; shift ;;
	--scale-rounds) SCALE_ROUNDS=$2; shift ;;
	--client-threads) CLIENT_THREADS=$2; shift ;;
	--pin) PIN=1 ;;
	--cases) RUN_CASES=$2; shift ;;
	--bodies) RUN_BODIES=$2; shift ;;
	--no-scale) NO_SCALE=1 ;;
	--report-only) REPORT_ONLY=1 ;;
	--out) OUT=$2; shift ;;
	--build-dir) BUILD=$2; shift ;;
	--no-install) NO_INSTALL=1 ;;
	--keep) KEEP=1 ;;
	--smoke) SMOKE=1 ;;
	--loadgen) LOADGEN=$2; shift ;;
	--httpserv) HTTPSERV=$2; shift ;;
	--fdpass-backend) FDBACKEND=$2; shift ;;
	--fdpass-frontend) FDFRONTEND=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }
skip() { printf 'run.sh: SKIP: %s\n' "$*"; exit 77; }

# ------------------------------------------------------------ processes

TMP=
CLEAN_FILES=()   # removed on exit
PIDS=()          # every process started, stopped in reverse order on exit
HTTPD_CONF=      # the httpd started last, if still running

# Builtins only, here and in what runs between two runs: on a busy 2-CPU
# machine every fork costs milliseconds.
pid_alive() {
	local line
	{ read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	[ "${line%% *}" != Z ]
}

# Stop pid: SIGTERM (or $2), up to 5 s, then SIGKILL, with its children
# (nginx's workers) if it had to be killed.
stop_pid() {
	local pid=$1 sig=${2:-TERM} i kids
	pid_alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		pid_alive "$pid" || break
		sleep 0.05
	done
	if pid_alive "$pid"; then
		kids=$(pgrep -P "$pid" 2>/dev/null)
		kill -KILL "$pid" $kids 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	return 0
}

# The pids of the processes whose command line is "... -f CONF ...": our own
# httpd (its children keep the parent's command line).
httpd_pids() {
	local f pid i args
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}; pid=${pid%/cmdline}
		[ "$pid" = "$$" ] && continue
		{ mapfile -d '' args < "$f"; } 2>/dev/null || continue
		for ((i = 0; i + 1 < ${#args[@]}; i++)); do
			if [ "${args[i]}" = -f ] && [ "${args[i + 1]}" = "$1" ]; then
				echo "$pid"
				break
			fi
		done
	done
}

stop_httpd() {
	local conf=$1 i p
	[ -n "$conf" ] || return 0
	apache2 -f "$conf" -k stop >/dev/null 2>&1
	for i in $(seq 100); do
		[ -z "$(httpd_pids "$conf")" ] && break
		sleep 0.1
	done
	for p in $(httpd_pids "$conf"); do
		say "  httpd: killing leftover process $p"
		kill -KILL "$p" 2>/dev/null
	done
	HTTPD_CONF=
}

stop_all() {
	local i
	stop_httpd "$HTTPD_CONF"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_pid "${PIDS[i]}"
	done
	PIDS=()
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM HUP
	stop_all
	[ ${#CLEAN_FILES[@]} = 0 ] || rm -f "${CLEAN_FILES[@]}"
	if [ -n "$TMP" ] && [ -d "$TMP" ]; then
		if [ "$KEEP" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Start a program in the background with its stderr in a log; sets LAST_PID.
spawn() {
	local log=$1; shift
	if [ "$PIN" = 1 ]; then
		taskset -c 0 "$@" </dev/null >"$log.out" 2>"$log" &
	else
		"$@" </dev/null >"$log.out" 2>"$log" &
	fi
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# Forget and stop the processes started since mark $1 (an index in PIDS).
stop_since() {
	local mark=$1 i
	for ((i = ${#PIDS[@]} - 1; i >= mark; i--)); do
		stop_pid "${PIDS[i]}" "${2:-TERM}"
	done
	PIDS=("${PIDS[@]:0:mark}")
}

tcp_listening() { # port: something listens on 127.0.0.1:port
	local hex
	hex=$(printf '%04X' "$1")
	awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
		/proc/net/tcp
}

unix_listening() { # path: by the socket file, whatever name the socket was bound with
	python3 "$REPO/tests/examples/unixdiag.py" "$1"
}

wait_until() { # what pid-or-0 cmd...: poll up to 15 s
	local what=$1 pid=$2 i; shift 2
	for i in $(seq 300); do
		"$@" && return 0
		if [ "$pid" != 0 ] && ! pid_alive "$pid"; then
			say "  $what exited before it was ready"
			return 1
		fi
		sleep 0.05
	done
	say "  $what not ready after 15 s"
	return 1
}

free_port() { "$LOADGEN" --free-port; }

# ------------------------------------------------------------ CPU accounting

CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

TICKS=0
ticks_of() { # pids...: TICKS = utime + stime of them all
	local p line f
	TICKS=0
	for p in "$@"; do
		{ read -r line < "/proc/$p/stat"; } 2>/dev/null || continue
		read -r -a f <<<"${line##*) }"
		TICKS=$((TICKS + f[11] + f[12]))
	done
}

# user nice system irq softirq: what every process, and the kernel for
# them, ran
BUSY=0
busy_ticks() {
	local cpu u n s i w q sq rest
	read -r cpu u n s i w q sq rest < /proc/stat
	BUSY=$((u + n + s + q + sq))
}

# ------------------------------------------------------------ the cases

BODY_SMALL=13
BODY_LARGE=$((1 << 20))
APACHE_MODULES=/usr/lib/apache2/modules
CASES="a b0 b1 c d e"

case_name() {
	case $1 in
	a) echo "(a) httpd + mod_proxy_fdpass -> fdpass-backend" ;;
	b0) echo "(b) nginx -> httpserv (unix), client keep-alive off" ;;
	b1) echo "(b) nginx -> httpserv (unix), client keep-alive on" ;;
	c) echo "(c) httpserv directly, keep-alive" ;;
	d) echo "(d) fdpass-frontend -> fdpass-backend (flush, close-delimited)" ;;
	e) echo "(e) fdpass-frontend keepalive=on -> fdpass-backend --keep-alive" ;;
	esac
}

# Set by start_case: PORT, SERVER_PIDS (for CPU), COUNT_HOW.
PORT=
PRE=0            # 1: curl made one request before the load generator
SERVER_PIDS=()

httpd_threads() { # ThreadsPerChild, ServerLimit for $1 connections
	local servers=$(( (2 * $1 + 63) / 64 ))
	[ "$servers" -lt 4 ] && servers=4
	echo "64 $servers"
}

start_httpd() { # dir body-file conns
	local d=$1 conns=$3 tpc sl group attempt
	read -r tpc sl < <(httpd_threads "$conns")
	group=nogroup; getent group nogroup >/dev/null || group=nobody
	mkdir -p "$d/localhost" "$d/run"
	chmod 755 "$d/localhost" "$d/run"
	spawn "$d/backend.log" "$FDBACKEND" --listen "$d/localhost/backend.sock" --mode 0666 \
		--file "$2"
	wait_until fdpass-backend "$LAST_PID" unix_listening "$d/localhost/backend.sock" || return 1
	SERVER_PIDS=("$LAST_PID")
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port)
		cat > "$d/httpd.conf" <<EOF
ServerRoot "$d"
ServerName localhost
Listen 127.0.0.1:$PORT
PidFile $d/httpd.pid
ErrorLog $d/httpd-error.log
LogLevel warn
DefaultRuntimeDir $d/run
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule proxy_module $APACHE_MODULES/mod_proxy.so
LoadModule proxy_fdpass_module $APACHE_MODULES/mod_proxy_fdpass.so
User nobody
Group $group
# Worker limits far above the load: every process started at once, no
# process spawned or reaped during a run.
StartServers $sl
ServerLimit $sl
ThreadLimit $tpc
ThreadsPerChild $tpc
MaxRequestWorkers $((sl * tpc))
MinSpareThreads $tpc
MaxSpareThreads $((sl * tpc))
MaxConnectionsPerChild 0
ListenBacklog 4096
KeepAlive Off
LogFormat "%>s %B %U" bench
CustomLog $d/httpd-access.log bench
BufferedLogs On
ProxyPassMatch "^/fd/(.*)\$" "fd://localhost/backend.sock\$2"
EOF
		HTTPD_CONF=$d/httpd.conf
		if [ "$PIN" = 1 ]; then
			taskset -c 0 apache2 -f "$d/httpd.conf" -k start >"$d/httpd-start.log" 2>&1
		else
			apache2 -f "$d/httpd.conf" -k start >"$d/httpd-start.log" 2>&1
		fi
		if wait_until httpd 0 tcp_listening "$PORT"; then
			# All ServerLimit children up: none is started during the run.
			local i
			for i in $(seq 100); do
				[ "$(httpd_pids "$d/httpd.conf" | wc -l)" -ge $((sl + 1)) ] && break
				sleep 0.05
			done
			mapfile -t -O 1 SERVER_PIDS < <(httpd_pids "$d/httpd.conf")
			return 0
		fi
		stop_httpd "$d/httpd.conf"
		grep -qi 'in use' "$d/httpd-error.log" "$d/httpd-start.log" 2>/dev/null || break
	done
	cat "$d/httpd-start.log" "$d/httpd-error.log" 2>/dev/null | tail -20
	return 1
}

start_nginx() { # dir body-file keepalive(0|1) conns
	local d=$1 ka=$3 attempt kadir
	if [ "$ka" = 1 ]; then
		kadir="keepalive_timeout 65s; keepalive_requests 1000000;"
	else
		kadir="keepalive_timeout 0;"
	fi
	mkdir -p "$d/nginx-tmp"
	chmod 777 "$d/nginx-tmp"
	spawn "$d/httpserv.log" "$HTTPSERV" --unix "$d/httpserv.sock" --mode 0666 --file "$2"
	wait_until httpserv "$LAST_PID" unix_listening "$d/httpserv.sock" || return 1
	SERVER_PIDS=("$LAST_PID")
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port)
		cat > "$d/nginx.conf" <<EOF
worker_processes $(nproc);
worker_rlimit_nofile 65536;
pid $d/nginx.pid;
error_log $d/nginx-error.log warn;
events {
    worker_connections 16384;
    use epoll;
}
http {
    log_format bench '\$status \$body_bytes_sent \$request_uri';
    access_log $d/nginx-access.log bench buffer=256k flush=5s;
    client_body_temp_path $d/nginx-tmp/body;
    proxy_temp_path $d/nginx-tmp/proxy;
    fastcgi_temp_path $d/nginx-tmp/fastcgi;
    uwsgi_temp_path $d/nginx-tmp/uwsgi;
    scgi_temp_path $d/nginx-tmp/scgi;
    $kadir
    upstream backend {
        server unix:$d/httpserv.sock;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Stream the body as it comes (a 1 MiB body would otherwise
            # go through temporary files once the buffers are full).
            proxy_buffering off;
            proxy_buffer_size 64k;
            proxy_buffers 4 64k;
            proxy_busy_buffers_size 128k;
        }
    }
}
EOF
		spawn "$d/nginx.stderr" nginx -p "$d" -c "$d/nginx.conf" -e "$d/nginx-error.log" \
			-g 'daemon off; master_process on;'
		local ngx=$LAST_PID
		if wait_until nginx "$ngx" tcp_listening "$PORT"; then
			local i
			for i in $(seq 100); do
				[ "$(pgrep -P "$ngx" | wc -l)" -ge "$(nproc)" ] && break
				sleep 0.05
			done
			SERVER_PIDS+=("$ngx")
			mapfile -t -O ${#SERVER_PIDS[@]} SERVER_PIDS < <(pgrep -P "$ngx")
			return 0
		fi
		stop_since $((${#PIDS[@]} - 1))
		grep -qi 'in use' "$d/nginx-error.log" "$d/nginx.stderr" 2>/dev/null || break
	done
	cat "$d/nginx.stderr" "$d/nginx-error.log" 2>/dev/null | tail -20
	return 1
}

start_httpserv_tcp() { # dir body-file
	local d=$1
	rm -f "$d/httpserv.port"
	spawn "$d/httpserv.log" "$HTTPSERV" --listen 127.0.0.1:0 --port-file "$d/httpserv.port" \
		--file "$2"
	wait_until httpserv "$LAST_PID" test -s "$d/httpserv.port" || return 1
	PORT=$(cat "$d/httpserv.port")
	wait_until httpserv "$LAST_PID" tcp_listening "$PORT" || return 1
	SERVER_PIDS=("$LAST_PID")
}

start_fdpass() { # dir body-file keepalive(0|1)
	local d=$1 ka=$3 attempt route opts=()
	if [ "$ka" = 1 ]; then
		route="/=$d/backend.sock,flusher=none,meta=on,keepalive=on"
		opts=(--keep-alive)
	else
		route="/=$d/backend.sock"
	fi
	spawn "$d/backend.log" "$FDBACKEND" --listen "$d/backend.sock" --file "$2" "${opts[@]}"
	wait_until fdpass-backend "$LAST_PID" unix_listening "$d/backend.sock" || return 1
	SERVER_PIDS=("$LAST_PID")
	for attempt in 1 2 3 4 5; do
		PORT=$(free_port)
		spawn "$d/frontend.log" "$FDFRONTEND" --listen "127.0.0.1:$PORT" --route "$route"
		if wait_until fdpass-frontend "$LAST_PID" tcp_listening "$PORT"; then
			SERVER_PIDS+=("$LAST_PID")
			return 0
		fi
		stop_since $((${#PIDS[@]} - 1))
		grep -qi 'in use' "$d/frontend.log" || break
	done
	cat "$d/frontend.log"
	return 1
}

# LG[KEY]: the values of the load generator's result line.
declare -A LG
parse_result() {
	local f
	LG=()
	for f in $1; do
		[[ $f == *=* ]] && LG[${f%%=*}]=${f#*=}
	done
}

# Compare the servers' own counts with the load generator's; prints one
# "ok: ..." or "MISMATCH: ..." text. Runs after the servers have stopped.
count_check() { # case dir conns (after parse_result)
	local c=$1 d=$2 conns=$3 sent done_ conns_opened n m what
	# curl's check request, if one was made, is one more for the servers.
	sent=$((LG[sent] + PRE)); done_=$((LG[completed_total] + PRE))
	conns_opened=$((LG[connections] + PRE))
	case $c in
	a)
		n=$(grep -c '^200 ' "$d/httpd-access.log" 2>/dev/null); n=${n:-0}
		m=$(grep -c 'plain message' "$d/backend.log" 2>/dev/null); m=${m:-0}
		what="httpd access log $n x 200, fdpass-backend $m hand-offs" ;;
	b0|b1)
		n=$(grep -c '^200 ' "$d/nginx-access.log" 2>/dev/null); n=${n:-0}
		m=$(sed -n 's/.*served \([0-9]*\) responses.*/\1/p' "$d/httpserv.log"); m=${m:-0}
		what="nginx access log $n x 200, httpserv served $m" ;;
	c)
		n=$(sed -n 's/.*served \([0-9]*\) responses.*/\1/p' "$d/httpserv.log"); n=${n:-0}
		m=$n
		what="httpserv served $n" ;;
	d)
		n=$(grep -c 'plain message' "$d/backend.log" 2>/dev/null); n=${n:-0}
		m=$(grep -c 'handed to' "$d/frontend.log" 2>/dev/null); m=${m:-0}
		what="fdpass-backend $n hand-offs, fdpass-frontend $m" ;;
	e)
		# Only the hand-off is logged, once per connection; the requests
		# served on it afterwards are not.
		n=$(grep -c 'metadata message.*keep-alive' "$d/backend.log" 2>/dev/null); n=${n:-0}
		m=$(grep -c 'handed to' "$d/frontend.log" 2>/dev/null); m=${m:-0}
		what="fdpass-backend $n kept connections, fdpass-frontend $m hand-offs"
		if [ "$n" -eq "$m" ] && [ "$n" -le "$conns_opened" ] &&
		   [ "$n" -ge $((conns_opened - conns)) ]; then
			echo "ok: $what; connections opened $conns_opened$([ "$PRE" = 1 ] && echo ' (curl 1)') (requests on a kept connection are not logged)"
		else
			echo "MISMATCH: $what; connections opened $conns_opened$([ "$PRE" = 1 ] && echo ' (curl 1)')"
		fi
		return ;;
	esac
	# Every response counted was served; a server may have served a few
	# more that were in flight when the load generator stopped.
	what="$what; completed $done_, sent $sent$([ "$PRE" = 1 ] && echo ' (curl 1, load generator the rest)')"
	if [ "$n" -ge "$done_" ] && [ "$n" -le "$sent" ] && [ "$m" -ge "$done_" ] && [ "$m" -le "$sent" ]; then
		echo "ok: $what"
	else
		echo "MISMATCH: $what"
	fi
}

RAW=         # results.tsv: one line per run
RUN_N=0

# run_case CASE BODYBYTES CONNS DURATION ROUND KIND: start the servers,
# load them, stop them, check the counts, append one line to $RAW.
run_case() {
	local c=$1 bytes=$2 conns=$3 dur=$4 round=$5 kind=$6
	local d mark body line t0 t1 s0 s1 b0 b1 srv lg fg check rc uss usc pin=()
	RUN_N=$((RUN_N + 1))
	d=$TMP/run-$RUN_N-$c-$bytes-$conns
	mkdir -p "$d"; chmod 755 "$d"
	body=$TMP/body-$bytes
	mark=${#PIDS[@]}
	SERVER_PIDS=()
	case $c in
	a) start_httpd "$d" "$body" "$conns" ;;
	b0) start_nginx "$d" "$body" 0 "$conns" ;;
	b1) start_nginx "$d" "$body" 1 "$conns" ;;
	c) start_httpserv_tcp "$d" "$body" ;;
	d) start_fdpass "$d" "$body" 0 ;;
	e) start_fdpass "$d" "$body" 1 ;;
	esac
	rc=$?
	if [ "$rc" != 0 ]; then
		stop_httpd "$HTTPD_CONF"; stop_since "$mark"
		die "could not start case $c (logs in $d; rerun with --keep)"
	fi
	[ "$PIN" = 1 ] && pin=(taskset -c 1)
	# One request with curl first, an independent client: status 200 and
	# the whole body, or the case is broken and the run stops.
	PRE=0
	if command -v curl >/dev/null; then
		local got
		got=$(curl -sS --max-time 15 -o "$d/curl.body" -w '%{http_code} %{size_download}' \
			"http://127.0.0.1:$PORT/fd/bench" 2>"$d/curl.err")
		PRE=1
		if [ "$got" != "200 $bytes" ]; then
			stop_httpd "$HTTPD_CONF"; stop_since "$mark"
			die "case $c: curl got '$got' (want '200 $bytes'): $(cat "$d/curl.err")"
		fi
	fi
	ticks_of "${SERVER_PIDS[@]}"; s0=$TICKS; busy_ticks; b0=$BUSY; t0=$EPOCHREALTIME
	line=$("${pin[@]}" "$LOADGEN" --port "$PORT" --path /fd/bench -c "$conns" \
		-t "$CLIENT_THREADS" -d "$dur" --warmup "$WARMUP" --body-length "$bytes" \
		--label "$c" 2>"$d/loadgen.err")
	rc=$?
	ticks_of "${SERVER_PIDS[@]}"; s1=$TICKS; busy_ticks; b1=$BUSY; t1=$EPOCHREALTIME
	sleep 0.2 # what is in flight settles before the servers stop
	if [ "$c" = a ]; then stop_httpd "$HTTPD_CONF"; fi
	# nginx (started last): QUIT is its graceful stop, which writes out the
	# buffered access log
	if [ "$c" = b0 ] || [ "$c" = b1 ]; then stop_pid "${PIDS[${#PIDS[@]} - 1]}" QUIT; fi
	stop_since "$mark"
	[ "$rc" = 0 ] && [ -n "$line" ] || die "load generator failed on case $c: $(cat "$d/loadgen.err")"
	parse_result "$line"
	check=$(count_check "$c" "$d" "$conns")
	# CPU in cores (1.00 = one core busy) over the run: servers, load
	# generator, all other processes; and per response in microseconds:
	# what a request costs, whatever share of the machine the case got.
	read -r srv lg fg uss usc < <(awk -v s0="$s0" -v s1="$s1" -v b0="$b0" -v b1="$b1" \
		-v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v u="${LG[cpu_user]}" -v sy="${LG[cpu_sys]}" \
		-v n="${LG[completed_total]}" 'BEGIN {
			t = t1 - t0; srv = (s1 - s0) / hz / t; lg = (u + sy) / t
			fg = (b1 - b0) / hz / t - srv - lg; if (fg < 0) fg = 0
			us = 0; uc = 0
			if (n > 0) { us = (s1 - s0) / hz / n * 1e6; uc = (u + sy) / n * 1e6 }
			printf "%.2f %.2f %.2f %.1f %.1f\n", srv, lg, fg, us, uc }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$kind" "$round" "$c" "$bytes" "$conns" "${LG[rps]}" "${LG[mbps]}" \
		"${LG[p50_ms]}" "${LG[p99_ms]}" "${LG[errors]}" \
		"$lg" "$srv" "$fg" "${LG[requests]}" "${LG[retries]}" "$uss" "$usc" \
		"$check" >> "$RAW"
	printf '  %-3s %8s B %5s conns: %9s req/s %8s MB/s p50 %7s ms p99 %8s ms errors %s | cpu client %s servers %s others %s | us/req servers %s client %s | %s\n' \
		"$c" "$bytes" "$conns" "${LG[rps]}" "${LG[mbps]}" "${LG[p50_ms]}" \
		"${LG[p99_ms]}" "${LG[errors]}" "$lg" "$srv" "$fg" "$uss" "$usc" "$check"
	[ "$KEEP" = 1 ] || rm -rf "$d"
	return 0
}

# ------------------------------------------------------------ preparation

make_bodies() {
	printf 'Hello, world\n' > "$TMP/body-$BODY_SMALL"
	head -c "$BODY_LARGE" /dev/urandom > "$TMP/body-$BODY_LARGE"
	[ "$(stat -c %s "$TMP/body-$BODY_SMALL")" = "$BODY_SMALL" ] || die "small body is not $BODY_SMALL bytes"
}

raise_nofile() {
	local want=$1 hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
		ulimit -Hn "$want" 2>/dev/null || true
	fi
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	say "open files: ulimit -n $(ulimit -n)"
}

install_missing() {
	local pkgs=()
	command -v apache2 >/dev/null && [ -e "$APACHE_MODULES/mod_proxy_fdpass.so" ] || pkgs+=(apache2)
	command -v nginx >/dev/null || pkgs+=(nginx)
	command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
	command -v curl >/dev/null || pkgs+=(curl)
	command -v python3 >/dev/null || pkgs+=(python3)
	command -v meson >/dev/null || pkgs+=(meson)
	command -v ninja >/dev/null || pkgs+=(ninja-build)
	command -v cc >/dev/null || pkgs+=(gcc)
	command -v pkg-config >/dev/null || pkgs+=(pkg-config)
	command -v taskset >/dev/null || pkgs+=(util-linux)
	command -v pgrep >/dev/null || pkgs+=(procps)
	[ ${#pkgs[@]} = 0 ] && return 0
	[ "$NO_INSTALL" = 1 ] && die "missing: ${pkgs[*]} (and --no-install given)"
	say "installing: ${pkgs[*]}"
	# Installing apache2 or nginx may start their stock services on port
	# 80 where an init system runs; this script neither uses nor stops them.
	DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			"${pkgs[@]}" >/dev/null || die "apt-get install ${pkgs[*]} failed"
}

build() {
	if [ ! -f "$BUILD/build.ninja" ]; then
		meson setup "$BUILD" "$REPO" --buildtype=release -Dtests=false >"$TMP/meson-setup.log" 2>&1 ||
			{ cat "$TMP/meson-setup.log"; die "meson setup failed"; }
	else
		meson configure "$BUILD" --buildtype=release >/dev/null ||
			die "meson configure $BUILD failed"
	fi
	ninja -C "$BUILD" >"$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; die "build failed"; }
	LOADGEN=${LOADGEN:-$BUILD/bench/e2e/e2e-loadgen}
	HTTPSERV=${HTTPSERV:-$BUILD/bench/e2e/e2e-httpserv}
	FDBACKEND=${FDBACKEND:-$BUILD/examples/fdpass-backend}
	FDFRONTEND=${FDFRONTEND:-$BUILD/examples/fdpass-frontend}
}

# ------------------------------------------------------------ smoke mode

smoke() {
	local x c errors requests check fail=0 pass=0
	for x in awk sed grep; do
		command -v "$x" >/dev/null || skip "$x is not installed"
	done
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-e2e-smoke.XXXXXX") || skip "no temporary directory"
	if [ -z "$LOADGEN$HTTPSERV$FDBACKEND$FDFRONTEND" ]; then
		command -v meson >/dev/null && command -v ninja >/dev/null ||
			skip "no executables given and meson/ninja are not installed to build them"
		build
	fi
	for x in "$LOADGEN" "$HTTPSERV" "$FDBACKEND" "$FDFRONTEND"; do
		[ -n "$x" ] && [ -x "$x" ] || skip "executable '$x' is missing (give all four --loadgen, --httpserv, --fdpass-backend, --fdpass-frontend)"
	done
	"$LOADGEN" --free-port >/dev/null 2>&1 || skip "cannot bind a TCP port on 127.0.0.1"
	[ -r /proc/net/tcp ] || skip "/proc/net is not readable"
	command -v python3 >/dev/null || skip "python3 is not installed"
	chmod 755 "$TMP"
	RAW=$TMP/results.tsv
	WARMUP=0
	printf 'Hello, world\n' > "$TMP/body-$BODY_SMALL"
	say "smoke: (c) and (d), 13-byte body, 8 connections, 1 s each"
	for c in c d; do
		run_case "$c" "$BODY_SMALL" 8 1 1 smoke
		errors=$(awk -F'\t' 'END { print $10 }' "$RAW")
		requests=$(awk -F'\t' 'END { print $14 }' "$RAW")
		check=$(awk -F'\t' 'END { print $18 }' "$RAW")
		if [ "${requests:-0}" -gt 0 ] && [ "$errors" = 0 ] && [[ $check == ok:* ]]; then
			say "ok   $c: $requests responses counted, 0 errors, $check"
			pass=$((pass + 1))
		else
			say "FAIL $c: requests=$requests errors=$errors; $check"
			fail=$((fail + 1))
		fi
	done
	say "$pass passed, $fail failed"
	[ "$fail" = 0 ]
}

if [ "$SMOKE" = 1 ]; then
	smoke
	exit $?
fi

# ------------------------------------------------------------ full run

# The facts a report needs besides the runs, kept as "# KEY=value" lines at
# the top of results.tsv so that --report-only can redraw from it.
META_KEYS="DATE ELAPSED COMMIT NPROC CPU_MODEL KERNEL OS_NAME CC_VERSION HTTPD_VERSION
	NGINX_VERSION CONNS ROUNDS DURATION WARMUP SCALE_CONNS SCALE_ROUNDS SCALE_DURATION
	CLIENT_THREADS PIN HTTPD_TPC HTTPD_SL LOAD_BEFORE LOAD_AFTER"

load_meta() {
	local line k v
	while IFS= read -r line; do
		[[ $line == '#'* ]] || break
		[[ $line == '# '[A-Z_]*=* ]] || continue
		line=${line#'# '}; k=${line%%=*}; v=${line#*=}
		[[ " $(echo $META_KEYS) " == *" $k "* ]] && printf -v "$k" '%s' "$v"
	done < "$1"
}

if [ "$REPORT_ONLY" = 0 ]; then
	[ "$(id -u)" = 0 ] || die "the full run needs root (apt-get, httpd's User nobody); --smoke does not"
	for b in $RUN_BODIES; do
		[ "$b" = "$BODY_SMALL" ] || [ "$b" = "$BODY_LARGE" ] || die "--bodies: $BODY_SMALL and/or $BODY_LARGE"
	done
	for c in $RUN_CASES; do
		[[ " $CASES " == *" $c "* ]] || die "--cases: from \"$CASES\""
	done
	install_missing
	TMP=$(mktemp -d /tmp/fdpass-e2e.XXXXXX) || die "mktemp failed"
	chmod 755 "$TMP"   # httpd and nginx workers (user nobody) reach sockets under it
	build
	for x in "$LOADGEN" "$HTTPSERV" "$FDBACKEND" "$FDFRONTEND"; do
		[ -x "$x" ] || die "$x was not built"
	done
	raise_nofile 65536
	make_bodies
	mkdir -p "$OUT"
	RAW=$TMP/results.tsv
	: > "$RAW"

	START=$(date +%s)
	NPROC=$(nproc)
	CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	KERNEL=$(uname -r)
	OS_NAME=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	CC_VERSION=$(cc --version | head -1)
	HTTPD_VERSION=$(apache2 -v 2>/dev/null | sed -n 's/^Server version: //p')
	NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
	COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')
	read -r HTTPD_TPC HTTPD_SL < <(httpd_threads "$CONNS")
	say "machine: $NPROC CPUs, $CPU_MODEL, Linux $KERNEL; $HTTPD_VERSION; $NGINX_VERSION"
	say "main runs: $ROUNDS rounds x cases ($RUN_CASES) x bodies ($RUN_BODIES), $CONNS connections, ${DURATION}s each (${WARMUP}s warm-up)"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	for r in $(seq "$ROUNDS"); do
		say "round $r/$ROUNDS"
		# Rotate the order of the cases from round to round, so that none
		# always runs first or right after the same neighbour.
		set -- $RUN_CASES
		order=()
		for i in $(seq 0 $(($# - 1))); do
			idx=$(( (i + r - 1) % $# + 1 ))
			order+=("${!idx}")
		done
		for b in $RUN_BODIES; do
			for c in "${order[@]}"; do
				run_case "$c" "$b" "$CONNS" "$DURATION" "$r" main
			done
		done
	done
	if [ "$NO_SCALE" = 0 ]; then
		say "scale run: (d) with the small body at $SCALE_CONNS connections, $SCALE_ROUNDS rounds, ${SCALE_DURATION}s each"
		for r in $(seq "$SCALE_ROUNDS"); do
			for n in $SCALE_CONNS; do
				run_case d "$BODY_SMALL" "$n" "$SCALE_DURATION" "$r" scale
			done
		done
	fi
	ELAPSED=$(( $(date +%s) - START ))
	LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
	DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
	[ "$NO_SCALE" = 1 ] && SCALE_CONNS=
	{
		echo '# SPDX-License-Identifier: MIT'
		for k in $META_KEYS; do printf '# %s=%s\n' "$k" "${!k}"; done
		printf 'kind\tround\tcase\tbody\tconns\trps\tmbps\tp50_ms\tp99_ms\terrors\tcpu_client\tcpu_servers\tcpu_other\trequests\tretries\tus_per_req_servers\tus_per_req_client\tcount_check\n'
		cat "$RAW"
	} > "$OUT/results.tsv"
fi
RAW=$OUT/results.tsv
[ -s "$RAW" ] || die "no $RAW to report on"
load_meta "$RAW"

# ------------------------------------------------------------ report

# Medians over rounds, per kind/case/body/conns; min and max of rps and mbps.
AGG=$(mktemp "${TMPDIR:-/tmp}/fdpass-e2e-agg.XXXXXX")
PLOT=$(mktemp "${TMPDIR:-/tmp}/fdpass-e2e-plot.XXXXXX")
CLEAN_FILES+=("$AGG" "$PLOT.main" "$PLOT.scale" "$PLOT")
awk -F'\t' '/^#/ || $1 == "kind" { next } {
	k = $1 "\t" $3 "\t" $4 "\t" $5
	if (!(k in n)) order[++nk] = k
	i = ++n[k]
	rps[k, i] = $6; mb[k, i] = $7; p50[k, i] = $8; p99[k, i] = $9
	cl[k, i] = $11; sv[k, i] = $12; ot[k, i] = $13; us[k, i] = $16; uc[k, i] = $17
	err[k] += $10
	if ($18 !~ /^ok/) bad[k]++
}
function med(a, k, m,    v, i, j, t) {
	for (i = 1; i <= m; i++) v[i] = a[k, i] + 0
	for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
}
function mn(a, k, m,    i, x) { x = a[k, 1] + 0; for (i = 2; i <= m; i++) if (a[k, i] + 0 < x) x = a[k, i] + 0; return x }
function mx(a, k, m,    i, x) { x = a[k, 1] + 0; for (i = 2; i <= m; i++) if (a[k, i] + 0 > x) x = a[k, i] + 0; return x }
END {
	for (o = 1; o <= nk; o++) {
		k = order[o]; m = n[k]
		printf "%s\t%d\t%.1f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%d\n", k, m,
			med(rps, k, m), mn(rps, k, m), mx(rps, k, m), med(mb, k, m), mn(mb, k, m), mx(mb, k, m),
			med(p50, k, m), med(p99, k, m), err[k], med(cl, k, m), med(sv, k, m), med(ot, k, m),
			med(us, k, m), med(uc, k, m), bad[k] + 0
	}
}' "$RAW" > "$AGG"
# AGG columns: 1 kind 2 case 3 body 4 conns 5 n 6 rps 7 rps_min 8 rps_max 9 mbps 10 mbps_min
#   11 mbps_max 12 p50 13 p99 14 errors 15 cpu_client 16 cpu_servers 17 cpu_other
#   18 us_per_req_servers 19 us_per_req_client 20 count_mismatches

get() { # kind case body conns column
	awk -F'\t' -v k="$1" -v c="$2" -v b="$3" -v n="$4" -v col="$5" \
		'$1 == k && $2 == c && $3 == b && $4 == n { print $col; exit }' "$AGG"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r == "n/a") ? "n/a" : (r + 0 >= t) ? "PASS" : "MISS" }'; }

S=$BODY_SMALL L=$BODY_LARGE
rd_a=$(ratio "$(get main d $S "$CONNS" 6)" "$(get main a $S "$CONNS" 6)")
rd_b0=$(ratio "$(get main d $S "$CONNS" 6)" "$(get main b0 $S "$CONNS" 6)")
re_b1=$(ratio "$(get main e $S "$CONNS" 6)" "$(get main b1 $S "$CONNS" 6)")
Ld_a=$(ratio "$(get main d $L "$CONNS" 9)" "$(get main a $L "$CONNS" 9)")
Ld_b0=$(ratio "$(get main d $L "$CONNS" 9)" "$(get main b0 $L "$CONNS" 9)")
Le_b1=$(ratio "$(get main e $L "$CONNS" 9)" "$(get main b1 $L "$CONNS" 9)")
cpu_ratio() { ratio "$(get main "$2" "$1" "$CONNS" 18)" "$(get main "$3" "$1" "$CONNS" 18)"; }
mismatches=$(awk -F'\t' '!/^#/ && $1 != "kind" && $18 !~ /^ok/' "$RAW" | wc -l)
runs=$(awk -F'\t' '!/^#/ && $1 != "kind"' "$RAW" | wc -l)
others=$(awk -F'\t' '!/^#/ && $1 != "kind" { v[++n] = $13 } END { if (!n) { print "n/a"; exit }
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	printf "%.2f", v[int((n + 1) / 2)] }' "$RAW")

table_for() { # body
	local b=$1 c
	echo "| case | req/s (median) | min - max | MB/s | p50 ms | p99 ms | errors | CPU client | CPU servers | CPU others | servers µs/req | client µs/req | counts |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for c in $CASES; do
		awk -F'\t' -v k=main -v c="$c" -v b="$b" -v n="$CONNS" -v name="$(case_name "$c")" \
			'$1 == k && $2 == c && $3 == b && $4 == n {
				printf "| %s | %.0f | %.0f - %.0f | %.1f | %.2f | %.2f | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %s |\n",
					name, $6, $7, $8, $9, $12, $13, $14, $15, $16, $17, $18, $19,
					($20 == 0) ? "ok (" $5 "/" $5 " runs)" : $20 " of " $5 " runs MISMATCH" }' "$AGG"
	done
}

{
	echo "<!-- SPDX-License-Identifier: MIT -->"
	echo "# libfdpass end-to-end hand-off benchmark"
	echo
	echo "Made by \`bench/e2e/run.sh\` on $DATE in ${ELAPSED} s; libfdpass $COMMIT."
	echo
	echo "## Machine"
	echo
	echo "- $NPROC CPUs: $CPU_MODEL"
	echo "- Linux $KERNEL, $OS_NAME"
	echo "- $HTTPD_VERSION (mpm_event), nginx $NGINX_VERSION, $CC_VERSION"
	echo "- load generator: bench/e2e/loadgen.c, $CLIENT_THREADS thread(s), on the same machine; CPU pinning: $([ "$PIN" = 1 ] && echo 'load generator on CPU 1, servers on CPU 0' || echo none)"
	echo "- other work on the machine: load average (1, 5, 15 min) $LOAD_BEFORE before the runs, $LOAD_AFTER after; other processes took a median $others of the $NPROC cores during the runs (column CPU others)"
	echo
	echo "## Setup"
	echo
	echo "Closed loop, $CONNS connections, ${DURATION} s per run of which ${WARMUP} s warm-up (not measured), $ROUNDS rounds; in each round every case runs with the 13-byte and then with the 1 MiB body, the cases in an order rotated from round to round. Every run starts its servers afresh and stops them after. Medians over the rounds; min - max is the spread of req/s. Latency is per request, from connect (new connection) or write (kept connection) to the last byte of the response. MB/s counts body bytes (10^6)."
	echo
	echo "CPU columns are in cores (1.00 = one core busy) over the run: the load generator, the servers of the case, and every other process on the machine (work that is not this benchmark's). µs/req is CPU time per response: servers' and load generator's CPU over the run divided by the responses completed; it tells what a request costs whatever share of the machine the case got."
	echo
	echo "- (a) Apache httpd, mpm_event, $HTTPD_SL processes x $HTTPD_TPC threads = $((HTTPD_SL * HTTPD_TPC)) workers, all started up front (StartServers = ServerLimit, MaxSpareThreads = MaxRequestWorkers, so no process is spawned or reaped during a run), KeepAlive Off, ListenBacklog 4096, buffered access log; \`ProxyPassMatch \"^/fd/(.*)\$\" \"fd://localhost/backend.sock\$2\"\` to fdpass-backend."
	echo "- (b) nginx, $NPROC worker processes, 16384 connections each, upstream httpserv on a unix socket with upstream keep-alive (256 idle connections), proxy_buffering off, buffered access log; client keep-alive off (\`keepalive_timeout 0\`) or on."
	echo "- (c) httpserv (bench/e2e/httpserv.c, one epoll loop) on TCP, Content-Length, keep-alive."
	echo "- (d) fdpass-frontend \`--route /=backend.sock\` (flush flusher: the response ends at close) -> fdpass-backend \`--file\`."
	echo "- (e) fdpass-frontend \`--route /=backend.sock,flusher=none,meta=on,keepalive=on\` -> fdpass-backend \`--keep-alive --file\`: the first request of a connection is handed over, the backend serves every later one itself."
	echo
	echo "## 13-byte body"
	echo
	table_for "$S"
	echo
	echo "## 1 MiB body"
	echo
	table_for "$L"
	echo
	echo "## Targets"
	echo
	echo "Throughput ratios of the medians decide PASS or MISS. The last column is the same comparison in servers' CPU per response (the other case's µs/req over ours: above 1 means ours costs less), which does not depend on the share of the machine a case got."
	echo
	echo "| target | measured | result | servers' CPU per response, same ratio |"
	echo "| --- | ---: | --- | ---: |"
	echo "| (d) >= 1.5x (a), 13 B (req/s) | ${rd_a}x | $(verdict "$rd_a" 1.5) | $(cpu_ratio $S a d)x |"
	echo "| (d) >= 1.3x (b, keep-alive off), 13 B (req/s) | ${rd_b0}x | $(verdict "$rd_b0" 1.3) | $(cpu_ratio $S b0 d)x |"
	echo "| (d) not slower than (a), 1 MiB (MB/s) | ${Ld_a}x | $(verdict "$Ld_a" 1.0) | $(cpu_ratio $L a d)x |"
	echo "| (d) not slower than (b, keep-alive off), 1 MiB (MB/s) | ${Ld_b0}x | $(verdict "$Ld_b0" 1.0) | $(cpu_ratio $L b0 d)x |"
	echo "| (e) >= 2x (b, keep-alive on), 13 B (req/s) | ${re_b1}x | $(verdict "$re_b1" 2.0) | $(cpu_ratio $S b1 e)x |"
	echo
	echo "For reference, (e)/(b keep-alive on) with 1 MiB bodies: ${Le_b1}x (no target)."
	if [ -n "$SCALE_CONNS" ]; then
		echo
		echo "## Scale run: (d) with the 13-byte body"
		echo
		echo "${SCALE_DURATION} s per run (${WARMUP} s warm-up), $SCALE_ROUNDS rounds; the open-file limit is raised for the load generator and the servers (ulimit -n)."
		echo
		echo "| connections | req/s (median) | min - max | p50 ms | p99 ms | errors | CPU client | CPU servers | CPU others | servers µs/req | client µs/req | counts |"
		echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
		for n in $SCALE_CONNS; do
			awk -F'\t' -v n="$n" -v b="$S" '$1 == "scale" && $2 == "d" && $3 == b && $4 == n {
				printf "| %d | %.0f | %.0f - %.0f | %.2f | %.2f | %d | %.2f | %.2f | %.2f | %.0f | %.0f | %s |\n",
					$4, $6, $7, $8, $12, $13, $14, $15, $16, $17, $18, $19,
					($20 == 0) ? "ok (" $5 "/" $5 " runs)" : $20 " of " $5 " runs MISMATCH" }' "$AGG"
		done
	fi
	echo
	echo "## Counts"
	echo
	if [ "$mismatches" = 0 ]; then
		echo "In all $runs runs the servers' own counts agree with the load generator: every response it counted was served (httpd's access log and fdpass-backend's hand-off lines for (a), nginx's access log and httpserv's count for (b), httpserv's count for (c), fdpass-backend's and fdpass-frontend's lines for (d)), and nothing was served that it had not sent; the difference is the requests in flight when it stopped. For (e), fdpass-backend logs the hand-off of each connection, not each request: the kept connections are checked against the connections the load generator opened."
	else
		echo "**$mismatches of $runs runs disagree** with the servers' own counts: see count_check in results.tsv."
	fi
	echo
	echo "## Every run"
	echo
	echo "[results.tsv](results.tsv) has one line per run (round, case, body, connections, req/s, MB/s, p50, p99, errors, CPU, CPU per response, the count check)."
	echo
	echo "![chart](results.png)"
} > "$OUT/results.md"

# ------------------------------------------------------------ chart

awk -F'\t' -v S="$S" -v L="$L" -v C="$CONNS" 'BEGIN { split("a b0 b1 c d e", cs, " ")
	name["a"] = "(a) httpd"; name["b0"] = "(b) nginx KA off"; name["b1"] = "(b) nginx KA on"
	name["c"] = "(c) direct"; name["d"] = "(d) fdpass"; name["e"] = "(e) fdpass KA" }
	{ row[$1 "," $2 "," $3 "," $4] = $0 }
	END {
		for (i = 1; i <= 6; i++) {
			s[6] = s[7] = s[8] = s[18] = l[9] = l[10] = l[11] = l[18] = "NaN"
			if (("main," cs[i] "," S "," C) in row) split(row["main," cs[i] "," S "," C], s, "\t")
			if (("main," cs[i] "," L "," C) in row) split(row["main," cs[i] "," L "," C], l, "\t")
			printf "%d \"%s\" %s %s %s %s %s %s %s %s\n", i - 1, name[cs[i]],
				s[6], s[7], s[8], l[9], l[10], l[11], s[18], l[18]
		}
	}' "$AGG" > "$PLOT.main"
awk -F'\t' '$1 == "scale" { print $4, $6, $7, $8, $13 }' "$AGG" | sort -n > "$PLOT.scale"
if command -v gnuplot >/dev/null; then
	gnuplot <<EOF || say "gnuplot failed: no chart"
set terminal pngcairo size 1400,1000 font "sans,10"
set output "$OUT/results.png"
set multiplot layout 2,2 title "libfdpass end-to-end hand-off on loopback: $NPROC CPUs, $CONNS connections, median of $ROUNDS rounds (error bars: min - max)\nother work on the machine took a median $others of the $NPROC cores during the runs" font "sans,12"
set style fill solid 0.75 border -1
set grid ytics
set xtics rotate by 20 right nomirror
set xrange [-0.6:5.6]
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set key off
set title "13-byte body: requests/s (higher is better)"
set format y "%.0s%c"
plot "$PLOT.main" using 1:3:4:5:(0.55):xtic(2) with boxerrorbars lc rgb "#4472c4", \
     "" using 1:5:(sprintf("%.0f", \$3)) with labels offset 0,0.8 font "sans,9"
set title "1 MiB body: MB/s (higher is better)"
set format y "%.0f"
plot "$PLOT.main" using 1:6:7:8:(0.55):xtic(2) with boxerrorbars lc rgb "#ed7d31", \
     "" using 1:8:(sprintf("%.0f", \$6)) with labels offset 0,0.8 font "sans,9"
set title "servers' CPU per response, µs (lower is better; median)"
set style data histogram
set style histogram clustered gap 1
set boxwidth 0.9 relative
set logscale y
set yrange [1:20000]
set format y "%.0f"
set key top left
plot "$PLOT.main" using 9:xtic(2) title "13-byte body" lc rgb "#4472c4", \
     "" using 10 title "1 MiB body" lc rgb "#ed7d31", \
     "" using (\$0 - 0.17):9:(sprintf("%.0f", \$9)) with labels offset 0,0.7 font "sans,9" notitle, \
     "" using (\$0 + 0.17):10:(sprintf("%.0f", \$10)) with labels offset 0,0.7 font "sans,9" notitle
unset logscale y
set title "(d) fdpass-frontend -> fdpass-backend, 13-byte body, by connections"
set style data lines
set xtics norotate
set logscale x 2
set xrange [10:1600]
set yrange [0:*]
set xlabel "concurrent connections"
set ylabel "requests/s"
set y2label "p99 latency (ms)"
set y2range [0:*]
set y2tics
set ytics nomirror
set format y "%.0s%c"
set key top left
plot "$PLOT.scale" using 1:2:3:4 with yerrorlines lw 2 lc rgb "#4472c4" title "req/s (median, min - max)", \
     "" using 1:5 axes x1y2 with linespoints lw 2 dt 2 lc rgb "#c00000" title "p99 latency, ms"
unset multiplot
EOF
else
	say "gnuplot is not installed: no chart"
fi

say ""
cat "$OUT/results.md"
say ""
echo 'SPDX-License-Identifier: MIT' > "$OUT/results.png.license"
say "wrote $OUT/results.md, $OUT/results.png, $OUT/results.tsv"
