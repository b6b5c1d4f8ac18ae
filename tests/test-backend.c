// SPDX-License-Identifier: MIT
/*
 * The backend's receive loop: no front-end, however busy, slow or hostile,
 * holds up the others, and nothing a front-end sent is dropped unsaid. One
 * test per way the loop used to fail (a busy sender starving a quiet one,
 * refused senders starving allowed ones, a spin at the open-file limit,
 * half messages stalling every call, request bytes dropped by the plain
 * call), then the settings of LIBFDPASS_1.2. Real sockets and processes,
 * the fd-leak check around every test; bounds are orderings and counts of
 * calls, and time bounds are far from what a loaded machine or valgrind
 * needs.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define NOBODY 65534

/* ---- front-ends in this process ------------------------------------------ */

static int frontend(const char *path)
{
	int sock = fdpass_connect(path, 0, 5000);

	if (sock < 0)
		fail_msg("connect %s: %s", path, fdpass_strerror(sock));
	return sock;
}

/* One hand-off on sock: a pipe that reads tag, with m (NULL: httpd's form). */
static void send_tag(int sock, const char *tag, const fdpass_meta *m)
{
	int fd = tl_tagged_fd(tag);

	assert_true(fd >= 0);
	assert_int_equal(fdpass_send_meta(sock, &fd, 1, m, 0, 5000), 0);
	close(fd);
}

/* fd reads tag to its end; closed. */
static void assert_tag(int fd, const char *tag)
{
	char buf[128];

	assert_true(fd >= 0);
	tl_read_to_eof(fd, buf, sizeof(buf), 5000);
	close(fd);
	assert_string_equal(buf, tag);
}

static void expect_tag(fdpass_backend *b, const char *tag, int timeout_ms)
{
	int fd = -7, r = fdpass_backend_recv(b, &fd, timeout_ms);

	if (r != 1)
		fail_msg("fdpass_backend_recv = %d (%s), expected the fd \"%s\"", r,
			 fdpass_strerror(r), tag);
	assert_tag(fd, tag);
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static fdpass_meta *meta_with_data(const char *data)
{
	fdpass_meta *m = NULL;

	assert_int_equal(fdpass_meta_new(&m), 0);
	if (data)
		assert_int_equal(fdpass_meta_set_data(m, data, strlen(data)), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "192.0.2.7:51234"), 0);
	return m;
}

static void make_backend(void **state, fdpass_backend **b, char *path, size_t size, int mode)
{
	tl_path_in(path, size, state, "b.sock");
	*b = NULL;
	assert_int_equal(fdpass_backend_new(b, path, mode, 0), 0);
}

/* A child of a test that failed half-way must not outlive it. */
static void die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}


/* ---- 1. a busy front-end does not starve a quiet one --------------------- */

struct busy_job {
	const char *path;
	int fd; /* sent again and again */
};

/* Keeps a hand-off queued behind every hand-off until the backend goes. */
static int busy_child(void *arg)
{
	const struct busy_job *job = arg;
	int sock;

	die_with_parent();
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
	while (fdpass_send(sock, job->fd) == 0)
		;
	return 0;
}

/* The next hand-off: 1 if it is quiet's, 0 if busy's; fails on anything else. */
static int next_is(fdpass_backend *b, int quiet, int busy)
{
	int fd = -7, r = fdpass_backend_recv(b, &fd, 5000), is_quiet;

	if (r != 1)
		fail_msg("fdpass_backend_recv = %d (%s)", r, fdpass_strerror(r));
	is_quiet = tl_same_file(fd, quiet);
	assert_true(is_quiet || tl_same_file(fd, busy));
	close(fd);
	return is_quiet;
}

/*
 * A front-end that always has a message queued used to be served on every
 * call, while a quiet one (and the listener's backlog) waited for ever:
 * epoll reports ready fds in the same order each time, and the call used to
 * drop the rest of the batch. Ready front-ends now take turns: the quiet
 * one's message comes after at most a round of the busy one's.
 */
static void test_busy_frontend_does_not_starve_quiet(void **state)
{
	char path[300];
	fdpass_backend *b;
	struct busy_job job;
	int busy[2], quiet[2], sock, i, calls;
	pid_t pid;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(pipe2(busy, O_CLOEXEC), 0);
	assert_int_equal(pipe2(quiet, O_CLOEXEC), 0);
	job = (struct busy_job){ .path = path, .fd = busy[1] };
	pid = tl_fork(busy_child, &job);
	/* The busy one is accepted and streaming. */
	for (i = 0; i < 3; i++)
		assert_int_equal(next_is(b, quiet[1], busy[1]), 0);

	/* A quiet front-end connects and sends one hand-off. */
	sock = frontend(path);
	assert_int_equal(fdpass_send(sock, quiet[1]), 0);
	for (calls = 1; !next_is(b, quiet[1], busy[1]); calls++)
		if (calls >= 8)
			fail_msg("the quiet front-end's hand-off was not handed out in %d calls: "
				 "a busy front-end starves it", calls);
	/* Accepting it, then its message: each a turn, a round at most. */
	assert_in_range(calls, 1, 5);

	/* Connected now: its next message waits at most a round or two. */
	for (i = 0; i < 20; i++) {
		assert_int_equal(fdpass_send(sock, quiet[1]), 0);
		for (calls = 1; !next_is(b, quiet[1], busy[1]); calls++)
			if (calls >= 8)
				fail_msg("hand-off %d of the quiet front-end took over %d calls",
					 i, calls);
		assert_in_range(calls, 1, 3);
	}

	fdpass_backend_free(b); /* the busy child's send fails: it ends */
	tl_wait_child(pid);
	close(sock);
	close(busy[0]);
	close(busy[1]);
	close(quiet[0]);
	close(quiet[1]);
}

/* ---- 2. refused senders do not starve allowed ones ----------------------- */

/* Connects and hangs up as fast as it can, as nobody, until told to stop. */
static int flood_child(void *arg)
{
	const char *path = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int stop = 3, i; /* the stop pipe's read end, moved there by the parent */

	die_with_parent();
	if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (i = 0; !(i % 16 == 0 && readable(stop, 0)); i++) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (s < 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "s < 0");
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN) {
			fprintf(stderr, "flood child: connect: %s\n", strerror(errno));
			close(s);
			return 1;
		}
		close(s);
	}
	return 0;
}

struct allowed_job {
	const char *path;
	int go_r, sent_w;
	int n;
};

/* For each go byte: a connection, one hand-off, then a sent byte. */
static int allowed_child(void *arg)
{
	const struct allowed_job *job = arg;
	int i;

	die_with_parent();
	for (i = 0; i < job->n; i++) {
		char tag[32], c;
		int sock, fd;

		if (read(job->go_r, &c, 1) != 1)
			TL_CHILD_FAIL("unexpectedly true: %s", "read(job->go_r, &c, 1) != 1");
		sock = fdpass_connect(job->path, 0, 20000);
		if (sock < 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
		snprintf(tag, sizeof(tag), "allowed %d", i);
		fd = tl_tagged_fd(tag);
		if (fd < 0 || fdpass_send(sock, fd) != 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0 || fdpass_send(sock, fd) != 0");
		close(fd);
		close(sock);
		if (write(job->sent_w, "s", 1) != 1)
			TL_CHILD_FAIL("unexpectedly true: %s", "write(job->sent_w, \"s\", 1) != 1");
	}
	return 0;
}

static pid_t fork_flooder(const char *path, int stop_r)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(stop_r, 3) < 0)
			_exit(9);
		_exit(flood_child((void *)path));
	}
	return pid;
}

/*
 * A refused connection used to end the call with -EPERM before any other
 * event was looked at: front-ends of another uid connecting and hanging up
 * in a loop kept every call busy with them. Refusals are now recorded and
 * reported only when nothing else is ready: once an allowed front-end has
 * sent, the very next call hands its client out, flood or not.
 */
