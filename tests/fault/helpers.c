// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

struct ft_state {
	char dir[256];
};

int ft_under_valgrind(void)
{
	return tl_under_valgrind();
}

int ft_margin_ms(void)
{
	return tl_margin_ms();
}

int ft_setup(void **state)
{
	struct ft_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	tl_tmpdir(s->dir, sizeof(s->dir));
	tl_fd_setup(state);
	*state = s;
	return 0;
}

int ft_teardown(void **state)
{
	struct ft_state *s = *state;
	int r = tl_fd_teardown(state);

	tl_rmdir(s->dir);
	free(s);
	return r;
}

static struct {
	pid_t pid;
	int result_r;
} children[64];
static int result_w = -1; /* in a child: where its result goes */

pid_t ft_fork(int (*fn)(void *arg), void *arg)
{
	int p[2];
	size_t i;
	pid_t pid;

	for (i = 0; i < sizeof(children) / sizeof(children[0]) && children[i].pid; i++)
		;
	assert_true(i < sizeof(children) / sizeof(children[0]));
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		result_w = p[1];
		ft_die(fn(arg));
	}
	close(p[1]);
	children[i].pid = pid;
	children[i].result_r = p[0];
	return pid;
}

void ft_die(int result)
{
	ssize_t n;

	do
		n = write(result_w, &result, sizeof(result));
	while (n < 0 && errno == EINTR);
	for (;;)
		kill(getpid(), SIGKILL);
}

int ft_child_result(pid_t pid)
{
	int result = -1, status;
	size_t i;
	ssize_t n;

	for (i = 0; i < sizeof(children) / sizeof(children[0]); i++)
		if (children[i].pid == pid)
			break;
	if (i == sizeof(children) / sizeof(children[0]))
		return -1;
	tl_waiting_for("the result of child %d", (int)pid);
	do
		n = read(children[i].result_r, &result, sizeof(result));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(result))
		result = -1;
	close(children[i].result_r);
	children[i].pid = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	tl_waiting_for(NULL);
	return result;
}

void ft_wait_child(pid_t pid)
{
	int r = ft_child_result(pid);

	if (r != 0)
		fail_msg("child %d: %d", (int)pid, r);
}

void ft_path(void **state, const char *name, char *buf, size_t size)
{
	const struct ft_state *s = *state;

	snprintf(buf, size, "%s/%s", s->dir, name);
}

int64_t ft_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ft_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

int ft_wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t end = ft_now_ms() + ms;
	int r;

	for (;;) {
		int left = ms < 0 ? -1 : (int)(end - ft_now_ms());

		r = poll(&p, 1, ms < 0 ? -1 : left > 0 ? left : 0);
		if (r >= 0 || errno != EINTR)
			break;
	}
	return r > 0 ? p.revents : r;
}

int ft_fd_says(int fd, const char *tag, int ms)
{
	char buf[256];
	size_t n = 0, len = strlen(tag);
	int64_t end = ft_now_ms() + ms;

	for (;;) {
		int left = (int)(end - ft_now_ms());
		ssize_t r;

		if (left <= 0 || ft_wait_fd(fd, POLLIN, left) <= 0 || n >= sizeof(buf))
			return 0;
		r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return 0;
		if (r == 0)
			return n == len && memcmp(buf, tag, len) == 0;
		n += (size_t)r;
	}
}

int ft_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

int ft_read_exact(int fd, void *buf, size_t len, int ms)
{
	char *p = buf;
	int64_t end = ft_now_ms() + ms;

	while (len > 0) {
		int left = (int)(end - ft_now_ms());
		ssize_t n;

		if (left <= 0 || ft_wait_fd(fd, POLLIN, left) <= 0)
			return -1;
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t ft_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 8)
		return -1;
	if (nfds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

void ft_tcp_pair(int *client, int *server)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(lfd);
}

size_t ft_fill(int sock)
{
	static char junk[4096];
	int fl = fcntl(sock, F_GETFL);
	size_t total = 0;

	memset(junk, 'x', sizeof(junk));
	assert_true(fl >= 0);
	assert_int_equal(fcntl(sock, F_SETFL, fl | O_NONBLOCK), 0);
	for (;;) {
		ssize_t n = send(sock, junk, sizeof(junk), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
			break;
		}
		total += (size_t)n;
	}
	/* Small writes may still fit in the last buffer: fill that too. */
	for (;;) {
		ssize_t n = send(sock, junk, 1, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		total += (size_t)n;
	}
	assert_int_equal(fcntl(sock, F_SETFL, fl), 0);
	return total;
}

unsigned char ft_pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

void ft_fill_pattern(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = ft_pattern(i);
}

int ft_is_pattern(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != ft_pattern(i))
			return 0;
	return 1;
}

static const char *const pair_keys[] = { "route", "request-id", "route" };
static const char *const pair_values[] = { "/app", "42-abc", "second value" };
#define CLIENT_ADDR "192.0.2.7:51234"
#define LOCAL_ADDR "198.51.100.1:443"

fdpass_meta *ft_meta(size_t data_len)
{
	fdpass_meta *m = NULL;
	unsigned char *data = malloc(data_len ? data_len : 1);
	size_t i;

	assert_non_null(data);
	ft_fill_pattern(data, data_len);
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, data_len), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, CLIENT_ADDR), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, LOCAL_ADDR), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(fdpass_meta_add_pair(m, pair_keys[i], pair_values[i]), 0);
	free(data);
	return m;
}

size_t ft_meta_wire_size(size_t data_len)
{
	size_t n = 16 + 6 + data_len + 6 + strlen(CLIENT_ADDR) + 6 + strlen(LOCAL_ADDR), i;

	for (i = 0; i < 3; i++)
		n += 6 + strlen(pair_keys[i]) + 1 + strlen(pair_values[i]);
	return n;
}

static int same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int ft_meta_same(const fdpass_meta *a, const fdpass_meta *b)
{
	const void *da, *db;
	size_t la, lb, i;
	int f;

	if (!a || !b)
		return 0;
	da = fdpass_meta_get_data(a, &la);
	db = fdpass_meta_get_data(b, &lb);
	if (!da != !db || la != lb || (la && memcmp(da, db, la)))
		return 0;
	for (f = FDPASS_META_CLIENT_ADDR; f <= FDPASS_META_FLUSHER; f++)
		if (!same_text(fdpass_meta_get(a, f), fdpass_meta_get(b, f)))
			return 0;
	if (fdpass_meta_pair_count(a) != fdpass_meta_pair_count(b))
		return 0;
	for (i = 0; i < fdpass_meta_pair_count(a); i++) {
		const char *ka, *va, *kb, *vb;

		if (fdpass_meta_get_pair(a, i, &ka, &va) || fdpass_meta_get_pair(b, i, &kb, &vb) ||
		    strcmp(ka, kb) || strcmp(va, vb))
			return 0;
	}
	return 1;
}
