// SPDX-License-Identifier: MIT
/*
 * fdpass-bench: how fast libfdpass passes fds, against a hand-written
 * sendmsg/recvmsg loop doing the minimum and against Python's
 * socket.send_fds/recv_fds, in one run of one binary.
 *
 * Every case is a sender (this process) and a receiver (a child, forked per
 * run) on a fresh socketpair, both either pinned to one CPU or free. The
 * clock starts when the receiver says it is ready and stops when it has
 * reported back what it received; CPU time is both processes' user+system
 * time (getrusage over the sender's loop, wait4 for the receiver). Cases
 * that are compared run one after the other within a round, rounds are
 * interleaved, and ratios are medians of per-round ratios. See README.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "fdpass-bench-config.h"

#define TARGET_LIB_RATIO 0.97 /* fdpass_send+fdpass_recv against the raw loop */
#define TARGET_MANY_GAIN 8.0  /* 253 fds per message against 1, in fds/s */
#define MAX_WIRE (16384 + 4096)
#define RECEIVER_ALARM_S 900 /* a receiver that hangs is killed after this */

enum impl { IMPL_RAW, IMPL_LIB, IMPL_PY };
enum section { SEC_ONE, SEC_MANY, SEC_META, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = { "one", "many", "meta" };

struct bcase {
	enum section sec;
	enum impl impl;
	int socktype;
	int pinned;
	unsigned nfds;        /* fds per message */
	size_t data;          /* SEC_META: bytes of data in the metadata */
	size_t wire;          /* bytes per message on the wire */
	unsigned long msgs;   /* messages per run */
	int ref;              /* the raw case it is compared with, or -1 */
	int group;            /* cases of one group run together in each round */
	int selected;
	char label[96];
	char id[96];
	char note[160];       /* why it did not run, if it did not */
	int skipped;          /* not run: python3 missing, filtered out */
	int failed;           /* a run went wrong: fds lost, error, ... */
	/* per round; ok[r] says whether round r produced a figure */
	double *rate, *cpu, *scpu, *rcpu, *wall;
	int *ok;
};

struct result {
	double wall, send_cpu, recv_cpu;
	unsigned long long msgs, fds, bad;
	int err;
};

/* What the receiver writes back when it is done. */
struct rx_report {
	uint64_t msgs, fds, bad;
	int32_t err;
	int32_t pad;
};

static struct {
	int rounds;
	double scale;
	int smoke;
	const char *tsv;
	const char *only;
	const char *python;
	const char *pyfds;
	int cpu;
	int close_range;
} opt = { 7, 1.0, 0, NULL, NULL, NULL, NULL, -1, 0 };

static struct bcase *cases;
static int ncases, ngroups;
static cpu_set_t orig_mask;
static int pool[FDPASS_MAX_FDS];     /* the fds sent: dups of one TCP socket */
static dev_t pool_dev;
static ino_t pool_ino;
static int verify;                   /* receiver fstat()s every fd (smoke) */
static unsigned char wire_buf[MAX_WIRE];
static unsigned char meta_data[16384];   /* the data of metadata messages: all 'x' */
static unsigned long toomany_retries;
static size_t meta_overhead;         /* wire bytes of a metadata message minus its data */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fdpass-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double ru_cpu(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
	       (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

static const char *sock_name(int type)
{
	return type == SOCK_STREAM ? "stream" : "seqpacket";
}

/* ---- the receivers (in the child) ------------------------------------ */

static int check_fd(int fd)
{
	struct stat st;

	if (fd < 0)
		return 0;
	if (!verify)
		return 1;
	return fstat(fd, &st) == 0 && st.st_dev == pool_dev && st.st_ino == pool_ino;
}

/*
 * --close-range, a diagnostic: close fds[] with one close_range() per run
 * of consecutive numbers (received fds usually are) instead of one close()
 * per fd, to show what the close() system calls cost.
 */
static void close_runs(const int *fds, size_t n)
{
	size_t i = 0, j;

	while (i < n) {
		for (j = i; j + 1 < n && fds[j + 1] == fds[j] + 1; j++)
			;
#if HAVE_CLOSE_RANGE
		close_range((unsigned)fds[i], (unsigned)fds[j], 0);
#else
		size_t k;

		for (k = i; k <= j; k++)
			close(fds[k]);
#endif
		i = j + 1;
	}
}

/* Take the rest of a message on a stream: plain data, no fds. */
static int recv_rest(int sock, unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(sock, buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The raw loop: one recvmsg() per message into a control buffer just large
 * enough, the fds closed as they come; the checks are the least any
 * receiver must make (one SCM_RIGHTS message, no MSG_CTRUNC).
 */
static void raw_receiver(const struct bcase *c, int sock, struct rx_report *rep)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	} control;
	struct iovec iov = { .iov_base = wire_buf, .iov_len = c->wire };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf };
	unsigned long i;

	for (i = 0; i < c->msgs; i++) {
		struct cmsghdr *cmsg;
		ssize_t n;
		size_t k, count;

		msg.msg_controllen = CMSG_SPACE(sizeof(int) * c->nfds);
		n = recvmsg(sock, &msg, 0);
		if (n <= 0) {
			if (n < 0 && errno == EINTR) {
				i--;
				continue;
			}
			rep->err = n < 0 ? -errno : -ECONNRESET;
			return;
		}
		cmsg = CMSG_FIRSTHDR(&msg);
		if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
		    (msg.msg_flags & MSG_CTRUNC)) {
			rep->err = -EPROTO;
			return;
		}
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < count; k++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + k * sizeof(int), sizeof(int));
			if (!check_fd(fd))
				rep->bad++;
			if (!opt.close_range)
				close(fd);
		}
		if (opt.close_range) {
			int fds[FDPASS_MAX_FDS];

			memcpy(fds, CMSG_DATA(cmsg), sizeof(int) * count);
			close_runs(fds, count);
		}
		rep->fds += count;
		rep->msgs++;
		if (count != c->nfds)
			rep->bad++;
		if ((size_t)n < c->wire) {
			if (c->socktype != SOCK_STREAM) {
				rep->bad++;
			} else if ((rep->err = recv_rest(sock, wire_buf + n, c->wire - (size_t)n))) {
				return;
			}
		}
	}
}

