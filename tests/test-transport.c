// SPDX-License-Identifier: MIT
/*
 * fdpass_send/recv and fdpass_send_fds/recv_fds over real sockets and real
 * processes, with every trap of the field forced. Each test runs with an
 * fd-leak check, most over a socketpair and with a pipe to pass (TL_PAIR_TEST;
 * sv[0] sends, sv[1] receives).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define LONG 10000 /* the deadline of calls that must succeed: only a hang reaches it */

/* Write s into wfd and read it back from the other end of the pipe. */
static void assert_pipe_carries(int wfd, int rfd, const char *s)
{
	char buf[64] = { 0 };
	size_t len = strlen(s);

	assert_int_equal(write(wfd, s, len), (ssize_t)len);
	assert_int_equal(read(rfd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, s, len);
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

	TL_CHILD_CHECK(pipe(p) == 0 && fstat(p[1], &st) == 0);
	id.dev = st.st_dev;
	id.ino = st.st_ino;
	TL_CHILD_CHECK(fdpass_send(sock, p[1]) == 0);
	close(p[1]);
	/* Tell the parent which file it should have got. */
	TL_CHILD_CHECK(write(sock, &id, sizeof(id)) == (ssize_t)sizeof(id));
	/* The parent writes through its copy; it arrives here. */
	TL_CHILD_CHECK(read(p[0], buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);
	return 0;
}

static void test_send_recv_across_fork(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct identity id;
	struct stat st;
	int fd = -7;
	pid_t pid;

	pid = tl_fork(child_sends_pipe, &t->sv[0]);
	tl_pair_close(t, 0);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), 1);
	assert_true(fd >= 0);
	assert_true(tl_is_cloexec(fd));
	assert_int_equal(read(t->sv[1], &id, sizeof(id)), (ssize_t)sizeof(id));
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_dev == id.dev && st.st_ino == id.ino);
	assert_int_equal(write(fd, "hello", 5), 5);
	close(fd);
	tl_wait_child(pid);
	/* The child is gone: orderly end of stream. */
	assert_int_equal(fdpass_recv(t->sv[1], &fd), 0);
	assert_int_equal(fd, -1);
}

/* Exactly httpd's bytes on the wire: one '\0' and one fd in CMSG_LEN(int). */
static void test_send_wire_format(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got;

	assert_int_equal(fdpass_send(t->sv[0], t->pipe[1]), 0);
	got = tl_recv_httpd_message(t->sv[1], 0);
	assert_true(tl_same_file(got, t->pipe[1]));
	close(got);
}

/* httpd's own send path: cmsg_len computed by hand, one byte, one fd. */
static void test_recv_httpd_message(void **state)
{
	struct tl_pair *t = tl_pair(state);
	union {
		struct cmsghdr align;
		char buf[sizeof(struct cmsghdr) + sizeof(int) + 8];
	} control;
	int fd;
	char byte = '\0';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&control, 0, sizeof(control));
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(struct cmsghdr) + sizeof(int);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = msg.msg_controllen;
	memcpy(CMSG_DATA(c), &t->pipe[1], sizeof(int));
	assert_int_equal(sendmsg(t->sv[0], &msg, 0), 1);
	tl_pair_close(t, 0); /* httpd closes its connection right after */

	assert_int_equal(fdpass_recv(t->sv[1], &fd), 1);
	assert_pipe_carries(fd, t->pipe[0], "via httpd");
	close(fd);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), 0);
	assert_int_equal(fd, -1);
}

/* ---- malformed messages: distinct errors, nothing leaked --------------- */

static void test_recv_no_fd(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5;

	tl_raw_send(t->sv[0], "", 1, NULL, 0);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -ENOMSG);
	assert_int_equal(fd, -1);
}

static void test_recv_two_fds(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5;

	tl_raw_send(t->sv[0], "", 1, t->pipe, 2);
	/* Both arrived, both were closed: the leak check proves it. */
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -ETOOMANYREFS);
	assert_int_equal(fd, -1);
}

static void test_recv_bad_byte(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5;

	tl_raw_send(t->sv[0], "x", 1, &t->pipe[1], 1);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -EBADMSG);
	assert_int_equal(fd, -1);
}

