// SPDX-License-Identifier: MIT
/*
 * The 1.1 API around the hand-off: the response builder, the registry of
 * flusher providers (also under threads), the exact bytes of the built-in
 * "flush" and "none", and fdpass_write_all() against slow, interrupted,
 * stuck and vanished readers. Real sockets, pipes and processes; each test
 * runs with an fd-leak check (TL_TEST).
 *
 * The registry is global to the process: every test unregisters what it
 * registered, so that each one starts with the built-ins only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fdpass.h>

#include "testlib.h"

/* ---- helpers ------------------------------------------------------------ */

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* Nothing is waiting to be read on fd (whose writer is still open). */
static void assert_no_data(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, 0), 0);
}

/*
 * Run the flusher name on one end of a fresh socketpair and return every
 * byte that came out of the other end (the writer is shut down after the
 * run, so "nothing else" is checked too). *ret is the run's result.
 */
static char *flush_to_string(const char *name, const fdpass_response *resp, int *ret,
			     size_t *len)
{
	int sv[2];
	char *out;

	tl_socketpair(SOCK_STREAM, sv);
	*ret = fdpass_flusher_run(name, sv[0], resp);
	assert_int_equal(shutdown(sv[0], SHUT_WR), 0);
	out = tl_read_all(sv[1], len, 10000);
	close(sv[0]);
	close(sv[1]);
	return out;
}

/*
 * s (29 bytes, not NUL-terminated) is an IMF-fixdate, "Sun, 06 Nov 1994
 * 08:49:37 GMT", in English, and within a few seconds of now. Parsed with
 * strptime in the C locale, then formatted again and compared byte for byte
 * (which checks the day of the week and the zero padding as well).
 */
static void check_imf_fixdate(const char *s)
{
	static const char fmt[] = "%a, %d %b %Y %H:%M:%S GMT";
	char date[30], again[64];
	locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	locale_t old;
	struct tm tm;
	const char *end;
	time_t t, now = time(NULL);

	assert_true(c != (locale_t)0);
	memcpy(date, s, 29);
	date[29] = '\0';
	old = uselocale(c);
	memset(&tm, 0, sizeof(tm));
	end = strptime(date, fmt, &tm);
	if (!end || *end) {
		uselocale(old);
		freelocale(c);
		fail_msg("Date \"%s\" is not an IMF-fixdate", date);
	}
	t = timegm(&tm);
	gmtime_r(&t, &tm);
	assert_int_equal(strftime(again, sizeof(again), fmt, &tm), 29);
	uselocale(old);
	freelocale(c);
	assert_string_equal(again, date);
	if (t < now - 5 || t > now + 5)
		fail_msg("Date \"%s\" is %lld s away from now", date, (long long)(t - now));
}

/*
 * out[0..len) is exactly what "flush" must write: status_line, a Date
 * (checked), fields (each "name: value\r\n"), "Connection: close", the blank
 * line and body.
 */
static void expect_flush(const char *out, size_t len, const char *status_line,
			 const char *fields, const void *body, size_t body_len)
{
	size_t sl = strlen(status_line), fl = strlen(fields), pos = 0;
	static const char conn[] = "Connection: close\r\n\r\n";

	assert_int_equal(len, sl + 6 + 29 + 2 + fl + strlen(conn) + body_len);
	assert_memory_equal(out, status_line, sl);
	pos = sl;
	assert_memory_equal(out + pos, "Date: ", 6);
	pos += 6;
	check_imf_fixdate(out + pos);
	pos += 29;
	assert_memory_equal(out + pos, "\r\n", 2);
	pos += 2;
	if (fl)
		assert_memory_equal(out + pos, fields, fl);
	pos += fl;
	assert_memory_equal(out + pos, conn, strlen(conn));
	pos += strlen(conn);
	if (body_len)
		assert_memory_equal(out + pos, body, body_len);
}

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 31 + (i >> 12) * 7 + 1);
}

static unsigned char *make_pattern(size_t len)
{
	unsigned char *p = malloc(len);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = pattern_byte(i);
	return p;
}

/* ---- a reader in a child process ---------------------------------------- */

enum { EXPECT_PATTERN, EXPECT_FLUSH };

struct reader {
	int fd;             /* the end to read */
	int other;          /* the writer's end, closed in the child (or -1) */
	unsigned delay_ms;  /* before the first read */
	size_t piece;       /* most bytes per read */
	unsigned pause_us;  /* after every read */
	size_t stop_after;  /* close the socket after this many bytes (0: read to EOF) */
	int expect;         /* EXPECT_* */
	size_t len;         /* the pattern's length (the body's, for EXPECT_FLUSH) */
	const char *fields; /* EXPECT_FLUSH: the header fields between Date and Connection */
};

/* Child process: read as told, then check what came (no cmocka here). */
static int reader_child(void *arg)
{
	const struct reader *a = arg;
	size_t head = 0, cap, got = 0, i;
	unsigned char *buf;
	int rc = 0;

	if (a->other >= 0)
		close(a->other);
	if (a->expect == EXPECT_FLUSH)
		head = 17 + 6 + 29 + 2 + strlen(a->fields) + 19 + 2;
	cap = head + a->len + 1; /* one more: to see an extra byte */
	if (a->stop_after)
		cap = a->stop_after + a->piece;
	buf = malloc(cap);
	TL_CHILD_CHECK(buf != NULL);
	if (a->delay_ms)
		usleep(a->delay_ms * 1000);
	for (;;) {
		size_t want = a->piece < cap - got ? a->piece : cap - got;
		ssize_t n;

		if (want == 0) {
			free(buf);
			TL_CHILD_FAIL("reader: more than the %zu bytes expected", cap - 1);
		}
		n = read(a->fd, buf + got, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			free(buf);
			TL_CHILD_FAIL("reader: read: %s", strerror(err));
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (a->stop_after && got >= a->stop_after) {
			close(a->fd); /* the client goes away mid-response */
			free(buf);
			return 0;
		}
		if (a->pause_us)
			usleep(a->pause_us);
	}
	close(a->fd);
	if (got != head + a->len) {
		rc = tl_child_failed(__FILE__, __LINE__, "reader: got %zu bytes, expected %zu", got,
				     head + a->len);
	} else if (a->expect == EXPECT_FLUSH &&
		   (memcmp(buf, "HTTP/1.1 200 OK\r\nDate: ", 23) ||
		    memcmp(buf + 23 + 29, "\r\n", 2) ||
		    memcmp(buf + 23 + 31, a->fields, strlen(a->fields)) ||
		    memcmp(buf + 54 + strlen(a->fields), "Connection: close\r\n\r\n", 21))) {
		rc = tl_child_failed(__FILE__, __LINE__, "reader: bad head \"%.*s\"", (int)head,
				     (const char *)buf);
	} else {
		for (i = 0; i < a->len; i++)
			if (buf[head + i] != pattern_byte(i)) {
				rc = tl_child_failed(__FILE__, __LINE__, "reader: byte %zu differs", i);
				break;
			}
	}
	free(buf);
	return rc;
}

/* ---- SIGALRM without SA_RESTART, and SIGPIPE ---------------------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/* One SIGALRM after ms (or one every interval_ms as well, if not 0). */
static void arm_alarm(int ms, int interval_ms)
{
	struct sigaction sa;
	struct itimerval it = {
		.it_value = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 },
		.it_interval = { .tv_sec = interval_ms / 1000,
				 .tv_usec = (interval_ms % 1000) * 1000 },
	};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	alarms = 0;
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void disarm_alarm(void)
{
	struct itimerval off;

	memset(&off, 0, sizeof(off));
	assert_int_equal(setitimer(ITIMER_REAL, &off, NULL), 0);
	/*
	 * Ignored, not back to the default: a SIGALRM raised just before the
	 * timer stopped may still be on its way (valgrind delivers signals
	 * late), and its default action would kill the test.
	 */
	signal(SIGALRM, SIG_IGN);
}

/* SIGPIPE at its default action, but blocked: if raised, it stays pending. */
static void block_sigpipe(sigset_t *old)
{
	sigset_t s;

	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	assert_int_equal(pthread_sigmask(SIG_BLOCK, &s, old), 0);
}

/* Was a SIGPIPE raised (and left pending)? Takes it, so it cannot kill us. */
static int take_sigpipe(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	return sigtimedwait(&s, NULL, &zero) == SIGPIPE;
}

static void restore_sigmask(const sigset_t *old)
{
	assert_int_equal(pthread_sigmask(SIG_SETMASK, old, NULL), 0);
}

/* In a child: end it with a message if it is still running after s seconds. */
static const char *watchdog_msg = "watchdog\n";

static void on_watchdog(int sig)
{
	(void)sig;
	(void)!write(2, watchdog_msg, strlen(watchdog_msg));
	_exit(98);
}

static void arm_watchdog(unsigned s, const char *msg)
{
	struct sigaction sa;

	watchdog_msg = msg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_watchdog;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(s);
}

/*
 * In a child that may crash inside the library: the default actions of the
 * fatal signals (cmocka's handlers would longjmp across threads), so that the
 * parent sees "killed by signal N".
 */
static void default_fatal_signals(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS };
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
}

/* ======================================================================
 * 1. The response builder
 * ====================================================================== */

static void test_response_new_free(void **state)
{
	static const int bad[] = { 99, 600, 0, -1, -200, 1000, INT_MIN, INT_MAX };
	fdpass_response *sentinel = (fdpass_response *)&bad, *r = sentinel;
	const char *reason = NULL;
	size_t i, len = 99;

	(void)state;
	fdpass_response_free(NULL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(fdpass_response_new(&r, bad[i]), -EINVAL);
		assert_ptr_equal(r, sentinel); /* untouched */
	}
	assert_int_equal(fdpass_response_new(NULL, 200), -EINVAL);

	assert_int_equal(fdpass_response_new(&r, 100), 0);
	assert_ptr_not_equal(r, sentinel);
	assert_non_null(r);
	assert_int_equal(fdpass_response_get_status(r, &reason), 100);
	assert_string_equal(reason, "Continue");
	assert_int_equal(fdpass_response_header_count(r), 0);
	assert_null(fdpass_response_get_body(r, &len));
	assert_int_equal(len, 0);
	fdpass_response_free(r);

	r = sentinel;
	assert_int_equal(fdpass_response_new(&r, 599), 0);
	assert_ptr_not_equal(r, sentinel);
	assert_int_equal(fdpass_response_get_status(r, &reason), 599);
	assert_string_equal(reason, "Unknown");
	fdpass_response_free(r);
}

