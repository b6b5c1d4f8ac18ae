// SPDX-License-Identifier: MIT
/*
 * Fault injection at every system call and allocation the library makes,
 * through the wrappers of wrap.c (the program is linked with the static
 * library and -Wl,--wrap=..., so the library's own calls are interposed).
 * For each public call: EINTR is retried and the result is exact; short
 * reads and writes are finished; EAGAIN is waited on within the deadline,
 * or returned where the header says so; ENOBUFS, ENOMEM, ETOOMANYREFS and
 * the like come back as the negative errno, with every fd the library had
 * received closed and the caller's fds untouched; every allocation that can
 * fail is made to fail in turn, and the call returns -ENOMEM and leaks
 * nothing (run under valgrind and ASan for the memory; the fd-leak check of
 * every test for the fds).
 */
#include <dirent.h>
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
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"
#include "wrap.h"

static int fi_teardown(void **state)
{
	fi_disarm();
	return tl_dir_teardown(state);
}

#define FI_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, tl_dir_setup, fi_teardown, #f)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ------------------------------------------------------ */

static void assert_same_inode(int fd, const struct stat *before)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_dev == before->st_dev && st.st_ino == before->st_ino);
}

/* got[] are new fds for the same three files; they are closed. */
static void three_received(const struct tl_three *t, int *got, size_t n)
{
	assert_int_equal(n, 3);
	assert_true(tl_three_same(t, got, n));
}

static void socketpair_close(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* Read len bytes (the message's exact bytes must be the pattern). */
static void assert_pattern_arrives(int fd, size_t len)
{
	unsigned char *buf = malloc(len);

	assert_non_null(buf);
	assert_int_equal(tl_read_exact(fd, buf, len, 2000), 0);
	assert_true(tl_is_pattern(buf, len));
	free(buf);
}

/* ---- the wrappers reach the library's own calls ------------------------- */

/*
 * If the library's calls were not interposed (a library built with
 * _FORTIFY_SOURCE calling __*_chk, or linked dynamically), every other test
 * would pass without injecting anything: this one fails instead.
 */
static void test_wraps_reach_library(void **state)
{
	int sv[2], p[2];
	void *m;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	FI_ARM("fdpass_send", FI_FAIL_NTH(FI_SENDMSG, 1, ENOBUFS));
	assert_int_equal(fdpass_send(sv[0], p[0]), -ENOBUFS);
	fi_disarm();
	assert_int_equal(fi_calls(FI_SENDMSG), 1);
	assert_int_equal(fi_hits(), 1);

	FI_ARM("fdpass_meta_new", FI_FAIL_NTH(FI_ALLOC, 1, ENOMEM));
	assert_int_equal(fdpass_meta_new((fdpass_meta **)&m), -ENOMEM);
	fi_disarm();
	assert_int_equal(fi_calls(FI_CALLOC), 1);

	close(p[0]);
	close(p[1]);
	socketpair_close(sv);
}

/* ---- fdpass_send -------------------------------------------------------- */

static void test_send_eintr(void **state)
{
	int sv[2], p[2], fd = -1;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	FI_ARM("fdpass_send", FI_FAIL_N(FI_SENDMSG, 1, 3, EINTR));
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	fi_disarm();
	assert_int_equal(fi_calls(FI_SENDMSG), 4);
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	assert_true(tl_same_file(fd, p[1]));
	close(fd);
	/* One message, not four. */
	tl_assert_nothing_to_read(sv[1]);
	close(p[0]);
	close(p[1]);
	socketpair_close(sv);
}

static void test_send_errors(void **state)
{
	static const int errs[] = { ENOBUFS, ENOMEM, ETOOMANYREFS, EAGAIN, EPIPE };
	int sv[2], p[2], fd = -1;
	struct stat st;
	size_t i;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	assert_int_equal(fstat(p[1], &st), 0);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rule = FI_FAIL_NTH(FI_SENDMSG, 1, errs[i]);
		int fds = tl_count_fds();

		fi_arm("fdpass_send", &rule, 1);
		assert_int_equal(fdpass_send(sv[0], p[1]), -errs[i]);
		fi_disarm();
		/* The caller's fd is untouched, nothing went out, nothing leaked. */
		assert_same_inode(p[1], &st);
		tl_assert_nothing_to_read(sv[1]);
		assert_int_equal(tl_count_fds(), fds);
	}
	/* The socket is still good. */
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	assert_true(tl_same_file(fd, p[1]));
	close(fd);
	close(p[0]);
	close(p[1]);
	socketpair_close(sv);
}

/* ---- fdpass_send_fds ---------------------------------------------------- */

#define MSG_LEN 3000

/* Receive MSG_LEN bytes of pattern with the three fds, and check both. */
static void assert_three_arrive(int sock, const struct tl_three *t)
{
	unsigned char buf[MSG_LEN];
	int got[4] = { -1, -1, -1, -1 };
	size_t n = 4;

	assert_int_equal(fdpass_recv_fds(sock, got, &n, buf, sizeof(buf), FDPASS_WAITALL, 2000),
			 MSG_LEN);
	assert_true(tl_is_pattern(buf, sizeof(buf)));
	three_received(t, got, n);
}

static void test_send_fds_short_writes(void **state)
{
	unsigned char msg[MSG_LEN];
	struct tl_three t;
	int sv[2];

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	/* 1 byte (with the fds), EINTR, then 100 bytes a call. */
	FI_ARM("fdpass_send_fds",
	       FI_SHORT_NTH(FI_SENDMSG, 1, 1),
	       FI_FAIL_NTH(FI_SENDMSG, 2, EINTR),
	       FI_SHORT_FROM(FI_SENDMSG, 3, 100));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000), MSG_LEN);
	fi_disarm();
	assert_int_equal(fi_calls(FI_SENDMSG), 2 + (MSG_LEN - 1 + 99) / 100);
	/* The fds went with the first byte only. */
	assert_int_equal(fi_sendmsg_with_control(), 1);
	tl_three_untouched(&t);
	assert_three_arrive(sv[1], &t);
	tl_assert_nothing_to_read(sv[1]);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_send_fds_eagain(void **state)
{
	unsigned char msg[MSG_LEN], buf[MSG_LEN];
	int sv[2], got[4];
	struct tl_three t;
	size_t n;
	int64_t t0;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);

	/* With a deadline: poll(), then again. */
	FI_ARM("fdpass_send_fds", FI_FAIL_N(FI_SENDMSG, 1, 2, EAGAIN));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000), MSG_LEN);
	fi_disarm();
	assert_int_equal(fi_calls(FI_POLL), 2);
	assert_int_equal(fi_sendmsg_with_control(), 3);
	assert_three_arrive(sv[1], &t);

	/* ...and poll() interrupted three times on the way. */
	FI_ARM("fdpass_send_fds",
	       FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN),
	       FI_FAIL_N(FI_POLL, 1, 3, EINTR));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000), MSG_LEN);
	fi_disarm();
	assert_int_equal(fi_calls(FI_POLL), 4);
	assert_three_arrive(sv[1], &t);

	/* No waiting allowed (timeout 0, FDPASS_NONBLOCK): -EAGAIN, nothing sent. */
	FI_ARM("fdpass_send_fds", FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 0), -EAGAIN);
	fi_disarm();
	FI_ARM("fdpass_send_fds", FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), FDPASS_NONBLOCK, 1000),
			 -EAGAIN);
	fi_disarm();
	assert_int_equal(fi_calls(FI_POLL), 0);
	tl_assert_nothing_to_read(sv[1]);
	tl_three_untouched(&t);

	/* EAGAIN after part went out, no waiting: the short count, as write(2). */
	FI_ARM("fdpass_send_fds",
	       FI_SHORT_NTH(FI_SENDMSG, 1, 10),
	       FI_FAIL_FROM(FI_SENDMSG, 2, EAGAIN));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), FDPASS_NONBLOCK, 0), 10);
	fi_disarm();
	n = 4;
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf),
					 FDPASS_WAITALL | FDPASS_NONBLOCK, 0), 10);
	assert_true(tl_is_pattern(buf, 10));
	three_received(&t, got, n);

	/* EAGAIN for ever with a deadline: -ETIMEDOUT, on time. */
	FI_ARM("fdpass_send_fds", FI_FAIL_FOR(FI_SENDMSG, 1, EAGAIN, 2000));
	t0 = tl_now_ms();
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 100), -ETIMEDOUT);
	fi_disarm();
	assert_deadline_kept(tl_now_ms() - t0, 100);

	/* poll() itself failing. */
	FI_ARM("fdpass_send_fds",
	       FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 1, ENOMEM));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000), -ENOMEM);
	fi_disarm();
	tl_assert_nothing_to_read(sv[1]);
	tl_three_untouched(&t);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_send_fds_errors(void **state)
{
	static const int errs[] = { ENOBUFS, ENOMEM, ETOOMANYREFS, EPIPE, EMSGSIZE };
	unsigned char msg[MSG_LEN], buf[MSG_LEN];
	int sv[2], got[4];
	struct tl_three t;
	size_t i, n;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rule = FI_FAIL_NTH(FI_SENDMSG, 1, errs[i]);
		int fds = tl_count_fds();

		fi_arm("fdpass_send_fds", &rule, 1);
		assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000),
				 -errs[i]);
		fi_disarm();
		tl_assert_nothing_to_read(sv[1]);
		tl_three_untouched(&t);
		assert_int_equal(tl_count_fds(), fds);
	}
	/* An error after the fds and part of the data: the count that went out. */
	FI_ARM("fdpass_send_fds",
	       FI_SHORT_NTH(FI_SENDMSG, 1, 10),
	       FI_FAIL_NTH(FI_SENDMSG, 2, ENOBUFS));
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, 1000), 10);
	fi_disarm();
	n = 4;
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf),
					 FDPASS_WAITALL | FDPASS_NONBLOCK, 0), 10);
	three_received(&t, got, n);
	tl_three_close(&t);
	socketpair_close(sv);
}

/* ---- fdpass_recv -------------------------------------------------------- */

static void test_recv_eintr(void **state)
{
	int sv[2], p[2], fd = -1;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	FI_ARM("fdpass_recv", FI_FAIL_N(FI_RECVMSG, 1, 3, EINTR));
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	fi_disarm();
	assert_int_equal(fi_calls(FI_RECVMSG), 4);
	assert_true(tl_same_file(fd, p[1]));
	close(fd);
	close(p[0]);
	close(p[1]);
	socketpair_close(sv);
}

static void test_recv_errors(void **state)
{
	static const int errs[] = { ENOMEM, EAGAIN, ENOBUFS };
	int sv[2], p[2], fd;
	size_t i;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_pipe(p);
	assert_int_equal(fdpass_send(sv[0], p[1]), 0);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rule = FI_FAIL_NTH(FI_RECVMSG, 1, errs[i]);
		int fds = tl_count_fds();

		fd = 7;
		fi_arm("fdpass_recv", &rule, 1);
		assert_int_equal(fdpass_recv(sv[1], &fd), -errs[i]);
		fi_disarm();
		assert_int_equal(fd, -1);
		assert_int_equal(tl_count_fds(), fds);
	}
	/* Nothing was taken: the message is still there. */
	assert_int_equal(fdpass_recv(sv[1], &fd), 1);
	assert_true(tl_same_file(fd, p[1]));
	close(fd);
	close(p[0]);
	close(p[1]);
	socketpair_close(sv);
}

/*
 * MSG_CTRUNC after the fds were installed: every one of them must be closed.
 * The write ends of pipes travel, so a leak would also keep the pipe open.
 */