static void test_refused_flood_does_not_starve_allowed(void **state)
{
	enum { FLOODERS = 2, HANDOFFS = 5 };
	char path[300], c;
	fdpass_backend *b;
	struct allowed_job job;
	pid_t flooders[FLOODERS], allowed;
	int stop[2], go[2], sent[2], i, eperm = 0;
	uid_t uid = 0;

	if (geteuid() != 0)
		skip(); /* needs root to run front-ends of another uid */
	assert_int_equal(chmod(tl_dir_path(state), 0711), 0);
	make_backend(state, &b, path, sizeof(path), 0666);
	assert_int_equal(fdpass_backend_allow_uid(b, getuid()), 0);
	assert_int_equal(pipe2(stop, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(sent, O_CLOEXEC), 0);
	for (i = 0; i < FLOODERS; i++)
		flooders[i] = fork_flooder(path, stop[0]);
	job = (struct allowed_job){ .path = path, .go_r = go[0], .sent_w = sent[1],
				    .n = HANDOFFS };
	allowed = tl_fork(allowed_child, &job);

	/* The flood is on: refusals are reported while nothing else happens. */
	while (fdpass_backend_recv(b, (int[1]){ 0 }, 100) != -EPERM)
		;
	assert_int_equal(fdpass_backend_last_refused(b, NULL, &uid, NULL), 0);
	assert_int_equal(uid, NOBODY);

	for (i = 0; i < HANDOFFS; i++) {
		char tag[32];
		int fd = -7, r;

		snprintf(tag, sizeof(tag), "allowed %d", i);
		assert_int_equal(write(go[1], "g", 1), 1);
		/* Keep the backlog moving until the allowed one says it has sent. */
		for (;;) {
			r = fdpass_backend_recv(b, &fd, 20);
			if (r == 1 || readable(sent[0], 0))
				break;
			if (r == -EPERM)
				eperm++;
			else
				assert_int_equal(r, -ETIMEDOUT);
		}
		assert_int_equal(read(sent[0], &c, 1), 1);
		/* Sent: the next call hands it out, whatever waits beside it. */
		if (r != 1)
			r = fdpass_backend_recv(b, &fd, 20000);
		if (r != 1)
			fail_msg("hand-off %d: the call after it was sent returned %d (%s), "
				 "not the allowed front-end's client", i, r, fdpass_strerror(r));
		assert_tag(fd, tag);
	}
	fprintf(stderr, "  %d hand-offs served beside the flood; -EPERM reported %d times "
		"while nothing else was ready\n", HANDOFFS, eperm);
	tl_wait_child(allowed);
	assert_int_equal(write(stop[1], "s", 1), 1);
	for (i = 0; i < FLOODERS; i++)
		tl_wait_child(flooders[i]);
	fdpass_backend_free(b);
	close(stop[0]);
	close(stop[1]);
	close(go[0]);
	close(go[1]);
	close(sent[0]);
	close(sent[1]);
}

/* ---- 3. no busy loop at the open-file limit ------------------------------ */

struct holder_job {
	const char *path;
	int cmd_r, ack_w;
	int n;
};

/*
 * Holds n connections to the backend (c), hangs them all up (h), then hands
 * off one client (g), acknowledging each command.
 */
static int holder_child(void *arg)
{
	const struct holder_job *job = arg;
	int socks[64], i, fd;
	char c;

	die_with_parent();
	for (i = 0; i < job->n; i++)
		if ((socks[i] = fdpass_connect(job->path, 0, 5000)) < 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "(socks[i] = fdpass_connect(job->path, 0, 5000)) < 0");
	if (write(job->ack_w, "c", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'h')
		TL_CHILD_FAIL("unexpectedly true: %s", "write(job->ack_w, \"c\", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'h'");
	for (i = 0; i < job->n; i++)
		close(socks[i]);
	if (write(job->ack_w, "h", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'g')
		TL_CHILD_FAIL("unexpectedly true: %s", "write(job->ack_w, \"h\", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'g'");
	socks[0] = fdpass_connect(job->path, 0, 5000);
	fd = tl_tagged_fd("after the limit");
	if (socks[0] < 0 || fd < 0 || fdpass_send(socks[0], fd) != 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "socks[0] < 0 || fd < 0 || fdpass_send(socks[0], fd) != 0");
	close(fd);
	close(socks[0]);
	return write(job->ack_w, "g", 1) == 1 ? 0 : 14;
}

static int64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

#define HELD 12
#define ROOM 4
#define WATCH_MS 800

/* In a child, so that the lowered limit ends with it. */
static int child_at_fd_limit(void *arg)
{
	const char *path = arg;
	fdpass_backend *b = NULL;
	struct holder_job job;
	int cmd[2], ack[2], calls = 0, emfile = 0, fd, r;
	int64_t t0, c0, wall, cpu;
	pid_t holder;
	char c;

	TL_CHILD_CHECK(fdpass_backend_new(&b, path, -1, 0) == 0);
	TL_CHILD_CHECK(pipe2(cmd, O_CLOEXEC) == 0 && pipe2(ack, O_CLOEXEC) == 0);
	job = (struct holder_job){ .path = path, .cmd_r = cmd[0], .ack_w = ack[1], .n = HELD };
	fflush(NULL);
	holder = fork();
	TL_CHILD_CHECK(holder >= 0);
	if (holder == 0)
		_exit(holder_child(&job));
	TL_CHILD_CHECK(read(ack[0], &c, 1) == 1 && c == 'c');
	if ((r = tl_limit_fds(ROOM)) != 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
		fdpass_backend_free(b);
		return r;
	}

	/*
	 * More front-ends wait than fds are free: the backend takes ROOM,
	 * then accept() fails. The calls must wait as their timeout says,
	 * not spin on the listener.
	 */
	t0 = tl_now_ms();
	c0 = cpu_ms();
	while (tl_now_ms() - t0 < WATCH_MS) {
		r = fdpass_backend_recv(b, &fd, 100);
		calls++;
		if (r == -EMFILE)
			emfile++;
		else
			TL_CHILD_CHECK(r == -ETIMEDOUT);
	}
	wall = tl_now_ms() - t0;
	cpu = cpu_ms() - c0;
	fprintf(stderr, "  at the fd limit: %d calls of 100 ms in %lld ms, %lld ms of CPU, "
		"%d x -EMFILE\n", calls, (long long)wall, (long long)cpu, emfile);
	TL_CHILD_CHECK(emfile == 1);                  /* one report for the episode */
	TL_CHILD_CHECK(calls <= 3 + wall / 100);      /* each call waited */
	TL_CHILD_CHECK(cpu * 4 <= wall);              /* and did not spin meanwhile */

	/*
	 * They all hang up, and another front-end hands off a client: the
	 * backend reaps the dead ones, fd by fd, and serves it.
	 */
	TL_CHILD_CHECK(write(cmd[1], "h", 1) == 1 && read(ack[0], &c, 1) == 1);
	TL_CHILD_CHECK(write(cmd[1], "g", 1) == 1 && read(ack[0], &c, 1) == 1);
	for (calls = 0; (r = fdpass_backend_recv(b, &fd, 10000)) != 1; calls++)
		TL_CHILD_CHECK(r == -EMFILE && calls < 3);
	{
		char buf[64];

		tl_read_to_eof(fd, buf, sizeof(buf), 5000);
		TL_CHILD_CHECK(!strcmp(buf, "after the limit"));
		close(fd);
	}
	TL_CHILD_CHECK(waitpid(holder, &r, 0) == holder && WIFEXITED(r) && WEXITSTATUS(r) == 0);
	fdpass_backend_free(b);
	return 0;
}

static void test_fd_limit_no_busy_loop(void **state)
{
	char path[300];
	int r;

	tl_path_in(path, sizeof(path), state, "b.sock");
	r = tl_child_result(tl_fork(child_at_fd_limit, path));
	if (r == 77)
		skip(); /* valgrind: RLIMIT_NOFILE is only emulated */
	assert_int_equal(r, 0);
}

/* ---- 4. half a message holds up nobody ------------------------------------ */

/*
 * A front-end that sent the start of a message used to hold every call
 * (timeout 0 included) for a second, waiting for the rest. Now each call
 * returns at once, a well-behaved front-end beside K half messages is
 * served at once, and the half messages are dropped at their deadline with
 * their fds closed.
 */
static void test_half_messages_hold_up_nobody(void **state)
{
	enum { K = 8 };
	static const char start[] = "FDPM\1\0\0\1\0\0"; /* 10 bytes of a header */
	char path[300];
	fdpass_backend *b;
	fdpass_meta *m = meta_with_data("GET / HTTP/1.1\r\n\r\n"), *got = NULL;
	int half[K], p[2], good, calls, i, fd = -7, r;
	int64_t t0, slowest = 0, started;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_set_message_timeout(b, 1500), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (i = 0; i < K; i++) {
		half[i] = frontend(path);
		tl_raw_send(half[i], start, i % 2 ? 1 : sizeof(start) - 1, &p[1], 1);
	}
	close(p[1]);
	good = frontend(path);
	send_tag(good, "whole", m);

	started = tl_now_ms();
	for (calls = 1;; calls++) {
		t0 = tl_now_ms();
		r = fdpass_backend_recv_meta(b, &fd, &got, 0);
		if (tl_now_ms() - t0 > slowest)
			slowest = tl_now_ms() - t0;
		if (r == 1)
			break;
		assert_int_equal(r, -EAGAIN);
		if (calls >= K + 4)
			fail_msg("no hand-off in %d calls with timeout 0", calls);
	}
	fprintf(stderr, "  %d half messages: the whole one in call %d, slowest call %lld ms\n", K,
		calls, (long long)slowest);
	if (slowest >= 500)
		fail_msg("a call with timeout 0 took %lld ms: it waited for half a message",
			 (long long)slowest);
	assert_in_range(calls, 1, 3);
	assert_tag(fd, "whole");
	assert_non_null(got);
	fdpass_meta_free(got);

	/* The half ones: still open, then dropped at their deadlines. */
	for (i = 0; i < K; i++)
		assert_false(tl_hung_up(half[i], 0));
	r = fdpass_backend_recv(b, &fd, 10000);
	assert_int_equal(r, -ETIME);
	assert_true(tl_now_ms() - started >= 1400);
	for (i = 0; i < K; i++) {
		/* Read one by one, their deadlines may be a few ms apart. */
		while (!tl_hung_up(half[i], 0))
			assert_int_equal(fdpass_backend_recv(b, &fd, 10000), -ETIME);
		close(half[i]);
	}
	tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 5000); /* every copy of p[1] closed */
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);

	/* The good one's connection is still served. */
	send_tag(good, "again", NULL);
	expect_tag(b, "again", 5000);
	close(good);
	close(p[0]);
	fdpass_meta_free(m);
	fdpass_backend_free(b);
}

/* ---- 5. the plain call says what it dropped ------------------------------ */

static void test_plain_recv_says_bytes_were_dropped(void **state)
{
	static const struct {
		const char *data; /* NULL: no data record; "-": httpd's plain message */
		int flags;
	} cases[] = {
		{ "GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
		  FDPASS_BACKEND_META | FDPASS_BACKEND_META_DROPPED | FDPASS_BACKEND_DATA_DROPPED },
		{ "", FDPASS_BACKEND_META | FDPASS_BACKEND_META_DROPPED },
		{ NULL, FDPASS_BACKEND_META | FDPASS_BACKEND_META_DROPPED },
		{ "-", 0 },
	};
	char path[300];
	fdpass_backend *b;
	fdpass_meta *m, *got;
	size_t c;
	int sock, fd;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_last_flags(b), 0);
	assert_int_equal(fdpass_backend_last_flags(NULL), -EINVAL);
	sock = frontend(path);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int plain = cases[c].data && !strcmp(cases[c].data, "-");

		m = plain ? NULL : meta_with_data(cases[c].data);
		send_tag(sock, "client", m);
		expect_tag(b, "client", 5000);
		if (fdpass_backend_last_flags(b) != cases[c].flags)
			fail_msg("case %zu: fdpass_backend_last_flags = %#x, expected %#x", c,
				 fdpass_backend_last_flags(b), cases[c].flags);

		/* With metadata asked for, nothing is dropped. */
		send_tag(sock, "client", m);
		fd = -7;
		got = NULL;
		assert_int_equal(fdpass_backend_recv_meta(b, &fd, &got, 5000), 1);
		assert_tag(fd, "client");
		assert_int_equal(fdpass_backend_last_flags(b), plain ? 0 : FDPASS_BACKEND_META);
		if (cases[c].data && !plain) {
			size_t len = 0;
			const void *d = fdpass_meta_get_data(got, &len);

			assert_int_equal(len, strlen(cases[c].data));
			assert_true(d && !memcmp(d, cases[c].data, len));
		}
		assert_true(plain ? got == NULL : got != NULL);
		fdpass_meta_free(got);
		fdpass_meta_free(m);
		/* A call that hands out nothing says nothing. */
		assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
		assert_int_equal(fdpass_backend_last_flags(b), 0);
	}
	close(sock);
	fdpass_backend_free(b);
}

