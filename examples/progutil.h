/* SPDX-License-Identifier: MIT */
/* What the example programs share: clock, stop signals, log lines. */
#ifndef PROGUTIL_H
#define PROGUTIL_H

#include <stdint.h>
#include <sys/socket.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t now_ms(void);

/*
 * SIGINT and SIGTERM make the returned fd readable (a self-pipe), so that
 * an event loop sees them among its fds; SIGPIPE is ignored. -1 on error.
 */
int stop_signal_fd(void);

/* Room for n entries in the growing array *pfd of *cap: 0, or -1. */
struct pollfd;
int pollfds_reserve(struct pollfd **pfd, size_t *cap, size_t n);

/* poll()'s timeout until the deadline next (-1: none), from now. */
int poll_timeout(int64_t next, int64_t now);

/* "name[pid]: message\n" on stderr, in one write. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The program name used by log_line(). */
void log_set_name(const char *name);

/* "host:port" ("[host]:port" for IPv6) of an address: 0, or -1. */
int sock_name(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t size);

/* The same for a socket's peer, for log lines ("fd N" if it has none). */
void peer_name(int fd, char *buf, size_t size);

#endif