static void test_recv_ctrunc_closes(void **state)
{
	unsigned char msg[MSG_LEN], buf[MSG_LEN];
	int sv[2], fd = 7, got[4] = { -1, -1, -1, -1 }, fds;
	struct tl_three t;
	fdpass_meta *m = tl_meta(100), *in = NULL;
	size_t n;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	fds = tl_count_fds();

	assert_int_equal(fdpass_send(sv[0], t.p[1]), 0);
	FI_ARM("fdpass_recv", FI_FLAGS_NTH(FI_RECVMSG, 1, MSG_CTRUNC));
	assert_int_equal(fdpass_recv(sv[1], &fd), -EXFULL);
	fi_disarm();
	assert_int_equal(fd, -1);
	assert_int_equal(tl_count_fds(), fds);

	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	n = 4;
	FI_ARM("fdpass_recv_fds", FI_FLAGS_NTH(FI_RECVMSG, 1, MSG_CTRUNC));
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), FDPASS_WAITALL, 1000),
			 -EXFULL);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_int_equal(tl_count_fds(), fds);
	socketpair_close(sv);

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	n = 4;
	FI_ARM("fdpass_recv_meta", FI_FLAGS_NTH(FI_RECVMSG, 1, MSG_CTRUNC));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -EXFULL);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_null(in);
	assert_int_equal(tl_count_fds(), fds);
	socketpair_close(sv);

	/* A packet that did not fit (MSG_TRUNC): -EMSGSIZE, fds closed. */
	tl_socketpair(SOCK_SEQPACKET, sv);
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, 10, 0, -1), 10);
	n = 4;
	FI_ARM("fdpass_recv_fds", FI_FLAGS_NTH(FI_RECVMSG, 1, MSG_TRUNC));
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), 0, 1000), -EMSGSIZE);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_int_equal(tl_count_fds(), fds);
	socketpair_close(sv);

	fdpass_meta_free(m);
	tl_three_close(&t);
}

/* ---- fdpass_recv_fds ---------------------------------------------------- */

static void test_recv_fds_short_reads(void **state)
{
	unsigned char msg[MSG_LEN];
	struct tl_three t;
	int sv[2];

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	/* 1 byte (with the fds), EINTR, then 100 bytes a call. */
	FI_ARM("fdpass_recv_fds",
	       FI_SHORT_NTH(FI_RECVMSG, 1, 1),
	       FI_FAIL_NTH(FI_RECVMSG, 2, EINTR),
	       FI_SHORT_FROM(FI_RECVMSG, 3, 100));
	assert_three_arrive(sv[1], &t);
	fi_disarm();
	assert_int_equal(fi_calls(FI_RECVMSG), 2 + (MSG_LEN - 1 + 99) / 100);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_recv_fds_eagain(void **state)
{
	unsigned char msg[MSG_LEN], buf[MSG_LEN];
	int sv[2], got[4];
	struct tl_three t;
	size_t n;
	int64_t t0;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);

	/* With a deadline: poll(), then again; poll() interrupted on the way. */
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	FI_ARM("fdpass_recv_fds",
	       FI_FAIL_N(FI_RECVMSG, 1, 2, EAGAIN),
	       FI_FAIL_N(FI_POLL, 2, 2, EINTR));
	assert_three_arrive(sv[1], &t);
	fi_disarm();
	assert_int_equal(fi_calls(FI_POLL), 4);

	/* Timeout 0: -EAGAIN, and the message stays where it is. */
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	n = 4;
	FI_ARM("fdpass_recv_fds", FI_FAIL_NTH(FI_RECVMSG, 1, EAGAIN));
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), FDPASS_WAITALL, 0),
			 -EAGAIN);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_three_arrive(sv[1], &t);

	/* Part of the message, then no waiting allowed: that part, with its fds. */
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	n = 4;
	FI_ARM("fdpass_recv_fds",
	       FI_SHORT_NTH(FI_RECVMSG, 1, 10),
	       FI_FAIL_FROM(FI_RECVMSG, 2, EAGAIN));
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf),
					 FDPASS_WAITALL | FDPASS_NONBLOCK, 0), 10);
	fi_disarm();
	assert_true(tl_is_pattern(buf, 10));
	three_received(&t, got, n);
	assert_int_equal(tl_read_exact(sv[1], buf + 10, MSG_LEN - 10, 1000), 0);
	assert_memory_equal(buf + 10, msg + 10, MSG_LEN - 10);

	/* ...or the deadline passing: the same, on time. */
	assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
	n = 4;
	FI_ARM("fdpass_recv_fds",
	       FI_SHORT_NTH(FI_RECVMSG, 1, 10),
	       FI_FAIL_FOR(FI_RECVMSG, 2, EAGAIN, 2000));
	t0 = tl_now_ms();
	assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), FDPASS_WAITALL, 100), 10);
	fi_disarm();
	assert_deadline_kept(tl_now_ms() - t0, 100);
	three_received(&t, got, n);
	assert_int_equal(tl_read_exact(sv[1], buf + 10, MSG_LEN - 10, 1000), 0);

	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_recv_fds_error_mid_message(void **state)
{
	static const int errs[] = { ENOMEM, ECONNRESET, EIO };
	unsigned char msg[MSG_LEN], buf[MSG_LEN];
	int got[4] = { -1, -1, -1, -1 };
	struct tl_three t;
	size_t i, n;

	(void)state;
	tl_fill_pattern(msg, sizeof(msg));
	tl_three_open(&t);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rules[] = {
			FI_SHORT_NTH(FI_RECVMSG, 1, 10),
			FI_FAIL_NTH(FI_RECVMSG, 2, errs[i]),
		};
		int sv[2], fds;

		tl_socketpair(SOCK_STREAM, sv);
		fds = tl_count_fds();
		assert_int_equal(fdpass_send_fds(sv[0], t.fds, 3, msg, sizeof(msg), 0, -1), MSG_LEN);
		n = 4;
		fi_arm("fdpass_recv_fds", rules, ARRAY_SIZE(rules));
		assert_int_equal(fdpass_recv_fds(sv[1], got, &n, buf, sizeof(buf), FDPASS_WAITALL,
						 1000), -errs[i]);
		fi_disarm();
		/* The fds that came with the first 10 bytes were closed. */
		assert_int_equal(n, 0);
		assert_int_equal(tl_count_fds(), fds);
		socketpair_close(sv);
	}
	tl_three_close(&t);
}

/* ---- fdpass_send_meta / fdpass_recv_meta -------------------------------- */

#define META_DATA 5000

/* One metadata message with the three fds arrives intact. */
static void assert_meta_arrives(int sock, const struct tl_three *t, const fdpass_meta *sent)
{
	int got[4] = { -1, -1, -1, -1 };
	fdpass_meta *in = NULL;
	size_t n = 4;

	assert_int_equal(fdpass_recv_meta(sock, got, &n, &in, 0, 0, 2000), 1);
	assert_true(tl_meta_same(in, sent));
	three_received(t, got, n);
	fdpass_meta_free(in);
}

static void test_send_meta_rest_finished(void **state)
{
	/*
	 * 5 bytes with the fds, then a transient error (or EAGAIN where no
	 * waiting is allowed): fdpass_send_fds() gives a short count, and the
	 * rest goes through fdpass_write_all(): 300 bytes a call, one EINTR,
	 * one EAGAIN, one interrupted poll.
	 */
	static const struct fi_rule rest[] = {
		FI_FAIL_NTH(FI_SEND, 2, EINTR),
		FI_FAIL_NTH(FI_SEND, 4, EAGAIN),
		FI_FAIL_NTH(FI_POLL, 1, EINTR),
		FI_SHORT_FROM(FI_SEND, 1, 300),
	};
	static const struct {
		int err, flags;
	} cuts[] = {
		{ ENOBUFS, 0 },
		{ EAGAIN, FDPASS_NONBLOCK },
	};
	fdpass_meta *m = tl_meta(META_DATA);
	struct tl_three t;
	int sv[2];
	size_t c;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	for (c = 0; c < ARRAY_SIZE(cuts); c++) {
		struct fi_rule rules[2 + ARRAY_SIZE(rest)] = {
			FI_SHORT_NTH(FI_SENDMSG, 1, 5),
			FI_FAIL_FROM(FI_SENDMSG, 2, cuts[c].err),
		};

		memcpy(rules + 2, rest, sizeof(rest));
		fi_arm("fdpass_send_meta", rules, ARRAY_SIZE(rules));
		assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, cuts[c].flags, 1000), 0);
		fi_disarm();
		assert_int_equal(fi_sendmsg_with_control(), 1);
		assert_true(fi_calls(FI_SEND) > 10);
		tl_three_untouched(&t);
		assert_meta_arrives(sv[1], &t, m);
		tl_assert_nothing_to_read(sv[1]);
	}
	fdpass_meta_free(m);
	tl_three_close(&t);
	socketpair_close(sv);
}

/*
 * The rest of a begun message cannot go out: -ECONNABORTED, and the
 * receiver sees a message cut short (its fds closed too).
 */
static void test_send_meta_rest_fails(void **state)
{
	static const int errs[] = { EPIPE, ECONNRESET, ENOBUFS, EAGAIN };
	fdpass_meta *m = tl_meta(META_DATA), *in;
	struct tl_three t;
	size_t i;

	(void)state;
	tl_three_open(&t);
	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rules[] = {
			FI_SHORT_NTH(FI_SENDMSG, 1, 5),
			FI_FAIL_NTH(FI_SENDMSG, 2, ENOBUFS),
			/* (for 2 s only, so that a call that spins past its deadline ends) */
			FI_FAIL_FOR(FI_SEND, 1, errs[i], 2000),
		};
		int sv[2], got[4], fds, r;
		size_t n = 4;
		int64_t t0, elapsed;

		tl_socketpair(SOCK_STREAM, sv);
		fds = tl_count_fds();
		fi_arm("fdpass_send_meta", rules, ARRAY_SIZE(rules));
		t0 = tl_now_ms();
		r = fdpass_send_meta(sv[0], t.fds, 3, m, 0, 100);
		elapsed = tl_now_ms() - t0;
		fi_disarm();
		if (r != -ECONNABORTED || elapsed > 100 + tl_margin_ms()) {
			socketpair_close(sv);
			tl_three_close(&t);
			fdpass_meta_free(m);
			fail_msg("fdpass_send_meta, timeout 100 ms, the rest of the message failing "
				 "with %s: %d after %lld ms (expected -ECONNABORTED within 100 ms)",
				 strerror(errs[i]), r, (long long)elapsed);
		}
		if (errs[i] == EAGAIN) /* the rest waited its deadline out */
			assert_deadline_kept(elapsed, 100);
		tl_three_untouched(&t);
		close(sv[0]);
		in = NULL;
		assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -ECONNRESET);
		assert_int_equal(n, 0);
		assert_null(in);
		close(sv[1]);
		assert_int_equal(tl_count_fds(), fds - 2);
	}
	fdpass_meta_free(m);
	tl_three_close(&t);
}

