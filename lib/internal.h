/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the library's sources. Everything here is hidden from
 * the shared library by -fvisibility=hidden and the version script; names
 * carry the fdp_ prefix so that the static library does not clash with its
 * users' symbols either.
 */
#ifndef FDPASS_INTERNAL_H
#define FDPASS_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "fdpass.h"

#define FDPASS_EXPORT FDPASS_PUBLIC

#ifdef MSG_NOSIGNAL
#define FDP_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define FDP_MSG_NOSIGNAL 0 /* SO_NOSIGPIPE is set on the sockets we create */
#endif

#ifdef MSG_CMSG_CLOEXEC
#define FDP_MSG_CMSG_CLOEXEC MSG_CMSG_CLOEXEC
#else
#define FDP_MSG_CMSG_CLOEXEC 0 /* set afterwards: racy against fork+exec */
#endif

/* ---- wait.c ---- */

/*
 * A deadline for one call, made from its timeout_ms argument (see fdpass.h).
 * A call is always tried first; only after it would have blocked does
 * fdp_wait() consult the deadline.
 */
struct fdp_deadline {
	int64_t end_ms; /* CLOCK_MONOTONIC, valid when timeout_ms > 0 */
	int timeout_ms; /* as given: -1, 0 or positive */
};

void fdp_deadline_init(struct fdp_deadline *d, int timeout_ms);

/* Flags for send/recv: MSG_DONTWAIT whenever the library does the waiting. */
int fdp_deadline_msgflags(const struct fdp_deadline *d);

/*
 * Milliseconds left: -1 for no deadline, 0 if it has passed. Never 0 for a
 * deadline that has not passed yet.
 */
int fdp_deadline_left(const struct fdp_deadline *d);

/*
 * Wait until fd is ready for events after an operation returned EAGAIN.
 * Returns 0 when it is worth trying again, -EAGAIN if waiting is not allowed
 * (timeout 0, or no deadline and a socket that is itself non-blocking),
 * -ETIMEDOUT when the deadline passed, or another negative errno.
 */
int fdp_wait(int fd, short events, const struct fdp_deadline *d);

/* Close every fd of fds[0..n-1], keeping errno. */
void fdp_close_all(const int *fds, size_t n);

/* ---- unix.c ---- */

/* fdpass_listen(); for a socket file, *st (if not NULL) gets its device and inode. */
int fdp_listen(const char *path, int mode, int flags, struct stat *st);

/*
 * Remove the socket file at path only if it is the one st describes (same
 * device and inode), however the directory changes meanwhile. 0 if it was
 * removed or is not there, -EEXIST if another file is there, or an error.
 */
int fdp_unlink_if_same(const char *path, const struct stat *st);

/* ---- transport.c ---- */

int fdp_is_stream(int sock);

/*
 * One recvmsg(), EINTR retried. The fds that arrive go to fds[] while there
 * is room (max); all of them are closed and an error returned if there are
 * more, if the control data was truncated, if a control message other than
 * SCM_RIGHTS came, or if an empty packet carried fds. *nfds is the count
 * handed out, 0 on any error. Returns the byte count or a negative errno.
 */
ssize_t fdp_recv_msg(int sock, int *fds, size_t max, size_t *nfds,
		     void *buf, size_t len, int msgflags);

/* ---- response.c ---- */

const fdpass_response *fdp_default_response(void);
/* What "flush" would refuse, checked before anything is written: 0 or -EINVAL. */
int fdp_response_check_flush(const fdpass_response *r);
int fdp_response_head(const fdpass_response *r, time_t now, char **out, size_t *len);

/* ---- flusher.c: a hold (run or pin) keeps its provider alive ---- */

struct provider;
struct fdp_hold {
	struct provider *provider;
	pthread_t owner;        /* for unregister's wait and its deadlock check */
	struct fdp_hold *next;  /* the provider's holds, under the registry's lock */
};

/* 0, -EINVAL (bad name) or -ENOENT; on success h is linked until released. */
int fdp_flusher_acquire(const char *name, struct fdp_hold *h);
void fdp_flusher_release(struct fdp_hold *h);
int fdp_flusher_is_flush(const struct fdp_hold *h);
int fdp_flusher_is_none(const struct fdp_hold *h);
const char *fdp_flusher_name(const struct fdp_hold *h);
/*
 * Run the provider: 0 or a negative errno (a positive return is success).
 * dl: the deadline that fdpass_flusher_timeout() reports to it (NULL: its
 * own FDPASS_FLUSH_TIMEOUT_MS per write). *written, if not NULL: the bytes
 * the built-in "flush" wrote in this run.
 */
int fdp_flusher_call(const struct fdp_hold *h, int client_fd, const fdpass_response *resp,
		     const struct fdp_deadline *dl, size_t *written);

/* ---- meta.c ---- */

/*
 * meta NULL: httpd's plain message. flusher: sent if meta names none.
 * whole, if not NULL, bounds the whole message instead of timeout_ms.
 */
int fdp_send_message(int sock, const int *fds, size_t nfds, const fdpass_meta *meta,
		     const char *flusher, int flags, int timeout_ms,
		     const struct fdp_deadline *whole);
/*
 * rest_ms bounds the wait for the rest of a message whose start came;
 * stream: 1 for SOCK_STREAM, 0 for a packet socket, -1 to ask the socket.
 */
int fdp_recv_message(int sock, int stream, int *fds, size_t *nfds, fdpass_meta **meta,
		     size_t max_payload, int flags, int timeout_ms, int rest_ms);

#endif