static void test_response_reasons(void **state)
{
	static const struct {
		int status;
		const char *reason;
	} table[] = {
		{ 100, "Continue" },
		{ 101, "Switching Protocols" },
		{ 200, "OK" },
		{ 201, "Created" },
		{ 202, "Accepted" },
		{ 204, "No Content" },
		{ 206, "Partial Content" },
		{ 301, "Moved Permanently" },
		{ 302, "Found" },
		{ 303, "See Other" },
		{ 304, "Not Modified" },
		{ 307, "Temporary Redirect" },
		{ 308, "Permanent Redirect" },
		{ 400, "Bad Request" },
		{ 401, "Unauthorized" },
		{ 403, "Forbidden" },
		{ 404, "Not Found" },
		{ 405, "Method Not Allowed" },
		{ 408, "Request Timeout" },
		{ 409, "Conflict" },
		{ 410, "Gone" },
		{ 413, "Content Too Large" },
		{ 414, "URI Too Long" },
		{ 415, "Unsupported Media Type" },
		{ 416, "Range Not Satisfiable" },
		{ 422, "Unprocessable Content" },
		{ 426, "Upgrade Required" },
		{ 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" },
		{ 501, "Not Implemented" },
		{ 502, "Bad Gateway" },
		{ 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
		{ 505, "HTTP Version Not Supported" },
		/* No standard phrase: "Unknown". 418 is "(Unused)" in RFC 9110. */
		{ 150, "Unknown" },
		{ 299, "Unknown" },
		{ 418, "Unknown" },
		{ 599, "Unknown" },
	};
	fdpass_response *r, *other;
	const char *reason;
	size_t i;

	(void)state;
	assert_int_equal(fdpass_response_new(&other, 200), 0);
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(fdpass_response_new(&r, table[i].status), 0);
		reason = NULL;
		assert_int_equal(fdpass_response_get_status(r, &reason), table[i].status);
		assert_string_equal(reason, table[i].reason);
		assert_int_equal(fdpass_response_get_status(r, NULL), table[i].status);
		fdpass_response_free(r);

		/* set_status with a NULL reason: the standard phrase too. */
		assert_int_equal(fdpass_response_set_status(other, 200, "Custom"), 0);
		assert_int_equal(fdpass_response_set_status(other, table[i].status, NULL), 0);
		reason = NULL;
		assert_int_equal(fdpass_response_get_status(other, &reason), table[i].status);
		assert_string_equal(reason, table[i].reason);
	}
	fdpass_response_free(other);
}

static void assert_status(const fdpass_response *r, int status, const char *reason)
{
	const char *got = NULL;

	assert_int_equal(fdpass_response_get_status(r, &got), status);
	assert_non_null(got);
	assert_string_equal(got, reason);
}

static void test_response_set_status(void **state)
{
	static const char *const bad_reasons[] = {
		"A\rB", "A\nB", "\r", "\n", "Fine\r\n", "OK\r\nSet-Cookie: x",
		"\x01", "A\x02", "\x08", "\x0b", "\x0c", "\x1b[1m", "\x1f", "A\x7f", "\x7f",
	};
	char buf[32];
	fdpass_response *r;
	size_t i;

	(void)state;
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	assert_int_equal(fdpass_response_set_status(r, 201, "Fine By Me"), 0);
	assert_status(r, 201, "Fine By Me");

	/* The reason is copied. */
	strcpy(buf, "Copied Reason");
	assert_int_equal(fdpass_response_set_status(r, 202, buf), 0);
	strcpy(buf, "Changed Later");
	assert_status(r, 202, "Copied Reason");

	/* Spaces, tabs and visible characters. */
	assert_int_equal(fdpass_response_set_status(r, 203, "Tab\there ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}"), 0);
	assert_status(r, 203, "Tab\there ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}");

	assert_int_equal(fdpass_response_set_status(r, 210, "Fine"), 0);
	/* Out of range: -EINVAL, nothing changed (not the reason either). */
	assert_int_equal(fdpass_response_set_status(r, 99, "Other"), -EINVAL);
	assert_status(r, 210, "Fine");
	assert_int_equal(fdpass_response_set_status(r, 600, NULL), -EINVAL);
	assert_status(r, 210, "Fine");
	assert_int_equal(fdpass_response_set_status(r, -404, "Other"), -EINVAL);
	assert_status(r, 210, "Fine");
	assert_int_equal(fdpass_response_set_status(NULL, 200, NULL), -EINVAL);

	/* Control characters in the reason: -EINVAL, nothing changed. */
	for (i = 0; i < sizeof(bad_reasons) / sizeof(bad_reasons[0]); i++) {
		assert_int_equal(fdpass_response_set_status(r, 404, bad_reasons[i]), -EINVAL);
		assert_status(r, 210, "Fine");
	}

	/* Both ends of the range; NULL goes back to the standard phrase. */
	assert_int_equal(fdpass_response_set_status(r, 100, NULL), 0);
	assert_status(r, 100, "Continue");
	assert_int_equal(fdpass_response_set_status(r, 599, "Last"), 0);
	assert_status(r, 599, "Last");
	assert_int_equal(fdpass_response_set_status(r, 404, NULL), 0);
	assert_status(r, 404, "Not Found");
	fdpass_response_free(r);
}

static void assert_last_header(const fdpass_response *r, const char *name, const char *value)
{
	size_t n = fdpass_response_header_count(r);
	const char *gn = NULL, *gv = NULL;

	assert_true(n > 0);
	assert_int_equal(fdpass_response_get_header(r, n - 1, &gn, &gv), 0);
	assert_string_equal(gn, name);
	assert_string_equal(gv, value);
}

static void test_response_header_names(void **state)
{
	static const char *const good[] = {
		"X-Custom", "Content-Type", "Set-Cookie", "a", "Z", "0", "x.y", "X_Y",
		"!#$%&'*+-.^_`|~", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
	};
	static const char *const bad[] = {
		"", " ", "X Y", " X", "X ", "X:Y", "X:", ":authority", "(", "X(", ")",
		"<", ">", "@", ",", ";", "\\", "\"", "/", "[", "]", "?", "=", "{", "}",
		"\t", "X\tY", "X\r\nY", "X\r", "\r", "\n", "\x7f", "X\x7f", "\x01",
		"caf\xc3\xa9", "\xc3\xa9", "\x80", "\xff",
	};
	char longname[1001];
	fdpass_response *r;
	size_t i, n;

	(void)state;
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(fdpass_response_add_header(r, good[i], "v"), 0);
		assert_last_header(r, good[i], "v");
	}
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(fdpass_response_add_header(r, longname, "v"), 0);
	assert_last_header(r, longname, "v");

	n = fdpass_response_header_count(r);
	assert_int_equal(n, sizeof(good) / sizeof(good[0]) + 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = fdpass_response_add_header(r, bad[i], "v");

		if (ret != -EINVAL)
			fail_msg("header name #%zu \"%s\": %d, expected -EINVAL", i, bad[i], ret);
		assert_int_equal(fdpass_response_header_count(r), n);
	}
	assert_int_equal(fdpass_response_add_header(r, NULL, "v"), -EINVAL);
	assert_int_equal(fdpass_response_add_header(NULL, "X", "v"), -EINVAL);
	assert_int_equal(fdpass_response_header_count(r), n);
	fdpass_response_free(r);
}

static void test_response_header_values(void **state)
{
	static const char *const good[] = {
		"plain", "", "a b", "a\tb", "\t", " ", "text/html; charset=utf-8",
		"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "Sun, 06 Nov 1994 08:49:37 GMT",
	};
	static const char *const bad[] = {
		"\r", "\n", "\r\n", "a\rb", "a\nb", "a\r\nb", "\r\nSet-Cookie: x",
		"x\r\nSet-Cookie: y", "a\r\n b" /* obs-fold */, "a\n\tb",
		"\x01", "a\x02", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x1f",
		"\x7f", "a\x7f", "a\177b",
	};
	char longvalue[2001];
	fdpass_response *r;
	size_t i, n;

	(void)state;
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(fdpass_response_add_header(r, "X-Good", good[i]), 0);
		assert_last_header(r, "X-Good", good[i]);
	}
	memset(longvalue, 'v', sizeof(longvalue) - 1);
	longvalue[sizeof(longvalue) - 1] = '\0';
	assert_int_equal(fdpass_response_add_header(r, "X-Long", longvalue), 0);
	assert_last_header(r, "X-Long", longvalue);

	n = fdpass_response_header_count(r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = fdpass_response_add_header(r, "X-Bad", bad[i]);

		if (ret != -EINVAL)
			fail_msg("header value #%zu: %d, expected -EINVAL", i, ret);
		assert_int_equal(fdpass_response_header_count(r), n);
	}
	assert_int_equal(fdpass_response_add_header(r, "X-Bad", NULL), -EINVAL);
	assert_int_equal(fdpass_response_header_count(r), n);
	fdpass_response_free(r);
}

/* A value of the length that makes a field "X: <value>\r\n" take bytes bytes. */
static char *value_for_field_bytes(size_t bytes)
{
	size_t vlen = bytes - 5; /* "X" ": " "\r\n" */
	char *v = malloc(vlen + 1);

	assert_non_null(v);
	memset(v, 'v', vlen);
	v[vlen] = '\0';
	return v;
}

static void test_response_limits(void **state)
{
	/* The head of a fresh 200 response: "HTTP/1.1 200 OK\r\n", 17 bytes. */
	const size_t room = FDPASS_RESPONSE_MAX_HEAD - 17;
	const char *name, *value;
	fdpass_response *r;
	char n[32], *v;
	int i;

	(void)state;
	/* FDPASS_RESPONSE_MAX_HEADERS fields, not one more. */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	for (i = 0; i < FDPASS_RESPONSE_MAX_HEADERS; i++) {
		snprintf(n, sizeof(n), "X-H%d", i);
		assert_int_equal(fdpass_response_add_header(r, n, "v"), 0);
	}
	assert_int_equal(fdpass_response_header_count(r), FDPASS_RESPONSE_MAX_HEADERS);
	assert_int_equal(fdpass_response_add_header(r, "X-One-More", "v"), -E2BIG);
	assert_int_equal(fdpass_response_add_header(r, "X", ""), -E2BIG);
	assert_int_equal(fdpass_response_header_count(r), FDPASS_RESPONSE_MAX_HEADERS);
	assert_int_equal(fdpass_response_get_header(r, FDPASS_RESPONSE_MAX_HEADERS - 1,
						    &name, &value), 0);
	snprintf(n, sizeof(n), "X-H%d", FDPASS_RESPONSE_MAX_HEADERS - 1);
	assert_string_equal(name, n);
	assert_int_equal(fdpass_response_get_header(r, FDPASS_RESPONSE_MAX_HEADERS, &name,
						    &value), -ERANGE);
	fdpass_response_free(r);

	/*
	 * FDPASS_RESPONSE_MAX_HEAD bytes of head (status line and fields):
	 * exactly that many fit, one more does not.
	 */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	v = value_for_field_bytes(room + 1);
	assert_int_equal(fdpass_response_add_header(r, "X", v), -E2BIG);
	assert_int_equal(fdpass_response_header_count(r), 0);
	free(v);
	v = value_for_field_bytes(room);
	assert_int_equal(fdpass_response_add_header(r, "X", v), 0);
	free(v);
	assert_int_equal(fdpass_response_header_count(r), 1);
	assert_int_equal(fdpass_response_add_header(r, "Y", ""), -E2BIG);
	assert_int_equal(fdpass_response_header_count(r), 1);
	fdpass_response_free(r);

	/* The same boundary reached by many fields. */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	v = value_for_field_bytes(1000);
	for (i = 0; i < (int)(room / 1000); i++)
		assert_int_equal(fdpass_response_add_header(r, "X", v), 0);
	free(v);
	v = value_for_field_bytes(room % 1000 + 1);
	assert_int_equal(fdpass_response_add_header(r, "X", v), -E2BIG);
	free(v);
	v = value_for_field_bytes(room % 1000);
	assert_int_equal(fdpass_response_add_header(r, "X", v), 0);
	free(v);
	assert_int_equal(fdpass_response_header_count(r), room / 1000 + 1);
	fdpass_response_free(r);

	/* A value larger than the whole head, and a longer reason eating the room. */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	v = value_for_field_bytes(FDPASS_RESPONSE_MAX_HEAD + 10);
	assert_int_equal(fdpass_response_add_header(r, "X", v), -E2BIG);
	free(v);
	assert_int_equal(fdpass_response_set_status(r, 200, "OK OK OK"), 0); /* 6 more bytes */
	v = value_for_field_bytes(room - 6 + 1);
	assert_int_equal(fdpass_response_add_header(r, "X", v), -E2BIG);
	free(v);
	v = value_for_field_bytes(room - 6);
	assert_int_equal(fdpass_response_add_header(r, "X", v), 0);
	free(v);
	fdpass_response_free(r);
}

/*
 * The head limit is a property of the response: a reason phrase set after
 * the fields must not take the head beyond FDPASS_RESPONSE_MAX_HEAD either
 * (-E2BIG, nothing changed); a reason is at most FDPASS_RESPONSE_MAX_REASON
 * characters.
 */
static void test_response_set_status_keeps_head_limit(void **state)
{
	const size_t room = FDPASS_RESPONSE_MAX_HEAD - 17;
	fdpass_response *r;
	char *v;

	(void)state;
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	v = value_for_field_bytes(room);
	assert_int_equal(fdpass_response_add_header(r, "X", v), 0); /* head now full */
	free(v);
	assert_int_equal(fdpass_response_set_status(r, 200, "OK OK OK"), -E2BIG);
	assert_status(r, 200, "OK");
	assert_int_equal(fdpass_response_set_status(r, 404, NULL), -E2BIG); /* "Not Found" */
	assert_status(r, 200, "OK");
	/* As long as the reason: fine. */
	assert_int_equal(fdpass_response_set_status(r, 201, "Ab"), 0);
	assert_status(r, 201, "Ab");
	assert_int_equal(fdpass_response_set_status(r, 200, NULL), 0);
	fdpass_response_free(r);

	/* FDPASS_RESPONSE_MAX_REASON characters, not one more. */
	v = malloc(FDPASS_RESPONSE_MAX_REASON + 2);
	assert_non_null(v);
	memset(v, 'r', FDPASS_RESPONSE_MAX_REASON + 1);
	v[FDPASS_RESPONSE_MAX_REASON + 1] = '\0';
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	assert_int_equal(fdpass_response_set_status(r, 200, v), -EINVAL);
	assert_status(r, 200, "OK");
	v[FDPASS_RESPONSE_MAX_REASON] = '\0';
	assert_int_equal(fdpass_response_set_status(r, 200, v), 0);
	assert_status(r, 200, v);
	fdpass_response_free(r);
	free(v);
}

static void test_response_body(void **state)
{
	unsigned char data[300];
	const unsigned char *got;
	fdpass_response *r;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)i; /* NULs and all */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	len = 1;
	assert_null(fdpass_response_get_body(r, &len));
	assert_int_equal(len, 0);

	/* Copied: the caller's buffer may change afterwards. */
	assert_int_equal(fdpass_response_set_body(r, data, sizeof(data)), 0);
	memset(data, 0xee, sizeof(data));
	got = fdpass_response_get_body(r, &len);
	assert_non_null(got);
	assert_ptr_not_equal(got, data);
	assert_int_equal(len, sizeof(data));
	for (i = 0; i < len; i++)
		assert_int_equal(got[i], (unsigned char)i);
	assert_non_null(fdpass_response_get_body(r, NULL));

	/* Replaced. */
	assert_int_equal(fdpass_response_set_body(r, "xyz", 3), 0);
	got = fdpass_response_get_body(r, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "xyz", 3);

	/* -EINVAL: NULL data with len > 0, and the body stays. */
	assert_int_equal(fdpass_response_set_body(r, NULL, 5), -EINVAL);
	got = fdpass_response_get_body(r, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "xyz", 3);
	assert_int_equal(fdpass_response_set_body(NULL, "a", 1), -EINVAL);

	/* len 0 removes it, whatever data is. */
	assert_int_equal(fdpass_response_set_body(r, "ignored", 0), 0);
	len = 7;
	assert_null(fdpass_response_get_body(r, &len));
	assert_int_equal(len, 0);
	assert_int_equal(fdpass_response_set_body(r, "abc", 3), 0);
	assert_int_equal(fdpass_response_set_body(r, NULL, 0), 0);
	len = 7;
	assert_null(fdpass_response_get_body(r, &len));
	assert_int_equal(len, 0);
	fdpass_response_free(r);

	/* A body is freed with its response (memcheck/ASan check this). */
	assert_int_equal(fdpass_response_new(&r, 200), 0);
	assert_int_equal(fdpass_response_set_body(r, "leak?", 5), 0);
	fdpass_response_free(r);
}

