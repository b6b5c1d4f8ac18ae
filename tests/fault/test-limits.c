// SPDX-License-Identifier: MIT
/*
 * Limits: a receiver at its RLIMIT_NOFILE, a backend whose listen backlog
 * is full (a backlog of 1, and the default SOMAXCONN one), a backend that
 * accepts but never reads (each hand-off still completes; a connection
 * flooded with messages fills up, and every send stops at its deadline), a
 * client that never reads its response. Each call returns the documented
 * error within its deadline plus a small margin, leaks nothing, and the
 * same objects serve a well-behaved peer afterwards.
 *
 * Children never call cmocka: they say what failed on stderr (TL_CHILD_CHECK).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static unsigned limits_hit, bounded_calls;

/* A call that met a limit returned what it should, within its deadline. */
static void limit_hit(void)
{
	limits_hit++;
}

static void assert_bounded(int64_t elapsed, int timeout)
{
	assert_deadline_kept(elapsed, timeout);
	bounded_calls++;
}

/* ---- a receiver at its fd limit ----------------------------------------- */

static int child_at_fd_limit(void *arg)
{
	const char *path = arg;
	char other[320];
	fdpass_backend *b = NULL, *b2 = NULL;
	fdpass_meta *m = tl_meta(100), *in = NULL;
	int p[2], sv[2], one[2], client[2], front1, front2, fd, fds3[3], got[3], n, r;
	size_t nfds;

	snprintf(other, sizeof(other), "%s.other", path);
	TL_CHILD_CHECK(pipe2(p, O_CLOEXEC) == 0);
	TL_CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	TL_CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, one) == 0);
	TL_CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client) == 0);
	TL_CHILD_CHECK(fdpass_backend_new(&b, path, -1, 0) == 0);
	/* What is waiting: one fd, a metadata message with three, a front-end. */
	TL_CHILD_CHECK(fdpass_send(one[0], p[1]) == 0);
	fds3[0] = p[0];
	fds3[1] = p[1];
	fds3[2] = p[1];
	TL_CHILD_CHECK(fdpass_send_meta(sv[0], fds3, 3, m, 0, 1000) == 0);
	TL_CHILD_CHECK((front1 = fdpass_connect(path, 0, 1000)) >= 0);
	TL_CHILD_CHECK(fdpass_send(front1, p[1]) == 0);

	/* No fd free at all. */
	if ((r = tl_limit_fds(0)) != 0)
		return r;
	fd = 7;
	TL_CHILD_CHECK(fdpass_recv(one[1], &fd) == -EXFULL && fd == -1);
	TL_CHILD_CHECK(fdpass_connect(path, 0, 1000) == -EMFILE);
	TL_CHILD_CHECK(fdpass_listen(other, -1, 0) == -EMFILE);
	TL_CHILD_CHECK(fdpass_backend_new(&b2, other, -1, 0) == -EMFILE);
	TL_CHILD_CHECK(fdpass_handoff(path, client[1], NULL, NULL, 1000) == -EMFILE);
	TL_CHILD_CHECK(tl_wait_fd(client[0], POLLIN, 0) == 0); /* nothing was written */
	fd = 7;
	TL_CHILD_CHECK(fdpass_backend_recv(b, &fd, 200) == -EMFILE && fd == -1);

	/* Room for one: a message with three fds is refused whole, none kept. */
	if ((r = tl_limit_fds(1)) != 0)
		return r;
	n = tl_count_fds_no_open();
	nfds = 3;
	TL_CHILD_CHECK(fdpass_recv_meta(sv[1], got, &nfds, &in, 0, 0, 1000) == -EXFULL);
	TL_CHILD_CHECK(nfds == 0 && in == NULL && tl_count_fds_no_open() == n);
	/* The backend accepts the front-end, but the fd it sends finds no room. */
	fd = 7;
	r = fdpass_backend_recv(b, &fd, 1000);
	if (r != -EXFULL || fd != -1)
		TL_CHILD_FAIL("fdpass_backend_recv at the limit: %d (%s), fd %d", r,
			      fdpass_strerror(r), fd);
	TL_CHILD_CHECK(tl_count_fds_no_open() == n);

	/* With room again, the next front-end is served. */
	if ((r = tl_limit_fds(-1)) != 0)
		return r;
	TL_CHILD_CHECK((front2 = fdpass_connect(path, 0, 1000)) >= 0);
	TL_CHILD_CHECK(fdpass_send(front2, p[1]) == 0);
	fd = -1;
	TL_CHILD_CHECK(fdpass_backend_recv(b, &fd, 1000) == 1);
	TL_CHILD_CHECK(tl_same_file(fd, p[1]));
	close(fd);
	fdpass_backend_free(b);
	fdpass_meta_free(m);
	return 0;
}