static void test_send_meta_nothing_sent(void **state)
{
	static const struct {
		enum fi_call call;
		int err, expect, timeout;
	} cases[] = {
		{ FI_SENDMSG, ENOBUFS, -ENOBUFS, 1000 },
		{ FI_SENDMSG, ETOOMANYREFS, -ETOOMANYREFS, 1000 },
		{ FI_SENDMSG, ENOMEM, -ENOMEM, 1000 },
		{ FI_SENDMSG, EPIPE, -EPIPE, 1000 },
		{ FI_SENDMSG, EAGAIN, -EAGAIN, 0 },
		{ FI_MALLOC, ENOMEM, -ENOMEM, 1000 }, /* encoding the message */
	};
	fdpass_meta *m = tl_meta(META_DATA);
	struct tl_three t;
	int sv[2];
	size_t i;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct fi_rule rule = FI_FAIL_NTH(cases[i].call, 1, cases[i].err);

		fi_arm("fdpass_send_meta", &rule, 1);
		assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, cases[i].timeout),
				 cases[i].expect);
		fi_disarm();
		assert_int_equal(fi_hits(), 1);
		tl_assert_nothing_to_read(sv[1]);
		tl_three_untouched(&t);
	}
	/* httpd's plain message (meta NULL) goes through the same checks. */
	FI_ARM("fdpass_send_meta", FI_FAIL_NTH(FI_SENDMSG, 1, ETOOMANYREFS));
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 1, NULL, 0, 1000), -ETOOMANYREFS);
	fi_disarm();
	tl_assert_nothing_to_read(sv[1]);
	/* And the connection is still in step. */
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	assert_meta_arrives(sv[1], &t, m);
	fdpass_meta_free(m);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_recv_meta_short_reads(void **state)
{
	fdpass_meta *m = tl_meta(META_DATA);
	struct tl_three t;
	int sv[2];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	/* 7 bytes a call, every third call interrupted first. */
	FI_ARM("fdpass_recv_meta",
	       FI_FAIL_EVERY(FI_RECVMSG, 2, 3, EINTR),
	       FI_SHORT_FROM(FI_RECVMSG, 1, 7));
	assert_meta_arrives(sv[1], &t, m);
	fi_disarm();
	assert_true(fi_calls(FI_RECVMSG) > tl_meta_wire_size(META_DATA) / 7);
	fdpass_meta_free(m);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void test_recv_meta_eagain(void **state)
{
	fdpass_meta *m = tl_meta(META_DATA), *in = NULL;
	int sv[2], got[4];
	struct tl_three t;
	size_t n;
	int64_t t0;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);

	/* Before the message began, and in the middle of it: waited on. */
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta",
	       FI_FAIL_N(FI_RECVMSG, 1, 2, EAGAIN),
	       FI_FAIL_N(FI_RECVMSG, 4, 2, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 3, EINTR),
	       FI_SHORT_FROM(FI_RECVMSG, 3, 100));
	assert_meta_arrives(sv[1], &t, m);
	fi_disarm();
	assert_int_equal(fi_calls(FI_POLL), 5);

	/* Timeout 0 and nothing began: -EAGAIN, the connection still usable. */
	n = 4;
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta", FI_FAIL_NTH(FI_RECVMSG, 1, EAGAIN));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, FDPASS_NONBLOCK, 0), -EAGAIN);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_meta_arrives(sv[1], &t, m);

	/* The rest never comes in time: -ETIME on time, the fds closed. */
	n = 4;
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta", FI_FAIL_FOR(FI_RECVMSG, 2, EAGAIN, 2000));
	t0 = tl_now_ms();
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 100), -ETIME);
	fi_disarm();
	assert_deadline_kept(tl_now_ms() - t0, 100);
	assert_int_equal(n, 0);
	assert_null(in);
	socketpair_close(sv);

	/* SOCK_SEQPACKET: the peek (recv) and the read (recvmsg). */
	tl_socketpair(SOCK_SEQPACKET, sv);
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta",
	       FI_FAIL_NTH(FI_RECV, 1, EINTR),
	       FI_FAIL_NTH(FI_RECV, 2, EAGAIN),
	       FI_FAIL_NTH(FI_RECVMSG, 1, EINTR));
	assert_meta_arrives(sv[1], &t, m);
	fi_disarm();
	assert_int_equal(fi_calls(FI_RECV), 3);
	assert_int_equal(fi_calls(FI_POLL), 1);
	socketpair_close(sv);

	fdpass_meta_free(m);
	tl_three_close(&t);
}

static void test_recv_meta_errors(void **state)
{
	fdpass_meta *m = tl_meta(META_DATA), *in = NULL;
	int sv[2], got[4], fds;
	struct tl_three t;
	size_t n;

	(void)state;
	tl_three_open(&t);
	tl_socketpair(SOCK_STREAM, sv);
	fds = tl_count_fds();
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);

	/* Before anything was taken: the message is still there after. */
	n = 4;
	FI_ARM("fdpass_recv_meta", FI_FAIL_NTH(FI_RECVMSG, 1, ENOMEM));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -ENOMEM);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_null(in);
	assert_meta_arrives(sv[1], &t, m);

	/* After the first byte and the fds: they are closed. */
	n = 4;
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta", FI_FAIL_NTH(FI_RECVMSG, 2, ENOMEM));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -ENOMEM);
	fi_disarm();
	assert_int_equal(n, 0);
	assert_null(in);
	assert_int_equal(tl_count_fds(), fds);
	socketpair_close(sv);

	/* SOCK_SEQPACKET: the peek failing takes nothing either. */
	tl_socketpair(SOCK_SEQPACKET, sv);
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	n = 4;
	FI_ARM("fdpass_recv_meta", FI_FAIL_NTH(FI_RECV, 1, ENOMEM));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -ENOMEM);
	fi_disarm();
	assert_meta_arrives(sv[1], &t, m);
	n = 4;
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	FI_ARM("fdpass_recv_meta", FI_FAIL_NTH(FI_RECVMSG, 1, ENOMEM));
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000), -ENOMEM);
	fi_disarm();
	assert_int_equal(n, 0);
	socketpair_close(sv);

	fdpass_meta_free(m);
	tl_three_close(&t);
}

/* ---- fdpass_write_all --------------------------------------------------- */

#define WRITE_LEN 20000

struct reader {
	int fd;
	size_t len;
};

static int reader_main(void *arg)
{
	const struct reader *r = arg;
	unsigned char *buf = malloc(r->len);

	TL_CHILD_CHECK(buf != NULL);
	TL_CHILD_CHECK(tl_read_exact(r->fd, buf, r->len, 5000) == 0);
	TL_CHILD_CHECK(tl_is_pattern(buf, r->len));
	return 0;
}

/*
 * A child that reads len bytes of pattern from fd as they come, so that
 * many small writes never make the socket look full to poll() (Linux
 * reports POLLOUT on an AF_UNIX stream socket only while a quarter of its
 * send buffer is free, however little each skb holds).
 */
static pid_t start_reader(int fd, size_t len)
{
	struct reader r = { fd, len };

	return tl_fork_peer(reader_main, &r);
}

/*
 * A writer whose fd always polls writable and whose writes always fail
 * with EAGAIN must still stop at its deadline (timeout 100), or at once
 * (timeout 0). The rule stops after 2 s, so that a call that spins on
 * ends, with 0. 1 if it stopped in time; if not, 0 and why (the caller
 * cleans up before it fails the test).
 */
static int write_all_stops(int fd, int reader, enum fi_call call, const void *buf, char *why,
			   size_t size)
{
	static const int timeouts[] = { 100, 0 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(timeouts); i++) {
		struct fi_rule rule = FI_FAIL_FOR(call, 1, EAGAIN, 2000);
		int64_t t0, elapsed;
		int r, t = timeouts[i];

		fi_arm("fdpass_write_all", &rule, 1);
		t0 = tl_now_ms();
		r = fdpass_write_all(fd, buf, WRITE_LEN, t);
		elapsed = tl_now_ms() - t0;
		fi_disarm();
		if (r == 0) { /* drain what went out after the rule stopped */
			char *sink = malloc(WRITE_LEN);

			assert_non_null(sink);
			assert_int_equal(tl_read_exact(reader, sink, WRITE_LEN, 2000), 0);
			free(sink);
		}
		if (r != -ETIMEDOUT || elapsed > t + tl_margin_ms() || elapsed < t - 2) {
			snprintf(why, size, "fdpass_write_all to a %s, timeout %d ms, every %s "
				 "EAGAIN while poll() says POLLOUT: %d after %lld ms and %u calls "
				 "to %s (expected -ETIMEDOUT within %d ms)",
				 call == FI_SEND ? "socket" : "pipe", t, fi_call_name(call), r,
				 (long long)elapsed, fi_calls(call), fi_call_name(call), t);
			return 0;
		}
		tl_assert_nothing_to_read(reader);
	}
	return 1;
}

/* fdpass_write_all, or with v2 fdpass_write_all2 (whose count lands in *written). */
static int write_all_call(int v2, int fd, const void *buf, size_t len, int t, size_t *written)
{
	*written = len; /* fdpass_write_all does not tell: checked for v2 only */
	return v2 ? fdpass_write_all2(fd, buf, len, t, written) : fdpass_write_all(fd, buf, len, t);
}

/* Short writes, EINTR, EAGAIN, errors and poll() failing on a socket. */
static void write_all_socket_faults(int v2, int sv[2], const unsigned char *buf)
{
	static const int errs[] = { EPIPE, ECONNRESET, ENOBUFS, EIO };
	const char *site = v2 ? "fdpass_write_all2" : "fdpass_write_all";
	size_t i, written;
	pid_t pid;
	int r;

	pid = start_reader(sv[1], WRITE_LEN);
	FI_ARM(site,
	       FI_FAIL_EVERY(FI_SEND, 2, 5, EINTR),
	       FI_FAIL_EVERY(FI_SEND, 3, 7, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 2, EINTR),
	       FI_SHORT_FROM(FI_SEND, 1, 333));
	r = write_all_call(v2, sv[0], buf, WRITE_LEN, 2000, &written);
	fi_disarm();
	assert_int_equal(r, 0);
	assert_int_equal(written, WRITE_LEN);
	assert_true(fi_hits() > WRITE_LEN / 333);
	tl_wait_child(pid);
	tl_assert_nothing_to_read(sv[1]);

	/* No deadline: the same. */
	pid = start_reader(sv[1], WRITE_LEN);
	FI_ARM(site,
	       FI_FAIL_EVERY(FI_SEND, 2, 5, EINTR),
	       FI_FAIL_EVERY(FI_SEND, 3, 7, EAGAIN),
	       FI_SHORT_FROM(FI_SEND, 1, 333));
	r = write_all_call(v2, sv[0], buf, WRITE_LEN, -1, &written);
	fi_disarm();
	assert_int_equal(r, 0);
	tl_wait_child(pid);

	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rules[] = {
			FI_SHORT_NTH(FI_SEND, 1, 100),
			FI_FAIL_NTH(FI_SEND, 2, errs[i]),
		};

		fi_arm(site, rules, ARRAY_SIZE(rules));
		r = write_all_call(v2, sv[0], buf, WRITE_LEN, 1000, &written);
		fi_disarm();
		assert_int_equal(r, -errs[i]);
		if (v2)
			assert_int_equal(written, 100);
		assert_pattern_arrives(sv[1], 100); /* the part that went out */
		tl_assert_nothing_to_read(sv[1]);
	}

	/* poll() failing. */
	FI_ARM(site,
	       FI_FAIL_NTH(FI_SEND, 1, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 1, ENOMEM));
	r = write_all_call(v2, sv[0], buf, WRITE_LEN, 1000, &written);
	fi_disarm();
	assert_int_equal(r, -ENOMEM);
	if (v2)
		assert_int_equal(written, 0);
	tl_assert_nothing_to_read(sv[1]);
}

static void test_write_all_socket(void **state)
{
	unsigned char *buf = malloc(WRITE_LEN);
	char why[256];
	int sv[2], ok;

	(void)state;
	assert_non_null(buf);
	tl_fill_pattern(buf, WRITE_LEN);
	tl_socketpair(SOCK_STREAM, sv);
	write_all_socket_faults(0, sv, buf);
	ok = write_all_stops(sv[0], sv[1], FI_SEND, buf, why, sizeof(why));
	free(buf);
	socketpair_close(sv);
	if (!ok)
		fail_msg("%s", why);
}

