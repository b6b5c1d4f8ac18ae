// SPDX-License-Identifier: MIT
/*
 * Hand-off messages with metadata (PROTOCOL.md): the fdpass_meta builder,
 * fdpass_send_meta/fdpass_recv_meta over real SOCK_STREAM and SOCK_SEQPACKET
 * sockets, the exact bytes on the wire, httpd's plain messages mixed in, a
 * table of malformed messages sent raw (each with its documented error and
 * every fd closed), and fdpass_handoff_meta/fdpass_backend_recv_meta end to
 * end over a real TCP connection. Every test runs with an fd-leak check;
 * most get a socketpair and a pipe to pass from the fixture (TL_PAIR_TEST,
 * TL_BOTH_TYPES: sv[0] sends, sv[1] receives); the malformed-message tables
 * check each case's fds on their own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

/* ---- helpers ------------------------------------------------------------ */

/* Write s into wfd and read it back from rfd (the two ends of one pipe). */
static void assert_pipe_carries(int wfd, int rfd, const char *s)
{
	char buf[64] = { 0 };
	size_t len = strlen(s);

	assert_int_equal(write(wfd, s, len), (ssize_t)len);
	assert_int_equal(read(rfd, buf, sizeof(buf)), (ssize_t)len);
	assert_memory_equal(buf, s, len);
}

/* httpd's mod_proxy_fdpass: one '\0', cmsg_len = sizeof(struct cmsghdr) + sizeof(int). */
static void httpd_send(int sock, int fd)
{
	assert_int_equal(tl_sendmsg_fds(sock, "", 1, &fd, 1, sizeof(struct cmsghdr) + sizeof(int)), 1);
}

#define NA 1000 /* this case does not apply to this socket type */

/* ---- raw message builder ------------------------------------------------ */

struct msg {
	unsigned char *b;
	size_t len, cap;
};

static void m_bytes(struct msg *m, const void *p, size_t n)
{
	if (m->len + n > m->cap) {
		m->cap = (m->len + n) * 2 + 64;
		m->b = realloc(m->b, m->cap);
		assert_non_null(m->b);
	}
	if (n)
		memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void m_u8(struct msg *m, unsigned v)
{
	unsigned char c = (unsigned char)v;

	m_bytes(m, &c, 1);
}

static void m_u16(struct msg *m, unsigned v)
{
	m_u8(m, v >> 8);
	m_u8(m, v);
}

static void m_u32(struct msg *m, uint32_t v)
{
	m_u16(m, v >> 16);
	m_u16(m, v & 0xFFFF);
}

static void put32_at(struct msg *m, size_t off, uint32_t v)
{
	m->b[off] = (unsigned char)(v >> 24);
	m->b[off + 1] = (unsigned char)(v >> 16);
	m->b[off + 2] = (unsigned char)(v >> 8);
	m->b[off + 3] = (unsigned char)v;
}

/* A version-1 header; the length is fixed by m_finish(). */
static void m_header(struct msg *m, unsigned nfds)
{
	m->len = 0;
	m_bytes(m, "FDPM", 4);
	m_u8(m, 1);
	m_u8(m, 0);
	m_u16(m, nfds);
	m_u32(m, 0);
	m_u32(m, 0);
}

static void m_record(struct msg *m, unsigned type, const void *v, size_t n)
{
	m_u16(m, type);
	m_u32(m, (uint32_t)n);
	m_bytes(m, v, n);
}

static void m_pair(struct msg *m, const char *key, const char *value)
{
	size_t k = strlen(key), v = strlen(value);

	m_u16(m, 5);
	m_u32(m, (uint32_t)(k + 1 + v));
	m_bytes(m, key, k + 1);
	m_bytes(m, value, v);
}

static void m_finish(struct msg *m)
{
	put32_at(m, 8, (uint32_t)(m->len - 16));
}

static void m_free(struct msg *m)
{
	free(m->b);
	m->b = NULL;
	m->len = m->cap = 0;
}

static const char example_request[] = "GET / HTTP/1.1\r\n\r\n";
static const char example_client[] = "127.0.0.1:5555";

/* PROTOCOL.md section 2.3, verbatim. */
static const unsigned char example_bytes[60] = {
	0x46, 0x44, 0x50, 0x4D, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x01, 0x00, 0x00, 0x00, 0x12, 0x47, 0x45, 0x54, 0x20, 0x2F, 0x20, 0x48, 0x54, 0x54, 0x50, 0x2F,
	0x31, 0x2E, 0x31, 0x0D, 0x0A, 0x0D, 0x0A,
	0x00, 0x02, 0x00, 0x00, 0x00, 0x0E, 0x31, 0x32, 0x37, 0x2E, 0x30, 0x2E, 0x30, 0x2E, 0x31, 0x3A, 0x35,
	0x35, 0x35, 0x35,
};

/* The example message with the header's fd count set to nfds. */
static void m_example(struct msg *m, unsigned nfds)
{
	m->len = 0;
	m_bytes(m, example_bytes, sizeof(example_bytes));
	m->b[6] = (unsigned char)(nfds >> 8);
	m->b[7] = (unsigned char)nfds;
}

/* The example's metadata, built with the API. */
static fdpass_meta *example_meta(void)
{
	fdpass_meta *m = NULL;

	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, example_request, strlen(example_request)), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, example_client), 0);
	return m;
}

static void assert_example_meta(const fdpass_meta *m)
{
	const void *d;
	size_t len = 99;

	assert_non_null(m);
	d = fdpass_meta_get_data(m, &len);
	assert_non_null(d);
	assert_int_equal(len, strlen(example_request));
	assert_memory_equal(d, example_request, len);
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR), example_client);
	assert_null(fdpass_meta_get(m, FDPASS_META_LOCAL_ADDR));
	assert_null(fdpass_meta_get(m, FDPASS_META_FLUSHER));
	assert_int_equal(fdpass_meta_pair_count(m), 0);
}

/* A sentinel that fdpass_recv_meta must overwrite with NULL. */
static const char not_set_object;
static fdpass_meta *const not_set = (fdpass_meta *)&not_set_object;

/* ---- children ----------------------------------------------------------- */

/* A sender in a child (a peer), for messages larger than a socket buffer. */

struct sender {
	int sock, other; /* other: the receiver's end, closed in the child */
	const int *fds;
	size_t nfds;
	const fdpass_meta *meta;
	int expect; /* 0, a negative errno, or ANY_RESULT */
};

#define ANY_RESULT 1 /* the receiver drops the connection on purpose */

static int child_sends_meta(void *arg)
{
	const struct sender *s = arg;
	int r;

	close(s->other);
	r = fdpass_send_meta(s->sock, s->fds, s->nfds, s->meta, 0, 10000);
	if (r != s->expect && s->expect != ANY_RESULT)
		TL_CHILD_FAIL("fdpass_send_meta: %d (%s), expected %d", r, fdpass_strerror(r),
			      s->expect);
	return 0;
}

/* ---- the builder ---------------------------------------------------------- */

static void test_builder_fields(void **state)
{
	fdpass_meta *m = NULL;
	const char *k = NULL, *v = NULL;
	char text[FDPASS_META_MAX_TEXT + 2];
	size_t len = 7;

	(void)state;
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_non_null(m);

	/* Never set: NULL everywhere, no pairs. */
	assert_null(fdpass_meta_get_data(m, &len));
	assert_int_equal(len, 0);
	assert_null(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR));
	assert_null(fdpass_meta_get(m, FDPASS_META_LOCAL_ADDR));
	assert_null(fdpass_meta_get(m, FDPASS_META_FLUSHER));
	assert_int_equal(fdpass_meta_pair_count(m), 0);
	assert_int_equal(fdpass_meta_get_pair(m, 0, &k, &v), -ERANGE);
	assert_null(fdpass_meta_find(m, "k"));

	/* Text fields: set, replace, clear. */
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "192.0.2.7:51234"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, "[2001:db8::1]:443"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, "flush"), 0);
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR), "192.0.2.7:51234");
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_LOCAL_ADDR), "[2001:db8::1]:443");
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_FLUSHER), "flush");
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, "none"), 0);
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_FLUSHER), "none");
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, NULL), 0);
	assert_null(fdpass_meta_get(m, FDPASS_META_FLUSHER));

	/* Unknown fields: 1 is the data record, 5 the pairs; neither is text. */
	assert_int_equal(fdpass_meta_set(m, 0, "x"), -EINVAL);
	assert_int_equal(fdpass_meta_set(m, 1, "x"), -EINVAL);
	assert_int_equal(fdpass_meta_set(m, 5, "x"), -EINVAL);
	assert_int_equal(fdpass_meta_set(m, -1, "x"), -EINVAL);
	assert_int_equal(fdpass_meta_set(m, 1 << 20, NULL), -EINVAL);
	assert_null(fdpass_meta_get(m, 0));
	assert_null(fdpass_meta_get(m, 1));
	assert_null(fdpass_meta_get(m, 5));
	assert_null(fdpass_meta_get(m, -1));

	/* Text length: FDPASS_META_MAX_TEXT is the limit; a failure changes nothing. */
	memset(text, 'a', sizeof(text));
	text[FDPASS_META_MAX_TEXT] = '\0';
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, text), 0);
	assert_int_equal(strlen(fdpass_meta_get(m, FDPASS_META_LOCAL_ADDR)), FDPASS_META_MAX_TEXT);
	text[FDPASS_META_MAX_TEXT] = 'a';
	text[FDPASS_META_MAX_TEXT + 1] = '\0';
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, text), -EINVAL);
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR), "192.0.2.7:51234");
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, ""), 0);
	assert_string_equal(fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR), "");

	/* Data: copied, replaced, binary. */
	{
		char data[5] = { 'a', '\0', 'b', '\0', 'c' };
		const void *d;

		assert_int_equal(fdpass_meta_set_data(m, data, sizeof(data)), 0);
		data[0] = 'X';
		d = fdpass_meta_get_data(m, &len);
		assert_int_equal(len, 5);
		assert_memory_equal(d, "a\0b\0c", 5);
		assert_int_equal(fdpass_meta_set_data(m, "", 0), 0);
		d = fdpass_meta_get_data(m, &len);
		assert_non_null(d); /* set, empty: not the same as never set */
		assert_int_equal(len, 0);
		assert_int_equal(fdpass_meta_set_data(m, NULL, 0), 0);
		assert_non_null(fdpass_meta_get_data(m, &len));
		assert_int_equal(len, 0);
		assert_int_equal(fdpass_meta_set_data(m, NULL, 1), -EINVAL);
		assert_non_null(fdpass_meta_get_data(m, NULL)); /* len may be NULL */
	}
	fdpass_meta_free(m);
}