static void lib_receiver(const struct bcase *c, int sock, struct rx_report *rep)
{
	int fds[FDPASS_MAX_FDS];
	unsigned long i;

	for (i = 0; i < c->msgs; i++) {
		size_t nfds = c->nfds, k, len = 0;
		fdpass_meta *meta = NULL;
		const unsigned char *data;
		ssize_t n;

		switch (c->sec) {
		case SEC_ONE:
			n = fdpass_recv(sock, &fds[0]);
			nfds = n == 1 ? 1 : 0;
			break;
		case SEC_MANY:
			n = fdpass_recv_fds(sock, fds, &nfds, wire_buf, 1, 0, -1);
			break;
		default:
			nfds = 1;
			n = fdpass_recv_meta(sock, fds, &nfds, &meta, 0, 0, -1);
			data = meta ? fdpass_meta_get_data(meta, &len) : NULL;
			if (n == 1 && (!data || len != c->data ||
				       (len && (data[0] != 'x' || data[len - 1] != 'x'))))
				rep->bad++;
			fdpass_meta_free(meta);
			break;
		}
		if (n != 1) {
			rep->err = n < 0 ? (int)n : -ECONNRESET;
			return;
		}
		for (k = 0; k < nfds; k++) {
			if (!check_fd(fds[k]))
				rep->bad++;
			if (!opt.close_range)
				close(fds[k]);
		}
		if (opt.close_range)
			close_runs(fds, nfds);
		rep->fds += nfds;
		rep->msgs++;
		if (nfds != c->nfds)
			rep->bad++;
	}
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void receiver(const struct bcase *c, int sock)
{
	struct rx_report rep;

	memset(&rep, 0, sizeof(rep));
	alarm(RECEIVER_ALARM_S);
	write_all(sock, "R", 1);
	if (c->impl == IMPL_RAW)
		raw_receiver(c, sock, &rep);
	else
		lib_receiver(c, sock, &rep);
	write_all(sock, &rep, sizeof(rep));
}

/* ---- the senders (in this process) ----------------------------------- */

/* Too many fds in flight (not as root): let the receiver catch up. */
static int retry_toomany(int err)
{
	if (err != ETOOMANYREFS)
		return 0;
	toomany_retries++;
	sched_yield();
	return 1;
}

/*
 * The raw loop: the message is built once; per message only the fds are
 * written into it, as a real sender must, then one sendmsg().
 */
static int raw_sender(const struct bcase *c, int sock)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	} control;
	struct iovec iov = { .iov_base = wire_buf, .iov_len = c->wire };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * c->nfds),
	};
	struct cmsghdr *cmsg;
	unsigned long i;

	memset(control.buf, 0, sizeof(control.buf));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * c->nfds);
	for (i = 0; i < c->msgs; i++) {
		ssize_t n;

		memcpy(CMSG_DATA(cmsg), pool, sizeof(int) * c->nfds);
		n = sendmsg(sock, &msg, 0);
		if (n < 0) {
			if (errno == EINTR || retry_toomany(errno)) {
				i--;
				continue;
			}
			return -errno;
		}
		if ((size_t)n < c->wire) {
			/* a stream took part of it: the rest is plain data */
			size_t off = (size_t)n;

			while (off < c->wire) {
				n = send(sock, wire_buf + off, c->wire - off, 0);
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					return -errno;
				off += (size_t)n;
			}
		}
	}
	return 0;
}

static int lib_sender(const struct bcase *c, int sock)
{
	fdpass_meta *meta = NULL;
	unsigned long i;
	int r = 0;

	if (c->sec == SEC_META) {
		if (fdpass_meta_new(&meta) < 0 || fdpass_meta_set_data(meta, meta_data, c->data) < 0)
			die("cannot build the metadata");
	}
	for (i = 0; i < c->msgs; i++) {
		ssize_t n;

		switch (c->sec) {
		case SEC_ONE:
			n = fdpass_send(sock, pool[0]);
			break;
		case SEC_MANY:
			n = fdpass_send_fds(sock, pool, c->nfds, "", 1, 0, -1);
			n = n == 1 ? 0 : n < 0 ? n : -EIO;
			break;
		default:
			n = fdpass_send_meta(sock, pool, 1, meta, 0, -1);
			break;
		}
		if (n < 0) {
			if (retry_toomany((int)-n)) {
				i--;
				continue;
			}
			r = (int)n;
			break;
		}
	}
	fdpass_meta_free(meta);
	return r;
}

/* ---- one run ---------------------------------------------------------- */

static int pin_cpu(void)
{
	int i;

	if (opt.cpu >= 0)
		return opt.cpu;
	for (i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &orig_mask))
			return i;
	return 0;
}

