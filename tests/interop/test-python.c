// SPDX-License-Identifier: MIT
/*
 * Interoperability with an independent implementation: Python's standard
 * library socket.send_fds / socket.recv_fds (3.9+), run as a separate
 * process (pypeer.py) on the other end of a socketpair. Each test forks and
 * execs the peer with its end of the socketpair inherited, talks to it with
 * libfdpass, checks in C that the fds are the very open files the peer
 * meant (data moved through them, st_dev/st_ino, shared file offsets), and
 * asserts the peer's exit status: the peer checks its own side and exits 0
 * only if everything matched. Every test has the fd-leak check, and its
 * socketpair from the fixture (TL_PAIR_TEST, TL_BOTH_TYPES): sv[1] goes to
 * the peer, sv[0] is ours.
 *
 * The peer's protocol (verdict bytes 'A' and 'R', payload pattern, texts)
 * is described at the top of pypeer.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define HELLO "hello from python\n"
#define REQUEST "GET /fdpass HTTP/1.0\r\n\r\n"
#define RESPONSE "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello from C\n"
#define BIG (256 * 1024) /* more than a socket buffer: several reads */
#define LONG 30000 /* the deadline of reads that must end: only a hang reaches it */

/* ---- running the peer ---- */

struct exec_args {
	int fd;
	char *argv[8];
};

/*
 * The peer started last and not yet waited for. Only a test that failed
 * half-way leaves one behind: it is killed before the next one starts (or
 * at the end), so that it does not sit waiting for a verdict, holding the
 * test's output open, until its own alarm ends it.
 */
static pid_t live_peer = -1;

static void kill_live_peer(void)
{
	if (live_peer > 0) {
		kill(live_peer, SIGKILL);
		while (waitpid(live_peer, NULL, 0) < 0 && errno == EINTR)
			;
		live_peer = -1;
	}
}

