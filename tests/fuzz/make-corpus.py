#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpora of the fuzz targets: corpus/<target>/<name>.

Run from anywhere: python3 tests/fuzz/make-corpus.py. The files are
committed; rerun this after changing it (it replaces the directories).

meta-recv inputs: byte 0 chooses the fds and options (see fuzz-meta-recv.c:
bits 0-1 fd count, bit 2 max_payload 64, bit 3 room for 1 fd, bits 4-7 the
stream byte the fds go with, times 3), the rest is what the peer sends.
url-path inputs: byte 0 is the small buffer's size, the rest the URL.
response inputs: options, status, then operations building the response
(see fuzz-response.c). http-head inputs: byte 0 the bound, byte 1 where the
request is cut in two, the rest the request (see fuzz-http-head.c).
recv-fds inputs: a 5-byte header choosing the socket type, receive call,
credentials, waiting, room and limits, then sendmsg() calls with their fds
(see fuzz-recv-fds.c).
backend inputs: a configuration byte, then operations on four front-ends
and the receive calls (see fuzz-backend.c).
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


# ---- response -------------------------------------------------------------

def rstr(data, rep=0):
    """A string of fuzz-response: length, repeat count, bytes."""
    assert len(data) < 256 and rep < 256
    return bytes([len(data), rep]) + data


def r_add(name, value, how=0, known=None, text=False, vrep=0):
    op = 0 | how << 2 | (0x20 if text else 0)
    if how == 2:
        return bytes([op, known]) + rstr(value, vrep)
    return bytes([op]) + rstr(name) + rstr(value, vrep)


def r_status(status, reason=None, text=False, rep=0):
    op = 1 | (0x10 if reason is None else 0) | (0x20 if text else 0)
    out = bytes([op]) + struct.pack(">H", status)
    return out if reason is None else out + rstr(reason, rep)


def r_body(data, rep=0):
    return bytes([2]) + rstr(data, rep)


def resp(status, *ops, options=0):
    return bytes([options]) + struct.pack(">H", status) + b"".join(ops)


KNOWN_DATE, KNOWN_CONNECTION, KNOWN_CONNECTION_LC = 0, 1, 2

