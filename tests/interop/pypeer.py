# SPDX-License-Identifier: MIT
"""Independent peer for libfdpass's interoperability tests.

Uses only Python's standard library: socket.send_fds / socket.recv_fds
(Python 3.9+), never libfdpass. Run by tests/interop/test-python.c as

    pypeer.py MODE SOCKFD [ARGS...]

where SOCKFD is an AF_UNIX socket (SOCK_STREAM or SOCK_SEQPACKET) inherited
across exec. Exits 0 only if every check made on this side passed; on failure
it says why on stderr and exits 1 (2 for bad usage).

Sending modes hand the C side read ends of pipes made here (or another open
file), then wait for one byte of verdict on the socket:
    b'A'  the C side accepted the fds: write "fd I\\n" (or the mode's own
          text) into pipe I and close it, so that the C side can check it
          got the very same pipes, in order;
    b'R'  the C side rejected the message: every fd sent must be closed on
          its side by now, so writing into each pipe must fail with EPIPE
          (nothing else holds a read end: this process closed its copies).

Modes:
  send SOCKFD [BYTE]     one byte (0, or BYTE) with the read end of a pipe,
                         then the line "ST_DEV ST_INO\\n" of that pipe as
                         plain data; on b'A' writes "hello from python\\n".
  send-many SOCKFD N [SIZE]
                         one message: SIZE payload bytes (payload() below,
                         default 32) with the read ends of N pipes.
  send-none SOCKFD       one b'\\0' without any fd, then waits for a verdict.
  send-file SOCKFD PATH SKIP
                         opens PATH read-write, reads SKIP bytes (moving the
                         file offset), sends the fd with b'\\0'.
  send-tcp SOCKFD        sends the server side of a loopback TCP connection;
                         writes REQUEST through the client side, expects
                         exactly RESPONSE back, then end of stream.
  send-late SOCKFD       b'ab' as plain data; once the C side has read it
                         (the socket's send queue is empty), b'cd' with the
                         read end of a pipe: fds arriving after the first
                         byte of a message.
  send-short SOCKFD      b'ab' with the read end of a pipe, then shuts down
                         writing: the stream ends in the middle of a message
                         the C side expects to be 4 bytes long.
  recv SOCKFD            socket.recv_fds: exactly b'\\0' with exactly one fd,
                         no MSG_CTRUNC/MSG_TRUNC; writes "hello from
                         python\\n" into the fd, then "ok ST_DEV ST_INO\\n" of
                         that fd into the socket.
  recv-raw SOCKFD        the same through sock.recvmsg, also checking the
                         control message itself: a single SOL_SOCKET /
                         SCM_RIGHTS message whose data is exactly one int
                         (cmsg_len == CMSG_LEN(sizeof(int))).
  recv-many SOCKFD N SIZE
                         one message of SIZE payload bytes (payload()) with
                         exactly N fds, all with the first bytes (on a stream
                         the rest may come in later reads, without fds);
                         writes "fd I\\n" into fd I.
  eof SOCKFD             closes the socket and exits at once.
"""

import fcntl
import os
import signal
import socket
import struct
import sys
import termios
import time

HELLO = b"hello from python\n"
REQUEST = b"GET /fdpass HTTP/1.0\r\n\r\n"
RESPONSE = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello from C\n"
MAX_FDS = 253  # SCM_MAX_FD


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def payload(n, size):
    """The payload of an N-fd message: first byte 0 (so that a 1-byte
    message is httpd's format), then a pattern that depends on N."""
    return bytes([0] + [(i * 31 + n) & 0xFF for i in range(1, size)])


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def recv_exact(sock, size):
    """Plain data, no fds allowed with it."""
    out = b""
    while len(out) < size:
        data, anc, flags, _ = sock.recvmsg(size - len(out), socket.CMSG_SPACE(4 * 8))
        check(not anc, "fds came with a later part of the payload: %r" % (anc,))
        check(not flags & socket.MSG_CTRUNC, "MSG_CTRUNC on plain data")
        check(data, "end of stream after %d of %d payload bytes" % (len(out), size))
        out += data
    return out