static void test_builder_pairs(void **state)
{
	fdpass_meta *m = NULL;
	const char *k = NULL, *v = NULL;
	char key[FDPASS_META_MAX_KEY + 2], value[FDPASS_META_MAX_TEXT + 2];
	int i;

	(void)state;
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "route", "a"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "X-Forwarded-For", "192.0.2.7"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "route", "b"), 0); /* keys may repeat */
	assert_int_equal(fdpass_meta_add_pair(m, "empty", ""), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "a.b_c-D9", "v=1 2"), 0);
	assert_int_equal(fdpass_meta_pair_count(m), 5);
	assert_string_equal(fdpass_meta_find(m, "route"), "a"); /* the first */
	assert_string_equal(fdpass_meta_find(m, "empty"), "");
	assert_null(fdpass_meta_find(m, "Route"));
	assert_null(fdpass_meta_find(m, "rout"));
	assert_int_equal(fdpass_meta_get_pair(m, 2, &k, &v), 0);
	assert_string_equal(k, "route");
	assert_string_equal(v, "b");
	assert_int_equal(fdpass_meta_get_pair(m, 4, &k, &v), 0);
	assert_string_equal(k, "a.b_c-D9");
	assert_string_equal(v, "v=1 2");
	assert_int_equal(fdpass_meta_get_pair(m, 1, NULL, NULL), 0);
	assert_int_equal(fdpass_meta_get_pair(m, 5, &k, &v), -ERANGE);
	assert_int_equal(fdpass_meta_get_pair(m, (size_t)-1, &k, &v), -ERANGE);

	/* Bad keys. */
	assert_int_equal(fdpass_meta_add_pair(m, "", "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "a=b", "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "a b", "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "a:b", "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "a\tb", "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "caf\xc3\xa9", "v"), -EINVAL);
	memset(key, 'k', sizeof(key));
	key[FDPASS_META_MAX_KEY + 1] = '\0';
	assert_int_equal(fdpass_meta_add_pair(m, key, "v"), -EINVAL); /* 256 */
	key[FDPASS_META_MAX_KEY] = '\0';
	assert_int_equal(fdpass_meta_add_pair(m, key, "v"), 0);        /* 255 */

	/* Value length. */
	memset(value, 'v', sizeof(value));
	value[FDPASS_META_MAX_TEXT + 1] = '\0';
	assert_int_equal(fdpass_meta_add_pair(m, "long", value), -EINVAL);
	value[FDPASS_META_MAX_TEXT] = '\0';
	assert_int_equal(fdpass_meta_add_pair(m, "long", value), 0);
	assert_int_equal(fdpass_meta_pair_count(m), 7); /* the failures added nothing */

	/* At most FDPASS_META_MAX_PAIRS. */
	for (i = 7; i < FDPASS_META_MAX_PAIRS; i++)
		assert_int_equal(fdpass_meta_add_pair(m, "n", "v"), 0);
	assert_int_equal(fdpass_meta_pair_count(m), FDPASS_META_MAX_PAIRS);
	assert_int_equal(fdpass_meta_add_pair(m, "n", "v"), -E2BIG);
	assert_int_equal(fdpass_meta_pair_count(m), FDPASS_META_MAX_PAIRS);
	fdpass_meta_free(m);
}

static void test_builder_null(void **state)
{
	fdpass_meta *m = NULL;
	const char *k = "unchanged", *v = "unchanged";
	size_t len = 7;

	(void)state;
	assert_int_equal(fdpass_meta_new(NULL), -EINVAL);
	fdpass_meta_free(NULL);
	assert_int_equal(fdpass_meta_set_data(NULL, "x", 1), -EINVAL);
	assert_null(fdpass_meta_get_data(NULL, &len));
	assert_int_equal(len, 0);
	assert_null(fdpass_meta_get_data(NULL, NULL));
	assert_int_equal(fdpass_meta_set(NULL, FDPASS_META_CLIENT_ADDR, "x"), -EINVAL);
	assert_null(fdpass_meta_get(NULL, FDPASS_META_CLIENT_ADDR));
	assert_int_equal(fdpass_meta_add_pair(NULL, "k", "v"), -EINVAL);
	assert_null(fdpass_meta_find(NULL, "k"));
	assert_int_equal(fdpass_meta_pair_count(NULL), 0);
	assert_int_equal(fdpass_meta_get_pair(NULL, 0, &k, &v), -EINVAL);
	assert_string_equal(k, "unchanged");

	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_add_pair(m, NULL, "v"), -EINVAL);
	assert_int_equal(fdpass_meta_add_pair(m, "k", NULL), -EINVAL);
	assert_int_equal(fdpass_meta_pair_count(m), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "k", "v"), 0);
	assert_null(fdpass_meta_find(m, NULL));
	assert_int_equal(fdpass_meta_get_pair(m, 1, &k, &v), -ERANGE);
	assert_string_equal(k, "unchanged");
	fdpass_meta_free(m);
}

/* ---- round trips ---------------------------------------------------------- */

static void test_roundtrip_all_fields(void **state)
{
	static const char data[] = "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\na\0b";
	struct tl_pair *t = tl_pair(state);
	int fds[2], got[4] = { -1, -1, -1, -1 };
	size_t n = 4, len = 0, i;
	fdpass_meta *m, *r = not_set;
	const char *k, *v;
	const void *d;

	fds[0] = t->pipe[1];
	fds[1] = t->pipe[0];
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, sizeof(data) - 1), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "192.0.2.7:51234"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, "[2001:db8::1]:443"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, "flush"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "route", "first"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "tenant", "t-1"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "route", "second"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "empty", ""), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], fds, 2, m, 0, 1000), 0);
	fdpass_meta_free(m);

	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 2);
	assert_non_null(r);
	assert_true(r != not_set);
	d = fdpass_meta_get_data(r, &len);
	assert_int_equal(len, sizeof(data) - 1);
	assert_memory_equal(d, data, len);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_CLIENT_ADDR), "192.0.2.7:51234");
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_LOCAL_ADDR), "[2001:db8::1]:443");
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_FLUSHER), "flush");
	assert_int_equal(fdpass_meta_pair_count(r), 4);
	assert_string_equal(fdpass_meta_find(r, "route"), "first");
	assert_string_equal(fdpass_meta_find(r, "tenant"), "t-1");
	assert_string_equal(fdpass_meta_find(r, "empty"), "");
	assert_null(fdpass_meta_find(r, "nope"));
	assert_int_equal(fdpass_meta_get_pair(r, 2, &k, &v), 0);
	assert_string_equal(k, "route");
	assert_string_equal(v, "second");
	assert_int_equal(fdpass_meta_get_pair(r, 4, &k, &v), -ERANGE);
	fdpass_meta_free(r);

	for (i = 0; i < 2; i++)
		assert_true(tl_is_cloexec(got[i]));
	assert_true(tl_same_file(got[0], t->pipe[1]));
	assert_true(tl_same_file(got[1], t->pipe[0]));
	assert_pipe_carries(got[0], got[1], "both ends");
	close(got[0]);
	close(got[1]);
}

/* Data set empty, data never set, and a metadata message with nothing in it. */
static void test_roundtrip_empty(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got[2] = { -1, -1 };
	size_t n = 2, len = 9;
	fdpass_meta *m, *r = not_set;

	/* Empty data: received as set and empty. */
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, "", 0), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], &t->pipe[0], 1, m, 0, 1000), 0);
	fdpass_meta_free(m);
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 1);
	assert_non_null(fdpass_meta_get_data(r, &len));
	assert_int_equal(len, 0);
	fdpass_meta_free(r);
	assert_true(tl_same_file(got[0], t->pipe[0]));
	close(got[0]);

	/* Nothing at all, no fds: a 16-byte message, meta not NULL. */
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 0, m, 0, 1000), 0);
	fdpass_meta_free(m);
	n = 2;
	r = not_set;
	got[0] = -1;
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 0);
	assert_int_equal(got[0], -1);
	assert_non_null(r);
	assert_true(r != not_set);
	len = 9;
	assert_null(fdpass_meta_get_data(r, &len)); /* never set */
	assert_null(fdpass_meta_get(r, FDPASS_META_CLIENT_ADDR));
	assert_null(fdpass_meta_get(r, FDPASS_META_LOCAL_ADDR));
	assert_null(fdpass_meta_get(r, FDPASS_META_FLUSHER));
	assert_int_equal(fdpass_meta_pair_count(r), 0);
	fdpass_meta_free(r);

	/* Empty texts are texts. */
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, ""), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 0, m, 0, 1000), 0);
	fdpass_meta_free(m);
	n = 2;
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_FLUSHER), "");
	fdpass_meta_free(r);

	/* End of stream: 0, nothing handed out. */
	tl_pair_close(t, 0);
	n = 2;
	r = not_set;
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 0);
	assert_int_equal(n, 0);
	assert_null(r);
}

/* Every byte value, NULs included, in the data. */
static void test_roundtrip_binary_data(void **state)
{
	struct tl_pair *t = tl_pair(state);
	unsigned char data[1024];
	int got = -1;
	size_t n = 1, len = 0, i;
	fdpass_meta *m, *r = NULL;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + (i >> 8));
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, sizeof(data)), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], &t->pipe[1], 1, m, 0, 1000), 0);
	fdpass_meta_free(m);
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 1);
	assert_memory_equal(fdpass_meta_get_data(r, &len), data, sizeof(data));
	assert_int_equal(len, sizeof(data));
	fdpass_meta_free(r);
	assert_true(tl_same_file(got, t->pipe[1]));
	close(got);
}

/* Sends data_len bytes of data from a child; receives with max_payload. */
static int big_roundtrip(int type, size_t data_len, size_t max_payload, int expect)
{
	struct sender s = { 0 };
	unsigned char *data = malloc(data_len);
	int sv[2], p[2], got = -1, r;
	size_t n = 1, len = 0, i;
	fdpass_meta *m, *rm = not_set;
	pid_t pid;

	assert_non_null(data);
	for (i = 0; i < data_len; i++)
		data[i] = (unsigned char)(i * 7 + (i >> 12));
	tl_socketpair(type, sv);
	tl_pipe(p);
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, data_len), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "after", "the data"), 0);
	s.sock = sv[0];
	s.other = sv[1];
	s.fds = &p[0];
	s.nfds = 1;
	s.meta = m;
	s.expect = expect < 0 ? ANY_RESULT : 0;
	pid = tl_fork_peer(child_sends_meta, &s);
	close(sv[0]);
	r = fdpass_recv_meta(sv[1], &got, &n, &rm, max_payload, 0, 10000);
	if (r == 1) {
		const void *d = fdpass_meta_get_data(rm, &len);

		assert_int_equal(n, 1);
		assert_int_equal(len, data_len);
		assert_memory_equal(d, data, data_len);
		assert_string_equal(fdpass_meta_find(rm, "after"), "the data");
		assert_true(tl_same_file(got, p[0]));
		fdpass_meta_free(rm);
		close(got);
	} else {
		assert_int_equal(n, 0);
		assert_null(rm);
	}
	close(sv[1]); /* lets a sender that is still writing fail */
	tl_wait_child(pid);
	fdpass_meta_free(m);
	free(data);
	close(p[0]);
	close(p[1]);
	return r;
}