static void set_pinning(int pinned)
{
	cpu_set_t one;

	if (!pinned) {
		sched_setaffinity(0, sizeof(orig_mask), &orig_mask);
		return;
	}
	CPU_ZERO(&one);
	CPU_SET(pin_cpu(), &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		die("sched_setaffinity to CPU %d: %s", pin_cpu(), strerror(errno));
}

static int recv_all(int sock, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(sock, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int run_c(const struct bcase *c, struct result *res)
{
	struct rusage ru0, ru1, ruc;
	struct rx_report rep;
	double t0, t1;
	int sv[2], status, r;
	char ready;
	pid_t pid;

	if (socketpair(AF_UNIX, c->socktype | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
	set_pinning(c->pinned);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		receiver(c, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	if (recv_all(sv[0], &ready, 1) < 0)
		die("the receiver did not start");

	getrusage(RUSAGE_SELF, &ru0);
	t0 = now_s();
	r = c->impl == IMPL_RAW ? raw_sender(c, sv[0]) : lib_sender(c, sv[0]);
	if (r < 0)
		shutdown(sv[0], SHUT_WR); /* the receiver stops at end of stream */
	memset(&rep, 0, sizeof(rep));
	if (recv_all(sv[0], &rep, sizeof(rep)) < 0)
		rep.err = rep.err ? rep.err : -ECONNRESET;
	t1 = now_s();
	getrusage(RUSAGE_SELF, &ru1);
	close(sv[0]);
	while (wait4(pid, &status, 0, &ruc) < 0)
		if (errno != EINTR)
			die("wait4: %s", strerror(errno));
	set_pinning(0);

	res->wall = t1 - t0;
	res->send_cpu = ru_cpu(&ru1) - ru_cpu(&ru0);
	res->recv_cpu = ru_cpu(&ruc);
	res->msgs = rep.msgs;
	res->fds = rep.fds;
	res->bad = rep.bad;
	res->err = r < 0 ? r : rep.err;
	if (!res->err && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		res->err = -ECHILD;
	return 0;
}

/* ---- the Python peer --------------------------------------------------- */

static char python_path[4096];
static const char *python_exe; /* the interpreter itself, found once */
static int python_looked;

static int executable_file(const char *path)
{
	struct stat st;

	return path && *path && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/* The python3 to run: --python, meson's, or the first on PATH. */
static const char *python_command(void)
{
	const char *path = getenv("PATH");

	if (opt.python)
		return executable_file(opt.python) ? opt.python : NULL;
	if (executable_file(BENCH_PYTHON))
		return BENCH_PYTHON;
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);

		if (len > 0 && len < sizeof(python_path) - 9) {
			memcpy(python_path, path, len);
			memcpy(python_path + len, "/python3", 9);
			if (executable_file(python_path))
				return python_path;
		}
		path = end ? end + 1 : NULL;
	}
	return NULL;
}

/*
 * Run python with args (NULL-terminated, after the interpreter) and "-S"
 * (no site: the peer uses the standard library only, and a site that
 * imports much would only slow each start); its stdout into out.
 * Returns the exit status as waitpid gives it, or -1.
 */
static int run_python(const char *python, const char *const *args, char *out, size_t size)
{
	const char *argv[16 + 2 * 64];
	size_t len = 0;
	int p[2], status, argc = 0;
	ssize_t n;
	pid_t pid;

	argv[argc++] = python;
	argv[argc++] = "-S";
	while (*args && argc < (int)(sizeof(argv) / sizeof(argv[0])) - 1)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execv(python, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while (len < size - 1 && (n = read(p[0], out + len, size - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	return status;
}

/*
 * The interpreter itself (sys.executable), asked once: a python3 on PATH
 * may be a wrapper (pyenv's shim is a shell script that takes most of a
 * second to start), which each run would pay again.
 */
static const char *find_python(void)
{
	static const char *const args[] = {
		"-c", "import sys; sys.stdout.write(sys.executable)", NULL
	};
	static char exe[4096];
	const char *python;

	if (python_looked)
		return python_exe;
	python_looked = 1;
	python = python_command();
	if (!python)
		return NULL;
	python_exe = python;
	if (run_python(python, args, exe, sizeof(exe)) == 0 && executable_file(exe))
		python_exe = exe;
	return python_exe;
}

/*
 * Run the Python cases cs[0..n-1] in one pyfds.py, results into res[].
 * Returns 0; 1 if Python cannot run them (their notes say why); -1 on
 * failure (their notes say so).
 */
static int run_py(struct bcase **cs, int n, struct result *res)
{
	const char *python = find_python(), *args[2 + 2 * 64 + 2];
	char spec[64][48], *out, *line;
	size_t size = 256 * (size_t)n + 1024;
	int i, argc = 0, status, r = 0;

	if (n > 64)
		die("too many Python cases in one batch");
	for (i = 0; i < n; i++)
		if (!python)
			snprintf(cs[i]->note, sizeof(cs[i]->note), "python3 not found");
	if (!python)
		return 1;
	args[argc++] = opt.pyfds;
	if (verify)
		args[argc++] = "--verify";
	for (i = 0; i < n; i++) {
		snprintf(spec[i], sizeof(spec[i]), "%s:%d:%u:%lu", sock_name(cs[i]->socktype),
			 cs[i]->pinned ? pin_cpu() : -1, cs[i]->nfds, cs[i]->msgs);
		args[argc++] = "--case";
		args[argc++] = spec[i];
	}
	args[argc] = NULL;
	if (!(out = malloc(size)))
		die("out of memory");
	status = run_python(python, args, out, size);

	if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
		out[strcspn(out, "\n")] = '\0';
		for (i = 0; i < n; i++)
			snprintf(cs[i]->note, sizeof(cs[i]->note), "%.150s",
				 strncmp(out, "pyfds unavailable: ", 19) ? out : out + 19);
		free(out);
		return 1;
	}
	line = out;
	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		if (!line || sscanf(line, "pyfds messages=%llu fds=%llu bad=%llu wall=%lf "
				    "sender_cpu=%lf receiver_cpu=%lf",
				    &res[i].msgs, &res[i].fds, &res[i].bad, &res[i].wall,
				    &res[i].send_cpu, &res[i].recv_cpu) != 6) {
			snprintf(cs[i]->note, sizeof(cs[i]->note),
				 "pyfds.py failed (status %d), see its stderr",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			r = -1;
		}
		line = line ? strchr(line, '\n') : NULL;
		line = line ? line + 1 : NULL;
	}
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		for (i = 0; i < n; i++)
			snprintf(cs[i]->note, sizeof(cs[i]->note), "pyfds.py exited with status %d",
				 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		r = -1;
	}
	free(out);
	return r;
}

/* ---- the cases --------------------------------------------------------- */

static unsigned long scaled(unsigned long base)
{
	double v = (double)base * opt.scale;

	return v < 1 ? 1 : (unsigned long)v;
}

/*
 * Messages per run, sized for about 0.1-0.15 s per run on an idle 2-core
 * machine of the kind CI uses, pinned (more on a loaded one; --scale
 * multiplies them). Short runs and more rounds make a better median on a
 * shared machine than long runs and few rounds. The smoke run sends a few
 * hundred.
 */
static unsigned long base_msgs(enum impl impl, enum section sec, unsigned nfds, size_t data)
{
	if (opt.smoke)
		return impl == IMPL_PY ? 200 : nfds == FDPASS_MAX_FDS ? 50 : 500;
	if (sec == SEC_META)
		return data >= 16384 ? 12000 : 15000;
	if (impl == IMPL_PY)
		return nfds == 1 ? 12000 : nfds == 16 ? 4000 : 300;
	return nfds == 1 ? 25000 : nfds == 16 ? 5000 : 400;
}

static struct bcase *add_case(enum section sec, enum impl impl, int socktype, int pinned,
			      unsigned nfds, size_t data, int ref)
{
	struct bcase *c;
	const char *what;
	char size[32];

	cases = realloc(cases, (size_t)(ncases + 1) * sizeof(*cases));
	if (!cases)
		die("out of memory");
	c = &cases[ncases++];
	memset(c, 0, sizeof(*c));
	c->sec = sec;
	c->impl = impl;
	c->socktype = socktype;
	c->pinned = pinned;
	c->nfds = nfds;
	c->data = data;
	c->wire = sec == SEC_META ? meta_overhead + data : 1;
	if (c->wire > MAX_WIRE)
		die("a metadata message of %zu bytes does not fit the buffers", c->wire);
	c->msgs = scaled(base_msgs(impl, sec, nfds, data));
	c->ref = ref;
	c->group = ngroups;
	if (data >= 1024)
		snprintf(size, sizeof(size), "%zu KiB", data / 1024);
	else
		snprintf(size, sizeof(size), "%zu B", data);

	switch (sec) {
	case SEC_ONE:
		what = impl == IMPL_RAW ? "raw sendmsg/recvmsg, 1 fd"
		     : impl == IMPL_LIB ? "fdpass_send + fdpass_recv"
					: "python send_fds/recv_fds, 1 fd";
		snprintf(c->label, sizeof(c->label), "%s", what);
		break;
	case SEC_MANY:
		what = impl == IMPL_RAW ? "raw sendmsg/recvmsg"
		     : impl == IMPL_LIB ? "fdpass_send_fds + fdpass_recv_fds"
					: "python send_fds/recv_fds";
		snprintf(c->label, sizeof(c->label), "%s, %u fd%s/msg", what, nfds,
			 nfds == 1 ? "" : "s");
		break;
	default:
		if (impl == IMPL_RAW)
			snprintf(c->label, sizeof(c->label), "raw sendmsg/recvmsg, %zu bytes + 1 fd",
				 c->wire);
		else
			snprintf(c->label, sizeof(c->label), "fdpass_send_meta + recv_meta, %s data",
				 size);
		break;
	}
	snprintf(c->id, sizeof(c->id), "%s/%s/%s/%s/%u/%zu", section_names[sec],
		 impl == IMPL_RAW ? "raw" : impl == IMPL_LIB ? "lib" : "python",
		 sock_name(socktype), pinned ? "pinned" : "unpinned", nfds, data);
	c->selected = !opt.only || strstr(c->id, opt.only) != NULL;
	return c;
}

static void build_cases(void)
{
	static const int types[2] = { SOCK_STREAM, SOCK_SEQPACKET };
	static const unsigned many[3] = { 1, 16, FDPASS_MAX_FDS };
	static const size_t meta_sizes[3] = { 0, 1024, 16384 };
	int t, p, i, raw;

	for (t = 0; t < 2; t++)
		for (p = 1; p >= 0; p--, ngroups++) {
			raw = ncases;
			add_case(SEC_ONE, IMPL_RAW, types[t], p, 1, 0, -1);
			add_case(SEC_ONE, IMPL_LIB, types[t], p, 1, 0, raw);
			add_case(SEC_ONE, IMPL_PY, types[t], p, 1, 0, raw);
		}
	for (t = 0; t < 2; t++)
		for (p = 1; p >= 0; p--, ngroups++)
			for (i = 0; i < 3; i++) {
				raw = ncases;
				add_case(SEC_MANY, IMPL_RAW, types[t], p, many[i], 0, -1);
				add_case(SEC_MANY, IMPL_LIB, types[t], p, many[i], 0, raw);
				if (many[i] > 1) /* 1 fd: the first section's row */
					add_case(SEC_MANY, IMPL_PY, types[t], p, many[i], 0, raw);
			}
	for (t = 0; t < 2; t++)
		for (p = 1; p >= 0; p--, ngroups++)
			for (i = 0; i < 3; i++) {
				raw = ncases;
				add_case(SEC_META, IMPL_RAW, types[t], p, 1, meta_sizes[i], -1);
				add_case(SEC_META, IMPL_LIB, types[t], p, 1, meta_sizes[i], raw);
			}
	for (i = 0; i < ncases; i++) {
		struct bcase *c = &cases[i];

		c->rate = calloc((size_t)opt.rounds, sizeof(double));
		c->cpu = calloc((size_t)opt.rounds, sizeof(double));
		c->scpu = calloc((size_t)opt.rounds, sizeof(double));
		c->rcpu = calloc((size_t)opt.rounds, sizeof(double));
		c->wall = calloc((size_t)opt.rounds, sizeof(double));
		c->ok = calloc((size_t)opt.rounds, sizeof(int));
		if (!c->rate || !c->cpu || !c->scpu || !c->rcpu || !c->wall || !c->ok)
			die("out of memory");
		if (!c->selected) {
			c->skipped = 1;
			snprintf(c->note, sizeof(c->note), "not selected (--only)");
		}
	}
}

/*
 * The wire size of a metadata message holding only data: measured by
 * sending one, so that the raw baseline sends exactly as many bytes.
 */
static void measure_meta_overhead(void)
{
	fdpass_meta *meta, *got = NULL;
	int sv[2], fd = -1, queued = 0;
	size_t nfds = 1;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
	if (fdpass_meta_new(&meta) < 0 || fdpass_meta_set_data(meta, "", 0) < 0)
		die("cannot build the metadata");
	if (fdpass_send_meta(sv[0], &pool[0], 1, meta, 0, 1000) < 0)
		die("fdpass_send_meta failed");
	if (ioctl(sv[1], FIONREAD, &queued) < 0 || queued <= 0)
		die("FIONREAD: %s", strerror(errno));
	if (fdpass_recv_meta(sv[1], &fd, &nfds, &got, 0, 0, 1000) != 1)
		die("fdpass_recv_meta failed");
	close(fd);
	fdpass_meta_free(got);
	fdpass_meta_free(meta);
	close(sv[0]);
	close(sv[1]);
	meta_overhead = (size_t)queued;
}

/* ---- statistics and output --------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of v[i] for the rounds where ok[i]; 0 if there are none. */
static double median_ok(const double *v, const int *ok, int n, double *min, double *max)
{
	double *t = malloc(sizeof(double) * (size_t)(n ? n : 1));
	double m = 0;
	int i, k = 0;

	if (!t)
		die("out of memory");
	for (i = 0; i < n; i++)
		if (ok[i])
			t[k++] = v[i];
	if (k > 0) {
		qsort(t, (size_t)k, sizeof(double), cmp_double);
		m = k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
		if (min)
			*min = t[0];
		if (max)
			*max = t[k - 1];
	}
	free(t);
	return m;
}

/*
 * Median over rounds of a[r] / b[r], where both ran: -1 if none did; the
 * lowest and highest of them in *lo and *hi, if not NULL.
 */
static double median_ratio_of(const double *a, const int *aok, const double *b, const int *bok,
			      double *lo, double *hi)
{
	double *v = calloc((size_t)opt.rounds, sizeof(double));
	int *ok = calloc((size_t)opt.rounds, sizeof(int));
	double m;
	int r, any = 0;

	if (!v || !ok)
		die("out of memory");
	for (r = 0; r < opt.rounds; r++)
		if (aok[r] && bok[r] && b[r] > 0) {
			v[r] = a[r] / b[r];
			ok[r] = any = 1;
		}
	m = any ? median_ok(v, ok, opt.rounds, lo, hi) : -1;
	free(v);
	free(ok);
	return m;
}

/* How fast a is against b, in fds/s, round by round. */
static double speed_ratio(const struct bcase *a, const struct bcase *b)
{
	return median_ratio_of(a->rate, a->ok, b->rate, b->ok, NULL, NULL);
}

static double speed_ratio_range(const struct bcase *a, const struct bcase *b, double *lo,
				double *hi)
{
	*lo = *hi = 0;
	return median_ratio_of(a->rate, a->ok, b->rate, b->ok, lo, hi);
}

/* The same by CPU time per fd (b's over a's): what load on the machine disturbs least. */
static double cpu_ratio(const struct bcase *a, const struct bcase *b)
{
	return median_ratio_of(b->cpu, b->ok, a->cpu, a->ok, NULL, NULL);
}

static int rounds_ok(const struct bcase *c)
{
	int r, k = 0;

	for (r = 0; r < opt.rounds; r++)
		k += c->ok[r];
	return k;
}

static void group_digits(char *out, size_t size, double v)
{
	char tmp[32];
	size_t len, i, o = 0;

	snprintf(tmp, sizeof(tmp), "%.0f", v);
	len = strlen(tmp);
	for (i = 0; i < len && o + 2 < size; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = tmp[i];
	}
	out[o] = '\0';
}

static const char *pin_name(const struct bcase *c)
{
	return c->pinned ? "pinned" : "unpinned";
}

static const char *impl_name(const struct bcase *c)
{
	return c->impl == IMPL_RAW ? "raw" : c->impl == IMPL_LIB ? "lib" : "python";
}

/* A TSV number: "nan" where there is none, so that plotting scripts skip it. */
static void tsv_num(FILE *f, double v, int have, const char *sep)
{
	if (have)
		fprintf(f, "%.4f%s", v, sep);
	else
		fprintf(f, "nan%s", sep);
}

static void print_table(FILE *tsv)
{
	static const char *const headings[SEC_COUNT] = {
		"1 fd per message (httpd's format)",
		"many fds per message",
		"metadata message with 1 fd",
	};
	enum section last = SEC_COUNT;
	int i;

	if (tsv)
		fprintf(tsv, "section\tcase\timpl\tsocket\tpinning\tfds_per_msg\tbytes_per_msg\t"
			     "messages\trounds\tfds_per_s_median\tfds_per_s_min\tfds_per_s_max\t"
			     "ratio_to_raw\tcpu_ratio_to_raw\tcpu_us_per_fd\tsender_cpu_us_per_fd\t"
			     "receiver_cpu_us_per_fd\twall_s_median\tstatus\n");
	for (i = 0; i < ncases; i++) {
		const struct bcase *c = &cases[i];
		double rate, lo = 0, hi = 0, ratio = -1, cratio = -1, cpu, scpu, rcpu, wall;
		char rate_s[32], ratio_s[32], cpu_s[32], spread_s[32];
		const char *status;
		int k = rounds_ok(c);

		if (!c->selected)
			continue;
		if (c->sec != last) {
			last = c->sec;
			printf("\n### %s\n\n", headings[c->sec]);
			printf("| case | socket | pinning | fds/s (median) | ratio to raw "
			       "| CPU µs per fd | spread |\n");
			printf("| --- | --- | --- | ---: | ---: | ---: | ---: |\n");
		}
		rate = median_ok(c->rate, c->ok, opt.rounds, &lo, &hi);
		cpu = median_ok(c->cpu, c->ok, opt.rounds, NULL, NULL);
		scpu = median_ok(c->scpu, c->ok, opt.rounds, NULL, NULL);
		rcpu = median_ok(c->rcpu, c->ok, opt.rounds, NULL, NULL);
		wall = median_ok(c->wall, c->ok, opt.rounds, NULL, NULL);
		if (c->ref >= 0) {
			ratio = speed_ratio(c, &cases[c->ref]);
			cratio = cpu_ratio(c, &cases[c->ref]);
		} else {
			ratio = cratio = 1;
		}
		status = c->failed ? "FAILED" : c->skipped ? "skipped" : k ? "ok" : "none";

		if (k == 0) {
			printf("| %s | %s | %s | %s: %s | | | |\n", c->label, sock_name(c->socktype),
			       pin_name(c), c->failed ? "FAILED" : "not run",
			       c->note[0] ? c->note : "no round completed");
		} else {
			group_digits(rate_s, sizeof(rate_s), rate);
			if (c->ref < 0)
				snprintf(ratio_s, sizeof(ratio_s), "1 (raw)");
			else if (ratio < 0)
				snprintf(ratio_s, sizeof(ratio_s), "n/a");
			else
				snprintf(ratio_s, sizeof(ratio_s), "%.3fx", ratio);
			snprintf(cpu_s, sizeof(cpu_s), "%.3f", cpu);
			snprintf(spread_s, sizeof(spread_s), "%.0f%%",
				 rate > 0 ? 100.0 * (hi - lo) / rate : 0.0);
			printf("| %s%s | %s | %s | %s | %s | %s | %s |\n", c->label,
			       c->failed ? " (FAILED in a round)" : "", sock_name(c->socktype),
			       pin_name(c), rate_s, ratio_s, cpu_s, spread_s);
		}
		if (tsv) {
			fprintf(tsv, "%s\t%s\t%s\t%s\t%s\t%u\t%zu\t%lu\t%d\t", section_names[c->sec],
				c->label, impl_name(c), sock_name(c->socktype), pin_name(c), c->nfds,
				c->wire, c->msgs, k);
			tsv_num(tsv, rate, k > 0, "\t");
			tsv_num(tsv, lo, k > 0, "\t");
			tsv_num(tsv, hi, k > 0, "\t");
			tsv_num(tsv, ratio, ratio >= 0 && k > 0, "\t");
			tsv_num(tsv, cratio, cratio >= 0 && k > 0, "\t");
			tsv_num(tsv, cpu, k > 0, "\t");
			tsv_num(tsv, scpu, k > 0, "\t");
			tsv_num(tsv, rcpu, k > 0, "\t");
			tsv_num(tsv, wall, k > 0, "\t");
			fprintf(tsv, "%s\n", status);
		}
	}
}

/* Print the targets with PASS/MISS; they never decide the exit status. */
static void check_targets(void)
{
	int i, j, pass1 = 0, n1 = 0, pass2 = 0, n2 = 0;
	double worst1 = 1e9, worst2 = 1e9;

	printf("\n### Targets\n\n");
	if (opt.close_range)
		printf("(--close-range: a diagnostic run, not the targets' conditions: these "
		       "verdicts do not count)\n\n");
	printf("T1: fdpass_send + fdpass_recv at least %.2fx the raw loop in fds/s "
	       "(median of per-round ratios)\n", TARGET_LIB_RATIO);
	for (i = 0; i < ncases; i++) {
		const struct bcase *c = &cases[i];
		double r, lo, hi;

		if (c->sec != SEC_ONE || c->impl != IMPL_LIB || !c->selected)
			continue;
		r = speed_ratio_range(c, &cases[c->ref], &lo, &hi);
		if (r < 0) {
			printf("  %-9s %-8s  n/a  (did not run)\n", sock_name(c->socktype),
			       pin_name(c));
			continue;
		}
		n1++;
		pass1 += r >= TARGET_LIB_RATIO;
		worst1 = r < worst1 ? r : worst1;
		printf("  %-9s %-8s  %.3fx  %s   (rounds %.3f-%.3f; by CPU time per fd: %.3fx)\n",
		       sock_name(c->socktype), pin_name(c), r,
		       r >= TARGET_LIB_RATIO ? "PASS" : "MISS", lo, hi, cpu_ratio(c, &cases[c->ref]));
	}
	if (n1)
		printf("T1 overall: %s (%d of %d configurations; lowest %.3fx)\n",
		       pass1 == n1 ? "PASS" : "MISS", pass1, n1, worst1);
	else
		printf("T1 overall: not measured\n");

	printf("\nT2: fdpass_send_fds/fdpass_recv_fds with %d fds per message at least "
	       "%.0fx the fds/s of 1 fd per message (median of per-round ratios)\n",
	       FDPASS_MAX_FDS, TARGET_MANY_GAIN);
	for (i = 0; i < ncases; i++) {
		const struct bcase *c = &cases[i], *one = NULL, *raw1 = NULL, *raw253;
		double r, rr, lo, hi;

		if (c->sec != SEC_MANY || c->impl != IMPL_LIB || c->nfds != FDPASS_MAX_FDS ||
		    !c->selected)
			continue;
		for (j = 0; j < ncases; j++)
			if (cases[j].group == c->group && cases[j].nfds == 1) {
				if (cases[j].impl == IMPL_LIB)
					one = &cases[j];
				else if (cases[j].impl == IMPL_RAW)
					raw1 = &cases[j];
			}
		raw253 = &cases[c->ref];
		r = one ? speed_ratio_range(c, one, &lo, &hi) : -1;
		rr = raw1 ? speed_ratio(raw253, raw1) : -1;
		if (r < 0) {
			printf("  %-9s %-8s  n/a  (did not run)\n", sock_name(c->socktype),
			       pin_name(c));
			continue;
		}
		n2++;
		pass2 += r >= TARGET_MANY_GAIN;
		worst2 = r < worst2 ? r : worst2;
		printf("  %-9s %-8s  %.2fx  %s   (rounds %.2f-%.2f; by CPU time per fd: %.2fx; "
		       "the raw loop: %.2fx, by CPU %.2fx)\n", sock_name(c->socktype), pin_name(c),
		       r, r >= TARGET_MANY_GAIN ? "PASS" : "MISS", lo, hi,
		       one ? cpu_ratio(c, one) : -1, rr, raw1 ? cpu_ratio(raw253, raw1) : -1);
	}
	if (n2)
		printf("T2 overall: %s (%d of %d configurations; lowest %.2fx)\n",
		       pass2 == n2 ? "PASS" : "MISS", pass2, n2, worst2);
	else
		printf("T2 overall: not measured\n");
}

/* ---- main -------------------------------------------------------------- */

/* Keep the figures of round r of c, or mark c failed or skipped. */
static void record(struct bcase *c, int r, int st, const struct result *res)
{
	unsigned long long want = (unsigned long long)c->msgs * c->nfds;

	if (st == 1) {
		c->skipped = 1;
		return;
	}
	if (st < 0 || res->err || res->bad || res->fds != want || res->msgs != c->msgs) {
		if (st >= 0)
			snprintf(c->note, sizeof(c->note), "%s: %llu of %llu fds arrived, %llu bad",
				 res->err ? fdpass_strerror(res->err) : "fds lost or wrong",
				 res->fds, want, res->bad);
		fprintf(stderr, "\nfdpass-bench: %s (%s %s): %s\n", c->label,
			sock_name(c->socktype), c->pinned ? "pinned" : "unpinned", c->note);
		c->failed = 1;
		return;
	}
	c->ok[r] = 1;
	c->wall[r] = res->wall;
	c->rate[r] = res->wall > 0 ? (double)res->fds / res->wall : 0;
	c->scpu[r] = res->send_cpu * 1e6 / (double)res->fds;
	c->rcpu[r] = res->recv_cpu * 1e6 / (double)res->fds;
	c->cpu[r] = c->scpu[r] + c->rcpu[r];
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fdpass-bench [OPTION]...\n"
		"Measure fds/s and CPU time per fd of libfdpass against a raw sendmsg/recvmsg\n"
		"loop and Python's socket.send_fds/recv_fds, sender and receiver forked over a\n"
		"socketpair, SOCK_STREAM and SOCK_SEQPACKET, pinned to one CPU and not.\n"
		"\n"
		"  --rounds N     interleaved rounds (default 7); medians are over rounds\n"
		"  --scale F      multiply every message count by F (default 1)\n"
		"  --smoke        a second or two: few messages, 1 round, every case checked\n"
		"                 (every fd must arrive, and be the one sent); exit status 1\n"
		"                 if any case failed\n"
		"  --tsv FILE     also write one tab-separated line per row to FILE\n"
		"  --only TEXT    run only the cases whose id contains TEXT; ids are\n"
		"                 SECTION/IMPL/SOCKET/PINNING/NFDS/DATA, e.g.\n"
		"                 one/lib/stream/pinned/1/0 (sections one, many, meta;\n"
		"                 impls raw, lib, python)\n"
		"  --cpu N        the CPU that pinned cases use (default: the first allowed)\n"
		"  --python PATH  the python3 to run pyfds.py with (default: meson's, else PATH)\n"
		"  --pyfds PATH   the pyfds.py script (default: %s)\n"
		"  --close-range  diagnostic: the C receivers close each message's fds with\n"
		"                 close_range() over runs of consecutive numbers, not with\n"
		"                 one close() per fd (Python's still close one by one)\n"
		"  --help         this text\n"
		"\n"
		"Targets (PASS/MISS printed, never the exit status): fdpass_send+fdpass_recv\n"
		"at least %.2fx the raw loop; %d fds per message at least %.0fx the fds/s of 1.\n"
		"Exit status: 0, or 1 if a case failed (fds lost, an error), 2 on bad usage.\n",
		BENCH_PYFDS, TARGET_LIB_RATIO, FDPASS_MAX_FDS, TARGET_MANY_GAIN);
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "scale", required_argument, NULL, 's' },
		{ "smoke", no_argument, NULL, 'S' },
		{ "tsv", required_argument, NULL, 't' },
		{ "only", required_argument, NULL, 'o' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "python", required_argument, NULL, 'p' },
		{ "pyfds", required_argument, NULL, 'P' },
		{ "close-range", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch;

	opt.pyfds = BENCH_PYFDS;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			opt.rounds = (int)strtol(optarg, &end, 10);
			if (*end || opt.rounds < 1 || opt.rounds > 1000)
				die("--rounds takes 1 to 1000");
			break;
		case 's':
			opt.scale = strtod(optarg, &end);
			if (*end || !(opt.scale > 0) || opt.scale > 1e4)
				die("--scale takes a positive number");
			break;
		case 'S':
			opt.smoke = 1;
			break;
		case 't':
			opt.tsv = optarg;
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 'c':
			opt.cpu = (int)strtol(optarg, &end, 10);
			if (*end || opt.cpu < 0 || opt.cpu >= CPU_SETSIZE)
				die("--cpu takes a CPU number");
			break;
		case 'p':
			opt.python = optarg;
			break;
		case 'C':
			opt.close_range = 1;
			break;
		case 'P':
			opt.pyfds = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (opt.smoke) {
		opt.rounds = 1;
		opt.scale = 1;
		verify = 1;
	}
}

static void setup(void)
{
	struct rlimit rl;
	struct stat st;
	int tcp, i;

	signal(SIGPIPE, SIG_IGN); /* a receiver that died gives EPIPE */
	if (sched_getaffinity(0, sizeof(orig_mask), &orig_mask) < 0)
		die("sched_getaffinity: %s", strerror(errno));
	if (opt.cpu >= 0 && !CPU_ISSET(opt.cpu, &orig_mask))
		die("CPU %d is not one this process may run on", opt.cpu);
	/*
	 * Fds in flight count against RLIMIT_NOFILE (ETOOMANYREFS), except
	 * for root: take the hard limit.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* What httpd passes: a TCP socket (here unconnected), dup()ed 253 times. */
	tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (tcp < 0)
		tcp = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (tcp < 0 || fstat(tcp, &st) < 0)
		die("cannot open an fd to pass: %s", strerror(errno));
	pool_dev = st.st_dev;
	pool_ino = st.st_ino;
	pool[0] = tcp;
	for (i = 1; i < FDPASS_MAX_FDS; i++)
		if ((pool[i] = fcntl(tcp, F_DUPFD_CLOEXEC, 0)) < 0)
			die("dup: %s", strerror(errno));
	memset(wire_buf, 'x', sizeof(wire_buf));
	memset(meta_data, 'x', sizeof(meta_data));
	wire_buf[0] = '\0';
}

int main(int argc, char **argv)
{
	FILE *tsv = NULL;
	double start = now_s();
	int r, g, i, failures = 0, need_python = 0;
	char when[64];
	time_t t = time(NULL);

	parse_args(argc, argv);
	setup();
	measure_meta_overhead();
	build_cases();
	if (opt.tsv && !(tsv = fopen(opt.tsv, "w")))
		die("%s: %s", opt.tsv, strerror(errno));

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", localtime(&t));
	for (i = 0; i < ncases; i++)
		need_python |= cases[i].impl == IMPL_PY && cases[i].selected;
	printf("## fdpass-bench: libfdpass %s, %s\n\n", fdpass_version(), when);
	printf("%s%d round%s, scale %g; pinned cases on CPU %d of %d allowed; python: %s\n",
	       opt.smoke ? "SMOKE RUN (figures meaningless): " : "", opt.rounds,
	       opt.rounds == 1 ? "" : "s", opt.scale, pin_cpu(), CPU_COUNT(&orig_mask),
	       !need_python ? "not needed" : find_python() ? find_python() : "not found");
	printf("Metadata message = %zu bytes + data; the raw baselines send as many bytes.\n",
	       meta_overhead);
	if (opt.close_range)
		printf("DIAGNOSTIC --close-range: the C receivers close fds with close_range(), "
		       "not one close() per fd.\n");
	fflush(stdout);

	/* Warm up (not recorded): page in the code paths of both sides. */
	for (i = 0; i < ncases && !opt.smoke; i++) {
		struct bcase w = cases[i];
		struct result res;

		if (w.sec != SEC_ONE || w.impl == IMPL_PY || !w.selected)
			continue;
		w.msgs = 2000;
		run_c(&w, &res);
	}

	/* The smoke run starts Python once for all its cases. */
	if (opt.smoke) {
		struct bcase *batch[64];
		struct result res[64];
		int n = 0, st;

		for (i = 0; i < ncases && n < 64; i++)
			if (cases[i].impl == IMPL_PY && !cases[i].skipped)
				batch[n++] = &cases[i];
		st = n ? run_py(batch, n, res) : 0;
		for (i = 0; i < n; i++)
			record(batch[i], 0, st, &res[i]);
	}

	for (r = 0; r < opt.rounds; r++) {
		fprintf(stderr, "fdpass-bench: round %d/%d ", r + 1, opt.rounds);
		for (g = 0; g < ngroups; g++) {
			int first = -1, last = -1, k;

			for (i = 0; i < ncases; i++)
				if (cases[i].group == g) {
					if (first < 0)
						first = i;
					last = i;
				}
			/* Alternate the order within the group from round to round. */
			for (k = 0; k <= last - first; k++) {
				struct bcase *c = &cases[r % 2 ? last - k : first + k];
				struct result res;
				int st;

				if (c->skipped && !c->failed)
					continue;
				if (c->impl == IMPL_PY && opt.smoke)
					continue; /* ran before the rounds, all in one */
				memset(&res, 0, sizeof(res));
				st = c->impl == IMPL_PY ? run_py(&c, 1, &res) : run_c(c, &res);
				record(c, r, st, &res);
			}
			fputc('.', stderr);
		}
		fputc('\n', stderr);
	}

	print_table(tsv);
	if (tsv && fclose(tsv) != 0)
		die("%s: %s", opt.tsv, strerror(errno));

	for (i = 0; i < ncases; i++) {
		if (cases[i].failed)
			failures++;
		else if (cases[i].selected && !cases[i].skipped && rounds_ok(&cases[i]) == 0)
			failures++;
	}
	printf("\nspread = (max - min) / median of the rounds' fds/s; CPU = sender + receiver "
	       "user+system time.\n");
	if (toomany_retries)
		printf("note: %lu sends hit ETOOMANYREFS (fds in flight above RLIMIT_NOFILE) "
		       "and were retried.\n", toomany_retries);
	if (opt.smoke) {
		int ran = 0;

		for (i = 0; i < ncases; i++)
			ran += rounds_ok(&cases[i]) > 0;
		printf("\nsmoke: %d of %d cases ran, %d failed; every fd %s (targets are not "
		       "judged in a smoke run)\n", ran, ncases, failures,
		       failures ? "did NOT arrive" : "arrived and was the one sent");
	} else {
		check_targets();
	}
	printf("\n%.0f s in all.\n", now_s() - start);
	return failures ? 1 : 0;
}
