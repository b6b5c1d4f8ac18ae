// SPDX-License-Identifier: MIT
/* Writing everything, for flushers: partial writes, EINTR, slow readers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * write(2) to something that is not a socket (a pipe, a FIFO, a file)
 * without SIGPIPE: the signal is blocked in this thread for the call, and
 * one that the call raised is taken off again before it is unblocked.
 */
static ssize_t write_without_sigpipe(int fd, const void *buf, size_t len)
{
	sigset_t pipe_set, pending, old;
	int was_pending, saved;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending) {
		static const struct timespec now = { 0, 0 };

		while (sigtimedwait(&pipe_set, NULL, &now) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

/*
 * Write some of buf without waiting: send() where fd is a socket
 * (MSG_NOSIGNAL, MSG_DONTWAIT); otherwise, once poll() says there is room,
 * write() of at most PIPE_BUF bytes, which a pipe with room takes without
 * blocking, so that a blocking pipe cannot hold the call past its deadline.
 * -1 with EAGAIN when there is no room.
 */
static ssize_t write_some(int fd, const void *buf, size_t len, int *not_socket)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r;

	if (!*not_socket) {
		ssize_t n = send(fd, buf, len, FDP_MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*not_socket = 1;
		/* poll() would wait for ever on an fd that is not open for writing */
		r = fcntl(fd, F_GETFL);
		if (r >= 0 && (r & O_ACCMODE) == O_RDONLY) {
			errno = EBADF;
			return -1;
		}
	}
	r = poll(&pfd, 1, 0);
	if (r <= 0) {
		if (r == 0)
			errno = EAGAIN;
		return -1;
	}
	return write_without_sigpipe(fd, buf, len > PIPE_BUF ? PIPE_BUF : len);
}

/*
 * Wait for room in fd until the deadline: 0 when worth trying again,
 * -ETIMEDOUT once it has passed (at once for timeout 0), or another
 * negative errno. poll() may claim room that the next write does not find;
 * the deadline still ends the call.
 */
static int wait_writable(int fd, const struct fdp_deadline *dl)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int left = fdp_deadline_left(dl), r;

		if (left == 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Each write is tried first and never waits, so timeout 0 writes what fits
 * at once; the call waits only when a write found no room.
 */
static int write_all(int fd, const void *buf, size_t len, const struct fdp_deadline *dl,
		     size_t *written)
{
	const char *p = buf;
	int not_socket = 0;

	*written = 0;
	if (len > 0 && !buf)
		return -EINVAL;
	while (*written < len) {
		ssize_t n = write_some(fd, p + *written, len - *written, &not_socket);
		int r;

		if (n > 0) {
			*written += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if ((r = wait_writable(fd, dl)) < 0)
			return r;
	}
	return 0;
}

FDPASS_EXPORT int fdpass_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	struct fdp_deadline dl;
	size_t written;

	fdp_deadline_init(&dl, timeout_ms);
	return write_all(fd, buf, len, &dl, &written);
}

FDPASS_EXPORT int fdpass_write_all2(int fd, const void *buf, size_t len, int timeout_ms,
				    size_t *written)
{
	struct fdp_deadline dl;
	size_t n;
	int r;

	fdp_deadline_init(&dl, timeout_ms);
	r = write_all(fd, buf, len, &dl, &n);
	if (written)
		*written = n;
	/* The library's rule for timeout 0; fdpass_write_all() keeps its -ETIMEDOUT. */
	return r == -ETIMEDOUT && dl.timeout_ms == 0 ? -EAGAIN : r;
}