/* In the forked child: keep the peer's socket across exec, run Python. */
static int exec_peer(void *arg)
{
	struct exec_args *a = arg;
	int fl = fcntl(a->fd, F_GETFD);

	if (fl < 0 || fcntl(a->fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
		TL_CHILD_FAIL("clearing FD_CLOEXEC: %s", strerror(errno));
	execv(a->argv[0], a->argv);
	TL_CHILD_FAIL("exec %s: %s", a->argv[0], strerror(errno));
}

/*
 * Run "pypeer.py MODE sv[1] [a1 [a2]]" with the fixture's sv[1] inherited,
 * then close sv[1] here. Every other fd of this process is close-on-exec,
 * so the peer holds no copy of the pipes the tests make.
 */
static pid_t start_peer(struct tl_pair *t, int *sock, const char *mode, const char *a1,
			const char *a2)
{
	struct exec_args a;
	char fdstr[16];
	int i = 0;
	pid_t pid;

	snprintf(fdstr, sizeof(fdstr), "%d", t->sv[1]);
	a.fd = t->sv[1];
	a.argv[i++] = (char *)tl_env("FDPASS_PYTHON");
	a.argv[i++] = (char *)tl_env("FDPASS_PYPEER");
	a.argv[i++] = (char *)mode;
	a.argv[i++] = fdstr;
	if (a1)
		a.argv[i++] = (char *)a1;
	if (a2)
		a.argv[i++] = (char *)a2;
	a.argv[i] = NULL;
	kill_live_peer();
	pid = tl_fork(exec_peer, &a);
	live_peer = pid;
	tl_pair_close(t, 1);
	*sock = t->sv[0];
	return pid;
}

/* Asserts that the peer exited 0: every check on its side passed. */
static void wait_peer(pid_t pid)
{
	live_peer = -1;
	tl_wait_child(pid);
}

/* ---- small helpers ---- */

/* Tell the peer whether we kept ('A') or rejected ('R') what it sent. */
static void verdict(int sock, char v)
{
	assert_int_equal(send(sock, &v, 1, MSG_NOSIGNAL), 1);
}

/*
 * One line of plain data from the socket, without its '\n'. On a stream,
 * byte by byte so as not to read past it; a SOCK_SEQPACKET record is the
 * line, and must be read whole (a short read would discard the rest).
 */
static void read_line(int sock, char *buf, size_t size)
{
	size_t got = 0;
	int type;
	socklen_t len = sizeof(type);

	assert_int_equal(getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	if (type == SOCK_SEQPACKET) {
		ssize_t n;

		do
			n = read(sock, buf, size - 1);
		while (n < 0 && errno == EINTR);
		assert_true(n > 0 && buf[n - 1] == '\n');
		buf[n - 1] = '\0';
		return;
	}
	for (;;) {
		char c;
		ssize_t n = read(sock, &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		assert_int_equal(n, 1);
		if (c == '\n')
			break;
		assert_true(got < size - 1);
		buf[got++] = c;
	}
	buf[got] = '\0';
}

/* The peer's "[prefix]ST_DEV ST_INO" line names the open file fd is. */
static void assert_stat_line(int sock, int fd, const char *prefix)
{
	char line[128], expect[128];
	struct stat st;

	read_line(sock, line, sizeof(line));
	assert_int_equal(fstat(fd, &st), 0);
	snprintf(expect, sizeof(expect), "%s%llu %llu", prefix,
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	assert_string_equal(line, expect);
}

static void assert_fifo(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
}

/* Same as payload() in pypeer.py. */
static void fill_payload(unsigned char *p, int n, size_t size)
{
	size_t i;

	p[0] = 0;
	for (i = 1; i < size; i++)
		p[i] = (unsigned char)((i * 31 + (size_t)n) & 0xff);
}

static void close_all(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(close(fds[i]), 0);
}

/* After 'A': fds[i] is the read end of the peer's pipe i, "fd i\n" comes. */
static void assert_pipes_in_order(const int *fds, size_t n)
{
	char buf[64], expect[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(expect, sizeof(expect), "fd %zu\n", i);
		tl_read_to_eof(fds[i], buf, sizeof(buf), LONG);
		assert_string_equal(buf, expect);
	}
}

/* ---- Python sends, libfdpass receives ---- */

static void send_one(void **state)
{
	struct tl_pair *t = tl_pair(state);
	char buf[64];
	int sock, fd = -2;
	pid_t pid = start_peer(t, &sock, "send", NULL, NULL);

	assert_int_equal(fdpass_recv(sock, &fd), 1);
	assert_true(fd >= 0);
	assert_true(tl_is_cloexec(fd));
	assert_fifo(fd);
	/* The peer's fstat of the fd it sent, as plain data after the message. */
	assert_stat_line(sock, fd, "");
	verdict(sock, 'A');
	tl_read_to_eof(fd, buf, sizeof(buf), LONG);
	assert_string_equal(buf, HELLO);
	assert_int_equal(close(fd), 0);
	wait_peer(pid);

	/* The peer is gone: orderly end of stream. */
	fd = -2;
	assert_int_equal(fdpass_recv(sock, &fd), 0);
	assert_int_equal(fd, -1);
	tl_pair_close(t, 0);
}

/* A regular file: same inode, and the same open file (shared offset). */
static void send_file(void **state)
{
	struct tl_pair *t = tl_pair(state);
	static const char content[] = "0123456789abcdef";
	char dir[256], path[300], buf[64];
	int sock, fd = -2, own;
	pid_t pid;

	tl_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	own = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(own >= 0);
	assert_int_equal(write(own, content, strlen(content)), (ssize_t)strlen(content));

	pid = start_peer(t, &sock, "send-file", path, "4");
	assert_int_equal(fdpass_recv(sock, &fd), 1);
	assert_true(tl_is_cloexec(fd));
	assert_true(tl_same_file(fd, own));
	/* The peer read 4 bytes before sending: its offset is ours now. */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), 4);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)strlen(content) - 4);
	assert_memory_equal(buf, content + 4, strlen(content) - 4);
	assert_int_equal(write(fd, "XY", 2), 2);
	assert_int_equal(pread(own, buf, sizeof(buf), 0), (ssize_t)strlen(content) + 2);
	assert_memory_equal(buf, "0123456789abcdefXY", strlen(content) + 2);
	verdict(sock, 'A');
	wait_peer(pid);

	assert_int_equal(close(fd), 0);
	assert_int_equal(close(own), 0);
	tl_pair_close(t, 0);
	tl_rmdir(dir);
}

/* What httpd does: a TCP connection handed over, the response written here. */
static void send_tcp(void **state)
{
	struct tl_pair *t = tl_pair(state);
	char buf[256];
	size_t got = 0;
	int sock, fd = -2, val;
	socklen_t len = sizeof(val);
	pid_t pid;

	pid = start_peer(t, &sock, "send-tcp", NULL, NULL);
	assert_int_equal(fdpass_recv(sock, &fd), 1);
	assert_true(tl_is_cloexec(fd));
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &val, &len), 0);
	assert_int_equal(val, AF_INET);
	len = sizeof(val);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &val, &len), 0);
	assert_int_equal(val, SOCK_STREAM);

	while (got < strlen(REQUEST)) {
		ssize_t n = read(fd, buf + got, strlen(REQUEST) - got);

		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(buf, REQUEST, strlen(REQUEST));
	assert_int_equal(write(fd, RESPONSE, strlen(RESPONSE)), (ssize_t)strlen(RESPONSE));
	/* Ours is the last copy: closing it ends the peer's response. */
	assert_int_equal(close(fd), 0);
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/*
 * One message with size payload bytes and n fds, received with
 * fdpass_recv_fds; with FDPASS_WAITALL in one call, else in as many calls
 * as it takes, the fds only with the first part.
 */
static void check_send_many(struct tl_pair *t, int n, size_t size, int flags)
{
	int fds[FDPASS_MAX_FDS];
	size_t nfds = FDPASS_MAX_FDS, got, i;
	unsigned char *buf = malloc(size), *expect = malloc(size);
	char nstr[16], sizestr[16];
	int sock;
	ssize_t r;
	pid_t pid;

	assert_non_null(buf);
	assert_non_null(expect);
	snprintf(nstr, sizeof(nstr), "%d", n);
	snprintf(sizestr, sizeof(sizestr), "%zu", size);
	pid = start_peer(t, &sock, "send-many", nstr, sizestr);

	r = fdpass_recv_fds(sock, fds, &nfds, buf, size, flags, -1);
	assert_true(r >= 1);
	assert_int_equal(nfds, n);
	got = (size_t)r;
	if (flags & FDPASS_WAITALL)
		assert_int_equal(got, size);
	while (got < size) {
		int more[4];
		size_t nmore = 4;

		r = fdpass_recv_fds(sock, more, &nmore, buf + got, size - got, 0, -1);
		assert_true(r >= 1);
		assert_int_equal(nmore, 0);
		got += (size_t)r;
	}
	fill_payload(expect, n, size);
	assert_memory_equal(buf, expect, size);
	for (i = 0; i < nfds; i++) {
		assert_true(tl_is_cloexec(fds[i]));
		assert_fifo(fds[i]);
	}
	verdict(sock, 'A');
	assert_pipes_in_order(fds, nfds);
	close_all(fds, nfds);
	wait_peer(pid);
	tl_pair_close(t, 0);
	free(buf);
	free(expect);
}

static void send_many_1(void **state)
{
	/* httpd's format, through recv_fds */
	check_send_many(tl_pair(state), 1, 1, 0);
}

static void send_many_2(void **state)
{
	check_send_many(tl_pair(state), 2, 64, 0);
}

static void send_many_16(void **state)
{
	check_send_many(tl_pair(state), 16, 64, 0);
}

static void send_many_max(void **state)
{
	check_send_many(tl_pair(state), FDPASS_MAX_FDS, 64, 0);
}

static void send_many_seqpacket(void **state)
{
	check_send_many(tl_pair(state), 7, 100, 0);
}

static void send_big_waitall(void **state)
{
	check_send_many(tl_pair(state), 3, BIG, FDPASS_WAITALL);
}

static void send_big_parts(void **state)
{
	check_send_many(tl_pair(state), 3, BIG, 0);
}

/* ---- libfdpass sends, Python receives ---- */

static void check_recv_one(struct tl_pair *t, const char *mode)
{
	char buf[64];
	int sock, p[2];
	pid_t pid = start_peer(t, &sock, mode, NULL, NULL);

	tl_pipe(p);
	assert_int_equal(fdpass_send(sock, p[1]), 0);
	assert_int_equal(close(p[1]), 0);
	/* The peer writes through the fd it got, then closes it. */
	tl_read_to_eof(p[0], buf, sizeof(buf), LONG);
	assert_string_equal(buf, HELLO);
	assert_stat_line(sock, p[0], "ok ");
	assert_int_equal(close(p[0]), 0);
	wait_peer(pid);
	tl_pair_close(t, 0);
}

static void recv_one(void **state)
{
	check_recv_one(tl_pair(state), "recv");
}

/* The message itself: one SCM_RIGHTS of exactly CMSG_LEN(sizeof(int)). */
static void recv_one_raw(void **state)
{
	check_recv_one(tl_pair(state), "recv-raw");
}

static void check_recv_many(struct tl_pair *t, int n, size_t size)
{
	int r[FDPASS_MAX_FDS], w[FDPASS_MAX_FDS], i;
	unsigned char *data = malloc(size);
	char nstr[16], sizestr[16];
	int sock;
	pid_t pid;

	assert_non_null(data);
	snprintf(nstr, sizeof(nstr), "%d", n);
	snprintf(sizestr, sizeof(sizestr), "%zu", size);
	pid = start_peer(t, &sock, "recv-many", nstr, sizestr);

	for (i = 0; i < n; i++) {
		int p[2];

		tl_pipe(p);
		r[i] = p[0];
		w[i] = p[1];
	}
	fill_payload(data, n, size);
	assert_int_equal(fdpass_send_fds(sock, w, (size_t)n, data, size, 0, -1), (ssize_t)size);
	close_all(w, (size_t)n);
	assert_pipes_in_order(r, (size_t)n);
	close_all(r, (size_t)n);
	wait_peer(pid);
	tl_pair_close(t, 0);
	free(data);
}

static void recv_many_1(void **state)
{
	check_recv_many(tl_pair(state), 1, 1);
}

static void recv_many_7(void **state)
{
	check_recv_many(tl_pair(state), 7, 64);
}

static void recv_many_max(void **state)
{
	check_recv_many(tl_pair(state), FDPASS_MAX_FDS, 64);
}

static void recv_many_seqpacket(void **state)
{
	check_recv_many(tl_pair(state), 5, 100);
}

/* The payload is bigger than the socket buffer: sent while Python reads. */
static void recv_many_big(void **state)
{
	check_recv_many(tl_pair(state), 4, BIG);
}

/* ---- error cases: the peer then checks that every fd it sent is closed ---- */

/* Two fds with the '\0' byte where httpd's format has one. */
static void err_two_fds_recv(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fd = -2;
	pid_t pid;

	pid = start_peer(t, &sock, "send-many", "2", "1");
	assert_int_equal(fdpass_recv(sock, &fd), -ETOOMANYREFS);
	assert_int_equal(fd, -1);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

static void err_too_many_recv_fds(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fds[4] = { -2, -2, -2, -2 };
	size_t nfds = 4;
	char buf[16];
	pid_t pid;

	pid = start_peer(t, &sock, "send-many", "5", "16");
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), 0, -1), -ETOOMANYREFS);
	assert_int_equal(nfds, 0);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

