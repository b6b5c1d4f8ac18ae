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
 * Write some of buf. send() where fd is a socket (MSG_NOSIGNAL, never
 * blocking); otherwise write(), at most PIPE_BUF bytes once poll() said
 * there is room, so that a blocking pipe cannot hold the call past its
 * deadline.
 */
static ssize_t write_some(int fd, const void *buf, size_t len, int *not_socket)
{
	if (!*not_socket) {
		ssize_t n = send(fd, buf, len, FDP_MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*not_socket = 1;
		/* poll() would wait for ever on an fd that is not open for writing */
		n = fcntl(fd, F_GETFL);
		if (n >= 0 && (n & O_ACCMODE) == O_RDONLY)
			errno = EBADF;
		else if (n >= 0)
			errno = EAGAIN; /* poll first, then write */
		return -1;
	}
	return write_without_sigpipe(fd, buf, len > PIPE_BUF ? PIPE_BUF : len);
}

/*
 * Wait for room in fd. Once the deadline has passed, one more poll() is
 * made without waiting (so that a call with timeout 0 still writes what
 * fits at once), and *last records that it was the last: a wait after it
 * is -ETIMEDOUT, however often poll() claims room that the write then
 * does not find.
 */
static int wait_writable(int fd, const struct fdp_deadline *dl, int *last)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int left = fdp_deadline_left(dl), r;

		if (*last)
			return -ETIMEDOUT;
		if (left == 0)
			*last = 1;
		r = poll(&pfd, 1, left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

FDPASS_EXPORT int fdpass_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	struct fdp_deadline dl;
	const char *p = buf;
	int not_socket = 0, last = 0;

	if (len > 0 && !buf)
		return -EINVAL;
	fdp_deadline_init(&dl, timeout_ms);
	while (len > 0) {
		ssize_t n;
		int r;

		if (not_socket && (r = wait_writable(fd, &dl, &last)) < 0)
			return r;
		n = write_some(fd, p, len, &not_socket);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		if (!not_socket && (r = wait_writable(fd, &dl, &last)) < 0)
			return r;
	}
	return 0;
}
