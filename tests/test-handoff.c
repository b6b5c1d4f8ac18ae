// SPDX-License-Identifier: MIT
/*
 * fdpass_handoff and its flushers, with real TCP clients, real AF_UNIX
 * sockets and real processes. Every test runs with an fd-leak check and a
 * watchdog (a library loop that never ends is named, and ends the program,
 * instead of hanging the suite).
 *
 * Children never call cmocka: a failing one says on stderr what failed and
 * exits non-zero.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

/* A unique abstract name, so that parallel runs do not collide. */
static void abstract_name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "@fdpass-test-ho-%ld-%s", (long)getpid(), what);
}

/* ---- helpers for the test process -------------------------------------- */

/* Nothing is waiting to be read on fd, and the peer has not hung up. */
static void assert_nothing_to_read(int fd)
{
	assert_int_equal(tl_wait_fd(fd, POLLIN | POLLRDHUP, 0), 0);
}

/* A backend's end of a hand-off connection: it ends without a message. */
static void assert_ends_without_fd(int conn)
{
	int fd = 7;

	assert_true(tl_wait_fd(conn, POLLIN, 2000) > 0);
	assert_int_equal(fdpass_recv(conn, &fd), 0);
	assert_int_equal(fd, -1);
}

/* A listener has no connection waiting (it must be non-blocking). */
static void assert_no_connection(int lfd)
{
	int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (c >= 0)
		close(c);
	assert_int_equal(c, -1);
	assert_int_equal(errno, EAGAIN);
}

static const char bad_gateway[] =
	"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/*
 * After a hand-off that failed early: the client's socket is still the
 * caller's and untouched, so the caller answers 502 itself and the client
 * gets exactly that and nothing else.
 */
static void assert_caller_can_answer(int front, int client)
{
	char buf[512];

	assert_true(tl_is_open(front));
	assert_nothing_to_read(client);
	assert_int_equal(fdpass_write_all(front, bad_gateway, strlen(bad_gateway), 2000), 0);
	close(front);
	tl_read_to_eof(client, buf, sizeof(buf), 2000);
	assert_string_equal(buf, bad_gateway);
}

/*
 * "Date: <IMF-fixdate>\r\n" at s, close to now and in canonical form (the
 * weekday agrees with the date, two-digit fields). Returns its length.
 */
static size_t assert_date_field(const char *s)
{
#define IMF_FIXDATE "%a, %d %b %Y %H:%M:%S GMT"
	char again[64];
	const char *end;
	struct tm tm;
	time_t t;

	if (strncmp(s, "Date: ", 6) != 0)
		fail_msg("expected a Date field, got \"%.40s\"", s);
	memset(&tm, 0, sizeof(tm));
	end = strptime(s + 6, IMF_FIXDATE, &tm);
	assert_non_null(end);
	assert_memory_equal(end, "\r\n", 2);
	t = timegm(&tm); /* also sets tm_wday from the date */
	assert_true(t != (time_t)-1);
	assert_true(t - time(NULL) <= 60 && time(NULL) - t <= 60);
	assert_int_not_equal(strftime(again, sizeof(again), IMF_FIXDATE, &tm), 0);
	assert_int_equal((size_t)(end - (s + 6)), strlen(again));
	assert_memory_equal(s + 6, again, strlen(again));
	return (size_t)(end + 2 - s);
}

/*
 * What the "flush" provider writes, followed by what the backend wrote:
 * status line, Date, the given fields, Connection: close, blank line, rest.
 */
static void assert_flushed(const char *got, const char *status_line, const char *fields,
			   const char *rest)
{
	char expect[1024];
	size_t sl = strlen(status_line);

	if (strncmp(got, status_line, sl) != 0)
		fail_msg("expected \"%s\" first, got \"%s\"", status_line, got);
	got += sl;
	got += assert_date_field(got);
	snprintf(expect, sizeof(expect), "%sConnection: close\r\n\r\n%s", fields, rest);
	assert_string_equal(got, expect);
}

/* ---- a backend in a child process, for the hand-off end to end ---------- */

struct backend_job {
	const char *path;  /* where it listens: a path or "@name" */
	int ready_w;       /* it writes a byte here once it listens */
	int go_r;          /* and waits for a byte here before writing the body */
	const char *body;
};

static const char ping[] = "PING";

static int backend_child(void *arg)
{
	struct backend_job *job = arg;
	fdpass_backend *b = NULL;
	char buf[sizeof(ping) - 1];
	int cfd = -1, r;

	r = fdpass_backend_new(&b, job->path, -1, 0);
	if (r < 0)
		TL_CHILD_FAIL("fdpass_backend_new(%s) = %d (%s)", job->path, r, fdpass_strerror(r));
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) >= 0);
	r = fdpass_backend_recv(b, &cfd, 5000);
	if (r != 1)
		TL_CHILD_FAIL("fdpass_backend_recv = %d (%s), expected 1", r, fdpass_strerror(r));
	TL_CHILD_CHECK(tl_is_cloexec(cfd));
	/* The front-end has closed its copy of the client's socket by now. */
	TL_CHILD_CHECK(tl_get_byte(job->go_r, 5000) >= 0);
	/* The client's connection is alive in both directions. */
	TL_CHILD_CHECK(tl_read_exact(cfd, buf, sizeof(buf), 5000) >= 0 &&
		       memcmp(buf, ping, sizeof(buf)) == 0);
	TL_CHILD_CHECK(fdpass_write_all(cfd, job->body, strlen(job->body), 5000) >= 0);
	close(cfd);
	/* The front-end closed its connection after the message: dropped quietly. */
	r = fdpass_backend_recv(b, &cfd, 0);
	if (r != -EAGAIN || cfd != -1)
		TL_CHILD_FAIL("fdpass_backend_recv after EOF = %d (%s), fd %d; expected -EAGAIN, -1",
			      r, fdpass_strerror(r), cfd);
	fdpass_backend_free(b);
	/* free() must remove the socket file it made. */
	TL_CHILD_CHECK(job->path[0] == '@' || access(job->path, F_OK) != 0);
	return 0;
}