static void test_receiver_at_fd_limit(void **state)
{
	char path[300];
	int r;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	r = tl_child_result(tl_fork_peer(child_at_fd_limit, path));
	if (r == 77)
		skip(); /* valgrind: RLIMIT_NOFILE is only emulated */
	assert_int_equal(r, 0);
	limits_hit += 10;
}

/* ---- a backend whose backlog is full ------------------------------------ */

/* Connect without waiting until the backlog is full; the connected sockets. */
static int *fill_backlog(const char *path, size_t max, size_t *n)
{
	int *fds = calloc(max, sizeof(int));

	assert_non_null(fds);
	*n = tl_fill_backlog(path, fds, max);
	return fds;
}

/* Every call that needs the backlog times out on time, and writes nothing. */
static void assert_backlog_full(const char *path)
{
	fdpass_meta *m = tl_meta(100);
	struct stat st, now;
	int sv[2], fd;
	int64_t t0;

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fstat(sv[1], &st), 0);

	t0 = tl_now_ms();
	assert_int_equal(fdpass_connect(path, 0, 0), -EAGAIN);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	t0 = tl_now_ms();
	fd = fdpass_connect(path, 0, 200);
	assert_int_equal(fd, -ETIMEDOUT);
	assert_bounded(tl_now_ms() - t0, 200);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_handoff(path, sv[1], NULL, NULL, 200), -ETIMEDOUT);
	assert_bounded(tl_now_ms() - t0, 200);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_handoff_meta(path, sv[1], NULL, NULL, m, 200), -ETIMEDOUT);
	assert_bounded(tl_now_ms() - t0, 200);
	/* The client heard nothing, and is still the caller's. */
	tl_assert_nothing_to_read(sv[0]);
	assert_int_equal(fstat(sv[1], &now), 0);
	assert_true(now.st_dev == st.st_dev && now.st_ino == st.st_ino);
	close(sv[0]);
	close(sv[1]);
	fdpass_meta_free(m);
	limit_hit();
}

/* Accept and drop everything waiting (the fillers have hung up). */
static void drain(fdpass_backend *b)
{
	int fd, i;

	for (i = 0; i < 100000; i++) {
		int r = fdpass_backend_recv(b, &fd, 0);

		assert_int_equal(r, -EAGAIN);
		if (tl_wait_fd(fdpass_backend_fd(b), POLLIN, 0) == 0)
			return;
	}
	fail_msg("the backend never drained its backlog");
}

/* A hand-off now goes through, and the backend gets the socket. */
static void assert_serves(fdpass_backend *b, const char *path)
{
	int sv[2], fd = -1;

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_handoff(path, sv[1], "none", NULL, 1000), 0);
	assert_int_equal(fdpass_backend_recv(b, &fd, 1000), 1);
	assert_true(tl_same_file(fd, sv[1]));
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

static void test_backlog_full(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	fdpass_backend *b = NULL;
	char path[300];
	size_t n, i;
	int lfd, *fillers;

	/* A socket-activated backend with a backlog of 1. */
	tl_path_in(path, sizeof(path), state, "small.sock");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(fdpass_backend_adopt(&b, lfd), 0);
	fillers = fill_backlog(path, 16, &n);
	assert_true(n >= 1);
	assert_backlog_full(path);
	for (i = 0; i < n; i++)
		close(fillers[i]);
	free(fillers);
	drain(b);
	assert_serves(b, path);
	fdpass_backend_free(b);
	unlink(path);
}

static void test_backlog_full_somaxconn(void **state)
{
	fdpass_backend *b = NULL;
	struct rlimit rl;
	char path[300];
	size_t n, i;
	int *fillers;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 8192 && rl.rlim_max >= 8192) {
		rl.rlim_cur = 8192;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < 8192)
		skip();
	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	fillers = fill_backlog(path, 8000, &n);
	assert_true(n > 1);
	assert_backlog_full(path);
	for (i = 0; i < n; i++)
		close(fillers[i]);
	free(fillers);
	drain(b);
	assert_serves(b, path);
	fdpass_backend_free(b);
}

