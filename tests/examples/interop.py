#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Interoperability tests of the example programs fdpass-backend and
fdpass-frontend, against each other, against Apache httpd 2.4's
mod_proxy_fdpass and against a receiver written with Python's standard
library (pyreceiver.py, beside this file). Standard library only; curl is the
HTTP client.

    interop.py SCENARIO FDPASS_BACKEND FDPASS_FRONTEND

SCENARIO is one of:
  httpd             httpd + mod_proxy_fdpass in front of fdpass-backend (root
                    only: httpd starts as root and drops to user nobody)
  frontend-backend  fdpass-frontend in front of fdpass-backend: routing,
                    concurrency, every error answer, flushers, --allow-uid,
                    clean exit on SIGTERM
  frontend-python   fdpass-frontend in front of pyreceiver.py
  metadata          meta=on routes to fdpass-backend --echo (1 MiB, 0 bytes,
                    a head in small segments, plain messages) and keepalive=on
                    routes to --keep-alive (several URLs, a pipelined burst)

Every process started is stopped in a finally block, httpd included. Each
check prints one line, "ok" or "FAIL"; the exit status is 0 only if every
check passed, 1 otherwise, and 77 (skipped) for a scenario that cannot run
here (httpd without root), with the reason.
"""
import concurrent.futures
import grp
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import unixdiag

HERE = os.path.dirname(os.path.abspath(__file__))
PYRECEIVER = os.path.join(HERE, 'pyreceiver.py')
DEFAULT_BODY = b'Hello from fdpass-backend\n'
APACHE_MODULES = '/usr/lib/apache2/modules'
CURL_MAX_TIME = 30
START_DEADLINE = 15.0


class Failure(Exception):
    """A peer could not be started, or the scenario cannot go on."""


class Stop(Exception):
    """SIGTERM or SIGINT (a meson timeout): run the finally blocks."""


class Skip(Exception):
    """The scenario cannot run here, for a reason that is not a failure of
    the programs under test (meson reports exit status 77 as skipped)."""


def on_signal(signum, frame):
    raise Stop('signal %d' % signum)


# ---------------------------------------------------------------- checks

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = []
        self.lock = threading.Lock()

    def check(self, what, cond, detail=''):
        with self.lock:
            if cond:
                self.passed += 1
                print('ok   ' + what, flush=True)
            else:
                self.failed.append(what)
                print('FAIL ' + what + (':\n       ' + detail if detail else ''), flush=True)
        return cond

    def note(self, text):
        print('     ' + text, flush=True)


def short(b, n=200):
    r = repr(b)
    return r if len(r) <= n else r[:n] + '...(%d bytes)' % len(b)


# ---------------------------------------------------------------- /proc

def pid_listens_tcp(pid, port):
    """True if process pid holds a TCP socket listening on port."""
    mine = unixdiag.socket_inodes(pid)
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == '0A' and int(fields[1].rsplit(':', 1)[1], 16) == port \
                            and int(fields[9]) in mine:
                        return True
        except OSError:
            pass
    return False


def pid_listens_unix(pid, path):
    """True if process pid holds a unix socket listening on the socket file at path."""
    return unixdiag.listens(path, pid)


def pids_with_arg(text):
    """Pids of the processes whose command line contains text."""
    found = []
    for d in os.listdir('/proc'):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open('/proc/%s/cmdline' % d, 'rb') as f:
                if text.encode() in f.read():
                    found.append(int(d))
        except OSError:
            pass
    return found


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes

class Proc:
    def __init__(self, name, argv, tmp):
        self.name = name
        self.argv = argv
        self.logpath = os.path.join(tmp, name + '.log')
        self.outpath = os.path.join(tmp, name + '.out')
        with open(self.logpath, 'wb') as err, open(self.outpath, 'wb') as out:
            self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.pid = self.p.pid
        self.rc = None
        self.killed = False

    def log(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode(errors='replace')

    def out(self):
        with open(self.outpath, 'rb') as f:
            return f.read()

    def running(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Signal the process, wait up to grace seconds, then SIGKILL."""
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.p.kill()
                self.p.wait()
        self.rc = self.p.returncode
        return self.rc


