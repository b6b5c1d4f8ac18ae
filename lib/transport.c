// SPDX-License-Identifier: MIT
/*
 * Sending and receiving fds with SCM_RIGHTS. Every corner case of the
 * kernel's interface is handled here, in send_msg() and recv_msg(), so that
 * the public calls only add their own rules on top.
 */
#include <alloca.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

/*
 * Room for the control data of one message: on Linux, one fd more than the
 * caller takes (so that "too many" is seen as such: the kernel closes what
 * does not fit), plus any control message a socket option may add
 * (SCM_CREDENTIALS, SCM_PIDFD, ...). Elsewhere room for every fd a message
 * can carry, since some systems install fds that do not fit (a leak).
 * Sized per call: a small buffer keeps the common path on fewer pages.
 */
#define OTHER_CONTROL 256
#ifdef __linux__
#define RECV_CONTROL_SIZE(max) (CMSG_SPACE(sizeof(int) * ((max) + 1)) + OTHER_CONTROL)
#else
#define RECV_CONTROL_SIZE(max) (CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS) + OTHER_CONTROL)
#endif

#if defined(__linux__) && !defined(SCM_PIDFD)
#define SCM_PIDFD 0x04 /* Linux 6.5; carries an fd that must be closed */
#endif

static int carries_fds(const struct cmsghdr *cmsg)
{
	if (cmsg->cmsg_level != SOL_SOCKET)
		return 0;
#ifdef SCM_PIDFD
	if (cmsg->cmsg_type == SCM_PIDFD)
		return 1;
#endif
	return cmsg->cmsg_type == SCM_RIGHTS;
}

int fdp_is_stream(int sock)
{
	int type = 0;
	socklen_t len = sizeof(type);

	return getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static ssize_t send_msg(int sock, const int *fds, size_t nfds,
			const void *data, size_t len, int msgflags)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *cmsg;

		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		msg.msg_control = alloca(msg.msg_controllen); /* aligned for cmsghdr */
		memset(msg.msg_control, 0, msg.msg_controllen);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, msgflags | FDP_MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

/* See internal.h. */
ssize_t fdp_recv_msg(int sock, int *fds, size_t max, size_t *nfds,
		     void *buf, size_t len, int msgflags)
{
	size_t size = RECV_CONTROL_SIZE(max);
	char *control = alloca(size); /* aligned for any type, cmsghdr included */
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = size,
	};
	struct cmsghdr *cmsg;
	size_t got = 0;
	int too_many = 0, unexpected = 0;
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, msgflags | FDP_MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	/*
	 * Walk the control data, bounded by msg_controllen: some systems leave
	 * an untruncated cmsg_len behind a truncated buffer.
	 */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		const unsigned char *end = (const unsigned char *)control + msg.msg_controllen;
		const unsigned char *data = CMSG_DATA(cmsg);
		size_t bytes, i, count;

		if (cmsg->cmsg_len < CMSG_LEN(0))
			break;
		bytes = cmsg->cmsg_len - CMSG_LEN(0);
		if (data + bytes > end)
			bytes = data > end ? 0 : (size_t)(end - data);

		if (!carries_fds(cmsg)) {
			unexpected = 1;
			continue;
		}
		if (cmsg->cmsg_type != SCM_RIGHTS)
			unexpected = 1;
		count = bytes / sizeof(int);
		for (i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, data + i * sizeof(int), sizeof(int));
			if (fd < 0)
				continue;
			if (cmsg->cmsg_type == SCM_RIGHTS && got < max) {
#if !defined(MSG_CMSG_CLOEXEC)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
				fds[got++] = fd;
			} else {
				if (cmsg->cmsg_type == SCM_RIGHTS)
					too_many = 1;
				close(fd);
			}
		}
	}

	if ((msg.msg_flags & MSG_CTRUNC) && !too_many)
		n = -EXFULL;
	else if (n == 0 && got > 0)
		n = -EBADMSG; /* an empty packet with fds: not a message of ours */
	else if (too_many)
		n = -ETOOMANYREFS;
	else if (unexpected)
		n = -EPROTO;
	else if ((msg.msg_flags & MSG_TRUNC) && !fdp_is_stream(sock))
		n = -EMSGSIZE;
	if (n < 0) {
		fdp_close_all(fds, got);
		return n;
	}
	*nfds = got;
	return n;
}

