// SPDX-License-Identifier: MIT
/*
 * The backend side: one listener and any number of front-end connections
 * behind one epoll fd, read the way OpenBSD's imsg and wayland's
 * wl_connection read. Each connection keeps its own message in progress
 * (bytes and fds so far, in an fdp_reader) and its own deadline, so a call
 * never waits for any one front-end: it reads what has come and goes on to
 * the next. The deadlines are kept by a timerfd in the same epoll set, so
 * that a caller who only polls fdpass_backend_fd() wakes for them too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifdef __linux__
#include <sys/epoll.h>
#include <sys/timerfd.h>

/* Events taken from epoll at once: one round of turns. */
#define BATCH 64
/*
 * Accepts per turn of the listener: a flood of connections (refused ones
 * cost nothing else) then waits while every ready connection reads one
 * message.
 */
#define ACCEPT_BATCH 16
/* Rounds that hand out nothing before a call with timeout 0 says -EAGAIN. */
#define MAX_ROUNDS 8
/* No fd free: how long the listener rests before the next accept(). */
#define EMFILE_BACKOFF_MS 100
/* At the connection limit: idle connections looked at for one to close. */
#define EVICT_TRIES 8

#define DEFAULT_MESSAGE_MS 1000
#define DEFAULT_MAX_CONNS 1024

struct conn {
	int fd;
	int watched;        /* in the epoll set (not yet during its first turn) */
	int busy;           /* a message has begun: on b->busy, else on b->idle */
	int64_t since;      /* busy: when the message began; idle: last message */
	struct conn *prev, *next;
	struct fdp_reader rd;
	size_t room;
	int fds[];          /* the fds of the message in progress */
};

/* A turn's result besides 1 and errors: the connection ended quietly. */
#define GONE 2

/* Connections in the order of their `since`, so oldest first. */
struct list {
	struct conn *head, *tail;
};

enum listening {
	LISTENING,
	PAUSED_FULL,   /* at max_conns with nothing idle to close: until a drop */
	PAUSED_EMFILE, /* accept() found no fd free: until a drop or retry_at */
};

struct fdpass_backend {
	int listen_fd;
	int epoll_fd;
	int timer_fd;
	int stream;        /* the listener's type, and so every connection's */
	char *path;        /* socket file to remove at the end, if we made it */
	struct stat st;    /* ...and only while it is still ours */
	uid_t *uids;
	size_t nuids;
	int refused;       /* a front-end was refused: its credentials follow */
	pid_t refused_pid;
	uid_t refused_uid;
	gid_t refused_gid;

	size_t max_payload, max_fds, max_conns;
	int message_ms, idle_ms; /* idle_ms < 0: no idle limit */

	struct list idle, busy;
	size_t nconns;
	enum listening listening;
	int64_t retry_at;
	int64_t timer_at;  /* when the timer fires; 0: not armed */
	int emfile;        /* an accept() found no fd free since the last that worked */
	/* Reported once a call has nothing else to do: */
	int no_fds;        /* -EMFILE or -ENFILE, once per episode */
	unsigned refusals; /* -EPERM, once per front-end refused */
	int last_flags;

