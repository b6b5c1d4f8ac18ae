// SPDX-License-Identifier: MIT
/*
 * Signals during every blocking call: SIGALRM about every millisecond (a
 * timer) and a stream of SIGCHLD from a child that sends one about every
 * millisecond, both with handlers installed without SA_RESTART, so that
 * every blocking system call the library makes is interrupted again and
 * again. Each scenario runs twice, without and with the storm: the results
 * must be identical, and a call with a deadline T must return within T plus
 * a small margin both times (a call that restarted its clock at each EINTR
 * would never return).
 *
 * The storm paces itself, so that the call under test always makes
 * progress however much a delivery costs: under valgrind, or on a loaded
 * machine, delivering a signal can take longer than the interval between
 * two, and a fixed-rate storm then starves the process. Each SIGALRM arms
 * the next one, and the SIGCHLD child sends the next one once the handler
 * has acknowledged the last: a signal of either kind is followed by a gap
 * before the next of its kind, 1 ms, or STORM_SHARE times the cost of one
 * delivery measured at start, or STORM_PACE times as long as the last one
 * took to arrive (as the machine is now), whichever is most, up to
 * STORM_MAX_US.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

#define T 200         /* the deadline of the calls that must time out */
#define LATER 100     /* how long a peer waits before it acts */
#define LONG 10000    /* the deadline of calls that must succeed: only a hang reaches it */
#define BIG (1 << 20) /* bytes of the large transfers */
#define STORM_MIN_US 1000  /* the storm at its fastest: one of each kind a millisecond */
#define STORM_MAX_US 20000 /* at its slowest: still several during every call */
#define STORM_SHARE 20     /* the gap is at least this many deliveries long */
#define STORM_PACE 4       /* and this many times as long as the last one took */

static volatile sig_atomic_t alarms, chlds;
static unsigned long total_alarms, total_chlds, calls, storm_ms;
static long storm_min_us = STORM_MIN_US, delivery_ns;
static timer_t storm_timer;
static volatile int64_t alarm_due_ns;
static int ack_w = -1; /* the SIGCHLD handler's word to the pinger */

/* CLOCK_MONOTONIC in ns (async-signal-safe). */
static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The gap before the next signal of a kind whose last one took took_ns to arrive. */
static long storm_gap_us(int64_t took_ns)
{
	long gap = (long)(STORM_PACE * took_ns / 1000);

	return gap < storm_min_us ? storm_min_us : gap > STORM_MAX_US ? STORM_MAX_US : gap;
}

/* The next SIGALRM, us from now (async-signal-safe). */
static void arm_alarm(long us)
{
	struct itimerspec its = { .it_value = { us / 1000000, (us % 1000000) * 1000 } };

	alarm_due_ns = mono_ns() + (int64_t)us * 1000;
	timer_settime(storm_timer, 0, &its, NULL);
}

static void on_alarm(int sig)
{
	int saved = errno;

	(void)sig;
	alarms++;
	arm_alarm(storm_gap_us(mono_ns() - alarm_due_ns));
	errno = saved;
}