/*
 * The whole hand-off: a backend child listens on listen_path; the test
 * connects a TCP client, accepts it as the front-end, reads the request,
 * hands the connection to target with flusher and resp, closes its own copy,
 * and then the backend writes body. Returns what the client read up to EOF.
 */
static size_t handoff_end_to_end(const char *listen_path, const char *target,
				 const char *flusher, const fdpass_response *resp,
				 const char *body, char *out, size_t size)
{
	static const char request[] = "GET /app HTTP/1.1\r\nHost: test\r\n\r\n";
	struct backend_job job = { .path = listen_path, .body = body };
	char buf[sizeof(request)];
	int ready[2], go[2], client, front, flags;
	pid_t pid;
	size_t n;

	/* The backend is forked before any TCP socket exists: it holds no copy. */
	tl_pipe(ready);
	tl_pipe(go);
	job.ready_w = ready[1];
	job.go_r = go[0];
	pid = tl_fork(backend_child, &job);
	close(ready[1]);
	close(go[0]);
	assert_int_equal(tl_get_byte(ready[0], 5000), 0);

	tl_tcp_pair(&client, &front);
	assert_int_equal(write(client, request, sizeof(request) - 1),
			 (ssize_t)sizeof(request) - 1);
	assert_int_equal(tl_read_exact(front, buf, sizeof(request) - 1, 2000), 0);
	flags = fcntl(front, F_GETFL);

	assert_int_equal(fdpass_handoff(target, front, flusher, resp, 2000), 0);
	/* Still the caller's, open, and in the mode it was. */
	assert_true(tl_is_open(front));
	assert_int_equal(fcntl(front, F_GETFL), flags);
	close(front);

	/* The client's connection outlives the front-end's copy. */
	assert_int_equal(tl_wait_fd(client, POLLRDHUP, 0), 0);
	assert_int_equal(write(client, ping, sizeof(ping) - 1), (ssize_t)sizeof(ping) - 1);
	assert_int_equal(tl_put_byte(go[1]), 0);
	n = tl_read_to_eof(client, out, size, 5000);
	close(client);
	close(go[1]);
	close(ready[0]);
	tl_wait_child(pid);
	return n;
}

static const char backend_body[] = "hello from the backend\n";

/* ---- the hand-off, end to end ------------------------------------------ */

static void test_handoff_default_flush(void **state)
{
	char path[300], out[2048];

	tl_path_in(path, sizeof(path), state, "backend.sock");
	/* NULL flusher and NULL response: "flush" of a bare 200. */
	handoff_end_to_end(path, path, NULL, NULL, backend_body, out, sizeof(out));
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", backend_body);
}

static void test_handoff_flush_response(void **state)
{
	static const char start[] = "<<start of body>>";
	char path[300], out[2048], rest[256];
	fdpass_response *resp = NULL;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_int_equal(fdpass_response_new(&resp, 203), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Server", "libfdpass-test"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-Request-Id", "42"), 0);
	assert_int_equal(fdpass_response_set_body(resp, start, strlen(start)), 0);
	handoff_end_to_end(path, path, "flush", resp, backend_body, out, sizeof(out));
	snprintf(rest, sizeof(rest), "%s%s", start, backend_body);
	assert_flushed(out, "HTTP/1.1 203 Non-Authoritative Information\r\n",
		       "Server: libfdpass-test\r\nX-Request-Id: 42\r\n", rest);

	/* A reason of our own. */
	assert_int_equal(fdpass_response_set_status(resp, 299, "Handed Over"), 0);
	assert_int_equal(fdpass_response_set_body(resp, NULL, 0), 0);
	handoff_end_to_end(path, path, FDPASS_FLUSHER_DEFAULT, resp, backend_body, out,
			   sizeof(out));
	assert_flushed(out, "HTTP/1.1 299 Handed Over\r\n",
		       "Server: libfdpass-test\r\nX-Request-Id: 42\r\n", backend_body);
	fdpass_response_free(resp);
}

