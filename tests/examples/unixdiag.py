#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Which sockets listen on the socket file at a path.

/proc/net/unix lists each socket by the name it was bound with, which is not
the path clients connect to when the file was moved there afterwards, as
fdpass_listen does (it binds in a private directory, then moves the file
into place). The kernel's sock_diag interface (what `ss -xe` shows as
"ino:") gives, for each socket, the device and inode of the file it is bound
to: those are compared with the file at the path.

Usage: unixdiag.py PATH [PID]
Exits 0 if a listening socket (one of process PID's, if given) is bound to
the socket file at PATH (or to the abstract name PATH, "@name", looked up in
/proc/net/unix), 1 otherwise.
"""

import os
import socket
import stat
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
UDIAG_SHOW_VFS = 0x2
UNIX_DIAG_VFS = 1
TCP_LISTEN = 10


def _listeners():
    """(socket inode, file device, file inode) of every listening unix socket."""
    req = struct.pack('=BBHIII8x', socket.AF_UNIX, 0, 0, 1 << TCP_LISTEN, 0, UDIAG_SHOW_VFS)
    hdr = struct.pack('=IHHII', 16 + len(req), SOCK_DIAG_BY_FAMILY,
                      NLM_F_REQUEST | NLM_F_DUMP, 1, 0)
    found = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as s:
        s.sendall(hdr + req)
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + 16 <= len(data):
                length, kind = struct.unpack_from('=IH', data, off)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR or length < 16:
                    raise OSError('sock_diag: the kernel refused the request')
                ino, = struct.unpack_from('=I', data, off + 16 + 4)
                attr = off + 16 + 16
                while attr + 4 <= off + length:
                    alen, atype = struct.unpack_from('=HH', data, attr)
                    if alen < 4:
                        break
                    if atype == UNIX_DIAG_VFS:
                        vino, vdev = struct.unpack_from('=II', data, attr + 4)
                        found.append((ino, vdev, vino))
                    attr += (alen + 3) & ~3
                off += (length + 3) & ~3


def socket_inodes(pid):
    """Inodes of the sockets process pid holds."""
    inodes = set()
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            if link.startswith('socket:['):
                inodes.add(int(link[8:-1]))
    except OSError:
        pass
    return inodes


def _abstract_listeners(name):
    """Inodes of the listening sockets bound to the abstract name "@..."."""
    found = []
    with open('/proc/net/unix') as f:
        next(f)
        for line in f:
            fields = line.split(None, 7)
            if len(fields) == 8 and fields[7].rstrip('\n') == name \
                    and int(fields[3], 16) & 0x10000:
                found.append(int(fields[6]))
    return found


def listens(path, pid=None):
    """True if a listening socket (of process pid, if given) is bound to
    the file at path, or to the abstract name path ("@name")."""
    mine = socket_inodes(pid) if pid is not None else None
    if path.startswith('@'):
        return any(mine is None or ino in mine for ino in _abstract_listeners(path))
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISSOCK(st.st_mode):
        return False
    # The kernel's dev_t (major << 20 | minor), or the one stat() gives.
    devs = {st.st_dev, os.major(st.st_dev) << 20 | os.minor(st.st_dev)}
    return any(vino == st.st_ino and vdev in devs and (mine is None or ino in mine)
               for ino, vdev, vino in _listeners())


if __name__ == '__main__':
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(0 if listens(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else None) else 1)