/* ---- the 1.2 calls and settings ------------------------------------------ */

static void test_settings_arguments(void **state)
{
	char path[300];
	fdpass_backend *b;
	int fds[2];
	size_t n = 2;
	fdpass_meta *m = (fdpass_meta *)&n;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_set_max_payload(NULL, 10), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_payload(b, (size_t)FDPASS_META_LIMIT + 1), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_payload(b, FDPASS_META_LIMIT), 0);
	assert_int_equal(fdpass_backend_set_max_payload(b, 0), 0);
	assert_int_equal(fdpass_backend_set_max_fds(NULL, 1), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_fds(b, 0), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_fds(b, FDPASS_MAX_FDS + 1), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_fds(b, FDPASS_MAX_FDS), 0);
	assert_int_equal(fdpass_backend_set_message_timeout(NULL, 10), -EINVAL);
	assert_int_equal(fdpass_backend_set_message_timeout(b, 0), -EINVAL);
	assert_int_equal(fdpass_backend_set_message_timeout(b, -1), -EINVAL);
	assert_int_equal(fdpass_backend_set_message_timeout(b, 1), 0);
	assert_int_equal(fdpass_backend_set_idle_timeout(NULL, 10), -EINVAL);
	assert_int_equal(fdpass_backend_set_idle_timeout(b, 0), -EINVAL);
	assert_int_equal(fdpass_backend_set_idle_timeout(b, -1), 0);
	assert_int_equal(fdpass_backend_set_idle_timeout(b, 1000), 0);
	assert_int_equal(fdpass_backend_set_max_connections(NULL, 1), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_connections(b, 0), -EINVAL);
	assert_int_equal(fdpass_backend_set_max_connections(b, 1), 0);

	assert_int_equal(fdpass_backend_recv_fds(NULL, fds, &n, &m, 0), -EINVAL);
	assert_int_equal(n, 0);
	assert_null(m);
	n = 2;
	assert_int_equal(fdpass_backend_recv_fds(b, NULL, &n, NULL, 0), -EINVAL);
	assert_int_equal(fdpass_backend_recv_fds(b, fds, NULL, NULL, 0), -EINVAL);
	n = 0;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, NULL, 0), -EINVAL);
	n = 2;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, NULL, 0), -EAGAIN);
	assert_int_equal(n, 0);
	fdpass_backend_free(b);
}

/* Three tagged pipes in one metadata message. */
static void send_three(int sock, const char *tag0, size_t n)
{
	const char *tags[] = { tag0, "second", "third", "fourth" };
	int fds[4];
	fdpass_meta *m = meta_with_data("x");
	size_t i;

	for (i = 0; i < n; i++)
		assert_true((fds[i] = tl_tagged_fd(tags[i])) >= 0);
	assert_int_equal(fdpass_send_meta(sock, fds, n, m, 0, 5000), 0);
	for (i = 0; i < n; i++)
		close(fds[i]);
	fdpass_meta_free(m);
}

