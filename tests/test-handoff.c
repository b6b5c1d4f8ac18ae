// SPDX-License-Identifier: MIT
/*
 * fdpass_url_path, fdpass_handoff and the fdpass_backend calls, with real
 * TCP clients, real AF_UNIX sockets and real processes. Every test runs with
 * an fd-leak check and a watchdog (a library loop that never ends is named,
 * and ends the program, instead of hanging the suite).
 *
 * Children never call cmocka: they report through their exit status (each
 * failing step has its own code) and a line on stderr.
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

/* fd is a pipe's read end that yields exactly tag, then EOF. */
static void assert_fd_carries(int fd, const char *tag)
{
	char buf[128];

	assert_true(tl_is_cloexec(fd));
	tl_read_to_eof(fd, buf, sizeof(buf), 2000);
	assert_string_equal(buf, tag);
}

/* Nothing is waiting to be read on fd, and the peer has not hung up. */
static void assert_nothing_to_read(int fd)
{
	assert_int_equal(tl_wait_fd(fd, POLLIN | POLLRDHUP, 0), 0);
}

/* Read 1 byte: the peer must have closed the connection (EOF or reset). */
static void assert_closed_by_peer(int fd)
{
	char c;
	ssize_t n;

	assert_true(tl_wait_fd(fd, POLLIN, 2000) > 0);
	n = read(fd, &c, 1);
	if (n != 0 && !(n < 0 && errno == ECONNRESET))
		fail_msg("expected the peer to close the connection, read gave %zd (%s)", n,
			 n < 0 ? strerror(errno) : "data");
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
	if (r < 0) {
		fprintf(stderr, "backend child: new %s: %s\n", job->path, fdpass_strerror(r));
		return 10;
	}
	if (tl_put_byte(job->ready_w) < 0)
		return 11;
	r = fdpass_backend_recv(b, &cfd, 5000);
	if (r != 1) {
		fprintf(stderr, "backend child: recv: %d %s\n", r, fdpass_strerror(r));
		return 12;
	}
	if (!tl_is_cloexec(cfd))
		return 13;
	/* The front-end has closed its copy of the client's socket by now. */
	if (tl_get_byte(job->go_r, 5000) < 0)
		return 14;
	/* The client's connection is alive in both directions. */
	if (tl_read_exact(cfd, buf, sizeof(buf), 5000) < 0 || memcmp(buf, ping, sizeof(buf)))
		return 15;
	if (fdpass_write_all(cfd, job->body, strlen(job->body), 5000) < 0)
		return 16;
	close(cfd);
	/* The front-end closed its connection after the message: dropped quietly. */
	r = fdpass_backend_recv(b, &cfd, 0);
	if (r != -EAGAIN || cfd != -1) {
		fprintf(stderr, "backend child: recv after EOF: %d %s\n", r, fdpass_strerror(r));
		return 17;
	}
	fdpass_backend_free(b);
	if (job->path[0] != '@' && access(job->path, F_OK) == 0)
		return 18; /* free() must remove the socket file it made */
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

/* ---- fdpass_url_path --------------------------------------------------- */

static void assert_url(const char *url, const char *expect)
{
	char path[256];
	int r = fdpass_url_path(url, path, sizeof(path));

	if (r < 0)
		fail_msg("fdpass_url_path(\"%s\") = %d (%s)", url, r, fdpass_strerror(r));
	assert_int_equal(r, (int)strlen(expect));
	assert_string_equal(path, expect);
}

static void assert_url_fails(const char *url, int err)
{
	char path[256];
	int r = fdpass_url_path(url, path, sizeof(path));

	if (r != err)
		fail_msg("fdpass_url_path(\"%s\") = %d, expected %d", url ? url : "(null)", r, err);
}

static void test_url_path_examples(void **state)
{
	(void)state;
	assert_url("fd:///run/a.sock", "/run/a.sock");
	assert_url("fd://localhost/backend.sock", "localhost/backend.sock");
	assert_url("fd://@name", "@name");
	/* The scheme is case-insensitive, the path is not. */
	assert_url("FD:///run/A.sock", "/run/A.sock");
	assert_url("Fd://localhost/b.sock", "localhost/b.sock");
	assert_url("fD://@Name", "@Name");
	/* %XX escapes, either case of hex digits. */
	assert_url("fd:///run/my%20app.sock", "/run/my app.sock");
	assert_url("fd://%2Frun%2fa.sock", "/run/a.sock");
	assert_url("fd:///%41%7e%7E", "/A~~");
	assert_url("fd:///caf%C3%A9", "/caf\xc3\xa9");
	/* An escaped '?' or '#' is part of the name, not a query or fragment. */
	assert_url("fd:///a%3Fb%23c", "/a?b#c");
	assert_url("fd://%40abstract", "@abstract");
}

static void test_url_path_rejects(void **state)
{
	char path[64];

	(void)state;
	/* Bad escapes. */
	assert_url_fails("fd:///a%2", -EINVAL);
	assert_url_fails("fd:///a%2/b", -EINVAL);
	assert_url_fails("fd:///a%zz", -EINVAL);
	assert_url_fails("fd:///a%g1", -EINVAL);
	assert_url_fails("fd:///a%1g", -EINVAL);
	assert_url_fails("fd:///a%", -EINVAL);
	assert_url_fails("fd:///a%00b", -EINVAL);
	assert_url_fails("fd://%00", -EINVAL);
	/* Not an fd:// URL, or no path. */
	assert_url_fails("http://x", -EINVAL);
	assert_url_fails("fd:/x", -EINVAL);
	assert_url_fails("fd:x", -EINVAL);
	assert_url_fails("fd//x", -EINVAL);
	assert_url_fails("/run/a.sock", -EINVAL);
	assert_url_fails("fd://", -EINVAL);
	assert_url_fails("FD://", -EINVAL);
	assert_url_fails("", -EINVAL);
	assert_url_fails(NULL, -EINVAL);
	/* Query or fragment. */
	assert_url_fails("fd:///a.sock?x=1", -EINVAL);
	assert_url_fails("fd:///a.sock#frag", -EINVAL);
	assert_url_fails("fd://?", -EINVAL);
	assert_url_fails("fd://#", -EINVAL);
	/* No buffer. */
	assert_int_equal(fdpass_url_path("fd:///a", NULL, sizeof(path)), -EINVAL);
}

static void test_url_path_buffer_size(void **state)
{
	char buf[300], url[300];
	size_t i;

	(void)state;
	/* "/run/a.sock" is 11 bytes: it needs 12, and 11 is one too few. */
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 12), 11);
	assert_string_equal(buf, "/run/a.sock");
	for (i = 12; i < 20; i++)
		assert_int_equal(buf[i], 'Z');

	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 11), -ENAMETOOLONG);
	for (i = 11; i < 20; i++)
		assert_int_equal(buf[i], 'Z'); /* nothing written past size */
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 1), -ENAMETOOLONG);
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(fdpass_url_path("fd:///run/a.sock", buf, 0), -ENAMETOOLONG);
	assert_int_equal(buf[0], 'Z'); /* size 0: not even the NUL */

	/* The size counts decoded bytes: "/a b" is 4, from 6 encoded ones. */
	assert_int_equal(fdpass_url_path("fd:///a%20b", buf, 5), 4);
	assert_string_equal(buf, "/a b");
	assert_int_equal(fdpass_url_path("fd:///a%20b", buf, 4), -ENAMETOOLONG);

	/* A long one, at its exact boundary. */
	strcpy(url, "fd:///");
	memset(url + 6, 'p', 250);
	url[256] = '\0';
	assert_int_equal(fdpass_url_path(url, buf, 252), 251);
	assert_int_equal(strlen(buf), 251);
	assert_int_equal(fdpass_url_path(url, buf, 251), -ENAMETOOLONG);
}

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
		return 10;
	if (tl_put_byte(job->ready_w) < 0)
		return 11;
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (conn < 0)
		return 12;
	if (tl_put_byte(job->accepted_w) < 0)
		return 13;
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