static void test_roundtrip_large(void **state)
{
	(void)state;
	/* The largest payload the default bound takes (6 bytes of record head). */
	assert_int_equal(big_roundtrip(SOCK_STREAM, FDPASS_META_DEFAULT_MAX - 6 - 14 - 6, 0, 1), 1);
	/* 1 MiB of data is a payload over the default bound... */
	assert_int_equal(big_roundtrip(SOCK_STREAM, 1 << 20, 0, -EMSGSIZE), -EMSGSIZE);
	/* ...that a raised bound takes. */
	assert_int_equal(big_roundtrip(SOCK_STREAM, 1 << 20, 2 << 20, 1), 1);
	assert_int_equal(big_roundtrip(SOCK_STREAM, 5 << 20, FDPASS_META_LIMIT, 1), 1);
	/* A packet holds less: the kernel's limit is the send buffer. */
	assert_int_equal(big_roundtrip(SOCK_SEQPACKET, 100000, 0, 1), 1);
	assert_int_equal(big_roundtrip(SOCK_SEQPACKET, 100000, 100000, -EMSGSIZE), -EMSGSIZE);
}

/* Text and keys at their limits, FDPASS_META_MAX_PAIRS pairs. */
static void test_roundtrip_limits(void **state)
{
	char key[FDPASS_META_MAX_KEY + 1], text[FDPASS_META_MAX_TEXT + 1];
	struct sender s = { 0 };
	int sv[2], got = -1, i;
	size_t n = 1;
	fdpass_meta *m, *r = NULL;
	const char *k, *v;
	pid_t pid;

	(void)state;
	memset(key, 'K', FDPASS_META_MAX_KEY);
	key[FDPASS_META_MAX_KEY] = '\0';
	memset(text, 't', FDPASS_META_MAX_TEXT);
	text[FDPASS_META_MAX_TEXT] = '\0';
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, text), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, text), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, text), 0);
	for (i = 0; i < FDPASS_META_MAX_PAIRS; i++) {
		key[0] = (char)('A' + i % 26);
		assert_int_equal(fdpass_meta_add_pair(m, key, text), 0);
	}
	tl_socketpair(SOCK_STREAM, sv);
	s.sock = sv[0];
	s.other = sv[1];
	s.meta = m;
	pid = tl_fork_peer(child_sends_meta, &s);
	close(sv[0]);
	assert_int_equal(fdpass_recv_meta(sv[1], &got, &n, &r, 0, 0, 5000), 1);
	assert_int_equal(n, 0);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_CLIENT_ADDR), text);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_LOCAL_ADDR), text);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_FLUSHER), text);
	assert_int_equal(fdpass_meta_pair_count(r), FDPASS_META_MAX_PAIRS);
	for (i = 0; i < FDPASS_META_MAX_PAIRS; i++) {
		key[0] = (char)('A' + i % 26);
		assert_int_equal(fdpass_meta_get_pair(r, (size_t)i, &k, &v), 0);
		assert_string_equal(k, key);
		assert_string_equal(v, text);
	}
	fdpass_meta_free(r);
	tl_wait_child(pid);
	fdpass_meta_free(m);
	close(sv[1]);
}

/* A message with count fds (the pipe's two ends in turn), received with room for room. */
static void fd_count_roundtrip(const struct tl_pair *t, size_t count, size_t room)
{
	int fds[FDPASS_MAX_FDS], got[FDPASS_MAX_FDS + 3];
	size_t n = room, i;
	fdpass_meta *m, *r = NULL;
	char text[32];

	for (i = 0; i < count; i++)
		fds[i] = t->pipe[i % 2];
	snprintf(text, sizeof(text), "%zu fds", count);
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "count", text), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], count ? fds : NULL, count, m, 0, 1000), 0);
	fdpass_meta_free(m);
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, count);
	assert_string_equal(fdpass_meta_find(r, "count"), text);
	fdpass_meta_free(r);
	for (i = 0; i < count; i++) {
		assert_true(tl_same_file(got[i], t->pipe[i % 2]));
		assert_true(tl_is_cloexec(got[i]));
		close(got[i]);
	}
}

static void test_roundtrip_fd_counts(void **state)
{
	static const size_t counts[] = { 0, 1, 16, FDPASS_MAX_FDS };
	struct tl_pair *t = tl_pair(state);
	struct rlimit rl;
	size_t c;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		if (counts[c] == FDPASS_MAX_FDS && rl.rlim_cur < 1024)
			continue;
		/* Room for exactly that many, and room to spare. */
		fd_count_roundtrip(t, counts[c], counts[c] ? counts[c] : 1);
		fd_count_roundtrip(t, counts[c], FDPASS_MAX_FDS + 3);
	}
}

/* ---- the exact bytes -------------------------------------------------------- */

/* Receives one whole message of len bytes raw, its fds with the first read. */
static void raw_recv(int sock, unsigned char *buf, size_t len, int *fds, size_t *nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 256)];
	} control;
	size_t got = 0;

	*nfds = 0;
	while (got < len) {
		struct iovec iov = { .iov_base = buf + got, .iov_len = len + 1 - got };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
		};
		struct cmsghdr *c;
		ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);

		assert_true(n > 0);
		assert_int_equal(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC), 0);
		c = CMSG_FIRSTHDR(&msg);
		if (c) {
			assert_int_equal(got, 0); /* fds with the first byte only */
			assert_int_equal(c->cmsg_level, SOL_SOCKET);
			assert_int_equal(c->cmsg_type, SCM_RIGHTS);
			*nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			assert_int_equal(c->cmsg_len, CMSG_LEN(sizeof(int) * *nfds));
			memcpy(fds, CMSG_DATA(c), sizeof(int) * *nfds);
			assert_null(CMSG_NXTHDR(&msg, c));
		}
		got += (size_t)n;
	}
	assert_int_equal(got, len); /* and not a byte more */
}

static void test_wire_example(void **state)
{
	struct tl_pair *t = tl_pair(state);
	unsigned char buf[sizeof(example_bytes) + 1];
	int fds[256], got = -1;
	size_t nfds, n = 1;
	fdpass_meta *m = example_meta(), *r = NULL;

	assert_int_equal(fdpass_send_meta(t->sv[0], &t->pipe[0], 1, m, 0, 1000), 0);
	fdpass_meta_free(m);
	raw_recv(t->sv[1], buf, sizeof(example_bytes), fds, &nfds);
	assert_memory_equal(buf, example_bytes, sizeof(example_bytes));
	assert_int_equal(nfds, 1);
	assert_true(tl_same_file(fds[0], t->pipe[0]));
	close(fds[0]);

	/* And the example's bytes, sent raw, are read as the example. */
	tl_raw_send(t->sv[0], example_bytes, sizeof(example_bytes), &t->pipe[1], 1);
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 1);
	assert_example_meta(r);
	fdpass_meta_free(r);
	assert_true(tl_same_file(got, t->pipe[1]));
	close(got);
}

/* Records in type order, pairs in the order added, whatever order they were set in. */
static void test_wire_record_order(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct msg e = { 0 };
	unsigned char buf[512];
	int fds[256];
	size_t nfds;
	fdpass_meta *m;

	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "b", "2"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, "none"), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "a", "1"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, "[::1]:80"), 0);
	assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, "[2001:db8::7]:51234"), 0);
	assert_int_equal(fdpass_meta_set_data(m, "x\0y", 3), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "b", ""), 0);

	m_header(&e, 0);
	m_record(&e, 1, "x\0y", 3);
	m_record(&e, 2, "[2001:db8::7]:51234", 19);
	m_record(&e, 3, "[::1]:80", 8);
	m_record(&e, 4, "none", 4);
	m_pair(&e, "b", "2");
	m_pair(&e, "a", "1");
	m_pair(&e, "b", "");
	m_finish(&e);
	assert_true(e.len < sizeof(buf));

	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 0, m, 0, 1000), 0);
	raw_recv(t->sv[1], buf, e.len, fds, &nfds);
	assert_int_equal(nfds, 0);
	assert_memory_equal(buf, e.b, e.len);
	fdpass_meta_free(m);
	m_free(&e);
}

/* meta NULL: exactly httpd's message, one '\0' and one fd in CMSG_LEN(int). */
static void test_send_meta_null_is_httpd(void **state)
{
	struct tl_pair *t = tl_pair(state);
	char data[8];
	int got;

	/* Not one fd: refused, nothing sent. */
	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 0, NULL, 0, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(t->sv[0], t->pipe, 2, NULL, 0, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 1, NULL, 0, 1000), -EINVAL);
	assert_int_equal(recv(t->sv[1], data, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	assert_int_equal(fdpass_send_meta(t->sv[0], &t->pipe[1], 1, NULL, 0, 1000), 0);
	tl_pair_close(t, 0); /* nothing else follows */
	got = tl_recv_httpd_message(t->sv[1], 0);
	assert_true(tl_same_file(got, t->pipe[1]));
	close(got);
	assert_int_equal(recv(t->sv[1], data, sizeof(data), 0), 0);
}

/* ---- both forms on one connection ------------------------------------------ */

static void test_mixed_forms(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int *p = t->pipe, q[2], got[4], i;
	fdpass_meta *m, *r;
	size_t n;

	tl_pipe(q);
	httpd_send(t->sv[0], p[0]);                                       /* 0: httpd */
	m = example_meta();
	assert_int_equal(fdpass_send_meta(t->sv[0], q, 2, m, 0, 1000), 0); /* 1: meta, 2 fds */
	fdpass_meta_free(m);
	assert_int_equal(fdpass_send(t->sv[0], p[1]), 0);                 /* 2: fdpass_send */
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], NULL, 0, m, 0, 1000), 0); /* 3: meta, 0 fds */
	assert_int_equal(fdpass_meta_add_pair(m, "k", "v"), 0);
	assert_int_equal(fdpass_send_meta(t->sv[0], &q[1], 1, NULL, 0, 1000), 0); /* 4: plain */
	assert_int_equal(fdpass_send_meta(t->sv[0], &q[0], 1, m, 0, 1000), 0); /* 5: meta, 1 fd */
	httpd_send(t->sv[0], q[1]);                                       /* 6: httpd */
	httpd_send(t->sv[0], p[0]);                                       /* 7: httpd */
	fdpass_meta_free(m);
	tl_pair_close(t, 0);

	for (i = 0; i < 8; i++) {
		static const int expect_fd[8] = { 0, -1, 1, -1, 3, 2, 3, 0 };
		int want[4] = { p[0], p[1], q[0], q[1] };

		n = 4;
		r = not_set;
		memset(got, -1, sizeof(got));
		assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
		switch (i) {
		case 1:
			assert_int_equal(n, 2);
			assert_example_meta(r);
			assert_true(tl_same_file(got[0], q[0]));
			assert_true(tl_same_file(got[1], q[1]));
			close(got[1]);
			break;
		case 3:
			assert_int_equal(n, 0);
			assert_non_null(r);
			assert_int_equal(fdpass_meta_pair_count(r), 0);
			break;
		case 5:
			assert_int_equal(n, 1);
			assert_string_equal(fdpass_meta_find(r, "k"), "v");
			break;
		default: /* the plain form */
			assert_int_equal(n, 1);
			assert_null(r);
			break;
		}
		if (expect_fd[i] >= 0)
			assert_true(tl_same_file(got[0], want[expect_fd[i]]));
		if (n > 0) {
			assert_true(tl_is_cloexec(got[0]));
			close(got[0]);
		}
		fdpass_meta_free(r);
	}
	n = 4;
	r = not_set;
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 0);
	assert_null(r);
	close(q[0]);
	close(q[1]);
}

