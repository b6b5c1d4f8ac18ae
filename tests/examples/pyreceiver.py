#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A stand-in for an existing mod_proxy_fdpass backend, written with Python's
standard library only (socket.recv_fds, Python 3.9+), never libfdpass.

    pyreceiver.py --listen PATH [--mode OCTAL] [--body TEXT]

Listens on the unix socket PATH (socket file mode OCTAL, default 0660) and,
for every connection a front-end makes, reads with socket.recv_fds and checks
that the connection carries exactly one message, that this message is
exactly one b'\\0' byte with exactly one fd and no MSG_CTRUNC, and that the fd
is a connected TCP socket. It then writes the body (default
"Hello from pyreceiver\\n") to that socket and closes it.

Every check that fails is a violation, logged at once on stderr. On SIGTERM
or SIGINT it logs the line "pyreceiver[PID]: done: N hand-offs, M
violations", removes its socket file and exits 1 if there was any violation,
0 otherwise (2: bad usage or could not listen).
"""
import argparse
import os
import signal
import socket
import stat
import sys

PREFIX = 'pyreceiver[%d]: ' % os.getpid()


class Stop(Exception):
    pass


def log(text):
    sys.stderr.write(PREFIX + text + '\n')
    sys.stderr.flush()


def on_signal(signum, frame):
    raise Stop()


class Receiver:
    def __init__(self, body):
        self.body = body
        self.handoffs = 0
        self.violations = 0

    def violation(self, text):
        self.violations += 1
        log('VIOLATION: ' + text)

    def serve_client(self, fd, conn_no):
        try:
            client = socket.socket(fileno=fd)
        except OSError as e:
            self.violation('connection %d: the fd received is not a socket: %s' % (conn_no, e))
            os.close(fd)
            return
        with client:
            if client.family not in (socket.AF_INET, socket.AF_INET6) \
                    or client.type != socket.SOCK_STREAM:
                self.violation('connection %d: the fd received is %r %r, not a TCP socket'
                               % (conn_no, client.family, client.type))
                return
            try:
                peer = client.getpeername()
            except OSError as e:
                self.violation('connection %d: the TCP socket received is not connected: %s'
                               % (conn_no, e))
                return
            client.settimeout(10)
            try:
                client.sendall(self.body)
            except OSError as e:
                self.violation('connection %d: writing the body to %r failed: %s'
                               % (conn_no, peer, e))
                return
        self.handoffs += 1
        log('connection %d: served client %s:%d (%d bytes)'
            % (conn_no, peer[0], peer[1], len(self.body)))

    def handle(self, conn, conn_no):
        conn.settimeout(10)
        messages = 0
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(conn, 64, 8)
            except socket.timeout:
                self.violation('connection %d: no end of stream within 10 s' % conn_no)
                break
            except OSError as e:
                self.violation('connection %d: recv_fds failed: %s' % (conn_no, e))
                break
            if not data and not fds:
                break  # end of stream: httpd closes after its one message
            messages += 1
            ok = True
            if flags & socket.MSG_CTRUNC:
                self.violation('connection %d: MSG_CTRUNC set (fds lost)' % conn_no)
                ok = False
            if data != b'\0':
                self.violation('connection %d: data %r, expected exactly b"\\0"'
                               % (conn_no, data))
                ok = False
            if len(fds) != 1:
                self.violation('connection %d: %d fds with the message, expected exactly 1'
                               % (conn_no, len(fds)))
                ok = False
            if ok:
                self.serve_client(fds[0], conn_no)
            else:
                for fd in fds:
                    os.close(fd)
        if messages != 1:
            self.violation('connection %d carried %d messages, expected exactly 1'
                           % (conn_no, messages))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--listen', required=True, metavar='PATH')
    ap.add_argument('--mode', default='0660', metavar='OCTAL')
    ap.add_argument('--body', default='Hello from pyreceiver\n', metavar='TEXT')
    args = ap.parse_args()
    try:
        mode = int(args.mode, 8)
    except ValueError:
        ap.error('--mode: not an octal number: %r' % args.mode)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    rx = Receiver(args.body.encode())
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            st = os.lstat(args.listen)
            if stat.S_ISSOCK(st.st_mode):
                os.unlink(args.listen)  # a stale socket file from an earlier run
        except FileNotFoundError:
            pass
        old = os.umask(0o777)  # nobody may connect before the chmod
        try:
            lsock.bind(args.listen)
        finally:
            os.umask(old)
        os.chmod(args.listen, mode)
        lsock.listen(128)
    except OSError as e:
        log('cannot listen on %s: %s' % (args.listen, e))
        return 2
    log('listening on %s' % args.listen)

    conn_no = 0
    try:
        while True:
            conn, _ = lsock.accept()
            conn_no += 1
            with conn:
                rx.handle(conn, conn_no)
    except Stop:
        pass
    finally:
        lsock.close()
        try:
            os.unlink(args.listen)
        except OSError:
            pass
    log('done: %d hand-offs, %d violations' % (rx.handoffs, rx.violations))
    return 1 if rx.violations else 0


if __name__ == '__main__':
    sys.exit(main())
