// SPDX-License-Identifier: MIT
/*
 * The fault-injection wrappers declared in wrap.h. Each one counts its call,
 * asks the armed script what to do with it, and otherwise forwards to the
 * real call (__real_*, which the linker binds to the C library's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "wrap.h"

ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __real_write(int fd, const void *buf, size_t len);
int __real_socket(int domain, int type, int protocol);
int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __real_listen(int fd, int backlog);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __real_epoll_create1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __real_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout);
int __real_mkdirat(int dirfd, const char *name, mode_t mode);
int __real_openat64(int dirfd, const char *name, int flags, ...);
int __real_fstatat64(int dirfd, const char *name, struct stat *st, int flags);
int __real_fchmodat(int dirfd, const char *name, mode_t mode, int flags);
int __real_renameat(int ofd, const char *oname, int nfd, const char *nname);
int __real_renameat2(int ofd, const char *oname, int nfd, const char *nname, unsigned flags);
int __real_linkat(int ofd, const char *oname, int nfd, const char *nname, int flags);
int __real_unlinkat(int dirfd, const char *name, int flags);
int __real_flock(int fd, int op);
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

#define MAX_RULES 16
#define MAX_SITES 256

static const char *const call_names[FI_NCALLS] = {
	[FI_SENDMSG] = "sendmsg",       [FI_RECVMSG] = "recvmsg",
	[FI_SEND] = "send",             [FI_RECV] = "recv",
	[FI_WRITE] = "write",           [FI_SOCKET] = "socket",
	[FI_BIND] = "bind",             [FI_LISTEN] = "listen",
	[FI_CONNECT] = "connect",       [FI_ACCEPT4] = "accept4",
	[FI_POLL] = "poll",             [FI_EPOLL_CREATE1] = "epoll_create1",
	[FI_EPOLL_CTL] = "epoll_ctl",   [FI_EPOLL_WAIT] = "epoll_wait",
	[FI_MKDIRAT] = "mkdirat",       [FI_OPENAT] = "openat",
	[FI_FSTATAT] = "fstatat",       [FI_FCHMODAT] = "fchmodat",
	[FI_RENAMEAT] = "renameat",     [FI_RENAMEAT2] = "renameat2",
	[FI_LINKAT] = "linkat",         [FI_UNLINKAT] = "unlinkat",
	[FI_FLOCK] = "flock",
	[FI_MALLOC] = "malloc",         [FI_CALLOC] = "calloc",
	[FI_REALLOC] = "realloc",       [FI_STRDUP] = "strdup",
	[FI_STRNDUP] = "strndup",       [FI_ALLOC] = "allocation",
};

static struct {
	pid_t pid; /* the process that armed the script; 0 when disarmed */
	const char *site;
	struct fi_rule rules[MAX_RULES];
	size_t nrules;
	unsigned calls[FI_NCALLS];
	unsigned hits;
	unsigned rule_hits[MAX_RULES];
	unsigned with_control;
	int64_t armed_at;
} script;

static struct {
	const char *site;
	enum fi_call call;
} sites[MAX_SITES];
static unsigned nsites, total_hits;
static unsigned long total_repeats;

const char *fi_call_name(enum fi_call call)
{
	return call < FI_NCALLS ? call_names[call] : "?";
}

void fi_arm(const char *site, const struct fi_rule *rules, size_t n)
{
	if (n > MAX_RULES)
		n = MAX_RULES;
	memset(&script, 0, sizeof(script));
	memcpy(script.rules, rules, n * sizeof(*rules));
	script.nrules = n;
	script.site = site;
	script.armed_at = tl_now_ms();
	script.pid = getpid();
}

void fi_disarm(void)
{
	script.pid = 0;
}

unsigned fi_calls(enum fi_call call)
{
	return call < FI_NCALLS ? script.calls[call] : 0;
}

unsigned fi_hits(void)
{
	return script.hits;
}

unsigned fi_sendmsg_with_control(void)
{
	return script.with_control;
}

unsigned fi_total_hits(void)
{
	return total_hits;
}

int fi_site(unsigned i, const char **site, enum fi_call *call)
{
	if (i >= nsites)
		return -1;
	*site = sites[i].site;
	*call = sites[i].call;
	return 0;
}

unsigned long fi_total_repeats(void)
{
	return total_repeats;
}

unsigned fi_total_sites(void)
{
	return nsites;
}