FDPASS_EXPORT int fdpass_send(int sock, int fd)
{
	static const char byte = '\0';
	ssize_t n;

	if (fd < 0)
		return -EBADF;
	n = send_msg(sock, &fd, 1, &byte, 1, 0);
	return n < 0 ? (int)n : 0;
}

FDPASS_EXPORT int fdpass_recv(int sock, int *fd)
{
	char byte;
	size_t nfds;
	int got = -1;
	ssize_t n;

	if (!fd)
		return -EINVAL;
	*fd = -1;
	n = fdp_recv_msg(sock, &got, 1, &nfds, &byte, 1, 0);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0; /* a stream can end only between messages */
	if (nfds == 0)
		return -ENOMSG;
	if (byte != '\0') {
		close(got);
		return -EBADMSG;
	}
	*fd = got;
	return 1;
}

FDPASS_EXPORT ssize_t fdpass_send_fds(int sock, const int *fds, size_t nfds,
				      const void *data, size_t len,
				      int flags, int timeout_ms)
{
	struct fdp_deadline dl;
	size_t sent = 0, i;

	if ((flags & ~FDPASS_NONBLOCK) || !data || len == 0 || (nfds > 0 && !fds))
		return -EINVAL;
	if (nfds > FDPASS_MAX_FDS)
		return -E2BIG;
	for (i = 0; i < nfds; i++)
		if (fds[i] < 0)
			return -EBADF;

	fdp_deadline_init(&dl, (flags & FDPASS_NONBLOCK) ? 0 : timeout_ms);
	while (sent < len) {
		/* The fds go with the first byte, and only with it. */
		ssize_t n = send_msg(sock, sent ? NULL : fds, sent ? 0 : nfds,
				     (const char *)data + sent, len - sent,
				     fdp_deadline_msgflags(&dl));

		if (n == -EAGAIN || n == -EWOULDBLOCK)
			n = fdp_wait(sock, POLLOUT, &dl);
		if (n < 0)
			return sent ? (ssize_t)sent : n;
		sent += (size_t)n;
	}
	return (ssize_t)sent;
}

FDPASS_EXPORT ssize_t fdpass_recv_fds(int sock, int *fds, size_t *nfds,
				      void *buf, size_t len,
				      int flags, int timeout_ms)
{
	struct fdp_deadline dl;
	size_t max, got = 0, none, received = 0;

	if (!nfds)
		return -EINVAL;
	max = *nfds < FDPASS_MAX_FDS ? *nfds : FDPASS_MAX_FDS;
	*nfds = 0;
	if ((flags & ~(FDPASS_NONBLOCK | FDPASS_WAITALL)) || !buf || len == 0 ||
	    (max > 0 && !fds))
		return -EINVAL;
	/* Packets keep their boundaries: one packet is one message. */
	if ((flags & FDPASS_WAITALL) && !fdp_is_stream(sock))
		flags &= ~FDPASS_WAITALL;

	fdp_deadline_init(&dl, (flags & FDPASS_NONBLOCK) ? 0 : timeout_ms);
	for (;;) {
		/* After the first byte, any fd belongs to another message. */
		ssize_t n = fdp_recv_msg(sock, received ? NULL : fds,
				     received ? 0 : max, received ? &none : &got,
				     (char *)buf + received, len - received,
				     fdp_deadline_msgflags(&dl));

		if (n == -EAGAIN || n == -EWOULDBLOCK) {
			n = fdp_wait(sock, POLLIN, &dl);
			if (n == 0)
				continue;
		}
		if (n > 0) {
			received += (size_t)n;
			if (received < len && (flags & FDPASS_WAITALL))
				continue;
			break;
		}
		if (received == 0)
			return n; /* nothing arrived, or recv_msg closed it all */
		if (n < 0 && n != -EAGAIN && n != -ETIMEDOUT) {
			fdp_close_all(fds, got);
			return n == -ETOOMANYREFS ? -EBADMSG : n;
		}
		if (n == 0) {
			fdp_close_all(fds, got);
			return -ECONNRESET;
		}
		break; /* deadline: hand out the part that came */
	}
	*nfds = got;
	return (ssize_t)received;
}
