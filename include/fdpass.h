/* SPDX-License-Identifier: MIT */
/*
 * libfdpass: hand open file descriptors (above all, client sockets) from one
 * process to another over AF_UNIX sockets.
 *
 * Conventions, for every call below:
 *  - Errors are returned as a negative errno value (for example -EPIPE);
 *    errno itself is left as the last system call left it. The library never
 *    logs and never raises SIGPIPE.
 *  - Every file descriptor that the library receives is either handed to the
 *    caller or closed before the call returns: an error never leaks an fd.
 *  - Received fds and sockets the library creates are close-on-exec, set
 *    atomically where the system allows it (Linux: MSG_CMSG_CLOEXEC,
 *    SOCK_CLOEXEC).
 *  - EINTR is retried internally; a deadline, where there is one, is kept
 *    across retries.
 *  - Timeouts are in milliseconds: -1 waits as long as the socket's own mode
 *    says (forever on a blocking socket), 0 never waits, and a positive value
 *    waits at most that long, then fails with -ETIMEDOUT. The call is always
 *    tried first; poll() is used only after it would have blocked.
 *  - One rule for timeout 0 (and for a non-blocking socket with -1): what
 *    can be done at once is done, and a call that would have had to wait
 *    fails with -EAGAIN (or, for a call that returns a count, returns what
 *    it did). -ETIMEDOUT always means that a positive deadline passed. Two
 *    calls of libfdpass 1.1 keep their released behaviour and say
 *    -ETIMEDOUT for timeout 0 as well: fdpass_write_all() and
 *    fdpass_handoff()/fdpass_handoff_meta(). Their 1.2 successors,
 *    fdpass_write_all2() and fdpass_handoff2(), follow the rule.
 *  - A provider or flusher name that is not registered is -ENOENT from the
 *    registry's own calls (fdpass_flusher_run(), _lookup(), _unregister(),
 *    _pin()), and -ESRCH from the hand-off calls, where -ENOENT already
 *    means "no socket file at the backend's path".
 *
 * The full description of each call is in its man page, fdpass_send(3) and
 * so on; this header keeps the part that must be read before using it.
 */
#ifndef FDPASS_H
#define FDPASS_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define FDPASS_PUBLIC __attribute__((visibility("default")))
#else
#define FDPASS_PUBLIC
#endif

/* Version of the headers; fdpass_version() tells the library's at run time. */
#define FDPASS_VERSION_MAJOR 1
#define FDPASS_VERSION_MINOR 2
#define FDPASS_VERSION_MICRO 0

/* The most fds one message may carry (Linux's SCM_MAX_FD). */
#define FDPASS_MAX_FDS 253

/*
 * Flags for fdpass_send_fds(), fdpass_recv_fds(), fdpass_connect(),
 * fdpass_listen() and the calls built on them. Each call documents which
 * ones it takes; any other bit makes it fail with -EINVAL.
 *
 * FDPASS_NONBLOCK has two meanings, by the kind of call:
 *  - for a call that sends or receives (fdpass_send_fds(), fdpass_recv_fds(),
 *    fdpass_send_meta(), fdpass_recv_meta()): do not wait in this call,
 *    whatever timeout_ms and the socket's own mode say (as timeout 0);
 *    the socket is not changed;
 *  - for a call that makes a socket (fdpass_connect(), fdpass_listen(),
 *    fdpass_backend_new()): the new socket is made non-blocking (O_NONBLOCK)
 *    and stays so; how long the call itself waits is timeout_ms's business.
 */
#define FDPASS_NONBLOCK  0x01 /* do not wait, or: make the new socket non-blocking */
#define FDPASS_WAITALL   0x02 /* fdpass_recv_fds: read until the buffer is full */
#define FDPASS_SEQPACKET 0x04 /* connect/listen: SOCK_SEQPACKET, not SOCK_STREAM */

/*
 * fdpass_version - the version of the library in use, as "MAJOR.MINOR.MICRO".
 * Never NULL; the string is static.
 */
FDPASS_PUBLIC const char *fdpass_version(void);

/*
 * fdpass_strerror - a one-line description of an error returned by this
 * library, in the meaning libfdpass gives it (for example -EXFULL: "control
 * data truncated, file descriptors lost: is the receiver at its open-file
 * limit?"); for other errors the C library's description.
 * Takes the error positive or negative. Never NULL; the string is static.
 */
FDPASS_PUBLIC const char *fdpass_strerror(int err);

/*
 * fdpass_send - send one fd over a connected AF_UNIX socket, in Apache httpd
 * mod_proxy_fdpass's format: one data byte '\0' with one SCM_RIGHTS control
 * message holding the fd. The caller keeps its own copy of fd.
 *
 * The socket's own blocking mode applies: a full non-blocking socket gives
 * -EAGAIN and nothing is sent.
 *
 * Returns 0 on success, or a negative errno: -EBADF (fd or sock is not an
 * open descriptor), -ENOTSOCK, -EPIPE (peer gone), -EAGAIN, -ETOOMANYREFS
 * (too many fds in flight), or whatever sendmsg(2) reports.
 */
FDPASS_PUBLIC int fdpass_send(int sock, int fd);

/*
 * fdpass_recv - receive one fd sent by fdpass_send() or by httpd.
 *
 * Returns 1 with *fd set to the new descriptor (close-on-exec); 0 at orderly
 * end of stream, with *fd = -1; or a negative errno, with *fd = -1:
 *   -ENOMSG        the message carried no fd;
 *   -ETOOMANYREFS  it carried more than one fd (all were closed);
 *   -EXFULL        control data was truncated (MSG_CTRUNC): the kernel
 *                  dropped fds, usually because this process is at its
 *                  RLIMIT_NOFILE limit;
 *   -EPROTO        an unexpected control message came (SCM_CREDENTIALS, ...);
 *   -EBADMSG       the data byte was not '\0' (the stream is out of step),
 *                  or an empty packet carried the fd;
 *   -EMSGSIZE      a packet (SOCK_SEQPACKET) held more than one byte;
 *   -EAGAIN        non-blocking socket and no message waiting;
 *   -EINVAL        fd is NULL;
 *   -ECONNRESET    the peer closed its end with data of ours unread;
 * or whatever recvmsg(2) reports. In every error case the fds that did
 * arrive have been closed.
 */
