// SPDX-License-Identifier: MIT
/*
 * fdpass_send/recv and fdpass_send_fds/recv_fds over real sockets and real
 * processes, with every trap of the field forced. Each test runs with an
 * fd-leak check (TL_TEST).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

/* Write s into fd and read it back from the other end of the pipe. */
static void assert_pipe_carries(int wfd, int rfd, const char *s)
{
	char buf[64] = { 0 };
	size_t len = strlen(s);

	assert_int_equal(write(wfd, s, len), (ssize_t)len);
	assert_int_equal(read(rfd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, s, len);
}

static void assert_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	assert_true(fl >= 0);
	assert_true(fl & FD_CLOEXEC);
}

/* ---- one fd from a child process --------------------------------------- */

struct identity {
	dev_t dev;
	ino_t ino;
};

static int child_sends_pipe(void *arg)
{
	int sock = *(int *)arg, p[2];
	struct stat st;
	struct identity id;
	char buf[16] = { 0 };

	if (pipe(p) < 0 || fstat(p[1], &st) < 0)
		return 10;
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	if (fdpass_send(sock, p[1]) != 0)
		return 11;
	close(p[1]);
	/* Tell the parent which file it should have got. */
	if (write(sock, &id, sizeof(id)) != (ssize_t)sizeof(id))
		return 12;
	/* The parent writes through its copy; it arrives here. */
	if (read(p[0], buf, sizeof(buf)) != 5 || memcmp(buf, "hello", 5))
		return 13;
	return 0;
}

static void test_send_recv_across_fork(void **state)
{
	int sv[2], fd = -7;
	struct identity id;
	struct stat st;
	pid_t pid;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	pid = tl_fork(child_sends_pipe, &sv[1]);
	close(sv[1]);
	assert_int_equal(fdpass_recv(sv[0], &fd), 1);
	assert_true(fd >= 0);
	assert_cloexec(fd);
	assert_int_equal(read(sv[0], &id, sizeof(id)), (ssize_t)sizeof(id));
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_dev == id.dev && st.st_ino == id.ino);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	tl_wait_child(pid);
	/* The child is gone: orderly end of stream. */
	assert_int_equal(fdpass_recv(sv[0], &fd), 0);
	assert_int_equal(fd, -1);
	close(sv[0]);
}

/* Exactly httpd's bytes on the wire: one '\0' and one fd in CMSG_LEN(int). */
static void test_send_wire_format(void **state)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	int sv[2], p[2], got;
	char data[8];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;

	(void)state;
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	assert_int_equal(recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC), 1);
	assert_int_equal(data[0], '\0');
	assert_int_equal(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC), 0);
	c = CMSG_FIRSTHDR(&msg);
	assert_non_null(c);
	assert_int_equal(c->cmsg_level, SOL_SOCKET);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
	assert_null(CMSG_NXTHDR(&msg, c));
	memcpy(&got, CMSG_DATA(c), sizeof(int));
	assert_true(tl_same_file(got, p[1]));
	close(got);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* httpd's own send path: cmsg_len computed by hand, one byte, one fd. */
static void test_recv_httpd_message(void **state)
{
	union {
		struct cmsghdr align;
		char buf[sizeof(struct cmsghdr) + sizeof(int) + 8];
	} control;
	int sv[2], p[2], fd;
	char byte = '\0';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	memset(&control, 0, sizeof(control));
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(struct cmsghdr) + sizeof(int);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = msg.msg_controllen;
	memcpy(CMSG_DATA(c), &p[1], sizeof(int));
	assert_int_equal(sendmsg(sv[0], &msg, 0), 1);
	close(sv[0]); /* httpd closes its connection right after */

	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	assert_pipe_carries(fd, p[0], "via httpd");
	close(fd);
	assert_int_equal(fdpass_recv(sv[1], &fd), 0);
	assert_int_equal(fd, -1);
	close(p[0]);
	close(p[1]);
	close(sv[1]);
}

/* ---- malformed messages: distinct errors, nothing leaked --------------- */

