// SPDX-License-Identifier: MIT
/*
 * The backend side: one listener and any number of front-end connections
 * behind one epoll fd. Level-triggered, so an event left unhandled when a
 * call returns is simply reported again by the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* How long a front-end may take to send the rest of a message it began. */
#define REST_MS 1000

/*
 * Rounds of events that hand out nothing before a call with timeout 0 says
 * -EAGAIN: under constant traffic from misbehaving front-ends the call must
 * still return. (A call with a timeout checks its deadline every round.)
 */
#define MAX_ROUNDS 64

#ifdef __linux__
#include <sys/epoll.h>

struct fdpass_backend {
	int listen_fd;
	int epoll_fd;
	int stream;        /* the listener's type, and so every connection's */
	char *path;        /* socket file to remove at the end, if we made it */
	struct stat st;    /* ...and only while it is still ours */
	uid_t *uids;
	size_t nuids;
	int refused;       /* a front-end was refused: its credentials follow */
	pid_t refused_pid;
	uid_t refused_uid;
	gid_t refused_gid;
	int *conns;
	size_t nconns, cap;
};

static int watch(fdpass_backend *b, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

FDPASS_EXPORT int fdpass_backend_adopt(fdpass_backend **backend, int listen_fd)
{
	fdpass_backend *b;
	int r;

	if (!backend || listen_fd < 0) {
		if (listen_fd >= 0)
			close(listen_fd);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		close(listen_fd);
		return -ENOMEM;
	}
	b->listen_fd = listen_fd;
	/* Another process may accept on the same socket: never block in accept. */
	r = fcntl(listen_fd, F_GETFL);
	if (r < 0 || fcntl(listen_fd, F_SETFL, r | O_NONBLOCK) < 0) {
		r = -errno;
		b->epoll_fd = -1;
		goto fail;
	}
	b->stream = fdp_is_stream(listen_fd);
	b->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epoll_fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = watch(b, listen_fd)) < 0)
		goto fail;
	*backend = b;
	return 0;
fail:
	if (b->epoll_fd >= 0)
		close(b->epoll_fd);
	close(listen_fd);
	free(b);
	return r;
}

FDPASS_EXPORT int fdpass_backend_new(fdpass_backend **backend, const char *path, int mode,
				     int flags)
{
	fdpass_backend *b;
	struct stat st;
	int fd, r;

	if (!backend)
		return -EINVAL;
	fd = fdp_listen(path, mode, flags | FDPASS_NONBLOCK, &st);
	if (fd < 0)
		return fd;
	r = fdpass_backend_adopt(&b, fd);
	if (r < 0) {
		if (path[0] != '@')
			fdp_unlink_if_same(path, &st);
		return r;
	}
	if (path[0] != '@') {
		b->path = strdup(path);
		b->st = st;
		if (!b->path) {
			fdp_unlink_if_same(path, &st);
			fdpass_backend_free(b);
			return -ENOMEM;
		}
	}
	*backend = b;
	return 0;
}

static void drop(fdpass_backend *b, size_t i)
{
	/* Out of the epoll set before close: the open file may live on. */
	epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, b->conns[i], NULL);
	close(b->conns[i]);
	b->conns[i] = b->conns[--b->nconns];
}

FDPASS_EXPORT void fdpass_backend_free(fdpass_backend *b)
{
	if (!b)
		return;
	while (b->nconns)
		drop(b, b->nconns - 1);
	if (b->path)
		fdp_unlink_if_same(b->path, &b->st);
	close(b->epoll_fd);
	close(b->listen_fd);
	free(b->path);
	free(b->uids);
	free(b->conns);
	free(b);
}

