/* SPDX-License-Identifier: MIT */
/*
 * The helpers of every test: how a test runs (fd-leak check, watchdog,
 * fixtures), the fds of the process, peers in child processes, raw messages,
 * payloads and metadata. Functions marked "child-safe" never call cmocka, so
 * that forked children (and the fuzzers) may use them: they return a result
 * instead of failing the test.
 */
#ifndef FDPASS_TESTLIB_H
#define FDPASS_TESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cmocka.h>

#include <fdpass.h>

/* ---- how a test runs ---------------------------------------------------- */

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
#define TL_DIR_TEST(f) \
	cmocka_unit_test_prestate_setup_teardown(f, tl_dir_setup, tl_dir_teardown, #f)

/*
 * A test over a connected socketpair: TL_PAIR_TEST(f, SOCK_STREAM) gives f,
 * in tl_pair(state), a socketpair of that type and a pipe (something to
 * pass), made after the fd count of the leak check and closed before it is
 * counted again; the watchdog as with TL_TEST. sv[0] is the sender's end,
 * sv[1] the receiver's; a test that closes one of them itself does it with
 * tl_pair_close(). TL_BOTH_TYPES(f) registers f twice, as "f over
 * SOCK_STREAM" and "f over SOCK_SEQPACKET": the same test over both.
 */
struct tl_pair {
	int type;              /* SOCK_STREAM or SOCK_SEQPACKET */
	const char *type_name; /* "SOCK_STREAM" or "SOCK_SEQPACKET" */
	int sv[2];
	int pipe[2];
};
struct tl_case {
	const char *name;
	int type;
};
int tl_pair_setup(void **state);
int tl_pair_teardown(void **state);
struct tl_pair *tl_pair(void **state);
void tl_pair_close(struct tl_pair *p, int end); /* sv[end]: closed (asserted), and -1 */
#define TL_PAIR_TEST(f, type) \
	{ #f " over " #type, f, tl_pair_setup, tl_pair_teardown, \
	  &(struct tl_case){ #f " over " #type, type } }
#define TL_BOTH_TYPES(f) TL_PAIR_TEST(f, SOCK_STREAM), TL_PAIR_TEST(f, SOCK_SEQPACKET)

/*
 * The watchdog: a test still running TL_WATCHDOG_S seconds (times
 * tl_slowdown()) after its setup prints its name and what it was waiting
 * for (tl_waiting_for) on stderr, then ends the program with SIGUSR2.
 * SIGALRM stays the tests' own. The setups above arm it with the test's
 * name, which the macros pass as cmocka's initial state; their teardowns
 * disarm it.
 */
#define TL_WATCHDOG_S 20
void tl_watchdog_arm(const char *test);
void tl_watchdog_disarm(void);

/*
 * What the test waits for from now on, for the watchdog's report (printf
 * format; NULL: nothing in particular). The helpers here that wait without
 * a bound say so themselves, and clear it when they return.
 */
void tl_waiting_for(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * How much slower than a plain build on an idle machine the tests run here:
 * 1, 2 under AddressSanitizer, 5 under ThreadSanitizer, 6 under valgrind.
 */
int tl_slowdown(void);

/* Running under valgrind (which also only emulates RLIMIT_NOFILE). */
int tl_under_valgrind(void);

/* Milliseconds on CLOCK_MONOTONIC (child-safe). */
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

/* Sleep ms, whatever signals come (child-safe). */
void tl_sleep_ms(int ms);

/* Handle sig with fn, without SA_RESTART: every blocking call it hits sees EINTR. */
void tl_handle_signal(int sig, void (*fn)(int));

/*
 * Unless cond: print where and what failed, then abort (child-safe). For the
 * fuzzers, whose failures are aborts that libFuzzer keeps the input of.
 */
__attribute__((noreturn)) void tl_check_failed(const char *file, int line, const char *what);
#define TL_CHECK(cond) \
	do { \
		if (!(cond)) \
			tl_check_failed(__FILE__, __LINE__, #cond); \
	} while (0)

/* Path of a helper program built next to the tests (from the environment). */
const char *tl_env(const char *name);

/* A fresh temporary directory under $TMPDIR (or /tmp); tl_rmdir removes it, and all in it. */
void tl_tmpdir(char *buf, size_t size);
void tl_rmdir(const char *dir);

/* ---- the fds of this process -------------------------------------------- */

/* Open fds, from /proc/self/fd (child-safe; it aborts if /proc cannot be read). */
int tl_count_fds(void);

/* Open fds below 4096, counted without opening one, as at RLIMIT_NOFILE (child-safe). */
int tl_count_fds_no_open(void);

/*
 * The (n + 1)th lowest fd number not in use: as RLIMIT_NOFILE, it leaves
 * exactly n numbers for new fds, since the kernel always gives out the
 * lowest free one (child-safe; reads /proc/self/fd).
 */
int tl_nth_free_fd(int n);

/*
 * Lower RLIMIT_NOFILE so that only room more fds can be opened; room < 0
 * only lifts it back. Returns 0, 77 if the kernel's limit did not change
 * (valgrind only emulates setrlimit), 1 on error (child-safe). For forked
 * children: the lowered limit ends with them.
 */
int tl_limit_fds(int room);

/* fd is open; it has FD_CLOEXEC (child-safe). */
int tl_is_open(int fd);
int tl_is_cloexec(int fd);

/* Two fds refer to the same open file: same st_dev and st_ino (child-safe). */
int tl_same_file(int a, int b);

/* ---- pipes and sockets -------------------------------------------------- */

/* "SOCK_STREAM" or "SOCK_SEQPACKET" (child-safe). */
const char *tl_type_name(int type);

/* pipe2(O_CLOEXEC), socketpair(AF_UNIX, type | SOCK_CLOEXEC), asserting success. */
void tl_pipe(int p[2]);
void tl_socketpair(int type, int sv[2]);

/* A connected TCP pair on 127.0.0.1: the client's end and the accepted one. */
void tl_tcp_pair(int *client, int *server);

/* The read end of a pipe holding tag, its write end closed: tag, then EOF. -1 on error. */
int tl_tagged_fd(const char *tag);

/*
 * The peer has closed sock (end of stream, or a reset because it closed
 * with bytes of ours unread), seen within ms: 1, else 0. Reads a byte.
 */
int tl_hung_up(int sock, int ms);

/* Write to a socket until it is full (non-blocking meanwhile); the bytes written. */
size_t tl_fill(int sock);

/*
 * Connect to the AF_UNIX stream listener at path, without waiting, until its
 * backlog is full: the connected sockets go into fds[] (at most max,
 * asserted); returns how many.
 */
size_t tl_fill_backlog(const char *path, int *fds, size_t max);

/* poll() one fd, EINTR retried: revents, 0 on timeout, -1 on error (child-safe). */
int tl_wait_fd(int fd, short events, int ms);

/* Nothing is waiting to be read on fd, now. */
void tl_assert_nothing_to_read(int fd);

/* Read exactly len bytes within ms (-1: however long it takes): 0, or -1 (child-safe). */
int tl_read_exact(int fd, void *buf, size_t len, int ms);

/* fd yields exactly tag, then end of file, within ms: 1 or 0 (child-safe). */
int tl_fd_says(int fd, const char *tag, int ms);

/*
 * Read fd until end of stream within ms, failing the test otherwise:
 * tl_read_to_eof into buf (at most size - 1 bytes), tl_read_all into a new
 * buffer (free it). Both NUL-terminate; tl_read_to_eof returns the count,
 * tl_read_all stores it in *len.
 */
size_t tl_read_to_eof(int fd, char *buf, size_t size, int ms);
char *tl_read_all(int fd, size_t *len, int ms);

/*
 * Raw sendmsg() of arbitrary bytes with nfds fds (up to 256), EINTR
 * retried, to play a misbehaving peer. cmsg_len 0 means CMSG_LEN of the
 * fds; httpd computes it by hand (sizeof(struct cmsghdr) + sizeof(int)),
 * and gives the same for msg_controllen. Returns what sendmsg returns
 * (child-safe). tl_raw_send asserts that all len bytes went.
 */
ssize_t tl_sendmsg_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds,
		       size_t cmsg_len);
void tl_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds);

/*
 * Receive (recvmsg with flags, such as MSG_WAITALL) one message that must be
 * exactly httpd's: one '\0' byte and one SCM_RIGHTS control message of
 * CMSG_LEN(sizeof(int)), nothing truncated, nothing else. Returns the fd
 * (close-on-exec).
 */
int tl_recv_httpd_message(int sock, int flags);

/* ---- children ------------------------------------------------------------ */

/*
 * tl_fork() runs fn(arg) in a forked child that exits with fn's result (0
 * is success; a child that execs ends with the program's exit status).
 * tl_fork_peer() does the same for a peer that must end as abruptly as a
 * crashed one: it hands fn's result over, then dies of SIGKILL (tl_die()
 * does that from anywhere in it), without exit handlers and without a leak
 * report from valgrind about the parent's heap it holds a copy of.
 *
 * tl_child_result() waits for either kind: fn's result, or -1 if the child
 * ended without one (killed, crashed). tl_wait_child() asserts that it was 0.
 * A child that fails says what failed on stderr itself (TL_CHILD_CHECK).
 */
pid_t tl_fork(int (*fn)(void *arg), void *arg);
pid_t tl_fork_peer(int (*fn)(void *arg), void *arg);
__attribute__((noreturn)) void tl_die(int result);
int tl_child_result(pid_t pid);
void tl_wait_child(pid_t pid);

/*
 * In a child's function: if cond is false, print where and what failed
 * ("child 1234 of test_x: test-meta.c:56: write(w, "r", 1) == 1 failed") and
 * return 1 from the function. TL_CHILD_FAIL prints a message of its own
 * (printf format) and returns 1.
 */
int tl_child_failed(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define TL_CHILD_CHECK(cond) \
	do { \
		if (!(cond)) \
			return tl_child_failed(__FILE__, __LINE__, "%s failed", #cond); \
	} while (0)
#define TL_CHILD_FAIL(...) return tl_child_failed(__FILE__, __LINE__, __VA_ARGS__)

/*
 * One byte on a pipe, to say "ready" or "go"; wait for it within ms (-1:
 * however long it takes): 0, or -1 (child-safe).
 */
int tl_put_byte(int fd);
int tl_get_byte(int fd, int ms);

/* ---- things to pass ------------------------------------------------------ */

/*
 * Three fds for a message: a pipe's two ends and a pipe that says "third",
 * with what they are (st) to compare. tl_three_untouched asserts that the
 * caller's three are still open and the same files; tl_three_same tells
 * whether got[0..n) are new fds for the same three files in that order, and
 * closes them (child-safe: 1 or 0).
 */
struct tl_three {
	int p[2];
	int tagged;
	int fds[3];
	struct stat st[3];
};
void tl_three_open(struct tl_three *t);
void tl_three_close(struct tl_three *t);
void tl_three_untouched(const struct tl_three *t);
int tl_three_same(const struct tl_three *t, int *got, size_t n);

/* ---- payloads and metadata ---------------------------------------------- */

/* The byte at offset i of test payloads; fill, check (child-safe). */
unsigned char tl_pattern(size_t i);
void tl_fill_pattern(void *buf, size_t len);
int tl_is_pattern(const void *buf, size_t len);

/* Metadata with every kind of record: data_len bytes of pattern, both addresses, 3 pairs. */
fdpass_meta *tl_meta(size_t data_len);

/* The same records in both: 1 or 0 (child-safe). */
int tl_meta_same(const fdpass_meta *a, const fdpass_meta *b);

/* The encoded size of tl_meta(data_len), which has no flusher field. */
size_t tl_meta_wire_size(size_t data_len);

#endif
