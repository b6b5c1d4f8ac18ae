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

/* The exit status of a child that may also say 77: skipped. */
static int child_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	if (!WIFEXITED(status))
		fail_msg("child %d died of signal %d", (int)pid,
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

/* A child of a test that failed half-way must not outlive it. */
static void die_with_parent(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}

#define CHILD_CHECK(cond, code)                                                        \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "child: line %d: %s\n", __LINE__, #cond);      \
			return code;                                                   \
		}                                                                      \
	} while (0)

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
		return 10;
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
		return 10;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (i = 0; !(i % 16 == 0 && readable(stop, 0)); i++) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (s < 0)
			return 11;
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EAGAIN) {
			fprintf(stderr, "flood child: connect: %s\n", strerror(errno));
			close(s);
			return 12;
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
			return 10;
		sock = fdpass_connect(job->path, 0, 20000);
		if (sock < 0)
			return 11;
		snprintf(tag, sizeof(tag), "allowed %d", i);
		fd = tl_tagged_fd(tag);
		if (fd < 0 || fdpass_send(sock, fd) != 0)
			return 12;
		close(fd);
		close(sock);
		if (write(job->sent_w, "s", 1) != 1)
			return 13;
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
			return 10;
	if (write(job->ack_w, "c", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'h')
		return 11;
	for (i = 0; i < job->n; i++)
		close(socks[i]);
	if (write(job->ack_w, "h", 1) != 1 || read(job->cmd_r, &c, 1) != 1 || c != 'g')
		return 12;
	socks[0] = fdpass_connect(job->path, 0, 5000);
	fd = tl_tagged_fd("after the limit");
	if (socks[0] < 0 || fd < 0 || fdpass_send(socks[0], fd) != 0)
		return 13;
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

	CHILD_CHECK(fdpass_backend_new(&b, path, -1, 0) == 0, 20);
	CHILD_CHECK(pipe2(cmd, O_CLOEXEC) == 0 && pipe2(ack, O_CLOEXEC) == 0, 20);
	job = (struct holder_job){ .path = path, .cmd_r = cmd[0], .ack_w = ack[1], .n = HELD };
	fflush(NULL);
	holder = fork();
	CHILD_CHECK(holder >= 0, 20);
	if (holder == 0)
		_exit(holder_child(&job));
	CHILD_CHECK(read(ack[0], &c, 1) == 1 && c == 'c', 21);
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
			CHILD_CHECK(r == -ETIMEDOUT, 22);
	}
	wall = tl_now_ms() - t0;
	cpu = cpu_ms() - c0;
	fprintf(stderr, "  at the fd limit: %d calls of 100 ms in %lld ms, %lld ms of CPU, "
		"%d x -EMFILE\n", calls, (long long)wall, (long long)cpu, emfile);
	CHILD_CHECK(emfile == 1, 23);                  /* one report for the episode */
	CHILD_CHECK(calls <= 3 + wall / 100, 24);      /* each call waited */
	CHILD_CHECK(cpu * 4 <= wall, 25);              /* and did not spin meanwhile */

	/*
	 * They all hang up, and another front-end hands off a client: the
	 * backend reaps the dead ones, fd by fd, and serves it.
	 */
	CHILD_CHECK(write(cmd[1], "h", 1) == 1 && read(ack[0], &c, 1) == 1, 26);
	CHILD_CHECK(write(cmd[1], "g", 1) == 1 && read(ack[0], &c, 1) == 1, 26);
	for (calls = 0; (r = fdpass_backend_recv(b, &fd, 10000)) != 1; calls++)
		CHILD_CHECK(r == -EMFILE && calls < 3, 27);
	{
		char buf[64];

		tl_read_to_eof(fd, buf, sizeof(buf), 5000);
		CHILD_CHECK(!strcmp(buf, "after the limit"), 28);
		close(fd);
	}
	CHILD_CHECK(waitpid(holder, &r, 0) == holder && WIFEXITED(r) && WEXITSTATUS(r) == 0, 29);
	fdpass_backend_free(b);
	return 0;
}

static void test_fd_limit_no_busy_loop(void **state)
{
	char path[300];
	int r;

	tl_path_in(path, sizeof(path), state, "b.sock");
	r = child_status(tl_fork(child_at_fd_limit, path));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