/* ---- fdpass_backend ----------------------------------------------------- */

/* A front-end in this process: connect to path and send one tagged fd. */
static int send_tagged(const char *path, const char *tag)
{
	int sock = fdpass_connect(path, 0, 1000), fd;

	assert_true(sock >= 0);
	fd = tl_tagged_fd(tag);
	assert_true(fd >= 0);
	assert_int_equal(fdpass_send(sock, fd), 0);
	close(fd);
	return sock;
}

static void assert_recv_tag(fdpass_backend *b, const char *tag, int timeout_ms)
{
	int fd = -7, r = fdpass_backend_recv(b, &fd, timeout_ms);

	if (r != 1)
		fail_msg("fdpass_backend_recv = %d (%s), expected the fd \"%s\"", r,
			 fdpass_strerror(r), tag);
	assert_true(fd >= 0);
	assert_fd_carries(fd, tag);
	close(fd);
}

static void assert_recv_nothing(fdpass_backend *b)
{
	int fd = -7;

	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_int_equal(fd, -1);
}

static void test_backend_new_mode_and_free(void **state)
{
	char path[300], name[128];
	fdpass_backend *b = NULL;
	struct stat st;
	int sock, efd;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, 0640, 0), 0);
	assert_non_null(b);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	efd = fdpass_backend_fd(b);
	assert_true(efd >= 0);
	assert_true(tl_is_cloexec(efd));
	sock = send_tagged(path, "mode 0640");
	assert_recv_tag(b, "mode 0640", 1000);
	close(sock);
	fdpass_backend_free(b);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	fdpass_backend_free(NULL);

	/* Another mode on the same path, now free again. */
	assert_int_equal(fdpass_backend_new(&b, path, 0600, 0), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	fdpass_backend_free(b);
	assert_int_equal(access(path, F_OK), -1);

	/* Packet sockets. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, FDPASS_SEQPACKET), 0);
	sock = fdpass_connect(path, FDPASS_SEQPACKET, 1000);
	assert_true(sock >= 0);
	efd = tl_tagged_fd("packet");
	assert_int_equal(fdpass_send(sock, efd), 0);
	close(efd);
	assert_recv_tag(b, "packet", 1000);
	close(sock);
	fdpass_backend_free(b);

	/* An abstract name: nothing in the file system; gone after free. */
	abstract_name(name, sizeof(name), "new");
	assert_int_equal(fdpass_backend_new(&b, name, -1, 0), 0);
	sock = send_tagged(name, "abstract");
	assert_recv_tag(b, "abstract", 1000);
	close(sock);
	fdpass_backend_free(b);
	assert_int_equal(fdpass_connect(name, 0, 1000), -ECONNREFUSED);
}