static void test_write_all_pipe(void **state)
{
	unsigned char *buf = malloc(WRITE_LEN);
	char why[256];
	int p[2], ok;

	(void)state;
	assert_non_null(buf);
	tl_fill_pattern(buf, WRITE_LEN);
	tl_pipe(p);
	/* Not a socket: poll(), then write() of at most PIPE_BUF bytes. */
	FI_ARM("fdpass_write_all",
	       FI_FAIL_EVERY(FI_WRITE, 2, 4, EINTR),
	       FI_FAIL_EVERY(FI_WRITE, 3, 9, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 2, EINTR),
	       FI_SHORT_FROM(FI_WRITE, 1, 100));
	assert_int_equal(fdpass_write_all(p[1], buf, WRITE_LEN, 1000), 0);
	fi_disarm();
	assert_true(fi_calls(FI_WRITE) > WRITE_LEN / 100);
	assert_pattern_arrives(p[0], WRITE_LEN);

	FI_ARM("fdpass_write_all",
	       FI_SHORT_NTH(FI_WRITE, 1, 100),
	       FI_FAIL_NTH(FI_WRITE, 2, ENOSPC));
	assert_int_equal(fdpass_write_all(p[1], buf, WRITE_LEN, 1000), -ENOSPC);
	fi_disarm();
	assert_pattern_arrives(p[0], 100);

	ok = write_all_stops(p[1], p[0], FI_WRITE, buf, why, sizeof(why));
	free(buf);
	close(p[0]);
	close(p[1]);
	if (!ok)
		fail_msg("%s", why);
}

/* ---- the "flush" provider ----------------------------------------------- */

static fdpass_response *make_response(void)
{
	fdpass_response *r = NULL;

	assert_int_equal(fdpass_response_new(&r, 200), 0);
	assert_int_equal(fdpass_response_add_header(r, "Content-Type", "text/plain"), 0);
	assert_int_equal(fdpass_response_add_header(r, "X-Served-By", "fault test"), 0);
	assert_int_equal(fdpass_response_set_body(r, "start of body", 13), 0);
	return r;
}

/*
 * Everything waiting on fd (its writer has finished: the first byte may
 * take a moment, the rest is there), with the Date field's value blanked.
 */
static size_t read_head(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char *date;

	while (n + 1 < size && tl_wait_fd(fd, POLLIN, n ? 0 : 200) > 0) {
		ssize_t r = read(fd, buf + n, size - 1 - n);

		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	date = strstr(buf, "\r\nDate: ");
	if (date)
		for (date += 8; *date && *date != '\r'; date++)
			*date = '#';
	return n;
}

static void test_flush_provider(void **state)
{
	static const int errs[] = { EPIPE, ECONNRESET, ENOBUFS };
	fdpass_response *resp = make_response();
	char ref[1024], got[1024];
	size_t len, i;
	int sv[2];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_flusher_run("flush", sv[0], resp), 0);
	len = read_head(sv[1], ref, sizeof(ref));
	assert_true(len > 50);

	FI_ARM("flush provider",
	       FI_FAIL_EVERY(FI_SEND, 2, 3, EINTR),
	       FI_FAIL_NTH(FI_SEND, 4, EAGAIN),
	       FI_FAIL_NTH(FI_POLL, 1, EINTR),
	       FI_SHORT_FROM(FI_SEND, 1, 7));
	assert_int_equal(fdpass_flusher_run("flush", sv[0], resp), 0);
	fi_disarm();
	assert_true(fi_calls(FI_SEND) > len / 7);
	assert_int_equal(read_head(sv[1], got, sizeof(got)), len);
	assert_string_equal(got, ref);

	/* The head cannot be built: nothing is written. */
	FI_ARM("flush provider", FI_FAIL_NTH(FI_ALLOC, 1, ENOMEM));
	assert_int_equal(fdpass_flusher_run("flush", sv[0], resp), -ENOMEM);
	fi_disarm();
	tl_assert_nothing_to_read(sv[1]);

	for (i = 0; i < ARRAY_SIZE(errs); i++) {
		struct fi_rule rules[] = {
			FI_SHORT_NTH(FI_SEND, 1, 10),
			FI_FAIL_NTH(FI_SEND, 2, errs[i]),
		};

		fi_arm("flush provider", rules, ARRAY_SIZE(rules));
		assert_int_equal(fdpass_flusher_run("flush", sv[0], resp), -errs[i]);
		fi_disarm();
		assert_int_equal(read_head(sv[1], got, sizeof(got)), 10);
	}
	fdpass_response_free(resp);
	socketpair_close(sv);
}

/* ---- fdpass_handoff ----------------------------------------------------- */

/* The backend's side: the next connection carries a socket for client's file. */
static void backend_gets(int lfd, int front, const char *flusher_field)
{
	int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), got[2] = { -1, -1 };
	fdpass_meta *m = NULL;
	size_t n = 2;

	assert_true(conn >= 0);
	assert_int_equal(fdpass_recv_meta(conn, got, &n, &m, 0, 0, 1000), 1);
	assert_int_equal(n, 1);
	assert_true(tl_same_file(got[0], front));
	if (flusher_field) {
		assert_non_null(m);
		assert_string_equal(fdpass_meta_get(m, FDPASS_META_FLUSHER), flusher_field);
	} else {
		assert_null(m);
	}
	fdpass_meta_free(m);
	close(got[0]);
	/* ...and then the front-end hangs up. */
	assert_int_equal(fdpass_recv_meta(conn, got, &n, &m, 0, 0, 1000), 0);
	close(conn);
}

/* The next connection ends without a message. */
static void backend_gets_nothing(int lfd)
{
	int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), fd = 7;

	assert_true(conn >= 0);
	assert_int_equal(fdpass_recv(conn, &fd), 0);
	assert_int_equal(fd, -1);
	close(conn);
}

static void no_connection(int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c >= 0)
		close(c);
	assert_int_equal(c, -1);
	assert_int_equal(errno, EAGAIN);
}

static void client_got_head(int client)
{
	char buf[1024];

	read_head(client, buf, sizeof(buf));
	if (strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) || !strstr(buf, "Connection: close\r\n\r\n"))
		fail_msg("the client got \"%s\"", buf);
}

enum outcome {
	SERVED,       /* 0: the client has the head, the backend the socket */
	NOT_STARTED,  /* nothing written, no connection to the backend */
	ABORTED,      /* -ECONNABORTED after the head: a connection that ends empty */
	NOT_SENT,     /* -ECONNABORTED before a byte of head: a connection that ends empty */
};

/* What the client and the backend got; first: the case's first rule. */
static void assert_outcome(enum outcome outcome, const struct fi_rule *first, int client,
			   int front, int lfd)
{
	switch (outcome) {
	case SERVED:
		client_got_head(client);
		backend_gets(lfd, front, NULL);
		break;
	case NOT_STARTED:
		tl_assert_nothing_to_read(client);
		no_connection(lfd);
		break;
	case NOT_SENT:
		if (first->action == FI_SHORT)
			assert_int_equal(read_head(client, (char[64]){ 0 }, 64), 5);
		else
			tl_assert_nothing_to_read(client);
		backend_gets_nothing(lfd);
		break;
	case ABORTED:
		client_got_head(client);
		backend_gets_nothing(lfd);
		break;
	}
}

static void test_handoff_faults(void **state)
{
	static const struct {
		struct fi_rule rules[3];
		int nrules, timeout, expect;
		enum outcome outcome;
	} cases[] = {
		{ { FI_FAIL_N(FI_CONNECT, 1, 2, EINTR) }, 1, -1, 0, SERVED },
		{ { FI_FAIL_N(FI_CONNECT, 1, 2, EINTR) }, 1, 1000, 0, SERVED },
		{ { FI_FAIL_NTH(FI_SOCKET, 1, EMFILE) }, 1, 1000, -EMFILE, NOT_STARTED },
		{ { FI_FAIL_NTH(FI_SOCKET, 1, ENFILE) }, 1, 1000, -ENFILE, NOT_STARTED },
		{ { FI_FAIL_NTH(FI_CONNECT, 1, ECONNREFUSED) }, 1, 1000, -ECONNREFUSED, NOT_STARTED },
		{ { FI_FAIL_NTH(FI_CONNECT, 1, ENOMEM) }, 1, 1000, -ENOMEM, NOT_STARTED },
		{ { FI_FAIL_FROM(FI_CONNECT, 1, EAGAIN) }, 1, 100, -ETIMEDOUT, NOT_STARTED },
		{ { FI_FAIL_FROM(FI_CONNECT, 1, EAGAIN) }, 1, 0, -ETIMEDOUT, NOT_STARTED },
		{ { FI_FAIL_EVERY(FI_SEND, 2, 3, EINTR), FI_FAIL_NTH(FI_SEND, 3, EAGAIN),
		    FI_SHORT_FROM(FI_SEND, 1, 7) }, 3, 1000, 0, SERVED },
		{ { FI_FAIL_NTH(FI_SEND, 1, EPIPE) }, 1, 1000, -ECONNABORTED, NOT_SENT },
		{ { FI_SHORT_NTH(FI_SEND, 1, 5), FI_FAIL_NTH(FI_SEND, 2, ECONNRESET) }, 2, 1000,
		  -ECONNABORTED, NOT_SENT },
		{ { FI_FAIL_NTH(FI_ALLOC, 1, ENOMEM) }, 1, 1000, -ECONNABORTED, NOT_SENT },
		{ { FI_FAIL_N(FI_SENDMSG, 1, 2, EINTR) }, 1, 1000, 0, SERVED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN) }, 1, 1000, 0, SERVED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ENOBUFS) }, 1, 1000, -ECONNABORTED, ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ETOOMANYREFS) }, 1, 1000, -ECONNABORTED, ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ENOMEM) }, 1, 1000, -ECONNABORTED, ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, EPIPE) }, 1, 1000, -ECONNABORTED, ABORTED },
		{ { FI_FAIL_FOR(FI_SENDMSG, 1, EAGAIN, 2000) }, 1, 100, -ECONNABORTED, ABORTED },
	};
	fdpass_response *resp = make_response();
	char path[300];
	int lfd;
	size_t c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		int client, front, fds, sv[2];
		struct stat st;


		tl_socketpair(SOCK_STREAM, sv);
		client = sv[0];
		front = sv[1];
		assert_int_equal(fstat(front, &st), 0);
		fds = tl_count_fds();
		fi_arm("fdpass_handoff", cases[c].rules, (size_t)cases[c].nrules);
		if (fdpass_handoff(path, front, NULL, resp, cases[c].timeout) != cases[c].expect)
			fail_msg("case %zu: expected %d", c, cases[c].expect);
		fi_disarm();
		assert_true(fi_hits() > 0);
		assert_int_equal(tl_count_fds(), fds);
		/* The client's socket stays the caller's, whatever happened. */
		assert_same_inode(front, &st);
		assert_outcome(cases[c].outcome, &cases[c].rules[0], client, front, lfd);
		no_connection(lfd);
		close(client);
		close(front);
	}
	fdpass_response_free(resp);
	close(lfd);
	unlink(path);
}