static void test_handoff_none_flusher(void **state)
{
	static const char whole[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe backend speaks HTTP\n";
	char path[300], out[2048];
	fdpass_response *resp = NULL;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	/* The backend writes everything: the client gets exactly its bytes. */
	handoff_end_to_end(path, path, "none", NULL, whole, out, sizeof(out));
	assert_string_equal(out, whole);
	/* Whatever the response says. */
	assert_int_equal(fdpass_response_new(&resp, 500), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-Ignored", "yes"), 0);
	handoff_end_to_end(path, path, "none", resp, whole, out, sizeof(out));
	assert_string_equal(out, whole);
	fdpass_response_free(resp);
}

static void test_handoff_fd_url(void **state)
{
	const char *dir = tl_dir_path(state);
	char path[300], url[400], out[2048];

	/* Absolute: fd:///path, with an escape and an upper-case scheme. */
	tl_path_in(path, sizeof(path), state, "back end.sock");
	snprintf(url, sizeof(url), "FD://%s/back%%20end.sock", dir);
	handoff_end_to_end(path, url, NULL, NULL, backend_body, out, sizeof(out));
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", backend_body);
}

static void test_handoff_fd_url_relative(void **state)
{
	const char *dir = tl_dir_path(state);
	char out[2048];
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* httpd 2.4's form: relative to the current directory (its ServerRoot). */
	assert_true(cwd >= 0);
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(mkdir("localhost", 0700), 0);
	handoff_end_to_end("localhost/backend.sock", "fd://localhost/backend.sock", "none",
			   NULL, backend_body, out, sizeof(out));
	assert_string_equal(out, backend_body);
	assert_int_equal(rmdir("localhost"), 0);
	assert_int_equal(fchdir(cwd), 0);
	close(cwd);
}

static void test_handoff_abstract(void **state)
{
	char name[128], url[160], out[2048];

	(void)state;
	abstract_name(name, sizeof(name), "backend");
	handoff_end_to_end(name, name, NULL, NULL, backend_body, out, sizeof(out));
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", backend_body);
	/* And as an fd://@name URL. */
	snprintf(url, sizeof(url), "fd://%s", name);
	handoff_end_to_end(name, url, "none", NULL, backend_body, out, sizeof(out));
	assert_string_equal(out, backend_body);
}

/* A flusher of our own: writes a banner that names its context. */
struct banner {
	const char *text;
	const fdpass_response *expect; /* the response it must be given, if set */
	int calls;
	int result;                    /* what it returns after writing */
};

static int banner_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	struct banner *bn = context;
	const char *reason = NULL;
	char head[256];
	int status, len, r;

	bn->calls++;
	if (!resp || (bn->expect && resp != bn->expect))
		return -EFAULT;
	status = fdpass_response_get_status(resp, &reason);
	len = snprintf(head, sizeof(head), "HTTP/1.0 %d %s\r\nX-Banner: %s\r\n\r\n", status,
		       reason, bn->text);
	r = fdpass_write_all(client_fd, head, (size_t)len, 2000);
	return r < 0 ? r : bn->result;
}

static void test_handoff_custom_flusher(void **state)
{
	struct banner bn = { .text = "from a registered provider" };
	char path[300], out[2048], expect[512];
	fdpass_response *resp = NULL;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_int_equal(fdpass_flusher_register("test-banner", banner_flusher, &bn), 0);

	/* No response given: the provider still gets one, a 200. */
	handoff_end_to_end(path, path, "test-banner", NULL, backend_body, out, sizeof(out));
	snprintf(expect, sizeof(expect), "HTTP/1.0 200 OK\r\nX-Banner: %s\r\n\r\n%s", bn.text,
		 backend_body);
	assert_string_equal(out, expect);
	assert_int_equal(bn.calls, 1);

	/* The caller's response, the very object. */
	assert_int_equal(fdpass_response_new(&resp, 299), 0);
	assert_int_equal(fdpass_response_set_status(resp, 299, "Custom Reason"), 0);
	bn.expect = resp;
	handoff_end_to_end(path, path, "test-banner", resp, backend_body, out, sizeof(out));
	snprintf(expect, sizeof(expect), "HTTP/1.0 299 Custom Reason\r\nX-Banner: %s\r\n\r\n%s",
		 bn.text, backend_body);
	assert_string_equal(out, expect);
	assert_int_equal(bn.calls, 2);
	fdpass_response_free(resp);
	assert_int_equal(fdpass_flusher_unregister("test-banner"), 0);
}

/* What goes to the backend is httpd's message, byte for byte, then the end. */
static void test_handoff_wire_format(void **state)
{
	char path[300], data[16], out[64];
	int client, front, lfd, conn, got = -1;

	tl_path_in(path, sizeof(path), state, "raw.sock");
	lfd = fdpass_listen(path, -1, 0);
	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, "none", NULL, 1000), 0);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	/* The whole stream at once: one byte, one fd, and nothing after. */
	got = tl_recv_httpd_message(conn, MSG_WAITALL);
	assert_true(tl_same_file(got, front));
	/* Closed after it. */
	assert_true(tl_wait_fd(conn, POLLIN, 2000) > 0);
	assert_int_equal(read(conn, data, sizeof(data)), 0);
	close(conn);
	close(lfd);

	/* The socket that came is the client's connection. */
	close(front);
	assert_int_equal(fdpass_write_all(got, "via the raw backend", 19, 1000), 0);
	close(got);
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_string_equal(out, "via the raw backend");
	close(client);
}

/* ---- hand-off failures before the flush: the client is untouched -------- */

static void test_handoff_backend_absent(void **state)
{
	char path[300];
	int client, front;

	tl_path_in(path, sizeof(path), state, "absent.sock");
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 1000), -ENOENT);
	assert_caller_can_answer(front, client);
	close(client);
}

static void test_handoff_stale_socket(void **state)
{
	char path[300];
	int client, front, lfd;

	tl_path_in(path, sizeof(path), state, "stale.sock");
	lfd = fdpass_listen(path, -1, 0);
	assert_true(lfd >= 0);
	close(lfd); /* the file stays, nobody listens */
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 1000), -ECONNREFUSED);
	assert_caller_can_answer(front, client);
	close(client);
}

/* A packet listener at where: fdpass_handoff says -EPROTOTYPE before any flush. */
static void assert_packet_listener_refused(const char *where)
{
	int client, front, lfd = fdpass_listen(where, -1, FDPASS_SEQPACKET | FDPASS_NONBLOCK);

	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(where, front, NULL, NULL, 1000), -EPROTOTYPE);
	assert_no_connection(lfd);
	assert_caller_can_answer(front, client);
	close(client);
	close(lfd);
}

static void test_handoff_wrong_socket_type(void **state)
{
	char path[300];

	/* A packet listener: the stream connect is refused before any flush. */
	tl_path_in(path, sizeof(path), state, "packet.sock");
	assert_packet_listener_refused(path);
}

static void test_handoff_backlog_full(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[300];
	int lfd, queued[8], nq, client, front, i;
	int64_t t0, elapsed;

	tl_path_in(path, sizeof(path), state, "full.sock");
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	nq = (int)tl_fill_backlog(path, queued, 8);

	tl_tcp_pair(&client, &front);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 100), -ETIMEDOUT);
	elapsed = tl_now_ms() - t0;
	assert_deadline_kept(elapsed, 100);
	/* Timeout 0: no wait at all, the same answer. */
	t0 = tl_now_ms();
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 0), -ETIMEDOUT);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	assert_caller_can_answer(front, client);
	close(client);

	/* Only our own connections were ever queued, and none carries anything. */
	for (i = 0; i < nq; i++) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), fd = 7;

		assert_true(c >= 0);
		close(queued[i]);
		assert_int_equal(fdpass_recv(c, &fd), 0);
		close(c);
	}
	assert_no_connection(lfd);
	close(lfd);
}