static void test_response_getters(void **state)
{
	const char *name = "unset", *value = "unset", *reason = "unset";
	fdpass_response *r;
	size_t len = 5;

	(void)state;
	assert_int_equal(fdpass_response_new(&r, 302), 0);
	assert_int_equal(fdpass_response_add_header(r, "Location", "/there"), 0);
	assert_int_equal(fdpass_response_add_header(r, "X-Second", "two words"), 0);
	assert_int_equal(fdpass_response_add_header(r, "Location", "/again"), 0);
	assert_int_equal(fdpass_response_header_count(r), 3);

	assert_int_equal(fdpass_response_get_header(r, 0, &name, &value), 0);
	assert_string_equal(name, "Location");
	assert_string_equal(value, "/there");
	assert_int_equal(fdpass_response_get_header(r, 1, &name, &value), 0);
	assert_string_equal(name, "X-Second");
	assert_string_equal(value, "two words");
	assert_int_equal(fdpass_response_get_header(r, 2, &name, &value), 0);
	assert_string_equal(name, "Location");
	assert_string_equal(value, "/again");
	/* Either output may be NULL. */
	name = NULL;
	assert_int_equal(fdpass_response_get_header(r, 1, &name, NULL), 0);
	assert_string_equal(name, "X-Second");
	value = NULL;
	assert_int_equal(fdpass_response_get_header(r, 1, NULL, &value), 0);
	assert_string_equal(value, "two words");
	assert_int_equal(fdpass_response_get_header(r, 0, NULL, NULL), 0);
	/* Past the end. */
	assert_int_equal(fdpass_response_get_header(r, 3, &name, &value), -ERANGE);
	assert_int_equal(fdpass_response_get_header(r, 1000, &name, &value), -ERANGE);
	assert_int_equal(fdpass_response_get_header(r, (size_t)-1, &name, &value), -ERANGE);
	assert_int_equal(fdpass_response_get_header(NULL, 0, &name, &value), -EINVAL);

	assert_int_equal(fdpass_response_get_status(r, &reason), 302);
	assert_string_equal(reason, "Found");
	assert_int_equal(fdpass_response_get_status(NULL, &reason), -EINVAL);
	assert_int_equal(fdpass_response_header_count(NULL), 0);
	assert_null(fdpass_response_get_body(NULL, &len));
	assert_int_equal(len, 0);
	assert_null(fdpass_response_get_body(r, NULL));
	fdpass_response_free(r);

	/* An empty response. */
	assert_int_equal(fdpass_response_new(&r, 204), 0);
	assert_int_equal(fdpass_response_get_header(r, 0, &name, &value), -ERANGE);
	fdpass_response_free(r);
}

/* ======================================================================
 * 2. The registry
 * ====================================================================== */

/* A provider that records how it was called. */
struct record {
	int calls;
	int fd;
	const fdpass_response *resp;
	int status;
	size_t nfields;
	const void *body;
	const char *write; /* written to the client if not NULL */
	int ret;           /* returned */
};

static int record_provider(int client_fd, const fdpass_response *resp, void *context)
{
	struct record *rec = context;

	rec->calls++;
	rec->fd = client_fd;
	rec->resp = resp;
	rec->status = resp ? fdpass_response_get_status(resp, NULL) : -1;
	rec->nfields = resp ? fdpass_response_header_count(resp) : 99;
	rec->body = resp ? fdpass_response_get_body(resp, NULL) : "none";
	if (rec->write)
		assert_int_equal(fdpass_write_all(client_fd, rec->write, strlen(rec->write), 1000),
				 0);
	return rec->ret;
}

static int other_provider(int client_fd, const fdpass_response *resp, void *context)
{
	(void)client_fd;
	(void)resp;
	(void)context;
	return -EPROTO;
}

/* The registry holds the built-ins only. */
static void assert_registry_pristine(void)
{
	char buf[64];

	assert_int_equal(fdpass_flusher_list(buf, sizeof(buf)), 11);
	assert_memory_equal(buf, "flush\0none\0", 11);
}

static void test_registry_basics(void **state)
{
	static const char name[] = "test.rec-1";
	struct record rec, rec2;
	fdpass_flusher_fn fn;
	fdpass_response *resp;
	void *ctx;
	int sv[2];
	char buf[16];

	(void)state;
	assert_registry_pristine();
	memset(&rec, 0, sizeof(rec));
	memset(&rec2, 0, sizeof(rec2));
	tl_socketpair(SOCK_STREAM, sv);

	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), -ENOENT);
	assert_int_equal(fdpass_flusher_register(name, record_provider, &rec), 0);
	fn = NULL;
	ctx = NULL;
	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), 0);
	assert_ptr_equal(fn, record_provider);
	assert_ptr_equal(ctx, &rec);
	assert_int_equal(fdpass_flusher_lookup(name, NULL, NULL), 0);
	fn = NULL;
	assert_int_equal(fdpass_flusher_lookup(name, &fn, NULL), 0);
	assert_ptr_equal(fn, record_provider);

	/* NULL resp: the provider gets a 200 without fields, never NULL. */
	assert_int_equal(fdpass_flusher_run(name, sv[0], NULL), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(rec.fd, sv[0]);
	assert_non_null(rec.resp);
	assert_int_equal(rec.status, 200);
	assert_int_equal(rec.nfields, 0);
	assert_null(rec.body);
	assert_no_data(sv[1]);

	/* A response of ours is passed as it is; the return value comes back. */
	assert_int_equal(fdpass_response_new(&resp, 404), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-A", "b"), 0);
	rec.ret = -EXDEV;
	rec.write = "provider bytes";
	assert_int_equal(fdpass_flusher_run(name, sv[0], resp), -EXDEV);
	assert_int_equal(rec.calls, 2);
	assert_ptr_equal(rec.resp, resp);
	assert_int_equal(rec.status, 404);
	assert_int_equal(rec.nfields, 1);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 14);
	assert_memory_equal(buf, "provider bytes", 14);
	rec.ret = 0;
	rec.write = NULL;

	/* Taken: -EEXIST, and the first registration stays. */
	assert_int_equal(fdpass_flusher_register(name, other_provider, &rec2), -EEXIST);
	assert_int_equal(fdpass_flusher_register(name, record_provider, &rec), -EEXIST);
	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), 0);
	assert_ptr_equal(fn, record_provider);
	assert_ptr_equal(ctx, &rec);
	assert_int_equal(fdpass_flusher_run(name, sv[0], resp), 0);
	assert_int_equal(rec.calls, 3);
	assert_int_equal(rec2.calls, 0);

	/* The built-ins: neither replaced nor removed. */
	assert_int_equal(fdpass_flusher_register("flush", record_provider, &rec2), -EPERM);
	assert_int_equal(fdpass_flusher_register("none", record_provider, &rec2), -EPERM);
	assert_int_equal(fdpass_flusher_unregister("flush"), -EPERM);
	assert_int_equal(fdpass_flusher_unregister("none"), -EPERM);
	fn = NULL;
	assert_int_equal(fdpass_flusher_lookup("flush", &fn, NULL), 0);
	assert_non_null(fn);
	assert_ptr_not_equal(fn, record_provider);
	fn = NULL;
	assert_int_equal(fdpass_flusher_lookup("none", &fn, NULL), 0);
	assert_non_null(fn);
	assert_ptr_not_equal(fn, record_provider);
	assert_int_equal(fdpass_flusher_run("none", sv[0], resp), 0);
	assert_int_equal(rec2.calls, 0);
	assert_no_data(sv[1]);

	/* Unregistered: gone everywhere, and nothing is written by a run. */
	assert_int_equal(fdpass_flusher_unregister(name), 0);
	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), -ENOENT);
	assert_int_equal(fdpass_flusher_run(name, sv[0], resp), -ENOENT);
	assert_int_equal(fdpass_flusher_run(name, sv[0], NULL), -ENOENT);
	assert_int_equal(rec.calls, 3);
	assert_no_data(sv[1]);
	assert_int_equal(fdpass_flusher_unregister(name), -ENOENT);

	/* ... and the name can be taken again, by another provider. */
	assert_int_equal(fdpass_flusher_register(name, other_provider, &rec2), 0);
	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), 0);
	assert_ptr_equal(fn, other_provider);
	assert_ptr_equal(ctx, &rec2);
	assert_int_equal(fdpass_flusher_run(name, sv[0], NULL), -EPROTO);
	assert_int_equal(fdpass_flusher_unregister(name), 0);

	/* A NULL context is a context. */
	assert_int_equal(fdpass_flusher_register(name, other_provider, NULL), 0);
	ctx = &rec;
	assert_int_equal(fdpass_flusher_lookup(name, &fn, &ctx), 0);
	assert_null(ctx);
	assert_int_equal(fdpass_flusher_unregister(name), 0);

	fdpass_response_free(resp);
	close(sv[0]);
	close(sv[1]);
	assert_registry_pristine();
}