FDPASS_PUBLIC int fdpass_recv(int sock, int *fd);

/*
 * fdpass_send_fds - send nfds fds (0 to FDPASS_MAX_FDS) together with len
 * payload bytes (at least one: a message without data may lose its fds) as
 * one message. The fds travel with the first byte.
 *
 * flags: FDPASS_NONBLOCK (do not wait, whatever the socket's mode).
 * timeout_ms: as described at the top of this header.
 *
 * Returns the number of bytes sent. That is len, unless waiting was not
 * allowed, the deadline passed or an error came after the fds and part of
 * the data had gone out (possible on SOCK_STREAM only): then the count is
 * smaller, as with write(2), and the caller sends the rest as plain data (or
 * learns the error from its next call). If nothing was sent, a negative errno:
 *   -EINVAL        len is 0, data or fds is NULL where needed, or bad flags;
 *   -E2BIG         nfds is above FDPASS_MAX_FDS;
 *   -EBADF         an fd in fds is negative or not open;
 *   -EAGAIN        would block and waiting is not allowed;
 *   -ETIMEDOUT     the deadline passed before anything was sent;
 *   -EPIPE         the peer is gone; -EMSGSIZE (datagram too large);
 *   -ETOOMANYREFS  too many fds in flight (the kernel's limit);
 * or whatever sendmsg(2) reports.
 */
FDPASS_PUBLIC ssize_t fdpass_send_fds(int sock, const int *fds, size_t nfds,
                                      const void *data, size_t len,
                                      int flags, int timeout_ms);

/*
 * fdpass_recv_fds - receive one message: up to len payload bytes into buf
 * and up to *nfds fds into fds. On return *nfds holds the number of fds
 * received (0 on failure or end of stream).
 *
 * flags: FDPASS_NONBLOCK (do not wait), FDPASS_WAITALL (on a stream socket,
 * keep reading until len bytes have come: the fds must come with the first
 * byte, as fdpass_send_fds() sends them; ignored on packet sockets, where one
 * packet is one message).
 *
 * On SOCK_STREAM an fd is attached to a byte, not to a message, and one read
 * may join the end of one message to the start of the next, with the next
 * one's fds: read every message with its exact length (a fixed size or a
 * length-prefixed frame). SOCK_SEQPACKET keeps message boundaries.
 *
 * Returns the number of bytes received (at least 1), 0 at orderly end of
 * stream before any byte, or a negative errno with every fd that arrived
 * closed. With FDPASS_WAITALL the count is below len only if waiting was not
 * allowed or the deadline passed after part of the message had come; the
 * fds are then handed out with that part. The errors:
 *   -ETOOMANYREFS  more fds arrived than *nfds has room for;
 *   -EXFULL        control data was truncated (MSG_CTRUNC), see fdpass_recv();
 *   -EPROTO        an unexpected control message came;
 *   -EMSGSIZE      a datagram or packet was longer than len (MSG_TRUNC);
 *   -EBADMSG       with FDPASS_WAITALL, fds arrived after the first byte;
 *                  or an empty packet carried fds;
 *   -ECONNRESET    with FDPASS_WAITALL, the stream ended mid-message;
 *   -EAGAIN, -ETIMEDOUT, -EINVAL (len 0, NULL pointers, bad flags),
 * or whatever recvmsg(2) reports.
 */
FDPASS_PUBLIC ssize_t fdpass_recv_fds(int sock, int *fds, size_t *nfds,
                                      void *buf, size_t len,
                                      int flags, int timeout_ms);

/*
 * fdpass_connect - connect to the AF_UNIX socket at path: a file system
 * path, or, with a leading '@', a name in Linux's abstract namespace
 * ("@name" is the name "\0name", exactly as long as written).
 *
 * flags: FDPASS_SEQPACKET (SOCK_SEQPACKET instead of SOCK_STREAM),
 * FDPASS_NONBLOCK (the returned socket is non-blocking).
 * timeout_ms bounds the wait for a listener whose backlog is full.
 *
 * Returns the connected socket (close-on-exec), or a negative errno:
 *   -ENAMETOOLONG  path does not fit in sun_path (it is never truncated);
 *   -ENOENT        no such socket file; -ECONNREFUSED: nobody listens there;
 *   -ETIMEDOUT     the listener's backlog stayed full until the deadline;
 *   -EAGAIN        backlog full and timeout_ms is 0;
 *   -EINVAL        path is NULL or empty, or bad flags;
 * or whatever socket(2) or connect(2) reports (-EACCES, -EPROTOTYPE, ...).
 */
FDPASS_PUBLIC int fdpass_connect(const char *path, int flags, int timeout_ms);

/*
 * fdpass_listen - create an AF_UNIX socket listening at path ('@' as for
 * fdpass_connect()). A stale socket file, to which no socket is bound any
 * more, is replaced; a socket file in use is never taken over; a file that
 * is not a socket is never removed. If mode is not -1 the socket file gets
 * that mode (for example 0660) before anyone can connect to it.
 *
 * The socket is bound in a private directory made for the call in path's
 * directory, given its mode and made to listen there, and only then moved
 * to path by a rename that never replaces anything: whatever other users
 * who may write the directory do meanwhile, the mode goes to this socket
 * file only, and path appears only once it is ready. The address the
 * socket was bound with (getsockname(2), /proc/net/unix) is therefore not
 * path. See fdpass_listen(3) for what a shared directory may hold.
 *
 * flags: FDPASS_SEQPACKET, FDPASS_NONBLOCK (non-blocking listening socket).
 *
 * It does not wait, except, when it replaces a stale file, for up to 1 s
 * while another caller removes a file in the same directory.
 *
 * Returns the listening socket (close-on-exec), or a negative errno:
 *   -EADDRINUSE    a socket file in use is there already (or the directory
 *                  kept changing while the call worked);
 *   -EEXIST        path exists and is not a socket;
 *   -ENAMETOOLONG  path does not fit in sun_path (or, without /proc, the
 *                  private directory's path does not);
 *   -EINVAL        path is NULL or empty, bad mode or bad flags;
 * or whatever socket(2), mkdir(2), bind(2), chmod(2), listen(2),
 * rename(2), link(2) or unlink(2) reports (-EACCES, -ENOSPC, ...).
 */
