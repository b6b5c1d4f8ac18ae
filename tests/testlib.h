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
 * (or fewer) fds open than it found. Use with cmocka_unit_test_setup_teardown,
 * or through TL_TEST().
 */
int tl_fd_setup(void **state);
int tl_fd_teardown(void **state);
#define TL_TEST(f) cmocka_unit_test_setup_teardown(f, tl_fd_setup, tl_fd_teardown)

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

/* A fresh temporary directory under $TMPDIR (or /tmp); tl_rmdir removes it. */
void tl_tmpdir(char *buf, size_t size);
void tl_rmdir(const char *dir);

/* Path of a helper program built next to the tests (from the environment). */
const char *tl_env(const char *name);

#endif