static void test_registry_names(void **state)
{
	static const char *const bad[] = {
		"", "a b", " x", "x ", "a/b", "a:b", "a+b", "a@b", "a*", "a\tb", "a\nb",
		"a\r\nb", "caf\xc3\xa9", "\xc3\xa9", "a,b", "a;b", "a=b", "a~b", "a\x7f",
	};
	char max[FDPASS_FLUSHER_NAME_MAX + 1], over[FDPASS_FLUSHER_NAME_MAX + 2];
	char list[256];
	struct record rec;
	fdpass_flusher_fn fn;
	ssize_t n;
	size_t i;
	int sv[2];

	(void)state;
	memset(&rec, 0, sizeof(rec));
	tl_socketpair(SOCK_STREAM, sv);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		assert_int_equal(fdpass_flusher_register(bad[i], record_provider, &rec), -EINVAL);
		assert_int_equal(fdpass_flusher_unregister(bad[i]), -EINVAL);
		assert_int_equal(fdpass_flusher_lookup(bad[i], &fn, NULL), -EINVAL);
		/* The header names -ENOENT for an unknown name; -EINVAL says more. */
		r = fdpass_flusher_run(bad[i], sv[0], NULL);
		if (r != -EINVAL && r != -ENOENT)
			fail_msg("run(bad name #%zu): %d", i, r);
		assert_no_data(sv[1]);
	}
	assert_int_equal(fdpass_flusher_register(NULL, record_provider, &rec), -EINVAL);
	assert_int_equal(fdpass_flusher_unregister(NULL), -EINVAL);
	assert_int_equal(rec.calls, 0);

	/* A NULL fn. */
	assert_int_equal(fdpass_flusher_register("no-fn", NULL, &rec), -EINVAL);
	assert_int_equal(fdpass_flusher_lookup("no-fn", &fn, NULL), -ENOENT);

	/* FDPASS_FLUSHER_NAME_MAX characters work, one more does not. */
	memset(max, 'm', FDPASS_FLUSHER_NAME_MAX);
	max[FDPASS_FLUSHER_NAME_MAX] = '\0';
	memset(over, 'm', FDPASS_FLUSHER_NAME_MAX + 1);
	over[FDPASS_FLUSHER_NAME_MAX + 1] = '\0';
	assert_int_equal(fdpass_flusher_register(over, record_provider, &rec), -EINVAL);
	assert_int_equal(fdpass_flusher_lookup(over, &fn, NULL), -EINVAL);
	assert_int_equal(fdpass_flusher_unregister(over), -EINVAL);
	assert_int_equal(fdpass_flusher_register(max, record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_lookup(max, &fn, NULL), 0);
	assert_ptr_equal(fn, record_provider);
	assert_int_equal(fdpass_flusher_run(max, sv[0], NULL), 0);
	assert_int_equal(rec.calls, 1);
	/* The longer name is not confused with the registered prefix. */
	assert_int_equal(fdpass_flusher_run(over, sv[0], NULL) < 0, 1);
	assert_int_equal(rec.calls, 1);
	n = fdpass_flusher_list(list, sizeof(list));
	assert_int_equal(n, 11 + FDPASS_FLUSHER_NAME_MAX + 1);
	assert_memory_equal(list + 11, max, FDPASS_FLUSHER_NAME_MAX + 1);

	/* Every allowed character, and one-character names. */
	assert_int_equal(fdpass_flusher_register(
		"abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789-",
		record_provider, &rec), -EINVAL); /* 65 characters */
	assert_int_equal(fdpass_flusher_register(
		"abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ_012345678-",
		record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_unregister(
		"abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ_012345678-"), 0);
	assert_int_equal(fdpass_flusher_register("-", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_register(".", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_register("_", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_register("9", record_provider, &rec), 0);
	/* Names are case-sensitive: "Flush" is not the built-in. */
	assert_int_equal(fdpass_flusher_register("Flush", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_run("Flush", sv[0], NULL), 0);
	assert_int_equal(rec.calls, 2);
	assert_no_data(sv[1]);
	assert_int_equal(fdpass_flusher_unregister("Flush"), 0);
	assert_int_equal(fdpass_flusher_unregister("-"), 0);
	assert_int_equal(fdpass_flusher_unregister("."), 0);
	assert_int_equal(fdpass_flusher_unregister("_"), 0);
	assert_int_equal(fdpass_flusher_unregister("9"), 0);
	assert_int_equal(fdpass_flusher_unregister(max), 0);

	close(sv[0]);
	close(sv[1]);
	assert_registry_pristine();
}

static void test_registry_unknown_writes_nothing(void **state)
{
	fdpass_response *resp;
	fdpass_flusher_fn fn = other_provider;
	void *ctx = &fn;
	int sv[2];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, "body", 4), 0);
	assert_int_equal(fdpass_flusher_run("no-such-flusher", sv[0], NULL), -ENOENT);
	assert_int_equal(fdpass_flusher_run("no-such-flusher", sv[0], resp), -ENOENT);
	assert_int_equal(fdpass_flusher_run("flushh", sv[0], resp), -ENOENT);
	assert_int_equal(fdpass_flusher_run("flus", sv[0], resp), -ENOENT);
	assert_int_equal(fdpass_flusher_run("FLUSH", sv[0], resp), -ENOENT);
	assert_no_data(sv[1]);
	assert_int_equal(fdpass_flusher_lookup("no-such-flusher", &fn, &ctx), -ENOENT);
	assert_int_equal(fdpass_flusher_unregister("no-such-flusher"), -ENOENT);
	/* Still nothing at all, even after the writer is closed. */
	close(sv[0]);
	assert_int_equal(read(sv[1], &fn, 1), 0);
	close(sv[1]);
	fdpass_response_free(resp);
}

static void test_registry_null_means_flush(void **state)
{
	fdpass_flusher_fn fn_null = NULL, fn_flush = NULL;
	void *ctx_null = &fn_null, *ctx_flush = &fn_flush;
	size_t len;
	char *out;
	int ret;

	(void)state;
	assert_int_equal(fdpass_flusher_lookup(NULL, &fn_null, &ctx_null), 0);
	assert_int_equal(fdpass_flusher_lookup(FDPASS_FLUSHER_DEFAULT, &fn_flush, &ctx_flush), 0);
	assert_non_null(fn_null);
	assert_ptr_equal(fn_null, fn_flush);
	assert_ptr_equal(ctx_null, ctx_flush);

	out = flush_to_string(NULL, NULL, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", NULL, 0);
	free(out);
}

static void test_flusher_list(void **state)
{
	static const char full[] = "flush\0none\0l-one\0l.two\0L_3\0";
	static const char reordered[] = "flush\0none\0l.two\0L_3\0l-one\0";
	const size_t n = sizeof(full) - 1; /* 27 */
	char buf[64];
	size_t size, i;
	ssize_t r;

	(void)state;
	assert_int_equal(fdpass_flusher_list(NULL, 0), 11);
	assert_int_equal(fdpass_flusher_list(NULL, 1), -EINVAL);
	assert_int_equal(fdpass_flusher_list(NULL, 100), -EINVAL);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(fdpass_flusher_list(buf, 0), 11);
	assert_int_equal((unsigned char)buf[0], 0xa5); /* size 0: nothing written */
	assert_registry_pristine();

	assert_int_equal(fdpass_flusher_register("l-one", other_provider, NULL), 0);
	assert_int_equal(fdpass_flusher_register("l.two", other_provider, NULL), 0);
	assert_int_equal(fdpass_flusher_register("L_3", other_provider, NULL), 0);
	assert_int_equal(fdpass_flusher_list(NULL, 0), n);

	/* Exactly the size it takes, and more: nothing beyond the list. */
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(fdpass_flusher_list(buf, n), n);
	assert_memory_equal(buf, full, n);
	assert_int_equal((unsigned char)buf[n], 0xa5);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(fdpass_flusher_list(buf, sizeof(buf)), n);
	assert_memory_equal(buf, full, n);
	for (i = n; i < sizeof(buf); i++)
		assert_int_equal((unsigned char)buf[i], 0xa5);

	/*
	 * Too small: the full size is returned, nothing is written at or past
	 * buf[size], and what is written agrees with the list. (As built, only
	 * the names that fit whole are written; the header does not say.)
	 */
	for (size = 1; size < n; size++) {
		memset(buf, 0xa5, sizeof(buf));
		r = fdpass_flusher_list(buf, size);
		assert_int_equal(r, n);
		for (i = 0; i < sizeof(buf); i++) {
			unsigned char c = (unsigned char)buf[i];

			if (i >= size && c != 0xa5)
				fail_msg("size %zu: byte %zu written", size, i);
			if (i < size && c != 0xa5 && c != (unsigned char)full[i])
				fail_msg("size %zu: byte %zu is 0x%02x", size, i, c);
		}
	}

	/* Registration order: a name registered again goes last. */
	assert_int_equal(fdpass_flusher_unregister("l-one"), 0);
	assert_int_equal(fdpass_flusher_list(buf, sizeof(buf)), n - 6);
	assert_memory_equal(buf, "flush\0none\0l.two\0L_3\0", n - 6);
	assert_int_equal(fdpass_flusher_register("l-one", other_provider, NULL), 0);
	assert_int_equal(fdpass_flusher_list(buf, sizeof(buf)), n);
	assert_memory_equal(buf, reordered, n);

	assert_int_equal(fdpass_flusher_unregister("l.two"), 0);
	assert_int_equal(fdpass_flusher_unregister("L_3"), 0);
	assert_int_equal(fdpass_flusher_unregister("l-one"), 0);
	assert_registry_pristine();
}

/* A provider that unregisters itself, optionally from a nested run of itself. */
struct selfish {
	const char *name;
	int calls;
	int depth;
	int nest;            /* run itself once more before unregistering */
	int unregister_ret;
	int lookup_after;
	int nested_flush;    /* result of running "flush" from inside */
	int nested_register; /* result of registering a provider from inside */
};

static int selfish_provider(int client_fd, const fdpass_response *resp, void *context)
{
	struct selfish *s = context;
	int r = 0;

	s->calls++;
	if (s->nest && s->depth == 0) {
		s->depth++;
		r = fdpass_flusher_run(s->name, client_fd, resp); /* unregisters */
		s->depth--;
		/* Still running: our own context and code stay usable. */
		return r;
	}
	/* No lock is held: other registry calls work from inside. */
	s->nested_flush = fdpass_flusher_run("none", client_fd, resp);
	s->nested_register = fdpass_flusher_register("selfish.inner", other_provider, NULL);
	s->unregister_ret = fdpass_flusher_unregister(s->name);
	s->lookup_after = fdpass_flusher_lookup(s->name, NULL, NULL);
	return fdpass_write_all(client_fd, "S", 1, 1000);
}

static void test_provider_unregisters_itself(void **state)
{
	struct selfish s;
	int sv[2], round;
	char c;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	for (round = 0; round < 4; round++) {
		memset(&s, 0, sizeof(s));
		s.name = "selfish";
		s.nest = round >= 2; /* rounds 2, 3: from a nested run of itself */
		assert_int_equal(fdpass_flusher_register("selfish", selfish_provider, &s), 0);
		assert_int_equal(fdpass_flusher_run("selfish", sv[0], NULL), 0);
		assert_int_equal(s.calls, s.nest ? 2 : 1);
		assert_int_equal(s.unregister_ret, 0);
		assert_int_equal(s.lookup_after, -ENOENT);
		assert_int_equal(s.nested_flush, 0);
		assert_int_equal(s.nested_register, 0);
		assert_int_equal(fdpass_flusher_unregister("selfish.inner"), 0);
		assert_int_equal(read(sv[1], &c, 1), 1);
		assert_int_equal(c, 'S');
		assert_no_data(sv[1]);
		/* Gone after the run; the name is free again (next round). */
		assert_int_equal(fdpass_flusher_lookup("selfish", NULL, NULL), -ENOENT);
		assert_int_equal(fdpass_flusher_run("selfish", sv[0], NULL), -ENOENT);
		assert_int_equal(fdpass_flusher_unregister("selfish"), -ENOENT);
	}
	close(sv[0]);
	close(sv[1]);
	assert_registry_pristine();
}

/* ======================================================================
 * 3. Threads
 * ====================================================================== */

#define MAGIC_ALIVE 0x5eed1e55u
#define MAGIC_DEAD  0xdeadbeefu

/* A run that takes 200 ms, to be caught in the middle. */
struct slow {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;   /* runs that began */
	int finished;  /* runs that ended */
	unsigned magic;
	int violations;
	int unregister_ret; /* from a run that unregistered itself */
};

static void slow_init(struct slow *s)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(pthread_mutex_init(&s->mu, NULL), 0);
	assert_int_equal(pthread_cond_init(&s->cv, NULL), 0);
	s->magic = MAGIC_ALIVE;
}

static void slow_destroy(struct slow *s)
{
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
}

/* Wait (at most 5 s) until n runs have begun. */
static int slow_wait_entered(struct slow *s, int n)
{
	struct timespec until;
	int ok;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&s->mu);
	while (s->entered < n)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
			break;
	ok = s->entered >= n;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static int slow_provider(int client_fd, const fdpass_response *resp, void *context)
{
	struct slow *s = context;
	int first;

	(void)client_fd;
	(void)resp;
	pthread_mutex_lock(&s->mu);
	first = s->entered++ == 0;
	if (s->magic != MAGIC_ALIVE)
		s->violations++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	if (first) {
		usleep(200 * 1000);
	} else {
		/* The second run unregisters: it must wait for the first. */
		int r = fdpass_flusher_unregister("slow.self");

		pthread_mutex_lock(&s->mu);
		s->unregister_ret = r;
		if (s->finished != 1)
			s->violations++;
		pthread_mutex_unlock(&s->mu);
	}
	pthread_mutex_lock(&s->mu);
	if (s->magic != MAGIC_ALIVE)
		s->violations++;
	s->finished++;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

struct runner {
	pthread_t thread;
	const char *name;
	int fd;
	int ret;
};

static void *runner_thread(void *arg)
{
	struct runner *r = arg;

	r->ret = fdpass_flusher_run(r->name, r->fd, NULL);
	return NULL;
}

/*
 * Child process (the library's failure would be a crash): a run on another
 * thread is under way; fdpass_flusher_unregister() must return only after it
 * has ended, and then the caller frees the context.
 */
static int child_unregister_waits(void *arg)
{
	struct runner run = { .name = "slow.other", .fd = -1, .ret = 1 };
	struct slow *s = malloc(sizeof(*s));
	long long t0, elapsed;
	int r, fin;

	(void)arg;
	default_fatal_signals();
	arm_watchdog(20, "fdpass_flusher_unregister() still waiting after 20 s\n");
	TL_CHILD_CHECK(s != NULL);
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->magic = MAGIC_ALIVE;
	TL_CHILD_CHECK(fdpass_flusher_register("slow.other", slow_provider, s) == 0);
	TL_CHILD_CHECK(pthread_create(&run.thread, NULL, runner_thread, &run) == 0);
	TL_CHILD_CHECK(slow_wait_entered(s, 1));
	t0 = tl_now_ms();
	r = fdpass_flusher_unregister("slow.other");
	elapsed = tl_now_ms() - t0;
	pthread_mutex_lock(&s->mu);
	fin = s->finished;
	pthread_mutex_unlock(&s->mu);
	if (r != 0)
		TL_CHILD_FAIL("unregister: %d", r);
	if (fin != 1)
		TL_CHILD_FAIL("unregister returned while the run was under way");
	if (elapsed < 50)
		TL_CHILD_FAIL("unregister returned after %lld ms only", elapsed);
	s->magic = MAGIC_DEAD;
	pthread_join(run.thread, NULL);
	TL_CHILD_CHECK(run.ret == 0);
	TL_CHILD_CHECK(!s->violations);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
	TL_CHILD_CHECK(fdpass_flusher_lookup("slow.other", NULL, NULL) == -ENOENT);
	TL_CHILD_CHECK(fdpass_flusher_register("slow.other", other_provider, NULL) == 0 &&
		       fdpass_flusher_unregister("slow.other") == 0);
	return 0;
}

static void test_unregister_waits_for_other_thread(void **state)
{
	(void)state;
	/*
	 * In a child: a provider freed both by the run's release and by the
	 * waiting fdpass_flusher_unregister() would be used after free, then
	 * freed twice, which aborts.
	 */
	tl_wait_child(tl_fork(child_unregister_waits, NULL));
	assert_registry_pristine();
}

/*
 * A run unregisters its own provider while another thread runs it too: the
 * unregistration waits for the other run (not for its own), and the provider
 * is freed by the last run to end.
 */
static void test_self_unregister_with_other_thread(void **state)
{
	struct runner run = { .name = "slow.self", .fd = -1, .ret = 1 };
	struct slow s;

	(void)state;
	slow_init(&s);
	assert_int_equal(fdpass_flusher_register("slow.self", slow_provider, &s), 0);
	assert_int_equal(pthread_create(&run.thread, NULL, runner_thread, &run), 0);
	assert_true(slow_wait_entered(&s, 1));
	/* The second run: unregisters, so waits for the first one to end. */
	assert_int_equal(fdpass_flusher_run("slow.self", -1, NULL), 0);
	assert_int_equal(pthread_join(run.thread, NULL), 0);
	assert_int_equal(run.ret, 0);
	assert_int_equal(s.unregister_ret, 0);
	assert_int_equal(s.entered, 2);
	assert_int_equal(s.finished, 2);
	assert_int_equal(s.violations, 0);
	assert_int_equal(fdpass_flusher_lookup("slow.self", NULL, NULL), -ENOENT);
	s.magic = MAGIC_DEAD;
	slow_destroy(&s);
	assert_registry_pristine();
}

/*
 * The stress test: 8 workers look up and run "flush" and the victims
 * "stress-0".."stress-7" on their own socketpairs while a registrar
 * registers the victims (and "stress-extra" after them), unregisters them
 * and frees each victim's context as soon as its unregistration returns.
 * What must never happen: a run with a freed context (the provider checks a
 * magic value at both ends), a run of another provider than the one named
 * (each victim returns its own code), any other result than that code or
 * -ENOENT, a registry call that never returns, a crash.
 */

#define STRESS_WORKERS 8
#define STRESS_VICTIMS 8
#define STRESS_MS      2000
/* and at least this many registrar cycles, however slow the machine, within the cap */
#define STRESS_MIN_CYCLES 5
#define STRESS_CAP_MS  40000
#define STRESS_RET(i)  (-1000 - (i)) /* what victim i returns */

struct stress_ctx {
	unsigned magic;
	int id;
};

static const char *const stress_names[STRESS_VICTIMS] = {
	"stress-0", "stress-1", "stress-2", "stress-3",
	"stress-4", "stress-5", "stress-6", "stress-7",
};

static struct {
	pthread_mutex_t mu;
	long long end_ms;
	int done; /* the registrar has finished: the workers stop */
	const fdpass_response *resp;
	long violations, wrong, unexpected;
	long custom_ok, custom_enoent, flush_ok, lookup_found, cycles, drained;
} stress = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void stress_add(long *counter, long n)
{
	pthread_mutex_lock(&stress.mu);
	*counter += n;
	pthread_mutex_unlock(&stress.mu);
}

static int stress_done(void)
{
	int done;

	pthread_mutex_lock(&stress.mu);
	done = stress.done;
	pthread_mutex_unlock(&stress.mu);
	return done;
}

static void stress_unexpected(const char *what, int r)
{
	fprintf(stderr, "stress: %s: %d\n", what, r);
	stress_add(&stress.unexpected, 1);
}

/* The context must be alive for the whole run: checked at both ends. */
static int stress_provider(int client_fd, const fdpass_response *resp, void *context)
{
	const struct stress_ctx *c = context;
	int bad = c->magic != MAGIC_ALIVE || !resp, id = c->id;

	(void)!send(client_fd, "s", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	sched_yield();
	bad |= c->magic != MAGIC_ALIVE;
	if (bad)
		stress_add(&stress.violations, 1);
	return STRESS_RET(id);
}

/* Registered after the victims, never run by name. */
static int stress_extra_provider(int client_fd, const fdpass_response *resp, void *context)
{
	(void)client_fd;
	(void)resp;
	(void)context;
	return -EXDEV;
}

static void *stress_worker(void *arg)
{
	long ok = 0, enoent = 0, flushed = 0, found = 0, drained = 0, wrong = 0;
	unsigned i;
	int sv[2], v;

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		stress_unexpected("socketpair", -errno);
		return NULL;
	}
	for (i = 0; !stress_done(); i++) {
		fdpass_flusher_fn fn = NULL;
		void *ctx = &fn;
		char buf[4096];
		ssize_t n;
		int r;

		r = fdpass_flusher_lookup(NULL, &fn, &ctx);
		if (r != 0 || !fn || ctx)
			stress_unexpected("lookup(NULL)", r);
		r = fdpass_flusher_lookup(stress_names[i % STRESS_VICTIMS], &fn, NULL);
		if (r == 0 && fn == stress_provider)
			found++;
		else if (r != -ENOENT)
			stress_unexpected("lookup(stress-N)", r);
		r = fdpass_flusher_run("flush", sv[0], i % 2 ? stress.resp : NULL);
		if (r == 0)
			flushed++;
		else
			stress_unexpected("run(flush)", r);
		for (v = 0; v < STRESS_VICTIMS; v++) {
			r = fdpass_flusher_run(stress_names[v], sv[0], i % 3 ? NULL : stress.resp);
			if (r == STRESS_RET(v)) {
				ok++;
			} else if (r == -ENOENT) {
				enoent++;
			} else if (r == -EXDEV || (r <= STRESS_RET(0) &&
						    r > STRESS_RET(STRESS_VICTIMS))) {
				if (wrong++ == 0)
					fprintf(stderr, "stress: run(\"%s\") ran another provider "
						"(it returned %d)\n", stress_names[v], r);
			} else {
				stress_unexpected("run(stress-N)", r);
			}
		}
		while ((n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			drained += n;
		sched_yield(); /* let the registrar in */
	}
	close(sv[0]);
	close(sv[1]);
	pthread_mutex_lock(&stress.mu);
	stress.custom_ok += ok;
	stress.custom_enoent += enoent;
	stress.flush_ok += flushed;
	stress.lookup_found += found;
	stress.drained += drained;
	stress.wrong += wrong;
	pthread_mutex_unlock(&stress.mu);
	return NULL;
}

static const char stress_list[] = "flush\0none\0stress-0\0stress-1\0stress-2\0stress-3\0"
				  "stress-4\0stress-5\0stress-6\0stress-7\0stress-extra";

static void *stress_registrar(void *arg)
{
	struct stress_ctx *c[STRESS_VICTIMS];
	unsigned seed = 1;
	long cycles = 0;
	char list[256];
	int k, v;

	(void)arg;
	while (tl_now_ms() < stress.end_ms ||
	       (cycles < STRESS_MIN_CYCLES &&
		tl_now_ms() < stress.end_ms - STRESS_MS + STRESS_CAP_MS)) {
		ssize_t n;
		int r;

		for (v = 0; v < STRESS_VICTIMS; v++) {
			c[v] = malloc(sizeof(*c[v]));
			if (!c[v])
				abort();
			c[v]->magic = MAGIC_ALIVE;
			c[v]->id = v;
			r = fdpass_flusher_register(stress_names[v], stress_provider, c[v]);
			if (r != 0)
				stress_unexpected("register(stress-N)", r);
		}
		r = fdpass_flusher_register("stress-extra", stress_extra_provider, NULL);
		if (r != 0)
			stress_unexpected("register(stress-extra)", r);
		n = fdpass_flusher_list(list, sizeof(list));
		if (n != (ssize_t)sizeof(stress_list) || memcmp(list, stress_list, (size_t)n))
			stress_unexpected("list", (int)n);
		for (k = rand_r(&seed) % 8; k >= 0; k--)
			sched_yield();
		for (v = 0; v < STRESS_VICTIMS; v++) {
			r = fdpass_flusher_unregister(stress_names[v]);
			if (r != 0)
				stress_unexpected("unregister(stress-N)", r);
			/* From here on no run may touch the context. */
			c[v]->magic = MAGIC_DEAD;
			free(c[v]);
			r = fdpass_flusher_lookup(stress_names[v], NULL, NULL);
			if (r != -ENOENT)
				stress_unexpected("lookup after unregister", r);
		}
		r = fdpass_flusher_unregister("stress-extra");
		if (r != 0)
			stress_unexpected("unregister(stress-extra)", r);
		sched_yield();
		cycles++;
	}
	stress_add(&stress.cycles, cycles);
	pthread_mutex_lock(&stress.mu);
	stress.done = 1;
	pthread_mutex_unlock(&stress.mu);
	return NULL;
}

/* Child process: returns 0 if all went well. */
static int child_stress(void *arg)
{
	pthread_t workers[STRESS_WORKERS], registrar;
	fdpass_response *resp;
	struct timespec until;
	int i, rc = 0;

	(void)arg;
	default_fatal_signals();
	arm_watchdog(60, "stress: still running after 60 s\n");
	if (fdpass_response_new(&resp, 200) || fdpass_response_add_header(resp, "X-T", "1") ||
	    fdpass_response_set_body(resp, "body", 4))
		TL_CHILD_FAIL("building the response failed");
	stress.resp = resp;
	stress.end_ms = tl_now_ms() + STRESS_MS;
	for (i = 0; i < STRESS_WORKERS; i++)
		TL_CHILD_CHECK(pthread_create(&workers[i], NULL, stress_worker, NULL) == 0);
	TL_CHILD_CHECK(pthread_create(&registrar, NULL, stress_registrar, NULL) == 0);
	for (i = 0; i < STRESS_WORKERS; i++)
		pthread_join(workers[i], NULL);
	/* The workers are done: the registrar's calls have nothing to wait for. */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	if (pthread_timedjoin_np(registrar, NULL, &until) != 0)
		TL_CHILD_FAIL("stress: the registrar is stuck 10 s after the workers ended "
			      "(fdpass_flusher_unregister never returns: a run count is wrong)");
	fdpass_response_free(resp);

	/*
	 * Read the counters under their lock: helgrind does not take
	 * pthread_timedjoin_np() for the ordering it is.
	 */
	pthread_mutex_lock(&stress.mu);
	fprintf(stderr,
		"stress: %ld cycles, victim runs %ld ok / %ld -ENOENT, %ld flushes, "
		"%ld lookups found, %ld bytes drained, %ld runs with a freed context, "
		"%ld runs of the wrong provider, %ld unexpected\n",
		stress.cycles, stress.custom_ok, stress.custom_enoent, stress.flush_ok,
		stress.lookup_found, stress.drained, stress.violations, stress.wrong,
		stress.unexpected);
	if (stress.violations)
		rc = tl_child_failed(__FILE__, __LINE__, "stress: a provider ran with a freed context");
	else if (stress.wrong)
		rc = tl_child_failed(__FILE__, __LINE__, "stress: run(name) ran another provider");
	else if (stress.unexpected)
		rc = tl_child_failed(__FILE__, __LINE__, "stress: unexpected results");
	else if (!stress.cycles || !stress.custom_ok || !stress.custom_enoent || !stress.flush_ok)
		rc = tl_child_failed(__FILE__, __LINE__, "stress: the race was not exercised");
	pthread_mutex_unlock(&stress.mu);
	if (rc)
		return rc;
	TL_CHILD_CHECK(fdpass_flusher_list(NULL, 0) == 11);
	return 0;
}

static void test_threads_stress(void **state)
{
	(void)state;
	/* In a child process, so that a crash in the library fails this test only. */
	tl_wait_child(tl_fork(child_stress, NULL));
}

/* ======================================================================
 * 4. The bytes "flush" and "none" write
 * ====================================================================== */

static void test_flush_default_bytes(void **state)
{
	fdpass_response *resp;
	size_t len;
	char *out;
	int ret, p[2];

	(void)state;
	out = flush_to_string("flush", NULL, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", NULL, 0);
	free(out);

	/* A fresh 200 response: the same. */
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", NULL, 0);
	free(out);

	/* To a pipe, not a socket. */
	tl_pipe(p);
	assert_int_equal(fdpass_flusher_run("flush", p[1], resp), 0);
	close(p[1]);
	out = tl_read_all(p[0], &len, 10000);
	close(p[0]);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", NULL, 0);
	free(out);

	/* A bad fd: an error, not a crash. */
	assert_int_equal(fdpass_flusher_run("flush", -1, resp), -EBADF);
	fdpass_response_free(resp);
}

static void test_flush_status_headers_body(void **state)
{
	static const char body[] = "hello\0world\r\n\r\nmore";
	fdpass_response *resp;
	size_t len;
	char *out;
	int ret;

	(void)state;
	assert_int_equal(fdpass_response_new(&resp, 404), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 404 Not Found\r\n", "", NULL, 0);
	free(out);

	assert_int_equal(fdpass_response_set_status(resp, 299, "Very Custom\tReason"), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 299 Very Custom\tReason\r\n", "", NULL, 0);
	free(out);

	assert_int_equal(fdpass_response_set_status(resp, 100, NULL), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 100 Continue\r\n", "", NULL, 0);
	free(out);

	assert_int_equal(fdpass_response_set_status(resp, 599, NULL), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 599 Unknown\r\n", "", NULL, 0);
	free(out);

	/* Header fields, in the order added, duplicates kept. */
	assert_int_equal(fdpass_response_set_status(resp, 201, "Made"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Content-Type", "text/plain; charset=utf-8"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Set-Cookie", "a=b"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-Empty", ""), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Set-Cookie", "c=d; Path=/"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "x-tab", "a\tb"), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 201 Made\r\n",
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Set-Cookie: a=b\r\n"
		     "X-Empty: \r\n"
		     "Set-Cookie: c=d; Path=/\r\n"
		     "x-tab: a\tb\r\n",
		     NULL, 0);
	free(out);

	/* The start of the body, NULs and blank lines included, right after. */
	assert_int_equal(fdpass_response_set_body(resp, body, sizeof(body) - 1), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 201 Made\r\n",
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "Set-Cookie: a=b\r\n"
		     "X-Empty: \r\n"
		     "Set-Cookie: c=d; Path=/\r\n"
		     "x-tab: a\tb\r\n",
		     body, sizeof(body) - 1);
	free(out);

	/* Removed again: nothing after the blank line. */
	assert_int_equal(fdpass_response_set_body(resp, NULL, 0), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	assert_true(len > 4);
	assert_memory_equal(out + len - 4, "\r\n\r\n", 4);
	free(out);
	fdpass_response_free(resp);

	/* A body without fields. */
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, "x", 1), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", "x", 1);
	free(out);
	fdpass_response_free(resp);
}

static void test_flush_own_date(void **state)
{
	static const char expected[] =
		"HTTP/1.1 200 OK\r\n"
		"X-Before: 1\r\n"
		"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
		"X-After: 2\r\n"
		"Connection: close\r\n\r\n"
		"body";
	static const char expected_lower[] =
		"HTTP/1.1 200 OK\r\n"
		"date: Tue, 15 Nov 1994 08:12:31 GMT\r\n"
		"Connection: close\r\n\r\n";
	fdpass_response *resp;
	size_t len;
	char *out;
	int ret;

	(void)state;
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-Before", "1"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Date", "Sun, 06 Nov 1994 08:49:37 GMT"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-After", "2"), 0);
	assert_int_equal(fdpass_response_set_body(resp, "body", 4), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	assert_int_equal(len, sizeof(expected) - 1);
	assert_memory_equal(out, expected, len);
	free(out);
	fdpass_response_free(resp);

	/* Field names are case-insensitive: "date" is a Date. */
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_add_header(resp, "date", "Tue, 15 Nov 1994 08:12:31 GMT"), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	assert_int_equal(len, sizeof(expected_lower) - 1);
	assert_memory_equal(out, expected_lower, len);
	free(out);
	fdpass_response_free(resp);
}

static void test_flush_refuses_connection_field(void **state)
{
	static const char *const names[] = { "Connection", "connection", "CONNECTION", "cOnNeCtIoN" };
	static const char *const values[] = { "keep-alive", "close", "Upgrade", "" };
	fdpass_response *resp;
	size_t i, len;
	char *out;
	int ret;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(fdpass_response_new(&resp, 200), 0);
		assert_int_equal(fdpass_response_add_header(resp, "X-First", "1"), 0);
		assert_int_equal(fdpass_response_add_header(resp, names[i], values[i]), 0);
		assert_int_equal(fdpass_response_set_body(resp, "body", 4), 0);
		out = flush_to_string("flush", resp, &ret, &len);
		assert_int_equal(ret, -EINVAL);
		assert_int_equal(len, 0); /* not a byte */
		free(out);
		/* "none" does not care. */
		out = flush_to_string("none", resp, &ret, &len);
		assert_int_equal(ret, 0);
		assert_int_equal(len, 0);
		free(out);
		fdpass_response_free(resp);
	}
	/* Names that merely contain it are other fields. */
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Proxy-Connection", "x"), 0);
	assert_int_equal(fdpass_response_add_header(resp, "Connections", "y"), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "Proxy-Connection: x\r\nConnections: y\r\n",
		     NULL, 0);
	free(out);
	fdpass_response_free(resp);
}

static void test_none_writes_nothing(void **state)
{
	fdpass_response *resp;
	size_t len;
	char *out;
	int ret;

	(void)state;
	out = flush_to_string("none", NULL, &ret, &len);
	assert_int_equal(ret, 0);
	assert_int_equal(len, 0);
	free(out);
	assert_int_equal(fdpass_response_new(&resp, 500), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-A", "b"), 0);
	assert_int_equal(fdpass_response_set_body(resp, "body", 4), 0);
	out = flush_to_string("none", resp, &ret, &len);
	assert_int_equal(ret, 0);
	assert_int_equal(len, 0);
	free(out);
	fdpass_response_free(resp);
}

/* Flush with the current locale and check that the Date is English. */
static void flush_and_check_date(void)
{
	size_t len;
	char *out;
	int ret;

	out = flush_to_string("flush", NULL, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "", NULL, 0);
	free(out);
}

static void test_flush_date_environment_locale(void **state)
{
	(void)state;
	if (!setlocale(LC_ALL, ""))
		fprintf(stderr, "the environment's locale is not installed: C is used\n");
	flush_and_check_date();
	assert_non_null(setlocale(LC_ALL, "C"));
}

/* The current LC_TIME names days or months other than in English. */
static int time_names_not_english(void)
{
	struct tm tm;
	char here[64];
	time_t t = 1728000000; /* a Friday in October 2024 */

	gmtime_r(&t, &tm);
	if (strftime(here, sizeof(here), "%a %b %A %B", &tm) == 0)
		return 0;
	return strcmp(here, "Fri Oct Friday October") != 0;
}

static void test_flush_date_non_english_locale(void **state)
{
	static const char *const candidates[] = {
		"de_DE.UTF-8", "fr_FR.UTF-8", "es_ES.UTF-8", "it_IT.UTF-8", "nl_NL.UTF-8",
		"pt_BR.UTF-8", "ru_RU.UTF-8", "pl_PL.UTF-8", "sv_SE.UTF-8", "ja_JP.UTF-8",
		"de_DE.utf8", "fr_FR.utf8", "de_DE", "fr_FR", "de_DE.ISO-8859-1",
	};
	const char *found = NULL;
	size_t i;

	(void)state;
	if (setlocale(LC_ALL, "") && time_names_not_english())
		found = ""; /* the environment's */
	for (i = 0; !found && i < sizeof(candidates) / sizeof(candidates[0]); i++)
		if (setlocale(LC_ALL, candidates[i]) && time_names_not_english())
			found = candidates[i];
	if (!found) {
		setlocale(LC_ALL, "C");
		fprintf(stderr, "no non-English locale installed: skipped\n");
		skip();
	}
	fprintf(stderr, "checking the Date under locale \"%s\" (LC_TIME: %s)\n", found,
		setlocale(LC_TIME, NULL));
	flush_and_check_date();
	/* LC_TIME alone, too. */
	assert_non_null(setlocale(LC_ALL, "C"));
	assert_non_null(setlocale(LC_TIME, found));
	assert_true(time_names_not_english());
	flush_and_check_date();
	assert_non_null(setlocale(LC_ALL, "C"));
}

/* ======================================================================
 * 5. Header injection
 * ====================================================================== */

static void test_header_injection(void **state)
{
	static const struct {
		const char *name, *value;
	} fields[] = {
		{ "X-A", "1\r\nSet-Cookie: evil=1" },
		{ "X-A", "1\nSet-Cookie: evil=1" },
		{ "X-A", "1\rSet-Cookie: evil=1" },
		{ "X-A", "1\r\n\r\n<script>evil()</script>" },
		{ "X-A", "1\r\n evil" }, /* obs-fold */
		{ "X-A", "1\n\tevil" },
		{ "X-A", "evil\x0b" },
		{ "X-A", "evil\x7f" },
		{ "Location", "http://example.org/\r\nSet-Cookie: evil=1" },
		{ "X-A\r\nSet-Cookie", "evil=1" },
		{ "Set-Cookie: evil=1\r\nX-A", "1" },
		{ "X-A: evil\r\nX-B", "1" },
		{ "X-A:", "evil" },
		{ "X-A ", "evil" },
		{ "\r\nX-Evil", "1" },
		{ "Connection ", "keep-alive" },
		{ "Connection:keep-alive\r\nX", "evil" },
	};
	static const char *const reasons[] = {
		"OK\r\nSet-Cookie: evil=1",
		"OK\nSet-Cookie: evil=1",
		"OK\rSet-Cookie: evil=1",
		"OK\r\n\r\n<html>evil</html>",
		"OK\nLocation: http://evil.example/",
		"OK\x1b]evil\x07",
	};
	fdpass_response *resp;
	size_t i, len;
	char *out;
	int ret;

	(void)state;
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		ret = fdpass_response_add_header(resp, fields[i].name, fields[i].value);
		if (ret != -EINVAL)
			fail_msg("injection #%zu accepted: %d", i, ret);
	}
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		assert_int_equal(fdpass_response_set_status(resp, 200, reasons[i]), -EINVAL);
		assert_int_equal(fdpass_response_set_status(resp, 302, reasons[i]), -EINVAL);
	}
	assert_int_equal(fdpass_response_header_count(resp), 0);
	assert_status(resp, 200, "OK");

	/* A NUL ends the C string: what follows it never gets anywhere. */
	assert_int_equal(fdpass_response_add_header(resp, "X-A", "1\0\r\nSet-Cookie: evil=1"), 0);
	assert_int_equal(fdpass_response_set_status(resp, 200, "OK\0\r\nSet-Cookie: evil=2"), 0);
	assert_last_header(resp, "X-A", "1");
	assert_status(resp, 200, "OK");

	/* What goes out is exactly the valid part. */
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, 0);
	expect_flush(out, len, "HTTP/1.1 200 OK\r\n", "X-A: 1\r\n", NULL, 0);
	assert_null(strstr(out, "evil"));
	free(out);

	/* A Connection field gets as far as the flush: refused there, nothing sent. */
	assert_int_equal(fdpass_response_add_header(resp, "Connection", "keep-alive"), 0);
	out = flush_to_string("flush", resp, &ret, &len);
	assert_int_equal(ret, -EINVAL);
	assert_int_equal(len, 0);
	free(out);
	out = flush_to_string(NULL, resp, &ret, &len);
	assert_int_equal(ret, -EINVAL);
	assert_int_equal(len, 0);
	free(out);
	fdpass_response_free(resp);
}

/* ======================================================================
 * 6. Partial writes, EINTR, timeouts, vanished readers
 * ====================================================================== */

#define BIG (1024 * 1024)

/* Flush a 1 MiB body to a reader that reads slowly in small pieces. */
static void flush_to_slow_reader(int nonblock)
{
	struct reader rd = {
		.delay_ms = 100, .piece = 1000, .pause_us = 100,
		.expect = EXPECT_FLUSH, .len = BIG, .fields = "X-Test: partial\r\n",
	};
	unsigned char *body = make_pattern(BIG);
	int sv[2], sndbuf = 4096, got = 0;
	socklen_t sl = sizeof(got);
	fdpass_response *resp;
	long long t0;
	pid_t pid;

	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	assert_int_equal(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &got, &sl), 0);
	assert_true(got < 64 * 1024); /* small: the write must be split */
	if (nonblock)
		set_nonblock(sv[0]);
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_add_header(resp, "X-Test", "partial"), 0);
	assert_int_equal(fdpass_response_set_body(resp, body, BIG), 0);
	free(body);

	rd.fd = sv[1];
	rd.other = sv[0];
	pid = tl_fork(reader_child, &rd);
	close(sv[1]);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_flusher_run("flush", sv[0], resp), 0);
	assert_true(tl_now_ms() - t0 >= 80); /* it did wait for the reader */
	close(sv[0]);
	tl_wait_child(pid);
	fdpass_response_free(resp);
}

static void test_flush_partial_writes_blocking(void **state)
{
	(void)state;
	flush_to_slow_reader(0);
}

static void test_flush_partial_writes_nonblocking(void **state)
{
	(void)state;
	flush_to_slow_reader(1);
}

/* fdpass_write_all of 1 MiB to a slow reader in a child, over fds[0]/fds[1]. */
static void write_all_to_slow_reader(int wfd, int rfd, int timeout_ms)
{
	struct reader rd = {
		.fd = rfd, .other = wfd, .delay_ms = 50, .piece = 1500, .pause_us = 50,
		.expect = EXPECT_PATTERN, .len = BIG,
	};
	unsigned char *data = make_pattern(BIG);
	pid_t pid;

	pid = tl_fork(reader_child, &rd);
	close(rfd);
	assert_int_equal(fdpass_write_all(wfd, data, BIG, timeout_ms), 0);
	close(wfd);
	tl_wait_child(pid);
	free(data);
}

static void test_write_all_partial(void **state)
{
	int sv[2], p[2], sndbuf = 4096, mode;

	(void)state;
	for (mode = 0; mode < 4; mode++) { /* blocking/non-blocking x no bound/bound */
		tl_socketpair(SOCK_STREAM, sv);
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
					    sizeof(sndbuf)), 0);
		if (mode & 1)
			set_nonblock(sv[0]);
		write_all_to_slow_reader(sv[0], sv[1], mode & 2 ? 8000 : -1);

		/* A pipe with a one-page buffer. */
		tl_pipe(p);
		assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
		if (mode & 1)
			set_nonblock(p[1]);
		write_all_to_slow_reader(p[1], p[0], mode & 2 ? 8000 : -1);
	}
}

static void test_write_all_simple(void **state)
{
	char dir[256], path[300], buf[16];
	unsigned char *data, *back;
	int p[2], fd;

	(void)state;
	/* A pipe. */
	tl_pipe(p);
	assert_int_equal(fdpass_write_all(p[1], "hello", 5, -1), 0);
	assert_int_equal(fdpass_write_all(p[1], "", 0, 0), 0);
	assert_int_equal(fdpass_write_all(p[1], NULL, 0, -1), 0);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "hello", 5);
	/* Argument errors and bad fds. */
	assert_int_equal(fdpass_write_all(p[1], NULL, 1, -1), -EINVAL);
	assert_int_equal(fdpass_write_all(-1, "x", 1, -1), -EBADF);
	close(p[0]);
	close(p[1]);
	assert_int_equal(fdpass_write_all(p[1], "x", 1, -1), -EBADF); /* closed */

	/* A regular file. */
	tl_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	data = make_pattern(300000);
	assert_int_equal(fdpass_write_all(fd, data, 300000, 1000), 0);
	back = malloc(300000);
	assert_non_null(back);
	assert_int_equal(pread(fd, back, 300000, 0), 300000);
	assert_memory_equal(back, data, 300000);
	free(back);
	free(data);
	close(fd);
	tl_rmdir(dir);
}

/* A socket whose reader never reads: the deadline ends the write. */
static void test_write_all_timeout(void **state)
{
	unsigned char *data = make_pattern(BIG);
	int sv[2], p[2], r;
	long long t0, elapsed;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(sv[0], data, BIG, 150), -ETIMEDOUT);
	elapsed = tl_now_ms() - t0;
	assert_true(elapsed >= 140);
	assert_true(elapsed < 3000);
	/* Non-blocking socket, full: the same. */
	set_nonblock(sv[0]);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(sv[0], data, BIG, 100), -ETIMEDOUT);
	assert_true(tl_now_ms() - t0 >= 90);
	/* Timeout 0: never waits. */
	t0 = tl_now_ms();
	r = fdpass_write_all(sv[0], data, BIG, 0);
	assert_true(r == -ETIMEDOUT || r == -EAGAIN);
	assert_true(tl_now_ms() - t0 < 1000);
	close(sv[0]);
	close(sv[1]);

	/* A non-blocking pipe nobody reads. */
	tl_pipe(p);
	set_nonblock(p[1]);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(p[1], data, BIG, 100), -ETIMEDOUT);
	elapsed = tl_now_ms() - t0;
	assert_true(elapsed >= 90);
	assert_true(elapsed < 3000);
	close(p[0]);
	close(p[1]);
	free(data);
}