FDPASS_PUBLIC int fdpass_listen(const char *path, int mode, int flags);

/*
 * fdpass_peercred - the credentials of the process at the other end of a
 * connected AF_UNIX socket, as they were when it connected (or called
 * socketpair). Any of pid, uid, gid may be NULL. Where the system does not
 * tell the pid (the BSDs, macOS), *pid is set to -1.
 *
 * Returns 0, or a negative errno (-ENOTSOCK, -ENOTCONN, -EBADF, ...); on
 * failure the outputs are left untouched.
 */
FDPASS_PUBLIC int fdpass_peercred(int sock, pid_t *pid, uid_t *uid, gid_t *gid);

/* ======================================================================
 * Responses, flushers and the hand-off (added in libfdpass 1.1)
 *
 * A front-end that hands a client's connection to a backend first lets a
 * named *flusher* send the response head (status line and header fields) to
 * the client, as Apache httpd's mod_proxy_fdpass does; the backend then
 * writes only the body. The response to flush is described by an opaque
 * fdpass_response, built with the calls below.
 * ====================================================================== */

typedef struct fdpass_response fdpass_response;

/* Most header fields one response may carry, and most bytes of its head. */
#define FDPASS_RESPONSE_MAX_HEADERS 100
#define FDPASS_RESPONSE_MAX_HEAD    65536
#define FDPASS_RESPONSE_MAX_REASON  1024

/*
 * fdpass_response_new - a response with the given status (100 to 599), its
 * standard reason phrase, no header field and no body. On success *resp is
 * set and 0 returned; -EINVAL (status out of range, resp NULL) or -ENOMEM,
 * with *resp untouched.
 */
FDPASS_PUBLIC int fdpass_response_new(fdpass_response **resp, int status);

/* fdpass_response_free - free a response; NULL is allowed. */
FDPASS_PUBLIC void fdpass_response_free(fdpass_response *resp);

/*
 * fdpass_response_set_status - set the status (100 to 599) and the reason
 * phrase; a NULL reason means the standard phrase for the status ("Unknown"
 * where there is none). The reason may hold spaces, tabs and visible
 * characters only, at most FDPASS_RESPONSE_MAX_REASON of them. Returns 0,
 * -EINVAL (nothing changed), -E2BIG (the head would exceed
 * FDPASS_RESPONSE_MAX_HEAD) or -ENOMEM.
 */
FDPASS_PUBLIC int fdpass_response_set_status(fdpass_response *resp, int status,
                                             const char *reason);

/*
 * fdpass_response_add_header - append a header field. The name must be an
 * RFC 9110 token; the value may hold spaces, tabs and visible characters,
 * never CR, LF, NUL or another control character: no response splitting.
 * Returns 0, -EINVAL (bad name or value; nothing added), -E2BIG (more than
 * FDPASS_RESPONSE_MAX_HEADERS fields or FDPASS_RESPONSE_MAX_HEAD bytes of
 * head) or -ENOMEM.
 */
FDPASS_PUBLIC int fdpass_response_add_header(fdpass_response *resp, const char *name,
                                             const char *value);

/*
 * fdpass_response_set_body - the start of the body, sent right after the
 * head (the backend writes the rest). The bytes are copied; len 0 removes
 * it. Returns 0, -EINVAL (data NULL with len > 0) or -ENOMEM.
 */
FDPASS_PUBLIC int fdpass_response_set_body(fdpass_response *resp, const void *data,
                                           size_t len);

/*
 * Reading a response, for flushers of one's own. The pointers stay valid
 * until the response is changed or freed.
 * fdpass_response_get_status returns the status and sets *reason (if reason
 * is not NULL) to the reason phrase that will be sent.
 * fdpass_response_get_header sets the name and value of field index
 * (0-based): 0, or -ERANGE past the last field.
 * fdpass_response_get_body returns the start of the body and sets *len
 * (NULL and 0 when there is none).
 */
FDPASS_PUBLIC int fdpass_response_get_status(const fdpass_response *resp, const char **reason);
FDPASS_PUBLIC size_t fdpass_response_header_count(const fdpass_response *resp);
FDPASS_PUBLIC int fdpass_response_get_header(const fdpass_response *resp, size_t index,
                                             const char **name, const char **value);
FDPASS_PUBLIC const void *fdpass_response_get_body(const fdpass_response *resp, size_t *len);

/*
 * fdpass_write_all - write all len bytes to fd (a socket, pipe or file):
 * finishes partial writes, retries EINTR, waits with poll() when a
 * non-blocking fd is full, never raises SIGPIPE (on a pipe the signal is
 * blocked for the call and discarded). timeout_ms bounds the whole write
 * (-1: no bound, also on a non-blocking fd), on blocking pipes too: there
 * the data goes in pieces of PIPE_BUF bytes once poll() says there is room.
 * Each write is tried first: timeout 0 writes what fits at once.
 * Returns 0, or a negative errno: -ETIMEDOUT (also for timeout 0 when not
 * everything fitted), -EPIPE or -ECONNRESET (the reader went away),
 * -EINVAL (buf NULL with len > 0), or what write(2) reports. On failure
 * part of the data may have been written; fdpass_write_all2() tells how
 * much.
 */
FDPASS_PUBLIC int fdpass_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/* How long the built-in "flush" provider waits for a slow client, in ms. */
#define FDPASS_FLUSH_TIMEOUT_MS 10000

