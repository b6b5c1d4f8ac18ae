// SPDX-License-Identifier: MIT
/* fdpass_connect, fdpass_listen and fdpass_peercred on real sockets. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

/* A unique abstract name, so that parallel runs do not collide. */
static void abstract_name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "@fdpass-test-%ld-%s", (long)getpid(), what);
}

static int is_nonblock(int fd)
{
	return (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
}

static int socket_type(int fd)
{
	int type = -1;
	socklen_t len = sizeof(type);

	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	return type;
}

/* Connect, accept, and pass an fd across: the pair really works. */
static void assert_pair_passes_fds(int lfd, int cfd)
{
	int afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), p[2], got = -1;

	assert_true(afd >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(fdpass_send(cfd, p[1]), 0);
	assert_int_equal(fdpass_recv(afd, &got), 1);
	assert_true(tl_same_file(got, p[1]));
	close(got);
	close(p[0]);
	close(p[1]);
	close(afd);
}

static void test_listen_connect_path(void **state)
{
	char path[300];
	struct stat st;
	int lfd, cfd;

	tl_path_in(path, sizeof(path), state, "s.sock");
	lfd = fdpass_listen(path, 0600, 0);
	assert_true(lfd >= 0);
	assert_true(tl_is_cloexec(lfd));
	assert_false(is_nonblock(lfd));
	assert_int_equal(socket_type(lfd), SOCK_STREAM);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);

	cfd = fdpass_connect(path, 0, 1000);
	assert_true(cfd >= 0);
	assert_true(tl_is_cloexec(cfd));
	assert_false(is_nonblock(cfd));
	assert_pair_passes_fds(lfd, cfd);
	close(cfd);
	close(lfd);
}

static void test_listen_mode_kept_when_minus_one(void **state)
{
	char path[300];
	struct stat st;
	mode_t old = umask(022);
	int lfd;

	tl_path_in(path, sizeof(path), state, "m.sock");
	lfd = fdpass_listen(path, -1, 0);
	umask(old);
	assert_true(lfd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	close(lfd);

	/* Another mode, on the socket file that is now stale. */
	lfd = fdpass_listen(path, 0660, 0);
	assert_true(lfd >= 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0660);
	close(lfd);
}

static void test_seqpacket_and_nonblock(void **state)
{
	char path[300];
	int lfd, cfd;

	tl_path_in(path, sizeof(path), state, "q.sock");
	lfd = fdpass_listen(path, -1, FDPASS_SEQPACKET | FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	assert_int_equal(socket_type(lfd), SOCK_SEQPACKET);
	assert_true(is_nonblock(lfd));
	/* A stream socket cannot connect to a packet listener. */
	assert_int_equal(fdpass_connect(path, 0, 1000), -EPROTOTYPE);
	cfd = fdpass_connect(path, FDPASS_SEQPACKET | FDPASS_NONBLOCK, 1000);
	assert_true(cfd >= 0);
	assert_int_equal(socket_type(cfd), SOCK_SEQPACKET);
	assert_true(is_nonblock(cfd));
	assert_pair_passes_fds(lfd, cfd);
	close(cfd);
	close(lfd);
}

static void test_connect_errors(void **state)
{
	char path[300];
	int fd;

	tl_path_in(path, sizeof(path), state, "absent.sock");
	assert_int_equal(fdpass_connect(path, 0, 1000), -ENOENT);
	assert_int_equal(fdpass_connect(NULL, 0, 1000), -EINVAL);
	assert_int_equal(fdpass_connect("", 0, 1000), -EINVAL);
	assert_int_equal(fdpass_connect("@", 0, 1000), -EINVAL);
	assert_int_equal(fdpass_connect(path, 0x100, 1000), -EINVAL);
	assert_int_equal(fdpass_connect(path, FDPASS_WAITALL, 1000), -EINVAL);

	/* A socket file nobody listens on any more. */
	tl_path_in(path, sizeof(path), state, "stale.sock");
	fd = fdpass_listen(path, -1, 0);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdpass_connect(path, 0, 1000), -ECONNREFUSED);

	/* A file that is not a socket. */
	tl_path_in(path, sizeof(path), state, "plain");
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdpass_connect(path, 0, 1000), -ECONNREFUSED);
}