RESPONSE = {
    # accepted
    "ok-200": resp(200),
    "null-response": resp(200, options=0x0F),
    "null-response-provider-null": resp(200, options=0x1F),
    "provider-null": resp(204, r_add(b"X-A", b"1"), options=0x10),
    "typical": resp(201, r_add(b"Content-Type", b"text/plain; charset=utf-8"),
                    r_add(b"Location", b"/new?a=b:c"), r_body(b"hello\n")),
    "own-date": resp(200, r_add(b"", b"Sun, 06 Nov 1994 08:49:37 GMT", how=2,
                                known=KNOWN_DATE)),
    "tab-obs-text": resp(200, r_add(b"X-T", b"\ta b\t\x80\xff"),
                         r_status(299, b"Caf\xe9 \t ok")),
    "value-empty": resp(200, r_add(b"X-Empty", b"")),
    "value-nul-cut": resp(200, r_add(b"X-N", b"a\0\r\nInjected: 1")),
    "name-all-tchars": resp(200, r_add(b"!#$%&'*+-.^_`|~09AZaz", b"v")),
    "mapped": resp(200, r_add(b"\x00\x01\x7f\xff", b"\x00\x0d\x0a\x80\xf0", how=1,
                              text=True)),
    "reason-custom": resp(200, r_status(404, b"Nicht gefunden")),
    "reason-null-standard": resp(200, r_status(503)),
    "reason-empty": resp(200, r_status(200, b"")),
    "unknown-status": resp(299),
    "status-100-599": resp(100, r_status(599)),
    "reason-1024": resp(200, r_status(200, b"r" * 128, rep=7)),
    "100-fields": resp(200, *[r_add(b"X-%d" % i, b"v") for i in range(100)]),
    "head-near-64k": resp(200, r_add(b"X", b"v" * 255, vrep=255),
                          r_add(b"Y", b"w" * 200)),
    "body-looks-like-head": resp(200, r_body(b"\r\n\r\nHTTP/1.1 200 OK\r\nX: \0y\r\n\r\n")),
    "body-removed": resp(200, r_body(b"gone"), r_body(b"")),
    "body-large": resp(200, r_body(b"0123456789abcdef" * 15, rep=200)),
    # refused by the builder
    "value-crlf": resp(200, r_add(b"X", b"a\r\nSet-Cookie: x=1")),
    "value-lf": resp(200, r_add(b"X", b"a\nb")),
    "value-cr": resp(200, r_add(b"X", b"a\rb")),
    "value-del": resp(200, r_add(b"X", b"a\x7fb")),
    "value-ctl": resp(200, r_add(b"X", b"a\x01b")),
    "name-colon": resp(200, r_add(b"X:Y", b"v")),
    "name-space": resp(200, r_add(b"X Y", b"v")),
    "name-empty": resp(200, r_add(b"", b"v")),
    "name-crlf": resp(200, r_add(b"X\r\nY", b"v")),
    "name-obs-text": resp(200, r_add(b"X\xe9", b"v")),
    "reason-crlf": resp(200, r_status(200, b"OK\r\nX: y")),
    "reason-1025": resp(200, r_status(200, b"r" * 205, rep=4)),
    "status-99": resp(99),
    "status-600": resp(600, r_add(b"X", b"v")),
    "set-status-600": resp(200, r_status(600, b"x")),
    "101-fields": resp(200, *[r_add(b"X-%d" % i, b"v") for i in range(101)]),
    "head-over-64k": resp(200, r_add(b"X", b"v" * 255, vrep=255),
                          r_add(b"Y", b"w" * 250)),
    "reason-over-64k": resp(200, r_add(b"X", b"v" * 255, vrep=255),
                            r_status(200, b"r" * 250)),
    # refused by "flush": nothing written
    "connection": resp(200, r_add(b"", b"keep-alive", how=2, known=KNOWN_CONNECTION)),
    "connection-lowercase": resp(200, r_add(b"X", b"1"),
                                 r_add(b"", b"close", how=2, known=KNOWN_CONNECTION_LC),
                                 r_body(b"x")),
}


# ---- http-head ------------------------------------------------------------

MAX_DEFAULT, MAX_16, MAX_64, MAX_512 = 0, 1, 2, 3


def head(request, max_sel=MAX_DEFAULT, cut=128):
    return bytes([max_sel, cut]) + request


GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"