	/* The batch from epoll: ev[iev..nev) still to be served, first. */
	struct epoll_event ev[BATCH];
	int iev, nev;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The epoll data of the two fds that are not connections. */
#define LISTENER(b) ((void *)&(b)->listen_fd)
#define TIMER(b) ((void *)&(b)->timer_fd)

static int watch(fdpass_backend *b, int fd, void *ptr)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = ptr };

	return epoll_ctl(b->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* ---- deadlines ----------------------------------------------------------- */

static void set_timer(fdpass_backend *b, int64_t at)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	its.it_value.tv_sec = (time_t)(at / 1000);
	its.it_value.tv_nsec = (long)(at % 1000) * 1000000 + 1; /* never 0: that disarms */
	if (timerfd_settime(b->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		b->timer_at = at;
}

/*
 * Arm the timer for the nearest deadline if it would fire later. A timer
 * that fires early (its deadline went away) is re-armed when it fires:
 * cheaper than a system call every time a deadline moves later.
 */
static void schedule(fdpass_backend *b)
{
	int64_t next = INT64_MAX;

	if (b->busy.head)
		next = b->busy.head->since + b->message_ms;
	if (b->idle_ms >= 0 && b->idle.head && b->idle.head->since + b->idle_ms < next)
		next = b->idle.head->since + b->idle_ms;
	if (b->listening == PAUSED_EMFILE && b->retry_at < next)
		next = b->retry_at;
	if (next != INT64_MAX && (b->timer_at == 0 || next < b->timer_at))
		set_timer(b, next);
}

static void list_remove(struct list *l, struct conn *c)
{
	*(c->prev ? &c->prev->next : &l->head) = c->next;
	*(c->next ? &c->next->prev : &l->tail) = c->prev;
	c->prev = c->next = NULL;
}

static void list_append(struct list *l, struct conn *c)
{
	c->prev = l->tail;
	c->next = NULL;
	*(l->tail ? &l->tail->next : &l->head) = c;
	l->tail = c;
}

/* c begins (busy 1) or ends (busy 0) a message now: last on its new list. */
static void mark(fdpass_backend *b, struct conn *c, int busy)
{
	int was_head = c == b->idle.head || c == b->busy.head;

	list_remove(c->busy ? &b->busy : &b->idle, c);
	c->busy = busy;
	c->since = now_ms();
	list_append(busy ? &b->busy : &b->idle, c);
	if (busy || was_head)
		schedule(b);
}

/* ---- the listener -------------------------------------------------------- */

static void pause_listener(fdpass_backend *b, enum listening why)
{
	int i;

	if (b->listening == LISTENING)
		epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, b->listen_fd, NULL);
	for (i = b->iev; i < b->nev; i++)
		if (b->ev[i].data.ptr == LISTENER(b))
			b->ev[i].data.ptr = NULL;
	b->listening = why;
	if (why == PAUSED_EMFILE) {
		b->retry_at = now_ms() + EMFILE_BACKOFF_MS;
		schedule(b);
	}
}

static void resume_listener(fdpass_backend *b)
{
	if (b->listening == LISTENING)
		return;
	b->listening = LISTENING;
	if (watch(b, b->listen_fd, LISTENER(b)) < 0)
		pause_listener(b, PAUSED_EMFILE); /* try again after the back-off */
}

/* ---- connections --------------------------------------------------------- */

static void drop(fdpass_backend *b, struct conn *c)
{
	int i;

	/* Out of the epoll set before close: the open file may live on. */
	if (c->watched)
		epoll_ctl(b->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	fdp_reader_reset(&c->rd, c->fds);
	list_remove(c->busy ? &b->busy : &b->idle, c);
	for (i = b->iev; i < b->nev; i++)
		if (b->ev[i].data.ptr == c)
			b->ev[i].data.ptr = NULL;
	free(c);
	b->nconns--;
	resume_listener(b); /* an fd is free, and room under max_conns */
}

/* Unread bytes (or the end) wait on c: it is not idle, whatever its clock says. */
static int has_input(const struct conn *c)
{
	char byte;

	return recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/* A front-end waits in the backlog: worth closing a connection for. */
static int someone_waits(const fdpass_backend *b)
{
	struct pollfd p = { .fd = b->listen_fd, .events = POLLIN };

	return poll(&p, 1, 0) > 0;
}

/* Make room under max_conns: close the connection idle longest. */
static int evict(fdpass_backend *b)
{
	struct conn *c = b->idle.head;
	int tries;

	for (tries = 0; c && tries < EVICT_TRIES; tries++, c = c->next)
		if (!has_input(c)) {
			drop(b, c);
			return 1;
		}
	return 0;
}

static int serve(fdpass_backend *b, struct conn *c, int *fds, size_t room, size_t *nfds,
		 fdpass_meta **meta);

/*
 * A new connection, and its first turn before epoll knows it: a front-end
 * that connected, sent and hung up (httpd's way, or a flood) costs no
 * epoll_ctl() pair, and its message no extra round. Returns what the turn
 * did: 1 with a hand-off, 0, GONE, or an error.
 */
static int add_conn(fdpass_backend *b, int fd, int *fds, size_t room, size_t *nfds,
		    fdpass_meta **meta)
{
	struct conn *c = calloc(1, sizeof(*c) + b->max_fds * sizeof(int));
	int r, w;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->room = b->max_fds;
	c->since = now_ms();
	list_append(&b->idle, c);
	b->nconns++;
	r = serve(b, c, fds, room, nfds, meta);
	if (r < 0 || r == GONE)
		return r; /* dropped already */
	if ((w = watch(b, fd, c)) < 0) {
		drop(b, c);
		return r == 1 ? 1 : w; /* what was handed out stays handed out */
	}
	c->watched = 1;
	if (c == b->idle.head)
		schedule(b);
	return r;
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

/*
 * The listener's turn: up to ACCEPT_BATCH front-ends, each with its first
 * turn. Refusals and a lack of fds are reported later (take_deferred()):
 * they must not end a call while other front-ends wait. 1 with a hand-off,
 * 0, or an error.
 */
static int accept_some(fdpass_backend *b, int *fds, size_t room, size_t *nfds,
		       fdpass_meta **meta)
{
	int i;

	for (i = 0; i < ACCEPT_BATCH && b->listening == LISTENING; i++) {
		int conn, r;

		if (b->nconns >= b->max_conns) {
			if (!someone_waits(b))
				break;
			if (!evict(b)) {
				pause_listener(b, PAUSED_FULL);
				break;
			}
		}
		do
			conn = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		while (conn < 0 && errno == EINTR);
		if (conn < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				b->emfile = 0;
				break;
			}
			if (errno == ECONNABORTED)
				continue; /* it gave up while in the backlog */
			if (errno != EMFILE && errno != ENFILE)
				return -errno;
			/* Once per episode, not once per attempt. */
			if (!b->emfile)
				b->no_fds = -errno;
			b->emfile = 1;
			pause_listener(b, PAUSED_EMFILE);
			break;
		}
		b->emfile = 0;
		if (!allowed(b, conn)) {
			close(conn);
			b->refusals++;
			continue;
		}
		if ((r = add_conn(b, conn, fds, room, nfds, meta)) != 0 && r != GONE)
			return r;
	}
	return 0;
}

/* The timer's turn: drop what is overdue, wake the listener. */
static int on_timer(fdpass_backend *b)
{
	uint64_t ticks;
	int64_t now = now_ms();
	struct conn *c;
	int r = 0;

	if (read(b->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return -errno;
	b->timer_at = 0;
	while ((c = b->busy.head) && c->since + b->message_ms <= now) {
		drop(b, c);
		r = -ETIME; /* one report for all that were overdue together */
	}
	while (b->idle_ms >= 0 && (c = b->idle.head) && c->since + b->idle_ms <= now) {
		if (has_input(c))
			mark(b, c, 0); /* it spoke just now: served on its turn */
		else
			drop(b, c);
	}
	if (b->listening == PAUSED_EMFILE && b->retry_at <= now)
		resume_listener(b);
	schedule(b);
	return r;
}

/* What a hand-off hands out: to the caller, or closed and flagged. */
static void hand_out(fdpass_backend *b, const int *got, size_t ngot, fdpass_meta *m,
		     int *fds, size_t room, size_t *nfds, fdpass_meta **meta)
{
	size_t n = ngot < room ? ngot : room;
	int flags = m ? FDPASS_BACKEND_META : 0;

	memcpy(fds, got, n * sizeof(int));
	*nfds = n;
	if (n < ngot) {
		fdp_close_all(got + n, ngot - n);
		flags |= FDPASS_BACKEND_FDS_DROPPED;
	}
	if (meta) {
		*meta = m;
	} else if (m) {
		size_t len = 0;

		if (fdpass_meta_get_data(m, &len) && len > 0)
			flags |= FDPASS_BACKEND_DATA_DROPPED;
		flags |= FDPASS_BACKEND_META_DROPPED;
		fdpass_meta_free(m);
	}
	b->last_flags = flags;
}

/* A connection's turn: at most one message. 1 when handed out, 0, GONE, or an error. */
static int serve(fdpass_backend *b, struct conn *c, int *fds, size_t room, size_t *nfds,
		 fdpass_meta **meta)
{
	fdpass_meta *m;
	size_t n;
	int r = fdp_reader_read(&c->rd, c->fd, b->stream, c->fds, c->room, b->max_payload,
				MSG_DONTWAIT, &n, &m);

	if (r == -EAGAIN) {
		if (fdp_reader_busy(&c->rd) && !c->busy)
			mark(b, c, 1); /* its deadline runs from now */
		return 0;
	}
	if (r == 1 && n == 0) {
		/* A hand-off without a socket to hand off. */
		fdpass_meta_free(m);
		r = -ENOMSG;
	}
	if (r != 1) {
		drop(b, c); /* end of stream (0), or a front-end that broke the protocol */
		return r == 0 ? GONE : r;
	}
	if (c->busy || c != b->idle.tail)
		mark(b, c, 0);
	else
		c->since = now_ms(); /* last already: the order holds */
	hand_out(b, c->fds, n, m, fds, room, nfds, meta);
	return 1;
}

static int deferred(const fdpass_backend *b)
{
	return b->no_fds || b->refusals;
}

static int take_deferred(fdpass_backend *b, int otherwise)
{
	int r = b->no_fds;

	if (r)
		b->no_fds = 0;
	else if (b->refusals)
		b->refusals--, r = -EPERM;
	return r ? r : otherwise;
}

/*
 * The receive loop of every call: serve what is left of the last batch
 * first (round-robin across calls), then ask epoll for more. Returns 1 with
 * a hand-off, or a negative errno.
 */
static int receive(fdpass_backend *b, int *fds, size_t room, size_t *nfds, fdpass_meta **meta,
		   int timeout_ms)
{
	struct fdp_deadline dl;
	int rounds = 0;

	b->last_flags = 0;
	fdp_deadline_init(&dl, timeout_ms);
	for (;;) {
		int n, wait_ms;

		while (b->iev < b->nev) {
			void *p = b->ev[b->iev++].data.ptr;
			int r;

			if (!p)
				continue; /* dropped after the batch was taken */
			if (p == LISTENER(b))
				r = accept_some(b, fds, room, nfds, meta);
			else if (p == TIMER(b))
				r = on_timer(b);
			else
				r = serve(b, p, fds, room, nfds, meta);
			if (r != 0 && r != GONE)
				return r;
		}
		if (dl.timeout_ms == 0 && rounds >= MAX_ROUNDS)
			return take_deferred(b, -EAGAIN);
		if (dl.timeout_ms > 0 && rounds > 0 && fdp_deadline_left(&dl) == 0)
			return take_deferred(b, -ETIMEDOUT);
		/* Something to report: look, but do not wait. */
		wait_ms = deferred(b) ? 0 : fdp_deadline_left(&dl);
		n = epoll_wait(b->epoll_fd, b->ev, BATCH, wait_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		b->iev = 0;
		b->nev = n > 0 ? n : 0;
		if (n > 0) {
			rounds++;
			continue;
		}
		if (deferred(b))
			return take_deferred(b, 0);
		if (dl.timeout_ms == 0)
			return -EAGAIN;
		if (dl.timeout_ms > 0 && fdp_deadline_left(&dl) == 0)
			return -ETIMEDOUT;
	}
}

/* ---- the public calls ---------------------------------------------------- */

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
	b->epoll_fd = b->timer_fd = -1;
	b->max_payload = FDPASS_META_DEFAULT_MAX;
	b->max_fds = 1;
	b->max_conns = DEFAULT_MAX_CONNS;
	b->message_ms = DEFAULT_MESSAGE_MS;
	b->idle_ms = -1;
	/* Another process may accept on the same socket: never block in accept. */
	r = fcntl(listen_fd, F_GETFL);
	if (r < 0 || fcntl(listen_fd, F_SETFL, r | O_NONBLOCK) < 0) {
		r = -errno;
		goto fail;
	}
	b->stream = fdp_is_stream(listen_fd);
	b->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epoll_fd < 0) {
		r = -errno;
		goto fail;
	}
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->timer_fd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = watch(b, listen_fd, LISTENER(b))) < 0 ||
	    (r = watch(b, b->timer_fd, TIMER(b))) < 0)
		goto fail;
	*backend = b;
	return 0;
fail:
	if (b->timer_fd >= 0)
		close(b->timer_fd);
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

FDPASS_EXPORT void fdpass_backend_free(fdpass_backend *b)
{
	if (!b)
		return;
	b->listening = LISTENING; /* nothing to resume as the connections go */
	while (b->idle.head)
		drop(b, b->idle.head);
	while (b->busy.head)
		drop(b, b->busy.head);
	if (b->path)
		fdp_unlink_if_same(b->path, &b->st);
	close(b->timer_fd);
	close(b->epoll_fd);
	close(b->listen_fd);
	free(b->path);
	free(b->uids);
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

FDPASS_EXPORT int fdpass_backend_last_flags(const fdpass_backend *b)
{
	return b ? b->last_flags : -EINVAL;
}

FDPASS_EXPORT int fdpass_backend_set_max_payload(fdpass_backend *b, size_t bytes)
{
	if (!b || bytes > FDPASS_META_LIMIT)
		return -EINVAL;
	b->max_payload = bytes ? bytes : FDPASS_META_DEFAULT_MAX;
	return 0;
}

FDPASS_EXPORT int fdpass_backend_set_max_fds(fdpass_backend *b, size_t n)
{
	if (!b || n == 0 || n > FDPASS_MAX_FDS)
		return -EINVAL;
	b->max_fds = n;
	return 0;
}

FDPASS_EXPORT int fdpass_backend_set_message_timeout(fdpass_backend *b, int ms)
{
	if (!b || ms <= 0)
		return -EINVAL;
	b->message_ms = ms;
	schedule(b);
	return 0;
}

FDPASS_EXPORT int fdpass_backend_set_idle_timeout(fdpass_backend *b, int ms)
{
	if (!b || ms == 0)
		return -EINVAL;
	b->idle_ms = ms < 0 ? -1 : ms;
	schedule(b);
	return 0;
}

FDPASS_EXPORT int fdpass_backend_set_max_connections(fdpass_backend *b, size_t n)
{
	if (!b || n == 0)
		return -EINVAL;
	b->max_conns = n;
	if (b->listening == PAUSED_FULL && b->nconns < n)
		resume_listener(b);
	return 0;
}

FDPASS_EXPORT int fdpass_backend_recv_fds(fdpass_backend *b, int *fds, size_t *nfds,
					  fdpass_meta **meta, int timeout_ms)
{
	size_t room;

	if (meta)
		*meta = NULL;
	if (!nfds)
		return -EINVAL;
	room = *nfds;
	*nfds = 0;
	if (!b || !fds || room == 0)
		return -EINVAL;
	return receive(b, fds, room, nfds, meta, timeout_ms);
}

FDPASS_EXPORT int fdpass_backend_recv_meta(fdpass_backend *b, int *client_fd,
					   fdpass_meta **meta, int timeout_ms)
{
	size_t n;

	if (client_fd)
		*client_fd = -1;
	if (meta)
		*meta = NULL;
	if (!b || !client_fd)
		return -EINVAL;
	return receive(b, client_fd, 1, &n, meta, timeout_ms);
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

FDPASS_EXPORT int fdpass_backend_last_flags(const fdpass_backend *backend)
{
	(void)backend;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_set_max_payload(fdpass_backend *backend, size_t bytes)
{
	(void)backend, (void)bytes;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_set_max_fds(fdpass_backend *backend, size_t n)
{
	(void)backend, (void)n;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_set_message_timeout(fdpass_backend *backend, int ms)
{
	(void)backend, (void)ms;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_set_idle_timeout(fdpass_backend *backend, int ms)
{
	(void)backend, (void)ms;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_set_max_connections(fdpass_backend *backend, size_t n)
{
	(void)backend, (void)n;
	return -ENOSYS;
}

FDPASS_EXPORT int fdpass_backend_recv_fds(fdpass_backend *backend, int *fds, size_t *nfds,
					  fdpass_meta **meta, int timeout_ms)
{
	(void)backend, (void)fds, (void)timeout_ms;
	if (nfds)
		*nfds = 0;
	if (meta)
		*meta = NULL;
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