class Httpd:
    """An Apache httpd 2.4 started with apache2 -f CONF -k start."""

    def __init__(self, root, conf, pidfile, errorlog):
        self.root = root
        self.conf = conf
        self.pidfile = pidfile
        self.errorlog = errorlog
        self.pid = None

    def errlog(self):
        try:
            with open(self.errorlog, 'rb') as f:
                return f.read().decode(errors='replace')
        except OSError:
            return '(no error.log)'

    def read_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        pid = self.read_pid() or self.pid
        subprocess.run(['apache2', '-f', self.conf, '-k', 'stop'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not os.path.exists(self.pidfile) and (pid is None or not pid_alive(pid)):
                break
            time.sleep(0.1)
        # Whatever is left: the parent, if it did not stop, and its children
        # (they run as nobody and keep httpd's command line, which names our
        # own temporary configuration file).
        leftovers = pids_with_arg(self.conf)
        if pid and pid_alive(pid) and pid not in leftovers:
            leftovers.append(pid)
        for p in leftovers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return leftovers


def not_searchable_by_others(path):
    """The first directory on the way from path up to / that other users
    cannot search, or None."""
    p = os.path.abspath(path)
    while True:
        if not os.stat(p).st_mode & 0o001:
            return p
        if p == '/':
            return None
        p = os.path.dirname(p)


class Session:
    """A temporary directory and every process a scenario starts in it.
    for_others: one that other users (nobody) can reach, under $TMPDIR if
    they can reach that, else under /tmp or /var/tmp; Skip if none."""

    def __init__(self, name, mode=0o700, for_others=False):
        base = tempfile.gettempdir()
        if for_others:
            bases = [b for b in (base, '/tmp', '/var/tmp')
                     if os.path.isdir(b) and not not_searchable_by_others(b)]
            if not bases:
                raise Skip('user nobody can reach none of %s, /tmp, /var/tmp (%s is not '
                           'searchable by others)' % (base, not_searchable_by_others(base)))
            base = bases[0]
        self.tmp = tempfile.mkdtemp(prefix='fdpass-%s-' % name, dir=base)
        os.chmod(self.tmp, mode)
        self.procs = []
        self.httpds = []
        self.n = 0
        self.lock = threading.Lock()

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def tmpname(self, stem):
        with self.lock:
            self.n += 1
            return self.path('%s-%d' % (stem, self.n))

    def spawn(self, name, argv):
        p = Proc(name, argv, self.tmp)
        self.procs.append(p)
        return p

    def close(self):
        for h in self.httpds:
            left = h.stop()
            if left:
                print('     httpd: killed leftover processes %s' % left, flush=True)
        for p in reversed(self.procs):
            p.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def wait_for(cond, proc, deadline):
    """Poll cond() until it is true (True), proc exits or deadline passes
    (False)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return True
        if proc is not None and not proc.running():
            return cond()
        time.sleep(0.02)
    return cond()


def not_started(p, where):
    """Stop p, which did not come up, and say how it failed."""
    if p.running():
        rc = p.stop()
        return 'was still not listening %s after %.0f s (stopped it: exit status %s)' % (
            where, START_DEADLINE, rc)
    return 'exited with status %s before listening %s' % (p.stop(), where)


def start_backend(sess, name, path, *opts):
    """Start fdpass-backend on path and wait until it listens there."""
    p = sess.spawn(name, [BACKEND, '--listen', path] + list(opts))
    if not wait_for(lambda: pid_listens_unix(p.pid, path), p, START_DEADLINE):
        raise Failure('%s (%s) %s; its stderr:\n%s'
                      % (name, ' '.join(p.argv), not_started(p, 'on ' + path), p.log()))
    return p


def start_pyreceiver(sess, name, path, *opts):
    p = sess.spawn(name, [sys.executable, PYRECEIVER, '--listen', path] + list(opts))
    if not wait_for(lambda: pid_listens_unix(p.pid, path), p, START_DEADLINE):
        raise Failure('%s %s; its stderr:\n%s' % (name, not_started(p, 'on ' + path), p.log()))
    return p


def start_frontend(sess, name, routes, timeout_ms=None):
    """Start fdpass-frontend on a free loopback port (another port if that
    one was taken meanwhile) and wait until it listens. Returns (proc,
    port)."""
    last = ''
    for attempt in range(5):
        port = free_port()
        argv = [FRONTEND, '--listen', '127.0.0.1:%d' % port]
        for r in routes:
            argv += ['--route', r]
        if timeout_ms is not None:
            argv += ['--timeout', str(timeout_ms)]
        p = sess.spawn('%s-%d' % (name, attempt), argv)
        if wait_for(lambda: pid_listens_tcp(p.pid, port), p, START_DEADLINE):
            return p, port
        last = '%s; its stderr:\n%s' % (not_started(p, 'on 127.0.0.1:%d' % port), p.log())
        if 'in use' not in p.log().lower():
            break
    raise Failure('%s (%s) %s' % (name, ' '.join(argv), last))


# ---------------------------------------------------------------- clients

class Response:
    def __init__(self):
        self.rc = None         # curl's exit status
        self.error = ''        # curl's stderr, or the socket error
        self.status_line = ''
        self.status = None
        self.headers = []      # [(name lower-case, value)]
        self.body = b''
        self.elapsed = 0.0

    def header(self, name):
        vals = [v for n, v in self.headers if n == name.lower()]
        return vals[0] if vals else None

    def has(self, name):
        return any(n == name.lower() for n, _ in self.headers)

    def describe(self):
        if self.status is None:
            return 'no HTTP response (curl exit %s: %s), body %s' % (
                self.rc, self.error.strip(), short(self.body))
        return '%r, headers %r, body %s%s' % (
            self.status_line, self.headers, short(self.body),
            ' (curl exit %s: %s)' % (self.rc, self.error.strip()) if self.rc else '')


def parse_head(head, r):
    lines = head.decode('latin-1').split('\r\n')
    r.status_line = lines[0]
    m = re.match(r'HTTP/1\.[01] (\d{3})(?: |$)', lines[0])
    if m:
        r.status = int(m.group(1))
    for line in lines[1:]:
        if ':' in line:
            n, v = line.split(':', 1)
            r.headers.append((n.strip().lower(), v.strip()))


def curl(sess, url, *extra):
    """GET url with curl; returns a Response (status None if there was no
    HTTP response)."""
    hf = sess.tmpname('head')
    bf = sess.tmpname('body')
    r = Response()
    t0 = time.monotonic()
    cp = subprocess.run(['curl', '-sS', '--http1.1', '--max-time', str(CURL_MAX_TIME),
                         '-D', hf, '-o', bf] + list(extra) + [url],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    r.elapsed = time.monotonic() - t0
    r.rc = cp.returncode
    r.error = cp.stderr.decode(errors='replace')
    try:
        with open(hf, 'rb') as f:
            heads = f.read()
        os.unlink(hf)
    except OSError:
        heads = b''
    try:
        with open(bf, 'rb') as f:
            r.body = f.read()
        os.unlink(bf)
    except OSError:
        pass
    blocks = [b for b in heads.split(b'\r\n\r\n') if b.strip()]
    if blocks:
        parse_head(blocks[-1], r)
    return r


def raw(port, data, wait=CURL_MAX_TIME):
    """Send data (bytes, or None to send nothing) on a new connection, read
    until end of stream; returns a Response."""
    r = Response()
    t0 = time.monotonic()
    buf = b''
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=wait) as s:
            if data:
                s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError as e:
        r.error = '%s: %s' % (type(e).__name__, e)
    r.elapsed = time.monotonic() - t0
    head, sep, body = buf.partition(b'\r\n\r\n')
    if sep:
        parse_head(head, r)
        r.body = body
    else:
        r.body = buf
    return r


# ---------------------------------------------------------------- common checks

def check_ok(c, what, r, body, flusher_headers=True):
    """A successful hand-off: 200, (the flusher's head) and exactly body."""
    ok = c.check(what + ': status 200', r.status == 200 and r.rc == 0, r.describe())
    if flusher_headers:
        c.check(what + ': head has Date, Server and "Connection: close"',
                r.has('date') and r.has('server')
                and (r.header('connection') or '').lower() == 'close', r.describe())
    ok = c.check(what + ': body is exactly the expected %d bytes' % len(body),
                 r.body == body,
                 'expected %s, got %s' % (short(body), short(r.body))) and ok
    return ok


def check_error(c, what, r, status):
    """An answer of the front-end itself: that status, a short text body and
    a Content-Length that matches it."""
    c.check('%s: status %d' % (what, status), r.status == status, r.describe())
    cl = r.header('content-length')
    c.check('%s: short text body with a matching Content-Length' % what,
            cl is not None and cl.isdigit() and int(cl) == len(r.body)
            and 0 < len(r.body) <= 1024, r.describe())


def check_log_prefix(c, proc, prog, at_least):
    prefix = '%s[%d]: ' % (prog, proc.pid)
    lines = [ln for ln in proc.log().splitlines() if ln.strip()]
    good = [ln for ln in lines if ln.startswith(prefix)]
    c.check('%s logged at least %d lines beginning %r (got %d)'
            % (proc.name, at_least, prefix, len(good)), len(good) >= at_least,
            'its stderr:\n' + proc.log())
    bad = [ln for ln in lines if not ln.startswith(prefix)]
    c.check('%s: every stderr line begins %r' % (proc.name, prefix), not bad,
            'other lines: %r' % bad[:5])


def check_clean_exit(c, proc, sockpath=None, sig=signal.SIGTERM):
    rc = proc.stop(sig)
    c.check('%s exits with status 0 on %s' % (proc.name, signal.Signals(sig).name),
            rc == 0 and not proc.killed,
            'exit status %s%s; stderr:\n%s' % (rc, ' (had to be killed after 5 s)'
                                                if proc.killed else '', proc.log()))
    if sockpath:
        c.check('%s removed its socket file %s' % (proc.name, sockpath),
                not os.path.lexists(sockpath), 'still there')


def concurrent_curls(sess, url, n):
    """n curl processes started together; returns their Responses."""
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return curl(sess, url)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(one, range(n)))


def need_curl():
    if not shutil.which('curl'):
        raise Failure('curl is not installed (Debian: apt-get install curl); '
                      'tests/run-all.sh installs it')


# ---------------------------------------------------------------- scenario 1

def scenario_httpd(c):
    need_curl()
    if os.geteuid() != 0:
        raise Skip('the httpd scenario must run as root: httpd is started as root and '
                      'drops to user nobody (User nobody), as in the documented configuration; '
                      'run meson test as root (CI does)')
    apache2 = shutil.which('apache2') or ('/usr/sbin/apache2'
                                          if os.access('/usr/sbin/apache2', os.X_OK) else None)
    mods = ['mod_mpm_event.so', 'mod_authz_core.so', 'mod_proxy.so', 'mod_proxy_fdpass.so']
    missing = [m for m in mods if not os.path.exists(os.path.join(APACHE_MODULES, m))]
    if not apache2 or missing:
        raise Failure('Apache httpd 2.4 with mod_proxy_fdpass is not installed (missing: %s); '
                      'Debian: apt-get install apache2' % (missing or ['apache2']))
    os.environ['PATH'] = os.path.dirname(apache2) + os.pathsep + os.environ.get('PATH', '')
    try:
        group = grp.getgrnam('nogroup').gr_name
    except KeyError:
        group = 'nobody'

    # ServerRoot: a directory that user nobody can reach (0755 all the way).
    sess = Session('httpd', 0o755, for_others=True)
    try:
        d = sess.tmp
        c.check('ServerRoot %s is mode 0755' % d, os.stat(d).st_mode & 0o777 == 0o755)
        os.mkdir(sess.path('localhost'), 0o755)
        os.chmod(sess.path('localhost'), 0o755)
        os.mkdir(sess.path('run'), 0o755)

        body = b'fdpass-backend behind httpd: answer %d\n' % os.getpid()
        big = os.urandom(1 << 20)
        bigfile = sess.path('big.bin')
        with open(bigfile, 'wb') as f:
            f.write(big)
        sock = sess.path('localhost', 'backend.sock')
        bigsock = sess.path('localhost', 'big.sock')
        pysock = sess.path('localhost', 'py.sock')
        pybody = b'pyreceiver behind httpd\n'

        be = start_backend(sess, 'backend', sock, '--mode', '0666', '--body', body.decode())
        bb = start_backend(sess, 'backend-big', bigsock, '--mode', '0666', '--file', bigfile)
        py = start_pyreceiver(sess, 'pyreceiver', pysock, '--mode', '0666',
                              '--body', pybody.decode())
        c.check('backend socket %s is mode 0666' % sock,
                os.stat(sock).st_mode & 0o777 == 0o666, oct(os.stat(sock).st_mode))

        port = None
        for attempt in range(5):
            cand = free_port()
            conf = sess.path('httpd.conf')
            pidfile = sess.path('httpd.pid')
            errorlog = sess.path('error.log')
            with open(conf, 'w') as f:
                f.write('ServerRoot "%s"\n' % d
                        + 'ServerName localhost\n'
                        + 'Listen 127.0.0.1:%d\n' % cand
                        + 'PidFile %s\n' % pidfile
                        + 'ErrorLog %s\n' % errorlog
                        + 'LogLevel info\n'
                        + 'DefaultRuntimeDir %s\n' % sess.path('run')
                        + ''.join('LoadModule %s_module %s/%s\n'
                                  % (m[4:-3], APACHE_MODULES, m) for m in mods)
                        + 'User nobody\n'
                        + 'Group %s\n' % group
                        + 'ProxyPassMatch "^/fd/(.*)$" "fd://localhost/backend.sock$2"\n'
                        + 'ProxyPassMatch "^/big/(.*)$" "fd://localhost/big.sock$2"\n'
                        + 'ProxyPassMatch "^/py/(.*)$" "fd://localhost/py.sock$2"\n')
            h = Httpd(d, conf, pidfile, errorlog)
            sess.httpds.append(h)
            cp = subprocess.run(['apache2', '-f', conf, '-k', 'start'],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, timeout=60)
            out = cp.stdout.decode(errors='replace')
            if cp.returncode != 0 and 'in use' in out and attempt < 4:
                c.note('port %d was taken meanwhile: trying another' % cand)
                h.stop()
                sess.httpds.remove(h)
                continue
            if cp.returncode != 0:
                raise Failure('apache2 -f %s -k start failed (exit %d):\n%s\nerror.log:\n%s'
                              % (conf, cp.returncode, out, h.errlog()))

            def listening():
                h.pid = h.read_pid()
                return h.pid is not None and pid_listens_tcp(h.pid, cand)

            end = time.monotonic() + START_DEADLINE
            ok = False
            while time.monotonic() < end:
                if listening():
                    ok = True
                    break
                if h.pid is not None and not pid_alive(h.pid):
                    break
                if 'could not bind' in h.errlog():
                    break
                time.sleep(0.05)
            if ok:
                port = cand
                break
            h.stop()
            sess.httpds.remove(h)
            if 'in use' not in h.errlog():
                raise Failure('httpd did not start listening on 127.0.0.1:%d within %.0f s;'
                              ' apache2 said:\n%s\nerror.log:\n%s'
                              % (cand, START_DEADLINE, out, h.errlog()))
            os.rename(errorlog, errorlog + '.%d' % attempt)
        if port is None:
            raise Failure('httpd found no free port in 5 attempts')
        c.note('httpd (pid %d) listens on 127.0.0.1:%d' % (h.pid, port))
        base = 'http://127.0.0.1:%d' % port

        r = curl(sess, base + '/fd/hello')
        ok = check_ok(c, 'GET /fd/hello through httpd to fdpass-backend', r, body)
        if r.status is not None:
            c.note('httpd\'s head: %r %r' % (r.status_line, r.headers))
        c.check('httpd\'s Server field names Apache', 'apache' in (r.header('server') or '').lower(),
                r.describe())
        for i in range(5):
            r = curl(sess, base + '/fd/again/%d' % i)
            ok = r.status == 200 and r.body == body and ok
        c.check('5 more requests through httpd all get 200 and the exact body', ok, r.describe())

        r = curl(sess, base + '/big/file')
        check_ok(c, 'GET /big/file through httpd: a 1 MiB --file of random bytes', r, big)

        r = curl(sess, base + '/py/x')
        check_ok(c, 'GET /py/x through httpd to pyreceiver.py (the receiver\'s own checks, '
                 'used in the frontend-python scenario, accept what httpd sends)', r, pybody)

        h.stop()
        sess.httpds.remove(h)
        c.check('httpd stopped: pid file gone and no httpd process of ours left',
                not os.path.exists(pidfile) and not pids_with_arg(conf))
        el = h.errlog()
        c.check('httpd\'s error.log has no error about the proxy',
                not re.search(r':error\]|AH01152|AH01153', el), el[-3000:])
        check_log_prefix(c, be, 'fdpass-backend', 6)
        check_clean_exit(c, be, sock)
        check_clean_exit(c, bb, bigsock)
        rc = py.stop()
        c.check('pyreceiver found no violation in what httpd sent (exit 0, 1 hand-off)',
                rc == 0 and 'done: 1 hand-offs, 0 violations' in py.log(), py.log())
    except Failure:
        for h in sess.httpds:
            print('----- httpd error.log:\n' + h.errlog(), flush=True)
        raise
    finally:
        sess.close()


# ---------------------------------------------------------------- scenario 2

def scenario_frontend_backend(c):
    need_curl()
    sess = Session('fe-be')
    held = []
    try:
        P = sess.path
        body_a = b'answer from backend A\n'
        body_b = b'answer from backend B\n'
        body_h = b'backend H wrote its own head\n'
        big = os.urandom(1 << 20)
        with open(P('big.bin'), 'wb') as f:
            f.write(big)

        for prog, exe in [('fdpass-backend', BACKEND), ('fdpass-frontend', FRONTEND)]:
            cp = subprocess.run([exe, '--help'], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=10)
            c.check('%s --help prints its usage (naming --listen) and exits 0' % prog,
                    cp.returncode == 0 and b'--listen' in cp.stdout + cp.stderr,
                    'exit %d, stdout %s, stderr %s' % (cp.returncode, short(cp.stdout),
                                                       short(cp.stderr)))

        bd = start_backend(sess, 'backend-default', P('d.sock'))
        ba = start_backend(sess, 'backend-A', P('a.sock'), '--body', body_a.decode())
        bb = start_backend(sess, 'backend-B', P('b.sock'), '--body', body_b.decode())
        bh = start_backend(sess, 'backend-H', P('h.sock'), '--headers', '--body', body_h.decode())
        bf = start_backend(sess, 'backend-file', P('f.sock'), '--file', P('big.bin'))
        huge = os.urandom(16 << 20)
        with open(P('huge.bin'), 'wb') as f:
            f.write(huge)
        bs = start_backend(sess, 'backend-slow', P('s.sock'), '--file', P('huge.bin'))
        other_uid = 65534 if os.getuid() != 65534 else 65533
        br = start_backend(sess, 'backend-refusing', P('r.sock'), '--body', 'refused?\n',
                           '--allow-uid', str(other_uid))
        bp = start_backend(sess, 'backend-allowing', P('p.sock'), '--body', 'allowed\n',
                           '--allow-uid', str(other_uid), '--allow-uid', str(os.getuid()))
        c.check('backend socket files have the default mode 0660',
                os.stat(P('a.sock')).st_mode & 0o777 == 0o660, oct(os.stat(P('a.sock')).st_mode))

        # A socket file with nobody listening: bound, then closed.
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(P('stale.sock'))
        # A listener whose backlog is full: listen(0) holds one connection,
        # which this test makes; the front-end's connect then waits.
        full = socket.socket(socket.AF_UNIX)
        held.append(full)
        full.bind(P('full.sock'))
        full.listen(0)
        filler = socket.socket(socket.AF_UNIX)
        held.append(filler)
        filler.connect(P('full.sock'))

        timeout_ms = 1500
        fe, port = start_frontend(sess, 'frontend', [
            '/hello=' + P('d.sock'),
            # two pairs in opposite orders: neither "first match" nor "last
            # match" can pass both
            '/one=' + P('a.sock'),
            '/one/two=' + P('b.sock'),
            '/three/four=' + P('b.sock'),
            '/three=' + P('a.sock'),
            '/own-head=' + P('h.sock') + ',flusher=none',
            '/big=' + P('f.sock'),
            '/dead=' + P('stale.sock'),
            '/missing=' + P('nonexistent', 'x.sock'),
            '/full=' + P('full.sock'),
            '/refuse=' + P('r.sock'),
            '/allow=' + P('p.sock'),
            '/huge=' + P('s.sock'),
        ], timeout_ms)
        c.note('fdpass-frontend (pid %d) listens on 127.0.0.1:%d' % (fe.pid, port))
        base = 'http://127.0.0.1:%d' % port
        requests = 0

        r = curl(sess, base + '/hello')
        requests += 1
        check_ok(c, 'GET /hello: the default body "Hello from fdpass-backend"', r, DEFAULT_BODY)
        if r.status is not None:
            c.note('the front-end\'s head: %r %r' % (r.status_line, r.headers))
        c.check('GET /hello: status line is exactly "HTTP/1.1 200 OK"',
                r.status_line == 'HTTP/1.1 200 OK', r.describe())

        for path, body, who in [('/one/x', body_a, 'A'), ('/one/two/x', body_b, 'B'),
                                ('/one/two', body_b, 'B'), ('/three/x', body_a, 'A'),
                                ('/three/four/x', body_b, 'B')]:
            r = curl(sess, base + path)
            requests += 1
            check_ok(c, 'longest prefix: GET %s goes to backend %s' % (path, who), r, body,
                     flusher_headers=False)

        n = 50
        t0 = time.monotonic()
        rs = concurrent_curls(sess, base + '/one/concurrent', n)
        requests += n
        good = sum(1 for r in rs if r.status == 200 and r.body == body_a)
        bad = [r for r in rs if not (r.status == 200 and r.body == body_a)]
        c.check('%d concurrent curl clients all get 200 and backend A\'s body (%d did, %.1f s)'
                % (n, good, time.monotonic() - t0), good == n,
                bad[0].describe() if bad else '')

        r = curl(sess, base + '/big/file')
        requests += 1
        check_ok(c, 'GET /big/file: a 1 MiB --file of random bytes, byte for byte', r, big)

        # One event loop, many clients: a client that does not read its
        # 16 MiB body stalls the backend's writes to it, not the backend.
        stalled = socket.socket()
        held.append(stalled)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.settimeout(10)
        stalled.connect(('127.0.0.1', port))
        stalled.sendall(b'GET /huge/stalled HTTP/1.1\r\nHost: x\r\n\r\n')
        stalled.recv(1)  # the hand-off happened, the body is on its way
        requests += 1
        r = curl(sess, base + '/huge/other')
        requests += 1
        check_ok(c, 'while another client of the same backend does not read its 16 MiB body, '
                 'GET /huge/other gets all 16 MiB', r, huge, flusher_headers=False)
        got, t0 = 1, time.monotonic()
        while True:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        head_len = got - len(huge)
        c.check('the stalled client, reading at last, gets the whole body (%d bytes after a '
                '%d-byte head)' % (len(huge), head_len), 0 < head_len < 1024,
                'got %d bytes' % got)
        stalled.close()

        r = curl(sess, base + '/nowhere')
        requests += 1
        check_error(c, 'GET /nowhere (no route)', r, 404)
        r = curl(sess, base + '/')
        requests += 1
        check_error(c, 'GET / (no route)', r, 404)

        r = curl(sess, base + '/dead/x')
        requests += 1
        check_error(c, 'route to a socket file nobody listens on', r, 502)
        r = curl(sess, base + '/missing/x')
        requests += 1
        check_error(c, 'route to a socket path that does not exist', r, 502)

        r = curl(sess, base + '/full/x')
        requests += 1
        check_error(c, 'route to a backend whose backlog stays full (not accepting)', r, 504)
        c.note('504 came after %.2f s (--timeout %d ms)' % (r.elapsed, timeout_ms))

        r = curl(sess, base + '/own-head/x')
        requests += 1
        c.check('flusher=none with a --headers backend: the backend\'s own "HTTP/1.1 200 OK"',
                r.status_line == 'HTTP/1.1 200 OK', r.describe())
        c.check('flusher=none: the backend\'s Content-Length (%d) and "Connection: close"'
                % len(body_h),
                r.header('content-length') == str(len(body_h))
                and (r.header('connection') or '').lower() == 'close', r.describe())
        c.check('flusher=none: body is exactly the backend\'s (no second head from the front-end)',
                r.body == body_h and r.rc == 0, r.describe())
        if r.status is not None:
            c.note('head with flusher=none: %r %r' % (r.status_line, r.headers))

        r = raw(port, b'BLAH\r\n\r\n')
        requests += 1
        check_error(c, 'malformed request "BLAH\\r\\n\\r\\n" on a raw socket', r, 400)

        result = {}
        silent = threading.Thread(target=lambda: result.update(r=raw(port, None)))
        silent.start()
        time.sleep(0.2)
        r = curl(sess, base + '/hello')
        requests += 2
        c.check('while a silent client waits for its 408, another request is served at once '
                '(%.2f s)' % r.elapsed, r.status == 200 and r.body == DEFAULT_BODY
                and r.elapsed < timeout_ms / 1000 / 2, r.describe())
        silent.join()
        r = result['r']
        check_error(c, 'silent client', r, 408)
        c.check('silent client: 408 after about --timeout %d ms (got %.2f s)'
                % (timeout_ms, r.elapsed),
                timeout_ms / 1000 * 0.8 <= r.elapsed <= timeout_ms / 1000 + 5, r.describe())

        head = (b'GET /hello HTTP/1.1\r\nHost: x\r\n'
                + b''.join(b'X-Filler-%d: %s\r\n' % (i, b'y' * 90) for i in range(100)))
        r = raw(port, head)  # 10 KiB, and no end of head yet
        requests += 1
        check_error(c, 'request head over 8 KiB (%d bytes, unfinished)' % len(head), r, 431)
        r = curl(sess, base + '/hello', '-H', 'X-Big: ' + 'z' * 9000)
        requests += 1
        check_error(c, 'curl with a 9000-byte header field', r, 431)

        # --allow-uid: a backend that allows only another uid refuses us.
        before = br.log()
        r = curl(sess, base + '/refuse/x')
        requests += 1
        c.note('client of a backend that refuses the front-end\'s uid got: ' + r.describe())
        c.check('--allow-uid %d: the client does not get the refusing backend\'s body'
                % other_uid, r.body != b'refused?\n' and r.elapsed < CURL_MAX_TIME - 1,
                r.describe())
        time.sleep(0.2)
        new = br.log()[len(before):]
        c.check('--allow-uid: the backend logged the refusal',
                re.search(r'(?i)refus|not allowed|denied|permit|uid', new) is not None,
                'new stderr lines: %r' % new)
        c.note('its log line: %r' % new.strip())
        r = curl(sess, base + '/allow/x')
        requests += 1
        check_ok(c, '--allow-uid %d --allow-uid %d (ours): served' % (other_uid, os.getuid()),
                 r, b'allowed\n')

        # flusher=bogus: its own front-end, in case the program checks names
        # at start-up.
        fe2, port2 = start_frontend(sess, 'frontend-bogus',
                                    ['/b=' + P('a.sock') + ',flusher=bogus'], timeout_ms)
        r = curl(sess, 'http://127.0.0.1:%d/b/x' % port2)
        check_error(c, 'route with flusher=bogus', r, 500)
        c.check('flusher=bogus: nothing reached backend A\'s client (no body)',
                body_a not in r.body, r.describe())

        # A backend that exits on SIGTERM removes its socket file.
        be = start_backend(sess, 'backend-E', P('e.sock'))
        check_clean_exit(c, be, P('e.sock'))
        be = start_backend(sess, 'backend-F', P('e.sock'))
        check_clean_exit(c, be, P('e.sock'), signal.SIGINT)

        # Logs, clean exits.
        check_log_prefix(c, fe, 'fdpass-frontend', requests)
        c.check('fdpass-frontend printed nothing on stdout', fe.out() == b'', short(fe.out()))
        check_log_prefix(c, ba, 'fdpass-backend', n + 2)
        check_clean_exit(c, fe)
        check_clean_exit(c, fe2, sig=signal.SIGINT)
        for b, s in [(bd, 'd'), (ba, 'a'), (bb, 'b'), (bh, 'h'), (bf, 'f'), (br, 'r'),
                     (bp, 'p'), (bs, 's')]:
            check_clean_exit(c, b, P(s + '.sock'))
    finally:
        for s in held:
            s.close()
        sess.close()


# ---------------------------------------------------------------- scenario 3

def scenario_frontend_python(c):
    need_curl()
    sess = Session('fe-py')
    try:
        body = b'Hello from a Python mod_proxy_fdpass backend\n'
        sock = sess.path('py.sock')
        py = start_pyreceiver(sess, 'pyreceiver', sock, '--body', body.decode())
        fe, port = start_frontend(sess, 'frontend', ['/py=' + sock])
        base = 'http://127.0.0.1:%d' % port

        r = curl(sess, base + '/py/x')
        check_ok(c, 'GET /py/x through fdpass-frontend to pyreceiver.py', r, body)
        ok = True
        for i in range(9):
            r = curl(sess, base + '/py/%d' % i)
            ok = ok and r.status == 200 and r.body == body
        c.check('9 more sequential requests get the receiver\'s body', ok, r.describe())
        rs = concurrent_curls(sess, base + '/py/c', 20)
        good = sum(1 for r in rs if r.status == 200 and r.body == body)
        c.check('20 concurrent requests all get the receiver\'s body (%d did)' % good,
                good == 20, '')

        check_clean_exit(c, fe)
        rc = py.stop()
        log = py.log()
        c.check('pyreceiver: every message was one b"\\0" with one TCP socket, no MSG_CTRUNC, '
                'one message per connection (exit 0, 30 hand-offs, 0 violations)',
                rc == 0 and 'done: 30 hand-offs, 0 violations' in log,
                'exit %s; its stderr:\n%s' % (rc, log))
    finally:
        sess.close()

# ---------------------------------------------------------------- scenario 4

def read_response(s, buf=b''):
    """One response with Content-Length from socket s (after buf); returns
    (status line, headers dict, body, rest of buf)."""
    while b'\r\n\r\n' not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise Failure('connection closed before a response head: %s' % short(buf))
        buf += chunk
    head, _, buf = buf.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = {}
    for line in lines[1:]:
        n, _, v = line.partition(':')
        headers[n.strip().lower()] = v.strip()
    length = int(headers.get('content-length', '-1'))
    if length < 0:
        raise Failure('response without Content-Length: %s' % short(head))
    while len(buf) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise Failure('connection closed in a response body')
        buf += chunk
    return lines[0], headers, buf[:length], buf[length:]


def echo_of(head, client, body):
    return head + b'client: ' + client.encode() + b'\n\n' + body


def request(path, body=None, extra=b''):
    h = b'%s %s HTTP/1.1\r\nHost: test\r\nUser-Agent: interop\r\n' % (
        b'POST' if body is not None else b'GET', path.encode())
    if body is not None:
        h += b'Content-Length: %d\r\n' % len(body)
    return h + extra + b'\r\n'


def scenario_metadata(c):
    need_curl()
    sess = Session('meta')
    try:
        P = sess.path
        start_backend(sess, 'backend-echo', P('e.sock'), '--echo')
        bk = start_backend(sess, 'backend-keepalive', P('k.sock'), '--keep-alive', '--echo')
        start_backend(sess, 'backend-plain-echo', P('p.sock'), '--echo')
        fe, port = start_frontend(sess, 'frontend', [
            '/echo=' + P('e.sock') + ',meta=on',
            '/ka=' + P('k.sock') + ',flusher=none,meta=on,keepalive=on',
            '/plain=' + P('p.sock'),
        ])
        base = 'http://127.0.0.1:%d' % port

        # 1 MiB through both processes, the exact bytes we sent.
        big = os.urandom(1 << 20)
        head = request('/echo/up', big)
        with socket.create_connection(('127.0.0.1', port), timeout=CURL_MAX_TIME) as s:
            me = '%s:%d' % s.getsockname()
            s.sendall(head + big)
            r = raw_read(s)
        check_ok(c, 'POST of 1 MiB to fdpass-backend --echo through a meta=on route', r,
                 echo_of(head, me, big))

        with open(P('big.bin'), 'wb') as f:
            f.write(big)
        r = curl(sess, base + '/echo/curl', '--data-binary', '@' + P('big.bin'))
        c.check('curl --data-binary @1MiB: the echo starts with the request line',
                r.body.startswith(b'POST /echo/curl HTTP/1.1\r\n'), r.describe())
        c.check('curl --data-binary @1MiB: the echo names the headers curl sent',
                b'\r\nContent-Length: 1048576\r\n' in r.body and b'\r\nHost: 127.0.0.1:%d\r\n'
                % port in r.body, r.describe())
        m = re.match(rb'(.*?\r\n\r\n)client: 127\.0\.0\.1:\d+\n\n(.*)$', r.body, re.S)
        c.check('curl --data-binary @1MiB: the client address, then all 1 MiB of the body, '
                'byte for byte', m is not None and m.group(2) == big, r.describe())

        r = curl(sess, base + '/echo/empty', '--data-binary', '')
        c.check('a body of 0 bytes: the echo is the head and the client address only',
                r.status == 200 and r.body.startswith(b'POST /echo/empty HTTP/1.1\r\n')
                and b'\r\nContent-Length: 0\r\n' in r.body
                and re.search(rb'\r\n\r\nclient: 127\.0\.0\.1:\d+\n\n$', r.body) is not None,
                r.describe())

        # The head in many small TCP segments, then the body.
        body = b'small segments\n'
        head = request('/echo/slow', body, b'X-Pad: ' + b'p' * 300 + b'\r\n')
        with socket.create_connection(('127.0.0.1', port), timeout=CURL_MAX_TIME) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            me = '%s:%d' % s.getsockname()
            for i in range(0, len(head), 7):
                s.send(head[i:i + 7])
                time.sleep(0.002)
            s.sendall(body)
            r = raw_read(s)
        check_ok(c, 'a head sent in %d segments of 7 bytes' % ((len(head) + 6) // 7), r,
                 echo_of(head, me, body))

        r = curl(sess, base + '/plain/x')
        check_ok(c, 'a route without meta=on sends httpd\'s plain message, and --echo says '
                 'that no metadata came', r, r.body if r.body.startswith(b'no metadata came')
                 else b'no metadata came...')

        # Handed over for good: several requests on one connection.
        r = subprocess.run(['curl', '-sS', '-v', '--http1.1', '--max-time', str(CURL_MAX_TIME),
                            base + '/ka/1', base + '/ka/2', base + '/ka/3'],
                           capture_output=True)
        err = r.stderr.decode(errors='replace')
        c.check('curl with 3 URLs on one connection: all answered by the backend',
                r.returncode == 0 and all(b'GET /ka/%d HTTP/1.1\r\n' % i in r.stdout
                                          for i in (1, 2, 3)),
                'exit %d, stdout %s, stderr %s' % (r.returncode, short(r.stdout), err[-500:]))
        c.check('curl reused its connection for the 2nd and 3rd URL',
                err.count('Re-using existing connection') == 2 and err.count('Connected to') == 1,
                err[-1500:])

        # A pipelined burst: three requests in one write, the last asks to close.
        reqs = [request('/ka/p%d' % i, b'body %d' % i) for i in range(3)]
        bodies = [b'body %d' % i for i in range(3)]
        reqs[2] = request('/ka/p2', bodies[2], b'Connection: close\r\n')
        with socket.create_connection(('127.0.0.1', port), timeout=CURL_MAX_TIME) as s:
            me = '%s:%d' % s.getsockname()
            s.sendall(b''.join(r + b for r, b in zip(reqs, bodies)))
            rest = b''
            got = []
            for i in range(3):
                line, hdrs, b, rest = read_response(s, rest)
                got.append((line, hdrs, b))
            tail = rest + raw_read(s).body
        for i, (line, hdrs, b) in enumerate(got):
            c.check('pipelined request %d: 200 with Content-Length and its own echo' % i,
                    line == 'HTTP/1.1 200 OK' and b == echo_of(reqs[i], me, bodies[i]),
                    '%r %r %s' % (line, hdrs, short(b)))
        c.check('keep-alive on the first two responses, "Connection: close" on the last, '
                'then the backend closes', 'connection' not in got[0][1]
                and 'connection' not in got[1][1]
                and got[2][1].get('connection') == 'close' and tail == b'', repr(got))

        # Sequential requests on one connection, each sent after the answer.
        with socket.create_connection(('127.0.0.1', port), timeout=CURL_MAX_TIME) as s:
            me = '%s:%d' % s.getsockname()
            rest = b''
            ok = True
            for i in range(5):
                q = request('/ka/seq%d' % i)
                s.sendall(q)
                line, hdrs, b, rest = read_response(s, rest)
                ok = ok and line == 'HTTP/1.1 200 OK' and b == echo_of(q, me, b'')
            c.check('5 requests one after the other on one connection, each echoed', ok,
                    '%r %s' % (line, short(b)))
        check_log_prefix(c, bk, 'fdpass-backend', 3)
        c.check('the keep-alive backend logged its hand-offs as keep-alive',
                bk.log().count('keep-alive') >= 3, bk.log())
        check_clean_exit(c, fe)
    finally:
        sess.close()


def raw_read(s):
    """Read s to end of stream; returns a Response."""
    r = Response()
    buf = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, sep, body = buf.partition(b'\r\n\r\n')
    if sep:
        parse_head(head, r)
        r.body = body
        r.rc = 0
    else:
        r.body = buf
    return r



SCENARIOS = {
    'httpd': scenario_httpd,
    'frontend-backend': scenario_frontend_backend,
    'frontend-python': scenario_frontend_python,
    'metadata': scenario_metadata,
}


def run_main(scenarios):
    """The command line of interop.py and hardening.py: SCENARIO BACKEND
    FRONTEND; runs the scenario and prints its summary line."""
    global BACKEND, FRONTEND
    if len(sys.argv) != 4 or sys.argv[1] not in scenarios:
        sys.stderr.write('usage: %s {%s} FDPASS_BACKEND FDPASS_FRONTEND\n'
                         % (sys.argv[0], '|'.join(scenarios)))
        return 2
    BACKEND, FRONTEND = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    c = Checks()
    name = sys.argv[1]
    print('=== scenario %s' % name, flush=True)
    try:
        scenarios[name](c)
    except Failure as e:
        c.check('scenario %s could go on' % name, False, str(e))
    except Stop as e:
        c.check('scenario %s finished' % name, False, 'stopped by %s' % e)
    except Skip as e:
        print('=== %s: skipped: %s' % (name, e), flush=True)
        return 77
    print('=== %s: %d passed, %d failed%s' % (name, c.passed, len(c.failed),
                                             ''.join('\n  FAILED: ' + f for f in c.failed)),
          flush=True)
    return 1 if c.failed else 0


if __name__ == '__main__':
    sys.exit(run_main(SCENARIOS))