static void err_no_fd(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fd = -2;
	pid_t pid;

	pid = start_peer(t, &sock, "send-none", NULL, NULL);
	assert_int_equal(fdpass_recv(sock, &fd), -ENOMSG);
	assert_int_equal(fd, -1);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* Not an error for fdpass_recv_fds: a message may carry no fd. */
static void no_fd_recv_fds(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fds[2];
	size_t nfds = 2;
	char buf[4] = "xyz";
	pid_t pid;

	pid = start_peer(t, &sock, "send-none", NULL, NULL);
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), 0, -1), 1);
	assert_int_equal(nfds, 0);
	assert_int_equal(buf[0], '\0');
	verdict(sock, 'A');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

static void err_bad_byte(void **state)
{
	struct tl_pair *t = tl_pair(state);
	char line[128];
	int sock, fd = -2;
	pid_t pid;

	pid = start_peer(t, &sock, "send", "65", NULL);
	assert_int_equal(fdpass_recv(sock, &fd), -EBADMSG);
	assert_int_equal(fd, -1);
	read_line(sock, line, sizeof(line)); /* the peer's stat line */
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* SO_PASSCRED on our end: SCM_CREDENTIALS comes along with the fd. */
static void err_credentials(void **state)
{
	struct tl_pair *t = tl_pair(state);
	char line[128];
	int sock, one = 1, fd = -2;
	pid_t pid;

	assert_int_equal(setsockopt(t->sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	pid = start_peer(t, &sock, "send", NULL, NULL);
	assert_int_equal(fdpass_recv(sock, &fd), -EPROTO);
	assert_int_equal(fd, -1);
	read_line(sock, line, sizeof(line));
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* A packet longer than the buffer: its fds must not stay behind. */
static void err_truncated_packet(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fds[8];
	size_t nfds = 8;
	char buf[10];
	pid_t pid;

	pid = start_peer(t, &sock, "send-many", "3", "100");
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), 0, -1), -EMSGSIZE);
	assert_int_equal(nfds, 0);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* FDPASS_WAITALL: "ab" alone, then "cd" with an fd: fds after the first byte. */
static void err_late_fds(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fds[2];
	size_t nfds = 2;
	char buf[4];
	pid_t pid;

	pid = start_peer(t, &sock, "send-late", NULL, NULL);
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), FDPASS_WAITALL, -1),
			 -EBADMSG);
	assert_int_equal(nfds, 0);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* FDPASS_WAITALL: "ab" with an fd, then the peer shuts down writing. */
