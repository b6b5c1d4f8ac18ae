// SPDX-License-Identifier: MIT
/* Deadlines and the one place the library waits for a socket. */
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void fdp_deadline_init(struct fdp_deadline *d, int timeout_ms)
{
	d->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
	d->end_ms = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
}

int fdp_deadline_msgflags(const struct fdp_deadline *d)
{
	return d->timeout_ms >= 0 ? MSG_DONTWAIT : 0;
}

int fdp_deadline_left(const struct fdp_deadline *d)
{
	int64_t left;

	if (d->timeout_ms <= 0)
		return d->timeout_ms;
	left = d->end_ms - now_ms();
	return left > 0 ? (int)left : 0;
}

int fdp_wait(int fd, short events, const struct fdp_deadline *d)
{
	/*
	 * Without a deadline the socket's own mode decides: a blocking socket
	 * never gets here, a non-blocking one wants -EAGAIN back.
	 */
	if (d->timeout_ms <= 0)
		return -EAGAIN;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = fdp_deadline_left(d);
		int r;

		if (left == 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, left);
		if (r > 0)
			return 0; /* also on POLLERR/POLLHUP: the call reports it */
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

void fdp_close_all(const int *fds, size_t n)
{
	int saved = errno;
	size_t i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	errno = saved;
}
