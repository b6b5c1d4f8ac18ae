// SPDX-License-Identifier: MIT
/*
 * Shared by the fault tests: a per-test setup (temporary directory, fd-leak
 * check, watchdog), clocks and deadline margins, peers made of pipes and
 * sockets, and metadata to send. Functions marked "child-safe" never call
 * cmocka, so forked children may use them and report through exit codes.
 */
#ifndef FDPASS_FAULT_HELPERS_H
#define FDPASS_FAULT_HELPERS_H

#include <stdint.h>
#include <sys/types.h>

#include <fdpass.h>

#include "testlib.h"

/*
 * Setup and teardown of every test: a temporary directory, the fd-leak
 * check and the watchdog of testlib (the teardown fails a test that leaves
 * more or fewer fds open than it found).
 */
int ft_setup(void **state);
int ft_teardown(void **state);
#define FT_TEST(f) cmocka_unit_test_prestate_setup_teardown(f, ft_setup, ft_teardown, #f)

/*
 * Children. ft_fork() runs fn(arg) in a forked child, which hands fn's
 * result to the parent through a pipe and then ends at once with SIGKILL
 * (ft_die() does the same from anywhere in a child): as abruptly as a
 * crashed peer, and outside any leak check (under valgrind a child would
 * otherwise exit holding blocks of the parent's heap that it cannot free;
 * what the tests check is the parent, where the library runs). Memory
 * errors in a child are still printed by valgrind.
 * ft_child_result() waits for the child: fn's result, or -1 if it ended
 * without one (child-safe). ft_wait_child() asserts that it was 0.
 */
pid_t ft_fork(int (*fn)(void *arg), void *arg);
__attribute__((noreturn)) void ft_die(int result);
int ft_child_result(pid_t pid);
void ft_wait_child(pid_t pid);

/* path of `name` in the test's temporary directory. */
void ft_path(void **state, const char *name, char *buf, size_t size);

/* CLOCK_MONOTONIC in ms (child-safe). */
int64_t ft_now_ms(void);

/* Running under valgrind: its RLIMIT_NOFILE is emulated, and it is slower. */
int ft_under_valgrind(void);

/* How late a call with a deadline may return: a small margin (more under valgrind). */
int ft_margin_ms(void);

void ft_pipe(int p[2]);


/* fd yields exactly tag, then end of file, within ms (child-safe: 1 or 0). */
int ft_fd_says(int fd, const char *tag, int ms);

/* poll() one fd, EINTR retried: revents, 0 on timeout, -1 on error (child-safe). */
int ft_wait_fd(int fd, short events, int ms);

int ft_is_open(int fd);

/* Read exactly len bytes within ms (child-safe: 0 or -1). */
int ft_read_exact(int fd, void *buf, size_t len, int ms);

/* sendmsg() of arbitrary bytes and up to 8 fds, as a misbehaving peer would (child-safe). */
ssize_t ft_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds);

/* A connected TCP pair on 127.0.0.1. */
void ft_tcp_pair(int *client, int *server);

/* Write to a socket until it is full (it is made non-blocking for that); the bytes written. */
size_t ft_fill(int sock);

/* The byte at offset i of test payloads. */
unsigned char ft_pattern(size_t i);
void ft_fill_pattern(void *buf, size_t len);
int ft_is_pattern(const void *buf, size_t len);

/* Metadata with every kind of record: data_len bytes of pattern, both addresses, 3 pairs. */
fdpass_meta *ft_meta(size_t data_len);
/* The same records in both (child-safe: 1 or 0). */
int ft_meta_same(const fdpass_meta *a, const fdpass_meta *b);

/* The encoded size of ft_meta(data_len) with no flusher field. */
size_t ft_meta_wire_size(size_t data_len);

#endif