/* ---- a backend that accepts but never reads ----------------------------- */

struct hoarder_job {
	const char *path;
	int ready_w, go_r;
	int meta; /* read metadata messages from one connection, not hand-offs */
};

/*
 * Accept every connection and hold it, reading nothing, until told to go;
 * then serve them: hand-offs (write "ok" to each client; result: 0 if there
 * were 64), or count the metadata messages of one connection (result: the
 * count; -1 if something failed).
 */
static int hoarder(void *arg)
{
	const struct hoarder_job *job = arg;
	int lfd = fdpass_listen(job->path, -1, FDPASS_NONBLOCK), conns[128], n = 0, i, served = 0;

	if (lfd < 0 || tl_put_byte(job->ready_w) < 0)
		return -tl_child_failed(__FILE__, __LINE__, "listening: %s", strerror(errno));
	for (;;) {
		struct pollfd p[2] = { { .fd = lfd, .events = POLLIN },
				       { .fd = job->go_r, .events = POLLIN } };

		/* The parent's word, or its end (the pipe hangs up) */
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return -tl_child_failed(__FILE__, __LINE__, "poll: %s", strerror(errno));
		if (p[0].revents & POLLIN) {
			int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (c >= 0 && n < 128)
				conns[n++] = c;
		}
		if (p[1].revents)
			break;
	}
	/* Those that connected before the word came. */
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0 || n >= 128)
			break;
		conns[n++] = c;
	}
	for (i = 0; i < n; i++) {
		if (job->meta) {
			for (;;) {
				int fd[2];
				size_t nfds = 2;
				fdpass_meta *m = NULL;

				if (fdpass_recv_meta(conns[i], fd, &nfds, &m, 0, 0, 1000) != 1)
					break;
				fdpass_meta_free(m);
				close(fd[0]);
				served++;
			}
		} else {
			int fd = -1;

			if (fdpass_recv(conns[i], &fd) != 1 ||
			    fdpass_write_all(fd, "ok", 2, 1000) < 0)
				return -tl_child_failed(__FILE__, __LINE__, "serving connection %d",
							i);
			close(fd);
			served++;
		}
	}
	if (job->meta)
		return served;
	if (served != 64)
		TL_CHILD_FAIL("served %d hand-offs, not 64", served);
	return 0;
}

static pid_t start_hoarder(const char *path, int meta, int *go_w)
{
	struct hoarder_job job = { path, -1, -1, meta };
	int ready[2], go[2];
	pid_t pid;

	tl_pipe(ready);
	tl_pipe(go);
	job.ready_w = ready[1];
	job.go_r = go[0];
	pid = tl_fork_peer(hoarder, &job);
	close(ready[1]);
	close(go[0]);
	assert_int_equal(tl_get_byte(ready[0], 10000), 0);
	close(ready[0]);
	*go_w = go[1];
	return pid;
}

static void test_backend_never_reads_handoffs(void **state)
{
	int clients[64], fronts[64], go, i;
	char path[300], buf[512];
	int64_t t0, worst = 0;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "hoarder.sock");
	pid = start_hoarder(path, 0, &go);
	for (i = 0; i < 64; i++) {
		int sv[2];

		tl_socketpair(SOCK_STREAM, sv);
		clients[i] = sv[0];
		fronts[i] = sv[1];
		t0 = tl_now_ms();
		/* The message fits the socket's buffer: done without a reader. */
		assert_int_equal(fdpass_handoff(path, fronts[i], NULL, NULL, 1000), 0);
		if (tl_now_ms() - t0 > worst)
			worst = tl_now_ms() - t0;
		close(fronts[i]);
	}
	assert_in_range(worst, 0, tl_margin_ms());
	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	tl_wait_child(pid);
	for (i = 0; i < 64; i++) {
		size_t n = 0;
		ssize_t r;

		while (tl_wait_fd(clients[i], POLLIN, 2000) > 0 &&
		       (r = read(clients[i], buf + n, sizeof(buf) - 1 - n)) > 0)
			n += (size_t)r;
		buf[n] = '\0';
		assert_true(n > 2 && !strncmp(buf, "HTTP/1.1 200 OK\r\n", 17));
		assert_string_equal(buf + n - 6, "\r\n\r\nok");
		close(clients[i]);
	}
	bounded_calls += 64;
	limit_hit();
}