static void test_handoff_unknown_flusher(void **state)
{
	char path[300];
	int client, front, lfd;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);

	assert_int_equal(fdpass_handoff(path, front, "no-such-flusher", NULL, 1000), -ESRCH);
	assert_no_connection(lfd); /* checked before connecting */

	/* One that was registered and is gone again. */
	assert_int_equal(fdpass_flusher_register("test-gone", banner_flusher, NULL), 0);
	assert_int_equal(fdpass_flusher_unregister("test-gone"), 0);
	assert_int_equal(fdpass_handoff(path, front, "test-gone", NULL, 1000), -ESRCH);
	assert_no_connection(lfd);

	/* A name no flusher can have: -EINVAL, and still no connection. */
	assert_int_equal(fdpass_handoff(path, front, "no such/flusher", NULL, 1000), -EINVAL);
	assert_int_equal(fdpass_handoff(path, front, "", NULL, 1000), -EINVAL);
	assert_no_connection(lfd);

	assert_caller_can_answer(front, client);
	close(client);
	close(lfd);
}

static void test_handoff_invalid_args(void **state)
{
	static const char *const bad_urls[] = {
		"fd://", "FD://", "fd:///x%zz.sock", "fd:///x%2", "fd:///x%00.sock",
		"fd:///x.sock?q=1", "fd:///x.sock#f",
	};
	char path[300], url[320];
	int client, front, lfd;
	size_t i;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);

	assert_int_equal(fdpass_handoff(NULL, front, NULL, NULL, 1000), -EINVAL);
	assert_int_equal(fdpass_handoff(path, -1, NULL, NULL, 1000), -EINVAL);
	assert_int_equal(fdpass_handoff(path, -5, "none", NULL, 1000), -EINVAL);
	assert_no_connection(lfd);
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		int r = fdpass_handoff(bad_urls[i], front, NULL, NULL, 1000);

		if (r != -EINVAL)
			fail_msg("fdpass_handoff(\"%s\") = %d, expected -EINVAL", bad_urls[i], r);
	}
	/* A valid URL for a path that is too long for sun_path. */
	strcpy(url, "fd:///");
	memset(url + 6, 'n', 200);
	url[206] = '\0';
	assert_int_equal(fdpass_handoff(url, front, NULL, NULL, 1000), -ENAMETOOLONG);
	assert_no_connection(lfd);
	assert_caller_can_answer(front, client);
	close(client);
	close(lfd);
}

/* ---- hand-off failures after the flush began ---------------------------- */

/* Checks the backend connection exists, writes part of a head, then fails. */
struct failing {
	int lfd;
	int connected_before; /* 1 if the backend had our connection at flush time */
	int calls;
};

static int failing_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	struct failing *f = context;

	(void)resp;
	f->calls++;
	f->connected_before = tl_wait_fd(f->lfd, POLLIN, 0) > 0;
	/* Part of a head goes out (or not), then the flusher fails. */
	(void)fdpass_write_all(client_fd, "HTTP/1.1 200 OK\r\n", 17, 1000);
	return -EIO;
}

static void test_handoff_flusher_fails(void **state)
{
	char path[300], out[512];
	struct failing f = { .calls = 0 };
	fdpass_response *resp = NULL;
	int client, front, conn;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	f.lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(f.lfd >= 0);
	assert_int_equal(fdpass_flusher_register("test-failing", failing_flusher, &f), 0);

	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, "test-failing", NULL, 1000), -ECONNABORTED);
	assert_int_equal(f.calls, 1);
	assert_true(f.connected_before);
	/* The backend got a connection and then its end, never the client. */
	conn = accept4(f.lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_ends_without_fd(conn);
	close(conn);
	/* The client socket is still the caller's; the client saw the part. */
	assert_true(tl_is_open(front));
	close(front);
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_string_equal(out, "HTTP/1.1 200 OK\r\n");
	close(client);

	/*
	 * A response "flush" would refuse (its own Connection field): -EINVAL,
	 * said before connecting, nothing written. Another flusher takes it.
	 */
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Connection", "keep-alive"), 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, "flush", resp, 1000), -EINVAL);
	assert_int_equal(fdpass_handoff(path, front, NULL, resp, 1000), -EINVAL);
	assert_no_connection(f.lfd);
	assert_int_equal(fdpass_handoff(path, front, "test-failing", resp, 1000), -ECONNABORTED);
	assert_int_equal(f.calls, 2);
	conn = accept4(f.lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_ends_without_fd(conn);
	close(conn);
	close(front);
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_string_equal(out, "HTTP/1.1 200 OK\r\n");
	close(client);
	fdpass_response_free(resp);

	assert_int_equal(fdpass_flusher_unregister("test-failing"), 0);
	close(f.lfd);
}

/* A backend that accepts the connection, says so, and waits to be killed. */
struct dying_job {
	const char *path;
	int ready_w, accepted_w;
};

static int accept_and_wait_child(void *arg)
{
	struct dying_job *job = arg;
	int lfd = fdpass_listen(job->path, -1, 0), conn;

	if (lfd < 0)
		TL_CHILD_FAIL("fdpass_listen(%s) = %d (%s)", job->path, lfd, fdpass_strerror(lfd));
	TL_CHILD_CHECK(tl_put_byte(job->ready_w) >= 0);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	TL_CHILD_CHECK(conn >= 0);
	TL_CHILD_CHECK(tl_put_byte(job->accepted_w) >= 0);
	for (;;)
		pause();
}

/* Flushes as "flush" does, then kills the backend: the flush succeeded. */
struct killer {
	pid_t pid;
	int accepted_r;
	int status;
	int flushed;
};

static int kill_backend_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	struct killer *k = context;
	int r = fdpass_flusher_run("flush", client_fd, resp);

	if (r < 0)
		return r;
	k->flushed = 1;
	if (tl_get_byte(k->accepted_r, 5000) < 0)
		return -EIO;
	kill(k->pid, SIGKILL);
	while (waitpid(k->pid, &k->status, 0) < 0 && errno == EINTR)
		;
	return 0;
}

