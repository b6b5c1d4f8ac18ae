// SPDX-License-Identifier: MIT
/*
 * loadgen: a closed-loop HTTP/1.1 load generator for loopback benchmarks.
 *
 * N connections, each sending one small GET at a time and reading the whole
 * response before the next. It understands both kinds of response that the
 * hand-off produces: close-delimited (no Content-Length: the body ends at
 * end of stream, as after httpd's "flush" flusher or fdpass-frontend) and
 * Content-Length with keep-alive, where the connection is used again. A
 * response counts only if its status is 200 and its body has the expected
 * length; everything else is an error of a named kind. wrk 4.1 counts
 * close-delimited responses as read errors; this client does not.
 *
 * It connects to loopback addresses only (127.0.0.0/8, ::1), and stops by
 * itself after the duration or the request count. The result is one line of
 * key=value pairs on stdout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 8192
#define READ_CHUNK (256 * 1024)
#define TICK_MS 50

static const char usage[] =
"Usage: loadgen --port PORT [--host ADDR] [--path PATH] [-c CONNS] [-t THREADS]\n"
"               (-d SECONDS | -n REQUESTS) [--warmup SECONDS] [--body-length N]\n"
"               [--close] [--timeout MS] [--label TEXT]\n"
"       loadgen --free-port\n"
"\n"
"Closed loop: each connection sends a GET, reads the whole response, and\n"
"sends the next; a connection that the server keeps (Content-Length, no\n"
"\"Connection: close\") is used again, others are closed and opened anew.\n"
"Close-delimited responses are read to end of stream.\n"
"\n"
"Options:\n"
"  --host ADDR        a loopback address (default 127.0.0.1; nothing else)\n"
"  --port PORT        TCP port\n"
"  --path PATH        request target (default /)\n"
"  -c, --connections  concurrent connections (default 16)\n"
"  -t, --threads      threads, each with its own epoll (default 1)\n"
"  -d, --duration     seconds to run, warm-up included (default 5)\n"
"  -n, --requests     stop after this many responses instead\n"
"  --warmup SECONDS   responses completed in the first SECONDS are not\n"
"                     measured (but are in completed_total)\n"
"  --body-length N    the body length every response must have (default:\n"
"                     not checked)\n"
"  --close            send \"Connection: close\": one request per connection\n"
"  --timeout MS       a request with no progress for MS fails (default 5000)\n"
"  --label TEXT       copied into the result line\n"
"  --free-port        print a TCP port free on 127.0.0.1 and exit\n"
"\n"
"Output: one line of key=value pairs: rps (responses/s), mbps (body bytes,\n"
"10^6/s), p50_ms, p90_ms, p99_ms, max_ms (per request, from connect or\n"
"write to the last byte), errors and their kinds, sent, completed_total,\n"
"connections (opened), retries (a kept connection the server had closed).\n";

enum state { CONNECTING, WRITING, READING_HEAD, READING_BODY };

struct conn {
	int fd;
	enum state state;
	int reused;        /* this request runs on a kept connection */
	int retried;       /* it was already sent again once */
	int close_delim;   /* the body ends at end of stream */
	int keep;          /* the server keeps the connection after this one */
	size_t sent;       /* request bytes written */
	size_t hlen;       /* head bytes buffered */
	uint64_t body_want; /* Content-Length */
	uint64_t body_got;
	int64_t t_start;   /* ns: connect (new connection) or write (kept) */
	int64_t t_io;      /* ns: last progress */
	uint32_t events;   /* what epoll watches; 0: not registered */
	char head[HEAD_MAX];
};

struct stats {
	uint64_t completed, completed_total, sent, connections, retries, body_bytes;
	uint64_t err_connect, err_io, err_status, err_length, err_proto, err_timeout;
	uint32_t *lat;     /* microseconds, measured responses only */
	size_t nlat, caplat;
};

struct worker {
	pthread_t thread;
	int ep;
	struct conn *conns;
	size_t nconns;
	struct stats st;
	char *scratch;
	int failed;
};

static struct sockaddr_storage target;
static socklen_t target_len;
static char request[1024];
static size_t request_len;
static long long body_length = -1;
static int timeout_ms = 5000;
static int64_t t_begin, t_measure, t_end; /* ns */
static uint64_t max_requests;
static atomic_uint_fast64_t done_requests;
static atomic_int stopping;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return 0;
}

