// SPDX-License-Identifier: MIT
/*
 * fdpass_listen in a directory that others change while it works: the mode
 * goes to the bound socket and to nothing else, whatever a user who may
 * write the directory swaps in (issue 11); of callers racing for one path
 * exactly one wins and a live listener is never taken over (issue 14); and
 * nothing the library removes is a file other than its own socket. Each
 * test races real processes for a bounded number of rounds and time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/magic.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

/* Each race ends at whichever comes first. */
#define MAX_ROUNDS 4000
#define MAX_MS 6000

#define SECRET "root's secret\n"

/* ---- a process that changes a directory while the test calls the library ---- */

/*
 * The racer calls step(r, n), n counting from 0, while go holds the round
 * it was started for and step returns 1; go 0 pauses it. It acknowledges
 * each round once it has made a few steps, and again as it stops racing.
 * It lives in shared memory, and runs on another CPU than the test, if
 * there are two: the race must run while the library works, not before.
 */
struct racer {
	int go, started, ack, stop, ready;
	int cpu; /* the CPU it runs on, or -1 */
	cpu_set_t parent_cpus;
	uid_t uid; /* the user it races as */
	gid_t gid;
	int (*step)(struct racer *r, unsigned long n);
	char dir[256];    /* the directory it changes */
	char path[300];   /* the socket file's path there */
	char target[300]; /* a file it points symbolic links at */
	char other[300];  /* a file it swaps with path */
};

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

/*
 * Flags in shared memory between the test and its processes. A waiter
 * sleeps on a futex rather than spinning: on a busy machine a spinning
 * process would hold up the one it waits for.
 */