def make_pipes(n):
    readers, writers = [], []
    for _ in range(n):
        r, w = os.pipe()
        readers.append(r)
        writers.append(w)
    return readers, writers


def verdict(sock, writers, texts):
    """Wait for the C side's verdict on what was sent, act on it."""
    ack = sock.recv(1)
    if ack == b"A":
        for w, text in zip(writers, texts):
            write_all(w, text)
            os.close(w)
    elif ack == b"R":
        for i, w in enumerate(writers):
            try:
                os.write(w, b"x")
            except BrokenPipeError:
                pass
            else:
                raise Failed("fd %d of the message is still open somewhere "
                             "after the C side rejected it" % i)
            finally:
                os.close(w)
    else:
        raise Failed("unexpected verdict from the C side: %r" % (ack,))


def mode_send(sock, args):
    byte = int(args[0]) if args else 0
    (r,), (w,) = make_pipes(1)
    check(socket.send_fds(sock, [bytes([byte])], [r]) == 1, "short send")
    st = os.fstat(r)
    os.close(r)
    sock.sendall(b"%d %d\n" % (st.st_dev, st.st_ino))
    verdict(sock, [w], [HELLO])


def mode_send_many(sock, args):
    n = int(args[0])
    size = int(args[1]) if len(args) > 1 else 32
    check(1 <= n <= MAX_FDS and size >= 1, "bad N or SIZE")
    readers, writers = make_pipes(n)
    data = payload(n, size)
    sent = socket.send_fds(sock, [data], readers)
    check(sent == size, "send_fds sent %d of %d bytes" % (sent, size))
    for r in readers:
        os.close(r)
    verdict(sock, writers, [b"fd %d\n" % i for i in range(n)])


def mode_send_none(sock, args):
    sock.sendall(b"\0")
    verdict(sock, [], [])


def mode_send_file(sock, args):
    path, skip = args[0], int(args[1])
    fd = os.open(path, os.O_RDWR)
    check(len(os.read(fd, skip)) == skip, "%s is too short" % path)
    socket.send_fds(sock, [b"\0"], [fd])
    os.close(fd)
    verdict(sock, [], [])


def mode_send_tcp(sock, args):
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        client = socket.create_connection(lsock.getsockname()[:2])
        conn, _ = lsock.accept()
    with client:
        socket.send_fds(sock, [b"\0"], [conn.fileno()])
        conn.close()
        client.sendall(REQUEST)
        got = b""
        while True:
            data = client.recv(4096)
            if not data:
                break
            got += data
    check(got == RESPONSE, "response through the passed socket: %r" % (got,))


def wait_sent(sock, timeout=20.0):
    """Until the peer has read everything this socket sent (AF_UNIX charges
    queued data to the sender, TIOCOUTQ/SIOCOUTQ shows it)."""
    end = time.monotonic() + timeout
    while True:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
        if struct.unpack("i", buf)[0] == 0:
            return
        check(time.monotonic() < end, "the C side never read the first part")
        time.sleep(0.005)


def mode_send_late(sock, args):
    (r,), (w,) = make_pipes(1)
    sock.sendall(b"ab")
    wait_sent(sock)
    socket.send_fds(sock, [b"cd"], [r])
    os.close(r)
    verdict(sock, [w], [HELLO])


def mode_send_short(sock, args):
    (r,), (w,) = make_pipes(1)
    socket.send_fds(sock, [b"ab"], [r])
    os.close(r)
    sock.shutdown(socket.SHUT_WR)
    verdict(sock, [w], [HELLO])


def use_received(sock, fd):
    st = os.fstat(fd)
    write_all(fd, HELLO)
    os.close(fd)
    sock.sendall(b"ok %d %d\n" % (st.st_dev, st.st_ino))