static void on_alarm_exit(int sig)
{
	static const char msg[] =
		"fdpass_write_all(blocking pipe, timeout 200 ms) still blocked after 3 s\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(99);
}

/* Child process: a blocking pipe nobody reads; the deadline must still hold. */
static int child_blocking_pipe_timeout(void *arg)
{
	struct sigaction sa;
	unsigned char *data = malloc(BIG);
	int p[2], r;

	(void)arg;
	TL_CHILD_CHECK(data != NULL && pipe(p) == 0);
	memset(data, 'p', BIG);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm_exit;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(3);
	r = fdpass_write_all(p[1], data, BIG, 200);
	alarm(0);
	free(data);
	close(p[0]);
	close(p[1]);
	if (r != -ETIMEDOUT)
		TL_CHILD_FAIL("fdpass_write_all(blocking pipe): %d, expected -ETIMEDOUT", r);
	return 0;
}

static void test_write_all_timeout_blocking_pipe(void **state)
{
	(void)state;
	/* In a child: a write(2) that blocks past the deadline would hang us. */
	tl_wait_child(tl_fork(child_blocking_pipe_timeout, NULL));
}

static void test_write_all_eintr(void **state)
{
	struct reader rd = {
		.delay_ms = 300, .piece = 65536, .expect = EXPECT_PATTERN, .len = BIG,
	};
	unsigned char *data = make_pattern(BIG);
	int sv[2], p[2], round;
	long long t0, elapsed;
	pid_t pid;

	(void)state;
	for (round = 0; round < 2; round++) { /* no deadline, then a deadline */
		/* A socket: the library waits in poll(), which SIGALRM interrupts. */
		tl_socketpair(SOCK_STREAM, sv);
		rd.fd = sv[1];
		rd.other = sv[0];
		pid = tl_fork(reader_child, &rd);
		close(sv[1]);
		arm_alarm(50, 0);
		assert_int_equal(fdpass_write_all(sv[0], data, BIG, round ? 8000 : -1), 0);
		assert_int_equal(alarms, 1);
		disarm_alarm();
		close(sv[0]);
		tl_wait_child(pid);

		/* A blocking pipe: SIGALRM interrupts write(2) itself. */
		tl_pipe(p);
		rd.fd = p[0];
		rd.other = p[1];
		pid = tl_fork(reader_child, &rd);
		close(p[0]);
		arm_alarm(50, 0);
		assert_int_equal(fdpass_write_all(p[1], data, BIG, round ? 8000 : -1), 0);
		assert_int_equal(alarms, 1);
		disarm_alarm();
		close(p[1]);
		tl_wait_child(pid);
	}

	/* EINTR every 20 ms does not restart the clock. */
	tl_socketpair(SOCK_STREAM, sv);
	arm_alarm(20, 20);
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all(sv[0], data, BIG, 300), -ETIMEDOUT);
	elapsed = tl_now_ms() - t0;
	disarm_alarm();
	assert_true(alarms >= 3);
	assert_true(elapsed >= 290);
	assert_true(elapsed < 2000);
	close(sv[0]);
	close(sv[1]);
	free(data);
}