static void flag_set(int *p, int v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
	syscall(SYS_futex, p, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Sleep while *p is v, at most ms; returns *p. */
static int flag_wait_change(int *p, int v, int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	if (LOAD(p) == v)
		syscall(SYS_futex, p, FUTEX_WAIT, v, &ts, NULL, 0);
	return LOAD(p);
}

/* Wait until *v is round: 0, or -1 after 10 s. */
static int wait_for(int *v, int round)
{
	int64_t end = tl_now_ms() + 10000;
	int now;

	while ((now = LOAD(v)) != round)
		if (tl_now_ms() > end)
			return -1;
		else
			flag_wait_change(v, now, 10);
	return 0;
}

static int racer_main(void *arg)
{
	struct racer *r = arg;
	unsigned long n;
	int last = 0, g;

	if (r->cpu >= 0) {
		cpu_set_t one;

		CPU_ZERO(&one);
		CPU_SET(r->cpu, &one);
		sched_setaffinity(0, sizeof(one), &one);
	}
	if (r->uid != getuid() &&
	    (setgroups(0, NULL) < 0 || setgid(r->gid) < 0 || setuid(r->uid) < 0))
		return 1;
	flag_set(&r->ready, 1);
	for (;;) {
		while ((g = LOAD(&r->go)) == 0 || g == last) {
			if (LOAD(&r->stop))
				return 0;
			flag_wait_change(&r->go, g, 100);
		}
		for (n = 0; LOAD(&r->go) == g && r->step(r, n); n++)
			if (n == 4)
				flag_set(&r->started, g);
		if (LOAD(&r->started) != g)
			flag_set(&r->started, g);
		while (LOAD(&r->go) == g)
			flag_wait_change(&r->go, g, 100);
		flag_set(&r->ack, g);
		last = g;
	}
}

static struct racer *racer_new(int (*step)(struct racer *r, unsigned long n), uid_t uid,
			       gid_t gid)
{
	struct racer *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(r != MAP_FAILED);
	memset(r, 0, sizeof(*r));
	r->step = step;
	r->uid = uid;
	r->gid = gid;
	return r;
}

static pid_t racer_start(struct racer *r)
{
	cpu_set_t cpus;
	pid_t pid;
	int c, first = -1;

	r->cpu = -1;
	assert_int_equal(sched_getaffinity(0, sizeof(r->parent_cpus), &r->parent_cpus), 0);
	for (c = 0; c < CPU_SETSIZE && r->cpu < 0; c++)
		if (CPU_ISSET(c, &r->parent_cpus)) {
			if (first < 0)
				first = c;
			else
				r->cpu = c;
		}
	if (r->cpu >= 0) {
		CPU_ZERO(&cpus);
		CPU_SET(first, &cpus);
		assert_int_equal(sched_setaffinity(0, sizeof(cpus), &cpus), 0);
	}
	pid = tl_fork(racer_main, r);
	wait_for(&r->ready, 1);
	return pid;
}

/* Start racing for round, and return once the racer is under way. */
static void racer_go(struct racer *r, int round)
{
	int64_t end = tl_now_ms() + 10000;
	unsigned spins = 0;

	flag_set(&r->go, round);
	/* Spin: a sleeper would wake up only after the racer's first burst. */
	while (LOAD(&r->started) != round) {
		if (++spins % 1024 == 0) {
			assert_true(tl_now_ms() < end);
			if (r->cpu < 0)
				sched_yield();
		}
	}
}

/* Stop racing after round: 0 once the racer has stopped, -1 if it did not. */
static int racer_pause(struct racer *r, int round)
{
	flag_set(&r->go, 0);
	return wait_for(&r->ack, round);
}

static void racer_end(struct racer *r, pid_t pid)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	flag_set(&r->go, 0);
	tl_wait_child(pid);
	sched_setaffinity(0, sizeof(r->parent_cpus), &r->parent_cpus);
	munmap(r, sizeof(*r));
}

/* ---- small helpers ---- */

static void empty_dir(const char *dir, mode_t mode)
{
	int tries = 0;

	do
		tl_rmdir(dir);
	while (mkdir(dir, mode) < 0 && errno == EEXIST && ++tries < 3);
	if (chmod(dir, mode) < 0) /* whatever the umask */
		fail_msg("cannot make %s afresh: %s", dir, strerror(errno));
}

static int socket_type(int flags)
{
	return flags & FDPASS_SEQPACKET ? SOCK_SEQPACKET : SOCK_STREAM;
}

/* Does a connection to the socket file at path reach lfd (non-blocking)? */
static int reaches(const char *path, int lfd, int flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int c = socket(AF_UNIX, socket_type(flags) | SOCK_CLOEXEC, 0), a = -1;

	assert_true(c >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		a = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (a >= 0)
		close(a);
	close(c);
	return a >= 0;
}

/* A socket file nobody listens on. */
static void make_stale(const char *path, int flags)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, socket_type(flags) | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

/* The file at path is root's, mode 0600, and says SECRET; NULL or what is wrong. */
static const char *target_untouched(const char *path)
{
	char buf[64] = { 0 };
	struct stat st;
	int fd;

	if (lstat(path, &st) < 0)
		return "gone";
	if (st.st_uid != 0 || st.st_gid != 0)
		return "owner changed";
	if ((st.st_mode & 07777) != 0600)
		return "mode changed";
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return "cannot be opened";
	if (read(fd, buf, sizeof(buf) - 1) != (ssize_t)strlen(SECRET) || strcmp(buf, SECRET)) {
		close(fd);
		return "content changed";
	}
	close(fd);
	return NULL;
}

/*
 * lfd listens at a socket file in dir (at path, or wherever a racer moved
 * it), with mode and owned by root: NULL, or what is wrong.
 */
static const char *listens_in(const char *dir, int lfd, int flags, mode_t mode)
{
	char entry[600];
	const char *why = "no socket file in the directory reaches it";
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((e = readdir(d))) {
		snprintf(entry, sizeof(entry), "%s/%s", dir, e->d_name);
		if (lstat(entry, &st) < 0 || !S_ISSOCK(st.st_mode) || !reaches(entry, lfd, flags))
			continue;
		why = (st.st_mode & 07777) != mode ? "wrong mode" : st.st_uid != 0 ? "wrong owner" : NULL;
		break;
	}
	closedir(d);
	return why;
}

/* ---- issue 11: the mode goes to our socket only ---- */

/*
 * What a user who may write the directory can do, one kind of attack per
 * round: put a symbolic link to the target where the socket file is to be
 * (after moving away what is there), swap one in with RENAME_EXCHANGE, try
 * a hard link, or replace the library's private directories (any directory
 * in the directory) with directories of its own holding such links. It
 * never destroys anything, so that the test can find where the socket file
 * went, and it stops after a while so that the directory stays small.
 */
#define MAX_STEPS 64

static int attack(struct racer *r, unsigned long n)
{
	char name[600], sub[700];
	struct dirent *e;
	DIR *d;

	switch (LOAD(&r->go) % 8) {
	case 0: /* the attack of issue 11, in half of the rounds */
	case 2:
	case 4:
	case 6:
		snprintf(name, sizeof(name), "%s/g.%lu", r->dir, n);
		rename(r->path, name);
		symlink(r->target, r->path);
		break;
	case 1:
	case 5:
		snprintf(name, sizeof(name), "%s/x.%lu", r->dir, n);
		symlink(r->target, name);
		if (renameat2(AT_FDCWD, name, AT_FDCWD, r->path, RENAME_EXCHANGE) < 0)
			renameat2(AT_FDCWD, name, AT_FDCWD, r->path, RENAME_NOREPLACE);
		break;
	case 7:
		link(r->target, r->path); /* refused with protected_hardlinks */
		break;
	case 3:
		d = opendir(r->dir);
		if (!d)
			break;
		while ((e = readdir(d)))
			if (e->d_type == DT_DIR && strncmp(e->d_name, "own.", 4) &&
			    strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
				snprintf(name, sizeof(name), "%s/%s", r->dir, e->d_name);
				snprintf(sub, sizeof(sub), "%s/own.%lu", r->dir, n);
				if (rename(name, sub) < 0)
					continue;
				mkdir(name, 0777);
				chmod(name, 0777);
				snprintf(sub, sizeof(sub), "%s/s", name);
				symlink(r->target, sub);
				snprintf(sub, sizeof(sub), "%s/t", name);
				symlink(r->target, sub);
			}
		closedir(d);
		break;
	}
	return n + 1 < MAX_STEPS;
}

static void test_listen_mode_goes_to_own_socket_only(void **state)
{
	struct passwd *nobody = getpwnam("nobody");
	int listening = 0, eexist = 0, eaddrinuse = 0, other = 0, first_other = 0, round;
	char failure[300] = "";
	struct racer *r;
	int64_t end;
	pid_t pid;
	int fd;

	if (geteuid() != 0 || !nobody) {
		print_message("skipped: needs root and a user \"nobody\" to race as\n");
		skip();
	}
	/* Only root may change the test's directory; anyone the shared one in it. */
	assert_int_equal(chmod(tl_dir_path(state), 0711), 0);
	r = racer_new(attack, nobody->pw_uid, nobody->pw_gid);
	tl_path_in(r->dir, sizeof(r->dir), state, "shared");
	tl_path_in(r->target, sizeof(r->target), state, "target");
	snprintf(r->path, sizeof(r->path), "%s/app.sock", r->dir);
	fd = open(r->target, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, SECRET, strlen(SECRET)), (ssize_t)strlen(SECRET));
	close(fd);
	empty_dir(r->dir, 0777);
	pid = racer_start(r);

	end = tl_now_ms() + MAX_MS;
	for (round = 1; round <= MAX_ROUNDS && tl_now_ms() < end && !failure[0]; round++) {
		int flags = FDPASS_NONBLOCK | (round % 2 ? FDPASS_SEQPACKET : 0);
		const char *why;

		empty_dir(r->dir, 0777);
		racer_go(r, round);
		fd = fdpass_listen(r->path, 0666, flags);
		if (racer_pause(r, round) < 0) {
			snprintf(failure, sizeof(failure), "the racer does not stop");
			break;
		}
		if ((why = target_untouched(r->target)))
			snprintf(failure, sizeof(failure), "round %d: the target's %s", round, why);
		else if (fd >= 0 && (why = listens_in(r->dir, fd, flags, 0666)))
			snprintf(failure, sizeof(failure), "round %d: the socket: %s", round, why);
		else if (fd < 0 && fd != -EEXIST && fd != -EADDRINUSE && !other++)
			first_other = fd; /* reported at the end: the target matters more */
		listening += fd >= 0;
		eexist += fd == -EEXIST;
		eaddrinuse += fd == -EADDRINUSE;
		if (fd >= 0)
			close(fd);
	}
	racer_end(r, pid);
	if (failure[0])
		fail_msg("%s", failure);
	print_message("%d calls raced: %d listening, %d -EEXIST (a link in the way), "
		      "%d -EADDRINUSE\n", round - 1, listening, eexist, eaddrinuse);
	if (other)
		fail_msg("%d calls failed otherwise, the first with %s", other,
			 fdpass_strerror(first_other));
	/* The race must be a race: some calls got through it. */
	assert_true(listening > 0);
}

/* ---- without /proc ---- */

/* Any entry of dir whose name begins with prefix? */
static int has_entry(const char *dir, const char *prefix)
{
	struct dirent *e;
	DIR *d = opendir(dir);
	int found = 0;

	while (d && (e = readdir(d)))
		found |= !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return found;
}

/*
 * In a mount namespace of its own, with an empty tmpfs over /proc: the
 * private directory is reached by its path. 0, 77 if /proc cannot be
 * hidden, or the number of the check that failed.
 */
static int listen_without_proc(void *arg)
{
	const char *dir = arg;
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	char path[320], longdir[300], prefix[300];
	struct stat st;
	int fd;

	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("none", "/proc", "tmpfs", 0, NULL) < 0)
		return 77;
	if (access("/proc/self/fd", F_OK) == 0)
		return 77;
	snprintf(path, sizeof(path), "%s/np.sock", dir);
	fd = fdpass_listen(path, 0640, FDPASS_NONBLOCK);
	if (fd < 0)
		return 1;
	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0640)
		return 2;
	/* Bound by the private directory's path. */
	snprintf(prefix, sizeof(prefix), "%s/.fdpass-", dir);
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    strncmp(sa.sun_path, prefix, strlen(prefix)) || !strstr(sa.sun_path, "/.sock"))
		return 3;
	if (!reaches(path, fd, 0))
		return 4;
	close(fd);
	/* Stale now: replaced, the stale file checked in the private directory. */
	fd = fdpass_listen(path, 0600, FDPASS_NONBLOCK);
	if (fd < 0 || !reaches(path, fd, 0))
		return 5;
	close(fd);
	unlink(path);
	/* A directory whose private directory's path does not fit in sun_path. */
	snprintf(longdir, sizeof(longdir), "%s/%0*d", dir, (int)(90 - strlen(dir) - 1), 0);
	if (mkdir(longdir, 0700) < 0)
		return 6;
	snprintf(path, sizeof(path), "%s/a", longdir);
	if (fdpass_listen(path, 0600, 0) != -ENAMETOOLONG)
		return 7;
	if (has_entry(dir, ".fdpass-") || has_entry(longdir, ".fdpass-") || has_entry(longdir, "a"))
		return 8;
	return 0;
}