static void err_short_stream(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fds[2];
	size_t nfds = 2;
	char buf[4];
	pid_t pid;

	pid = start_peer(t, &sock, "send-short", NULL, NULL);
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), FDPASS_WAITALL, -1),
			 -ECONNRESET);
	assert_int_equal(nfds, 0);
	verdict(sock, 'R');
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* The peer exits without sending: end of stream for both receive calls. */
static void peer_eof(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, fd = -2, fds[2];
	size_t nfds = 2;
	char buf[4];
	pid_t pid;

	pid = start_peer(t, &sock, "eof", NULL, NULL);
	assert_int_equal(fdpass_recv(sock, &fd), 0);
	assert_int_equal(fd, -1);
	assert_int_equal(fdpass_recv_fds(sock, fds, &nfds, buf, sizeof(buf), 0, -1), 0);
	assert_int_equal(nfds, 0);
	wait_peer(pid);
	tl_pair_close(t, 0);
}

/* Sending to a peer that is gone: -EPIPE, and no SIGPIPE kills us. */
static void peer_gone_epipe(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock, p[2];
	pid_t pid;

	pid = start_peer(t, &sock, "eof", NULL, NULL);
	wait_peer(pid);
	tl_pipe(p);
	assert_int_equal(fdpass_send(sock, p[1]), -EPIPE);
	assert_int_equal(fdpass_send_fds(sock, p, 2, "x", 1, 0, -1), -EPIPE);
	close_all(p, 2);
	tl_pair_close(t, 0);
}