static void test_recv_no_fd(void **state)
{
	int sv[2], fd = 5;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_raw_send(sv[0], "", 1, NULL, 0);
	assert_int_equal(fdpass_recv(sv[1], &fd), -ENOMSG);
	assert_int_equal(fd, -1);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_two_fds(void **state)
{
	int sv[2], p[2], fd = 5, type;

	(void)state;
	for (type = 0; type < 2; type++) {
		tl_socketpair(type ? SOCK_SEQPACKET : SOCK_STREAM, sv);
		make_pipe(p);
		tl_raw_send(sv[0], "", 1, p, 2);
		close(p[0]);
		close(p[1]);
		/* Both arrived, both were closed: the leak check proves it. */
		assert_int_equal(fdpass_recv(sv[1], &fd), -ETOOMANYREFS);
		assert_int_equal(fd, -1);
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_recv_bad_byte(void **state)
{
	int sv[2], p[2], fd = 5;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	tl_raw_send(sv[0], "x", 1, &p[1], 1);
	assert_int_equal(fdpass_recv(sv[1], &fd), -EBADMSG);
	assert_int_equal(fd, -1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* A zero-length packet can carry fds: it is not a message, and not EOF. */
static void test_recv_empty_packet_with_fd(void **state)
{
	int sv[2], p[2], fd = 5, got = 5;
	size_t n = 1;
	char byte;

	(void)state;
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	tl_raw_send(sv[0], "", 0, &p[1], 1);
	tl_raw_send(sv[0], "", 0, &p[1], 1);
	assert_int_equal(fdpass_recv(sv[1], &fd), -EBADMSG);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, &byte, 1, 0, -1), -EBADMSG);
	assert_int_equal(n, 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_credentials_mixed_in(void **state)
{
	int sv[2], p[2], fd = 5, one = 1;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	make_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	assert_int_equal(fdpass_recv(sv[1], &fd), -EPROTO);
	assert_int_equal(fd, -1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_packet_too_long(void **state)
{
	int sv[2], p[2], fd = 5;

	(void)state;
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	tl_raw_send(sv[0], "\0\0", 2, &p[1], 1);
	assert_int_equal(fdpass_recv(sv[1], &fd), -EMSGSIZE);
	assert_int_equal(fd, -1);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* In a child, so that the lowered limit ends with it. */
static int child_recvs_at_limit(void *arg)
{
	int sock = *(int *)arg, fd = 5, fds[2] = { -1, -1 }, r;
	size_t n = 2;
	char byte;

	/* No room at all: the kernel drops the fd and sets MSG_CTRUNC. */
	if ((r = tl_limit_fds(0)) != 0)
		return r;
	if (fdpass_recv(sock, &fd) != -EXFULL || fd != -1)
		return 10;
	/* Room for one of two: the one that arrived is closed too. */
	if ((r = tl_limit_fds(1)) != 0)
		return r;
	if (fdpass_recv_fds(sock, fds, &n, &byte, 1, 0, -1) != -EXFULL || n != 0)
		return 11;
	return 0;
}

static void test_recv_at_fd_limit(void **state)
{
	int sv[2], p[2], status;
	pid_t pid;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	tl_raw_send(sv[0], "", 1, p, 2);
	pid = tl_fork(child_recvs_at_limit, &sv[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_recv_fds_more_than_room(void **state)
{
	int sv[2], p[2], fds[3], got[2] = { -1, -1 };
	size_t n = 2;
	char buf[4];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = p[0];
	assert_int_equal(fdpass_send_fds(sv[0], fds, 3, "abc", 3, 0, -1), 3);
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), 0, -1), -ETOOMANYREFS);
	assert_int_equal(n, 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* ---- the many-fds calls ------------------------------------------------- */

static void test_send_recv_fds_payload(void **state)
{
	int type;

	(void)state;
	for (type = 0; type < 2; type++) {
		int sv[2], p[2], fds[2], got[4] = { -1, -1, -1, -1 };
		size_t n = 4;
		char buf[32] = { 0 };

		tl_socketpair(type ? SOCK_SEQPACKET : SOCK_STREAM, sv);
		make_pipe(p);
		fds[0] = p[1];
		fds[1] = p[0];
		assert_int_equal(fdpass_send_fds(sv[0], fds, 2, "payload", 7, 0, 1000), 7);
		assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), 0, 1000), 7);
		assert_memory_equal(buf, "payload", 7);
		assert_int_equal(n, 2);
		assert_true(tl_same_file(got[0], p[1]));
		assert_true(tl_same_file(got[1], p[0]));
		assert_cloexec(got[0]);
		assert_cloexec(got[1]);
		assert_pipe_carries(got[0], got[1], "through both");

		/* Data only, no fds, is a message too. */
		assert_int_equal(fdpass_send_fds(sv[0], NULL, 0, "x", 1, 0, -1), 1);
		n = 4;
		assert_int_equal(fdpass_recv_fds(sv[1], got + 2, &n, buf, sizeof(buf), 0, -1), 1);
		assert_int_equal(n, 0);

		close(got[0]);
		close(got[1]);
		close(p[0]);
		close(p[1]);
		close(sv[0]);
		close(sv[1]);
	}
}

static void test_max_fds(void **state)
{
	int sv[2], p[2], fds[FDPASS_MAX_FDS + 1], got[FDPASS_MAX_FDS + 1];
	size_t n = FDPASS_MAX_FDS + 1, i;
	char byte;
	struct rlimit rl;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 1024)
		skip();
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	for (i = 0; i <= FDPASS_MAX_FDS; i++)
		fds[i] = p[i % 2];
	assert_int_equal(fdpass_send_fds(sv[0], fds, FDPASS_MAX_FDS + 1, "", 1, 0, -1), -E2BIG);
	assert_int_equal(fdpass_send_fds(sv[0], fds, FDPASS_MAX_FDS, "", 1, 0, -1), 1);
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, &byte, 1, 0, -1), 1);
	assert_int_equal(n, FDPASS_MAX_FDS);
	for (i = 0; i < n; i++) {
		assert_true(tl_same_file(got[i], p[i % 2]));
		close(got[i]);
	}
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

struct big {
	int sock;
	size_t len;
};

/* Reads one fd and a large payload in one FDPASS_WAITALL call. */
static int child_reads_big(void *arg)
{
	struct big *b = arg;
	unsigned char *buf = malloc(b->len);
	int fd = -1;
	size_t n = 1, i;

	if (!buf)
		return 10;
	usleep(50 * 1000); /* let the sender fill the socket first */
	if (fdpass_recv_fds(b->sock, &fd, &n, buf, b->len, FDPASS_WAITALL, 10000) != (ssize_t)b->len)
		return 11;
	if (n != 1 || fd < 0)
		return 12;
	for (i = 0; i < b->len; i++)
		if (buf[i] != (unsigned char)(i * 7))
			return 13;
	close(fd);
	free(buf);
	return 0;
}

static void test_large_payload_stream(void **state)
{
	struct big b = { .len = 4 << 20 };
	unsigned char *data = malloc(b.len);
	int sv[2], p[2];
	size_t i;
	pid_t pid;

	(void)state;
	assert_non_null(data);
	for (i = 0; i < b.len; i++)
		data[i] = (unsigned char)(i * 7);
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	b.sock = sv[1];
	pid = tl_fork(child_reads_big, &b);
	close(sv[1]);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, data, b.len, 0, 10000), (ssize_t)b.len);
	tl_wait_child(pid);
	free(data);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
}

static void test_waitall_eof_mid_message(void **state)
{
	int sv[2], p[2], got = -1;
	size_t n = 1;
	char buf[10];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, "12345", 5, 0, -1), 5);
	close(sv[0]); /* the peer dies after half the message */
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL, 1000),
			 -ECONNRESET);
	assert_int_equal(n, 0);
	close(p[0]);
	close(p[1]);
	close(sv[1]);
}

