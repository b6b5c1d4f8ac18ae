// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "testlib.h"

/* ---- how a test runs ---------------------------------------------------- */

static int fds_at_start;
static const char *current_test = "a test";

/* Setups take the test's name from cmocka's initial state, where the macros put it. */
int tl_fd_setup(void **state)
{
	if (*state)
		current_test = *state;
	tl_watchdog_arm(current_test);
	*state = NULL;
	fds_at_start = tl_count_fds();
	return 0;
}

int tl_fd_teardown(void **state)
{
	int now = tl_count_fds();

	(void)state;
	tl_watchdog_disarm();
	if (now != fds_at_start) {
		fprintf(stderr, "fd leak: %d fds open before the test, %d after\n",
			fds_at_start, now);
		return -1;
	}
	return 0;
}

struct tl_dir {
	char path[256];
};

int tl_dir_setup(void **state)
{
	struct tl_dir *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	tl_tmpdir(d->path, sizeof(d->path));
	tl_fd_setup(state);
	*state = d;
	return 0;
}

int tl_dir_teardown(void **state)
{
	struct tl_dir *d = *state;
	int r = tl_fd_teardown(state);

	tl_rmdir(d->path);
	free(d);
	return r;
}

void tl_path_in(char *buf, size_t size, void **state, const char *name)
{
	const struct tl_dir *d = *state;

	snprintf(buf, size, "%s/%s", d->path, name);
}

const char *tl_dir_path(void **state)
{
	return ((const struct tl_dir *)*state)->path;
}

int tl_pair_setup(void **state)
{
	const struct tl_case *c = *state;
	struct tl_pair *p = calloc(1, sizeof(*p));

	if (!p)
		return -1;
	*state = (void *)c->name;
	tl_fd_setup(state);
	p->type = c->type;
	p->type_name = tl_type_name(c->type);
	tl_socketpair(p->type, p->sv);
	tl_pipe(p->pipe);
	*state = p;
	return 0;
}

int tl_pair_teardown(void **state)
{
	struct tl_pair *p = *state;

	tl_pair_close(p, 0);
	tl_pair_close(p, 1);
	close(p->pipe[0]);
	close(p->pipe[1]);
	free(p);
	return tl_fd_teardown(state);
}

struct tl_pair *tl_pair(void **state)
{
	return *state;
}

void tl_pair_close(struct tl_pair *p, int end)
{
	if (p->sv[end] >= 0)
		assert_int_equal(close(p->sv[end]), 0);
	p->sv[end] = -1;
}

int tl_under_valgrind(void)
{
#ifdef HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload") != NULL;
#endif
}

int tl_slowdown(void)
{
#if defined(__SANITIZE_THREAD__)
	return 5;
#elif defined(__SANITIZE_ADDRESS__)
	return 2;
#else
	return tl_under_valgrind() ? 6 : 1;
#endif
}

static struct {
	timer_t timer;
	int armed;
	char report[512];  /* "watchdog: <test> still running after <n> s, " */
	char waiting[256]; /* what it waits for */
} watchdog;

