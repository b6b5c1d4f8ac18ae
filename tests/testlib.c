// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "testlib.h"

int tl_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}

static int fds_at_start;

/* Setups take the test's name from cmocka's initial state, where TL_TEST put it. */
static const char *test_name(void **state)
{
	return *state ? (const char *)*state : "a test";
}

int tl_fd_setup(void **state)
{
	tl_watchdog_arm(test_name(state));
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

/* ---- the watchdog ------------------------------------------------------- */

static struct {
	timer_t timer;
	int armed;
	char report[512];     /* "watchdog: <test> still running after <n> s, " */
	char waiting[256];    /* what it waits for */
} watchdog;

static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);

	snprintf(buf + n, size - n, "%s", s);
}

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
	char secs[32];

	tl_watchdog_disarm();
	snprintf(watchdog.report, sizeof(watchdog.report), "watchdog: %s still running after ",
		 test);
	snprintf(secs, sizeof(secs), "%ld s, ", (long)its.it_value.tv_sec);
	append(watchdog.report, sizeof(watchdog.report), secs);
	watchdog.waiting[0] = '\0';
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

void tl_path_in(char *buf, size_t size, void **state, const char *name)
{
	const struct tl_dir *d = *state;

	snprintf(buf, size, "%s/%s", d->path, name);
}

const char *tl_dir_path(void **state)
{
	return ((const struct tl_dir *)*state)->path;
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

void tl_socketpair(int type, int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
}

int tl_same_file(int a, int b)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return 0;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

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

void tl_wait_child(pid_t pid)
{
	int status;

	tl_waiting_for("child %d to exit", (int)pid);
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	tl_waiting_for(NULL);
	if (WIFSIGNALED(status))
		fprintf(stderr, "child %d killed by signal %d\n", (int)pid, WTERMSIG(status));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
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
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

const char *tl_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		fail_msg("environment variable %s is not set (run the tests with meson test)", name);
	return v;
}

int64_t tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
			late = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 - 1;
			if (late > worst)
				worst = late;
		}
		margin = 250 * tl_slowdown();
		if (20 * worst > margin)
			margin = (int)(20 * worst);
	}
	return margin;
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

	assert_true(nfds <= 256);
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
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

void tl_raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	assert_int_equal(tl_sendmsg_fds(sock, data, len, fds, nfds, 0), (ssize_t)len);
}

size_t tl_read_to_eof(int fd, char *buf, size_t size, int ms)
{
	int64_t end = tl_now_ms() + ms;
	size_t n = 0;

	tl_waiting_for("the end of stream on fd %d (%d ms at most)", fd, ms);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)(end - tl_now_ms());
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left) <= 0)
			fail_msg("no end of stream within %d ms (%zu bytes so far: \"%.*s\")",
				 ms, n, (int)n, buf);
		if (n + 1 >= size)
			fail_msg("more than %zu bytes before end of stream", size - 1);
		r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			fail_msg("read: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	tl_waiting_for(NULL);
	buf[n] = '\0';
	return n;
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
	int lowest = 0;

	while (fcntl(lowest, F_GETFD) >= 0)
		lowest++;
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
	rl.rlim_cur = (rlim_t)(lowest + room);
	return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? 1 : 0;
}