static int parse_target(const char *host, const char *port)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(port, &end, 10);
	if (!*port || *end || errno || p <= 0 || p > 65535)
		return -1;
	memset(&target, 0, sizeof(target));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&target)->sin_addr) == 1) {
		((struct sockaddr_in *)&target)->sin_family = AF_INET;
		((struct sockaddr_in *)&target)->sin_port = htons((uint16_t)p);
		target_len = sizeof(struct sockaddr_in);
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&target)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&target)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&target)->sin6_port = htons((uint16_t)p);
		target_len = sizeof(struct sockaddr_in6);
	} else {
		return -1;
	}
	return is_loopback(&target) ? 0 : -2;
}

static int free_port(void)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
		perror("loadgen: free port");
		return 1;
	}
	printf("%u\n", ntohs(in.sin_port));
	close(fd);
	return 0;
}

static void add_latency(struct stats *st, int64_t ns)
{
	int64_t us = ns / 1000;

	if (st->nlat == st->caplat) {
		size_t cap = st->caplat ? st->caplat * 2 : 65536;
		uint32_t *grown = realloc(st->lat, cap * sizeof(*grown));

		if (!grown)
			return; /* the percentiles lose a sample, the counts do not */
		st->lat = grown;
		st->caplat = cap;
	}
	st->lat[st->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void conn_close(struct worker *w, struct conn *c)
{
	if (c->fd >= 0) {
		if (c->events)
			epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->events = 0;
	}
}

static int watch(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(w->ep, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return -1;
	c->events = events;
	return 0;
}

static int should_stop(int64_t now)
{
	if (atomic_load_explicit(&stopping, memory_order_relaxed))
		return 1;
	if (max_requests ? atomic_load_explicit(&done_requests, memory_order_relaxed) >= max_requests
			 : now >= t_end) {
		atomic_store(&stopping, 1);
		return 1;
	}
	return 0;
}

static void begin_request(struct conn *c, int64_t now)
{
	c->state = WRITING;
	c->sent = 0;
	c->hlen = 0;
	c->body_got = 0;
	c->body_want = 0;
	c->close_delim = 0;
	c->keep = 0;
	c->t_start = now;
	c->t_io = now;
}

static void on_writable(struct worker *w, struct conn *c);

/* A new connection and a new request on it; errors are counted. */
static void conn_open(struct worker *w, struct conn *c)
{
	int64_t now = now_ns();
	int one = 1;

	c->fd = -1;
	c->events = 0;
	c->state = CONNECTING;
	if (should_stop(now))
		return;
	begin_request(c, now);
	c->reused = 0;
	c->retried = 0;
	c->fd = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		w->st.err_connect++;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->st.connections++;
	if (connect(c->fd, (struct sockaddr *)&target, target_len) == 0) {
		on_writable(w, c);
		return;
	}
	if (errno != EINPROGRESS || (c->state = CONNECTING, watch(w, c, EPOLLOUT) < 0)) {
		w->st.err_connect++;
		close(c->fd);
		c->fd = -1;
	}
}

/* The connection failed: count it, and start over on a new one. */
static void conn_fail(struct worker *w, struct conn *c, uint64_t *counter)
{
	(*counter)++;
	conn_close(w, c);
	conn_open(w, c);
}

/*
 * The connection broke before a response. A kept connection that the
 * server closed before it read our request is no error: the request is
 * sent again, once, on a new connection. Anything else is.
 */
static void conn_broken(struct worker *w, struct conn *c)
{
	int64_t t0 = c->t_start;

	if (!c->reused || c->retried || c->hlen) {
		conn_fail(w, c, &w->st.err_io);
		return;
	}
	w->st.retries++;
	conn_close(w, c);
	conn_open(w, c);
	c->t_start = t0; /* the wait counts */
	c->retried = 1;
}

static void request_done(struct worker *w, struct conn *c)
{
	int64_t now = now_ns();

	w->st.completed_total++;
	atomic_fetch_add_explicit(&done_requests, 1, memory_order_relaxed);
	if (now >= t_measure) {
		w->st.completed++;
		w->st.body_bytes += c->body_got;
		add_latency(&w->st, now - c->t_start);
	}
	if (c->keep && !should_stop(now)) {
		begin_request(c, now);
		c->reused = 1;
		c->retried = 0;
		on_writable(w, c);
		return;
	}
	conn_close(w, c);
	conn_open(w, c);
}

static void check_body_done(struct worker *w, struct conn *c)
{
	if (c->close_delim || c->body_got < c->body_want)
		return;
	if (c->body_got > c->body_want) {
		conn_fail(w, c, &w->st.err_proto); /* more than Content-Length */
		return;
	}
	if (body_length >= 0 && c->body_got != (uint64_t)body_length) {
		conn_fail(w, c, &w->st.err_length);
		return;
	}
	request_done(w, c);
}

static int token_in(const char *v, size_t len, const char *token)
{
	size_t tl = strlen(token), i;

	for (i = 0; i + tl <= len; i++)
		if (!strncasecmp(v + i, token, tl) &&
		    (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',' || v[i - 1] == '\t') &&
		    (i + tl == len || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == '\t'))
			return 1;
	return 0;
}

/*
 * Parse a complete response head of len bytes. NULL, or the counter of the
 * error to charge.
 */
static uint64_t *parse_head(struct worker *w, struct conn *c, size_t len)
{
	const char *p = c->head, *end = c->head + len, *eol;
	int minor, status, have_cl = 0, close_tok = 0, keep_tok = 0;

	if (len < 12 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return &w->st.err_proto;
	minor = p[7] - '0';
	status = atoi(p + 9);
	if (status != 200)
		return &w->st.err_status;
	eol = memmem(p, (size_t)(end - p), "\r\n", 2);
	while (eol && eol + 2 < end) {
		const char *line = eol + 2, *colon, *v;
		size_t vlen;

		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!eol || eol == line)
			break;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon)
			return &w->st.err_proto;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		vlen = (size_t)(eol - v);
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (colon - line == 14 && !strncasecmp(line, "Content-Length", 14)) {
			char *e;

			errno = 0;
			c->body_want = strtoull(v, &e, 10);
			if (e == v || errno)
				return &w->st.err_proto;
			have_cl = 1;
		} else if (colon - line == 17 && !strncasecmp(line, "Transfer-Encoding", 17)) {
			return &w->st.err_proto; /* chunked: no server here sends it */
		} else if (colon - line == 10 && !strncasecmp(line, "Connection", 10)) {
			close_tok |= token_in(v, vlen, "close");
			keep_tok |= token_in(v, vlen, "keep-alive");
		}
	}
	c->close_delim = !have_cl;
	c->keep = have_cl && !close_tok && (minor == 1 || keep_tok);
	return NULL;
}

/* Returns 1 while the same response is still being read. */
static int read_head(struct worker *w, struct conn *c)
{
	ssize_t n = recv(c->fd, c->head + c->hlen, sizeof(c->head) - c->hlen, 0);
	uint64_t *err;
	char *end;
	size_t head_len;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		conn_broken(w, c);
		return 0;
	}
	c->t_io = now_ns();
	c->hlen += (size_t)n;
	end = memmem(c->head, c->hlen, "\r\n\r\n", 4);
	if (!end) {
		if (c->hlen < sizeof(c->head))
			return 1;
		conn_fail(w, c, &w->st.err_proto);
		return 0;
	}
	head_len = (size_t)(end - c->head) + 4;
	err = parse_head(w, c, head_len);
	if (err) {
		conn_fail(w, c, err);
		return 0;
	}
	c->state = READING_BODY;
	c->body_got = c->hlen - head_len;
	check_body_done(w, c);
	return c->fd >= 0 && c->state == READING_BODY;
}

/* Returns 1 while the same response is still being read. */
static int read_body(struct worker *w, struct conn *c)
{
	size_t want = READ_CHUNK;
	ssize_t n;

	if (!c->close_delim && c->body_want - c->body_got < want)
		want = (size_t)(c->body_want - c->body_got);
	n = recv(c->fd, w->scratch, want, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_fail(w, c, &w->st.err_io);
		return 0;
	}
	if (n == 0) {
		if (!c->close_delim)
			conn_fail(w, c, &w->st.err_io); /* cut short */
		else if (body_length >= 0 && c->body_got != (uint64_t)body_length)
			conn_fail(w, c, &w->st.err_length);
		else
			request_done(w, c);
		return 0;
	}
	c->t_io = now_ns();
	c->body_got += (uint64_t)n;
	check_body_done(w, c);
	return c->fd >= 0 && c->state == READING_BODY;
}

static void on_readable(struct worker *w, struct conn *c)
{
	/* After a response, c may be closed (stopping) or carry a new request. */
	while (c->fd >= 0 && (c->state == READING_HEAD ? read_head(w, c) :
			      c->state == READING_BODY ? read_body(w, c) : 0))
		;
}

/* Connected, or a request to send: send it, and wait for the answer. */
static void on_writable(struct worker *w, struct conn *c)
{
	if (c->state == CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conn_fail(w, c, &w->st.err_connect);
			return;
		}
		c->state = WRITING;
	}
	while (c->sent < request_len) {
		ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_broken(w, c);
			else if (watch(w, c, EPOLLOUT) < 0)
				conn_fail(w, c, &w->st.err_io);
			return;
		}
		if (c->sent == 0)
			w->st.sent++;
		c->sent += (size_t)n;
	}
	c->t_io = now_ns();
	c->state = READING_HEAD;
	if (watch(w, c, EPOLLIN) < 0)
		conn_fail(w, c, &w->st.err_io);
}