/* Async-signal-safe: the report was written beforehand. */
static void on_watchdog(int sig)
{
	static const char nothing[] = "nothing the test named (it is in its own calls)";
	const char *w = watchdog.waiting[0] ? watchdog.waiting : nothing;

	(void)!write(2, watchdog.report, strlen(watchdog.report));
	(void)!write(2, "waiting for ", 12);
	(void)!write(2, w, strlen(w));
	(void)!write(2, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

void tl_watchdog_arm(const char *test)
{
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2 };
	struct itimerspec its = { .it_value = { .tv_sec = TL_WATCHDOG_S * tl_slowdown() } };
	struct sigaction sa;

	tl_watchdog_disarm();
	snprintf(watchdog.report, sizeof(watchdog.report),
		 "watchdog: %s still running after %ld s, ", test, (long)its.it_value.tv_sec);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watchdog;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
	assert_int_equal(timer_create(CLOCK_MONOTONIC, &ev, &watchdog.timer), 0);
	assert_int_equal(timer_settime(watchdog.timer, 0, &its, NULL), 0);
	watchdog.armed = 1;
}

void tl_watchdog_disarm(void)
{
	if (watchdog.armed)
		timer_delete(watchdog.timer);
	watchdog.armed = 0;
	watchdog.waiting[0] = '\0';
}

void tl_waiting_for(const char *fmt, ...)
{
	va_list ap;

	if (!fmt) {
		watchdog.waiting[0] = '\0';
		return;
	}
	va_start(ap, fmt);
	vsnprintf(watchdog.waiting, sizeof(watchdog.waiting), fmt, ap);
	va_end(ap);
}

int64_t tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tl_hung_up(int sock, int ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	char byte;
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return 0;
	n = recv(sock, &byte, 1, MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

int tl_margin_ms(void)
{
	static int margin;

	if (!margin) {
		int64_t worst = 0;
		int i;

		for (i = 0; i < 10; i++) {
			struct timespec t0, t1;
			int64_t late;

			clock_gettime(CLOCK_MONOTONIC, &t0);
			poll(NULL, 0, 1);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			late = (t1.tv_sec - t0.tv_sec) * 1000 +
			       (t1.tv_nsec - t0.tv_nsec) / 1000000 - 1;
			if (late > worst)
				worst = late;
		}
		margin = 250 * tl_slowdown();
		if (20 * worst > margin)
			margin = (int)(20 * worst);
	}
	return margin;
}

void tl_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void tl_handle_signal(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(sig, &sa, NULL), 0);
}

void tl_check_failed(const char *file, int line, const char *what)
{
	const char *base = strrchr(file, '/');

	fprintf(stderr, "%s:%d: check failed: %s\n", base ? base + 1 : file, line, what);
	abort();
}

const char *tl_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		fail_msg("environment variable %s is not set (run the tests with meson test)", name);
	return v;
}

void tl_tmpdir(char *buf, size_t size)
{
	const char *base = getenv("TMPDIR");

	snprintf(buf, size, "%s/fdpass-test-XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(buf));
}

void tl_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) < 0 && errno == EISDIR)
			tl_rmdir(path);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- the fds of this process -------------------------------------------- */

/*
 * Read /proc/self/fd: the number of open fds, and (used not NULL) which of
 * the numbers below 65536 are in use. The directory's own fd is not
 * counted: it is free again once this returns.
 */
static int scan_fds(unsigned char *used, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d) {
		fprintf(stderr, "testlib: /proc/self/fd: %s\n", strerror(errno));
		abort();
	}
	if (used)
		memset(used, 0, size);
	while ((e = readdir(d))) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		n++;
		if (used && fd >= 0 && (size_t)fd < size)
			used[fd] = 1;
	}
	closedir(d);
	return n;
}

int tl_count_fds(void)
{
	return scan_fds(NULL, 0);
}