HTTP_HEAD = {
    "get-crlf": head(GET),
    "get-lf": head(b"GET /a/b HTTP/1.0\nHost: x\n\n"),
    "get-mixed-endings": head(b"GET / HTTP/1.1\r\nA: 1\nB: 2\r\n\n"),
    "post-content-length": head(b"POST /up?x=1 HTTP/1.1\r\nHost: a\r\n"
                                b"content-length:  5 \t\r\n\r\nhello", cut=40),
    "content-length-15-digits": head(b"PUT / HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n"),
    "content-length-16-digits": head(b"PUT / HTTP/1.1\r\nContent-Length: 1000000000000000\r\n\r\n"),
    "content-length-bad": head(b"PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"),
    "content-length-empty": head(b"PUT / HTTP/1.1\r\nContent-Length:\r\n\r\n"),
    "content-length-twice": head(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\n"
                                 b"Content-Length: 10\r\n\r\nhelloworld"),
    "transfer-encoding": head(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                              b"Content-Length: 3\r\n\r\n"),
    "absolute-form": head(b"GET http://example.com:8080/a/b?q=1 HTTP/1.1\r\n\r\n"),
    # an empty path is "/"; the authority ends at '/', '?' or '#' (RFC 3986)
    "absolute-no-path": head(b"GET http://example.com HTTP/1.1\r\n\r\n"),
    "absolute-query-in-authority": head(b"GET http://h?x/admin HTTP/1.1\r\n\r\n"),
    "absolute-fragment-in-authority": head(b"GET http://h#x/admin HTTP/1.1\r\n\r\n"),
    "absolute-no-scheme-slashes": head(b"GET http:/x HTTP/1.1\r\n\r\n"),
    "asterisk": head(b"OPTIONS * HTTP/1.1\r\n\r\n"),
    "asterisk-query": head(b"OPTIONS *?x HTTP/1.1\r\n\r\n"),
    "origin-query": head(b"GET /p?q/r HTTP/1.1\r\n\r\n"),
    "field-trim": head(b"GET / HTTP/1.1\r\nX:  \t v w \t \r\nx: second\r\n\r\n"),
    "field-obs-text": head(b"GET / HTTP/1.1\r\nX: \x80\xff\r\n\r\n"),
    "pipelined": head(GET + GET, cut=200),
    "incomplete": head(b"GET / HTTP/1.1\r\nHost: a\r\n"),
    "incomplete-cr": head(b"GET / HTTP/1.1\r\nHost: a\r\n\r"),
    "cut-at-0": head(GET, cut=0),
    "cut-at-end": head(GET, cut=255),
    "malformed-space-before-colon": head(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    "malformed-obs-fold": head(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"),
    "malformed-bare-cr": head(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"),
    "malformed-double-cr": head(b"GET / HTTP/1.1\r\nX: a\r\r\n\r\n"),
    "malformed-nul-target": head(b"GET /\0 HTTP/1.1\r\n\r\n"),
    "malformed-http2": head(b"GET / HTTP/2.0\r\n\r\n"),
    "malformed-two-spaces": head(b"GET  / HTTP/1.1\r\n\r\n"),
    "malformed-empty-first-line": head(b"\r\nGET / HTTP/1.1\r\n\r\n"),
    "malformed-no-name": head(b"GET / HTTP/1.1\r\n: v\r\n\r\n"),
    "too-large-16": head(GET, max_sel=MAX_16),
    "exact-64": head(b"GET / HTTP/1.1\r\nX: " + b"a" * 43 + b"\r\n\r\n", max_sel=MAX_64),
    "one-over-64": head(b"GET / HTTP/1.1\r\nX: " + b"a" * 44 + b"\r\n\r\n", max_sel=MAX_64),
    "too-large-512-no-lf": head(b"GET /" + b"a" * 600, max_sel=MAX_512),
    "exact-8192": head(b"GET / HTTP/1.1\r\nX: " + b"a" * 8171 + b"\r\n\r\n"),
    "too-large-8192": head(b"GET / HTTP/1.1\r\nX: " + b"a" * 8172 + b"\r\n\r\n"),
    "many-fields": head(b"GET / HTTP/1.1\r\n" +
                        b"".join(b"F%d: %d\r\n" % (i, i) for i in range(40)) + b"\r\n"),
}


# ---- recv-fds -------------------------------------------------------------

RECV, RECV_FDS, RECV_META, MIX = 0, 1, 2, 3
NO_CRED, PASSCRED_BEFORE, PASSCRED_AFTER, PASSPIDFD = 0, 1, 2, 3
TIMEOUT_0, NONBLOCK, BLOCKING, TIMEOUT_100 = 0, 1, 2, 3
(PIPE_R, PIPE_W, STREAM_A, STREAM_B, PACKET, DEVNULL, MEMFD, TMPFILE, EVENTFD, OPATH,
 EPOLL, SELF) = range(12)
ALL_KINDS = list(range(12))


def cfg(call, seqpacket=False, cred=NO_CRED, wait=TIMEOUT_0, low_limit=False, room=4,
        length=1, waitall=False, headroom=0, payload=0, mix=0):
    assert 0 <= room < 256 and 1 <= length <= 128 and headroom < 16
    return bytes([int(seqpacket) | call << 1 | cred << 3 | wait << 5 | int(low_limit) << 7,
                  room, (length - 1) | (0x80 if waitall else 0), headroom | payload << 4, mix])


def snd(data, kinds=(), nfds=None):
    """One sendmsg(): nfds fds (default len(kinds)), of the kinds in turn."""
    nfds = len(kinds) if nfds is None else nfds
    kinds = list(kinds)[:4] or [0]
    out = bytes([len(kinds) - 1, nfds])
    if nfds:
        out += bytes(kinds)
    return out + struct.pack(">H", len(data)) + data


PLAIN = b"\0"
META_EXAMPLE = EXAMPLE  # fds: 1

RECV_FDS = {
    # fdpass_recv: httpd's messages
    "recv-plain-3": cfg(RECV) + snd(PLAIN, [PIPE_R]) + snd(PLAIN, [STREAM_A]) +
                    snd(PLAIN, [MEMFD]),
    "recv-plain-seqpacket": cfg(RECV, seqpacket=True) + snd(PLAIN, [DEVNULL]) +
                            snd(PLAIN, [EVENTFD]),
    "recv-plain-self": cfg(RECV) + snd(PLAIN, [SELF]) + snd(PLAIN, [OPATH]),
    "recv-2-fds": cfg(RECV) + snd(PLAIN, [PIPE_R, PIPE_W]),
    "recv-no-fd": cfg(RECV) + snd(PLAIN),
    "recv-byte-x": cfg(RECV) + snd(b"x", [TMPFILE]),
    "recv-packet-2-bytes": cfg(RECV, seqpacket=True) + snd(b"\0\0", [PIPE_W]),
    "recv-empty-packet-fds": cfg(RECV, seqpacket=True) + snd(b"", [PIPE_R, EPOLL]),
    "recv-253-fds": cfg(RECV) + snd(PLAIN, ALL_KINDS[:4], nfds=253),
    "recv-passcred": cfg(RECV, cred=PASSCRED_BEFORE) + snd(PLAIN, [PIPE_R]),
    "recv-passcred-after": cfg(RECV, cred=PASSCRED_AFTER, seqpacket=True) +
                           snd(PLAIN, [PIPE_R]),
    "recv-passpidfd": cfg(RECV, cred=PASSPIDFD) + snd(PLAIN, [PIPE_R]),
    "recv-fd-limit": cfg(RECV, low_limit=True, headroom=0) + snd(PLAIN, [DEVNULL]),
    # fdpass_recv_fds
    "fds-one-message": cfg(RECV_FDS, room=8, length=4) + snd(b"abcd", [PIPE_R, SELF, PACKET]),
    "fds-room-0": cfg(RECV_FDS, room=0, length=4) + snd(b"abcd", [PIPE_R]),
    "fds-room-255": cfg(RECV_FDS, room=255, length=8, seqpacket=True) +
                    snd(b"x" * 8, ALL_KINDS[:4], nfds=253) + snd(b"y", [SELF]),
    "fds-253-room-10": cfg(RECV_FDS, room=10, length=1) + snd(b"z", ALL_KINDS[4:8], nfds=253),
    "fds-waitall": cfg(RECV_FDS, room=4, length=8, waitall=True) + snd(b"abcd", [MEMFD]) +
                   snd(b"efgh") + snd(b"ijklmnop", [EVENTFD]),
    "fds-waitall-fds-mid": cfg(RECV_FDS, room=4, length=8, waitall=True, wait=BLOCKING) +
                           snd(b"abcd", [MEMFD]) + snd(b"efgh", [PIPE_W]),
    "fds-waitall-cut": cfg(RECV_FDS, room=4, length=16, waitall=True, wait=TIMEOUT_100) +
                       snd(b"abcd", [MEMFD]),
    "fds-packet-too-long": cfg(RECV_FDS, seqpacket=True, room=4, length=2) +
                           snd(b"abc", [STREAM_B, STREAM_A]),
    "fds-packets": cfg(RECV_FDS, seqpacket=True, room=2, length=16, wait=NONBLOCK) +
                   snd(b"one", [PIPE_R]) + snd(b"", [PIPE_W]) + snd(b"three", [DEVNULL, OPATH]) +
                   snd(b"four", [EPOLL, PIPE_R, PIPE_W]),
    "fds-passcred": cfg(RECV_FDS, cred=PASSCRED_BEFORE, room=4, length=4) +
                    snd(b"ab", [PIPE_R]),
    "fds-passpidfd-packet": cfg(RECV_FDS, seqpacket=True, cred=PASSPIDFD, room=4, length=4) +
                            snd(b"ab", [PIPE_R]),
    "fds-limit-ctrunc": cfg(RECV_FDS, low_limit=True, headroom=3, room=64, length=4) +
                        snd(b"abcd", ALL_KINDS[:4], nfds=40),
    "fds-limit-ctrunc-packet": cfg(RECV_FDS, seqpacket=True, low_limit=True, headroom=1,
                                   room=8, length=4) + snd(b"ab", [SELF, PIPE_R, MEMFD]),
    # fdpass_recv_meta
    "meta-example": cfg(RECV_META, room=4) + snd(META_EXAMPLE, [STREAM_A]),
    "meta-example-packet": cfg(RECV_META, seqpacket=True, room=4) + snd(META_EXAMPLE, [SELF]),
    "meta-split": cfg(RECV_META, room=4, wait=BLOCKING) + snd(META_EXAMPLE[:1], [PIPE_R]) +
                  snd(META_EXAMPLE[1:20]) + snd(META_EXAMPLE[20:]),
    "meta-fds-late": cfg(RECV_META, room=4) + snd(META_EXAMPLE[:5], [PIPE_R]) +
                     snd(META_EXAMPLE[5:], [PIPE_W]),
    "meta-0-fds": cfg(RECV_META, room=0) + snd(message(0, [pair(b"k", b"v")])),
    "meta-full-2-fds": cfg(RECV_META, room=2, seqpacket=True) + snd(FULL, [MEMFD, TMPFILE]),
    "meta-253-fds": cfg(RECV_META, room=255) + snd(message(253, [record(1, b"x")]),
                                                ALL_KINDS, nfds=253),
    "meta-then-plain": cfg(RECV_META, room=4) + snd(META_EXAMPLE, [PIPE_R]) +
                       snd(PLAIN, [PIPE_W]) + snd(PLAIN),
    "meta-small-payload": cfg(RECV_META, room=4, payload=2) + snd(META_EXAMPLE, [PIPE_R]),
    "meta-passcred": cfg(RECV_META, room=4, cred=PASSCRED_BEFORE) + snd(META_EXAMPLE, [PIPE_R]),
    "meta-limit": cfg(RECV_META, room=8, low_limit=True, headroom=1) +
                  snd(message(3, []), [PIPE_R, PIPE_W, SELF]),
    # a mix of the three on one stream
    "mix": cfg(MIX, room=4, length=1, mix=0b10010010) + snd(PLAIN, [PIPE_R]) +
           snd(b"a", [PIPE_W]) + snd(META_EXAMPLE, [MEMFD]) + snd(PLAIN, [SELF]),
}


# ---- backend --------------------------------------------------------------

SEQ, MAXFDS2, MAXFDS4, SMALL, MSG_1MS, IDLE_1MS, REFUSE, MAXCONN2 = 1, 2, 6, 8, 16, 32, 64, 128
CONNECT, SEND, MESSAGE, CLOSE, SHUT, RECV_ONE, DRAIN, POLL = range(8)


def op(what, fe=0, arg=0):
    return bytes([what | fe << 3 | arg << 5])


def send(fe, data, nfds=0):
    return op(SEND, fe, nfds) + bytes([len(data)]) + data


def bmsg(fe, plain=False, nfds=1, data=b""):
    return op(MESSAGE, fe, 1 if plain else nfds << 1) + bytes([len(data)]) + data


def split(fe, data, nfds, at):
    """data in pieces cut at the offsets given, the fds with the first."""
    out, last = b"", 0
    for i, cut in enumerate(list(at) + [len(data)]):
        out += send(fe, data[last:cut], nfds if i == 0 else 0)
        last = cut
    return out


BACKEND = {
    "plain-one": bytes([0]) + op(CONNECT) + bmsg(0, plain=True) + op(RECV_ONE),
    "meta-both-calls": bytes([0]) + op(CONNECT) + bmsg(0, data=REQUEST) +
                       op(RECV_ONE, 0, 0) + bmsg(0, data=REQUEST) + op(RECV_ONE, 0, 1),
    "four-frontends": bytes([MAXFDS4]) + b"".join(op(CONNECT, k) for k in range(4)) +
                      b"".join(bmsg(k, nfds=k) for k in range(4)) + op(DRAIN, 0, 3),
    "split-example": bytes([0]) + op(CONNECT) + op(CONNECT, 1) +
                     split(0, EXAMPLE, 1, [1, 9, 16, 30]) + bmsg(1, plain=True) +
                     op(RECV_ONE, 0, 1) + op(RECV_ONE, 0, 1) + op(DRAIN, 0, 1),
    "interleaved": bytes([MAXFDS2]) + op(CONNECT) + op(CONNECT, 1) +
                   send(0, EXAMPLE[:10], 1) + send(1, FULL[:5], 2) + op(RECV_ONE, 0, 3) +
                   send(0, EXAMPLE[10:]) + send(1, FULL[5:]) + op(DRAIN, 0, 3),
    "half-and-hangup": bytes([0]) + op(CONNECT) + send(0, EXAMPLE[:7], 1) +
                       op(RECV_ONE) + op(CLOSE) + op(DRAIN),
    "half-shutdown": bytes([0]) + op(CONNECT) + send(0, EXAMPLE[:20], 1) + op(SHUT) +
                     op(DRAIN, 0, 1),
    "deadline": bytes([MSG_1MS]) + op(CONNECT) + send(0, b"F", 1) + op(RECV_ONE) +
                op(POLL) + op(DRAIN),
    "idle": bytes([IDLE_1MS]) + op(CONNECT) + op(RECV_ONE) + op(POLL) + op(CONNECT, 1) +
            bmsg(1, plain=True) + op(DRAIN),
    "refused": bytes([REFUSE]) + op(CONNECT) + bmsg(0, plain=True) + op(CONNECT, 1) +
               op(DRAIN),
    "max-connections": bytes([MAXCONN2]) + op(CONNECT) + op(CONNECT, 1) + op(RECV_ONE) +
                       op(CONNECT, 2) + bmsg(2, plain=True) + op(DRAIN) + send(0, b"FD") +
                       send(1, b"F") + op(CONNECT, 3) + bmsg(3) + op(DRAIN),
    "too-big": bytes([SMALL]) + op(CONNECT) + bmsg(0, data=b"x" * 100) + op(DRAIN),
    "too-many-fds": bytes([0]) + op(CONNECT) + bmsg(0, nfds=3) + op(RECV_ONE, 0, 3),
    "bad-bytes": bytes([0]) + op(CONNECT) + send(0, b"x", 1) + op(CONNECT, 1) +
                 send(1, b"\0\0", 1) + op(CONNECT, 2) + send(2, b"\0") + op(DRAIN),
    "seqpacket": bytes([SEQ | MAXFDS2]) + op(CONNECT) + bmsg(0, plain=True) +
                 send(0, EXAMPLE, 1) + send(0, EXAMPLE[:10], 1) + bmsg(0, nfds=2) +
                 op(DRAIN, 0, 3),
}


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
    write("response", RESPONSE)
    write("http-head", HTTP_HEAD)
    write("recv-fds", RECV_FDS)
    write("backend", BACKEND)


if __name__ == "__main__":
    main()