/* ---- malformed messages ------------------------------------------------------ */

static const char *result_text(int r)
{
	return r == 1 ? "success" : r == 0 ? "end of stream" : r == NA ? "-" : fdpass_strerror(r);
}


/*
 * Sends msg raw over a new socketpair of type: nfds1 real fds with byte 0;
 * if split is not 0, the bytes from split on go in a second sendmsg() with
 * nfds2 fds. Closes the sending end, receives with fdpass_recv_meta(), and
 * checks the result, *nfds, *meta, and that no fd was left open. Prints the
 * case and returns 1 if anything differs from what is expected.
 */
static int try_recv(const char *what, int type, const unsigned char *msg, size_t len,
		    int nfds1, size_t split, int nfds2, size_t room, size_t max_payload, int expect)
{
	int before = tl_count_fds(), after, sv[2], p[2], got[8], r, bad = 0;
	size_t n = room, i;
	fdpass_meta *m = not_set;

	if (expect == NA)
		return 0;
	tl_socketpair(type, sv);
	tl_pipe(p);
	if (split == 0) {
		tl_raw_send(sv[0], msg, len, p, (size_t)nfds1);
	} else {
		tl_raw_send(sv[0], msg, split, p, (size_t)nfds1);
		tl_raw_send(sv[0], msg + split, len - split, p, (size_t)nfds2);
	}
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	memset(got, -1, sizeof(got));
	r = fdpass_recv_meta(sv[1], got, &n, &m, max_payload, 0, 2000);
	if (r != expect) {
		fprintf(stderr, "  %s, %s: got %d (%s), expected %d (%s)\n", what, tl_type_name(type),
			r, result_text(r), expect, result_text(expect));
		bad = 1;
	}
	if (r < 0 && (n != 0 || m != NULL)) {
		fprintf(stderr, "  %s, %s: error %d with *nfds %zu, *meta %p\n", what,
			tl_type_name(type), r, n, (void *)m);
		bad = 1;
	}
	if (r == 1) {
		if (n != (size_t)(nfds1 + nfds2)) {
			fprintf(stderr, "  %s, %s: %zu fds handed out, %d sent\n", what,
				tl_type_name(type), n, nfds1 + nfds2);
			bad = 1;
		}
		for (i = 0; i < n && i < 8; i++)
			close(got[i]);
		fdpass_meta_free(m);
	}
	close(sv[1]);
	after = tl_count_fds();
	if (after != before) {
		fprintf(stderr, "  %s, %s: %d fds open before, %d after\n", what, tl_type_name(type),
			before, after);
		bad = 1;
	}
	return bad;
}

/* Every truncation point of the header and of the payload, 1 and 2 fds. */
static void test_malformed_truncated(void **state)
{
	struct msg m = { 0 };
	int bad = 0, nfds;
	size_t k;
	char what[64];

	(void)state;
	for (nfds = 1; nfds <= 2; nfds++) {
		m_example(&m, (unsigned)nfds);
		for (k = 1; k < m.len; k++) {
			snprintf(what, sizeof(what), "%s cut after %zu bytes, %d fds",
				 k < 16 ? "header" : "payload", k, nfds);
			/* A stream ends mid-message; a packet is short. */
			bad += try_recv(what, SOCK_STREAM, m.b, k, nfds, 0, 0, 4, 0, -ECONNRESET);
			bad += try_recv(what, SOCK_SEQPACKET, m.b, k, nfds, 0, 0, 4, 0, -EBADMSG);
		}
		/* The whole message, for contrast. */
		bad += try_recv("whole", SOCK_STREAM, m.b, m.len, nfds, 0, 0, 4, 0, 1);
		bad += try_recv("whole", SOCK_SEQPACKET, m.b, m.len, nfds, 0, 0, 4, 0, 1);
	}
	m_free(&m);
	if (bad)
		fail_msg("%d truncated messages were not rejected as documented", bad);
}

enum bad_kind {
	K_EXAMPLE,
	K_FLAGS_RESERVED,
	K_MAGIC_LAST,
	K_MAGIC_FIRST_LOWER,
	K_FIRST_G,
	K_FIRST_01,
	K_FIRST_FF,
	K_VERSION_0,
	K_VERSION_2,
	K_VERSION_FF,
	K_LEN_OVER_DEFAULT,
	K_LEN_FFFFFFFF,
	K_LEN_LIMIT_PLUS_1,
	K_NFDS_254,
	K_NFDS_FFFF,
	K_RECORD_HEAD_CUT,
	K_RECORD_PAST_END,
	K_RECORD_LEN_FFFFFFFF,
	K_CLIENT_NUL,
	K_LOCAL_NUL,
	K_FLUSHER_NUL,
	K_TEXT_4096,
	K_TEXT_4097,
	K_DUP_DATA,
	K_DUP_CLIENT,
	K_DUP_LOCAL,
	K_DUP_FLUSHER,
	K_PAIR_NO_NUL,
	K_PAIR_EMPTY_KEY,
	K_PAIR_KEY_EQ,
	K_PAIR_KEY_SPACE,
	K_PAIR_KEY_255,
	K_PAIR_KEY_256,
	K_PAIR_VALUE_NUL,
	K_PAIR_VALUE_4096,
	K_PAIR_VALUE_4097,
	K_PAIRS_64,
	K_PAIRS_65,
	K_UNKNOWN_TYPES,
	K_EMPTY_PAYLOAD,
	K_PLAIN,
	K_PLAIN_TWO_BYTES,
	K_PLAIN_THEN_HEADER,
	K_PACKET_TRAILING,
	K_EMPTY_PACKET,
};

/* The message of a case, with the header's fd count set to nfds. */
static void build_case(struct msg *m, enum bad_kind kind, unsigned nfds)
{
	char big[5000];
	int i;

	memset(big, 'a', sizeof(big));
	m_header(m, nfds);
	switch (kind) {
	case K_EXAMPLE:
		m_example(m, nfds);
		return;
	case K_FLAGS_RESERVED: /* ignored by a version-1 receiver */
		m_example(m, nfds);
		m->b[5] = 0xA5;
		put32_at(m, 12, 0xDEADBEEF);
		return;
	case K_MAGIC_LAST:
		m_example(m, nfds);
		m->b[3] = 'X';
		return;
	case K_MAGIC_FIRST_LOWER:
		m_example(m, nfds);
		m->b[0] = 'f';
		return;
	case K_FIRST_G:
		m->len = 0;
		m_bytes(m, example_request, strlen(example_request));
		return;
	case K_FIRST_01:
		m_example(m, nfds);
		m->b[0] = 0x01;
		return;
	case K_FIRST_FF:
		m_example(m, nfds);
		m->b[0] = 0xFF;
		return;
	case K_VERSION_0:
	case K_VERSION_2:
	case K_VERSION_FF:
		m_example(m, nfds);
		m->b[4] = kind == K_VERSION_0 ? 0 : kind == K_VERSION_2 ? 2 : 0xFF;
		return;
	case K_LEN_OVER_DEFAULT: /* the header alone: the payload is never read */
		put32_at(m, 8, FDPASS_META_DEFAULT_MAX + 1);
		return;
	case K_LEN_FFFFFFFF:
		put32_at(m, 8, 0xFFFFFFFF);
		return;
	case K_LEN_LIMIT_PLUS_1:
		put32_at(m, 8, FDPASS_META_LIMIT + 1);
		return;
	case K_NFDS_254:
	case K_NFDS_FFFF:
		m_example(m, kind == K_NFDS_254 ? 254 : 0xFFFF);
		return;
	case K_RECORD_HEAD_CUT: /* 3 bytes of a record head at the end */
		m_record(m, 1, "abc", 3);
		m_bytes(m, "\0\2\0", 3);
		break;
	case K_RECORD_PAST_END:
		m_record(m, 1, "abc", 3);
		m_u16(m, 2);
		m_u32(m, 5);
		m_bytes(m, "1234", 4);
		break;
	case K_RECORD_LEN_FFFFFFFF:
		m_u16(m, 1);
		m_u32(m, 0xFFFFFFFF);
		m_bytes(m, "abcdef", 6);
		break;
	case K_CLIENT_NUL:
	case K_LOCAL_NUL:
	case K_FLUSHER_NUL:
		m_record(m, kind == K_CLIENT_NUL ? 2 : kind == K_LOCAL_NUL ? 3 : 4,
			 "127.0.0.1\0:5555", 15);
		break;
	case K_TEXT_4096:
	case K_TEXT_4097:
		m_record(m, 2, big, kind == K_TEXT_4096 ? 4096 : 4097);
		break;
	case K_DUP_DATA:
		m_record(m, 1, "a", 1);
		m_record(m, 2, "x", 1);
		m_record(m, 1, "", 0);
		break;
	case K_DUP_CLIENT:
	case K_DUP_LOCAL:
	case K_DUP_FLUSHER:
		m_record(m, (unsigned)(kind - K_DUP_CLIENT + 2), "x", 1);
		m_pair(m, "k", "v");
		m_record(m, (unsigned)(kind - K_DUP_CLIENT + 2), "x", 1);
		break;
	case K_PAIR_NO_NUL:
		m_record(m, 5, "key=value", 9);
		break;
	case K_PAIR_EMPTY_KEY:
		m_record(m, 5, "\0value", 6);
		break;
	case K_PAIR_KEY_EQ:
		m_pair(m, "a=b", "v");
		break;
	case K_PAIR_KEY_SPACE:
		m_pair(m, "a b", "v");
		break;
	case K_PAIR_KEY_255:
	case K_PAIR_KEY_256:
		big[kind == K_PAIR_KEY_255 ? 255 : 256] = '\0';
		m_pair(m, big, "v");
		break;
	case K_PAIR_VALUE_NUL:
		m_record(m, 5, "k\0v\0w", 5);
		break;
	case K_PAIR_VALUE_4096:
	case K_PAIR_VALUE_4097:
		big[kind == K_PAIR_VALUE_4096 ? 4096 : 4097] = '\0';
		m_pair(m, "k", big);
		break;
	case K_PAIRS_64:
	case K_PAIRS_65:
		for (i = 0; i < (kind == K_PAIRS_64 ? 64 : 65); i++)
			m_pair(m, "k", "v");
		break;
	case K_UNKNOWN_TYPES: /* skipped, whatever their value */
		m_record(m, 0, "zero", 4);
		m_record(m, 6, "six\0", 4);
		m_record(m, 1, "data", 4);
		m_record(m, 0xFFFF, "", 0);
		m_record(m, 0x0105, big, 300);
		break;
	case K_EMPTY_PAYLOAD:
		break;
	case K_PLAIN:
		m->len = 0;
		m_u8(m, 0);
		return;
	case K_PLAIN_TWO_BYTES:
		m->len = 0;
		m_bytes(m, "\0\0", 2);
		return;
	case K_PLAIN_THEN_HEADER:
		m->len = 0;
		m_u8(m, 0);
		m_bytes(m, example_bytes, sizeof(example_bytes));
		return;
	case K_PACKET_TRAILING: /* one byte more than the header's length */
		m_example(m, nfds);
		m_u8(m, 0);
		return;
	case K_EMPTY_PACKET:
		m->len = 0;
		return;
	}
	m_finish(m);
}