/* Longest flusher name, and the default flusher's name. */
#define FDPASS_FLUSHER_NAME_MAX 64
#define FDPASS_FLUSHER_DEFAULT "flush"

/*
 * A flusher provider: writes whatever the client should see before the
 * backend takes over, and returns 0 or a negative errno. Any value that is
 * not negative is success (a provider that returns a byte count, as
 * write(2) does, succeeded) and the library's callers see 0. It must not
 * close client_fd. resp is never NULL when the library calls it. It should
 * bound its writes by fdpass_flusher_timeout().
 */
typedef int (*fdpass_flusher_fn)(int client_fd, const fdpass_response *resp, void *context);

/*
 * The registry of flusher providers, one per process, safe to use from any
 * number of threads. Two providers are built in and can be looked up and
 * run but neither unregistered nor replaced:
 *  - "flush" (the default): writes "HTTP/1.1 <status> <reason>", a Date
 *    field in IMF-fixdate (unless the response has its own), the response's
 *    header fields, "Connection: close", the blank line, and the start of
 *    the body if any; nothing else. A response that has its own Connection
 *    field is refused with -EINVAL before a byte is written: keep-alive is
 *    off for a connection that is handed off. It waits at most
 *    FDPASS_FLUSH_TIMEOUT_MS for a slow client (see fdpass_write_all()).
 *  - "none": writes nothing, for backends that speak the whole protocol.
 *
 * Names are 1 to FDPASS_FLUSHER_NAME_MAX characters of [A-Za-z0-9._-].
 *
 * fdpass_flusher_register: 0; -EEXIST (name taken; -EPERM for a built-in
 * name), -EINVAL (bad name, fn NULL), -ENOMEM. The name is copied.
 * fdpass_flusher_unregister: 0; -ENOENT (unknown), -EPERM (built-in),
 * -EINVAL (bad name), -EDEADLK (see below). It returns once every run and
 * pin of that provider on another thread has ended, so the caller may then
 * free its context; a provider may unregister itself. It blocks on those
 * runs and pins only, for as long as they last. Where that wait could never
 * end (the run it would wait for is itself waiting, in another unregister,
 * for a run or pin this thread holds: providers unregistering each other)
 * it returns -EDEADLK at once and the provider stays registered.
 * fdpass_flusher_lookup: 0 with *fn and *context set (either may be NULL),
 * -ENOENT, -EINVAL. A NULL name means "flush". Nothing keeps *context alive
 * after the call: use fdpass_flusher_pin() to use it.
 * fdpass_flusher_run: runs the named provider (NULL means "flush") on
 * client_fd with resp (NULL means status 200, no header field) and returns
 * 0 if the provider succeeded (returned a value that is not negative), or
 * the provider's negative errno; -ENOENT for an unknown name, and then
 * nothing is written. No lock is held while the provider runs.
 * fdpass_flusher_list: writes the names, each ending in '\0', in the order
 * registered (built-ins first), into buf if size allows, and returns the
 * number of bytes the list takes (like snprintf: call with size 0 to learn
 * it); -EINVAL if buf is NULL with size > 0.
 */
FDPASS_PUBLIC int fdpass_flusher_register(const char *name, fdpass_flusher_fn fn, void *context);
FDPASS_PUBLIC int fdpass_flusher_unregister(const char *name);
FDPASS_PUBLIC int fdpass_flusher_lookup(const char *name, fdpass_flusher_fn *fn, void **context);
FDPASS_PUBLIC int fdpass_flusher_run(const char *name, int client_fd, const fdpass_response *resp);
FDPASS_PUBLIC ssize_t fdpass_flusher_list(char *buf, size_t size);

/*
 * fdpass_url_path - the socket path of an httpd-style "fd://" URL, as used
 * in a ProxyPass line: "fd:///run/app.sock" is "/run/app.sock";
 * "fd://localhost/app.sock" is the relative path "localhost/app.sock" (httpd
 * 2.4 takes it relative to its ServerRoot); "fd://@name" is the abstract
 * name "@name". %XX escapes are decoded. Writes the path, NUL-terminated,
 * into path and returns its length; -EINVAL (not an fd:// URL, empty path,
 * a query or fragment, a bad or %00 escape), -ENAMETOOLONG (does not fit in
 * size bytes).
 */
FDPASS_PUBLIC int fdpass_url_path(const char *url, char *path, size_t size);

/*
 * fdpass_handoff - hand a client's connection to a backend, as httpd's
 * mod_proxy_fdpass does for one request: connect to backend (a socket path,
 * "@name", or an "fd://" URL, see fdpass_url_path()) within timeout_ms, run
 * the flusher (NULL means "flush") with resp on client_fd, send client_fd
 * with fdpass_send(), and close the connection to the backend.
 *
 * Nothing is written to the client unless the backend's socket accepted the
 * connection, so a caller whose hand-off failed early can still answer the
 * client itself. client_fd stays the caller's in every case: after success
 * the backend holds its own copy, and closing the caller's does not end the
 * client's connection.
 *
 * timeout_ms bounds the connection, and then, afresh, the sending of the
 * message; the "flush" provider waits at most FDPASS_FLUSH_TIMEOUT_MS of its
 * own. fdpass_handoff2() has one deadline for all three.
 *
 * Returns 0 on success. Errors that mean nothing was written to the client:
 *   -ESRCH         no flusher of that name;
 *   -EINVAL        backend NULL or a bad fd:// URL, client_fd negative, a
 *                  flusher name that is not valid, or a response that the
 *                  "flush" provider would refuse (its own Connection field);
 *   -EPROTOTYPE    the backend listens on a SOCK_SEQPACKET socket (see
 *                  fdpass_handoff2() to reach it);
 *   -ENOENT, -ECONNREFUSED, -EACCES, -ENAMETOOLONG, ...: see fdpass_connect();
 *   -ETIMEDOUT     the backend did not accept the connection in time (also
 *                  for timeout 0, where its backlog was full).
 * The one error after the flusher began, when the client may have received
 * part of a response and should be disconnected:
 *   -ECONNABORTED  the flusher failed, or the backend went away before the
 *                  client's socket was sent. fdpass_handoff2() tells which.
 */
