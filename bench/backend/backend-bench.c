// SPDX-License-Identifier: MIT
/*
 * fdpass-backend-bench: the hand-off latency of a well-behaved front-end,
 * alone and beside hostile front-ends, against one fdpass_backend. See
 * README.md here.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#define NOBODY 65534
#define MESSAGE_MS 100  /* the backend's message timeout */
#define SETTLE_MS 300   /* before each measurement: the attack builds up, or clears */

struct options {
	int handoffs, rounds, hostile, pace_ms, smoke, pin;
};

/*
 * With pinning, the backend and the well-behaved front-end share CPU 0 and
 * the attackers run on CPU 1: what is measured is how the backend treats
 * hostile connections, not how the scheduler shares one CPU with them.
 */
static int pinned = 0;

static void pin_to(int cpu)
{
	cpu_set_t set;

	if (!pinned)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "fdpass-backend-bench: %s: %s\n", what, fdpass_strerror(err));
	exit(1);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* ---- the backend under test ---------------------------------------------- */

struct server_report {
	long served, refused, overdue, dropped, other;
	int fds_before, fds_after;
};

/*
 * Serves hand-offs until told to stop: writes one byte to each client
 * socket (the front-end's acknowledgement) and closes it, as a backend
 * writes a response. Then lets every front-end go, and reports.
 */
static int server(const char *path, int ready_w, int stop_r, int report_w)
{
	struct server_report rep = { 0 };
	fdpass_backend *b = NULL;
	int64_t quiet_since;
	int r, fd;

	r = fdpass_backend_new(&b, path, 0666, 0);
	if (r < 0)
		die("listen", r);
	fdpass_backend_allow_uid(b, getuid());
	/* Half messages are dropped (and come back) several times a round. */
	fdpass_backend_set_message_timeout(b, MESSAGE_MS);
	rep.fds_before = count_fds();
	if (write(ready_w, "r", 1) != 1)
		return 1;
	for (;;) {
		r = fdpass_backend_recv(b, &fd, 50);
		if (r == 1) {
			send(fd, "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			rep.served++;
			continue;
		}
		if (r == -EPERM)
			rep.refused++;
		else if (r == -ETIME)
			rep.overdue++;
		else if (r == -EBADMSG || r == -ECONNRESET)
			rep.dropped++;
		else if (r != -ETIMEDOUT)
			rep.other++;
		if (r == -ETIMEDOUT && readable(stop_r, 0))
			break;
	}
	/* Whatever is left (half messages of killed attackers) ends or times out. */
	quiet_since = now_us();
	while (now_us() - quiet_since < 1500000) {
		r = fdpass_backend_recv(b, &fd, 100);
		if (r == 1)
			close(fd);
		if (r != -ETIMEDOUT)
			quiet_since = now_us();
	}
	rep.fds_after = count_fds();
	fdpass_backend_free(b);
	return write(report_w, &rep, sizeof(rep)) == sizeof(rep) ? 0 : 1;
}

/* ---- hostile front-ends --------------------------------------------------- */

enum kind { HALF, GARBAGE, CHURN, REFUSED, NKINDS };

/*
 * Keeps n hostile connections of the given kinds going until killed. Each
 * slot acts at most once per pace_ms (a connection dropped by the backend
 * comes back then): HALF sends the first 5 bytes of a metadata header with
 * a pipe fd and stalls until the backend drops it; GARBAGE sends a bad
 * first byte with a fd; CHURN (and REFUSED, run as nobody) connects and
 * hangs up at once.
 */
static int hostile(const char *path, const enum kind *kinds, int n, int pace_ms)
{
	int *fds = calloc((size_t)n, sizeof(int)), p[2], i;
	int64_t *next = calloc((size_t)n, sizeof(int64_t));
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));

	if (!fds || !next || !pfd || pipe2(p, O_CLOEXEC) < 0)
		return 1;
	/* Independent attackers: their first moves spread over one pace. */
	for (i = 0; i < n; i++) {
		fds[i] = -1;
		next[i] = now_us() + (int64_t)pace_ms * 1000 * i / n;
	}
	for (;;) {
		int64_t now = now_us(), wake = now + pace_ms * 1000;
		int np = 0;

		for (i = 0; i < n; i++) {
			int s;

			if (fds[i] >= 0)
				continue;
			if (next[i] > now) {
				if (next[i] < wake)
					wake = next[i];
				continue;
			}
			next[i] = now + pace_ms * 1000;
			s = fdpass_connect(path, FDPASS_NONBLOCK, 0);
			if (s < 0)
				continue; /* backlog full: next time */
			if (kinds[i] == HALF)
				fdpass_send_fds(s, &p[1], 1, "FDPM\1", 5, FDPASS_NONBLOCK, 0);
			else if (kinds[i] == GARBAGE)
				fdpass_send_fds(s, &p[1], 1, "xyz", 3, FDPASS_NONBLOCK, 0);
			if (kinds[i] == CHURN || kinds[i] == REFUSED)
				close(s);
			else
				fds[i] = s;
		}
		for (i = 0; i < n; i++)
			if (fds[i] >= 0)
				pfd[np++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		poll(pfd, (nfds_t)np, (int)((wake - now + 999) / 1000));
		for (i = 0; i < np; i++) {
			int j;

			if (!pfd[i].revents)
				continue;
			for (j = 0; j < n && fds[j] != pfd[i].fd; j++)
				;
			close(fds[j]); /* dropped by the backend: back after the pace */
			fds[j] = -1;
		}
	}
}