/* Sends part of a message, then, once it has been read, fds with the rest. */
static int child_sends_fds_late(void *arg)
{
	int sock = *(int *)arg, p[2];

	if (pipe(p) < 0 || fdpass_send_fds(sock, NULL, 0, "12345", 5, 0, -1) != 5)
		return 10;
	usleep(200 * 1000);
	return fdpass_send_fds(sock, p, 2, "67890", 5, 0, -1) == 5 ? 0 : 11;
}

static void test_waitall_fds_after_first_byte(void **state)
{
	int sv[2], got = -1;
	size_t n = 1;
	char buf[10];
	pid_t pid;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	pid = tl_fork(child_sends_fds_late, &sv[0]);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL, 5000),
			 -EBADMSG);
	assert_int_equal(n, 0);
	tl_wait_child(pid);
	close(sv[0]);
	close(sv[1]);
}

/* On packet sockets FDPASS_WAITALL does not join packets. */
static void test_waitall_on_packets(void **state)
{
	int sv[2], p[2], got = -1;
	size_t n = 1;
	char buf[8];

	(void)state;
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, "ab", 2, 0, -1), 2);
	assert_int_equal(fdpass_send_fds(sv[0], NULL, 0, "cd", 2, 0, -1), 2);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL, 100), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(n, 1);
	close(got);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_seqpacket_truncated(void **state)
{
	int sv[2], p[2], got = -1;
	size_t n = 1;
	char buf[4];

	(void)state;
	tl_socketpair(SOCK_SEQPACKET, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, "too long", 8, 0, -1), 8);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, sizeof(buf), 0, -1), -EMSGSIZE);
	assert_int_equal(n, 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

/* ---- blocking, non-blocking, deadlines, signals ------------------------ */

/* Fill a non-blocking socket until the kernel refuses more. */
static size_t fill_socket(int sock)
{
	static char junk[4096];
	size_t total = 0;
	ssize_t n;

	memset(junk, 'j', sizeof(junk));
	while ((n = send(sock, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	while ((n = send(sock, junk, 1, MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

static void test_eagain_and_timeouts(void **state)
{
	int sv[2], p[2], fd = 5, got = -1;
	size_t n = 1;
	char buf[4];

	(void)state;
	tl_socketpair(SOCK_STREAM | SOCK_NONBLOCK, sv);
	make_pipe(p);

	/* Nothing to receive. */
	assert_int_equal(fdpass_recv(sv[1], &fd), -EAGAIN);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, 1, 0, 0), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, 1, 0, 50), -ETIMEDOUT);
	assert_int_equal(n, 0);

	/* Nothing can be sent. */
	fill_socket(sv[0]);
	assert_int_equal(fdpass_send(sv[0], p[0]), -EAGAIN);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, "", 1, FDPASS_NONBLOCK, 1000), -EAGAIN);
	assert_int_equal(fdpass_send_fds(sv[0], &p[0], 1, "", 1, 0, 50), -ETIMEDOUT);

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_nonblock_flag_on_blocking_socket(void **state)
{
	int sv[2], got = -1;
	size_t n = 1;
	char buf[1];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, 1, FDPASS_NONBLOCK, -1), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_fds(sv[1], &got, &n, buf, 1, 0, 30), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
}

static volatile sig_atomic_t alarms;
static int alarm_w = -1; /* where the handler tells a child that the alarm came */

static void on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	alarms++;
	if (alarm_w >= 0)
		(void)!send(alarm_w, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	errno = saved;
}

/*
 * SIGALRM without SA_RESTART, ms from now: every blocking call sees EINTR.
 * A child that is to act after the interruption waits for the handler's
 * word on told[0] (a socket pair the caller closes).
 */
static void arm_alarm(int ms, int told[2])
{
	struct sigaction sa;
	struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = ms * 1000 } };

	tl_socketpair(SOCK_STREAM, told);
	alarm_w = told[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void disarm_alarm(int told[2])
{
	/*
	 * Ignored, not back to the default: a SIGALRM raised just before the
	 * timer stopped may still be on its way (valgrind delivers signals
	 * late), and its default action would kill the test.
	 */
	signal(SIGALRM, SIG_IGN);
	alarm_w = -1;
	close(told[0]);
	close(told[1]);
}

/* The word that the parent's SIGALRM handler ran (child-safe: 0 or -1). */
static int await_alarm(int told)
{
	char c;

	/* The parent's end, which would keep a child waiting after it died. */
	if (alarm_w >= 0) {
		close(alarm_w);
		alarm_w = -1;
	}
	return read(told, &c, 1) == 1 ? 0 : -1;
}

struct late {
	int sock, told;
};

/* Sends an fd once the parent's call was interrupted. */
static int child_sends_after_alarm(void *arg)
{
	const struct late *l = arg;
	int p[2];

	if (pipe(p) < 0 || await_alarm(l->told) < 0)
		return 10;
	return fdpass_send(l->sock, p[1]) == 0 ? 0 : 11;
}

static void test_eintr_recv(void **state)
{
	int sv[2], told[2], fd = -1;
	struct late l;
	size_t n = 1;
	char byte;
	pid_t pid;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	arm_alarm(50, told);
	l = (struct late){ sv[0], told[0] };
	pid = tl_fork(child_sends_after_alarm, &l);
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	assert_int_equal(alarms, 1);
	close(fd);
	tl_wait_child(pid);
	disarm_alarm(told);

	/* The same with a deadline: EINTR does not restart the clock. */
	arm_alarm(50, told);
	l = (struct late){ sv[0], told[0] };
	pid = tl_fork(child_sends_after_alarm, &l);
	assert_int_equal(fdpass_recv_fds(sv[1], &fd, &n, &byte, 1, 0, 5000), 1);
	assert_int_equal(alarms, 1);
	assert_int_equal(n, 1);
	close(fd);
	tl_wait_child(pid);
	disarm_alarm(told);
	close(sv[0]);
	close(sv[1]);
}

/* Drains the stuffed socket once told; the fd must come with the last byte. */
static int child_drains_after_alarm(void *arg)
{
	const struct late *l = arg;
	int round;

	for (round = 0; round < 2; round++) {
		if (await_alarm(l->told) < 0)
			return 9;
		for (;;) {
			char buf[4096];
			int fd = -1;
			size_t n = 1, i;
			ssize_t r = fdpass_recv_fds(l->sock, &fd, &n, buf, sizeof(buf), 0, 5000);

			if (r <= 0)
				return 10;
			for (i = 0; i + 1 < (size_t)r; i++)
				if (buf[i] != 'j')
					return 11;
			if (n == 0) {
				if (buf[r - 1] != 'j')
					return 12;
				continue;
			}
			close(fd);
			if (buf[r - 1] != '\0')
				return 13;
			break;
		}
	}
	return 0;
}

static void test_eintr_send(void **state)
{
	int sv[2], p[2], told[2], fl;
	struct late l;
	pid_t pid;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	/* One pair for both rounds: the child waits for a word before each. */
	arm_alarm(50, told);
	l = (struct late){ sv[1], told[0] };
	pid = tl_fork(child_drains_after_alarm, &l);
	close(sv[1]);
	fl = fcntl(sv[0], F_GETFL);
	assert_int_equal(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), 0);
	fill_socket(sv[0]);
	assert_int_equal(fcntl(sv[0], F_SETFL, fl), 0);

	/* Blocks until the child drains, which it does once SIGALRM interrupted it. */
	assert_int_equal(fdpass_send(sv[0], p[0]), 0);
	assert_int_equal(alarms, 1);

	/* Again with a deadline, so that the wait is in poll(). */
	assert_int_equal(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), 0);
	fill_socket(sv[0]);
	assert_int_equal(fcntl(sv[0], F_SETFL, fl), 0);
	{
		struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 50 * 1000 } };

		alarms = 0;
		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	}
	assert_int_equal(fdpass_send_fds(sv[0], &p[1], 1, "", 1, 0, 5000), 1);
	assert_int_equal(alarms, 1);

	tl_wait_child(pid);
	disarm_alarm(told);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
}

