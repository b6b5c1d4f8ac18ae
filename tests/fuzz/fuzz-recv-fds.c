// SPDX-License-Identifier: MIT
/*
 * libFuzzer target, structure-aware: fdpass_recv(), fdpass_recv_fds() and
 * fdpass_recv_meta() reading what a peer sent over a real socketpair, with
 * up to 253 real fds of various kinds attached to each sendmsg().
 *
 * Input: a 5-byte header, then the sendmsg() calls.
 *   byte 0  bit 0     SOCK_SEQPACKET instead of SOCK_STREAM
 *           bits 1-2  the receive call: 0 fdpass_recv, 1 fdpass_recv_fds,
 *                     2 fdpass_recv_meta, 3 a mix chosen by byte 4
 *           bits 3-4  credentials on the receiving socket: 0 none,
 *                     1 SO_PASSCRED before the sends, 2 SO_PASSCRED after
 *                     them, 3 SO_PASSPIDFD before them (Linux 6.5; an fd
 *                     comes with every message)
 *           bits 5-6  waiting: 0 timeout 0, 1 FDPASS_NONBLOCK, 2 timeout -1
 *                     (blocking; never waits, the peer has closed), 3 100 ms
 *           bit 7     lower RLIMIT_NOFILE while receiving, so that only a few
 *                     fds fit and the kernel truncates (MSG_CTRUNC)
 *   byte 1  room: the size of the receiver's fd array (0-255; recv_meta
 *           gets at least 1)
 *   byte 2  bits 0-6: fdpass_recv_fds's buffer length minus 1;
 *           bit 7: FDPASS_WAITALL
 *   byte 3  bits 0-3: fds free under the lowered limit; bits 4-5:
 *           recv_meta's max_payload (default, 64, 16, FDPASS_META_LIMIT)
 *   byte 4  the mix: call i uses bits 2i%8..2i%8+1 (modulo 3)
 * Then up to 16 sendmsg() calls, each: a byte k (bits 0-1: k + 1 type
 * bytes follow when fds do), a byte n (n modulo 254 fds attached), the
 * type bytes (fd i is of kind type[i % (k + 1)] modulo 12: pipe ends,
 * stream and packet socketpair ends, /dev/null, a memfd, an unlinked temp
 * file, an eventfd, an O_PATH fd, an epoll fd, the receiving socket itself),
 * 2 bytes of data length (big-endian; cut to what is left), the data. A
 * call the kernel refuses is skipped. Then the sender closes, and the
 * receiver calls until end of stream or an error.
 *
 * The kinds of fd are opened once per process, in LLVMFuzzerInitialize();
 * each input sends dups of the kinds it uses, closed after the sends.
 *
 * Checked (abort() on failure, so that libFuzzer keeps the input):
 *  - after every input the process has exactly as many fds open as before
 *    it (/proc/self/fd), so no received fd is ever lost or leaked;
 *  - every fd handed out is open, close-on-exec, one of the objects sent
 *    (same device and inode), not handed out twice in one call, and no
 *    more than the room given; failures hand out none (fd -1, *nfds 0,
 *    *meta NULL);
 *  - results are in range: recv_fds returns at most len bytes, and exactly
 *    len with FDPASS_WAITALL on a stream; errors are ones the call
 *    documents (never -EAGAIN, -ETIMEDOUT or -ETIME: the peer has closed);
 *  - every successful call consumes at least one byte or packet: the loop
 *    ends within the number of bytes and packets sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76 /* Linux 6.5 */
#endif

#define FUZZ_MAX_INPUT 65536
#define MAX_SENDS 16
#define KINDS 12
#define SELF (KINDS - 1) /* the receiving socket */

static struct rlimit saved_limit;
static int limit_lowered;

static void restore_limit(void)
{
	if (limit_lowered) {
		setrlimit(RLIMIT_NOFILE, &saved_limit);
		limit_lowered = 0;
	}
}

/* The lowered limit first: what libFuzzer does after an abort needs fds. */
#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			restore_limit(); \
			tl_check_failed(__FILE__, __LINE__, #cond); \
		} \
	} while (0)

/* The kinds of fd, opened once; pool[SELF] stays -1 (it is per input). */
static int pool[KINDS];
static struct stat pool_stat[KINDS];