/*
 * A backend child that accepts and waits to be killed, and the provider
 * name that flushes and then kills it. ready[0] and accepted[0] stay open
 * for the caller to close.
 */
static void start_dying_backend(const char *path, struct dying_job *job, struct killer *k,
				int ready[2], int accepted[2], const char *provider)
{
	tl_pipe(ready);
	tl_pipe(accepted);
	job->path = path;
	job->ready_w = ready[1];
	job->accepted_w = accepted[1];
	k->pid = tl_fork(accept_and_wait_child, job);
	k->accepted_r = accepted[0];
	close(ready[1]);
	close(accepted[1]);
	assert_int_equal(tl_get_byte(ready[0], 5000), 0);
	assert_int_equal(fdpass_flusher_register(provider, kill_backend_flusher, k), 0);
}

static void test_handoff_backend_dies_before_send(void **state)
{
	char path[300], out[1024];
	struct dying_job job;
	struct killer k = { .status = 0 };
	int ready[2], accepted[2], client, front;

	tl_path_in(path, sizeof(path), state, "dying.sock");
	start_dying_backend(path, &job, &k, ready, accepted, "test-kill-backend");

	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff(path, front, "test-kill-backend", NULL, 2000),
			 -ECONNABORTED);
	assert_true(k.flushed);
	assert_true(WIFSIGNALED(k.status) && WTERMSIG(k.status) == SIGKILL);
	assert_true(tl_is_open(front));
	close(front);
	/* The client got the head, then the end: it must not wait for a body. */
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", "");
	close(client);

	assert_int_equal(fdpass_flusher_unregister("test-kill-backend"), 0);
	close(ready[0]);
	close(accepted[0]);
}

/* The client reset its connection: "flush" fails, without SIGPIPE. */
static void test_handoff_client_reset(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char path[300];
	int client, front, lfd, conn, err = 0;
	socklen_t len = sizeof(err);

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(client); /* RST */
	assert_true(tl_wait_fd(front, POLLIN, 2000) > 0);
	/* Take the pending ECONNRESET, so that the flush's write meets EPIPE. */
	assert_int_equal(getsockopt(front, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	assert_int_equal(err, ECONNRESET);

	/* SIGPIPE is not ignored in this program: a raised one would kill it. */
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 1000), -ECONNABORTED);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_ends_without_fd(conn); /* no fd was sent */
	close(conn);
	close(front);
	close(lfd);
}

/* ---- provider results, packet backends -------------------------------- */

/*
 * A provider that returns a positive count, as write(2) does, has succeeded:
 * the hand-off goes on and the backend gets the client.
 */
static void test_handoff_positive_provider_result(void **state)
{
	struct banner bn = { .text = "positive", .result = 42 };
	char path[300], out[2048], expect[512];

	tl_path_in(path, sizeof(path), state, "backend.sock");
	assert_int_equal(fdpass_flusher_register("test-positive", banner_flusher, &bn), 0);
	handoff_end_to_end(path, path, "test-positive", NULL, backend_body, out, sizeof(out));
	snprintf(expect, sizeof(expect), "HTTP/1.0 200 OK\r\nX-Banner: %s\r\n\r\n%s", bn.text,
		 backend_body);
	assert_string_equal(out, expect);
	assert_int_equal(bn.calls, 1);
	assert_int_equal(fdpass_flusher_unregister("test-positive"), 0);
}

/* A packet listener under an abstract name: -EPROTOTYPE as for a path. */
static void test_handoff_abstract_packet_listener(void **state)
{
	char name[128];

	(void)state;
	abstract_name(name, sizeof(name), "packet");
	assert_packet_listener_refused(name);
}

/* ---- fdpass_handoff2 --------------------------------------------------- */

/* The backend's end of a hand-off: exactly the client's socket, then the end. */
static void assert_got_client(int lfd, int front, int with_meta)
{
	int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), fd = -1;
	fdpass_meta *m = NULL;
	size_t n = 1;

	assert_true(conn >= 0);
	assert_true(tl_wait_fd(conn, POLLIN, 2000) > 0);
	assert_int_equal(fdpass_recv_meta(conn, &fd, &n, &m, 0, 0, 2000), 1);
	assert_int_equal(n, 1);
	assert_true(tl_same_file(fd, front));
	if (with_meta)
		assert_string_equal(fdpass_meta_find(m, "route"), "/seq/");
	else
		assert_null(m);
	fdpass_meta_free(m);
	close(fd);
	assert_int_equal(fdpass_recv_meta(conn, &fd, &n, &m, 0, 0, 2000), 0);
	close(conn);
}