static void record_hit(enum fi_call call, size_t rule)
{
	unsigned i;

	script.hits++;
	if (script.rules[rule].hold && script.rule_hits[rule]++ > 0) {
		total_repeats++;
		return;
	}
	total_hits++;
	for (i = 0; i < nsites; i++)
		if (sites[i].call == call && !strcmp(sites[i].site, script.site))
			return;
	if (nsites < MAX_SITES) {
		sites[nsites].site = script.site;
		sites[nsites].call = call;
		nsites++;
	}
}

static int rule_hits(const struct fi_rule *r, unsigned k)
{
	unsigned step = r->every > 1 ? r->every : 1, index;

	if (k < r->first || (k - r->first) % step)
		return 0;
	if (r->within_ms && tl_now_ms() - script.armed_at >= r->within_ms)
		return 0;
	index = (k - r->first) / step;
	return r->times == 0 || index < r->times;
}

/*
 * Count a call of this kind (and, for allocations, of FI_ALLOC) and return
 * the rule that hits it, or NULL to let it through.
 */
static const struct fi_rule *consult(enum fi_call call, enum fi_call also)
{
	const struct fi_rule *hit = NULL;
	size_t i, which = 0;

	if (!script.pid || script.pid != getpid())
		return NULL;
	script.calls[call]++;
	if (also != call)
		script.calls[also]++;
	for (i = 0; i < script.nrules && !hit; i++) {
		const struct fi_rule *r = &script.rules[i];

		if ((r->call == call || r->call == also) && rule_hits(r, script.calls[r->call])) {
			hit = r;
			which = i;
		}
	}
	if (hit)
		record_hit(call, which);
	return hit;
}

static int fail_with(int err)
{
	errno = err;
	return -1;
}

/* A copy of iov[] that holds at most max bytes; returns the new count. */
static size_t clamp_iov(const struct iovec *iov, size_t n, struct iovec *out, size_t out_max,
			size_t max)
{
	size_t i, k = 0;

	for (i = 0; i < n && k < out_max && max > 0; i++) {
		out[k] = iov[i];
		if (out[k].iov_len > max)
			out[k].iov_len = max;
		max -= out[k].iov_len;
		k++;
	}
	return k;
}

ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	const struct fi_rule *r = consult(FI_SENDMSG, FI_SENDMSG);
	struct iovec iov[8];
	struct msghdr m;

	if (script.pid == getpid() && msg->msg_controllen > 0)
		script.with_control++;
	if (!r)
		return __real_sendmsg(fd, msg, flags);
	if (r->action != FI_SHORT)
		return fail_with(r->arg);
	m = *msg;
	m.msg_iov = iov;
	m.msg_iovlen = clamp_iov(msg->msg_iov, msg->msg_iovlen, iov, 8, (size_t)r->arg);
	return __real_sendmsg(fd, &m, flags);
}

ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags)
{
	const struct fi_rule *r = consult(FI_RECVMSG, FI_RECVMSG);
	struct iovec iov[8], *saved_iov;
	size_t saved_len;
	ssize_t n;

	if (!r)
		return __real_recvmsg(fd, msg, flags);
	switch (r->action) {
	case FI_FAIL:
		return fail_with(r->arg);
	case FI_SHORT:
		saved_iov = msg->msg_iov;
		saved_len = msg->msg_iovlen;
		msg->msg_iovlen = clamp_iov(saved_iov, saved_len, iov, 8, (size_t)r->arg);
		msg->msg_iov = iov;
		n = __real_recvmsg(fd, msg, flags);
		msg->msg_iov = saved_iov;
		msg->msg_iovlen = saved_len;
		return n;
	case FI_FLAGS:
		n = __real_recvmsg(fd, msg, flags);
		if (n >= 0)
			msg->msg_flags |= r->arg;
		return n;
	}
	return fail_with(EINVAL);
}

ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
	const struct fi_rule *r = consult(FI_SEND, FI_SEND);

	if (!r)
		return __real_send(fd, buf, len, flags);
	if (r->action == FI_SHORT)
		return __real_send(fd, buf, len < (size_t)r->arg ? len : (size_t)r->arg, flags);
	return fail_with(r->arg);
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
	const struct fi_rule *r = consult(FI_RECV, FI_RECV);

	if (!r)
		return __real_recv(fd, buf, len, flags);
	if (r->action == FI_SHORT)
		return __real_recv(fd, buf, len < (size_t)r->arg ? len : (size_t)r->arg, flags);
	return fail_with(r->arg);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	const struct fi_rule *r = consult(FI_WRITE, FI_WRITE);

	if (!r)
		return __real_write(fd, buf, len);
	if (r->action == FI_SHORT)
		return __real_write(fd, buf, len < (size_t)r->arg ? len : (size_t)r->arg);
	return fail_with(r->arg);
}