static void test_handoff_meta_faults(void **state)
{
	fdpass_response *resp = make_response();
	fdpass_meta *m = tl_meta(META_DATA);
	char path[300];
	int lfd, sv[2];

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_socketpair(SOCK_STREAM, sv);

	/*
	 * The message in pieces: 3 bytes with the fd, a transient error, then
	 * the rest through fdpass_write_all(), 50 bytes a call (the head went
	 * out with the first send).
	 */
	FI_ARM("fdpass_handoff_meta",
	       FI_SHORT_NTH(FI_SENDMSG, 1, 3),
	       FI_FAIL_NTH(FI_SENDMSG, 2, ENOBUFS),
	       FI_FAIL_NTH(FI_SEND, 2, EINTR),
	       FI_SHORT_FROM(FI_SEND, 2, 50));
	assert_int_equal(fdpass_handoff_meta(path, sv[1], NULL, resp, m, 1000), 0);
	fi_disarm();
	assert_true(fi_calls(FI_SEND) > tl_meta_wire_size(META_DATA) / 50);
	client_got_head(sv[0]);
	backend_gets(lfd, sv[1], "flush");

	/* Encoding the message fails after the head went out. */
	FI_ARM("fdpass_handoff_meta", FI_FAIL_NTH(FI_ALLOC, 2, ENOMEM));
	assert_int_equal(fdpass_handoff_meta(path, sv[1], NULL, resp, m, 1000), -ECONNABORTED);
	fi_disarm();
	client_got_head(sv[0]);
	backend_gets_nothing(lfd);

	/* The rest of the message cannot follow: the backend sees it cut. */
	FI_ARM("fdpass_handoff_meta",
	       FI_SHORT_NTH(FI_SENDMSG, 1, 3),
	       FI_FAIL_NTH(FI_SENDMSG, 2, ENOBUFS),
	       FI_FAIL_FROM(FI_SEND, 2, EPIPE));
	assert_int_equal(fdpass_handoff_meta(path, sv[1], NULL, resp, m, 1000), -ECONNABORTED);
	fi_disarm();
	client_got_head(sv[0]);
	{
		int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), got[2];
		fdpass_meta *in = NULL;
		size_t n = 2;

		assert_true(conn >= 0);
		assert_int_equal(fdpass_recv_meta(conn, got, &n, &in, 0, 0, 1000), -ECONNRESET);
		assert_int_equal(n, 0);
		close(conn);
	}
	no_connection(lfd);
	fdpass_meta_free(m);
	fdpass_response_free(resp);
	socketpair_close(sv);
	close(lfd);
	unlink(path);
}

/* ---- fdpass_connect / fdpass_listen ------------------------------------- */

static void test_connect_faults(void **state)
{
	static const struct {
		struct fi_rule rule;
		int timeout, expect; /* expect 1: connected */
	} cases[] = {
		{ FI_FAIL_NTH(FI_SOCKET, 1, EMFILE), -1, -EMFILE },
		{ FI_FAIL_NTH(FI_SOCKET, 1, ENFILE), -1, -ENFILE },
		{ FI_FAIL_N(FI_CONNECT, 1, 3, EINTR), -1, 1 },
		{ FI_FAIL_N(FI_CONNECT, 1, 3, EINTR), 1000, 1 },
		{ FI_FAIL_N(FI_CONNECT, 1, 3, EINTR), 0, 1 },
		{ FI_FAIL_NTH(FI_CONNECT, 1, EAGAIN), 0, -EAGAIN },
		/* Before the deadline, EAGAIN is a wait cut short by the kernel's tick. */
		{ FI_FAIL_NTH(FI_CONNECT, 1, EAGAIN), 1000, 1 },
		{ FI_FAIL_FOR(FI_CONNECT, 1, EAGAIN, 2000), 100, -ETIMEDOUT },
		{ FI_FAIL_NTH(FI_CONNECT, 1, ECONNREFUSED), 1000, -ECONNREFUSED },
		{ FI_FAIL_NTH(FI_CONNECT, 1, ENOMEM), 1000, -ENOMEM },
	};
	char path[300];
	int lfd;
	size_t c;

	tl_path_in(path, sizeof(path), state, "listener.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		int fds = tl_count_fds(), fd;

		fi_arm("fdpass_connect", &cases[c].rule, 1);
		fd = fdpass_connect(path, 0, cases[c].timeout);
		fi_disarm();
		if (cases[c].expect == 1) {
			int conn, fl;

			if (fd < 0)
				fail_msg("case %zu: %d", c, fd);
			/* Blocking, as asked, whatever waiting was done. */
			fl = fcntl(fd, F_GETFL);
			assert_false(fl & O_NONBLOCK);
			conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			assert_true(conn >= 0);
			close(conn);
			close(fd);
		} else {
			if (fd != cases[c].expect)
				fail_msg("case %zu: %d, expected %d", c, fd, cases[c].expect);
			no_connection(lfd);
		}
		assert_int_equal(tl_count_fds(), fds);
	}
	close(lfd);
	unlink(path);
}

/* What is at a socket file's path before the call, and what must be there after it. */
enum before { FRESH, STALE, LIVE };
enum after {
	GONE,  /* nothing */
	OURS,  /* the new listener, with mode 0600 */
	SAME,  /* the file that was there before */
	ASIDE, /* nothing: the file that was there is kept in the private directory */
};

/* A socket file nobody listens on. */
static void make_stale(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

/* lfd takes a connection made to path. */
static void reaches(const char *path, int lfd)
{
	int c = fdpass_connect(path, 0, 1000), conn;

	assert_true(c >= 0);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	close(conn);
	close(c);
}

/* Accept and close what waits on a non-blocking listener (the calls' probes). */
static void drain(int lfd)
{
	int conn;

	while ((conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
		close(conn);
}

/*
 * The private directories in the test's directory: their count. With
 * aside, the path of a file "t" in one of them is stored there; with
 * remove, they are removed.
 */
static int private_dirs(void **state, char *aside, size_t size, int remove)
{
	char dir[300], sub[600], t[620];
	struct dirent *e;
	DIR *d;
	int n = 0;

	tl_path_in(dir, sizeof(dir), state, "");
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, ".fdpass-", 8)) {
			snprintf(sub, sizeof(sub), "%s%s", dir, e->d_name);
			snprintf(t, sizeof(t), "%s/t", sub);
			if (aside && access(t, F_OK) == 0)
				snprintf(aside, size, "%s", t);
			if (remove)
				tl_rmdir(sub);
			n++;
		}
	closedir(d);
	return n;
}

static void test_listen_faults(void **state)
{
	static const struct {
		enum before before;
		struct fi_rule rules[2];
		int nrules, expect; /* expect 1: listening */
		enum after after;
		int left;          /* private directories left */
		int min_ms;
	} cases[] = {
		{ FRESH, { FI_FAIL_NTH(FI_SOCKET, 1, EMFILE) }, 1, -EMFILE, GONE, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_MKDIRAT, 1, EACCES) }, 1, -EACCES, GONE, 0, 0 },
		/* Names of private directories already taken: others are tried. */
		{ FRESH, { FI_FAIL_N(FI_MKDIRAT, 1, 2, EEXIST) }, 1, 1, OURS, 0, 0 },
		{ FRESH, { FI_FAIL_N(FI_MKDIRAT, 1, 8, EEXIST) }, 1, -EADDRINUSE, GONE, 0, 0 },
		/* Gone before it could be opened: another is made (this one stays). */
		{ FRESH, { FI_FAIL_NTH(FI_OPENAT, 1, ENOENT) }, 1, 1, OURS, 1, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_OPENAT, 1, EMFILE) }, 1, -EMFILE, GONE, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_BIND, 1, EACCES) }, 1, -EACCES, GONE, 0, 0 },
		/* The private directory removed by another user before bind(). */
		{ FRESH, { FI_FAIL_NTH(FI_BIND, 1, ENOENT) }, 1, -EADDRINUSE, GONE, 0, 0 },
		/* Bound somewhere else than in the private directory. */
		{ FRESH, { FI_FAIL_NTH(FI_FSTATAT, 1, ENOENT) }, 1, -EADDRINUSE, GONE, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_FCHMODAT, 1, EPERM) }, 1, -EPERM, GONE, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_LISTEN, 1, ENOBUFS) }, 1, -ENOBUFS, GONE, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_RENAMEAT2, 1, ENOSPC) }, 1, -ENOSPC, GONE, 0, 0 },
		/* A file system without RENAME_NOREPLACE: link() instead. */
		{ FRESH, { FI_FAIL_NTH(FI_RENAMEAT2, 1, EINVAL) }, 1, 1, OURS, 0, 0 },
		{ FRESH, { FI_FAIL_NTH(FI_RENAMEAT2, 1, EINVAL), FI_FAIL_NTH(FI_LINKAT, 1, ENOSPC) },
		  2, -ENOSPC, GONE, 0, 0 },
		/* A file that is there, then gone when looked at: tried again, three times. */
		{ FRESH, { FI_FAIL_N(FI_RENAMEAT2, 1, 3, EEXIST) }, 1, 1, OURS, 0, 0 },
		{ FRESH, { FI_FAIL_N(FI_RENAMEAT2, 1, 4, EEXIST) }, 1, -EADDRINUSE, GONE, 0, 0 },
		/* The private directory cannot be removed: it stays, the call succeeds. */
		{ FRESH, { FI_FAIL_NTH(FI_UNLINKAT, 1, EBUSY) }, 1, 1, OURS, 1, 0 },

		{ STALE, { { 0 } }, 0, 1, OURS, 0, 0 },
		{ STALE, { FI_FAIL_NTH(FI_SOCKET, 2, EMFILE) }, 1, -EMFILE, SAME, 0, 0 },
		/* No lock (unreadable directory, file system without flock): unserialised. */
		{ STALE, { FI_FAIL_NTH(FI_OPENAT, 2, EACCES) }, 1, 1, OURS, 0, 0 },
		{ STALE, { FI_FAIL_NTH(FI_FLOCK, 1, ENOLCK) }, 1, 1, OURS, 0, 0 },
		/* Another caller holds the lock for a while; or for ever: waited for 1 s. */
		{ STALE, { FI_FAIL_FOR(FI_FLOCK, 1, EWOULDBLOCK, 300) }, 1, 1, OURS, 0, 300 },
		{ STALE, { FI_FAIL_FROM(FI_FLOCK, 1, EWOULDBLOCK) }, 1, 1, OURS, 0, 1000 },
		/* Failures while it is checked, taken, checked again and removed: it is kept. */
		{ STALE, { FI_FAIL_NTH(FI_FSTATAT, 2, EACCES) }, 1, -EACCES, SAME, 0, 0 },
		{ STALE, { FI_FAIL_NTH(FI_RENAMEAT, 1, EACCES) }, 1, -EACCES, SAME, 0, 0 },
		{ STALE, { FI_FAIL_NTH(FI_FSTATAT, 3, EIO) }, 1, -EIO, SAME, 0, 0 },
		{ STALE, { FI_FAIL_NTH(FI_UNLINKAT, 1, EPERM) }, 1, -EPERM, SAME, 0, 0 },
		/* ...and its name taken meanwhile: it stays in the private directory. */
		{ STALE, { FI_FAIL_NTH(FI_UNLINKAT, 1, EPERM), FI_FAIL_NTH(FI_RENAMEAT2, 2, EEXIST) },
		  2, -EPERM, ASIDE, 1, 0 },

		{ LIVE, { { 0 } }, 0, -EADDRINUSE, SAME, 0, 0 },
		/* Taken for stale by the first probe: the second, in private, puts it back. */
		{ LIVE, { FI_FAIL_NTH(FI_CONNECT, 1, ECONNREFUSED) }, 1, -EADDRINUSE, SAME, 0, 0 },
		{ LIVE, { FI_FAIL_NTH(FI_CONNECT, 1, ECONNREFUSED), FI_FAIL_NTH(FI_RENAMEAT2, 2, EEXIST) },
		  2, -EADDRINUSE, ASIDE, 1, 0 },
	};
	char path[300], aside[700];
	struct stat st, was;
	size_t c;

	tl_path_in(path, sizeof(path), state, "listener.sock");
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		int fds, fd, lfd = -1;
		int64_t t0;

		if (cases[c].before == STALE)
			make_stale(path);
		else if (cases[c].before == LIVE)
			assert_true((lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK)) >= 0);
		if (cases[c].before != FRESH)
			assert_int_equal(lstat(path, &was), 0);
		fds = tl_count_fds();
		t0 = tl_now_ms();
		fi_arm("fdpass_listen", cases[c].rules, (size_t)cases[c].nrules);
		fd = fdpass_listen(path, 0600, 0);
		fi_disarm();
		if (cases[c].expect == 1 ? fd < 0 : fd != cases[c].expect)
			fail_msg("case %zu: %d, expected %d", c, fd, cases[c].expect);
		assert_true(fi_hits() >= (unsigned)cases[c].nrules);
		assert_true(tl_now_ms() - t0 >= cases[c].min_ms);
		if (lfd >= 0)
			drain(lfd);
		switch (cases[c].after) {
		case GONE:
		case ASIDE:
			assert_int_equal(lstat(path, &st), -1);
			break;
		case OURS:
			assert_int_equal(lstat(path, &st), 0);
			assert_true(S_ISSOCK(st.st_mode));
			assert_int_equal(st.st_mode & 07777, 0600);
			reaches(path, fd);
			close(fd);
			break;
		case SAME:
			assert_int_equal(lstat(path, &st), 0);
			assert_true(st.st_dev == was.st_dev && st.st_ino == was.st_ino);
			break;
		}
		aside[0] = '\0';
		if (private_dirs(state, aside, sizeof(aside), 0) != cases[c].left)
			fail_msg("case %zu: private directories left: %d, expected %d", c,
				 private_dirs(state, NULL, 0, 0), cases[c].left);
		if (cases[c].after == ASIDE) {
			assert_int_equal(lstat(aside, &st), 0);
			assert_true(st.st_dev == was.st_dev && st.st_ino == was.st_ino);
			if (lfd >= 0)
				reaches(aside, lfd);
		} else if (lfd >= 0) {
			reaches(path, lfd);
		}
		private_dirs(state, NULL, 0, 1);
		assert_int_equal(tl_count_fds(), fds);
		if (lfd >= 0)
			close(lfd);
		unlink(path);
	}
}