FDPASS_PUBLIC int fdpass_handoff(const char *backend, int client_fd, const char *flusher,
                                 const fdpass_response *resp, int timeout_ms);

/*
 * The backend side: a listening socket that front-ends (libfdpass's, or
 * httpd's mod_proxy_fdpass) connect to, and the client sockets they send.
 * An fdpass_backend multiplexes the listener and every front-end
 * connection behind one fd, for the caller's own event loop, or serves a
 * simple blocking loop. It is not thread-safe: use one per thread.
 *
 * fdpass_backend_new: listen on path as fdpass_listen(path, mode, flags)
 * does (the listening socket is always non-blocking) and return the backend
 * in *backend: 0, or fdpass_listen()'s errors, -ENOMEM, -EINVAL.
 * fdpass_backend_free() then removes the socket file, if it is still the
 * one the backend made (checked where nobody else can change it).
 * fdpass_backend_adopt: the same around a listening socket the caller made
 * (socket activation), which it makes non-blocking; the backend owns it
 * from then on, even on failure.
 * fdpass_backend_free: closes the listener and every front-end connection;
 * NULL is allowed.
 * fdpass_backend_allow_uid: accept front-ends of this uid only (call again
 * to allow more); others are refused as they connect. Without a call, any
 * process that may connect to the socket is accepted. 0, -ENOMEM, or
 * -EINVAL (backend NULL).
 * fdpass_backend_fd: the fd to poll for POLLIN (an epoll fd on Linux), or
 * -EINVAL for NULL. It also becomes readable when a front-end's deadline
 * passes (see the settings below), so a loop that polls it and then calls
 * with timeout 0 needs no timer of its own.
 *
 * fdpass_backend_recv: accept front-ends and read their messages until a
 * client socket arrives; returns 1 with *client_fd set (close-on-exec, the
 * caller's to close); on any other return *client_fd is -1.
 * How long it blocks: it waits in epoll_wait() only, for at most timeout_ms
 * (-1 forever, 0 never): -EAGAIN or -ETIMEDOUT when nothing came. Every
 * accept and read it makes is non-blocking: a front-end that sends half a
 * message holds up no call, not even one with timeout 0; its connection
 * keeps what came and is dropped at its own deadline. Ready
 * front-ends are served in turn, one message each, across calls: however
 * busy one is, the others' next messages come first.
 * A connection may carry any number of hand-offs, one after another, in
 * either form; httpd's (one per connection, then the end) is one case.
 * When a front-end misbehaves its connection is closed, nothing it sent is
 * kept, and the call returns the reason at once, so it can be logged; the
 * backend is unharmed, call again:
 *   -ENOMSG, -ETOOMANYREFS, -EXFULL, -EPROTO, -EBADMSG, -EMSGSIZE,
 *   -EPROTONOSUPPORT, -ECONNRESET: its message was bad (or carried no
 *                  client socket), see fdpass_recv_meta();
 *   -ETIME         one or more front-ends began a message and did not
 *                  finish it within the message timeout (1 s by default).
 * These are reported only when the call has nothing else to do (no
 * hand-off, nothing more ready), in place of -EAGAIN or -ETIMEDOUT:
 *   -EPERM         a front-end whose uid is not allowed was refused (see
 *                  fdpass_backend_last_refused()); once per front-end;
 *   -EMFILE, -ENFILE accept(2) found no fd free. The front-ends wait in the
 *                  backlog; the listener rests (100 ms, or until a
 *                  connection is closed) and the call goes on serving the
 *                  others: no busy loop, and one report per episode.
 * Other errors (-EINVAL, -EBADF, -ENOMEM) concern the backend itself.
 * fdpass_backend_recv drops the metadata of a metadata message; since 1.2,
 * fdpass_backend_last_flags() tells whether it held request bytes.
 */
typedef struct fdpass_backend fdpass_backend;

FDPASS_PUBLIC int fdpass_backend_new(fdpass_backend **backend, const char *path, int mode,
                                     int flags);
FDPASS_PUBLIC int fdpass_backend_adopt(fdpass_backend **backend, int listen_fd);
FDPASS_PUBLIC void fdpass_backend_free(fdpass_backend *backend);
FDPASS_PUBLIC int fdpass_backend_allow_uid(fdpass_backend *backend, uid_t uid);
FDPASS_PUBLIC int fdpass_backend_fd(const fdpass_backend *backend);

/*
 * fdpass_backend_last_refused - who the last front-end refused by
 * fdpass_backend_allow_uid() was (fdpass_backend_recv() said -EPERM), as
 * fdpass_peercred() saw it when it connected, for a log line. Any of pid,
 * uid, gid may be NULL; where the credentials could not be read they are
 * -1. Returns 0, -ENOENT (nobody was refused yet) or -EINVAL (NULL).
 */
FDPASS_PUBLIC int fdpass_backend_last_refused(const fdpass_backend *backend, pid_t *pid,
                                              uid_t *uid, gid_t *gid);
FDPASS_PUBLIC int fdpass_backend_recv(fdpass_backend *backend, int *client_fd, int timeout_ms);

/* ======================================================================
 * Hand-off messages with metadata (added in libfdpass 1.1)
 *
 * httpd's message carries the client's socket and nothing else, so the
 * backend never sees the request the front-end has already read. A
 * metadata message carries, with the fds: the bytes the front-end already
 * read from the client, the client's address, the address it connected to,
 * the flusher that ran, and key/value pairs. Its wire format (a 16-byte
 * header with magic "FDPM", version, fd count and payload length, then
 * typed records) is specified byte by byte in PROTOCOL.md. Receivers take
 * both forms on one connection; senders choose per message.
 * ====================================================================== */

