// SPDX-License-Identifier: MIT
/* Writing everything, for flushers: partial writes, EINTR, slow readers. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

/* send() where it is a socket, so that a dead reader gives EPIPE, not SIGPIPE. */
static ssize_t write_some(int fd, const void *buf, size_t len, int *not_socket)
{
	if (!*not_socket) {
		ssize_t n = send(fd, buf, len, FDP_MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*not_socket = 1;
	}
	return write(fd, buf, len);
}

FDPASS_EXPORT int fdpass_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	struct fdp_deadline dl;
	const char *p = buf;
	int not_socket = 0;

	if (len > 0 && !buf)
		return -EINVAL;
	fdp_deadline_init(&dl, timeout_ms);
	while (len > 0) {
		ssize_t n = write_some(fd, p, len, &not_socket);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		/* Full (or a non-socket fd that is blocking and wrote 0). */
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int left = fdp_deadline_left(&dl), r;

			if (left == 0)
				return -ETIMEDOUT;
			r = poll(&pfd, 1, left);
			if (r > 0)
				break;
			if (r == 0)
				return -ETIMEDOUT;
			if (errno != EINTR)
				return -errno;
		}
	}
	return 0;
}