/* A zero-length packet can carry fds: it is not a message, and not EOF. */
static void test_recv_empty_packet_with_fd(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5, got = 5;
	size_t n = 1;
	char byte;

	tl_raw_send(t->sv[0], "", 0, &t->pipe[1], 1);
	tl_raw_send(t->sv[0], "", 0, &t->pipe[1], 1);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -EBADMSG);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, &byte, 1, 0, -1), -EBADMSG);
	assert_int_equal(n, 0);
}

static void test_recv_credentials_mixed_in(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5, one = 1;

	assert_int_equal(setsockopt(t->sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	assert_int_equal(fdpass_send(t->sv[0], t->pipe[1]), 0);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -EPROTO);
	assert_int_equal(fd, -1);
}

static void test_recv_packet_too_long(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5;

	tl_raw_send(t->sv[0], "\0\0", 2, &t->pipe[1], 1);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -EMSGSIZE);
	assert_int_equal(fd, -1);
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
	TL_CHILD_CHECK(fdpass_recv(sock, &fd) == -EXFULL && fd == -1);
	/* Room for one of two: the one that arrived is closed too. */
	if ((r = tl_limit_fds(1)) != 0)
		return r;
	TL_CHILD_CHECK(fdpass_recv_fds(sock, fds, &n, &byte, 1, 0, -1) == -EXFULL && n == 0);
	return 0;
}

static void test_recv_at_fd_limit(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int r;

	assert_int_equal(fdpass_send(t->sv[0], t->pipe[1]), 0);
	tl_raw_send(t->sv[0], "", 1, t->pipe, 2);
	r = tl_child_result(tl_fork(child_recvs_at_limit, &t->sv[1]));
	if (r == 77)
		skip(); /* valgrind: RLIMIT_NOFILE is only emulated */
	assert_int_equal(r, 0);
}

static void test_recv_fds_more_than_room(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fds[3], got[2] = { -1, -1 };
	size_t n = 2;
	char buf[4];

	fds[0] = t->pipe[0];
	fds[1] = t->pipe[1];
	fds[2] = t->pipe[0];
	assert_int_equal(fdpass_send_fds(t->sv[0], fds, 3, "abc", 3, 0, -1), 3);
	assert_int_equal(fdpass_recv_fds(t->sv[1], got, &n, buf, sizeof(buf), 0, -1),
			 -ETOOMANYREFS);
	assert_int_equal(n, 0);
}

/* ---- the many-fds calls ------------------------------------------------- */

static void test_send_recv_fds_payload(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fds[2], got[4] = { -1, -1, -1, -1 };
	size_t n = 4;
	char buf[32] = { 0 };

	fds[0] = t->pipe[1];
	fds[1] = t->pipe[0];
	assert_int_equal(fdpass_send_fds(t->sv[0], fds, 2, "payload", 7, 0, 1000), 7);
	assert_int_equal(fdpass_recv_fds(t->sv[1], got, &n, buf, sizeof(buf), 0, 1000), 7);
	assert_memory_equal(buf, "payload", 7);
	assert_int_equal(n, 2);
	assert_true(tl_same_file(got[0], t->pipe[1]));
	assert_true(tl_same_file(got[1], t->pipe[0]));
	assert_true(tl_is_cloexec(got[0]));
	assert_true(tl_is_cloexec(got[1]));
	assert_pipe_carries(got[0], got[1], "through both");

	/* Data only, no fds, is a message too. */
	assert_int_equal(fdpass_send_fds(t->sv[0], NULL, 0, "x", 1, 0, -1), 1);
	n = 4;
	assert_int_equal(fdpass_recv_fds(t->sv[1], got + 2, &n, buf, sizeof(buf), 0, -1), 1);
	assert_int_equal(n, 0);

	close(got[0]);
	close(got[1]);
}

static void test_max_fds(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fds[FDPASS_MAX_FDS + 1], got[FDPASS_MAX_FDS + 1];
	size_t n = FDPASS_MAX_FDS + 1, i;
	char byte;
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 1024)
		skip();
	for (i = 0; i <= FDPASS_MAX_FDS; i++)
		fds[i] = t->pipe[i % 2];
	assert_int_equal(fdpass_send_fds(t->sv[0], fds, FDPASS_MAX_FDS + 1, "", 1, 0, -1), -E2BIG);
	assert_int_equal(fdpass_send_fds(t->sv[0], fds, FDPASS_MAX_FDS, "", 1, 0, -1), 1);
	assert_int_equal(fdpass_recv_fds(t->sv[1], got, &n, &byte, 1, 0, -1), 1);
	assert_int_equal(n, FDPASS_MAX_FDS);
	for (i = 0; i < n; i++) {
		assert_true(tl_same_file(got[i], t->pipe[i % 2]));
		close(got[i]);
	}
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
	size_t n = 1;

	TL_CHILD_CHECK(buf != NULL);
	/* The sender fills the socket first, whenever this child gets to run. */
	TL_CHILD_CHECK(fdpass_recv_fds(b->sock, &fd, &n, buf, b->len, FDPASS_WAITALL, LONG) ==
		       (ssize_t)b->len);
	TL_CHILD_CHECK(n == 1 && fd >= 0);
	TL_CHILD_CHECK(tl_is_pattern(buf, b->len));
	close(fd);
	free(buf);
	return 0;
}