static void test_recv_fds_max_fds(void **state)
{
	char path[300];
	fdpass_backend *b;
	fdpass_meta *m;
	int early, sock, fds[4], p[2];
	size_t n;

	make_backend(state, &b, path, sizeof(path), -1);
	early = frontend(path);
	assert_int_equal(fdpass_backend_recv(b, fds, 0), -EAGAIN); /* accepted */
	assert_int_equal(fdpass_backend_set_max_fds(b, 3), 0);
	sock = frontend(path);

	/* Three fds, in the order sent, with the metadata. */
	send_three(sock, "first", 3);
	n = 4;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, &m, 5000), 1);
	assert_int_equal(n, 3);
	assert_non_null(m);
	assert_int_equal(fdpass_backend_last_flags(b), FDPASS_BACKEND_META);
	assert_tag(fds[0], "first");
	assert_tag(fds[1], "second");
	assert_tag(fds[2], "third");
	fdpass_meta_free(m);

	/* Room for one: the first, the others closed and said so. */
	send_three(sock, "first", 3);
	n = 1;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, NULL, 5000), 1);
	assert_int_equal(n, 1);
	assert_int_equal(fdpass_backend_last_flags(b),
			 FDPASS_BACKEND_META | FDPASS_BACKEND_META_DROPPED |
				 FDPASS_BACKEND_DATA_DROPPED | FDPASS_BACKEND_FDS_DROPPED);
	assert_tag(fds[0], "first");
	send_three(sock, "first", 2);
	assert_int_equal(fdpass_backend_recv(b, fds, 5000), 1);
	assert_tag(fds[0], "first");
	assert_true(fdpass_backend_last_flags(b) & FDPASS_BACKEND_FDS_DROPPED);

	/* httpd's message through recv_fds. */
	send_tag(sock, "plain", NULL);
	n = 4;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, &m, 5000), 1);
	assert_int_equal(n, 1);
	assert_null(m);
	assert_tag(fds[0], "plain");

	/* More than the setting: dropped, every fd closed. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	{
		int four[4] = { p[1], p[1], p[1], p[1] };
		fdpass_meta *x = meta_with_data(NULL);

		assert_int_equal(fdpass_send_meta(sock, four, 4, x, 0, 5000), 0);
		fdpass_meta_free(x);
	}
	close(p[1]);
	n = 4;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, NULL, 5000), -ETOOMANYREFS);
	assert_int_equal(n, 0);
	assert_true(tl_hung_up(sock, 5000));
	tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 5000);
	close(p[0]);
	close(sock);

	/* A front-end accepted before the setting keeps the room it had: one. */
	send_three(early, "first", 2);
	n = 4;
	assert_int_equal(fdpass_backend_recv_fds(b, fds, &n, NULL, 5000), -ETOOMANYREFS);
	close(early);
	fdpass_backend_free(b);
}

static void test_max_payload(void **state)
{
	char path[300], big[200];
	fdpass_backend *b;
	fdpass_meta *m;
	int sock;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_set_max_payload(b, 64), 0);
	sock = frontend(path);
	m = meta_with_data("small"); /* 6 + 5 and 6 + 15 bytes of records */
	send_tag(sock, "small", m);
	expect_tag(b, "small", 5000);
	fdpass_meta_free(m);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	m = meta_with_data(big);
	send_tag(sock, "big", m);
	assert_int_equal(fdpass_backend_recv(b, (int[1]){ 0 }, 5000), -EMSGSIZE);
	assert_true(tl_hung_up(sock, 5000));
	close(sock);
	fdpass_meta_free(m);
	fdpass_backend_free(b);
}

/* A connection carries any number of hand-offs, in both forms, however split. */
static void test_many_handoffs_one_connection(void **state)
{
	enum { N = 12 };
	char path[300], tag[32];
	fdpass_backend *b;
	fdpass_meta *m = meta_with_data("GET / HTTP/1.1\r\n\r\n");
	int sock, sv[2], i, j;

	make_backend(state, &b, path, sizeof(path), -1);
	sock = frontend(path);
	/* All queued at once, then taken one per call. */
	for (i = 0; i < N; i++) {
		snprintf(tag, sizeof(tag), "queued %d", i);
		send_tag(sock, tag, i % 3 ? m : NULL);
	}
	for (i = 0; i < N; i++) {
		snprintf(tag, sizeof(tag), "queued %d", i);
		expect_tag(b, tag, 5000);
	}

	/* Byte by byte, each byte a call with timeout 0: put together across calls. */
	tl_socketpair(SOCK_STREAM, sv);
	for (i = 0; i < 4; i++) {
		unsigned char wire[512];
		ssize_t len;
		int fd = tl_tagged_fd("split"), got = -7, r = 0;
		fdpass_meta *in = NULL;

		/* The bytes of one message, from a socketpair. */
		assert_int_equal(fdpass_send_meta(sv[0], &fd, 1, i % 2 ? m : NULL, 0, 1000), 0);
		close(fd);
		{
			size_t nfds = 1;

			len = fdpass_recv_fds(sv[1], &fd, &nfds, wire, sizeof(wire), FDPASS_NONBLOCK, 0);
			assert_true(len > 0);
			assert_int_equal(nfds, 1);
		}
		for (j = 0; j < len; j++) {
			tl_raw_send(sock, wire + j, 1, &fd, j == 0 ? 1 : 0);
			r = fdpass_backend_recv_meta(b, &got, &in, 0);
			if (j < len - 1)
				assert_int_equal(r, -EAGAIN);
		}
		close(fd);
		assert_int_equal(r, 1);
		assert_tag(got, "split");
		assert_true(i % 2 ? in != NULL : in == NULL);
		fdpass_meta_free(in);
	}
	close(sv[0]);
	close(sv[1]);
	close(sock);
	assert_int_equal(fdpass_backend_recv(b, (int[1]){ 0 }, 0), -EAGAIN);
	fdpass_meta_free(m);
	fdpass_backend_free(b);
}

static void test_seqpacket_many_handoffs(void **state)
{
	char path[300], tag[32];
	fdpass_backend *b = NULL;
	fdpass_meta *m = meta_with_data("x");
	int sock, i;

	tl_path_in(path, sizeof(path), state, "p.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, FDPASS_SEQPACKET), 0);
	sock = fdpass_connect(path, FDPASS_SEQPACKET, 5000);
	assert_true(sock >= 0);
	for (i = 0; i < 6; i++) {
		snprintf(tag, sizeof(tag), "packet %d", i);
		send_tag(sock, tag, i % 2 ? m : NULL);
	}
	for (i = 0; i < 6; i++) {
		snprintf(tag, sizeof(tag), "packet %d", i);
		expect_tag(b, tag, 5000);
	}
	close(sock);
	assert_int_equal(fdpass_backend_recv(b, (int[1]){ 0 }, 0), -EAGAIN);
	fdpass_meta_free(m);
	fdpass_backend_free(b);
}

/*
 * The deadlines wake a caller who only polls fdpass_backend_fd(): the fd
 * becomes readable when a front-end's message is overdue, or when one has
 * been idle too long.
 */
static void test_deadlines_wake_the_poller(void **state)
{
	char path[300];
	fdpass_backend *b;
	int efd, half, idle, fd = -7;
	int64_t t0;

	make_backend(state, &b, path, sizeof(path), -1);
	efd = fdpass_backend_fd(b);
	assert_int_equal(fdpass_backend_set_message_timeout(b, 200), 0);
	half = frontend(path);
	tl_raw_send(half, "FDPM", 4, NULL, 0);
	t0 = tl_now_ms();
	/* Accepted, its bytes read, and nothing more to do until the deadline. */
	while (fdpass_backend_recv(b, &fd, 0) == -EAGAIN && readable(efd, 0))
		;
	assert_false(readable(efd, 0));
	assert_true(readable(efd, 10000));
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -ETIME);
	assert_true(tl_now_ms() - t0 >= 190);
	assert_true(tl_hung_up(half, 5000));
	close(half);

	/* Idle: closed quietly once the limit passes. */
	assert_int_equal(fdpass_backend_set_idle_timeout(b, 200), 0);
	idle = frontend(path);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_true(readable(efd, 10000));
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_true(tl_hung_up(idle, 5000));
	assert_true(tl_now_ms() - t0 >= 190);
	close(idle);
	fdpass_backend_free(b);
}

/* An idle connection that keeps handing off is not closed as idle. */
static void test_idle_timeout_counts_from_last_message(void **state)
{
	char path[300];
	fdpass_backend *b;
	int sock, i;
	int64_t t0 = tl_now_ms();

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_set_idle_timeout(b, 300), 0);
	sock = frontend(path);
	/* Six hand-offs 100 ms apart: 500 ms in all, never 300 ms idle. */
	for (i = 0; i < 6; i++) {
		usleep(100 * 1000);
		send_tag(sock, "busy enough", NULL);
		expect_tag(b, "busy enough", 5000);
		if (tl_now_ms() - t0 > 2000)
			skip(); /* too slow a machine to tell anything */
	}
	assert_false(tl_hung_up(sock, 0));
	/* Then silent: closed. */
	assert_int_equal(fdpass_backend_recv(b, (int[1]){ 0 }, 2000), -ETIMEDOUT);
	assert_true(tl_hung_up(sock, 0));
	close(sock);
	fdpass_backend_free(b);
}

