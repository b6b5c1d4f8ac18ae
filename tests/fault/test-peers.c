// SPDX-License-Identifier: MIT
/*
 * A peer process that dies at every stage of a hand-off: the backend before
 * the front-end connects, after it accepted, after the client's socket was
 * sent to it (read or still in flight); the client while the flusher writes
 * to it; a front-end half-way through a metadata message, as seen by
 * fdpass_recv_meta() and by fdpass_backend_recv(); a receiver while the
 * sender is blocked on its full socket. Each time the survivor returns the
 * documented error, leaks nothing (every test has the fd-leak check, and
 * the fds that travelled are write ends of pipes whose read ends must see
 * end of file), and then serves a second, well-behaved peer.
 *
 * Children never call cmocka: they say what failed on stderr (TL_CHILD_CHECK).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static unsigned deaths, stages;

/* One more peer died at a stage the survivor came through. */
static void survived(unsigned n)
{
	deaths += n;
	stages++;
}

/* Block until the child says it is ready (one byte on r), or fail. */
static void wait_ready(int r)
{
	assert_int_equal(tl_get_byte(r, 10000), 0);
}

/* The client's end: the head, then body (may be NULL), then end of stream. */
static void client_gets(int client, const char *body)
{
	char buf[4096];
	size_t n = 0;
	const char *end;

	for (;;) {
		ssize_t r;

		if (tl_wait_fd(client, POLLIN, 3000) <= 0)
			fail_msg("client: no end of stream (%zu bytes so far)", n);
		r = read(client, buf + n, sizeof(buf) - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
		assert_true(n < sizeof(buf) - 1);
	}
	buf[n] = '\0';
	end = strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) ? NULL : strstr(buf, "\r\n\r\n");
	if (!end)
		fail_msg("client got \"%s\"", buf);
	assert_string_equal(end + 4, body ? body : "");
}

/* ---- backends in children ----------------------------------------------- */

struct backend_job {
	const char *path;
	int ready_w;
	int serve;        /* clients to serve: write "served" to each, then close it */
	int timeout_ms;
	int go_r;         /* or: wait for a byte here, then die */
};

/* A well-behaved backend: 0 if it served them all. */
static int serving_backend(void *arg)
{
	const struct backend_job *job = arg;
	fdpass_backend *b = NULL;
	int i;

	TL_CHILD_CHECK(fdpass_backend_new(&b, job->path, -1, 0) == 0);
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) == 0);
	for (i = 0; i < job->serve; i++) {
		int fd = -1, r = fdpass_backend_recv(b, &fd, job->timeout_ms);

		if (r != 1)
			TL_CHILD_FAIL("fdpass_backend_recv: %d (%s)", r, fdpass_strerror(r));
		TL_CHILD_CHECK(fdpass_write_all(fd, "served", 6, 2000) == 0);
		close(fd);
	}
	fdpass_backend_free(b);
	return 0;
}

/* Start a well-behaved backend at path and wait until it listens. */
static pid_t start_backend(const char *path, int serve)
{
	struct backend_job job = { path, -1, serve, 5000, -1 };
	int p[2];
	pid_t pid;

	tl_pipe(p);
	job.ready_w = p[1];
	pid = tl_fork_peer(serving_backend, &job);
	close(p[1]);
	wait_ready(p[0]);
	close(p[0]);
	return pid;
}

/* The survivor serves the next client through a new, well-behaved backend. */
static void next_client_served(const char *path)
{
	pid_t pid = start_backend(path, 1);
	int client, front;

	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 2000), 0);
	close(front);
	client_gets(client, "served");
	close(client);
	tl_wait_child(pid);
}

/* It listens (leaving its socket file behind), then dies. */
static int backend_dies_listening(void *arg)
{
	const struct backend_job *job = arg;
	fdpass_backend *b = NULL;

	TL_CHILD_CHECK(fdpass_backend_new(&b, job->path, -1, 0) == 0);
	tl_die(0);
}

static void test_backend_dies_before_connect(void **state)
{
	struct backend_job job = { 0 };
	char path[300];
	int client, front;
	struct stat st;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	job.path = path;
	tl_wait_child(tl_fork_peer(backend_dies_listening, &job));
	assert_int_equal(lstat(path, &st), 0); /* stale */

	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 1000), -ECONNREFUSED);
	/* Nothing was written: the front-end can still answer the client. */
	tl_assert_nothing_to_read(client);
	assert_true(tl_is_open(front));
	close(front);
	close(client);
	survived(1);

	/* A new backend takes over the stale socket file and is served. */
	next_client_served(path);
}