static void test_large_payload_stream(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct big b = { .len = 4 << 20 };
	unsigned char *data = malloc(b.len);
	pid_t pid;

	assert_non_null(data);
	tl_fill_pattern(data, b.len);
	b.sock = t->sv[1];
	pid = tl_fork_peer(child_reads_big, &b);
	tl_pair_close(t, 1);
	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, data, b.len, 0, LONG),
			 (ssize_t)b.len);
	tl_wait_child(pid);
	free(data);
}

static void test_waitall_eof_mid_message(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	char buf[10];

	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, "12345", 5, 0, -1), 5);
	tl_pair_close(t, 0); /* the peer dies after half the message */
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL,
					 1000), -ECONNRESET);
	assert_int_equal(n, 0);
}

/* Sends part of a message, then, once that has been read, fds with the rest. */
static int child_sends_fds_late(void *arg)
{
	int sock = *(int *)arg, p[2], unread = 1, i;

	TL_CHILD_CHECK(pipe(p) == 0);
	TL_CHILD_CHECK(fdpass_send_fds(sock, NULL, 0, "12345", 5, 0, -1) == 5);
	for (i = 0; i < LONG && unread; i++) {
		TL_CHILD_CHECK(ioctl(sock, SIOCOUTQ, &unread) == 0);
		if (unread)
			tl_sleep_ms(1);
	}
	TL_CHILD_CHECK(unread == 0);
	TL_CHILD_CHECK(fdpass_send_fds(sock, p, 2, "67890", 5, 0, -1) == 5);
	return 0;
}

static void test_waitall_fds_after_first_byte(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	char buf[10];
	pid_t pid;

	pid = tl_fork(child_sends_fds_late, &t->sv[0]);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL,
					 LONG), -EBADMSG);
	assert_int_equal(n, 0);
	tl_wait_child(pid);
}

/* On packet sockets FDPASS_WAITALL does not join packets. */
static void test_waitall_on_packets(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	char buf[8];

	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, "ab", 2, 0, -1), 2);
	assert_int_equal(fdpass_send_fds(t->sv[0], NULL, 0, "cd", 2, 0, -1), 2);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL,
					 100), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(n, 1);
	close(got);
}

static void test_seqpacket_truncated(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	char buf[4];

	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, "too long", 8, 0, -1), 8);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, sizeof(buf), 0, -1), -EMSGSIZE);
	assert_int_equal(n, 0);
}

/* ---- blocking, non-blocking, deadlines, signals ------------------------ */

static void test_eagain_and_timeouts(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fd = 5, got = -1, i;
	size_t n = 1;
	char buf[4];

	for (i = 0; i < 2; i++) {
		int fl = fcntl(t->sv[i], F_GETFL);

		assert_int_equal(fcntl(t->sv[i], F_SETFL, fl | O_NONBLOCK), 0);
	}

	/* Nothing to receive. */
	assert_int_equal(fdpass_recv(t->sv[1], &fd), -EAGAIN);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, 1, 0, 0), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, 1, 0, 50), -ETIMEDOUT);
	assert_int_equal(n, 0);

	/* Nothing can be sent. */
	tl_fill(t->sv[0]);
	assert_int_equal(fdpass_send(t->sv[0], t->pipe[0]), -EAGAIN);
	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, "", 1, FDPASS_NONBLOCK, 1000),
			 -EAGAIN);
	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[0], 1, "", 1, 0, 50), -ETIMEDOUT);
}

static void test_nonblock_flag_on_blocking_socket(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	char buf[1];

	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, 1, FDPASS_NONBLOCK, -1), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_fds(t->sv[1], &got, &n, buf, 1, 0, 30), -ETIMEDOUT);
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
 * word on told[0] (a socket pair that disarm_alarm closes).
 */
