// SPDX-License-Identifier: MIT
/*
 * httpserv: a small HTTP/1.1 server for the end-to-end benchmark. It answers
 * every request with the same body, with Content-Length and keep-alive
 * (pipelined requests included), on a loopback TCP port or on a unix socket.
 * It is the "backend served directly" case and nginx's upstream. One epoll
 * loop; it counts the responses it wrote and says so on stderr when it stops
 * (SIGINT, SIGTERM).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define IN_MAX 16384

static const char usage[] =
"Usage: httpserv (--listen 127.0.0.1:PORT | --unix PATH [--mode OCTAL])\n"
"                [--body-size BYTES | --file FILE] [--port-file FILE]\n"
"\n"
"Answer every HTTP/1.x request with 200 and the same body, with\n"
"Content-Length and keep-alive (unless the request asks to close).\n"
"\n"
"Options:\n"
"  --listen ADDR:PORT  a loopback TCP address (127.0.0.0/8 only); port 0\n"
"                      picks a free one\n"
"  --unix PATH         a unix socket instead (an existing file is replaced)\n"
"  --mode OCTAL        mode of the unix socket file (default 0666)\n"
"  --body-size BYTES   a body of BYTES bytes (default 13: \"Hello, world\\n\"\n"
"                      repeated)\n"
"  --file FILE         the content of FILE as the body\n"
"  --port-file FILE    write the TCP port listened on into FILE\n"
"\n"
"On SIGINT or SIGTERM it prints \"httpserv: served N responses on M\n"
"connections\" on stderr and exits.\n";

struct conn {
	struct conn *prev, *next; /* all open connections, freed at exit */
	int fd;
	int closing;       /* a request asked to close: no more after it */
	int lingering;     /* half-closed, draining until the peer closes */
	unsigned pending;  /* responses owed */
	size_t off;        /* bytes of the current response already sent */
	size_t inlen;
	uint32_t events;
	char in[IN_MAX];
};

static char *body;
static size_t body_len;
static char head_keep[160], head_close[160];
static size_t head_keep_len, head_close_len;
static unsigned long long served, accepted;
static struct conn *conns;

static int set_events(int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -1;
	c->events = events;
	return 0;
}

static void drop(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* Does the request head of len bytes ask to close the connection? */
static int wants_close(const char *h, size_t len)
{
	const char *p = memmem(h, len, "\r\n", 2), *end = h + len;
	int http10 = len > 9 && memmem(h, (size_t)(p ? p - h : 0), "HTTP/1.0", 8) != NULL;

	while (p && p + 2 < end) {
		const char *line = p + 2;

		p = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!p)
			break;
		if (p - line > 11 && !strncasecmp(line, "Connection:", 11)) {
			const char *v = line + 11;
			size_t n = (size_t)(p - v);

			if (memmem(v, n, "close", 5) || memmem(v, n, "Close", 5))
				return 1;
			if (memmem(v, n, "eep-alive", 9))
				return 0;
		}
	}
	return http10;
}

/* Turn the complete requests in c->in into owed responses. -1: bad request. */
static int parse_requests(struct conn *c)
{
	size_t used = 0;

	while (!c->closing) {
		const char *end = memmem(c->in + used, c->inlen - used, "\r\n\r\n", 4);
		size_t len;

		if (!end)
			break;
		len = (size_t)(end - (c->in + used)) + 4;
		if (memmem(c->in + used, len, "\r\nContent-Length:", 17) ||
		    memmem(c->in + used, len, "\r\nTransfer-Encoding:", 20))
			return -1; /* a request body: a GET benchmark sends none */
		c->pending++;
		if (wants_close(c->in + used, len))
			c->closing = 1;
		used += len;
	}
	if (used) {
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
	}
	return c->inlen == sizeof(c->in) ? -1 : 0;
}

/* Write owed responses while the socket takes them. -1: drop the connection. */
static int flush_out(int ep, struct conn *c)
{
	while (c->pending) {
		int last = c->closing && c->pending == 1;
		const char *head = last ? head_close : head_keep;
		size_t hl = last ? head_close_len : head_keep_len, total = hl + body_len;
		struct iovec iov[2];
		int n = 0;
		ssize_t w;

		if (c->off < hl)
			iov[n++] = (struct iovec){ (void *)(head + c->off), hl - c->off };
		iov[n++] = (struct iovec){ body + (c->off > hl ? c->off - hl : 0),
					   body_len - (c->off > hl ? c->off - hl : 0) };
		w = writev(c->fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return set_events(ep, c, EPOLLIN | EPOLLOUT);
			return -1;
		}
		c->off += (size_t)w;
		if (c->off == total) {
			c->off = 0;
			c->pending--;
			served++;
		}
	}
	if (c->closing) {
		/* Half-close and drain: unread bytes would turn close into a reset. */
		shutdown(c->fd, SHUT_WR);
		c->lingering = 1;
	}
	return set_events(ep, c, EPOLLIN);
}

static int on_input(int ep, struct conn *c)
{
	for (;;) {
		ssize_t n;

		if (c->lingering) {
			char junk[4096];

			n = recv(c->fd, junk, sizeof(junk), 0);
		} else {
			n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		}
		if (n == 0)
			return -1;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (c->lingering)
			continue;
		c->inlen += (size_t)n;
		if (parse_requests(c) < 0)
			return -1;
		if (c->pending && !(c->events & EPOLLOUT) && flush_out(ep, c) < 0)
			return -1;
		if (c->inlen < sizeof(c->in) && (size_t)n < sizeof(c->in) / 2)
			return 0; /* the socket is most likely empty: let epoll say */
	}
}