/* A SOCK_SEQPACKET backend, under a path and an abstract name. */
static void test_handoff2_seqpacket(void **state)
{
	char path[300], name[128];
	const char *where[2];
	fdpass_meta *meta;
	unsigned res = 77;
	int i;

	tl_path_in(path, sizeof(path), state, "packet.sock");
	abstract_name(name, sizeof(name), "packet2");
	where[0] = path;
	where[1] = name;
	assert_int_equal(fdpass_meta_new(&meta), 0);
	assert_int_equal(fdpass_meta_add_pair(meta, "route", "/seq/"), 0);
	for (i = 0; i < 2; i++) {
		int client, front, lfd, slfd;

		lfd = fdpass_listen(where[i], -1, FDPASS_SEQPACKET | FDPASS_NONBLOCK);
		assert_true(lfd >= 0);
		tl_tcp_pair(&client, &front);
		assert_int_equal(fdpass_handoff2(where[i], front, "none", NULL, NULL,
						 FDPASS_SEQPACKET, 1000, &res), 0);
		assert_int_equal(res, 0);
		assert_got_client(lfd, front, 0);
		assert_int_equal(fdpass_handoff2(where[i], front, "none", NULL, meta,
						 FDPASS_SEQPACKET, 1000, &res), 0);
		assert_got_client(lfd, front, 1);

		/* Without the flag: -EPROTOTYPE, before anything is written. */
		assert_int_equal(fdpass_handoff2(where[i], front, NULL, NULL, NULL, 0, 1000, &res),
				 -EPROTOTYPE);
		assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND);
		assert_no_connection(lfd);
		close(lfd);

		/* The flag against a stream backend: the same. */
		slfd = fdpass_listen(where[i], -1, FDPASS_NONBLOCK);
		assert_true(slfd >= 0);
		assert_int_equal(fdpass_handoff2(where[i], front, NULL, NULL, NULL,
						 FDPASS_SEQPACKET, 1000, &res), -EPROTOTYPE);
		assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND);
		assert_no_connection(slfd);
		assert_caller_can_answer(front, client);
		close(client);
		close(slfd);
		unlink(path);
	}
	fdpass_meta_free(meta);
}

/* A flusher that fails with -EIO after writing part of a head. */
static int eio_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	(void)resp;
	(void)context;
	(void)fdpass_write_all(client_fd, "HTTP/1.1 200 OK\r\n", 17, 1000);
	return -EIO;
}

/* Which side failed, and whether the client may have bytes. */
static void test_handoff2_results(void **state)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char path[300], absent[300], out[1024];
	struct killer k = { .status = 0 };
	int client, front, lfd, conn, ready[2], accepted[2], err;
	socklen_t len = sizeof(err);
	struct dying_job job;
	unsigned res;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	tl_path_in(absent, sizeof(absent), state, "absent.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	tl_tcp_pair(&client, &front);

	/* Before either side: no bit. result may be NULL. */
	res = 77;
	assert_int_equal(fdpass_handoff2(NULL, front, NULL, NULL, NULL, 0, 1000, &res), -EINVAL);
	assert_int_equal(res, 0);
	res = 77;
	assert_int_equal(fdpass_handoff2(path, front, NULL, NULL, NULL, FDPASS_NONBLOCK, 1000,
					 &res), -EINVAL);
	assert_int_equal(res, 0);
	res = 77;
	assert_int_equal(fdpass_handoff2(path, front, "no-such", NULL, NULL, 0, 1000, &res),
			 -ESRCH);
	assert_int_equal(res, 0);
	assert_int_equal(fdpass_handoff2(path, -1, NULL, NULL, NULL, 0, 1000, NULL), -EINVAL);
	assert_no_connection(lfd);

	/* The backend cannot be reached: its side, nothing written. */
	assert_int_equal(fdpass_handoff2(absent, front, NULL, NULL, NULL, 0, 1000, &res),
			 -ENOENT);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND);

	/* "none" succeeds without writing; "flush" writes. */
	assert_int_equal(fdpass_handoff2(path, front, "none", NULL, NULL, 0, 1000, &res), 0);
	assert_int_equal(res, 0);
	assert_got_client(lfd, front, 0);
	assert_nothing_to_read(client);
	assert_int_equal(fdpass_handoff2(path, front, NULL, NULL, NULL, 0, 1000, &res), 0);
	assert_int_equal(res, FDPASS_HANDOFF_CLIENT_WRITTEN);
	assert_got_client(lfd, front, 0);
	close(front);
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", "");
	close(client);

	/* A provider's own error comes back as it is, on the client's side. */
	assert_int_equal(fdpass_flusher_register("test-eio", eio_flusher, NULL), 0);
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_handoff2(path, front, "test-eio", NULL, NULL, 0, 1000, &res),
			 -EIO);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_CLIENT | FDPASS_HANDOFF_CLIENT_WRITTEN);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	assert_ends_without_fd(conn);
	close(conn);
	close(front);
	close(client);
	assert_int_equal(fdpass_flusher_unregister("test-eio"), 0);

	/* The client reset its connection: "flush" wrote nothing, and says so. */
	tl_tcp_pair(&client, &front);
	assert_int_equal(setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(client);
	assert_true(tl_wait_fd(front, POLLIN, 2000) > 0);
	assert_int_equal(getsockopt(front, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	err = fdpass_handoff2(path, front, NULL, NULL, NULL, 0, 1000, &res);
	assert_true(err == -EPIPE || err == -ECONNRESET);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_CLIENT);
	close(front);
	close(lfd);

	/* The backend dies after the flush: its side, and the client has the head. */
	unlink(path);
	start_dying_backend(path, &job, &k, ready, accepted, "test-kill-backend2");
	tl_tcp_pair(&client, &front);
	err = fdpass_handoff2(path, front, "test-kill-backend2", NULL, NULL, 0, 2000, &res);
	assert_true(err == -EPIPE || err == -ECONNRESET);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND | FDPASS_HANDOFF_CLIENT_WRITTEN);
	assert_true(k.flushed);
	close(front);
	tl_read_to_eof(client, out, sizeof(out), 2000);
	assert_flushed(out, "HTTP/1.1 200 OK\r\n", "", "");
	close(client);
	assert_int_equal(fdpass_flusher_unregister("test-kill-backend2"), 0);
	close(ready[0]);
	close(accepted[0]);
}

/*
 * A listener whose backlog of 0 is full (filled by our own connections,
 * returned in queued[]); non-blocking, at path.
 */
static int full_listener(const char *path, int queued[8], int *nq)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(lfd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	*nq = (int)tl_fill_backlog(path, queued, 8);
	return lfd;
}

static void drop_full_listener(int lfd, int queued[8], int nq)
{
	int c;

	while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
		close(c);
	while (nq > 0)
		close(queued[--nq]);
	close(lfd);
}

/* Child: after ms, accept one connection of the listener (freeing a slot). */
struct late_accept {
	int lfd;
	int ms;
};