/*
 * At the connection limit a new front-end takes the place of the one idle
 * longest; one in the middle of a message is never closed for it: the
 * newcomer then waits in the backlog until a connection goes.
 */
static void test_max_connections(void **state)
{
	char path[300];
	fdpass_backend *b;
	int first, second, third, fourth, fd = -7, r;

	make_backend(state, &b, path, sizeof(path), -1);
	assert_int_equal(fdpass_backend_set_max_connections(b, 2), 0);
	assert_int_equal(fdpass_backend_set_message_timeout(b, 300), 0);
	first = frontend(path);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	second = frontend(path);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	third = frontend(path);
	send_tag(third, "third", NULL);
	expect_tag(b, "third", 5000);
	assert_true(tl_hung_up(first, 5000)); /* idle longest */
	assert_false(tl_hung_up(second, 0));
	close(first);

	/* Both held connections in the middle of a message. */
	tl_raw_send(second, "F", 1, NULL, 0);
	tl_raw_send(third, "FD", 2, NULL, 0);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	fourth = frontend(path);
	send_tag(fourth, "fourth", NULL);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN); /* waits */
	assert_false(tl_hung_up(second, 0));
	assert_false(tl_hung_up(third, 0));
	/* Their deadline frees the room. */
	assert_int_equal(fdpass_backend_recv(b, &fd, 5000), -ETIME);
	expect_tag(b, "fourth", 5000);
	/* The other's deadline, if it was not passed already. */
	r = fdpass_backend_recv(b, &fd, 1000);
	assert_true(r == -ETIME || r == -ETIMEDOUT);
	assert_true(tl_hung_up(second, 0) && tl_hung_up(third, 0));
	close(second);
	close(third);
	close(fourth);
	fdpass_backend_free(b);
}

/* ---- the fdpass_backend calls, one by one -------------------------------- */

/* A unique abstract name, so that parallel runs do not collide. */
static void abstract_name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "@fdpass-test-be-%ld-%s", (long)getpid(), what);
}

/* fd is a pipe's read end that yields exactly tag, then EOF. */
static void assert_fd_carries(int fd, const char *tag)
{
	char buf[128];

	assert_true(tl_is_cloexec(fd));
	tl_read_to_eof(fd, buf, sizeof(buf), 2000);
	assert_string_equal(buf, tag);
}

/* Read 1 byte: the peer must have closed the connection (EOF or reset). */
static void assert_closed_by_peer(int fd)
{
	char c;
	ssize_t n;

	assert_true(tl_wait_fd(fd, POLLIN, 2000) > 0);
	n = read(fd, &c, 1);
	if (n != 0 && !(n < 0 && errno == ECONNRESET))
		fail_msg("expected the peer to close the connection, read gave %zd (%s)", n,
			 n < 0 ? strerror(errno) : "data");
}

/* A front-end in this process: connect to path and send one tagged fd. */
static int send_tagged(const char *path, const char *tag)
{
	int sock = fdpass_connect(path, 0, 1000), fd;

	assert_true(sock >= 0);
	fd = tl_tagged_fd(tag);
	assert_true(fd >= 0);
	assert_int_equal(fdpass_send(sock, fd), 0);
	close(fd);
	return sock;
}

static void assert_recv_tag(fdpass_backend *b, const char *tag, int timeout_ms)
{
	int fd = -7, r = fdpass_backend_recv(b, &fd, timeout_ms);

	if (r != 1)
		fail_msg("fdpass_backend_recv = %d (%s), expected the fd \"%s\"", r,
			 fdpass_strerror(r), tag);
	assert_true(fd >= 0);
	assert_fd_carries(fd, tag);
	close(fd);
}

static void assert_recv_nothing(fdpass_backend *b)
{
	int fd = -7;

	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_int_equal(fd, -1);
}

static void test_backend_new_mode_and_free(void **state)
{
	char path[300], name[128];
	fdpass_backend *b = NULL;
	struct stat st;
	int sock, efd;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, 0640, 0), 0);
	assert_non_null(b);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	efd = fdpass_backend_fd(b);
	assert_true(efd >= 0);
	assert_true(tl_is_cloexec(efd));
	sock = send_tagged(path, "mode 0640");
	assert_recv_tag(b, "mode 0640", 1000);
	close(sock);
	fdpass_backend_free(b);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	fdpass_backend_free(NULL);

	/* Another mode on the same path, now free again. */
	assert_int_equal(fdpass_backend_new(&b, path, 0600, 0), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fdpass_backend_free(b);
	assert_int_equal(access(path, F_OK), -1);

	/* Packet sockets. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, FDPASS_SEQPACKET), 0);
	sock = fdpass_connect(path, FDPASS_SEQPACKET, 1000);
	assert_true(sock >= 0);
	efd = tl_tagged_fd("packet");
	assert_int_equal(fdpass_send(sock, efd), 0);
	close(efd);
	assert_recv_tag(b, "packet", 1000);
	close(sock);
	fdpass_backend_free(b);

	/* An abstract name: nothing in the file system; gone after free. */
	abstract_name(name, sizeof(name), "new");
	assert_int_equal(fdpass_backend_new(&b, name, -1, 0), 0);
	sock = send_tagged(name, "abstract");
	assert_recv_tag(b, "abstract", 1000);
	close(sock);
	fdpass_backend_free(b);
	assert_int_equal(fdpass_connect(name, 0, 1000), -ECONNREFUSED);
}