static void test_write_all_dead_socket(void **state)
{
	unsigned char *data = make_pattern(BIG);
	sigset_t old;
	int sv[2], r;

	(void)state;
	block_sigpipe(&old);
	/* The reader is gone. */
	tl_socketpair(SOCK_STREAM, sv);
	close(sv[1]);
	assert_int_equal(fdpass_write_all(sv[0], "x", 1, -1), -EPIPE);
	assert_int_equal(fdpass_write_all(sv[0], data, BIG, 1000), -EPIPE);
	assert_false(take_sigpipe());
	assert_int_equal(fdpass_flusher_run("flush", sv[0], NULL), -EPIPE);
	assert_false(take_sigpipe());
	close(sv[0]);

	/* The reader went away with data unread: -EPIPE or -ECONNRESET. */
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_write_all(sv[0], "unread", 6, -1), 0);
	close(sv[1]);
	r = fdpass_write_all(sv[0], data, BIG, 1000);
	assert_true(r == -EPIPE || r == -ECONNRESET);
	assert_false(take_sigpipe());
	close(sv[0]);
	restore_sigmask(&old);
	free(data);
}

/* SIGPIPE is blocked in this thread. */
static int sigpipe_blocked(void)
{
	sigset_t cur;

	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &cur), 0);
	return sigismember(&cur, SIGPIPE);
}