static void test_backend_new_errors(void **state)
{
	char path[300], plain[300];
	fdpass_backend *b = NULL, *b2 = NULL;
	struct stat st;
	int fd, sock;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(NULL, path, -1, 0), -EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(fdpass_backend_new(&b, NULL, -1, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, "", -1, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, path, 010000, 0), -EINVAL);
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0x100), -EINVAL);
	assert_null(b);
	assert_int_equal(access(path, F_OK), -1);

	/* A live backend is never taken over, and keeps working. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(fdpass_backend_new(&b2, path, -1, 0), -EADDRINUSE);
	assert_null(b2);
	sock = send_tagged(path, "still mine");
	assert_recv_tag(b, "still mine", 1000);
	close(sock);

	/* A file that is not a socket is left alone. */
	tl_path_in(plain, sizeof(plain), state, "plain");
	fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(fdpass_backend_new(&b2, plain, -1, 0), -EEXIST);
	assert_int_equal(lstat(plain, &st), 0);
	assert_true(S_ISREG(st.st_mode));

	/* The backend itself. */
	assert_int_equal(fdpass_backend_recv(NULL, &fd, 0), -EINVAL);
	assert_int_equal(fdpass_backend_recv(b, NULL, 0), -EINVAL);
	assert_int_equal(fdpass_backend_allow_uid(NULL, 0), -EINVAL);
	assert_int_equal(fdpass_backend_fd(NULL), -EINVAL);
	fdpass_backend_free(b);
	assert_int_equal(access(path, F_OK), -1);

	/* FDPASS_NONBLOCK is allowed (the listener is non-blocking anyway). */
	assert_int_equal(fdpass_backend_new(&b, path, -1, FDPASS_NONBLOCK), 0);
	sock = send_tagged(path, "nonblock");
	assert_recv_tag(b, "nonblock", 1000);
	close(sock);
	fdpass_backend_free(b);
}

static void test_backend_free_leaves_replaced_file(void **state)
{
	char path[300], other[300], buf[16] = { 0 };
	fdpass_backend *b = NULL;
	int fd, lfd, sock, conn;

	tl_path_in(path, sizeof(path), state, "b.sock");

	/* Somebody put a file of their own where our socket was. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "theirs", 6), 6);
	close(fd);
	fdpass_backend_free(b);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	assert_string_equal(buf, "theirs");
	close(fd);
	assert_int_equal(unlink(path), 0);

	/* ...or another live socket, renamed over ours. */
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	tl_path_in(other, sizeof(other), state, "other.sock");
	lfd = fdpass_listen(other, -1, 0);
	assert_true(lfd >= 0);
	assert_int_equal(rename(other, path), 0);
	fdpass_backend_free(b);
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(conn >= 0);
	close(conn);
	close(sock);
	close(lfd);
}

static void test_backend_adopt(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char path[300];
	fdpass_backend *b = NULL;
	int lfd, sock;

	/* A listener made the way a service manager makes one. */
	tl_path_in(path, sizeof(path), state, "adopted.sock");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(fdpass_backend_adopt(&b, lfd), 0);
	assert_non_null(b);
	/* Made non-blocking: another process may accept on it too. */
	assert_true(fcntl(lfd, F_GETFL) & O_NONBLOCK);
	assert_int_not_equal(fdpass_backend_fd(b), lfd);
	assert_recv_nothing(b);
	sock = send_tagged(path, "adopted");
	assert_recv_tag(b, "adopted", 1000);
	close(sock);
	assert_recv_nothing(b);
	fdpass_backend_free(b); /* the listener was the backend's */
	assert_false(tl_is_open(lfd));
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock == -ECONNREFUSED || sock == -ENOENT); /* nobody listens */

	/* Invalid arguments: the fd is the backend's even then, so closed. */
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(fdpass_backend_adopt(NULL, lfd), -EINVAL);
	assert_false(tl_is_open(lfd));
	b = NULL;
	assert_int_equal(fdpass_backend_adopt(&b, -1), -EINVAL);
	assert_null(b);
}