static void check_timeouts(struct worker *w, int64_t now)
{
	size_t i;

	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (c->fd >= 0 && now - c->t_io > (int64_t)timeout_ms * 1000000)
			conn_fail(w, c, &w->st.err_timeout);
		else if (c->fd < 0 && !should_stop(now))
			conn_open(w, c); /* a connect that failed at once: try again */
	}
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	int64_t next_tick = now_ns() + TICK_MS * 1000000LL;
	size_t i;

	for (i = 0; i < w->nconns; i++)
		conn_open(w, &w->conns[i]);
	for (;;) {
		int64_t now = now_ns();
		int n, k, wait_ms;

		if (should_stop(now))
			break;
		wait_ms = (int)((next_tick - now) / 1000000);
		if (!max_requests && (t_end - now) / 1000000 < wait_ms)
			wait_ms = (int)((t_end - now) / 1000000);
		n = epoll_wait(w->ep, evs, 256, wait_ms < 0 ? 0 : wait_ms);
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			w->failed = 1;
			break;
		}
		for (k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;

			if (c->fd < 0)
				continue;
			if (c->state == CONNECTING || c->state == WRITING)
				on_writable(w, c);
			else
				on_readable(w, c);
		}
		now = now_ns();
		if (now >= next_tick) {
			check_timeouts(w, now);
			next_tick = now + TICK_MS * 1000000LL;
		}
	}
	for (i = 0; i < w->nconns; i++)
		conn_close(w, &w->conns[i]);
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double percentile_ms(const uint32_t *v, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static void raise_nofile(size_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < need + 16)
		fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE is %llu, below %zu connections "
			"(raise it with ulimit -n)\n", (unsigned long long)rl.rlim_cur, need);
}