/* fdpass_backend_free removes its socket file only once sure it is its own. */
static void test_backend_free_faults(void **state)
{
	static const struct {
		struct fi_rule rule;
		int removed;
	} cases[] = {
		{ FI_FAIL_NTH(FI_SOCKET, 1, EMFILE), 1 }, /* makes no socket: removed */
		{ FI_FAIL_NTH(FI_MKDIRAT, 1, EACCES), 0 },
		{ FI_FAIL_NTH(FI_FSTATAT, 1, EIO), 0 },
		{ FI_FAIL_NTH(FI_RENAMEAT, 1, EACCES), 0 },
		{ FI_FAIL_NTH(FI_FSTATAT, 2, EIO), 0 },
		{ FI_FAIL_NTH(FI_UNLINKAT, 1, EPERM), 0 },
	};
	char path[300];
	struct stat st, was;
	fdpass_backend *b;
	size_t c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		assert_int_equal(fdpass_backend_new(&b, path, 0600, 0), 0);
		assert_int_equal(lstat(path, &was), 0);
		fi_arm("fdpass_backend_free", &cases[c].rule, 1);
		fdpass_backend_free(b);
		fi_disarm();
		assert_int_equal(fi_hits(), !cases[c].removed);
		if (cases[c].removed) {
			assert_int_equal(lstat(path, &st), -1);
		} else {
			assert_int_equal(lstat(path, &st), 0);
			assert_true(st.st_dev == was.st_dev && st.st_ino == was.st_ino);
			assert_int_equal(unlink(path), 0);
		}
		assert_int_equal(private_dirs(state, NULL, 0, 0), 0);
	}
}

/* ---- the backend -------------------------------------------------------- */

static void test_backend_new_faults(void **state)
{
	static const struct {
		struct fi_rule rule;
		int expect;
	} cases[] = {
		{ FI_FAIL_NTH(FI_SOCKET, 1, EMFILE), -EMFILE },
		{ FI_FAIL_NTH(FI_LISTEN, 1, ENOBUFS), -ENOBUFS },
		{ FI_FAIL_NTH(FI_CALLOC, 1, ENOMEM), -ENOMEM },
		{ FI_FAIL_NTH(FI_EPOLL_CREATE1, 1, EMFILE), -EMFILE },
		{ FI_FAIL_NTH(FI_EPOLL_CTL, 1, ENOMEM), -ENOMEM },
		{ FI_FAIL_NTH(FI_STRDUP, 1, ENOMEM), -ENOMEM },
	};
	char path[300];
	struct stat st;
	fdpass_backend *b;
	size_t c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		int fds = tl_count_fds(), r;

		b = NULL;
		fi_arm("fdpass_backend_new", &cases[c].rule, 1);
		r = fdpass_backend_new(&b, path, 0600, 0);
		fi_disarm();
		if (r != cases[c].expect)
			fail_msg("case %zu: %d, expected %d", c, r, cases[c].expect);
		assert_int_equal(fi_hits(), 1);
		assert_null(b);
		assert_int_equal(lstat(path, &st), -1);
		assert_int_equal(tl_count_fds(), fds);
	}
	assert_int_equal(fdpass_backend_new(&b, path, 0600, 0), 0);
	FI_ARM("fdpass_backend_allow_uid", FI_FAIL_NTH(FI_REALLOC, 1, ENOMEM));
	assert_int_equal(fdpass_backend_allow_uid(b, getuid()), -ENOMEM);
	fi_disarm();
	assert_int_equal(fdpass_backend_allow_uid(b, getuid()), 0);
	fdpass_backend_free(b);
	assert_int_equal(lstat(path, &st), -1);
}

/* A front-end in this process: connect, send a tagged pipe, hang up. */
static void frontend_sends(const char *path, const char *tag, const fdpass_meta *m)
{
	int c = fdpass_connect(path, 0, 1000), fd = tl_tagged_fd(tag);

	assert_true(c >= 0 && fd >= 0);
	assert_int_equal(fdpass_send_meta(c, &fd, 1, m, 0, 1000), 0);
	close(fd);
	close(c);
}

static void assert_backend_serves(fdpass_backend *b, const char *tag, const fdpass_meta *m)
{
	fdpass_meta *in = NULL;
	int fd = -7;

	assert_int_equal(fdpass_backend_recv_meta(b, &fd, &in, 1000), 1);
	assert_true(tl_fd_says(fd, tag, 1000));
	close(fd);
	if (m)
		assert_true(tl_meta_same(in, m));
	else
		assert_null(in);
	fdpass_meta_free(in);
}

/* What becomes of the first front-end after the call failed. */
enum fate {
	SERVED_NOW,  /* the call succeeded */
	WAITS,       /* it is served by the next call (documented for -EMFILE, -ENFILE) */
	EITHER,      /* served next, or dropped with what it sent (not documented) */
	DROPPED,     /* its message was bad: dropped */
};

static void test_backend_recv_faults(void **state)
{
	static const struct {
		struct fi_rule rules[2];
		int nrules, meta, timeout, expect;
		enum fate fate;
	} cases[] = {
		{ { FI_FAIL_N(FI_EPOLL_WAIT, 1, 3, EINTR) }, 1, 0, 1000, 1, SERVED_NOW },
		{ { FI_FAIL_N(FI_EPOLL_WAIT, 1, 3, EINTR) }, 1, 0, -1, 1, SERVED_NOW },
		{ { FI_FAIL_N(FI_ACCEPT4, 1, 2, EINTR) }, 1, 0, 1000, 1, SERVED_NOW },
		{ { FI_FAIL_NTH(FI_ACCEPT4, 1, EAGAIN) }, 1, 0, 1000, 1, SERVED_NOW },
		{ { FI_FAIL_N(FI_RECVMSG, 1, 2, EINTR) }, 1, 1, 1000, 1, SERVED_NOW },
		{ { FI_FAIL_EVERY(FI_RECVMSG, 2, 2, EINTR), FI_SHORT_FROM(FI_RECVMSG, 1, 5) }, 2, 1,
		  1000, 1, SERVED_NOW },
		{ { FI_FAIL_N(FI_RECVMSG, 2, 2, EAGAIN) }, 1, 1, 1000, 1, SERVED_NOW },
		/* accept(2) found no fd free: the front-end waits in the backlog. */
		{ { FI_FAIL_NTH(FI_ACCEPT4, 1, EMFILE) }, 1, 0, 1000, -EMFILE, WAITS },
		{ { FI_FAIL_NTH(FI_ACCEPT4, 1, ENFILE) }, 1, 0, 1000, -ENFILE, WAITS },
		{ { FI_FAIL_NTH(FI_EPOLL_WAIT, 1, ENOMEM) }, 1, 0, 1000, -ENOMEM, WAITS },
		/* The backend's own troubles. */
		{ { FI_FAIL_NTH(FI_CALLOC, 1, ENOMEM) }, 1, 0, 1000, -ENOMEM, EITHER },
		/* A new connection is read before epoll watches it: what came is
		 * handed out, and the failure only closes the connection. */
		{ { FI_FAIL_NTH(FI_EPOLL_CTL, 1, ENOMEM) }, 1, 0, 1000, 1, SERVED_NOW },
		{ { FI_FAIL_NTH(FI_RECVMSG, 1, ENOMEM) }, 1, 1, 1000, -ENOMEM, EITHER },
		{ { FI_FAIL_NTH(FI_MALLOC, 1, ENOMEM) }, 1, 1, 1000, -ENOMEM, EITHER },
		/* Its fds were lost on the way: dropped, what came closed. */
		{ { FI_FLAGS_NTH(FI_RECVMSG, 1, MSG_CTRUNC) }, 1, 1, 1000, -EXFULL, DROPPED },
	};
	char path[300];
	size_t c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		fdpass_meta *m = cases[c].meta ? tl_meta(300) : NULL;
		fdpass_meta *in = (fdpass_meta *)&in; /* must be replaced by NULL or the metadata */
		fdpass_backend *b = NULL;
		int fd = -7, r, fds;

		assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
		frontend_sends(path, "first", m);
		fds = tl_count_fds();
		fi_arm("fdpass_backend_recv", cases[c].rules, (size_t)cases[c].nrules);
		r = fdpass_backend_recv_meta(b, &fd, &in, cases[c].timeout);
		fi_disarm();
		if (r != cases[c].expect)
			fail_msg("case %zu: %d (%s), expected %d", c, r, fdpass_strerror(r),
				 cases[c].expect);
		assert_true(fi_hits() > 0);
		if (r == 1) {
			assert_true(tl_fd_says(fd, "first", 1000));
			close(fd);
			assert_true(m ? tl_meta_same(in, m) : in == NULL);
			fdpass_meta_free(in);
		} else {
			assert_int_equal(fd, -1);
			assert_null(in);
			assert_int_equal(tl_count_fds(), fds);
			fd = -7;
			r = fdpass_backend_recv(b, &fd, 200);
			if (r == 1) {
				assert_true(tl_fd_says(fd, "first", 1000));
				close(fd);
			}
			if (cases[c].fate == WAITS)
				assert_int_equal(r, 1);
			else if (cases[c].fate == DROPPED)
				assert_int_equal(r, -ETIMEDOUT);
			else if (r != 1)
				assert_int_equal(r, -ETIMEDOUT);
		}
		/* A well-behaved front-end after it is served. */
		frontend_sends(path, "second", m);
		assert_backend_serves(b, "second", m);
		assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
		fdpass_backend_free(b);
		fdpass_meta_free(m);
	}

	/* EINTR for ever with a deadline: -ETIMEDOUT on time. */
	{
		fdpass_backend *b = NULL;
		int fd;
		int64_t t0;

		assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
		FI_ARM("fdpass_backend_recv", FI_FAIL_FOR(FI_EPOLL_WAIT, 1, EINTR, 2000));
		t0 = tl_now_ms();
		assert_int_equal(fdpass_backend_recv(b, &fd, 100), -ETIMEDOUT);
		fi_disarm();
		assert_deadline_kept(tl_now_ms() - t0, 100);
		fdpass_backend_free(b);
	}
}

/* ---- every allocation failing in turn ----------------------------------- */

/*
 * fn arms the rule it is given around the calls under test (after its own
 * setup), and checks each outcome itself. sweep() runs it with the k-th
 * allocation failing, k = 1, 2, ..., until a run in which no allocation was
 * made to fail, and checks that no run leaked an fd (valgrind and ASan
 * check the memory). Returns the number of allocations of a whole run.
 */