/*
 * On a stream the receiver reads a plain message's byte alone: bytes sent
 * with it are read as the next message, and fail there, without the fd.
 */
static void test_plain_trailing_bytes_stream(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int fds[2] = { -1, -1 };
	size_t n = 2;
	fdpass_meta *meta = NULL;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = "\0\0", .iov_len = 2 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	memset(&control, 0, sizeof(control));
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &t->pipe[0], sizeof(int));
	assert_int_equal(sendmsg(t->sv[0], &msg, 0), 2);

	assert_int_equal(fdpass_recv_meta(t->sv[1], fds, &n, &meta, 0, 0, 100), 1);
	assert_int_equal(n, 1);
	assert_null(meta);
	assert_true(tl_same_file(fds[0], t->pipe[0]));
	close(fds[0]);
	n = 2;
	assert_int_equal(fdpass_recv_meta(t->sv[1], fds, &n, &meta, 0, 0, 100), -ENOMSG);
	assert_int_equal(n, 0);
}

static void test_malformed_table(void **state)
{
	static const struct {
		const char *name;
		enum bad_kind kind;
		unsigned header_nfds; /* the count the header claims */
		int fds;              /* real fds attached to the first byte */
		size_t room;          /* *nfds given to fdpass_recv_meta */
		size_t max_payload;
		int stream, packet;   /* expected results */
	} cases[] = {
		{ "valid example", K_EXAMPLE, 1, 1, 4, 0, 1, 1 },
		{ "valid, flags and reserved bytes set", K_FLAGS_RESERVED, 2, 2, 4, 0, 1, 1 },
		{ "valid, empty payload, no fd", K_EMPTY_PAYLOAD, 0, 0, 1, 0, 1, 1 },
		{ "magic FDPX", K_MAGIC_LAST, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "magic fDPM", K_MAGIC_FIRST_LOWER, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "first byte 'G' (a request)", K_FIRST_G, 0, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "first byte 0x01", K_FIRST_01, 1, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "first byte 0xFF", K_FIRST_FF, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "version 0", K_VERSION_0, 1, 1, 4, 0, -EPROTONOSUPPORT, -EPROTONOSUPPORT },
		{ "version 2", K_VERSION_2, 2, 2, 4, 0, -EPROTONOSUPPORT, -EPROTONOSUPPORT },
		{ "version 0xFF", K_VERSION_FF, 1, 1, 4, 0, -EPROTONOSUPPORT, -EPROTONOSUPPORT },
		{ "length over the default bound", K_LEN_OVER_DEFAULT, 1, 1, 4, 0, -EMSGSIZE, -EMSGSIZE },
		{ "length over a given bound", K_EXAMPLE, 1, 1, 4, 43, -EMSGSIZE, -EMSGSIZE },
		{ "length at a given bound", K_EXAMPLE, 2, 2, 4, 44, 1, 1 },
		{ "length 0xFFFFFFFF", K_LEN_FFFFFFFF, 1, 1, 4, 0, -EMSGSIZE, -EMSGSIZE },
		{ "length 0xFFFFFFFF, largest bound", K_LEN_FFFFFFFF, 2, 2, 4, FDPASS_META_LIMIT,
		  -EMSGSIZE, -EMSGSIZE },
		{ "length FDPASS_META_LIMIT + 1", K_LEN_LIMIT_PLUS_1, 1, 1, 4, FDPASS_META_LIMIT,
		  -EMSGSIZE, -EMSGSIZE },
		{ "header says 2 fds, 1 came", K_EXAMPLE, 2, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "header says 1 fd, 2 came", K_EXAMPLE, 1, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "header says 0 fds, 1 came", K_EXAMPLE, 0, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "header says 1 fd, none came", K_EXAMPLE, 1, 0, 4, 0, -EBADMSG, -EBADMSG },
		{ "header says 254 fds, 1 came", K_NFDS_254, 254, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "header says 65535 fds, 2 came", K_NFDS_FFFF, 0xFFFF, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "2 fds, room for 1", K_EXAMPLE, 2, 2, 1, 0, -ETOOMANYREFS, -ETOOMANYREFS },
		{ "record head cut by the payload's end", K_RECORD_HEAD_CUT, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "record running past the payload", K_RECORD_PAST_END, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "record length 0xFFFFFFFF", K_RECORD_LEN_FFFFFFFF, 2, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "client address with NUL", K_CLIENT_NUL, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "local address with NUL", K_LOCAL_NUL, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "flusher with NUL", K_FLUSHER_NUL, 2, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "text of 4096 bytes", K_TEXT_4096, 1, 1, 4, 0, 1, 1 },
		{ "text of 4097 bytes", K_TEXT_4097, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "duplicate data record", K_DUP_DATA, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "duplicate client address", K_DUP_CLIENT, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "duplicate local address", K_DUP_LOCAL, 2, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "duplicate flusher", K_DUP_FLUSHER, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair without NUL", K_PAIR_NO_NUL, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair with an empty key", K_PAIR_EMPTY_KEY, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair key with '='", K_PAIR_KEY_EQ, 2, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair key with a space", K_PAIR_KEY_SPACE, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair key of 255 bytes", K_PAIR_KEY_255, 1, 1, 4, 0, 1, 1 },
		{ "pair key of 256 bytes", K_PAIR_KEY_256, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair value with NUL", K_PAIR_VALUE_NUL, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "pair value of 4096 bytes", K_PAIR_VALUE_4096, 1, 1, 4, 0, 1, 1 },
		{ "pair value of 4097 bytes", K_PAIR_VALUE_4097, 1, 1, 4, 0, -EBADMSG, -EBADMSG },
		{ "64 pairs", K_PAIRS_64, 1, 1, 4, 0, 1, 1 },
		{ "65 pairs", K_PAIRS_65, 2, 2, 4, 0, -EBADMSG, -EBADMSG },
		{ "unknown record types", K_UNKNOWN_TYPES, 1, 1, 4, 0, 1, 1 },
		{ "plain form", K_PLAIN, 0, 1, 4, 0, 1, 1 },
		/* On a stream the extra bytes are the next message: see below. */
		{ "plain form, 2 bytes", K_PLAIN_TWO_BYTES, 0, 1, 4, 0, 1, -EBADMSG },
		{ "plain form, no fd", K_PLAIN, 0, 0, 4, 0, -ENOMSG, -ENOMSG },
		{ "plain form, 2 fds", K_PLAIN, 0, 2, 4, 0, -ETOOMANYREFS, -ETOOMANYREFS },
		{ "plain form, 2 fds, room for 1", K_PLAIN, 0, 2, 1, 0, -ETOOMANYREFS, -ETOOMANYREFS },
		{ "plain form with a header after it", K_PLAIN_THEN_HEADER, 0, 1, 4, 0, 1, -EBADMSG },
		{ "packet longer than the header says", K_PACKET_TRAILING, 1, 1, 4, 0, NA, -EBADMSG },
		{ "empty packet with an fd", K_EMPTY_PACKET, 0, 1, 4, 0, NA, -EBADMSG },
	};
	struct msg m = { 0 };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		build_case(&m, cases[i].kind, cases[i].header_nfds);
		bad += try_recv(cases[i].name, SOCK_STREAM, m.b, m.len, cases[i].fds, 0, 0,
				cases[i].room, cases[i].max_payload, cases[i].stream);
		bad += try_recv(cases[i].name, SOCK_SEQPACKET, m.b, m.len, cases[i].fds, 0, 0,
				cases[i].room, cases[i].max_payload, cases[i].packet);
	}
	m_free(&m);
	if (bad)
		fail_msg("%d malformed messages were not handled as documented", bad);
}

/* What a version-1 receiver keeps of a message with unknown record types. */
static void test_unknown_records_skipped(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct msg m = { 0 };
	int got = -1;
	size_t n = 1, len = 0;
	fdpass_meta *r = NULL;

	build_case(&m, K_UNKNOWN_TYPES, 1);
	tl_raw_send(t->sv[0], m.b, m.len, &t->pipe[0], 1);
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 1000), 1);
	assert_int_equal(n, 1);
	assert_memory_equal(fdpass_meta_get_data(r, &len), "data", 4);
	assert_int_equal(len, 4);
	assert_null(fdpass_meta_get(r, FDPASS_META_CLIENT_ADDR));
	assert_int_equal(fdpass_meta_pair_count(r), 0);
	fdpass_meta_free(r);
	assert_true(tl_same_file(got, t->pipe[0]));
	close(got);
	/* The connection is in step: the next message reads fine. */
	tl_raw_send(t->sv[0], example_bytes, sizeof(example_bytes), &t->pipe[1], 1);
	n = 1;
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 1000), 1);
	assert_example_meta(r);
	fdpass_meta_free(r);
	close(got);
	m_free(&m);
}

/*
 * On a stream, fds that arrive with any byte but the first belong to no
 * message: PROTOCOL.md section 3 says -EBADMSG, with every fd closed.
 */
static void test_malformed_fds_mid_message(void **state)
{
	static const struct {
		const char *name;
		unsigned header_nfds;
		int nfds1;
		size_t split;
		int nfds2;
	} cases[] = {
		{ "1 fd with byte 0, 1 more in the middle of the payload", 1, 1, 30, 1 },
		{ "1 fd with byte 0, 1 more with the last byte", 1, 1, 59, 1 },
		{ "no fd with byte 0, 1 with the payload's first byte", 0, 0, 16, 1 },
		{ "2 fds with byte 0, 2 more with the payload", 2, 2, 16, 2 },
		{ "header says 2, both come in the middle of the payload", 2, 0, 40, 2 },
		/* The header's bytes are the message's too. */
		{ "header says 1, the fd comes with header byte 1", 1, 0, 1, 1 },
		{ "header says 1, the fd comes with header byte 15", 1, 0, 15, 1 },
		{ "header says 2, 1 with byte 0, 1 with header byte 8", 2, 1, 8, 1 },
	};
	struct msg m = { 0 };
	size_t i;
	int bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		m_example(&m, cases[i].header_nfds);
		bad += try_recv(cases[i].name, SOCK_STREAM, m.b, m.len, cases[i].nfds1,
				cases[i].split, cases[i].nfds2, 8, 0, -EBADMSG);
	}
	m_free(&m);
	if (bad)
		fail_msg("%d messages with fds after the first byte were not rejected", bad);
}