typedef struct fdpass_meta fdpass_meta;

/* Text fields of fdpass_meta_set()/fdpass_meta_get(). */
#define FDPASS_META_CLIENT_ADDR 2 /* the client's address, e.g. "192.0.2.7:51234" */
#define FDPASS_META_LOCAL_ADDR  3 /* the address the client connected to */
#define FDPASS_META_FLUSHER     4 /* the flusher that ran */

#define FDPASS_META_MAX_TEXT    4096     /* longest text field or pair value */
#define FDPASS_META_MAX_KEY     255      /* longest pair key */
#define FDPASS_META_MAX_PAIRS   64
#define FDPASS_META_DEFAULT_MAX 1048576  /* payload bound when 0 is passed */
#define FDPASS_META_LIMIT       67108864 /* largest payload bound allowed */

/*
 * Building and reading metadata. Text is copied; pointers returned stay
 * valid until the object is changed or freed.
 * fdpass_meta_new: 0 with *meta set, -EINVAL, -ENOMEM.
 * fdpass_meta_free: NULL is allowed.
 * fdpass_meta_set_data: the bytes already read from the client (copied;
 *   len 0 is "none were read", which differs from never set). 0, -EINVAL,
 *   -ENOMEM. fdpass_meta_get_data: NULL if never set, else the bytes and
 *   *len.
 * fdpass_meta_set: one of the FDPASS_META_* text fields; NULL clears it.
 *   0, -EINVAL (unknown field, longer than FDPASS_META_MAX_TEXT), -ENOMEM.
 *   fdpass_meta_get: the field, or NULL.
 * fdpass_meta_add_pair: key of 1 to FDPASS_META_MAX_KEY characters of
 *   [A-Za-z0-9._-], value up to FDPASS_META_MAX_TEXT bytes; keys may repeat.
 *   0, -EINVAL, -E2BIG (more than FDPASS_META_MAX_PAIRS), -ENOMEM.
 *   fdpass_meta_find: the first value of key, or NULL.
 *   fdpass_meta_get_pair: pair index (0-based), 0 or -ERANGE.
 */
FDPASS_PUBLIC int fdpass_meta_new(fdpass_meta **meta);
FDPASS_PUBLIC void fdpass_meta_free(fdpass_meta *meta);
FDPASS_PUBLIC int fdpass_meta_set_data(fdpass_meta *meta, const void *data, size_t len);
FDPASS_PUBLIC const void *fdpass_meta_get_data(const fdpass_meta *meta, size_t *len);
FDPASS_PUBLIC int fdpass_meta_set(fdpass_meta *meta, int field, const char *value);
FDPASS_PUBLIC const char *fdpass_meta_get(const fdpass_meta *meta, int field);
FDPASS_PUBLIC int fdpass_meta_add_pair(fdpass_meta *meta, const char *key, const char *value);
FDPASS_PUBLIC const char *fdpass_meta_find(const fdpass_meta *meta, const char *key);
FDPASS_PUBLIC size_t fdpass_meta_pair_count(const fdpass_meta *meta);
FDPASS_PUBLIC int fdpass_meta_get_pair(const fdpass_meta *meta, size_t index,
                                       const char **key, const char **value);

/*
 * fdpass_send_meta - send nfds fds (0 to FDPASS_MAX_FDS) with meta as one
 * metadata message; meta NULL sends httpd's plain message instead (nfds
 * must then be 1). flags: FDPASS_NONBLOCK. timeout_ms as for
 * fdpass_send_fds(). Once the start of the message is out the rest always
 * follows (waiting up to timeout_ms, or FDPASS_FLUSH_TIMEOUT_MS if that is
 * not positive), so a stream never carries half a message.
 * Returns 0, or a negative errno: -EINVAL, -E2BIG, -EBADF, -EAGAIN and
 * -ETIMEDOUT (nothing was sent), -EPIPE or -ECONNRESET (the peer is gone),
 * -ENOMEM, -ECONNABORTED (part of the message went out but not the rest:
 * close the connection).
 */
FDPASS_PUBLIC int fdpass_send_meta(int sock, const int *fds, size_t nfds,
                                   const fdpass_meta *meta, int flags, int timeout_ms);

/*
 * fdpass_recv_meta - receive one message of either form: up to *nfds fds
 * into fds (at least 1), and for a metadata message a new fdpass_meta in
 * *meta (the caller frees it); for httpd's plain message *meta is NULL.
 * max_payload bounds the payload (0: FDPASS_META_DEFAULT_MAX; at most
 * FDPASS_META_LIMIT). Works on SOCK_STREAM, where the payload may come over
 * several reads and the fds stay tied to their message, and on
 * SOCK_SEQPACKET. flags: FDPASS_NONBLOCK; timeout_ms bounds the wait for a
 * message to begin, and (or FDPASS_FLUSH_TIMEOUT_MS if not positive) for the
 * rest of one that has begun.
 *
 * Returns 1 with *nfds and *meta set; 0 at end of stream; or a negative
 * errno, with every fd that came closed, *nfds 0 and *meta NULL. After
 * these the connection is out of step and must be closed:
 *   -EBADMSG          malformed: bad magic, fd count not the header's,
 *                     bad records, fds in the middle of a message, or a
 *                     plain message packet longer than one '\0' byte (on
 *                     a stream, bytes sent with a plain message are read
 *                     as the next message);
 *   -EPROTONOSUPPORT  a format version this library does not know;
 *   -EMSGSIZE         payload larger than max_payload (on a stream it is
 *                     not read: the connection must be dropped);
 *   -ECONNRESET       end of stream in the middle of a message;
 *   -ETIME            the rest of a message that had begun did not come in
 *                     time.
 * And as for fdpass_recv_fds(): -ENOMSG (a plain message without its fd),
 * -ETOOMANYREFS, -EXFULL, -EPROTO, -EINVAL, -ENOMEM; and -EAGAIN and
 * -ETIMEDOUT when no message began (only these two leave the connection
 * usable: after any other error, close it, since the rest of a bad message
 * may still be in the stream).
 */