typedef void (*sweep_fn)(const char *site, const struct fi_rule *rule);

static unsigned sweep(const char *site, sweep_fn fn)
{
	unsigned k;

	for (k = 1;; k++) {
		struct fi_rule rule = FI_FAIL_NTH(FI_ALLOC, k, ENOMEM);
		int fds = tl_count_fds();

		fn(site, &rule);
		fi_disarm();
		assert_int_equal(tl_count_fds(), fds);
		if (fi_hits() == 0)
			break;
	}
	assert_true(k > 1);
	return k - 1;
}

/* call returns 0, or -ENOMEM if an allocation was made to fail inside it. */
#define OK_OR_ENOMEM(call) \
	do { \
		unsigned before_ = fi_hits(); \
		int r_ = (call); \
		failed = fi_hits() != before_; \
		if (failed && r_ != -ENOMEM) \
			fail_msg("%s: %d after an allocation failed", #call, r_); \
		if (!failed && r_ != 0) \
			fail_msg("%s: %d", #call, r_); \
	} while (0)

static void build_response(const char *site, const struct fi_rule *rule)
{
	static const char body[100] = "body";
	fdpass_response *r = NULL;
	const char *reason;
	int failed, i, sv[2];
	char buf[2048];

	tl_socketpair(SOCK_STREAM, sv);
	fi_arm(site, rule, 1);
	OK_OR_ENOMEM(fdpass_response_new(&r, 200));
	if (failed) {
		assert_null(r);
		socketpair_close(sv);
		return;
	}
	/* Each call that fails leaves the response as it was. */
	OK_OR_ENOMEM(fdpass_response_set_status(r, 201, "Made Here"));
	assert_int_equal(fdpass_response_get_status(r, &reason), failed ? 200 : 201);
	assert_string_equal(reason, failed ? "OK" : "Made Here");
	for (i = 0; i < 10; i++) {
		char name[16];

		snprintf(name, sizeof(name), "X-Field-%d", i);
		OK_OR_ENOMEM(fdpass_response_add_header(r, name, "value"));
		if (failed)
			break;
	}
	assert_int_equal(fdpass_response_header_count(r), (size_t)i);
	OK_OR_ENOMEM(fdpass_response_set_body(r, body, sizeof(body)));
	assert_int_equal(fdpass_response_get_body(r, NULL) != NULL, !failed);
	OK_OR_ENOMEM(fdpass_flusher_run("flush", sv[0], r));
	fi_disarm();
	if (failed)
		tl_assert_nothing_to_read(sv[1]);
	else
		assert_true(read_head(sv[1], buf, sizeof(buf)) > 100);
	socketpair_close(sv);
	fdpass_response_free(r);
}

static void build_meta(const char *site, const struct fi_rule *rule)
{
	fdpass_meta *m = NULL;
	int failed, i;

	fi_arm(site, rule, 1);
	OK_OR_ENOMEM(fdpass_meta_new(&m));
	if (failed) {
		assert_null(m);
		return;
	}
	OK_OR_ENOMEM(fdpass_meta_set_data(m, "read already", 12));
	assert_int_equal(fdpass_meta_get_data(m, NULL) != NULL, !failed);
	OK_OR_ENOMEM(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "192.0.2.1:1"));
	assert_int_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR) != NULL, !failed);
	if (fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR)) {
		/* A replacement that fails keeps the old value. */
		OK_OR_ENOMEM(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "192.0.2.2:2"));
		assert_string_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR),
				    failed ? "192.0.2.1:1" : "192.0.2.2:2");
	}
	for (i = 0; i < 5; i++) {
		OK_OR_ENOMEM(fdpass_meta_add_pair(m, "key", "value"));
		if (failed)
			break;
	}
	assert_int_equal(fdpass_meta_pair_count(m), (size_t)i);
	fi_disarm();
	fdpass_meta_free(m);
}

static void send_meta(const char *site, const struct fi_rule *rule)
{
	fdpass_meta *m = tl_meta(1000);
	struct tl_three t;
	int sv[2], failed;

	tl_socketpair(SOCK_STREAM, sv);
	tl_three_open(&t);
	fi_arm(site, rule, 1);
	OK_OR_ENOMEM(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000));
	fi_disarm();
	tl_three_untouched(&t);
	if (failed)
		tl_assert_nothing_to_read(sv[1]);
	else
		assert_meta_arrives(sv[1], &t, m);
	fdpass_meta_free(m);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void recv_meta(const char *site, const struct fi_rule *rule, int type)
{
	fdpass_meta *m = tl_meta(1000), *in = NULL;
	int sv[2], got[4] = { -1, -1, -1, -1 }, fds, r;
	struct tl_three t;
	size_t n = 4;

	tl_socketpair(type, sv);
	tl_three_open(&t);
	assert_int_equal(fdpass_send_meta(sv[0], t.fds, 3, m, 0, 1000), 0);
	fds = tl_count_fds();
	fi_arm(site, rule, 1);
	r = fdpass_recv_meta(sv[1], got, &n, &in, 0, 0, 1000);
	fi_disarm();
	if (fi_hits()) {
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(n, 0);
		assert_null(in);
		assert_int_equal(tl_count_fds(), fds);
	} else {
		assert_int_equal(r, 1);
		assert_true(tl_meta_same(in, m));
		three_received(&t, got, n);
	}
	fdpass_meta_free(in);
	fdpass_meta_free(m);
	tl_three_close(&t);
	socketpair_close(sv);
}

static void recv_meta_stream(const char *site, const struct fi_rule *rule)
{
	recv_meta(site, rule, SOCK_STREAM);
}

static void recv_meta_packet(const char *site, const struct fi_rule *rule)
{
	recv_meta(site, rule, SOCK_SEQPACKET);
}

static int quiet_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	(void)client_fd;
	(void)resp;
	(void)context;
	return 0;
}

static void register_flusher(const char *site, const struct fi_rule *rule)
{
	int failed;

	fi_arm(site, rule, 1);
	OK_OR_ENOMEM(fdpass_flusher_register("fault-test", quiet_flusher, NULL));
	fi_disarm();
	if (failed) {
		assert_int_equal(fdpass_flusher_lookup("fault-test", NULL, NULL), -ENOENT);
	} else {
		assert_int_equal(fdpass_flusher_lookup("fault-test", NULL, NULL), 0);
		assert_int_equal(fdpass_flusher_unregister("fault-test"), 0);
	}
}

static char sweep_path[300];

static void backend_setup(const char *site, const struct fi_rule *rule)
{
	fdpass_backend *b = NULL;
	struct stat st;
	int failed;

	fi_arm(site, rule, 1);
	OK_OR_ENOMEM(fdpass_backend_new(&b, sweep_path, 0600, 0));
	if (failed) {
		fi_disarm();
		assert_null(b);
		assert_int_equal(lstat(sweep_path, &st), -1);
		return;
	}
	OK_OR_ENOMEM(fdpass_backend_allow_uid(b, getuid()));
	OK_OR_ENOMEM(fdpass_backend_allow_uid(b, 0));
	fi_disarm();
	/* Whatever failed, it serves. */
	frontend_sends(sweep_path, "served", NULL);
	assert_backend_serves(b, "served", NULL);
	fdpass_backend_free(b);
}

static void backend_recv(const char *site, const struct fi_rule *rule)
{
	fdpass_meta *m = tl_meta(1000), *in = NULL;
	fdpass_backend *b = NULL;
	int fd = -7, r, fds;

	assert_int_equal(fdpass_backend_new(&b, sweep_path, -1, 0), 0);
	frontend_sends(sweep_path, "first", m);
	fds = tl_count_fds();
	fi_arm(site, rule, 1);
	r = fdpass_backend_recv_meta(b, &fd, &in, 1000);
	fi_disarm();
	if (fi_hits()) {
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(fd, -1);
		assert_null(in);
		assert_int_equal(tl_count_fds(), fds);
	} else {
		assert_int_equal(r, 1);
		assert_true(tl_fd_says(fd, "first", 1000));
		assert_true(tl_meta_same(in, m));
		close(fd);
		fdpass_meta_free(in);
	}
	frontend_sends(sweep_path, "second", m);
	assert_backend_serves(b, "second", m);
	fdpass_backend_free(b);
	fdpass_meta_free(m);
}

static void handoff_meta(const char *site, const struct fi_rule *rule)
{
	fdpass_response *resp = make_response();
	fdpass_meta *m = tl_meta(1000);
	int lfd, sv[2], r;
	struct stat st;

	lfd = fdpass_listen(sweep_path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fstat(sv[1], &st), 0);
	fi_arm(site, rule, 1);
	r = fdpass_handoff_meta(sweep_path, sv[1], NULL, resp, m, 1000);
	fi_disarm();
	assert_same_inode(sv[1], &st);
	if (fi_hits()) {
		assert_int_equal(r, -ECONNABORTED);
		backend_gets_nothing(lfd);
	} else {
		assert_int_equal(r, 0);
		client_got_head(sv[0]);
		backend_gets(lfd, sv[1], "flush");
	}
	no_connection(lfd);
	fdpass_meta_free(m);
	fdpass_response_free(resp);
	socketpair_close(sv);
	close(lfd);
	unlink(sweep_path);
}

static void handoff2_meta(const char *site, const struct fi_rule *rule)
{
	fdpass_response *resp = make_response();
	fdpass_meta *m = tl_meta(1000);
	unsigned result = 77;
	int lfd, sv[2], r;
	struct stat st;

	lfd = fdpass_listen(sweep_path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fstat(sv[1], &st), 0);
	fi_arm(site, rule, 1);
	r = fdpass_handoff2(sweep_path, sv[1], NULL, resp, m, 0, 1000, &result);
	fi_disarm();
	assert_same_inode(sv[1], &st);
	if (fi_hits()) {
		assert_int_equal(r, -ENOMEM);
		/* The head could not be built, or the message after it. */
		if (result == FDPASS_HANDOFF_CLIENT_WRITTEN)
			client_got_head(sv[0]);
		else
			assert_int_equal(result, FDPASS_HANDOFF_FAILED_CLIENT);
		backend_gets_nothing(lfd);
	} else {
		assert_int_equal(r, 0);
		assert_int_equal(result, FDPASS_HANDOFF_CLIENT_WRITTEN);
		client_got_head(sv[0]);
		backend_gets(lfd, sv[1], "flush");
	}
	no_connection(lfd);
	fdpass_meta_free(m);
	fdpass_response_free(resp);
	socketpair_close(sv);
	close(lfd);
	unlink(sweep_path);
}

static void pin_flusher(const char *site, const struct fi_rule *rule)
{
	fdpass_flusher_ref *ref = NULL;
	int r;

	fi_arm(site, rule, 1);
	r = fdpass_flusher_pin(NULL, &ref, NULL, NULL);
	fi_disarm();
	if (fi_hits()) {
		assert_int_equal(r, -ENOMEM);
		assert_null(ref);
	} else {
		assert_int_equal(r, 0);
		fdpass_flusher_unpin(ref);
	}
}

static void test_alloc_sweeps(void **state)
{
	static const struct {
		const char *site;
		sweep_fn fn;
	} sweeps[] = {
		{ "fdpass_response_* and the flush provider", build_response },
		{ "fdpass_meta_*", build_meta },
		{ "fdpass_send_meta", send_meta },
		{ "fdpass_recv_meta (SOCK_STREAM)", recv_meta_stream },
		{ "fdpass_recv_meta (SOCK_SEQPACKET)", recv_meta_packet },
		{ "fdpass_flusher_register", register_flusher },
		{ "fdpass_backend_new, fdpass_backend_allow_uid", backend_setup },
		{ "fdpass_backend_recv_meta", backend_recv },
		{ "fdpass_handoff_meta", handoff_meta },
		{ "fdpass_handoff2", handoff2_meta },
		{ "fdpass_flusher_pin", pin_flusher },
	};
	size_t i;

	tl_path_in(sweep_path, sizeof(sweep_path), state, "sweep.sock");
	for (i = 0; i < ARRAY_SIZE(sweeps); i++) {
		unsigned n = sweep(sweeps[i].site, sweeps[i].fn);

		print_message("%s: each of its %u allocations failed in turn\n", sweeps[i].site, n);
	}
}