/* SO_PASSCRED adds SCM_CREDENTIALS to every read: -EPROTO, fds closed. */
static void test_malformed_passcred(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sv[2], got[2] = { -1, -1 }, one = 1;
	size_t n = 2;
	fdpass_meta *r = not_set;

	assert_int_equal(setsockopt(t->sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	tl_raw_send(t->sv[0], example_bytes, sizeof(example_bytes), &t->pipe[0], 1);
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), -EPROTO);
	assert_int_equal(n, 0);
	assert_null(r);

	/* The plain form on a connection of its own. */
	tl_socketpair(t->type, sv);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	httpd_send(sv[0], t->pipe[1]);
	n = 2;
	r = not_set;
	assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &r, 0, 0, 1000), -EPROTO);
	assert_int_equal(n, 0);
	assert_null(r);
	close(sv[0]);
	close(sv[1]);
}

/* ---- the receiver at its open-file limit ---------------------------------- */

struct limit_job {
	int socks[4]; /* stream: 1 fd, 2 fds; seqpacket: 1 fd, 2 fds */
};

static int child_recvs_at_limit(void *arg)
{
	struct limit_job *j = arg;
	int i, r;

	for (i = 0; i < 4; i++) {
		int got[4] = { -1, -1, -1, -1 }, before;
		size_t n = 4;
		fdpass_meta *m = not_set;

		/* No room at all for one fd; room for one of two. */
		if ((r = tl_limit_fds(i % 2)) != 0)
			return r;
		before = tl_count_fds_no_open();
		r = fdpass_recv_meta(j->socks[i], got, &n, &m, 0, 0, 1000);
		if (r != -EXFULL || n != 0 || m != NULL)
			TL_CHILD_FAIL("at the fd limit, case %d: %d (%s), nfds %zu, not -EXFULL", i,
				      r, fdpass_strerror(r), n);
		TL_CHILD_CHECK(tl_count_fds_no_open() == before);
	}
	return 0;
}

static void test_recv_at_fd_limit(void **state)
{
	struct limit_job j;
	int sv[4][2], p[2], i, r;

	(void)state;
	tl_pipe(p);
	for (i = 0; i < 4; i++) {
		struct msg m = { 0 };

		tl_socketpair(i < 2 ? SOCK_STREAM : SOCK_SEQPACKET, sv[i]);
		m_example(&m, (unsigned)(i % 2 + 1));
		tl_raw_send(sv[i][0], m.b, m.len, p, (size_t)(i % 2 + 1));
		m_free(&m);
		j.socks[i] = sv[i][1];
	}
	r = tl_child_result(tl_fork(child_recvs_at_limit, &j));
	for (i = 0; i < 4; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
	close(p[0]);
	close(p[1]);
	if (r == 77)
		skip(); /* valgrind: RLIMIT_NOFILE is only emulated */
	assert_int_equal(r, 0);
}

/* ---- messages over many reads, waiting, deadlines --------------------------- */

struct trickle {
	int sock;
	const unsigned char *msg;
	size_t len;
	const int *fds;
	size_t nfds;
	const size_t *cuts; /* send up to each cut, then the rest; none: byte by byte */
	size_t ncuts;
	int sleep_ms;
};

/* Sends the message in pieces, the fds with the first; sleeps between them. */
static int child_trickles(void *arg)
{
	const struct trickle *t = arg;
	size_t at = 0, i;

	for (i = 0; at < t->len; i++) {
		size_t end = i < t->ncuts ? t->cuts[i] : t->ncuts ? t->len : at + 1;

		if (end > t->len)
			end = t->len;
		TL_CHILD_CHECK(tl_sendmsg_fds(t->sock, t->msg + at, end - at, at ? NULL : t->fds,
					      at ? 0 : t->nfds, 0) == (ssize_t)(end - at));
		at = end;
		if (at < t->len)
			tl_sleep_ms(t->sleep_ms);
	}
	return 0;
}

/* Byte by byte, with pauses: received whole, with its fds. */
static void test_recv_byte_by_byte(void **state)
{
	struct tl_pair *t = tl_pair(state);
	struct trickle tr = { .nfds = 2, .sleep_ms = 2 };
	struct msg m = { 0 };
	int got[4] = { -1, -1, -1, -1 };
	size_t n = 4;
	fdpass_meta *r = NULL;
	pid_t pid;

	m_header(&m, 2);
	m_record(&m, 1, example_request, strlen(example_request));
	m_record(&m, 2, example_client, strlen(example_client));
	m_record(&m, 4, "flush", 5);
	m_pair(&m, "key", "value");
	m_finish(&m);
	tr.sock = t->sv[0];
	tr.msg = m.b;
	tr.len = m.len;
	tr.fds = t->pipe;
	pid = tl_fork_peer(child_trickles, &tr);
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 10000), 1);
	assert_int_equal(n, 2);
	assert_true(tl_same_file(got[0], t->pipe[0]));
	assert_true(tl_same_file(got[1], t->pipe[1]));
	assert_memory_equal(fdpass_meta_get_data(r, NULL), example_request, strlen(example_request));
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_CLIENT_ADDR), example_client);
	assert_string_equal(fdpass_meta_get(r, FDPASS_META_FLUSHER), "flush");
	assert_string_equal(fdpass_meta_find(r, "key"), "value");
	fdpass_meta_free(r);
	close(got[0]);
	close(got[1]);
	tl_wait_child(pid);
	/* And then a plain message, in step. */
	httpd_send(t->sv[0], t->pipe[1]);
	n = 4;
	assert_int_equal(fdpass_recv_meta(t->sv[1], got, &n, &r, 0, 0, 1000), 1);
	assert_null(r);
	assert_int_equal(n, 1);
	close(got[0]);
	m_free(&m);
}

static void test_recv_nothing_there(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	fdpass_meta *r = not_set;
	int64_t start;

	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, FDPASS_NONBLOCK, -1), -EAGAIN);
	assert_int_equal(n, 0);
	assert_null(r);
	n = 1;
	r = not_set;
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, FDPASS_NONBLOCK, 1000),
			 -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 0), -EAGAIN);
	n = 1;
	start = tl_now_ms();
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, 100), -ETIMEDOUT);
	assert_true(tl_now_ms() - start >= 100);
	assert_int_equal(n, 0);
	assert_null(r);
	assert_int_equal(got, -1);
	/* Only -EAGAIN and -ETIMEDOUT leave the connection usable: it is. */
	tl_raw_send(t->sv[0], example_bytes, sizeof(example_bytes), &t->pipe[1], 1);
	n = 1;
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, FDPASS_NONBLOCK, 0), 1);
	assert_example_meta(r);
	fdpass_meta_free(r);
	assert_true(tl_same_file(got, t->pipe[1]));
	close(got);
}

/* Sends the example message after a pause, for a receiver that blocks. */
static int late_sender_child(void *arg)
{
	struct tl_pair *t = arg;

	usleep(100 * 1000);
	if (tl_sendmsg_fds(t->sv[0], example_bytes, sizeof(example_bytes), &t->pipe[1], 1, 0) !=
	    (ssize_t)sizeof(example_bytes)) {
		fprintf(stderr, "late sender: sendmsg failed: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* On a blocking socket, timeout -1 waits for a message to begin. */
static void test_recv_blocking_waits(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int got = -1;
	size_t n = 1;
	fdpass_meta *r = not_set;
	pid_t pid;

	pid = tl_fork(late_sender_child, t);
	assert_int_equal(fdpass_recv_meta(t->sv[1], &got, &n, &r, 0, 0, -1), 1);
	assert_int_equal(n, 1);
	assert_true(tl_same_file(got, t->pipe[1]));
	assert_example_meta(r);
	fdpass_meta_free(r);
	close(got);
	tl_wait_child(pid);
}

/* A message that begins and never ends: -ETIME after the given timeout. */
static void test_recv_rest_never_comes(void **state)
{
	static const size_t cuts[] = { 1, 9, 16, 17, 40 };
	struct msg m = { 0 };
	size_t c;

	(void)state;
	m_example(&m, 2);
	for (c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		int sv[2], p[2], got[4];
		size_t n = 4;
		fdpass_meta *r = not_set;
		int64_t start, took;

		tl_socketpair(SOCK_STREAM, sv);
		tl_pipe(p);
		tl_raw_send(sv[0], m.b, cuts[c], p, 2);
		close(p[0]);
		close(p[1]);
		start = tl_now_ms();
		assert_int_equal(fdpass_recv_meta(sv[1], got, &n, &r, 0, 0, 150), -ETIME);
		took = tl_now_ms() - start;
		assert_int_equal(n, 0);
		assert_null(r);
		if (took < 150 || took > 3000)
			fail_msg("cut after %zu bytes: -ETIME after %lld ms, timeout 150 ms",
				 cuts[c], (long long)took);
		close(sv[0]);
		close(sv[1]);
	}
	m_free(&m);
}

/*
 * timeout_ms bounds the wait "for the rest of one that has begun" (fdpass.h):
 * the rest as a whole, not each of its parts. Here every pause is shorter
 * than the timeout, but the rest of the message takes twice as long.
 */
static void test_recv_rest_deadline_whole_message(void **state)
{
	static const size_t cuts[] = { 1, 16 };
	struct tl_pair *t = tl_pair(state);
	struct trickle tr = { .nfds = 1, .cuts = cuts, .ncuts = 2, .sleep_ms = 400 };
	int got = -1, r;
	size_t n = 1;
	fdpass_meta *m = NULL;
	int64_t start, took;
	pid_t pid;

	tr.sock = t->sv[0];
	tr.msg = example_bytes;
	tr.len = sizeof(example_bytes);
	tr.fds = &t->pipe[0];
	pid = tl_fork_peer(child_trickles, &tr);
	/* The message has begun, whenever the child got to run: the rest is timed. */
	assert_true(tl_wait_fd(t->sv[1], POLLIN, 10000) > 0);
	start = tl_now_ms();
	r = fdpass_recv_meta(t->sv[1], &got, &n, &m, 0, 0, 600);
	took = tl_now_ms() - start;
	if (r == 1) {
		close(got);
		fdpass_meta_free(m);
	}
	tl_wait_child(pid);
	if (r != -ETIME)
		fail_msg("the rest of a message took ~800 ms with a 600 ms timeout: "
			 "got %d (%s) after %lld ms, expected -ETIME", r, result_text(r),
			 (long long)took);
}

/* ---- arguments ---------------------------------------------------------------- */

static void test_recv_bad_arguments(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int sock = t->sv[1], got[2];
	size_t n = 1;
	fdpass_meta *r = not_set;

	assert_int_equal(fdpass_recv_meta(sock, got, NULL, &r, 0, 0, 0), -EINVAL);
	assert_int_equal(fdpass_recv_meta(sock, got, &n, NULL, 0, 0, 0), -EINVAL);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, NULL, &n, &r, 0, 0, 0), -EINVAL);
	assert_int_equal(n, 0);
	assert_null(r);
	n = 0;
	r = not_set;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &r, 0, 0, 0), -EINVAL);
	assert_null(r);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &r, 0, FDPASS_WAITALL, 0), -EINVAL);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &r, 0, 0x100, 0), -EINVAL);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &r, FDPASS_META_LIMIT + 1, 0, 0), -EINVAL);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &r, FDPASS_META_LIMIT, 0, 0), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_meta(-1, got, &n, &r, 0, 0, 0), -EBADF);
	n = 1;
	assert_int_equal(fdpass_recv_meta(t->pipe[0], got, &n, &r, 0, 0, 0), -ENOTSOCK);
	assert_int_equal(n, 0);
}

