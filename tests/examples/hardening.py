#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hardening tests of the example programs fdpass-frontend and fdpass-backend:
load without fd leaks, and who may send fds to a backend. Standard library
only; it reuses the helpers of interop.py (beside this file).

    hardening.py SCENARIO FDPASS_BACKEND FDPASS_FRONTEND

SCENARIO is one of:
  load     fdpass-frontend in front of fdpass-backend on loopback, three
           routes in turn (plain messages, meta=on, keepalive=on): 100 000
           sequential requests from a few client threads, then 200 clients
           connected at once; the fd counts of both processes must come back
           to where they were and no request may fail. Prints one line of
           figures per route, beginning "load (".
  senders  --allow-uid against front-ends of other users (root only): an
           fdpass-frontend run as user nobody (setpriv) and one run as root,
           Apache httpd's mod_proxy_fdpass (workers as nobody), socket file
           and directory permissions, abstract sockets, and what a refused
           front-end's client sees.

FDPASS_LOAD_REQUESTS (default 100000) and FDPASS_LOAD_CLIENTS (default 200)
scale the load scenario down for a quick run. Every loop is bounded in count
and in time; every process started is stopped in a finally block. Each check
prints one line, "ok" or "FAIL"; the exit status is 0 only if every check
passed, 77 (skipped) for senders without root.
"""
import grp
import os
import pwd
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import interop  # noqa: E402 (beside this file)
from interop import (APACHE_MODULES, START_DEADLINE, Checks, Failure, Httpd, Session, Skip,
                     Stop, not_started, pid_alive, pid_listens_tcp, raw, short,
                     start_backend, wait_for)

N_REQUESTS = int(os.environ.get('FDPASS_LOAD_REQUESTS', '100000'))
N_CLIENTS = int(os.environ.get('FDPASS_LOAD_CLIENTS', '200'))
N_THREADS = 4              # sequential clients, each one request at a time
N_KEEPALIVE_CONNS = 50     # keep-alive connections sharing the N_REQUESTS
# Per route at most PHASE_DEADLINE + SOCKET_TIMEOUT + CONCURRENT_DEADLINE +
# 2 * SETTLE_DEADLINE = 175 s; three routes stay under meson's 600 s.
PHASE_DEADLINE = 100.0     # s, for the N_REQUESTS of one route
CONCURRENT_DEADLINE = 30.0 # s, for the N_CLIENTS at once
SOCKET_TIMEOUT = 15.0      # s, any single connect, send or receive
SETTLE_DEADLINE = 15.0     # s, for fd counts to come back (backend idle: 10 s)
MAX_ERRORS_SHOWN = 5
MAX_RESPONSE = 1 << 20     # bytes: no response here is anywhere near


# ---------------------------------------------------------------- /proc

def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return -1


def cpu_seconds(pid):
    """User + system CPU time of process pid so far."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def proc_uid(pid):
    """The real uid of process pid, from /proc/PID/status; None if it is gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('Uid:'):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return None


def steady_fds(pid, hold=0.5, deadline=SETTLE_DEADLINE):
    """pid's fd count once it has not changed for hold seconds (a backend
    closes a front-end's connection only when it next reads from it, and a
    client's socket after its lingering close), or the last count at
    deadline."""
    end = time.monotonic() + deadline
    last, since = fd_count(pid), time.monotonic()
    while True:
        time.sleep(0.05)
        n, now = fd_count(pid), time.monotonic()
        if n != last:
            last, since = n, now
        elif now - since >= hold or now >= end:
            return n


def settle_fds(pid, want, deadline=SETTLE_DEADLINE):
    """Poll pid's fd count until it has equalled want for 0.3 s, or until
    deadline; returns the last count."""
    end = time.monotonic() + deadline
    since = None
    while True:
        n = fd_count(pid)
        now = time.monotonic()
        if n == want:
            since = since or now
            if now - since >= 0.3:
                return n
        else:
            since = None
        if now >= end:
            return n
        time.sleep(0.05)


# ---------------------------------------------------------------- clients

class Errors:
    """Failed requests: a count and the first few descriptions."""

    def __init__(self):
        self.n = 0
        self.shown = []
        self.lock = threading.Lock()

    def add(self, what):
        with self.lock:
            self.n += 1
            if len(self.shown) < MAX_ERRORS_SHOWN:
                self.shown.append(what)

    def detail(self):
        return '; '.join(self.shown)


def read_to_eof(s):
    chunks, n = [], 0
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return b''.join(chunks)
        chunks.append(chunk)
        n += len(chunk)
        if n > MAX_RESPONSE:
            raise Failure('over %d bytes and no end of stream' % MAX_RESPONSE)


def check_flushed(buf, body):
    """A close-delimited response behind the "flush" flusher: None if it is
    200 OK with exactly body, else what is wrong."""
    head, sep, got = buf.partition(b'\r\n\r\n')
    if not sep or not head.startswith(b'HTTP/1.1 200 OK\r\n'):
        return 'not a 200 response: %s' % short(buf, 120)
    if got != body:
        return 'body %s, expected %s' % (short(got, 120), short(body, 120))
    return None


def read_response(s, buf):
    """One response with Content-Length from s after buf; returns (head,
    body, rest). Raises Failure at end of stream."""
    while True:
        end = buf.find(b'\r\n\r\n')
        if end >= 0:
            break
        chunk = s.recv(65536)
        if not chunk:
            raise Failure('end of stream before a response head: %s' % short(buf, 120))
        buf += chunk
        if len(buf) > MAX_RESPONSE:
            raise Failure('no end of a response head in %d bytes' % len(buf))
    head = buf[:end]
    m = re.search(rb'\r\nContent-Length: (\d+)\r', head + b'\r', re.I)
    if not m:
        raise Failure('response without Content-Length: %s' % short(head, 200))
    length = int(m.group(1))
    if length > MAX_RESPONSE:
        raise Failure('Content-Length %d' % length)
    start = end + 4
    while len(buf) < start + length:
        chunk = s.recv(65536)
        if not chunk:
            raise Failure('end of stream in a response body')
        buf += chunk
    return head, buf[start:start + length], buf[start + length:]


def check_keepalive_head(head, close):
    if not head.startswith(b'HTTP/1.1 200 OK\r\n'):
        return 'not a 200 response: %s' % short(head, 120)
    if (b'\r\nconnection: close' in head.lower()) != close:
        return '%s "Connection: close": %s' % ('no' if close else 'unexpected',
                                               short(head, 200))
    return None


def sequential(n, nthreads, one, deadline):
    """n requests, each made by one(i, end) -> error text or None, from
    nthreads threads, each one request after the other, none begun after
    deadline seconds (end: that time, for one() to stop at too). Returns
    (requests begun, seconds, Errors)."""
    errors = Errors()
    lock = threading.Lock()
    state = {'next': 0}
    end = time.monotonic() + deadline

    def take():
        with lock:
            if state['next'] >= n or time.monotonic() >= end:
                return None
            state['next'] += 1
            return state['next'] - 1

    def worker():
        while True:
            i = take()
            if i is None:
                return
            try:
                err = one(i, end)
            except (OSError, Failure) as e:
                err = '%s: %s' % (type(e).__name__, e)
            if err:
                errors.add('request %d: %s' % (i, err))

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, end + SOCKET_TIMEOUT - time.monotonic()))
    stuck = sum(1 for t in threads if t.is_alive())
    if stuck:
        errors.add('%d client threads still waiting %.0f s after the deadline'
                   % (stuck, SOCKET_TIMEOUT))
    return state['next'], time.monotonic() - t0, errors


def one_shot_request(port, req):
    s = socket.socket()
    try:
        s.settimeout(SOCKET_TIMEOUT)
        s.connect(('127.0.0.1', port))
        s.sendall(req)
        return s.getsockname(), read_to_eof(s)
    finally:
        s.close()


def concurrent(port, n, req, check):
    """n clients connected at once (every connection is established before
    any request is sent), then each sends req and reads to end of stream
    with one selector, within CONCURRENT_DEADLINE. check(sockname, response)
    -> error or None. Returns (seconds from the first connect to the last end
    of stream, Errors)."""
    errors = Errors()
    socks = []
    sel = selectors.DefaultSelector()
    t0 = time.monotonic()
    try:
        for i in range(n):
            s = socket.socket()
            socks.append(s)
            s.settimeout(SOCKET_TIMEOUT)
            s.connect(('127.0.0.1', port))
        names = [s.getsockname() for s in socks]
        for i, s in enumerate(socks):
            s.sendall(req)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
        bufs = [[] for _ in socks]
        open_ = n
        end = time.monotonic() + CONCURRENT_DEADLINE
        while open_ and time.monotonic() < end:
            for key, _ in sel.select(timeout=max(0.0, end - time.monotonic())):
                i = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    errors.add('client %d: %s' % (i, e))
                    chunk = b''
                    bufs[i] = None
                if chunk and sum(map(len, bufs[i])) + len(chunk) > MAX_RESPONSE:
                    errors.add('client %d: over %d bytes' % (i, MAX_RESPONSE))
                    bufs[i] = None
                    chunk = b''
                if chunk:
                    bufs[i].append(chunk)
                    continue
                sel.unregister(key.fileobj)
                open_ -= 1
                if bufs[i] is not None:
                    err = check(names[i], b''.join(bufs[i]))
                    if err:
                        errors.add('client %d: %s' % (i, err))
        for _ in range(open_):
            errors.add('no end of stream within %.0f s' % CONCURRENT_DEADLINE)
    except OSError as e:
        errors.add('setting up %d connections (%d made): %s' % (n, len(socks), e))
    finally:
        sel.close()
        for s in socks:
            s.close()
    return time.monotonic() - t0, errors


# ---------------------------------------------------------------- scenario load

BODY_PLAIN = b'load test body from fdpass-backend\n'
BODY_KEEPALIVE = b'keep-alive load test body\n'


def req_for(prefix, close=False):
    return (b'GET %s/x HTTP/1.1\r\nHost: t\r\n' % prefix
            + (b'Connection: close\r\n' if close else b'') + b'\r\n')


def echo_body(req, sockname):
    return req + b'client: %s:%d\n\n' % (sockname[0].encode(), sockname[1])


def scenario_load(c):
    sess = Session('load')
    try:
        P = sess.path
        bp = start_backend(sess, 'backend-plain', P('plain.sock'), '--body', BODY_PLAIN.decode())
        bm = start_backend(sess, 'backend-meta', P('meta.sock'), '--echo')
        bk = start_backend(sess, 'backend-keepalive', P('ka.sock'), '--keep-alive',
                           '--body', BODY_KEEPALIVE.decode())
        fe, port = interop.start_frontend(sess, 'frontend', [
            '/p=' + P('plain.sock'),
            '/m=' + P('meta.sock') + ',meta=on',
            '/k=' + P('ka.sock') + ',flusher=none,meta=on,keepalive=on',
        ])
        c.note('fdpass-frontend (pid %d) on 127.0.0.1:%d; %d requests per route from %d '
               'threads, %d clients at once' % (fe.pid, port, N_REQUESTS, N_THREADS, N_CLIENTS))

        # Warm up every route once, so that lazily made state (the
        # front-end's client table, the backends' ones) is in the "before".
        for prefix, check in [(b'/p', lambda n, b: check_flushed(b, BODY_PLAIN)),
                              (b'/m', lambda n, b: check_flushed(
                                  b, echo_body(req_for(b'/m'), n)))]:
            name, buf = one_shot_request(port, req_for(prefix))
            err = check(name, buf)
            if err:
                raise Failure('warm-up request to %s failed: %s' % (prefix.decode(), err))
        name, buf = one_shot_request(port, req_for(b'/k', close=True))
        if not buf.startswith(b'HTTP/1.1 200 OK\r\n') or not buf.endswith(BODY_KEEPALIVE):
            raise Failure('warm-up request to /k failed: %s' % short(buf))

        figures = []
        phases = [
            ('plain', b'/p', bp, 'sequential hand-offs'),
            ('meta=on', b'/m', bm, 'sequential hand-offs'),
            ('keepalive=on', b'/k', bk, None),
        ]
        for label, prefix, be, kind in phases:
            for p in (fe, be):
                if not p.running():
                    raise Failure('%s exited (status %s); its stderr ends:\n%s'
                                  % (p.name, p.stop(), p.log()[-3000:]))
            fe_before, be_before = steady_fds(fe.pid), steady_fds(be.pid)
            rss_before = rss_kib(fe.pid), rss_kib(be.pid)
            cpu_before = cpu_seconds(fe.pid), cpu_seconds(be.pid), sum(os.times()[:2])

            if kind:
                req = req_for(prefix)
                if label == 'plain':
                    def one(i, end, req=req):
                        _, buf = one_shot_request(port, req)
                        return check_flushed(buf, BODY_PLAIN)

                    def check_conc(name, buf):
                        return check_flushed(buf, BODY_PLAIN)
                else:
                    def one(i, end, req=req):
                        name, buf = one_shot_request(port, req)
                        return check_flushed(buf, echo_body(req, name))

                    def check_conc(name, buf, req=req):
                        return check_flushed(buf, echo_body(req, name))
                done, secs, errs = sequential(N_REQUESTS, N_THREADS, one, PHASE_DEADLINE)
                seq_text = '%d %s in %.1f s (%.0f/s)' % (done, kind, secs, done / secs)
                conc_req = req
            else:
                per_conn = max(1, N_REQUESTS // N_KEEPALIVE_CONNS)
                nconns = max(1, N_REQUESTS // per_conn)
                req, last = req_for(prefix), req_for(prefix, close=True)

                def one(i, end):
                    """Connection i: per_conn requests one after the other,
                    the last asks to close; the backend must close then."""
                    s = socket.socket()
                    try:
                        s.settimeout(SOCKET_TIMEOUT)
                        s.connect(('127.0.0.1', port))
                        rest = b''
                        for j in range(per_conn):
                            if time.monotonic() >= end:
                                return 'deadline reached after %d requests' % j
                            close = j == per_conn - 1
                            s.sendall(last if close else req)
                            head, body, rest = read_response(s, rest)
                            err = check_keepalive_head(head, close)
                            if err or body != BODY_KEEPALIVE:
                                return 'request %d on the connection: %s' % (
                                    j, err or 'body %s' % short(body, 120))
                        tail = rest + read_to_eof(s)
                        if tail:
                            return 'bytes after the last response: %s' % short(tail, 120)
                    finally:
                        s.close()
                    return None

                def check_conc(name, buf):
                    head, sep, body = buf.partition(b'\r\n\r\n')
                    err = check_keepalive_head(head, True)
                    m = re.search(rb'\r\nContent-Length: (\d+)\r', head + b'\r', re.I)
                    if err:
                        return err
                    if not m or int(m.group(1)) != len(BODY_KEEPALIVE) or body != BODY_KEEPALIVE:
                        return 'response %s' % short(buf, 200)
                    return None
                done, secs, errs = sequential(nconns, min(N_THREADS, nconns), one,
                                              PHASE_DEADLINE)
                done *= per_conn
                seq_text = ('%d requests over %d keep-alive connections in %.1f s (%.0f/s)'
                            % (done, nconns, secs, done / secs))
                conc_req = last
            total = N_REQUESTS if kind else nconns * per_conn
            c.check('%s: all %d sequential requests made within %.0f s (%d were)'
                    % (label, total, PHASE_DEADLINE, done), done == total,
                    'the clients stopped at the deadline')
            c.check('%s: every sequential request got 200 and the exact body (%d errors)'
                    % (label, errs.n), errs.n == 0, errs.detail())

            cpu_seq = (cpu_seconds(fe.pid) - cpu_before[0], cpu_seconds(be.pid) - cpu_before[1],
                       sum(os.times()[:2]) - cpu_before[2])
            conc_secs, cerrs = concurrent(port, N_CLIENTS, conc_req, check_conc)
            c.check('%s: %d clients connected at once all got their complete response '
                    '(%d errors, %.2f s)' % (label, N_CLIENTS, cerrs.n, conc_secs),
                    cerrs.n == 0, cerrs.detail())

            fe_after = settle_fds(fe.pid, fe_before)
            be_after = settle_fds(be.pid, be_before)
            line = ('load (%s): %s, %d concurrent clients in %.2f s, %d errors, '
                    'fds before/after: frontend %d/%d, backend %d/%d'
                    % (label, seq_text, N_CLIENTS, conc_secs, errs.n + cerrs.n,
                       fe_before, fe_after, be_before, be_after))
            figures.append(line)
            print(line, flush=True)
            c.note('CPU time of the sequential part: frontend %.1f s, backend %.1f s, the '
                   'clients (this process) %.1f s, in %.1f s on %d CPUs'
                   % (cpu_seq + (secs, os.cpu_count())))
            c.note('RSS before/after: frontend %d/%d KiB, backend %d/%d KiB'
                   % (rss_before[0], rss_kib(fe.pid), rss_before[1], rss_kib(be.pid)))
            c.check('%s: fdpass-frontend holds as many fds as before (%d/%d)'
                    % (label, fe_before, fe_after), fe_after == fe_before,
                    'open fds: %r' % sorted(os.listdir('/proc/%d/fd' % fe.pid)))
            c.check('%s: %s holds as many fds as before (%d/%d)'
                    % (label, be.name, be_before, be_after), be_after == be_before,
                    'open fds: %r' % sorted(os.listdir('/proc/%d/fd' % be.pid)))

        for p in (fe, bp, bm, bk):
            rc = p.stop()
            c.check('%s still ran and exited with status 0 on SIGTERM' % p.name,
                    rc == 0 and not p.killed, 'exit %s; its stderr ends:\n%s'
                    % (rc, p.log()[-2000:]))
        print('=== figures\n' + '\n'.join(figures), flush=True)
    finally:
        sess.close()


# ---------------------------------------------------------------- scenario senders

REFUSAL = 'refused a front-end'


def nobody_ids():
    uid = pwd.getpwnam('nobody').pw_uid
    try:
        gid = grp.getgrnam('nogroup').gr_gid
    except KeyError:
        gid = pwd.getpwnam('nobody').pw_gid
    return uid, gid


def mapped_libfdpass(pid):
    """The libfdpass shared library that process pid has loaded, or None."""
    with open('/proc/%d/maps' % pid) as f:
        for line in f:
            path = line.split(None, 5)[5].strip() if len(line.split(None, 5)) == 6 else ''
            if os.path.basename(path).startswith('libfdpass.so'):
                return path
    return None


def copy_for_others(sess, exe, running_pid):
    """exe and the libfdpass that running_pid (the same program, running)
    has loaded, copied into sess.tmp/bin (mode 0755), where another user can
    reach them even when the build directory is in a home directory of mode
    0700. Returns the argv prefix that runs the copy: env with
    LD_LIBRARY_PATH, which execs it (the pid stays the program's)."""
    d = sess.path('bin')
    os.mkdir(d, 0o755)
    os.chmod(d, 0o755)
    copy = os.path.join(d, os.path.basename(exe))
    shutil.copy(exe, copy)
    os.chmod(copy, 0o755)
    lib = mapped_libfdpass(running_pid)
    if lib:
        dest = os.path.join(d, 'libfdpass.so.1')
        shutil.copy(lib, dest)
        os.chmod(dest, 0o644)
    return ['env', 'LD_LIBRARY_PATH=' + d, copy]


def start_frontend_as(sess, name, routes, prefix_argv, exe_argv):
    """fdpass-frontend started as exe_argv through prefix_argv (setpriv
    ...), which execs it: the pid is the front-end's. Returns (proc,
    port)."""
    last = ''
    for attempt in range(5):
        port = interop.free_port()
        argv = list(prefix_argv) + list(exe_argv) + ['--listen', '127.0.0.1:%d' % port]
        for r in routes:
            argv += ['--route', r]
        p = sess.spawn('%s-%d' % (name, attempt), argv)
        if wait_for(lambda: pid_listens_tcp(p.pid, port), p, START_DEADLINE):
            return p, port
        last = '%s; its stderr:\n%s' % (not_started(p, 'on 127.0.0.1:%d' % port), p.log())
        if 'in use' not in p.log().lower():
            break
    raise Failure('%s (%s) %s' % (name, ' '.join(argv), last))


def start_httpd(sess, c, proxy_lines, group):
    """Apache httpd 2.4 with mod_proxy_fdpass, User nobody, ServerRoot
    sess.tmp (as in interop.py's httpd scenario). Returns (Httpd, port)."""
    d = sess.tmp
    mods = ['mod_mpm_event.so', 'mod_authz_core.so', 'mod_proxy.so', 'mod_proxy_fdpass.so']
    os.makedirs(sess.path('run'), 0o755, exist_ok=True)
    for attempt in range(5):
        port = interop.free_port()
        conf, pidfile, errorlog = sess.path('httpd.conf'), sess.path('httpd.pid'), \
            sess.path('error.log')
        with open(conf, 'w') as f:
            f.write('ServerRoot "%s"\nServerName localhost\nListen 127.0.0.1:%d\n'
                    'PidFile %s\nErrorLog %s\nLogLevel info\nDefaultRuntimeDir %s\n'
                    % (d, port, pidfile, errorlog, sess.path('run'))
                    + ''.join('LoadModule %s_module %s/%s\n' % (m[4:-3], APACHE_MODULES, m)
                              for m in mods)
                    + 'User nobody\nGroup %s\n' % group + ''.join(l + '\n' for l in proxy_lines))
        h = Httpd(d, conf, pidfile, errorlog)
        sess.httpds.append(h)
        cp = subprocess.run(['apache2', '-f', conf, '-k', 'start'], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = cp.stdout.decode(errors='replace')

        def listening():
            h.pid = h.read_pid()
            return h.pid is not None and pid_listens_tcp(h.pid, port)

        ok = False
        if cp.returncode == 0:
            end = time.monotonic() + START_DEADLINE
            while time.monotonic() < end:
                if listening():
                    ok = True
                    break
                if (h.pid is not None and not pid_alive(h.pid)) or \
                        'could not bind' in h.errlog():
                    break
                time.sleep(0.05)
        if ok:
            return h, port
        h.stop()
        sess.httpds.remove(h)
        if 'in use' not in out + h.errlog() or attempt == 4:
            raise Failure('apache2 -f %s -k start (exit %d) did not listen on 127.0.0.1:%d:\n'
                          '%s\nerror.log:\n%s' % (conf, cp.returncode, port, out, h.errlog()))
        c.note('port %d was taken meanwhile: trying another' % port)
        os.rename(errorlog, errorlog + '.%d' % attempt)
    raise Failure('httpd found no free port')


def refusals(be):
    return be.log().count(REFUSAL)


def check_refused(c, what, be, port, path, before_fds, flusher='flush'):
    """A request whose front-end be refuses: the refusal logged, no fd kept,
    and the client gets the flusher's head (if any) and no body."""
    n0 = refusals(be)
    r = raw(port, b'GET %s HTTP/1.1\r\nHost: t\r\n\r\n' % path.encode())
    c.note('%s: the client got %s' % (what, r.describe() if r.status else short(r.body)))
    c.check('%s: the backend logged one refusal' % what,
            wait_for(lambda: refusals(be) == n0 + 1, be, 5.0),
            'its stderr ends:\n%s' % be.log()[-1500:])
    if flusher == 'flush':
        c.check('%s: the client got the flushed "200 OK" head, then an empty body and the '
                'end of the connection' % what,
                r.status == 200 and r.body == b'' and not r.error, r.describe())
    else:
        c.check('%s: the client got no byte at all, only the end of the connection' % what,
                r.status is None and r.body == b'' and not r.error,
                'body %s, error %r' % (short(r.body), r.error))
    after = settle_fds(be.pid, before_fds, 5.0)
    c.check('%s: %s holds as many fds as before (%d/%d): nothing of the refused sender '
            'was kept' % (what, be.name, before_fds, after), after == before_fds,
            'open fds: %r' % sorted(os.listdir('/proc/%d/fd' % be.pid)))
    return r


def check_served(c, what, port, path, body):
    r = raw(port, b'GET %s HTTP/1.1\r\nHost: t\r\n\r\n' % path.encode())
    c.check('%s: 200 and exactly the backend\'s body' % what,
            r.status == 200 and r.body == body and not r.error, r.describe())
    return r


def scenario_senders(c):
    if os.geteuid() != 0:
        raise Skip('the senders scenario needs root: it runs fdpass-frontend as user '
                      'nobody (setpriv --reuid) and Apache httpd (which starts as root and '
                      'drops to nobody) against backends that allow only some uids; run '
                      'meson test as root (CI does)')
    setpriv = shutil.which('setpriv')
    if not setpriv:
        raise Failure('setpriv (util-linux) is not installed: Debian: apt-get install util-linux')
    uid_nobody, gid_nogroup = nobody_ids()
    as_nobody = [setpriv, '--reuid=%d' % uid_nobody, '--regid=%d' % gid_nogroup,
                 '--clear-groups']

    # A directory user nobody can reach, 0755 all the way up.
    sess = Session('senders', 0o755, for_others=True)
    try:
        P = sess.path
        os.mkdir(P('localhost'), 0o755)
        os.mkdir(P('closed'), 0o700)
        os.chmod(P('closed'), 0o700)
        tag = '%d-%d' % (os.getpid(), int(time.monotonic() * 1000) % 100000)
        bodies = {}

        def backend(name, path, *opts):
            bodies[name] = ('answer from backend %s\n' % name).encode()
            return start_backend(sess, 'backend-' + name, path, '--body',
                                 bodies[name].decode(), *opts)

        b_root = backend('root', P('localhost', 'root.sock'), '--mode', '0666',
                         '--allow-uid', '0')
        b_nobody = backend('nobody', P('localhost', 'nobody.sock'), '--mode', '0666',
                           '--allow-uid', 'nobody')
        b_both = backend('both', P('localhost', 'both.sock'), '--mode', '0666',
                         '--allow-uid', '0', '--allow-uid', 'nobody')
        b_open = backend('open', P('open.sock'), '--mode', '0666')
        b_private = backend('private', P('private.sock'))  # default mode 0660, root's
        b_closed = backend('closed', P('closed', 'closed.sock'), '--mode', '0666')
        b_abs_root = backend('abs-root', '@fdpass-senders-%s-root' % tag, '--allow-uid', '0')
        b_abs_open = backend('abs-open', '@fdpass-senders-%s-open' % tag)
        c.check('socket files: 0666 where asked, the default 0660 otherwise',
                os.stat(P('localhost', 'root.sock')).st_mode & 0o777 == 0o666
                and os.stat(P('private.sock')).st_mode & 0o777 == 0o660,
                '%o %o' % (os.stat(P('localhost', 'root.sock')).st_mode,
                           os.stat(P('private.sock')).st_mode))

        routes = ['/root=' + P('localhost', 'root.sock'),
                  '/root-none=' + P('localhost', 'root.sock') + ',flusher=none',
                  '/root-meta=' + P('localhost', 'root.sock') + ',meta=on',
                  '/nobody=' + P('localhost', 'nobody.sock'),
                  '/both=' + P('localhost', 'both.sock'),
                  '/open=' + P('open.sock'),
                  '/private=' + P('private.sock'),
                  '/closed=' + P('closed', 'closed.sock'),
                  '/abs-root=@fdpass-senders-%s-root' % tag,
                  '/abs-open=@fdpass-senders-%s-open' % tag]
        fe_r, port_r = interop.start_frontend(sess, 'frontend-root', routes)
        fe_n, port_n = start_frontend_as(sess, 'frontend-nobody', routes, as_nobody,
                                         copy_for_others(sess, interop.FRONTEND, fe_r.pid))
        c.check('the front-end started with setpriv runs as uid %d (nobody), pid %d'
                % (uid_nobody, fe_n.pid), proc_uid(fe_n.pid) == uid_nobody,
                'uid %s' % proc_uid(fe_n.pid))
        c.check('the other front-end runs as root', proc_uid(fe_r.pid) == 0)
        fds = {b.name: fd_count(b.pid) for b in (b_root, b_nobody, b_both, b_abs_root)}

        # (a) --allow-uid 0: the nobody front-end is refused.
        check_refused(c, '--allow-uid 0, front-end as nobody', b_root, port_n, '/root/a',
                      fds[b_root.name])
        line = [l for l in b_root.log().splitlines() if REFUSAL in l]
        c.note('the refusal line: %r' % (line[-1] if line else None))
        c.note('the refused front-end logged: %r' % fe_n.log().strip().splitlines()[-1])
        check_refused(c, '--allow-uid 0, front-end as nobody, route flusher=none', b_root,
                      port_n, '/root-none/a', fds[b_root.name], flusher='none')
        check_refused(c, '--allow-uid 0, front-end as nobody, route meta=on', b_root,
                      port_n, '/root-meta/a', fds[b_root.name])
        check_served(c, '--allow-uid 0, front-end as root (after the refusals)', port_r,
                     '/root/a', bodies['root'])
        # Many refusals in a row: nothing accumulates.
        n0 = refusals(b_root)
        fe_fds = fd_count(fe_n.pid)
        n = 50
        got = [raw(port_n, b'GET /root/many HTTP/1.1\r\nHost: t\r\n\r\n') for _ in range(n)]
        c.check('%d refused requests in a row: every client got the head and an empty body, '
                'the end of the connection at once (slowest: %.3f s)'
                % (n, max(r.elapsed for r in got)),
                all(r.status == 200 and r.body == b'' and r.elapsed < 2.0 for r in got),
                '; '.join(r.describe() for r in got if r.status != 200 or r.body)[:1000])
        c.check('%d refused requests in a row: %d refusals logged' % (n, n),
                wait_for(lambda: refusals(b_root) == n0 + n, b_root, 5.0),
                'logged %d' % (refusals(b_root) - n0))
        after = settle_fds(b_root.pid, fds[b_root.name], 5.0)
        c.check('%d refused requests in a row: the backend\'s fd count is back to %d (%d)'
                % (n, fds[b_root.name], after), after == fds[b_root.name])
        after = settle_fds(fe_n.pid, fe_fds, 5.0)
        c.check('... and the refused front-end\'s too (%d/%d)' % (fe_fds, after),
                after == fe_fds)
        log = fe_n.log()
        c.note('the refused front-end logged %d of them as "handed to" (its message was queued '
               'before the backend refused) and %d as "hand-off ... failed after the flush" '
               '(the backend had closed first: EPIPE); the client sees the same in both cases'
               % (log.count('"GET /root/many": handed to'),
                  log.count('"GET /root/many": hand-off to')))

        # (b) --allow-uid nobody: accepted from nobody, refused from root.
        check_served(c, '--allow-uid nobody, front-end as nobody', port_n, '/nobody/b',
                     bodies['nobody'])
        check_refused(c, '--allow-uid nobody, front-end as root', b_nobody, port_r,
                      '/nobody/b', fds[b_nobody.name])

        # (c) both allowed.
        check_served(c, '--allow-uid 0 --allow-uid nobody, front-end as nobody', port_n,
                     '/both/c', bodies['both'])
        check_served(c, '--allow-uid 0 --allow-uid nobody, front-end as root', port_r,
                     '/both/c', bodies['both'])
        c.check('--allow-uid 0 --allow-uid nobody: no refusal logged', refusals(b_both) == 0,
                b_both.log())

        # The uid checked is the one of the process that called connect(), at
        # that moment: a process that connects as root, then becomes nobody
        # and sends, is root to the backend. And what it sends may be any
        # connected socket, here one end of a socketpair.
        before = fd_count(b_root.pid)
        mine, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                s = socket.socket(socket.AF_UNIX)
                s.settimeout(SOCKET_TIMEOUT)
                s.connect(P('localhost', 'root.sock'))
                os.setgroups([])
                os.setresgid(gid_nogroup, gid_nogroup, gid_nogroup)
                os.setresuid(uid_nobody, uid_nobody, uid_nobody)
                if os.getuid() == uid_nobody and os.geteuid() == uid_nobody:
                    socket.send_fds(s, [b'\0'], [theirs.fileno()])
                    code = 0
            finally:
                os._exit(code)
        theirs.close()
        _, status = os.waitpid(pid, 0)
        try:
            mine.settimeout(5.0)
            got = read_to_eof(mine)
        except OSError as e:
            got = repr(e).encode()
        finally:
            mine.close()
        c.check('a process that connected as root, then became nobody and sent: accepted by '
                '--allow-uid 0, which wrote its body to the socketpair it was handed',
                os.waitstatus_to_exitcode(status) == 0 and got == bodies['root'],
                'child exit %d, got %s' % (os.waitstatus_to_exitcode(status), short(got)))
        after = settle_fds(b_root.pid, before, 5.0)
        c.check('... and the backend keeps no fd of it (%d/%d)' % (before, after),
                after == before)

        # No --allow-uid: the socket file's permissions decide.
        check_served(c, 'no --allow-uid, socket mode 0666: front-end as nobody', port_n,
                     '/open/d', bodies['open'])
        for what, path in [('socket mode 0660 owned by root', '/private/e'),
                           ('socket mode 0666 in a 0700 directory of root\'s', '/closed/e')]:
            r = raw(port_n, b'GET %s HTTP/1.1\r\nHost: t\r\n\r\n' % path.encode())
            c.check('%s: the nobody front-end cannot connect and answers 502 itself'
                    % what, r.status == 502 and b'ermission denied' in r.body, r.describe())
            c.note('its answer: %r' % r.body)
        check_served(c, 'socket mode 0660 owned by root: front-end as root', port_r,
                     '/private/e', bodies['private'])
        c.check('... and the backends never saw the nobody front-end',
                b_private.log().count('client ') == 1 and b_closed.log().count('client ') == 0,
                b_private.log() + b_closed.log())

        # Abstract sockets have no permissions: only --allow-uid keeps anyone out.
        check_served(c, 'abstract socket without --allow-uid: front-end as nobody connects '
                     'and is served', port_n, '/abs-open/f', bodies['abs-open'])
        check_refused(c, 'abstract socket with --allow-uid 0: front-end as nobody',
                      b_abs_root, port_n, '/abs-root/f', fds[b_abs_root.name])
        check_served(c, 'abstract socket with --allow-uid 0: front-end as root', port_r,
                     '/abs-root/f', bodies['abs-root'])

        # A sender that is allowed may send any fd: here a pipe, not a socket.
        before = fd_count(b_open.pid)
        rd, wr = os.pipe()
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(SOCKET_TIMEOUT)
                s.connect(P('open.sock'))
                socket.send_fds(s, [b'\0'], [wr])
            os.close(wr)
            wr = -1
            os.set_blocking(rd, False)
            got, end = b'', time.monotonic() + 5
            while time.monotonic() < end:
                try:
                    chunk = os.read(rd, 65536)
                except BlockingIOError:
                    time.sleep(0.02)
                    continue
                if not chunk:
                    break
                got += chunk
        finally:
            os.close(rd)
            if wr >= 0:
                os.close(wr)
        c.note('fdpass-backend, handed a pipe instead of a TCP socket, wrote %s into it; its '
               'log: %r' % (short(got), b_open.log().strip().splitlines()[-1]))
        c.check('an allowed sender handing over a pipe: the backend stays up and keeps no fd '
                '(%d/%d)' % (before, settle_fds(b_open.pid, before, 5.0)),
                b_open.running() and settle_fds(b_open.pid, before, 1.0) == before)
        check_served(c, '... and serves the next client', port_n, '/open/g', bodies['open'])

        for p in (fe_n, fe_r):
            rc = p.stop()
            c.check('%s exits with status 0 on SIGTERM' % p.name, rc == 0 and not p.killed,
                    'exit %s; stderr:\n%s' % (rc, p.log()[-2000:]))

        # httpd's mod_proxy_fdpass as the sender: its workers run as nobody.
        apache2 = shutil.which('apache2') or ('/usr/sbin/apache2'
                                              if os.access('/usr/sbin/apache2', os.X_OK)
                                              else None)
        if not apache2 or not os.path.exists(os.path.join(APACHE_MODULES,
                                                          'mod_proxy_fdpass.so')):
            raise Failure('Apache httpd 2.4 with mod_proxy_fdpass is not installed '
                          '(Debian: apt-get install apache2)')
        os.environ['PATH'] = os.path.dirname(apache2) + os.pathsep + os.environ.get('PATH', '')
        group = grp.getgrgid(gid_nogroup).gr_name
        h, port_h = start_httpd(sess, c, [
            'ProxyPassMatch "^/nobody/(.*)$" "fd://localhost/nobody.sock$2"',
            'ProxyPassMatch "^/root/(.*)$" "fd://localhost/root.sock$2"',
            'ProxyPassMatch "^/both/(.*)$" "fd://localhost/both.sock$2"',
        ], group)
        c.note('httpd (pid %d) listens on 127.0.0.1:%d' % (h.pid, port_h))
        r = check_served(c, 'httpd (User nobody) in front of --allow-uid nobody', port_h,
                         '/nobody/h', bodies['nobody'])
        # A child httpd has just forked is root until it drops to nobody: wait for that.
        def workers_nobody():
            ws = [p for p in interop.pids_with_arg(h.conf) if p != h.pid]
            return ws and all(proc_uid(p) in (uid_nobody, None) for p in ws)
        workers_nobody_soon = wait_for(workers_nobody, None, 5.0)
        workers = [p for p in interop.pids_with_arg(h.conf) if p != h.pid]
        c.check('httpd\'s workers run as nobody (%s)' % workers, workers_nobody_soon,
                repr([(p, proc_uid(p)) for p in workers]))
        # Refused behind httpd: httpd has flushed its 200 head before it
        # sends. If its message is queued before the backend accepts and
        # refuses, the client gets an empty body; if the backend has closed
        # the connection first, httpd's sendmsg fails (EPIPE, AH01154) and
        # httpd appends its 500 error page to the 200 head already sent.
        n = 20
        n0 = refusals(b_root)
        got = [raw(port_h, b'GET /root/h%d HTTP/1.1\r\nHost: t\r\n\r\n' % i)
               for i in range(n)]
        empty = sum(1 for r in got if r.status == 200 and r.body == b'' and not r.error)
        page = sum(1 for r in got if r.status == 200 and not r.error
                   and b'500 Internal Server Error' in r.body)
        c.note('httpd in front of --allow-uid 0, %d requests: %d clients got httpd\'s 200 head '
               'and an empty body, %d the 200 head and then httpd\'s 500 error page'
               % (n, empty, page))
        c.check('httpd (User nobody) in front of --allow-uid 0: %d requests, %d refusals logged'
                % (n, n), wait_for(lambda: refusals(b_root) == n0 + n, b_root, 5.0),
                'logged %d' % (refusals(b_root) - n0))
        c.check('httpd (User nobody) in front of --allow-uid 0: no client got the backend\'s '
                'body; each got httpd\'s 200 head, then nothing or httpd\'s error page',
                empty + page == n and all('apache' in (r.header('server') or '').lower()
                                          for r in got)
                and not any(bodies['root'] in r.body for r in got),
                '; '.join(r.describe() for r in got)[:2000])
        after = settle_fds(b_root.pid, fds[b_root.name], 5.0)
        c.check('httpd (User nobody) in front of --allow-uid 0: backend-root holds as many fds '
                'as before (%d/%d)' % (fds[b_root.name], after), after == fds[b_root.name],
                'open fds: %r' % sorted(os.listdir('/proc/%d/fd' % b_root.pid)))
        check_served(c, 'httpd (User nobody) in front of --allow-uid 0 --allow-uid nobody',
                     port_h, '/both/h', bodies['both'])
        h.stop()
        sess.httpds.remove(h)
        c.check('httpd stopped: no httpd process of ours left', not interop.pids_with_arg(h.conf))
        el = h.errlog()
        broken = el.count('AH01154')
        c.check('httpd\'s error.log: one "AH01154: send_socket failed" per error page (%d), '
                'no other error' % page,
                broken == page and not re.search(r':error\](?!.*AH01154)', el), el[-3000:])

        for b in (b_root, b_nobody, b_both, b_open, b_private, b_closed, b_abs_root,
                  b_abs_open):
            rc = b.stop()
            c.check('%s exits with status 0 on SIGTERM' % b.name, rc == 0 and not b.killed,
                    'exit %s; stderr:\n%s' % (rc, b.log()[-2000:]))
    finally:
        sess.close()


SCENARIOS = {
    'load': scenario_load,
    'senders': scenario_senders,
}


if __name__ == '__main__':
    sys.exit(interop.run_main(SCENARIOS))