/* Calls that can only fail: the rule's errno, or the real call. */
#define FAIL_OR(call, real) \
	do { \
		const struct fi_rule *r_ = consult(call, call); \
		if (r_) \
			return fail_with(r_->arg); \
		return real; \
	} while (0)

int __wrap_socket(int domain, int type, int protocol)
{
	FAIL_OR(FI_SOCKET, __real_socket(domain, type, protocol));
}

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	FAIL_OR(FI_BIND, __real_bind(fd, sa, len));
}

int __wrap_listen(int fd, int backlog)
{
	FAIL_OR(FI_LISTEN, __real_listen(fd, backlog));
}

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	FAIL_OR(FI_CONNECT, __real_connect(fd, sa, len));
}

int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	FAIL_OR(FI_ACCEPT4, __real_accept4(fd, sa, len, flags));
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	FAIL_OR(FI_POLL, __real_poll(fds, n, timeout));
}

int __wrap_epoll_create1(int flags)
{
	FAIL_OR(FI_EPOLL_CREATE1, __real_epoll_create1(flags));
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	FAIL_OR(FI_EPOLL_CTL, __real_epoll_ctl(epfd, op, fd, ev));
}

int __wrap_epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	FAIL_OR(FI_EPOLL_WAIT, __real_epoll_wait(epfd, ev, max, timeout));
}

int __wrap_mkdirat(int dirfd, const char *name, mode_t mode)
{
	FAIL_OR(FI_MKDIRAT, __real_mkdirat(dirfd, name, mode));
}

/* openat() is openat64() with _FILE_OFFSET_BITS=64, as meson builds. */
int __wrap_openat64(int dirfd, const char *name, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	FAIL_OR(FI_OPENAT, __real_openat64(dirfd, name, flags, mode));
}

int __wrap_fstatat64(int dirfd, const char *name, struct stat *st, int flags)
{
	FAIL_OR(FI_FSTATAT, __real_fstatat64(dirfd, name, st, flags));
}

int __wrap_fchmodat(int dirfd, const char *name, mode_t mode, int flags)
{
	FAIL_OR(FI_FCHMODAT, __real_fchmodat(dirfd, name, mode, flags));
}

int __wrap_renameat(int ofd, const char *oname, int nfd, const char *nname)
{
	FAIL_OR(FI_RENAMEAT, __real_renameat(ofd, oname, nfd, nname));
}

int __wrap_renameat2(int ofd, const char *oname, int nfd, const char *nname, unsigned flags)
{
	FAIL_OR(FI_RENAMEAT2, __real_renameat2(ofd, oname, nfd, nname, flags));
}

int __wrap_linkat(int ofd, const char *oname, int nfd, const char *nname, int flags)
{
	FAIL_OR(FI_LINKAT, __real_linkat(ofd, oname, nfd, nname, flags));
}

int __wrap_unlinkat(int dirfd, const char *name, int flags)
{
	FAIL_OR(FI_UNLINKAT, __real_unlinkat(dirfd, name, flags));
}

int __wrap_flock(int fd, int op)
{
	FAIL_OR(FI_FLOCK, __real_flock(fd, op));
}

/* Allocations fail with NULL and ENOMEM, whatever the rule's errno. */
#define ALLOC_OR(call, real) \
	do { \
		if (consult(call, FI_ALLOC)) { \
			errno = ENOMEM; \
			return NULL; \
		} \
		return real; \
	} while (0)

void *__wrap_malloc(size_t size)
{
	ALLOC_OR(FI_MALLOC, __real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size)
{
	ALLOC_OR(FI_CALLOC, __real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t size)
{
	ALLOC_OR(FI_REALLOC, __real_realloc(p, size));
}

char *__wrap_strdup(const char *s)
{
	ALLOC_OR(FI_STRDUP, __real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
	ALLOC_OR(FI_STRNDUP, __real_strndup(s, n));
}