static pid_t start_hostile(const char *path, enum kind only, int n, int pace_ms, int as_nobody)
{
	enum kind *kinds = calloc((size_t)(n ? n : 1), sizeof(*kinds));
	pid_t pid;
	int i, k = 0;

	for (i = 0; i < n; i++) {
		if (only != NKINDS) {
			kinds[i] = only;
			continue;
		}
		do
			k = (k + 1) % NKINDS;
		while (k == REFUSED);
		kinds[i] = (enum kind)k;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (as_nobody && (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
				  setresuid(NOBODY, NOBODY, NOBODY) < 0))
			_exit(2);
		pin_to(1);
		_exit(hostile(path, kinds, n, pace_ms));
	}
	free(kinds);
	return pid;
}

/* The attackers of one round: n connections, a quarter of each kind. */
static int start_attack(const char *path, int n, int pace_ms, pid_t *pids)
{
	int refused = geteuid() == 0 ? n / 4 : 0, np = 0;

	if (n == 0)
		return 0;
	pids[np++] = start_hostile(path, NKINDS, n - refused, pace_ms, 0);
	if (refused)
		pids[np++] = start_hostile(path, REFUSED, refused, pace_ms, 1);
	return np;
}

static void stop_attack(pid_t *pids, int np)
{
	int i;

	for (i = 0; i < np; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
}

/* ---- the well-behaved front-end ------------------------------------------ */

enum mode { PER_HANDOFF, ONE_CONNECTION };
static const char *const mode_names[] = { "a connection per hand-off (httpd's way)",
					  "one connection for all hand-offs" };

/*
 * n hand-offs, one at a time: each a socketpair whose one end goes to the
 * backend, timed until the backend's byte arrives on the other. Returns
 * the latencies in µs, sorted; NULL if a hand-off failed.
 */
static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t *measure(const char *path, enum mode mode, int n)
{
	int64_t *lat = calloc((size_t)n, sizeof(*lat));
	int conn = -1, i;

	if (!lat)
		return NULL;
	for (i = 0; i < n; i++) {
		int sv[2], r;
		int64_t t0 = now_us();
		char c;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			die("socketpair", -errno);
		if (conn < 0 && (conn = fdpass_connect(path, 0, 5000)) < 0)
			die("connect", conn);
		r = fdpass_send(conn, sv[1]);
		if (r < 0)
			die("send", r);
		if (mode == PER_HANDOFF) {
			close(conn);
			conn = -1;
		}
		close(sv[1]);
		if (!readable(sv[0], 10000) || read(sv[0], &c, 1) != 1) {
			fprintf(stderr, "fdpass-backend-bench: hand-off %d not served in 10 s\n", i);
			free(lat);
			return NULL;
		}
		lat[i] = now_us() - t0;
		close(sv[0]);
	}
	if (conn >= 0)
		close(conn);
	qsort(lat, (size_t)n, sizeof(*lat), cmp64);
	return lat;
}

static int64_t pct(const int64_t *sorted, int n, int p)
{
	int i = (int)((int64_t)n * p / 100);

	return sorted[i < n ? i : n - 1];
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmpd);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fputs("Usage: fdpass-backend-bench [--handoffs N] [--rounds R] [--hostile H]\n"
	      "                            [--pace-ms MS] [--smoke]\n"
	      "\n"
	      "A well-behaved front-end's hand-off latency (p50, p99) against one\n"
	      "fdpass_backend, alone and beside H hostile front-end connections (half\n"
	      "messages, garbage, connect-close floods and, as root, refused uids).\n"
	      "  --handoffs N  hand-offs timed per case and round (default 3000)\n"
	      "  --rounds R    interleaved rounds (default 5)\n"
	      "  --hostile H   hostile connections (default 100)\n"
	      "  --pace-ms MS  each hostile connection acts at most once per MS (default 10)\n"
	      "  --no-pin      do not pin the backend and front-end to CPU 0 and the\n"
	      "                attackers to CPU 1\n"
	      "  --smoke       a second or two: checks that it works, figures meaningless\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "handoffs", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "hostile", required_argument, NULL, 'H' },
		{ "pace-ms", required_argument, NULL, 'p' },
		{ "smoke", no_argument, NULL, 'S' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = { .handoffs = 3000, .rounds = 5, .hostile = 100, .pace_ms = 10, .pin = 1 };
	char dir[] = "/tmp/fdpass-backend-bench-XXXXXX", path[64];
	double p50[2][2][64], p99[2][2][64], ratio[2][64];
	struct server_report rep;
	int ready[2], stop[2], report[2], opt, round, m, failed = 0;
	pid_t srv;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			o.handoffs = atoi(optarg);
			break;
		case 'r':
			o.rounds = atoi(optarg);
			break;
		case 'H':
			o.hostile = atoi(optarg);
			break;
		case 'p':
			o.pace_ms = atoi(optarg);
			break;
		case 'S':
			o.smoke = 1;
			break;
		case 'P':
			o.pin = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.smoke) {
		o.handoffs = 200;
		o.rounds = 1;
		o.hostile = 20;
	}
	if (o.handoffs < 1 || o.rounds < 1 || o.rounds > 64 || o.hostile < 0 || o.pace_ms < 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	pinned = o.pin && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	pin_to(0);
	if (!mkdtemp(dir) || chmod(dir, 0711) < 0)
		die("temporary directory", -errno);
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(stop, O_CLOEXEC) < 0 ||
	    pipe2(report, O_CLOEXEC) < 0)
		die("pipe", -errno);
	fflush(NULL);
	srv = fork();
	if (srv == 0)
		_exit(server(path, ready[1], stop[0], report[1]));
	if (!readable(ready[0], 10000))
		die("the backend did not start", -ETIMEDOUT);

	printf("%s%d rounds, %d hand-offs per case and round, %d hostile connections "
	       "(pace %d ms, message timeout %d ms%s); %s\n",
	       o.smoke ? "SMOKE RUN (figures meaningless): " : "",
	       o.rounds, o.handoffs, o.hostile, o.pace_ms, MESSAGE_MS,
	       geteuid() == 0 ? "" : "; not root: no refused uids",
	       pinned ? "backend and front-end on CPU 0, attackers on CPU 1" : "not pinned");
	for (round = 0; round < o.rounds && !failed; round++)
		for (m = 0; m < 2 && !failed; m++) {
			int step;

			/* Alone and attacked back to back, in alternating order. */
			for (step = 0; step < 2 && !failed; step++) {
				int attacked = (step + round) % 2, np;
				pid_t pids[2];
				int64_t *lat;

				np = attacked ? start_attack(path, o.hostile, o.pace_ms, pids) : 0;
				usleep(SETTLE_MS * 1000);
				lat = measure(path, (enum mode)m, o.handoffs);
				stop_attack(pids, np);
				if (!lat) {
					failed = 1;
					break;
				}
				p50[m][attacked][round] = (double)pct(lat, o.handoffs, 50);
				p99[m][attacked][round] = (double)pct(lat, o.handoffs, 99);
				free(lat);
			}
			if (!failed)
				ratio[m][round] = p99[m][1][round] / p99[m][0][round];
		}

	if (write(stop[1], "s", 1) != 1 || read(report[0], &rep, sizeof(rep)) != sizeof(rep))
		die("the backend's report", -EIO);
	waitpid(srv, NULL, 0);
	unlink(path);
	rmdir(dir);
	if (failed)
		return 1;

	printf("\n| front-end | alone p50 / p99 µs | beside %d hostile p50 / p99 µs | p99 ratio |\n"
	       "| --- | ---: | ---: | ---: |\n", o.hostile);
	for (m = 0; m < 2; m++)
		printf("| %s | %.0f / %.0f | %.0f / %.0f | %.2fx |\n", mode_names[m],
		       median(p50[m][0], o.rounds), median(p99[m][0], o.rounds),
		       median(p50[m][1], o.rounds), median(p99[m][1], o.rounds),
		       median(ratio[m], o.rounds));
	printf("\n(medians over %d rounds; the ratio is the median of per-round ratios)\n"
	       "backend: %ld hand-offs served, %ld refusals, %ld -ETIME reports, %ld bad "
	       "messages, %ld other errors; fds %d before, %d after\n",
	       o.rounds, rep.served, rep.refused, rep.overdue, rep.dropped, rep.other,
	       rep.fds_before, rep.fds_after);
	if (rep.fds_after != rep.fds_before || rep.other) {
		printf("FAIL: the backend %s\n", rep.other ? "reported unexpected errors"
							   : "kept fds of front-ends that left");
		return 1;
	}
	if (o.smoke)
		printf("smoke: every hand-off served, no fd kept (targets are not judged in a "
		       "smoke run)\n");
	else
		for (m = 0; m < 2; m++)
			printf("target: p99 beside hostile front-ends at most 2x alone, %s: %.2fx, "
			       "%s\n", mode_names[m], median(ratio[m], o.rounds),
			       median(ratio[m], o.rounds) <= 2 ? "met" : "missed");
	return 0;
}