/* ---- errors of the send side ------------------------------------------- */

static void test_dead_peer_no_sigpipe(void **state)
{
	int sv[2], p[2];

	(void)state;
	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	close(sv[1]);
	assert_int_equal(fdpass_send(sv[0], p[0]), -EPIPE);
	assert_int_equal(fdpass_send_fds(sv[0], p, 2, "ab", 2, 0, 100), -EPIPE);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
}

static void test_send_bad_arguments(void **state)
{
	int sv[2], p[2], bad[2];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	bad[0] = p[0];
	bad[1] = -1;
	assert_int_equal(fdpass_send(sv[0], -1), -EBADF);
	assert_int_equal(fdpass_send(sv[0], 999), -EBADF);
	assert_int_equal(fdpass_send(-1, p[0]), -EBADF);
	assert_int_equal(fdpass_send(p[0], p[1]), -ENOTSOCK);
	assert_int_equal(fdpass_send_fds(sv[0], p, 1, "", 0, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sv[0], p, 1, NULL, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sv[0], NULL, 1, "", 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sv[0], p, 1, "", 1, 0x100, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sv[0], p, 1, "", 1, FDPASS_WAITALL, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sv[0], bad, 2, "", 1, 0, -1), -EBADF);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_bad_arguments(void **state)
{
	int sv[2], fd = 3, fds[1];
	size_t n = 1;
	char buf[1];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_recv(sv[0], NULL), -EINVAL);
	assert_int_equal(fdpass_recv(-1, &fd), -EBADF);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(sv[0], fds, NULL, buf, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sv[0], NULL, &n, buf, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sv[0], fds, &n, NULL, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sv[0], fds, &n, buf, 0, 0, -1), -EINVAL);
	assert_int_equal(n, 0); /* zeroed on every failure */
	n = 1;
	assert_int_equal(fdpass_recv_fds(sv[0], fds, &n, buf, 1, 0x100, -1), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

/* ---- close-on-exec survives exec ---------------------------------------- */

static int child_execs_helper(void *arg)
{
	int fd = *(int *)arg;
	char num[16];

	snprintf(num, sizeof(num), "%d", fd);
	execl(tl_env("FDPASS_EXEC_HELPER"), "exec-helper", num, (char *)NULL);
	return 127;
}

static void test_cloexec_across_exec(void **state)
{
	int sv[2], p[2], fd = -1, fds[2] = { -1, -1 };
	size_t n = 2;
	char byte;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	make_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[0]), 0);
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	tl_wait_child(tl_fork(child_execs_helper, &fd));
	close(fd);

	assert_int_equal(fdpass_send_fds(sv[0], p, 2, "", 1, 0, -1), 1);
	assert_int_equal(fdpass_recv_fds(sv[1], fds, &n, &byte, 1, 0, -1), 1);
	tl_wait_child(tl_fork(child_execs_helper, &fds[0]));
	tl_wait_child(tl_fork(child_execs_helper, &fds[1]));
	close(fds[0]);
	close(fds[1]);

	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_version_and_strerror(void **state)
{
	char expect[32];

	(void)state;
	snprintf(expect, sizeof(expect), "%d.%d.%d", FDPASS_VERSION_MAJOR,
		 FDPASS_VERSION_MINOR, FDPASS_VERSION_MICRO);
	assert_string_equal(fdpass_version(), expect);
	assert_string_equal(fdpass_strerror(-EXFULL), fdpass_strerror(EXFULL));
	assert_non_null(strstr(fdpass_strerror(-EXFULL), "open-file limit"));
	assert_non_null(strstr(fdpass_strerror(-ENOMSG), "no file descriptor"));
	assert_string_equal(fdpass_strerror(-EACCES), strerror(EACCES));
	/* Static strings, even for codes nobody knows. */
	{
		const char *a = fdpass_strerror(-4242), *b;
		char copy[128];

		snprintf(copy, sizeof(copy), "%s", a);
		b = fdpass_strerror(-4243);
		assert_string_equal(a, copy);
		assert_non_null(b);
		assert_non_null(fdpass_strerror(-2147483647 - 1));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_TEST(test_send_recv_across_fork),
		TL_TEST(test_send_wire_format),
		TL_TEST(test_recv_httpd_message),
		TL_TEST(test_recv_no_fd),
		TL_TEST(test_recv_two_fds),
		TL_TEST(test_recv_bad_byte),
		TL_TEST(test_recv_empty_packet_with_fd),
		TL_TEST(test_recv_credentials_mixed_in),
		TL_TEST(test_waitall_on_packets),
		TL_TEST(test_recv_packet_too_long),
		TL_TEST(test_recv_at_fd_limit),
		TL_TEST(test_recv_fds_more_than_room),
		TL_TEST(test_send_recv_fds_payload),
		TL_TEST(test_max_fds),
		TL_TEST(test_large_payload_stream),
		TL_TEST(test_waitall_eof_mid_message),
		TL_TEST(test_waitall_fds_after_first_byte),
		TL_TEST(test_seqpacket_truncated),
		TL_TEST(test_eagain_and_timeouts),
		TL_TEST(test_nonblock_flag_on_blocking_socket),
		TL_TEST(test_eintr_recv),
		TL_TEST(test_eintr_send),
		TL_TEST(test_dead_peer_no_sigpipe),
		TL_TEST(test_send_bad_arguments),
		TL_TEST(test_recv_bad_arguments),
		TL_TEST(test_cloexec_across_exec),
		TL_TEST(test_version_and_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