static void test_send_bad_arguments(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int *p = t->pipe, sock = t->sv[0], fds[FDPASS_MAX_FDS + 1], bad[2], i;
	fdpass_meta *m;
	char byte;

	for (i = 0; i <= FDPASS_MAX_FDS; i++)
		fds[i] = p[i % 2];
	bad[0] = p[0];
	bad[1] = -1;
	m = example_meta();
	assert_int_equal(fdpass_send_meta(sock, fds, FDPASS_MAX_FDS + 1, m, 0, 1000), -E2BIG);
	assert_int_equal(fdpass_send_meta(sock, fds, 1000, m, 0, 1000), -E2BIG);
	assert_int_equal(fdpass_send_meta(sock, NULL, 1, m, 0, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(sock, fds, 1, m, FDPASS_WAITALL, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(sock, fds, 1, m, 0x100, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(sock, fds, 1, NULL, FDPASS_WAITALL, 1000), -EINVAL);
	assert_int_equal(fdpass_send_meta(sock, bad, 2, m, 0, 1000), -EBADF);
	assert_int_equal(fdpass_send_meta(sock, &bad[1], 1, NULL, 0, 1000), -EBADF);
	assert_int_equal(fdpass_send_meta(-1, fds, 1, m, 0, 1000), -EBADF);
	assert_int_equal(fdpass_send_meta(p[1], fds, 1, m, 0, 1000), -ENOTSOCK);
	/* Nothing went out. */
	assert_int_equal(recv(t->sv[1], &byte, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	/* FDPASS_MAX_FDS itself is fine; the 253 fds in flight go with the pair. */
	assert_int_equal(fdpass_send_meta(sock, fds, FDPASS_MAX_FDS, m, 0, 1000), 0);
	fdpass_meta_free(m);
}

static void test_send_full_and_dead_peer(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int *p = t->pipe, sv[2], r;
	fdpass_meta *m = example_meta();
	int64_t start;

	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test */
	tl_fill(t->sv[0]);
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, m, FDPASS_NONBLOCK, 1000), -EAGAIN);
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, m, 0, 0), -EAGAIN);
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, NULL, FDPASS_NONBLOCK, -1), -EAGAIN);
	start = tl_now_ms();
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, m, 0, 100), -ETIMEDOUT);
	assert_true(tl_now_ms() - start >= 100);

	/* The reader goes away with unread data: the kernel says ECONNRESET once. */
	tl_pair_close(t, 1);
	r = fdpass_send_meta(t->sv[0], &p[0], 1, m, 0, 1000);
	assert_true(r == -ECONNRESET || r == -EPIPE);
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, m, 0, 1000), -EPIPE);

	/* A peer that is gone (never read): -EPIPE, and no SIGPIPE kills us. */
	tl_socketpair(t->type, sv);
	close(sv[1]);
	assert_int_equal(fdpass_send_meta(sv[0], &p[0], 1, m, 0, 1000), -EPIPE);
	assert_int_equal(fdpass_send_meta(sv[0], &p[0], 1, NULL, 0, 1000), -EPIPE);
	assert_int_equal(fdpass_send_meta(sv[0], NULL, 0, m, 0, -1), -EPIPE);
	assert_int_equal(fdpass_send_meta(sv[0], p, 2, m, FDPASS_NONBLOCK, 0), -EPIPE);
	fdpass_meta_free(m);
	close(sv[0]);
}

/* Part of a message went out, the rest cannot: -ECONNABORTED. */
static void test_send_half_message(void **state)
{
	struct tl_pair *t = tl_pair(state);
	size_t len = 1 << 20;
	char *data = calloc(1, len);
	int sv[2], *p = t->pipe;
	fdpass_meta *m;
	int64_t start, took;

	assert_non_null(data);
	assert_int_equal(fdpass_meta_new(&m), 0);
	assert_int_equal(fdpass_meta_set_data(m, data, len), 0);
	/* Nobody reads: the start fits in the socket, the rest times out. */
	start = tl_now_ms();
	assert_int_equal(fdpass_send_meta(t->sv[0], &p[0], 1, m, 0, 100), -ECONNABORTED);
	took = tl_now_ms() - start;
	assert_true(took >= 100 && took < 3000);

	/* The reader goes away in the middle. */
	tl_socketpair(SOCK_STREAM, sv);
	{
		struct sender s = { .sock = sv[0], .other = sv[1], .fds = &p[0], .nfds = 1,
				    .meta = m, .expect = -ECONNABORTED };
		pid_t pid = tl_fork_peer(child_sends_meta, &s);
		char buf[4096];

		close(sv[0]);
		/* Drain the fd-carrying start, then hang up on the sender. */
		{
			int got = -1;
			size_t n = 1;

			assert_true(fdpass_recv_fds(sv[1], &got, &n, buf, sizeof(buf), FDPASS_WAITALL,
						    2000) > 0);
			if (n)
				close(got);
		}
		close(sv[1]);
		tl_wait_child(pid);
	}
	fdpass_meta_free(m);
	free(data);
}

/* ---- hand-off and backend, end to end --------------------------------------- */

static void addr_text(int fd, int peer, char *buf, size_t size)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char ip[INET_ADDRSTRLEN];

	if (peer)
		assert_int_equal(getpeername(fd, (struct sockaddr *)&sa, &len), 0);
	else
		assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	assert_non_null(inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip)));
	snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(sa.sin_port));
}

struct echo_job {
	char path[256];
	int ready_w;
};

/*
 * The backend: receives one client socket with fdpass_backend_recv_meta()
 * and writes what it learnt to the client, so the test sees that both came.
 */
static int echo_backend(void *arg)
{
	struct echo_job *j = arg;
	fdpass_backend *b = NULL;
	fdpass_meta *m = NULL;
	char out[8192];
	int cfd = -1, r, len;

	if ((r = fdpass_backend_new(&b, j->path, -1, 0)) < 0)
		TL_CHILD_FAIL("fdpass_backend_new: %s", fdpass_strerror(r));
	TL_CHILD_CHECK(tl_put_byte(j->ready_w) == 0);
	r = fdpass_backend_recv_meta(b, &cfd, &m, 5000);
	if (r != 1)
		TL_CHILD_FAIL("fdpass_backend_recv_meta: %d (%s)", r, fdpass_strerror(r));
	TL_CHILD_CHECK(tl_is_cloexec(cfd));
	if (!m) {
		len = snprintf(out, sizeof(out), "meta=NULL\n");
	} else {
		size_t dlen = 0;
		const void *d = fdpass_meta_get_data(m, &dlen);
		const char *f = fdpass_meta_get(m, FDPASS_META_FLUSHER);
		const char *c = fdpass_meta_get(m, FDPASS_META_CLIENT_ADDR);
		const char *l = fdpass_meta_get(m, FDPASS_META_LOCAL_ADDR);
		const char *pv = fdpass_meta_find(m, "route");

		len = snprintf(out, sizeof(out), "flusher=%s\nclient=%s\nlocal=%s\nroute=%s\ndata=",
			       f ? f : "(none)", c ? c : "(none)", l ? l : "(none)",
			       pv ? pv : "(none)");
		TL_CHILD_CHECK(d && dlen <= sizeof(out) - (size_t)len - 1);
		memcpy(out + len, d, dlen);
		len += (int)dlen;
	}
	TL_CHILD_CHECK(fdpass_write_all(cfd, out, (size_t)len, 5000) == 0);
	close(cfd);
	fdpass_meta_free(m);
	fdpass_backend_free(b);
	return 0;
}

/*
 * A client connects over TCP and sends a request; the test, as front-end,
 * reads it and hands the connection off with fdpass_handoff_meta(). meta
 * mode: 0 NULL, 1 data and addresses, 2 those and its own flusher name.
 * Returns what the client read until the backend closed.
 */