static void on_chld(int sig)
{
	int saved = errno;

	(void)sig;
	chlds++;
	if (ack_w >= 0)
		(void)!send(ack_w, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	errno = saved;
}

static void on_calibration(int sig)
{
	(void)sig;
	alarms++;
}

/* ---- the storm ---------------------------------------------------------- */

struct run {
	int storm;          /* this run has the storm */
	pid_t pinger;
	int r;              /* what the call returned */
	int64_t t0, elapsed;
	unsigned alarms, chlds;
	char detail[160];   /* what else the scenario saw: must match between runs */
};

struct pinger {
	pid_t parent;
	int ack_r;
};

/* SIGCHLD to the parent; the next one a gap after its handler acknowledged it. */
static int pinger_main(void *arg)
{
	const struct pinger *p = arg;

	for (;;) {
		int64_t sent = mono_ns();
		struct timespec gap;
		char acks[64];
		long us;

		if (kill(p->parent, SIGCHLD) < 0)
			return 0;
		/*
		 * Unacknowledged for long, sent again: a signal still pending
		 * is not queued twice, so this cannot pile up.
		 */
		if (tl_wait_fd(p->ack_r, POLLIN, STORM_MAX_US / 1000) > 0)
			(void)!recv(p->ack_r, acks, sizeof(acks), MSG_DONTWAIT);
		us = storm_gap_us(mono_ns() - sent);
		gap.tv_sec = us / 1000000;
		gap.tv_nsec = (us % 1000000) * 1000;
		while (nanosleep(&gap, &gap) < 0 && errno == EINTR)
			;
	}
}

/*
 * The cost of one delivery of a signal to this process as it runs now
 * (valgrind, a sanitizer, a loaded machine): kill() to itself delivers the
 * signal before it returns. The median of a few rounds, so that one round
 * in which the process lost its CPU does not decide.
 */
static int calibrate(void **state)
{
	enum { ROUNDS = 9, N = 50 };
	long ns[ROUNDS], t;
	int i, j;

	(void)state;
	tl_handle_signal(SIGALRM, on_calibration);
	for (i = 0; i < ROUNDS; i++) {
		struct timespec t0, t1;

		alarms = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (j = 0; j < N; j++)
			kill(getpid(), SIGALRM);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (alarms != N)
			return -1;
		t = ((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec)) / N;
		for (j = i; j > 0 && ns[j - 1] > t; j--)
			ns[j] = ns[j - 1];
		ns[j] = t;
	}
	signal(SIGALRM, SIG_IGN);
	delivery_ns = ns[ROUNDS / 2];
	if (STORM_SHARE * delivery_ns / 1000 > storm_min_us)
		storm_min_us = STORM_SHARE * delivery_ns / 1000;
	if (storm_min_us > STORM_MAX_US)
		storm_min_us = STORM_MAX_US;
	print_message("signals: one delivery costs %ld us here: at most one signal of each kind "
		      "every %ld us\n", (delivery_ns + 500) / 1000, storm_min_us);
	return 0;
}

/* Right before the call under test. */
static void begin(struct run *run)
{
	if (run->storm) {
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
		struct pinger pinger = { getpid(), -1 };
		int ack[2];

		tl_socketpair(SOCK_STREAM, ack);
		pinger.ack_r = ack[0];
		ack_w = ack[1];
		alarms = 0;
		chlds = 0;
		tl_handle_signal(SIGALRM, on_alarm);
		tl_handle_signal(SIGCHLD, on_chld);
		assert_int_equal(timer_create(CLOCK_MONOTONIC, &ev, &storm_timer), 0);
		run->pinger = tl_fork_peer(pinger_main, &pinger);
		close(ack[0]);
		arm_alarm(storm_min_us);
	}
	tl_waiting_for("the call under test to return, %s the storm",
		       run->storm ? "in" : "without");
	run->t0 = tl_now_ms();
}

/* Right after it. */
static void end(struct run *run, int r)
{
	run->elapsed = tl_now_ms() - run->t0;
	run->r = r;
	tl_waiting_for(NULL);
	if (run->storm) {
		/* A late SIGALRM must not end the program, nor arm the timer again. */
		signal(SIGALRM, SIG_IGN);
		timer_delete(storm_timer);
		run->alarms = (unsigned)alarms;
		run->chlds = (unsigned)chlds;
		signal(SIGCHLD, SIG_DFL);
		close(ack_w);
		ack_w = -1;
		kill(run->pinger, SIGKILL);
		tl_child_result(run->pinger);
		run->pinger = 0;
		total_alarms += run->alarms;
		total_chlds += run->chlds;
		storm_ms += (unsigned long)run->elapsed;
	}
	calls++;
}

typedef void (*scenario_fn)(void **state, struct run *run, int how);

/*
 * Run a scenario (its variant how) without, then with the storm; the same
 * result and detail both times. timeout > 0: the call had that deadline and
 * must have used it up, not more (both times). The storm must really have
 * hit the call.
 */
static void both_ways(void **state, scenario_fn fn, int how, int expect, int timeout)
{
	struct run plain, storm;

	memset(&plain, 0, sizeof(plain));
	memset(&storm, 0, sizeof(storm));
	storm.storm = 1;
	fn(state, &plain, how);
	fn(state, &storm, how);
	if (plain.r != expect)
		fail_msg("without signals: %d (%s), expected %d", plain.r, fdpass_strerror(plain.r),
			 expect);
	if (storm.r != plain.r || strcmp(storm.detail, plain.detail))
		fail_msg("with signals: %d \"%s\" after %lld ms; without: %d \"%s\"", storm.r,
			 storm.detail, (long long)storm.elapsed, plain.r, plain.detail);
	if (timeout > 0) {
		assert_deadline_kept(plain.elapsed, timeout);
		if (storm.elapsed > timeout + tl_margin_ms() || storm.elapsed < timeout - 2)
			fail_msg("with signals the call took %lld ms, its deadline was %d ms",
				 (long long)storm.elapsed, timeout);
	}
	if (storm.alarms == 0)
		fail_msg("no SIGALRM arrived during the call (%lld ms)", (long long)storm.elapsed);
	print_message("    %d in %lld ms; with %u SIGALRM and %u SIGCHLD: the same in %lld ms\n",
		      plain.r, (long long)plain.elapsed, storm.alarms, storm.chlds,
		      (long long)storm.elapsed);
}

static int signals_teardown(void **state)
{
	signal(SIGALRM, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	return tl_dir_teardown(state);
}

#define SIG_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, tl_dir_setup, signals_teardown, #f)

/* ---- peers in children -------------------------------------------------- */

struct peer {
	int sock;
	int fds[3];
	size_t nfds;
	const void *data;
	size_t len;
	size_t first;    /* bytes sent with the fds first */
	int delay_ms;    /* before the first send */
	int pause_ms;    /* between later chunks */
	size_t chunk;
	int stall_ms;    /* stay alive after the last send */
	const fdpass_meta *meta;
	size_t fill;     /* reader: bytes of filler to read first */
	int lfd;         /* acceptor: listener */
	const char *path;
};

/* Send first bytes (with the fds) after delay_ms, then the rest in chunks. */
static int sender(void *arg)
{
	const struct peer *p = arg;
	const char *d = p->data;
	size_t off = p->first;

	tl_sleep_ms(p->delay_ms);
	TL_CHILD_CHECK(tl_sendmsg_fds(p->sock, d, p->first, p->fds, p->nfds, 0) ==
		       (ssize_t)p->first);
	while (off < p->len) {
		size_t n = p->len - off < p->chunk ? p->len - off : p->chunk;

		tl_sleep_ms(p->pause_ms);
		TL_CHILD_CHECK(tl_sendmsg_fds(p->sock, d + off, n, NULL, 0, 0) == (ssize_t)n);
		off += n;
	}
	tl_sleep_ms(p->stall_ms);
	return 0;
}

/* Read fill bytes, then a message of len bytes with nfds fds like p->fds, slowly. */
static int slow_reader(void *arg)
{
	const struct peer *p = arg;
	unsigned char *buf = malloc(p->len > p->fill ? p->len : p->fill);
	size_t off = 0;
	int got[4] = { -1, -1, -1, -1 };
	size_t n = 4, i;
	ssize_t r;

	TL_CHILD_CHECK(buf != NULL);
	tl_sleep_ms(p->delay_ms);
	TL_CHILD_CHECK(!p->fill || tl_read_exact(p->sock, buf, p->fill, LONG) == 0);
	if (p->meta) {
		fdpass_meta *m = NULL;

		TL_CHILD_CHECK(fdpass_recv_meta(p->sock, got, &n, &m, 0, 0, LONG) == 1);
		TL_CHILD_CHECK(tl_meta_same(m, p->meta));
		fdpass_meta_free(m);
		off = p->len;
	} else if (p->len) {
		/* The fds come with the first bytes; then a chunk at a time. */
		if (p->nfds) {
			r = fdpass_recv_fds(p->sock, got, &n, buf, p->chunk, FDPASS_WAITALL, LONG);
			TL_CHILD_CHECK(r == (ssize_t)p->chunk);
			off = (size_t)r;
		} else {
			n = 0;
		}
		while (off < p->len) {
			size_t k = p->len - off < p->chunk ? p->len - off : p->chunk;

			tl_sleep_ms(p->pause_ms);
			TL_CHILD_CHECK(tl_read_exact(p->sock, buf + off, k, LONG) == 0);
			off += k;
		}
		TL_CHILD_CHECK(tl_is_pattern(buf, p->len));
	} else {
		TL_CHILD_CHECK(fdpass_recv(p->sock, got) == 1);
		n = 1;
	}
	TL_CHILD_CHECK(n == p->nfds);
	for (i = 0; i < n; i++) {
		TL_CHILD_CHECK(tl_same_file(got[i], p->fds[i]));
		close(got[i]);
	}
	free(buf);
	return 0;
}

/* Accept one queued connection after delay_ms (and drop it). */
static int acceptor(void *arg)
{
	const struct peer *p = arg;
	int c;

	tl_sleep_ms(p->delay_ms);
	c = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
	TL_CHILD_CHECK(c >= 0);
	return 0;
}

/* A front-end that hands off a tagged pipe after delay_ms. */
static int late_frontend(void *arg)
{
	const struct peer *p = arg;
	int fd = tl_tagged_fd("late");

	tl_sleep_ms(p->delay_ms);
	TL_CHILD_CHECK(fd >= 0);
	TL_CHILD_CHECK(fdpass_handoff(p->path, fd, "none", NULL, LONG) == 0);
	return 0;
}

/* ---- fixtures ----------------------------------------------------------- */

/* Three fds arrived for the files of t: "fds ok", or what was wrong. */
static const char *three_check(const struct tl_three *t, int *got, size_t n)
{
	return tl_three_same(t, got, n) ? "fds ok" : "fds WRONG";
}

/* A listener whose backlog is full of our own connections. */
struct full_backlog {
	char path[300];
	int lfd;
	int fillers[16];
	size_t n;
};

static void backlog_fill(void **state, struct full_backlog *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	tl_path_in(f->path, sizeof(f->path), state, "full.sock");
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->n = tl_fill_backlog(f->path, f->fillers, 16);
}

/* Close the fillers; of what is queued, the one message is for client's file. */
static const char *backlog_release(struct full_backlog *f, int client)
{
	int found = 0, c;
	size_t i;

	for (i = 0; i < f->n; i++)
		close(f->fillers[i]);
	while ((c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		int fd = -1;

		if (client >= 0 && fdpass_recv(c, &fd) == 1) {
			found += tl_same_file(fd, client);
			close(fd);
		}
		close(c);
	}
	close(f->lfd);
	unlink(f->path);
	return client < 0 || found == 1 ? "queue ok" : "queue WRONG";
}

/* ---- the scenarios ------------------------------------------------------ */

static void sc_recv(void **state, struct run *run, int how)
{
	struct peer p = { 0 };
	int sv[2], fd = -1;
	pid_t pid;

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	p.sock = sv[0];
	p.fds[0] = tl_tagged_fd("hello");
	p.nfds = 1;
	p.data = "";
	p.len = p.first = 1;
	p.delay_ms = LATER;
	pid = tl_fork_peer(sender, &p);
	begin(run);
	end(run, fdpass_recv(sv[1], &fd));
	snprintf(run->detail, sizeof(run->detail), "says hello: %d, child %d",
		 fd >= 0 && tl_fd_says(fd, "hello", 1000), tl_child_result(pid));
	if (fd >= 0)
		close(fd);
	close(p.fds[0]);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv(void **state)
{
	both_ways(state, sc_recv, 0, 1, 0);
}

static void sc_recv_fds_waitall(void **state, struct run *run, int how)
{
	unsigned char *msg = malloc(BIG), *buf = malloc(BIG);
	struct peer p = { 0 };
	int sv[2], got[4];
	struct tl_three t;
	size_t n = 4;
	pid_t pid;

	(void)state;
	(void)how;
	assert_non_null(msg);
	assert_non_null(buf);
	tl_fill_pattern(msg, BIG);
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	memcpy(p.fds, t.fds, sizeof(t.fds));
	p.sock = sv[0];
	p.nfds = 3;
	p.data = msg;
	p.len = BIG;
	p.first = 1000;
	p.chunk = 65536;
	p.delay_ms = LATER;
	p.pause_ms = 5;
	pid = tl_fork_peer(sender, &p);
	begin(run);
	end(run, (int)fdpass_recv_fds(sv[1], got, &n, buf, BIG, FDPASS_WAITALL, -1));
	snprintf(run->detail, sizeof(run->detail), "%s, pattern %d, child %d",
		 run->r == BIG ? three_check(&t, got, n) : "-", tl_is_pattern(buf, BIG),
		 tl_child_result(pid));
	tl_three_close(&t);
	close(sv[0]);
	close(sv[1]);
	free(msg);
	free(buf);
}

static void test_recv_fds_waitall(void **state)
{
	both_ways(state, sc_recv_fds_waitall, 0, BIG, 0);
}

static void sc_recv_fds_timeout(void **state, struct run *run, int how)
{
	int sv[2], got[2];
	size_t n = 2;
	char buf[16];

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	begin(run);
	end(run, (int)fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), 0, T));
	snprintf(run->detail, sizeof(run->detail), "nfds %zu", n);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_fds_timeout(void **state)
{
	both_ways(state, sc_recv_fds_timeout, 0, -ETIMEDOUT, T);
}

struct writer {
	int sock, fd;
	const fdpass_meta *m;
};

static int meta_writer(void *arg)
{
	const struct writer *w = arg;

	TL_CHILD_CHECK(fdpass_send_meta(w->sock, &w->fd, 1, w->m, 0, LONG) == 0);
	return 0;
}

/* The peer sends the first part of a metadata message, then (after LATER) the rest. */
static void sc_recv_meta(void **state, struct run *run, int stall)
{
	fdpass_meta *m = tl_meta(BIG / 4), *in = NULL;
	unsigned char *wire = malloc(2 * BIG);
	int sv[2], raw[2], got[2] = { -1, -1 }, fd = -1;
	struct peer p = { 0 };
	struct tl_three t;
	size_t n = 2, len;
	pid_t pid;

	(void)state;
	assert_non_null(wire);
	tl_three_open(&t);
	/* The exact bytes of the message. */
	tl_socketpair(SOCK_STREAM, raw);
	{
		struct writer w = { raw[0], t.p[1], m };
		pid_t pid_w = tl_fork_peer(meta_writer, &w);

		/* The sender may block on the buffer: it is a child. */
		close(raw[0]);
		len = 0;
		for (;;) {
			ssize_t r = read(raw[1], wire + len, 2 * BIG - len);

			if (r < 0 && errno == EINTR)
				continue;
			assert_true(r >= 0);
			if (r == 0)
				break;
			len += (size_t)r;
		}
		tl_wait_child(pid_w);
		close(raw[1]);
	}
	/* (the fd that came with the raw read was dropped by read(): closed) */
	tl_socketpair(SOCK_STREAM, sv);
	p.sock = sv[0];
	p.fds[0] = t.p[1];
	p.nfds = 1;
	p.data = wire;
	p.len = stall ? 300 : len;
	p.first = 10;
	p.chunk = 65536;
	p.delay_ms = stall ? 0 : LATER;
	p.pause_ms = stall ? 0 : 20;
	p.stall_ms = stall ? LONG : 0; /* killed once the call returned */
	pid = tl_fork_peer(sender, &p);
	/* Stalled: the message has begun before the call, whenever the child gets to run. */
	if (stall)
		assert_true(tl_wait_fd(sv[1], POLLIN, LONG) > 0);
	begin(run);
	end(run, fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, stall ? T : LONG));
	if (run->r == 1) {
		fd = got[0];
		snprintf(run->detail, sizeof(run->detail), "nfds %zu, same file %d, meta %d", n,
			 tl_same_file(fd, t.p[1]), tl_meta_same(in, m));
		close(fd);
	} else {
		snprintf(run->detail, sizeof(run->detail), "nfds %zu, meta %p", n, (void *)in);
	}
	kill(pid, SIGKILL);
	tl_child_result(pid);
	fdpass_meta_free(in);
	fdpass_meta_free(m);
	tl_three_close(&t);
	close(sv[0]);
	close(sv[1]);
	free(wire);
}

static void test_recv_meta_slow(void **state)
{
	both_ways(state, sc_recv_meta, 0, 1, 0);
}

static void test_recv_meta_stalled(void **state)
{
	/* The rest of a begun message has its own deadline (timeout_ms). */
	both_ways(state, sc_recv_meta, 1, -ETIME, T);
}

static void sc_recv_meta_timeout(void **state, struct run *run, int how)
{
	fdpass_meta *in = NULL;
	int sv[2], got[2];
	size_t n = 2;

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	begin(run);
	end(run, fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, T));
	snprintf(run->detail, sizeof(run->detail), "nfds %zu, meta %p", n, (void *)in);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_meta_timeout(void **state)
{
	both_ways(state, sc_recv_meta_timeout, 0, -ETIMEDOUT, T);
}

/* fdpass_send on a full blocking socket; the peer drains it after LATER. */
static void sc_send_full(void **state, struct run *run, int how)
{
	struct peer p = { 0 };
	int sv[2];
	struct tl_three t;
	pid_t pid;

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	p.fill = tl_fill(sv[0]);
	p.sock = sv[1];
	p.fds[0] = t.tagged;
	p.nfds = 1;
	p.delay_ms = LATER;
	pid = tl_fork_peer(slow_reader, &p);
	begin(run);
	end(run, fdpass_send(sv[0], t.tagged));
	snprintf(run->detail, sizeof(run->detail), "child %d", tl_child_result(pid));
	tl_three_close(&t);
	close(sv[0]);
	close(sv[1]);
}

static void test_send_full(void **state)
{
	both_ways(state, sc_send_full, 0, 0, 0);
}

/* 1 MiB with three fds, blocking, to a reader that drains it slowly. */
static void sc_send_fds_big(void **state, struct run *run, int how)
{
	unsigned char *msg = malloc(BIG);
	struct peer p = { 0 };
	struct tl_three t;
	int sv[2];
	pid_t pid;

	(void)state;
	(void)how;
	assert_non_null(msg);
	tl_fill_pattern(msg, BIG);
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	memcpy(p.fds, t.fds, sizeof(t.fds));
	p.sock = sv[1];
	p.nfds = 3;
	p.len = BIG;
	p.chunk = 65536;
	p.delay_ms = LATER;
	p.pause_ms = 2;
	pid = tl_fork_peer(slow_reader, &p);
	begin(run);
	end(run, (int)fdpass_send_fds(sv[0], t.fds, 3, msg, BIG, 0, -1));
	snprintf(run->detail, sizeof(run->detail), "child %d", tl_child_result(pid));
	tl_three_close(&t);
	close(sv[0]);
	close(sv[1]);
	free(msg);
}

static void test_send_fds_big(void **state)
{
	both_ways(state, sc_send_fds_big, 0, BIG, 0);
}

static void sc_send_fds_timeout(void **state, struct run *run, int how)
{
	int sv[2], p[2];

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	tl_fill(sv[0]);
	begin(run);
	end(run, (int)fdpass_send_fds(sv[0], p, 2, "x", 1, 0, T));
	snprintf(run->detail, sizeof(run->detail), "caller's fds open %d",
		 tl_is_open(p[0]) && tl_is_open(p[1]));
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void test_send_fds_timeout(void **state)
{
	both_ways(state, sc_send_fds_timeout, 0, -ETIMEDOUT, T);
}

/* A slow reader of a metadata message with 256 KiB of data. */
static void sc_send_meta_big(void **state, struct run *run, int how)
{
	fdpass_meta *m = tl_meta(BIG / 4);
	struct peer p = { 0 };
	struct tl_three t;
	int sv[2];
	pid_t pid;

	(void)state;
	(void)how;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	p.sock = sv[1];
	p.fds[0] = t.tagged;
	p.nfds = 1;
	p.meta = m;
	p.len = 1;
	p.delay_ms = LATER;
	pid = tl_fork_peer(slow_reader, &p);
	begin(run);
	end(run, fdpass_send_meta(sv[0], &t.tagged, 1, m, 0, LONG));
	snprintf(run->detail, sizeof(run->detail), "child %d", tl_child_result(pid));
	tl_three_close(&t);
	close(sv[0]);
	close(sv[1]);
	fdpass_meta_free(m);
}

static void test_send_meta_big(void **state)
{
	both_ways(state, sc_send_meta_big, 0, 0, 0);
}

static void sc_connect_timeout(void **state, struct run *run, int how)
{
	struct full_backlog f;

	(void)how;
	backlog_fill(state, &f);
	begin(run);
	end(run, fdpass_connect(f.path, 0, T));
	if (run->r >= 0)
		close(run->r);
	snprintf(run->detail, sizeof(run->detail), "%s", backlog_release(&f, -1));
}

static void test_connect_timeout(void **state)
{
	both_ways(state, sc_connect_timeout, 0, -ETIMEDOUT, T);
}

/* The backlog frees up after LATER: connected, with and without a deadline. */
static void sc_connect_later(void **state, struct run *run, int timeout)
{
	struct full_backlog f;
	struct peer p = { 0 };
	pid_t pid;
	int fd;

	backlog_fill(state, &f);
	p.lfd = f.lfd;
	p.delay_ms = LATER;
	pid = tl_fork_peer(acceptor, &p);
	begin(run);
	fd = fdpass_connect(f.path, 0, timeout);
	end(run, fd >= 0 ? 1 : fd);
	snprintf(run->detail, sizeof(run->detail), "blocking %d, child %d, %s",
		 fd >= 0 && !(fcntl(fd, F_GETFL) & O_NONBLOCK), tl_child_result(pid),
		 backlog_release(&f, -1));
	if (fd >= 0)
		close(fd);
}

static void test_connect_later(void **state)
{
	both_ways(state, sc_connect_later, -1, 1, 0);
	both_ways(state, sc_connect_later, LONG, 1, 0);
}

static void sc_write_all(void **state, struct run *run, int pipe_not_socket)
{
	unsigned char *msg = malloc(BIG);
	struct peer p = { 0 };
	int fds[2];
	pid_t pid;

	(void)state;
	assert_non_null(msg);
	tl_fill_pattern(msg, BIG);
	if (pipe_not_socket)
		tl_pipe(fds);
	else
		tl_socketpair(SOCK_STREAM, fds);
	p.sock = fds[0];
	p.len = BIG;
	p.chunk = 65536;
	p.delay_ms = LATER;
	p.pause_ms = 2;
	p.fill = 0;
	/* A reader of plain bytes: no fds, the first chunk read like the others. */
	p.nfds = 0;
	pid = tl_fork_peer(slow_reader, &p);
	begin(run);
	end(run, fdpass_write_all(fds[1], msg, BIG, -1));
	snprintf(run->detail, sizeof(run->detail), "child %d", tl_child_result(pid));
	close(fds[0]);
	close(fds[1]);
	free(msg);
}

static void test_write_all(void **state)
{
	both_ways(state, sc_write_all, 0, 0, 0);
	both_ways(state, sc_write_all, 1, 0, 0);
}

static void sc_write_all_timeout(void **state, struct run *run, int pipe_not_socket)
{
	unsigned char *msg = malloc(BIG);
	int fds[2];

	(void)state;
	assert_non_null(msg);
	tl_fill_pattern(msg, BIG);
	if (pipe_not_socket)
		tl_pipe(fds);
	else
		tl_socketpair(SOCK_STREAM, fds);
	begin(run);
	end(run, fdpass_write_all(fds[1], msg, BIG, T));
	snprintf(run->detail, sizeof(run->detail), "-");
	close(fds[0]);
	close(fds[1]);
	free(msg);
}

static void test_write_all_timeout(void **state)
{
	both_ways(state, sc_write_all_timeout, 0, -ETIMEDOUT, T);
	both_ways(state, sc_write_all_timeout, 1, -ETIMEDOUT, T);
}

static void sc_backend_recv(void **state, struct run *run, int frontend)
{
	fdpass_backend *b = NULL;
	struct peer p = { 0 };
	char path[300];
	int fd = -7;
	pid_t pid = 0;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	if (frontend) {
		p.path = path;
		p.delay_ms = LATER;
		pid = tl_fork_peer(late_frontend, &p);
	}
	begin(run);
	end(run, fdpass_backend_recv(b, &fd, frontend ? LONG : T));
	snprintf(run->detail, sizeof(run->detail), "fd %s, child %d",
		 fd == -1 ? "-1" : tl_fd_says(fd, "late", 1000) ? "late" : "WRONG",
		 pid ? tl_child_result(pid) : 0);
	if (fd >= 0)
		close(fd);
	fdpass_backend_free(b);
}

static void test_backend_recv(void **state)
{
	both_ways(state, sc_backend_recv, 0, -ETIMEDOUT, T);
	both_ways(state, sc_backend_recv, 1, 1, 0);
}

/* v2: fdpass_handoff2, whose one deadline must hold under the storm too. */
/* how: 1, the backlog frees up after LATER; 2, fdpass_handoff2, whose one deadline must hold. */
static void sc_handoff(void **state, struct run *run, int how)
{
	struct full_backlog f;
	struct peer p = { 0 };
	int sv[2], later = how & 1, timeout = later ? LONG : T;
	pid_t pid = 0;
	char head[32] = { 0 };

	backlog_fill(state, &f);
	tl_socketpair(SOCK_STREAM, sv);
	if (later) {
		p.lfd = f.lfd;
		p.delay_ms = LATER;
		pid = tl_fork_peer(acceptor, &p);
	}
	begin(run);
	end(run, how & 2 ? fdpass_handoff2(f.path, sv[1], NULL, NULL, NULL, 0, timeout, NULL)
			 : fdpass_handoff(f.path, sv[1], NULL, NULL, timeout));
	if (tl_wait_fd(sv[0], POLLIN, 0) > 0)
		(void)!read(sv[0], head, 17);
	snprintf(run->detail, sizeof(run->detail), "client got \"%.15s\", child %d, %s", head,
		 pid ? tl_child_result(pid) : 0, backlog_release(&f, later ? sv[1] : -1));
	close(sv[0]);
	close(sv[1]);
}

static void test_handoff(void **state)
{
	both_ways(state, sc_handoff, 0, -ETIMEDOUT, T);
	both_ways(state, sc_handoff, 1, 0, 0);
}

static void test_handoff2(void **state)
{
	both_ways(state, sc_handoff, 2, -ETIMEDOUT, T);
	both_ways(state, sc_handoff, 3, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		SIG_TEST(test_recv),
		SIG_TEST(test_recv_fds_waitall),
		SIG_TEST(test_recv_fds_timeout),
		SIG_TEST(test_recv_meta_slow),
		SIG_TEST(test_recv_meta_stalled),
		SIG_TEST(test_recv_meta_timeout),
		SIG_TEST(test_send_full),
		SIG_TEST(test_send_fds_big),
		SIG_TEST(test_send_fds_timeout),
		SIG_TEST(test_send_meta_big),
		SIG_TEST(test_connect_timeout),
		SIG_TEST(test_connect_later),
		SIG_TEST(test_write_all),
		SIG_TEST(test_write_all_timeout),
		SIG_TEST(test_backend_recv),
		SIG_TEST(test_handoff),
		SIG_TEST(test_handoff2),
	};
	int r;

	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_IGN);
	r = cmocka_run_group_tests(tests, calibrate, NULL);
	printf("signals: %lu SIGALRM and %lu SIGCHLD during %lu blocking calls (one SIGALRM "
	       "every %lu us on average), %s\n",
	       total_alarms, total_chlds, calls / 2,
	       total_alarms ? storm_ms * 1000 / total_alarms : 0,
	       r == 0 ? "results identical, deadlines kept" : "NOT ALL SURVIVED (see above)");
	fflush(stdout);
	return r;
}