static void test_path_length(void **state)
{
	struct sockaddr_un sa;
	char path[300], name[300];
	size_t room = sizeof(sa.sun_path), base;
	int lfd, cfd;

	/* Longest that fits: sun_path less its terminating NUL. */
	tl_path_in(path, sizeof(path), state, "");
	base = strlen(path);
	assert_true(base < room - 1);
	memset(path + base, 'x', room - 1 - base);
	path[room - 1] = '\0';
	lfd = fdpass_listen(path, -1, 0);
	assert_true(lfd >= 0);
	cfd = fdpass_connect(path, 0, 1000);
	assert_true(cfd >= 0);
	close(cfd);
	close(lfd);
	unlink(path);

	/* One more byte is an error, never a truncated path. */
	path[room - 1] = 'x';
	path[room] = '\0';
	assert_int_equal(fdpass_listen(path, -1, 0), -ENAMETOOLONG);
	assert_int_equal(fdpass_connect(path, 0, 1000), -ENAMETOOLONG);
	path[room - 1] = '\0';
	assert_int_equal(access(path, F_OK), -1);

	/* Abstract names may use every byte of sun_path after the NUL. */
	memset(name, 'a', sizeof(name));
	name[0] = '@';
	name[room] = '\0';
	snprintf(name + 1, 24, "%ld-", (long)getpid());
	name[strlen(name)] = 'a';
	assert_int_equal(strlen(name), room);
	lfd = fdpass_listen(name, -1, 0);
	assert_true(lfd >= 0);
	cfd = fdpass_connect(name, 0, 1000);
	assert_true(cfd >= 0);
	close(cfd);
	close(lfd);
	name[room] = 'a';
	name[room + 1] = '\0';
	assert_int_equal(fdpass_listen(name, -1, 0), -ENAMETOOLONG);
	assert_int_equal(fdpass_connect(name, 0, 1000), -ENAMETOOLONG);
}

static void test_abstract_names(void **state)
{
	char name[128], shorter[128];
	int lfd, cfd;

	(void)state;
	abstract_name(name, sizeof(name), "abs");
	lfd = fdpass_listen(name, 0600, 0);
	assert_true(lfd >= 0);
	assert_int_equal(fdpass_listen(name, -1, 0), -EADDRINUSE);
	cfd = fdpass_connect(name, 0, 1000);
	assert_true(cfd >= 0);
	assert_pair_passes_fds(lfd, cfd);
	close(cfd);
	/* Names are length-sensitive: a prefix is another name. */
	snprintf(shorter, sizeof(shorter), "%.*s", (int)strlen(name) - 1, name);
	assert_int_equal(fdpass_connect(shorter, 0, 1000), -ECONNREFUSED);
	close(lfd);
	assert_int_equal(fdpass_connect(name, 0, 1000), -ECONNREFUSED);
}

