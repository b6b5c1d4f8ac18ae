// SPDX-License-Identifier: MIT
/* AF_UNIX sockets: addresses, connect, listen, and who is at the other end. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

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
 * Is the socket file at this address stale, with no socket bound to it any
 * more? Connecting a datagram socket finds the socket bound to the file
 * without queueing anything: a stream or packet socket answers EPROTOTYPE,
 * a datagram one accepts, and only ECONNREFUSED says that none is there.
 * So a socket between bind() and listen() is never taken for stale, and a
 * live listener gets no connection from the probe.
 */
static int address_is_stale(const struct sockaddr_un *sa, socklen_t salen)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), stale;

	if (fd < 0)
		return -errno;
	stale = connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno == ECONNREFUSED;
	close(fd);
	return stale;
}

/*
 * A socket file is made in a private directory, created for the call inside
 * the socket file's directory and reached only through a file descriptor:
 * nobody else can change what is in it, whatever they do in the directory
 * around it. There the socket is bound, given its mode and made to listen,
 * and only then moved to its name, by a rename that never replaces. Anything
 * the library removes from the directory is first moved into the private
 * directory and checked there.
 */
#define BOUND_NAME ".sock" /* our socket, until it is moved into place */
#define TAKEN_NAME "t" /* an entry taken from the directory, to check it */

/* How long to wait for another caller that removes a file in the directory. */
#define LOCK_WAIT_MS 1000