/* A front-end child: waits for go, connects, sends a tagged fd, says done. */
struct fe_job {
	const char *path;
	int go_r, done_w;
	const char *tag;
};

static int frontend_after_go_child(void *arg)
{
	struct fe_job *job = arg;
	int sock, fd;

	if (tl_get_byte(job->go_r, 5000) < 0)
		return 10;
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0)
		return 11;
	fd = tl_tagged_fd(job->tag);
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		return 12;
	close(fd);
	if (tl_put_byte(job->done_w) < 0)
		return 13;
	close(sock);
	return 0;
}

static void test_backend_fd_pollable(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct fe_job job;
	int go[2], done[2], efd, fd;
	int64_t t0;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	efd = fdpass_backend_fd(b);
	tl_pipe(go);
	tl_pipe(done);
	job = (struct fe_job){ .path = path, .go_r = go[0], .done_w = done[1], .tag = "polled" };
	pid = tl_fork(frontend_after_go_child, &job);

	/* Nothing there: poll times out. */
	t0 = tl_now_ms();
	assert_int_equal(tl_wait_fd(efd, POLLIN, 50), 0);
	assert_true(tl_now_ms() - t0 >= 45);

	assert_int_equal(tl_put_byte(go[1]), 0);
	assert_int_equal(tl_get_byte(done[0], 5000), 0);
	assert_true(tl_wait_fd(efd, POLLIN, 1000) & POLLIN);
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), 1);
	assert_fd_carries(fd, "polled");
	close(fd);
	tl_wait_child(pid);

	/* The front-end's end is still to be handled; then all is quiet. */
	assert_true(tl_wait_fd(efd, POLLIN, 1000) & POLLIN);
	assert_recv_nothing(b);
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);

	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

static void test_backend_recv_timeouts(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int64_t t0;
	int fd = 7;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 0), -EAGAIN);
	assert_int_equal(fd, -1);
	assert_in_range(tl_now_ms() - t0, 0, tl_margin_ms());
	fd = 7;
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 200), -ETIMEDOUT);
	assert_int_equal(fd, -1);
	assert_deadline_kept(tl_now_ms() - t0, 200);
	fdpass_backend_free(b);
}

/* Connects after a delay, stays silent until told, then sends. */
struct late_job {
	const char *path;
	int delay_ms;
	int go_r;
};

static int late_frontend_child(void *arg)
{
	struct late_job *job = arg;
	int sock, fd;

	usleep((useconds_t)job->delay_ms * 1000);
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0)
		return 10;
	if (tl_get_byte(job->go_r, 10000) < 0)
		return 11;
	fd = tl_tagged_fd("late");
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		return 12;
	close(fd);
	close(sock);
	return 0;
}

/*
 * A front-end that connects while recv waits must not stretch the deadline:
 * the timeout bounds the whole call, whatever happens meanwhile. It connects
 * later than the margin of a kept deadline, so that a wait restarted then
 * ends past that margin.
 */
static void test_backend_recv_deadline_across_events(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct late_job job;
	int go[2], fd = 7;
	int64_t t0, elapsed;
	int delay = tl_margin_ms() + 100, timeout = delay + 300;
	pid_t pid;
	int r;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	tl_pipe(go);
	job = (struct late_job){ .path = path, .delay_ms = delay, .go_r = go[0] };
	t0 = tl_now_ms();
	pid = tl_fork(late_frontend_child, &job);
	r = fdpass_backend_recv(b, &fd, timeout);
	elapsed = tl_now_ms() - t0;
	assert_int_equal(tl_put_byte(go[1]), 0); /* the child ends whatever comes */
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(fd, -1);
	if (elapsed < timeout - 2 || elapsed > timeout + tl_margin_ms())
		fail_msg("fdpass_backend_recv(timeout %d ms) took %lld ms: a front-end that "
			 "connected after %d ms restarted the wait", timeout, (long long)elapsed,
			 delay);

	/* The silent front-end was kept, and is served once it speaks. */
	assert_recv_tag(b, "late", 5000);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
}

/* Several front-ends at once, each sending several fds over its connection. */
#define N_FRONTENDS 4
#define FDS_EACH 5

struct many_job {
	const char *path;
	int id;
	int connected_w, go_r;
};

static int many_frontend_child(void *arg)
{
	struct many_job *job = arg;
	int sock = fdpass_connect(job->path, 0, 5000), i;

	if (sock < 0)
		return 10;
	if (tl_put_byte(job->connected_w) < 0)
		return 11;
	/* Nobody sends before everybody is connected. */
	if (tl_get_byte(job->go_r, 5000) < 0)
		return 12;
	for (i = 0; i < FDS_EACH; i++) {
		char tag[32];
		int fd;

		snprintf(tag, sizeof(tag), "fe%d-fd%d", job->id, i);
		fd = tl_tagged_fd(tag);
		if (fd < 0)
			return 13;
		if (fdpass_send(sock, fd) != 0)
			return 14;
		close(fd);
	}
	close(sock);
	return 0;
}