FDPASS_EXPORT int fdpass_backend_allow_uid(fdpass_backend *b, uid_t uid)
{
	uid_t *grown;

	if (!b)
		return -EINVAL;
	grown = realloc(b->uids, (b->nuids + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	b->uids = grown;
	b->uids[b->nuids++] = uid;
	return 0;
}

FDPASS_EXPORT int fdpass_backend_fd(const fdpass_backend *b)
{
	return b ? b->epoll_fd : -EINVAL;
}

FDPASS_EXPORT int fdpass_backend_last_refused(const fdpass_backend *b, pid_t *pid, uid_t *uid,
					      gid_t *gid)
{
	if (!b)
		return -EINVAL;
	if (!b->refused)
		return -ENOENT;
	if (pid)
		*pid = b->refused_pid;
	if (uid)
		*uid = b->refused_uid;
	if (gid)
		*gid = b->refused_gid;
	return 0;
}

static int allowed(fdpass_backend *b, int conn)
{
	pid_t pid = -1;
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	size_t i;

	if (b->nuids == 0)
		return 1;
	if (fdpass_peercred(conn, &pid, &uid, &gid) == 0)
		for (i = 0; i < b->nuids; i++)
			if (b->uids[i] == uid)
				return 1;
	b->refused = 1;
	b->refused_pid = pid;
	b->refused_uid = uid;
	b->refused_gid = gid;
	return 0;
}

/* One front-end from the backlog: 0, -EAGAIN if none waits, or an error. */
static int accept_one(fdpass_backend *b)
{
	int conn, r;

	do
		conn = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	while (conn < 0 && errno == EINTR);
	if (conn < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (!allowed(b, conn)) {
		close(conn);
		return -EPERM;
	}
	if (b->nconns == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		int *grown = realloc(b->conns, cap * sizeof(*grown));

		if (!grown) {
			close(conn);
			return -ENOMEM;
		}
		b->conns = grown;
		b->cap = cap;
	}
	if ((r = watch(b, conn)) < 0) {
		close(conn);
		return r;
	}
	b->conns[b->nconns++] = conn;
	return 0;
}

static size_t conn_index(const fdpass_backend *b, int fd)
{
	size_t i;

	for (i = 0; i < b->nconns; i++)
		if (b->conns[i] == fd)
			return i;
	return b->nconns;
}

/* Handle one ready fd: 1 with *client_fd, 0 to go on, or an error to report. */
static int handle(fdpass_backend *b, int fd, int *client_fd, fdpass_meta **meta)
{
	size_t i, n = 1;
	int r;

	if (fd == b->listen_fd) {
		r = accept_one(b);
		return r == -EAGAIN ? 0 : r;
	}
	i = conn_index(b, fd);
	if (i == b->nconns)
		return 0;
	r = fdp_recv_message(fd, b->stream, client_fd, &n, meta, 0, FDPASS_NONBLOCK, 0, REST_MS);
	if (r == 1 && n == 0) {
		/* A hand-off without a socket to hand off. */
		fdpass_meta_free(*meta);
		*meta = NULL;
		*client_fd = -1;
		r = -ENOMSG;
	}
	if (r == 1)
		return 1;
	*client_fd = -1; /* what arrived was closed: hand out no stale number */
	if (r == -EAGAIN)
		return 0;
	drop(b, i); /* end of stream, or a front-end that broke the protocol */
	return r;
}

FDPASS_EXPORT int fdpass_backend_recv_meta(fdpass_backend *b, int *client_fd,
					   fdpass_meta **meta, int timeout_ms)
{
	struct fdp_deadline dl;
	fdpass_meta *ignored = NULL;
	int wait_ms = 0, rounds = 0;

	if (client_fd)
		*client_fd = -1;
	if (meta)
		*meta = NULL;
	if (!b || !client_fd)
		return -EINVAL;
	fdp_deadline_init(&dl, timeout_ms);
	for (;;) {
		struct epoll_event ev[16];
		int n, i;

		n = epoll_wait(b->epoll_fd, ev, 16, wait_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (i = 0; i < n; i++) {
			int r = handle(b, ev[i].data.fd, client_fd, meta ? meta : &ignored);

			fdpass_meta_free(ignored);
			ignored = NULL;
			if (r != 0)
				return r;
		}
		if (n > 0 && ++rounds < MAX_ROUNDS &&
		    (dl.timeout_ms <= 0 || fdp_deadline_left(&dl) > 0)) {
			wait_ms = 0; /* look again before waiting: more may be ready */
			continue;
		}
		if (dl.timeout_ms == 0)
			return -EAGAIN;
		wait_ms = fdp_deadline_left(&dl);
		if (wait_ms == 0)
			return -ETIMEDOUT;
	}
}

FDPASS_EXPORT int fdpass_backend_recv(fdpass_backend *b, int *client_fd, int timeout_ms)
{
	return fdpass_backend_recv_meta(b, client_fd, NULL, timeout_ms);
}

#else /* no epoll: the backend object is not available */

FDPASS_EXPORT int fdpass_backend_new(fdpass_backend **backend, const char *path, int mode,
				     int flags)
{
	(void)backend, (void)path, (void)mode, (void)flags;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_adopt(fdpass_backend **backend, int listen_fd)
{
	(void)backend;
	if (listen_fd >= 0)
		close(listen_fd);
	return -ENOSYS;
}

FDPASS_EXPORT void fdpass_backend_free(fdpass_backend *backend)
{
	(void)backend;
}

FDPASS_EXPORT int fdpass_backend_allow_uid(fdpass_backend *backend, uid_t uid)
{
	(void)backend, (void)uid;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_fd(const fdpass_backend *backend)
{
	(void)backend;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_last_refused(const fdpass_backend *backend, pid_t *pid,
					      uid_t *uid, gid_t *gid)
{
	(void)backend, (void)pid, (void)uid, (void)gid;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_recv_meta(fdpass_backend *backend, int *client_fd,
					   fdpass_meta **meta, int timeout_ms)
{
	(void)backend, (void)timeout_ms;
	if (client_fd)
		*client_fd = -1;
	if (meta)
		*meta = NULL;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_recv(fdpass_backend *backend, int *client_fd, int timeout_ms)
{
	return fdpass_backend_recv_meta(backend, client_fd, NULL, timeout_ms);
}
#endif
