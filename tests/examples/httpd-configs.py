#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every Apache httpd configuration that the documentation shows, fed to the
real httpd 2.4 with mod_proxy_fdpass.

    httpd-configs.py FDPASS_BACKEND DOC...

DOC is README.md (fenced code blocks), a man page (.EX/.EE blocks), or a
directory of man pages (every *.3 and *.7 in it). A
block is an httpd configuration if one of its lines is an httpd directive
(ProxyPass, ProxyPassMatch, LoadModule, ServerRoot, Listen, <Location ...).
For each one:
  - `apache2 -t` must accept it, inside a minimal server configuration
    (ServerRoot, Listen, the modules, User nobody);
  - for each ProxyPass or ProxyPassMatch line of it with an fd:// URL (the
    text claims that httpd then hands requests to a backend there), httpd
    is started with the block, fdpass-backend listens where httpd will
    connect (the path after fd://host/, relative to ServerRoot), and a
    request that the line routes must come back with the backend's body.
Needs root (httpd starts as root and drops to nobody) and apache2; exits
77 (skipped) otherwise. Every process it starts is stopped.
"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import interop  # noqa: E402 (beside this file)
from interop import APACHE_MODULES, Checks, Failure, Session, curl, start_backend  # noqa: E402
from hardening import start_httpd  # noqa: E402

SKIP = 77
DIRECTIVE_RE = re.compile(r'^\s*(ProxyPass\w*|LoadModule|ServerRoot|ServerName|Listen|'
                          r'User|Group|<Location\w*|<VirtualHost|<Proxy\w*)\b')
PROXY_RE = re.compile(r'^\s*(ProxyPass|ProxyPassMatch)\s+"?([^"\s]+)"?\s+"?(fd://[^"\s]+)"?')
TROFF = [('\\-', '-'), ('\\(aq', "'"), ('\\(dq', '"'), ('\\&', ''), ('\\e', '\\')]


def blocks_of(path):
    """[(where, [lines])] of the code blocks of a Markdown file or man page."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().splitlines()
    found, cur, start = [], None, 0
    man = not path.endswith('.md')
    for i, line in enumerate(lines, 1):
        if man:
            opening, closing = line.startswith('.EX'), line.startswith('.EE')
        else:
            opening = closing = line.lstrip().startswith('```')
        if cur is None and opening:
            cur, start = [], i
        elif cur is not None and closing:
            found.append(('%s:%d' % (os.path.basename(path), start), cur))
            cur = None
        elif cur is not None:
            if man:
                if line.startswith('.'):
                    continue
                for esc, rep in TROFF:
                    line = line.replace(esc, rep)
            cur.append(line.strip() if not man else line)
    return found


def httpd_blocks(docs):
    return [(w, b) for d in docs for w, b in blocks_of(d)
            if any(DIRECTIVE_RE.match(l) for l in b)]


def request_path(kind, pattern):
    """A request path that the ProxyPass(Match) line routes."""
    if kind == 'ProxyPass':
        return pattern.rstrip('/') + '/probe'
    path = pattern.lstrip('^').rstrip('$')
    path = re.sub(r'\([^)]*\)', 'probe', path)
    return path.replace('\\', '')


def socket_under(root, url):
    """Where httpd 2.4 connects for an fd:// URL: the path after the host
    part, relative to ServerRoot, without regex substitutions ($N)."""
    rest = url[len('fd://'):]
    rest = re.sub(r'\$\d', '', rest)
    return os.path.join(root, rest)


def check_block(c, sess, where, block, group, n):
    base = ['ServerRoot "%s"' % sess.tmp, 'ServerName localhost',
            'Listen 127.0.0.1:%d' % interop.free_port(),
            'PidFile %s' % sess.path('t.pid'), 'ErrorLog %s' % sess.path('t.log'),
            'DefaultRuntimeDir %s' % sess.path('run')] + \
        ['LoadModule %s_module %s/%s' % (m[4:-3], APACHE_MODULES, m)
         for m in ('mod_mpm_event.so', 'mod_authz_core.so', 'mod_proxy.so',
                   'mod_proxy_fdpass.so')] + ['User nobody', 'Group %s' % group]
    conf = sess.path('check-%d.conf' % n)
    with open(conf, 'w') as f:
        f.write('\n'.join(base + block) + '\n')
    cp = subprocess.run(['apache2', '-t', '-f', conf], capture_output=True, text=True,
                        timeout=60)
    c.check('%s: apache2 -t accepts the configuration %r' % (where, block),
            cp.returncode == 0, (cp.stdout + cp.stderr).strip())
    if cp.returncode != 0:
        return

    proxies = [PROXY_RE.match(l) for l in block]
    proxies = [m for m in proxies if m]
    if not proxies:
        return
    backends, body = [], b'behind the configuration of %s\n' % where.encode()
    for i, m in enumerate(proxies):
        sock = socket_under(sess.tmp, m.group(3))
        os.makedirs(os.path.dirname(sock), 0o755, exist_ok=True)
        if os.path.lexists(sock):
            os.unlink(sock)
        backends.append(start_backend(sess, 'backend-%d-%d' % (n, i), sock, '--mode', '0666',
                                      '--body', body.decode()))
    h, port = start_httpd(sess, c, block, group)
    try:
        for m in proxies:
            path = request_path(m.group(1), m.group(2))
            r = curl(sess, 'http://127.0.0.1:%d%s' % (port, path))
            c.check('%s: GET %s through httpd reaches the backend at %s' % (
                where, path, socket_under('ServerRoot', m.group(3))),
                r.status == 200 and r.body == body, r.describe() + '\nerror.log:\n' +
                h.errlog()[-2000:])
    finally:
        h.stop()
        sess.httpds.remove(h)
        for b in backends:
            b.stop()


def main():
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    interop.BACKEND = os.path.abspath(sys.argv[1])
    docs = []
    for d in sys.argv[2:]:
        if os.path.isdir(d):
            docs += sorted(os.path.join(d, f) for f in os.listdir(d)
                           if re.search(r'\.[37]$', f))
        else:
            docs.append(d)
    blocks = httpd_blocks(docs)
    print('%d httpd configuration blocks in %d documents: %s'
          % (len(blocks), len(docs), ', '.join(w for w, _ in blocks)), flush=True)
    if not blocks:
        print('FAIL: no httpd configuration found: is the extraction broken?')
        return 1
    apache2 = shutil.which('apache2') or shutil.which('apache2', path='/usr/sbin')
    missing = [m for m in ('mod_proxy.so', 'mod_proxy_fdpass.so')
               if not os.path.exists(os.path.join(APACHE_MODULES, m))]
    if os.geteuid() != 0 or not apache2 or missing or not shutil.which('curl'):
        print('SKIP: needs root, apache2 with mod_proxy_fdpass, and curl '
              '(tests/run-all.sh installs them and runs as root)')
        return SKIP
    os.environ['PATH'] = os.path.dirname(apache2) + os.pathsep + os.environ.get('PATH', '')
    try:
        import grp
        group = grp.getgrnam('nogroup').gr_name
    except KeyError:
        group = 'nobody'

    c = Checks()
    sess = Session('httpd-configs', 0o755)
    try:
        p = sess.tmp
        while p != '/':
            if not os.stat(p).st_mode & 0o001:
                print('SKIP: %s is not searchable by others, so user nobody cannot reach '
                      'a backend socket under it: set TMPDIR to a directory that is' % p)
                return SKIP
            p = os.path.dirname(p)
        os.makedirs(sess.path('run'), 0o755, exist_ok=True)
        for n, (where, block) in enumerate(blocks):
            try:
                check_block(c, sess, where, block, group, n)
            except Failure as e:
                c.check('%s: the configuration could be tried' % where, False, str(e))
    finally:
        sess.close()
    print('=== httpd configurations: %d passed, %d failed%s' % (
        c.passed, len(c.failed), ''.join('\n  FAILED: ' + f for f in c.failed)), flush=True)
    return 1 if c.failed else 0


if __name__ == '__main__':
    sys.exit(main())