static void test_backend_many_frontends(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	struct many_job jobs[N_FRONTENDS];
	pid_t pids[N_FRONTENDS];
	int next[N_FRONTENDS] = { 0 };
	int connected[2], go[2], i, got = 0, base;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	base = tl_count_fds();
	tl_pipe(connected);
	tl_pipe(go);
	for (i = 0; i < N_FRONTENDS; i++) {
		jobs[i] = (struct many_job){ .path = path, .id = i, .connected_w = connected[1],
					     .go_r = go[0] };
		pids[i] = tl_fork(many_frontend_child, &jobs[i]);
	}
	for (i = 0; i < N_FRONTENDS; i++)
		assert_int_equal(tl_get_byte(connected[0], 5000), 0);
	for (i = 0; i < N_FRONTENDS; i++)
		assert_int_equal(tl_put_byte(go[1]), 0);

	while (got < N_FRONTENDS * FDS_EACH) {
		char buf[64];
		int fd = -7, r = fdpass_backend_recv(b, &fd, 5000), id, j;

		if (r != 1)
			fail_msg("recv after %d fds: %d (%s)", got, r, fdpass_strerror(r));
		assert_true(tl_is_cloexec(fd));
		tl_read_to_eof(fd, buf, sizeof(buf), 2000);
		close(fd);
		assert_int_equal(sscanf(buf, "fe%d-fd%d", &id, &j), 2);
		assert_in_range(id, 0, N_FRONTENDS - 1);
		/* One connection's fds arrive in the order they were sent. */
		assert_int_equal(j, next[id]);
		next[id]++;
		got++;
	}
	for (i = 0; i < N_FRONTENDS; i++) {
		assert_int_equal(next[i], FDS_EACH);
		tl_wait_child(pids[i]);
	}
	/* All have hung up: dropped, and no fd of theirs is left open here. */
	assert_recv_nothing(b);
	close(connected[0]);
	close(connected[1]);
	close(go[0]);
	close(go[1]);
	assert_int_equal(tl_count_fds(), base);
	fdpass_backend_free(b);
}

enum garbage { NO_FD, TWO_FDS, BAD_BYTE };

static void misbehave(int sock, enum garbage kind, const int p[2])
{
	int two[2] = { p[1], p[1] };

	switch (kind) {
	case NO_FD:
		tl_raw_send(sock, "", 1, NULL, 0);
		break;
	case TWO_FDS:
		tl_raw_send(sock, "", 1, two, 2);
		break;
	case BAD_BYTE:
		tl_raw_send(sock, "x", 1, &p[1], 1);
		break;
	}
}

static void test_backend_bad_frontends(void **state)
{
	/*
	 * err2: also accepted. On a stream an fd belongs to a byte: a '\0'
	 * without fd read together with the '\0' of the next message (which
	 * carries one) is "a plain message that is not one byte" as well.
	 */
	static const struct {
		enum garbage kind;
		int follow; /* a valid message right behind the bad one */
		int err, err2;
	} cases[] = {
		{ NO_FD, 0, -ENOMSG, -ENOMSG },
		{ NO_FD, 1, -ENOMSG, -EBADMSG },
		{ TWO_FDS, 1, -ETOOMANYREFS, -ETOOMANYREFS },
		{ BAD_BYTE, 1, -EBADMSG, -EBADMSG },
	};
	char path[300];
	fdpass_backend *b = NULL;
	size_t c;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int good, bad, p[2], later[2], fd, i, r, saw_err = 0, saw_fd = 0;

		good = fdpass_connect(path, 0, 1000);
		bad = fdpass_connect(path, 0, 1000);
		assert_true(good >= 0 && bad >= 0);
		assert_recv_nothing(b); /* both accepted */

		/* Both speak at once: one well, one not, then a valid fd after it. */
		tl_pipe(p);
		tl_pipe(later);
		misbehave(bad, cases[c].kind, p);
		if (cases[c].follow)
			assert_int_equal(fdpass_send(bad, later[1]), 0);
		fd = tl_tagged_fd("good one");
		assert_int_equal(fdpass_send(good, fd), 0);
		close(fd);
		close(p[1]);
		close(later[1]);

		for (i = 0; i < 2; i++) {
			fd = -7;
			r = fdpass_backend_recv(b, &fd, 1000);
			if (r == 1) {
				saw_fd++;
				assert_fd_carries(fd, "good one");
				close(fd);
			} else {
				if (r != cases[c].err && r != cases[c].err2)
					fail_msg("case %zu: recv = %d (%s), expected %d", c, r,
						 fdpass_strerror(r), cases[c].err);
				/* (*client_fd after an error: see the next test.) */
				saw_err++;
			}
		}
		assert_int_equal(saw_fd, 1);
		assert_int_equal(saw_err, 1);
		/* Nothing the bad one sent is kept, not even its valid fd after. */
		assert_recv_nothing(b);
		assert_closed_by_peer(bad);
		/* Every fd it sent was closed: the pipes' only writers are gone. */
		tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 1000);
		tl_read_to_eof(later[0], (char[8]){ 0 }, 8, 1000);
		/* The good one is still served. */
		fd = tl_tagged_fd("still good");
		assert_int_equal(fdpass_send(good, fd), 0);
		close(fd);
		assert_recv_tag(b, "still good", 1000);

		close(p[0]);
		close(later[0]);
		close(bad);
		close(good);
		assert_recv_nothing(b);
	}
	fdpass_backend_free(b);
}