static int temp_file(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd = open(dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	/* No O_TMPFILE there: make one and unlink it. */
	snprintf(path, sizeof(path), "%s/fuzz-recv-fds-XXXXXX", dir ? dir : "/tmp");
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int p[2], s[2], q[2], i;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, q) == 0);
	pool[0] = p[0];
	pool[1] = p[1];
	pool[2] = s[0];
	pool[3] = s[1];
	pool[4] = q[0];
	pool[5] = open("/dev/null", O_RDWR | O_CLOEXEC);
	pool[6] = memfd_create("fuzz-recv-fds", MFD_CLOEXEC);
	pool[7] = temp_file();
	pool[8] = eventfd(0, EFD_CLOEXEC);
	pool[9] = open("/", O_PATH | O_CLOEXEC);
	pool[10] = epoll_create1(EPOLL_CLOEXEC);
	pool[SELF] = -1;
	close(q[1]); /* a packet socket whose peer is gone */
	for (i = 0; i < SELF; i++) {
		if (pool[i] < 0) { /* not on this system: /dev/null instead */
			fprintf(stderr, "fuzz-recv-fds: fd kind %d unavailable, using /dev/null\n", i);
			pool[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		CHECK(pool[i] >= 0);
		CHECK(fstat(pool[i], &pool_stat[i]) == 0);
	}
	CHECK(getrlimit(RLIMIT_NOFILE, &saved_limit) == 0);
	return 0;
}

/* ---- one input ---------------------------------------------------------- */

struct config {
	int seqpacket;
	int call;      /* 0-2, or 3: the mix */
	int mix;
	int cred;      /* 0 none, 1 PASSCRED before, 2 after, 3 PASSPIDFD */
	int flags, timeout_ms;
	int low_limit, headroom;
	size_t room, len;
	int waitall;
	size_t max_payload;
};

struct input {
	const uint8_t *p;
	size_t left;
};

static int take(struct input *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

/* A received fd: open, close-on-exec, one of the objects sent. */
static void check_fd(int fd, const struct stat *self)
{
	struct stat st;
	int i, flags = fcntl(fd, F_GETFD);

	CHECK(fd >= 0);
	CHECK(flags >= 0 && (flags & FD_CLOEXEC));
	CHECK(fstat(fd, &st) == 0);
	for (i = 0; i < SELF; i++)
		if (st.st_dev == pool_stat[i].st_dev && st.st_ino == pool_stat[i].st_ino)
			return;
	CHECK(st.st_dev == self->st_dev && st.st_ino == self->st_ino);
}

static void check_fds(const int *fds, size_t n, const struct stat *self)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		check_fd(fds[i], self);
		for (j = 0; j < i; j++)
			CHECK(fds[i] != fds[j]);
	}
}

static int documented(int r, const int *errs)
{
	for (; *errs; errs++)
		if (r == -*errs)
			return 1;
	return 0;
}

static const int recv_errors[] = { ENOMSG, ETOOMANYREFS, EXFULL, EPROTO, EBADMSG, EMSGSIZE, 0 };
static const int recv_fds_errors[] = { ETOOMANYREFS, EXFULL, EPROTO, EMSGSIZE, EBADMSG,
				       ECONNRESET, 0 };
static const int recv_meta_errors[] = { EBADMSG, EPROTONOSUPPORT, EMSGSIZE, ECONNRESET,
					ENOMSG, ETOOMANYREFS, EXFULL, EPROTO, 0 };

static void unexpected(const char *call, int r)
{
	restore_limit();
	fprintf(stderr, "fuzz-recv-fds: %s returned %d (%s), not a documented error here\n", call,
		r, fdpass_strerror(r));
	abort();
}

/* One call of the chosen function; 1 to go on, 0 at end of stream or error. */
static int receive_once(int sock, const struct config *c, int call, const struct stat *self)
{
	size_t room = c->room, n, i;
	int *fds = room ? malloc(room * sizeof(int)) : NULL;
	int r;

	CHECK(room == 0 || fds != NULL);
	for (i = 0; i < room; i++)
		fds[i] = -2;
	if (call == 0) {
		int fd = -2;

		r = fdpass_recv(sock, &fd);
		if (r == 1) {
			check_fd(fd, self);
			close(fd);
		} else {
			CHECK(fd == -1);
			if (r < 0 && !documented(r, recv_errors))
				unexpected("fdpass_recv", r);
			if (r == -EMSGSIZE)
				CHECK(c->seqpacket);
		}
		CHECK(r <= 1);
	} else if (call == 1) {
		unsigned char *buf = malloc(c->len);
		ssize_t got;

		CHECK(buf != NULL);
		n = room;
		got = fdpass_recv_fds(sock, fds, &n, buf, c->len,
				      c->flags | (c->waitall ? FDPASS_WAITALL : 0), c->timeout_ms);
		free(buf);
		if (got > 0) {
			CHECK((size_t)got <= c->len);
			CHECK(n <= room && n <= FDPASS_MAX_FDS);
			if (c->waitall && !c->seqpacket)
				CHECK((size_t)got == c->len);
			check_fds(fds, n, self);
			for (i = 0; i < n; i++)
				close(fds[i]);
		} else {
			CHECK(n == 0);
			if (got < 0 && !documented((int)got, recv_fds_errors))
				unexpected("fdpass_recv_fds", (int)got);
			if (got == -EMSGSIZE)
				CHECK(c->seqpacket);
		}
		r = got > 0 ? 1 : (int)got;
	} else {
		fdpass_meta *m = (fdpass_meta *)&n; /* must be overwritten */
		size_t mroom = room ? room : 1;

		if (!fds) {
			fds = malloc(sizeof(int));
			CHECK(fds != NULL);
		}
		n = mroom;
		r = fdpass_recv_meta(sock, fds, &n, &m, c->max_payload, c->flags, c->timeout_ms);
		if (r == 1) {
			CHECK(n >= 1 || m != NULL);
			CHECK(n <= mroom && n <= FDPASS_MAX_FDS);
			check_fds(fds, n, self);
			for (i = 0; i < n; i++)
				close(fds[i]);
			if (!m)
				CHECK(n == 1); /* httpd's plain message: exactly one fd */
			fdpass_meta_free(m);
		} else {
			CHECK(n == 0 && m == NULL);
			if (r < 0 && !documented(r, recv_meta_errors))
				unexpected("fdpass_recv_meta", r);
		}
		CHECK(r <= 1);
	}
	free(fds);
	return r == 1;
}