/* ---- -EXFULL: receiving at the RLIMIT_NOFILE limit ---- */

struct exfull_args {
	int sock;
	int room; /* fds that can still be opened */
	size_t cap; /* 0: fdpass_recv, else fdpass_recv_fds with room for cap */
};

/* In a child, so that the lowered limit does not outlive the test. */
static int exfull_child(void *arg)
{
	const struct exfull_args *a = arg;
	int fds[8] = { -2, -2, -2, -2, -2, -2, -2, -2 }, r;
	size_t nfds = a->cap;
	char buf[16];

	if ((r = tl_limit_fds(a->room)) != 0)
		return r;
	if (a->cap == 0) {
		r = fdpass_recv(a->sock, &fds[0]);
		if (r != -EXFULL || fds[0] != -1)
			TL_CHILD_FAIL("fdpass_recv at the fd limit: %d (fd %d), not -EXFULL", r,
				      fds[0]);
	} else {
		r = (int)fdpass_recv_fds(a->sock, fds, &nfds, buf, sizeof(buf), 0, -1);
		if (r != -EXFULL || nfds != 0)
			TL_CHILD_FAIL("fdpass_recv_fds at the fd limit: %d (%zu fds), "
				      "not -EXFULL", r, nfds);
	}
	return 0;
}