static void test_backend_new_errors(void **state)
{
	char path[300], plain[300];
	fdpass_backend *b = NULL, *b2 = NULL;
	struct stat st;
	int fd, sock;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(NULL, path, -1, 0), -EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fdpass_backend_new(&b, NULL, -1, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, "", -1, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, path, 010000, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0x100), -EINVAL);
	assert_null(b);
	assert_int_equal(access(path, F_OK), -1);

	/* A live backend is never taken over, and keeps working. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(fdpass_backend_new(&b2, path, -1, 0), -EADDRINUSE);
	assert_null(b2);
	sock = send_tagged(path, "still mine");
	assert_recv_tag(b, "still mine", 1000);
	close(sock);

	/* A file that is not a socket is left alone. */
	tl_path_in(plain, sizeof(plain), state, "plain");
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdpass_backend_new(&b2, plain, -1, 0), -EEXIST);
	assert_int_equal(lstat(plain, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* The backend itself. */
	assert_int_equal(fdpass_backend_recv(NULL, &fd, 0), -EINVAL);
	assert_int_equal(fdpass_backend_recv(b, NULL, 0), -EINVAL);
	assert_int_equal(fdpass_backend_allow_uid(NULL, 0), -EINVAL);
	assert_int_equal(fdpass_backend_fd(NULL), -EINVAL);
	fdpass_backend_free(b);
	assert_int_equal(access(path, F_OK), -1);

	/* FDPASS_NONBLOCK is allowed (the listener is non-blocking anyway). */
	assert_int_equal(fdpass_backend_new(&b, path, -1, FDPASS_NONBLOCK), 0);
	sock = send_tagged(path, "nonblock");
	assert_recv_tag(b, "nonblock", 1000);
	close(sock);
	fdpass_backend_free(b);
}

static void test_backend_free_leaves_replaced_file(void **state)
{
	char path[300], other[300], buf[16] = { 0 };
	fdpass_backend *b = NULL;
	int fd, lfd, sock, conn;

	tl_path_in(path, sizeof(path), state, "b.sock");

	/* Somebody put a file of their own where our socket was. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "theirs", 6), 6);
	close(fd);
	fdpass_backend_free(b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "theirs");
	close(fd);
	assert_int_equal(unlink(path), 0);

	/* ...or another live socket, renamed over ours. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	tl_path_in(other, sizeof(other), state, "other.sock");
	lfd = fdpass_listen(other, -1, 0);
	assert_true(lfd >= 0);
	assert_int_equal(rename(other, path), 0);
	fdpass_backend_free(b);
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	close(conn);
	close(sock);
	close(lfd);
}

static void test_backend_adopt(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[300];
	fdpass_backend *b = NULL;
	int lfd, sock;

	/* A listener made the way a service manager makes one. */
	tl_path_in(path, sizeof(path), state, "adopted.sock");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(fdpass_backend_adopt(&b, lfd), 0);
	assert_non_null(b);
	/* Made non-blocking: another process may accept on it too. */
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_int_not_equal(fdpass_backend_fd(b), lfd);
	assert_recv_nothing(b);
	sock = send_tagged(path, "adopted");
	assert_recv_tag(b, "adopted", 1000);
	close(sock);
	assert_recv_nothing(b);
	fdpass_backend_free(b); /* the listener was the backend's */
	assert_false(tl_is_open(lfd));
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock == -ECONNREFUSED || sock == -ENOENT); /* nobody listens */

	/* Invalid arguments: the fd is the backend's even then, so closed. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(fdpass_backend_adopt(NULL, lfd), -EINVAL);
	assert_false(tl_is_open(lfd));
	b = NULL;
	assert_int_equal(fdpass_backend_adopt(&b, -1), -EINVAL);
	assert_null(b);
}

/* A front-end child: waits for go, connects, sends a tagged fd, says done. */
struct fe_job {
	const char *path;
	int go_r, done_w;
	const char *tag;
};

static int frontend_after_go_child(void *arg)
{
	struct fe_job *job = arg;
	int sock, fd;

	if (tl_get_byte(job->go_r, 5000) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_get_byte(job->go_r, 5000) < 0");
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
	fd = tl_tagged_fd(job->tag);
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0 || fdpass_send(sock, fd) != 0");
	close(fd);
	if (tl_put_byte(job->done_w) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_put_byte(job->done_w) < 0");
	close(sock);
	return 0;
}

static void test_backend_fd_pollable(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct fe_job job;
	int go[2], done[2], efd, fd;
	int64_t t0;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	efd = fdpass_backend_fd(b);
	tl_pipe(go);
	tl_pipe(done);
	job = (struct fe_job){ .path = path, .go_r = go[0], .done_w = done[1], .tag = "polled" };
	pid = tl_fork(frontend_after_go_child, &job);

	/* Nothing there: poll times out. */
	t0 = tl_now_ms();
	assert_int_equal(tl_wait_fd(efd, POLLIN, 50), 0);
	assert_true(tl_now_ms() - t0 >= 45);

	assert_int_equal(tl_put_byte(go[1]), 0);
	assert_int_equal(tl_get_byte(done[0], 5000), 0);
	assert_true(tl_wait_fd(efd, POLLIN, 1000) & POLLIN);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), 1);
	assert_fd_carries(fd, "polled");
	close(fd);
	tl_wait_child(pid);

	/* The front-end's end is still to be handled; then all is quiet. */
	assert_true(tl_wait_fd(efd, POLLIN, 1000) & POLLIN);
	assert_recv_nothing(b);
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);

	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

static void test_backend_recv_timeouts(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int64_t t0;
	int fd = 7;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_int_equal(fd, -1);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	fd = 7;
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 200), -ETIMEDOUT);
	assert_int_equal(fd, -1);
	assert_deadline_kept(tl_now_ms() - t0, 200);
	fdpass_backend_free(b);
}

/* Connects after a delay, stays silent until told, then sends. */
struct late_job {
	const char *path;
	int delay_ms;
	int go_r;
};

