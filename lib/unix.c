// SPDX-License-Identifier: MIT
/* AF_UNIX sockets: addresses, connect, listen, and who is at the other end. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define SOCKET_FLAGS (FDPASS_NONBLOCK | FDPASS_SEQPACKET)

/*
 * Fill *sa from path: a file system path, or "@name" for Linux's abstract
 * namespace. A path that does not fit is an error, never truncated.
 */
static int make_address(const char *path, struct sockaddr_un *sa, socklen_t *salen)
{
	size_t len;

	if (!path || !*path)
		return -EINVAL;
	len = strlen(path);
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path[0] == '@') {
#ifdef __linux__
		/* "\0name": the leading NUL takes the place of '@'. */
		if (len == 1)
			return -EINVAL;
		if (len > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, path + 1, len - 1);
		*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
		return 0;
#else
		return -EAFNOSUPPORT;
#endif
	}
	if (len >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, len + 1);
	*salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/* A new AF_UNIX socket, close-on-exec; non-blocking if nonblock. */
static int new_socket(int flags, int nonblock)
{
	int type = (flags & FDPASS_SEQPACKET) ? SOCK_SEQPACKET : SOCK_STREAM;
	int fd;

#ifdef SOCK_CLOEXEC
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
	fd = socket(AF_UNIX, type, 0);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (nonblock)
			fcntl(fd, F_SETFL, O_NONBLOCK);
	}
#endif
	if (fd < 0)
		return -errno;
#ifdef SO_NOSIGPIPE
	{
		int one = 1;

		setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
	}
#endif
	return fd;
}

static int set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

static int set_send_timeout(int fd, int ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ? -errno : 0;
}

static int close_with(int fd, int err)
{
	close(fd);
	return err;
}

/*
 * connect(2) on AF_UNIX waits while the listener's backlog is full, for as
 * long as SO_SNDTIMEO allows, then fails with EAGAIN. That is the only wait,
 * so the deadline is carried by SO_SNDTIMEO (or O_NONBLOCK for timeout 0).
 */
static int connect_within(int fd, const struct sockaddr_un *sa, socklen_t salen,
			  const struct fdp_deadline *dl)
{
	int r;

	/* With timeout 0 the socket was made non-blocking: the caller decides. */
	for (;;) {
		int left = fdp_deadline_left(dl);

		if (dl->timeout_ms > 0) {
			if (left == 0)
				return -ETIMEDOUT;
			if ((r = set_send_timeout(fd, left)) < 0)
				return r;
		}
		if (connect(fd, (const struct sockaddr *)sa, salen) == 0)
			break;
		if (errno == EINTR)
			continue;
		/*
		 * SO_SNDTIMEO counts in kernel ticks: after a short remainder
		 * the wait can end up to a tick before the deadline.
		 */
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && dl->timeout_ms > 0)
			continue;
		return -errno;
	}
	if (dl->timeout_ms > 0 && (r = set_send_timeout(fd, 0)) < 0)
		return r;
	return 0;
}

FDPASS_EXPORT int fdpass_connect(const char *path, int flags, int timeout_ms)
{
	struct sockaddr_un sa;
	socklen_t salen;
	struct fdp_deadline dl;
	int fd, r, nonblock;

	if (flags & ~SOCKET_FLAGS)
		return -EINVAL;
	if ((r = make_address(path, &sa, &salen)) < 0)
		return r;
	fdp_deadline_init(&dl, timeout_ms);
	/*
	 * Non-blocking from the start for timeout 0 (O_NONBLOCK would cut any
	 * SO_SNDTIMEO wait short); then as the caller wants it.
	 */
	nonblock = timeout_ms == 0;
	if ((fd = new_socket(flags, nonblock)) < 0)
		return fd;
	if ((r = connect_within(fd, &sa, salen, &dl)) < 0)
		return close_with(fd, r);
	if (nonblock != !!(flags & FDPASS_NONBLOCK) &&
	    (r = set_nonblock(fd, flags & FDPASS_NONBLOCK)) < 0)
		return close_with(fd, r);
	return fd;
}

/*
 * Is somebody listening at this address? A refused connection means the
 * socket file is stale. The probe never waits: a full backlog answers
 * EAGAIN, which also means somebody is there.
 */
static int address_is_stale(const struct sockaddr_un *sa, socklen_t salen, int flags)
{
	int fd = new_socket(flags, 1), stale;

	if (fd < 0)
		return fd;
	stale = connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

static int bind_replacing_stale(int fd, const struct sockaddr_un *sa, socklen_t salen,
				int flags)
{
	struct stat st;
	int stale;

	if (bind(fd, (const struct sockaddr *)sa, salen) == 0)
		return 0;
	if (errno != EADDRINUSE || sa->sun_path[0] == '\0')
		return -errno;
	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? -EAGAIN : -errno; /* gone meanwhile: try again */
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	stale = address_is_stale(sa, salen, flags);
	if (stale < 0)
		return stale;
	if (!stale)
		return -EADDRINUSE;
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return bind(fd, (const struct sockaddr *)sa, salen) == 0 ? 0 : -errno;
}

FDPASS_EXPORT int fdpass_listen(const char *path, int mode, int flags)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int fd, r, tries = 0;

	if ((flags & ~SOCKET_FLAGS) || mode < -1 || mode > 07777)
		return -EINVAL;
	if ((r = make_address(path, &sa, &salen)) < 0)
		return r;
	if ((fd = new_socket(flags, flags & FDPASS_NONBLOCK)) < 0)
		return fd;
	do
		r = bind_replacing_stale(fd, &sa, salen, flags);
	while (r == -EAGAIN && ++tries < 3);
	if (r < 0)
		return close_with(fd, r == -EAGAIN ? -EADDRINUSE : r);

	/* Nobody can connect before listen(): set the mode first. */
	if (mode != -1 && sa.sun_path[0] != '\0' && chmod(sa.sun_path, (mode_t)mode) < 0)
		r = -errno;
	else if (listen(fd, SOMAXCONN) < 0)
		r = -errno;
	if (r < 0) {
		if (sa.sun_path[0] != '\0')
			unlink(sa.sun_path);
		return close_with(fd, r);
	}
	return fd;
}

FDPASS_EXPORT int fdpass_peercred(int sock, pid_t *pid, uid_t *uid, gid_t *gid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (len != sizeof(cred))
		return -EIO;
	if (cred.pid == 0 && cred.uid == (uid_t)-1)
		return -ENOTCONN; /* Linux reports "nobody" on a socket never connected */
	if (pid)
		*pid = cred.pid;
	if (uid)
		*uid = cred.uid;
	if (gid)
		*gid = cred.gid;
	return 0;
#else
	uid_t u;
	gid_t g;

	if (getpeereid(sock, &u, &g) < 0)
		return -errno;
	if (pid)
		*pid = -1;
	if (uid)
		*uid = u;
	if (gid)
		*gid = g;
	return 0;
#endif
}