FDPASS_PUBLIC int fdpass_recv_meta(int sock, int *fds, size_t *nfds, fdpass_meta **meta,
                                   size_t max_payload, int flags, int timeout_ms);

/*
 * fdpass_handoff_meta - fdpass_handoff() sending a metadata message with
 * the client's socket; if meta has no FDPASS_META_FLUSHER field, the name
 * of the flusher that ran is sent in it. meta NULL: exactly fdpass_handoff().
 */
FDPASS_PUBLIC int fdpass_handoff_meta(const char *backend, int client_fd, const char *flusher,
                                      const fdpass_response *resp, const fdpass_meta *meta,
                                      int timeout_ms);

/*
 * fdpass_backend_recv_meta - fdpass_backend_recv() that also hands out the
 * metadata of the message (NULL for httpd's plain message) in *meta, for
 * the caller to free. Front-ends may send either form. A front-end whose
 * message has begun must send the rest within the message timeout (1 s
 * unless fdpass_backend_set_message_timeout() says otherwise), or it is
 * dropped with -ETIME; no call waits for it meanwhile.
 */
FDPASS_PUBLIC int fdpass_backend_recv_meta(fdpass_backend *backend, int *client_fd,
                                           fdpass_meta **meta, int timeout_ms);

/* ======================================================================
 * Added in libfdpass 1.2
 * ====================================================================== */

/*
 * fdpass_write_all2 - fdpass_write_all() that tells how much it wrote, and
 * follows the library's rule for timeout 0. Sets *written (if written is
 * not NULL) to the number of bytes written, on success (len) and on
 * failure alike. Blocks only in poll(), within timeout_ms in all.
 * Returns 0 when all len bytes were written, or a negative errno:
 *   -EAGAIN        timeout_ms is 0 and fd could not take everything at once
 *                  (*written bytes of it went);
 *   -ETIMEDOUT     a positive timeout_ms passed first;
 *   -EPIPE, -ECONNRESET  the reader went away;
 *   -EINVAL        buf NULL with len > 0;
 *   -EBADF         fd is not open, or not for writing;
 * or what send(2), write(2) or poll(2) report.
 */
FDPASS_PUBLIC int fdpass_write_all2(int fd, const void *buf, size_t len, int timeout_ms,
                                    size_t *written);

/*
 * fdpass_flusher_timeout - for a provider: how long it may still take, in
 * milliseconds, to give its writes as their timeout_ms. In a provider run
 * by fdpass_handoff2(), what is left of the hand-off's deadline (-1: none;
 * 0: none left, or the hand-off's timeout_ms is 0: write only what fits at
 * once); in a provider that runs inside such a provider through
 * fdpass_flusher_run(), the same.
 * Everywhere else (fdpass_handoff(), fdpass_handoff_meta(), a
 * fdpass_flusher_run() of one's own, outside any provider)
 * FDPASS_FLUSH_TIMEOUT_MS. The built-in "flush" bounds its write by it.
 * Never fails; blocks on nothing.
 */
FDPASS_PUBLIC int fdpass_flusher_timeout(void);

/*
 * fdpass_flusher_pin - fdpass_flusher_lookup() that keeps the provider, its
 * function and its context, alive until fdpass_flusher_unpin(): an
 * fdpass_flusher_unregister() of it on another thread waits for the pin as
 * for a run (so the context it then frees is not in use). *fn and *context
 * are set as by fdpass_flusher_lookup() (either may be NULL); *ref gets the
 * pin. A NULL name means "flush". A pin counts as held by the thread that
 * took it. Blocks only on the registry's lock, never on a run.
 * Returns 0, or -EINVAL (ref NULL, bad name), -ENOENT (no provider of that
 * name) or -ENOMEM, with *ref untouched.
 * fdpass_flusher_unpin - ends a pin; NULL is allowed. If the provider was
 * unregistered meanwhile, this may be the end of its last use.
 */
typedef struct fdpass_flusher_ref fdpass_flusher_ref;

FDPASS_PUBLIC int fdpass_flusher_pin(const char *name, fdpass_flusher_ref **ref,
                                     fdpass_flusher_fn *fn, void **context);
FDPASS_PUBLIC void fdpass_flusher_unpin(fdpass_flusher_ref *ref);

/* Bits of fdpass_handoff2()'s *result. */
#define FDPASS_HANDOFF_FAILED_BACKEND 0x01 /* connecting or sending to the backend failed */
#define FDPASS_HANDOFF_FAILED_CLIENT  0x02 /* the flusher (writing to the client) failed */
#define FDPASS_HANDOFF_CLIENT_WRITTEN 0x04 /* bytes may have reached the client */