static int late_frontend_child(void *arg)
{
	struct late_job *job = arg;
	int sock, fd;

	usleep((useconds_t)job->delay_ms * 1000);
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
	if (tl_get_byte(job->go_r, 10000) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_get_byte(job->go_r, 10000) < 0");
	fd = tl_tagged_fd("late");
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0 || fdpass_send(sock, fd) != 0");
	close(fd);
	close(sock);
	return 0;
}

/*
 * A front-end that connects while recv waits must not stretch the deadline:
 * the timeout bounds the whole call, whatever happens meanwhile. It connects
 * later than the margin of a kept deadline, so that a wait restarted then
 * ends past that margin.
 */
static void test_backend_recv_deadline_across_events(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct late_job job;
	int go[2], fd = 7;
	int64_t t0, elapsed;
	int delay = tl_margin_ms() + 100, timeout = delay + 300;
	pid_t pid;
	int r;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	tl_pipe(go);
	job = (struct late_job){ .path = path, .delay_ms = delay, .go_r = go[0] };
	t0 = tl_now_ms();
	pid = tl_fork(late_frontend_child, &job);
	r = fdpass_backend_recv(b, &fd, timeout);
	elapsed = tl_now_ms() - t0;
	assert_int_equal(tl_put_byte(go[1]), 0); /* the child ends whatever comes */
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(fd, -1);
	if (elapsed < timeout - 2 || elapsed > timeout + tl_margin_ms())
		fail_msg("fdpass_backend_recv(timeout %d ms) took %lld ms: a front-end that "
			 "connected after %d ms restarted the wait", timeout, (long long)elapsed,
			 delay);

	/* The silent front-end was kept, and is served once it speaks. */
	assert_recv_tag(b, "late", 5000);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
}

/* Several front-ends at once, each sending several fds over its connection. */
#define N_FRONTENDS 4
#define FDS_EACH 5

struct many_job {
	const char *path;
	int id;
	int connected_w, go_r;
};

static int many_frontend_child(void *arg)
{
	struct many_job *job = arg;
	int sock = fdpass_connect(job->path, 0, 5000), i;

	if (sock < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
	if (tl_put_byte(job->connected_w) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_put_byte(job->connected_w) < 0");
	/* Nobody sends before everybody is connected. */
	if (tl_get_byte(job->go_r, 5000) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_get_byte(job->go_r, 5000) < 0");
	for (i = 0; i < FDS_EACH; i++) {
		char tag[32];
		int fd;

		snprintf(tag, sizeof(tag), "fe%d-fd%d", job->id, i);
		fd = tl_tagged_fd(tag);
		if (fd < 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0");
		if (fdpass_send(sock, fd) != 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "fdpass_send(sock, fd) != 0");
		close(fd);
	}
	close(sock);
	return 0;
}

static void test_backend_many_frontends(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct many_job jobs[N_FRONTENDS];
	pid_t pids[N_FRONTENDS];
	int next[N_FRONTENDS] = { 0 };
	int connected[2], go[2], i, got = 0, base;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	base = tl_count_fds();
	tl_pipe(connected);
	tl_pipe(go);
	for (i = 0; i < N_FRONTENDS; i++) {
		jobs[i] = (struct many_job){ .path = path, .id = i, .connected_w = connected[1],
					     .go_r = go[0] };
		pids[i] = tl_fork(many_frontend_child, &jobs[i]);
	}
	for (i = 0; i < N_FRONTENDS; i++)
		assert_int_equal(tl_get_byte(connected[0], 5000), 0);
	for (i = 0; i < N_FRONTENDS; i++)
		assert_int_equal(tl_put_byte(go[1]), 0);

	while (got < N_FRONTENDS * FDS_EACH) {
		char buf[64];
		int fd = -7, r = fdpass_backend_recv(b, &fd, 5000), id, j;

		if (r != 1)
			fail_msg("recv after %d fds: %d (%s)", got, r, fdpass_strerror(r));
		assert_true(tl_is_cloexec(fd));
		tl_read_to_eof(fd, buf, sizeof(buf), 2000);
		close(fd);
		assert_int_equal(sscanf(buf, "fe%d-fd%d", &id, &j), 2);
		assert_in_range(id, 0, N_FRONTENDS - 1);
		/* One connection's fds arrive in the order they were sent. */
		assert_int_equal(j, next[id]);
		next[id]++;
		got++;
	}
	for (i = 0; i < N_FRONTENDS; i++) {
		assert_int_equal(next[i], FDS_EACH);
		tl_wait_child(pids[i]);
	}
	/* All have hung up: dropped, and no fd of theirs is left open here. */
	assert_recv_nothing(b);
	close(connected[0]);
	close(connected[1]);
	close(go[0]);
	close(go[1]);
	assert_int_equal(tl_count_fds(), base);
	fdpass_backend_free(b);
}

enum garbage { NO_FD, TWO_FDS, BAD_BYTE };

static void misbehave(int sock, enum garbage kind, const int p[2])
{
	int two[2] = { p[1], p[1] };

	switch (kind) {
	case NO_FD:
		tl_raw_send(sock, "", 1, NULL, 0);
		break;
	case TWO_FDS:
		tl_raw_send(sock, "", 1, two, 2);
		break;
	case BAD_BYTE:
		tl_raw_send(sock, "x", 1, &p[1], 1);
		break;
	}
}

static void test_backend_bad_frontends(void **state)
{
	/*
	 * err2: also accepted. On a stream an fd belongs to a byte: a '\0'
	 * without fd read together with the '\0' of the next message (which
	 * carries one) is "a plain message that is not one byte" as well.
	 */
	static const struct {
		enum garbage kind;
		int follow; /* a valid message right behind the bad one */
		int err, err2;
	} cases[] = {
		{ NO_FD, 0, -ENOMSG, -ENOMSG },
		{ NO_FD, 1, -ENOMSG, -EBADMSG },
		{ TWO_FDS, 1, -ETOOMANYREFS, -ETOOMANYREFS },
		{ BAD_BYTE, 1, -EBADMSG, -EBADMSG },
	};
	char path[300];
	fdpass_backend *b = NULL;
	size_t c;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int good, bad, p[2], later[2], fd, i, r, saw_err = 0, saw_fd = 0;

		good = fdpass_connect(path, 0, 1000);
		bad = fdpass_connect(path, 0, 1000);
		assert_true(good >= 0 && bad >= 0);
		assert_recv_nothing(b); /* both accepted */

		/* Both speak at once: one well, one not, then a valid fd after it. */
		tl_pipe(p);
		tl_pipe(later);
		misbehave(bad, cases[c].kind, p);
		if (cases[c].follow)
			assert_int_equal(fdpass_send(bad, later[1]), 0);
		fd = tl_tagged_fd("good one");
		assert_int_equal(fdpass_send(good, fd), 0);
		close(fd);
		close(p[1]);
		close(later[1]);

		for (i = 0; i < 2; i++) {
			fd = -7;
			r = fdpass_backend_recv(b, &fd, 1000);
			if (r == 1) {
				saw_fd++;
				assert_fd_carries(fd, "good one");
				close(fd);
			} else {
				if (r != cases[c].err && r != cases[c].err2)
					fail_msg("case %zu: recv = %d (%s), expected %d", c, r,
						 fdpass_strerror(r), cases[c].err);
				/* (*client_fd after an error: see the next test.) */
				saw_err++;
			}
		}
		assert_int_equal(saw_fd, 1);
		assert_int_equal(saw_err, 1);
		/* Nothing the bad one sent is kept, not even its valid fd after. */
		assert_recv_nothing(b);
		assert_closed_by_peer(bad);
		/* Every fd it sent was closed: the pipes' only writers are gone. */
		tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 1000);
		tl_read_to_eof(later[0], (char[8]){ 0 }, 8, 1000);
		/* The good one is still served. */
		fd = tl_tagged_fd("still good");
		assert_int_equal(fdpass_send(good, fd), 0);
		close(fd);
		assert_recv_tag(b, "still good", 1000);

		close(p[0]);
		close(later[0]);
		close(bad);
		close(good);
		assert_recv_nothing(b);
	}
	fdpass_backend_free(b);
}

/*
 * After an error, *client_fd must not hold the number of an fd that the
 * library has closed: a caller that cleans up with "if (fd >= 0) close(fd)"
 * would close whatever file next got that number. fdpass_recv() sets -1 in
 * every error case, and fdpass_backend_recv() sets -1 on entry.
 */
static void test_backend_error_leaves_no_fd_number(void **state)
{
	static const struct {
		enum garbage kind;
		int err;
	} cases[] = {
		{ NO_FD, -ENOMSG },
		{ TWO_FDS, -ETOOMANYREFS },
		{ BAD_BYTE, -EBADMSG },
	};
	char path[300], report[512] = "";
	fdpass_backend *b = NULL;
	size_t c, used = 0;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int sock = fdpass_connect(path, 0, 1000), p[2], fd = 7, r;

		assert_true(sock >= 0);
		tl_pipe(p);
		misbehave(sock, cases[c].kind, p);
		close(p[1]);
		r = fdpass_backend_recv(b, &fd, 1000);
		close(p[0]);
		close(sock);
		assert_int_equal(r, cases[c].err);
		if (fd != -1 && used < sizeof(report))
			used += (size_t)snprintf(report + used, sizeof(report) - used,
						 " [%s: *client_fd = %d]", fdpass_strerror(r), fd);
	}
	/* Cleaned up first, so that a failure leaves nothing behind. */
	fdpass_backend_free(b);
	if (used)
		fail_msg("fdpass_backend_recv left a number it had closed in *client_fd, "
			 "instead of -1:%s", report);
}

static void test_backend_silent_frontend(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int base, sock;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	base = tl_count_fds();

	/* Connects and closes at once: dropped without a word. */
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);

	/* Connects, is accepted, then closes. */
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base + 2); /* ours and the backend's */
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);
	assert_int_equal(tl_wait_fd(fdpass_backend_fd(b), POLLIN, 0), 0);

	/* The backend is unharmed. */
	sock = send_tagged(path, "after the silent ones");
	assert_recv_tag(b, "after the silent ones", 1000);
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);
	fdpass_backend_free(b);
}

static void test_backend_allow_uid(void **state)
{
	char path[300], other[300];
	fdpass_backend *b = NULL, *b2 = NULL;
	int sock, p[2], fd = 7;

	/* Our own uid allowed: served. */
	tl_path_in(path, sizeof(path), state, "mine.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, getuid()), 0);
	sock = send_tagged(path, "allowed");
	assert_recv_tag(b, "allowed", 1000);
	close(sock);
	fdpass_backend_free(b);

	/* Only another uid allowed: refused, and its fd never arrives. */
	tl_path_in(other, sizeof(other), state, "theirs.sock");
	assert_int_equal(fdpass_backend_new(&b2, other, -1, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b2, getuid() + 1), 0);
	sock = fdpass_connect(other, 0, 1000);
	assert_true(sock >= 0);
	tl_pipe(p);
	assert_int_equal(fdpass_send(sock, p[1]), 0);
	close(p[1]);
	{
		pid_t pid = 0;
		uid_t uid = 0;
		gid_t gid = 0;

		assert_int_equal(fdpass_backend_last_refused(b2, &pid, &uid, &gid), -ENOENT);
		assert_int_equal(fdpass_backend_recv(b2, &fd, 1000), -EPERM);
		/* Who it was, for a log line: this very process. */
		assert_int_equal(fdpass_backend_last_refused(b2, &pid, &uid, &gid), 0);
		assert_int_equal(pid, getpid());
		assert_int_equal(uid, getuid());
		assert_int_equal(gid, getgid());
		assert_int_equal(fdpass_backend_last_refused(b2, NULL, NULL, NULL), 0);
		assert_int_equal(fdpass_backend_last_refused(NULL, &pid, NULL, NULL), -EINVAL);
	}
	assert_int_equal(fd, -1);
	assert_recv_nothing(b2);
	assert_closed_by_peer(sock);
	tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 1000); /* the fd in flight was released */
	close(p[0]);
	close(sock);

	/* Allowing more, later: our uid too. */
	assert_int_equal(fdpass_backend_allow_uid(b2, getuid()), 0);
	sock = send_tagged(other, "allowed later");
	assert_recv_tag(b2, "allowed later", 1000);
	close(sock);
	fdpass_backend_free(b2);
}

/* A front-end child that becomes nobody before connecting. */
struct nobody_job {
	const char *path;
	int refused; /* 1: expects the backend to close its connection */
	int sent_w;  /* a byte once the fd is sent */
	int go_r;
};