/* Each public call (or group of calls) and the calls of its that were made to fail. */
static void print_sites(void)
{
	const char *site, *other;
	enum fi_call call;
	unsigned i, j;

	for (i = 0; fi_site(i, &site, &call) == 0; i++) {
		char line[512];
		size_t n = 0;
		int seen = 0;

		for (j = 0; j < i && !seen; j++)
			if (fi_site(j, &other, &call) == 0 && !strcmp(other, site))
				seen = 1;
		if (seen)
			continue;
		for (j = i; fi_site(j, &other, &call) == 0; j++)
			if (!strcmp(other, site) && n < sizeof(line))
				n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", n ? ", " : "",
						      fi_call_name(call));
		print_message("  %s: %s\n", site, line);
	}
}

/* ---- fdpass_write_all2, fdpass_handoff2 --------------------------------- */

/* How much went out, exactly, whatever the faults on the way. */
static void test_write_all2_counts(void **state)
{
	unsigned char *buf = malloc(WRITE_LEN);
	size_t written;
	int sv[2], p[2];

	(void)state;
	assert_non_null(buf);
	tl_fill_pattern(buf, WRITE_LEN);
	tl_socketpair(SOCK_STREAM, sv);
	write_all_socket_faults(1, sv, buf);

	/* No room, ever: -EAGAIN at timeout 0, -ETIMEDOUT with a deadline. */
	FI_ARM("fdpass_write_all2", FI_SHORT_NTH(FI_SEND, 1, 10), FI_FAIL_FROM(FI_SEND, 2, EAGAIN));
	assert_int_equal(fdpass_write_all2(sv[0], buf, WRITE_LEN, 0, &written), -EAGAIN);
	fi_disarm();
	assert_int_equal(written, 10);
	assert_pattern_arrives(sv[1], 10);
	FI_ARM("fdpass_write_all2", FI_FAIL_FOR(FI_SEND, 1, EAGAIN, 2000));
	assert_int_equal(fdpass_write_all2(sv[0], buf, WRITE_LEN, 50, &written), -ETIMEDOUT);
	fi_disarm();
	assert_int_equal(written, 0);
	tl_assert_nothing_to_read(sv[1]);
	socketpair_close(sv);

	/* A pipe: pieces of at most PIPE_BUF, a full disk on the way. */
	tl_pipe(p);
	FI_ARM("fdpass_write_all2", FI_SHORT_NTH(FI_WRITE, 1, 100), FI_FAIL_NTH(FI_WRITE, 2, ENOSPC));
	assert_int_equal(fdpass_write_all2(p[1], buf, WRITE_LEN, 1000, &written), -ENOSPC);
	fi_disarm();
	assert_int_equal(written, 100);
	assert_pattern_arrives(p[0], 100);
	close(p[0]);
	close(p[1]);
	free(buf);
}

static void test_handoff2_faults(void **state)
{
#define W FDPASS_HANDOFF_CLIENT_WRITTEN
#define B FDPASS_HANDOFF_FAILED_BACKEND
#define C FDPASS_HANDOFF_FAILED_CLIENT
	static const struct {
		struct fi_rule rules[3];
		int nrules, timeout, expect;
		unsigned result;
		enum outcome outcome;
	} cases[] = {
		{ { FI_FAIL_N(FI_CONNECT, 1, 2, EINTR) }, 1, -1, 0, W, SERVED },
		{ { FI_FAIL_N(FI_CONNECT, 1, 2, EINTR) }, 1, 1000, 0, W, SERVED },
		{ { FI_FAIL_NTH(FI_SOCKET, 1, EMFILE) }, 1, 1000, -EMFILE, B, NOT_STARTED },
		{ { FI_FAIL_NTH(FI_SOCKET, 1, ENFILE) }, 1, 1000, -ENFILE, B, NOT_STARTED },
		{ { FI_FAIL_NTH(FI_CONNECT, 1, ECONNREFUSED) }, 1, 1000, -ECONNREFUSED, B,
		  NOT_STARTED },
		{ { FI_FAIL_FROM(FI_CONNECT, 1, EAGAIN) }, 1, 100, -ETIMEDOUT, B, NOT_STARTED },
		{ { FI_FAIL_FROM(FI_CONNECT, 1, EAGAIN) }, 1, 0, -EAGAIN, B, NOT_STARTED },
		{ { FI_FAIL_EVERY(FI_SEND, 2, 3, EINTR), FI_FAIL_NTH(FI_SEND, 3, EAGAIN),
		    FI_SHORT_FROM(FI_SEND, 1, 7) }, 3, 1000, 0, W, SERVED },
		/* The flush to the client fails: the client's side, written or not. */
		{ { FI_FAIL_NTH(FI_SEND, 1, EPIPE) }, 1, 1000, -EPIPE, C, NOT_SENT },
		{ { FI_SHORT_NTH(FI_SEND, 1, 5), FI_FAIL_NTH(FI_SEND, 2, ECONNRESET) }, 2, 1000,
		  -ECONNRESET, C | W, NOT_SENT },
		{ { FI_FAIL_NTH(FI_ALLOC, 1, ENOMEM) }, 1, 1000, -ENOMEM, C, NOT_SENT },
		{ { FI_FAIL_FOR(FI_SEND, 1, EAGAIN, 2000) }, 1, 100, -ETIMEDOUT, C, NOT_SENT },
		/* The message to the backend fails: its side, after the head. */
		{ { FI_FAIL_N(FI_SENDMSG, 1, 2, EINTR) }, 1, 1000, 0, W, SERVED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, EAGAIN) }, 1, 1000, 0, W, SERVED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ENOBUFS) }, 1, 1000, -ENOBUFS, B | W, ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ETOOMANYREFS) }, 1, 1000, -ETOOMANYREFS, B | W,
		  ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, ENOMEM) }, 1, 1000, -ENOMEM, W, ABORTED },
		{ { FI_FAIL_NTH(FI_SENDMSG, 1, EPIPE) }, 1, 1000, -EPIPE, B | W, ABORTED },
		{ { FI_FAIL_FOR(FI_SENDMSG, 1, EAGAIN, 2000) }, 1, 100, -ETIMEDOUT, B | W, ABORTED },
		{ { FI_FAIL_FOR(FI_SENDMSG, 1, EAGAIN, 2000) }, 1, 0, -EAGAIN, B | W, ABORTED },
	};
#undef W
#undef B
#undef C
	fdpass_response *resp = make_response();
	char path[300];
	int lfd;
	size_t c;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	for (c = 0; c < ARRAY_SIZE(cases); c++) {
		int client, front, fds, sv[2], r;
		unsigned result = 77;
		struct stat st;

		tl_socketpair(SOCK_STREAM, sv);
		client = sv[0];
		front = sv[1];
		assert_int_equal(fstat(front, &st), 0);
		fds = tl_count_fds();
		fi_arm("fdpass_handoff2", cases[c].rules, (size_t)cases[c].nrules);
		r = fdpass_handoff2(path, front, NULL, resp, NULL, 0, cases[c].timeout, &result);
		fi_disarm();
		if (r != cases[c].expect || result != cases[c].result)
			fail_msg("case %zu: %d with result %#x, expected %d with %#x", c, r, result,
				 cases[c].expect, cases[c].result);
		assert_true(fi_hits() > 0);
		assert_int_equal(tl_count_fds(), fds);
		assert_same_inode(front, &st);
		assert_outcome(cases[c].outcome, &cases[c].rules[0], client, front, lfd);
		no_connection(lfd);
		close(client);
		close(front);
	}

	/* A metadata message that cannot be built, or whose rest cannot follow. */
	{
		fdpass_meta *m = tl_meta(META_DATA);
		unsigned result;
		int sv[2], conn, got[2];
		fdpass_meta *in = NULL;
		size_t n = 2;

		tl_socketpair(SOCK_STREAM, sv);
		FI_ARM("fdpass_handoff2", FI_FAIL_NTH(FI_ALLOC, 2, ENOMEM));
		assert_int_equal(fdpass_handoff2(path, sv[1], NULL, resp, m, 0, 1000, &result),
				 -ENOMEM);
		fi_disarm();
		assert_int_equal(result, FDPASS_HANDOFF_CLIENT_WRITTEN);
		client_got_head(sv[0]);
		backend_gets_nothing(lfd);

		FI_ARM("fdpass_handoff2",
		       FI_SHORT_NTH(FI_SENDMSG, 1, 3),
		       FI_FAIL_NTH(FI_SENDMSG, 2, ENOBUFS),
		       FI_FAIL_FROM(FI_SEND, 2, EPIPE));
		assert_int_equal(fdpass_handoff2(path, sv[1], NULL, resp, m, 0, 1000, &result),
				 -ECONNABORTED);
		fi_disarm();
		assert_int_equal(result,
				 FDPASS_HANDOFF_FAILED_BACKEND | FDPASS_HANDOFF_CLIENT_WRITTEN);
		client_got_head(sv[0]);
		conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		assert_true(conn >= 0);
		assert_int_equal(fdpass_recv_meta(conn, got, &n, &in, 0, 0, 1000), -ECONNRESET);
		close(conn);
		fdpass_meta_free(m);
		socketpair_close(sv);
	}
	no_connection(lfd);
	fdpass_response_free(resp);
	close(lfd);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		FI_TEST(test_wraps_reach_library),
		FI_TEST(test_send_eintr),
		FI_TEST(test_send_errors),
		FI_TEST(test_send_fds_short_writes),
		FI_TEST(test_send_fds_eagain),
		FI_TEST(test_send_fds_errors),
		FI_TEST(test_recv_eintr),
		FI_TEST(test_recv_errors),
		FI_TEST(test_recv_ctrunc_closes),
		FI_TEST(test_recv_fds_short_reads),
		FI_TEST(test_recv_fds_eagain),
		FI_TEST(test_recv_fds_error_mid_message),
		FI_TEST(test_send_meta_rest_finished),
		FI_TEST(test_send_meta_rest_fails),
		FI_TEST(test_send_meta_nothing_sent),
		FI_TEST(test_recv_meta_short_reads),
		FI_TEST(test_recv_meta_eagain),
		FI_TEST(test_recv_meta_errors),
		FI_TEST(test_write_all_socket),
		FI_TEST(test_write_all_pipe),
		FI_TEST(test_flush_provider),
		FI_TEST(test_handoff_faults),
		FI_TEST(test_handoff_meta_faults),
		FI_TEST(test_connect_faults),
		FI_TEST(test_listen_faults),
		FI_TEST(test_backend_new_faults),
		FI_TEST(test_backend_free_faults),
		FI_TEST(test_backend_recv_faults),
		FI_TEST(test_alloc_sweeps),
		FI_TEST(test_write_all2_counts),
		FI_TEST(test_handoff2_faults),
	};
	int r;

	/* The library never raises SIGPIPE: if it did, the program would end. */
	signal(SIGPIPE, SIG_DFL);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	print_sites();
	printf("fault injection: %u faults injected at %u call sites, %s "
	       "(and %lu more calls hit by faults held until a deadline)\n",
	       fi_total_hits(), fi_total_sites(),
	       r == 0 ? "all survived" : "NOT ALL SURVIVED (see above)", fi_total_repeats());
	fflush(stdout);
	return r;
}