static int late_accept_child(void *arg)
{
	struct late_accept *la = arg;
	int c;

	usleep((useconds_t)la->ms * 1000);
	c = accept4(la->lfd, NULL, NULL, SOCK_CLOEXEC);
	TL_CHILD_CHECK(c >= 0);
	return 0;
}

/* What a provider saw: when it began, and fdpass_flusher_timeout() then. */
struct timing {
	int64_t entered_ms;
	int timeout_seen;
	int nested_seen;
	const char *then_run; /* a provider to run inside, or NULL */
};

static int timing_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	struct timing *t = context;

	t->entered_ms = tl_now_ms();
	t->timeout_seen = fdpass_flusher_timeout();
	return t->then_run ? fdpass_flusher_run(t->then_run, client_fd, resp) : 0;
}

static int nested_timing_flusher(int client_fd, const fdpass_response *resp, void *context)
{
	struct timing *t = context;

	(void)client_fd;
	(void)resp;
	t->nested_seen = fdpass_flusher_timeout();
	return 0;
}

/*
 * One deadline for the whole call: the connection waits for a slot in a
 * full backlog, the flusher gets what is left of the deadline (here it
 * runs "flush" with a 4 MiB body to a client that never reads), and the
 * call ends about when the deadline passes, not 10 s later.
 */
static void test_handoff2_one_deadline(void **state)
{
	struct timing t = { .then_run = "flush" };
	struct late_accept la = { .ms = 300 };
	const size_t body_len = 4 * 1024 * 1024;
	int queued[8], nq, client, front, r;
	fdpass_response *resp;
	int64_t t0, elapsed;
	char path[300], *body;
	unsigned res;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "full.sock");
	la.lfd = full_listener(path, queued, &nq);
	body = calloc(1, body_len);
	assert_non_null(body);
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, body, body_len), 0);
	free(body);
	assert_int_equal(fdpass_flusher_register("test-timing", timing_flusher, &t), 0);
	tl_tcp_pair(&client, &front);
	/*
	 * Small fixed buffers: loopback TCP grows its buffers by itself, and a
	 * slow run (valgrind) could otherwise absorb the whole body in time.
	 */
	assert_int_equal(setsockopt(client, SOL_SOCKET, SO_RCVBUF, &(int){ 65536 }, sizeof(int)), 0);
	assert_int_equal(setsockopt(front, SOL_SOCKET, SO_SNDBUF, &(int){ 65536 }, sizeof(int)), 0);

	pid = tl_fork(late_accept_child, &la);
	t0 = tl_now_ms();
	r = fdpass_handoff2(path, front, "test-timing", resp, NULL, 0, 1000, &res);
	elapsed = tl_now_ms() - t0;
	tl_wait_child(pid);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_CLIENT | FDPASS_HANDOFF_CLIENT_WRITTEN);
	/*
	 * The connection waited for the slot, and that time was not given
	 * again (the call's own clock starts a little after t0: the slack).
	 */
	assert_true(t.entered_ms - t0 >= 250);
	assert_true(t.timeout_seen > 0);
	assert_true(t.timeout_seen <= 1000 - (t.entered_ms - t0) + 100);
	assert_true(elapsed >= 995);
	assert_true(elapsed < FDPASS_FLUSH_TIMEOUT_MS / 2);

	close(front);
	close(client);
	drop_full_listener(la.lfd, queued, nq);
	fdpass_response_free(resp);
	assert_int_equal(fdpass_flusher_unregister("test-timing"), 0);
}

/* What fdpass_flusher_timeout() says where. */
static void test_flusher_timeout_values(void **state)
{
	struct timing t = { .then_run = "test-nested" };
	char path[300];
	int client, front, lfd, c;
	unsigned res;

	tl_path_in(path, sizeof(path), state, "backend.sock");
	lfd = fdpass_listen(path, -1, FDPASS_NONBLOCK);
	assert_true(lfd >= 0);
	assert_int_equal(fdpass_flusher_register("test-timing", timing_flusher, &t), 0);
	assert_int_equal(fdpass_flusher_register("test-nested", nested_timing_flusher, &t), 0);
	tl_tcp_pair(&client, &front);

	assert_int_equal(fdpass_flusher_timeout(), FDPASS_FLUSH_TIMEOUT_MS);
	assert_int_equal(fdpass_flusher_run("test-timing", front, NULL), 0);
	assert_int_equal(t.timeout_seen, FDPASS_FLUSH_TIMEOUT_MS);
	assert_int_equal(t.nested_seen, FDPASS_FLUSH_TIMEOUT_MS);

	assert_int_equal(fdpass_handoff(path, front, "test-timing", NULL, 5000), 0);
	assert_int_equal(t.timeout_seen, FDPASS_FLUSH_TIMEOUT_MS);
	assert_int_equal(t.nested_seen, FDPASS_FLUSH_TIMEOUT_MS);

	assert_int_equal(fdpass_handoff2(path, front, "test-timing", NULL, NULL, 0, 5000, &res),
			 0);
	assert_in_range(t.timeout_seen, 1, 5000);
	assert_in_range(t.nested_seen, 1, t.timeout_seen);
	assert_int_equal(fdpass_handoff2(path, front, "test-timing", NULL, NULL, 0, -1, &res), 0);
	assert_int_equal(t.timeout_seen, -1);
	assert_int_equal(t.nested_seen, -1);
	assert_int_equal(fdpass_handoff2(path, front, "test-timing", NULL, NULL, 0, 0, &res), 0);
	assert_int_equal(t.timeout_seen, 0);
	assert_int_equal(t.nested_seen, 0);
	assert_int_equal(fdpass_flusher_timeout(), FDPASS_FLUSH_TIMEOUT_MS);

	while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
		int fd = -1;

		assert_int_equal(fdpass_recv(c, &fd), 1);
		close(fd);
		close(c);
	}
	close(front);
	close(client);
	close(lfd);
	assert_int_equal(fdpass_flusher_unregister("test-nested"), 0);
	assert_int_equal(fdpass_flusher_unregister("test-timing"), 0);
}