static void arm_alarm(int ms, int told[2])
{
	tl_socketpair(SOCK_STREAM, told);
	alarm_w = told[1];
	tl_handle_signal(SIGALRM, on_alarm);
	alarms = 0;
	{
		struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = ms * 1000 } };

		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	}
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

	TL_CHILD_CHECK(pipe(p) == 0);
	TL_CHILD_CHECK(await_alarm(l->told) == 0);
	TL_CHILD_CHECK(fdpass_send(l->sock, p[1]) == 0);
	return 0;
}

static void test_eintr_recv(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int told[2], fd = -1;
	struct late l;
	size_t n = 1;
	char byte;
	pid_t pid;

	arm_alarm(50, told);
	l = (struct late){ t->sv[0], told[0] };
	pid = tl_fork(child_sends_after_alarm, &l);
	assert_int_equal(fdpass_recv(t->sv[1], &fd), 1);
	assert_int_equal(alarms, 1);
	close(fd);
	tl_wait_child(pid);
	disarm_alarm(told);

	/* The same with a deadline: EINTR does not restart the clock. */
	arm_alarm(50, told);
	l = (struct late){ t->sv[0], told[0] };
	pid = tl_fork(child_sends_after_alarm, &l);
	assert_int_equal(fdpass_recv_fds(t->sv[1], &fd, &n, &byte, 1, 0, 5000), 1);
	assert_int_equal(alarms, 1);
	assert_int_equal(n, 1);
	close(fd);
	tl_wait_child(pid);
	disarm_alarm(told);
}

/* Drains the stuffed socket once told; the fd must come with the last byte. */
static int child_drains_after_alarm(void *arg)
{
	const struct late *l = arg;
	int round;

	for (round = 0; round < 2; round++) {
		TL_CHILD_CHECK(await_alarm(l->told) == 0);
		for (;;) {
			char buf[4096];
			int fd = -1;
			size_t n = 1, i;
			ssize_t r = fdpass_recv_fds(l->sock, &fd, &n, buf, sizeof(buf), 0, LONG);

			TL_CHILD_CHECK(r > 0);
			for (i = 0; i + 1 < (size_t)r; i++)
				TL_CHILD_CHECK(buf[i] == 'j');
			if (n == 0) {
				TL_CHILD_CHECK(buf[r - 1] == 'j');
				continue;
			}
			close(fd);
			TL_CHILD_CHECK(buf[r - 1] == '\0');
			break;
		}
	}
	return 0;
}

static void test_eintr_send(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int told[2];
	struct late l;
	pid_t pid;

	/* One pair for both rounds: the child waits for a word before each. */
	arm_alarm(50, told);
	l = (struct late){ t->sv[1], told[0] };
	pid = tl_fork(child_drains_after_alarm, &l);
	tl_pair_close(t, 1);
	tl_fill(t->sv[0]);

	/* Blocks until the child drains, which it does once SIGALRM interrupted it. */
	assert_int_equal(fdpass_send(t->sv[0], t->pipe[0]), 0);
	assert_int_equal(alarms, 1);

	/* Again with a deadline, so that the wait is in poll(). */
	tl_fill(t->sv[0]);
	{
		struct itimerval it = { .it_value = { .tv_sec = 0, .tv_usec = 50 * 1000 } };

		alarms = 0;
		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	}
	assert_int_equal(fdpass_send_fds(t->sv[0], &t->pipe[1], 1, "", 1, 0, 5000), 1);
	assert_int_equal(alarms, 1);

	tl_wait_child(pid);
	disarm_alarm(told);
}

/* ---- errors of the send side ------------------------------------------- */

static void test_dead_peer_no_sigpipe(void **state)
{
	struct tl_pair *t = tl_pair(state);

	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	tl_pair_close(t, 1);
	assert_int_equal(fdpass_send(t->sv[0], t->pipe[0]), -EPIPE);
	assert_int_equal(fdpass_send_fds(t->sv[0], t->pipe, 2, "ab", 2, 0, 100), -EPIPE);
}