static int listen_tcp(const char *spec, const char *port_file)
{
	const char *colon = strrchr(spec, ':');
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t len = sizeof(in);
	char host[64];
	char *end;
	long port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host))
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 0 || port > 65535 ||
	    inet_pton(AF_INET, host, &in.sin_addr) != 1 ||
	    (ntohl(in.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "httpserv: --listen wants 127.x.y.z:PORT (loopback only)\n");
		return -1;
	}
	in.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&in, &len) < 0) {
		perror("httpserv: listen");
		return -1;
	}
	if (port_file) {
		FILE *f = fopen(port_file, "we");

		if (!f || fprintf(f, "%u\n", ntohs(in.sin_port)) < 0 || fclose(f) != 0) {
			perror("httpserv: port file");
			return -1;
		}
	}
	return fd;
}

static int listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(un.sun_path)) {
		fprintf(stderr, "httpserv: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(un.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 4096) < 0) {
		perror("httpserv: listen");
		return -1;
	}
	return fd;
}

static int make_body(const char *file, long long size)
{
	static const char hello[] = "Hello, world\n";

	if (file) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct stat st;
		size_t got = 0;

		if (fd < 0 || fstat(fd, &st) < 0) {
			perror(file);
			return -1;
		}
		body_len = (size_t)st.st_size;
		body = malloc(body_len ? body_len : 1);
		while (body && got < body_len) {
			ssize_t n = read(fd, body + got, body_len - got);

			if (n <= 0) {
				perror(file);
				return -1;
			}
			got += (size_t)n;
		}
		close(fd);
	} else {
		size_t i;

		body_len = (size_t)size;
		body = malloc(body_len ? body_len : 1);
		for (i = 0; body && i < body_len; i++)
			body[i] = hello[i % (sizeof(hello) - 1)];
	}
	if (!body)
		return -1;
	head_keep_len = (size_t)snprintf(head_keep, sizeof(head_keep),
		"HTTP/1.1 200 OK\r\nServer: httpserv\r\nContent-Type: application/octet-stream\r\n"
		"Content-Length: %zu\r\n\r\n", body_len);
	head_close_len = (size_t)snprintf(head_close, sizeof(head_close),
		"HTTP/1.1 200 OK\r\nServer: httpserv\r\nContent-Type: application/octet-stream\r\n"
		"Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	return 0;
}

static void accept_all(int ep, int lfd, int tcp)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct epoll_event ev;
		struct conn *c;

		if (fd < 0)
			return; /* EAGAIN, or EMFILE: the backlog waits */
		if (tcp)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = malloc(sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		memset(c, 0, offsetof(struct conn, in));
		c->fd = fd;
		c->events = EPOLLIN;
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = conns;
		if (conns)
			conns->prev = c;
		conns = c;
		accepted++;
	}
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "unix", required_argument, NULL, 'u' },
		{ "mode", required_argument, NULL, 'm' },
		{ "body-size", required_argument, NULL, 'b' },
		{ "file", required_argument, NULL, 'f' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static int marker_listen, marker_signal;
	const char *tcp = NULL, *unix_path = NULL, *file = NULL, *port_file = NULL;
	long long size = 13;
	mode_t mode = 0666;
	struct epoll_event ev, evs[256];
	sigset_t mask;
	int opt, ep, lfd, sfd, stop = 0;
	char *end;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case 'l': tcp = optarg; break;
		case 'u': unix_path = optarg; break;
		case 'm': mode = (mode_t)strtol(optarg, &end, 8); break;
		case 'b':
			errno = 0;
			size = strtoll(optarg, &end, 10);
			if (!*optarg || *end || errno || size < 0 || size > (1LL << 32)) {
				fprintf(stderr, "httpserv: bad --body-size '%s'\n", optarg);
				return 2;
			}
			break;
		case 'f': file = optarg; break;
		case 'p': port_file = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (!tcp == !unix_path || optind != argc) {
		fprintf(stderr, "httpserv: one of --listen and --unix is required\n\n%s", usage);
		return 2;
	}
	if (make_body(file, size) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		perror("httpserv: signals");
		return 1;
	}
	lfd = tcp ? listen_tcp(tcp, port_file) : listen_unix(unix_path, mode);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ep < 0)
		return 1;
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &marker_listen };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &marker_signal };
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

	while (!stop) {
		int n = epoll_wait(ep, evs, 256, 1000), i;

		if (n < 0 && errno != EINTR) {
			perror("httpserv: epoll_wait");
			break;
		}
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int bad = 0;

			if (evs[i].data.ptr == &marker_signal) {
				stop = 1;
				continue;
			}
			if (evs[i].data.ptr == &marker_listen) {
				accept_all(ep, lfd, tcp != NULL);
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				bad = flush_out(ep, c) < 0;
			if (!bad && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				bad = on_input(ep, c) < 0;
			if (bad)
				drop(ep, c);
		}
	}
	while (conns)
		drop(ep, conns);
	close(ep);
	close(sfd);
	close(lfd);
	if (unix_path)
		unlink(unix_path);
	fprintf(stderr, "httpserv: served %llu responses on %llu connections\n", served, accepted);
	free(body);
	return 0;
}