/* It accepts one connection and dies without reading it. */
static int backend_dies_after_accept(void *arg)
{
	const struct backend_job *job = arg;
	int lfd = fdpass_listen(job->path, -1, 0), c;

	TL_CHILD_CHECK(lfd >= 0);
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) == 0);
	do
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (c < 0 && errno == EINTR);
	TL_CHILD_CHECK(c >= 0);
	tl_die(0);
}

static pid_t dying_backend;

/* A flusher that lets the backend die first: the socket is then sent to nobody. */
static int wait_for_death_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	(void)resp;
	(void)context;
	if (tl_child_result(dying_backend) != 0)
		return -ECHILD;
	return fdpass_write_all(client_fd, "HTTP/1.1 200 OK\r\n\r\n", 19, 1000);
}

static void test_backend_dies_after_accept(void **state)
{
	struct backend_job job = { 0 };
	char path[300];
	int client, front, p[2];

	tl_path_in(path, sizeof(path), state, "backend.sock");
	job.path = path;
	tl_pipe(p);
	job.ready_w = p[1];
	dying_backend = tl_fork_peer(backend_dies_after_accept, &job);
	close(p[1]);
	wait_ready(p[0]);
	close(p[0]);
	assert_int_equal(fdpass_flusher_register("wait-for-death", wait_for_death_flusher, NULL), 0);

	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, "wait-for-death", NULL, 1000), -ECONNABORTED);
	/* The caller still has the client, and may tell it. */
	assert_true(tl_is_open(front));
	assert_int_equal(fdpass_write_all(front, "sorry", 5, 1000), 0);
	close(front);
	client_gets(client, "sorry");
	close(client);
	assert_int_equal(fdpass_flusher_unregister("wait-for-death"), 0);
	survived(1);

	next_client_served(path);
}

/* It receives the client's socket and dies without a word. */
static int backend_dies_with_fd(void *arg)
{
	const struct backend_job *job = arg;
	fdpass_backend *b = NULL;
	int fd = -1;

	TL_CHILD_CHECK(fdpass_backend_new(&b, job->path, -1, 0) == 0);
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) == 0);
	TL_CHILD_CHECK(fdpass_backend_recv(b, &fd, 5000) == 1);
	TL_CHILD_CHECK(tl_get_byte(job->go_r, -1) == 0);
	tl_die(0);
}

/* It accepts, then dies while the message with the socket is still unread. */
static int backend_dies_fd_in_flight(void *arg)
{
	const struct backend_job *job = arg;
	int lfd = fdpass_listen(job->path, -1, 0), c;

	TL_CHILD_CHECK(lfd >= 0);
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) == 0);
	do
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (c < 0 && errno == EINTR);
	TL_CHILD_CHECK(c >= 0);
	/* Wait for the parent's word that the hand-off returned, then die. */
	TL_CHILD_CHECK(tl_get_byte(job->go_r, -1) == 0);
	tl_die(0);
}

static void test_backend_dies_after_fd_sent(void **state)
{
	int (*const kinds[])(void *) = { backend_dies_with_fd, backend_dies_fd_in_flight };
	char path[300];
	size_t k;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	for (k = 0; k < ARRAY_SIZE(kinds); k++) {
		struct backend_job job = { 0 };
		int client, front, ready[2], go[2];
		pid_t pid;

		job.path = path;
		tl_pipe(ready);
		tl_pipe(go);
		job.ready_w = ready[1];
		job.go_r = go[0];
		pid = tl_fork_peer(kinds[k], &job);
		close(ready[1]);
		close(go[0]);
		wait_ready(ready[0]);
		close(ready[0]);

		tl_tcp_pair(&client, &front);
		assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 1000), 0);
		assert_int_equal(write(go[1], "g", 1), 1);
		close(go[1]);
		tl_wait_child(pid);
		/*
		 * The backend's copy died with it (read, or still in flight in
		 * its socket); once the front-end drops its own, the client's
		 * connection ends: nobody holds a copy any more.
		 */
		close(front);
		client_gets(client, NULL);
		close(client);
		survived(1);
		unlink(path);
	}
	next_client_served(path);
}