/* A stream socket whose send buffer is full; the other end is *peer. */
static int full_socket(int *peer)
{
	int sv[2], size = 4096;
	char buf[4096];

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	memset(buf, 'f', sizeof(buf));
	while (send(sv[0], buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	*peer = sv[1];
	return sv[0];
}

/*
 * The library's one rule: timeout 0 where a call would have to wait is
 * -EAGAIN, and -ETIMEDOUT is a positive deadline that passed; the two
 * released exceptions say -ETIMEDOUT for both.
 */
static void test_timeout_zero_rule(void **state)
{
	int peer, sock = full_socket(&peer), fd = tl_tagged_fd("x"), queued[8], nq, lfd;
	int client, front, got[1], sv[2];
	char path[300], buf[1024];
	fdpass_backend *b;
	fdpass_meta *meta;
	size_t n, written;
	unsigned res;

	assert_int_equal(fdpass_meta_new(&meta), 0);
	memset(buf, 'm', sizeof(buf));

	/* Sending to a full socket. */
	assert_int_equal(fdpass_send_fds(sock, &fd, 1, "x", 1, 0, 0), -EAGAIN);
	assert_int_equal(fdpass_send_fds(sock, &fd, 1, "x", 1, FDPASS_NONBLOCK, -1), -EAGAIN);
	assert_int_equal(fdpass_send_fds(sock, &fd, 1, "x", 1, 0, 30), -ETIMEDOUT);
	assert_int_equal(fdpass_send_meta(sock, &fd, 1, meta, 0, 0), -EAGAIN);
	assert_int_equal(fdpass_send_meta(sock, &fd, 1, meta, 0, 30), -ETIMEDOUT);
	assert_int_equal(fdpass_write_all2(sock, buf, sizeof(buf), 0, &written), -EAGAIN);
	assert_int_equal(fdpass_write_all2(sock, buf, sizeof(buf), 30, &written), -ETIMEDOUT);
	assert_int_equal(fdpass_write_all(sock, buf, sizeof(buf), 0), -ETIMEDOUT);
	assert_int_equal(fdpass_write_all(sock, buf, sizeof(buf), 30), -ETIMEDOUT);
	close(sock);
	close(peer);

	/* Receiving from an empty one. */
	tl_socketpair(SOCK_STREAM, sv);
	sock = sv[0];
	peer = sv[1];
	n = 1;
	assert_int_equal(fdpass_recv_fds(sock, got, &n, buf, 1, 0, 0), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_fds(sock, got, &n, buf, 1, 0, 30), -ETIMEDOUT);
	fdpass_meta_free(meta);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &meta, 0, 0, 0), -EAGAIN);
	n = 1;
	assert_int_equal(fdpass_recv_meta(sock, got, &n, &meta, 0, 0, 30), -ETIMEDOUT);
	close(sock);
	close(peer);
	close(fd);

	/* Connecting to a full backlog, and the hand-offs. */
	tl_path_in(path, sizeof(path), state, "full.sock");
	lfd = full_listener(path, queued, &nq);
	tl_tcp_pair(&client, &front);
	assert_int_equal(fdpass_connect(path, 0, 0), -EAGAIN);
	assert_int_equal(fdpass_connect(path, 0, 30), -ETIMEDOUT);
	assert_int_equal(fdpass_handoff2(path, front, NULL, NULL, NULL, 0, 0, &res), -EAGAIN);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND);
	assert_int_equal(fdpass_handoff2(path, front, NULL, NULL, NULL, 0, 30, &res), -ETIMEDOUT);
	assert_int_equal(res, FDPASS_HANDOFF_FAILED_BACKEND);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 0), -ETIMEDOUT);
	assert_int_equal(fdpass_handoff(path, front, NULL, NULL, 30), -ETIMEDOUT);
	assert_caller_can_answer(front, client);
	close(client);
	drop_full_listener(lfd, queued, nq);
	unlink(path);

	/* A backend with nothing to hand out. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_int_equal(fdpass_backend_recv(b, &fd, 30), -ETIMEDOUT);
	fdpass_backend_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_handoff_default_flush),
		TL_DIR_TEST(test_handoff_flush_response),
		TL_DIR_TEST(test_handoff_none_flusher),
		TL_DIR_TEST(test_handoff_fd_url),
		TL_DIR_TEST(test_handoff_fd_url_relative),
		TL_DIR_TEST(test_handoff_abstract),
		TL_DIR_TEST(test_handoff_custom_flusher),
		TL_DIR_TEST(test_handoff_wire_format),
		TL_DIR_TEST(test_handoff_backend_absent),
		TL_DIR_TEST(test_handoff_stale_socket),
		TL_DIR_TEST(test_handoff_wrong_socket_type),
		TL_DIR_TEST(test_handoff_backlog_full),
		TL_DIR_TEST(test_handoff_unknown_flusher),
		TL_DIR_TEST(test_handoff_invalid_args),
		TL_DIR_TEST(test_handoff_flusher_fails),
		TL_DIR_TEST(test_handoff_backend_dies_before_send),
		TL_DIR_TEST(test_handoff_client_reset),
		TL_DIR_TEST(test_handoff_positive_provider_result),
		TL_DIR_TEST(test_handoff_abstract_packet_listener),
		TL_DIR_TEST(test_handoff2_seqpacket),
		TL_DIR_TEST(test_handoff2_results),
		TL_DIR_TEST(test_handoff2_one_deadline),
		TL_DIR_TEST(test_flusher_timeout_values),
		TL_DIR_TEST(test_timeout_zero_rule),
	};

	/* A raised SIGPIPE must end the program, so that it is seen. */
	signal(SIGPIPE, SIG_DFL);
	/* CMOCKA_TEST_FILTER=test_handoff_* (a glob) runs only those. */
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