static void test_send_bad_arguments(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int *p = t->pipe, sock = t->sv[0], bad[2];

	bad[0] = p[0];
	bad[1] = -1;
	assert_int_equal(fdpass_send(sock, -1), -EBADF);
	assert_int_equal(fdpass_send(sock, 999), -EBADF);
	assert_int_equal(fdpass_send(-1, p[0]), -EBADF);
	assert_int_equal(fdpass_send(p[0], p[1]), -ENOTSOCK);
	assert_int_equal(fdpass_send_fds(sock, p, 1, "", 0, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sock, p, 1, NULL, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sock, NULL, 1, "", 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sock, p, 1, "", 1, 0x100, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sock, p, 1, "", 1, FDPASS_WAITALL, -1), -EINVAL);
	assert_int_equal(fdpass_send_fds(sock, bad, 2, "", 1, 0, -1), -EBADF);
}

static void test_recv_bad_arguments(void **state)
{
	int sock = tl_pair(state)->sv[0], fd = 3, fds[1];
	size_t n = 1;
	char buf[1];

	assert_int_equal(fdpass_recv(sock, NULL), -EINVAL);
	assert_int_equal(fdpass_recv(-1, &fd), -EBADF);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(sock, fds, NULL, buf, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sock, NULL, &n, buf, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sock, fds, &n, NULL, 1, 0, -1), -EINVAL);
	assert_int_equal(fdpass_recv_fds(sock, fds, &n, buf, 0, 0, -1), -EINVAL);
	assert_int_equal(n, 0); /* zeroed on every failure */
	n = 1;
	assert_int_equal(fdpass_recv_fds(sock, fds, &n, buf, 1, 0x100, -1), -EINVAL);
}

/* ---- close-on-exec survives exec ---------------------------------------- */

struct exec_job {
	const char *helper;
	int fd;
};

/* Runs exec-helper, which exits 0 only if fd was not inherited. */
static int child_execs_helper(void *arg)
{
	const struct exec_job *j = arg;
	char num[16];

	snprintf(num, sizeof(num), "%d", j->fd);
	execl(j->helper, "exec-helper", num, (char *)NULL);
	TL_CHILD_FAIL("exec %s: %s", j->helper, strerror(errno));
}

static void test_cloexec_across_exec(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct exec_job j = { tl_env("FDPASS_EXEC_HELPER"), -1 };
	int fds[2] = { -1, -1 };
	size_t n = 2, i;
	char byte;

	assert_int_equal(fdpass_send(t->sv[0], t->pipe[0]), 0);
	assert_int_equal(fdpass_recv(t->sv[1], &j.fd), 1);
	tl_wait_child(tl_fork(child_execs_helper, &j));
	close(j.fd);

	assert_int_equal(fdpass_send_fds(t->sv[0], t->pipe, 2, "", 1, 0, -1), 1);
	assert_int_equal(fdpass_recv_fds(t->sv[1], fds, &n, &byte, 1, 0, -1), 1);
	for (i = 0; i < 2; i++) {
		j.fd = fds[i];
		tl_wait_child(tl_fork(child_execs_helper, &j));
		close(fds[i]);
	}
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

#define STREAM(f) TL_PAIR_TEST(f, SOCK_STREAM)
#define PACKETS(f) TL_PAIR_TEST(f, SOCK_SEQPACKET)

int main(void)
{
	const struct CMUnitTest tests[] = {
		STREAM(test_send_recv_across_fork),
		PACKETS(test_send_wire_format),
		STREAM(test_recv_httpd_message),
		STREAM(test_recv_no_fd),
		TL_BOTH_TYPES(test_recv_two_fds),
		STREAM(test_recv_bad_byte),
		PACKETS(test_recv_empty_packet_with_fd),
		STREAM(test_recv_credentials_mixed_in),
		PACKETS(test_waitall_on_packets),
		PACKETS(test_recv_packet_too_long),
		STREAM(test_recv_at_fd_limit),
		STREAM(test_recv_fds_more_than_room),
		TL_BOTH_TYPES(test_send_recv_fds_payload),
		PACKETS(test_max_fds),
		STREAM(test_large_payload_stream),
		STREAM(test_waitall_eof_mid_message),
		STREAM(test_waitall_fds_after_first_byte),
		PACKETS(test_seqpacket_truncated),
		STREAM(test_eagain_and_timeouts),
		STREAM(test_nonblock_flag_on_blocking_socket),
		STREAM(test_eintr_recv),
		STREAM(test_eintr_send),
		STREAM(test_dead_peer_no_sigpipe),
		STREAM(test_send_bad_arguments),
		STREAM(test_recv_bad_arguments),
		STREAM(test_cloexec_across_exec),
		TL_TEST(test_version_and_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