/* ---- the client dies while the flusher writes to it --------------------- */

static int client_reads_then_dies(void *arg)
{
	int fd = *(int *)arg;
	char buf[1000];

	TL_CHILD_CHECK(tl_read_exact(fd, buf, sizeof(buf), 5000) == 0);
	tl_die(0);
}

static void test_client_dies_mid_flush(void **state)
{
	enum { BODY = 4 << 20 };
	fdpass_response *resp = NULL;
	char *body = malloc(BODY), path[300];
	int client, front, small = 4096, r;
	pid_t backend, reader;
	int64_t t0;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_non_null(body);
	memset(body, 'b', BODY);
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, body, BODY), 0);
	free(body);

	backend = start_backend(path, 1);
	tl_tcp_pair(&client, &front);
	assert_int_equal(setsockopt(front, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	/* The client process reads the first 1000 bytes of 4 MiB and dies. */
	reader = tl_fork_peer(client_reads_then_dies, &client);
	close(client);
	t0 = tl_now_ms();
	r = fdpass_handoff(path, front, NULL, resp, 20000);
	if (r != -ECONNABORTED)
		fail_msg("handoff to a client that died mid-flush: %d (%s)", r, fdpass_strerror(r));
	/* Long before the flusher's own timeout: the reset is noticed. */
	assert_in_range(tl_now_ms() - t0, 0, 10000);
	tl_wait_child(reader);
	close(front);
	fdpass_response_free(resp);
	survived(1);

	/* The backend saw a connection that ended without a socket, and serves the next. */
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 2000), 0);
	close(front);
	client_gets(client, "served");
	close(client);
	tl_wait_child(backend);
}

/* ---- a front-end that dies half-way through a metadata message ---------- */

/* The bytes fdpass_send_meta() puts on the wire for m with one fd. */
static unsigned char *wire_bytes(const fdpass_meta *m, size_t *len)
{
	unsigned char *buf = malloc(65536);
	int sv[2], p[2], got = -1;
	ssize_t n;

	assert_non_null(buf);
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	assert_int_equal(fdpass_send_meta(sv[0], &p[0], 1, m, 0, 1000), 0);
	/* Take it raw; the fd that came is closed. */
	{
		size_t nfds = 1;

		n = fdpass_recv_fds(sv[1], &got, &nfds, buf, 65536, 0, 1000);
		assert_true(n > 16);
		if (nfds)
			close(got);
	}
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	*len = (size_t)n;
	return buf;
}

struct cut_job {
	const char *path;        /* connect there, or: */
	int sock;                /* use this socket */
	const unsigned char *msg;
	size_t cut;              /* bytes sent before dying */
	int fd;                  /* sent with the first byte */
	int hold_r;              /* > 0: stay alive after the cut until a byte comes here */
};

static int frontend_dies_mid_message(void *arg)
{
	const struct cut_job *job = arg;
	int sock = job->sock;

	if (job->path)
		TL_CHILD_CHECK((sock = fdpass_connect(job->path, 0, 2000)) >= 0);
	TL_CHILD_CHECK(tl_sendmsg_fds(sock, job->msg, job->cut, &job->fd, 1, 0) ==
		       (ssize_t)job->cut);
	TL_CHILD_CHECK(job->hold_r <= 0 || tl_get_byte(job->hold_r, -1) == 0);
	tl_die(0);
}

/* Where the message is cut: inside the header, the records, the payload. */
static const size_t cuts[] = { 1, 2, 10, 16, 17, 22, 300, 0 /* all but the last byte */ };

