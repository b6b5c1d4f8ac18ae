// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the backend object (fdpass_backend_*) driven by up to
 * four front-end connections that send any bytes with any fds, split
 * anyhow, in any order with the receive calls, hang up and half-close.
 *
 * Input: a 1-byte configuration, then operations.
 *   byte 0  bit 0     SOCK_SEQPACKET listener (and front-ends)
 *           bits 1-2  fdpass_backend_set_max_fds(value + 1)
 *           bit 3     fdpass_backend_set_max_payload(64)
 *           bit 4     fdpass_backend_set_message_timeout(1): deadlines pass
 *           bit 5     fdpass_backend_set_idle_timeout(1)
 *           bit 6     allow another uid only: every front-end is refused
 *           bit 7     fdpass_backend_set_max_connections(2)
 * Each operation is a byte: bits 0-2 what, bits 3-4 which front-end (0-3),
 * bits 5-7 an argument:
 *   0  connect that front-end (if it is not connected)
 *   1  one sendmsg() on it: the argument (modulo 4) fds attached, then a
 *      length byte and that many data bytes (cut to what is left)
 *   2  a well-formed message with fdpass_send_meta(): argument bit 0 the
 *      plain form (one fd), else a metadata message with (argument >> 1)
 *      fds and a data record of the next byte's length from the input
 *   3  close it; 4  shutdown(SHUT_WR) it
 *   5  one receive call, timeout 0: the argument (modulo 4) chooses
 *      fdpass_backend_recv, _recv_meta, _recv_fds with room 1, with room 4
 *   6  receive calls until -EAGAIN (at most 16)
 *   7  poll fdpass_backend_fd() without waiting; one call if it is readable
 * The fds sent are the two ends of one pipe, opened once per process. At
 * the end the front-ends close and the backend is drained and freed.
 *
 * Checked (abort() on failure, so that libFuzzer keeps the input):
 *  - after every input the process has exactly the fds it had before it;
 *  - a hand-off hands out 1 to room fds, each open, close-on-exec and one
 *    of the pipe's ends, metadata only when asked for, and flags that
 *    agree with what was handed out; any other result hands out nothing
 *    (fd -1, *nfds 0, *meta NULL, flags 0) and is an error the calls
 *    document, never 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 16384
#define FRONTENDS 4
#define MAX_OPS 256

static int pipe_fds[2] = { -1, -1 };
static struct stat pipe_st[2];
static char name[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	TL_CHECK(pipe2(pipe_fds, O_CLOEXEC) == 0);
	TL_CHECK(fstat(pipe_fds[0], &pipe_st[0]) == 0 && fstat(pipe_fds[1], &pipe_st[1]) == 0);
	snprintf(name, sizeof(name), "@fdpass-fuzz-backend-%ld", (long)getpid());
	return 0;
}

static int is_pipe_end(int fd)
{
	struct stat st;
	int i;

	if (fstat(fd, &st) < 0)
		return 0;
	for (i = 0; i < 2; i++)
		if (st.st_dev == pipe_st[i].st_dev && st.st_ino == pipe_st[i].st_ino)
			return 1;
	return 0;
}

static int documented(int r)
{
	static const int errs[] = { EAGAIN, EPERM, ENOMSG, ETOOMANYREFS, EXFULL, EPROTO,
				    EBADMSG, EMSGSIZE, EPROTONOSUPPORT, ECONNRESET, ETIME,
				    EMFILE, ENFILE };
	size_t i;

	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (r == -errs[i])
			return 1;
	return 0;
}