/*
 * After an error, *client_fd must not hold the number of an fd that the
 * library has closed: a caller that cleans up with "if (fd >= 0) close(fd)"
 * would close whatever file next got that number. fdpass_recv() sets -1 in
 * every error case, and fdpass_backend_recv() sets -1 on entry.
 */
static void test_backend_error_leaves_no_fd_number(void **state)
{
	static const struct {
		enum garbage kind;
		int err;
	} cases[] = {
		{ NO_FD, -ENOMSG },
		{ TWO_FDS, -ETOOMANYREFS },
		{ BAD_BYTE, -EBADMSG },
	};
	char path[300], report[512] = "";
	fdpass_backend *b = NULL;
	size_t c, used = 0;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int sock = fdpass_connect(path, 0, 1000), p[2], fd = 7, r;

		assert_true(sock >= 0);
		tl_pipe(p);
		misbehave(sock, cases[c].kind, p);
		close(p[1]);
		r = fdpass_backend_recv(b, &fd, 1000);
		close(p[0]);
		close(sock);
		assert_int_equal(r, cases[c].err);
		if (fd != -1 && used < sizeof(report))
			used += (size_t)snprintf(report + used, sizeof(report) - used,
						 " [%s: *client_fd = %d]", fdpass_strerror(r), fd);
	}
	/* Cleaned up first, so that a failure leaves nothing behind. */
	fdpass_backend_free(b);
	if (used)
		fail_msg("fdpass_backend_recv left a number it had closed in *client_fd, "
			 "instead of -1:%s", report);
}

static void test_backend_silent_frontend(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int base, sock;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	base = tl_count_fds();

	/* Connects and closes at once: dropped without a word. */
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);

	/* Connects, is accepted, then closes. */
	sock = fdpass_connect(path, 0, 1000);
	assert_true(sock >= 0);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base + 2); /* ours and the backend's */
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);
	assert_int_equal(tl_wait_fd(fdpass_backend_fd(b), POLLIN, 0), 0);

	/* The backend is unharmed. */
	sock = send_tagged(path, "after the silent ones");
	assert_recv_tag(b, "after the silent ones", 1000);
	close(sock);
	assert_recv_nothing(b);
	assert_int_equal(tl_count_fds(), base);
	fdpass_backend_free(b);
}