/* Child process: write to a pipe without a reader, SIGPIPE at its default. */
static int child_write_dead_pipe(void *arg)
{
	int p[2], r;

	(void)arg;
	signal(SIGPIPE, SIG_DFL);
	TL_CHILD_CHECK(pipe(p) == 0);
	close(p[0]);
	r = fdpass_write_all(p[1], "x", 1, -1);
	if (r != -EPIPE)
		TL_CHILD_FAIL("fdpass_write_all(pipe without reader): %d", r);
	r = fdpass_flusher_run("flush", p[1], NULL);
	if (r != -EPIPE)
		TL_CHILD_FAIL("flush to a pipe without reader: %d", r);
	close(p[1]);
	/* The signal mask is the caller's again: SIGPIPE not blocked. */
	{
		sigset_t cur;

		TL_CHILD_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 &&
			       !sigismember(&cur, SIGPIPE));
	}
	return 0;
}

/*
 * "never raises SIGPIPE (on a pipe the signal is blocked for the call and
 * discarded)": not raised, the caller's signal mask as it was, and a
 * SIGPIPE that was pending before the call is not taken away.
 */
static void test_write_all_dead_pipe(void **state)
{
	sigset_t old;
	int p[2];

	(void)state;
	/* SIGPIPE at its default action: the process survives, -EPIPE. */
	tl_wait_child(tl_fork(child_write_dead_pipe, NULL));

	tl_pipe(p);
	close(p[0]);

	/* Blocked by the caller: -EPIPE, and nothing left pending. */
	block_sigpipe(&old);
	assert_int_equal(fdpass_write_all(p[1], "x", 1, -1), -EPIPE);
	assert_true(sigpipe_blocked());
	assert_false(take_sigpipe());

	/* The caller's own pending SIGPIPE stays pending. */
	assert_int_equal(raise(SIGPIPE), 0);
	assert_int_equal(fdpass_write_all(p[1], "x", 1, 1000), -EPIPE);
	assert_true(take_sigpipe());
	assert_false(take_sigpipe());
	restore_sigmask(&old);
	assert_false(sigpipe_blocked());

	/* Ignored: -EPIPE as well. */
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(fdpass_write_all(p[1], "x", 1, -1), -EPIPE);
	signal(SIGPIPE, SIG_DFL);
	close(p[1]);
}

/* Child process: write(2) would say EBADF at once; never hang on it. */
static int child_write_read_end(void *arg)
{
	int p[2], r;

	(void)arg;
	default_fatal_signals();
	arm_watchdog(3, "fdpass_write_all(read end of a pipe, timeout -1) hangs\n");
	TL_CHILD_CHECK(pipe(p) == 0);
	r = fdpass_write_all(p[0], "x", 1, -1);
	close(p[0]);
	close(p[1]);
	if (r != -EBADF)
		TL_CHILD_FAIL("fdpass_write_all(read end of a pipe, -1): %d", r);
	return 0;
}

/*
 * An fd that is not open for writing: "or what write(2) reports", which is
 * -EBADF, at once, whatever the timeout.
 */
static void test_write_all_read_end_of_pipe(void **state)
{
	long long t0;
	int p[2], r;

	(void)state;
	tl_pipe(p);
	t0 = tl_now_ms();
	r = fdpass_write_all(p[0], "x", 1, 200);
	t0 = tl_now_ms() - t0;
	close(p[0]);
	close(p[1]);
	if (r != -EBADF)
		fail_msg("fdpass_write_all(read end of a pipe, 200 ms): %d (%s) after %lld ms, "
			 "expected -EBADF", r, fdpass_strerror(r), t0);
	tl_wait_child(tl_fork(child_write_read_end, NULL));
}

/*
 * timeout_ms 0 never waits, but the write is tried first ("The call is
 * always tried first; poll() is used only after it would have blocked"):
 * where there is room it succeeds, on a socket, a pipe and a file alike.
 */
static void test_write_all_timeout_zero(void **state)
{
	char dir[256], path[300], buf[16];
	int sv[2], p[2], fd, r;
	ssize_t n;

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_write_all(sv[0], "sock", 4, 0), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "sock", 4);
	close(sv[0]);
	close(sv[1]);

	tl_pipe(p);
	r = fdpass_write_all(p[1], "pipe", 4, 0);
	close(p[1]);
	n = read(p[0], buf, sizeof(buf));
	close(p[0]);
	if (r != 0)
		fail_msg("fdpass_write_all(empty pipe, timeout 0): %d (%s), expected 0", r,
			 fdpass_strerror(r));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "pipe", 4);

	tl_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	r = fdpass_write_all(fd, "file", 4, 0);
	close(fd);
	tl_rmdir(dir);
	if (r != 0)
		fail_msg("fdpass_write_all(regular file, timeout 0): %d (%s), expected 0", r,
			 fdpass_strerror(r));
}

/* ======================================================================
 * 7. A client that disconnects mid-flush
 * ====================================================================== */

static void flush_to_vanishing_client(int nonblock)
{
	struct reader rd = { .piece = 4096, .stop_after = 64 * 1024, .pause_us = 200 };
	const size_t body_len = 4 * 1024 * 1024;
	unsigned char *body = make_pattern(body_len);
	fdpass_response *resp;
	long long t0;
	sigset_t old;
	int sv[2], r;
	pid_t pid;

	block_sigpipe(&old);
	assert_int_equal(fdpass_response_new(&resp, 200), 0);
	assert_int_equal(fdpass_response_set_body(resp, body, body_len), 0);
	free(body);
	tl_socketpair(SOCK_STREAM, sv);
	if (nonblock)
		set_nonblock(sv[0]);
	rd.fd = sv[1];
	rd.other = sv[0];
	pid = tl_fork(reader_child, &rd);
	close(sv[1]);
	t0 = tl_now_ms();
	r = fdpass_flusher_run("flush", sv[0], resp);
	if (r != -EPIPE && r != -ECONNRESET)
		fail_msg("flush to a vanished client: %d (%s)", r, fdpass_strerror(r));
	assert_true(tl_now_ms() - t0 < FDPASS_FLUSH_TIMEOUT_MS / 2); /* noticed, not timed out */
	assert_false(take_sigpipe());
	restore_sigmask(&old);
	close(sv[0]);
	tl_wait_child(pid);
	fdpass_response_free(resp);
}

static void test_flush_client_disconnects(void **state)
{
	(void)state;
	flush_to_vanishing_client(0);
	flush_to_vanishing_client(1);
}

/* ======================================================================
 * 8. Provider results, unregistering from inside runs, pins
 * ====================================================================== */

/* Returns what write(2) returns: the byte count. */
static int counting_provider(int client_fd, const fdpass_response *resp, void *context)
{
	(void)resp;
	(void)context;
	return (int)write(client_fd, "12345", 5);
}

/* A positive return is success, and fdpass_flusher_run() says 0 for it. */
static void test_provider_positive_return(void **state)
{
	int sv[2];
	char buf[8];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_flusher_register("counting", counting_provider, NULL), 0);
	assert_int_equal(fdpass_flusher_run("counting", sv[0], NULL), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 5);
	assert_int_equal(fdpass_flusher_unregister("counting"), 0);
	close(sv[0]);
	close(sv[1]);
	assert_registry_pristine();
}

/*
 * Providers that unregister each other from runs on different threads:
 * each run waits, inside its provider, until every run has begun, then
 * unregisters the next provider of the ring. A wait that would close the
 * ring is refused with -EDEADLK; every other unregistration waits and
 * succeeds.
 */
#define RING_MAX 3

struct ring {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;            /* providers in the ring */
	int entered;
	int ret[RING_MAX];
};

struct ring_member {
	struct ring *ring;
	int index;
};

static const char *const ring_names[RING_MAX] = { "ring-0", "ring-1", "ring-2" };

static int ring_provider(int client_fd, const fdpass_response *resp, void *context)
{
	struct ring_member *m = context;
	struct ring *g = m->ring;
	int r;

	(void)client_fd;
	(void)resp;
	pthread_mutex_lock(&g->mu);
	g->entered++;
	pthread_cond_broadcast(&g->cv);
	while (g->entered < g->n)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	r = fdpass_flusher_unregister(ring_names[(m->index + 1) % g->n]);
	pthread_mutex_lock(&g->mu);
	g->ret[m->index] = r;
	pthread_mutex_unlock(&g->mu);
	return 0;
}

static void *ring_thread(void *arg)
{
	struct ring_member *m = arg;

	(void)fdpass_flusher_run(ring_names[m->index], -1, NULL);
	return NULL;
}