static void test_listen_without_proc(void **state)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		print_message("skipped: needs root to hide /proc in a mount namespace\n");
		skip();
	}
	pid = tl_fork(listen_without_proc, (void *)tl_dir_path(state));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77) {
		print_message("skipped: cannot mount over /proc in a mount namespace\n");
		skip();
	}
	if (WEXITSTATUS(status) != 0)
		fail_msg("check %d failed", WEXITSTATUS(status));
}

/* ---- issue 14: racing callers, exactly one wins ---- */

/*
 * A socket bound at the path that does not listen yet refuses connections,
 * like a stale file; but it is in use (another caller, between its bind()
 * and its listen()), and is left alone.
 */
static void test_bound_socket_is_in_use(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat before, after;
	int type, bound, fd;

	tl_path_in(sa.sun_path, sizeof(sa.sun_path), state, "bound.sock");
	for (type = 0; type < 2; type++) {
		int flags = type ? FDPASS_SEQPACKET : 0;

		bound = socket(AF_UNIX, socket_type(flags) | SOCK_CLOEXEC, 0);
		assert_true(bound >= 0);
		assert_int_equal(bind(bound, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(lstat(sa.sun_path, &before), 0);
		assert_int_equal(fdpass_listen(sa.sun_path, 0600, flags), -EADDRINUSE);
		assert_int_equal(fdpass_listen(sa.sun_path, 0600, flags ^ FDPASS_SEQPACKET),
				 -EADDRINUSE);
		assert_int_equal(lstat(sa.sun_path, &after), 0);
		assert_true(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
		/* Once it is gone, its file is stale and replaced. */
		close(bound);
		fd = fdpass_listen(sa.sun_path, 0600, flags);
		assert_true(fd >= 0);
		assert_int_equal(lstat(sa.sun_path, &after), 0);
		assert_false(before.st_ino == after.st_ino && before.st_dev == after.st_dev);
		assert_true(reaches(sa.sun_path, fd, flags));
		close(fd);
		assert_int_equal(unlink(sa.sun_path), 0);
	}
}

#define WORKERS 4

/* What is at the path as a round begins. */
enum start { EMPTY, STALE, LIVE };

struct arena {
	int round;  /* parent: call fdpass_listen for this round */
	int verify; /* parent: the winner of this round takes the tagged connection */
	int stop;
	int flags;
	int done[WORKERS];    /* a worker's last round called */
	int result[WORKERS];  /* its result: 1 listening, or the error */
	int checked[WORKERS]; /* a winner's last round verified */
	int ok[WORKERS];      /* it took the parent's connection */
	char path[300];
};

/* Set before each fork: the child keeps its copy. */
static int worker_index;

/* Accept until a connection brings tag (the losers' probes bring nothing). */
static int takes_tag(int lfd, unsigned char tag)
{
	int64_t end = tl_now_ms() + 5000;

	while (tl_now_ms() < end) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		unsigned char got;
		int c;

		if (poll(&p, 1, 100) <= 0)
			continue;
		c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		p.fd = c;
		if (poll(&p, 1, 1000) == 1 && recv(c, &got, 1, 0) == 1 && got == tag) {
			close(c);
			return 1;
		}
		close(c);
	}
	return 0;
}

static int worker_main(void *arg)
{
	struct arena *a = arg;
	int w = worker_index, last = 0, round, fd, v;

	for (;;) {
		while ((round = LOAD(&a->round)) == last) {
			if (LOAD(&a->stop))
				return 0;
			flag_wait_change(&a->round, last, 100);
		}
		fd = fdpass_listen(a->path, 0600, a->flags);
		a->result[w] = fd >= 0 ? 1 : fd;
		flag_set(&a->done[w], round);
		last = round;
		if (fd < 0)
			continue;
		while ((v = LOAD(&a->verify)) != round)
			if (LOAD(&a->stop)) {
				close(fd);
				return 0;
			} else {
				flag_wait_change(&a->verify, v, 100);
			}
		a->ok[w] = takes_tag(fd, (unsigned char)round);
		close(fd);
		flag_set(&a->checked[w], round);
	}
}

/* Wait until every slot of v[] holds round: 0, or -1 after 10 s (each). */
static int all_reach(int *v, size_t n, int round)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (wait_for(&v[i], round) < 0)
			return -1;
	return 0;
}

/* One round: NULL, or what went wrong. */
static const char *listen_round(struct arena *a, int round, enum start start, char *why,
				size_t size)
{
	int flags = a->flags, lfd = -1, winner = -1, winners = 0, w, c;
	unsigned char tag = (unsigned char)round;

	unlink(a->path);
	if (start == STALE)
		make_stale(a->path, flags);
	else if (start == LIVE)
		assert_true((lfd = fdpass_listen(a->path, -1, flags | FDPASS_NONBLOCK)) >= 0);
	flag_set(&a->round, round);
	if (all_reach(a->done, WORKERS, round) < 0) {
		snprintf(why, size, "round %d: the workers do not answer", round);
		goto out;
	}
	for (w = 0; w < WORKERS; w++)
		if (a->result[w] == 1) {
			winner = w;
			winners++;
		} else if (a->result[w] != -EADDRINUSE) {
			snprintf(why, size, "round %d: a loser got %s", round,
				 fdpass_strerror(a->result[w]));
		}
	if (winners != (start == LIVE ? 0 : 1)) {
		snprintf(why, size, "round %d (%s): %d callers listening", round,
			 start == EMPTY ? "no file" : start == STALE ? "stale file" : "live listener",
			 winners);
		goto out;
	}
	/* Whoever listens at the path gets the tagged connection. */
	c = fdpass_connect(a->path, flags, 1000);
	if (c < 0 || send(c, &tag, 1, MSG_NOSIGNAL) != 1)
		snprintf(why, size, "round %d: cannot connect", round);
	if (c >= 0)
		close(c);
	if (winner >= 0) {
		flag_set(&a->verify, round);
		if (all_reach(&a->checked[winner], 1, round) < 0 || !a->ok[winner])
			snprintf(why, size, "round %d: the winner does not listen at the path", round);
	} else if (!why[0] && !takes_tag(lfd, tag)) {
		snprintf(why, size, "round %d: the live listener was taken over", round);
	}
out:
	if (lfd >= 0)
		close(lfd);
	return why[0] ? why : NULL;
}

static void test_racing_listeners_one_wins(void **state)
{
	struct arena *a = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int counts[3] = { 0 }, round, w;
	char why[300] = "";
	pid_t pids[WORKERS];
	int64_t end;

	assert_true(a != MAP_FAILED);
	memset(a, 0, sizeof(*a));
	tl_path_in(a->path, sizeof(a->path), state, "race.sock");
	for (w = 0; w < WORKERS; w++) {
		worker_index = w;
		pids[w] = tl_fork(worker_main, a);
	}
	end = tl_now_ms() + MAX_MS;
	for (round = 1; round <= MAX_ROUNDS / 2 && tl_now_ms() < end; round++) {
		enum start start = (enum start)(round % 3);

		a->flags = round % 4 == 1 ? FDPASS_SEQPACKET : 0;
		if (listen_round(a, round, start, why, sizeof(why)))
			break;
		counts[start]++;
	}
	__atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
	flag_set(&a->round, a->round);
	flag_set(&a->verify, a->verify);
	for (w = 0; w < WORKERS; w++)
		tl_wait_child(pids[w]);
	munmap(a, sizeof(*a));
	if (why[0])
		fail_msg("%s", why);
	print_message("%d rounds of %d callers: %d with no file, %d with a stale file, "
		      "%d with a live listener\n", round - 1, WORKERS, counts[EMPTY],
		      counts[STALE], counts[LIVE]);
}

/* ---- nothing removed but the library's own socket ---- */

/* Swap the socket file's path with another file, back and forth. */
static int swap(struct racer *r, unsigned long n)
{
	(void)n;
	renameat2(AT_FDCWD, r->path, AT_FDCWD, r->other, RENAME_EXCHANGE);
	return 1;
}

/* The file behind fd still has a name: it was not removed. */
static int still_linked(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_nlink > 0;
}

static void test_removals_spare_foreign_files(void **state)
{
	int rounds[2] = { 0 }, round, which, fd, keep, lfd;
	char failure[300] = "";
	fdpass_backend *b;
	struct racer *r;
	int64_t end;
	pid_t pid;

	r = racer_new(swap, getuid(), getgid());
	tl_path_in(r->path, sizeof(r->path), state, "own.sock");
	tl_path_in(r->other, sizeof(r->other), state, "other");
	pid = racer_start(r);

	end = tl_now_ms() + MAX_MS;
	for (round = 1; round <= MAX_ROUNDS && tl_now_ms() < end && !failure[0]; round++) {
		/*
		 * Odd rounds: fdpass_backend_free removes its socket file while
		 * it is swapped with a regular file. Even rounds: fdpass_listen
		 * replaces a stale socket file while it is swapped with the
		 * socket file of a live listener.
		 */
		which = round % 2;
		fd = lfd = -1;
		unlink(r->path);
		unlink(r->other);
		if (which) {
			b = NULL;
			assert_int_equal(fdpass_backend_new(&b, r->path, 0600, 0), 0);
			keep = open(r->other, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC, 0600);
		} else {
			make_stale(r->path, 0);
			lfd = fdpass_listen(r->other, 0600, FDPASS_NONBLOCK);
			assert_true(lfd >= 0);
			keep = open(r->other, O_PATH | O_CLOEXEC);
		}
		assert_true(keep >= 0);
		racer_go(r, round);
		if (which)
			fdpass_backend_free(b);
		else
			fd = fdpass_listen(r->path, 0600, 0);
		if (racer_pause(r, round) < 0)
			snprintf(failure, sizeof(failure), "the racer does not stop");
		else if (!still_linked(keep))
			snprintf(failure, sizeof(failure), "round %d: %s removed", round,
				 which ? "fdpass_backend_free: a regular file"
				       : "fdpass_listen: a live listener's socket file");
		else if (!which && fd < 0 && fd != -EEXIST && fd != -EADDRINUSE)
			snprintf(failure, sizeof(failure), "round %d: %s", round, fdpass_strerror(fd));
		rounds[which]++;
		close(keep);
		if (fd >= 0)
			close(fd);
		if (lfd >= 0)
			close(lfd);
	}
	racer_end(r, pid); /* the files go with the test's directory */
	if (failure[0])
		fail_msg("%s", failure);
	print_message("%d removals by fdpass_backend_free, %d stale replacements by "
		      "fdpass_listen, each raced by swaps\n", rounds[1], rounds[0]);
}

int main(void)
{
	struct statfs fs;
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_listen_mode_goes_to_own_socket_only),
		TL_DIR_TEST(test_listen_without_proc),
		TL_DIR_TEST(test_bound_socket_is_in_use),
		TL_DIR_TEST(test_racing_listeners_one_wins),
		TL_DIR_TEST(test_removals_spare_foreign_files),
	};

	/*
	 * A private directory costs fdpass_listen a mkdir and a rmdir: cheap on
	 * tmpfs (where /run is), up to milliseconds on a disk file system that
	 * is busy. Race on tmpfs if there is one, to get through more rounds.
	 */
	if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
