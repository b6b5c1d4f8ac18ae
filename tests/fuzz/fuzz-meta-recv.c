// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: fdpass_recv_meta() reading whatever a peer sends, over
 * real sockets, with real fds attached.
 *
 * Input: byte 0 chooses how, the rest is what the peer sends.
 *   bits 0-1  number of fds attached (the value modulo 3: 0, 1 or 2)
 *   bit 2     max_payload 64 instead of the default
 *   bit 3     room for 1 fd instead of 4
 *   bits 4-7  on the stream, the fds go with byte 3 * this value (0: the
 *             first byte, as the protocol wants; later: mid-message)
 * The bytes go once as one SOCK_SEQPACKET packet and once over a
 * SOCK_STREAM, whose sender then closes; fdpass_recv_meta() reads each until
 * end of stream or an error.
 *
 * Checked after every call and every input (abort() on failure, so that
 * libFuzzer keeps the input):
 *  - no fd is left open: /proc/self/fd counts the same before and after;
 *  - an error leaves *nfds 0 and *meta NULL; success hands out at most the
 *    room given, close-on-exec; the plain form has meta NULL and one fd;
 *  - a decoded message sent again with fdpass_send_meta() decodes to the
 *    same fields, with as many fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT 65536
#define ROOM 4

static int pipe_fds[2] = { -1, -1 };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	TL_CHECK(pipe2(pipe_fds, O_CLOEXEC) == 0);
	return 0;
}

/* One sendmsg(), the fds with its first byte; 0 if all of it went. */
static int send_part(int sock, const uint8_t *p, size_t len, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} control;
	struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), pipe_fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static int same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* The same fields, the same pairs in the same order. */
static void check_same(const fdpass_meta *a, const fdpass_meta *b)
{
	static const int fields[] = { FDPASS_META_CLIENT_ADDR, FDPASS_META_LOCAL_ADDR,
				      FDPASS_META_FLUSHER };
	size_t la = 0, lb = 0, i;
	const void *da = fdpass_meta_get_data(a, &la), *db = fdpass_meta_get_data(b, &lb);

	TL_CHECK((da == NULL) == (db == NULL));
	TL_CHECK(la == lb);
	TL_CHECK(la == 0 || !memcmp(da, db, la));
	for (i = 0; i < 3; i++)
		TL_CHECK(same_text(fdpass_meta_get(a, fields[i]), fdpass_meta_get(b, fields[i])));
	TL_CHECK(fdpass_meta_pair_count(a) == fdpass_meta_pair_count(b));
	for (i = 0; i < fdpass_meta_pair_count(a); i++) {
		const char *ka, *va, *kb, *vb;

		TL_CHECK(fdpass_meta_get_pair(a, i, &ka, &va) == 0);
		TL_CHECK(fdpass_meta_get_pair(b, i, &kb, &vb) == 0);
		TL_CHECK(!strcmp(ka, kb) && !strcmp(va, vb));
	}
	TL_CHECK(fdpass_meta_get_pair(a, i, NULL, NULL) == -ERANGE);
}

/* What a decoded message must look like. */
static void check_decoded(const fdpass_meta *m)
{
	size_t i, j, n = fdpass_meta_pair_count(m);

	TL_CHECK(n <= FDPASS_META_MAX_PAIRS);
	for (i = 0; i < n; i++) {
		const char *k, *v;

		TL_CHECK(fdpass_meta_get_pair(m, i, &k, &v) == 0);
		TL_CHECK(strlen(k) >= 1 && strlen(k) <= FDPASS_META_MAX_KEY);
		TL_CHECK(strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
		         strlen(k));
		TL_CHECK(strlen(v) <= FDPASS_META_MAX_TEXT);
		/* fdpass_meta_find() gives the first value of a key. */
		for (j = 0; j < i; j++) {
			const char *kj;

			TL_CHECK(fdpass_meta_get_pair(m, j, &kj, NULL) == 0);
			if (!strcmp(kj, k))
				break;
		}
		if (j == i)
			TL_CHECK(fdpass_meta_find(m, k) && !strcmp(fdpass_meta_find(m, k), v));
	}
	for (i = FDPASS_META_CLIENT_ADDR; i <= FDPASS_META_FLUSHER; i++) {
		const char *t = fdpass_meta_get(m, (int)i);

		TL_CHECK(!t || strlen(t) <= FDPASS_META_MAX_TEXT);
	}
}