/* One sendmsg() of n fds of the kinds in types[0..ntypes) and len bytes. */
static int send_one(int sock, int *dups, const uint8_t *types, size_t ntypes, size_t nfds,
		    const uint8_t *p, size_t len)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
	} control;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t i;

	if (nfds) {
		struct cmsghdr *cm;
		int *out;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		out = (int *)(void *)CMSG_DATA(cm);
		for (i = 0; i < nfds; i++) {
			int kind = types[i % ntypes] % KINDS;

			if (dups[kind] < 0) {
				dups[kind] = fcntl(pool[kind], F_DUPFD_CLOEXEC, 0);
				CHECK(dups[kind] >= 0);
			}
			memcpy(out + i, &dups[kind], sizeof(int));
		}
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
}

static void parse_config(struct input *in, struct config *c)
{
	static const size_t payloads[4] = { 0, 64, 16, FDPASS_META_LIMIT };
	int b0 = take(in), b1 = take(in), b2 = take(in), b3 = take(in), b4 = take(in);

	c->seqpacket = b0 & 1;
	c->call = (b0 >> 1) & 3;
	c->cred = (b0 >> 3) & 3;
	switch ((b0 >> 5) & 3) {
	case 0: c->flags = 0; c->timeout_ms = 0; break;
	case 1: c->flags = FDPASS_NONBLOCK; c->timeout_ms = -1; break;
	case 2: c->flags = 0; c->timeout_ms = -1; break;
	default: c->flags = 0; c->timeout_ms = 100; break;
	}
	c->low_limit = b0 >> 7;
	c->room = (size_t)b1;
	c->len = (size_t)(b2 & 0x7f) + 1;
	c->waitall = b2 >> 7;
	c->headroom = b3 & 15;
	c->max_payload = payloads[(b3 >> 4) & 3];
	c->mix = b4;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct config c;
	struct stat self;
	int before, sv[2], dups[KINDS], one = 1, sends, calls, bound, i;
	size_t bytes = 0;

	if (size < 5 || size > FUZZ_MAX_INPUT)
		return 0;
	parse_config(&in, &c);
	before = tl_count_fds();
	for (i = 0; i < KINDS; i++)
		dups[i] = -1;

	CHECK(socketpair(AF_UNIX, (c.seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0,
			 sv) == 0);
	CHECK(fstat(sv[1], &self) == 0);
	if (c.cred == 1)
		CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);
	if (c.cred == 3)
		setsockopt(sv[1], SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)); /* may be unknown */
	/* The receiving socket, sent in its own queue when a message asks for it. */
	dups[SELF] = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	CHECK(dups[SELF] >= 0);

	for (sends = 0; sends < MAX_SENDS && in.left > 0; sends++) {
		int k = take(&in), n = take(&in) % (FDPASS_MAX_FDS + 1);
		uint8_t types[4] = { 0, 0, 0, 0 };
		size_t ntypes = (size_t)(k & 3) + 1, len, t;

		for (t = 0; n > 0 && t < ntypes; t++)
			types[t] = (uint8_t)take(&in);
		len = (size_t)take(&in) << 8;
		len |= (size_t)take(&in);
		if (len > in.left)
			len = in.left;
		if (send_one(sv[0], dups, types, ntypes, (size_t)n, in.p, len))
			bytes += len;
		in.p += len;
		in.left -= len;
	}
	for (i = 0; i < KINDS; i++)
		if (dups[i] >= 0)
			close(dups[i]);
	close(sv[0]);
	if (c.cred == 2)
		CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == 0);

	if (c.low_limit) {
		struct rlimit low = saved_limit;

		low.rlim_cur = (rlim_t)tl_nth_free_fd(c.headroom);
		if (low.rlim_cur < saved_limit.rlim_cur) {
			CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
			limit_lowered = 1;
		}
	}
	/* Each successful call takes at least one byte or one packet. */
	bound = (int)bytes + sends + 2;
	for (calls = 0;; calls++) {
		int call = c.call < 3 ? c.call : ((c.mix >> (calls * 2 % 8)) & 3) % 3;

		CHECK(calls <= bound);
		if (!receive_once(sv[1], &c, call, &self))
			break;
	}
	restore_limit();
	close(sv[1]);

	if (tl_count_fds() != before) {
		fprintf(stderr, "fuzz-recv-fds: fd leak: %d fds open before the input, %d after\n",
			before, tl_count_fds());
		abort();
	}
	return 0;
}