/* Child process: a deadlock ends in the watchdog's exit status. */
static int child_ring(void *arg)
{
	struct ring g = { .n = (int)(intptr_t)arg };
	struct ring_member m[RING_MAX];
	pthread_t th[RING_MAX];
	int i, refused = 0, ok = 0, left = 0;

	default_fatal_signals();
	arm_watchdog(20, "providers unregistering each other: deadlock\n");
	pthread_mutex_init(&g.mu, NULL);
	pthread_cond_init(&g.cv, NULL);
	for (i = 0; i < g.n; i++) {
		m[i].ring = &g;
		m[i].index = i;
		g.ret[i] = 1;
		TL_CHILD_CHECK(fdpass_flusher_register(ring_names[i], ring_provider, &m[i]) == 0);
	}
	for (i = 0; i < g.n; i++)
		TL_CHILD_CHECK(pthread_create(&th[i], NULL, ring_thread, &m[i]) == 0);
	for (i = 0; i < g.n; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < g.n; i++) {
		if (g.ret[i] == -EDEADLK)
			refused++;
		else if (g.ret[i] == 0)
			ok++;
		else
			fprintf(stderr, "ring of %d: run %d: unregister returned %d\n", g.n, i,
				g.ret[i]);
		/* What was refused is still registered, and unregisters now. */
		if (fdpass_flusher_lookup(ring_names[i], NULL, NULL) == 0) {
			left++;
			TL_CHILD_CHECK(fdpass_flusher_unregister(ring_names[i]) == 0);
		}
	}
	if (refused != 1 || ok != g.n - 1 || left != 1)
		TL_CHILD_FAIL("ring of %d: %d refused, %d succeeded, %d left registered; "
			      "expected 1, %d, 1", g.n, refused, ok, left, g.n - 1);
	pthread_cond_destroy(&g.cv);
	pthread_mutex_destroy(&g.mu);
	return 0;
}

static void test_unregister_each_other(void **state)
{
	(void)state;
	tl_wait_child(tl_fork(child_ring, (void *)(intptr_t)2));
	tl_wait_child(tl_fork(child_ring, (void *)(intptr_t)3));
	assert_registry_pristine();
}

/* An unregistration on another thread, to be watched. */
struct unregistering {
	pthread_t thread;
	const char *name;
	pthread_mutex_t mu;
	int done;
	int ret;
};

static void *unregister_thread(void *arg)
{
	struct unregistering *u = arg;
	int r = fdpass_flusher_unregister(u->name);

	pthread_mutex_lock(&u->mu);
	u->done = 1;
	u->ret = r;
	pthread_mutex_unlock(&u->mu);
	return NULL;
}

static int unregistering_done(struct unregistering *u)
{
	int done;

	pthread_mutex_lock(&u->mu);
	done = u->done;
	pthread_mutex_unlock(&u->mu);
	return done;
}

/* Wait (at most 5 s) until name is off the registry: its unregistration began. */
static int wait_unlisted(const char *name)
{
	long long end = tl_now_ms() + 5000;

	while (fdpass_flusher_lookup(name, NULL, NULL) == 0)
		if (tl_now_ms() > end)
			return 0;
		else
			usleep(1000);
	return 1;
}

/* A pin keeps the provider and its context alive across an unregistration. */
static void test_pin_keeps_context(void **state)
{
	struct unregistering u = { .name = "pinned", .mu = PTHREAD_MUTEX_INITIALIZER };
	fdpass_flusher_ref *ref = NULL, *untouched = (fdpass_flusher_ref *)&u;
	struct record rec = { .write = "via the pin", .ret = 0 };
	fdpass_flusher_fn fn = NULL;
	void *ctx = NULL;
	int sv[2];
	char buf[32];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_flusher_pin("pinned", NULL, &fn, &ctx), -EINVAL);
	assert_int_equal(fdpass_flusher_pin("no-such", &untouched, &fn, &ctx), -ENOENT);
	assert_int_equal(fdpass_flusher_pin("bad name", &untouched, &fn, &ctx), -EINVAL);
	assert_ptr_equal(untouched, (fdpass_flusher_ref *)&u);
	fdpass_flusher_unpin(NULL);
	/* NULL means "flush", whose context is NULL. */
	ctx = &u;
	assert_int_equal(fdpass_flusher_pin(NULL, &ref, &fn, &ctx), 0);
	assert_non_null(fn);
	assert_null(ctx);
	fdpass_flusher_unpin(ref);

	/* Unregistered on another thread while pinned here: it waits for the pin. */
	assert_int_equal(fdpass_flusher_register("pinned", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_pin("pinned", &ref, &fn, &ctx), 0);
	assert_ptr_equal(fn, record_provider);
	assert_ptr_equal(ctx, &rec);
	assert_int_equal(pthread_create(&u.thread, NULL, unregister_thread, &u), 0);
	assert_true(wait_unlisted("pinned"));
	usleep(50 * 1000);
	assert_false(unregistering_done(&u));
	assert_int_equal(fn(sv[0], NULL, ctx), 0);
	assert_int_equal(rec.calls, 1);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 11);
	fdpass_flusher_unpin(ref);
	assert_int_equal(pthread_join(u.thread, NULL), 0);
	assert_int_equal(u.ret, 0);

	/* Pinned by this thread: the unregistration does not wait for it. */
	assert_int_equal(fdpass_flusher_register("pinned", record_provider, &rec), 0);
	assert_int_equal(fdpass_flusher_pin("pinned", &ref, &fn, &ctx), 0);
	assert_int_equal(fdpass_flusher_unregister("pinned"), 0);
	assert_int_equal(fdpass_flusher_lookup("pinned", NULL, NULL), -ENOENT);
	assert_int_equal(fn(sv[0], NULL, ctx), 0);
	assert_int_equal(rec.calls, 2);
	fdpass_flusher_unpin(ref); /* the provider's last use: freed here */
	close(sv[0]);
	close(sv[1]);
	assert_registry_pristine();
}

/*
 * A pin counts as held by the thread that took it: this thread pins X and
 * unregisters Y, whose run on another thread unregisters X. That closes a
 * cycle, refused with -EDEADLK in the run; the first unregistration ends.
 */
struct pin_cycle {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;    /* the run of "cycle-y" began */
	int unregister; /* what it got from unregistering "cycle-x" */
	int run;        /* what the run returned */
};

static int cycle_y_provider(int client_fd, const fdpass_response *resp, void *context)
{
	struct pin_cycle *c = context;

	(void)client_fd;
	(void)resp;
	pthread_mutex_lock(&c->mu);
	c->entered = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	/* Off the list: the other thread is waiting for this run. */
	if (!wait_unlisted("cycle-y"))
		return -ETIME;
	c->unregister = fdpass_flusher_unregister("cycle-x");
	return 0;
}

static void *run_cycle_y(void *arg)
{
	struct pin_cycle *c = arg;

	c->run = fdpass_flusher_run("cycle-y", -1, NULL);
	return NULL;
}

static int child_pin_cycle(void *arg)
{
	struct pin_cycle c = { .unregister = 1, .run = 1 };
	fdpass_flusher_ref *ref;
	pthread_t th;
	int r;

	(void)arg;
	default_fatal_signals();
	arm_watchdog(20, "a pin and two unregistrations: deadlock\n");
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	if (fdpass_flusher_register("cycle-x", other_provider, NULL) ||
	    fdpass_flusher_register("cycle-y", cycle_y_provider, &c) ||
	    fdpass_flusher_pin("cycle-x", &ref, NULL, NULL))
		TL_CHILD_FAIL("registering cycle-x and cycle-y and pinning cycle-x failed");
	TL_CHILD_CHECK(pthread_create(&th, NULL, run_cycle_y, &c) == 0);
	pthread_mutex_lock(&c.mu);
	while (!c.entered)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	r = fdpass_flusher_unregister("cycle-y");
	pthread_join(th, NULL);
	if (r != 0 || c.unregister != -EDEADLK || c.run != 0)
		TL_CHILD_FAIL("unregister(y) %d, unregister(x) in the run %d, run %d", r,
			      c.unregister, c.run);
	/* Refused: still registered, and unregisters once unpinned. */
	fdpass_flusher_unpin(ref);
	TL_CHILD_CHECK(fdpass_flusher_unregister("cycle-x") == 0);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	return 0;
}

static void test_pin_counts_in_deadlock_check(void **state)
{
	(void)state;
	tl_wait_child(tl_fork(child_pin_cycle, NULL));
	assert_registry_pristine();
}

/* Read what fd holds now (nobody writes meanwhile): it must be data[0..). */
static size_t drain_pattern(int fd, size_t offset)
{
	unsigned char buf[65536];
	size_t got = 0, i;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) != 1)
			return got;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern_byte(offset + got + i))
				fail_msg("byte %zu differs", offset + got + i);
		got += (size_t)n;
	}
}

/* fdpass_write_all2 tells exactly how much went, on success and on failure. */
static void test_write_all2_counts(void **state)
{
	unsigned char *data = make_pattern(BIG);
	size_t written = 7, total;
	long long t0;
	int sv[2], p[2];

	(void)state;
	tl_socketpair(SOCK_STREAM, sv);
	assert_int_equal(fdpass_write_all2(sv[0], NULL, 1, 100, &written), -EINVAL);
	assert_int_equal(written, 0);
	assert_int_equal(fdpass_write_all2(sv[0], data, 100, 100, &written), 0);
	assert_int_equal(written, 100);
	assert_int_equal(fdpass_write_all2(sv[0], data + 100, 100, 100, NULL), 0);
	assert_int_equal(drain_pattern(sv[1], 0), 200);

	/* Nobody reads. Timeout 0: what fits, then -EAGAIN, at once. */
	t0 = tl_now_ms();
	assert_int_equal(fdpass_write_all2(sv[0], data, BIG, 0, &written), -EAGAIN);
	assert_true(tl_now_ms() - t0 < 1000);
	assert_true(written > 0 && written < BIG);
	assert_int_equal(drain_pattern(sv[1], 0), written);
	/* A positive deadline: -ETIMEDOUT, and again the count is exact. */
	assert_int_equal(fdpass_write_all2(sv[0], data, BIG, 100, &written), -ETIMEDOUT);
	assert_true(written > 0 && written < BIG);
	total = drain_pattern(sv[1], 0);
	assert_int_equal(total, written);
	close(sv[0]);
	close(sv[1]);

	/* A pipe, blocking or not: timeout 0 fills it, in more than one piece. */
	tl_pipe(p);
	assert_int_equal(fdpass_write_all2(p[1], data, BIG, 0, &written), -EAGAIN);
	assert_true(written > PIPE_BUF && written < BIG);
	assert_int_equal(drain_pattern(p[0], 0), written);
	set_nonblock(p[1]);
	assert_int_equal(fdpass_write_all2(p[1], data, BIG, 0, &written), -EAGAIN);
	assert_true(written > PIPE_BUF && written < BIG);
	assert_int_equal(drain_pattern(p[0], 0), written);
	/* The reader goes: -EPIPE, no SIGPIPE, nothing written. */
	close(p[0]);
	assert_int_equal(fdpass_write_all2(p[1], data, 10, 100, &written), -EPIPE);
	assert_int_equal(written, 0);
	close(p[1]);
	free(data);
}

/* The released call at timeout 0 on a pipe: as much as fits, as on a socket. */
static void test_write_all_timeout_zero_fills_pipe(void **state)
{
	unsigned char *data = make_pattern(BIG);
	int p[2];

	(void)state;
	tl_pipe(p);
	assert_int_equal(fdpass_write_all(p[1], data, BIG, 0), -ETIMEDOUT);
	assert_true(drain_pattern(p[0], 0) > PIPE_BUF);
	close(p[0]);
	close(p[1]);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* 1. responses */
		TL_TEST(test_response_new_free),
		TL_TEST(test_response_reasons),
		TL_TEST(test_response_set_status),
		TL_TEST(test_response_header_names),
		TL_TEST(test_response_header_values),
		TL_TEST(test_response_limits),
		TL_TEST(test_response_set_status_keeps_head_limit),
		TL_TEST(test_response_body),
		TL_TEST(test_response_getters),
		/* 2. registry */
		TL_TEST(test_registry_basics),
		TL_TEST(test_registry_names),
		TL_TEST(test_registry_unknown_writes_nothing),
		TL_TEST(test_registry_null_means_flush),
		TL_TEST(test_flusher_list),
		TL_TEST(test_provider_unregisters_itself),
		/* 3. threads */
		TL_TEST(test_unregister_waits_for_other_thread),
		TL_TEST(test_self_unregister_with_other_thread),
		TL_TEST(test_threads_stress),
		/* 4. the bytes */
		TL_TEST(test_flush_default_bytes),
		TL_TEST(test_flush_status_headers_body),
		TL_TEST(test_flush_own_date),
		TL_TEST(test_flush_refuses_connection_field),
		TL_TEST(test_none_writes_nothing),
		TL_TEST(test_flush_date_environment_locale),
		TL_TEST(test_flush_date_non_english_locale),
		/* 5. injection */
		TL_TEST(test_header_injection),
		/* 6. writes */
		TL_TEST(test_flush_partial_writes_blocking),
		TL_TEST(test_flush_partial_writes_nonblocking),
		TL_TEST(test_write_all_partial),
		TL_TEST(test_write_all_simple),
		TL_TEST(test_write_all_timeout),
		TL_TEST(test_write_all_timeout_blocking_pipe),
		TL_TEST(test_write_all_eintr),
		TL_TEST(test_write_all_dead_socket),
		TL_TEST(test_write_all_dead_pipe),
		TL_TEST(test_write_all_read_end_of_pipe),
		TL_TEST(test_write_all_timeout_zero),
		/* 7. a client that goes away */
		TL_TEST(test_flush_client_disconnects),
		/* 8. results, unregistering from runs, pins */
		TL_TEST(test_provider_positive_return),
		TL_TEST(test_unregister_each_other),
		TL_TEST(test_pin_keeps_context),
		TL_TEST(test_pin_counts_in_deadlock_check),
		TL_TEST(test_write_all2_counts),
		TL_TEST(test_write_all_timeout_zero_fills_pipe),
	};

	/* CMOCKA_TEST_FILTER=test_threads_stress (a glob) runs only those. */
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