/* Send m with the fds again, decode it, compare. */
static void check_roundtrip(const fdpass_meta *m, const int *fds, size_t nfds)
{
	int sv[2], got[ROOM];
	size_t n = ROOM, i;
	fdpass_meta *again = NULL;
	int r;

	TL_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	r = fdpass_send_meta(sv[0], fds, nfds, m, FDPASS_NONBLOCK, 0);
	if (r == -EMSGSIZE) { /* more than a packet can hold */
		close(sv[0]);
		close(sv[1]);
		return;
	}
	TL_CHECK(r == 0);
	r = fdpass_recv_meta(sv[1], got, &n, &again, FDPASS_META_LIMIT, FDPASS_NONBLOCK, 0);
	TL_CHECK(r == 1);
	TL_CHECK(n == nfds);
	TL_CHECK(again != NULL);
	check_same(m, again);
	fdpass_meta_free(again);
	for (i = 0; i < n; i++)
		close(got[i]);
	close(sv[0]);
	close(sv[1]);
}

/* Read sock until end of stream or an error, checking every result. */
static void drain(int sock, size_t room, size_t max_payload)
{
	int round;

	for (round = 0; round < 64; round++) {
		int fds[ROOM];
		size_t n = room, i;
		fdpass_meta *m = (fdpass_meta *)&n; /* must be overwritten */
		int r;

		memset(fds, -1, sizeof(fds));
		r = fdpass_recv_meta(sock, fds, &n, &m, max_payload, FDPASS_NONBLOCK, 0);
		if (r <= 0) {
			TL_CHECK(n == 0);
			TL_CHECK(m == NULL);
			TL_CHECK(r != -EINVAL && r != -ENOMEM && r != -EAGAIN);
			return;
		}
		TL_CHECK(r == 1);
		TL_CHECK(n <= room);
		for (i = 0; i < n; i++)
			TL_CHECK(fds[i] >= 0 && (fcntl(fds[i], F_GETFD) & FD_CLOEXEC));
		if (!m) {
			TL_CHECK(n == 1); /* httpd's plain message */
		} else {
			check_decoded(m);
			check_roundtrip(m, fds, n);
			fdpass_meta_free(m);
		}
		for (i = 0; i < n; i++)
			close(fds[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nfds, room, max_payload, fdpos, len;
	const uint8_t *msg;
	int before, sv[2];

	if (size < 1 || size > FUZZ_MAX_INPUT)
		return 0;
	nfds = (data[0] & 3) % 3;
	max_payload = (data[0] & 4) ? 64 : 0;
	room = (data[0] & 8) ? 1 : ROOM;
	fdpos = (size_t)(data[0] >> 4) * 3;
	msg = data + 1;
	len = size - 1;
	before = tl_count_fds();

	/* One packet. */
	TL_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	if (send_part(sv[0], msg, len, nfds) == 0) {
		close(sv[0]);
		drain(sv[1], room, max_payload);
	} else {
		close(sv[0]); /* too large a packet: nothing to read */
	}
	close(sv[1]);

	/* A stream, the fds with byte fdpos. */
	TL_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	if (len > 0) {
		int ok;

		if (fdpos == 0 || fdpos >= len)
			ok = send_part(sv[0], msg, len, nfds) == 0;
		else
			ok = send_part(sv[0], msg, fdpos, 0) == 0 &&
			     send_part(sv[0], msg + fdpos, len - fdpos, nfds) == 0;
		TL_CHECK(ok);
	}
	close(sv[0]);
	drain(sv[1], room, max_payload);
	close(sv[1]);

	if (tl_count_fds() != before) {
		fprintf(stderr, "fuzz-meta-recv: fd leak: %d fds open before the input, %d after\n",
			before, tl_count_fds());
		abort();
	}
	return 0;
}