static void test_backend_allow_uid(void **state)
{
	char path[300], other[300];
	fdpass_backend *b = NULL, *b2 = NULL;
	int sock, p[2], fd = 7;

	/* Our own uid allowed: served. */
	tl_path_in(path, sizeof(path), state, "mine.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, getuid()), 0);
	sock = send_tagged(path, "allowed");
	assert_recv_tag(b, "allowed", 1000);
	close(sock);
	fdpass_backend_free(b);

	/* Only another uid allowed: refused, and its fd never arrives. */
	tl_path_in(other, sizeof(other), state, "theirs.sock");
	assert_int_equal(fdpass_backend_new(&b2, other, -1, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b2, getuid() + 1), 0);
	sock = fdpass_connect(other, 0, 1000);
	assert_true(sock >= 0);
	tl_pipe(p);
	assert_int_equal(fdpass_send(sock, p[1]), 0);
	close(p[1]);
	{
		pid_t pid = 0;
		uid_t uid = 0;
		gid_t gid = 0;

		assert_int_equal(fdpass_backend_last_refused(b2, &pid, &uid, &gid), -ENOENT);
		assert_int_equal(fdpass_backend_recv(b2, &fd, 1000), -EPERM);
		/* Who it was, for a log line: this very process. */
		assert_int_equal(fdpass_backend_last_refused(b2, &pid, &uid, &gid), 0);
		assert_int_equal(pid, getpid());
		assert_int_equal(uid, getuid());
		assert_int_equal(gid, getgid());
		assert_int_equal(fdpass_backend_last_refused(b2, NULL, NULL, NULL), 0);
		assert_int_equal(fdpass_backend_last_refused(NULL, &pid, NULL, NULL), -EINVAL);
	}
	assert_int_equal(fd, -1);
	assert_recv_nothing(b2);
	assert_closed_by_peer(sock);
	tl_read_to_eof(p[0], (char[8]){ 0 }, 8, 1000); /* the fd in flight was released */
	close(p[0]);
	close(sock);

	/* Allowing more, later: our uid too. */
	assert_int_equal(fdpass_backend_allow_uid(b2, getuid()), 0);
	sock = send_tagged(other, "allowed later");
	assert_recv_tag(b2, "allowed later", 1000);
	close(sock);
	fdpass_backend_free(b2);
}

/* A front-end child that becomes nobody before connecting. */
struct nobody_job {
	const char *path;
	int refused; /* 1: expects the backend to close its connection */
	int sent_w;  /* a byte once the fd is sent */
	int go_r;
};

static int nobody_frontend_child(void *arg)
{
	struct nobody_job *job = arg;
	int sock, fd;
	char c;

	if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
	    setresuid(65534, 65534, 65534) < 0)
		return 10;
	if (getuid() != 65534 || geteuid() != 65534)
		return 11;
	sock = fdpass_connect(job->path, 0, 5000);
	if (sock < 0) {
		fprintf(stderr, "nobody child: connect %s: %s\n", job->path, fdpass_strerror(sock));
		return 12;
	}
	fd = tl_tagged_fd("from nobody");
	if (fd < 0 || fdpass_send(sock, fd) != 0)
		return 13;
	close(fd);
	if (tl_put_byte(job->sent_w) < 0)
		return 17;
	if (job->refused) {
		ssize_t n;

		if (tl_wait_fd(sock, POLLIN, 5000) <= 0)
			return 14;
		n = read(sock, &c, 1);
		if (!(n == 0 || (n < 0 && errno == ECONNRESET)))
			return 15;
	} else if (tl_get_byte(job->go_r, 5000) < 0) {
		return 16;
	}
	close(sock);
	return 0;
}

static void test_backend_allow_uid_other_user(void **state)
{
	const char *dir = tl_dir_path(state);
	char path[300], path2[300];
	fdpass_backend *b = NULL;
	struct nobody_job job;
	int go[2], sent[2], fd = 7;
	pid_t pid;

	if (geteuid() != 0)
		skip(); /* needs root to become another user */

	/* Reachable by nobody: a traversable directory and a 0666 socket. */
	assert_int_equal(chmod(dir, 0711), 0);
	tl_pipe(go);
	tl_pipe(sent);

	tl_path_in(path, sizeof(path), state, "root-only.sock");
	assert_int_equal(fdpass_backend_new(&b, path, 0666, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, 0), 0);
	job = (struct nobody_job){ .path = path, .refused = 1, .sent_w = sent[1], .go_r = go[0] };
	pid = tl_fork(nobody_frontend_child, &job);
	assert_int_equal(tl_get_byte(sent[0], 5000), 0);
	assert_int_equal(fdpass_backend_recv(b, &fd, 5000), -EPERM);
	assert_int_equal(fd, -1);
	tl_wait_child(pid);
	assert_recv_nothing(b);
	fdpass_backend_free(b);

	tl_path_in(path2, sizeof(path2), state, "nobody.sock");
	assert_int_equal(fdpass_backend_new(&b, path2, 0666, 0), 0);
	assert_int_equal(fdpass_backend_allow_uid(b, 65534), 0);
	job = (struct nobody_job){ .path = path2, .refused = 0, .sent_w = sent[1], .go_r = go[0] };
	pid = tl_fork(nobody_frontend_child, &job);
	assert_int_equal(tl_get_byte(sent[0], 5000), 0);
	assert_recv_tag(b, "from nobody", 5000);
	assert_int_equal(tl_put_byte(go[1]), 0);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
	close(sent[0]);
	close(sent[1]);
}

/* httpd's send_socket(), byte for byte: cmsg_len computed by hand, flags 0. */
static int httpd_frontend_child(void *arg)
{
	const char *path = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	union {
		struct cmsghdr align;
		char buf[sizeof(struct cmsghdr) + sizeof(int) + 8];
	} control;
	char b = '\0';
	struct iovec iov = { .iov_base = &b, .iov_len = 1 };
	struct msghdr msg;
	struct cmsghdr *cmsg;
	int sock, fd;

	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (sock < 0)
		return 10;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 11;
	fd = tl_tagged_fd("from httpd");
	if (fd < 0)
		return 12;
	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	cmsg = (struct cmsghdr *)control.buf;
	cmsg->cmsg_len = sizeof(*cmsg) + sizeof(fd);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(fd));
	msg.msg_control = cmsg;
	msg.msg_controllen = cmsg->cmsg_len;
	if (sendmsg(sock, &msg, 0) != 1)
		return 13;
	close(fd);
	close(sock); /* httpd closes right after */
	return 0;
}