/* One receive call, timeout 0, checked. Returns its result. */
static int receive(fdpass_backend *b, int how)
{
	static const size_t rooms[] = { 1, 1, 1, 4 };
	int fds[4] = { -7, -7, -7, -7 }, r, flags;
	size_t n = rooms[how], room = n, i;
	fdpass_meta *m = (fdpass_meta *)&n; /* must be overwritten */
	int asked = how != 0;

	switch (how) {
	case 0:
		r = fdpass_backend_recv(b, fds, 0);
		m = NULL;
		n = r == 1;
		break;
	case 1:
		r = fdpass_backend_recv_meta(b, fds, &m, 0);
		n = r == 1;
		break;
	default:
		r = fdpass_backend_recv_fds(b, fds, &n, &m, 0);
		break;
	}
	flags = fdpass_backend_last_flags(b);
	TL_CHECK(flags >= 0);
	if (r != 1) {
		TL_CHECK(documented(r));
		TL_CHECK(how >= 2 ? n == 0 : fds[0] == -1);
		TL_CHECK(m == NULL);
		TL_CHECK(flags == 0);
		return r;
	}
	TL_CHECK(n >= 1 && n <= room);
	for (i = 0; i < n; i++) {
		TL_CHECK(fds[i] >= 0);
		TL_CHECK(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		TL_CHECK(is_pipe_end(fds[i]));
	}
	/* Flags agree with what came out. */
	if (asked) {
		TL_CHECK(!!(flags & FDPASS_BACKEND_META) == (m != NULL));
		TL_CHECK(!(flags & (FDPASS_BACKEND_META_DROPPED | FDPASS_BACKEND_DATA_DROPPED)));
	} else {
		TL_CHECK(!!(flags & FDPASS_BACKEND_META_DROPPED) == !!(flags & FDPASS_BACKEND_META));
		TL_CHECK(!(flags & FDPASS_BACKEND_DATA_DROPPED) || (flags & FDPASS_BACKEND_META));
	}
	TL_CHECK(!(flags & FDPASS_BACKEND_FDS_DROPPED) || n == room);
	fdpass_meta_free(m);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return r;
}

static int connect_frontend(int seq)
{
	return fdpass_connect(name, seq ? FDPASS_SEQPACKET : 0, 0);
}

/* One sendmsg() of data with nfds pipe ends (the library's own, which wants a
 * byte at least); a refused send is skipped. */
static void send_raw(int sock, const uint8_t *data, size_t len, size_t nfds)
{
	int fds[3] = { pipe_fds[0], pipe_fds[1], pipe_fds[0] };

	(void)fdpass_send_fds(sock, fds, nfds, data, len, FDPASS_NONBLOCK, 0);
}

static void send_message(int sock, unsigned arg, const uint8_t *data, size_t len)
{
	int fds[3] = { pipe_fds[0], pipe_fds[1], pipe_fds[0] };
	fdpass_meta *m = NULL;

	if (arg & 1) {
		(void)fdpass_send_meta(sock, fds, 1, NULL, FDPASS_NONBLOCK, 0);
		return;
	}
	TL_CHECK(fdpass_meta_new(&m) == 0);
	TL_CHECK(fdpass_meta_set_data(m, data, len) == 0);
	TL_CHECK(fdpass_meta_add_pair(m, "k", "v") == 0);
	(void)fdpass_send_meta(sock, fds, arg >> 1 > 3 ? 3 : arg >> 1, m, FDPASS_NONBLOCK, 0);
	fdpass_meta_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fe[FRONTENDS] = { -1, -1, -1, -1 };
	fdpass_backend *b = NULL;
	size_t pos = 1, ops;
	int before, seq, i;
	uint8_t cfg;

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	cfg = data[0];
	seq = cfg & 1;
	before = tl_count_fds();
	TL_CHECK(fdpass_backend_new(&b, name, -1, seq ? FDPASS_SEQPACKET : 0) == 0);
	TL_CHECK(fdpass_backend_set_max_fds(b, ((cfg >> 1) & 3) + 1) == 0);
	if (cfg & 8)
		TL_CHECK(fdpass_backend_set_max_payload(b, 64) == 0);
	if (cfg & 16)
		TL_CHECK(fdpass_backend_set_message_timeout(b, 1) == 0);
	if (cfg & 32)
		TL_CHECK(fdpass_backend_set_idle_timeout(b, 1) == 0);
	if (cfg & 64)
		TL_CHECK(fdpass_backend_allow_uid(b, getuid() + 1) == 0);
	if (cfg & 128)
		TL_CHECK(fdpass_backend_set_max_connections(b, 2) == 0);

	for (ops = 0; pos < size && ops < MAX_OPS; ops++) {
		uint8_t op = data[pos++];
		int k = (op >> 3) & 3;
		unsigned arg = op >> 5;

		switch (op & 7) {
		case 0:
			if (fe[k] < 0)
				fe[k] = connect_frontend(seq);
			break;
		case 1: {
			size_t len = pos < size ? data[pos++] : 0;

			if (len > size - pos)
				len = size - pos;
			if (fe[k] >= 0)
				send_raw(fe[k], data + pos, len, arg % 4);
			pos += len;
			break;
		}
		case 2: {
			size_t len = pos < size ? data[pos++] : 0;

			if (len > size - pos)
				len = size - pos;
			if (fe[k] >= 0)
				send_message(fe[k], arg, data + pos, len);
			pos += len;
			break;
		}
		case 3:
			if (fe[k] >= 0)
				close(fe[k]);
			fe[k] = -1;
			break;
		case 4:
			if (fe[k] >= 0)
				shutdown(fe[k], SHUT_WR);
			break;
		case 5:
			receive(b, (int)(arg % 4));
			break;
		case 6:
			for (i = 0; i < 16 && receive(b, (int)(arg % 4)) != -EAGAIN; i++)
				;
			break;
		case 7: {
			struct pollfd p = { .fd = fdpass_backend_fd(b), .events = POLLIN };

			if (poll(&p, 1, 0) == 1)
				receive(b, (int)(arg % 4));
			break;
		}
		}
	}

	/* Everyone hangs up: the backend lets them all go, then is freed. */
	for (i = 0; i < FRONTENDS; i++)
		if (fe[i] >= 0)
			close(fe[i]);
	for (i = 0; i < 64 && receive(b, i % 4) != -EAGAIN; i++)
		;
	fdpass_backend_free(b);
	if (tl_count_fds() != before) {
		fprintf(stderr, "fuzz-backend: fd leak: %d fds open before the input, %d after\n",
			before, tl_count_fds());
		abort();
	}
	return 0;
}