static void test_frontend_dies_mid_message_recv_meta(void **state)
{
	fdpass_meta *m = tl_meta(1000);
	unsigned char *msg;
	size_t len, c;

	(void)state;
	msg = wire_bytes(m, &len);
	for (c = 0; c < ARRAY_SIZE(cuts); c++) {
		struct cut_job job = { 0 };
		int sv[2], p[2], got[2] = { -1, -1 }, r, fds;
		fdpass_meta *in = (fdpass_meta *)&in;
		size_t n = 2;
		char eof;

		tl_socketpair(SOCK_STREAM, sv);
		tl_pipe(p);
		fds = tl_count_fds();
		job.sock = sv[0];
		job.msg = msg;
		job.cut = cuts[c] ? cuts[c] : len - 1;
		job.fd = p[1];
		tl_wait_child(tl_fork_peer(frontend_dies_mid_message, &job));
		close(sv[0]);
		close(p[1]);
		r = fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 2000);
		if (r != -ECONNRESET)
			fail_msg("cut after %zu of %zu bytes: %d (%s)", job.cut, len, r,
				 fdpass_strerror(r));
		assert_int_equal(n, 0);
		assert_null(in);
		/* The write end that travelled was closed: the pipe is at its end. */
		assert_int_equal(read(p[0], &eof, 1), 0);
		close(p[0]);
		close(sv[1]);
		assert_int_equal(tl_count_fds(), fds - 4);
		survived(1);
	}
	/* And a peer that sends it whole is read. */
	{
		struct cut_job job = { 0 };
		int sv[2], p[2], got[2] = { -1, -1 };
		fdpass_meta *in = NULL;
		size_t n = 2;

		tl_socketpair(SOCK_STREAM, sv);
		tl_pipe(p);
		job.sock = sv[0];
		job.msg = msg;
		job.cut = len;
		job.fd = p[1];
		tl_wait_child(tl_fork_peer(frontend_dies_mid_message, &job));
		assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 2000), 1);
		assert_int_equal(n, 1);
		assert_true(tl_same_file(got[0], p[1]));
		assert_true(tl_meta_same(in, m));
		fdpass_meta_free(in);
		close(got[0]);
		close(p[0]);
		close(p[1]);
		close(sv[0]);
		close(sv[1]);
	}
	free(msg);
	fdpass_meta_free(m);
}

/* A well-behaved front-end in a child: a tagged pipe with metadata m. */
struct good_job {
	const char *path;
	const fdpass_meta *m;
};

static int good_frontend(void *arg)
{
	const struct good_job *job = arg;
	int sock = fdpass_connect(job->path, 0, 2000), fd = tl_tagged_fd("good");

	TL_CHILD_CHECK(sock >= 0 && fd >= 0);
	TL_CHILD_CHECK(fdpass_send_meta(sock, &fd, 1, job->m, 0, 2000) == 0);
	return 0;
}

static void assert_backend_serves_good(fdpass_backend *b, const char *path, const fdpass_meta *m)
{
	struct good_job job = { path, m };
	fdpass_meta *in = NULL;
	pid_t pid = tl_fork_peer(good_frontend, &job);
	int fd = -1;

	assert_int_equal(fdpass_backend_recv_meta(b, &fd, &in, 3000), 1);
	assert_true(tl_fd_says(fd, "good", 1000));
	assert_true(tl_meta_same(in, m));
	close(fd);
	fdpass_meta_free(in);
	tl_wait_child(pid);
	/* Its connection ended: nothing more, and the backend lets it go. */
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
}

static void test_frontend_dies_mid_message_backend(void **state)
{
	fdpass_meta *m = tl_meta(1000);
	fdpass_backend *b = NULL;
	unsigned char *msg;
	char path[300];
	size_t len, c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	msg = wire_bytes(m, &len);
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	for (c = 0; c < ARRAY_SIZE(cuts); c++) {
		struct cut_job job = { 0 };
		fdpass_meta *in = (fdpass_meta *)&in;
		int p[2], fd = 7, r, fds;
		char eof;

		tl_pipe(p);
		fds = tl_count_fds();
		job.path = path;
		job.msg = msg;
		job.cut = cuts[c] ? cuts[c] : len - 1;
		job.fd = p[1];
		tl_wait_child(tl_fork_peer(frontend_dies_mid_message, &job));
		close(p[1]);
		r = fdpass_backend_recv_meta(b, &fd, &in, 2000);
		if (r != -ECONNRESET)
			fail_msg("cut after %zu of %zu bytes: %d (%s)", job.cut, len, r,
				 fdpass_strerror(r));
		assert_int_equal(fd, -1);
		assert_null(in);
		assert_int_equal(read(p[0], &eof, 1), 0);
		close(p[0]);
		assert_int_equal(tl_count_fds(), fds - 2);
		survived(1);
		assert_backend_serves_good(b, path, m);
	}

	/* One that stalls half-way (alive): dropped after a second, -ETIME. */
	{
		struct cut_job job = { 0 };
		int p[2], hold[2], fd = 7, r;
		pid_t pid;
		int64_t t0;

		tl_pipe(p);
		tl_pipe(hold);
		job.path = path;
		job.msg = msg;
		job.cut = 300;
		job.fd = p[1];
		job.hold_r = hold[0];
		pid = tl_fork_peer(frontend_dies_mid_message, &job);
		close(p[1]);
		close(hold[0]);
		assert_true(tl_wait_fd(fdpass_backend_fd(b), POLLIN, 10000) > 0);
		t0 = tl_now_ms();
		r = fdpass_backend_recv(b, &fd, 2000 + tl_margin_ms());
		assert_int_equal(r, -ETIME);
		assert_in_range(tl_now_ms() - t0, 0, 1000 + tl_margin_ms());
		assert_int_equal(fd, -1);
		assert_int_equal(write(hold[1], "g", 1), 1);
		close(hold[1]);
		tl_wait_child(pid);
		assert_int_equal(read(p[0], (char[1]){ 0 }, 1), 0);
		close(p[0]);
		survived(1);
		assert_backend_serves_good(b, path, m);
	}
	fdpass_backend_free(b);
	free(msg);
	fdpass_meta_free(m);
}