static void check_exfull(struct tl_pair *t, const char *mode, const char *a1, const char *a2,
			 int room, size_t cap)
{
	struct exfull_args a;
	char line[128];
	pid_t peer;
	int r;

	peer = start_peer(t, &a.sock, mode, a1, a2);
	a.room = room;
	a.cap = cap;
	r = tl_child_result(tl_fork(exfull_child, &a));
	if (r == 77) {
		kill_live_peer();
		skip(); /* valgrind: RLIMIT_NOFILE is only emulated */
	}
	assert_int_equal(r, 0);
	if (cap == 0)
		read_line(a.sock, line, sizeof(line));
	verdict(a.sock, 'R');
	wait_peer(peer);
	tl_pair_close(t, 0);
}

/* One fd sent, no fd can be opened: the kernel installs none. */
static void err_exfull_recv(void **state)
{
	check_exfull(tl_pair(state), "send", NULL, NULL, 0, 0);
}

/* Three fds sent, room for one: the kernel installs one, drops two. */
static void err_exfull_recv_fds(void **state)
{
	check_exfull(tl_pair(state), "send-many", "3", "1", 1, 8);
}

#define STREAM(f) TL_PAIR_TEST(f, SOCK_STREAM)
#define PACKETS(f) TL_PAIR_TEST(f, SOCK_SEQPACKET)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_BOTH_TYPES(send_one),
		STREAM(send_file),
		STREAM(send_tcp),
		STREAM(send_many_1),
		STREAM(send_many_2),
		STREAM(send_many_16),
		STREAM(send_many_max),
		PACKETS(send_many_seqpacket),
		STREAM(send_big_waitall),
		STREAM(send_big_parts),
		TL_BOTH_TYPES(recv_one),
		STREAM(recv_one_raw),
		STREAM(recv_many_1),
		STREAM(recv_many_7),
		STREAM(recv_many_max),
		PACKETS(recv_many_seqpacket),
		STREAM(recv_many_big),
		STREAM(err_two_fds_recv),
		STREAM(err_too_many_recv_fds),
		STREAM(err_no_fd),
		STREAM(no_fd_recv_fds),
		STREAM(err_bad_byte),
		STREAM(err_credentials),
		PACKETS(err_truncated_packet),
		STREAM(err_late_fds),
		STREAM(err_short_stream),
		STREAM(peer_eof),
		STREAM(peer_gone_epipe),
		STREAM(err_exfull_recv),
		STREAM(err_exfull_recv_fds),
	};

	int failed = cmocka_run_group_tests_name("python-interop", tests, NULL, NULL);

	kill_live_peer();
	return failed;
}
