/* SPDX-License-Identifier: MIT */
/* Shared by the cmocka tests: fd-leak checks, peers in child processes. */
#ifndef FDPASS_TESTLIB_H
#define FDPASS_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

/* Number of open fds of this process, from /proc/self/fd. */
int tl_count_fds(void);

/*
 * cmocka setup/teardown pair: the teardown fails the test if it left more
 * (or fewer) fds open than it found. Use through TL_TEST(), which also gives
 * the test a watchdog (below).
 */
int tl_fd_setup(void **state);
int tl_fd_teardown(void **state);
#define TL_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, tl_fd_setup, tl_fd_teardown, #f)

/*
 * The same with a fresh temporary directory for the test (removed after
 * it). tl_path_in() names a file in that directory.
 */
int tl_dir_setup(void **state);
int tl_dir_teardown(void **state);
void tl_path_in(char *buf, size_t size, void **state, const char *name);
const char *tl_dir_path(void **state);
#define TL_DIR_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, tl_dir_setup, tl_dir_teardown, #f)

/*
 * The watchdog: a test still running TL_WATCHDOG_S seconds (times
 * tl_slowdown()) after its setup prints its name and what it was waiting
 * for (tl_waiting_for) on stderr, then ends the program with SIGUSR2.
 * SIGALRM stays the tests' own. The setups above arm it with the test's
 * name, which TL_TEST and TL_DIR_TEST pass as cmocka's initial state; their
 * teardowns disarm it.
 */
#define TL_WATCHDOG_S 20
void tl_watchdog_arm(const char *test);
void tl_watchdog_disarm(void);

/*
 * What the test waits for from now on, for the watchdog's report (printf
 * format; NULL: nothing in particular). The helpers here that wait say so
 * themselves, and clear it when they return.
 */
void tl_waiting_for(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * How much slower than a plain build on an idle machine the tests run here:
 * 1, 2 under AddressSanitizer, 5 under ThreadSanitizer, 6 under valgrind.
 */
int tl_slowdown(void);

/* Running under valgrind (which also only emulates RLIMIT_NOFILE). */
int tl_under_valgrind(void);

/* The read end of a pipe holding tag, its write end closed: tag, then EOF. -1 on error. */
int tl_tagged_fd(const char *tag);

/* socketpair(AF_UNIX, type | SOCK_CLOEXEC), asserting success. */
void tl_socketpair(int type, int sv[2]);

/* Two fds refer to the same open file: same st_dev and st_ino. */
int tl_same_file(int a, int b);

/*
 * Run fn(arg) in a forked child that exits with fn's return value (0 is
 * success); returns the child's pid. tl_wait_child() asserts it exited 0.
 */
pid_t tl_fork(int (*fn)(void *arg), void *arg);
void tl_wait_child(pid_t pid);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t tl_now_ms(void);

/*
 * How late a call with a deadline may return here: 250 ms times
 * tl_slowdown(), or 20 times the worst lateness of a 1 ms sleep measured at
 * the first call (a loaded machine), whichever is more. A bound that still
 * tells a deadline kept from one restarted or ignored.
 */
int tl_margin_ms(void);

/* A call with timeout t took elapsed ms: not early, and late by less than the margin. */
#define assert_deadline_kept(elapsed, t) \
	assert_in_range((elapsed), (t) > 2 ? (t) - 2 : 0, (t) + tl_margin_ms())

/*
 * Raw sendmsg() of arbitrary bytes with nfds fds (up to 256), to play a
 * misbehaving peer. cmsg_len 0 means CMSG_LEN of the fds; httpd computes
 * it by hand (sizeof(struct cmsghdr) + sizeof(int)), and gives the same
 * for msg_controllen. Returns what sendmsg returns. tl_raw_send asserts
 * that all len bytes went.
 */
ssize_t tl_sendmsg_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds,
		       size_t cmsg_len);
void tl_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds);

/*
 * Read fd until end of stream, at most size - 1 bytes, within ms; fails the
 * test otherwise. Returns the count; buf is NUL-terminated.
 */
size_t tl_read_to_eof(int fd, char *buf, size_t size, int ms);

/*
 * Lower RLIMIT_NOFILE so that only room more fds can be opened (the kernel
 * gives out the lowest free fd and fails with EMFILE at the limit; fds open
 * higher up do not matter); room < 0 only lifts it back. Returns 0, 77 if
 * the kernel's limit did not change (valgrind only emulates setrlimit), 1 on
 * error. For forked children: the lowered limit ends with them.
 */
int tl_limit_fds(int room);

/* A fresh temporary directory under $TMPDIR (or /tmp); tl_rmdir removes it. */
void tl_tmpdir(char *buf, size_t size);
void tl_rmdir(const char *dir);

/* Path of a helper program built next to the tests (from the environment). */
const char *tl_env(const char *name);

#endif