int tl_count_fds_no_open(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 4096; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

int tl_nth_free_fd(int n)
{
	static unsigned char used[65536];
	int fd;

	scan_fds(used, sizeof(used));
	for (fd = 0; fd < (int)sizeof(used) - 1; fd++)
		if (!used[fd] && n-- == 0)
			break;
	return fd;
}

/* The open-file limit the kernel enforces, as /proc tells it. */
static long kernel_fd_limit(void)
{
	char line[256];
	long soft = -1;
	FILE *f = fopen("/proc/self/limits", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Max open files %ld", &soft) == 1)
			break;
	fclose(f);
	return soft;
}

int tl_limit_fds(int room)
{
	struct rlimit rl;

	/* Reading /proc needs an fd: lift the limit, then check it took. */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1;
	if (kernel_fd_limit() != (long)rl.rlim_cur)
		return 77;
	if (room < 0)
		return 0;
	rl.rlim_cur = (rlim_t)tl_nth_free_fd(room);
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? 1 : 0;
}

int tl_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

int tl_is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

int tl_same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---- pipes and sockets -------------------------------------------------- */

const char *tl_type_name(int type)
{
	if (type == SOCK_STREAM)
		return "SOCK_STREAM";
	return type == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "?";
}

void tl_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
}

void tl_socketpair(int type, int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

void tl_tcp_pair(int *client, int *server)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(lfd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	assert_int_not_equal(ntohs(sa.sin_port), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*client >= 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	*server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(lfd);
}

int tl_tagged_fd(const char *tag)
{
	size_t len = strlen(tag);
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if (write(p[1], tag, len) != (ssize_t)len) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

size_t tl_fill(int sock)
{
	static char junk[4096];
	int fl = fcntl(sock, F_GETFL);
	size_t total = 0, chunk;

	memset(junk, 'j', sizeof(junk));
	assert_true(fl >= 0);
	assert_int_equal(fcntl(sock, F_SETFL, fl | O_NONBLOCK), 0);
	/* Big writes until refused; then single bytes, which may still fit. */
	for (chunk = sizeof(junk); chunk > 0; chunk = chunk > 1 ? 1 : 0) {
		for (;;) {
			ssize_t n = send(sock, junk, chunk, MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
				break;
			}
			total += (size_t)n;
		}
	}
	assert_int_equal(fcntl(sock, F_SETFL, fl), 0);
	return total;
}

size_t tl_fill_backlog(const char *path, int *fds, size_t max)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;

	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (n = 0;; n++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

		assert_true(fd >= 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			assert_int_equal(errno, EAGAIN);
			close(fd);
			return n;
		}
		assert_true(n < max);
		fds[n] = fd;
	}
}

int tl_wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t end = tl_now_ms() + ms;
	int r;

	for (;;) {
		int left = ms < 0 ? -1 : (int)(end - tl_now_ms());

		r = poll(&p, 1, ms < 0 ? -1 : left > 0 ? left : 0);
		if (r >= 0 || errno != EINTR)
			break;
	}
	return r > 0 ? p.revents : r;
}

void tl_assert_nothing_to_read(int fd)
{
	assert_int_equal(tl_wait_fd(fd, POLLIN, 0), 0);
}

int tl_read_exact(int fd, void *buf, size_t len, int ms)
{
	char *p = buf;
	int64_t end = tl_now_ms() + ms;

	while (len > 0) {
		int left = ms < 0 ? -1 : (int)(end - tl_now_ms());
		ssize_t n;

		if (left == 0 || (ms >= 0 && left < 0) || tl_wait_fd(fd, POLLIN, left) <= 0)
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

int tl_fd_says(int fd, const char *tag, int ms)
{
	char buf[256];
	size_t n = 0, len = strlen(tag);
	int64_t end = tl_now_ms() + ms;

	for (;;) {
		int left = (int)(end - tl_now_ms());
		ssize_t r;

		if (left <= 0 || tl_wait_fd(fd, POLLIN, left) <= 0 || n >= sizeof(buf))
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

/*
 * Read until end of stream within ms into *buf: growing it (from malloc) if
 * grow, else failing the test past size - 1 bytes. NUL-terminated.
 */
static size_t read_until_eof(int fd, char **buf, size_t size, int grow, int ms)
{
	int64_t end = tl_now_ms() + ms;
	size_t n = 0;

	tl_waiting_for("the end of stream on fd %d (%d ms at most)", fd, ms);
	for (;;) {
		int left = (int)(end - tl_now_ms());
		ssize_t r;

		if (left <= 0 || tl_wait_fd(fd, POLLIN, left) <= 0)
			fail_msg("no end of stream within %d ms (%zu bytes so far: \"%.*s\")",
				 ms, n, (int)(n < 200 ? n : 200), *buf);
		if (n + 1 >= size) {
			if (!grow)
				fail_msg("more than %zu bytes before end of stream", size - 1);
			size *= 2;
			*buf = realloc(*buf, size);
			assert_non_null(*buf);
		}
		r = read(fd, *buf + n, size - 1 - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			fail_msg("read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	tl_waiting_for(NULL);
	(*buf)[n] = '\0';
	return n;
}

size_t tl_read_to_eof(int fd, char *buf, size_t size, int ms)
{
	return read_until_eof(fd, &buf, size, 0, ms);
}

char *tl_read_all(int fd, size_t *len, int ms)
{
	char *buf = malloc(4096);

	assert_non_null(buf);
	*len = read_until_eof(fd, &buf, 4096, 1, ms);
	return buf;
}

ssize_t tl_sendmsg_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds,
		       size_t cmsg_len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 256)];
	} control;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 256) {
		errno = EINVAL;
		return -1;
	}
	if (nfds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = cmsg_len ? cmsg_len : CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = cmsg_len ? cmsg_len : CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

void tl_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	assert_int_equal(tl_sendmsg_fds(sock, data, len, fds, nfds, 0), (ssize_t)len);
}

int tl_recv_httpd_message(int sock, int flags)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	char data[8];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;
	int fd;

	assert_int_equal(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags), 1);
	assert_int_equal(data[0], '\0');
	assert_int_equal(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC), 0);
	c = CMSG_FIRSTHDR(&msg);
	assert_non_null(c);
	assert_int_equal(c->cmsg_level, SOL_SOCKET);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int)));
	assert_null(CMSG_NXTHDR(&msg, c));
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* ---- children ------------------------------------------------------------ */

/*
 * Where peers hand their results over: shared memory, so that the parent
 * holds no fd for them (a test may reap a child with waitpid() itself).
 */
#define MAX_PEERS 64
static struct peer_slot {
	pid_t pid; /* 0: free; -1: taken, the fork under way */
	int result;
	int handed;
} *peers;
static int my_peer_slot = -1; /* in a peer: its slot */

pid_t tl_fork(int (*fn)(void *arg), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	return pid;
}