static double parse_seconds(const char *s, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || v < 0 || v > 86400) {
		fprintf(stderr, "loadgen: %s wants seconds, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static long long parse_count(const char *s, const char *what, long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max) {
		fprintf(stderr, "loadgen: %s wants a number from %lld to %lld, not '%s'\n", what,
			min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "body-length", required_argument, NULL, 'b' },
		{ "close", no_argument, NULL, 'C' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "label", required_argument, NULL, 'L' },
		{ "free-port", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *host = "127.0.0.1", *port = NULL, *path = "/", *label = "-";
	long long nconns = 16, nthreads = 1;
	double duration = 5, warmup = 0, elapsed;
	int64_t t_stop;
	int close_each = 0, opt, r, failed = 0;
	struct worker *workers;
	struct stats total = { 0 };
	struct rusage ru;
	size_t i, k;

	while ((opt = getopt_long(argc, argv, "c:t:d:n:h", options, NULL)) != -1) {
		switch (opt) {
		case 'H': host = optarg; break;
		case 'p': port = optarg; break;
		case 'P': path = optarg; break;
		case 'c': nconns = parse_count(optarg, "--connections", 1, 100000); break;
		case 't': nthreads = parse_count(optarg, "--threads", 1, 64); break;
		case 'd': duration = parse_seconds(optarg, "--duration"); break;
		case 'n': max_requests = (uint64_t)parse_count(optarg, "--requests", 1,
							       1000000000000LL); break;
		case 'w': warmup = parse_seconds(optarg, "--warmup"); break;
		case 'b': body_length = parse_count(optarg, "--body-length", 0, 1LL << 40); break;
		case 'C': close_each = 1; break;
		case 'T': timeout_ms = (int)parse_count(optarg, "--timeout", 1, 3600000); break;
		case 'L': label = optarg; break;
		case 'F': return free_port();
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!port || optind != argc) {
		fprintf(stderr, "loadgen: %s\n\n%s", !port ? "--port is required" :
			"unexpected argument", usage);
		return 2;
	}
	r = parse_target(host, port);
	if (r < 0) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", host, port, r == -2 ?
			"not a loopback address: this load generator sends to loopback only" :
			"want a numeric address and a port");
		return 2;
	}
	if (strlen(path) > 512 || strpbrk(path, "\r\n ") || path[0] != '/') {
		fprintf(stderr, "loadgen: --path must start with / and hold no blank or CR/LF\n");
		return 2;
	}
	if (!max_requests && warmup >= duration) {
		fprintf(stderr, "loadgen: --warmup must be shorter than --duration\n");
		return 2;
	}
	if (nthreads > nconns)
		nthreads = nconns;
	request_len = (size_t)snprintf(request, sizeof(request),
				       "GET %s HTTP/1.1\r\nHost: %s:%s\r\n"
				       "User-Agent: libfdpass-e2e-loadgen\r\nAccept: */*\r\n%s\r\n",
				       path, host, port, close_each ? "Connection: close\r\n" : "");
	raise_nofile((size_t)nconns);
	signal(SIGPIPE, SIG_IGN);

	workers = calloc((size_t)nthreads, sizeof(*workers));
	if (!workers)
		return 1;
	t_begin = now_ns();
	t_measure = t_begin + (int64_t)(warmup * 1e9);
	t_end = t_begin + (int64_t)(duration * 1e9);
	for (i = 0; i < (size_t)nthreads; i++) {
		struct worker *w = &workers[i];

		w->nconns = (size_t)(nconns / nthreads + ((long long)i < nconns % nthreads));
		w->conns = calloc(w->nconns, sizeof(*w->conns));
		w->scratch = malloc(READ_CHUNK);
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		if (!w->conns || !w->scratch || w->ep < 0) {
			perror("loadgen: setup");
			return 1;
		}
		for (k = 0; k < w->nconns; k++)
			w->conns[k].fd = -1;
		if (pthread_create(&w->thread, NULL, run_worker, w) != 0) {
			fprintf(stderr, "loadgen: cannot start thread %zu\n", i);
			return 1;
		}
	}
	for (i = 0; i < (size_t)nthreads; i++) {
		struct worker *w = &workers[i];
		struct stats *s = &w->st;

		pthread_join(w->thread, NULL);
		failed |= w->failed;
		total.completed += s->completed;
		total.completed_total += s->completed_total;
		total.sent += s->sent;
		total.connections += s->connections;
		total.retries += s->retries;
		total.body_bytes += s->body_bytes;
		total.err_connect += s->err_connect;
		total.err_io += s->err_io;
		total.err_status += s->err_status;
		total.err_length += s->err_length;
		total.err_proto += s->err_proto;
		total.err_timeout += s->err_timeout;
		if (s->nlat) {
			uint32_t *grown = realloc(total.lat, (total.nlat + s->nlat) * sizeof(*grown));

			if (grown) {
				memcpy(grown + total.nlat, s->lat, s->nlat * sizeof(*grown));
				total.lat = grown;
				total.nlat += s->nlat;
			}
		}
		free(s->lat);
		free(w->conns);
		free(w->scratch);
		close(w->ep);
	}
	t_stop = now_ns();
	if (!max_requests && t_stop > t_end)
		t_stop = t_end;
	elapsed = (double)(t_stop - t_measure) / 1e9;
	if (elapsed <= 0)
		elapsed = 1e-9;
	qsort(total.lat, total.nlat, sizeof(*total.lat), cmp_u32);
	getrusage(RUSAGE_SELF, &ru);
	printf("loadgen label=%s conns=%lld threads=%lld seconds=%.3f requests=%" PRIu64
	       " rps=%.1f mbps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f"
	       " errors=%" PRIu64 " err_connect=%" PRIu64 " err_io=%" PRIu64 " err_status=%" PRIu64
	       " err_length=%" PRIu64 " err_proto=%" PRIu64 " err_timeout=%" PRIu64
	       " sent=%" PRIu64 " completed_total=%" PRIu64 " connections=%" PRIu64
	       " retries=%" PRIu64 " body_bytes=%" PRIu64 " cpu_user=%.3f cpu_sys=%.3f\n",
	       label, nconns, nthreads, elapsed, total.completed, total.completed / elapsed,
	       total.body_bytes / elapsed / 1e6, percentile_ms(total.lat, total.nlat, 0.50),
	       percentile_ms(total.lat, total.nlat, 0.90), percentile_ms(total.lat, total.nlat, 0.99),
	       total.nlat ? total.lat[total.nlat - 1] / 1000.0 : 0.0,
	       total.err_connect + total.err_io + total.err_status + total.err_length +
	       total.err_proto + total.err_timeout,
	       total.err_connect, total.err_io, total.err_status, total.err_length,
	       total.err_proto, total.err_timeout, total.sent, total.completed_total,
	       total.connections, total.retries, total.body_bytes,
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	free(total.lat);
	free(workers);
	return failed ? 1 : 0;
}