def mode_recv(sock, args):
    # Room for more than was promised, so that extra bytes or fds show.
    msg, fds, flags, _ = socket.recv_fds(sock, 16, 16)
    try:
        check(not flags & socket.MSG_CTRUNC, "MSG_CTRUNC set")
        check(not flags & socket.MSG_TRUNC, "MSG_TRUNC set")
        check(msg == b"\0", "data is %r, not b'\\0'" % (msg,))
        check(len(fds) == 1, "%d fds came, not 1: %r" % (len(fds), fds))
    except Failed:
        for fd in fds:
            os.close(fd)
        raise
    use_received(sock, fds[0])


def mode_recv_raw(sock, args):
    msg, anc, flags, _ = sock.recvmsg(16, socket.CMSG_SPACE(16 * 4))
    fds = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += struct.unpack("%di" % (len(data) // 4), data[:len(data) - len(data) % 4])
    try:
        check(not flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC), "flags 0x%x" % flags)
        check(msg == b"\0", "data is %r, not b'\\0'" % (msg,))
        check(len(anc) == 1, "%d control messages, not 1" % len(anc))
        level, kind, data = anc[0]
        check((level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS),
              "control message level %d type %d" % (level, kind))
        check(len(data) == 4,
              "SCM_RIGHTS data is %d bytes, not one int: cmsg_len is not "
              "CMSG_LEN(sizeof(int))" % len(data))
        check(len(fds) == 1 and fds[0] >= 0, "fds %r" % (fds,))
    except Failed:
        for fd in fds:
            if fd >= 0:
                os.close(fd)
        raise
    use_received(sock, fds[0])


def mode_recv_many(sock, args):
    n, size = int(args[0]), int(args[1])
    msg, fds, flags, _ = socket.recv_fds(sock, size, n + 8)
    try:
        check(not flags & socket.MSG_CTRUNC, "MSG_CTRUNC set")
        check(len(fds) == n, "%d fds came, not %d" % (len(fds), n))
        check(msg, "end of stream")
        if len(msg) < size:
            check(sock.type == socket.SOCK_STREAM,
                  "packet of %d bytes, not %d" % (len(msg), size))
            msg += recv_exact(sock, size - len(msg))
        check(msg == payload(n, size), "payload differs")
        for i, fd in enumerate(fds):
            check(os.fstat(fd).st_mode & 0o170000 == 0o010000, "fd %d is not a pipe" % i)
    except Failed:
        for fd in fds:
            os.close(fd)
        raise
    for i, fd in enumerate(fds):
        write_all(fd, b"fd %d\n" % i)
        os.close(fd)


def mode_eof(sock, args):
    pass


MODES = {
    "send": mode_send,
    "send-many": mode_send_many,
    "send-none": mode_send_none,
    "send-file": mode_send_file,
    "send-tcp": mode_send_tcp,
    "send-late": mode_send_late,
    "send-short": mode_send_short,
    "recv": mode_recv,
    "recv-raw": mode_recv_raw,
    "recv-many": mode_recv_many,
    "eof": mode_eof,
}


def main(argv):
    if len(argv) < 3 or argv[1] not in MODES:
        print("usage: pypeer.py MODE SOCKFD [ARGS...]; modes: %s"
              % ", ".join(MODES), file=sys.stderr)
        return 2
    if sys.version_info < (3, 9):
        print("pypeer.py: Python 3.9 or newer is needed (socket.send_fds)",
              file=sys.stderr)
        return 2
    # Never hang a test run: a peer stuck waiting dies by SIGALRM.
    signal.alarm(60)
    mode = argv[1]
    try:
        sock = socket.socket(fileno=int(argv[2]))
    except OSError as e:
        print("pypeer %s: fd %s is not a socket: %s" % (mode, argv[2], e), file=sys.stderr)
        return 1
    try:
        with sock:
            check(sock.family == socket.AF_UNIX, "not an AF_UNIX socket")
            MODES[mode](sock, argv[3:])
    except (Failed, OSError) as e:
        print("pypeer %s: FAILED: %s" % (mode, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
