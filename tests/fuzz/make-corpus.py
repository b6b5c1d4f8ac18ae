#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets: corpus/<target>/<name>.

Run from anywhere: python3 tests/fuzz/make-corpus.py. The files are
committed; rerun this after changing it (it replaces the directories).

meta-recv inputs: byte 0 chooses the fds and options (see fuzz-meta-recv.c:
bits 0-1 fd count, bit 2 max_payload 64, bit 3 room for 1 fd, bits 4-7 the
stream byte the fds go with, times 3), the rest is what the peer sends.
url-path inputs: byte 0 is the small buffer's size, the rest the URL.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def header(nfds, length, version=1, magic=b"FDPM", flags=0, reserved=0):
    return magic + struct.pack(">BBHII", version, flags, nfds, length, reserved)


def record(rtype, value):
    return struct.pack(">HI", rtype, len(value)) + value


def pair(key, value):
    return record(5, key + b"\0" + value)


def message(nfds, records, **kw):
    payload = b"".join(records)
    return header(nfds, len(payload), **kw) + payload


def ctl(nfds, small_max=False, room1=False, fdpos=0):
    assert fdpos % 3 == 0 and fdpos // 3 < 16
    return bytes([nfds | (4 if small_max else 0) | (8 if room1 else 0) | (fdpos // 3) << 4])


REQUEST = b"GET / HTTP/1.1\r\n\r\n"
EXAMPLE = message(1, [record(1, REQUEST), record(2, b"127.0.0.1:5555")])
assert EXAMPLE.hex() == (
    "4644504d01000001" "0000002c00000000"
    "000100000012" + REQUEST.hex() + "00020000000e" + b"127.0.0.1:5555".hex())

FULL = message(2, [
    record(1, b"POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b"),
    record(2, b"[2001:db8::7]:51234"),
    record(3, b"192.0.2.1:443"),
    record(4, b"flush"),
    pair(b"route", b"app"),
    pair(b"X-Tenant_1.a", b"t=1 2"),
    pair(b"route", b""),
])

META_RECV = {
    # valid, both forms
    "protocol-example": ctl(1) + EXAMPLE,
    "plain-httpd": ctl(1) + b"\0",
    "full-2fds": ctl(2) + FULL,
    "empty-payload-0fds": ctl(0) + message(0, []),
    "empty-data": ctl(1) + message(1, [record(1, b"")]),
    "unknown-types": ctl(1) + message(1, [record(0, b"zero"), record(6, b"six\0"),
                                          record(1, b"data"), record(0xFFFF, b"")]),
    "flags-reserved-set": ctl(1) + message(1, [record(4, b"none")], flags=0xA5,
                                           reserved=0xDEADBEEF),
    "64-pairs": ctl(1) + message(1, [pair(b"k%d" % i, b"v") for i in range(64)]),
    "key-255": ctl(0) + message(0, [pair(b"K" * 255, b"v")]),
    "text-4096": ctl(1) + message(1, [record(2, b"a" * 4096)]),
    # several messages in one input: read in turn on the stream
    "meta-plain-meta": ctl(1) + EXAMPLE + b"\0" + message(0, [pair(b"k", b"v")]),
    "plain-then-meta": ctl(1) + b"\0" + EXAMPLE,
    # malformed
    "plain-no-fd": ctl(0) + b"\0",
    "plain-2fds": ctl(2) + b"\0",
    "plain-2-bytes": ctl(1) + b"\0\0",
    "room-1-2fds": ctl(2, room1=True) + message(2, [record(1, b"x")]),
    "header-cut-9": ctl(1) + EXAMPLE[:9],
    "payload-cut-30": ctl(1) + EXAMPLE[:30],
    "magic-fdpx": ctl(1) + EXAMPLE[:3] + b"X" + EXAMPLE[4:],
    "first-byte-G": ctl(1) + REQUEST,
    "version-2": ctl(1) + EXAMPLE[:4] + b"\2" + EXAMPLE[5:],
    "nfds-mismatch": ctl(2) + EXAMPLE,
    "length-ffffffff": ctl(1) + header(1, 0xFFFFFFFF),
    "length-over-small-max": ctl(1, small_max=True) + message(1, [record(1, b"x" * 60)]),
    "record-past-end": ctl(1) + header(1, 10) + struct.pack(">HI", 1, 5) + b"1234",
    "record-head-cut": ctl(0) + header(0, 3) + b"\0\1\0",
    "text-nul": ctl(1) + message(1, [record(2, b"127.0.0.1\0:5555")]),
    "text-4097": ctl(1) + message(1, [record(3, b"a" * 4097)]),
    "dup-data": ctl(1) + message(1, [record(1, b"a"), record(1, b"b")]),
    "dup-flusher": ctl(1) + message(1, [record(4, b"a"), record(4, b"b")]),
    "pair-no-nul": ctl(1) + message(1, [record(5, b"key=value")]),
    "pair-empty-key": ctl(1) + message(1, [record(5, b"\0value")]),
    "pair-bad-key": ctl(1) + message(1, [pair(b"a=b c", b"v")]),
    "pair-value-nul": ctl(1) + message(1, [record(5, b"k\0v\0w")]),
    "65-pairs": ctl(1) + message(1, [pair(b"k", b"v") for _ in range(65)]),
    # fds with a later byte of a stream
    "fds-header-byte-3": ctl(1, fdpos=3) + EXAMPLE,
    "fds-payload-byte-30": ctl(2, fdpos=30) + message(2, [record(1, REQUEST)]),
}

URLS = [
    (64, b"fd:///run/app.sock"),
    (8, b"fd:///run/app.sock"),
    (19, b"fd:///run/app.sock"),
    (18, b"fd:///run/app.sock"),
    (0, b"fd:///x"),
    (64, b"fd://localhost/app.sock"),
    (64, b"fd://@name"),
    (64, b"FD://%2Frun%2fapp%20sock"),
    (4, b"fd://%41%42%43%44"),
    (64, b"fd://a%00b"),
    (2, b"fd://abc%0"),
    (64, b"fd://a%4"),
    (64, b"fd://a%"),
    (64, b"fd://a%g1"),
    (64, b"fd://x?query"),
    (64, b"fd://x#frag"),
    (64, b"fd://%3F%23"),
    (64, b"fd://"),
    (64, b"fd:/x"),
    (64, b"http://x/y"),
    (255, b"fd:///" + b"p" * 300),
    (64, b"fd://\xff\xfe%ff"),
]


def write(target, files):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    write("meta-recv", META_RECV)
    write("url-path", {"%02d" % i: bytes([size]) + url for i, (size, url) in enumerate(URLS)})


if __name__ == "__main__":
    main()