static void test_backend_never_reads_flooded(void **state)
{
	enum { DATA = 16384, TIMEOUT = 200 };
	fdpass_meta *m = tl_meta(DATA);
	int conn, go, p[2], r = 0, sent, fl;
	char path[300], byte = 0;
	int64_t t0, elapsed;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "hoarder.sock");
	tl_pipe(p);
	pid = start_hoarder(path, 1, &go);
	conn = fdpass_connect(path, 0, 1000);
	assert_true(conn >= 0);
	/* Message after message until the buffer is full: each call on time. */
	for (sent = 0; sent < 200; sent++) {
		t0 = tl_now_ms();
		r = fdpass_send_meta(conn, &p[1], 1, m, 0, TIMEOUT);
		elapsed = tl_now_ms() - t0;
		if (r < 0)
			break;
		assert_in_range(elapsed, 0, TIMEOUT + tl_margin_ms());
	}
	assert_true(sent >= 1 && sent < 200);
	/*
	 * Nothing of it sent: -ETIMEDOUT after the deadline. Part of it sent:
	 * -ECONNABORTED after the rest was given its own timeout_ms (as the
	 * header says: the rest waits up to timeout_ms).
	 */
	if (r == -ETIMEDOUT)
		assert_bounded(elapsed, TIMEOUT);
	else if (r == -ECONNABORTED)
		assert_in_range(elapsed, TIMEOUT, 2 * TIMEOUT + tl_margin_ms());
	else
		fail_msg("send to a full connection: %d (%s)", r, fdpass_strerror(r));

	/* Other sends on the full connection stop on time too. */
	t0 = tl_now_ms();
	assert_int_equal(fdpass_send_fds(conn, &p[1], 1, "x", 1, 0, TIMEOUT), -ETIMEDOUT);
	assert_bounded(tl_now_ms() - t0, TIMEOUT);
	fl = fcntl(conn, F_GETFL);
	assert_int_equal(fcntl(conn, F_SETFL, fl | O_NONBLOCK), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_send(conn, p[1]), -EAGAIN);
	assert_int_equal(fdpass_write_all(conn, &byte, 1, 0), -ETIMEDOUT);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	close(conn);

	/* The backend then finds every whole message, and nothing of the cut one. */
	assert_int_equal(write(go, "g", 1), 1);
	close(go);
	assert_int_equal(tl_child_result(pid), sent);
	close(p[0]);
	close(p[1]);
	fdpass_meta_free(m);
	limit_hit();
}

/* ---- a client that never reads its response ----------------------------- */

static void test_client_never_reads(void **state)
{
	enum { BIG = 4 << 20 };
	char *buf = malloc(BIG), path[300], small_body[1024];
	fdpass_response *resp = NULL;
	int client, front, lfd, small = 4096, conn, fd = -1;
	int64_t t0;

	assert_non_null(buf);
	memset(buf, 'x', BIG);
	tl_tcp_pair(&client, &front);
	assert_int_equal(setsockopt(front, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(front, buf, BIG, 200), -ETIMEDOUT);
	assert_bounded(tl_now_ms() - t0, 200);
	/* Timeout 0 on the full socket: at once. */
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(front, buf, BIG, 0), -ETIMEDOUT);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	close(client);
	close(front);
	free(buf);
	limit_hit();

	/* A head with a small start of body fits: the hand-off completes. */
	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	memset(small_body, 's', sizeof(small_body));
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, small_body, sizeof(small_body)), 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(setsockopt(front, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_flusher_run("flush", front, resp), 0);
	assert_int_equal(fdpass_handoff(path, front, NULL, resp, 1000), 0);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_int_equal(fdpass_recv(conn, &fd), 1);
	assert_true(tl_same_file(fd, front));
	close(fd);
	close(conn);
	close(client);
	close(front);
	close(lfd);
	fdpass_response_free(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_receiver_at_fd_limit),
		TL_DIR_TEST(test_backlog_full),
		TL_DIR_TEST(test_backlog_full_somaxconn),
		TL_DIR_TEST(test_backend_never_reads_handoffs),
		TL_DIR_TEST(test_backend_never_reads_flooded),
		TL_DIR_TEST(test_client_never_reads),
	};
	int r;

	signal(SIGPIPE, SIG_DFL);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	printf("limits: %u limits met, %u calls with a deadline bounded by it, %s\n", limits_hit,
	       bounded_calls, r == 0 ? "all survived" : "NOT ALL SURVIVED (see above)");
	fflush(stdout);
	return r;
}
