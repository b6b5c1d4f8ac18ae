// SPDX-License-Identifier: MIT
/*
 * System calls and allocations interposed with the linker's --wrap (see
 * meson.build), so that a test can make the library's own calls fail on
 * demand: "the 2nd sendmsg returns -1 with EINTR", "every send writes at
 * most 7 bytes", "the 3rd allocation returns NULL". Unarmed, or in a forked
 * child, every wrapper forwards to the real call unchanged.
 *
 * Only the process that armed a script injects faults: children forked by a
 * test run the real calls.
 */
#ifndef FDPASS_FAULT_WRAP_H
#define FDPASS_FAULT_WRAP_H

#include <poll.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

enum fi_call {
	FI_SENDMSG,
	FI_RECVMSG,
	FI_SEND,
	FI_RECV,
	FI_WRITE,
	FI_SOCKET,
	FI_BIND,
	FI_LISTEN,
	FI_CONNECT,
	FI_ACCEPT4,
	FI_POLL,
	FI_EPOLL_CREATE1,
	FI_EPOLL_CTL,
	FI_EPOLL_WAIT,
	FI_MKDIRAT,
	FI_OPENAT,
	FI_FSTATAT,
	FI_FCHMODAT,
	FI_RENAMEAT,
	FI_RENAMEAT2,
	FI_LINKAT,
	FI_UNLINKAT,
	FI_FLOCK,
	FI_MALLOC,
	FI_CALLOC,
	FI_REALLOC,
	FI_STRDUP,
	FI_STRNDUP,
	FI_ALLOC, /* any of the five above, counted together */
	FI_NCALLS
};

enum fi_action {
	FI_FAIL,  /* return -1 (NULL for an allocation) with errno = arg; the real call is not made */
	FI_SHORT, /* data calls: the real call, on at most arg bytes (a short read or write) */
	FI_FLAGS, /* recvmsg: the real call, then arg is or-ed into msg_flags (MSG_CTRUNC) */
};

/*
 * One line of a script. Calls of each kind are counted from 1 at fi_arm();
 * the rule hits call number first, and then every `every`-th call after it
 * (0 or 1: each one), `times` calls in all (0: no end). The first rule that
 * hits a call decides what happens to it. A rule with within_ms stops
 * hitting that long after fi_arm(): a call that would otherwise spin on a
 * fault for ever ends, and the test can tell how long it went on.
 */
struct fi_rule {
	enum fi_call call;
	unsigned first;
	unsigned times;
	unsigned every;
	enum fi_action action;
	int arg;
	unsigned within_ms; /* if not 0: hits only for that long after fi_arm() */
	int hold;           /* a fault held until a deadline: counted once in the totals */
};

#define FI_FAIL_NTH(c, n, e) { .call = (c), .first = (n), .times = 1, .action = FI_FAIL, .arg = (e) }
#define FI_FAIL_N(c, n, count, e) \
	{ .call = (c), .first = (n), .times = (count), .action = FI_FAIL, .arg = (e) }
#define FI_FAIL_FROM(c, n, e) { .call = (c), .first = (n), .action = FI_FAIL, .arg = (e) }
#define FI_FAIL_FOR(c, n, e, ms) \
	{ .call = (c), .first = (n), .action = FI_FAIL, .arg = (e), .within_ms = (ms), .hold = 1 }
#define FI_FAIL_EVERY(c, n, k, e) \
	{ .call = (c), .first = (n), .every = (k), .action = FI_FAIL, .arg = (e) }
#define FI_SHORT_NTH(c, n, max) { .call = (c), .first = (n), .times = 1, .action = FI_SHORT, .arg = (max) }
#define FI_SHORT_FROM(c, n, max) { .call = (c), .first = (n), .action = FI_SHORT, .arg = (max) }
#define FI_FLAGS_NTH(c, n, f) { .call = (c), .first = (n), .times = 1, .action = FI_FLAGS, .arg = (f) }

/*
 * Arm a script of n rules for the calls that follow, on behalf of `site`
 * (the public call under test, for the summary). Counters start again.
 */
void fi_arm(const char *site, const struct fi_rule *rules, size_t n);
#define FI_ARM(site, ...) \
	do { \
		static const struct fi_rule fi_rules_[] = { __VA_ARGS__ }; \
		fi_arm(site, fi_rules_, sizeof(fi_rules_) / sizeof(fi_rules_[0])); \
	} while (0)

/* Stop injecting; the counters keep their values until the next fi_arm(). */
void fi_disarm(void);

/* Since fi_arm(): calls of a kind, faults injected, sendmsg calls with control data. */
unsigned fi_calls(enum fi_call call);
unsigned fi_hits(void);
unsigned fi_sendmsg_with_control(void);

/*
 * Over the whole run: faults injected, and the distinct (site, call) pairs
 * hit. A held fault (FI_FAIL_FOR) counts once, however many calls it hit
 * before the deadline (that number depends on the machine's speed): its
 * other hits are counted by fi_total_repeats().
 */
unsigned fi_total_hits(void);
unsigned long fi_total_repeats(void);
unsigned fi_total_sites(void);
const char *fi_call_name(enum fi_call call);
/* The i-th (site, call) pair hit, in the order first hit: 0, or -1 past the last. */
int fi_site(unsigned i, const char **site, enum fi_call *call);

/* The wrappers (prototypes for -Wmissing-prototypes). */
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
int __wrap_socket(int domain, int type, int protocol);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_listen(int fd, int backlog);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_epoll_create1(int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __wrap_mkdirat(int dirfd, const char *name, mode_t mode);
int __wrap_openat64(int dirfd, const char *name, int flags, ...);
int __wrap_fstatat64(int dirfd, const char *name, struct stat *st, int flags);
int __wrap_fchmodat(int dirfd, const char *name, mode_t mode, int flags);
int __wrap_renameat(int ofd, const char *oname, int nfd, const char *nname);
int __wrap_renameat2(int ofd, const char *oname, int nfd, const char *nname, unsigned flags);
int __wrap_linkat(int ofd, const char *oname, int nfd, const char *nname, int flags);
int __wrap_unlinkat(int dirfd, const char *name, int flags);
int __wrap_flock(int fd, int op);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

#endif