static void handoff_echo(const char *flusher, int mode, char *out, size_t size,
			 char *client_addr, char *local_addr)
{
	static const char request[] = "GET /app HTTP/1.1\r\nHost: test\r\n\r\n";
	struct echo_job job;
	char dir[200], buf[sizeof(request)];
	int ready[2], client, front;
	fdpass_meta *m = NULL;
	pid_t pid;

	tl_tmpdir(dir, sizeof(dir));
	snprintf(job.path, sizeof(job.path), "%s/backend.sock", dir);
	tl_pipe(ready);
	job.ready_w = ready[1];
	pid = tl_fork(echo_backend, &job); /* before the TCP sockets exist */
	close(ready[1]);
	assert_int_equal(tl_get_byte(ready[0], 10000), 0);
	close(ready[0]);

	tl_tcp_pair(&client, &front);
	assert_int_equal(write(client, request, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	assert_int_equal(read(front, buf, sizeof(request) - 1), (ssize_t)sizeof(request) - 1);
	addr_text(front, 1, client_addr, 64);
	addr_text(front, 0, local_addr, 64);
	if (mode) {
		assert_int_equal(fdpass_meta_new(&m), 0);
		assert_int_equal(fdpass_meta_set_data(m, buf, sizeof(request) - 1), 0);
		assert_int_equal(fdpass_meta_set(m, FDPASS_META_CLIENT_ADDR, client_addr), 0);
		assert_int_equal(fdpass_meta_set(m, FDPASS_META_LOCAL_ADDR, local_addr), 0);
		assert_int_equal(fdpass_meta_add_pair(m, "route", "app"), 0);
		if (mode == 2)
			assert_int_equal(fdpass_meta_set(m, FDPASS_META_FLUSHER, "my-own"), 0);
	}
	assert_int_equal(fdpass_handoff_meta(job.path, front, flusher, NULL, m, 2000), 0);
	fdpass_meta_free(m);
	close(front);
	tl_read_to_eof(client, out, size, 5000);
	close(client);
	tl_wait_child(pid);
	tl_rmdir(dir);
}

/* The body after the "flush" flusher's head. */
static const char *after_head(const char *s)
{
	const char *end = strstr(s, "\r\n\r\n");

	assert_true(!strncmp(s, "HTTP/1.1 200 OK\r\n", 17));
	assert_non_null(end);
	assert_non_null(strstr(s, "Connection: close\r\n"));
	return end + 4;
}

static void test_handoff_meta_end_to_end(void **state)
{
	static const char request[] = "GET /app HTTP/1.1\r\nHost: test\r\n\r\n";
	char out[8192], expect[1024], client[64], local[64];

	(void)state;
	/* Default flusher: the client gets the head; the backend learns "flush". */
	handoff_echo(NULL, 1, out, sizeof(out), client, local);
	assert_true(!strncmp(client, "127.0.0.1:", 10));
	snprintf(expect, sizeof(expect), "flusher=flush\nclient=%s\nlocal=%s\nroute=app\ndata=%s",
		 client, local, request);
	assert_string_equal(after_head(out), expect);

	/* "none": nothing before the backend's bytes; the name is sent. */
	handoff_echo("none", 1, out, sizeof(out), client, local);
	snprintf(expect, sizeof(expect), "flusher=none\nclient=%s\nlocal=%s\nroute=app\ndata=%s",
		 client, local, request);
	assert_string_equal(out, expect);

	/* A flusher name in meta is kept. */
	handoff_echo("none", 2, out, sizeof(out), client, local);
	snprintf(expect, sizeof(expect), "flusher=my-own\nclient=%s\nlocal=%s\nroute=app\ndata=%s",
		 client, local, request);
	assert_string_equal(out, expect);
}

static void test_handoff_meta_null(void **state)
{
	char out[8192], client[64], local[64];

	(void)state;
	handoff_echo(NULL, 0, out, sizeof(out), client, local);
	assert_string_equal(after_head(out), "meta=NULL\n");
	handoff_echo("none", 0, out, sizeof(out), client, local);
	assert_string_equal(out, "meta=NULL\n");
}

/*
 * Front-ends that break the protocol are dropped, each with its error,
 * while a well-behaved one keeps being served on its connection.
 */
static void test_backend_drops_bad_frontend(void **state)
{
	struct tl_pair *t = tl_pair(state);
	int *p = t->pipe;
	int seq = t->type == SOCK_SEQPACKET ? FDPASS_SEQPACKET : 0;
	char dir[256], path[300];
	fdpass_backend *b = NULL;
	int good, bad_magic, too_big, no_fd, stall, cfd, round, r;
	int saw_bad = 0, saw_big = 0, saw_no_fd = 0, saw_stall = 0, served = 0;
	fdpass_meta *m, *rm;
	struct msg msg = { 0 };
	int64_t start;

	tl_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/b.sock", dir);
	assert_int_equal(fdpass_backend_new(&b, path, -1, seq), 0);
	good = fdpass_connect(path, seq, 1000);
	bad_magic = fdpass_connect(path, seq, 1000);
	too_big = fdpass_connect(path, seq, 1000);
	no_fd = fdpass_connect(path, seq, 1000);
	stall = seq ? -1 : fdpass_connect(path, seq, 1000);
	assert_true(good >= 0 && bad_magic >= 0 && too_big >= 0 && no_fd >= 0);

	build_case(&msg, K_MAGIC_LAST, 1);
	tl_raw_send(bad_magic, msg.b, msg.len, &p[0], 1);
	build_case(&msg, K_LEN_OVER_DEFAULT, 1);
	tl_raw_send(too_big, msg.b, msg.len, &p[1], 1);
	if (stall >= 0) {
		m_example(&msg, 1);
		tl_raw_send(stall, msg.b, 10, &p[1], 1);
	}
	m = example_meta();
	/* Well-formed, but no client socket to hand out. */
	assert_int_equal(fdpass_send_meta(no_fd, NULL, 0, m, 0, 1000), 0);
	assert_int_equal(fdpass_meta_add_pair(m, "n", "1"), 0);
	assert_int_equal(fdpass_send_meta(good, &p[0], 1, m, 0, 1000), 0);

	start = tl_now_ms();
	for (round = 0; round < 10 && !(served && saw_bad && saw_big && saw_no_fd &&
					 (saw_stall || stall < 0)); round++) {
		rm = not_set;
		r = fdpass_backend_recv_meta(b, &cfd, &rm, 3000);
		if (r == 1) {
			assert_true(tl_same_file(cfd, p[0]));
			assert_true(tl_is_cloexec(cfd));
			assert_string_equal(fdpass_meta_get(rm, FDPASS_META_CLIENT_ADDR),
					    example_client);
			assert_string_equal(fdpass_meta_find(rm, "n"), "1");
			close(cfd);
			fdpass_meta_free(rm);
			served++;
		} else {
			assert_null(rm); /* *client_fd: see test_backend_error_client_fd */
			if (r == -EBADMSG)
				saw_bad++;
			else if (r == -EMSGSIZE)
				saw_big++;
			else if (r == -ENOMSG)
				saw_no_fd++;
			else if (r == -ETIME && stall >= 0)
				saw_stall++;
			else
				fail_msg("%s: unexpected %d (%s)", t->type_name, r,
					 fdpass_strerror(r));
		}
	}
	assert_int_equal(served, 1);
	assert_int_equal(saw_bad, 1);
	assert_int_equal(saw_big, 1);
	assert_int_equal(saw_no_fd, 1);
	if (stall >= 0) {
		assert_int_equal(saw_stall, 1);
		/* Dropped after about a second, as documented. */
		assert_true(tl_now_ms() - start >= 900);
		assert_true(tl_hung_up(stall, 1000));
		close(stall);
	}
	assert_true(tl_hung_up(bad_magic, 1000));
	assert_true(tl_hung_up(too_big, 1000));
	assert_true(tl_hung_up(no_fd, 1000));
	close(bad_magic);
	close(too_big);
	close(no_fd);

	/* The good front-end's connection is still served: both forms. */
	assert_int_equal(fdpass_send_meta(good, &p[1], 1, NULL, 0, 1000), 0);
	assert_int_equal(fdpass_backend_recv_meta(b, &cfd, &rm, 2000), 1);
	assert_null(rm);
	assert_true(tl_same_file(cfd, p[1]));
	close(cfd);
	assert_int_equal(fdpass_send_meta(good, &p[0], 1, m, 0, 1000), 0);
	assert_int_equal(fdpass_backend_recv_meta(b, &cfd, &rm, 2000), 1);
	assert_string_equal(fdpass_meta_find(rm, "n"), "1");
	fdpass_meta_free(rm);
	close(cfd);
	/* fdpass_backend_recv() takes a metadata message and drops the metadata. */
	assert_int_equal(fdpass_send_meta(good, &p[1], 1, m, 0, 1000), 0);
	assert_int_equal(fdpass_backend_recv(b, &cfd, 2000), 1);
	assert_true(tl_same_file(cfd, p[1]));
	close(cfd);
	assert_int_equal(fdpass_backend_recv_meta(b, &cfd, &rm, 0), -EAGAIN);
	assert_false(tl_hung_up(good, 0));

	fdpass_meta_free(m);
	m_free(&msg);
	close(good);
	fdpass_backend_free(b);
	tl_rmdir(dir);
}

/*
 * When fdpass_backend_recv_meta() reports a front-end's bad message, the fd
 * that came with it has been closed: *client_fd must not name it (the call
 * sets it to -1 on entry; a caller that closes a leftover number would close
 * whatever fd was opened with that number since).
 */
static void test_backend_error_client_fd(void **state)
{
	static const enum bad_kind kinds[] = { K_MAGIC_LAST, K_LEN_OVER_DEFAULT, K_VERSION_2 };
	struct tl_pair *t = tl_pair(state);
	int seq = t->type == SOCK_SEQPACKET ? FDPASS_SEQPACKET : 0, stale = 0;
	size_t k;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		char dir[200], path[256];
		fdpass_backend *b = NULL;
		fdpass_meta *rm = not_set;
		struct msg msg = { 0 };
		int fe, cfd = 12345, r;

		tl_tmpdir(dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/b.sock", dir);
		assert_int_equal(fdpass_backend_new(&b, path, -1, seq), 0);
		fe = fdpass_connect(path, seq, 1000);
		assert_true(fe >= 0);
		build_case(&msg, kinds[k], 1);
		tl_raw_send(fe, msg.b, msg.len, &t->pipe[0], 1);
		do
			r = fdpass_backend_recv_meta(b, &cfd, &rm, 2000);
		while (r == 0);
		assert_true(r < 0);
		assert_null(rm);
		if (cfd != -1) {
			fprintf(stderr, "  %s, case %zu: error %d (%s) left *client_fd %d, "
				"an fd the library has closed\n", t->type_name, k, r,
				fdpass_strerror(r), cfd);
			stale++;
		}
		m_free(&msg);
		close(fe);
		fdpass_backend_free(b);
		tl_rmdir(dir);
	}
	if (stale)
		fail_msg("%d errors left the number of a closed fd in *client_fd, not -1", stale);
}

#define STREAM(f) TL_PAIR_TEST(f, SOCK_STREAM)
#define PACKETS(f) TL_PAIR_TEST(f, SOCK_SEQPACKET)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_TEST(test_builder_fields),
		TL_TEST(test_builder_pairs),
		TL_TEST(test_builder_null),
		TL_BOTH_TYPES(test_roundtrip_all_fields),
		TL_BOTH_TYPES(test_roundtrip_empty),
		TL_BOTH_TYPES(test_roundtrip_binary_data),
		TL_TEST(test_roundtrip_large),
		TL_TEST(test_roundtrip_limits),
		TL_BOTH_TYPES(test_roundtrip_fd_counts),
		TL_BOTH_TYPES(test_wire_example),
		PACKETS(test_wire_record_order),
		TL_BOTH_TYPES(test_send_meta_null_is_httpd),
		TL_BOTH_TYPES(test_mixed_forms),
		TL_TEST(test_malformed_truncated),
		TL_TEST(test_malformed_table),
		STREAM(test_plain_trailing_bytes_stream),
		TL_BOTH_TYPES(test_unknown_records_skipped),
		TL_TEST(test_malformed_fds_mid_message),
		TL_BOTH_TYPES(test_malformed_passcred),
		TL_TEST(test_recv_at_fd_limit),
		STREAM(test_recv_byte_by_byte),
		TL_BOTH_TYPES(test_recv_nothing_there),
		TL_BOTH_TYPES(test_recv_blocking_waits),
		TL_TEST(test_recv_rest_never_comes),
		STREAM(test_recv_rest_deadline_whole_message),
		STREAM(test_recv_bad_arguments),
		STREAM(test_send_bad_arguments),
		TL_BOTH_TYPES(test_send_full_and_dead_peer),
		STREAM(test_send_half_message),
		TL_TEST(test_handoff_meta_end_to_end),
		TL_TEST(test_handoff_meta_null),
		TL_BOTH_TYPES(test_backend_drops_bad_frontend),
		TL_BOTH_TYPES(test_backend_error_client_fd),
	};

	signal(SIGPIPE, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