/*
 * fdpass_handoff2 - the hand-off of fdpass_handoff_meta() (meta NULL: httpd's
 * plain message), with one deadline for the whole call, a flag to reach a
 * SOCK_SEQPACKET backend, the real error, and *result (if result is not
 * NULL; set on every return) telling which side failed and whether the
 * client may have received bytes.
 *
 * flags: FDPASS_SEQPACKET (the backend listens on a SOCK_SEQPACKET socket).
 * timeout_ms: one deadline for connecting, running the flusher (which gets
 * what is left, see fdpass_flusher_timeout()) and sending the message; -1:
 * none, 0: never wait (-EAGAIN). The call blocks only within it.
 *
 * *result is 0, or these bits:
 *   FDPASS_HANDOFF_FAILED_BACKEND  the backend could not be reached, or did
 *                                  not take the message (the error says why);
 *   FDPASS_HANDOFF_FAILED_CLIENT   the flusher failed: the client went away
 *                                  or was too slow, or the provider failed;
 *   FDPASS_HANDOFF_CLIENT_WRITTEN  bytes may have been written to the
 *                                  client, on success or failure ("flush":
 *                                  exactly when it wrote some; "none":
 *                                  never; other providers: whenever they
 *                                  ran). Without it the caller may still
 *                                  answer the client itself.
 * Neither FAILED bit on an error: neither side failed (arguments, the
 * flusher's name, memory).
 *
 * Returns 0 when the backend's socket holds the client's connection, or a
 * negative errno:
 *   -EINVAL        as for fdpass_handoff(), or flags other than
 *                  FDPASS_SEQPACKET;
 *   -ESRCH         no flusher of that name;
 *   -EPROTOTYPE    the backend listens on a socket of the other type
 *                  (SOCK_SEQPACKET without the flag, or SOCK_STREAM with it);
 *   -ENOENT, -ECONNREFUSED, -EACCES, -ENAMETOOLONG, ...: see fdpass_connect();
 *   -ETIMEDOUT     the deadline passed (connecting, flushing or sending);
 *   -EAGAIN        timeout_ms is 0 and a step would have had to wait;
 *   -EPIPE, -ECONNRESET  the client (FAILED_CLIENT) or the backend
 *                  (FAILED_BACKEND) went away;
 *   -ECONNABORTED  part of a metadata message went out, not the rest;
 *   -ENOMEM        no memory for the metadata message, or the kernel had
 *                  none to send it (no FAILED bit: neither side failed);
 * or the negative errno that the flusher returned (FAILED_CLIENT).
 */
FDPASS_PUBLIC int fdpass_handoff2(const char *backend, int client_fd, const char *flusher,
                                  const fdpass_response *resp, const fdpass_meta *meta,
                                  int flags, int timeout_ms, unsigned *result);

/* ======================================================================
 * The backend's settings, and what a hand-off brought (added in 1.2)
 * ====================================================================== */

/*
 * fdpass_backend_recv_fds - fdpass_backend_recv_meta() for hand-offs with
 * more than one fd (a client socket and, say, a log pipe; the backend takes
 * as many as fdpass_backend_set_max_fds() allows). On entry *nfds is the
 * room in fds (at least 1); on return 1, fds[0..*nfds) are the fds of one
 * hand-off, in the order sent, close-on-exec and the caller's, and *meta
 * its metadata (NULL for httpd's plain message; meta may be NULL to drop
 * it). On any other return *nfds is 0 and *meta NULL. Fds beyond the room
 * are closed, and fdpass_backend_last_flags() says so. It blocks as
 * fdpass_backend_recv() does, and returns what it returns; -EINVAL also for
 * nfds or fds NULL, or *nfds 0.
 */
FDPASS_PUBLIC int fdpass_backend_recv_fds(fdpass_backend *backend, int *fds, size_t *nfds,
                                          fdpass_meta **meta, int timeout_ms);

/* Bits of fdpass_backend_last_flags(). */
#define FDPASS_BACKEND_META         0x01 /* a metadata message, not httpd's plain one */
#define FDPASS_BACKEND_META_DROPPED 0x02 /* ...whose metadata the call was not asked for: freed */
#define FDPASS_BACKEND_DATA_DROPPED 0x04 /* ...and it held bytes the front-end had read from
                                            the client (the request): they are gone */
#define FDPASS_BACKEND_FDS_DROPPED  0x08 /* more fds came than the call had room for: the
                                            others were closed */

/*
 * fdpass_backend_last_flags - what the hand-off of the last receive call
 * (fdpass_backend_recv, _recv_meta, _recv_fds) was: FDPASS_BACKEND_* bits,
 * 0 for httpd's plain message, and 0 when that call handed out nothing.
 * A backend that uses fdpass_backend_recv() and finds
 * FDPASS_BACKEND_DATA_DROPPED must not wait for the request on the socket:
 * the front-end has read it already. Never blocks. Returns the bits, or
 * -EINVAL (backend NULL).
 */
FDPASS_PUBLIC int fdpass_backend_last_flags(const fdpass_backend *backend);

/*
 * Limits, one setter each; every one returns 0, or -EINVAL (backend NULL,
 * or a value out of range, which changes nothing). None blocks.
 *
 * fdpass_backend_set_max_payload: the largest metadata payload a message
 * may carry, 1 to FDPASS_META_LIMIT bytes; 0 restores the default,
 * FDPASS_META_DEFAULT_MAX (1 MiB). A larger message drops its front-end
 * (the receive call says why). Applies to messages whose header comes after
 * the call.
 * fdpass_backend_set_max_fds: the most fds one hand-off may carry, 1 (the
 * default: the client socket alone, as httpd sends it) to FDPASS_MAX_FDS.
 * More drops the front-end. Applies to front-ends that connect after the
 * call.
 * fdpass_backend_set_message_timeout: how long a front-end may take over
 * one message, from its first byte to its last, in ms (> 0; default
 * 1000); then it is dropped, and a receive call reports it. Applies at
 * once.
 * fdpass_backend_set_idle_timeout: how long a front-end's connection may
 * stay open without a message, in ms (> 0), or -1 for no limit (the
 * default: httpd closes its connections itself, and a front-end that keeps
 * one open hands off over it when it likes). An idle connection is closed
 * quietly. Applies at once.
 * fdpass_backend_set_max_connections: the most front-end connections held
 * at once (> 0; default 1024). At the limit, a front-end that connects
 * takes the place of the connection that has been idle longest; if every
 * connection is in the middle of a message, it waits in the backlog until
 * one is closed. Applies at once.
 */
FDPASS_PUBLIC int fdpass_backend_set_max_payload(fdpass_backend *backend, size_t bytes);
FDPASS_PUBLIC int fdpass_backend_set_max_fds(fdpass_backend *backend, size_t n);
FDPASS_PUBLIC int fdpass_backend_set_message_timeout(fdpass_backend *backend, int ms);
FDPASS_PUBLIC int fdpass_backend_set_idle_timeout(fdpass_backend *backend, int ms);
FDPASS_PUBLIC int fdpass_backend_set_max_connections(fdpass_backend *backend, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* FDPASS_H */