/* fdpass_recv_fds(FDPASS_WAITALL): the sender dies after 10 of 100 bytes. */
static void test_sender_dies_mid_payload(void **state)
{
	unsigned char msg[100], buf[100];
	struct cut_job job = { 0 };
	int sv[2], p[2], got[2] = { -1, -1 }, fds;
	size_t n = 2;
	char eof;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	fds = tl_count_fds();
	job.sock = sv[0];
	job.msg = msg;
	job.cut = 10;
	job.fd = p[1];
	tl_wait_child(tl_fork_peer(frontend_dies_mid_message, &job));
	close(sv[0]);
	close(p[1]);
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), FDPASS_WAITALL, 2000),
			 -ECONNRESET);
	assert_int_equal(n, 0);
	assert_int_equal(read(p[0], &eof, 1), 0);
	close(p[0]);
	close(sv[1]);
	assert_int_equal(tl_count_fds(), fds - 4);
	survived(1);
}

/* ---- the receiver dies while the sender is blocked ---------------------- */

static int receiver_dies_later(void *arg)
{
	(void)arg;
	tl_sleep_ms(200);
	tl_die(0);
}

static void test_receiver_dies_while_sender_blocked(void **state)
{
	enum { DATA = 65536 };
	fdpass_meta *m = tl_meta(DATA);
	int sv[2], p[2], r = 0, i;
	pid_t pid;
	int64_t t0;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	t0 = tl_now_ms();
	pid = tl_fork_peer(receiver_dies_later, NULL);
	close(sv[1]);
	/* Messages pile up; a send blocks; the receiver dies: the send ends. */
	for (i = 0; i < 1000; i++) {
		r = fdpass_send_meta(sv[0], &p[1], 1, m, 0, 5000);
		if (r < 0)
			break;
	}
	if (r != -EPIPE && r != -ECONNRESET && r != -ECONNABORTED)
		fail_msg("send to a receiver that died: %d (%s) after %d messages", r,
			 fdpass_strerror(r), i);
	/* After the receiver's death, and long before the send's own deadline. */
	assert_in_range(tl_now_ms() - t0, 200, 2500);
	tl_wait_child(pid);
	/* The caller's fds are its own still. */
	assert_true(tl_is_open(p[1]));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	fdpass_meta_free(m);
	survived(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_backend_dies_before_connect),
		TL_DIR_TEST(test_backend_dies_after_accept),
		TL_DIR_TEST(test_backend_dies_after_fd_sent),
		TL_DIR_TEST(test_client_dies_mid_flush),
		TL_DIR_TEST(test_frontend_dies_mid_message_recv_meta),
		TL_DIR_TEST(test_frontend_dies_mid_message_backend),
		TL_DIR_TEST(test_sender_dies_mid_payload),
		TL_DIR_TEST(test_receiver_dies_while_sender_blocked),
	};
	int r;

	signal(SIGPIPE, SIG_DFL);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	printf("dying peers: %u peers died at %u stages of a hand-off, %s\n", deaths, stages,
	       r == 0 ? "all survived" : "NOT ALL SURVIVED (see above)");
	fflush(stdout);
	return r;
}