static void test_listen_replaces_stale_never_live(void **state)
{
	char path[300], plain[300];
	struct stat st;
	int lfd, lfd2, fd;

	tl_path_in(path, sizeof(path), state, "l.sock");
	lfd = fdpass_listen(path, -1, 0);
	assert_true(lfd >= 0);
	/* Live: refused, and the listener keeps working. */
	assert_int_equal(fdpass_listen(path, -1, 0), -EADDRINUSE);
	assert_int_equal(fdpass_listen(path, -1, FDPASS_SEQPACKET), -EADDRINUSE);
	/* The probes queued no connection on the listener. */
	assert_int_equal(poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1, 0), 0);
	fd = fdpass_connect(path, 0, 1000);
	assert_true(fd >= 0);
	assert_pair_passes_fds(lfd, fd);
	close(fd);
	close(lfd);

	/* Stale: replaced. */
	lfd2 = fdpass_listen(path, -1, 0);
	assert_true(lfd2 >= 0);
	fd = fdpass_connect(path, 0, 1000);
	assert_true(fd >= 0);
	assert_pair_passes_fds(lfd2, fd);
	close(fd);
	close(lfd2);

	/* Not a socket: never removed. */
	tl_path_in(plain, sizeof(plain), state, "data");
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdpass_listen(plain, -1, 0), -EEXIST);
	assert_int_equal(lstat(plain, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	assert_int_equal(fdpass_listen(path, 010000, 0), -EINVAL);
	assert_int_equal(fdpass_listen(path, -2, 0), -EINVAL);
	assert_int_equal(fdpass_listen(path, -1, 0x100), -EINVAL);
	assert_int_equal(fdpass_listen(NULL, -1, 0), -EINVAL);
	tl_path_in(plain, sizeof(plain), state, "no/such/dir.sock");
	assert_int_equal(fdpass_listen(plain, -1, 0), -ENOENT);
}

/* A listener with a backlog of 0 whose queue we fill ourselves. */
static void test_connect_timeout_backlog_full(void **state)
{
	char path[300];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd, queued[8], nq = 0, r, i;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		assert_true(fd >= 0);
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		if (r < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fd);
			break;
		}
		assert_true(nq < 8);
		queued[nq++] = fd;
	}
	assert_int_equal(fdpass_connect(path, 0, 0), -EAGAIN);
	assert_int_equal(fdpass_connect(path, 0, 100), -ETIMEDOUT);
	/* fdpass_listen sees a live listener there, not a stale file. */
	assert_int_equal(fdpass_listen(path, -1, 0), -EADDRINUSE);

	/* Once there is room again, the wait ends in a connection. */
	close(accept(lfd, NULL, NULL));
	r = fdpass_connect(path, 0, 1000);
	assert_true(r >= 0);
	close(r);
	for (i = 0; i < nq; i++)
		close(queued[i]);
	close(lfd);
}

static int child_connects(void *arg)
{
	int fd = fdpass_connect(arg, 0, 5000);
	char byte;

	if (fd < 0)
		TL_CHILD_FAIL("fdpass_connect(%s) = %d (%s)", (const char *)arg, fd,
			      fdpass_strerror(fd));
	/* Stay until the parent has asked who we are. */
	TL_CHILD_CHECK(read(fd, &byte, 1) >= 0);
	close(fd);
	return 0;
}

static void test_peercred(void **state)
{
	char path[300];
	int sv[2], lfd, afd;
	pid_t pid = 0, child;
	uid_t uid = 1;
	gid_t gid = 1;

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_peercred(sv[0], &pid, &uid, &gid), 0);
	assert_int_equal(pid, getpid());
	assert_int_equal(uid, getuid());
	assert_int_equal(gid, getgid());
	assert_int_equal(fdpass_peercred(sv[0], NULL, NULL, NULL), 0);
	close(sv[0]);
	close(sv[1]);

	tl_path_in(path, sizeof(path), state, "c.sock");
	lfd = fdpass_listen(path, -1, 0);
	assert_true(lfd >= 0);
	child = tl_fork(child_connects, path);
	afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(afd >= 0);
	assert_int_equal(fdpass_peercred(afd, &pid, NULL, NULL), 0);
	assert_int_equal(pid, child);
	close(afd);
	tl_wait_child(child);

	/* Not connected, not a socket: outputs untouched. */
	close(lfd);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	pid = 42;
	assert_int_equal(fdpass_peercred(lfd, &pid, &uid, &gid), -ENOTCONN);
	assert_int_equal(pid, 42);
	close(lfd);
	assert_int_equal(pipe2(sv, O_CLOEXEC), 0);
	assert_int_equal(fdpass_peercred(sv[0], &pid, &uid, &gid), -ENOTSOCK);
	assert_int_equal(pid, 42);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(fdpass_peercred(-1, &pid, NULL, NULL), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_listen_connect_path),
		TL_DIR_TEST(test_listen_mode_kept_when_minus_one),
		TL_DIR_TEST(test_seqpacket_and_nonblock),
		TL_DIR_TEST(test_connect_errors),
		TL_DIR_TEST(test_path_length),
		TL_DIR_TEST(test_abstract_names),
		TL_DIR_TEST(test_listen_replaces_stale_never_live),
		TL_DIR_TEST(test_connect_timeout_backlog_full),
		TL_DIR_TEST(test_peercred),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