struct place {
	char dir_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *name; /* the socket file's name in the directory */
	int dir;          /* the directory (O_PATH) */
	int priv;         /* the private directory in it (O_PATH), or -1 */
	struct stat priv_st;
	char priv_name[24];
	int proc; /* /proc/self/fd/<priv> reaches the private directory */
};

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Open the directory of path; path fits in sun_path. */
static int place_open(struct place *pl, const char *path)
{
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n;

	pl->dir = pl->priv = -1;
	pl->name = slash ? slash + 1 : path;
	if (!*pl->name || !strcmp(pl->name, ".") || !strcmp(pl->name, ".."))
		return lstat(path, &st) == 0 ? -EEXIST : -errno; /* names a directory */
	n = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
	if (n >= sizeof(pl->dir_path))
		return -ENAMETOOLONG;
	memcpy(pl->dir_path, slash ? path : ".", slash ? n : 1);
	pl->dir_path[slash ? n : 1] = '\0';
	pl->dir = open(pl->dir_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return pl->dir < 0 ? -errno : 0;
}

/* ".fdpass-" and ten random letters or digits. */
static void private_name(char *buf, size_t size)
{
	static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	static unsigned counter;
	unsigned char rnd[10];
	struct timespec ts;
	uint64_t x;
	size_t i;

	/* Unpredictable names only spare us retries: EEXIST is handled anyway. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 12) ^
	    __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
#ifdef __linux__
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
#endif
		memset(rnd, 0, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		rnd[i] = digits[(rnd[i] ^ (x >> 56)) % (sizeof(digits) - 1)];
	}
	snprintf(buf, size, ".fdpass-%.*s", (int)sizeof(rnd), (const char *)rnd);
}

/*
 * Make the private directory. Between mkdir and open, another writer of
 * the directory may have put something else under its name: only a
 * directory of ours that nobody else may enter is taken.
 */
static int private_make(struct place *pl)
{
	char proc[40];
	struct stat st;
	int tries, err;

	for (tries = 0; tries < 8; tries++) {
		private_name(pl->priv_name, sizeof(pl->priv_name));
		if (mkdirat(pl->dir, pl->priv_name, 0700) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		pl->priv = openat(pl->dir, pl->priv_name,
				  O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (pl->priv < 0) {
			err = errno;
			if (err == ENOENT || err == ENOTDIR || err == ELOOP)
				continue; /* replaced already */
			unlinkat(pl->dir, pl->priv_name, AT_REMOVEDIR);
			return -err;
		}
		if (fstat(pl->priv, &pl->priv_st) == 0 && S_ISDIR(pl->priv_st.st_mode) &&
		    pl->priv_st.st_uid == geteuid() && !(pl->priv_st.st_mode & 077)) {
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pl->priv);
			pl->proc = stat(proc, &st) == 0 && same_file(&st, &pl->priv_st);
			return 0;
		}
		close(pl->priv);
		pl->priv = -1;
	}
	return -EADDRINUSE;
}

/*
 * The address of name in the private directory: through /proc, which
 * always fits in sun_path and cannot be redirected; without /proc, by its
 * path, which a writer of a directory without the sticky bit can redirect
 * by renaming the private directory (see listen_file() and remove_if()).
 */
static int private_address(const struct place *pl, const char *name, struct sockaddr_un *sa,
			   socklen_t *salen)
{
	char buf[sizeof(sa->sun_path)];
	int n;

	if (pl->proc)
		n = snprintf(buf, sizeof(buf), "/proc/self/fd/%d/%s", pl->priv, name);
	else
		n = snprintf(buf, sizeof(buf), "%s/%s/%s", pl->dir_path, pl->priv_name, name);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return make_address(buf, sa, salen);
}

/*
 * Remove the private directory if it is empty. By name, since nothing
 * removes a directory only if it is a given one; but whoever can put another
 * empty directory under that name could remove it as well: in a directory
 * with the sticky bit nobody else may rename ours, in one without it anyone
 * who may write there may remove empty directories.
 */
static void place_close(struct place *pl)
{
	struct stat st;

	if (pl->priv >= 0) {
		if (fstatat(pl->dir, pl->priv_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    same_file(&st, &pl->priv_st))
			unlinkat(pl->dir, pl->priv_name, AT_REMOVEDIR);
		close(pl->priv);
	}
	if (pl->dir >= 0)
		close(pl->dir);
}

/*
 * Move a name from the private directory to nname in nfd, failing with
 * EEXIST if nname exists. A file system without RENAME_NOREPLACE gets
 * link(), which fails the same way, and the old name is removed after.
 */
static int move_noreplace(const struct place *pl, const char *oname, int nfd, const char *nname)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(pl->priv, oname, nfd, nname, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
#endif
	if (linkat(pl->priv, oname, nfd, nname, 0) < 0)
		return -errno;
	unlinkat(pl->priv, oname, 0);
	return 0;
}

/*
 * Removals in one directory are serialised among the library's callers, so
 * that none takes a file to check it just as another has put its own socket
 * there (and then may not be able to put it back). Anyone who may read the
 * directory can hold the lock, so it is a courtesy: after LOCK_WAIT_MS, and
 * in a directory we cannot read or lock, the call goes on without it.
 * Returns the fd holding the lock, or -1.
 */
static int lock_dir(const struct place *pl)
{
	const struct timespec ms = { 0, 1000000 };
	struct fdp_deadline dl;
	int fd = openat(pl->dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	fdp_deadline_init(&dl, LOCK_WAIT_MS);
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || fdp_deadline_left(&dl) == 0) {
			close(fd);
			return -1;
		}
		nanosleep(&ms, NULL);
	}
	return fd;
}

/*
 * May the entry name of dirfd go? 1 if it is the file *want or, want NULL,
 * a stale socket file (probed at sa); 0 if there is no entry; -EEXIST for
 * another file, -EADDRINUSE for a socket in use, or an error.
 */
static int removable(int dirfd, const char *name, const struct stat *want,
		     const struct sockaddr_un *sa, socklen_t salen)
{
	struct stat st;
	int stale;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (want)
		return same_file(&st, want) ? 1 : -EEXIST;
	stale = address_is_stale(sa, salen);
	return stale < 0 ? stale : stale ? 1 : -EADDRINUSE;
}

/*
 * Remove the entry at pl->name if removable() says so, in place (so that a
 * live listener is never moved, not even for a moment) and again once it
 * is in the private directory, where it can no longer change: only what
 * passed that check is removed. Anything else goes back; if its name has
 * been taken meanwhile it stays in the private directory, which is then
 * not removed. sa is the address at which to probe it in place. Returns 0
 * if removed or if nothing was there, or removable()'s error.
 */
static int remove_if(struct place *pl, const struct stat *want, const struct sockaddr_un *sa,
		     socklen_t salen)
{
	struct sockaddr_un taken;
	socklen_t takenlen = 0;
	int lock = lock_dir(pl), r = 0;

	if (!want && (r = private_address(pl, TAKEN_NAME, &taken, &takenlen)) < 0)
		goto out;
	if ((r = removable(pl->dir, pl->name, want, sa, salen)) != 1)
		goto out;
	if (renameat(pl->dir, pl->name, pl->priv, TAKEN_NAME) < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	r = removable(pl->priv, TAKEN_NAME, want, &taken, takenlen);
	if (r == 1 && unlinkat(pl->priv, TAKEN_NAME, 0) == 0) {
		r = 0;
	} else {
		if (r == 1)
			r = -errno;
		if (move_noreplace(pl, TAKEN_NAME, pl->dir, pl->name) < 0 && r >= 0)
			r = -EADDRINUSE;
	}
out:
	if (lock >= 0)
		close(lock);
	return r;
}

/*
 * Bind fd in a private directory, set the mode, listen, then move the
 * socket file to path, replacing a stale socket file there. *st gets the
 * socket file's device and inode.
 */
static int listen_file(int fd, const char *path, const struct sockaddr_un *sa, socklen_t salen,
		       int mode, struct stat *st)
{
	struct sockaddr_un bound;
	socklen_t boundlen;
	struct place pl;
	struct stat own;
	int r, tries = 0;

	if ((r = place_open(&pl, path)) < 0 || (r = private_make(&pl)) < 0 ||
	    (r = private_address(&pl, BOUND_NAME, &bound, &boundlen)) < 0)
		goto out;
	if (bind(fd, (const struct sockaddr *)&bound, boundlen) < 0) {
		/* ENOENT: another writer of the directory removed the private one. */
		r = errno == ENOENT ? -EADDRINUSE : -errno;
		goto out;
	}
	/* Bound by path (no /proc), it may have landed elsewhere. */
	if (fstatat(pl.priv, BOUND_NAME, &own, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(own.st_mode))
		r = -EADDRINUSE;
	else if (mode != -1 && fchmodat(pl.priv, BOUND_NAME, (mode_t)mode, 0) < 0)
		r = -errno;
	else if (listen(fd, SOMAXCONN) < 0)
		r = -errno;
	while (r == 0 && (r = move_noreplace(&pl, BOUND_NAME, pl.dir, pl.name)) == -EEXIST) {
		if (++tries > 3)
			r = -EADDRINUSE; /* the file kept coming back */
		else
			r = remove_if(&pl, NULL, sa, salen);
	}
	if (r < 0)
		unlinkat(pl.priv, BOUND_NAME, 0); /* only we write there */
	else if (st)
		*st = own;
out:
	place_close(&pl);
	return r;
}

int fdp_listen(const char *path, int mode, int flags, struct stat *st)
{
	struct sockaddr_un sa;
	socklen_t salen;
	int fd, r;

	if ((flags & ~SOCKET_FLAGS) || mode < -1 || mode > 07777)
		return -EINVAL;
	if ((r = make_address(path, &sa, &salen)) < 0)
		return r;
	if ((fd = new_socket(flags, flags & FDPASS_NONBLOCK)) < 0)
		return fd;
	if (sa.sun_path[0] != '\0')
		r = listen_file(fd, path, &sa, salen, mode, st);
	else if (bind(fd, (const struct sockaddr *)&sa, salen) < 0 || listen(fd, SOMAXCONN) < 0)
		r = -errno;
	return r < 0 ? close_with(fd, r) : fd;
}

FDPASS_EXPORT int fdpass_listen(const char *path, int mode, int flags)
{
	return fdp_listen(path, mode, flags, NULL);
}

int fdp_unlink_if_same(const char *path, const struct stat *st)
{
	struct place pl;
	int r;

	if (strlen(path) >= sizeof(pl.dir_path))
		return -ENAMETOOLONG;
	if ((r = place_open(&pl, path)) == 0 && (r = private_make(&pl)) == 0)
		r = remove_if(&pl, st, NULL, 0);
	place_close(&pl);
	return r;
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