static int nobody_frontend_child(void *arg)
{
	struct nobody_job *job = arg;
	int sock, fd;
	char c;

	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0");
	if (getuid() != 65534 || geteuid() != 65534)
		TL_CHILD_FAIL("unexpectedly true: %s", "getuid() != 65534 || geteuid() != 65534");
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0) {
		fprintf(stderr, "nobody child: connect %s: %s\n", job->path, fdpass_strerror(sock));
		return 1;
	}
	fd = tl_tagged_fd("from nobody");
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0 || fdpass_send(sock, fd) != 0");
	close(fd);
	if (tl_put_byte(job->sent_w) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "tl_put_byte(job->sent_w) < 0");
	if (job->refused) {
		ssize_t n;

		if (tl_wait_fd(sock, POLLIN, 5000) <= 0)
			TL_CHILD_FAIL("unexpectedly true: %s", "tl_wait_fd(sock, POLLIN, 5000) <= 0");
		n = read(sock, &c, 1);
		if (!(n == 0 || (n < 0 && errno == ECONNRESET)))
			TL_CHILD_FAIL("unexpectedly true: %s", "!(n == 0 || (n < 0 && errno == ECONNRESET))");
	} else if (tl_get_byte(job->go_r, 5000) < 0) {
		return 1;
	}
	close(sock);
	return 0;
}

static void test_backend_allow_uid_other_user(void **state)
{
	const char *dir = tl_dir_path(state);
	char path[300], path2[300];
	fdpass_backend *b = NULL;
	struct nobody_job job;
	int go[2], sent[2], fd = 7;
	pid_t pid;

	if (geteuid() != 0)
		skip(); /* needs root to become another user */

	/* Reachable by nobody: a traversable directory and a 0666 socket. */
	assert_int_equal(chmod(dir, 0711), 0);
	tl_pipe(go);
	tl_pipe(sent);

	tl_path_in(path, sizeof(path), state, "root-only.sock");
	assert_int_equal(fdpass_backend_new(&b, path, 0666, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, 0), 0);
	job = (struct nobody_job){ .path = path, .refused = 1, .sent_w = sent[1], .go_r = go[0] };
	pid = tl_fork(nobody_frontend_child, &job);
	assert_int_equal(tl_get_byte(sent[0], 5000), 0);
	assert_int_equal(fdpass_backend_recv(b, &fd, 5000), -EPERM);
	assert_int_equal(fd, -1);
	tl_wait_child(pid);
	assert_recv_nothing(b);
	fdpass_backend_free(b);

	tl_path_in(path2, sizeof(path2), state, "nobody.sock");
	assert_int_equal(fdpass_backend_new(&b, path2, 0666, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, 65534), 0);
	job = (struct nobody_job){ .path = path2, .refused = 0, .sent_w = sent[1], .go_r = go[0] };
	pid = tl_fork(nobody_frontend_child, &job);
	assert_int_equal(tl_get_byte(sent[0], 5000), 0);
	assert_recv_tag(b, "from nobody", 5000);
	assert_int_equal(tl_put_byte(go[1]), 0);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
	close(sent[0]);
	close(sent[1]);
}

/* httpd's send_socket(), byte for byte: cmsg_len computed by hand, flags 0. */
static int httpd_frontend_child(void *arg)
{
	const char *path = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr align;
		char buf[sizeof(struct cmsghdr) + sizeof(int) + 8];
	} control;
	char b = '\0';
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg;
	struct cmsghdr *cmsg;
	int sock, fd;

	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "sock < 0");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0");
	fd = tl_tagged_fd("from httpd");
	if (fd < 0)
		TL_CHILD_FAIL("unexpectedly true: %s", "fd < 0");
	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	cmsg = (struct cmsghdr *)control.buf;
	cmsg->cmsg_len = sizeof(*cmsg) + sizeof(fd);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(fd));
	msg.msg_control = cmsg;
	msg.msg_controllen = cmsg->cmsg_len;
	if (sendmsg(sock, &msg, 0) != 1)
		TL_CHILD_FAIL("unexpectedly true: %s", "sendmsg(sock, &msg, 0) != 1");
	close(fd);
	close(sock); /* httpd closes right after */
	return 0;
}

static void test_backend_httpd_bytes(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "httpd.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	pid = tl_fork(httpd_frontend_child, path);
	assert_recv_tag(b, "from httpd", 5000);
	tl_wait_child(pid);
	assert_recv_nothing(b);
	fdpass_backend_free(b);
}

/* Holds copies of every fd of the test until told to go. */
static int shared_holder_child(void *arg)
{
	return tl_get_byte(*(int *)arg, 10000) < 0 ? 10 : 0;
}

/*
 * The epoll trap: a dropped connection whose open file lives on elsewhere
 * (here a forked child holds a copy) stays in an epoll set unless it is
 * removed before close. The backend must then neither report it, nor spin
 * on it, nor confuse it with the next connection that gets the same number.
 */
static void test_backend_drop_shared_connection(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int fe1, fe2, go[2], efd, fd = 7;
	int64_t t0;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	efd = fdpass_backend_fd(b);
	fe1 = fdpass_connect(path, 0, 1000);
	assert_true(fe1 >= 0);
	assert_recv_nothing(b); /* accepted */
	tl_pipe(go);
	pid = tl_fork(shared_holder_child, &go[0]);

	tl_raw_send(fe1, "", 1, NULL, 0); /* no fd: dropped */
	assert_int_equal(fdpass_backend_recv(b, &fd, 1000), -ENOMSG);
	/* The old connection lives on in the child: make it readable. */
	assert_int_equal(send(fe1, "more", 4, MSG_NOSIGNAL), 4);
	close(fe1);

	/* Not in the epoll set any more: nothing to report. */
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 200), -ETIMEDOUT);
	assert_deadline_kept(tl_now_ms() - t0, 200);

	fe2 = send_tagged(path, "next connection");
	assert_recv_tag(b, "next connection", 1000);
	close(fe2);
	assert_recv_nothing(b);
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);

	assert_int_equal(tl_put_byte(go[1]), 0);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
}

/* A NULL backend still sets the outputs, as documented: -1 and NULL. */
static void test_backend_null_sets_outputs(void **state)
{
	fdpass_meta *meta = (fdpass_meta *)&meta;
	int fd = 7;

	(void)state;
	assert_int_equal(fdpass_backend_recv(NULL, &fd, 0), -EINVAL);
	assert_int_equal(fd, -1);
	fd = 7;
	assert_int_equal(fdpass_backend_recv_meta(NULL, &fd, &meta, 0), -EINVAL);
	assert_int_equal(fd, -1);
	assert_null(meta);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_backend_new_mode_and_free),
		TL_DIR_TEST(test_backend_new_errors),
		TL_DIR_TEST(test_backend_free_leaves_replaced_file),
		TL_DIR_TEST(test_backend_adopt),
		TL_DIR_TEST(test_backend_fd_pollable),
		TL_DIR_TEST(test_backend_recv_timeouts),
		TL_DIR_TEST(test_backend_recv_deadline_across_events),
		TL_DIR_TEST(test_backend_many_frontends),
		TL_DIR_TEST(test_backend_bad_frontends),
		TL_DIR_TEST(test_backend_error_leaves_no_fd_number),
		TL_DIR_TEST(test_backend_silent_frontend),
		TL_DIR_TEST(test_backend_allow_uid),
		TL_DIR_TEST(test_backend_allow_uid_other_user),
		TL_DIR_TEST(test_backend_httpd_bytes),
		TL_DIR_TEST(test_backend_drop_shared_connection),
		TL_DIR_TEST(test_backend_null_sets_outputs),
		TL_DIR_TEST(test_busy_frontend_does_not_starve_quiet),
		TL_DIR_TEST(test_refused_flood_does_not_starve_allowed),
		TL_DIR_TEST(test_fd_limit_no_busy_loop),
		TL_DIR_TEST(test_half_messages_hold_up_nobody),
		TL_DIR_TEST(test_plain_recv_says_bytes_were_dropped),
		TL_DIR_TEST(test_settings_arguments),
		TL_DIR_TEST(test_recv_fds_max_fds),
		TL_DIR_TEST(test_max_payload),
		TL_DIR_TEST(test_many_handoffs_one_connection),
		TL_DIR_TEST(test_seqpacket_many_handoffs),
		TL_DIR_TEST(test_deadlines_wake_the_poller),
		TL_DIR_TEST(test_idle_timeout_counts_from_last_message),
		TL_DIR_TEST(test_max_connections),
	};

	/* A raised SIGPIPE must end the program, so that it is seen. */
	signal(SIGPIPE, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
