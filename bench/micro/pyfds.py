# SPDX-License-Identifier: MIT
"""Python's socket.send_fds / socket.recv_fds as an independent peer for
fdpass-bench: the same sender/receiver loop as the C cases, standard
library only (Python 3.9+), never libfdpass.

    pyfds.py [--verify] --case TYPE:CPU:NFDS:MESSAGES [--case ...]

TYPE is stream or seqpacket, CPU the CPU to pin both processes to (-1: not
pinned), NFDS the fds per message (1 to 253). For each case in turn: a
socketpair, then fork; the child receives MESSAGES messages of one b'\\0'
byte with NFDS fds each (recv_fds, checking MSG_CTRUNC and the counts,
closing every fd), the parent sends them (send_fds on a blocking socket,
never a poll). The clock starts once the child is ready and stops when the
child has reported its count back over the socket. --verify also checks
with fstat that every fd received is the socket that was sent (slower: for
the smoke run only).

Prints exactly one line per case on stdout, in order, which fdpass-bench
parses:

    pyfds messages=M fds=F bad=B wall=SECONDS sender_cpu=SECONDS receiver_cpu=SECONDS

(CPU = user + system time: the sender's from getrusage over its loop, the
receiver's from wait4). If this Python has no socket.send_fds it prints
"pyfds unavailable: REASON" and exits 3; other failures exit 1.
"""

import argparse
import os
import resource
import socket
import struct
import sys
import time

RESULT = struct.Struct("<QQQ")  # messages, fds, bad


def cpu(ru):
    return ru.ru_utime + ru.ru_stime


def recv_exact(sock, size):
    out = b""
    while len(out) < size:
        data = sock.recv(size - len(out))
        if not data:
            break
        out += data
    return out


def receiver(sock, nfds, messages, expect):
    recv_fds = socket.recv_fds
    close = os.close
    ctrunc = socket.MSG_CTRUNC
    got = bad = done = 0
    sock.send(b"R")
    for _ in range(messages):
        try:
            msg, fds, flags, _ = recv_fds(sock, 1, nfds)
        except OSError:
            bad += 1
            break
        if expect is not None:
            for fd in fds:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) != expect:
                    bad += 1
        for fd in fds:
            close(fd)
        got += len(fds)
        done += 1
        if msg != b"\0" or len(fds) != nfds or flags & ctrunc:
            bad += 1
            break
    sock.sendall(RESULT.pack(done, got, bad))


def parse_case(text):
    try:
        kind, cpu, nfds, messages = text.split(":")
        case = (
            {"stream": socket.SOCK_STREAM, "seqpacket": socket.SOCK_SEQPACKET}[kind],
            int(cpu), int(nfds), int(messages))
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError("not TYPE:CPU:NFDS:MESSAGES: %r" % text)
    if not 1 <= case[2] <= 253 or case[3] < 1:
        raise argparse.ArgumentTypeError("NFDS must be 1 to 253, MESSAGES positive")
    return case


def run_case(kind, cpu_nr, nfds, messages, verify, all_cpus):
    # The same kind of fd as the C cases pass: an (unconnected) TCP socket,
    # dup()ed so that every fd of a message is a distinct descriptor.
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fds = [tcp.fileno()] + [os.dup(tcp.fileno()) for _ in range(nfds - 1)]
    st = os.fstat(tcp.fileno())
    expect = (st.st_dev, st.st_ino) if verify else None

    os.sched_setaffinity(0, {cpu_nr} if cpu_nr >= 0 else all_cpus)
    a, b = socket.socketpair(socket.AF_UNIX, kind)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            a.close()
            receiver(b, nfds, messages, expect)
        except BaseException as e:  # report, never return into the parent's code
            print("pyfds receiver: %r" % (e,), file=sys.stderr)
            status = 1
        os._exit(status)
    b.close()

    if recv_exact(a, 1) != b"R":
        print("pyfds: the receiver did not start", file=sys.stderr)
        sys.exit(1)
    send_fds = socket.send_fds
    data = [b"\0"]
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    sent = 0
    try:
        for _ in range(messages):
            send_fds(a, data, fds)
            sent += 1
    except OSError as e:
        print("pyfds sender: %s after %d messages" % (e, sent), file=sys.stderr)
        a.shutdown(socket.SHUT_WR)
    res = recv_exact(a, RESULT.size)
    t1 = time.perf_counter()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    _, status, ruc = os.wait4(pid, 0)
    a.close()
    for fd in fds:
        os.close(fd)
    tcp.detach()
    os.sched_setaffinity(0, all_cpus)
    if len(res) != RESULT.size or status != 0:
        print("pyfds: the receiver failed (status %d)" % status, file=sys.stderr)
        sys.exit(1)
    done, got, bad = RESULT.unpack(res)
    if sent != messages:
        bad += 1
    print("pyfds messages=%d fds=%d bad=%d wall=%.9f sender_cpu=%.9f receiver_cpu=%.9f"
          % (done, got, bad, t1 - t0, cpu(ru1) - cpu(ru0), cpu(ruc)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", type=parse_case, action="append", required=True,
                    metavar="TYPE:CPU:NFDS:MESSAGES")
    ap.add_argument("--verify", action="store_true")
    args = ap.parse_args()

    if not hasattr(socket, "send_fds"):
        print("pyfds unavailable: Python %s has no socket.send_fds (3.9+ needed)"
              % sys.version.split()[0])
        sys.exit(3)
    all_cpus = os.sched_getaffinity(0)
    for kind, cpu_nr, nfds, messages in args.case:
        run_case(kind, cpu_nr, nfds, messages, args.verify, all_cpus)
    sys.exit(0)


if __name__ == "__main__":
    main()