static void test_backend_httpd_bytes(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "httpd.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	pid = tl_fork(httpd_frontend_child, path);
	assert_recv_tag(b, "from httpd", 5000);
	tl_wait_child(pid);
	assert_recv_nothing(b);
	fdpass_backend_free(b);
}

/* Holds copies of every fd of the test until told to go. */
static int holder_child(void *arg)
{
	return tl_get_byte(*(int *)arg, 10000) < 0 ? 10 : 0;
}

/*
 * The epoll trap: a dropped connection whose open file lives on elsewhere
 * (here a forked child holds a copy) stays in an epoll set unless it is
 * removed before close. The backend must then neither report it, nor spin
 * on it, nor confuse it with the next connection that gets the same number.
 */
static void test_backend_drop_shared_connection(void **state)
{
	char path[300];
	fdpass_backend *b = NULL;
	int fe1, fe2, go[2], efd, fd = 7;
	int64_t t0;
	pid_t pid;

	tl_path_in(path, sizeof(path), state, "b.sock");
	assert_int_equal(fdpass_backend_new(&b, path, -1, 0), 0);
	efd = fdpass_backend_fd(b);
	fe1 = fdpass_connect(path, 0, 1000);
	assert_true(fe1 >= 0);
	assert_recv_nothing(b); /* accepted */
	tl_pipe(go);
	pid = tl_fork(holder_child, &go[0]);

	tl_raw_send(fe1, "", 1, NULL, 0); /* no fd: dropped */
	assert_int_equal(fdpass_backend_recv(b, &fd, 1000), -ENOMSG);
	/* The old connection lives on in the child: make it readable. */
	assert_int_equal(send(fe1, "more", 4, MSG_NOSIGNAL), 4);
	close(fe1);

	/* Not in the epoll set any more: nothing to report. */
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_backend_recv(b, &fd, 200), -ETIMEDOUT);
	assert_deadline_kept(tl_now_ms() - t0, 200);

	fe2 = send_tagged(path, "next connection");
	assert_recv_tag(b, "next connection", 1000);
	close(fe2);
	assert_recv_nothing(b);
	assert_int_equal(tl_wait_fd(efd, POLLIN, 0), 0);

	assert_int_equal(tl_put_byte(go[1]), 0);
	tl_wait_child(pid);
	fdpass_backend_free(b);
	close(go[0]);
	close(go[1]);
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
	return c >= 0 ? 0 : 10;
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

/* A NULL backend still sets the outputs, as documented: -1 and NULL. */
static void test_backend_null_sets_outputs(void **state)
{
	fdpass_meta *meta = (fdpass_meta *)&meta;
	int fd = 7;

	(void)state;
	assert_int_equal(fdpass_backend_recv(NULL, &fd, 0), -EINVAL);
	assert_int_equal(fd, -1);
	fd = 7;
	assert_int_equal(fdpass_backend_recv_meta(NULL, &fd, &meta, 0), -EINVAL);
	assert_int_equal(fd, -1);
	assert_null(meta);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TL_DIR_TEST(test_url_path_examples),
		TL_DIR_TEST(test_url_path_rejects),
		TL_DIR_TEST(test_url_path_buffer_size),
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
		TL_DIR_TEST(test_backend_new_mode_and_free),
		TL_DIR_TEST(test_backend_new_errors),
		TL_DIR_TEST(test_backend_free_leaves_replaced_file),
		TL_DIR_TEST(test_backend_adopt),
		TL_DIR_TEST(test_backend_fd_pollable),
		TL_DIR_TEST(test_backend_recv_timeouts),
		TL_DIR_TEST(test_backend_recv_deadline_across_events),
		TL_DIR_TEST(test_backend_many_frontends),
		TL_DIR_TEST(test_backend_bad_frontends),
		TL_DIR_TEST(test_backend_error_leaves_no_fd_number),
		TL_DIR_TEST(test_backend_silent_frontend),
		TL_DIR_TEST(test_backend_allow_uid),
		TL_DIR_TEST(test_backend_allow_uid_other_user),
		TL_DIR_TEST(test_backend_httpd_bytes),
		TL_DIR_TEST(test_backend_drop_shared_connection),
		TL_DIR_TEST(test_handoff_positive_provider_result),
		TL_DIR_TEST(test_handoff_abstract_packet_listener),
		TL_DIR_TEST(test_handoff2_seqpacket),
		TL_DIR_TEST(test_handoff2_results),
		TL_DIR_TEST(test_handoff2_one_deadline),
		TL_DIR_TEST(test_flusher_timeout_values),
		TL_DIR_TEST(test_timeout_zero_rule),
		TL_DIR_TEST(test_backend_null_sets_outputs),
	};

	/* A raised SIGPIPE must end the program, so that it is seen. */
	signal(SIGPIPE, SIG_DFL);
	/* CMOCKA_TEST_FILTER=test_handoff_* (a glob) runs only those. */
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