pid_t tl_fork_peer(int (*fn)(void *arg), void *arg)
{
	pid_t pid;
	int i;

	if (!peers) {
		peers = mmap(NULL, MAX_PEERS * sizeof(*peers), PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		assert_true(peers != MAP_FAILED);
	}
	for (i = 0; i < MAX_PEERS && peers[i].pid; i++)
		;
	assert_true(i < MAX_PEERS);
	peers[i].pid = -1;
	peers[i].handed = 0;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		my_peer_slot = i;
		tl_die(fn(arg));
	}
	peers[i].pid = pid;
	return pid;
}

void tl_die(int result)
{
	if (my_peer_slot >= 0) {
		peers[my_peer_slot].result = result;
		__atomic_store_n(&peers[my_peer_slot].handed, 1, __ATOMIC_RELEASE);
	}
	for (;;)
		kill(getpid(), SIGKILL);
}

int tl_child_result(pid_t pid)
{
	int status, i, result = -1;

	tl_waiting_for("child %d to end", (int)pid);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			tl_waiting_for(NULL);
			return -1;
		}
	tl_waiting_for(NULL);
	for (i = 0; peers && i < MAX_PEERS; i++)
		if (peers[i].pid == pid) {
			if (__atomic_load_n(&peers[i].handed, __ATOMIC_ACQUIRE))
				result = peers[i].result;
			peers[i].pid = 0;
			return result;
		}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "child %d killed by signal %d\n", (int)pid, WTERMSIG(status));
	return -1;
}

void tl_wait_child(pid_t pid)
{
	int r = tl_child_result(pid);

	if (r != 0)
		fail_msg("child %d ended with %d, not 0 (what failed is on stderr, above)",
			 (int)pid, r);
}

int tl_child_failed(const char *file, int line, const char *fmt, ...)
{
	const char *base = strrchr(file, '/');
	va_list ap;

	fprintf(stderr, "child %d of %s: %s:%d: ", (int)getpid(), current_test,
		base ? base + 1 : file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	return 1;
}

int tl_put_byte(int fd)
{
	return write(fd, "x", 1) == 1 ? 0 : -1;
}

int tl_get_byte(int fd, int ms)
{
	char c;

	return tl_read_exact(fd, &c, 1, ms);
}

/* ---- things to pass ------------------------------------------------------ */

void tl_three_open(struct tl_three *t)
{
	int i;

	tl_pipe(t->p);
	t->tagged = tl_tagged_fd("third");
	assert_true(t->tagged >= 0);
	t->fds[0] = t->p[0];
	t->fds[1] = t->p[1];
	t->fds[2] = t->tagged;
	for (i = 0; i < 3; i++)
		assert_int_equal(fstat(t->fds[i], &t->st[i]), 0);
}

void tl_three_close(struct tl_three *t)
{
	close(t->p[0]);
	close(t->p[1]);
	close(t->tagged);
}

static int same_stat(int fd, const struct stat *before)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == before->st_dev && st.st_ino == before->st_ino;
}

void tl_three_untouched(const struct tl_three *t)
{
	int i;

	for (i = 0; i < 3; i++)
		assert_true(same_stat(t->fds[i], &t->st[i]));
}

int tl_three_same(const struct tl_three *t, int *got, size_t n)
{
	int ok = n == 3;
	size_t i;

	for (i = 0; i < n; i++) {
		ok = ok && got[i] >= 0 && got[i] != t->fds[i] && same_stat(got[i], &t->st[i]);
		if (got[i] >= 0)
			close(got[i]);
		got[i] = -1;
	}
	return ok;
}

/* ---- payloads and metadata ---------------------------------------------- */

unsigned char tl_pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

void tl_fill_pattern(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = tl_pattern(i);
}

int tl_is_pattern(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != tl_pattern(i))
			return 0;
	return 1;
}

static const char *const pair_keys[] = { "route", "request-id", "route" };
static const char *const pair_values[] = { "/app", "42-abc", "second value" };
#define CLIENT_ADDR "192.0.2.7:51234"
#define LOCAL_ADDR "198.51.100.1:443"

fdpass_meta *tl_meta(size_t data_len)
{
	fdpass_meta *m = NULL;
	unsigned char *data = malloc(data_len ? data_len : 1);
	size_t i;

	assert_non_null(data);
	tl_fill_pattern(data, data_len);
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, data_len), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, CLIENT_ADDR), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, LOCAL_ADDR), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(fdpass_meta_add_pair(m, pair_keys[i], pair_values[i]), 0);
	free(data);
	return m;
}

size_t tl_meta_wire_size(size_t data_len)
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

int tl_meta_same(const fdpass_meta *a, const fdpass_meta *b)
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
