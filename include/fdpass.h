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
#define FDPASS_VERSION_MINOR 0
#define FDPASS_VERSION_MICRO 0

/* The most fds one message may carry (Linux's SCM_MAX_FD). */
#define FDPASS_MAX_FDS 253

/*
 * Flags for fdpass_send_fds(), fdpass_recv_fds(), fdpass_connect() and
 * fdpass_listen(). Each call documents which ones it takes; any other bit
 * makes it fail with -EINVAL.
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
 *   -EPIPE         the peer is gone; -EMSGSIZE (datagram too large), or
 *                  whatever sendmsg(2) reports.
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
 * fdpass_connect()). A stale socket file left by a listener that is gone is
 * replaced; a live listener is never taken over; a file that is not a
 * socket is never removed. If mode is not -1 the socket file gets that mode
 * (for example 0660) before anyone can connect to it.
 *
 * flags: FDPASS_SEQPACKET, FDPASS_NONBLOCK (non-blocking listening socket).
 *
 * Returns the listening socket (close-on-exec), or a negative errno:
 *   -EADDRINUSE    a live listener is there already;
 *   -EEXIST        path exists and is not a socket;
 *   -ENAMETOOLONG  path does not fit in sun_path;
 *   -EINVAL        path is NULL or empty, bad mode or bad flags;
 * or whatever socket(2), bind(2), chmod(2) or listen(2) reports.
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

#ifdef __cplusplus
}
#endif

#endif /* FDPASS_H */
